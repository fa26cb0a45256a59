//! PIT histograms of one or more versions, drawn as densities.

use plotters::style::Color;

use crate::axes::{Axis, TickFormat};
use crate::error::PlotError;
use crate::figure::{
    BAR_ALPHA, Figure, LegendEntry, Shape, Swatch, bar, key_line, nothing_to_plot,
};
use crate::render::render_svg;
use crate::style::{KEY_GREY, LINE_W, arm_colour};

/// The figure kind, as error messages name it.
const KIND: &str = "PIT histogram";

/// One version's PIT histogram: counts of PIT values in equal bins of [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct PitSeries {
    /// Version name, shown in the legend.
    pub name: String,
    /// Counts per bin, bin k covering `[k/B, (k+1)/B)`.
    pub counts: Vec<usize>,
}

/// PIT histograms of one or more versions, drawn as densities (1 = uniform).
#[derive(Debug, Clone, Copy)]
pub struct PitPlot<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// One histogram per version, side by side within each bin.
    pub series: &'a [PitSeries],
}

/// Renders PIT histograms as a self-contained SVG document.
///
/// # Errors
/// No series, series with different bin counts, or no PIT value at all.
pub fn pit_histogram_svg(plot: &PitPlot) -> Result<String, PlotError> {
    render_svg(&pit_figure(plot)?)
}

fn pit_figure(plot: &PitPlot) -> Result<Figure, PlotError> {
    if plot.series.is_empty() {
        return Err(nothing_to_plot(KIND, plot.title, "no versions to plot"));
    }
    let n_bins = plot.series[0].counts.len();
    if n_bins == 0 {
        return Err(nothing_to_plot(KIND, plot.title, "no bins"));
    }
    for series in plot.series {
        if series.counts.len() != n_bins {
            return Err(PlotError::Mismatch {
                series: format!("{KIND} '{}': version '{}'", plot.title, series.name),
                field: "counts".to_owned(),
                got: series.counts.len(),
                expected: n_bins,
                per: "bins of the first version".to_owned(),
            });
        }
    }
    let n_series = plot.series.len() as f64;
    let bin_w = 1.0 / n_bins as f64;
    let mut shapes = Vec::new();
    let mut top = 1.0_f64;
    for (series_idx, series) in plot.series.iter().enumerate() {
        let total: usize = series.counts.iter().sum();
        if total == 0 {
            continue;
        }
        let expected = total as f64 / n_bins as f64;
        let fill = arm_colour(series_idx).mix(BAR_ALPHA);
        for (k, &count) in series.counts.iter().enumerate() {
            let density = count as f64 / expected;
            top = top.max(density);
            let x0 = k as f64 * bin_w + bin_w * (0.08 + 0.84 * series_idx as f64 / n_series);
            let x1 = x0 + bin_w * 0.84 / n_series;
            shapes.push(bar(x0, x1, 0.0, density, fill));
        }
    }
    if shapes.is_empty() {
        return Err(nothing_to_plot(
            KIND,
            plot.title,
            "nothing to plot, every count is zero",
        ));
    }
    shapes.push(Shape::Line {
        points: vec![(0.0, 1.0), (1.0, 1.0)],
        colour: KEY_GREY.to_rgba(),
        width: LINE_W,
    });
    Ok(Figure {
        title: plot.title.to_owned(),
        x_label: "PIT (share of draws below the observation)".to_owned(),
        y_label: "Density (1 = uniform)".to_owned(),
        x_axis: Axis::with_ticks(
            0.0,
            1.0,
            (0..=5).map(|i| f64::from(i) / 5.0).collect(),
            TickFormat::Fixed(1),
        ),
        y_axis: Axis::linear(0.0, top * 1.1, 0.0, 6),
        shapes,
        legend: plot
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| LegendEntry {
                swatch: Swatch::Band {
                    colour: arm_colour(i),
                    alpha: BAR_ALPHA,
                },
                text: s.name.clone(),
            })
            .collect(),
        key: vec![key_line(KEY_GREY, "uniform (calibrated)")],
    })
}
