//! Data: IRSTD datasets on disk, the reference preprocessing, batching, and the synthetic
//! infrared dataset the tools fall back on.
//!
//! - [`image_io`]: the one way pixels are read (images as [0, 1] / RGB, masks as 0/1).
//! - [`layout`] and [`dataset`]: the SIRST release, DNANet and BasicIRSTD folder layouts,
//!   recognised automatically, validated with every problem reported at once.
//! - [`resample`] and [`preprocess`]: PIL-compatible resizing and blur, the reference
//!   training augmentation and test resizing, ImageNet normalisation.
//! - [`loader`]: parallel, prefetched, seed-deterministic NCHW batches.
//!
//! Nothing here depends on the model or on dfdx: batches are plain `Vec<f32>`.

pub mod dataset;
pub mod image_io;
pub mod layout;
pub mod loader;
pub mod preprocess;
pub mod resample;
mod seeding;
pub mod synthetic;

pub use dataset::{
    folder_name, split_off_validation, Dataset, DatasetError, DatasetOptions, DatasetProblem,
    DatasetWarning, Sample, TargetStatistics,
};
pub use image_io::{
    image_size, read_image, read_mask, ImageReadError, InfraredImage, PlaneSizeError, TargetMask,
};
pub use loader::{Batch, BatchLoader, BatchingError, LoaderConfig};
pub use preprocess::{InputChannels, Transform, RGB_CHANNELS};
