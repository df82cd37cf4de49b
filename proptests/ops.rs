//! Every convolution algorithm and our max-pool kernels (forward and backward, through dfdx's
//! tape) agree with the naive reference kernels of `rrcanet::ops::conv::reference` and
//! `rrcanet::ops::pool::reference` on random shapes and data.

use dfdx::prelude::*;
use proptest::prelude::*;
use rrcanet::ops::conv::reference;
use rrcanet::ops::pool::reference as pool_reference;
use rrcanet::ops::{
    conv2d, conv2d_with, max_pool2x2, Bias, ConvAlgorithm, ConvShape, ConvWeight, Image, OpError,
};

/// Tolerance for f32 sums of up to a few hundred products of values of order one.
fn assert_close(ours: &[f32], reference: &[f32], what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(ours.len(), reference.len(), "{} length", what);
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        prop_assert!(
            (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
            "{}[{}]: ours {}, reference {}",
            what,
            i,
            a,
            b
        );
    }
    Ok(())
}

/// Runs conv forward and backward (loss = sum(out * mix)) with every algorithm and compares
/// output and every gradient with the reference kernels.
fn check_conv<const I: usize, const O: usize, const K: usize>(
    seed: u64,
    batch: usize,
    height: usize,
    width: usize,
    with_bias: bool,
) -> Result<(), TestCaseError> {
    let dev = Cpu::seed_from_u64(seed);
    let x: Image<I, f32, Cpu> = dev.sample_normal_like(&(batch, Const, height, width));
    let w: ConvWeight<O, I, K, f32, Cpu> = dev.sample_normal();
    let b: Bias<O, f32, Cpu> = dev.sample_normal();
    let mix: Image<O, f32, Cpu> = dev.sample_normal_like(&(batch, Const, height, width));
    let shape = ConvShape::of::<I, O, K>(x.shape());
    let bias = with_bias.then_some(&b);
    let bias_data = with_bias.then(|| b.as_vec());

    let expected = reference::conv2d_forward(shape, &x.as_vec(), &w.as_vec(), bias_data.as_deref());
    let mut grad_input = vec![0.0; x.as_vec().len()];
    let mut grad_weight = vec![0.0; w.as_vec().len()];
    let mut grad_bias = vec![0.0; O];
    reference::conv2d_backward(
        shape,
        &x.as_vec(),
        &w.as_vec(),
        &mix.as_vec(),
        &mut grad_input,
        &mut grad_weight,
        Some(&mut grad_bias),
    );
    for algorithm in ConvAlgorithm::ALL {
        let what = |name: &str| format!("{algorithm:?}: {name}");
        let out = conv2d_with(algorithm, x.leaky_trace(), &w, bias).unwrap();
        assert_close(&out.as_vec(), &expected, &what("output"))?;
        let grads = (out * mix.clone()).sum().backward();
        assert_close(
            &grads.get(&x).as_vec(),
            &grad_input,
            &what("input gradient"),
        )?;
        assert_close(
            &grads.get(&w).as_vec(),
            &grad_weight,
            &what("weight gradient"),
        )?;
        if with_bias {
            assert_close(&grads.get(&b).as_vec(), &grad_bias, &what("bias gradient"))?;
        }
    }
    Ok(())
}

fn sizes() -> impl Strategy<Value = (u64, usize, usize, usize, bool)> {
    (
        any::<u64>(),
        1usize..=3,
        1usize..=12,
        1usize..=70,
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn conv3x3_matches_reference((seed, batch, height, width, bias) in sizes()) {
        check_conv::<3, 8, 3>(seed, batch, height, width, bias)?;
    }

    #[test]
    fn conv3x3_odd_channel_counts_match_reference((seed, batch, height, width, bias) in sizes()) {
        // 13 output channels: one block of 8, then blocks of 4 and 1.
        check_conv::<5, 13, 3>(seed, batch, height, width, bias)?;
    }

    #[test]
    fn conv1x1_matches_reference((seed, batch, height, width, bias) in sizes()) {
        check_conv::<6, 3, 1>(seed, batch, height, width, bias)?;
    }

    #[test]
    fn conv5x5_matches_reference((seed, batch, height, width, bias) in sizes()) {
        check_conv::<2, 2, 5>(seed, batch, height, width, bias)?;
    }

    #[test]
    fn max_pool_matches_reference(
        seed in any::<u64>(),
        batch in 1usize..=3,
        half_height in 1usize..=10,
        half_width in 1usize..=40,
        ties in any::<bool>(),
    ) {
        let dev = Cpu::seed_from_u64(seed);
        let (height, width) = (2 * half_height, 2 * half_width);
        let mut x: Image<4, f32, Cpu> = dev.sample_normal_like(&(batch, Const, height, width));
        if ties {
            // Few distinct values, so windows often hold equal maxima (the first one wins).
            let rounded: Vec<f32> = x.as_vec().iter().map(|v| v.round()).collect();
            x = dev.tensor_from_vec(rounded, (batch, Const, height, width));
        }
        let mix: Image<4, f32, Cpu> =
            dev.sample_normal_like(&(batch, Const, half_height, half_width));
        let out = max_pool2x2(x.leaky_trace()).unwrap();
        let (values, argmax) = pool_reference::max_pool2x2_forward(batch * 4, height, width, &x.as_vec());
        prop_assert_eq!(out.as_vec(), values);
        let grads = (out * mix.clone()).sum().backward();
        let mut grad_input = vec![0.0; x.as_vec().len()];
        pool_reference::max_pool2x2_backward(&argmax, &mix.as_vec(), &mut grad_input);
        prop_assert_eq!(grads.get(&x).as_vec(), grad_input);
    }

    #[test]
    fn max_pool_rejects_odd_sizes(height in 1usize..=9, width in 1usize..=9) {
        prop_assume!(height % 2 == 1 || width % 2 == 1);
        let dev = Cpu::default();
        let x: Image<2, f32, Cpu> = dev.zeros_like(&(1, Const, height, width));
        let odd = matches!(
            max_pool2x2(x),
            Err(OpError::OddPoolSize { height: h, width: w }) if h == height && w == width
        );
        prop_assert!(odd);
    }
}

#[test]
fn conv_rejects_even_kernels() {
    let dev = Cpu::default();
    let x: Image<2, f32, Cpu> = dev.zeros_like(&(1, Const, 4, 4));
    let w: ConvWeight<2, 2, 2, f32, Cpu> = dev.zeros();
    assert!(matches!(
        conv2d(x.clone(), &w, None),
        Err(OpError::EvenKernel(2))
    ));
    for algorithm in ConvAlgorithm::ALL {
        let outcome = conv2d_with(algorithm, x.clone(), &w, None);
        assert!(matches!(outcome, Err(OpError::EvenKernel(2))));
    }
}
