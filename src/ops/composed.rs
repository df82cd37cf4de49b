//! Convolution and max-pooling composed from dfdx's own ops, for any device that has them: the
//! CUDA device's path (see `cuda.rs`). Autograd comes from dfdx. Compiled with the `cuda`
//! feature, and in tests, where it runs on the CPU against the reference kernels.
//!
//! Convolution is im2col + one matrix product: the input is zero-padded (concatenated with
//! zeros), its K x K neighbourhoods are gathered into a (pixels, K·K·in) matrix, and that is
//! multiplied by the weight reshaped to (K·K·in, out). The product is a plain 2-D matmul: the
//! weight is never broadcast over the batch (cuBLAS's batched matmul rejects a zero batch
//! stride). Max-pooling is a max over the two size-2 axes of a reshape.

use super::{check_conv_kernel, check_pool_size, Bias, ConvWeight, Float, Image, OpError};
use dfdx::prelude::*;
use dfdx::tensor_ops::Device;

/// K x K same-padding convolution with optional bias (see `SpatialOps::try_conv2d`).
pub(crate) fn conv2d<
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
    check_conv_kernel(K)?;
    conv2d_on_device(x, weight, bias).map_err(OpError::device)
}

fn conv2d_on_device<
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
) -> Result<Image<O, E, D, T>, D::Err> {
    let (batch, _, height, width) = *x.shape();
    let device = x.device().clone();
    let pad = K / 2;
    let (padded_height, padded_width) = (height + 2 * pad, width + 2 * pad);
    // (batch, padded pixel, channel)
    let pixels = pad_with_zeros(x, pad)?
        .try_reshape_like(&(batch, Const::<I>, padded_height * padded_width))?
        .try_permute::<_, Axes3<0, 2, 1>>()?;
    // For output pixel (y, x) and tap (ky, kx): the padded pixel (y + ky, x + kx).
    let neighbourhoods: Vec<usize> = (0..height)
        .flat_map(|y| (0..width).map(move |x| (y, x)))
        .flat_map(|(y, x)| {
            (0..K).flat_map(move |ky| (0..K).map(move |kx| (y + ky) * padded_width + x + kx))
        })
        .collect();
    let taps = neighbourhoods.len();
    let index = device.try_tensor_from_vec(neighbourhoods.repeat(batch), (batch, taps))?;
    // (batch · pixel, (ky, kx, channel))
    let columns = pixels
        .try_gather(index)?
        .try_reshape_like(&(batch * height * width, K * K * I))?;
    // ((ky, kx, channel), out channel); `retaped` records the weight's gradient on x's tape.
    let kernel = weight
        .retaped::<T>()
        .try_permute::<_, Axes4<2, 3, 1, 0>>()?
        .try_reshape_like(&(K * K * I, Const::<O>))?;
    let out = columns
        .try_matmul(kernel)?
        .try_reshape_like(&(batch, height * width, Const::<O>))?
        .try_permute::<_, Axes3<0, 2, 1>>()?
        .try_reshape_like(&(batch, Const::<O>, height, width))?;
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
fn pad_with_zeros<const C: usize, E: Float, D: Device<E>, T: Tape<E, D>>(
    x: Image<C, E, D, T>,
    pad: usize,
) -> Result<Image<C, E, D, T>, D::Err> {
    if pad == 0 {
        return Ok(x);
    }
    let (batch, _, height, width) = *x.shape();
    let device = x.device().clone();
    let zeros = |rows: usize, columns: usize| -> Result<Image<C, E, D, T>, D::Err> {
        Ok(device
            .try_zeros_like(&(batch, Const::<C>, rows, columns))?
            .retaped::<T>())
    };
    let wide = (zeros(height, pad)?, x).try_concat_along(Axis::<3>)?;
    let wide = (wide, zeros(height, pad)?).try_concat_along(Axis::<3>)?;
    let tall = (zeros(pad, width + 2 * pad)?, wide).try_concat_along(Axis::<2>)?;
    (tall, zeros(pad, width + 2 * pad)?).try_concat_along(Axis::<2>)
}

/// 2 x 2, stride 2 max-pooling (see `SpatialOps::try_max_pool2x2`). Where a window holds its
/// maximum more than once, dfdx's max sends the gradient to every copy.
pub(crate) fn max_pool2x2<const C: usize, E: Float, D: Device<E>, T: Tape<E, D>>(
    x: Image<C, E, D, T>,
) -> Result<Image<C, E, D, T>, OpError> {
    let (batch, _, height, width) = *x.shape();
    check_pool_size(height, width)?;
    let (half_height, half_width) = (height / 2, width / 2);
    let windows = (|| {
        x.try_reshape_like(&(batch * C * half_height, Const::<2>, half_width, Const::<2>))?
            .try_max::<(usize, usize), Axes2<1, 3>>()?
            .try_reshape_like(&(batch, Const::<C>, half_height, half_width))
    })();
    windows.map_err(OpError::device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::reference::{self, ConvShape};

    fn assert_close(ours: &[f64], reference: &[f64], what: &str) {
        assert_eq!(ours.len(), reference.len(), "{what}");
        for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
            assert!(
                (a - b).abs() < 1e-9 * (1.0 + b.abs()),
                "{what}[{i}]: {a} vs {b}"
            );
        }
    }

    fn check_conv<const I: usize, const O: usize, const K: usize>(shape: (usize, usize, usize)) {
        let dev = Cpu::seed_from_u64(1);
        let (batch, height, width) = shape;
        let x: Image<I, f64, Cpu> = dev.sample_normal_like(&(batch, Const, height, width));
        let w: ConvWeight<O, I, K, f64, Cpu> = dev.sample_normal();
        let b: Bias<O, f64, Cpu> = dev.sample_normal();
        let mix: Image<O, f64, Cpu> = dev.sample_normal_like(&(batch, Const, height, width));
        let conv_shape = ConvShape {
            batch,
            in_channels: I,
            out_channels: O,
            height,
            width,
            kernel: K,
        };
        let out = conv2d(x.leaky_trace(), &w, Some(&b)).unwrap();
        let expected =
            reference::conv2d_forward(conv_shape, &x.as_vec(), &w.as_vec(), Some(&b.as_vec()));
        assert_close(&out.as_vec(), &expected, "output");

        let grads = (out * mix.clone()).sum().backward();
        let mut grad_input = vec![0.0; x.as_vec().len()];
        let mut grad_weight = vec![0.0; w.as_vec().len()];
        let mut grad_bias = vec![0.0; O];
        reference::conv2d_backward(
            conv_shape,
            &x.as_vec(),
            &w.as_vec(),
            &mix.as_vec(),
            &mut grad_input,
            &mut grad_weight,
            Some(&mut grad_bias),
        );
        assert_close(&grads.get(&x).as_vec(), &grad_input, "input gradient");
        assert_close(&grads.get(&w).as_vec(), &grad_weight, "weight gradient");
        assert_close(&grads.get(&b).as_vec(), &grad_bias, "bias gradient");
    }

    #[test]
    fn composed_conv3x3_matches_reference() {
        check_conv::<3, 4, 3>((2, 5, 7));
    }

    #[test]
    fn composed_conv1x1_matches_reference() {
        check_conv::<2, 3, 1>((2, 4, 3));
    }

    #[test]
    fn composed_max_pool_matches_reference() {
        let dev = Cpu::seed_from_u64(2);
        let x: Image<3, f64, Cpu> = dev.sample_normal_like(&(2, Const, 4, 6));
        let mix: Image<3, f64, Cpu> = dev.sample_normal_like(&(2, Const, 2, 3));
        let out = max_pool2x2(x.leaky_trace()).unwrap();
        let (values, argmax) = reference::max_pool2x2_forward(6, 4, 6, &x.as_vec());
        assert_close(&out.as_vec(), &values, "output");
        let grads = (out * mix.clone()).sum().backward();
        let mut grad_input = vec![0.0; x.as_vec().len()];
        reference::max_pool2x2_backward(&argmax, &mix.as_vec(), &mut grad_input);
        assert_close(&grads.get(&x).as_vec(), &grad_input, "input gradient");
    }

    #[test]
    fn composed_ops_reject_bad_sizes() {
        let dev = Cpu::default();
        let x: Image<1, f64, Cpu> = dev.zeros_like(&(1, Const, 3, 4));
        assert!(matches!(
            max_pool2x2(x.clone()),
            Err(OpError::OddPoolSize {
                height: 3,
                width: 4
            })
        ));
        let w: ConvWeight<1, 1, 2, f64, Cpu> = dev.zeros();
        assert!(matches!(conv2d(x, &w, None), Err(OpError::EvenKernel(2))));
    }
}
