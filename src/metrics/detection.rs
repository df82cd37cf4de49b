//! Target-level matching: probability of detection (Pd) and false-alarm rate (Fa).
//!
//! For each ground-truth region in label order, the first remaining predicted region whose
//! centroid lies at Euclidean distance < 3 px is a detection and is removed from the pool
//! (the reference evaluation of DNANet, BasicIRSTD and RRCA-Net). Predicted regions left
//! unmatched are false alarms; their pixels, divided by all evaluated pixels, give Fa.

use super::regions::Region;

/// A predicted region whose centroid lies closer than this (in pixels) to a target's centroid
/// detects it.
pub const MATCH_DISTANCE: f64 = 3.0;

/// Which evaluation code the numbers must agree with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compatibility {
    /// The metrics as defined: unmatched regions counted by identity, and the IoU of an
    /// empty prediction against an empty ground truth is 1.
    #[default]
    Corrected,
    /// Reproduces the reference code for comparison with published numbers: a predicted
    /// region is a false alarm only if its AREA differs from the area of every matched
    /// region, and an image (or set) whose union is empty has IoU 0.
    Legacy,
}

/// Detections and false alarms of one image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Detection {
    /// Ground-truth regions.
    pub targets: u64,
    /// Ground-truth regions matched by a predicted region.
    pub matched: u64,
    /// Pixels of predicted regions counted as false alarms.
    pub false_alarm_pixels: u64,
}

/// Matches predicted regions to targets greedily in label order (see the module docs).
///
/// `matched` is scratch space (one flag per predicted region), reused between calls.
pub fn match_targets(
    targets: &[Region],
    predictions: &[Region],
    compatibility: Compatibility,
    matched: &mut Vec<bool>,
) -> Detection {
    matched.clear();
    matched.resize(predictions.len(), false);
    let mut detections = 0;
    for target in targets {
        let hit = predictions
            .iter()
            .zip(matched.iter())
            .position(|(prediction, &taken)| {
                !taken && centroid_distance(target, prediction) < MATCH_DISTANCE
            });
        if let Some(index) = hit {
            matched[index] = true;
            detections += 1;
        }
    }
    let is_false_alarm = |index: usize, region: &Region| match compatibility {
        Compatibility::Corrected => !matched[index],
        Compatibility::Legacy => !predictions
            .iter()
            .zip(matched.iter())
            .any(|(other, &taken)| taken && other.area == region.area),
    };
    let false_alarm_pixels = predictions
        .iter()
        .enumerate()
        .filter(|&(index, region)| is_false_alarm(index, region))
        .map(|(_, region)| region.area)
        .sum();
    Detection {
        targets: targets.len() as u64,
        matched: detections,
        false_alarm_pixels,
    }
}

/// Euclidean distance between centroids, computed as the reference does
/// (`np.linalg.norm(a - b)`).
fn centroid_distance(a: &Region, b: &Region) -> f64 {
    let rows = a.centroid[0] - b.centroid[0];
    let columns = a.centroid[1] - b.centroid[1];
    (rows * rows + columns * columns).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(area: u64, row: f64, column: f64) -> Region {
        Region {
            area,
            centroid: [row, column],
        }
    }

    fn run(targets: &[Region], predictions: &[Region], compatibility: Compatibility) -> Detection {
        match_targets(targets, predictions, compatibility, &mut Vec::new())
    }

    #[test]
    fn distance_must_be_strictly_below_three_pixels() {
        let targets = [region(4, 10.0, 10.0)];
        let at_three = [region(4, 13.0, 10.0)];
        let just_inside = [region(4, 12.0, 12.0)]; // sqrt(8) < 3
        let missed = run(&targets, &at_three, Compatibility::Corrected);
        assert_eq!((missed.matched, missed.false_alarm_pixels), (0, 4));
        let hit = run(&targets, &just_inside, Compatibility::Corrected);
        assert_eq!((hit.matched, hit.false_alarm_pixels), (1, 0));
    }

    #[test]
    fn target_takes_the_first_prediction_in_label_order_not_the_nearest() {
        let targets = [region(1, 5.0, 5.0)];
        let predictions = [region(2, 5.0, 7.0), region(3, 5.0, 5.0)];
        let detection = run(&targets, &predictions, Compatibility::Corrected);
        assert_eq!(detection.matched, 1);
        assert_eq!(detection.false_alarm_pixels, 3);
    }

    #[test]
    fn greedy_order_can_leave_a_target_unmatched() {
        // Target 0 reaches both predictions and greedily takes prediction 0, the only one
        // target 1 could have used; prediction 1 (area 5) stays a false alarm although an
        // optimal assignment would match both.
        let targets = [region(1, 10.0, 10.0), region(1, 10.0, 7.5)];
        let predictions = [region(3, 10.0, 8.0), region(5, 10.0, 12.0)];
        let detection = run(&targets, &predictions, Compatibility::Corrected);
        assert_eq!(detection.targets, 2);
        assert_eq!(detection.matched, 1);
        assert_eq!(detection.false_alarm_pixels, 5);
    }

    #[test]
    fn legacy_drops_unmatched_regions_with_a_matched_area() {
        // Prediction 1 is far from the target but has the same area (4) as the matched
        // prediction 0: the reference code does not count it; prediction 2 (area 6) counts.
        let targets = [region(4, 10.0, 10.0)];
        let predictions = [
            region(4, 10.0, 10.5),
            region(4, 40.0, 40.0),
            region(6, 60.0, 60.0),
        ];
        let corrected = run(&targets, &predictions, Compatibility::Corrected);
        assert_eq!((corrected.matched, corrected.false_alarm_pixels), (1, 10));
        let legacy = run(&targets, &predictions, Compatibility::Legacy);
        assert_eq!((legacy.matched, legacy.false_alarm_pixels), (1, 6));
    }

    #[test]
    fn legacy_equals_corrected_without_area_collisions() {
        let targets = [region(4, 10.0, 10.0)];
        let predictions = [region(4, 10.0, 10.5), region(7, 40.0, 40.0)];
        assert_eq!(
            run(&targets, &predictions, Compatibility::Legacy),
            run(&targets, &predictions, Compatibility::Corrected)
        );
    }

    #[test]
    fn no_targets_makes_every_prediction_a_false_alarm() {
        let detection = run(
            &[],
            &[region(2, 1.0, 1.0), region(3, 9.0, 9.0)],
            Compatibility::Legacy,
        );
        assert_eq!(
            detection,
            Detection {
                targets: 0,
                matched: 0,
                false_alarm_pixels: 5
            }
        );
    }
}
