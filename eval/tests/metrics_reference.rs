//! twin-eval's metrics, drift statistics and survival metrics against independent references.
//!
//! Most expected values come from `tests/fixtures/reference.json`, written once by
//! `tests/fixtures/make_reference.py` with scipy 1.17.1, numpy 2.4.6, lifelines 0.30.3 and
//! scikit-survival 0.28.0 (versions are stored in the JSON). The others are closed forms
//! (Gaussian CRPS, normal-theory standard errors) stated in each test. Tolerances: 1e-10 or tighter
//! wherever both sides compute the same quantity exactly; looser, statistically derived bounds
//! only where the test itself is Monte Carlo.

use serde_json::Value;
use twin_engine::random::{Purpose, RandomStream};
use twin_eval::drift::{
    DriftLevel, PsiThresholds, jensen_shannon_distance, ks_two_sample, mmd_rbf,
    normalised_wasserstein1, psi, wasserstein1,
};
use twin_eval::metrics::{
    KsMethod, STANDARD_INTERVAL_LEVELS, bootstrap_ci, crps_ensemble_fair, crps_gaussian,
    energy_score_fair, interval_coverage, kolmogorov_sf, ks_one_sample, ks_uniform, moment_summary,
    npde_subject, pit_histogram, pit_values, point_errors, quantile_type7, standard_normal_cdf,
    standard_normal_pdf, standard_normal_quantile, student_t_cdf, student_t_quantile, tost_paired,
};
use twin_eval::survival_metrics::{
    CensoredSample, brier_score, harrell_c, integrated_brier_score, uno_c,
};

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.json");
    let text = std::fs::read_to_string(path).expect("fixture is committed next to this test");
    serde_json::from_str(&text).expect("fixture is valid JSON")
}

fn num(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(num).collect()
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .expect("array of arrays")
        .iter()
        .map(nums)
        .collect()
}

fn bools(v: &Value) -> Vec<bool> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|b| b.as_bool().expect("bool"))
        .collect()
}

fn count(v: &Value) -> usize {
    usize::try_from(v.as_u64().expect("count")).expect("fits")
}

/// Absolute tolerance.
fn assert_abs(got: f64, expected: f64, tol: f64, what: &str) {
    assert!(
        (got - expected).abs() <= tol,
        "{what}: got {got:e}, expected {expected:e}, |diff| {:e} > {tol:e}",
        (got - expected).abs()
    );
}

/// Relative tolerance (for values spanning many orders of magnitude).
fn assert_rel(got: f64, expected: f64, tol: f64, what: &str) {
    let scale = expected.abs().max(f64::MIN_POSITIVE);
    assert!(
        (got - expected).abs() <= tol * scale,
        "{what}: got {got:e}, expected {expected:e}, relative diff {:e} > {tol:e}",
        (got - expected).abs() / scale
    );
}

// ---------------------------------------------------------------------------------------------
// Special functions (scipy.stats.norm, scipy.stats.t).
// ---------------------------------------------------------------------------------------------

#[test]
fn normal_cdf_pdf_and_quantile_match_scipy() {
    let fx = reference();
    let normal = &fx["normal"];
    // Relative 1e-13 covers the lower tail down to Φ(−30) ≈ 5e-198.
    for ((x, cdf), pdf) in nums(&normal["x"])
        .into_iter()
        .zip(nums(&normal["cdf"]))
        .zip(nums(&normal["pdf"]))
    {
        assert_rel(standard_normal_cdf(x), cdf, 1e-13, &format!("Φ({x})"));
        assert_rel(standard_normal_pdf(x), pdf, 1e-13, &format!("φ({x})"));
    }
    for (p, ppf) in nums(&normal["p"]).into_iter().zip(nums(&normal["ppf"])) {
        assert_rel(
            standard_normal_quantile(p),
            ppf,
            1e-13,
            &format!("Φ⁻¹({p})"),
        );
    }
}

