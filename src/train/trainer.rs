//! The training loop: epochs of shuffled, augmented batches; a loss step per batch; after
//! each epoch, the selection metrics, `metrics.csv`, `last.safetensors` and (when the
//! selection IoU improved) `best.safetensors`, all written atomically. A stop request ends
//! the run after the current batch with a saved checkpoint; a non-finite loss ends it with an
//! error and leaves the last good checkpoint in place.

use super::config::{OptimizerKind, SchedulerKind, Selection, TrainConfig};
use super::history::{self, EpochRecord, HistoryError};
use super::optim::{Adagrad, AdagradConfig};
use super::run_directory::{RunDirectory, RunState};
use super::schedule::LearningRateSchedule;
use crate::data::{split_off_validation, BatchLoader, Dataset, LoaderConfig};
use crate::inference::{self, batch_input, PredictError};
use crate::loss::{Loss, LossError, SegmentationLoss};
use crate::metrics::{MetricsAccumulator, MetricsConfig, ScoreKind, Summary};
use crate::model::{
    load_checkpoint, save_checkpoint, CheckpointError, ModelName, ModelRecord, Segmenter,
};
use crate::nn::Backend;
use crate::ops::OpError;
use dfdx::nn::{BuildModule, ZeroGrads};
use dfdx::optim::{Adam, AdamConfig, Momentum, Optimizer, Sgd, SgdConfig};
use dfdx::prelude::{Backward, Gradients, Tensor, TensorCollection, Trace};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Why training stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("the loss became {value} at epoch {epoch}, batch {batch}; the run stopped and {checkpoint} keeps the last good weights")]
    NonFiniteLoss {
        value: f32,
        epoch: usize,
        batch: usize,
        checkpoint: String,
    },
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Op(#[from] OpError),
    #[error(transparent)]
    Loss(#[from] LossError),
    #[error(transparent)]
    Predict(#[from] PredictError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("optimizer update failed: {0}")]
    Optimizer(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

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

/// One of the supported optimisers over model `M`.
enum RunOptimizer<M, D: Backend<f32>> {
    Adagrad(Adagrad<M, f32, D>),
    Adam(Adam<M, f32, D>),
    Sgd(Sgd<M, f32, D>),
}

impl<M: TensorCollection<f32, D>, D: Backend<f32>> RunOptimizer<M, D> {
    fn new(kind: OptimizerKind, model: &M, lr: f64) -> Result<Self, TrainError> {
        Ok(match kind {
            OptimizerKind::Adagrad => RunOptimizer::Adagrad(
                Adagrad::new(
                    model,
                    AdagradConfig {
                        lr,
                        ..Default::default()
                    },
                )
                .map_err(|e| TrainError::Setup(e.to_string()))?,
            ),
            OptimizerKind::Adam => RunOptimizer::Adam(Adam::new(
                model,
                AdamConfig {
                    lr,
                    ..Default::default()
                },
            )),
            OptimizerKind::Sgd => RunOptimizer::Sgd(Sgd::new(
                model,
                SgdConfig {
                    lr,
                    momentum: Some(Momentum::Classic(0.9)),
                    weight_decay: None,
                },
            )),
        })
    }

    fn set_lr(&mut self, lr: f64) {
        match self {
            RunOptimizer::Adagrad(o) => o.cfg.lr = lr,
            RunOptimizer::Adam(o) => o.cfg.lr = lr,
            RunOptimizer::Sgd(o) => o.cfg.lr = lr,
        }
    }

    fn update(&mut self, model: &mut M, gradients: &Gradients<f32, D>) -> Result<(), TrainError> {
        let result = match self {
            RunOptimizer::Adagrad(o) => o.update(model, gradients),
            RunOptimizer::Adam(o) => o.update(model, gradients),
            RunOptimizer::Sgd(o) => o.update(model, gradients),
        };
        result.map_err(|e| TrainError::Optimizer(format!("{e:?}")))
    }
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
    let split = |name: &str| {
        dataset.split(name).map(<[usize]>::to_vec).ok_or_else(|| {
            TrainError::Setup(format!(
                "{}: the split scheme `{}` has no `{name}` split",
                dataset.root.display(),
                dataset.scheme.name
            ))
        })
    };
    let train = split("train")?;
    let (train, selection) = match config.selection {
        Selection::Validation { fraction } => split_off_validation(&train, fraction, config.seed),
        Selection::Test => (train, split("test")?),
    };
    if train.len() < config.batch_size || selection.is_empty() {
        return Err(TrainError::Setup(format!(
            "{}: {} training and {} selection images are too few for batch size {}",
            dataset.root.display(),
            train.len(),
            selection.len(),
            config.batch_size
        )));
    }
    if !config.image_size.is_multiple_of(size_multiple) {
        return Err(TrainError::Setup(format!(
            "image size {} is not a multiple of {size_multiple}, which model {} needs",
            config.image_size, config.model
        )));
    }
    let mut train_config = LoaderConfig::training(config.batch_size, config.seed);
    train_config.transform = crate::data::Transform::Augment {
        base_size: config.image_size,
    };
    let mut selection_config = LoaderConfig::evaluation(config.batch_size);
    selection_config.transform = crate::data::Transform::Resize {
        size: config.image_size,
    };
    Ok(RunData {
        train: BatchLoader::new(dataset.samples.clone(), train, train_config),
        selection: BatchLoader::new(dataset.samples.clone(), selection, selection_config),
    })
}

/// Evaluates `model` on `loader` with the reference's binarisation (logit > 0).
pub fn evaluate<const IN: usize, M: Segmenter<IN, f32, D>, D: Backend<f32>>(
    model: &mut M,
    device: &D,
    loader: &BatchLoader,
) -> Result<Summary, TrainError> {
    let config = MetricsConfig {
        scores: ScoreKind::Logit,
        ..Default::default()
    };
    let mut metrics = MetricsAccumulator::new(config).map_err(PredictError::from)?;
    inference::predict::<IN, M, D>(model, device, loader, |p| {
        Ok(metrics.update(&p.logits, &p.target, p.width, p.height)?)
    })?;
    Ok(metrics.summary())
}

/// Trains model `M` on `device` as `config` says, in run directory `run`: from scratch, or
/// from the run's last checkpoint when `run` holds a previous session's state.
pub fn train<const IN: usize, M, D>(
    device: D,
    config: &TrainConfig,
    dataset: &Dataset,
    run: &RunDirectory,
    stop: &AtomicBool,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome, TrainError>
where
    M: Segmenter<IN, f32, D> + TensorCollection<f32, D> + BuildModule<D, f32>,
    D: Backend<f32>,
{
    let name: ModelName = config
        .model
        .parse()
        .map_err(|e: crate::names::UnknownName| TrainError::Setup(e.to_string()))?;
    let record = ModelRecord::new::<f32>(name, IN);
    let data = run_data(config, dataset, M::SIZE_MULTIPLE)?;
    let loss = Loss::new(
        config
            .loss
            .parse()
            .map_err(|e: crate::names::UnknownName| TrainError::Setup(e.to_string()))?,
    );
    let schedule = match config.scheduler {
        SchedulerKind::Constant => LearningRateSchedule::Constant { lr: config.lr },
        SchedulerKind::Cosine => LearningRateSchedule::cosine(
            config.lr,
            NonZeroUsize::new(config.epochs).unwrap_or(NonZeroUsize::MIN),
        ),
    };

    let mut model = M::build(&device);
    let mut records = run.history()?;
    let state = run.state()?;
    if state.epochs_completed > 0 {
        load_checkpoint(&mut model, &record, &run.last_checkpoint())?;
    } else if let Some(prior) = config.output_prior {
        model.set_output_prior(prior);
    }
    let mut optimizer = RunOptimizer::new(config.optimizer, &model, config.lr)?;
    if let RunOptimizer::Adagrad(adagrad) = &mut optimizer {
        run.load_optimizer_state(adagrad, &device)?;
    }
    let mut gradients = model.alloc_grads();
    let mut best = records
        .iter()
        .find(|r| Some(r.epoch) == state.best_epoch)
        .cloned();

    for epoch in state.epochs_completed + 1..=config.epochs {
        let started = Instant::now();
        let lr = schedule.lr_at(epoch - 1);
        optimizer.set_lr(lr);
        observer.epoch_started(epoch, config.epochs, data.train.batches_per_epoch());
        let (mut loss_sum, mut batches) = (0.0f64, 0usize);
        for batch in data.train.epoch(epoch as u64) {
            let images = batch_input::<IN, D>(&device, &batch)?;
            let masks: Tensor<_, f32, D> = device
                .try_tensor_from_vec(
                    batch.masks.clone(),
                    (
                        batch.len(),
                        dfdx::prelude::Const::<1>,
                        batch.height,
                        batch.width,
                    ),
                )
                .map_err(OpError::device)?;
            let outputs = model.forward_train(images.traced(gradients))?;
            let passes = outputs.len() as f32;
            let mut total = None;
            for logits in outputs {
                let term = loss.try_loss(logits, &masks)?;
                total = Some(match total {
                    None => term,
                    Some(sum) => sum + term,
                });
            }
            let total = total.expect("a model returns at least one logit map") / passes;
            let value = total.as_vec()[0];
            if !value.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    value,
                    epoch,
                    batch: batches + 1,
                    checkpoint: run.last_checkpoint().display().to_string(),
                });
            }
            gradients = total.backward();
            optimizer.update(&mut model, &gradients)?;
            model.zero_grads(&mut gradients);
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
            save_checkpoint(&model, &record, &run.last_checkpoint())?;
            if let RunOptimizer::Adagrad(adagrad) = &optimizer {
                run.save_optimizer_state(adagrad)?;
            }
            return Ok(TrainOutcome {
                epochs_completed: epoch - 1,
                interrupted: true,
                best,
            });
        }

        let summary = evaluate::<IN, M, D>(&mut model, &device, &data.selection)?;
        let record_row = EpochRecord {
            epoch,
            train_loss: loss_sum / batches.max(1) as f64,
            val_iou: summary.iou,
            val_niou: summary.niou,
            val_pd: summary.pd,
            val_fa: summary.fa,
            lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        let improved = best.as_ref().is_none_or(|b| record_row.val_iou > b.val_iou);
        save_checkpoint(&model, &record, &run.last_checkpoint())?;
        if let RunOptimizer::Adagrad(adagrad) = &optimizer {
            run.save_optimizer_state(adagrad)?;
        }
        if improved {
            save_checkpoint(&model, &record, &run.best_checkpoint())?;
            best = Some(record_row.clone());
        }
        records.push(record_row.clone());
        history::write(&run.metrics_csv(), &records)?;
        run.write_state(&RunState {
            epochs_completed: epoch,
            best_epoch: best.as_ref().map(|b| b.epoch),
        })?;
        observer.epoch_finished(&record_row, improved);
    }
    Ok(TrainOutcome {
        epochs_completed: config.epochs.max(state.epochs_completed),
        interrupted: false,
        best,
    })
}
