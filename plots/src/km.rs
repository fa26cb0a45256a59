//! Kaplan–Meier plots: survival step functions per arm with optional confidence bands.

use std::ops::Range;

use plotters::style::Color;

use crate::axes::{Axis, TickFormat};
use crate::error::PlotError;
use crate::figure::{
    Extent, Figure, LegendEntry, Shape, Swatch, check_ascending, check_len, nothing_to_plot, runs,
    too_wide,
};
use crate::render::render_svg;
use crate::style::{CI_ALPHA, KEY_GREY, LINE_W, arm_colour};

/// The figure kind, as error messages name it.
const KIND: &str = "Kaplan–Meier plot";

/// A survival step function of one arm: `survival[i]` holds from `times[i]` until the next time.
///
/// The curve is drawn as given: include `(0, 1)` as its first point for a curve that starts at
/// time 0. `lower`/`upper`, when present, are a confidence band with one value per time.
#[derive(Debug, Clone, PartialEq)]
pub struct SurvivalCurve {
    /// Arm name, shown in the legend.
    pub arm: String,
    /// Times at which the survival probability changes, ascending.
    pub times: Vec<f64>,
    /// Survival probability in [0, 1] from each time on; NaN marks a missing value.
    pub survival: Vec<f64>,
    /// Lower confidence bound, one per time.
    pub lower: Option<Vec<f64>>,
    /// Upper confidence bound, one per time.
    pub upper: Option<Vec<f64>>,
}

/// A Kaplan–Meier plot: one survival curve per arm, on a y axis labelled "Survival probability"
/// that always shows all of [0, 1].
#[derive(Debug, Clone, Copy)]
pub struct KmPlot<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// X-axis label with its unit, e.g. `Time (months)`.
    pub x_label: &'a str,
    /// One curve per arm, drawn in this order and coloured by position.
    pub curves: &'a [SurvivalCurve],
}

/// Renders a Kaplan–Meier plot as a self-contained SVG document.
///
/// # Errors
/// Returns an error if there is no curve, if a curve's vectors differ in length from its times, if
/// times decrease, if a finite probability lies outside [0, 1], or if every value is missing.
pub fn km_svg(plot: &KmPlot) -> Result<String, PlotError> {
    render_svg(&km_figure(plot)?)
}

/// The step polyline of `values` over the indices `run`: each value holds until the next time
/// (when that time is known), even if the next value is missing.
fn step_polyline(times: &[f64], values: &[f64], run: Range<usize>) -> Vec<(f64, f64)> {
    let mut points = Vec::with_capacity(2 * run.len());
    for i in run {
        points.push((times[i], values[i]));
        if let Some(&next) = times.get(i + 1)
            && next.is_finite()
        {
            points.push((next, values[i]));
        }
    }
    points
}

/// The step polylines of `values` over `times`; a missing value leaves its interval empty.
pub(crate) fn step_runs(times: &[f64], values: &[f64]) -> Vec<Vec<(f64, f64)>> {
    runs(times.len(), |i| {
        times[i].is_finite() && values[i].is_finite()
    })
    .into_iter()
    .map(|run| step_polyline(times, values, run))
    .collect()
}

