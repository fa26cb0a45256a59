//! Linear models for continuous endpoints: ordinary least squares, the two-sample t comparison,
//! ANCOVA (PROCOVA's stage 2) and closed-form sample sizes.
//!
//! Equal to R's `lm()`, `confint()`, `t.test(var.equal = TRUE)` and `power.t.test()` (see
//! `tests/linear_vs_r.rs` and `tests/fixtures/make_linear_reference.R`).
//!
//! Least squares is solved by a Householder QR decomposition of the design matrix `X`
//! (nalgebra's `QR`), never by forming `XᵀX`: `β̂ = R⁻¹ Qᵀy`, `Cov(β̂) = σ̂² R⁻¹R⁻ᵀ`. This is the
//! method R's `lm` uses (LINPACK `dqrdc2`), so the conditioning of `XᵀX` is never squared.

use nalgebra::{DMatrix, DVector};

use crate::distributions::{
    StatsError, noncentral_t_cdf, normal_quantile, student_t_quantile, student_t_sf,
};

/// Relative size below which a diagonal element of `R` marks a column as collinear with the
/// columns before it: `|R_jj| < 1e-7 · ‖x_j‖`. This is the tolerance of R's `lm` (`tol = 1e-7`).
const COLLINEARITY_TOL: f64 = 1e-7;

/// Level of the confidence intervals stored in [`Estimate`]: 95 %, two-sided.
pub const CONFIDENCE_LEVEL: f64 = 0.95;

/// One coefficient with classical (homoscedastic) t-based inference.
///
/// `t = estimate / std_error`, `p = 2 · P(T_df > |t|)` (two-sided) and the interval is
/// `estimate ± t_{0.975, df} · std_error` (95 %), with `df = n − p` the residual degrees of freedom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Point estimate.
    pub estimate: f64,
    /// Standard error, `σ̂ · √[(XᵀX)⁻¹]_jj` with `σ̂² = RSS / (n − p)`.
    pub std_error: f64,
    /// t statistic for the null value 0.
    pub t_value: f64,
    /// Degrees of freedom of the t reference distribution (`n − p`).
    pub df: usize,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Lower end of the two-sided 95 % confidence interval.
    pub ci_lower: f64,
    /// Upper end of the two-sided 95 % confidence interval.
    pub ci_upper: f64,
}

impl Estimate {
    /// Builds t-based inference from an estimate, its standard error, the degrees of freedom and
    /// `critical = t_{0.975, df}` (passed in so that a fit computes the quantile once).
    fn from_t(estimate: f64, std_error: f64, df: usize, critical: f64) -> Result<Self, StatsError> {
        let t_value = estimate / std_error;
        let p_value = (2.0 * student_t_sf(t_value.abs(), df as f64)?).min(1.0);
        let half_width = critical * std_error;
        Ok(Self {
            estimate,
            std_error,
            t_value,
            df,
            p_value,
            ci_lower: estimate - half_width,
            ci_upper: estimate + half_width,
        })
    }

    /// Two-sided confidence interval at another level, `estimate ± t_{(1+level)/2, df} · SE`;
    /// e.g. `0.90` for the TOST equivalence interval.
    ///
    /// # Errors
    /// [`StatsError::InvalidParameter`] unless `0 < level < 1`.
    pub fn confidence_interval(&self, level: f64) -> Result<(f64, f64), StatsError> {
        if !(level > 0.0 && level < 1.0) {
            return Err(StatsError::InvalidParameter {
                what: "confidence level",
                value: level,
                requirement: "must be in (0, 1)",
            });
        }
        let half_width = student_t_quantile(0.5 + 0.5 * level, self.df as f64)? * self.std_error;
        Ok((self.estimate - half_width, self.estimate + half_width))
    }
}

