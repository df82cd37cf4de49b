//! One configuration trained with several seeds: the test metrics of each run and their mean
//! and standard deviation, so that a results table never quotes one lucky run.

use super::history::EpochRecord;
use crate::metrics::Summary;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The test metrics of the run of one seed.
#[derive(Clone, Debug, Serialize)]
pub struct SeedRun {
    pub seed: u64,
    pub run: PathBuf,
    /// The selected epoch.
    pub epoch: usize,
    pub test: Summary,
    /// In a run that watched the test split: how far the selected epoch fell short.
    pub gap: Option<SelectionGap>,
}

/// How close validation selection came to the best test epoch, from the test IoU watched after
/// every epoch (`--watch-test`, the selection's protocol).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SelectionGap {
    /// The watched test IoU of the selected epoch.
    pub selected_test_iou: f64,
    /// The epoch with the best watched test IoU, and that IoU.
    pub best_test_epoch: usize,
    pub best_test_iou: f64,
    /// The watched test IoU of the last epoch (what taking the last weights would give).
    pub last_test_iou: f64,
}

impl SelectionGap {
    /// The gap of the run whose records are `records` and whose selected epoch is `selected`;
    /// `None` when the run did not watch the test split at every epoch.
    pub fn of(records: &[EpochRecord], selected: usize) -> Option<Self> {
        let watched = records
            .iter()
            .map(|r| r.test.map(|t| (r.epoch, t.iou)))
            .collect::<Option<Vec<_>>>()?;
        let (best_test_epoch, best_test_iou) =
            watched
                .iter()
                .copied()
                .fold(
                    None,
                    |best: Option<(usize, f64)>, (epoch, iou)| match best {
                        Some((_, top)) if top >= iou => best,
                        _ => Some((epoch, iou)),
                    },
                )?;
        let selected_test_iou = watched.iter().find(|(epoch, _)| *epoch == selected)?.1;
        Some(Self {
            selected_test_iou,
            best_test_epoch,
            best_test_iou,
            last_test_iou: watched.last()?.1,
        })
    }

    /// What selection on validation gave up against the best test epoch.
    pub fn selected(&self) -> f64 {
        self.best_test_iou - self.selected_test_iou
    }

    /// What taking the last epoch would give up against the best test epoch.
    pub fn last(&self) -> f64 {
        self.best_test_iou - self.last_test_iou
    }
}

/// A mean and the sample standard deviation (n - 1; 0 for one run).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeanStd {
    pub mean: f64,
    pub std: f64,
}

impl MeanStd {
    pub fn of(values: &[f64]) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
        let std = if values.len() > 1 {
            (squares / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        Self { mean, std }
    }
}

/// Every seed's run and the statistics over them.
#[derive(Clone, Debug, Serialize)]
pub struct SeedStatistics {
    pub runs: Vec<SeedRun>,
    pub iou: MeanStd,
    pub niou: MeanStd,
    pub pd: MeanStd,
    pub fa: MeanStd,
    /// Over the runs, when every one watched the test split: the selection gap and the gap of
    /// taking the last epoch instead.
    pub selection_gap: Option<MeanStd>,
    pub last_epoch_gap: Option<MeanStd>,
}

impl SeedStatistics {
    pub fn of(runs: Vec<SeedRun>) -> Self {
        let column = |value: fn(&Summary) -> f64| {
            MeanStd::of(&runs.iter().map(|r| value(&r.test)).collect::<Vec<_>>())
        };
        let gaps = runs.iter().map(|r| r.gap).collect::<Option<Vec<_>>>();
        let gap_column = |value: fn(&SelectionGap) -> f64| {
            gaps.as_ref()
                .map(|gaps| MeanStd::of(&gaps.iter().map(value).collect::<Vec<_>>()))
        };
        Self {
            iou: column(|s| s.iou),
            niou: column(|s| s.niou),
            pd: column(|s| s.pd),
            fa: column(|s| s.fa),
            selection_gap: gap_column(SelectionGap::selected),
            last_epoch_gap: gap_column(SelectionGap::last),
            runs,
        }
    }

