//! Batch normalisation of images (Ioffe & Szegedy, 2015), with the epilogues RRCA-Net's
//! residual pairs put after it: conv -> BN -> ReLU -> conv -> BN -> (+ shortcut) -> ReLU is
//! `conv2d`, [`batch_norm2d_relu`], `conv2d`, [`batch_norm2d_add_relu`].
//!
//! The parameters live in dfdx's [`BatchNorm2D`] module, with its semantics (PyTorch's):
//! in training the batch statistics over (batch, height, width) normalise, with the biased
//! variance, and the running statistics move towards them by `momentum`, with the unbiased
//! variance; in evaluation the running statistics normalise. Either way the result is scaled
//! by `scale` and shifted by `bias`. Gradients flow to the input, `scale`, `bias` and the
//! shortcut.
//!
//! The CPU device runs fused kernels: the forward pass reads the input twice (statistics,
//! output) and the backward pass computes the input gradient as one per-channel affine map of
//! the output gradient and the input. Other devices compose dfdx ops
//! ([`composed_batch_norm2d`]).

use super::cpu::{host_data, take_grad};
use super::{Float, Image, OpError};
use dfdx::nn::modules::BatchNorm2D;
use dfdx::prelude::{
    Const, Cpu, Device, HasShape, Merge, NoneTape, PutTape, Rank1, SplitTape, Storage, Tape,
    Tensor, TensorFromVec,
};
use dfdx::tensor_ops::{BroadcastTo, MeanTo, TryAdd, TryDiv, TryMul, TrySub};
use rayon::prelude::*;

/// Which statistics normalise, and the module holding parameters and running statistics.
pub enum BatchNormMode<'a, const C: usize, E: Float, D: Storage<E>> {
    /// Training: normalise with the batch's statistics and update the running ones.
    Train(&'a mut BatchNorm2D<C, E, D>),
    /// Evaluation: normalise with the running statistics.
    Eval(&'a BatchNorm2D<C, E, D>),
}

/// What follows the normalisation, fused into the same pass.
pub enum Epilogue<Shortcut> {
    /// Nothing: `bn(x)`.
    Identity,
    /// `relu(bn(x))`.
    Relu,
    /// The end of a residual pair: `relu(bn(x) + shortcut)`.
    AddRelu(Shortcut),
}

/// Devices that run batch normalisation.
pub trait BatchNormOps<E: Float>: Storage<E> {
    /// `epilogue(scale * (x - mean) / sqrt(var + epsilon) + bias)` per channel, with the
    /// statistics `mode` selects (see the module docs). The tape of `x` and that of a
    /// shortcut are merged.
    ///
    /// # Errors
    /// [`OpError::ShortcutShape`] if the shortcut's shape differs from the input's, and
    /// [`OpError::SingleValueBatch`] if training sees a single value per channel (its
    /// unbiased variance is undefined).
    fn try_batch_norm2d<const C: usize, T: Tape<E, Self> + Merge<R>, R: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
        mode: BatchNormMode<'_, C, E, Self>,
        epilogue: Epilogue<Image<C, E, Self, R>>,
    ) -> Result<Image<C, E, Self, T>, OpError>;
}

/// `bn(x)` (see [`BatchNormOps::try_batch_norm2d`]).
pub fn batch_norm2d<const C: usize, E: Float, D: BatchNormOps<E>, T: Tape<E, D>>(
    x: Image<C, E, D, T>,
    mode: BatchNormMode<'_, C, E, D>,
) -> Result<Image<C, E, D, T>, OpError> {
    D::try_batch_norm2d::<C, T, NoneTape>(x, mode, Epilogue::Identity)
}

/// `relu(bn(x))` (see [`BatchNormOps::try_batch_norm2d`]).
pub fn batch_norm2d_relu<const C: usize, E: Float, D: BatchNormOps<E>, T: Tape<E, D>>(
    x: Image<C, E, D, T>,
    mode: BatchNormMode<'_, C, E, D>,
) -> Result<Image<C, E, D, T>, OpError> {
    D::try_batch_norm2d::<C, T, NoneTape>(x, mode, Epilogue::Relu)
}

