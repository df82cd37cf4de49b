//! Several evaluations side by side: their ROC curves on one plot and one results table as a
//! paper prints it (IoU, nIoU, Pd, Fa, parameters, MACs), as text, Markdown and CSV.
//!
//! Each input is an evaluation folder (`rrcanet eval` or `rrcanet baseline` output, holding
//! `metrics.json`) or a run directory whose `eval-test/` holds one.

use crate::data::InputChannels;
use crate::metrics::{RocCurve, Summary};
use crate::model::{DeviceKind, ModelName};
use crate::plots::roc::{write_roc, NamedRoc};
use crate::plots::PlotError;
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The image side the MACs of the table are counted at.
pub const MACS_IMAGE_SIDE: usize = 256;

/// Why the comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("{}: neither an evaluation folder (metrics.json) nor a run directory with eval-test/metrics.json; run `rrcanet eval --checkpoint {}` first", .0.display(), .0.display())]
    NotAnEvaluation(PathBuf),
    #[error("{}: {problem}", path.display())]
    Unreadable { path: PathBuf, problem: String },
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("at most {limit} evaluations fit one plot, {given} were given")]
    TooMany { given: usize, limit: usize },
    #[error("nothing to compare")]
    Nothing,
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// What `metrics.json` of either kind of evaluation holds that a comparison reads.
#[derive(Deserialize)]
struct EvaluationFile {
    /// The model's name (`rrcanet eval`).
    model: Option<String>,
    /// The input the model takes (evaluations before it was recorded took RGB).
    #[serde(default)]
    input: Option<InputChannels>,
    /// The method (`rrcanet baseline`).
    baseline: Option<BaselineName>,
    part: String,
    metrics: Summary,
    roc: RocCurve,
}

#[derive(Deserialize)]
struct BaselineName {
    method: String,
}

/// One row of the comparison.
#[derive(Clone, Debug)]
pub struct Compared {
    /// The folder's name (a run's, for its `eval-test`).
    pub name: String,
    /// The model or method.
    pub method: String,
    /// The split part evaluated.
    pub part: String,
    pub metrics: Summary,
    pub roc: RocCurve,
    /// Learnable parameters and MACs at [`MACS_IMAGE_SIDE`]², for models.
    pub params: Option<usize>,
    pub macs: Option<u64>,
}

