//! `rrcanet train`: trains a named model on a dataset (by default the built-in synthetic one)
//! with progress bars, per-epoch selection metrics, atomic checkpoints, Ctrl-C to stop safely
//! and `--resume` to continue.

use super::progress::Bars as Progress;
use anyhow::{bail, Context};
use clap::builder::RangedU64ValueParser;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use rrcanet::data::synthetic::{ensure_synthetic_dataset, SignalToClutter, SyntheticConfig};
use rrcanet::inference::{EvaluationProtocol, Resolution};
use rrcanet::metrics::RocSweep;
use rrcanet::train::history::EpochRecord;
use rrcanet::train::seeds::{SeedRun, SeedStatistics, SelectionGap};
use rrcanet::train::{
    DeviceKind, LossKind, ModelName, OptimizerKind, Prepared, RunDirectory, SchedulerKind,
    Selection, TrainConfig, TrainObserver, TrainOutcome,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The built-in default: a small configuration on the synthetic dataset whose training takes
/// under two minutes on two CPU cores and ends at a validation IoU above 0.5 (sized by
/// measurement, notes/results.md).
struct QuickStart;

impl QuickStart {
    const MODEL: ModelName = ModelName::R10;
    const IMAGES: usize = 500;
    const IMAGE_SIZE: usize = 96;
    const EPOCHS: usize = 12;
    const SEED: u64 = 0;
    /// The cosine decay settles the last epochs.
    const SCHEDULER: SchedulerKind = SchedulerKind::Cosine;
    /// Brighter targets than the generator's default (1..10), so that two minutes of
    /// training show a model that finds most of them.
    const SIGNAL_TO_CLUTTER: SignalToClutter = SignalToClutter {
        min: 5.0,
        max: 15.0,
    };
    /// The paper's.
    const LEARNING_RATE: f64 = 0.05;
    /// The quick start breaks out in its first epoch without one.
    const WARMUP_EPOCHS: usize = 0;
    /// 80 validation images: with 40, validation IoU swung by 0.2 from one run to another.
    const VALIDATION_FRACTION: f64 = 0.2;
}

/// What the options a real-dataset run is not given default to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Recipe {
    /// The authors' recipe with a 1 % target prior on the last conv's bias, a base rate of
    /// 0.02 instead of 0.05 reached by a 2-epoch linear warm-up, a cosine decay over the epochs
    /// given and 20 % of the training images for validation (notes/results.md, issue 15).
    Default,
    /// The authors' released recipe: constant learning rate, the paper's initialisation
    /// (with --select-on-test: their selection too).
    Paper,
}

impl Recipe {
    fn scheduler(self) -> SchedulerKind {
        match self {
            Recipe::Default => SchedulerKind::Cosine,
            Recipe::Paper => SchedulerKind::Constant,
        }
    }

    /// The target prior the last conv's bias starts at (`None`: the paper's initialisation).
    fn output_prior(self) -> Option<f64> {
        match self {
            Recipe::Default => Some(0.01),
            Recipe::Paper => None,
        }
    }

    /// The base learning rate: with the paper's 0.05 the all-background phase of early
    /// training lasted from 4 to over 29 epochs depending on the seed and the schedule's
    /// length, with 0.02 it ended by epoch 5 in every run measured (notes/results.md).
    fn learning_rate(self) -> f64 {
        match self {
            Recipe::Default => 0.02,
            Recipe::Paper => 0.05,
        }
    }

    /// Epochs of linear learning-rate warm-up: 2 ended the all-background phase of a seed
    /// that stayed in it for 29 epochs without (notes/results.md).
    fn warmup_epochs(self) -> usize {
        match self {
            Recipe::Default => 2,
            Recipe::Paper => 0,
        }
    }

    fn validation_fraction(self) -> f64 {
        match self {
            Recipe::Default => 0.2,
            Recipe::Paper => 0.1,
        }
    }
}

/// Defaults with a real dataset: the authors' recipe (their 1500 epochs aside).
const PAPER_MODEL: ModelName = ModelName::R18;
const PAPER_IMAGE_SIZE: usize = 256;
const DEFAULT_EPOCHS: usize = 100;

