//! `rrcanet bench`: the speed of a training step and of inference on the CPU, measured the
//! way `train` and `infer` run them (through [`Detector`], with the binary's allocator), with
//! a per-op breakdown, the peak resident memory of each measurement and the fraction of the
//! machine's FMA peak each convolution shape reaches.
//!
//! Each measurement is one warm-up run and then the median of `steps` runs. The breakdown is
//! that of the median run: the time our ops spent in each kind of work
//! ([`crate::ops::profile`]), the step's other phases ([`StepTimes`]) and the rest, which is
//! dfdx's own ops (elementwise arithmetic, concatenation, the loss's backward pass) with
//! their allocations and copies, so that the parts add up to the total.

use crate::loss::{Loss, LossKind};
use crate::model::{build, Detector, DetectorError, DeviceKind, Images, ModelName, StepTimes};
use crate::ops::profile::{self, Work};
use crate::ops::{conv2d, instruction_set_name, measured_fma_peak_gflops, Image, OpError};
use crate::optim::OptimizerKind;
use dfdx::prelude::{Backward, Const, Cpu, SampleTensor, SumTo, Tensor, Trace};
use dfdx::tensor::ZerosTensor;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::Serialize;
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// The configuration.
    pub model: ModelName,
    /// Batch size of the training step.
    pub batch: usize,
    /// Height and width of the training step's and the batch inferences' images.
    pub size: usize,
    /// Timed runs per measurement, after one warm-up run.
    pub steps: usize,
    /// Where the model runs (the FMA peak and the convolution shapes are the CPU's).
    pub device: DeviceKind,
}

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("--{what} must be at least 1")]
    Zero { what: &'static str },
    #[error("--size {size} is not a multiple of {multiple}, which {model} needs")]
    Size {
        size: usize,
        multiple: usize,
        model: ModelName,
    },
    #[error(transparent)]
    Detector(#[from] DetectorError),
    #[error(transparent)]
    Op(#[from] OpError),
}

/// The machine a benchmark ran on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// The CPU's model name (`/proc/cpuinfo`).
    pub cpu: String,
    /// The instruction set our kernels use on it.
    pub instruction_set: &'static str,
    /// Threads our kernels run on.
    pub threads: usize,
    /// Measured f32 multiply-add peak of all threads together, GFLOP/s.
    pub fma_peak_gflops: f64,
}

/// One part of a measurement's breakdown.
#[derive(Clone, Debug, Serialize)]
pub struct Part {
    /// What the time went to.
    pub part: String,
    /// Milliseconds.
    pub ms: f64,
}

/// The breakdowns of the median training step and of the median batch-1 and batch-8
/// inferences.
#[derive(Clone, Debug, Serialize)]
pub struct Breakdowns {
    pub train_step: Vec<Part>,
    pub infer_b1: Vec<Part>,
    pub infer_b8: Vec<Part>,
}

/// Peak resident memory of each measurement, MiB (`None` where the system does not say).
#[derive(Clone, Debug, Serialize)]
pub struct PeakMemory {
    pub train_step: Option<f64>,
    pub infer_b1: Option<f64>,
    pub infer_b8: Option<f64>,
    pub infer_512: Option<f64>,
    pub infer_1024: Option<f64>,
}

/// The speed of one convolution shape at the training batch, through the model's op.
#[derive(Clone, Debug, Serialize)]
pub struct ConvSpeed {
    /// `in->out@size`, 3 x 3 kernel.
    pub shape: String,
    pub forward_ms: f64,
    pub input_gradient_ms: f64,
    pub weight_gradient_ms: f64,
    /// GFLOP/s of forward, input and weight gradient together (3 x the forward's FLOPs).
    pub gflops: f64,
    /// `gflops` over the machine's measured FMA peak.
    pub fraction_of_peak: f64,
}

/// Everything `rrcanet bench` measured.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub machine: Machine,
    pub device: DeviceKind,
    pub model: ModelName,
    pub batch: usize,
    pub size: usize,
    pub steps: usize,
    /// Median training step (train-mode forward, DpT-k, backward, AdaGrad), batch `batch`.
    pub train_step_ms: f64,
    /// Median inference of one `size`² image.
    pub infer_b1_ms: f64,
    /// Median inference of 8 `size`² images.
    pub infer_b8_ms: f64,
    /// Median inference of one 512 x 512 image.
    pub infer_512_ms: f64,
    /// Median inference of one 1024 x 1024 image.
    pub infer_1024_ms: f64,
    pub peak_rss_mb: PeakMemory,
    pub breakdown: Breakdowns,
    pub conv_shapes: Vec<ConvSpeed>,
}

