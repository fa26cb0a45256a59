//! The leakage-safe forecast protocol: condition each patient's twin on its early records, then
//! draw posterior-predictive samples of its later observations.
//!
//! For every subject of the evaluation cohort, [`split_cohort`] cuts the records into a
//! *calibration prefix* and the rest:
//!
//! - with [`Conditioning::FirstObservations`]`(k)` the prefix ends with the k-th observation
//!   record (file order decides whether a dose at the same time comes before or after it); the
//!   **origin** is that observation's time;
//! - with [`Conditioning::Until`]`(t)` the prefix is every record up to the first record later
//!   than t; the origin is t.
//!
//! Two datasets are built from the cut. The **calibration** dataset holds only the prefixes, so
//! the posterior cannot see anything recorded after the origin. The **forecast** dataset holds
//! every record, with the DV of every record after the prefix removed and its covariates replaced
//! by those of the last prefix record (covariates measured later are not known at the origin);
//! doses after the origin are kept as recorded — the forecast is conditional on the therapy that
//! was actually given. Leakage-safe by construction: nothing after the origin except the dose
//! records can change a forecast (tested).
//!
//! [`forecast_patient`] then individualises the model on the calibration prefix
//! ([`map_estimate`], [`sample_posterior`] with stream id = subject index), predicts every
//! held-out observation of the scored output from each posterior draw over the forecast dataset,
//! and adds a residual error drawn from `RandomStream::new(seed, 0, subject index,`
//! [`RESIDUAL_PURPOSE`]`)`, draw by draw, observation by observation. Two model versions run with
//! the same seed therefore share every random number that does not depend on the model (posterior
//! proposals, residual errors, event streams): their differences are paired.
//!
//! A held-out observation below the limit of quantification (BLQ 1) is not scored, only counted.

use twin_engine::EngineError;
use twin_engine::model::Model;
use twin_engine::montecarlo::{Arm, CohortOptions, ThresholdEvent, run_cohort};
use twin_engine::population::Population;
use twin_engine::posterior::{
    Censoring, Individual, IndividualOptions, MapOptions, SamplingOptions, map_estimate,
    sample_posterior,
};
use twin_engine::predict::population_of;
use twin_engine::random::{Purpose, RandomStream};
use twin_engine::records::{Dataset, Evid, Subject};
use twin_engine::solver::SolverOptions;

#[cfg(feature = "parallel")]
use rayon::prelude::*;

/// Stream purpose of the residual errors added to posterior-predictive draws
/// (`Purpose::Custom(603)`; 601 and 602 are the bootstrap and MMD streams).
pub const RESIDUAL_PURPOSE: Purpose = Purpose::Custom(603);

/// Which records condition the twin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Conditioning {
    /// The records up to and including the k-th observation (k ≥ 1).
    FirstObservations(usize),
    /// The records up to the first record later than this time (model time units).
    Until(f64),
}

/// How one subject was cut.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitSubject {
    /// Subject identifier (ID column).
    pub id: String,
    /// Forecast origin (model time units).
    pub origin: f64,
    /// Number of records in the calibration prefix.
    pub n_prefix_records: usize,
    /// Observation records (any output) in the prefix.
    pub n_calibration_observations: usize,
    /// Observation records (any output) after the prefix.
    pub n_later_observations: usize,
    /// Why the subject is not forecast, if it is not.
    pub exclusion: Option<String>,
}

/// A cohort cut at each subject's origin.
#[derive(Debug, Clone)]
pub struct SplitCohort {
    /// Every subject's calibration prefix (subjects in the original order).
    pub calibration: Dataset,
    /// Every subject's whole history, DV removed and covariates held after the prefix.
    pub forecast: Dataset,
    /// One entry per subject.
    pub subjects: Vec<SplitSubject>,
}

