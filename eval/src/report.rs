//! The versioned re-validation report: what went in (with SHA-256 hashes), what came out, and
//! whether the candidate version passes the plan's acceptance criteria (docs/domain.md §6).
//!
//! [`prepare`] checks everything against the plan, the data and the models before any
//! computation; [`evaluate`] forecasts every patient with each version (same random streams, see
//! [`crate::protocol`]), computes the metrics, comparisons and drift statistics
//! and decides the verdict. [`Report::to_json`] writes `report.json`;
//! [`crate::html::render`] writes `report.html` from the same [`Report`].
//!
//! # Determinism and identity
//!
//! The report is a pure function of its inputs: the plan, the cohort files, the model versions,
//! the previous report and the program identity. Nothing time-dependent is inside; paths are
//! recorded as written in the plan. `report.json` is the [`Report`] serialised with sorted keys
//! (every object goes through `serde_json::Value`, whose maps are ordered) and two-space
//! indentation, ending in a newline. `body_sha256` is the SHA-256 of the compact serialisation
//! (`serde_json::to_vec`, sorted keys, numbers in Rust's shortest round-trip form) of `body`;
//! [`Report::verify`] recomputes it from a parsed report.
//!
//! # Versions
//!
//! A model version is identified by its content hash ([`ModelSpec::content_hash`]), not its
//! name; the report also records a structure hash and a parameter-set hash (below), so a refitted
//! version (same structure, new parameters) is recognisable as such. The plan names versions by
//! reference (`pheno@2`); the caller resolves references, so a fitted version loaded from a file
//! slots in without changes here. `supersedes` links the previous report by path and SHA-256 of
//! its bytes, and the change log lists what changed since it ([`crate::diff`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use twin_engine::model::{Model, ModelSpec, sha256_hex};
use twin_engine::montecarlo::{Arm, Crossing, ThresholdEvent};
use twin_engine::nmcsv::parse_dataset;
use twin_engine::posterior::MapOptions;
use twin_engine::records::Dataset;
use twin_engine::regimen::{Regimen, parse_duration};
use twin_engine::solver::SolverOptions;

use crate::analysis;
use crate::compare::DistributionSummary;
use crate::error::EvalError;
use crate::plan::{Criterion, EstimandSpec, QuestionSpec, ValidationPlan};
use crate::protocol::{
    Conditioning, DecisionSettings, ForecastSettings, RiskMeasure, SplitCohort, check_readable,
    forecast_cohort, header_columns, split_cohort,
};

/// Schema identifier of `report.json`.
pub const REPORT_SCHEMA: &str = "twinsim-eval-report/1";

/// Role names of the versions, as keys of [`ReportBody::results`].
pub const CANDIDATE: &str = "candidate";
/// Role of the version the candidate replaces.
pub const PREVIOUS: &str = "previous";

/// A file that went into the report: its path as written in the plan and its bytes.
#[derive(Debug, Clone, Copy)]
pub struct InputFile<'a> {
    /// Path as written in the plan (or on the command line for the plan itself).
    pub path: &'a str,
    /// The file's bytes.
    pub bytes: &'a [u8],
}

/// The program that wrote the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramInfo {
    /// Program name, e.g. `twin`.
    pub name: String,
    /// Program version.
    pub version: String,
    /// Source commit, when the build recorded one.
    pub commit: Option<String>,
    /// The command that produced the report (without the output directory, which does not
    /// change the results).
    pub command: String,
}

/// Everything an evaluation reads.
#[derive(Clone, Copy)]
pub struct EvaluationInputs<'a> {
    /// The parsed plan.
    pub plan: &'a ValidationPlan,
    /// The plan file.
    pub plan_file: InputFile<'a>,
    /// The evaluation cohort (NONMEM-style CSV).
    pub evaluation: InputFile<'a>,
    /// The training cohort, when the plan names one.
    pub training: Option<InputFile<'a>>,
    /// The previous report, when the plan names one.
    pub previous_report: Option<InputFile<'a>>,
    /// The candidate version, resolved from `plan.models.candidate`.
    pub candidate: &'a dyn Model,
    /// The previous version, resolved from `plan.models.previous`.
    pub previous: Option<&'a dyn Model>,
    /// Who writes the report.
    pub program: &'a ProgramInfo,
}

impl std::fmt::Debug for EvaluationInputs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvaluationInputs")
            .field("plan", &self.plan.id)
            .field("evaluation", &self.evaluation.path)
            .finish_non_exhaustive()
    }
}

/// A time-to-event endpoint in model time units.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EventSettings {
    pub(crate) name: String,
    pub(crate) crossing: Crossing,
    pub(crate) threshold: f64,
    /// Times after the origin, strictly increasing.
    pub(crate) brier_times: Vec<f64>,
}

