//! The full model path with catalogue models (`alzheimers`, `tumour`): the trial's patients are
//! the engine's virtual patients, the null scenario keeps the type-I error through the ODE path,
//! the ADaM tables are consistent, and the example designs stay valid.

mod common;

use twin_engine::montecarlo::{CohortOptions, run_cohort};
use twin_trial::adam;
use twin_trial::cohort::Screener;
use twin_trial::design::{Design, Inputs, catalogue_model};
use twin_trial::endpoints::{CNSR_DROPOUT, CNSR_EVENT, CNSR_STUDY_END};
use twin_trial::replicates::{NoProgress, Trial};
use twin_trial::simulate::{PatientSimulator, PreparedArm, simulate_regimen};
use twin_trial::summary::summarise;

fn parse_catalogue(text: &str) -> Design {
    let no_files = |_: &str| -> Result<String, String> { Err("no files".to_owned()) };
    Design::parse(
        "design.toml",
        text,
        &Inputs {
            models: &catalogue_model,
            files: &no_files,
        },
    )
    .unwrap()
}

fn alzheimers_design(patients: u64, replicates: u64) -> String {
    format!(
        r#"
[trial]
name = "AD"
model = "alzheimers@1"
patients = {patients}
replicates = {replicates}
seed = 11
truth_patients = 2000
dropout = {{ probability = 0.2, by = "78w" }}

[[cohort.inclusion]]
variable = "ADAS"
min = 12
max = 50

[[arms]]
name = "placebo"
regimen = "placebo"
allocation = 0.5
control = true

[[arms]]
name = "dm"
regimen = "disease-modifying"
allocation = 0.5

[visits]
every = "26w"
until = "78w"

[[endpoints]]
name = "CHG"
type = "change"
output = "ADAS"
at = "78w"

[[analyses]]
name = "dim"
endpoint = "CHG"
method = "difference-in-means"

[[analyses]]
name = "procova"
endpoint = "CHG"
method = "procova"

[prognostic]
model = "alzheimers@1"
prior_draws = 100
simulated_draws = 4
historical_patients = 200
"#
    )
}

#[test]
fn trial_patients_are_the_engines_virtual_patients() {
    // Candidate j of replicate r, simulated by the trial, equals patient j of replicate r of
    // run_cohort (same streams): observed visit values and model outcomes, bit for bit.
    let design = parse_catalogue(&alzheimers_design(20, 1));
    let screener = Screener::new(&design).unwrap();
    let arms = [design.control.arm.clone(), design.treatment.arm.clone()];
    let mut sim = PatientSimulator::new(design.truth.as_ref(), design.solver).unwrap();
    for (replicate, index) in [(0_u64, 0_u64), (3, 17), (9, 4)] {
        let mut options = CohortOptions::new(index + 1, design.seed, design.visits.clone());
        options.replicate = replicate;
        options.patients = index..index + 1;
        options.with_residual_error = true;
        let mut engine = Vec::new();
        run_cohort(design.truth.as_ref(), &arms, &options, &mut |wave| {
            engine.extend_from_slice(wave);
        })
        .unwrap();
        let candidate = screener.candidate(replicate, index);
        let n_values = design.visits.len() * design.truth.spec().outputs.len();
        let n_outcomes = design.truth.spec().outcomes.len();
        for (arm_idx, arm) in arms.iter().enumerate() {
            let ours = simulate_regimen(
                &mut sim,
                screener.population(),
                &PreparedArm::new(arm),
                &candidate.params,
                &candidate.covariates,
                &design.visits,
                design.seed,
                replicate,
                index,
            )
            .unwrap();
            let theirs = &engine[0];
            let values = &theirs.values[arm_idx * n_values..(arm_idx + 1) * n_values];
            assert!(
                ours.observed
                    .iter()
                    .zip(values)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "replicate {replicate} patient {index} arm {arm_idx}: {:?} vs {values:?}",
                ours.observed
            );
            let outcomes = &theirs.outcomes[arm_idx * n_outcomes..(arm_idx + 1) * n_outcomes];
            assert!(
                ours.outcomes
                    .iter()
                    .zip(outcomes)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "outcomes differ: {:?} vs {outcomes:?}",
                ours.outcomes
            );
        }
    }
}

