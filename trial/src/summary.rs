//! Operating characteristics of each analysis over the replicate trials, the closed-form
//! predictions next to them, and the simulated sample-size search.
//!
//! Per analysis, with `R` replicate trials:
//!
//! - power = share of alternative-scenario replicates with `p < α`; type-I error = the same
//!   share under the null scenario. A replicate whose analysis failed (e.g. no events) counts as
//!   not rejecting. Monte Carlo standard error `√(p(1 − p)/R)` (binomial).
//! - bias = mean estimate − true effect, RMSE = `√mean((estimate − true)²)`, coverage = share of
//!   95 % confidence intervals that contain the true effect, over the replicates whose analysis
//!   succeeded; Monte Carlo standard errors `SD/√R` and `√(c(1 − c)/R)`.
//!
//! Every sum runs over the results in replicate order, so the summary of a set of replicate
//! results is a pure function of that set (shards concatenated and sorted give the same bytes).

use std::collections::BTreeMap;

use crate::closed_form::{MeansPlan, schoenfeld_events, schoenfeld_power};
use crate::design::{Design, Method};
use crate::error::TrialError;
use crate::replicates::{Progress, ReplicateData, ReplicateResult, Trial, mean_sd};

/// Operating characteristics of one analysis.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AnalysisSummary {
    /// Analysis name.
    pub analysis: String,
    /// Endpoint name.
    pub endpoint: String,
    /// Method keyword.
    pub method: String,
    /// Scale of the effect.
    pub effect_scale: String,
    /// Replicate trials.
    pub replicates: u64,
    /// Power (alternative scenario).
    pub power: f64,
    /// Its Monte Carlo standard error.
    pub power_mcse: f64,
    /// Type-I error (null scenario).
    pub type1_error: f64,
    /// Its Monte Carlo standard error.
    pub type1_mcse: f64,
    /// True effect (truth cohort).
    pub true_effect: f64,
    /// Its Monte Carlo standard error.
    pub true_effect_mcse: f64,
    /// Mean estimate under the alternative.
    pub mean_estimate: f64,
    /// Bias under the alternative.
    pub bias: f64,
    /// Its Monte Carlo standard error.
    pub bias_mcse: f64,
    /// Root mean squared error under the alternative.
    pub rmse: f64,
    /// Coverage of the 95 % CI of the true effect under the alternative.
    pub coverage: f64,
    /// Its Monte Carlo standard error.
    pub coverage_mcse: f64,
    /// Coverage of 0 by the 95 % CI under the null.
    pub null_coverage: f64,
    /// Mean model-based standard error under the alternative.
    pub mean_std_error: f64,
    /// Standard deviation of the estimates under the alternative (empirical standard error).
    pub empirical_sd: f64,
    /// Mean number of patients analysed under the alternative.
    pub mean_analysed: f64,
    /// Mean number of events under the alternative (time to event).
    pub mean_events: f64,
    /// Replicates whose analysis failed under the alternative.
    pub failed_alternative: u64,
    /// Replicates whose analysis failed under the null.
    pub failed_null: u64,
}

