//! Fan charts and Kaplan–Meier plots, as SVG text or PNG bytes: plain data in, files out.
//!
//! A fan chart shows, per therapy arm, the median (solid line), the 50 % band (p25–p75, darker) and
//! the 90 % band (p05–p95, lighter) of an output over time, optionally with one patient's
//! observations on top. A Kaplan–Meier plot shows survival step functions per arm with optional
//! confidence bands.
//!
//! Every figure is [`WIDTH_PX`] × [`HEIGHT_PX`] pixels, uses the Okabe–Ito colour-blind-safe palette
//! in arm order, and puts the legend in a panel to the right of the plot so it never hides data.
//! Missing values (NaN) leave gaps; on a logarithmic axis, values ≤ 0 are treated as missing.
//!
//! PNG text is rasterised from DejaVu Sans embedded in the binary (no system font is read), and PNGs
//! are drawn at 3× and averaged down for anti-aliasing. Output is a pure function of the input: the
//! same input gives the same bytes. SVG output is self-contained: it references no file, image or
//! web font, and names the generic `sans-serif` family so any viewer can show it; its layout uses
//! DejaVu Sans metrics, so it matches the PNG.
//!
//! The evaluation report's figures are drawn the same way: PIT histograms
//! ([`pit_histogram_svg`]), interval coverage against nominal ([`coverage_svg`]), prediction-
//! corrected VPCs ([`vpc_svg`]), histograms of paired per-patient differences
//! ([`paired_differences_svg`]) and drift statistics per covariate ([`drift_svg`]).
//!
//! Start with [`fan_chart_svg`] and [`km_svg`].

use std::ops::Range;
use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, PxScale, point};
use anyhow::{Context, anyhow, bail, ensure};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::RGBAColor;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendTextStyle, DrawingErrorKind};

/// Figure width in pixels.
pub const WIDTH_PX: u32 = 900;
/// Figure height in pixels.
pub const HEIGHT_PX: u32 = 560;

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

/// Renders a fan chart as a self-contained SVG document.
///
/// # Errors
/// Returns an error if there is no arm, if a band's vectors differ in length from its times, if
/// times decrease, or if no value can be plotted (all missing, or none positive on a log axis).
pub fn fan_chart_svg(chart: &FanChart) -> anyhow::Result<String> {
    render_svg(&fan_figure(chart)?)
}

/// Renders a fan chart as PNG bytes ([`WIDTH_PX`] × [`HEIGHT_PX`], 8-bit RGB).
///
/// # Errors
/// As [`fan_chart_svg`].
pub fn fan_chart_png(chart: &FanChart) -> anyhow::Result<Vec<u8>> {
    render_png(&fan_figure(chart)?)
}

/// Renders a Kaplan–Meier plot as a self-contained SVG document.
///
/// # Errors
/// Returns an error if there is no curve, if a curve's vectors differ in length from its times, if
/// times decrease, if a finite probability lies outside [0, 1], or if every value is missing.
pub fn km_svg(plot: &KmPlot) -> anyhow::Result<String> {
    render_svg(&km_figure(plot)?)
}

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
pub fn scatter_svg(plot: &ScatterPlot) -> anyhow::Result<String> {
    render_svg(&scatter_figure(plot)?)
}

fn scatter_figure(plot: &ScatterPlot) -> anyhow::Result<Figure> {
    ensure!(
        plot.x.len() == plot.y.len(),
        "scatter plot '{}': {} x values for {} y values",
        plot.title,
        plot.x.len(),
        plot.y.len()
    );
    let points: Vec<(f64, f64)> = plot
        .x
        .iter()
        .zip(plot.y)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (*x, *y))
        .collect();
    ensure!(
        !points.is_empty(),
        "scatter plot '{}': nothing to plot, every point is missing",
        plot.title
    );
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

// ---------------------------------------------------------------------------------------------
// Style.

/// Okabe & Ito (2008) colour-blind-safe colours, in the order arms get them: the first ones differ
/// most in hue and lightness; yellow comes last because it is faint on white. Arms beyond seven reuse
/// the colours.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];
const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
const MUTED: RGBColor = RGBColor(0x55, 0x55, 0x55);
const AXIS: RGBColor = RGBColor(0x77, 0x77, 0x77);
const GRID: RGBColor = RGBColor(0xE4, 0xE4, 0xE4);
const KEY_GREY: RGBColor = RGBColor(0x70, 0x70, 0x70);
const OBSERVED: RGBColor = RGBColor(0x1A, 0x1A, 0x1A);

/// Opacity of the 90 % band; the 50 % band is drawn over it with [`INNER_ALPHA`].
const OUTER_ALPHA: f64 = 0.16;
const INNER_ALPHA: f64 = 0.30;
/// Opacity of a Kaplan–Meier confidence band.
const CI_ALPHA: f64 = 0.18;

const FONT: &str = "sans-serif";
/// Text sizes in plotters' unit (1.24 × the em size in logical pixels, as plotters' SVG backend uses).
const TITLE_SIZE: f64 = 25.0;
const AXIS_LABEL_SIZE: f64 = 19.0;
const TICK_SIZE: f64 = 16.0;
const LEGEND_SIZE: f64 = 17.0;
/// Width of median and survival lines, in logical pixels.
const LINE_W: f64 = 2.25;
/// Legend entries longer than this (logical pixels) are shortened with an ellipsis so the plot keeps
/// its width.
const LEGEND_MAX_TEXT_W: f64 = 210.0;
/// PNGs are drawn at this many device pixels per logical pixel and then averaged down, which
/// anti-aliases lines, band edges and text.
const PNG_SUPERSAMPLING: u32 = 3;

fn arm_colour(arm_idx: usize) -> RGBColor {
    PALETTE[arm_idx % PALETTE.len()]
}

// ---------------------------------------------------------------------------------------------
// Figures: what to draw, in data coordinates, independent of the output format.

/// Something drawn in the plot area, in data coordinates.
#[derive(Debug, Clone)]
enum Shape {
    /// A filled polygon.
    Area {
        points: Vec<(f64, f64)>,
        fill: RGBAColor,
    },
    /// A polyline.
    Line {
        points: Vec<(f64, f64)>,
        colour: RGBAColor,
        /// Logical pixels.
        width: f64,
    },
    /// A filled dot with a white rim, radius in pixels.
    Dot {
        at: (f64, f64),
        colour: RGBAColor,
        /// Logical pixels.
        radius: f64,
    },
}

/// The legend symbol in front of an entry.
#[derive(Debug, Clone, Copy)]
enum Swatch {
    /// A fan: light and dark band with a median line, in one arm's colour.
    Fan(RGBColor),
    /// A line, possibly over a light band.
    Line { colour: RGBColor, band: bool },
    /// A filled band only.
    Band { colour: RGBColor, alpha: f64 },
    /// An observation dot.
    Dot,
}

