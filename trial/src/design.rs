//! The trial design file (TOML): parsed with serde, then resolved against the models it names and
//! validated, so that every later step works on indices, model time units and parsed regimens.
//!
//! ```toml
//! [trial]
//! name = "AD-PROCOVA"
//! model = "alzheimers@1"          # the model version that generates the truth
//! patients = 400                  # randomised patients in total
//! replicates = 1000
//! alpha = 0.05                    # two-sided
//! seed = 20260105
//! accrual = "52w"                 # optional: entry uniform over [0, accrual]
//! study_end = "130w"              # optional: administrative censoring (calendar, from the first entry)
//! dropout = { probability = 0.15, by = "78w" }   # optional: exponential dropout hazard
//!
//! [cohort]
//! baseline = "baseline.csv"       # optional: covariates resampled from real baseline data
//! [[cohort.inclusion]]
//! variable = "ADAS"               # a covariate, or an output observed at baseline
//! min = 12
//! max = 50
//!
//! [[arms]]
//! name = "placebo"
//! regimen = "placebo"             # a therapy of the model, regimen text, or @protocol.json
//! allocation = 0.5                # fractions of the patients; they must sum to 1
//! control = true
//! [[arms]]
//! name = "disease-modifying"
//! regimen = "disease-modifying"
//! allocation = 0.5
//!
//! [visits]
//! every = "13w"
//! until = "78w"                   # or: times = ["0d", "12w", "78w"]; the first visit is 0
//!
//! [[endpoints]]
//! name = "ADAS_CHG_W78"
//! type = "change"                 # change | value | binary | time-to-event
//! output = "ADAS"
//! at = "78w"
//!
//! [[analyses]]
//! name = "PROCOVA"
//! endpoint = "ADAS_CHG_W78"
//! method = "procova"              # difference-in-means | ancova | procova | log-rank | cox
//!
//! [prognostic]
//! model = "alzheimers@1"          # locked before the trial; may differ from the truth
//! sha256 = "…"                    # optional lock on the model's content hash
//!
//! [sample_size]
//! target_power = 0.8
//! ```
//!
//! Every error names the file, the line and column (from the TOML spans), the field and what was
//! expected.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use twin_engine::model::{Model, OutcomeKind, TimeUnit, sha256_hex};
use twin_engine::montecarlo::Arm;
use twin_engine::population::ResidualError;
use twin_engine::protocol::Protocol;
use twin_engine::regimen::{Regimen, parse_duration};
use twin_engine::solver::SolverOptions;

use crate::error::TrialError;

/// Default two-sided significance level.
pub const DEFAULT_ALPHA: f64 = 0.05;
/// Default target power of the closed-form and simulated sample sizes.
pub const DEFAULT_TARGET_POWER: f64 = 0.8;
/// Default size of the truth cohort that defines the true effect of each endpoint.
pub const DEFAULT_TRUTH_PATIENTS: u64 = 20_000;
/// Default size of the historical control cohort on which ρ (and R²) are estimated.
pub const DEFAULT_HISTORICAL_PATIENTS: u64 = 1_000;
/// Default number of prior draws of η weighted by the baseline likelihood in the prognostic score.
pub const DEFAULT_PRIOR_DRAWS: u64 = 500;
/// Default number of draws resampled from them and simulated.
pub const DEFAULT_SIMULATED_DRAWS: u64 = 16;
/// Default seed of the prognostic score's prior draws (part of the locked score function).
pub const DEFAULT_PROGNOSTIC_SEED: u64 = 1;
/// Assumed study start date for ADaM dates when the design gives none.
pub const DEFAULT_START_DATE: &str = "2026-01-05";
/// Largest block of the permuted-block randomisation.
const MAX_BLOCK: u64 = 1_000;
/// Most patients in a count of the design: randomised patients, the truth and historical cohorts,
/// a randomisation block and the largest sample size searched. Every patient is simulated and held
/// in memory for its replicate trial, so a count in the billions would exhaust the memory.
pub const MAX_PATIENTS: u64 = 10_000_000;
/// Most replicate trials, of the run and of the sample-size search.
pub const MAX_REPLICATES: u64 = 1_000_000;
/// Most prior (and simulated) draws of the prognostic score.
pub const MAX_PROGNOSTIC_DRAWS: u64 = 1_000_000;
/// Tolerance on the sum of the allocation fractions and on each fraction being `k/B` for the
/// allocation unit `B` (so that 2:1 may be written 0.6667 and 0.3333).
const ALLOCATION_TOL: f64 = 5e-4;

