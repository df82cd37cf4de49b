//! Tensor files: the one safetensors codec for everything we save as tensors (model
//! checkpoints, optimiser states). A file holds named f32 or f64 tensors with their shapes and
//! string metadata; it is written atomically ([`crate::atomic_file`]), and every error reading
//! it back names the file and, where one is at fault, the tensor.
//!
//! safetensors stores the metadata as a map, serialised in hash order: a file with a single
//! metadata key (as ours have, each holding a JSON record) is the same bytes every time.

use crate::ops::Float;
use safetensors::tensor::{Dtype, Metadata, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What is wrong with one tensor of a file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TensorProblem {
    /// The file has no tensor of that name.
    #[error("missing")]
    Missing,
    /// The stored shape is not the one asked for.
    #[error("shape {found:?}, expected {expected:?}")]
    Shape {
        /// The stored shape.
        found: Vec<usize>,
        /// The shape asked for.
        expected: Vec<usize>,
    },
    /// The stored element type is not the one asked for.
    #[error("dtype {found}, expected {expected}")]
    Dtype {
        /// The stored element type, as safetensors names it (e.g. `F64`).
        found: String,
        /// The element type asked for (`f32` or `f64`).
        expected: &'static str,
    },
    /// The file holds a tensor its reader does not know.
    #[error("not expected in this file")]
    Unexpected,
}

/// Why a tensor file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum TensorFileError {
    /// The file system failed.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a complete safetensors file (e.g. truncated), or its metadata cannot be
    /// read.
    #[error("{path}: not a valid safetensors file (truncated or corrupt): {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser reported.
        reason: String,
    },
    /// A tensor is missing, unexpected, or has the wrong shape or element type.
    #[error("{path}: tensor `{tensor}`: {problem}")]
    Tensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// What is wrong with it.
        problem: TensorProblem,
    },
}

/// The name of element type `E` in records and messages: `f32` or `f64`.
pub fn dtype_name<E: Float>() -> &'static str {
    if std::mem::size_of::<E>() == 4 {
        "f32"
    } else {
        "f64"
    }
}

