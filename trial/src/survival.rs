//! Time-to-event analyses: Kaplan–Meier with Greenwood confidence intervals and the median,
//! the log-rank test for two or more groups, and the Cox proportional-hazards model.
//!
//! Equal to R's `survival` package (`survfit`, `print.survfit`, `survdiff`, `coxph`); see
//! `tests/survival_vs_r.rs` and `tests/fixtures/make_lung_reference.R`.
//!
//! Data convention for every function: one entry per patient; `times[i]` is the follow-up time
//! (finite and > 0, any unit), `events[i]` is `true` for an event and `false` for censoring at
//! that time (R's `status` 1/0). Tied times are exact `f64` equality.

use nalgebra::{DMatrix, DVector};

use crate::distributions::{ChiSquareTest, StatsError, normal_cdf, normal_quantile};

/// Level of the pointwise and median confidence intervals: 95 %, two-sided.
pub const CONFIDENCE_LEVEL: f64 = 0.95;

/// Transform under which the pointwise Kaplan–Meier confidence interval is symmetric.
///
/// With `se` the Greenwood standard error of `log S(t)` and `z = Φ⁻¹(0.975)`:
/// - `Log` (R survival's default `conf.type = "log"`): `S · exp(±z · se)`, the upper end capped at 1;
/// - `LogLog` (lifelines' default; R's `conf.type = "log-log"`):
///   `S^exp(∓z · se / log S)`, i.e. symmetric on `log(−log S)`; undefined where `S = 1`.
///
/// Both are undefined (`None`) where `S = 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CiTransform {
    /// Symmetric on `log S` (R's default).
    #[default]
    Log,
    /// Symmetric on `log(−log S)` (lifelines' default).
    LogLog,
}

/// One row of a Kaplan–Meier table: a distinct observed time (event or censoring), as R's
/// `survfit` reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KmStep {
    /// The time.
    pub time: f64,
    /// Patients at risk at `time` (follow-up time ≥ `time`).
    pub n_risk: usize,
    /// Events at `time`.
    pub n_event: usize,
    /// Censorings at `time`.
    pub n_censor: usize,
    /// Kaplan–Meier estimate `S(time) = Π_{tⱼ ≤ time} (1 − dⱼ/nⱼ)`.
    pub survival: f64,
    /// Greenwood standard error of `log S(time)` (R's `survfit()$std.err`):
    /// `√(Σ_{tⱼ ≤ time} dⱼ / (nⱼ (nⱼ − dⱼ)))`; `+∞` once every patient at risk has had the event.
    /// The standard error of `S` itself is `survival · std_err`.
    pub std_err: f64,
    /// Lower end of the pointwise 95 % CI, `None` where the transform is undefined.
    pub lower: Option<f64>,
    /// Upper end of the pointwise 95 % CI, `None` where the transform is undefined.
    pub upper: Option<f64>,
}

/// Median survival time with its 95 % confidence interval; `None` where not reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MedianSurvival {
    /// Median survival time.
    pub median: Option<f64>,
    /// Lower confidence limit.
    pub lower: Option<f64>,
    /// Upper confidence limit.
    pub upper: Option<f64>,
}

/// A Kaplan–Meier estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct KaplanMeier {
    /// One row per distinct time, increasing.
    pub steps: Vec<KmStep>,
    /// Number of patients.
    pub n: usize,
    /// Transform used for the confidence intervals.
    pub transform: CiTransform,
}

impl KaplanMeier {
    /// `S(t)`: 1 before the first time, right-continuous steps after.
    #[must_use]
    pub fn survival_at(&self, t: f64) -> f64 {
        let after = self.steps.partition_point(|step| step.time <= t);
        if after == 0 {
            1.0
        } else {
            self.steps[after - 1].survival
        }
    }

    /// Median survival time and its 95 % CI, computed as R's `print.survfit` does.
    ///
    /// The median is the first time with `S(t) ≤ ½`; if `S` equals ½ (within `√ε ≈ 1.5e-8`) on a
    /// flat stretch, the median is the midpoint between the start of that stretch and the next
    /// lower step. The lower confidence limit is the same quantity computed on the lower CI
    /// curve, the upper limit on the upper CI curve (Brookmeyer–Crowley style inversion of the
    /// pointwise intervals, so it inherits the [`CiTransform`]); rows where a curve is undefined
    /// are skipped.
    #[must_use]
    pub fn median(&self) -> MedianSurvival {
        MedianSurvival {
            median: first_below_half(self.steps.iter().map(|s| (s.time, Some(s.survival)))),
            lower: first_below_half(self.steps.iter().map(|s| (s.time, s.lower))),
            upper: first_below_half(self.steps.iter().map(|s| (s.time, s.upper))),
        }
    }
}

