//! Reading infrared images and target masks from PNG, BMP or JPEG files.
//!
//! These two functions are the only way the project reads pixels from disk, so training,
//! evaluation and inference all see an image exactly the same way:
//! - [`read_image`] gives the image as floats in [0, 1]; [`InfraredImage::rgb_planes`]
//!   presents it the way the reference code opens it (`PIL.Image.convert("RGB")`: grayscale
//!   replicated to three channels, palette images through their palette, RGB as it is).
//! - [`read_mask`] gives a binary target map: any non-zero pixel is target.

use image::{DynamicImage, ImageReader};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A decoded image whose pixels could not be read: the file, and what went wrong.
#[derive(Debug, Error)]
#[error("{path}: {reason}")]
pub struct ImageReadError {
    /// The file that could not be read.
    pub path: PathBuf,
    /// What the decoder reported (missing file, unknown format, truncated data, ...).
    pub reason: String,
}

/// A plane whose length is not its width times its height.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{values} values are not a {width} x {height} plane")]
pub struct PlaneSizeError {
    /// Values given.
    pub values: usize,
    /// Height asked for.
    pub height: usize,
    /// Width asked for.
    pub width: usize,
}

/// An image with values in [0, 1], stored as one plane (grayscale) or three planes (colour).
///
/// A colour file whose three channels are equal everywhere is stored as one plane: the
/// RGB view is the same, and everything downstream does a third of the work.
#[derive(Debug, Clone, PartialEq)]
pub struct InfraredImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// One or three row-major planes of `width * height` values in [0, 1].
    pub planes: Vec<Vec<f32>>,
}

impl InfraredImage {
    /// A one-plane (grayscale) image; `values` are row-major and must hold `width * height`.
    pub fn gray(height: usize, width: usize, values: Vec<f32>) -> Result<Self, PlaneSizeError> {
        if values.len() != width * height {
            return Err(PlaneSizeError {
                values: values.len(),
                height,
                width,
            });
        }
        Ok(Self {
            width,
            height,
            planes: vec![values],
        })
    }

    /// The three RGB planes as the reference sees the image: grayscale replicated.
    pub fn rgb_planes(&self) -> [&[f32]; 3] {
        match self.planes.as_slice() {
            [gray] => [gray, gray, gray],
            [r, g, b] => [r, g, b],
            _ => unreachable!("an InfraredImage has one or three planes"),
        }
    }

    /// One intensity plane: the gray values, or for a colour image PIL's "L" conversion
    /// (0.299 R + 0.587 G + 0.114 B).
    pub fn luminance(&self) -> Vec<f32> {
        let [r, g, b] = self.rgb_planes();
        if self.planes.len() == 1 {
            return r.to_vec();
        }
        r.iter()
            .zip(g)
            .zip(b)
            .map(|((&r, &g), &b)| 0.299 * r + 0.587 * g + 0.114 * b)
            .collect()
    }
}

/// A binary target map: `pixels[y * width + x]` is 1 for target, 0 for background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetMask {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major 0/1 values.
    pub pixels: Vec<u8>,
}

impl TargetMask {
    /// Number of target pixels.
    pub fn target_pixels(&self) -> usize {
        self.pixels.iter().filter(|&&p| p != 0).count()
    }
}

fn decode(path: &Path) -> Result<DynamicImage, ImageReadError> {
    let error = |reason: String| ImageReadError {
        path: path.to_path_buf(),
        reason,
    };
    ImageReader::open(path)
        .map_err(|e| error(format!("cannot open: {e}")))?
        .with_guessed_format()
        .map_err(|e| error(format!("cannot read: {e}")))?
        .decode()
        .map_err(|e| {
            error(format!(
                "cannot decode (unsupported, corrupt or truncated): {e}"
            ))
        })
}

/// The (height, width) of an image file, read from its header only (nothing is decoded).
pub fn image_size(path: &Path) -> Result<(usize, usize), ImageReadError> {
    let error = |reason: String| ImageReadError {
        path: path.to_path_buf(),
        reason,
    };
    let (width, height) = ImageReader::open(path)
        .map_err(|e| error(format!("cannot open: {e}")))?
        .with_guessed_format()
        .map_err(|e| error(format!("cannot read: {e}")))?
        .into_dimensions()
        .map_err(|e| error(format!("cannot read the size: {e}")))?;
    Ok((height as usize, width as usize))
}

/// Splits interleaved samples into planes scaled by `1 / max`, ignoring trailing
/// (alpha) channels beyond `color_channels`.
fn planes_from<T: Copy + Into<f32>>(
    samples: &[T],
    channels: usize,
    color_channels: usize,
    max: f32,
) -> Vec<Vec<f32>> {
    (0..color_channels)
        .map(|c| {
            samples
                .chunks_exact(channels)
                .map(|pixel| pixel[c].into() / max)
                .collect()
        })
        .collect()
}

