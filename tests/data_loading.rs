//! Dataset layouts and validation on tiny generated datasets: every malformed input is a
//! reported problem naming its file, never a panic.

use image::GrayImage;
use rrcanet::data::layout::SplitLayout;
use rrcanet::data::{Dataset, DatasetError, DatasetOptions, DatasetProblem, DatasetWarning};
use std::path::{Path, PathBuf};

/// Writes `images/ID.png` (8 x 6, one bright pixel) and its mask under `mask_name(id)`.
fn write_pair(root: &Path, id: &str, mask_name: &str) {
    std::fs::create_dir_all(root.join("images")).unwrap();
    std::fs::create_dir_all(root.join("masks")).unwrap();
    let mut image = GrayImage::new(8, 6);
    image.put_pixel(3, 2, image::Luma([200]));
    image
        .save(root.join("images").join(format!("{id}.png")))
        .unwrap();
    let mut mask = GrayImage::new(8, 6);
    mask.put_pixel(3, 2, image::Luma([255]));
    mask.save(root.join("masks").join(format!("{mask_name}.png")))
        .unwrap();
}

fn write_split(root: &Path, relative: &str, ids: &[&str]) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
    std::fs::write(path, text).unwrap();
}

/// A DNANet-layout dataset: a0..a3, split 50_50 (a0, a1 train; a2, a3 test).
fn dnanet(root: &Path) {
    for id in ["a0", "a1", "a2", "a3"] {
        write_pair(root, id, id);
    }
    write_split(root, "50_50/train.txt", &["a0", "a1"]);
    write_split(root, "50_50/test.txt", &["a2", "a3"]);
}

fn open(root: &Path) -> Result<Dataset, DatasetError> {
    Dataset::open(root, &DatasetOptions::default())
}

fn problems(root: &Path, options: &DatasetOptions) -> Vec<DatasetProblem> {
    Dataset::open(root, options)
        .expect_err("the dataset is malformed")
        .problems
}

fn mentions(problems: &[DatasetProblem], file: &Path) -> bool {
    problems
        .iter()
        .any(|p| p.to_string().contains(&file.display().to_string()))
}

#[test]
fn recognises_the_sirst_release_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for id in ["Misc_1", "Misc_2", "Misc_3"] {
        write_pair(root, id, &format!("{id}_pixels0"));
    }
    write_split(root, "idx_427/train.txt", &["Misc_1", "Misc_2"]);
    write_split(root, "idx_427/test.txt", &["Misc_3"]);
    write_split(root, "idx_427/trainval.txt", &["Misc_1", "Misc_2"]);
    let dataset = open(root).unwrap();
    assert_eq!(dataset.scheme.layout, SplitLayout::SirstRelease);
    assert_eq!(dataset.samples.len(), 3);
    assert_eq!(dataset.split("trainval").unwrap().len(), 2);
    let statistics = dataset.statistics();
    assert_eq!((statistics.images, statistics.targets), (3, 3));
}

#[test]
fn recognises_the_dnanet_layout_and_prefers_it_to_the_release_split() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    dnanet(root);
    write_split(root, "idx_427/train.txt", &["a0"]);
    write_split(root, "idx_427/test.txt", &["a1"]);
    let dataset = open(root).unwrap();
    assert_eq!(dataset.scheme.layout, SplitLayout::Dnanet);
    assert_eq!(dataset.scheme.name, "50_50");
    let ids = |split: &str| -> Vec<&str> {
        let indices = dataset.split(split).unwrap();
        indices
            .iter()
            .map(|&i| dataset.samples[i].id.as_str())
            .collect()
    };
    assert_eq!(
        (ids("train"), ids("test")),
        (vec!["a0", "a1"], vec!["a2", "a3"])
    );
    let release = DatasetOptions {
        split: Some("idx_427".into()),
        ..DatasetOptions::default()
    };
    let dataset = Dataset::open(root, &release).unwrap();
    assert_eq!(dataset.scheme.layout, SplitLayout::SirstRelease);
    assert_eq!(dataset.samples.len(), 2);
}