/// R's `minmin` (survival's `survmean`): the first time a curve is ≤ ½, averaging over a flat ½.
fn first_below_half(curve: impl Iterator<Item = (f64, Option<f64>)>) -> Option<f64> {
    let tolerance = f64::EPSILON.sqrt();
    let mut kept = curve
        .filter_map(|(time, value)| value.map(|v| (time, v)))
        .filter(|&(_, value)| value < 0.5 + tolerance);
    let (first_time, first_value) = kept.next()?;
    if (first_value - 0.5).abs() < tolerance
        && let Some((next_time, _)) = kept.find(|&(_, value)| value < first_value)
    {
        return Some(0.5 * (first_time + next_time));
    }
    Some(first_time)
}

/// Kaplan–Meier estimate with Greenwood variance and pointwise 95 % confidence intervals.
///
/// `S(t) = Π_{tⱼ ≤ t} (1 − dⱼ/nⱼ)` over distinct times `tⱼ` with `dⱼ` events among `nⱼ` at risk;
/// `Var(log S(t)) = Σ dⱼ/(nⱼ(nⱼ − dⱼ))` (Greenwood); intervals per [`CiTransform`]. Reports every
/// distinct time, including censoring-only times, exactly like R's
/// `survfit(Surv(time, status) ~ 1, conf.type = "log" | "log-log")`.
///
/// # Errors
/// [`StatsError::Empty`], [`StatsError::LengthMismatch`], or [`StatsError::InvalidTime`] for a
/// time that is not finite and positive.
///
/// # Examples
/// ```
/// use twin_trial::survival::{CiTransform, kaplan_meier};
/// // Two events at t = 2 among 4 at risk (one censored at t = 1): S(2) = 1 − 2/4.
/// let km = kaplan_meier(&[1.0, 2.0, 2.0, 3.0, 4.0], &[false, true, true, false, true], CiTransform::Log)?;
/// assert!((km.survival_at(2.5) - 0.5).abs() < 1e-15);
/// assert_eq!(km.median().median, Some(3.0)); // S = ½ on [2, 4): midpoint of 2 and 4.
/// # Ok::<(), twin_trial::distributions::StatsError>(())
/// ```
pub fn kaplan_meier(
    times: &[f64],
    events: &[bool],
    transform: CiTransform,
) -> Result<KaplanMeier, StatsError> {
    check_survival_data(times, events)?;
    let z = normal_quantile(0.5 + 0.5 * CONFIDENCE_LEVEL)?;
    let order = order_by_time(times);
    let n = times.len();
    let mut steps = Vec::new();
    let mut n_risk = n;
    let mut survival = 1.0;
    let mut cumulative_variance = 0.0;
    let mut position = 0;
    while position < n {
        let time = times[order[position]];
        let (mut n_event, mut n_censor) = (0_usize, 0_usize);
        while position < n && times[order[position]].total_cmp(&time).is_eq() {
            if events[order[position]] {
                n_event += 1;
            } else {
                n_censor += 1;
            }
            position += 1;
        }
        if n_event > 0 {
            let (d, r) = (n_event as f64, n_risk as f64);
            survival *= 1.0 - d / r;
            cumulative_variance += if n_event < n_risk {
                d / (r * (r - d))
            } else {
                f64::INFINITY
            };
        }
        let std_err = cumulative_variance.sqrt();
        let (lower, upper) = pointwise_interval(survival, std_err, z, transform);
        steps.push(KmStep {
            time,
            n_risk,
            n_event,
            n_censor,
            survival,
            std_err,
            lower,
            upper,
        });
        n_risk -= n_event + n_censor;
    }
    Ok(KaplanMeier {
        steps,
        n,
        transform,
    })
}

/// Pointwise CI for `S` given the standard error of `log S` (R's `survfit_confint`).
fn pointwise_interval(
    survival: f64,
    std_err: f64,
    z: f64,
    transform: CiTransform,
) -> (Option<f64>, Option<f64>) {
    if survival <= 0.0 {
        return (None, None);
    }
    match transform {
        CiTransform::Log => {
            let log_s = survival.ln();
            let lower = (log_s - z * std_err).exp();
            let upper = (log_s + z * std_err).exp().min(1.0);
            (Some(lower), Some(upper))
        }
        CiTransform::LogLog => {
            if survival >= 1.0 {
                return (None, None);
            }
            let log_s = survival.ln();
            let log_minus_log = (-log_s).ln();
            let half_width = z * std_err / log_s;
            let lower = (-(log_minus_log - half_width).exp()).exp();
            let upper = (-(log_minus_log + half_width).exp()).exp();
            (Some(lower), Some(upper))
        }
    }
}

/// One group of a log-rank test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogRankGroup {
    /// The group label as given.
    pub label: usize,
    /// Patients in the group.
    pub n: usize,
    /// Observed events `O`.
    pub observed: usize,
    /// Expected events under the null `E = Σⱼ dⱼ · n_gj / nⱼ`.
    pub expected: f64,
}

