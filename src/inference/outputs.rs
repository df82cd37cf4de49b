//! Files written from predictions: binary masks, overlays of prediction and ground truth on
//! the image, the ROC table, the per-image table, and an evaluation folder with its plots.
//! Every file is written atomically.

use crate::atomic_file;
use crate::metrics::{ImageScore, RocCurve};
use crate::plots::gallery::{write_gallery, GalleryTile, WorstImages, TILE};
use crate::plots::roc::{write_roc, NamedRoc};
use crate::plots::{write_png, PlotError};
use image::{ImageBuffer, Luma, Rgb, RgbImage};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Why an output file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: {problem}")]
    Write { path: PathBuf, problem: String },
    #[error(transparent)]
    Plot(#[from] PlotError),
}

fn write_error(path: &Path, problem: impl std::fmt::Display) -> OutputError {
    OutputError::Write {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    }
}

/// An error unless every length in `lengths` is `height * width`.
fn check_size(
    path: &Path,
    height: usize,
    width: usize,
    lengths: &[usize],
) -> Result<(), OutputError> {
    match lengths.iter().find(|&&length| length != height * width) {
        Some(length) => Err(write_error(
            path,
            format!("{length} pixels are not an image of {width} x {height}"),
        )),
        None => Ok(()),
    }
}

/// Writes a binary mask (target 255, background 0) as an 8-bit PNG.
pub fn write_mask(
    path: &Path,
    height: usize,
    width: usize,
    mask: &[bool],
) -> Result<(), OutputError> {
    check_size(path, height, width, &[mask.len()])?;
    let pixels = mask.iter().map(|&m| if m { 255u8 } else { 0 }).collect();
    let image = ImageBuffer::<Luma<u8>, _>::from_raw(width as u32, height as u32, pixels)
        .ok_or_else(|| write_error(path, "the mask does not fit a PNG"))?;
    Ok(write_png(path, &image)?)
}

/// Writes target probabilities (in [0, 1]) as a 16-bit grey PNG, value = round(p x 65535):
/// what PyIRSTDMetrics and BasicIRSTD's evaluate.py read for ROC curves and threshold sweeps.
pub fn write_probabilities(
    path: &Path,
    height: usize,
    width: usize,
    probabilities: &[f32],
) -> Result<(), OutputError> {
    check_size(path, height, width, &[probabilities.len()])?;
    let pixels = probabilities
        .iter()
        .map(|&p| (p.clamp(0.0, 1.0) * 65535.0).round() as u16)
        .collect();
    let image = ImageBuffer::<Luma<u16>, _>::from_raw(width as u32, height as u32, pixels)
        .ok_or_else(|| write_error(path, "the probability map does not fit a PNG"))?;
    Ok(write_png(path, &image)?)
}

/// Whether pixel `i` of `mask` is a target pixel on the region's outline (a 4-neighbour is
/// background or outside the image).
fn on_outline(mask: &[bool], height: usize, width: usize, i: usize) -> bool {
    let (row, column) = (i / width, i % width);
    mask[i]
        && (row == 0
            || column == 0
            || row + 1 == height
            || column + 1 == width
            || !mask[i - 1]
            || !mask[i + 1]
            || !mask[i - width]
            || !mask[i + width])
}

/// Colour of predicted outlines.
pub const PREDICTION_COLOUR: [u8; 3] = [255, 40, 40];
/// Colour of ground-truth outlines.
pub const GROUND_TRUTH_COLOUR: [u8; 3] = [40, 255, 40];
/// Colour where both outlines coincide.
pub const BOTH_COLOUR: [u8; 3] = [255, 255, 40];

/// Overlays are scaled up (nearest neighbour, by a whole factor) to at least this many
/// pixels on their longer side.
pub const OVERLAY_MIN_SIDE: usize = 512;

/// The image planes an overlay is drawn from, all `height * width`, row-major.
#[derive(Clone, Copy)]
pub struct OverlayPlanes<'a> {
    pub height: usize,
    pub width: usize,
    /// Grey levels in [0, 1].
    pub gray: &'a [f32],
    pub predicted: &'a [bool],
    pub target: &'a [bool],
}

