//! AdaGrad (Duchi et al., 2011) with PyTorch's `torch.optim.Adagrad` semantics, the optimiser
//! of the RRCA-Net recipe (lr 0.05, eps 1e-10, no lr decay, initial accumulator 0). For each
//! trainable parameter p with gradient g, at step t (from 1):
//!
//! ```text
//! g   = g + weight_decay * p
//! lr  = lr / (1 + (t - 1) * lr_decay)
//! sum = sum + g * g                      (sum starts at initial_accumulator_value)
//! p   = p - lr * g / (sqrt(sum) + eps)
//! ```
//!
//! The update is written with dfdx tensor ops (square, sqrt, div, and the in-place `axpy`
//! that keeps each parameter's identity), so it runs on every dfdx device.

use dfdx::prelude::*;

use super::state::{Algorithm, Flat, Stateful, Step, UpdateRule};
use super::{InvalidHyperparameter, OptimizerKind};
use crate::ops::Float;

/// AdaGrad hyperparameters, named as in PyTorch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdagradConfig {
    /// Learning rate. Default 0.05, the paper's (PyTorch's own default is 0.01).
    pub lr: f64,
    /// Learning-rate decay per step. Default 0.
    pub lr_decay: f64,
    /// L2 penalty added to the gradient. Default 0.
    pub weight_decay: f64,
    /// Starting value of the accumulated squared gradients. Default 0.
    pub initial_accumulator_value: f64,
    /// Added to the square root of the accumulator. Default 1e-10.
    pub eps: f64,
}

impl Default for AdagradConfig {
    fn default() -> Self {
        AdagradConfig {
            lr: 0.05,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
        }
    }
}

/// The AdaGrad optimiser for a model of type `M` (see [`Stateful`]); its state is one
/// accumulator (`sum`) per trainable tensor.
pub type Adagrad<M, E, D> = Stateful<AdagradConfig, M, E, D, 1>;

impl Algorithm<1> for AdagradConfig {
    const KIND: OptimizerKind = OptimizerKind::Adagrad;
    const BUFFERS: [&'static str; 1] = ["sum"];

    /// Checks every hyperparameter is finite and non-negative (PyTorch's checks).
    fn validate(&self) -> Result<(), InvalidHyperparameter> {
        let check =
            |name, value| InvalidHyperparameter::non_negative(OptimizerKind::Adagrad, name, value);
        check("lr", self.lr)?;
        check("lr_decay", self.lr_decay)?;
        check("weight_decay", self.weight_decay)?;
        check("initial_accumulator_value", self.initial_accumulator_value)?;
        check("eps", self.eps)
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.lr = lr;
    }

    fn rule<E: Float, D: Device<E>>(&self, step: usize) -> impl UpdateRule<E, D, 1> {
        AdagradStep {
            cfg: *self,
            learning_rate: self.lr / (1.0 + (step - 1) as f64 * self.lr_decay),
        }
    }
}

/// AdaGrad's rule at one step.
struct AdagradStep {
    cfg: AdagradConfig,
    /// The step's decayed learning rate.
    learning_rate: f64,
}

impl<E: Float, D: Device<E>> UpdateRule<E, D, 1> for AdagradStep {
    fn initial_values(&self) -> [f64; 1] {
        [self.cfg.initial_accumulator_value]
    }

    fn step(
        &self,
        parameter: Flat<E, D>,
        gradient: Flat<E, D>,
        [state_sum]: &mut [Flat<E, D>; 1],
    ) -> Result<Step<E, D>, D::Err> {
        let mut gradient = gradient;
        if self.cfg.weight_decay != 0.0 {
            gradient = gradient.try_add(parameter.try_mul(E::of(self.cfg.weight_decay))?)?;
        }
        state_sum.try_axpy(1.0, &gradient.clone().try_square()?, 1.0)?;
        let denominator = state_sum.clone().try_sqrt()?.try_add(E::of(self.cfg.eps))?;
        Ok((gradient.try_div(denominator)?, self.learning_rate))
    }
}

#[cfg(test)]
mod tests {
    use super::super::quadratic::*;
    use super::*;

    /// Every hyperparameter away from its default.
    fn everything_on() -> AdagradConfig {
        AdagradConfig {
            lr: 0.1,
            lr_decay: 0.05,
            weight_decay: 0.01,
            initial_accumulator_value: 0.1,
            eps: 1e-10,
        }
    }

    /// Four AdaGrad steps on sum(WEIGHT (p - TARGET)^2) from START; p after each step.
    fn run<E: Float>(cfg: AdagradConfig) -> Vec<[f64; 5]>
    where
        Cpu: Device<E>,
    {
        steps::<E, _>(4, |p| Adagrad::new(p, cfg).unwrap())
    }

