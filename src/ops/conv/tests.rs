//! The convolution against its reference and finite differences, for every algorithm, and
//! the direct kernels for every instruction set.

use super::*;
use crate::ops::simd::{InstructionSet, TEST_CAP};
use crate::ops::test_support::{assert_close, numeric_gradient};
use dfdx::prelude::*;
use std::sync::atomic::Ordering;

/// The weighted sum of the conv output, so every output element gets its own gradient.
fn conv_loss<const I: usize, const O: usize, const K: usize>(
    algorithm: ConvAlgorithm,
    dev: &Cpu,
    shape: (usize, usize, usize),
    [x, w, b]: [&[f64]; 3],
    mix: &[f64],
) -> f64 {
    let (batch, height, width) = shape;
    let x: Image<I, f64, Cpu> = dev.tensor_from_vec(x.to_vec(), (batch, Const, height, width));
    let w: ConvWeight<O, I, K, f64, Cpu> = dev.tensor_from_vec(w.to_vec(), Default::default());
    let b: Bias<O, f64, Cpu> = dev.tensor_from_vec(b.to_vec(), Default::default());
    let out = conv2d_with(algorithm, x, &w, Some(&b)).unwrap().as_vec();
    out.iter().zip(mix).map(|(o, m)| o * m).sum()
}

/// Input, weight and bias gradients of every algorithm against finite differences.
fn check_conv_gradients<const I: usize, const O: usize, const K: usize>(
    shape: (usize, usize, usize),
) {
    let dev = Cpu::seed_from_u64(7);
    let (batch, height, width) = shape;
    let x: Image<I, f64, Cpu> = dev.sample_normal_like(&(batch, Const, height, width));
    let w: ConvWeight<O, I, K, f64, Cpu> = dev.sample_normal();
    let b: Bias<O, f64, Cpu> = dev.sample_normal();
    let mix: Image<O, f64, Cpu> = dev.sample_normal_like(&(batch, Const, height, width));
    let (xv, wv, bv, mv) = (x.as_vec(), w.as_vec(), b.as_vec(), mix.as_vec());
    for algorithm in ConvAlgorithm::ALL {
        let out = conv2d_with(algorithm, x.leaky_trace(), &w, Some(&b)).unwrap();
        let grads = (out * mix.clone()).sum().backward();
        let loss = |values: [&[f64]; 3]| conv_loss::<I, O, K>(algorithm, &dev, shape, values, &mv);
        let what = |name: &str| format!("{algorithm:?}: {name}");
        assert_close(
            &grads.get(&x).as_vec(),
            &numeric_gradient(&xv, 1e-5, |v| loss([v, &wv, &bv])),
            1e-6,
            &what("input"),
        );
        assert_close(
            &grads.get(&w).as_vec(),
            &numeric_gradient(&wv, 1e-5, |v| loss([&xv, v, &bv])),
            1e-6,
            &what("weight"),
        );
        assert_close(
            &grads.get(&b).as_vec(),
            &numeric_gradient(&bv, 1e-5, |v| loss([&xv, &wv, v])),
            1e-6,
            &what("bias"),
        );
    }
}

#[test]
fn conv3x3_gradients_match_finite_differences() {
    check_conv_gradients::<3, 5, 3>((2, 5, 7));
}

#[test]
fn conv1x1_gradients_match_finite_differences() {
    check_conv_gradients::<4, 2, 1>((2, 3, 4));
}

#[test]
fn conv_with_wide_rows_and_many_channels_matches_finite_differences() {
    // More than one strip per row and more than one block of output channels.
    check_conv_gradients::<2, 11, 3>((1, 3, 37));
}

