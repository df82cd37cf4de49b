//! The naive convolution on plain NCHW slices: the definition every algorithm is tested
//! against. Written for clarity, not speed.

use super::ConvShape;
use crate::ops::Float;

impl ConvShape {
    fn input_index(&self, b: usize, c: usize, y: usize, x: usize) -> usize {
        ((b * self.in_channels + c) * self.height + y) * self.width + x
    }
    fn output_index(&self, b: usize, o: usize, y: usize, x: usize) -> usize {
        ((b * self.out_channels + o) * self.height + y) * self.width + x
    }
    fn weight_index(&self, o: usize, c: usize, ky: usize, kx: usize) -> usize {
        ((o * self.in_channels + c) * self.kernel + ky) * self.kernel + kx
    }
    /// The input pixel under kernel tap (ky, kx) for output pixel (y, x), if inside the image.
    fn tap(&self, y: usize, x: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let pad = self.kernel / 2;
        let iy = (y + ky).checked_sub(pad).filter(|&v| v < self.height)?;
        let ix = (x + kx).checked_sub(pad).filter(|&v| v < self.width)?;
        Some((iy, ix))
    }
    /// Visits every (input index, weight index, output index) triple of the convolution.
    fn for_each_tap(&self, mut visit: impl FnMut(usize, usize, usize)) {
        for b in 0..self.batch {
            for o in 0..self.out_channels {
                for y in 0..self.height {
                    for x in 0..self.width {
                        for c in 0..self.in_channels {
                            for ky in 0..self.kernel {
                                for kx in 0..self.kernel {
                                    if let Some((iy, ix)) = self.tap(y, x, ky, kx) {
                                        visit(
                                            self.input_index(b, c, iy, ix),
                                            self.weight_index(o, c, ky, kx),
                                            self.output_index(b, o, y, x),
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `out[b, o, y, x] = bias[o] + sum over c, ky, kx of weight[o, c, ky, kx] * x[b, c, y + ky - K/2, x + kx - K/2]`.
pub fn conv2d_forward<E: Float>(
    shape: ConvShape,
    input: &[E],
    weight: &[E],
    bias: Option<&[E]>,
) -> Vec<E> {
    let plane = shape.height * shape.width;
    let mut out = vec![E::zero(); shape.batch * shape.out_channels * plane];
    if let Some(bias) = bias {
        for (i, v) in out.iter_mut().enumerate() {
            *v = bias[(i / plane) % shape.out_channels];
        }
    }
    shape.for_each_tap(|i, w, o| out[o] += weight[w] * input[i]);
    out
}

/// Adds the convolution's gradients for `grad_out` into `grad_input`, `grad_weight` and `grad_bias`.
pub fn conv2d_backward<E: Float>(
    shape: ConvShape,
    input: &[E],
    weight: &[E],
    grad_out: &[E],
    grad_input: &mut [E],
    grad_weight: &mut [E],
    grad_bias: Option<&mut [E]>,
) {
    shape.for_each_tap(|i, w, o| {
        grad_input[i] += weight[w] * grad_out[o];
        grad_weight[w] += input[i] * grad_out[o];
    });
    if let Some(grad_bias) = grad_bias {
        let plane = shape.height * shape.width;
        for (i, g) in grad_out.iter().enumerate() {
            grad_bias[(i / plane) % shape.out_channels] += *g;
        }
    }
}
