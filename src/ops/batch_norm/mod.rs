//! Batch normalisation of images (Ioffe & Szegedy, 2015), with the epilogues RRCA-Net's
//! residual pairs put after it: conv -> BN -> ReLU -> conv -> BN -> (+ shortcut) -> ReLU is
//! `conv2d`, [`batch_norm2d_relu`], `conv2d`, [`batch_norm2d_add_relu`].
//!
//! The parameters live in dfdx's [`BatchNorm2D`] module, with its semantics (PyTorch's):
//! in training the batch statistics over (batch, height, width) normalise, with the biased
//! variance, and the running statistics move towards them by `momentum`, with the unbiased
//! variance; in evaluation the running statistics normalise. Either way the result is scaled
//! by `scale` and shifted by `bias`. Gradients flow to the input, `scale`, `bias` and the
//! shortcut.
//!
//! The CPU device runs fused kernels: the forward pass reads the input twice (statistics,
//! output) and the backward pass computes the input gradient as one per-channel affine map of
//! the output gradient and the input. Other devices compose dfdx ops
//! ([`composed_batch_norm2d`]).

mod composed;
mod cpu;
mod kernels;
pub mod reference;
#[cfg(test)]
mod tests;

pub use composed::composed_batch_norm2d;

use super::{check_shape, Float, Image, OpError};
use dfdx::nn::modules::BatchNorm2D;
use dfdx::prelude::{Const, Merge, NoneTape, Storage, Tape};

/// Which statistics normalise, and the module holding parameters and running statistics.
pub enum BatchNormMode<'a, const C: usize, E: Float, D: Storage<E>> {
    /// Training: normalise with the batch's statistics and update the running ones.
    Train(&'a mut BatchNorm2D<C, E, D>),
    /// Evaluation: normalise with the running statistics.
    Eval(&'a BatchNorm2D<C, E, D>),
}

/// What follows the normalisation, fused into the same pass.
pub enum Epilogue<Shortcut> {
    /// Nothing: `bn(x)`.
    Identity,
    /// `relu(bn(x))`.
    Relu,
    /// The end of a residual pair: `relu(bn(x) + shortcut)`.
    AddRelu(Shortcut),
}

/// Devices that run batch normalisation.
pub trait BatchNormOps<E: Float>: Storage<E> {
    /// `epilogue(scale * (x - mean) / sqrt(var + epsilon) + bias)` per channel, with the
    /// statistics `mode` selects (see the module docs). The tape of `x` and that of a
    /// shortcut are merged.
    ///
    /// # Errors
    /// [`OpError::ShapeMismatch`] if the shortcut's shape differs from the input's, and
    /// [`OpError::SingleValueBatch`] if training sees a single value per channel (its
    /// unbiased variance is undefined).
    fn try_batch_norm2d<const C: usize, T: Tape<E, Self> + Merge<R>, R: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
        mode: BatchNormMode<'_, C, E, Self>,
        epilogue: Epilogue<Image<C, E, Self, R>>,
    ) -> Result<Image<C, E, Self, T>, OpError>;
}

/// `bn(x)` (see [`BatchNormOps::try_batch_norm2d`]).
pub fn batch_norm2d<const C: usize, E: Float, D: BatchNormOps<E>, T: Tape<E, D>>(
    x: Image<C, E, D, T>,
    mode: BatchNormMode<'_, C, E, D>,
) -> Result<Image<C, E, D, T>, OpError> {
    D::try_batch_norm2d::<C, T, NoneTape>(x, mode, Epilogue::Identity)
}

/// `relu(bn(x))` (see [`BatchNormOps::try_batch_norm2d`]).
pub fn batch_norm2d_relu<const C: usize, E: Float, D: BatchNormOps<E>, T: Tape<E, D>>(
    x: Image<C, E, D, T>,
    mode: BatchNormMode<'_, C, E, D>,
) -> Result<Image<C, E, D, T>, OpError> {
    D::try_batch_norm2d::<C, T, NoneTape>(x, mode, Epilogue::Relu)
}

/// `relu(bn(x) + shortcut)`, the end of a residual pair (see
/// [`BatchNormOps::try_batch_norm2d`]).
pub fn batch_norm2d_add_relu<
    const C: usize,
    E: Float,
    D: BatchNormOps<E>,
    T: Tape<E, D> + Merge<R>,
    R: Tape<E, D>,
>(
    x: Image<C, E, D, T>,
    shortcut: Image<C, E, D, R>,
    mode: BatchNormMode<'_, C, E, D>,
) -> Result<Image<C, E, D, T>, OpError> {
    D::try_batch_norm2d(x, mode, Epilogue::AddRelu(shortcut))
}

/// The shortcut added before the final ReLU must have the input's shape.
fn check_shortcut<const C: usize>(
    input: &(usize, Const<C>, usize, usize),
    shortcut: &(usize, Const<C>, usize, usize),
) -> Result<(), OpError> {
    check_shape("batch norm", "shortcut", input, shortcut)
}

/// The number of values per channel that batch statistics average over; the unbiased
/// variance of the running statistics needs more than one.
fn check_batch_statistics<const C: usize>(
    shape: &(usize, Const<C>, usize, usize),
) -> Result<usize, OpError> {
    let count = shape.0 * shape.2 * shape.3;
    if count < 2 {
        return Err(OpError::SingleValueBatch(count));
    }
    Ok(count)
}