#[derive(Debug, Clone)]
struct LegendEntry {
    swatch: Swatch,
    text: String,
}

/// A complete figure: axes, shapes in drawing order, legend.
#[derive(Debug, Clone)]
struct Figure {
    title: String,
    x_label: String,
    y_label: String,
    x_axis: Axis,
    y_axis: Axis,
    shapes: Vec<Shape>,
    /// Arm entries first, then (after a gap) entries explaining the symbols.
    legend: Vec<LegendEntry>,
    key: Vec<LegendEntry>,
}

/// Maximal runs of consecutive indices `i < n` for which `ok(i)` holds.
fn runs(n: usize, ok: impl Fn(usize) -> bool) -> Vec<Range<usize>> {
    let mut res = Vec::new();
    let mut start = None;
    for idx in 0..=n {
        match (idx < n && ok(idx), start) {
            (true, None) => start = Some(idx),
            (false, Some(s)) => {
                res.push(s..idx);
                start = None;
            }
            _ => {}
        }
    }
    res
}

fn check_len(
    what: &str,
    name: &str,
    field: &str,
    got: usize,
    n_times: usize,
) -> anyhow::Result<()> {
    ensure!(
        got == n_times,
        "{what} '{name}': {field} has {got} values for {n_times} times"
    );
    Ok(())
}

/// Times must not decrease (missing times are skipped); a plot of unsorted times is meaningless.
fn check_ascending(what: &str, name: &str, times: &[f64]) -> anyhow::Result<()> {
    let mut last = f64::NEG_INFINITY;
    for (time_idx, &t) in times.iter().enumerate() {
        if t.is_nan() {
            continue;
        }
        ensure!(
            t >= last,
            "{what} '{name}': times decrease at index {time_idx} ({t} after {last})"
        );
        last = t;
    }
    Ok(())
}

/// Running minimum and maximum of the finite values seen.
#[derive(Debug, Clone, Copy)]
struct Extent {
    lo: f64,
    hi: f64,
}

impl Extent {
    fn new() -> Self {
        Self {
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
        }
    }
    fn add(&mut self, v: f64) {
        if v.is_finite() {
            self.lo = self.lo.min(v);
            self.hi = self.hi.max(v);
        }
    }
    fn is_empty(&self) -> bool {
        self.lo > self.hi
    }
    fn span(&self) -> f64 {
        self.hi - self.lo
    }
}

fn fan_figure(chart: &FanChart) -> anyhow::Result<Figure> {
    ensure!(
        !chart.bands.is_empty(),
        "fan chart '{}': no arms to plot",
        chart.title
    );
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
        bail!(
            "fan chart '{}': nothing to plot, every value is missing{}",
            chart.title,
            if log_y {
                " or not positive (log axis)"
            } else {
                ""
            }
        );
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

    ensure!(
        x_extent.span().is_finite() && y_extent.span().is_finite(),
        "fan chart '{}': the values span more than the floating-point range",
        chart.title
    );
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
fn step_runs(times: &[f64], values: &[f64]) -> Vec<Vec<(f64, f64)>> {
    runs(times.len(), |i| {
        times[i].is_finite() && values[i].is_finite()
    })
    .into_iter()
    .map(|run| step_polyline(times, values, run))
    .collect()
}

fn km_figure(plot: &KmPlot) -> anyhow::Result<Figure> {
    ensure!(
        !plot.curves.is_empty(),
        "Kaplan–Meier plot '{}': no arms to plot",
        plot.title
    );
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
                bail!(
                    "arm '{}': {field}[{idx}] = {v} is not a probability in [0, 1]",
                    curve.arm
                );
            }
        }
        for (&t, &s) in curve.times.iter().zip(&curve.survival) {
            if t.is_finite() && s.is_finite() {
                x_extent.add(t);
                any_value = true;
            }
        }
    }
    ensure!(
        any_value,
        "Kaplan–Meier plot '{}': nothing to plot, every survival value is missing",
        plot.title
    );

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
    ensure!(
        (x_extent.hi - x_extent.lo.min(0.0)).is_finite(),
        "Kaplan–Meier plot '{}': the times span more than the floating-point range",
        plot.title
    );
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

// ---------------------------------------------------------------------------------------------
// Axes.

/// How tick labels are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TickFormat {
    /// Fixed number of decimals.
    Fixed(usize),
    /// Scientific notation with this many decimals in the mantissa.
    Scientific(usize),
    /// Shortest text that reads back to the value; scientific when very large or small.
    Shortest,
}

/// A linear or logarithmic axis with its own tick positions ("nice" numbers).
#[derive(Debug, Clone)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<f64>,
    format: TickFormat,
    /// Names of categories at the integer positions 0, 1, …; when present they label the ticks.
    categories: Vec<String>,
}

/// The "nice" step (1, 2, 2.5 or 5 × 10^k) closest above `span / target`.
fn nice_step(span: f64, target: usize) -> f64 {
    let raw = span / target as f64;
    let magnitude = 10_f64.powf(raw.log10().floor());
    let mantissa = raw / magnitude;
    let nice = [1.0, 2.0, 2.5, 5.0]
        .into_iter()
        .find(|&m| mantissa <= m * (1.0 + 1e-9))
        .unwrap_or(10.0);
    nice * magnitude
}

/// Ticks at multiples of `step` within `[lo, hi]`.
fn ticks_at_multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step).ceil();
    let last = (hi / step).floor();
    // At most a few dozen ticks by construction of the step; the bound guards odd inputs.
    let n_ticks = ((last - first).max(-1.0) + 1.0).min(100.0) as usize;
    (0..n_ticks)
        .map(|k| {
            let v = (first + k as f64) * step;
            // Avoid "-0".
            if v.abs() < step * 1e-9 { 0.0 } else { v }
        })
        .collect()
}

impl Axis {
    fn with_ticks(lo: f64, hi: f64, ticks: Vec<f64>, format: TickFormat) -> Self {
        Self {
            lo,
            hi,
            log: false,
            ticks,
            format,
            categories: Vec::new(),
        }
    }