#[test]
fn weight_gradients_accumulate_over_uses() {
    // One weight used twice in one graph (RuCB's weight sharing): its gradient must be the
    // sum of the two uses' gradients, each computed on its own graph.
    let dev = Cpu::seed_from_u64(11);
    let x1: Image<4, f64, Cpu> = dev.sample_normal_like(&(2, Const, 6, 5));
    let x2: Image<4, f64, Cpu> = dev.sample_normal_like(&(2, Const, 6, 5));
    let w: ConvWeight<3, 4, 3, f64, Cpu> = dev.sample_normal();
    let b: Bias<3, f64, Cpu> = dev.sample_normal();
    for algorithm in ConvAlgorithm::ALL {
        let use_once = |x: &Image<4, f64, Cpu>, tape: OwnedTape<f64, Cpu>| {
            conv2d_with(algorithm, x.clone().put_tape(tape), &w, Some(&b)).unwrap()
        };
        let both = use_once(&x1, Default::default()) + use_once(&x2, Default::default());
        let shared = both.square().sum().backward();

        let (out1, out2) = (
            conv2d_with(algorithm, x1.clone(), &w, Some(&b)).unwrap(),
            conv2d_with(algorithm, x2.clone(), &w, Some(&b)).unwrap(),
        );
        // d(sum(y²))/dy = 2y, with y the sum of both uses.
        let upstream = (out1 + out2) * 2.0;
        let alone = |x: &Image<4, f64, Cpu>| {
            (use_once(x, Default::default()) * upstream.clone())
                .sum()
                .backward()
        };
        let (grads1, grads2) = (alone(&x1), alone(&x2));
        let sum =
            |a: Vec<f64>, b: Vec<f64>| a.iter().zip(&b).map(|(a, b)| a + b).collect::<Vec<_>>();
        assert_close(
            &shared.get(&w).as_vec(),
            &sum(grads1.get(&w).as_vec(), grads2.get(&w).as_vec()),
            1e-6,
            &format!("{algorithm:?}: shared weight"),
        );
        assert_close(
            &shared.get(&b).as_vec(),
            &sum(grads1.get(&b).as_vec(), grads2.get(&b).as_vec()),
            1e-6,
            &format!("{algorithm:?}: shared bias"),
        );
    }
}

#[test]
fn recurrent_weight_gradient_matches_finite_differences() {
    // The same weight applied twice in a chain, as RuCB's recurrence does.
    let dev = Cpu::seed_from_u64(5);
    let x: Image<3, f64, Cpu> = dev.sample_normal_like(&(1, Const, 5, 6));
    let w: ConvWeight<3, 3, 3, f64, Cpu> = dev.sample_normal::<Rank4<3, 3, 3, 3>>() * 0.3;
    for algorithm in ConvAlgorithm::ALL {
        let loss = |w: &ConvWeight<3, 3, 3, f64, Cpu>,
                    x: Image<3, f64, Cpu, OwnedTape<f64, Cpu>>| {
            let once = conv2d_with(algorithm, x, w, None).unwrap().tanh();
            conv2d_with(algorithm, once, w, None)
                .unwrap()
                .square()
                .sum()
        };
        let grads = loss(&w, x.leaky_trace()).backward();
        let numeric = numeric_gradient(&w.as_vec(), 1e-5, |v| {
            let w = dev.tensor_from_vec(v.to_vec(), Default::default());
            loss(&w, x.leaky_trace()).array()
        });
        assert_close(
            &grads.get(&w).as_vec(),
            &numeric,
            1e-6,
            &format!("{algorithm:?}: recurrent weight"),
        );
    }
}

/// Output and every gradient of every algorithm against the reference, in f64.
fn check_reference<const I: usize, const O: usize, const K: usize>(shape: (usize, usize, usize)) {
    let dev = Cpu::seed_from_u64(1);
    let (batch, height, width) = shape;
    let x: Image<I, f64, Cpu> = dev.sample_normal_like(&(batch, Const, height, width));
    let w: ConvWeight<O, I, K, f64, Cpu> = dev.sample_normal();
    let b: Bias<O, f64, Cpu> = dev.sample_normal();
    let mix: Image<O, f64, Cpu> = dev.sample_normal_like(&(batch, Const, height, width));
    let conv_shape = ConvShape::of::<I, O, K>(x.shape());
    let expected =
        reference::conv2d_forward(conv_shape, &x.as_vec(), &w.as_vec(), Some(&b.as_vec()));
    let mut grad_input = vec![0.0; x.as_vec().len()];
    let mut grad_weight = vec![0.0; w.as_vec().len()];
    let mut grad_bias = vec![0.0; O];
    reference::conv2d_backward(
        conv_shape,
        &x.as_vec(),
        &w.as_vec(),
        &mix.as_vec(),
        &mut grad_input,
        &mut grad_weight,
        Some(&mut grad_bias),
    );
    for algorithm in ConvAlgorithm::ALL {
        let what = |name: &str| format!("{algorithm:?}: {name}");
        let out = conv2d_with(algorithm, x.leaky_trace(), &w, Some(&b)).unwrap();
        assert_close(&out.as_vec(), &expected, 1e-9, &what("output"));
        let grads = (out * mix.clone()).sum().backward();
        assert_close(
            &grads.get(&x).as_vec(),
            &grad_input,
            1e-9,
            &what("input gradient"),
        );
        assert_close(
            &grads.get(&w).as_vec(),
            &grad_weight,
            1e-9,
            &what("weight gradient"),
        );
        assert_close(
            &grads.get(&b).as_vec(),
            &grad_bias,
            1e-9,
            &what("bias gradient"),
        );
    }
}

#[test]
fn conv3x3_matches_reference() {
    check_reference::<3, 4, 3>((2, 5, 7));
}

