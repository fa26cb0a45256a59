//! Linear models and sample sizes against R (`lm`, `confint`, `t.test`, `power.t.test`).
//!
//! Source of every expected number: `tests/fixtures/linear_reference.json`, written once by
//! `tests/fixtures/make_linear_reference.R` (R 4.2.2) from the committed data
//! `tests/fixtures/ancova_sim.csv` (simulated trial, `set.seed(20240501)`) and
//! `tests/fixtures/mtcars.csv` (R's built-in `mtcars`).

use serde_json::Value;
use twin_trial::linear::{
    Estimate, TwoArmDesign, ancova, difference_in_means, ols, power_two_sample_t,
    sample_size_per_arm_t,
};

// Tolerance for statistics against R; measured agreement is ≤ 2.4e-14 relative (R 4.2.2).
const REL_TOL: f64 = 1e-9;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn reference() -> Value {
    serde_json::from_str(&fixture("linear_reference.json")).expect("valid JSON")
}

/// Columns of a numeric CSV with a header row, by name.
fn csv_columns(name: &str) -> Vec<(String, Vec<f64>)> {
    let text = fixture(name);
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split(',')
        .map(str::to_owned)
        .collect();
    let mut columns: Vec<(String, Vec<f64>)> =
        header.into_iter().map(|h| (h, Vec::new())).collect();
    for line in lines.filter(|l| !l.is_empty()) {
        for (column, cell) in columns.iter_mut().zip(line.split(',')) {
            column.1.push(cell.parse().expect("numeric cell"));
        }
    }
    columns
}

fn column<'a>(columns: &'a [(String, Vec<f64>)], name: &str) -> &'a [f64] {
    &columns
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .1
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_f64().expect("number"))
        .collect()
}

fn assert_rel(got: f64, expected: f64, tol: f64, context: &str) {
    let err = (got - expected).abs();
    assert!(
        err <= tol * expected.abs(),
        "{context}: got {got:.17e}, expected {expected:.17e}, rel err {:e}",
        err / expected.abs()
    );
}

fn assert_estimate(got: &Estimate, reference: &Value, index: usize, context: &str) {
    for (key, value) in [
        ("coef", got.estimate),
        ("se", got.std_error),
        ("t", got.t_value),
        ("p", got.p_value),
        ("ci_lower", got.ci_lower),
        ("ci_upper", got.ci_upper),
    ] {
        let expected = numbers(&reference[key])[index];
        assert_rel(
            value,
            expected,
            REL_TOL,
            &format!("{context} {key}[{index}]"),
        );
    }
}

fn check_lm(y: &[f64], x: &[&[f64]], reference: &Value, context: &str) {
    let fit = ols(y, x).unwrap();
    assert_eq!(fit.coefficients.len(), x.len() + 1);
    for (index, coefficient) in fit.coefficients.iter().enumerate() {
        assert_estimate(coefficient, reference, index, context);
    }
    let df = reference["df_residual"].as_f64().unwrap();
    assert!((fit.df_residual as f64 - df).abs() < 0.5, "{context} df");
    assert_rel(
        fit.sigma,
        reference["sigma"].as_f64().unwrap(),
        REL_TOL,
        context,
    );
    assert_rel(
        fit.rss,
        reference["rss"].as_f64().unwrap(),
        REL_TOL,
        context,
    );
    assert_rel(
        fit.r_squared,
        reference["r_squared"].as_f64().unwrap(),
        REL_TOL,
        context,
    );
}

