//! The folder layouts IRSTD datasets are downloaded in, recognised automatically.
//!
//! All of them keep images in `images/` and masks in `masks/`; they differ in how masks are
//! named and where the split files live:
//! - the SIRST release: `masks/ID_pixels0.png`, splits `idx_427/{train,val,test,...}.txt`;
//! - DNANet style (NUDT-SIRST, IRSTD-1k and SIRST copies): `masks/ID.png`, splits
//!   `<name>/train.txt` and `<name>/test.txt` (e.g. `50_50/`);
//! - BasicIRSTD style: `masks/ID.png`, splits `img_idx/train_<NAME>.txt`, `test_<NAME>.txt`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// File extensions read as images or masks (lower case).
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "bmp", "jpg", "jpeg"];

/// Suffix of mask names in the SIRST release (`Misc_1_pixels0.png` for `Misc_1.png`).
pub const SIRST_MASK_SUFFIX: &str = "_pixels0";

/// Folder of BasicIRSTD-style split files.
pub const BASICIRSTD_SPLIT_FOLDER: &str = "img_idx";

/// Split-folder name of the SIRST release's own split.
pub const SIRST_SPLIT_FOLDER: &str = "idx_427";

/// The split files a scheme must have.
pub const REQUIRED_SPLITS: [&str; 2] = ["train", "test"];

/// Where a split scheme's files come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitLayout {
    /// `idx_427/*.txt`, the SIRST release's own split.
    SirstRelease,
    /// `<name>/train.txt`, `<name>/test.txt`.
    Dnanet,
    /// `img_idx/train_<NAME>.txt`, `img_idx/test_<NAME>.txt`.
    BasicIrstd,
}

impl fmt::Display for SplitLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SplitLayout::SirstRelease => "sirst-release",
            SplitLayout::Dnanet => "dnanet",
            SplitLayout::BasicIrstd => "basicirstd",
        })
    }
}

/// One way of dividing a dataset: named split files (`train`, `test`, maybe `val`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitScheme {
    /// What `--split` selects it by: the folder name (`50_50`, `idx_427`) or the
    /// BasicIRSTD dataset name (`NUDT-SIRST` for `img_idx/train_NUDT-SIRST.txt`).
    pub name: String,
    /// The layout it was found in.
    pub layout: SplitLayout,
    /// Split name (`train`, `test`, ...) -> its text file.
    pub files: BTreeMap<String, PathBuf>,
}

impl SplitScheme {
    /// The file a split of this scheme is expected at, whether or not it exists.
    pub fn expected_path(&self, root: &Path, split: &str) -> PathBuf {
        match self.layout {
            SplitLayout::BasicIrstd => root
                .join(BASICIRSTD_SPLIT_FOLDER)
                .join(format!("{split}_{}.txt", self.name)),
            SplitLayout::SirstRelease | SplitLayout::Dnanet => {
                root.join(&self.name).join(format!("{split}.txt"))
            }
        }
    }
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|read| read.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    entries
}

fn text_file_stem(path: &Path) -> Option<String> {
    let is_txt = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("txt"));
    (is_txt && path.is_file())
        .then(|| path.file_stem()?.to_str().map(str::to_owned))
        .flatten()
}

/// Finds every split scheme under `root`, sorted by name.
pub fn find_split_schemes(root: &Path) -> Vec<SplitScheme> {
    let mut schemes = Vec::new();
    for dir in sorted_entries(root).into_iter().filter(|p| p.is_dir()) {
        let Some(dir_name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let texts: Vec<(String, PathBuf)> = sorted_entries(&dir)
            .into_iter()
            .filter_map(|p| Some((text_file_stem(&p)?, p)))
            .collect();
        if dir_name == BASICIRSTD_SPLIT_FOLDER {
            let mut by_dataset: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
            for (stem, path) in texts {
                if let Some((split, dataset)) = stem.split_once('_') {
                    by_dataset
                        .entry(dataset.to_owned())
                        .or_default()
                        .insert(split.to_owned(), path);
                }
            }
            schemes.extend(by_dataset.into_iter().map(|(name, files)| SplitScheme {
                name,
                layout: SplitLayout::BasicIrstd,
                files,
            }));
        } else if texts
            .iter()
            .any(|(stem, _)| REQUIRED_SPLITS.contains(&stem.as_str()))
        {
            let layout = if dir_name == SIRST_SPLIT_FOLDER {
                SplitLayout::SirstRelease
            } else {
                SplitLayout::Dnanet
            };
            schemes.push(SplitScheme {
                name: dir_name,
                layout,
                files: texts.into_iter().collect(),
            });
        }
    }
    schemes.sort_by(|a, b| a.name.cmp(&b.name));
    schemes
}

/// Image files of a folder by stem (`Misc_1` -> [`images/Misc_1.png`]); a stem with
/// several files (`a.png` and `a.bmp`) keeps them all so the ambiguity can be reported.
pub fn index_image_files(dir: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut index: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for path in sorted_entries(dir) {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_lowercase);
        let known = extension.is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()));
        if let (true, Some(stem)) = (known, path.file_stem().and_then(|s| s.to_str())) {
            index.entry(stem.to_owned()).or_default().push(path.clone());
        }
    }
    index
}

/// Ids of a split file: one per non-empty line, surrounding whitespace and a trailing
/// image extension (`Misc_1.png`) removed.
pub fn parse_split_ids(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let stripped = line.rsplit_once('.').filter(|(_, extension)| {
                IMAGE_EXTENSIONS.contains(&extension.to_lowercase().as_str())
            });
            stripped.map_or(line, |(stem, _)| stem).to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_ids_ignore_blank_lines_carriage_returns_and_extensions() {
        let ids = parse_split_ids("Misc_1\r\n\n  Misc_2.png \nXDU.3\n");
        assert_eq!(ids, vec!["Misc_1", "Misc_2", "XDU.3"]);
    }
}
