//! An IRSTD dataset on disk, validated and decoded: every id of a split scheme with its
//! image and target mask.
//!
//! [`Dataset::open`] checks everything before any work starts and reports every problem at
//! once ([`DatasetError`]), each naming its file; it never panics on bad input.

use super::image_io::{read_image, read_mask, InfraredImage, TargetMask};
use super::layout::{
    find_image_folders, find_split_schemes, index_image_files, parse_split_ids, SplitLayout,
    SplitScheme, IMAGE_FOLDERS, SIRST_MASK_SUFFIX, TEST_SPLIT_NAME, TRAIN_SPLIT_NAMES,
};
use super::loader::BatchingError;
use super::resample::resize_nearest;
use crate::metrics::{Connectivity, RegionLabeller};
use crate::progress::{Progress, Silent};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// One thing wrong with a dataset, naming the file or folder concerned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DatasetProblem {
    /// The dataset folder does not exist.
    #[error("{0}: folder not found")]
    MissingFolder(PathBuf),
    /// No image + mask folder pair.
    #[error("{}: no image and mask folders (expected {})", .0.display(), image_folder_names())]
    NoImageFolders(PathBuf),
    /// No split files in any known layout.
    #[error(
        "{0}: no split files found (expected <name>/train.txt + <name>/test.txt, \
         img_idx/train_<NAME>.txt + img_idx/test_<NAME>.txt, Splits/train_<NAME>.txt + \
         Splits/test_<NAME>.txt, trainval.txt + test.txt, or idx_427/*.txt)"
    )]
    NoSplits(PathBuf),
    /// `--split` names a scheme that is not there.
    #[error("{root}: no split `{requested}` (found: {available})")]
    UnknownSplit {
        /// The dataset folder.
        root: PathBuf,
        /// The requested scheme name.
        requested: String,
        /// The schemes that exist, comma-separated.
        available: String,
    },
    /// Several benchmark splits and none chosen.
    #[error("{root}: several splits ({available}); choose one with --split")]
    AmbiguousSplit {
        /// The dataset folder.
        root: PathBuf,
        /// The candidate schemes, comma-separated.
        available: String,
    },
    /// A required split file (train or test) does not exist.
    #[error("{0}: split file not found")]
    MissingSplitFile(PathBuf),
    /// A split file could not be read.
    #[error("{path}: cannot read split file: {reason}")]
    UnreadableSplitFile {
        /// The split file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// A split file lists no id.
    #[error("{0}: split file is empty")]
    EmptySplitFile(PathBuf),
    /// A split file lists an id more than once.
    #[error("{path}: id `{id}` listed {count} times")]
    DuplicateId {
        /// The split file.
        path: PathBuf,
        /// The repeated id.
        id: String,
        /// How often it appears.
        count: usize,
    },
    /// No image file for a listed id.
    #[error("{expected}: image for id `{id}` not found")]
    MissingImage {
        /// The id.
        id: String,
        /// Where it was looked for (any of png, bmp, jpg, jpeg).
        expected: PathBuf,
    },
    /// No mask file for a listed id.
    #[error("{expected}: mask for id `{id}` not found (nor {id}{SIRST_MASK_SUFFIX}.*)")]
    MissingMask {
        /// The id.
        id: String,
        /// Where it was looked for.
        expected: PathBuf,
    },
    /// Several candidate files for one id (e.g. `a.png` and `a.bmp`).
    #[error("{}: several files for id `{id}`", join_paths(.paths))]
    AmbiguousFile {
        /// The id.
        id: String,
        /// The candidates.
        paths: Vec<PathBuf>,
    },
    /// An image or mask file that cannot be decoded (corrupt, truncated, unsupported).
    #[error("{path}: {reason}")]
    UnreadableFile {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// Mask and image sizes differ and `strict` is on.
    #[error(
        "{}: mask is {} x {} but its image {} is {} x {}",
        .mask.display(), .mask_size.1, .mask_size.0, .image.display(), .image_size.1, .image_size.0
    )]
    SizeMismatch {
        /// The mask file.
        mask: PathBuf,
        /// The image file.
        image: PathBuf,
        /// Mask (height, width).
        mask_size: (usize, usize),
        /// Image (height, width).
        image_size: (usize, usize),
    },
}

fn image_folder_names() -> String {
    let pairs: Vec<String> = IMAGE_FOLDERS
        .iter()
        .map(|(i, m)| format!("{i}/ + {m}/"))
        .collect();
    pairs.join(", or ")
}