#[test]
fn student_t_cdf_and_quantile_match_scipy() {
    let fx = reference();
    for case in fx["student_t"].as_array().expect("cases") {
        let df = num(&case["df"]);
        for (x, cdf) in nums(&case["x"]).into_iter().zip(nums(&case["cdf"])) {
            assert_rel(student_t_cdf(x, df), cdf, 1e-12, &format!("T_{df}({x})"));
        }
        for (p, ppf) in nums(&case["p"]).into_iter().zip(nums(&case["ppf"])) {
            assert_abs(
                student_t_quantile(p, df),
                ppf,
                1e-10 * ppf.abs().max(1.0),
                &format!("T_{df}⁻¹({p})"),
            );
        }
    }
}

#[test]
fn type7_quantiles_match_numpy() {
    let fx = reference();
    let case = &fx["quantile_type7"];
    let values = nums(&case["values"]);
    for (p, expected) in nums(&case["probs"])
        .into_iter()
        .zip(nums(&case["expected"]))
    {
        assert_abs(quantile_type7(&values, p).unwrap(), expected, 1e-14, "Q7");
    }
}

// ---------------------------------------------------------------------------------------------
// Forecast metrics (numpy brute force, np.quantile, scipy.stats.kstest).
// ---------------------------------------------------------------------------------------------

#[test]
fn forecast_metrics_match_numpy_and_scipy() {
    let fx = reference();
    let f = &fx["forecasts"];
    let observations = nums(&f["observations"]);
    let ensembles = rows(&f["ensembles"]);

    let errors = point_errors(&observations, &ensembles).unwrap();
    assert_abs(errors.mae, num(&f["mae"]), 1e-12, "MAE");
    assert_abs(errors.rmse, num(&f["rmse"]), 1e-12, "RMSE");

    // Fair CRPS: O(M log M) sorted formula here, O(M²) double sum in the fixture.
    for (i, expected) in nums(&f["crps_fair"]).into_iter().enumerate() {
        let got = crps_ensemble_fair(&ensembles[i], observations[i]).unwrap();
        assert_abs(got, expected, 1e-12, &format!("CRPS[{i}]"));
    }

    let intervals =
        interval_coverage(&observations, &ensembles, &STANDARD_INTERVAL_LEVELS).unwrap();
    for (got, expected) in intervals
        .iter()
        .zip(f["intervals"].as_array().expect("levels"))
    {
        assert_abs(got.level, num(&expected["level"]), 0.0, "level");
        assert_abs(got.coverage, num(&expected["coverage"]), 1e-15, "coverage");
        assert_abs(got.mean_width, num(&expected["mean_width"]), 1e-12, "width");
    }

    // PIT with ties (the last 20 forecasts are on a 0.5 grid).
    let pit = pit_values(&observations, &ensembles).unwrap();
    for (got, expected) in pit.iter().zip(nums(&f["pit"])) {
        assert_abs(*got, expected, 1e-15, "PIT");
    }
    let histogram = pit_histogram(&pit, 10).unwrap();
    let expected_histogram: Vec<usize> = f["pit_histogram"]
        .as_array()
        .expect("counts")
        .iter()
        .map(count)
        .collect();
    assert_eq!(histogram, expected_histogram);

    let ks = ks_uniform(&pit).unwrap();
    assert_abs(
        ks.statistic,
        num(&f["ks_uniform"]["statistic"]),
        1e-15,
        "KS D",
    );
    assert_abs(ks.p_value, num(&f["ks_uniform"]["p_value"]), 1e-12, "KS p");
    assert_eq!(ks.method, KsMethod::Exact);
}

#[test]
fn gaussian_crps_matches_scipy_closed_form() {
    let fx = reference();
    let g = &fx["crps_gaussian"];
    let cases = nums(&g["mean"])
        .into_iter()
        .zip(nums(&g["sd"]))
        .zip(nums(&g["y"]))
        .zip(nums(&g["crps"]));
    for (((mean, sd), y), expected) in cases {
        assert_rel(
            crps_gaussian(mean, sd, y).unwrap(),
            expected,
            1e-13,
            "Gaussian CRPS",
        );
    }
}