    /// A linear axis over the data extent `[lo, hi]`, padded by `pad` of the span on each side
    /// (never across zero), with about `target` ticks.
    fn linear(lo: f64, hi: f64, pad: f64, target: usize) -> Self {
        let (mut lo, mut hi) = (lo, hi);
        let span = hi - lo;
        if span <= f64::EPSILON * hi.abs().max(lo.abs()).max(f64::MIN_POSITIVE) {
            // All values equal (or a single one): centre them in a window of ±10 % (or ±1 at 0).
            let half = if lo.abs() > 0.0 { 0.1 * lo.abs() } else { 1.0 };
            let (c_lo, c_hi) = (lo - half, hi + half);
            lo = if lo >= 0.0 { c_lo.max(0.0) } else { c_lo };
            hi = if hi <= 0.0 {
                c_hi.min(0.0).max(lo + half)
            } else {
                c_hi
            };
        } else {
            let (p_lo, p_hi) = (
                (lo - pad * span).max(-f64::MAX),
                (hi + pad * span).min(f64::MAX),
            );
            lo = if lo >= 0.0 { p_lo.max(0.0) } else { p_lo };
            hi = if hi <= 0.0 { p_hi.min(0.0) } else { p_hi };
        }
        let step = nice_step(hi - lo, target);
        let ticks = ticks_at_multiples(lo, hi, step);
        let magnitude = ticks
            .iter()
            .fold(0.0_f64, |m, t| m.max(t.abs()))
            .max(f64::MIN_POSITIVE);
        // Steps are 1, 2, 2.5 or 5 × 10^e; a 2.5 step needs one digit more than its exponent says.
        let step_exponent = step.log10().floor();
        let quarter = (step / 10_f64.powf(step_exponent) - 2.5).abs() < 1e-9;
        let format = if !(1e-3..1e6).contains(&magnitude) {
            let digits = (magnitude.log10().floor() - step_exponent).max(0.0) as usize;
            TickFormat::Scientific(digits + usize::from(quarter))
        } else {
            TickFormat::Fixed((-step_exponent + f64::from(u8::from(quarter))).max(0.0) as usize)
        };
        Self {
            lo,
            hi,
            log: false,
            ticks,
            format,
            categories: Vec::new(),
        }
    }

    /// A logarithmic (base 10) axis over the positive data extent `[lo, hi]`.
    fn log(lo: f64, hi: f64) -> Self {
        let (log_lo, log_hi) = (lo.log10(), hi.log10());
        let span = log_hi - log_lo;
        // Equal values get a factor of 2 either side; others 4 % of the decades shown.
        let pad = if span < 1e-9 {
            2_f64.log10()
        } else {
            0.04 * span
        };
        // Limits stay within the normal f64 range, which bounds the decades below (about 620).
        let lo = 10_f64.powf(log_lo - pad).max(f64::MIN_POSITIVE);
        let hi = 10_f64.powf(log_hi + pad).min(f64::MAX);
        let decade = |m: f64, e: i32| {
            if e >= 0 {
                m * 10_f64.powi(e)
            } else {
                m / 10_f64.powi(-e)
            }
        };
        let (e_lo, e_hi) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let n_decades = (e_hi - e_lo).max(1);
        let stride = (n_decades + 7) / 8;
        let candidates = |mantissas: &[f64], stride: i32| -> Vec<f64> {
            (e_lo..=e_hi)
                .filter(|e| e.rem_euclid(stride) == 0)
                .flat_map(|e| mantissas.iter().map(move |&m| decade(m, e)))
                .filter(|&v| v >= lo && v <= hi)
                .collect()
        };
        let mut ticks = candidates(&[1.0], stride);
        if ticks.len() < 3 {
            let finer = candidates(&[1.0, 2.0, 5.0], 1);
            if finer.len() >= 3 {
                ticks = finer;
            } else {
                let finest = candidates(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0], 1);
                ticks = if finest.len() >= 3 && finest.len() <= 10 {
                    finest
                } else {
                    // Less than a decade: linear ticks are still valid positions on a log axis.
                    ticks_at_multiples(lo, hi, nice_step(hi - lo, 5))
                        .into_iter()
                        .filter(|&v| v > 0.0)
                        .collect()
                };
            }
        }
        Self {
            lo,
            hi,
            log: true,
            ticks,
            format: TickFormat::Shortest,
            categories: Vec::new(),
        }
    }

    fn label(&self, v: f64) -> String {
        if !self.categories.is_empty() {
            return usize::try_from(v.round() as i64)
                .ok()
                .and_then(|i| self.categories.get(i))
                .cloned()
                .unwrap_or_default();
        }
        match self.format {
            TickFormat::Fixed(decimals) => format!("{v:.decimals$}"),
            TickFormat::Scientific(decimals) => format!("{v:.decimals$e}"),
            TickFormat::Shortest => {
                let magnitude = v.abs();
                if magnitude > 0.0 && !(1e-3..1e6).contains(&magnitude) {
                    format!("{v:e}")
                } else {
                    format!("{v}")
                }
            }
        }
    }

    fn to_unit(&self, v: f64) -> f64 {
        if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let px = f64::from(limit.0) + self.to_unit(*value) * f64::from(limit.1 - limit.0);
        // Values are inside the axis by construction; the clamp keeps any rounding far from overflow.
        px.round().clamp(-1e6, 1e6) as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Grid lines only at labelled ticks: no light lines.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

// ---------------------------------------------------------------------------------------------
// Text: DejaVu Sans, embedded.

/// DejaVu Sans x-height (1120 of 2048 font units per em): where SVG viewers put `0.5ex`.
const X_HEIGHT_EM: f64 = 1120.0 / 2048.0;
/// plotters' SVG backend writes `font-size` as the text size divided by this; we do the same.
const SIZE_PER_EM: f64 = 1.24;

/// The embedded fonts, parsed once per process.
struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

fn fonts() -> anyhow::Result<&'static Fonts> {
    static FONTS: OnceLock<Option<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            Some(Fonts {
                regular: FontRef::try_from_slice(dejavu::sans::regular()).ok()?,
                bold: FontRef::try_from_slice(dejavu::sans::bold()).ok()?,
            })
        })
        .as_ref()
        .context("the embedded DejaVu Sans font could not be parsed")
}

/// One line of text laid out on its baseline from x = 0, in device pixels.
struct TextLine<'f> {
    font: &'f FontRef<'static>,
    scale: PxScale,
    /// Glyph and the x of its origin.
    glyphs: Vec<(GlyphId, f32)>,
    width: f32,
    em: f32,
}

