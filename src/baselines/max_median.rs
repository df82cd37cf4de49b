//! The max-median filter (Deshpande, Er, Venkateswarlu and Chan, "Max-mean and max-median
//! filters for detection of small targets", Proc. SPIE 3809, 1999).
//!
//! The background at a pixel is the largest of the medians of the four lines of `window`
//! pixels through it (horizontal, vertical and the two diagonals); the filter's output is the
//! image minus that background. Edges and small structures along one of the lines survive in
//! that line's median and so are suppressed; a target smaller than half the window is in no
//! line's median. Pixels outside the image take the value of the nearest border pixel.

use super::Plane;
use serde::Serialize;

/// The four line directions, as (row, column) steps.
pub const DIRECTIONS: [(isize, isize); 4] = [(0, 1), (1, 0), (1, 1), (1, -1)];

/// The max-median filter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MaxMedian {
    /// Length of each line (odd; default 5).
    pub window: usize,
}

impl Default for MaxMedian {
    fn default() -> Self {
        Self { window: 5 }
    }
}

impl MaxMedian {
    /// The image minus its max-median background.
    pub fn apply(&self, image: &Plane) -> Plane {
        let half = (self.window / 2) as isize;
        let mut line = Vec::with_capacity(self.window);
        Plane::from_fn(image.height(), image.width(), |(row, column)| {
            let (row, column) = (row as isize, column as isize);
            let background = DIRECTIONS
                .iter()
                .map(|&(dy, dx)| {
                    line.clear();
                    line.extend(
                        (-half..=half).map(|t| image.clamped(row + t * dy, column + t * dx)),
                    );
                    let middle = line.len() / 2;
                    *line.select_nth_unstable_by(middle, f32::total_cmp).1
                })
                .fold(f32::NEG_INFINITY, f32::max);
            image.clamped(row, column) - background
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_target_stands_out_and_a_line_does_not() {
        // A 1-pixel target of 1 at (4, 4) and a vertical line of 1 in column 10, on 0.1.
        let image = Plane::from_fn(11, 13, |(row, column)| match (row, column) {
            (4, 4) | (_, 10) => 1.0,
            _ => 0.1,
        });
        let response = MaxMedian::default().apply(&image);
        assert!((response.at(4, 4) - 0.9).abs() < 1e-6);
        for row in 0..11 {
            assert!(response.at(row, 10).abs() < 1e-6, "line at row {row}");
            for column in [0, 2, 7] {
                assert!(response.at(row, column).abs() < 1e-6);
            }
        }
        // A 3 x 3 target is 3 of the 7 pixels of every line through its centre (no median)
        // but 3 of 5 (every median).
        let blob = Plane::from_fn(9, 9, |(row, column)| {
            if row.abs_diff(4) <= 1 && column.abs_diff(4) <= 1 {
                1.0
            } else {
                0.0
            }
        });
        assert!(MaxMedian { window: 7 }.apply(&blob).at(4, 4) > 0.99);
        assert!(MaxMedian::default().apply(&blob).at(4, 4).abs() < 1e-6);
    }
}
