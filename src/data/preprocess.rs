//! The reference preprocessing: how one sample becomes network input.
//!
//! Training ([`Transform::Augment`]), in the reference order: random horizontal flip
//! (p 0.5); rescale so the long side is a uniform integer in [0.5, 2] x base size, keeping
//! the aspect ratio (image bilinear, mask nearest); zero pad right / bottom to the base
//! size; random base x base crop; with p 0.5 a Gaussian blur of the image whose sigma is
//! uniform in [0, 1). Test: resize to base x base ([`Transform::Resize`], the reference) or
//! keep the native resolution ([`Transform::Native`]).
//! Finally ([`InputChannels`]): grayscale replicated to RGB and normalised with the
//! ImageNet mean / std (the authors' RRCA-Net code), or one grey channel normalised with the
//! dataset's mean / std (their BasicIRSTD pipeline).

use super::dataset::Sample;
use super::image_io::InfraredImage;
use super::resample::{flip_horizontal, gaussian_blur, resize_bilinear, resize_nearest, window};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// ImageNet channel means the reference normalises with (after scaling to [0, 1]).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations the reference normalises with.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// Channels of the reference input ([`InputChannels::ImageNetRgb`]): what the command-line
/// models take.
pub const RGB_CHANNELS: usize = IMAGENET_MEAN.len();

/// Network input channels and their normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum InputChannels {
    /// Three channels (grayscale replicated), ImageNet-normalised: the authors' RRCA-Net code.
    ImageNetRgb,
    /// One channel, the luminance on the 0..255 scale normalised as (value - mean) / std:
    /// the authors' BasicIRSTD pipeline (`Normalized` with a per-dataset `img_norm_cfg`).
    Gray {
        /// Mean intensity of the dataset, 0..255 scale.
        mean: f32,
        /// Standard deviation of the intensity, 0..255 scale.
        std: f32,
    },
}

impl InputChannels {
    /// One channel, the raw intensity in [0, 1].
    pub const RAW_GRAY: InputChannels = InputChannels::Gray {
        mean: 0.0,
        std: 255.0,
    };

    /// Number of channels.
    pub fn count(self) -> usize {
        match self {
            InputChannels::ImageNetRgb => RGB_CHANNELS,
            InputChannels::Gray { .. } => 1,
        }
    }

    /// The input value of channel `channel` for intensity `value` in [0, 1].
    pub fn normalise(self, channel: usize, value: f32) -> f32 {
        match self {
            InputChannels::ImageNetRgb => (value - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel],
            InputChannels::Gray { mean, std } => (value * 255.0 - mean) / std,
        }
    }

    /// BasicIRSTD's normalisation for a dataset of these images (their `get_img_norm_cfg`
    /// for datasets it has no table entry for): the mean of the per-image means and the mean
    /// of the per-image standard deviations of the luminance on the 0..255 scale. A
    /// constant dataset gets std 1, and no images the raw scale ([`InputChannels::RAW_GRAY`]).
    pub fn gray_for<'a>(images: impl IntoIterator<Item = &'a InfraredImage>) -> InputChannels {
        let (mut means, mut stds, mut count) = (0.0f64, 0.0f64, 0usize);
        for image in images {
            let luminance = image.luminance();
            let pixels = luminance.len().max(1) as f64;
            let mean = luminance.iter().map(|&v| f64::from(v) * 255.0).sum::<f64>() / pixels;
            let variance = luminance
                .iter()
                .map(|&v| (f64::from(v) * 255.0 - mean).powi(2))
                .sum::<f64>()
                / pixels;
            means += mean;
            stds += variance.sqrt();
            count += 1;
        }
        if count == 0 {
            return InputChannels::RAW_GRAY;
        }
        let std = stds / count as f64;
        InputChannels::Gray {
            mean: (means / count as f64) as f32,
            std: if std > 0.0 { std as f32 } else { 1.0 },
        }
    }
}

impl std::fmt::Display for InputChannels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputChannels::ImageNetRgb => {
                write!(f, "3 channels (grey replicated, ImageNet-normalised)")
            }
            InputChannels::Gray { mean, std } => {
                write!(
                    f,
                    "1 grey channel (normalised with mean {mean}, std {std} on 0..255)"
                )
            }
        }
    }
}

/// How a sample's geometry is prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// The reference training augmentation with this base (= crop) size.
    Augment {
        /// Base and crop size (256 in the reference).
        base_size: usize,
    },
    /// Resize to `size x size` (image bilinear, mask nearest): the reference test input.
    Resize {
        /// Output side (256 in the reference).
        size: usize,
    },
    /// Native resolution; batches are zero padded right / bottom to a multiple of
    /// `multiple` (2^(depth - 1) for a network that pools depth - 1 times).
    Native {
        /// The padded size must be a multiple of this.
        multiple: usize,
    },
}

