//! Batch normalisation on the CPU: the fused kernels ([`super::kernels`]) through the tape
//! helper.

use super::kernels::{self, ChannelAffine};
use super::{check_batch_statistics, check_shortcut, BatchNormMode, BatchNormOps, Epilogue};
use crate::ops::profile::{timed, Work};
use crate::ops::tape::{host_copy, Backward, Input, OpTape};
use crate::ops::{Float, Image, NchwShape, OpError};
use dfdx::nn::modules::BatchNorm2D;
use dfdx::prelude::{Cpu, HasShape, Merge, Tape};

impl<E: Float> BatchNormOps<E> for Cpu {
    fn try_batch_norm2d<const C: usize, T: Tape<E, Self> + Merge<R>, R: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
        mode: BatchNormMode<'_, C, E, Self>,
        epilogue: Epilogue<Image<C, E, Self, R>>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        let image = *x.shape();
        let (tape, x) = OpTape::split(x)?;
        let (tape, shortcut, relu) = match epilogue {
            Epilogue::Identity => (tape, None, false),
            Epilogue::Relu => (tape, None, true),
            Epilogue::AddRelu(shortcut) => {
                check_shortcut(&image, shortcut.shape())?;
                let (tape, shortcut) = tape.merge(shortcut)?;
                (tape, Some(shortcut), true)
            }
        };
        let running =
            |norm: &BatchNorm2D<C, E, Cpu>| [&norm.running_mean, &norm.running_var].map(host_copy);
        let (norm, statistics) = match &mode {
            BatchNormMode::Train(norm) => {
                let statistics = Statistics::Batch {
                    running: running(norm),
                    count: check_batch_statistics(&image)?,
                    momentum: norm.momentum,
                };
                (&**norm, statistics)
            }
            BatchNormMode::Eval(norm) => (*norm, Statistics::Running(running(norm))),
        };
        let normalisation = Normalisation::of(norm, statistics);
        let shape = NchwShape::of(&image);
        let (out, backward, [mean, var]) = timed(Work::BatchNormForward, || {
            batch_norm2d_on_host(shape, x, shortcut, relu, normalisation)
        });
        if let BatchNormMode::Train(norm) = mode {
            norm.running_mean.copy_from(&mean);
            norm.running_var.copy_from(&var);
        }
        tape.finish(out, image, backward)
    }
}

/// A batch norm module's parameters and the statistics that normalise, with the channel
/// count erased.
struct Normalisation<E: Float> {
    scale: Input<E>,
    bias: Input<E>,
    epsilon: f64,
    statistics: Statistics<E>,
}

impl<E: Float> Normalisation<E> {
    fn of<const C: usize>(norm: &BatchNorm2D<C, E, Cpu>, statistics: Statistics<E>) -> Self {
        Normalisation {
            scale: Input::of(&norm.scale),
            bias: Input::of(&norm.bias),
            epsilon: norm.epsilon,
            statistics,
        }
    }
}

/// Which statistics normalise.
enum Statistics<E> {
    /// The batch's own, over `count` values per channel, towards which the `running` mean and
    /// variance move by `momentum`.
    Batch {
        running: [Vec<E>; 2],
        count: usize,
        momentum: f64,
    },
    /// The running mean and variance.
    Running([Vec<E>; 2]),
}

/// The fused forward pass and its backward pass (ReLU mask, shortcut, scale and bias, then
/// input gradient), and the running mean and variance after the call (unchanged in
/// evaluation).
fn batch_norm2d_on_host<E: Float>(
    shape: NchwShape,
    x: Input<E>,
    shortcut: Option<Input<E>>,
    relu: bool,
    normalisation: Normalisation<E>,
) -> (Vec<E>, Backward<E, 4>, [Vec<E>; 2]) {
    let plane = (shape.height * shape.width).max(1);
    let Normalisation {
        scale,
        bias,
        epsilon,
        statistics,
    } = normalisation;
    let batch_statistics = matches!(statistics, Statistics::Batch { .. });
    let (mean, var, running) = match statistics {
        Statistics::Batch {
            running: [running_mean, running_var],
            count,
            momentum,
        } => {
            let (mean, var) = kernels::channel_statistics(&x.values, shape.channels, plane);
            let batch = [mean.as_slice(), var.as_slice()];
            let running =
                kernels::running_statistics(&running_mean, &running_var, batch, count, momentum);
            (mean, var, running)
        }
        Statistics::Running(running) => {
            let to_f64 =
                |v: &Vec<E>| -> Vec<f64> { v.iter().map(|v| v.to_f64().expect("float")).collect() };
            (to_f64(&running[0]), to_f64(&running[1]), running)
        }
    };
    let affine = ChannelAffine::new(&mean, &var, &scale.values, &bias.values, epsilon);
    let (shortcut_values, shortcut_gradient) = shortcut.map(|s| (s.values, s.gradient)).unzip();
    let input = x.values;
    let mut out = vec![E::zero(); input.len()];
    kernels::normalise_forward(
        &input,
        shortcut_values.as_deref(),
        &mut out,
        &affine,
        plane,
        relu,
    );
    let count = (shape.batch * shape.height * shape.width) as f64;
    let gradients = [
        Some(x.gradient),
        Some(scale.gradient),
        Some(bias.gradient),
        shortcut_gradient,
    ];
    let backward = Backward::new(
        gradients,
        move |grad, [grad_x, grad_scale, grad_bias, grad_shortcut]| {
            timed(Work::BatchNormBackward, || {
                let shortcut = shortcut_values.as_deref();
                if relu {
                    kernels::relu_mask(grad, &input, shortcut, &affine, plane);
                }
                if shortcut.is_some() {
                    kernels::add_into(grad_shortcut, grad);
                }
                let (sum_grad, sum_grad_centered) =
                    kernels::channel_gradient_sums(grad, &input, &affine, plane);
                let (scale_terms, bias_terms) =
                    kernels::parameter_gradients(&sum_grad, &sum_grad_centered, &affine);
                kernels::add_into(grad_scale, &scale_terms);
                kernels::add_into(grad_bias, &bias_terms);
                let terms = kernels::input_gradient_terms(
                    &sum_grad,
                    &sum_grad_centered,
                    &affine,
                    count,
                    batch_statistics,
                );
                kernels::input_gradient(grad_x, grad, &input, &affine, &terms, plane);
            })
        },
    );
    (out, backward, running)
}
