//! A training run's directory: `config.json` (the run's definition), `metrics.csv` (one row
//! per epoch), `last.safetensors` and `best.safetensors` (model checkpoints),
//! `optimizer.safetensors` (the optimizer's state, so a resumed run continues exactly) and
//! `state.json` (epochs completed, best epoch). Every file is written atomically.

use super::config::TrainConfig;
use super::history::{self, EpochRecord, HistoryError};
use super::TrainError;
use crate::atomic_file;
use serde::{Deserialize, Serialize};
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
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, problem: impl std::fmt::Display) -> TrainError {
    TrainError::CorruptFile {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    }
}

impl RunDirectory {
    /// Starts a new run in `root` (created if needed; an existing run there is an error, so
    /// nothing is overwritten) and writes its config.
    pub fn create(root: &Path, config: &TrainConfig) -> Result<Self, TrainError> {
        let run = RunDirectory {
            root: root.to_path_buf(),
        };
        if run.config_path().exists() {
            return Err(TrainError::RunExists {
                root: root.to_path_buf(),
            });
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
    /// The optimizer's state (accumulators, moments, step count), for an exact resume.
    pub fn optimizer_state(&self) -> PathBuf {
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
}
