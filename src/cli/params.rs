//! `rrcanet params`: learnable parameters, the paper's FLOPs (torchstat convention) and the
//! multiply-accumulates actually executed, per named model, computed from the model types.

use clap::Args;
use rrcanet::model::configs::{cost, ModelCost};
use rrcanet::model::ModelName;

/// Arguments of `rrcanet params`.
#[derive(Args, Debug)]
pub struct ParamsArgs {
    /// The model to count (see --all for every name).
    #[arg(long, value_parser = parse_model, required_unless_present = "all", conflicts_with = "all")]
    model: Option<ModelName>,
    /// Count every named model.
    #[arg(long)]
    all: bool,
    /// Print a JSON list of {model, params, paper_flops, macs}.
    #[arg(long)]
    json: bool,
    /// Image height and width for FLOPs and MACs.
    #[arg(long, default_value_t = 256)]
    size: usize,
}

fn parse_model(name: &str) -> Result<ModelName, String> {
    name.parse().map_err(|error| format!("{error}"))
}

/// Counts and prints.
pub fn run(args: ParamsArgs) -> anyhow::Result<()> {
    let names: Vec<ModelName> = match args.model {
        Some(name) => vec![name],
        None => ModelName::ALL.to_vec(),
    };
    let costs: Vec<ModelCost> = names
        .into_iter()
        .map(|name| cost(name, args.size, args.size))
        .collect();
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
