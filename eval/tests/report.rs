//! The report end to end on the pheno example (`examples/eval/pheno/plan.toml`, real data):
//! byte-identical JSON for identical inputs, a FAIL verdict that names the failed criterion,
//! the `supersedes` link and change log, `diff`, tamper detection, identical versions giving zero
//! paired differences, and bad input refused before any computation.
//!
//! Draw and bootstrap counts are lowered from the example's (a text substitution on the plan) so
//! the tests take seconds.

use std::path::PathBuf;

use twin_engine::model::sha256_hex;
use twin_eval::diff::diff_reports;
use twin_eval::plan::ValidationPlan;
use twin_eval::report::{EvaluationInputs, InputFile, ProgramInfo, Report, evaluate, prepare};

fn example_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/eval/pheno"
    ))
}

/// The pheno example plan with fewer draws and bootstrap replicates.
fn plan_text() -> String {
    std::fs::read_to_string(example_dir().join("plan.toml"))
        .unwrap()
        .replace("draws = 200", "draws = 60")
        .replace("bootstrap_replicates = 1000", "bootstrap_replicates = 200")
}

fn program() -> ProgramInfo {
    ProgramInfo {
        name: "twin".to_owned(),
        version: "test".to_owned(),
        commit: None,
        command: "twin eval --plan plan.toml".to_owned(),
    }
}

/// Runs a plan text against the example's data; `previous_report` is (path, bytes).
fn run(text: &str, previous_report: Option<(&str, &[u8])>) -> Report {
    let plan = ValidationPlan::parse("plan.toml", text).unwrap();
    let data = std::fs::read(example_dir().join(&plan.data.evaluation)).unwrap();
    let candidate = twin_models::find(&plan.models.candidate).unwrap();
    let previous = plan
        .models
        .previous
        .as_ref()
        .map(|r| twin_models::find(r).unwrap());
    let program = program();
    let inputs = EvaluationInputs {
        plan: &plan,
        plan_file: InputFile {
            path: "plan.toml",
            bytes: text.as_bytes(),
        },
        evaluation: InputFile {
            path: &plan.data.evaluation,
            bytes: &data,
        },
        training: None,
        previous_report: previous_report.map(|(path, bytes)| InputFile { path, bytes }),
        candidate: candidate.as_ref(),
        previous: previous.as_deref(),
        program: &program,
    };
    evaluate(&prepare(inputs).unwrap()).unwrap()
}

#[test]
fn identical_inputs_give_identical_bytes_and_a_verifiable_hash() {
    let text = plan_text();
    let first = run(&text, None).to_json();
    let second = run(&text, None).to_json();
    assert_eq!(first, second, "report.json must be byte-identical");
    let parsed = Report::from_json("report.json", &first).unwrap();
    assert!(parsed.verify(), "the body hash must match the body");
    // Keys are sorted at every level: the top level reads body, body_sha256, schema.
    let keys: Vec<&str> = first
        .lines()
        .filter(|l| l.starts_with("  \"") && !l.starts_with("   "))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect();
    assert_eq!(keys, ["body", "body_sha256", "schema"]);
    // Round trip: parsing and writing again gives the same bytes.
    assert_eq!(parsed.to_json(), first);
    let html = twin_eval::html::render(&parsed);
    assert!(html.contains("Verdict: "));
    assert!(
        html.matches("<svg").count() >= 5,
        "PIT, coverage, 2 VPCs, differences"
    );
    for external in ["<script", "href=\"http", "src=\"http", "@import", "<link"] {
        assert!(
            !html.contains(external),
            "report.html references {external}"
        );
    }
}

