//! Targets found in a probability map: the 8-connected regions above the threshold, each
//! with its centroid, area, bounding box and peak probability.

use crate::metrics::{Connectivity, RegionLabeller};
use serde::Serialize;

/// One detected target.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DetectedTarget {
    /// (row, column) of the region's centre of mass, in pixels.
    pub centroid: [f64; 2],
    /// Pixels in the region.
    pub area: u64,
    /// (top, left, bottom, right), inclusive pixel coordinates.
    pub bounding_box: [usize; 4],
    /// Highest target probability in the region.
    pub peak_probability: f32,
}

/// The targets of a `width` x `height` probability map at `threshold` (a pixel is a target
/// where its probability exceeds it), in raster order of their first pixel.
pub fn detect_targets(
    probabilities: &[f32],
    height: usize,
    width: usize,
    threshold: f32,
) -> Vec<DetectedTarget> {
    let mask: Vec<bool> = probabilities.iter().map(|&p| p > threshold).collect();
    let mut labeller = RegionLabeller::new();
    let regions = labeller.label(&mask, height, width, Connectivity::Eight);
    let mut targets: Vec<DetectedTarget> = regions
        .iter()
        .map(|region| DetectedTarget {
            centroid: region.centroid,
            area: region.area,
            bounding_box: [usize::MAX, usize::MAX, 0, 0],
            peak_probability: f32::NEG_INFINITY,
        })
        .collect();
    for (region, row, columns) in labeller.region_runs() {
        let target = &mut targets[region];
        let [top, left, bottom, right] = &mut target.bounding_box;
        *top = (*top).min(row);
        *bottom = (*bottom).max(row);
        *left = (*left).min(columns.start);
        *right = (*right).max(columns.end - 1);
        let peak = probabilities[row * width + columns.start..row * width + columns.end]
            .iter()
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        target.peak_probability = target.peak_probability.max(peak);
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_blob_with_box_area_centroid_and_peak() {
        let (width, height) = (8, 6);
        let mut p = vec![0.1f32; width * height];
        for (row, column, value) in [(1, 1, 0.7), (1, 2, 0.9), (2, 2, 0.6), (4, 6, 0.8)] {
            p[row * width + column] = value;
        }
        let targets = detect_targets(&p, height, width, 0.5);
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].area, 3);
        assert_eq!(targets[0].bounding_box, [1, 1, 2, 2]);
        assert_eq!(targets[0].peak_probability, 0.9);
        assert!(
            (targets[0].centroid[0] - 4.0 / 3.0).abs() < 1e-12
                && (targets[0].centroid[1] - 5.0 / 3.0).abs() < 1e-12
        );
        assert_eq!(
            targets[1],
            DetectedTarget {
                centroid: [4.0, 6.0],
                area: 1,
                bounding_box: [4, 6, 4, 6],
                peak_probability: 0.8
            }
        );
    }

    #[test]
    fn nothing_above_the_threshold_is_no_target() {
        assert!(detect_targets(&[0.2; 16], 4, 4, 0.5).is_empty());
    }
}
