//! Everything that defines a training run, saved as `config.json` in its run directory so the
//! run can be rebuilt, resumed and reproduced.

use crate::data::{Dataset, InputChannels};
pub use crate::loss::LossKind;
pub use crate::model::{DeviceKind, ModelName};
pub use crate::optim::OptimizerKind;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

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

    /// The part the selection metrics are measured on, in one word.
    pub fn short_label(&self) -> &'static str {
        match self {
            Selection::Validation { .. } => "validation",
            Selection::Test => "test",
        }
    }
}

/// What identifies a dataset's content cheaply: its number of images and a digest (64-bit
/// FNV-1a, hex) of the split scheme, each split's ids in order, and each sample's id and
/// image size. A run refuses to continue on a dataset whose fingerprint differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetFingerprint {
    /// Images in the dataset's split scheme.
    pub images: usize,
    /// The digest.
    pub digest: String,
}

impl DatasetFingerprint {
    /// The fingerprint of `dataset`.
    pub fn of(dataset: &Dataset) -> Self {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut digest = OFFSET;
        let mut feed = |bytes: &[u8]| {
            for &byte in bytes.iter().chain(&[0xff]) {
                digest = (digest ^ u64::from(byte)).wrapping_mul(PRIME);
            }
        };
        feed(dataset.scheme.name.as_bytes());
        for sample in dataset.samples.iter() {
            feed(sample.id.as_bytes());
            feed(&(sample.image.width as u64).to_le_bytes());
            feed(&(sample.image.height as u64).to_le_bytes());
        }
        for (split, members) in &dataset.splits {
            feed(split.as_bytes());
            for &member in members {
                feed(&(member as u64).to_le_bytes());
            }
        }
        DatasetFingerprint {
            images: dataset.samples.len(),
            digest: format!("{digest:016x}"),
        }
    }
}

impl std::fmt::Display for DatasetFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} images, fingerprint {}", self.images, self.digest)
    }
}

/// A training run's full definition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The configuration, e.g. `r18`.
    pub model: ModelName,
    /// Dataset folder (any supported layout), absolute.
    pub dataset: PathBuf,
    /// The dataset's content when the run started (missing in runs made before it was
    /// recorded; then filled in on their next resume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_fingerprint: Option<DatasetFingerprint>,
    /// Split scheme (e.g. `50_50`); `None` lets the loader pick the dataset's only one.
    pub split: Option<String>,
    /// Total epochs.
    pub epochs: usize,
    pub batch_size: usize,
    /// Base learning rate.
    pub lr: f64,
    pub optimizer: OptimizerKind,
    pub scheduler: SchedulerKind,
    /// The member of the loss family (the paper's: `dptk`).
    pub loss: LossKind,
    /// Seeds the model initialisation, the shuffle, the augmentation and the validation carve.
    pub seed: u64,
    pub selection: Selection,
    /// Also measure the test split after every epoch, beside the selection metrics and never
    /// used to select (`--watch-test`): how far the selected epoch falls short of the best
    /// test epoch (the selection gap). Needs validation selection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub watch_test: bool,
    /// Training crop and evaluation size (the reference's 256).
    pub image_size: usize,
    /// Initial target probability of every pixel, set through the last conv's bias (0.01 gives
    /// a bias of -4.6); `None` keeps the paper's initialisation.
    pub output_prior: Option<f64>,
    /// Epochs over which the learning rate rises linearly, batch by batch, to the schedule's
    /// (0: none, as the paper).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup_epochs: usize,
    pub device: DeviceKind,
    /// Input channels the model takes: 3 (grey replicated to RGB, ImageNet-normalised: the
    /// authors' RRCA-Net code) or 1 (grey, normalised with the training images' statistics:
    /// their BasicIRSTD pipeline).
    #[serde(default = "three_channels")]
    pub input_channels: usize,
    /// The input as resolved when the run started (for one channel: the mean and std it
    /// normalises with), so that a resumed run and its checkpoints keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputChannels>,
    /// A checkpoint of the same configuration and input whose weights the run starts from
    /// (e.g. imported from the authors' PyTorch code) instead of a fresh initialisation; the
    /// optimizer starts fresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
}

impl TrainConfig {
    /// The recipe in words, as the first line of `train` and the title of `curves.png` give
    /// it: "cosine adagrad lr 0.02 after a 2-epoch warm-up, batch 8, dptk loss".
    pub fn recipe(&self) -> String {
        let warmup = match self.warmup_epochs {
            0 => String::new(),
            epochs => format!(" after a {epochs}-epoch warm-up"),
        };
        format!(
            "{} {} lr {}{warmup}, batch {}, {} loss",
            self.scheduler, self.optimizer, self.lr, self.batch_size, self.loss
        )
    }
}

/// A run without a warm-up records none (like the runs made before it existed).
fn is_zero(epochs: &usize) -> bool {
    *epochs == 0
}

/// Runs recorded before the input was chosen took three channels.
fn three_channels() -> usize {
    3
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
            model: ModelName::R18,
            dataset: "/data/sirst".into(),
            dataset_fingerprint: Some(DatasetFingerprint {
                images: 427,
                digest: "00112233445566ff".into(),
            }),
            split: Some("50_50".into()),
            epochs: 3,
            batch_size: 8,
            lr: 0.05,
            optimizer: OptimizerKind::Adagrad,
            scheduler: SchedulerKind::Cosine,
            loss: LossKind::Dptk,
            seed: 7,
            selection: Selection::Validation { fraction: 0.1 },
            watch_test: true,
            image_size: 256,
            output_prior: Some(0.01),
            warmup_epochs: 2,
            device: DeviceKind::Cpu,
            input_channels: 1,
            input: Some(InputChannels::Gray {
                mean: 101.06,
                std: 34.62,
            }),
            init_from: Some("/runs/imported.safetensors".into()),
        };
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), config);
        assert_eq!(
            config.recipe(),
            "cosine adagrad lr 0.05 after a 2-epoch warm-up, batch 8, dptk loss"
        );
        let constant = TrainConfig {
            warmup_epochs: 0,
            scheduler: SchedulerKind::Constant,
            ..config
        };
        assert_eq!(
            constant.recipe(),
            "constant adagrad lr 0.05, batch 8, dptk loss"
        );
    }
}