#[test]
fn ensemble_crps_of_large_normal_sample_approaches_closed_form() {
    // Independent source: Gneiting & Raftery's closed form for N(μ, σ²).
    let (mu, sigma, y) = (1.5, 2.0, 2.3);
    let exact = crps_gaussian(mu, sigma, y).unwrap();

    // (a) Quasi-sample: the M normal quantiles at (k − ½)/M. These points are not i.i.d., so the
    // fair estimator's correction term shows as a bias of about E|X − X′|/(2(M − 1)) ≈ σ/(√π M)
    // (= 1.1e-5 here; measured 1.13e-5); the bound is twice that.
    let m = 100_000;
    let quasi: Vec<f64> = (0..m)
        .map(|k| mu + sigma * standard_normal_quantile((f64::from(k) + 0.5) / f64::from(m)))
        .collect();
    let grid_bias = sigma / (std::f64::consts::PI.sqrt() * f64::from(m));
    assert_abs(
        crps_ensemble_fair(&quasi, y).unwrap(),
        exact,
        2.0 * grid_bias,
        "quasi-sample CRPS",
    );

    // (b) Random sample from the engine's normal stream. The fair estimator is unbiased; its
    // first-order term is |X − y| − E′|X − X′|, with SD(|X − y|) ≤ √E(X − y)² = 1.08σ here and
    // SD(E′|X − X′|) ≤ σ (1-Lipschitz in X), so its standard error is at most 2.1σ/√M. The bound
    // 5σ√(2/M) = 7.1σ/√M is over 3 of those; the stream is seeded, so the test is deterministic
    // (measured error 0.12σ/√M).
    let mut stream = RandomStream::new(7, 0, 0, Purpose::Custom(0));
    let sample: Vec<f64> = (0..m).map(|_| mu + sigma * stream.normal()).collect();
    let bound = 5.0 * sigma * (2.0 / f64::from(m)).sqrt();
    assert_abs(
        crps_ensemble_fair(&sample, y).unwrap(),
        exact,
        bound,
        "sample CRPS",
    );
}

#[test]
fn energy_score_matches_numpy_double_sum() {
    let fx = reference();
    for case in fx["energy_score"].as_array().expect("cases") {
        let got = energy_score_fair(&rows(&case["draws"]), &nums(&case["observation"])).unwrap();
        assert_abs(got, num(&case["score"]), 1e-13, "energy score");
    }
}

#[test]
fn kolmogorov_distribution_matches_scipy_kstwo() {
    // Grid over n ∈ [1, 100 001] and d covering every branch of scipy's `_kolmogn` (Ruben–Gambino,
    // Smirnov, Durbin matrix where scipy uses Pomeranz, Pelz–Good, the nd² cut-offs).
    let fx = reference();
    let mut worst: f64 = 0.0;
    for case in fx["kolmogorov_sf"].as_array().expect("grid") {
        let (n, d, expected) = (count(&case["n"]), num(&case["d"]), num(&case["sf"]));
        let got = kolmogorov_sf(n, d);
        let diff = (got - expected).abs();
        worst = worst.max(diff);
        assert!(
            diff <= 1e-12 || diff <= 1e-10 * expected,
            "P(D_{n} ≥ {d}): got {got:e}, scipy {expected:e}"
        );
    }
    eprintln!("largest absolute difference to scipy.stats.kstwo.sf: {worst:e}");
}

#[test]
fn one_sample_ks_against_normal_matches_scipy_kstest() {
    let fx = reference();
    for case in fx["ks_one_sample_normal"].as_array().expect("cases") {
        let res = ks_one_sample(&nums(&case["values"]), &standard_normal_cdf).unwrap();
        assert_abs(res.statistic, num(&case["statistic"]), 1e-14, "D");
        assert_abs(res.p_value, num(&case["p_value"]), 1e-11, "p");
    }
}

