//! ROC over a threshold sweep: target-level Pd against Fa, and pixel-level true-positive rate
//! against false-positive rate, with the area under the pixel ROC. The sweep is either the
//! reference code's (thresholds `i / bins`, 10 bins) or one even in logit, which is
//! log-spaced in probability near 0 and 1, where Fa between 1e-7 and 1e-3 is decided.

use super::counts::Counts;
use serde::{Deserialize, Serialize};

/// The metrics at one threshold of the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// A pixel is a target where its probability exceeds this.
    pub threshold: f32,
    /// Probability of detection.
    pub pd: f64,
    /// False-alarm rate (pixels).
    pub fa: f64,
    /// Pixel true-positive rate.
    pub tpr: f64,
    /// Pixel false-positive rate.
    pub fpr: f64,
}

/// The swept curve and the area under its pixel ROC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RocCurve {
    /// One point per threshold, in increasing threshold order.
    pub points: Vec<RocPoint>,
    /// Area under the pixel ROC (TPR against FPR), trapezoidal, with the curve closed at
    /// (0, 0) and (1, 1).
    pub auc: f64,
}

/// The thresholds a ROC sweeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RocSweep {
    /// Probabilities `i / bins` for `i = 0..=bins`, computed in `f32` as the reference
    /// compares `float32` probabilities with them (the reference sweeps 10 bins).
    Bins(usize),
    /// Probabilities `sigmoid(z)` for logits `z` from -12 to 12 in steps of 0.2 (121
    /// thresholds, 0.5 among them): a curve from Fa near 1e-2 down to no false alarm.
    Logit,
}

/// The logit range and step of [`RocSweep::Logit`], in tenths.
const LOGIT_LIMIT_TENTHS: i32 = 120;
const LOGIT_STEP_TENTHS: i32 = 2;

impl RocSweep {
    /// The thresholds (probabilities), in increasing order.
    pub fn thresholds(self) -> Vec<f32> {
        match self {
            RocSweep::Bins(bins) => (0..=bins).map(|bin| bin as f32 / bins as f32).collect(),
            RocSweep::Logit => (-LOGIT_LIMIT_TENTHS..=LOGIT_LIMIT_TENTHS)
                .step_by(LOGIT_STEP_TENTHS as usize)
                .map(|tenths| {
                    let logit = f64::from(tenths) / 10.0;
                    (1.0 / (1.0 + (-logit).exp())) as f32
                })
                .collect(),
        }
    }
}

impl RocCurve {
    /// Builds the curve from the counts accumulated at each threshold.
    pub fn from_counts(thresholds: impl IntoIterator<Item = f32>, counts: &[Counts]) -> Self {
        let points: Vec<RocPoint> = thresholds
            .into_iter()
            .zip(counts)
            .map(|(threshold, counts)| RocPoint {
                threshold,
                pd: counts.pd(),
                fa: counts.fa(),
                tpr: counts.true_positive_rate(),
                fpr: counts.false_positive_rate(),
            })
            .collect();
        let auc = area_under_curve(points.iter().map(|point| (point.fpr, point.tpr)));
        Self { points, auc }
    }
}

/// Trapezoidal area under (x, y) points closed by (0, 0) and (1, 1), after sorting by x
/// (then y), so that it does not depend on the order in which the sweep produced them.
fn area_under_curve(points: impl Iterator<Item = (f64, f64)>) -> f64 {
    let mut curve: Vec<(f64, f64)> = [(0.0, 0.0), (1.0, 1.0)].into_iter().chain(points).collect();
    curve.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    curve
        .windows(2)
        .map(|pair| (pair[1].0 - pair[0].0) * (pair[0].1 + pair[1].1) / 2.0)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_span_zero_to_one() {
        assert_eq!(
            RocSweep::Bins(4).thresholds(),
            vec![0.0, 0.25, 0.5, 0.75, 1.0]
        );
    }

    #[test]
    fn the_logit_sweep_is_fine_near_zero_and_one_and_holds_one_half() {
        let thresholds = RocSweep::Logit.thresholds();
        assert_eq!(thresholds.len(), 121);
        assert!(thresholds.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(thresholds.contains(&0.5));
        // Log-spaced near 0: neighbouring thresholds differ by a factor near e^0.2.
        let ratio = thresholds[1] / thresholds[0];
        assert!((ratio - 0.2f32.exp()).abs() < 1e-3, "{ratio}");
        assert!(thresholds[0] < 1e-5 && thresholds[120] > 1.0 - 1e-5);
    }

    #[test]
    fn area_of_perfect_chance_and_single_point_curves() {
        assert_eq!(area_under_curve([(0.0, 1.0)].into_iter()), 1.0);
        assert_eq!(area_under_curve([(0.5, 0.5)].into_iter()), 0.5);
        // One operating point (0.2, 0.6): 0.2 * 0.3 + 0.8 * 0.8.
        let area = area_under_curve([(0.2, 0.6)].into_iter());
        assert!((area - 0.7).abs() < 1e-12);
    }
}
