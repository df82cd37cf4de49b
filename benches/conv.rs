//! Speed of our 3 x 3 convolution (with bias, batch 8) at RRCA-Net's shapes, forward and
//! forward + backward, as criterion benchmarks and as a GFLOP/s table.
//!
//! `cargo bench --bench conv` runs criterion, then prints the table (median of `RUNS` timed
//! runs after one warm-up, as PyTorch's yardstick does, and our CPU ms per forward + backward
//! summed over threads). With `TORCH_CONV_BENCH` set to the
//! path of `torch_conv_bench.py`, it also runs PyTorch right after each of our shapes, in
//! `ROUNDS` interleaved rounds, and prints the ratios. `CONV_BENCH_TABLE_ONLY=1` skips criterion.

use criterion::Criterion;
use dfdx::prelude::*;
use rrcanet::ops::{conv2d, Bias, ConvWeight, Image};
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

const BATCH: usize = 8;
const RUNS: usize = 9;
const ROUNDS: usize = 3;

/// One benchmarked shape: its label and closures timing forward and forward + backward.
struct Case {
    label: String,
    flops_forward: f64,
    forward: Box<dyn Fn()>,
    forward_backward: Box<dyn Fn()>,
}

fn case<const I: usize, const O: usize>(size: usize) -> Case {
    let dev = Cpu::seed_from_u64(0);
    let x: Image<I, f32, Cpu> = dev.sample_normal_like(&(BATCH, Const, size, size));
    let w: ConvWeight<O, I, 3, f32, Cpu> = dev.sample_normal();
    let b: Bias<O, f32, Cpu> = dev.sample_normal();
    let (x2, w2, b2) = (x.clone(), w.clone(), b.clone());
    Case {
        label: format!("{I}->{O}@{size}"),
        flops_forward: (2 * I * O * 9 * size * size * BATCH) as f64,
        forward: Box::new(move || {
            std::hint::black_box(conv2d(x.clone(), &w, Some(&b)).unwrap());
        }),
        forward_backward: Box::new(move || {
            let out = conv2d(x2.leaky_trace(), &w2, Some(&b2)).unwrap();
            std::hint::black_box(out.sum().backward());
        }),
    }
}

fn cases() -> Vec<Case> {
    vec![
        case::<3, 8>(256),
        case::<8, 8>(256),
        case::<16, 16>(128),
        case::<32, 32>(64),
        case::<64, 64>(32),
    ]
}

/// CPU time this process's threads have run, in ms (Linux's schedstat; None elsewhere).
fn cpu_ms() -> Option<f64> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<f64>().ok()
        })
        .sum::<Option<f64>>()
        .map(|ns| ns / 1e6)
}

/// Median wall-clock ms of `RUNS` runs after a warm-up, and the mean CPU ms per run (all
/// threads): on a shared machine CPU time says more about the kernels than wall time does.
fn median_ms(f: &dyn Fn()) -> (f64, Option<f64>) {
    f();
    let cpu_start = cpu_ms();
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let cpu = cpu_start.zip(cpu_ms()).map(|(a, b)| (b - a) / RUNS as f64);
    times.sort_by(f64::total_cmp);
    (times[RUNS / 2], cpu)
}

/// PyTorch's forward + backward milliseconds per shape label, from the yardstick script.
fn torch_forward_backward_ms(script: &str) -> HashMap<String, f64> {
    let output = Command::new("python3")
        .args([script, "--runs", &RUNS.to_string()])
        .output()
        .expect("python3 runs the PyTorch yardstick");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let json: serde_json::Value = serde_json::from_str(line).ok()?;
            Some((
                json["shape"].as_str()?.to_string(),
                json["fwd_bwd_ms"].as_f64()?,
            ))
        })
        .collect()
}

fn table(cases: &[Case]) {
    let torch = std::env::var("TORCH_CONV_BENCH").ok();
    let rounds = if torch.is_some() { ROUNDS } else { 1 };
    println!(
        "\n{:<12} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "shape",
        "round",
        "fwd ms",
        "fwd GF/s",
        "f+b ms",
        "f+b GF/s",
        "f+b cpu",
        "torch ms",
        "speedup"
    );
    for round in 1..=rounds {
        let torch_ms = torch.as_deref().map(torch_forward_backward_ms);
        for case in cases {
            let (forward, _) = median_ms(&*case.forward);
            let (both, both_cpu) = median_ms(&*case.forward_backward);
            let both_cpu = both_cpu.map_or("-".into(), |ms| format!("{ms:.2}"));
            let torch = torch_ms.as_ref().and_then(|t| t.get(&case.label));
            let (torch, speedup) = match torch {
                Some(t) => (format!("{t:.2}"), format!("{:.2}x", t / both)),
                None => ("-".into(), "-".into()),
            };
            println!(
                "{:<12} {:>6} {:>9.2} {:>9.1} {:>9.2} {:>9.1} {:>9} {:>9} {:>7}",
                case.label,
                round,
                forward,
                case.flops_forward / forward / 1e6,
                both,
                3.0 * case.flops_forward / both / 1e6,
                both_cpu,
                torch,
                speedup
            );
        }
    }
}

fn main() {
    let cases = cases();
    if std::env::var_os("CONV_BENCH_TABLE_ONLY").is_none() {
        let mut criterion = Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args();
        for case in &cases {
            let mut group = criterion.benchmark_group(format!("conv3x3 {}", case.label));
            group.bench_function("forward", |b| b.iter(&*case.forward));
            group.bench_function("forward+backward", |b| b.iter(&*case.forward_backward));
            group.finish();
        }
        criterion.final_summary();
    }
    table(&cases);
}