/// Result of an ordinary least-squares fit with intercept.
#[derive(Debug, Clone, PartialEq)]
pub struct OlsFit {
    /// Intercept first, then one entry per covariate column in the order given.
    pub coefficients: Vec<Estimate>,
    /// Number of observations `n`.
    pub n: usize,
    /// Residual degrees of freedom `n − p`, with `p` the number of coefficients.
    pub df_residual: usize,
    /// Residual sum of squares `Σ (yᵢ − ŷᵢ)²`.
    pub rss: f64,
    /// Residual standard error `σ̂ = √(RSS / (n − p))`.
    pub sigma: f64,
    /// Coefficient of determination `1 − RSS / Σ (yᵢ − ȳ)²`.
    pub r_squared: f64,
}

/// Ordinary least squares of `y` on an intercept and the given covariate columns.
///
/// Model `y = β₀ + Σⱼ βⱼ xⱼ + ε`, `ε ~ N(0, σ²)` independent. Estimates by Householder QR, with
/// classical standard errors (`σ̂² = RSS/(n − p)`), t statistics, two-sided p-values and 95 % CIs
/// from the t distribution with `n − p` degrees of freedom — the numbers of R's
/// `summary(lm(y ~ x1 + … + xk))` and `confint()`.
///
/// # Errors
/// - [`StatsError::Empty`], [`StatsError::LengthMismatch`], [`StatsError::NonFinite`] for bad data;
/// - [`StatsError::TooFewObservations`] unless `n > p`;
/// - [`StatsError::NoVariation`] if `y` is constant or the fit is exact (`RSS = 0`);
/// - [`StatsError::Collinear`] if a column is a linear combination of earlier ones (R would report
///   an `NA` coefficient; we refuse instead).
///
/// # Examples
/// ```
/// use twin_trial::linear::ols;
/// // y = 1 + 2x plus a small symmetric perturbation.
/// let x = [0.0, 1.0, 2.0, 3.0];
/// let y = [1.1, 2.9, 5.1, 6.9];
/// let fit = ols(&y, &[&x])?;
/// assert!((fit.coefficients[1].estimate - 1.96).abs() < 1e-12);
/// # Ok::<(), twin_trial::distributions::StatsError>(())
/// ```
pub fn ols(y: &[f64], x_columns: &[&[f64]]) -> Result<OlsFit, StatsError> {
    check_values("y", y)?;
    for column in x_columns {
        check_column("covariate column", column, y.len())?;
    }
    fit_design(y, 1 + x_columns.len(), |row, col| {
        if col == 0 {
            1.0
        } else {
            x_columns[col - 1][row]
        }
    })
}