/// Reads an image file (PNG, BMP or JPEG; 1-, 8- or 16-bit grayscale, RGB, palette, with
/// or without alpha, which is dropped) as floats in [0, 1].
pub fn read_image(path: &Path) -> Result<InfraredImage, ImageReadError> {
    let decoded = decode(path)?;
    let (width, height) = (decoded.width() as usize, decoded.height() as usize);
    let mut planes = match &decoded {
        DynamicImage::ImageLuma8(b) => planes_from(b.as_raw(), 1, 1, 255.0),
        DynamicImage::ImageLumaA8(b) => planes_from(b.as_raw(), 2, 1, 255.0),
        DynamicImage::ImageRgb8(b) => planes_from(b.as_raw(), 3, 3, 255.0),
        DynamicImage::ImageRgba8(b) => planes_from(b.as_raw(), 4, 3, 255.0),
        DynamicImage::ImageLuma16(b) => planes_from(b.as_raw(), 1, 1, 65535.0),
        DynamicImage::ImageLumaA16(b) => planes_from(b.as_raw(), 2, 1, 65535.0),
        DynamicImage::ImageRgb16(b) => planes_from(b.as_raw(), 3, 3, 65535.0),
        DynamicImage::ImageRgba16(b) => planes_from(b.as_raw(), 4, 3, 65535.0),
        other => planes_from(other.to_rgb32f().as_raw(), 3, 3, 1.0),
    };
    for plane in &mut planes {
        for v in plane.iter_mut() {
            *v = v.clamp(0.0, 1.0);
        }
    }
    if planes.len() == 3 && planes[0] == planes[1] && planes[1] == planes[2] {
        planes.truncate(1);
    }
    Ok(InfraredImage {
        width,
        height,
        planes,
    })
}

/// Marks pixels whose colour channels (alpha ignored) are not all zero.
fn nonzero_from<T: Copy + PartialEq + Default>(
    samples: &[T],
    channels: usize,
    color_channels: usize,
) -> Vec<u8> {
    samples
        .chunks_exact(channels)
        .map(|pixel| u8::from(pixel[..color_channels].iter().any(|&v| v != T::default())))
        .collect()
}