fn km_figure(plot: &KmPlot) -> Result<Figure, PlotError> {
    if plot.curves.is_empty() {
        return Err(nothing_to_plot(KIND, plot.title, "no arms to plot"));
    }
    // Probabilities come from estimators that may overshoot [0, 1] by rounding only.
    const PROB_TOL: f64 = 1e-9;
    let mut x_extent = Extent::new();
    let mut any_value = false;
    for curve in plot.curves {
        let n = curve.times.len();
        check_len("arm", &curve.arm, "survival", curve.survival.len(), n)?;
        check_ascending("arm", &curve.arm, &curve.times)?;
        for (field, values) in [
            ("survival", Some(&curve.survival)),
            ("lower", curve.lower.as_ref()),
            ("upper", curve.upper.as_ref()),
        ] {
            let Some(values) = values else { continue };
            check_len("arm", &curve.arm, field, values.len(), n)?;
            if let Some((idx, v)) = values
                .iter()
                .enumerate()
                .find(|(_, v)| v.is_finite() && !(-PROB_TOL..=1.0 + PROB_TOL).contains(*v))
            {
                return Err(PlotError::OutOfDomain {
                    series: format!("arm '{}'", curve.arm),
                    field: field.to_owned(),
                    index: idx,
                    value: *v,
                    domain: "a probability in [0, 1]".to_owned(),
                });
            }
        }
        for (&t, &s) in curve.times.iter().zip(&curve.survival) {
            if t.is_finite() && s.is_finite() {
                x_extent.add(t);
                any_value = true;
            }
        }
    }
    if !any_value {
        return Err(nothing_to_plot(
            KIND,
            plot.title,
            "nothing to plot, every survival value is missing",
        ));
    }

    let mut shapes = Vec::new();
    let mut any_band = false;
    for (arm_idx, curve) in plot.curves.iter().enumerate() {
        let (Some(lower), Some(upper)) = (&curve.lower, &curve.upper) else {
            continue;
        };
        any_band = true;
        let fill = arm_colour(arm_idx).mix(CI_ALPHA);
        let ok =
            |i: usize| curve.times[i].is_finite() && lower[i].is_finite() && upper[i].is_finite();
        for run in runs(curve.times.len(), ok) {
            let mut outline = step_polyline(&curve.times, upper, run.clone());
            if outline.len() < 2 {
                continue; // A lone last point has no width.
            }
            outline.extend(step_polyline(&curve.times, lower, run).into_iter().rev());
            shapes.push(Shape::Area {
                points: outline,
                fill,
            });
        }
    }
    for (arm_idx, curve) in plot.curves.iter().enumerate() {
        let colour = arm_colour(arm_idx).to_rgba();
        for points in step_runs(&curve.times, &curve.survival) {
            if points.len() == 1 {
                shapes.push(Shape::Dot {
                    at: points[0],
                    colour,
                    radius: 4.0,
                });
            } else {
                shapes.push(Shape::Line {
                    points,
                    colour,
                    width: LINE_W,
                });
            }
        }
    }

    let legend = plot
        .curves
        .iter()
        .enumerate()
        .map(|(arm_idx, curve)| LegendEntry {
            swatch: Swatch::Line {
                colour: arm_colour(arm_idx),
                band: curve.lower.is_some() && curve.upper.is_some(),
            },
            text: curve.arm.clone(),
        })
        .collect();
    let key = if any_band {
        vec![LegendEntry {
            swatch: Swatch::Band {
                colour: KEY_GREY,
                alpha: CI_ALPHA * 1.5,
            },
            text: "confidence band".to_owned(),
        }]
    } else {
        Vec::new()
    };
    // Survival time starts at 0; the probability axis always shows all of [0, 1].
    if !(x_extent.hi - x_extent.lo.min(0.0)).is_finite() {
        return Err(too_wide(KIND, plot.title, "times"));
    }
    let x_axis = Axis::linear(x_extent.lo.min(0.0), x_extent.hi, 0.02, 8);
    let y_axis = Axis::with_ticks(
        -0.02,
        1.02,
        vec![0.0, 0.25, 0.5, 0.75, 1.0],
        TickFormat::Fixed(2),
    );
    Ok(Figure {
        title: plot.title.to_owned(),
        x_label: plot.x_label.to_owned(),
        y_label: "Survival probability".to_owned(),
        x_axis,
        y_axis,
        shapes,
        legend,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_runs_hold_each_value_until_the_next_time() {
        let runs = step_runs(&[0.0, 2.0, 5.0], &[1.0, 0.5, 0.25]);
        assert_eq!(
            runs,
            vec![vec![
                (0.0, 1.0),
                (2.0, 1.0),
                (2.0, 0.5),
                (5.0, 0.5),
                (5.0, 0.25)
            ]]
        );
    }
}