#[test]
fn npde_match_numpy_decorrelation() {
    // The fixture decorrelates with np.cov + np.linalg.cholesky + scipy.linalg.solve_triangular.
    let fx = reference();
    let mut all = Vec::new();
    for subject in fx["npde"]["subjects"].as_array().expect("subjects") {
        let got = npde_subject(
            &nums(&subject["observations"]),
            &rows(&subject["simulations"]),
        )
        .unwrap();
        for (g, e) in got.iter().zip(nums(&subject["npde"])) {
            assert_abs(*g, e, 1e-12, "npde");
        }
        all.extend(got);
    }
    let summary = moment_summary(&all).unwrap();
    let expected = &fx["npde"]["summary"];
    assert_eq!(summary.n, count(&expected["n"]));
    assert_abs(summary.mean, num(&expected["mean"]), 1e-12, "mean");
    assert_abs(
        summary.variance,
        num(&expected["variance"]),
        1e-12,
        "variance",
    );
    assert_abs(
        summary.skewness,
        num(&expected["skewness"]),
        1e-12,
        "skewness",
    );
    assert_abs(
        summary.excess_kurtosis,
        num(&expected["excess_kurtosis"]),
        1e-12,
        "kurtosis",
    );
}

#[test]
fn tost_matches_scipy_one_sided_t_tests() {
    let fx = reference();
    for case in fx["tost"].as_array().expect("cases") {
        let margin = num(&case["margin"]);
        let res = tost_paired(&nums(&case["differences"]), margin, num(&case["alpha"])).unwrap();
        assert_abs(res.mean_difference, num(&case["mean"]), 1e-14, "mean");
        assert_abs(
            res.standard_error,
            num(&case["standard_error"]),
            1e-14,
            "SE",
        );
        assert_abs(res.ci_lower, num(&case["ci_lower"]), 1e-11, "CI lower");
        assert_abs(res.ci_upper, num(&case["ci_upper"]), 1e-11, "CI upper");
        assert_rel(res.p_lower, num(&case["p_lower"]), 1e-10, "p lower");
        assert_rel(res.p_upper, num(&case["p_upper"]), 1e-10, "p upper");
        // The decision by p-values and by the 90 % CI inside (−δ, δ) must agree.
        let ci_inside = -margin < res.ci_lower && res.ci_upper < margin;
        assert_eq!(res.equivalent, ci_inside);
    }
}

// ---------------------------------------------------------------------------------------------
// Bootstrap (deterministic; normal theory as the independent reference).
// ---------------------------------------------------------------------------------------------

#[test]
fn bootstrap_ci_of_a_mean_is_deterministic_and_matches_normal_theory() {
    let mut stream = RandomStream::new(3, 0, 0, Purpose::Custom(0));
    let n = 400;
    let values: Vec<f64> = (0..n).map(|_| 5.0 + 2.0 * stream.normal()).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (lo, hi) = bootstrap_ci(&values, &mean, 4000, 99).unwrap();
    assert_eq!(
        bootstrap_ci(&values, &mean, 4000, 99).unwrap(),
        (lo, hi),
        "same seed, same interval"
    );
    assert_ne!(bootstrap_ci(&values, &mean, 4000, 100).unwrap(), (lo, hi));

    // Normal theory: x̄ ± 1.96·s/√n. The percentile bootstrap's endpoints scatter around these by
    // the Monte Carlo error of a 2.5 % quantile of 4000 replicates (≈ 0.04·SE) plus the bootstrap's
    // own (n−1)/n variance shrinkage; 0.2·SE is a generous, still informative bound.
    let x_bar = mean(&values);
    let s = (values.iter().map(|v| (v - x_bar).powi(2)).sum::<f64>() / f64::from(n - 1)).sqrt();
    let se = s / f64::from(n).sqrt();
    let z = standard_normal_quantile(0.975);
    assert_abs(lo, x_bar - z * se, 0.2 * se, "bootstrap lower");
    assert_abs(hi, x_bar + z * se, 0.2 * se, "bootstrap upper");

    // Constant data: every replicate is the same.
    let (c_lo, c_hi) = bootstrap_ci(&[2.5; 10], &mean, 50, 1).unwrap();
    assert_abs(c_lo, 2.5, 0.0, "constant lower");
    assert_abs(c_hi, 2.5, 0.0, "constant upper");
}

// ---------------------------------------------------------------------------------------------
// Drift (scipy ks_2samp, wasserstein_distance, jensenshannon; numpy PSI and MMD).
// ---------------------------------------------------------------------------------------------

