//! The pictures end to end on a tiny generated dataset: `curves.png` of a run, `roc.png`,
//! scaled overlays and `gallery.png` of `eval` and `baseline`, and `rrcanet compare` of both;
//! every file decodes as a PNG of the stated size.

mod common;

use common::{fail_with, path, succeed, synthesise, train_tiny};
use std::path::Path;

/// The width and height of the PNG at `file`.
fn png_size(file: &Path) -> (u32, u32) {
    let image = image::open(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    (image.width(), image.height())
}

#[test]
fn curves_roc_overlays_gallery_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let data = synthesise(dir.path(), "24", "3");
    let run = dir.path().join("run");
    train_tiny(&data, "r18-w4", "2", "1", &["--out", path(&run)]);
    assert_eq!(png_size(&run.join("curves.png")), (1200, 900));
    // Redrawn by the resumed run as well.
    let before = std::fs::read(run.join("curves.png")).unwrap();
    succeed(&["train", "--resume", path(&run), "--epochs", "3"]);
    let after = std::fs::read(run.join("curves.png")).unwrap();
    assert_ne!(before, after, "curves.png was not redrawn for epoch 3");
    assert_eq!(png_size(&run.join("curves.png")), (1200, 900));

    let printed = succeed(&["eval", "--checkpoint", path(&run)]);
    assert!(printed.contains("gallery.png"), "{printed}");
    let evaluation = run.join("eval-test");
    assert_eq!(png_size(&evaluation.join("roc.png")), (1200, 540));
    // 24 images, 20 % test: 5 images, one row of four and one of one.
    assert_eq!(
        png_size(&evaluation.join("gallery.png")),
        (1064, 40 + 2 * 290)
    );
    let overlays: Vec<_> = std::fs::read_dir(evaluation.join("overlays"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(overlays.len(), 5);
    for overlay in &overlays {
        // 32 x 32 scaled by 16, nearest neighbour.
        assert_eq!(png_size(overlay), (512, 512));
    }
    let per_image = std::fs::read_to_string(evaluation.join("per-image.csv")).unwrap();
    let rows: Vec<&str> = per_image.lines().collect();
    assert_eq!(rows.len(), 1 + 5, "{per_image}");
    assert!(
        rows[0].starts_with("id,iou,targets,detected"),
        "{per_image}"
    );
    for row in &rows[1..] {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields.len(), 8, "{row}");
        let iou: f64 = fields[1].parse().unwrap();
        assert!((0.0..=1.0).contains(&iou), "{row}");
        assert_eq!(fields[7], "1024", "32 x 32 pixels: {row}");
    }
    let roc = std::fs::read_to_string(evaluation.join("roc.csv")).unwrap();
    assert_eq!(
        roc.lines().count(),
        1 + 121,
        "the logit sweep has 121 thresholds"
    );

    let baseline = dir.path().join("tophat");
    succeed(&[
        "baseline",
        "--method",
        "tophat",
        "--dataset",
        path(&data),
        "--out",
        path(&baseline),
    ]);
    assert_eq!(png_size(&baseline.join("roc.png")), (1200, 540));
    assert_eq!(
        png_size(&baseline.join("gallery.png")),
        (1064, 40 + 2 * 290)
    );

    let compared = dir.path().join("compared");
    let table = succeed(&[
        "compare",
        path(&run),
        path(&baseline),
        "--out",
        path(&compared),
    ]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("run") && lines[0].contains("IoU") && lines[0].contains("MACs"));
    assert!(
        lines[1].starts_with("run ") && lines[1].contains("r18-w4"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("tophat ") && lines[2].contains(" - "),
        "{table}"
    );
    assert_eq!(png_size(&compared.join("roc.png")), (1200, 540));
    let markdown = std::fs::read_to_string(compared.join("results.md")).unwrap();
    assert_eq!(markdown.lines().count(), 4, "{markdown}");
    assert!(markdown.lines().nth(1).unwrap().starts_with("| --- |"));
    let csv = std::fs::read_to_string(compared.join("results.csv")).unwrap();
    assert_eq!(
        csv.lines().next(),
        Some("run,method,part,iou,niou,pd,fa,params,macs")
    );
    assert_eq!(csv.lines().count(), 3);

    // A folder holding no evaluation is named in the error.
    let error = fail_with(1, &["compare", path(&data), "--out", path(&compared)]);
    assert!(
        error.contains(path(&data)) && error.contains("rrcanet eval --checkpoint"),
        "{error}"
    );
}