/// Result of a log-rank test.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRank {
    /// Groups in increasing label order.
    pub groups: Vec<LogRankGroup>,
    /// Hypergeometric covariance matrix of `O − E`, `k × k` row-major in group order:
    /// `V_gh = Σⱼ dⱼ (nⱼ − dⱼ)/(nⱼ²(nⱼ − 1)) · n_gj (nⱼ δ_gh − n_hj)`.
    pub variance: Vec<f64>,
    /// `χ² = (O − E)ᵀ V⁻¹ (O − E)` over the groups with `E > 0` less the first, with
    /// `df = (number of groups with E > 0) − 1`.
    pub test: ChiSquareTest,
}

/// Log-rank test of equal survival in `k ≥ 2` groups (Mantel–Haenszel; R's
/// `survdiff(Surv(time, status) ~ group)` with its default `rho = 0`).
///
/// `groups[i]` is any label for patient `i`'s group; labels are sorted increasingly.
///
/// # Errors
/// As [`kaplan_meier`]; [`StatsError::LengthMismatch`] for `groups`; [`StatsError::NoEvents`];
/// [`StatsError::TooFewGroups`] if fewer than two groups have expected events;
/// [`StatsError::Singular`] if the covariance matrix cannot be inverted.
pub fn log_rank(times: &[f64], events: &[bool], groups: &[usize]) -> Result<LogRank, StatsError> {
    check_survival_data(times, events)?;
    check_length("groups", groups.len(), times.len())?;
    let mut labels = groups.to_vec();
    labels.sort_unstable();
    labels.dedup();
    let k = labels.len();
    // `binary_search` always succeeds: every label comes from `groups`.
    let group_of: Vec<usize> = groups
        .iter()
        .map(|g| labels.binary_search(g).unwrap_or_default())
        .collect();
    if !events.iter().any(|&e| e) {
        return Err(StatsError::NoEvents);
    }
    let mut at_risk = vec![0_usize; k];
    for &g in &group_of {
        at_risk[g] += 1;
    }
    let sizes = at_risk.clone();
    let mut observed = vec![0_usize; k];
    let mut expected = vec![0.0; k];
    let mut variance = vec![0.0; k * k];
    let mut deaths_by_group = vec![0_usize; k];
    let mut leaving = vec![0_usize; k];

    let order = order_by_time(times);
    let n = times.len();
    let mut n_risk = n;
    let mut position = 0;
    while position < n {
        let time = times[order[position]];
        let mut deaths = 0_usize;
        deaths_by_group.fill(0);
        leaving.fill(0);
        while position < n && times[order[position]].total_cmp(&time).is_eq() {
            let patient = order[position];
            let g = group_of[patient];
            leaving[g] += 1;
            if events[patient] {
                deaths += 1;
                deaths_by_group[g] += 1;
            }
            position += 1;
        }
        if deaths > 0 {
            let (d, r) = (deaths as f64, n_risk as f64);
            for g in 0..k {
                observed[g] += deaths_by_group[g];
                expected[g] += d * at_risk[g] as f64 / r;
            }
            if n_risk > 1 {
                let factor = d * (r - d) / (r * r * (r - 1.0));
                for g in 0..k {
                    let n_g = at_risk[g] as f64;
                    for h in 0..k {
                        let kronecker = if g == h { r } else { 0.0 };
                        variance[g * k + h] += factor * n_g * (kronecker - at_risk[h] as f64);
                    }
                }
            }
        }
        for g in 0..k {
            at_risk[g] -= leaving[g];
            n_risk -= leaving[g];
        }
    }

    // As survdiff: keep the groups with E > 0 and drop the first of them.
    let used: Vec<usize> = (0..k).filter(|&g| expected[g] > 0.0).collect();
    if used.len() < 2 {
        return Err(StatsError::TooFewGroups { got: used.len() });
    }
    let free = &used[1..];
    let m = free.len();
    let sub_variance = DMatrix::from_fn(m, m, |i, j| variance[free[i] * k + free[j]]);
    let difference = DVector::from_fn(m, |i, _| observed[free[i]] as f64 - expected[free[i]]);
    let solved = sub_variance
        .lu()
        .solve(&difference)
        .ok_or(StatsError::Singular {
            what: "log-rank covariance matrix",
        })?;
    let statistic = difference.dot(&solved).max(0.0);
    let test = ChiSquareTest::new(statistic, m)?;
    let groups = (0..k)
        .map(|g| LogRankGroup {
            label: labels[g],
            n: sizes[g],
            observed: observed[g],
            expected: expected[g],
        })
        .collect();
    Ok(LogRank {
        groups,
        variance,
        test,
    })
}

/// How the Cox partial likelihood handles tied event times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ties {
    /// Efron's approximation (R `coxph`'s default): the `d` tied deaths at a time remove
    /// `l/d` of their own risk weight from the `l`-th denominator, `l = 0, …, d − 1`.
    #[default]
    Efron,
    /// Breslow's approximation: all `d` tied deaths share the full risk-set denominator.
    Breslow,
}