fn join_paths(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

/// A dataset that cannot be used, with every problem found and the warnings beside them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct DatasetError {
    /// The dataset folder.
    pub root: PathBuf,
    /// Everything wrong with it (never empty).
    pub problems: Vec<DatasetProblem>,
    /// What was found unusual but not wrong (resized masks, train/test overlap).
    pub warnings: Vec<DatasetWarning>,
}

impl fmt::Display for DatasetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dataset {} has {} problem(s):",
            self.root.display(),
            self.problems.len()
        )?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        if !self.warnings.is_empty() {
            write!(f, "\nand {} warning(s):", self.warnings.len())?;
            for warning in &self.warnings {
                write!(f, "\n  - {warning}")?;
            }
        }
        Ok(())
    }
}

/// Something unusual that does not stop the dataset from loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetWarning {
    /// Mask and image sizes differed; the mask was resized to the image (nearest neighbour).
    MaskResized {
        /// The mask file.
        mask: PathBuf,
        /// Its (height, width) on disk.
        from: (usize, usize),
        /// The image's (height, width) it was resized to.
        to: (usize, usize),
    },
    /// Ids in both the train and the test split.
    TrainTestOverlap {
        /// The scheme.
        scheme: String,
        /// How many ids are shared.
        shared: usize,
    },
}

impl fmt::Display for DatasetWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatasetWarning::MaskResized { mask, from, to } => write!(
                f,
                "{}: mask is {} x {} but its image is {} x {}; resized the mask (nearest)",
                mask.display(),
                from.1,
                from.0,
                to.1,
                to.0
            ),
            DatasetWarning::TrainTestOverlap { scheme, shared } => write!(
                f,
                "split {scheme}: {shared} id(s) are in both train and test"
            ),
        }
    }
}

/// How to open a dataset.
#[derive(Debug, Clone, Default)]
pub struct DatasetOptions {
    /// Split scheme by name (`50_50`, `idx_427`, a BasicIRSTD dataset name); `None` picks
    /// the only benchmark split (DNANet or BasicIRSTD style), else the SIRST release's.
    pub split: Option<String>,
    /// Treat an image / mask size mismatch as an error instead of resizing the mask.
    pub strict: bool,
}

/// One image of the dataset with its target mask (same size).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The id as listed in the split files.
    pub id: String,
    /// The image.
    pub image: InfraredImage,
    /// Its target mask.
    pub mask: TargetMask,
}

#[cfg(test)]
impl Sample {
    /// A test sample whose gray image equals its 0/1 mask `pixels`.
    pub(crate) fn image_equal_to_mask(
        id: &str,
        height: usize,
        width: usize,
        pixels: Vec<u8>,
    ) -> Self {
        Sample {
            id: id.into(),
            image: InfraredImage::gray(
                height,
                width,
                pixels.iter().map(|&p| f32::from(p)).collect(),
            )
            .expect("a test mask of height x width pixels"),
            mask: TargetMask {
                width,
                height,
                pixels,
            },
        }
    }
}

/// A validated, decoded dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The dataset folder.
    pub root: PathBuf,
    /// The split scheme in use.
    pub scheme: SplitScheme,
    /// Every id of the scheme once, in order of first appearance.
    pub samples: Arc<Vec<Sample>>,
    /// Split name -> indices into `samples`, in the split file's order.
    pub splits: BTreeMap<String, Vec<usize>>,
    /// Non-fatal findings (resized masks, train/test overlap).
    pub warnings: Vec<DatasetWarning>,
}

/// Target statistics of a set of masks (targets are 8-connected regions).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TargetStatistics {
    /// Number of images.
    pub images: usize,
    /// Number of targets.
    pub targets: usize,
    /// Smallest target area in pixels (0 without targets).
    pub min_target_area: usize,
    /// Median target area (mean of the middle two for an even count; 0 without targets).
    pub median_target_area: f64,
    /// Largest target area in pixels.
    pub max_target_area: usize,
    /// Images whose mask is empty.
    pub images_without_targets: usize,
}

