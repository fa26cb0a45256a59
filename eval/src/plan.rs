//! The validation plan: what is evaluated, how, and what counts as a pass, fixed before any result
//! is computed (docs/domain.md §6: FDA's predetermined change control plans, ASME V&V 40).
//!
//! A plan is a TOML file. [`ValidationPlan::parse`] reads it and checks everything that can be
//! checked without the data: known keys only (a misspelled key is an error), known metric names
//! (with a suggestion for a misspelling), well-formed acceptance criteria, subgroups with exactly
//! one condition, a forecast protocol that says which observations condition the twin. The data-
//! and model-dependent checks (columns, covariates, outputs, durations) follow in
//! [`crate::report::prepare`], still before any computation. Counts that size the run (draws,
//! proposals, bootstrap replicates, VPC bins, MAP starts, permutations) have upper limits
//! ([`MAX_DRAWS`] and the others) far above any useful value, so that a mistyped count is refused
//! instead of exhausting the memory.
//!
//! ```toml
//! schema = "twinsim-validation-plan/1"
//! id = "pheno-saem-refit"
//! title = "Phenobarbital twin, SAEM refit (pheno@2) against FOCE-I (pheno@1)"
//! fixed_on = "2026-05-04"
//!
//! [question]
//! question_of_interest = "Does pheno@2 forecast later concentrations as well as pheno@1?"
//! context_of_use = "Forecasts of trough concentrations for dose adjustment in neonates."
//! out_of_scope = ["Patients above 10 kg"]
//!
//! [risk]
//! model_influence = "medium"
//! decision_consequence = "high"
//! rationale = "A clinician reviews each forecast."
//!
//! [models]
//! candidate = "pheno@2"
//! previous = "pheno@1"
//!
//! [data]
//! evaluation = "pheno_sd.csv"
//! evaluation_provenance = "Grasela & Donn 1985 via nlmixr2data"
//! independence = "The evaluation cohort is the training data of both versions."
//!
//! [protocol]
//! output = "CP"
//! condition_on_first = 1
//! draws = 200
//! seed = 7
//!
//! [[criteria]]
//! rule = "coverage90 >= 0.8"
//!
//! [[criteria]]
//! rule = "tost(crps_diff, 1.0)"
//! ```
//!
//! # Acceptance criteria
//!
//! A criterion's `rule` is one of:
//! - `METRIC OP NUMBER` with `OP` one of `>=`, `>`, `<=`, `<`, e.g. `coverage90 >= 0.85` or
//!   `crps_diff <= 0.2`. By default (`decide_on = "ci"`) the decision uses the bound of the
//!   patient-level bootstrap 95 % CI on the unfavourable side (the lower bound for `>=`/`>`, the
//!   upper bound for `<=`/`<`), so the criterion must hold for the whole interval; with
//!   `decide_on = "point"` it uses the point estimate.
//! - `tost(METRIC_diff, MARGIN)`: equivalence of the candidate and the previous version by two
//!   one-sided t-tests at α = 0.05 on the per-patient paired differences (candidate − previous):
//!   passes when the 90 % t confidence interval lies inside (−MARGIN, MARGIN) (docs/domain.md §5).
//! - `noninferior(METRIC_diff, MARGIN)`: for a score where lower is better (`crps`, `energy`,
//!   `mae`), passes when the upper end of the same 90 % interval is below MARGIN (one-sided test
//!   at α = 0.05).
//!
//! `subgroup` is `"all"` (the default: every forecast patient), the name of a `[[subgroups]]`
//! entry, or `"each"` (the whole cohort and every subgroup, one result each).

use serde::{Deserialize, Serialize};

use crate::error::EvalError;

/// Schema identifier a plan file must declare in its `schema` key.
pub const PLAN_SCHEMA: &str = "twinsim-validation-plan/1";

/// Default number of posterior proposals per posterior draw.
pub const DEFAULT_PROPOSALS_PER_DRAW: usize = 4;
/// Default number of patient-level bootstrap replicates.
pub const DEFAULT_BOOTSTRAP_REPLICATES: usize = 1000;
/// Default number of time bins of the prediction-corrected VPC.
pub const DEFAULT_VPC_BINS: usize = 5;
/// Default number of MMD permutations.
pub const DEFAULT_MMD_PERMUTATIONS: usize = 500;

// Upper limits of the plan's counts. The run allocates and loops in proportion to them (draws ×
// proposals per patient, bootstrap replicates, permutations), so a count in the billions would
// exhaust the memory or run for days; the limits are far above any useful value.

/// Most posterior-predictive draws per patient.
pub const MAX_DRAWS: usize = 100_000;
/// Most importance proposals per draw.
pub const MAX_PROPOSALS_PER_DRAW: usize = 1_000;
/// Most patient-level bootstrap replicates.
pub const MAX_BOOTSTRAP_REPLICATES: usize = 1_000_000;
/// Most time bins of the prediction-corrected VPC.
pub const MAX_VPC_BINS: usize = 1_000;
/// Most starts of the MAP search.
pub const MAX_MAP_STARTS: usize = 1_000;
/// Most MMD permutations.
pub const MAX_MMD_PERMUTATIONS: usize = 1_000_000;

