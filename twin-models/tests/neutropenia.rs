//! Friberg myelosuppression models (docs/models/neutropenia.md) against independent numbers.
//!
//! The reference numbers are the [D] check numbers of docs/models/neutropenia.md (typical subject:
//! all η = 0, reference covariates, 180 mg docetaxel over 1 h with Bruno PK, or 410 µmol paclitaxel
//! over 3 h). Each is reproduced here by a fixed-step RK4 integration written in this file from the
//! equations of docs/models/neutropenia.md (not from the model code), and the engine path
//! (`simulate_records` on a 0.1-h grid, then the model's outcomes) is compared with that
//! integration.

// Reference values use the platform's maths library, independent of twin_engine::math.
#![allow(clippy::disallowed_methods)]

use twin_engine::Model;
use twin_engine::model::OutcomeKind;
use twin_engine::montecarlo::{
    Arm, CohortOptions, Crossing, PatientTrajectories, ThresholdEvent, run_cohort,
};
use twin_engine::population::Population;
use twin_engine::predict::population_of;
use twin_engine::random::{Purpose, RandomStream};
use twin_engine::records::Record;
use twin_engine::regimen::Regimen;
use twin_engine::simulate::simulate_records;
use twin_engine::solver::SolverOptions;
use twin_models::neutropenia::{FribergDocetaxelV1, FribergPaclitaxelV1, KloftDocetaxelV1};

/// RK4 step, h. A power of two so that infusion ends (1 h, 3 h) fall exactly on a step; with the
/// fastest PK eigenvalue 7.79/h, h·λ ≈ 0.008 and the RK4 error is far below the compared digits.
const STEP_H: f64 = 1.0 / 1024.0;

/// Spacing of the engine's output grid, h.
const GRID_H: f64 = 0.1;

/// Agreement required between the engine (rtol 1e-10) and the RK4 reference; measured worst
/// differences are below 1e-10 for the cells and 3e-7 for the concentration.
const ENGINE_REL_TOL: f64 = 1e-6;

/// Engine solver tolerances for the cross-checks (tight, so that the comparison tests the model
/// equations rather than the default tolerance).
fn tight() -> SolverOptions {
    SolverOptions {
        rtol: 1e-10,
        atol: 1e-12,
        ..SolverOptions::default()
    }
}

/// Bruno 1996 docetaxel micro-constants (docs/models/neutropenia.md §Docetaxel pharmacokinetics):
/// k10, k12, k21, k13, k31 (1/h), V1 (L).
const BRUNO: [f64; 6] = [5.2, 1.06, 1.51, 1.26, 0.084, 7.4];

/// Cell-chain constants of one reference integration.
#[derive(Clone, Copy)]
struct Chain {
    base: f64,
    mtt: f64,
    gamma: f64,
}

/// The Friberg cell chain of docs/models/neutropenia.md §Equations, written out for the reference
/// integration: cells = [Prol, T1, T2, T3, Circ].
fn reference_cells(chain: Chain, effect: f64, cells: &[f64], d: &mut [f64]) {
    let ktr = 4.0 / chain.mtt;
    d[0] = ktr * cells[0] * (1.0 - effect) * (chain.base / cells[4]).powf(chain.gamma)
        - ktr * cells[0];
    for i in 1..5 {
        d[i] = ktr * (cells[i - 1] - cells[i]);
    }
}

/// Right-hand side of a reference integration: `f(y, infusion rate into state 0, dy)`.
type Derivative = dyn Fn(&[f64], f64, &mut [f64]);

/// Trajectory of a reference integration, sampled every [`STEP_H`].
struct Reference {
    cells: Vec<f64>,
    concentration: Vec<f64>,
}

/// What the table of docs/models/neutropenia.md §Check numbers reports, from a densely sampled
/// trajectory.
#[derive(Debug)]
struct Summary {
    nadir: f64,
    nadir_time: f64,
    first_below_half: Option<f64>,
    time_below_half: f64,
    back_to_baseline: Option<f64>,
}

