//! The workflow's view of a model: one object-safe [`Detector`] over every named
//! configuration (a type each, see [`super::configs`]) on every device. [`build`] and [`load`]
//! are the one place where a name becomes a type; training, evaluation and inference work on
//! `dyn Detector` and are compiled once.

use super::checkpoint::{
    load_checkpoint, named_tensors, read_record, save_checkpoint, NamedTensor,
};
use super::{CheckpointError, ModelName, ModelRecord, Segmenter};
use crate::data::InputChannels;
use crate::loss::{Loss, LossError, SegmentationLoss};
use crate::nn::tensors::{for_each_tensor, trainable_parameters};
use crate::nn::Backend;
pub use crate::ops::DeviceKind;
use crate::ops::{host_values, Image, OpError};
use crate::optim::{OptimError, Optimizer, OptimizerKind};
use dfdx::nn::ZeroGrads;
use dfdx::prelude::{Backward, Const, Cpu, Gradients, Tensor, TensorCollection, Trace};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A batch of input images: `count` x channels ([`Detector::input`]) x `height` x `width`
/// values, row-major.
#[derive(Clone, Copy, Debug)]
pub struct Images<'a> {
    pub values: &'a [f32],
    pub count: usize,
    pub height: usize,
    pub width: usize,
}

/// The cost of a configuration for one `height` x `width` image.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ModelCost {
    /// The configuration's name.
    pub model: ModelName,
    /// Learnable parameters (BatchNorm running statistics excluded).
    pub params: usize,
    /// The paper's "FLOPs" (torchstat: every module counted once, see [`crate::model::cost`]).
    pub paper_flops: u64,
    /// Multiply-accumulates of the weights actually executed (every pass, biases excluded).
    pub macs: u64,
}

/// Why a detector could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error(
        "this build has no CUDA support; rebuild with `cargo build --release --features cuda`"
    )]
    NoCudaSupport,
    #[error("no usable CUDA device: {0}")]
    NoCudaDevice(String),
    #[error("{path}: holds {record}; this tool runs f32 models of its configurations with 1 or 3 input channels")]
    UnsupportedRecord { path: PathBuf, record: ModelRecord },
    #[error("{0}: no such checkpoint file or run directory")]
    NoCheckpoint(PathBuf),
    #[error("{0}: no best.safetensors or last.safetensors in this run directory")]
    EmptyRunDirectory(PathBuf),
    #[error("{values} input values are not {count} images of {channels} x {height} x {width}")]
    InputSize {
        values: usize,
        channels: usize,
        count: usize,
        height: usize,
        width: usize,
    },
    #[error(
        "{masks} mask values are not one {height} x {width} mask per image of a batch of {count}"
    )]
    MaskSize {
        masks: usize,
        count: usize,
        height: usize,
        width: usize,
    },
    #[error("{0}")]
    NonFinite(NonFinite),
    #[error("a training step before training was started (`start_training`)")]
    NotTraining,
    #[error(transparent)]
    Op(#[from] OpError),
    #[error(transparent)]
    Loss(#[from] LossError),
    #[error(transparent)]
    Optimizer(#[from] OptimError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// What became NaN or infinite in a training step.
#[derive(Clone, Debug, PartialEq)]
pub enum NonFinite {
    /// The loss (the weights were not updated).
    Loss(f32),
    /// The gradient of this tensor (the weights were not updated).
    Gradient(String),
    /// This tensor after the update (the detector's weights are unusable).
    Weight(String),
}

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NonFinite::Loss(value) => write!(f, "the loss became {value}"),
            NonFinite::Gradient(tensor) => {
                write!(f, "the gradient of `{tensor}` became NaN or infinite")
            }
            NonFinite::Weight(tensor) => {
                write!(f, "the weight `{tensor}` became NaN or infinite")
            }
        }
    }
}

