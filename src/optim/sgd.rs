//! Stochastic gradient descent with classic momentum, with PyTorch's `torch.optim.SGD`
//! semantics (no dampening, no Nesterov, no weight decay). For each trainable parameter p with
//! gradient g:
//!
//! ```text
//! momentum_buffer = momentum * momentum_buffer + g     (= g at the first step)
//! p               = p - lr * momentum_buffer
//! ```
//!
//! The buffer starts at zero, which makes the first step's buffer g as PyTorch's is. Written
//! with dfdx tensor ops in the order of dfdx's own `Sgd` kernel, so that on the CPU it gives
//! dfdx's `Sgd` with `Momentum::Classic` updates bit for bit.

use dfdx::prelude::*;

use super::state::{Algorithm, Flat, Stateful, Step, UpdateRule};
use super::{InvalidHyperparameter, OptimizerKind};
use crate::ops::Float;

/// SGD hyperparameters, named as in PyTorch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0 is plain SGD).
    pub momentum: f64,
}

/// The SGD optimiser for a model of type `M` (see [`Stateful`]); its state is one momentum
/// buffer (`momentum_buffer`) per trainable tensor.
pub type Sgd<M, E, D> = Stateful<SgdConfig, M, E, D, 1>;

impl Algorithm<1> for SgdConfig {
    const KIND: OptimizerKind = OptimizerKind::Sgd;
    const BUFFERS: [&'static str; 1] = ["momentum_buffer"];

    /// Checks the hyperparameters as PyTorch does: finite and non-negative.
    fn validate(&self) -> Result<(), InvalidHyperparameter> {
        InvalidHyperparameter::non_negative(OptimizerKind::Sgd, "lr", self.lr)?;
        InvalidHyperparameter::non_negative(OptimizerKind::Sgd, "momentum", self.momentum)
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn rule<E: Float, D: Device<E>>(&self, _step: usize) -> impl UpdateRule<E, D, 1> {
        SgdStep {
            lr: self.lr,
            momentum: E::of(self.momentum),
        }
    }
}

/// SGD's rule at one step.
struct SgdStep<E> {
    lr: f64,
    momentum: E,
}

impl<E: Float, D: Device<E>> UpdateRule<E, D, 1> for SgdStep<E> {
    fn initial_values(&self) -> [f64; 1] {
        [0.0]
    }

    fn step(
        &self,
        _parameter: Flat<E, D>,
        gradient: Flat<E, D>,
        [momentum_buffer]: &mut [Flat<E, D>; 1],
    ) -> Result<Step<E, D>, D::Err> {
        *momentum_buffer = momentum_buffer
            .clone()
            .try_mul(self.momentum)?
            .try_add(gradient)?;
        Ok((momentum_buffer.clone(), self.lr))
    }
}

#[cfg(test)]
mod tests {
    use super::super::quadratic::*;
    use super::*;

    /// Five SGD steps on sum(WEIGHT (p - TARGET)^2) from START; p after each step.
    fn run<E: Float>(cfg: SgdConfig) -> Vec<[f64; 5]>
    where
        Cpu: Device<E>,
    {
        steps::<E, _>(5, |p| Sgd::new(p, cfg).unwrap())
    }

    /// The same problem by `torch.optim.SGD`'s single-tensor algorithm (the buffer is a copy
    /// of the gradient at the first step), in f64 with the analytic gradient.
    fn torch_reference(cfg: SgdConfig) -> Vec<[f64; 5]> {
        let (mut p, mut buffer) = (START, None::<[f64; 5]>);
        (0..5)
            .map(|_| {
                let g = gradient(&p);
                let b = match buffer {
                    None => g,
                    Some(b) => std::array::from_fn(|i| cfg.momentum * b[i] + g[i]),
                };
                buffer = Some(b);
                for i in 0..5 {
                    p[i] -= cfg.lr * b[i];
                }
                p
            })
            .collect()
    }

    /// With the trainer's momentum, and without momentum.
    const CONFIGS: [SgdConfig; 2] = [
        SgdConfig {
            lr: 0.05,
            momentum: 0.9,
        },
        SgdConfig {
            lr: 0.1,
            momentum: 0.0,
        },
    ];

    #[test]
    fn matches_torch_with_and_without_momentum() {
        for cfg in CONFIGS {
            let expected = torch_reference(cfg);
            assert_close(&run::<f64>(cfg), &expected, 1e-12);
            assert_close(&run::<f32>(cfg), &expected, 1e-5);
        }
    }

    #[test]
    fn two_steps_by_hand() {
        // p = 0, loss = 3 p: g = 3 at every step; buffers 3 then 0.9 * 3 + 3 = 5.7.
        let dev = Cpu::default();
        let mut p: Tensor<Rank1<1>, f64, Cpu> = dev.zeros();
        let mut optimizer = Sgd::new(
            &p,
            SgdConfig {
                lr: 0.5,
                momentum: 0.9,
            },
        )
        .unwrap();
        let mut values = Vec::new();
        for _ in 0..2 {
            let loss = (p.leaky_trace() * 3.0).sum();
            optimizer.update(&mut p, &loss.backward()).unwrap();
            values.push(p.array()[0]);
        }
        assert_eq!(values, [-1.5, -1.5 - 0.5 * (0.9 * 3.0 + 3.0)]);
        assert_eq!(optimizer.steps(), 2);
    }

    /// Steps of ours and of dfdx's, as bits.
    fn ours_and_dfdx<E: Float>(cfg: SgdConfig) -> [Vec<[u64; 5]>; 2]
    where
        Cpu: Device<E>,
    {
        [
            bits(run::<E>(cfg)),
            bits(steps::<E, _>(5, |p| {
                dfdx::optim::Sgd::new(
                    p,
                    dfdx::optim::SgdConfig {
                        lr: cfg.lr,
                        momentum: Some(dfdx::optim::Momentum::Classic(cfg.momentum)),
                        weight_decay: None,
                    },
                )
            })),
        ]
    }

    #[test]
    fn gives_dfdx_updates_bit_for_bit_in_f32_and_f64() {
        for cfg in CONFIGS {
            let [ours, dfdx] = ours_and_dfdx::<f32>(cfg);
            assert_eq!(ours, dfdx, "{cfg:?}");
            let [ours, dfdx] = ours_and_dfdx::<f64>(cfg);
            assert_eq!(ours, dfdx, "{cfg:?}");
        }
    }

    #[test]
    fn rejects_invalid_hyperparameters() {
        let p: Tensor<Rank1<2>, f32, Cpu> = Cpu::default().zeros();
        for (cfg, name) in [
            (
                SgdConfig {
                    lr: -0.1,
                    momentum: 0.9,
                },
                "lr",
            ),
            (
                SgdConfig {
                    lr: 0.1,
                    momentum: f64::INFINITY,
                },
                "momentum",
            ),
        ] {
            let error = Sgd::<_, f32, Cpu>::new(&p, cfg).unwrap_err();
            assert_eq!(error.name, name);
        }
    }
}