impl Reference {
    /// Integrates `y' = f(y, rate)` with classic RK4 from `y0`, an infusion `rate` into state 0
    /// for `infusion_h`, up to `horizon_h`. `observe` gives (cells, concentration) of a state.
    fn integrate(
        y0: &[f64],
        rate: f64,
        infusion_h: f64,
        horizon_h: f64,
        f: &Derivative,
        observe: &dyn Fn(&[f64]) -> (f64, f64),
    ) -> Self {
        let n = y0.len();
        let n_steps = (horizon_h / STEP_H).round() as usize;
        let infusion_steps = (infusion_h / STEP_H).round() as usize;
        let mut y = y0.to_vec();
        let (mut k1, mut k2, mut k3, mut k4, mut tmp) = (
            vec![0.0; n],
            vec![0.0; n],
            vec![0.0; n],
            vec![0.0; n],
            vec![0.0; n],
        );
        let mut res = Self {
            cells: Vec::with_capacity(n_steps + 1),
            concentration: Vec::with_capacity(n_steps + 1),
        };
        let record = |y: &[f64], res: &mut Self| {
            let (cells, conc) = observe(y);
            res.cells.push(cells);
            res.concentration.push(conc);
        };
        record(&y, &mut res);
        for step in 0..n_steps {
            let r = if step < infusion_steps { rate } else { 0.0 };
            f(&y, r, &mut k1);
            for i in 0..n {
                tmp[i] = y[i] + 0.5 * STEP_H * k1[i];
            }
            f(&tmp, r, &mut k2);
            for i in 0..n {
                tmp[i] = y[i] + 0.5 * STEP_H * k2[i];
            }
            f(&tmp, r, &mut k3);
            for i in 0..n {
                tmp[i] = y[i] + STEP_H * k3[i];
            }
            f(&tmp, r, &mut k4);
            for i in 0..n {
                y[i] += STEP_H / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
            }
            record(&y, &mut res);
        }
        res
    }

    fn time(idx: usize) -> f64 {
        idx as f64 * STEP_H
    }

    fn summary(&self, base: f64) -> Summary {
        let (nadir_idx, &nadir) = self
            .cells
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .unwrap();
        // Linear interpolation between the two samples around the crossing.
        let first_below_half = self.cells.windows(2).enumerate().find_map(|(i, w)| {
            (w[1] < 0.5).then(|| Self::time(i) + STEP_H * (w[0] - 0.5) / (w[0] - w[1]))
        });
        let n_below = self.cells.iter().filter(|&&c| c < 0.5).count();
        let back_to_baseline = self.cells[nadir_idx..]
            .iter()
            .position(|&c| c >= base)
            .map(|i| Self::time(nadir_idx + i));
        Summary {
            nadir,
            nadir_time: Self::time(nadir_idx),
            first_below_half,
            time_below_half: n_below as f64 * STEP_H,
            back_to_baseline,
        }
    }
}

/// Reference integration of a docetaxel model: Bruno PK, 180 mg over 1 h, E = slope·Cp/MW·1000.
fn docetaxel_reference(chain: Chain, slope_per_um: f64, mw: f64, horizon_h: f64) -> Reference {
    let [k10, k12, k21, k13, k31, v1] = BRUNO;
    let f = move |y: &[f64], rate: f64, dy: &mut [f64]| {
        dy[0] = rate - (k10 + k12 + k13) * y[0] + k21 * y[1] + k31 * y[2];
        dy[1] = k12 * y[0] - k21 * y[1];
        dy[2] = k13 * y[0] - k31 * y[2];
        let cp_um = y[0] / v1 / mw * 1000.0;
        reference_cells(chain, slope_per_um * cp_um, &y[3..], &mut dy[3..]);
    };
    let mut y0 = vec![0.0; 8];
    y0[3..].fill(chain.base);
    Reference::integrate(&y0, 180.0, 1.0, horizon_h, &f, &|y: &[f64]| {
        (y[7], y[0] / v1)
    })
}

/// Reference integration of the paclitaxel model (docs/models/neutropenia.md §Friberg 2002
/// paclitaxel): 410 µmol over 3 h.
fn paclitaxel_reference(chain: Chain, slopu: f64, pk: [f64; 4], horizon_h: f64) -> Reference {
    let [cl, v1, q, v2] = pk;
    let f = move |y: &[f64], rate: f64, dy: &mut [f64]| {
        dy[0] = rate - (q / v1 + cl / v1) * y[0] + q / v2 * y[1];
        dy[1] = q / v1 * y[0] - q / v2 * y[1];
        reference_cells(chain, slopu * y[0] / v1, &y[2..], &mut dy[2..]);
    };
    let mut y0 = vec![0.0; 7];
    y0[2..].fill(chain.base);
    Reference::integrate(&y0, 410.0 / 3.0, 3.0, horizon_h, &f, &|y: &[f64]| {
        (y[6], y[0] / v1)
    })
}

