//! The folded convolution composed from dfdx's ops and our convolution, for any device: the
//! CUDA device's version (tested on the CPU).

use super::check_shortcut;
#[cfg(feature = "cuda")]
use super::ConvBatchNormOps;
use crate::ops::{conv2d, Bias, ConvOps, ConvWeight, Epilogue, Float, Image, OpError};
use dfdx::nn::modules::BatchNorm2D;
use dfdx::prelude::{Axes3, Const, Device, HasShape};
use dfdx::tensor_ops::{BroadcastTo, TryAdd, TryDiv, TryMul, TrySub};

/// The folded weights and bias computed with dfdx's elementwise ops, then the convolution and
/// the epilogue as separate ops.
///
/// # Errors
/// As [`ConvBatchNormOps::try_conv2d_batch_norm_eval`].
pub fn composed_conv2d_batch_norm_eval<
    const I: usize,
    const O: usize,
    const K: usize,
    E: Float,
    D: Device<E> + ConvOps<E>,
>(
    x: Image<I, E, D>,
    weight: &ConvWeight<O, I, K, E, D>,
    bias: Option<&Bias<O, E, D>>,
    norm: &BatchNorm2D<O, E, D>,
    epilogue: Epilogue<Image<O, E, D>>,
) -> Result<Image<O, E, D>, OpError> {
    let (batch, _, height, width) = *x.shape();
    check_shortcut(&(batch, Const, height, width), &epilogue)?;
    let folded = (|| -> Result<_, D::Err> {
        let gain = norm.scale.clone().try_div(
            norm.running_var
                .clone()
                .try_add(E::of(norm.epsilon))?
                .try_sqrt()?,
        )?;
        let weight = weight
            .clone()
            .try_mul(gain.clone().try_broadcast::<_, Axes3<1, 2, 3>>()?)?;
        let bias = match bias {
            Some(bias) => bias.clone(),
            None => x.device().try_zeros()?,
        };
        let bias = bias
            .try_sub(norm.running_mean.clone())?
            .try_mul(gain)?
            .try_add(norm.bias.clone())?;
        Ok((weight, bias))
    })();
    let (folded_weight, folded_bias) = folded.map_err(OpError::device)?;
    let out = conv2d(x, &folded_weight, Some(&folded_bias))?;
    let finished = match epilogue {
        Epilogue::Identity => Ok(out),
        Epilogue::Relu => out.try_relu(),
        Epilogue::AddRelu(shortcut) => out.try_add(shortcut).and_then(|sum| sum.try_relu()),
    };
    finished.map_err(OpError::device)
}

#[cfg(feature = "cuda")]
impl<E: Float> ConvBatchNormOps<E> for dfdx::prelude::Cuda
where
    dfdx::prelude::Cuda: Device<E>,
{
    fn try_conv2d_batch_norm_eval<const I: usize, const O: usize, const K: usize>(
        x: Image<I, E, Self>,
        weight: &ConvWeight<O, I, K, E, Self>,
        bias: Option<&Bias<O, E, Self>>,
        norm: &BatchNorm2D<O, E, Self>,
        epilogue: Epilogue<Image<O, E, Self>>,
    ) -> Result<Image<O, E, Self>, OpError> {
        composed_conv2d_batch_norm_eval(x, weight, bias, norm, epilogue)
    }
}
