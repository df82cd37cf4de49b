//! Running a trained model on images: predictions for evaluation (with ground truth, through
//! a [`BatchLoader`]) and for inference on any image file, plus the files a run writes from
//! them (masks, overlays, ROC, detections).

pub mod detections;
pub mod outputs;

use crate::data::{Batch, BatchLoader};
use crate::model::Segmenter;
use crate::nn::Backend;
use crate::ops::{Image, OpError};
use dfdx::prelude::Const;

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

/// The batch's input as a tensor on `device`.
pub fn batch_input<const IN: usize, D: Backend<f32>>(
    device: &D,
    batch: &Batch,
) -> Result<Image<IN, f32, D>, OpError> {
    assert_eq!(
        batch.channels, IN,
        "the loader's channel count must match the model's input"
    );
    device
        .try_tensor_from_vec(
            batch.images.clone(),
            (batch.len(), Const::<IN>, batch.height, batch.width),
        )
        .map_err(OpError::device)
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

/// Runs `model` in eval mode over every batch of `loader` and hands each image's prediction
/// to `visit`, in loader order.
pub fn predict<const IN: usize, M, D>(
    model: &mut M,
    device: &D,
    loader: &BatchLoader,
    mut visit: impl FnMut(Prediction) -> Result<(), crate::inference::PredictError>,
) -> Result<(), PredictError>
where
    M: Segmenter<IN, f32, D>,
    D: Backend<f32>,
{
    for batch in loader.epoch(0) {
        let input = batch_input::<IN, D>(device, &batch)?;
        let mut outputs = model.forward_eval(input)?;
        let prediction = outputs
            .pop()
            .expect("a model returns at least one logit map");
        for image in split_predictions(&batch, &prediction.as_vec()) {
            visit(image)?;
        }
    }
    Ok(())
}

/// Why predictions could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error(transparent)]
    Op(#[from] OpError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error(transparent)]
    Output(#[from] outputs::OutputError),
}