/// `relu(bn(x) + shortcut)`, the end of a residual pair (see
/// [`BatchNormOps::try_batch_norm2d`]).
pub fn batch_norm2d_add_relu<
    const C: usize,
    E: Float,
    D: BatchNormOps<E>,
    T: Tape<E, D> + Merge<R>,
    R: Tape<E, D>,
>(
    x: Image<C, E, D, T>,
    shortcut: Image<C, E, D, R>,
    mode: BatchNormMode<'_, C, E, D>,
) -> Result<Image<C, E, D, T>, OpError> {
    D::try_batch_norm2d(x, mode, Epilogue::AddRelu(shortcut))
}

/// Momentum update of the running statistics towards the batch's `mean` and biased `var`
/// over `count` values per channel: `running = (1 - momentum) * running + momentum * batch`,
/// with the unbiased variance.
fn update_running_statistics<const C: usize, E: Float>(
    norm: &mut BatchNorm2D<C, E, Cpu>,
    mean: &[f64],
    var: &[f64],
    count: usize,
) {
    let momentum = norm.momentum;
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
    let new_mean = moved(&host_data(&norm.running_mean), mean, 1.0);
    let new_var = moved(&host_data(&norm.running_var), var, unbiased);
    norm.running_mean.copy_from(&new_mean);
    norm.running_var.copy_from(&new_var);
}

/// The per-channel affine map of the normalisation, `y = gain * x + shift`, and the
/// statistics it came from.
struct ChannelAffine<E> {
    mean: Vec<E>,
    inv_std: Vec<E>,
    gain: Vec<E>,
    shift: Vec<E>,
}