/// Options of [`cox_ph_with_options`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoxOptions {
    /// Tie handling. By default, this is [`Ties::Efron`].
    pub ties: Ties,
    /// Maximum Newton–Raphson iterations. By default, this is `20` (R's `iter.max`).
    pub max_iterations: usize,
    /// Convergence when `|1 − ℓ_old/ℓ_new| ≤ tolerance` after a full (unhalved) step. By default,
    /// this is `1e-9` (R's `eps`).
    pub tolerance: f64,
}

impl Default for CoxOptions {
    fn default() -> Self {
        Self {
            ties: Ties::Efron,
            max_iterations: 20,
            tolerance: 1e-9,
        }
    }
}

/// One Cox regression coefficient with Wald inference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoxCoefficient {
    /// Log hazard ratio `β̂` per unit of the covariate.
    pub estimate: f64,
    /// Standard error `√[I(β̂)⁻¹]_jj` (inverse observed information, model-based).
    pub std_error: f64,
    /// Wald `z = β̂ / SE`.
    pub z: f64,
    /// Two-sided p-value `2 Φ(−|z|)`.
    pub p_value: f64,
    /// Hazard ratio `exp(β̂)`.
    pub hazard_ratio: f64,
    /// Lower end of the 95 % Wald CI of the hazard ratio, `exp(β̂ − z_{0.975} SE)`.
    pub hr_lower: f64,
    /// Upper end of the 95 % Wald CI of the hazard ratio, `exp(β̂ + z_{0.975} SE)`.
    pub hr_upper: f64,
}

/// A fitted Cox proportional-hazards model, `h(t | x) = h₀(t) exp(βᵀx)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CoxFit {
    /// One entry per covariate, in the order given.
    pub coefficients: Vec<CoxCoefficient>,
    /// `I(β̂)⁻¹`, `p × p` row-major.
    pub variance: Vec<f64>,
    /// Log partial likelihood at `β = 0`.
    pub loglik_null: f64,
    /// Log partial likelihood at `β̂`.
    pub loglik: f64,
    /// Likelihood-ratio test `2 (ℓ(β̂) − ℓ(0))`, `df = p`.
    pub likelihood_ratio: ChiSquareTest,
    /// Wald test `β̂ᵀ I(β̂) β̂`, `df = p`.
    pub wald: ChiSquareTest,
    /// Score (log-rank for one binary covariate) test `U(0)ᵀ I(0)⁻¹ U(0)`, `df = p`.
    pub score: ChiSquareTest,
    /// Newton–Raphson iterations used.
    pub iterations: usize,
    /// Number of patients.
    pub n: usize,
    /// Number of events.
    pub n_events: usize,
}

/// Cox proportional-hazards regression with the default [`CoxOptions`] and the given ties method.
///
/// `covariates` holds one column per covariate (each `times.len()` long).
///
/// # Errors
/// See [`cox_ph_with_options`].
pub fn cox_ph(
    times: &[f64],
    events: &[bool],
    covariates: &[&[f64]],
    ties: Ties,
) -> Result<CoxFit, StatsError> {
    cox_ph_with_options(
        times,
        events,
        covariates,
        &CoxOptions {
            ties,
            ..CoxOptions::default()
        },
    )
}

