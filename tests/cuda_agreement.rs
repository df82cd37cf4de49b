//! The CUDA device against the CPU on a fixed seed: the same weights give the same
//! probabilities in evaluation mode, and one training step (train-mode forward, DpT-k,
//! backward, SGD with learning rate 1, so that each parameter moves by its gradient) moves
//! every parameter and running statistic the same way, within 1e-4 relative to the tensor's
//! largest value, for r10 and r18.
//!
//! Needs a CUDA GPU; run on one with
//! `cargo test --release --features cuda --test cuda_agreement -- --ignored`
//! (a build without `--features cuda` fails these tests, saying so).

use rrcanet::loss::{Loss, LossKind};
use rrcanet::model::{build, load, Detector, DeviceKind, Images, ModelName, NamedTensor};
use rrcanet::optim::OptimizerKind;

const TOLERANCE: f32 = 1e-4;
const BATCH: usize = 2;
const SIZE: usize = 64;

/// Deterministic images in [-2, 2) and a 3 x 3 target in each mask.
fn batch(channels: usize) -> (Vec<f32>, Vec<f32>) {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let images = (0..BATCH * channels * SIZE * SIZE)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 22) as f32 - 2.0
        })
        .collect();
    let mut masks = vec![0.0; BATCH * SIZE * SIZE];
    for image in 0..BATCH {
        let (row, column) = (10 + 20 * image, 30 - 9 * image);
        for y in row..row + 3 {
            for x in column..column + 3 {
                masks[image * SIZE * SIZE + y * SIZE + x] = 1.0;
            }
        }
    }
    (images, masks)
}

/// `actual` within TOLERANCE x (largest |expected|) of `expected`, element by element.
fn assert_agree(actual: &[f32], expected: &[f32], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    let scale = expected
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(1e-6);
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= TOLERANCE * scale,
            "{what}[{i}]: cuda {a}, cpu {e} (largest |value| {scale})"
        );
    }
}

/// How far one training step moved every tensor.
fn step_moves(detector: &mut dyn Detector, images: Images<'_>, masks: &[f32]) -> Vec<NamedTensor> {
    let before = detector.tensors();
    detector
        .start_training(OptimizerKind::Sgd, 1.0)
        .expect("training starts");
    detector
        .train_step(images, masks, &Loss::new(LossKind::Dptk))
        .expect("one training step");
    detector
        .tensors()
        .into_iter()
        .zip(before)
        .map(|(after, before)| NamedTensor {
            values: before
                .values
                .iter()
                .zip(&after.values)
                .map(|(b, a)| b - a)
                .collect(),
            ..after
        })
        .collect()
}

fn check(model: &str) {
    let name: ModelName = model.parse().expect("a configuration name");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let weights = dir.path().join("weights.safetensors");
    let mut cpu = build(name, DeviceKind::Cpu, 0).expect("the CPU model");
    cpu.save_weights(&weights).expect("saving the weights");
    let mut cuda = load(&weights, DeviceKind::Cuda)
        .expect("the CUDA model (needs `--features cuda` and a GPU)")
        .detector;
    let (values, masks) = batch(cpu.input().count());
    let images = || Images {
        values: &values,
        count: BATCH,
        height: SIZE,
        width: SIZE,
    };
    assert_agree(
        &cuda.predict(images()).expect("cuda inference"),
        &cpu.predict(images()).expect("cpu inference"),
        &format!("{model} probabilities"),
    );
    let cuda_moves = step_moves(cuda.as_mut(), images(), &masks);
    let cpu_moves = step_moves(cpu.as_mut(), images(), &masks);
    for (cuda, cpu) in cuda_moves.iter().zip(&cpu_moves) {
        assert_eq!(cuda.name, cpu.name);
        assert_agree(&cuda.values, &cpu.values, &format!("{model} {}", cpu.name));
    }
}

#[test]
#[ignore = "needs a CUDA GPU: cargo test --release --features cuda --test cuda_agreement -- --ignored"]
fn r10_on_cuda_agrees_with_the_cpu() {
    check("r10");
}

#[test]
#[ignore = "needs a CUDA GPU: cargo test --release --features cuda --test cuda_agreement -- --ignored"]
fn r18_on_cuda_agrees_with_the_cpu() {
    check("r18");
}
