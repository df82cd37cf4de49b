//! Checkpoints: safetensors files holding every tensor of a model (parameters and BatchNorm
//! running statistics) and, in the header's metadata, a [`ModelRecord`] naming the
//! configuration, so that loading into another variant fails with a clear error.
//!
//! Files are written atomically, through the one tensor-file codec ([`crate::tensor_file`]).

use super::ModelName;
use crate::data::InputChannels;
use crate::nn::tensors::{for_each_tensor, for_each_tensor_mut};
use crate::nn::Backend;
use crate::ops::Float;
use crate::tensor_file::{dtype_name, TensorFile, TensorFileError, TensorFileWriter};
use dfdx::nn::tensor_collection::TensorCollection;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The metadata key holding the [`ModelRecord`] as JSON.
const RECORD_KEY: &str = "rrcanet";

/// What is needed to rebuild the model a checkpoint holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// The configuration's registry name, e.g. `r18`.
    pub model: String,
    /// Input channels (3: grey replicated to RGB as the authors' RRCA-Net code; 1: grey as
    /// their BasicIRSTD pipeline); always `input`'s count.
    pub in_channels: usize,
    /// How images become input (checkpoints written before it was recorded are RGB).
    #[serde(default = "imagenet_rgb")]
    pub input: InputChannels,
    /// Element type of the stored tensors: `f32` or `f64`.
    pub dtype: String,
}

fn imagenet_rgb() -> InputChannels {
    InputChannels::ImageNetRgb
}

impl ModelRecord {
    /// The record of configuration `model` taking `input`, with elements `E`.
    pub fn new<E: Float>(model: ModelName, input: InputChannels) -> Self {
        ModelRecord {
            model: model.to_string(),
            in_channels: input.count(),
            input,
            dtype: dtype_name::<E>().to_string(),
        }
    }
}

impl std::fmt::Display for ModelRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {})", self.model, self.input, self.dtype)
    }
}

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file system failed (the cause is the error's source, printed after it).
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a complete safetensors file (e.g. truncated).
    #[error("{path}: not a valid safetensors checkpoint (truncated or corrupt): {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser reported.
        reason: String,
    },
    /// The file has no rrcanet model record.
    #[error("{path}: no rrcanet model record in the safetensors metadata")]
    MissingRecord {
        /// The file.
        path: PathBuf,
    },
    /// The checkpoint holds another configuration than the one being loaded.
    #[error("{path}: checkpoint holds model {found}, cannot load it into model {expected}")]
    WrongModel {
        /// The file.
        path: PathBuf,
        /// What the file holds.
        found: Box<ModelRecord>,
        /// What the caller built.
        expected: Box<ModelRecord>,
    },
    /// A tensor holds NaN or infinite values (e.g. saved by a diverged training run).
    #[error("{}: tensor `{tensor}` holds {count} NaN or infinite values; these weights are unusable", path.display())]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// How many of its values are not finite.
        count: usize,
    },
    /// A tensor is missing or has the wrong shape or type.
    #[error("{path}: tensor `{tensor}`: {problem}")]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl From<TensorFileError> for CheckpointError {
    fn from(error: TensorFileError) -> Self {
        match error {
            TensorFileError::Io { path, source } => CheckpointError::Io { path, source },
            TensorFileError::Corrupt { path, reason } => CheckpointError::Corrupt { path, reason },
            TensorFileError::Tensor {
                path,
                tensor,
                problem,
            } => CheckpointError::Tensor {
                path,
                tensor,
                problem: problem.to_string(),
            },
        }
    }
}

/// One tensor of a model as a checkpoint stores it.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Its path in the model, e.g. `stem.convs.conv1.weight`.
    pub name: String,
    /// Its dimensions, outermost first.
    pub dimensions: Vec<usize>,
    /// Its elements in row-major order.
    pub values: Vec<f32>,
}

