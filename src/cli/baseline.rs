//! `rrcanet baseline`: a model-driven detector (top-hat, max-median, MPCM, IPI) on a dataset
//! split at native resolution, scored and written out as `rrcanet eval` does.

use super::progress::Bars;
use super::scores;
use anyhow::Context;
use clap::builder::RangedU64ValueParser;
use clap::Args;
use rrcanet::baselines::{Baseline, MethodName, Settings, Threshold};
use rrcanet::data::{Dataset, DatasetOptions};
use rrcanet::inference::outputs::EvaluationFolder;
use rrcanet::metrics::RocSweep;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

/// Run a traditional baseline: IoU, nIoU, Pd, Fa (also in the legacy convention), ROC, masks
/// and overlays.
#[derive(Args)]
pub struct BaselineArgs {
    /// tophat, maxmedian, mpcm or ipi.
    #[arg(long)]
    method: MethodName,
    /// Dataset folder.
    #[arg(long, value_name = "DIR")]
    dataset: PathBuf,
    /// Split scheme, e.g. 50_50 (default: the dataset's only one).
    #[arg(long, value_name = "NAME")]
    split: Option<String>,
    /// Which part of the split to evaluate.
    #[arg(long, default_value = "test")]
    part: String,
    /// `adaptive` (DNANet's: max(0.7 max, mean + 0.5 std) of each map) or a number k
    /// (mean + k std).
    #[arg(long, default_value = "adaptive")]
    threshold: Threshold,
    /// Element side (tophat, 5), window (maxmedian, 5), largest cell (mpcm, 9) or patch side
    /// (ipi, 50).
    #[arg(long, value_name = "N")]
    size: Option<usize>,
    /// tophat: a disk of diameter --size instead of a square.
    #[arg(long)]
    disk: bool,
    /// ipi: the sliding step between patches (10).
    #[arg(long, value_name = "N")]
    step: Option<usize>,
    /// ipi: the solver stops at this relative residual ||D - A - E|| / ||D|| (0.01).
    #[arg(long, value_name = "T")]
    tolerance: Option<f64>,
    /// Sweep the ROC at thresholds i / BINS, i = 0..=BINS, as the reference code does (10)
    /// (default: 121 thresholds even in logit, fine where Fa is 1e-7 to 1e-3).
    #[arg(long, value_name = "BINS", value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    roc_bins: Option<usize>,
    /// Output folder (default: baselines/<method>-<part>).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print one JSON object (the keys of `rrcanet eval --json`).
    #[arg(long)]
    json: bool,
}

pub fn run(args: BaselineArgs) -> anyhow::Result<()> {
    let baseline = Baseline::new(
        args.method,
        Settings {
            size: args.size,
            disk: args.disk,
            step: args.step,
            tolerance: args.tolerance,
        },
    )?;
    let dataset = Dataset::open_with_progress(
        &args.dataset,
        &DatasetOptions {
            split: args.split.clone(),
            strict: false,
        },
        &Bars::default(),
    )
    .with_context(|| format!("opening the dataset {}", args.dataset.display()))?;
    for warning in &dataset.warnings {
        eprintln!("warning: {warning}");
    }
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("baselines").join(format!("{}-{}", args.method, args.part))
    });
    let start = Instant::now();
    let report = rrcanet::baselines::evaluate(
        &baseline,
        args.threshold,
        &dataset,
        &args.part,
        args.roc_bins.map_or(RocSweep::Logit, RocSweep::Bins),
        Some(&out),
        &Bars::default(),
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let m = &report.scores.metrics;
    if args.json {
        let mut object = scores::json(&report.scores);
        object["milliseconds_per_image"] = json!(report.milliseconds_per_image);
        println!("{}", serde_json::to_string_pretty(&object)?);
    } else {
        println!(
            "{} ({}) on {} [{}], {} images",
            args.method,
            args.threshold,
            dataset.root.display(),
            args.part,
            m.images
        );
        scores::print(&report.scores);
        println!(
            "  {:.1} ms per image (one thread), {seconds:.1} s in all",
            report.milliseconds_per_image
        );
        println!("wrote {} to {}", EvaluationFolder::FILES, out.display());
    }
    Ok(())
}