impl Fonts {
    /// Lays out `text` at plotters text size `size` (em = `size` / 1.24 pixels) with kerning.
    fn layout(&self, text: &str, size: f64, style: FontStyle) -> TextLine<'_> {
        let font = if matches!(style, FontStyle::Bold) {
            &self.bold
        } else {
            &self.regular
        };
        let em = (size / SIZE_PER_EM) as f32;
        let units_per_em = font.units_per_em().unwrap_or(2048.0);
        let px_per_unit = em / units_per_em;
        let mut glyphs = Vec::with_capacity(text.len());
        let mut x = 0.0_f32;
        let mut prev: Option<GlyphId> = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(prev) = prev {
                x += font.kern_unscaled(prev, id) * px_per_unit;
            }
            glyphs.push((id, x));
            x += font.h_advance_unscaled(id) * px_per_unit;
            prev = Some(id);
        }
        TextLine {
            font,
            // ab_glyph scales so that ascent − descent spans the given pixels.
            scale: PxScale::from(em * font.height_unscaled() / units_per_em),
            glyphs,
            width: x,
            em,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering.

/// A plotters backend that measures text with DejaVu Sans metrics (so the layout is the same for
/// SVG and PNG) and, on bitmaps, rasterises text itself with proper side bearings, kerning and
/// sub-pixel glyph positions.
struct Canvas<DB> {
    inner: DB,
    fonts: &'static Fonts,
    raster_text: bool,
}

impl<DB: DrawingBackend> DrawingBackend for Canvas<DB> {
    type ErrorType = DB::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        if !self.raster_text {
            return self.inner.draw_text(text, style, pos);
        }
        let colour = style.color();
        let fonts = self.fonts;
        let line = fonts.layout(text, style.size(), style.style());
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -line.width / 2.0,
            HPos::Right => -line.width,
        };
        // The same baselines as plotters' SVG backend (`dy` of 0.76em, 0.5ex, -0.5ex), so that a
        // PNG looks like its SVG.
        let baseline = match anchor.v_pos {
            VPos::Top => 0.76 * line.em,
            VPos::Center => 0.5 * X_HEIGHT_EM as f32 * line.em,
            VPos::Bottom => -0.5 * X_HEIGHT_EM as f32 * line.em,
        };
        let transform = style.transform();
        let mut res = Ok(());
        for &(id, x) in &line.glyphs {
            let glyph = id.with_scale_and_position(line.scale, point(dx + x, baseline));
            let Some(outline) = line.font.outline_glyph(glyph) else {
                continue; // Blank glyphs (spaces) have no outline.
            };
            let bounds = outline.px_bounds();
            let inner = &mut self.inner;
            outline.draw(|gx, gy, coverage| {
                if res.is_err() || coverage <= 0.0 {
                    return;
                }
                let (tx, ty) = transform.transform(
                    bounds.min.x as i32 + gx as i32,
                    bounds.min.y as i32 + gy as i32,
                );
                let pixel_colour = BackendColor {
                    alpha: colour.alpha * f64::from(coverage.min(1.0)),
                    rgb: colour.rgb,
                };
                res = inner.draw_pixel((pos.0 + tx, pos.1 + ty), pixel_colour);
            });
            if res.is_err() {
                break;
            }
        }
        res
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let line = self.fonts.layout(text, style.size(), style.style());
        Ok((line.width.ceil() as u32, line.em.ceil() as u32))
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }
}

/// Logical-to-device pixel conversion: 1 for SVG, [`PNG_SUPERSAMPLING`] for PNG.
#[derive(Debug, Clone, Copy)]
struct Scale(f64);

impl Scale {
    /// Device pixels for `logical` pixels, at least 1.
    fn px(self, logical: f64) -> u32 {
        (logical * self.0).round().max(1.0) as u32
    }
    /// Signed device pixels for `logical` pixels.
    fn at(self, logical: f64) -> i32 {
        (logical * self.0).round() as i32
    }
    /// A text size in device units.
    fn text(self, size: f64) -> f64 {
        size * self.0
    }
}

fn text_style(size: f64, colour: RGBColor) -> TextStyle<'static> {
    (FONT, size).into_font().color(&colour)
}

fn render_svg(figure: &Figure) -> anyhow::Result<String> {
    let fonts = fonts()?;
    let mut svg = String::new();
    {
        let canvas = Canvas {
            inner: SVGBackend::with_string(&mut svg, (WIDTH_PX, HEIGHT_PX)),
            fonts,
            raster_text: false,
        };
        let root = canvas.into_drawing_area();
        draw_figure(&root, figure, Scale(1.0))?;
        root.present().context("finishing the SVG document")?;
    }
    Ok(svg)
}

fn render_png(figure: &Figure) -> anyhow::Result<Vec<u8>> {
    let fonts = fonts()?;
    let factor = PNG_SUPERSAMPLING;
    let (device_w, device_h) = (WIDTH_PX * factor, HEIGHT_PX * factor);
    let mut device = vec![0_u8; device_w as usize * device_h as usize * 3];
    {
        let canvas = Canvas {
            inner: BitMapBackend::with_buffer(&mut device, (device_w, device_h)),
            fonts,
            raster_text: true,
        };
        let root = canvas.into_drawing_area();
        draw_figure(&root, figure, Scale(f64::from(factor)))?;
        root.present().context("finishing the bitmap")?;
    }
    let rgb = downsample(&device, device_w as usize, factor as usize);
    let mut png_bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut png_bytes, WIDTH_PX, HEIGHT_PX);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Balanced);
    let mut writer = encoder.write_header().context("writing the PNG header")?;
    writer
        .write_image_data(&rgb)
        .context("encoding the PNG image")?;
    writer.finish().context("finishing the PNG image")?;
    Ok(png_bytes)
}

/// Averages `factor` × `factor` blocks of an RGB image `width` pixels wide (integer arithmetic, so
/// the result is the same everywhere).
fn downsample(rgb: &[u8], width: usize, factor: usize) -> Vec<u8> {
    let height = rgb.len() / 3 / width;
    let (out_w, out_h) = (width / factor, height / factor);
    let n = (factor * factor) as u32;
    let mut out = Vec::with_capacity(out_w * out_h * 3);
    for out_y in 0..out_h {
        for out_x in 0..out_w {
            let mut sum = [0_u32; 3];
            for y in out_y * factor..(out_y + 1) * factor {
                let row =
                    &rgb[(y * width + out_x * factor) * 3..(y * width + (out_x + 1) * factor) * 3];
                for pixel in row.chunks_exact(3) {
                    for (s, &c) in sum.iter_mut().zip(pixel) {
                        *s += u32::from(c);
                    }
                }
            }
            // Rounded mean of values ≤ 255 is ≤ 255.
            out.extend(sum.map(|s| ((s + n / 2) / n) as u8));
        }
    }
    out
}

/// Converts a plotters drawing error (generic over the backend) into an `anyhow` error.
fn drawing<T, E: std::error::Error + Send + Sync + 'static>(
    res: Result<T, DrawingAreaErrorKind<E>>,
) -> anyhow::Result<T> {
    res.map_err(|e| anyhow!(e)).context("drawing the plot")
}

