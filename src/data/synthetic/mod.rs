//! The synthetic infrared small-target dataset: the built-in default when no real dataset
//! is given, realistic enough that a model trained on it is not useless on real images.
//!
//! Each image is a background ([`scene`]: cloud clutter, sea with glint, ground with lamps
//! and edges, horizon, sensor noise and column stripes) with 0 to 5 small targets
//! ([`targets`]: Gaussian point-spread spots and irregular shapes up to 9 x 9 px) whose
//! signal-to-clutter ratio against a local background ring is drawn log-uniformly from
//! [1, 10] (configurable: the quick start uses brighter targets). About 10 % of the images have no target and 15 % of the others a dense cluster
//! of 3 to 5 targets a few pixels apart. Every image depends only on (seed, index).
//!
//! On disk it is a DNANet-layout dataset: `images/ID.png`, `masks/ID.png` (0 / 255),
//! `80_20/train.txt`, `80_20/test.txt`, and `synthetic.json` (configuration and statistics).

pub mod scene;
pub mod targets;

use super::seeding::derived_rng;
use crate::progress::Progress;
use rand::Rng;
use rayon::prelude::*;
use scene::SceneKind;
use std::path::{Path, PathBuf};
use targets::{random_shape, ring_statistics, TargetKind, TargetShape, TEMPLATE_SIDE};
use thiserror::Error;

/// Folder of the split files (80 % train, 20 % test).
pub const SPLIT_FOLDER: &str = "80_20";
/// Where [`ensure_synthetic_dataset`]'s callers keep generated datasets by default.
pub const DEFAULT_SYNTHETIC_ROOT: &str = "data/synthetic";
/// File with the configuration and statistics of a generated dataset.
pub const SUMMARY_FILE: &str = "synthetic.json";
/// Version of the generator; a cached dataset made by another version is not reused.
pub const GENERATOR_VERSION: u32 = 1;
/// Smallest supported image side.
pub const MIN_SIZE: usize = 32;
/// Largest supported image side: one image being generated takes about 0.7 GB at 4000 px
/// (notes/reliability-inputs.md), one per thread.
pub const MAX_SIZE: usize = 4096;
/// Fraction of images without any target.
const EMPTY_FRACTION: f64 = 0.1;
/// Fraction of images with targets that show a dense cluster.
const CLUSTER_FRACTION: f64 = 0.15;
/// Default range of the signal-to-clutter ratio targets are drawn with (log-uniform).
pub const DEFAULT_SIGNAL_TO_CLUTTER: SignalToClutter = SignalToClutter {
    min: 1.0,
    max: 10.0,
};
/// Relative frequencies of 1, 2, 3, 4 and 5 targets in an image with scattered targets.
const TARGET_COUNT_WEIGHTS: [f64; 5] = [0.5, 0.25, 0.12, 0.08, 0.05];
/// Distinguishes the generator's random streams from the data loader's.
const GENERATOR_STREAM: u64 = 0x5359_4E54;

/// The range targets' signal-to-clutter ratios are drawn from, log-uniformly.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SignalToClutter {
    /// Lowest ratio (positive).
    pub min: f64,
    /// Highest ratio (at least `min`).
    pub max: f64,
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SyntheticConfig {
    /// Number of images.
    pub count: usize,
    /// Image side in pixels (square images).
    pub size: usize,
    /// Seed; the same seed gives the same dataset.
    pub seed: u64,
    /// [`GENERATOR_VERSION`] of the generator.
    pub generator_version: u32,
    /// Range of the targets' signal-to-clutter ratios.
    #[serde(default = "default_signal_to_clutter")]
    pub signal_to_clutter: SignalToClutter,
}

fn default_signal_to_clutter() -> SignalToClutter {
    DEFAULT_SIGNAL_TO_CLUTTER
}

impl SyntheticConfig {
    /// A configuration for the current generator with the default signal-to-clutter range.
    pub fn new(count: usize, size: usize, seed: u64) -> Self {
        Self {
            count,
            size,
            seed,
            generator_version: GENERATOR_VERSION,
            signal_to_clutter: DEFAULT_SIGNAL_TO_CLUTTER,
        }
    }

