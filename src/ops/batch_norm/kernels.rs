//! The batch-norm kernels of the CPU on plain NCHW slices: statistics, the normalisation with
//! its epilogue, and the pieces of the backward pass.

use crate::ops::Float;
use rayon::prelude::*;

/// Momentum update of the running statistics towards the batch's `mean` and biased `var`
/// over `count` values per channel: `running = (1 - momentum) * running + momentum * batch`,
/// with the unbiased variance. Returns the new running mean and variance.
pub(super) fn running_statistics<E: Float>(
    running_mean: &[E],
    running_var: &[E],
    [mean, var]: [&[f64]; 2],
    count: usize,
    momentum: f64,
) -> [Vec<E>; 2] {
    let unbiased = count as f64 / (count - 1) as f64;
    let moved = |running: &[E], batch: &[f64], factor: f64| -> Vec<E> {
        running
            .iter()
            .zip(batch)
            .map(|(r, b)| {
                let r = r.to_f64().expect("float");
                E::of((1.0 - momentum) * r + momentum * factor * b)
            })
            .collect()
    };
    [
        moved(running_mean, mean, 1.0),
        moved(running_var, var, unbiased),
    ]
}

/// The per-channel affine map of the normalisation, `y = gain * x + shift`, and the
/// statistics it came from.
pub(super) struct ChannelAffine<E> {
    mean: Vec<E>,
    inv_std: Vec<E>,
    gain: Vec<E>,
    shift: Vec<E>,
}

impl<E: Float> ChannelAffine<E> {
    pub(super) fn new(mean: &[f64], var: &[f64], scale: &[E], bias: &[E], epsilon: f64) -> Self {
        let to_e = |v: f64| E::of(v);
        let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / (v + epsilon).sqrt()).collect();
        let gain: Vec<f64> = scale
            .iter()
            .zip(&inv_std)
            .map(|(s, r)| s.to_f64().expect("float") * r)
            .collect();
        let shift = bias
            .iter()
            .zip(mean.iter().zip(&gain))
            .map(|(b, (m, g))| to_e(b.to_f64().expect("float") - m * g))
            .collect();
        ChannelAffine {
            mean: mean.iter().copied().map(to_e).collect(),
            inv_std: inv_std.into_iter().map(to_e).collect(),
            gain: gain.into_iter().map(to_e).collect(),
            shift,
        }
    }

    /// The normalised-and-shifted value before the epilogue's ReLU.
    #[inline(always)]
    fn pre_activation(gain: E, shift: E, x: E, shortcut: E) -> E {
        x * gain + shift + shortcut
    }
}

/// Partial sums per lane, so that reductions vectorise (floating-point addition is not
/// associative, so the compiler keeps a single running sum in order otherwise).
const LANES: usize = 16;

/// The sums over `i` of each of the `K` terms `terms(a[i], b[i])`, accumulated in `E` in
/// [`LANES`] partial sums and totalled in f64.
#[inline(always)]
fn lane_sums<E: Float, const K: usize>(
    a: &[E],
    b: &[E],
    terms: impl Fn(E, E) -> [E; K],
) -> [f64; K] {
    let mut partial = [[E::zero(); LANES]; K];
    let whole = a.len() / LANES * LANES;
    for (a, b) in a[..whole]
        .chunks_exact(LANES)
        .zip(b[..whole].chunks_exact(LANES))
    {
        for lane in 0..LANES {
            let t = terms(a[lane], b[lane]);
            for k in 0..K {
                partial[k][lane] += t[k];
            }
        }
    }
    for (&a, &b) in a[whole..].iter().zip(&b[whole..]) {
        let t = terms(a, b);
        for k in 0..K {
            partial[k][0] += t[k];
        }
    }
    partial.map(|p| p.iter().map(|v| v.to_f64().expect("float")).sum())
}

