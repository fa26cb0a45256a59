//! Replicate trials: preparation (pilot screen, truth cohort, historical control cohort), one
//! replicate trial under the alternative and the null scenario, and the parallel run.
//!
//! # One replicate trial
//!
//! 1. Screen candidates `0, 1, 2, …` of replicate `r` until `N` meet the inclusion criteria
//!    ([`Screener::enrol`]).
//! 2. Randomise them in permuted blocks ([`randomise`]).
//! 3. Simulate each patient under the assigned regimen (the *alternative* scenario); simulate each
//!    treated patient under the control regimen as well (the *null* scenario: the treatment arm
//!    given the control regimen, on the same patients, with the same residual errors, events,
//!    entry and dropout times — common random numbers).
//! 4. Compute each patient's prognostic score from baseline data (PROCOVA).
//! 5. Analyse both scenarios with every analysis.
//!
//! Replicate trials run in parallel (rayon, behind the `parallel` feature); their results are
//! collected in replicate order and summarised serially, so the output does not depend on the
//! number of threads, and the results of disjoint replicate ranges (shards) concatenate into the
//! results of the whole range.
//!
//! # Truth
//!
//! The true effect of each endpoint comes from a *truth cohort* (`truth_patients` eligible
//! patients of the reserved replicate [`TRUTH_REPLICATE`]), every patient simulated under both
//! regimens: the mean paired difference of the observed values for continuous and binary
//! endpoints (without dropout: the full-data estimand), and for time-to-event endpoints the Cox
//! log hazard ratio fitted to both copies of every patient with the trial's entry, dropout and
//! administrative censoring — the large-sample limit of the trial's Cox estimate (under
//! non-proportional hazards a censoring-dependent average hazard ratio). Its Monte Carlo standard
//! error is reported next to it.

use std::ops::Range;

use twin_engine::EngineError;

#[cfg(feature = "parallel")]
use rayon::prelude::*;

use crate::analysis::{AnalysisRow, Effect, analyse};
use crate::cohort::{
    Candidate, HISTORICAL_REPLICATE, PILOT_CANDIDATES, Screener, TRUTH_REPLICATE,
    entry_and_dropout, randomise,
};
use crate::design::{Design, Method};
use crate::endpoints::{EndpointValue, FollowUp, endpoint_value};
use crate::error::TrialError;
use crate::prognostic::{ScoreFunction, ScoreWorkspace};
use crate::simulate::{PatientSimulator, PreparedArm, simulate_regimen};
use crate::survival::{Ties, cox_ph};

/// Progress reports of a long run (e.g. a terminal progress bar). Called from worker threads.
pub trait Progress: Sync {
    /// A phase with `total` steps begins.
    fn start(&self, phase: &str, total: u64) {
        let _ = (phase, total);
    }
    /// One step of the current phase is done.
    fn advance(&self) {}
    /// The current phase is done.
    fn finish(&self) {}
}

/// No progress reporting.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Scenario of a replicate trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// Each arm gets its regimen.
    Alternative,
    /// The treatment arm gets the control regimen (the design's null hypothesis).
    Null,
}

impl Scenario {
    /// Name in outputs.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Alternative => "alternative",
            Self::Null => "null",
        }
    }
}

/// One randomised patient of a replicate trial.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialPatient {
    /// The screened candidate (index, covariates, η, parameters, observed baseline).
    pub candidate: Candidate,
    /// Randomised to the treatment arm.
    pub treated: bool,
    /// Entry time (model time units from the first entry).
    pub entry: f64,
    /// Dropout time from entry (`+∞` for none).
    pub dropout: f64,
    /// The simulation failure, if any (the patient is then left out of every analysis).
    pub failure: Option<String>,
    /// Endpoint values under the assigned regimen.
    pub alternative: Vec<EndpointValue>,
    /// Endpoint values under the control regimen (equal to `alternative` for controls; empty
    /// when the null scenario was not simulated).
    pub null: Vec<EndpointValue>,
    /// Prognostic score per endpoint (NaN where none).
    pub scores: Vec<f64>,
}