#[test]
fn conv1x1_matches_reference() {
    check_reference::<2, 3, 1>((2, 4, 3));
}

#[test]
fn every_algorithm_rejects_even_kernels() {
    let dev = Cpu::default();
    let x: Image<1, f64, Cpu> = dev.zeros_like(&(1, Const, 3, 4));
    let w: ConvWeight<1, 1, 2, f64, Cpu> = dev.zeros();
    for algorithm in ConvAlgorithm::ALL {
        assert!(matches!(
            conv2d_with(algorithm, x.clone(), &w, None),
            Err(OpError::EvenKernel(2))
        ));
    }
}

#[test]
fn the_cpu_runs_the_direct_kernels() {
    for kernel in [1, 3, 5] {
        let shape = ConvShape {
            batch: 8,
            in_channels: 16,
            out_channels: 32,
            height: 64,
            width: 64,
            kernel,
        };
        assert_eq!(
            ConvAlgorithm::select(&shape, DeviceKind::Cpu),
            ConvAlgorithm::Direct
        );
    }
}

/// Deterministic values in [-1, 1).
fn values<E: Float>(len: usize, seed: u64) -> Vec<E> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            E::from((state >> 40) as f64 / (1u64 << 23) as f64 - 1.0).unwrap()
        })
        .collect()
}

/// The direct kernels on plain slices against the reference, accumulating into non-zero
/// gradients.
fn check_direct<E: Float, const K: usize>(shape: ConvShape, tolerance: f64) {
    let shape = ConvShape { kernel: K, ..shape };
    let input = values::<E>(
        shape.batch * shape.in_channels * shape.height * shape.width,
        1,
    );
    let grad_out = values::<E>(
        shape.batch * shape.out_channels * shape.height * shape.width,
        2,
    );
    let weight = values::<E>(shape.out_channels * shape.in_channels * K * K, 3);
    let bias = values::<E>(shape.out_channels, 4);
    let close = |ours: &[E], reference: &[E], what: &str| {
        let f64s = |v: &[E]| v.iter().map(|v| v.to_f64().unwrap()).collect::<Vec<_>>();
        assert_close(
            &f64s(ours),
            &f64s(reference),
            tolerance,
            &format!("{what} {shape:?}"),
        );
    };
    close(
        &direct::conv2d_forward::<E, K>(shape, &input, &weight, Some(&bias), direct::Finish::Store),
        &reference::conv2d_forward(shape, &input, &weight, Some(&bias)),
        "output",
    );
    // Start from non-zero gradients: the kernels must add to them.
    let start = |len: usize| values::<E>(len, 5);
    let (mut ours_input, mut ours_weight, mut ours_bias) =
        (start(input.len()), start(weight.len()), start(bias.len()));
    let (mut ref_input, mut ref_weight, mut ref_bias) =
        (ours_input.clone(), ours_weight.clone(), ours_bias.clone());
    direct::conv2d_backward_input::<E, K>(shape, &weight, &grad_out, &mut ours_input);
    direct::conv2d_backward_weight::<E, K>(
        shape,
        &input,
        &grad_out,
        &mut ours_weight,
        Some(&mut ours_bias),
    );
    reference::conv2d_backward(
        shape,
        &input,
        &weight,
        &grad_out,
        &mut ref_input,
        &mut ref_weight,
        Some(&mut ref_bias),
    );
    close(&ours_input, &ref_input, "input gradient");
    close(&ours_weight, &ref_weight, "weight gradient");
    close(&ours_bias, &ref_bias, "bias gradient");
}

/// A convolution's sizes; `check_direct` fills in the kernel size.
fn shape(
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    height: usize,
    width: usize,
) -> ConvShape {
    ConvShape {
        batch,
        in_channels,
        out_channels,
        height,
        width,
        kernel: 0,
    }
}

#[test]
fn every_instruction_set_matches_reference() {
    let widest = InstructionSet::detect();
    for set in [
        InstructionSet::Portable,
        InstructionSet::Avx2,
        InstructionSet::Avx512,
    ] {
        if set > widest {
            continue;
        }
        TEST_CAP.store(set as u8, Ordering::Relaxed);
        // Widths below, at and past a strip; a full block of 8 plus 4 and 1 channels.
        check_direct::<f32, 3>(shape(2, 3, 13, 5, 37), 1e-5);
        check_direct::<f32, 3>(shape(2, 8, 8, 9, 64), 1e-5);
        check_direct::<f32, 1>(shape(2, 5, 3, 3, 7), 1e-5);
        check_direct::<f64, 5>(shape(1, 2, 6, 6, 17), 1e-12);
        check_direct::<f64, 3>(shape(3, 4, 9, 1, 1), 1e-12);
    }
    TEST_CAP.store(u8::MAX, Ordering::Relaxed);
}
