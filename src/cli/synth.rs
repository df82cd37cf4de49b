//! `rrcanet synth`: generate the synthetic infrared small-target dataset.

use clap::Args;
use rrcanet::data::synthetic::{
    write_synthetic_dataset, SignalToClutter, SyntheticConfig, DEFAULT_SIGNAL_TO_CLUTTER,
};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `rrcanet synth`.
#[derive(Args)]
pub struct SynthArgs {
    /// Output folder (must not exist); gets images/, masks/, 80_20/{train,test}.txt and
    /// synthetic.json.
    #[arg(long)]
    out: PathBuf,
    /// Number of images (80 % train, 20 % test; at least 2).
    #[arg(long)]
    count: usize,
    /// Image side in pixels (32 to 4096).
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Seed: the same seed gives the same dataset.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Lowest signal-to-clutter ratio of a target against its local background ring.
    #[arg(long, default_value_t = DEFAULT_SIGNAL_TO_CLUTTER.min)]
    scr_min: f64,
    /// Highest signal-to-clutter ratio (ratios are drawn log-uniformly in between).
    #[arg(long, default_value_t = DEFAULT_SIGNAL_TO_CLUTTER.max)]
    scr_max: f64,
}

/// Runs `rrcanet synth`.
pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let summary = write_synthetic_dataset(
        &args.out,
        SyntheticConfig::new(args.count, args.size, args.seed).with_signal_to_clutter(
            SignalToClutter {
                min: args.scr_min,
                max: args.scr_max,
            },
        ),
        &super::progress::Bars::default(),
    )?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "wrote {} images ({} train, {} test) of {} x {} to {} in {seconds:.1} s",
        args.count,
        summary.train_images,
        summary.test_images,
        args.size,
        args.size,
        args.out.display()
    );
    println!(
        "targets: {} ({} point-spread), images without targets: {}, with a cluster: {}",
        summary.targets,
        summary.point_spread_targets,
        summary.images_without_targets,
        summary.clustered_images
    );
    let area = &summary.target_area;
    println!(
        "target area px: min {} p10 {} median {} p90 {} max {}",
        area.min, area.p10, area.median, area.p90, area.max
    );
    let scr = &summary.signal_to_clutter;
    println!(
        "signal-to-clutter: min {:.2} p10 {:.2} median {:.2} p90 {:.2} max {:.2}",
        scr.min, scr.p10, scr.median, scr.p90, scr.max
    );
    Ok(())
}
