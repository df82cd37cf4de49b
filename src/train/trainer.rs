//! The training loop over any [`Detector`]: epochs of shuffled, augmented batches; a loss step per batch; after
//! each epoch, the selection metrics, `metrics.csv`, `last.safetensors` and (when the
//! selection IoU improved) `best.safetensors`, all written atomically.
//!
//! [`prepare`] checks everything a run needs (options, dataset, device) before anything is
//! written; [`Prepared::train`] then trains in a run directory. A stop request ends the run
//! after the current batch, saving the position inside the epoch so that resuming continues
//! exactly; a NaN or infinite loss, gradient or weight ends it with an error and leaves the
//! last good checkpoint as it was.

use super::config::{DatasetFingerprint, SchedulerKind, Selection, TrainConfig};
use super::history::{self, EpochRecord, SplitMetrics};
use super::run_directory::{EpochPosition, RunDirectory, RunState};
use super::schedule::{warmup_share, LearningRateSchedule};
use super::TrainError;
use crate::data::{
    split_off_validation, BatchLoader, Dataset, DatasetOptions, DatasetWarning, InputChannels,
    LoaderConfig, Transform,
};
use crate::inference::{self, images_of, PredictError};
use crate::loss::Loss;
use crate::metrics::{MetricsAccumulator, MetricsConfig, ScoreKind, Summary};
use crate::model::{self, Detector, DetectorError};
use crate::plots::curves::write_curves;
use crate::progress::Progress;
use std::num::NonZeroUsize;
use std::path::Path;
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

/// The data of a run: training batches, the batches that select the best checkpoint and, in a
/// run that watches it, the test split's.
struct RunData {
    train: BatchLoader,
    selection: BatchLoader,
    watched_test: Option<BatchLoader>,
}