/// Cuts every subject of `dataset` (see the [module documentation](self)).
///
/// Subjects without a record at or before the origin, or without an observation after the
/// prefix, are kept in both datasets (so subject indices, and hence random streams, do not
/// depend on who is excluded) and marked with an exclusion reason.
#[must_use]
pub fn split_cohort(dataset: &Dataset, conditioning: Conditioning) -> SplitCohort {
    let mut calibration = dataset.clone();
    calibration.source = format!("{} (calibration prefixes)", dataset.source);
    let mut forecast = dataset.clone();
    forecast.source = format!("{} (forecast histories)", dataset.source);
    let mut subjects = Vec::with_capacity(dataset.subjects.len());
    for (subject_idx, subject) in dataset.subjects.iter().enumerate() {
        let is_observation =
            |r: &twin_engine::records::Record| r.evid == Evid::Observation && r.dv.is_some();
        let (prefix_len, origin) = match conditioning {
            Conditioning::FirstObservations(k) => {
                match subject
                    .records
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| is_observation(r))
                    .nth(k.saturating_sub(1))
                {
                    Some((idx, record)) => (idx + 1, record.time),
                    None => (subject.records.len(), f64::NAN),
                }
            }
            Conditioning::Until(t) => (
                subject
                    .records
                    .iter()
                    .position(|r| r.time > t)
                    .unwrap_or(subject.records.len()),
                t,
            ),
        };
        let n_calibration_observations = subject.records[..prefix_len]
            .iter()
            .filter(|r| is_observation(r))
            .count();
        let n_later_observations = subject.records[prefix_len..]
            .iter()
            .filter(|r| is_observation(r))
            .count();
        let exclusion = if origin.is_nan() {
            let Conditioning::FirstObservations(k) = conditioning else {
                unreachable!("only FirstObservations leaves the origin undefined")
            };
            Some(format!(
                "{n_calibration_observations} observation(s); conditioning needs {k} and \
                 forecasting at least one more"
            ))
        } else if prefix_len == 0 {
            Some(format!("no record at or before the origin {origin}"))
        } else if n_later_observations == 0 {
            Some("no observation after the origin".to_owned())
        } else {
            None
        };
        calibration.subjects[subject_idx]
            .records
            .truncate(prefix_len);
        if prefix_len > 0 {
            let held = subject.records[prefix_len - 1].covariates.clone();
            for record in &mut forecast.subjects[subject_idx].records[prefix_len..] {
                record.dv = None;
                record.covariates.clone_from(&held);
            }
        }
        subjects.push(SplitSubject {
            id: subject.id.clone(),
            origin,
            n_prefix_records: prefix_len,
            n_calibration_observations,
            n_later_observations,
            exclusion,
        });
    }
    SplitCohort {
        calibration,
        forecast,
        subjects,
    }
}

/// How many draws, proposals and MAP starts, and which seed.
#[derive(Debug, Clone)]
pub struct ForecastSettings {
    /// Index of the scored model output.
    pub output: usize,
    /// Posterior-predictive draws per patient.
    pub n_draws: usize,
    /// Importance proposals per draw.
    pub proposals_per_draw: usize,
    /// Master seed.
    pub seed: u64,
    /// MAP options.
    pub map: MapOptions,
    /// Solver options.
    pub solver: SolverOptions,
}

/// What is compared between therapies at the origin: a risk per therapy.
#[derive(Debug, Clone, PartialEq)]
pub enum RiskMeasure {
    /// A model outcome: the event probability by the horizon (time to event) or the mean value.
    Outcome(usize),
    /// The probability that an output crosses a threshold at an output time within the horizon.
    Event(ThresholdEvent),
}

/// A therapy decision at the forecast origin.
#[derive(Debug, Clone)]
pub struct DecisionSettings {
    /// Therapies with dose times counted from the origin, in order of preference.
    pub therapies: Vec<Arm>,
    /// Horizon after the origin (model time units).
    pub horizon: f64,
    /// Spacing of the output grid (model time units).
    pub every: f64,
    /// The risk compared.
    pub risk: RiskMeasure,
}

/// The posterior-predictive sample of one held-out observation.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOut {
    /// Index of the record in the subject's records.
    pub record: usize,
    /// One-based line in the data file.
    pub line: usize,
    /// Observation time (model time units).
    pub time: f64,
    /// The observed value.
    pub observed: f64,
    /// The population prediction PRED (η = 0) at this record, for prediction correction.
    pub population_prediction: f64,
    /// Posterior-predictive draws (prediction plus residual error), one per posterior draw.
    pub draws: Vec<f64>,
}

/// One patient's forecast of its held-out observations.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientForecast {
    /// Index of the subject in the cohort.
    pub subject_idx: usize,
    /// Subject identifier.
    pub id: String,
    /// Forecast origin.
    pub origin: f64,
    /// Observations that conditioned the twin.
    pub n_calibration_observations: usize,
    /// The scored held-out observations, in record order.
    pub held_out: Vec<HeldOut>,
    /// Held-out observations of the scored output below the limit of quantification (not
    /// scored).
    pub n_censored_held_out: usize,
    /// Kish's effective sample size of the importance weights.
    pub effective_sample_size: f64,
    /// Pareto k̂ of the importance weights (`None` for exact prior draws).
    pub pareto_k: Option<f64>,
    /// Whether k̂ is below its threshold.
    pub reliable: bool,
    /// Risk per therapy of the decision, in therapy order (empty without a decision).
    pub therapy_risks: Vec<f64>,
}

