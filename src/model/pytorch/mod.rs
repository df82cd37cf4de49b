//! Weights of the authors' PyTorch `RRCANet` (github.com/yongxianLiu/RRCANet,
//! `RRCA-Net/model/RRCANet.py`): [`import`] reads a `state_dict` saved as safetensors into our
//! tensors, [`export`] writes ours as theirs. Which key holds which tensor is [`keys`]' table.
//!
//! A `state_dict` of theirs names each shared RuCB convolution once per pass (r18: 539 keys,
//! 467 distinct tensors). `safetensors.torch.save_file(model.state_dict())` refuses such
//! aliases; `safetensors.torch.save_model(model)` keeps one name per shared tensor (the pass-0
//! name). [`import`] accepts both (every alias present with equal values, or one of them);
//! [`export`] writes what `save_model` writes, which `safetensors.torch.load_model` loads
//! strictly.

mod keys;
#[cfg(test)]
mod tests;

pub use keys::{authors_tensor, AuthorsTensor, Network, Structure};

use super::checkpoint::{write_checkpoint, NamedTensor};
use super::{build_for_input, load, DetectorError, DeviceKind, ModelName, ModelRecord};
use crate::data::InputChannels;
use crate::tensor_file::{TensorFile, TensorFileError, TensorFileWriter};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The suffix of the BatchNorm counters PyTorch keeps and we do not need.
const BATCH_COUNTER: &str = ".num_batches_tracked";