impl TrialPatient {
    /// Endpoint values in a scenario.
    #[must_use]
    pub fn values(&self, scenario: Scenario) -> &[EndpointValue] {
        match scenario {
            Scenario::Alternative => &self.alternative,
            Scenario::Null => &self.null,
        }
    }
}

/// The patients of one replicate trial.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicateData {
    /// Replicate index.
    pub replicate: u64,
    /// Candidates screened to enrol the patients.
    pub n_screened: u64,
    /// Randomised patients, in enrolment order.
    pub patients: Vec<TrialPatient>,
}

/// Results of one replicate trial: per analysis, the effect or the error message, under each
/// scenario. Serialisable exactly (a shard's partial result; see `twin merge`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReplicateResult {
    /// Replicate index.
    pub replicate: u64,
    /// Candidates screened.
    pub n_screened: u64,
    /// Randomised controls.
    pub n_control: u64,
    /// Randomised treated patients.
    pub n_treated: u64,
    /// Patients whose simulation failed (left out of every analysis).
    pub n_failed: u64,
    /// Per analysis, under the alternative.
    pub alternative: Vec<Result<Effect, String>>,
    /// Per analysis, under the null (empty when not simulated).
    pub null: Vec<Result<Effect, String>>,
}

/// The true effect of one endpoint (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrueEffect {
    /// The effect (difference, or log hazard ratio for time-to-event endpoints).
    pub value: f64,
    /// Its Monte Carlo standard error.
    pub mcse: f64,
    /// Patients in the truth cohort with a value under both regimens.
    pub n: usize,
}

/// What the historical control cohort says about one continuous or binary analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoricalFit {
    /// Patients with the endpoint, covariates and score.
    pub n: usize,
    /// Standard deviation of the endpoint under control.
    pub sd: f64,
    /// `R²` of the endpoint on the analysis's covariates (and score); 0 for difference in means.
    pub r_squared: f64,
    /// Pearson correlation ρ of the prognostic score with the endpoint (PROCOVA).
    pub rho: Option<f64>,
}

/// A design prepared to run: pilot screen, truth and historical cohorts done.
pub struct Trial<'d> {
    design: &'d Design,
    screener: Screener<'d>,
    control: PreparedArm,
    treatment: PreparedArm,
    score: Option<ScoreFunction<'d>>,
    pilot_eligible: u64,
    truth: Vec<TrueEffect>,
    historical: Vec<Option<HistoricalFit>>,
}

/// Per-thread buffers of a replicate.
struct Workspace<'d> {
    truth: PatientSimulator<'d>,
    score: Option<ScoreWorkspace<'d>>,
}

fn engine(context: &str) -> impl Fn(EngineError) -> TrialError + '_ {
    move |source| TrialError::Engine {
        context: context.to_owned(),
        source,
    }
}

/// Maps `f` over `range` in parallel (when the `parallel` feature is on), results in order.
fn map_range<T: Send>(range: Range<u64>, f: impl Fn(u64) -> T + Sync + Send) -> Vec<T> {
    #[cfg(feature = "parallel")]
    {
        range.into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        range.map(f).collect()
    }
}

impl<'d> Trial<'d> {
    /// Prepares `design`: screens a pilot of [`PILOT_CANDIDATES`] candidates (an error if none
    /// meets the inclusion criteria), simulates the truth cohort and, for continuous and binary
    /// analyses, the historical control cohort.
    ///
    /// # Errors
    /// [`TrialError::Screening`] for criteria nobody meets; [`TrialError::Engine`] for a model
    /// the engine refuses; [`TrialError::Stats`] if the truth cohort's Cox fit fails.
    pub fn prepare(design: &'d Design, progress: &dyn Progress) -> Result<Self, TrialError> {
        let screener = Screener::new(design)?;
        let pilot_eligible = screener.pilot()?;
        let score = ScoreFunction::new(design).map_err(engine("prognostic model"))?;
        let mut trial = Self {
            design,
            screener,
            control: PreparedArm::new(&design.control.arm),
            treatment: PreparedArm::new(&design.treatment.arm),
            score,
            pilot_eligible,
            truth: Vec::new(),
            historical: Vec::new(),
        };
        // Fail early, before any cohort, if the solver refuses a model.
        trial.workspace()?;
        trial.truth = trial.truth_cohort(progress)?;
        trial.historical = trial.historical_cohort(progress)?;
        Ok(trial)
    }

