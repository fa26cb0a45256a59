//! Forecast metrics for predictive ensembles (docs/domain.md §4), with the special functions they
//! need.
//!
//! A forecast of one observation `y` is an ensemble of Monte Carlo draws `x₁ … x_M` from the
//! model's predictive distribution. Everything here is a pure, deterministic function of its
//! inputs; the two resampling helpers ([`bootstrap_ci`] here and `drift::mmd_rbf`) take an explicit
//! seed and draw from [`RandomStream`].
//!
//! Conventions used throughout, so that a statistician can check them once:
//!
//! - **Empirical quantiles** are R's type 7 (numpy's default `linear`): for sorted values
//!   `v₀ ≤ … ≤ v_{n−1}` and probability `p`, `h = (n − 1)·p`, `Q(p) = v_⌊h⌋ + (h − ⌊h⌋)(v_⌊h⌋+1 − v_⌊h⌋)`.
//! - **Sums** of many terms use Neumaier's compensated summation.
//! - **Bad input** (empty samples, mismatched lengths, NaN or ±∞, out-of-range parameters) returns a
//!   [`MetricError`]; nothing here panics on user input.

use twin_engine::random::{Purpose, RandomStream};
use twin_engine::stats;

/// Everything that can go wrong when computing a metric, a drift statistic or a survival metric.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricError {
    /// An input that needs at least one value has none.
    #[error("{what} is empty")]
    Empty {
        /// Which input.
        what: &'static str,
    },
    /// An input has fewer values than the statistic needs.
    #[error("{what} needs at least {needed} values, got {actual}")]
    TooFew {
        /// Which input.
        what: &'static str,
        /// Minimum number of values.
        needed: usize,
        /// Number of values given.
        actual: usize,
    },
    /// Two inputs that must have the same length do not.
    #[error("{what}: expected length {expected}, got {actual}")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// Length implied by the other inputs.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// An input value is NaN or infinite.
    #[error("{what}[{index}] is not finite")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Position of the first offending value.
        index: usize,
    },
    /// A parameter is outside its allowed range.
    #[error("{what} = {value} is outside {allowed}")]
    OutOfRange {
        /// Which parameter.
        what: &'static str,
        /// The value given.
        value: f64,
        /// The allowed range, in words.
        allowed: &'static str,
    },
    /// A sample has no spread (zero standard deviation or all pairwise distances zero), so a
    /// statistic that divides by the spread is undefined.
    #[error("{what} has zero spread")]
    ZeroSpread {
        /// Which input.
        what: &'static str,
    },
    /// A time is negative.
    #[error("{what}[{index}] = {value} is a negative time")]
    NegativeTime {
        /// Which input.
        what: &'static str,
        /// Position of the offending value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// The simulated covariance of one subject is not positive definite, so its observations
    /// cannot be decorrelated (too few simulations, or a constant or collinear observation).
    #[error("simulated covariance is not positive definite (pivot {pivot})")]
    NotPositiveDefinite {
        /// Index of the observation where the Cholesky factorisation failed.
        pivot: usize,
    },
    /// No pair of subjects is comparable, so a concordance index is undefined.
    #[error("no comparable pairs")]
    NoComparablePairs,
    /// The Kaplan–Meier estimate of the censoring survival is zero where an inverse weight is needed.
    #[error("censoring survival estimate is zero at t = {t}")]
    ZeroCensoringSurvival {
        /// Time at which the estimate is zero.
        t: f64,
    },
    /// A censoring weight is needed beyond the last time of the data the censoring distribution was
    /// estimated from, where the Kaplan–Meier estimate is undefined.
    #[error("t = {t} is beyond the last censoring-model time {last}")]
    BeyondFollowUp {
        /// Time requested.
        t: f64,
        /// Last time of the censoring data.
        last: f64,
    },
    /// A user-supplied statistic returned NaN or ±∞ on a bootstrap replicate.
    #[error("statistic is not finite on bootstrap replicate {replicate}")]
    NonFiniteStatistic {
        /// Replicate index (0 for the full sample).
        replicate: usize,
    },
}

// ---------------------------------------------------------------------------------------------
// Input checks and small numeric helpers shared by the three modules.
// ---------------------------------------------------------------------------------------------

/// Checks that `values` is non-empty and finite.
pub(crate) fn check_sample(what: &'static str, values: &[f64]) -> Result<(), MetricError> {
    if values.is_empty() {
        return Err(MetricError::Empty { what });
    }
    check_finite(what, values)
}

/// Checks that every value is finite.
pub(crate) fn check_finite(what: &'static str, values: &[f64]) -> Result<(), MetricError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(MetricError::NonFinite { what, index }),
        None => Ok(()),
    }
}

/// Checks that `actual == expected`.
pub(crate) fn check_len(
    what: &'static str,
    expected: usize,
    actual: usize,
) -> Result<(), MetricError> {
    if expected == actual {
        Ok(())
    } else {
        Err(MetricError::LengthMismatch {
            what,
            expected,
            actual,
        })
    }
}

/// A copy of finite values sorted ascending.
pub(crate) fn sorted_copy(values: &[f64]) -> Vec<f64> {
    let mut res = values.to_vec();
    res.sort_by(f64::total_cmp);
    res
}

/// Neumaier's compensated sum.
pub(crate) fn compensated_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut sum = 0.0_f64;
    let mut compensation = 0.0_f64;
    for v in values {
        let t = sum + v;
        if sum.abs() >= v.abs() {
            compensation += (sum - t) + v;
        } else {
            compensation += (v - t) + sum;
        }
        sum = t;
    }
    sum + compensation
}

/// Exact equality of two finite values, used where ties are counted.
pub(crate) fn same_value(a: f64, b: f64) -> bool {
    a.partial_cmp(&b) == Some(std::cmp::Ordering::Equal)
}

/// Arithmetic mean (compensated). The caller guarantees a non-empty slice.
pub(crate) fn mean_of(values: &[f64]) -> f64 {
    compensated_sum(values.iter().copied()) / values.len() as f64
}

/// Type-7 quantile of an ascending, non-empty, finite slice; `prob` in [0, 1].
pub(crate) fn quantile_sorted(sorted: &[f64], prob: f64) -> f64 {
    let last = sorted.len() - 1;
    let h = last as f64 * prob;
    let lo = (h.floor() as usize).min(last);
    let hi = (lo + 1).min(last);
    let frac = h - lo as f64;
    sorted[lo] + frac * (sorted[hi] - sorted[lo])
}

/// Empirical quantile, R type 7 (numpy `method="linear"`).
///
/// For sorted values `v₀ ≤ … ≤ v_{n−1}`: `h = (n − 1)·p`, `Q(p) = v_⌊h⌋ + (h − ⌊h⌋)(v_⌊h⌋+1 − v_⌊h⌋)`.
/// Same units as `values`.
///
/// # Errors
/// [`MetricError::Empty`] or [`MetricError::NonFinite`] for bad values;
/// [`MetricError::OutOfRange`] unless `0 ≤ prob ≤ 1`.
pub fn quantile_type7(values: &[f64], prob: f64) -> Result<f64, MetricError> {
    check_sample("values", values)?;
    check_probability("prob", prob, true)?;
    Ok(quantile_sorted(&sorted_copy(values), prob))
}

