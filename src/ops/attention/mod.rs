//! The aggregation at the end of RRCA-Net's dual interactive attention aggregation module
//! (DIAAM), fused into one pass: with `h` the projected high-level features, `CA(h)` its
//! channel attention weights and `conv1x1(low)` the low-level gate logits,
//!
//! `out = low + h * CA(h)[b, c] * sigmoid(conv1x1(low))`.
//!
//! Composed from dfdx ops this is a broadcast, a sigmoid, two products and a sum over the
//! full-resolution maps, each with its own pass and buffers; the CPU kernel makes one pass
//! forward and three backward. Other devices compose dfdx ops
//! ([`composed_attention_aggregation`]).

mod composed;
mod cpu;
mod kernels;
pub mod reference;
#[cfg(test)]
mod tests;

pub use composed::composed_attention_aggregation;

use super::{check_shape, Float, Image, OpError};
use dfdx::prelude::{Const, HasShape, Storage, Tape, Tensor};

/// Per-image, per-channel weights (batch, C), such as a channel attention's output.
pub type ChannelWeights<const C: usize, E, D, T> = Tensor<(usize, Const<C>), E, D, T>;

/// Devices that run the DIAAM aggregation.
pub trait AttentionOps<E: Float>: Storage<E> {
    /// `low + high * channel_weights[b, c] * sigmoid(gate_logits)`, gradients to all four
    /// inputs (their tapes are merged).
    ///
    /// # Errors
    /// [`OpError::ShapeMismatch`] if `high` or `gate_logits` has another shape than `low`,
    /// or `channel_weights` another batch size.
    fn try_attention_aggregation<const C: usize, T: Tape<E, Self>>(
        low: Image<C, E, Self, T>,
        high: Image<C, E, Self, T>,
        channel_weights: ChannelWeights<C, E, Self, T>,
        gate_logits: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError>;
}

/// `low + high * channel_weights[b, c] * sigmoid(gate_logits)` (see
/// [`AttentionOps::try_attention_aggregation`]).
pub fn attention_aggregation<const C: usize, E: Float, D: AttentionOps<E>, T: Tape<E, D>>(
    low: Image<C, E, D, T>,
    high: Image<C, E, D, T>,
    channel_weights: ChannelWeights<C, E, D, T>,
    gate_logits: Image<C, E, D, T>,
) -> Result<Image<C, E, D, T>, OpError> {
    D::try_attention_aggregation(low, high, channel_weights, gate_logits)
}

/// The high-level features and gate logits have the low-level features' shape, and the
/// channel weights one row per image.
fn check_shapes<const C: usize, E: Float, D: Storage<E>, T>(
    low: &Image<C, E, D, T>,
    high: &Image<C, E, D, T>,
    channel_weights: &ChannelWeights<C, E, D, T>,
    gate_logits: &Image<C, E, D, T>,
) -> Result<(), OpError> {
    let op = "attention aggregation";
    check_shape(op, "high-level features", low.shape(), high.shape())?;
    check_shape(op, "gate logits", low.shape(), gate_logits.shape())?;
    let per_image = (low.shape().0, Const::<C>);
    check_shape(op, "channel weights", &per_image, channel_weights.shape())
}
