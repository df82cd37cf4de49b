//! Model-driven ("traditional") infrared small target detectors, the baselines of the paper's
//! Table I, scored by the same metrics as the networks.
//!
//! Each method turns a gray image into a target-saliency map ([`Baseline::saliency`]); a
//! per-image [`Threshold`] turns the map into a target mask:
//! - [`morphology`]: white top-hat (image minus its grey opening) with a flat square or
//!   disk structuring element;
//! - [`max_median`]: the image minus the largest of four directional medians;
//! - [`contrast`]: the multiscale patch-based contrast measure (MPCM, Wei et al. 2016);
//! - [`patch_image`]: the infrared patch-image model (IPI, Gao et al. 2013), robust PCA of
//!   the patch image by inexact ALM with the singular value decomposition of [`svd`].
//!
//! [`evaluate`] runs a method over a dataset split at native resolution and writes the same
//! files as `rrcanet eval`. Nothing here knows of the model; definitions, parameters and
//! measurements are in `notes/baselines.md`.

pub mod contrast;
mod evaluation;
pub mod max_median;
pub mod morphology;
pub mod patch_image;
pub mod svd;

pub use evaluation::{evaluate, BaselineReport};

use contrast::PatchContrast;
use max_median::MaxMedian;
use morphology::{StructuringElement, TopHat};
use patch_image::PatchImage;
use serde::Serialize;
use std::path::PathBuf;

/// A gray image (or a map computed from one): `height * width` values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Plane {
    height: usize,
    width: usize,
    values: Vec<f32>,
}

impl Plane {
    /// A plane of `height * width` row-major values; an error if the lengths disagree.
    pub fn new(height: usize, width: usize, values: Vec<f32>) -> Result<Self, BaselineError> {
        if values.len() != height * width {
            return Err(BaselineError::PlaneSize {
                length: values.len(),
                height,
                width,
            });
        }
        Ok(Self {
            height,
            width,
            values,
        })
    }

    /// A plane with the value `f(row, column)` at every pixel.
    pub fn from_fn(height: usize, width: usize, f: impl FnMut((usize, usize)) -> f32) -> Self {
        let values = (0..height)
            .flat_map(|row| (0..width).map(move |column| (row, column)))
            .map(f)
            .collect();
        Self {
            height,
            width,
            values,
        }
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The row-major values.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The value at (`row`, `column`), which must be inside the plane.
    pub fn at(&self, row: usize, column: usize) -> f32 {
        self.values[row * self.width + column]
    }

    /// The value at (`row`, `column`) with coordinates clamped to the plane (the border
    /// replicated).
    fn clamped(&self, row: isize, column: isize) -> f32 {
        let row = row.clamp(0, self.height as isize - 1) as usize;
        let column = column.clamp(0, self.width as isize - 1) as usize;
        self.values[row * self.width + column]
    }

    /// The values scaled to [0, 1] by their minimum and maximum (all 0 when constant): the
    /// scores of the ROC sweep.
    pub fn normalised(&self) -> Vec<f32> {
        let (low, high) = self
            .values
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(low, high), &v| {
                (low.min(v), high.max(v))
            });
        if high > low {
            self.values
                .iter()
                .map(|&v| (v - low) / (high - low))
                .collect()
        } else {
            vec![0.0; self.values.len()]
        }
    }
}

crate::named_enum! {
    /// A model-driven detector, by the name the command line takes.
    pub enum MethodName: "baseline method" {
        /// White top-hat.
        TopHat => "tophat",
        /// Max-median filter.
        MaxMedian => "maxmedian",
        /// Multiscale patch-based contrast measure.
        Mpcm => "mpcm",
        /// Infrared patch-image model.
        Ipi => "ipi",
    }
}

/// A method with its parameters.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Baseline {
    /// White top-hat.
    TopHat(TopHat),
    /// Max-median filter.
    MaxMedian(MaxMedian),
    /// Multiscale patch-based contrast measure.
    Mpcm(PatchContrast),
    /// Infrared patch-image model.
    Ipi(PatchImage),
}

/// Parameters a user may change; `None` keeps the method's default (see each method).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Settings {
    /// Structuring element side (top-hat), window side (max-median), largest cell side
    /// (MPCM) or patch side (IPI).
    pub size: Option<usize>,
    /// Top-hat only: a disk of diameter `size` instead of a square.
    pub disk: bool,
    /// IPI only: the sliding step between patches.
    pub step: Option<usize>,
    /// IPI only: the solver's relative-residual stopping tolerance.
    pub tolerance: Option<f64>,
}