/// Why weights could not be imported or exported.
#[derive(Debug, thiserror::Error)]
pub enum PytorchError {
    /// The file could not be read or written, or a tensor in it has the wrong shape or type.
    #[error(transparent)]
    File(#[from] TensorFileError),
    /// The file lacks a tensor the model needs.
    #[error("{path}: no key `{key}` (our `{ours}` of {model}); is this a state_dict of the authors' RRCANet built as {model}?")]
    Missing {
        path: PathBuf,
        key: String,
        ours: String,
        model: ModelName,
    },
    /// The file holds a tensor the model does not have.
    #[error("{path}: key `{key}` is not a tensor of the authors' RRCANet built as {model}")]
    Unexpected {
        path: PathBuf,
        key: String,
        model: ModelName,
    },
    /// Two names of one shared convolution hold different values.
    #[error("{path}: `{first}` and `{other}` name one shared RuCB convolution but hold different values")]
    AliasesDiffer {
        path: PathBuf,
        first: String,
        other: String,
    },
    /// The configuration has a tensor the authors' code does not build.
    #[error("{model}: the authors' RRCANet has no counterpart of our tensor `{ours}` (their code cannot build this configuration)")]
    NotInAuthorsModel { model: ModelName, ours: String },
    /// Our side: the model could not be built, or the checkpoint read or written.
    #[error(transparent)]
    Detector(#[from] DetectorError),
}

/// Imports the authors' safetensors `state_dict` at `pytorch` as configuration `model` fed
/// with `input` and saves it as our checkpoint `checkpoint` (which `eval`, `infer` and
/// `train --init-from` take).
pub fn import_checkpoint(
    pytorch: &Path,
    model: ModelName,
    input: InputChannels,
    checkpoint: &Path,
) -> Result<(), PytorchError> {
    let layout = build_for_input(model, input, DeviceKind::Cpu, 0)?.tensors();
    let tensors = import(pytorch, model, &layout)?;
    let record = ModelRecord::new::<f32>(model, input);
    write_checkpoint(&record, &tensors, checkpoint).map_err(DetectorError::from)?;
    Ok(())
}

/// Exports our checkpoint (or a run directory's selected one) at `checkpoint` as the authors'
/// safetensors `state_dict` at `pytorch`; returns the configuration it holds.
pub fn export_checkpoint(checkpoint: &Path, pytorch: &Path) -> Result<ModelName, PytorchError> {
    let detector = load(checkpoint, DeviceKind::Cpu)?.detector;
    export(detector.name(), &detector.tensors(), pytorch)?;
    Ok(detector.name())
}

/// The authors' shape of our tensor `dimensions` (a transposed matrix is their conv1x1 weight).
fn authors_shape(dimensions: &[usize], transposed: bool) -> Vec<usize> {
    match (transposed, dimensions) {
        (true, &[rows, columns]) => vec![columns, rows, 1, 1],
        _ => dimensions.to_vec(),
    }
}

/// The transpose of the row-major `rows` x `columns` matrix `values`.
fn transpose(values: &[f32], rows: usize, columns: usize) -> Vec<f32> {
    (0..columns)
        .flat_map(|column| (0..rows).map(move |row| values[row * columns + column]))
        .collect()
}

/// Every tensor of `model` (names and dimensions as in `layout`, e.g.
/// [`crate::model::Detector::tensors`]) read from the authors' safetensors `state_dict` at
/// `path`.
pub fn import(
    path: &Path,
    model: ModelName,
    layout: &[NamedTensor],
) -> Result<Vec<NamedTensor>, PytorchError> {
    let file = TensorFile::read(path)?;
    let present: HashSet<String> = file.names().into_iter().collect();
    let structure = Structure::of(layout.iter().map(|tensor| tensor.name.as_str()));
    let mut claimed = HashSet::new();
    let mut tensors = Vec::with_capacity(layout.len());
    for ours in layout {
        let authors = authors_tensor(&ours.name, structure).ok_or_else(|| {
            PytorchError::NotInAuthorsModel {
                model,
                ours: ours.name.clone(),
            }
        })?;
        let shape = authors_shape(&ours.dimensions, authors.transposed);
        let mut found: Option<(&String, Vec<f32>)> = None;
        for key in authors.keys.iter().filter(|key| present.contains(*key)) {
            let values = file.tensor::<f32>(key, &shape)?;
            match &found {
                None => found = Some((key, values)),
                Some((first, first_values)) => {
                    let equal = first_values
                        .iter()
                        .zip(&values)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    if !equal {
                        return Err(PytorchError::AliasesDiffer {
                            path: path.to_path_buf(),
                            first: first.to_string(),
                            other: key.clone(),
                        });
                    }
                }
            }
        }
        let (_, values) = found.ok_or_else(|| PytorchError::Missing {
            path: path.to_path_buf(),
            key: authors.keys[0].clone(),
            ours: ours.name.clone(),
            model,
        })?;
        let values = match (authors.transposed, ours.dimensions.as_slice()) {
            (true, &[rows, columns]) => transpose(&values, columns, rows),
            _ => values,
        };
        claimed.extend(authors.keys);
        tensors.push(NamedTensor {
            values,
            ..ours.clone()
        });
    }
    let mut unexpected: Vec<&String> = present
        .iter()
        .filter(|key| !claimed.contains(*key) && !key.ends_with(BATCH_COUNTER))
        .collect();
    unexpected.sort();
    match unexpected.first() {
        Some(key) => Err(PytorchError::Unexpected {
            path: path.to_path_buf(),
            key: key.to_string(),
            model,
        }),
        None => Ok(tensors),
    }
}

/// Writes `tensors` (every tensor of `model`) to `path` as the authors' `state_dict`, one key
/// per shared tensor as `safetensors.torch.save_model` writes it, with a zero
/// `num_batches_tracked` for every BatchNorm (we do not count batches; PyTorch reads the count
/// only when momentum is None).
pub fn export(model: ModelName, tensors: &[NamedTensor], path: &Path) -> Result<(), PytorchError> {
    let structure = Structure::of(tensors.iter().map(|tensor| tensor.name.as_str()));
    let mut file = TensorFileWriter::default();
    for ours in tensors {
        let authors = authors_tensor(&ours.name, structure).ok_or_else(|| {
            PytorchError::NotInAuthorsModel {
                model,
                ours: ours.name.clone(),
            }
        })?;
        let key = authors.keys[0].clone();
        let values = match (authors.transposed, ours.dimensions.as_slice()) {
            (true, &[rows, columns]) => transpose(&ours.values, rows, columns),
            _ => ours.values.clone(),
        };
        if let Some(module) = key.strip_suffix(".running_mean") {
            file.integers(format!("{module}{BATCH_COUNTER}"), Vec::new(), &[0]);
        }
        file.tensor(
            key,
            authors_shape(&ours.dimensions, authors.transposed),
            &values,
        );
    }
    Ok(file.write(path)?)
}