fn check_probability(what: &'static str, p: f64, closed: bool) -> Result<(), MetricError> {
    let ok = if closed {
        (0.0..=1.0).contains(&p)
    } else {
        p > 0.0 && p < 1.0
    };
    if ok {
        Ok(())
    } else {
        Err(MetricError::OutOfRange {
            what,
            value: p,
            allowed: if closed { "[0, 1]" } else { "(0, 1)" },
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Special functions: normal and Student t distributions (twin_engine::stats), log-gamma.
// ---------------------------------------------------------------------------------------------

const SQRT_PI: f64 = 1.772_453_850_905_516;
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Standard normal CDF `Φ(z)`: [`stats::normal_cdf`] (Cody's algorithm, full relative precision
/// in both tails).
#[must_use]
pub fn standard_normal_cdf(z: f64) -> f64 {
    stats::normal_cdf(z)
}

/// Standard normal density `φ(z) = e^{−z²/2}/√(2π)`.
#[must_use]
pub fn standard_normal_pdf(z: f64) -> f64 {
    stats::normal_pdf(z)
}

/// Standard normal quantile `Φ⁻¹(p)` for `0 < p < 1`, NaN outside: [`stats::normal_quantile`]
/// (Wichura's AS 241).
#[must_use]
pub fn standard_normal_quantile(p: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    stats::normal_quantile(p).unwrap_or(f64::NAN)
}

/// `ln(n!/nⁿ)` without the cancellation of `ln n! − n ln n`:
/// `½ ln n − n + ½ ln 2π + Σ_j B_{2j}/(2j(2j−1) n^{2j−1})`.
pub(crate) fn ln_factorial_over_power(n: usize) -> f64 {
    let nf = n as f64;
    if n < 10 {
        return stats::ln_gamma(nf + 1.0) - nf * nf.ln();
    }
    0.5 * nf.ln() - nf + LN_SQRT_2PI + stats::stirling_correction(nf)
}

/// CDF of Student's t distribution with `df > 0` degrees of freedom, NaN for a NaN `t` or an
/// invalid `df`: [`stats::student_t_cdf`] (regularised incomplete beta).
#[must_use]
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    stats::student_t_cdf(t, df).unwrap_or(f64::NAN)
}

/// Quantile of Student's t distribution with `df > 0` degrees of freedom for `0 < p < 1`, NaN
/// otherwise: [`stats::student_t_quantile`] (safeguarded Newton, 1e-12 relative).
#[must_use]
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    stats::student_t_quantile(p, df).unwrap_or(f64::NAN)
}

// ---------------------------------------------------------------------------------------------
// Point-forecast errors.
// ---------------------------------------------------------------------------------------------

/// Mean absolute and root-mean-square error of point forecasts derived from ensembles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointErrors {
    /// `MAE = (1/n) Σᵢ |yᵢ − median(xᵢ)|`, in units of y.
    pub mae: f64,
    /// `RMSE = √((1/n) Σᵢ (yᵢ − mean(xᵢ))²)`, in units of y.
    pub rmse: f64,
}

fn check_ensembles(observations: &[f64], ensembles: &[Vec<f64>]) -> Result<(), MetricError> {
    check_sample("observations", observations)?;
    check_len("ensembles", observations.len(), ensembles.len())?;
    for draws in ensembles {
        check_sample("ensemble draws", draws)?;
    }
    Ok(())
}

/// MAE of the predictive median and RMSE of the predictive mean.
///
/// Each error uses the point forecast that is optimal for its loss (the median minimises expected
/// absolute error, the mean expected squared error; Gneiting 2011), as docs/domain.md §4 lists
/// them. The median is the type-7 quantile at ½ (the usual median). `ensembles[i]` holds the draws
/// for `observations[i]`.
///
/// # Errors
/// [`MetricError::Empty`], [`MetricError::LengthMismatch`] or [`MetricError::NonFinite`].
pub fn point_errors(
    observations: &[f64],
    ensembles: &[Vec<f64>],
) -> Result<PointErrors, MetricError> {
    check_ensembles(observations, ensembles)?;
    let mut abs_errors = Vec::with_capacity(observations.len());
    let mut sq_errors = Vec::with_capacity(observations.len());
    for (y, draws) in observations.iter().zip(ensembles) {
        let median = quantile_sorted(&sorted_copy(draws), 0.5);
        abs_errors.push((y - median).abs());
        sq_errors.push((y - mean_of(draws)).powi(2));
    }
    Ok(PointErrors {
        mae: mean_of(&abs_errors),
        rmse: mean_of(&sq_errors).sqrt(),
    })
}

// ---------------------------------------------------------------------------------------------
// Proper scores.
// ---------------------------------------------------------------------------------------------

/// Fair (unbiased) CRPS of an ensemble, in units of y (Ferro 2014; Zamo & Naveau 2018).
///
/// `CRPS_fair = (1/M) Σᵢ |xᵢ − y| − 1/(2M(M−1)) Σᵢ Σⱼ |xᵢ − xⱼ|`. The double sum is computed in
/// O(M log M) from the sorted draws: `Σᵢ Σⱼ |xᵢ − xⱼ| = 2 Σₖ (2k − M − 1) x₍ₖ₎` (k = 1 … M), so
/// `CRPS_fair = (1/M) Σᵢ |xᵢ − y| − 1/(M(M−1)) Σₖ (2k − M − 1) x₍ₖ₎`. It is an unbiased estimate of
/// the CRPS of the distribution the draws come from.
///
/// # Errors
/// [`MetricError::TooFew`] for fewer than 2 draws; [`MetricError::NonFinite`] for NaN or ±∞.
///
/// # Example
/// ```
/// use twin_eval::metrics::{MetricError, crps_ensemble_fair};
/// // Draws {0, 2}, y = 3: (3 + 1)/2 − (2 + 2)/(2·2·1) = 1.
/// let crps = crps_ensemble_fair(&[0.0, 2.0], 3.0)?;
/// assert!((crps - 1.0).abs() < 1e-15);
/// # Ok::<(), MetricError>(())
/// ```
pub fn crps_ensemble_fair(draws: &[f64], observation: f64) -> Result<f64, MetricError> {
    if draws.len() < 2 {
        return Err(MetricError::TooFew {
            what: "ensemble draws",
            needed: 2,
            actual: draws.len(),
        });
    }
    check_finite("ensemble draws", draws)?;
    check_finite("observation", &[observation])?;
    let m = draws.len() as f64;
    let sorted = sorted_copy(draws);
    let abs_error = compensated_sum(sorted.iter().map(|x| (x - observation).abs())) / m;
    let weighted = compensated_sum(
        sorted
            .iter()
            .enumerate()
            .map(|(k, x)| (2.0 * (k as f64 + 1.0) - m - 1.0) * x),
    );
    Ok(abs_error - weighted / (m * (m - 1.0)))
}

/// Closed-form CRPS of a normal forecast N(μ, σ²) (Gneiting & Raftery 2007, eq. 21), in units of y.
///
/// `CRPS = σ [z(2Φ(z) − 1) + 2φ(z) − 1/√π]`, `z = (y − μ)/σ`.
///
/// # Errors
/// [`MetricError::NonFinite`] for non-finite input; [`MetricError::OutOfRange`] unless `sd > 0`.
pub fn crps_gaussian(mean: f64, sd: f64, observation: f64) -> Result<f64, MetricError> {
    check_finite("mean, sd, observation", &[mean, sd, observation])?;
    if sd <= 0.0 {
        return Err(MetricError::OutOfRange {
            what: "sd",
            value: sd,
            allowed: "(0, ∞)",
        });
    }
    let z = (observation - mean) / sd;
    Ok(sd
        * (z * (2.0 * standard_normal_cdf(z) - 1.0) + 2.0 * standard_normal_pdf(z) - 1.0 / SQRT_PI))
}

fn euclidean(a: &[f64], b: &[f64]) -> f64 {
    compensated_sum(a.iter().zip(b).map(|(x, y)| (x - y) * (x - y))).sqrt()
}

/// Fair energy score of a multivariate ensemble, e.g. one draw = one whole trajectory (Gneiting &
/// Raftery 2007, eq. 22, with the unbiased M(M−1) denominator).
///
/// `ES_fair = (1/M) Σᵢ ‖xᵢ − y‖ − 1/(2M(M−1)) Σ_{i≠j} ‖xᵢ − xⱼ‖`, Euclidean norm, units of y.
/// For one dimension it equals [`crps_ensemble_fair`]. Cost O(M² d).
///
/// # Errors
/// [`MetricError::TooFew`] for fewer than 2 draws or an empty observation vector;
/// [`MetricError::LengthMismatch`] if a draw's dimension differs from the observation's;
/// [`MetricError::NonFinite`].
pub fn energy_score_fair(draws: &[Vec<f64>], observation: &[f64]) -> Result<f64, MetricError> {
    if draws.len() < 2 {
        return Err(MetricError::TooFew {
            what: "ensemble draws",
            needed: 2,
            actual: draws.len(),
        });
    }
    check_sample("observation", observation)?;
    for draw in draws {
        check_len("ensemble draw dimension", observation.len(), draw.len())?;
        check_finite("ensemble draw", draw)?;
    }
    let m = draws.len() as f64;
    let to_obs = compensated_sum(draws.iter().map(|x| euclidean(x, observation))) / m;
    let pairs = compensated_sum(
        draws
            .iter()
            .enumerate()
            .flat_map(|(i, xi)| draws[i + 1..].iter().map(move |xj| euclidean(xi, xj))),
    );
    // Each unordered pair appears twice in Σ_{i≠j}, which cancels the ½.
    Ok(to_obs - pairs / (m * (m - 1.0)))
}

// ---------------------------------------------------------------------------------------------
// Prediction intervals and PIT.
// ---------------------------------------------------------------------------------------------

/// Nominal levels of the central prediction intervals reported by default (50, 80, 90, 95 %).
pub const STANDARD_INTERVAL_LEVELS: [f64; 4] = [0.5, 0.8, 0.9, 0.95];

/// Central prediction interval of an ensemble: `[Q((1 − level)/2), Q((1 + level)/2)]` with type-7
/// empirical quantiles. Units of the draws.
///
/// # Errors
/// [`MetricError::Empty`] or [`MetricError::NonFinite`] for bad draws;
/// [`MetricError::OutOfRange`] unless `0 < level < 1`.
pub fn central_interval(draws: &[f64], level: f64) -> Result<(f64, f64), MetricError> {
    check_sample("ensemble draws", draws)?;
    check_probability("interval level", level, false)?;
    let sorted = sorted_copy(draws);
    Ok(interval_of_sorted(&sorted, level))
}

fn interval_of_sorted(sorted: &[f64], level: f64) -> (f64, f64) {
    (
        quantile_sorted(sorted, 0.5 * (1.0 - level)),
        quantile_sorted(sorted, 0.5 * (1.0 + level)),
    )
}

/// Empirical coverage and mean width of central prediction intervals at one nominal level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalSummary {
    /// Nominal level, e.g. `0.9`.
    pub level: f64,
    /// Share of observations with `lo ≤ y ≤ hi` (closed interval).
    pub coverage: f64,
    /// Mean of `hi − lo`, in units of y.
    pub mean_width: f64,
}

/// Coverage and mean width of the central prediction intervals (see [`central_interval`]) at each
/// level, in the order given; pass [`STANDARD_INTERVAL_LEVELS`] for 50/80/90/95 %.
///
/// # Errors
/// As [`point_errors`], plus [`MetricError::OutOfRange`] for a level outside (0, 1).
pub fn interval_coverage(
    observations: &[f64],
    ensembles: &[Vec<f64>],
    levels: &[f64],
) -> Result<Vec<IntervalSummary>, MetricError> {
    check_ensembles(observations, ensembles)?;
    for &level in levels {
        check_probability("interval level", level, false)?;
    }
    let sorted: Vec<Vec<f64>> = ensembles.iter().map(|d| sorted_copy(d)).collect();
    let n = observations.len() as f64;
    let res = levels
        .iter()
        .map(|&level| {
            let mut covered = 0_usize;
            let mut widths = Vec::with_capacity(observations.len());
            for (y, draws) in observations.iter().zip(&sorted) {
                let (lo, hi) = interval_of_sorted(draws, level);
                if lo <= *y && *y <= hi {
                    covered += 1;
                }
                widths.push(hi - lo);
            }
            IntervalSummary {
                level,
                coverage: covered as f64 / n,
                mean_width: mean_of(&widths),
            }
        })
        .collect();
    Ok(res)
}

/// Probability integral transform of one observation from its ensemble, by mid-rank.
///
/// `PIT = (#{xⱼ < y} + ½ #{xⱼ = y} + ½) / (M + 1)`: the mid-rank of y among the M + 1 values
/// {y, x₁ … x_M}, minus ½, over M + 1. Deterministic (no randomisation of ties). If y is
/// exchangeable with the draws and there are no ties, the PIT is uniform on
/// {½/(M+1), 1½/(M+1), …}, so it differs from U(0, 1) by at most 1/(2(M + 1)); it is never 0 or 1.
///
/// # Errors
/// [`MetricError::Empty`] or [`MetricError::NonFinite`].
pub fn pit_value(draws: &[f64], observation: f64) -> Result<f64, MetricError> {
    check_sample("ensemble draws", draws)?;
    check_finite("observation", &[observation])?;
    Ok(pit_unchecked(draws, observation))
}

fn pit_unchecked(draws: &[f64], observation: f64) -> f64 {
    let below = draws.iter().filter(|&&x| x < observation).count() as f64;
    let equal = draws
        .iter()
        .filter(|&&x| same_value(x, observation))
        .count() as f64;
    (below + 0.5 * equal + 0.5) / (draws.len() as f64 + 1.0)
}

/// PIT of every observation ([`pit_value`]), in input order.
///
/// # Errors
/// As [`point_errors`].
pub fn pit_values(observations: &[f64], ensembles: &[Vec<f64>]) -> Result<Vec<f64>, MetricError> {
    check_ensembles(observations, ensembles)?;
    Ok(observations
        .iter()
        .zip(ensembles)
        .map(|(y, draws)| pit_unchecked(draws, *y))
        .collect())
}

/// Number of bins of the PIT histogram in reports.
pub const PIT_HISTOGRAM_BINS: usize = 10;

/// Histogram counts of PIT values in `n_bins` equal bins of [0, 1]: bin k is `[k/B, (k+1)/B)`, the
/// last bin also holds 1 (numpy's `histogram(pit, bins=B, range=(0, 1))`).
///
/// # Errors
/// [`MetricError::Empty`], [`MetricError::NonFinite`]; [`MetricError::OutOfRange`] for a value
/// outside [0, 1] or `n_bins = 0`.
pub fn pit_histogram(pit: &[f64], n_bins: usize) -> Result<Vec<usize>, MetricError> {
    check_sample("pit", pit)?;
    if n_bins == 0 {
        return Err(MetricError::OutOfRange {
            what: "n_bins",
            value: 0.0,
            allowed: "[1, ∞)",
        });
    }
    let mut counts = vec![0; n_bins];
    for &u in pit {
        check_probability("pit value", u, true)?;
        let bin = ((u * n_bins as f64).floor() as usize).min(n_bins - 1);
        counts[bin] += 1;
    }
    Ok(counts)
}

// ---------------------------------------------------------------------------------------------
// Kolmogorov–Smirnov.
// ---------------------------------------------------------------------------------------------

/// How a Kolmogorov–Smirnov p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KsMethod {
    /// Exact null distribution (one-sample: scipy's Simard–L'Ecuyer selection; two-sample: lattice-
    /// path count).
    Exact,
    /// Asymptotic: the one-sample distribution at the effective size `round(mn/(m+n))`.
    Asymptotic,
}