    // Expected values: torch 2.15 `torch.optim.Adagrad([p], **cfg)` on the same problem
    // (script in notes/loss.md), in float64 and float32.
    #[rustfmt::skip]
    const TORCH_DEFAULT_F64: [[f64; 5]; 4] = [
        [0.549999999995, -0.950000000000625, 1.9500000000016666, 0.04999999999833334, 3.0],
        [0.5834482365738417, -0.9150949931944546, 1.9149430024118028, 0.08344823657869554, 3.0],
        [0.609771909317242, -0.8868216649987862, 1.8864686104379966, 0.10977190932304617, 3.0],
        [0.6318884336646384, -0.8624873739544828, 1.8619084230467664, 0.1318884336711137, 3.0],
    ];
    #[rustfmt::skip]
    const TORCH_DEFAULT_F32: [[f64; 5]; 4] = [
        [0.550000011920929, -0.949999988079071, 1.9500000476837158, 0.05000000074505806, 3.0],
        [0.5834482312202454, -0.9150949716567993, 1.9149430990219116, 0.08344823122024536, 3.0],
        [0.6097719073295593, -0.8868216276168823, 1.8864686489105225, 0.10977190732955933, 3.0],
        [0.6318884491920471, -0.8624873161315918, 1.8619084358215332, 0.13188843429088593, 3.0],
    ];
    #[rustfmt::skip]
    const TORCH_EVERYTHING_F64: [[f64; 5]; 4] = [
        [0.5953026224566607, -0.9000778390761084, 1.9005437541694161, 0.09944903161647269, 2.990555571752665],
        [0.6533853923906646, -0.8345103562850233, 1.8345354334852062, 0.15877822533710712, 2.9872544953857654],
        [0.6954058715700692, -0.7841877606641035, 1.7835574296855226, 0.201381268718764, 2.986001395219273],
        [0.7280736489361845, -0.7429686986321699, 1.7416141640379574, 0.23436709951764595, 2.985491813228729],
    ];
    #[rustfmt::skip]
    const TORCH_EVERYTHING_F32: [[f64; 5]; 4] = [
        [0.5953026413917542, -0.9000778198242188, 1.9005436897277832, 0.0994490385055542, 2.99055552482605],
        [0.6533854007720947, -0.834510326385498, 1.8345353603363037, 0.15877823531627655, 2.9872543811798096],
        [0.695405900478363, -0.7841877341270447, 1.7835572957992554, 0.20138126611709595, 2.9860012531280518],
        [0.7280736565589905, -0.7429686784744263, 1.7416139841079712, 0.23436710238456726, 2.9854917526245117],
    ];

    #[test]
    fn default_matches_torch() {
        assert_close(
            &run::<f64>(AdagradConfig::default()),
            &TORCH_DEFAULT_F64,
            1e-12,
        );
        assert_close(
            &run::<f32>(AdagradConfig::default()),
            &TORCH_DEFAULT_F32,
            1e-6,
        );
    }

    #[test]
    fn every_hyperparameter_matches_torch() {
        assert_close(&run::<f64>(everything_on()), &TORCH_EVERYTHING_F64, 1e-12);
        assert_close(&run::<f32>(everything_on()), &TORCH_EVERYTHING_F32, 1e-6);
    }

    #[test]
    fn updates_trainable_tensors_and_skips_running_statistics() {
        let dev = Cpu::default();
        let mut model = dev.build_module::<BatchNorm2D<2>, f64>();
        let mut gradients = model.alloc_grads();
        let x: Tensor<Rank4<2, 2, 3, 3>, f64, _> = dev.sample_normal();
        let weights: Tensor<Rank4<2, 2, 3, 3>, f64, _> = dev.sample_normal();
        let loss = (model.forward_mut(x.trace(gradients)) * weights).sum();
        gradients = loss.backward();
        let (running_mean, running_var) = (model.running_mean.array(), model.running_var.array());
        let (scale, bias) = (model.scale.array(), model.bias.array());
        let (scale_gradient, bias_gradient) = (
            gradients.get(&model.scale).array(),
            gradients.get(&model.bias).array(),
        );

        let mut optimizer = Adagrad::new(&model, AdagradConfig::default()).unwrap();
        optimizer.update(&mut model, &gradients).unwrap();

        assert_eq!(model.running_mean.array(), running_mean);
        assert_eq!(model.running_var.array(), running_var);
        // First step from a zero accumulator: p - lr * g / (|g| + eps) = p - lr * sign(g).
        for c in 0..2 {
            let expected_scale = scale[c] - 0.05 * scale_gradient[c].signum();
            let expected_bias = bias[c] - 0.05 * bias_gradient[c].signum();
            assert!((model.scale.array()[c] - expected_scale).abs() < 1e-9);
            assert!((model.bias.array()[c] - expected_bias).abs() < 1e-9);
        }
        assert_eq!(optimizer.steps(), 1);
    }

    #[test]
    fn rejects_invalid_hyperparameters() {
        let p: Tensor<Rank1<2>, f32, Cpu> = Cpu::default().zeros();
        for (cfg, name) in [
            (
                AdagradConfig {
                    lr: -0.1,
                    ..Default::default()
                },
                "lr",
            ),
            (
                AdagradConfig {
                    eps: f64::NAN,
                    ..Default::default()
                },
                "eps",
            ),
            (
                AdagradConfig {
                    lr_decay: -1.0,
                    ..Default::default()
                },
                "lr_decay",
            ),
            (
                AdagradConfig {
                    weight_decay: f64::INFINITY,
                    ..Default::default()
                },
                "weight_decay",
            ),
            (
                AdagradConfig {
                    initial_accumulator_value: -0.5,
                    ..Default::default()
                },
                "initial_accumulator_value",
            ),
        ] {
            let error = Adagrad::<_, f32, Cpu>::new(&p, cfg).unwrap_err();
            assert_eq!(error.name, name);
        }
    }
}