/// Least squares on the design whose entry `(row, col)` is `design(row, col)`.
fn fit_design(
    y: &[f64],
    n_coefficients: usize,
    design: impl Fn(usize, usize) -> f64,
) -> Result<OlsFit, StatsError> {
    let n = y.len();
    if n <= n_coefficients {
        return Err(StatsError::TooFewObservations {
            what: "outcome",
            got: n,
            needed: n_coefficients + 1,
        });
    }
    let y_mean = mean(y);
    let total_ss: f64 = y.iter().map(|v| (v - y_mean) * (v - y_mean)).sum();
    if total_ss <= 0.0 {
        return Err(StatsError::NoVariation { what: "outcome" });
    }
    let x = DMatrix::from_fn(n, n_coefficients, design);
    let column_norms: Vec<f64> = x.column_iter().map(|c| c.norm()).collect();
    let qr = x.qr();
    let r = qr.r();
    for (column, norm) in column_norms.iter().enumerate() {
        let diagonal = r[(column, column)].abs();
        if diagonal.is_nan() || diagonal <= COLLINEARITY_TOL * norm {
            return Err(StatsError::Collinear { column });
        }
    }
    // Effects Qᵀy: the first p entries give β̂, the remaining n − p are the residuals in the
    // orthogonal complement, so RSS is their sum of squares.
    let mut effects = DVector::from_column_slice(y);
    qr.q_tr_mul(&mut effects);
    let rss: f64 = effects
        .rows(n_coefficients, n - n_coefficients)
        .norm_squared();
    if rss <= 0.0 {
        return Err(StatsError::NoVariation { what: "residuals" });
    }
    let singular = StatsError::Singular { what: "R factor" };
    let beta = r
        .solve_upper_triangular(&effects.rows(0, n_coefficients).into_owned())
        .ok_or_else(|| singular.clone())?;
    let r_inverse = r
        .solve_upper_triangular(&DMatrix::identity(n_coefficients, n_coefficients))
        .ok_or(singular)?;
    let df_residual = n - n_coefficients;
    let sigma = (rss / df_residual as f64).sqrt();
    let critical = t_critical(df_residual)?;
    let coefficients = (0..n_coefficients)
        .map(|j| {
            // [(XᵀX)⁻¹]_jj = ‖row j of R⁻¹‖².
            let std_error = sigma * r_inverse.row(j).norm();
            Estimate::from_t(beta[j], std_error, df_residual, critical)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OlsFit {
        coefficients,
        n,
        df_residual,
        rss,
        sigma,
        r_squared: 1.0 - rss / total_ss,
    })
}

/// Difference in means `mean(treated) − mean(control)` with the pooled-variance two-sample t test.
///
/// `s² = [Σ(xᵢ − x̄)² + Σ(yⱼ − ȳ)²] / (n₁ + n₂ − 2)`, `SE = s √(1/n₁ + 1/n₂)`, `df = n₁ + n₂ − 2`;
/// identical to OLS of the outcome on a treatment indicator and to R's
/// `t.test(treated, control, var.equal = TRUE)`. Two-pass sums; no allocation.
///
/// # Errors
/// [`StatsError::Empty`] for an empty arm, [`StatsError::TooFewObservations`] if
/// `n₁ + n₂ < 3`, [`StatsError::NonFinite`] for NaN/∞, [`StatsError::NoVariation`] if both arms
/// are constant.
pub fn difference_in_means(treated: &[f64], control: &[f64]) -> Result<Estimate, StatsError> {
    check_values("treated", treated)?;
    check_values("control", control)?;
    let n_total = treated.len() + control.len();
    if n_total < 3 {
        return Err(StatsError::TooFewObservations {
            what: "treated and control together",
            got: n_total,
            needed: 3,
        });
    }
    let treated_mean = mean(treated);
    let control_mean = mean(control);
    let squares = |values: &[f64], centre: f64| -> f64 {
        values.iter().map(|v| (v - centre) * (v - centre)).sum()
    };
    let df = n_total - 2;
    let pooled_variance =
        (squares(treated, treated_mean) + squares(control, control_mean)) / df as f64;
    if pooled_variance <= 0.0 {
        return Err(StatsError::NoVariation {
            what: "outcome within arms",
        });
    }
    let std_error =
        (pooled_variance * (1.0 / treated.len() as f64 + 1.0 / control.len() as f64)).sqrt();
    Estimate::from_t(treated_mean - control_mean, std_error, df, t_critical(df)?)
}

/// `t_{(1 + CONFIDENCE_LEVEL)/2, df}`.
fn t_critical(df: usize) -> Result<f64, StatsError> {
    student_t_quantile(0.5 + 0.5 * CONFIDENCE_LEVEL, df as f64)
}

/// ANCOVA treatment effect: OLS of `outcome` on an intercept, the treatment indicator
/// (`true` = treated, coded 1) and the covariates; returns the treatment coefficient.
///
/// With the prognostic score of a digital twin as the covariate this is PROCOVA's stage 2
/// (EMA qualification opinion, 2022; Schuler et al. 2021). Classical standard error and t-based
/// 95 % CI with `n − 2 − k` degrees of freedom, as R's `lm(outcome ~ treatment + covariates)`.
///
/// # Errors
/// As [`ols`]; also [`StatsError::TooFewObservations`] if an arm is empty.
pub fn ancova(
    outcome: &[f64],
    treated: &[bool],
    covariates: &[&[f64]],
) -> Result<Estimate, StatsError> {
    check_values("outcome", outcome)?;
    if treated.len() != outcome.len() {
        return Err(StatsError::LengthMismatch {
            what: "treatment indicator",
            expected: outcome.len(),
            got: treated.len(),
        });
    }
    let n_treated = treated.iter().filter(|&&t| t).count();
    for (what, got) in [
        ("treated arm", n_treated),
        ("control arm", treated.len() - n_treated),
    ] {
        if got == 0 {
            return Err(StatsError::TooFewObservations {
                what,
                got,
                needed: 1,
            });
        }
    }
    for column in covariates {
        check_column("covariate column", column, outcome.len())?;
    }
    let fit = fit_design(outcome, 2 + covariates.len(), |row, col| match col {
        0 => 1.0,
        1 => f64::from(u8::from(treated[row])),
        _ => covariates[col - 2][row],
    })?;
    Ok(fit.coefficients[1])
}

/// A two-arm, 1:1 comparison of means to be planned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TwoArmDesign {
    /// True difference in means δ to detect (outcome units; the sign is irrelevant).
    pub effect: f64,
    /// Common outcome standard deviation σ (outcome units).
    pub sd: f64,
    /// Two-sided significance level α, e.g. `0.05`.
    pub alpha: f64,
}

