//! One patient's forecast under alternative therapies: individualise the twin on the patient's
//! records, then simulate every therapy from each posterior draw, continuing the patient's own
//! history.
//!
//! This is the whole computation behind `twin forecast` and the browser widget (which run the
//! same function, so the same request gives the same numbers in both):
//!
//! 1. [`map_estimate`] and [`sample_posterior`]: the posterior of the random effects η given the
//!    covariates, the dose history and the observations (M3 for censored values).
//! 2. Each posterior draw is one "patient" of [`run_cohort`]: the recorded history up to the
//!    origin, then each therapy's doses from the origin on, with the covariates of the last
//!    record held constant. Therapies are paired: every therapy sees the same draws, so
//!    between-therapy differences are per-draw differences. The history is integrated once per
//!    draw and shared by every therapy.
//! 3. Outcomes (e.g. nadir, time to grade-4 neutropenia) count only from the origin on.

use crate::error::EngineError;
use crate::model::Model;
use crate::montecarlo::{Arm, CohortOptions, CohortSummary, run_cohort};
use crate::posterior::{
    Individual, IndividualOptions, MapEstimate, MapOptions, Observation, PosteriorSample,
    SamplingOptions, map_estimate, sample_posterior,
};
use crate::predict::population_of;
use crate::records::{Dataset, Record};
use crate::regimen::Regimen;
use crate::solver::SolverOptions;

/// Default number of output times over the forecast when no spacing is given.
pub const DEFAULT_GRID_INTERVALS: usize = 200;

/// Largest number of output times of a grid.
pub const MAX_OUTPUT_TIMES: usize = 1_000_000;

/// Output times `0, every, 2·every, …` up to `until` (model time units).
///
/// # Errors
/// [`EngineError::Invalid`] when `every` is not positive and finite, `until` is negative or not
/// finite, or the grid would hold more than [`MAX_OUTPUT_TIMES`] times.
pub fn output_grid(until: f64, every: f64) -> Result<Vec<f64>, EngineError> {
    if !(every.is_finite() && every > 0.0) {
        return Err(EngineError::invalid(
            "output interval",
            format!("{every} must be positive"),
        ));
    }
    if !(until.is_finite() && until >= 0.0) {
        return Err(EngineError::invalid(
            "output horizon",
            format!("{until} must be a non-negative time"),
        ));
    }
    let n = (until / every + 1e-9).floor();
    if n >= MAX_OUTPUT_TIMES as f64 {
        return Err(EngineError::invalid(
            "output interval",
            format!(
                "{} output times is too many; increase the interval",
                n + 1.0
            ),
        ));
    }
    Ok((0..=n as usize).map(|i| i as f64 * every).collect())
}

/// What to forecast for one patient.
#[derive(Debug, Clone)]
pub struct ForecastRequest {
    /// The therapies (two to four for a comparison; one is allowed). Dose times count from the
    /// origin; dosing rules (e.g. delay the next cycle while ANC < 1.5) see the patient's
    /// recorded history. The first therapy is the reference of the paired differences.
    pub therapies: Vec<Arm>,
    /// Forecast origin in model time: therapies start here and outcomes count from here. `None`
    /// is the time of the patient's last record.
    pub origin: Option<f64>,
    /// Length of the forecast after the origin (model time units). `None` runs to the latest
    /// natural end of the therapies ([`Regimen::natural_end`]), at least one time unit after the
    /// origin.
    pub horizon: Option<f64>,
    /// Spacing of the output grid (from time 0, so the recorded past is shown too). `None` is
    /// `end /` [`DEFAULT_GRID_INTERVALS`].
    pub every: Option<f64>,
    /// Posterior draws (each simulated under every therapy).
    pub draws: usize,
    /// Importance proposals per draw ([`SamplingOptions::n_proposals`] is `draws ×` this).
    pub proposals_per_draw: usize,
    /// Seed of the posterior draws and of stochastic outcomes.
    pub seed: u64,
    /// Solver options (individualisation and forecast).
    pub solver: SolverOptions,
    /// How the patient's file is read against the model (overrides, missing covariates).
    pub individual: IndividualOptions,
    /// MAP options.
    pub map: MapOptions,
}

impl ForecastRequest {
    /// A request with 1000 draws from 4000 proposals, seed 0, default solver and MAP options,
    /// origin at the last record and the therapies' natural end.
    #[must_use]
    pub fn new(therapies: Vec<Arm>) -> Self {
        Self {
            therapies,
            origin: None,
            horizon: None,
            every: None,
            draws: 1000,
            proposals_per_draw: 4,
            seed: 0,
            solver: SolverOptions::default(),
            individual: IndividualOptions::default(),
            map: MapOptions::default(),
        }
    }
}

