//! `train --recipe` sets the defaults a run records, and `train --seeds K` trains K seeds,
//! evaluates each on the test part and reports mean ± std; rerunning it keeps finished runs.

mod common;

use common::{path, synthesise, train_tiny};
use std::path::Path;

fn config(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap()
}

#[test]
fn recipes_record_their_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let data = synthesise(dir.path(), "30", "4");
    let train = |recipe: &str, run: &Path| {
        train_tiny(
            &data,
            "r18-w4",
            "1",
            "1",
            &["--recipe", recipe, "--out", path(run)],
        )
    };
    let ours = dir.path().join("default");
    train("default", &ours);
    let ours = config(&ours);
    assert_eq!(ours["scheduler"], "cosine");
    assert_eq!(ours["output_prior"], 0.01);
    assert_eq!(ours["selection"]["validation"]["fraction"], 0.2);
    let paper = dir.path().join("paper");
    train("paper", &paper);
    let paper = config(&paper);
    assert_eq!(paper["scheduler"], "constant");
    assert!(paper["output_prior"].is_null(), "{paper}");
    assert_eq!(paper["selection"]["validation"]["fraction"], 0.1);
}

#[test]
fn seeds_report_mean_and_deviation_and_a_rerun_keeps_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = synthesise(dir.path(), "30", "4");
    let out = dir.path().join("seeds");
    let train = || {
        train_tiny(
            &data,
            "r18-w4",
            "1",
            "7",
            &["--seeds", "2", "--out", path(&out)],
        )
    };
    let printed = train();
    for seed in ["7", "8"] {
        let run = out.join(format!("seed-{seed}"));
        assert_eq!(config(&run)["seed"], seed.parse::<u64>().unwrap());
        assert!(run.join("eval-test").join("metrics.json").is_file());
        assert!(
            printed.contains(&format!("seed {seed}: epoch 1 selected")),
            "{printed}"
        );
    }
    let table = std::fs::read_to_string(out.join("seeds.md")).unwrap();
    assert_eq!(table.lines().count(), 2 + 2 + 1, "{table}");
    assert!(table
        .lines()
        .last()
        .unwrap()
        .starts_with("| mean ± std (2 seeds)"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("seeds.json")).unwrap()).unwrap();
    let ious: Vec<f64> = json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["test"]["iou"].as_f64().unwrap())
        .collect();
    let mean = json["iou"]["mean"].as_f64().unwrap();
    assert!((mean - (ious[0] + ious[1]) / 2.0).abs() < 1e-12);
    let std = json["iou"]["std"].as_f64().unwrap();
    assert!((std - (ious[0] - ious[1]).abs() / 2f64.sqrt()).abs() < 1e-12);

    // The same command again trains nothing and reports the same.
    let weights = std::fs::read(out.join("seed-7").join("best.safetensors")).unwrap();
    let again = train();
    assert!(!again.contains("training r18-w4"), "{again}");
    assert_eq!(
        std::fs::read_to_string(out.join("seeds.md")).unwrap(),
        table
    );
    assert_eq!(
        std::fs::read(out.join("seed-7").join("best.safetensors")).unwrap(),
        weights
    );
}
