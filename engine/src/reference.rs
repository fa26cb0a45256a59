//! Problems with closed-form solutions, shared by solver tests and benchmarks.

use crate::math;

/// `y(t) = y0 · e^(−k·t)`: solution of `dy/dt = −k·y`.
#[must_use]
pub fn exponential_decay(y0: f64, k_per_time: f64, t: f64) -> f64 {
    y0 * math::exp(-k_per_time * t)
}

/// One-compartment first-order absorption after a single oral dose (docs/models/pk.md
/// §Closed forms):
/// `C(t) = F·D·ka / (V·(ka − k)) · (e^(−k·t) − e^(−ka·t))`, `k = CL/V`, for `ka ≠ k`.
#[must_use]
pub fn one_compartment_oral(
    dose: f64,
    bioavailability: f64,
    cl: f64,
    v: f64,
    ka: f64,
    t: f64,
) -> f64 {
    let k = cl / v;
    bioavailability * dose * ka / (v * (ka - k)) * (math::exp(-k * t) - math::exp(-ka * t))
}
