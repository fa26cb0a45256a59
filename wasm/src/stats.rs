//! Small helper of the result tables: a share that is NaN for an empty denominator. The Wilson
//! interval and the Kaplan–Meier median come from the engine (`twin_engine::stats::wilson_95`,
//! `OutcomeTally::km_median`), as in the CLI.

/// `k / n`, NaN when `n = 0`.
#[must_use]
pub fn share(k: u64, n: u64) -> f64 {
    if n == 0 {
        f64::NAN
    } else {
        k as f64 / n as f64
    }
}
