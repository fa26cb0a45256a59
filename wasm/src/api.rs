//! The widget's three computations as plain functions from text to JSON text: the catalogue
//! ([`models_json`]), one model's inputs ([`describe_json`]) and a patient's forecast under two
//! to four therapies ([`forecast_json`]).
//!
//! They are what the browser calls through `wasm-bindgen` (see the crate root) and what the
//! native tests call directly, so the same request gives the same bytes in both. A forecast is
//! [`twin_engine::forecast::forecast`], the computation behind `twin forecast`, with the CLI's
//! semantics: a therapy is a model's built-in therapy name or regimen text; the forecast origin
//! is the patient's last record unless `from` is given; `until` is the horizon after the origin;
//! errors carry the CLI's messages ([`error_message`]).

use serde::{Deserialize, Serialize};
use twin_engine::EngineError;
use twin_engine::forecast::{Forecast, ForecastRequest, forecast};
use twin_engine::model::{Model, ModelSpec, OutcomeKind};
use twin_engine::montecarlo::{Arm, OutcomeTally, PairedOutcome};
use twin_engine::nmcsv::parse_dataset;
use twin_engine::population::ResidualError;
use twin_engine::posterior::Censoring;
use twin_engine::random::RNG_ALGORITHM;
use twin_engine::regimen::{Regimen, parse_duration};
use twin_engine::summary::RunningSummary;
use twin_models::CatalogueError;

use crate::stats::share;
use twin_engine::stats::wilson_95;

/// Schema of the JSON returned by [`forecast_json`].
pub const FORECAST_SCHEMA: &str = "twinsim.widget.forecast/1";

/// Largest number of posterior draws a request may ask for.
///
/// \[A\] A bound chosen for a browser tab: 20 000 draws of the neutropenia model under four
/// therapies hold about 10⁵ short simulations, seconds of work; more is a batch job for
/// `twin forecast`.
pub const MAX_DRAWS: usize = 20_000;

/// Quantiles of every band and table, with their JSON names.
const QUANTILES: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];

/// Everything that can go wrong in a widget call. Its messages are the CLI's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WidgetError {
    /// An unknown model id or version.
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    /// Bad input or a failed run, as the engine reports it (file and line, option).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The request is not valid JSON of the expected shape ([`WidgetRequest`]).
    #[error("forecast request: {0}")]
    Request(#[from] serde_json::Error),
    /// A request that is well-formed but not acceptable (e.g. five therapies).
    #[error("{0}")]
    Invalid(String),
}

/// The text of `err` followed by the text of each of its sources, joined by `": "` — what the CLI
/// prints after `error: ` (anyhow's alternate form), so the page shows the same message.
#[must_use]
pub fn error_message(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// A forecast request, as JSON. Fields mirror the flags of `twin forecast`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetRequest {
    /// Model id, optionally with a version: `neutropenia` or `pheno@1`.
    pub model: String,
    /// The patient's NONMEM-style records (covariates, past doses and observations) as CSV text.
    pub patient_csv: String,
    /// Name of the CSV in error messages (`patient.csv:3: …`). By default, this is
    /// `patient.csv`.
    #[serde(default = "default_source")]
    pub source: String,
    /// Which subject of the CSV (ID column). By default, the first one.
    #[serde(default)]
    pub id: Option<String>,
    /// One to four therapies; the first is the reference of the paired differences.
    pub therapies: Vec<TherapyRequest>,
    /// Forecast origin as a duration (`21d`). By default (absent, null or empty), the time of the
    /// patient's last record.
    #[serde(default)]
    pub from: Option<String>,
    /// Forecast horizon after the origin (`42d`). By default, the longest therapy's natural end.
    #[serde(default)]
    pub until: Option<String>,
    /// Output spacing (`1d`). By default, about 200 points.
    #[serde(default)]
    pub every: Option<String>,
    /// Posterior draws, 1 to [`MAX_DRAWS`]. By default, this is `1000` (as the CLI).
    #[serde(default = "default_draws")]
    pub draws: usize,
    /// Master seed. By default, this is `1` (as the CLI).
    #[serde(default = "default_seed")]
    pub seed: u64,
}

/// One therapy of a [`WidgetRequest`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TherapyRequest {
    /// Name shown in charts and tables.
    pub name: String,
    /// A built-in therapy name of the model (`docetaxel-75`) or regimen text
    /// (`75 mg/m2 iv over 1h q3w x6`); doses count from the forecast origin.
    pub regimen: String,
}

fn default_source() -> String {
    "patient.csv".to_owned()
}

fn default_draws() -> usize {
    1000
}

