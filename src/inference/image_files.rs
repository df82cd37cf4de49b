//! Inference on image files of any size: a mask PNG per image and the detected targets of
//! all of them in `detections.json`.

use super::detections::{detect_targets, DetectedTarget};
use super::{outputs, predict, PredictError};
use crate::data::{read_image, BatchLoader, LoaderConfig, Sample, TargetMask, Transform};
use crate::model::Detector;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One input image's detections.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImageDetections {
    pub image: PathBuf,
    pub width: usize,
    pub height: usize,
    pub targets: Vec<DetectedTarget>,
}

/// Runs `detector` on each image file at its native size; writes one mask PNG per input
/// (pixels whose target probability exceeds `threshold`) under `out/masks/` and
/// `out/detections.json`.
pub fn infer(
    detector: &dyn Detector,
    inputs: &[PathBuf],
    out: &Path,
    threshold: f32,
) -> Result<Vec<ImageDetections>, PredictError> {
    if !(0.0..1.0).contains(&threshold) {
        return Err(PredictError::Threshold(threshold));
    }
    let mut samples = Vec::with_capacity(inputs.len());
    for path in inputs {
        let image = read_image(path)?;
        let mask = TargetMask {
            width: image.width,
            height: image.height,
            pixels: vec![0; image.width * image.height],
        };
        samples.push(Sample {
            id: samples.len().to_string(),
            image,
            mask,
        });
    }
    let masks = out.join("masks");
    std::fs::create_dir_all(&masks).map_err(|source| PredictError::Io {
        path: masks.clone(),
        source,
    })?;
    let mut config = LoaderConfig::evaluation(1);
    config.transform = Transform::Native {
        multiple: detector.size_multiple(),
    };
    let loader = BatchLoader::new(Arc::new(samples), (0..inputs.len()).collect(), config);
    let mut detections = Vec::with_capacity(inputs.len());
    predict(detector, &loader, |prediction| {
        let source = &inputs[detections.len()];
        let probabilities = prediction.probabilities();
        let mask: Vec<bool> = probabilities.iter().map(|&p| p > threshold).collect();
        let stem = source
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| prediction.id.clone());
        outputs::write_mask(
            &masks.join(format!("{stem}.png")),
            prediction.height,
            prediction.width,
            &mask,
        )?;
        detections.push(ImageDetections {
            image: source.clone(),
            width: prediction.width,
            height: prediction.height,
            targets: detect_targets(
                &probabilities,
                prediction.height,
                prediction.width,
                threshold,
            ),
        });
        Ok(())
    })?;
    let path = out.join("detections.json");
    let json = serde_json::to_string_pretty(&detections).expect("detections serialise");
    crate::atomic_file::write(&path, json.as_bytes())
        .map_err(|source| PredictError::Io { path, source })?;
    Ok(detections)
}