/// Per-channel mean and biased variance over (batch, height, width) of NCHW `x` with
/// `channels` channels and planes of `plane` (> 0) values. Each plane is summed twice while
/// in cache (mean, then squared deviations) and the planes are combined exactly in f64.
pub(super) fn channel_statistics<E: Float>(
    x: &[E],
    channels: usize,
    plane: usize,
) -> (Vec<f64>, Vec<f64>) {
    let per_plane: Vec<(f64, f64)> = x
        .par_chunks(plane)
        .map(|values| {
            // Summing deviations from the first value keeps the sum's rounding relative
            // to the spread of the values rather than to their magnitude.
            let first = values[0];
            let [sum] = lane_sums(values, values, |v, _| [v - first]);
            let mean = first.to_f64().expect("float") + sum / plane as f64;
            let m = E::of(mean);
            let [squares] = lane_sums(values, values, |v, _| [(v - m) * (v - m)]);
            let m = m.to_f64().expect("float");
            // Deviations were taken from `m`, the mean rounded to E; correct to the mean.
            (mean, squares - plane as f64 * (mean - m) * (mean - m))
        })
        .collect();
    let batch = per_plane.len() / channels;
    let count = (batch * plane) as f64;
    (0..channels)
        .map(|c| {
            let planes = || per_plane.iter().skip(c).step_by(channels);
            let mean = planes().map(|(m, _)| m).sum::<f64>() / batch as f64;
            let squares: f64 = planes()
                .map(|(m, s)| s + plane as f64 * (m - mean) * (m - mean))
                .sum();
            (mean, squares / count)
        })
        .unzip()
}

/// `out = act(gain * x + shift + shortcut)` per plane, act being ReLU or the identity.
pub(super) fn normalise_forward<E: Float>(
    x: &[E],
    shortcut: Option<&[E]>,
    out: &mut [E],
    affine: &ChannelAffine<E>,
    plane: usize,
    relu: bool,
) {
    let channels = affine.gain.len();
    out.par_chunks_mut(plane).enumerate().for_each(|(p, out)| {
        let (gain, shift) = (affine.gain[p % channels], affine.shift[p % channels]);
        let x = &x[p * plane..(p + 1) * plane];
        let activate = |y: E| if relu { y.max(E::zero()) } else { y };
        match shortcut {
            None => {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = activate(ChannelAffine::pre_activation(gain, shift, v, E::zero()));
                }
            }
            Some(shortcut) => {
                let shortcut = &shortcut[p * plane..(p + 1) * plane];
                for ((o, &v), &s) in out.iter_mut().zip(x).zip(shortcut) {
                    *o = activate(ChannelAffine::pre_activation(gain, shift, v, s));
                }
            }
        }
    });
}

/// Zeroes the output gradient where the forward pass's ReLU clipped (pre-activation <= 0),
/// turning it into the gradient of the pre-activation.
pub(super) fn relu_mask<E: Float>(
    grad: &mut [E],
    x: &[E],
    shortcut: Option<&[E]>,
    affine: &ChannelAffine<E>,
    plane: usize,
) {
    let channels = affine.gain.len();
    grad.par_chunks_mut(plane)
        .enumerate()
        .for_each(|(p, grad)| {
            let (gain, shift) = (affine.gain[p % channels], affine.shift[p % channels]);
            let x = &x[p * plane..(p + 1) * plane];
            let keep = |g: E, y: E| if y > E::zero() { g } else { E::zero() };
            match shortcut {
                None => {
                    for (g, &v) in grad.iter_mut().zip(x) {
                        let y = ChannelAffine::pre_activation(gain, shift, v, E::zero());
                        *g = keep(*g, y);
                    }
                }
                Some(shortcut) => {
                    let shortcut = &shortcut[p * plane..(p + 1) * plane];
                    for ((g, &v), &s) in grad.iter_mut().zip(x).zip(shortcut) {
                        *g = keep(*g, ChannelAffine::pre_activation(gain, shift, v, s));
                    }
                }
            }
        });
}

