//! Checkpoints: safetensors files holding every tensor of a model (parameters and BatchNorm
//! running statistics) and, in the header's metadata, a [`ModelRecord`] naming the
//! configuration, so that loading into another variant fails with a clear error.
//!
//! Files are written atomically: to a temporary file in the same directory, then renamed.

use super::ModelName;
use crate::nn::Backend;
use crate::ops::Float;
use dfdx::nn::tensor_collection::{
    RecursiveWalker, ScalarOptions, TensorCollection, TensorOptions, TensorVisitor, ViewTensorMut,
    ViewTensorName, ViewTensorRef,
};
use dfdx::prelude::{Shape, Tensor};
use dfdx::shapes::HasShape;
use safetensors::tensor::{Dtype as SafeDtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The metadata key holding the [`ModelRecord`] as JSON.
const RECORD_KEY: &str = "rrcanet";

/// What is needed to rebuild the model a checkpoint holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// The configuration's registry name, e.g. `r18`.
    pub model: String,
    /// Input channels (3: RGB as the authors; 1: grayscale).
    pub in_channels: usize,
    /// Element type of the stored tensors: `f32` or `f64`.
    pub dtype: String,
}

impl ModelRecord {
    /// The record of configuration `model` with `in_channels` inputs and elements `E`.
    pub fn new<E: Float>(model: ModelName, in_channels: usize) -> Self {
        ModelRecord {
            model: model.to_string(),
            in_channels,
            dtype: dtype_name::<E>().to_string(),
        }
    }
}

impl std::fmt::Display for ModelRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} input channels, {})",
            self.model, self.in_channels, self.dtype
        )
    }
}

/// Why a checkpoint could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file system failed.
    #[error("{path}: {source}")]
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

fn dtype_name<E: Float>() -> &'static str {
    if std::mem::size_of::<E>() == 4 {
        "f32"
    } else {
        "f64"
    }
}

fn safe_dtype<E: Float>() -> SafeDtype {
    if std::mem::size_of::<E>() == 4 {
        SafeDtype::F32
    } else {
        SafeDtype::F64
    }
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
    let mut writer = Writer::default();
    let visited: Result<_, std::convert::Infallible> = M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut writer,
    });
    visited.unwrap_or_else(|never| match never {});
    let record_json = serde_json::to_string(record).expect("a record serialises");
    let metadata = Some(HashMap::from([(RECORD_KEY.to_string(), record_json)]));
    let views = writer
        .tensors
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(safe_dtype::<E>(), shape.clone(), bytes).map(|view| (name, view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| CheckpointError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("{error:?}"),
        })?;
    let bytes =
        safetensors::serialize(views, &metadata).map_err(|error| CheckpointError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("{error:?}"),
        })?;
    write_atomically(path, &bytes)
}

/// Reads the [`ModelRecord`] of the checkpoint at `path` (to know which model to build).
pub fn read_record(path: &Path) -> Result<ModelRecord, CheckpointError> {
    let bytes = read(path)?;
    record_of(path, &bytes)
}