impl EventSettings {
    /// Whether a value is an event.
    pub(crate) fn is_event(&self, value: f64) -> bool {
        match self.crossing {
            Crossing::Below => value < self.threshold,
            Crossing::Above => value > self.threshold,
        }
    }
}

/// A plan checked against its data and models, ready to run.
#[derive(Debug)]
pub struct Prepared<'a> {
    pub(crate) inputs: EvaluationInputs<'a>,
    pub(crate) criteria: Vec<Criterion>,
    pub(crate) dataset: Dataset,
    pub(crate) training: Option<Dataset>,
    pub(crate) split: SplitCohort,
    pub(crate) settings: ForecastSettings,
    /// Per version (candidate first), the decision with regimens parsed for that model.
    pub(crate) decisions: Vec<Option<DecisionSettings>>,
    pub(crate) event: Option<EventSettings>,
    /// Subgroup name → membership per subject (baseline covariate).
    pub(crate) subgroups: Vec<(String, String, Vec<bool>)>,
    pub(crate) drift_covariates: Vec<String>,
    pub(crate) supersedes: Option<Supersedes>,
    pub(crate) superseded: Option<Report>,
}

impl Prepared<'_> {
    /// Number of subjects that will be forecast (not excluded by the protocol).
    #[must_use]
    pub fn n_to_forecast(&self) -> usize {
        self.split
            .subjects
            .iter()
            .filter(|s| s.exclusion.is_none())
            .count()
    }

    /// Number of subjects in the evaluation cohort.
    #[must_use]
    pub fn n_subjects(&self) -> usize {
        self.dataset.subjects.len()
    }
}

fn input_error(file: &str, message: impl Into<String>) -> EvalError {
    EvalError::Input {
        file: file.to_owned(),
        message: message.into(),
    }
}

fn plan_error(plan_file: &str, field: &str, message: impl Into<String>) -> EvalError {
    EvalError::PlanField {
        source_name: plan_file.to_owned(),
        field: field.to_owned(),
        message: message.into(),
    }
}

/// Reads a NONMEM-style cohort after checking its required columns.
fn read_cohort(file: InputFile<'_>, required: &[&str]) -> Result<Dataset, EvalError> {
    let text = std::str::from_utf8(file.bytes)
        .map_err(|e| input_error(file.path, format!("is not UTF-8 text: {e}")))?;
    let columns = header_columns(text);
    for name in required {
        if !columns.iter().any(|c| c == name) {
            return Err(input_error(
                file.path,
                format!(
                    "has no column {name}; the evaluation needs {} (found: {})",
                    required.join(", "),
                    columns.join(", ")
                ),
            ));
        }
    }
    Ok(parse_dataset(file.path, text)?)
}

/// `NAME=REGIMEN` with REGIMEN a regimen text or a built-in therapy of the model.
fn parse_therapy(text: &str, spec: &ModelSpec) -> Result<Arm, String> {
    let (name, regimen_text) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not NAME=REGIMEN"))?;
    let regimen_text = regimen_text.trim();
    let builtin = spec
        .therapies
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(regimen_text))
        .map_or(regimen_text, |t| t.regimen);
    let regimen = Regimen::parse(builtin, spec).map_err(|e| e.to_string())?;
    Ok(Arm {
        name: name.trim().to_owned(),
        regimen,
        rules: Vec::new(),
    })
}

