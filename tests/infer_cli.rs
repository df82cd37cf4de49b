//! `rrcanet infer` end to end on generated images with an untrained r10 checkpoint: every
//! input gets its own mask, a rerun replaces what the previous run wrote and nothing else,
//! absurd image sizes are refused before anything is decoded.

mod common;

use common::{path, rrcanet, text};
use rrcanet::model::{build, DeviceKind, ModelName};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

/// An untrained r10 checkpoint file in `dir`.
fn checkpoint(dir: &Path) -> PathBuf {
    let name: ModelName = "r10".parse().unwrap();
    let file = dir.join("r10.safetensors");
    build(name, DeviceKind::Cpu, 0)
        .unwrap()
        .save_weights(&file)
        .unwrap();
    file
}

/// A 40 x 24 gray image with a bright spot, saved in the format its extension names.
fn write_image(file: &Path) {
    let mut image = image::GrayImage::from_pixel(40, 24, image::Luma([30]));
    image.put_pixel(10, 10, image::Luma([250]));
    image.save(file).unwrap();
}

fn infer(checkpoint: &Path, input: &Path, out: &Path) -> Output {
    rrcanet(&[
        "infer",
        "--checkpoint",
        path(checkpoint),
        "--input",
        path(input),
        "--out",
        path(out),
    ])
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn detections(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("detections.json")).unwrap()).unwrap()
}

#[test]
fn inputs_sharing_a_stem_get_one_mask_each() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = checkpoint(dir.path());
    let input = dir.path().join("input");
    std::fs::create_dir(&input).unwrap();
    for name in ["a.png", "a.bmp", "B.PNG", "c.png"] {
        write_image(&input.join(name));
    }
    let out = dir.path().join("out");
    let run = infer(&checkpoint, &input, &out);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).contains("4 images"),
        "{}",
        text(&run.stdout)
    );
    let expected: BTreeSet<String> = ["a.bmp.png", "a.png.png", "B.png", "c.png"]
        .map(String::from)
        .into();
    assert_eq!(file_names(&out.join("masks")), expected);
    let listed: BTreeSet<String> = detections(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["mask"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, expected);
}

#[test]
fn a_rerun_replaces_the_previous_masks_and_keeps_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = checkpoint(dir.path());
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    for (folder, names) in [(&first, &["a.png", "b.png"][..]), (&second, &["c.png"][..])] {
        std::fs::create_dir(folder).unwrap();
        for name in names {
            write_image(&folder.join(name));
        }
    }
    let out = dir.path().join("out");
    assert!(infer(&checkpoint, &first, &out).status.success());
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let run = infer(&checkpoint, &second, &out);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).contains("removed 2 masks of the previous run"),
        "{}",
        text(&run.stdout)
    );
    assert_eq!(file_names(&out.join("masks")), ["c.png".to_owned()].into());
    assert_eq!(detections(&out).as_array().unwrap().len(), 1);
    assert!(out.join("notes.txt").exists());

    // A file in masks/ that no infer run wrote is never deleted: the run is refused.
    std::fs::write(out.join("masks/keep.png"), "not ours").unwrap();
    let run = infer(&checkpoint, &first, &out);
    assert!(!run.status.success());
    let stderr = text(&run.stderr);
    assert!(stderr.contains("keep.png"), "{stderr}");
    assert!(out.join("masks/keep.png").exists() && out.join("masks/c.png").exists());
}

#[test]
fn an_absurd_image_size_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = checkpoint(dir.path());
    let huge = dir.path().join("huge.png");
    let file = std::io::BufWriter::new(std::fs::File::create(&huge).unwrap());
    let mut encoder = png::Encoder::new(file, 100_000, 100_000);
    encoder.set_color(png::ColorType::Grayscale);
    // A header and the start of the image data: enough for a decoder to read the size.
    let mut writer = encoder.write_header().unwrap();
    writer.write_chunk(png::chunk::IDAT, &[0x78, 0x9c]).unwrap();
    drop(writer);
    let run = infer(&checkpoint, &huge, &dir.path().join("out"));
    assert!(!run.status.success());
    assert_ne!(run.status.code(), Some(101), "a panic");
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("huge.png") && stderr.contains("100000 x 100000"),
        "{stderr}"
    );
}

#[test]
fn eval_refuses_a_zero_resize() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = checkpoint(dir.path());
    let data = dir.path().join("data");
    let synth = rrcanet(&[
        "synth",
        "--out",
        path(&data),
        "--count",
        "2",
        "--size",
        "32",
    ]);
    assert!(synth.status.success(), "{}", text(&synth.stderr));
    let run = rrcanet(&[
        "eval",
        "--checkpoint",
        path(&checkpoint),
        "--dataset",
        path(&data),
        "--resize",
        "0",
    ]);
    assert!(!run.status.success());
    assert_ne!(run.status.code(), Some(101), "a panic");
    assert!(
        text(&run.stderr).contains("--resize"),
        "{}",
        text(&run.stderr)
    );
}

#[test]
fn without_a_checkpoint_the_shipped_detector_is_used_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("shot.png");
    write_image(&image);
    let out = dir.path().join("out");
    let run = rrcanet(&["infer", "--input", path(&image), "--out", path(&out)]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains("the shipped r18 trained on SIRST") && stderr.contains("models/r18-sirst"),
        "{stderr}"
    );
    assert_eq!(detections(&out).as_array().unwrap().len(), 1);
}
