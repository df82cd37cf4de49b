//! Files written from predictions: binary masks, overlays of prediction and ground truth on
//! the image, the ROC table and plot. Every file is written atomically.

use crate::atomic_file;
use crate::metrics::RocCurve;
use image::{ImageBuffer, Luma, Rgb};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Why an output file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("{path}: {problem}")]
    Write { path: PathBuf, problem: String },
}

fn write_error(path: &Path, problem: impl std::fmt::Display) -> OutputError {
    OutputError::Write {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    }
}

/// Encodes `image` as PNG and writes it atomically.
fn write_png<P: image::PixelWithColorType>(
    path: &Path,
    image: &ImageBuffer<P, Vec<P::Subpixel>>,
) -> Result<(), OutputError>
where
    [P::Subpixel]: image::EncodableLayout,
{
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| write_error(path, e))?;
    atomic_file::write(path, &bytes).map_err(|e| write_error(path, e))
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
    write_png(path, &image)
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
    write_png(path, &image)
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

/// Writes the gray image (`gray` in [0, 1]) with the outlines of predicted regions in red and
/// of ground-truth regions in green (yellow where they coincide).
pub fn write_overlay(
    path: &Path,
    height: usize,
    width: usize,
    gray: &[f32],
    predicted: &[bool],
    target: &[bool],
) -> Result<(), OutputError> {
    check_size(
        path,
        height,
        width,
        &[gray.len(), predicted.len(), target.len()],
    )?;
    let image = ImageBuffer::from_fn(width as u32, height as u32, |x, y| {
        let i = y as usize * width + x as usize;
        let level = (gray[i].clamp(0.0, 1.0) * 255.0).round() as u8;
        let (p, t) = (
            on_outline(predicted, height, width, i),
            on_outline(target, height, width, i),
        );
        Rgb(match (p, t) {
            (true, true) => [255, 255, 40],
            (true, false) => PREDICTION_COLOUR,
            (false, true) => GROUND_TRUTH_COLOUR,
            (false, false) => [level; 3],
        })
    });
    write_png(path, &image)
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

/// Plots the ROC sweep as a PNG: pixel TPR against FPR (with its area) beside Pd against Fa.
pub fn write_roc_plot(path: &Path, roc: &RocCurve, title: &str) -> Result<(), OutputError> {
    use plotters::prelude::*;
    const SIZE: (u32, u32) = (1200, 520);
    let mut buffer = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    register_font();
    {
        let root = BitMapBackend::with_buffer(&mut buffer, SIZE).into_drawing_area();
        let failed = |e: &dyn std::fmt::Display| write_error(path, format!("plotting failed: {e}"));
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        let root = root
            .titled(title, ("sans-serif", 22))
            .map_err(|e| failed(&e))?;
        let (left, right) = root.split_horizontally(SIZE.0 / 2);
        let mut pixel = ChartBuilder::on(&left)
            .caption(
                format!("pixel ROC (AUC {:.4})", roc.auc),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .map_err(|e| failed(&e))?;
        pixel
            .configure_mesh()
            .x_desc("false-positive rate")
            .y_desc("true-positive rate")
            .draw()
            .map_err(|e| failed(&e))?;
        let mut curve: Vec<(f64, f64)> = roc.points.iter().map(|p| (p.fpr, p.tpr)).collect();
        curve.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        pixel
            .draw_series(LineSeries::new(curve.iter().copied(), BLUE.stroke_width(2)))
            .map_err(|e| failed(&e))?;
        pixel
            .draw_series(curve.iter().map(|&p| Circle::new(p, 3, BLUE.filled())))
            .map_err(|e| failed(&e))?;

        let fa_max = roc
            .points
            .iter()
            .map(|p| p.fa)
            .fold(0.0, f64::max)
            .max(1e-9)
            * 1.05;
        let mut target = ChartBuilder::on(&right)
            .caption("target-level: Pd against Fa", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..fa_max, 0.0..1.0)
            .map_err(|e| failed(&e))?;
        target
            .configure_mesh()
            .x_desc("false-alarm rate Fa")
            .y_desc("detection probability Pd")
            .x_label_formatter(&|v| format!("{v:.1e}"))
            .draw()
            .map_err(|e| failed(&e))?;
        let mut points: Vec<(f64, f64)> = roc.points.iter().map(|p| (p.fa, p.pd)).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        target
            .draw_series(LineSeries::new(points.iter().copied(), RED.stroke_width(2)))
            .map_err(|e| failed(&e))?;
        target
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, RED.filled())))
            .map_err(|e| failed(&e))?;
        root.present().map_err(|e| failed(&e))?;
    }
    let image = ImageBuffer::<Rgb<u8>, _>::from_raw(SIZE.0, SIZE.1, buffer)
        .expect("buffer is width * height * 3");
    write_png(path, &image)
}

/// Makes the embedded DejaVu Sans the plots' `sans-serif` (no system fonts needed).
fn register_font() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        if plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            dejavu::sans::regular(),
        )
        .is_err()
        {
            unreachable!("the embedded DejaVu Sans is a valid font");
        }
    });
}
