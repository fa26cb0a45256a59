//! Figures: what to draw, in data coordinates, independent of the output format, and the
//! checks and helpers the figure builders share.

use std::ops::Range;

use plotters::style::{RGBAColor, RGBColor};

use crate::axes::Axis;
use crate::error::PlotError;

/// Something drawn in the plot area, in data coordinates.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
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
pub(crate) enum Swatch {
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
pub(crate) struct LegendEntry {
    pub(crate) swatch: Swatch,
    pub(crate) text: String,
}

/// A complete figure: axes, shapes in drawing order, legend.
#[derive(Debug, Clone)]
pub(crate) struct Figure {
    pub(crate) title: String,
    pub(crate) x_label: String,
    pub(crate) y_label: String,
    pub(crate) x_axis: Axis,
    pub(crate) y_axis: Axis,
    pub(crate) shapes: Vec<Shape>,
    /// Arm entries first, then (after a gap) entries explaining the symbols.
    pub(crate) legend: Vec<LegendEntry>,
    pub(crate) key: Vec<LegendEntry>,
}

/// Maximal runs of consecutive indices `i < n` for which `ok(i)` holds.
pub(crate) fn runs(n: usize, ok: impl Fn(usize) -> bool) -> Vec<Range<usize>> {
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

/// Checks that `field` of the series `what` `name` has one value per time.
pub(crate) fn check_len(
    what: &str,
    name: &str,
    field: &str,
    got: usize,
    n_times: usize,
) -> Result<(), PlotError> {
    if got == n_times {
        return Ok(());
    }
    Err(PlotError::Mismatch {
        series: format!("{what} '{name}'"),
        field: field.to_owned(),
        got,
        expected: n_times,
        per: "times".to_owned(),
    })
}

/// Times must not decrease (missing times are skipped); a plot of unsorted times is meaningless.
pub(crate) fn check_ascending(what: &str, name: &str, times: &[f64]) -> Result<(), PlotError> {
    let mut last = f64::NEG_INFINITY;
    for (time_idx, &t) in times.iter().enumerate() {
        if t.is_nan() {
            continue;
        }
        if t < last {
            return Err(PlotError::Unsorted {
                series: format!("{what} '{name}'"),
                index: time_idx,
                time: t,
                previous: last,
            });
        }
        last = t;
    }
    Ok(())
}

/// [`PlotError::NothingToPlot`] for the figure of kind `kind` (e.g. `fan chart`) titled `title`.
pub(crate) fn nothing_to_plot(kind: &str, title: &str, reason: impl Into<String>) -> PlotError {
    PlotError::NothingToPlot {
        figure: format!("{kind} '{title}'"),
        reason: reason.into(),
    }
}

/// [`PlotError::TooWide`] for the figure of kind `kind` titled `title`.
pub(crate) fn too_wide(kind: &str, title: &str, quantity: &str) -> PlotError {
    PlotError::TooWide {
        figure: format!("{kind} '{title}'"),
        quantity: quantity.to_owned(),
    }
}

/// Running minimum and maximum of the finite values seen.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Extent {
    pub(crate) lo: f64,
    pub(crate) hi: f64,
}

impl Extent {
    pub(crate) fn new() -> Self {
        Self {
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
        }
    }
    pub(crate) fn add(&mut self, v: f64) {
        if v.is_finite() {
            self.lo = self.lo.min(v);
            self.hi = self.hi.max(v);
        }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.lo > self.hi
    }
    pub(crate) fn span(&self) -> f64 {
        self.hi - self.lo
    }
}

/// Opacity of histogram and drift bars.
pub(crate) const BAR_ALPHA: f64 = 0.75;

/// A filled rectangle from `(x0, y0)` to `(x1, y1)` in data coordinates.
pub(crate) fn bar(x0: f64, x1: f64, y0: f64, y1: f64, fill: RGBAColor) -> Shape {
    Shape::Area {
        points: vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)],
        fill,
    }
}

pub(crate) fn key_line(colour: RGBColor, text: &str) -> LegendEntry {
    LegendEntry {
        swatch: Swatch::Line {
            colour,
            band: false,
        },
        text: text.to_owned(),
    }
}