/// A detector: a named configuration with its weights on a device, in eval mode for
/// [`Detector::predict`] and in train mode for [`Detector::train_step`].
///
/// No `Send`/`Sync` bound: dfdx's CUDA device holds raw CUDA stream pointers and is neither.
pub trait Detector {
    /// The configuration.
    fn name(&self) -> ModelName;
    /// Where it runs.
    fn device(&self) -> DeviceKind;
    /// How images become its input: channels and normalisation.
    fn input(&self) -> InputChannels;
    /// Input heights and widths must be multiples of this (2^(depth - 1)).
    fn size_multiple(&self) -> usize;
    /// Parameters, paper FLOPs and executed MACs for one `height` x `width` image.
    fn cost(&self, height: usize, width: usize) -> ModelCost;
    /// Eval mode: the logits of the prediction, `count` x 1 x `height` x `width`, row-major.
    /// Nothing is modified.
    fn predict(&self, images: Images<'_>) -> Result<Vec<f32>, DetectorError>;
    /// Sets the final conv's bias to logit(`prior`), so that every pixel starts at target
    /// probability `prior` (0.01 gives -4.6).
    fn set_output_prior(&mut self, prior: f64);
    /// Prepares training with a fresh `optimizer` at learning rate `lr`.
    fn start_training(&mut self, optimizer: OptimizerKind, lr: f64) -> Result<(), DetectorError>;
    /// Changes the learning rate of the optimizer (a schedule's step).
    fn set_learning_rate(&mut self, lr: f64) -> Result<(), DetectorError>;
    /// One training step: train-mode forward, `loss` of every returned logit map against
    /// `masks` (one per image) averaged over the maps, backward, optimizer update. Returns the
    /// loss. A non-finite loss or gradient is [`DetectorError::NonFinite`] and leaves the
    /// weights as they were; a weight made non-finite by the update is the same error, after
    /// which the detector must not be saved.
    fn train_step(
        &mut self,
        images: Images<'_>,
        masks: &[f32],
        loss: &Loss,
    ) -> Result<f32, DetectorError>;
    /// Where the wall time of the last successful [`Detector::train_step`] went.
    fn last_step_times(&self) -> Option<StepTimes>;
    /// Writes the weights (parameters and running statistics) to a checkpoint, atomically.
    fn save_weights(&self, path: &Path) -> Result<(), DetectorError>;
    /// Reads the weights from a checkpoint of the same configuration.
    fn load_weights(&mut self, path: &Path) -> Result<(), DetectorError>;
    /// Writes the optimizer's state (see [`Detector::start_training`]), atomically.
    fn save_optimizer(&self, path: &Path) -> Result<(), DetectorError>;
    /// Continues from a saved optimizer state of the same kind and configuration.
    fn load_optimizer(&mut self, path: &Path) -> Result<(), DetectorError>;
    /// Every tensor (BatchNorm running statistics too), named, in the model's order.
    fn tensors(&self) -> Vec<NamedTensor>;
}

/// A new detector of configuration `name` taking the authors' RGB input, on `device`,
/// initialised as the reference from a generator seeded with `seed`.
pub fn build(
    name: ModelName,
    device: DeviceKind,
    seed: u64,
) -> Result<Box<dyn Detector>, DetectorError> {
    build_for_input(name, InputChannels::ImageNetRgb, device, seed)
}

/// [`build`] for images made into `input` (one grey channel or three).
pub fn build_for_input(
    name: ModelName,
    input: InputChannels,
    device: DeviceKind,
    seed: u64,
) -> Result<Box<dyn Detector>, DetectorError> {
    match device {
        DeviceKind::Cpu => Ok(on_device(name, input, device, Cpu::seed_from_u64(seed))),
        DeviceKind::Cuda => cuda(name, input, seed),
    }
}

/// The device a run takes when none is named, and why: CUDA when this build has it and a GPU
/// answers, else the CPU.
pub fn default_device() -> (DeviceKind, &'static str) {
    if !cfg!(feature = "cuda") {
        (DeviceKind::Cpu, "this build has no CUDA support")
    } else if cuda_present() {
        (DeviceKind::Cuda, "a CUDA GPU answered")
    } else {
        (DeviceKind::Cpu, "no CUDA GPU answered")
    }
}

#[cfg(feature = "cuda")]
fn cuda_present() -> bool {
    dfdx::prelude::Cuda::try_seed_from_u64(0).is_ok()
}

#[cfg(not(feature = "cuda"))]
fn cuda_present() -> bool {
    false
}

#[cfg(feature = "cuda")]
fn cuda(
    name: ModelName,
    input: InputChannels,
    seed: u64,
) -> Result<Box<dyn Detector>, DetectorError> {
    let device = dfdx::prelude::Cuda::try_seed_from_u64(seed)
        .map_err(|error| DetectorError::NoCudaDevice(format!("{error:?}")))?;
    Ok(on_device(name, input, DeviceKind::Cuda, device))
}

#[cfg(not(feature = "cuda"))]
fn cuda(
    _name: ModelName,
    _input: InputChannels,
    _seed: u64,
) -> Result<Box<dyn Detector>, DetectorError> {
    Err(DetectorError::NoCudaSupport)
}

/// The name -> type table: the configuration `name` for `input` as a detector on `device`.
/// Only the stem's type depends on the channel count.
fn on_device<D: Backend<f32>>(
    name: ModelName,
    input: InputChannels,
    kind: DeviceKind,
    device: D,
) -> Box<dyn Detector> {
    match input {
        InputChannels::Gray { .. } => with_model!(name, M => Box::new(
            Typed::<M<1, f32, D>, D, 1>::new(name, input, kind, device)
        )),
        InputChannels::ImageNetRgb => with_model!(name, M => Box::new(
            Typed::<M<3, f32, D>, D, 3>::new(name, input, kind, device)
        )),
    }
}

/// A trained detector read from disk, and the checkpoint file it came from.
pub struct Loaded {
    pub detector: Box<dyn Detector>,
    pub checkpoint: PathBuf,
}

/// Loads the detector in `path` onto `device`: a run directory's `best.safetensors` (or
/// `last.safetensors` when no epoch was selected yet), or a checkpoint file. The
/// configuration and its input are the ones the checkpoint records.
pub fn load(path: &Path, device: DeviceKind) -> Result<Loaded, DetectorError> {
    let checkpoint = checkpoint_file(path)?;
    let record = read_record(&checkpoint)?;
    let name: Option<ModelName> = record.model.parse().ok();
    let name = match name {
        Some(name) if record == ModelRecord::new::<f32>(name, record.input) => name,
        _ => {
            return Err(DetectorError::UnsupportedRecord {
                path: checkpoint,
                record,
            })
        }
    };
    let mut detector = build_for_input(name, record.input, device, 0)?;
    detector.load_weights(&checkpoint)?;
    Ok(Loaded {
        detector,
        checkpoint,
    })
}

/// The checkpoint file of `path`: a run directory's `best.safetensors` (or `last` when there
/// is no best yet), or the file itself.
pub fn checkpoint_file(path: &Path) -> Result<PathBuf, DetectorError> {
    if path.is_dir() {
        ["best.safetensors", "last.safetensors"]
            .iter()
            .map(|name| path.join(name))
            .find(|file| file.exists())
            .ok_or_else(|| DetectorError::EmptyRunDirectory(path.to_path_buf()))
    } else if path.exists() {
        Ok(path.to_path_buf())
    } else {
        Err(DetectorError::NoCheckpoint(path.to_path_buf()))
    }
}

/// Why [`non_finite_tensor`] stopped walking.
enum Walk {
    Found(String),
    Failed(OpError),
}

/// The name of the first tensor of `model` holding a NaN or an infinity; with `gradients`, the
/// first trainable tensor whose gradient does. One host copy of each tensor: small beside a
/// training step.
fn non_finite_tensor<M, D>(
    model: &M,
    gradients: Option<&Gradients<f32, D>>,
) -> Result<Option<String>, OpError>
where
    M: TensorCollection<f32, D>,
    D: Backend<f32>,
{
    let walked = for_each_tensor(model, |info, tensor| {
        let values = match gradients {
            None => tensor.values(),
            Some(gradients) if info.trainable => host_values(
                &tensor
                    .gradient(gradients)
                    .map_err(|error| Walk::Failed(OpError::device(error)))?,
            ),
            Some(_) => return Ok(()),
        };
        if values.iter().all(|value| value.is_finite()) {
            Ok(())
        } else {
            Err(Walk::Found(info.name.to_string()))
        }
    });
    match walked {
        Ok(()) => Ok(None),
        Err(Walk::Found(name)) => Ok(Some(name)),
        Err(Walk::Failed(error)) => Err(error),
    }
}

/// [`Detector`] for the configuration type `M` taking `IN` channels on device `D`: the one
/// generic implementation.
struct Typed<M, D: Backend<f32>, const IN: usize> {
    name: ModelName,
    input: InputChannels,
    kind: DeviceKind,
    device: D,
    model: M,
    training: Option<Training<M, D>>,
}

/// The optimizer of a training run, the gradient buffers it reuses between steps and the
/// last step's times.
struct Training<M, D: Backend<f32>> {
    optimizer: Optimizer<M, f32, D>,
    gradients: Option<Gradients<f32, D>>,
    last_step: Option<StepTimes>,
}

/// The phases of one training step and their wall times.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepTimes {
    /// Making the input tensors (copies from the caller's slices).
    pub input: Duration,
    /// The train-mode forward pass.
    pub forward: Duration,
    /// The loss of every logit map, forward.
    pub loss: Duration,
    /// The backward pass, through the loss and the model.
    pub backward: Duration,
    /// The non-finite checks of the gradients and of the updated weights.
    pub checks: Duration,
    /// The optimizer's update and zeroing the gradients.
    pub update: Duration,
}

