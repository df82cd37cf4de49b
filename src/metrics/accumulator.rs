//! The metrics accumulator a training or evaluation loop feeds one image at a time.
//!
//! Each [`MetricsAccumulator::update`] binarises the prediction, labels prediction and
//! ground truth into 8-connected regions, matches them (Pd / Fa) and adds the pixel counts
//! (IoU, nIoU, pixel accuracy); [`MetricsAccumulator::summary`] turns the totals into the
//! numbers papers report. With ROC bins configured, the same is done at every threshold of
//! the sweep.

use super::counts::Counts;
use super::detection::{match_targets, Compatibility};
use super::regions::{Connectivity, Region, RegionLabeller};
use super::roc::{RocCurve, RocSweep};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What the prediction values are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScoreKind {
    /// Probabilities in [0, 1].
    #[default]
    Probability,
    /// Logits; a pixel's probability is their sigmoid.
    Logit,
}

/// How predictions are turned into masks and which evaluation code to agree with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricsConfig {
    /// A pixel is a target where its probability is greater than this (0.5 = logit > 0, as
    /// the reference evaluation binarises).
    pub threshold: f32,
    /// Whether updates pass probabilities or logits.
    pub scores: ScoreKind,
    /// Corrected metrics, or the reference code's quirks.
    pub compatibility: Compatibility,
    /// The ROC sweep, or `None` for no ROC.
    pub roc: Option<RocSweep>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            scores: ScoreKind::Probability,
            compatibility: Compatibility::Corrected,
            roc: None,
        }
    }
}

/// Invalid configuration or input.
#[derive(Debug, Error, PartialEq)]
pub enum MetricsError {
    /// The threshold is not a probability.
    #[error("threshold {0} is not a probability in [0, 1]")]
    InvalidThreshold(f32),
    /// A ROC sweep needs at least one bin.
    #[error("the ROC sweep needs at least one bin")]
    NoRocBins,
    /// A slice does not hold one value per pixel.
    #[error("{what} has {length} values but the image is {width} x {height}")]
    LengthMismatch {
        /// Which input ("scores" or "target mask").
        what: &'static str,
        /// Its length.
        length: usize,
        /// Image width.
        width: usize,
        /// Image height.
        height: usize,
    },
    /// A batch does not hold a whole number of images, or its two slices differ in length.
    #[error("a batch of {scores} scores and {targets} target pixels is not a whole number of {width} x {height} images")]
    BatchLengthMismatch {
        /// Length of the scores.
        scores: usize,
        /// Length of the target mask.
        targets: usize,
        /// Image width.
        width: usize,
        /// Image height.
        height: usize,
    },
    /// A prediction value is NaN.
    #[error("the prediction is NaN at row {row}, column {column}")]
    NanScore {
        /// Row of the first NaN.
        row: usize,
        /// Column of the first NaN.
        column: usize,
    },
}

/// The metrics over all images seen so far.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Images evaluated.
    pub images: u64,
    /// Total intersection / total union over the set (what papers call mIoU).
    pub iou: f64,
    /// Mean over images of the per-image IoU.
    pub niou: f64,
    /// Probability of detection: matched / targets.
    pub pd: f64,
    /// False-alarm rate: false-alarm pixels / pixels evaluated.
    pub fa: f64,
    /// Ground-truth regions.
    pub targets: u64,
    /// Ground-truth regions detected.
    pub matched: u64,
    /// Pixels of predicted regions that detect no target.
    pub false_alarm_pixels: u64,
    /// Pixels evaluated.
    pub pixels: u64,
    /// Total intersection (pixels).
    pub intersection: u64,
    /// Total union (pixels).
    pub union: u64,
    /// Fraction of pixels classified correctly.
    pub pixel_accuracy: f64,
    /// Target pixels found / target pixels (the reference code's "pixAcc").
    pub pixel_recall: f64,
}

/// A split scored: the metrics as defined, the same predictions in the reference code's
/// convention (`--compat legacy`), and the ROC sweep; metrics.json holds the three at its top
/// level beside what was evaluated.
#[derive(Clone, Debug, Serialize)]
pub struct Scores {
    pub metrics: Summary,
    pub legacy_metrics: Summary,
    pub roc: RocCurve,
}

/// A decision rule: is this score a target at a given probability threshold?
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// `probability > threshold`, compared in `f32` like the reference.
    Probability(f32),
    /// `logit > ln(t / (1 - t))`, i.e. `sigmoid(logit) > t`; exactly `logit > 0` at 0.5.
    Logit(f64),
}

impl Cut {
    fn new(kind: ScoreKind, threshold: f32) -> Self {
        match kind {
            ScoreKind::Probability => Cut::Probability(threshold),
            ScoreKind::Logit => {
                let t = f64::from(threshold);
                Cut::Logit((t / (1.0 - t)).ln())
            }
        }
    }
}

