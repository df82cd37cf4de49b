//! Differentiable image ops that dfdx 0.13 offers only behind its `nightly` feature (which no
//! longer compiles): 2-D convolution with same zero padding and 2 x 2 max-pooling.
//!
//! Tensors are NCHW with the channel count in the type (`Const<C>`) and batch, height and
//! width as `usize`. Each op is a method of [`SpatialOps`], implemented per device: the CPU
//! device runs our own forward and backward kernels registered on dfdx's tape; the CUDA
//! device composes dfdx ops that exist there. The tape travels with the input `x`; weights
//! are read by reference, and their gradients accumulate, so one weight used several times in
//! a graph receives the sum of its uses' gradients.

pub mod attention;
pub mod batch_norm;
#[cfg(any(feature = "cuda", test))]
mod composed;
mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
mod direct;
pub mod norm_reference;
mod pool;
pub mod reference;
mod simd;
pub mod upsample;

use dfdx::prelude::{Const, Dtype, NoneTape, Tape, Tensor};
use dfdx::tensor::Storage;

pub use attention::{attention_aggregation, AttentionOps, ChannelWeights};
pub use batch_norm::{
    batch_norm2d, batch_norm2d_add_relu, batch_norm2d_relu, BatchNormMode, BatchNormOps, Epilogue,
};
pub use upsample::{upsample_bilinear2x, UpsampleOps};

/// A batch of images with `C` channels: (batch, C, height, width).
pub type Image<const C: usize, E, D, T = NoneTape> =
    Tensor<(usize, Const<C>, usize, usize), E, D, T>;
/// Convolution weights: (out channels, in channels, K, K).
pub type ConvWeight<const O: usize, const I: usize, const K: usize, E, D> =
    Tensor<(Const<O>, Const<I>, Const<K>, Const<K>), E, D>;
/// One bias per output channel.
pub type Bias<const O: usize, E, D> = Tensor<(Const<O>,), E, D>;

/// What can go wrong in an op: shapes the op does not define, or the device failing.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("2x2 max-pool needs an even height and width, got {height}x{width}")]
    OddPoolSize { height: usize, width: usize },
    #[error("same-padding convolution needs an odd kernel size, got {0}")]
    EvenKernel(usize),
    #[error("batch norm: the shortcut's shape {shortcut:?} differs from the input's {input:?}")]
    ShortcutShape {
        input: (usize, usize, usize, usize),
        shortcut: (usize, usize, usize, usize),
    },
    #[error(
        "batch norm: training needs more than one value per channel (batch x height x width), got {0}"
    )]
    SingleValueBatch(usize),
    #[error("device error: {0}")]
    Device(String),
}

impl OpError {
    pub(crate) fn device(error: impl std::fmt::Debug) -> Self {
        OpError::Device(format!("{error:?}"))
    }
}

/// Same padding (K / 2 on each side) keeps the image size only for odd kernels.
fn check_conv_kernel(kernel: usize) -> Result<(), OpError> {
    if kernel.is_multiple_of(2) {
        return Err(OpError::EvenKernel(kernel));
    }
    Ok(())
}

/// 2 x 2 pooling with stride 2 covers the image exactly only for even sizes.
fn check_pool_size(height: usize, width: usize) -> Result<(), OpError> {
    if !height.is_multiple_of(2) || !width.is_multiple_of(2) {
        return Err(OpError::OddPoolSize { height, width });
    }
    Ok(())
}

/// The element types our kernels support (each has SIMD vector types, see `simd`).
pub trait Float: Dtype + num_traits::Float + Send + Sync + simd::Element {
    /// `x` as this type; for constants and hyperparameters, which are finite.
    fn of(x: f64) -> Self {
        <Self as num_traits::NumCast>::from(x).expect("a finite constant")
    }
}
impl Float for f32 {}
impl Float for f64 {}

/// Devices that run our spatial ops.
pub trait SpatialOps<E: Float>: Storage<E> {
    /// K x K convolution, stride 1, zero padding K / 2 (output the size of the input),
    /// optional per-channel bias.
    fn try_conv2d<const I: usize, const O: usize, const K: usize, T: Tape<E, Self>>(
        x: Image<I, E, Self, T>,
        weight: &ConvWeight<O, I, K, E, Self>,
        bias: Option<&Bias<O, E, Self>>,
    ) -> Result<Image<O, E, Self, T>, OpError>;

    /// 2 x 2 max-pooling with stride 2; odd heights or widths are an error.
    fn try_max_pool2x2<const C: usize, T: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError>;
}

/// K x K same-padding convolution of `x` (see [`SpatialOps::try_conv2d`]).
pub fn conv2d<
    const I: usize,
    const O: usize,
    const K: usize,
    E: Float,
    D: SpatialOps<E>,
    T: Tape<E, D>,
>(
    x: Image<I, E, D, T>,
    weight: &ConvWeight<O, I, K, E, D>,
    bias: Option<&Bias<O, E, D>>,
) -> Result<Image<O, E, D, T>, OpError> {
    D::try_conv2d(x, weight, bias)
}

/// 2 x 2, stride 2 max-pooling of `x` (see [`SpatialOps::try_max_pool2x2`]).
pub fn max_pool2x2<const C: usize, E: Float, D: SpatialOps<E>, T: Tape<E, D>>(
    x: Image<C, E, D, T>,
) -> Result<Image<C, E, D, T>, OpError> {
    D::try_max_pool2x2(x)
}

/// A tensor's elements in row-major order. Unlike dfdx's `as_vec` (which panics there), also
/// for tensors without elements, such as the 0-unit channel-attention MLP of width-4 models.
pub fn host_values<S: dfdx::shapes::Shape, E: Dtype, D: Storage<E>, T>(
    t: &Tensor<S, E, D, T>,
) -> Vec<E> {
    use dfdx::shapes::HasShape;
    if t.shape().num_elements() == 0 {
        Vec::new()
    } else {
        t.as_vec()
    }
}
