//! Subcommands of the `rrcanet` binary. Each lives in its own file with its clap `Args`
//! and a `run` function; errors carry `anyhow` context and end the process with a clear
//! message and a non-zero exit code.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod metrics;

#[derive(Parser)]
#[command(
    name = "rrcanet",
    version,
    about = "RRCA-Net for infrared small target detection"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// IoU, nIoU, Pd and Fa of predicted PNG masks against ground-truth masks.
    Metrics(metrics::MetricsArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Metrics(args) => metrics::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
