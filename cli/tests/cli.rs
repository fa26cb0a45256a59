//! End-to-end tests of the `twin` binary: determinism across thread counts and clear failures on
//! bad input (message with file and line, non-zero exit, no panic, no output file).

use std::path::Path;
use std::process::Output;

mod common;
use common::{scratch, stderr, testdata, twin};

const GOOD_DATA: &str = "ID,TIME,AMT,CMT,EVID,DV\n1,0,100,1,1,.\n1,1,0,2,0,.\n1,2,0,2,0,.\n";

/// Runs `twin predict --model pk-1cmt` on the file `data`, writing `out`, with `extra` arguments.
fn predict_pk(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "predict",
        "--model",
        "pk-1cmt",
        "--data",
        data.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.extend(["--out", out.to_str().unwrap()]);
    twin(&args)
}

/// Runs `twin predict` on `data` and checks it fails cleanly with a message naming `line` and
/// containing `needle`.
fn assert_predict_rejects(name: &str, data: &str, line: usize, needle: &str) {
    let dir = scratch(name);
    let input = dir.join("data.csv");
    std::fs::write(&input, data).unwrap();
    let out_path = dir.join("pred.csv");
    let out = predict_pk(&input, &out_path, &[]);
    let message = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{name}: exit code, stderr: {message}"
    );
    assert!(!message.contains("panicked"), "{name}: panicked: {message}");
    assert!(
        message.contains(&format!("data.csv:{line}")),
        "{name}: no file:line in '{message}'"
    );
    assert!(
        message.to_lowercase().contains(&needle.to_lowercase()),
        "{name}: '{needle}' not in '{message}'"
    );
    assert!(!out_path.exists(), "{name}: an output file was written");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != "data.csv")
        .collect();
    assert!(
        leftovers.is_empty(),
        "{name}: files left behind: {leftovers:?}"
    );
}

