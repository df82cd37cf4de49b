//! Running the `rrcanet` binary from the end-to-end tests, shared by the `tests/*_cli.rs`
//! crates (each uses the helpers it needs).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `rrcanet args` in `dir` (or the test's working directory).
pub fn rrcanet_in(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rrcanet"));
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command
        .args(args)
        .output()
        .expect("the rrcanet binary runs")
}

/// Runs `rrcanet args`.
pub fn rrcanet(args: &[&str]) -> Output {
    rrcanet_in(None, args)
}

/// Program output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command that must succeed; its stdout.
pub fn succeed(args: &[&str]) -> String {
    let output = rrcanet(args);
    assert!(
        output.status.success(),
        "rrcanet {args:?} failed:\n{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// A temporary path as an argument.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Runs a command that must fail with exit code `code` (never a panic's 101); its stderr.
pub fn fail_with(code: i32, args: &[&str]) -> String {
    let output = rrcanet(args);
    assert_eq!(
        output.status.code(),
        Some(code),
        "rrcanet {args:?}:\n{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stderr)
}

/// `rrcanet train` of `model` on `data` in the tests' tiny configuration (batch 4, 32 x 32
/// crops) for `epochs` epochs with `seed`, then `extra`; it must succeed. Its stdout.
pub fn train_tiny(data: &Path, model: &str, epochs: &str, seed: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "--dataset",
        path(data),
        "--model",
        model,
        "--epochs",
        epochs,
        "--batch-size",
        "4",
        "--image-size",
        "32",
        "--seed",
        seed,
    ];
    args.extend_from_slice(extra);
    succeed(&args)
}

/// Generates `count` synthetic images of 32 x 32 with `seed` into `dir/data`; that folder.
pub fn synthesise(dir: &Path, count: &str, seed: &str) -> std::path::PathBuf {
    let data = dir.join("data");
    succeed(&[
        "synth",
        "--out",
        path(&data),
        "--count",
        count,
        "--size",
        "32",
        "--seed",
        seed,
    ]);
    data
}
