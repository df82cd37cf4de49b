//! The 2 x 2, stride 2 max-pooling kernels of the CPU, parallel over image planes.

use crate::ops::Float;
use rayon::prelude::*;

/// The offsets (dy, dx) of a 2 x 2 window, in the order ties are broken (first wins).
const WINDOW: [(usize, usize); 4] = [(0, 0), (0, 1), (1, 0), (1, 1)];

/// Pools `planes` planes of height x width (both even). Returns the pooled values and, for each,
/// which of the four window positions (index into `WINDOW`) held the maximum.
pub(super) fn max_pool2x2_forward<E: Float>(
    planes: usize,
    height: usize,
    width: usize,
    input: &[E],
) -> (Vec<E>, Vec<u8>) {
    let (oh, ow) = (height / 2, width / 2);
    let mut values = vec![E::zero(); planes * oh * ow];
    let mut winners = vec![0u8; planes * oh * ow];
    if values.is_empty() {
        return (values, winners);
    }
    values
        .par_chunks_mut(oh * ow)
        .zip(winners.par_chunks_mut(oh * ow))
        .zip(input.par_chunks(height * width))
        .for_each(|((values, winners), plane)| {
            for y in 0..oh {
                for x in 0..ow {
                    let at = |(dy, dx): (usize, usize)| plane[(2 * y + dy) * width + 2 * x + dx];
                    let (mut best, mut winner) = (at(WINDOW[0]), 0);
                    for (i, &offset) in WINDOW.iter().enumerate().skip(1) {
                        if at(offset) > best {
                            (best, winner) = (at(offset), i as u8);
                        }
                    }
                    values[y * ow + x] = best;
                    winners[y * ow + x] = winner;
                }
            }
        });
    (values, winners)
}

/// Adds each pooled gradient to the input position that won its window.
pub(super) fn max_pool2x2_backward<E: Float>(
    height: usize,
    width: usize,
    winners: &[u8],
    grad_out: &[E],
    grad_input: &mut [E],
) {
    let (oh, ow) = (height / 2, width / 2);
    if winners.is_empty() {
        return;
    }
    grad_input
        .par_chunks_mut(height * width)
        .zip(grad_out.par_chunks(oh * ow))
        .zip(winners.par_chunks(oh * ow))
        .for_each(|((grad_input, grad_out), winners)| {
            for y in 0..oh {
                for x in 0..ow {
                    let (dy, dx) = WINDOW[winners[y * ow + x] as usize];
                    grad_input[(2 * y + dy) * width + 2 * x + dx] += grad_out[y * ow + x];
                }
            }
        });
}
