//! The folder layouts IRSTD datasets are downloaded in, recognised automatically.
//!
//! Images and masks live in `images/` + `masks/` (most releases), `IRSTD1k_Img/` +
//! `IRSTD1k_Label/` (the IRSTD-1k release) or `PNGImages/` + `SIRST/BinaryMask/` (the
//! SIRSTdevkit that DenseSIRST ships in). Masks are named `ID.png` or, as in the SIRST
//! release, `ID_pixels0.png`. Split files come in these layouts:
//! - the SIRST release: `idx_427/{train,val,test,trainval,trainvaltest}.txt`;
//! - DNANet style (NUDT-SIRST, SIRST copies): `<name>/train.txt`, `<name>/test.txt`;
//! - BasicIRSTD style: `img_idx/train_<NAME>.txt`, `img_idx/test_<NAME>.txt`;
//! - SIRSTdevkit style (DenseSIRST): `Splits/train_<NAME>.txt`, `Splits/test_<NAME>.txt`;
//! - top level (ISNet style, IRSTD-1k): `trainval.txt` (or `train.txt`) and `test.txt`
//!   next to the image folders.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// File extensions read as images or masks (lower case).
pub const IMAGE_EXTENSIONS: [&str; 4] = ["png", "bmp", "jpg", "jpeg"];

/// Suffix of mask names in the SIRST release (`Misc_1_pixels0.png` for `Misc_1.png`).
pub const SIRST_MASK_SUFFIX: &str = "_pixels0";

/// (image folder, mask folder) pairs, relative to the dataset folder, in order of preference.
pub const IMAGE_FOLDERS: [(&str, &str); 3] = [
    ("images", "masks"),
    ("IRSTD1k_Img", "IRSTD1k_Label"),
    ("PNGImages", "SIRST/BinaryMask"),
];

/// Folder of BasicIRSTD-style split files.
pub const BASICIRSTD_SPLIT_FOLDER: &str = "img_idx";

/// Folder of SIRSTdevkit-style split files.
pub const DEVKIT_SPLIT_FOLDER: &str = "Splits";

/// Split-folder name of the SIRST release's own split.
pub const SIRST_SPLIT_FOLDER: &str = "idx_427";

/// Scheme name of split files at the top level of the dataset folder.
pub const TOP_LEVEL_SCHEME: &str = "top-level";

/// Names the training split may have (the first present is used).
pub const TRAIN_SPLIT_NAMES: [&str; 2] = ["train", "trainval"];

/// Name of the test split.
pub const TEST_SPLIT_NAME: &str = "test";

/// Where a split scheme's files come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitLayout {
    /// `idx_427/*.txt`, the SIRST release's own split.
    SirstRelease,
    /// `<name>/train.txt`, `<name>/test.txt`.
    Dnanet,
    /// `img_idx/train_<NAME>.txt`, `img_idx/test_<NAME>.txt`.
    BasicIrstd,
    /// `Splits/train_<NAME>.txt`, `Splits/test_<NAME>.txt`.
    SirstDevkit,
    /// `trainval.txt` / `train.txt` and `test.txt` in the dataset folder itself.
    TopLevel,
}

impl fmt::Display for SplitLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SplitLayout::SirstRelease => "sirst-release",
            SplitLayout::Dnanet => "dnanet",
            SplitLayout::BasicIrstd => "basicirstd",
            SplitLayout::SirstDevkit => "sirst-devkit",
            SplitLayout::TopLevel => "top-level",
        })
    }
}

/// One way of dividing a dataset: named split files (`train`, `test`, maybe `val`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitScheme {
    /// What `--split` selects it by: the folder name (`50_50`, `idx_427`), the dataset
    /// name of prefixed files (`NUDT-SIRST` for `img_idx/train_NUDT-SIRST.txt`), or
    /// `top-level`.
    pub name: String,
    /// The layout it was found in.
    pub layout: SplitLayout,
    /// Split name (`train`, `test`, ...) -> its text file.
    pub files: BTreeMap<String, PathBuf>,
}

