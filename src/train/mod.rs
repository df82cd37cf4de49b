//! Training with the paper's recipe over any [`crate::model::Detector`]: the loop, the
//! learning-rate schedules (constant, as the released code trains, and cosine annealing, as
//! the paper states), the run's definition and the run directory it records into.

pub mod config;
mod error;
pub mod history;
pub mod run_directory;
pub mod schedule;
pub mod seeds;
pub mod trainer;

pub use config::{
    DatasetFingerprint, DeviceKind, LossKind, ModelName, OptimizerKind, SchedulerKind, Selection,
    TrainConfig,
};
pub use error::TrainError;
pub use run_directory::{EpochPosition, RunDirectory, RunState};
pub use trainer::{fresh_seed, open_dataset, prepare, Prepared, TrainObserver, TrainOutcome};
