//! Evaluation of a detector on a dataset split: the field's metrics as defined and in the
//! reference code's convention, the ROC sweep, and the files a reader looks at (metrics.json,
//! per-image.csv, roc.csv, roc.png, masks, overlays).

use super::outputs::{EvaluationFolder, OverlayPlanes};
use super::{predict, PredictError};
use crate::data::resample::resize_bilinear;
use crate::data::{folder_name, BatchLoader, Dataset, InputChannels, LoaderConfig, Transform};
use crate::metrics::{
    Compatibility, MetricsAccumulator, MetricsConfig, RocSweep, ScoreKind, Scores,
};
use crate::model::{Detector, ModelName};
use crate::progress::Progress;
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
    /// The input the model takes (what its parameter and MAC counts depend on).
    pub input: InputChannels,
    pub checkpoint: PathBuf,
    pub dataset: PathBuf,
    pub part: String,
    #[serde(flatten)]
    pub scores: Scores,
}

/// What an evaluation scores and how.
#[derive(Clone, Copy, Debug)]
pub struct EvaluationProtocol<'a> {
    /// The split part, e.g. `test`.
    pub part: &'a str,
    pub resolution: Resolution,
    pub roc: RocSweep,
}

/// Evaluates `detector` (read from `checkpoint`, which the report names) on `dataset` as
/// `protocol` says; when `out` is given, writes there what [`EvaluationFolder`] holds
/// (metrics.json, per-image.csv, roc.csv, roc.png, gallery.png, masks/, overlays/). `progress` is told of
/// each image scored.
pub fn evaluate(
    detector: &dyn Detector,
    checkpoint: &Path,
    dataset: &Dataset,
    protocol: EvaluationProtocol,
    out: Option<&Path>,
    progress: &dyn Progress,
) -> Result<EvaluationReport, PredictError> {
    let EvaluationProtocol {
        part,
        resolution,
        roc,
    } = protocol;
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
    let mut folder = out.map(EvaluationFolder::create).transpose()?;
    let metrics_config = |compatibility| MetricsConfig {
        scores: ScoreKind::Logit,
        compatibility,
        ..Default::default()
    };
    let mut corrected = MetricsAccumulator::new(MetricsConfig {
        roc: Some(roc),
        ..metrics_config(Compatibility::Corrected)
    })?;
    let mut legacy = MetricsAccumulator::new(metrics_config(Compatibility::Legacy))?;
    let mut config = LoaderConfig::evaluation(1);
    config.transform = transform;
    config.channels = detector.input();
    progress.start(&format!("evaluating {part}"), indices.len());
    let loader = BatchLoader::new(dataset.samples.clone(), indices, config)?;
    predict(detector, &loader, |prediction| {
        let (width, height) = (prediction.width, prediction.height);
        let score = corrected.update(&prediction.logits, &prediction.target, height, width)?;
        legacy.update(&prediction.logits, &prediction.target, height, width)?;
        if let Some(folder) = &mut folder {
            let predicted: Vec<bool> = prediction.logits.iter().map(|&x| x > 0.0).collect();
            let image = &dataset.samples[by_id[prediction.id.as_str()]].image;
            let gray =
                resize_bilinear(&image.luminance(), image.height, image.width, height, width);
            let planes = OverlayPlanes {
                height,
                width,
                gray: &gray,
                predicted: &predicted,
                target: &prediction.target,
            };
            folder.add_image(&prediction.id, &planes, &score)?;
        }
        progress.advance();
        Ok(())
    })?;
    progress.finish();
    let report = EvaluationReport {
        model: detector.name(),
        input: detector.input(),
        checkpoint: checkpoint.to_path_buf(),
        dataset: dataset.root.clone(),
        part: part.to_string(),
        scores: Scores {
            metrics: corrected.summary(),
            legacy_metrics: legacy.summary(),
            roc: corrected.roc().expect("the sweep was configured"),
        },
    };
    if let Some(folder) = folder {
        let name = report.model.to_string();
        let title = format!("{name} on {} ({part})", folder_name(&dataset.root));
        folder.finish(&report, &report.scores.roc, &name, &title)?;
    }
    Ok(report)
}
