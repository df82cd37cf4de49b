//! Properties of the IRSTD metrics: the region labelling against a flood-fill oracle and
//! under symmetries of the image, and Pd / Fa / IoU on predictions built from the ground
//! truth.

use proptest::prelude::*;
use rrcanet::metrics::{
    Compatibility, Connectivity, MetricsAccumulator, MetricsConfig, Region, RegionLabeller,
    MATCH_DISTANCE,
};
use std::collections::VecDeque;

/// A row-major binary mask.
#[derive(Clone, Debug)]
struct Mask {
    width: usize,
    height: usize,
    pixels: Vec<bool>,
}

impl Mask {
    fn transposed(&self) -> Mask {
        let pixels = (0..self.width)
            .flat_map(|column| (0..self.height).map(move |row| (row, column)))
            .map(|(row, column)| self.pixels[row * self.width + column])
            .collect();
        Mask {
            width: self.height,
            height: self.width,
            pixels,
        }
    }

    fn flipped_left_right(&self) -> Mask {
        let pixels = self
            .pixels
            .chunks_exact(self.width)
            .flat_map(|row| row.iter().rev().copied())
            .collect();
        Mask { pixels, ..*self }
    }

    fn flipped_up_down(&self) -> Mask {
        let pixels = self
            .pixels
            .chunks_exact(self.width)
            .rev()
            .flatten()
            .copied()
            .collect();
        Mask { pixels, ..*self }
    }

    fn regions(&self, connectivity: Connectivity) -> Vec<Region> {
        RegionLabeller::new().label(&self.pixels, self.height, self.width, connectivity)
    }

    fn probabilities(&self) -> Vec<f32> {
        self.pixels
            .iter()
            .map(|&p| f32::from(u8::from(p)))
            .collect()
    }
}

/// Masks up to 70 x 24 (wide enough for the labeller's 32-pixel chunks) with a random
/// foreground density.
fn masks() -> impl Strategy<Value = Mask> {
    (1usize..=70, 1usize..=24, 0.0f64..=1.0).prop_flat_map(|(width, height, density)| {
        prop::collection::vec(prop::bool::weighted(density), width * height).prop_map(
            move |pixels| Mask {
                width,
                height,
                pixels,
            },
        )
    })
}

/// Oracle: breadth-first flood fill started from each unvisited foreground pixel in raster
/// order, so regions come out numbered by first pixel like the labeller's.
fn flood_fill_regions(mask: &Mask, connectivity: Connectivity) -> Vec<Region> {
    let (width, height) = (mask.width as i64, mask.height as i64);
    let neighbours: &[(i64, i64)] = match connectivity {
        Connectivity::Four => &[(-1, 0), (1, 0), (0, -1), (0, 1)],
        Connectivity::Eight => &[
            (-1, -1),
            (-1, 0),
            (-1, 1),
            (0, -1),
            (0, 1),
            (1, -1),
            (1, 0),
            (1, 1),
        ],
    };
    let mut seen = vec![false; mask.pixels.len()];
    let mut regions = Vec::new();
    for start in 0..mask.pixels.len() {
        if !mask.pixels[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        let mut queue = VecDeque::from([start]);
        let (mut area, mut rows, mut columns) = (0u64, 0u64, 0u64);
        while let Some(index) = queue.pop_front() {
            let (row, column) = (index as i64 / width, index as i64 % width);
            area += 1;
            rows += row as u64;
            columns += column as u64;
            for (dr, dc) in neighbours {
                let (r, c) = (row + dr, column + dc);
                if r < 0 || c < 0 || r >= height || c >= width {
                    continue;
                }
                let next = (r * width + c) as usize;
                if mask.pixels[next] && !seen[next] {
                    seen[next] = true;
                    queue.push_back(next);
                }
            }
        }
        regions.push(Region {
            area,
            centroid: [rows as f64 / area as f64, columns as f64 / area as f64],
        });
    }
    regions
}

fn sorted_areas(regions: &[Region]) -> Vec<u64> {
    let mut areas: Vec<u64> = regions.iter().map(|region| region.area).collect();
    areas.sort_unstable();
    areas
}

const CONNECTIVITIES: [Connectivity; 2] = [Connectivity::Four, Connectivity::Eight];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn labelling_equals_flood_fill(mask in masks()) {
        for connectivity in CONNECTIVITIES {
            // Same count, same order, same areas and centroids.
            prop_assert_eq!(mask.regions(connectivity), flood_fill_regions(&mask, connectivity));
        }
    }

    #[test]
    fn labelling_is_invariant_under_transpose_and_flips(mask in masks()) {
        for connectivity in CONNECTIVITIES {
            let areas = sorted_areas(&mask.regions(connectivity));
            for moved in [mask.transposed(), mask.flipped_left_right(), mask.flipped_up_down()] {
                prop_assert_eq!(&sorted_areas(&moved.regions(connectivity)), &areas);
            }
        }
    }

    #[test]
    fn areas_sum_to_the_foreground(mask in masks()) {
        let foreground = mask.pixels.iter().filter(|&&p| p).count() as u64;
        for connectivity in CONNECTIVITIES {
            let total: u64 = mask.regions(connectivity).iter().map(|region| region.area).sum();
            prop_assert_eq!(total, foreground);
        }
    }

    #[test]
    fn eight_connected_regions_never_outnumber_four_connected(mask in masks()) {
        prop_assert!(
            mask.regions(Connectivity::Eight).len() <= mask.regions(Connectivity::Four).len()
        );
    }

    #[test]
    fn predicting_the_ground_truth_is_perfect(mask in masks()) {
        let mut metrics = MetricsAccumulator::new(MetricsConfig::default()).unwrap();
        metrics.update(&mask.probabilities(), &mask.pixels, mask.height, mask.width).unwrap();
        let summary = metrics.summary();
        prop_assert_eq!(summary.pd, 1.0);
        prop_assert_eq!(summary.fa, 0.0);
        prop_assert_eq!(summary.iou, 1.0);
        prop_assert_eq!(summary.niou, 1.0);
        prop_assert_eq!(summary.matched, summary.targets);
    }
}

