//! Cohort runs: paired arms, invariance to wave size and patient split, failing patients.

use twin_engine::model::{
    DoseModifiers, Model, ModelSpec, OutputSpec, ParameterSpec, StateSpec, TimeUnit,
};
use twin_engine::montecarlo::{Arm, CohortOptions, PatientTrajectories, run_cohort};
use twin_engine::population::{RandomEffect, Transform, VariabilityModel};
use twin_engine::regimen::Regimen;
use twin_models::pk::TwoCompartment;

fn arm(model: &dyn Model, name: &str, text: &str) -> Arm {
    Arm {
        name: name.into(),
        regimen: Regimen::parse(text, model.spec()).unwrap(),
        rules: vec![],
    }
}

#[test]
fn arms_of_one_patient_share_eta_so_linear_pk_doubles_exactly() {
    // Linear PK: the same patient (same η) given twice the dose has twice the concentration at
    // every time. Different η in the two arms would break this for almost every patient.
    let model = TwoCompartment::new();
    let arms = [
        arm(&model, "100", "100 mg q12h x6"),
        arm(&model, "200", "200 mg q12h x6"),
    ];
    let options = CohortOptions::new(200, 5, (0..=96).map(f64::from).collect());
    let mut checked = 0;
    let mut on_wave = |wave: &[PatientTrajectories]| {
        for p in wave {
            let n = p.values.len() / 2;
            for (low, high) in p.values[..n].iter().zip(&p.values[n..]) {
                assert!(
                    (2.0 * low - high).abs() <= 1e-12 * high.abs().max(1e-12),
                    "patient {}: {low} vs {high}",
                    p.patient
                );
            }
            checked += 1;
        }
    };
    let summary = run_cohort(&model, &arms, &options, &mut on_wave).unwrap();
    assert_eq!(checked, 200);
    assert_eq!(summary.arms[0].n_ok, 200);
    // Patients differ from each other (η is sampled): the 5th and 95th percentiles differ.
    let at_12h = &summary.arms[0].outputs[0][12];
    assert!(at_12h.quantile(0.95).unwrap() > 1.2 * at_12h.quantile(0.05).unwrap());
}

#[test]
fn summaries_do_not_depend_on_wave_size_or_patient_split() {
    let model = TwoCompartment::new();
    let arms = [arm(&model, "a", "100 mg q24h x3")];
    let mut options = CohortOptions::new(600, 9, (0..=72).map(f64::from).collect());
    let whole = run_cohort(&model, &arms, &options, &mut |_| {}).unwrap();
    options.wave_size = 37;
    let small_waves = run_cohort(&model, &arms, &options, &mut |_| {}).unwrap();
    assert!(whole == small_waves, "wave size changed the summary");
    options.patients = 0..250;
    let mut first = run_cohort(&model, &arms, &options, &mut |_| {}).unwrap();
    options.patients = 250..600;
    let second = run_cohort(&model, &arms, &options, &mut |_| {}).unwrap();
    first.merge(&second).unwrap();
    assert!(
        whole == first,
        "merging two patient ranges differs from one run"
    );
}

/// `dy/dt = r·y²` from y(0) = 1 explodes at t = 1/r; r = 0.05·e^η with ω² = 4, so patients
/// with η > ln(20/48) ≈ −0.88 explode before 48 h and the others do not.
struct Explosive {
    spec: ModelSpec,
}

impl Explosive {
    fn new() -> Self {
        Self {
            spec: ModelSpec {
                id: "explosive",
                version: "1",
                description: "test model that blows up for some patients",
                time_unit: TimeUnit::Hour,
                states: vec![StateSpec {
                    name: "Y",
                    unit: "-",
                }],
                parameters: vec![ParameterSpec {
                    name: "R",
                    unit: "1/h",
                    typical: 0.05,
                    lower: 0.0,
                    upper: 1e9,
                    source: "test",
                }],
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
                    omega: vec![4.0],
                    covariate_effects: vec![],
                    residual: vec![],
                },
                outcomes: vec![],
                therapies: vec![],
                evidence: "test",
                documentation: "test",
            },
        }
    }
}

impl Model for Explosive {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }
    fn rhs(&self, _t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) {
        dy[0] = p[0] * y[0] * y[0];
    }
    fn initial_state(&self, _p: &[f64], y: &mut [f64]) {
        y[0] = 1.0;
    }
    fn outputs(&self, _t: f64, y: &[f64], _p: &[f64], out: &mut [f64]) {
        out[0] = y[0];
    }
}

#[test]
fn failing_patients_are_named_with_their_time_and_do_not_stop_the_cohort() {
    let model = Explosive::new();
    let arms = [Arm {
        name: "none".into(),
        regimen: Regimen::parse("none", model.spec()).unwrap(),
        rules: vec![],
    }];
    let options = CohortOptions::new(100, 3, (0..=48).map(f64::from).collect());
    let summary = run_cohort(&model, &arms, &options, &mut |_| {}).unwrap();
    let arm = &summary.arms[0];
    assert!(
        arm.n_failed > 10 && arm.n_ok > 10,
        "ok {} failed {}",
        arm.n_ok,
        arm.n_failed
    );
    assert_eq!(arm.n_ok + arm.n_failed, 100);
    let failure = &summary.failures[0];
    assert!(
        failure
            .message
            .starts_with(&format!("patient {} failed", failure.patient)),
        "{}",
        failure.message
    );
    assert!(failure.message.contains("t = "), "{}", failure.message);
    // Summaries hold only the patients that succeeded.
    assert_eq!(arm.outputs[0][48].count(), arm.n_ok);
}