fn default_seed() -> u64 {
    1
}

#[derive(Serialize)]
struct CatalogueEntry {
    id: &'static str,
    version: &'static str,
    description: &'static str,
    hash: String,
    evidence: &'static str,
    time_unit: &'static str,
    outputs: Vec<&'static str>,
    therapies: Vec<&'static str>,
}

/// The catalogue as a JSON array: per released model version its id, version, description,
/// content hash (SHA-256 of its specification), evidence level, time unit, outputs and built-in
/// therapies, in catalogue order.
#[must_use]
pub fn models_json() -> String {
    let entries: Vec<CatalogueEntry> = twin_models::catalogue()
        .iter()
        .map(|model| {
            let spec = model.spec();
            CatalogueEntry {
                id: spec.id,
                version: spec.version,
                description: spec.description,
                hash: spec.content_hash(),
                evidence: spec.evidence,
                time_unit: spec.time_unit.symbol(),
                outputs: spec.outputs.iter().map(|o| o.name).collect(),
                therapies: spec.therapies.iter().map(|t| t.name).collect(),
            }
        })
        .collect();
    to_json(&entries)
}

#[derive(Serialize)]
struct Description<'a> {
    id: &'a str,
    version: &'a str,
    description: &'a str,
    hash: String,
    evidence: &'a str,
    time_unit: &'a str,
    covariates: Vec<CovariateJson<'a>>,
    outputs: Vec<OutputJson<'a>>,
    states: Vec<StateJson<'a>>,
    default_dose_cmt: usize,
    therapies: Vec<NamedText<'a>>,
    outcomes: Vec<OutcomeSpecJson<'a>>,
    documentation: &'a str,
}

#[derive(Serialize)]
struct CovariateJson<'a> {
    name: &'a str,
    unit: &'a str,
    reference: f64,
    lower: f64,
    upper: f64,
}

#[derive(Serialize)]
struct OutputJson<'a> {
    name: &'a str,
    unit: &'a str,
    /// Whether observations of this output can calibrate the twin (it has a residual error
    /// model); the CSV selects it with `DVID` = index + 1.
    observable: bool,
}

#[derive(Serialize)]
struct StateJson<'a> {
    cmt: usize,
    name: &'a str,
    unit: &'a str,
}

#[derive(Serialize)]
struct NamedText<'a> {
    name: &'a str,
    regimen: &'a str,
    description: &'a str,
}

#[derive(Serialize)]
struct OutcomeSpecJson<'a> {
    name: &'a str,
    unit: &'a str,
    kind: &'static str,
    description: &'a str,
}

/// What the page needs to build a patient form for model `name` (`id` or `id@version`), as a
/// JSON object: identity and hash; covariates with unit, reference and admissible range;
/// outputs (and which can be observed); states with their compartment numbers (CMT = index + 1)
/// and the default dose compartment; built-in therapies with their regimen text; outcomes;
/// documentation.
///
/// # Errors
/// [`WidgetError::Catalogue`] for an unknown model or version, naming the known ones.
pub fn describe_json(name: &str) -> Result<String, WidgetError> {
    let model = twin_models::find(name)?;
    let spec = model.spec();
    let residual = &spec.variability.residual;
    let description = Description {
        id: spec.id,
        version: spec.version,
        description: spec.description,
        hash: spec.content_hash(),
        evidence: spec.evidence,
        time_unit: spec.time_unit.symbol(),
        covariates: spec
            .covariates
            .iter()
            .map(|c| CovariateJson {
                name: c.name,
                unit: c.unit,
                reference: c.reference,
                lower: c.lower,
                upper: c.upper,
            })
            .collect(),
        outputs: spec
            .outputs
            .iter()
            .enumerate()
            .map(|(o, output)| OutputJson {
                name: output.name,
                unit: output.unit,
                observable: residual
                    .get(o)
                    .is_some_and(|r| !matches!(r, ResidualError::None)),
            })
            .collect(),
        states: spec
            .states
            .iter()
            .enumerate()
            .map(|(i, s)| StateJson {
                cmt: i + 1,
                name: s.name,
                unit: s.unit,
            })
            .collect(),
        default_dose_cmt: spec.default_dose_compartment + 1,
        therapies: spec
            .therapies
            .iter()
            .map(|t| NamedText {
                name: t.name,
                regimen: t.regimen,
                description: t.description,
            })
            .collect(),
        outcomes: spec
            .outcomes
            .iter()
            .map(|o| OutcomeSpecJson {
                name: o.name,
                unit: o.unit,
                kind: outcome_kind(o.kind),
                description: o.description,
            })
            .collect(),
        documentation: spec.documentation,
    };
    Ok(to_json(&description))
}