impl OverlayPlanes<'_> {
    fn check(&self, path: &Path) -> Result<(), OutputError> {
        let lengths = [self.gray.len(), self.predicted.len(), self.target.len()];
        check_size(path, self.height, self.width, &lengths)
    }

    /// The overlay at `out_height` x `out_width` (nearest neighbour): the grey image with
    /// the outlines of predicted regions in red, of ground-truth regions in green, yellow
    /// where they coincide, one output pixel wide.
    pub fn draw(&self, out_height: usize, out_width: usize) -> RgbImage {
        let source = |i: usize| {
            let (row, column) = (i / out_width, i % out_width);
            row * self.height / out_height * self.width + column * self.width / out_width
        };
        let scaled = |plane: &[bool]| {
            (0..out_height * out_width)
                .map(|i| plane[source(i)])
                .collect::<Vec<_>>()
        };
        let (predicted, target) = (scaled(self.predicted), scaled(self.target));
        ImageBuffer::from_fn(out_width as u32, out_height as u32, |x, y| {
            let i = y as usize * out_width + x as usize;
            let level = (self.gray[source(i)].clamp(0.0, 1.0) * 255.0).round() as u8;
            let on_prediction = on_outline(&predicted, out_height, out_width, i);
            let on_target = on_outline(&target, out_height, out_width, i);
            Rgb(match (on_prediction, on_target) {
                (true, true) => BOTH_COLOUR,
                (true, false) => PREDICTION_COLOUR,
                (false, true) => GROUND_TRUTH_COLOUR,
                (false, false) => [level; 3],
            })
        })
    }

    /// The overlay scaled by the smallest whole factor that makes its longer side at least
    /// [`OVERLAY_MIN_SIDE`].
    pub fn draw_for_viewing(&self) -> RgbImage {
        let longer = self.height.max(self.width).max(1);
        let factor = OVERLAY_MIN_SIDE.div_ceil(longer);
        self.draw(self.height * factor, self.width * factor)
    }

    /// The overlay fitted into a `side` x `side` square, keeping its aspect ratio.
    pub fn draw_fitted(&self, side: usize) -> RgbImage {
        let longer = self.height.max(self.width).max(1);
        let fitted = |length: usize| (length * side / longer).max(1);
        self.draw(fitted(self.height), fitted(self.width))
    }
}

/// Writes the overlay of `planes`, scaled for viewing, to `path`.
pub fn write_overlay(path: &Path, planes: &OverlayPlanes) -> Result<(), OutputError> {
    planes.check(path)?;
    Ok(write_png(path, &planes.draw_for_viewing())?)
}

/// Writes the ROC sweep as CSV: threshold, Pd, Fa, pixel TPR, pixel FPR.
pub fn write_roc_csv(path: &Path, roc: &RocCurve) -> Result<(), OutputError> {
    let mut text = String::from("threshold,pd,fa,tpr,fpr\n");
    for p in &roc.points {
        let _ = writeln!(
            text,
            "{},{},{:e},{},{}",
            p.threshold, p.pd, p.fa, p.tpr, p.fpr
        );
    }
    atomic_file::write(path, text.as_bytes()).map_err(|e| write_error(path, e))
}

/// The header of `per-image.csv`: one row per image, in the order scored.
const PER_IMAGE_HEADER: &str =
    "id,iou,targets,detected,false_alarm_pixels,target_pixels,predicted_pixels,pixels";

/// Appends `score`'s row of `per-image.csv` for image `id` to `table`.
fn per_image_row(table: &mut String, id: &str, score: &ImageScore) {
    let counts = &score.counts;
    let _ = writeln!(
        table,
        "{},{},{},{},{},{},{},{}",
        crate::csv::field(id),
        score.iou,
        counts.detection.targets,
        counts.detection.matched,
        counts.detection.false_alarm_pixels,
        counts.true_positives + counts.false_negatives,
        counts.true_positives + counts.false_positives,
        counts.pixels
    );
}

/// The files of an evaluation folder, written as the images are scored: `masks/` and
/// `overlays/` per image, then `metrics.json`, `per-image.csv`, `roc.csv`, `roc.png` and
/// `gallery.png` (the worst images by IoU).
pub struct EvaluationFolder {
    root: PathBuf,
    worst: WorstImages,
    per_image: String,
}

impl EvaluationFolder {
    /// What the folder holds, in words.
    pub const FILES: &'static str =
        "metrics.json, per-image.csv, roc.csv, roc.png, gallery.png, masks/ and overlays/";

