//! The DpT-k loss of RRCA-Net and the family it is compared with in the paper's loss table:
//! SoftIoU, SoftDice, Top-k BCE, Poly-1, Poly-1 top-k, Dice + Top-k and DpT-k (SoftDice +
//! Poly-1 top-k).
//!
//! Every loss takes logits of shape (batch, 1, H, W) and a target mask of the same shape
//! (values in [0, 1]) and returns a rank-0 tensor carrying the logits' tape, so
//! `loss.backward()` reaches the network. They are built from dfdx ops only and run on any
//! dfdx [`Device`] in f32 or f64; the one host computation is choosing which pixels are in
//! the top k, which is not differentiated.
//!
//! Definitions follow the authors' released code (`RRCA-Net/model/loss.py`), with
//! p = sigmoid(x) and sums over the whole batch (the batch is one flattened image):
//! - SoftIoU = 1 - (sum(p y) + 1) / (sum(p) + sum(y) - sum(p y) + 1) (smooth 1, as the
//!   authors' `SoftIoULoss` and BasicIRSTD's `SoftIoULoss`, which takes p directly).
//! - SoftDice = 1 - (2 sum(p y) + 1) / (sum(p) + sum(y) + 1).
//! - BCE per pixel = softplus(x) - y x; Top-k = mean of the k % largest BCE values.
//! - Poly-1 per pixel = BCE + epsilon (1 - exp(-BCE)); Poly = its mean over all pixels;
//!   Poly top-k = the mean of its k % largest values.
//! - Dice + Top-k = SoftDice + Top-k; DpT-k = SoftDice + Poly top-k.
//!
//! k % of N pixels keeps exactly floor(N k / 100) pixels (the reference's
//! `int(N * k / 100)`), ties broken by pixel index. Defaults: epsilon 3.1, k 10 %.
//!
//! BCE is evaluated on logits in log-sigmoid form, so these losses stay finite and exact
//! for saturated logits. The reference instead applies `nn.BCELoss` to `sigmoid(x)`: in
//! float32 its sigmoid rounds to exactly 0 or 1 beyond |x| of about 17 and the BCE is
//! clamped at 100, so for such pixels our values deliberately differ from the reference's
//! float32 ones and agree with its float64 ones (see `reference_cases.json`).

mod terms;

pub use terms::{top_k_count, top_k_indices};

use std::fmt;

use dfdx::prelude::*;

use crate::ops::{Float, Image};

/// Network output: one logit map per image, (batch, 1, H, W).
pub type Logits<E, D, T = NoneTape> = Image<1, E, D, T>;
/// Ground-truth target mask, same shape as the logits, values in [0, 1].
pub type Mask<E, D> = Image<1, E, D>;
/// A loss value: a rank-0 tensor carrying the logits' tape.
pub type Scalar<E, D, T = NoneTape> = Tensor<(), E, D, T>;

/// The smoothing term added to numerator and denominator of SoftDice and SoftIoU.
pub const SOFT_OVERLAP_SMOOTH: f64 = 1.0;
/// Default Poly-1 epsilon (the paper's 3.1).
pub const DEFAULT_POLY_EPSILON: f64 = 3.1;
/// Default share of pixels kept by the top-k losses, in percent (the paper's 10 %).
pub const DEFAULT_TOP_K_PERCENT: f64 = 10.0;

/// Why a loss could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum LossError {
    /// The target's shape differs from the logits'.
    #[error("logits have shape {logits:?} but the target has shape {target:?}")]
    ShapeMismatch {
        /// Shape of the logits.
        logits: [usize; 4],
        /// Shape of the target.
        target: [usize; 4],
    },
    /// The batch is too small for the top-k percentage to keep any pixel.
    #[error(
        "top {k_percent} % of {num_pixels} pixels keeps no pixel; use larger images or a larger k"
    )]
    EmptyTopK {
        /// Pixels in the batch.
        num_pixels: usize,
        /// The requested percentage.
        k_percent: f64,
    },
    /// A top-k percentage outside (0, 100].
    #[error("top-k percentage must lie in (0, 100], got {0}")]
    InvalidTopKPercent(f64),
    /// A Poly-1 epsilon below -1 or not finite.
    #[error("Poly-1 epsilon must be finite and at least -1, got {0}")]
    InvalidPolyEpsilon(f64),
    /// The device failed (allocation, kernel launch).
    #[error("device error: {0}")]
    Device(String),
}

impl LossError {
    fn device(error: impl fmt::Debug) -> Self {
        LossError::Device(format!("{error:?}"))
    }
}

/// A loss on logits against a target mask.
pub trait SegmentationLoss {
    /// The loss of `logits` against `target` (same shape), a scalar on the logits' tape.
    fn try_loss<E: Float, D: Device<E>, T: Tape<E, D>>(
        &self,
        logits: Logits<E, D, T>,
        target: &Mask<E, D>,
    ) -> Result<Scalar<E, D, T>, LossError>;
}

