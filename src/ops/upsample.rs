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
    fn try_upsample_bilinear2x<const C: usize, T: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError>;
}

/// Bilinear upsampling of `x` by 2 (see [`UpsampleOps::try_upsample_bilinear2x`]).
pub fn upsample_bilinear2x<const C: usize, E: Float, D: UpsampleOps<E>, T: Tape<E, D>>(
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
            weight.push(E::from(w).expect("float"));
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
        for (row, wide_row) in x.chunks_exact(self.width).zip(scratch.chunks_exact_mut(wide)) {
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
                *s = *s + (E::one() - w) * g;
            }
            for (s, &g) in scratch[u * wide..][..wide].iter_mut().zip(g_row) {
                *s = *s + w * g;
            }
        }
        for (gx_row, s_row) in grad_x
            .chunks_exact_mut(self.width)
            .zip(scratch.chunks_exact(wide))
        {
            for (&s, (l, u, w)) in s_row.iter().zip(self.columns.iter()) {
                gx_row[l] = gx_row[l] + (E::one() - w) * s;
                gx_row[u] = gx_row[u] + w * s;
            }
        }
    }
}

impl<E: Float> UpsampleOps<E> for Cpu {
    fn try_upsample_bilinear2x<const C: usize, T: Tape<E, Self>>(
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

#[cfg(feature = "cuda")]
impl<E: Float> UpsampleOps<E> for dfdx::prelude::Cuda
where
    dfdx::prelude::Cuda: Device<E>,
{
    fn try_upsample_bilinear2x<const C: usize, T: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        composed_upsample_bilinear2x(x)
    }
}