impl TargetStatistics {
    /// Labels every mask and summarises the regions.
    pub fn of_masks<'a>(masks: impl IntoIterator<Item = &'a TargetMask>) -> Self {
        let mut images = 0;
        let mut images_without_targets = 0;
        let mut areas = Vec::new();
        let mut labeller = RegionLabeller::new();
        for mask in masks {
            let targets: Vec<bool> = mask.pixels.iter().map(|&p| p != 0).collect();
            let regions = labeller.label(&targets, mask.height, mask.width, Connectivity::Eight);
            images += 1;
            images_without_targets += usize::from(regions.is_empty());
            areas.extend(regions.iter().map(|region| region.area as usize));
        }
        areas.sort_unstable();
        let median_target_area = match areas.len() {
            0 => 0.0,
            n if n % 2 == 1 => areas[n / 2] as f64,
            n => (areas[n / 2 - 1] + areas[n / 2]) as f64 / 2.0,
        };
        Self {
            images,
            targets: areas.len(),
            min_target_area: areas.first().copied().unwrap_or(0),
            median_target_area,
            max_target_area: areas.last().copied().unwrap_or(0),
            images_without_targets,
        }
    }
}

/// Files resolved for one id, before decoding.
struct SampleFiles {
    id: String,
    image: PathBuf,
    mask: PathBuf,
}

fn choose_scheme(
    root: &Path,
    schemes: Vec<SplitScheme>,
    requested: Option<&str>,
) -> Result<SplitScheme, DatasetProblem> {
    let names = |schemes: &[SplitScheme]| {
        let names: Vec<&str> = schemes.iter().map(|s| s.name.as_str()).collect();
        names.join(", ")
    };
    if schemes.is_empty() {
        return Err(DatasetProblem::NoSplits(root.to_path_buf()));
    }
    if let Some(requested) = requested {
        let available = names(&schemes);
        return schemes
            .into_iter()
            .find(|s| s.name == requested)
            .ok_or_else(|| DatasetProblem::UnknownSplit {
                root: root.to_path_buf(),
                requested: requested.to_owned(),
                available,
            });
    }
    let (benchmark, release): (Vec<_>, Vec<_>) = schemes
        .into_iter()
        .partition(|s| s.layout != SplitLayout::SirstRelease);
    match (benchmark.len(), release.into_iter().next()) {
        (1, _) => Ok(benchmark.into_iter().next().expect("one scheme")),
        (0, Some(release)) => Ok(release),
        _ => Err(DatasetProblem::AmbiguousSplit {
            root: root.to_path_buf(),
            available: names(&benchmark),
        }),
    }
}

