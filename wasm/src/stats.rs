//! Small statistics of the result tables: the Wilson interval of an event probability and the
//! Kaplan–Meier median from cumulative event counts.
//!
//! The same two helpers exist in `twin-cli`'s `tables.rs` (the CLI's `events.csv`); they are
//! repeated here, not shared, because `twin-wasm` must not depend on the CLI. Both are a few
//! lines of closed-form arithmetic and are tested against independent values below.

use twin_engine::montecarlo::OutcomeTally;

/// z for a two-sided 95 % interval: Φ⁻¹(0.975) = 1.959963984540054 (to 16 digits, e.g.
/// `scipy.stats.norm.ppf(0.975)`).
const Z_95: f64 = 1.959_963_984_540_054;

/// Wilson score 95 % interval `[low, high]` for `k` events out of `n` (Wilson 1927):
///
/// `(p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n)`, with `p̂ = k/n`, clipped to
/// `[0, 1]`. Both ends are NaN when `n = 0`.
#[must_use]
pub fn wilson(k: u64, n: u64) -> [f64; 2] {
    if n == 0 {
        return [f64::NAN, f64::NAN];
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z_95 * Z_95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// `k / n`, NaN when `n = 0`.
#[must_use]
pub fn share(k: u64, n: u64) -> f64 {
    if n == 0 {
        f64::NAN
    } else {
        k as f64 / n as f64
    }
}

/// First output time at which the Kaplan–Meier survival `S(t_k) = 1 − events(≤ t_k)/n` reaches
/// 0.5 (all censoring is administrative, at the horizon), or `None` if it never does.
#[must_use]
pub fn km_median(tally: &OutcomeTally, times: &[f64]) -> Option<f64> {
    if tally.n == 0 {
        return None;
    }
    tally
        .cumulative_events
        .iter()
        .zip(times)
        .find(|(events, _)| 1.0 - **events as f64 / tally.n as f64 <= 0.5)
        .map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use twin_engine::summary::RunningSummary;

    #[test]
    fn wilson_interval_matches_statsmodels() {
        // scipy 1.17.1: `binomtest(8, 20).proportion_ci(0.95, method="wilson")` gives
        // (0.21880653237281705, 0.6134184992377467); `binomtest(0, 10)` gives
        // (0.0, 0.27753279986288926). Tolerance 1e-12: the same closed form, evaluated in a
        // different order of operations.
        let [lo, hi] = wilson(8, 20);
        assert!((lo - 0.218_806_532_372_817_05).abs() < 1e-12, "{lo}");
        assert!((hi - 0.613_418_499_237_746_7).abs() < 1e-12, "{hi}");
        let [lo, hi] = wilson(0, 10);
        assert!(
            lo.abs() < 1e-12 && (hi - 0.277_532_799_862_889_26).abs() < 1e-12,
            "{lo} {hi}"
        );
        assert!(wilson(0, 0)[0].is_nan());
    }

    #[test]
    fn km_median_is_the_first_time_half_have_had_the_event() {
        // 10 patients; cumulative events 0, 3, 5, 9 at t = 0, 1, 2, 3: S = 1, 0.7, 0.5, 0.1, so
        // the median is t = 2 (S reaches 0.5 there, by hand).
        let tally = OutcomeTally {
            n: 10,
            n_observed: 9,
            event_kind: true,
            values: RunningSummary::new(1e-3).unwrap(),
            cumulative_events: vec![0, 3, 5, 9],
        };
        let times = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(km_median(&tally, &times), Some(2.0));
        let few = OutcomeTally {
            cumulative_events: vec![0, 1, 2, 4],
            ..tally
        };
        assert_eq!(km_median(&few, &times), None);
    }
}
