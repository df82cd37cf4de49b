//! The DIAAM aggregation composed from dfdx's broadcast, sigmoid, product and sum, for any
//! device that has them: the CUDA device's version (tested on the CPU). Autograd comes from
//! dfdx.

use super::{check_shapes, ChannelWeights};
use crate::ops::{Float, Image, OpError};
use dfdx::prelude::{BroadcastTo, Device, HasShape, Merge, Tape, TryAdd, TryMul};

/// `low + high * channel_weights[b, c] * sigmoid(gate_logits)` (see
/// [`super::AttentionOps::try_attention_aggregation`]).
///
/// # Errors
/// As [`super::AttentionOps::try_attention_aggregation`].
pub fn composed_attention_aggregation<
    const C: usize,
    E: Float,
    D: Device<E>,
    T: Tape<E, D> + Merge<T>,
>(
    low: Image<C, E, D, T>,
    high: Image<C, E, D, T>,
    channel_weights: ChannelWeights<C, E, D, T>,
    gate_logits: Image<C, E, D, T>,
) -> Result<Image<C, E, D, T>, OpError> {
    check_shapes(&low, &high, &channel_weights, &gate_logits)?;
    let shape = *low.shape();
    let result = (|| {
        let weighted = high.try_mul(channel_weights.try_broadcast_like(&shape)?)?;
        weighted.try_mul(gate_logits.try_sigmoid()?)?.try_add(low)
    })();
    result.map_err(OpError::device)
}

#[cfg(feature = "cuda")]
impl<E: Float> super::AttentionOps<E> for dfdx::prelude::Cuda
where
    dfdx::prelude::Cuda: Device<E>,
{
    fn try_attention_aggregation<const C: usize, T: Tape<E, Self>>(
        low: Image<C, E, Self, T>,
        high: Image<C, E, Self, T>,
        channel_weights: ChannelWeights<C, E, Self, T>,
        gate_logits: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        composed_attention_aggregation(low, high, channel_weights, gate_logits)
    }
}