/// Every tensor of the f32 `model` (BatchNorm running statistics too), named, in the model's
/// order.
pub fn named_tensors<M, D>(model: &M) -> Vec<NamedTensor>
where
    M: TensorCollection<f32, D>,
    D: Backend<f32>,
{
    let mut tensors = Vec::new();
    let listed: Result<(), std::convert::Infallible> = for_each_tensor(model, |info, tensor| {
        tensors.push(NamedTensor {
            name: info.name.to_string(),
            dimensions: tensor.dimensions(),
            values: tensor.values(),
        });
        Ok(())
    });
    listed.unwrap_or_else(|never| match never {});
    tensors
}

/// A checkpoint file holding `record`, to which the tensors are added.
fn checkpoint_writer(record: &ModelRecord) -> TensorFileWriter {
    let mut file = TensorFileWriter::default();
    file.metadata(
        RECORD_KEY,
        serde_json::to_string(record).expect("a record serialises"),
    );
    file
}

/// Saves `tensors`, every tensor of the f32 model that `record` names, to `path`, atomically
/// (e.g. weights imported from another framework).
pub fn write_checkpoint(
    record: &ModelRecord,
    tensors: &[NamedTensor],
    path: &Path,
) -> Result<(), CheckpointError> {
    let mut file = checkpoint_writer(record);
    for tensor in tensors {
        file.tensor(
            tensor.name.clone(),
            tensor.dimensions.clone(),
            &tensor.values,
        );
    }
    Ok(file.write(path)?)
}

/// Saves every tensor of `model` with `record` to `path`, atomically.
pub fn save_checkpoint<M, E, D>(
    model: &M,
    record: &ModelRecord,
    path: &Path,
) -> Result<(), CheckpointError>
where
    M: TensorCollection<E, D>,
    E: Float,
    D: Backend<E>,
{
    let mut file = checkpoint_writer(record);
    let written: Result<(), std::convert::Infallible> = for_each_tensor(model, |info, tensor| {
        file.tensor(info.name.to_string(), tensor.dimensions(), &tensor.values());
        Ok(())
    });
    written.unwrap_or_else(|never| match never {});
    Ok(file.write(path)?)
}

/// Reads the [`ModelRecord`] of the checkpoint at `path` (to know which model to build).
pub fn read_record(path: &Path) -> Result<ModelRecord, CheckpointError> {
    record_of(&TensorFile::read(path)?)
}

/// Loads the checkpoint at `path` into `model`, which must be the configuration `expected`.
/// A tensor holding a NaN or an infinity is refused ([`CheckpointError::NonFinite`]).
pub fn load_checkpoint<M, E, D>(
    model: &mut M,
    expected: &ModelRecord,
    path: &Path,
) -> Result<(), CheckpointError>
where
    M: TensorCollection<E, D>,
    E: Float,
    D: Backend<E>,
{
    let file = TensorFile::read(path)?;
    let found = record_of(&file)?;
    if &found != expected {
        return Err(CheckpointError::WrongModel {
            path: path.to_path_buf(),
            found: Box::new(found),
            expected: Box::new(expected.clone()),
        });
    }
    for_each_tensor_mut(model, |info, tensor| {
        let values = file.tensor::<E>(info.name, &tensor.dimensions())?;
        let count = values.iter().filter(|value| !value.is_finite()).count();
        if count > 0 {
            return Err(CheckpointError::NonFinite {
                path: path.to_path_buf(),
                tensor: info.name.to_string(),
                count,
            });
        }
        tensor.set_values(&values);
        Ok(())
    })
}

fn record_of(file: &TensorFile) -> Result<ModelRecord, CheckpointError> {
    let json = file
        .metadata(RECORD_KEY)
        .ok_or_else(|| CheckpointError::MissingRecord {
            path: file.path().to_path_buf(),
        })?;
    serde_json::from_str(json)
        .map_err(|error| file.corrupt(format!("model record: {error}")).into())
}
