//! The folded convolution on the CPU: the weights folded on the host, the direct kernel with
//! the epilogue on each block of rows it writes.

use super::{check_shortcut, ConvBatchNormOps};
use crate::ops::conv::direct::{conv2d_forward, Finish};
use crate::ops::conv::{check_kernel, ConvShape};
use crate::ops::profile::{timed, Work};
use crate::ops::tape::host_copy;
use crate::ops::{Bias, ConvWeight, Epilogue, Float, Image, OpError};
use dfdx::nn::modules::BatchNorm2D;
use dfdx::prelude::{Cpu, HasShape, TensorFromVec};
use dfdx::tensor_ops::Device;

impl<E: Float> ConvBatchNormOps<E> for Cpu
where
    Cpu: Device<E>,
{
    fn try_conv2d_batch_norm_eval<const I: usize, const O: usize, const K: usize>(
        x: Image<I, E, Self>,
        weight: &ConvWeight<O, I, K, E, Self>,
        bias: Option<&Bias<O, E, Self>>,
        norm: &BatchNorm2D<O, E, Self>,
        epilogue: Epilogue<Image<O, E, Self>>,
    ) -> Result<Image<O, E, Self>, OpError> {
        check_kernel(K)?;
        let shape = ConvShape::of::<I, O, K>(x.shape());
        let output = shape.output::<O>();
        check_shortcut(&output, &epilogue)?;
        let (weight, bias) = fold(weight, bias, norm);
        let input = host_copy(&x);
        let shortcut = match &epilogue {
            Epilogue::AddRelu(shortcut) => Some(host_copy(shortcut)),
            Epilogue::Identity | Epilogue::Relu => None,
        };
        let finish = match (&shortcut, &epilogue) {
            (Some(shortcut), _) => Finish::AddRelu(shortcut),
            (None, Epilogue::Relu) => Finish::Relu,
            (None, _) => Finish::Store,
        };
        let out = timed(Work::ConvForward, || {
            conv2d_forward::<E, K>(shape, &input, &weight, Some(&bias), finish)
        });
        x.device()
            .try_tensor_from_vec(out, output)
            .map_err(OpError::device)
    }
}

/// The folded weights and bias (see the module docs), computed in f64.
fn fold<const I: usize, const O: usize, const K: usize, E: Float>(
    weight: &ConvWeight<O, I, K, E, Cpu>,
    bias: Option<&Bias<O, E, Cpu>>,
    norm: &BatchNorm2D<O, E, Cpu>,
) -> (Vec<E>, Vec<E>) {
    let to_f64 = |values: Vec<E>| -> Vec<f64> {
        values
            .into_iter()
            .map(|v| v.to_f64().unwrap_or(f64::NAN))
            .collect()
    };
    let [scale, shift, mean, var] = [
        &norm.scale,
        &norm.bias,
        &norm.running_mean,
        &norm.running_var,
    ]
    .map(|t| to_f64(host_copy(t)));
    let bias = bias.map_or_else(|| vec![0.0; O], |b| to_f64(host_copy(b)));
    let gain: Vec<f64> = scale
        .iter()
        .zip(&var)
        .map(|(s, v)| s / (v + norm.epsilon).sqrt())
        .collect();
    let per_output = I * K * K;
    let weight = host_copy(weight)
        .into_iter()
        .enumerate()
        .map(|(i, w)| E::of(gain[i / per_output] * w.to_f64().unwrap_or(f64::NAN)))
        .collect();
    let bias = (0..O)
        .map(|o| E::of(gain[o] * (bias[o] - mean[o]) + shift[o]))
        .collect();
    (weight, bias)
}
