//! From per-patient forecasts to the report: scores per observation and patient, metrics with
//! patient-level bootstrap CIs per subgroup, the comparison of the versions, cohort drift and the
//! decision of every acceptance criterion.
//!
//! Aggregation conventions (stated in the report):
//! - `mae`, `rmse`, `crps`, coverage and width pool the held-out observations of the patients in
//!   the (resampled) set, so each observation weighs the same; `energy` averages per-patient
//!   energy scores, so each patient weighs the same.
//! - Paired differences are per patient: the candidate's minus the previous version's mean over
//!   the patient's held-out observations; their mean weighs each patient the same.
//! - Every bootstrap resamples patients with replacement ([`bootstrap_ci`], seed = the plan's
//!   seed, so every metric sees the same resamples of the same patient set).

use std::collections::BTreeMap;

use twin_engine::model::sha256_hex;
use twin_engine::montecarlo::Crossing;
use twin_engine::random::RNG_ALGORITHM;

use crate::compare::{choose_therapy, decision_flips, patient_shift, summarise};
use crate::diff;
use crate::drift::{
    DriftLevel, PsiThresholds, ks_two_sample, mmd_rbf, normalised_wasserstein1, psi,
};
use crate::error::EvalError;
use crate::metrics::{
    MetricError, PIT_HISTOGRAM_BINS, STANDARD_INTERVAL_LEVELS, bootstrap_ci, central_interval,
    crps_ensemble_fair, energy_score_fair, ks_uniform, moment_summary, npde_subject, pit_histogram,
    pit_value, quantile_type7, student_t_quantile, tost_paired,
};
use crate::plan::{Criterion, DecideOn, MetricKind, Rule, metric_info};
use crate::protocol::{PatientForecast, PatientResult, RiskMeasure};
use crate::report::{
    CANDIDATE, ChangeLog, CohortDrift, Comparison, CovariateDrift, CriterionResult, DataFile,
    DataProvenance, DecisionComparison, EventSettings, Identity, MetricValue, ModelIdentity,
    PREVIOUS, PairedDifference, PatientComparison, PatientNote, PlanRecord, PosteriorDiagnostics,
    PredictionDrift, Prepared, ProgramIdentity, ProtocolRecord, Report, ReportBody,
    Reproducibility, RiskAssessment, SignOff, SubgroupResult, Verdict, Verification,
    VersionResults, VpcBinRecord,
};
use crate::survival_metrics::{
    CensoredSample, brier_score, harrell_c, integrated_brier_score, uno_c,
};
use crate::vpc::{pc_vpc, share_outside};

/// The forecasts of one version.
pub(crate) struct VersionRun<'a> {
    pub(crate) role: &'a str,
    pub(crate) results: Vec<PatientResult>,
}

/// The time-to-event data of one patient.
#[derive(Debug, Clone)]
struct PatientEvent {
    /// Time from the origin to the first held-out observation beyond the threshold, or to the
    /// last held-out observation (censored).
    time: f64,
    event: bool,
    /// Predicted probability of no event by each Brier time.
    survival: Vec<f64>,
}

/// Scores of one patient's held-out observations.
#[derive(Debug, Clone)]
struct PatientScores {
    n_obs: usize,
    abs_error: f64,
    squared_error: f64,
    crps: f64,
    energy: f64,
    covered: [f64; 4],
    width: [f64; 4],
    pits: Vec<f64>,
    npde: Option<Vec<f64>>,
    event: Option<PatientEvent>,
}

impl PatientScores {
    fn mean_crps(&self) -> f64 {
        self.crps / self.n_obs as f64
    }
    fn mean_abs_error(&self) -> f64 {
        self.abs_error / self.n_obs as f64
    }
}

fn metric_err(what: &str) -> impl FnOnce(MetricError) -> EvalError {
    EvalError::metric(what)
}

fn score_patient(
    forecast: &PatientForecast,
    event: Option<&EventSettings>,
) -> Result<PatientScores, EvalError> {
    let context = |what: &str| format!("{what} of patient {}", forecast.id);
    let mut scores = PatientScores {
        n_obs: forecast.held_out.len(),
        abs_error: 0.0,
        squared_error: 0.0,
        crps: 0.0,
        energy: 0.0,
        covered: [0.0; 4],
        width: [0.0; 4],
        pits: Vec::with_capacity(forecast.held_out.len()),
        npde: None,
        event: None,
    };
    for obs in &forecast.held_out {
        let y = obs.observed;
        let median = quantile_type7(&obs.draws, 0.5).map_err(metric_err(&context("median")))?;
        let mean = obs.draws.iter().sum::<f64>() / obs.draws.len() as f64;
        scores.abs_error += (y - median).abs();
        scores.squared_error += (y - mean) * (y - mean);
        scores.crps += crps_ensemble_fair(&obs.draws, y).map_err(metric_err(&context("CRPS")))?;
        for (k, &level) in STANDARD_INTERVAL_LEVELS.iter().enumerate() {
            let (lo, hi) =
                central_interval(&obs.draws, level).map_err(metric_err(&context("interval")))?;
            scores.covered[k] += f64::from(u8::from(lo <= y && y <= hi));
            scores.width[k] += hi - lo;
        }
        scores
            .pits
            .push(pit_value(&obs.draws, y).map_err(metric_err(&context("PIT")))?);
    }
    let n_draws = forecast.held_out[0].draws.len();
    let observed: Vec<f64> = forecast.held_out.iter().map(|o| o.observed).collect();
    let joint: Vec<Vec<f64>> = (0..n_draws)
        .map(|d| forecast.held_out.iter().map(|o| o.draws[d]).collect())
        .collect();
    scores.energy =
        energy_score_fair(&joint, &observed).map_err(metric_err(&context("energy score")))?;
    // NPDE need a non-singular simulated covariance; a patient where it is singular is left out
    // of the NPDE summary (reported as a count).
    scores.npde = npde_subject(&observed, &joint).ok();
    if let Some(event) = event {
        let mut order: Vec<usize> = (0..forecast.held_out.len()).collect();
        order.sort_by(|&a, &b| {
            forecast.held_out[a]
                .time
                .total_cmp(&forecast.held_out[b].time)
        });
        let since = |j: usize| (forecast.held_out[j].time - forecast.origin).max(0.0);
        let first_observed = order
            .iter()
            .find(|&&j| event.is_event(forecast.held_out[j].observed));
        let (time, happened) = match first_observed {
            Some(&j) => (since(j), true),
            None => (since(order[order.len() - 1]), false),
        };
        // First predicted event time per draw (∞ when none).
        let first_predicted: Vec<f64> = (0..n_draws)
            .map(|d| {
                order
                    .iter()
                    .find(|&&j| event.is_event(forecast.held_out[j].draws[d]))
                    .map_or(f64::INFINITY, |&j| since(j))
            })
            .collect();
        let survival = event
            .brier_times
            .iter()
            .map(|&tau| {
                first_predicted.iter().filter(|&&t| t > tau).count() as f64 / n_draws as f64
            })
            .collect();
        scores.event = Some(PatientEvent {
            time,
            event: happened,
            survival,
        });
    }
    Ok(scores)
}