/// Runs every measurement of `config`, telling `progress` what it starts.
pub fn run(
    config: &BenchConfig,
    progress: &mut dyn FnMut(&str),
) -> Result<BenchReport, BenchError> {
    for (what, value) in [("batch", config.batch), ("steps", config.steps)] {
        if value == 0 {
            return Err(BenchError::Zero { what });
        }
    }
    let mut detector = build(config.model, config.device, 0)?;
    let multiple = detector.size_multiple();
    if config.size == 0 || !config.size.is_multiple_of(multiple) {
        return Err(BenchError::Size {
            size: config.size,
            multiple,
            model: config.model,
        });
    }
    progress("measuring the machine's FMA peak");
    let machine = Machine {
        cpu: cpu_name(),
        instruction_set: instruction_set_name(),
        threads: rayon::current_num_threads(),
        fma_peak_gflops: measured_fma_peak_gflops(200_000_000),
    };
    let steps = config.steps;
    let mut inference = |count: usize, size: usize| {
        progress(&format!("inference, {count} x {size}²"));
        let images = Batch::new(detector.as_ref(), count, size);
        measure(steps, || {
            let before = profile::snapshot();
            let started = Instant::now();
            detector.predict(images.images())?;
            Ok((started.elapsed(), profile::since(&before), None))
        })
    };
    let infer_b1 = inference(1, config.size)?;
    let infer_512 = inference(1, 512)?;
    let infer_b8 = inference(8, config.size)?;
    let infer_1024 = inference(1, 1024)?;

    progress(&format!(
        "training step, {} x {}²",
        config.batch, config.size
    ));
    detector.set_output_prior(0.01);
    detector.start_training(OptimizerKind::Adagrad, 0.05)?;
    let images = Batch::new(detector.as_ref(), config.batch, config.size);
    let masks = target_masks(config.batch, config.size);
    let loss = Loss::new(LossKind::Dptk);
    let train = measure(steps, || {
        let before = profile::snapshot();
        detector.train_step(images.images(), &masks, &loss)?;
        let times = detector
            .last_step_times()
            .ok_or(DetectorError::NotTraining)?;
        Ok((times.total(), profile::since(&before), Some(times)))
    })?;

    let conv_shapes = match config.device {
        DeviceKind::Cpu => {
            progress("convolution shapes");
            conv_shapes(config.batch, steps, machine.fma_peak_gflops)?
        }
        DeviceKind::Cuda => Vec::new(),
    };
    Ok(BenchReport {
        machine,
        device: config.device,
        model: config.model,
        batch: config.batch,
        size: config.size,
        steps,
        train_step_ms: milliseconds(train.total),
        infer_b1_ms: milliseconds(infer_b1.total),
        infer_b8_ms: milliseconds(infer_b8.total),
        infer_512_ms: milliseconds(infer_512.total),
        infer_1024_ms: milliseconds(infer_1024.total),
        peak_rss_mb: PeakMemory {
            train_step: train.peak_rss_mb,
            infer_b1: infer_b1.peak_rss_mb,
            infer_b8: infer_b8.peak_rss_mb,
            infer_512: infer_512.peak_rss_mb,
            infer_1024: infer_1024.peak_rss_mb,
        },
        breakdown: Breakdowns {
            train_step: breakdown(&train),
            infer_b1: breakdown(&infer_b1),
            infer_b8: breakdown(&infer_b8),
        },
        conv_shapes,
    })
}

/// The median run of a measurement: its time, the op work in it, its step phases (training)
/// and the peak memory over all runs.
struct Measured {
    total: Duration,
    work: Vec<(Work, Duration)>,
    phases: Option<StepTimes>,
    peak_rss_mb: Option<f64>,
}

type Run = (Duration, Vec<(Work, Duration)>, Option<StepTimes>);

/// One warm-up run of `run`, then `steps` timed runs; the median one, with the peak memory.
fn measure(
    steps: usize,
    mut run: impl FnMut() -> Result<Run, BenchError>,
) -> Result<Measured, BenchError> {
    reset_peak_memory();
    run()?;
    let mut runs = (0..steps).map(|_| run()).collect::<Result<Vec<_>, _>>()?;
    runs.sort_by_key(|(total, _, _)| *total);
    let (total, work, phases) = runs.swap_remove(runs.len() / 2);
    Ok(Measured {
        total,
        work,
        phases,
        peak_rss_mb: peak_memory_mb(),
    })
}

/// The parts of a measured run, adding up to its total: our ops' kinds of work, the step's
/// phases other than forward and backward, and the rest.
fn breakdown(measured: &Measured) -> Vec<Part> {
    let mut parts: Vec<Part> = measured
        .work
        .iter()
        .map(|(work, time)| Part {
            part: work.name().to_string(),
            ms: milliseconds(*time),
        })
        .collect();
    if let Some(phases) = measured.phases {
        for (name, time) in [
            ("input-copies", phases.input),
            ("loss-forward", phases.loss),
            ("non-finite-checks", phases.checks),
            ("optimizer", phases.update),
        ] {
            parts.push(Part {
                part: name.to_string(),
                ms: milliseconds(time),
            });
        }
    }
    let counted: f64 = parts.iter().map(|part| part.ms).sum();
    parts.push(Part {
        part: "dfdx-ops-copies-and-allocation".to_string(),
        ms: (milliseconds(measured.total) - counted).max(0.0),
    });
    parts
}

