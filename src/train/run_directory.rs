//! A training run's directory: `config.json` (the run's definition), `metrics.csv` (one row
//! per epoch), `last.safetensors` and `best.safetensors` (model checkpoints),
//! `optimizer.safetensors` (AdaGrad's accumulators, so a resumed run continues exactly) and
//! `state.json` (epochs completed, best epoch). Every file is written atomically.

use super::config::TrainConfig;
use super::history::{self, EpochRecord, HistoryError};
use super::optim::Adagrad;
use super::trainer::TrainError;
use crate::atomic_file;
use crate::nn::Backend;
use dfdx::prelude::{HasShape, Tensor};
use safetensors::tensor::{Dtype as SafeDtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Progress of a run, for resuming.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub epochs_completed: usize,
    pub best_epoch: Option<usize>,
}

/// The files of one run.
#[derive(Clone, Debug)]
pub struct RunDirectory {
    root: PathBuf,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn corrupt(path: &Path, problem: impl std::fmt::Display) -> TrainError {
    TrainError::Setup(format!("{}: {problem}", path.display()))
}

impl RunDirectory {
    /// Starts a new run in `root` (created if needed; an existing run there is an error, so
    /// nothing is overwritten) and writes its config.
    pub fn create(root: &Path, config: &TrainConfig) -> Result<Self, TrainError> {
        let run = RunDirectory {
            root: root.to_path_buf(),
        };
        if run.config_path().exists() {
            return Err(TrainError::Setup(format!(
                "{} already holds a run; resume it with --resume {} or choose another --out",
                root.display(),
                root.display()
            )));
        }
        std::fs::create_dir_all(root).map_err(io_error(root))?;
        run.write_config(config)?;
        Ok(run)
    }

    /// Opens an existing run (its config must be readable).
    pub fn open(root: &Path) -> Result<(Self, TrainConfig), TrainError> {
        let run = RunDirectory {
            root: root.to_path_buf(),
        };
        let path = run.config_path();
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        let config = serde_json::from_str(&text)
            .map_err(|e| corrupt(&path, format!("not a run config: {e}")))?;
        Ok((run, config))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.json")
    }
    pub fn metrics_csv(&self) -> PathBuf {
        self.root.join("metrics.csv")
    }
    pub fn last_checkpoint(&self) -> PathBuf {
        self.root.join("last.safetensors")
    }
    pub fn best_checkpoint(&self) -> PathBuf {
        self.root.join("best.safetensors")
    }
    fn state_path(&self) -> PathBuf {
        self.root.join("state.json")
    }
    fn optimizer_path(&self) -> PathBuf {
        self.root.join("optimizer.safetensors")
    }

    /// Rewrites `config.json` (e.g. with a new epoch total when resuming).
    pub fn write_config(&self, config: &TrainConfig) -> Result<(), TrainError> {
        let path = self.config_path();
        let json = serde_json::to_string_pretty(config).expect("a config serialises");
        atomic_file::write(&path, json.as_bytes()).map_err(io_error(&path))
    }

    /// The epochs recorded so far (none for a new run).
    pub fn history(&self) -> Result<Vec<EpochRecord>, HistoryError> {
        let path = self.metrics_csv();
        if path.exists() {
            history::read(&path)
        } else {
            Ok(Vec::new())
        }
    }

    /// The run's progress (nothing done for a new run).
    pub fn state(&self) -> Result<RunState, TrainError> {
        let path = self.state_path();
        if !path.exists() {
            return Ok(RunState::default());
        }
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        serde_json::from_str(&text).map_err(|e| corrupt(&path, format!("not a run state: {e}")))
    }

    pub fn write_state(&self, state: &RunState) -> Result<(), TrainError> {
        let path = self.state_path();
        let json = serde_json::to_string_pretty(state).expect("a state serialises");
        atomic_file::write(&path, json.as_bytes()).map_err(io_error(&path))
    }

    /// Saves AdaGrad's step count and accumulators.
    pub fn save_optimizer_state<M, D: Backend<f32>>(
        &self,
        optimizer: &Adagrad<M, f32, D>,
    ) -> Result<(), TrainError> {
        let path = self.optimizer_path();
        let tensors: Vec<(String, Vec<u8>, usize)> = optimizer
            .state_sums()
            .iter()
            .enumerate()
            .map(|(i, sum)| {
                (
                    format!("sum.{i}"),
                    crate::ops::host_values(sum)
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect(),
                    sum.shape().0,
                )
            })
            .collect();
        let views = tensors
            .iter()
            .map(|(name, bytes, length)| {
                TensorView::new(SafeDtype::F32, vec![*length], bytes)
                    .map(|view| (name.clone(), view))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| corrupt(&path, format!("{e:?}")))?;
        let metadata = HashMap::from([("steps".to_string(), optimizer.steps().to_string())]);
        let bytes = safetensors::serialize(views, &Some(metadata))
            .map_err(|e| corrupt(&path, format!("{e:?}")))?;
        atomic_file::write(&path, &bytes).map_err(io_error(&path))
    }

    /// Restores AdaGrad's state if this run saved one.
    pub fn load_optimizer_state<M, D: Backend<f32>>(
        &self,
        optimizer: &mut Adagrad<M, f32, D>,
        device: &D,
    ) -> Result<(), TrainError> {
        let path = self.optimizer_path();
        if !path.exists() {
            return Ok(());
        }
        let bytes = std::fs::read(&path).map_err(io_error(&path))?;
        let (_, metadata) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| corrupt(&path, format!("not a safetensors file: {e:?}")))?;
        let steps = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get("steps"))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| corrupt(&path, "no step count"))?;
        let tensors = SafeTensors::deserialize(&bytes)
            .map_err(|e| corrupt(&path, format!("not a safetensors file: {e:?}")))?;
        let mut sums: Vec<Tensor<(usize,), f32, D>> = Vec::with_capacity(tensors.len());
        for i in 0..tensors.len() {
            let view = tensors
                .tensor(&format!("sum.{i}"))
                .map_err(|e| corrupt(&path, format!("{e:?}")))?;
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let length = values.len();
            sums.push(
                device
                    .try_tensor_from_vec(values, (length,))
                    .map_err(|e| corrupt(&path, format!("{e:?}")))?,
            );
        }
        optimizer.restore(steps, sums);
        Ok(())
    }
}