/// Scratch buffers reused between images.
#[derive(Debug, Default)]
struct Scratch {
    labeller: RegionLabeller,
    target_regions: Vec<Region>,
    predicted_regions: Vec<Region>,
    prediction: Vec<bool>,
    matched: Vec<bool>,
}

impl Scratch {
    /// Counts of one image at one cut; `self.target_regions` must hold the image's targets.
    fn evaluate(
        &mut self,
        scores: &[f32],
        target: &[bool],
        height: usize,
        width: usize,
        cut: Cut,
        compatibility: Compatibility,
    ) -> Counts {
        self.prediction.clear();
        match cut {
            Cut::Probability(threshold) => self
                .prediction
                .extend(scores.iter().map(|&score| score > threshold)),
            Cut::Logit(threshold) => self
                .prediction
                .extend(scores.iter().map(|&score| f64::from(score) > threshold)),
        }
        let (mut intersection, mut predicted, mut actual) = (0u64, 0u64, 0u64);
        for (&is_predicted, &is_target) in self.prediction.iter().zip(target) {
            intersection += u64::from(is_predicted & is_target);
            predicted += u64::from(is_predicted);
            actual += u64::from(is_target);
        }
        let mut counts = Counts {
            pixels: scores.len() as u64,
            true_positives: intersection,
            false_positives: predicted - intersection,
            false_negatives: actual - intersection,
            ..Counts::default()
        };
        self.labeller.label_into(
            &self.prediction,
            height,
            width,
            Connectivity::Eight,
            &mut self.predicted_regions,
        );
        counts.detection = match_targets(
            &self.target_regions,
            &self.predicted_regions,
            compatibility,
            &mut self.matched,
        );
        counts
    }
}

/// One image's result, as [`MetricsAccumulator::update`] scores it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImageScore {
    /// The image's own IoU (what nIoU averages).
    pub iou: f64,
    /// Its pixel counts and target matches.
    pub counts: Counts,
}

/// Accumulates IoU, nIoU, Pd, Fa, pixel accuracy and (optionally) the ROC over images.
#[derive(Debug)]
pub struct MetricsAccumulator {
    config: MetricsConfig,
    cut: Cut,
    /// (threshold, cut) of each ROC bin.
    roc_cuts: Vec<(f32, Cut)>,
    totals: Counts,
    roc_totals: Vec<Counts>,
    images: u64,
    image_iou_sum: f64,
    scratch: Scratch,
}

impl MetricsAccumulator {
    /// An empty accumulator.
    pub fn new(config: MetricsConfig) -> Result<Self, MetricsError> {
        if !(0.0..=1.0).contains(&config.threshold) {
            return Err(MetricsError::InvalidThreshold(config.threshold));
        }
        let roc_cuts: Vec<(f32, Cut)> = match config.roc {
            Some(RocSweep::Bins(0)) => return Err(MetricsError::NoRocBins),
            Some(sweep) => sweep
                .thresholds()
                .into_iter()
                .map(|threshold| (threshold, Cut::new(config.scores, threshold)))
                .collect(),
            None => Vec::new(),
        };
        Ok(Self {
            cut: Cut::new(config.scores, config.threshold),
            roc_totals: vec![Counts::default(); roc_cuts.len()],
            roc_cuts,
            config,
            totals: Counts::default(),
            images: 0,
            image_iou_sum: 0.0,
            scratch: Scratch::default(),
        })
    }

    /// Adds one image: `scores` (probabilities or logits, per the config) and the ground
    /// truth `target` (`true` = target pixel), both row-major with `width * height` values.
    /// Returns the image's own IoU (what nIoU averages) and counts.
    pub fn update(
        &mut self,
        scores: &[f32],
        target: &[bool],
        height: usize,
        width: usize,
    ) -> Result<ImageScore, MetricsError> {
        for (what, length) in [("scores", scores.len()), ("target mask", target.len())] {
            if length != width * height {
                return Err(MetricsError::LengthMismatch {
                    what,
                    length,
                    width,
                    height,
                });
            }
        }
        // A branch-free scan first (it vectorises), the position only on failure.
        if scores.iter().fold(false, |any, score| any | score.is_nan()) {
            let index = scores.iter().position(|score| score.is_nan()).unwrap_or(0);
            return Err(MetricsError::NanScore {
                row: index / width,
                column: index % width,
            });
        }
        let compatibility = self.config.compatibility;
        let scratch = &mut self.scratch;
        scratch.labeller.label_into(
            target,
            height,
            width,
            Connectivity::Eight,
            &mut scratch.target_regions,
        );
        let counts = scratch.evaluate(scores, target, height, width, self.cut, compatibility);
        let image_iou = counts.iou(compatibility);
        self.totals += counts;
        self.image_iou_sum += image_iou;
        self.images += 1;
        for (&(_, cut), totals) in self.roc_cuts.iter().zip(&mut self.roc_totals) {
            *totals += scratch.evaluate(scores, target, height, width, cut, compatibility);
        }
        Ok(ImageScore {
            iou: image_iou,
            counts,
        })
    }