/// Loads the checkpoint at `path` into `model`, which must be the configuration `expected`.
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
    let bytes = read(path)?;
    let found = record_of(path, &bytes)?;
    if &found != expected {
        return Err(CheckpointError::WrongModel {
            path: path.to_path_buf(),
            found: Box::new(found),
            expected: Box::new(expected.clone()),
        });
    }
    let tensors = SafeTensors::deserialize(&bytes).map_err(|error| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("{error:?}"),
    })?;
    let mut reader = Reader { tensors: &tensors };
    M::iter_tensors(&mut RecursiveWalker {
        m: (model, String::new()),
        f: &mut reader,
    })
    .map_err(|(tensor, problem)| CheckpointError::Tensor {
        path: path.to_path_buf(),
        tensor,
        problem,
    })?;
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn record_of(path: &Path, bytes: &[u8]) -> Result<ModelRecord, CheckpointError> {
    let corrupt = |reason: String| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let (header_size, metadata) =
        SafeTensors::read_metadata(bytes).map_err(|error| corrupt(format!("{error:?}")))?;
    let data_size = metadata
        .tensors()
        .values()
        .map(|info| info.data_offsets.1)
        .max()
        .unwrap_or(0);
    if bytes.len() != 8 + header_size + data_size {
        return Err(corrupt(format!(
            "{} bytes, the header announces {}",
            bytes.len(),
            8 + header_size + data_size
        )));
    }
    let json = metadata
        .metadata()
        .as_ref()
        .and_then(|map| map.get(RECORD_KEY))
        .ok_or_else(|| CheckpointError::MissingRecord {
            path: path.to_path_buf(),
        })?;
    serde_json::from_str(json).map_err(|error| corrupt(format!("model record: {error}")))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    crate::atomic_file::write(path, bytes).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Collects (name, shape, little-endian bytes) of every tensor.
#[derive(Default)]
struct Writer {
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
}

impl<E: Float, D: Backend<E>> TensorVisitor<E, D> for Writer {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = std::convert::Infallible;
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, E, D>,
        (tensor, name): (&Tensor<S, E, D>, String),
    ) -> Result<Option<Tensor<S, E, D>>, Self::Err> {
        let values = crate::ops::host_values(tensor);
        let bytes = if std::mem::size_of::<E>() == 4 {
            values
                .iter()
                .flat_map(|v| v.to_f32().expect("an f32 element").to_le_bytes())
                .collect()
        } else {
            values
                .iter()
                .flat_map(|v| v.to_f64().expect("an f64 element").to_le_bytes())
                .collect()
        };
        self.tensors
            .push((name, tensor.shape().concrete().into(), bytes));
        Ok(None)
    }

    fn visit_scalar<N: num_traits::NumCast>(
        &mut self,
        _: ScalarOptions<N>,
        _: (&N, String),
    ) -> Result<Option<N>, Self::Err> {
        Ok(None)
    }
}

/// Copies stored tensors into a model; errors are (tensor name, problem).
struct Reader<'a, 'data> {
    tensors: &'a SafeTensors<'data>,
}

impl<E: Float, D: Backend<E>> TensorVisitor<E, D> for Reader<'_, '_> {
    type Viewer = (ViewTensorMut, ViewTensorName);
    type Err = (String, String);
    type E2 = E;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, E, D>,
        (tensor, name): (&mut Tensor<S, E, D>, String),
    ) -> Result<Option<Tensor<S, E, D>>, Self::Err> {
        let stored = self
            .tensors
            .tensor(&name)
            .map_err(|_| (name.clone(), "missing".to_string()))?;
        let expected: Vec<usize> = tensor.shape().concrete().into();
        if stored.shape() != expected.as_slice() {
            return Err((
                name,
                format!("shape {:?}, expected {expected:?}", stored.shape()),
            ));
        }
        if stored.dtype() != safe_dtype::<E>() {
            return Err((
                name,
                format!("dtype {:?}, expected {}", stored.dtype(), dtype_name::<E>()),
            ));
        }
        let values: Vec<E> = if std::mem::size_of::<E>() == 4 {
            stored
                .data()
                .chunks_exact(4)
                .map(|b| E::from(f32::from_le_bytes(b.try_into().expect("4 bytes"))))
                .collect::<Option<_>>()
        } else {
            stored
                .data()
                .chunks_exact(8)
                .map(|b| E::from(f64::from_le_bytes(b.try_into().expect("8 bytes"))))
                .collect::<Option<_>>()
        }
        .ok_or_else(|| (name.clone(), "element conversion".to_string()))?;
        tensor.copy_from(&values);
        Ok(None)
    }

    fn visit_scalar<N: num_traits::NumCast>(
        &mut self,
        _: ScalarOptions<N>,
        _: (&mut N, String),
    ) -> Result<Option<N>, Self::Err> {
        Ok(None)
    }
}
