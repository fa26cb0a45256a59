//! FOCE-I against NONMEM: the objective at fixed values (Wang 2007) and the estimates on real
//! data (phenobarbital), plus theophylline printed for the record.
//!
//! Sources of the reference numbers:
//! - Wang (2007), J Pharmacokinet Pharmacodyn 34:575–593, its toy example: NONMEM's
//!   FOCE-I OFV on `Wang2007.csv` at k = 0.5, ω² = 0.04, σ² = 0.1 is 39.458 (proportional error)
//!   and −2.059 (additive), without the n·ln 2π constant.
//! - Phenobarbital: NONMEM 7 FOCE-I (`METHOD=1 INTERACTION`) estimates of Pharmpy's
//!   `pheno_real` run on `pheno_sd.csv` (docs/models/pheno.md and `twin_models::pheno`):
//!   θ = (0.00469555, 0.984258, 0.15892), ω² = (0.0293508, 0.027906), σ² = 0.013241,
//!   OFV 586.276 (without the constant).

mod common;

use common::{Decay, load, testdata};
use twin_engine::nmcsv::parse_dataset;
use twin_engine::population::ResidualError;
use twin_engine::records::Dataset;
use twin_fit::estimate::{FitOptions, FitResult, fit};
use twin_fit::parameters::{ErrorModel, ParameterSettings};

/// Wang2007.csv with its `Y` column read as `DV`.
fn wang_dataset() -> Dataset {
    let path = testdata("third_party/nlmixr2data/Wang2007.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    assert_eq!(header.trim(), "\"ID\",\"Time\",\"Y\"");
    parse_dataset(&path, &format!("ID,TIME,DV\n{rows}")).unwrap()
}

#[test]
fn foce_i_objective_equals_nonmem_on_wang_2007() {
    // Everything fixed at Wang's values, no iteration: the OFV at those values.
    let dataset = wang_dataset();
    let sd = 0.1_f64.sqrt();
    for (residual, nonmem) in [
        (ResidualError::Proportional { sd }, 39.458),
        (ResidualError::Additive { sd }, -2.059),
    ] {
        let model = Decay::new(0.5, 100.0, residual);
        let options = FitOptions {
            max_iterations: 0,
            parameters: ParameterSettings {
                fix: vec![
                    ("K".to_owned(), 0.5),
                    ("OMEGA(K)".to_owned(), 0.04),
                    ("SD(Y)".to_owned(), sd),
                ],
                ..ParameterSettings::default()
            },
            ..FitOptions::default()
        };
        let result = fit(&model, &dataset, &options, &mut |_| {}).unwrap();
        println!(
            "Wang 2007 {residual:?}: FOCE-I OFV {:.4} (NONMEM {nonmem})",
            result.ofv
        );
        // The acceptance tolerance is 0.01; NONMEM prints three decimals, and we agree to those.
        assert!(
            (result.ofv - nonmem).abs() < 1e-3,
            "{} vs {nonmem}",
            result.ofv
        );
    }
}

/// NONMEM's θ1, θ2, θ3 from the engine's parameterisation of pheno: `V` is θ2·(1 + θ3) and the
/// `V~APGR` shift is `−θ3/(1 + θ3)` (see `twin_models::pheno`).
fn pheno_thetas(result: &FitResult) -> [f64; 3] {
    let value = |name: &str| {
        result
            .estimates
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no estimate {name}"))
            .value
    };
    let shift = value("V~APGR");
    let theta3 = 1.0 / (1.0 + shift) - 1.0;
    [value("CL"), value("V") * (1.0 + shift), theta3]
}

fn print_result(name: &str, result: &FitResult) {
    println!(
        "{name}: OFV {:.4} (without n·ln 2π), {} subjects, {} observations, {} iterations, {} \
         OFV evaluations; {}",
        result.ofv,
        result.n_subjects,
        result.n_observations,
        result.iterations.len() - 1,
        result.n_evaluations,
        result.convergence
    );
    for e in &result.estimates {
        println!(
            "  {:<14} {:>12.6} {} SE {} RSE {}",
            e.name,
            e.value,
            if e.estimated { "est" } else { "fix" },
            e.se.map_or("-".to_owned(), |s| format!("{s:.5}")),
            e.rse_percent
                .map_or("-".to_owned(), |r| format!("{r:.1} %"))
        );
    }
    for (name, s) in &result.shrinkage {
        println!("  η-shrinkage {name}: {:.1} %", 100.0 * s);
    }
    println!("  ε-shrinkage: {:.1} %", 100.0 * result.epsilon_shrinkage);
}