#[test]
fn a_failed_criterion_fails_the_verdict_and_is_named() {
    let text = plan_text().replace(
        "[[criteria]]\nrule = \"crps <= 4.0\"",
        "[[criteria]]\nname = \"CRPS below 0.1 mg/L\"\nrule = \"crps <= 0.1\"\nsubgroup = \"all\"\n\
         [[criteria]]\nrule = \"crps <= 4.0\"",
    );
    let report = run(&text, None);
    let verdict = &report.body.verdict;
    assert_eq!(verdict.status, "FAIL");
    assert!(
        verdict
            .failed_criteria
            .contains(&"CRPS below 0.1 mg/L".to_owned()),
        "{verdict:?}"
    );
    assert!(verdict.summary.contains("CRPS below 0.1 mg/L"));
    let criterion = report
        .body
        .criteria
        .iter()
        .find(|c| c.name == "CRPS below 0.1 mg/L")
        .unwrap();
    assert_eq!(criterion.status, "fail");
    // Decided on the upper CI bound (the default), which exceeds 0.1.
    assert_eq!(criterion.decided_on, "upper bound of the 95 % CI");
    assert!(criterion.decisive_value.unwrap() > 0.1);
    let html = twin_eval::html::render(&report);
    let verdict_at = html.find("Verdict: FAIL").unwrap();
    assert!(
        verdict_at < html.find("1. Identity").unwrap(),
        "verdict first"
    );
}

#[test]
fn a_report_links_the_one_it_supersedes_and_diff_says_what_changed() {
    let text = plan_text();
    let old = run(&text, None);
    let old_json = old.to_json();
    let new_text = text
        .replace(
            "[models]\n",
            "[models]\nsupersedes = \"previous/report.json\"\n",
        )
        .replace("coverage90 >= 0.70", "coverage90 >= 0.60");
    let new = run(
        &new_text,
        Some(("previous/report.json", old_json.as_bytes())),
    );
    let link = new.body.identity.supersedes.as_ref().unwrap();
    assert_eq!(link.sha256, sha256_hex(old_json.as_bytes()));
    assert_eq!(link.report_id, old.body.identity.report_id);
    assert!(!new.body.change_log.since_superseded.is_empty());
    let lines = diff_reports(&old, &sha256_hex(old_json.as_bytes()), &new);
    let text = lines.join("\n");
    assert!(text.contains("B supersedes A"), "{text}");
    assert!(
        text.contains("plan: plan.toml"),
        "the plan hash changed: {text}"
    );
    assert!(
        text.contains("criterion added: coverage90 >= 0.60")
            && text.contains("criterion removed: coverage90 >= 0.70"),
        "{text}"
    );

    // A report edited after it was written no longer matches its hash.
    let tampered_json = old_json.replacen("\"n_subjects\": 59", "\"n_subjects\": 58", 1);
    assert_ne!(tampered_json, old_json);
    let tampered = Report::from_json("a.json", &tampered_json).unwrap();
    assert!(!tampered.verify());
    let lines = diff_reports(&tampered, "", &new);
    assert!(lines[0].contains("report A was altered"), "{lines:?}");
}

#[test]
fn identical_versions_have_zero_paired_differences() {
    let text = plan_text().replace("candidate = \"pheno@2\"", "candidate = \"pheno@1\"");
    let report = run(&text, None);
    let comparison = report.body.comparison.as_ref().unwrap();
    for (metric, diff) in &comparison.paired["all"] {
        assert!(
            diff.mean.abs() < f64::MIN_POSITIVE,
            "{metric}: {}",
            diff.mean
        );
    }
    assert!(comparison.prediction_drift.psi.abs() < f64::MIN_POSITIVE);
    assert_eq!(comparison.decision.as_ref().unwrap().n_flips, 0);
}

#[test]
fn bad_input_is_refused_before_any_computation() {
    let text = plan_text();
    let plan = ValidationPlan::parse("plan.toml", &text).unwrap();
    let candidate = twin_models::find("pheno@2").unwrap();
    let previous = twin_models::find("pheno@1").unwrap();
    let program = program();
    let check = |data: &str, plan: &ValidationPlan, needle: &str| {
        let inputs = EvaluationInputs {
            plan,
            plan_file: InputFile {
                path: "plan.toml",
                bytes: text.as_bytes(),
            },
            evaluation: InputFile {
                path: "cohort.csv",
                bytes: data.as_bytes(),
            },
            training: None,
            previous_report: None,
            candidate: candidate.as_ref(),
            previous: Some(previous.as_ref()),
            program: &program,
        };
        let err = prepare(inputs).unwrap_err();
        assert!(err.is_bad_input(), "{err}");
        let message = format!("{err}");
        assert!(message.contains(needle), "'{needle}' not in '{message}'");
    };
    // A cohort without DV.
    check(
        "ID,TIME,AMT,WT,APGR\n1,0,25,1.4,7\n",
        &plan,
        "cohort.csv: has no column DV",
    );
    // A cohort without a covariate the model needs.
    check(
        "ID,TIME,AMT,DV,WT\n1,0,25,.,1.4\n1,2,0,17.3,1.4\n1,12,0,20,1.4\n",
        &plan,
        "APGR",
    );
    // A subgroup on a column the cohort lacks.
    let mut other = plan.clone();
    other.subgroups[0].covariate = "GA".to_owned();
    let data = std::fs::read_to_string(example_dir().join(&plan.data.evaluation)).unwrap();
    check(&data, &other, "subgroups[0].covariate");
    // An output the model lacks.
    let mut other = plan.clone();
    other.protocol.output = "CONC".to_owned();
    check(&data, &other, "model pheno@2 has no output 'CONC'");
    // A decision therapy that is not a regimen.
    let mut other = plan.clone();
    other.decision.as_mut().unwrap().therapies[1] = "low=1.5 mg/kg iv q12parsecs".to_owned();
    check(&data, &other, "decision.therapies[1]");
    assert_eq!(candidate.spec().version, "2");
}