/// A Kolmogorov–Smirnov statistic with its two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    /// `D = sup |F₁ − F₂|`, in [0, 1].
    pub statistic: f64,
    /// Two-sided p-value `P(D ≥ d)` under the null.
    pub p_value: f64,
    /// How the p-value was computed.
    pub method: KsMethod,
}

/// One-sample two-sided Kolmogorov–Smirnov test of `values` against a continuous CDF.
///
/// `D = max(D⁺, D⁻)`, `D⁺ = maxᵢ (i/n − F(x₍ᵢ₎))`, `D⁻ = maxᵢ (F(x₍ᵢ₎) − (i−1)/n)`. The p-value is
/// exact, [`kolmogorov_sf`] — as `scipy.stats.kstest(x, cdf)` in its default mode, which always
/// uses the exact distribution for the one-sample test.
///
/// # Errors
/// [`MetricError::Empty`], [`MetricError::NonFinite`]; [`MetricError::OutOfRange`] if `cdf` returns
/// a value outside [0, 1].
pub fn ks_one_sample(values: &[f64], cdf: &dyn Fn(f64) -> f64) -> Result<KsResult, MetricError> {
    check_sample("values", values)?;
    let sorted = sorted_copy(values);
    let n = sorted.len() as f64;
    let mut d_plus = f64::NEG_INFINITY;
    let mut d_minus = f64::NEG_INFINITY;
    for (i, &x) in sorted.iter().enumerate() {
        let f = cdf(x);
        check_probability("cdf value", f, true)?;
        d_plus = d_plus.max((i as f64 + 1.0) / n - f);
        d_minus = d_minus.max(f - i as f64 / n);
    }
    let statistic = d_plus.max(d_minus);
    Ok(KsResult {
        statistic,
        p_value: kolmogorov_sf(sorted.len(), statistic),
        method: KsMethod::Exact,
    })
}

