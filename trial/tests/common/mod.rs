//! A linear-Gaussian twin model with closed-form answers, for testing the statistical properties
//! of the trial machinery quickly, and helpers to parse designs that use it.
//!
//! `linear-test@1` (time in days), for a patient with covariate `X ~ N(0, 1)`:
//!
//! ```text
//! Y(t) = BASE + η1 + (SLOPE + B_X·X + η2 + EFFECT·on_drug)·t,   η1 ~ N(0, ω1²), η2 ~ N(0, ω2²)
//! observed y = Y + ε,  ε ~ N(0, σ²)
//! event time T ~ Exponential(HAZARD·e^(LOG_HR·treated)), NaN after the last visit
//! ```
//!
//! `on_drug` is 1 while a zero-order input runs into `DRUG` (the `active` therapy: 1 mg over 10 d).
//! The prognostic version `linear-prognostic@1` has the same structure without random effects, so
//! its score is `E[Y(1) | X] = BASE + SLOPE + B_X·X` under control.

#![allow(dead_code)]

use twin_engine::model::{
    CovariateSpec, DoseModifiers, Interpolation, Model, ModelSpec, OutcomeKind, OutcomeSpec,
    OutputSpec, ParameterSpec, StateSpec, TherapySpec, TimeUnit,
};
use twin_engine::population::{
    Population, RandomEffect, ResidualError, Transform, VariabilityModel,
};
use twin_engine::random::RandomStream;
use twin_trial::design::{Design, Inputs};

/// Parameters of the test model.
#[derive(Debug, Clone, Copy)]
pub struct LinearParams {
    pub base: f64,
    pub slope: f64,
    pub effect: f64,
    pub b_x: f64,
    pub omega1: f64,
    pub omega2: f64,
    pub sigma: f64,
    pub hazard: f64,
    pub log_hr: f64,
    pub random_effects: bool,
}

/// The default scenario: ω1² = ω2² = σ² = 1, B_X = 2, so that with the η-free prognostic model
/// ρ² = B_X² / (B_X² + ω1² + ω2² + σ²) = 4/7.
pub const DEFAULT: LinearParams = LinearParams {
    base: 50.0,
    slope: 0.0,
    effect: -0.5,
    b_x: 2.0,
    omega1: 1.0,
    omega2: 1.0,
    sigma: 1.0,
    hazard: 1.0,
    log_hr: -0.4,
    random_effects: true,
};

pub struct LinearTestModel {
    spec: ModelSpec,
    b_x: f64,
}

const BASE: usize = 0;
const SLOPE: usize = 1;
const EFFECT: usize = 2;
const HAZARD: usize = 3;
const LOG_HR: usize = 4;