    /// A Markdown table: one row per seed, then mean ± std.
    pub fn markdown(&self) -> String {
        let mut text = String::from(
            "| seed | selected epoch | test IoU | nIoU | Pd | Fa (1e-6) | run |\n| ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
        );
        for run in &self.runs {
            let t = &run.test;
            let _ = writeln!(
                text,
                "| {} | {} | {:.4} | {:.4} | {:.4} | {:.2} | {} |",
                run.seed,
                run.epoch,
                t.iou,
                t.niou,
                t.pd,
                t.fa * 1e6,
                run.run.display()
            );
        }
        let pm = |m: MeanStd, scale: f64, digits: usize| {
            format!("{:.digits$} ± {:.digits$}", m.mean * scale, m.std * scale)
        };
        let _ = writeln!(
            text,
            "| mean ± std ({} seed{}) | | {} | {} | {} | {} | |",
            self.runs.len(),
            if self.runs.len() == 1 { "" } else { "s" },
            pm(self.iou, 1.0, 4),
            pm(self.niou, 1.0, 4),
            pm(self.pd, 1.0, 4),
            pm(self.fa, 1e6, 2)
        );
        if let (Some(selected), Some(last)) = (self.selection_gap, self.last_epoch_gap) {
            text.push_str(
                "\nSelection gap, from the test IoU watched after every epoch (same protocol as the selection):\n\n| seed | selected epoch's test IoU | best test IoU (epoch) | gap | last epoch's test IoU | gap of the last epoch |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n",
            );
            for (run, gap) in self.runs.iter().filter_map(|r| Some((r, r.gap?))) {
                let _ = writeln!(
                    text,
                    "| {} | {:.4} | {:.4} ({}) | {:.4} | {:.4} | {:.4} |",
                    run.seed,
                    gap.selected_test_iou,
                    gap.best_test_iou,
                    gap.best_test_epoch,
                    gap.selected(),
                    gap.last_test_iou,
                    gap.last()
                );
            }
            let _ = writeln!(
                text,
                "| mean ± std | | | {} | | {} |",
                pm(selected, 1.0, 4),
                pm(last, 1.0, 4)
            );
        }
        text
    }

    /// Writes `seeds.md` and `seeds.json` into `dir`, atomically.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        crate::atomic_file::write(&dir.join("seeds.md"), self.markdown().as_bytes())?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        crate::atomic_file::write(&dir.join("seeds.json"), json.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::history::SplitMetrics;

    fn watched(epoch: usize, test_iou: Option<f64>) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: 1.0,
            selection: SplitMetrics {
                iou: 0.5,
                niou: 0.5,
                pd: 0.5,
                fa: 1e-5,
            },
            lr: 0.05,
            seconds: 1.0,
            test: test_iou.map(|iou| SplitMetrics {
                iou,
                niou: iou,
                pd: 0.9,
                fa: 1e-5,
            }),
        }
    }

    #[test]
    fn the_gap_is_measured_against_the_best_test_epoch() {
        let records: Vec<_> = [0.25, 0.75, 0.5, 0.625]
            .into_iter()
            .enumerate()
            .map(|(i, iou)| watched(i + 1, Some(iou)))
            .collect();
        let gap = SelectionGap::of(&records, 3).unwrap();
        assert_eq!((gap.best_test_epoch, gap.best_test_iou), (2, 0.75));
        assert_eq!(gap.selected(), 0.25);
        assert_eq!(gap.last(), 0.125);
        let unwatched = [watched(1, Some(0.5)), watched(2, None)];
        assert_eq!(SelectionGap::of(&unwatched, 1), None);
    }

    #[test]
    fn mean_and_sample_standard_deviation() {
        let m = MeanStd::of(&[0.5, 0.6, 0.7]);
        assert!((m.mean - 0.6).abs() < 1e-12);
        assert!((m.std - 0.1).abs() < 1e-12);
        assert_eq!(
            MeanStd::of(&[0.4]),
            MeanStd {
                mean: 0.4,
                std: 0.0
            }
        );
    }
}
