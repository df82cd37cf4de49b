//! The problem every optimiser is checked on against PyTorch and dfdx: minimise
//! sum(WEIGHT (p - TARGET)^2) from START, one parameter tensor of five values.

use dfdx::prelude::*;

use crate::ops::Float;

/// Where every run starts.
pub const START: [f64; 5] = [0.5, -1.0, 2.0, 0.0, 3.0];
/// The minimum (the last value is already there: its gradient is zero).
pub const TARGET: [f64; 5] = [1.0, 1.0, -1.0, 0.5, 3.0];
/// Per-value weights of the squared distance.
pub const WEIGHT: [f64; 5] = [1.0, 2.0, 0.5, 3.0, 1.0];

/// The analytic gradient at `p`, for reference implementations in f64.
pub fn gradient(p: &[f64; 5]) -> [f64; 5] {
    std::array::from_fn(|i| 2.0 * WEIGHT[i] * (p[i] - TARGET[i]))
}

/// `count` steps of the optimiser `build` makes for the parameter; p after each step.
pub fn steps<E: Float, O: Optimizer<Tensor<Rank1<5>, E, Cpu>, Cpu, E>>(
    count: usize,
    build: impl FnOnce(&Tensor<Rank1<5>, E, Cpu>) -> O,
) -> Vec<[f64; 5]>
where
    Cpu: Device<E>,
{
    let dev = Cpu::default();
    let cast = |v: [f64; 5]| v.map(|x| E::from(x).unwrap());
    let mut p: Tensor<Rank1<5>, E, Cpu> = dev.tensor(cast(START));
    let target = dev.tensor(cast(TARGET));
    let weight = dev.tensor(cast(WEIGHT));
    let mut optimizer = build(&p);
    (0..count)
        .map(|_| {
            let loss = ((p.leaky_trace() - target.clone()).square() * weight.clone()).sum();
            optimizer.update(&mut p, &loss.backward()).unwrap();
            p.array().map(|x| x.to_f64().unwrap())
        })
        .collect()
}

/// Steps as bits, to compare two optimisers exactly.
pub fn bits(steps: Vec<[f64; 5]>) -> Vec<[u64; 5]> {
    steps.into_iter().map(|p| p.map(f64::to_bits)).collect()
}

/// Every value of every step within `tolerance` (relative, absolute near zero) of PyTorch's.
pub fn assert_close(actual: &[[f64; 5]], expected: &[[f64; 5]], tolerance: f64) {
    assert_eq!(actual.len(), expected.len());
    for (step, (a, e)) in actual.iter().zip(expected).enumerate() {
        for (x, y) in a.iter().zip(e) {
            assert!(
                (x - y).abs() <= tolerance * y.abs().max(1e-3),
                "step {}: {a:?} vs torch {e:?}",
                step + 1
            );
        }
    }
}
