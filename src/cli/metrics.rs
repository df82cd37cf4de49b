//! `rrcanet metrics`: IoU, nIoU, Pd, Fa (and optionally the ROC) of a directory of predicted
//! PNG masks against ground-truth masks.

use anyhow::Context;
use clap::{Args, ValueEnum};
use rrcanet::metrics::{
    evaluate_mask_directories, Compatibility, MetricsConfig, PredictionValues, RocCurve, RocSweep,
    ScoreKind, Summary,
};
use serde::Serialize;
use std::path::PathBuf;

/// Evaluate predicted masks against ground truth (IoU, nIoU, Pd, Fa).
#[derive(Args)]
pub struct MetricsArgs {
    /// Directory of predicted PNGs: masks, or 8/16-bit probability maps.
    #[arg(long, value_name = "DIR")]
    pred: PathBuf,
    /// Directory of ground-truth PNG masks (non-zero = target); pairs by file name, ignoring
    /// the SIRST `_pixels0` suffix.
    #[arg(long, value_name = "DIR")]
    gt: PathBuf,
    /// A prediction pixel is a target where value / max > T (1/2/4-bit masks: non-zero).
    #[arg(long, value_name = "T", default_value_t = 0.5)]
    threshold: f32,
    /// `legacy` reproduces the reference code's quirks (Fa drops unmatched regions whose area
    /// equals a matched region's; an empty union has IoU 0) to compare with published numbers.
    #[arg(long, value_enum, default_value_t = CompatArg::Corrected)]
    compat: CompatArg,
    /// Also sweep thresholds i / BINS, i = 0..=BINS, and report the ROC.
    #[arg(long, value_name = "BINS")]
    roc: Option<usize>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// The `--compat` values.
#[derive(Clone, Copy, ValueEnum)]
enum CompatArg {
    /// The metrics as defined (unmatched regions counted by identity).
    Corrected,
    /// The reference code's behaviour.
    Legacy,
}

impl CompatArg {
    fn compatibility(self) -> Compatibility {
        match self {
            CompatArg::Corrected => Compatibility::Corrected,
            CompatArg::Legacy => Compatibility::Legacy,
        }
    }

    fn name(self) -> &'static str {
        match self {
            CompatArg::Corrected => "corrected",
            CompatArg::Legacy => "legacy",
        }
    }
}

/// The JSON report: the summary's keys, the settings, and the ROC when asked for.
#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    threshold: f32,
    compat: &'static str,
    predictions: PredictionValues,
    #[serde(skip_serializing_if = "Option::is_none")]
    roc: Option<&'a RocCurve>,
}

/// Runs the subcommand.
pub fn run(args: MetricsArgs) -> anyhow::Result<()> {
    let config = MetricsConfig {
        threshold: args.threshold,
        scores: ScoreKind::Probability,
        compatibility: args.compat.compatibility(),
        roc: args.roc.map(RocSweep::Bins),
    };
    let evaluation =
        evaluate_mask_directories(&args.pred, &args.gt, config).with_context(|| {
            format!(
                "evaluating {} against {}",
                args.pred.display(),
                args.gt.display()
            )
        })?;
    if evaluation.predictions == PredictionValues::ZeroOneMasks {
        eprintln!(
            "note: the maximum value is 1 in every 8/16-bit prediction of {}: read as 0/1 masks (non-zero = target), not as probabilities value / 255",
            args.pred.display()
        );
    }
    let summary = evaluation.metrics.summary();
    let roc = evaluation.metrics.roc();
    if args.json {
        let report = Report {
            summary: &summary,
            threshold: args.threshold,
            compat: args.compat.name(),
            predictions: evaluation.predictions,
            roc: roc.as_ref(),
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} images, threshold {}, compat {}",
        summary.images,
        args.threshold,
        args.compat.name()
    );
    println!(
        "  IoU             {:.6}   ({} / {} pixels)",
        summary.iou, summary.intersection, summary.union
    );
    println!("  nIoU            {:.6}", summary.niou);
    println!(
        "  Pd              {:.6}   ({} / {} targets)",
        summary.pd, summary.matched, summary.targets
    );
    println!(
        "  Fa              {:.4e}   ({} / {} pixels)",
        summary.fa, summary.false_alarm_pixels, summary.pixels
    );
    println!("  pixel accuracy  {:.6}", summary.pixel_accuracy);
    println!("  pixel recall    {:.6}", summary.pixel_recall);
    if let Some(roc) = roc {
        println!(
            "ROC ({} thresholds), pixel AUC {:.6}",
            roc.points.len(),
            roc.auc
        );
        println!("  threshold        Pd          Fa         TPR         FPR");
        for point in &roc.points {
            println!(
                "  {:9.4}  {:9.6}  {:10.4e}  {:9.6}  {:10.4e}",
                point.threshold, point.pd, point.fa, point.tpr, point.fpr
            );
        }
    }
    Ok(())
}
