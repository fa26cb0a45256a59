//! Fits that cannot end well end with a diagnosis naming the parameter (or subject) and the
//! iteration — never a panic or NaN estimates — and the objective and diagnostics of a model
//! linear in η equal their closed forms.

use nalgebra::{DMatrix, DVector};
mod common;

use common::Decay;
use twin_engine::Model;
use twin_engine::model::{
    DoseModifiers, ModelSpec, OutputSpec, ParameterSpec, StateSpec, TimeUnit,
};
use twin_engine::nmcsv::parse_dataset;
use twin_engine::population::{RandomEffect, ResidualError, Transform, VariabilityModel};
use twin_fit::FitError;
use twin_fit::estimate::{FitOptions, fit};
use twin_fit::parameters::ParameterSettings;

/// Eight subjects with K = 0.5·e^η (η = ±0.1, ±0.2…) observed at 0, 1, 2, 4 and 6 h (the
/// history starts at the first record), plus a fixed pattern of errors of ±0.05 or 0.
fn decay_data() -> String {
    let mut text = String::from("ID,TIME,DV\n");
    let errors = [0.05, -0.05, 0.0, -0.05, 0.05];
    for (id, eta) in [0.1, -0.1, 0.2, -0.2, 0.05, -0.05, 0.15, -0.15]
        .iter()
        .enumerate()
    {
        for (j, t) in [0.0, 1.0, 2.0, 4.0, 6.0].iter().enumerate() {
            let k: f64 = 0.5 * f64::exp(*eta);
            let y = 10.0 * (-k * t).exp() + errors[(j + id) % 5];
            text.push_str(&format!("{},{t},{y:.6}\n", id + 1));
        }
    }
    text
}

#[test]
fn a_parameter_pushed_past_its_bound_is_named_with_the_iteration() {
    // The data need K ≈ 0.5 /h; the model allows at most 0.3.
    let dataset = parse_dataset("decay.csv", &decay_data()).unwrap();
    let model = Decay::new(0.2, 0.3, ResidualError::Additive { sd: 0.3 });
    let err = fit(&model, &dataset, &FitOptions::default(), &mut |_| {}).unwrap_err();
    println!("{err}");
    match &err {
        FitError::Diverged {
            iteration,
            parameter,
            message,
        } => {
            assert_eq!(parameter, "K");
            assert!(*iteration >= 1, "iteration {iteration}");
            assert!(message.contains("upper bound 0.3"), "{message}");
        }
        other => panic!("expected a divergence, got {other:?}"),
    }
    assert!(err.to_string().contains("iteration"));
}

#[test]
fn the_same_data_within_bounds_fit_and_recover_the_rate() {
    // The control of the test above: with room to move, K goes to the data's 0.5 (the
    // geometric mean of the subjects' rates) within 2 %.
    let dataset = parse_dataset("decay.csv", &decay_data()).unwrap();
    let model = Decay::new(0.2, 10.0, ResidualError::Additive { sd: 0.3 });
    let result = fit(&model, &dataset, &FitOptions::default(), &mut |_| {}).unwrap();
    let k = result
        .estimates
        .iter()
        .find(|e| e.name == "K")
        .unwrap()
        .value;
    assert!((k / 0.5 - 1.0).abs() < 0.02, "K {k}");
    assert!(result.estimates.iter().all(|e| e.value.is_finite()));
}

#[test]
fn a_parameter_without_information_stops_the_fit_before_the_first_iteration() {
    // IV boluses into CENTRAL: the absorption rate KA and its variance cannot matter.
    let mut text = String::from("ID,TIME,AMT,CMT,EVID,MDV,DV\n");
    for (id, k) in [(1, 0.05_f64), (2, 0.06), (3, 0.045), (4, 0.07)] {
        text.push_str(&format!("{id},0,100,2,1,1,.\n"));
        for t in [1.0, 2.0, 4.0, 8.0, 12.0, 24.0] {
            text.push_str(&format!(
                "{id},{t},0,2,0,0,{:.5}\n",
                100.0 / 70.0 * (-k * t).exp()
            ));
        }
    }
    let dataset = parse_dataset("iv.csv", &text).unwrap();
    let model = twin_models::pk::OneCompartment::new();
    let err = fit(&model, &dataset, &FitOptions::default(), &mut |_| {}).unwrap_err();
    println!("{err}");
    match err {
        FitError::NotIdentifiable {
            iteration,
            parameters,
            ..
        } => {
            assert_eq!(iteration, 0);
            assert_eq!(parameters, ["KA", "OMEGA(KA)"]);
        }
        other => panic!("expected non-identifiability, got {other:?}"),
    }
}

