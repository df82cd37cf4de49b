//! Adam (Kingma and Ba, 2015) with PyTorch's `torch.optim.Adam` semantics (no weight decay,
//! no AMSGrad). For each trainable parameter p with gradient g, at step t (from 1):
//!
//! ```text
//! exp_avg    = beta1 * exp_avg    + (1 - beta1) * g        (both start at 0)
//! exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
//! p          = p - lr * (exp_avg / (1 - beta1^t)) / (sqrt(exp_avg_sq / (1 - beta2^t)) + eps)
//! ```
//!
//! Written with dfdx tensor ops in the order of dfdx's own `Adam` kernel, so that on the CPU it
//! gives dfdx's `Adam` updates bit for bit.

use dfdx::prelude::*;

use super::state::{Algorithm, Flat, Stateful, Step, UpdateRule};
use super::{InvalidHyperparameter, OptimizerKind};
use crate::ops::Float;

/// Adam hyperparameters, named as in PyTorch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate. Default 1e-3.
    pub lr: f64,
    /// Decay rates of the gradient's running mean and running squared mean. Default
    /// (0.9, 0.999).
    pub betas: [f64; 2],
    /// Added to the square root of the corrected squared mean. Default 1e-8.
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: [0.9, 0.999],
            eps: 1e-8,
        }
    }
}

/// The Adam optimiser for a model of type `M` (see [`Stateful`]); its state is two moments
/// (`exp_avg`, `exp_avg_sq`) per trainable tensor.
pub type Adam<M, E, D> = Stateful<AdamConfig, M, E, D, 2>;

