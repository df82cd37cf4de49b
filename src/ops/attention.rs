//! The aggregation at the end of RRCA-Net's dual interactive attention aggregation module
//! (DIAAM), fused into one pass: with `h` the projected high-level features, `CA(h)` its
//! channel attention weights and `conv1x1(low)` the low-level gate logits,
//!
//! `out = low + h * CA(h)[b, c] * sigmoid(conv1x1(low))`.
//!
//! Composed from dfdx ops this is a broadcast, a sigmoid, two products and a sum over the
//! full-resolution maps, each with its own pass and buffers; the CPU kernel makes one pass
//! forward and two backward. Other devices compose dfdx ops
//! ([`composed_attention_aggregation`]).

use super::cpu::{host_data, take_grad};
use super::{Float, Image, OpError};
use dfdx::prelude::{
    BroadcastTo, Const, Cpu, Device, HasShape, Merge, PutTape, SplitTape, Storage, Tape, Tensor,
    TensorFromVec, TryAdd, TryMul,
};
use rayon::prelude::*;

/// Per-image, per-channel weights (batch, C), such as a channel attention's output.
pub type ChannelWeights<const C: usize, E, D, T> = Tensor<(usize, Const<C>), E, D, T>;

/// Devices that run the DIAAM aggregation.
pub trait AttentionOps<E: Float>: Storage<E> {
    /// `low + high * channel_weights[b, c] * sigmoid(gate_logits)`, gradients to all four
    /// inputs (their tapes are merged).
    ///
    /// # Panics
    /// If the images' shapes differ or `channel_weights` has another batch size (as dfdx's
    /// elementwise ops do).
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

fn check_shapes<const C: usize, E: Float, D: Storage<E>, T>(
    low: &Image<C, E, D, T>,
    high: &Image<C, E, D, T>,
    channel_weights: &ChannelWeights<C, E, D, T>,
    gate_logits: &Image<C, E, D, T>,
) {
    assert!(
        high.shape() == low.shape() && gate_logits.shape() == low.shape(),
        "attention aggregation: image shapes differ"
    );
    assert_eq!(
        channel_weights.shape().0,
        low.shape().0,
        "attention aggregation: channel weights for another batch size"
    );
}

fn sigmoid<E: Float>(x: E) -> E {
    E::one() / (E::one() + (-x).exp())
}

impl<E: Float> AttentionOps<E> for Cpu {
    fn try_attention_aggregation<const C: usize, T: Tape<E, Self>>(
        low: Image<C, E, Self, T>,
        high: Image<C, E, Self, T>,
        channel_weights: ChannelWeights<C, E, Self, T>,
        gate_logits: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        check_shapes(&low, &high, &channel_weights, &gate_logits);
        let shape = *low.shape();
        let plane = (shape.2 * shape.3).max(1);
        let (low, mut tape) = low.split_tape();
        let (high, high_tape) = high.split_tape();
        let (channel_weights, weights_tape) = channel_weights.split_tape();
        let (gate_logits, gate_tape) = gate_logits.split_tape();
        tape = tape.merge(high_tape).merge(weights_tape).merge(gate_tape);

        let weights = host_data(&channel_weights);
        let high_data = host_data(&high);
        // The gate logits' copy becomes the gate, the low-level copy the output.
        let mut gate = host_data(&gate_logits);
        let mut out = host_data(&low);
        out.par_chunks_mut(plane)
            .zip(gate.par_chunks_mut(plane))
            .zip(high_data.par_chunks(plane))
            .zip(&weights)
            .for_each(|(((out, gate), high), &weight)| {
                for ((o, s), &h) in out.iter_mut().zip(gate).zip(high) {
                    *s = sigmoid(*s);
                    *o += h * weight * *s;
                }
            });
        let out = low
            .device()
            .try_tensor_from_vec(out, shape)
            .map_err(OpError::device)?;

        let out_ghost = out.ghost();
        let (low, high, gate_logits) = (low.ghost(), high.ghost(), gate_logits.ghost());
        let channel_weights = channel_weights.ghost();
        tape.add_backward_op(move |grads| {
            let grad = take_grad!(grads, &out_ghost);
            let grad_low: &mut [E] = grads.get_or_alloc_mut(&low)?;
            grad_low
                .par_chunks_mut(plane)
                .zip(grad.par_chunks(plane))
                .for_each(|(sum, grad)| {
                    for (s, &g) in sum.iter_mut().zip(grad) {
                        *s += g;
                    }
                });
            // d high = grad * weight * gate, and d weight = sum over the plane of
            // grad * high * gate.
            let grad_high: &mut [E] = grads.get_or_alloc_mut(&high)?;
            let weight_sums: Vec<E> = grad_high
                .par_chunks_mut(plane)
                .zip(grad.par_chunks(plane))
                .zip(high_data.par_chunks(plane))
                .zip(gate.par_chunks(plane))
                .zip(&weights)
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
            let grad_weights: &mut [E] = grads.get_or_alloc_mut(&channel_weights)?;
            for (gw, s) in grad_weights.iter_mut().zip(weight_sums) {
                *gw += s;
            }
            // d gate logits = grad * high * weight * gate * (1 - gate).
            let grad_gate: &mut [E] = grads.get_or_alloc_mut(&gate_logits)?;
            grad_gate
                .par_chunks_mut(plane)
                .zip(grad.par_chunks(plane))
                .zip(high_data.par_chunks(plane))
                .zip(gate.par_chunks(plane))
                .zip(&weights)
                .for_each(|((((grad_gate, grad), high), gate), &weight)| {
                    for (((gg, &g), &h), &s) in grad_gate.iter_mut().zip(grad).zip(high).zip(gate) {
                        *gg += g * h * weight * s * (E::one() - s);
                    }
                });
            Ok(())
        });
        Ok(out.put_tape(tape))
    }
}

/// The same op composed from dfdx's broadcast, sigmoid, product and sum, for devices without
/// our kernel (CUDA).
///
/// # Panics
/// As [`AttentionOps::try_attention_aggregation`].
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
    check_shapes(&low, &high, &channel_weights, &gate_logits);
    let shape = *low.shape();
    let result = (|| {
        let weighted = high.try_mul(channel_weights.try_broadcast_like(&shape)?)?;
        weighted.try_mul(gate_logits.try_sigmoid()?)?.try_add(low)
    })();
    result.map_err(OpError::device)
}

