//! Bar charts of one drift statistic per covariate with its two thresholds.

use plotters::style::Color;

use crate::axes::{Axis, TickFormat};
use crate::error::PlotError;
use crate::figure::{
    BAR_ALPHA, Figure, LegendEntry, Shape, Swatch, bar, key_line, nothing_to_plot,
};
use crate::render::render_svg;
use crate::style::arm_colour;

/// The figure kind, as error messages name it.
const KIND: &str = "drift plot";

/// A bar chart of one drift statistic per covariate with its two thresholds.
#[derive(Debug, Clone, Copy)]
pub struct DriftPlot<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// Y-axis label, e.g. `PSI`.
    pub y_label: &'a str,
    /// Covariate names.
    pub names: &'a [String],
    /// The statistic per covariate (NaN: not computed).
    pub values: &'a [f64],
    /// The moderate threshold, drawn as a line.
    pub moderate: f64,
    /// The major threshold, drawn as a line.
    pub major: f64,
}

/// Renders a drift bar chart as a self-contained SVG document.
///
/// # Errors
/// No covariate, or names and values of different lengths.
pub fn drift_svg(plot: &DriftPlot) -> Result<String, PlotError> {
    render_svg(&drift_figure(plot)?)
}

fn drift_figure(plot: &DriftPlot) -> Result<Figure, PlotError> {
    if plot.names.is_empty() {
        return Err(nothing_to_plot(KIND, plot.title, "no covariates to plot"));
    }
    if plot.values.len() != plot.names.len() {
        return Err(PlotError::Mismatch {
            series: format!("{KIND} '{}'", plot.title),
            field: "values".to_owned(),
            got: plot.values.len(),
            expected: plot.names.len(),
            per: "names".to_owned(),
        });
    }
    let top = plot
        .values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(plot.major, f64::max)
        * 1.15;
    let mut shapes = Vec::new();
    for (i, &v) in plot.values.iter().enumerate() {
        if !v.is_finite() {
            continue;
        }
        let colour = if v >= plot.major {
            arm_colour(1)
        } else if v >= plot.moderate {
            arm_colour(4)
        } else {
            arm_colour(2)
        };
        let x = i as f64;
        shapes.push(bar(
            x - 0.3,
            x + 0.3,
            0.0,
            v.max(0.0),
            colour.mix(BAR_ALPHA),
        ));
    }
    let n = plot.names.len() as f64;
    for (threshold, colour) in [(plot.moderate, arm_colour(4)), (plot.major, arm_colour(1))] {
        shapes.push(Shape::Line {
            points: vec![(-0.6, threshold), (n - 0.4, threshold)],
            colour: colour.to_rgba(),
            width: 1.5,
        });
    }
    let mut x_axis = Axis::with_ticks(
        -0.6,
        n - 0.4,
        (0..plot.names.len()).map(|i| i as f64).collect(),
        TickFormat::Fixed(0),
    );
    x_axis.categories = plot.names.to_vec();
    Ok(Figure {
        title: plot.title.to_owned(),
        x_label: "Covariate".to_owned(),
        y_label: plot.y_label.to_owned(),
        x_axis,
        y_axis: Axis::linear(0.0, top, 0.0, 6),
        shapes,
        legend: vec![
            LegendEntry {
                swatch: Swatch::Band {
                    colour: arm_colour(2),
                    alpha: BAR_ALPHA,
                },
                text: "stable".to_owned(),
            },
            LegendEntry {
                swatch: Swatch::Band {
                    colour: arm_colour(4),
                    alpha: BAR_ALPHA,
                },
                text: "moderate".to_owned(),
            },
            LegendEntry {
                swatch: Swatch::Band {
                    colour: arm_colour(1),
                    alpha: BAR_ALPHA,
                },
                text: "major".to_owned(),
            },
        ],
        key: vec![
            key_line(arm_colour(4), &format!("moderate at {}", plot.moderate)),
            key_line(arm_colour(1), &format!("major at {}", plot.major)),
        ],
    })
}
