//! Event-time helpers on an output grid: linear interpolation, inverse-transform first passage of a
//! cumulative hazard, the RECIST progression rule and the closed-form Weibull cumulative hazard.
//!
//! Everything here reads the grid a caller simulated on, so the time resolution of every event is
//! that of the grid: cumulative hazards are interpolated linearly between grid times, and the
//! RECIST rule is evaluated at grid times only.

use twin_engine::math;

/// Value of output column `column` (of `n_outputs`) at grid row `row` of the row-major `outputs`.
fn value(outputs: &[f64], n_outputs: usize, row: usize, column: usize) -> f64 {
    outputs[row * n_outputs + column]
}

/// Linear interpolation of output `column` at time `t`; NaN when `t` lies outside the grid.
pub(super) fn interpolate(
    times: &[f64],
    outputs: &[f64],
    n_outputs: usize,
    column: usize,
    t: f64,
) -> f64 {
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return f64::NAN;
    };
    if !(t >= first && t <= last) {
        return f64::NAN;
    }
    let upper = times.partition_point(|&s| s < t);
    if upper == 0 {
        return value(outputs, n_outputs, 0, column);
    }
    let (t0, t1) = (times[upper - 1], times[upper]);
    let (v0, v1) = (
        value(outputs, n_outputs, upper - 1, column),
        value(outputs, n_outputs, upper, column),
    );
    if t1 <= t0 {
        return v1;
    }
    v0 + (v1 - v0) * (t - t0) / (t1 - t0)
}

/// First time at which the linear interpolant of the non-decreasing output `column` reaches
/// `target`; NaN when it does not within the grid. A target already reached at the first grid time
/// gives that time (the grid's resolution).
pub(super) fn first_passage(
    times: &[f64],
    outputs: &[f64],
    n_outputs: usize,
    column: usize,
    target: f64,
) -> f64 {
    let mut previous: Option<(f64, f64)> = None;
    for (row, &t) in times.iter().enumerate() {
        let h = value(outputs, n_outputs, row, column);
        if h >= target {
            return match previous {
                Some((t0, h0)) if h > h0 => t0 + (target - h0) / (h - h0) * (t - t0),
                _ => t,
            };
        }
        previous = Some((t, h));
    }
    f64::NAN
}

/// First grid time at which SLD (output `column`) is at least `relative` × the nadir so far and at
/// least `absolute_mm` above it (RECIST-like rule of bundle 218); NaN when it never is. The nadir
/// includes baseline and the current grid time.
pub(super) fn recist_progression(
    times: &[f64],
    outputs: &[f64],
    n_outputs: usize,
    column: usize,
    relative: f64,
    absolute_mm: f64,
) -> f64 {
    let mut nadir = f64::INFINITY;
    for (row, &t) in times.iter().enumerate() {
        let sld = value(outputs, n_outputs, row, column);
        nadir = nadir.min(sld);
        if sld >= relative * nadir && sld - nadir >= absolute_mm {
            return t;
        }
    }
    f64::NAN
}

/// Weibull hazard `λ·k·(λ·(t + δ))^(k−1)` of bundle 218.
pub(super) fn weibull_hazard(scale: f64, shape: f64, delta: f64, t: f64) -> f64 {
    scale * shape * math::pow(scale * (t + delta), shape - 1.0)
}

/// Its integral from 0: `(λ·(t + δ))^k − (λ·δ)^k`.
pub(super) fn weibull_cumulative(scale: f64, shape: f64, delta: f64, t: f64) -> f64 {
    math::pow(scale * (t + delta), shape) - math::pow(scale * delta, shape)
}

/// Inverse of [`weibull_cumulative`]: the time at which the cumulative hazard reaches `h ≥ 0`.
pub(super) fn weibull_cumulative_inverse(scale: f64, shape: f64, delta: f64, h: f64) -> f64 {
    math::pow(h + math::pow(scale * delta, shape), 1.0 / shape) / scale - delta
}

/// The base cumulative hazard `H*` at which a hazard multiplied by `factor` from the time the base
/// cumulative hazard was `h_switch` reaches `target`: `H(t) = H₀(t) + (factor − 1)·(H₀(t) −
/// h_switch)₊`, solved for `H₀`. Pass `h_switch = ∞` when the switch never happens.
pub(super) fn base_target_after_switch(target: f64, h_switch: f64, factor: f64) -> f64 {
    if target <= h_switch {
        target
    } else {
        (target + (factor - 1.0) * h_switch) / factor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_passage_interpolates_between_grid_times() {
        // Cumulative hazard 0, 1, 3 at t = 0, 10, 20: 2 is reached halfway through the second
        // interval; 0 is reached at the first grid time; 4 never.
        let times = [0.0, 10.0, 20.0];
        let outputs = [0.0, 9.0, 1.0, 9.0, 3.0, 9.0];
        assert!((first_passage(&times, &outputs, 2, 0, 2.0) - 15.0).abs() < 1e-12);
        assert!(first_passage(&times, &outputs, 2, 0, 0.0).abs() < 1e-12);
        assert!(first_passage(&times, &outputs, 2, 0, 4.0).is_nan());
        assert!((interpolate(&times, &outputs, 2, 0, 5.0) - 0.5).abs() < 1e-12);
        assert!(interpolate(&times, &outputs, 2, 0, 21.0).is_nan());
    }

    #[test]
    fn weibull_inverse_round_trips() {
        for h in [0.0, 1e-6, 0.3, 5.0] {
            let t = weibull_cumulative_inverse(0.0049, 2.95, 1e-6, h);
            assert!((weibull_cumulative(0.0049, 2.95, 1e-6, t) - h).abs() < 1e-12);
        }
    }

    #[test]
    fn switch_target_is_continuous_at_the_switch() {
        // H = H₀ + (f − 1)(H₀ − s)₊ at H₀ = 2, s = 1, f = 3 is 2 + 2·1 = 4.
        assert!((base_target_after_switch(4.0, 1.0, 3.0) - 2.0).abs() < 1e-12);
        assert!((base_target_after_switch(0.5, 1.0, 3.0) - 0.5).abs() < 1e-12);
        assert!((base_target_after_switch(0.5, f64::INFINITY, 3.0) - 0.5).abs() < 1e-12);
    }
}