#[test]
fn predict_writes_one_row_per_record() {
    let dir = scratch("predict_ok");
    let input = dir.join("data.csv");
    std::fs::write(&input, GOOD_DATA).unwrap();
    let out_path = dir.join("pred.csv");
    let out = predict_pk(
        &input,
        &out_path,
        &["--param", "CL=1.1", "--param", "V=20", "--param", "KA=1.5"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&out_path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ID,TIME,EVID,CP");
    assert_eq!(lines.len(), 4);
    // docs/models/pk.md §Check numbers: CP(1 h) = 3754.438 µg/L for this model and dose (NONMEM
    // prints 3754.4).
    let cp: f64 = lines[2].split(',').nth(3).unwrap().parse().unwrap();
    assert!((cp * 1000.0 - 3754.438).abs() < 1e-3, "{cp}");
}

#[test]
fn missing_column_is_reported_with_file_and_line() {
    assert_predict_rejects("missing_column", "ID,AMT,CMT\n1,100,1\n", 1, "TIME");
}

#[test]
fn non_numeric_value_is_reported() {
    assert_predict_rejects(
        "non_numeric",
        "ID,TIME,AMT,CMT,EVID\n1,0,100,1,1\n1,abc,0,2,0\n",
        3,
        "abc",
    );
}

#[test]
fn time_going_backwards_is_reported() {
    assert_predict_rejects(
        "backwards",
        "ID,TIME,AMT,CMT,EVID\n1,5,100,1,1\n1,2,0,2,0\n",
        3,
        "backwards",
    );
}

#[test]
fn negative_amount_is_reported() {
    assert_predict_rejects(
        "negative_amount",
        "ID,TIME,AMT,CMT,EVID\n1,0,-100,1,1\n",
        2,
        "AMT",
    );
}

#[test]
fn unknown_compartment_is_reported() {
    assert_predict_rejects(
        "unknown_cmt",
        "ID,TIME,AMT,CMT,EVID\n1,0,100,1,1\n1,1,0,7,0\n",
        3,
        "CMT 7",
    );
}

#[test]
fn modelled_rate_the_model_leaves_to_the_user_is_refused_unless_set() {
    // NONMEM refuses RATE = -1 when $PK defines no R2; pk-1cmt's R2 is a placeholder.
    assert_predict_rejects(
        "modelled_rate_unset",
        "ID,TIME,AMT,RATE,CMT,EVID\n1,0,0,0,2,0\n1,0,100,-1,2,1\n1,1,0,0,2,0\n",
        3,
        "modelled infusion rate R2 of CMT 2 (CENTRAL)",
    );
}

#[test]
fn modelled_duration_into_a_compartment_without_one_is_refused() {
    assert_predict_rejects(
        "modelled_duration_depot",
        "ID,TIME,AMT,RATE,CMT,EVID\n1,0,100,-2,1,1\n1,1,0,0,2,0\n",
        2,
        "modelled infusion duration of CMT 1 (DEPOT), but model pk-1cmt defines none",
    );
}

#[test]
fn a_header_without_records_is_refused() {
    assert_predict_rejects("header_only", "ID,TIME,AMT,DV\n", 1, "no data row");
    assert_predict_rejects(
        "comment_rows_only",
        "C,ID,TIME,AMT,DV\n# a comment\nC,1,0,100,.\n\n",
        1,
        "no data row",
    );
}

#[test]
fn a_bad_record_after_good_subjects_leaves_the_previous_output_untouched() {
    // Subjects are predicted and written one at a time: an error in the third subject must not
    // leave a partial file, nor replace the output of an earlier run.
    let dir = scratch("late_error");
    let input = dir.join("data.csv");
    let good_then_bad = format!("{GOOD_DATA}2,0,100,1,1,.\n3,0,100,7,1,.\n");
    std::fs::write(&input, good_then_bad).unwrap();
    let out_path = dir.join("pred.csv");
    std::fs::write(&out_path, "an earlier run's output\n").unwrap();
    let out = predict_pk(&input, &out_path, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("data.csv:6: CMT 7"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&out_path).unwrap(),
        "an earlier run's output\n"
    );
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "files left behind: {names:?}");
}

#[test]
fn streamed_predictions_reproduce_nonmem_on_the_dosing_scenarios() {
    // NONMEM 7.4.3's CP for the nmtests scenarios with ids below 100 (nlmixr2data; see
    // docs/nonmem-differences.md): ADVAN2 TRANS2, CL 1.1 L/h, V 20 L, KA 1.5 /h, lag time,
    // bioavailability and modelled rate or duration from columns. `twin predict` reads and writes
    // subject by subject; NONMEM prints 5 significant digits and cp is in µg/L.
    let data = testdata("third_party/nlmixr2data/nmtest-nonmem743.csv");
    let dir = scratch("predict_nm743");
    let out_path = dir.join("pred.csv");
    let params = [
        "CL=1.1",
        "V=20",
        "KA=1.5",
        "ALAG2=@LAGT",
        "F2=@BIOAV",
        "R2=@RAT2",
        "D2=@DUR2",
    ];
    let mut args = vec!["predict", "--model", "pk-1cmt", "--data", &data];
    for p in &params {
        args.extend(["--param", p]);
    }
    args.extend(["--out", out_path.to_str().unwrap()]);
    let out = twin(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let predicted = std::fs::read_to_string(&out_path).unwrap();
    let reference = std::fs::read_to_string(&data).unwrap();
    let mut n_compared = 0;
    for (ours, theirs) in predicted.lines().skip(1).zip(reference.lines().skip(1)) {
        let ours: Vec<&str> = ours.split(',').collect();
        let theirs: Vec<&str> = theirs.split(',').collect();
        assert_eq!(ours[0], theirs[0], "row order: {ours:?} vs {theirs:?}");
        let id: u32 = theirs[0].parse().unwrap();
        if id >= 100 || theirs[5] != "0" {
            continue; // scenarios >= 100 differ as docs/nonmem-differences.md explains
        }
        let cp_ours: f64 = ours[3].parse().unwrap();
        let cp_nonmem: f64 = theirs[2].parse().unwrap();
        let tolerance = 1e-4 * cp_nonmem.abs() + 1e-6;
        assert!(
            (cp_ours * 1000.0 - cp_nonmem).abs() <= tolerance,
            "ID {id}: {} vs NONMEM {cp_nonmem}",
            cp_ours * 1000.0
        );
        n_compared += 1;
    }
    assert_eq!(predicted.lines().count(), reference.lines().count());
    assert!(n_compared > 1000, "only {n_compared} observations compared");
}

#[test]
fn unknown_model_and_parameter_are_reported_before_anything_runs() {
    let dir = scratch("unknown_model");
    let input = dir.join("data.csv");
    std::fs::write(&input, GOOD_DATA).unwrap();
    let out_path = dir.join("pred.csv");
    let out = twin(&[
        "predict",
        "--model",
        "pk-9cmt",
        "--data",
        input.to_str().unwrap(),
        "--out",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown model 'pk-9cmt'"),
        "{}",
        stderr(&out)
    );
    let out = twin(&[
        "predict",
        "--model",
        "pk-1cmt",
        "--data",
        input.to_str().unwrap(),
        "--param",
        "CLX=3",
        "--out",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("CLX"), "{}", stderr(&out));
    assert!(!out_path.exists());
}

fn simulate(dir: &Path, threads: &str) -> (String, String) {
    let out = twin(&[
        "simulate",
        "--model",
        "pk-2cmt-mm",
        "--arm",
        "low=100 mg q24h x7",
        "--arm",
        "high=200 mg q24h x7",
        "--patients",
        "2500",
        "--seed",
        "11",
        "--threads",
        threads,
        "--every",
        "2h",
        "--event",
        "toxic:CP>3",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    (
        std::fs::read_to_string(dir.join("summary.csv")).unwrap(),
        std::fs::read_to_string(dir.join("summary.json")).unwrap(),
    )
}

#[test]
fn simulate_summaries_are_byte_identical_on_one_and_two_threads() {
    let one = simulate(&scratch("sim_threads_1"), "1");
    let two = simulate(&scratch("sim_threads_2"), "2");
    assert!(
        one.0 == two.0,
        "summary.csv differs between --threads 1 and --threads 2"
    );
    assert!(
        one.1 == two.1,
        "summary.json differs between --threads 1 and --threads 2"
    );
    assert!(
        one.0
            .starts_with("arm,output,time,mean,p05,p25,p50,p75,p95\n")
    );
    // 7 days at 2-hourly output: 85 times per arm and output.
    assert_eq!(one.0.lines().count(), 1 + 2 * 85);
}

#[test]
fn simulate_rejects_bad_regimen_and_event_before_writing() {
    let dir = scratch("sim_bad");
    let out_dir = dir.join("out");
    let out = twin(&[
        "simulate",
        "--model",
        "pk-1cmt",
        "--arm",
        "a=100 mg q24h x0",
        "--patients",
        "10",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("dose count"), "{}", stderr(&out));
    let out = twin(&[
        "simulate",
        "--model",
        "pk-1cmt",
        "--arm",
        "a=100 mg",
        "--event",
        "e:ANC<1",
        "--patients",
        "10",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no output 'ANC'"), "{}", stderr(&out));
    assert!(!out_dir.exists(), "output directory created for bad input");
}

#[test]
fn models_lists_the_catalogue_with_hashes_and_describe_shows_sources() {
    let out = twin(&["models"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for id in ["neutropenia", "alzheimers", "pk-2cmt"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("{id} not listed:\n{text}"));
        // Version, then a 12-hex-digit content hash.
        let hash = line.split_whitespace().nth(2).unwrap();
        assert!(
            hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit()),
            "{line}"
        );
    }
    let out = twin(&["models", "--describe", "neutropenia@1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Kloft") && text.contains("[A]") && text.contains("content hash (SHA-256)"),
        "{text}"
    );
}

#[test]
fn unknown_version_and_bad_protocols_fail_before_anything_runs() {
    let dir = scratch("sim_bad_protocol");
    let out_dir = dir.join("out");
    let out = twin(&[
        "simulate",
        "--model",
        "neutropenia@9",
        "--arm",
        "a=docetaxel-75",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no version '9'"), "{}", stderr(&out));
    for (name, json, needle) in [
        (
            "missing_output.json",
            r#"{"regimen": "75 mg/m2 iv over 1h q3w x6", "rules": [{"if": {"output": "PLATELETS", "below": 50}, "then": {"delay": "7d"}}]}"#,
            "no output 'PLATELETS'",
        ),
        (
            "malformed.json",
            "{\"regimen\": \"75 mg/m2 iv\",\n \"rules\": [ {\"if\": } ]}",
            "malformed.json:2",
        ),
        (
            "two_actions.json",
            r#"{"regimen": "75 mg/m2 iv", "rules": [{"if": {"output": "ANC", "below": 1}, "then": {"delay": "7d", "skip": true}}]}"#,
            "exactly one of",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, json).unwrap();
        let arm = format!("a=@{}", path.display());
        let out = twin(&[
            "simulate",
            "--model",
            "neutropenia",
            "--arm",
            &arm,
            "--patients",
            "5",
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{name}: {}", stderr(&out));
    }
    assert!(!out_dir.exists(), "output directory created for bad input");
}

#[test]
fn simulate_param_fixes_parameters_for_every_patient_and_rejects_unknown_ones() {
    let dir = scratch("sim_param");
    let out_dir = dir.join("out");
    // With CL, V and KA fixed, the random effects no longer matter: every patient is identical,
    // so the 5th and 95th percentiles coincide (one sketch bucket) at every time.
    let out = twin(&[
        "simulate",
        "--model",
        "pk-1cmt",
        "--arm",
        "a=100 mg q24h x2",
        "--param",
        "CL=2",
        "--param",
        "V=30",
        "--param",
        "KA=1",
        "--patients",
        "50",
        "--every",
        "6h",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read_to_string(out_dir.join("summary.csv")).unwrap();
    for line in csv.lines().skip(2) {
        let f: Vec<f64> = line
            .split(',')
            .skip(3)
            .map(|v| v.parse().unwrap())
            .collect();
        assert!((f[1] - f[5]).abs() <= 1e-12 * f[5].abs(), "{line}");
    }
    let bad_dir = dir.join("bad");
    for (param, needle) in [
        ("CLX=3", "no such parameter"),
        ("CL=-1", "outside its bounds"),
        ("CL", "expected NAME=VALUE"),
    ] {
        let out = twin(&[
            "simulate",
            "--model",
            "pk-1cmt",
            "--arm",
            "a=100 mg",
            "--param",
            param,
            "--out",
            bad_dir.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{param}");
        assert!(stderr(&out).contains(needle), "{param}: {}", stderr(&out));
    }
    assert!(!bad_dir.exists());
}

const NEUTROPENIA_PATIENT: &str = "ID,TIME,DV,MDV,EVID,AMT,CMT,RATE,SEX,PERF,PC,AAG,BSA
7,0,5.4,0,0,0,7,0,2,1,0,1.5,1.7
7,0,.,1,1,170,1,170,2,1,0,1.5,1.7
7,96,2.1,0,0,0,7,0,2,1,0,1.5,1.7
7,168,0.45,0,0,0,7,0,2,1,0,1.5,1.7
7,336,4.8,0,0,0,7,0,2,1,0,1.5,1.7
";

fn forecast(dir: &Path, patient: &str, extra: &[&str]) -> Output {
    let input = dir.join("patient.csv");
    std::fs::write(&input, patient).unwrap();
    let out_dir = dir.join("out");
    let mut args = vec![
        "forecast",
        "--model",
        "neutropenia",
        "--patient",
        input.to_str().unwrap(),
        "--therapy",
        "d75=docetaxel-75",
        "--therapy",
        "d100=docetaxel-100",
        "--from",
        "21d",
        "--until",
        "42d",
        "--every",
        "1d",
        "--draws",
        "100",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    twin(&args)
}

#[test]
fn forecast_writes_paired_therapy_forecasts_with_the_patients_eta() {
    let dir = scratch("forecast_ok");
    let out = forecast(&dir, NEUTROPENIA_PATIENT, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Individual random effects (MAP): eta(BASE) ="),
        "{text}"
    );
    assert!(text.contains("P(grade4)"), "{text}");
    for file in [
        "forecast.csv",
        "forecast.json",
        "posterior.json",
        "summary.txt",
        "anc.svg",
        "anc.png",
        "events.csv",
        "differences.csv",
    ] {
        assert!(dir.join("out").join(file).exists(), "{file} missing");
    }
    // Same seed, same bytes.
    let first = std::fs::read_to_string(dir.join("out/forecast.csv")).unwrap();
    let again = forecast(&dir, NEUTROPENIA_PATIENT, &[]);
    assert!(again.status.success());
    assert!(first == std::fs::read_to_string(dir.join("out/forecast.csv")).unwrap());
}

#[test]
fn forecast_accepts_a_protocol_whose_rules_see_the_patients_history() {
    let dir = scratch("forecast_protocol");
    let protocol = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/protocols/docetaxel-100-dose-delay.json"
    );
    let therapy = format!("rules=@{protocol}");
    let out = forecast(&dir, NEUTROPENIA_PATIENT, &["--therapy", &therapy]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/forecast.json")).unwrap())
            .unwrap();
    let arms = json["arms"].as_array().unwrap();
    assert_eq!(arms.len(), 3);
    let rules = arms[2]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    // This patient's recorded nadir was 0.45 ×10⁹/L (grade 4): most posterior draws have a
    // nadir below 0.5 after the recorded cycle, so the dose reduction fires for them.
    let reduced = rules[1]["patients_fired"].as_u64().unwrap();
    assert!(reduced > 0 && reduced <= 100, "{reduced}");
}

#[test]
fn forecast_without_observations_uses_the_prior_and_says_so() {
    let dir = scratch("forecast_prior");
    let no_obs =
        "ID,TIME,DV,MDV,EVID,AMT,CMT,RATE,SEX,PERF,PC,AAG,BSA\n7,0,.,1,1,170,1,170,2,1,0,1.5,1.7\n";
    let out = forecast(&dir, no_obs, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(text.contains("note:") && text.contains("prior"), "{text}");
}

#[test]
fn forecast_rejects_missing_covariates_and_out_of_range_values() {
    let dir = scratch("forecast_bad");
    let missing = "ID,TIME,DV,MDV,EVID,AMT,CMT,RATE\n7,0,.,1,1,170,1,170\n7,96,2.1,0,0,0,7,0\n";
    let out = forecast(&dir, missing, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("patient.csv"), "{}", stderr(&out));
    let out_of_range = NEUTROPENIA_PATIENT.replace(",1.5,1.7\n7,96", ",99,1.7\n7,96");
    let out = forecast(&dir, &out_of_range, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("AAG"), "{}", stderr(&out));
    assert!(!dir.join("out").exists());
}
