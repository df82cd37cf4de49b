//! Pictures of runs and evaluations, drawn with plotters into RGB buffers and written as PNG
//! files atomically: the learning curves of a run ([`curves`]), ROC curves as the field draws
//! them ([`roc`]) and the contact sheet of the worst test images ([`gallery`]).
//!
//! Text uses the embedded DejaVu Sans, so no system font is needed.

pub mod curves;
pub mod gallery;
pub mod roc;

use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// A picture that could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct PlotError {
    pub path: PathBuf,
    pub problem: String,
}

impl PlotError {
    fn new(path: &Path, problem: impl std::fmt::Display) -> Self {
        Self {
            path: path.to_path_buf(),
            problem: problem.to_string(),
        }
    }
}

/// What drawing code returns: plotters' errors are boxed and reported with the file's path.
type Drawn = Result<(), Box<dyn std::error::Error>>;

/// A drawing surface: the whole picture.
type Canvas<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Line colours of the curves of one plot, in order.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// Draws `draw` on `image` (kept as the background) and returns the result.
fn draw_on(mut image: RgbImage, draw: impl FnOnce(&Canvas) -> Drawn) -> Result<RgbImage, String> {
    register_font();
    let (width, height) = image.dimensions();
    {
        let root = BitMapBackend::with_buffer(&mut image, (width, height)).into_drawing_area();
        draw(&root).map_err(|e| format!("plotting failed: {e}"))?;
        root.present()
            .map_err(|e| format!("plotting failed: {e}"))?;
    }
    Ok(image)
}

/// Draws `draw` on a white canvas of `width` x `height` and writes it to `path`.
fn write_plot(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&Canvas) -> Drawn,
) -> Result<(), PlotError> {
    let white = RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let image = draw_on(white, draw).map_err(|problem| PlotError::new(path, problem))?;
    write_png(path, &image)
}

/// Encodes `image` (any pixel type PNG holds) as PNG and writes it to `path` atomically.
pub fn write_png<P: image::PixelWithColorType>(
    path: &Path,
    image: &image::ImageBuffer<P, Vec<P::Subpixel>>,
) -> Result<(), PlotError>
where
    [P::Subpixel]: image::EncodableLayout,
{
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| PlotError::new(path, e))?;
    crate::atomic_file::write(path, &bytes).map_err(|e| PlotError::new(path, e))
}

/// Makes the embedded DejaVu Sans the plots' `sans-serif`.
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

/// Formats a value on a log axis as a power of ten (`1e-5`).
fn power_of_ten(value: &f64) -> String {
    format!("{value:.0e}")
}
