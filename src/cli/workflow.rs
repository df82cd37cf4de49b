//! The researcher's workflow as library calls: train a named model, evaluate a checkpoint on
//! a dataset split, run inference on image files. Each picks the model type named in its
//! config or checkpoint ([`rrcanet::with_model!`]) and the device, then runs the generic code
//! in [`rrcanet::train`] and [`rrcanet::inference`].

use dfdx::nn::BuildModule;
use dfdx::prelude::Cpu;
use dfdx::tensor::RandomU64;
use rrcanet::data::resample::resize_bilinear;
use rrcanet::data::{
    read_image, BatchLoader, Dataset, DatasetOptions, DatasetWarning, ImageReadError, LoaderConfig,
    Sample, TargetMask, Transform,
};
use rrcanet::inference::detections::{detect_targets, DetectedTarget};
use rrcanet::inference::{outputs, PredictError};
use rrcanet::metrics::{
    Compatibility, MetricsAccumulator, MetricsConfig, RocCurve, ScoreKind, Summary,
};
use rrcanet::model::{load_checkpoint, read_record, CheckpointError, ModelName, Segmenter};
use rrcanet::train::{
    DeviceKind, RunDirectory, TrainConfig, TrainError, TrainObserver, TrainOutcome,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The input channels every command-line model takes (the authors' RGB replication).
const INPUT_CHANNELS: usize = rrcanet::data::RGB_CHANNELS;

/// Opens the dataset a run trains on; warnings (e.g. resized masks) are returned for the
/// caller to show.
pub fn open_dataset(config: &TrainConfig) -> Result<(Dataset, Vec<DatasetWarning>), TrainError> {
    let options = DatasetOptions {
        split: config.split.clone(),
        strict: false,
    };
    let dataset =
        Dataset::open(&config.dataset, &options).map_err(|e| TrainError::Setup(e.to_string()))?;
    let warnings = dataset.warnings.clone();
    Ok((dataset, warnings))
}

/// Trains (or resumes) the run in `run` as `config` says.
pub fn train(
    config: &TrainConfig,
    dataset: &Dataset,
    run: &RunDirectory,
    stop: &AtomicBool,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome, TrainError> {
    let name: ModelName = config
        .model
        .parse()
        .map_err(|e: rrcanet::names::UnknownName| TrainError::Setup(e.to_string()))?;
    match config.device {
        DeviceKind::Cpu => {
            let device = Cpu::seed_from_u64(config.seed);
            rrcanet::with_model!(name, M => rrcanet::train::train::<INPUT_CHANNELS, M<INPUT_CHANNELS, f32, Cpu>, Cpu>(device, config, dataset, run, stop, observer))
        }
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => {
            use dfdx::prelude::Cuda;
            let device = Cuda::try_seed_from_u64(config.seed).map_err(|e| TrainError::Setup(format!("no usable CUDA device: {e:?}")))?;
            rrcanet::with_model!(name, M => rrcanet::train::train::<INPUT_CHANNELS, M<INPUT_CHANNELS, f32, Cuda>, Cuda>(device, config, dataset, run, stop, observer))
        }
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => Err(TrainError::Setup(
            "this build has no CUDA support; rebuild with `cargo run --release --features cuda -- train ...`".into(),
        )),
    }
}

/// Draws a random seed when the caller gave none (recorded in the config for reruns).
pub fn fresh_seed() -> u64 {
    Cpu::default().random_u64()
}

/// How evaluation images are sized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Resized to `size` x `size` (image bilinear, mask nearest): the reference protocol.
    Resize(usize),
    /// Native resolution, zero padded for the network; metrics on the unpadded region only.
    Native,
}

/// What `evaluate` reports: metrics as defined and in the reference code's convention, and
/// the ROC sweep.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvaluationReport {
    pub model: String,
    pub checkpoint: PathBuf,
    pub dataset: PathBuf,
    pub part: String,
    pub metrics: Summary,
    /// The same predictions scored with the reference code's quirks (`--compat legacy`).
    pub legacy_metrics: Summary,
    pub roc: RocCurve,
}

/// Why a workflow step failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Predict(#[from] PredictError),
    #[error(transparent)]
    Read(#[from] ImageReadError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The checkpoint file of `path`: a run directory's `best.safetensors` (or `last` when there
/// is no best yet), or the file itself.
pub fn checkpoint_file(path: &Path) -> Result<PathBuf, WorkflowError> {
    if path.is_dir() {
        ["best.safetensors", "last.safetensors"]
            .iter()
            .map(|name| path.join(name))
            .find(|file| file.exists())
            .ok_or_else(|| {
                WorkflowError::Input(format!(
                    "{}: no best.safetensors or last.safetensors in this run directory",
                    path.display()
                ))
            })
    } else if path.exists() {
        Ok(path.to_path_buf())
    } else {
        Err(WorkflowError::Input(format!(
            "{}: no such checkpoint file or run directory",
            path.display()
        )))
    }
}

/// Builds the model a checkpoint holds on the CPU, loads it, and runs `body` with it. The
/// model type is chosen at run time from the checkpoint's record.
macro_rules! with_checkpoint {
    ($checkpoint:expr, |$model:ident, $device:ident, $multiple:ident| $body:expr) => {{
        let checkpoint: &Path = $checkpoint;
        let record = read_record(checkpoint)?;
        let name: ModelName = record
            .model
            .parse()
            .map_err(|e: rrcanet::names::UnknownName| WorkflowError::Input(format!("{}: {e}", checkpoint.display())))?;
        if record.in_channels != INPUT_CHANNELS || record.dtype != "f32" {
            return Err(WorkflowError::Input(format!(
                "{}: holds {record}; the command line runs {INPUT_CHANNELS}-channel f32 models",
                checkpoint.display()
            )));
        }
        let $device = Cpu::default();
        rrcanet::with_model!(name, M => {
            let mut $model = <M<INPUT_CHANNELS, f32, Cpu> as BuildModule<Cpu, f32>>::build(&$device);
            load_checkpoint(&mut $model, &record, checkpoint)?;
            let $multiple = <M<INPUT_CHANNELS, f32, Cpu> as Segmenter<INPUT_CHANNELS, f32, Cpu>>::SIZE_MULTIPLE;
            $body
        })
    }};
}

fn create_dir(path: &Path) -> Result<(), WorkflowError> {
    std::fs::create_dir_all(path).map_err(|source| WorkflowError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Evaluates `checkpoint` (a file or run directory) on split `part` of `dataset`, and when
/// `out` is given writes there `metrics.json`, `roc.csv`, `roc.png`, the predicted masks under
/// `masks/` and overlays (prediction red, ground truth green) under `overlays/`.
pub fn evaluate(
    checkpoint: &Path,
    dataset: &Dataset,
    part: &str,
    resolution: Resolution,
    roc_bins: usize,
    out: Option<&Path>,
) -> Result<EvaluationReport, WorkflowError> {
    let file = checkpoint_file(checkpoint)?;
    let indices = dataset.split(part).map(<[usize]>::to_vec).ok_or_else(|| {
        WorkflowError::Input(format!(
            "{}: split scheme `{}` has no `{part}` split",
            dataset.root.display(),
            dataset.scheme.name
        ))
    })?;
    let by_id: HashMap<&str, usize> = dataset
        .samples
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    if let Some(out) = out {
        create_dir(&out.join("masks"))?;
        create_dir(&out.join("overlays"))?;
    }
    let metrics_config = |compatibility| MetricsConfig {
        scores: ScoreKind::Logit,
        compatibility,
        ..Default::default()
    };
    let mut corrected = MetricsAccumulator::new(MetricsConfig {
        roc_bins: Some(roc_bins),
        ..metrics_config(Compatibility::Corrected)
    })
    .map_err(PredictError::from)?;
    let mut legacy = MetricsAccumulator::new(metrics_config(Compatibility::Legacy))
        .map_err(PredictError::from)?;
    let model_name = read_record(&file)?.model;
    with_checkpoint!(&file, |model, device, multiple| {
        let mut config = LoaderConfig::evaluation(1);
        config.transform = match resolution {
            Resolution::Resize(size) => Transform::Resize { size },
            Resolution::Native => Transform::Native { multiple },
        };
        if let Resolution::Resize(size) = resolution {
            if size % multiple != 0 {
                return Err(WorkflowError::Input(format!("--resize {size} is not a multiple of {multiple}, which model {model_name} needs")));
            }
        }
        let loader = BatchLoader::new(dataset.samples.clone(), indices, config);
        rrcanet::inference::predict::<INPUT_CHANNELS, _, Cpu>(
            &mut model,
            &device,
            &loader,
            |prediction| {
                corrected.update(
                    &prediction.logits,
                    &prediction.target,
                    prediction.width,
                    prediction.height,
                )?;
                legacy.update(
                    &prediction.logits,
                    &prediction.target,
                    prediction.width,
                    prediction.height,
                )?;
                if let Some(out) = out {
                    let predicted: Vec<bool> = prediction.logits.iter().map(|&x| x > 0.0).collect();
                    let name = format!("{}.png", prediction.id);
                    outputs::write_mask(
                        &out.join("masks").join(&name),
                        prediction.width,
                        prediction.height,
                        &predicted,
                    )?;
                    let image = &dataset.samples[by_id[prediction.id.as_str()]].image;
                    let gray = resize_bilinear(
                        &image.luminance(),
                        image.width,
                        image.height,
                        prediction.width,
                        prediction.height,
                    );
                    outputs::write_overlay(
                        &out.join("overlays").join(&name),
                        prediction.width,
                        prediction.height,
                        &gray,
                        &predicted,
                        &prediction.target,
                    )?;
                }
                Ok(())
            },
        )?;
    });
    let report = EvaluationReport {
        model: model_name,
        checkpoint: file,
        dataset: dataset.root.clone(),
        part: part.to_string(),
        metrics: corrected.summary(),
        legacy_metrics: legacy.summary(),
        roc: corrected.roc().expect("the sweep was configured"),
    };
    if let Some(out) = out {
        let path = out.join("metrics.json");
        let json = serde_json::to_string_pretty(&report).expect("a report serialises");
        rrcanet::atomic_file::write(&path, json.as_bytes())
            .map_err(|source| WorkflowError::Io { path, source })?;
        outputs::write_roc_csv(&out.join("roc.csv"), &report.roc).map_err(PredictError::from)?;
        let title = format!("{} on {} ({})", report.model, dataset.root.display(), part);
        outputs::write_roc_plot(&out.join("roc.png"), &report.roc, &title)
            .map_err(PredictError::from)?;
    }
    Ok(report)
}

/// One input image's detections.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImageDetections {
    pub image: PathBuf,
    pub width: usize,
    pub height: usize,
    pub targets: Vec<DetectedTarget>,
}

/// Runs `checkpoint` on each image file at its native size; writes one mask PNG per input
/// under `out/masks/` and `out/detections.json`.
pub fn infer(
    checkpoint: &Path,
    inputs: &[PathBuf],
    out: &Path,
    threshold: f32,
) -> Result<Vec<ImageDetections>, WorkflowError> {
    if !(0.0..1.0).contains(&threshold) {
        return Err(WorkflowError::Input(format!(
            "threshold {threshold} is not a probability in [0, 1)"
        )));
    }
    let file = checkpoint_file(checkpoint)?;
    let mut samples = Vec::with_capacity(inputs.len());
    for path in inputs {
        let image = read_image(path)?;
        let mask = TargetMask {
            width: image.width,
            height: image.height,
            pixels: vec![0; image.width * image.height],
        };
        samples.push(Sample {
            id: samples.len().to_string(),
            image,
            mask,
        });
    }
    create_dir(&out.join("masks"))?;
    let mut detections = Vec::with_capacity(inputs.len());
    with_checkpoint!(&file, |model, device, multiple| {
        let mut config = LoaderConfig::evaluation(1);
        config.transform = Transform::Native { multiple };
        let loader = BatchLoader::new(Arc::new(samples), (0..inputs.len()).collect(), config);
        rrcanet::inference::predict::<INPUT_CHANNELS, _, Cpu>(
            &mut model,
            &device,
            &loader,
            |prediction| {
                let source = &inputs[prediction.id.parse::<usize>().expect("ids are indices")];
                let probabilities = prediction.probabilities();
                let mask: Vec<bool> = probabilities.iter().map(|&p| p > threshold).collect();
                let stem = source
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| prediction.id.clone());
                outputs::write_mask(
                    &out.join("masks").join(format!("{stem}.png")),
                    prediction.width,
                    prediction.height,
                    &mask,
                )?;
                detections.push(ImageDetections {
                    image: source.clone(),
                    width: prediction.width,
                    height: prediction.height,
                    targets: detect_targets(
                        &probabilities,
                        prediction.width,
                        prediction.height,
                        threshold,
                    ),
                });
                Ok(())
            },
        )?;
    });
    let path = out.join("detections.json");
    let json = serde_json::to_string_pretty(&detections).expect("detections serialise");
    rrcanet::atomic_file::write(&path, json.as_bytes())
        .map_err(|source| WorkflowError::Io { path, source })?;
    Ok(detections)
}
