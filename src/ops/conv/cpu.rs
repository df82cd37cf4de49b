//! The convolution on the CPU: every algorithm, the direct kernels ([`super::direct`]) through
//! the tape helper.

use super::composed::composed_conv2d;
use super::direct::{self, Finish};
use super::{check_kernel, ConvAlgorithm, ConvOps, ConvShape};
use crate::ops::profile::{timed, Work};
use crate::ops::tape::{Backward, Input, OpTape};
use crate::ops::{Bias, ConvWeight, DeviceKind, Float, Image, OpError};
use dfdx::prelude::{Cpu, HasShape, Tape};
use dfdx::tensor_ops::Device;

impl<E: Float> ConvOps<E> for Cpu
where
    Cpu: Device<E>,
{
    const DEVICE: DeviceKind = DeviceKind::Cpu;

    fn try_conv2d_with<const I: usize, const O: usize, const K: usize, T: Tape<E, Self>>(
        algorithm: ConvAlgorithm,
        x: Image<I, E, Self, T>,
        weight: &ConvWeight<O, I, K, E, Self>,
        bias: Option<&Bias<O, E, Self>>,
    ) -> Result<Image<O, E, Self, T>, OpError> {
        match algorithm {
            ConvAlgorithm::Direct => {
                check_kernel(K)?;
                let shape = ConvShape::of::<I, O, K>(x.shape());
                let (tape, x) = OpTape::split(x)?;
                let (out, backward) =
                    direct_conv2d::<E, K>(shape, x, Input::of(weight), bias.map(Input::of));
                tape.finish(out, shape.output::<O>(), backward)
            }
            ConvAlgorithm::Im2col => composed_conv2d(x, weight, bias),
        }
    }
}

/// The direct convolution's forward kernel, and its backward pass: the input gradient, then
/// the weight and bias gradients.
fn direct_conv2d<E: Float, const K: usize>(
    shape: ConvShape,
    x: Input<E>,
    weight: Input<E>,
    bias: Option<Input<E>>,
) -> (Vec<E>, Backward<E, 3>) {
    let bias_values = bias.as_ref().map(|b| b.values.as_slice());
    let out = timed(Work::ConvForward, || {
        direct::conv2d_forward::<E, K>(shape, &x.values, &weight.values, bias_values, Finish::Store)
    });
    let (input, weight_values, with_bias) = (x.values, weight.values, bias.is_some());
    let gradients = [
        Some(x.gradient),
        Some(weight.gradient),
        bias.map(|b| b.gradient),
    ];
    let backward = Backward::new(
        gradients,
        move |grad_out, [grad_input, grad_weight, grad_bias]| {
            timed(Work::ConvInputGradient, || {
                direct::conv2d_backward_input::<E, K>(shape, &weight_values, grad_out, grad_input)
            });
            timed(Work::ConvWeightGradient, || {
                direct::conv2d_backward_weight::<E, K>(
                    shape,
                    &input,
                    grad_out,
                    grad_weight,
                    with_bias.then_some(grad_bias),
                )
            });
        },
    );
    (out, backward)
}
