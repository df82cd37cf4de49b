//! What an optimiser remembers between updates, how an update walks the model with it, and how
//! it is saved and restored by the model's tensor names.
//!
//! The model-generic parts are thin: the model's tensors come through the shape-erased walks of
//! [`crate::nn::tensors`], so a model's walk is compiled once for every optimiser (and for
//! checkpoints), and each optimiser's rule once, not once per model or per tensor shape.

use super::{InvalidHyperparameter, OptimError, OptimizerKind};
use crate::nn::tensors::{for_each_tensor, for_each_tensor_mut};
use crate::ops::Float;
use crate::tensor_file::{TensorFile, TensorFileWriter, TensorProblem};
use dfdx::nn::tensor_collection::TensorCollection;
use dfdx::optim::{Optimizer, OptimizerUpdateError};
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::marker::PhantomData;
use std::path::Path;

/// A tensor's elements as one flat tensor.
pub type Flat<E, D> = Tensor<(usize,), E, D>;

/// A step s and rate a, with which a parameter p becomes p - a s.
pub type Step<E, D> = (Flat<E, D>, f64);

/// The metadata key of a state file's [`StateRecord`].
const RECORD_KEY: &str = "rrcanet_optimizer";

/// The metadata of a state file, as JSON.
#[derive(Serialize, Deserialize)]
struct StateRecord {
    /// The optimiser's name (an [`OptimizerKind`]).
    optimizer: String,
    /// Updates done.
    steps: usize,
}

/// How an optimiser updates one trainable tensor: its PyTorch rule for one step, with the
/// step's hyperparameters.
pub trait UpdateRule<E: Dtype, D: Storage<E>, const N: usize> {
    /// The starting value of each of a tensor's `N` state buffers.
    fn initial_values(&self) -> [f64; N];

    /// From the flattened `parameter` and `gradient`, updates the tensor's `buffers` and
    /// returns its step.
    fn step(
        &self,
        parameter: Flat<E, D>,
        gradient: Flat<E, D>,
        buffers: &mut [Flat<E, D>; N],
    ) -> Result<Step<E, D>, D::Err>;
}

/// What tells one optimiser from another: its hyperparameters (this type), PyTorch's names of
/// the `N` buffers it keeps per trainable tensor, and its rule for one update.
pub trait Algorithm<const N: usize>: Copy {
    /// Which optimiser this is.
    const KIND: OptimizerKind;
    /// PyTorch's names of its per-tensor buffers.
    const BUFFERS: [&'static str; N];
    /// Checks the hyperparameters as PyTorch does.
    fn validate(&self) -> Result<(), InvalidHyperparameter>;
    /// Sets the learning rate of the next updates.
    fn set_learning_rate(&mut self, lr: f64);
    /// The rule of update number `step` (counted from 1).
    fn rule<E: Float, D: Device<E>>(&self, step: usize) -> impl UpdateRule<E, D, N>;
}

/// An optimiser with hyperparameters `A` for a model of type `M`, and its state: one update
/// count and, per trainable tensor in the order the model visits its tensors, `N` buffers (so
/// one optimiser serves one model architecture). Tensors marked as not trainable (BatchNorm
/// running statistics) are skipped.
///
/// `gradients` passed to [`Optimizer::update`] must hold an entry for every trainable tensor,
/// which the usual `model.alloc_grads()` guarantees (an unused parameter then has a zero
/// gradient and is left unchanged, as PyTorch leaves a parameter without gradient); dfdx
/// offers no public way to ask whether an entry exists, and a missing one panics.
#[derive(Debug)]
pub struct Stateful<A, M, E: Dtype, D: Storage<E>, const N: usize> {
    /// Hyperparameters; the learning rate may be changed between steps by a schedule.
    pub cfg: A,
    state: State<E, D, N>,
    model: PhantomData<fn(&M)>,
}

impl<A: Algorithm<N>, M, E: Dtype, D: Storage<E>, const N: usize> Stateful<A, M, E, D, N> {
    /// An optimiser for `model` with hyperparameters `cfg`.
    pub fn new(_model: &M, cfg: A) -> Result<Self, InvalidHyperparameter> {
        cfg.validate()?;
        Ok(Stateful {
            cfg,
            state: State::default(),
            model: PhantomData,
        })
    }