/// Summarises `results` (any set of replicate results of one design, e.g. shards concatenated).
/// The results are sorted by replicate index first.
#[must_use]
pub fn summarise(trial: &Trial<'_>, results: &[ReplicateResult]) -> Vec<AnalysisSummary> {
    let design = trial.design();
    let mut sorted: Vec<&ReplicateResult> = results.iter().collect();
    sorted.sort_by_key(|r| r.replicate);
    design
        .analyses
        .iter()
        .enumerate()
        .map(|(a, analysis)| {
            let truth = trial.truth()[analysis.endpoint];
            let n = sorted.len() as u64;
            let alternative: Vec<_> = sorted.iter().map(|r| &r.alternative[a]).collect();
            let null: Vec<_> = sorted.iter().filter_map(|r| r.null.get(a)).collect();
            let rejects = |list: &[&Result<crate::analysis::Effect, String>]| {
                list.iter()
                    .filter(|e| e.as_ref().is_ok_and(|e| e.p_value < design.alpha))
                    .count() as u64
            };
            let share = |k: u64, n: u64| {
                if n == 0 {
                    f64::NAN
                } else {
                    k as f64 / n as f64
                }
            };
            let binomial_se = |p: f64, n: u64| (p * (1.0 - p) / n as f64).sqrt();
            let power = share(rejects(&alternative), n);
            let type1 = share(rejects(&null), null.len() as u64);
            let ok: Vec<&crate::analysis::Effect> =
                alternative.iter().filter_map(|e| e.as_ref().ok()).collect();
            let estimates: Vec<f64> = ok.iter().map(|e| e.estimate).collect();
            let (mean_estimate, empirical_sd) = mean_sd(&estimates);
            let n_ok = ok.len() as u64;
            let rmse = (ok
                .iter()
                .map(|e| (e.estimate - truth.value).powi(2))
                .sum::<f64>()
                / n_ok as f64)
                .sqrt();
            let covered = ok
                .iter()
                .filter(|e| e.ci_lower <= truth.value && truth.value <= e.ci_upper)
                .count() as u64;
            let coverage = share(covered, n_ok);
            let null_ok: Vec<&crate::analysis::Effect> =
                null.iter().filter_map(|e| e.as_ref().ok()).collect();
            let null_covered = null_ok
                .iter()
                .filter(|e| e.ci_lower <= 0.0 && 0.0 <= e.ci_upper)
                .count() as u64;
            let mean_of = |f: &dyn Fn(&crate::analysis::Effect) -> f64| {
                ok.iter().map(|e| f(e)).sum::<f64>() / n_ok as f64
            };
            AnalysisSummary {
                analysis: analysis.name.clone(),
                endpoint: design.endpoints[analysis.endpoint].name.clone(),
                method: analysis.method.keyword().to_owned(),
                effect_scale: analysis.method.effect_scale().to_owned(),
                replicates: n,
                power,
                power_mcse: binomial_se(power, n),
                type1_error: type1,
                type1_mcse: binomial_se(type1, null.len() as u64),
                true_effect: truth.value,
                true_effect_mcse: truth.mcse,
                mean_estimate,
                bias: mean_estimate - truth.value,
                bias_mcse: empirical_sd / (n_ok as f64).sqrt(),
                rmse,
                coverage,
                coverage_mcse: binomial_se(coverage, n_ok),
                null_coverage: share(null_covered, null_ok.len() as u64),
                mean_std_error: mean_of(&|e| e.std_error),
                empirical_sd,
                mean_analysed: mean_of(&|e| e.n as f64),
                mean_events: mean_of(&|e| e.n_events as f64),
                failed_alternative: n - n_ok,
                failed_null: (null.len() - null_ok.len()) as u64,
            }
        })
        .collect()
}

/// The closed-form prediction for one analysis.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClosedForm {
    /// Analysis name.
    pub analysis: String,
    /// Which formula.
    pub formula: String,
    /// Inputs: true effect (truth cohort), control SD, R² and ρ (historical control cohort),
    /// or the log hazard ratio and mean events per trial.
    pub inputs: BTreeMap<String, f64>,
    /// Predicted power with the design's patients.
    pub power: Option<f64>,
    /// Total patients for the target power (unrounded), by the formula.
    pub n_total: Option<f64>,
    /// PROCOVA: `n·(1 − ρ²)` with `n` the total of the unadjusted t test.
    pub n_total_procova_formula: Option<f64>,
    /// Time to event: events for the target power (Schoenfeld).
    pub events: Option<f64>,
    /// Why a prediction is missing.
    pub note: Option<String>,
}

