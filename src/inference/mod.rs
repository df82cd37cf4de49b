//! Running a trained model on images: predictions for evaluation (with ground truth, through
//! a [`BatchLoader`]) and for inference on any image file, plus the files a run writes from
//! them (masks, overlays, ROC, detections).

pub mod detections;
mod evaluation;
mod image_files;
pub mod outputs;
pub mod tiles;

pub use evaluation::{evaluate, EvaluationProtocol, EvaluationReport, Resolution};
pub use image_files::{infer, mask_names, ImageDetections, InferenceReport, MAX_INFERENCE_PIXELS};
pub use tiles::{predict_tiled, Tiling};

use crate::data::{Batch, BatchLoader, BatchingError, ImageReadError};
use crate::model::{Detector, DetectorError, Images};
use std::path::PathBuf;

/// One image's prediction, cropped to its valid (unpadded) region.
#[derive(Clone, Debug)]
pub struct Prediction {
    /// The sample id.
    pub id: String,
    pub width: usize,
    pub height: usize,
    /// Logits, row-major, `width * height`.
    pub logits: Vec<f32>,
    /// Ground truth (`true` = target), row-major, when the batch had masks.
    pub target: Vec<bool>,
}

impl Prediction {
    /// The target probability of every pixel.
    pub fn probabilities(&self) -> Vec<f32> {
        self.logits.iter().map(|&x| sigmoid(x)).collect()
    }
}

/// The logistic function.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// A batch's input images as `detector` takes them.
pub fn images_of<'a>(
    detector: &dyn Detector,
    batch: &'a Batch,
) -> Result<Images<'a>, PredictError> {
    let takes = detector.input().count();
    if batch.channels != takes {
        return Err(PredictError::Channels {
            made: batch.channels,
            takes,
        });
    }
    Ok(Images {
        values: &batch.images,
        count: batch.len(),
        height: batch.height,
        width: batch.width,
    })
}

/// Splits a batch's output logits into per-image predictions cropped to each valid region.
pub fn split_predictions(batch: &Batch, logits: &[f32]) -> Vec<Prediction> {
    let plane = batch.height * batch.width;
    (0..batch.len())
        .map(|i| {
            let (height, width) = batch.valid_sizes[i];
            let crop = |values: &[f32]| -> Vec<f32> {
                values[i * plane..(i + 1) * plane]
                    .chunks_exact(batch.width)
                    .take(height)
                    .flat_map(|row| &row[..width])
                    .copied()
                    .collect()
            };
            Prediction {
                id: batch.ids[i].clone(),
                width,
                height,
                logits: crop(logits),
                target: crop(&batch.masks).into_iter().map(|m| m > 0.5).collect(),
            }
        })
        .collect()
}

/// Runs `detector` in eval mode over every batch of `loader` and hands each image's
/// prediction to `visit`, in loader order.
pub fn predict(
    detector: &dyn Detector,
    loader: &BatchLoader,
    mut visit: impl FnMut(Prediction) -> Result<(), PredictError>,
) -> Result<(), PredictError> {
    for batch in loader.epoch(0) {
        let logits = detector.predict(images_of(detector, &batch)?)?;
        for image in split_predictions(&batch, &logits) {
            visit(image)?;
        }
    }
    Ok(())
}

/// Why predictions could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error("the loader made {made}-channel images; the detector takes {takes}")]
    Channels { made: usize, takes: usize },
    #[error("threshold {0} is not a probability in [0, 1)")]
    Threshold(f32),
    #[error("{}: split scheme `{scheme}` has no `{part}` split", dataset.display())]
    MissingPart {
        dataset: PathBuf,
        scheme: String,
        part: String,
    },
    #[error("--resize {size} is not a positive multiple of {multiple}, which model {model} needs")]
    ResizeSize {
        size: usize,
        multiple: usize,
        model: crate::model::ModelName,
    },
    #[error("tiles of {tile} px with {overlap} px of overlap: the tile must be a positive multiple of {multiple} and more than twice the overlap")]
    Tiling {
        tile: usize,
        overlap: usize,
        multiple: usize,
    },
    #[error("{}: {width} x {height} pixels is more than the {MAX_INFERENCE_PIXELS} pixels infer reads (8192 x 8192); split the image", path.display())]
    TooLarge {
        path: PathBuf,
        height: usize,
        width: usize,
    },
    #[error("{first} and {second} would both write the mask {name}; rename one of them", first = first.display(), second = second.display())]
    MaskNameClash {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{}: holds files that no earlier infer run listed in detections.json ({files}); they are kept: remove them or choose another --out", folder.display())]
    ForeignMasks { folder: PathBuf, files: String },
    #[error("{}: not a detections file of rrcanet infer ({problem}); remove it or choose another --out", path.display())]
    PreviousDetections { path: PathBuf, problem: String },
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Detector(#[from] DetectorError),
    #[error(transparent)]
    Read(#[from] ImageReadError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error(transparent)]
    Output(#[from] outputs::OutputError),
    #[error(transparent)]
    Batching(#[from] BatchingError),
}
