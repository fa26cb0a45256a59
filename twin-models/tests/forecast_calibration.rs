//! Forecast calibration of the individualised twin: virtual patients are simulated from a model's
//! own population, calibrated on their first `k` observations, and their remaining observations
//! forecast from the posterior draws.
//!
//! The claim tested is calibration itself: when the data come from the model (η ~ N(0, Ω),
//! covariates from `Model::sample_covariates`, the model's residual error), the posterior
//! predictive distribution of a held-out observation is its true conditional distribution, so
//! - the 90 % prediction interval (5th to 95th percentile of the predictive sample) covers 90 %
//!   of held-out observations; the test accepts coverage in [0.85, 0.95], and
//! - the PIT values (share of the predictive sample below the observation) are U(0, 1): the
//!   one-sample Kolmogorov–Smirnov statistic `D` must stay below the 1 % critical value of the
//!   Kolmogorov distribution, `1.63/√n` (K⁻¹(0.99) = 1.6276, Kolmogorov 1933; Smirnov 1948's
//!   table; the asymptotic form is accurate to < 1 % for n > 35, Stephens 1970).
//!
//! Leakage: the calibration dataset holds only the records up to the k-th observation (later
//! doses and observations are not in it), so the posterior cannot see the held-out values. The
//! predictions at the held-out times come from a second dataset with the whole history.
//!
//! Caveat on the KS test: the held-out observations of one patient share that patient's
//! posterior, so their PITs are uniform marginally but not independent; the critical value
//! assumes independence, which makes the test somewhat strict for positively correlated PITs.
//!
//! Everything is deterministic: covariates, η, residuals and predictive residual draws come from
//! `RandomStream`s keyed by (seed, patient, purpose); posterior draws from the engine's stream
//! (seed of `SamplingOptions`, subject index).

// Reference values use the platform's maths library, independent of twin_engine::math.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use twin_engine::Model;
use twin_engine::population::Population;
use twin_engine::posterior::{
    Individual, IndividualOptions, MapOptions, SamplingOptions, map_estimate, sample_posterior,
};
use twin_engine::predict::population_of;
use twin_engine::random::{Purpose, RandomStream};
use twin_engine::records::{Dataset, DoseRate, Evid, Record, SteadyState, Subject};
use twin_models::neutropenia::KloftDocetaxelV1;
use twin_models::pheno::PhenoV1;

/// Seed of every stream in this file (arbitrary, fixed for reproducibility).
const SEED: u64 = 20_260_404;

/// Virtual patients per model: 60 patients × 4 held-out observations = 240 forecasts per model
/// (the binomial SD of a 90 % coverage over 240 is 1.9 %, so [0.85, 0.95] is
/// ±2.6 SD).
const N_PATIENTS: usize = 60;

/// Posterior draws per patient, resampled from this many importance proposals (modest, so the
/// test runs in seconds; the PIT resolution is 1/200, negligible against the KS critical value
/// of about 0.1). The test counts the patients whose Pareto k̂ flags the weights as unreliable.
const N_DRAWS: usize = 200;
const N_PROPOSALS: usize = 800;

/// Acceptance band of the 90 % PI coverage: 85 % to 95 %.
const COVERAGE_BAND: (f64, f64) = (0.85, 0.95);

/// Asymptotic 1 % critical value of √n·D (Kolmogorov distribution, K(1.63) ≈ 0.99).
const KS_CRITICAL_1PCT: f64 = 1.63;

/// A dose of the fixed history: time (h), amount (mg), infusion duration (h; 0 = bolus).
struct Dose {
    time: f64,
    amount: f64,
    duration: f64,
}

/// The fixed design of one model: dose history per patient (from its covariates), observation
/// times, and how many observations calibrate.
struct Design {
    name: &'static str,
    doses: fn(&[f64]) -> Vec<Dose>,
    observation_times: &'static [f64],
    n_calibration: usize,
}

fn record(time: f64, evid: Evid, covariates: &[f64]) -> Record {
    Record {
        time,
        evid,
        amt: 0.0,
        cmt: None,
        rate: DoseRate::Bolus,
        ii: 0.0,
        addl: 0,
        ss: SteadyState::No,
        dv: None,
        covariates: covariates.to_vec(),
        line: 0,
    }
}