/// Closed-form predictions per analysis (see [`crate::closed_form`]), using the true effect of
/// the truth cohort, the control SD and `R²`/ρ of the historical control cohort, and for
/// time-to-event analyses the true log hazard ratio and the mean number of events per simulated
/// trial in `summaries`.
#[must_use]
pub fn closed_form(trial: &Trial<'_>, summaries: &[AnalysisSummary]) -> Vec<ClosedForm> {
    let design = trial.design();
    let (n_control, n_treated) = design.arm_sizes(design.patients);
    let control_fraction = design.control.allocation;
    design
        .analyses
        .iter()
        .zip(summaries)
        .zip(trial.historical())
        .map(|((analysis, summary), historical)| {
            let truth = trial.truth()[analysis.endpoint];
            let mut inputs = BTreeMap::new();
            inputs.insert("true_effect".to_owned(), truth.value);
            let mut out = ClosedForm {
                analysis: analysis.name.clone(),
                formula: String::new(),
                inputs,
                power: None,
                n_total: None,
                n_total_procova_formula: None,
                events: None,
                note: None,
            };
            if design.endpoints[analysis.endpoint].is_time_to_event() {
                out.formula = "Schoenfeld: power = Phi(|log HR| sqrt(D f (1 - f)) - z_{1-alpha/2})".to_owned();
                out.inputs.insert("mean_events".to_owned(), summary.mean_events);
                out.power = schoenfeld_power(truth.value, summary.mean_events, control_fraction, design.alpha).ok();
                out.events = schoenfeld_events(truth.value, design.target_power, control_fraction, design.alpha).ok();
                return out;
            }
            let Some(fit) = historical else {
                out.note = Some("the historical control cohort gave no fit".to_owned());
                return out;
            };
            out.inputs.insert("control_sd".to_owned(), fit.sd);
            out.inputs.insert("r_squared".to_owned(), fit.r_squared);
            if let Some(rho) = fit.rho {
                out.inputs.insert("rho".to_owned(), rho);
            }
            let n_covariates =
                analysis.covariates.len() + usize::from(analysis.method == Method::Procova);
            out.formula = if n_covariates == 0 {
                "two-sample t: power = P(T'(nu, lambda) > t_{1-alpha/2, nu}), lambda = |delta| / (sigma sqrt(1/nC + 1/nT))".to_owned()
            } else {
                "ANCOVA: the t formula with sigma sqrt(1 - R^2) and nu = n - 2 - k".to_owned()
            };
            let plan = MeansPlan {
                effect: truth.value,
                sd: fit.sd,
                r_squared: fit.r_squared,
                n_covariates,
                alpha: design.alpha,
            };
            match plan.power(n_control as f64, n_treated as f64) {
                Ok(p) => out.power = Some(p),
                Err(e) => out.note = Some(e.to_string()),
            }
            out.n_total = plan.total_sample_size(design.target_power, control_fraction).ok();
            if let Some(rho) = fit.rho {
                let unadjusted = MeansPlan {
                    r_squared: 0.0,
                    n_covariates: 0,
                    ..plan
                };
                out.n_total_procova_formula = unadjusted
                    .total_sample_size(design.target_power, control_fraction)
                    .ok()
                    .and_then(|n| crate::linear::procova_sample_size(n, rho).ok());
            }
            out
        })
        .collect()
}

/// Simulated power of the searched analyses at one trial size.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SizeEvaluation {
    /// Randomised patients in total.
    pub n_total: u64,
    /// Controls.
    pub n_control: u64,
    /// Treated.
    pub n_treated: u64,
    /// Power per searched analysis (in the order of the design's `sample_size.analyses`).
    pub power: Vec<f64>,
}

/// The search result of one analysis.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchResult {
    /// Analysis name.
    pub analysis: String,
    /// Smallest total found to reach the target power, `None` if even the largest tried did not.
    pub n_total: Option<u64>,
    /// Its controls.
    pub n_control: Option<u64>,
    /// Its treated.
    pub n_treated: Option<u64>,
    /// Simulated power there.
    pub power: Option<f64>,
    /// Its Monte Carlo standard error.
    pub power_mcse: Option<f64>,
    /// The Monte Carlo uncertainty of `n_total`: the smallest evaluated totals whose simulated
    /// power reaches `target − 2·SE` and `target + 2·SE` (SE the binomial standard error at the
    /// target), `None` where no evaluated total does.
    pub n_total_range: (Option<u64>, Option<u64>),
    /// Totals evaluated for this analysis, in the order tried.
    pub path: Vec<u64>,
}

/// The simulated sample-size search.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SampleSizeSearch {
    /// Target power.
    pub target_power: f64,
    /// Replicate trials per evaluated size.
    pub replicates: u64,
    /// How the search proceeds.
    pub method: String,
    /// Every evaluated size, ascending.
    pub evaluations: Vec<SizeEvaluation>,
    /// Per searched analysis.
    pub results: Vec<SearchResult>,
}

/// How [`search_sample_size`] proceeds (also written into reports).
pub const SEARCH_METHOD: &str = "Per analysis: evaluate the design's N (rounded down to whole \
randomisation blocks); halve while the power stays at or above the target (or double while it \
is below, up to max_patients) to bracket the target; then bisect the bracket down to one block. \
Every size uses replicate trials 0..R with the design's seed (common random numbers): the \
patients of a smaller trial are the first enrolled of a larger one, with the same arms, entry, \
dropout and outcomes, so each replicate's patients are simulated once and the simulated power \
varies smoothly with N. Reported: the smallest N evaluated whose simulated power reaches the \
target.";

