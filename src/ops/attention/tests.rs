//! The DIAAM aggregation against finite differences, its shape errors, and an input passed
//! twice.

use super::*;
use crate::ops::test_support::{assert_close, numeric_gradient};
use dfdx::prelude::Merge;
use dfdx::prelude::{
    Backward, Cpu, NoneTape, OwnedTape, PutTape, Rank0, SampleTensor, SumTo, TensorFromVec, Trace,
    ZerosTensor,
};
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
    for (which, gradient) in analytic.iter().enumerate() {
        let numeric = numeric_gradient(&inputs[which], 1e-6, |values| {
            let mut moved = inputs.clone();
            moved[which] = values.to_vec();
            loss(&moved)
        });
        assert_close(gradient, &numeric, 1e-7, &format!("input {which}"));
    }
}

/// The signature of both versions, on tape `T`.
type Aggregation<T> = fn(
    Image<C, f64, Cpu, T>,
    Image<C, f64, Cpu, T>,
    ChannelWeights<C, f64, Cpu, T>,
    Image<C, f64, Cpu, T>,
) -> Result<Image<C, f64, Cpu, T>, OpError>;

/// Both versions: our kernels and the dfdx composition.
fn versions<T: Tape<f64, Cpu> + Merge<T>>() -> [(&'static str, Aggregation<T>); 2] {
    [
        ("kernels", attention_aggregation),
        ("composed", composed_attention_aggregation),
    ]
}

#[test]
fn mismatched_shapes_are_errors() {
    let dev = Cpu::default();
    let image = |(b, h, w): (usize, usize, usize)| -> Image<C, f64, Cpu> {
        dev.zeros_like(&(b, Const, h, w))
    };
    let weights =
        |b: usize| -> ChannelWeights<C, f64, Cpu, NoneTape> { dev.zeros_like(&(b, Const)) };
    for (version, aggregation) in versions::<NoneTape>() {
        let cases = [
            ("high-level features", [(2, 4, 4), (2, 4, 2), (2, 4, 4)], 2),
            ("gate logits", [(2, 4, 4), (2, 4, 4), (1, 4, 4)], 2),
            ("channel weights", [(2, 4, 4), (2, 4, 4), (2, 4, 4)], 3),
        ];
        for (input, [low, high, gate], batch) in cases {
            let outcome = aggregation(image(low), image(high), weights(batch), image(gate));
            assert!(
                matches!(
                    &outcome,
                    Err(OpError::ShapeMismatch { op: "attention aggregation", input: found, .. })
                        if *found == input
                ),
                "{version}, {input}: {outcome:?}"
            );
        }
    }
}

#[test]
fn an_input_passed_twice_gets_both_gradients() {
    // The same tensor as low- and high-level features: our kernels' gradient buffers are
    // one, and must receive the sum of both places' gradients, as the composition's do.
    let dev = Cpu::seed_from_u64(9);
    let (b, h, w) = DIMS;
    let x: Image<C, f64, Cpu> = dev.sample_normal_like(&(b, Const, h, w));
    let gate: Image<C, f64, Cpu> = dev.sample_normal_like(&(b, Const, h, w));
    let channel: ChannelWeights<C, f64, Cpu, NoneTape> = dev.sample_normal_like(&(b, Const));
    let mix: Image<C, f64, Cpu> = dev.sample_normal_like(&(b, Const, h, w));
    let gradients = |aggregation: Aggregation<OwnedTape<f64, Cpu>>| {
        let tape = || OwnedTape::<f64, Cpu>::default();
        let out = aggregation(
            x.leaky_trace(),
            x.clone().put_tape(tape()),
            channel.clone().put_tape(tape()),
            gate.clone().put_tape(tape()),
        )
        .unwrap();
        let grads = (out * mix.clone()).sum().backward();
        [
            grads.get(&x).as_vec(),
            grads.get(&channel).as_vec(),
            grads.get(&gate).as_vec(),
        ]
    };
    let [(_, ours), (_, composed)] =
        versions().map(|(version, aggregation)| (version, gradients(aggregation)));
    for ((ours, composed), name) in ours
        .iter()
        .zip(&composed)
        .zip(["x", "channel weights", "gate"])
    {
        assert_close(ours, composed, 1e-12, name);
    }
}
