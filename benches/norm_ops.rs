//! Our batch-norm, upsampling and DIAAM-aggregation kernels against the dfdx ops they replace, forward and
//! forward + backward, at the shapes of RRCA-Net's levels (batch 8): 8 channels at 256²,
//! 16 at 128², 64 at 32².
//!
//! `cargo bench --bench norm_ops`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use dfdx::nn::builders::BatchNorm2D as BatchNorm2DBuilder;
use dfdx::prelude::{
    Backward, Bilinear, BroadcastTo, Const, Cpu, DeviceBuildExt, HasShape, ModuleMut, NoneTape,
    OwnedTape, Rank0, SampleTensor, SumTo, Tensor, Trace, TryUpscale2D,
};
use rrcanet::ops::{
    attention_aggregation, batch_norm2d_add_relu, batch_norm2d_relu, upsample_bilinear2x,
    BatchNormMode, ChannelWeights, Image,
};
use std::time::Duration;

const BATCH: usize = 8;

type Traced<const C: usize> = Image<C, f32, Cpu, OwnedTape<f32, Cpu>>;

/// Benchmarks `op` on `x`, forward alone and forward + backward (of the output's sum).
fn forward_and_backward<const C: usize>(
    c: &mut Criterion,
    group: &str,
    name: &str,
    x: &Image<C, f32, Cpu>,
    mut op: impl FnMut(Traced<C>) -> Traced<C>,
) {
    let size = x.shape().2;
    let label = format!("{C}ch@{size}x{size}");
    let mut group = c.benchmark_group(group);
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function(BenchmarkId::new(format!("{name}/forward"), &label), |b| {
        b.iter(|| op(x.leaky_trace()))
    });
    group.bench_function(
        BenchmarkId::new(format!("{name}/forward+backward"), &label),
        |b| {
            b.iter(|| {
                let loss: Tensor<Rank0, f32, Cpu, _> = op(x.leaky_trace()).sum();
                loss.backward()
            })
        },
    );
    group.finish();
}

fn level<const C: usize>(c: &mut Criterion, size: usize) {
    let dev = Cpu::seed_from_u64(0);
    let shape = (BATCH, Const::<C>, size, size);
    let x: Image<C, f32, Cpu> = dev.sample_normal_like(&shape);
    let shortcut: Image<C, f32, Cpu> = dev.sample_normal_like(&shape);
    let mut norm = dev.build_module::<BatchNorm2DBuilder<C>, f32>();

    // What the harness itself costs: tracing, the loss's sum and its backward.
    forward_and_backward(c, "harness", "identity", &x, |x| x);

    forward_and_backward(c, "batch_norm_relu", "ours", &x, |x| {
        batch_norm2d_relu(x, BatchNormMode::Train(&mut norm)).unwrap()
    });
    forward_and_backward(c, "batch_norm_relu", "dfdx", &x, |x| {
        norm.forward_mut(x).relu()
    });
    forward_and_backward(c, "batch_norm_add_relu", "ours", &x, |x| {
        batch_norm2d_add_relu(x, shortcut.clone(), BatchNormMode::Train(&mut norm)).unwrap()
    });
    forward_and_backward(c, "batch_norm_add_relu", "dfdx", &x, |x| {
        (norm.forward_mut(x) + shortcut.clone()).relu()
    });

    let (high, gate): (Image<C, f32, Cpu>, Image<C, f32, Cpu>) = (
        dev.sample_normal_like(&shape),
        dev.sample_normal_like(&shape),
    );
    let weights: ChannelWeights<C, f32, Cpu, NoneTape> =
        dev.sample_normal_like(&(BATCH, Const::<C>));
    forward_and_backward(c, "attention_aggregation", "ours", &x, |low| {
        let traced = |t: &Image<C, f32, Cpu>| t.retaped::<OwnedTape<f32, Cpu>>();
        let weights = weights.retaped::<OwnedTape<f32, Cpu>>();
        attention_aggregation(low, traced(&high), weights, traced(&gate)).unwrap()
    });
    forward_and_backward(c, "attention_aggregation", "dfdx", &x, |low| {
        let weights = weights
            .retaped::<OwnedTape<f32, Cpu>>()
            .broadcast_like(&shape);
        let high = high.retaped::<OwnedTape<f32, Cpu>>();
        low + high * weights * gate.retaped::<OwnedTape<f32, Cpu>>().sigmoid()
    });

    let half: Image<C, f32, Cpu> = dev.sample_normal_like(&(BATCH, Const::<C>, size / 2, size / 2));
    forward_and_backward(c, "upsample_bilinear2x", "ours", &half, |x| {
        upsample_bilinear2x(x).unwrap()
    });
    forward_and_backward(c, "upsample_bilinear2x", "dfdx", &half, |x| {
        x.upscale2d_like(Bilinear, size, size)
    });
}

fn levels(c: &mut Criterion) {
    level::<8>(c, 256);
    level::<16>(c, 128);
    level::<64>(c, 32);
}

criterion_group!(benches, levels);
criterion_main!(benches);
