//! `roc.png` as the field draws it (the paper's Fig. 5): target-level Pd against Fa with Fa on
//! a log axis over 1e-7 to 1e-3, beside the pixel ROC (true- against false-positive rate)
//! with a log false-positive axis; each curve's operating point at probability 0.5 marked.

use super::{power_of_ten, write_plot, Canvas, Drawn, PlotError, PALETTE};
use crate::metrics::{RocCurve, RocPoint};
use plotters::prelude::*;
use std::path::Path;

/// The size of `roc.png`.
pub const ROC_SIZE: (u32, u32) = (1200, 540);

/// The Fa axis of the target-level plot.
const FA_RANGE: (f64, f64) = (1e-7, 1e-3);
/// The false-positive-rate axis of the pixel plot.
const FPR_RANGE: (f64, f64) = (1e-7, 1.0);
/// The threshold of the marked operating point (what the metrics are reported at).
const OPERATING_THRESHOLD: f32 = 0.5;

/// One curve of a ROC plot and its name in the legend.
pub struct NamedRoc<'a> {
    pub name: String,
    pub roc: &'a RocCurve,
}

/// Writes the ROC plot of `curves` (one colour each, up to eight) to `path`.
pub fn write_roc(path: &Path, title: &str, curves: &[NamedRoc]) -> Result<(), PlotError> {
    write_plot(path, ROC_SIZE, |root| {
        let root = root.titled(title, ("sans-serif", 22))?;
        let (left, right) = root.split_horizontally(ROC_SIZE.0 / 2);
        draw_panel(
            &left,
            curves,
            &Axes {
                caption: "target level: Pd against Fa",
                x_name: "false-alarm rate Fa (log)",
                y_name: "probability of detection Pd",
                x_range: FA_RANGE,
                point: |p| (p.fa, p.pd),
                with_auc: false,
            },
        )?;
        draw_panel(
            &right,
            curves,
            &Axes {
                caption: "pixel level: ROC",
                x_name: "false-positive rate (log)",
                y_name: "true-positive rate",
                x_range: FPR_RANGE,
                point: |p| (p.fpr, p.tpr),
                with_auc: true,
            },
        )
    })
}

/// What one panel plots.
struct Axes {
    caption: &'static str,
    x_name: &'static str,
    y_name: &'static str,
    /// The log x axis; points left of it are drawn on its left edge, points right of it are
    /// left out.
    x_range: (f64, f64),
    point: fn(&RocPoint) -> (f64, f64),
    /// Whether the legend gives each curve's area under the pixel ROC.
    with_auc: bool,
}

fn draw_panel(area: &Canvas, curves: &[NamedRoc], axes: &Axes) -> Drawn {
    let (low, high) = axes.x_range;
    let mut chart = ChartBuilder::on(area)
        .caption(axes.caption, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d((low..high).log_scale(), 0.0..1.02)?;
    chart
        .configure_mesh()
        .x_desc(axes.x_name)
        .y_desc(axes.y_name)
        .x_label_formatter(&power_of_ten)
        .draw()?;
    for (index, curve) in curves.iter().enumerate() {
        let colour = PALETTE[index % PALETTE.len()];
        // In threshold order: a parametric curve (Pd is not a function of Fa; sorting by Fa
        // would zigzag between thresholds of equal Fa).
        let points: Vec<(f64, f64)> = curve
            .roc
            .points
            .iter()
            .map(axes.point)
            .filter(|&(x, _)| x <= high)
            .map(|(x, y)| (x.max(low), y))
            .collect();
        let label = if axes.with_auc {
            format!("{} (AUC {:.4})", curve.name, curve.roc.auc)
        } else {
            curve.name.clone()
        };
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 2, colour.filled())))?;
        let operating = curve
            .roc
            .points
            .iter()
            .find(|p| p.threshold == OPERATING_THRESHOLD)
            .map(axes.point)
            .filter(|&(x, _)| x <= high);
        if let Some((x, y)) = operating {
            chart.draw_series([Cross::new((x.max(low), y), 8, colour.stroke_width(3))])?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 15))
        .draw()?;
    chart.draw_series([Text::new(
        "x: threshold 0.5",
        (low * 1.6, 0.97),
        ("sans-serif", 14),
    )])?;
    Ok(())
}
