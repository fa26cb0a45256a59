//! `twin forecast`: individualise a model to one patient's records (posterior over η given
//! covariates, doses and observations) and forecast alternative therapies from the patient's own
//! history, as distributions over posterior draws paired across therapies.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::anyhow;
use serde::Serialize;
use twin_engine::model::{FixedParameters, Model, OutcomeKind};
use twin_engine::montecarlo::{Arm, CohortOptions, CohortSummary};
use twin_engine::nmcsv;
use twin_engine::posterior::{
    Individual, IndividualOptions, MapEstimate, MapOptions, PosteriorSample, SamplingOptions,
    map_estimate, sample_posterior,
};
use twin_engine::predict::{ParameterOverride, ParameterSource, population_of};
use twin_engine::records::Record;
use twin_engine::regimen::{Regimen, parse_duration};

use crate::Failure;
use crate::files::{read_text, write_atomic};
use crate::simulate::Study;
use crate::tables::{km_median, wilson};

/// Arguments of `twin forecast`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model id, optionally with a version: `neutropenia` or `pheno@1`.
    #[arg(long)]
    model: String,
    /// The patient's NONMEM-style records: covariates, past doses and observations.
    #[arg(long)]
    patient: PathBuf,
    /// Which subject of the file (ID column); by default the only or first one.
    #[arg(long)]
    id: Option<String>,
    /// A therapy to compare, `NAME=REGIMEN` (regimen text or a built-in therapy name), starting
    /// at the forecast origin (`--from`). Repeat for two to four therapies.
    #[arg(long = "therapy", value_name = "NAME=REGIMEN", required = true)]
    therapies: Vec<String>,
    /// Posterior draws.
    #[arg(long, default_value_t = 1000)]
    draws: usize,
    /// Master seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Forecast origin: therapies start here (default: the time of the patient's last record).
    #[arg(long)]
    from: Option<String>,
    /// Forecast horizon after the origin, e.g. `21d` (default: the longest therapy's natural end).
    #[arg(long)]
    until: Option<String>,
    /// Output spacing, e.g. `1d` (default: about 200 points).
    #[arg(long)]
    every: Option<String>,
    /// Fix a parameter (`NAME=VALUE`), as for `twin predict`.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    #[command(flatten)]
    solver: crate::SolverArgs,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Serialize)]
struct PosteriorJson<'a> {
    eta_names: Vec<String>,
    map_eta: &'a [f64],
    laplace_covariance: &'a [f64],
    objective: f64,
    n_observations: usize,
    n_distinct_optima: usize,
    map_individual_parameters: Vec<(String, f64)>,
    draws: usize,
    effective_sample_size: f64,
    max_weight_share: f64,
    pareto_k: Option<f64>,
    reliable: bool,
    notes: Vec<String>,
}