#[test]
fn recognises_the_basicirstd_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for id in ["XDU0", "XDU1", "XDU2"] {
        write_pair(root, id, id);
    }
    write_split(root, "img_idx/train_IRSTD-1k.txt", &["XDU0", "XDU1"]);
    write_split(root, "img_idx/test_IRSTD-1k.txt", &["XDU2"]);
    let dataset = open(root).unwrap();
    assert_eq!(dataset.scheme.layout, SplitLayout::BasicIrstd);
    assert_eq!(dataset.scheme.name, "IRSTD-1k");
    assert_eq!(dataset.split("train").unwrap().len(), 2);
}

#[test]
fn recognises_the_sirst_devkit_layout_of_densesirst() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for id in ["Misc_1", "Misc_2"] {
        write_pair(root, id, &format!("{id}_pixels0"));
    }
    std::fs::rename(root.join("images"), root.join("PNGImages")).unwrap();
    std::fs::create_dir(root.join("SIRST")).unwrap();
    std::fs::rename(root.join("masks"), root.join("SIRST/BinaryMask")).unwrap();
    std::fs::write(root.join("SIRST/BinaryMask/Misc_1.xml"), "<annotation/>").unwrap();
    write_split(root, "Splits/train_v2.txt", &["Misc_1"]);
    write_split(root, "Splits/test_v2.txt", &["Misc_2"]);
    let dataset = open(root).unwrap();
    assert_eq!(dataset.scheme.layout, SplitLayout::SirstDevkit);
    assert_eq!(dataset.scheme.name, "v2");
    assert_eq!(
        (dataset.train_split().len(), dataset.test_split().len()),
        (1, 1)
    );
}

#[test]
fn recognises_top_level_trainval_and_test_files_of_irstd_1k() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for id in ["XDU0", "XDU1", "XDU2"] {
        write_pair(root, id, id);
    }
    std::fs::rename(root.join("images"), root.join("IRSTD1k_Img")).unwrap();
    std::fs::rename(root.join("masks"), root.join("IRSTD1k_Label")).unwrap();
    write_split(root, "trainval.txt", &["XDU0", "XDU1"]);
    write_split(root, "test.txt", &["XDU2"]);
    let dataset = open(root).unwrap();
    assert_eq!(dataset.scheme.layout, SplitLayout::TopLevel);
    assert_eq!(dataset.scheme.name, "top-level");
    let train: Vec<&str> = dataset
        .train_split()
        .iter()
        .map(|&i| dataset.samples[i].id.as_str())
        .collect();
    assert_eq!(train, vec!["XDU0", "XDU1"]);
}

#[test]
fn several_benchmark_splits_need_a_choice_and_unknown_choices_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    dnanet(root);
    write_split(root, "70_30/train.txt", &["a0", "a1", "a2"]);
    write_split(root, "70_30/test.txt", &["a3"]);
    let found = problems(root, &DatasetOptions::default());
    assert!(
        matches!(found.as_slice(), [DatasetProblem::AmbiguousSplit { .. }]),
        "{found:?}"
    );
    let chosen = DatasetOptions {
        split: Some("70_30".into()),
        ..DatasetOptions::default()
    };
    assert_eq!(
        Dataset::open(root, &chosen)
            .unwrap()
            .split("train")
            .unwrap()
            .len(),
        3
    );
    let unknown = DatasetOptions {
        split: Some("90_10".into()),
        ..DatasetOptions::default()
    };
    let found = problems(root, &unknown);
    assert!(
        found[0].to_string().contains("50_50, 70_30"),
        "{}",
        found[0]
    );
}

#[test]
fn missing_image_and_mask_are_reported_together_with_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    dnanet(root);
    let image = root.join("images/a1.png");
    let mask = root.join("masks/a3.png");
    std::fs::remove_file(&image).unwrap();
    std::fs::remove_file(&mask).unwrap();
    let found = problems(root, &DatasetOptions::default());
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        mentions(&found, &image) && mentions(&found, &mask),
        "{found:?}"
    );
}