impl Baseline {
    /// `method` with its default parameters, changed by `settings`.
    pub fn new(method: MethodName, settings: Settings) -> Result<Self, BaselineError> {
        let size = |default: usize| -> Result<usize, BaselineError> {
            match settings.size.unwrap_or(default) {
                size if size % 2 == 1 || method == MethodName::Ipi && size > 0 => Ok(size),
                size => Err(BaselineError::Parameter(format!(
                    "--size {size}: {method} needs an odd size"
                ))),
            }
        };
        if settings.disk && method != MethodName::TopHat {
            return Err(BaselineError::Parameter(format!(
                "a disk element is a top-hat parameter, not one of {method}"
            )));
        }
        if (settings.step.is_some() || settings.tolerance.is_some()) && method != MethodName::Ipi {
            return Err(BaselineError::Parameter(format!(
                "--step and --tolerance are IPI parameters, not ones of {method}"
            )));
        }
        Ok(match method {
            MethodName::TopHat => {
                let side = size(TopHat::default().element.side())?;
                let element = if settings.disk {
                    StructuringElement::Disk { diameter: side }
                } else {
                    StructuringElement::Square { side }
                };
                Baseline::TopHat(TopHat { element })
            }
            MethodName::MaxMedian => Baseline::MaxMedian(MaxMedian {
                window: size(MaxMedian::default().window)?,
            }),
            MethodName::Mpcm => match size(PatchContrast::default().largest_cell)? {
                largest_cell if largest_cell >= 3 => Baseline::Mpcm(PatchContrast { largest_cell }),
                small => {
                    return Err(BaselineError::Parameter(format!(
                        "--size {small}: MPCM's largest cell is at least 3"
                    )))
                }
            },
            MethodName::Ipi => {
                let defaults = PatchImage::default();
                let step = settings.step.unwrap_or(defaults.step);
                if step == 0 {
                    return Err(BaselineError::Parameter(
                        "--step 0: IPI needs a positive step".into(),
                    ));
                }
                let tolerance = settings.tolerance.unwrap_or(defaults.tolerance);
                if !(tolerance > 0.0 && tolerance < 1.0) {
                    return Err(BaselineError::Parameter(format!(
                        "--tolerance {tolerance}: IPI needs a tolerance in (0, 1)"
                    )));
                }
                Baseline::Ipi(PatchImage {
                    patch: size(defaults.patch)?,
                    step,
                    tolerance,
                    ..defaults
                })
            }
        })
    }

    /// The method's name.
    pub fn name(&self) -> MethodName {
        match self {
            Baseline::TopHat(_) => MethodName::TopHat,
            Baseline::MaxMedian(_) => MethodName::MaxMedian,
            Baseline::Mpcm(_) => MethodName::Mpcm,
            Baseline::Ipi(_) => MethodName::Ipi,
        }
    }

    /// The target-saliency map of a gray image (same size; larger = more target-like).
    pub fn saliency(&self, image: &Plane) -> Plane {
        match self {
            Baseline::TopHat(method) => method.apply(image),
            Baseline::MaxMedian(method) => method.apply(image),
            Baseline::Mpcm(method) => method.apply(image),
            Baseline::Ipi(method) => method.apply(image),
        }
    }
}

/// The fraction of the map's maximum in the adaptive threshold (DNANet, Li et al. 2023).
pub const ADAPTIVE_MAX_FRACTION: f32 = 0.7;
/// The multiple of the map's standard deviation in the adaptive threshold.
pub const ADAPTIVE_STD_MULTIPLE: f32 = 0.5;

/// How a saliency map becomes a target mask: a pixel is a target where its value is greater
/// than a threshold computed from the map of its own image.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Threshold {
    /// DNANet's rule for the traditional methods (Li et al., IEEE TIP 2023, Sec. IV):
    /// `max(0.7 * max(G), mean(G) + 0.5 * std(G))`.
    Adaptive,
    /// `mean(G) + k * std(G)`, the rule of the top-hat and IPI papers.
    MeanPlusStd(f32),
}

impl std::str::FromStr for Threshold {
    type Err = BaselineError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "adaptive" {
            return Ok(Threshold::Adaptive);
        }
        match text.parse::<f32>() {
            Ok(k) if k.is_finite() => Ok(Threshold::MeanPlusStd(k)),
            _ => Err(BaselineError::Parameter(format!(
                "threshold `{text}`: expected `adaptive` or a number k (mean + k * std)"
            ))),
        }
    }
}

impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Threshold::Adaptive => write!(
                f,
                "adaptive: max({ADAPTIVE_MAX_FRACTION} max, mean + {ADAPTIVE_STD_MULTIPLE} std)"
            ),
            Threshold::MeanPlusStd(k) => write!(f, "mean + {k} std"),
        }
    }
}