// ---------------------------------------------------------------------------------------------
// The file as written.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDesign {
    trial: Spanned<RawTrial>,
    #[serde(default)]
    cohort: Option<Spanned<RawCohort>>,
    arms: Spanned<Vec<Spanned<RawArm>>>,
    visits: Spanned<RawVisits>,
    endpoints: Spanned<Vec<Spanned<RawEndpoint>>>,
    analyses: Spanned<Vec<Spanned<RawAnalysis>>>,
    #[serde(default)]
    prognostic: Option<Spanned<RawPrognostic>>,
    #[serde(default)]
    sample_size: Option<Spanned<RawSampleSize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrial {
    name: Spanned<String>,
    model: Spanned<String>,
    patients: Spanned<i64>,
    replicates: Spanned<i64>,
    #[serde(default)]
    alpha: Option<Spanned<f64>>,
    seed: Spanned<i64>,
    #[serde(default)]
    start_date: Option<Spanned<String>>,
    #[serde(default)]
    accrual: Option<Spanned<String>>,
    #[serde(default)]
    study_end: Option<Spanned<String>>,
    #[serde(default)]
    dropout: Option<Spanned<RawDropout>>,
    #[serde(default)]
    truth_patients: Option<Spanned<i64>>,
    #[serde(default)]
    block_size: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDropout {
    probability: Spanned<f64>,
    by: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCohort {
    #[serde(default)]
    baseline: Option<Spanned<String>>,
    #[serde(default)]
    inclusion: Vec<Spanned<RawCriterion>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCriterion {
    variable: Spanned<String>,
    #[serde(default)]
    min: Option<Spanned<f64>>,
    #[serde(default)]
    max: Option<Spanned<f64>>,
    #[serde(default)]
    values: Option<Spanned<Vec<f64>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArm {
    name: Spanned<String>,
    regimen: Spanned<String>,
    allocation: Spanned<f64>,
    #[serde(default)]
    control: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVisits {
    #[serde(default)]
    times: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    every: Option<Spanned<String>>,
    #[serde(default)]
    until: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    output: Option<Spanned<String>>,
    #[serde(default)]
    at: Option<Spanned<String>>,
    #[serde(default)]
    outcome: Option<Spanned<String>>,
    #[serde(default)]
    by: Option<Spanned<String>>,
    #[serde(default)]
    above: Option<Spanned<f64>>,
    #[serde(default)]
    below: Option<Spanned<f64>>,
    #[serde(default)]
    from_baseline: Option<Spanned<bool>>,
    #[serde(default)]
    description: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnalysis {
    #[serde(default)]
    name: Option<Spanned<String>>,
    endpoint: Spanned<String>,
    method: Spanned<String>,
    #[serde(default)]
    covariates: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrognostic {
    model: Spanned<String>,
    #[serde(default)]
    sha256: Option<Spanned<String>>,
    #[serde(default)]
    seed: Option<Spanned<i64>>,
    #[serde(default)]
    prior_draws: Option<Spanned<i64>>,
    #[serde(default)]
    simulated_draws: Option<Spanned<i64>>,
    #[serde(default)]
    condition_on: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    historical_patients: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSampleSize {
    #[serde(default)]
    target_power: Option<Spanned<f64>>,
    #[serde(default)]
    replicates: Option<Spanned<i64>>,
    #[serde(default)]
    max_patients: Option<Spanned<i64>>,
    #[serde(default)]
    analyses: Option<Spanned<Vec<Spanned<String>>>>,
}

// ---------------------------------------------------------------------------------------------
// The resolved design.

/// A baseline variable: a covariate of the truth model, or one of its outputs observed at the
/// baseline visit (before the first dose, with the model's residual error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variable {
    /// Covariate index of the truth model.
    Covariate(usize),
    /// Output index of the truth model, observed at baseline.
    Output(usize),
}

/// An inclusion criterion on one baseline variable: `min ≤ value ≤ max` and, when `values` is
/// given, `value` equal to one of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Criterion {
    /// The variable.
    pub variable: Variable,
    /// Its name as written.
    pub label: String,
    /// Lower bound (inclusive), `−∞` when absent.
    pub min: f64,
    /// Upper bound (inclusive), `+∞` when absent.
    pub max: f64,
    /// Admitted values (categorical covariates), `None` for any.
    pub values: Option<Vec<f64>>,
}

impl Criterion {
    /// Whether `value` satisfies the criterion (NaN never does).
    #[must_use]
    pub fn admits(&self, value: f64) -> bool {
        value >= self.min
            && value <= self.max
            && self.values.as_ref().is_none_or(|vs| {
                vs.iter()
                    .any(|v| (v - value).abs() <= 1e-9 * v.abs().max(1.0))
            })
    }

    /// The criterion as text, e.g. `12 <= ADAS <= 50`.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match (self.min.is_finite(), self.max.is_finite()) {
            (true, true) => parts.push(format!("{} <= {} <= {}", self.min, self.label, self.max)),
            (true, false) => parts.push(format!("{} >= {}", self.label, self.min)),
            (false, true) => parts.push(format!("{} <= {}", self.label, self.max)),
            (false, false) => {}
        }
        if let Some(values) = &self.values {
            let list: Vec<String> = values.iter().map(f64::to_string).collect();
            parts.push(format!("{} in {{{}}}", self.label, list.join(", ")));
        }
        parts.join(" and ")
    }
}

/// Where the baseline covariates of virtual patients come from.
#[derive(Debug, Clone, PartialEq)]
pub enum BaselineSource {
    /// The truth model's covariate sampler ([`Model::sample_covariates`]).
    Model,
    /// Rows of a CSV file, resampled with replacement (each candidate draws a row uniformly).
    Rows {
        /// The file as named in the design.
        name: String,
        /// Covariate values per row, in the truth model's covariate order.
        rows: Vec<Vec<f64>>,
    },
}

/// The virtual cohort: baseline source and inclusion criteria.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortSpec {
    /// Baseline covariates.
    pub source: BaselineSource,
    /// Inclusion criteria, all of which must hold.
    pub criteria: Vec<Criterion>,
}

/// One arm: its name, the regimen as written, the parsed therapy and its allocation fraction.
#[derive(Debug, Clone)]
pub struct ArmSpec {
    /// Arm name (`TRT01P` in ADaM tables).
    pub name: String,
    /// Regimen as written in the design.
    pub regimen_text: String,
    /// The therapy for the truth model.
    pub arm: Arm,
    /// Fraction of the randomised patients.
    pub allocation: f64,
}

/// What an endpoint measures.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointKind {
    /// An output observed (with residual error) at a visit; `change` subtracts the observed
    /// baseline.
    Continuous {
        /// Truth-model output index.
        output: usize,
        /// Visit index.
        visit: usize,
        /// Change from baseline instead of the value.
        change: bool,
    },
    /// 1 when the observed value (or change) at a visit is above (or below) a threshold.
    BinaryThreshold {
        /// Truth-model output index.
        output: usize,
        /// Visit index.
        visit: usize,
        /// Change from baseline instead of the value.
        change: bool,
        /// `true`: value > threshold; `false`: value < threshold.
        above: bool,
        /// Threshold in output units.
        threshold: f64,
    },
    /// 1 when a time-to-event outcome of the model occurs by time `by` (model time units).
    BinaryEvent {
        /// Model outcome index.
        outcome: usize,
        /// Time by which the event counts.
        by: f64,
    },
    /// A time-to-event outcome of the model, censored administratively at study end and at
    /// dropout.
    TimeToEvent {
        /// Model outcome index.
        outcome: usize,
    },
}

/// An endpoint of the trial.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Name (`PARAMCD` in ADaM tables).
    pub name: String,
    /// Description (`PARAM`).
    pub description: String,
    /// What it measures.
    pub kind: EndpointKind,
}

impl Endpoint {
    /// Whether the endpoint is continuous (PROCOVA applies).
    #[must_use]
    pub fn is_continuous(&self) -> bool {
        matches!(self.kind, EndpointKind::Continuous { .. })
    }

    /// Whether the endpoint is binary.
    #[must_use]
    pub fn is_binary(&self) -> bool {
        matches!(
            self.kind,
            EndpointKind::BinaryThreshold { .. } | EndpointKind::BinaryEvent { .. }
        )
    }

    /// Whether the endpoint is a time to event.
    #[must_use]
    pub fn is_time_to_event(&self) -> bool {
        matches!(self.kind, EndpointKind::TimeToEvent { .. })
    }

    /// The output whose observed baseline `"baseline"` refers to, if any.
    #[must_use]
    pub fn baseline_output(&self) -> Option<usize> {
        match self.kind {
            EndpointKind::Continuous { output, .. }
            | EndpointKind::BinaryThreshold { output, .. } => Some(output),
            _ => None,
        }
    }
}

/// Statistical method of an analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Difference in means, pooled-variance t test.
    DifferenceInMeans,
    /// ANCOVA on baseline covariates.
    Ancova,
    /// ANCOVA on the twin prognostic score (plus any listed covariates).
    Procova,
    /// Log-rank test, Peto's log hazard ratio `(O − E)/V` as its estimate.
    LogRank,
    /// Cox proportional hazards (Efron ties), Wald test of the treatment coefficient.
    Cox,
}

impl Method {
    /// The name used in design files.
    #[must_use]
    pub fn keyword(self) -> &'static str {
        match self {
            Self::DifferenceInMeans => "difference-in-means",
            Self::Ancova => "ancova",
            Self::Procova => "procova",
            Self::LogRank => "log-rank",
            Self::Cox => "cox",
        }
    }

    /// Scale of the effect estimate.
    #[must_use]
    pub fn effect_scale(self) -> &'static str {
        match self {
            Self::DifferenceInMeans | Self::Ancova | Self::Procova => {
                "difference (treatment - control)"
            }
            Self::LogRank | Self::Cox => "log hazard ratio (treatment vs control)",
        }
    }
}

/// An analysis of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Name shown in outputs.
    pub name: String,
    /// Endpoint index.
    pub endpoint: usize,
    /// Method.
    pub method: Method,
    /// Adjustment covariates (baseline variables), after the score for PROCOVA.
    pub covariates: Vec<Variable>,
    /// Their names as written.
    pub covariate_labels: Vec<String>,
}

/// The locked prognostic model of PROCOVA and how its score is computed (see
/// [`crate::prognostic`]).
pub struct PrognosticSpec {
    /// The model version, fixed before the trial.
    pub model: Box<dyn Model>,
    /// `id@version`.
    pub label: String,
    /// Its content hash (SHA-256 of the canonical specification).
    pub sha256: String,
    /// Seed of the prior draws of η (part of the locked score function).
    pub seed: u64,
    /// Prior draws of η, weighted by the likelihood of the observed baseline.
    pub prior_draws: usize,
    /// Draws resampled from the weighted prior draws and simulated.
    pub simulated_draws: usize,
    /// Baseline outputs conditioned on: `(truth output, prognostic output)`.
    pub condition_on: Vec<(usize, usize)>,
    /// For each prognostic-model covariate, the truth-model covariate of the same name.
    pub covariates: Vec<usize>,
    /// The control regimen for the prognostic model.
    pub control: Arm,
    /// Visit times in the prognostic model's time unit.
    pub visits: Vec<f64>,
    /// For each endpoint, the prognostic model's output index when the endpoint is continuous
    /// and analysed by PROCOVA.
    pub endpoint_outputs: Vec<Option<usize>>,
    /// Patients of the historical control cohort on which ρ is estimated.
    pub historical_patients: u64,
}

impl std::fmt::Debug for PrognosticSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrognosticSpec")
            .field("label", &self.label)
            .field("sha256", &self.sha256)
            .field("seed", &self.seed)
            .field("prior_draws", &self.prior_draws)
            .field("simulated_draws", &self.simulated_draws)
            .finish_non_exhaustive()
    }
}

/// The simulated sample-size search.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSizeSpec {
    /// Replicate trials per evaluated size.
    pub replicates: u64,
    /// Largest total number of patients tried.
    pub max_patients: u64,
    /// Analyses searched (indices); all by default.
    pub analyses: Vec<usize>,
}

