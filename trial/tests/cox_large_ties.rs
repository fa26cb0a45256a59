//! Cox regression on a large cohort with heavily tied (visit-grid) times, as the truth cohort of
//! a virtual trial produces, against R's `coxph` (fixture `tests/fixtures/cox_ties_reference.json`
//! from `tests/fixtures/make_cox_ties_reference.R`, R 4.2.2 with survival 3.5.3).
//!
//! With |ℓ| ≈ 4·10⁵ a Newton step near the optimum changes the log partial likelihood by rounding
//! only; R declares convergence before treating a decrease as an overshoot, and so must we.

use serde_json::Value;
use twin_trial::survival::{Ties, cox_ph};

#[test]
fn cox_converges_on_forty_thousand_tied_times_like_r() {
    // The data of the R script, rebuilt by the same formula.
    let mut times = Vec::new();
    let mut events = Vec::new();
    let mut group = Vec::new();
    for i in 0..40_000_u32 {
        let g = f64::from(i % 2);
        let u = (f64::from(i / 2) + 0.5) / 20_000.0;
        let latent = -u.ln() / (0.01 * (-0.35 * g).exp());
        let grid = 91.0 * (latent / 91.0).ceil();
        events.push(grid <= 546.0);
        times.push(grid.min(546.0));
        group.push(g);
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/cox_ties_reference.json"
    );
    let r: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let fit = cox_ph(&times, &events, &[&group], Ties::Efron).unwrap();
    assert_eq!(fit.n_events as u64, r["n_events"].as_u64().unwrap());
    // Both stop within R's convergence tolerance (relative change of ℓ ≤ 1e-9); the coefficient
    // then agrees to about √1e-9 relative, and we ask for 1e-6.
    let c = fit.coefficients[0];
    for (got, key) in [
        (c.estimate, "coefficient"),
        (c.std_error, "std_error"),
        (fit.loglik, "loglik"),
    ] {
        let expected = r[key].as_f64().unwrap();
        assert!(
            (got - expected).abs() <= 1e-6 * expected.abs(),
            "{key}: {got} vs {expected}"
        );
    }
}
