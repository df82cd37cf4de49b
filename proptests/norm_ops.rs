//! Batch normalisation, bilinear upsampling and the DIAAM aggregation, our CPU kernels and
//! their dfdx compositions (what the CUDA device runs), against the naive definitions in each
//! op's `reference` module, over random shapes, modes and epilogues, in f32 and f64.

use dfdx::nn::builders::BatchNorm2D as BatchNorm2DBuilder;
use dfdx::nn::modules::BatchNorm2D;
use dfdx::prelude::{
    Backward, Const, Cpu, DeviceBuildExt, HasShape, NoneTape, Rank0, SumTo, Tensor, TensorFromVec,
    Trace,
};
use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rrcanet::ops::attention::composed_attention_aggregation;
use rrcanet::ops::attention::reference::{
    attention_aggregation as reference_attention, attention_aggregation_backward,
};
use rrcanet::ops::batch_norm::composed_batch_norm2d;
use rrcanet::ops::batch_norm::reference::{channel_mean_var, BatchNormReference};
use rrcanet::ops::upsample::composed_upsample_bilinear2x;
use rrcanet::ops::upsample::reference::{upsample_bilinear2x, upsample_bilinear2x_backward};
use rrcanet::ops::{
    AttentionOps, BatchNormMode, BatchNormOps, Epilogue, Float, NchwShape, UpsampleOps,
};

const C: usize = 3;

/// Which implementation runs.
#[derive(Clone, Copy, Debug)]
enum Implementation {
    /// Our CPU kernels.
    Kernel,
    /// The dfdx composition the CUDA device uses, here on the CPU.
    Composed,
}

fn implementation() -> impl Strategy<Value = Implementation> {
    prop_oneof![Just(Implementation::Kernel), Just(Implementation::Composed)]
}

fn to_f64<E: Float>(values: &[E]) -> Vec<f64> {
    values.iter().map(|v| v.to_f64().unwrap()).collect()
}

fn from_f64<E: Float>(values: &[f64]) -> Vec<E> {
    values.iter().map(|&v| E::from(v).unwrap()).collect()
}

/// `actual` equals `expected` within `tolerance` relative to the largest expected value.
fn assert_close(actual: &[f64], expected: &[f64], tolerance: f64, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    let magnitude = expected.iter().fold(1.0f64, |m, e| m.max(e.abs()));
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tolerance * magnitude,
            "{what}[{i}]: got {a}, expected {e}"
        );
    }
}

/// One batch-norm problem: sizes, data and parameters, in f64.
#[derive(Debug)]
struct NormProblem {
    shape: NchwShape,
    x: Vec<f64>,
    shortcut: Vec<f64>,
    weights: Vec<f64>,
    scale: Vec<f64>,
    bias: Vec<f64>,
    running_mean: Vec<f64>,
    running_var: Vec<f64>,
    train: bool,
    /// 0: identity, 1: ReLU, 2: residual add and ReLU.
    epilogue: usize,
}

impl NormProblem {
    fn new(dims: (usize, usize, usize), seed: u64, train: bool, epilogue: usize) -> Self {
        let (batch, height, width) = dims;
        let shape = NchwShape {
            batch,
            channels: C,
            height,
            width,
        };
        let mut rng = StdRng::seed_from_u64(seed);
        let mut random = |len: usize, low: f64, high: f64| -> Vec<f64> {
            (0..len).map(|_| rng.gen_range(low..high)).collect()
        };
        // Channels with their own offsets and spreads, as convolution outputs have.
        let offsets = random(C, -2.0, 2.0);
        let x = random(shape.len(), -1.0, 1.0)
            .iter()
            .enumerate()
            .map(|(i, v)| offsets[shape.channel_of(i)] + v * (1.0 + shape.channel_of(i) as f64))
            .collect();
        NormProblem {
            shape,
            x,
            shortcut: random(shape.len(), -1.0, 1.0),
            weights: random(shape.len(), -1.0, 1.0),
            scale: random(C, -2.0, 2.0),
            bias: random(C, -1.0, 1.0),
            running_mean: random(C, -1.0, 1.0),
            running_var: random(C, 0.2, 2.0),
            train,
            epilogue,
        }
    }

    /// The expected output, gradients and running statistics.
    fn expected(&self) -> (Vec<f64>, Vec<Vec<f64>>, Vec<f64>, Vec<f64>) {
        let (mean, var) = if self.train {
            channel_mean_var(self.shape, &self.x)
        } else {
            (self.running_mean.clone(), self.running_var.clone())
        };
        let reference = BatchNormReference {
            shape: self.shape,
            mean: &mean,
            var: &var,
            scale: &self.scale,
            bias: &self.bias,
            epsilon: 1e-5,
            batch_statistics: self.train,
            relu: self.epilogue > 0,
        };
        let shortcut = (self.epilogue == 2).then_some(&self.shortcut[..]);
        let out = reference.forward(&self.x, shortcut);
        let grads = reference.backward(&self.x, shortcut, &self.weights);
        let (running_mean, running_var) = if self.train {
            let count = (self.shape.batch * self.shape.height * self.shape.width) as f64;
            let moved = |running: &[f64], batch: &[f64], factor: f64| -> Vec<f64> {
                running
                    .iter()
                    .zip(batch)
                    .map(|(r, b)| 0.9 * r + 0.1 * factor * b)
                    .collect()
            };
            (
                moved(&self.running_mean, &mean, 1.0),
                moved(&self.running_var, &var, count / (count - 1.0)),
            )
        } else {
            (self.running_mean.clone(), self.running_var.clone())
        };
        let mut gradients = vec![grads.x, grads.scale, grads.bias];
        if shortcut.is_some() {
            gradients.push(grads.shortcut);
        }
        (out, gradients, running_mean, running_var)
    }

