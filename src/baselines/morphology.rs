//! Grey-scale morphology with flat structuring elements, and the white top-hat (Bai and
//! Zhou, "Analysis of new top-hat transformation and the application for infrared dim small
//! target detection", Pattern Recognition 2010, use its classical form as their baseline).
//!
//! Erosion and dilation take the minimum / maximum over the element's pixels that lie inside
//! the image (the border is ignored, i.e. padded with +inf / -inf), so the opening is never
//! above the image and the top-hat is never negative. Both are computed by spans: the element
//! is a union of horizontal runs centred on its column axis, so a horizontal pass per run
//! width followed by a vertical pass over the runs replaces the full window.

use super::Plane;
use serde::Serialize;

/// A flat structuring element centred on the pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StructuringElement {
    /// A `side` x `side` square (`side` odd).
    Square { side: usize },
    /// The pixels within radius `diameter / 2` of the centre (`diameter` odd), as
    /// scikit-image's `disk(radius)`: 13 pixels for diameter 5.
    Disk { diameter: usize },
}

impl StructuringElement {
    /// The side of the element's bounding square.
    pub fn side(self) -> usize {
        match self {
            StructuringElement::Square { side } => side,
            StructuringElement::Disk { diameter } => diameter,
        }
    }

    fn radius(self) -> isize {
        (self.side() / 2) as isize
    }

    /// Half-width of the element's run in row offset `dy` (|dy| <= radius).
    fn half_width(self, dy: isize) -> isize {
        let radius = self.radius();
        match self {
            StructuringElement::Square { .. } => radius,
            StructuringElement::Disk { .. } => {
                let mut half = 0;
                while (half + 1) * (half + 1) + dy * dy <= radius * radius {
                    half += 1;
                }
                half
            }
        }
    }

    /// Every (row, column) offset of the element.
    pub fn offsets(self) -> Vec<(isize, isize)> {
        let radius = self.radius();
        (-radius..=radius)
            .flat_map(|dy| {
                let half = self.half_width(dy);
                (-half..=half).map(move |dx| (dy, dx))
            })
            .collect()
    }
}

/// Minimum (erosion) or maximum (dilation) over the element, by spans.
fn extremum(image: &Plane, element: StructuringElement, pick: fn(f32, f32) -> f32) -> Plane {
    let (height, width) = (image.height(), image.width());
    let radius = element.radius();
    // One horizontal pass per distinct half-width (0..=radius).
    let passes: Vec<Vec<f32>> = (0..=radius)
        .map(|half| {
            let mut out = Vec::with_capacity(height * width);
            for row in image.values().chunks_exact(width.max(1)) {
                for column in 0..width as isize {
                    let from = (column - half).max(0) as usize;
                    let to = ((column + half) as usize).min(width - 1);
                    out.push(row[from..=to].iter().copied().reduce(pick).unwrap_or(0.0));
                }
            }
            out
        })
        .collect();
    Plane::from_fn(height, width, |(row, column)| {
        (-radius..=radius)
            .filter_map(|dy| {
                let source = row as isize + dy;
                (0..height as isize).contains(&source).then(|| {
                    passes[element.half_width(dy) as usize][source as usize * width + column]
                })
            })
            .reduce(pick)
            .unwrap_or(0.0)
    })
}

/// Grey erosion: the minimum over the element (inside the image).
pub fn erode(image: &Plane, element: StructuringElement) -> Plane {
    extremum(image, element, f32::min)
}

/// Grey dilation: the maximum over the element (inside the image).
pub fn dilate(image: &Plane, element: StructuringElement) -> Plane {
    extremum(image, element, f32::max)
}

/// White top-hat: the image minus its grey opening (erosion, then dilation).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopHat {
    /// The structuring element (default: the usual 5 x 5 square).
    pub element: StructuringElement,
}

impl Default for TopHat {
    fn default() -> Self {
        Self {
            element: StructuringElement::Square { side: 5 },
        }
    }
}

impl TopHat {
    /// The top-hat of `image`.
    pub fn apply(&self, image: &Plane) -> Plane {
        let opening = dilate(&erode(image, self.element), self.element);
        Plane::from_fn(image.height(), image.width(), |(row, column)| {
            image.at(row, column) - opening.at(row, column)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 15 x 15 background of 0.2 with a bright square of side `side` at the centre.
    fn square_target(side: usize) -> Plane {
        let (low, high) = (7 - side / 2, 7 + side / 2);
        Plane::from_fn(15, 15, |(row, column)| {
            if (low..=high).contains(&row) && (low..=high).contains(&column) {
                1.0
            } else {
                0.2
            }
        })
    }

    #[test]
    fn a_target_smaller_than_the_element_is_kept_whole() {
        for side in [1, 3] {
            let response = TopHat::default().apply(&square_target(side));
            for row in 0..15 {
                for column in 0..15 {
                    let inside =
                        (7usize.abs_diff(row) <= side / 2) && (7usize.abs_diff(column) <= side / 2);
                    let expected = if inside { 0.8 } else { 0.0 };
                    assert!(
                        (response.at(row, column) - expected).abs() < 1e-6,
                        "side {side} at ({row}, {column})"
                    );
                }
            }
        }
    }

    #[test]
    fn a_target_as_large_as_the_element_is_removed() {
        let response = TopHat::default().apply(&square_target(5));
        assert!(response.values().iter().all(|&v| v.abs() < 1e-6));
    }

    #[test]
    fn disk_elements_have_scikit_images_pixels() {
        assert_eq!(StructuringElement::Disk { diameter: 5 }.offsets().len(), 13);
        assert_eq!(StructuringElement::Disk { diameter: 7 }.offsets().len(), 29);
        assert_eq!(StructuringElement::Square { side: 5 }.offsets().len(), 25);
        // The 5-disk (rows 1, 3, 5, 3, 1 wide) does not fit in a 3 x 3 target: the opening
        // removes the target and the top-hat is the target.
        let element = StructuringElement::Disk { diameter: 5 };
        let response = TopHat { element }.apply(&square_target(3));
        assert!((response.at(7, 7) - 0.8).abs() < 1e-6);
        assert!(response.at(0, 0).abs() < 1e-6);
    }
}
