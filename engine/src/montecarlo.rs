//! Streaming Monte Carlo over virtual patients × therapy arms.
//!
//! Each virtual patient `i` draws its random effects from the stream `(seed, replicate, i, Eta)`
//! once, and is then simulated under every arm with the same η (and the same residual-error
//! stream), so arm-versus-arm differences are paired counterfactuals. Patients are processed in
//! waves: a wave's trajectories are simulated in parallel (rayon, behind the `parallel` feature),
//! then folded into per-(arm, output, time) [`RunningSummary`] accumulators whose sums are exact
//! and whose quantile sketches hold integer counts, so the result is bit-identical for any number
//! of threads, any wave size and any split of the patient range. Memory is bounded by one wave,
//! whatever the number of patients.

use std::ops::Range;

use crate::error::EngineError;
use crate::model::{Model, OutcomeKind};
use crate::population::Population;
use crate::predict::population_of;
use crate::protocol::{Protocol, Rule, run_protocol_after};
use crate::random::{Purpose, RandomStream};
use crate::records::Record;
use crate::regimen::{Regimen, scale_dose};
use crate::simulate::{ParameterTrack, Simulator};
use crate::solver::SolverOptions;
use crate::summary::RunningSummary;

#[cfg(feature = "parallel")]
use rayon::prelude::*;

/// A therapy arm: a name and its regimen (model time units).
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    /// Arm name as shown in outputs.
    pub name: String,
    /// The regimen; doses scaled by a covariate (mg/m², mg/kg) are scaled per patient.
    pub regimen: Regimen,
    /// Dosing rules evaluated at every planned dose (empty: the regimen is given as planned).
    pub rules: Vec<Rule>,
}

/// Direction of a threshold event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Crossing {
    /// The output falls below the threshold.
    Below,
    /// The output rises above the threshold.
    Above,
}

/// A clinical event defined by an output crossing a threshold at any output time.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ThresholdEvent {
    /// Event name, e.g. `grade4`.
    pub name: String,
    /// Output index.
    pub output: usize,
    /// Direction.
    pub crossing: Crossing,
    /// Threshold in output units.
    pub threshold: f64,
}

/// Options of [`run_cohort`].
#[derive(Debug, Clone)]
pub struct CohortOptions {
    /// Master seed.
    pub seed: u64,
    /// Replicate index (for replicate studies; 0 otherwise).
    pub replicate: u64,
    /// Patient indices to simulate; `0..n` for a whole cohort, a sub-range for one shard.
    pub patients: Range<u64>,
    /// Output times, ascending, in model time units.
    pub output_times: Vec<f64>,
    /// Solver options.
    pub solver: SolverOptions,
    /// Add residual error to the summarised outputs. By default, this is `false`.
    pub with_residual_error: bool,
    /// Relative accuracy α of the quantile sketches. By default, this is `1e-3`.
    pub relative_accuracy: f64,
    /// Patients per wave (bounds memory). By default, this is `1024`.
    pub wave_size: usize,
    /// Threshold events whose probabilities are counted.
    pub events: Vec<ThresholdEvent>,
    /// Individualised runs (forecasts): the random effects of each "patient", which is then one
    /// posterior draw of a single real patient, instead of sampling η from the population.
    /// Indexed by patient index. By default, this is `None`.
    pub eta_draws: Option<Vec<Vec<f64>>>,
    /// Covariates shared by every patient instead of the model's virtual-population sampler
    /// (model order; NaN = reference). By default, this is `None`.
    pub covariates: Option<Vec<f64>>,
    /// Records that precede every arm's regimen (a real patient's dose history). By default,
    /// this is empty.
    pub history: Vec<Record>,
    /// Model outcomes (and their Kaplan–Meier counts) use only the output times at or after this
    /// time, e.g. the forecast origin, so that a nadir in the recorded past does not count. By
    /// default, this is `f64::NEG_INFINITY`.
    pub outcome_start: f64,
}

impl CohortOptions {
    /// Options for patients `0..n_patients` with default accuracy and solver.
    #[must_use]
    pub fn new(n_patients: u64, seed: u64, output_times: Vec<f64>) -> Self {
        Self {
            seed,
            replicate: 0,
            patients: 0..n_patients,
            output_times,
            solver: SolverOptions::default(),
            with_residual_error: false,
            relative_accuracy: 1e-3,
            wave_size: 1024,
            events: Vec::new(),
            eta_draws: None,
            covariates: None,
            history: Vec::new(),
            outcome_start: f64::NEG_INFINITY,
        }
    }
}