/// A sample after the geometric transform, before normalisation and batching.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedSample {
    /// One plane (gray: replicated later if three channels are wanted) or three, in [0, 1].
    pub planes: Vec<Vec<f32>>,
    /// 0/1 target map of the same size.
    pub mask: Vec<u8>,
    /// Width of planes and mask.
    pub width: usize,
    /// Height of planes and mask.
    pub height: usize,
}

/// The reference training augmentation (draws from `rng` in the reference's order).
fn augment(
    mut planes: Vec<Vec<f32>>,
    mut mask: Vec<u8>,
    (height, width): (usize, usize),
    base_size: usize,
    rng: &mut impl Rng,
) -> PreparedSample {
    if rng.gen::<f64>() < 0.5 {
        planes.iter_mut().for_each(|p| flip_horizontal(p, width));
        flip_horizontal(&mut mask, width);
    }
    let long_size = rng.gen_range(base_size / 2..=base_size * 2);
    let scaled = |short: usize, long: usize| {
        ((short as f64 * long_size as f64 / long as f64 + 0.5) as usize).max(1)
    };
    let (out_height, out_width) = if height > width {
        (long_size, scaled(width, height))
    } else {
        (scaled(height, width), long_size)
    };
    let left = rng.gen_range(0..=out_width.max(base_size) - base_size);
    let top = rng.gen_range(0..=out_height.max(base_size) - base_size);
    let crop = |plane: &[f32]| {
        let resized = resize_bilinear(plane, height, width, out_height, out_width);
        window(
            &resized, out_height, out_width, top, left, base_size, base_size,
        )
    };
    let mut planes: Vec<Vec<f32>> = planes.iter().map(|p| crop(p)).collect();
    mask = resize_nearest(&mask, height, width, out_height, out_width);
    mask = window(
        &mask, out_height, out_width, top, left, base_size, base_size,
    );
    if rng.gen::<f64>() < 0.5 {
        let sigma = rng.gen::<f64>();
        planes
            .iter_mut()
            .for_each(|p| gaussian_blur(p, base_size, base_size, sigma));
    }
    PreparedSample {
        planes,
        mask,
        width: base_size,
        height: base_size,
    }
}

/// Applies `transform` to a sample; `rng` is used only by [`Transform::Augment`].
pub fn prepare(
    sample: &Sample,
    transform: Transform,
    channels: InputChannels,
    rng: &mut impl Rng,
) -> PreparedSample {
    let (height, width) = (sample.image.height, sample.image.width);
    let planes = match channels {
        InputChannels::ImageNetRgb => sample.image.planes.clone(),
        InputChannels::Gray { .. } => vec![sample.image.luminance()],
    };
    let mask = sample.mask.pixels.clone();
    match transform {
        Transform::Augment { base_size } => augment(planes, mask, (height, width), base_size, rng),
        Transform::Resize { size } => PreparedSample {
            planes: planes
                .iter()
                .map(|p| resize_bilinear(p, height, width, size, size))
                .collect(),
            mask: resize_nearest(&mask, height, width, size, size),
            width: size,
            height: size,
        },
        Transform::Native { .. } => PreparedSample {
            planes,
            mask,
            width,
            height,
        },
    }
}

