//! Histograms of per-patient paired differences with their mean, its CI and equivalence margins.

use plotters::style::{Color, RGBColor};

use crate::axes::Axis;
use crate::error::PlotError;
use crate::figure::{
    BAR_ALPHA, Extent, Figure, LegendEntry, Shape, Swatch, bar, key_line, nothing_to_plot, too_wide,
};
use crate::render::render_svg;
use crate::style::{KEY_GREY, LINE_W, arm_colour};

/// The figure kind, as error messages name it.
const KIND: &str = "difference plot";

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

/// Renders a paired-difference histogram as a self-contained SVG document.
///
/// # Errors
/// No finite difference.
pub fn paired_differences_svg(plot: &DifferencePlot) -> Result<String, PlotError> {
    render_svg(&difference_figure(plot)?)
}

fn difference_figure(plot: &DifferencePlot) -> Result<Figure, PlotError> {
    let values: Vec<f64> = plot
        .differences
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return Err(nothing_to_plot(KIND, plot.title, "no finite difference"));
    }
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
    if !extent.span().is_finite() {
        return Err(too_wide(KIND, plot.title, "values"));
    }
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
