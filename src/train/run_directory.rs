//! A training run's directory: `config.json` (the run's definition), `metrics.csv` (one row
//! per epoch), `last.safetensors` and `best.safetensors` (model checkpoints),
//! `optimizer.safetensors` (the optimizer's state, so a resumed run continues exactly),
//! `state.json` (epochs completed, best epoch, and where inside an epoch a stop request ended
//! the run, whose weights and optimizer state are then in `interrupted.safetensors` and
//! `interrupted-optimizer.safetensors`) and `run.lock` (held by the one process writing the
//! run). Every file is written atomically.

use super::config::TrainConfig;
use super::history::{self, EpochRecord, HistoryError};
use super::TrainError;
use crate::atomic_file;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Progress of a run, for resuming.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub epochs_completed: usize,
    pub best_epoch: Option<usize>,
    /// Where a stop request ended the epoch after `epochs_completed`, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<EpochPosition>,
}

/// A position inside an epoch: what a resumed run needs to continue it exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochPosition {
    /// The training loss of each batch done so far this epoch, in order (the epoch's mean loss
    /// is summed from them as an uninterrupted epoch sums it). The batch order and the
    /// augmentation are functions of (seed, epoch), so nothing else is needed.
    pub batch_losses: Vec<f32>,
}

/// The files of one run, and, while this process writes it, the lock on it.
#[derive(Debug)]
pub struct RunDirectory {
    root: PathBuf,
    /// Held while this process writes the run (an advisory lock on `run.lock`, which the
    /// system releases when the process ends, also when it is killed).
    lock: Option<File>,
    /// Whether this process created the run (and the folder, when it did not exist): a run
    /// that fails before anything but its config was written is then removed again.
    created: Option<Created>,
}

/// What [`RunDirectory::create`] made.
#[derive(Clone, Copy, Debug)]
struct Created {
    folder: bool,
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

/// The lock file's name (not part of a run's content).
const LOCK_FILE: &str = "run.lock";

impl RunDirectory {
    /// Starts a new run in `root` and writes its config. `root` may be missing (it is
    /// created) or an empty folder; a folder holding a run or anything else, or a file, is
    /// an error, so nothing is overwritten. The run is locked while this value lives.
    pub fn create(root: &Path, config: &TrainConfig) -> Result<Self, TrainError> {
        let folder = !root.exists();
        if !folder {
            Self::check_empty(root)?;
        }
        std::fs::create_dir_all(root).map_err(io_error(root))?;
        let mut run = RunDirectory {
            root: root.to_path_buf(),
            lock: None,
            created: None,
        };
        run.lock()?;
        // Checked again under the lock: another process may have started a run meanwhile.
        Self::check_empty(root)?;
        run.created = Some(Created { folder });
        run.write_config(config)?;
        Ok(run)
    }

    /// An error unless `root` is a folder holding nothing but (perhaps) a lock file.
    fn check_empty(root: &Path) -> Result<(), TrainError> {
        if !root.is_dir() {
            return Err(TrainError::NotADirectory(root.to_path_buf()));
        }
        if root.join("config.json").exists() {
            return Err(TrainError::RunExists {
                root: root.to_path_buf(),
            });
        }
        let mut entries = std::fs::read_dir(root).map_err(io_error(root))?;
        let foreign = entries.try_fold(None, |found, entry| {
            let name = entry.map_err(io_error(root))?.file_name();
            Ok::<_, TrainError>(found.or((name != LOCK_FILE).then_some(name)))
        })?;
        match foreign {
            Some(name) => Err(TrainError::NotARun {
                root: root.to_path_buf(),
                entry: name.to_string_lossy().into_owned(),
            }),
            None => Ok(()),
        }
    }

    /// Opens an existing run to read it (its config must be readable); nothing is locked.
    pub fn open(root: &Path) -> Result<(Self, TrainConfig), TrainError> {
        let run = RunDirectory {
            root: root.to_path_buf(),
            lock: None,
            created: None,
        };
        let path = run.config_path();
        if !root.is_dir() {
            return Err(TrainError::NotADirectory(root.to_path_buf()));
        }
        let text = std::fs::read_to_string(&path).map_err(io_error(&path))?;
        let config = serde_json::from_str(&text)
            .map_err(|e| corrupt(&path, format!("not a run config: {e}")))?;
        Ok((run, config))
    }

