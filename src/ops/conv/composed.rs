//! The convolution composed from dfdx's own ops ([`super::ConvAlgorithm::Im2col`]), for any device
//! that has them: the CUDA device's algorithm, and one of the CPU's (tested there). Autograd
//! comes from dfdx.
//!
//! im2col + one matrix product: the input is zero-padded (concatenated with zeros), its K x K
//! neighbourhoods are gathered into a (pixels, K·K·in) matrix, and that is multiplied by the
//! weight reshaped to (K·K·in, out). The product is a plain 2-D matmul: the weight is never
//! broadcast over the batch (cuBLAS's batched matmul rejects a zero batch stride). The channel
//! counts are run-time sizes inside, so the composition is compiled once per element type,
//! device and tape, not once per layer shape.

use super::{check_kernel, ConvShape};
#[cfg(feature = "cuda")]
use super::{ConvAlgorithm, ConvOps};
use crate::ops::{Bias, ConvWeight, Float, Image, OpError};
use dfdx::prelude::*;
use dfdx::shapes::RealizeShapeTo;
use dfdx::tensor_ops::Device;

/// An NCHW tensor with every size a run-time size.
type Dynamic<E, D, T = NoneTape> = Tensor<(usize, usize, usize, usize), E, D, T>;

/// K x K same-padding convolution with optional bias (see [`super::ConvOps::try_conv2d`]).
pub fn composed_conv2d<
    const I: usize,
    const O: usize,
    const K: usize,
    E: Float,
    D: Device<E>,
    T: Tape<E, D>,
>(
    x: Image<I, E, D, T>,
    weight: &ConvWeight<O, I, K, E, D>,
    bias: Option<&Bias<O, E, D>>,
) -> Result<Image<O, E, D, T>, OpError> {
    check_kernel(K)?;
    let shape = ConvShape::of::<I, O, K>(x.shape());
    let bias = bias.map(|b| realized(b.clone())).transpose()?;
    let out = im2col_conv2d(shape, realized(x)?, realized(weight.clone())?, bias)
        .map_err(OpError::device)?;
    realized(out)
}

/// `t` with the sizes of shape `Dst`, without a copy: here, from compile-time to run-time
/// sizes and back.
fn realized<Src, Dst, E: Float, D: Device<E>, T: Tape<E, D>>(
    t: Tensor<Src, E, D, T>,
) -> Result<Tensor<Dst, E, D, T>, OpError>
where
    Src: Shape + RealizeShapeTo<Dst>,
    Dst: Shape<Concrete = Src::Concrete>,
{
    t.try_realize().map_err(|t| OpError::ShapeMismatch {
        op: "im2col convolution",
        input: "tensor",
        expected: std::any::type_name::<Dst>().into(),
        found: format!("{:?}", t.shape().concrete()),
    })
}

fn im2col_conv2d<E: Float, D: Device<E>, T: Tape<E, D>>(
    shape: ConvShape,
    x: Dynamic<E, D, T>,
    weight: Dynamic<E, D>,
    bias: Option<Tensor<(usize,), E, D>>,
) -> Result<Dynamic<E, D, T>, D::Err> {
    let ConvShape {
        batch,
        in_channels,
        out_channels,
        height,
        width,
        kernel,
    } = shape;
    let device = x.device().clone();
    let pad = kernel / 2;
    let (padded_height, padded_width) = (height + 2 * pad, width + 2 * pad);
    // (batch, padded pixel, channel)
    let pixels = pad_with_zeros(x, pad)?
        .try_reshape_like(&(batch, in_channels, padded_height * padded_width))?
        .try_permute::<_, Axes3<0, 2, 1>>()?;
    // For output pixel (y, x) and tap (ky, kx): the padded pixel (y + ky, x + kx).
    let neighbourhoods: Vec<usize> = (0..height)
        .flat_map(|y| (0..width).map(move |x| (y, x)))
        .flat_map(|(y, x)| {
            (0..kernel)
                .flat_map(move |ky| (0..kernel).map(move |kx| (y + ky) * padded_width + x + kx))
        })
        .collect();
    let taps = neighbourhoods.len();
    let index = device.try_tensor_from_vec(neighbourhoods.repeat(batch), (batch, taps))?;
    // (batch · pixel, (ky, kx, channel))
    let taps_per_pixel = kernel * kernel * in_channels;
    let columns = pixels
        .try_gather(index)?
        .try_reshape_like(&(batch * height * width, taps_per_pixel))?;
    // ((ky, kx, channel), out channel); `retaped` records the weight's gradient on x's tape.
    let kernel = weight
        .retaped::<T>()
        .try_permute::<_, Axes4<2, 3, 1, 0>>()?
        .try_reshape_like(&(taps_per_pixel, out_channels))?;
    let out = columns
        .try_matmul(kernel)?
        .try_reshape_like(&(batch, height * width, out_channels))?
        .try_permute::<_, Axes3<0, 2, 1>>()?
        .try_reshape_like(&(batch, out_channels, height, width))?;
    match bias {
        Some(bias) => {
            let shape = *out.shape();
            let bias = bias
                .retaped::<T>()
                .try_broadcast_like::<_, Axes3<0, 2, 3>>(&shape)?;
            out.try_add(bias)
        }
        None => Ok(out),
    }
}

/// `x` with `pad` zero rows above and below and `pad` zero columns left and right.
fn pad_with_zeros<E: Float, D: Device<E>, T: Tape<E, D>>(
    x: Dynamic<E, D, T>,
    pad: usize,
) -> Result<Dynamic<E, D, T>, D::Err> {
    if pad == 0 {
        return Ok(x);
    }
    let (batch, channels, height, width) = *x.shape();
    let device = x.device().clone();
    let zeros = |rows: usize, columns: usize| -> Result<Dynamic<E, D, T>, D::Err> {
        Ok(device
            .try_zeros_like(&(batch, channels, rows, columns))?
            .retaped::<T>())
    };
    let wide = (zeros(height, pad)?, x).try_concat_along(Axis::<3>)?;
    let wide = (wide, zeros(height, pad)?).try_concat_along(Axis::<3>)?;
    let tall = (zeros(pad, width + 2 * pad)?, wide).try_concat_along(Axis::<2>)?;
    (tall, zeros(pad, width + 2 * pad)?).try_concat_along(Axis::<2>)
}

/// The CUDA device runs the im2col convolution alone.
#[cfg(feature = "cuda")]
impl<E: Float> ConvOps<E> for Cuda
where
    Cuda: Device<E>,
{
    const DEVICE: crate::ops::DeviceKind = crate::ops::DeviceKind::Cuda;

    fn try_conv2d_with<const I: usize, const O: usize, const K: usize, T: Tape<E, Self>>(
        algorithm: ConvAlgorithm,
        x: Image<I, E, Self, T>,
        weight: &ConvWeight<O, I, K, E, Self>,
        bias: Option<&Bias<O, E, Self>>,
    ) -> Result<Image<O, E, Self, T>, OpError> {
        match algorithm {
            ConvAlgorithm::Im2col => composed_conv2d(x, weight, bias),
            ConvAlgorithm::Direct => Err(OpError::AlgorithmUnavailable {
                algorithm,
                device: Self::DEVICE,
            }),
        }
    }
}