/// Count of patients with an event, and the summary of the first time it happened.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EventTally {
    /// Patients with the event.
    pub n_events: u64,
    /// First output time at which the event was seen, over patients with the event.
    pub time_to_event: RunningSummary,
}

/// Summaries of one arm.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ArmSummary {
    /// Arm name.
    pub name: String,
    /// Patients simulated successfully.
    pub n_ok: u64,
    /// Patients whose simulation failed (excluded from the summaries).
    pub n_failed: u64,
    /// `[output][time]` summaries.
    pub outputs: Vec<Vec<RunningSummary>>,
    /// One tally per threshold event, in the order of [`CohortOptions::events`].
    pub events: Vec<EventTally>,
    /// One tally per model outcome, in the order of [`crate::model::ModelSpec::outcomes`].
    pub outcomes: Vec<OutcomeTally>,
    /// Per model outcome, the paired difference of this arm against the first arm (the
    /// reference) on the same virtual patients; empty for the first arm.
    pub paired: Vec<PairedOutcome>,
    /// Per dosing rule of the arm, the patients in whom it fired at least once.
    pub rule_patients: Vec<u64>,
}

/// Summary of one model outcome over the patients of one arm.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OutcomeTally {
    /// Patients evaluated.
    pub n: u64,
    /// Patients with a value (for value outcomes) or with the event (for time-to-event outcomes).
    pub n_observed: u64,
    /// Whether this is a time-to-event outcome.
    pub event_kind: bool,
    /// The values, or the event times of patients with the event.
    pub values: RunningSummary,
    /// Time-to-event outcomes: patients whose event happened at or before each output time
    /// (an event between grid times counts from the next grid time), for the Kaplan–Meier curve
    /// `S(t_k) = 1 − cumulative_events[k]/n` (all censoring is administrative, at the horizon).
    pub cumulative_events: Vec<u64>,
}

impl OutcomeTally {
    /// Kaplan–Meier survival at each output time, `S(t_k) = 1 − cumulative_events[k]/n` (all
    /// censoring administrative, at the horizon); NaN when no patient was evaluated.
    #[must_use]
    pub fn survival(&self) -> Vec<f64> {
        self.cumulative_events
            .iter()
            .map(|&c| {
                if self.n == 0 {
                    f64::NAN
                } else {
                    1.0 - c as f64 / self.n as f64
                }
            })
            .collect()
    }

    /// The first of `times` (the output grid) at which [`Self::survival`] reaches 0.5, or `None`
    /// if it never does.
    #[must_use]
    pub fn km_median(&self, times: &[f64]) -> Option<f64> {
        self.survival()
            .iter()
            .zip(times)
            .find(|(s, _)| **s <= 0.5)
            .map(|(_, t)| *t)
    }
}

/// Paired comparison of one outcome between an arm and the reference arm, patient by patient.
///
/// For value outcomes `d = value(arm) − value(reference)`; for time-to-event outcomes the event
/// indicators are compared, so `mean(d)` is the risk difference by the horizon.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PairedOutcome {
    /// Patients with a value under both arms.
    pub n_pairs: u64,
    /// Patients for whom the arm's value (or event indicator) is larger than the reference's.
    pub n_greater: u64,
    /// Patients for whom it is smaller.
    pub n_less: u64,
    /// The per-patient differences.
    pub difference: RunningSummary,
}

/// One failed patient, for the run's report.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PatientFailure {
    /// Patient index.
    pub patient: u64,
    /// Arm name.
    pub arm: String,
    /// The error, as text.
    pub message: String,
}

/// The result of a cohort run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CohortSummary {
    /// Output times (model time units).
    pub output_times: Vec<f64>,
    /// Output names.
    pub output_names: Vec<String>,
    /// Per-arm summaries, in arm order.
    pub arms: Vec<ArmSummary>,
    /// The first failures (at most [`MAX_REPORTED_FAILURES`]), in patient order.
    pub failures: Vec<PatientFailure>,
}

/// Largest number of individual failures kept in a [`CohortSummary`].
pub const MAX_REPORTED_FAILURES: usize = 100;