/// Cox proportional-hazards regression by maximum partial likelihood (R's `coxph`).
///
/// Newton–Raphson from `β = 0` on the Efron or Breslow partial likelihood, halving the step while
/// the log-likelihood decreases; covariates are centred at their means internally (this changes
/// no reported number) and risk weights are scaled by `exp(−max ηᵢ)` so that `exp` cannot
/// overflow. Standard errors come from the inverse observed information at `β̂`.
///
/// # Errors
/// - data errors as [`kaplan_meier`], plus [`StatsError::LengthMismatch`] /
///   [`StatsError::NonFinite`] for covariates and [`StatsError::Empty`] for no covariates;
/// - [`StatsError::NoEvents`];
/// - [`StatsError::ConstantCovariate`] for a covariate with no variation;
/// - [`StatsError::Singular`] if the information matrix is not positive definite (e.g. collinear
///   covariates);
/// - [`StatsError::NoConvergence`] after `max_iterations` iterations or 30 halvings of one step;
/// - [`StatsError::InfiniteCoefficient`] if the likelihood converged while a coefficient still
///   moves (R's "coefficient may be infinite" warning: `|I⁻¹U|_j > √tolerance · |β_j|`).
pub fn cox_ph_with_options(
    times: &[f64],
    events: &[bool],
    covariates: &[&[f64]],
    options: &CoxOptions,
) -> Result<CoxFit, StatsError> {
    const MAX_HALVINGS: usize = 30;
    check_survival_data(times, events)?;
    if covariates.is_empty() {
        return Err(StatsError::Empty { what: "covariates" });
    }
    let n = times.len();
    let p = covariates.len();
    for (index, column) in covariates.iter().enumerate() {
        check_length("covariate column", column.len(), n)?;
        if let Some(row) = column.iter().position(|v| !v.is_finite()) {
            return Err(StatsError::NonFinite {
                what: "covariate",
                index: row,
                value: column[row],
            });
        }
        let first = column[0];
        if column.iter().all(|v| v.total_cmp(&first).is_eq()) {
            return Err(StatsError::ConstantCovariate { index });
        }
    }
    let n_events = events.iter().filter(|&&e| e).count();
    if n_events == 0 {
        return Err(StatsError::NoEvents);
    }
    if options.tolerance.is_nan() || options.tolerance <= 0.0 {
        return Err(StatsError::InvalidParameter {
            what: "tolerance",
            value: options.tolerance,
            requirement: "must be > 0",
        });
    }

    let data = CoxData::new(times, events, covariates);
    let mut work = CoxWork::new(p);
    let mut beta = vec![0.0; p];
    let mut loglik = data.evaluate(&beta, options.ties, &mut work);
    let loglik_null = loglik;
    let (score_statistic, mut step) = newton_step(&work, p)?;
    let score = ChiSquareTest::new(score_statistic.max(0.0), p)?;

    let mut candidate = vec![0.0; p];
    let mut iterations = 0;
    loop {
        if iterations >= options.max_iterations {
            return Err(StatsError::NoConvergence {
                what: "Cox Newton-Raphson",
                iterations,
            });
        }
        iterations += 1;
        let mut halvings = 0;
        let new_loglik = loop {
            for j in 0..p {
                candidate[j] = beta[j] + step[j];
            }
            let value = data.evaluate(&candidate, options.ties, &mut work);
            // As R's coxfit6: convergence of a full step is checked before a decrease is
            // treated as overshooting, so a step that changes ℓ by rounding only (large n)
            // converges instead of being halved.
            let within_tolerance =
                halvings == 0 && (value - loglik).abs() <= options.tolerance * value.abs();
            if value.is_finite() && (value >= loglik || within_tolerance) {
                break value;
            }
            halvings += 1;
            if halvings > MAX_HALVINGS {
                return Err(StatsError::NoConvergence {
                    what: "Cox step halving",
                    iterations,
                });
            }
            step.iter_mut().for_each(|s| *s *= 0.5);
        };
        let converged =
            halvings == 0 && (new_loglik - loglik).abs() <= options.tolerance * new_loglik.abs();
        beta.copy_from_slice(&candidate);
        loglik = new_loglik;
        step = newton_step(&work, p)?.1;
        if converged {
            break;
        }
    }

    let information = DMatrix::from_row_slice(p, p, &work.information);
    let variance = information
        .clone()
        .cholesky()
        .ok_or(StatsError::Singular {
            what: "Cox information matrix",
        })?
        .inverse();
    // R's check for a coefficient drifting to infinity: the next Newton step is still large.
    let toler_inf = options.tolerance.sqrt();
    for j in 0..p {
        if step[j].abs() > options.tolerance && step[j].abs() > toler_inf * beta[j].abs() {
            return Err(StatsError::InfiniteCoefficient { index: j });
        }
    }
    let z_ci = normal_quantile(0.5 + 0.5 * CONFIDENCE_LEVEL)?;
    let coefficients = (0..p)
        .map(|j| {
            let estimate = beta[j];
            let std_error = variance[(j, j)].sqrt();
            let z = estimate / std_error;
            CoxCoefficient {
                estimate,
                std_error,
                z,
                p_value: 2.0 * normal_cdf(-z.abs()),
                hazard_ratio: estimate.exp(),
                hr_lower: (estimate - z_ci * std_error).exp(),
                hr_upper: (estimate + z_ci * std_error).exp(),
            }
        })
        .collect();
    let beta_vector = DVector::from_column_slice(&beta);
    let wald_statistic = beta_vector.dot(&(&information * &beta_vector));
    Ok(CoxFit {
        coefficients,
        variance: variance.transpose().as_slice().to_vec(),
        loglik_null,
        loglik,
        likelihood_ratio: ChiSquareTest::new((2.0 * (loglik - loglik_null)).max(0.0), p)?,
        wald: ChiSquareTest::new(wald_statistic.max(0.0), p)?,
        score,
        iterations,
        n,
        n_events,
    })
}

/// Solves `I Δ = U` by Cholesky; returns `(Uᵀ I⁻¹ U, Δ)`.
fn newton_step(work: &CoxWork, p: usize) -> Result<(f64, Vec<f64>), StatsError> {
    let information = DMatrix::from_row_slice(p, p, &work.information);
    let gradient = DVector::from_column_slice(&work.gradient);
    let step = information
        .cholesky()
        .ok_or(StatsError::Singular {
            what: "Cox information matrix",
        })?
        .solve(&gradient);
    Ok((gradient.dot(&step), step.as_slice().to_vec()))
}