    /// Output, gradients (x, scale, bias, shortcut if any) and the running statistics after
    /// the call, computed in `E` by `implementation`.
    fn run<E: Float>(
        &self,
        implementation: Implementation,
    ) -> (Vec<f64>, Vec<Vec<f64>>, Vec<f64>, Vec<f64>)
    where
        Cpu: BatchNormOps<E> + dfdx::prelude::Device<E>,
    {
        let dev = Cpu::default();
        let dims = (
            self.shape.batch,
            Const::<C>,
            self.shape.height,
            self.shape.width,
        );
        let tensor = |v: &[f64]| dev.tensor_from_vec(from_f64::<E>(v), dims);
        let (x, weights, shortcut) = (
            tensor(&self.x),
            tensor(&self.weights),
            tensor(&self.shortcut),
        );
        let mut norm: BatchNorm2D<C, E, Cpu> = dev.build_module::<BatchNorm2DBuilder<C>, E>();
        norm.scale.copy_from(&from_f64::<E>(&self.scale));
        norm.bias.copy_from(&from_f64::<E>(&self.bias));
        norm.running_mean
            .copy_from(&from_f64::<E>(&self.running_mean));
        norm.running_var
            .copy_from(&from_f64::<E>(&self.running_var));
        let mode = if self.train {
            BatchNormMode::Train(&mut norm)
        } else {
            BatchNormMode::Eval(&norm)
        };
        let traced_shortcut = shortcut.leaky_trace();
        let out = match (self.epilogue, implementation) {
            (2, Implementation::Kernel) => {
                Cpu::try_batch_norm2d(x.leaky_trace(), mode, Epilogue::AddRelu(traced_shortcut))
            }
            (2, Implementation::Composed) => {
                composed_batch_norm2d(x.leaky_trace(), mode, Epilogue::AddRelu(traced_shortcut))
            }
            (epilogue, implementation) => {
                let epilogue: Epilogue<Tensor<_, E, Cpu, NoneTape>> = if epilogue == 1 {
                    Epilogue::Relu
                } else {
                    Epilogue::Identity
                };
                match implementation {
                    Implementation::Kernel => {
                        Cpu::try_batch_norm2d(x.leaky_trace(), mode, epilogue)
                    }
                    Implementation::Composed => {
                        composed_batch_norm2d(x.leaky_trace(), mode, epilogue)
                    }
                }
            }
        }
        .unwrap();
        let values = to_f64(&out.as_vec());
        let loss: Tensor<Rank0, E, Cpu, _> = (out * weights).sum();
        let grads = loss.backward();
        let mut gradients = vec![
            to_f64(&grads.get(&x).as_vec()),
            to_f64(&grads.get(&norm.scale).as_vec()),
            to_f64(&grads.get(&norm.bias).as_vec()),
        ];
        if self.epilogue == 2 {
            gradients.push(to_f64(&grads.get(&shortcut).as_vec()));
        }
        (
            values,
            gradients,
            to_f64(&norm.running_mean.as_vec()),
            to_f64(&norm.running_var.as_vec()),
        )
    }

    fn check<E: Float>(&self, implementation: Implementation, tolerance: f64)
    where
        Cpu: BatchNormOps<E> + dfdx::prelude::Device<E>,
    {
        let (out, gradients, mean, var) = self.run::<E>(implementation);
        let (want_out, want_gradients, want_mean, want_var) = self.expected();
        assert_close(&out, &want_out, tolerance, "output");
        for ((got, want), name) in gradients
            .iter()
            .zip(&want_gradients)
            .zip(["x", "scale", "bias", "shortcut"])
        {
            assert_close(got, want, tolerance, &format!("{name} gradient"));
        }
        assert_close(&mean, &want_mean, tolerance, "running mean");
        assert_close(&var, &want_var, tolerance, "running variance");
    }
}

