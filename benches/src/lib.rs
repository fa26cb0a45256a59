//! Shared workloads of twinsim's benchmarks: the engine path and a minimal hand-written
//! Dormand–Prince loop for the same equations and tolerances, which is the reference the engine is
//! measured against (target: the engine must reach at least 0.8× its throughput; benches/README.md
//! §Cohort throughput).

use twin_engine::forecast::{ForecastRequest, forecast};
use twin_engine::model::Model;
use twin_engine::montecarlo::{Arm, CohortOptions, run_cohort};
use twin_engine::nmcsv::parse_dataset;
use twin_engine::predict::population_of;
use twin_engine::random::{Purpose, RandomStream};
use twin_engine::regimen::Regimen;
use twin_engine::solver::SolverOptions;
use twin_models::pk::TwoCompartmentMm;

/// Daily oral doses in the benchmark regimen.
pub const N_DOSES: u32 = 28;
/// Dose amount, mg.
pub const DOSE_MG: f64 = 100.0;
/// Hours between doses.
pub const INTERVAL_H: f64 = 24.0;

/// The benchmark regimen text.
#[must_use]
pub fn regimen_text() -> String {
    format!("{DOSE_MG} mg oral q{INTERVAL_H}h x{N_DOSES}")
}

/// Hourly output times over the 28 days: 0, 1, …, 672 h.
#[must_use]
pub fn hourly_times() -> Vec<f64> {
    (0..=(N_DOSES * 24)).map(f64::from).collect()
}

/// Runs the engine's cohort path for `n_patients` and returns the mean CP at the last time (a
/// checksum that keeps the work observable).
///
/// # Panics
/// If the model or regimen is invalid, which would be a bug in this benchmark.
#[must_use]
pub fn engine_cohort(n_patients: u64, seed: u64) -> f64 {
    let model = TwoCompartmentMm::new();
    let regimen =
        Regimen::parse(&regimen_text(), model.spec()).expect("benchmark regimen is valid");
    let arms = [Arm {
        name: "daily".into(),
        regimen,
        rules: Vec::new(),
    }];
    let options = CohortOptions::new(n_patients, seed, hourly_times());
    let summary = run_cohort(&model, &arms, &options, &mut |_| {}).expect("benchmark cohort runs");
    summary.arms[0].outputs[0]
        .last()
        .map_or(f64::NAN, twin_engine::summary::RunningSummary::mean)
}

/// The reference: a minimal Dormand–Prince 5(4) loop on stack arrays for the same 2-compartment
/// Michaelis–Menten model (depot, central, peripheral), the same individual parameters (same
/// random streams), tolerances (`SolverOptions::default()`), step-size controller, initial-step
/// heuristic and dense output, stopping at each dose. Returns the mean CP at the last time.
///
/// # Panics
/// If the model declaration is invalid, which would be a bug in this benchmark.
#[must_use]
pub fn reference_cohort(n_patients: u64, seed: u64) -> f64 {
    let model = TwoCompartmentMm::new();
    let population = population_of(&model).expect("model population is valid");
    let spec = model.spec();
    let index = |name: &str| spec.parameter_index(name).expect("parameter exists");
    let (i_vm, i_km, i_v1, i_q, i_v2, i_ka) = (
        index("VM"),
        index("KM"),
        index("V1"),
        index("Q"),
        index("V2"),
        index("KA"),
    );
    let options = SolverOptions::default();
    let times = hourly_times();
    let mut eta = vec![0.0; population.n_eta()];
    let mut params = vec![0.0; spec.parameters.len()];
    let mut last_sum = 0.0;
    let mut out = vec![0.0; times.len()];
    for patient in 0..n_patients {
        let mut stream = RandomStream::new(seed, 0, patient, Purpose::Eta);
        population.sample_eta(&mut stream, &mut eta);
        population.individual_parameters(&[], &eta, &mut params);
        let p = [
            params[i_vm],
            params[i_km],
            params[i_v1],
            params[i_q],
            params[i_v2],
            params[i_ka],
        ];
        reference_patient(&p, &options, &times, &mut out);
        last_sum += out[times.len() - 1];
    }
    last_sum / n_patients as f64
}

fn rhs(p: &[f64; 6], y: &[f64; 3]) -> [f64; 3] {
    let [vm, km, v1, q, v2, ka] = *p;
    let c = y[1] / v1;
    let absorption = ka * y[0];
    let distribution = q / v1 * y[1] - q / v2 * y[2];
    [
        -absorption,
        absorption - vm * c / (km + c) - distribution,
        distribution,
    ]
}