    /// The same configuration with targets' signal-to-clutter ratios drawn from `range`.
    pub fn with_signal_to_clutter(self, range: SignalToClutter) -> Self {
        Self {
            signal_to_clutter: range,
            ..self
        }
    }

    /// The cache folder for this configuration under [`DEFAULT_SYNTHETIC_ROOT`].
    pub fn default_dir(&self) -> PathBuf {
        let SignalToClutter { min, max } = self.signal_to_clutter;
        Path::new(DEFAULT_SYNTHETIC_ROOT).join(format!(
            "n{}-size{}-seed{}-scr{min}-{max}-v{}",
            self.count, self.size, self.seed, self.generator_version
        ))
    }
}

/// One target of a generated image.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SyntheticTarget {
    /// Column of the footprint's centre.
    pub x: f32,
    /// Row of the footprint's centre.
    pub y: f32,
    /// Footprint area in pixels (its region in the mask).
    pub area: usize,
    /// Point-spread spot or irregular shape.
    pub kind: TargetKind,
    /// Signal-to-clutter ratio measured in the final 8-bit image: (mean over the footprint
    /// - ring mean) / ring standard deviation.
    pub signal_to_clutter: f32,
}

/// A generated image with its mask and what is in it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticImage {
    /// The background kind.
    pub scene: SceneKind,
    /// Whether the targets form a dense cluster.
    pub clustered: bool,
    /// 8-bit grayscale pixels, row-major.
    pub pixels: Vec<u8>,
    /// 0/1 target mask, row-major.
    pub mask: Vec<u8>,
    /// The targets.
    pub targets: Vec<SyntheticTarget>,
}

/// A target placed in the image: its shape and the template window's top-left corner.
struct Placement {
    shape: TargetShape,
    left: usize,
    top: usize,
}

/// Image indices of `shape`'s footprint with its template window at (`left`, `top`).
fn footprint_at(
    shape: &TargetShape,
    left: usize,
    top: usize,
    size: usize,
) -> impl Iterator<Item = usize> + '_ {
    shape
        .footprint
        .iter()
        .enumerate()
        .filter(|(_, &f)| f)
        .map(move |(i, _)| (top + i / TEMPLATE_SIDE) * size + left + i % TEMPLATE_SIDE)
}

impl Placement {
    /// Image indices of the footprint.
    fn footprint(&self, size: usize) -> impl Iterator<Item = usize> + '_ {
        footprint_at(&self.shape, self.left, self.top, size)
    }

    /// (left, top, right, bottom) of the footprint, exclusive right / bottom.
    fn footprint_box(&self, size: usize) -> (usize, usize, usize, usize) {
        self.footprint(size)
            .fold((usize::MAX, usize::MAX, 0, 0), |(l, t, r, b), i| {
                let (x, y) = (i % size, i / size);
                (l.min(x), t.min(y), r.max(x + 1), b.max(y + 1))
            })
    }

    /// Mean of `plane` over the footprint.
    fn footprint_mean(&self, plane: &[f32], size: usize) -> f32 {
        let (sum, n) = self
            .footprint(size)
            .fold((0.0, 0), |(s, n), i| (s + plane[i], n + 1));
        sum / n as f32
    }

    /// Signal-to-clutter ratio of the target in `plane` against its ring (other targets'
    /// pixels left out of the ring).
    fn signal_to_clutter(&self, plane: &[f32], size: usize, on_target: &[bool]) -> f32 {
        let (mean, sigma) = ring_statistics(plane, size, self.footprint_box(size), on_target)
            .expect("targets leave room for a ring");
        (self.footprint_mean(plane, size) - mean) / sigma.max(f32::EPSILON)
    }
}

/// Marks `index` and its 8 neighbours.
fn mark_dilated(map: &mut [bool], size: usize, index: usize) {
    let (x, y) = (index % size, index / size);
    for ny in y.saturating_sub(1)..=(y + 1).min(size - 1) {
        for nx in x.saturating_sub(1)..=(x + 1).min(size - 1) {
            map[ny * size + nx] = true;
        }
    }
}

