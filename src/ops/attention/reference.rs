//! The naive DIAAM aggregation on plain NCHW slices, in f64: the definition the kernel and the
//! composed version are tested against. Written for clarity, not speed.

use crate::ops::NchwShape;

/// The DIAAM aggregation `low + high * weights[b, c] * sigmoid(gate_logits)`, `weights` being
/// (batch, channels).
pub fn attention_aggregation(
    shape: NchwShape,
    low: &[f64],
    high: &[f64],
    weights: &[f64],
    gate_logits: &[f64],
) -> Vec<f64> {
    (0..shape.len())
        .map(|i| low[i] + high[i] * weights[weight_index(shape, i)] * sigmoid(gate_logits[i]))
        .collect()
}

/// Gradients of [`attention_aggregation`] for one output gradient: (low, high, weights,
/// gate logits).
pub fn attention_aggregation_backward(
    shape: NchwShape,
    high: &[f64],
    weights: &[f64],
    gate_logits: &[f64],
    grad_out: &[f64],
) -> [Vec<f64>; 4] {
    let mut grad_weights = vec![0.0; weights.len()];
    let (mut grad_high, mut grad_gate) = (vec![0.0; shape.len()], vec![0.0; shape.len()]);
    for i in 0..shape.len() {
        let (w, s) = (weights[weight_index(shape, i)], sigmoid(gate_logits[i]));
        grad_high[i] = grad_out[i] * w * s;
        grad_weights[weight_index(shape, i)] += grad_out[i] * high[i] * s;
        grad_gate[i] = grad_out[i] * high[i] * w * s * (1.0 - s);
    }
    [grad_out.to_vec(), grad_high, grad_weights, grad_gate]
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The (batch, channel) index of the element at `index`.
fn weight_index(shape: NchwShape, index: usize) -> usize {
    index / (shape.height * shape.width)
}