/// A 32 x 32 scene: ground truth made of a few rectangles, a sparse noisy prediction, and a
/// rectangular blob to add to the prediction.
#[derive(Clone, Debug)]
struct Scene {
    ground_truth: Mask,
    prediction: Mask,
    /// (row, column, height, width) of the blob.
    blob: (usize, usize, usize, usize),
}

const SCENE: usize = 32;

fn scenes() -> impl Strategy<Value = Scene> {
    let rectangle = (0..SCENE, 0..SCENE, 1usize..=4, 1usize..=4);
    (
        prop::collection::vec(rectangle.clone(), 0..=4),
        0.0f64..=0.2,
        rectangle,
    )
        .prop_flat_map(|(rectangles, density, blob)| {
            prop::collection::vec(prop::bool::weighted(density), SCENE * SCENE).prop_map(
                move |noise| {
                    let mut ground_truth = vec![false; SCENE * SCENE];
                    for &(row, column, height, width) in &rectangles {
                        paint(&mut ground_truth, row, column, height, width, true);
                    }
                    let mut prediction = noise;
                    // Clear the blob and its 1-pixel ring so that the blob forms a region of
                    // its own.
                    let (row, column, height, width) = blob;
                    paint(
                        &mut prediction,
                        row.saturating_sub(1),
                        column.saturating_sub(1),
                        height + 2,
                        width + 2,
                        false,
                    );
                    let mask = |pixels| Mask {
                        width: SCENE,
                        height: SCENE,
                        pixels,
                    };
                    Scene {
                        ground_truth: mask(ground_truth),
                        prediction: mask(prediction),
                        blob,
                    }
                },
            )
        })
}

fn paint(pixels: &mut [bool], row: usize, column: usize, height: usize, width: usize, value: bool) {
    for r in row..(row + height).min(SCENE) {
        for c in column..(column + width).min(SCENE) {
            pixels[r * SCENE + c] = value;
        }
    }
}

fn evaluate(prediction: &Mask, ground_truth: &Mask) -> (u64, u64) {
    let mut metrics = MetricsAccumulator::new(MetricsConfig {
        compatibility: Compatibility::Corrected,
        ..MetricsConfig::default()
    })
    .unwrap();
    metrics
        .update(
            &prediction.probabilities(),
            &ground_truth.pixels,
            SCENE,
            SCENE,
        )
        .unwrap();
    let summary = metrics.summary();
    (summary.matched, summary.false_alarm_pixels)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_blob_far_from_every_target_adds_exactly_its_area_to_false_alarms(scene in scenes()) {
        let (row, column, height, width) = scene.blob;
        let mut with_blob = scene.prediction.clone();
        paint(&mut with_blob.pixels, row, column, height, width, true);
        let height = height.min(SCENE - row);
        let width = width.min(SCENE - column);
        let area = (height * width) as u64;
        let centroid = [
            row as f64 + (height - 1) as f64 / 2.0,
            column as f64 + (width - 1) as f64 / 2.0,
        ];
        let far = flood_fill_regions(&scene.ground_truth, Connectivity::Eight)
            .iter()
            .all(|target| {
                let (dr, dc) = (target.centroid[0] - centroid[0], target.centroid[1] - centroid[1]);
                (dr * dr + dc * dc).sqrt() >= MATCH_DISTANCE
            });
        prop_assume!(far);
        let (matched, false_alarms) = evaluate(&scene.prediction, &scene.ground_truth);
        let (matched_with_blob, false_alarms_with_blob) = evaluate(&with_blob, &scene.ground_truth);
        prop_assert_eq!(matched_with_blob, matched);
        prop_assert_eq!(false_alarms_with_blob, false_alarms + area);
    }
}