/// Engine run of `regimen` with parameters `params`, outputs on a [`GRID_H`] grid to `horizon_h`.
fn engine_grid(
    model: &dyn Model,
    regimen: &str,
    params: &[f64],
    horizon_h: f64,
) -> (Vec<f64>, Vec<f64>) {
    let mut records = Regimen::parse(regimen, model.spec()).unwrap().doses;
    let n_grid = (horizon_h / GRID_H).round() as usize;
    let times: Vec<f64> = (0..=n_grid).map(|i| i as f64 * GRID_H).collect();
    records.extend(times.iter().map(|&t| Record::output_time(t)));
    // Stable: the dose at t = 0 stays before the output record at t = 0.
    records.sort_by(|a, b| a.time.total_cmp(&b.time));
    let all = simulate_records(model, &records, params, tight()).unwrap();
    let n_out = model.spec().outputs.len();
    let outputs: Vec<f64> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.evid.code() == 2)
        .flat_map(|(i, _)| all[i * n_out..(i + 1) * n_out].to_vec())
        .collect();
    (times, outputs)
}

/// The model's outcomes for one output grid, by name.
fn outcomes(model: &dyn Model, times: &[f64], outputs: &[f64], params: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; model.spec().outcomes.len()];
    let mut stream = RandomStream::new(0, 0, 0, Purpose::Custom(0));
    model.outcomes(times, outputs, params, &[], &mut stream, &mut out);
    out
}

fn outcome(model: &dyn Model, values: &[f64], name: &str) -> f64 {
    let idx = model
        .spec()
        .outcomes
        .iter()
        .position(|o| o.name == name)
        .unwrap();
    values[idx]
}

/// Asserts the engine grid and the reference integration agree at every 0.5 h (a time on both
/// grids): cells to `rel` relative everywhere, the concentration to `rel` relative while it is
/// above 1e-6 (mg/L or µmol/L) and to 1e-9 absolute in its tail.
fn assert_engine_matches_reference(outputs: &[f64], reference: &Reference, rel: f64) {
    let grid_per_half = (0.5 / GRID_H).round() as usize;
    let steps_per_half = (0.5 / STEP_H).round() as usize;
    let mut worst = [0.0_f64; 2];
    for k in 0.. {
        let (grid_idx, step_idx) = (k * grid_per_half, k * steps_per_half);
        if 2 * grid_idx + 1 >= outputs.len() || step_idx >= reference.cells.len() {
            break;
        }
        let pairs = [
            (outputs[2 * grid_idx], reference.cells[step_idx]),
            (outputs[2 * grid_idx + 1], reference.concentration[step_idx]),
        ];
        for (output, (got, want)) in pairs.into_iter().enumerate() {
            let err = (got - want).abs();
            let t = k as f64 * 0.5;
            if output == 0 || want > 1e-6 {
                assert!(
                    err <= rel * want,
                    "t = {t} h: engine {got}, reference {want}"
                );
                worst[output] = worst[output].max(err / want);
            } else {
                assert!(err <= 1e-9, "t = {t} h: engine {got}, reference {want}");
            }
        }
    }
    println!(
        "worst relative engine-vs-RK4 difference (cells, concentration): {:.1e}, {:.1e}",
        worst[0], worst[1]
    );
}

/// Asserts `got` rounds to `printed` at the printed precision `half_unit` (half a last digit).
fn assert_printed(got: f64, printed: f64, half_unit: f64, what: &str) {
    assert!(
        (got - printed).abs() <= half_unit,
        "{what}: {got} does not round to {printed}"
    );
}

