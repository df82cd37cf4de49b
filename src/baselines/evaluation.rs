//! A baseline over a dataset split at native resolution, scored and written out as
//! `rrcanet eval` does (the same accumulators and output writers).
//!
//! The main and legacy metrics score the thresholded masks; the ROC sweeps the saliency map
//! of each image scaled to [0, 1] by its own minimum and maximum.

use super::{Baseline, BaselineError, Plane, Threshold};
use crate::data::{folder_name, Dataset};
use crate::inference::outputs::{EvaluationFolder, OverlayPlanes};
use crate::metrics::{Compatibility, MetricsAccumulator, MetricsConfig, RocSweep, Scores};
use crate::progress::Progress;
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
    /// The thresholded masks scored, and the sweep over the normalised saliency maps.
    #[serde(flatten)]
    pub scores: Scores,
    /// Mean time of one saliency map (one thread), in milliseconds.
    pub milliseconds_per_image: f64,
}

/// Runs `baseline` with `threshold` on every image of split `part` of `dataset` (images in
/// parallel), with the ROC sweep `roc`; when `out` is given, writes there what
/// [`EvaluationFolder`] holds (metrics.json, per-image.csv, roc.csv, roc.png, gallery.png, masks/,
/// overlays/). `progress` is told of each saliency map computed.
pub fn evaluate(
    baseline: &Baseline,
    threshold: Threshold,
    dataset: &Dataset,
    part: &str,
    roc: RocSweep,
    out: Option<&Path>,
    progress: &dyn Progress,
) -> Result<BaselineReport, BaselineError> {
    let indices = dataset
        .split(part)
        .ok_or_else(|| BaselineError::MissingPart {
            dataset: dataset.root.clone(),
            scheme: dataset.scheme.name.clone(),
            part: part.to_string(),
        })?;
    let mut folder = out.map(EvaluationFolder::create).transpose()?;
    let binary = |compatibility| MetricsConfig {
        compatibility,
        ..MetricsConfig::default()
    };
    let mut corrected = MetricsAccumulator::new(binary(Compatibility::Corrected))?;
    let mut legacy = MetricsAccumulator::new(binary(Compatibility::Legacy))?;
    let mut sweep = MetricsAccumulator::new(MetricsConfig {
        roc: Some(roc),
        ..binary(Compatibility::Corrected)
    })?;
    let samples = &dataset.samples;
    progress.start(&format!("{} on {part}", baseline.name()), indices.len());
    let maps: Vec<(Plane, Plane, f64)> = indices
        .par_iter()
        .map(|&index| {
            let image = &samples[index].image;
            let gray = Plane::new(image.height, image.width, image.luminance())?;
            let start = Instant::now();
            let map = baseline.saliency(&gray);
            let elapsed = start.elapsed().as_secs_f64();
            progress.advance();
            Ok((gray, map, elapsed))
        })
        .collect::<Result<_, BaselineError>>()?;
    progress.finish();
    let mut seconds = 0.0;
    for (&index, (gray, map, elapsed)) in indices.iter().zip(&maps) {
        seconds += elapsed;
        let sample = &samples[index];
        let (height, width) = (gray.height(), gray.width());
        let target: Vec<bool> = sample.mask.pixels.iter().map(|&p| p != 0).collect();
        let predicted = threshold.segment(map);
        let scores: Vec<f32> = predicted.iter().map(|&p| f32::from(u8::from(p))).collect();
        let score = corrected.update(&scores, &target, height, width)?;
        legacy.update(&scores, &target, height, width)?;
        sweep.update(&map.normalised(), &target, height, width)?;
        if let Some(folder) = &mut folder {
            let planes = OverlayPlanes {
                height,
                width,
                gray: gray.values(),
                predicted: &predicted,
                target: &target,
            };
            folder.add_image(&sample.id, &planes, &score)?;
        }
    }
    let report = BaselineReport {
        baseline: baseline.clone(),
        threshold,
        dataset: dataset.root.clone(),
        part: part.to_string(),
        scores: Scores {
            metrics: corrected.summary(),
            legacy_metrics: legacy.summary(),
            roc: sweep.roc().expect("the sweep was configured"),
        },
        milliseconds_per_image: 1e3 * seconds / maps.len().max(1) as f64,
    };
    if let Some(folder) = folder {
        let name = report.baseline.name().to_string();
        let title = format!("{name} on {} ({part})", folder_name(&dataset.root));
        folder.finish(&report, &report.scores.roc, &name, &title)?;
    }
    Ok(report)
}