/// Train a model (no arguments: a quick run on the built-in synthetic dataset).
#[derive(Args)]
pub struct TrainArgs {
    /// Dataset folder (SIRST, DNANet or BasicIRSTD layout). Default: the synthetic dataset,
    /// generated once under data/synthetic.
    #[arg(long, value_name = "DIR")]
    dataset: Option<PathBuf>,
    /// Split scheme, e.g. 50_50 (default: the dataset's only one).
    #[arg(long, value_name = "NAME")]
    split: Option<String>,
    /// Model name (see `rrcanet params --all`). Default: r18, or r10 on the synthetic default.
    #[arg(long, value_name = "NAME")]
    model: Option<ModelName>,
    /// Total epochs (with --resume: the new total).
    #[arg(long, value_parser = at_least_one())]
    epochs: Option<usize>,
    #[arg(long, default_value_t = 8, value_parser = at_least_one())]
    batch_size: usize,
    /// Base learning rate (finite, above 0; default 0.02, the paper's 0.05 with --recipe
    /// paper and the synthetic quick start).
    #[arg(long, allow_negative_numbers = true, value_parser = positive)]
    lr: Option<f64>,
    /// adagrad (the paper's), adam or sgd (momentum 0.9).
    #[arg(long, default_value_t = OptimizerKind::Adagrad)]
    optimizer: OptimizerKind,
    /// The defaults of the options below: default (ours: lr 0.02 with a cosine decay, 1 %
    /// target prior, a 2-epoch warm-up, 20 % validation) or paper (the released code:
    /// constant rate, the paper's initialisation, 10 % validation).
    #[arg(long, value_enum, default_value_t = Recipe::Default)]
    recipe: Recipe,
    /// constant (what the released code does; --recipe paper) or cosine (the paper's text:
    /// eta_min 1e-3, T_max = epochs; the default recipe and the synthetic quick start).
    #[arg(long)]
    scheduler: Option<SchedulerKind>,
    /// soft-iou, dice, topk, poly, poly-topk, dice-topk or dptk (the paper's).
    #[arg(long, default_value_t = LossKind::Dptk)]
    loss: LossKind,
    /// Seeds initialisation, shuffling, augmentation and the validation carve (default: random,
    /// recorded in config.json).
    #[arg(long)]
    seed: Option<u64>,
    /// Training crop and evaluation size (default 256; 96 on the synthetic default).
    #[arg(long, value_parser = at_least_one())]
    image_size: Option<usize>,
    /// Share of the training split held out for model selection (strictly between 0 and 1;
    /// default 0.2, 0.1 with --recipe paper).
    #[arg(long, allow_negative_numbers = true, value_parser = fraction)]
    val_fraction: Option<f64>,
    /// Select the best checkpoint on the test split, as the paper's released code does (every
    /// output is labelled so).
    #[arg(long)]
    select_on_test: bool,
    /// Also measure the test split after every epoch (metrics.csv's test_* columns, the dashed
    /// line in curves.png), never to select: reports how far the selected epoch falls short of
    /// the best test epoch. Costs a test pass per epoch.
    #[arg(long, conflicts_with = "select_on_test")]
    watch_test: bool,
    /// Keep the paper's initialisation of the last conv's bias (default: a 1 % target prior,
    /// bias -4.6, which ends the all-background phase of early training much sooner; implied
    /// by --recipe paper).
    #[arg(long)]
    paper_init: bool,
    /// Initial target probability of every pixel, set through the last conv's bias (strictly
    /// between 0 and 1; default 0.01).
    #[arg(long, allow_negative_numbers = true, value_parser = fraction_of_pixels,
        conflicts_with_all = ["paper_init", "init_from"])]
    output_prior: Option<f64>,
    /// Epochs over which the learning rate rises linearly, batch by batch, from near 0 to the
    /// schedule's (default 2; 0 with --recipe paper and the synthetic quick start).
    #[arg(long, value_name = "EPOCHS")]
    warmup_epochs: Option<usize>,
    /// Input channels: 3 (grey replicated to RGB, ImageNet-normalised, as the authors' RRCA-Net
    /// code) or 1 (grey, normalised with the training images' mean and std, as their
    /// BasicIRSTD pipeline, which the paper's DenseSIRST and IRSTD-1k numbers come from).
    /// (default 3; with --init-from: the checkpoint's)
    #[arg(long, value_parser = super::channel_count)]
    input_channels: Option<usize>,
    /// Start from the weights of this checkpoint or run directory (e.g. `rrcanet import` of
    /// the authors' PyTorch weights) with a fresh optimizer; the model and input default to
    /// the checkpoint's.
    #[arg(long, value_name = "CHECKPOINT", conflicts_with = "paper_init")]
    init_from: Option<PathBuf>,
    /// Run directory (default: runs/<model>-<dataset>-<timestamp>). It must not exist yet or
    /// be empty.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Continue the run in RUN_DIR exactly where it stopped (also inside an epoch after
    /// Ctrl-C), up to --epochs. The run keeps its config.json: only --epochs and --device can
    /// be given with it; the options that define the run are refused.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = [
        "dataset", "split", "model", "out", "batch_size", "lr", "optimizer", "scheduler",
        "loss", "seed", "image_size", "val_fraction", "select_on_test", "watch_test", "paper_init", "output_prior", "warmup_epochs", "recipe", "seeds",
        "input_channels", "init_from",
    ])]
    resume: Option<PathBuf>,
    /// Train the same configuration with K seeds (--seed, then the next K - 1) into
    /// OUT/seed-<seed>, evaluate each on the test part and report mean ± std (OUT/seeds.md).
    #[arg(long, value_name = "K", value_parser = at_least_one())]
    seeds: Option<usize>,
    /// cpu, or cuda (needs a build with --features cuda); default for a new run: cuda when
    /// built with it and a GPU answers, else cpu; with --resume: the device to continue on
    /// (default: the run's).
    #[arg(long)]
    device: Option<DeviceKind>,
    /// For tests: behave as if Ctrl-C came during batch N of this session.
    #[arg(long, hide = true, value_name = "N")]
    stop_after_batches: Option<usize>,
}