/// Patients sorted by decreasing time, covariates centred, row-major.
struct CoxData {
    times: Vec<f64>,
    events: Vec<bool>,
    x: Vec<f64>,
    p: usize,
}

/// Buffers reused across likelihood evaluations.
struct CoxWork {
    eta: Vec<f64>,
    gradient: Vec<f64>,
    information: Vec<f64>,
    risk_s1: Vec<f64>,
    risk_s2: Vec<f64>,
    tied_s1: Vec<f64>,
    tied_s2: Vec<f64>,
    mean: Vec<f64>,
}

impl CoxWork {
    fn new(p: usize) -> Self {
        Self {
            eta: Vec::new(),
            gradient: vec![0.0; p],
            information: vec![0.0; p * p],
            risk_s1: vec![0.0; p],
            risk_s2: vec![0.0; p * p],
            tied_s1: vec![0.0; p],
            tied_s2: vec![0.0; p * p],
            mean: vec![0.0; p],
        }
    }
}

impl CoxData {
    fn new(times: &[f64], events: &[bool], covariates: &[&[f64]]) -> Self {
        let n = times.len();
        let p = covariates.len();
        let mut order = order_by_time(times);
        order.reverse();
        let means: Vec<f64> = covariates
            .iter()
            .map(|c| c.iter().sum::<f64>() / n as f64)
            .collect();
        let mut x = Vec::with_capacity(n * p);
        for &i in &order {
            for j in 0..p {
                x.push(covariates[j][i] - means[j]);
            }
        }
        Self {
            times: order.iter().map(|&i| times[i]).collect(),
            events: order.iter().map(|&i| events[i]).collect(),
            x,
            p,
        }
    }

    /// Log partial likelihood at `beta`; fills the score `U` and information `I` in `work`.
    ///
    /// For a time with `d` deaths, risk-set sums `S0, S1, S2` and death sums `D0, D1, D2` of
    /// `w = exp(η)`, `w x`, `w x xᵀ`, and `f_l = l/d` (Efron) or 0 (Breslow):
    /// `ℓ += Σ_deaths η − Σ_l log(S0 − f_l D0)`, `U += Σ_deaths x − Σ_l a_l`,
    /// `I += Σ_l [(S2 − f_l D2)/(S0 − f_l D0) − a_l a_lᵀ]`, `a_l = (S1 − f_l D1)/(S0 − f_l D0)`.
    fn evaluate(&self, beta: &[f64], ties: Ties, work: &mut CoxWork) -> f64 {
        let p = self.p;
        let n = self.times.len();
        work.eta.clear();
        work.eta.extend(
            self.x
                .chunks_exact(p)
                .map(|row| row.iter().zip(beta).map(|(x, b)| x * b).sum::<f64>()),
        );
        let shift = work.eta.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        work.gradient.fill(0.0);
        work.information.fill(0.0);
        work.risk_s1.fill(0.0);
        work.risk_s2.fill(0.0);
        let mut risk_s0 = 0.0;
        let mut loglik = 0.0;
        let mut position = 0;
        while position < n {
            let time = self.times[position];
            let mut deaths = 0_usize;
            let mut tied_s0 = 0.0;
            work.tied_s1.fill(0.0);
            work.tied_s2.fill(0.0);
            while position < n && self.times[position].total_cmp(&time).is_eq() {
                let row = &self.x[position * p..(position + 1) * p];
                let weight = (work.eta[position] - shift).exp();
                risk_s0 += weight;
                accumulate(&mut work.risk_s1, &mut work.risk_s2, row, weight);
                if self.events[position] {
                    deaths += 1;
                    tied_s0 += weight;
                    accumulate(&mut work.tied_s1, &mut work.tied_s2, row, weight);
                    loglik += work.eta[position];
                    for (g, x) in work.gradient.iter_mut().zip(row) {
                        *g += x;
                    }
                }
                position += 1;
            }
            for l in 0..deaths {
                let fraction = match ties {
                    Ties::Efron => l as f64 / deaths as f64,
                    Ties::Breslow => 0.0,
                };
                let denominator = risk_s0 - fraction * tied_s0;
                loglik -= denominator.ln() + shift;
                for j in 0..p {
                    work.mean[j] = (work.risk_s1[j] - fraction * work.tied_s1[j]) / denominator;
                    work.gradient[j] -= work.mean[j];
                }
                for j in 0..p {
                    for m in 0..p {
                        let idx = j * p + m;
                        work.information[idx] += (work.risk_s2[idx] - fraction * work.tied_s2[idx])
                            / denominator
                            - work.mean[j] * work.mean[m];
                    }
                }
            }
        }
        loglik
    }
}