/// A validation plan (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationPlan {
    /// Must be [`PLAN_SCHEMA`].
    pub schema: String,
    /// Identifier of the plan, e.g. `pheno-saem-refit`; part of the report id.
    pub id: String,
    /// One-line title shown at the top of the report.
    pub title: String,
    /// When the plan was fixed, as stated by its authors (the harness never reads the clock).
    pub fixed_on: String,
    /// Who wrote the plan.
    #[serde(default)]
    pub authors: Vec<String>,
    /// Question of interest and context of use (docs/domain.md §6.2).
    pub question: QuestionSpec,
    /// Model risk (docs/domain.md §6.3).
    pub risk: RiskSpec,
    /// Model versions under test.
    pub models: ModelsSpec,
    /// Evaluation (and optionally training) cohorts and their provenance.
    pub data: DataSpec,
    /// The forecast protocol.
    pub protocol: ProtocolSpec,
    /// An optional therapy decision whose flip rate between versions is reported.
    #[serde(default)]
    pub decision: Option<DecisionSpec>,
    /// Which metrics the report lists.
    #[serde(default)]
    pub metrics: MetricsSpec,
    /// Subgroups by baseline covariate.
    #[serde(default)]
    pub subgroups: Vec<SubgroupSpec>,
    /// Settings of the drift statistics.
    #[serde(default)]
    pub drift: DriftSpec,
    /// Acceptance criteria; at least one.
    pub criteria: Vec<CriterionSpec>,
    /// Known limitations, copied into the report.
    #[serde(default)]
    pub limitations: Vec<String>,
    /// The estimand of any treatment-effect claim (ICH E9(R1)); none when no such claim is made.
    #[serde(default)]
    pub estimand: Option<EstimandSpec>,
}

/// Question of interest and context of use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionSpec {
    /// The question the model helps answer.
    pub question_of_interest: String,
    /// The exact role of the model and for whom.
    pub context_of_use: String,
    /// Uses that this evaluation does not support.
    #[serde(default)]
    pub out_of_scope: Vec<String>,
}

/// A three-step ordinal scale for model influence and decision consequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

impl Level {
    /// 1 for low, 2 for medium, 3 for high.
    #[must_use]
    pub fn rank(self) -> u8 {
        match self {
            Self::Low => 1,
            Self::Medium => 2,
            Self::High => 3,
        }
    }

    /// The level's name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// Model risk as ASME V&V 40 frames it: model influence × decision consequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSpec {
    /// How much the model's output drives the decision.
    pub model_influence: Level,
    /// How bad a wrong decision would be.
    pub decision_consequence: Level,
    /// Why these levels.
    #[serde(default)]
    pub rationale: String,
}

/// Model versions: the candidate, the version it replaces, and the previous report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsSpec {
    /// The version under test, `id@version` (resolved by the caller, e.g. the catalogue).
    pub candidate: String,
    /// The version it replaces, compared on the same cohort with the same random streams.
    #[serde(default)]
    pub previous: Option<String>,
    /// What changed between the versions (the modification description of a change control
    /// plan).
    #[serde(default)]
    pub description_of_modifications: String,
    /// Path of the previous report (`report.json`), relative to the plan file; the report links
    /// to it by path and SHA-256.
    #[serde(default)]
    pub supersedes: Option<String>,
}

/// Cohort files (NONMEM-style CSV, paths relative to the plan file) and their provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// The frozen evaluation cohort.
    pub evaluation: String,
    /// Where it comes from, when it was collected, how it was frozen.
    pub evaluation_provenance: String,
    /// A training cohort for covariate drift, if one is available.
    #[serde(default)]
    pub training: Option<String>,
    /// Where the training cohort comes from.
    #[serde(default)]
    pub training_provenance: Option<String>,
    /// Whether and how the evaluation cohort is independent of the data the versions were
    /// built from.
    pub independence: String,
}

/// The forecast protocol: which observations condition the twin and which are forecast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolSpec {
    /// The model output whose observations are forecast and scored.
    pub output: String,
    /// Condition each patient's twin on its first k observations; forecast the later ones.
    #[serde(default)]
    pub condition_on_first: Option<usize>,
    /// Or: condition on every record up to this time (e.g. `336h`); forecast the later ones.
    #[serde(default)]
    pub origin: Option<String>,
    /// Posterior-predictive draws per patient.
    pub draws: usize,
    /// Importance proposals per draw. By default, this is [`DEFAULT_PROPOSALS_PER_DRAW`].
    #[serde(default = "default_proposals_per_draw")]
    pub proposals_per_draw: usize,
    /// Master seed of every random stream (posterior, residual error, bootstrap, permutations).
    pub seed: u64,
    /// Patient-level bootstrap replicates. By default, this is [`DEFAULT_BOOTSTRAP_REPLICATES`].
    #[serde(default = "default_bootstrap")]
    pub bootstrap_replicates: usize,
    /// Time bins of the prediction-corrected VPC. By default, this is [`DEFAULT_VPC_BINS`].
    #[serde(default = "default_vpc_bins")]
    pub vpc_bins: usize,
    /// Starts of the MAP search besides η = 0. By default, the engine's default.
    #[serde(default)]
    pub map_starts: Option<usize>,
    /// Patients whose forecast may fail (in either version) before the verdict fails. By
    /// default, this is `0`.
    #[serde(default)]
    pub max_failed_patients: usize,
    /// A time-to-event endpoint derived from the held-out observations.
    #[serde(default)]
    pub event: Option<EventSpec>,
}

fn default_proposals_per_draw() -> usize {
    DEFAULT_PROPOSALS_PER_DRAW
}
fn default_bootstrap() -> usize {
    DEFAULT_BOOTSTRAP_REPLICATES
}
fn default_vpc_bins() -> usize {
    DEFAULT_VPC_BINS
}
fn default_mmd_permutations() -> usize {
    DEFAULT_MMD_PERMUTATIONS
}
fn default_psi_moderate() -> f64 {
    0.1
}
fn default_psi_major() -> f64 {
    0.25
}
fn default_all() -> String {
    "all".to_owned()
}