#[test]
fn two_sample_ks_matches_scipy_ks_2samp() {
    let fx = reference();
    for case in fx["ks_two_sample"].as_array().expect("cases") {
        let reference = nums(&case["reference"]);
        let current = nums(&case["current"]);
        let res = ks_two_sample(&reference, &current).unwrap();
        let sizes = (reference.len(), current.len());
        assert_abs(res.statistic, num(&case["statistic"]), 1e-15, "D");
        assert_abs(
            res.p_value,
            num(&case["p_value"]),
            1e-12,
            &format!("p {sizes:?}"),
        );
        let expected_method = match case["method"].as_str() {
            Some("exact") => KsMethod::Exact,
            _ => KsMethod::Asymptotic,
        };
        assert_eq!(res.method, expected_method);
    }
}

#[test]
fn univariate_drift_matches_scipy_and_numpy() {
    let fx = reference();
    for case in fx["univariate_drift"].as_array().expect("cases") {
        let reference = nums(&case["reference"]);
        let current = nums(&case["current"]);
        assert_abs(
            wasserstein1(&reference, &current).unwrap(),
            num(&case["wasserstein"]),
            1e-12,
            "W1",
        );
        assert_abs(
            normalised_wasserstein1(&reference, &current).unwrap(),
            num(&case["normalised_wasserstein"]),
            1e-12,
            "W1/SD",
        );
        let res = psi(&reference, &current).unwrap();
        for (got, expected) in res.bins.edges.iter().zip(nums(&case["edges"])) {
            assert_abs(*got, expected, 1e-14, "decile edge");
        }
        assert_eq!(res.bins.reference.len(), 10);
        for (got, expected) in res
            .bins
            .reference
            .iter()
            .zip(nums(&case["reference_share"]))
        {
            assert_abs(*got, expected, 1e-15, "reference share");
        }
        for (got, expected) in res.bins.current.iter().zip(nums(&case["current_share"])) {
            assert_abs(*got, expected, 1e-15, "current share");
        }
        assert_abs(res.value, num(&case["psi"]), 1e-12, "PSI");
        assert_abs(
            jensen_shannon_distance(&reference, &current).unwrap(),
            num(&case["jensen_shannon"]),
            1e-12,
            "JS distance",
        );
    }
    // The thresholds of docs/domain.md §5.
    assert_eq!(PsiThresholds::default().classify(0.26), DriftLevel::Major);
}

#[test]
fn mmd_matches_numpy_and_exact_permutation_distribution() {
    let fx = reference();
    let case = &fx["mmd"];
    let res = mmd_rbf(&rows(&case["reference"]), &rows(&case["current"]), 200, 5).unwrap();
    assert_abs(
        res.bandwidth,
        num(&case["bandwidth"]),
        1e-14,
        "median heuristic",
    );
    assert_abs(res.mmd2, num(&case["mmd2"]), 1e-13, "MMD²");
    assert_eq!(
        mmd_rbf(&rows(&case["reference"]), &rows(&case["current"]), 200, 5).unwrap(),
        res,
        "same seed, same result"
    );

    // Tiny case whose permutation distribution the fixture enumerated exhaustively (126 splits).
    // The Monte Carlo p-value with B = 20 000 has standard error √(p(1−p)/B) ≤ 0.0036; allow 5.
    let exact = &fx["mmd_exact_permutation"];
    let n_perm: usize = 20_000;
    let small = mmd_rbf(
        &rows(&exact["reference"]),
        &rows(&exact["current"]),
        n_perm,
        8,
    )
    .unwrap();
    assert_abs(small.mmd2, num(&exact["mmd2"]), 1e-14, "MMD² (small)");
    let p = num(&exact["exact_p_value"]);
    let se = (p * (1.0 - p) / n_perm as f64).sqrt();
    assert_abs(
        small.p_value,
        p,
        5.0 * se + 1.0 / n_perm as f64,
        "permutation p",
    );

    // Well separated samples: no permutation reaches the observed statistic, p = 1/(B + 1).
    let low: Vec<Vec<f64>> = (0..10).map(|i| vec![f64::from(i) * 0.1, 0.0]).collect();
    let high: Vec<Vec<f64>> = (0..10)
        .map(|i| vec![10.0 + f64::from(i) * 0.1, 0.0])
        .collect();
    let separated = mmd_rbf(&low, &high, 99, 1).unwrap();
    assert_abs(separated.p_value, 0.01, 1e-15, "separated p");
}

