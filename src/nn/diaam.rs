//! The dual interactive attention aggregation module (DIAAM, paper Fig. 3): fuses a skip
//! connection (low-level, `LO` channels) with the upsampled deeper decoder output
//! (high-level, `HI` channels).

use super::{tensor_collection, Attention, Backend, Conv1x1, Fuse, Mode, Result};
use crate::ops::{attention_aggregation, Float, Image};
use dfdx::prelude::{Dtype, Storage, WithEmptyTape};

/// DIAAM: out = low + A(conv1x1(high)) * sigmoid(conv1x1(low)), with `A` channel attention
/// (or none, for the ablation).
#[derive(Clone, Debug)]
pub struct Diaam<const LO: usize, const HI: usize, A, E: Dtype, D: Storage<E>> {
    /// Conv1x1 projecting the high-level feature to `LO` channels.
    pub project_high: Conv1x1<HI, LO, E, D>,
    /// Attention on the projected high-level feature.
    pub attention: A,
    /// Conv1x1 on the low-level feature, giving the spatial gate.
    pub gate: Conv1x1<LO, LO, E, D>,
}

impl<const LO: usize, const HI: usize, A, E, D> Fuse<LO, HI, E, D> for Diaam<LO, HI, A, E, D>
where
    E: Float,
    D: Backend<E>,
    A: Attention<LO, E, D>,
{
    /// Fuses `low` (skip connection) with `high` (upsampled to the same size).
    fn fuse<T: Mode<E, D>>(
        &mut self,
        low: Image<LO, E, D, T>,
        high: Image<HI, E, D, T>,
    ) -> Result<Image<LO, E, D, T>> {
        let high = self.project_high.forward(high)?;
        let weights = self.attention.channel_weights(&high)?;
        let gate_logits = self.gate.forward(low.with_empty_tape())?;
        attention_aggregation(low, high, weights, gate_logits)
    }
}

tensor_collection!(Diaam<const LO: usize, const HI: usize; A> { project_high, attention, gate });
