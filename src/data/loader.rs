//! Batching: samples prepared in parallel (rayon) and produced ahead of use by a background
//! thread through a bounded channel, so the training loop never waits on data.
//!
//! Every random draw is reproducible: the epoch's shuffle comes from (seed, epoch) and each
//! sample's augmentation from its own generator seeded by (seed, epoch, sample index), so
//! the result does not depend on thread scheduling or batch composition.

use super::dataset::Sample;
use super::preprocess::{prepare, write_input, InputChannels, Transform};
use super::seeding::derived_rng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A batch of network inputs and target masks (plain NCHW `f32` arrays).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `N x C x H x W` normalised input.
    pub images: Vec<f32>,
    /// `N x 1 x H x W` target masks, 0 or 1.
    pub masks: Vec<f32>,
    /// Sample ids, in batch order.
    pub ids: Vec<String>,
    /// Per sample (height, width) of the valid, unpadded region (top-left); metrics must
    /// only look there.
    pub valid_sizes: Vec<(usize, usize)>,
    /// C.
    pub channels: usize,
    /// H.
    pub height: usize,
    /// W.
    pub width: usize,
}

impl Batch {
    /// Number of samples N.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// How batches are made.
#[derive(Debug, Clone, PartialEq)]
pub struct LoaderConfig {
    /// Samples per batch.
    pub batch_size: usize,
    /// Geometric transform (augmentation for training).
    pub transform: Transform,
    /// Input channels and normalisation.
    pub channels: InputChannels,
    /// Shuffle the order every epoch.
    pub shuffle: bool,
    /// Drop the last incomplete batch (the reference does for training).
    pub drop_last: bool,
    /// Seed of the shuffle and the augmentation.
    pub seed: u64,
    /// Batches prepared ahead of use.
    pub prefetch: usize,
}

impl LoaderConfig {
    /// The reference training setup: augmentation at base size 256, ImageNet RGB input,
    /// shuffled, last incomplete batch dropped.
    pub fn training(batch_size: usize, seed: u64) -> Self {
        Self {
            batch_size,
            transform: Transform::Augment { base_size: 256 },
            channels: InputChannels::ImageNetRgb,
            shuffle: true,
            drop_last: true,
            seed,
            prefetch: 2,
        }
    }

    /// The reference test setup: resized to 256 x 256, in order, every sample.
    pub fn evaluation(batch_size: usize) -> Self {
        Self {
            batch_size,
            transform: Transform::Resize { size: 256 },
            channels: InputChannels::ImageNetRgb,
            shuffle: false,
            drop_last: false,
            seed: 0,
            prefetch: 2,
        }
    }
}

/// Why batches (or the validation part they are drawn from) cannot be made from what the
/// caller passed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchingError {
    /// A batch size of 0.
    #[error("the batch size must be at least 1")]
    BatchSize,
    /// A transform whose size is 0 (or 1 for the augmentation's base size).
    #[error("the transform {0:?} needs a positive size (an augmentation base size of at least 2)")]
    TransformSize(Transform),
    /// A sample index beyond the samples.
    #[error("sample index {index} is out of range for {samples} samples")]
    SampleIndex {
        /// The index.
        index: usize,
        /// How many samples there are.
        samples: usize,
    },
    /// A validation fraction outside [0, 1).
    #[error("the validation fraction must lie in [0, 1), got {0}")]
    ValidationFraction(f64),
}

/// Makes batches of some samples of a dataset (e.g. one split).
#[derive(Debug, Clone)]
pub struct BatchLoader {
    samples: Arc<Vec<Sample>>,
    indices: Vec<usize>,
    config: LoaderConfig,
}

impl BatchLoader {
    /// A loader over `samples[i]` for `i` in `indices`.
    pub fn new(
        samples: Arc<Vec<Sample>>,
        indices: Vec<usize>,
        config: LoaderConfig,
    ) -> Result<Self, BatchingError> {
        if config.batch_size == 0 {
            return Err(BatchingError::BatchSize);
        }
        let size_ok = match config.transform {
            Transform::Augment { base_size } => base_size >= 2,
            Transform::Resize { size } => size > 0,
            Transform::Native { multiple } => multiple > 0,
        };
        if !size_ok {
            return Err(BatchingError::TransformSize(config.transform));
        }
        if let Some(&index) = indices.iter().find(|&&i| i >= samples.len()) {
            return Err(BatchingError::SampleIndex {
                index,
                samples: samples.len(),
            });
        }
        Ok(Self {
            samples,
            indices,
            config,
        })
    }

    /// Number of batches one epoch yields.
    pub fn batches_per_epoch(&self) -> usize {
        let n = self.indices.len();
        if self.config.drop_last {
            n / self.config.batch_size
        } else {
            n.div_ceil(self.config.batch_size)
        }
    }

