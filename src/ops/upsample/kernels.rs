//! The separable bilinear 2x upsampling kernel of the CPU, parallel over planes.

use super::align_corners_source;
use crate::ops::Float;
use rayon::prelude::*;

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
pub(super) struct Plane<E> {
    width: usize,
    /// The values in one plane, at least one (chunking needs a positive size; an empty image
    /// has no planes either way).
    size: usize,
    rows: AxisTaps<E>,
    columns: AxisTaps<E>,
}

impl<E: Float> Plane<E> {
    pub(super) fn new(height: usize, width: usize) -> Self {
        Plane {
            width,
            size: (height * width).max(1),
            rows: AxisTaps::new(height),
            columns: AxisTaps::new(width),
        }
    }

    /// Upsamples every plane of `x`, each task with its own scratch rows.
    pub(super) fn upsample(&self, x: &[E]) -> Vec<E> {
        let size = self.size;
        let mut out = vec![E::zero(); 4 * x.len()];
        out.par_chunks_mut(4 * size)
            .zip(x.par_chunks(size))
            .for_each_init(
                || vec![E::zero(); 2 * size],
                |scratch, (out, x)| self.forward(x, out, scratch),
            );
        out
    }

    /// Adds the input gradient of every plane for `grad_out` to `grad_x`.
    pub(super) fn add_input_gradient(&self, grad_out: &[E], grad_x: &mut [E]) {
        let size = self.size;
        grad_x
            .par_chunks_mut(size)
            .zip(grad_out.par_chunks(4 * size))
            .for_each_init(
                || vec![E::zero(); 2 * size],
                |scratch, (grad_x, grad_out)| self.backward(grad_out, grad_x, scratch),
            );
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
