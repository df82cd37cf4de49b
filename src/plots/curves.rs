//! `curves.png` of a run: training loss, the selection metrics (IoU, nIoU, Pd), Fa on a log
//! axis and the learning rate against the epoch, with the selected epoch marked in each.

use super::{power_of_ten, write_plot, Canvas, Drawn, PlotError, PALETTE};
use crate::train::history::EpochRecord;
use plotters::prelude::*;
use std::ops::Range;
use std::path::Path;

/// The size of `curves.png`.
pub const CURVES_SIZE: (u32, u32) = (1200, 900);

/// Colour of the line marking the selected epoch.
const SELECTED: RGBColor = RGBColor(0, 0, 0);

/// Writes the learning curves of `records` to `path`; `selection` names the part the metrics
/// were measured on ("validation" or "test") and `selected` the epoch whose weights were kept.
pub fn write_curves(
    path: &Path,
    title: &str,
    records: &[EpochRecord],
    selection: &str,
    selected: Option<usize>,
) -> Result<(), PlotError> {
    let panels = Panels {
        records,
        epochs: 1.0..(records.iter().map(|r| r.epoch).max().unwrap_or(1).max(2) as f64),
        selected,
    };
    write_plot(path, CURVES_SIZE, |root| {
        let root = root.titled(title, ("sans-serif", 22))?;
        let areas = root.split_evenly((2, 2));
        panels.single(&areas[0], "training loss", |r| r.train_loss, PALETTE[0])?;
        panels.selection_metrics(&areas[1], selection)?;
        panels.false_alarms(&areas[2], selection)?;
        panels.single(&areas[3], "learning rate", |r| r.lr, PALETTE[3])
    })
}

/// One column of the records.
type Column = fn(&EpochRecord) -> f64;

/// An epoch label: a whole number.
fn whole(value: &f64) -> String {
    format!("{value:.0}")
}

/// The records and what every panel shares: the epoch axis and the selected epoch.
struct Panels<'a> {
    records: &'a [EpochRecord],
    epochs: Range<f64>,
    selected: Option<usize>,
}

impl Panels<'_> {
    /// The points `(epoch, value)` of one column of the records.
    fn series(&self, value: impl Fn(&EpochRecord) -> f64) -> Vec<(f64, f64)> {
        self.records
            .iter()
            .map(|r| (r.epoch as f64, value(r)))
            .collect()
    }

    /// A dashed vertical line at the selected epoch, from `low` to `high` on the value axis.
    fn selected_line(
        &self,
        low: f64,
        high: f64,
    ) -> DashedLineSeries<std::vec::IntoIter<(f64, f64)>, i32> {
        let points = self
            .selected
            .map(|epoch| vec![(epoch as f64, low), (epoch as f64, high)])
            .unwrap_or_default();
        DashedLineSeries::new(points, 6, 4, SELECTED.stroke_width(2))
    }

    /// One column of the records, on a linear axis from 0.
    fn single(&self, area: &Canvas, caption: &str, column: Column, colour: RGBColor) -> Drawn {
        let points = self.series(column);
        let high = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.08;
        let mut chart = ChartBuilder::on(area)
            .caption(caption, ("sans-serif", 18))
            .margin(14)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(self.epochs.clone(), 0.0..high)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_label_formatter(&whole)
            .draw()?;
        chart.draw_series(self.selected_line(0.0, high))?;
        chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
        Ok(())
    }

    fn selection_metrics(&self, area: &Canvas, selection: &str) -> Drawn {
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{selection}: IoU, nIoU, Pd"), ("sans-serif", 18))
            .margin(14)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(self.epochs.clone(), 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_label_formatter(&whole)
            .draw()?;
        chart
            .draw_series(self.selected_line(0.0, 1.0))?
            .label(match self.selected {
                Some(epoch) => format!("selected epoch ({epoch})"),
                None => "no epoch selected".to_string(),
            })
            .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], SELECTED.stroke_width(2)));
        let metrics: [(&str, Column); 3] = [
            ("IoU", |r| r.selection.iou),
            ("nIoU", |r| r.selection.niou),
            ("Pd", |r| r.selection.pd),
        ];
        for (index, (name, value)) in metrics.into_iter().enumerate() {
            let colour = PALETTE[index];
            chart
                .draw_series(LineSeries::new(self.series(value), colour.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
                });
        }
        let watched: Vec<(f64, f64)> = self
            .records
            .iter()
            .filter_map(|r| Some((r.epoch as f64, r.test?.iou)))
            .collect();
        if !watched.is_empty() {
            let colour = PALETTE[4];
            chart
                .draw_series(DashedLineSeries::new(watched, 4, 3, colour.stroke_width(2)))?
                .label("test IoU (watched, not selecting)")
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()?;
        Ok(())
    }

    /// Fa on a log axis; epochs without a false alarm (Fa 0) break the line.
    fn false_alarms(&self, area: &Canvas, selection: &str) -> Drawn {
        let positive: Vec<f64> = self
            .records
            .iter()
            .map(|r| r.selection.fa)
            .filter(|&fa| fa > 0.0)
            .collect();
        // Whole decades, so that the labels are powers of ten.
        let decade = |value: f64, round: fn(f64) -> f64| 10f64.powf(round(value.log10()));
        let low = decade(positive.iter().copied().fold(1e-5, f64::min), f64::floor);
        let high = decade(positive.iter().copied().fold(1e-4, f64::max), f64::ceil);
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{selection}: Fa (false-alarm pixels / pixels)"),
                ("sans-serif", 18),
            )
            .margin(14)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(self.epochs.clone(), (low..high).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_label_formatter(&whole)
            .y_label_formatter(&power_of_ten)
            .draw()?;
        chart.draw_series(self.selected_line(low, high))?;
        let colour = PALETTE[1];
        for run in self.records.split(|r| r.selection.fa <= 0.0) {
            let points = run.iter().map(|r| (r.epoch as f64, r.selection.fa));
            chart.draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?;
            chart.draw_series(points.map(|p| Circle::new(p, 3, colour.filled())))?;
        }
        Ok(())
    }
}