#[test]
fn two_parameters_that_only_act_together_are_named_by_the_covariance_step() {
    // F1 (bioavailability) and V enter oral data only as F1/V: estimating both leaves a flat
    // valley, which the Hessian's null direction names.
    let path = format!(
        "{}/../testdata/third_party/nlmixr2data/theo_sd.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let dataset = parse_dataset(&path, &std::fs::read_to_string(&path).unwrap()).unwrap();
    let model = twin_models::pk::OneCompartment::new();
    let options = FitOptions {
        parameters: ParameterSettings {
            estimate: vec!["F1".to_owned()],
            error_models: vec![("CP".to_owned(), twin_fit::parameters::ErrorModel::Additive)],
            initial: vec![
                ("CL".to_owned(), 3.0),
                ("V".to_owned(), 30.0),
                ("KA".to_owned(), 1.5),
            ],
            ..ParameterSettings::default()
        },
        max_iterations: 60,
        ..FitOptions::default()
    };
    let err = fit(&model, &dataset, &options, &mut |_| {}).unwrap_err();
    println!("{err}");
    let parameters = match &err {
        FitError::NotIdentifiable { parameters, .. } => parameters.clone(),
        FitError::NoConvergence { message, .. } => {
            panic!("expected the covariance step to name F1 and V, got: {message}")
        }
        other => panic!("expected non-identifiability, got {other:?}"),
    };
    assert!(parameters.contains(&"F1".to_owned()), "{parameters:?}");
}

#[test]
fn an_impossible_observation_names_the_subject_and_line() {
    // An exponential error cannot explain a positive level where the model predicts 0: a
    // level at the time of an oral dose (line 4 of the file, subject 2).
    let text = "ID,TIME,AMT,CMT,EVID,MDV,DV\n\
                1,0,100,1,1,1,.\n1,2,0,2,0,0,1.1\n\
                2,0,100,1,1,1,.\n2,0,0,2,0,0,0.7\n2,2,0,2,0,0,1.2\n";
    let dataset = parse_dataset("oral.csv", text).unwrap();
    let model = twin_models::pk::OneCompartment::new();
    let err = fit(&model, &dataset, &FitOptions::default(), &mut |_| {}).unwrap_err();
    let message = err.to_string();
    println!("{message}");
    assert!(matches!(err, FitError::Initial { .. }), "{err:?}");
    assert!(message.contains("ID 2"), "{message}");
}

/// `y = A + B·t` with additive random effects on A and B and additive error: linear in η, so
/// FOCE-I is exact and every number has a closed form.
struct Line {
    spec: ModelSpec,
}

const LINE_TYPICAL: [f64; 2] = [2.0, 0.5];
const LINE_OMEGA: [f64; 4] = [0.5, 0.2, 0.2, 0.3];
const LINE_SD: f64 = 0.4;

impl Line {
    fn new() -> Self {
        let parameter =
            |name, typical| ParameterSpec::new(name, "-", typical, (-100.0, 100.0), "test");
        Self {
            spec: ModelSpec {
                id: "line",
                version: "1",
                description: "test",
                time_unit: TimeUnit::Hour,
                states: vec![StateSpec {
                    name: "ONE",
                    unit: "-",
                }],
                parameters: vec![
                    parameter("A", LINE_TYPICAL[0]),
                    parameter("B", LINE_TYPICAL[1]),
                ],
                covariates: vec![],
                outputs: vec![OutputSpec {
                    name: "Y",
                    unit: "-",
                }],
                dosing: vec![DoseModifiers::default()],
                default_dose_compartment: 0,
                variability: VariabilityModel {
                    random_effects: vec![
                        RandomEffect {
                            parameter: 0,
                            transform: Transform::Additive,
                        },
                        RandomEffect {
                            parameter: 1,
                            transform: Transform::Additive,
                        },
                    ],
                    omega: LINE_OMEGA.to_vec(),
                    covariate_effects: vec![],
                    residual: vec![ResidualError::Additive { sd: LINE_SD }],
                },
                outcomes: vec![],
                therapies: vec![],
                evidence: "test",
                documentation: "test",
            },
        }
    }
}

impl Model for Line {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }
    fn rhs(&self, _t: f64, _y: &[f64], _p: &[f64], dy: &mut [f64]) {
        dy[0] = 0.0;
    }
    fn initial_state(&self, _p: &[f64], y: &mut [f64]) {
        y[0] = 1.0;
    }
    fn outputs(&self, t: f64, _y: &[f64], p: &[f64], out: &mut [f64]) {
        out[0] = p[0] + p[1] * t;
    }
}