/// Event times, event indicators and predicted survival rows of a set of patients.
type EventColumns = (Vec<f64>, Vec<bool>, Vec<Vec<f64>>);

/// A covariate's values in the training and the evaluation cohort.
type CohortColumns = (Vec<f64>, Vec<f64>);

/// A metric of one version over the patients `idx` (with repeats when resampled).
fn version_metric(
    name: &str,
    scores: &[PatientScores],
    idx: &[usize],
    event: Option<&EventSettings>,
) -> Result<f64, String> {
    let pooled = |f: &dyn Fn(&PatientScores) -> f64| {
        let total: f64 = idx.iter().map(|&i| f(&scores[i])).sum();
        let n: usize = idx.iter().map(|&i| scores[i].n_obs).sum();
        total / n as f64
    };
    let level = |name: &str, prefix: &str| {
        let percent: f64 = name[prefix.len()..].parse().unwrap_or(f64::NAN);
        STANDARD_INTERVAL_LEVELS
            .iter()
            .position(|&l| (l * 100.0 - percent).abs() < 1e-9)
    };
    let events = || -> Result<EventColumns, String> {
        let mut times = Vec::with_capacity(idx.len());
        let mut happened = Vec::with_capacity(idx.len());
        let mut survival = Vec::with_capacity(idx.len());
        for &i in idx {
            let e = scores[i]
                .event
                .as_ref()
                .ok_or("no time-to-event endpoint in the plan")?;
            times.push(e.time);
            happened.push(e.event);
            survival.push(e.survival.clone());
        }
        Ok((times, happened, survival))
    };
    let text = |e: MetricError| e.to_string();
    match name {
        "mae" => Ok(pooled(&|s| s.abs_error)),
        "rmse" => Ok(pooled(&|s| s.squared_error).sqrt()),
        "crps" => Ok(pooled(&|s| s.crps)),
        "energy" => Ok(idx.iter().map(|&i| scores[i].energy).sum::<f64>() / idx.len() as f64),
        _ if name.starts_with("coverage") => {
            let k = level(name, "coverage").ok_or("unknown interval level")?;
            Ok(pooled(&|s| s.covered[k]))
        }
        _ if name.starts_with("width") => {
            let k = level(name, "width").ok_or("unknown interval level")?;
            Ok(pooled(&|s| s.width[k]))
        }
        "pit_ks_d" | "pit_ks_p" => {
            let pits: Vec<f64> = idx.iter().flat_map(|&i| scores[i].pits.clone()).collect();
            let ks = ks_uniform(&pits).map_err(text)?;
            Ok(if name == "pit_ks_d" {
                ks.statistic
            } else {
                ks.p_value
            })
        }
        "npde_mean" | "npde_variance" | "npde_skewness" | "npde_kurtosis" => {
            let values: Vec<f64> = idx
                .iter()
                .filter_map(|&i| scores[i].npde.clone())
                .flatten()
                .collect();
            let moments = moment_summary(&values).map_err(text)?;
            Ok(match name {
                "npde_mean" => moments.mean,
                "npde_variance" => moments.variance,
                "npde_skewness" => moments.skewness,
                _ => moments.excess_kurtosis,
            })
        }
        "harrell_c" | "uno_c" | "brier" | "ibs" => {
            let event = event.ok_or("no time-to-event endpoint in the plan")?;
            let (times, happened, survival) = events()?;
            let horizon = event.brier_times[event.brier_times.len() - 1];
            let sample = CensoredSample {
                times: &times,
                events: &happened,
            };
            match name {
                "harrell_c" | "uno_c" => {
                    let risk: Vec<f64> = survival.iter().map(|s| 1.0 - s[s.len() - 1]).collect();
                    let c = if name == "harrell_c" {
                        harrell_c(&times, &happened, &risk)
                    } else {
                        uno_c(sample, sample, &risk, Some(horizon))
                    };
                    Ok(c.map_err(text)?.c_index)
                }
                "brier" => {
                    let last: Vec<Vec<f64>> =
                        survival.iter().map(|s| vec![s[s.len() - 1]]).collect();
                    Ok(brier_score(sample, sample, &last, &[horizon]).map_err(text)?[0])
                }
                _ => integrated_brier_score(sample, sample, &survival, &event.brier_times)
                    .map_err(text),
            }
        }
        other => Err(format!("'{other}' is not a per-version metric")),
    }
}

/// Value and bootstrap CI of a statistic over the patients `members`.
fn with_ci(
    members: &[usize],
    statistic: &dyn Fn(&[usize]) -> Result<f64, String>,
    has_ci: bool,
    n_boot: usize,
    seed: u64,
) -> MetricValue {
    if members.len() < 2 {
        return MetricValue {
            value: None,
            ci95: None,
            note: Some(format!(
                "{} patient(s); at least 2 are needed",
                members.len()
            )),
        };
    }
    let value = match statistic(members) {
        Ok(v) if v.is_finite() => v,
        Ok(v) => {
            return MetricValue {
                value: None,
                ci95: None,
                note: Some(format!("not finite ({v})")),
            };
        }
        Err(message) => {
            return MetricValue {
                value: None,
                ci95: None,
                note: Some(message),
            };
        }
    };
    if !has_ci {
        return MetricValue {
            value: Some(value),
            ci95: None,
            note: None,
        };
    }
    let as_values: Vec<f64> = members.iter().map(|&i| i as f64).collect();
    let resampled = |values: &[f64]| {
        let idx: Vec<usize> = values.iter().map(|&v| v as usize).collect();
        statistic(&idx).unwrap_or(f64::NAN)
    };
    match bootstrap_ci(&as_values, &resampled, n_boot, seed) {
        Ok((lo, hi)) => MetricValue {
            value: Some(value),
            ci95: Some([lo, hi]),
            note: None,
        },
        Err(e) => MetricValue {
            value: Some(value),
            ci95: None,
            note: Some(format!("no bootstrap CI: {e}")),
        },
    }
}

