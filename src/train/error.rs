//! Why a training run could not start or stopped with an error.

use super::config::DatasetFingerprint;
use super::history::HistoryError;
use crate::data::{BatchingError, DatasetError};
use crate::inference::PredictError;
use crate::model::{DetectorError, ModelName, NonFinite};
use std::path::PathBuf;

/// Why training could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{what} at epoch {epoch}, batch {batch}; the run stopped (lower --lr?) and {}", match kept {
        Some(path) => format!("{} keeps the last good weights", path.display()),
        None => "nothing was saved, as no epoch had completed".to_string(),
    })]
    NonFinite {
        what: NonFinite,
        epoch: usize,
        batch: usize,
        /// The checkpoint holding the last good weights, if the run has one.
        kept: Option<PathBuf>,
    },
    #[error("{}: already holds a run; resume it with --resume {} or choose another --out", root.display(), root.display())]
    RunExists { root: PathBuf },
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("{}: not a run directory and not empty (it holds `{entry}`); choose a new or empty folder for --out", root.display())]
    NotARun { root: PathBuf, entry: String },
    #[error("{}: another rrcanet process is writing this run (its run.lock is held); wait for it to end or choose another --out", root.display())]
    RunInUse { root: PathBuf },
    #[error("the run was trained on {} ({recorded}); the dataset there now holds {found}: refusing to continue on other data", dataset.display())]
    DatasetChanged {
        dataset: PathBuf,
        recorded: DatasetFingerprint,
        found: DatasetFingerprint,
    },
    #[error("the number of epochs must be at least 1")]
    NoEpochs,
    #[error("the learning rate must be finite and positive, got {0}")]
    LearningRate(f64),
    #[error("{}: {problem}", path.display())]
    CorruptFile { path: PathBuf, problem: String },
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Plot(#[from] crate::plots::PlotError),
    #[error(transparent)]
    Batching(#[from] BatchingError),
    #[error("{}: the split scheme `{scheme}` has no `{split}` split", dataset.display())]
    MissingSplit {
        dataset: PathBuf,
        scheme: String,
        split: &'static str,
    },
    #[error("{}: {train} training images are too few for batch size {batch_size}", dataset.display())]
    TooFewImages {
        dataset: PathBuf,
        train: usize,
        batch_size: usize,
    },
    #[error("{}: the validation part ({fraction} of {train} training images) is empty; raise --val-fraction or select on the test split", dataset.display())]
    EmptyValidation {
        dataset: PathBuf,
        fraction: f64,
        train: usize,
    },
    #[error("{}: the test split is empty", dataset.display())]
    EmptyTestSplit { dataset: PathBuf },
    #[error("watching the test split needs validation selection: with selection on the test split its metrics are the selection metrics already")]
    WatchedTestSelects,
    #[error("the validation fraction must lie strictly between 0 and 1, got {0} (to select on the test split instead: --select-on-test)")]
    ValidationFraction(f64),
    #[error("image size {size} is not a multiple of {multiple}, which model {model} needs")]
    ImageSize {
        size: usize,
        multiple: usize,
        model: ModelName,
    },
    #[error("{}", match recorded {
        Some(input) => format!("the run's config records the input as {input} but {channels} input channels were asked for"),
        None => format!("{channels} input channels: the models take 1 (grey) or 3 (grey replicated to RGB)"),
    })]
    InputChannels {
        channels: usize,
        recorded: Option<crate::data::InputChannels>,
    },
    #[error("{}: {problem}; --init-from takes a checkpoint of the run's model and input", path.display())]
    InitialWeights { path: PathBuf, problem: String },
    #[error("batch size must be at least 1")]
    EmptyBatch,
    #[error(transparent)]
    Detector(#[from] DetectorError),
    #[error(transparent)]
    Predict(#[from] PredictError),
    #[error(transparent)]
    History(#[from] HistoryError),
}