/// A count of at least 1.
fn at_least_one() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..)
}

/// A finite number above 0.
fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
        _ => Err(format!("expected a finite number above 0, got `{text}`")),
    }
}

/// `text` as a number strictly between 0 and 1, if it is one.
fn strictly_between_zero_and_one(text: &str) -> Option<f64> {
    text.parse::<f64>()
        .ok()
        .filter(|value| *value > 0.0 && *value < 1.0)
}

/// A share of the training split, strictly between 0 and 1.
fn fraction(text: &str) -> Result<f64, String> {
    strictly_between_zero_and_one(text).ok_or_else(|| {
        format!(
            "expected a number strictly between 0 and 1, got `{text}` (to select on the test split: --select-on-test)"
        )
    })
}

/// A probability strictly between 0 and 1.
fn fraction_of_pixels(text: &str) -> Result<f64, String> {
    strictly_between_zero_and_one(text)
        .ok_or_else(|| format!("expected a probability strictly between 0 and 1, got `{text}`"))
}

/// The config of a new run from the arguments.
fn new_config(args: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let synthetic = args.dataset.is_none();
    // The quick start's own defaults, unless a recipe is asked for.
    let quick_start = synthetic && args.recipe == Recipe::Default;
    let dataset = match &args.dataset {
        Some(dir) => std::path::absolute(dir)
            .with_context(|| format!("{}: cannot make the path absolute", dir.display()))?,
        None => {
            let config =
                SyntheticConfig::new(QuickStart::IMAGES, QuickStart::IMAGE_SIZE, QuickStart::SEED)
                    .with_signal_to_clutter(QuickStart::SIGNAL_TO_CLUTTER);
            let dir = config.default_dir();
            ensure_synthetic_dataset(&dir, config, &Progress::default())
                .with_context(|| format!("preparing the synthetic dataset in {}", dir.display()))?
        }
    };
    let initial = match &args.init_from {
        Some(path) => {
            let record = rrcanet::model::checkpoint_file(path)
                .and_then(|file| Ok(rrcanet::model::read_record(&file)?))
                .with_context(|| format!("reading --init-from {}", path.display()))?;
            let model = record
                .model
                .parse::<ModelName>()
                .map_err(|error| anyhow::anyhow!("--init-from {}: {error}", path.display()))?;
            Some((model, record.in_channels))
        }
        None => None,
    };
    let model = args
        .model
        .or(initial.map(|(model, _)| model))
        .unwrap_or(if synthetic {
            QuickStart::MODEL
        } else {
            PAPER_MODEL
        });
    Ok(TrainConfig {
        model,
        dataset,
        split: args.split.clone(),
        epochs: args.epochs.unwrap_or(if synthetic {
            QuickStart::EPOCHS
        } else {
            DEFAULT_EPOCHS
        }),
        batch_size: args.batch_size,
        lr: args.lr.unwrap_or(if quick_start {
            QuickStart::LEARNING_RATE
        } else {
            args.recipe.learning_rate()
        }),
        optimizer: args.optimizer,
        scheduler: args.scheduler.unwrap_or(if quick_start {
            QuickStart::SCHEDULER
        } else {
            args.recipe.scheduler()
        }),
        loss: args.loss,
        seed: args.seed.unwrap_or_else(|| {
            if synthetic {
                QuickStart::SEED
            } else {
                rrcanet::train::fresh_seed()
            }
        }),
        selection: if args.select_on_test {
            Selection::Test
        } else {
            Selection::Validation {
                fraction: args.val_fraction.unwrap_or(if quick_start {
                    QuickStart::VALIDATION_FRACTION
                } else {
                    args.recipe.validation_fraction()
                }),
            }
        },
        watch_test: args.watch_test,
        image_size: args.image_size.unwrap_or(if synthetic {
            QuickStart::IMAGE_SIZE
        } else {
            PAPER_IMAGE_SIZE
        }),
        output_prior: if args.paper_init || initial.is_some() {
            None
        } else {
            args.output_prior.or(args.recipe.output_prior())
        },
        warmup_epochs: args.warmup_epochs.unwrap_or(if quick_start {
            QuickStart::WARMUP_EPOCHS
        } else {
            args.recipe.warmup_epochs()
        }),
        device: super::chosen_device(args.device),
        dataset_fingerprint: None,
        input_channels: args
            .input_channels
            .or(initial.map(|(_, channels)| channels))
            .unwrap_or(3),
        input: None,
        init_from: match &args.init_from {
            Some(path) => {
                Some(std::path::absolute(path).with_context(|| {
                    format!("{}: cannot make the path absolute", path.display())
                })?)
            }
            None => None,
        },
    })
}