#[test]
fn kloft_typical_subject_reproduces_docs_check_numbers() {
    // docs/models/neutropenia.md §Check numbers [D], Kloft/Netterberg 224 row: nadir 0.2203 at
    // 202.3 h, first ANC < 0.5 at 148.4 h, 108 h below 0.5, back to baseline at 401 h. Inputs: the
    // θ of §Kloft 2006 docetaxel (SL per µM divided by 808, as the .mod) and
    // §Docetaxel pharmacokinetics (Bruno PK).
    let chain = Chain {
        base: 5.21965,
        mtt: 84.1791,
        gamma: 0.144543,
    };
    let horizon = 450.0;
    let reference = docetaxel_reference(chain, 15.5711, 808.0, horizon);
    let s = reference.summary(chain.base);
    println!("Kloft reference: {s:?}");
    assert_printed(s.nadir, 0.2203, 5e-5, "nadir");
    assert_printed(s.nadir_time, 202.3, 0.05, "nadir time");
    assert_printed(s.first_below_half.unwrap(), 148.4, 0.05, "first ANC < 0.5");
    assert_printed(s.time_below_half, 108.0, 0.5, "time below 0.5");
    assert_printed(s.back_to_baseline.unwrap(), 401.0, 0.5, "back to baseline");

    let model = KloftDocetaxelV1::new();
    let p = model.spec().typical_parameters();
    let (times, outputs) = engine_grid(&model, "180 mg iv over 1h", &p, horizon);
    assert_engine_matches_reference(&outputs, &reference, ENGINE_REL_TOL);
    let o = outcomes(&model, &times, &outputs, &p);
    // Outcomes have the grid's resolution (0.1 h); the nadir is flat there, so its value agrees
    // to 1e-4 relative.
    let nadir = outcome(&model, &o, "nadir_anc");
    assert!((nadir - s.nadir).abs() <= 1e-4 * s.nadir, "{nadir}");
    let nadir_h = outcome(&model, &o, "nadir_day") * 24.0;
    assert!((nadir_h - s.nadir_time).abs() <= GRID_H, "{nadir_h}");
    let grade4 = outcome(&model, &o, "grade4");
    let first = s.first_below_half.unwrap();
    assert!(grade4 >= first && grade4 <= first + GRID_H, "{grade4}");
    let duration = outcome(&model, &o, "grade4_duration");
    assert!(
        (duration - s.time_below_half).abs() <= 2.0 * GRID_H,
        "{duration}"
    );
    let recovery = outcome(&model, &o, "recovery");
    let back = s.back_to_baseline.unwrap();
    assert!(
        recovery >= back - GRID_H && recovery <= back + GRID_H,
        "{recovery}"
    );
    // Grade 3 (ANC < 1.0) starts before grade 4.
    assert!(outcome(&model, &o, "grade3") < grade4);
}

#[test]
fn friberg_docetaxel_typical_subject_reproduces_docs_check_numbers() {
    // docs/models/neutropenia.md §Check numbers [D], Friberg 2002 docetaxel row: nadir 0.8960 at
    // 181.7 h, never below 0.5, back to baseline at 374 h. Inputs of §Friberg 2002 docetaxel [S]
    // with Bruno PK. The table's 0.8960 is reproduced with MW 807.88 g/mol (anhydrous docetaxel);
    // radivot/myelo's 0.808 mg/µmol gives 0.8962, checked below too.
    let chain = Chain {
        base: 5.05,
        mtt: 88.7,
        gamma: 0.161,
    };
    let horizon = 420.0;
    let reference = docetaxel_reference(chain, 8.58, 807.88, horizon);
    let s = reference.summary(chain.base);
    println!("Friberg docetaxel reference: {s:?}");
    assert_printed(s.nadir, 0.8960, 5e-5, "nadir");
    assert_printed(s.nadir_time, 181.7, 0.05, "nadir time");
    assert!(s.first_below_half.is_none());
    assert_printed(s.back_to_baseline.unwrap(), 374.0, 0.5, "back to baseline");
    let with_808 = docetaxel_reference(chain, 8.58, 808.0, 250.0).summary(chain.base);
    assert_printed(with_808.nadir, 0.8962, 5e-5, "nadir with MW 808");

    let model = FribergDocetaxelV1::new();
    let p = model.spec().typical_parameters();
    let (times, outputs) = engine_grid(&model, "180 mg iv over 1h", &p, horizon);
    assert_engine_matches_reference(&outputs, &reference, ENGINE_REL_TOL);
    let o = outcomes(&model, &times, &outputs, &p);
    let nadir = outcome(&model, &o, "nadir_anc");
    assert!((nadir - s.nadir).abs() <= 1e-4 * s.nadir, "{nadir}");
    assert!((outcome(&model, &o, "nadir_day") * 24.0 - s.nadir_time).abs() <= GRID_H);
    assert!(outcome(&model, &o, "grade4").is_nan());
    assert!(outcome(&model, &o, "grade4_duration").abs() < 1e-12);
    // The nadir (0.896) is below the grade-3 threshold of 1.0.
    assert!(outcome(&model, &o, "grade3") < s.nadir_time);
}

