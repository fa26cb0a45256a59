//! The simulated cohorts of the neutropenia evaluation example (`examples/eval/neutropenia/`):
//! this test is their generator and checks that the committed files are exactly what it writes.
//!
//! Regenerate (and commit the result) with
//!
//! ```sh
//! UPDATE_EXAMPLES=1 cargo test -p twin-eval --test example_cohort
//! ```
//!
//! `cohort.csv` (the evaluation cohort): 40 virtual patients of `neutropenia@1` (Kloft 2006 via
//! DDMoRe 224): covariates from the model's virtual-population sampler, η ~ N(0, Ω), docetaxel
//! 75 mg/m² (odd IDs) or 100 mg/m² (even IDs) as 1-h infusions at 0 and 504 h (two 3-weekly
//! cycles), ANC observed at 0, 96, 168, 240, 336, 504 (before the second infusion), 600, 672 and
//! 744 h with the model's residual error (log-normal, SD 0.424 on the log scale). Values are
//! rounded as a laboratory would report them: ANC to 4 significant digits, AAG and BSA to two
//! decimals, doses to 0.1 mg; the truth is simulated from the rounded covariates and doses.
//!
//! `training.csv` (the reference cohort of the drift section): the baseline covariates of 200
//! other virtual patients from the same sampler (another seed), one EVID 2 row each. It stands in
//! for the training cohort of the model, whose data were not obtained \[A\].
//!
//! Streams: `RandomStream::new(SEED, 0, patient, Covariates | Eta | Residual)`; the training
//! cohort uses `SEED + 1`.

use std::fmt::Write as _;
use std::path::PathBuf;

use twin_engine::Model;
use twin_engine::nmcsv::parse_dataset;
use twin_engine::posterior::{Individual, IndividualOptions};
use twin_engine::predict::population_of;
use twin_engine::random::{Purpose, RandomStream};
use twin_models::neutropenia::KloftDocetaxelV1;

/// Seed of the evaluation cohort (the training cohort uses `SEED + 1`).
const SEED: u64 = 20_260_505;
const N_PATIENTS: usize = 40;
const N_TRAINING: usize = 200;
const OBSERVATION_TIMES_H: [f64; 9] = [0.0, 96.0, 168.0, 240.0, 336.0, 504.0, 600.0, 672.0, 744.0];
const DOSE_TIMES_H: [f64; 2] = [0.0, 504.0];
const HEADER: &str = "ID,TIME,EVID,AMT,RATE,DV,MDV,SEX,PERF,PC,AAG,BSA";

fn example_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/eval/neutropenia"
    ))
}

/// `v` with `digits` significant digits, as text.
fn significant(v: f64, digits: i32) -> String {
    let decimals = (digits - 1 - v.abs().log10().floor() as i32).max(0);
    format!("{v:.*}", decimals as usize)
}

/// Covariates `[SEX, PERF, PC, AAG, BSA]` of a virtual patient, rounded as written.
fn covariates(model: &KloftDocetaxelV1, seed: u64, patient: usize) -> [String; 5] {
    let mut c = [0.0; 5];
    model.sample_covariates(
        &mut RandomStream::new(seed, 0, patient as u64, Purpose::Covariates),
        &mut c,
    );
    [
        format!("{}", c[0]),
        format!("{}", c[1]),
        format!("{}", c[2]),
        format!("{:.2}", c[3]),
        format!("{:.2}", c[4]),
    ]
}

/// The evaluation cohort: the design rows first (DV missing), then the simulated observations.
fn evaluation_cohort() -> String {
    let model = KloftDocetaxelV1::new();
    let population = population_of(&model).unwrap();
    let residual = population.residual(0);
    // Rows per patient: (time, order at that time, row text with a DV placeholder).
    let mut design = String::from(HEADER);
    design.push('\n');
    let mut rows_per_patient = Vec::new();
    for patient in 0..N_PATIENTS {
        let id = patient + 1;
        let cov = covariates(&model, SEED, patient);
        let bsa: f64 = cov[4].parse().unwrap();
        let dose_per_m2 = if id % 2 == 1 { 75.0 } else { 100.0 };
        let amount = (dose_per_m2 * bsa * 10.0).round() / 10.0;
        let mut rows: Vec<(f64, u8, String)> = Vec::new();
        for &t in &OBSERVATION_TIMES_H {
            // An observation at a dose time is a pre-dose count: it comes first.
            rows.push((t, 0, format!("{id},{t},0,0,0,{{DV}},0,{}", cov.join(","))));
        }
        for &t in &DOSE_TIMES_H {
            rows.push((
                t,
                1,
                format!("{id},{t},1,{amount},{amount},.,1,{}", cov.join(",")),
            ));
        }
        rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (_, _, row) in &rows {
            let _ = writeln!(design, "{}", row.replace("{DV}", "."));
        }
        rows_per_patient.push(rows);
    }
    // Truth: predictions at η drawn from the population, plus residual error.
    let design_data = parse_dataset("design", &design).unwrap();
    let mut text = String::from(HEADER);
    text.push('\n');
    for (patient, rows) in rows_per_patient.iter().enumerate() {
        let mut eta = vec![0.0; population.n_eta()];
        population.sample_eta(
            &mut RandomStream::new(SEED, 0, patient as u64, Purpose::Eta),
            &mut eta,
        );
        let mut truth = Individual::new(
            &model,
            &population,
            &design_data,
            patient,
            &IndividualOptions::default(),
        )
        .unwrap();
        let f = truth.predictions(&eta).unwrap();
        let n_out = model.spec().outputs.len();
        let mut eps = RandomStream::new(SEED, 0, patient as u64, Purpose::Residual);
        for (record_idx, (_, kind, row)) in rows.iter().enumerate() {
            let dv = if *kind == 0 {
                significant(residual.observe(f[record_idx * n_out], eps.normal()), 4)
            } else {
                ".".to_owned()
            };
            let _ = writeln!(text, "{}", row.replace("{DV}", &dv));
        }
    }
    text
}

/// The training cohort: baseline covariates only.
fn training_cohort() -> String {
    let model = KloftDocetaxelV1::new();
    let mut text = String::from("ID,TIME,EVID,SEX,PERF,PC,AAG,BSA\n");
    for patient in 0..N_TRAINING {
        let cov = covariates(&model, SEED + 1, patient);
        let _ = writeln!(text, "{},0,2,{}", patient + 1, cov.join(","));
    }
    text
}

#[test]
fn committed_example_cohorts_are_what_the_generator_writes() {
    let dir = example_dir();
    for (name, text) in [
        ("cohort.csv", evaluation_cohort()),
        ("training.csv", training_cohort()),
    ] {
        let path = dir.join(name);
        if std::env::var_os("UPDATE_EXAMPLES").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_EXAMPLES=1)", path.display()));
        assert!(
            committed == text,
            "{} differs from the generator's output; regenerate with UPDATE_EXAMPLES=1 and \
             explain the change",
            path.display()
        );
        // The file is a valid cohort for the model.
        let data = parse_dataset(name, &committed).unwrap();
        assert_eq!(
            data.subjects.len(),
            if name == "cohort.csv" {
                N_PATIENTS
            } else {
                N_TRAINING
            }
        );
    }
}