/// One-sample Kolmogorov–Smirnov test of PIT values against U(0, 1) (see [`ks_one_sample`]).
///
/// # Errors
/// As [`ks_one_sample`].
pub fn ks_uniform(pit: &[f64]) -> Result<KsResult, MetricError> {
    ks_one_sample(pit, &|u: f64| u.clamp(0.0, 1.0))
}

/// Survival function `P(Dₙ ≥ d)` of the two-sided one-sample Kolmogorov–Smirnov statistic.
///
/// Follows scipy's `kstwo.sf` (`scipy.stats._ksstats._kolmogn`, the selection of Simard & L'Ecuyer
/// 2011) so that p-values agree with scipy:
/// - `nd ≤ 1` or `nd ≥ n − 1`: Ruben–Gambino closed forms;
/// - `d ≥ ½`: `2 · smirnov(n, d)`, exact (Birnbaum–Tingey sum for the one-sided statistic);
/// - `n ≤ 140`: `1 − CDF` by the Durbin matrix (Marsaglia, Tsang & Wang 2003) when `nd² ≤ 4`
///   (scipy uses Pomeranz's recursion for 0.754693 < nd² ≤ 4; both are exact), else `2 · smirnov`;
/// - `n > 140`: 0 if `nd² ≥ 370`, `2 · smirnov` if `nd² ≥ 2.2`, else `1 − CDF` with the CDF by the
///   Durbin matrix if `n ≤ 100 000` and `n d^{3/2} ≤ 1.4`, otherwise the Pelz–Good (1976) expansion.
///
/// Returns NaN for `n = 0` or NaN `d`; the result is clipped to [0, 1].
#[must_use]
pub fn kolmogorov_sf(n: usize, d: f64) -> f64 {
    if n == 0 || d.is_nan() {
        return f64::NAN;
    }
    if d >= 1.0 {
        return 0.0;
    }
    if d <= 0.0 {
        return 1.0;
    }
    let nf = n as f64;
    let t = nf * d;
    let clip = |p: f64| p.clamp(0.0, 1.0);
    if t <= 1.0 {
        if t <= 0.5 {
            return 1.0;
        }
        let cdf = if n <= 140 {
            (1..=n).fold(1.0, |acc, i| acc * (i as f64 / nf) * (2.0 * t - 1.0))
        } else {
            (ln_factorial_over_power(n) + nf * (2.0 * t - 1.0).ln()).exp()
        };
        return clip(1.0 - cdf);
    }
    if t >= nf - 1.0 {
        return clip(2.0 * (1.0 - d).powi(i32::try_from(n).unwrap_or(i32::MAX)));
    }
    if d >= 0.5 {
        return clip(2.0 * smirnov_sf(n, d));
    }
    let nd2 = t * d;
    if n <= 140 {
        if nd2 <= 4.0 {
            return clip(1.0 - kolmogorov_cdf_durbin(n, d));
        }
        return clip(2.0 * smirnov_sf(n, d));
    }
    if nd2 >= 370.0 {
        return 0.0;
    }
    if nd2 >= 2.2 {
        return clip(2.0 * smirnov_sf(n, d));
    }
    let cdf = if n <= 100_000 && nf * d.powf(1.5) <= 1.4 {
        kolmogorov_cdf_durbin(n, d)
    } else {
        kolmogorov_cdf_pelz_good(n, d)
    };
    clip(1.0 - cdf)
}

/// Exact `P(Dₙ⁺ ≥ d)` of the one-sided statistic (Smirnov 1944; Birnbaum & Tingey 1951):
/// `d Σ_{v=0}^{⌊n(1−d)⌋} C(n, v) (d + v/n)^{v−1} (1 − d − v/n)^{n−v}`, summed term by term in log
/// space (all terms are positive, so there is no cancellation).
fn smirnov_sf(n: usize, d: f64) -> f64 {
    let nf = n as f64;
    let last = (nf * (1.0 - d)).floor() as usize;
    let mut ln_binom = 0.0_f64;
    let mut terms = Vec::with_capacity(last + 1);
    for v in 0..=last {
        let vf = v as f64;
        let lower = d + vf / nf;
        let upper = 1.0 - d - vf / nf;
        // v ≤ ⌊n(1 − d)⌋ < n, so the exponent n − v is positive and a zero base gives a zero term.
        if upper > 0.0 {
            let ln_term = ln_binom + (vf - 1.0) * lower.ln() + (nf - vf) * upper.ln();
            if ln_term > -745.0 {
                terms.push(ln_term.exp());
            }
        }
        ln_binom += ((nf - vf) / (vf + 1.0)).ln();
    }
    d * compensated_sum(terms)
}

