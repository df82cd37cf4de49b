//! The naive 2 x 2 max-pool on plain NCHW slices: the definition the kernels are tested
//! against. Written for clarity, not speed.

use crate::ops::Float;

/// 2 x 2 stride-2 max-pool of `planes` planes of size height x width (both even). Returns the
/// pooled values and, for each, the index in `input` of the maximum (the first one on ties).
pub fn max_pool2x2_forward<E: Float>(
    planes: usize,
    height: usize,
    width: usize,
    input: &[E],
) -> (Vec<E>, Vec<usize>) {
    let (oh, ow) = (height / 2, width / 2);
    let mut values = Vec::with_capacity(planes * oh * ow);
    let mut argmax = Vec::with_capacity(planes * oh * ow);
    for p in 0..planes {
        for y in 0..oh {
            for x in 0..ow {
                let candidates = [(0, 0), (0, 1), (1, 0), (1, 1)]
                    .map(|(dy, dx)| (p * height + 2 * y + dy) * width + 2 * x + dx);
                let best = candidates.into_iter().fold(candidates[0], |best, i| {
                    if input[i] > input[best] {
                        i
                    } else {
                        best
                    }
                });
                values.push(input[best]);
                argmax.push(best);
            }
        }
    }
    (values, argmax)
}

/// Routes each pooled gradient to the input position that won the max.
pub fn max_pool2x2_backward<E: Float>(argmax: &[usize], grad_out: &[E], grad_input: &mut [E]) {
    for (&i, &g) in argmax.iter().zip(grad_out) {
        grad_input[i] += g;
    }
}