impl<E: Float> ChannelAffine<E> {
    fn new(mean: &[f64], var: &[f64], scale: &[E], bias: &[E], epsilon: f64) -> Self {
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
fn channel_statistics<E: Float>(x: &[E], channels: usize, plane: usize) -> (Vec<f64>, Vec<f64>) {
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
fn normalise_forward<E: Float>(
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
fn relu_mask<E: Float>(
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
fn channel_gradient_sums<E: Float>(
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
fn input_gradient<E: Float>(
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

/// The image shape as plain numbers, for error messages.
fn dims<const C: usize>(shape: &(usize, Const<C>, usize, usize)) -> (usize, usize, usize, usize) {
    (shape.0, C, shape.2, shape.3)
}

/// The shortcut added before the final ReLU must have the input's shape.
fn check_shortcut<const C: usize>(
    input: &(usize, Const<C>, usize, usize),
    shortcut: &(usize, Const<C>, usize, usize),
) -> Result<(), OpError> {
    if input != shortcut {
        return Err(OpError::ShortcutShape {
            input: dims(input),
            shortcut: dims(shortcut),
        });
    }
    Ok(())
}

/// The number of values per channel that batch statistics average over; the unbiased
/// variance of the running statistics needs more than one.
fn check_batch_statistics<const C: usize>(
    shape: &(usize, Const<C>, usize, usize),
) -> Result<usize, OpError> {
    let count = shape.0 * shape.2 * shape.3;
    if count < 2 {
        return Err(OpError::SingleValueBatch(count));
    }
    Ok(count)
}

/// Adds `values` into `sum`, elementwise.
fn add_into<E: Float>(sum: &mut [E], values: &[E]) {
    sum.par_chunks_mut(1 << 14)
        .zip(values.par_chunks(1 << 14))
        .for_each(|(sum, values)| {
            for (s, &v) in sum.iter_mut().zip(values) {
                *s += v;
            }
        });
}

impl<E: Float> BatchNormOps<E> for Cpu {
    fn try_batch_norm2d<const C: usize, T: Tape<E, Self> + Merge<R>, R: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
        mode: BatchNormMode<'_, C, E, Self>,
        epilogue: Epilogue<Image<C, E, Self, R>>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        let shape = *x.shape();
        let (batch, _, height, width) = shape;
        // Chunking needs a positive size; an empty image has no planes either way.
        let plane = (height * width).max(1);
        let (x, mut tape) = x.split_tape();
        let (shortcut, relu) = match epilogue {
            Epilogue::Identity => (None, false),
            Epilogue::Relu => (None, true),
            Epilogue::AddRelu(shortcut) => {
                check_shortcut(&shape, shortcut.shape())?;
                let (shortcut, shortcut_tape) = shortcut.split_tape();
                tape = tape.merge(shortcut_tape);
                (Some(shortcut), true)
            }
        };
        let input = host_data(&x);
        let shortcut_data = shortcut.as_ref().map(host_data);
        let (norm, mean, var, batch_statistics) = match mode {
            BatchNormMode::Train(norm) => {
                let count = check_batch_statistics(&shape)?;
                let (mean, var) = channel_statistics(&input, C, plane);
                update_running_statistics(norm, &mean, &var, count);
                (&*norm, mean, var, true)
            }
            BatchNormMode::Eval(norm) => {
                let to_f64 = |t: &Tensor<Rank1<C>, E, Cpu>| -> Vec<f64> {
                    host_data(t)
                        .iter()
                        .map(|v| v.to_f64().expect("float"))
                        .collect()
                };
                (
                    norm,
                    to_f64(&norm.running_mean),
                    to_f64(&norm.running_var),
                    false,
                )
            }
        };
        let affine = ChannelAffine::new(
            &mean,
            &var,
            &host_data(&norm.scale),
            &host_data(&norm.bias),
            norm.epsilon,
        );
        let mut out = vec![E::zero(); input.len()];
        normalise_forward(
            &input,
            shortcut_data.as_deref(),
            &mut out,
            &affine,
            plane,
            relu,
        );
        let out = x
            .device()
            .try_tensor_from_vec(out, shape)
            .map_err(OpError::device)?;

        let (x_ghost, out_ghost) = (x.ghost(), out.ghost());
        let (scale_ghost, bias_ghost) = (norm.scale.ghost(), norm.bias.ghost());
        let shortcut_ghost = shortcut.map(|s| s.ghost());
        let count = (batch * height * width) as f64;
        tape.add_backward_op(move |grads| {
            let mut grad = take_grad!(grads, &out_ghost);
            if relu {
                relu_mask(&mut grad, &input, shortcut_data.as_deref(), &affine, plane);
            }
            if let Some(shortcut) = &shortcut_ghost {
                add_into(grads.get_or_alloc_mut(shortcut)?, &grad);
            }
            let (sum_grad, sum_grad_centered) =
                channel_gradient_sums(&grad, &input, &affine, plane);
            let to_e = |v: f64| E::of(v);
            let grad_scale: Vec<E> = sum_grad_centered
                .iter()
                .zip(&affine.inv_std)
                .map(|(s, r)| to_e(s * r.to_f64().expect("float")))
                .collect();
            let grad_bias: Vec<E> = sum_grad.iter().copied().map(to_e).collect();
            add_into(grads.get_or_alloc_mut(&scale_ghost)?, &grad_scale);
            add_into(grads.get_or_alloc_mut(&bias_ghost)?, &grad_bias);
            let terms: Vec<(E, E)> = (0..C)
                .map(|c| {
                    if !batch_statistics {
                        return (E::zero(), E::zero());
                    }
                    let gain = affine.gain[c].to_f64().expect("float");
                    let inv_std = affine.inv_std[c].to_f64().expect("float");
                    let slope = -gain * inv_std * inv_std * sum_grad_centered[c] / count;
                    (to_e(slope), to_e(-gain * sum_grad[c] / count))
                })
                .collect();
            input_gradient(
                grads.get_or_alloc_mut(&x_ghost)?,
                &grad,
                &input,
                &affine,
                &terms,
                plane,
            );
            Ok(())
        });
        Ok(out.put_tape(tape))
    }
}

/// The same op composed from dfdx's elementwise, broadcast and reduction ops, for devices
/// without our kernels (CUDA). Follows dfdx's `BatchNorm2D` forward step by step.
///
/// # Errors
/// As [`BatchNormOps::try_batch_norm2d`].
pub fn composed_batch_norm2d<
    const C: usize,
    E: Float,
    D: Device<E>,
    T: Tape<E, D> + Merge<R>,
    R: Tape<E, D>,
>(
    x: Image<C, E, D, T>,
    mode: BatchNormMode<'_, C, E, D>,
    epilogue: Epilogue<Image<C, E, D, R>>,
) -> Result<Image<C, E, D, T>, OpError> {
    let shape = *x.shape();
    if let Epilogue::AddRelu(shortcut) = &epilogue {
        check_shortcut(&shape, shortcut.shape())?;
    }
    let count = match &mode {
        BatchNormMode::Train(_) => check_batch_statistics(&shape)?,
        BatchNormMode::Eval(_) => 0,
    };
    let result = (|| {
        let (normalised, norm) = match mode {
            BatchNormMode::Train(norm) => {
                let (momentum, count) = (norm.momentum, count as f64);
                let mean = x.retaped::<T>().try_mean::<Rank1<C>, _>()?;
                norm.running_mean
                    .try_axpy(1.0 - momentum, &mean, momentum)?;
                let centered = x.try_sub(mean.try_broadcast_like(&shape)?)?;
                let var = centered
                    .retaped::<T>()
                    .try_square()?
                    .try_mean::<Rank1<C>, _>()?;
                norm.running_var.try_axpy(
                    1.0 - momentum,
                    &var,
                    momentum * count / (count - 1.0),
                )?;
                let std = var.try_add(E::of(norm.epsilon))?.try_sqrt()?;
                let gain = norm.scale.retaped::<T>().try_div(std)?;
                (centered.try_mul(gain.try_broadcast_like(&shape)?)?, &*norm)
            }
            BatchNormMode::Eval(norm) => {
                let centered = x.try_sub(norm.running_mean.clone().try_broadcast_like(&shape)?)?;
                let std = norm
                    .running_var
                    .clone()
                    .try_add(E::of(norm.epsilon))?
                    .try_sqrt()?;
                let gain = norm.scale.retaped::<T>().try_div(std)?;
                (centered.try_mul(gain.try_broadcast_like(&shape)?)?, norm)
            }
        };
        let y = normalised.try_add(norm.bias.retaped::<T>().try_broadcast_like(&shape)?)?;
        match epilogue {
            Epilogue::Identity => Ok(y),
            Epilogue::Relu => y.try_relu(),
            Epilogue::AddRelu(shortcut) => Ok(y.try_add(shortcut)?.try_relu()?),
        }
    })();
    result.map_err(OpError::device)
}

#[cfg(feature = "cuda")]
impl<E: Float> BatchNormOps<E> for dfdx::prelude::Cuda
where
    dfdx::prelude::Cuda: Device<E>,
{
    fn try_batch_norm2d<const C: usize, T: Tape<E, Self> + Merge<R>, R: Tape<E, Self>>(
        x: Image<C, E, Self, T>,
        mode: BatchNormMode<'_, C, E, Self>,
        epilogue: Epilogue<Image<C, E, Self, R>>,
    ) -> Result<Image<C, E, Self, T>, OpError> {
        composed_batch_norm2d(x, mode, epilogue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::norm_reference::{channel_mean_var, NchwShape};
    use dfdx::nn::builders::BatchNorm2D as BatchNorm2DBuilder;
    use dfdx::prelude::{Backward, DeviceBuildExt, Rank0, SumTo, Tensor, Trace, ZerosTensor};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// Output and gradients of `sum(op(x, shortcut) * weights)`.
    #[derive(Debug)]
    struct Outcome {
        out: Vec<f64>,
        x: Vec<f64>,
        scale: Vec<f64>,
        bias: Vec<f64>,
        shortcut: Option<Vec<f64>>,
    }

    /// The inputs of one batch-norm call: `relu` alone selects [`Epilogue::Relu`], a
    /// shortcut [`Epilogue::AddRelu`].
    struct Case<'a> {
        dims: (usize, usize, usize),
        x: &'a [f64],
        shortcut: Option<&'a [f64]>,
        relu: bool,
        weights: &'a [f64],
        train: bool,
    }

    impl Case<'_> {
        fn run<const C: usize>(&self, norm: &mut BatchNorm2D<C, f64, Cpu>) -> Outcome {
            let dev = Cpu::default();
            let (b, h, w) = self.dims;
            let tensor = |v: &[f64]| dev.tensor_from_vec(v.to_vec(), (b, Const::<C>, h, w));
            let (x, weights) = (tensor(self.x), tensor(self.weights));
            let shortcut = self.shortcut.map(tensor);
            let mode = if self.train {
                BatchNormMode::Train(&mut *norm)
            } else {
                BatchNormMode::Eval(&*norm)
            };
            let out = match (&shortcut, self.relu) {
                (Some(s), _) => batch_norm2d_add_relu(x.leaky_trace(), s.leaky_trace(), mode),
                (None, true) => batch_norm2d_relu(x.leaky_trace(), mode),
                (None, false) => batch_norm2d(x.leaky_trace(), mode),
            }
            .unwrap();
            let values = out.as_vec();
            let loss: Tensor<Rank0, f64, Cpu, _> = (out * weights).sum();
            let grads = loss.backward();
            Outcome {
                out: values,
                x: grads.get(&x).as_vec(),
                scale: grads.get(&norm.scale).as_vec(),
                bias: grads.get(&norm.bias).as_vec(),
                shortcut: shortcut.map(|s| grads.get(&s).as_vec()),
            }
        }

        fn loss<const C: usize>(&self, norm: &BatchNorm2D<C, f64, Cpu>) -> f64 {
            let out = self.run(&mut norm.clone()).out;
            out.iter().zip(self.weights).map(|(o, w)| o * w).sum()
        }
    }

    fn assert_close(actual: &[f64], expected: &[f64], tolerance: f64, what: &str) {
        assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!(
                (a - e).abs() <= tolerance * (1.0 + e.abs()),
                "{what}[{i}]: got {a}, expected {e}"
            );
        }
    }

    fn batch_norm<const C: usize>(scale: &[f64], bias: &[f64]) -> BatchNorm2D<C, f64, Cpu> {
        let mut norm = Cpu::default().build_module::<BatchNorm2DBuilder<C>, f64>();
        norm.scale.copy_from(scale);
        norm.bias.copy_from(bias);
        norm
    }

    /// Expected values computed once with PyTorch 2.15 (`torch.nn.BatchNorm2d`, float64; the
    /// script is in notes/norm-ops.md): `relu(bn(x) + shortcut)` in training, then `bn(x)` in
    /// evaluation, the gradients those of `sum(out * weights)`.
    #[test]
    fn matches_pytorch_in_training_and_evaluation() {
        let n = 24;
        let x: Vec<f64> = (0..n)
            .map(|i| ((i * 37) % 17) as f64 / 4.0 - 2.0 + 0.3 * (i % 3) as f64)
            .collect();
        let shortcut: Vec<f64> = (0..n).map(|i| ((i * 11) % 13) as f64 / 6.0 - 1.0).collect();
        let weights: Vec<f64> = (0..n).map(|i| ((i * 7) % 5) as f64 / 2.0 - 1.0).collect();
        let mut norm = batch_norm::<2>(&[1.5, -0.5], &[0.25, -0.125]);
        norm.running_mean.copy_from(&[0.5, -1.0]);
        norm.running_var.copy_from(&[2.0, 0.5]);
        let mut case = Case {
            dims: (2, 2, 3),
            x: &x,
            shortcut: Some(&shortcut),
            relu: true,
            weights: &weights,
            train: true,
        };
        let trained = case.run(&mut norm);
        let tolerance = 1e-12;
        assert_close(
            &trained.out,
            &[
                0.0,
                0.0,
                0.7833087404371919,
                0.6212775007808453,
                1.4870588231864188,
                2.3528401455919923,
                0.0,
                1.2636019717672382,
                0.5305637531876028,
                0.14012972196194043,
                0.0,
                0.0,
                0.0,
                0.0,
                1.6876490526938142,
                1.5256178130374676,
                2.3913991354430415,
                0.0,
                0.0,
                0.0,
                0.6735614268798398,
                0.28312739565417755,
                0.0,
                0.434904065444225,
            ],
            tolerance,
            "training output",
        );
        assert_close(
            &trained.x,
            &[
                -0.19682937953709567,
                -0.07290151192997862,
                1.1930403135237166,
                -0.5022766421594196,
                0.7636651832942756,
                -0.8254278858684744,
                0.012300564399858736,
                -0.38265001259104103,
                0.17407770862354088,
                -0.2086335046170385,
                -0.032577102684649265,
                -0.04685636039335636,
                -0.1378161092479923,
                -0.013888241640875262,
                0.6810466048895307,
                -1.014270350793605,
                0.2516714746600899,
                -0.12601345519017162,
                0.005500917871902979,
                -0.008778339836804112,
                0.3576137217366815,
                -0.02509749150389793,
                -0.039376749212605026,
                0.19447664820740815,
            ],
            tolerance,
            "training input gradient",
        );
        assert_close(
            &trained.scale,
            &[-1.6289560204283828, -0.5630763264382432],
            tolerance,
            "scale gradient",
        );
        assert_close(&trained.bias, &[-0.5, -0.5], tolerance, "bias gradient");
        assert_close(
            &trained.shortcut.unwrap(),
            &[
                0.0, 0.0, 1.0, -0.5, 0.5, -1.0, 0.0, 1.0, -0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.5, -1.0,
                0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, -0.5,
            ],
            tolerance,
            "shortcut gradient",
        );
        assert_close(
            &norm.running_mean.as_vec(),
            &[0.45708333333333334, -0.8679166666666667],
            tolerance,
            "running mean",
        );
        assert_close(
            &norm.running_var.as_vec(),
            &[1.9882026515151516, 0.6382026515151515],
            tolerance,
            "running variance",
        );

        case.shortcut = None;
        case.relu = false;
        case.train = false;
        let running = (norm.running_mean.as_vec(), norm.running_var.as_vec());
        let evaluated = case.run(&mut norm);
        assert_eq!(
            (norm.running_mean.as_vec(), norm.running_var.as_vec()),
            running,
            "evaluation must leave the running statistics alone"
        );
        assert_close(
            &evaluated.out,
            &[
                -2.363844386761353,
                -1.246854755654246,
                -0.12986512454713917,
                0.02970482275387612,
                1.1466944538609831,
                2.26368408496809,
                0.42707351900670976,
                -0.23009477003292592,
                -0.8872630590725615,
                -0.9811442432210808,
                -1.6383125322607166,
                -2.295480821300352,
                -1.8319445624246353,
                -0.7149549313175285,
                0.4020346997895784,
                0.5616046470905937,
                1.6785942781977006,
                -1.7255645975572917,
                0.11413623851164514,
                -0.5430320505279905,
                -1.2002003395676262,
                -1.2940815237161454,
                -1.951249812755781,
                0.05154878241263217,
            ],
            tolerance,
            "evaluation output",
        );
        assert_close(
            &evaluated.x,
            &[
                -1.0637996486734351,
                0.0,
                1.0637996486734351,
                -0.5318998243367176,
                0.5318998243367176,
                -1.0637996486734351,
                0.0,
                -0.6258745609901292,
                0.3129372804950646,
                -0.3129372804950646,
                0.6258745609901292,
                0.0,
                1.0637996486734351,
                -0.5318998243367176,
                0.5318998243367176,
                -1.0637996486734351,
                0.0,
                1.0637996486734351,
                0.3129372804950646,
                -0.3129372804950646,
                0.6258745609901292,
                0.0,
                -0.6258745609901292,
                0.3129372804950646,
            ],
            tolerance,
            "evaluation input gradient",
        );
        assert_close(
            &evaluated.scale,
            &[-2.021219332479527, -0.38673832247848355],
            tolerance,
            "evaluation scale gradient",
        );
    }

    /// Central differences of the loss along one coordinate of a vector.
    fn numeric_gradient(values: &[f64], loss: impl Fn(&[f64]) -> f64) -> Vec<f64> {
        let step = 1e-6;
        (0..values.len())
            .map(|i| {
                let mut moved = values.to_vec();
                moved[i] = values[i] + step;
                let up = loss(&moved);
                moved[i] = values[i] - step;
                (up - loss(&moved)) / (2.0 * step)
            })
            .collect()
    }

    #[test]
    fn gradients_match_finite_differences() {
        const C: usize = 3;
        let dims = (2, 3, 4);
        let n = dims.0 * C * dims.1 * dims.2;
        let mut rng = StdRng::seed_from_u64(7);
        let mut random =
            |len: usize| -> Vec<f64> { (0..len).map(|_| rng.gen_range(-2.0..2.0)).collect() };
        let (x, shortcut, weights) = (random(n), random(n), random(n));
        let (scale, bias) = (random(C), random(C));
        let mut norm = batch_norm::<C>(&scale, &bias);
        norm.running_mean.copy_from(&random(C));
        norm.running_var.copy_from(&[0.5, 1.0, 2.0]);
        for train in [true, false] {
            for (shortcut, relu) in [(None, false), (None, true), (Some(&shortcut[..]), true)] {
                let case = Case {
                    dims,
                    x: &x,
                    shortcut,
                    relu,
                    weights: &weights,
                    train,
                };
                let what = format!(
                    "train {train}, relu {relu}, shortcut {}",
                    shortcut.is_some()
                );
                let analytic = case.run(&mut norm.clone());
                let numeric_x = numeric_gradient(&x, |x| Case { x, ..case }.loss(&norm));
                assert_close(&analytic.x, &numeric_x, 1e-6, &format!("x, {what}"));
                let with = |scale: &[f64], bias: &[f64]| {
                    let mut norm = norm.clone();
                    norm.scale.copy_from(scale);
                    norm.bias.copy_from(bias);
                    case.loss(&norm)
                };
                let numeric_scale = numeric_gradient(&scale, |s| with(s, &bias));
                assert_close(
                    &analytic.scale,
                    &numeric_scale,
                    1e-6,
                    &format!("scale, {what}"),
                );
                let numeric_bias = numeric_gradient(&bias, |b| with(&scale, b));
                assert_close(
                    &analytic.bias,
                    &numeric_bias,
                    1e-6,
                    &format!("bias, {what}"),
                );
                if let Some(shortcut) = shortcut {
                    let numeric = numeric_gradient(shortcut, |s| {
                        Case {
                            shortcut: Some(s),
                            ..case
                        }
                        .loss(&norm)
                    });
                    let analytic = analytic.shortcut.unwrap();
                    assert_close(&analytic, &numeric, 1e-6, &format!("shortcut, {what}"));
                }
            }
        }
    }

    /// f32 statistics of data far from zero: the per-plane two-pass sums keep the variance
    /// accurate where sum-of-squares formulas cancel.
    #[test]
    fn f32_statistics_stay_accurate_off_centre() {
        let (channels, plane) = (2, 4099);
        let mut rng = StdRng::seed_from_u64(3);
        let x: Vec<f32> = (0..3 * channels * plane)
            .map(|_| 1000.0 + rng.gen_range(-0.05..0.05))
            .collect();
        let (mean, var) = channel_statistics(&x, channels, plane);
        let shape = NchwShape {
            batch: 3,
            channels,
            height: 1,
            width: plane,
        };
        let exact: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let (expected_mean, expected_var) = channel_mean_var(shape, &exact);
        assert_close(&mean, &expected_mean, 1e-12, "mean");
        for (v, e) in var.iter().zip(&expected_var) {
            assert!((v - e).abs() <= 1e-3 * e, "variance {v}, expected {e}");
        }
    }

    /// A shortcut of another shape and a batch with one value per channel are errors on
    /// both the fused kernels and the composed op, never panics.
    #[test]
    fn bad_shortcuts_and_single_value_batches_are_errors() {
        let dev = Cpu::default();
        let image =
            |b: usize, h: usize, w: usize| dev.try_zeros_like(&(b, Const::<2>, h, w)).unwrap();
        let mut norm = batch_norm::<2>(&[1.0, 1.0], &[0.0, 0.0]);
        let fused = Cpu::try_batch_norm2d::<2, NoneTape, NoneTape>;
        let outcomes = [
            fused(
                image(2, 4, 4),
                BatchNormMode::Train(&mut norm),
                Epilogue::AddRelu(image(2, 4, 2)),
            ),
            composed_batch_norm2d::<2, f64, Cpu, NoneTape, NoneTape>(
                image(2, 4, 4),
                BatchNormMode::Eval(&norm.clone()),
                Epilogue::AddRelu(image(1, 4, 4)),
            ),
        ];
        for outcome in outcomes {
            assert!(matches!(outcome, Err(OpError::ShortcutShape { .. })));
        }
        let single = [
            fused(
                image(1, 1, 1),
                BatchNormMode::Train(&mut norm),
                Epilogue::Identity,
            ),
            composed_batch_norm2d::<2, f64, Cpu, NoneTape, NoneTape>(
                image(1, 1, 1),
                BatchNormMode::Train(&mut norm),
                Epilogue::Identity,
            ),
        ];
        for outcome in single {
            assert!(matches!(outcome, Err(OpError::SingleValueBatch(1))));
        }
        assert!(fused(
            image(1, 1, 1),
            BatchNormMode::Eval(&norm),
            Epilogue::Identity
        )
        .is_ok());
    }
}