#[test]
fn friberg_paclitaxel_reproduces_docs_check_number_and_engine_agrees() {
    // docs/models/neutropenia.md §Check numbers [D], paclitaxel 186 row: nadir 3.085 at 218.8 h for
    // 410 µmol over 3 h with V1 421.5, V2 1010, CL 339, Q 204. That number is reproduced with the θ
    // of the NONMEM re-fit (.lst: MTT 123, γ 0.238, SLOPU 28.7, CIRC0 7.21); the MDL (publication)
    // θ the model uses give 3.0896 at 220.4 h (this file's own integration), which the engine is
    // also checked on.
    let pk = [339.0, 421.5, 204.0, 1010.0];
    let refit = Chain {
        base: 7.21,
        mtt: 123.0,
        gamma: 0.238,
    };
    let horizon = 300.0;
    let reference = paclitaxel_reference(refit, 28.7, pk, horizon);
    let s = reference.summary(refit.base);
    println!("paclitaxel reference (re-fit θ): {s:?}");
    assert_printed(s.nadir, 3.085, 5e-4, "nadir");
    assert_printed(s.nadir_time, 218.8, 0.05, "nadir time");

    let model = FribergPaclitaxelV1::new();
    let spec = model.spec();
    let mut p = spec.typical_parameters();
    for (name, value) in [("MTT", 123.0), ("GAMMA", 0.238), ("SLOPU", 28.7)] {
        p[spec.parameter_index(name).unwrap()] = value;
    }
    let (times, outputs) = engine_grid(&model, "410 umol iv over 3h", &p, horizon);
    assert_engine_matches_reference(&outputs, &reference, ENGINE_REL_TOL);
    let o = outcomes(&model, &times, &outputs, &p);
    let nadir = outcome(&model, &o, "nadir_wbc");
    assert!((nadir - s.nadir).abs() <= 1e-4 * s.nadir, "{nadir}");
    assert!((outcome(&model, &o, "nadir_day") * 24.0 - s.nadir_time).abs() <= GRID_H);

    // The model's own (MDL) typical values.
    let mdl = Chain {
        base: 7.21,
        mtt: 124.0,
        gamma: 0.239,
    };
    let reference = paclitaxel_reference(mdl, 28.9, pk, horizon);
    let typical = spec.typical_parameters();
    let (_, outputs) = engine_grid(&model, "410 umol iv over 3h", &typical, horizon);
    assert_engine_matches_reference(&outputs, &reference, ENGINE_REL_TOL);
    let s = reference.summary(mdl.base);
    assert_printed(s.nadir, 3.0896, 5e-5, "MDL nadir");
    assert_printed(s.nadir_time, 220.4, 0.05, "MDL nadir time");
}

#[test]
fn kloft_covariates_give_the_bundle_subjects_base_and_slope() {
    // docs/models/neutropenia.md §Check numbers [D]: the bundle-224 subject (SEX 2, PERF 2, PC 1,
    // AAG 2.54; η = 0) has BASE = 7.0475 and SL = 11.161 per mg/L (the model's SL is per µM:
    // × 1000/808).
    let model = KloftDocetaxelV1::new();
    let spec = model.spec();
    let population = population_of(&model).unwrap();
    let mut p = vec![0.0; spec.parameters.len()];
    model.individual_parameters(&population, &[2.0, 2.0, 1.0, 2.54, 1.8], &[0.0; 3], &mut p);
    let base = p[spec.parameter_index("BASE").unwrap()];
    let sl_per_mg_l = p[spec.parameter_index("SL").unwrap()] * 1000.0 / 808.0;
    assert_printed(base, 7.0475, 5e-5, "BASE");
    assert_printed(sl_per_mg_l, 11.161, 5e-4, "SL");
    // Reference covariates (male, PS 0, no prior therapy, AAG 1.34) leave the θ unchanged; AAG
    // below the knot uses θ9: 5.21965·(1 + 0.174677·(0.84 − 1.34)).
    model.individual_parameters(&population, &[1.0, 0.0, 0.0, 0.84, 2.0], &[0.0; 3], &mut p);
    let expected = 5.21965 * (1.0 + 0.174677 * (0.84 - 1.34));
    assert!((p[0] - expected).abs() < 1e-12, "{}", p[0]);
    model.individual_parameters(&population, &[f64::NAN; 5], &[0.0; 3], &mut p);
    assert!((p[0] - 5.21965).abs() < 1e-12 && (p[2] - 15.5711).abs() < 1e-12);
}

