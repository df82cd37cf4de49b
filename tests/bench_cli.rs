//! `rrcanet bench` end to end on a small model: the JSON report has every measurement, a
//! breakdown that adds up to each median, and the convolution shapes; bad arguments are
//! errors, never panics.

mod common;

use common::{fail_with, succeed};

#[test]
fn bench_reports_every_measurement_with_a_breakdown_that_adds_up() {
    let out = succeed(&[
        "bench", "--model", "r10", "--batch", "2", "--size", "32", "--steps", "1", "--json",
        "--device", "cpu",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["device"], "cpu");
    assert_eq!(report["model"], "r10");
    for key in [
        "train_step_ms",
        "infer_b1_ms",
        "infer_b8_ms",
        "infer_512_ms",
        "infer_1024_ms",
    ] {
        let ms = report[key].as_f64().unwrap();
        assert!(ms > 0.0, "{key} = {ms}");
    }
    for (breakdown, total) in [
        ("train_step", "train_step_ms"),
        ("infer_b1", "infer_b1_ms"),
        ("infer_b8", "infer_b8_ms"),
    ] {
        let parts = report["breakdown"][breakdown].as_array().unwrap();
        let sum: f64 = parts.iter().map(|part| part["ms"].as_f64().unwrap()).sum();
        let total = report[total].as_f64().unwrap();
        assert!(
            (sum - total).abs() <= 1e-6 * total.max(1.0),
            "{breakdown}: parts add to {sum}, total {total}"
        );
        assert!(parts
            .iter()
            .any(|part| part["part"] == "conv-forward" && part["ms"].as_f64().unwrap() > 0.0));
    }
    let memory = &report["peak_rss_mb"];
    assert!(memory["train_step"].as_f64().unwrap() > 0.0);
    let shapes = report["conv_shapes"].as_array().unwrap();
    assert_eq!(shapes.len(), 5);
    assert!(shapes
        .iter()
        .all(|shape| shape["fraction_of_peak"].as_f64().unwrap() > 0.0));
    assert!(report["machine"]["fma_peak_gflops"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_arguments_are_errors() {
    let error = fail_with(1, &["bench", "--model", "r10", "--steps", "0"]);
    assert!(error.contains("--steps must be at least 1"), "{error}");
    let error = fail_with(1, &["bench", "--model", "r10", "--size", "30"]);
    assert!(error.contains("--size 30 is not a multiple"), "{error}");
    if !cfg!(feature = "cuda") {
        let error = fail_with(1, &["bench", "--model", "r10", "--device", "cuda"]);
        assert!(error.contains("--features cuda"), "{error}");
    }
}