impl StepTimes {
    /// The whole step.
    pub fn total(&self) -> Duration {
        self.input + self.forward + self.loss + self.backward + self.checks + self.update
    }
}

impl<M, D, const IN: usize> Typed<M, D, IN>
where
    M: Segmenter<IN, f32, D> + TensorCollection<f32, D>,
    D: Backend<f32>,
{
    fn new(name: ModelName, input: InputChannels, kind: DeviceKind, device: D) -> Self {
        Typed {
            name,
            input,
            kind,
            model: M::build(&device),
            device,
            training: None,
        }
    }

    fn record(&self) -> ModelRecord {
        ModelRecord::new::<f32>(self.name, self.input)
    }

    /// `images` as a tensor on the device.
    fn tensor(&self, images: Images<'_>) -> Result<Image<IN, f32, D>, DetectorError> {
        let Images {
            values,
            count,
            height,
            width,
        } = images;
        if values.len() != count * IN * height * width {
            return Err(DetectorError::InputSize {
                values: values.len(),
                channels: IN,
                count,
                height,
                width,
            });
        }
        self.device
            .try_tensor_from_vec(values.to_vec(), (count, Const, height, width))
            .map_err(|error| OpError::device(error).into())
    }

    fn training(&mut self) -> Result<&mut Training<M, D>, DetectorError> {
        self.training.as_mut().ok_or(DetectorError::NotTraining)
    }
}

