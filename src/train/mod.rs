//! Training with the paper's recipe: the AdaGrad optimiser (not in dfdx), the learning-rate
//! schedules (constant, as the released code trains, and cosine annealing, as the paper
//! states), the loop, and the run directory it records into.

pub mod config;
pub mod history;
pub mod optim;
pub mod run_directory;
pub mod schedule;
pub mod trainer;

pub use config::{DeviceKind, OptimizerKind, SchedulerKind, Selection, TrainConfig};
pub use run_directory::{RunDirectory, RunState};
pub use trainer::{evaluate, train, TrainError, TrainObserver, TrainOutcome};