/// The neutropenia example (simulated from neutropenia@1, with a training cohort, a
/// time-to-event endpoint and an outcome-based decision), with fewer draws.
#[test]
fn neutropenia_example_scores_events_decisions_and_cohort_drift() {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/eval/neutropenia"
    ));
    let text = std::fs::read_to_string(dir.join("plan.toml"))
        .unwrap()
        .replace("draws = 100", "draws = 50")
        .replace("bootstrap_replicates = 1000", "bootstrap_replicates = 200");
    let plan = ValidationPlan::parse("plan.toml", &text).unwrap();
    let data = std::fs::read(dir.join(&plan.data.evaluation)).unwrap();
    let training = std::fs::read(dir.join(plan.data.training.as_ref().unwrap())).unwrap();
    let candidate = twin_models::find(&plan.models.candidate).unwrap();
    let previous = twin_models::find(plan.models.previous.as_ref().unwrap()).unwrap();
    let program = program();
    let inputs = EvaluationInputs {
        plan: &plan,
        plan_file: InputFile {
            path: "plan.toml",
            bytes: text.as_bytes(),
        },
        evaluation: InputFile {
            path: &plan.data.evaluation,
            bytes: &data,
        },
        training: Some(InputFile {
            path: plan.data.training.as_deref().unwrap(),
            bytes: &training,
        }),
        previous_report: None,
        candidate: candidate.as_ref(),
        previous: Some(previous.as_ref()),
        program: &program,
    };
    let report = evaluate(&prepare(inputs).unwrap()).unwrap();
    let body = &report.body;
    assert_eq!(body.protocol.n_analysed, 40);
    // Four held-out counts per patient (504, 600, 672 and 744 h).
    assert_eq!(body.protocol.n_held_out, 160);
    let all = &body.results["previous"].by_subgroup["all"].metrics;
    // The cohort was simulated from version 1, so its forecasts must be calibrated and must rank
    // patients by their observed time to grade 4 much better than chance. Bounds: 90 % coverage
    // within ±0.1 (the patient-level bootstrap CI half-width is about 0.06 here); Harrell's C
    // above 0.7 (0.5 is chance).
    let coverage = all["coverage90"].value.unwrap();
    assert!((0.8..=1.0).contains(&coverage), "coverage90 {coverage}");
    let c = all["harrell_c"].value.unwrap();
    assert!(c > 0.7, "Harrell's C {c}");
    assert!(all["ibs"].value.is_some() && all["brier"].value.is_some());
    let decision = body.comparison.as_ref().unwrap().decision.as_ref().unwrap();
    assert_eq!(decision.therapies, ["d100", "d75"]);
    for counts in decision.choices.values() {
        assert_eq!(counts.iter().sum::<usize>(), 40);
    }
    assert_eq!(decision.flipped.len(), decision.n_flips);
    let drift = body.cohort_drift.as_ref().unwrap();
    assert_eq!(
        drift.covariates.keys().collect::<Vec<_>>(),
        ["AAG", "BSA", "PC", "PERF", "SEX"]
    );
    // Both cohorts come from the same sampler: no covariate should drift by the KS rule at
    // p < 0.05 in more than 2 of 5 (each has a 5 % false-positive rate).
    assert!(drift.n_drifted <= 2 && !drift.dataset_drift, "{drift:?}");
}
