//! Coverage (calibration) plots: empirical against nominal coverage of central intervals.

use plotters::style::Color;

use crate::axes::{Axis, TickFormat};
use crate::error::PlotError;
use crate::figure::{
    Extent, Figure, LegendEntry, Shape, Swatch, check_len, key_line, nothing_to_plot,
};
use crate::render::render_svg;
use crate::style::{KEY_GREY, arm_colour};

/// The figure kind, as error messages name it.
const KIND: &str = "coverage plot";

/// Empirical coverage of central prediction intervals against their nominal levels.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverageSeries {
    /// Version name, shown in the legend.
    pub name: String,
    /// Nominal levels, e.g. 0.5, 0.8, 0.9, 0.95.
    pub levels: Vec<f64>,
    /// Empirical coverage per level.
    pub coverage: Vec<f64>,
    /// Lower CI bound per level (NaN: none).
    pub lower: Vec<f64>,
    /// Upper CI bound per level (NaN: none).
    pub upper: Vec<f64>,
}

/// A coverage (calibration) plot: empirical against nominal coverage, with the diagonal.
#[derive(Debug, Clone, Copy)]
pub struct CoveragePlot<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// One series per version.
    pub series: &'a [CoverageSeries],
}

/// Renders a coverage plot as a self-contained SVG document.
///
/// # Errors
/// No series, vectors of different lengths, a level outside (0, 1), or nothing to plot.
pub fn coverage_svg(plot: &CoveragePlot) -> Result<String, PlotError> {
    render_svg(&coverage_figure(plot)?)
}

fn coverage_figure(plot: &CoveragePlot) -> Result<Figure, PlotError> {
    if plot.series.is_empty() {
        return Err(nothing_to_plot(KIND, plot.title, "no versions to plot"));
    }
    let mut extent = Extent::new();
    for series in plot.series {
        let n = series.levels.len();
        for (field, values) in [
            ("coverage", &series.coverage),
            ("lower", &series.lower),
            ("upper", &series.upper),
        ] {
            check_len("version", &series.name, field, values.len(), n)?;
        }
        if let Some((index, &value)) = series
            .levels
            .iter()
            .enumerate()
            .find(|&(_, &level)| !(level > 0.0 && level < 1.0))
        {
            return Err(PlotError::OutOfDomain {
                series: format!("version '{}'", series.name),
                field: "levels".to_owned(),
                index,
                value,
                domain: "a level in (0, 1)".to_owned(),
            });
        }
        for (&level, values) in series.levels.iter().zip(
            series
                .coverage
                .iter()
                .zip(series.lower.iter().zip(&series.upper)),
        ) {
            extent.add(level);
            let (c, (l, u)) = values;
            for v in [*c, *l, *u] {
                extent.add(v);
            }
        }
    }
    if extent.is_empty() {
        return Err(nothing_to_plot(KIND, plot.title, "nothing to plot"));
    }
    let lo = (extent.lo - 0.05).max(0.0);
    let mut shapes = vec![Shape::Line {
        points: vec![(lo, lo), (1.0, 1.0)],
        colour: KEY_GREY.to_rgba(),
        width: 1.5,
    }];
    let n_series = plot.series.len() as f64;
    for (series_idx, series) in plot.series.iter().enumerate() {
        let colour = arm_colour(series_idx).to_rgba();
        // Small horizontal offsets keep the whiskers of several versions apart.
        let offset = 0.006 * (series_idx as f64 - (n_series - 1.0) / 2.0);
        let mut points = Vec::new();
        for (k, &level) in series.levels.iter().enumerate() {
            let x = level + offset;
            let (l, u) = (series.lower[k], series.upper[k]);
            if l.is_finite() && u.is_finite() {
                shapes.push(Shape::Line {
                    points: vec![(x, l), (x, u)],
                    colour: arm_colour(series_idx).mix(0.55),
                    width: 3.0,
                });
            }
            if series.coverage[k].is_finite() {
                points.push((x, series.coverage[k]));
            }
        }
        if points.len() > 1 {
            shapes.push(Shape::Line {
                points: points.clone(),
                colour,
                width: 1.5,
            });
        }
        for at in points {
            shapes.push(Shape::Dot {
                at,
                colour,
                radius: 4.5,
            });
        }
    }
    let ticks: Vec<f64> = (0..=10)
        .map(|i| f64::from(i) / 10.0)
        .filter(|&t| t >= lo - 1e-9)
        .collect();
    Ok(Figure {
        title: plot.title.to_owned(),
        x_label: "Nominal coverage of the central interval".to_owned(),
        y_label: "Observed coverage".to_owned(),
        x_axis: Axis::with_ticks(lo, 1.02, ticks.clone(), TickFormat::Fixed(1)),
        y_axis: Axis::with_ticks(lo, 1.02, ticks, TickFormat::Fixed(1)),
        shapes,
        legend: plot
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| LegendEntry {
                swatch: Swatch::Line {
                    colour: arm_colour(i),
                    band: true,
                },
                text: s.name.clone(),
            })
            .collect(),
        key: vec![
            key_line(KEY_GREY, "ideal (observed = nominal)"),
            LegendEntry {
                swatch: Swatch::Band {
                    colour: KEY_GREY,
                    alpha: 0.55,
                },
                text: "bootstrap 95 % CI".to_owned(),
            },
        ],
    })
}