fn default_run_dir(config: &TrainConfig) -> PathBuf {
    let dataset = rrcanet::data::folder_name(&config.dataset);
    let stamp = chrono::Local::now().format("%Y%m%d-%H%M%S");
    PathBuf::from("runs").join(format!("{}-{dataset}-{stamp}", config.model))
}

/// Batches timed for the first estimate of the run's duration (after one more to warm up).
const ESTIMATE_BATCHES: usize = 3;

/// Progress bars: one for epochs, one for the batches of the current epoch (with the loss
/// and the images per second so far this epoch), and a line within seconds of the start
/// estimating how long the training will take.
struct Bars {
    epochs: ProgressBar,
    batches: ProgressBar,
    selection: &'static str,
    images: usize,
    epoch_start: Instant,
    /// Batches of every epoch this session trains, epochs left after the current one, and
    /// the batches finished this session with the time the first of them ended.
    batches_per_epoch: usize,
    epochs_after: usize,
    batches_done: usize,
    first_batch_end: Option<Instant>,
    /// The test hook of `--stop-after-batches`: batches left before the stop flag is set.
    stop_after: Option<(usize, Arc<AtomicBool>)>,
    /// What is measured after every epoch, for the estimate: "a validation pass", ...
    evaluation_passes: &'static str,
}