impl TwoArmDesign {
    fn check(&self) -> Result<(), StatsError> {
        if !(self.effect.is_finite() && self.effect.abs() > 0.0) {
            return Err(StatsError::InvalidParameter {
                what: "effect",
                value: self.effect,
                requirement: "must be finite and non-zero",
            });
        }
        if !(self.sd.is_finite() && self.sd > 0.0) {
            return Err(StatsError::InvalidParameter {
                what: "sd",
                value: self.sd,
                requirement: "must be finite and > 0",
            });
        }
        check_open_unit("alpha", self.alpha)
    }
}

/// Per-arm sample size from the normal approximation:
/// `n = 2 (z_{1−α/2} + z_{power})² σ² / δ²`.
///
/// Unrounded: round up (`ceil`) for planning. It slightly underestimates the exact t-test
/// requirement ([`sample_size_per_arm_t`]); e.g. δ/σ = 0.4, α = 0.05, power 0.8 gives 98.1 per
/// arm, 99 after rounding, 198 in total (the worked example of docs/domain.md §3), while R's
/// `power.t.test` gives 99.1 → 100 per arm.
///
/// # Errors
/// [`StatsError::InvalidParameter`] for a zero or non-finite effect, a non-positive `sd`, or
/// `alpha` / `power` outside (0, 1).
pub fn sample_size_per_arm_normal(design: &TwoArmDesign, power: f64) -> Result<f64, StatsError> {
    design.check()?;
    check_open_unit("power", power)?;
    let z_sum = normal_quantile(1.0 - 0.5 * design.alpha)? + normal_quantile(power)?;
    Ok(2.0 * z_sum * z_sum * (design.sd / design.effect).powi(2))
}

/// Power of the two-sided, pooled-variance two-sample t test with `n_per_arm` patients per arm,
/// as R's `power.t.test(n, delta, sd, sig.level)` computes it:
/// `power = P(T'_{ν, λ} > t_{1−α/2, ν})`, `ν = 2(n − 1)`, noncentrality `λ = √(n/2) · |δ|/σ`.
///
/// Like R's default (`strict = FALSE`) it counts rejections in the direction of the effect only;
/// the other tail adds less than `α/2`. `n_per_arm` need not be an integer.
///
/// # Errors
/// As [`sample_size_per_arm_normal`]; [`StatsError::InvalidParameter`] unless `n_per_arm > 1`.
pub fn power_two_sample_t(design: &TwoArmDesign, n_per_arm: f64) -> Result<f64, StatsError> {
    design.check()?;
    if !(n_per_arm.is_finite() && n_per_arm > 1.0) {
        return Err(StatsError::InvalidParameter {
            what: "n_per_arm",
            value: n_per_arm,
            requirement: "must be finite and > 1",
        });
    }
    let df = 2.0 * (n_per_arm - 1.0);
    let critical = student_t_quantile(1.0 - 0.5 * design.alpha, df)?;
    let noncentrality = (0.5 * n_per_arm).sqrt() * design.effect.abs() / design.sd;
    Ok(1.0 - noncentral_t_cdf(critical, df, noncentrality)?)
}

