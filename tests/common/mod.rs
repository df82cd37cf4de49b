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