fn outcome_kind(kind: OutcomeKind) -> &'static str {
    match kind {
        OutcomeKind::TimeToEvent => "time_to_event",
        OutcomeKind::Value => "value",
    }
}

#[derive(Serialize)]
struct ForecastJson {
    schema: &'static str,
    model: ModelIdentity,
    patient: String,
    source: String,
    time_unit: &'static str,
    origin: f64,
    draws: usize,
    seed: u64,
    rng: &'static str,
    quantile_method: &'static str,
    time: Vec<f64>,
    observations: Vec<ObservationJson>,
    therapies: Vec<TherapyJson>,
    posterior: PosteriorJson,
    failures: Vec<FailureJson>,
}

#[derive(Serialize)]
struct ModelIdentity {
    id: &'static str,
    version: &'static str,
    hash: String,
}

#[derive(Serialize)]
struct ObservationJson {
    output: &'static str,
    output_index: usize,
    line: usize,
    time: f64,
    value: f64,
    /// The lower limit of quantification when the value is censored (M3).
    below_limit: Option<f64>,
}

#[derive(Serialize)]
struct TherapyJson {
    name: String,
    regimen: String,
    n_ok: u64,
    n_failed: u64,
    outputs: Vec<BandJson>,
    outcomes: Vec<OutcomeJson>,
}

/// Per output, one value per output time of the mean and of each quantile over draws.
#[derive(Serialize)]
struct BandJson {
    name: &'static str,
    unit: &'static str,
    mean: Vec<f64>,
    p05: Vec<f64>,
    p25: Vec<f64>,
    p50: Vec<f64>,
    p75: Vec<f64>,
    p95: Vec<f64>,
}

#[derive(Serialize)]
struct Quantiles {
    p05: Option<f64>,
    p25: Option<f64>,
    p50: Option<f64>,
    p75: Option<f64>,
    p95: Option<f64>,
}

impl Quantiles {
    fn of(summary: &RunningSummary) -> Self {
        let [p05, p25, p50, p75, p95] = QUANTILES.map(|q| summary.quantile(q));
        Self {
            p05,
            p25,
            p50,
            p75,
            p95,
        }
    }
}

#[derive(Serialize)]
struct OutcomeJson {
    name: &'static str,
    kind: &'static str,
    unit: &'static str,
    description: &'static str,
    n: u64,
    n_observed: u64,
    /// Events: the share of draws with the event by the horizon.
    probability: Option<f64>,
    /// Events: Wilson 95 % interval of `probability`.
    ci95: Option<[f64; 2]>,
    /// Events: the first output time at which half the draws have had the event.
    km_median: Option<f64>,
    /// Values (or event times of draws with the event): mean and quantiles.
    mean: f64,
    quantiles: Quantiles,
    /// Against the first therapy on the same draws; absent for the first therapy.
    paired: Option<PairedJson>,
}

#[derive(Serialize)]
struct PairedJson {
    reference: String,
    measure: &'static str,
    n_pairs: u64,
    mean_difference: f64,
    difference: Quantiles,
    /// Share of draws whose value (or event indicator) is larger under this therapy.
    p_greater: f64,
    /// Share of draws whose value (or event indicator) is smaller under this therapy.
    p_less: f64,
}