/// A validated trial design.
pub struct Design {
    /// The design file as named by the caller.
    pub source_name: String,
    /// SHA-256 (hex) of the design text.
    pub source_sha256: String,
    /// Trial name (`STUDYID`).
    pub name: String,
    /// The model version that generates the truth.
    pub truth: Box<dyn Model>,
    /// `id@version` of the truth model.
    pub truth_label: String,
    /// Randomised patients in total (a multiple of [`Design::allocation_unit`]).
    pub patients: u64,
    /// Replicate trials.
    pub replicates: u64,
    /// Two-sided significance level.
    pub alpha: f64,
    /// Master seed.
    pub seed: u64,
    /// Study start (first entry) as days since 1970-01-01, for ADaM dates.
    pub start_day: i64,
    /// Accrual period (model time units); entries are uniform over it.
    pub accrual: f64,
    /// Administrative end of the study (model time units from the first entry).
    pub study_end: f64,
    /// Exponential dropout hazard (per model time unit); 0 for none.
    pub dropout_hazard: f64,
    /// Patients of the truth cohort.
    pub truth_patients: u64,
    /// Cohort.
    pub cohort: CohortSpec,
    /// Control arm.
    pub control: ArmSpec,
    /// Treatment arm.
    pub treatment: ArmSpec,
    /// Patients per randomisation block.
    pub block_size: u64,
    /// Smallest number of patients realising the allocation exactly (arm sizes are multiples of
    /// it): `n_control_unit` controls and `n_treated_unit` treated.
    pub allocation_unit: u64,
    /// Controls per allocation unit.
    pub n_control_unit: u64,
    /// Visit times (model time units), ascending, starting at 0.
    pub visits: Vec<f64>,
    /// Endpoints.
    pub endpoints: Vec<Endpoint>,
    /// Analyses.
    pub analyses: Vec<Analysis>,
    /// PROCOVA's prognostic model, when any analysis needs it.
    pub prognostic: Option<PrognosticSpec>,
    /// Target power of the closed-form and simulated sample sizes.
    pub target_power: f64,
    /// The simulated sample-size search, when asked for.
    pub sample_size: Option<SampleSizeSpec>,
    /// ODE solver options.
    pub solver: SolverOptions,
}

impl std::fmt::Debug for Design {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Design")
            .field("source_name", &self.source_name)
            .field("name", &self.name)
            .field("truth", &self.truth_label)
            .field("patients", &self.patients)
            .field("replicates", &self.replicates)
            .field("endpoints", &self.endpoints)
            .field("analyses", &self.analyses)
            .field("prognostic", &self.prognostic)
            .finish_non_exhaustive()
    }
}

impl Design {
    /// Arm sizes `(control, treated)` for `n_total` patients (a multiple of the allocation unit).
    #[must_use]
    pub fn arm_sizes(&self, n_total: u64) -> (u64, u64) {
        let units = n_total / self.allocation_unit;
        let controls = units * self.n_control_unit;
        (controls, n_total - controls)
    }

    /// The model time unit.
    #[must_use]
    pub fn time_unit(&self) -> TimeUnit {
        self.truth.spec().time_unit
    }

    /// The name of a baseline variable.
    #[must_use]
    pub fn variable_name(&self, variable: Variable) -> &'static str {
        let spec = self.truth.spec();
        match variable {
            Variable::Covariate(c) => spec.covariates[c].name,
            Variable::Output(o) => spec.outputs[o].name,
        }
    }
}

/// Looks up a model version by name (`id` or `id@version`); the error says what is known.
pub type ModelLookup<'a> = dyn Fn(&str) -> Result<Box<dyn Model>, String> + 'a;

/// Reads a file named in a design (path as written); the error names the problem.
pub type FileLookup<'a> = dyn Fn(&str) -> Result<String, String> + 'a;

/// What a design needs from outside: model versions by name and the text of files it refers to
/// (baseline CSV, protocol JSON), by the path written in the design. The library does no IO; the
/// caller (the CLI) reads files relative to the design file.
pub struct Inputs<'a> {
    /// Model lookup; [`catalogue_model`] for the twinsim catalogue.
    pub models: &'a ModelLookup<'a>,
    /// File lookup, e.g. an error "No such file".
    pub files: &'a FileLookup<'a>,
}

/// Looks a model up in the twinsim catalogue (`twin_models::find`).
///
/// # Errors
/// The catalogue's message (unknown id or version, listing the known ones).
pub fn catalogue_model(name: &str) -> Result<Box<dyn Model>, String> {
    twin_models::find(name).map_err(|e| e.to_string())
}

/// Position of a byte offset: one-based line and column (in characters).
#[must_use]
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

struct Ctx<'a> {
    source: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> TrialError {
        let (line, column) = line_column(self.text, span.start);
        TrialError::Design {
            source_name: self.source.to_owned(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        }
    }

    fn duration(
        &self,
        text: &Spanned<String>,
        unit: TimeUnit,
        field: &str,
    ) -> Result<f64, TrialError> {
        parse_duration(text.get_ref(), unit).map_err(|e| {
            self.err(
                text.span(),
                field,
                format!("{e}; expected a duration such as \"78w\", \"546d\" or \"12h\""),
            )
        })
    }

    /// A count in `min..=max`.
    fn count(
        &self,
        value: &Spanned<i64>,
        field: &str,
        min: i64,
        max: u64,
    ) -> Result<u64, TrialError> {
        let v = *value.get_ref();
        if v < min {
            return Err(self.err(
                value.span(),
                field,
                format!("{v} is too small; expected an integer >= {min}"),
            ));
        }
        match u64::try_from(v) {
            Ok(count) if count <= max => Ok(count),
            _ => Err(self.err(
                value.span(),
                field,
                format!("{v} is above the limit of {max}; expected an integer <= {max}"),
            )),
        }
    }
}

/// The TOML table in which a byte offset lies (the last `[header]` before it), for messages about
/// missing fields.
fn enclosing_table(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let before = text.get(..line_end)?;
    before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(str::to_owned)
}

impl Design {
    /// Parses and validates a design.
    ///
    /// `source_name` names the file in messages; `text` is its content; `inputs` resolves the
    /// model names and the files the design refers to.
    ///
    /// # Errors
    /// [`TrialError::Design`] with the line, column and field of the first problem found;
    /// [`TrialError::Baseline`] for a malformed baseline CSV.
    pub fn parse(source_name: &str, text: &str, inputs: &Inputs<'_>) -> Result<Self, TrialError> {
        let ctx = Ctx {
            source: source_name,
            text,
        };
        let raw: RawDesign = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let field = enclosing_table(text, offset).unwrap_or_else(|| "design".to_owned());
            ctx.err(offset..offset, field, e.message().trim().to_owned())
        })?;
        resolve(&ctx, raw, inputs)
    }
}