fn dims() -> impl Strategy<Value = (usize, usize, usize)> {
    (1usize..=3, 1usize..=9, 1usize..=11)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn batch_norm_matches_reference(
        dims in dims(),
        seed in any::<u64>(),
        train in any::<bool>(),
        epilogue in 0usize..3,
        implementation in implementation(),
    ) {
        prop_assume!(!train || dims.0 * dims.1 * dims.2 > 1);
        let problem = NormProblem::new(dims, seed, train, epilogue);
        problem.check::<f64>(implementation, 1e-9);
        problem.check::<f32>(implementation, 2e-4);
    }

    #[test]
    fn upsampling_matches_reference(
        dims in dims(),
        seed in any::<u64>(),
        implementation in implementation(),
    ) {
        check_upsampling::<f64>(dims, seed, implementation, 1e-12);
        check_upsampling::<f32>(dims, seed, implementation, 1e-5);
    }
}

fn check_upsampling<E: Float>(
    (batch, height, width): (usize, usize, usize),
    seed: u64,
    implementation: Implementation,
    tolerance: f64,
) where
    Cpu: UpsampleOps<E> + dfdx::prelude::Device<E>,
{
    let shape = NchwShape {
        batch,
        channels: C,
        height,
        width,
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut random =
        |len: usize| -> Vec<f64> { (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect() };
    let (x, weights) = (random(shape.len()), random(4 * shape.len()));
    // dfdx computes the sampling positions in f32, whatever the element type.
    let tolerance = match implementation {
        Implementation::Kernel => tolerance,
        Implementation::Composed => tolerance.max(1e-6),
    };
    let dev = Cpu::default();
    let input = dev.tensor_from_vec(from_f64::<E>(&x), (batch, Const::<C>, height, width));
    let out = match implementation {
        Implementation::Kernel => Cpu::try_upsample_bilinear2x(input.leaky_trace()),
        Implementation::Composed => composed_upsample_bilinear2x(input.leaky_trace()),
    }
    .unwrap();
    assert_eq!(out.shape(), &(batch, Const::<C>, 2 * height, 2 * width));
    assert_close(
        &to_f64(&out.as_vec()),
        &upsample_bilinear2x(shape, &x),
        tolerance,
        "output",
    );
    let weights = dev.tensor_from_vec(from_f64::<E>(&weights), *out.shape());
    let expected_grad = upsample_bilinear2x_backward(shape, &to_f64(&weights.as_vec()));
    let loss: Tensor<Rank0, E, Cpu, _> = (out * weights).sum();
    let grad = to_f64(&loss.backward().get(&input).as_vec());
    assert_close(&grad, &expected_grad, tolerance, "input gradient");
}

fn check_attention_aggregation<E: Float>(
    (batch, height, width): (usize, usize, usize),
    seed: u64,
    implementation: Implementation,
    tolerance: f64,
) where
    Cpu: AttentionOps<E> + dfdx::prelude::Device<E>,
{
    let shape = NchwShape {
        batch,
        channels: C,
        height,
        width,
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut random =
        |len: usize| -> Vec<f64> { (0..len).map(|_| rng.gen_range(-3.0..3.0)).collect() };
    let (low, high, gate) = (
        random(shape.len()),
        random(shape.len()),
        random(shape.len()),
    );
    let (channel, loss_weights) = (random(batch * C), random(shape.len()));
    let dev = Cpu::default();
    let image =
        |v: &[f64]| dev.tensor_from_vec(from_f64::<E>(v), (batch, Const::<C>, height, width));
    let (low_t, high_t, gate_t) = (image(&low), image(&high), image(&gate));
    let channel_t = dev.tensor_from_vec(from_f64::<E>(&channel), (batch, Const::<C>));
    let traced = (
        low_t.leaky_trace(),
        high_t.leaky_trace(),
        channel_t.leaky_trace(),
        gate_t.leaky_trace(),
    );
    let out = match implementation {
        Implementation::Kernel => {
            Cpu::try_attention_aggregation(traced.0, traced.1, traced.2, traced.3)
        }
        Implementation::Composed => {
            composed_attention_aggregation(traced.0, traced.1, traced.2, traced.3)
        }
    }
    .unwrap();
    let expected = reference_attention(shape, &low, &high, &channel, &gate);
    assert_close(&to_f64(&out.as_vec()), &expected, tolerance, "output");
    let loss: Tensor<Rank0, E, Cpu, _> = (out * image(&loss_weights)).sum();
    let grads = loss.backward();
    let expected = attention_aggregation_backward(shape, &high, &channel, &gate, &loss_weights);
    let got = [
        to_f64(&grads.get(&low_t).as_vec()),
        to_f64(&grads.get(&high_t).as_vec()),
        to_f64(&grads.get(&channel_t).as_vec()),
        to_f64(&grads.get(&gate_t).as_vec()),
    ];
    for ((got, want), name) in
        got.iter()
            .zip(&expected)
            .zip(["low", "high", "channel weights", "gate logits"])
    {
        assert_close(got, want, tolerance, &format!("{name} gradient"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn attention_aggregation_matches_reference(
        dims in dims(),
        seed in any::<u64>(),
        implementation in implementation(),
    ) {
        check_attention_aggregation::<f64>(dims, seed, implementation, 1e-12);
        check_attention_aggregation::<f32>(dims, seed, implementation, 1e-5);
    }
}