/// Checks the plan against the data, the models and the previous report, before any computation.
///
/// # Errors
/// Bad input ([`EvalError::is_bad_input`]): a cohort without a required column (`ID`, `TIME`,
/// `DV` for the evaluation cohort), an output, outcome, covariate or therapy the models lack,
/// versions with different time units, an unreadable previous report, a protocol that leaves
/// fewer than two patients to forecast; every message names the file or plan field.
pub fn prepare<'a>(inputs: EvaluationInputs<'a>) -> Result<Prepared<'a>, EvalError> {
    let plan = inputs.plan;
    let plan_path = inputs.plan_file.path;
    let criteria = plan.criteria_checked(plan_path)?;
    let candidate_spec = inputs.candidate.spec();
    let versions: Vec<(&str, &dyn Model)> = std::iter::once((CANDIDATE, inputs.candidate))
        .chain(inputs.previous.map(|m| (PREVIOUS, m)))
        .collect();
    if plan.models.previous.is_some() != inputs.previous.is_some() {
        return Err(plan_error(
            plan_path,
            "models.previous",
            "the previous version was named but not given (or the reverse)",
        ));
    }
    let time_unit = candidate_spec.time_unit;
    for (role, model) in &versions {
        let spec = model.spec();
        if spec.time_unit != time_unit {
            return Err(plan_error(
                plan_path,
                &format!("models.{role}"),
                format!(
                    "{}@{} counts time in {}, the candidate in {}; versions must share a time unit",
                    spec.id,
                    spec.version,
                    spec.time_unit.symbol(),
                    time_unit.symbol()
                ),
            ));
        }
    }
    let output_name = &plan.protocol.output;
    let output = candidate_spec.output_index(output_name).ok_or_else(|| {
        plan_error(
            plan_path,
            "protocol.output",
            format!(
                "model {}@{} has no output '{output_name}'; outputs: {}",
                candidate_spec.id,
                candidate_spec.version,
                candidate_spec
                    .outputs
                    .iter()
                    .map(|o| o.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    for (role, model) in &versions {
        if model.spec().output_index(output_name) != Some(output) {
            return Err(plan_error(
                plan_path,
                &format!("models.{role}"),
                format!(
                    "output '{output_name}' is not output {} of this version",
                    output + 1
                ),
            ));
        }
        if model.spec().variability.residual.get(output).is_none() {
            return Err(plan_error(
                plan_path,
                &format!("models.{role}"),
                format!("declares no residual error for output '{output_name}'"),
            ));
        }
    }

    let dataset = read_cohort(inputs.evaluation, &["ID", "TIME", "DV"])?;
    if dataset
        .subjects
        .iter()
        .all(|s| s.records.iter().all(|r| r.dv.is_none()))
    {
        return Err(input_error(
            inputs.evaluation.path,
            "has no observation (a row with EVID 0, MDV 0 and a DV)",
        ));
    }
    for (_, model) in &versions {
        check_readable(*model, &dataset)?;
    }
    let duration = |field: &str, text: &str| {
        parse_duration(text, time_unit).map_err(|e| plan_error(plan_path, field, e.to_string()))
    };
    let conditioning = match (plan.protocol.condition_on_first, &plan.protocol.origin) {
        (Some(k), _) => Conditioning::FirstObservations(k),
        (None, Some(origin)) => Conditioning::Until(duration("protocol.origin", origin)?),
        (None, None) => unreachable!("the plan check requires one of them"),
    };
    let split = split_cohort(&dataset, conditioning);
    let n_to_forecast = split
        .subjects
        .iter()
        .filter(|s| s.exclusion.is_none())
        .count();
    if n_to_forecast < 2 {
        return Err(input_error(
            inputs.evaluation.path,
            format!(
                "the protocol leaves {n_to_forecast} of {} subjects with observations to \
                 forecast; at least 2 are needed",
                dataset.subjects.len()
            ),
        ));
    }

    let event = match &plan.protocol.event {
        None => None,
        Some(spec) => {
            let mut brier_times = Vec::with_capacity(spec.brier_times.len());
            for (idx, text) in spec.brier_times.iter().enumerate() {
                let t = duration(&format!("protocol.event.brier_times[{idx}]"), text)?;
                if t <= 0.0 || brier_times.last().is_some_and(|&last| t <= last) {
                    return Err(plan_error(
                        plan_path,
                        &format!("protocol.event.brier_times[{idx}]"),
                        "times must be positive and increase strictly",
                    ));
                }
                brier_times.push(t);
            }
            let (crossing, threshold) = match (spec.below, spec.above) {
                (Some(v), _) => (Crossing::Below, v),
                (None, Some(v)) => (Crossing::Above, v),
                (None, None) => unreachable!("the plan check requires one threshold"),
            };
            Some(EventSettings {
                name: spec.name.clone(),
                crossing,
                threshold,
                brier_times,
            })
        }
    };

    let mut decisions = Vec::with_capacity(versions.len());
    for (role, model) in &versions {
        let Some(spec) = &plan.decision else {
            decisions.push(None);
            continue;
        };
        let model_spec = model.spec();
        let mut therapies = Vec::with_capacity(spec.therapies.len());
        for (idx, text) in spec.therapies.iter().enumerate() {
            therapies.push(parse_therapy(text, model_spec).map_err(|m| {
                plan_error(
                    plan_path,
                    &format!("decision.therapies[{idx}]"),
                    format!(
                        "{m} (model {role} {}@{})",
                        model_spec.id, model_spec.version
                    ),
                )
            })?);
        }
        let risk = match (&spec.outcome, &spec.event) {
            (Some(name), _) => {
                let idx = model_spec
                    .outcomes
                    .iter()
                    .position(|o| o.name.eq_ignore_ascii_case(name))
                    .ok_or_else(|| {
                        plan_error(
                            plan_path,
                            "decision.outcome",
                            format!(
                                "model {}@{} has no outcome '{name}'; outcomes: {}",
                                model_spec.id,
                                model_spec.version,
                                model_spec
                                    .outcomes
                                    .iter()
                                    .map(|o| o.name)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    })?;
                RiskMeasure::Outcome(idx)
            }
            (None, Some(threshold)) => {
                let output = model_spec.output_index(&threshold.output).ok_or_else(|| {
                    plan_error(
                        plan_path,
                        "decision.event.output",
                        format!(
                            "model {}@{} has no output '{}'",
                            model_spec.id, model_spec.version, threshold.output
                        ),
                    )
                })?;
                let (crossing, value) = match (threshold.below, threshold.above) {
                    (Some(v), _) => (Crossing::Below, v),
                    (None, Some(v)) => (Crossing::Above, v),
                    (None, None) => unreachable!("the plan check requires one threshold"),
                };
                RiskMeasure::Event(ThresholdEvent {
                    name: format!(
                        "{} {} {value}",
                        threshold.output,
                        if crossing == Crossing::Below {
                            "<"
                        } else {
                            ">"
                        }
                    ),
                    output,
                    crossing,
                    threshold: value,
                })
            }
            (None, None) => unreachable!("the plan check requires outcome or event"),
        };
        let horizon = duration("decision.horizon", &spec.horizon)?;
        let every = duration("decision.every", &spec.every)?;
        if !(horizon > 0.0 && every > 0.0 && horizon / every <= 100_000.0) {
            return Err(plan_error(
                plan_path,
                "decision",
                "horizon and every must be positive, with at most 100000 steps",
            ));
        }
        decisions.push(Some(DecisionSettings {
            therapies,
            horizon,
            every,
            risk,
        }));
    }

    let mut subgroups = Vec::with_capacity(plan.subgroups.len());
    for (idx, subgroup) in plan.subgroups.iter().enumerate() {
        let column = dataset
            .covariate_index(&subgroup.covariate)
            .ok_or_else(|| {
                plan_error(
                    plan_path,
                    &format!("subgroups[{idx}].covariate"),
                    format!(
                        "{} has no column {}; covariate columns: {}",
                        inputs.evaluation.path,
                        subgroup.covariate,
                        dataset.covariate_names.join(", ")
                    ),
                )
            })?;
        let members = dataset
            .subjects
            .iter()
            .map(|s| {
                s.records
                    .first()
                    .is_some_and(|r| subgroup.contains(r.covariates[column]))
            })
            .collect();
        subgroups.push((subgroup.name.clone(), subgroup.condition(), members));
    }

    let training = match (&plan.data.training, inputs.training) {
        (None, None) => None,
        (Some(_), Some(file)) => Some(read_cohort(file, &["ID", "TIME"])?),
        _ => {
            return Err(plan_error(
                plan_path,
                "data.training",
                "the training cohort was named but not given (or the reverse)",
            ));
        }
    };
    let drift_covariates: Vec<String> = match &plan.drift.covariates {
        Some(names) => names.clone(),
        None => candidate_spec
            .covariates
            .iter()
            .map(|c| c.name.to_owned())
            .collect(),
    };
    if let Some(training) = &training {
        for (idx, name) in drift_covariates.iter().enumerate() {
            for (file, data) in [
                (inputs.evaluation.path, &dataset),
                (inputs.training.map_or("", |f| f.path), training),
            ] {
                if data.covariate_index(name).is_none() {
                    return Err(plan_error(
                        plan_path,
                        &format!("drift.covariates[{idx}]"),
                        format!("{file} has no column {name}"),
                    ));
                }
            }
        }
    }

    let (supersedes, superseded) = match (&plan.models.supersedes, inputs.previous_report) {
        (None, None) => (None, None),
        (Some(_), Some(file)) => {
            let text = std::str::from_utf8(file.bytes)
                .map_err(|e| input_error(file.path, format!("is not UTF-8 text: {e}")))?;
            let previous = Report::from_json(file.path, text)?;
            (
                Some(Supersedes {
                    path: file.path.to_owned(),
                    sha256: sha256_hex(file.bytes),
                    report_id: previous.body.identity.report_id.clone(),
                    verdict: previous.body.verdict.status.clone(),
                }),
                Some(previous),
            )
        }
        _ => {
            return Err(plan_error(
                plan_path,
                "models.supersedes",
                "the previous report was named but not given (or the reverse)",
            ));
        }
    };

    let settings = ForecastSettings {
        output,
        n_draws: plan.protocol.draws,
        proposals_per_draw: plan.protocol.proposals_per_draw,
        seed: plan.protocol.seed,
        map: MapOptions {
            n_design_starts: plan
                .protocol
                .map_starts
                .unwrap_or(MapOptions::default().n_design_starts),
            ..MapOptions::default()
        },
        solver: SolverOptions::default(),
    };
    Ok(Prepared {
        inputs,
        criteria,
        dataset,
        training,
        split,
        settings,
        decisions,
        event,
        subgroups,
        drift_covariates,
        supersedes,
        superseded,
    })
}

/// Runs the evaluation: forecasts with every version, metrics, comparison, drift, verdict.
///
/// # Errors
/// [`EvalError::Engine`] if a model's population cannot be built; [`EvalError::Run`] if fewer
/// than two patients could be forecast by every version; [`EvalError::Metric`] for a statistic
/// that cannot be computed on the whole cohort.
pub fn evaluate(prepared: &Prepared<'_>) -> Result<Report, EvalError> {
    let inputs = &prepared.inputs;
    let mut runs = Vec::new();
    let versions: Vec<(&str, &dyn Model)> = std::iter::once((CANDIDATE, inputs.candidate))
        .chain(inputs.previous.map(|m| (PREVIOUS, m)))
        .collect();
    for ((role, model), decision) in versions.iter().zip(&prepared.decisions) {
        let results = forecast_cohort(
            *model,
            &prepared.dataset,
            &prepared.split,
            &prepared.settings,
            decision.as_ref(),
        )?;
        runs.push(analysis::VersionRun { role, results });
    }
    analysis::build_report(prepared, &runs)
}

// ---------------------------------------------------------------------------------------------
// The report.

/// `report.json`: schema, the hash of the body, and the body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// [`REPORT_SCHEMA`].
    pub schema: String,
    /// SHA-256 of the compact canonical JSON of `body` (see the [module documentation](self)).
    pub body_sha256: String,
    /// Everything else.
    pub body: ReportBody,
}

/// The report body, one field per section of docs/domain.md §6.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// §6.1 identity.
    pub identity: Identity,
    /// The verdict against the plan's criteria (§6.8, §6.13).
    pub verdict: Verdict,
    /// §6.2 question of interest and context of use.
    pub question: QuestionSpec,
    /// §6.3 model risk.
    pub risk: RiskAssessment,
    /// §6.4 the model versions.
    pub models: Vec<ModelIdentity>,
    /// §6.4 the program.
    pub program: ProgramIdentity,
    /// §6.5 data provenance.
    pub data: DataProvenance,
    /// §6.6 the validation plan.
    pub plan: PlanRecord,
    /// §6.7 verification settings and checks.
    pub verification: Verification,
    /// How the protocol went: patients forecast, excluded, failed; posterior diagnostics.
    pub protocol: ProtocolRecord,
    /// §6.8 results per version role (`candidate`, `previous`).
    pub results: BTreeMap<String, VersionResults>,
    /// §6.8 every acceptance criterion with its decision.
    pub criteria: Vec<CriterionResult>,
    /// §6.9 comparison with the previous version.
    pub comparison: Option<Comparison>,
    /// §6.10 input drift of the evaluation cohort against the training cohort.
    pub cohort_drift: Option<CohortDrift>,
    /// §6.11 change log.
    pub change_log: ChangeLog,
    /// §6.12 reproducibility.
    pub reproducibility: Reproducibility,
    /// §6.13 limitations (the plan's, then the harness's own).
    pub limitations: Vec<String>,
    /// §6.14 estimand of any treatment-effect claim.
    pub estimand: Option<EstimandSpec>,
    /// §6.13 space for reviewer sign-off (always empty when written).
    pub sign_off: SignOff,
}

/// Report identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// `PLAN_ID:CANDIDATE`, e.g. `pheno-saem-refit:pheno@2`.
    pub report_id: String,
    /// The plan's title.
    pub title: String,
    /// The previous report, if any.
    pub supersedes: Option<Supersedes>,
}

/// A link to the report this one supersedes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Supersedes {
    /// Path as written in the plan.
    pub path: String,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// Its report id.
    pub report_id: String,
    /// Its verdict.
    pub verdict: String,
}

/// PASS or FAIL, with the failed criteria named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// `PASS` when every criterion passes, otherwise `FAIL`.
    pub status: String,
    /// Names of the criteria that failed or could not be evaluated.
    pub failed_criteria: Vec<String>,
    /// Number of criteria evaluated.
    pub n_criteria: usize,
    /// One sentence.
    pub summary: String,
}

impl Verdict {
    /// Whether the verdict is PASS.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.status == "PASS"
    }
}

