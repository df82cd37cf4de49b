//! The traditional baselines against naive implementations on random images: morphology
//! against the minimum / maximum over the element's offsets, max-median against sorted
//! lines, MPCM against cell sums taken pixel by pixel; IPI's patch image against its
//! reassembly, and the SVDs against reconstruction.

use proptest::prelude::*;
use rrcanet::baselines::contrast::{PatchContrast, OPPOSITE_PAIRS};
use rrcanet::baselines::max_median::{MaxMedian, DIRECTIONS};
use rrcanet::baselines::morphology::{dilate, erode, StructuringElement, TopHat};
use rrcanet::baselines::patch_image::PatchImage;
use rrcanet::baselines::svd::{jacobi_svd, truncated_svd, Matrix};
use rrcanet::baselines::Plane;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    }
}

fn image(max_side: usize) -> impl Strategy<Value = Plane> {
    (1..=max_side, 1..=max_side).prop_flat_map(|(height, width)| {
        proptest::collection::vec(0.0f32..1.0, height * width)
            .prop_map(move |values| Plane::new(height, width, values).unwrap())
    })
}

fn element() -> impl Strategy<Value = StructuringElement> {
    (0usize..4, any::<bool>()).prop_map(|(half, disk)| {
        let side = 2 * half + 1;
        if disk {
            StructuringElement::Disk { diameter: side }
        } else {
            StructuringElement::Square { side }
        }
    })
}

/// The value at a clamped position (border replicated).
fn clamped(image: &Plane, row: isize, column: isize) -> f32 {
    let row = row.clamp(0, image.height() as isize - 1) as usize;
    let column = column.clamp(0, image.width() as isize - 1) as usize;
    image.at(row, column)
}

/// Minimum or maximum over the element's in-image offsets, pixel by pixel.
fn naive_extremum(image: &Plane, element: StructuringElement, pick: fn(f32, f32) -> f32) -> Plane {
    let offsets = element.offsets();
    Plane::from_fn(image.height(), image.width(), |(row, column)| {
        offsets
            .iter()
            .filter_map(|&(dy, dx)| {
                let (r, c) = (row as isize + dy, column as isize + dx);
                (r >= 0 && c >= 0 && (r as usize) < image.height() && (c as usize) < image.width())
                    .then(|| image.at(r as usize, c as usize))
            })
            .reduce(pick)
            .unwrap()
    })
}

fn assert_close(a: &Plane, b: &Plane, tolerance: f32) -> Result<(), TestCaseError> {
    for (i, (x, y)) in a.values().iter().zip(b.values()).enumerate() {
        prop_assert!((x - y).abs() <= tolerance, "pixel {i}: {x} vs {y}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn morphology_matches_the_window_definition(image in image(14), element in element()) {
        prop_assert_eq!(erode(&image, element), naive_extremum(&image, element, f32::min));
        prop_assert_eq!(dilate(&image, element), naive_extremum(&image, element, f32::max));
        let opening = naive_extremum(&naive_extremum(&image, element, f32::min), element, f32::max);
        let top_hat = TopHat { element }.apply(&image);
        for (i, &value) in top_hat.values().iter().enumerate() {
            prop_assert_eq!(value, image.values()[i] - opening.values()[i]);
            prop_assert!(value >= 0.0);
        }
    }

    #[test]
    fn max_median_matches_sorted_lines(image in image(12), half in 0usize..4) {
        let window = 2 * half + 1;
        let expected = Plane::from_fn(image.height(), image.width(), |(row, column)| {
            let background = DIRECTIONS
                .iter()
                .map(|&(dy, dx)| {
                    let mut line: Vec<f32> = (-(half as isize)..=half as isize)
                        .map(|t| clamped(&image, row as isize + t * dy, column as isize + t * dx))
                        .collect();
                    line.sort_by(f32::total_cmp);
                    line[half]
                })
                .fold(f32::MIN, f32::max);
            image.at(row, column) - background
        });
        prop_assert_eq!(MaxMedian { window }.apply(&image), expected);
    }

    #[test]
    fn mpcm_matches_cell_means_summed_pixel_by_pixel(image in image(16), largest in 1usize..4) {
        let method = PatchContrast { largest_cell: 2 * largest + 1 };
        let smoothed = Plane::from_fn(image.height(), image.width(), |(row, column)| {
            let mut sum = 0.0;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    sum += clamped(&image, row as isize + dy, column as isize + dx);
                }
            }
            sum / 9.0
        });
        let cell_mean = |row: isize, column: isize, side: usize| -> f64 {
            let half = (side / 2) as isize;
            let mut sum = 0.0f64;
            for dy in -half..=half {
                for dx in -half..=half {
                    sum += f64::from(clamped(&smoothed, row + dy, column + dx));
                }
            }
            sum / (side * side) as f64
        };
        let expected = Plane::from_fn(image.height(), image.width(), |(row, column)| {
            let (row, column) = (row as isize, column as isize);
            method
                .cell_sides()
                .into_iter()
                .map(|side| {
                    let centre = cell_mean(row, column, side);
                    let step = side as isize;
                    OPPOSITE_PAIRS
                        .iter()
                        .map(|&(dy, dx)| {
                            let one = centre - cell_mean(row + dy * step, column + dx * step, side);
                            let other = centre - cell_mean(row - dy * step, column - dx * step, side);
                            one.max(0.0) * other.max(0.0)
                        })
                        .fold(f64::INFINITY, f64::min)
                })
                .fold(0.0, f64::max) as f32
        });
        assert_close(&method.apply(&image), &expected, 1e-5)?;
    }

    #[test]
    fn the_patch_image_reassembles_to_the_image(
        image in image(24),
        patch in 1usize..12,
        step in 1usize..8,
    ) {
        let method = PatchImage { patch, step, ..PatchImage::default() };
        let (matrix, tops, lefts) = method.patches(&image);
        prop_assert_eq!(method.reassemble(&matrix, &image, &tops, &lefts), image);
    }

    #[test]
    fn svds_reconstruct_random_matrices(
        rows in 1usize..12,
        columns in 1usize..12,
        seed in any::<u64>(),
    ) {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let a = Matrix::from_fn(rows, columns, |_, _| next());
        let full = jacobi_svd(&a);
        let rank = rows.min(columns);
        let reconstruct = |svd: &rrcanet::baselines::svd::Svd, count: usize| {
            Matrix::from_fn(rows, columns, |i, j| {
                (0..count).map(|k| svd.left.at(i, k) * svd.values[k] * svd.right.at(j, k)).sum()
            })
        };
        let from_full = reconstruct(&full, rank);
        for (x, y) in from_full.data().iter().zip(a.data()) {
            prop_assert!((x - y).abs() < 1e-5);
        }
        // With enough oversampling the partial SVD is the full one.
        let partial = truncated_svd(&a, rank, None, 1, seed);
        prop_assert_eq!(partial.values.len(), rank);
        let from_partial = reconstruct(&partial, rank);
        for (x, y) in from_partial.data().iter().zip(a.data()) {
            prop_assert!((x - y).abs() < 1e-4);
        }
    }
}
