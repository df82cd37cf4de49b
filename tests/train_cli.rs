//! `rrcanet train` (and the checkpoint checks of `eval`, `infer` and `--resume`) against what
//! a user can get wrong or do by accident (issue 14, training side): diverging weights, two
//! processes on one run, changed options or data on resume, Ctrl-C, failed starts, foreign
//! output folders and bad option values. Tiny generated data: r10 at 32 x 32, batch 2.

mod common;

use common::{fail_with, path, rrcanet, rrcanet_in, succeed, text};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A command that must fail at run time (exit code 1).
fn fail(args: &[&str]) -> String {
    fail_with(1, args)
}

/// A temporary folder with a generated dataset of `count` 32 x 32 images in `data/`.
fn dataset(count: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    generate(&data, count);
    (dir, data)
}

fn generate(data: &Path, count: usize) {
    let count = count.to_string();
    succeed(&[
        "synth",
        "--out",
        path(data),
        "--count",
        &count,
        "--size",
        "32",
        "--seed",
        "5",
    ]);
}

/// The arguments of a new r10 run on `data` into `run`, with the option-value pairs of
/// `extra` added or replacing the defaults.
fn train_args<'a>(
    data: &'a Path,
    run: &'a Path,
    epochs: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
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
        epochs,
        "--out",
        path(run),
    ];
    for pair in extra.chunks(2) {
        match args.iter().position(|arg| *arg == pair[0]) {
            Some(at) => args[at + 1] = pair[1],
            None => args.extend_from_slice(pair),
        }
    }
    args
}