impl Bars {
    fn new(
        total: usize,
        done: usize,
        selection: &'static str,
        evaluation_passes: &'static str,
        stop_after: Option<(usize, Arc<AtomicBool>)>,
    ) -> Self {
        let multi = MultiProgress::new();
        let epochs = multi.add(ProgressBar::new(total as u64));
        epochs.set_style(
            ProgressStyle::with_template(
                "epoch {pos}/{len} [{bar:30}] {elapsed} (eta {eta}) {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        epochs.set_position(done as u64);
        let batches = multi.add(ProgressBar::new(0));
        batches.set_style(
            ProgressStyle::with_template("  batch {pos}/{len} [{bar:30}] {msg} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        Bars {
            epochs,
            batches,
            selection,
            images: 0,
            epoch_start: Instant::now(),
            batches_per_epoch: 0,
            epochs_after: 0,
            batches_done: 0,
            first_batch_end: None,
            stop_after,
            evaluation_passes,
        }
    }

    /// Prints `line` above the bars (or plainly when they are hidden).
    fn print(&self, line: String) {
        if self.epochs.is_hidden() {
            println!("{line}");
        } else {
            self.epochs.println(line);
        }
    }

    /// After the first batches: how long the batches of this session should take.
    fn estimate(&self) -> Option<String> {
        let first = self.first_batch_end?;
        let per_batch = first.elapsed().as_secs_f64() / (self.batches_done - 1) as f64;
        let this_epoch = self.batches.position() as usize;
        let left = self.batches_per_epoch.saturating_sub(this_epoch)
            + self.epochs_after * self.batches_per_epoch;
        let seconds = per_batch * left as f64;
        Some(format!(
            "estimate: about {} more for {left} batches ({per_batch:.2} s each, from the first {ESTIMATE_BATCHES} timed), plus {} per epoch",
            duration(seconds),
            self.evaluation_passes
        ))
    }
}

/// A duration for people: `4 min 10 s` or `35 s`.
fn duration(seconds: f64) -> String {
    let seconds = seconds.round() as u64;
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min {} s", seconds / 60, seconds % 60),
        _ => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
    }
}

impl TrainObserver for Bars {
    fn epoch_started(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.batches_per_epoch = batches;
        self.epochs_after = epochs - epoch;
        self.batches.reset();
        self.batches.set_length(batches as u64);
        self.images = 0;
        self.epoch_start = Instant::now();
    }

    fn batch_finished(&mut self, loss: f32, images: usize) {
        self.images += images;
        let rate = self.images as f64 / self.epoch_start.elapsed().as_secs_f64().max(1e-9);
        self.batches
            .set_message(format!("loss {loss:.4}  {rate:.1} images/s"));
        self.batches.inc(1);
        self.batches_done += 1;
        if self.batches_done == 1 {
            self.first_batch_end = Some(Instant::now());
        } else if self.batches_done == 1 + ESTIMATE_BATCHES {
            if let Some(line) = self.estimate() {
                self.print(line);
            }
        }
        if let Some((left, stop)) = &mut self.stop_after {
            *left = left.saturating_sub(1);
            if *left == 0 {
                stop.store(true, Ordering::SeqCst);
            }
        }
    }

    fn epoch_finished(&mut self, r: &EpochRecord, improved: bool) {
        self.epochs.inc(1);
        let line = format!(
            "epoch {:>3}  loss {:.4}  {} IoU {:.4} nIoU {:.4} Pd {:.4} Fa {:.2e}{}  lr {:.4}  {:.0}s{}",
            r.epoch,
            r.train_loss,
            self.selection,
            r.selection.iou,
            r.selection.niou,
            r.selection.pd,
            r.selection.fa,
            r.test
                .map_or_else(String::new, |t| format!("  (watched test IoU {:.4})", t.iou)),
            r.lr,
            r.seconds,
            if improved { "  (best)" } else { "" }
        );
        self.print(line);
        self.epochs.set_message(format!(
            "last {} IoU {:.4}",
            self.selection, r.selection.iou
        ));
    }
}

/// Opens the dataset of `config`, printing its warnings.
fn open_dataset(config: &TrainConfig) -> anyhow::Result<rrcanet::data::Dataset> {
    let (dataset, warnings) = rrcanet::train::open_dataset(config, &Progress::default())?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    Ok(dataset)
}

/// Exit status after a stop request (Ctrl-C), as shells report a SIGINT.
const INTERRUPTED: u8 = 130;

/// The flag a first Ctrl-C sets (training stops after the batch and saves); a second one
/// exits at once.
fn stop_on_ctrl_c() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let handler_stop = stop.clone();
    ctrlc::set_handler(move || {
        if handler_stop.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond Ctrl-C: aborting without saving");
            std::process::exit(INTERRUPTED.into());
        }
        eprintln!("\nCtrl-C: finishing this batch and saving (Ctrl-C again aborts)");
    })
    .context("installing the Ctrl-C handler")?;
    Ok(stop)
}

