//! The researcher's workflow end to end on a tiny generated dataset: train 2 epochs, resume to
//! 3, evaluate, run inference; damaged or foreign checkpoints fail with clear errors.

mod common;

use common::{path, rrcanet, succeed, synthesise, text, train_tiny};
use std::path::Path;

fn fail(args: &[&str]) -> String {
    let output = rrcanet(args);
    assert!(
        !output.status.success(),
        "rrcanet {args:?} should have failed:\n{}",
        text(&output.stdout)
    );
    text(&output.stderr)
}

/// Trains `model` on `data` into `run` for `epochs` epochs at 32 x 32, at a constant rate
/// (a cosine decay spans the epoch total, so a run extended by `--resume --epochs` follows
/// another schedule than one given the larger total from the start).
fn train(data: &Path, run: &Path, model: &str, epochs: &str) -> String {
    train_tiny(
        data,
        model,
        epochs,
        "1",
        &["--scheduler", "constant", "--out", path(run)],
    )
}

#[test]
fn train_resume_eval_infer_and_checkpoint_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = synthesise(dir.path(), "24", "5");

    let run = dir.path().join("run");
    let printed = train(&data, &run, "r18-w4", "2");
    // The command the run suggests next works as printed.
    let next = printed
        .lines()
        .find_map(|line| line.strip_prefix("next: rrcanet "))
        .unwrap_or_else(|| panic!("no next command in {printed}"));
    let next: Vec<&str> = next.split_whitespace().collect();
    assert_eq!(next[0], "eval");
    assert!(succeed(&next).contains("IoU"));
    for file in [
        "config.json",
        "metrics.csv",
        "last.safetensors",
        "best.safetensors",
    ] {
        assert!(run.join(file).exists(), "{file} missing");
    }
    let rows = |run: &Path| {
        std::fs::read_to_string(run.join("metrics.csv"))
            .unwrap()
            .lines()
            .count()
            - 1
    };
    assert_eq!(rows(&run), 2);
    let header = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(header.starts_with("epoch,train_loss,val_iou,val_niou,val_pd,val_fa,lr,seconds"));

    // A second `train` into the same folder must not overwrite the run.
    assert!(fail(&[
        "train",
        "--dataset",
        path(&data),
        "--out",
        path(&run),
        "--epochs",
        "1"
    ])
    .contains("already holds a run"));

    succeed(&["train", "--resume", path(&run), "--epochs", "3"]);
    assert_eq!(rows(&run), 3);
    // Resuming continues exactly, and the same seed gives the same run: a straight 3-epoch
    // run records the same losses, metrics and learning rates (all but the seconds).
    let straight = dir.path().join("straight");
    train(&data, &straight, "r18-w4", "3");
    let without_seconds = |run: &Path| -> Vec<String> {
        std::fs::read_to_string(run.join("metrics.csv"))
            .unwrap()
            .lines()
            .map(|line| line.rsplit_once(',').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(without_seconds(&straight), without_seconds(&run));
    assert!(fail(&["train", "--resume", path(&run), "--epochs", "3"])
        .contains("already completed 3 epochs"));

    let eval_dir = dir.path().join("eval");
    let json = succeed(&[
        "eval",
        "--checkpoint",
        path(&run),
        "--out",
        path(&eval_dir),
        "--resize",
        "32",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in [
        "images",
        "iou",
        "niou",
        "pd",
        "fa",
        "targets",
        "matched",
        "false_alarm_pixels",
        "pixels",
        "intersection",
        "union",
    ] {
        assert!(report.get(key).is_some(), "missing {key}: {report}");
    }
    assert_eq!(report["images"], 5);
    for file in ["metrics.json", "roc.csv", "roc.png"] {
        assert!(eval_dir.join(file).exists(), "{file} missing");
    }
    assert_eq!(
        std::fs::read_dir(eval_dir.join("masks")).unwrap().count(),
        5
    );
    assert_eq!(
        std::fs::read_dir(eval_dir.join("overlays"))
            .unwrap()
            .count(),
        5
    );

    let infer_dir = dir.path().join("infer");
    succeed(&[
        "infer",
        "--checkpoint",
        path(&run),
        "--input",
        path(&data.join("images")),
        "--out",
        path(&infer_dir),
        "--device",
        "cpu",
    ]);
    let detections: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(infer_dir.join("detections.json")).unwrap())
            .unwrap();
    assert_eq!(detections.as_array().unwrap().len(), 24);
    assert_eq!(
        std::fs::read_dir(infer_dir.join("masks")).unwrap().count(),
        24
    );

    // The device is chosen at run time; a build without CUDA says how to get it.
    if !cfg!(feature = "cuda") {
        let error = fail(&[
            "eval",
            "--checkpoint",
            path(&run),
            "--resize",
            "32",
            "--device",
            "cuda",
        ]);
        assert!(error.contains("--features cuda"), "{error}");
    }

    // A truncated checkpoint is a clear error naming the file.
    let truncated = dir.path().join("truncated.safetensors");
    let bytes = std::fs::read(run.join("best.safetensors")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let error = fail(&[
        "infer",
        "--checkpoint",
        path(&truncated),
        "--input",
        path(&data.join("images")),
        "--out",
        path(&infer_dir),
    ]);
    assert!(error.contains("truncated.safetensors"), "{error}");

    // A checkpoint of another variant in the run: resuming names both models.
    let other = dir.path().join("other");
    train(&data, &other, "d3", "1");
    std::fs::copy(other.join("last.safetensors"), run.join("last.safetensors")).unwrap();
    let error = fail(&["train", "--resume", path(&run), "--epochs", "4"]);
    assert!(error.contains("d3") && error.contains("r18-w4"), "{error}");
}