impl<M, D, const IN: usize> Detector for Typed<M, D, IN>
where
    M: Segmenter<IN, f32, D> + TensorCollection<f32, D>,
    D: Backend<f32>,
{
    fn name(&self) -> ModelName {
        self.name
    }

    fn device(&self) -> DeviceKind {
        self.kind
    }

    fn input(&self) -> InputChannels {
        self.input
    }

    fn size_multiple(&self) -> usize {
        M::SIZE_MULTIPLE
    }

    fn cost(&self, height: usize, width: usize) -> ModelCost {
        let tally = self.model.complexity(height, width);
        ModelCost {
            model: self.name,
            params: trainable_parameters(&self.model),
            paper_flops: tally.paper_flops,
            macs: tally.macs,
        }
    }

    fn predict(&self, images: Images<'_>) -> Result<Vec<f32>, DetectorError> {
        let input = self.tensor(images)?;
        let prediction = self
            .model
            .forward_eval(input)?
            .pop()
            .expect("a model returns at least one logit map");
        Ok(prediction.as_vec())
    }

    fn set_output_prior(&mut self, prior: f64) {
        self.model.set_output_prior(prior);
    }

    fn start_training(&mut self, optimizer: OptimizerKind, lr: f64) -> Result<(), DetectorError> {
        self.training = Some(Training {
            optimizer: Optimizer::new(optimizer, &self.model, lr)?,
            gradients: None,
            last_step: None,
        });
        Ok(())
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<(), DetectorError> {
        self.training()?.optimizer.set_learning_rate(lr);
        Ok(())
    }

    fn train_step(
        &mut self,
        images: Images<'_>,
        masks: &[f32],
        loss: &Loss,
    ) -> Result<f32, DetectorError> {
        let Images {
            count,
            height,
            width,
            ..
        } = images;
        if masks.len() != count * height * width {
            return Err(DetectorError::MaskSize {
                masks: masks.len(),
                count,
                height,
                width,
            });
        }
        let mut times = StepTimes::default();
        let mut clock = Instant::now();
        let mut lap = |phase: &mut Duration| {
            let now = Instant::now();
            *phase = now - clock;
            clock = now;
        };
        let input = self.tensor(images)?;
        let masks: Tensor<_, f32, D> = self
            .device
            .try_tensor_from_vec(masks.to_vec(), (count, Const::<1>, height, width))
            .map_err(OpError::device)?;
        lap(&mut times.input);
        let Typed {
            model, training, ..
        } = self;
        let training = training.as_mut().ok_or(DetectorError::NotTraining)?;
        let gradients = match training.gradients.take() {
            Some(gradients) => gradients,
            None => model.alloc_grads(),
        };
        let maps = model.forward_train(input.traced(gradients))?;
        lap(&mut times.forward);
        let count = maps.len() as f32;
        let mut total = None;
        for logits in maps {
            let term = loss.try_loss(logits, &masks)?;
            total = Some(match total {
                None => term,
                Some(sum) => sum + term,
            });
        }
        let total = total.expect("a model returns at least one logit map") / count;
        let value = total.as_vec()[0];
        if !value.is_finite() {
            return Err(DetectorError::NonFinite(NonFinite::Loss(value)));
        }
        lap(&mut times.loss);
        let mut gradients = total.backward();
        lap(&mut times.backward);
        if let Some(tensor) = non_finite_tensor(model, Some(&gradients))? {
            return Err(DetectorError::NonFinite(NonFinite::Gradient(tensor)));
        }
        lap(&mut times.checks);
        training.optimizer.update(model, &gradients)?;
        model.zero_grads(&mut gradients);
        lap(&mut times.update);
        if let Some(tensor) = non_finite_tensor(model, None)? {
            return Err(DetectorError::NonFinite(NonFinite::Weight(tensor)));
        }
        let mut weight_checks = Duration::ZERO;
        lap(&mut weight_checks);
        times.checks += weight_checks;
        training.gradients = Some(gradients);
        training.last_step = Some(times);
        Ok(value)
    }

    fn last_step_times(&self) -> Option<StepTimes> {
        self.training
            .as_ref()
            .and_then(|training| training.last_step)
    }

    fn save_weights(&self, path: &Path) -> Result<(), DetectorError> {
        Ok(save_checkpoint(&self.model, &self.record(), path)?)
    }

    fn load_weights(&mut self, path: &Path) -> Result<(), DetectorError> {
        let record = self.record();
        Ok(load_checkpoint(&mut self.model, &record, path)?)
    }

    fn save_optimizer(&self, path: &Path) -> Result<(), DetectorError> {
        let training = self.training.as_ref().ok_or(DetectorError::NotTraining)?;
        Ok(training.optimizer.save_state(&self.model, path)?)
    }

    fn load_optimizer(&mut self, path: &Path) -> Result<(), DetectorError> {
        let Typed {
            model, training, ..
        } = self;
        let training = training.as_mut().ok_or(DetectorError::NotTraining)?;
        Ok(training.optimizer.load_state(model, path)?)
    }

    fn tensors(&self) -> Vec<NamedTensor> {
        named_tensors(&self.model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_channel_detectors_take_grey_input_and_keep_it_in_their_checkpoints() {
        let input = InputChannels::Gray {
            mean: 100.0,
            std: 30.0,
        };
        let detector = build_for_input(ModelName::R10, input, DeviceKind::Cpu, 3).unwrap();
        assert_eq!(detector.input(), input);
        let rgb = build(ModelName::R10, DeviceKind::Cpu, 3).unwrap();
        // Only the stem's two 3 x 3 convs' and its shortcut's input width differ: 8 x 2 x 9
        // + 8 x 2 fewer weights (the shortcut is a 1 x 1 conv).
        assert_eq!(
            rgb.cost(32, 32).params - detector.cost(32, 32).params,
            8 * 2 * 9 + 8 * 2
        );
        let image = |channels: usize| -> Vec<f32> {
            (0..channels * 16 * 16)
                .map(|i| (i % 7) as f32 / 7.0)
                .collect()
        };
        fn images(values: &[f32]) -> Images<'_> {
            Images {
                values,
                count: 1,
                height: 16,
                width: 16,
            }
        }
        let grey = image(1);
        let logits = detector.predict(images(&grey)).unwrap();
        assert_eq!(logits.len(), 16 * 16);
        let three = image(3);
        let error = detector.predict(images(&three)).unwrap_err().to_string();
        assert!(error.contains("1 images of 1 x 16 x 16"), "{error}");

        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("grey.safetensors");
        detector.save_weights(&path).unwrap();
        let loaded = load(&path, DeviceKind::Cpu).unwrap().detector;
        assert_eq!(loaded.input(), input);
        assert_eq!(loaded.predict(images(&grey)).unwrap(), logits);
        let mut rgb = rgb;
        let error = rgb.load_weights(&path).unwrap_err().to_string();
        assert!(error.contains("1 grey channel"), "{error}");
    }
}
