//! The CPU device: our kernels ([`super::direct`], [`super::pool`]) registered on dfdx's tape.
//!
//! dfdx gives no borrowed view of a tensor's storage outside the crate, so each op copies its
//! input out once ([`host_data`], one memcpy) and hands its output over without a copy
//! (`tensor_from_vec`). The backward pass keeps that copy of the input instead of the input
//! tensor, and reads and writes gradient buffers in place through `Gradients::get_or_alloc_mut`.

use super::reference::ConvShape;
use super::{check_conv_kernel, check_pool_size, direct, pool};
use super::{Bias, ConvWeight, Float, Image, OpError, SpatialOps};
use dfdx::prelude::{
    Const, Cpu, HasShape, PutTape, ReshapeTo, Shape, SplitTape, Tape, Tensor, TensorFromVec,
};

/// The elements of `t` in row-major order. dfdx exposes a tensor's storage only by copy;
/// `contiguous` (free when already contiguous) makes that physical copy the logical order.
pub(super) fn host_data<S: Shape, E: Float>(t: &Tensor<S, E, Cpu>) -> Vec<E> {
    let t = t.clone().contiguous();
    let mut out = vec![E::zero(); t.shape().num_elements()];
    t.copy_into(&mut out);
    out
}

/// Moves an op output's gradient out of dfdx's `Gradients`, so that the op's backward pass can
/// read it while writing other gradients. That gradient is read by this backward pass alone
/// (every later use has already added into it), so it need not be put back.
macro_rules! take_grad {
    ($grads:expr, $tensor:expr) => {
        std::mem::take::<Vec<_>>($grads.get_or_alloc_mut($tensor)?)
    };
}
pub(super) use take_grad;

impl<E: Float> SpatialOps<E> for Cpu {
    fn try_conv2d<const I: usize, const O: usize, const K: usize, T: Tape<E, Self>>(
        x: Image<I, E, Self, T>,
        weight: &ConvWeight<O, I, K, E, Self>,
        bias: Option<&Bias<O, E, Self>>,
    ) -> Result<Image<O, E, Self, T>, OpError> {
        check_conv_kernel(K)?;
        let (batch, _, height, width) = *x.shape();
        let shape = ConvShape {
            batch,
            in_channels: I,
            out_channels: O,
            height,
            width,
            kernel: K,
        };
        let (x, mut tape) = x.split_tape();
        let input = host_data(&x);
        let weight_data = host_data(weight);
        let bias_data = bias.map(host_data);
        let out = direct::conv2d_forward::<E, K>(shape, &input, &weight_data, bias_data.as_deref());
        let out = x
            .device()
            .try_tensor_from_vec(out, (batch, Const::<O>, height, width))
            .map_err(OpError::device)?;
        let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
        let (weight_ghost, bias_ghost) = (weight.ghost(), bias.map(Tensor::ghost));
        drop(x);
        tape.add_backward_op(move |grads| {
            let grad_out = take_grad!(grads, &out_ghost);
            direct::conv2d_backward_input::<E, K>(
                shape,
                &weight_data,
                &grad_out,
                grads.get_or_alloc_mut(&x_ghost)?,
            );
            let mut grad_bias = match &bias_ghost {
                Some(bias) => Some(take_grad!(grads, bias)),
                None => None,
            };
            direct::conv2d_backward_weight::<E, K>(
                shape,
                &input,
                &grad_out,
                grads.get_or_alloc_mut(&weight_ghost)?,
                grad_bias.as_deref_mut(),
            );
            if let (Some(bias), Some(grad_bias)) = (&bias_ghost, grad_bias) {
                **grads.get_or_alloc_mut(bias)? = grad_bias;
            }
            Ok(())
        });
        Ok(out.put_tape(tape))
    }

