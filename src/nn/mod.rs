//! Building blocks of RRCA-Net (Liu et al., IEEE JSTARS 2025), one type per paper component:
//! the residual pair and its shortcut ([`ResidualPair`], [`Shortcut`]), the reusable-convolution
//! block of one encoder level ([`ReusableConvLevel`], Sec. III-B), channel attention
//! ([`ChannelAttention`]), the dual interactive attention aggregation module ([`Diaam`],
//! Sec. III-C; U-Net's [`ConcatenateFusion`] for the ResUNet baselines) and the output heads ([`FeatureStacking`], [`PassHead`], Sec. III-D).
//!
//! Every block is generic over the element type `E` and a device `D: Backend<E>` (dfdx's CPU or
//! CUDA device with our [`crate::ops::SpatialOps`]), and implements dfdx's `TensorCollection`,
//! so optimizers, gradients, parameter counting and safetensors work on any composition.
//!
//! Train and eval mode are chosen by the tape the input carries (see [`Mode`]): with an
//! `OwnedTape` BatchNorm normalises with batch statistics and updates its running statistics;
//! without a tape (`NoneTape`) it uses the running statistics and nothing is modified.

mod attention;
mod complexity;
mod conv;
mod diaam;
mod fusion;
mod head;
mod init;
mod residual;
mod reusable;

pub use attention::{Attention, ChannelAttention, NoAttention};
pub use complexity::{Complexity, Tally};
pub use conv::{Conv, Conv1x1, Conv3x3};
pub use diaam::Diaam;
pub use fusion::{ConcatenateFusion, Fuse};
pub use head::{FeatureStacking, Head, PassHead};
pub use residual::{ConvPair, PairNorms, Projection, ResidualPair, Shortcut};
pub use reusable::{LevelNorms, ReusableConvLevel};

use crate::ops::{Float, Image, OpError, SpatialOps};
use dfdx::nn::modules::BatchNorm2D;
use dfdx::prelude::{
    Axis, Bilinear, Const, Cpu, Device, Module, ModuleMut, NoneTape, OwnedTape, RealizeTo, Tape,
    Tensor, TryConcatAlong, TryUpscale2D,
};

/// What a block's forward pass can fail with: an op rejecting a shape (e.g. an odd size at a
/// pooling step) or the device failing.
pub type Result<T> = std::result::Result<T, OpError>;

/// The devices RRCA-Net runs on: dfdx's tensor ops, our convolution and pooling, and bilinear
/// upsampling (dfdx keeps its upsampling kernel trait private, so each device states it here).
pub trait Backend<E: Float>: Device<E> + SpatialOps<E> {
    /// Bilinear resize of `x` to `height` x `width` (align_corners = true, as the reference).
    fn upsample_bilinear<const C: usize, T: Tape<E, Self> + 'static>(
        x: Image<C, E, Self, T>,
        height: usize,
        width: usize,
    ) -> Result<Image<C, E, Self, T>>;
}

/// Implements [`Backend`] for a dfdx device and element type.
macro_rules! backend {
    ($device:ty, $element:ty) => {
        impl Backend<$element> for $device {
            fn upsample_bilinear<const C: usize, T: Tape<$element, Self> + 'static>(
                x: Image<C, $element, Self, T>,
                height: usize,
                width: usize,
            ) -> Result<Image<C, $element, Self, T>> {
                x.try_upscale2d_like(Bilinear, height, width)
                    .map_err(OpError::device)
            }
        }
    };
}
backend!(Cpu, f32);
backend!(Cpu, f64);
#[cfg(feature = "cuda")]
backend!(dfdx::prelude::Cuda, f32);
#[cfg(feature = "cuda")]
backend!(dfdx::prelude::Cuda, f64);

/// Bilinear resize of `x` to `height` x `width` (align_corners = true); the identity when `x`
/// already has that size.
pub fn upsample<const C: usize, E: Float, D: Backend<E>, T: Mode<E, D>>(
    x: Image<C, E, D, T>,
    height: usize,
    width: usize,
) -> Result<Image<C, E, D, T>> {
    let (_, _, h, w) = *x.shape();
    if (h, w) == (height, width) {
        return Ok(x);
    }
    D::upsample_bilinear(x, height, width)
}