/// Binary exponent bookkeeping: scales `value` into a safe range and returns the power of two
/// that was removed.
const SCALE_BITS: i32 = 256;

fn scale_up() -> f64 {
    2.0_f64.powi(SCALE_BITS)
}

/// `value · 2^exponent`, without intermediate overflow or underflow.
fn ldexp(mut value: f64, mut exponent: i64) -> f64 {
    let step = 1000_i64;
    while exponent > step {
        value *= 2.0_f64.powi(1000);
        exponent -= step;
    }
    while exponent < -step {
        value *= 2.0_f64.powi(-1000);
        exponent += step;
    }
    value * 2.0_f64.powi(i32::try_from(exponent).unwrap_or(0))
}

fn mat_mul(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut res = vec![0.0; m * m];
    for i in 0..m {
        for k in 0..m {
            let aik = a[i * m + k];
            if aik == 0.0 {
                continue;
            }
            for j in 0..m {
                res[i * m + j] += aik * b[k * m + j];
            }
        }
    }
    res
}

/// Rescales a matrix by a power of two when its largest entry leaves [2⁻²⁵⁶, 2²⁵⁶]; returns the
/// exponent removed.
fn renormalise(matrix: &mut [f64]) -> i64 {
    let max = matrix.iter().fold(0.0_f64, |acc, v| acc.max(v.abs()));
    if max > scale_up() {
        let inv = 1.0 / scale_up();
        matrix.iter_mut().for_each(|v| *v *= inv);
        i64::from(SCALE_BITS)
    } else if max > 0.0 && max < 1.0 / scale_up() {
        let up = scale_up();
        matrix.iter_mut().for_each(|v| *v *= up);
        -i64::from(SCALE_BITS)
    } else {
        0
    }
}

/// `P(Dₙ ≤ d)` by Durbin's matrix method as evaluated by Marsaglia, Tsang & Wang (2003):
/// with `k = ⌈nd⌉`, `h = k − nd`, `m = 2k − 1`, the CDF is `n!/nⁿ · (Hⁿ)_{kk}` for the m × m matrix
/// `H_{ij} = 1/(i − j + 1)!` (zero when `i − j + 1 < 0`), whose first column and last row are
/// corrected by the factors `1 − h^r` and whose corner is `(1 − 2hᵐ + max(0, 2h − 1)ᵐ)/m!`.
/// Powers of two are tracked separately so nothing overflows.
fn kolmogorov_cdf_durbin(n: usize, d: f64) -> f64 {
    let nd = n as f64 * d;
    let k = nd.ceil() as usize;
    let h = k as f64 - nd;
    let m = 2 * k - 1;
    let mut inv_factorial = vec![1.0_f64; m + 1];
    for j in 1..=m {
        inv_factorial[j] = inv_factorial[j - 1] / j as f64;
    }
    let mut matrix = vec![0.0_f64; m * m];
    for i in 0..m {
        for j in 0..m {
            if i + 1 >= j {
                matrix[i * m + j] = inv_factorial[i + 1 - j];
            }
        }
    }
    for i in 0..m {
        let r = i32::try_from(i + 1).unwrap_or(i32::MAX);
        matrix[i * m] = (1.0 - h.powi(r)) * inv_factorial[i + 1];
        matrix[(m - 1) * m + (m - 1 - i)] = (1.0 - h.powi(r)) * inv_factorial[i + 1];
    }
    let mi = i32::try_from(m).unwrap_or(i32::MAX);
    matrix[(m - 1) * m] =
        (1.0 - 2.0 * h.powi(mi) + (2.0 * h - 1.0).max(0.0).powi(mi)) * inv_factorial[m];

    // Hⁿ by repeated squaring, each factor carrying its own power-of-two exponent.
    let mut power = vec![0.0_f64; m * m];
    for i in 0..m {
        power[i * m + i] = 1.0;
    }
    let mut power_exp: i64 = 0;
    let mut base_exp: i64 = 0;
    let mut remaining = n;
    while remaining > 0 {
        if remaining % 2 == 1 {
            power = mat_mul(&power, &matrix, m);
            power_exp += base_exp;
            power_exp += renormalise(&mut power);
        }
        remaining /= 2;
        if remaining > 0 {
            matrix = mat_mul(&matrix, &matrix, m);
            base_exp *= 2;
            base_exp += renormalise(&mut matrix);
        }
    }
    let mut p = power[(k - 1) * m + (k - 1)];
    let nf = n as f64;
    for i in 1..=n {
        p *= i as f64 / nf;
        if p.abs() < 1.0 / scale_up() && p != 0.0 {
            p *= scale_up();
            power_exp -= i64::from(SCALE_BITS);
        }
    }
    ldexp(p, power_exp)
}

/// Pelz & Good (1976) expansion of `P(Dₙ ≤ d)`: Li-Chien/Korolyuk's series
/// `K₀(z) + K₁(z)/√n + K₂(z)/n + K₃(z)/n^{3/2}`, `z = d√n`, with each Kᵢ rewritten through Jacobi's
/// theta transformation so that it converges fast for small z (scipy's `_kolmogn_PelzGood`).
fn kolmogorov_cdf_pelz_good(n: usize, d: f64) -> f64 {
    use std::f64::consts::PI;
    let z = (n as f64).sqrt() * d;
    let z2 = z * z;
    let z4 = z2 * z2;
    let z6 = z4 * z2;
    let pi2 = PI * PI;
    let pi4 = pi2 * pi2;
    let pi6 = pi4 * pi2;
    let q_log = -pi2 / 8.0 / z2;
    if q_log < -708.0 {
        return 0.0;
    }
    let q = q_log.exp();
    let k1a = -z2;
    let k1b = pi2 / 4.0;
    let k2a = 6.0 * z6 + 2.0 * z4;
    let k2b = (2.0 * z4 - 5.0 * z2) * pi2 / 4.0;
    let k2c = pi4 * (1.0 - 2.0 * z2) / 16.0;
    let k3d = pi6 * (5.0 - 30.0 * z2) / 64.0;
    let k3c = pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0;
    let k3b = pi2 * (135.0 * z4 - 96.0 * z6) / 4.0;
    let k3a = -30.0 * z6 - 90.0 * z4 * z4;
    let max_k = (16.0 * z / PI).ceil() as usize;
    // Horner scheme for Σ_k c_k q^{(2k−1)²} over odd integers.
    let mut k_terms = [0.0_f64; 4];
    for k in (1..=max_k).rev() {
        let odd = (2 * k - 1) as f64;
        let o2 = odd * odd;
        let o4 = o2 * o2;
        let o6 = o4 * o2;
        let q_power = q.powf(8.0 * k as f64);
        let coefficients = [
            1.0,
            k1a + k1b * o2,
            k2a + k2b * o2 + k2c * o4,
            k3a + k3b * o2 + k3c * o4 + k3d * o6,
        ];
        for (term, c) in k_terms.iter_mut().zip(coefficients) {
            *term = *term * q_power + c;
        }
    }
    let sqrt_2pi = (2.0 * PI).sqrt();
    let denominators = [z, 6.0 * z4, 72.0 * z6 * z, 6480.0 * z4 * z6];
    for (term, den) in k_terms.iter_mut().zip(denominators) {
        *term = *term * q * sqrt_2pi / den;
    }
    // Second sum over all positive integers k for K₂ and K₃.
    let q2 = (-pi2 / 2.0 / z2).exp();
    let mut k2_extra = 0.0;
    let mut k3_extra = 0.0;
    let sqrt3z = 3.0_f64.sqrt() * z;
    for k in (1..=max_k).rev() {
        let kf = k as f64;
        let k2 = kf * kf;
        let qp = q2.powf(k2);
        k2_extra += k2 * qp;
        let kpi = PI * kf;
        k3_extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qp;
    }
    k_terms[2] += k2_extra * pi2 * sqrt_2pi / (-36.0 * z2 * z);
    k_terms[3] += k3_extra * pi2 * sqrt_2pi / (216.0 * z6);
    let nf = n as f64;
    let powers = [1.0, nf.sqrt(), nf, nf * nf.sqrt()];
    k_terms.iter().zip(powers).map(|(t, p)| t / p).sum()
}

