//! The optimisers a training run can use, each as PyTorch defines it, over any dfdx
//! [`TensorCollection`] model: [`Adagrad`] (the paper's), [`Adam`] and [`Sgd`] with classic
//! momentum; and [`Optimizer`], the one the trainer holds, chosen by [`OptimizerKind`].
//!
//! Every optimiser's state (its step count and, per trainable tensor, its buffers under
//! PyTorch's names: `sum`; `exp_avg` and `exp_avg_sq`; `momentum_buffer`) is ours, so it is
//! saved and restored by the model's tensor names through [`crate::tensor_file`], and a resumed
//! run continues exactly as an uninterrupted one. Each implements dfdx's
//! [`dfdx::optim::Optimizer`]; on the CPU, `Adam` and `Sgd` give the updates of dfdx's own
//! `Adam` and `Sgd` (with `Momentum::Classic`) bit for bit.

mod adagrad;
mod adam;
#[cfg(test)]
mod quadratic;
mod sgd;
mod state;
#[cfg(test)]
mod tests;

pub use adagrad::{Adagrad, AdagradConfig};
pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};
pub use state::{Algorithm, Stateful};

use crate::ops::Float;
use crate::tensor_file::{TensorFileError, TensorProblem};
use dfdx::optim::Optimizer as _;
use dfdx::prelude::{Device, Dtype, Gradients, Storage, TensorCollection};
use std::path::{Path, PathBuf};

crate::named_enum! {
    /// The optimiser. AdaGrad is the paper's.
    pub enum OptimizerKind: "optimizer" {
        Adagrad => "adagrad",
        Adam => "adam",
        Sgd => "sgd",
    }
}

/// A hyperparameter outside the range PyTorch accepts.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{optimizer} {name} must be {allowed}, got {value}")]
pub struct InvalidHyperparameter {
    /// The optimiser it configures.
    pub optimizer: OptimizerKind,
    /// The hyperparameter's PyTorch name.
    pub name: &'static str,
    /// The values accepted.
    pub allowed: &'static str,
    /// The rejected value.
    pub value: f64,
}

impl InvalidHyperparameter {
    /// Checks that hyperparameter `name` of `optimizer` is finite and non-negative.
    fn non_negative(
        optimizer: OptimizerKind,
        name: &'static str,
        value: f64,
    ) -> Result<(), InvalidHyperparameter> {
        Self::check(
            optimizer,
            name,
            value,
            "finite and non-negative",
            f64::INFINITY,
        )
    }

    /// Checks that hyperparameter `name` of `optimizer` is in [0, 1) (Adam's betas).
    fn below_one(
        optimizer: OptimizerKind,
        name: &'static str,
        value: f64,
    ) -> Result<(), InvalidHyperparameter> {
        Self::check(optimizer, name, value, "in [0, 1)", 1.0)
    }

    fn check(
        optimizer: OptimizerKind,
        name: &'static str,
        value: f64,
        allowed: &'static str,
        end: f64,
    ) -> Result<(), InvalidHyperparameter> {
        if value.is_finite() && (0.0..end).contains(&value) {
            Ok(())
        } else {
            Err(InvalidHyperparameter {
                optimizer,
                name,
                allowed,
                value,
            })
        }
    }
}

/// Why an optimiser could not be built, step, or save or load its state.
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    /// A hyperparameter is out of range.
    #[error(transparent)]
    Hyperparameter(#[from] InvalidHyperparameter),
    /// The device failed during an update or while building the state.
    #[error("optimizer: device error: {0}")]
    Device(String),
    /// The state file cannot be written or read, is damaged, or holds another element type.
    #[error(transparent)]
    File(TensorFileError),
    /// The file is a tensor file without an optimiser state record (e.g. a checkpoint).
    #[error("{path}: no rrcanet optimizer state record in the safetensors metadata")]
    MissingRecord {
        /// The file.
        path: PathBuf,
    },
    /// The file holds the state of another optimiser.
    #[error("{path}: holds the state of optimizer `{found}`, cannot load it into {expected}")]
    OtherOptimizer {
        /// The file.
        path: PathBuf,
        /// The optimiser named in the file.
        found: String,
        /// The optimiser loading it.
        expected: OptimizerKind,
    },
    /// The file's tensors do not fit the model: it holds the state of another model.
    #[error(
        "{path}: optimizer state `{tensor}`: {problem}; the file holds the state of another model"
    )]
    OtherModel {
        /// The file.
        path: PathBuf,
        /// The state tensor at fault.
        tensor: String,
        /// What is wrong with it.
        problem: TensorProblem,
    },
}

