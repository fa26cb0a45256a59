//! Fan charts: per arm, the median and the 50 % and 90 % bands of an output over time, optionally
//! with one patient's observations.

use plotters::style::Color;

use crate::axes::Axis;
use crate::error::PlotError;
use crate::figure::{
    Extent, Figure, LegendEntry, Shape, Swatch, check_ascending, check_len, nothing_to_plot, runs,
    too_wide,
};
use crate::png::render_png;
use crate::render::render_svg;
use crate::style::{INNER_ALPHA, KEY_GREY, LINE_W, OBSERVED, OUTER_ALPHA, arm_colour};

/// Per-time quantiles of one output under one therapy arm: the data of one fan.
///
/// All five quantile vectors have one value per entry of `times` (ascending); NaN marks a missing
/// value.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Arm name, shown in the legend.
    pub arm: String,
    /// Output times, ascending, in the unit named by the x-axis label.
    pub times: Vec<f64>,
    /// 5th percentile.
    pub p05: Vec<f64>,
    /// 25th percentile.
    pub p25: Vec<f64>,
    /// Median.
    pub p50: Vec<f64>,
    /// 75th percentile.
    pub p75: Vec<f64>,
    /// 95th percentile.
    pub p95: Vec<f64>,
}

/// One patient's measurements, drawn as points over the fans.
#[derive(Debug, Clone, PartialEq)]
pub struct Observations {
    /// Measurement times, in the unit of the x axis.
    pub times: Vec<f64>,
    /// Measured values, one per time; NaN marks a missing value.
    pub values: Vec<f64>,
}

/// A fan chart: one fan per arm, optionally with observations.
#[derive(Debug, Clone, Copy)]
pub struct FanChart<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// X-axis label with its unit, e.g. `Time (h)`.
    pub x_label: &'a str,
    /// Y-axis label with its unit, e.g. `Concentration (mg/L)`.
    pub y_label: &'a str,
    /// One fan per arm, drawn in this order and coloured by position.
    pub bands: &'a [Band],
    /// A patient's observations, drawn on top of the fans.
    pub observations: Option<&'a Observations>,
    /// Logarithmic y axis; values ≤ 0 are then treated as missing.
    pub log_y: bool,
}

/// Renders a fan chart as a self-contained SVG document.
///
/// # Errors
/// Returns an error if there is no arm, if a band's vectors differ in length from its times, if
/// times decrease, or if no value can be plotted (all missing, or none positive on a log axis).
pub fn fan_chart_svg(chart: &FanChart) -> Result<String, PlotError> {
    render_svg(&fan_figure(chart)?)
}

/// Renders a fan chart as PNG bytes ([`WIDTH_PX`](crate::WIDTH_PX) ×
/// [`HEIGHT_PX`](crate::HEIGHT_PX), 8-bit RGB).
///
/// # Errors
/// As [`fan_chart_svg`].
pub fn fan_chart_png(chart: &FanChart) -> Result<Vec<u8>, PlotError> {
    render_png(&fan_figure(chart)?)
}

