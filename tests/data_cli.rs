//! `rrcanet synth` and `rrcanet dataset` end to end on a small generated dataset.

mod common;

use common::{rrcanet, text};

#[test]
fn synth_then_dataset_reports_the_generated_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("synthetic");
    let out_arg = out.to_str().unwrap();
    let synth = rrcanet(&[
        "synth", "--out", out_arg, "--count", "10", "--size", "64", "--seed", "3",
    ]);
    assert!(synth.status.success(), "{}", text(&synth.stderr));
    assert!(text(&synth.stdout).contains("wrote 10 images (8 train, 2 test)"));

    let report = rrcanet(&["dataset", "--dataset", out_arg, "--json"]);
    assert!(report.status.success(), "{}", text(&report.stderr));
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    for key in [
        "images",
        "targets",
        "min_target_area",
        "median_target_area",
        "max_target_area",
        "images_without_targets",
        "splits",
    ] {
        assert!(json.get(key).is_some(), "missing key {key}: {json}");
    }
    assert_eq!(json["images"], 10);
    assert_eq!(json["splits"], serde_json::json!({"train": 8, "test": 2}));
    assert_eq!(json["split_scheme"], "80_20");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("synthetic.json")).unwrap())
            .unwrap();
    assert_eq!(json["targets"], summary["targets"]);

    let again = rrcanet(&["synth", "--out", out_arg, "--count", "10"]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("already exists"));
}

#[test]
fn a_malformed_dataset_exits_nonzero_listing_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let out = root.join("data");
    let out_arg = out.to_str().unwrap();
    let synth = rrcanet(&["synth", "--out", out_arg, "--count", "4", "--size", "32"]);
    assert!(synth.status.success(), "{}", text(&synth.stderr));
    std::fs::remove_file(out.join("masks/synth_00001.png")).unwrap();
    std::fs::write(out.join("images/synth_00002.png"), b"truncated").unwrap();

    let report = rrcanet(&["dataset", "--dataset", out_arg]);
    assert!(!report.status.success());
    let stderr = text(&report.stderr);
    assert!(stderr.contains("2 problem(s)"), "{stderr}");
    assert!(stderr.contains("masks/synth_00001.png") && stderr.contains("images/synth_00002.png"));
}

#[test]
fn a_split_file_with_a_byte_order_mark_and_crlf_lines_opens() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let out_arg = out.to_str().unwrap();
    let synth = rrcanet(&["synth", "--out", out_arg, "--count", "4", "--size", "32"]);
    assert!(synth.status.success(), "{}", text(&synth.stderr));
    let train = out.join("80_20/train.txt");
    let ids = std::fs::read_to_string(&train).unwrap();
    let windows = format!("\u{feff}{}", ids.replace('\n', " \r\n"));
    std::fs::write(&train, windows).unwrap();

    let report = rrcanet(&["dataset", "--dataset", out_arg, "--json"]);
    assert!(report.status.success(), "{}", text(&report.stderr));
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(json["splits"], serde_json::json!({"train": 3, "test": 1}));
}

#[test]
fn warnings_are_reported_beside_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let out_arg = out.to_str().unwrap();
    let synth = rrcanet(&["synth", "--out", out_arg, "--count", "4", "--size", "32"]);
    assert!(synth.status.success(), "{}", text(&synth.stderr));
    std::fs::remove_file(out.join("masks/synth_00001.png")).unwrap();
    image::GrayImage::new(16, 16)
        .save(out.join("masks/synth_00002.png"))
        .unwrap();

    let report = rrcanet(&["dataset", "--dataset", out_arg]);
    assert!(!report.status.success());
    let stderr = text(&report.stderr);
    assert!(stderr.contains("masks/synth_00001.png"), "{stderr}");
    assert!(
        stderr.contains("masks/synth_00002.png: mask is 16 x 16 but its image is 32 x 32"),
        "{stderr}"
    );
}

#[test]
fn absurd_synthetic_sizes_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let started = std::time::Instant::now();
    let synth = rrcanet(&[
        "synth",
        "--out",
        out.to_str().unwrap(),
        "--count",
        "2",
        "--size",
        "100000",
    ]);
    assert!(!synth.status.success());
    let stderr = text(&synth.stderr);
    assert!(stderr.contains("at most 4096"), "{stderr}");
    assert!(started.elapsed().as_secs() < 10 && !out.exists());
}

#[test]
fn params_refuses_an_empty_image() {
    let report = rrcanet(&["params", "--model", "r10", "--size", "0"]);
    assert!(!report.status.success());
    assert_ne!(report.status.code(), Some(101), "a panic");
    assert!(
        text(&report.stderr).contains("--size"),
        "{}",
        text(&report.stderr)
    );
}