impl SplitScheme {
    /// The file a split of this scheme is expected at, whether or not it exists.
    pub fn expected_path(&self, root: &Path, split: &str) -> PathBuf {
        let prefixed = |folder: &str| root.join(folder).join(format!("{split}_{}.txt", self.name));
        match self.layout {
            SplitLayout::BasicIrstd => prefixed(BASICIRSTD_SPLIT_FOLDER),
            SplitLayout::SirstDevkit => prefixed(DEVKIT_SPLIT_FOLDER),
            SplitLayout::TopLevel => root.join(format!("{split}.txt")),
            SplitLayout::SirstRelease | SplitLayout::Dnanet => {
                root.join(&self.name).join(format!("{split}.txt"))
            }
        }
    }

    /// Name of the training split: `train`, or `trainval` where there is no `train`.
    pub fn train_split(&self) -> Option<&str> {
        TRAIN_SPLIT_NAMES
            .into_iter()
            .find(|name| self.files.contains_key(*name))
    }

    /// Whether the files look like a split scheme (a training or a test split).
    fn has_known_split(files: &BTreeMap<String, PathBuf>) -> bool {
        files
            .keys()
            .any(|name| name == TEST_SPLIT_NAME || TRAIN_SPLIT_NAMES.contains(&name.as_str()))
    }
}

/// The image and mask folders of a dataset, if any known pair exists.
pub fn find_image_folders(root: &Path) -> Option<(PathBuf, PathBuf)> {
    IMAGE_FOLDERS
        .iter()
        .map(|(images, masks)| (root.join(images), root.join(masks)))
        .find(|(images, masks)| images.is_dir() && masks.is_dir())
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

/// Text files of a folder by stem.
fn text_files(dir: &Path) -> BTreeMap<String, PathBuf> {
    sorted_entries(dir)
        .into_iter()
        .filter_map(|p| Some((text_file_stem(&p)?, p)))
        .collect()
}

/// Schemes of prefixed split files (`train_<NAME>.txt`), one per NAME.
fn prefixed_schemes(texts: BTreeMap<String, PathBuf>, layout: SplitLayout) -> Vec<SplitScheme> {
    let mut by_dataset: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for (stem, path) in texts {
        if let Some((split, dataset)) = stem.split_once('_') {
            by_dataset
                .entry(dataset.to_owned())
                .or_default()
                .insert(split.to_owned(), path);
        }
    }
    by_dataset
        .into_iter()
        .filter(|(_, files)| SplitScheme::has_known_split(files))
        .map(|(name, files)| SplitScheme {
            name,
            layout,
            files,
        })
        .collect()
}

/// Finds every split scheme under `root`, sorted by name.
pub fn find_split_schemes(root: &Path) -> Vec<SplitScheme> {
    let mut schemes = Vec::new();
    let top_level = text_files(root);
    if SplitScheme::has_known_split(&top_level) {
        schemes.push(SplitScheme {
            name: TOP_LEVEL_SCHEME.to_owned(),
            layout: SplitLayout::TopLevel,
            files: top_level,
        });
    }
    for dir in sorted_entries(root).into_iter().filter(|p| p.is_dir()) {
        let Some(dir_name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        let texts = text_files(&dir);
        match dir_name.as_str() {
            BASICIRSTD_SPLIT_FOLDER => {
                schemes.extend(prefixed_schemes(texts, SplitLayout::BasicIrstd))
            }
            DEVKIT_SPLIT_FOLDER => {
                schemes.extend(prefixed_schemes(texts, SplitLayout::SirstDevkit))
            }
            _ if SplitScheme::has_known_split(&texts) => {
                let layout = if dir_name == SIRST_SPLIT_FOLDER {
                    SplitLayout::SirstRelease
                } else {
                    SplitLayout::Dnanet
                };
                schemes.push(SplitScheme {
                    name: dir_name,
                    layout,
                    files: texts,
                });
            }
            _ => {}
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

/// Ids of a split file: one per non-empty line, surrounding whitespace (CR of CRLF lines
/// included) and a trailing image extension (`Misc_1.png`) removed; a UTF-8 byte order
/// mark at the start of the file is ignored.
pub fn parse_split_ids(text: &str) -> Vec<String> {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .lines()
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
        let ids = parse_split_ids("\u{feff}Misc_1\r\n\n  Misc_2.png \nXDU.3\n");
        assert_eq!(ids, vec!["Misc_1", "Misc_2", "XDU.3"]);
    }
}