#[allow(clippy::too_many_lines)]
fn resolve(ctx: &Ctx<'_>, raw: RawDesign, inputs: &Inputs<'_>) -> Result<Design, TrialError> {
    let trial = raw.trial.into_inner();
    let truth = (inputs.models)(trial.model.get_ref())
        .map_err(|m| ctx.err(trial.model.span(), "trial.model", m))?;
    let spec = truth.spec();
    let truth_label = format!("{}@{}", spec.id, spec.version);
    let unit = spec.time_unit;
    let name = trial.name.get_ref().trim().to_owned();
    if name.is_empty() || name.contains(',') {
        return Err(ctx.err(
            trial.name.span(),
            "trial.name",
            "expected a non-empty name without commas",
        ));
    }
    let replicates = ctx.count(&trial.replicates, "trial.replicates", 1, MAX_REPLICATES)?;
    let seed = u64::try_from(*trial.seed.get_ref()).map_err(|_| {
        ctx.err(
            trial.seed.span(),
            "trial.seed",
            "expected a non-negative integer",
        )
    })?;
    let alpha = match &trial.alpha {
        Some(a) => {
            let v = *a.get_ref();
            if !(v > 0.0 && v < 1.0) {
                return Err(ctx.err(a.span(), "trial.alpha", format!("{v} must be in (0, 1)")));
            }
            v
        }
        None => DEFAULT_ALPHA,
    };
    let start_day = match &trial.start_date {
        Some(d) => days_from_iso_date(d.get_ref()).ok_or_else(|| {
            ctx.err(
                d.span(),
                "trial.start_date",
                format!(
                    "'{}' is not a date; expected YYYY-MM-DD with a year from 0000 to 9999",
                    d.get_ref()
                ),
            )
        })?,
        None => days_from_iso_date(DEFAULT_START_DATE).unwrap_or_default(),
    };

    // Visits.
    let visits_raw = raw.visits.into_inner();
    let visits = resolve_visits(ctx, &visits_raw, unit)?;
    let last_visit = *visits.last().unwrap_or(&0.0);

    let accrual = match &trial.accrual {
        Some(a) => ctx.duration(a, unit, "trial.accrual")?,
        None => 0.0,
    };
    let study_end = match &trial.study_end {
        Some(s) => {
            let end = ctx.duration(s, unit, "trial.study_end")?;
            if end <= accrual {
                return Err(ctx.err(
                    s.span(),
                    "trial.study_end",
                    format!(
                        "the study ends ({end} {}) before the accrual period ends ({accrual} {}); \
                         every patient needs follow-up",
                        unit.symbol(),
                        unit.symbol()
                    ),
                ));
            }
            if end > last_visit * (1.0 + 1e-12) {
                return Err(ctx.err(
                    s.span(),
                    "trial.study_end",
                    format!(
                        "the last visit ({last_visit} {u}) is before the study end ({end} {u}); \
                         extend the visits so the model is followed to the study end",
                        u = unit.symbol()
                    ),
                ));
            }
            end
        }
        None => {
            // Without a study end the administrative end is the last visit.
            if let Some(a) = trial.accrual.as_ref().filter(|_| accrual >= last_visit) {
                return Err(ctx.err(
                    a.span(),
                    "trial.accrual",
                    format!(
                        "accrual ({accrual} {u}) does not end before the last visit ({last_visit} \
                         {u}); give study_end or shorten the accrual",
                        u = unit.symbol()
                    ),
                ));
            }
            last_visit
        }
    };
    let dropout_hazard = match &trial.dropout {
        Some(d) => {
            let d = d.get_ref();
            let p = *d.probability.get_ref();
            if !(0.0..1.0).contains(&p) {
                return Err(ctx.err(
                    d.probability.span(),
                    "trial.dropout.probability",
                    format!("{p} must be in [0, 1)"),
                ));
            }
            let by = ctx.duration(&d.by, unit, "trial.dropout.by")?;
            if by <= 0.0 {
                return Err(ctx.err(d.by.span(), "trial.dropout.by", "must be positive"));
            }
            // P(dropout by t) = 1 − e^(−λt).
            -(1.0 - p).ln() / by
        }
        None => 0.0,
    };
    let truth_patients = match &trial.truth_patients {
        Some(n) => ctx.count(n, "trial.truth_patients", 10, MAX_PATIENTS)?,
        None => DEFAULT_TRUTH_PATIENTS,
    };

    // Cohort.
    let cohort = match raw.cohort {
        Some(c) => resolve_cohort(ctx, c.into_inner(), truth.as_ref(), inputs)?,
        None => CohortSpec {
            source: BaselineSource::Model,
            criteria: Vec::new(),
        },
    };

    // Arms and allocation.
    let arms_span = raw.arms.span();
    let arms = raw.arms.into_inner();
    if arms.len() != 2 {
        return Err(ctx.err(
            arms_span,
            "arms",
            format!(
                "the design has {} arm(s); a trial compares exactly two, one with control = true",
                arms.len()
            ),
        ));
    }
    let mut resolved_arms = Vec::new();
    let mut control_idx = None;
    for (i, arm) in arms.iter().enumerate() {
        let a = arm.get_ref();
        let field = format!("arms[{i}]");
        let arm_name = a.name.get_ref().trim().to_owned();
        if arm_name.is_empty() || arm_name.contains(',') {
            return Err(ctx.err(
                a.name.span(),
                format!("{field}.name"),
                "expected a non-empty name without commas",
            ));
        }
        let allocation = *a.allocation.get_ref();
        if !(allocation > 0.0 && allocation < 1.0) {
            return Err(ctx.err(
                a.allocation.span(),
                format!("{field}.allocation"),
                format!("{allocation} must be a fraction in (0, 1)"),
            ));
        }
        if a.control.as_ref().is_some_and(|c| *c.get_ref()) {
            if control_idx.is_some() {
                return Err(ctx.err(
                    arm.span(),
                    format!("{field}.control"),
                    "two arms are marked control = true; mark exactly one",
                ));
            }
            control_idx = Some(i);
        }
        let therapy = parse_therapy(
            ctx,
            &a.regimen,
            truth.as_ref(),
            &format!("{field}.regimen"),
            inputs,
        )?;
        resolved_arms.push(ArmSpec {
            name: arm_name.clone(),
            regimen_text: a.regimen.get_ref().clone(),
            arm: Arm {
                name: arm_name,
                regimen: therapy.0,
                rules: therapy.1,
            },
            allocation,
        });
    }
    if resolved_arms[0].name == resolved_arms[1].name {
        return Err(ctx.err(
            arms[1].get_ref().name.span(),
            "arms[1].name",
            "both arms have the same name",
        ));
    }
    let sum: f64 = resolved_arms.iter().map(|a| a.allocation).sum();
    if (sum - 1.0).abs() > ALLOCATION_TOL {
        return Err(ctx.err(
            arms[1].get_ref().allocation.span(),
            "arms[].allocation",
            format!(
                "the allocation fractions sum to {sum}; they must sum to 1 within {ALLOCATION_TOL} \
                 (e.g. 0.5 and 0.5 for 1:1, 0.6667 and 0.3333 for 2:1)"
            ),
        ));
    }
    let Some(control_idx) = control_idx else {
        return Err(ctx.err(
            arms_span,
            "arms",
            "no arm is marked control = true; the control arm defines the null scenario",
        ));
    };
    let treatment = resolved_arms.remove(1 - control_idx);
    let control = resolved_arms.remove(0);
    let (allocation_unit, n_control_unit) =
        allocation_unit(control.allocation).ok_or_else(|| {
            ctx.err(
                arms[control_idx].get_ref().allocation.span(),
                format!("arms[{control_idx}].allocation"),
                format!(
                    "{} is not a ratio of small integers (block of at most {MAX_BLOCK} patients)",
                    control.allocation
                ),
            )
        })?;
    let block_size = match &trial.block_size {
        Some(b) => {
            let b_value = ctx.count(b, "trial.block_size", 1, MAX_PATIENTS)?;
            if b_value % allocation_unit != 0 {
                return Err(ctx.err(
                    b.span(),
                    "trial.block_size",
                    format!(
                        "{b_value} is not a multiple of {allocation_unit}, the smallest block that \
                         realises the allocation exactly"
                    ),
                ));
            }
            b_value
        }
        None => 2 * allocation_unit,
    };
    let patients = ctx.count(&trial.patients, "trial.patients", 1, MAX_PATIENTS)?;
    if patients % allocation_unit != 0 || patients < 2 * allocation_unit {
        return Err(ctx.err(
            trial.patients.span(),
            "trial.patients",
            format!(
                "{patients} patients cannot be split exactly by the allocation; expected a \
                 multiple of {allocation_unit} (at least {})",
                2 * allocation_unit
            ),
        ));
    }

    // Endpoints.
    let endpoints_span = raw.endpoints.span();
    let endpoints_raw = raw.endpoints.into_inner();
    if endpoints_raw.is_empty() {
        return Err(ctx.err(
            endpoints_span,
            "endpoints",
            "at least one endpoint is needed",
        ));
    }
    let mut endpoints = Vec::new();
    for (i, e) in endpoints_raw.iter().enumerate() {
        let endpoint = resolve_endpoint(ctx, e, i, truth.as_ref(), &visits)?;
        if endpoints.iter().any(|x: &Endpoint| x.name == endpoint.name) {
            return Err(ctx.err(
                e.get_ref().name.span(),
                format!("endpoints[{i}].name"),
                format!("endpoint '{}' is defined twice", endpoint.name),
            ));
        }
        endpoints.push(endpoint);
    }

    // Analyses.
    let analyses_span = raw.analyses.span();
    let analyses_raw = raw.analyses.into_inner();
    if analyses_raw.is_empty() {
        return Err(ctx.err(analyses_span, "analyses", "at least one analysis is needed"));
    }
    let mut analyses = Vec::new();
    for (i, a) in analyses_raw.iter().enumerate() {
        let analysis = resolve_analysis(ctx, a, i, truth.as_ref(), &endpoints)?;
        if analyses.iter().any(|x: &Analysis| x.name == analysis.name) {
            return Err(ctx.err(
                a.span(),
                format!("analyses[{i}].name"),
                format!(
                    "analysis '{}' is defined twice; give each a distinct name",
                    analysis.name
                ),
            ));
        }
        analyses.push(analysis);
    }

    // Prognostic model.
    let needs_score = analyses.iter().any(|a| a.method == Method::Procova);
    let prognostic = match (raw.prognostic, needs_score) {
        (Some(p), _) => Some(resolve_prognostic(
            ctx,
            p,
            truth.as_ref(),
            &control,
            &visits,
            &endpoints,
            &analyses,
            inputs,
        )?),
        (None, true) => {
            let first = analyses_raw
                .iter()
                .zip(&analyses)
                .find(|(_, a)| a.method == Method::Procova)
                .map_or(analyses_span.clone(), |(raw, _)| raw.span());
            return Err(ctx.err(
                first,
                "prognostic",
                "a procova analysis needs a [prognostic] table naming the locked model version, \
                 e.g. model = \"alzheimers@1\"",
            ));
        }
        (None, false) => None,
    };

    // Sample size.
    let mut target_power = DEFAULT_TARGET_POWER;
    let sample_size = match raw.sample_size {
        Some(s) => {
            let s = s.into_inner();
            if let Some(t) = &s.target_power {
                let v = *t.get_ref();
                if !(v > 0.0 && v < 1.0) {
                    return Err(ctx.err(
                        t.span(),
                        "sample_size.target_power",
                        format!("{v} must be in (0, 1)"),
                    ));
                }
                target_power = v;
            }
            let search_replicates = match &s.replicates {
                Some(r) => ctx.count(r, "sample_size.replicates", 10, MAX_REPLICATES)?,
                None => replicates,
            };
            let max_patients = match &s.max_patients {
                Some(m) => {
                    let v = ctx.count(m, "sample_size.max_patients", 1, MAX_PATIENTS)?;
                    if v < 2 * allocation_unit {
                        return Err(ctx.err(
                            m.span(),
                            "sample_size.max_patients",
                            format!("expected at least {}", 2 * allocation_unit),
                        ));
                    }
                    v
                }
                None => (patients * 16).max(1_000),
            };
            let searched = match &s.analyses {
                Some(list) => {
                    let mut idx = Vec::new();
                    for (k, n) in list.get_ref().iter().enumerate() {
                        let found = analyses.iter().position(|a| a.name == *n.get_ref());
                        match found {
                            Some(i) => idx.push(i),
                            None => {
                                let names: Vec<&str> =
                                    analyses.iter().map(|a| a.name.as_str()).collect();
                                return Err(ctx.err(
                                    n.span(),
                                    format!("sample_size.analyses[{k}]"),
                                    format!(
                                        "no analysis '{}'; analyses: {}",
                                        n.get_ref(),
                                        names.join(", ")
                                    ),
                                ));
                            }
                        }
                    }
                    idx
                }
                None => (0..analyses.len()).collect(),
            };
            Some(SampleSizeSpec {
                replicates: search_replicates,
                max_patients,
                analyses: searched,
            })
        }
        None => None,
    };

    Ok(Design {
        source_name: ctx.source.to_owned(),
        source_sha256: sha256_hex(ctx.text.as_bytes()),
        name,
        truth_label,
        patients,
        replicates,
        alpha,
        seed,
        start_day,
        accrual,
        study_end,
        dropout_hazard,
        truth_patients,
        cohort,
        control,
        treatment,
        block_size,
        allocation_unit,
        n_control_unit,
        visits,
        endpoints,
        analyses,
        prognostic,
        target_power,
        sample_size,
        solver: SolverOptions::default(),
        truth,
    })
}