/// Model risk (ASME V&V 40).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskAssessment {
    /// Model influence.
    pub model_influence: String,
    /// Decision consequence.
    pub decision_consequence: String,
    /// Risk level 1 (lowest) to 5.
    pub level: u8,
    /// How the level follows from the two inputs.
    pub method: String,
    /// The plan's rationale.
    pub rationale: String,
}

/// One model version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelIdentity {
    /// `candidate` or `previous`.
    pub role: String,
    /// Reference as written in the plan.
    pub reference: String,
    /// Model id.
    pub id: String,
    /// Version label.
    pub version: String,
    /// One-line description.
    pub description: String,
    /// Evidence level.
    pub evidence: String,
    /// Time unit of the model.
    pub time_unit: String,
    /// [`ModelSpec::content_hash`]: structure, parameters, variability, therapies, documentation.
    pub content_sha256: String,
    /// SHA-256 of the compact JSON of (time unit, states, covariates, outputs, dose modifiers,
    /// default dose compartment, outcomes).
    pub structure_sha256: String,
    /// SHA-256 of the compact JSON of (parameters, variability): the parameter set.
    pub parameter_set_sha256: String,
}

impl ModelIdentity {
    /// The identity of `model` in `role`, referenced as `reference`.
    #[must_use]
    pub fn of(role: &str, reference: &str, model: &dyn Model) -> Self {
        let spec = model.spec();
        let hash = |value: serde_json::Value| {
            sha256_hex(&serde_json::to_vec(&value).expect("plain data serialises"))
        };
        Self {
            role: role.to_owned(),
            reference: reference.to_owned(),
            id: spec.id.to_owned(),
            version: spec.version.to_owned(),
            description: spec.description.to_owned(),
            evidence: spec.evidence.to_owned(),
            time_unit: spec.time_unit.symbol().to_owned(),
            content_sha256: spec.content_hash(),
            structure_sha256: hash(serde_json::json!([
                spec.time_unit,
                spec.states,
                spec.covariates,
                spec.outputs,
                spec.dosing,
                spec.default_dose_compartment,
                spec.outcomes
            ])),
            parameter_set_sha256: hash(serde_json::json!([spec.parameters, spec.variability])),
        }
    }
}

