//! `twin simulate`: a virtual cohort under one or more therapy arms, summarised as it streams.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use serde::{Deserialize, Serialize};
use twin_engine::model::{FixedParameters, Model};
use twin_engine::montecarlo::{
    Arm, CohortOptions, CohortSummary, Crossing, PatientTrajectories, ThresholdEvent, run_cohort,
};
use twin_engine::nmcsv;
use twin_engine::predict::{ParameterOverride, ParameterSource};
use twin_engine::protocol::Protocol;
use twin_engine::random::RNG_ALGORITHM;
use twin_engine::regimen::{Regimen, parse_duration};
use twin_engine::solver::SolverOptions;

use crate::Failure;
use crate::files::{OutputFiles, PendingFile, number, read_text};
use crate::tables::QUANTILES;

/// Arguments of `twin simulate`. They serialise into a shard's manifest, from which `twin merge`
/// rebuilds the same study.
#[derive(clap::Args, Debug, Clone, Serialize, Deserialize)]
pub struct Args {
    /// Model id, optionally with a version: `pk-2cmt-mm` or `pk-2cmt-mm@1`.
    #[arg(long)]
    model: String,
    /// A therapy arm: `NAME=REGIMEN` (regimen text such as `100 mg q24h x28`, or the name of one of
    /// the model's built-in therapies), `NAME=@protocol.json` (a regimen with dosing rules), or
    /// `NAME=@events.csv` (the dose records of a NONMEM-style file). Repeat for several arms.
    #[arg(long = "arm", value_name = "NAME=REGIMEN", required = true)]
    arms: Vec<String>,
    /// Fix an individual parameter for every patient: `NAME=VALUE` (its random effect is ignored).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Number of virtual patients.
    #[arg(long, default_value_t = 1000)]
    patients: u64,
    /// Master seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Last output time, e.g. `28d` (default: end of the longest regimen's last interval).
    #[arg(long)]
    until: Option<String>,
    /// Output spacing, e.g. `1h` (default: about 200 points over the horizon).
    #[arg(long)]
    every: Option<String>,
    /// Threshold event, `NAME:OUTPUT<VALUE` or `NAME:OUTPUT>VALUE`, counted per arm.
    #[arg(long = "event", value_name = "NAME:OUTPUT<VALUE")]
    events: Vec<String>,
    /// Summarise observations with residual error instead of individual predictions.
    #[arg(long)]
    with_error: bool,
    /// Also write every patient's trajectory to `trajectories.csv` (large).
    #[arg(long)]
    trajectories: bool,
    #[command(flatten)]
    solver: crate::SolverArgs,
    /// Run only shard I of N (`--shard 2/4`; I from 0 to N − 1) over a contiguous patient range
    /// and write its mergeable partial result with a manifest (`shard.json`); `twin merge`
    /// combines the shards into exactly the files one run writes.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Number of shards, the index coming from `JOB_COMPLETION_INDEX` (Kubernetes Indexed Job)
    /// or `SLURM_ARRAY_TASK_ID` (Slurm job array).
    #[arg(long, value_name = "N")]
    shards: Option<u64>,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

impl Args {
    /// The arguments that define the run's results: without the output directory, the threads
    /// and the shard selection (which change where and how fast, not what).
    pub fn run_defining(&self) -> Self {
        Self {
            threads: None,
            shard: None,
            shards: None,
            out: PathBuf::new(),
            ..self.clone()
        }
    }

    /// The patients of the whole run.
    pub fn patients(&self) -> u64 {
        self.patients
    }

    /// Whether every trajectory is written.
    pub fn trajectories(&self) -> bool {
        self.trajectories
    }

    /// The `@file` arms (protocols and event files) the run reads.
    pub fn arm_files(&self) -> Vec<PathBuf> {
        self.arms
            .iter()
            .filter_map(|a| a.split_once('=').map(|(_, r)| r.trim()))
            .filter_map(|r| r.strip_prefix('@'))
            .map(PathBuf::from)
            .collect()
    }