/// Searches, per analysis in `design.sample_size`, the smallest total number of patients whose
/// simulated power reaches the target (see [`SEARCH_METHOD`]). Evaluations at a size are shared
/// by all analyses.
///
/// # Errors
/// As [`Trial::run`].
pub fn search_sample_size(
    trial: &Trial<'_>,
    progress: &dyn Progress,
) -> Result<Option<SampleSizeSearch>, TrialError> {
    let design: &Design = trial.design();
    let Some(spec) = &design.sample_size else {
        return Ok(None);
    };
    let unit = design.block_size;
    let floor_unit = |n: u64| (n / unit * unit).max(unit).max(2 * design.allocation_unit);
    let max = floor_unit(spec.max_patients);
    let mut caches: Vec<ReplicateData> = (0..spec.replicates)
        .map(|replicate| ReplicateData {
            replicate,
            n_screened: 0,
            patients: Vec::new(),
        })
        .collect();
    let mut cache: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    let mut evaluate = |n: u64| -> Result<Vec<f64>, TrialError> {
        if let Some(p) = cache.get(&n) {
            return Ok(p.clone());
        }
        let all =
            trial.power_with_cache(&mut caches, n, progress, &format!("sample size N = {n}"))?;
        let power: Vec<f64> = spec.analyses.iter().map(|&a| all[a]).collect();
        cache.insert(n, power.clone());
        Ok(power)
    };
    let target = design.target_power;
    let mut results = Vec::new();
    for (k, &a) in spec.analyses.iter().enumerate() {
        let mut path = Vec::new();
        let mut power_at = |n: u64, path: &mut Vec<u64>| -> Result<f64, TrialError> {
            path.push(n);
            Ok(evaluate(n)?[k])
        };
        let start = floor_unit(design.patients.min(max));
        let smallest = floor_unit(0);
        let (mut lo, mut hi): (u64, Option<u64>) = if power_at(start, &mut path)? >= target {
            let mut hi = start;
            // One unit below the smallest trial: treated as not reaching the target.
            let mut lo = smallest - unit;
            let mut n = floor_unit(start / 2);
            while n < hi {
                if power_at(n, &mut path)? >= target {
                    hi = n;
                    n = floor_unit(n / 2);
                } else {
                    lo = n;
                    break;
                }
            }
            (lo, Some(hi))
        } else {
            let mut lo = start;
            let mut hi = None;
            while lo < max {
                let n = (lo * 2).min(max);
                if power_at(n, &mut path)? >= target {
                    hi = Some(n);
                    break;
                }
                lo = n;
            }
            (lo, hi)
        };
        if let Some(mut h) = hi {
            while h - lo > unit {
                let mid = ((lo + h) / 2 / unit * unit).max(lo + unit).max(smallest);
                if power_at(mid, &mut path)? >= target {
                    h = mid;
                } else {
                    lo = mid;
                }
            }
            hi = Some(h);
        }
        let power = hi.map(|h| evaluate(h).map(|p| p[k])).transpose()?;
        let (n_control, n_treated) = hi.map(|h| design.arm_sizes(h)).unzip();
        results.push(SearchResult {
            analysis: design.analyses[a].name.clone(),
            n_total: hi,
            n_control,
            n_treated,
            power,
            power_mcse: power.map(|p| (p * (1.0 - p) / spec.replicates as f64).sqrt()),
            n_total_range: (None, None),
            path,
        });
    }
    let se = (target * (1.0 - target) / spec.replicates as f64).sqrt();
    for (k, result) in results.iter_mut().enumerate() {
        let smallest_reaching = |level: f64| {
            cache
                .iter()
                .find(|(_, power)| power[k] >= level)
                .map(|(&n, _)| n)
        };
        result.n_total_range = (
            smallest_reaching(target - 2.0 * se),
            smallest_reaching(target + 2.0 * se),
        );
    }
    let evaluations = cache
        .iter()
        .map(|(&n, power)| {
            let (n_control, n_treated) = design.arm_sizes(n);
            SizeEvaluation {
                n_total: n,
                n_control,
                n_treated,
                power: power.clone(),
            }
        })
        .collect();
    Ok(Some(SampleSizeSearch {
        target_power: target,
        replicates: spec.replicates,
        method: SEARCH_METHOD.to_owned(),
        evaluations,
        results,
    }))
}