    /// The number of updates done so far.
    pub fn steps(&self) -> usize {
        self.state.steps
    }
}

impl<A, M, E, D, const N: usize> Stateful<A, M, E, D, N>
where
    A: Algorithm<N>,
    M: TensorCollection<E, D>,
    E: Float,
    D: Device<E>,
{
    /// Saves the step count and every buffer, by `model`'s tensor names, to `path`.
    pub fn save_state(&self, model: &M, path: &Path) -> Result<(), OptimError> {
        self.state.save(model, A::KIND, A::BUFFERS, path)
    }

    /// Continues from the state that [`Stateful::save_state`] saved for `model` at `path`.
    pub fn load_state(&mut self, model: &M, path: &Path) -> Result<(), OptimError> {
        self.state = State::load(model, A::KIND, A::BUFFERS, path)?;
        Ok(())
    }
}

impl<A, M, E, D, const N: usize> Optimizer<M, D, E> for Stateful<A, M, E, D, N>
where
    A: Algorithm<N>,
    M: TensorCollection<E, D>,
    E: Float,
    D: Device<E>,
{
    fn update(
        &mut self,
        module: &mut M,
        gradients: &Gradients<E, D>,
    ) -> Result<(), OptimizerUpdateError<D::Err>> {
        self.state.steps += 1;
        let rule = self.cfg.rule::<E, D>(self.state.steps);
        self.state
            .update(module, gradients, &rule)
            .map_err(OptimizerUpdateError::DeviceError)
    }
}

/// An optimiser's memory: its update count and `N` buffers per trainable tensor.
#[derive(Debug)]
struct State<E: Dtype, D: Storage<E>, const N: usize> {
    /// Updates done so far.
    steps: usize,
    /// The buffers of each trainable tensor, in the model's visiting order; empty before the
    /// first update, which creates them.
    buffers: Vec<[Flat<E, D>; N]>,
}

impl<E: Dtype, D: Storage<E>, const N: usize> Default for State<E, D, N> {
    fn default() -> Self {
        State {
            steps: 0,
            buffers: Vec::new(),
        }
    }
}

impl<E: Float, D: Device<E>, const N: usize> State<E, D, N> {
    /// Applies `rule` to every trainable tensor of `model` (the caller has counted the step).
    fn update<M: TensorCollection<E, D>>(
        &mut self,
        model: &mut M,
        gradients: &Gradients<E, D>,
        rule: &dyn UpdateRule<E, D, N>,
    ) -> Result<(), D::Err> {
        let mut position = 0;
        for_each_tensor_mut(model, |info, parameter| {
            if !info.trainable {
                return Ok(());
            }
            let gradient = parameter.gradient(gradients)?;
            let (step, rate) = self.step(position, rule, parameter.flat()?, gradient)?;
            position += 1;
            parameter.add_scaled(&step, -rate)
        })
    }

    /// The step of the trainable tensor at `position`, whose buffers the first update creates.
    fn step(
        &mut self,
        position: usize,
        rule: &dyn UpdateRule<E, D, N>,
        parameter: Flat<E, D>,
        gradient: Flat<E, D>,
    ) -> Result<Step<E, D>, D::Err> {
        let flat = *parameter.shape();
        if self.buffers.len() == position {
            let device = parameter.device().clone();
            let initial = rule.initial_values().map(|value| {
                device
                    .try_zeros_like(&flat)
                    .and_then(|zeros| zeros.try_add(E::of(value)))
            });
            self.buffers.push(collect_array(initial)?);
        }
        let buffers = &mut self.buffers[position];
        for buffer in buffers.iter() {
            assert_eq!(
                buffer.shape(),
                &flat,
                "optimizer state of tensor {position} does not fit this model: one optimizer serves one model"
            );
        }
        rule.step(parameter, gradient, buffers)
    }

    /// Saves the state of `kind`, whose buffers are called `names`, for `model` to `path`.
    fn save<M: TensorCollection<E, D>>(
        &self,
        model: &M,
        kind: OptimizerKind,
        names: [&str; N],
        path: &Path,
    ) -> Result<(), OptimError> {
        self.write(&trainable_tensors(model), kind, names, path)
    }

    /// The state of `kind`, whose buffers are called `names`, saved for `model` at `path`.
    fn load<M: TensorCollection<E, D>>(
        model: &M,
        kind: OptimizerKind,
        names: [&str; N],
        path: &Path,
    ) -> Result<Self, OptimError> {
        Self::read(trainable_tensors(model), kind, names, path)
    }

