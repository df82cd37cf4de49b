//! Pixel and target counts, summed over images, and the rates derived from them.
//!
//! A rate whose denominator is zero takes its vacuous value: Pd and pixel recall are 1 when
//! there is no target to miss, Fa and the false-positive rate are 0 when there is nothing to
//! raise a false alarm on, pixel accuracy is 1 on zero pixels. IoU of an empty prediction
//! against an empty ground truth is 1 (the two agree exactly), or 0 in
//! [`Compatibility::Legacy`] mode, which follows the reference code's `0 / (eps + 0)`.

use super::detection::{Compatibility, Detection};
use std::ops::AddAssign;

/// Pixel confusion counts and target matches of one image or a set of images, at one
/// threshold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Pixels evaluated.
    pub pixels: u64,
    /// Target pixels predicted as target (the intersection).
    pub true_positives: u64,
    /// Background pixels predicted as target.
    pub false_positives: u64,
    /// Target pixels predicted as background.
    pub false_negatives: u64,
    /// Target regions, matches and false-alarm pixels.
    pub detection: Detection,
}

impl AddAssign for Counts {
    fn add_assign(&mut self, other: Self) {
        self.pixels += other.pixels;
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
        self.detection.targets += other.detection.targets;
        self.detection.matched += other.detection.matched;
        self.detection.false_alarm_pixels += other.detection.false_alarm_pixels;
    }
}

/// `numerator / denominator`, or `vacuous` when the denominator is zero.
fn rate(numerator: u64, denominator: u64, vacuous: f64) -> f64 {
    if denominator == 0 {
        vacuous
    } else {
        numerator as f64 / denominator as f64
    }
}

impl Counts {
    /// Intersection of prediction and ground truth (pixels).
    pub fn intersection(&self) -> u64 {
        self.true_positives
    }

    /// Union of prediction and ground truth (pixels).
    pub fn union(&self) -> u64 {
        self.true_positives + self.false_positives + self.false_negatives
    }

    /// Background pixels predicted as background.
    pub fn true_negatives(&self) -> u64 {
        self.pixels - self.union()
    }

    /// Intersection over union; see the module docs for the empty union.
    pub fn iou(&self, compatibility: Compatibility) -> f64 {
        let empty = match compatibility {
            Compatibility::Corrected => 1.0,
            Compatibility::Legacy => 0.0,
        };
        rate(self.intersection(), self.union(), empty)
    }

    /// Probability of detection: matched targets / targets.
    pub fn pd(&self) -> f64 {
        rate(self.detection.matched, self.detection.targets, 1.0)
    }

    /// False-alarm rate: false-alarm pixels / pixels evaluated.
    pub fn fa(&self) -> f64 {
        rate(self.detection.false_alarm_pixels, self.pixels, 0.0)
    }

    /// Pixel true-positive rate (recall): what the reference code prints as "pixAcc".
    pub fn true_positive_rate(&self) -> f64 {
        rate(
            self.true_positives,
            self.true_positives + self.false_negatives,
            1.0,
        )
    }

    /// Pixel false-positive rate: false positives / background pixels.
    pub fn false_positive_rate(&self) -> f64 {
        rate(
            self.false_positives,
            self.false_positives + self.true_negatives(),
            0.0,
        )
    }

    /// Fraction of pixels classified correctly.
    pub fn pixel_accuracy(&self) -> f64 {
        rate(
            self.true_positives + self.true_negatives(),
            self.pixels,
            1.0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_from_counts() {
        let counts = Counts {
            pixels: 100,
            true_positives: 6,
            false_positives: 2,
            false_negatives: 4,
            detection: Detection {
                targets: 4,
                matched: 3,
                false_alarm_pixels: 2,
            },
        };
        assert_eq!(counts.union(), 12);
        assert_eq!(counts.true_negatives(), 88);
        assert_eq!(counts.iou(Compatibility::Corrected), 0.5);
        assert_eq!(counts.pd(), 0.75);
        assert_eq!(counts.fa(), 0.02);
        assert_eq!(counts.true_positive_rate(), 0.6);
        assert_eq!(counts.false_positive_rate(), 2.0 / 90.0);
        assert_eq!(counts.pixel_accuracy(), 0.94);
    }

    #[test]
    fn empty_denominators_take_vacuous_values() {
        let counts = Counts::default();
        assert_eq!(counts.iou(Compatibility::Corrected), 1.0);
        assert_eq!(counts.iou(Compatibility::Legacy), 0.0);
        assert_eq!(counts.pd(), 1.0);
        assert_eq!(counts.fa(), 0.0);
        assert_eq!(counts.true_positive_rate(), 1.0);
        assert_eq!(counts.false_positive_rate(), 0.0);
        assert_eq!(counts.pixel_accuracy(), 1.0);
    }
}