/// The program that wrote the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramIdentity {
    /// Program name.
    pub name: String,
    /// Program version.
    pub version: String,
    /// Source commit, if recorded at build time.
    pub commit: Option<String>,
    /// Version of the twin-eval crate.
    pub eval_version: String,
}

/// Provenance of the cohorts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataProvenance {
    /// The evaluation cohort.
    pub evaluation: DataFile,
    /// The training cohort, if named.
    pub training: Option<DataFile>,
    /// The plan's statement on independence.
    pub independence: String,
}

/// One cohort file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataFile {
    /// Path as written in the plan.
    pub path: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Provenance as stated in the plan.
    pub provenance: String,
    /// Subjects.
    pub n_subjects: usize,
    /// Records.
    pub n_records: usize,
    /// Observation records (DV with MDV 0).
    pub n_observations: usize,
}

impl DataFile {
    pub(crate) fn of(file: InputFile<'_>, provenance: &str, dataset: &Dataset) -> Self {
        Self {
            path: file.path.to_owned(),
            sha256: sha256_hex(file.bytes),
            provenance: provenance.to_owned(),
            n_subjects: dataset.subjects.len(),
            n_records: dataset.subjects.iter().map(|s| s.records.len()).sum(),
            n_observations: dataset
                .subjects
                .iter()
                .flat_map(|s| &s.records)
                .filter(|r| r.dv.is_some())
                .count(),
        }
    }
}

