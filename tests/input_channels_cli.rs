//! One grey input channel (the authors' BasicIRSTD pipeline) end to end, and the ways weights
//! move between runs and frameworks (issue 13): `train --input-channels 1` records the
//! normalisation it resolved, eval and infer (with `--probabilities`) use it, `--resume` keeps
//! it, `train --init-from` starts from another run's weights, and `export` / `import
//! --input-channels 1` round-trip them. Tiny generated data: r10 at 32 x 32, batch 2.

mod common;

use common::{fail_with, path, succeed, synthesise};
use rrcanet::data::{Dataset, DatasetOptions, InputChannels};
use rrcanet::model::{load, DeviceKind, NamedTensor};
use std::path::Path;

fn train(data: &Path, run: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "--dataset",
        path(data),
        "--model",
        "r10",
        "--image-size",
        "32",
        "--batch-size",
        "2",
        "--seed",
        "1",
        "--epochs",
        "1",
        "--out",
        path(run),
    ];
    args.extend_from_slice(extra);
    succeed(&args)
}

fn config(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap()
}

/// The tensors of the checkpoint (or run) at `checkpoint`, and the input it takes.
fn tensors(checkpoint: &Path) -> (Vec<NamedTensor>, InputChannels) {
    let detector = load(checkpoint, DeviceKind::Cpu).unwrap().detector;
    (detector.tensors(), detector.input())
}

#[test]
fn grey_runs_train_resume_evaluate_infer_continue_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let count = "12";
    let data = synthesise(dir.path(), count, "5");

    // The run normalises with the training images' statistics and records them.
    let run = dir.path().join("grey");
    let printed = train(&data, &run, &["--input-channels", "1"]);
    assert!(printed.contains("input 1 grey channel"), "{printed}");
    let dataset = Dataset::open(&data, &DatasetOptions::default()).unwrap();
    let train_split = dataset.split("train").unwrap();
    let expected = InputChannels::gray_for(train_split.iter().map(|&i| &dataset.samples[i].image));
    let recorded: InputChannels = serde_json::from_value(config(&run)["input"].clone()).unwrap();
    assert_eq!(recorded, expected);
    assert!(matches!(recorded, InputChannels::Gray { std, .. } if std > 1.0));
    assert_eq!(tensors(&run).1, expected);

    // --resume keeps the input and refuses another.
    let error = fail_with(
        2,
        &["train", "--resume", path(&run), "--input-channels", "3"],
    );
    assert!(error.contains("cannot be used with"), "{error}");
    succeed(&["train", "--resume", path(&run), "--epochs", "2"]);
    let input = |run: &Path| -> InputChannels {
        serde_json::from_value(config(run)["input"].clone()).unwrap()
    };
    assert_eq!(input(&run), expected);
    assert_eq!(tensors(&run).1, expected);

    assert!(succeed(&["eval", "--checkpoint", path(&run), "--json"]).contains("iou"));
    // The comparison counts the grey model's parameters for its one input channel.
    let compared = succeed(&[
        "compare",
        path(&run),
        "--out",
        path(&dir.path().join("cmp")),
    ]);
    let params = |input| {
        rrcanet::model::build_for_input(rrcanet::model::ModelName::R10, input, DeviceKind::Cpu, 0)
            .unwrap()
            .cost(256, 256)
            .params
    };
    let (grey, rgb) = (params(expected), params(InputChannels::ImageNetRgb));
    assert!(grey < rgb);
    assert!(compared.contains(&format!(" {grey} ")), "{compared}");
    assert!(!compared.contains(&format!(" {rgb} ")), "{compared}");

    // Inference writes masks and, on request, 16-bit probability maps of the input's size
    // whose values above one half are the mask.
    let shots = dir.path().join("shots");
    std::fs::create_dir(&shots).unwrap();
    let mut shot = image::GrayImage::from_pixel(40, 24, image::Luma([30]));
    shot.put_pixel(10, 10, image::Luma([250]));
    shot.save(shots.join("shot.png")).unwrap();
    let out = dir.path().join("detections");
    let args = [
        "infer",
        "--checkpoint",
        path(&run),
        "--input",
        path(&shots),
        "--out",
        path(&out),
    ];
    let printed = succeed(&[&args[..], &["--probabilities"]].concat());
    assert!(printed.contains("probabilities"), "{printed}");
    let probabilities = image::open(out.join("probabilities/shot.png")).unwrap();
    assert_eq!((probabilities.width(), probabilities.height()), (40, 24));
    let probabilities = probabilities.as_luma16().expect("16-bit grey").clone();
    let mask = image::open(out.join("masks/shot.png")).unwrap().to_luma8();
    for (p, m) in probabilities.pixels().zip(mask.pixels()) {
        assert_eq!(
            p.0[0] > 32768,
            m.0[0] == 255,
            "probability {} vs mask {}",
            p.0[0],
            m.0[0]
        );
    }
    // A rerun without the maps keeps the previous ones, listed as its own.
    succeed(&args);
    assert!(out.join("probabilities/shot.png").exists());

    // A new run continues from these weights with their input: at a vanishing learning rate
    // its convolution weights stay where they were.
    let continued = dir.path().join("continued");
    let printed = train(
        &data,
        &continued,
        &["--init-from", path(&run), "--lr", "1e-12"],
    );
    assert!(printed.contains("input 1 grey channel"), "{printed}");
    assert_eq!(input(&continued), expected);
    let (before, after) = (
        tensors(&run).0,
        tensors(&continued.join("last.safetensors")).0,
    );
    for (old, new) in before.iter().zip(&after) {
        if old.name.ends_with("weight") && old.dimensions.len() == 4 {
            let moved = old
                .values
                .iter()
                .zip(&new.values)
                .map(|(a, b)| (a - b).abs());
            assert!(moved.fold(0.0, f32::max) < 1e-6, "{} moved", old.name);
        }
    }
    let error = fail_with(
        1,
        &[
            "train",
            "--dataset",
            path(&data),
            "--model",
            "r18",
            "--init-from",
            path(&run),
        ],
    );
    assert!(
        error.contains("r10") && error.contains("r18") && error.contains(path(&run)),
        "{error}"
    );

    // Export to the authors' layout and import back with the same normalisation: every
    // tensor bit for bit; a grey import without its normalisation is refused.
    let exported = dir.path().join("authors.safetensors");
    succeed(&["export", "--pytorch", path(&run), "--out", path(&exported)]);
    let InputChannels::Gray { mean, std } = expected else {
        unreachable!()
    };
    let (mean, std) = (mean.to_string(), std.to_string());
    let imported = dir.path().join("imported.safetensors");
    let import = [
        "import",
        "--pytorch",
        path(&exported),
        "--model",
        "r10",
        "--out",
        path(&imported),
    ];
    let error = fail_with(1, &[&import[..], &["--input-channels", "1"]].concat());
    assert!(error.contains("--gray-mean"), "{error}");
    let grey = [
        "--input-channels",
        "1",
        "--gray-mean",
        &mean,
        "--gray-std",
        &std,
    ];
    succeed(&[&import[..], &grey[..]].concat());
    let (original, input) = tensors(&run);
    assert_eq!(tensors(&imported), (original, input));
    let error = fail_with(1, &import);
    assert!(
        error.contains("shape") || error.contains("dimensions"),
        "{error}"
    );
}
