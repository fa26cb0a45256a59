//! Prediction-corrected visual predictive checks (pcVPC).

use plotters::style::Color;

use crate::axes::Axis;
use crate::error::PlotError;
use crate::figure::{
    Extent, Figure, LegendEntry, Shape, Swatch, check_ascending, check_len, key_line,
    nothing_to_plot, runs,
};
use crate::render::render_svg;
use crate::style::{LINE_W, arm_colour};

/// The figure kind, as error messages name it.
const KIND: &str = "VPC";

/// A prediction-corrected VPC: per time bin, observed 5th/50th/95th percentiles and the simulated
/// 95 % interval of each.
#[derive(Debug, Clone, Copy)]
pub struct VpcPlot<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// X-axis label with its unit.
    pub x_label: &'a str,
    /// Y-axis label with its unit.
    pub y_label: &'a str,
    /// Bin times (ascending).
    pub times: &'a [f64],
    /// Observed percentiles per bin.
    pub observed: &'a [[f64; 3]],
    /// Lower end of the simulated 95 % interval of each percentile, per bin.
    pub simulated_lower: &'a [[f64; 3]],
    /// Median of each simulated percentile, per bin.
    pub simulated_median: &'a [[f64; 3]],
    /// Upper end of the simulated 95 % interval of each percentile, per bin.
    pub simulated_upper: &'a [[f64; 3]],
    /// Logarithmic y axis.
    pub log_y: bool,
}

/// Renders a pcVPC as a self-contained SVG document.
///
/// # Errors
/// No bin, vectors of different lengths, decreasing times, or nothing to plot.
pub fn vpc_svg(plot: &VpcPlot) -> Result<String, PlotError> {
    render_svg(&vpc_figure(plot)?)
}

fn vpc_figure(plot: &VpcPlot) -> Result<Figure, PlotError> {
    let n = plot.times.len();
    if n == 0 {
        return Err(nothing_to_plot(KIND, plot.title, "no bins to plot"));
    }
    for (field, len) in [
        ("observed", plot.observed.len()),
        ("simulated_lower", plot.simulated_lower.len()),
        ("simulated_median", plot.simulated_median.len()),
        ("simulated_upper", plot.simulated_upper.len()),
    ] {
        check_len("VPC", plot.title, field, len, n)?;
    }
    check_ascending("VPC", plot.title, plot.times)?;
    let usable = |v: f64| v.is_finite() && (!plot.log_y || v > 0.0);
    let mut x_extent = Extent::new();
    let mut y_extent = Extent::new();
    for i in 0..n {
        for k in 0..3 {
            for v in [
                plot.observed[i][k],
                plot.simulated_lower[i][k],
                plot.simulated_upper[i][k],
            ] {
                if usable(v) && plot.times[i].is_finite() {
                    x_extent.add(plot.times[i]);
                    y_extent.add(v);
                }
            }
        }
    }
    if y_extent.is_empty() {
        return Err(nothing_to_plot(
            KIND,
            plot.title,
            if plot.log_y {
                "nothing to plot (log axis needs positive values)"
            } else {
                "nothing to plot"
            },
        ));
    }
    // Percentile k uses colour 0 for the median and colour 1 for the 5th and 95th.
    let colour_of = |k: usize| if k == 1 { arm_colour(0) } else { arm_colour(1) };
    let mut shapes = Vec::new();
    for k in [0, 2, 1] {
        let fill = colour_of(k).mix(0.22);
        let ok =
            |i: usize| usable(plot.simulated_lower[i][k]) && usable(plot.simulated_upper[i][k]);
        for run in runs(n, ok) {
            if run.len() == 1 {
                let i = run.start;
                shapes.push(Shape::Line {
                    points: vec![
                        (plot.times[i], plot.simulated_lower[i][k]),
                        (plot.times[i], plot.simulated_upper[i][k]),
                    ],
                    colour: fill,
                    width: 14.0,
                });
                continue;
            }
            let mut points: Vec<(f64, f64)> = run
                .clone()
                .map(|i| (plot.times[i], plot.simulated_upper[i][k]))
                .collect();
            points.extend(
                run.rev()
                    .map(|i| (plot.times[i], plot.simulated_lower[i][k])),
            );
            shapes.push(Shape::Area { points, fill });
        }
    }
    for k in [0, 2, 1] {
        let colour = colour_of(k).to_rgba();
        let observed: Vec<(f64, f64)> = (0..n)
            .filter(|&i| usable(plot.observed[i][k]))
            .map(|i| (plot.times[i], plot.observed[i][k]))
            .collect();
        let simulated: Vec<(f64, f64)> = (0..n)
            .filter(|&i| usable(plot.simulated_median[i][k]))
            .map(|i| (plot.times[i], plot.simulated_median[i][k]))
            .collect();
        if simulated.len() > 1 {
            shapes.push(Shape::Line {
                points: simulated,
                colour: colour_of(k).mix(0.6),
                width: 1.0,
            });
        }
        if observed.len() > 1 {
            shapes.push(Shape::Line {
                points: observed.clone(),
                colour,
                width: LINE_W,
            });
        }
        for at in observed {
            shapes.push(Shape::Dot {
                at,
                colour,
                radius: 3.5,
            });
        }
    }
    let x_axis = Axis::linear(x_extent.lo, x_extent.hi, 0.04, 8);
    let y_axis = if plot.log_y {
        Axis::log(y_extent.lo, y_extent.hi)
    } else {
        Axis::linear(y_extent.lo, y_extent.hi, 0.05, 7)
    };
    Ok(Figure {
        title: plot.title.to_owned(),
        x_label: plot.x_label.to_owned(),
        y_label: plot.y_label.to_owned(),
        x_axis,
        y_axis,
        shapes,
        legend: vec![
            key_line(arm_colour(0), "observed median"),
            key_line(arm_colour(1), "observed 5th and 95th"),
        ],
        key: vec![
            LegendEntry {
                swatch: Swatch::Band {
                    colour: arm_colour(0),
                    alpha: 0.3,
                },
                text: "sim. 95 % CI, median".to_owned(),
            },
            LegendEntry {
                swatch: Swatch::Band {
                    colour: arm_colour(1),
                    alpha: 0.3,
                },
                text: "sim. 95 % CI, 5th/95th".to_owned(),
            },
        ],
    })
}