impl Threshold {
    /// The threshold value for `map` (statistics in `f64`).
    pub fn value(self, map: &Plane) -> f32 {
        let values = map.values();
        let count = values.len().max(1) as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / count;
        let variance = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / count;
        let mean_plus = |k: f32| (mean + f64::from(k) * variance.sqrt()) as f32;
        match self {
            Threshold::Adaptive => {
                let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                (ADAPTIVE_MAX_FRACTION * max).max(mean_plus(ADAPTIVE_STD_MULTIPLE))
            }
            Threshold::MeanPlusStd(k) => mean_plus(k),
        }
    }

    /// The target mask of `map`: its values greater than [`Threshold::value`].
    pub fn segment(self, map: &Plane) -> Vec<bool> {
        let threshold = self.value(map);
        map.values().iter().map(|&v| v > threshold).collect()
    }
}

/// Why a baseline could not run.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("a plane of {length} values is not {width} x {height}")]
    PlaneSize {
        length: usize,
        height: usize,
        width: usize,
    },
    #[error("{0}")]
    Parameter(String),
    #[error("{}: split scheme `{scheme}` has no `{part}` split", dataset.display())]
    MissingPart {
        dataset: PathBuf,
        scheme: String,
        part: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error(transparent)]
    Output(#[from] crate::inference::outputs::OutputError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_threshold_is_the_larger_of_its_two_terms() {
        // Mean 0.25, std 0.433: 0.7 * max = 0.7 dominates.
        let peak = Plane::new(2, 2, vec![1.0, 0.0, 0.0, 0.0]).unwrap();
        assert!((Threshold::Adaptive.value(&peak) - 0.7).abs() < 1e-6);
        assert_eq!(
            Threshold::Adaptive.segment(&peak),
            [true, false, false, false]
        );
        // Mean 0.975, std 0.0433: mean + 0.5 std = 0.9967 dominates 0.7.
        let flat = Plane::new(1, 4, vec![1.0, 1.0, 1.0, 0.9]).unwrap();
        let std = 0.0433013;
        assert!((Threshold::Adaptive.value(&flat) - (0.975 + 0.5 * std)).abs() < 1e-6);
        assert_eq!(
            Threshold::Adaptive.segment(&flat),
            [true, true, true, false]
        );
        assert!((Threshold::MeanPlusStd(2.0).value(&flat) - (0.975 + 2.0 * std)).abs() < 1e-6);
        let constant = Plane::new(1, 3, vec![0.0; 3]).unwrap();
        assert_eq!(Threshold::Adaptive.segment(&constant), [false; 3]);
    }

    #[test]
    fn thresholds_parse_from_the_command_line() {
        assert_eq!(
            "adaptive".parse::<Threshold>().unwrap(),
            Threshold::Adaptive
        );
        assert_eq!(
            "3".parse::<Threshold>().unwrap(),
            Threshold::MeanPlusStd(3.0)
        );
        for bad in ["", "inf", "three"] {
            assert!(bad.parse::<Threshold>().is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_are_checked_per_method() {
        let disk = Settings {
            size: Some(7),
            disk: true,
            ..Settings::default()
        };
        assert_eq!(
            Baseline::new(MethodName::TopHat, disk).unwrap(),
            Baseline::TopHat(TopHat {
                element: StructuringElement::Disk { diameter: 7 }
            })
        );
        assert!(Baseline::new(MethodName::MaxMedian, disk).is_err());
        let even = Settings {
            size: Some(4),
            ..Settings::default()
        };
        assert!(Baseline::new(MethodName::TopHat, even).is_err());
        assert!(Baseline::new(MethodName::Ipi, even).is_ok());
        let one = Settings {
            size: Some(1),
            ..Settings::default()
        };
        assert!(Baseline::new(MethodName::Mpcm, one).is_err());
        let step = Settings {
            step: Some(0),
            ..Settings::default()
        };
        assert!(Baseline::new(MethodName::Ipi, step).is_err());
        let tolerance = Settings {
            tolerance: Some(0.0),
            ..Settings::default()
        };
        assert!(Baseline::new(MethodName::Ipi, tolerance).is_err());
        assert!(Baseline::new(MethodName::TopHat, tolerance).is_err());
        assert!(Baseline::new(
            MethodName::Mpcm,
            Settings {
                step: Some(5),
                ..step
            }
        )
        .is_err());
        match Baseline::new(MethodName::Mpcm, Settings::default()).unwrap() {
            Baseline::Mpcm(method) => assert_eq!(method.cell_sides(), [3, 5, 7, 9]),
            other => panic!("{other:?}"),
        }
        assert!(Plane::new(2, 2, vec![0.0; 3]).is_err());
    }

    #[test]
    fn normalised_scores_span_zero_to_one() {
        let plane = Plane::new(1, 3, vec![-1.0, 0.0, 3.0]).unwrap();
        assert_eq!(plane.normalised(), [0.0, 0.25, 1.0]);
        let constant = Plane::new(1, 2, vec![5.0; 2]).unwrap();
        assert_eq!(constant.normalised(), [0.0, 0.0]);
    }
}
