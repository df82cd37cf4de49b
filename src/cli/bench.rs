//! `rrcanet bench`: training-step and inference speed, with a per-op breakdown (our CPU ops),
//! peak memory and the fraction of the machine's FMA peak per convolution shape (CPU).

use clap::Args;
use rrcanet::benchmark::{self, BenchConfig, BenchReport, Part};
use rrcanet::model::{DeviceKind, ModelName};

/// Arguments of `rrcanet bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The configuration to time.
    #[arg(long, default_value = "r18")]
    model: ModelName,
    /// Batch size of the training step (inference is timed at batch 1 and 8).
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Image height and width of the training step and of the batch-1 and batch-8 inferences.
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Timed runs per measurement, after one warm-up run; the median is reported.
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// cpu, or cuda (needs a build with --features cuda); default: cuda when built with it
    /// and a GPU answers, else cpu. On cuda, peak memory is the host's and the breakdown
    /// counts only the host copies.
    #[arg(long)]
    device: Option<DeviceKind>,
    /// Print the report as JSON (train_step_ms, infer_b1_ms, ..., breakdown) on stdout.
    #[arg(long)]
    json: bool,
}

/// Measures and prints.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let config = BenchConfig {
        model: args.model,
        batch: args.batch,
        size: args.size,
        steps: args.steps,
        device: super::chosen_device(args.device),
    };
    let report = benchmark::run(&config, &mut |step| eprintln!("bench: {step}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn print_report(report: &BenchReport) {
    let machine = &report.machine;
    println!(
        "{} ({}, {} threads, measured FMA peak {:.0} GFLOP/s)",
        machine.cpu, machine.instruction_set, machine.threads, machine.fma_peak_gflops
    );
    println!(
        "{} on {}, median of {} runs after a warm-up; peak resident memory in brackets",
        report.model, report.device, report.steps
    );
    let memory = &report.peak_rss_mb;
    let size = report.size;
    for (what, ms, peak) in [
        (
            format!("training step, batch {} x {size}²", report.batch),
            report.train_step_ms,
            memory.train_step,
        ),
        (
            format!("inference, 1 x {size}²"),
            report.infer_b1_ms,
            memory.infer_b1,
        ),
        (
            format!("inference, 8 x {size}²"),
            report.infer_b8_ms,
            memory.infer_b8,
        ),
        (
            "inference, 1 x 512²".to_string(),
            report.infer_512_ms,
            memory.infer_512,
        ),
        (
            "inference, 1 x 1024²".to_string(),
            report.infer_1024_ms,
            memory.infer_1024,
        ),
    ] {
        let peak = peak.map_or("?".to_string(), |mb| format!("{mb:.0} MiB"));
        println!("  {what:<32} {ms:>10.1} ms  [{peak}]");
    }
    print_breakdown("training step", &report.breakdown.train_step);
    print_breakdown("inference, batch 1", &report.breakdown.infer_b1);
    print_breakdown("inference, batch 8", &report.breakdown.infer_b8);
    if report.conv_shapes.is_empty() {
        return;
    }
    println!(
        "3x3 convolutions on the CPU at batch {} (forward + both gradients):",
        report.batch
    );
    for conv in &report.conv_shapes {
        println!(
            "  {:<12} forward {:>7.1} ms  input grad {:>7.1} ms  weight grad {:>7.1} ms  {:>6.1} GFLOP/s  {:>4.0} % of peak",
            conv.shape,
            conv.forward_ms,
            conv.input_gradient_ms,
            conv.weight_gradient_ms,
            conv.gflops,
            100.0 * conv.fraction_of_peak
        );
    }
}

fn print_breakdown(what: &str, parts: &[Part]) {
    let total: f64 = parts.iter().map(|part| part.ms).sum();
    println!("{what}, where the time went:");
    for part in parts {
        println!(
            "  {:<32} {:>10.1} ms  {:>5.1} %",
            part.part,
            part.ms,
            100.0 * part.ms / total.max(f64::MIN_POSITIVE)
        );
    }
}
