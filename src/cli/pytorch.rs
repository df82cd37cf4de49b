//! `rrcanet import` and `rrcanet export`: weights of the authors' PyTorch `RRCANet` to our
//! checkpoints and back (notes/parity.md).

use anyhow::Context;
use clap::Args;
use rrcanet::model::pytorch::{export_checkpoint, import_checkpoint};
use rrcanet::model::ModelName;
use std::path::PathBuf;

/// Arguments of `rrcanet import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The authors' `state_dict` as safetensors (`safetensors.torch.save_model(model, FILE)`,
    /// or `save_file` of a state_dict holding every alias).
    #[arg(long, value_name = "FILE")]
    pytorch: PathBuf,
    /// The configuration their model was built as (r10, r18, r34, r18-n1, r18-nofsm, ...).
    #[arg(long)]
    model: ModelName,
    /// The checkpoint to write (for `eval --checkpoint` and `infer --checkpoint`).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Arguments of `rrcanet export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Our checkpoint file, or a run directory (its selected checkpoint).
    #[arg(long, value_name = "CHECKPOINT")]
    pytorch: PathBuf,
    /// The safetensors file to write (load it with `safetensors.torch.load_model`).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Imports and says what was written.
pub fn import(args: ImportArgs) -> anyhow::Result<()> {
    import_checkpoint(&args.pytorch, args.model, &args.out)
        .with_context(|| format!("importing {} as {}", args.pytorch.display(), args.model))?;
    println!(
        "{} -> {} ({}); next: rrcanet eval --checkpoint {}",
        args.pytorch.display(),
        args.out.display(),
        args.model,
        args.out.display()
    );
    Ok(())
}

/// Exports and says what was written.
pub fn export(args: ExportArgs) -> anyhow::Result<()> {
    let model = export_checkpoint(&args.pytorch, &args.out)
        .with_context(|| format!("exporting {}", args.pytorch.display()))?;
    println!(
        "{} ({model}) -> {}: load it with safetensors.torch.load_model(model, \"{}\")",
        args.pytorch.display(),
        args.out.display(),
        args.out.display()
    );
    Ok(())
}