fn draw_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    figure: &Figure,
    scale: Scale,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let (device_w, _) = root.dim_in_pixel();
    drawing(root.fill(&WHITE))?;
    let (title_area, body) = root.split_vertically(scale.at(50.0));
    let title_style = TextStyle::from(
        (FONT, scale.text(TITLE_SIZE))
            .into_font()
            .style(FontStyle::Bold),
    )
    .color(&TEXT)
    .pos(Pos::new(HPos::Center, VPos::Center));
    let title = fit_text(root, &figure.title, &title_style, device_w - scale.px(40.0))?;
    drawing(title_area.draw_text(&title, &title_style, (device_w as i32 / 2, scale.at(27.0))))?;

    // Legend panel on the right, as wide as its longest entry.
    let legend_style = text_style(scale.text(LEGEND_SIZE), TEXT);
    let key_style = text_style(scale.text(LEGEND_SIZE - 1.0), MUTED);
    let mut entries = Vec::with_capacity(figure.legend.len() + figure.key.len());
    let mut text_w = 0;
    for (entry, style) in figure
        .legend
        .iter()
        .map(|e| (e, &legend_style))
        .chain(figure.key.iter().map(|e| (e, &key_style)))
    {
        let text = fit_text(root, &entry.text, style, scale.px(LEGEND_MAX_TEXT_W))?;
        text_w = text_w.max(drawing(root.estimate_text_size(&text, style))?.0);
        entries.push((entry.swatch, text, style));
    }
    let swatch_w = scale.at(30.0);
    let legend_w = (text_w as i32 + swatch_w + scale.at(36.0)).max(scale.at(150.0));
    let (plot_area, legend_area) = body.split_horizontally(device_w as i32 - legend_w);

    let tick_style = text_style(scale.text(TICK_SIZE), MUTED);
    let mut y_tick_w = 0;
    for &t in &figure.y_axis.ticks {
        let label = figure.y_axis.label(t);
        y_tick_w = y_tick_w.max(drawing(root.estimate_text_size(&label, &tick_style))?.0);
    }
    let mut chart = drawing(
        ChartBuilder::on(&plot_area)
            .margin_top(scale.px(6.0))
            .margin_right(scale.px(12.0))
            .margin_left(scale.px(10.0))
            .margin_bottom(scale.px(6.0))
            .x_label_area_size(scale.px(54.0))
            .y_label_area_size(y_tick_w + scale.px(44.0))
            .build_cartesian_2d(figure.x_axis.clone(), figure.y_axis.clone()),
    )?;
    let x_fmt = |v: &f64| figure.x_axis.label(*v);
    let y_fmt = |v: &f64| figure.y_axis.label(*v);
    drawing(
        chart
            .configure_mesh()
            .x_desc(figure.x_label.as_str())
            .y_desc(figure.y_label.as_str())
            .axis_desc_style(text_style(scale.text(AXIS_LABEL_SIZE), TEXT))
            .label_style(tick_style.clone())
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .bold_line_style(GRID.stroke_width(scale.px(1.0)))
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS.stroke_width(scale.px(1.0)))
            .set_all_tick_mark_size(scale.px(4.0))
            .draw(),
    )?;

    for shape in &figure.shapes {
        match shape {
            Shape::Area { points, fill } => {
                drawing(
                    chart.draw_series(std::iter::once(Polygon::new(points.clone(), fill.filled()))),
                )?;
            }
            Shape::Line {
                points,
                colour,
                width,
            } => {
                drawing(chart.draw_series(std::iter::once(PathElement::new(
                    points.clone(),
                    colour.stroke_width(scale.px(*width)),
                ))))?;
            }
            Shape::Dot { at, colour, radius } => {
                let rim = Circle::new(*at, scale.px(radius + 1.25), WHITE.filled());
                let dot = Circle::new(*at, scale.px(*radius), colour.filled());
                drawing(chart.draw_series([rim, dot]))?;
            }
        }
    }

    // Legend entries, top-aligned with the plot area.
    let row_h = scale.at(26.0);
    let mut y = scale.at(18.0);
    for (entry_idx, (swatch, text, style)) in entries.iter().enumerate() {
        if entry_idx == figure.legend.len() && entry_idx > 0 {
            y += scale.at(14.0); // Gap between the arms and the key to the symbols.
        }
        draw_swatch(&legend_area, *swatch, (scale.at(4.0), y), swatch_w, scale)?;
        drawing(legend_area.draw_text(
            text,
            &style.pos(Pos::new(HPos::Left, VPos::Center)),
            (swatch_w + scale.at(14.0), y),
        ))?;
        y += row_h;
    }
    Ok(())
}

/// Draws a legend symbol `width` device pixels wide, vertically centred on `y`.
fn draw_swatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    swatch: Swatch,
    (x, y): (i32, i32),
    width: i32,
    scale: Scale,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let rect = |half_h: f64, fill: RGBAColor| {
        let half_h = scale.at(half_h);
        Rectangle::new([(x, y - half_h), (x + width, y + half_h)], fill.filled())
    };
    let line = |colour: RGBColor| {
        PathElement::new(
            vec![(x, y), (x + width, y)],
            colour.stroke_width(scale.px(LINE_W)),
        )
    };
    match swatch {
        Swatch::Fan(colour) => {
            drawing(area.draw(&rect(9.0, colour.mix(OUTER_ALPHA))))?;
            drawing(area.draw(&rect(5.0, colour.mix(INNER_ALPHA))))?;
            drawing(area.draw(&line(colour)))?;
        }
        Swatch::Line { colour, band } => {
            if band {
                drawing(area.draw(&rect(7.0, colour.mix(CI_ALPHA))))?;
            }
            drawing(area.draw(&line(colour)))?;
        }
        Swatch::Band { colour, alpha } => {
            drawing(area.draw(&rect(7.0, colour.mix(alpha))))?;
        }
        Swatch::Dot => {
            let centre = (x + width / 2, y);
            drawing(area.draw(&Circle::new(centre, scale.px(5.25), WHITE.filled())))?;
            drawing(area.draw(&Circle::new(centre, scale.px(4.0), OBSERVED.filled())))?;
        }
    }
    Ok(())
}

/// `text`, shortened with an ellipsis if it is wider than `max_w` device pixels in `style`.
fn fit_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max_w: u32,
) -> anyhow::Result<String>
where
    DB::ErrorType: 'static,
{
    if drawing(area.estimate_text_size(text, style))?.0 <= max_w {
        return Ok(text.to_owned());
    }
    let chars: Vec<char> = text.chars().collect();
    for n_keep in (0..chars.len()).rev() {
        let candidate: String = chars[..n_keep].iter().chain(['…'].iter()).collect();
        if drawing(area.estimate_text_size(&candidate, style))?.0 <= max_w {
            return Ok(candidate);
        }
    }
    Ok("…".to_owned())
}

// ---------------------------------------------------------------------------------------------
// Evaluation plots: PIT histogram, interval coverage, pcVPC, paired differences, drift.

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

/// A histogram of per-patient paired differences with their mean, its CI and the equivalence
/// margins.
#[derive(Debug, Clone, Copy)]
pub struct DifferencePlot<'a> {
    /// Title above the plot.
    pub title: &'a str,
    /// X-axis label with its unit.
    pub x_label: &'a str,
    /// Per-patient differences.
    pub differences: &'a [f64],
    /// Confidence interval of the mean difference, and what it is (e.g. `90 % t interval`).
    pub interval: Option<([f64; 2], &'a str)>,
    /// Equivalence margin δ, drawn at ±δ.
    pub margin: Option<f64>,
}

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