/// Records of one patient: doses and the first `n_observations` observations (with `values`
/// as DV when given), in time order, an observation before a dose at the same time (a trough
/// or pre-dose count). Nothing after the last included observation is kept.
fn patient_records(
    design: &Design,
    covariates: &[f64],
    values: Option<&[f64]>,
    n_observations: usize,
) -> Vec<Record> {
    let last_time = design.observation_times[n_observations - 1];
    let mut events: Vec<(f64, u8, Record)> = Vec::new();
    for (j, &t) in design.observation_times[..n_observations]
        .iter()
        .enumerate()
    {
        let mut r = record(t, Evid::Observation, covariates);
        r.dv = values.map(|v| v[j]);
        events.push((t, 0, r));
    }
    for dose in (design.doses)(covariates) {
        if dose.time > last_time {
            continue;
        }
        let mut r = record(dose.time, Evid::Dose, covariates);
        r.amt = dose.amount;
        r.cmt = Some(0);
        if dose.duration > 0.0 {
            r.rate = DoseRate::Rate(dose.amount / dose.duration);
        }
        events.push((dose.time, 1, r));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    events.into_iter().map(|(_, _, r)| r).collect()
}

fn dataset<M: Model>(model: &M, source: &str, subjects: Vec<Vec<Record>>) -> Dataset {
    Dataset {
        source: source.to_string(),
        covariate_names: model
            .spec()
            .covariates
            .iter()
            .map(|c| c.name.to_uppercase())
            .collect(),
        subjects: subjects
            .into_iter()
            .enumerate()
            .map(|(i, records)| Subject {
                id: (i + 1).to_string(),
                records,
            })
            .collect(),
    }
}

/// Indices of the observation records of a subject, in order.
fn observation_records(subject: &Subject) -> Vec<usize> {
    subject
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.evid == Evid::Observation)
        .map(|(i, _)| i)
        .collect()
}

/// The forecasts of one patient's held-out observations.
#[derive(Clone)]
struct PatientForecast {
    /// Whether each held-out observation lies in its 90 % prediction interval.
    covered: Vec<bool>,
    /// The PIT of each held-out observation.
    pits: Vec<f64>,
    /// Whether Pareto k̂ flagged the patient's importance weights as unreliable.
    unreliable: bool,
}

/// Results over all patients of one model.
struct Calibration {
    n_forecasts: usize,
    coverage: f64,
    pits: Vec<f64>,
    ks_d: f64,
    ks_p: f64,
    n_unreliable: usize,
}

/// One-sample Kolmogorov–Smirnov statistic of `values` against U(0, 1).
fn ks_uniform(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, &u)| ((i as f64 + 1.0) / n - u).max(u - i as f64 / n))
        .fold(0.0, f64::max)
}

/// Asymptotic p-value `Q_KS(λ) = 2 Σ_{j≥1} (−1)^{j−1} e^{−2j²λ²}` with Stephens's small-sample
/// correction `λ = (√n + 0.12 + 0.11/√n)·D` (Numerical Recipes 3rd ed., §14.3.3).
fn ks_p_value(d: f64, n: usize) -> f64 {
    let sqrt_n = (n as f64).sqrt();
    let lambda = (sqrt_n + 0.12 + 0.11 / sqrt_n) * d;
    if lambda < 0.2 {
        return 1.0;
    }
    let sum: f64 = (1..=100)
        .map(|j: i32| {
            let sign = if j % 2 == 1 { 1.0 } else { -1.0 };
            let j = f64::from(j);
            sign * (-2.0 * j * j * lambda * lambda).exp()
        })
        .sum();
    (2.0 * sum).clamp(0.0, 1.0)
}