/// Smallest block `B ≤ MAX_BLOCK` with `B·f` and `B·(1 − f)` positive integers, as `(B, B·f)`.
fn allocation_unit(control_fraction: f64) -> Option<(u64, u64)> {
    (2..=MAX_BLOCK).find_map(|b| {
        let controls = b as f64 * control_fraction;
        let rounded = controls.round();
        ((control_fraction - rounded / b as f64).abs() <= ALLOCATION_TOL
            && rounded >= 1.0
            && rounded <= (b - 1) as f64)
            .then_some((b, rounded as u64))
    })
}

fn resolve_visits(ctx: &Ctx<'_>, raw: &RawVisits, unit: TimeUnit) -> Result<Vec<f64>, TrialError> {
    let visits = match (&raw.times, &raw.every, &raw.until) {
        (Some(times), None, None) => {
            let mut v = Vec::new();
            for (i, t) in times.get_ref().iter().enumerate() {
                v.push(ctx.duration(t, unit, &format!("visits.times[{i}]"))?);
            }
            if v.windows(2).any(|w| w[1] <= w[0]) {
                return Err(ctx.err(
                    times.span(),
                    "visits.times",
                    "visit times must increase strictly",
                ));
            }
            if v.first().is_none_or(|&t| t.abs() > 0.0) {
                return Err(ctx.err(
                    times.span(),
                    "visits.times",
                    "the first visit must be the baseline visit at \"0d\"",
                ));
            }
            v
        }
        (None, Some(every), Some(until)) => {
            let step = ctx.duration(every, unit, "visits.every")?;
            let end = ctx.duration(until, unit, "visits.until")?;
            let mut v = twin_engine::forecast::output_grid(end, step)
                .map_err(|e| ctx.err(every.span(), "visits.every", e.to_string()))?;
            if v.last().is_some_and(|&t| t < end * (1.0 - 1e-12)) {
                v.push(end);
            }
            v
        }
        _ => {
            let span = raw
                .times
                .as_ref()
                .map(Spanned::span)
                .or_else(|| raw.every.as_ref().map(Spanned::span))
                .or_else(|| raw.until.as_ref().map(Spanned::span))
                .unwrap_or(0..0);
            return Err(ctx.err(
                span,
                "visits",
                "give either times = [\"0d\", \"12w\", ...] or both every and until",
            ));
        }
    };
    if visits.len() < 2 {
        return Err(ctx.err(
            0..0,
            "visits",
            "at least a baseline and one later visit are needed",
        ));
    }
    Ok(visits)
}

/// Finds the variable named `name` among the truth model's covariates and outputs.
fn find_variable(model: &dyn Model, name: &str) -> Result<Variable, String> {
    let spec = model.spec();
    let covariate = spec
        .covariates
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case(name));
    let output = spec.output_index(name);
    match (covariate, output) {
        (Some(c), None) => Ok(Variable::Covariate(c)),
        (None, Some(o)) => Ok(Variable::Output(o)),
        (Some(_), Some(_)) => Err(format!(
            "'{name}' is both a covariate and an output of model {}",
            spec.id
        )),
        (None, None) => {
            let covariates: Vec<&str> = spec.covariates.iter().map(|c| c.name).collect();
            let outputs: Vec<&str> = spec.outputs.iter().map(|o| o.name).collect();
            Err(format!(
                "model {} has no covariate or output '{name}'; covariates: {}; outputs (observed \
                 at baseline): {}",
                spec.id,
                if covariates.is_empty() {
                    "none".to_owned()
                } else {
                    covariates.join(", ")
                },
                outputs.join(", ")
            ))
        }
    }
}

