//! The pieces the loss family is assembled from, each a composition of dfdx ops so that it
//! is differentiable on every dfdx device: sigmoid probabilities, the soft overlap ratios
//! (SoftDice, SoftIoU), per-pixel binary cross-entropy and Poly-1, and the top-k mean.
//!
//! Sums run over the whole batch, as in the authors' code: a batch is scored as one big
//! image, not as the mean of per-image scores.

use dfdx::prelude::*;

use super::{Logits, Mask, Scalar, SOFT_OVERLAP_SMOOTH};
use crate::ops::Float;

/// The number of pixels the top-k mean keeps: `floor(num_pixels * k_percent / 100)`, the
/// reference's `int(num_pixels * k / 100)`.
pub fn top_k_count(num_pixels: usize, k_percent: f64) -> usize {
    (num_pixels as f64 * k_percent / 100.0).floor() as usize
}

/// Indices of the `k` largest `values`, in increasing index order. Ties are broken by
/// index (the earlier pixel wins), so the selection is deterministic; NaN ranks above
/// every number, so a NaN loss value is never hidden.
pub fn top_k_indices<E: Float>(values: &[E], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    if k < values.len() {
        let value = |i: usize| values[i].to_f64().unwrap_or(f64::NAN);
        order.select_nth_unstable_by(k, |&a, &b| {
            value(b).total_cmp(&value(a)).then_with(|| a.cmp(&b))
        });
        order.truncate(k);
    }
    order.sort_unstable();
    order
}

/// Sum over every element, a rank-0 tensor.
fn total<E: Float, D: Device<E>, T: Tape<E, D>>(
    x: Logits<E, D, T>,
) -> Result<Scalar<E, D, T>, D::Err> {
    x.try_sum::<(), _>()
}

/// `1 - (a * intersection + smooth) / (union_term + smooth)`, the form both soft overlap
/// losses share.
fn one_minus_ratio<E: Float, D: Device<E>, T: Tape<E, D>>(
    numerator: Scalar<E, D, T>,
    denominator: Scalar<E, D, T>,
) -> Result<Scalar<E, D, T>, D::Err> {
    let smooth = E::of(SOFT_OVERLAP_SMOOTH);
    let ratio = numerator
        .try_add(smooth)?
        .try_div(denominator.try_add(smooth)?)?;
    ratio.try_negate()?.try_add(E::one())
}

/// SoftDice on probabilities `p`: `1 - (2 sum(p y) + 1) / (sum(p) + sum(y) + 1)`.
pub(super) fn soft_dice<E: Float, D: Device<E>, T: Tape<E, D>>(
    probability: Logits<E, D, T>,
    target: &Mask<E, D>,
) -> Result<Scalar<E, D, T>, D::Err> {
    let probability_sum = total(probability.with_empty_tape())?;
    let intersection = total(probability.try_mul(target.clone())?)?;
    let target_sum = total(target.clone())?;
    one_minus_ratio(
        intersection.try_mul(E::of(2.0))?,
        probability_sum.try_add(target_sum)?,
    )
}

/// SoftIoU on probabilities `p`, with I = sum(p y):
/// `1 - (I + 1) / (sum(p) + sum(y) - I + 1)`.
pub(super) fn soft_iou<E: Float, D: Device<E>, T: Tape<E, D>>(
    probability: Logits<E, D, T>,
    target: &Mask<E, D>,
) -> Result<Scalar<E, D, T>, D::Err> {
    let probability_sum = total(probability.with_empty_tape())?;
    let intersection = total(probability.try_mul(target.clone())?)?;
    let target_sum = total(target.clone())?;
    let union = probability_sum
        .try_add(target_sum)?
        .try_sub(intersection.with_empty_tape())?;
    one_minus_ratio(intersection, union)
}

/// Per-pixel binary cross-entropy on logits, `softplus(x) - y x`, evaluated as
/// `max(x, 0) - y x + ln(1 + exp(-|x|))` (dfdx's `bce_with_logits`): no term overflows for
/// any finite logit, and its gradient is `sigmoid(x) - y` exactly.
pub(super) fn binary_cross_entropy<E: Float, D: Device<E>, T: Tape<E, D>>(
    logits: Logits<E, D, T>,
    target: &Mask<E, D>,
) -> Result<Logits<E, D, T>, D::Err> {
    logits.try_bce_with_logits(target.clone())
}

/// Per-pixel Poly-1 from per-pixel BCE: `bce + epsilon (1 - exp(-bce))`, where
/// `exp(-bce)` is the probability given to the true class.
pub(super) fn poly1<E: Float, D: Device<E>, T: Tape<E, D>>(
    bce: Logits<E, D, T>,
    epsilon: f64,
) -> Result<Logits<E, D, T>, D::Err> {
    let true_class_probability = bce.with_empty_tape().try_negate()?.try_exp()?;
    let poly_term = true_class_probability
        .try_negate()?
        .try_add(E::one())?
        .try_mul(E::of(epsilon))?;
    bce.try_add(poly_term)
}

/// Mean of the `k` largest per-pixel values over the whole batch. Which pixels are in the
/// top k is decided on the host from the values (it is not differentiated); the mean of the
/// gathered values is, so only the selected pixels receive a gradient.
pub(super) fn top_k_mean<E: Float, D: Device<E>, T: Tape<E, D>>(
    values: Logits<E, D, T>,
    k: usize,
) -> Result<Scalar<E, D, T>, D::Err> {
    let num_pixels = values.shape().num_elements();
    let indices = top_k_indices(&values.as_vec(), k);
    let indices = values.device().try_tensor_from_vec(indices, (k,))?;
    values
        .try_reshape_like(&(num_pixels,))?
        .try_gather(indices)?
        .try_mean::<(), _>()
}

/// Mean over every pixel of the batch.
pub(super) fn mean<E: Float, D: Device<E>, T: Tape<E, D>>(
    values: Logits<E, D, T>,
) -> Result<Scalar<E, D, T>, D::Err> {
    values.try_mean::<(), _>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_count_truncates_like_the_reference() {
        assert_eq!(top_k_count(256, 10.0), 25);
        assert_eq!(top_k_count(2048, 10.0), 204);
        assert_eq!(top_k_count(400, 10.0), 40);
        assert_eq!(top_k_count(9, 10.0), 0);
        assert_eq!(top_k_count(7, 100.0), 7);
    }

    #[test]
    fn top_k_breaks_ties_by_index() {
        let values = [1.0f64, 3.0, 2.0, 3.0, 3.0, 0.5];
        assert_eq!(top_k_indices(&values, 2), vec![1, 3]);
        assert_eq!(top_k_indices(&values, 4), vec![1, 2, 3, 4]);
        assert_eq!(top_k_indices(&values, 6), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(top_k_indices(&values, 0), Vec::<usize>::new());
    }

    #[test]
    fn top_k_ranks_nan_first() {
        let values = [1.0f32, f32::NAN, 2.0];
        assert_eq!(top_k_indices(&values, 1), vec![1]);
    }
}