    /// Sample indices of each batch of `epoch`.
    pub fn epoch_order(&self, epoch: u64) -> Vec<Vec<usize>> {
        let mut order = self.indices.clone();
        if self.config.shuffle {
            order.shuffle(&mut derived_rng(self.config.seed, epoch, u64::MAX));
        }
        order
            .chunks(self.config.batch_size)
            .take(self.batches_per_epoch())
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// Prepares the given samples (in parallel, at least one) as one batch of `epoch`.
    fn load_batch(&self, epoch: u64, members: &[usize]) -> Batch {
        assert!(!members.is_empty(), "a batch needs at least one sample");
        let config = &self.config;
        let prepared: Vec<_> = members
            .par_iter()
            .map(|&index| {
                let mut rng = derived_rng(config.seed, epoch, index as u64);
                prepare(
                    &self.samples[index],
                    config.transform,
                    config.channels,
                    &mut rng,
                )
            })
            .collect();
        let round_up = |size: usize| match config.transform {
            Transform::Native { multiple } => size.div_ceil(multiple) * multiple,
            _ => size,
        };
        let height = round_up(prepared.iter().map(|p| p.height).max().unwrap_or(0));
        let width = round_up(prepared.iter().map(|p| p.width).max().unwrap_or(0));
        let channels = config.channels.count();
        let mut images = vec![0.0f32; members.len() * channels * height * width];
        let mut masks = vec![0.0f32; members.len() * height * width];
        images
            .par_chunks_exact_mut(channels * height * width)
            .zip(masks.par_chunks_exact_mut(height * width))
            .zip(&prepared)
            .for_each(|((image, mask), p)| {
                write_input(p, config.channels, (height, width), image, mask)
            });
        Batch {
            images,
            masks,
            ids: members
                .iter()
                .map(|&i| self.samples[i].id.clone())
                .collect(),
            valid_sizes: prepared.iter().map(|p| (p.height, p.width)).collect(),
            channels,
            height,
            width,
        }
    }

    /// The batches of `epoch`, prepared ahead by a background thread.
    pub fn epoch(&self, epoch: u64) -> PrefetchedBatches {
        let (sender, receiver) = sync_channel(self.config.prefetch.max(1));
        let loader = self.clone();
        let worker = std::thread::spawn(move || {
            for members in loader.epoch_order(epoch) {
                if sender.send(loader.load_batch(epoch, &members)).is_err() {
                    break;
                }
            }
        });
        PrefetchedBatches {
            receiver: Some(receiver),
            worker: Some(worker),
        }
    }
}

/// Iterator over one epoch's batches, made by a background thread. Dropping it early
/// stops the thread.
#[derive(Debug)]
pub struct PrefetchedBatches {
    receiver: Option<Receiver<Batch>>,
    worker: Option<JoinHandle<()>>,
}

impl PrefetchedBatches {
    fn finish(&mut self) {
        self.receiver.take();
        if let Some(Err(panic)) = self.worker.take().map(JoinHandle::join) {
            std::panic::resume_unwind(panic);
        }
    }
}

impl Iterator for PrefetchedBatches {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let batch = self.receiver.as_ref()?.recv().ok();
        if batch.is_none() {
            self.finish();
        }
        batch
    }
}

impl Drop for PrefetchedBatches {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(count: usize) -> Arc<Vec<Sample>> {
        let sample = |i: usize| {
            let (width, height) = (20 + i, 12 + 2 * i);
            let pixels: Vec<u8> = (0..width * height)
                .map(|p| u8::from(p % 7 == i % 7))
                .collect();
            Sample::image_equal_to_mask(&format!("s{i}"), height, width, pixels)
        };
        Arc::new((0..count).map(sample).collect())
    }

    #[test]
    fn training_epochs_shuffle_drop_last_and_repeat_per_seed() {
        let mut config = LoaderConfig::training(3, 5);
        config.transform = Transform::Augment { base_size: 16 };
        let loader = BatchLoader::new(samples(8), (0..8).collect(), config).unwrap();
        let first: Vec<Batch> = loader.epoch(0).collect();
        assert_eq!(first.len(), 2);
        assert!(first
            .iter()
            .all(|b| b.len() == 3 && b.images.len() == 3 * 3 * 16 * 16));
        assert_eq!(first, loader.epoch(0).collect::<Vec<_>>());
        assert_ne!(first[0].ids, loader.epoch(1).next().unwrap().ids);
        // A sample's augmentation does not depend on which batch it lands in.
        let batch = &first[0];
        let index: usize = batch.ids[1][1..].parse().unwrap();
        let alone = loader.load_batch(0, &[index]);
        assert_eq!(alone.images[..], batch.images[3 * 256..6 * 256]);
    }

    #[test]
    fn impossible_configurations_are_errors() {
        let mut config = LoaderConfig::evaluation(0);
        let loader = |config: &LoaderConfig, indices| {
            BatchLoader::new(samples(2), indices, config.clone()).unwrap_err()
        };
        assert_eq!(loader(&config, vec![0]), BatchingError::BatchSize);
        config.batch_size = 1;
        config.transform = Transform::Resize { size: 0 };
        assert!(matches!(
            loader(&config, vec![0]),
            BatchingError::TransformSize(_)
        ));
        config.transform = Transform::Resize { size: 8 };
        assert_eq!(
            loader(&config, vec![2]),
            BatchingError::SampleIndex {
                index: 2,
                samples: 2
            }
        );
    }

    #[test]
    fn native_batches_pad_to_the_multiple_and_keep_valid_sizes() {
        let config = LoaderConfig {
            transform: Transform::Native { multiple: 8 },
            channels: InputChannels::RAW_GRAY,
            ..LoaderConfig::evaluation(2)
        };
        let loader = BatchLoader::new(samples(3), vec![0, 1, 2], config).unwrap();
        let batches: Vec<Batch> = loader.epoch(0).collect();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].valid_sizes, vec![(12, 20), (14, 21)]);
        assert_eq!((batches[0].height, batches[0].width), (16, 24));
        assert_eq!(batches[1].ids, vec!["s2"]);
        // Mask pixels survive exactly; padding is background.
        let total: f32 = batches.iter().flat_map(|b| &b.masks).sum();
        let expected: usize = loader.samples.iter().map(|s| s.mask.target_pixels()).sum();
        assert_eq!(total as usize, expected);
    }
}