/// Reads the scheme's split files: split name -> ids, and the problems found.
fn read_splits(
    root: &Path,
    scheme: &SplitScheme,
    problems: &mut Vec<DatasetProblem>,
) -> BTreeMap<String, Vec<String>> {
    if scheme.train_split().is_none() {
        let expected = scheme.expected_path(root, TRAIN_SPLIT_NAMES[0]);
        problems.push(DatasetProblem::MissingSplitFile(expected));
    }
    if !scheme.files.contains_key(TEST_SPLIT_NAME) {
        let expected = scheme.expected_path(root, TEST_SPLIT_NAME);
        problems.push(DatasetProblem::MissingSplitFile(expected));
    }
    let mut splits = BTreeMap::new();
    for (name, path) in &scheme.files {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                problems.push(DatasetProblem::UnreadableSplitFile {
                    path: path.clone(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let ids = parse_split_ids(&text);
        if ids.is_empty() {
            problems.push(DatasetProblem::EmptySplitFile(path.clone()));
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for id in &ids {
            *counts.entry(id).or_default() += 1;
        }
        problems.extend(
            counts
                .into_iter()
                .filter(|&(_, c)| c > 1)
                .map(|(id, count)| DatasetProblem::DuplicateId {
                    path: path.clone(),
                    id: id.to_owned(),
                    count,
                }),
        );
        splits.insert(name.clone(), ids);
    }
    splits
}

/// Finds the one file for `id` among `candidates` stems, or records why not.
fn resolve_file(
    index: &BTreeMap<String, Vec<PathBuf>>,
    id: &str,
    stems: &[String],
    missing: DatasetProblem,
    problems: &mut Vec<DatasetProblem>,
) -> Option<PathBuf> {
    let found: Vec<PathBuf> = stems
        .iter()
        .filter_map(|stem| index.get(stem))
        .flatten()
        .cloned()
        .collect();
    match found.len() {
        0 => {
            problems.push(missing);
            None
        }
        1 => found.into_iter().next(),
        _ => {
            problems.push(DatasetProblem::AmbiguousFile {
                id: id.to_owned(),
                paths: found,
            });
            None
        }
    }
}

/// Decodes one pair; a size mismatch is resized with a warning, or a problem if `strict`.
fn load_sample(
    files: &SampleFiles,
    strict: bool,
) -> Result<(Sample, Option<DatasetWarning>), Vec<DatasetProblem>> {
    let unreadable = |e: super::image_io::ImageReadError| DatasetProblem::UnreadableFile {
        path: e.path,
        reason: e.reason,
    };
    let (image, mask) = rayon::join(|| read_image(&files.image), || read_mask(&files.mask));
    let (image, mask) = match (image, mask) {
        (Ok(image), Ok(mask)) => (image, mask),
        (image, mask) => {
            let errors = [image.err(), mask.err()];
            return Err(errors.into_iter().flatten().map(unreadable).collect());
        }
    };
    let image_size = (image.height, image.width);
    let mask_size = (mask.height, mask.width);
    if image_size == mask_size {
        let sample = Sample {
            id: files.id.clone(),
            image,
            mask,
        };
        return Ok((sample, None));
    }
    if strict {
        return Err(vec![DatasetProblem::SizeMismatch {
            mask: files.mask.clone(),
            image: files.image.clone(),
            mask_size,
            image_size,
        }]);
    }
    let pixels = resize_nearest(
        &mask.pixels,
        mask.height,
        mask.width,
        image.height,
        image.width,
    );
    let warning = DatasetWarning::MaskResized {
        mask: files.mask.clone(),
        from: mask_size,
        to: image_size,
    };
    let mask = TargetMask {
        width: image.width,
        height: image.height,
        pixels,
    };
    let sample = Sample {
        id: files.id.clone(),
        image,
        mask,
    };
    Ok((sample, Some(warning)))
}

/// A dataset's name for titles and run names: the last component of its folder `root`
/// ("dataset" for a root without one, such as `/`).
pub fn folder_name(root: &Path) -> String {
    root.file_name().map_or_else(
        || "dataset".into(),
        |name| name.to_string_lossy().into_owned(),
    )
}

impl Dataset {
    /// Finds the layout of `root`, checks every split file, image and mask, and decodes
    /// them all (in parallel). Every problem found is reported at once.
    pub fn open(root: &Path, options: &DatasetOptions) -> Result<Dataset, DatasetError> {
        Self::open_with_progress(root, options, &Silent)
    }

    /// [`Dataset::open`], telling `progress` of each image and mask pair decoded.
    pub fn open_with_progress(
        root: &Path,
        options: &DatasetOptions,
        progress: &dyn Progress,
    ) -> Result<Dataset, DatasetError> {
        let fail = |problems| DatasetError {
            root: root.to_path_buf(),
            problems,
            warnings: Vec::new(),
        };
        if !root.is_dir() {
            return Err(fail(vec![DatasetProblem::MissingFolder(
                root.to_path_buf(),
            )]));
        }
        let Some((images_dir, masks_dir)) = find_image_folders(root) else {
            return Err(fail(vec![DatasetProblem::NoImageFolders(
                root.to_path_buf(),
            )]));
        };
        let scheme = choose_scheme(root, find_split_schemes(root), options.split.as_deref())
            .map_err(|problem| fail(vec![problem]))?;

        let mut problems = Vec::new();
        let split_ids = read_splits(root, &scheme, &mut problems);
        let image_index = index_image_files(&images_dir);
        let mask_index = index_image_files(&masks_dir);
        let mut position: HashMap<&str, usize> = HashMap::new();
        let mut resolved = Vec::new();
        for id in split_ids.values().flatten() {
            if position.contains_key(id.as_str()) {
                continue;
            }
            position.insert(id, position.len());
            let image = resolve_file(
                &image_index,
                id,
                std::slice::from_ref(id),
                DatasetProblem::MissingImage {
                    id: id.clone(),
                    expected: images_dir.join(format!("{id}.png")),
                },
                &mut problems,
            );
            let mask = resolve_file(
                &mask_index,
                id,
                &[id.clone(), format!("{id}{SIRST_MASK_SUFFIX}")],
                DatasetProblem::MissingMask {
                    id: id.clone(),
                    expected: masks_dir.join(format!("{id}.png")),
                },
                &mut problems,
            );
            if let (Some(image), Some(mask)) = (image, mask) {
                resolved.push(SampleFiles {
                    id: id.clone(),
                    image,
                    mask,
                });
            }
        }
        progress.start(&format!("checking {}", root.display()), resolved.len());
        let loaded: Vec<_> = resolved
            .par_iter()
            .map(|files| {
                let loaded = load_sample(files, options.strict);
                progress.advance();
                loaded
            })
            .collect();
        progress.finish();

        let mut samples = Vec::with_capacity(loaded.len());
        let mut warnings = Vec::new();
        for result in loaded {
            match result {
                Ok((sample, warning)) => {
                    samples.push(sample);
                    warnings.extend(warning);
                }
                Err(found) => problems.extend(found),
            }
        }
        if !problems.is_empty() {
            return Err(DatasetError {
                warnings,
                ..fail(problems)
            });
        }

        let splits: BTreeMap<String, Vec<usize>> = split_ids
            .iter()
            .map(|(name, ids)| {
                let indices = ids.iter().map(|id| position[id.as_str()]).collect();
                (name.clone(), indices)
            })
            .collect();
        let train_name = scheme.train_split().expect("checked by read_splits");
        if let (Some(train), Some(test)) = (splits.get(train_name), splits.get(TEST_SPLIT_NAME)) {
            let train: std::collections::HashSet<&usize> = train.iter().collect();
            let shared = test.iter().filter(|i| train.contains(i)).count();
            if shared > 0 {
                warnings.push(DatasetWarning::TrainTestOverlap {
                    scheme: scheme.name.clone(),
                    shared,
                });
            }
        }
        Ok(Dataset {
            root: root.to_path_buf(),
            scheme,
            samples: Arc::new(samples),
            splits,
            warnings,
        })
    }

    /// Indices (into `samples`) of a split, if the scheme has it.
    pub fn split(&self, name: &str) -> Option<&[usize]> {
        self.splits.get(name).map(Vec::as_slice)
    }

    /// Indices of the training split (`train`, or `trainval` where there is no `train`).
    pub fn train_split(&self) -> &[usize] {
        let name = self
            .scheme
            .train_split()
            .expect("validated schemes have a training split");
        &self.splits[name]
    }

    /// Indices of the test split.
    pub fn test_split(&self) -> &[usize] {
        &self.splits[TEST_SPLIT_NAME]
    }

    /// Target statistics over every sample.
    pub fn statistics(&self) -> TargetStatistics {
        TargetStatistics::of_masks(self.samples.iter().map(|s| &s.mask))
    }
}

/// Carves a validation part off `indices` for model selection: a seeded shuffle, then the
/// first `round(fraction * n)` (at least one when `fraction > 0` and two or more indices)
/// become validation. Returns (train, validation), each sorted as in `indices`.
pub fn split_off_validation(
    indices: &[usize],
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>), BatchingError> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(BatchingError::ValidationFraction(fraction));
    }
    let mut shuffled = indices.to_vec();
    shuffled.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let wanted = (fraction * indices.len() as f64).round() as usize;
    let count = if fraction > 0.0 && indices.len() > 1 {
        wanted.clamp(1, indices.len() - 1)
    } else {
        0
    };
    let validation: std::collections::HashSet<usize> = shuffled[..count].iter().copied().collect();
    Ok(indices.iter().partition(|i| !validation.contains(i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_carve_is_deterministic_disjoint_and_complete() {
        let indices: Vec<usize> = (0..100).map(|i| i * 3).collect();
        let (train, val) = split_off_validation(&indices, 0.2, 7).unwrap();
        assert_eq!((train.len(), val.len()), (80, 20));
        assert_eq!(
            split_off_validation(&indices, 0.2, 7).unwrap(),
            (train.clone(), val.clone())
        );
        assert_ne!(split_off_validation(&indices, 0.2, 8).unwrap().1, val);
        let mut all: Vec<usize> = train.iter().chain(&val).copied().collect();
        all.sort_unstable();
        assert_eq!(all, indices);
        assert_eq!(
            split_off_validation(&indices, 0.0, 7).unwrap().1,
            Vec::<usize>::new()
        );
        for fraction in [1.0, 2.0, -0.1, f64::NAN] {
            assert!(split_off_validation(&indices, fraction, 7).is_err());
        }
    }

    #[test]
    fn statistics_count_8_connected_regions() {
        let mask = |pixels: Vec<u8>| TargetMask {
            width: 3,
            height: 2,
            pixels,
        };
        let masks = [
            mask(vec![1, 0, 1, 0, 0, 1]),
            mask(vec![0; 6]),
            mask(vec![1, 1, 0, 0, 1, 0]),
        ];
        let stats = TargetStatistics::of_masks(&masks);
        assert_eq!(stats.images, 3);
        assert_eq!(stats.targets, 3);
        assert_eq!(stats.images_without_targets, 1);
        assert_eq!((stats.min_target_area, stats.max_target_area), (1, 3));
        assert_eq!(stats.median_target_area, 2.0);
    }
}