/// Runs `twin forecast`.
pub fn run(args: &Args) -> Result<(), Failure> {
    let released = twin_models::find(&args.model).map_err(Failure::input)?;
    let overrides: Vec<ParameterOverride> = args
        .params
        .iter()
        .map(|p| ParameterOverride::parse(p))
        .collect::<Result<_, _>>()
        .map_err(Failure::input)?;
    let fixed_values: Vec<(String, f64)> = overrides
        .iter()
        .filter_map(|o| match o.source {
            ParameterSource::Value(v) => Some((o.name.clone(), v)),
            ParameterSource::Column(_) => None,
        })
        .collect();
    let fixed = FixedParameters::new(released.as_ref(), &fixed_values).map_err(Failure::input)?;
    let model: &dyn Model = if fixed_values.is_empty() {
        released.as_ref()
    } else {
        &fixed
    };
    let spec = model.spec();
    if !(1..=4).contains(&args.therapies.len()) {
        return Err(Failure::input(anyhow!(
            "give one to four --therapy options, got {}",
            args.therapies.len()
        )));
    }
    let source = args.patient.display().to_string();
    let text = read_text(&args.patient).map_err(Failure::input)?;
    let dataset = nmcsv::parse_dataset(&source, &text).map_err(Failure::input)?;
    let subject_idx = match &args.id {
        Some(id) => dataset
            .subjects
            .iter()
            .position(|s| &s.id == id)
            .ok_or_else(|| Failure::input(anyhow!("{source}: no subject with ID {id}")))?,
        None => 0,
    };
    let subject = dataset
        .subjects
        .get(subject_idx)
        .ok_or_else(|| Failure::input(anyhow!("{source}: the file holds no record")))?;
    let population = population_of(model).map_err(Failure::input)?;
    let options = IndividualOptions {
        solver: args.solver.options(),
        overrides,
        ..IndividualOptions::default()
    };
    let mut individual = Individual::new(model, &population, &dataset, subject_idx, &options)
        .map_err(Failure::input)?;
    let map = map_estimate(&mut individual, &MapOptions::default()).map_err(Failure::run)?;
    let sampling = SamplingOptions {
        n_draws: args.draws,
        n_proposals: args.draws.saturating_mul(4),
        seed: args.seed,
        ..SamplingOptions::default()
    };
    let sample = sample_posterior(&mut individual, &map, &sampling).map_err(Failure::run)?;

    // Therapies start at the forecast origin.
    let last_time = subject.records.last().map_or(0.0, |r| r.time);
    let origin = match &args.from {
        Some(text) => parse_duration(text, spec.time_unit).map_err(Failure::input)?,
        None => last_time,
    };
    let mut arms = Vec::new();
    let mut arm_texts = Vec::new();
    for text in &args.therapies {
        let (name, regimen) = text
            .split_once('=')
            .ok_or_else(|| Failure::input(anyhow!("--therapy '{text}': expected NAME=REGIMEN")))?;
        let regimen_text = spec
            .therapies
            .iter()
            .find(|t| t.name == regimen.trim())
            .map_or(regimen.trim(), |t| t.regimen);
        let mut regimen = Regimen::parse(regimen_text, spec).map_err(Failure::input)?;
        for dose in &mut regimen.doses {
            dose.time += origin;
        }
        arms.push(Arm {
            name: name.trim().to_owned(),
            regimen,
            rules: Vec::new(),
        });
        arm_texts.push(format!(
            "{} (from t = {origin} {})",
            regimen_text,
            spec.time_unit.symbol()
        ));
    }
    let horizon = match &args.until {
        Some(text) => parse_duration(text, spec.time_unit).map_err(Failure::input)?,
        None => arms
            .iter()
            .map(|a| a.regimen.natural_end() - origin)
            .fold(0.0, f64::max)
            .max(1.0),
    };
    let end = origin + horizon;
    let every = match &args.every {
        Some(text) => parse_duration(text, spec.time_unit).map_err(Failure::input)?,
        None => end / 200.0,
    };
    let times = crate::simulate::output_grid(end, every)?;

    // Covariates at the last record (constant over the forecast).
    let last = subject
        .records
        .last()
        .map(|r| r.covariates.clone())
        .unwrap_or_default();
    let covariates: Vec<f64> = spec
        .covariates
        .iter()
        .map(|c| {
            dataset
                .covariate_index(c.name)
                .and_then(|i| last.get(i).copied())
                .unwrap_or(f64::NAN)
        })
        .collect();
    let history: Vec<Record> = subject
        .records
        .iter()
        .filter(|r| r.time <= origin)
        .cloned()
        .collect();
    let mut cohort = CohortOptions::new(sample.n_draws as u64, args.seed, times);
    cohort.solver = args.solver.options();
    cohort.eta_draws = Some(
        (0..sample.n_draws)
            .map(|i| sample.draw(i).to_vec())
            .collect(),
    );
    cohort.covariates = Some(covariates);
    cohort.history = history;
    cohort.outcome_start = origin;
    let mut observations: Vec<(usize, Vec<f64>, Vec<f64>)> = Vec::new();
    for obs in individual.observations() {
        match observations.iter_mut().find(|(o, _, _)| *o == obs.output) {
            Some((_, t, v)) => {
                t.push(obs.time);
                v.push(obs.value);
            }
            None => observations.push((obs.output, vec![obs.time], vec![obs.value])),
        }
    }
    let study = Study {
        model,
        arms,
        arm_texts,
        options: cohort,
        threads: None,
        trajectories: false,
        stem: "forecast",
        observations,
    };
    let summary = study.execute(&args.out)?;
    let mut map_params = vec![0.0; spec.parameters.len()];
    model.individual_parameters(
        &population,
        study.options.covariates.as_deref().unwrap_or(&[]),
        &map.eta,
        &mut map_params,
    );
    let posterior = posterior_json(model, &map, &sample, &map_params);
    let json =
        serde_json::to_string_pretty(&posterior).map_err(|e| Failure::run(anyhow!("{e}")))? + "\n";
    write_atomic(&args.out.join("posterior.json"), json.as_bytes()).map_err(Failure::run)?;
    let text = plain_summary(model, &subject.id, &map, &sample, &study, &summary, origin);
    write_atomic(&args.out.join("summary.txt"), text.as_bytes()).map_err(Failure::run)?;
    print!("{text}");
    Ok(())
}