/// Simulates the virtual patients of `model`, calibrates each on its first observations and
/// forecasts the held-out ones.
fn calibrate<M: Model>(model: &M, design: &Design) -> Calibration {
    let population: Population = population_of(model).unwrap();
    let spec = model.spec();
    let n_out = spec.outputs.len();
    let residual = population.residual(0);
    let n_obs = design.observation_times.len();
    let k = design.n_calibration;
    let options = IndividualOptions::default();

    // Truth: covariates, η, predictions over the design (no DV), observations with residual
    // error, each from its own stream.
    let mut covariates = Vec::with_capacity(N_PATIENTS);
    let mut etas = Vec::with_capacity(N_PATIENTS);
    for i in 0..N_PATIENTS {
        let mut cov = vec![0.0; spec.covariates.len()];
        model.sample_covariates(
            &mut RandomStream::new(SEED, 0, i as u64, Purpose::Covariates),
            &mut cov,
        );
        let mut eta = vec![0.0; population.n_eta()];
        population.sample_eta(
            &mut RandomStream::new(SEED, 0, i as u64, Purpose::Eta),
            &mut eta,
        );
        covariates.push(cov);
        etas.push(eta);
    }
    let design_data = dataset(
        model,
        "virtual design",
        covariates
            .iter()
            .map(|c| patient_records(design, c, None, n_obs))
            .collect(),
    );
    let mut observed = Vec::with_capacity(N_PATIENTS);
    for (i, eta) in etas.iter().enumerate() {
        let mut truth = Individual::new(model, &population, &design_data, i, &options).unwrap();
        let f = truth.predictions(eta).unwrap();
        let mut eps = RandomStream::new(SEED, 0, i as u64, Purpose::Residual);
        let values: Vec<f64> = observation_records(&design_data.subjects[i])
            .into_iter()
            .map(|r| residual.observe(f[r * n_out], eps.normal()))
            .collect();
        observed.push(values);
    }
    let calibration_data = dataset(
        model,
        "virtual calibration",
        (0..N_PATIENTS)
            .map(|i| patient_records(design, &covariates[i], Some(&observed[i]), k))
            .collect(),
    );
    let full_data = dataset(
        model,
        "virtual full history",
        (0..N_PATIENTS)
            .map(|i| patient_records(design, &covariates[i], Some(&observed[i]), n_obs))
            .collect(),
    );

    // Two design starts besides η = 0 instead of the default four: these posteriors (three or
    // two log-normal effects, well-identified) have a single mode, and the test stays fast.
    let map_options = MapOptions {
        n_design_starts: 2,
        ..MapOptions::default()
    };
    let sampling = SamplingOptions {
        n_draws: N_DRAWS,
        n_proposals: N_PROPOSALS,
        seed: SEED,
        ..SamplingOptions::default()
    };
    // One patient: calibrate, forecast, and score the held-out observations.
    let forecast_patient = |i: usize| -> PatientForecast {
        let mut patient =
            Individual::new(model, &population, &calibration_data, i, &options).unwrap();
        assert_eq!(
            patient.observations().len(),
            k,
            "{}: calibration leak",
            design.name
        );
        let map = map_estimate(&mut patient, &map_options).unwrap();
        let sample = sample_posterior(&mut patient, &map, &sampling).unwrap();

        let mut forecaster = Individual::new(model, &population, &full_data, i, &options).unwrap();
        let held_out: Vec<usize> = observation_records(&full_data.subjects[i])[k..].to_vec();
        // predictive[j][d]: draw d's prediction at held-out observation j plus a residual draw.
        let mut predictive = vec![Vec::with_capacity(N_DRAWS); held_out.len()];
        let mut eps = RandomStream::new(SEED, 0, i as u64, Purpose::Custom(1));
        for d in 0..sample.n_draws {
            let f = forecaster.predictions(sample.draw(d)).unwrap();
            for (j, &r) in held_out.iter().enumerate() {
                predictive[j].push(residual.observe(f[r * n_out], eps.normal()));
            }
        }
        let mut covered = Vec::new();
        let mut pits = Vec::new();
        for (j, samples) in predictive.iter_mut().enumerate() {
            let y = observed[i][k + j];
            samples.sort_by(f64::total_cmp);
            let m = samples.len();
            // 90 % PI: the 5th and 95th percentiles (order statistics ⌊0.05·m⌋ and ⌈0.95·m⌉−1).
            let lower = samples[(0.05 * m as f64).floor() as usize];
            let upper = samples[(0.95 * m as f64).ceil() as usize - 1];
            covered.push((lower..=upper).contains(&y));
            pits.push(samples.partition_point(|&s| s < y) as f64 / m as f64);
        }
        PatientForecast {
            covered,
            pits,
            unreliable: !sample.diagnostics.is_reliable(),
        }
    };
    // Patients split over the available cores (at most 2, the machine's size); every patient's
    // result depends only on its own streams, and results are gathered in patient order, so the
    // outcome does not depend on the number of threads.
    let n_threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    let mut per_patient: Vec<Option<PatientForecast>> = vec![None; N_PATIENTS];
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..n_threads)
            .map(|w| {
                let forecast_patient = &forecast_patient;
                scope.spawn(move || {
                    (w..N_PATIENTS)
                        .step_by(n_threads)
                        .map(|i| (i, forecast_patient(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for worker in workers {
            for (i, result) in worker.join().unwrap() {
                per_patient[i] = Some(result);
            }
        }
    });
    let mut n_covered = 0_u32;
    let mut pits = Vec::new();
    let mut n_unreliable = 0;
    for patient in per_patient.into_iter().map(Option::unwrap) {
        n_covered += patient.covered.iter().map(|&c| u32::from(c)).sum::<u32>();
        pits.extend(patient.pits);
        n_unreliable += usize::from(patient.unreliable);
    }
    let n = pits.len();
    let ks_d = ks_uniform(&pits);
    Calibration {
        n_forecasts: n,
        coverage: f64::from(n_covered) / n as f64,
        ks_p: ks_p_value(ks_d, n),
        ks_d,
        pits,
        n_unreliable,
    }
}

fn check(design: &Design, result: &Calibration, seconds: f64) {
    let n = result.n_forecasts;
    let critical = KS_CRITICAL_1PCT / (n as f64).sqrt();
    let mut deciles = [0usize; 10];
    for &u in &result.pits {
        deciles[((u * 10.0) as usize).min(9)] += 1;
    }
    println!(
        "{}: {N_PATIENTS} patients x {} held-out = {n} forecasts; 90% PI coverage {:.3}; \
         PIT KS D = {:.4} (1% critical {critical:.4}), asymptotic p = {:.3}; PIT deciles \
         {deciles:?}; {} patients with Pareto k above threshold; {seconds:.1} s",
        design.name,
        design.observation_times.len() - design.n_calibration,
        result.coverage,
        result.ks_d,
        result.ks_p,
        result.n_unreliable,
    );
    assert_eq!(
        n,
        N_PATIENTS * (design.observation_times.len() - design.n_calibration)
    );
    assert!(
        (COVERAGE_BAND.0..=COVERAGE_BAND.1).contains(&result.coverage),
        "{}: 90% PI coverage {} outside {COVERAGE_BAND:?}",
        design.name,
        result.coverage
    );
    assert!(
        result.ks_d < critical,
        "{}: PIT KS D {} not below the 1% critical value {critical}",
        design.name,
        result.ks_d
    );
}

/// Docetaxel 100 mg/m² × BSA over 1 h at 0 and 504 h (two 3-weekly cycles; the dose of the
/// model's `docetaxel-100` therapy). BSA is the model's last covariate.
fn docetaxel_doses(covariates: &[f64]) -> Vec<Dose> {
    let bsa = covariates[covariates.len() - 1];
    [0.0, 504.0]
        .map(|time| Dose {
            time,
            amount: 100.0 * bsa,
            duration: 1.0,
        })
        .into()
}

#[test]
fn neutropenia_forecasts_are_calibrated() {
    let model = KloftDocetaxelV1::new();
    assert_eq!(
        model.spec().covariates.last().map(|c| c.name),
        Some("BSA"),
        "the dose function reads BSA as the last covariate"
    );
    // ANC observed at baseline and through two cycles; calibrate on the first cycle
    // (0–336 h), forecast 504 h (pre-dose of cycle 2), 600, 672 and 744 h.
    let design = Design {
        name: "neutropenia (KloftDocetaxelV1)",
        doses: docetaxel_doses,
        observation_times: &[0.0, 96.0, 168.0, 240.0, 336.0, 504.0, 600.0, 672.0, 744.0],
        n_calibration: 5,
    };
    let start = Instant::now();
    let result = calibrate(&model, &design);
    check(&design, &result, start.elapsed().as_secs_f64());
}

/// Phenobarbital: 20 mg/kg IV load at 0 h, then 2.5 mg/kg IV every 12 h from 12 h for a week
/// (the model's `load20-maint2.5-q12h` therapy). WT is the model's first covariate.
fn pheno_doses(covariates: &[f64]) -> Vec<Dose> {
    let wt = covariates[0];
    let mut doses = vec![Dose {
        time: 0.0,
        amount: 20.0 * wt,
        duration: 0.0,
    }];
    doses.extend((1..=14).map(|i| Dose {
        time: 12.0 * f64::from(i),
        amount: 2.5 * wt,
        duration: 0.0,
    }));
    doses
}

#[test]
fn pheno_forecasts_are_calibrated() {
    let model = PhenoV1::new();
    assert_eq!(model.spec().covariates[0].name, "WT");
    // Concentration 2 h after the load and at 24 h (trough), then forecast the troughs at 48,
    // 72, 96 and 120 h. Covariates are the model's `sample_covariates` (PhenoV1 keeps the
    // reference neonate, WT 1 kg, APGR 7).
    let design = Design {
        name: "pheno (PhenoV1)",
        doses: pheno_doses,
        observation_times: &[2.0, 24.0, 48.0, 72.0, 96.0, 120.0],
        n_calibration: 2,
    };
    let start = Instant::now();
    let result = calibrate(&model, &design);
    check(&design, &result, start.elapsed().as_secs_f64());
}