impl CohortSummary {
    /// Merges the summary of a disjoint patient range (a shard) into this one.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] when the two summaries do not describe the same run layout, or
    /// when a merged count would overflow `u64` (which only a hand-edited shard file can ask for).
    pub fn merge(&mut self, other: &Self) -> Result<(), EngineError> {
        if self.arms.len() != other.arms.len()
            || self.output_times.len() != other.output_times.len()
        {
            return Err(EngineError::invalid(
                "summary merge",
                "the summaries have different arms or output times",
            ));
        }
        for (a, b) in self.arms.iter_mut().zip(&other.arms) {
            add_count(&mut a.n_ok, b.n_ok)?;
            add_count(&mut a.n_failed, b.n_failed)?;
            for (sa, sb) in a
                .outputs
                .iter_mut()
                .flatten()
                .zip(b.outputs.iter().flatten())
            {
                sa.merge(sb)?;
            }
            for (ea, eb) in a.events.iter_mut().zip(&b.events) {
                add_count(&mut ea.n_events, eb.n_events)?;
                ea.time_to_event.merge(&eb.time_to_event)?;
            }
            for (oa, ob) in a.outcomes.iter_mut().zip(&b.outcomes) {
                add_count(&mut oa.n, ob.n)?;
                add_count(&mut oa.n_observed, ob.n_observed)?;
                oa.values.merge(&ob.values)?;
                for (ca, cb) in oa.cumulative_events.iter_mut().zip(&ob.cumulative_events) {
                    add_count(ca, *cb)?;
                }
            }
            for (ra, rb) in a.rule_patients.iter_mut().zip(&b.rule_patients) {
                add_count(ra, *rb)?;
            }
            for (pa, pb) in a.paired.iter_mut().zip(&b.paired) {
                add_count(&mut pa.n_pairs, pb.n_pairs)?;
                add_count(&mut pa.n_greater, pb.n_greater)?;
                add_count(&mut pa.n_less, pb.n_less)?;
                pa.difference.merge(&pb.difference)?;
            }
        }
        self.failures.extend(other.failures.iter().cloned());
        self.failures.sort_by_key(|f| f.patient);
        self.failures.truncate(MAX_REPORTED_FAILURES);
        Ok(())
    }
}

/// Adds a count of a merged summary to this one's, refusing a sum beyond `u64`.
fn add_count(total: &mut u64, other: u64) -> Result<(), EngineError> {
    *total = total.checked_add(other).ok_or_else(|| {
        EngineError::invalid(
            "summary merge",
            format!("the counts {total} and {other} add up to more than a u64 holds"),
        )
    })?;
    Ok(())
}

/// Trajectories of one patient under every arm: `[arm][output][time]`, or the error per arm.
#[derive(Debug, Clone)]
pub struct PatientTrajectories {
    /// Patient index.
    pub patient: u64,
    /// Values, row-major `[arm][time][output]`; NaN for failed arms.
    pub values: Vec<f64>,
    /// Per arm, the failure if the simulation failed.
    pub failures: Vec<Option<String>>,
    /// Model outcomes, row-major `[arm][outcome]` (NaN: no value, or no event by the horizon).
    pub outcomes: Vec<f64>,
    /// Per arm, how often each of its rules fired.
    pub rule_firings: Vec<Vec<u32>>,
}

/// Per-thread buffers.
struct Workspace<'m, M: Model + ?Sized> {
    simulator: Simulator<'m, M>,
    eta: Vec<f64>,
    params: Vec<f64>,
    covariates: Vec<f64>,
    outputs: Vec<f64>,
    /// This patient's records when doses are scaled by a covariate (reused across patients).
    scaled: Vec<Record>,
    /// Outputs of the history shared by every arm (see [`shared_history_len`]).
    shared_outputs: Vec<f64>,
}