/// Writes a prepared sample as `channels x height x width` network input into `out`
/// (and its mask as 0/1 into `mask_out`, `height x width`), top-left aligned; the rest is
/// zero-intensity padding (normalised like any pixel), mask 0.
pub fn write_input(
    prepared: &PreparedSample,
    channels: InputChannels,
    (height, width): (usize, usize),
    out: &mut [f32],
    mask_out: &mut [f32],
) {
    assert!(
        prepared.width <= width && prepared.height <= height,
        "batch too small"
    );
    assert_eq!(out.len(), channels.count() * height * width, "input size");
    for (channel, plane_out) in out.chunks_exact_mut(height * width).enumerate() {
        let plane = &prepared.planes[channel.min(prepared.planes.len() - 1)];
        plane_out.fill(channels.normalise(channel, 0.0));
        for (row_in, row_out) in plane
            .chunks_exact(prepared.width)
            .zip(plane_out.chunks_exact_mut(width))
        {
            for (o, &v) in row_out.iter_mut().zip(row_in) {
                *o = channels.normalise(channel, v);
            }
        }
    }
    mask_out.fill(0.0);
    for (row_in, row_out) in prepared
        .mask
        .chunks_exact(prepared.width)
        .zip(mask_out.chunks_exact_mut(width))
    {
        for (o, &m) in row_out.iter_mut().zip(row_in) {
            *o = f32::from(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// A sample whose image equals its mask: a random pattern of bright 10 x 10 cells.
    fn squares(height: usize, width: usize) -> Sample {
        let pixels: Vec<u8> = (0..width * height)
            .map(|i| {
                let cell = ((i % width) / 10 * 7919 + (i / width) / 10 * 104_729) as u64;
                u8::from((cell.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 61) % 2 == 1)
            })
            .collect();
        Sample::image_equal_to_mask("squares", height, width, pixels)
    }

    #[test]
    fn augmentation_is_deterministic_and_keeps_mask_aligned() {
        let sample = squares(80, 120);
        for seed in 0..40 {
            let mut rng = StdRng::seed_from_u64(seed);
            let a = prepare(
                &sample,
                Transform::Augment { base_size: 64 },
                InputChannels::RAW_GRAY,
                &mut rng,
            );
            let again = prepare(
                &sample,
                Transform::Augment { base_size: 64 },
                InputChannels::RAW_GRAY,
                &mut StdRng::seed_from_u64(seed),
            );
            assert_eq!(a, again);
            assert_eq!((a.width, a.height, a.mask.len()), (64, 64, 64 * 64));
            // Alignment: the image equals the mask before augmentation, so target pixels
            // stay bright and background dark (bilinear edges and blur blend a little);
            // the mirrored mask, misaligned, separates them far worse.
            let contrast = |mask: &[u8]| {
                let (mut target, mut background) = ((0.0, 0), (0.0, 0));
                for (&m, &v) in mask.iter().zip(&a.planes[0]) {
                    let side = if m == 1 { &mut target } else { &mut background };
                    *side = (side.0 + v, side.1 + 1);
                }
                target.0 / target.1.max(1) as f32 - background.0 / background.1.max(1) as f32
            };
            let mut mirrored = a.mask.clone();
            crate::data::resample::flip_horizontal(&mut mirrored, 64);
            let (aligned, misaligned) = (contrast(&a.mask), contrast(&mirrored));
            assert!(
                aligned > 0.6 && aligned > misaligned + 0.3,
                "seed {seed}: {aligned} vs {misaligned}"
            );
        }
    }

    #[test]
    fn grey_normalisation_is_basicirstd_img_norm_cfg() {
        // Image 1: values 0 and 255 (mean 127.5, std 127.5); image 2: constant 51 (std 0).
        let first = InfraredImage::gray(1, 2, vec![0.0, 1.0]).unwrap();
        let second = InfraredImage::gray(1, 2, vec![0.2, 0.2]).unwrap();
        let InputChannels::Gray { mean, std } = InputChannels::gray_for([&first, &second]) else {
            panic!("one channel expected");
        };
        assert!((mean - (127.5 + 51.0) / 2.0).abs() < 1e-4, "{mean}");
        assert!((std - 127.5 / 2.0).abs() < 1e-4, "{std}");
        let input = InputChannels::Gray { mean, std };
        assert_eq!(input.count(), 1);
        assert!((input.normalise(0, 0.2) - (51.0 - mean) / std).abs() < 1e-6);
        assert_eq!(
            InputChannels::gray_for([&second]),
            InputChannels::Gray {
                mean: 51.0,
                std: 1.0
            }
        );
        assert_eq!(InputChannels::gray_for([]), InputChannels::RAW_GRAY);
        assert_eq!(InputChannels::RAW_GRAY.normalise(0, 0.25), 0.25);
        let json = serde_json::to_string(&input).unwrap();
        assert!(json.contains(r#""kind":"gray""#), "{json}");
        assert_eq!(serde_json::from_str::<InputChannels>(&json).unwrap(), input);
    }

    #[test]
    fn resize_and_normalise_like_the_reference() {
        let sample = squares(20, 30);
        let mut rng = StdRng::seed_from_u64(0);
        let prepared = prepare(
            &sample,
            Transform::Resize { size: 16 },
            InputChannels::ImageNetRgb,
            &mut rng,
        );
        assert_eq!(
            (prepared.width, prepared.height, prepared.planes.len()),
            (16, 16, 1)
        );
        let mut input = vec![0.0; 3 * 18 * 17];
        let mut mask = vec![0.0; 18 * 17];
        write_input(
            &prepared,
            InputChannels::ImageNetRgb,
            (18, 17),
            &mut input,
            &mut mask,
        );
        for channel in 0..3 {
            let first = input[channel * 18 * 17];
            let expected = (prepared.planes[0][0] - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel];
            assert!((first - expected).abs() < 1e-6);
            let padding = input[channel * 18 * 17 + 17 * 17 + 16];
            assert!((padding + IMAGENET_MEAN[channel] / IMAGENET_STD[channel]).abs() < 1e-6);
        }
        assert_eq!(
            mask.iter().sum::<f32>() as usize,
            prepared.mask.iter().map(|&m| m as usize).sum::<usize>()
        );
    }
}
