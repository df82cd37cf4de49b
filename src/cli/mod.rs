//! Subcommands of the `rrcanet` binary. Each lives in its own file with its clap `Args`
//! and a `run` function; errors carry `anyhow` context and end the process with a clear
//! message and a non-zero exit code.

mod dataset;
mod synth;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
    /// Find, validate and summarise an IRSTD dataset (its folder layout is recognised automatically).
    Dataset(dataset::DatasetArgs),
    /// Generate the synthetic infrared small-target dataset (DNANet layout, 80/20 split).
    Synth(synth::SynthArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Dataset(args) => dataset::run(args),
        Command::Synth(args) => synth::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