/// Checks the target matches the logits in shape.
fn check_shapes<E: Float, D: Device<E>, T>(
    logits: &Logits<E, D, T>,
    target: &Mask<E, D>,
) -> Result<(), LossError> {
    let dims = |s: &(usize, Const<1>, usize, usize)| [s.0, 1, s.2, s.3];
    if logits.shape() != target.shape() {
        return Err(LossError::ShapeMismatch {
            logits: dims(logits.shape()),
            target: dims(target.shape()),
        });
    }
    Ok(())
}

/// How many pixels a top-k loss keeps for these logits, or why the parameters do not work.
fn checked_top_k<E: Float, D: Device<E>, T>(
    logits: &Logits<E, D, T>,
    k_percent: f64,
) -> Result<usize, LossError> {
    if !(k_percent > 0.0 && k_percent <= 100.0) {
        return Err(LossError::InvalidTopKPercent(k_percent));
    }
    let num_pixels = logits.shape().num_elements();
    match top_k_count(num_pixels, k_percent) {
        0 => Err(LossError::EmptyTopK {
            num_pixels,
            k_percent,
        }),
        k => Ok(k),
    }
}

fn checked_epsilon(epsilon: f64) -> Result<f64, LossError> {
    if epsilon.is_finite() && epsilon >= -1.0 {
        Ok(epsilon)
    } else {
        Err(LossError::InvalidPolyEpsilon(epsilon))
    }
}

/// SoftIoU: 1 - (sum(p y) + 1) / (sum(p) + sum(y) - sum(p y) + 1) over the whole batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SoftIouLoss;

impl SegmentationLoss for SoftIouLoss {
    fn try_loss<E: Float, D: Device<E>, T: Tape<E, D>>(
        &self,
        logits: Logits<E, D, T>,
        target: &Mask<E, D>,
    ) -> Result<Scalar<E, D, T>, LossError> {
        check_shapes(&logits, target)?;
        let probability = logits.try_sigmoid().map_err(LossError::device)?;
        terms::soft_iou(probability, target).map_err(LossError::device)
    }
}

/// SoftDice: 1 - (2 sum(p y) + 1) / (sum(p) + sum(y) + 1) over the whole batch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SoftDiceLoss;

impl SegmentationLoss for SoftDiceLoss {
    fn try_loss<E: Float, D: Device<E>, T: Tape<E, D>>(
        &self,
        logits: Logits<E, D, T>,
        target: &Mask<E, D>,
    ) -> Result<Scalar<E, D, T>, LossError> {
        check_shapes(&logits, target)?;
        let probability = logits.try_sigmoid().map_err(LossError::device)?;
        terms::soft_dice(probability, target).map_err(LossError::device)
    }
}

/// Top-k BCE: the mean of the `k_percent` % largest per-pixel BCE values of the batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TopKLoss {
    /// Share of pixels kept, in percent.
    pub k_percent: f64,
}

impl Default for TopKLoss {
    fn default() -> Self {
        TopKLoss {
            k_percent: DEFAULT_TOP_K_PERCENT,
        }
    }
}

impl SegmentationLoss for TopKLoss {
    fn try_loss<E: Float, D: Device<E>, T: Tape<E, D>>(
        &self,
        logits: Logits<E, D, T>,
        target: &Mask<E, D>,
    ) -> Result<Scalar<E, D, T>, LossError> {
        check_shapes(&logits, target)?;
        let k = checked_top_k(&logits, self.k_percent)?;
        let bce = terms::binary_cross_entropy(logits, target).map_err(LossError::device)?;
        terms::top_k_mean(bce, k).map_err(LossError::device)
    }
}

/// Poly-1: the mean over all pixels of BCE + epsilon (1 - exp(-BCE)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Poly1Loss {
    /// Weight of the Poly-1 term (at least -1).
    pub epsilon: f64,
}

impl Default for Poly1Loss {
    fn default() -> Self {
        Poly1Loss {
            epsilon: DEFAULT_POLY_EPSILON,
        }
    }
}

impl SegmentationLoss for Poly1Loss {
    fn try_loss<E: Float, D: Device<E>, T: Tape<E, D>>(
        &self,
        logits: Logits<E, D, T>,
        target: &Mask<E, D>,
    ) -> Result<Scalar<E, D, T>, LossError> {
        check_shapes(&logits, target)?;
        let epsilon = checked_epsilon(self.epsilon)?;
        let bce = terms::binary_cross_entropy(logits, target).map_err(LossError::device)?;
        let poly = terms::poly1(bce, epsilon).map_err(LossError::device)?;
        terms::mean(poly).map_err(LossError::device)
    }
}

/// Poly-1 top-k: the mean of the `k_percent` % largest per-pixel Poly-1 values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolyTopKLoss {
    /// Weight of the Poly-1 term (at least -1).
    pub epsilon: f64,
    /// Share of pixels kept, in percent.
    pub k_percent: f64,
}

impl Default for PolyTopKLoss {
    fn default() -> Self {
        PolyTopKLoss {
            epsilon: DEFAULT_POLY_EPSILON,
            k_percent: DEFAULT_TOP_K_PERCENT,
        }
    }
}