impl Algorithm<2> for AdamConfig {
    const KIND: OptimizerKind = OptimizerKind::Adam;
    const BUFFERS: [&'static str; 2] = ["exp_avg", "exp_avg_sq"];

    /// Checks the hyperparameters as PyTorch does: lr and eps finite and non-negative, betas
    /// in [0, 1).
    fn validate(&self) -> Result<(), InvalidHyperparameter> {
        let kind = OptimizerKind::Adam;
        InvalidHyperparameter::non_negative(kind, "lr", self.lr)?;
        InvalidHyperparameter::below_one(kind, "beta1", self.betas[0])?;
        InvalidHyperparameter::below_one(kind, "beta2", self.betas[1])?;
        InvalidHyperparameter::non_negative(kind, "eps", self.eps)
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn rule<E: Float, D: Device<E>>(&self, step: usize) -> impl UpdateRule<E, D, 2> {
        AdamStep::new(self, step)
    }
}

/// Adam's rule at one step: the hyperparameters as elements, and the bias corrections.
struct AdamStep<E> {
    lr: E,
    beta1: E,
    beta2: E,
    eps: E,
    /// 1 / (1 - beta1^t).
    bias_correction1: E,
    /// 1 / (1 - beta2^t).
    bias_correction2: E,
}

impl<E: Float> AdamStep<E> {
    fn new(cfg: &AdamConfig, steps: usize) -> Self {
        let [beta1, beta2] = cfg.betas.map(E::of);
        // beta^t is 0 long before t leaves i32's range.
        let t = i32::try_from(steps).unwrap_or(i32::MAX);
        AdamStep {
            lr: E::of(cfg.lr),
            beta1,
            beta2,
            eps: E::of(cfg.eps),
            bias_correction1: (E::one() - beta1.powi(t)).recip(),
            bias_correction2: (E::one() - beta2.powi(t)).recip(),
        }
    }
}

impl<E: Float, D: Device<E>> UpdateRule<E, D, 2> for AdamStep<E> {
    fn initial_values(&self) -> [f64; 2] {
        [0.0, 0.0]
    }

    fn step(
        &self,
        _parameter: Flat<E, D>,
        gradient: Flat<E, D>,
        [exp_avg, exp_avg_sq]: &mut [Flat<E, D>; 2],
    ) -> Result<Step<E, D>, D::Err> {
        *exp_avg = exp_avg
            .clone()
            .try_mul(self.beta1)?
            .try_add(gradient.clone().try_mul(E::one() - self.beta1)?)?;
        *exp_avg_sq = exp_avg_sq
            .clone()
            .try_mul(self.beta2)?
            .try_add(gradient.try_square()?.try_mul(E::one() - self.beta2)?)?;
        let corrected_mean = exp_avg.clone().try_mul(self.bias_correction1)?;
        let corrected_square = exp_avg_sq.clone().try_mul(self.bias_correction2)?;
        let denominator = corrected_square.try_sqrt()?.try_add(self.eps)?;
        let step = corrected_mean.try_mul(self.lr)?.try_div(denominator)?;
        Ok((step, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::super::quadratic::*;
    use super::*;

    /// Five Adam steps on sum(WEIGHT (p - TARGET)^2) from START; p after each step.
    fn run<E: Float>(cfg: AdamConfig) -> Vec<[f64; 5]>
    where
        Cpu: Device<E>,
    {
        steps::<E, _>(5, |p| Adam::new(p, cfg).unwrap())
    }

    /// The same problem by `torch.optim.Adam`'s single-tensor algorithm, written as PyTorch
    /// writes it (step size lr / bias_correction1, denominator sqrt(exp_avg_sq) /
    /// sqrt(bias_correction2) + eps), in f64 with the analytic gradient.
    fn torch_reference(cfg: AdamConfig) -> Vec<[f64; 5]> {
        let [beta1, beta2] = cfg.betas;
        let (mut p, mut exp_avg, mut exp_avg_sq) = (START, [0.0; 5], [0.0; 5]);
        (1..=5)
            .map(|step| {
                let bias_correction1 = 1.0 - beta1.powi(step);
                let bias_correction2: f64 = 1.0 - beta2.powi(step);
                let step_size = cfg.lr / bias_correction1;
                let g = gradient(&p);
                for i in 0..5 {
                    exp_avg[i] += (g[i] - exp_avg[i]) * (1.0 - beta1);
                    exp_avg_sq[i] = exp_avg_sq[i] * beta2 + (1.0 - beta2) * g[i] * g[i];
                    let denominator = exp_avg_sq[i].sqrt() / bias_correction2.sqrt() + cfg.eps;
                    p[i] -= step_size * exp_avg[i] / denominator;
                }
                p
            })
            .collect()
    }

    /// PyTorch's defaults, and every hyperparameter away from them.
    const CONFIGS: [AdamConfig; 2] = [
        AdamConfig {
            lr: 1e-3,
            betas: [0.9, 0.999],
            eps: 1e-8,
        },
        AdamConfig {
            lr: 0.1,
            betas: [0.5, 0.75],
            eps: 1e-3,
        },
    ];

    #[test]
    fn matches_torch_with_defaults_and_other_hyperparameters() {
        assert_eq!(CONFIGS[0], AdamConfig::default());
        for cfg in CONFIGS {
            assert_close(&run::<f64>(cfg), &torch_reference(cfg), 1e-12);
            assert_close(&run::<f32>(cfg), &torch_reference(cfg), 1e-5);
        }
    }

    #[test]
    fn first_step_moves_every_parameter_by_lr_against_its_gradient() {
        // At t = 1 the corrected moments are g and g^2: p - lr g / (|g| + eps).
        let lr = AdamConfig::default().lr;
        let first = run::<f64>(AdamConfig::default())[0];
        for (i, g) in gradient(&START).into_iter().enumerate() {
            let expected = START[i] - lr * g / (g.abs() + 1e-8);
            assert!((first[i] - expected).abs() < 1e-15, "{first:?}");
        }
    }

    /// Steps of ours and of dfdx's, as bits.
    fn ours_and_dfdx<E: Float>(cfg: AdamConfig) -> [Vec<[u64; 5]>; 2]
    where
        Cpu: Device<E>,
    {
        [
            bits(run::<E>(cfg)),
            bits(steps::<E, _>(5, |p| {
                dfdx::optim::Adam::new(
                    p,
                    dfdx::optim::AdamConfig {
                        lr: cfg.lr,
                        betas: cfg.betas,
                        eps: cfg.eps,
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
                AdamConfig {
                    lr: f64::NAN,
                    ..Default::default()
                },
                "lr",
            ),
            (
                AdamConfig {
                    betas: [1.0, 0.999],
                    ..Default::default()
                },
                "beta1",
            ),
            (
                AdamConfig {
                    betas: [0.9, -0.1],
                    ..Default::default()
                },
                "beta2",
            ),
            (
                AdamConfig {
                    eps: -1e-8,
                    ..Default::default()
                },
                "eps",
            ),
        ] {
            let error = Adam::<_, f32, Cpu>::new(&p, cfg).unwrap_err();
            assert_eq!(error.name, name);
        }
    }
}
