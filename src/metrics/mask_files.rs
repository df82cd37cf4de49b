//! Evaluating a directory of predicted masks against a directory of ground-truth masks.
//!
//! Files are PNGs and pair by name; a name may carry the `_pixels0` suffix of the SIRST
//! release (`Misc_1_pixels0.png` pairs with `Misc_1.png`). A prediction pixel is a target
//! where its probability exceeds the threshold, the probability being value / 255 for 8-bit
//! PNGs and value / 65535 for 16-bit ones; 1-, 2- and 4-bit PNGs are masks, where every
//! non-zero pixel is a target. A ground-truth pixel is a target where it is non-zero. The
//! PNG is decoded with the `png` crate directly because the `image` crate rescales low bit
//! depths to 8 bits (a 1-bit mask decodes to 0 / 255) and no longer reports the original
//! depth. Palette PNGs are read through their palette; colour PNGs are accepted only when
//! every pixel is gray (R = G = B). Alpha is ignored.
//!
//! Other toolboxes write 8-bit masks with values 0 and 1; read as probabilities they would
//! be all background (1 / 255). A prediction folder whose 8- and 16-bit files have the
//! maximum value 1 is therefore read as 0/1 masks (non-zero = target), and the evaluation
//! says so ([`PredictionValues::ZeroOneMasks`]).

use super::accumulator::{MetricsAccumulator, MetricsConfig, MetricsError, ScoreKind};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The suffix of SIRST ground-truth file names, ignored when pairing.
pub const SIRST_MASK_SUFFIX: &str = "_pixels0";

/// How many unpaired names an error lists before summarising.
const LISTED_NAMES: usize = 10;

/// Why a directory of masks could not be evaluated.
#[derive(Debug, Error)]
pub enum MaskFileError {
    /// A file or directory could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not a valid PNG.
    #[error("cannot decode {path} as PNG")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's error.
        source: png::DecodingError,
    },
    /// A colour PNG has a pixel that is not gray.
    #[error("{path} is a colour PNG with a non-gray pixel at row {row}, column {column}; masks must be grayscale")]
    NotGrayscale {
        /// The file.
        path: PathBuf,
        /// Row of the first colour pixel.
        row: usize,
        /// Column of the first colour pixel.
        column: usize,
    },
    /// A directory holds no PNG file.
    #[error("no PNG files in {0}")]
    NoPngFiles(PathBuf),
    /// Two files of one directory pair under the same name.
    #[error("{first} and {second} both pair as \"{name}\"")]
    DuplicateName {
        /// The shared name.
        name: String,
        /// One file.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// Files of one directory have no counterpart in the other.
    #[error("{count} {kind} in {dir} have no counterpart in {other_dir}: {names}")]
    Unpaired {
        /// "prediction(s)" or "ground-truth mask(s)".
        kind: &'static str,
        /// How many.
        count: usize,
        /// Where they are.
        dir: PathBuf,
        /// Where their counterparts should be.
        other_dir: PathBuf,
        /// Their file names (the first few).
        names: String,
    },
    /// A prediction and its ground truth differ in size.
    #[error("size mismatch: prediction {prediction} is {prediction_size} but ground truth {ground_truth} is {ground_truth_size} (width x height)")]
    SizeMismatch {
        /// The prediction file.
        prediction: PathBuf,
        /// Its size.
        prediction_size: String,
        /// The ground-truth file.
        ground_truth: PathBuf,
        /// Its size.
        ground_truth_size: String,
    },
    /// The metrics configuration is invalid.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
}

/// A grayscale image as stored: one value per pixel and the range those values span.
#[derive(Clone, Debug, PartialEq)]
pub struct GrayPng {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Row-major values.
    pub values: Vec<u16>,
    /// The largest value the format can hold (255 or 65535).
    pub max_value: u16,
    /// Whether the file is a 1-, 2- or 4-bit grayscale PNG (a mask: non-zero = target).
    pub low_bit_depth: bool,
}

