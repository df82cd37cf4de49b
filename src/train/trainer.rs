//! The training loop over any [`Detector`]: epochs of shuffled, augmented batches; a loss step per batch; after
//! each epoch, the selection metrics, `metrics.csv`, `last.safetensors` and (when the
//! selection IoU improved) `best.safetensors`, all written atomically. A stop request ends
//! the run after the current batch with a saved checkpoint; a non-finite loss ends it with an
//! error and leaves the last good checkpoint in place.

use super::config::{SchedulerKind, Selection, TrainConfig};
use super::history::{self, EpochRecord};
use super::run_directory::{RunDirectory, RunState};
use super::schedule::LearningRateSchedule;
use super::TrainError;
use crate::data::{
    split_off_validation, BatchLoader, Dataset, DatasetOptions, DatasetWarning, LoaderConfig,
    Transform,
};
use crate::inference::{self, images_of, PredictError};
use crate::loss::Loss;
use crate::metrics::{MetricsAccumulator, MetricsConfig, ScoreKind, Summary};
use crate::model::{self, Detector, DetectorError};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Receives progress (the command line draws bars from it).
pub trait TrainObserver {
    /// An epoch (1-based) of `batches` batches starts.
    fn epoch_started(&mut self, epoch: usize, epochs: usize, batches: usize);
    /// A batch of `images` images finished with training loss `loss`.
    fn batch_finished(&mut self, loss: f32, images: usize);
    /// An epoch finished and was recorded.
    fn epoch_finished(&mut self, record: &EpochRecord, improved: bool);
}

/// How a run ended without error.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// Epochs completed in total (including earlier sessions of a resumed run).
    pub epochs_completed: usize,
    /// Whether a stop request ended the run early.
    pub interrupted: bool,
    /// The best selection metrics so far and their epoch.
    pub best: Option<EpochRecord>,
}

/// The data of a run: training batches and the batches that select the best checkpoint.
struct RunData {
    train: BatchLoader,
    selection: BatchLoader,
}

fn run_data(
    config: &TrainConfig,
    dataset: &Dataset,
    size_multiple: usize,
) -> Result<RunData, TrainError> {
    let split = |name: &'static str| {
        dataset
            .split(name)
            .map(<[usize]>::to_vec)
            .ok_or_else(|| TrainError::MissingSplit {
                dataset: dataset.root.clone(),
                scheme: dataset.scheme.name.clone(),
                split: name,
            })
    };
    if config.batch_size == 0 {
        return Err(TrainError::EmptyBatch);
    }
    let train = split("train")?;
    let (train, selection) = match config.selection {
        Selection::Validation { fraction } if !(0.0..1.0).contains(&fraction) => {
            return Err(TrainError::ValidationFraction(fraction))
        }
        Selection::Validation { fraction } => split_off_validation(&train, fraction, config.seed)?,
        Selection::Test => (train, split("test")?),
    };
    if train.len() < config.batch_size || selection.is_empty() {
        return Err(TrainError::TooFewImages {
            dataset: dataset.root.clone(),
            train: train.len(),
            selection: selection.len(),
            batch_size: config.batch_size,
        });
    }
    if config.image_size == 0 || !config.image_size.is_multiple_of(size_multiple) {
        return Err(TrainError::ImageSize {
            size: config.image_size,
            multiple: size_multiple,
            model: config.model,
        });
    }
    let mut train_config = LoaderConfig::training(config.batch_size, config.seed);
    train_config.transform = Transform::Augment {
        base_size: config.image_size,
    };
    let mut selection_config = LoaderConfig::evaluation(config.batch_size);
    selection_config.transform = Transform::Resize {
        size: config.image_size,
    };
    Ok(RunData {
        train: BatchLoader::new(dataset.samples.clone(), train, train_config)?,
        selection: BatchLoader::new(dataset.samples.clone(), selection, selection_config)?,
    })
}

/// Opens the dataset a run trains on; warnings (e.g. resized masks) are returned for the
/// caller to show.
pub fn open_dataset(config: &TrainConfig) -> Result<(Dataset, Vec<DatasetWarning>), TrainError> {
    let options = DatasetOptions {
        split: config.split.clone(),
        strict: false,
    };
    let dataset = Dataset::open(&config.dataset, &options)?;
    let warnings = dataset.warnings.clone();
    Ok((dataset, warnings))
}

