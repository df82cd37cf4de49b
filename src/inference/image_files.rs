//! Inference on image files of any size: a mask PNG per image (and on request a 16-bit
//! probability map) and the detected targets of all of them in `detections.json`.
//!
//! Each image is read, predicted in tiles ([`super::tiles`]) and written before the next is
//! read, so memory does not grow with the number of images. `masks/` and `probabilities/`
//! belong to `infer`: a rerun into the same folder removes the files the previous run listed
//! in its `detections.json`, and refuses to start while either holds any other file.

use super::detections::{detect_targets, DetectedTarget};
use super::tiles::{predict_tiled, Tiling};
use super::{outputs, sigmoid, PredictError};
use crate::data::{image_size, read_image};
use crate::model::Detector;
use crate::progress::Progress;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// Pixels of the largest image `infer` reads (8192 x 8192): memory stays under 1.5 GB
/// (notes/reliability-inputs.md).
pub const MAX_INFERENCE_PIXELS: usize = 8192 * 8192;

/// One input image's detections.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImageDetections {
    /// The input file.
    pub image: PathBuf,
    /// Its mask's file name in `masks/`.
    pub mask: String,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// The targets found.
    pub targets: Vec<DetectedTarget>,
}

/// What [`infer`] did.
#[derive(Clone, Debug)]
pub struct InferenceReport {
    /// Every input's detections, in input order.
    pub detections: Vec<ImageDetections>,
    /// Masks of a previous run into the same folder that this run removed.
    pub removed_previous_masks: usize,
}