/// A time-to-event endpoint: the first held-out observation beyond a threshold.
///
/// Time is counted from the forecast origin; a patient without such an observation is censored
/// at its last held-out observation. The predicted survival at time t is the share of
/// posterior-predictive draws whose simulated observations at the patient's held-out times up to
/// t all stay on the safe side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Name, e.g. `grade4`.
    pub name: String,
    /// The event is an observation below this value.
    #[serde(default)]
    pub below: Option<f64>,
    /// The event is an observation above this value.
    #[serde(default)]
    pub above: Option<f64>,
    /// Times after the origin (e.g. `168h`) for the Brier score; the last is the horizon of
    /// Uno's C and of `brier`, and all of them (at least two) make the IBS grid.
    pub brier_times: Vec<String>,
}

/// A therapy decision made at the forecast origin, per patient and version.
///
/// Therapies are listed in order of preference; a patient gets the first whose risk is at most
/// `max_risk`, or, if none is, the one with the lowest risk. The risk is the posterior-predictive
/// probability of `event` (or of the time-to-event `outcome`) within the horizon, or the mean of
/// a value `outcome`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionSpec {
    /// `NAME=REGIMEN` (regimen text or a built-in therapy of the model), starting at the origin.
    pub therapies: Vec<String>,
    /// How far after the origin the risk is assessed, e.g. `21d`.
    pub horizon: String,
    /// Spacing of the output grid over the horizon, e.g. `1h`.
    pub every: String,
    /// A model outcome, e.g. `grade4`.
    #[serde(default)]
    pub outcome: Option<String>,
    /// Or a threshold event on an output.
    #[serde(default)]
    pub event: Option<ThresholdSpec>,
    /// The largest acceptable risk.
    pub max_risk: f64,
}

/// An output crossing a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSpec {
    /// Output name.
    pub output: String,
    /// The event is the output falling below this value.
    #[serde(default)]
    pub below: Option<f64>,
    /// The event is the output rising above this value.
    #[serde(default)]
    pub above: Option<f64>,
}

/// The metrics listed in the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSpec {
    /// Metric names; empty means every metric the plan makes available.
    #[serde(default)]
    pub report: Vec<String>,
}

/// A subgroup of patients by a baseline covariate (the covariate on the patient's first record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubgroupSpec {
    /// Name shown in the report, e.g. `APGR < 5`.
    pub name: String,
    /// Covariate column.
    pub covariate: String,
    /// Members have a value below this.
    #[serde(default)]
    pub below: Option<f64>,
    /// Members have a value at least this.
    #[serde(default)]
    pub at_least: Option<f64>,
    /// Members have exactly this value (a category code).
    #[serde(default)]
    pub equals: Option<f64>,
}

impl SubgroupSpec {
    /// Whether a baseline covariate value belongs to the subgroup (NaN never does).
    #[must_use]
    pub fn contains(&self, value: f64) -> bool {
        if let Some(limit) = self.below {
            value < limit
        } else if let Some(limit) = self.at_least {
            value >= limit
        } else if let Some(level) = self.equals {
            (value - level).abs() <= 1e-9 * level.abs().max(1.0)
        } else {
            false
        }
    }

    /// The condition in words, e.g. `APGR < 5`.
    #[must_use]
    pub fn condition(&self) -> String {
        if let Some(limit) = self.below {
            format!("{} < {limit}", self.covariate)
        } else if let Some(limit) = self.at_least {
            format!("{} >= {limit}", self.covariate)
        } else if let Some(level) = self.equals {
            format!("{} = {level}", self.covariate)
        } else {
            String::new()
        }
    }
}

/// Settings of the drift statistics (docs/domain.md §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftSpec {
    /// PSI at or above this is moderate drift. By default, this is `0.1`.
    #[serde(default = "default_psi_moderate")]
    pub psi_moderate: f64,
    /// PSI at or above this is major drift. By default, this is `0.25`.
    #[serde(default = "default_psi_major")]
    pub psi_major: f64,
    /// Permutations of the MMD test. By default, this is [`DEFAULT_MMD_PERMUTATIONS`].
    #[serde(default = "default_mmd_permutations")]
    pub mmd_permutations: usize,
    /// Covariates compared between the cohorts; by default the candidate model's covariates.
    #[serde(default)]
    pub covariates: Option<Vec<String>>,
}

impl Default for DriftSpec {
    fn default() -> Self {
        Self {
            psi_moderate: default_psi_moderate(),
            psi_major: default_psi_major(),
            mmd_permutations: DEFAULT_MMD_PERMUTATIONS,
            covariates: None,
        }
    }
}

/// Whether a threshold criterion is decided on the point estimate or the CI bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecideOn {
    /// The bootstrap 95 % CI bound on the unfavourable side (the default).
    #[default]
    Ci,
    /// The point estimate.
    Point,
}

/// One acceptance criterion as written in the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionSpec {
    /// Name shown in the verdict; by default the rule (and subgroup).
    #[serde(default)]
    pub name: Option<String>,
    /// The rule (see the [module documentation](self)).
    pub rule: String,
    /// `all`, a subgroup name or `each`. By default, this is `all`.
    #[serde(default = "default_all")]
    pub subgroup: String,
    /// Point estimate or CI bound. By default, the CI bound.
    #[serde(default)]
    pub decide_on: DecideOn,
    /// Why the threshold or margin is what it is.
    #[serde(default)]
    pub rationale: String,
}

/// The estimand of a treatment-effect claim (ICH E9(R1)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimandSpec {
    /// Population.
    pub population: String,
    /// Endpoint (variable).
    pub endpoint: String,
    /// Treatment condition and comparator.
    pub treatment: String,
    /// Intercurrent events and the strategy for each.
    pub intercurrent_events: String,
    /// Population-level summary measure.
    pub summary_measure: String,
}

/// A comparison operator of a threshold criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// `>=`.
    AtLeast,
    /// `>`.
    Above,
    /// `<=`.
    AtMost,
    /// `<`.
    Below,
}