/// How many targets, and whether clustered.
fn target_layout(rng: &mut impl Rng) -> (usize, bool) {
    if rng.gen_bool(EMPTY_FRACTION) {
        return (0, false);
    }
    if rng.gen_bool(CLUSTER_FRACTION) {
        return (rng.gen_range(3..=5), true);
    }
    let mut draw = rng.gen::<f64>() * TARGET_COUNT_WEIGHTS.iter().sum::<f64>();
    for (count, weight) in TARGET_COUNT_WEIGHTS.iter().enumerate() {
        if draw < *weight {
            return (count + 1, false);
        }
        draw -= weight;
    }
    (TARGET_COUNT_WEIGHTS.len(), false)
}

/// Places the targets on `plane`, each where its footprint does not touch another's (so
/// every target is its own 8-connected region), with an amplitude that gives it the drawn
/// signal-to-clutter ratio against its local ring. Returns the placements and the map of
/// target pixels.
fn place_targets(
    plane: &mut [f32],
    size: usize,
    (count, clustered): (usize, bool),
    signal_to_clutter: SignalToClutter,
    rng: &mut impl Rng,
) -> (Vec<Placement>, Vec<bool>) {
    let span = size - TEMPLATE_SIDE;
    let cluster_reach = 9;
    let centre = (
        rng.gen_range(cluster_reach..=span - cluster_reach),
        rng.gen_range(cluster_reach..=span - cluster_reach),
    );
    let mut occupied = vec![false; size * size];
    let mut on_target = vec![false; size * size];
    let mut placed = Vec::new();
    for _ in 0..count {
        let shape = random_shape(rng);
        let position = (0..100).find_map(|_| {
            let (left, top) = if clustered {
                (
                    centre.0 + rng.gen_range(0..=2 * cluster_reach) - cluster_reach,
                    centre.1 + rng.gen_range(0..=2 * cluster_reach) - cluster_reach,
                )
            } else {
                (rng.gen_range(0..=span), rng.gen_range(0..=span))
            };
            let free = footprint_at(&shape, left, top, size).all(|i| !occupied[i]);
            free.then_some((left, top))
        });
        let Some((left, top)) = position else {
            continue;
        };
        let placement = Placement { shape, left, top };
        let (mean, sigma) = ring_statistics(plane, size, placement.footprint_box(size), &on_target)
            .expect("targets leave room for a ring");
        let sigma = sigma.max(1.0 / 255.0);
        let wanted = rng
            .gen_range(signal_to_clutter.min.ln()..=signal_to_clutter.max.ln())
            .exp() as f32;
        let template_mean = placement.shape.footprint_template_mean();
        let background_excess = placement.footprint_mean(plane, size) - mean;
        let amplitude = ((wanted * sigma - background_excess) / template_mean)
            .max(0.25 * wanted * sigma / template_mean);
        for (i, &t) in placement.shape.template.iter().enumerate() {
            plane[(top + i / TEMPLATE_SIDE) * size + left + i % TEMPLATE_SIDE] += amplitude * t;
        }
        let footprint: Vec<usize> = placement.footprint(size).collect();
        for index in footprint {
            on_target[index] = true;
            mark_dilated(&mut occupied, size, index);
        }
        placed.push(placement);
    }
    (placed, on_target)
}