pub(crate) fn fan_figure(chart: &FanChart) -> Result<Figure, PlotError> {
    if chart.bands.is_empty() {
        return Err(nothing_to_plot("fan chart", chart.title, "no arms to plot"));
    }
    for band in chart.bands {
        let n = band.times.len();
        for (field, values) in [
            ("p05", &band.p05),
            ("p25", &band.p25),
            ("p50", &band.p50),
            ("p75", &band.p75),
            ("p95", &band.p95),
        ] {
            check_len("arm", &band.arm, field, values.len(), n)?;
        }
        check_ascending("arm", &band.arm, &band.times)?;
    }
    if let Some(obs) = chart.observations {
        check_len(
            "observations",
            "patient",
            "values",
            obs.values.len(),
            obs.times.len(),
        )?;
    }
    let log_y = chart.log_y;
    let usable = |t: f64, v: f64| t.is_finite() && v.is_finite() && (!log_y || v > 0.0);

    let mut x_extent = Extent::new();
    let mut y_extent = Extent::new();
    for band in chart.bands {
        for (time_idx, &t) in band.times.iter().enumerate() {
            for v in [
                band.p05[time_idx],
                band.p25[time_idx],
                band.p50[time_idx],
                band.p75[time_idx],
                band.p95[time_idx],
            ] {
                if usable(t, v) {
                    x_extent.add(t);
                    y_extent.add(v);
                }
            }
        }
    }
    if let Some(obs) = chart.observations {
        for (&t, &v) in obs.times.iter().zip(&obs.values) {
            if usable(t, v) {
                x_extent.add(t);
                y_extent.add(v);
            }
        }
    }
    if y_extent.is_empty() {
        return Err(nothing_to_plot(
            "fan chart",
            chart.title,
            if log_y {
                "nothing to plot, every value is missing or not positive (log axis)"
            } else {
                "nothing to plot, every value is missing"
            },
        ));
    }

    let mut shapes = Vec::new();
    // Layers go across arms so that no arm's band hides another arm's median: all 90 % bands, then
    // all 50 % bands, then all medians, then the observations.
    for (outer, alpha) in [(true, OUTER_ALPHA), (false, INNER_ALPHA)] {
        for (arm_idx, band) in chart.bands.iter().enumerate() {
            let (lower, upper) = if outer {
                (&band.p05, &band.p95)
            } else {
                (&band.p25, &band.p75)
            };
            let fill = arm_colour(arm_idx).mix(alpha);
            let ok = |i: usize| usable(band.times[i], lower[i]) && usable(band.times[i], upper[i]);
            for run in runs(band.times.len(), ok) {
                if run.len() == 1 {
                    // A lone time point has no width: show the interval as a whisker instead.
                    let (t, i) = (band.times[run.start], run.start);
                    shapes.push(Shape::Line {
                        points: vec![(t, lower[i]), (t, upper[i])],
                        colour: fill,
                        width: if outer { 7.0 } else { 13.0 },
                    });
                    continue;
                }
                let mut points: Vec<(f64, f64)> =
                    run.clone().map(|i| (band.times[i], upper[i])).collect();
                points.extend(run.rev().map(|i| (band.times[i], lower[i])));
                shapes.push(Shape::Area { points, fill });
            }
        }
    }
    for (arm_idx, band) in chart.bands.iter().enumerate() {
        let colour = arm_colour(arm_idx).to_rgba();
        for run in runs(band.times.len(), |i| usable(band.times[i], band.p50[i])) {
            if run.len() == 1 {
                shapes.push(Shape::Dot {
                    at: (band.times[run.start], band.p50[run.start]),
                    colour,
                    radius: 4.0,
                });
            } else {
                shapes.push(Shape::Line {
                    points: run.map(|i| (band.times[i], band.p50[i])).collect(),
                    colour,
                    width: LINE_W,
                });
            }
        }
    }
    if let Some(obs) = chart.observations {
        for (&t, &v) in obs.times.iter().zip(&obs.values) {
            if usable(t, v) {
                shapes.push(Shape::Dot {
                    at: (t, v),
                    colour: OBSERVED.to_rgba(),
                    radius: 4.0,
                });
            }
        }
    }

    let legend = chart
        .bands
        .iter()
        .enumerate()
        .map(|(arm_idx, band)| LegendEntry {
            swatch: Swatch::Fan(arm_colour(arm_idx)),
            text: band.arm.clone(),
        })
        .collect();
    let mut key = vec![
        LegendEntry {
            swatch: Swatch::Line {
                colour: KEY_GREY,
                band: false,
            },
            text: "median".to_owned(),
        },
        LegendEntry {
            swatch: Swatch::Band {
                colour: KEY_GREY,
                alpha: OUTER_ALPHA + INNER_ALPHA,
            },
            text: "50 % interval".to_owned(),
        },
        LegendEntry {
            swatch: Swatch::Band {
                colour: KEY_GREY,
                alpha: OUTER_ALPHA,
            },
            text: "90 % interval".to_owned(),
        },
    ];
    if chart.observations.is_some() {
        key.push(LegendEntry {
            swatch: Swatch::Dot,
            text: "observed".to_owned(),
        });
    }

    if !(x_extent.span().is_finite() && y_extent.span().is_finite()) {
        return Err(too_wide("fan chart", chart.title, "values"));
    }
    let x_axis = Axis::linear(x_extent.lo, x_extent.hi, 0.02, 8);
    let y_axis = if log_y {
        Axis::log(y_extent.lo, y_extent.hi)
    } else {
        Axis::linear(y_extent.lo, y_extent.hi, 0.05, 7)
    };
    Ok(Figure {
        title: chart.title.to_owned(),
        x_label: chart.x_label.to_owned(),
        y_label: chart.y_label.to_owned(),
        x_axis,
        y_axis,
        shapes,
        legend,
        key,
    })
}