fn stored_dtype<E: Float>() -> Dtype {
    if std::mem::size_of::<E>() == 4 {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// `values` as little-endian bytes.
fn encode<E: Float>(values: &[E]) -> Vec<u8> {
    if std::mem::size_of::<E>() == 4 {
        values
            .iter()
            .flat_map(|v| v.to_f32().expect("an f32 element").to_le_bytes())
            .collect()
    } else {
        values
            .iter()
            .flat_map(|v| v.to_f64().expect("an f64 element").to_le_bytes())
            .collect()
    }
}

/// Little-endian `bytes` as elements of type `E` (which the stored dtype matches).
fn decode<E: Float>(bytes: &[u8]) -> Vec<E> {
    if std::mem::size_of::<E>() == 4 {
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .map(|v| E::from(v).expect("an f32 element"))
            .collect()
    } else {
        bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .map(|v| E::from(v).expect("an f64 element"))
            .collect()
    }
}

/// A tensor file being assembled: named tensors and metadata, written by [`Self::write`].
#[derive(Debug, Default)]
pub struct TensorFileWriter {
    tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
    metadata: HashMap<String, String>,
}

impl TensorFileWriter {
    /// Sets metadata `key` to `value`.
    pub fn metadata(&mut self, key: &str, value: String) {
        self.metadata.insert(key.to_string(), value);
    }

    /// Adds tensor `name` of `shape` with `values` in row-major order.
    pub fn tensor<E: Float>(&mut self, name: String, shape: Vec<usize>, values: &[E]) {
        assert_eq!(
            shape.iter().product::<usize>(),
            values.len(),
            "tensor `{name}`: the values do not fill its shape"
        );
        self.tensors
            .push((name, stored_dtype::<E>(), shape, encode(values)));
    }

    /// Adds 64-bit integer tensor `name` of `shape` (e.g. PyTorch's BatchNorm batch counters).
    pub fn integers(&mut self, name: String, shape: Vec<usize>, values: &[i64]) {
        assert_eq!(
            shape.iter().product::<usize>(),
            values.len(),
            "tensor `{name}`: the values do not fill its shape"
        );
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensors.push((name, Dtype::I64, shape, bytes));
    }

    /// Writes the file to `path`, atomically.
    pub fn write(&self, path: &Path) -> Result<(), TensorFileError> {
        let corrupt = |error| TensorFileError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("{error:?}"),
        };
        let views = self
            .tensors
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                TensorView::new(*dtype, shape.clone(), bytes).map(|view| (name, view))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(corrupt)?;
        let bytes = safetensors::serialize(views, &Some(self.metadata.clone())).map_err(corrupt)?;
        crate::atomic_file::write(path, &bytes).map_err(|source| TensorFileError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// A tensor file read into memory, its header checked to describe exactly its bytes.
#[derive(Debug)]
pub struct TensorFile {
    path: PathBuf,
    bytes: Vec<u8>,
    /// Where the tensor data starts in `bytes`.
    data_start: usize,
    header: Metadata,
}

impl TensorFile {
    /// Reads and checks the file at `path`.
    pub fn read(path: &Path) -> Result<Self, TensorFileError> {
        let bytes = std::fs::read(path).map_err(|source| TensorFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let (header_size, header) =
            SafeTensors::read_metadata(&bytes).map_err(|error| TensorFileError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("{error:?}"),
            })?;
        Ok(TensorFile {
            path: path.to_path_buf(),
            bytes,
            data_start: 8 + header_size,
            header,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The metadata value of `key`, if the file has one.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.header
            .metadata()
            .as_ref()
            .and_then(|map| map.get(key))
            .map(String::as_str)
    }

    /// The names of every tensor in the file, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.header.tensors().into_keys().collect();
        names.sort();
        names
    }

    /// The shape of tensor `name`, if the file has it.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.header.info(name).map(|info| info.shape.as_slice())
    }

    /// The values of tensor `name`, which must have `shape` and element type `E`.
    pub fn tensor<E: Float>(&self, name: &str, shape: &[usize]) -> Result<Vec<E>, TensorFileError> {
        let problem = |problem| self.problem(name, problem);
        let info = self
            .header
            .info(name)
            .ok_or_else(|| problem(TensorProblem::Missing))?;
        if info.shape != shape {
            return Err(problem(TensorProblem::Shape {
                found: info.shape.clone(),
                expected: shape.to_vec(),
            }));
        }
        if info.dtype != stored_dtype::<E>() {
            return Err(problem(TensorProblem::Dtype {
                found: format!("{:?}", info.dtype),
                expected: dtype_name::<E>(),
            }));
        }
        // The header's offsets were checked to tile the data exactly.
        let (start, end) = info.data_offsets;
        Ok(decode(
            &self.bytes[self.data_start + start..self.data_start + end],
        ))
    }

    /// The error for `problem` with tensor `name` of this file.
    pub fn problem(&self, name: &str, problem: TensorProblem) -> TensorFileError {
        TensorFileError::Tensor {
            path: self.path.clone(),
            tensor: name.to_string(),
            problem,
        }
    }

    /// The error for metadata that cannot be read, e.g. a record that is not JSON.
    pub fn corrupt(&self, reason: String) -> TensorFileError {
        TensorFileError::Corrupt {
            path: self.path.clone(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(directory: &Path) -> PathBuf {
        let path = directory.join("tensors.safetensors");
        let mut file = TensorFileWriter::default();
        file.metadata("record", "{\"a\":1}".to_string());
        file.tensor(
            "w".to_string(),
            vec![2, 3],
            &[1.0f32, -2.0, 3.5, 0.0, 1e-30, -7.25],
        );
        file.tensor("b".to_string(), vec![2], &[0.1f64, f64::MAX]);
        file.tensor("empty".to_string(), vec![0, 4], &[] as &[f32]);
        file.write(&path).unwrap();
        path
    }

    #[test]
    fn tensors_and_metadata_round_trip_bit_for_bit() {
        let directory = tempfile::tempdir().unwrap();
        let path = written(directory.path());
        let file = TensorFile::read(&path).unwrap();
        assert_eq!(file.path(), path);
        assert_eq!(file.metadata("record"), Some("{\"a\":1}"));
        assert_eq!(file.metadata("other"), None);
        assert_eq!(file.names(), ["b", "empty", "w"]);
        let w: Vec<f32> = file.tensor("w", &[2, 3]).unwrap();
        assert_eq!(w, [1.0, -2.0, 3.5, 0.0, 1e-30, -7.25]);
        let b: Vec<f64> = file.tensor("b", &[2]).unwrap();
        assert_eq!(b, [0.1, f64::MAX]);
        assert!(file.tensor::<f32>("empty", &[0, 4]).unwrap().is_empty());
        let leftovers = std::fs::read_dir(directory.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
    }

    #[test]
    fn the_same_content_gives_the_same_bytes() {
        let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        assert_eq!(
            std::fs::read(written(first.path())).unwrap(),
            std::fs::read(written(second.path())).unwrap()
        );
    }

    #[test]
    fn tensor_errors_name_the_file_the_tensor_and_the_problem() {
        let directory = tempfile::tempdir().unwrap();
        let path = written(directory.path());
        let file = TensorFile::read(&path).unwrap();
        let problem = |error: TensorFileError| match error {
            TensorFileError::Tensor {
                path: found,
                tensor,
                problem,
            } => {
                assert_eq!(found, path);
                (tensor, problem)
            }
            other => panic!("not a tensor error: {other}"),
        };
        assert_eq!(
            problem(file.tensor::<f32>("v", &[2, 3]).unwrap_err()),
            ("v".to_string(), TensorProblem::Missing)
        );
        assert_eq!(
            problem(file.tensor::<f32>("w", &[3, 2]).unwrap_err()),
            (
                "w".to_string(),
                TensorProblem::Shape {
                    found: vec![2, 3],
                    expected: vec![3, 2]
                }
            )
        );
        let error = file.tensor::<f32>("b", &[2]).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("tensors.safetensors") && message.contains("tensor `b`"),
            "{message}"
        );
        assert!(message.ends_with("dtype F64, expected f32"), "{message}");
    }

    #[test]
    fn damaged_and_missing_files_are_errors_naming_the_file() {
        let directory = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(written(directory.path())).unwrap();
        let damaged = directory.path().join("damaged.safetensors");
        let mut garbled = bytes.clone();
        garbled[10] = b'#';
        for content in [
            &bytes[..0],
            &bytes[..7],
            &bytes[..20],
            &bytes[..bytes.len() / 2],
            &bytes[..bytes.len() - 1],
            &garbled[..],
        ] {
            std::fs::write(&damaged, content).unwrap();
            let error = TensorFile::read(&damaged).unwrap_err();
            assert!(
                matches!(error, TensorFileError::Corrupt { .. }),
                "{}: {error}",
                content.len()
            );
            assert!(error.to_string().contains("damaged.safetensors"));
        }
        let error = TensorFile::read(&directory.path().join("missing.safetensors")).unwrap_err();
        assert!(matches!(error, TensorFileError::Io { .. }));
        assert!(error.to_string().contains("missing.safetensors"));
    }
}
