//! `rrcanet infer`: target masks and detections for image files of any size.

use anyhow::Context;
use clap::Args;
use rrcanet::inference::Tiling;
use rrcanet::model::DeviceKind;
use std::path::PathBuf;

/// Detect targets in an image or a folder of images.
#[derive(Args)]
pub struct InferArgs {
    /// A run directory (its best.safetensors) or a checkpoint file (default: the r18 trained
    /// on SIRST that ships in models/r18-sirst, models/README.md).
    #[arg(long, value_name = "RUN_DIR")]
    checkpoint: Option<PathBuf>,
    /// An image file, or a folder whose PNG, BMP and JPEG files are all processed.
    #[arg(long, value_name = "FILE_OR_DIR")]
    input: PathBuf,
    /// Output folder: masks/ (one PNG per input, STEM.png, or NAME.EXT.png where stems clash)
    /// and detections.json. A rerun removes the masks the previous run listed there, and
    /// refuses to start while masks/ holds files no run listed.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// A pixel is a target where its probability exceeds this.
    #[arg(long, default_value_t = 0.5)]
    threshold: f32,
    /// cpu, or cuda (needs a build with --features cuda); default: cuda when built with it
    /// and a GPU answers, else cpu.
    #[arg(long)]
    device: Option<DeviceKind>,
    /// Images larger than this are predicted in tiles of TILE x TILE pixels (a multiple of
    /// the model's size multiple); memory stays bounded for any image size.
    #[arg(long, value_name = "TILE", default_value_t = Tiling::default().tile,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    tile: usize,
    /// Also write each target probability map as a 16-bit grey PNG, probabilities/NAME.png
    /// (value = p x 65535), for ROC curves and threshold sweeps in other toolboxes.
    #[arg(long)]
    probabilities: bool,
    /// Context in pixels on each inner side of a tile (less than half the tile).
    #[arg(long, value_name = "PIXELS", default_value_t = Tiling::default().overlap)]
    overlap: usize,
}

/// The detector that ships in the repository, used when no `--checkpoint` is given.
const SHIPPED_DETECTOR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/r18-sirst");

/// The image files named by `input`.
fn input_files(input: &PathBuf) -> anyhow::Result<Vec<PathBuf>> {
    if !input.is_dir() {
        anyhow::ensure!(
            input.exists(),
            "{}: no such file or folder",
            input.display()
        );
        return Ok(vec![input.clone()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(input)
        .with_context(|| format!("reading the folder {}", input.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            let extension = path
                .extension()
                .map(|e| e.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            path.is_file() && ["png", "bmp", "jpg", "jpeg"].contains(&extension.as_str())
        })
        .collect();
    files.sort();
    anyhow::ensure!(
        !files.is_empty(),
        "{}: no PNG, BMP or JPEG files in this folder",
        input.display()
    );
    Ok(files)
}

pub fn run(args: InferArgs) -> anyhow::Result<()> {
    let files = input_files(&args.input)?;
    let checkpoint = match &args.checkpoint {
        Some(checkpoint) => checkpoint.clone(),
        None => {
            let shipped = PathBuf::from(SHIPPED_DETECTOR);
            anyhow::ensure!(
                shipped.is_dir(),
                "no --checkpoint given and the shipped detector is not at {} (this binary was moved from its source tree); pass --checkpoint",
                shipped.display()
            );
            eprintln!(
                "checkpoint: the shipped r18 trained on SIRST, {} (models/README.md; --checkpoint picks another)",
                shipped.display()
            );
            shipped
        }
    };
    let loaded = rrcanet::model::load(&checkpoint, super::chosen_device(args.device))?;
    let tiling = Tiling {
        tile: args.tile,
        overlap: args.overlap,
    };
    let report = rrcanet::inference::infer(
        loaded.detector.as_ref(),
        &files,
        &args.out,
        args.threshold,
        tiling,
        args.probabilities,
        &super::progress::Bars::default(),
    )?;
    let targets: usize = report.detections.iter().map(|d| d.targets.len()).sum();
    println!(
        "{} images, {targets} targets; wrote {}{} and {}",
        report.detections.len(),
        args.out.join("masks").display(),
        if args.probabilities {
            format!(", {}", args.out.join("probabilities").display())
        } else {
            String::new()
        },
        args.out.join("detections.json").display()
    );
    if report.removed_previous_masks > 0 {
        println!(
            "removed {} masks of the previous run into {} that this run did not rewrite",
            report.removed_previous_masks,
            args.out.display()
        );
    }
    Ok(())
}