/// Renders PIT histograms as a self-contained SVG document.
///
/// # Errors
/// No series, series with different bin counts, or no PIT value at all.
pub fn pit_histogram_svg(plot: &PitPlot) -> anyhow::Result<String> {
    render_svg(&pit_figure(plot)?)
}

/// Renders a coverage plot as a self-contained SVG document.
///
/// # Errors
/// No series, vectors of different lengths, a level outside (0, 1), or nothing to plot.
pub fn coverage_svg(plot: &CoveragePlot) -> anyhow::Result<String> {
    render_svg(&coverage_figure(plot)?)
}

/// Renders a pcVPC as a self-contained SVG document.
///
/// # Errors
/// No bin, vectors of different lengths, decreasing times, or nothing to plot.
pub fn vpc_svg(plot: &VpcPlot) -> anyhow::Result<String> {
    render_svg(&vpc_figure(plot)?)
}

/// Renders a paired-difference histogram as a self-contained SVG document.
///
/// # Errors
/// No finite difference.
pub fn paired_differences_svg(plot: &DifferencePlot) -> anyhow::Result<String> {
    render_svg(&difference_figure(plot)?)
}

/// Renders a drift bar chart as a self-contained SVG document.
///
/// # Errors
/// No covariate, or names and values of different lengths.
pub fn drift_svg(plot: &DriftPlot) -> anyhow::Result<String> {
    render_svg(&drift_figure(plot)?)
}

/// Opacity of histogram and drift bars.
const BAR_ALPHA: f64 = 0.75;

/// A filled rectangle from `(x0, y0)` to `(x1, y1)` in data coordinates.
fn bar(x0: f64, x1: f64, y0: f64, y1: f64, fill: RGBAColor) -> Shape {
    Shape::Area {
        points: vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)],
        fill,
    }
}

fn key_line(colour: RGBColor, text: &str) -> LegendEntry {
    LegendEntry {
        swatch: Swatch::Line {
            colour,
            band: false,
        },
        text: text.to_owned(),
    }
}