    /// The design.
    #[must_use]
    pub fn design(&self) -> &'d Design {
        self.design
    }

    /// Eligible candidates among the [`PILOT_CANDIDATES`] of the pilot screen.
    #[must_use]
    pub fn pilot_eligible(&self) -> u64 {
        self.pilot_eligible
    }

    /// True effect per endpoint.
    #[must_use]
    pub fn truth(&self) -> &[TrueEffect] {
        &self.truth
    }

    /// Historical-cohort fit per analysis (continuous and binary endpoints).
    #[must_use]
    pub fn historical(&self) -> &[Option<HistoricalFit>] {
        &self.historical
    }

    fn workspace(&self) -> Result<Workspace<'d>, TrialError> {
        Ok(Workspace {
            truth: PatientSimulator::new(self.design.truth.as_ref(), self.design.solver)
                .map_err(engine(&self.design.truth_label))?,
            score: self
                .score
                .as_ref()
                .map(|s| s.workspace(self.design.solver))
                .transpose()
                .map_err(engine("prognostic model"))?,
        })
    }

    /// Most candidates screened to enrol `n` patients: 20 times the number expected from the
    /// pilot's eligibility rate, plus [`PILOT_CANDIDATES`].
    fn max_screened(&self, n: u64) -> u64 {
        let rate = self.pilot_eligible as f64 / PILOT_CANDIDATES as f64;
        (20.0 * n as f64 / rate).ceil() as u64 + PILOT_CANDIDATES
    }

    /// The endpoint values of a candidate under a regimen.
    fn endpoint_values(
        &self,
        result: &crate::simulate::RegimenResult,
        candidate: &Candidate,
        follow_up: FollowUp,
        time_to_event_follow_up: FollowUp,
    ) -> Vec<EndpointValue> {
        self.design
            .endpoints
            .iter()
            .map(|e| {
                let follow = if e.is_time_to_event() {
                    time_to_event_follow_up
                } else {
                    follow_up
                };
                endpoint_value(
                    e,
                    &self.design.visits,
                    &result.observed,
                    &candidate.baseline,
                    &result.outcomes,
                    follow,
                )
            })
            .collect()
    }

    /// The scores of a candidate (NaN per endpoint without a score, or if it fails).
    fn scores(&self, candidate: &Candidate, ws: &mut Workspace<'_>) -> Vec<f64> {
        let n = self.design.endpoints.len();
        match (&self.score, ws.score.as_mut()) {
            (Some(function), Some(score_ws)) => function
                .score(&candidate.covariates, &candidate.baseline, score_ws)
                .unwrap_or_else(|_| vec![f64::NAN; n]),
            _ => vec![f64::NAN; n],
        }
    }

    /// Simulates the patients of replicate `replicate` with `n_total` patients; the null
    /// scenario only when `with_null`.
    ///
    /// # Errors
    /// [`TrialError::Screening`] if too few candidates meet the criteria; [`TrialError::Engine`]
    /// if the solver refuses the model.
    pub fn replicate_data(
        &self,
        replicate: u64,
        n_total: u64,
        with_null: bool,
    ) -> Result<ReplicateData, TrialError> {
        let mut ws = self.workspace()?;
        self.replicate_data_with(replicate, n_total, with_null, &mut ws)
    }

    fn replicate_data_with(
        &self,
        replicate: u64,
        n_total: u64,
        with_null: bool,
        ws: &mut Workspace<'_>,
    ) -> Result<ReplicateData, TrialError> {
        let mut data = ReplicateData {
            replicate,
            n_screened: 0,
            patients: Vec::new(),
        };
        self.extend_replicate(&mut data, n_total, with_null, false, ws)?;
        Ok(data)
    }

    /// Enrols and simulates patients of `data`'s replicate until it has `n_total`, continuing the
    /// screening where it stopped. The patients already there keep their arms when their number
    /// was a multiple of the randomisation block (the blocks then coincide). With `compact`, the
    /// random effects and parameters of new patients are dropped after simulation (the analyses
    /// do not need them).
    fn extend_replicate(
        &self,
        data: &mut ReplicateData,
        n_total: u64,
        with_null: bool,
        compact: bool,
        ws: &mut Workspace<'_>,
    ) -> Result<(), TrialError> {
        let design = self.design;
        let replicate = data.replicate;
        let have = data.patients.len();
        let (enrolled, n_screened) = self.screener.enrol(
            replicate,
            data.n_screened,
            n_total.saturating_sub(have as u64),
            data.n_screened + self.max_screened(n_total),
        )?;
        data.n_screened = n_screened;
        let assignments = randomise(design, replicate, n_total);
        debug_assert!(
            data.patients
                .iter()
                .zip(&assignments)
                .all(|(p, &t)| p.treated == t),
            "cached patients keep their arms"
        );
        let population = self.screener.population();
        for (mut candidate, &treated) in enrolled.into_iter().zip(&assignments[have..]) {
            let (entry, dropout) = entry_and_dropout(design, replicate, candidate.index);
            // Continuous and binary endpoints are followed to their visit (only dropout makes
            // them missing); administrative censoring applies to time-to-event endpoints.
            let follow_up = FollowUp {
                dropout,
                administrative: f64::INFINITY,
            };
            let time_to_event_follow_up = FollowUp {
                dropout,
                administrative: design.study_end - entry,
            };
            let simulate = |arm: &PreparedArm, ws: &mut Workspace<'_>| {
                simulate_regimen(
                    &mut ws.truth,
                    population,
                    arm,
                    &candidate.params,
                    &candidate.covariates,
                    &design.visits,
                    design.seed,
                    replicate,
                    candidate.index,
                )
            };
            let assigned = if treated {
                &self.treatment
            } else {
                &self.control
            };
            let mut failure = None;
            let alternative = match simulate(assigned, ws) {
                Ok(r) => self.endpoint_values(&r, &candidate, follow_up, time_to_event_follow_up),
                Err(e) => {
                    failure = Some(e.for_patient(candidate.index.to_string()).to_string());
                    Vec::new()
                }
            };
            let null = if !with_null || failure.is_some() {
                Vec::new()
            } else if treated {
                match simulate(&self.control, ws) {
                    Ok(r) => {
                        self.endpoint_values(&r, &candidate, follow_up, time_to_event_follow_up)
                    }
                    Err(e) => {
                        failure = Some(e.for_patient(candidate.index.to_string()).to_string());
                        Vec::new()
                    }
                }
            } else {
                alternative.clone()
            };
            let scores = self.scores(&candidate, ws);
            if compact {
                candidate.eta = Vec::new();
                candidate.params = Vec::new();
            }
            data.patients.push(TrialPatient {
                candidate,
                treated,
                entry,
                dropout,
                failure,
                alternative,
                null,
                scores,
            });
        }
        Ok(())
    }

    /// Analyses patients of one replicate under one scenario.
    #[must_use]
    pub fn analyse(
        &self,
        patients: &[TrialPatient],
        scenario: Scenario,
    ) -> Vec<Result<Effect, String>> {
        let ok: Vec<&TrialPatient> = patients
            .iter()
            .filter(|p| p.failure.is_none() && !p.values(scenario).is_empty())
            .collect();
        self.design
            .analyses
            .iter()
            .map(|analysis| {
                let covariates: Vec<Vec<f64>> = ok
                    .iter()
                    .map(|p| {
                        analysis
                            .covariates
                            .iter()
                            .map(|&v| p.candidate.variable(v))
                            .collect()
                    })
                    .collect();
                let rows: Vec<AnalysisRow<'_>> = ok
                    .iter()
                    .zip(&covariates)
                    .map(|(p, c)| AnalysisRow {
                        treated: p.treated,
                        value: p.values(scenario)[analysis.endpoint],
                        covariates: c,
                        score: p.scores[analysis.endpoint],
                    })
                    .collect();
                analyse(analysis, &rows).map_err(|e| e.to_string())
            })
            .collect()
    }

    fn replicate_result(
        &self,
        replicate: u64,
        n_total: u64,
        with_null: bool,
    ) -> Result<ReplicateResult, TrialError> {
        let mut ws = self.workspace()?;
        let data = self.replicate_data_with(replicate, n_total, with_null, &mut ws)?;
        let alternative = self.analyse(&data.patients, Scenario::Alternative);
        let null = if with_null {
            self.analyse(&data.patients, Scenario::Null)
        } else {
            Vec::new()
        };
        let n_treated = data.patients.iter().filter(|p| p.treated).count() as u64;
        Ok(ReplicateResult {
            replicate,
            n_screened: data.n_screened,
            n_control: data.patients.len() as u64 - n_treated,
            n_treated,
            n_failed: data.patients.iter().filter(|p| p.failure.is_some()).count() as u64,
            alternative,
            null,
        })
    }

    /// Runs replicate trials `replicates` (a range of replicate indices) with the design's number
    /// of patients, both scenarios, in parallel; results in replicate order.
    ///
    /// # Errors
    /// As [`Trial::replicate_data`]; the error of the lowest failing replicate.
    pub fn run(
        &self,
        replicates: Range<u64>,
        progress: &dyn Progress,
    ) -> Result<Vec<ReplicateResult>, TrialError> {
        self.run_with(
            replicates,
            self.design.patients,
            true,
            progress,
            "replicate trials",
        )
    }

    pub(crate) fn run_with(
        &self,
        replicates: Range<u64>,
        n_total: u64,
        with_null: bool,
        progress: &dyn Progress,
        phase: &str,
    ) -> Result<Vec<ReplicateResult>, TrialError> {
        progress.start(phase, replicates.end.saturating_sub(replicates.start));
        let results = map_range(replicates, |r| {
            let res = self.replicate_result(r, n_total, with_null);
            progress.advance();
            res
        });
        progress.finish();
        results.into_iter().collect()
    }

    /// Power of each analysis (alternative scenario) at `n_total` patients over the replicate
    /// trials whose patients are cached in `caches` (one per replicate, extended as needed and
    /// kept compact). `n_total` must be a multiple of the randomisation block so that cached
    /// patients keep their arms.
    ///
    /// # Errors
    /// As [`Trial::replicate_data`].
    pub(crate) fn power_with_cache(
        &self,
        caches: &mut [ReplicateData],
        n_total: u64,
        progress: &dyn Progress,
        phase: &str,
    ) -> Result<Vec<f64>, TrialError> {
        debug_assert_eq!(n_total % self.design.block_size, 0);
        progress.start(phase, caches.len() as u64);
        let n = usize::try_from(n_total).unwrap_or(usize::MAX);
        let evaluate = |data: &mut ReplicateData| -> Result<Vec<bool>, TrialError> {
            if data.patients.len() < n {
                let mut ws = self.workspace()?;
                self.extend_replicate(data, n_total, false, true, &mut ws)?;
            }
            let rejects = self
                .analyse(&data.patients[..n], Scenario::Alternative)
                .iter()
                .map(|e| e.as_ref().is_ok_and(|e| e.p_value < self.design.alpha))
                .collect();
            progress.advance();
            Ok(rejects)
        };
        #[cfg(feature = "parallel")]
        let rejects: Vec<Result<Vec<bool>, TrialError>> =
            caches.par_iter_mut().map(evaluate).collect();
        #[cfg(not(feature = "parallel"))]
        let rejects: Vec<Result<Vec<bool>, TrialError>> = caches.iter_mut().map(evaluate).collect();
        progress.finish();
        let mut counts = vec![0_u64; self.design.analyses.len()];
        for r in rejects {
            for (count, reject) in counts.iter_mut().zip(r?) {
                *count += u64::from(reject);
            }
        }
        Ok(counts
            .iter()
            .map(|&c| c as f64 / caches.len() as f64)
            .collect())
    }

    /// Enrols `n` eligible candidates of `replicate` and simulates each under every regimen in
    /// `arms` with complete follow-up for continuous and binary endpoints and the trial's
    /// follow-up for time-to-event endpoints; returns per patient the candidate and the endpoint
    /// values per arm (`None` for a failed simulation).
    #[allow(clippy::type_complexity)]
    fn cohort(
        &self,
        replicate: u64,
        n: u64,
        arms: &[&PreparedArm],
        with_scores: bool,
        progress: &dyn Progress,
        phase: &str,
    ) -> Result<Vec<(Candidate, Option<Vec<Vec<EndpointValue>>>, Vec<f64>)>, TrialError> {
        const CHUNK: u64 = 256;
        let (enrolled, _) = self.screener.enrol(replicate, 0, n, self.max_screened(n))?;
        let n_chunks = n.div_ceil(CHUNK);
        progress.start(phase, n);
        let chunks = map_range(0..n_chunks, |chunk| -> Result<Vec<_>, TrialError> {
            let mut ws = self.workspace()?;
            let range = (chunk * CHUNK) as usize..((chunk + 1) * CHUNK).min(n) as usize;
            let mut out = Vec::with_capacity(range.len());
            for candidate in &enrolled[range] {
                let (entry, dropout) = entry_and_dropout(self.design, replicate, candidate.index);
                let trial_follow_up = FollowUp {
                    dropout,
                    administrative: self.design.study_end - entry,
                };
                let values: Option<Vec<Vec<EndpointValue>>> = arms
                    .iter()
                    .map(|arm| {
                        simulate_regimen(
                            &mut ws.truth,
                            self.screener.population(),
                            arm,
                            &candidate.params,
                            &candidate.covariates,
                            &self.design.visits,
                            self.design.seed,
                            replicate,
                            candidate.index,
                        )
                        .ok()
                        .map(|r| {
                            self.endpoint_values(&r, candidate, FollowUp::COMPLETE, trial_follow_up)
                        })
                    })
                    .collect();
                let scores = if with_scores {
                    self.scores(candidate, &mut ws)
                } else {
                    Vec::new()
                };
                out.push((candidate.clone(), values, scores));
                progress.advance();
            }
            Ok(out)
        });
        progress.finish();
        let mut all = Vec::with_capacity(enrolled.len());
        for chunk in chunks {
            all.extend(chunk?);
        }
        Ok(all)
    }

    fn truth_cohort(&self, progress: &dyn Progress) -> Result<Vec<TrueEffect>, TrialError> {
        let cohort = self.cohort(
            TRUTH_REPLICATE,
            self.design.truth_patients,
            &[&self.control, &self.treatment],
            false,
            progress,
            "truth cohort",
        )?;
        let paired: Vec<&Vec<Vec<EndpointValue>>> =
            cohort.iter().filter_map(|(_, v, _)| v.as_ref()).collect();
        self.design
            .endpoints
            .iter()
            .enumerate()
            .map(|(e, endpoint)| {
                if endpoint.is_time_to_event() {
                    let mut times = Vec::with_capacity(2 * paired.len());
                    let mut events = Vec::with_capacity(2 * paired.len());
                    let mut treated = Vec::with_capacity(2 * paired.len());
                    for values in &paired {
                        for (arm, arm_values) in values.iter().enumerate() {
                            times.push(arm_values[e].value);
                            events.push(arm_values[e].is_event());
                            treated.push(arm as f64);
                        }
                    }
                    let fit =
                        cox_ph(&times, &events, &[&treated], Ties::Efron).map_err(|source| {
                            TrialError::Stats {
                                context: format!("truth cohort of endpoint {}", endpoint.name),
                                source,
                            }
                        })?;
                    Ok(TrueEffect {
                        value: fit.coefficients[0].estimate,
                        mcse: fit.coefficients[0].std_error,
                        n: paired.len(),
                    })
                } else {
                    let differences: Vec<f64> = paired
                        .iter()
                        .map(|v| v[1][e].value - v[0][e].value)
                        .filter(|d| !d.is_nan())
                        .collect();
                    let (mean, sd) = mean_sd(&differences);
                    Ok(TrueEffect {
                        value: mean,
                        mcse: sd / (differences.len() as f64).sqrt(),
                        n: differences.len(),
                    })
                }
            })
            .collect()
    }

    fn historical_cohort(
        &self,
        progress: &dyn Progress,
    ) -> Result<Vec<Option<HistoricalFit>>, TrialError> {
        let design = self.design;
        let needed = design
            .analyses
            .iter()
            .any(|a| !design.endpoints[a.endpoint].is_time_to_event());
        if !needed {
            return Ok(vec![None; design.analyses.len()]);
        }
        let n = design
            .prognostic
            .as_ref()
            .map_or(crate::design::DEFAULT_HISTORICAL_PATIENTS, |p| {
                p.historical_patients
            });
        let cohort = self.cohort(
            HISTORICAL_REPLICATE,
            n,
            &[&self.control],
            true,
            progress,
            "historical control cohort",
        )?;
        Ok(design
            .analyses
            .iter()
            .map(|analysis| {
                if design.endpoints[analysis.endpoint].is_time_to_event() {
                    return None;
                }
                let mut y = Vec::new();
                let mut columns: Vec<Vec<f64>> = Vec::new();
                let uses_score = analysis.method == Method::Procova;
                let n_columns = analysis.covariates.len() + usize::from(uses_score);
                columns.resize(n_columns, Vec::new());
                for (candidate, values, scores) in &cohort {
                    let Some(values) = values else { continue };
                    let value = values[0][analysis.endpoint].value;
                    let mut row: Vec<f64> = Vec::with_capacity(n_columns);
                    if uses_score {
                        row.push(scores[analysis.endpoint]);
                    }
                    row.extend(analysis.covariates.iter().map(|&v| candidate.variable(v)));
                    if value.is_nan() || row.iter().any(|x| x.is_nan()) {
                        continue;
                    }
                    y.push(value);
                    for (column, x) in columns.iter_mut().zip(row) {
                        column.push(x);
                    }
                }
                let (_, sd) = mean_sd(&y);
                let r_squared = if columns.is_empty() {
                    Some(0.0)
                } else {
                    let refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
                    crate::linear::ols(&y, &refs).ok().map(|f| f.r_squared)
                };
                let rho = uses_score.then(|| pearson(&columns[0], &y));
                r_squared.map(|r_squared| HistoricalFit {
                    n: y.len(),
                    sd,
                    r_squared,
                    rho,
                })
            })
            .collect())
    }
}

/// Mean and sample standard deviation (n − 1) by two passes; NaN for fewer than two values.
#[must_use]
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.len() < 2 {
        return (values.first().copied().unwrap_or(f64::NAN), f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    (mean, (ss / (n - 1.0)).sqrt())
}

/// Pearson correlation by two passes; NaN if a variable is constant.
#[must_use]
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n < 2 {
        return f64::NAN;
    }
    let (mx, _) = mean_sd(&x[..n]);
    let (my, _) = mean_sd(&y[..n]);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x[..n].iter().zip(&y[..n]) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}