/// Population parameters of a Kloft patient with covariates `covariates` and η in SD units.
fn kloft_params(
    population: &Population,
    model: &KloftDocetaxelV1,
    covariates: &[f64],
    eta_sd: [f64; 3],
) -> Vec<f64> {
    let omega: [f64; 3] = [0.0639703, 0.0191785, 0.128412];
    let eta: Vec<f64> = eta_sd
        .iter()
        .zip(omega)
        .map(|(z, w)| z * w.sqrt())
        .collect();
    let mut p = vec![0.0; model.spec().parameters.len()];
    model.individual_parameters(population, covariates, &eta, &mut p);
    p
}

#[test]
fn extreme_patients_stay_finite_thanks_to_the_feedback_floor() {
    // docs/models/neutropenia.md §Equations (numerical guard): nadirs near 1e-8 broke stiff
    // solvers. SL at +4 SD (×4.2), AAG at the low end (SL ×1.33), BSA 2.5 m² and six cycles of
    // 100 mg/m² drive ANC to tiny values; the engine must return finite outputs throughout.
    let model = KloftDocetaxelV1::new();
    let population = population_of(&model).unwrap();
    let mut deepest = f64::INFINITY;
    for eta_sd in [
        [0.0, 0.0, 4.0],
        [-4.0, -4.0, 4.0],
        [4.0, 4.0, 4.0],
        [-4.0, 4.0, 4.0],
    ] {
        let p = kloft_params(&population, &model, &[2.0, 0.0, 1.0, 0.4, 2.5], eta_sd);
        let mut records = Regimen::parse("250 mg iv over 1h q3w x6", model.spec())
            .unwrap()
            .doses;
        records.extend((0..=3024).map(|h| Record::output_time(f64::from(h))));
        records.sort_by(|a, b| a.time.total_cmp(&b.time));
        let out = simulate_records(&model, &records, &p, SolverOptions::default())
            .unwrap_or_else(|e| panic!("η {eta_sd:?}: {e}"));
        assert!(out.iter().all(|v| v.is_finite()), "η {eta_sd:?}");
        let min_anc = out
            .chunks(2)
            .map(|row| row[0])
            .fold(f64::INFINITY, f64::min);
        deepest = deepest.min(min_anc);
    }
    println!("deepest ANC over the extreme patients: {deepest:e}");
    assert!(
        deepest < 1e-4,
        "the test should reach the extreme regime, got {deepest}"
    );
    // The right-hand side itself stays finite at and below CIRC = 0 (a solver overshoot).
    let p = model.spec().typical_parameters();
    for circ in [0.0, -1e-3] {
        let y = [1.0, 0.0, 0.0, 1e-6, 1e-6, 1e-6, 1e-6, circ];
        let mut dy = [0.0; 8];
        model.rhs(0.0, &y, &p, &mut dy);
        assert!(dy.iter().all(|d| d.is_finite()), "CIRC {circ}: {dy:?}");
    }
}

