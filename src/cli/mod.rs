//! Subcommands of the `rrcanet` binary. Each lives in its own file with its clap `Args`
//! and a `run` function; errors carry `anyhow` context and end the process with a clear
//! message and a non-zero exit code.

mod params;

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
    /// Parameters, paper FLOPs and executed MACs of the named models.
    Params(params::ParamsArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Params(args) => params::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