/// Mean and Student-t 90 % interval of paired differences (the TOST interval at α = 0.05); a
/// zero spread gives the point interval.
fn t_interval_90(diffs: &[f64]) -> [f64; 2] {
    let n = diffs.len() as f64;
    let mean = diffs.iter().sum::<f64>() / n;
    let variance = diffs.iter().map(|d| (d - mean) * (d - mean)).sum::<f64>() / (n - 1.0);
    let half = student_t_quantile(0.95, n - 1.0) * (variance / n).sqrt();
    [mean - half, mean + half]
}

fn level_name(level: DriftLevel) -> String {
    match level {
        DriftLevel::Stable => "stable",
        DriftLevel::Moderate => "moderate",
        DriftLevel::Major => "major",
    }
    .to_owned()
}

/// The per-patient quantity of a paired metric.
fn paired_value(metric: &str, s: &PatientScores) -> f64 {
    match metric {
        "crps_diff" => s.mean_crps(),
        "energy_diff" => s.energy,
        "mae_diff" => s.mean_abs_error(),
        "coverage90_diff" => s.covered[2] / s.n_obs as f64,
        _ => s.width[2] / s.n_obs as f64,
    }
}

/// The paired metrics, in catalogue order.
const PAIRED: [&str; 5] = [
    "crps_diff",
    "energy_diff",
    "mae_diff",
    "coverage90_diff",
    "width90_diff",
];

/// Baseline value of a covariate per subject (first record), NaN where missing.
fn baseline(dataset: &twin_engine::records::Dataset, name: &str) -> Vec<f64> {
    let column = dataset.covariate_index(name);
    dataset
        .subjects
        .iter()
        .map(|s| {
            column
                .and_then(|c| s.records.first().map(|r| r.covariates[c]))
                .unwrap_or(f64::NAN)
        })
        .collect()
}

fn cohort_drift(prepared: &Prepared<'_>) -> Option<CohortDrift> {
    let training = prepared.training.as_ref()?;
    let plan = prepared.inputs.plan;
    let thresholds = PsiThresholds {
        moderate: plan.drift.psi_moderate,
        major: plan.drift.psi_major,
    };
    let seed = plan.protocol.seed;
    let permutations = plan.drift.mmd_permutations;
    let mut covariates = BTreeMap::new();
    let mut n_drifted = 0;
    let mut joint_columns: Vec<CohortColumns> = Vec::new();
    for name in &prepared.drift_covariates {
        let reference_all = baseline(training, name);
        let current_all = baseline(&prepared.dataset, name);
        let reference: Vec<f64> = reference_all
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        let current: Vec<f64> = current_all
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        let mut notes = Vec::new();
        let mut record = CovariateDrift {
            n_training: reference.len(),
            n_evaluation: current.len(),
            psi: None,
            psi_level: None,
            ks_d: None,
            ks_p: None,
            wasserstein_normalised: None,
            mmd2: None,
            mmd_p: None,
            drifted: false,
            note: None,
        };
        if reference.len() < 2 || current.len() < 2 {
            record.note = Some("fewer than 2 values in a cohort".to_owned());
            covariates.insert(name.clone(), record);
            continue;
        }
        if let Ok(res) = psi(&reference, &current) {
            record.psi = Some(res.value);
            record.psi_level = Some(level_name(thresholds.classify(res.value)));
        }
        if let Ok(ks) = ks_two_sample(&reference, &current) {
            record.ks_d = Some(ks.statistic);
            record.ks_p = Some(ks.p_value);
        }
        match normalised_wasserstein1(&reference, &current) {
            Ok(w) => record.wasserstein_normalised = Some(w),
            Err(e) => notes.push(format!("Wasserstein: {e}")),
        }
        let rows = |v: &[f64]| v.iter().map(|&x| vec![x]).collect::<Vec<_>>();
        match mmd_rbf(&rows(&reference), &rows(&current), permutations, seed) {
            Ok(m) => {
                record.mmd2 = Some(m.mmd2);
                record.mmd_p = Some(m.p_value);
            }
            Err(e) => notes.push(format!("MMD: {e}")),
        }
        // Evidently's defaults (docs/domain.md §5): KS at p < 0.05 for at most 1000 reference rows,
        // otherwise normalised Wasserstein at 0.1.
        record.drifted = if reference.len() <= 1000 {
            record.ks_p.is_some_and(|p| p < 0.05)
        } else {
            record.wasserstein_normalised.is_some_and(|w| w >= 0.1)
        };
        n_drifted += usize::from(record.drifted);
        if !notes.is_empty() {
            record.note = Some(notes.join("; "));
        }
        joint_columns.push((reference_all, current_all));
        covariates.insert(name.clone(), record);
    }
    // Joint MMD over covariates standardised by the training mean and SD; rows with a missing
    // value and constant training columns are left out.
    let standardised: Vec<CohortColumns> = joint_columns
        .into_iter()
        .filter_map(|(reference, current)| {
            let finite: Vec<f64> = reference
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            let mean = finite.iter().sum::<f64>() / finite.len() as f64;
            let sd = (finite.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>()
                / finite.len() as f64)
                .sqrt();
            (sd > 0.0).then(|| {
                let z = |v: &Vec<f64>| v.iter().map(|x| (x - mean) / sd).collect::<Vec<f64>>();
                (z(&reference), z(&current))
            })
        })
        .collect();
    let rows = |pick: &dyn Fn(&CohortColumns) -> &Vec<f64>| -> Vec<Vec<f64>> {
        let n = standardised.first().map_or(0, |c| pick(c).len());
        (0..n)
            .map(|i| {
                standardised
                    .iter()
                    .map(|c| pick(c)[i])
                    .collect::<Vec<f64>>()
            })
            .filter(|row| row.iter().all(|v| v.is_finite()))
            .collect()
    };
    let (joint_mmd2, joint_mmd_p) = if standardised.is_empty() {
        (None, None)
    } else {
        match mmd_rbf(&rows(&|c| &c.0), &rows(&|c| &c.1), permutations, seed) {
            Ok(m) => (Some(m.mmd2), Some(m.p_value)),
            Err(_) => (None, None),
        }
    };
    let n_covariates = covariates.len();
    let (n_reference, n_current) = (
        training.subjects.len() as f64,
        prepared.dataset.subjects.len() as f64,
    );
    let psi_without_drift = 9.0 * (1.0 / n_reference + 1.0 / n_current);
    Some(CohortDrift {
        covariates,
        joint_mmd2,
        joint_mmd_p,
        n_drifted,
        dataset_drift: n_covariates > 0 && 2 * n_drifted >= n_covariates,
        rules: format!(
            "Baseline covariates (first record of each subject), training cohort = reference. \
             PSI on 10 reference-decile bins (empty bins 1e-4): stable < {}, moderate < {}, \
             major otherwise. KS two-sample (exact p for samples up to 10000). Wasserstein-1 \
             divided by the reference SD. MMD with an RBF kernel (median-distance bandwidth), \
             {permutations} permutations, seed {seed}; the joint MMD standardises each covariate \
             by the training mean and SD. A covariate drifts (Evidently's defaults) when KS \
             p < 0.05 for at most 1000 reference values, otherwise when the normalised \
             Wasserstein distance is at least 0.1; the cohort drifts when at least half of the \
             covariates do. Sampling noise alone inflates PSI: without drift it is about \
             (1/n + 1/m) times a chi-square with 9 degrees of freedom (Yurdakul 2018), about \
             {} on average for these cohort sizes, so read small-cohort PSI levels with the KS \
             and MMD tests.",
            thresholds.moderate,
            thresholds.major,
            number(psi_without_drift)
        ),
    })
}