/// Trains `prepared` into `run` with progress bars, after a line saying what is trained.
fn train_run(
    run: &mut RunDirectory,
    prepared: Prepared,
    stop: &Arc<AtomicBool>,
    stop_after_batches: Option<usize>,
) -> anyhow::Result<TrainOutcome> {
    let config = prepared.config().clone();
    let input = prepared.input();
    let done = run.state()?.epochs_completed;
    println!(
        "training {} on {} ({} epochs, {}, {}x{} crops, input {}, seed {}, selection on {}) -> {}",
        config.model,
        config.dataset.display(),
        config.epochs,
        config.recipe(),
        config.image_size,
        config.image_size,
        input,
        config.seed,
        config.selection.label(),
        run.root().display()
    );
    let selection_on_test = matches!(config.selection, Selection::Test);
    let mut bars = Bars::new(
        config.epochs,
        done,
        if selection_on_test { "test" } else { "val" },
        match (selection_on_test, config.watch_test) {
            (true, _) => "a test pass",
            (false, true) => "a validation and a test pass",
            (false, false) => "a validation pass",
        },
        stop_after_batches.map(|batches| (batches, stop.clone())),
    );
    let outcome = prepared.train(run, stop, &mut bars)?;
    bars.batches.finish_and_clear();
    bars.epochs.abandon();
    Ok(outcome)
}

/// The selection gap of a run that watched the test split, in words.
fn gap_line(gap: &SelectionGap) -> String {
    format!(
        "watched test IoU {:.4} at the selected epoch, best {:.4} at epoch {}: selection gap {:.4} (last epoch: {:.4}, gap {:.4})",
        gap.selected_test_iou,
        gap.best_test_iou,
        gap.best_test_epoch,
        gap.selected(),
        gap.last_test_iou,
        gap.last()
    )
}