fn resolve_cohort(
    ctx: &Ctx<'_>,
    raw: RawCohort,
    model: &dyn Model,
    inputs: &Inputs<'_>,
) -> Result<CohortSpec, TrialError> {
    let source = match &raw.baseline {
        None => BaselineSource::Model,
        Some(path) => {
            let text = (inputs.files)(path.get_ref()).map_err(|m| {
                ctx.err(
                    path.span(),
                    "cohort.baseline",
                    format!("cannot read '{}': {m}", path.get_ref()),
                )
            })?;
            BaselineSource::Rows {
                name: path.get_ref().clone(),
                rows: crate::cohort::parse_baseline_csv(path.get_ref(), &text, model)?,
            }
        }
    };
    let mut criteria: Vec<Criterion> = Vec::new();
    // Spans of each variable's criteria, for messages about contradictions.
    let mut spans: Vec<Range<usize>> = Vec::new();
    for (i, c) in raw.inclusion.iter().enumerate() {
        let c_ref = c.get_ref();
        let field = format!("cohort.inclusion[{i}]");
        let variable = find_variable(model, c_ref.variable.get_ref())
            .map_err(|m| ctx.err(c_ref.variable.span(), format!("{field}.variable"), m))?;
        let min = c_ref
            .min
            .as_ref()
            .map_or(f64::NEG_INFINITY, |v| *v.get_ref());
        let max = c_ref.max.as_ref().map_or(f64::INFINITY, |v| *v.get_ref());
        if min.is_nan() || max.is_nan() {
            return Err(ctx.err(c.span(), field, "bounds must be numbers"));
        }
        if c_ref.min.is_none() && c_ref.max.is_none() && c_ref.values.is_none() {
            return Err(ctx.err(
                c.span(),
                field,
                "a criterion needs min, max or values, e.g. min = 55",
            ));
        }
        if min > max {
            return Err(ctx.err(
                c.span(),
                field,
                format!(
                    "contradictory inclusion criterion: min = {min} is above max = {max}, so no \
                     patient can qualify"
                ),
            ));
        }
        let criterion = Criterion {
            variable,
            label: c_ref.variable.get_ref().clone(),
            min,
            max,
            values: c_ref.values.as_ref().map(|v| v.get_ref().clone()),
        };
        if let Some(values) = &criterion.values
            && !values.iter().any(|&v| criterion.admits(v))
        {
            return Err(ctx.err(
                c.span(),
                field,
                "contradictory inclusion criterion: none of the listed values lies within min and \
                 max, so no patient can qualify",
            ));
        }
        // Criteria on the same variable must overlap.
        for (other, other_span) in criteria.iter().zip(&spans) {
            if other.variable != criterion.variable {
                continue;
            }
            let lo = other.min.max(criterion.min);
            let hi = other.max.min(criterion.max);
            let values_overlap = match (&other.values, &criterion.values) {
                (Some(a), Some(b)) => a.iter().any(|&v| {
                    b.iter().any(|&w| (v - w).abs() <= 1e-9 * v.abs().max(1.0))
                        && v >= lo
                        && v <= hi
                }),
                (Some(a), None) => a.iter().any(|&v| v >= lo && v <= hi),
                (None, Some(b)) => b.iter().any(|&v| v >= lo && v <= hi),
                (None, None) => lo <= hi,
            };
            if !values_overlap {
                let (line, _) = line_column(ctx.text, other_span.start);
                return Err(ctx.err(
                    c.span(),
                    field,
                    format!(
                        "contradictory inclusion criteria: '{}' and '{}' (line {line}) admit no \
                         value of {}, so no patient can qualify",
                        criterion.describe(),
                        other.describe(),
                        criterion.label
                    ),
                ));
            }
        }
        criteria.push(criterion);
        spans.push(c.span());
    }
    Ok(CohortSpec { source, criteria })
}

/// Parses an arm's regimen: a therapy of the model, `@protocol.json`, or regimen text.
fn parse_therapy(
    ctx: &Ctx<'_>,
    text: &Spanned<String>,
    model: &dyn Model,
    field: &str,
    inputs: &Inputs<'_>,
) -> Result<(Regimen, Vec<twin_engine::protocol::Rule>), TrialError> {
    let spec = model.spec();
    let written = text.get_ref().trim();
    if let Some(path) = written.strip_prefix('@') {
        let json = (inputs.files)(path).map_err(|m| {
            ctx.err(
                text.span(),
                field,
                format!("cannot read protocol '{path}': {m}"),
            )
        })?;
        let protocol = Protocol::parse(path, &json, spec)
            .map_err(|e| ctx.err(text.span(), field, e.to_string()))?;
        return Ok((protocol.regimen, protocol.rules));
    }
    let regimen_text = spec
        .therapies
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(written))
        .map_or(written, |t| t.regimen);
    let regimen = Regimen::parse(regimen_text, spec).map_err(|e| {
        let therapies: Vec<&str> = spec.therapies.iter().map(|t| t.name).collect();
        ctx.err(
            text.span(),
            field,
            format!(
                "{e}; expected a therapy of model {} ({}), regimen text such as \"100 mg q24h x7\", \
                 \"none\", or @protocol.json",
                spec.id,
                therapies.join(", ")
            ),
        )
    })?;
    Ok((regimen, Vec::new()))
}

/// Index of the visit at time `t` (relative tolerance 1e-9).
fn visit_index(visits: &[f64], t: f64) -> Option<usize> {
    visits
        .iter()
        .position(|&v| (v - t).abs() <= 1e-9 * v.abs().max(1.0))
}