#[test]
fn truncated_and_garbage_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    dnanet(root);
    let image = root.join("images/a0.png");
    let bytes = std::fs::read(&image).unwrap();
    std::fs::write(&image, &bytes[..bytes.len() / 2]).unwrap();
    let mask = root.join("masks/a2.png");
    std::fs::write(&mask, b"this is not a png").unwrap();
    let found = problems(root, &DatasetOptions::default());
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found
        .iter()
        .all(|p| matches!(p, DatasetProblem::UnreadableFile { .. })));
    assert!(
        mentions(&found, &image) && mentions(&found, &mask),
        "{found:?}"
    );
}

#[test]
fn empty_missing_and_duplicated_split_entries_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    dnanet(root);
    let test = root.join("50_50/test.txt");
    std::fs::write(&test, "\n  \n").unwrap();
    let found = problems(root, &DatasetOptions::default());
    assert_eq!(found, vec![DatasetProblem::EmptySplitFile(test.clone())]);

    std::fs::remove_file(&test).unwrap();
    let train = root.join("50_50/train.txt");
    std::fs::write(&train, "a0\na1\na0\na0\n").unwrap();
    let found = problems(root, &DatasetOptions::default());
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.contains(&DatasetProblem::MissingSplitFile(test)));
    assert!(found.contains(&DatasetProblem::DuplicateId {
        path: train,
        id: "a0".into(),
        count: 3,
    }));
}

#[test]
fn folders_without_splits_or_images_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let missing = root.join("nowhere");
    assert_eq!(
        problems(&missing, &DatasetOptions::default()),
        vec![DatasetProblem::MissingFolder(missing)]
    );
    dnanet(root);
    std::fs::remove_dir_all(root.join("50_50")).unwrap();
    assert_eq!(
        problems(root, &DatasetOptions::default()),
        vec![DatasetProblem::NoSplits(root.to_path_buf())]
    );
    std::fs::remove_dir_all(root.join("masks")).unwrap();
    assert_eq!(
        problems(root, &DatasetOptions::default()),
        vec![DatasetProblem::NoImageFolders(root.to_path_buf())]
    );
}

#[test]
fn a_size_mismatch_resizes_the_mask_with_a_warning_or_fails_when_strict() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    dnanet(root);
    // Twice the image size, target at twice the coordinates.
    let mask_path: PathBuf = root.join("masks/a2.png");
    let mut mask = GrayImage::new(16, 12);
    for (x, y) in [(6, 4), (7, 4), (6, 5), (7, 5)] {
        mask.put_pixel(x, y, image::Luma([255]));
    }
    mask.save(&mask_path).unwrap();

    let dataset = open(root).unwrap();
    assert_eq!(
        dataset.warnings,
        vec![DatasetWarning::MaskResized {
            mask: mask_path.clone(),
            from: (12, 16),
            to: (6, 8),
        }]
    );
    let sample = dataset.samples.iter().find(|s| s.id == "a2").unwrap();
    assert_eq!((sample.mask.height, sample.mask.width), (6, 8));
    assert_eq!(sample.mask.pixels[2 * 8 + 3], 1);
    assert_eq!(sample.mask.target_pixels(), 1);

    let strict = DatasetOptions {
        strict: true,
        ..DatasetOptions::default()
    };
    let found = problems(root, &strict);
    assert!(
        matches!(found.as_slice(), [DatasetProblem::SizeMismatch { .. }]),
        "{found:?}"
    );
    assert!(mentions(&found, &mask_path));
}

#[test]
fn ambiguous_files_for_one_id_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    dnanet(root);
    GrayImage::new(8, 6)
        .save(root.join("masks/a1_pixels0.png"))
        .unwrap();
    let found = problems(root, &DatasetOptions::default());
    assert!(
        matches!(found.as_slice(), [DatasetProblem::AmbiguousFile { .. }]),
        "{found:?}"
    );
    assert!(mentions(&found, &root.join("masks/a1_pixels0.png")));
}
