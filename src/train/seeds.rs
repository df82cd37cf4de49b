//! One configuration trained with several seeds: the test metrics of each run and their mean
//! and standard deviation, so that a results table never quotes one lucky run.

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
}

impl SeedStatistics {
    pub fn of(runs: Vec<SeedRun>) -> Self {
        let column = |value: fn(&Summary) -> f64| {
            MeanStd::of(&runs.iter().map(|r| value(&r.test)).collect::<Vec<_>>())
        };
        Self {
            iou: column(|s| s.iou),
            niou: column(|s| s.niou),
            pd: column(|s| s.pd),
            fa: column(|s| s.fa),
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
            "| mean ± std ({} seeds) | | {} | {} | {} | {} | |",
            self.runs.len(),
            pm(self.iou, 1.0, 4),
            pm(self.niou, 1.0, 4),
            pm(self.pd, 1.0, 4),
            pm(self.fa, 1e6, 2)
        );
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
