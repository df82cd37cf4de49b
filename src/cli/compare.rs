//! `rrcanet compare`: evaluations side by side: one results table (printed, and as
//! results.md and results.csv) and their ROC curves on one roc.png.

use anyhow::Context;
use clap::Args;
use rrcanet::compare::Comparison;
use std::path::PathBuf;

/// Compare evaluations: one results table and the ROC curves on one plot.
#[derive(Args)]
pub struct CompareArgs {
    /// Evaluation folders (`rrcanet eval` or `baseline` output) or run directories (their
    /// eval-test/), at most eight.
    #[arg(required = true, value_name = "RUN_OR_EVAL_DIR")]
    dirs: Vec<PathBuf>,
    /// Where results.md, results.csv and roc.png go.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn run(args: CompareArgs) -> anyhow::Result<()> {
    let comparison = Comparison::read(&args.dirs)?;
    print!("{}", comparison.text());
    comparison
        .write(&args.out)
        .with_context(|| format!("writing the comparison to {}", args.out.display()))?;
    println!(
        "wrote results.md, results.csv and roc.png to {}",
        args.out.display()
    );
    Ok(())
}
