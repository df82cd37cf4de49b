//! Naive bilinear 2x upsampling on plain NCHW slices, in f64: the definition the kernel and
//! the composed version are tested against. Written for clarity, not speed.

use super::align_corners_source;
use crate::ops::NchwShape;

/// Bilinear upsampling to twice the height and width with aligned corners (PyTorch's
/// `interpolate(scale_factor=2, mode="bilinear", align_corners=True)`).
pub fn upsample_bilinear2x(shape: NchwShape, x: &[f64]) -> Vec<f64> {
    let (oh, ow) = (2 * shape.height, 2 * shape.width);
    let mut out = vec![0.0; x.len() * 4];
    for_each_tap(shape, |o, i, w| out[o] += w * x[i]);
    debug_assert_eq!(out.len(), shape.batch * shape.channels * oh * ow);
    out
}

/// The input gradient of [`upsample_bilinear2x`] for one output gradient.
pub fn upsample_bilinear2x_backward(shape: NchwShape, grad_out: &[f64]) -> Vec<f64> {
    let mut grad = vec![0.0; shape.len()];
    for_each_tap(shape, |o, i, w| grad[i] += w * grad_out[o]);
    grad
}

/// Visits every (output index, input index, weight) of the 2x bilinear upsampling.
fn for_each_tap(shape: NchwShape, mut visit: impl FnMut(usize, usize, f64)) {
    let (oh, ow) = (2 * shape.height, 2 * shape.width);
    let out_shape = NchwShape {
        height: oh,
        width: ow,
        ..shape
    };
    for b in 0..shape.batch {
        for c in 0..shape.channels {
            for oy in 0..oh {
                let (y0, y1, wy) = align_corners_source(oy, shape.height, oh);
                for ox in 0..ow {
                    let (x0, x1, wx) = align_corners_source(ox, shape.width, ow);
                    let o = out_shape.index(b, c, oy, ox);
                    visit(o, shape.index(b, c, y0, x0), (1.0 - wy) * (1.0 - wx));
                    visit(o, shape.index(b, c, y0, x1), (1.0 - wy) * wx);
                    visit(o, shape.index(b, c, y1, x0), wy * (1.0 - wx));
                    visit(o, shape.index(b, c, y1, x1), wy * wx);
                }
            }
        }
    }
}
