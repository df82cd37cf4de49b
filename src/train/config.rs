//! Everything that defines a training run, saved as `config.json` in its run directory so the
//! run can be rebuilt, resumed and reproduced.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub use crate::optim::OptimizerKind;

crate::named_enum! {
    /// The learning-rate schedule over epochs. The released code trains at a constant rate;
    /// the paper names cosine annealing.
    pub enum SchedulerKind: "scheduler" {
        Constant => "constant",
        Cosine => "cosine",
    }
}

/// Which part of the data picks the best checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// A validation part of this fraction carved from the training split (the clean
    /// protocol, our default).
    Validation { fraction: f64 },
    /// The test split, as the released code does (the paper's protocol: its numbers are the
    /// best test IoU over training). Every output says so.
    Test,
}

impl Selection {
    /// How outputs label the selection metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Selection::Validation { .. } => "validation",
            Selection::Test => "test (paper protocol: selected on the test split)",
        }
    }
}

crate::named_enum! {
    /// The device the run trains on.
    pub enum DeviceKind: "device" {
        Cpu => "cpu",
        Cuda => "cuda",
    }
}

/// A training run's full definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Registry name of the model, e.g. `r18`.
    pub model: String,
    /// Dataset folder (any supported layout).
    pub dataset: PathBuf,
    /// Split scheme (e.g. `50_50`); `None` lets the loader pick the dataset's only one.
    pub split: Option<String>,
    /// Total epochs.
    pub epochs: usize,
    pub batch_size: usize,
    /// Base learning rate.
    pub lr: f64,
    pub optimizer: OptimizerKind,
    pub scheduler: SchedulerKind,
    /// Loss name (see [`crate::loss::LossKind`]).
    pub loss: String,
    /// Seeds the model initialisation, the shuffle, the augmentation and the validation carve.
    pub seed: u64,
    pub selection: Selection,
    /// Training crop and evaluation size (the reference's 256).
    pub image_size: usize,
    /// Initial target probability of every pixel, set through the last conv's bias (0.01 gives
    /// a bias of -4.6); `None` keeps the paper's initialisation.
    pub output_prior: Option<f64>,
    pub device: DeviceKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for &kind in OptimizerKind::ALL {
            assert_eq!(kind.name().parse::<OptimizerKind>(), Ok(kind));
        }
        let error = "rmsprop".parse::<OptimizerKind>().unwrap_err().to_string();
        assert!(error.contains("adagrad, adam, sgd"), "{error}");
    }

    #[test]
    fn config_round_trips_through_json() {
        let config = TrainConfig {
            model: "r18".into(),
            dataset: "data/sirst".into(),
            split: Some("50_50".into()),
            epochs: 3,
            batch_size: 8,
            lr: 0.05,
            optimizer: OptimizerKind::Adagrad,
            scheduler: SchedulerKind::Cosine,
            loss: "dptk".into(),
            seed: 7,
            selection: Selection::Validation { fraction: 0.1 },
            image_size: 256,
            output_prior: Some(0.01),
            device: DeviceKind::Cpu,
        };
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), config);
    }
}
