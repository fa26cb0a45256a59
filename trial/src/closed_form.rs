//! Closed-form power and sample size of a two-arm trial, to print next to the simulated ones.
//!
//! Continuous endpoints (two-sample t test, or ANCOVA with `k` covariates that explain a fraction
//! `R²` of the outcome variance; PROCOVA is ANCOVA on the prognostic score with `R² = ρ²`):
//!
//! ```text
//! σ_adj = σ·√(1 − R²),   ν = n_C + n_T − 2 − k,   λ = |δ| / (σ_adj·√(1/n_C + 1/n_T))
//! power = P(T'_{ν,λ} > t_{1−α/2, ν})            (noncentral t; one tail, as R's power.t.test)
//! ```
//!
//! For `n_C = n_T`, `k = 0`, `R² = 0` this is exactly R's `power.t.test` ([`power_two_sample_t`]).
//! The sample size inverts it over the total `N` with `n_C = f·N`, `n_T = (1 − f)·N` (bisection).
//!
//! Time-to-event endpoints (Schoenfeld 1981, two-sided level α, allocation fraction `f`):
//! `power = Φ(|β|·√(D·f·(1 − f)) − z_{1−α/2})` for `D` events and log hazard ratio `β`, and
//! `D = (z_{1−α/2} + z_{power})² / (f·(1 − f)·β²)` events for a target power.
//!
//! [`power_two_sample_t`]: crate::linear::power_two_sample_t

use crate::distributions::{
    StatsError, noncentral_t_cdf, normal_cdf, normal_quantile, student_t_quantile,
};

/// A planned comparison of means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeansPlan {
    /// True difference in means δ (outcome units).
    pub effect: f64,
    /// Outcome standard deviation σ in the control population (outcome units).
    pub sd: f64,
    /// Fraction of the outcome variance explained by the covariates, `R²` (`ρ²` for PROCOVA).
    pub r_squared: f64,
    /// Number of covariates `k` (degrees of freedom they take).
    pub n_covariates: usize,
    /// Two-sided significance level α.
    pub alpha: f64,
}

impl MeansPlan {
    fn check(&self) -> Result<(), StatsError> {
        if !(self.effect.is_finite() && self.effect.abs() > 0.0) {
            return Err(invalid(
                "effect",
                self.effect,
                "must be finite and non-zero",
            ));
        }
        if !(self.sd.is_finite() && self.sd > 0.0) {
            return Err(invalid("sd", self.sd, "must be finite and > 0"));
        }
        if !(0.0..1.0).contains(&self.r_squared) {
            return Err(invalid("r_squared", self.r_squared, "must be in [0, 1)"));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(invalid("alpha", self.alpha, "must be in (0, 1)"));
        }
        Ok(())
    }

    /// Power with `n_control` and `n_treated` patients (need not be integers).
    ///
    /// # Errors
    /// [`StatsError::InvalidParameter`] for a zero effect, non-positive σ, `R²` outside [0, 1),
    /// α outside (0, 1), or fewer than `k + 3` patients.
    pub fn power(&self, n_control: f64, n_treated: f64) -> Result<f64, StatsError> {
        self.check()?;
        let df = n_control + n_treated - 2.0 - self.n_covariates as f64;
        if !(n_control > 0.0 && n_treated > 0.0 && df >= 1.0) {
            return Err(invalid(
                "n",
                n_control + n_treated,
                "leaves no residual degrees of freedom",
            ));
        }
        let sd_adjusted = self.sd * (1.0 - self.r_squared).sqrt();
        let noncentrality =
            self.effect.abs() / (sd_adjusted * (1.0 / n_control + 1.0 / n_treated).sqrt());
        let critical = student_t_quantile(1.0 - 0.5 * self.alpha, df)?;
        Ok(1.0 - noncentral_t_cdf(critical, df, noncentrality)?)
    }

