//! Subcommands of the `rrcanet` binary. Each lives in its own file with its clap `Args`
//! and a `run` function; errors carry `anyhow` context and end the process with a clear
//! message and a non-zero exit code.

mod baseline;
mod bench;
mod compare;
mod dataset;
mod eval;
mod infer;
mod metrics;
mod params;
mod progress;
mod pytorch;
mod scores;
mod synth;
mod train;

use clap::{Parser, Subcommand};
use rrcanet::model::DeviceKind;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "rrcanet",
    version,
    about = "RRCA-Net for infrared small target detection"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model (no arguments: a quick run on the built-in synthetic dataset).
    Train(train::TrainArgs),
    /// Evaluate a checkpoint on a dataset split: metrics, ROC, masks and overlays.
    Eval(eval::EvalArgs),
    /// Detect targets in images of any size with a trained checkpoint.
    Infer(infer::InferArgs),
    /// IoU, nIoU, Pd and Fa of predicted PNG masks against ground-truth masks.
    Metrics(metrics::MetricsArgs),
    /// Parameters, paper FLOPs and executed MACs of the named models.
    Params(params::ParamsArgs),
    /// Check a dataset folder and print what it holds.
    Dataset(dataset::DatasetArgs),
    /// Generate a synthetic infrared small-target dataset.
    Synth(synth::SynthArgs),
    /// Run a traditional baseline (top-hat, max-median, MPCM, IPI) and score it as eval does.
    Baseline(baseline::BaselineArgs),
    /// Time a training step and inference, with a per-op breakdown and peak memory.
    Bench(bench::BenchArgs),
    /// Evaluations side by side: one results table and their ROC curves on one plot.
    Compare(compare::CompareArgs),
    /// Import the authors' PyTorch RRCANet weights (safetensors) as a checkpoint.
    Import(pytorch::ImportArgs),
    /// Export a checkpoint as the authors' PyTorch RRCANet weights (safetensors).
    Export(pytorch::ExportArgs),
}

/// The device named by `--device`, or the default (CUDA when this build has it and a GPU
/// answers, else the CPU) with a one-line note on stderr saying why.
fn chosen_device(named: Option<DeviceKind>) -> DeviceKind {
    named.unwrap_or_else(|| {
        let (device, reason) = rrcanet::model::default_device();
        eprintln!("device: {device} ({reason}; --device picks one)");
        device
    })
}

/// The value parser of `--input-channels`: 1 or 3.
fn channel_count(text: &str) -> Result<usize, String> {
    match text {
        "1" => Ok(1),
        "3" => Ok(3),
        _ => Err(format!(
            "expected 1 (grey) or 3 (grey replicated to RGB), got `{text}`"
        )),
    }
}

pub fn main() -> ExitCode {
    let success = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    let result = match Cli::parse().command {
        Command::Train(args) => train::run(args),
        Command::Eval(args) => success(eval::run(args)),
        Command::Infer(args) => success(infer::run(args)),
        Command::Metrics(args) => success(metrics::run(args)),
        Command::Params(args) => success(params::run(args)),
        Command::Dataset(args) => success(dataset::run(args)),
        Command::Synth(args) => success(synth::run(args)),
        Command::Baseline(args) => success(baseline::run(args)),
        Command::Bench(args) => success(bench::run(args)),
        Command::Compare(args) => success(compare::run(args)),
        Command::Import(args) => success(pytorch::import(args)),
        Command::Export(args) => success(pytorch::export(args)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