/// The plan as evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRecord {
    /// Path as given.
    pub path: String,
    /// SHA-256 of the plan file's bytes.
    pub sha256: String,
    /// When the plan was fixed (as stated in it).
    pub fixed_on: String,
    /// The parsed plan.
    pub content: ValidationPlan,
}

/// Numerical settings and the checks that stand behind them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verification {
    /// ODE solver relative tolerance.
    pub solver_rtol: f64,
    /// ODE solver absolute tolerance.
    pub solver_atol: f64,
    /// MAP design starts besides η = 0.
    pub map_design_starts: usize,
    /// Importance proposals per patient.
    pub importance_proposals: usize,
    /// What the test suite checks, in words (with where).
    pub checks: Vec<String>,
}

/// One excluded or failed patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientNote {
    /// Subject identifier.
    pub id: String,
    /// The version concerned, for failures.
    pub version: Option<String>,
    /// Why.
    pub reason: String,
}

/// Posterior diagnostics of one version over the forecast patients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PosteriorDiagnostics {
    /// Patients whose Pareto k̂ exceeds its threshold.
    pub n_unreliable: usize,
    /// Effective sample size of the importance weights over patients.
    pub effective_sample_size: Option<DistributionSummary>,
}

/// How the forecast protocol went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolRecord {
    /// The conditioning rule in words.
    pub conditioning: String,
    /// Scored output.
    pub output: String,
    /// Its unit.
    pub output_unit: String,
    /// Model time unit.
    pub time_unit: String,
    /// Posterior-predictive draws per patient.
    pub draws: usize,
    /// Subjects in the cohort.
    pub n_subjects: usize,
    /// Patients forecast by every version (the analysis set).
    pub n_analysed: usize,
    /// Scored held-out observations in the analysis set.
    pub n_held_out: usize,
    /// Held-out observations below the limit of quantification (not scored).
    pub n_censored_held_out: usize,
    /// Subjects excluded by the protocol.
    pub excluded: Vec<PatientNote>,
    /// Subjects whose forecast failed (excluded from the analysis set).
    pub failed: Vec<PatientNote>,
    /// Posterior diagnostics per version role.
    pub posterior: BTreeMap<String, PosteriorDiagnostics>,
}