    fn write(
        &self,
        tensors: &TrainableTensors<D>,
        kind: OptimizerKind,
        names: [&str; N],
        path: &Path,
    ) -> Result<(), OptimError> {
        let record = StateRecord {
            optimizer: kind.name().to_string(),
            steps: self.steps,
        };
        let mut file = TensorFileWriter::default();
        file.metadata(
            RECORD_KEY,
            serde_json::to_string(&record).expect("a record serialises"),
        );
        for ((tensor, shape), buffers) in tensors.tensors.iter().zip(&self.buffers) {
            for (name, buffer) in names.iter().zip(buffers) {
                file.tensor(
                    state_name(tensor, name),
                    shape.clone(),
                    &crate::ops::host_values(buffer),
                );
            }
        }
        Ok(file.write(path)?)
    }

    fn read(
        tensors: TrainableTensors<D>,
        kind: OptimizerKind,
        names: [&str; N],
        path: &Path,
    ) -> Result<Self, OptimError> {
        let file = TensorFile::read(path)?;
        let steps = read_record(&file, kind)?;
        // Before the first update there are no buffers yet.
        let stored = if steps == 0 {
            &[][..]
        } else {
            &tensors.tensors[..]
        };
        let expected: HashSet<String> = stored
            .iter()
            .flat_map(|(tensor, _)| names.map(|name| state_name(tensor, name)))
            .collect();
        if let Some(unexpected) = file.names().into_iter().find(|n| !expected.contains(n)) {
            return Err(file.problem(&unexpected, TensorProblem::Unexpected).into());
        }
        let buffers = stored
            .iter()
            .map(|(tensor, shape)| {
                collect_array(names.map(|name| {
                    read_buffer(&file, &tensors.device, &state_name(tensor, name), shape)
                }))
            })
            .collect::<Result<_, _>>()?;
        Ok(State { steps, buffers })
    }
}

/// The step count in `file`, which must be a state of `kind`.
fn read_record(file: &TensorFile, kind: OptimizerKind) -> Result<usize, OptimError> {
    let json = file
        .metadata(RECORD_KEY)
        .ok_or_else(|| OptimError::MissingRecord {
            path: file.path().to_path_buf(),
        })?;
    let record: StateRecord = serde_json::from_str(json)
        .map_err(|error| file.corrupt(format!("optimizer state record: {error}")))?;
    if record.optimizer != kind.name() {
        return Err(OptimError::OtherOptimizer {
            path: file.path().to_path_buf(),
            found: record.optimizer,
            expected: kind,
        });
    }
    Ok(record.steps)
}

/// State tensor `name` of `file`, of the model's tensor `shape`, as a flat tensor on `device`.
fn read_buffer<E: Float, D: Device<E>>(
    file: &TensorFile,
    device: &Option<D>,
    name: &str,
    shape: &[usize],
) -> Result<Flat<E, D>, OptimError> {
    let values = file.tensor::<E>(name, shape)?;
    let length = values.len();
    device
        .as_ref()
        .expect("a trainable tensor's device")
        .try_tensor_from_vec(values, (length,))
        .map_err(OptimError::device)
}

/// The name in a state file of buffer `buffer` of the model's tensor `tensor`.
fn state_name(tensor: &str, buffer: &str) -> String {
    if tensor.is_empty() {
        buffer.to_string()
    } else {
        format!("{tensor}.{buffer}")
    }
}

/// The `N` results of `items` as an array, or the first error.
fn collect_array<T, Error, const N: usize>(items: [Result<T, Error>; N]) -> Result<[T; N], Error> {
    let items = items.into_iter().collect::<Result<Vec<T>, Error>>()?;
    Ok(items
        .try_into()
        .unwrap_or_else(|_: Vec<T>| unreachable!("N results give N items")))
}

/// A model's trainable tensors: names and shapes in visiting order, and their device.
struct TrainableTensors<D> {
    tensors: Vec<(String, Vec<usize>)>,
    device: Option<D>,
}

fn trainable_tensors<M: TensorCollection<E, D>, E: Float, D: Device<E>>(
    model: &M,
) -> TrainableTensors<D> {
    let mut trainable = TrainableTensors {
        tensors: Vec::new(),
        device: None,
    };
    let listed: Result<(), std::convert::Infallible> = for_each_tensor(model, |info, tensor| {
        if info.trainable {
            trainable
                .tensors
                .push((info.name.to_string(), tensor.dimensions()));
            trainable.device.get_or_insert_with(|| tensor.device());
        }
        Ok(())
    });
    listed.unwrap_or_else(|never| match never {});
    trainable
}