    fn try_max_pool2x2<const C: usize, T: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        let (batch, _, height, width) = *x.shape();
        check_pool_size(height, width)?;
        let (x, mut tape) = x.split_tape();
        let (values, winners) = pool::max_pool2x2_forward(batch * C, height, width, &host_data(&x));
        let out = x
            .device()
            .try_tensor_from_vec(values, (batch, Const::<C>, height / 2, width / 2))
            .map_err(OpError::device)?;
        let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            let grad_out = take_grad!(grads, &out_ghost);
            pool::max_pool2x2_backward(
                height,
                width,
                &winners,
                &grad_out,
                grads.get_or_alloc_mut(&x_ghost)?,
            );
            Ok(())
        });
        Ok(out.put_tape(tape))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{conv2d, max_pool2x2};
    use dfdx::prelude::*;

    /// f64 central finite differences of `loss` with respect to every element of `values`.
    fn numeric_gradient(values: &[f64], loss: impl Fn(&[f64]) -> f64) -> Vec<f64> {
        let step = 1e-5;
        (0..values.len())
            .map(|i| {
                let mut v = values.to_vec();
                v[i] += step;
                let up = loss(&v);
                v[i] -= 2.0 * step;
                (up - loss(&v)) / (2.0 * step)
            })
            .collect()
    }

    fn assert_close(analytic: &[f64], numeric: &[f64], what: &str) {
        assert_eq!(analytic.len(), numeric.len(), "{what}");
        for (i, (a, n)) in analytic.iter().zip(numeric).enumerate() {
            assert!(
                (a - n).abs() <= 1e-6 * (1.0 + n.abs()),
                "{what}[{i}]: analytic {a}, numeric {n}"
            );
        }
    }

    /// The weighted sum of the conv output, so every output element gets its own gradient.
    fn conv_loss<const I: usize, const O: usize, const K: usize>(
        dev: &Cpu,
        shape: (usize, usize, usize),
        x: &[f64],
        w: &[f64],
        b: &[f64],
        mix: &[f64],
    ) -> f64 {
        let (batch, height, width) = shape;
        let x: Image<I, f64, Cpu> = dev.tensor_from_vec(x.to_vec(), (batch, Const, height, width));
        let w: ConvWeight<O, I, K, f64, Cpu> = dev.tensor_from_vec(w.to_vec(), Default::default());
        let b: Bias<O, f64, Cpu> = dev.tensor_from_vec(b.to_vec(), Default::default());
        let out = conv2d(x, &w, Some(&b)).unwrap().as_vec();
        out.iter().zip(mix).map(|(o, m)| o * m).sum()
    }

    fn check_conv_gradients<const I: usize, const O: usize, const K: usize>(
        shape: (usize, usize, usize),
    ) {
        let dev = Cpu::seed_from_u64(7);
        let (batch, height, width) = shape;
        let x: Image<I, f64, Cpu> = dev.sample_normal_like(&(batch, Const, height, width));
        let w: ConvWeight<O, I, K, f64, Cpu> = dev.sample_normal();
        let b: Bias<O, f64, Cpu> = dev.sample_normal();
        let mix: Image<O, f64, Cpu> = dev.sample_normal_like(&(batch, Const, height, width));
        let (xv, wv, bv, mv) = (x.as_vec(), w.as_vec(), b.as_vec(), mix.as_vec());

        let out = conv2d(x.leaky_trace(), &w, Some(&b)).unwrap();
        let grads = (out * mix).sum().backward();
        let loss =
            |x: &[f64], w: &[f64], b: &[f64]| conv_loss::<I, O, K>(&dev, shape, x, w, b, &mv);
        assert_close(
            &grads.get(&x).as_vec(),
            &numeric_gradient(&xv, |v| loss(v, &wv, &bv)),
            "input",
        );
        assert_close(
            &grads.get(&w).as_vec(),
            &numeric_gradient(&wv, |v| loss(&xv, v, &bv)),
            "weight",
        );
        assert_close(
            &grads.get(&b).as_vec(),
            &numeric_gradient(&bv, |v| loss(&xv, &wv, v)),
            "bias",
        );
    }

    #[test]
    fn conv3x3_gradients_match_finite_differences() {
        check_conv_gradients::<3, 5, 3>((2, 5, 7));
    }

    #[test]
    fn conv1x1_gradients_match_finite_differences() {
        check_conv_gradients::<4, 2, 1>((2, 3, 4));
    }

    #[test]
    fn conv_with_wide_rows_and_many_channels_matches_finite_differences() {
        // More than one strip per row and more than one block of output channels.
        check_conv_gradients::<2, 11, 3>((1, 3, 37));
    }

    #[test]
    fn max_pool_gradient_matches_finite_differences() {
        let dev = Cpu::seed_from_u64(3);
        let x: Image<3, f64, Cpu> = dev.sample_normal_like(&(2, Const, 4, 6));
        let mix: Image<3, f64, Cpu> = dev.sample_normal_like(&(2, Const, 2, 3));
        let (xv, mv) = (x.as_vec(), mix.as_vec());
        let grads = (max_pool2x2(x.leaky_trace()).unwrap() * mix)
            .sum()
            .backward();
        let numeric = numeric_gradient(&xv, |v| {
            let x: Image<3, f64, Cpu> = dev.tensor_from_vec(v.to_vec(), (2, Const, 4, 6));
            let out = max_pool2x2(x).unwrap().as_vec();
            out.iter().zip(&mv).map(|(o, m)| o * m).sum()
        });
        assert_close(&grads.get(&x).as_vec(), &numeric, "input");
    }

    #[test]
    fn weight_gradients_accumulate_over_uses() {
        // One weight used twice in one graph (RuCB's weight sharing): its gradient must be the
        // sum of the two uses' gradients, each computed on its own graph.
        let dev = Cpu::seed_from_u64(11);
        let x1: Image<4, f64, Cpu> = dev.sample_normal_like(&(2, Const, 6, 5));
        let x2: Image<4, f64, Cpu> = dev.sample_normal_like(&(2, Const, 6, 5));
        let w: ConvWeight<3, 4, 3, f64, Cpu> = dev.sample_normal();
        let b: Bias<3, f64, Cpu> = dev.sample_normal();
        let use_once = |x: &Image<4, f64, Cpu>, tape: OwnedTape<f64, Cpu>| {
            conv2d(x.clone().put_tape(tape), &w, Some(&b)).unwrap()
        };
        let both = use_once(&x1, Default::default()) + use_once(&x2, Default::default());
        let shared = both.square().sum().backward();

        let (out1, out2) = (
            conv2d(x1.clone(), &w, Some(&b)).unwrap(),
            conv2d(x2.clone(), &w, Some(&b)).unwrap(),
        );
        // d(sum(y²))/dy = 2y, with y the sum of both uses.
        let upstream = (out1 + out2) * 2.0;
        let alone = |x: &Image<4, f64, Cpu>| {
            (use_once(x, Default::default()) * upstream.clone())
                .sum()
                .backward()
        };
        let (grads1, grads2) = (alone(&x1), alone(&x2));
        let sum =
            |a: Vec<f64>, b: Vec<f64>| a.iter().zip(&b).map(|(a, b)| a + b).collect::<Vec<_>>();
        assert_close(
            &shared.get(&w).as_vec(),
            &sum(grads1.get(&w).as_vec(), grads2.get(&w).as_vec()),
            "shared weight",
        );
        assert_close(
            &shared.get(&b).as_vec(),
            &sum(grads1.get(&b).as_vec(), grads2.get(&b).as_vec()),
            "shared bias",
        );
    }

    #[test]
    fn recurrent_weight_gradient_matches_finite_differences() {
        // The same weight applied twice in a chain, as RuCB's recurrence does.
        let dev = Cpu::seed_from_u64(5);
        let x: Image<3, f64, Cpu> = dev.sample_normal_like(&(1, Const, 5, 6));
        let w: ConvWeight<3, 3, 3, f64, Cpu> = dev.sample_normal::<Rank4<3, 3, 3, 3>>() * 0.3;
        let loss = |w: &ConvWeight<3, 3, 3, f64, Cpu>,
                    x: Image<3, f64, Cpu, OwnedTape<f64, Cpu>>| {
            let once = conv2d(x, w, None).unwrap().tanh();
            conv2d(once, w, None).unwrap().square().sum()
        };
        let grads = loss(&w, x.leaky_trace()).backward();
        let numeric = numeric_gradient(&w.as_vec(), |v| {
            let w = dev.tensor_from_vec(v.to_vec(), Default::default());
            loss(&w, x.leaky_trace()).array()
        });
        assert_close(&grads.get(&w).as_vec(), &numeric, "recurrent weight");
    }
}