    /// Adds a batch of equally sized images stored back to back, as in a flattened
    /// `(batch, 1, height, width)` tensor.
    pub fn update_batch(
        &mut self,
        scores: &[f32],
        target: &[bool],
        height: usize,
        width: usize,
    ) -> Result<(), MetricsError> {
        let pixels = width * height;
        if pixels == 0 || !scores.len().is_multiple_of(pixels) || target.len() != scores.len() {
            return Err(MetricsError::BatchLengthMismatch {
                scores: scores.len(),
                targets: target.len(),
                width,
                height,
            });
        }
        for (scores, target) in scores.chunks_exact(pixels).zip(target.chunks_exact(pixels)) {
            self.update(scores, target, height, width)?;
        }
        Ok(())
    }

    /// The metrics over all images so far.
    pub fn summary(&self) -> Summary {
        let totals = &self.totals;
        let compatibility = self.config.compatibility;
        let niou = if self.images == 0 {
            Counts::default().iou(compatibility)
        } else {
            self.image_iou_sum / self.images as f64
        };
        Summary {
            images: self.images,
            iou: totals.iou(compatibility),
            niou,
            pd: totals.pd(),
            fa: totals.fa(),
            targets: totals.detection.targets,
            matched: totals.detection.matched,
            false_alarm_pixels: totals.detection.false_alarm_pixels,
            pixels: totals.pixels,
            intersection: totals.intersection(),
            union: totals.union(),
            pixel_accuracy: totals.pixel_accuracy(),
            pixel_recall: totals.true_positive_rate(),
        }
    }

    /// The ROC sweep over all images so far, if a sweep was configured.
    pub fn roc(&self) -> Option<RocCurve> {
        self.config.roc.map(|_| {
            RocCurve::from_counts(
                self.roc_cuts.iter().map(|&(threshold, _)| threshold),
                &self.roc_totals,
            )
        })
    }

