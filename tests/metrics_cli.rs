//! End-to-end runs of `rrcanet metrics` on PNGs generated in a temporary directory.

mod common;

use common::rrcanet;
use serde_json::Value;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use tempfile::TempDir;

const WIDTH: usize = 10;
const HEIGHT: usize = 8;

/// Writes a grayscale PNG of the given bit depth (1, 8 or 16) from one value per pixel.
fn write_gray_png(
    path: &Path,
    height: usize,
    width: usize,
    bit_depth: png::BitDepth,
    values: &[u16],
) {
    let mut encoder = png::Encoder::new(
        BufWriter::new(File::create(path).unwrap()),
        width as u32,
        height as u32,
    );
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(bit_depth);
    let data: Vec<u8> = match bit_depth {
        png::BitDepth::One => values
            .chunks_exact(width)
            .flat_map(|row| {
                row.chunks(8).map(|byte| {
                    byte.iter().enumerate().fold(0u8, |packed, (bit, &value)| {
                        packed | (u8::from(value != 0) << (7 - bit))
                    })
                })
            })
            .collect(),
        png::BitDepth::Eight => values.iter().map(|&value| value as u8).collect(),
        png::BitDepth::Sixteen => values
            .iter()
            .flat_map(|value| value.to_be_bytes())
            .collect(),
        other => panic!("unsupported test bit depth {other:?}"),
    };
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&data).unwrap();
}

/// A WIDTH x HEIGHT image with `value` at the given (row, column) pixels, 0 elsewhere.
fn image(pixels: &[(usize, usize, u16)]) -> Vec<u16> {
    let mut values = vec![0; WIDTH * HEIGHT];
    for &(row, column, value) in pixels {
        values[row * WIDTH + column] = value;
    }
    values
}

/// The known case, two images:
///
/// `a`: ground truth (1-bit, SIRST name `a_pixels0.png`) has a 2 x 2 target at rows 1-2,
/// columns 1-2 and a 1-pixel target at (6, 8). The 8-bit prediction covers 3 pixels of the
/// square (the 4th is 100 / 255 < 0.5), has (6, 8) at 127 / 255 < 0.5, and a 3-pixel false
/// alarm at rows 4-6, column 4: the same area as the matched region, which the legacy mode
/// therefore drops.
///
/// `b`: ground truth (8-bit, 0 / 255) is row 3, columns 5-7; the 1-bit prediction is row 3,
/// columns 6-8 (centroid 1 px away: a match).
fn known_case() -> TempDir {
    let dir = TempDir::new().unwrap();
    let (pred, gt) = (dir.path().join("pred"), dir.path().join("gt"));
    std::fs::create_dir_all(&pred).unwrap();
    std::fs::create_dir_all(&gt).unwrap();
    let square = [(1, 1, 1), (1, 2, 1), (2, 1, 1), (2, 2, 1), (6, 8, 1)];
    write_gray_png(
        &gt.join("a_pixels0.png"),
        HEIGHT,
        WIDTH,
        png::BitDepth::One,
        &image(&square),
    );
    let prediction_a = [
        (1, 1, 200),
        (1, 2, 200),
        (2, 1, 200),
        (2, 2, 100),
        (6, 8, 127),
        (4, 4, 255),
        (5, 4, 255),
        (6, 4, 255),
    ];
    write_gray_png(
        &pred.join("a.png"),
        HEIGHT,
        WIDTH,
        png::BitDepth::Eight,
        &image(&prediction_a),
    );
    let line = [(3, 5, 255), (3, 6, 255), (3, 7, 255)];
    write_gray_png(
        &gt.join("b.png"),
        HEIGHT,
        WIDTH,
        png::BitDepth::Eight,
        &image(&line),
    );
    let shifted = [(3, 6, 1), (3, 7, 1), (3, 8, 1)];
    write_gray_png(
        &pred.join("b.png"),
        HEIGHT,
        WIDTH,
        png::BitDepth::One,
        &image(&shifted),
    );
    dir
}

