//! `rrcanet eval`: metrics of a checkpoint on a dataset split, with masks, overlays and the
//! ROC written to an output folder.

use super::progress::Bars;
use super::scores;
use anyhow::Context;
use clap::builder::RangedU64ValueParser;
use clap::Args;
use rrcanet::data::{Dataset, DatasetOptions};
use rrcanet::inference::outputs::EvaluationFolder;
use rrcanet::inference::{EvaluationProtocol, Resolution};
use rrcanet::metrics::RocSweep;
use rrcanet::model::DeviceKind;
use rrcanet::train::RunDirectory;
use std::path::PathBuf;

/// Evaluate a checkpoint: IoU, nIoU, Pd, Fa (also in the legacy convention), ROC, masks and
/// overlays.
#[derive(Args)]
pub struct EvalArgs {
    /// A run directory (its best.safetensors) or a checkpoint file (one in a run directory
    /// gets the run's dataset, split and size as defaults).
    #[arg(long, value_name = "RUN_DIR")]
    checkpoint: PathBuf,
    /// Dataset folder (default: the run's own dataset).
    #[arg(long, value_name = "DIR")]
    dataset: Option<PathBuf>,
    /// Split scheme, e.g. 50_50 (default: the run's, or the dataset's only one).
    #[arg(long, value_name = "NAME")]
    split: Option<String>,
    /// Which part of the split to evaluate.
    #[arg(long, default_value = "test")]
    part: String,
    /// Evaluate at native resolution (padded for the network; metrics on the image only).
    #[arg(long, conflicts_with = "resize")]
    native: bool,
    /// Resize to SIZE x SIZE, as the reference evaluation does (default: the run's training
    /// size, else 256).
    #[arg(long, value_name = "SIZE", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    resize: Option<usize>,
    /// Sweep the ROC at thresholds i / BINS, i = 0..=BINS, as the reference code does (10)
    /// (default: 121 thresholds even in logit, fine where Fa is 1e-7 to 1e-3).
    #[arg(long, value_name = "BINS", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    roc_bins: Option<usize>,
    /// Output folder (default: RUN_DIR/eval-<part>, or eval-<part> beside a checkpoint file).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print one JSON object (the keys of `rrcanet metrics --json`).
    #[arg(long)]
    json: bool,
    /// cpu, or cuda (needs a build with --features cuda); default: cuda when built with it
    /// and a GPU answers, else cpu.
    #[arg(long)]
    device: Option<DeviceKind>,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    // The run the checkpoint belongs to: the folder given, or the folder of the file given.
    // A run's config.json that cannot be read is an error, never silently skipped.
    let run_dir = if args.checkpoint.is_dir() {
        Some(args.checkpoint.as_path())
    } else {
        args.checkpoint.parent()
    };
    let run_config = match run_dir {
        Some(dir) if dir.join("config.json").exists() => Some(
            RunDirectory::open(dir)
                .with_context(|| format!("reading the run in {}", dir.display()))?
                .1,
        ),
        _ => None,
    };
    let dataset_dir = match (&args.dataset, &run_config) {
        (Some(dir), _) => dir.clone(),
        (None, Some(config)) => config.dataset.clone(),
        (None, None) => anyhow::bail!(
            "{}: not a run directory with a config.json; pass --dataset",
            args.checkpoint.display()
        ),
    };
    let split = args
        .split
        .clone()
        .or_else(|| run_config.as_ref().and_then(|c| c.split.clone()));
    let dataset = Dataset::open_with_progress(
        &dataset_dir,
        &DatasetOptions {
            split,
            strict: false,
        },
        &Bars::default(),
    )
    .with_context(|| format!("opening the dataset {}", dataset_dir.display()))?;
    for warning in &dataset.warnings {
        eprintln!("warning: {warning}");
    }
    let resolution = if args.native {
        Resolution::Native
    } else {
        let trained = run_config.as_ref().map(|config| config.image_size);
        Resolution::Resize(args.resize.or(trained).unwrap_or(256))
    };
    let out = args.out.clone().unwrap_or_else(|| {
        let base = if args.checkpoint.is_dir() {
            args.checkpoint.clone()
        } else {
            args.checkpoint
                .parent()
                .map(PathBuf::from)
                .unwrap_or_default()
        };
        base.join(format!("eval-{}", args.part))
    });
    let loaded = rrcanet::model::load(&args.checkpoint, super::chosen_device(args.device))?;
    let report = rrcanet::inference::evaluate(
        loaded.detector.as_ref(),
        &loaded.checkpoint,
        &dataset,
        EvaluationProtocol {
            part: &args.part,
            resolution,
            roc: args.roc_bins.map_or(RocSweep::Logit, RocSweep::Bins),
        },
        Some(&out),
        &Bars::default(),
    )?;
    let m = &report.scores.metrics;
    if args.json {
        let object = scores::json(&report.scores);
        println!("{}", serde_json::to_string_pretty(&object)?);
    } else {
        println!(
            "{} ({}) on {} [{}], {} images",
            report.model,
            report.checkpoint.display(),
            dataset.root.display(),
            args.part,
            m.images
        );
        scores::print(&report.scores);
        println!("wrote {} to {}", EvaluationFolder::FILES, out.display());
    }
    Ok(())
}