    /// Smallest total `N` (unrounded) with `power(f·N, (1 − f)·N) = power`, `f` the control
    /// fraction; bisection to a relative tolerance of 1e-10 on `[k + 3, 10⁸]`.
    ///
    /// # Errors
    /// As [`MeansPlan::power`]; [`StatsError::InvalidParameter`] if `power` or `f` is outside
    /// (0, 1) or 10⁸ patients do not reach the power.
    pub fn total_sample_size(&self, power: f64, control_fraction: f64) -> Result<f64, StatsError> {
        const MAX_N: f64 = 1e8;
        self.check()?;
        if !(power > 0.0 && power < 1.0) {
            return Err(invalid("power", power, "must be in (0, 1)"));
        }
        if !(control_fraction > 0.0 && control_fraction < 1.0) {
            return Err(invalid(
                "control_fraction",
                control_fraction,
                "must be in (0, 1)",
            ));
        }
        let at = |n: f64| self.power(control_fraction * n, (1.0 - control_fraction) * n);
        // The smallest N with one residual degree of freedom and both arms non-empty.
        let mut lo = (self.n_covariates as f64 + 3.0)
            .max(1.0 / control_fraction.min(1.0 - control_fraction))
            * (1.0 + 1e-12);
        let mut hi = MAX_N;
        if at(hi)? < power {
            return Err(invalid(
                "effect",
                self.effect,
                "is too small to reach the power with 1e8 patients",
            ));
        }
        if at(lo)? >= power {
            return Ok(lo);
        }
        while hi - lo > 1e-10 * hi {
            let mid = 0.5 * (lo + hi);
            if at(mid)? < power {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(0.5 * (lo + hi))
    }
}

/// Schoenfeld's power of the log-rank test (or Cox Wald test) with `events` events, log hazard
/// ratio `log_hr`, control fraction `control_fraction` and two-sided level `alpha`.
///
/// # Errors
/// [`StatsError::InvalidParameter`] for a non-finite log hazard ratio, negative events, or
/// fractions/levels outside (0, 1).
pub fn schoenfeld_power(
    log_hr: f64,
    events: f64,
    control_fraction: f64,
    alpha: f64,
) -> Result<f64, StatsError> {
    if !log_hr.is_finite() {
        return Err(invalid("log_hr", log_hr, "must be finite"));
    }
    if events.is_nan() || events < 0.0 {
        return Err(invalid("events", events, "must be >= 0"));
    }
    if !(control_fraction > 0.0 && control_fraction < 1.0) {
        return Err(invalid(
            "control_fraction",
            control_fraction,
            "must be in (0, 1)",
        ));
    }
    let z_alpha = normal_quantile(1.0 - 0.5 * alpha)?;
    let f = control_fraction;
    Ok(normal_cdf(
        log_hr.abs() * (events * f * (1.0 - f)).sqrt() - z_alpha,
    ))
}

/// Schoenfeld's number of events for a target power (see [`schoenfeld_power`]).
///
/// # Errors
/// As [`schoenfeld_power`]; also for `log_hr = 0` or `power` outside (0, 1).
pub fn schoenfeld_events(
    log_hr: f64,
    power: f64,
    control_fraction: f64,
    alpha: f64,
) -> Result<f64, StatsError> {
    if !(log_hr.is_finite() && log_hr.abs() > 0.0) {
        return Err(invalid("log_hr", log_hr, "must be finite and non-zero"));
    }
    if !(control_fraction > 0.0 && control_fraction < 1.0) {
        return Err(invalid(
            "control_fraction",
            control_fraction,
            "must be in (0, 1)",
        ));
    }
    let z = normal_quantile(1.0 - 0.5 * alpha)? + normal_quantile(power)?;
    let f = control_fraction;
    Ok(z * z / (f * (1.0 - f) * log_hr * log_hr))
}

fn invalid(what: &'static str, value: f64, requirement: &'static str) -> StatsError {
    StatsError::InvalidParameter {
        what,
        value,
        requirement,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linear::{TwoArmDesign, power_two_sample_t, sample_size_per_arm_t};

    #[test]
    fn equal_arms_without_covariates_equal_power_t_test() {
        // power_two_sample_t equals R's power.t.test (tests/linear_vs_r.rs); with n_C = n_T,
        // k = 0 and R² = 0 the formula is the same, so the two agree to rounding.
        let plan = MeansPlan {
            effect: 0.4,
            sd: 1.0,
            r_squared: 0.0,
            n_covariates: 0,
            alpha: 0.05,
        };
        let design = TwoArmDesign {
            effect: 0.4,
            sd: 1.0,
            alpha: 0.05,
        };
        for n in [10.0, 50.0, 99.08] {
            let a = plan.power(n, n).unwrap();
            let b = power_two_sample_t(&design, n).unwrap();
            assert!((a - b).abs() < 1e-13, "{n}: {a} vs {b}");
        }
        let total = plan.total_sample_size(0.8, 0.5).unwrap();
        let per_arm = sample_size_per_arm_t(&design, 0.8).unwrap();
        assert!(
            (total - 2.0 * per_arm).abs() < 1e-6 * total,
            "{total} vs {per_arm}"
        );
    }

    #[test]
    fn schoenfeld_matches_the_textbook_example() {
        // Hazard ratio 0.7, 1:1, α 0.05, power 0.8: D = 4·(1.959964 + 0.841621)²/ln(0.7)²
        // = 4·7.848880/0.127217 = 246.8 events (Schoenfeld 1983 formula, hand computation).
        let d = schoenfeld_events(0.7_f64.ln(), 0.8, 0.5, 0.05).unwrap();
        assert!((d - 246.78).abs() < 0.05, "{d}");
        let p = schoenfeld_power(0.7_f64.ln(), d, 0.5, 0.05).unwrap();
        assert!((p - 0.8).abs() < 1e-12, "{p}");
    }
}
