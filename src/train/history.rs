//! The per-epoch record of a training run, kept as `metrics.csv` in the run directory: one row
//! per epoch, rewritten atomically after every epoch so a reader never sees a torn file.

use crate::atomic_file;
use crate::metrics::Summary;
use std::fmt::Write as _;
use std::path::Path;

/// What one epoch produced.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    /// The metrics the epoch is selected on (the validation part, or the test split with
    /// `--select-on-test`): metrics.csv's `val_*` columns.
    pub selection: SplitMetrics,
    pub lr: f64,
    pub seconds: f64,
    /// The test split's metrics, in a run that watches it (`--watch-test`), measured with the
    /// same protocol and never used to select: the `test_*` columns.
    pub test: Option<SplitMetrics>,
}

/// IoU, nIoU, Pd and Fa of one split after an epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitMetrics {
    pub iou: f64,
    pub niou: f64,
    pub pd: f64,
    pub fa: f64,
}

impl From<&Summary> for SplitMetrics {
    fn from(summary: &Summary) -> Self {
        SplitMetrics {
            iou: summary.iou,
            niou: summary.niou,
            pd: summary.pd,
            fa: summary.fa,
        }
    }
}

const HEADER: &str = "epoch,train_loss,val_iou,val_niou,val_pd,val_fa,lr,seconds";
/// The columns a run that watches the test split adds after [`HEADER`]'s.
const TEST_COLUMNS: &str = ",test_iou,test_niou,test_pd,test_fa";

/// Errors reading a run's history.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {problem}")]
    Malformed {
        path: String,
        line: usize,
        problem: String,
    },
}

/// Writes every record to `path` (atomically), header first; the test columns when any record
/// has the watched test split's metrics.
pub fn write(path: &Path, records: &[EpochRecord]) -> Result<(), HistoryError> {
    let watched = records.iter().any(|r| r.test.is_some());
    let mut text = String::from(HEADER);
    if watched {
        text.push_str(TEST_COLUMNS);
    }
    text.push('\n');
    for r in records {
        let _ = write!(text, "{},{}", r.epoch, r.train_loss);
        write_split(&mut text, &r.selection);
        let _ = write!(text, ",{},{:.3}", r.lr, r.seconds);
        match (watched, r.test) {
            (true, Some(test)) => write_split(&mut text, &test),
            (true, None) => text.push_str(",,,,"),
            (false, _) => {}
        }
        text.push('\n');
    }
    atomic_file::write(path, text.as_bytes()).map_err(|source| HistoryError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Appends `,IoU,nIoU,Pd,Fa` to a row.
fn write_split(text: &mut String, m: &SplitMetrics) {
    let _ = write!(text, ",{},{},{},{:e}", m.iou, m.niou, m.pd, m.fa);
}

/// Reads the records written by [`write`].
pub fn read(path: &Path) -> Result<Vec<EpochRecord>, HistoryError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| HistoryError::Io {
        path: name.clone(),
        source,
    })?;
    let malformed = |line: usize, problem: String| HistoryError::Malformed {
        path: name.clone(),
        line,
        problem,
    };
    let mut lines = text.lines().enumerate();
    let watched = match lines.next().map(|(_, header)| header.trim()) {
        Some(header) if header == HEADER => false,
        Some(header) if header.strip_suffix(TEST_COLUMNS) == Some(HEADER) => true,
        _ => {
            return Err(malformed(
                1,
                format!("expected the header `{HEADER}` (optionally followed by `{TEST_COLUMNS}`)"),
            ))
        }
    };
    let columns = if watched { 12 } else { 8 };
    lines
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != columns {
                return Err(malformed(
                    index + 1,
                    format!("expected {columns} fields, found {}", fields.len()),
                ));
            }
            let number = |i: usize| {
                fields[i]
                    .trim()
                    .parse::<f64>()
                    .map_err(|e| malformed(index + 1, format!("field {}: {e}", i + 1)))
            };
            let epoch = fields[0]
                .trim()
                .parse::<usize>()
                .map_err(|e| malformed(index + 1, format!("epoch: {e}")))?;
            let split = |first: usize| -> Result<SplitMetrics, HistoryError> {
                Ok(SplitMetrics {
                    iou: number(first)?,
                    niou: number(first + 1)?,
                    pd: number(first + 2)?,
                    fa: number(first + 3)?,
                })
            };
            Ok(EpochRecord {
                epoch,
                train_loss: number(1)?,
                selection: split(2)?,
                lr: number(6)?,
                seconds: number(7)?,
                test: if watched && fields[8..].iter().any(|f| !f.trim().is_empty()) {
                    Some(split(8)?)
                } else {
                    None
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: 1.5,
            selection: SplitMetrics {
                iou: 0.25,
                niou: 0.5,
                pd: 0.75,
                fa: 1.25e-5,
            },
            lr: 0.05,
            seconds: 12.5,
            test: None,
        }
    }

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        let records = vec![record(1), record(2)];
        write(&path, &records).unwrap();
        assert_eq!(read(&path).unwrap(), records);
    }

    #[test]
    fn the_watched_test_columns_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        let watched = EpochRecord {
            test: Some(SplitMetrics {
                iou: 0.625,
                niou: 0.5,
                pd: 0.875,
                fa: 2.5e-5,
            }),
            ..record(2)
        };
        let records = vec![record(1), watched];
        write(&path, &records).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(&format!("{HEADER}{TEST_COLUMNS}\n")),
            "{text}"
        );
        assert_eq!(read(&path).unwrap(), records);
    }

    #[test]
    fn a_malformed_row_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        std::fs::write(&path, format!("{HEADER}\n1,2,3\n")).unwrap();
        let message = read(&path).unwrap_err().to_string();
        assert!(
            message.contains("metrics.csv") && message.contains("line 2"),
            "{message}"
        );
    }
}