fn pit_figure(plot: &PitPlot) -> anyhow::Result<Figure> {
    ensure!(
        !plot.series.is_empty(),
        "PIT histogram '{}': no versions to plot",
        plot.title
    );
    let n_bins = plot.series[0].counts.len();
    ensure!(n_bins > 0, "PIT histogram '{}': no bins", plot.title);
    for series in plot.series {
        ensure!(
            series.counts.len() == n_bins,
            "PIT histogram '{}': version '{}' has {} bins, the first has {n_bins}",
            plot.title,
            series.name,
            series.counts.len()
        );
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
    ensure!(
        !shapes.is_empty(),
        "PIT histogram '{}': nothing to plot, every count is zero",
        plot.title
    );
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

fn coverage_figure(plot: &CoveragePlot) -> anyhow::Result<Figure> {
    ensure!(
        !plot.series.is_empty(),
        "coverage plot '{}': no versions to plot",
        plot.title
    );
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
        for (&level, values) in series.levels.iter().zip(
            series
                .coverage
                .iter()
                .zip(series.lower.iter().zip(&series.upper)),
        ) {
            ensure!(
                level > 0.0 && level < 1.0,
                "version '{}': level {level} is not in (0, 1)",
                series.name
            );
            extent.add(level);
            let (c, (l, u)) = values;
            for v in [*c, *l, *u] {
                extent.add(v);
            }
        }
    }
    ensure!(
        !extent.is_empty(),
        "coverage plot '{}': nothing to plot",
        plot.title
    );
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

fn vpc_figure(plot: &VpcPlot) -> anyhow::Result<Figure> {
    let n = plot.times.len();
    ensure!(n > 0, "VPC '{}': no bins to plot", plot.title);
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
    ensure!(
        !y_extent.is_empty(),
        "VPC '{}': nothing to plot{}",
        plot.title,
        if plot.log_y {
            " (log axis needs positive values)"
        } else {
            ""
        }
    );
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

fn difference_figure(plot: &DifferencePlot) -> anyhow::Result<Figure> {
    let values: Vec<f64> = plot
        .differences
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    ensure!(
        !values.is_empty(),
        "difference plot '{}': no finite difference",
        plot.title
    );
    let mut extent = Extent::new();
    for &v in &values {
        extent.add(v);
    }
    extent.add(0.0);
    if let Some(margin) = plot.margin {
        extent.add(-margin.abs());
        extent.add(margin.abs());
    }
    if let Some(([lo, hi], _)) = plot.interval {
        extent.add(lo);
        extent.add(hi);
    }
    ensure!(
        extent.span().is_finite(),
        "difference plot '{}': the values span more than the floating-point range",
        plot.title
    );
    let span = if extent.span() > 0.0 {
        extent.span()
    } else {
        1.0
    };
    let n_bins = ((values.len() as f64).sqrt().ceil() as usize).clamp(5, 30);
    let (lo, width) = (extent.lo, span / n_bins as f64);
    let mut counts = vec![0_usize; n_bins];
    for &v in &values {
        counts[(((v - lo) / width) as usize).min(n_bins - 1)] += 1;
    }
    let top = *counts.iter().max().unwrap_or(&1) as f64;
    let mut shapes: Vec<Shape> = Vec::new();
    if let Some(([ci_lo, ci_hi], _)) = plot.interval {
        shapes.push(bar(ci_lo, ci_hi, 0.0, top * 1.1, arm_colour(0).mix(0.18)));
    }
    for (k, &count) in counts.iter().enumerate() {
        if count > 0 {
            let x0 = lo + k as f64 * width;
            shapes.push(bar(
                x0 + 0.04 * width,
                x0 + 0.96 * width,
                0.0,
                count as f64,
                arm_colour(0).mix(BAR_ALPHA),
            ));
        }
    }
    let vertical = |x: f64, colour: RGBColor, width: f64| Shape::Line {
        points: vec![(x, 0.0), (x, top * 1.1)],
        colour: colour.to_rgba(),
        width,
    };
    shapes.push(vertical(0.0, KEY_GREY, 1.5));
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    shapes.push(vertical(mean, arm_colour(0), LINE_W));
    let mut key = vec![
        key_line(KEY_GREY, "no difference"),
        key_line(arm_colour(0), "mean difference"),
    ];
    if let Some((_, label)) = plot.interval {
        key.push(LegendEntry {
            swatch: Swatch::Band {
                colour: arm_colour(0),
                alpha: 0.3,
            },
            text: label.to_owned(),
        });
    }
    if let Some(margin) = plot.margin {
        shapes.push(vertical(-margin.abs(), arm_colour(1), LINE_W));
        shapes.push(vertical(margin.abs(), arm_colour(1), LINE_W));
        key.push(key_line(arm_colour(1), "equivalence margins"));
    }
    Ok(Figure {
        title: plot.title.to_owned(),
        x_label: plot.x_label.to_owned(),
        y_label: "Patients".to_owned(),
        x_axis: Axis::linear(extent.lo, extent.hi, 0.04, 8),
        y_axis: Axis::linear(0.0, top * 1.1, 0.0, 6),
        shapes,
        legend: vec![LegendEntry {
            swatch: Swatch::Band {
                colour: arm_colour(0),
                alpha: BAR_ALPHA,
            },
            text: "patients".to_owned(),
        }],
        key,
    })
}

fn drift_figure(plot: &DriftPlot) -> anyhow::Result<Figure> {
    ensure!(
        !plot.names.is_empty(),
        "drift plot '{}': no covariates to plot",
        plot.title
    );
    check_len(
        "drift plot",
        plot.title,
        "values",
        plot.values.len(),
        plot.names.len(),
    )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// A two-arm fan chart with log-normal-looking quantiles over 0–168 h.
    fn two_arms() -> Vec<Band> {
        ["100 mg q24h", "200 mg q24h"]
            .iter()
            .enumerate()
            .map(|(arm_idx, name)| {
                let times: Vec<f64> = (0..=84).map(|i| f64::from(i) * 2.0).collect();
                let median: Vec<f64> = times
                    .iter()
                    .map(|&t| {
                        let since_dose = t % 24.0;
                        (arm_idx as f64 + 1.0)
                            * (2.0 + 3.0 * (1.0 - (-t / 40.0).exp()))
                            * (-since_dose / 14.0).exp()
                            * (1.0 + since_dose.min(1.5))
                    })
                    .collect();
                let scaled = |f: f64| median.iter().map(|m| m * f).collect::<Vec<f64>>();
                Band {
                    arm: (*name).to_owned(),
                    p05: scaled(0.45),
                    p25: scaled(0.72),
                    p50: median.clone(),
                    p75: scaled(1.38),
                    p95: scaled(2.2),
                    times,
                }
            })
            .collect()
    }

    fn chart<'a>(bands: &'a [Band], observations: Option<&'a Observations>) -> FanChart<'a> {
        FanChart {
            title: "Plasma concentration",
            x_label: "Time (h)",
            y_label: "Concentration (mg/L)",
            bands,
            observations,
            log_y: false,
        }
    }

    fn two_km_arms() -> Vec<SurvivalCurve> {
        [("control", 0.08), ("treatment", 0.05)]
            .iter()
            .map(|&(name, hazard)| {
                let times: Vec<f64> = (0..=24).map(f64::from).collect();
                let survival: Vec<f64> = times.iter().map(|t| (-hazard * t).exp()).collect();
                SurvivalCurve {
                    arm: name.to_owned(),
                    lower: Some(survival.iter().map(|s| (s - 0.08).max(0.0)).collect()),
                    upper: Some(survival.iter().map(|s| (s + 0.08).min(1.0)).collect()),
                    survival,
                    times,
                }
            })
            .collect()
    }

    fn km(curves: &[SurvivalCurve]) -> KmPlot<'_> {
        KmPlot {
            title: "Overall survival",
            x_label: "Time (months)",
            curves,
        }
    }

    /// Width and height from the IHDR chunk, which follows the signature.
    fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert_eq!(&bytes[12..16], b"IHDR");
        let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        (word(16), word(20))
    }

    /// Text of the `<text>` elements of an SVG document.
    fn svg_texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|rest| {
                let body = &rest[rest.find('>')? + 1..];
                Some(body[..body.find("</text>")?].trim().to_owned())
            })
            .collect()
    }

    #[test]
    fn fan_svg_has_title_axis_labels_and_one_legend_entry_per_arm() {
        let bands = two_arms();
        let obs = Observations {
            times: vec![2.0, 26.0, 50.0],
            values: vec![5.0, 7.5, 9.0],
        };
        let svg = fan_chart_svg(&chart(&bands, Some(&obs))).unwrap();
        let texts = svg_texts(&svg);
        for expected in [
            "Plasma concentration",
            "Time (h)",
            "Concentration (mg/L)",
            "observed",
        ] {
            assert_eq!(
                texts.iter().filter(|t| *t == expected).count(),
                1,
                "{expected} in {texts:?}"
            );
        }
        for band in &bands {
            assert_eq!(texts.iter().filter(|t| **t == band.arm).count(), 1);
        }
    }

    #[test]
    fn svg_is_self_contained() {
        let bands = two_arms();
        let svg = fan_chart_svg(&chart(&bands, None)).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        for external in ["href", "url(", "@import", "<image"] {
            assert!(!svg.contains(external), "SVG references {external}");
        }
    }

    #[test]
    fn svg_escapes_markup_in_names() {
        let mut bands = two_arms();
        bands[0].arm = "A & <B>".to_owned();
        let svg = fan_chart_svg(&chart(&bands, None)).unwrap();
        assert!(svg.contains("A &amp; &lt;B&gt;"));
        assert!(!svg.contains("<B>"));
    }

    #[test]
    fn fan_png_has_signature_and_size() {
        let bands = two_arms();
        let png = fan_chart_png(&chart(&bands, None)).unwrap();
        assert_eq!(png[..8], PNG_SIGNATURE);
        assert_eq!(png_size(&png), (WIDTH_PX, HEIGHT_PX));
    }

    #[test]
    fn output_is_deterministic() {
        let bands = two_arms();
        let mut fan = chart(&bands, None);
        fan.log_y = true;
        assert_eq!(fan_chart_png(&fan).unwrap(), fan_chart_png(&fan).unwrap());
        assert_eq!(fan_chart_svg(&fan).unwrap(), fan_chart_svg(&fan).unwrap());
        let curves = two_km_arms();
        assert_eq!(km_svg(&km(&curves)).unwrap(), km_svg(&km(&curves)).unwrap());
    }

    #[test]
    fn km_svg_has_title_axis_labels_and_one_legend_entry_per_arm() {
        let curves = two_km_arms();
        let texts = svg_texts(&km_svg(&km(&curves)).unwrap());
        for expected in [
            "Overall survival",
            "Time (months)",
            "Survival probability",
            "control",
            "treatment",
            "confidence band",
        ] {
            assert_eq!(
                texts.iter().filter(|t| *t == expected).count(),
                1,
                "{expected} in {texts:?}"
            );
        }
    }

    #[test]
    fn zero_arms_is_an_error() {
        let err = fan_chart_svg(&chart(&[], None)).unwrap_err();
        assert!(err.to_string().contains("no arms"), "{err}");
        let err = fan_chart_png(&chart(&[], None)).unwrap_err();
        assert!(err.to_string().contains("no arms"), "{err}");
        let err = km_svg(&km(&[])).unwrap_err();
        assert!(err.to_string().contains("no arms"), "{err}");
    }

    #[test]
    fn mismatched_lengths_and_decreasing_times_are_errors() {
        let mut bands = two_arms();
        bands[1].p75.pop();
        let err = fan_chart_svg(&chart(&bands, None)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "arm '200 mg q24h': p75 has 84 values for 85 times"
        );
        let mut bands = two_arms();
        bands[0].times.swap(3, 4);
        let err = fan_chart_svg(&chart(&bands, None)).unwrap_err();
        assert!(
            err.to_string().contains("times decrease at index 4"),
            "{err}"
        );
        let mut curves = two_km_arms();
        curves[0].survival[2] = 1.5;
        let err = km_svg(&km(&curves)).unwrap_err();
        assert!(err.to_string().contains("not a probability"), "{err}");
        let bands = two_arms();
        let obs = Observations {
            times: vec![1.0],
            values: vec![],
        };
        assert!(fan_chart_svg(&chart(&bands, Some(&obs))).is_err());
    }

    #[test]
    fn all_missing_is_an_error() {
        let mut bands = two_arms();
        for band in &mut bands {
            for v in [
                &mut band.p05,
                &mut band.p25,
                &mut band.p50,
                &mut band.p75,
                &mut band.p95,
            ] {
                v.fill(f64::NAN);
            }
        }
        let err = fan_chart_png(&chart(&bands, None)).unwrap_err();
        assert!(err.to_string().contains("nothing to plot"), "{err}");
    }

    #[test]
    fn degenerate_data_gives_valid_plots() {
        let constant = Band {
            arm: "flat".to_owned(),
            times: vec![0.0, 1.0, 2.0],
            p05: vec![3.0; 3],
            p25: vec![3.0; 3],
            p50: vec![3.0; 3],
            p75: vec![3.0; 3],
            p95: vec![3.0; 3],
        };
        let single = Band {
            arm: "one time".to_owned(),
            times: vec![5.0],
            p05: vec![1.0],
            p25: vec![2.0],
            p50: vec![3.0],
            p75: vec![4.0],
            p95: vec![5.0],
        };
        let empty = Band {
            arm: "no times".to_owned(),
            times: vec![],
            p05: vec![],
            p25: vec![],
            p50: vec![],
            p75: vec![],
            p95: vec![],
        };
        let zeros = Band {
            arm: "zeros".to_owned(),
            times: vec![0.0, 0.0],
            p05: vec![0.0; 2],
            p25: vec![0.0; 2],
            p50: vec![0.0; 2],
            p75: vec![0.0; 2],
            p95: vec![0.0; 2],
        };
        for bands in [
            vec![constant.clone()],
            vec![single.clone()],
            vec![single, empty, constant],
            vec![zeros],
        ] {
            for log_y in [false, true] {
                let mut fan = chart(&bands, None);
                fan.log_y = log_y;
                if log_y && bands[0].arm == "zeros" {
                    assert!(fan_chart_svg(&fan).is_err());
                    continue;
                }
                assert!(fan_chart_svg(&fan).unwrap().contains("</svg>"));
                assert_eq!(fan_chart_png(&fan).unwrap()[..8], PNG_SIGNATURE);
            }
        }
        let single_point = SurvivalCurve {
            arm: "one".to_owned(),
            times: vec![0.0],
            survival: vec![1.0],
            lower: Some(vec![1.0]),
            upper: Some(vec![1.0]),
        };
        assert!(km_svg(&km(&[single_point])).is_ok());
    }

    #[test]
    fn extreme_values_give_errors_or_valid_plots() {
        let band = |p50: [f64; 2]| Band {
            arm: "extreme".to_owned(),
            times: vec![0.0, 1.0],
            p05: p50.to_vec(),
            p25: p50.to_vec(),
            p50: p50.to_vec(),
            p75: p50.to_vec(),
            p95: p50.to_vec(),
        };
        let too_wide = [band([-1e308, 1e308])];
        let err = fan_chart_svg(&chart(&too_wide, None)).unwrap_err();
        assert!(err.to_string().contains("floating-point range"), "{err}");
        for (p50, log_y) in [
            ([1e-300, 1e300], true),
            ([5e-324, f64::MAX], true),
            ([0.0, 1.7e308], false),
            ([1e15, 1e15 + 2.0], false),
        ] {
            let bands = [band(p50)];
            let fan = FanChart {
                log_y,
                ..chart(&bands, None)
            };
            assert!(fan_chart_svg(&fan).is_ok(), "{p50:?}");
            assert_eq!(fan_chart_png(&fan).unwrap()[..8], PNG_SIGNATURE);
        }
    }

    #[test]
    fn nan_values_leave_gaps() {
        let mut bands = two_arms();
        bands[0].p50[10] = f64::NAN;
        bands[0].p05[40] = f64::NAN;
        let figure = fan_figure(&chart(&bands, None)).unwrap();
        let lines_of_first_arm = figure
            .shapes
            .iter()
            .filter(
                |s| matches!(s, Shape::Line { colour, .. } if *colour == arm_colour(0).to_rgba()),
            )
            .count();
        assert_eq!(lines_of_first_arm, 2, "the median splits around index 10");
        let outer_areas = figure
            .shapes
            .iter()
            .filter(|s| matches!(s, Shape::Area { fill, .. } if *fill == arm_colour(0).mix(OUTER_ALPHA)))
            .count();
        assert_eq!(outer_areas, 2, "the 90 % band splits around index 40");
        assert!(fan_chart_png(&chart(&bands, None)).is_ok());

        let mut curves = two_km_arms();
        curves[0].survival[5] = f64::NAN;
        assert_eq!(
            step_runs(&curves[0].times, &curves[0].survival).len(),
            2,
            "the step function splits around index 5"
        );
        assert!(km_svg(&km(&curves)).is_ok());
    }

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

    #[test]
    fn axes_have_nice_ticks() {
        let axis = Axis::linear(0.0, 168.0, 0.02, 8);
        assert_eq!(axis.ticks, vec![0.0, 25.0, 50.0, 75.0, 100.0, 125.0, 150.0]);
        assert_eq!(axis.label(25.0), "25");
        let axis = Axis::linear(0.0, 1.0, 0.0, 4);
        assert_eq!(axis.label(axis.ticks[1]), "0.25");
        // 3 × 0.1 is 0.30000000000000004 in floating point.
        let axis = Axis::linear(0.0, 0.7, 0.0, 7);
        assert_eq!(axis.label(axis.ticks[3]), "0.3");
        let axis = Axis::log(0.5, 2000.0);
        assert_eq!(axis.ticks, vec![1.0, 10.0, 100.0, 1000.0]);
        let axis = Axis::log(3.0, 8.0);
        assert!(axis.ticks.len() >= 3, "{:?}", axis.ticks);
        let axis = Axis::log(0.01, 0.2);
        let labels: Vec<String> = axis.ticks.iter().map(|&t| axis.label(t)).collect();
        assert_eq!(labels, ["0.01", "0.02", "0.05", "0.1", "0.2"]);
    }
}