/// Reads a mask file as a binary target map: any non-zero pixel (in any colour channel,
/// alpha ignored) is target. This handles 1-bit masks that decode to 0/1 as well as
/// 0/255 masks, and palette masks through their palette colours.
pub fn read_mask(path: &Path) -> Result<TargetMask, ImageReadError> {
    let decoded = decode(path)?;
    let (width, height) = (decoded.width() as usize, decoded.height() as usize);
    let pixels = match &decoded {
        DynamicImage::ImageLuma8(b) => nonzero_from(b.as_raw(), 1, 1),
        DynamicImage::ImageLumaA8(b) => nonzero_from(b.as_raw(), 2, 1),
        DynamicImage::ImageRgb8(b) => nonzero_from(b.as_raw(), 3, 3),
        DynamicImage::ImageRgba8(b) => nonzero_from(b.as_raw(), 4, 3),
        DynamicImage::ImageLuma16(b) => nonzero_from(b.as_raw(), 1, 1),
        DynamicImage::ImageLumaA16(b) => nonzero_from(b.as_raw(), 2, 1),
        DynamicImage::ImageRgb16(b) => nonzero_from(b.as_raw(), 3, 3),
        DynamicImage::ImageRgba16(b) => nonzero_from(b.as_raw(), 4, 3),
        other => nonzero_from(other.to_rgb32f().as_raw(), 3, 3),
    };
    Ok(TargetMask {
        width,
        height,
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage};

    #[test]
    fn reads_8_and_16_bit_grayscale_and_rgb() {
        let dir = tempfile::tempdir().unwrap();
        let gray8 = dir.path().join("g8.png");
        GrayImage::from_raw(2, 1, vec![0, 255])
            .unwrap()
            .save(&gray8)
            .unwrap();
        let image = read_image(&gray8).unwrap();
        assert_eq!((image.width, image.height), (2, 1));
        assert_eq!(image_size(&gray8).unwrap(), (1, 2));
        assert!(InfraredImage::gray(2, 2, vec![0.0; 3]).is_err());
        assert_eq!(image.planes, vec![vec![0.0, 1.0]]);
        assert_eq!(image.rgb_planes()[2], &[0.0, 1.0]);

        let gray16 = dir.path().join("g16.png");
        ImageBuffer::<Luma<u16>, _>::from_raw(2, 1, vec![0u16, 65535])
            .unwrap()
            .save(&gray16)
            .unwrap();
        assert_eq!(read_image(&gray16).unwrap().planes, vec![vec![0.0, 1.0]]);

        let rgb = dir.path().join("rgb.bmp");
        RgbImage::from_pixel(1, 1, Rgb([255, 0, 51]))
            .save(&rgb)
            .unwrap();
        let image = read_image(&rgb).unwrap();
        assert_eq!(image.planes, vec![vec![1.0], vec![0.0], vec![0.2]]);
        let expected_l = 0.299 + 0.114 * 0.2;
        assert!((image.luminance()[0] - expected_l).abs() < 1e-6);

        let gray_as_rgb = dir.path().join("gray_rgb.png");
        RgbImage::from_pixel(1, 1, Rgb([51, 51, 51]))
            .save(&gray_as_rgb)
            .unwrap();
        assert_eq!(read_image(&gray_as_rgb).unwrap().planes, vec![vec![0.2]]);
    }

    /// Writes a PNG with the `png` crate (the `image` crate cannot write palette or
    /// 1-bit files).
    fn write_png(
        path: &Path,
        width: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        palette: Option<Vec<u8>>,
        data: &[u8],
    ) {
        let file = std::fs::File::create(path).unwrap();
        let mut encoder = png::Encoder::new(file, width, 1);
        encoder.set_color(color);
        encoder.set_depth(depth);
        if let Some(palette) = palette {
            encoder.set_palette(palette);
        }
        encoder
            .write_header()
            .unwrap()
            .write_image_data(data)
            .unwrap();
    }

    #[test]
    fn reads_palette_one_bit_and_jpeg_files() {
        let dir = tempfile::tempdir().unwrap();
        let palette = dir.path().join("palette.png");
        let colours = vec![0, 0, 0, 255, 255, 255, 10, 20, 30];
        write_png(
            &palette,
            3,
            png::ColorType::Indexed,
            png::BitDepth::Eight,
            Some(colours),
            &[1, 0, 2],
        );
        let image = read_image(&palette).unwrap();
        assert_eq!(image.planes.len(), 3);
        assert_eq!(image.planes[0], vec![1.0, 0.0, 10.0 / 255.0]);
        assert_eq!(image.planes[2], vec![1.0, 0.0, 30.0 / 255.0]);
        assert_eq!(read_mask(&palette).unwrap().pixels, vec![1, 0, 1]);

        // A 1-bit mask like the SIRST release's: bits 0, 1, 1, 0.
        let one_bit = dir.path().join("one_bit.png");
        write_png(
            &one_bit,
            4,
            png::ColorType::Grayscale,
            png::BitDepth::One,
            None,
            &[0b0110_0000],
        );
        assert_eq!(read_mask(&one_bit).unwrap().pixels, vec![0, 1, 1, 0]);
        assert_eq!(
            read_image(&one_bit).unwrap().planes,
            vec![vec![0.0, 1.0, 1.0, 0.0]]
        );

        let jpeg = dir.path().join("flat.jpg");
        GrayImage::from_pixel(16, 16, Luma([128]))
            .save(&jpeg)
            .unwrap();
        let image = read_image(&jpeg).unwrap();
        assert_eq!((image.width, image.height, image.planes.len()), (16, 16, 1));
        assert!(image.planes[0]
            .iter()
            .all(|v| (v - 128.0 / 255.0).abs() < 0.02));
    }

    #[test]
    fn masks_treat_any_nonzero_pixel_as_target() {
        let dir = tempfile::tempdir().unwrap();
        let ones = dir.path().join("ones.png");
        GrayImage::from_raw(3, 1, vec![0, 1, 255])
            .unwrap()
            .save(&ones)
            .unwrap();
        assert_eq!(read_mask(&ones).unwrap().pixels, vec![0, 1, 1]);
        let red = dir.path().join("red.png");
        RgbImage::from_raw(2, 1, vec![0, 0, 0, 200, 0, 0])
            .unwrap()
            .save(&red)
            .unwrap();
        assert_eq!(read_mask(&red).unwrap().pixels, vec![0, 1]);
    }

    #[test]
    fn missing_and_garbage_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.png");
        let error = read_image(&missing).unwrap_err();
        assert_eq!(error.path, missing);
        let garbage = dir.path().join("garbage.png");
        std::fs::write(&garbage, b"not an image at all").unwrap();
        let error = read_mask(&garbage).unwrap_err();
        assert!(error.to_string().contains("garbage.png"), "{error}");
    }
}