/// A forecast: what was learnt about the patient and what each therapy is likely to do.
#[derive(Debug, Clone)]
pub struct Forecast {
    /// The MAP of η and its Laplace covariance.
    pub map: MapEstimate,
    /// Posterior draws of η with importance-sampling diagnostics.
    pub sample: PosteriorSample,
    /// Individual parameters at the MAP, with the covariates of the last record.
    pub map_parameters: Vec<f64>,
    /// Covariates of the last record (model order; NaN where the file has none), held over the
    /// forecast.
    pub covariates: Vec<f64>,
    /// The forecast origin.
    pub origin: f64,
    /// The therapies with dose times shifted to the origin, as simulated.
    pub therapies: Vec<Arm>,
    /// The observations that calibrated the twin.
    pub observations: Vec<Observation>,
    /// Per therapy: quantile summaries per output and time, outcome tallies and paired
    /// differences against the first therapy.
    pub summary: CohortSummary,
}

/// Individualises `model` on subject `subject_idx` of `dataset` and forecasts every therapy of
/// `request` (see the module documentation).
///
/// Deterministic: the same request gives the same bits, on any number of threads (the posterior
/// draws come from one stream; the cohort's accumulators are order-independent).
///
/// # Errors
/// Bad input as [`Individual::new`] and [`run_cohort`] report it (file and line, option), no
/// therapy, an origin before the first record, an end not after the origin; run failures as
/// [`map_estimate`] and [`sample_posterior`].
pub fn forecast<M: Model + ?Sized>(
    model: &M,
    dataset: &Dataset,
    subject_idx: usize,
    request: &ForecastRequest,
) -> Result<Forecast, EngineError> {
    let spec = model.spec();
    if request.therapies.is_empty() {
        return Err(EngineError::invalid(
            "therapies",
            "give at least one therapy",
        ));
    }
    let population = population_of(model)?;
    let individual_options = IndividualOptions {
        solver: request.solver,
        ..request.individual.clone()
    };
    let mut individual = Individual::new(
        model,
        &population,
        dataset,
        subject_idx,
        &individual_options,
    )?;
    let subject = individual.subject();
    let first_time = subject.records.first().map_or(0.0, |r| r.time);
    let last_time = subject.records.last().map_or(0.0, |r| r.time);
    let origin = request.origin.unwrap_or(last_time);
    if !(origin.is_finite() && origin >= first_time) {
        return Err(EngineError::invalid(
            "forecast origin",
            format!(
                "{origin} {} is before the patient's first record at {first_time}",
                spec.time_unit.symbol()
            ),
        ));
    }
    let map = map_estimate(&mut individual, &request.map)?;
    let sampling = SamplingOptions {
        n_draws: request.draws,
        n_proposals: request
            .draws
            .saturating_mul(request.proposals_per_draw.max(1)),
        seed: request.seed,
        ..SamplingOptions::default()
    };
    let sample = sample_posterior(&mut individual, &map, &sampling)?;

    let therapies: Vec<Arm> = request
        .therapies
        .iter()
        .map(|arm| Arm {
            name: arm.name.clone(),
            regimen: shifted(&arm.regimen, origin),
            rules: arm.rules.clone(),
        })
        .collect();
    let end = match request.horizon {
        Some(horizon) => origin + horizon,
        None => therapies
            .iter()
            .map(|a| a.regimen.natural_end())
            .fold(origin + 1.0, f64::max),
    };
    if !(end.is_finite() && end > origin) {
        return Err(EngineError::invalid(
            "forecast end",
            format!("{end} must come after the origin {origin} (a positive horizon)"),
        ));
    }
    let every = request.every.unwrap_or(end / DEFAULT_GRID_INTERVALS as f64);
    let times = output_grid(end, every)?;

    let covariates = last_covariates(model, dataset, subject_idx);
    let history: Vec<Record> = subject
        .records
        .iter()
        .filter(|r| r.time <= origin)
        .cloned()
        .collect();
    let mut cohort = CohortOptions::new(sample.n_draws as u64, request.seed, times);
    cohort.solver = request.solver;
    cohort.eta_draws = Some(
        (0..sample.n_draws)
            .map(|i| sample.draw(i).to_vec())
            .collect(),
    );
    cohort.covariates = Some(covariates.clone());
    cohort.history = history;
    cohort.outcome_start = origin;
    let summary = run_cohort(model, &therapies, &cohort, &mut |_| {})?;

    let mut map_parameters = vec![0.0; spec.parameters.len()];
    model.individual_parameters(&population, &covariates, &map.eta, &mut map_parameters);
    Ok(Forecast {
        observations: individual.observations().to_vec(),
        map,
        sample,
        map_parameters,
        covariates,
        origin,
        therapies,
        summary,
    })
}

/// `regimen` with every dose `origin` later.
fn shifted(regimen: &Regimen, origin: f64) -> Regimen {
    let mut regimen = regimen.clone();
    for dose in &mut regimen.doses {
        dose.time += origin;
    }
    regimen
}

/// The model covariates on the subject's last record (NaN where the file has no such column).
fn last_covariates<M: Model + ?Sized>(
    model: &M,
    dataset: &Dataset,
    subject_idx: usize,
) -> Vec<f64> {
    let last = dataset.subjects[subject_idx].records.last();
    model
        .spec()
        .covariates
        .iter()
        .map(|c| {
            dataset
                .covariate_index(c.name)
                .and_then(|i| last.and_then(|r| r.covariates.get(i)).copied())
                .unwrap_or(f64::NAN)
        })
        .collect()
}
