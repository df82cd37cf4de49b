//! The fused DIAAM aggregation kernels of the CPU on plain NCHW slices, parallel over planes:
//! one pass forward, one per input gradient backward.

use crate::ops::Float;
use rayon::prelude::*;

fn sigmoid<E: Float>(x: E) -> E {
    E::one() / (E::one() + (-x).exp())
}

/// Turns `out`, a copy of the low-level features, into the aggregation, and `gate`, a copy of
/// the gate logits, into the gate `sigmoid(gate_logits)`; one channel weight per plane.
pub(super) fn aggregate<E: Float>(
    out: &mut [E],
    gate: &mut [E],
    high: &[E],
    weights: &[E],
    plane: usize,
) {
    out.par_chunks_mut(plane)
        .zip(gate.par_chunks_mut(plane))
        .zip(high.par_chunks(plane))
        .zip(weights)
        .for_each(|(((out, gate), high), &weight)| {
            for ((o, s), &h) in out.iter_mut().zip(gate).zip(high) {
                *s = sigmoid(*s);
                *o += h * weight * *s;
            }
        });
}

/// The forward pass's values the backward pass reads: the high-level features, the gate and
/// one channel weight per plane.
pub(super) struct Saved<E> {
    pub(super) high: Vec<E>,
    pub(super) gate: Vec<E>,
    pub(super) weights: Vec<E>,
    pub(super) plane: usize,
}

impl<E: Float> Saved<E> {
    /// d low = grad.
    pub(super) fn low_gradient(&self, grad: &[E], grad_low: &mut [E]) {
        grad_low
            .par_chunks_mut(self.plane)
            .zip(grad.par_chunks(self.plane))
            .for_each(|(sum, grad)| {
                for (s, &g) in sum.iter_mut().zip(grad) {
                    *s += g;
                }
            });
    }

    /// d high = grad * weight * gate, and d weight = sum over the plane of grad * high * gate.
    pub(super) fn high_and_weight_gradients(
        &self,
        grad: &[E],
        grad_high: &mut [E],
        grad_weights: &mut [E],
    ) {
        let weight_sums: Vec<E> = grad_high
            .par_chunks_mut(self.plane)
            .zip(grad.par_chunks(self.plane))
            .zip(self.high.par_chunks(self.plane))
            .zip(self.gate.par_chunks(self.plane))
            .zip(&self.weights)
            .map(|((((grad_high, grad), high), gate), &weight)| {
                let mut sum = E::zero();
                for (((gh, &g), &h), &s) in grad_high.iter_mut().zip(grad).zip(high).zip(gate) {
                    let gs = g * s;
                    *gh += gs * weight;
                    sum += gs * h;
                }
                sum
            })
            .collect();
        for (gw, s) in grad_weights.iter_mut().zip(weight_sums) {
            *gw += s;
        }
    }

    /// d gate logits = grad * high * weight * gate * (1 - gate).
    pub(super) fn gate_gradient(&self, grad: &[E], grad_gate: &mut [E]) {
        grad_gate
            .par_chunks_mut(self.plane)
            .zip(grad.par_chunks(self.plane))
            .zip(self.high.par_chunks(self.plane))
            .zip(self.gate.par_chunks(self.plane))
            .zip(&self.weights)
            .for_each(|((((grad_gate, grad), high), gate), &weight)| {
                for (((gg, &g), &h), &s) in grad_gate.iter_mut().zip(grad).zip(high).zip(gate) {
                    *gg += g * h * weight * s * (E::one() - s);
                }
            });
    }
}
