//! `rrcanet import` and `rrcanet export`: weights of the authors' PyTorch `RRCANet` to our
//! checkpoints and back (notes/parity.md).

use anyhow::{bail, Context};
use clap::Args;
use rrcanet::data::InputChannels;
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
    /// The checkpoint to write (for `eval --checkpoint`, `infer --checkpoint` and
    /// `train --init-from`).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Input channels their model was built with: 3 (their RRCA-Net code: grey replicated to
    /// RGB, ImageNet-normalised) or 1 (their BasicIRSTD pipeline; give --gray-mean and
    /// --gray-std, their `img_norm_cfg`).
    #[arg(long, default_value_t = 3, value_parser = super::channel_count)]
    input_channels: usize,
    /// The mean their BasicIRSTD pipeline normalised with (0..255 scale; NUAA-SIRST:
    /// 101.06385040283203).
    #[arg(long, requires = "gray_std")]
    gray_mean: Option<f32>,
    /// The standard deviation their BasicIRSTD pipeline normalised with (0..255 scale;
    /// NUAA-SIRST: 34.619606018066406).
    #[arg(long, requires = "gray_mean")]
    gray_std: Option<f32>,
}

impl ImportArgs {
    /// The input the imported model takes.
    fn input(&self) -> anyhow::Result<InputChannels> {
        match (self.input_channels, self.gray_mean, self.gray_std) {
            (3, None, None) => Ok(InputChannels::ImageNetRgb),
            (3, _, _) => bail!("--gray-mean and --gray-std go with --input-channels 1"),
            (_, Some(mean), Some(std)) if mean.is_finite() && std.is_finite() && std > 0.0 => {
                Ok(InputChannels::Gray { mean, std })
            }
            (_, Some(_), Some(std)) => {
                bail!("--gray-mean must be finite and --gray-std finite and above 0, got std {std}")
            }
            _ => bail!("--input-channels 1 needs --gray-mean and --gray-std: the normalisation their BasicIRSTD pipeline trained with (its img_norm_cfg)"),
        }
    }
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
    let input = args.input()?;
    import_checkpoint(&args.pytorch, args.model, input, &args.out)
        .with_context(|| format!("importing {} as {}", args.pytorch.display(), args.model))?;
    println!(
        "{} -> {} ({}, input {input}); next: rrcanet eval --checkpoint {}",
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