#[test]
fn outcomes_on_a_hand_made_grid() {
    // Hand-made ANC trajectory on an uneven grid (h); BASE = 5 (the first parameter). Expected
    // values are read off the table: first < 1.0 at 30 h, first < 0.5 at 40 h, lowest 0.3 at
    // 60 h, below 0.5 at 40, 60 and 70 h (each until the next grid time: 20 + 10 + 30 = 60 h),
    // back to ≥ 5 at 160 h.
    let model = KloftDocetaxelV1::new();
    let mut p = model.spec().typical_parameters();
    p[0] = 5.0;
    let times = [
        0.0, 10.0, 20.0, 30.0, 40.0, 60.0, 70.0, 100.0, 130.0, 160.0, 200.0,
    ];
    let anc = [5.0, 4.0, 2.0, 0.9, 0.4, 0.3, 0.45, 0.8, 3.0, 5.5, 6.0];
    let o = outcomes(&model, &times, &outputs_of(&anc), &p);
    let expect = [
        ("grade3", 30.0),
        ("grade4", 40.0),
        ("grade4_duration", 60.0),
        ("nadir_anc", 0.3),
        ("nadir_day", 60.0 / 24.0),
        ("recovery", 160.0),
    ];
    for (name, want) in expect {
        let got = outcome(&model, &o, name);
        assert!((got - want).abs() < 1e-12, "{name}: {got} vs {want}");
    }
    // A shallow dip never reaches the grades and never recovers within the grid: censored.
    let shallow = [5.0, 3.0, 2.0, 2.5, 4.0];
    let o = outcomes(&model, &times[..5], &outputs_of(&shallow), &p);
    for name in ["grade3", "grade4", "recovery"] {
        assert!(outcome(&model, &o, name).is_nan(), "{name}");
    }
    assert!(outcome(&model, &o, "grade4_duration").abs() < 1e-12);
    assert!((outcome(&model, &o, "nadir_anc") - 2.0).abs() < 1e-12);
    // Leukopenia thresholds are 2.0 and 1.0 (docs/models/neutropenia.md §Outcomes [A]), both
    // strict: the 2.0 at 20 h is not below 2.0, so both grades start at 30 h (0.9).
    let paclitaxel = FribergPaclitaxelV1::new();
    let o = outcomes(&paclitaxel, &times, &outputs_of(&anc), &p);
    assert!((outcome(&paclitaxel, &o, "grade3") - 30.0).abs() < 1e-12);
    assert!((outcome(&paclitaxel, &o, "grade4") - 30.0).abs() < 1e-12);
    assert!((outcome(&paclitaxel, &o, "nadir_wbc") - 0.3).abs() < 1e-12);
}

/// Output rows `[cells, concentration]` for a hand-made cell trajectory.
fn outputs_of(cells: &[f64]) -> Vec<f64> {
    cells.iter().flat_map(|&a| [a, 0.0]).collect()
}

#[test]
fn virtual_covariates_follow_the_stated_distributions() {
    // The [A] distributions of the module: SEX 50 % female, PERF 0/1/2 at 35/55/10 %, PC 50 %,
    // AAG log-normal around 1.34 (half below), BSA mean 1.8. Tolerances are 5 binomial SEs.
    let model = KloftDocetaxelV1::new();
    let n = 20_000;
    let mut counts = [0usize; 6];
    let mut bsa_sum = 0.0;
    let mut c = [0.0; 5];
    for patient in 0..n {
        let mut stream = RandomStream::new(1, 0, patient, Purpose::Covariates);
        model.sample_covariates(&mut stream, &mut c);
        for (value, spec) in c.iter().zip(&model.spec().covariates) {
            assert!(
                *value >= spec.lower && *value <= spec.upper,
                "{}: {value}",
                spec.name
            );
        }
        counts[0] += usize::from((c[0] - 2.0).abs() < 1e-12);
        counts[1] += usize::from(c[1].abs() < 1e-12);
        counts[2] += usize::from((c[1] - 1.0).abs() < 1e-12);
        counts[3] += usize::from((c[2] - 1.0).abs() < 1e-12);
        counts[4] += usize::from(c[3] < 1.34);
        counts[5] += usize::from((c[1] - 2.0).abs() < 1e-12);
        bsa_sum += c[4];
    }
    let nf = n as f64;
    for (count, p) in [
        (counts[0], 0.5),
        (counts[1], 0.35),
        (counts[2], 0.55),
        (counts[5], 0.10),
        (counts[3], 0.5),
        (counts[4], 0.5),
    ] {
        let se = (p * (1.0 - p) / nf).sqrt();
        assert!((count as f64 / nf - p).abs() < 5.0 * se, "{count} vs {p}");
    }
    assert!((bsa_sum / nf - 1.8).abs() < 5.0 * 0.2 / nf.sqrt());
    // The alternates draw BSA only.
    let mut bsa = [0.0];
    FribergPaclitaxelV1::new().sample_covariates(
        &mut RandomStream::new(1, 0, 0, Purpose::Covariates),
        &mut bsa,
    );
    assert!((1.1..=2.5).contains(&bsa[0]));
}