impl GrayPng {
    /// Reads a PNG file (see the module docs for the formats accepted).
    pub fn read(path: &Path) -> Result<Self, MaskFileError> {
        let file = File::open(path).map_err(|source| MaskFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        let decode_error = |source| MaskFileError::Decode {
            path: path.to_owned(),
            source,
        };
        let mut decoder = png::Decoder::new(BufReader::new(file));
        // EXPAND unpacks low bit depths to 8 bits (scaling them: 1-bit 1 becomes 255) and
        // palette indices to RGB(A); 16-bit samples stay 16-bit.
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().map_err(decode_error)?;
        let source = reader.info();
        let low_bit_depth = matches!(
            source.color_type,
            png::ColorType::Grayscale | png::ColorType::GrayscaleAlpha
        ) && (source.bit_depth as u8) < 8;
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| decode_error(png::DecodingError::LimitsExceeded))?;
        let mut buffer = vec![0; size];
        let frame = reader.next_frame(&mut buffer).map_err(decode_error)?;
        let (width, height) = (frame.width as usize, frame.height as usize);
        let channels = frame.color_type.samples();
        let sample_bytes = if frame.bit_depth == png::BitDepth::Sixteen {
            2
        } else {
            1
        };
        let mut values = Vec::with_capacity(width * height);
        for (row, line) in buffer
            .chunks_exact(frame.line_size)
            .take(height)
            .enumerate()
        {
            for (column, pixel) in line
                .chunks_exact(channels * sample_bytes)
                .take(width)
                .enumerate()
            {
                let sample = |channel: usize| {
                    let at = channel * sample_bytes;
                    if sample_bytes == 2 {
                        u16::from_be_bytes([pixel[at], pixel[at + 1]])
                    } else {
                        u16::from(pixel[at])
                    }
                };
                let gray = sample(0);
                let is_colour =
                    matches!(frame.color_type, png::ColorType::Rgb | png::ColorType::Rgba)
                        && (sample(1) != gray || sample(2) != gray);
                if is_colour {
                    return Err(MaskFileError::NotGrayscale {
                        path: path.to_owned(),
                        row,
                        column,
                    });
                }
                values.push(gray);
            }
        }
        Ok(Self {
            width,
            height,
            values,
            max_value: if sample_bytes == 2 { u16::MAX } else { 255 },
            low_bit_depth,
        })
    }

    /// Prediction probabilities: 1 / 0 for low-bit-depth masks and when the folder holds
    /// 0/1 masks, value / max otherwise.
    pub fn probabilities(&self, values: PredictionValues) -> Vec<f32> {
        let max = f32::from(self.max_value);
        let as_mask = self.low_bit_depth || values == PredictionValues::ZeroOneMasks;
        self.values
            .iter()
            .map(|&value| match as_mask {
                true => f32::from(u8::from(value != 0)),
                false => f32::from(value) / max,
            })
            .collect()
    }

    /// The largest value stored, `None` for low-bit-depth masks (which are masks anyway).
    fn largest_probability_value(&self) -> Option<u16> {
        (!self.low_bit_depth).then(|| self.values.iter().copied().max().unwrap_or(0))
    }

    /// Ground-truth targets: every non-zero pixel.
    pub fn targets(&self) -> Vec<bool> {
        self.values.iter().map(|&value| value != 0).collect()
    }
}

/// How the values of a folder of 8- and 16-bit predictions are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum PredictionValues {
    /// value / 255 (or / 65535) is the target probability.
    #[serde(rename = "probabilities")]
    Probabilities,
    /// The folder's maximum value is 1: 0/1 masks, non-zero = target.
    #[serde(rename = "0/1 masks")]
    ZeroOneMasks,
}

/// The metrics of a prediction folder and how its values were read.
#[derive(Debug)]
pub struct MaskDirectoryEvaluation {
    /// The metrics.
    pub metrics: MetricsAccumulator,
    /// How the predictions' values were read.
    pub predictions: PredictionValues,
}

/// A prediction file and its ground truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskPair {
    /// The shared name (file stem without the SIRST suffix).
    pub name: String,
    /// The prediction file.
    pub prediction: PathBuf,
    /// The ground-truth file.
    pub ground_truth: PathBuf,
}

/// The PNG files of `dir` by pairing name.
fn png_files_by_name(dir: &Path) -> Result<BTreeMap<String, PathBuf>, MaskFileError> {
    let io_error = |source| MaskFileError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        let is_png = path
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("png"));
        if !is_png || !path.is_file() {
            continue;
        }
        let stem = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = stem
            .strip_suffix(SIRST_MASK_SUFFIX)
            .unwrap_or(&stem)
            .to_owned();
        if let Some(first) = files.insert(name.clone(), path.clone()) {
            return Err(MaskFileError::DuplicateName {
                name,
                first,
                second: path,
            });
        }
    }
    if files.is_empty() {
        return Err(MaskFileError::NoPngFiles(dir.to_owned()));
    }
    Ok(files)
}