fn run_data(
    config: &TrainConfig,
    dataset: &Dataset,
    detector: &dyn Detector,
) -> Result<RunData, TrainError> {
    let size_multiple = detector.size_multiple();
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
    let nonempty_test = || match split("test")? {
        test if test.is_empty() => Err(TrainError::EmptyTestSplit {
            dataset: dataset.root.clone(),
        }),
        test => Ok(test),
    };
    let watched_test = match (config.watch_test, config.selection) {
        (false, _) => None,
        (true, Selection::Test) => return Err(TrainError::WatchedTestSelects),
        (true, Selection::Validation { .. }) => Some(nonempty_test()?),
    };
    let (train, selection) = match config.selection {
        Selection::Validation { fraction } if !(fraction > 0.0 && fraction < 1.0) => {
            return Err(TrainError::ValidationFraction(fraction))
        }
        Selection::Validation { fraction } => {
            let (train, selection) = split_off_validation(&train, fraction, config.seed)?;
            if selection.is_empty() {
                return Err(TrainError::EmptyValidation {
                    dataset: dataset.root.clone(),
                    fraction,
                    train: train.len(),
                });
            }
            (train, selection)
        }
        Selection::Test => (train, nonempty_test()?),
    };
    if train.len() < config.batch_size {
        return Err(TrainError::TooFewImages {
            dataset: dataset.root.clone(),
            train: train.len(),
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
    train_config.channels = detector.input();
    let mut selection_config = LoaderConfig::evaluation(config.batch_size);
    selection_config.transform = Transform::Resize {
        size: config.image_size,
    };
    selection_config.channels = detector.input();
    let evaluation_loader =
        |members| BatchLoader::new(dataset.samples.clone(), members, selection_config.clone());
    Ok(RunData {
        train: BatchLoader::new(dataset.samples.clone(), train, train_config)?,
        selection: evaluation_loader(selection)?,
        watched_test: watched_test.map(evaluation_loader).transpose()?,
    })
}

/// The input of a run: what its config recorded; for a new run starting from a checkpoint,
/// the checkpoint's; otherwise 3 channels as the authors' RRCA-Net code, or 1 grey channel
/// normalised with the statistics of the training split's images as their BasicIRSTD
/// pipeline ([`InputChannels::gray_for`]).
fn resolve_input(config: &TrainConfig, dataset: &Dataset) -> Result<InputChannels, TrainError> {
    let recorded = match (&config.init_from, config.input) {
        (Some(path), None) => Some(initial_weights_input(config, path)?),
        _ => config.input,
    };
    match (recorded, config.input_channels) {
        (Some(input), channels) if input.count() == channels => Ok(input),
        (None, 3) => Ok(InputChannels::ImageNetRgb),
        (None, 1) => {
            let train = dataset.split("train").unwrap_or_default();
            Ok(InputChannels::gray_for(
                train.iter().map(|&index| &dataset.samples[index].image),
            ))
        }
        (_, channels) => Err(TrainError::InputChannels { channels, recorded }),
    }
}

/// The input of the checkpoint `path` a run starts from, which must hold the run's model.
fn initial_weights_input(config: &TrainConfig, path: &Path) -> Result<InputChannels, TrainError> {
    let failed = |problem: String| TrainError::InitialWeights {
        path: path.to_path_buf(),
        problem,
    };
    let checkpoint = model::checkpoint_file(path).map_err(|error| failed(error.to_string()))?;
    let record = model::read_record(&checkpoint).map_err(|error| failed(error.to_string()))?;
    if record.model != config.model.to_string() {
        return Err(failed(format!(
            "it holds {record}, the run trains {}",
            config.model
        )));
    }
    Ok(record.input)
}

/// Opens the dataset a run trains on; warnings (e.g. resized masks) are returned for the
/// caller to show.
pub fn open_dataset(
    config: &TrainConfig,
    progress: &dyn Progress,
) -> Result<(Dataset, Vec<DatasetWarning>), TrainError> {
    let options = DatasetOptions {
        split: config.split.clone(),
        strict: false,
    };
    let dataset = Dataset::open_with_progress(&config.dataset, &options, progress)?;
    let warnings = dataset.warnings.clone();
    Ok((dataset, warnings))
}

/// The title of a run's `curves.png`.
fn curves_title(config: &TrainConfig) -> String {
    let dataset = crate::data::folder_name(&config.dataset);
    format!("{} on {dataset}: {}", config.model, config.recipe())
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
        metrics.update(&p.logits, &p.target, p.height, p.width)?;
        Ok(())
    })?;
    Ok(metrics.summary())
}

/// A run checked and ready to train: the detector built on its device, the data split and
/// checked. Nothing has been written yet.
pub struct Prepared {
    config: TrainConfig,
    detector: Box<dyn Detector>,
    data: RunData,
    loss: Loss,
    schedule: LearningRateSchedule,
}

/// Checks everything a run of `config` on `dataset` needs and builds its detector, before any
/// file is written: the options, the splits, the device. A `config` that records a dataset
/// fingerprint (a resumed run) must match `dataset`'s; one without gets it.
pub fn prepare(config: &TrainConfig, dataset: &Dataset) -> Result<Prepared, TrainError> {
    if config.epochs == 0 {
        return Err(TrainError::NoEpochs);
    }
    if !(config.lr.is_finite() && config.lr > 0.0) {
        return Err(TrainError::LearningRate(config.lr));
    }
    let found = DatasetFingerprint::of(dataset);
    let mut config = config.clone();
    match &config.dataset_fingerprint {
        Some(recorded) if *recorded != found => {
            return Err(TrainError::DatasetChanged {
                dataset: dataset.root.clone(),
                recorded: recorded.clone(),
                found,
            })
        }
        _ => config.dataset_fingerprint = Some(found),
    }
    let input = resolve_input(&config, dataset)?;
    config.input = Some(input);
    let mut detector = model::build_for_input(config.model, input, config.device, config.seed)?;
    let data = run_data(&config, dataset, detector.as_ref())?;
    detector.start_training(config.optimizer, config.lr)?;
    let schedule = match config.scheduler {
        SchedulerKind::Constant => LearningRateSchedule::Constant { lr: config.lr },
        SchedulerKind::Cosine => LearningRateSchedule::cosine(
            config.lr,
            NonZeroUsize::new(config.epochs).unwrap_or(NonZeroUsize::MIN),
        ),
    };
    Ok(Prepared {
        loss: Loss::new(config.loss),
        config,
        detector,
        data,
        schedule,
    })
}

impl Prepared {
    /// The run's definition, with the dataset's fingerprint: what `config.json` records.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The input the run's detector takes (resolved: its config records it too).
    pub fn input(&self) -> InputChannels {
        self.detector.input()
    }

    /// Trains in run directory `run` (whose `config.json` is [`Prepared::config`]): from
    /// scratch, or from where the run's previous session stopped. A run this process created
    /// that fails before anything but its config was written is removed again.
    pub fn train(
        self,
        run: &mut RunDirectory,
        stop: &AtomicBool,
        observer: &mut dyn TrainObserver,
    ) -> Result<TrainOutcome, TrainError> {
        let result = self.train_in(run, stop, observer);
        if result.is_err() {
            run.discard_if_unused();
        }
        result
    }

    fn train_in(
        self,
        run: &RunDirectory,
        stop: &AtomicBool,
        observer: &mut dyn TrainObserver,
    ) -> Result<TrainOutcome, TrainError> {
        let Prepared {
            config,
            mut detector,
            data,
            loss,
            schedule,
        } = self;
        let mut records = run.history()?;
        let state = run.state()?;
        let (weights, optimizer) = match state.interrupted {
            Some(_) => (
                run.interrupted_checkpoint(),
                run.interrupted_optimizer_state(),
            ),
            None => (run.last_checkpoint(), run.optimizer_state()),
        };
        if state.epochs_completed > 0 || state.interrupted.is_some() {
            detector.load_weights(&weights)?;
        } else if let Some(initial) = &config.init_from {
            detector.load_weights(&model::checkpoint_file(initial)?)?;
        } else if let Some(prior) = config.output_prior {
            detector.set_output_prior(prior);
        }
        if optimizer.exists() {
            detector.load_optimizer(&optimizer)?;
        }
        let mut best = records
            .iter()
            .find(|r| Some(r.epoch) == state.best_epoch)
            .cloned();
        let mut position = state.interrupted.clone().unwrap_or(EpochPosition {
            batch_losses: Vec::new(),
        });

        for epoch in state.epochs_completed + 1..=config.epochs {
            let started = Instant::now();
            let scheduled = schedule.lr_at(epoch - 1);
            let batches_per_epoch = data.train.batches_per_epoch();
            // The rate of the epoch's last batch is the one recorded.
            let mut lr = scheduled;
            observer.epoch_started(epoch, config.epochs, batches_per_epoch);
            // A resumed epoch skips the batches done before the stop (the order and the
            // augmentation are functions of seed and epoch).
            let done = position.batch_losses.len();
            for (index, batch) in data.train.epoch(epoch as u64).enumerate().skip(done) {
                lr = scheduled
                    * warmup_share(config.warmup_epochs, epoch - 1, index, batches_per_epoch);
                detector.set_learning_rate(lr)?;
                let images = images_of(detector.as_ref(), &batch)?;
                let value = match detector.train_step(images, &batch.masks, &loss) {
                    Err(DetectorError::NonFinite(what)) => {
                        let kept = [weights.clone(), run.last_checkpoint()]
                            .into_iter()
                            .find(|path| path.exists());
                        return Err(TrainError::NonFinite {
                            what,
                            epoch,
                            batch: position.batch_losses.len() + 1,
                            kept,
                        });
                    }
                    step => step?,
                };
                position.batch_losses.push(value);
                observer.batch_finished(value, batch.len());
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
            if stop.load(Ordering::SeqCst) {
                detector.save_weights(&run.interrupted_checkpoint())?;
                detector.save_optimizer(&run.interrupted_optimizer_state())?;
                run.write_state(&RunState {
                    epochs_completed: epoch - 1,
                    best_epoch: best.as_ref().map(|b| b.epoch),
                    interrupted: Some(position),
                })?;
                return Ok(TrainOutcome {
                    epochs_completed: epoch - 1,
                    interrupted: true,
                    best,
                });
            }

            let selection = selection_metrics(detector.as_ref(), &data.selection)?;
            let test = match &data.watched_test {
                Some(loader) => Some(SplitMetrics::from(&selection_metrics(
                    detector.as_ref(),
                    loader,
                )?)),
                None => None,
            };
            let batches = position.batch_losses.len();
            let loss_sum: f64 = position.batch_losses.iter().map(|&v| f64::from(v)).sum();
            let record = EpochRecord {
                epoch,
                train_loss: loss_sum / batches.max(1) as f64,
                selection: SplitMetrics::from(&selection),
                lr,
                seconds: started.elapsed().as_secs_f64(),
                test,
            };
            let improved = best
                .as_ref()
                .is_none_or(|b| record.selection.iou > b.selection.iou);
            detector.save_weights(&run.last_checkpoint())?;
            detector.save_optimizer(&run.optimizer_state())?;
            if improved {
                detector.save_weights(&run.best_checkpoint())?;
                best = Some(record.clone());
            }
            records.push(record.clone());
            history::write(&run.metrics_csv(), &records)?;
            write_curves(
                &run.curves_png(),
                &curves_title(&config),
                &records,
                config.selection.short_label(),
                best.as_ref().map(|b| b.epoch),
            )?;
            run.write_state(&RunState {
                epochs_completed: epoch,
                best_epoch: best.as_ref().map(|b| b.epoch),
                interrupted: None,
            })?;
            run.remove_interrupted()?;
            position.batch_losses.clear();
            observer.epoch_finished(&record, improved);
        }
        Ok(TrainOutcome {
            epochs_completed: config.epochs.max(state.epochs_completed),
            interrupted: false,
            best,
        })
    }
}