#[test]
fn specs_are_consistent_and_therapies_parse() {
    let models: [Box<dyn Model>; 3] = [
        Box::new(KloftDocetaxelV1::new()),
        Box::new(FribergDocetaxelV1::new()),
        Box::new(FribergPaclitaxelV1::new()),
    ];
    let ids = [
        "neutropenia",
        "neutropenia-friberg2002-docetaxel",
        "neutropenia-friberg2002-paclitaxel",
    ];
    for (model, id) in models.iter().zip(ids) {
        let spec = model.spec();
        assert_eq!(spec.id, id);
        assert_eq!(spec.version, "1");
        assert_eq!(spec.dosing.len(), spec.states.len());
        assert_eq!(spec.states[0].name, "CENTRAL");
        assert_eq!(spec.states.last().unwrap().name, "CIRC");
        assert!(population_of(model.as_ref()).is_ok());
        let kinds: Vec<OutcomeKind> = spec.outcomes.iter().map(|o| o.kind).collect();
        assert_eq!(kinds.len(), 6);
        for therapy in &spec.therapies {
            let regimen = Regimen::parse(therapy.regimen, spec).unwrap();
            // Six cycles every three weeks, dosed per m² of BSA into CENTRAL.
            assert_eq!(regimen.doses[0].addl, 5);
            assert!((regimen.doses[0].ii - 504.0).abs() < 1e-9);
            assert_eq!(regimen.doses[0].cmt, Some(0));
            assert!(regimen.scale_by[0].is_some());
        }
        assert!(spec.documentation.contains("[A]"));
        assert_eq!(spec.content_hash().len(), 64);
        for p in &spec.parameters {
            assert!(p.typical >= p.lower && p.typical <= p.upper, "{}", p.name);
        }
    }
}

#[test]
fn cohort_has_more_grade4_under_100_than_75_mg_per_m2() {
    // Paired arms (same η and covariates per patient): the 100 mg/m² arm has more grade-4
    // neutropenia than 75 mg/m², every patient with grade 4 under 75 has it no later under 100,
    // and no patient fails. The model's grade-4 outcome agrees with the engine's own threshold
    // tally (ANC < 0.5 at any output time) on the same grid.
    let model = KloftDocetaxelV1::new();
    let spec = model.spec();
    let arms: Vec<Arm> = spec
        .therapies
        .iter()
        .map(|t| Arm {
            name: t.name.into(),
            regimen: Regimen::parse(t.regimen, spec).unwrap(),
            rules: Vec::new(),
        })
        .collect();
    assert_eq!(arms[0].name, "docetaxel-75");
    let n_patients = 60;
    let times: Vec<f64> = (0..=1512).map(|i| f64::from(i) * 2.0).collect();
    let mut options = CohortOptions::new(n_patients, 17, times);
    options.events = vec![ThresholdEvent {
        name: "grade4".into(),
        output: 0,
        crossing: Crossing::Below,
        threshold: 0.5,
    }];
    let grade4_idx = spec
        .outcomes
        .iter()
        .position(|o| o.name == "grade4")
        .unwrap();
    let n_outcomes = spec.outcomes.len();
    let mut grade4 = [0u64; 2];
    let mut on_wave = |wave: &[PatientTrajectories]| {
        for patient in wave {
            let per_arm = [
                patient.outcomes[grade4_idx],
                patient.outcomes[n_outcomes + grade4_idx],
            ];
            for (count, t) in grade4.iter_mut().zip(per_arm) {
                *count += u64::from(!t.is_nan());
            }
            assert!(
                per_arm[0].is_nan() || per_arm[1] <= per_arm[0],
                "patient {}: grade 4 at {} h under 75 but {} h under 100",
                patient.patient,
                per_arm[0],
                per_arm[1]
            );
        }
    };
    let summary = run_cohort(&model, &arms, &options, &mut on_wave).unwrap();
    println!("grade 4 under 75 / 100 mg/m2: {grade4:?} of {n_patients}");
    for (arm, count) in summary.arms.iter().zip(grade4) {
        assert_eq!(arm.n_ok, n_patients, "{}", arm.name);
        assert_eq!(arm.n_failed, 0);
        assert_eq!(arm.events[0].n_events, count, "{}", arm.name);
    }
    assert!(grade4[1] > grade4[0], "{grade4:?}");
}
