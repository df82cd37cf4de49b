//! Evaluation of a detector on a dataset split: the field's metrics as defined and in the
//! reference code's convention, the ROC sweep, and the files a reader looks at (metrics.json,
//! roc.csv, roc.png, masks, overlays).

use super::{outputs, predict, PredictError};
use crate::data::resample::resize_bilinear;
use crate::data::{BatchLoader, Dataset, LoaderConfig, Transform};
use crate::metrics::{
    Compatibility, MetricsAccumulator, MetricsConfig, RocCurve, ScoreKind, Summary,
};
use crate::model::{Detector, ModelName};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How evaluation images are sized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Resized to `size` x `size` (image bilinear, mask nearest): the reference protocol.
    Resize(usize),
    /// Native resolution, zero padded for the network; metrics on the unpadded region only.
    Native,
}

/// What [`evaluate`] reports: metrics as defined and in the reference code's convention, and
/// the ROC sweep.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvaluationReport {
    pub model: ModelName,
    pub checkpoint: PathBuf,
    pub dataset: PathBuf,
    pub part: String,
    pub metrics: Summary,
    /// The same predictions scored with the reference code's quirks (`--compat legacy`).
    pub legacy_metrics: Summary,
    pub roc: RocCurve,
}

fn create_dir(path: &Path) -> Result<(), PredictError> {
    std::fs::create_dir_all(path).map_err(|source| PredictError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Evaluates `detector` (read from `checkpoint`, which the report names) on split `part` of
/// `dataset` with a ROC sweep of `roc_bins` thresholds; when `out` is given, writes there
/// `metrics.json`, `roc.csv`, `roc.png`, the predicted masks under `masks/` and overlays
/// (prediction red, ground truth green) under `overlays/`.
pub fn evaluate(
    detector: &dyn Detector,
    checkpoint: &Path,
    dataset: &Dataset,
    part: &str,
    resolution: Resolution,
    roc_bins: usize,
    out: Option<&Path>,
) -> Result<EvaluationReport, PredictError> {
    let indices =
        dataset
            .split(part)
            .map(<[usize]>::to_vec)
            .ok_or_else(|| PredictError::MissingPart {
                dataset: dataset.root.clone(),
                scheme: dataset.scheme.name.clone(),
                part: part.to_string(),
            })?;
    let multiple = detector.size_multiple();
    let transform = match resolution {
        Resolution::Resize(size) if size == 0 || !size.is_multiple_of(multiple) => {
            return Err(PredictError::ResizeSize {
                size,
                multiple,
                model: detector.name(),
            })
        }
        Resolution::Resize(size) => Transform::Resize { size },
        Resolution::Native => Transform::Native { multiple },
    };
    let by_id: HashMap<&str, usize> = dataset
        .samples
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    if let Some(out) = out {
        create_dir(&out.join("masks"))?;
        create_dir(&out.join("overlays"))?;
    }
    let metrics_config = |compatibility| MetricsConfig {
        scores: ScoreKind::Logit,
        compatibility,
        ..Default::default()
    };
    let mut corrected = MetricsAccumulator::new(MetricsConfig {
        roc_bins: Some(roc_bins),
        ..metrics_config(Compatibility::Corrected)
    })?;
    let mut legacy = MetricsAccumulator::new(metrics_config(Compatibility::Legacy))?;
    let mut config = LoaderConfig::evaluation(1);
    config.transform = transform;
    config.channels = detector.input();
    let loader = BatchLoader::new(dataset.samples.clone(), indices, config)?;
    predict(detector, &loader, |prediction| {
        let (width, height) = (prediction.width, prediction.height);
        corrected.update(&prediction.logits, &prediction.target, height, width)?;
        legacy.update(&prediction.logits, &prediction.target, height, width)?;
        if let Some(out) = out {
            let predicted: Vec<bool> = prediction.logits.iter().map(|&x| x > 0.0).collect();
            let name = format!("{}.png", prediction.id);
            outputs::write_mask(&out.join("masks").join(&name), height, width, &predicted)?;
            let image = &dataset.samples[by_id[prediction.id.as_str()]].image;
            let gray =
                resize_bilinear(&image.luminance(), image.height, image.width, height, width);
            outputs::write_overlay(
                &out.join("overlays").join(&name),
                height,
                width,
                &gray,
                &predicted,
                &prediction.target,
            )?;
        }
        Ok(())
    })?;
    let report = EvaluationReport {
        model: detector.name(),
        checkpoint: checkpoint.to_path_buf(),
        dataset: dataset.root.clone(),
        part: part.to_string(),
        metrics: corrected.summary(),
        legacy_metrics: legacy.summary(),
        roc: corrected.roc().expect("the sweep was configured"),
    };
    if let Some(out) = out {
        let path = out.join("metrics.json");
        let json = serde_json::to_string_pretty(&report).expect("a report serialises");
        crate::atomic_file::write(&path, json.as_bytes())
            .map_err(|source| PredictError::Io { path, source })?;
        outputs::write_roc_csv(&out.join("roc.csv"), &report.roc)?;
        let title = format!("{} on {} ({})", report.model, dataset.root.display(), part);
        outputs::write_roc_plot(&out.join("roc.png"), &report.roc, &title)?;
    }
    Ok(report)
}