/// A metric value with its patient-level bootstrap 95 % CI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricValue {
    /// The estimate; `None` when it cannot be computed (see `note`).
    pub value: Option<f64>,
    /// Percentile bootstrap 95 % CI over patients.
    pub ci95: Option<[f64; 2]>,
    /// Why a value or CI is missing.
    pub note: Option<String>,
}

/// Metrics of one version in one subgroup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubgroupResult {
    /// The condition, e.g. `APGR < 5` (`all patients` for the whole cohort).
    pub condition: String,
    /// Patients.
    pub n_patients: usize,
    /// Scored observations.
    pub n_observations: usize,
    /// Metric name → value.
    pub metrics: BTreeMap<String, MetricValue>,
}

/// A pcVPC bin as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcBinRecord {
    /// Earliest time in the bin.
    pub time_first: f64,
    /// Latest time in the bin.
    pub time_last: f64,
    /// Median time in the bin.
    pub time_median: f64,
    /// Observations in the bin.
    pub n_observations: usize,
    /// Observed 5th, 50th, 95th percentiles (prediction-corrected).
    pub observed: [f64; 3],
    /// 2.5 % quantile of each simulated percentile.
    pub simulated_lower: [f64; 3],
    /// Median of each simulated percentile.
    pub simulated_median: [f64; 3],
    /// 97.5 % quantile of each simulated percentile.
    pub simulated_upper: [f64; 3],
}

/// Results of one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionResults {
    /// `all` and each subgroup.
    pub by_subgroup: BTreeMap<String, SubgroupResult>,
    /// Counts of PIT values in 10 equal bins of [0, 1].
    pub pit_histogram: Vec<usize>,
    /// pcVPC bins (empty with a note when PRED is not positive).
    pub vpc: Vec<VpcBinRecord>,
    /// Why the pcVPC is missing, if it is.
    pub vpc_note: Option<String>,
}

/// One acceptance criterion and its decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionResult {
    /// Name.
    pub name: String,
    /// The rule as written.
    pub rule: String,
    /// Subgroup (`all` for the whole cohort).
    pub subgroup: String,
    /// Metric read.
    pub metric: String,
    /// Point estimate.
    pub estimate: Option<f64>,
    /// The interval used or shown.
    pub interval: Option<[f64; 2]>,
    /// What the interval is, e.g. `bootstrap 95 % CI` or `90 % t interval (TOST, alpha 0.05)`.
    pub interval_kind: String,
    /// What the decision reads: `point estimate`, `lower 95 % CI bound`, ….
    pub decided_on: String,
    /// The value compared with the threshold or margins.
    pub decisive_value: Option<f64>,
    /// `pass`, `fail` or `not evaluable`.
    pub status: String,
    /// The decision in words.
    pub explanation: String,
    /// The plan's rationale.
    pub rationale: String,
}

/// A paired per-patient difference, candidate − previous.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairedDifference {
    /// Patients.
    pub n_patients: usize,
    /// Mean difference.
    pub mean: f64,
    /// Percentile bootstrap 95 % CI of the mean.
    pub ci95: Option<[f64; 2]>,
    /// Student t 90 % interval of the mean (the TOST interval at α = 0.05).
    pub ci90_t: [f64; 2],
}

/// One patient's shifts between the versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientComparison {
    /// Subject identifier.
    pub id: String,
    /// Mean shift of the predictive median.
    pub median_shift: f64,
    /// Mean shift of the 90 % interval width.
    pub width_shift: f64,
    /// Difference of the patient's mean CRPS.
    pub crps_diff: f64,
}

/// Drift between the versions' pooled predictive distributions (previous = reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionDrift {
    /// PSI on the previous version's deciles.
    pub psi: f64,
    /// `stable`, `moderate` or `major` by the plan's thresholds.
    pub psi_level: String,
    /// Two-sample KS distance.
    pub ks_d: f64,
    /// Its p-value (draws within a patient are not independent; descriptive).
    pub ks_p: f64,
    /// Wasserstein-1 over the previous version's SD.
    pub wasserstein_normalised: f64,
    /// Per held-out observation: W1 between the two ensembles over the previous ensemble's SD.
    pub per_observation_wasserstein: Option<DistributionSummary>,
}

/// Therapy decisions of both versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionComparison {
    /// Therapy names in order of preference.
    pub therapies: Vec<String>,
    /// The risk compared, in words.
    pub risk: String,
    /// Largest acceptable risk.
    pub max_risk: f64,
    /// Patients whose choice differs.
    pub n_flips: usize,
    /// Patients compared.
    pub n_patients: usize,
    /// Flip rate with its bootstrap CI.
    pub flip_rate: MetricValue,
    /// Per version role, patients per chosen therapy (therapy order).
    pub choices: BTreeMap<String, Vec<usize>>,
    /// Patients whose choice flipped: id, previous therapy, candidate therapy.
    pub flipped: Vec<[String; 3]>,
}

