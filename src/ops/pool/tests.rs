//! Max-pooling, our kernels and the composed version, against the reference and finite
//! differences.

use super::*;
use crate::ops::test_support::{assert_close, numeric_gradient};
use dfdx::prelude::*;

#[test]
fn max_pool_gradient_matches_finite_differences() {
    let dev = Cpu::seed_from_u64(3);
    let x: Image<3, f64, Cpu> = dev.sample_normal_like(&(2, Const, 4, 6));
    let mix: Image<3, f64, Cpu> = dev.sample_normal_like(&(2, Const, 2, 3));
    let (xv, mv) = (x.as_vec(), mix.as_vec());
    let grads = (max_pool2x2(x.leaky_trace()).unwrap() * mix)
        .sum()
        .backward();
    let numeric = numeric_gradient(&xv, 1e-5, |v| {
        let x: Image<3, f64, Cpu> = dev.tensor_from_vec(v.to_vec(), (2, Const, 4, 6));
        let out = max_pool2x2(x).unwrap().as_vec();
        out.iter().zip(&mv).map(|(o, m)| o * m).sum()
    });
    assert_close(&grads.get(&x).as_vec(), &numeric, 1e-6, "input");
}

#[test]
fn both_versions_match_reference() {
    type Traced = Image<3, f64, Cpu, OwnedTape<f64, Cpu>>;
    type Pool = fn(Traced) -> Result<Traced, OpError>;
    let dev = Cpu::seed_from_u64(2);
    let x: Image<3, f64, Cpu> = dev.sample_normal_like(&(2, Const, 4, 6));
    let mix: Image<3, f64, Cpu> = dev.sample_normal_like(&(2, Const, 2, 3));
    let (values, argmax) = reference::max_pool2x2_forward(6, 4, 6, &x.as_vec());
    let mut grad_input = vec![0.0; x.as_vec().len()];
    reference::max_pool2x2_backward(&argmax, &mix.as_vec(), &mut grad_input);
    let versions: [(&str, Pool); 2] =
        [("kernels", max_pool2x2), ("composed", composed_max_pool2x2)];
    for (version, pool) in versions {
        let out = pool(x.leaky_trace()).unwrap();
        assert_close(&out.as_vec(), &values, 1e-9, &format!("{version}: output"));
        let grads = (out * mix.clone()).sum().backward();
        assert_close(
            &grads.get(&x).as_vec(),
            &grad_input,
            1e-9,
            &format!("{version}: input gradient"),
        );
    }
}

#[test]
fn both_versions_reject_odd_sizes() {
    let dev = Cpu::default();
    let x: Image<1, f64, Cpu> = dev.zeros_like(&(1, Const, 3, 4));
    for outcome in [max_pool2x2(x.clone()), composed_max_pool2x2(x)] {
        assert!(matches!(
            outcome,
            Err(OpError::OddPoolSize {
                height: 3,
                width: 4
            })
        ));
    }
}
