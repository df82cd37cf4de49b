//! One training step of RRCA-Net on the CPU, as `rrcanet train` runs it: forward in train
//! mode, DpT-k loss averaged over the returned logit maps, backward, AdaGrad update; and the
//! forward pass in eval mode. r18 at batch 8 x 256² and r10 at batch 8 x 128², on random
//! images with a few small square targets.
//!
//! A timed loop (each step takes seconds, too long for criterion's sampling): one warm-up
//! step, then `STEPS` timed steps (environment variable, default 3); prints the median and
//! the range.
//!
//! `cargo bench --bench train_step`

use dfdx::prelude::{Backward, Const, Cpu, SampleTensor, Tensor, TensorFromVec, Trace};
use dfdx::prelude::{Optimizer, TensorCollection, ZeroGrads};
use rrcanet::data::RGB_CHANNELS;
use rrcanet::loss::{Loss, LossKind, SegmentationLoss};
use rrcanet::model::configs::{R10, R18};
use rrcanet::model::Segmenter;
use rrcanet::ops::Image;
use rrcanet::optim::{Adagrad, AdagradConfig};
use std::time::{Duration, Instant};

const BATCH: usize = 8;

/// Masks of `BATCH` images of `size`², each with a 3 x 3 target at a varying position.
fn masks(size: usize) -> Vec<f32> {
    let mut data = vec![0.0; BATCH * size * size];
    for image in 0..BATCH {
        let (row, column) = (size / 4 + 7 * image, size / 3 + 11 * image);
        for y in row..row + 3 {
            for x in column..column + 3 {
                data[image * size * size + (y % size) * size + x % size] = 1.0;
            }
        }
    }
    data
}

/// Median, minimum and maximum of `times`, formatted in seconds.
fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    let seconds = |d: &Duration| d.as_secs_f64();
    format!(
        "median {:.3} s (min {:.3}, max {:.3}, {} runs)",
        seconds(&times[times.len() / 2]),
        seconds(&times[0]),
        seconds(&times[times.len() - 1]),
        times.len()
    )
}

/// Times train steps and eval forwards of model `M` at `size`².
fn bench<M: Segmenter<RGB_CHANNELS, f32, Cpu> + TensorCollection<f32, Cpu>>(
    name: &str,
    size: usize,
    steps: usize,
) {
    let device = Cpu::default();
    let mut model = M::build(&device);
    let mut optimizer = Adagrad::new(&model, AdagradConfig::default()).expect("valid config");
    let images: Image<RGB_CHANNELS, f32, Cpu> =
        device.sample_normal_like(&(BATCH, Const, size, size));
    let masks: Tensor<_, f32, Cpu> =
        device.tensor_from_vec(masks(size), (BATCH, Const::<1>, size, size));
    let loss = Loss::new(LossKind::Dptk);
    let mut gradients = model.alloc_grads();

    let mut train_times = Vec::new();
    for step in 0..=steps {
        let started = Instant::now();
        let outputs = model
            .forward_train(images.clone().traced(gradients))
            .expect("forward");
        let passes = outputs.len() as f32;
        let total = outputs
            .into_iter()
            .map(|logits| loss.try_loss(logits, &masks).expect("loss"))
            .reduce(|sum, term| sum + term)
            .expect("a logit map")
            / passes;
        gradients = total.backward();
        optimizer.update(&mut model, &gradients).expect("update");
        model.zero_grads(&mut gradients);
        if step > 0 {
            train_times.push(started.elapsed());
        }
    }
    let mut eval_times = Vec::new();
    for run in 0..=steps {
        let started = Instant::now();
        model.forward_eval(images.clone()).expect("forward");
        if run > 0 {
            eval_times.push(started.elapsed());
        }
    }
    println!(
        "{name} batch {BATCH} x {size}²: train step {}",
        summary(train_times)
    );
    println!(
        "{name} batch {BATCH} x {size}²: eval forward {}",
        summary(eval_times)
    );
}

fn main() {
    let steps = std::env::var("STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    bench::<R18<RGB_CHANNELS, f32, Cpu>>("r18", 256, steps);
    bench::<R10<RGB_CHANNELS, f32, Cpu>>("r10", 128, steps);
}