/// One patient of the reference loop; writes CP at `times` into `out`.
fn reference_patient(p: &[f64; 6], options: &SolverOptions, times: &[f64], out: &mut [f64]) {
    const A: [[f64; 6]; 6] = [
        [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
        [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
        [
            19372.0 / 6561.0,
            -25360.0 / 2187.0,
            64448.0 / 6561.0,
            -212.0 / 729.0,
            0.0,
            0.0,
        ],
        [
            9017.0 / 3168.0,
            -355.0 / 33.0,
            46732.0 / 5247.0,
            49.0 / 176.0,
            -5103.0 / 18656.0,
            0.0,
        ],
        [
            35.0 / 384.0,
            0.0,
            500.0 / 1113.0,
            125.0 / 192.0,
            -2187.0 / 6784.0,
            11.0 / 84.0,
        ],
    ];
    const E: [f64; 7] = [
        71.0 / 57600.0,
        0.0,
        -71.0 / 16695.0,
        71.0 / 1920.0,
        -17253.0 / 339_200.0,
        22.0 / 525.0,
        -1.0 / 40.0,
    ];
    const D: [f64; 7] = [
        -12_715_105_075.0 / 11_282_082_432.0,
        0.0,
        87_487_479_700.0 / 32_700_410_799.0,
        -10_690_763_975.0 / 1_880_347_072.0,
        701_980_252_875.0 / 199_316_789_632.0,
        -1_453_857_185.0 / 822_651_844.0,
        69_997_945.0 / 29_380_423.0,
    ];
    let (rtol, atol) = (options.rtol, options.atol);
    let v1 = p[2];
    let mut y = [0.0f64; 3];
    let mut t = 0.0;
    let mut h = 0.0f64;
    let mut next_out = 0usize;
    let end = *times.last().expect("non-empty output grid");
    for dose in 0..=N_DOSES {
        let t_stop = if dose < N_DOSES {
            f64::from(dose) * INTERVAL_H
        } else {
            end
        };
        // Integrate to the next dose (or the end), writing outputs by dense interpolation.
        let mut k1 = rhs(p, &y);
        if h <= 0.0 && t_stop > t {
            h = 0.1;
        }
        while t < t_stop {
            let last = t + 1.01 * h >= t_stop;
            let hh = if last { t_stop - t } else { h };
            let mut k = [[0.0; 3]; 7];
            k[0] = k1;
            for s in 0..6 {
                let mut ys = [0.0; 3];
                for i in 0..3 {
                    let mut acc = 0.0;
                    for (j, kj) in k.iter().enumerate().take(s + 1) {
                        acc += A[s][j] * kj[i];
                    }
                    ys[i] = y[i] + hh * acc;
                }
                k[s + 1] = rhs(p, &ys);
                if s == 5 {
                    // Stage 7 is evaluated at the new solution (FSAL).
                    let y_new = ys;
                    let mut err = 0.0;
                    for i in 0..3 {
                        let mut e = 0.0;
                        for (j, kj) in k.iter().enumerate() {
                            e += E[j] * kj[i];
                        }
                        let sc = atol + rtol * y[i].abs().max(y_new[i].abs());
                        err += (hh * e / sc).powi(2);
                    }
                    let err = (err / 3.0).sqrt();
                    let factor = (0.9 * err.powf(-0.2)).clamp(0.2, 10.0);
                    if err <= 1.0 {
                        let t_new = if last { t_stop } else { t + hh };
                        while next_out < times.len() && times[next_out] <= t_new {
                            let theta = (times[next_out] - t) / hh;
                            let theta1 = 1.0 - theta;
                            let i = 1;
                            let ydiff = y_new[i] - y[i];
                            let bspl = hh * k[0][i] - ydiff;
                            let mut r5 = 0.0;
                            for (j, kj) in k.iter().enumerate() {
                                r5 += D[j] * kj[i];
                            }
                            let value = y[i]
                                + theta
                                    * (ydiff
                                        + theta1
                                            * (bspl
                                                + theta
                                                    * (ydiff - hh * k[6][i] - bspl
                                                        + theta1 * hh * r5)));
                            out[next_out] = value / v1;
                            next_out += 1;
                        }
                        y = y_new;
                        k1 = k[6];
                        t = t_new;
                        if !last {
                            h = hh * factor;
                        }
                    } else {
                        h = hh * factor.min(1.0);
                    }
                }
            }
        }
        if dose < N_DOSES {
            y[0] += DOSE_MG;
        }
    }
}

/// Workload of benches/README.md §Neutropenia cohort: the neutropenia model (Kloft 2006 with Bruno
/// docetaxel PK, ODE path), docetaxel 75 vs 100 mg/m² as 1-h infusions every 3 weeks for 6 cycles,
/// daily output over 126 days, two arms. Returns the grade-4 probability under 100 mg/m² (a
/// checksum).
///
/// # Panics
/// If the model's built-in therapies are missing, which would be a bug in this benchmark.
#[must_use]
pub fn neutropenia_cohort(n_patients: u64, seed: u64) -> f64 {
    let model = twin_models::neutropenia::KloftDocetaxelV1::new();
    let spec = model.spec();
    let arms = docetaxel_arms(&model);
    let times: Vec<f64> = (0..=126).map(|day| f64::from(day) * 24.0).collect();
    let options = CohortOptions::new(n_patients, seed, times);
    let summary = run_cohort(&model, &arms, &options, &mut |_| {}).expect("benchmark cohort runs");
    let grade4 = spec
        .outcomes
        .iter()
        .position(|o| o.name == "grade4")
        .expect("grade4 outcome exists");
    let tally = &summary.arms[1].outcomes[grade4];
    tally.n_observed as f64 / tally.n as f64
}

/// The neutropenia model's built-in therapies `docetaxel-75` and `docetaxel-100` (mg/m² every 3
/// weeks) as arms, in that order.
///
/// # Panics
/// If the built-in therapies are missing, which would be a bug in this benchmark.
#[must_use]
pub fn docetaxel_arms(model: &dyn Model) -> Vec<Arm> {
    let spec = model.spec();
    ["docetaxel-75", "docetaxel-100"]
        .iter()
        .map(|name| {
            let therapy = spec
                .therapies
                .iter()
                .find(|t| t.name == *name)
                .expect("built-in therapy exists");
            Arm {
                name: (*name).to_owned(),
                regimen: Regimen::parse(therapy.regimen, spec).expect("built-in regimen is valid"),
                rules: Vec::new(),
            }
        })
        .collect()
}

/// The patient of the forecast benchmark (benches/README.md §One patient's twin): one docetaxel
/// cycle of 100 mg/m² (170 mg at BSA 1.7 m² as a 1-hour infusion), a baseline ANC and three ANC
/// observations over two weeks (×10⁹/L), as `twin forecast`'s own test uses.
pub const FORECAST_PATIENT: &str = "ID,TIME,DV,MDV,EVID,AMT,CMT,RATE,SEX,PERF,PC,AAG,BSA
7,0,5.4,0,0,0,7,0,2,1,0,1.5,1.7
7,0,.,1,1,170,1,170,2,1,0,1.5,1.7
7,96,2.1,0,0,0,7,0,2,1,0,1.5,1.7
7,168,0.45,0,0,0,7,0,2,1,0,1.5,1.7
7,336,4.8,0,0,0,7,0,2,1,0,1.5,1.7
";

/// Forecast origin (h): the next cycle, 21 days after the first dose.
pub const FORECAST_ORIGIN_H: f64 = 21.0 * 24.0;
/// Forecast horizon after the origin (h): 42 days.
pub const FORECAST_HORIZON_H: f64 = 42.0 * 24.0;

/// The forecast request of the benchmark: docetaxel 75 vs 100 mg/m² every 3 weeks from day 21 to
/// day 63, `draws` posterior draws (from 4 × `draws` importance proposals), about 200 output
/// times, seed 1.
///
/// # Panics
/// If the built-in therapies are missing, which would be a bug in this benchmark.
#[must_use]
pub fn forecast_request(model: &dyn Model, draws: usize) -> ForecastRequest {
    let mut request = ForecastRequest::new(docetaxel_arms(model));
    request.origin = Some(FORECAST_ORIGIN_H);
    request.horizon = Some(FORECAST_HORIZON_H);
    request.draws = draws;
    request.seed = 1;
    request
}

/// Individualises the neutropenia twin on [`FORECAST_PATIENT`] and forecasts two therapies with
/// `draws` draws on the calling thread's rayon pool; returns P(grade 4) under 100 mg/m² (a
/// checksum that keeps the work observable).
///
/// # Panics
/// If the patient or the request is invalid, which would be a bug in this benchmark.
#[must_use]
pub fn neutropenia_forecast(draws: usize) -> f64 {
    let model = twin_models::neutropenia::KloftDocetaxelV1::new();
    let dataset = parse_dataset("benchmark patient", FORECAST_PATIENT).expect("patient parses");
    let forecast = forecast(&model, &dataset, 0, &forecast_request(&model, draws))
        .expect("benchmark forecast runs");
    let grade4 = model
        .spec()
        .outcomes
        .iter()
        .position(|o| o.name == "grade4")
        .expect("grade4 outcome exists");
    let tally = &forecast.summary.arms[1].outcomes[grade4];
    tally.n_observed as f64 / tally.n as f64
}