impl SegmentationLoss for PolyTopKLoss {
    fn try_loss<E: Float, D: Device<E>, T: Tape<E, D>>(
        &self,
        logits: Logits<E, D, T>,
        target: &Mask<E, D>,
    ) -> Result<Scalar<E, D, T>, LossError> {
        check_shapes(&logits, target)?;
        let epsilon = checked_epsilon(self.epsilon)?;
        let k = checked_top_k(&logits, self.k_percent)?;
        let bce = terms::binary_cross_entropy(logits, target).map_err(LossError::device)?;
        let poly = terms::poly1(bce, epsilon).map_err(LossError::device)?;
        terms::top_k_mean(poly, k).map_err(LossError::device)
    }
}

/// The sum of two losses of the same logits (the tape is shared between both terms).
fn sum_of<E: Float, D: Device<E>, T: Tape<E, D>>(
    first: &impl SegmentationLoss,
    second: &impl SegmentationLoss,
    logits: Logits<E, D, T>,
    target: &Mask<E, D>,
) -> Result<Scalar<E, D, T>, LossError> {
    let first = first.try_loss(logits.with_empty_tape(), target)?;
    let second = second.try_loss(logits, target)?;
    first.try_add(second).map_err(LossError::device)
}

/// Dice + Top-k: SoftDice + Top-k BCE.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DiceTopKLoss {
    /// The top-k BCE term.
    pub top_k: TopKLoss,
}

impl SegmentationLoss for DiceTopKLoss {
    fn try_loss<E: Float, D: Device<E>, T: Tape<E, D>>(
        &self,
        logits: Logits<E, D, T>,
        target: &Mask<E, D>,
    ) -> Result<Scalar<E, D, T>, LossError> {
        sum_of(&SoftDiceLoss, &self.top_k, logits, target)
    }
}

/// DpT-k, the paper's loss: SoftDice + Poly-1 top-k.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DptkLoss {
    /// The Poly-1 top-k term.
    pub poly_top_k: PolyTopKLoss,
}

impl SegmentationLoss for DptkLoss {
    fn try_loss<E: Float, D: Device<E>, T: Tape<E, D>>(
        &self,
        logits: Logits<E, D, T>,
        target: &Mask<E, D>,
    ) -> Result<Scalar<E, D, T>, LossError> {
        sum_of(&SoftDiceLoss, &self.poly_top_k, logits, target)
    }
}

crate::named_enum! {
    /// The members of the loss family by their command-line names, in the order of the
    /// paper's loss table.
    pub enum LossKind: "loss" {
        /// [`SoftIouLoss`].
        SoftIou => "soft-iou",
        /// [`SoftDiceLoss`].
        Dice => "dice",
        /// [`TopKLoss`].
        TopK => "topk",
        /// [`Poly1Loss`].
        Poly => "poly",
        /// [`PolyTopKLoss`].
        PolyTopK => "poly-topk",
        /// [`DiceTopKLoss`].
        DiceTopK => "dice-topk",
        /// [`DptkLoss`], the paper's loss.
        Dptk => "dptk",
    }
}

/// Any member of the family with its parameters: the one entry point training uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loss {
    /// Which member of the family.
    pub kind: LossKind,
    /// Poly-1 epsilon (used by `poly`, `poly-topk`, `dptk`).
    pub epsilon: f64,
    /// Share of pixels the top-k losses keep, in percent (used by `topk`, `poly-topk`,
    /// `dice-topk`, `dptk`).
    pub k_percent: f64,
}

impl Loss {
    /// `kind` with the paper's parameters (epsilon 3.1, k 10 %).
    pub fn new(kind: LossKind) -> Self {
        Loss {
            kind,
            epsilon: DEFAULT_POLY_EPSILON,
            k_percent: DEFAULT_TOP_K_PERCENT,
        }
    }
}

impl Default for Loss {
    /// DpT-k with the paper's parameters.
    fn default() -> Self {
        Loss::new(LossKind::Dptk)
    }
}

impl SegmentationLoss for Loss {
    fn try_loss<E: Float, D: Device<E>, T: Tape<E, D>>(
        &self,
        logits: Logits<E, D, T>,
        target: &Mask<E, D>,
    ) -> Result<Scalar<E, D, T>, LossError> {
        let top_k = TopKLoss {
            k_percent: self.k_percent,
        };
        let poly_top_k = PolyTopKLoss {
            epsilon: self.epsilon,
            k_percent: self.k_percent,
        };
        match self.kind {
            LossKind::SoftIou => SoftIouLoss.try_loss(logits, target),
            LossKind::Dice => SoftDiceLoss.try_loss(logits, target),
            LossKind::TopK => top_k.try_loss(logits, target),
            LossKind::Poly => Poly1Loss {
                epsilon: self.epsilon,
            }
            .try_loss(logits, target),
            LossKind::PolyTopK => poly_top_k.try_loss(logits, target),
            LossKind::DiceTopK => DiceTopKLoss { top_k }.try_loss(logits, target),
            LossKind::Dptk => DptkLoss { poly_top_k }.try_loss(logits, target),
        }
    }
}

#[cfg(test)]
mod tests;