impl Comparison {
    /// The operator as written.
    #[must_use]
    pub fn symbol(self) -> &'static str {
        match self {
            Self::AtLeast => ">=",
            Self::Above => ">",
            Self::AtMost => "<=",
            Self::Below => "<",
        }
    }

    /// Whether `value OP threshold` holds.
    #[must_use]
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::AtLeast => value >= threshold,
            Self::Above => value > threshold,
            Self::AtMost => value <= threshold,
            Self::Below => value < threshold,
        }
    }

    /// Whether the favourable direction is up (so the CI's lower bound decides).
    #[must_use]
    pub fn wants_high(self) -> bool {
        matches!(self, Self::AtLeast | Self::Above)
    }
}

/// A parsed acceptance rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// `METRIC OP VALUE`.
    Threshold {
        /// Metric name.
        metric: String,
        /// Operator.
        comparison: Comparison,
        /// Threshold, in the metric's unit.
        value: f64,
    },
    /// `tost(BASE_diff, MARGIN)`.
    Equivalence {
        /// The paired-difference metric, e.g. `crps_diff`.
        metric: String,
        /// Equivalence margin δ > 0.
        margin: f64,
    },
    /// `noninferior(BASE_diff, MARGIN)`.
    NonInferiority {
        /// The paired-difference metric, e.g. `crps_diff`.
        metric: String,
        /// Non-inferiority margin δ > 0.
        margin: f64,
    },
}

impl Rule {
    /// The metric the rule reads.
    #[must_use]
    pub fn metric(&self) -> &str {
        match self {
            Self::Threshold { metric, .. }
            | Self::Equivalence { metric, .. }
            | Self::NonInferiority { metric, .. } => metric,
        }
    }
}

/// What a metric needs and how it is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A forecast metric of one version (per subgroup).
    Forecast,
    /// A forecast metric of one version computed over the whole cohort only.
    CohortOnly,
    /// A time-to-event metric of one version; needs `protocol.event`.
    Event,
    /// A paired per-patient difference candidate − previous; needs `models.previous`.
    Paired,
    /// The decision-flip rate; needs `models.previous` and `[decision]`.
    Decision,
}

/// One metric of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricInfo {
    /// Name used in plans and reports.
    pub name: &'static str,
    /// What it is, in a sentence.
    pub description: &'static str,
    /// Unit: `output` (the scored output's unit) or `1` (unit-free).
    pub unit: &'static str,
    /// Whether it gets a bootstrap CI.
    pub has_ci: bool,
    /// Whether lower values are better (a proper score); paired differences exist for these and
    /// for coverage and width.
    pub lower_is_better: bool,
    /// What it needs.
    pub kind: MetricKind,
}

const fn metric(
    name: &'static str,
    description: &'static str,
    unit: &'static str,
    has_ci: bool,
    lower_is_better: bool,
    kind: MetricKind,
) -> MetricInfo {
    MetricInfo {
        name,
        description,
        unit,
        has_ci,
        lower_is_better,
        kind,
    }
}

/// Every metric a plan can name, in report order.
pub const METRICS: &[MetricInfo] = &[
    metric(
        "mae",
        "mean absolute error of the predictive median",
        "output",
        true,
        true,
        MetricKind::Forecast,
    ),
    metric(
        "rmse",
        "root-mean-square error of the predictive mean",
        "output",
        true,
        true,
        MetricKind::Forecast,
    ),
    metric(
        "crps",
        "mean fair ensemble CRPS",
        "output",
        true,
        true,
        MetricKind::Forecast,
    ),
    metric(
        "energy",
        "mean fair energy score of each patient's held-out observations jointly",
        "output",
        true,
        true,
        MetricKind::Forecast,
    ),
    metric(
        "coverage50",
        "share of observations inside the central 50 % prediction interval",
        "1",
        true,
        false,
        MetricKind::Forecast,
    ),
    metric(
        "coverage80",
        "share of observations inside the central 80 % prediction interval",
        "1",
        true,
        false,
        MetricKind::Forecast,
    ),
    metric(
        "coverage90",
        "share of observations inside the central 90 % prediction interval",
        "1",
        true,
        false,
        MetricKind::Forecast,
    ),
    metric(
        "coverage95",
        "share of observations inside the central 95 % prediction interval",
        "1",
        true,
        false,
        MetricKind::Forecast,
    ),
    metric(
        "width50",
        "mean width of the central 50 % prediction interval",
        "output",
        true,
        false,
        MetricKind::Forecast,
    ),
    metric(
        "width80",
        "mean width of the central 80 % prediction interval",
        "output",
        true,
        false,
        MetricKind::Forecast,
    ),
    metric(
        "width90",
        "mean width of the central 90 % prediction interval",
        "output",
        true,
        false,
        MetricKind::Forecast,
    ),
    metric(
        "width95",
        "mean width of the central 95 % prediction interval",
        "output",
        true,
        false,
        MetricKind::Forecast,
    ),
    metric(
        "pit_ks_d",
        "Kolmogorov-Smirnov distance of the PIT values from U(0, 1)",
        "1",
        true,
        true,
        MetricKind::Forecast,
    ),
    metric(
        "pit_ks_p",
        "p-value of the PIT KS test (exact Kolmogorov distribution; PITs of one patient are \
         not independent)",
        "1",
        false,
        false,
        MetricKind::Forecast,
    ),
    metric(
        "npde_mean",
        "mean of the NPDE (0 if the model is right)",
        "1",
        true,
        false,
        MetricKind::Forecast,
    ),
    metric(
        "npde_variance",
        "variance of the NPDE (1 if the model is right)",
        "1",
        true,
        false,
        MetricKind::Forecast,
    ),
    metric(
        "npde_skewness",
        "skewness of the NPDE (0 if the model is right)",
        "1",
        true,
        false,
        MetricKind::Forecast,
    ),
    metric(
        "npde_kurtosis",
        "excess kurtosis of the NPDE (0 if the model is right)",
        "1",
        true,
        false,
        MetricKind::Forecast,
    ),
    metric(
        "vpc_outside",
        "share of pcVPC bin percentiles (5th, 50th, 95th) outside the simulated 95 % interval",
        "1",
        false,
        true,
        MetricKind::CohortOnly,
    ),
    metric(
        "harrell_c",
        "Harrell's C of the predicted event probability by the last held-out observation",
        "1",
        true,
        false,
        MetricKind::Event,
    ),
    metric(
        "uno_c",
        "Uno's C (IPCW, truncated at the last Brier time)",
        "1",
        true,
        false,
        MetricKind::Event,
    ),
    metric(
        "brier",
        "IPCW Brier score at the last Brier time",
        "1",
        true,
        true,
        MetricKind::Event,
    ),
    metric(
        "ibs",
        "integrated Brier score over the Brier times",
        "1",
        true,
        true,
        MetricKind::Event,
    ),
    metric(
        "crps_diff",
        "mean per-patient difference of the mean CRPS, candidate - previous",
        "output",
        true,
        true,
        MetricKind::Paired,
    ),
    metric(
        "energy_diff",
        "mean per-patient difference of the energy score, candidate - previous",
        "output",
        true,
        true,
        MetricKind::Paired,
    ),
    metric(
        "mae_diff",
        "mean per-patient difference of the mean absolute error, candidate - previous",
        "output",
        true,
        true,
        MetricKind::Paired,
    ),
    metric(
        "coverage90_diff",
        "mean per-patient difference of the 90 % interval coverage, candidate - previous",
        "1",
        true,
        false,
        MetricKind::Paired,
    ),
    metric(
        "width90_diff",
        "mean per-patient difference of the 90 % interval width, candidate - previous",
        "output",
        true,
        false,
        MetricKind::Paired,
    ),
    metric(
        "decision_flip_rate",
        "share of patients whose chosen therapy differs between the versions",
        "1",
        true,
        true,
        MetricKind::Decision,
    ),
];

