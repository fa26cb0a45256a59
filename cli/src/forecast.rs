//! `twin forecast`: individualise a model to one patient's records (posterior over η given
//! covariates, doses and observations) and forecast alternative therapies from the patient's own
//! history, as distributions over posterior draws paired across therapies.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::anyhow;
use serde::Serialize;
use twin_engine::forecast::{Forecast, ForecastRequest, forecast};
use twin_engine::model::{FixedParameters, Model, OutcomeKind};
use twin_engine::montecarlo::CohortOptions;
use twin_engine::nmcsv;
use twin_engine::predict::{ParameterOverride, ParameterSource};
use twin_engine::regimen::parse_duration;

use crate::Failure;
use crate::files::{OutputFiles, read_text};
use crate::simulate::Study;
use twin_engine::stats::wilson_95;

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
    /// A therapy to compare, `NAME=REGIMEN` (regimen text, a built-in therapy name, or
    /// `@protocol.json` for a regimen with dosing rules, which see the patient's history), starting
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
    let released = crate::registry::resolve_model(&args.model).map_err(Failure::input)?;
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
    let subject_idx = dataset
        .subject_index(args.id.as_deref())
        .map_err(|e| Failure::input(anyhow!(e)))?;

    let mut therapies = Vec::new();
    let mut therapy_texts = Vec::new();
    for text in &args.therapies {
        therapies.push(crate::simulate::parse_arm(text, model, "--therapy")?);
        let given = text
            .split_once('=')
            .map_or("", |(_, regimen)| regimen.trim());
        therapy_texts.push(spec.regimen_text(given).to_owned());
    }
    let duration = |text: &Option<String>| -> Result<Option<f64>, Failure> {
        text.as_deref()
            .map(|t| parse_duration(t, spec.time_unit))
            .transpose()
            .map_err(Failure::input)
    };
    let mut request = ForecastRequest::new(therapies);
    request.origin = duration(&args.from)?;
    request.horizon = duration(&args.until)?;
    request.every = duration(&args.every)?;
    request.draws = args.draws;
    request.seed = args.seed;
    request.solver = args.solver.options();
    request.individual.overrides = overrides;
    let forecast = forecast(model, &dataset, subject_idx, &request).map_err(|e| {
        if e.is_bad_input() {
            Failure::input(e)
        } else {
            Failure::run(e)
        }
    })?;

    let unit = spec.time_unit.symbol();
    let mut observations: Vec<(usize, Vec<f64>, Vec<f64>)> = Vec::new();
    for obs in &forecast.observations {
        match observations.iter_mut().find(|(o, _, _)| *o == obs.output) {
            Some((_, t, v)) => {
                t.push(obs.time);
                v.push(obs.value);
            }
            None => observations.push((obs.output, vec![obs.time], vec![obs.value])),
        }
    }
    let mut options = CohortOptions::new(
        forecast.sample.n_draws as u64,
        args.seed,
        forecast.summary.output_times.clone(),
    );
    options.outcome_start = forecast.origin;
    let study = Study {
        model,
        arm_texts: therapy_texts
            .iter()
            .map(|text| format!("{text} (from t = {} {unit})", forecast.origin))
            .collect(),
        arms: forecast.therapies.clone(),
        options,
        threads: None,
        trajectories: false,
        stem: "forecast",
        observations,
    };
    let mut files = OutputFiles::new(&args.out).map_err(Failure::input)?;
    study.write_summary(&forecast.summary, &mut files)?;
    let posterior = posterior_json(model, &forecast);
    let json =
        serde_json::to_string_pretty(&posterior).map_err(|e| Failure::run(anyhow!("{e}")))? + "\n";
    files
        .write("posterior.json", json.as_bytes())
        .map_err(Failure::run)?;
    let text = plain_summary(model, &dataset.subjects[subject_idx].id, &forecast, &study);
    files
        .write("summary.txt", text.as_bytes())
        .map_err(Failure::run)?;
    files.commit().map_err(Failure::run)?;
    print!("{text}");
    Ok(())
}

fn posterior_json<'a>(model: &dyn Model, forecast: &'a Forecast) -> PosteriorJson<'a> {
    let (map, sample, map_params) = (&forecast.map, &forecast.sample, &forecast.map_parameters);
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
fn plain_summary(model: &dyn Model, id: &str, forecast: &Forecast, study: &Study<'_>) -> String {
    let (map, sample, summary) = (&forecast.map, &forecast.sample, &forecast.summary);
    let origin = forecast.origin;
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
                    let [lo, hi] = wilson_95(tally.n_observed, tally.n);
                    let p = if tally.n == 0 {
                        f64::NAN
                    } else {
                        tally.n_observed as f64 / tally.n as f64
                    };
                    let median = tally
                        .km_median(&summary.output_times)
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