// ---------------------------------------------------------------------------------------------
// NPDE.
// ---------------------------------------------------------------------------------------------

/// Normalised prediction distribution errors of one subject (Brendel et al. 2006; Comets, Brendel &
/// Mentré 2008), with decorrelation by the Cholesky factor of the simulated covariance.
///
/// `observations` are the subject's nᵢ observations, `simulations` its K simulated replicates of
/// the whole vector (each of length nᵢ, simulated under the design of the observations). Steps:
/// 1. `E = mean_k y_sim,k`, `V = cov_k(y_sim,k)` (denominator K − 1), `V = L Lᵀ` (Cholesky).
/// 2. Decorrelate: `y* = L⁻¹(y − E)`, `y*_sim,k = L⁻¹(y_sim,k − E)`.
/// 3. `pde_j = (#{k: y*_sim,kj < y*_j} + ½ #{k: y*_sim,kj = y*_j}) / K` (ties count ½,
///    deterministic); a pde of 0 becomes 1/K and of 1 becomes 1 − 1/K, so step 4 stays finite.
/// 4. `npde_j = Φ⁻¹(pde_j)`.
///
/// With one observation this is the univariate pd mapped through Φ⁻¹. Under the model the npde are
/// approximately i.i.d. N(0, 1); summarise them over all subjects with [`moment_summary`].
///
/// # Errors
/// [`MetricError::Empty`]/[`MetricError::NonFinite`] for bad values,
/// [`MetricError::LengthMismatch`] if a simulation's length differs from the observations',
/// [`MetricError::TooFew`] unless `K > nᵢ` (needed for a non-singular covariance), and
/// [`MetricError::NotPositiveDefinite`] if the simulated covariance is singular.
pub fn npde_subject(
    observations: &[f64],
    simulations: &[Vec<f64>],
) -> Result<Vec<f64>, MetricError> {
    check_sample("observations", observations)?;
    let n_obs = observations.len();
    if simulations.len() <= n_obs {
        return Err(MetricError::TooFew {
            what: "simulations (must exceed the number of observations)",
            needed: n_obs + 1,
            actual: simulations.len(),
        });
    }
    for sim in simulations {
        check_len("simulation", n_obs, sim.len())?;
        check_finite("simulation", sim)?;
    }
    let k = simulations.len() as f64;
    let mean: Vec<f64> = (0..n_obs)
        .map(|j| compensated_sum(simulations.iter().map(|s| s[j])) / k)
        .collect();
    let mut cov = vec![0.0; n_obs * n_obs];
    for a in 0..n_obs {
        for b in 0..=a {
            let c = compensated_sum(
                simulations
                    .iter()
                    .map(|s| (s[a] - mean[a]) * (s[b] - mean[b])),
            ) / (k - 1.0);
            cov[a * n_obs + b] = c;
            cov[b * n_obs + a] = c;
        }
    }
    let lower = cholesky(&cov, n_obs)?;
    let decorrelate = |v: &[f64]| {
        let centred: Vec<f64> = v.iter().zip(&mean).map(|(x, m)| x - m).collect();
        forward_substitute(&lower, n_obs, &centred)
    };
    let obs_star = decorrelate(observations);
    let sims_star: Vec<Vec<f64>> = simulations.iter().map(|s| decorrelate(s)).collect();
    let res = (0..n_obs)
        .map(|j| {
            let below = sims_star.iter().filter(|s| s[j] < obs_star[j]).count() as f64;
            let equal = sims_star
                .iter()
                .filter(|s| same_value(s[j], obs_star[j]))
                .count() as f64;
            let pde = ((below + 0.5 * equal) / k).clamp(1.0 / k, 1.0 - 1.0 / k);
            standard_normal_quantile(pde)
        })
        .collect();
    Ok(res)
}

/// Lower Cholesky factor (row-major) of a symmetric matrix. A pivot that is not above
/// `1e-12 ×` its diagonal entry counts as singular (rounding would otherwise turn an exactly
/// collinear covariance into a huge, meaningless decorrelation).
fn cholesky(matrix: &[f64], n: usize) -> Result<Vec<f64>, MetricError> {
    let mut lower = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let dot = compensated_sum((0..j).map(|k| lower[i * n + k] * lower[j * n + k]));
            let value = matrix[i * n + j] - dot;
            if i == j {
                if value.is_nan() || value <= 1e-12 * matrix[i * n + i] || value.is_infinite() {
                    return Err(MetricError::NotPositiveDefinite { pivot: i });
                }
                lower[i * n + i] = value.sqrt();
            } else {
                lower[i * n + j] = value / lower[j * n + j];
            }
        }
    }
    Ok(lower)
}

fn forward_substitute(lower: &[f64], n: usize, rhs: &[f64]) -> Vec<f64> {
    let mut res = vec![0.0; n];
    for i in 0..n {
        let dot = compensated_sum((0..i).map(|k| lower[i * n + k] * res[k]));
        res[i] = (rhs[i] - dot) / lower[i * n + i];
    }
    res
}

/// Sample moments used to summarise NPDE (expected 0, 1, 0, 0 under the model).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MomentSummary {
    /// Number of values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Unbiased variance, denominator n − 1.
    pub variance: f64,
    /// Moment skewness `g₁ = m₃ / m₂^{3/2}` (no small-sample correction; scipy `skew(bias=True)`).
    pub skewness: f64,
    /// Excess moment kurtosis `g₂ = m₄ / m₂² − 3` (scipy `kurtosis(fisher=True, bias=True)`).
    pub excess_kurtosis: f64,
}