// ---------------------------------------------------------------------------------------------
// Survival metrics (lifelines, scikit-survival).
// ---------------------------------------------------------------------------------------------

#[test]
fn survival_metrics_match_lifelines_and_scikit_survival() {
    let fx = reference();
    let s = &fx["survival"];
    let (train_times, train_events) = (nums(&s["train_times"]), bools(&s["train_events"]));
    let (test_times, test_events) = (nums(&s["test_times"]), bools(&s["test_events"]));
    let risk = nums(&s["risk"]);
    let train = CensoredSample {
        times: &train_times,
        events: &train_events,
    };
    let test = CensoredSample {
        times: &test_times,
        events: &test_events,
    };

    let harrell = harrell_c(&test_times, &test_events, &risk).unwrap();
    let expected = &s["harrell"];
    assert_abs(
        harrell.c_index,
        num(&expected["c_index"]),
        1e-14,
        "Harrell (sksurv)",
    );
    assert_abs(
        harrell.c_index,
        num(&expected["lifelines_c_index"]),
        1e-14,
        "Harrell (lifelines)",
    );
    assert_eq!(
        (
            harrell.concordant,
            harrell.discordant,
            harrell.tied_risk,
            harrell.tied_time
        ),
        (
            count(&expected["concordant"]),
            count(&expected["discordant"]),
            count(&expected["tied_risk"]),
            count(&expected["tied_time"])
        )
    );

    let uno = uno_c(train, test, &risk, None).unwrap();
    assert_abs(uno.c_index, num(&s["uno"]["c_index"]), 1e-13, "Uno");
    let uno_tau = uno_c(train, test, &risk, Some(num(&s["tau"]))).unwrap();
    assert_abs(
        uno_tau.c_index,
        num(&s["uno_tau"]["c_index"]),
        1e-13,
        "Uno τ",
    );

    let times = nums(&s["times"]);
    let predicted = rows(&s["predicted_survival"]);
    let scores = brier_score(train, test, &predicted, &times).unwrap();
    for (got, expected) in scores.iter().zip(nums(&s["brier"])) {
        assert_abs(*got, expected, 1e-14, "Brier");
    }
    assert_abs(
        integrated_brier_score(train, test, &predicted, &times).unwrap(),
        num(&s["integrated_brier"]),
        1e-14,
        "IBS",
    );
}

#[test]
fn hand_worked_survival_example_agrees_with_lifelines_and_scikit_survival() {
    // The five subjects worked by hand in survival_metrics.rs (C = 0.8125, Uno 9.625/13, Uno with
    // τ = 5 7.375/10.75, Brier(5) = 0.113); here the same data through the reference libraries.
    let fx = reference();
    let hand = &fx["survival"]["hand_example"];
    let times = [2.0, 4.0, 4.0, 6.0, 8.0];
    let events = [true, true, false, true, false];
    let risk = [0.9, 0.5, 0.7, 0.5, 0.1];
    let sample = CensoredSample {
        times: &times,
        events: &events,
    };
    let harrell = harrell_c(&times, &events, &risk).unwrap().c_index;
    assert_abs(harrell, num(&hand["harrell_lifelines"]), 1e-15, "lifelines");
    assert_abs(harrell, num(&hand["harrell_sksurv"]), 1e-15, "sksurv");
    let uno = uno_c(sample, sample, &risk, None).unwrap().c_index;
    assert_abs(uno, num(&hand["uno_sksurv"]), 1e-15, "Uno");
    let uno5 = uno_c(sample, sample, &risk, Some(5.0)).unwrap().c_index;
    assert_abs(uno5, num(&hand["uno_tau5_sksurv"]), 1e-15, "Uno τ = 5");
    let predicted: Vec<Vec<f64>> = [0.2, 0.5, 0.6, 0.7, 0.9].iter().map(|p| vec![*p]).collect();
    let brier = brier_score(sample, sample, &predicted, &[5.0]).unwrap()[0];
    assert_abs(brier, num(&hand["brier_t5_sksurv"]), 1e-15, "Brier");
}