/// Adds `w·x` to `s1` and `w·x xᵀ` to `s2` (row-major).
fn accumulate(s1: &mut [f64], s2: &mut [f64], row: &[f64], weight: f64) {
    let p = row.len();
    for j in 0..p {
        let wx = weight * row[j];
        s1[j] += wx;
        for m in 0..p {
            s2[j * p + m] += wx * row[m];
        }
    }
}

/// Indices sorting `times` increasingly (stable, so equal times keep input order).
fn order_by_time(times: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by(|&a, &b| times[a].total_cmp(&times[b]));
    order
}

fn check_length(what: &'static str, got: usize, expected: usize) -> Result<(), StatsError> {
    if got == expected {
        Ok(())
    } else {
        Err(StatsError::LengthMismatch {
            what,
            expected,
            got,
        })
    }
}

fn check_survival_data(times: &[f64], events: &[bool]) -> Result<(), StatsError> {
    if times.is_empty() {
        return Err(StatsError::Empty { what: "times" });
    }
    check_length("events", events.len(), times.len())?;
    match times.iter().position(|&t| !(t.is_finite() && t > 0.0)) {
        Some(index) => Err(StatsError::InvalidTime {
            index,
            value: times[index],
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Hand-worked example (also checked with R survival 3.5.3, see the module docs of the test):
    // times 1+, 2, 2, 3+, 4 ('+' = censored).
    const TIMES: [f64; 5] = [1.0, 2.0, 2.0, 3.0, 4.0];
    const EVENTS: [bool; 5] = [false, true, true, false, true];

    #[test]
    fn kaplan_meier_hand_example() {
        // t=1: 5 at risk, censoring only → S = 1, se = 0.
        // t=2: 4 at risk, 2 events → S = 1/2, Var(log S) = 2/(4·2) = 1/4, se = 1/2.
        // t=3: censoring only → unchanged. t=4: 1 at risk, 1 event → S = 0, se = ∞.
        let km = kaplan_meier(&TIMES, &EVENTS, CiTransform::Log).unwrap();
        let survival: Vec<f64> = km.steps.iter().map(|s| s.survival).collect();
        assert_eq!(survival.len(), 4);
        for (got, expected) in survival.iter().zip([1.0, 0.5, 0.5, 0.0]) {
            assert!((got - expected).abs() < 1e-15);
        }
        let n_risk: Vec<usize> = km.steps.iter().map(|s| s.n_risk).collect();
        assert_eq!(n_risk, [5, 4, 2, 1]);
        assert!((km.steps[1].std_err - 0.5).abs() < 1e-15);
        assert!(km.steps[3].std_err.is_infinite());
        // Log CI at t=2: 0.5·exp(∓1.959964·0.5) = (0.18766, 1.33 → capped at 1).
        let z = 1.959_963_984_540_054_f64;
        let lower = km.steps[1].lower.unwrap();
        assert!((lower - 0.5 * (-0.5 * z).exp()).abs() < 1e-14);
        assert!((km.steps[1].upper.unwrap() - 1.0).abs() < 1e-15);
        assert_eq!(km.steps[3].lower, None);
        // First step: S = 1, se = 0 → the log interval is the point (1, 1).
        assert_eq!(
            km.steps[0].lower.map(|v| (v - 1.0).abs() < 1e-15),
            Some(true)
        );
        // Median: S = ½ exactly on [2, 4), next lower step at 4 → (2 + 4)/2 = 3.
        // LCL: first time the lower curve ≤ ½ is 2; UCL: the upper curve never is (R: NA).
        let median = km.median();
        assert_eq!(median.median, Some(3.0));
        assert_eq!(median.lower, Some(2.0));
        assert_eq!(median.upper, None);
        assert!((km.survival_at(0.5) - 1.0).abs() < 1e-15);
        assert!((km.survival_at(3.9) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn log_log_interval_is_undefined_at_one_and_zero() {
        let km = kaplan_meier(&TIMES, &EVENTS, CiTransform::LogLog).unwrap();
        assert_eq!(km.steps[0].lower, None);
        assert_eq!(km.steps[3].upper, None);
        // At S = ½, se = ½: exp(−exp(log(log 2) ∓ z·0.5/log ½)) — R gives (0.05784708, 0.8448613).
        let lower = km.steps[1].lower.unwrap();
        let upper = km.steps[1].upper.unwrap();
        assert!((lower - 0.057_847_08).abs() < 1e-8, "{lower}");
        assert!((upper - 0.844_861_3).abs() < 1e-7, "{upper}");
    }

    #[test]
    fn log_rank_two_groups_by_hand() {
        // Group 0: events at 1 and 3; group 1: event at 2, censored at 4.
        // t=1: n=4 (2,2), d=1 → E0 += 1/2, V += 1·3/(16·3)·2·(4−2) = 1/4.
        // t=2: n=3 (1,2), d=1 → E0 += 1/3, V += 1·2/(9·2)·1·(3−1) = 2/9.
        // t=3: n=2 (1,1), d=1 → E0 += 1/2, V += 1·1/(4·1)·1·(2−1) = 1/4.
        // O0 = 2, E0 = 4/3, V = 13/18; χ² for group 1 (first dropped): (1 − 5/3)²/(13/18) = 8/13.
        let res = log_rank(
            &[1.0, 3.0, 2.0, 4.0],
            &[true, true, true, false],
            &[0, 0, 1, 1],
        )
        .unwrap();
        assert!((res.groups[0].expected - 4.0 / 3.0).abs() < 1e-14);
        assert!((res.variance[0] - 13.0 / 18.0).abs() < 1e-14);
        assert!((res.test.statistic - 8.0 / 13.0).abs() < 1e-14);
        assert_eq!(res.test.df, 1);
    }

    #[test]
    fn cox_single_binary_covariate_score_equals_log_rank_breslow() {
        // Without ties the Cox score test for one binary covariate is the log-rank statistic.
        let times = [1.0, 3.0, 2.0, 4.0, 5.0, 6.0];
        let events = [true, true, true, false, true, true];
        let group = [0.0, 0.0, 1.0, 1.0, 0.0, 1.0];
        let fit = cox_ph(&times, &events, &[&group], Ties::Breslow).unwrap();
        let labels = [0, 0, 1, 1, 0, 1];
        let lr = log_rank(&times, &events, &labels).unwrap();
        assert!((fit.score.statistic - lr.test.statistic).abs() < 1e-12);
    }

    #[test]
    fn no_events_in_one_arm_is_an_infinite_coefficient() {
        // 200 patients, times 1..=200, x = t mod 2, only x = 0 patients have events: the hazard
        // ratio is 0. R 4.2.2 / survival 3.5.3 stops after 19 iterations at β = −20.16 with
        // "Loglik converged before variable 1; coefficient may be infinite".
        let times: Vec<f64> = (1..=200).map(f64::from).collect();
        let x: Vec<f64> = (1..=200).map(|t| f64::from(t % 2)).collect();
        let events: Vec<bool> = x.iter().map(|&v| v < 0.5).collect();
        assert!(matches!(
            cox_ph(&times, &events, &[&x], Ties::Efron),
            Err(StatsError::InfiniteCoefficient { index: 0 })
        ));
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(matches!(
            kaplan_meier(&[], &[], CiTransform::Log),
            Err(StatsError::Empty { .. })
        ));
        assert!(matches!(
            kaplan_meier(&[1.0, 0.0], &[true, true], CiTransform::Log),
            Err(StatsError::InvalidTime { index: 1, .. })
        ));
        assert!(matches!(
            kaplan_meier(&[1.0, f64::NAN], &[true, true], CiTransform::Log),
            Err(StatsError::InvalidTime { index: 1, .. })
        ));
        assert!(matches!(
            kaplan_meier(&[1.0, 2.0], &[true], CiTransform::Log),
            Err(StatsError::LengthMismatch { .. })
        ));
        assert!(matches!(
            log_rank(&[1.0, 2.0], &[false, false], &[0, 1]),
            Err(StatsError::NoEvents)
        ));
        assert!(matches!(
            log_rank(&[1.0, 2.0], &[true, true], &[0, 0]),
            Err(StatsError::TooFewGroups { got: 1 })
        ));
        assert!(matches!(
            cox_ph(
                &[1.0, 2.0, 3.0],
                &[true, true, false],
                &[&[1.0, 1.0, 1.0]],
                Ties::Efron
            ),
            Err(StatsError::ConstantCovariate { index: 0 })
        ));
        assert!(matches!(
            cox_ph(
                &[1.0, 2.0, 3.0],
                &[false, false, false],
                &[&[0.0, 1.0, 1.0]],
                Ties::Efron
            ),
            Err(StatsError::NoEvents)
        ));
        // Collinear covariates: singular information.
        assert!(matches!(
            cox_ph(
                &[1.0, 2.0, 3.0, 4.0],
                &[true, true, true, false],
                &[&[0.0, 1.0, 0.0, 1.0], &[0.0, 2.0, 0.0, 2.0]],
                Ties::Efron
            ),
            Err(StatsError::Singular { .. })
        ));
        // Every event in the x = 0 group happens before any x = 1 patient leaves: the partial
        // likelihood increases monotonically as β → −∞. R 4.2.2 / survival 3.5.3 also stops
        // here ("Ran out of iterations and did not converge", β = −21.9 after 20 iterations).
        assert!(matches!(
            cox_ph(
                &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                &[true, true, true, false, false, false],
                &[&[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]],
                Ties::Efron
            ),
            Err(StatsError::NoConvergence { iterations: 20, .. })
        ));
    }
}