/// The mask file name of each input: `STEM.png`, or the whole file name and `.png`
/// (`a.bmp.png`) where inputs share a stem regardless of case (file systems may ignore
/// case). Names that still coincide are an error.
pub fn mask_names(inputs: &[PathBuf]) -> Result<Vec<String>, PredictError> {
    let lossy = |name: Option<&std::ffi::OsStr>| {
        name.map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let stems: Vec<String> = inputs.iter().map(|p| lossy(p.file_stem())).collect();
    let mut stem_uses: HashMap<String, usize> = HashMap::new();
    for stem in &stems {
        *stem_uses.entry(stem.to_lowercase()).or_default() += 1;
    }
    let names: Vec<String> = inputs
        .iter()
        .zip(&stems)
        .map(|(path, stem)| match stem_uses[&stem.to_lowercase()] {
            1 => format!("{stem}.png"),
            _ => format!("{}.png", lossy(path.file_name())),
        })
        .collect();
    let mut first_use: HashMap<String, usize> = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        if let Some(&first) = first_use.get(&name.to_lowercase()) {
            return Err(PredictError::MaskNameClash {
                name: name.clone(),
                first: inputs[first].clone(),
                second: inputs[i].clone(),
            });
        }
        first_use.insert(name.to_lowercase(), i);
    }
    Ok(names)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> PredictError + '_ {
    move |source| PredictError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The masks a previous run listed in `out/detections.json` (none without that file).
fn previous_masks(out: &Path) -> Result<BTreeSet<String>, PredictError> {
    let path = out.join("detections.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(io_error(&path)(e)),
    };
    /// What a previous run's entry tells: its mask.
    #[derive(serde::Deserialize)]
    struct Listed {
        mask: String,
    }
    let previous: Vec<Listed> =
        serde_json::from_str(&text).map_err(|e| PredictError::PreviousDetections {
            path: path.clone(),
            problem: e.to_string(),
        })?;
    Ok(previous.into_iter().map(|d| d.mask).collect())
}

/// The files of `masks` (empty when it does not exist).
fn files_in(masks: &Path) -> Result<BTreeSet<String>, PredictError> {
    match std::fs::read_dir(masks) {
        Ok(entries) => entries
            .map(|entry| {
                let entry = entry.map_err(io_error(masks))?;
                Ok(entry.file_name().to_string_lossy().into_owned())
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(io_error(masks)(e)),
    }
}

/// The folders of `out` that hold one file per input, named as [`mask_names`] says: masks,
/// and with `probabilities` the probability maps.
fn per_image_folders(out: &Path, probabilities: bool) -> Vec<PathBuf> {
    let mut folders = vec![out.join("masks")];
    if probabilities {
        folders.push(out.join("probabilities"));
    }
    folders
}

/// Runs `detector` on each image file at its native size, in tiles of `tiling`; writes one
/// mask PNG per input (pixels whose target probability exceeds `threshold`) under
/// `out/masks/` (see [`mask_names`]), with `probabilities` also the probability map as a
/// 16-bit PNG under `out/probabilities/` (same name), and `out/detections.json`; removes the
/// files of a previous run into `out` that this run did not rewrite.
pub fn infer(
    detector: &dyn Detector,
    inputs: &[PathBuf],
    out: &Path,
    threshold: f32,
    tiling: Tiling,
    probabilities_wanted: bool,
    progress: &dyn Progress,
) -> Result<InferenceReport, PredictError> {
    if !(0.0..1.0).contains(&threshold) {
        return Err(PredictError::Threshold(threshold));
    }
    tiling.check(detector.size_multiple())?;
    let names = mask_names(inputs)?;
    for path in inputs {
        let (height, width) = image_size(path)?;
        if height.saturating_mul(width) > MAX_INFERENCE_PIXELS {
            return Err(PredictError::TooLarge {
                path: path.clone(),
                height,
                width,
            });
        }
    }
    let previous = previous_masks(out)?;
    let folders = per_image_folders(out, probabilities_wanted);
    for folder in &folders {
        let foreign: Vec<String> = files_in(folder)?
            .into_iter()
            .filter(|name| !previous.contains(name) && !names.contains(name))
            .collect();
        if !foreign.is_empty() {
            return Err(PredictError::ForeignMasks {
                folder: folder.clone(),
                files: foreign.join(", "),
            });
        }
    }
    for folder in &folders {
        std::fs::create_dir_all(folder).map_err(io_error(folder))?;
    }
    let masks = out.join("masks");
    let mut detections = Vec::with_capacity(inputs.len());
    progress.start("inference", inputs.len());
    for (source, name) in inputs.iter().zip(&names) {
        let image = read_image(source)?;
        let mut probabilities = predict_tiled(detector, &image, tiling)?;
        let (height, width) = (image.height, image.width);
        drop(image);
        probabilities.iter_mut().for_each(|x| *x = sigmoid(*x));
        let mask: Vec<bool> = probabilities.iter().map(|&p| p > threshold).collect();
        outputs::write_mask(&masks.join(name), height, width, &mask)?;
        if probabilities_wanted {
            let path = out.join("probabilities").join(name);
            outputs::write_probabilities(&path, height, width, &probabilities)?;
        }
        detections.push(ImageDetections {
            image: source.clone(),
            mask: name.clone(),
            width,
            height,
            targets: detect_targets(&probabilities, height, width, threshold),
        });
        progress.advance();
    }
    progress.finish();
    let mut removed_previous_masks = 0;
    for stale in previous.iter().filter(|name| !names.contains(name)) {
        for folder in per_image_folders(out, true) {
            let path = folder.join(stale);
            match std::fs::remove_file(&path) {
                Ok(()) if folder == masks => removed_previous_masks += 1,
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&path)(e)),
            }
        }
    }
    let path = out.join("detections.json");
    let json = serde_json::to_string_pretty(&detections).map_err(|e| PredictError::Io {
        path: path.clone(),
        source: e.into(),
    })?;
    crate::atomic_file::write(&path, json.as_bytes()).map_err(io_error(&path))?;
    Ok(InferenceReport {
        detections,
        removed_previous_masks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_names_keep_the_extension_only_where_stems_clash() {
        let paths = |names: &[&str]| names.iter().map(PathBuf::from).collect::<Vec<_>>();
        assert_eq!(
            mask_names(&paths(&["d/a.png", "d/A.bmp", "d/b.jpg"])).unwrap(),
            vec!["a.png.png", "A.bmp.png", "b.png"]
        );
        let error = mask_names(&paths(&["d/a.png", "d/a.bmp", "d/a.png.png"])).unwrap_err();
        assert!(error.to_string().contains("a.png.png"), "{error}");
    }
}