#[test]
fn pheno_foce_i_reproduces_nonmem() {
    let dataset = load("third_party/nlmixr2data/pheno_sd.csv");
    let model = twin_models::pheno::PhenoV1::new();
    // Start away from NONMEM's optimum (the model's own values are that optimum).
    let options = FitOptions {
        parameters: ParameterSettings {
            initial: vec![
                ("CL".to_owned(), 0.004),
                ("V".to_owned(), 1.0),
                ("V~APGR".to_owned(), -0.1),
                ("OMEGA(CL)".to_owned(), 0.05),
                ("OMEGA(V)".to_owned(), 0.05),
                ("SD(CP)".to_owned(), 0.15),
            ],
            ..ParameterSettings::default()
        },
        ..FitOptions::default()
    };
    let result = fit(&model, &dataset, &options, &mut |_| {}).unwrap();
    print_result("pheno FOCE-I", &result);
    let theta = pheno_thetas(&result);
    println!("  NONMEM parameterisation: θ = {theta:?}");
    let nonmem_theta = [0.004_695_55, 0.984_258, 0.158_92];
    for (got, expected) in theta.iter().zip(nonmem_theta) {
        // Acceptance: θ within 5 % of NONMEM's.
        assert!(
            (got / expected - 1.0).abs() < 0.05,
            "θ {got} vs NONMEM {expected}"
        );
    }
    let omega = &result.values.omega;
    for (got, expected) in [omega[0], omega[3]].iter().zip([0.029_350_8, 0.027_906]) {
        // Acceptance: Ω within 15 % of NONMEM's.
        assert!(
            (got / expected - 1.0).abs() < 0.15,
            "ω² {got} vs NONMEM {expected}"
        );
    }
    let ResidualError::Proportional { sd } = result.values.residual[0] else {
        panic!("pheno's error model is proportional");
    };
    // Acceptance: σ² within 10 % of NONMEM's.
    assert!((sd * sd / 0.013_241 - 1.0).abs() < 0.10, "σ² {}", sd * sd);
    // Acceptance: NONMEM's OFV 586.276 ± 0.1 without the constant.
    assert!((result.ofv - 586.276).abs() < 0.1, "OFV {}", result.ofv);
    assert!(result.covariance.is_some());
    // Every estimated parameter has a finite, positive standard error.
    for e in result.estimates.iter().filter(|e| e.estimated) {
        let se = e.se.unwrap();
        assert!(se.is_finite() && se > 0.0, "{}: SE {se}", e.name);
    }
}

#[test]
fn theophylline_one_compartment_fit_is_recorded() {
    // theo_sd.csv: 12 subjects, oral dose (rxode2 EVID 101 = bolus into the depot), levels in
    // mg/L with a pre-dose level at time 0, so the error model is additive (an exponential error
    // cannot explain a positive level where the model predicts 0). No NONMEM reference is at
    // hand for this parameterisation: the estimates are printed for the record, and must be a
    // converged fit with finite standard errors.
    let dataset = load("third_party/nlmixr2data/theo_sd.csv");
    let model = twin_models::pk::OneCompartment::new();
    let options = FitOptions {
        parameters: ParameterSettings {
            error_models: vec![("CP".to_owned(), ErrorModel::Additive)],
            initial: vec![
                ("CL".to_owned(), 3.0),
                ("V".to_owned(), 30.0),
                ("KA".to_owned(), 1.5),
            ],
            ..ParameterSettings::default()
        },
        ..FitOptions::default()
    };
    let result = fit(&model, &dataset, &options, &mut |_| {}).unwrap();
    print_result("theo_sd FOCE-I (pk-1cmt, additive error)", &result);
    assert!(result.convergence.starts_with("converged"));
    assert!(result.ofv.is_finite());
    for e in result.estimates.iter().filter(|e| e.estimated) {
        assert!(
            e.value.is_finite() && e.se.is_some_and(f64::is_finite),
            "{e:?}"
        );
    }
}
