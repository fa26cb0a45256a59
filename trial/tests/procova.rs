//! PROCOVA against closed forms on the linear-Gaussian test model (tests/common).
//!
//! Truth: `y1 = BASE + η1 + (SLOPE + B_X·X + η2 + EFFECT·treated)·1 d + ε1`, `X ~ N(0, 1)`.
//! The η-free prognostic model gives the score `m = BASE + SLOPE + B_X·X`, so the score–outcome
//! correlation under control is `ρ² = B_X²/(B_X² + ω1² + ω2² + σ²) = 4/7`.

mod common;

use twin_trial::cohort::Screener;
use twin_trial::prognostic::ScoreFunction;
use twin_trial::replicates::{NoProgress, Trial};

#[test]
fn procova_variance_is_one_minus_rho_squared_of_the_unadjusted() {
    // 2 × 100 patients, no dropout, 4000 replicate trials.
    let n: u64 = 200;
    let design = common::parse(&common::linear_design(n, 4_000, "")).unwrap();
    let trial = Trial::prepare(&design, &NoProgress).unwrap();
    let rho_squared: f64 = 4.0 / 7.0;

    // ρ estimated on the historical control cohort (4000 patients): SE ≈ (1 − ρ²)/√n = 0.0068.
    let rho = trial.historical()[2].unwrap().rho.unwrap();
    assert!(
        (rho - rho_squared.sqrt()).abs() < 4.0 * (1.0 - rho_squared) / 4000_f64.sqrt(),
        "rho {rho} vs {}",
        rho_squared.sqrt()
    );

    let results = trial.run(0..design.replicates, &NoProgress).unwrap();
    let estimates = |a: usize| -> Vec<f64> {
        results
            .iter()
            .map(|r| r.alternative[a].as_ref().unwrap().estimate)
            .collect()
    };
    let (unadjusted, procova) = (estimates(0), estimates(2));
    let ratio = variance(&procova) / variance(&unadjusted);
    // Exact expectation under joint normality: the score is normal and independent of treatment,
    // so E[(XᵀX)⁻¹]_TT = (1/n₁ + 1/n₂)(1 + 1/(n − 4)) (E[1/χ²_{n−2}] = 1/(n − 4)), and the
    // residual variance is σ²(1 − ρ²): ratio = (1 − ρ²)(1 + 1/(n − 4)) = 0.4307 for n = 200.
    let expected = (1.0 - rho_squared) * (1.0 + 1.0 / (n as f64 - 4.0));
    let se = log_ratio_se(&procova, &unadjusted);
    println!(
        "variance ratio {ratio:.4}, expected {expected:.4}, MC SE of log ratio {se:.4}, rho {rho:.4}"
    );
    assert!(
        (ratio.ln() - expected.ln()).abs() <= 4.0 * se,
        "ratio {ratio} vs {expected} (log SE {se})"
    );
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn variance(x: &[f64]) -> f64 {
    let m = mean(x);
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() as f64 - 1.0)
}

/// Delta-method Monte Carlo standard error of `ln(Var(a)/Var(b))` from paired samples:
/// `Var(ln V̂a − ln V̂b) ≈ [μ4a/σa⁴ + μ4b/σb⁴ − 2·E(da²db²)/(σa²σb²)]/R` with `d` the centred
/// values (the terms `−1 − 1 + 2` cancel).
fn log_ratio_se(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (mean(a), mean(b));
    let (va, vb) = (variance(a), variance(b));
    let r = a.len() as f64;
    let m4 = |x: &[f64], m: f64| x.iter().map(|v| (v - m).powi(4)).sum::<f64>() / r;
    let cross = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - ma).powi(2) * (y - mb).powi(2))
        .sum::<f64>()
        / r;
    ((m4(a, ma) / (va * va) + m4(b, mb) / (vb * vb) - 2.0 * cross / (va * vb)) / r).sqrt()
}

#[test]
fn conditioned_score_is_the_posterior_mean_of_the_outcome() {
    // With the truth model as the prognostic model, conditioning on the observed baseline y0:
    // y0 = BASE + η1 + ε0, so E[η1 | y0] = ω1²/(ω1² + σ²)·(y0 − BASE) = (y0 − 50)/2, and
    // E[y1 | X, y0] = BASE + SLOPE + B_X·X + (y0 − 50)/2 (η2 is independent of y0). The score
    // averages 4000 draws resampled from 40 000 weighted prior draws; posterior variance of
    // f1 = ω1²σ²/(ω1² + σ²) + ω2² = 1.5, so the resampling error is at most √(1.5/4000) = 0.019,
    // and 0.1 is five of those.
    let text = common::linear_design(200, 1, "").replace(
        "model = \"linear-prognostic@1\"",
        "model = \"linear-test@1\"\nprior_draws = 40000\nsimulated_draws = 4000",
    );
    let design = common::parse(&text).unwrap();
    let screener = Screener::new(&design).unwrap();
    let score = ScoreFunction::new(&design).unwrap().unwrap();
    let mut ws = score.workspace(design.solver).unwrap();
    for index in 0..8 {
        let candidate = screener.candidate(0, index);
        let x = candidate.covariates[0];
        let y0 = candidate.baseline[0];
        let expected = 50.0 + 2.0 * x + 0.5 * (y0 - 50.0);
        let got = score
            .score(&candidate.covariates, &candidate.baseline, &mut ws)
            .unwrap()[0];
        assert!(
            (got - expected).abs() < 0.1,
            "patient {index}: {got} vs {expected}"
        );
    }
}