#[cfg(feature = "cuda")]
impl<E: Float> AttentionOps<E> for dfdx::prelude::Cuda
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

#[cfg(test)]
mod tests {
    use super::*;
    use dfdx::prelude::{Backward, Rank0, SumTo, Trace};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    const C: usize = 2;
    const DIMS: (usize, usize, usize) = (2, 3, 4);

    /// Inputs in the order low, high, channel weights, gate logits.
    type Inputs = [Vec<f64>; 4];

    /// Output and gradients of `sum(aggregation * weights)`.
    fn run(inputs: &Inputs, loss_weights: &[f64]) -> (Vec<f64>, Inputs) {
        let dev = Cpu::default();
        let (b, h, w) = DIMS;
        let image = |v: &Vec<f64>| dev.tensor_from_vec(v.clone(), (b, Const::<C>, h, w));
        let (low, high, gate) = (image(&inputs[0]), image(&inputs[1]), image(&inputs[3]));
        let channel = dev.tensor_from_vec(inputs[2].clone(), (b, Const::<C>));
        let out = attention_aggregation(
            low.leaky_trace(),
            high.leaky_trace(),
            channel.leaky_trace(),
            gate.leaky_trace(),
        )
        .unwrap();
        let values = out.as_vec();
        let loss: Tensor<Rank0, f64, Cpu, _> = (out * image(&loss_weights.to_vec())).sum();
        let grads = loss.backward();
        let gradients = [
            grads.get(&low).as_vec(),
            grads.get(&high).as_vec(),
            grads.get(&channel).as_vec(),
            grads.get(&gate).as_vec(),
        ];
        (values, gradients)
    }

    #[test]
    fn gradients_match_finite_differences() {
        let n = DIMS.0 * C * DIMS.1 * DIMS.2;
        let mut rng = StdRng::seed_from_u64(5);
        let mut random =
            |len: usize| -> Vec<f64> { (0..len).map(|_| rng.gen_range(-2.0..2.0)).collect() };
        let inputs: Inputs = [random(n), random(n), random(DIMS.0 * C), random(n)];
        let loss_weights = random(n);
        let loss = |inputs: &Inputs| -> f64 {
            let out = run(inputs, &loss_weights).0;
            out.iter().zip(&loss_weights).map(|(o, w)| o * w).sum()
        };
        let analytic = run(&inputs, &loss_weights).1;
        let step = 1e-6;
        for (which, gradient) in analytic.iter().enumerate() {
            for (i, &g) in gradient.iter().enumerate() {
                let mut moved = inputs.clone();
                moved[which][i] += step;
                let up = loss(&moved);
                moved[which][i] -= 2.0 * step;
                let numeric = (up - loss(&moved)) / (2.0 * step);
                assert!(
                    (g - numeric).abs() <= 1e-7 * (1.0 + numeric.abs()),
                    "input {which}, element {i}: analytic {g}, numeric {numeric}"
                );
            }
        }
    }
}