/// Comparison with the previous version (docs/domain.md §6.9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// Subgroup → paired metric → difference.
    pub paired: BTreeMap<String, BTreeMap<String, PairedDifference>>,
    /// Distribution over patients of the median shift.
    pub median_shift: DistributionSummary,
    /// Distribution over patients of the 90 % interval width shift.
    pub width_shift: DistributionSummary,
    /// Per-patient shifts and CRPS differences.
    pub per_patient: Vec<PatientComparison>,
    /// Drift between the versions' predictive distributions.
    pub prediction_drift: PredictionDrift,
    /// Therapy decisions, when the plan has one.
    pub decision: Option<DecisionComparison>,
}

/// Drift of one covariate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CovariateDrift {
    /// Subjects with a value in the training cohort.
    pub n_training: usize,
    /// Subjects with a value in the evaluation cohort.
    pub n_evaluation: usize,
    /// PSI on the training deciles.
    pub psi: Option<f64>,
    /// `stable`, `moderate` or `major`.
    pub psi_level: Option<String>,
    /// Two-sample KS distance.
    pub ks_d: Option<f64>,
    /// KS p-value.
    pub ks_p: Option<f64>,
    /// Wasserstein-1 over the training SD.
    pub wasserstein_normalised: Option<f64>,
    /// Unbiased MMD² (RBF kernel, median bandwidth).
    pub mmd2: Option<f64>,
    /// Its permutation p-value.
    pub mmd_p: Option<f64>,
    /// Whether the covariate drifted by the stated rule.
    pub drifted: bool,
    /// Why a statistic is missing (e.g. a constant column).
    pub note: Option<String>,
}

/// Input drift of the evaluation cohort against the training cohort (docs/domain.md §6.10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortDrift {
    /// Covariate → drift.
    pub covariates: BTreeMap<String, CovariateDrift>,
    /// MMD of all covariates jointly (standardised by the training mean and SD).
    pub joint_mmd2: Option<f64>,
    /// Its permutation p-value.
    pub joint_mmd_p: Option<f64>,
    /// Covariates that drifted.
    pub n_drifted: usize,
    /// Whether the cohort drifted (at least half of the covariates).
    pub dataset_drift: bool,
    /// The rules used, in words (thresholds included).
    pub rules: String,
}

/// What changed (docs/domain.md §6.11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeLog {
    /// The plan's description of the modifications.
    pub description_of_modifications: String,
    /// Differences from the superseded report, one line each.
    pub since_superseded: Vec<String>,
}

/// How to reproduce the report (docs/domain.md §6.12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reproducibility {
    /// Master seed.
    pub seed: u64,
    /// Random number generator.
    pub rng: String,
    /// Which random streams the evaluation uses.
    pub streams: String,
    /// Bootstrap replicates and method.
    pub bootstrap: String,
    /// Threads and shards.
    pub parallelism: String,
    /// Command line.
    pub command: String,
}

/// Space for a reviewer's sign-off; empty when written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignOff {
    /// Reviewer name.
    pub reviewer: Option<String>,
    /// Their decision.
    pub decision: Option<String>,
    /// Date.
    pub date: Option<String>,
}

/// Serialises through `serde_json::Value` so that every object's keys are sorted.
fn canonical_value<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("report types serialise to JSON")
}

impl Report {
    /// Wraps a body: schema and hash.
    #[must_use]
    pub fn new(body: ReportBody) -> Self {
        let body_sha256 = body_hash(&body);
        Self {
            schema: REPORT_SCHEMA.to_owned(),
            body_sha256,
            body,
        }
    }

    /// `report.json`: sorted keys, two-space indentation, a final newline.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(&canonical_value(self)).expect("a JSON value serialises");
        text.push('\n');
        text
    }

    /// Parses a `report.json`; `path` names it in errors.
    ///
    /// # Errors
    /// [`EvalError::Input`] for invalid JSON, another schema or a different shape.
    pub fn from_json(path: &str, text: &str) -> Result<Self, EvalError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| input_error(path, format!("is not JSON: {e}")))?;
        let schema = value.get("schema").and_then(|s| s.as_str()).unwrap_or("");
        if schema != REPORT_SCHEMA {
            return Err(input_error(
                path,
                format!("has schema '{schema}', expected '{REPORT_SCHEMA}'"),
            ));
        }
        serde_json::from_value(value)
            .map_err(|e| input_error(path, format!("is not a twinsim evaluation report: {e}")))
    }

    /// Whether `body_sha256` matches the body.
    #[must_use]
    pub fn verify(&self) -> bool {
        body_hash(&self.body) == self.body_sha256
    }
}

fn body_hash(body: &ReportBody) -> String {
    let compact = serde_json::to_vec(&canonical_value(body)).expect("a JSON value serialises");
    sha256_hex(&compact)
}
