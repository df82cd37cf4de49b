//! Inference on images of any size in overlapping tiles, so that memory stays bounded and
//! time grows linearly with the pixels.
//!
//! An image no larger than a tile is one tile: the whole image, zero padded to the
//! network's size multiple exactly as the evaluation loader pads it. A larger image is cut
//! into tiles of `tile` x `tile` pixels (shifted inside the image at its borders); of each
//! tile only the core is kept, at least `overlap` pixels away from any tile edge that is not
//! an image edge. The network is not local (DIAAM's channel attention averages over the
//! whole feature map), so a tiled prediction is close to the whole-image one but not equal;
//! notes/reliability-inputs.md gives the measured difference.

use super::PredictError;
use crate::data::preprocess::{write_input, PreparedSample};
use crate::data::resample::window;
use crate::data::InfraredImage;
use crate::model::{Detector, Images};

/// How images larger than a tile are cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tiling {
    /// Tile side in pixels (a multiple of the network's size multiple).
    pub tile: usize,
    /// Context kept on each inner side of a tile's core, in pixels (less than `tile / 2`).
    pub overlap: usize,
}

impl Default for Tiling {
    /// 512 px tiles with 64 px of context: see notes/reliability-inputs.md.
    fn default() -> Self {
        Self {
            tile: 512,
            overlap: 64,
        }
    }
}

/// One tile along one axis: the input span `[start, start + length)` and the kept core
/// `[keep_start, keep_end)`, in image coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: usize,
    length: usize,
    keep_start: usize,
    keep_end: usize,
}

impl Tiling {
    /// Checks the tiling for a network whose input sizes are multiples of `multiple`.
    pub fn check(self, multiple: usize) -> Result<(), PredictError> {
        if self.tile == 0 || !self.tile.is_multiple_of(multiple) || 2 * self.overlap >= self.tile {
            return Err(PredictError::Tiling {
                tile: self.tile,
                overlap: self.overlap,
                multiple,
            });
        }
        Ok(())
    }

    /// The tiles covering `length` pixels of one axis; their cores partition `0..length`.
    fn spans(self, length: usize) -> Vec<Span> {
        if length <= self.tile {
            return vec![Span {
                start: 0,
                length,
                keep_start: 0,
                keep_end: length,
            }];
        }
        let step = self.tile - 2 * self.overlap;
        (0..length.div_ceil(step))
            .map(|k| {
                let keep_start = k * step;
                let keep_end = (keep_start + step).min(length);
                let start = keep_start
                    .saturating_sub(self.overlap)
                    .min(length - self.tile);
                Span {
                    start,
                    length: self.tile,
                    keep_start,
                    keep_end,
                }
            })
            .collect()
    }
}

/// The logits of `image` (row-major, `height * width`) predicted tile by tile.
pub fn predict_tiled(
    detector: &dyn Detector,
    image: &InfraredImage,
    tiling: Tiling,
) -> Result<Vec<f32>, PredictError> {
    let multiple = detector.size_multiple();
    tiling.check(multiple)?;
    let (height, width) = (image.height, image.width);
    let channels = detector.input();
    let mut logits = vec![0.0f32; height * width];
    let columns = tiling.spans(width);
    for rows in tiling.spans(height) {
        for columns in &columns {
            let planes = image
                .planes
                .iter()
                .map(|plane| {
                    let at = (rows.start, columns.start);
                    window(
                        plane,
                        height,
                        width,
                        at.0,
                        at.1,
                        rows.length,
                        columns.length,
                    )
                })
                .collect();
            let tile = PreparedSample {
                planes,
                mask: Vec::new(),
                width: columns.length,
                height: rows.length,
            };
            let padded = (
                rows.length.div_ceil(multiple) * multiple,
                columns.length.div_ceil(multiple) * multiple,
            );
            let mut input = vec![0.0f32; channels.count() * padded.0 * padded.1];
            // A tile has no mask: the mask output is empty.
            write_input(&tile, channels, padded, &mut input, &mut []);
            let output = detector.predict(Images {
                values: &input,
                count: 1,
                height: padded.0,
                width: padded.1,
            })?;
            for row in rows.keep_start..rows.keep_end {
                let from = (row - rows.start) * padded.1 + columns.keep_start - columns.start;
                let length = columns.keep_end - columns.keep_start;
                logits[row * width + columns.keep_start..][..length]
                    .copy_from_slice(&output[from..][..length]);
            }
        }
    }
    Ok(logits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{build, DeviceKind, ModelName};

    /// The tolerance of this case: its largest logit difference was measured at 0.139 (of a
    /// logit range of 6; notes/reliability-inputs.md).
    const LOGIT_TOLERANCE: f32 = 0.25;

    #[test]
    fn tiled_prediction_matches_the_whole_image_within_the_tolerance() {
        let name: ModelName = "r10".parse().unwrap();
        let detector = build(name, DeviceKind::Cpu, 0).unwrap();
        let (height, width) = (200, 184);
        let values = (0..height * width)
            .map(|i| {
                let (row, column) = (i / width, i % width);
                let spot = row % 37 == 5 && column % 41 == 7;
                if spot {
                    0.95
                } else {
                    0.2 + 0.1 * ((row + 3 * column) % 11) as f32 / 11.0
                }
            })
            .collect();
        let image = InfraredImage::gray(height, width, values).unwrap();
        let whole = predict_tiled(
            detector.as_ref(),
            &image,
            Tiling {
                tile: 256,
                overlap: 0,
            },
        )
        .unwrap();
        let tiled = predict_tiled(
            detector.as_ref(),
            &image,
            Tiling {
                tile: 64,
                overlap: 16,
            },
        )
        .unwrap();
        let largest = whole
            .iter()
            .zip(&tiled)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(largest <= LOGIT_TOLERANCE, "{largest}");
    }

    #[test]
    fn cores_partition_the_axis_and_lie_inside_their_tiles() {
        let tiling = Tiling {
            tile: 64,
            overlap: 16,
        };
        for length in [1, 63, 64, 65, 96, 200, 1000] {
            let spans = tiling.spans(length);
            let mut next = 0;
            for span in &spans {
                assert_eq!(span.keep_start, next);
                assert!(span.keep_start < span.keep_end);
                assert!(span.start <= span.keep_start && span.keep_end <= span.start + span.length);
                assert!(span.start + span.length <= length);
                let inner_left = span.start > 0;
                let inner_right = span.start + span.length < length;
                assert!(!inner_left || span.keep_start - span.start >= tiling.overlap);
                assert!(!inner_right || span.start + span.length - span.keep_end >= tiling.overlap);
                next = span.keep_end;
            }
            assert_eq!(next, length);
        }
    }
}
