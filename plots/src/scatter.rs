//! Goodness-of-fit scatter plots over a reference line (`y = x` or `y = 0`).

use plotters::style::Color;

use crate::axes::Axis;
use crate::error::PlotError;
use crate::figure::{Extent, Figure, LegendEntry, Shape, Swatch, nothing_to_plot};
use crate::render::render_svg;
use crate::style::{KEY_GREY, OBSERVED};

/// The figure kind, as error messages name it.
const KIND: &str = "scatter plot";

/// The reference line of a [`ScatterPlot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceLine {
    /// `y = x`, with both axes over the same range (observations against predictions).
    Identity,
    /// `y = 0` (residuals).
    Zero,
}

/// A goodness-of-fit scatter plot: one dot per point over a reference line.
#[derive(Debug, Clone, Copy)]
pub struct ScatterPlot<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// X-axis label with its unit, e.g. `Population prediction (mg/L)`.
    pub x_label: &'a str,
    /// Y-axis label with its unit, e.g. `Observation (mg/L)`.
    pub y_label: &'a str,
    /// X values; NaN marks a missing point.
    pub x: &'a [f64],
    /// Y values, one per x value; NaN marks a missing point.
    pub y: &'a [f64],
    /// The line drawn under the points.
    pub reference: ReferenceLine,
}

/// Renders a scatter plot as a self-contained SVG document.
///
/// # Errors
/// Returns an error if `x` and `y` differ in length or no point has both coordinates finite.
pub fn scatter_svg(plot: &ScatterPlot) -> Result<String, PlotError> {
    render_svg(&scatter_figure(plot)?)
}

fn scatter_figure(plot: &ScatterPlot) -> Result<Figure, PlotError> {
    if plot.x.len() != plot.y.len() {
        return Err(PlotError::Mismatch {
            series: format!("{KIND} '{}'", plot.title),
            field: "y".to_owned(),
            got: plot.y.len(),
            expected: plot.x.len(),
            per: "x values".to_owned(),
        });
    }
    let points: Vec<(f64, f64)> = plot
        .x
        .iter()
        .zip(plot.y)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (*x, *y))
        .collect();
    if points.is_empty() {
        return Err(nothing_to_plot(
            KIND,
            plot.title,
            "nothing to plot, every point is missing",
        ));
    }
    let (mut x_extent, mut y_extent) = (Extent::new(), Extent::new());
    for &(x, y) in &points {
        x_extent.add(x);
        y_extent.add(y);
    }
    let (x_axis, y_axis, line, line_text) = match plot.reference {
        ReferenceLine::Identity => {
            let axis = Axis::linear(
                x_extent.lo.min(y_extent.lo),
                x_extent.hi.max(y_extent.hi),
                0.04,
                8,
            );
            let line = vec![(axis.lo, axis.lo), (axis.hi, axis.hi)];
            (axis.clone(), axis, line, "y = x")
        }
        ReferenceLine::Zero => {
            y_extent.add(0.0);
            let x_axis = Axis::linear(x_extent.lo, x_extent.hi, 0.04, 8);
            let y_axis = Axis::linear(y_extent.lo, y_extent.hi, 0.04, 8);
            let line = vec![(x_axis.lo, 0.0), (x_axis.hi, 0.0)];
            (x_axis, y_axis, line, "y = 0")
        }
    };
    let mut shapes = vec![Shape::Line {
        points: line,
        colour: KEY_GREY.to_rgba(),
        width: 1.5,
    }];
    shapes.extend(points.into_iter().map(|at| Shape::Dot {
        at,
        colour: OBSERVED.mix(0.7),
        radius: 3.0,
    }));
    Ok(Figure {
        title: plot.title.to_owned(),
        x_label: plot.x_label.to_owned(),
        y_label: plot.y_label.to_owned(),
        x_axis,
        y_axis,
        shapes,
        legend: vec![LegendEntry {
            swatch: Swatch::Dot,
            text: "observations".to_owned(),
        }],
        key: vec![LegendEntry {
            swatch: Swatch::Line {
                colour: KEY_GREY,
                band: false,
            },
            text: line_text.to_owned(),
        }],
    })
}