fn posterior_json<'a>(
    model: &dyn Model,
    map: &'a MapEstimate,
    sample: &PosteriorSample,
    map_params: &[f64],
) -> PosteriorJson<'a> {
    let spec = model.spec();
    PosteriorJson {
        eta_names: spec
            .variability
            .random_effects
            .iter()
            .map(|e| format!("eta_{}", spec.parameters[e.parameter].name))
            .collect(),
        map_eta: &map.eta,
        laplace_covariance: &map.covariance,
        objective: map.objective,
        n_observations: map.n_observations,
        n_distinct_optima: map.n_distinct_optima,
        map_individual_parameters: spec
            .parameters
            .iter()
            .zip(map_params)
            .map(|(p, v)| (p.name.to_owned(), *v))
            .collect(),
        draws: sample.n_draws,
        effective_sample_size: sample.diagnostics.effective_sample_size,
        max_weight_share: sample.diagnostics.max_weight_share,
        pareto_k: sample.diagnostics.pareto_k,
        reliable: sample.diagnostics.is_reliable(),
        notes: map.notes.iter().chain(&sample.notes).cloned().collect(),
    }
}

/// A short text a clinician can read: who, what was learnt, what each therapy is likely to do.
fn plain_summary(
    model: &dyn Model,
    id: &str,
    map: &MapEstimate,
    sample: &PosteriorSample,
    study: &Study<'_>,
    summary: &CohortSummary,
    origin: f64,
) -> String {
    let spec = model.spec();
    let unit = spec.time_unit.symbol();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Forecast for patient {id} with {} v{} ({}).",
        spec.id, spec.version, spec.description
    );
    let _ = writeln!(
        t,
        "Calibrated on {} observation(s); {} posterior draws.",
        map.n_observations, sample.n_draws
    );
    for note in map.notes.iter().chain(&sample.notes) {
        let _ = writeln!(t, "Note: {note}");
    }
    let etas: Vec<String> = spec
        .variability
        .random_effects
        .iter()
        .zip(&map.eta)
        .map(|(e, v)| format!("eta({}) = {v:.4}", spec.parameters[e.parameter].name))
        .collect();
    let _ = writeln!(t, "Individual random effects (MAP): {}", etas.join(", "));
    let _ = writeln!(
        t,
        "Therapies start at t = {origin} {unit}; ranges are 90 % prediction intervals.\n"
    );
    for (arm, text) in summary.arms.iter().zip(&study.arm_texts) {
        let _ = writeln!(t, "{}: {}", arm.name, text);
        for (o, output) in spec.outputs.iter().enumerate() {
            let Some(last) = arm.outputs[o].last() else {
                continue;
            };
            let q = |p: f64| last.quantile(p).unwrap_or(f64::NAN);
            let _ = writeln!(
                t,
                "  {} at t = {} {unit}: median {:.3} {} (90 % range {:.3} to {:.3})",
                output.name,
                summary.output_times.last().copied().unwrap_or(0.0),
                q(0.5),
                output.unit,
                q(0.05),
                q(0.95)
            );
        }
        for (k, outcome) in spec.outcomes.iter().enumerate() {
            let tally = &arm.outcomes[k];
            match outcome.kind {
                OutcomeKind::TimeToEvent => {
                    let [lo, hi] = wilson(tally.n_observed, tally.n);
                    let p = if tally.n == 0 {
                        f64::NAN
                    } else {
                        tally.n_observed as f64 / tally.n as f64
                    };
                    let median = km_median(tally, &summary.output_times)
                        .map_or(String::new(), |m| format!(", median time {m} {unit}"));
                    let _ = writeln!(
                        t,
                        "  P({}) = {:.0} % (95 % CI {:.0}–{:.0} %){median}",
                        outcome.name,
                        100.0 * p,
                        100.0 * lo,
                        100.0 * hi
                    );
                }
                OutcomeKind::Value => {
                    let q = |p: f64| tally.values.quantile(p).unwrap_or(f64::NAN);
                    let _ = writeln!(
                        t,
                        "  {}: median {:.3} {} (90 % range {:.3} to {:.3})",
                        outcome.name,
                        q(0.5),
                        outcome.unit,
                        q(0.05),
                        q(0.95)
                    );
                }
            }
        }
        if let Some(reference) = summary.arms.first().filter(|r| r.name != arm.name) {
            for (k, outcome) in spec.outcomes.iter().enumerate() {
                let paired = &arm.paired[k];
                if paired.n_pairs == 0 {
                    continue;
                }
                let share = paired.n_greater as f64 / paired.n_pairs as f64;
                let _ = writeln!(
                    t,
                    "  P({} higher than under {}) = {:.0} %",
                    outcome.name,
                    reference.name,
                    100.0 * share
                );
            }
        }
        t.push('\n');
    }
    t
}