#[test]
fn ols_matches_lm_on_simulated_trial_and_mtcars() {
    let reference = reference();
    let sim = csv_columns("ancova_sim.csv");
    let outcome = column(&sim, "outcome");
    let treatment = column(&sim, "treatment");
    let baseline = column(&sim, "baseline");
    let score = column(&sim, "prognostic_score");
    check_lm(
        outcome,
        &[treatment, baseline, score],
        &reference["ancova_full"],
        "lm(outcome ~ treatment + baseline + prognostic_score)",
    );
    check_lm(
        outcome,
        &[treatment],
        &reference["treatment_only"],
        "lm(outcome ~ treatment)",
    );
    let cars = csv_columns("mtcars.csv");
    check_lm(
        column(&cars, "mpg"),
        &[
            column(&cars, "wt"),
            column(&cars, "hp"),
            column(&cars, "qsec"),
        ],
        &reference["mtcars"],
        "lm(mpg ~ wt + hp + qsec, mtcars)",
    );
}

#[test]
fn ancova_treatment_effect_matches_lm() {
    let reference = reference();
    let sim = csv_columns("ancova_sim.csv");
    let outcome = column(&sim, "outcome");
    let treated: Vec<bool> = column(&sim, "treatment").iter().map(|&t| t > 0.5).collect();
    let score = column(&sim, "prognostic_score");
    let baseline = column(&sim, "baseline");

    let procova = ancova(outcome, &treated, &[score]).unwrap();
    assert_estimate(&procova, &reference["ancova_score"], 1, "PROCOVA ANCOVA");
    assert_eq!(procova.df, 57);

    let full = ancova(outcome, &treated, &[baseline, score]).unwrap();
    assert_estimate(&full, &reference["ancova_full"], 1, "ANCOVA two covariates");
}

#[test]
fn difference_in_means_matches_pooled_t_test() {
    let reference = reference();
    let expected = &reference["t_test"];
    let sim = csv_columns("ancova_sim.csv");
    let outcome = column(&sim, "outcome");
    let treatment = column(&sim, "treatment");
    let split = |arm: f64| -> Vec<f64> {
        outcome
            .iter()
            .zip(treatment)
            .filter(|&(_, &t)| (t - arm).abs() < 0.5)
            .map(|(&y, _)| y)
            .collect()
    };
    let res = difference_in_means(&split(1.0), &split(0.0)).unwrap();
    for (key, value) in [
        ("estimate", res.estimate),
        ("t", res.t_value),
        ("p", res.p_value),
        ("ci_lower", res.ci_lower),
        ("ci_upper", res.ci_upper),
    ] {
        assert_rel(
            value,
            expected[key].as_f64().unwrap(),
            REL_TOL,
            &format!("t.test {key}"),
        );
    }
    assert_eq!(Some(res.df as u64), expected["df"].as_u64());
}

#[test]
fn power_and_sample_size_match_power_t_test() {
    let reference = reference();
    for case in reference["power_t_test_power"].as_array().unwrap() {
        let design = TwoArmDesign {
            effect: case["delta"].as_f64().unwrap(),
            sd: case["sd"].as_f64().unwrap(),
            alpha: case["sig_level"].as_f64().unwrap(),
        };
        let n = case["n"].as_f64().unwrap();
        let power = power_two_sample_t(&design, n).unwrap();
        // AS 243 (ours and R's) stops at an absolute error bound of 1e-12; measured ≤ 1.4e-14.
        let expected = case["power"].as_f64().unwrap();
        assert!(
            (power - expected).abs() <= 1e-10,
            "power.t.test(n = {n}, {design:?}): got {power}, expected {expected}"
        );
    }
    for case in reference["power_t_test_n"].as_array().unwrap() {
        let design = TwoArmDesign {
            effect: case["delta"].as_f64().unwrap(),
            sd: case["sd"].as_f64().unwrap(),
            alpha: case["sig_level"].as_f64().unwrap(),
        };
        let power = case["power"].as_f64().unwrap();
        let n = sample_size_per_arm_t(&design, power).unwrap();
        // R solved with uniroot(tol = 1e-12) on n ~ 25–250; measured ≤ 2.8e-13 relative.
        assert_rel(
            n,
            case["n"].as_f64().unwrap(),
            1e-9,
            &format!("power.t.test(power = {power}, {design:?})$n"),
        );
    }
}