/// Reads the evaluation in `dir` (an evaluation folder or a run directory).
pub fn read_evaluation(dir: &Path) -> Result<Compared, CompareError> {
    let (file, name_from) = if dir.join("metrics.json").is_file() {
        (dir.join("metrics.json"), dir.to_path_buf())
    } else if dir.join("eval-test").join("metrics.json").is_file() {
        (
            dir.join("eval-test").join("metrics.json"),
            dir.to_path_buf(),
        )
    } else {
        return Err(CompareError::NotAnEvaluation(dir.to_path_buf()));
    };
    let text = std::fs::read_to_string(&file).map_err(|source| CompareError::Io {
        path: file.clone(),
        source,
    })?;
    let unreadable = |problem: String| CompareError::Unreadable {
        path: file.clone(),
        problem,
    };
    let parsed: EvaluationFile = serde_json::from_str(&text)
        .map_err(|e| unreadable(format!("not an evaluation's metrics.json ({e})")))?;
    let absolute = std::path::absolute(&name_from).unwrap_or(name_from);
    let name = absolute.file_name().map_or_else(
        || absolute.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let (method, cost) = match (parsed.model, parsed.baseline) {
        (Some(model), _) => {
            let named: ModelName = model
                .parse()
                .map_err(|e| unreadable(format!("model `{model}`: {e}")))?;
            let input = parsed.input.unwrap_or(InputChannels::ImageNetRgb);
            let detector = crate::model::build_for_input(named, input, DeviceKind::Cpu, 0)
                .map_err(|e| unreadable(format!("model `{model}`: {e}")))?;
            (model, Some(detector.cost(MACS_IMAGE_SIDE, MACS_IMAGE_SIDE)))
        }
        (None, Some(baseline)) => (baseline.method, None),
        (None, None) => return Err(unreadable("names neither a model nor a baseline".into())),
    };
    Ok(Compared {
        name,
        method,
        part: parsed.part,
        metrics: parsed.metrics,
        roc: parsed.roc,
        params: cost.as_ref().map(|c| c.params),
        macs: cost.map(|c| c.macs),
    })
}

/// The comparison of several evaluations.
pub struct Comparison {
    pub rows: Vec<Compared>,
}

impl Comparison {
    /// Reads every folder of `dirs`.
    pub fn read(dirs: &[PathBuf]) -> Result<Self, CompareError> {
        if dirs.is_empty() {
            return Err(CompareError::Nothing);
        }
        if dirs.len() > crate::plots::PALETTE.len() {
            return Err(CompareError::TooMany {
                given: dirs.len(),
                limit: crate::plots::PALETTE.len(),
            });
        }
        let rows = dirs
            .iter()
            .map(|dir| read_evaluation(dir))
            .collect::<Result<_, _>>()?;
        Ok(Self { rows })
    }

    /// The table's cells, header first: name, method, part, IoU, nIoU, Pd, Fa (1e-6), params,
    /// MACs (G).
    fn cells(&self) -> Vec<Vec<String>> {
        let header = [
            "run",
            "method",
            "part",
            "IoU",
            "nIoU",
            "Pd",
            "Fa (1e-6)",
            "params",
            "MACs (G, 256²)",
        ];
        let mut cells = vec![header.iter().map(|h| h.to_string()).collect()];
        for row in &self.rows {
            let m = &row.metrics;
            cells.push(vec![
                row.name.clone(),
                row.method.clone(),
                row.part.clone(),
                format!("{:.4}", m.iou),
                format!("{:.4}", m.niou),
                format!("{:.4}", m.pd),
                format!("{:.3}", m.fa * 1e6),
                row.params.map_or("-".into(), |p| p.to_string()),
                row.macs
                    .map_or("-".into(), |macs| format!("{:.3}", macs as f64 / 1e9)),
            ]);
        }
        cells
    }

    /// The table as aligned text.
    pub fn text(&self) -> String {
        let cells = self.cells();
        let widths: Vec<usize> = (0..cells[0].len())
            .map(|column| {
                cells
                    .iter()
                    .map(|row| row[column].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut text = String::new();
        for row in &cells {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(column, (cell, &width))| {
                    if column < 3 {
                        format!("{cell:<width$}")
                    } else {
                        format!("{cell:>width$}")
                    }
                })
                .collect();
            let _ = writeln!(text, "{}", line.join("  ").trim_end());
        }
        text
    }

    /// The table as Markdown.
    pub fn markdown(&self) -> String {
        let cells = self.cells();
        let mut text = String::new();
        for (index, row) in cells.iter().enumerate() {
            let _ = writeln!(text, "| {} |", row.join(" | "));
            if index == 0 {
                let rule: Vec<&str> = (0..row.len())
                    .map(|column| if column < 3 { "---" } else { "---:" })
                    .collect();
                let _ = writeln!(text, "| {} |", rule.join(" | "));
            }
        }
        text
    }

    /// The table as CSV, with full-precision values.
    pub fn csv(&self) -> String {
        let mut text = String::from("run,method,part,iou,niou,pd,fa,params,macs\n");
        for row in &self.rows {
            let m = &row.metrics;
            let _ = writeln!(
                text,
                "{},{},{},{},{},{},{:e},{},{}",
                crate::csv::field(&row.name),
                crate::csv::field(&row.method),
                crate::csv::field(&row.part),
                m.iou,
                m.niou,
                m.pd,
                m.fa,
                row.params.map_or(String::new(), |p| p.to_string()),
                row.macs.map_or(String::new(), |macs| macs.to_string()),
            );
        }
        text
    }

    /// Writes `results.md`, `results.csv` and `roc.png` into `out` (created if needed).
    pub fn write(&self, out: &Path) -> Result<(), CompareError> {
        std::fs::create_dir_all(out).map_err(|source| CompareError::Io {
            path: out.to_path_buf(),
            source,
        })?;
        for (name, text) in [("results.md", self.markdown()), ("results.csv", self.csv())] {
            let path = out.join(name);
            crate::atomic_file::write(&path, text.as_bytes())
                .map_err(|source| CompareError::Io { path, source })?;
        }
        let curves: Vec<NamedRoc> = self
            .rows
            .iter()
            .map(|row| NamedRoc {
                name: row.name.clone(),
                roc: &row.roc,
            })
            .collect();
        let title = format!("{} evaluations compared", self.rows.len());
        write_roc(&out.join("roc.png"), &title, &curves)?;
        Ok(())
    }
}