/// The catalogue entry of `name`.
#[must_use]
pub fn metric_info(name: &str) -> Option<&'static MetricInfo> {
    METRICS.iter().find(|m| m.name == name)
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// "unknown metric 'x'; did you mean 'y'?" or the list of known metrics.
fn unknown_metric(name: &str) -> String {
    let best = METRICS
        .iter()
        .map(|m| (edit_distance(name, m.name), m.name))
        .min();
    match best {
        Some((distance, suggestion)) if distance <= 2 => {
            format!("unknown metric '{name}'; did you mean '{suggestion}'?")
        }
        _ => format!(
            "unknown metric '{name}'; known metrics: {}",
            METRICS
                .iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A criterion with its rule parsed and its subgroup resolved (`each` expanded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    /// Name shown in the verdict.
    pub name: String,
    /// The rule as written.
    pub rule_text: String,
    /// The parsed rule.
    pub rule: Rule,
    /// `all` or a subgroup name.
    pub subgroup: String,
    /// Point estimate or CI bound (threshold rules only).
    pub decide_on: DecideOn,
    /// Why.
    pub rationale: String,
}

impl ValidationPlan {
    /// Parses and checks a plan; `source_name` names the file in errors.
    ///
    /// # Errors
    /// [`EvalError::PlanToml`] for bad TOML, unknown or missing keys and wrong types (with line and
    /// column); [`EvalError::PlanField`] for a wrong schema, an unknown metric, a malformed
    /// criterion, a protocol that does not say which observations condition the twin, and the
    /// other checks listed in the [module documentation](self).
    pub fn parse(source_name: &str, text: &str) -> Result<Self, EvalError> {
        let plan: Self = toml::from_str(text).map_err(|error| EvalError::PlanToml {
            source_name: source_name.to_owned(),
            error,
        })?;
        plan.check(source_name)?;
        Ok(plan)
    }

    fn check(&self, source_name: &str) -> Result<(), EvalError> {
        let fail = |field: &str, message: String| EvalError::PlanField {
            source_name: source_name.to_owned(),
            field: field.to_owned(),
            message,
        };
        if self.schema != PLAN_SCHEMA {
            return Err(fail(
                "schema",
                format!("is '{}', expected '{PLAN_SCHEMA}'", self.schema),
            ));
        }
        for (field, value) in [
            ("id", &self.id),
            ("title", &self.title),
            ("fixed_on", &self.fixed_on),
            ("models.candidate", &self.models.candidate),
            ("data.evaluation", &self.data.evaluation),
            ("protocol.output", &self.protocol.output),
        ] {
            if value.trim().is_empty() {
                return Err(fail(field, "must not be empty".to_owned()));
            }
        }
        let protocol = &self.protocol;
        match (protocol.condition_on_first, &protocol.origin) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(fail(
                    "protocol",
                    "give exactly one of condition_on_first (a number of observations) and \
                     origin (a time such as \"336h\")"
                        .to_owned(),
                ));
            }
            (Some(0), None) => {
                return Err(fail(
                    "protocol.condition_on_first",
                    "must be at least 1 (use origin to forecast from the prior)".to_owned(),
                ));
            }
            _ => {}
        }
        if protocol.draws < 20 {
            return Err(fail(
                "protocol.draws",
                format!(
                    "is {}; at least 20 draws are needed for 95 % intervals",
                    protocol.draws
                ),
            ));
        }
        if protocol.proposals_per_draw == 0 {
            return Err(fail(
                "protocol.proposals_per_draw",
                "must be at least 1".to_owned(),
            ));
        }
        if protocol.bootstrap_replicates < 100 {
            return Err(fail(
                "protocol.bootstrap_replicates",
                format!("is {}; use at least 100", protocol.bootstrap_replicates),
            ));
        }
        if protocol.vpc_bins == 0 {
            return Err(fail("protocol.vpc_bins", "must be at least 1".to_owned()));
        }
        for (field, value, limit) in [
            ("protocol.draws", protocol.draws, MAX_DRAWS),
            (
                "protocol.proposals_per_draw",
                protocol.proposals_per_draw,
                MAX_PROPOSALS_PER_DRAW,
            ),
            (
                "protocol.bootstrap_replicates",
                protocol.bootstrap_replicates,
                MAX_BOOTSTRAP_REPLICATES,
            ),
            ("protocol.vpc_bins", protocol.vpc_bins, MAX_VPC_BINS),
            (
                "protocol.map_starts",
                protocol.map_starts.unwrap_or_default(),
                MAX_MAP_STARTS,
            ),
            (
                "drift.mmd_permutations",
                self.drift.mmd_permutations,
                MAX_MMD_PERMUTATIONS,
            ),
        ] {
            if value > limit {
                return Err(fail(
                    field,
                    format!("is {value}, above the limit of {limit}"),
                ));
            }
        }
        if let Some(event) = &protocol.event {
            check_one_threshold("protocol.event", event.below, event.above, &fail)?;
            if event.brier_times.len() < 2 {
                return Err(fail(
                    "protocol.event.brier_times",
                    "give at least two times (the IBS integrates over them)".to_owned(),
                ));
            }
        }
        if let Some(decision) = &self.decision {
            if decision.therapies.len() < 2 {
                return Err(fail(
                    "decision.therapies",
                    "give at least two therapies to choose between".to_owned(),
                ));
            }
            for (idx, therapy) in decision.therapies.iter().enumerate() {
                if therapy
                    .split_once('=')
                    .is_none_or(|(n, r)| n.trim().is_empty() || r.trim().is_empty())
                {
                    return Err(fail(
                        &format!("decision.therapies[{idx}]"),
                        format!("'{therapy}' is not NAME=REGIMEN"),
                    ));
                }
            }
            match (&decision.outcome, &decision.event) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(fail(
                        "decision",
                        "give exactly one of outcome (a model outcome) and event (an output \
                         threshold)"
                            .to_owned(),
                    ));
                }
                (None, Some(event)) => {
                    check_one_threshold("decision.event", event.below, event.above, &fail)?;
                }
                _ => {}
            }
            if !(decision.max_risk.is_finite()) {
                return Err(fail(
                    "decision.max_risk",
                    "must be a finite number".to_owned(),
                ));
            }
        }
        for (idx, subgroup) in self.subgroups.iter().enumerate() {
            let field = format!("subgroups[{idx}]");
            let n_conditions = [subgroup.below, subgroup.at_least, subgroup.equals]
                .iter()
                .filter(|c| c.is_some())
                .count();
            if n_conditions != 1 {
                return Err(fail(
                    &field,
                    "give exactly one of below, at_least and equals".to_owned(),
                ));
            }
            if ["all", "each"].contains(&subgroup.name.as_str()) || subgroup.name.is_empty() {
                return Err(fail(
                    &format!("{field}.name"),
                    format!(
                        "'{}' is reserved or empty; choose another name",
                        subgroup.name
                    ),
                ));
            }
            if self.subgroups[..idx]
                .iter()
                .any(|other| other.name == subgroup.name)
            {
                return Err(fail(
                    &format!("{field}.name"),
                    format!("'{}' is used twice", subgroup.name),
                ));
            }
        }
        if !(self.drift.psi_moderate > 0.0 && self.drift.psi_major > self.drift.psi_moderate) {
            return Err(fail(
                "drift",
                "need 0 < psi_moderate < psi_major".to_owned(),
            ));
        }
        if self.drift.mmd_permutations == 0 {
            return Err(fail(
                "drift.mmd_permutations",
                "must be at least 1".to_owned(),
            ));
        }
        for (idx, name) in self.metrics.report.iter().enumerate() {
            let field = format!("metrics.report[{idx}]");
            let info = metric_info(name).ok_or_else(|| fail(&field, unknown_metric(name)))?;
            self.check_available(info, &field, &fail)?;
        }
        if self.criteria.is_empty() {
            return Err(fail(
                "criteria",
                "give at least one acceptance criterion".to_owned(),
            ));
        }
        self.criteria_checked(source_name)?;
        Ok(())
    }

    /// Whether the plan makes `info` available (previous version, event, decision).
    fn check_available(
        &self,
        info: &MetricInfo,
        field: &str,
        fail: &dyn Fn(&str, String) -> EvalError,
    ) -> Result<(), EvalError> {
        let missing = match info.kind {
            MetricKind::Forecast | MetricKind::CohortOnly => None,
            MetricKind::Event => self
                .protocol
                .event
                .is_none()
                .then_some("a [protocol.event] time-to-event endpoint"),
            MetricKind::Paired => self
                .models
                .previous
                .is_none()
                .then_some("a previous version (models.previous)"),
            MetricKind::Decision => (self.models.previous.is_none() || self.decision.is_none())
                .then_some("a previous version (models.previous) and a [decision]"),
        };
        match missing {
            Some(what) => Err(fail(field, format!("metric '{}' needs {what}", info.name))),
            None => Ok(()),
        }
    }

    /// The metrics the report lists: the plan's list, or every available metric.
    #[must_use]
    pub fn reported_metrics(&self) -> Vec<&'static MetricInfo> {
        if self.metrics.report.is_empty() {
            METRICS
                .iter()
                .filter(|m| {
                    self.check_available(m, "", &|_, _| EvalError::PlanField {
                        source_name: String::new(),
                        field: String::new(),
                        message: String::new(),
                    })
                    .is_ok()
                })
                .collect()
        } else {
            METRICS
                .iter()
                .filter(|m| self.metrics.report.iter().any(|r| r == m.name))
                .collect()
        }
    }

    /// The acceptance criteria with rules parsed and `each` expanded, in plan order.
    ///
    /// # Errors
    /// [`EvalError::PlanField`] naming `criteria[i].rule` or `criteria[i].subgroup`.
    pub fn criteria_checked(&self, source_name: &str) -> Result<Vec<Criterion>, EvalError> {
        let fail = |field: &str, message: String| EvalError::PlanField {
            source_name: source_name.to_owned(),
            field: field.to_owned(),
            message,
        };
        let mut res = Vec::new();
        for (idx, spec) in self.criteria.iter().enumerate() {
            let field = format!("criteria[{idx}].rule");
            let rule = parse_rule(&spec.rule).map_err(|m| fail(&field, m))?;
            let info = metric_info(rule.metric())
                .ok_or_else(|| fail(&field, unknown_metric(rule.metric())))?;
            self.check_available(info, &field, &fail)?;
            match &rule {
                Rule::Threshold { .. } => {
                    if spec.decide_on == DecideOn::Ci && !info.has_ci {
                        return Err(fail(
                            &format!("criteria[{idx}].decide_on"),
                            format!(
                                "metric '{}' has no bootstrap CI; set decide_on = \"point\"",
                                info.name
                            ),
                        ));
                    }
                }
                Rule::Equivalence { metric, .. } | Rule::NonInferiority { metric, .. } => {
                    if info.kind != MetricKind::Paired {
                        return Err(fail(
                            &field,
                            format!(
                                "tost and noninferior take a paired difference such as \
                                 crps_diff, not '{metric}'"
                            ),
                        ));
                    }
                    if matches!(rule, Rule::NonInferiority { .. }) && !info.lower_is_better {
                        return Err(fail(
                            &field,
                            format!(
                                "noninferior needs a score where lower is better (crps_diff, \
                                 energy_diff, mae_diff), not '{metric}'"
                            ),
                        ));
                    }
                    if spec.decide_on == DecideOn::Point {
                        return Err(fail(
                            &format!("criteria[{idx}].decide_on"),
                            "tost and noninferior are decided on their 90 % interval; remove \
                             decide_on"
                                .to_owned(),
                        ));
                    }
                }
            }
            let subgroups: Vec<String> = match spec.subgroup.as_str() {
                "all" => vec!["all".to_owned()],
                "each" => std::iter::once("all".to_owned())
                    .chain(self.subgroups.iter().map(|s| s.name.clone()))
                    .collect(),
                name => {
                    if !self.subgroups.iter().any(|s| s.name == name) {
                        return Err(fail(
                            &format!("criteria[{idx}].subgroup"),
                            format!(
                                "'{name}' is not a subgroup; use all, each or one of: {}",
                                self.subgroups
                                    .iter()
                                    .map(|s| s.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    }
                    vec![name.to_owned()]
                }
            };
            for subgroup in subgroups {
                if subgroup != "all"
                    && matches!(info.kind, MetricKind::CohortOnly | MetricKind::Decision)
                {
                    return Err(fail(
                        &format!("criteria[{idx}].subgroup"),
                        format!(
                            "metric '{}' is computed for the whole cohort only",
                            info.name
                        ),
                    ));
                }
                let base = spec
                    .name
                    .clone()
                    .unwrap_or_else(|| spec.rule.trim().to_owned());
                let name = if subgroup == "all" {
                    base
                } else {
                    format!("{base} [{subgroup}]")
                };
                res.push(Criterion {
                    name,
                    rule_text: spec.rule.trim().to_owned(),
                    rule: rule.clone(),
                    subgroup,
                    decide_on: spec.decide_on,
                    rationale: spec.rationale.clone(),
                });
            }
        }
        Ok(res)
    }
}

fn check_one_threshold(
    field: &str,
    below: Option<f64>,
    above: Option<f64>,
    fail: &dyn Fn(&str, String) -> EvalError,
) -> Result<(), EvalError> {
    match (below, above) {
        (Some(v), None) | (None, Some(v)) if v.is_finite() => Ok(()),
        _ => Err(fail(
            field,
            "give exactly one finite threshold, below or above".to_owned(),
        )),
    }
}

/// Parses a finite number.
fn number(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("'{}' is not a finite number", text.trim()))
}

/// Parses `METRIC OP NUMBER`, `tost(METRIC, MARGIN)` or `noninferior(METRIC, MARGIN)`.
///
/// # Errors
/// A message saying what was expected.
pub fn parse_rule(text: &str) -> Result<Rule, String> {
    let text = text.trim();
    for (prefix, equivalence) in [("tost(", true), ("noninferior(", false)] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let inner = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("'{text}' lacks a closing parenthesis"))?;
            let (metric, margin) = inner
                .split_once(',')
                .ok_or_else(|| format!("'{text}': expected {prefix}METRIC_diff, MARGIN)"))?;
            let margin = number(margin)?;
            if margin <= 0.0 {
                return Err(format!("'{text}': the margin must be positive"));
            }
            let metric = metric.trim().to_owned();
            return Ok(if equivalence {
                Rule::Equivalence { metric, margin }
            } else {
                Rule::NonInferiority { metric, margin }
            });
        }
    }
    // Two-character operators first, so that ">=" is not read as ">".
    for (symbol, comparison) in [
        (">=", Comparison::AtLeast),
        ("<=", Comparison::AtMost),
        (">", Comparison::Above),
        ("<", Comparison::Below),
    ] {
        if let Some((metric, value)) = text.split_once(symbol) {
            let metric = metric.trim();
            if metric.is_empty() || metric.contains(char::is_whitespace) {
                return Err(format!("'{text}': expected METRIC {symbol} NUMBER"));
            }
            return Ok(Rule::Threshold {
                metric: metric.to_owned(),
                comparison,
                value: number(value)?,
            });
        }
    }
    Err(format!(
        "'{text}' is not a rule; write METRIC >= NUMBER (or >, <=, <), tost(METRIC_diff, MARGIN) \
         or noninferior(METRIC_diff, MARGIN)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
schema = "twinsim-validation-plan/1"
id = "t"
title = "test"
fixed_on = "2026-01-01"
[question]
question_of_interest = "q"
context_of_use = "c"
[risk]
model_influence = "low"
decision_consequence = "high"
[models]
candidate = "pheno@2"
previous = "pheno@1"
[data]
evaluation = "data.csv"
evaluation_provenance = "p"
independence = "i"
[protocol]
output = "CP"
condition_on_first = 1
draws = 50
seed = 1
[[criteria]]
rule = "coverage90 >= 0.8"
"#;

    fn with(extra: &str) -> Result<ValidationPlan, EvalError> {
        ValidationPlan::parse("plan.toml", &format!("{MINIMAL}{extra}"))
    }

    #[test]
    fn minimal_plan_parses_with_defaults() {
        let plan = with("").unwrap();
        assert_eq!(plan.protocol.proposals_per_draw, DEFAULT_PROPOSALS_PER_DRAW);
        assert_eq!(plan.protocol.bootstrap_replicates, 1000);
        assert_eq!(plan.criteria[0].subgroup, "all");
        assert_eq!(plan.criteria[0].decide_on, DecideOn::Ci);
        // Paired metrics are available (a previous version is named); event and decision
        // metrics are not.
        let names: Vec<&str> = plan.reported_metrics().iter().map(|m| m.name).collect();
        assert!(names.contains(&"crps_diff") && !names.contains(&"uno_c"));
        assert!(!names.contains(&"decision_flip_rate"));
    }

    #[test]
    fn rules_parse() {
        assert_eq!(
            parse_rule(" coverage90 >= 0.85 ").unwrap(),
            Rule::Threshold {
                metric: "coverage90".to_owned(),
                comparison: Comparison::AtLeast,
                value: 0.85
            }
        );
        assert_eq!(
            parse_rule("crps<2").unwrap(),
            Rule::Threshold {
                metric: "crps".to_owned(),
                comparison: Comparison::Below,
                value: 2.0
            }
        );
        assert_eq!(
            parse_rule("tost(crps_diff, 0.5)").unwrap(),
            Rule::Equivalence {
                metric: "crps_diff".to_owned(),
                margin: 0.5
            }
        );
        assert!(
            parse_rule("tost(crps_diff, -1)")
                .unwrap_err()
                .contains("positive")
        );
        assert!(
            parse_rule("crps >= one")
                .unwrap_err()
                .contains("not a finite number")
        );
        assert!(
            parse_rule("crps == 1")
                .unwrap_err()
                .contains("is not a rule")
        );
        assert!(parse_rule("crps").unwrap_err().contains("is not a rule"));
    }

    #[test]
    fn misspelled_metric_gets_a_suggestion_naming_the_field() {
        let err = with("[[criteria]]\nrule = \"crsp <= 1\"\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "plan.toml: criteria[1].rule: unknown metric 'crsp'; did you mean 'crps'?"
        );
        let err = with("[metrics]\nreport = [\"coverage99\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("metrics.report[0]") && err.contains("'coverage90'"),
            "{err}"
        );
    }

    #[test]
    fn misspelled_key_is_a_toml_error_with_its_line() {
        let text = MINIMAL.replace("draws = 50", "drawz = 50");
        let err = ValidationPlan::parse("plan.toml", &text).unwrap_err();
        // The parser's message is the error's source.
        let err = format!(
            "{err}: {}",
            std::error::Error::source(&err).map_or(String::new(), ToString::to_string)
        );
        assert!(err.contains("plan.toml") && err.contains("drawz"), "{err}");
        assert!(err.contains("line 22"), "{err}");
    }

    #[test]
    fn inconsistent_plans_are_rejected() {
        for (extra, needle) in [
            (
                "[[criteria]]\nrule = \"uno_c >= 0.6\"\n",
                "needs a [protocol.event]",
            ),
            (
                "[[criteria]]\nrule = \"noninferior(coverage90_diff, 0.1)\"\n",
                "lower is better",
            ),
            (
                "[[criteria]]\nrule = \"tost(crps, 0.1)\"\n",
                "paired difference",
            ),
            (
                "[[criteria]]\nrule = \"pit_ks_p >= 0.05\"\n",
                "decide_on = \"point\"",
            ),
            (
                "[[criteria]]\nrule = \"crps <= 1\"\nsubgroup = \"girls\"\n",
                "not a subgroup",
            ),
            (
                "[[subgroups]]\nname = \"low\"\ncovariate = \"APGR\"\nbelow = 5\nat_least = 1\n",
                "exactly one of below",
            ),
        ] {
            let err = with(extra).unwrap_err().to_string();
            assert!(err.contains(needle), "{extra}: {err}");
        }
        let both = MINIMAL.replace(
            "condition_on_first = 1",
            "condition_on_first = 1\norigin = \"2h\"",
        );
        let err = ValidationPlan::parse("plan.toml", &both)
            .unwrap_err()
            .to_string();
        assert!(err.contains("exactly one of condition_on_first"), "{err}");
    }

    #[test]
    fn each_expands_to_the_cohort_and_every_subgroup() {
        let plan = with(
            "[[subgroups]]\nname = \"APGR < 5\"\ncovariate = \"APGR\"\nbelow = 5\n\
             [[criteria]]\nrule = \"crps <= 3\"\nsubgroup = \"each\"\n",
        )
        .unwrap();
        let criteria = plan.criteria_checked("plan.toml").unwrap();
        let names: Vec<&str> = criteria.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["coverage90 >= 0.8", "crps <= 3", "crps <= 3 [APGR < 5]"]
        );
        assert!(plan.subgroups[0].contains(4.0) && !plan.subgroups[0].contains(5.0));
        assert!(!plan.subgroups[0].contains(f64::NAN));
    }
}