/// `--seeds K`: the configuration trained with seeds S..S+K-1 into `OUT/seed-<seed>`, each
/// selected checkpoint evaluated on the test part (`eval-test/` in its run), and the mean and
/// standard deviation written to `OUT/seeds.md` and `seeds.json`. Rerunning the same command
/// continues where it stopped: finished runs are kept, an interrupted one is resumed.
fn run_seeds(args: &TrainArgs, count: usize) -> anyhow::Result<ExitCode> {
    let base = new_config(args)?;
    let dataset = open_dataset(&base)?;
    let root = args.out.clone().unwrap_or_else(|| default_run_dir(&base));
    let stop = stop_on_ctrl_c()?;
    let mut runs = Vec::with_capacity(count);
    for seed in (base.seed..).take(count) {
        let dir = root.join(format!("seed-{seed}"));
        let (mut run, prepared) = if dir.join("config.json").exists() {
            let resuming = || format!("continuing the run in {}", dir.display());
            let (run, recorded) = RunDirectory::resume(&dir).with_context(resuming)?;
            let prepared = rrcanet::train::prepare(&recorded, &dataset).with_context(resuming)?;
            (run, prepared)
        } else {
            let config = TrainConfig {
                seed,
                ..base.clone()
            };
            let prepared = rrcanet::train::prepare(&config, &dataset)?;
            (RunDirectory::create(&dir, prepared.config())?, prepared)
        };
        let config = prepared.config().clone();
        if run.state()?.epochs_completed < config.epochs {
            let outcome = train_run(&mut run, prepared, &stop, args.stop_after_batches)?;
            if outcome.interrupted {
                println!(
                    "stopped during seed {seed}; rerun the same command to continue where it stopped"
                );
                return Ok(ExitCode::from(INTERRUPTED));
            }
        }
        let epoch = run
            .state()?
            .best_epoch
            .with_context(|| format!("{}: no epoch was selected", dir.display()))?;
        let loaded = rrcanet::model::load(run.root(), config.device)?;
        let report = rrcanet::inference::evaluate(
            loaded.detector.as_ref(),
            &loaded.checkpoint,
            &dataset,
            EvaluationProtocol {
                part: "test",
                resolution: Resolution::Resize(config.image_size),
                roc: RocSweep::Logit,
            },
            Some(&run.root().join("eval-test")),
            &Progress::default(),
        )?;
        let m = &report.scores.metrics;
        println!(
            "seed {seed}: epoch {epoch} selected; test IoU {:.4} nIoU {:.4} Pd {:.4} Fa {:.2e}",
            m.iou, m.niou, m.pd, m.fa
        );
        let gap = SelectionGap::of(&run.history()?, epoch);
        if let Some(gap) = &gap {
            println!("seed {seed}: {}", gap_line(gap));
        }
        runs.push(SeedRun {
            seed,
            run: run.root().to_path_buf(),
            epoch,
            test: report.scores.metrics,
            gap,
        });
    }
    let statistics = SeedStatistics::of(runs);
    statistics
        .write(&root)
        .with_context(|| format!("writing seeds.md and seeds.json to {}", root.display()))?;
    print!("{}", statistics.markdown());
    println!("wrote {}", root.join("seeds.md").display());
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: TrainArgs) -> anyhow::Result<ExitCode> {
    if let Some(count) = args.seeds {
        return run_seeds(&args, count);
    }
    let (mut run, prepared) = match &args.resume {
        Some(dir) => {
            let resuming = || format!("resuming the run in {}", dir.display());
            let (run, mut config) = RunDirectory::resume(dir).with_context(resuming)?;
            let done = run.state()?.epochs_completed;
            match args.epochs {
                Some(epochs) if epochs <= done => bail!(
                    "{} already completed {done} epochs; pass --epochs above {done} to continue",
                    dir.display()
                ),
                Some(epochs) => config.epochs = epochs,
                None if done >= config.epochs => bail!(
                    "{} already completed all {done} of its epochs; pass --epochs above {done} to train longer",
                    dir.display()
                ),
                None => {}
            }
            if let Some(device) = args.device {
                config.device = device;
            }
            let dataset = open_dataset(&config)?;
            let prepared = rrcanet::train::prepare(&config, &dataset).with_context(resuming)?;
            run.write_config(prepared.config())?;
            (run, prepared)
        }
        None => {
            let config = new_config(&args)?;
            let dataset = open_dataset(&config)?;
            let prepared = rrcanet::train::prepare(&config, &dataset)?;
            let root = args.out.clone().unwrap_or_else(|| default_run_dir(&config));
            (RunDirectory::create(&root, prepared.config())?, prepared)
        }
    };
    let config = prepared.config().clone();
    let stop = stop_on_ctrl_c()?;
    let outcome = train_run(&mut run, prepared, &stop, args.stop_after_batches)?;
    let root = run.root().display();
    if outcome.interrupted {
        println!(
            "stopped during epoch {}; its position, weights and optimizer state are saved in {}",
            outcome.epochs_completed + 1,
            root
        );
        println!(
            "resume with: rrcanet train --resume {root} --epochs {}",
            config.epochs
        );
        return Ok(ExitCode::from(INTERRUPTED));
    }
    match &outcome.best {
        Some(best) => println!(
            "best {} IoU {:.4} (nIoU {:.4}, Pd {:.4}, Fa {:.2e}) at epoch {}: {}",
            config.selection.label(),
            best.selection.iou,
            best.selection.niou,
            best.selection.pd,
            best.selection.fa,
            best.epoch,
            run.best_checkpoint().display()
        ),
        None => println!("no epoch completed"),
    }
    if let Some(best) = &outcome.best {
        if let Some(gap) = SelectionGap::of(&run.history()?, best.epoch) {
            println!("{}", gap_line(&gap));
        }
    }
    println!("metrics per epoch: {}", run.metrics_csv().display());
    println!("next: rrcanet eval --checkpoint {root}");
    Ok(ExitCode::SUCCESS)
}
