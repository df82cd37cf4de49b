//! Bilinear upsampling by 2 with aligned corners, the step before every DIAAM of RRCA-Net's
//! decoder (PyTorch's `interpolate(scale_factor=2, mode="bilinear", align_corners=True)`):
//! output pixel (oy, ox) samples the input at (oy (H-1)/(2H-1), ox (W-1)/(2W-1)).
//!
//! The CPU kernel is separable: each input row is interpolated along the width once (a
//! gather through precomputed taps), and each output row is then a blend of two such rows
//! (a vectorised loop). The backward pass runs the transposed steps in reverse order. Other
//! devices use dfdx's `upscale2d` ([`composed_upsample_bilinear2x`]).

use super::cpu::{host_data, take_grad};
use super::norm_reference::align_corners_source;
use super::{Float, Image, OpError};
use dfdx::prelude::{
    Bilinear, Const, Cpu, Device, HasShape, PutTape, SplitTape, Storage, Tape, TensorFromVec,
    TryUpscale2D,
};
use dfdx::tensor_ops::GenericUpscale2D;
use rayon::prelude::*;

/// Devices that run bilinear upsampling.
pub trait UpsampleOps<E: Float>: Storage<E> {
    /// Bilinear upsampling of `x` to twice its height and width, corners aligned.
    fn try_upsample_bilinear2x<const C: usize, T: Tape<E, Self> + 'static>(
        x: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError>;
}

/// Bilinear upsampling of `x` by 2 (see [`UpsampleOps::try_upsample_bilinear2x`]).
pub fn upsample_bilinear2x<const C: usize, E: Float, D: UpsampleOps<E>, T: Tape<E, D> + 'static>(
    x: Image<C, E, D, T>,
) -> Result<Image<C, E, D, T>, OpError> {
    D::try_upsample_bilinear2x(x)
}

/// For each output position along one axis: the two input neighbours and the weight of the
/// upper one.
struct AxisTaps<E> {
    lower: Vec<usize>,
    upper: Vec<usize>,
    weight: Vec<E>,
}

impl<E: Float> AxisTaps<E> {
    fn new(input: usize) -> Self {
        let (mut lower, mut upper, mut weight) = (vec![], vec![], vec![]);
        for o in 0..2 * input {
            let (l, u, w) = align_corners_source(o, input, 2 * input);
            lower.push(l);
            upper.push(u);
            weight.push(E::of(w));
        }
        AxisTaps {
            lower,
            upper,
            weight,
        }
    }

    fn iter(&self) -> impl Iterator<Item = (usize, usize, E)> + '_ {
        self.lower
            .iter()
            .zip(&self.upper)
            .zip(&self.weight)
            .map(|((&l, &u), &w)| (l, u, w))
    }
}

/// The sizes of one plane and its taps along both axes.
struct Plane<E> {
    width: usize,
    rows: AxisTaps<E>,
    columns: AxisTaps<E>,
}

impl<E: Float> Plane<E> {
    fn new(height: usize, width: usize) -> Self {
        Plane {
            width,
            rows: AxisTaps::new(height),
            columns: AxisTaps::new(width),
        }
    }

    /// Upsamples one plane, `scratch` holding the width-interpolated rows (H x 2W).
    fn forward(&self, x: &[E], out: &mut [E], scratch: &mut [E]) {
        let wide = 2 * self.width;
        for (row, wide_row) in x
            .chunks_exact(self.width)
            .zip(scratch.chunks_exact_mut(wide))
        {
            for (o, (l, u, w)) in wide_row.iter_mut().zip(self.columns.iter()) {
                let a = row[l];
                *o = a + w * (row[u] - a);
            }
        }
        for (out_row, (l, u, w)) in out.chunks_exact_mut(wide).zip(self.rows.iter()) {
            let (a, b) = (&scratch[l * wide..][..wide], &scratch[u * wide..][..wide]);
            for ((o, &a), &b) in out_row.iter_mut().zip(a).zip(b) {
                *o = a + w * (b - a);
            }
        }
    }

    /// Adds the input gradient of one plane for `grad_out`; `scratch` (H x 2W) is overwritten.
    fn backward(&self, grad_out: &[E], grad_x: &mut [E], scratch: &mut [E]) {
        let wide = 2 * self.width;
        scratch.fill(E::zero());
        for (g_row, (l, u, w)) in grad_out.chunks_exact(wide).zip(self.rows.iter()) {
            for (s, &g) in scratch[l * wide..][..wide].iter_mut().zip(g_row) {
                *s += (E::one() - w) * g;
            }
            for (s, &g) in scratch[u * wide..][..wide].iter_mut().zip(g_row) {
                *s += w * g;
            }
        }
        for (gx_row, s_row) in grad_x
            .chunks_exact_mut(self.width)
            .zip(scratch.chunks_exact(wide))
        {
            for (&s, (l, u, w)) in s_row.iter().zip(self.columns.iter()) {
                gx_row[l] += (E::one() - w) * s;
                gx_row[u] += w * s;
            }
        }
    }
}