fn resolve_endpoint(
    ctx: &Ctx<'_>,
    raw: &Spanned<RawEndpoint>,
    i: usize,
    model: &dyn Model,
    visits: &[f64],
) -> Result<Endpoint, TrialError> {
    let e = raw.get_ref();
    let field = format!("endpoints[{i}]");
    let spec = model.spec();
    let unit = spec.time_unit;
    let name = e.name.get_ref().trim().to_owned();
    if name.is_empty() || name.contains(',') {
        return Err(ctx.err(
            e.name.span(),
            format!("{field}.name"),
            "expected a non-empty name without commas",
        ));
    }
    let output = |required: bool| -> Result<Option<usize>, TrialError> {
        match &e.output {
            Some(o) => spec.output_index(o.get_ref()).map(Some).ok_or_else(|| {
                let names: Vec<&str> = spec.outputs.iter().map(|x| x.name).collect();
                ctx.err(
                    o.span(),
                    format!("{field}.output"),
                    format!(
                        "model {} has no output '{}'; its outputs are {}",
                        spec.id,
                        o.get_ref(),
                        names.join(", ")
                    ),
                )
            }),
            None if required => Err(ctx.err(
                raw.span(),
                format!("{field}.output"),
                format!(
                    "this endpoint needs output = \"...\" (outputs of {}: {})",
                    spec.id,
                    spec.outputs
                        .iter()
                        .map(|x| x.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            None => Ok(None),
        }
    };
    let visit = |at: &Option<Spanned<String>>| -> Result<usize, TrialError> {
        let at = at.as_ref().ok_or_else(|| {
            ctx.err(
                raw.span(),
                format!("{field}.at"),
                "this endpoint needs at = \"<visit time>\", e.g. \"78w\"",
            )
        })?;
        let t = ctx.duration(at, unit, &format!("{field}.at"))?;
        let idx = visit_index(visits, t).ok_or_else(|| {
            let list: Vec<String> = visits.iter().map(|v| format!("{v}")).collect();
            ctx.err(
                at.span(),
                format!("{field}.at"),
                format!(
                    "{t} {} is not a visit; the visits are at {} {}",
                    unit.symbol(),
                    list.join(", "),
                    unit.symbol()
                ),
            )
        })?;
        if idx == 0 {
            return Err(ctx.err(
                at.span(),
                format!("{field}.at"),
                "the endpoint visit must come after the baseline visit",
            ));
        }
        Ok(idx)
    };
    let outcome = |kind: OutcomeKind| -> Result<usize, TrialError> {
        let o = e.outcome.as_ref().ok_or_else(|| {
            ctx.err(
                raw.span(),
                format!("{field}.outcome"),
                "this endpoint needs outcome = \"...\" (a time-to-event outcome of the model)",
            )
        })?;
        let candidates: Vec<&str> = spec
            .outcomes
            .iter()
            .filter(|x| x.kind == kind)
            .map(|x| x.name)
            .collect();
        spec.outcomes
            .iter()
            .position(|x| x.kind == kind && x.name.eq_ignore_ascii_case(o.get_ref()))
            .ok_or_else(|| {
                ctx.err(
                    o.span(),
                    format!("{field}.outcome"),
                    format!(
                        "model {} has no time-to-event outcome '{}'; its time-to-event outcomes are {}",
                        spec.id,
                        o.get_ref(),
                        if candidates.is_empty() { "none".to_owned() } else { candidates.join(", ") }
                    ),
                )
            })
    };
    let change_flag = e.from_baseline.as_ref().is_some_and(|b| *b.get_ref());
    let kind_text = e.kind.get_ref().to_ascii_lowercase();
    let kind = match kind_text.as_str() {
        "change" | "value" => {
            let o = output(true)?.unwrap_or_default();
            EndpointKind::Continuous {
                output: o,
                visit: visit(&e.at)?,
                change: kind_text == "change",
            }
        }
        "binary" => {
            if e.outcome.is_some() {
                let by_text = e.by.as_ref().ok_or_else(|| {
                    ctx.err(
                        raw.span(),
                        format!("{field}.by"),
                        "a binary event endpoint needs by = \"<time>\"",
                    )
                })?;
                let by = ctx.duration(by_text, unit, &format!("{field}.by"))?;
                let last = *visits.last().unwrap_or(&0.0);
                if by <= 0.0 || by > last * (1.0 + 1e-12) {
                    return Err(ctx.err(
                        by_text.span(),
                        format!("{field}.by"),
                        format!(
                            "must be after 0 and at most the last visit ({last} {})",
                            unit.symbol()
                        ),
                    ));
                }
                EndpointKind::BinaryEvent {
                    outcome: outcome(OutcomeKind::TimeToEvent)?,
                    by,
                }
            } else {
                let o = output(true)?.unwrap_or_default();
                let (above, threshold) = match (&e.above, &e.below) {
                    (Some(a), None) => (true, *a.get_ref()),
                    (None, Some(b)) => (false, *b.get_ref()),
                    _ => {
                        return Err(ctx.err(
                            raw.span(),
                            field,
                            "a binary endpoint needs either outcome and by, or output, at and exactly one of above or below",
                        ));
                    }
                };
                EndpointKind::BinaryThreshold {
                    output: o,
                    visit: visit(&e.at)?,
                    change: change_flag,
                    above,
                    threshold,
                }
            }
        }
        "time-to-event" => {
            let o = outcome(OutcomeKind::TimeToEvent)?;
            EndpointKind::TimeToEvent { outcome: o }
        }
        other => {
            return Err(ctx.err(
                e.kind.span(),
                format!("{field}.type"),
                format!("unknown endpoint type '{other}'; expected change, value, binary or time-to-event"),
            ));
        }
    };
    let description = e.description.as_ref().map_or_else(
        || match &kind {
            EndpointKind::Continuous {
                output,
                visit,
                change,
            } => format!(
                "{} {} at {} {}",
                spec.outputs[*output].name,
                if *change {
                    "change from baseline"
                } else {
                    "value"
                },
                visits[*visit],
                unit.symbol()
            ),
            EndpointKind::BinaryThreshold {
                output,
                visit,
                change,
                above,
                threshold,
            } => format!(
                "{}{} {} {threshold} at {} {}",
                spec.outputs[*output].name,
                if *change { " change" } else { "" },
                if *above { ">" } else { "<" },
                visits[*visit],
                unit.symbol()
            ),
            EndpointKind::BinaryEvent { outcome, by } => {
                format!("{} by {by} {}", spec.outcomes[*outcome].name, unit.symbol())
            }
            EndpointKind::TimeToEvent { outcome } => spec.outcomes[*outcome].description.to_owned(),
        },
        |d| d.get_ref().clone(),
    );
    Ok(Endpoint {
        name,
        description,
        kind,
    })
}

fn resolve_analysis(
    ctx: &Ctx<'_>,
    raw: &Spanned<RawAnalysis>,
    i: usize,
    model: &dyn Model,
    endpoints: &[Endpoint],
) -> Result<Analysis, TrialError> {
    let a = raw.get_ref();
    let field = format!("analyses[{i}]");
    let endpoint = endpoints
        .iter()
        .position(|e| e.name == *a.endpoint.get_ref())
        .ok_or_else(|| {
            let names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
            ctx.err(
                a.endpoint.span(),
                format!("{field}.endpoint"),
                format!(
                    "no endpoint '{}'; endpoints: {}",
                    a.endpoint.get_ref(),
                    names.join(", ")
                ),
            )
        })?;
    let e = &endpoints[endpoint];
    let method = match a.method.get_ref().to_ascii_lowercase().as_str() {
        "difference-in-means" => Method::DifferenceInMeans,
        "ancova" => Method::Ancova,
        "procova" => Method::Procova,
        "log-rank" => Method::LogRank,
        "cox" => Method::Cox,
        other => {
            return Err(ctx.err(
                a.method.span(),
                format!("{field}.method"),
                format!("unknown method '{other}'; expected difference-in-means, ancova, procova, log-rank or cox"),
            ));
        }
    };
    let kind_name = if e.is_continuous() {
        "continuous"
    } else if e.is_binary() {
        "binary"
    } else {
        "time-to-event"
    };
    let fits = match method {
        Method::DifferenceInMeans | Method::Ancova => !e.is_time_to_event(),
        Method::Procova => e.is_continuous(),
        Method::LogRank | Method::Cox => e.is_time_to_event(),
    };
    if !fits {
        let needs = match method {
            Method::DifferenceInMeans | Method::Ancova => "a continuous or binary endpoint",
            Method::Procova => {
                "a continuous endpoint (EMA qualification 2022: continuous outcomes)"
            }
            Method::LogRank | Method::Cox => "a time-to-event endpoint",
        };
        return Err(ctx.err(
            a.method.span(),
            format!("{field}.method"),
            format!(
                "{} needs {needs}; endpoint '{}' is {kind_name}",
                method.keyword(),
                e.name
            ),
        ));
    }
    let mut covariates = Vec::new();
    let mut labels = Vec::new();
    if let Some(list) = &a.covariates {
        if method == Method::LogRank || method == Method::DifferenceInMeans {
            return Err(ctx.err(
                list.span(),
                format!("{field}.covariates"),
                format!(
                    "{} takes no covariates; use ancova or cox",
                    method.keyword()
                ),
            ));
        }
        for (k, c) in list.get_ref().iter().enumerate() {
            let name = c.get_ref();
            let variable = if name.eq_ignore_ascii_case("baseline") {
                let o = e.baseline_output().ok_or_else(|| {
                    ctx.err(
                        c.span(),
                        format!("{field}.covariates[{k}]"),
                        format!("endpoint '{}' has no output, so \"baseline\" means nothing; name a covariate or output", e.name),
                    )
                })?;
                Variable::Output(o)
            } else {
                find_variable(model, name)
                    .map_err(|m| ctx.err(c.span(), format!("{field}.covariates[{k}]"), m))?
            };
            if covariates.contains(&variable) {
                return Err(ctx.err(c.span(), format!("{field}.covariates[{k}]"), "listed twice"));
            }
            covariates.push(variable);
            labels.push(name.clone());
        }
    } else if method == Method::Ancova {
        let o = e.baseline_output().ok_or_else(|| {
            ctx.err(
                raw.span(),
                format!("{field}.covariates"),
                "ancova needs covariates = [...] for this endpoint",
            )
        })?;
        covariates.push(Variable::Output(o));
        labels.push("baseline".to_owned());
    }
    if method == Method::Ancova && covariates.is_empty() {
        return Err(ctx.err(
            raw.span(),
            format!("{field}.covariates"),
            "ancova needs at least one covariate",
        ));
    }
    let name = a.name.as_ref().map_or_else(
        || format!("{}:{}", e.name, method.keyword()),
        |n| n.get_ref().trim().to_owned(),
    );
    if name.is_empty() || name.contains(',') {
        return Err(ctx.err(
            raw.span(),
            format!("{field}.name"),
            "expected a non-empty name without commas",
        ));
    }
    Ok(Analysis {
        name,
        endpoint,
        method,
        covariates,
        covariate_labels: labels,
    })
}

#[allow(clippy::too_many_arguments)]
fn resolve_prognostic(
    ctx: &Ctx<'_>,
    raw: Spanned<RawPrognostic>,
    truth: &dyn Model,
    control: &ArmSpec,
    visits: &[f64],
    endpoints: &[Endpoint],
    analyses: &[Analysis],
    inputs: &Inputs<'_>,
) -> Result<PrognosticSpec, TrialError> {
    let span = raw.span();
    let p = raw.into_inner();
    let model = (inputs.models)(p.model.get_ref())
        .map_err(|m| ctx.err(p.model.span(), "prognostic.model", m))?;
    let spec = model.spec();
    let truth_spec = truth.spec();
    let label = format!("{}@{}", spec.id, spec.version);
    let sha256 = spec.content_hash();
    if let Some(lock) = &p.sha256
        && !lock.get_ref().eq_ignore_ascii_case(&sha256)
    {
        return Err(ctx.err(
            lock.span(),
            "prognostic.sha256",
            format!(
                "the locked hash does not match: model {label} has content hash {sha256}; the \
                 prognostic model must be the version fixed before the trial"
            ),
        ));
    }
    let covariates = spec
        .covariates
        .iter()
        .map(|c| {
            truth_spec
                .covariates
                .iter()
                .position(|t| t.name.eq_ignore_ascii_case(c.name))
                .ok_or_else(|| {
                    ctx.err(
                        p.model.span(),
                        "prognostic.model",
                        format!(
                            "the prognostic model {label} needs covariate {} which the trial's \
                             baseline data (model {}) lack",
                            c.name, truth_spec.id
                        ),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let control_text = Spanned::new(span.clone(), control.regimen_text.clone());
    let (regimen, rules) = parse_therapy(
        ctx,
        &control_text,
        model.as_ref(),
        "prognostic (control regimen)",
        inputs,
    )?;
    let scale = truth_spec.time_unit.hours() / spec.time_unit.hours();
    let prognostic_visits: Vec<f64> = visits.iter().map(|v| v * scale).collect();
    let prognostic_output = |truth_output: usize, what: &str| -> Result<usize, TrialError> {
        let name = truth_spec.outputs[truth_output].name;
        spec.output_index(name).ok_or_else(|| {
            ctx.err(
                p.model.span(),
                "prognostic.model",
                format!("the prognostic model {label} has no output {name} ({what})"),
            )
        })
    };
    let mut endpoint_outputs = vec![None; endpoints.len()];
    for a in analyses.iter().filter(|a| a.method == Method::Procova) {
        if let EndpointKind::Continuous { output, .. } = endpoints[a.endpoint].kind {
            endpoint_outputs[a.endpoint] =
                Some(prognostic_output(output, "the endpoint's output")?);
        }
    }
    let condition_on = match &p.condition_on {
        Some(list) => {
            let mut pairs = Vec::new();
            for (k, name) in list.get_ref().iter().enumerate() {
                let truth_output = truth_spec.output_index(name.get_ref()).ok_or_else(|| {
                    ctx.err(
                        name.span(),
                        format!("prognostic.condition_on[{k}]"),
                        format!("model {} has no output '{}'", truth_spec.id, name.get_ref()),
                    )
                })?;
                pairs.push((
                    truth_output,
                    prognostic_output(truth_output, "condition_on")?,
                ));
            }
            pairs
        }
        None => {
            // By default: the outputs of the continuous endpoints the score serves.
            let mut pairs: Vec<(usize, usize)> = Vec::new();
            for (e, prog) in endpoints.iter().zip(&endpoint_outputs) {
                if let (EndpointKind::Continuous { output, .. }, Some(prog)) = (&e.kind, prog)
                    && !pairs.iter().any(|(t, _)| t == output)
                {
                    pairs.push((*output, *prog));
                }
            }
            pairs
        }
    };
    for &(_, prog) in &condition_on {
        if matches!(
            twin_engine::predict::population_of(model.as_ref()).map(|pop| pop.residual(prog)),
            Ok(ResidualError::None) | Err(_)
        ) {
            return Err(ctx.err(
                p.model.span(),
                "prognostic.condition_on",
                format!(
                    "output {} of the prognostic model {label} has no residual error model, so an \
                     observed baseline cannot weight its random effects; set condition_on = []",
                    spec.outputs[prog].name
                ),
            ));
        }
    }
    let draws =
        |v: &Option<Spanned<i64>>, field: &str, default: u64| -> Result<usize, TrialError> {
            let n = match v {
                Some(n) => ctx.count(n, field, 1, MAX_PROGNOSTIC_DRAWS)?,
                None => default,
            };
            usize::try_from(n).map_err(|_| ctx.err(span.clone(), field, "too large"))
        };
    let prior_draws = draws(
        &p.prior_draws,
        "prognostic.prior_draws",
        DEFAULT_PRIOR_DRAWS,
    )?;
    let simulated_draws = draws(
        &p.simulated_draws,
        "prognostic.simulated_draws",
        DEFAULT_SIMULATED_DRAWS,
    )?;
    if simulated_draws > prior_draws {
        return Err(ctx.err(
            span,
            "prognostic.simulated_draws",
            format!("{simulated_draws} simulated draws exceed the {prior_draws} prior draws they are resampled from"),
        ));
    }
    let seed = match &p.seed {
        Some(s) => u64::try_from(*s.get_ref()).map_err(|_| {
            ctx.err(
                s.span(),
                "prognostic.seed",
                "expected a non-negative integer",
            )
        })?,
        None => DEFAULT_PROGNOSTIC_SEED,
    };
    let historical_patients = match &p.historical_patients {
        Some(n) => ctx.count(n, "prognostic.historical_patients", 10, MAX_PATIENTS)?,
        None => DEFAULT_HISTORICAL_PATIENTS,
    };
    Ok(PrognosticSpec {
        label,
        sha256,
        seed,
        prior_draws,
        simulated_draws,
        condition_on,
        covariates,
        control: Arm {
            name: control.name.clone(),
            regimen,
            rules,
        },
        visits: prognostic_visits,
        endpoint_outputs,
        historical_patients,
        model,
    })
}

/// Days since 1970-01-01 of an ISO date `YYYY-MM-DD` (proleptic Gregorian, years 0000 to
/// 9999), `None` if invalid.
#[must_use]
pub fn days_from_iso_date(text: &str) -> Option<i64> {
    let mut parts = text.trim().split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some()
        || !(0..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
    {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day > month_days[usize::try_from(month - 1).ok()?] {
        return None;
    }
    // H. Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Day count of 0000-01-01, the first day [`days_from_iso_date`] reads.
pub const FIRST_ISO_DAY: i64 = -719_528;
/// Day count of 9999-12-31, the last day [`days_from_iso_date`] reads.
pub const LAST_ISO_DAY: i64 = 2_932_896;

/// The ISO date `YYYY-MM-DD` of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
#[must_use]
pub fn iso_date_from_days(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_match_known_day_counts() {
        // 1970-01-01 is day 0; 2000-03-01 is day 11017 (30 years of 365 days + 7 leap days + 31 +
        // 29 days of 2000: 10957 + 60).
        assert_eq!(days_from_iso_date("1970-01-01"), Some(0));
        assert_eq!(days_from_iso_date("2000-03-01"), Some(11_017));
        assert_eq!(days_from_iso_date("2000-02-30"), None);
        assert_eq!(days_from_iso_date("2026-13-01"), None);
        // Four-digit years only: beyond them the day count would overflow.
        assert_eq!(days_from_iso_date("0000-01-01"), Some(FIRST_ISO_DAY));
        assert_eq!(days_from_iso_date("9999-12-31"), Some(LAST_ISO_DAY));
        assert_eq!(days_from_iso_date("10000-01-01"), None);
        assert_eq!(days_from_iso_date("-1-01-01"), None);
        assert_eq!(days_from_iso_date("9223372036854775807-12-31"), None);
        for d in [
            FIRST_ISO_DAY,
            -1_000,
            0,
            11_016,
            11_017,
            20_458,
            60_000,
            LAST_ISO_DAY,
        ] {
            assert_eq!(days_from_iso_date(&iso_date_from_days(d)), Some(d));
        }
        assert_eq!(iso_date_from_days(11_016), "2000-02-29");
    }

    #[test]
    fn allocation_units_are_the_smallest_exact_blocks() {
        assert_eq!(allocation_unit(0.5), Some((2, 1)));
        // 2:1 treatment:control written as fractions 0.6667/0.3333.
        assert_eq!(allocation_unit(0.3333), Some((3, 1)));
        assert_eq!(allocation_unit(1.0 / 3.0), Some((3, 1)));
        assert_eq!(allocation_unit(0.4), Some((5, 2)));
    }

    #[test]
    fn line_and_column_count_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, text.find('=').unwrap()), (1, 3));
        let second = text.rfind('=').unwrap();
        assert_eq!(line_column(text, second), (2, 4));
    }
}