/// The whole report from the runs (candidate first).
pub(crate) fn build_report(
    prepared: &Prepared<'_>,
    runs: &[VersionRun<'_>],
) -> Result<Report, EvalError> {
    let inputs = &prepared.inputs;
    let plan = inputs.plan;
    let n_subjects = prepared.dataset.subjects.len();
    let seed = plan.protocol.seed;
    let n_boot = plan.protocol.bootstrap_replicates;
    let event = prepared.event.as_ref();

    // The analysis set: subjects forecast by every version.
    let mut excluded = Vec::new();
    let mut failed = Vec::new();
    let mut analysed = Vec::new();
    for subject_idx in 0..n_subjects {
        let mut all_ok = true;
        for run in runs {
            match &run.results[subject_idx] {
                PatientResult::Forecast(_) => {}
                PatientResult::Excluded { id, reason } => {
                    all_ok = false;
                    if run.role == CANDIDATE {
                        excluded.push(PatientNote {
                            id: id.clone(),
                            version: None,
                            reason: reason.clone(),
                        });
                    }
                }
                PatientResult::Failed { id, message } => {
                    all_ok = false;
                    failed.push(PatientNote {
                        id: id.clone(),
                        version: Some(run.role.to_owned()),
                        reason: message.clone(),
                    });
                }
            }
        }
        if all_ok {
            analysed.push(subject_idx);
        }
    }
    if analysed.len() < 2 {
        return Err(EvalError::Run {
            message: format!(
                "only {} patient(s) could be forecast by every version; {} failed (first: {})",
                analysed.len(),
                failed.len(),
                failed
                    .first()
                    .map_or("none".to_owned(), |f| format!("{}: {}", f.id, f.reason))
            ),
        });
    }
    let forecasts: Vec<Vec<&PatientForecast>> = runs
        .iter()
        .map(|run| {
            analysed
                .iter()
                .map(|&i| match &run.results[i] {
                    PatientResult::Forecast(f) => f,
                    _ => unreachable!("the analysis set holds forecast subjects only"),
                })
                .collect()
        })
        .collect();
    let scores: Vec<Vec<PatientScores>> = forecasts
        .iter()
        .map(|version| {
            version
                .iter()
                .map(|f| score_patient(f, event))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;

    // Subgroup membership over the analysis set (positions into `analysed`).
    let mut groups: Vec<(String, String, Vec<usize>)> = vec![(
        "all".to_owned(),
        "all patients".to_owned(),
        (0..analysed.len()).collect(),
    )];
    for (name, condition, members) in &prepared.subgroups {
        groups.push((
            name.clone(),
            condition.clone(),
            (0..analysed.len())
                .filter(|&p| members[analysed[p]])
                .collect(),
        ));
    }

    // Metrics of each version: the reported ones and those the criteria read.
    let mut wanted: Vec<&str> = plan.reported_metrics().iter().map(|m| m.name).collect();
    for criterion in &prepared.criteria {
        if !wanted.contains(&criterion.rule.metric()) {
            wanted.push(criterion.rule.metric());
        }
    }
    let version_metrics: Vec<&str> = crate::plan::METRICS
        .iter()
        .filter(|m| {
            wanted.contains(&m.name)
                && matches!(
                    m.kind,
                    MetricKind::Forecast | MetricKind::CohortOnly | MetricKind::Event
                )
        })
        .map(|m| m.name)
        .collect();
    let mut results = BTreeMap::new();
    for (run, version_scores) in runs.iter().zip(&scores) {
        let version_forecasts = &forecasts[results.len()];
        let vpc_input = {
            let held: Vec<&crate::protocol::HeldOut> =
                version_forecasts.iter().flat_map(|f| &f.held_out).collect();
            pc_vpc(
                &held.iter().map(|h| h.time).collect::<Vec<_>>(),
                &held.iter().map(|h| h.observed).collect::<Vec<_>>(),
                &held
                    .iter()
                    .map(|h| h.population_prediction)
                    .collect::<Vec<_>>(),
                &held.iter().map(|h| h.draws.clone()).collect::<Vec<_>>(),
                plan.protocol.vpc_bins,
            )
        };
        let (vpc, vpc_note) = match &vpc_input {
            Ok(bins) => (
                bins.iter()
                    .map(|b| VpcBinRecord {
                        time_first: b.time_first,
                        time_last: b.time_last,
                        time_median: b.time_median,
                        n_observations: b.n_observations,
                        observed: b.observed,
                        simulated_lower: b.simulated_lower,
                        simulated_median: b.simulated_median,
                        simulated_upper: b.simulated_upper,
                    })
                    .collect(),
                None,
            ),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let mut by_subgroup = BTreeMap::new();
        for (name, condition, members) in &groups {
            let mut metrics = BTreeMap::new();
            for &metric in &version_metrics {
                let info = metric_info(metric).expect("catalogue metric");
                if info.kind == MetricKind::CohortOnly && name != "all" {
                    continue;
                }
                let value = if metric == "vpc_outside" {
                    match &vpc_input {
                        Ok(bins) if !bins.is_empty() => MetricValue {
                            value: Some(share_outside(bins)),
                            ci95: None,
                            note: None,
                        },
                        Ok(_) => MetricValue {
                            value: None,
                            ci95: None,
                            note: Some("no pcVPC bin".to_owned()),
                        },
                        Err(e) => MetricValue {
                            value: None,
                            ci95: None,
                            note: Some(e.to_string()),
                        },
                    }
                } else {
                    with_ci(
                        members,
                        &|idx| version_metric(metric, version_scores, idx, event),
                        info.has_ci,
                        n_boot,
                        seed,
                    )
                };
                metrics.insert(metric.to_owned(), value);
            }
            by_subgroup.insert(
                name.clone(),
                SubgroupResult {
                    condition: condition.clone(),
                    n_patients: members.len(),
                    n_observations: members.iter().map(|&p| version_scores[p].n_obs).sum(),
                    metrics,
                },
            );
        }
        let all_pits: Vec<f64> = version_scores.iter().flat_map(|s| s.pits.clone()).collect();
        results.insert(
            run.role.to_owned(),
            VersionResults {
                by_subgroup,
                pit_histogram: pit_histogram(&all_pits, PIT_HISTOGRAM_BINS)
                    .map_err(metric_err("PIT histogram"))?,
                vpc,
                vpc_note,
            },
        );
    }

    // Comparison of the candidate with the previous version.
    let mut paired_diffs: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let comparison = if runs.len() == 2 {
        let (candidate, previous) = (&scores[0], &scores[1]);
        let mut paired = BTreeMap::new();
        for (name, _, members) in &groups {
            let mut by_metric = BTreeMap::new();
            if members.len() >= 2 {
                for metric in PAIRED {
                    let diffs: Vec<f64> = members
                        .iter()
                        .map(|&p| {
                            paired_value(metric, &candidate[p]) - paired_value(metric, &previous[p])
                        })
                        .collect();
                    let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
                    let ci95 = bootstrap_ci(
                        &diffs,
                        &|v: &[f64]| v.iter().sum::<f64>() / v.len() as f64,
                        n_boot,
                        seed,
                    )
                    .ok()
                    .map(|(lo, hi)| [lo, hi]);
                    let ci90_t = t_interval_90(&diffs);
                    by_metric.insert(
                        metric.to_owned(),
                        PairedDifference {
                            n_patients: diffs.len(),
                            mean,
                            ci95,
                            ci90_t: if ci90_t.iter().all(|v| v.is_finite()) {
                                ci90_t
                            } else {
                                [mean, mean]
                            },
                        },
                    );
                    paired_diffs.insert((name.clone(), metric.to_owned()), diffs);
                }
            }
            paired.insert(name.clone(), by_metric);
        }
        let mut per_patient = Vec::with_capacity(analysed.len());
        let mut median_shifts = Vec::with_capacity(analysed.len());
        let mut width_shifts = Vec::with_capacity(analysed.len());
        let mut pooled_previous = Vec::new();
        let mut pooled_candidate = Vec::new();
        let mut per_observation_w1 = Vec::new();
        for (p, (new, old)) in forecasts[0].iter().zip(&forecasts[1]).enumerate() {
            let old_draws: Vec<Vec<f64>> = old.held_out.iter().map(|h| h.draws.clone()).collect();
            let new_draws: Vec<Vec<f64>> = new.held_out.iter().map(|h| h.draws.clone()).collect();
            let shift = patient_shift(&old_draws, &new_draws, 0.9)
                .map_err(metric_err(&format!("shift of patient {}", new.id)))?;
            median_shifts.push(shift.median_shift);
            width_shifts.push(shift.width_shift);
            per_patient.push(PatientComparison {
                id: new.id.clone(),
                median_shift: shift.median_shift,
                width_shift: shift.width_shift,
                crps_diff: candidate[p].mean_crps() - previous[p].mean_crps(),
            });
            for (o, n) in old_draws.iter().zip(&new_draws) {
                pooled_previous.extend_from_slice(o);
                pooled_candidate.extend_from_slice(n);
                if let Ok(w) = normalised_wasserstein1(o, n) {
                    per_observation_w1.push(w);
                }
            }
        }
        let thresholds = PsiThresholds {
            moderate: plan.drift.psi_moderate,
            major: plan.drift.psi_major,
        };
        let drift_psi =
            psi(&pooled_previous, &pooled_candidate).map_err(metric_err("prediction PSI"))?;
        let ks = ks_two_sample(&pooled_previous, &pooled_candidate)
            .map_err(metric_err("prediction KS"))?;
        let prediction_drift = PredictionDrift {
            psi: drift_psi.value,
            psi_level: level_name(thresholds.classify(drift_psi.value)),
            ks_d: ks.statistic,
            ks_p: ks.p_value,
            wasserstein_normalised: normalised_wasserstein1(&pooled_previous, &pooled_candidate)
                .map_err(metric_err("prediction Wasserstein"))?,
            per_observation_wasserstein: summarise(&per_observation_w1).ok(),
        };
        let decision = decision_comparison(prepared, &forecasts, n_boot, seed)?;
        Some(Comparison {
            paired,
            median_shift: summarise(&median_shifts).map_err(metric_err("median shifts"))?,
            width_shift: summarise(&width_shifts).map_err(metric_err("width shifts"))?,
            per_patient,
            prediction_drift,
            decision,
        })
    } else {
        None
    };

    // Criteria.
    let mut criteria: Vec<CriterionResult> = prepared
        .criteria
        .iter()
        .map(|c| decide(c, &results, comparison.as_ref(), &paired_diffs))
        .collect();
    let max_failed = plan.protocol.max_failed_patients;
    let failed_patients: Vec<&str> = {
        let mut ids: Vec<&str> = failed.iter().map(|f| f.id.as_str()).collect();
        ids.dedup();
        ids
    };
    let n_failed = failed_patients.len();
    criteria.push(CriterionResult {
        name: format!("forecast failures <= {max_failed}"),
        rule: format!("failed patients <= {max_failed} (protocol.max_failed_patients)"),
        subgroup: "all".to_owned(),
        metric: "failed_patients".to_owned(),
        estimate: Some(n_failed as f64),
        interval: None,
        interval_kind: "none (a count)".to_owned(),
        decided_on: "count".to_owned(),
        decisive_value: Some(n_failed as f64),
        status: if n_failed <= max_failed {
            "pass"
        } else {
            "fail"
        }
        .to_owned(),
        explanation: format!(
            "{n_failed} patient(s) could not be forecast by every version; the plan allows \
             {max_failed}"
        ),
        rationale: "Built in: a forecast that fails is not a forecast that can be evaluated."
            .to_owned(),
    });
    let failed_criteria: Vec<String> = criteria
        .iter()
        .filter(|c| c.status != "pass")
        .map(|c| c.name.clone())
        .collect();
    let verdict = Verdict {
        status: if failed_criteria.is_empty() {
            "PASS"
        } else {
            "FAIL"
        }
        .to_owned(),
        summary: if failed_criteria.is_empty() {
            format!(
                "All {} acceptance criteria pass for {}.",
                criteria.len(),
                plan.models.candidate
            )
        } else {
            format!(
                "{} of {} acceptance criteria fail or cannot be evaluated for {}: {}.",
                failed_criteria.len(),
                criteria.len(),
                plan.models.candidate,
                failed_criteria.join("; ")
            )
        },
        n_criteria: criteria.len(),
        failed_criteria,
    };

    let mut posterior = BTreeMap::new();
    for (run, version) in runs.iter().zip(&forecasts) {
        let ess: Vec<f64> = version.iter().map(|f| f.effective_sample_size).collect();
        posterior.insert(
            run.role.to_owned(),
            PosteriorDiagnostics {
                n_unreliable: version.iter().filter(|f| !f.reliable).count(),
                effective_sample_size: summarise(&ess).ok(),
            },
        );
    }
    let output_spec = &inputs.candidate.spec().outputs[prepared.settings.output];
    let time_unit = inputs.candidate.spec().time_unit.symbol();
    let protocol = ProtocolRecord {
        conditioning: match (plan.protocol.condition_on_first, &plan.protocol.origin) {
            (Some(k), _) => format!(
                "each patient's twin is conditioned on its records up to and including its \
                 observation number {k}; later observations of {} are forecast",
                output_spec.name
            ),
            (None, origin) => format!(
                "each patient's twin is conditioned on its records up to {}; later observations \
                 of {} are forecast",
                origin.as_deref().unwrap_or(""),
                output_spec.name
            ),
        },
        output: output_spec.name.to_owned(),
        output_unit: output_spec.unit.to_owned(),
        time_unit: time_unit.to_owned(),
        draws: plan.protocol.draws,
        n_subjects,
        n_analysed: analysed.len(),
        n_held_out: scores[0].iter().map(|s| s.n_obs).sum(),
        n_censored_held_out: forecasts[0].iter().map(|f| f.n_censored_held_out).sum(),
        excluded,
        failed,
        posterior,
    };

    let mut models = vec![ModelIdentity::of(
        CANDIDATE,
        &plan.models.candidate,
        inputs.candidate,
    )];
    if let (Some(reference), Some(model)) = (&plan.models.previous, inputs.previous) {
        models.push(ModelIdentity::of(PREVIOUS, reference, model));
    }
    let influence = plan.risk.model_influence;
    let consequence = plan.risk.decision_consequence;
    let mut limitations = plan.limitations.clone();
    limitations.extend(automatic_limitations(prepared, &scores));
    let mut body = ReportBody {
        identity: Identity {
            report_id: format!("{}:{}", plan.id, plan.models.candidate),
            title: plan.title.clone(),
            supersedes: prepared.supersedes.clone(),
        },
        verdict,
        question: plan.question.clone(),
        risk: RiskAssessment {
            model_influence: influence.name().to_owned(),
            decision_consequence: consequence.name().to_owned(),
            level: influence.rank() + consequence.rank() - 1,
            method: "Level = influence + consequence - 1 on a 1-5 scale (low = 1, medium = 2, \
                     high = 3): a linear reading of the ASME V&V 40 risk matrix, which leaves \
                     the matrix to the user [A]."
                .to_owned(),
            rationale: plan.risk.rationale.clone(),
        },
        models,
        program: ProgramIdentity {
            name: inputs.program.name.clone(),
            version: inputs.program.version.clone(),
            commit: inputs.program.commit.clone(),
            eval_version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        data: DataProvenance {
            evaluation: DataFile::of(
                inputs.evaluation,
                &plan.data.evaluation_provenance,
                &prepared.dataset,
            ),
            training: match (inputs.training, &prepared.training) {
                (Some(file), Some(dataset)) => Some(DataFile::of(
                    file,
                    plan.data.training_provenance.as_deref().unwrap_or(""),
                    dataset,
                )),
                _ => None,
            },
            independence: plan.data.independence.clone(),
        },
        plan: PlanRecord {
            path: inputs.plan_file.path.to_owned(),
            sha256: sha256_hex(inputs.plan_file.bytes),
            fixed_on: plan.fixed_on.clone(),
            content: plan.clone(),
        },
        verification: Verification {
            solver_rtol: prepared.settings.solver.rtol,
            solver_atol: prepared.settings.solver.atol,
            map_design_starts: prepared.settings.map.n_design_starts,
            importance_proposals: plan.protocol.draws * plan.protocol.proposals_per_draw,
            checks: VERIFICATION_CHECKS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        },
        protocol,
        results,
        criteria,
        comparison,
        cohort_drift: cohort_drift(prepared),
        change_log: ChangeLog {
            description_of_modifications: plan.models.description_of_modifications.clone(),
            since_superseded: Vec::new(),
        },
        reproducibility: Reproducibility {
            seed,
            rng: RNG_ALGORITHM.to_owned(),
            streams: format!(
                "Posterior proposals: (seed, 0, subject index, Posterior); residual errors of \
                 the draws: (seed, 0, subject index, Custom(603)); decision and outcome events: \
                 the cohort streams of seed {seed}; bootstrap: (seed, replicate, 0, Custom(601)); \
                 MMD permutations: (seed, permutation, 0, Custom(602)). Every version uses the \
                 same streams."
            ),
            bootstrap: format!(
                "{n_boot} patient-level percentile bootstrap replicates (2.5 % and 97.5 % type-7 \
                 quantiles), the same resamples for every metric of a patient set"
            ),
            parallelism: "Patients are forecast in parallel and gathered in subject order; the \
                          report does not depend on the number of threads. One process, no \
                          shards."
                .to_owned(),
            command: inputs.program.command.clone(),
        },
        limitations,
        estimand: plan.estimand.clone(),
        sign_off: SignOff::default(),
    };
    if let Some(previous) = &prepared.superseded {
        body.change_log.since_superseded = diff::changes(&previous.body, &body);
    }
    Ok(Report::new(body))
}

/// What the test suite checks, in words, for the verification section.
const VERIFICATION_CHECKS: [&str; 7] = [
    "Every metric, drift statistic and survival metric equals scipy 1.17.1, lifelines 0.30.3 or \
     scikit-survival 0.28.0 on committed fixtures, or a closed form (eval/tests/metrics_reference.rs).",
    "pcVPC statistics, per-patient shifts and decision flips equal numpy 2.4.6 on committed \
     fixtures (eval/tests/comparison_reference.rs).",
    "The forecast protocol is leakage-safe: changing an observation or a covariate recorded after \
     the origin does not change any forecast (eval/tests/protocol.rs).",
    "Posterior-predictive forecasts of the twin are calibrated on the models' own virtual \
     populations: 90 % interval coverage and PIT uniformity (twin-models/tests/forecast_calibration.rs).",
    "Dosing semantics equal NONMEM's output on the mrgsolve/nlmixr2 dosing scenarios \
     (twin-models/tests/nonmem_dosing.rs).",
    "Every released model version reproduces its golden trajectory and content hash \
     (twin-models/tests/golden.rs).",
    "Closed-form PK propagation equals the ODE solution (twin-models/tests/closed_form_vs_ode.rs).",
];

fn automatic_limitations(prepared: &Prepared<'_>, scores: &[Vec<PatientScores>]) -> Vec<String> {
    let mut res = vec![
        "Held-out observations are forecast under the doses actually recorded after the origin; \
         the forecast is conditional on the therapy given."
            .to_owned(),
        "PIT values and NPDE of one patient share its posterior, so they are not independent; the \
         KS p-value of the PITs is descriptive."
            .to_owned(),
    ];
    let n_without_npde = scores[0].iter().filter(|s| s.npde.is_none()).count();
    if n_without_npde > 0 {
        res.push(format!(
            "{n_without_npde} patient(s) of the candidate have no NPDE (singular simulated \
             covariance of their held-out observations)."
        ));
    }
    if prepared.training.is_none() {
        res.push("No training cohort was named, so cohort drift is not assessed.".to_owned());
    }
    res
}

fn decision_comparison(
    prepared: &Prepared<'_>,
    forecasts: &[Vec<&PatientForecast>],
    n_boot: usize,
    seed: u64,
) -> Result<Option<DecisionComparison>, EvalError> {
    let (Some(spec), Some(Some(settings))) =
        (&prepared.inputs.plan.decision, prepared.decisions.first())
    else {
        return Ok(None);
    };
    let choose = |f: &PatientForecast| {
        choose_therapy(&f.therapy_risks, spec.max_risk)
            .map_err(metric_err(&format!("therapy choice of patient {}", f.id)))
    };
    let candidate: Vec<usize> = forecasts[0]
        .iter()
        .map(|f| choose(f))
        .collect::<Result<_, _>>()?;
    let previous: Vec<usize> = forecasts[1]
        .iter()
        .map(|f| choose(f))
        .collect::<Result<_, _>>()?;
    let flips = decision_flips(&previous, &candidate).map_err(metric_err("decision flips"))?;
    let indicator: Vec<f64> = previous
        .iter()
        .zip(&candidate)
        .map(|(a, b)| f64::from(u8::from(a != b)))
        .collect();
    let members: Vec<usize> = (0..indicator.len()).collect();
    let flip_rate = with_ci(
        &members,
        &|idx| Ok(idx.iter().map(|&i| indicator[i]).sum::<f64>() / idx.len() as f64),
        true,
        n_boot,
        seed,
    );
    let names: Vec<String> = settings.therapies.iter().map(|a| a.name.clone()).collect();
    let counts = |choices: &[usize]| {
        (0..names.len())
            .map(|t| choices.iter().filter(|&&c| c == t).count())
            .collect::<Vec<usize>>()
    };
    let risk = match &settings.risk {
        RiskMeasure::Outcome(idx) => {
            let outcome = &prepared.inputs.candidate.spec().outcomes[*idx];
            format!(
                "model outcome {} ({}) within {} after the origin",
                outcome.name, outcome.description, spec.horizon
            )
        }
        RiskMeasure::Event(event) => format!(
            "probability that {} {} {} at an output time (every {}) within {} after the origin",
            prepared.inputs.candidate.spec().outputs[event.output].name,
            if event.crossing == Crossing::Below {
                "falls below"
            } else {
                "rises above"
            },
            event.threshold,
            spec.every,
            spec.horizon
        ),
    };
    let mut choices = BTreeMap::new();
    choices.insert(CANDIDATE.to_owned(), counts(&candidate));
    choices.insert(PREVIOUS.to_owned(), counts(&previous));
    Ok(Some(DecisionComparison {
        therapies: names.clone(),
        risk,
        max_risk: spec.max_risk,
        n_flips: flips.n_flips,
        n_patients: flips.n,
        flip_rate,
        choices,
        flipped: forecasts[0]
            .iter()
            .zip(previous.iter().zip(&candidate))
            .filter(|(_, (a, b))| a != b)
            .map(|(f, (a, b))| [f.id.clone(), names[*a].clone(), names[*b].clone()])
            .collect(),
    }))
}

/// Decides one criterion.
fn decide(
    criterion: &Criterion,
    results: &BTreeMap<String, VersionResults>,
    comparison: Option<&Comparison>,
    paired_diffs: &BTreeMap<(String, String), Vec<f64>>,
) -> CriterionResult {
    let metric = criterion.rule.metric().to_owned();
    let mut res = CriterionResult {
        name: criterion.name.clone(),
        rule: criterion.rule_text.clone(),
        subgroup: criterion.subgroup.clone(),
        metric: metric.clone(),
        estimate: None,
        interval: None,
        interval_kind: String::new(),
        decided_on: String::new(),
        decisive_value: None,
        status: "not evaluable".to_owned(),
        explanation: String::new(),
        rationale: criterion.rationale.clone(),
    };
    let kind = metric_info(&metric).map_or(MetricKind::Forecast, |m| m.kind);
    match &criterion.rule {
        Rule::Threshold {
            comparison: op,
            value: threshold,
            ..
        } => {
            let value: Option<MetricValue> = match kind {
                MetricKind::Paired => comparison
                    .and_then(|c| c.paired.get(&criterion.subgroup))
                    .and_then(|m| m.get(&metric))
                    .map(|d| MetricValue {
                        value: Some(d.mean),
                        ci95: d.ci95,
                        note: None,
                    }),
                MetricKind::Decision => comparison
                    .and_then(|c| c.decision.as_ref())
                    .map(|d| d.flip_rate.clone()),
                _ => results
                    .get(CANDIDATE)
                    .and_then(|r| r.by_subgroup.get(&criterion.subgroup))
                    .and_then(|s| s.metrics.get(&metric))
                    .cloned(),
            };
            res.interval_kind = "patient-level bootstrap 95 % CI".to_owned();
            let Some(value) = value else {
                res.explanation = format!("{metric} was not computed for {}", criterion.subgroup);
                return res;
            };
            res.estimate = value.value;
            res.interval = value.ci95;
            let decisive = match criterion.decide_on {
                DecideOn::Point => {
                    res.decided_on = "point estimate".to_owned();
                    value.value
                }
                DecideOn::Ci => {
                    if op.wants_high() {
                        res.decided_on = "lower bound of the 95 % CI".to_owned();
                        value.ci95.map(|ci| ci[0])
                    } else {
                        res.decided_on = "upper bound of the 95 % CI".to_owned();
                        value.ci95.map(|ci| ci[1])
                    }
                }
            };
            res.decisive_value = decisive;
            match decisive {
                None => {
                    res.explanation = format!(
                        "no {} for {metric}: {}",
                        res.decided_on,
                        value.note.as_deref().unwrap_or("not computed")
                    );
                }
                Some(v) => {
                    let holds = op.holds(v, *threshold);
                    res.status = if holds { "pass" } else { "fail" }.to_owned();
                    res.explanation = format!(
                        "{} of {metric} = {} {} {}",
                        res.decided_on,
                        number(v),
                        if holds { "satisfies" } else { "violates" },
                        format_args!("{} {}", op.symbol(), number(*threshold))
                    );
                }
            }
        }
        Rule::Equivalence { margin, .. } | Rule::NonInferiority { margin, .. } => {
            let equivalence = matches!(criterion.rule, Rule::Equivalence { .. });
            res.interval_kind = "Student t 90 % interval of the mean paired difference (two \
                                 one-sided tests at alpha 0.05)"
                .to_owned();
            let Some(diffs) = paired_diffs.get(&(criterion.subgroup.clone(), metric.clone()))
            else {
                res.explanation = format!(
                    "no paired differences of {metric} for {} (fewer than 2 patients?)",
                    criterion.subgroup
                );
                return res;
            };
            let ci = t_interval_90(diffs);
            let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
            let ci = if ci.iter().all(|v| v.is_finite()) {
                ci
            } else {
                [mean, mean]
            };
            res.estimate = Some(mean);
            res.interval = Some(ci);
            let p = tost_paired(diffs, *margin, 0.05)
                .ok()
                .map(|t| if equivalence { t.p_value } else { t.p_upper });
            let p_text = p.map_or(String::new(), |p| format!(", p = {}", number(p)));
            if equivalence {
                res.decided_on = "whole 90 % interval".to_owned();
                let holds = ci[0] > -margin && ci[1] < *margin;
                res.decisive_value = Some(ci[0].abs().max(ci[1].abs()));
                res.status = if holds { "pass" } else { "fail" }.to_owned();
                res.explanation = format!(
                    "90 % interval [{}, {}] of the mean {metric} {} inside (-{m}, {m}){p_text}",
                    number(ci[0]),
                    number(ci[1]),
                    if holds { "lies" } else { "does not lie" },
                    m = number(*margin)
                );
            } else {
                res.decided_on = "upper bound of the 90 % interval".to_owned();
                let holds = ci[1] < *margin;
                res.decisive_value = Some(ci[1]);
                res.status = if holds { "pass" } else { "fail" }.to_owned();
                res.explanation = format!(
                    "upper 90 % bound {} of the mean {metric} is {} the margin {}{p_text}",
                    number(ci[1]),
                    if holds { "below" } else { "not below" },
                    number(*margin)
                );
            }
        }
    }
    res
}

/// A number in at most 4 significant digits for explanations.
pub(crate) fn number(v: f64) -> String {
    if v.abs() < f64::MIN_POSITIVE || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor();
    if !(-3.0..6.0).contains(&magnitude) {
        return format!("{v:.3e}");
    }
    let decimals = (3.0 - magnitude).max(0.0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}