fn metrics_json(dir: &Path, extra: &[&str]) -> Value {
    let (pred, gt) = (dir.join("pred"), dir.join("gt"));
    let mut args = vec![
        "metrics",
        "--pred",
        pred.to_str().unwrap(),
        "--gt",
        gt.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let output = rrcanet(&args);
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn metrics_error(dir: &Path) -> String {
    let (pred, gt) = (dir.join("pred"), dir.join("gt"));
    let output = rrcanet(&[
        "metrics",
        "--pred",
        pred.to_str().unwrap(),
        "--gt",
        gt.to_str().unwrap(),
    ]);
    assert!(
        !output.status.success(),
        "expected a failure, got: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_numbers(report: &Value, expected: &[(&str, f64)]) {
    for &(key, value) in expected {
        assert_eq!(report[key].as_f64(), Some(value), "{key} in {report}");
    }
}

#[test]
fn known_case_gives_exact_numbers() {
    let dir = known_case();
    let report = metrics_json(dir.path(), &[]);
    assert_numbers(
        &report,
        &[
            ("images", 2.0),
            ("targets", 3.0),
            ("matched", 2.0),
            ("pd", 2.0 / 3.0),
            ("false_alarm_pixels", 3.0),
            ("pixels", 160.0),
            ("fa", 3.0 / 160.0),
            ("intersection", 5.0),
            ("union", 12.0),
            ("iou", 5.0 / 12.0),
            ("niou", (3.0 / 8.0 + 1.0 / 2.0) / 2.0),
        ],
    );
}

#[test]
fn json_has_every_key() {
    let dir = known_case();
    let report = metrics_json(dir.path(), &[]);
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
        assert!(
            report.get(key).is_some_and(Value::is_number),
            "missing {key} in {report}"
        );
    }
    assert!(report.get("roc").is_none());
}

#[test]
fn threshold_moves_the_cut_on_probability_maps() {
    let dir = known_case();
    // At 0.3 the 100 and 127 pixels of `a` become targets: both targets found.
    let report = metrics_json(dir.path(), &["--threshold", "0.3"]);
    assert_numbers(
        &report,
        &[
            ("matched", 3.0),
            ("pd", 1.0),
            ("false_alarm_pixels", 3.0),
            ("intersection", 7.0),
            ("union", 12.0),
            ("niou", (5.0 / 8.0 + 1.0 / 2.0) / 2.0),
        ],
    );
}

#[test]
fn legacy_mode_drops_false_alarms_with_a_matched_area() {
    let dir = known_case();
    let report = metrics_json(dir.path(), &["--compat", "legacy"]);
    assert_numbers(
        &report,
        &[
            ("matched", 2.0),
            ("false_alarm_pixels", 0.0),
            ("fa", 0.0),
            ("iou", 5.0 / 12.0),
        ],
    );
    assert_eq!(report["compat"], "legacy");
}

#[test]
fn roc_is_reported_when_asked() {
    let dir = known_case();
    let report = metrics_json(dir.path(), &["--roc", "4"]);
    let points = report["roc"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 5);
    assert_eq!(points[2]["threshold"].as_f64(), Some(0.5));
    assert_eq!(points[2]["pd"], report["pd"]);
    assert!(report["roc"]["auc"].is_number());
}

#[test]
fn sixteen_bit_probability_maps_scale_by_65535() {
    let dir = TempDir::new().unwrap();
    let (pred, gt) = (dir.path().join("pred"), dir.path().join("gt"));
    std::fs::create_dir_all(&pred).unwrap();
    std::fs::create_dir_all(&gt).unwrap();
    write_gray_png(
        &gt.join("x.png"),
        HEIGHT,
        WIDTH,
        png::BitDepth::One,
        &image(&[(2, 2, 1), (2, 3, 1)]),
    );
    // 40000 / 65535 = 0.61, 30000 / 65535 = 0.46.
    let scores = image(&[(2, 2, 40000), (2, 3, 40000), (5, 5, 30000)]);
    write_gray_png(
        &pred.join("x.png"),
        HEIGHT,
        WIDTH,
        png::BitDepth::Sixteen,
        &scores,
    );
    let report = metrics_json(dir.path(), &[]);
    assert_numbers(&report, &[("iou", 1.0), ("pd", 1.0), ("fa", 0.0)]);
    let report = metrics_json(dir.path(), &["--threshold", "0.65"]);
    assert_numbers(
        &report,
        &[("pd", 0.0), ("intersection", 0.0), ("union", 2.0)],
    );
}

#[test]
fn table_output_names_the_metrics() {
    let dir = known_case();
    let (pred, gt) = (dir.path().join("pred"), dir.path().join("gt"));
    let output = rrcanet(&[
        "metrics",
        "--pred",
        pred.to_str().unwrap(),
        "--gt",
        gt.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    let table = String::from_utf8_lossy(&output.stdout);
    for label in ["IoU", "nIoU", "Pd", "Fa", "2 images"] {
        assert!(table.contains(label), "{label} missing from:\n{table}");
    }
}

#[test]
fn prediction_without_ground_truth_is_an_error() {
    let dir = known_case();
    write_gray_png(
        &dir.path().join("pred/extra.png"),
        HEIGHT,
        WIDTH,
        png::BitDepth::Eight,
        &image(&[]),
    );
    let error = metrics_error(dir.path());
    assert!(
        error.contains("extra.png") && error.contains("prediction"),
        "{error}"
    );
}

#[test]
fn ground_truth_without_prediction_is_an_error() {
    let dir = known_case();
    write_gray_png(
        &dir.path().join("gt/lonely_pixels0.png"),
        HEIGHT,
        WIDTH,
        png::BitDepth::One,
        &image(&[]),
    );
    let error = metrics_error(dir.path());
    assert!(
        error.contains("lonely_pixels0.png") && error.contains("ground-truth"),
        "{error}"
    );
}

#[test]
fn size_mismatch_is_an_error_naming_both_files() {
    let dir = known_case();
    write_gray_png(
        &dir.path().join("pred/b.png"),
        HEIGHT,
        WIDTH - 1,
        png::BitDepth::Eight,
        &[0; (WIDTH - 1) * HEIGHT],
    );
    let error = metrics_error(dir.path());
    assert!(
        error.contains("size mismatch")
            && error.contains("b.png")
            && error.contains("9x8")
            && error.contains("10x8"),
        "{error}"
    );
}

#[test]
fn unreadable_file_is_an_error_naming_it() {
    let dir = known_case();
    std::fs::write(dir.path().join("pred/a.png"), b"not a png").unwrap();
    let error = metrics_error(dir.path());
    assert!(
        error.contains("a.png") && error.contains("cannot decode"),
        "{error}"
    );
}

#[test]
fn colour_prediction_is_an_error_naming_it() {
    let dir = known_case();
    let path = dir.path().join("pred/a.png");
    let mut encoder = png::Encoder::new(BufWriter::new(File::create(&path).unwrap()), 2, 1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&[9, 9, 9, 255, 0, 0])
        .unwrap();
    let error = metrics_error(dir.path());
    assert!(
        error.contains("a.png") && error.contains("row 0, column 1"),
        "{error}"
    );
}

#[test]
fn missing_directory_and_bad_threshold_are_errors() {
    let dir = known_case();
    let error = metrics_error(&dir.path().join("nowhere"));
    assert!(error.contains("nowhere"), "{error}");
    let (pred, gt) = (dir.path().join("pred"), dir.path().join("gt"));
    let output = rrcanet(&[
        "metrics",
        "--pred",
        pred.to_str().unwrap(),
        "--gt",
        gt.to_str().unwrap(),
        "--threshold",
        "2",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("threshold 2"));
}

#[test]
fn eight_bit_zero_one_predictions_are_read_as_masks_and_said_so() {
    let dir = TempDir::new().unwrap();
    let (pred, gt) = (dir.path().join("pred"), dir.path().join("gt"));
    std::fs::create_dir_all(&pred).unwrap();
    std::fs::create_dir_all(&gt).unwrap();
    let square = [(1, 1), (1, 2), (2, 1), (2, 2)];
    let with = |value: u16| image(&square.map(|(row, column)| (row, column, value)));
    for name in ["a.png", "b.png"] {
        write_gray_png(
            &gt.join(name),
            HEIGHT,
            WIDTH,
            png::BitDepth::Eight,
            &with(255),
        );
        write_gray_png(
            &pred.join(name),
            HEIGHT,
            WIDTH,
            png::BitDepth::Eight,
            &with(1),
        );
    }
    let report = metrics_json(dir.path(), &[]);
    assert_numbers(&report, &[("iou", 1.0), ("pd", 1.0)]);
    assert_eq!(report["predictions"], "0/1 masks", "{report}");

    let output = rrcanet(&[
        "metrics",
        "--pred",
        pred.to_str().unwrap(),
        "--gt",
        gt.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("maximum value is 1"), "{stderr}");
}