/// The result for one subject.
#[derive(Debug, Clone, PartialEq)]
pub enum PatientResult {
    /// The forecast.
    Forecast(PatientForecast),
    /// Not forecast by design (see [`SplitSubject::exclusion`]), or forecast without a measured
    /// observation of the scored output to score.
    Excluded {
        /// Subject identifier.
        id: String,
        /// Why.
        reason: String,
    },
    /// The forecast failed (MAP, sampling or simulation).
    Failed {
        /// Subject identifier.
        id: String,
        /// The error.
        message: String,
    },
}

/// The model covariates of `record` in model order (NaN where the dataset has no such column).
fn model_covariates<M: Model + ?Sized>(
    model: &M,
    dataset: &Dataset,
    record: &twin_engine::records::Record,
) -> Vec<f64> {
    model
        .spec()
        .covariates
        .iter()
        .map(|c| {
            dataset
                .covariate_index(c.name)
                .and_then(|i| record.covariates.get(i))
                .copied()
                .unwrap_or(f64::NAN)
        })
        .collect()
}

/// Forecasts the held-out observations of subject `subject_idx` (see the
/// [module documentation](self)).
///
/// `dataset` is the original cohort (for the observed values), `split` its cut.
///
/// # Errors
/// Bad input as [`Individual::new`] reports it (file and line); run failures of the MAP, the
/// sampler, the simulator or the decision's cohort run.
///
/// # Panics
/// If `subject_idx` is out of range of `split` (the caller iterates over its subjects).
pub fn forecast_patient<M: Model + ?Sized>(
    model: &M,
    population: &Population,
    dataset: &Dataset,
    split: &SplitCohort,
    subject_idx: usize,
    settings: &ForecastSettings,
    decision: Option<&DecisionSettings>,
) -> Result<PatientForecast, EngineError> {
    let cut = &split.subjects[subject_idx];
    let options = IndividualOptions {
        solver: settings.solver,
        ..IndividualOptions::default()
    };
    // Observed values and their outputs: from the original records, used only for scoring.
    let full = Individual::new(model, population, dataset, subject_idx, &options)?;
    let scored: Vec<(usize, usize, f64, f64, bool)> = full
        .observations()
        .iter()
        .filter(|o| o.record >= cut.n_prefix_records && o.output == settings.output)
        .map(|o| {
            (
                o.record,
                o.line,
                o.time,
                o.value,
                matches!(o.censoring, Censoring::BelowLimit { .. }),
            )
        })
        .collect();
    drop(full);

    let mut patient =
        Individual::new(model, population, &split.calibration, subject_idx, &options)?;
    let map = map_estimate(&mut patient, &settings.map)?;
    let sampling = SamplingOptions {
        n_draws: settings.n_draws,
        n_proposals: settings
            .n_draws
            .saturating_mul(settings.proposals_per_draw.max(1)),
        seed: settings.seed,
        ..SamplingOptions::default()
    };
    let sample = sample_posterior(&mut patient, &map, &sampling)?;
    drop(patient);

    let mut forecaster =
        Individual::new(model, population, &split.forecast, subject_idx, &options)?;
    let n_out = model.spec().outputs.len();
    let residual = population.residual(settings.output);
    let uncensored: Vec<&(usize, usize, f64, f64, bool)> = scored.iter().filter(|s| !s.4).collect();
    let pred = forecaster.predictions(&vec![0.0; forecaster.n_eta()])?;
    let mut held_out: Vec<HeldOut> = uncensored
        .iter()
        .map(|&&(record, line, time, observed, _)| HeldOut {
            record,
            line,
            time,
            observed,
            population_prediction: pred[record * n_out + settings.output],
            draws: Vec::with_capacity(sample.n_draws),
        })
        .collect();
    let mut eps = RandomStream::new(settings.seed, 0, subject_idx as u64, RESIDUAL_PURPOSE);
    for draw_idx in 0..sample.n_draws {
        let f = forecaster.predictions(sample.draw(draw_idx))?;
        for obs in &mut held_out {
            let value = residual.observe(f[obs.record * n_out + settings.output], eps.normal());
            if !value.is_finite() {
                return Err(EngineError::invalid(
                    format!("forecast of line {}", obs.line),
                    format!("posterior draw {draw_idx} gives the non-finite value {value}"),
                ));
            }
            obs.draws.push(value);
        }
    }
    let therapy_risks = match decision {
        None => Vec::new(),
        Some(decision) => therapy_risks(
            model,
            split,
            subject_idx,
            settings,
            decision,
            &(0..sample.n_draws)
                .map(|d| sample.draw(d).to_vec())
                .collect::<Vec<_>>(),
        )?,
    };
    Ok(PatientForecast {
        subject_idx,
        id: cut.id.clone(),
        origin: cut.origin,
        n_calibration_observations: cut.n_calibration_observations,
        n_censored_held_out: scored.len() - held_out.len(),
        held_out,
        effective_sample_size: sample.diagnostics.effective_sample_size,
        pareto_k: sample.diagnostics.pareto_k,
        reliable: sample.diagnostics.is_reliable(),
        therapy_risks,
    })
}

