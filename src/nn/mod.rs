//! Building blocks of RRCA-Net (Liu et al., IEEE JSTARS 2025), one type per paper component:
//! the residual pair and its shortcut ([`ResidualPair`], [`Shortcut`]), the reusable-convolution
//! block of one encoder level ([`ReusableConvLevel`], its [`Pairs`] counted as the paper counts
//! them), channel attention ([`ChannelAttention`]), the dual interactive attention aggregation
//! module ([`Diaam`]; U-Net's [`ConcatenateFusion`] for the ResUNet baselines) and the output
//! heads ([`FeatureStacking`], [`PassHead`], [`OutputConv`]).
//!
//! Every block is generic over the element type `E` and a device `D: Backend<E>` (dfdx's CPU or
//! CUDA device with our ops from [`crate::ops`]: convolution and pooling, batch norm with fused
//! ReLU and residual-add-ReLU epilogues, bilinear 2x upsampling and the DIAAM aggregation), and
//! implements dfdx's `TensorCollection` (most through the local `tensor_collection!` macro), so
//! optimizers, gradients, parameter counting and safetensors work on any composition. What a
//! block costs is counted elsewhere ([`crate::model::cost`]).
//!
//! Train and eval mode are chosen by the tape the input carries (see [`Mode`]): with an
//! `OwnedTape` BatchNorm normalises with batch statistics and updates its running statistics;
//! without a tape (`NoneTape`) it uses the running statistics and nothing is modified.

mod attention;
mod conv;
mod diaam;
mod fusion;
mod head;
mod init;
mod residual;
mod reusable;
pub mod tensors;

pub use attention::{Attention, ChannelAttention, HiddenUnits, NoAttention};
pub use conv::{Conv, Conv1x1, Conv3x3};
pub use diaam::Diaam;
pub use fusion::{ConcatenateFusion, Fuse};
pub use head::{FeatureStacking, Head, OutputConv, PassHead};
pub use residual::{ConvPair, PairNorms, Projection, ResidualPair, Shortcut};
pub use reusable::{LevelNorms, Pairs, ReusableConvLevel};

use crate::ops::{
    conv2d_batch_norm_eval, upsample_bilinear2x, AttentionOps, BatchNormMode, BatchNormOps,
    Epilogue, Float, Image, OpError, SpatialOps, UpsampleOps,
};
use dfdx::nn::modules::BatchNorm2D;
use dfdx::prelude::{
    Axis, Bilinear, Const, Cpu, Device, NoneTape, OwnedTape, RealizeTo, Tape, Tensor,
    TryConcatAlong, TryUpscale2D,
};
use dfdx::shapes::HasShape;

/// Implements dfdx's `TensorCollection` for a struct of modules: every listed field, in that
/// order, named after the field. Written `Name<const A: usize, ..; M, ..> { field, .. }`: the
/// struct's const parameters, then its type parameters that are modules themselves (each
/// converted to its `To` type), then the element type and device `E, D`, which the macro adds
/// (`.. > without device { .. }` for a struct that has none of its own).
macro_rules! tensor_collection {
    ($name:ident<$(const $c:ident: $t:ty),* $(,)? $(; $($m:ident),+)?> { $($field:ident),+ $(,)? }) => {
        $crate::nn::tensor_collection!(
            @impl $name [$($c: $t),*] [$($($m),+)?] [E, D] [E2, D2] { $($field),+ }
        );
    };
    ($name:ident<$(const $c:ident: $t:ty),* $(,)? $(; $($m:ident),+)?> without device
        { $($field:ident),+ $(,)? }) => {
        $crate::nn::tensor_collection!(
            @impl $name [$($c: $t),*] [$($($m),+)?] [] [] { $($field),+ }
        );
    };
    (@impl $name:ident [$($c:ident: $t:ty),*] [$($m:ident),*] [$($device:ident),*]
        [$($device2:ident),*] { $($field:ident),+ }) => {
        impl<
            $(const $c: $t,)*
            $($m: ::dfdx::prelude::TensorCollection<E, D>,)*
            E: $crate::ops::Float,
            D: $crate::nn::Backend<E>,
        > ::dfdx::prelude::TensorCollection<E, D> for $name<$($c,)* $($m,)* $($device),*>
        {
            type To<E2: ::dfdx::prelude::Dtype, D2: ::dfdx::prelude::Device<E2>> =
                $name<$($c,)* $($m::To<E2, D2>,)* $($device2),*>;

            fn iter_tensors<V: ::dfdx::prelude::ModuleVisitor<Self, E, D>>(
                visitor: &mut V,
            ) -> ::std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
                visitor.visit_fields(
                    ($(Self::module(stringify!($field), |s| &s.$field, |s| &mut s.$field),)+),
                    |($($field,)+)| $name { $($field),+ },
                )
            }
        }
    };
}
pub(crate) use tensor_collection;