/// Per-arm sample size of the exact two-sample t test: the `n` (unrounded) at which
/// [`power_two_sample_t`] equals `power`; R's `power.t.test(delta, sd, sig.level, power)$n`.
///
/// Solved by bisection to a relative tolerance of 1e-12 on `n ∈ (1, 10⁷]` (R searches
/// `[2, 10⁷]` with `uniroot`, extending it if needed, at a default tolerance of only 1.2e-4).
///
/// # Errors
/// As [`sample_size_per_arm_normal`]; [`StatsError::InvalidParameter`] if even 10⁷ patients per
/// arm do not reach the power.
pub fn sample_size_per_arm_t(design: &TwoArmDesign, power: f64) -> Result<f64, StatsError> {
    const MAX_N: f64 = 1e7;
    design.check()?;
    check_open_unit("power", power)?;
    if power_two_sample_t(design, MAX_N)? < power {
        return Err(StatsError::InvalidParameter {
            what: "effect",
            value: design.effect,
            requirement: "is too small to reach the power with 1e7 patients per arm",
        });
    }
    let (mut lo, mut hi) = (1.0_f64, MAX_N);
    // Start the bracket at the normal approximation, which is close below the answer.
    let guess = sample_size_per_arm_normal(design, power)?.max(2.0);
    if guess < MAX_N {
        if power_two_sample_t(design, guess)? < power {
            lo = guess;
        } else {
            hi = guess;
        }
    }
    while hi - lo > 1e-12 * hi {
        let mid = 0.5 * (lo + hi);
        if power_two_sample_t(design, mid)? < power {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// PROCOVA sample size: `n · (1 − ρ²)`, with `ρ` the correlation between the prognostic score
/// and the outcome (docs/domain.md §3; Schuler et al. 2021).
///
/// Applies to any `n` (per arm or total) planned without the covariate; unrounded. Sponsors
/// deflate `ρ` conservatively when planning; Siegfried, Senn & Hothorn (2023) write the factor
/// `1 − R²ρ²` — pass `R·ρ` as `correlation` for that form.
///
/// # Errors
/// [`StatsError::InvalidParameter`] unless `n > 0` is finite and `−1 ≤ ρ ≤ 1`.
pub fn procova_sample_size(n_without_covariate: f64, correlation: f64) -> Result<f64, StatsError> {
    if !(n_without_covariate.is_finite() && n_without_covariate > 0.0) {
        return Err(StatsError::InvalidParameter {
            what: "n_without_covariate",
            value: n_without_covariate,
            requirement: "must be finite and > 0",
        });
    }
    if !(-1.0..=1.0).contains(&correlation) {
        return Err(StatsError::InvalidParameter {
            what: "correlation",
            value: correlation,
            requirement: "must be in [-1, 1]",
        });
    }
    Ok(n_without_covariate * (1.0 - correlation * correlation))
}

fn check_open_unit(what: &'static str, value: f64) -> Result<(), StatsError> {
    if value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            what,
            value,
            requirement: "must be in (0, 1)",
        })
    }
}