/// An error listing the files of `files` (in `dir`) whose name is not in `other` (in
/// `other_dir`), if any.
fn unpaired_files(
    kind: &'static str,
    files: &BTreeMap<String, PathBuf>,
    dir: &Path,
    other: &BTreeMap<String, PathBuf>,
    other_dir: &Path,
) -> Result<(), MaskFileError> {
    let missing: Vec<String> = files
        .iter()
        .filter(|(name, _)| !other.contains_key(*name))
        .map(|(_, path)| {
            path.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut names = missing[..missing.len().min(LISTED_NAMES)].join(", ");
    if missing.len() > LISTED_NAMES {
        names += &format!(" and {} more", missing.len() - LISTED_NAMES);
    }
    Err(MaskFileError::Unpaired {
        kind,
        count: missing.len(),
        dir: dir.to_owned(),
        other_dir: other_dir.to_owned(),
        names,
    })
}

/// Pairs the PNG files of two directories by name, in name order; every file must have a
/// counterpart.
pub fn pair_mask_files(
    prediction_dir: &Path,
    ground_truth_dir: &Path,
) -> Result<Vec<MaskPair>, MaskFileError> {
    let predictions = png_files_by_name(prediction_dir)?;
    let ground_truths = png_files_by_name(ground_truth_dir)?;
    unpaired_files(
        "prediction(s)",
        &predictions,
        prediction_dir,
        &ground_truths,
        ground_truth_dir,
    )?;
    unpaired_files(
        "ground-truth mask(s)",
        &ground_truths,
        ground_truth_dir,
        &predictions,
        prediction_dir,
    )?;
    // Both maps now hold the same names, and iterate in name order.
    Ok(predictions
        .into_iter()
        .zip(ground_truths.into_values())
        .map(|((name, prediction), ground_truth)| MaskPair {
            name,
            prediction,
            ground_truth,
        })
        .collect())
}

/// Evaluates every prediction PNG of `prediction_dir` against its ground truth in
/// `ground_truth_dir`. The PNGs hold probabilities (or 0/1 masks, see the module docs), so
/// `config.scores` is ignored.
pub fn evaluate_mask_directories(
    prediction_dir: &Path,
    ground_truth_dir: &Path,
    config: MetricsConfig,
) -> Result<MaskDirectoryEvaluation, MaskFileError> {
    let mut metrics = MetricsAccumulator::new(MetricsConfig {
        scores: ScoreKind::Probability,
        ..config
    })?;
    let pairs = pair_mask_files(prediction_dir, ground_truth_dir)?;
    let mut largest = None;
    for pair in &pairs {
        largest = largest.max(GrayPng::read(&pair.prediction)?.largest_probability_value());
    }
    let predictions = match largest {
        Some(1) => PredictionValues::ZeroOneMasks,
        _ => PredictionValues::Probabilities,
    };
    for pair in pairs {
        let prediction = GrayPng::read(&pair.prediction)?;
        let ground_truth = GrayPng::read(&pair.ground_truth)?;
        if (prediction.width, prediction.height) != (ground_truth.width, ground_truth.height) {
            return Err(MaskFileError::SizeMismatch {
                prediction: pair.prediction,
                prediction_size: format!("{}x{}", prediction.width, prediction.height),
                ground_truth: pair.ground_truth,
                ground_truth_size: format!("{}x{}", ground_truth.width, ground_truth.height),
            });
        }
        metrics.update(
            &prediction.probabilities(predictions),
            &ground_truth.targets(),
            prediction.height,
            prediction.width,
        )?;
    }
    Ok(MaskDirectoryEvaluation {
        metrics,
        predictions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufWriter;

    /// Writes a 4 x 1 PNG with the given colour type, bit depth, optional palette and packed
    /// row bytes.
    fn write_png(
        path: &Path,
        colour: png::ColorType,
        depth: png::BitDepth,
        palette: Option<&[u8]>,
        row: &[u8],
    ) {
        let file = BufWriter::new(File::create(path).unwrap());
        let mut encoder = png::Encoder::new(file, 4, 1);
        encoder.set_color(colour);
        encoder.set_depth(depth);
        if let Some(palette) = palette {
            encoder.set_palette(palette.to_vec());
        }
        encoder
            .write_header()
            .unwrap()
            .write_image_data(row)
            .unwrap();
    }

    #[test]
    fn low_bit_depth_masks_are_targets_wherever_non_zero() {
        // 4-bit values 0, 1, 15, 0: EXPAND scales 1 to 17 (17 / 255 < 0.5), yet it is a target.
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("mask.png");
        write_png(
            &path,
            png::ColorType::Grayscale,
            png::BitDepth::Four,
            None,
            &[0x01, 0xF0],
        );
        let mask = GrayPng::read(&path).unwrap();
        assert!(mask.low_bit_depth);
        assert_eq!(
            mask.probabilities(PredictionValues::Probabilities),
            vec![0.0, 1.0, 1.0, 0.0]
        );
        assert_eq!(mask.targets(), vec![false, true, true, false]);
    }

    #[test]
    fn palette_pngs_read_through_their_palette() {
        // 1-bit indices 0, 1, 1, 0 into a black / white palette.
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("mask.png");
        write_png(
            &path,
            png::ColorType::Indexed,
            png::BitDepth::One,
            Some(&[0, 0, 0, 255, 255, 255]),
            &[0b0110_0000],
        );
        let mask = GrayPng::read(&path).unwrap();
        assert!(!mask.low_bit_depth);
        assert_eq!(mask.values, vec![0, 255, 255, 0]);
        assert_eq!(
            mask.probabilities(PredictionValues::Probabilities),
            vec![0.0, 1.0, 1.0, 0.0]
        );
    }

    #[test]
    fn eight_bit_maps_are_probabilities() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("map.png");
        write_png(
            &path,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            None,
            &[0, 127, 128, 255],
        );
        let map = GrayPng::read(&path).unwrap();
        let probabilities = map.probabilities(PredictionValues::Probabilities);
        assert_eq!(
            map.probabilities(PredictionValues::ZeroOneMasks),
            vec![0.0, 1.0, 1.0, 1.0]
        );
        assert_eq!(probabilities[1], 127.0 / 255.0);
        assert!(probabilities[1] < 0.5 && probabilities[2] > 0.5);
        assert_eq!(map.targets(), vec![false, true, true, true]);
    }
}