/// What a block's forward pass can fail with: an op rejecting a shape (e.g. an odd size at a
/// pooling step) or the device failing.
pub type Result<T> = std::result::Result<T, OpError>;

/// The devices RRCA-Net runs on: dfdx's tensor ops, our convolution, pooling, batch norm,
/// bilinear 2x upsampling and DIAAM aggregation, and bilinear resizing by other factors
/// (dfdx keeps its upsampling kernel trait private, so each device states it here).
pub trait Backend<E: Float>:
    Device<E> + SpatialOps<E> + BatchNormOps<E> + UpsampleOps<E> + AttentionOps<E>
{
    /// Bilinear resize of `x` to `height` x `width` (align_corners = true, as the reference),
    /// with dfdx's `upscale2d`; [`upsample`] takes our kernel for the decoder's 2x steps.
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
/// already has that size, our fused kernel when it doubles both sides.
pub fn upsample<const C: usize, E: Float, D: Backend<E>, T: Mode<E, D>>(
    x: Image<C, E, D, T>,
    height: usize,
    width: usize,
) -> Result<Image<C, E, D, T>> {
    let (_, _, h, w) = *x.shape();
    if (h, w) == (height, width) {
        return Ok(x);
    }
    if (2 * h, 2 * w) == (height, width) {
        return upsample_bilinear2x(x);
    }
    D::upsample_bilinear(x, height, width)
}

/// Train or eval mode, carried by the tape of the input.
///
/// - `OwnedTape` (train): BatchNorm uses the batch statistics and updates its running mean and
///   variance (momentum 0.1, unbiased variance, as PyTorch); gradients are recorded.
/// - `NoneTape` (eval): BatchNorm uses the running statistics, folded into the convolution
///   before it; the model is not modified, so eval outputs are deterministic and each image's
///   output is independent of its batch.
pub trait Mode<E: Float, D: Backend<E>>: Tape<E, D> + 'static {
    /// `epilogue(batch_norm(conv(x)))` in this mode (see [`conv_batch_norm`]).
    fn conv_batch_norm<const I: usize, const O: usize, const K: usize>(
        conv: &Conv<I, O, K, E, D>,
        norm: &mut BatchNorm2D<O, E, D>,
        x: Image<I, E, D, Self>,
        epilogue: Epilogue<Image<O, E, D, Self>>,
    ) -> Result<Image<O, E, D, Self>>;
}

impl<E: Float, D: Backend<E>> Mode<E, D> for NoneTape {
    fn conv_batch_norm<const I: usize, const O: usize, const K: usize>(
        conv: &Conv<I, O, K, E, D>,
        norm: &mut BatchNorm2D<O, E, D>,
        x: Image<I, E, D>,
        epilogue: Epilogue<Image<O, E, D>>,
    ) -> Result<Image<O, E, D>> {
        conv2d_batch_norm_eval(x, &conv.weight, Some(&conv.bias), norm, epilogue)
    }
}

impl<E: Float, D: Backend<E>> Mode<E, D> for OwnedTape<E, D> {
    fn conv_batch_norm<const I: usize, const O: usize, const K: usize>(
        conv: &Conv<I, O, K, E, D>,
        norm: &mut BatchNorm2D<O, E, D>,
        x: Image<I, E, D, Self>,
        epilogue: Epilogue<Image<O, E, D, Self>>,
    ) -> Result<Image<O, E, D, Self>> {
        D::try_batch_norm2d(conv.forward(x)?, BatchNormMode::Train(norm), epilogue)
    }
}

/// `epilogue(batch_norm(conv(x)))`: a convolution, its BatchNorm and what follows it (nothing,
/// a ReLU, or adding a shortcut and a ReLU), in the mode of `x`'s tape (see [`Mode`]). In
/// training, the convolution, then the batch norm with its epilogue fused; in evaluation, one
/// op with the batch norm folded into the convolution and the epilogue in its output tiles.
pub fn conv_batch_norm<
    const I: usize,
    const O: usize,
    const K: usize,
    E: Float,
    D: Backend<E>,
    T: Mode<E, D>,
>(
    conv: &Conv<I, O, K, E, D>,
    norm: &mut BatchNorm2D<O, E, D>,
    x: Image<I, E, D, T>,
    epilogue: Epilogue<Image<O, E, D, T>>,
) -> Result<Image<O, E, D, T>> {
    T::conv_batch_norm(conv, norm, x, epilogue)
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

/// A block from `I` to `O` channels applied the same way in every pass (the stem, the
/// stacking fusions, the heads' residual pair).
pub trait Block<const I: usize, const O: usize, E: Float, D: Backend<E>> {
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
