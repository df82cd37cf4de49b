//! The IRSTD evaluation metrics, on plain arrays (no dfdx).
//!
//! - [`regions`]: 8- (or 4-) connected component labelling with areas and centroids, regions
//!   numbered in raster order of their first pixel as scikit-image numbers them.
//! - [`detection`]: target-level probability of detection (Pd) and false-alarm rate (Fa),
//!   greedy centroid matching within 3 px, with the reference code's area quirk available as
//!   [`Compatibility::Legacy`].
//! - [`counts`]: pixel confusion counts and the rates derived from them (IoU, pixel
//!   accuracy, TPR / FPR).
//! - [`roc`]: the threshold sweep (Pd against Fa, TPR against FPR) and the area under it.
//! - [`accumulator`]: [`MetricsAccumulator`], fed one image at a time by evaluation and
//!   training loops.
//! - [`mask_files`]: evaluating a directory of predicted PNG masks against ground truth.
//!
//! Definitions, conventions and measurements are in `notes/metrics.md`.

pub mod accumulator;
pub mod counts;
pub mod detection;
pub mod mask_files;
pub mod regions;
pub mod roc;

pub use accumulator::{
    ImageScore, MetricsAccumulator, MetricsConfig, MetricsError, ScoreKind, Scores, Summary,
};
pub use counts::Counts;
pub use detection::{match_targets, Compatibility, Detection, MATCH_DISTANCE};
pub use mask_files::{
    evaluate_mask_directories, pair_mask_files, GrayPng, MaskDirectoryEvaluation, MaskFileError,
    MaskPair, PredictionValues,
};
pub use regions::{Connectivity, Region, RegionLabeller};
pub use roc::{RocCurve, RocPoint, RocSweep};