/// Random input images for `detector`, `count` x `size`².
struct Batch {
    values: Vec<f32>,
    count: usize,
    size: usize,
}

impl Batch {
    fn new(detector: &dyn Detector, count: usize, size: usize) -> Self {
        let channels = detector.input().count();
        let mut rng = StdRng::seed_from_u64(0);
        let values = (0..count * channels * size * size)
            .map(|_| rng.gen_range(-2.0..2.0))
            .collect();
        Batch {
            values,
            count,
            size,
        }
    }

    fn images(&self) -> Images<'_> {
        Images {
            values: &self.values,
            count: self.count,
            height: self.size,
            width: self.size,
        }
    }
}

/// A 3 x 3 target per image at a varying position (as scripts/bench_pytorch.py).
fn target_masks(count: usize, size: usize) -> Vec<f32> {
    let mut masks = vec![0.0; count * size * size];
    for image in 0..count {
        let (row, column) = (size / 4 + 7 * image, size / 3 + 11 * image);
        for y in row..row + 3 {
            for x in column..column + 3 {
                masks[image * size * size + (y % size) * size + x % size] = 1.0;
            }
        }
    }
    masks
}

/// RRCA-Net's 3 x 3 convolution shapes (the widths of every stage at its resolution, for
/// 256² input), each timed through the model's op, forward and backward.
fn conv_shapes(batch: usize, steps: usize, peak_gflops: f64) -> Result<Vec<ConvSpeed>, BenchError> {
    let speeds = [
        conv_speed::<3, 8>(batch, 256, steps)?,
        conv_speed::<8, 8>(batch, 256, steps)?,
        conv_speed::<16, 16>(batch, 128, steps)?,
        conv_speed::<32, 32>(batch, 64, steps)?,
        conv_speed::<64, 64>(batch, 32, steps)?,
    ];
    Ok(speeds
        .into_iter()
        .map(|mut speed| {
            speed.fraction_of_peak = speed.gflops / peak_gflops;
            speed
        })
        .collect())
}

/// One shape's median forward, input-gradient and weight-gradient times.
fn conv_speed<const I: usize, const O: usize>(
    batch: usize,
    size: usize,
    steps: usize,
) -> Result<ConvSpeed, BenchError> {
    let device = Cpu::default();
    let weight: Tensor<(Const<O>, Const<I>, Const<3>, Const<3>), f32, Cpu> = device.sample_normal();
    let bias: Tensor<(Const<O>,), f32, Cpu> = device.zeros();
    let x: Image<I, f32, Cpu> = device.sample_normal_like(&(batch, Const, size, size));
    let measured = measure(steps, || {
        let before = profile::snapshot();
        let started = Instant::now();
        let out = conv2d(x.clone().leaky_traced(), &weight, Some(&bias))?;
        let _gradients = out.sum::<(), _>().backward();
        Ok((started.elapsed(), profile::since(&before), None))
    })?;
    let time_of = |kind: Work| {
        measured
            .work
            .iter()
            .find(|(work, _)| *work == kind)
            .map_or(0.0, |(_, time)| milliseconds(*time))
    };
    let forward_ms = time_of(Work::ConvForward);
    let input_gradient_ms = time_of(Work::ConvInputGradient);
    let weight_gradient_ms = time_of(Work::ConvWeightGradient);
    let flops = 3.0 * 2.0 * (batch * I * O * 9 * size * size) as f64;
    let kernel_ms = forward_ms + input_gradient_ms + weight_gradient_ms;
    Ok(ConvSpeed {
        shape: format!("{I}->{O}@{size}"),
        forward_ms,
        input_gradient_ms,
        weight_gradient_ms,
        gflops: flops / (kernel_ms * 1e6),
        fraction_of_peak: 0.0,
    })
}

fn milliseconds(time: Duration) -> f64 {
    time.as_secs_f64() * 1e3
}

/// The CPU's model name from `/proc/cpuinfo`, or "unknown CPU".
fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// Restarts the peak-resident-memory count (Linux: `/proc/self/clear_refs`); elsewhere a
/// no-op, and the peaks read `None`.
fn reset_peak_memory() {
    // Best effort: where the file cannot be written the peak is over the process's life,
    // which only overstates the later measurements.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory since the last reset, MiB (Linux: `VmHWM`).
fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes / 1024.0)
}
