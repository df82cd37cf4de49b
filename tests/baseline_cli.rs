//! `rrcanet baseline` end to end on a small generated dataset: every method writes the files
//! `rrcanet eval` writes and reports the same keys; bad arguments fail with a message.

mod common;

use common::{rrcanet, text};
use std::path::Path;

fn synthetic(root: &Path) -> String {
    let data = root.join("data");
    let data_arg = data.to_str().unwrap().to_string();
    let synth = rrcanet(&[
        "synth", "--out", &data_arg, "--count", "10", "--size", "48", "--seed", "2",
    ]);
    assert!(synth.status.success(), "{}", text(&synth.stderr));
    data_arg
}

#[test]
fn every_method_writes_eval_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let data = synthetic(dir.path());
    let runs: [&[&str]; 5] = [
        &["--method", "tophat"],
        &[
            "--method",
            "tophat",
            "--disk",
            "--size",
            "7",
            "--threshold",
            "3",
        ],
        &["--method", "maxmedian"],
        &["--method", "mpcm"],
        &["--method", "ipi", "--size", "16", "--step", "8"],
    ];
    for (i, run) in runs.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let out_arg = out.to_str().unwrap();
        let mut args = vec!["baseline", "--dataset", &data, "--out", out_arg, "--json"];
        args.extend_from_slice(run);
        let result = rrcanet(&args);
        assert!(result.status.success(), "{run:?}: {}", text(&result.stderr));
        let json: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
        for key in ["iou", "niou", "pd", "fa", "fa_legacy", "roc_auc", "targets"] {
            assert!(json.get(key).is_some(), "{run:?}: no {key} in {json}");
        }
        assert_eq!(json["images"], 2, "{run:?}");
        assert!(json["roc_auc"].as_f64().unwrap() > 0.5, "{run:?}: {json}");
        for file in ["metrics.json", "roc.csv", "roc.png"] {
            assert!(out.join(file).is_file(), "{run:?}: no {file}");
        }
        for folder in ["masks", "overlays"] {
            assert_eq!(std::fs::read_dir(out.join(folder)).unwrap().count(), 2);
        }
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap())
                .unwrap();
        assert_eq!(report["baseline"]["method"], run[1], "{report}");
        assert_eq!(report["metrics"]["iou"], json["iou"]);
    }
}

#[test]
fn bad_arguments_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = synthetic(dir.path());
    let out = dir.path().join("out");
    let out_arg = out.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--method", "nram"], "unknown baseline method `nram`"),
        (
            &["--method", "tophat", "--threshold", "high"],
            "threshold `high`",
        ),
        (&["--method", "maxmedian", "--size", "4"], "odd size"),
        (&["--method", "mpcm", "--part", "val"], "has no `val` split"),
    ];
    for (run, message) in cases {
        let mut args = vec!["baseline", "--dataset", &data, "--out", out_arg];
        args.extend_from_slice(run);
        let result = rrcanet(&args);
        assert!(!result.status.success(), "{run:?}");
        let stderr = text(&result.stderr);
        assert!(stderr.contains(message), "{run:?}: {stderr}");
    }
}