    /// Forgets all images, keeping the configuration.
    pub fn reset(&mut self) {
        self.totals = Counts::default();
        self.roc_totals.fill(Counts::default());
        self.images = 0;
        self.image_iou_sum = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 6 x 4 image: one 2 x 2 target; the prediction covers 3 of its pixels, plus a
    /// 1-pixel false alarm far away.
    fn example() -> (Vec<f32>, Vec<bool>) {
        let mut target = vec![false; 24];
        for index in [7, 8, 13, 14] {
            target[index] = true;
        }
        // Scores avoid the ROC thresholds k / 10, so that logits and probabilities agree.
        let mut scores = vec![0.05f32; 24];
        for index in [7, 8, 13] {
            scores[index] = 0.95;
        }
        scores[23] = 0.65;
        (scores, target)
    }

    #[test]
    fn one_image_by_hand() {
        let (scores, target) = example();
        let mut metrics = MetricsAccumulator::new(MetricsConfig::default()).unwrap();
        let image = metrics.update(&scores, &target, 4, 6).unwrap();
        assert_eq!(image.iou, 0.6);
        assert_eq!(image.counts.detection.false_alarm_pixels, 1);
        assert_eq!(image.counts.true_positives, 3);
        let summary = metrics.summary();
        assert_eq!(summary.targets, 1);
        assert_eq!(summary.matched, 1);
        assert_eq!(summary.false_alarm_pixels, 1);
        assert_eq!(summary.intersection, 3);
        assert_eq!(summary.union, 5);
        assert_eq!(summary.iou, 0.6);
        assert_eq!(summary.niou, 0.6);
        assert_eq!(summary.fa, 1.0 / 24.0);
        assert_eq!(summary.pixel_accuracy, 22.0 / 24.0);
        assert_eq!(summary.pixel_recall, 0.75);
    }

    #[test]
    fn logits_binarise_like_their_sigmoid() {
        let (scores, target) = example();
        let logits: Vec<f32> = scores.iter().map(|p| (p / (1.0 - p)).ln()).collect();
        let config = MetricsConfig {
            scores: ScoreKind::Logit,
            roc: Some(RocSweep::Bins(10)),
            ..MetricsConfig::default()
        };
        let mut from_logits = MetricsAccumulator::new(config).unwrap();
        from_logits.update(&logits, &target, 4, 6).unwrap();
        let mut from_probabilities = MetricsAccumulator::new(MetricsConfig {
            scores: ScoreKind::Probability,
            ..config
        })
        .unwrap();
        from_probabilities.update(&scores, &target, 4, 6).unwrap();
        assert_eq!(from_logits.summary(), from_probabilities.summary());
        assert_eq!(from_logits.roc(), from_probabilities.roc());
    }

    #[test]
    fn niou_averages_images_and_iou_pools_them() {
        let mut metrics = MetricsAccumulator::new(MetricsConfig::default()).unwrap();
        // Image 1: IoU 1/2 (1 of 2 target pixels); image 2: IoU 1 (4 of 4).
        metrics.update(&[1.0, 0.0], &[true, true], 1, 2).unwrap();
        metrics.update(&[1.0; 4], &[true; 4], 2, 2).unwrap();
        let summary = metrics.summary();
        assert_eq!(summary.niou, 0.75);
        assert_eq!(summary.iou, 5.0 / 6.0);
    }

    #[test]
    fn a_batch_equals_its_images_one_by_one() {
        let (scores, target) = example();
        let flipped: Vec<f32> = scores.iter().rev().copied().collect();
        let flipped_target: Vec<bool> = target.iter().rev().copied().collect();
        let mut one_by_one = MetricsAccumulator::new(MetricsConfig::default()).unwrap();
        one_by_one.update(&scores, &target, 4, 6).unwrap();
        one_by_one.update(&flipped, &flipped_target, 4, 6).unwrap();
        let mut batched = MetricsAccumulator::new(MetricsConfig::default()).unwrap();
        batched
            .update_batch(
                &[scores, flipped].concat(),
                &[target, flipped_target].concat(),
                4,
                6,
            )
            .unwrap();
        assert_eq!(batched.summary(), one_by_one.summary());
        assert_eq!(batched.summary().images, 2);
        assert!(matches!(
            batched.update_batch(&[0.0; 30], &[false; 30], 4, 6),
            Err(MetricsError::BatchLengthMismatch { .. })
        ));
    }

    #[test]
    fn empty_image_convention() {
        for (compatibility, expected) in [
            (Compatibility::Corrected, 1.0),
            (Compatibility::Legacy, 0.0),
        ] {
            let mut metrics = MetricsAccumulator::new(MetricsConfig {
                compatibility,
                ..MetricsConfig::default()
            })
            .unwrap();
            metrics.update(&[0.0; 4], &[false; 4], 2, 2).unwrap();
            let summary = metrics.summary();
            assert_eq!(summary.niou, expected);
            assert_eq!(summary.iou, expected);
        }
    }

    #[test]
    fn roc_sweeps_thresholds_in_increasing_order() {
        let (scores, target) = example();
        let mut metrics = MetricsAccumulator::new(MetricsConfig {
            roc: Some(RocSweep::Bins(2)),
            ..MetricsConfig::default()
        })
        .unwrap();
        metrics.update(&scores, &target, 4, 6).unwrap();
        let roc = metrics.roc().unwrap();
        let thresholds: Vec<f32> = roc.points.iter().map(|p| p.threshold).collect();
        assert_eq!(thresholds, vec![0.0, 0.5, 1.0]);
        // At 0 every pixel is a target, at 1 none is.
        assert_eq!((roc.points[0].tpr, roc.points[0].fpr), (1.0, 1.0));
        assert_eq!(
            (roc.points[2].tpr, roc.points[2].fpr, roc.points[2].pd),
            (0.0, 0.0, 0.0)
        );
        assert_eq!(roc.points[1].pd, metrics.summary().pd);
    }

    #[test]
    fn reset_forgets_images() {
        let (scores, target) = example();
        let mut metrics = MetricsAccumulator::new(MetricsConfig::default()).unwrap();
        metrics.update(&scores, &target, 4, 6).unwrap();
        metrics.reset();
        let fresh = MetricsAccumulator::new(MetricsConfig::default()).unwrap();
        assert_eq!(metrics.summary(), fresh.summary());
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            MetricsAccumulator::new(MetricsConfig {
                threshold: 1.5,
                ..MetricsConfig::default()
            })
            .unwrap_err(),
            MetricsError::InvalidThreshold(1.5)
        );
        assert_eq!(
            MetricsAccumulator::new(MetricsConfig {
                roc: Some(RocSweep::Bins(0)),
                ..MetricsConfig::default()
            })
            .unwrap_err(),
            MetricsError::NoRocBins
        );
        let mut metrics = MetricsAccumulator::new(MetricsConfig::default()).unwrap();
        assert!(matches!(
            metrics.update(&[0.0; 5], &[false; 6], 2, 3),
            Err(MetricsError::LengthMismatch { what: "scores", .. })
        ));
        assert_eq!(
            metrics.update(&[0.0, 0.0, 0.0, f32::NAN], &[false; 4], 2, 2),
            Err(MetricsError::NanScore { row: 1, column: 1 })
        );
    }
}
