//! Closed-form power and sample size with unequal arms and covariates against R.
//!
//! Source of every expected number: `tests/fixtures/closed_form_reference.json`, written once by
//! `tests/fixtures/make_closed_form_reference.R` (R 4.2.2, base R: `pt` with `ncp`, `qt`,
//! `uniroot(tol = 1e-12)`).

use serde_json::Value;
use twin_trial::closed_form::MeansPlan;

// R's noncentral t (AS 243) and ours are the same algorithm; the distribution tests of this crate
// measured ≤ 1e-10 relative agreement. uniroot's root is exact to ~1e-9 patients.
const POWER_TOL: f64 = 1e-9;
const N_TOL: f64 = 1e-6;

#[test]
fn power_and_sample_size_match_r() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/closed_form_reference.json"
    );
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5);
    for case in cases {
        let get = |k: &str| case[k].as_f64().unwrap();
        let plan = MeansPlan {
            effect: get("delta"),
            sd: get("sigma"),
            r_squared: get("r_squared"),
            n_covariates: usize::try_from(case["k"].as_u64().unwrap()).unwrap(),
            alpha: get("alpha"),
        };
        let (nc, nt) = (get("n_control"), get("n_treated"));
        let power = plan.power(nc, nt).unwrap();
        let expected = get("power");
        assert!(
            (power - expected).abs() <= POWER_TOL * expected,
            "{case}: {power}"
        );
        let n = plan.total_sample_size(0.8, nc / (nc + nt)).unwrap();
        let expected_n = get("n_total_for_0_8");
        println!(
            "power rel. error {:.1e}, N rel. error {:.1e}",
            (power - expected).abs() / expected,
            (n - expected_n).abs() / expected_n
        );
        assert!((n - expected_n).abs() <= N_TOL * expected_n, "{case}: {n}");
    }
}
