//! A baseline over a dataset split at native resolution, scored and written out as
//! `rrcanet eval` does (the same accumulators and output writers).
//!
//! The main and legacy metrics score the thresholded masks; the ROC sweeps the saliency map
//! of each image scaled to [0, 1] by its own minimum and maximum.

use super::{Baseline, BaselineError, Plane, Threshold};
use crate::data::Dataset;
use crate::inference::outputs;
use crate::metrics::{Compatibility, MetricsAccumulator, MetricsConfig, RocCurve, Summary};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What [`evaluate`] reports.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineReport {
    /// The method and its parameters.
    pub baseline: Baseline,
    /// The thresholding rule.
    pub threshold: Threshold,
    /// The dataset folder.
    pub dataset: PathBuf,
    /// The split part evaluated.
    pub part: String,
    /// The metrics as defined.
    pub metrics: Summary,
    /// The same masks scored with the reference code's quirks.
    pub legacy_metrics: Summary,
    /// The sweep over the normalised saliency maps.
    pub roc: RocCurve,
    /// Mean time of one saliency map (one thread), in milliseconds.
    pub milliseconds_per_image: f64,
}

fn create_dir(path: &Path) -> Result<(), BaselineError> {
    std::fs::create_dir_all(path).map_err(|source| BaselineError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs `baseline` with `threshold` on every image of split `part` of `dataset` (images in
/// parallel), with a ROC sweep of `roc_bins` thresholds; when `out` is given, writes there
/// `metrics.json`, `roc.csv`, `roc.png`, the masks under `masks/` and overlays (prediction
/// red, ground truth green) under `overlays/`.
pub fn evaluate(
    baseline: &Baseline,
    threshold: Threshold,
    dataset: &Dataset,
    part: &str,
    roc_bins: usize,
    out: Option<&Path>,
) -> Result<BaselineReport, BaselineError> {
    let indices = dataset
        .split(part)
        .ok_or_else(|| BaselineError::MissingPart {
            dataset: dataset.root.clone(),
            scheme: dataset.scheme.name.clone(),
            part: part.to_string(),
        })?;
    if let Some(out) = out {
        create_dir(&out.join("masks"))?;
        create_dir(&out.join("overlays"))?;
    }
    let binary = |compatibility| MetricsConfig {
        compatibility,
        ..MetricsConfig::default()
    };
    let mut corrected = MetricsAccumulator::new(binary(Compatibility::Corrected))?;
    let mut legacy = MetricsAccumulator::new(binary(Compatibility::Legacy))?;
    let mut sweep = MetricsAccumulator::new(MetricsConfig {
        roc_bins: Some(roc_bins),
        ..binary(Compatibility::Corrected)
    })?;
    let samples = &dataset.samples;
    let maps: Vec<(Plane, Plane, f64)> = indices
        .par_iter()
        .map(|&index| {
            let image = &samples[index].image;
            let gray = Plane::new(image.height, image.width, image.luminance())?;
            let start = Instant::now();
            let map = baseline.saliency(&gray);
            Ok((gray, map, start.elapsed().as_secs_f64()))
        })
        .collect::<Result<_, BaselineError>>()?;
    let mut seconds = 0.0;
    for (&index, (gray, map, elapsed)) in indices.iter().zip(&maps) {
        seconds += elapsed;
        let sample = &samples[index];
        let (height, width) = (gray.height(), gray.width());
        let target: Vec<bool> = sample.mask.pixels.iter().map(|&p| p != 0).collect();
        let predicted = threshold.segment(map);
        let scores: Vec<f32> = predicted.iter().map(|&p| f32::from(u8::from(p))).collect();
        corrected.update(&scores, &target, height, width)?;
        legacy.update(&scores, &target, height, width)?;
        sweep.update(&map.normalised(), &target, height, width)?;
        if let Some(out) = out {
            let name = format!("{}.png", sample.id);
            outputs::write_mask(&out.join("masks").join(&name), height, width, &predicted)?;
            outputs::write_overlay(
                &out.join("overlays").join(&name),
                height,
                width,
                gray.values(),
                &predicted,
                &target,
            )?;
        }
    }
    let report = BaselineReport {
        baseline: baseline.clone(),
        threshold,
        dataset: dataset.root.clone(),
        part: part.to_string(),
        metrics: corrected.summary(),
        legacy_metrics: legacy.summary(),
        roc: sweep.roc().expect("the sweep was configured"),
        milliseconds_per_image: 1e3 * seconds / maps.len().max(1) as f64,
    };
    if let Some(out) = out {
        let path = out.join("metrics.json");
        let json = serde_json::to_string_pretty(&report).map_err(|e| BaselineError::Io {
            path: path.clone(),
            source: e.into(),
        })?;
        crate::atomic_file::write(&path, json.as_bytes())
            .map_err(|source| BaselineError::Io { path, source })?;
        outputs::write_roc_csv(&out.join("roc.csv"), &report.roc)?;
        let title = format!(
            "{} on {} ({part})",
            report.baseline.name(),
            dataset.root.display()
        );
        outputs::write_roc_plot(&out.join("roc.png"), &report.roc, &title)?;
    }
    Ok(report)
}