impl LinearTestModel {
    pub fn new(id: &'static str, p: LinearParams) -> Self {
        let parameter = |name, typical| ParameterSpec::new(name, "-", typical, (-1e6, 1e6), "test");
        let (random_effects, omega) = if p.random_effects {
            (
                vec![
                    RandomEffect {
                        parameter: BASE,
                        transform: Transform::Additive,
                    },
                    RandomEffect {
                        parameter: SLOPE,
                        transform: Transform::Additive,
                    },
                ],
                vec![p.omega1 * p.omega1, 0.0, 0.0, p.omega2 * p.omega2],
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Self {
            b_x: p.b_x,
            spec: ModelSpec {
                id,
                version: "1",
                description: "linear-Gaussian test model",
                time_unit: TimeUnit::Day,
                states: vec![
                    StateSpec {
                        name: "LEVEL",
                        unit: "-",
                    },
                    StateSpec {
                        name: "DRUG",
                        unit: "mg",
                    },
                ],
                parameters: vec![
                    parameter("BASE", p.base),
                    parameter("SLOPE", p.slope),
                    parameter("EFFECT", p.effect),
                    parameter("HAZARD", p.hazard),
                    parameter("LOG_HR", p.log_hr),
                ],
                covariates: vec![CovariateSpec {
                    name: "X",
                    unit: "-",
                    reference: 0.0,
                    lower: -10.0,
                    upper: 10.0,
                    interpolation: Interpolation::Locf,
                }],
                outputs: vec![
                    OutputSpec {
                        name: "Y",
                        unit: "-",
                    },
                    OutputSpec {
                        name: "DRUGAMT",
                        unit: "mg",
                    },
                ],
                dosing: vec![DoseModifiers::default(); 2],
                default_dose_compartment: 1,
                variability: VariabilityModel {
                    random_effects,
                    omega,
                    covariate_effects: Vec::new(),
                    residual: vec![ResidualError::Additive { sd: p.sigma }, ResidualError::None],
                },
                outcomes: vec![OutcomeSpec {
                    name: "event",
                    unit: "d",
                    kind: OutcomeKind::TimeToEvent,
                    description: "exponential event, hazard HAZARD*exp(LOG_HR*treated)",
                }],
                therapies: vec![
                    TherapySpec {
                        name: "placebo",
                        regimen: "none",
                        description: "no drug",
                    },
                    TherapySpec {
                        name: "active",
                        regimen: "1 mg cmt=2 over 10d",
                        description: "drug on for 10 days",
                    },
                ],
                evidence: "test",
                documentation: "test",
            },
        }
    }
}

impl Model for LinearTestModel {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }
    fn rhs(&self, _t: f64, _y: &[f64], p: &[f64], dy: &mut [f64]) {
        dy[0] = p[SLOPE];
        dy[1] = 0.0;
    }
    fn rhs_with_inputs(&self, _t: f64, _y: &[f64], p: &[f64], inputs: &[f64], dy: &mut [f64]) {
        let on = if inputs[1] > 0.0 { 1.0 } else { 0.0 };
        dy[0] = p[SLOPE] + p[EFFECT] * on;
        dy[1] = inputs[1];
    }
    fn initial_state(&self, p: &[f64], y: &mut [f64]) {
        y[0] = p[BASE];
        y[1] = 0.0;
    }
    fn individual_parameters(
        &self,
        population: &Population,
        covariates: &[f64],
        eta: &[f64],
        params: &mut [f64],
    ) {
        population.individual_parameters(covariates, eta, params);
        let x = if covariates[0].is_nan() {
            0.0
        } else {
            covariates[0]
        };
        params[SLOPE] += self.b_x * x;
    }
    fn sample_covariates(&self, stream: &mut RandomStream, covariates: &mut [f64]) {
        covariates[0] = stream.normal();
    }
    fn outcomes(
        &self,
        times: &[f64],
        outputs: &[f64],
        params: &[f64],
        _covariates: &[f64],
        stream: &mut RandomStream,
        out: &mut [f64],
    ) {
        let u = stream.uniform();
        let last = *times.last().unwrap_or(&0.0);
        let treated = outputs[outputs.len() - 1] > 0.0;
        let rate = params[HAZARD] * (params[LOG_HR] * f64::from(u8::from(treated))).exp();
        let t = -u.ln() / rate;
        out[0] = if t <= last { t } else { f64::NAN };
    }
    fn outputs(&self, _t: f64, y: &[f64], _p: &[f64], out: &mut [f64]) {
        out[0] = y[0];
        out[1] = y[1];
    }
    fn advance_exact(&self, p: &[f64], y: &mut [f64], inputs: &[f64], dt: f64) -> bool {
        let on = if inputs[1] > 0.0 { 1.0 } else { 0.0 };
        y[0] += (p[SLOPE] + p[EFFECT] * on) * dt;
        y[1] += inputs[1] * dt;
        true
    }
}

/// Model lookup for designs: the test models, else the catalogue.
pub fn models(p: LinearParams) -> impl Fn(&str) -> Result<Box<dyn Model>, String> {
    move |name: &str| match name {
        "linear-test@1" | "linear-test" => Ok(Box::new(LinearTestModel::new("linear-test", p))),
        "linear-prognostic@1" | "linear-prognostic" => Ok(Box::new(LinearTestModel::new(
            "linear-prognostic",
            LinearParams {
                random_effects: false,
                ..p
            },
        ))),
        other => twin_trial::design::catalogue_model(other),
    }
}

/// Parses `text` as `design.toml` with the test models and the given files.
pub fn parse_with(
    text: &str,
    p: LinearParams,
    files: &[(&str, &str)],
) -> Result<Design, twin_trial::TrialError> {
    let models = models(p);
    let lookup = |path: &str| -> Result<String, String> {
        files
            .iter()
            .find(|(name, _)| *name == path)
            .map(|(_, text)| (*text).to_owned())
            .ok_or_else(|| "No such file".to_owned())
    };
    Design::parse(
        "design.toml",
        text,
        &Inputs {
            models: &models,
            files: &lookup,
        },
    )
}

/// Parses `text` with the default test models and no files.
pub fn parse(text: &str) -> Result<Design, twin_trial::TrialError> {
    parse_with(text, DEFAULT, &[])
}

/// A design on the test model: value of Y at day 1, a binary event by 12 h, time to event; the
/// analyses of every method. `{patients}`, `{replicates}` and `{extra_trial}` are substituted.
pub fn linear_design(patients: u64, replicates: u64, extra_trial: &str) -> String {
    format!(
        r#"
[trial]
name = "LIN"
model = "linear-test@1"
patients = {patients}
replicates = {replicates}
seed = 7
truth_patients = 20000
{extra_trial}

[[arms]]
name = "placebo"
regimen = "placebo"
allocation = 0.5
control = true

[[arms]]
name = "active"
regimen = "active"
allocation = 0.5

[visits]
times = ["0d", "1d"]

[[endpoints]]
name = "Y1"
type = "value"
output = "Y"
at = "1d"

[[endpoints]]
name = "EV12H"
type = "binary"
outcome = "event"
by = "12h"

[[endpoints]]
name = "TTE"
type = "time-to-event"
outcome = "event"

[[analyses]]
name = "dim"
endpoint = "Y1"
method = "difference-in-means"

[[analyses]]
name = "ancova"
endpoint = "Y1"
method = "ancova"
covariates = ["baseline"]

[[analyses]]
name = "procova"
endpoint = "Y1"
method = "procova"

[[analyses]]
name = "risk-difference"
endpoint = "EV12H"
method = "difference-in-means"

[[analyses]]
name = "logrank"
endpoint = "TTE"
method = "log-rank"

[[analyses]]
name = "cox-x"
endpoint = "TTE"
method = "cox"
covariates = ["X"]

[prognostic]
model = "linear-prognostic@1"
historical_patients = 4000
"#
    )
}