/// A random seed for a run given none (recorded in its config for reruns).
pub fn fresh_seed() -> u64 {
    rand::random()
}

/// The selection metrics of `detector` on `loader`, with the reference's binarisation
/// (logit > 0).
fn selection_metrics(
    detector: &dyn Detector,
    loader: &BatchLoader,
) -> Result<Summary, PredictError> {
    let config = MetricsConfig {
        scores: ScoreKind::Logit,
        ..Default::default()
    };
    let mut metrics = MetricsAccumulator::new(config)?;
    inference::predict(detector, loader, |p| {
        Ok(metrics.update(&p.logits, &p.target, p.height, p.width)?)
    })?;
    Ok(metrics.summary())
}

/// Trains the model `config` names on its device, in run directory `run`: from scratch, or
/// from the run's last checkpoint when `run` holds a previous session's state.
pub fn train(
    config: &TrainConfig,
    dataset: &Dataset,
    run: &RunDirectory,
    stop: &AtomicBool,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome, TrainError> {
    let mut detector = model::build(config.model, config.device, config.seed)?;
    let data = run_data(config, dataset, detector.size_multiple())?;
    let loss = Loss::new(config.loss);
    let schedule = match config.scheduler {
        SchedulerKind::Constant => LearningRateSchedule::Constant { lr: config.lr },
        SchedulerKind::Cosine => LearningRateSchedule::cosine(
            config.lr,
            NonZeroUsize::new(config.epochs).unwrap_or(NonZeroUsize::MIN),
        ),
    };

    let mut records = run.history()?;
    let state = run.state()?;
    if state.epochs_completed > 0 {
        detector.load_weights(&run.last_checkpoint())?;
    } else if let Some(prior) = config.output_prior {
        detector.set_output_prior(prior);
    }
    detector.start_training(config.optimizer, config.lr)?;
    if run.optimizer_state().exists() {
        detector.load_optimizer(&run.optimizer_state())?;
    }
    let mut best = records
        .iter()
        .find(|r| Some(r.epoch) == state.best_epoch)
        .cloned();

    for epoch in state.epochs_completed + 1..=config.epochs {
        let started = Instant::now();
        let lr = schedule.lr_at(epoch - 1);
        detector.set_learning_rate(lr)?;
        observer.epoch_started(epoch, config.epochs, data.train.batches_per_epoch());
        let (mut loss_sum, mut batches) = (0.0f64, 0usize);
        for batch in data.train.epoch(epoch as u64) {
            let value = match detector.train_step(images_of(&batch)?, &batch.masks, &loss) {
                Err(DetectorError::NonFiniteLoss(value)) => {
                    return Err(TrainError::NonFiniteLoss {
                        value,
                        epoch,
                        batch: batches + 1,
                        checkpoint: run.last_checkpoint(),
                    })
                }
                step => step?,
            };
            loss_sum += f64::from(value);
            batches += 1;
            observer.batch_finished(value, batch.len());
            if stop.load(Ordering::SeqCst) {
                break;
            }
        }
        let interrupted = stop.load(Ordering::SeqCst);
        if interrupted {
            // The interrupted epoch is not counted: resuming runs it again from these weights.
            detector.save_weights(&run.last_checkpoint())?;
            detector.save_optimizer(&run.optimizer_state())?;
            return Ok(TrainOutcome {
                epochs_completed: epoch - 1,
                interrupted: true,
                best,
            });
        }

        let summary = selection_metrics(detector.as_ref(), &data.selection)?;
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / batches.max(1) as f64,
            val_iou: summary.iou,
            val_niou: summary.niou,
            val_pd: summary.pd,
            val_fa: summary.fa,
            lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        let improved = best.as_ref().is_none_or(|b| record.val_iou > b.val_iou);
        detector.save_weights(&run.last_checkpoint())?;
        detector.save_optimizer(&run.optimizer_state())?;
        if improved {
            detector.save_weights(&run.best_checkpoint())?;
            best = Some(record.clone());
        }
        records.push(record.clone());
        history::write(&run.metrics_csv(), &records)?;
        run.write_state(&RunState {
            epochs_completed: epoch,
            best_epoch: best.as_ref().map(|b| b.epoch),
        })?;
        observer.epoch_finished(&record, improved);
    }
    Ok(TrainOutcome {
        epochs_completed: config.epochs.max(state.epochs_completed),
        interrupted: false,
        best,
    })
}
