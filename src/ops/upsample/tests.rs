//! Bilinear upsampling against PyTorch and finite differences.

use super::*;
use crate::ops::test_support::{assert_close_absolute, numeric_gradient};
use dfdx::prelude::{Backward, Const, Cpu, Rank0, SumTo, Tensor, TensorFromVec, Trace};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// Output and input gradient of `sum(upsample(x) * weights)` for one-channel images.
fn run(dims: (usize, usize, usize), x: &[f64], weights: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let dev = Cpu::default();
    let (b, h, w) = dims;
    let x = dev.tensor_from_vec(x.to_vec(), (b, Const::<1>, h, w));
    let weights = dev.tensor_from_vec(weights.to_vec(), (b, Const::<1>, 2 * h, 2 * w));
    let out = upsample_bilinear2x(x.leaky_trace()).unwrap();
    let values = out.as_vec();
    let loss: Tensor<Rank0, f64, Cpu, _> = (out * weights).sum();
    (values, loss.backward().get(&x).as_vec())
}

/// Expected values computed once with PyTorch 2.15 (`F.interpolate(x, scale_factor=2,
/// mode="bilinear", align_corners=True)`, float64; the script is in notes/norm-ops.md),
/// the gradient that of `sum(out * weights)`.
#[test]
fn matches_pytorch() {
    let x = [-3.0, 2.0, 0.0, -2.0, 3.0, 1.0];
    let weights: Vec<f64> = (0..24).map(|i| ((i * 3) % 11) as f64 / 5.0).collect();
    let (out, grad) = run((1, 2, 3), &x, &weights);
    let third = 1.0 / 3.0;
    assert_close_absolute(
        &out,
        &[
            -3.0,
            -1.0,
            1.0,
            1.6,
            0.8,
            0.0,
            -2.0 - 2.0 * third,
            -2.0 * third,
            1.0 + third,
            1.9333333333333331,
            1.1333333333333333,
            third,
            -2.0 - third,
            -third,
            1.0 + 2.0 * third,
            2.266666666666666,
            1.4666666666666663,
            2.0 * third,
            -2.0,
            0.0,
            2.0,
            2.6,
            1.8,
            1.0,
        ],
        1e-12,
        "output",
    );
    assert_close_absolute(
        &grad,
        &[
            2.946666666666667,
            5.226666666666667,
            2.6933333333333342,
            4.453333333333334,
            4.6933333333333325,
            2.586666666666667,
        ],
        1e-12,
        "input gradient",
    );
}

#[test]
fn gradient_matches_finite_differences() {
    let dims = (2, 3, 5);
    let mut rng = StdRng::seed_from_u64(11);
    let mut random =
        |len: usize| -> Vec<f64> { (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect() };
    let n = dims.0 * dims.1 * dims.2;
    let (x, weights) = (random(n), random(4 * n));
    let loss = |x: &[f64]| -> f64 {
        let out = run(dims, x, &weights).0;
        out.iter().zip(&weights).map(|(o, w)| o * w).sum()
    };
    let numeric = numeric_gradient(&x, 1e-6, loss);
    assert_close_absolute(&run(dims, &x, &weights).1, &numeric, 1e-7, "input gradient");
}