#[test]
fn alzheimers_type_one_error_through_the_ode_path() {
    // 600 null replicate trials of 2 × 40 patients through the Conrado ODE model and the
    // importance-sampled prognostic score. Binomial SE √(0.05·0.95/600) = 0.0089; tolerance
    // 0.035 is 3.9 SE.
    let design = parse_catalogue(&alzheimers_design(80, 600));
    let trial = Trial::prepare(&design, &NoProgress).unwrap();
    let results = trial.run(0..design.replicates, &NoProgress).unwrap();
    for s in summarise(&trial, &results) {
        println!(
            "{}: type-I {:.4} power {:.3} bias {:+.3}",
            s.analysis, s.type1_error, s.power, s.bias
        );
        assert!(
            (s.type1_error - 0.05).abs() <= 0.035,
            "{}: {}",
            s.analysis,
            s.type1_error
        );
        assert_eq!(s.failed_null, 0);
    }
}

const TUMOUR: &str = r#"
[trial]
name = "OV"
model = "tumour@1"
patients = 80
replicates = 400
seed = 5
truth_patients = 2000
accrual = "26w"
study_end = "78w"
dropout = { probability = 0.1, by = "52w" }

[[cohort.inclusion]]
variable = "ECOG"
values = [0, 1]

[[arms]]
name = "carboplatin"
regimen = "carboplatin-auc5"
allocation = 0.5
control = true

[[arms]]
name = "combination"
regimen = "5 AUC cmt=2 over 21d q3w x6; 2000 mg/m2 cmt=3 over 21d q3w x6"
allocation = 0.5

[visits]
every = "6w"
until = "78w"

[[endpoints]]
name = "PFS"
type = "time-to-event"
outcome = "pfs"

[[analyses]]
name = "logrank"
endpoint = "PFS"
method = "log-rank"

[[analyses]]
name = "cox"
endpoint = "PFS"
method = "cox"
covariates = ["ECOG", "SLD"]
"#;

#[test]
fn tumour_type_one_error_and_adam_tables() {
    // 400 null replicate trials of 2 × 40 patients through the Zecchin ODE model. Binomial SE
    // √(0.05·0.95/400) = 0.0109; tolerance 0.04 is 3.7 SE.
    let design = parse_catalogue(TUMOUR);
    let trial = Trial::prepare(&design, &NoProgress).unwrap();
    let results = trial.run(0..design.replicates, &NoProgress).unwrap();
    for s in summarise(&trial, &results) {
        println!(
            "{}: type-I {:.4} power {:.3} events {:.1}",
            s.analysis, s.type1_error, s.power, s.mean_events
        );
        assert!(
            (s.type1_error - 0.05).abs() <= 0.04,
            "{}: {}",
            s.analysis,
            s.type1_error
        );
    }

    // ADaM of replicate 3: one ADSL row per subject; ADTTE censoring codes agree with the
    // follow-up: an event within the administrative limit, censoring at the study end exactly
    // at (study end − entry), dropout strictly before it.
    let data = trial.replicate_data(3, design.patients, true).unwrap();
    let adsl = adam::adsl(&design, &data);
    assert_eq!(adsl.lines().count(), 1 + 80);
    let adtte = adam::adtte(&design, &data);
    let header: Vec<&str> = adtte.lines().next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (aval, cnsr, evnt) = (column("AVAL"), column("CNSR"), column("EVNTDESC"));
    let mut codes = [0; 3];
    for (line, patient) in adtte.lines().skip(1).zip(&data.patients) {
        let cells: Vec<&str> = line.split(',').collect();
        let time: f64 = cells[aval].parse().unwrap();
        let code: u8 = cells[cnsr].parse().unwrap();
        codes[usize::from(code)] += 1;
        let limit = design.study_end - patient.entry;
        assert!(time > 0.0 && time <= limit + 1e-9, "{line}");
        match code {
            CNSR_EVENT => assert_eq!(cells[evnt], "PFS", "{line}"),
            CNSR_STUDY_END => assert!((time - limit).abs() < 1e-9, "{line}"),
            CNSR_DROPOUT => assert!(
                (time - patient.dropout).abs() < 1e-9 && time < limit,
                "{line}"
            ),
            other => panic!("CNSR {other}"),
        }
    }
    assert!(
        codes[0] > 0 && codes[1] > 0,
        "events and censorings: {codes:?}"
    );
}

#[test]
fn example_designs_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/trials");
    let files = |path: &str| -> Result<String, String> {
        std::fs::read_to_string(format!("{dir}/{path}")).map_err(|e| e.to_string())
    };
    for name in ["alzheimers-procova.toml", "ovarian-pfs.toml"] {
        let text = files(name).unwrap();
        let design = Design::parse(
            name,
            &text,
            &Inputs {
                models: &catalogue_model,
                files: &files,
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            design.sample_size.is_some(),
            "{name}: the examples show the sample-size search"
        );
    }
}