#[derive(Serialize)]
struct PosteriorJson {
    eta_names: Vec<String>,
    map_eta: Vec<f64>,
    laplace_covariance: Vec<f64>,
    objective: f64,
    n_observations: usize,
    n_distinct_optima: usize,
    map_individual_parameters: Vec<(&'static str, f64)>,
    effective_sample_size: f64,
    max_weight_share: f64,
    pareto_k: Option<f64>,
    reliable: bool,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct FailureJson {
    draw: u64,
    therapy: String,
    message: String,
}

/// Individualises the model on the patient of `request_json` ([`WidgetRequest`]) and forecasts
/// every therapy over the same posterior draws, as JSON (schema [`FORECAST_SCHEMA`]):
///
/// - `time` (model time unit, from 0 so the recorded past shows too), `origin`;
/// - per therapy and output the mean and the 5, 25, 50, 75 and 95 % quantiles over draws per
///   time (DDSketch, relative accuracy 10⁻³);
/// - per therapy and outcome: for events the probability `k/n` with its Wilson 95 % interval
///   and the Kaplan–Meier median time; for values the mean and quantiles; against the first
///   therapy the paired difference (per draw) with `P(greater)` and `P(less)`, e.g.
///   `P(nadir under B > nadir under A)`;
/// - the observations that calibrated the twin; the MAP η, Laplace covariance and
///   importance-sampling diagnostics; draws that failed.
///
/// Deterministic: the same request gives the same bytes, natively and in WebAssembly.
///
/// # Errors
/// [`WidgetError::Request`] for JSON that is not a [`WidgetRequest`]; [`WidgetError::Invalid`]
/// for fewer than one or more than four therapies, an empty or repeated therapy name, more
/// than [`MAX_DRAWS`] draws, an unknown subject or an empty CSV; [`WidgetError::Catalogue`] for
/// an unknown model; [`WidgetError::Engine`] for everything `twin forecast` rejects (the CSV's
/// file and line, a regimen's word, a covariate out of range) and for failed runs.
pub fn forecast_json(request_json: &str) -> Result<String, WidgetError> {
    let request: WidgetRequest = serde_json::from_str(request_json)?;
    let model = twin_models::find(&request.model)?;
    let model: &dyn Model = model.as_ref();
    let spec = model.spec();
    if !(1..=4).contains(&request.therapies.len()) {
        return Err(WidgetError::Invalid(format!(
            "give one to four therapies, got {}",
            request.therapies.len()
        )));
    }
    if !(1..=MAX_DRAWS).contains(&request.draws) {
        return Err(WidgetError::Invalid(format!(
            "draws: {} is not between 1 and {MAX_DRAWS}",
            request.draws
        )));
    }
    let source = request.source.as_str();
    let dataset = parse_dataset(source, &request.patient_csv)?;
    let subject_idx = dataset
        .subject_index(request.id.as_deref())
        .map_err(WidgetError::Invalid)?;
    let subject_id = &dataset.subjects[subject_idx].id;

    let (therapies, therapy_texts) = parse_therapies(&request.therapies, spec)?;
    let duration = |text: &Option<String>| -> Result<Option<f64>, WidgetError> {
        Ok(text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| parse_duration(t, spec.time_unit))
            .transpose()?)
    };
    let mut engine_request = ForecastRequest::new(therapies);
    engine_request.origin = duration(&request.from)?;
    engine_request.horizon = duration(&request.until)?;
    engine_request.every = duration(&request.every)?;
    engine_request.draws = request.draws;
    engine_request.seed = request.seed;
    let result = forecast(model, &dataset, subject_idx, &engine_request)?;
    Ok(to_json(&forecast_response(
        spec,
        &request,
        subject_id,
        &therapy_texts,
        &result,
    )))
}

/// The therapies of a request as arms, and the regimen text of each (a built-in therapy name
/// replaced by its regimen), as `twin forecast --therapy NAME=REGIMEN` reads them.
fn parse_therapies(
    requested: &[TherapyRequest],
    spec: &ModelSpec,
) -> Result<(Vec<Arm>, Vec<String>), WidgetError> {
    let mut arms: Vec<Arm> = Vec::new();
    let mut texts = Vec::new();
    for (i, therapy) in requested.iter().enumerate() {
        let name = therapy.name.trim();
        if name.is_empty() {
            return Err(WidgetError::Invalid(format!(
                "therapy {}: give it a name",
                i + 1
            )));
        }
        if arms.iter().any(|a| a.name == name) {
            return Err(WidgetError::Invalid(format!(
                "therapy {}: the name '{name}' is used twice",
                i + 1
            )));
        }
        let text = spec.regimen_text(therapy.regimen.trim());
        arms.push(Arm {
            name: name.to_owned(),
            regimen: Regimen::parse(text, spec)?,
            rules: Vec::new(),
        });
        texts.push(text.to_owned());
    }
    Ok((arms, texts))
}

fn forecast_response(
    spec: &ModelSpec,
    request: &WidgetRequest,
    patient: &str,
    therapy_texts: &[String],
    result: &Forecast,
) -> ForecastJson {
    let summary = &result.summary;
    let times = &summary.output_times;
    let reference = summary.arms.first().map(|a| a.name.clone());
    let therapies = summary
        .arms
        .iter()
        .zip(therapy_texts)
        .map(|(arm, text)| TherapyJson {
            name: arm.name.clone(),
            regimen: text.clone(),
            n_ok: arm.n_ok,
            n_failed: arm.n_failed,
            outputs: spec
                .outputs
                .iter()
                .zip(&arm.outputs)
                .map(|(output, per_time)| {
                    let band = |q: f64| -> Vec<f64> {
                        per_time
                            .iter()
                            .map(|s| s.quantile(q).unwrap_or(f64::NAN))
                            .collect()
                    };
                    BandJson {
                        name: output.name,
                        unit: output.unit,
                        mean: per_time.iter().map(RunningSummary::mean).collect(),
                        p05: band(0.05),
                        p25: band(0.25),
                        p50: band(0.5),
                        p75: band(0.75),
                        p95: band(0.95),
                    }
                })
                .collect(),
            outcomes: spec
                .outcomes
                .iter()
                .enumerate()
                .map(|(k, outcome)| OutcomeJson {
                    paired: arm
                        .paired
                        .get(k)
                        .zip(reference.as_ref())
                        .map(|(p, r)| paired_json(p, r, outcome.kind)),
                    ..outcome_json(outcome, &arm.outcomes[k], times)
                })
                .collect(),
        })
        .collect();
    let (map, sample) = (&result.map, &result.sample);
    ForecastJson {
        schema: FORECAST_SCHEMA,
        model: ModelIdentity {
            id: spec.id,
            version: spec.version,
            hash: spec.content_hash(),
        },
        patient: patient.to_owned(),
        source: request.source.clone(),
        time_unit: spec.time_unit.symbol(),
        origin: result.origin,
        draws: sample.n_draws,
        seed: request.seed,
        rng: RNG_ALGORITHM,
        quantile_method: "DDSketch log-bucket sketch, lower empirical quantile (rank \
                          floor(q*(n-1))), relative accuracy 0.001",
        time: times.clone(),
        observations: result
            .observations
            .iter()
            .map(|o| ObservationJson {
                output: spec.outputs[o.output].name,
                output_index: o.output,
                line: o.line,
                time: o.time,
                value: o.value,
                below_limit: match o.censoring {
                    Censoring::Observed => None,
                    Censoring::BelowLimit { limit } => Some(limit),
                },
            })
            .collect(),
        therapies,
        posterior: PosteriorJson {
            eta_names: spec
                .variability
                .random_effects
                .iter()
                .map(|e| format!("eta_{}", spec.parameters[e.parameter].name))
                .collect(),
            map_eta: map.eta.clone(),
            laplace_covariance: map.covariance.clone(),
            objective: map.objective,
            n_observations: map.n_observations,
            n_distinct_optima: map.n_distinct_optima,
            map_individual_parameters: spec
                .parameters
                .iter()
                .zip(&result.map_parameters)
                .map(|(p, v)| (p.name, *v))
                .collect(),
            effective_sample_size: sample.diagnostics.effective_sample_size,
            max_weight_share: sample.diagnostics.max_weight_share,
            pareto_k: sample.diagnostics.pareto_k,
            reliable: sample.diagnostics.is_reliable(),
            notes: map.notes.iter().chain(&sample.notes).cloned().collect(),
        },
        failures: summary
            .failures
            .iter()
            .map(|f| FailureJson {
                draw: f.patient,
                therapy: f.arm.clone(),
                message: f.message.clone(),
            })
            .collect(),
    }
}

fn outcome_json(
    outcome: &twin_engine::model::OutcomeSpec,
    tally: &OutcomeTally,
    times: &[f64],
) -> OutcomeJson {
    let is_event = outcome.kind == OutcomeKind::TimeToEvent;
    OutcomeJson {
        name: outcome.name,
        kind: outcome_kind(outcome.kind),
        unit: outcome.unit,
        description: outcome.description,
        n: tally.n,
        n_observed: tally.n_observed,
        probability: is_event.then(|| share(tally.n_observed, tally.n)),
        ci95: is_event.then(|| wilson_95(tally.n_observed, tally.n)),
        km_median: if is_event {
            tally.km_median(times)
        } else {
            None
        },
        mean: tally.values.mean(),
        quantiles: Quantiles::of(&tally.values),
        paired: None,
    }
}

fn paired_json(paired: &PairedOutcome, reference: &str, kind: OutcomeKind) -> PairedJson {
    PairedJson {
        reference: reference.to_owned(),
        measure: match kind {
            OutcomeKind::Value => "value difference",
            OutcomeKind::TimeToEvent => "event-indicator difference (risk difference)",
        },
        n_pairs: paired.n_pairs,
        mean_difference: paired.difference.mean(),
        difference: Quantiles::of(&paired.difference),
        p_greater: share(paired.n_greater, paired.n_pairs),
        p_less: share(paired.n_less, paired.n_pairs),
    }
}

/// Compact JSON of plain data (strings, numbers, arrays, structs; non-finite numbers as `null`).
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .expect("the widget's JSON holds only strings, numbers, arrays and structs")
}