/// Simulates patients `options.patients` under every arm and returns streaming summaries.
///
/// `on_wave` is called after each wave, in patient order, with the wave's trajectories (for
/// progress reporting and for writing full trajectories when they are asked for).
///
/// # Errors
/// Invalid options or model declaration. Individual patient failures do not fail the run: they
/// are counted per arm and listed in [`CohortSummary::failures`].
pub fn run_cohort<M: Model + ?Sized>(
    model: &M,
    arms: &[Arm],
    options: &CohortOptions,
    on_wave: &mut dyn FnMut(&[PatientTrajectories]),
) -> Result<CohortSummary, EngineError> {
    let spec = model.spec();
    options.solver.validate()?;
    if options.output_times.windows(2).any(|w| w[1] < w[0]) {
        return Err(EngineError::invalid("output times", "must be ascending"));
    }
    if arms.is_empty() {
        return Err(EngineError::invalid("arms", "at least one arm is needed"));
    }
    let population = population_of(model)?;
    let n_out = spec.outputs.len();
    let n_times = options.output_times.len();
    let empty = RunningSummary::new(options.relative_accuracy)?;
    if let Some(draws) = &options.eta_draws {
        let n_eta = population.n_eta();
        if (draws.len() as u64) < options.patients.end || draws.iter().any(|d| d.len() != n_eta) {
            return Err(EngineError::invalid(
                "eta_draws",
                format!(
                    "need {} draws of {n_eta} random effects",
                    options.patients.end
                ),
            ));
        }
    }
    if let Some(fixed) = &options.covariates
        && fixed.len() != spec.covariates.len()
    {
        return Err(EngineError::invalid(
            "covariates",
            format!("need {} values", spec.covariates.len()),
        ));
    }
    let arm_records: Vec<Vec<Record>> = arms
        .iter()
        .map(|arm| {
            let mut records = merge_records(&arm.regimen, &options.output_times);
            if !options.history.is_empty() {
                // The history comes first at equal times (it happened before the forecast).
                let mut with_history: Vec<Record> = options
                    .history
                    .iter()
                    .map(|r| Record {
                        line: 0,
                        ..r.clone()
                    })
                    .collect();
                with_history.append(&mut records);
                with_history.sort_by(|a, b| a.time.total_cmp(&b.time));
                records = with_history;
            }
            records
        })
        .collect();
    let shared = shared_history(arms, &arm_records, options);
    let output_rows: Vec<Vec<usize>> = arm_records
        .iter()
        .map(|records| {
            records
                .iter()
                .enumerate()
                .filter(|(_, r)| r.line == OUTPUT_MARK)
                .map(|(i, _)| i)
                .collect()
        })
        .collect();
    let mut summary = CohortSummary {
        output_times: options.output_times.clone(),
        output_names: spec.outputs.iter().map(|o| o.name.to_owned()).collect(),
        arms: arms
            .iter()
            .map(|arm| ArmSummary {
                name: arm.name.clone(),
                n_ok: 0,
                n_failed: 0,
                outputs: vec![vec![empty.clone(); n_times]; n_out],
                events: options
                    .events
                    .iter()
                    .map(|_| EventTally {
                        n_events: 0,
                        time_to_event: empty.clone(),
                    })
                    .collect(),
                outcomes: spec
                    .outcomes
                    .iter()
                    .map(|o| OutcomeTally {
                        event_kind: o.kind == OutcomeKind::TimeToEvent,
                        n: 0,
                        n_observed: 0,
                        values: empty.clone(),
                        cumulative_events: if o.kind == OutcomeKind::TimeToEvent {
                            vec![0; n_times]
                        } else {
                            Vec::new()
                        },
                    })
                    .collect(),
                paired: Vec::new(),
                rule_patients: vec![0; arm.rules.len()],
            })
            .collect(),
        failures: Vec::new(),
    };
    for arm in summary.arms.iter_mut().skip(1) {
        arm.paired = spec
            .outcomes
            .iter()
            .map(|_| PairedOutcome {
                n_pairs: 0,
                n_greater: 0,
                n_less: 0,
                difference: empty.clone(),
            })
            .collect();
    }
    let wave_size = options.wave_size.max(1) as u64;
    let mut wave_start = options.patients.start;
    while wave_start < options.patients.end {
        let wave_end = (wave_start + wave_size).min(options.patients.end);
        let simulate_one = |ws: &mut Workspace<'_, M>, patient: u64| {
            simulate_patient(
                model,
                &population,
                arms,
                &arm_records,
                &output_rows,
                shared,
                options,
                ws,
                patient,
            )
        };
        let make_workspace = || -> Workspace<'_, M> {
            Workspace {
                simulator: Simulator::new(model, options.solver)
                    .expect("solver options validated above"),
                eta: vec![0.0; population.n_eta()],
                params: vec![0.0; spec.parameters.len()],
                covariates: vec![f64::NAN; spec.covariates.len()],
                outputs: Vec::new(),
                scaled: Vec::new(),
                shared_outputs: Vec::new(),
            }
        };
        #[cfg(feature = "parallel")]
        let wave: Vec<PatientTrajectories> = (wave_start..wave_end)
            .into_par_iter()
            .map_init(make_workspace, simulate_one)
            .collect();
        #[cfg(not(feature = "parallel"))]
        let wave: Vec<PatientTrajectories> = {
            let mut ws = make_workspace();
            (wave_start..wave_end)
                .map(|p| simulate_one(&mut ws, p))
                .collect()
        };
        fold_wave(&mut summary, &wave, options, n_out, n_times);
        on_wave(&wave);
        wave_start = wave_end;
    }
    Ok(summary)
}