#[test]
fn a_model_linear_in_eta_has_the_exact_likelihood_and_diagnostics() {
    // Two subjects; at the model's values (no iteration) FOCE-I's OFV is the exact −2 log of
    // the marginal normal density N(y; X·θ, Z Ω Zᵀ + σ² I) without the n·ln 2π constant; η̂ is
    // the posterior mean (Ω⁻¹ + ZᵀZ/σ²)⁻¹ Zᵀ(y − Xθ)/σ²; CWRES = L⁻¹(y − Xθ) with L Lᵀ the
    // marginal covariance; IWRES = (y − Xθ − Z η̂)/σ; η-shrinkage 1 − SD(η̂)/ω. All computed
    // here with nalgebra, independently of twin-fit.
    let subjects: [(&[f64], &[f64]); 2] = [
        (&[0.0, 1.0, 3.0], &[2.3, 2.4, 4.1]),
        (&[0.5, 2.0], &[1.2, 1.9]),
    ];
    let mut text = String::from("ID,TIME,DV\n");
    for (id, (times, values)) in subjects.iter().enumerate() {
        for (t, y) in times.iter().zip(*values) {
            text.push_str(&format!("{},{t},{y}\n", id + 1));
        }
    }
    let dataset = parse_dataset("line.csv", &text).unwrap();
    let model = Line::new();
    let options = FitOptions {
        max_iterations: 0,
        ..FitOptions::default()
    };
    let result = fit(&model, &dataset, &options, &mut |_| {}).unwrap();

    let omega = DMatrix::from_row_slice(2, 2, &LINE_OMEGA);
    let sigma2 = LINE_SD * LINE_SD;
    let mut ofv = 0.0;
    let mut etas = Vec::new();
    // Central differences of a linear model are exact to rounding; one Gauss–Newton step
    // solves the inner problem exactly.
    const TOL: f64 = 1e-8;
    for (i, (times, values)) in subjects.iter().enumerate() {
        let n = times.len();
        let z = DMatrix::from_fn(n, 2, |r, c| if c == 0 { 1.0 } else { times[r] });
        let r = DVector::from_fn(n, |j, _| {
            values[j] - LINE_TYPICAL[0] - LINE_TYPICAL[1] * times[j]
        });
        let c = &z * &omega * z.transpose() + DMatrix::identity(n, n) * sigma2;
        let chol = c.clone().cholesky().unwrap();
        ofv += c.determinant().ln() + r.dot(&chol.solve(&r));
        let precision = omega.clone().try_inverse().unwrap() + z.transpose() * &z / sigma2;
        let eta = precision.try_inverse().unwrap() * z.transpose() * &r / sigma2;
        let cwres = chol.l().solve_lower_triangular(&r).unwrap();
        let iwres = (&r - &z * &eta) / LINE_SD;
        let got = &result.subjects[i];
        for k in 0..2 {
            assert!(
                (got.eta[k] - eta[k]).abs() < TOL,
                "η̂ {:?} vs {eta}",
                got.eta
            );
        }
        for (j, d) in got.diagnostics.iter().enumerate() {
            let pred = LINE_TYPICAL[0] + LINE_TYPICAL[1] * times[j];
            assert!((d.pred - pred).abs() < TOL, "PRED {} vs {pred}", d.pred);
            assert!((d.ipred - (pred + (z.row(j) * &eta)[0])).abs() < TOL);
            assert!(
                (d.cwres - cwres[j]).abs() < TOL,
                "CWRES {} vs {}",
                d.cwres,
                cwres[j]
            );
            assert!(
                (d.iwres - iwres[j]).abs() < TOL,
                "IWRES {} vs {}",
                d.iwres,
                iwres[j]
            );
        }
        etas.push(eta);
    }
    assert!(
        (result.ofv - ofv).abs() < TOL,
        "OFV {} vs exact {ofv}",
        result.ofv
    );
    for k in 0..2 {
        // Two values: SD = |a − b|/√2.
        let sd = (etas[0][k] - etas[1][k]).abs() / 2.0_f64.sqrt();
        let expected = 1.0 - sd / LINE_OMEGA[3 * k].sqrt();
        assert!((result.shrinkage[k].1 - expected).abs() < TOL);
    }
}