/// Generates image `index` of the dataset `config` describes.
pub fn generate_image(config: &SyntheticConfig, index: usize) -> SyntheticImage {
    let size = config.size;
    let mut rng = derived_rng(config.seed, GENERATOR_STREAM, index as u64);
    let scene = scene::render(size, &mut rng);
    let mut plane = scene.plane;
    let layout = target_layout(&mut rng);
    let (placed, on_target) =
        place_targets(&mut plane, size, layout, config.signal_to_clutter, &mut rng);
    let pixels: Vec<u8> = plane
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    let quantised: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    let targets = placed
        .iter()
        .map(|placement| {
            let (left, top, right, bottom) = placement.footprint_box(size);
            SyntheticTarget {
                x: (left + right) as f32 / 2.0 - 0.5,
                y: (top + bottom) as f32 / 2.0 - 0.5,
                area: placement.shape.area(),
                kind: placement.shape.kind,
                signal_to_clutter: placement.signal_to_clutter(&quantised, size, &on_target),
            }
        })
        .collect();
    SyntheticImage {
        scene: scene.kind,
        clustered: layout.1,
        pixels,
        mask: on_target.iter().map(|&t| u8::from(t)).collect(),
        targets,
    }
}

/// Why a synthetic dataset could not be written or reused.
#[derive(Debug, Error)]
pub enum SyntheticError {
    /// Fewer than two images: the train and test splits need one each.
    #[error("a synthetic dataset needs at least 2 images (one for train, one for test), not {0}")]
    TooFewImages(usize),
    /// A signal-to-clutter range that is empty or not positive.
    #[error("the signal-to-clutter range must satisfy 0 < min <= max, got {min}..{max}")]
    SignalToClutter {
        /// Lowest ratio asked for.
        min: f64,
        /// Highest ratio asked for.
        max: f64,
    },
    /// Images too small for a target and its background ring, or larger than [`MAX_SIZE`].
    #[error("synthetic images must be at least {MIN_SIZE} x {MIN_SIZE} and at most {MAX_SIZE} x {MAX_SIZE} pixels, not {0}")]
    Size(usize),
    /// The output folder exists already.
    #[error("{0}: already exists; remove it or choose another folder")]
    Exists(PathBuf),
    /// The folder holds a synthetic dataset with another configuration.
    #[error("{path}: holds a synthetic dataset made with {found:?}, not {wanted:?}; remove it or choose another folder")]
    Mismatch {
        /// The folder.
        path: PathBuf,
        /// Its configuration.
        found: SyntheticConfig,
        /// The configuration asked for.
        wanted: SyntheticConfig,
    },
    /// The folder exists but holds no readable `synthetic.json`.
    #[error("{0}: exists but is not a finished synthetic dataset (no readable {SUMMARY_FILE})")]
    NotSynthetic(PathBuf),
    /// A file or folder could not be written.
    #[error("{path}: {reason}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

fn write_error(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> SyntheticError + '_ {
    move |error| SyntheticError::Write {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

/// Quantiles of a set of values (nearest rank; all zero for an empty set).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Spread<T> {
    /// Smallest value.
    pub min: T,
    /// 10th percentile.
    pub p10: T,
    /// Median.
    pub median: T,
    /// 90th percentile.
    pub p90: T,
    /// Largest value.
    pub max: T,
}

impl<T: Copy + PartialOrd + Default> Spread<T> {
    fn of(mut values: Vec<T>) -> Self {
        values.sort_by(|a, b| a.partial_cmp(b).expect("comparable values"));
        let at = |q: f64| {
            let last = values.len().saturating_sub(1);
            values
                .get((q * last as f64).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        Self {
            min: at(0.0),
            p10: at(0.1),
            median: at(0.5),
            p90: at(0.9),
            max: at(1.0),
        }
    }
}

/// What a generated dataset contains (written to `synthetic.json`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SyntheticSummary {
    /// How it was generated.
    pub config: SyntheticConfig,
    /// Images in the train split.
    pub train_images: usize,
    /// Images in the test split.
    pub test_images: usize,
    /// Images per scene kind: sky, sea, ground.
    pub scenes: [(SceneKind, usize); 3],
    /// Number of targets.
    pub targets: usize,
    /// Point-spread targets (the rest are irregular shapes).
    pub point_spread_targets: usize,
    /// Images without any target.
    pub images_without_targets: usize,
    /// Images with a dense cluster of targets.
    pub clustered_images: usize,
    /// Target footprint areas in pixels.
    pub target_area: Spread<usize>,
    /// Measured signal-to-clutter ratios.
    pub signal_to_clutter: Spread<f32>,
}

impl SyntheticSummary {
    /// Summarises generated images.
    pub fn of(config: SyntheticConfig, images: &[SyntheticImage], test_images: usize) -> Self {
        let targets: Vec<&SyntheticTarget> = images.iter().flat_map(|i| &i.targets).collect();
        let count_scene = |kind| images.iter().filter(|i| i.scene == kind).count();
        Self {
            config,
            train_images: images.len() - test_images,
            test_images,
            scenes: [SceneKind::Sky, SceneKind::Sea, SceneKind::Ground]
                .map(|k| (k, count_scene(k))),
            targets: targets.len(),
            point_spread_targets: targets
                .iter()
                .filter(|t| t.kind == TargetKind::PointSpread)
                .count(),
            images_without_targets: images.iter().filter(|i| i.targets.is_empty()).count(),
            clustered_images: images.iter().filter(|i| i.clustered).count(),
            target_area: Spread::of(targets.iter().map(|t| t.area).collect()),
            signal_to_clutter: Spread::of(targets.iter().map(|t| t.signal_to_clutter).collect()),
        }
    }
}

/// Image id of index `i`.
fn image_id(i: usize) -> String {
    format!("synth_{i:05}")
}

/// Writes every file of the dataset into `dir` (which exists and is empty).
fn write_files(
    dir: &Path,
    config: SyntheticConfig,
    progress: &dyn Progress,
) -> Result<SyntheticSummary, SyntheticError> {
    for folder in ["images", "masks", SPLIT_FOLDER] {
        let path = dir.join(folder);
        std::fs::create_dir(&path).map_err(|e| write_error(&path)(&e))?;
    }
    let images: Vec<SyntheticImage> = (0..config.count)
        .into_par_iter()
        .map(|i| {
            let mut image = generate_image(&config, i);
            let side = config.size as u32;
            let mask_pixels = image.mask.iter().map(|&m| m * 255).collect();
            let pixels = std::mem::take(&mut image.pixels);
            for (folder, pixels) in [("images", pixels), ("masks", mask_pixels)] {
                let path = dir.join(folder).join(format!("{}.png", image_id(i)));
                image::GrayImage::from_raw(side, side, pixels)
                    .expect("buffer matches the image size")
                    .save(&path)
                    .map_err(|e| write_error(&path)(&e))?;
            }
            // Only what the summary reads is kept, so memory does not grow with the count.
            image.mask = Vec::new();
            progress.advance();
            Ok(image)
        })
        .collect::<Result<_, SyntheticError>>()?;
    let test_images = ((config.count as f64 * 0.2).round() as usize).max(1);
    let train_images = config.count - test_images;
    for (split, range) in [
        ("train", 0..train_images),
        ("test", train_images..config.count),
    ] {
        let path = dir.join(SPLIT_FOLDER).join(format!("{split}.txt"));
        let text: String = range.map(|i| image_id(i) + "\n").collect();
        std::fs::write(&path, text).map_err(|e| write_error(&path)(&e))?;
    }
    let summary = SyntheticSummary::of(config, &images, test_images);
    let path = dir.join(SUMMARY_FILE);
    let json = serde_json::to_string_pretty(&summary).map_err(|e| write_error(&path)(&e))?;
    std::fs::write(&path, json + "\n").map_err(|e| write_error(&path)(&e))?;
    Ok(summary)
}

/// Generates the dataset into the new folder `out` (images in parallel). The files are
/// written to a hidden sibling folder first and renamed at the end, so an interrupted run
/// never leaves a half dataset at `out`.
pub fn write_synthetic_dataset(
    out: &Path,
    config: SyntheticConfig,
    progress: &dyn Progress,
) -> Result<SyntheticSummary, SyntheticError> {
    if config.count < 2 {
        return Err(SyntheticError::TooFewImages(config.count));
    }
    if !(MIN_SIZE..=MAX_SIZE).contains(&config.size) {
        return Err(SyntheticError::Size(config.size));
    }
    let SignalToClutter { min, max } = config.signal_to_clutter;
    if !(min > 0.0 && min <= max && max.is_finite()) {
        return Err(SyntheticError::SignalToClutter { min, max });
    }
    if out.exists() {
        return Err(SyntheticError::Exists(out.to_path_buf()));
    }
    let parent = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(|e| write_error(parent)(&e))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| write_error(&staging)(&e))?;
    }
    std::fs::create_dir(&staging).map_err(|e| write_error(&staging)(&e))?;
    progress.start(&format!("generating {}", out.display()), config.count);
    let result = write_files(&staging, config, progress).and_then(|summary| {
        std::fs::rename(&staging, out).map_err(|e| write_error(out)(&e))?;
        Ok(summary)
    });
    progress.finish();
    if result.is_err() {
        // Best effort: the staging folder is hidden and named by process, so a leftover
        // never passes for a dataset.
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

/// The configuration recorded in `dir/synthetic.json`, if readable.
fn recorded_config(dir: &Path) -> Option<SyntheticConfig> {
    let text = std::fs::read_to_string(dir.join(SUMMARY_FILE)).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    serde_json::from_value(json.get("config")?.clone()).ok()
}

/// Makes sure `dir` holds the synthetic dataset `wanted`: generates it the first time,
/// reuses it afterwards. A folder holding something else is an error, never overwritten.
pub fn ensure_synthetic_dataset(
    dir: &Path,
    wanted: SyntheticConfig,
    progress: &dyn Progress,
) -> Result<PathBuf, SyntheticError> {
    let check = |found: Option<SyntheticConfig>| match found {
        Some(found) if found == wanted => Ok(dir.to_path_buf()),
        Some(found) => Err(SyntheticError::Mismatch {
            path: dir.to_path_buf(),
            found,
            wanted,
        }),
        None => Err(SyntheticError::NotSynthetic(dir.to_path_buf())),
    };
    if dir.exists() {
        return check(recorded_config(dir));
    }
    match write_synthetic_dataset(dir, wanted, progress) {
        Ok(_) => Ok(dir.to_path_buf()),
        // Another process may have finished the same dataset first.
        Err(error) if dir.exists() => check(recorded_config(dir)).map_err(|_| error),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, DatasetOptions};
    use crate::metrics::{Connectivity, RegionLabeller};
    use crate::progress::Silent;

    #[test]
    fn images_are_deterministic_per_seed_and_index() {
        let config = SyntheticConfig::new(10, 64, 3);
        assert_eq!(generate_image(&config, 4), generate_image(&config, 4));
        assert_ne!(
            generate_image(&config, 4).pixels,
            generate_image(&config, 5).pixels
        );
        let other_seed = SyntheticConfig::new(10, 64, 4);
        assert_ne!(
            generate_image(&config, 4).pixels,
            generate_image(&other_seed, 4).pixels
        );
    }

    #[test]
    fn statistics_match_the_specification() {
        let config = SyntheticConfig::new(120, 256, 0);
        let images: Vec<SyntheticImage> = (0..config.count)
            .into_par_iter()
            .map(|i| generate_image(&config, i))
            .collect();
        for image in &images {
            // Every target is its own 8-connected mask region, with the recorded area.
            let mask: Vec<bool> = image.mask.iter().map(|&p| p != 0).collect();
            let mut regions: Vec<usize> = RegionLabeller::new()
                .label(&mask, 256, 256, Connectivity::Eight)
                .iter()
                .map(|region| region.area as usize)
                .collect();
            let mut areas: Vec<usize> = image.targets.iter().map(|t| t.area).collect();
            regions.sort_unstable();
            areas.sort_unstable();
            assert_eq!(regions, areas);
            assert!(image.targets.len() <= 5);
        }
        let summary = SyntheticSummary::of(config, &images, 24);
        let empty = summary.images_without_targets as f64 / 120.0;
        assert!((0.03..=0.2).contains(&empty), "{empty}");
        assert!(summary.clustered_images > 0);
        assert_eq!(summary.target_area.min, 1);
        // Under 0.15 % of the image, at most 9 x 9.
        assert!(summary.target_area.max <= 81 && summary.target_area.max * 10_000 < 15 * 256 * 256);
        let scr = &summary.signal_to_clutter;
        assert!(
            scr.p10 > 0.7 && scr.p10 < 2.0 && scr.p90 > 5.0 && scr.p90 < 11.0,
            "{scr:?}"
        );
        assert!(summary.scenes.iter().all(|&(_, n)| n > 20));
    }

    #[test]
    fn datasets_are_written_once_reused_and_never_overwritten() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cache").join("synthetic");
        assert_eq!(
            ensure_synthetic_dataset(&dir, SyntheticConfig::new(6, 48, 1), &Silent).unwrap(),
            dir
        );
        let written = std::fs::read(dir.join("images/synth_00002.png")).unwrap();
        assert_eq!(
            ensure_synthetic_dataset(&dir, SyntheticConfig::new(6, 48, 1), &Silent).unwrap(),
            dir
        );
        assert_eq!(
            std::fs::read(dir.join("images/synth_00002.png")).unwrap(),
            written
        );
        assert!(matches!(
            ensure_synthetic_dataset(&dir, SyntheticConfig::new(7, 48, 1), &Silent),
            Err(SyntheticError::Mismatch { .. })
        ));
        assert!(matches!(
            write_synthetic_dataset(&dir, SyntheticConfig::new(6, 48, 1), &Silent),
            Err(SyntheticError::Exists(_))
        ));
        let leftovers: Vec<_> = std::fs::read_dir(dir.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no staging folder left behind");

        let dataset = Dataset::open(&dir, &DatasetOptions::default()).unwrap();
        assert_eq!(dataset.scheme.name, SPLIT_FOLDER);
        assert_eq!(
            (
                dataset.split("train").unwrap().len(),
                dataset.split("test").unwrap().len()
            ),
            (5, 1)
        );
        let image = generate_image(&SyntheticConfig::new(6, 48, 1), 2);
        let sample = dataset
            .samples
            .iter()
            .find(|s| s.id == "synth_00002")
            .unwrap();
        assert!(sample.mask.pixels == image.mask);
        let expected: Vec<f32> = image.pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        assert!(sample.image.planes == vec![expected]);

        let not_synthetic = root.path().join("other");
        std::fs::create_dir(&not_synthetic).unwrap();
        assert!(matches!(
            ensure_synthetic_dataset(&not_synthetic, SyntheticConfig::new(6, 48, 1), &Silent),
            Err(SyntheticError::NotSynthetic(_))
        ));
        assert!(matches!(
            write_synthetic_dataset(
                &root.path().join("x"),
                SyntheticConfig::new(1, 48, 1),
                &Silent
            ),
            Err(SyntheticError::TooFewImages(1))
        ));
        let backwards = SignalToClutter { min: 5.0, max: 2.0 };
        assert!(matches!(
            write_synthetic_dataset(
                &root.path().join("y"),
                SyntheticConfig::new(4, 48, 1).with_signal_to_clutter(backwards),
                &Silent
            ),
            Err(SyntheticError::SignalToClutter { .. })
        ));
    }

    #[test]
    fn targets_follow_the_configured_signal_to_clutter_range() {
        let bright = SignalToClutter { min: 4.0, max: 8.0 };
        let config = SyntheticConfig::new(60, 128, 2).with_signal_to_clutter(bright);
        assert_ne!(
            config.default_dir(),
            SyntheticConfig::new(60, 128, 2).default_dir()
        );
        let images: Vec<SyntheticImage> = (0..config.count)
            .map(|i| generate_image(&config, i))
            .collect();
        let scr = SyntheticSummary::of(config, &images, 12).signal_to_clutter;
        // Measured after 8-bit quantisation, so a little outside the drawn range.
        assert!(
            scr.p10 > 3.0 && scr.median > 4.5 && scr.p90 < 9.0,
            "{scr:?}"
        );
    }
}
