//! Why a training run could not start or stopped with an error.

use super::history::HistoryError;
use crate::data::{BatchingError, DatasetError};
use crate::inference::PredictError;
use crate::model::{DetectorError, ModelName};
use std::path::PathBuf;

/// Why training could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("the loss became {value} at epoch {epoch}, batch {batch}; the run stopped and {} keeps the last good weights", checkpoint.display())]
    NonFiniteLoss {
        value: f32,
        epoch: usize,
        batch: usize,
        checkpoint: PathBuf,
    },
    #[error("{}: already holds a run; resume it with --resume {} or choose another --out", root.display(), root.display())]
    RunExists { root: PathBuf },
    #[error("{}: {problem}", path.display())]
    CorruptFile { path: PathBuf, problem: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Batching(#[from] BatchingError),
    #[error("{}: the split scheme `{scheme}` has no `{split}` split", dataset.display())]
    MissingSplit {
        dataset: PathBuf,
        scheme: String,
        split: &'static str,
    },
    #[error("{}: {train} training and {selection} selection images are too few for batch size {batch_size}", dataset.display())]
    TooFewImages {
        dataset: PathBuf,
        train: usize,
        selection: usize,
        batch_size: usize,
    },
    #[error("the validation fraction must lie in [0, 1), got {0}")]
    ValidationFraction(f64),
    #[error("image size {size} is not a multiple of {multiple}, which model {model} needs")]
    ImageSize {
        size: usize,
        multiple: usize,
        model: ModelName,
    },
    #[error("batch size must be at least 1")]
    EmptyBatch,
    #[error(transparent)]
    Detector(#[from] DetectorError),
    #[error(transparent)]
    Predict(#[from] PredictError),
    #[error(transparent)]
    History(#[from] HistoryError),
}