/// Risk of every therapy of `decision` over the posterior draws of one patient: each draw is one
/// "patient" of [`run_cohort`] with the calibration prefix as recorded history and the
/// covariates of its last record, so therapies are compared on the same draws.
fn therapy_risks<M: Model + ?Sized>(
    model: &M,
    split: &SplitCohort,
    subject_idx: usize,
    settings: &ForecastSettings,
    decision: &DecisionSettings,
    eta_draws: &[Vec<f64>],
) -> Result<Vec<f64>, EngineError> {
    let cut = &split.subjects[subject_idx];
    let prefix: &Subject = &split.calibration.subjects[subject_idx];
    let last = prefix
        .records
        .last()
        .ok_or_else(|| EngineError::invalid("decision", "the calibration prefix is empty"))?;
    let n_steps = (decision.horizon / decision.every + 1e-9).floor() as usize;
    let times: Vec<f64> = (0..=n_steps)
        .map(|k| cut.origin + k as f64 * decision.every)
        .collect();
    let mut options = CohortOptions::new(eta_draws.len() as u64, settings.seed, times);
    options.solver = settings.solver;
    options.eta_draws = Some(eta_draws.to_vec());
    options.covariates = Some(model_covariates(model, &split.calibration, last));
    options.history.clone_from(&prefix.records);
    options.outcome_start = cut.origin;
    if let RiskMeasure::Event(event) = &decision.risk {
        options.events = vec![event.clone()];
    }
    let arms: Vec<Arm> = decision
        .therapies
        .iter()
        .map(|arm| {
            let mut regimen = arm.regimen.clone();
            for dose in &mut regimen.doses {
                dose.time += cut.origin;
            }
            Arm {
                name: arm.name.clone(),
                regimen,
                rules: Vec::new(),
            }
        })
        .collect();
    let summary = run_cohort(model, &arms, &options, &mut |_| {})?;
    if let Some(failure) = summary.failures.first() {
        return Err(EngineError::invalid(
            format!("decision therapy {}", failure.arm),
            format!(
                "posterior draw {} failed: {}",
                failure.patient, failure.message
            ),
        ));
    }
    Ok(summary
        .arms
        .iter()
        .map(|arm| match &decision.risk {
            RiskMeasure::Event(_) => arm.events[0].n_events as f64 / arm.n_ok as f64,
            RiskMeasure::Outcome(idx) => {
                let tally = &arm.outcomes[*idx];
                if tally.event_kind {
                    tally.n_observed as f64 / tally.n as f64
                } else {
                    tally.values.mean()
                }
            }
        })
        .collect())
}

/// Forecasts every subject of `split` with `model` (in parallel with the `parallel` feature;
/// results come back in subject order, so they do not depend on the number of threads).
///
/// Check the cohort with [`check_readable`] first: here every per-subject error, bad input
/// included, becomes [`PatientResult::Failed`].
///
/// # Errors
/// [`EngineError::Invalid`] if the model's population cannot be built.
pub fn forecast_cohort<M: Model + ?Sized>(
    model: &M,
    dataset: &Dataset,
    split: &SplitCohort,
    settings: &ForecastSettings,
    decision: Option<&DecisionSettings>,
) -> Result<Vec<PatientResult>, EngineError> {
    let population = population_of(model)?;
    let one = |subject_idx: usize| -> PatientResult {
        let cut = &split.subjects[subject_idx];
        if let Some(reason) = &cut.exclusion {
            return PatientResult::Excluded {
                id: cut.id.clone(),
                reason: reason.clone(),
            };
        }
        match forecast_patient(
            model,
            &population,
            dataset,
            split,
            subject_idx,
            settings,
            decision,
        ) {
            Ok(forecast) if forecast.held_out.is_empty() => PatientResult::Excluded {
                id: cut.id.clone(),
                reason: format!(
                    "no measured observation of {} after the origin ({} below the limit of \
                     quantification)",
                    model.spec().outputs[settings.output].name,
                    forecast.n_censored_held_out
                ),
            },
            Ok(forecast) => PatientResult::Forecast(forecast),
            Err(error) => PatientResult::Failed {
                id: cut.id.clone(),
                message: error.to_string(),
            },
        }
    };
    let indices: Vec<usize> = (0..split.subjects.len()).collect();
    #[cfg(feature = "parallel")]
    let results = indices.par_iter().map(|&i| one(i)).collect();
    #[cfg(not(feature = "parallel"))]
    let results = indices.iter().map(|&i| one(i)).collect();
    Ok(results)
}