impl From<TensorFileError> for OptimError {
    /// A state file's tensor that is missing, unexpected or of another shape means the file
    /// was saved for another model.
    fn from(error: TensorFileError) -> Self {
        match error {
            TensorFileError::Tensor {
                path,
                tensor,
                problem,
            } if !matches!(problem, TensorProblem::Dtype { .. }) => OptimError::OtherModel {
                path,
                tensor,
                problem,
            },
            error => OptimError::File(error),
        }
    }
}

impl OptimError {
    /// A device error.
    fn device(error: impl std::fmt::Display) -> Self {
        OptimError::Device(error.to_string())
    }
}

/// `$body` with `$optimizer` bound to whichever optimiser `$self` holds.
macro_rules! each {
    ($self:expr, $optimizer:ident => $body:expr) => {
        match $self {
            Optimizer::Adagrad($optimizer) => $body,
            Optimizer::Adam($optimizer) => $body,
            Optimizer::Sgd($optimizer) => $body,
        }
    };
}

/// The optimiser of a training run over model `M`, of the kind the run's configuration names.
#[derive(Debug)]
pub enum Optimizer<M, E: Dtype, D: Storage<E>> {
    /// AdaGrad with PyTorch's defaults (eps 1e-10, no decay).
    Adagrad(Adagrad<M, E, D>),
    /// Adam with PyTorch's defaults (betas 0.9 and 0.999, eps 1e-8, no weight decay).
    Adam(Adam<M, E, D>),
    /// SGD with classic momentum 0.9.
    Sgd(Sgd<M, E, D>),
}

impl<M: TensorCollection<E, D>, E: Float, D: Device<E>> Optimizer<M, E, D> {
    /// An optimiser of `kind` with learning rate `lr` for `model`.
    pub fn new(kind: OptimizerKind, model: &M, lr: f64) -> Result<Self, OptimError> {
        Ok(match kind {
            OptimizerKind::Adagrad => Optimizer::Adagrad(Adagrad::new(
                model,
                AdagradConfig {
                    lr,
                    ..Default::default()
                },
            )?),
            OptimizerKind::Adam => Optimizer::Adam(Adam::new(
                model,
                AdamConfig {
                    lr,
                    ..Default::default()
                },
            )?),
            OptimizerKind::Sgd => Optimizer::Sgd(Sgd::new(model, SgdConfig { lr, momentum: 0.9 })?),
        })
    }

    /// Which optimiser this is.
    pub fn kind(&self) -> OptimizerKind {
        match self {
            Optimizer::Adagrad(_) => OptimizerKind::Adagrad,
            Optimizer::Adam(_) => OptimizerKind::Adam,
            Optimizer::Sgd(_) => OptimizerKind::Sgd,
        }
    }

    /// Sets the learning rate of the next updates (a schedule's value for the epoch).
    pub fn set_learning_rate(&mut self, lr: f64) {
        each!(self, o => o.cfg.set_learning_rate(lr))
    }

    /// The number of updates done so far.
    pub fn steps(&self) -> usize {
        each!(self, o => o.steps())
    }

    /// One update of every trainable tensor of `model` with `gradients`, which must hold an
    /// entry for each (as `model.alloc_grads()` provides).
    pub fn update(&mut self, model: &mut M, gradients: &Gradients<E, D>) -> Result<(), OptimError> {
        each!(self, o => o.update(model, gradients)).map_err(OptimError::device)
    }

    /// Saves the state (step count and every buffer, by `model`'s tensor names) to `path`,
    /// atomically.
    pub fn save_state(&self, model: &M, path: &Path) -> Result<(), OptimError> {
        each!(self, o => o.save_state(model, path))
    }

    /// Continues from the state saved at `path` for `model` by an optimiser of the same kind.
    pub fn load_state(&mut self, model: &M, path: &Path) -> Result<(), OptimError> {
        each!(self, o => o.load_state(model, path))
    }
}