fn check_values(what: &'static str, values: &[f64]) -> Result<(), StatsError> {
    if values.is_empty() {
        return Err(StatsError::Empty { what });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(StatsError::NonFinite {
            what,
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

fn check_column(what: &'static str, column: &[f64], expected: usize) -> Result<(), StatsError> {
    if column.len() != expected {
        return Err(StatsError::LengthMismatch {
            what,
            expected,
            got: column.len(),
        });
    }
    check_values(what, column)
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_regression_matches_hand_computation() {
        // x = 0..3, y = (1.1, 2.9, 5.1, 6.9): x̄ = 1.5, ȳ = 4, Sxx = 5, Sxy = 9.8, so the slope is
        // 1.96 and the intercept 4 − 1.96·1.5 = 1.06. Residuals (0.04, −0.12, 0.12, −0.04) give
        // RSS = 0.032, σ̂² = 0.016 and SE(slope) = √(0.016/5).
        let fit = ols(&[1.1, 2.9, 5.1, 6.9], &[&[0.0, 1.0, 2.0, 3.0]]).unwrap();
        let slope = fit.coefficients[1];
        assert!((fit.coefficients[0].estimate - 1.06).abs() < 1e-12);
        assert!((slope.estimate - 1.96).abs() < 1e-12);
        assert!((fit.rss - 0.032).abs() < 1e-12);
        assert!((slope.std_error - (0.016_f64 / 5.0).sqrt()).abs() < 1e-12);
        assert_eq!(fit.df_residual, 2);
    }

    #[test]
    fn difference_in_means_equals_ols_on_indicator() {
        let treated = [5.0, 7.5, 6.1, 8.2, 6.6];
        let control = [4.2, 5.9, 3.8, 5.1];
        let direct = difference_in_means(&treated, &control).unwrap();
        let outcome: Vec<f64> = treated.iter().chain(&control).copied().collect();
        let indicator: Vec<bool> = (0..9).map(|i| i < 5).collect();
        let via_ols = ancova(&outcome, &indicator, &[]).unwrap();
        for (a, b) in [
            (direct.estimate, via_ols.estimate),
            (direct.std_error, via_ols.std_error),
            (direct.p_value, via_ols.p_value),
            (direct.ci_lower, via_ols.ci_lower),
        ] {
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
        }
        assert_eq!(direct.df, 7);
    }

    #[test]
    fn domain_worked_example_gives_198_in_total() {
        // docs/domain.md §3: standardised effect 0.4, two-sided α 0.05, power 80 %, 1:1 →
        // total ≈ 198.
        // z_0.975 = 1.9599640, z_0.8 = 0.8416212 (standard tables):
        // 2·(2.8015852)²/0.4² = 12.5·7.8488797 = 98.110997 per arm → 99 → 198.
        let design = TwoArmDesign {
            effect: 0.4,
            sd: 1.0,
            alpha: 0.05,
        };
        let per_arm = sample_size_per_arm_normal(&design, 0.8).unwrap();
        assert!((per_arm - 98.110_997).abs() < 1e-5, "{per_arm}");
        assert!((2.0 * per_arm.ceil() - 198.0).abs() < 0.5);
        // PROCOVA with ρ = 0.5 needs three quarters of that.
        let reduced = procova_sample_size(per_arm, 0.5).unwrap();
        assert!((reduced - 0.75 * per_arm).abs() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(matches!(ols(&[], &[]), Err(StatsError::Empty { .. })));
        assert!(matches!(
            ols(&[1.0, 2.0, 3.0], &[&[1.0, 2.0]]),
            Err(StatsError::LengthMismatch { .. })
        ));
        assert!(matches!(
            ols(&[1.0, f64::NAN, 3.0], &[]),
            Err(StatsError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            ols(&[1.0, 2.0], &[&[1.0, 2.0]]),
            Err(StatsError::TooFewObservations { .. })
        ));
        assert!(matches!(
            ols(&[3.0, 3.0, 3.0], &[]),
            Err(StatsError::NoVariation { .. })
        ));
        // Second covariate = 2 × first: column 2 of the design is collinear.
        assert!(matches!(
            ols(
                &[1.0, 3.0, 2.0, 5.0],
                &[&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 6.0, 8.0]]
            ),
            Err(StatsError::Collinear { column: 2 })
        ));
        assert!(matches!(
            ols(&[1.0, 3.0, 2.0, 5.0], &[&[7.0, 7.0, 7.0, 7.0]]),
            Err(StatsError::Collinear { column: 1 })
        ));
        assert!(matches!(
            difference_in_means(&[], &[1.0, 2.0]),
            Err(StatsError::Empty { .. })
        ));
        assert!(matches!(
            difference_in_means(&[1.0, 1.0], &[2.0, 2.0]),
            Err(StatsError::NoVariation { .. })
        ));
        assert!(matches!(
            ancova(&[1.0, 2.0, 3.0], &[true, true, true], &[]),
            Err(StatsError::TooFewObservations { .. })
        ));
        let design = TwoArmDesign {
            effect: 0.0,
            sd: 1.0,
            alpha: 0.05,
        };
        assert!(matches!(
            sample_size_per_arm_normal(&design, 0.8),
            Err(StatsError::InvalidParameter { .. })
        ));
        assert!(matches!(
            procova_sample_size(100.0, 1.5),
            Err(StatsError::InvalidParameter { .. })
        ));
    }
}
