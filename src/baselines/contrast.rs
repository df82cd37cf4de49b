//! The multiscale patch-based contrast measure, MPCM (Wei, You and Li, "Multiscale
//! patch-based contrast measure for small infrared target detection", Pattern Recognition 58,
//! 2016), in its bright-target form.
//!
//! The image is first smoothed by a 3 x 3 mean, as in the paper. At cell side `L`, the
//! `3L x 3L` window around a pixel is divided into nine `L x L` cells: the centre cell `T` and
//! the eight around it, `B_1 .. B_8`, with `B_i` and `B_{i+4}` opposite. With
//! `d_i = mean(T) - mean(B_i)`, the contrast at `L` is `min_i d_i+ * d_{i+4}+` over the four
//! opposite pairs, where `d+ = max(d, 0)` keeps bright targets only (a target brighter than
//! the background on both sides of every direction). MPCM is the largest contrast over the
//! cell sides 3, 5, 7, 9. Pixels outside the image take the value of the nearest border
//! pixel; cell sums come from a summed-area table.

use super::Plane;
use serde::Serialize;

/// The four pairs of opposite cells, as (row, column) offsets of one of them in cells.
pub const OPPOSITE_PAIRS: [(isize, isize); 4] = [(-1, -1), (-1, 0), (-1, 1), (0, -1)];

/// MPCM with cell sides 3, 5, ..., `largest_cell`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PatchContrast {
    /// The largest cell side (odd, at least 3; default 9).
    pub largest_cell: usize,
}

impl Default for PatchContrast {
    fn default() -> Self {
        Self { largest_cell: 9 }
    }
}

/// The 3 x 3 mean of `image` (border replicated).
pub fn mean_3x3(image: &Plane) -> Plane {
    Plane::from_fn(image.height(), image.width(), |(row, column)| {
        let (row, column) = (row as isize, column as isize);
        let mut sum = 0.0;
        for dy in -1..=1 {
            for dx in -1..=1 {
                sum += image.clamped(row + dy, column + dx);
            }
        }
        sum / 9.0
    })
}

/// Sums over rectangles of an image padded by replicating its border.
struct SummedArea {
    /// `(height + 2 margin + 1) x (width + 2 margin + 1)` prefix sums.
    sums: Vec<f64>,
    stride: usize,
    margin: isize,
}

impl SummedArea {
    fn new(image: &Plane, margin: usize) -> Self {
        let stride = image.width() + 2 * margin + 1;
        let rows = image.height() + 2 * margin + 1;
        let mut sums = vec![0.0; rows * stride];
        let margin = margin as isize;
        for row in 1..rows {
            let mut running = 0.0;
            for column in 1..stride {
                running += f64::from(
                    image.clamped(row as isize - 1 - margin, column as isize - 1 - margin),
                );
                sums[row * stride + column] = sums[(row - 1) * stride + column] + running;
            }
        }
        Self {
            sums,
            stride,
            margin,
        }
    }

    /// The mean of the `side x side` cell centred on (`row`, `column`) of the image.
    fn cell_mean(&self, row: isize, column: isize, side: usize) -> f64 {
        let half = (side / 2) as isize;
        let top = (row - half + self.margin) as usize;
        let left = (column - half + self.margin) as usize;
        let (bottom, right) = (top + side, left + side);
        let at = |r: usize, c: usize| self.sums[r * self.stride + c];
        (at(bottom, right) - at(top, right) - at(bottom, left) + at(top, left))
            / (side * side) as f64
    }
}

impl PatchContrast {
    /// The cell sides, 3, 5, ..., `largest_cell`.
    pub fn cell_sides(&self) -> Vec<usize> {
        (3..=self.largest_cell).step_by(2).collect()
    }

    /// The MPCM map of `image`.
    pub fn apply(&self, image: &Plane) -> Plane {
        let smoothed = mean_3x3(image);
        let sides = self.cell_sides();
        let table = SummedArea::new(&smoothed, 3 * self.largest_cell / 2 + 1);
        Plane::from_fn(image.height(), image.width(), |(row, column)| {
            let (row, column) = (row as isize, column as isize);
            sides
                .iter()
                .map(|&side| {
                    let step = side as isize;
                    let centre = table.cell_mean(row, column, side);
                    let difference = |dy: isize, dx: isize| {
                        (centre - table.cell_mean(row + dy * step, column + dx * step, side))
                            .max(0.0)
                    };
                    OPPOSITE_PAIRS
                        .iter()
                        .map(|&(dy, dx)| difference(dy, dx) * difference(-dy, -dx))
                        .fold(f64::INFINITY, f64::min)
                })
                .fold(0.0, f64::max) as f32
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_target_peaks_and_an_edge_gives_nothing() {
        // A 3 x 3 target of 1 at (15, 10) on 0, and a bright half-plane from column 25.
        let image = Plane::from_fn(31, 40, |(row, column)| {
            if (row.abs_diff(15) <= 1 && column.abs_diff(10) <= 1) || column >= 25 {
                1.0
            } else {
                0.0
            }
        });
        let response = PatchContrast::default().apply(&image);
        let peak = response.at(15, 10);
        // At cell side 3 the centre cell of the smoothed target has mean 49 / 81, the side
        // cells 7 / 81 and the diagonal ones 1 / 81: the smallest product is (42 / 81)^2;
        // at side 5 every cell around holds nothing and the centre 9 / 25, less.
        let expected = (42.0f32 / 81.0).powi(2);
        assert!((peak - expected).abs() < 1e-4, "{peak} vs {expected}");
        let (max_at, _) =
            response
                .values()
                .iter()
                .enumerate()
                .fold(
                    (0, f32::MIN),
                    |best, (i, &v)| if v > best.1 { (i, v) } else { best },
                );
        assert_eq!((max_at / 40, max_at % 40), (15, 10));
        for row in 0..31 {
            for column in 20..40 {
                assert!(
                    response.at(row, column).abs() < 1e-6,
                    "edge at ({row}, {column})"
                );
            }
        }
    }
}
