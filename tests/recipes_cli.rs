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
    assert_eq!(ours["warmup_epochs"], 2);
    assert_eq!(ours["lr"], 0.02);
    assert_eq!(ours["selection"]["validation"]["fraction"], 0.2);
    let paper = dir.path().join("paper");
    train("paper", &paper);
    let paper = config(&paper);
    assert_eq!(paper["scheduler"], "constant");
    assert!(paper["output_prior"].is_null(), "{paper}");
    assert!(paper["warmup_epochs"].is_null(), "{paper}");
    assert_eq!(paper["lr"], 0.05);
    assert_eq!(paper["selection"]["validation"]["fraction"], 0.1);
}

#[test]
fn a_warm_up_raises_the_rate_batch_by_batch_and_the_prior_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let data = synthesise(dir.path(), "30", "4");
    let run = dir.path().join("warm");
    train_tiny(
        &data,
        "r18-w4",
        "3",
        "1",
        &[
            "--scheduler",
            "constant",
            "--lr",
            "0.04",
            "--warmup-epochs",
            "2",
            "--output-prior",
            "0.05",
            "--out",
            path(&run),
        ],
    );
    let recorded = config(&run);
    assert_eq!(recorded["warmup_epochs"], 2);
    assert_eq!(recorded["output_prior"], 0.05);
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let rates: Vec<f64> = metrics
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(6).unwrap().parse().unwrap())
        .collect();
    // The last batch of epoch 1 is halfway through the warm-up.
    assert_eq!(rates, [0.02, 0.04, 0.04], "{metrics}");
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

#[test]
fn watching_the_test_split_reports_the_selection_gap() {
    let dir = tempfile::tempdir().unwrap();
    let data = synthesise(dir.path(), "30", "4");
    let out = dir.path().join("watched");
    let printed = train_tiny(
        &data,
        "r18-w4",
        "2",
        "7",
        &["--seeds", "1", "--watch-test", "--out", path(&out)],
    );
    let run = out.join("seed-7");
    assert_eq!(config(&run)["watch_test"], true);
    let history = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let rows: Vec<&str> = history.lines().collect();
    assert!(
        rows[0].ends_with(",seconds,test_iou,test_niou,test_pd,test_fa"),
        "{history}"
    );
    assert_eq!(rows.len(), 3, "{history}");
    // The watched test IoU of the selected epoch is what `eval` measures on its weights.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("seeds.json")).unwrap()).unwrap();
    let seed = &json["runs"][0];
    let watched = seed["gap"]["selected_test_iou"].as_f64().unwrap();
    let evaluated = seed["test"]["iou"].as_f64().unwrap();
    assert!(
        (watched - evaluated).abs() < 1e-6,
        "{watched} vs {evaluated}"
    );
    assert!(json["selection_gap"]["mean"].as_f64().unwrap() >= 0.0);
    assert!(printed.contains("selection gap"), "{printed}");
    let table = std::fs::read_to_string(out.join("seeds.md")).unwrap();
    assert!(table.contains("Selection gap"), "{table}");

    let refused = common::fail_with(
        2,
        &[
            "train",
            "--dataset",
            path(&data),
            "--select-on-test",
            "--watch-test",
        ],
    );
    assert!(refused.contains("--watch-test"), "{refused}");
}