    /// Opens an existing run to continue it, locked while the value lives.
    pub fn resume(root: &Path) -> Result<(Self, TrainConfig), TrainError> {
        let (mut run, config) = Self::open(root)?;
        run.lock()?;
        Ok((run, config))
    }

    /// Takes the run's lock, or says that another process holds it.
    fn lock(&mut self) -> Result<(), TrainError> {
        let path = self.root.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        match file.try_lock() {
            Ok(()) => {
                self.lock = Some(file);
                Ok(())
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(TrainError::RunInUse {
                root: self.root.clone(),
            }),
            Err(std::fs::TryLockError::Error(source)) => Err(TrainError::Io { path, source }),
        }
    }

    /// Removes a run this process created when nothing but its config was written (a run
    /// that failed in its first epoch), so that the same `--out` can be used again. Returns
    /// whether it did.
    pub fn discard_if_unused(&mut self) -> bool {
        let Some(created) = self.created else {
            return false;
        };
        let written = ["config.json", LOCK_FILE];
        let unused = std::fs::read_dir(&self.root).is_ok_and(|entries| {
            entries
                .flatten()
                .all(|entry| written.iter().any(|name| entry.file_name() == *name))
        });
        if !unused {
            return false;
        }
        self.lock = None;
        let removed = written
            .iter()
            .all(|name| std::fs::remove_file(self.root.join(name)).is_ok());
        if created.folder {
            let _ = std::fs::remove_dir(&self.root);
        }
        removed
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
    /// The learning curves, redrawn after every epoch.
    pub fn curves_png(&self) -> PathBuf {
        self.root.join("curves.png")
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
    /// The weights when a stop request ended an epoch early (see [`RunState::interrupted`]).
    pub fn interrupted_checkpoint(&self) -> PathBuf {
        self.root.join("interrupted.safetensors")
    }
    /// The optimizer's state when a stop request ended an epoch early.
    pub fn interrupted_optimizer_state(&self) -> PathBuf {
        self.root.join("interrupted-optimizer.safetensors")
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

    /// Removes the files of an interrupted epoch once the epoch is complete.
    pub fn remove_interrupted(&self) -> Result<(), TrainError> {
        for path in [
            self.interrupted_checkpoint(),
            self.interrupted_optimizer_state(),
        ] {
            match std::fs::remove_file(&path) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(TrainError::Io {
                        path,
                        source: error,
                    })
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes `state.json`, atomically.
    pub fn write_state(&self, state: &RunState) -> Result<(), TrainError> {
        let path = self.state_path();
        let json = serde_json::to_string_pretty(state).expect("a state serialises");
        atomic_file::write(&path, json.as_bytes()).map_err(io_error(&path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::config::{
        DeviceKind, LossKind, ModelName, OptimizerKind, SchedulerKind, Selection,
    };

    fn config() -> TrainConfig {
        TrainConfig {
            model: ModelName::R10,
            dataset: "/data".into(),
            dataset_fingerprint: None,
            split: None,
            epochs: 1,
            batch_size: 2,
            lr: 0.05,
            optimizer: OptimizerKind::Adagrad,
            scheduler: SchedulerKind::Constant,
            loss: LossKind::Dptk,
            seed: 0,
            selection: Selection::Validation { fraction: 0.1 },
            watch_test: false,
            image_size: 32,
            output_prior: None,
            warmup_epochs: 0,
            device: DeviceKind::Cpu,
            input_channels: 3,
            input: None,
            init_from: None,
        }
    }

    #[test]
    fn a_run_is_locked_while_its_value_lives_and_an_unused_one_is_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("run");
        let mut run = RunDirectory::create(&root, &config()).unwrap();
        assert!(matches!(
            RunDirectory::resume(&root),
            Err(TrainError::RunInUse { .. })
        ));
        assert!(matches!(
            RunDirectory::create(&root, &config()),
            Err(TrainError::RunExists { .. })
        ));
        assert!(RunDirectory::open(&root).is_ok(), "reading needs no lock");
        assert!(run.discard_if_unused());
        assert!(!root.exists());

        let run = RunDirectory::create(&root, &config()).unwrap();
        drop(run);
        let (mut resumed, _) = RunDirectory::resume(&root).unwrap();
        assert!(!resumed.discard_if_unused(), "only the creator discards");
    }
}