fn metrics_without_seconds(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|line| line.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn non_finite_weights_stop_the_run_and_checkpoints_holding_them_are_refused() {
    let (dir, data) = dataset(12);
    // Diverging in the first epoch: a clear error naming epoch and batch, and no run folder
    // left behind (nothing had been saved), so the same --out can be used again.
    let diverged = dir.path().join("diverged");
    let error = fail(&train_args(&data, &diverged, "2", &["--lr", "1e9"]));
    assert!(
        error.contains("NaN or infinite") && error.contains("at epoch 1, batch "),
        "{error}"
    );
    assert!(error.contains("nothing was saved"), "{error}");
    assert!(
        !diverged.exists(),
        "a failed first epoch left {}",
        diverged.display()
    );
    let error = fail(&train_args(
        &data,
        &diverged,
        "1",
        &["--optimizer", "sgd", "--lr", "1e38"],
    ));
    assert!(!error.contains("last.safetensors"), "{error}");

    // Diverging later keeps the last good checkpoint as it was.
    let run = dir.path().join("run");
    succeed(&train_args(&data, &run, "1", &[]));
    let good = read(&run.join("last.safetensors"));
    let config_path = run.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(&read(&config_path)).unwrap();
    config["lr"] = 1e9.into();
    std::fs::write(&config_path, config.to_string()).unwrap();
    let error = fail(&["train", "--resume", path(&run), "--epochs", "2"]);
    assert!(error.contains("at epoch 2, batch "), "{error}");
    assert!(
        error.contains("last.safetensors keeps the last good weights"),
        "{error}"
    );
    assert_eq!(read(&run.join("last.safetensors")), good);

    // A checkpoint holding a NaN is refused by eval, infer and --resume.
    let mut poisoned = good.clone();
    let end = poisoned.len();
    poisoned[end - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    let nan = dir.path().join("nan.safetensors");
    std::fs::write(&nan, &poisoned).unwrap();
    let refused = |error: String| {
        assert!(
            error.contains("nan.safetensors") || error.contains("last.safetensors"),
            "{error}"
        );
        assert!(error.contains("NaN or infinite values"), "{error}");
    };
    refused(fail(&[
        "eval",
        "--checkpoint",
        path(&nan),
        "--dataset",
        path(&data),
        "--resize",
        "32",
    ]));
    let masks = dir.path().join("masks");
    refused(fail(&[
        "infer",
        "--checkpoint",
        path(&nan),
        "--input",
        path(&data.join("images")),
        "--out",
        path(&masks),
    ]));
    config["lr"] = 0.05.into();
    std::fs::write(&config_path, config.to_string()).unwrap();
    std::fs::write(run.join("last.safetensors"), &poisoned).unwrap();
    refused(fail(&["train", "--resume", path(&run), "--epochs", "2"]));
}

#[test]
fn a_run_is_locked_while_a_process_writes_it_even_after_kill_9() {
    let (dir, data) = dataset(12);
    let run = dir.path().join("run");
    let mut first = Command::new(env!("CARGO_BIN_EXE_rrcanet"))
        .args(train_args(&data, &run, "500", &[]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !run.join("config.json").exists() {
        assert!(
            started.elapsed().as_secs() < 60,
            "the first run did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let error = fail(&["train", "--resume", path(&run), "--epochs", "600"]);
    assert!(
        error.contains("another rrcanet process is writing this run"),
        "{error}"
    );
    let error = fail(&train_args(&data, &run, "1", &[]));
    assert!(error.contains("already holds a run"), "{error}");
    first.kill().unwrap();
    first.wait().unwrap();
    // kill -9 released the lock: the run resumes, for one more epoch.
    let done = match std::fs::read(run.join("state.json")) {
        Ok(state) => serde_json::from_slice::<serde_json::Value>(&state).unwrap()
            ["epochs_completed"]
            .as_u64()
            .unwrap(),
        Err(_) => 0,
    };
    let epochs = (done + 1).to_string();
    succeed(&["train", "--resume", path(&run), "--epochs", &epochs]);
}

#[test]
fn resume_refuses_options_that_define_the_run_and_a_finished_run_says_so() {
    let (dir, data) = dataset(12);
    let run = dir.path().join("run");
    succeed(&train_args(&data, &run, "1", &[]));
    for option in [
        ["--image-size", "64"],
        ["--lr", "0.1"],
        ["--batch-size", "4"],
        ["--optimizer", "adam"],
        ["--loss", "dice"],
        ["--seed", "3"],
        ["--val-fraction", "0.5"],
        ["--scheduler", "cosine"],
    ] {
        let mut args = vec!["train", "--resume", path(&run), "--epochs", "2"];
        args.extend_from_slice(&option);
        let error = fail_with(2, &args);
        assert!(
            error.contains("cannot be used with") && error.contains(option[0]),
            "{error}"
        );
    }
    let error = fail(&["train", "--resume", path(&run)]);
    assert!(
        error.contains("already completed all 1 of its epochs"),
        "{error}"
    );
    assert!(
        fail_with(2, &train_args(&data, &dir.path().join("none"), "0", &[])).contains("--epochs")
    );
}

#[test]
fn the_run_records_its_absolute_dataset_and_refuses_another_one() {
    let (dir, _) = dataset(12);
    // Made with a relative --dataset, resumed from another folder.
    let output = rrcanet_in(
        Some(dir.path()),
        &[
            "train",
            "--dataset",
            "data",
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
            "run",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let run = dir.path().join("run");
    let config: serde_json::Value =
        serde_json::from_slice(&read(&run.join("config.json"))).unwrap();
    assert!(
        Path::new(config["dataset"].as_str().unwrap()).is_absolute(),
        "{config}"
    );
    assert_eq!(config["dataset_fingerprint"]["images"], 12);
    succeed(&["train", "--resume", path(&run), "--epochs", "2"]);

    // The same folder with other content is refused.
    let data = dir.path().join("data");
    std::fs::remove_dir_all(&data).unwrap();
    generate(&data, 14);
    let error = fail(&["train", "--resume", path(&run), "--epochs", "3"]);
    assert!(
        error.contains("refusing to continue on other data"),
        "{error}"
    );

    // A malformed config.json is an error, also when eval is given a dataset; a checkpoint
    // file in a run folder gets the run's settings.
    let checkpoint = run.join("last.safetensors");
    let eval_out = dir.path().join("eval");
    let json = succeed(&[
        "eval",
        "--checkpoint",
        path(&checkpoint),
        "--dataset",
        path(&data),
        "--out",
        path(&eval_out),
        "--json",
    ]);
    assert!(json.contains("\"iou\""), "{json}");
    std::fs::write(run.join("config.json"), "{ not json").unwrap();
    let error = fail(&["eval", "--checkpoint", path(&run), "--dataset", path(&data)]);
    assert!(
        error.contains("config.json") && error.contains("not a run config"),
        "{error}"
    );
}

#[test]
fn an_interrupted_run_resumes_bit_for_bit() {
    let (dir, data) = dataset(12);
    // 12 images, 1 for validation: 5 batches of 2 per epoch, 3 epochs.
    let straight = dir.path().join("straight");
    succeed(&train_args(&data, &straight, "3", &[]));

    // Stopped at batch 2 of epoch 1; then 6 batches later, at batch 3 of epoch 2; then at the
    // last batch of epoch 2; each time resumed.
    let run = dir.path().join("run");
    let output = rrcanet(&train_args(
        &data,
        &run,
        "3",
        &["--stop-after-batches", "2"],
    ));
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("resume with: rrcanet train --resume"));
    assert!(run.join("interrupted.safetensors").exists());
    for stop in ["6", "2"] {
        let output = rrcanet(&[
            "train",
            "--resume",
            path(&run),
            "--stop-after-batches",
            stop,
        ]);
        assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    }
    succeed(&["train", "--resume", path(&run)]);
    assert!(!run.join("interrupted.safetensors").exists());
    for file in [
        "last.safetensors",
        "best.safetensors",
        "optimizer.safetensors",
    ] {
        assert!(
            read(&straight.join(file)) == read(&run.join(file)),
            "{file} differs"
        );
    }
    assert_eq!(
        metrics_without_seconds(&straight),
        metrics_without_seconds(&run)
    );
}

#[test]
fn failed_starts_leave_nothing_and_foreign_folders_are_refused() {
    let (dir, data) = dataset(12);
    let run = dir.path().join("run");
    // Caught late (by the model or the device), and caught by clap: no folder is made.
    let mut late = vec![
        train_args(&data, &run, "1", &["--image-size", "36"]),
        train_args(&data, &run, "1", &["--split", "nosuch"]),
    ];
    if !cfg!(feature = "cuda") {
        late.push(train_args(&data, &run, "1", &["--device", "cuda"]));
    }
    for args in late {
        fail(&args);
        assert!(!run.exists(), "{args:?} left {}", run.display());
    }
    for (option, value, message) in [
        ("--lr", "-1", "above 0"),
        ("--lr", "nan", "above 0"),
        ("--batch-size", "0", "--batch-size"),
        ("--image-size", "0", "--image-size"),
        ("--val-fraction", "0", "strictly between 0 and 1"),
        ("--val-fraction", "1", "strictly between 0 and 1"),
        ("--val-fraction", "2", "strictly between 0 and 1"),
        ("--val-fraction", "nan", "strictly between 0 and 1"),
    ] {
        let error = fail_with(2, &train_args(&data, &run, "1", &[option, value]));
        assert!(error.contains(message), "{option} {value}: {error}");
        assert!(!run.exists());
    }

    // An --out that holds other things, or is a file, is refused and left as it was.
    std::fs::create_dir(&run).unwrap();
    std::fs::write(run.join("notes.txt"), "mine").unwrap();
    let error = fail(&train_args(&data, &run, "1", &[]));
    assert!(
        error.contains("not a run directory") && error.contains("notes.txt"),
        "{error}"
    );
    assert_eq!(std::fs::read_dir(&run).unwrap().count(), 1);
    let file = run.join("notes.txt");
    let error = fail(&train_args(&data, &file, "1", &[]));
    assert!(error.contains("not a directory"), "{error}");
    // The OS's reason is printed once.
    let error = fail(&train_args(&data, &file.join("below"), "1", &[]));
    assert_eq!(error.matches("os error").count(), 1, "{error}");
    assert_eq!(read(&file), b"mine");
}
