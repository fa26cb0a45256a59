//! Axes: linear and logarithmic axes with their own "nice" tick positions and tick labels.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

/// How tick labels are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TickFormat {
    /// Fixed number of decimals.
    Fixed(usize),
    /// Scientific notation with this many decimals in the mantissa.
    Scientific(usize),
    /// Shortest text that reads back to the value; scientific when very large or small.
    Shortest,
}

/// A linear or logarithmic axis with its own tick positions ("nice" numbers).
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    pub(crate) lo: f64,
    pub(crate) hi: f64,
    pub(crate) log: bool,
    pub(crate) ticks: Vec<f64>,
    pub(crate) format: TickFormat,
    /// Names of categories at the integer positions 0, 1, …; when present they label the ticks.
    pub(crate) categories: Vec<String>,
}

/// The "nice" step (1, 2, 2.5 or 5 × 10^k) closest above `span / target`.
pub(crate) fn nice_step(span: f64, target: usize) -> f64 {
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
pub(crate) fn ticks_at_multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
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
    pub(crate) fn with_ticks(lo: f64, hi: f64, ticks: Vec<f64>, format: TickFormat) -> Self {
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
    pub(crate) fn linear(lo: f64, hi: f64, pad: f64, target: usize) -> Self {
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
    pub(crate) fn log(lo: f64, hi: f64) -> Self {
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

    pub(crate) fn label(&self, v: f64) -> String {
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

    pub(crate) fn to_unit(&self, v: f64) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;

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