/// Mean, variance, skewness and excess kurtosis of a sample (see [`MomentSummary`]); `mᵣ` are the
/// central moments with denominator n.
///
/// # Errors
/// [`MetricError::TooFew`] for fewer than 2 values, [`MetricError::NonFinite`],
/// [`MetricError::ZeroSpread`] if all values are equal.
pub fn moment_summary(values: &[f64]) -> Result<MomentSummary, MetricError> {
    if values.len() < 2 {
        return Err(MetricError::TooFew {
            what: "values",
            needed: 2,
            actual: values.len(),
        });
    }
    check_finite("values", values)?;
    let n = values.len() as f64;
    let mean = mean_of(values);
    let moment = |r: i32| compensated_sum(values.iter().map(|v| (v - mean).powi(r))) / n;
    let m2 = moment(2);
    if m2 <= 0.0 {
        return Err(MetricError::ZeroSpread { what: "values" });
    }
    Ok(MomentSummary {
        n: values.len(),
        mean,
        variance: m2 * n / (n - 1.0),
        skewness: moment(3) / m2.powf(1.5),
        excess_kurtosis: moment(4) / (m2 * m2) - 3.0,
    })
}

// ---------------------------------------------------------------------------------------------
// Patient-level bootstrap.
// ---------------------------------------------------------------------------------------------

/// Stream purpose of [`bootstrap_ci`] resampling (`Purpose::Custom(601)`).
pub const BOOTSTRAP_PURPOSE: Purpose = Purpose::Custom(601);

/// Percentile bootstrap 95 % confidence interval of a statistic of per-patient values.
///
/// Resamples patients with replacement (`n_boot` replicates of size n), evaluates `statistic` on
/// each replicate and returns the type-7 2.5 % and 97.5 % quantiles of the replicates (percentile
/// method, no bias correction). Replicate r draws its n indices from
/// `RandomStream::new(seed, r, 0, BOOTSTRAP_PURPOSE)` as `⌊u·n⌋`, so the result is a pure function
/// of the inputs and the seed, and replicates can be computed in any order.
///
/// # Errors
/// [`MetricError::Empty`]/[`MetricError::NonFinite`] for bad values,
/// [`MetricError::TooFew`] if `n_boot < 2`, [`MetricError::NonFiniteStatistic`] if the statistic
/// returns NaN or ±∞.
///
/// # Example
/// ```
/// use twin_eval::metrics::{MetricError, bootstrap_ci};
/// let per_patient_crps = [0.8, 1.1, 0.9, 1.4, 0.7, 1.0, 1.2, 0.95];
/// let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
/// let (lo, hi) = bootstrap_ci(&per_patient_crps, &mean, 2_000, 42)?;
/// assert!(lo < mean(&per_patient_crps) && mean(&per_patient_crps) < hi);
/// assert_eq!(bootstrap_ci(&per_patient_crps, &mean, 2_000, 42)?, (lo, hi));
/// # Ok::<(), MetricError>(())
/// ```
pub fn bootstrap_ci(
    per_patient_values: &[f64],
    statistic: &dyn Fn(&[f64]) -> f64,
    n_boot: usize,
    seed: u64,
) -> Result<(f64, f64), MetricError> {
    check_sample("per-patient values", per_patient_values)?;
    if n_boot < 2 {
        return Err(MetricError::TooFew {
            what: "bootstrap replicates",
            needed: 2,
            actual: n_boot,
        });
    }
    let n = per_patient_values.len();
    let mut resample = vec![0.0; n];
    let mut replicates = Vec::with_capacity(n_boot);
    for replicate_idx in 0..n_boot {
        let mut stream = RandomStream::new(seed, replicate_idx as u64, 0, BOOTSTRAP_PURPOSE);
        for slot in &mut resample {
            let idx = ((stream.uniform() * n as f64) as usize).min(n - 1);
            *slot = per_patient_values[idx];
        }
        let value = statistic(&resample);
        if !value.is_finite() {
            return Err(MetricError::NonFiniteStatistic {
                replicate: replicate_idx,
            });
        }
        replicates.push(value);
    }
    replicates.sort_by(f64::total_cmp);
    Ok((
        quantile_sorted(&replicates, 0.025),
        quantile_sorted(&replicates, 0.975),
    ))
}

// ---------------------------------------------------------------------------------------------
// TOST equivalence.
// ---------------------------------------------------------------------------------------------

/// Result of a paired two one-sided tests (TOST) equivalence analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TostResult {
    /// Number of pairs.
    pub n: usize,
    /// Mean paired difference d̄.
    pub mean_difference: f64,
    /// Standard error `s/√n` (s with denominator n − 1).
    pub standard_error: f64,
    /// Degrees of freedom n − 1.
    pub df: f64,
    /// Lower end of the (1 − 2α) t confidence interval `d̄ − t_{1−α,n−1}·SE`.
    pub ci_lower: f64,
    /// Upper end of the (1 − 2α) t confidence interval `d̄ + t_{1−α,n−1}·SE`.
    pub ci_upper: f64,
    /// One-sided p-value of H₀: μ ≤ −δ, `1 − T_{n−1}((d̄ + δ)/SE)`.
    pub p_lower: f64,
    /// One-sided p-value of H₀: μ ≥ +δ, `T_{n−1}((d̄ − δ)/SE)`.
    pub p_upper: f64,
    /// TOST p-value `max(p_lower, p_upper)`.
    pub p_value: f64,
    /// Equivalence is shown when both one-sided nulls are rejected at α, i.e. when the (1 − 2α)
    /// CI lies strictly inside (−δ, +δ).
    pub equivalent: bool,
}