    /// Creates `root/masks` and `root/overlays`.
    pub fn create(root: &Path) -> Result<Self, OutputError> {
        for folder in ["masks", "overlays"] {
            let path = root.join(folder);
            std::fs::create_dir_all(&path).map_err(|e| write_error(&path, e))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
            worst: WorstImages::default(),
            per_image: format!("{PER_IMAGE_HEADER}\n"),
        })
    }

    /// Writes the mask and overlay of image `id`, scored as `score`, and keeps its row.
    pub fn add_image(
        &mut self,
        id: &str,
        planes: &OverlayPlanes,
        score: &ImageScore,
    ) -> Result<(), OutputError> {
        per_image_row(&mut self.per_image, id, score);
        let iou = score.iou;
        let name = format!("{id}.png");
        write_mask(
            &self.root.join("masks").join(&name),
            planes.height,
            planes.width,
            planes.predicted,
        )?;
        write_overlay(&self.root.join("overlays").join(&name), planes)?;
        if self.worst.would_keep(iou) {
            self.worst.offer(GalleryTile {
                id: id.to_string(),
                iou,
                overlay: planes.draw_fitted(TILE as usize),
            });
        }
        Ok(())
    }

    /// Writes `report` as `metrics.json`, the images' rows as `per-image.csv`, the sweep as
    /// `roc.csv` and `roc.png`, and the gallery; `title` names the model or method and the data.
    pub fn finish(
        self,
        report: &impl serde::Serialize,
        roc: &RocCurve,
        name: &str,
        title: &str,
    ) -> Result<(), OutputError> {
        let path = self.root.join("metrics.json");
        let json = serde_json::to_string_pretty(report).map_err(|e| write_error(&path, e))?;
        atomic_file::write(&path, json.as_bytes()).map_err(|e| write_error(&path, e))?;
        let path = self.root.join("per-image.csv");
        atomic_file::write(&path, self.per_image.as_bytes()).map_err(|e| write_error(&path, e))?;
        write_roc_csv(&self.root.join("roc.csv"), roc)?;
        let curve = NamedRoc {
            name: name.to_string(),
            roc,
        };
        write_roc(&self.root.join("roc.png"), title, &[curve])?;
        let tiles = self.worst.tiles();
        write_gallery(
            &self.root.join("gallery.png"),
            &format!("{title}: the {} images of lowest IoU", tiles.len()),
            tiles,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_id_with_a_comma_is_quoted_in_the_per_image_table() {
        let mut table = String::new();
        let score = ImageScore {
            iou: 0.5,
            counts: Default::default(),
        };
        per_image_row(&mut table, "x,1", &score);
        assert_eq!(table, "\"x,1\",0.5,0,0,0,0,0,0\n");
    }

    #[test]
    fn overlays_are_scaled_by_a_whole_factor_with_thin_outlines_in_two_colours() {
        // A 3 x 3 target in a 20 x 10 image, predicted one column to the right.
        let (height, width) = (10, 20);
        let square = |left: usize| -> Vec<bool> {
            (0..height * width)
                .map(|i| (4..7).contains(&(i / width)) && (left..left + 3).contains(&(i % width)))
                .collect()
        };
        let (target, predicted) = (square(5), square(6));
        let gray = vec![0.5; height * width];
        let planes = OverlayPlanes {
            height,
            width,
            gray: &gray,
            predicted: &predicted,
            target: &target,
        };
        let image = planes.draw_for_viewing();
        // 512 / 20 rounded up: 26.
        assert_eq!(image.dimensions(), (520, 260));
        let at = |x: u32, y: u32| image.get_pixel(x, y).0;
        // Target's left edge (only ground truth), prediction's right edge, shared top edge.
        assert_eq!(at(5 * 26, 5 * 26), GROUND_TRUTH_COLOUR);
        assert_eq!(at(9 * 26 - 1, 5 * 26), PREDICTION_COLOUR);
        assert_eq!(at(7 * 26, 4 * 26), BOTH_COLOUR);
        // Outlines are one output pixel wide: inside both squares, grey.
        assert_eq!(at(7 * 26, 4 * 26 + 1), [128; 3]);
        assert_eq!(at(0, 0), [128; 3]);
        assert_eq!(planes.draw_fitted(256).dimensions(), (256, 128));
    }
}
