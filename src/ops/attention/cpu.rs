//! The DIAAM aggregation on the CPU: the fused kernels ([`super::kernels`]) through the tape
//! helper.

use super::kernels::{self, Saved};
use super::{check_shapes, AttentionOps, ChannelWeights};
use crate::ops::profile::{timed, Work};
use crate::ops::tape::{Backward, Input, OpTape};
use crate::ops::{Float, Image, NchwShape, OpError};
use dfdx::prelude::{Cpu, HasShape, Tape};

impl<E: Float> AttentionOps<E> for Cpu {
    fn try_attention_aggregation<const C: usize, T: Tape<E, Self>>(
        low: Image<C, E, Self, T>,
        high: Image<C, E, Self, T>,
        channel_weights: ChannelWeights<C, E, Self, T>,
        gate_logits: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        check_shapes(&low, &high, &channel_weights, &gate_logits)?;
        let shape = *low.shape();
        let (tape, low) = OpTape::split(low)?;
        let (tape, high) = tape.merge(high)?;
        let (tape, channel_weights) = tape.merge(channel_weights)?;
        let (tape, gate_logits) = tape.merge(gate_logits)?;
        let inputs = [low, high, channel_weights, gate_logits];
        let (out, backward) = timed(Work::Attention, || {
            attention_aggregation_on_host(NchwShape::of(&shape), inputs)
        });
        tape.finish(out, shape, backward)
    }
}

/// The forward pass, in place in the copies of the low-level features (which become the
/// output) and of the gate logits (which become the gate), and the backward pass.
fn attention_aggregation_on_host<E: Float>(
    shape: NchwShape,
    [low, high, channel_weights, gate_logits]: [Input<E>; 4],
) -> (Vec<E>, Backward<E, 4>) {
    let plane = (shape.height * shape.width).max(1);
    let (mut out, mut gate) = (low.values, gate_logits.values);
    kernels::aggregate(
        &mut out,
        &mut gate,
        &high.values,
        &channel_weights.values,
        plane,
    );
    let saved = Saved {
        high: high.values,
        gate,
        weights: channel_weights.values,
        plane,
    };
    let gradients = [
        low.gradient,
        high.gradient,
        channel_weights.gradient,
        gate_logits.gradient,
    ];
    let backward = Backward::new(
        gradients.map(Some),
        move |grad, [grad_low, grad_high, grad_weights, grad_gate]| {
            timed(Work::Attention, || {
                saved.low_gradient(grad, grad_low);
                saved.high_and_weight_gradients(grad, grad_high, grad_weights);
                saved.gate_gradient(grad, grad_gate);
            })
        },
    );
    (out, backward)
}