#[test]
fn given_eta_draws_covariates_and_history_replace_sampling() {
    // Forecast mode: every "patient" is a given η draw of one real patient with a dose history.
    // With two identical draws at η = 0 the cohort collapses onto the typical trajectory of the
    // history followed by the arm's regimen, which `simulate_records` gives independently.
    use twin_engine::records::Record;
    use twin_engine::simulate::simulate_records;
    use twin_engine::solver::SolverOptions;
    let model = TwoCompartment::new();
    let n_eta = model.spec().variability.random_effects.len();
    let history = Regimen::parse("50 mg iv", model.spec()).unwrap().doses;
    let future = arm(&model, "next", "100 mg oral at 12h");
    let times: Vec<f64> = (0..=24).map(f64::from).collect();
    let mut options = CohortOptions::new(2, 1, times.clone());
    options.eta_draws = Some(vec![vec![0.0; n_eta]; 2]);
    options.covariates = Some(vec![]);
    options.history = history.clone();
    let summary = run_cohort(&model, std::slice::from_ref(&future), &options, &mut |_| {}).unwrap();
    let mut records = history;
    records.extend(future.regimen.doses.clone());
    records.extend(times.iter().map(|&t| Record::output_time(t)));
    records.sort_by(|a, b| {
        a.time
            .total_cmp(&b.time)
            .then(b.evid.is_dose().cmp(&a.evid.is_dose()))
    });
    let out = simulate_records(
        &model,
        &records,
        &model.spec().typical_parameters(),
        SolverOptions::default(),
    )
    .unwrap();
    let typical: Vec<f64> = records
        .iter()
        .zip(&out)
        .filter(|(r, _)| !r.evid.is_dose())
        .map(|(_, v)| *v)
        .collect();
    for (t, expected) in typical.iter().enumerate() {
        let acc = &summary.arms[0].outputs[0][t];
        // The mean is exact; the quantile sketch is within its relative accuracy (1e-3).
        assert!(
            (acc.mean() - expected).abs() <= 1e-12 * expected.abs().max(1e-12),
            "t = {t}"
        );
        let p95 = acc.quantile(0.95).unwrap();
        assert!(
            (p95 - expected).abs() <= 1e-3 * expected.abs().max(1e-12),
            "t = {t}: {p95} vs {expected}"
        );
    }
    // Wrong-sized draws are rejected.
    options.eta_draws = Some(vec![vec![0.0; n_eta + 1]; 2]);
    assert!(run_cohort(&model, &[future], &options, &mut |_| {}).is_err());
}

#[test]
fn arms_continuing_a_shared_history_match_arms_run_alone() {
    // With a recorded history the cohort integrates the history once per patient and continues
    // each arm from a copy of the simulator. Arms whose first dose comes at the same time must
    // give the bits of running each arm alone (where nothing is shared); the trajectories are
    // compared through the whole per-patient output (history and forecast) and the outcomes.
    use twin_models::neutropenia::KloftDocetaxelV1;
    let model = KloftDocetaxelV1::new();
    let history = Regimen::parse("75 mg/m2 iv over 1h", model.spec()).unwrap();
    let covariates = vec![2.0, 1.0, 0.0, 1.5, 1.7];
    let bsa = covariates[4];
    let mut history_records = history.doses.clone();
    for r in &mut history_records {
        twin_engine::regimen::scale_dose(r, bsa);
    }
    let arms = [
        arm(&model, "d75", "75 mg/m2 iv over 1h at 21d"),
        arm(&model, "d100", "100 mg/m2 iv over 1h at 21d"),
    ];
    let times: Vec<f64> = (0..=84).map(|i| f64::from(i) * 12.0).collect();
    let mut options = CohortOptions::new(6, 3, times);
    options.covariates = Some(covariates);
    options.history = history_records;
    options.outcome_start = 21.0 * 24.0;
    let collect = |arms: &[Arm]| {
        let mut all: Vec<PatientTrajectories> = Vec::new();
        run_cohort(&model, arms, &options, &mut |wave| {
            all.extend_from_slice(wave)
        })
        .unwrap();
        all
    };
    let together = collect(&arms);
    for (arm_idx, single) in arms.iter().enumerate() {
        let alone = collect(std::slice::from_ref(single));
        for (both, one) in together.iter().zip(&alone) {
            let n = one.values.len();
            let shared = &both.values[arm_idx * n..(arm_idx + 1) * n];
            assert!(
                shared
                    .iter()
                    .zip(&one.values)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "arm {arm_idx}, patient {}",
                one.patient
            );
            let k = one.outcomes.len();
            assert!(
                both.outcomes[arm_idx * k..(arm_idx + 1) * k]
                    .iter()
                    .zip(&one.outcomes)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
            );
        }
    }
}
