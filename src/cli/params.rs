//! `rrcanet params`: learnable parameters, the paper's FLOPs (torchstat convention) and the
//! multiply-accumulates actually executed, per named model, computed from the model types.

use clap::Args;
use rrcanet::model::{DeviceKind, ModelCost, ModelName};

/// Arguments of `rrcanet params`.
#[derive(Args, Debug)]
pub struct ParamsArgs {
    /// The model to count (see --all for every name).
    #[arg(long, required_unless_present = "all", conflicts_with = "all")]
    model: Option<ModelName>,
    /// Count every named model.
    #[arg(long)]
    all: bool,
    /// Print a JSON list of {model, params, paper_flops, macs}.
    #[arg(long)]
    json: bool,
    /// Image height and width for FLOPs and MACs (at least 1).
    #[arg(long, default_value_t = 256,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    size: usize,
}

/// Counts and prints.
pub fn run(args: ParamsArgs) -> anyhow::Result<()> {
    let names: Vec<ModelName> = match args.model {
        Some(name) => vec![name],
        None => ModelName::ALL.to_vec(),
    };
    let costs = names
        .into_iter()
        .map(|name| {
            let detector = rrcanet::model::build(name, DeviceKind::Cpu, 0)?;
            Ok(detector.cost(args.size, args.size))
        })
        .collect::<anyhow::Result<Vec<ModelCost>>>()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&costs)?);
    } else {
        println!(
            "{:<14} {:>10} {:>16} {:>16}   ({}x{} image)",
            "model", "params", "paper FLOPs", "executed MACs", args.size, args.size
        );
        for cost in &costs {
            println!(
                "{:<14} {:>10} {:>16} {:>16}",
                cost.model, cost.params, cost.paper_flops, cost.macs
            );
        }
    }
    Ok(())
}