/// Marker in `Record::line` for the output-grid records added by [`merge_records`].
const OUTPUT_MARK: usize = usize::MAX;

/// Marker in `Record::line` of a dose scaled by the covariate with index `line - SCALED_MARK`.
const SCALED_MARK: usize = usize::MAX / 2;

/// Dose records and output-time records in one list: at equal times, doses come first, so an
/// output at a dose time shows the post-dose value. Doses scaled by a covariate are marked.
fn merge_records(regimen: &Regimen, output_times: &[f64]) -> Vec<Record> {
    let mut records: Vec<Record> = regimen
        .doses
        .iter()
        .zip(&regimen.scale_by)
        .map(|(dose, scale)| Record {
            line: scale.map_or(0, |c| SCALED_MARK + c),
            ..dose.clone()
        })
        .collect();
    records.extend(output_times.iter().map(|&t| Record {
        line: OUTPUT_MARK,
        ..Record::output_time(t)
    }));
    // Stable sort keeps dose order at equal times; doses sort before output records.
    records.sort_by(|a, b| {
        a.time
            .total_cmp(&b.time)
            .then((a.line == OUTPUT_MARK).cmp(&(b.line == OUTPUT_MARK)))
    });
    records
}

/// The history every arm shares when a recorded history precedes the arms' doses: the records
/// before the earliest first dose of any arm (the history and the output times before it), as
/// `(length, arm whose first dose is earliest)`. Each patient integrates them once, looking ahead
/// to that arm's first dose as a run of that arm would, and every arm continues from a copy of
/// the simulator. That arm's results are bit-identical to integrating it alone; the others'
/// differ from their own solo runs only in where the solver's steps fall before the first dose,
/// within the solver's tolerance. `None` without a history, with one arm, or with dosing rules.
fn shared_history(
    arms: &[Arm],
    arm_records: &[Vec<Record>],
    options: &CohortOptions,
) -> Option<(usize, usize)> {
    if options.history.is_empty() || arms.len() < 2 || arms.iter().any(|a| !a.rules.is_empty()) {
        return None;
    }
    let (earliest_arm, first_dose) = arms
        .iter()
        .enumerate()
        .filter_map(|(arm_idx, arm)| {
            let first = arm.regimen.doses.iter().map(|d| d.time).reduce(f64::min)?;
            Some((arm_idx, first))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    let len = arm_records
        .iter()
        .map(|records| records.partition_point(|r| r.time < first_dose))
        .min()?;
    (len > 0).then_some((len, earliest_arm))
}

/// Writes this patient's copy of `records` into `scaled` (a reused buffer), with
/// covariate-scaled doses multiplied out (amount and rate).
fn scale_doses(records: &[Record], covariates: &[f64], scaled: &mut Vec<Record>) {
    scaled.clear();
    scaled.extend_from_slice(records);
    for r in scaled.iter_mut() {
        if r.line != OUTPUT_MARK && r.line >= SCALED_MARK {
            let factor = covariates[r.line - SCALED_MARK];
            scale_dose(r, factor);
        }
    }
}

/// Model outcomes of one virtual patient under one arm, from its noise-free trajectory `values`
/// (row-major `times × outputs`) with individual parameters `params` and covariates
/// `covariates`, into `outcomes` (one value per model outcome). Stochastic events (dropout,
/// death) are drawn from the `Dropout` stream of `(seed, replicate, patient)`, the same under
/// every arm, so they are paired across arms. Nothing is drawn when the model has no outcomes.
///
/// [`run_cohort`] and the twin trial's per-patient simulation share this step.
pub fn patient_outcomes<M: Model + ?Sized>(
    model: &M,
    (seed, replicate, patient): (u64, u64, u64),
    times: &[f64],
    values: &[f64],
    params: &[f64],
    covariates: &[f64],
    outcomes: &mut [f64],
) {
    if outcomes.is_empty() {
        return;
    }
    let mut events = RandomStream::new(seed, replicate, patient, Purpose::Dropout);
    model.outcomes(times, values, params, covariates, &mut events, outcomes);
}

/// Turns one virtual patient's noise-free outputs `values` (row-major `times × n_outputs`) into
/// observations: residual error of each output in time-major order from the `Residual` stream
/// of `(seed, replicate, patient)`, the same under every arm (common random numbers for paired
/// arms).
///
/// [`run_cohort`] and the twin trial's per-patient simulation share this step.
pub fn add_residual_error(
    population: &Population,
    (seed, replicate, patient): (u64, u64, u64),
    n_outputs: usize,
    values: &mut [f64],
) {
    let mut eps = RandomStream::new(seed, replicate, patient, Purpose::Residual);
    for row in values.chunks_mut(n_outputs) {
        for (o, v) in row.iter_mut().enumerate() {
            *v = population.residual(o).observe(*v, eps.normal());
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn simulate_patient<M: Model + ?Sized>(
    model: &M,
    population: &Population,
    arms: &[Arm],
    arm_records: &[Vec<Record>],
    output_rows: &[Vec<usize>],
    shared: Option<(usize, usize)>,
    options: &CohortOptions,
    ws: &mut Workspace<'_, M>,
    patient: u64,
) -> PatientTrajectories {
    let n_out = model.spec().outputs.len();
    let n_times = options.output_times.len();
    match &options.eta_draws {
        Some(draws) => ws.eta.copy_from_slice(&draws[patient as usize]),
        None => {
            let mut eta_stream =
                RandomStream::new(options.seed, options.replicate, patient, Purpose::Eta);
            population.sample_eta(&mut eta_stream, &mut ws.eta);
        }
    }
    let mut covariate_stream = RandomStream::new(
        options.seed,
        options.replicate,
        patient,
        Purpose::Covariates,
    );
    match &options.covariates {
        Some(fixed) => ws.covariates.copy_from_slice(fixed),
        None => model.sample_covariates(&mut covariate_stream, &mut ws.covariates),
    }
    model.individual_parameters(population, &ws.covariates, &ws.eta, &mut ws.params);
    let mut values = vec![f64::NAN; arms.len() * n_times * n_out];
    let mut failures = vec![None; arms.len()];
    let n_outcomes = model.spec().outcomes.len();
    let mut outcomes = vec![f64::NAN; arms.len() * n_outcomes];
    let mut rule_firings: Vec<Vec<u32>> = arms.iter().map(|a| vec![0; a.rules.len()]).collect();
    // The shared history, once; each arm then continues from a copy of the simulator.
    let after_history = shared.map(|(len, reference_arm)| {
        let records = &arm_records[reference_arm];
        ws.shared_outputs.resize(records.len() * n_out, 0.0);
        ws.simulator.begin(records[0].time, &ws.params);
        ws.simulator
            .process_range(
                records,
                0..len,
                ParameterTrack::Constant(&ws.params),
                &mut ws.shared_outputs,
            )
            .map(|()| (len, ws.simulator.clone()))
    });
    for (arm_idx, records) in arm_records.iter().enumerate() {
        let arm_values_range = arm_idx * n_times * n_out..(arm_idx + 1) * n_times * n_out;
        let result = if arms[arm_idx].rules.is_empty() {
            ws.outputs.resize(records.len() * n_out, 0.0);
            let records = if arms[arm_idx].regimen.scale_by.iter().any(Option::is_some) {
                scale_doses(records, &ws.covariates, &mut ws.scaled);
                &ws.scaled
            } else {
                records
            };
            let track = ParameterTrack::Constant(&ws.params);
            match &after_history {
                // A failure within the history fails every arm the same way: rerun to report it.
                None | Some(Err(_)) => ws.simulator.run(records, track, &mut ws.outputs),
                Some(Ok((len, simulator))) => {
                    ws.outputs[..len * n_out].copy_from_slice(&ws.shared_outputs[..len * n_out]);
                    let mut simulator = simulator.clone();
                    simulator.process_range(records, *len..records.len(), track, &mut ws.outputs)
                }
            }
            .map(|()| {
                let arm_values = &mut values[arm_values_range.clone()];
                for (time_idx, &row) in output_rows[arm_idx].iter().enumerate() {
                    arm_values[time_idx * n_out..(time_idx + 1) * n_out]
                        .copy_from_slice(&ws.outputs[row * n_out..(row + 1) * n_out]);
                }
            })
        } else {
            let protocol = Protocol {
                regimen: arms[arm_idx].regimen.clone(),
                rules: arms[arm_idx].rules.clone(),
            };
            run_protocol_after(
                &mut ws.simulator,
                &options.history,
                &protocol,
                &ws.params,
                &ws.covariates,
                &options.output_times,
                &mut values[arm_values_range.clone()],
            )
            .map(|log| rule_firings[arm_idx] = log.firings)
        };
        match result {
            Ok(()) => {
                let arm_values = &mut values[arm_values_range];
                let first = options
                    .output_times
                    .partition_point(|&t| t < options.outcome_start);
                patient_outcomes(
                    model,
                    (options.seed, options.replicate, patient),
                    &options.output_times[first..],
                    &arm_values[first * n_out..],
                    &ws.params,
                    &ws.covariates,
                    &mut outcomes[arm_idx * n_outcomes..(arm_idx + 1) * n_outcomes],
                );
                if options.with_residual_error {
                    add_residual_error(
                        population,
                        (options.seed, options.replicate, patient),
                        n_out,
                        arm_values,
                    );
                }
            }
            Err(e) => failures[arm_idx] = Some(e.for_patient(patient.to_string()).to_string()),
        }
    }
    PatientTrajectories {
        patient,
        values,
        failures,
        outcomes,
        rule_firings,
    }
}

fn fold_wave(
    summary: &mut CohortSummary,
    wave: &[PatientTrajectories],
    options: &CohortOptions,
    n_out: usize,
    n_times: usize,
) {
    for (arm_idx, arm) in summary.arms.iter_mut().enumerate() {
        let ok: Vec<&PatientTrajectories> = wave
            .iter()
            .filter(|p| p.failures[arm_idx].is_none())
            .collect();
        arm.n_ok += ok.len() as u64;
        arm.n_failed += (wave.len() - ok.len()) as u64;
        let offset = arm_idx * n_times * n_out;
        for (o, per_time) in arm.outputs.iter_mut().enumerate() {
            // Each accumulator is independent, so time points fold in parallel; the accumulators
            // are order-independent, so the result does not depend on the split.
            let fold_time = |(time_idx, acc): (usize, &mut RunningSummary)| {
                for p in &ok {
                    acc.add(p.values[offset + time_idx * n_out + o]);
                }
            };
            #[cfg(feature = "parallel")]
            per_time.par_iter_mut().enumerate().for_each(fold_time);
            #[cfg(not(feature = "parallel"))]
            per_time.iter_mut().enumerate().for_each(fold_time);
        }
        for (event, tally) in options.events.iter().zip(arm.events.iter_mut()) {
            for p in &ok {
                let first = (0..n_times).find(|&t| {
                    let v = p.values[offset + t * n_out + event.output];
                    match event.crossing {
                        Crossing::Below => v < event.threshold,
                        Crossing::Above => v > event.threshold,
                    }
                });
                if let Some(t) = first {
                    tally.n_events += 1;
                    tally.time_to_event.add(options.output_times[t]);
                }
            }
        }
    }
    fold_outcomes(summary, wave, options);
    for p in wave {
        for (arm_idx, arm) in summary.arms.iter_mut().enumerate() {
            if p.failures[arm_idx].is_some() {
                continue;
            }
            for (count, &fired) in arm.rule_patients.iter_mut().zip(&p.rule_firings[arm_idx]) {
                *count += u64::from(fired > 0);
            }
        }
    }
    for p in wave {
        for (arm_idx, failure) in p.failures.iter().enumerate() {
            if let Some(message) = failure
                && summary.failures.len() < MAX_REPORTED_FAILURES
            {
                summary.failures.push(PatientFailure {
                    patient: p.patient,
                    arm: summary.arms[arm_idx].name.clone(),
                    message: message.clone(),
                });
            }
        }
    }
}

/// Adds a wave's model outcomes to the per-arm tallies and the paired differences.
fn fold_outcomes(
    summary: &mut CohortSummary,
    wave: &[PatientTrajectories],
    options: &CohortOptions,
) {
    let n_arms = summary.arms.len();
    let Some(n_outcomes) = summary.arms.first().map(|a| a.outcomes.len()) else {
        return;
    };
    if n_outcomes == 0 {
        return;
    }
    for p in wave {
        for arm_idx in 0..n_arms {
            if p.failures[arm_idx].is_some() {
                continue;
            }
            for k in 0..n_outcomes {
                let value = p.outcomes[arm_idx * n_outcomes + k];
                let tally = &mut summary.arms[arm_idx].outcomes[k];
                tally.n += 1;
                if value.is_nan() {
                    continue;
                }
                tally.n_observed += 1;
                tally.values.add(value);
                if tally.event_kind {
                    // Counted from the first output time at or after the event.
                    let first = options.output_times.partition_point(|&t| t < value);
                    for c in tally.cumulative_events.iter_mut().skip(first) {
                        *c += 1;
                    }
                }
            }
            if arm_idx == 0 || p.failures[0].is_some() {
                continue;
            }
            for k in 0..n_outcomes {
                let event_kind = summary.arms[arm_idx].outcomes[k].event_kind;
                let (a, r) = (p.outcomes[arm_idx * n_outcomes + k], p.outcomes[k]);
                let (a, r) = if event_kind {
                    (
                        f64::from(u8::from(!a.is_nan())),
                        f64::from(u8::from(!r.is_nan())),
                    )
                } else {
                    (a, r)
                };
                if a.is_nan() || r.is_nan() {
                    continue;
                }
                let paired = &mut summary.arms[arm_idx].paired[k];
                paired.n_pairs += 1;
                if a > r {
                    paired.n_greater += 1;
                } else if a < r {
                    paired.n_less += 1;
                }
                paired.difference.add(a - r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn km_median_is_the_first_time_half_have_had_the_event() {
        // 10 patients; cumulative events 0, 3, 5, 9 at t = 0, 1, 2, 3: S = 1, 0.7, 0.5, 0.1, so
        // the median is t = 2 (S reaches 0.5 there, by hand).
        let tally = OutcomeTally {
            n: 10,
            n_observed: 9,
            event_kind: true,
            values: RunningSummary::new(1e-3).unwrap(),
            cumulative_events: vec![0, 3, 5, 9],
        };
        let times = [0.0, 1.0, 2.0, 3.0];
        let survival = tally.survival();
        for (s, expected) in survival.iter().zip([1.0, 0.7, 0.5, 0.1]) {
            assert!((s - expected).abs() < 1e-15, "{survival:?}");
        }
        assert_eq!(tally.km_median(&times), Some(2.0));
        let few = OutcomeTally {
            cumulative_events: vec![0, 1, 2, 4],
            ..tally
        };
        assert_eq!(few.km_median(&times), None);
    }

    #[test]
    fn summary_merge_refuses_counts_beyond_u64() {
        // Counts this large only come from an edited shard file.
        let summary = |n_ok: u64, rule_patients: u64| CohortSummary {
            output_times: vec![0.0],
            output_names: vec!["X".to_owned()],
            arms: vec![ArmSummary {
                name: "a".to_owned(),
                n_ok,
                n_failed: 0,
                outputs: vec![],
                events: vec![],
                outcomes: vec![],
                paired: vec![],
                rule_patients: vec![rule_patients],
            }],
            failures: vec![],
        };
        let mut total = summary(2, 1);
        total.merge(&summary(3, 1)).unwrap();
        assert_eq!((total.arms[0].n_ok, total.arms[0].rule_patients[0]), (5, 2));
        for other in [summary(u64::MAX, 0), summary(0, u64::MAX)] {
            let err = total.merge(&other).unwrap_err();
            assert!(err.to_string().contains("more than a u64 holds"), "{err}");
        }
    }
}