    /// The output directory.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// The same arguments writing into `out`.
    pub fn with_out(&self, out: &Path) -> Self {
        Self {
            out: out.to_owned(),
            ..self.clone()
        }
    }
}

/// Parses `NAME=REGIMEN` given to `flag` (`--arm`, `--therapy`): regimen text, a built-in
/// therapy name, `@protocol.json` (with dosing rules) or `@events.csv`.
pub fn parse_arm(text: &str, model: &dyn Model, flag: &str) -> Result<Arm, Failure> {
    let (name, regimen) = text.split_once('=').ok_or_else(|| {
        Failure::input(anyhow!(
            "{flag} '{text}': expected NAME=REGIMEN, e.g. daily=100 mg q24h x7"
        ))
    })?;
    let name = name.trim();
    if name.is_empty() || name.contains(',') {
        return Err(Failure::input(anyhow!(
            "{flag} '{text}': the name must be non-empty and contain no comma"
        )));
    }
    let (regimen, rules) = if let Some(path) = regimen.trim().strip_prefix('@') {
        let text = read_text(Path::new(path)).map_err(Failure::input)?;
        if path.to_ascii_lowercase().ends_with(".json") {
            let protocol = Protocol::parse(path, &text, model.spec()).map_err(Failure::input)?;
            (protocol.regimen, protocol.rules)
        } else {
            let dataset = nmcsv::parse_dataset(path, &text).map_err(Failure::input)?;
            dataset
                .check_compartments(model.spec().states.len())
                .map_err(Failure::input)?;
            let subject = dataset.subjects.first().ok_or_else(|| {
                Failure::input(anyhow!("{path}: the events file holds no record"))
            })?;
            (
                Regimen::from_records(path, &subject.records).map_err(Failure::input)?,
                Vec::new(),
            )
        }
    } else {
        let regimen = model.spec().regimen_text(regimen.trim());
        (
            Regimen::parse(regimen, model.spec()).map_err(Failure::input)?,
            Vec::new(),
        )
    };
    Ok(Arm {
        name: name.to_owned(),
        regimen,
        rules,
    })
}

fn parse_event(text: &str, model: &dyn Model) -> Result<ThresholdEvent, Failure> {
    let bad = || {
        Failure::input(anyhow!(
            "--event '{text}': expected NAME:OUTPUT<VALUE or NAME:OUTPUT>VALUE"
        ))
    };
    let (name, condition) = text.split_once(':').ok_or_else(bad)?;
    let (output, crossing, threshold) = if let Some((o, v)) = condition.split_once('<') {
        (o, Crossing::Below, v)
    } else if let Some((o, v)) = condition.split_once('>') {
        (o, Crossing::Above, v)
    } else {
        return Err(bad());
    };
    let spec = model.spec();
    let output_idx = spec.output_index(output.trim()).ok_or_else(|| {
        let names: Vec<&str> = spec.outputs.iter().map(|o| o.name).collect();
        Failure::input(anyhow!(
            "--event '{text}': model {} has no output '{}' (outputs: {})",
            spec.id,
            output.trim(),
            names.join(", ")
        ))
    })?;
    let threshold: f64 = threshold.trim().parse().map_err(|_| bad())?;
    Ok(ThresholdEvent {
        name: name.trim().to_owned(),
        output: output_idx,
        crossing,
        threshold,
    })
}

/// Output grid from `--until` / `--every` (model time units).
fn output_times(args: &Args, model: &dyn Model, arms: &[Arm]) -> Result<Vec<f64>, Failure> {
    let unit = model.spec().time_unit;
    let until = match &args.until {
        Some(text) => parse_duration(text, unit).map_err(Failure::input)?,
        None => arms
            .iter()
            .map(|a| a.regimen.natural_end())
            .fold(0.0, f64::max),
    };
    if until <= 0.0 {
        return Err(Failure::input(anyhow!(
            "the horizon is empty: give --until, e.g. --until 28d"
        )));
    }
    let every = match &args.every {
        Some(text) => parse_duration(text, unit).map_err(Failure::input)?,
        None => until / 200.0,
    };
    output_grid(until, every)
}

/// Output times `0, every, 2·every, …` up to `until` (model time units).
///
/// # Errors
/// Bad input when `every` is not positive or the grid would exceed a million times.
pub fn output_grid(until: f64, every: f64) -> Result<Vec<f64>, Failure> {
    twin_engine::forecast::output_grid(until, every)
        .map_err(|e| Failure::input(anyhow!("--until/--every: {e}")))
}

#[derive(Serialize)]
struct OutputJson {
    name: String,
    unit: String,
    mean: Vec<f64>,
    quantiles: BTreeMap<String, Vec<f64>>,
}

#[derive(Serialize)]
struct EventJson {
    name: String,
    definition: String,
    n_events: u64,
    probability: f64,
    ci95: [f64; 2],
    median_time: Option<f64>,
}

#[derive(Serialize)]
struct ArmJson {
    name: String,
    regimen: String,
    n_ok: u64,
    n_failed: u64,
    outputs: Vec<OutputJson>,
    events: Vec<EventJson>,
    outcomes: Vec<OutcomeJson>,
    rules: Vec<RuleJson>,
}

#[derive(Serialize)]
struct OutcomeJson {
    name: String,
    kind: &'static str,
    unit: String,
    n: u64,
    n_observed: u64,
    /// Value outcomes: mean and quantiles of the values; events: of the event times.
    mean: f64,
    quantiles: BTreeMap<String, Option<f64>>,
    /// Events only: probability by the horizon with its Wilson 95 % interval, and the
    /// Kaplan–Meier survival at each output time.
    probability: Option<f64>,
    ci95: Option<[f64; 2]>,
    km_survival: Option<Vec<f64>>,
    /// Against the first arm, on the same patients.
    paired_vs_first_arm: Option<PairedJson>,
}

#[derive(Serialize)]
struct PairedJson {
    reference: String,
    n_pairs: u64,
    mean_difference: f64,
    difference_quantiles: BTreeMap<String, Option<f64>>,
    p_arm_greater: f64,
    p_arm_less: f64,
}

#[derive(Serialize)]
struct RuleJson {
    name: String,
    patients_fired: u64,
}

#[derive(Serialize)]
struct SummaryJson {
    schema: &'static str,
    model: BTreeMap<&'static str, String>,
    patients: u64,
    seed: u64,
    with_residual_error: bool,
    time_unit: String,
    time: Vec<f64>,
    rng: &'static str,
    quantile_method: String,
    solver: SolverOptions,
    arms: Vec<ArmJson>,
    failures: Vec<twin_engine::montecarlo::PatientFailure>,
}

fn summary_files(
    study: &Study<'_>,
    summary: &CohortSummary,
    rule_names: &[Vec<String>],
) -> (String, String) {
    let (model, arm_texts, events) = (study.model, &study.arm_texts, &study.options.events);
    let (relative_accuracy, solver) = (study.options.relative_accuracy, study.options.solver);
    let spec = model.spec();
    let mut csv = String::from("arm,output,time,mean,p05,p25,p50,p75,p95\n");
    let mut arms_json = Vec::new();
    for (arm_idx, (arm, regimen)) in summary.arms.iter().zip(arm_texts).enumerate() {
        let mut outputs = Vec::new();
        for (o, per_time) in arm.outputs.iter().enumerate() {
            let mut quantiles: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for (t, acc) in per_time.iter().enumerate() {
                let _ = write!(
                    csv,
                    "{},{},{},{}",
                    arm.name,
                    spec.outputs[o].name,
                    number(summary.output_times[t]),
                    number(acc.mean())
                );
                for (label, q) in QUANTILES {
                    let v = acc.quantile(q).unwrap_or(f64::NAN);
                    let _ = write!(csv, ",{}", number(v));
                    quantiles.entry(label.to_owned()).or_default().push(v);
                }
                csv.push('\n');
            }
            outputs.push(OutputJson {
                name: spec.outputs[o].name.to_owned(),
                unit: spec.outputs[o].unit.to_owned(),
                mean: per_time
                    .iter()
                    .map(twin_engine::summary::RunningSummary::mean)
                    .collect(),
                quantiles,
            });
        }
        let events_json = events
            .iter()
            .zip(&arm.events)
            .map(|(def, tally)| EventJson {
                name: def.name.clone(),
                definition: crate::tables::event_definition(model, def),
                n_events: tally.n_events,
                probability: if arm.n_ok == 0 {
                    f64::NAN
                } else {
                    tally.n_events as f64 / arm.n_ok as f64
                },
                ci95: twin_engine::stats::wilson_95(tally.n_events, arm.n_ok),
                median_time: tally.time_to_event.quantile(0.5),
            })
            .collect();
        let quantiles =
            |acc: &twin_engine::summary::RunningSummary| -> BTreeMap<String, Option<f64>> {
                QUANTILES
                    .iter()
                    .map(|(label, q)| ((*label).to_owned(), acc.quantile(*q)))
                    .collect()
            };
        let outcomes = spec
            .outcomes
            .iter()
            .enumerate()
            .map(|(k, outcome)| {
                let tally = &arm.outcomes[k];
                let is_event = outcome.kind == twin_engine::model::OutcomeKind::TimeToEvent;
                let share = |a: u64, n: u64| {
                    if n == 0 {
                        f64::NAN
                    } else {
                        a as f64 / n as f64
                    }
                };
                OutcomeJson {
                    name: outcome.name.to_owned(),
                    kind: if is_event { "time_to_event" } else { "value" },
                    unit: outcome.unit.to_owned(),
                    n: tally.n,
                    n_observed: tally.n_observed,
                    mean: tally.values.mean(),
                    quantiles: quantiles(&tally.values),
                    probability: is_event.then(|| share(tally.n_observed, tally.n)),
                    ci95: is_event
                        .then(|| twin_engine::stats::wilson_95(tally.n_observed, tally.n)),
                    km_survival: is_event.then(|| tally.survival()),
                    paired_vs_first_arm: arm.paired.get(k).map(|p| PairedJson {
                        reference: summary.arms[0].name.clone(),
                        n_pairs: p.n_pairs,
                        mean_difference: p.difference.mean(),
                        difference_quantiles: quantiles(&p.difference),
                        p_arm_greater: share(p.n_greater, p.n_pairs),
                        p_arm_less: share(p.n_less, p.n_pairs),
                    }),
                }
            })
            .collect();
        let rules = rule_names
            .get(arm_idx)
            .map(|names| {
                names
                    .iter()
                    .zip(&arm.rule_patients)
                    .map(|(name, &patients_fired)| RuleJson {
                        name: name.clone(),
                        patients_fired,
                    })
                    .collect()
            })
            .unwrap_or_default();
        arms_json.push(ArmJson {
            name: arm.name.clone(),
            regimen: regimen.clone(),
            n_ok: arm.n_ok,
            n_failed: arm.n_failed,
            outputs,
            events: events_json,
            outcomes,
            rules,
        });
    }
    let mut model_json = BTreeMap::new();
    model_json.insert("id", spec.id.to_owned());
    model_json.insert("version", spec.version.to_owned());
    let json = SummaryJson {
        schema: "twinsim.simulate.summary/1",
        model: model_json,
        patients: study.options.patients.end - study.options.patients.start,
        seed: study.options.seed,
        with_residual_error: study.options.with_residual_error,
        time_unit: spec.time_unit.symbol().to_owned(),
        time: summary.output_times.clone(),
        rng: RNG_ALGORITHM,
        quantile_method: format!(
            "DDSketch log-bucket sketch, lower empirical quantile (rank floor(q*(n-1))), relative accuracy {relative_accuracy}"
        ),
        solver,
        arms: arms_json,
        failures: summary.failures.clone(),
    };
    let json =
        serde_json::to_string_pretty(&json).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    (csv, json + "\n")
}

/// Streams trajectories into `trajectories.csv` of a run's output files.
struct TrajectoryWriter {
    file: PendingFile,
}

impl TrajectoryWriter {
    fn create(files: &OutputFiles, model: &dyn Model) -> anyhow::Result<Self> {
        let mut file = files.stream("trajectories.csv")?;
        let mut header = String::from("patient,arm,time");
        for o in &model.spec().outputs {
            header.push(',');
            header.push_str(o.name);
        }
        writeln!(file, "{header}")?;
        Ok(Self { file })
    }

