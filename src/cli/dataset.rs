//! `rrcanet dataset`: find, validate and summarise an IRSTD dataset.

use clap::Args;
use rrcanet::data::layout::find_split_schemes;
use rrcanet::data::{BatchLoader, Dataset, DatasetOptions, LoaderConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `rrcanet dataset`.
#[derive(Args)]
pub struct DatasetArgs {
    /// Dataset folder (image and mask folders plus split files; see data/README.md).
    #[arg(long)]
    dataset: PathBuf,
    /// Split scheme: a split folder (`50_50`, `idx_427`) or a BasicIRSTD name (`NUDT-SIRST`).
    #[arg(long)]
    split: Option<String>,
    /// Print a JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Treat an image / mask size mismatch as an error instead of resizing the mask.
    #[arg(long)]
    strict: bool,
    /// Also time the training data pipeline (augmentation at 256, batch 8, 2 batches
    /// prefetched) over this many epochs of the training split and report images per second.
    #[arg(long, value_name = "EPOCHS")]
    measure_loading: Option<u64>,
}

/// Images per second of the training pipeline over `epochs` epochs of the train split.
fn loading_throughput(dataset: &Dataset, epochs: u64) -> anyhow::Result<f64> {
    let loader = BatchLoader::new(
        dataset.samples.clone(),
        dataset.train_split().to_vec(),
        LoaderConfig::training(8, 0),
    )?;
    let start = Instant::now();
    let images: usize = (0..epochs)
        .flat_map(|epoch| loader.epoch(epoch))
        .map(|batch| batch.len())
        .sum();
    Ok(images as f64 / start.elapsed().as_secs_f64())
}

/// Runs `rrcanet dataset`.
pub fn run(args: DatasetArgs) -> anyhow::Result<()> {
    let options = DatasetOptions {
        split: args.split.clone(),
        strict: args.strict,
    };
    let start = Instant::now();
    let dataset =
        Dataset::open_with_progress(&args.dataset, &options, &super::progress::Bars::default())?;
    let load_seconds = start.elapsed().as_secs_f64();
    let statistics = dataset.statistics();
    let splits: BTreeMap<&str, usize> = dataset
        .splits
        .iter()
        .map(|(name, indices)| (name.as_str(), indices.len()))
        .collect();
    let schemes: Vec<String> = find_split_schemes(&args.dataset)
        .into_iter()
        .map(|s| s.name)
        .collect();
    let warnings: Vec<String> = dataset.warnings.iter().map(ToString::to_string).collect();
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let throughput = args
        .measure_loading
        .map(|epochs| loading_throughput(&dataset, epochs))
        .transpose()?;

    if args.json {
        let mut json = serde_json::to_value(&statistics)?;
        let object = json
            .as_object_mut()
            .expect("statistics serialise to an object");
        object.insert("dataset".into(), args.dataset.display().to_string().into());
        object.insert("layout".into(), dataset.scheme.layout.to_string().into());
        object.insert("split_scheme".into(), dataset.scheme.name.clone().into());
        object.insert("split_schemes".into(), schemes.into());
        object.insert("splits".into(), serde_json::to_value(&splits)?);
        object.insert("warnings".into(), warnings.into());
        if let Some(images_per_second) = throughput {
            object.insert("loading_images_per_second".into(), images_per_second.into());
        }
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    println!(
        "dataset {} ({} layout, split {}; split schemes found: {})",
        args.dataset.display(),
        dataset.scheme.layout,
        dataset.scheme.name,
        schemes.join(", ")
    );
    println!(
        "images: {}, targets: {} (area min {}, median {}, max {}), images without targets: {}",
        statistics.images,
        statistics.targets,
        statistics.min_target_area,
        statistics.median_target_area,
        statistics.max_target_area,
        statistics.images_without_targets
    );
    let split_list: Vec<String> = splits.iter().map(|(n, c)| format!("{n} {c}")).collect();
    println!("splits: {}", split_list.join(", "));
    println!("decoded and validated in {load_seconds:.2} s");
    if let Some(images_per_second) = throughput {
        println!("training pipeline: {images_per_second:.1} images/s");
    }
    Ok(())
}