/// Per channel, the sums of `grad` and of `grad * (x - mean)`.
pub(super) fn channel_gradient_sums<E: Float>(
    grad: &[E],
    x: &[E],
    affine: &ChannelAffine<E>,
    plane: usize,
) -> (Vec<f64>, Vec<f64>) {
    let channels = affine.mean.len();
    let per_plane: Vec<[f64; 2]> = grad
        .par_chunks(plane)
        .zip(x.par_chunks(plane))
        .enumerate()
        .map(|(p, (grad, x))| {
            let mean = affine.mean[p % channels];
            lane_sums(grad, x, |g, v| [g, g * (v - mean)])
        })
        .collect();
    (0..channels)
        .map(|c| {
            per_plane
                .iter()
                .skip(c)
                .step_by(channels)
                .fold((0.0, 0.0), |(a, b), [g, gx]| (a + g, b + gx))
        })
        .unzip()
}

/// Adds the input gradient, per plane `gain * grad + slope * (x - mean) + offset`.
/// With batch statistics the mean and variance depend on x too, which gives the slope and
/// offset terms (`-gain * mean(grad)` and `-gain * inv_std^2 * mean(grad * (x - mean))`);
/// with running statistics both are zero.
pub(super) fn input_gradient<E: Float>(
    grad_x: &mut [E],
    grad: &[E],
    x: &[E],
    affine: &ChannelAffine<E>,
    terms: &[(E, E)],
    plane: usize,
) {
    let channels = affine.mean.len();
    grad_x
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(p, grad_x)| {
            let c = p % channels;
            let (gain, mean, (slope, offset)) = (affine.gain[c], affine.mean[c], terms[c]);
            let range = p * plane..(p + 1) * plane;
            for ((gx, &g), &v) in grad_x.iter_mut().zip(&grad[range.clone()]).zip(&x[range]) {
                *gx = *gx + gain * g + slope * (v - mean) + offset;
            }
        });
}

/// Adds `values` into `sum`, elementwise.
pub(super) fn add_into<E: Float>(sum: &mut [E], values: &[E]) {
    sum.par_chunks_mut(1 << 14)
        .zip(values.par_chunks(1 << 14))
        .for_each(|(sum, values)| {
            for (s, &v) in sum.iter_mut().zip(values) {
                *s += v;
            }
        });
}

/// The scale and bias gradients, from the per-channel sums of the pre-activation gradient
/// (`sum_grad`) and of it times the centred input (`sum_grad_centered`).
pub(super) fn parameter_gradients<E: Float>(
    sum_grad: &[f64],
    sum_grad_centered: &[f64],
    affine: &ChannelAffine<E>,
) -> (Vec<E>, Vec<E>) {
    let grad_scale = sum_grad_centered
        .iter()
        .zip(&affine.inv_std)
        .map(|(s, r)| E::of(s * r.to_f64().expect("float")))
        .collect();
    let grad_bias = sum_grad.iter().copied().map(E::of).collect();
    (grad_scale, grad_bias)
}

/// The per-channel (slope, offset) of [`input_gradient`] over `count` values per channel:
/// zero with running statistics, which do not depend on the input.
pub(super) fn input_gradient_terms<E: Float>(
    sum_grad: &[f64],
    sum_grad_centered: &[f64],
    affine: &ChannelAffine<E>,
    count: f64,
    batch_statistics: bool,
) -> Vec<(E, E)> {
    (0..affine.gain.len())
        .map(|c| {
            if !batch_statistics {
                return (E::zero(), E::zero());
            }
            let gain = affine.gain[c].to_f64().expect("float");
            let inv_std = affine.inv_std[c].to_f64().expect("float");
            let slope = -gain * inv_std * inv_std * sum_grad_centered[c] / count;
            (E::of(slope), E::of(-gain * sum_grad[c] / count))
        })
        .collect()
}