/// Train or eval mode, carried by the tape of the input.
///
/// - `OwnedTape` (train): BatchNorm uses the batch statistics and updates its running mean and
///   variance (momentum 0.1, unbiased variance, as PyTorch); gradients are recorded.
/// - `NoneTape` (eval): BatchNorm uses the running statistics; the model is not modified, so
///   eval outputs are deterministic and each image's output is independent of its batch.
pub trait Mode<E: Float, D: Backend<E>>: Tape<E, D> + 'static {
    /// Batch normalisation of `x` in this mode.
    fn batch_norm<const C: usize>(
        norm: &mut BatchNorm2D<C, E, D>,
        x: Image<C, E, D, Self>,
    ) -> Result<Image<C, E, D, Self>>;
}

impl<E: Float, D: Backend<E>> Mode<E, D> for NoneTape {
    fn batch_norm<const C: usize>(
        norm: &mut BatchNorm2D<C, E, D>,
        x: Image<C, E, D>,
    ) -> Result<Image<C, E, D>> {
        norm.try_forward(x).map_err(OpError::device)
    }
}

impl<E: Float, D: Backend<E>> Mode<E, D> for OwnedTape<E, D> {
    fn batch_norm<const C: usize>(
        norm: &mut BatchNorm2D<C, E, D>,
        x: Image<C, E, D, Self>,
    ) -> Result<Image<C, E, D, Self>> {
        norm.try_forward_mut(x).map_err(OpError::device)
    }
}

/// A batch of images whose channel count is known only at run time (a concatenation).
pub type StackedImage<E, D, T> = Tensor<(usize, usize, usize, usize), E, D, T>;

/// Concatenates images along the channel axis and gives the result its static width `C`;
/// an error if the channel counts do not add up to `C`.
pub fn concat_channels<const C: usize, E: Float, D: Backend<E>, T: Mode<E, D>>(
    parts: Vec<StackedImage<E, D, T>>,
) -> Result<Image<C, E, D, T>> {
    let mut parts = parts.into_iter();
    let first = parts
        .next()
        .ok_or_else(|| OpError::Device("nothing to concatenate".into()))?;
    let stacked = parts.try_fold(first, |acc, part| {
        (acc, part)
            .try_concat_along(Axis::<1>)
            .map_err(OpError::device)
    })?;
    let channels = stacked.shape().1;
    stacked
        .try_realize::<(usize, Const<C>, usize, usize)>()
        .map_err(|_| OpError::Device(format!("stacked {channels} channels, expected {C}")))
}

/// `x` with its channel count moved to run time, ready for [`concat_channels`].
pub fn unsized_channels<const C: usize, E: Float, D: Backend<E>, T: Mode<E, D>>(
    x: Image<C, E, D, T>,
) -> Result<StackedImage<E, D, T>> {
    x.try_realize()
        .map_err(|_| OpError::Device("a static shape is a run-time shape".into()))
}

use dfdx::shapes::HasShape;

/// A block from `I` to `O` channels applied the same way in every pass (the stem, the
/// stacking fusions, the heads' residual pair).
pub trait Block<const I: usize, const O: usize, E: Float, D: Backend<E>>: Complexity {
    /// Applies the block in train or eval mode (see [`Mode`]).
    fn forward<T: Mode<E, D>>(&mut self, x: Image<I, E, D, T>) -> Result<Image<O, E, D, T>>;
}

impl<const I: usize, const O: usize, const K: usize, E: Float, D: Backend<E>> Block<I, O, E, D>
    for Conv<I, O, K, E, D>
{
    fn forward<T: Mode<E, D>>(&mut self, x: Image<I, E, D, T>) -> Result<Image<O, E, D, T>> {
        Conv::forward(self, x)
    }
}