/// Checks that `model` can read every subject of `dataset` (covariates present and within
/// bounds, compartments, outputs, BLQ codes), so bad input is reported before any computation.
///
/// # Errors
/// The first subject's error, naming the file and line.
pub fn check_readable<M: Model + ?Sized>(model: &M, dataset: &Dataset) -> Result<(), EngineError> {
    let population = population_of(model)?;
    for subject_idx in 0..dataset.subjects.len() {
        Individual::new(
            model,
            &population,
            dataset,
            subject_idx,
            &IndividualOptions::default(),
        )?;
    }
    Ok(())
}

/// The names of a NONMEM-style CSV's header, upper-cased (the first line that is neither blank
/// nor a `#` comment), for checking required columns before parsing the rows.
#[must_use]
pub fn header_columns(text: &str) -> Vec<String> {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|header| {
            header
                .split(',')
                .map(|name| name.trim().trim_matches('"').to_uppercase())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use twin_engine::nmcsv::parse_dataset;

    const DATA: &str = "ID,TIME,AMT,DV,WT\n\
        1,0,100,.,70\n\
        1,2,0,5,70\n\
        1,12,100,.,71\n\
        1,14,0,6,72\n\
        1,24,0,4,73\n\
        2,0,100,.,60\n\
        2,2,0,7,60\n";

    #[test]
    fn first_observations_cut_after_the_kth_observation() {
        let data = parse_dataset("d.csv", DATA).unwrap();
        let split = split_cohort(&data, Conditioning::FirstObservations(1));
        let first = &split.subjects[0];
        assert_eq!(
            (first.n_prefix_records, first.n_calibration_observations),
            (2, 1)
        );
        assert_eq!(first.n_later_observations, 2);
        assert!((first.origin - 2.0).abs() < 1e-12 && first.exclusion.is_none());
        assert_eq!(split.calibration.subjects[0].records.len(), 2);
        // After the prefix: no DV, covariates held at the last prefix value (WT 70, not 71-73).
        let later = &split.forecast.subjects[0].records[2..];
        assert!(later.iter().all(|r| r.dv.is_none()));
        assert!(later.iter().all(|r| (r.covariates[0] - 70.0).abs() < 1e-12));
        // The dose at 12 h is kept in the forecast history.
        assert!((later[0].amt - 100.0).abs() < 1e-12);
        // Subject 2 has a single observation: nothing left to forecast.
        assert_eq!(
            split.subjects[1].exclusion.as_deref(),
            Some("no observation after the origin")
        );
        let split = split_cohort(&data, Conditioning::FirstObservations(2));
        assert!(
            split.subjects[1]
                .exclusion
                .as_ref()
                .unwrap()
                .contains("1 observation(s); conditioning needs 2")
        );
    }

    #[test]
    fn origin_cuts_by_time() {
        let data = parse_dataset("d.csv", DATA).unwrap();
        let split = split_cohort(&data, Conditioning::Until(12.0));
        assert_eq!(split.subjects[0].n_prefix_records, 3);
        assert_eq!(split.subjects[0].n_calibration_observations, 1);
        assert_eq!(
            split.subjects[1].exclusion.as_deref(),
            Some("no observation after the origin")
        );
        let split = split_cohort(&data, Conditioning::Until(-1.0));
        assert!(
            split.subjects[0]
                .exclusion
                .as_ref()
                .unwrap()
                .contains("no record at or before")
        );
    }

    #[test]
    fn header_columns_skip_comments_and_quotes() {
        assert_eq!(
            header_columns("\u{feff}# note\n\n\"id\",Time , dv\n1,0,1\n"),
            ["ID", "TIME", "DV"]
        );
        assert!(header_columns("").is_empty());
    }
}