/// Paired TOST of the mean difference against symmetric margins ±δ (Schuirmann 1987).
///
/// `differences` are per-patient paired differences (e.g. score of the new version minus the old
/// on the same frozen cohort). Uses Student's t with n − 1 degrees of freedom; with α = 0.05 the
/// decision is equivalent to the 90 % CI lying inside (−δ, δ) (docs/domain.md §5).
///
/// # Errors
/// [`MetricError::TooFew`] for fewer than 2 differences, [`MetricError::NonFinite`],
/// [`MetricError::OutOfRange`] unless `margin > 0` and `0 < alpha < 0.5`,
/// [`MetricError::ZeroSpread`] if all differences are equal.
///
/// # Example
/// ```
/// use twin_eval::metrics::{MetricError, tost_paired};
/// // Differences (new − old) of a per-patient score; margin ±0.1.
/// let differences = [0.01, -0.02, 0.03, 0.0, -0.01, 0.02, 0.01, -0.03, 0.02, 0.0];
/// let res = tost_paired(&differences, 0.1, 0.05)?;
/// assert!(res.equivalent && res.ci_lower > -0.1 && res.ci_upper < 0.1);
/// # Ok::<(), MetricError>(())
/// ```
pub fn tost_paired(
    differences: &[f64],
    margin: f64,
    alpha: f64,
) -> Result<TostResult, MetricError> {
    if differences.len() < 2 {
        return Err(MetricError::TooFew {
            what: "paired differences",
            needed: 2,
            actual: differences.len(),
        });
    }
    check_finite("paired differences", differences)?;
    if !(margin > 0.0 && margin.is_finite()) {
        return Err(MetricError::OutOfRange {
            what: "margin",
            value: margin,
            allowed: "(0, ∞)",
        });
    }
    if !(alpha > 0.0 && alpha < 0.5) {
        return Err(MetricError::OutOfRange {
            what: "alpha",
            value: alpha,
            allowed: "(0, 0.5)",
        });
    }
    let n = differences.len() as f64;
    let mean = mean_of(differences);
    let variance = compensated_sum(differences.iter().map(|d| (d - mean) * (d - mean))) / (n - 1.0);
    if variance <= 0.0 {
        return Err(MetricError::ZeroSpread {
            what: "paired differences",
        });
    }
    let se = (variance / n).sqrt();
    let df = n - 1.0;
    let t_crit = student_t_quantile(1.0 - alpha, df);
    let p_lower = 1.0 - student_t_cdf((mean + margin) / se, df);
    let p_upper = student_t_cdf((mean - margin) / se, df);
    let p_value = p_lower.max(p_upper);
    Ok(TostResult {
        n: differences.len(),
        mean_difference: mean,
        standard_error: se,
        df,
        ci_lower: mean - t_crit * se,
        ci_upper: mean + t_crit * se,
        p_lower,
        p_upper,
        p_value,
        equivalent: p_value < alpha,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(got: f64, expected: f64, tol: f64) {
        assert!(
            (got - expected).abs() <= tol,
            "got {got}, expected {expected}, tolerance {tol}"
        );
    }

    #[test]
    fn fair_crps_of_two_draws_by_hand() {
        // Draws {0, 2}, y = 1: (1/2)(1 + 1) − 1/(2·2·1)·(|0−2| + |2−0|) = 1 − 1 = 0.
        assert_close(crps_ensemble_fair(&[0.0, 2.0], 1.0).unwrap(), 0.0, 1e-15);
        // y = 3: (1/2)(3 + 1) − 1 = 1.
        assert_close(crps_ensemble_fair(&[2.0, 0.0], 3.0).unwrap(), 1.0, 1e-15);
    }

    #[test]
    fn fair_crps_equals_brute_force_double_sum() {
        // Brute force straight from the definition, on small random inputs with ties.
        let mut stream = RandomStream::new(11, 0, 0, Purpose::Custom(0));
        for m in 2..12 {
            let draws: Vec<f64> = (0..m)
                .map(|_| (stream.normal() * 4.0).round() / 2.0)
                .collect();
            let y = stream.normal();
            let mf = m as f64;
            let abs: f64 = draws.iter().map(|x| (x - y).abs()).sum::<f64>() / mf;
            let pairs: f64 = draws
                .iter()
                .flat_map(|a| draws.iter().map(move |b| (a - b).abs()))
                .sum();
            let brute = abs - pairs / (2.0 * mf * (mf - 1.0));
            assert_close(crps_ensemble_fair(&draws, y).unwrap(), brute, 1e-13);
        }
    }

    #[test]
    fn energy_score_in_one_dimension_is_the_crps() {
        let draws = [0.3, -1.2, 2.5, 0.0, 0.7];
        let as_vectors: Vec<Vec<f64>> = draws.iter().map(|x| vec![*x]).collect();
        assert_close(
            energy_score_fair(&as_vectors, &[0.4]).unwrap(),
            crps_ensemble_fair(&draws, 0.4).unwrap(),
            1e-14,
        );
    }

    #[test]
    fn pit_by_hand() {
        // Draws {1, 2, 2, 3}, y = 2: one below, two equal → (1 + 1 + ½)/5 = 0.5.
        assert_close(pit_value(&[1.0, 2.0, 2.0, 3.0], 2.0).unwrap(), 0.5, 1e-15);
        // y below all four draws → ½/5.
        assert_close(pit_value(&[1.0, 2.0, 2.0, 3.0], 0.0).unwrap(), 0.1, 1e-15);
    }

    #[test]
    fn ks_sf_closed_forms() {
        // n = 1: D = max(u, 1 − u) ≥ ½ and P(D ≥ d) = 2(1 − d) for ½ ≤ d ≤ 1.
        assert_close(kolmogorov_sf(1, 0.7), 0.6, 1e-15);
        // n = 2, d = 0.4 (nd = 0.8 ≤ 1): CDF = 2!/2² (2·0.8 − 1)² = 0.18.
        assert_close(kolmogorov_sf(2, 0.4), 0.82, 1e-15);
    }

    #[test]
    fn t_and_normal_special_values() {
        // t with 1 df is Cauchy: F(t) = ½ + atan(t)/π.
        for t in [-3.0, -0.5, 0.2, 1.0, 7.0] {
            assert_close(
                student_t_cdf(t, 1.0),
                0.5 + f64::atan(t) / std::f64::consts::PI,
                1e-14,
            );
        }
        // t with 2 df: F(t) = ½ + t / (2√(2 + t²)).
        for t in [-2.0, 0.3, 4.0] {
            assert_close(
                student_t_cdf(t, 2.0),
                0.5 + t / (2.0 * (2.0 + t * t).sqrt()),
                1e-14,
            );
        }
        assert_close(
            student_t_quantile(0.975, 1.0),
            (0.475 * std::f64::consts::PI).tan(),
            1e-10,
        );
        assert_close(
            standard_normal_quantile(standard_normal_cdf(1.3)),
            1.3,
            1e-14,
        );
        // ln Γ(½) = ½ ln π; ln Γ(5) = ln 24.
        assert_close(stats::ln_gamma(0.5), 0.5 * std::f64::consts::PI.ln(), 1e-14);
        assert_close(stats::ln_gamma(5.0), 24.0_f64.ln(), 1e-14);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            crps_ensemble_fair(&[1.0], 0.0),
            Err(MetricError::TooFew {
                what: "ensemble draws",
                needed: 2,
                actual: 1
            })
        );
        assert_eq!(
            crps_ensemble_fair(&[1.0, f64::NAN], 0.0),
            Err(MetricError::NonFinite {
                what: "ensemble draws",
                index: 1
            })
        );
        assert!(matches!(
            crps_gaussian(0.0, 0.0, 1.0),
            Err(MetricError::OutOfRange { what: "sd", .. })
        ));
        assert_eq!(
            point_errors(&[1.0, 2.0], &[vec![1.0]]),
            Err(MetricError::LengthMismatch {
                what: "ensembles",
                expected: 2,
                actual: 1
            })
        );
        assert!(matches!(
            interval_coverage(&[1.0], &[vec![1.0, 2.0]], &[1.0]),
            Err(MetricError::OutOfRange { .. })
        ));
        assert_eq!(
            tost_paired(&[1.0, 1.0, 1.0], 0.5, 0.05),
            Err(MetricError::ZeroSpread {
                what: "paired differences"
            })
        );
        assert_eq!(
            npde_subject(&[1.0, 2.0], &[vec![1.0, 2.0], vec![2.0, 3.0]]),
            Err(MetricError::TooFew {
                what: "simulations (must exceed the number of observations)",
                needed: 3,
                actual: 2
            })
        );
        // Perfectly collinear simulations: the second coordinate is twice the first.
        let sims: Vec<Vec<f64>> = (0..5)
            .map(|k| vec![f64::from(k), 2.0 * f64::from(k)])
            .collect();
        assert!(matches!(
            npde_subject(&[1.0, 2.0], &sims),
            Err(MetricError::NotPositiveDefinite { pivot: 1 })
        ));
        assert_eq!(
            bootstrap_ci(&[1.0, 2.0], &|_| f64::NAN, 10, 1),
            Err(MetricError::NonFiniteStatistic { replicate: 0 })
        );
        assert!(matches!(
            pit_histogram(&[0.5, 1.5], 10),
            Err(MetricError::OutOfRange { .. })
        ));
    }
}
