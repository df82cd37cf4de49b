//! ROC over a threshold sweep: target-level Pd against Fa, and pixel-level true-positive rate
//! against false-positive rate, at thresholds `i / bins` for `i = 0..=bins` (the reference
//! code sweeps 10 bins), with the area under the pixel ROC.

use super::counts::Counts;
use serde::Serialize;

/// The metrics at one threshold of the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RocCurve {
    /// One point per threshold, in increasing threshold order.
    pub points: Vec<RocPoint>,
    /// Area under the pixel ROC (TPR against FPR), trapezoidal, with the curve closed at
    /// (0, 0) and (1, 1).
    pub auc: f64,
}

/// The thresholds of a sweep with `bins` bins, computed in `f32` as the reference compares
/// `float32` probabilities with them.
pub fn roc_thresholds(bins: usize) -> impl Iterator<Item = f32> {
    (0..=bins).map(move |bin| bin as f32 / bins as f32)
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
        let thresholds: Vec<f32> = roc_thresholds(4).collect();
        assert_eq!(thresholds, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
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