impl<E: Float> UpsampleOps<E> for Cpu {
    fn try_upsample_bilinear2x<const C: usize, T: Tape<E, Self> + 'static>(
        x: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        let (batch, _, height, width) = *x.shape();
        let out_shape = (batch, Const::<C>, 2 * height, 2 * width);
        let (x, mut tape) = x.split_tape();
        let plane = Plane::<E>::new(height, width);
        let size = (height * width).max(1);
        let input = host_data(&x);
        let mut out = vec![E::zero(); 4 * input.len()];
        out.par_chunks_mut(4 * size)
            .zip(input.par_chunks(size))
            .for_each_init(
                || vec![E::zero(); 2 * size],
                |scratch, (out, x)| plane.forward(x, out, scratch),
            );
        let out = x
            .device()
            .try_tensor_from_vec(out, out_shape)
            .map_err(OpError::device)?;
        let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
        tape.add_backward_op(move |grads| {
            let grad_out = take_grad!(grads, &out_ghost);
            let grad_x: &mut [E] = grads.get_or_alloc_mut(&x_ghost)?;
            grad_x
                .par_chunks_mut(size)
                .zip(grad_out.par_chunks(4 * size))
                .for_each_init(
                    || vec![E::zero(); 2 * size],
                    |scratch, (grad_x, grad_out)| plane.backward(grad_out, grad_x, scratch),
                );
            Ok(())
        });
        Ok(out.put_tape(tape))
    }
}

/// The same op as dfdx's bilinear `upscale2d` (corners aligned too), for devices without
/// our kernel (CUDA).
pub fn composed_upsample_bilinear2x<const C: usize, E: Float, D: Device<E>, T: Tape<E, D>>(
    x: Image<C, E, D, T>,
) -> Result<Image<C, E, D, T>, OpError>
where
    Image<C, E, D, T>: GenericUpscale2D<Bilinear, Output<usize, usize> = Image<C, E, D, T>>,
{
    let (_, _, height, width) = *x.shape();
    x.try_upscale2d_like(Bilinear, 2 * height, 2 * width)
        .map_err(OpError::device)
}

/// dfdx's bilinear kernel exists on CUDA for each float type separately.
#[cfg(feature = "cuda")]
macro_rules! cuda_upsample {
    ($($float:ty),*) => {$(
        impl UpsampleOps<$float> for dfdx::prelude::Cuda {
            fn try_upsample_bilinear2x<const C: usize, T: Tape<$float, Self> + 'static>(
                x: Image<C, $float, Self, T>,
            ) -> Result<Image<C, $float, Self, T>, OpError> {
                composed_upsample_bilinear2x(x)
            }
        }
    )*};
}
#[cfg(feature = "cuda")]
cuda_upsample!(f32, f64);

#[cfg(test)]
mod tests {
    use super::*;
    use dfdx::prelude::{Backward, Rank0, SumTo, Tensor, Trace};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// Output and input gradient of `sum(upsample(x) * weights)` for one-channel images.
    fn run(dims: (usize, usize, usize), x: &[f64], weights: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let dev = Cpu::default();
        let (b, h, w) = dims;
        let x = dev.tensor_from_vec(x.to_vec(), (b, Const::<1>, h, w));
        let weights = dev.tensor_from_vec(weights.to_vec(), (b, Const::<1>, 2 * h, 2 * w));
        let out = upsample_bilinear2x(x.leaky_trace()).unwrap();
        let values = out.as_vec();
        let loss: Tensor<Rank0, f64, Cpu, _> = (out * weights).sum();
        (values, loss.backward().get(&x).as_vec())
    }

    fn assert_close(actual: &[f64], expected: &[f64], tolerance: f64, what: &str) {
        assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!(
                (a - e).abs() <= tolerance,
                "{what}[{i}]: got {a}, expected {e}"
            );
        }
    }

    /// Expected values computed once with PyTorch 2.15 (`F.interpolate(x, scale_factor=2,
    /// mode="bilinear", align_corners=True)`, float64; the script is in notes/norm-ops.md),
    /// the gradient that of `sum(out * weights)`.
    #[test]
    fn matches_pytorch() {
        let x = [-3.0, 2.0, 0.0, -2.0, 3.0, 1.0];
        let weights: Vec<f64> = (0..24).map(|i| ((i * 3) % 11) as f64 / 5.0).collect();
        let (out, grad) = run((1, 2, 3), &x, &weights);
        let third = 1.0 / 3.0;
        assert_close(
            &out,
            &[
                -3.0,
                -1.0,
                1.0,
                1.6,
                0.8,
                0.0,
                -2.0 - 2.0 * third,
                -2.0 * third,
                1.0 + third,
                1.9333333333333331,
                1.1333333333333333,
                third,
                -2.0 - third,
                -third,
                1.0 + 2.0 * third,
                2.266666666666666,
                1.4666666666666663,
                2.0 * third,
                -2.0,
                0.0,
                2.0,
                2.6,
                1.8,
                1.0,
            ],
            1e-12,
            "output",
        );
        assert_close(
            &grad,
            &[
                2.946666666666667,
                5.226666666666667,
                2.6933333333333342,
                4.453333333333334,
                4.6933333333333325,
                2.586666666666667,
            ],
            1e-12,
            "input gradient",
        );
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let dims = (2, 3, 5);
        let mut rng = StdRng::seed_from_u64(11);
        let mut random =
            |len: usize| -> Vec<f64> { (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect() };
        let n = dims.0 * dims.1 * dims.2;
        let (x, weights) = (random(n), random(4 * n));
        let loss = |x: &[f64]| -> f64 {
            let out = run(dims, x, &weights).0;
            out.iter().zip(&weights).map(|(o, w)| o * w).sum()
        };
        let step = 1e-6;
        let numeric: Vec<f64> = (0..n)
            .map(|i| {
                let mut moved = x.clone();
                moved[i] += step;
                let up = loss(&moved);
                moved[i] -= 2.0 * step;
                (up - loss(&moved)) / (2.0 * step)
            })
            .collect();
        assert_close(&run(dims, &x, &weights).1, &numeric, 1e-7, "input gradient");
    }
}