    fn write(
        &mut self,
        wave: &[PatientTrajectories],
        arms: &[Arm],
        times: &[f64],
        n_out: usize,
    ) -> anyhow::Result<()> {
        for p in wave {
            for (a, arm) in arms.iter().enumerate() {
                for (t, time) in times.iter().enumerate() {
                    let mut line = format!("{},{},{}", p.patient, arm.name, number(*time));
                    for o in 0..n_out {
                        line.push(',');
                        line.push_str(&number(p.values[(a * times.len() + t) * n_out + o]));
                    }
                    writeln!(self.file, "{line}")?;
                }
            }
        }
        Ok(())
    }
}

/// Runs `twin simulate`: the whole run, or one shard of it.
pub fn run(args: &Args) -> Result<(), Failure> {
    let shard = crate::shard::Shard::from_flags(args.shard.as_deref(), args.shards)?;
    with_study(args, |study| match shard {
        None => study.execute(&args.out).map(|_| ()),
        Some(shard) => crate::shard::run_shard(study, args, shard),
    })
}

/// Builds the study `args` describe (model, arms, events, output times, options) and hands it to
/// `f`; `twin merge` rebuilds a sharded run's study the same way.
pub fn with_study<R>(
    args: &Args,
    f: impl FnOnce(&mut Study<'_>) -> Result<R, Failure>,
) -> Result<R, Failure> {
    let released = crate::registry::resolve_model(&args.model).map_err(Failure::input)?;
    let overrides = args
        .params
        .iter()
        .map(|text| {
            let o = ParameterOverride::parse(text).map_err(Failure::input)?;
            match o.source {
                ParameterSource::Value(value) => Ok((o.name, value)),
                ParameterSource::Column(_) => Err(Failure::input(anyhow!(
                    "--param '{text}': a simulation reads no dataset; give NAME=VALUE"
                ))),
            }
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let fixed = FixedParameters::new(released.as_ref(), &overrides).map_err(Failure::input)?;
    let model: &dyn Model = if overrides.is_empty() {
        released.as_ref()
    } else {
        &fixed
    };
    let arms = args
        .arms
        .iter()
        .map(|a| parse_arm(a, model, "--arm"))
        .collect::<Result<Vec<_>, _>>()?;
    let events = args
        .events
        .iter()
        .map(|e| parse_event(e, model))
        .collect::<Result<Vec<_>, _>>()?;
    let times = output_times(args, model, &arms)?;
    let solver = args.solver.options();
    solver.validate().map_err(Failure::input)?;
    let mut options = CohortOptions::new(args.patients, args.seed, times);
    options.solver = solver;
    options.with_residual_error = args.with_error;
    options.events = events;
    let arm_texts = args
        .arms
        .iter()
        .map(|a| a.split_once('=').map_or("", |(_, r)| r).trim().to_owned())
        .collect();
    let mut study = Study {
        model,
        arms,
        arm_texts,
        options,
        threads: args.threads,
        trajectories: args.trajectories,
        stem: "summary",
        observations: Vec::new(),
    };
    f(&mut study)
}

/// A validated simulation study: model, arms, options. `twin simulate` and `twin demo` run it.
pub struct Study<'a> {
    /// The model.
    pub model: &'a dyn Model,
    /// The arms (the first is the reference for paired differences).
    pub arms: Vec<Arm>,
    /// The regimen text (or file) of each arm, as given.
    pub arm_texts: Vec<String>,
    /// Cohort options (patients, seed, output times, events…).
    pub options: CohortOptions,
    /// Worker threads (`None`: all cores).
    pub threads: Option<usize>,
    /// Whether to write every trajectory.
    pub trajectories: bool,
    /// File stem of the summary files: `summary` (simulate) or `forecast` (forecast).
    pub stem: &'static str,
    /// A real patient's observations to overlay on the fan charts: per output, (times, values).
    pub observations: Vec<(usize, Vec<f64>, Vec<f64>)>,
}

impl Study<'_> {
    /// Runs the cohort and writes summaries, tables and plots into `out`, all renamed into place
    /// together when the run is complete.
    pub fn execute(&self, out: &Path) -> Result<CohortSummary, Failure> {
        let mut files = OutputFiles::new(out).map_err(Failure::input)?;
        let summary = self.compute(&mut files)?;
        self.write_summary(&summary, &mut files)?;
        files.commit().map_err(Failure::run)?;
        Ok(summary)
    }

    /// Runs the cohort (adding `trajectories.csv` to `files` when asked) and returns the summary
    /// without writing it.
    pub fn compute(&self, files: &mut OutputFiles) -> Result<CohortSummary, Failure> {
        let (model, arms, options) = (self.model, &self.arms, &self.options);
        let mut names: Vec<&str> = arms.iter().map(|a| a.name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(Failure::input(anyhow!("two arms have the same name")));
        }
        // A shard's range may be empty (more shards than patients); the run may not.
        let n_patients = options.patients.end - options.patients.start;
        if options.patients.end == 0 {
            return Err(Failure::input(anyhow!("--patients must be at least 1")));
        }
        let mut writer = if self.trajectories {
            Some(TrajectoryWriter::create(files, model).map_err(Failure::run)?)
        } else {
            None
        };
        let bar = crate::progress::bar(n_patients, "patients");
        let n_out = model.spec().outputs.len();
        let mut write_error: Option<anyhow::Error> = None;
        let mut on_wave = |wave: &[PatientTrajectories]| {
            bar.inc(wave.len() as u64);
            if let Some(w) = writer.as_mut()
                && write_error.is_none()
                && let Err(e) = w.write(wave, arms, &options.output_times, n_out)
            {
                write_error = Some(e);
            }
        };
        let run = || run_cohort(model, arms, options, &mut on_wave);
        let summary = crate::with_threads(self.threads, run)?;
        bar.finish_and_clear();
        let summary = summary.map_err(Failure::input)?;
        if let Some(e) = write_error {
            return Err(Failure::run(e));
        }
        if let Some(w) = writer {
            files.add(w.file).map_err(Failure::run)?;
        }
        Ok(summary)
    }

    /// Adds the summaries, tables and plots of `summary` (a run of this study) to `files`.
    pub fn write_summary(
        &self,
        summary: &CohortSummary,
        files: &mut OutputFiles,
    ) -> Result<(), Failure> {
        let (model, arms, options) = (self.model, &self.arms, &self.options);
        let rule_names: Vec<Vec<String>> = arms
            .iter()
            .map(|a| a.rules.iter().map(|r| r.name.clone()).collect())
            .collect();
        let (csv, json) = summary_files(self, summary, &rule_names);
        files
            .write(&format!("{}.csv", self.stem), csv.as_bytes())
            .map_err(Failure::run)?;
        files
            .write(&format!("{}.json", self.stem), json.as_bytes())
            .map_err(Failure::run)?;
        let tables = [
            (
                "events.csv",
                crate::tables::events_csv(model, &options.events, summary),
            ),
            ("outcomes.csv", crate::tables::outcomes_csv(model, summary)),
            (
                "differences.csv",
                crate::tables::differences_csv(model, summary),
            ),
        ];
        for (name, text) in tables {
            files.write(name, text.as_bytes()).map_err(Failure::run)?;
        }
        crate::figures::write_figures(self, summary, files)?;
        let n_failed: u64 = summary.arms.iter().map(|a| a.n_failed).sum();
        if n_failed > 0 {
            for f in summary.failures.iter().take(5) {
                eprintln!("warning: arm {}: {}", f.arm, f.message);
            }
            eprintln!(
                "warning: {n_failed} patient simulations failed and are excluded from the summaries (see summary.json)"
            );
        }
        Ok(())
    }
}
