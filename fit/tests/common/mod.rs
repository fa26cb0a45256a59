//! Shared by the fit tests: Wang (2007)'s one-state decay model and reading the reference data.

// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use twin_engine::Model;
use twin_engine::model::{
    DoseModifiers, ModelSpec, OutputSpec, ParameterSpec, StateSpec, TimeUnit,
};
use twin_engine::nmcsv::parse_dataset;
use twin_engine::population::{RandomEffect, ResidualError, Transform, VariabilityModel};
use twin_engine::records::Dataset;

/// Path of a file in the repository's test data (see `testdata/README.md`).
pub fn testdata(path: &str) -> String {
    format!("{}/../testdata/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// The NONMEM-style dataset at `path` in the shared reference data.
pub fn load(path: &str) -> Dataset {
    let path = testdata(path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    parse_dataset(&path, &text).unwrap()
}

/// Wang (2007)'s model: `y = 10·e^(−K·t)`, `K = θ·e^η`, ω² = 0.04; no dose, the state starts at
/// 10 and is advanced exactly.
pub struct Decay {
    spec: ModelSpec,
}

impl Decay {
    /// Typical `K` (1/h), its upper bound and the residual error.
    pub fn new(typical_k: f64, upper_k: f64, residual: ResidualError) -> Self {
        Self {
            spec: ModelSpec {
                id: "decay",
                version: "1",
                description: "Wang 2007 toy model",
                time_unit: TimeUnit::Hour,
                states: vec![StateSpec {
                    name: "Y",
                    unit: "-",
                }],
                parameters: vec![ParameterSpec::new(
                    "K",
                    "1/h",
                    typical_k,
                    (0.0, upper_k),
                    "Wang 2007",
                )],
                covariates: vec![],
                outputs: vec![OutputSpec {
                    name: "Y",
                    unit: "-",
                }],
                dosing: vec![DoseModifiers::default()],
                default_dose_compartment: 0,
                variability: VariabilityModel {
                    random_effects: vec![RandomEffect {
                        parameter: 0,
                        transform: Transform::LogNormal,
                    }],
                    omega: vec![0.04],
                    covariate_effects: vec![],
                    residual: vec![residual],
                },
                outcomes: vec![],
                therapies: vec![],
                evidence: "test",
                documentation: "test",
            },
        }
    }
}

impl Model for Decay {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }
    fn rhs(&self, _t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) {
        dy[0] = -p[0] * y[0];
    }
    fn initial_state(&self, _p: &[f64], y: &mut [f64]) {
        y[0] = 10.0;
    }
    fn outputs(&self, _t: f64, y: &[f64], _p: &[f64], out: &mut [f64]) {
        out[0] = y[0];
    }
    fn advance_exact(&self, p: &[f64], y: &mut [f64], _inputs: &[f64], dt: f64) -> bool {
        y[0] *= (-p[0] * dt).exp();
        true
    }
}
