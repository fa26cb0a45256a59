//! End-to-end tests of `twin fit`: a fit of the phenobarbital data becomes a model version that
//! `twin simulate`, `twin forecast`, `twin predict`, `twin models` and `twin eval` (a report
//! against the published version) load by `id@version`; the same fit on 1 and 2 threads gives the
//! same bytes; theophylline's estimates are recorded in its report; bad input and
//! non-identifiable fits end with clear messages and no output.
//!
//! Reference numbers: NONMEM 7 FOCE-I on `pheno_sd.csv` (Pharmpy's `pheno_real` run,
//! docs/models/pheno.md): OFV 586.276 without the n·ln 2π constant.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{scratch, testdata, twin, twin_env};

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_success(what: &str, out: &Output) {
    let (stdout, stderr) = text(out);
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout: {stdout}\nstderr: {stderr}",
        out.status.code()
    );
}

/// The one fitted version file `<id>@*.json` in `dir`, and its version label.
fn fitted_version(dir: &Path, id: &str) -> (PathBuf, String) {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{id}@")) && n.ends_with(".json"))
        })
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    let version = name
        .trim_start_matches(&format!("{id}@"))
        .trim_end_matches(".json")
        .to_owned();
    (files[0].clone(), version)
}

fn fit_pheno(model: &str, out: &Path, threads: &str) -> Output {
    twin(&[
        "fit",
        "--model",
        model,
        "--data",
        &testdata("third_party/nlmixr2data/pheno_sd.csv"),
        "--threads",
        threads,
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn a_fitted_version_loads_in_every_command_by_id_at_version() {
    let dir = scratch("fit-pheno-everywhere");
    let fit_dir = dir.join("fit");
    let out = fit_pheno("pheno@1", &fit_dir, "2");
    assert_success("twin fit", &out);
    let (stdout, _) = text(&out);
    println!("{stdout}");
    let (version_file, version) = fitted_version(&fit_dir, "pheno");
    assert!(version.starts_with("1-fit-"), "{version}");
    for file in [
        "report.md",
        "fit.json",
        "iterations.csv",
        "sdtab.csv",
        "gof-dv-pred.svg",
        "gof-dv-ipred.svg",
        "gof-cwres-time.svg",
        "gof-cwres-pred.svg",
        "gof-iwres-ipred.svg",
    ] {
        assert!(fit_dir.join(file).is_file(), "{file} missing");
    }
    let report = std::fs::read_to_string(fit_dir.join("report.md")).unwrap();
    // Acceptance: NONMEM's OFV 586.276 (without the constant), to within 0.1.
    let ofv: f64 = report
        .split("**")
        .nth(3)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no OFV in the report:\n{report}"));
    assert!((ofv - 586.276).abs() < 0.1, "OFV {ofv}");
    assert!(report.contains("without the n·ln 2π constant"));
    // The diagnostic table: one row per observation (155 in pheno_sd.csv) plus the header.
    let sdtab = std::fs::read_to_string(fit_dir.join("sdtab.csv")).unwrap();
    assert!(sdtab.starts_with("ID,TIME,DV,PRED,IPRED,CWRES,IWRES,ETA1,ETA2\n"));
    assert_eq!(sdtab.lines().count(), 156);
    // One dot per observation in DV vs PRED (plus the white rims plotters draws).
    let svg = std::fs::read_to_string(fit_dir.join("gof-dv-pred.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("<circle").count() >= 155);

    let model = format!("pheno@{version}");
    let models_dir = fit_dir.to_str().unwrap();
    // twin simulate with --models.
    let sim = dir.join("sim");
    assert_success(
        "twin simulate",
        &twin(&[
            "simulate",
            "--models",
            models_dir,
            "--model",
            &model,
            "--arm",
            "a=load20-maint2.5-q12h",
            "--patients",
            "20",
            "--seed",
            "3",
            "--until",
            "2d",
            "--out",
            sim.to_str().unwrap(),
        ]),
    );
    let summary = std::fs::read_to_string(sim.join("summary.json")).unwrap();
    assert!(summary.contains(&version), "the summary names the version");
    // twin forecast through the TWIN_MODELS environment variable, on one neonate.
    let patient = dir.join("patient.csv");
    let pheno = std::fs::read_to_string(testdata("third_party/nlmixr2data/pheno_sd.csv")).unwrap();
    let mut lines = pheno.lines();
    let mut one = format!("{}\n", lines.next().unwrap());
    for line in lines.filter(|l| l.starts_with("1,")) {
        one.push_str(line);
        one.push('\n');
    }
    std::fs::write(&patient, one).unwrap();
    let forecast = dir.join("forecast");
    assert_success(
        "twin forecast",
        &twin_env(
            &[
                "forecast",
                "--model",
                &model,
                "--patient",
                patient.to_str().unwrap(),
                "--therapy",
                "a=load20-maint2.5-q12h",
                "--draws",
                "100",
                "--until",
                "1d",
                "--out",
                forecast.to_str().unwrap(),
            ],
            &[("TWIN_MODELS", fit_dir.to_str().unwrap())],
        ),
    );
    assert!(forecast.join("forecast.csv").is_file());
    // twin predict with the file path itself, and twin models listing and describing it.
    assert_success(
        "twin predict",
        &twin(&[
            "predict",
            "--model",
            version_file.to_str().unwrap(),
            "--data",
            patient.to_str().unwrap(),
            "--out",
            dir.join("pred.csv").to_str().unwrap(),
        ]),
    );
    let list = twin(&["models", "--models", models_dir]);
    assert_success("twin models", &list);
    assert!(text(&list).0.contains(&version));
    let describe = twin(&["models", "--models", models_dir, "--describe", &model]);
    assert_success("twin models --describe", &describe);
    assert!(text(&describe).0.contains("Fitted version of pheno@1"));

    // twin eval: an evaluation report compares the fitted version with the published one (the
    // pheno example plan, candidate replaced). Reference: pheno@1 holds NONMEM's FOCE-I estimates,
    // which the fit reproduces (θ within 1e-3 relative), so on the same draws both versions must
    // forecast alike — mean per-patient CRPS difference far below the 0.5 mg/L equivalence margin.
    let plan_text = std::fs::read_to_string(format!(
        "{}/../examples/eval/pheno/plan.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace(
        "candidate = \"pheno@2\"",
        &format!("candidate = \"{model}\""),
    )
    .replace(
        "../../../testdata/third_party/nlmixr2data/pheno_sd.csv",
        &testdata("third_party/nlmixr2data/pheno_sd.csv"),
    );
    assert!(plan_text.contains(&model));
    let plan = dir.join("plan.toml");
    std::fs::write(&plan, plan_text).unwrap();
    let eval_dir = dir.join("eval");
    let eval = twin(&[
        "eval",
        "--plan",
        plan.to_str().unwrap(),
        "--models",
        models_dir,
        "--out",
        eval_dir.to_str().unwrap(),
    ]);
    assert_success("twin eval", &eval);
    assert!(text(&eval).0.starts_with("PASS: "), "{}", text(&eval).0);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(eval_dir.join("report.json")).unwrap())
            .unwrap();
    let body = &report["body"];
    assert_eq!(body["verdict"]["status"], "PASS");
    assert_eq!(body["models"][0]["role"], "candidate");
    assert_eq!(body["models"][0]["version"], version.as_str());
    assert_eq!(body["models"][1]["version"], "1");
    let crps_diff = body["comparison"]["paired"]["all"]["crps_diff"]["mean"]
        .as_f64()
        .expect("a paired CRPS difference");
    assert!(crps_diff.abs() < 1e-3, "CRPS difference {crps_diff} mg/L");
    assert_eq!(body["comparison"]["decision"]["n_flips"], 0);

    // An unknown version names the released and fitted ones.
    let missing = twin(&[
        "simulate",
        "--models",
        models_dir,
        "--model",
        "pheno@9",
        "--arm",
        "a=load20-maint2.5-q12h",
        "--patients",
        "2",
        "--out",
        dir.join("none").to_str().unwrap(),
    ]);
    let (_, stderr) = text(&missing);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("released versions 1, 2") && stderr.contains(&version),
        "{stderr}"
    );
    // A fitted version edited by hand is refused.
    let tampered = dir.join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    let json = std::fs::read_to_string(&version_file).unwrap();
    let edited = json.replacen("\"value\": 0.00", "\"value\": 0.01", 1);
    assert_ne!(edited, json);
    std::fs::write(tampered.join(format!("pheno@{version}.json")), edited).unwrap();
    let refused = twin(&[
        "models",
        "--models",
        tampered.to_str().unwrap(),
        "--describe",
        &model,
    ]);
    let (_, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("content hash"), "{stderr}");
}

#[test]
fn the_same_fit_on_one_or_two_threads_writes_the_same_bytes() {
    let dir = scratch("fit-pheno-threads");
    let (one, two) = (dir.join("one"), dir.join("two"));
    // Starting from version 2 (NONMEM's SAEM estimates), FOCE-I iterates to its own optimum.
    let one_out = fit_pheno("pheno@2", &one, "1");
    assert_success("twin fit --threads 1", &one_out);
    assert_success("twin fit --threads 2", &fit_pheno("pheno@2", &two, "2"));
    let iterations = std::fs::read_to_string(one.join("iterations.csv")).unwrap();
    assert!(iterations.lines().count() > 3, "{iterations}");
    let mut names: Vec<_> = std::fs::read_dir(&one)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let a = std::fs::read(one.join(&name)).unwrap();
        let b = std::fs::read(two.join(&name)).unwrap();
        assert!(a == b, "{name:?} differs between 1 and 2 threads");
    }
}

#[test]
fn theophylline_estimates_are_recorded_in_the_report() {
    // One compartment with first-order absorption, additive error (theo_sd has a positive
    // pre-dose level where the model predicts 0). No reference value is asserted beyond a
    // finite OFV: the report is printed for the record.
    let dir = scratch("fit-theo");
    let out = twin(&[
        "fit",
        "--model",
        "pk-1cmt",
        "--data",
        &testdata("third_party/nlmixr2data/theo_sd.csv"),
        "--error",
        "additive",
        "--init",
        "CL=3",
        "--init",
        "V=30",
        "--init",
        "KA=1.5",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_success("twin fit theophylline", &out);
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    println!("{report}");
    assert!(report.contains("| CL |") && report.contains("| SD(CP) |"));
    assert!(report.contains("OFV (−2 log L, FOCE-I): **"));
}

#[test]
fn bad_input_and_non_identifiable_fits_end_with_a_diagnosis_and_no_output() {
    let dir = scratch("fit-bad");
    let check = |name: &str, args: &[&str], code: i32, needles: &[&str]| {
        let out_dir = dir.join(name);
        let mut full: Vec<&str> = vec!["fit"];
        full.extend_from_slice(args);
        let out_text = out_dir.to_str().unwrap().to_owned();
        full.extend_from_slice(&["--out", &out_text]);
        let out = twin(&full);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(code), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{name}: '{needle}' not in {stderr}"
            );
        }
        assert!(!out_dir.exists(), "{name}: output written");
    };
    let pheno = testdata("third_party/nlmixr2data/pheno_sd.csv");
    check(
        "unknown-parameter",
        &["--model", "pheno", "--data", &pheno, "--fix", "CLX=1"],
        2,
        &["--fix CLX", "OMEGA(CL)"],
    );
    check(
        "not-a-number",
        &["--model", "pheno", "--data", &pheno, "--init", "CL=fast"],
        2,
        &["--init", "'fast' is not a number"],
    );
    let bad_data = dir.join("bad.csv");
    std::fs::write(
        &bad_data,
        "ID,TIME,AMT,WT,APGR,DV,MDV,EVID\n1,0,25,1.4,7,.,1,1\n1,2,0,1.4,7,17.3,0,0\n1,3,0,1.4,7,x,0,0\n",
    )
    .unwrap();
    check(
        "bad-data",
        &["--model", "pheno", "--data", bad_data.to_str().unwrap()],
        2,
        &["bad.csv:4"],
    );
    // IV boluses into CENTRAL (CMT 2) carry no information on the absorption rate KA: the fit
    // stops before the first iteration, naming KA and its variance.
    let iv = dir.join("iv.csv");
    let mut rows = String::from("ID,TIME,AMT,CMT,EVID,MDV,DV\n");
    for (id, k) in [(1, 0.05_f64), (2, 0.06), (3, 0.045), (4, 0.07)] {
        rows.push_str(&format!("{id},0,100,2,1,1,.\n"));
        for t in [1.0, 2.0, 4.0, 8.0, 12.0, 24.0] {
            let c = 100.0 / 70.0 * (-k * t).exp();
            rows.push_str(&format!("{id},{t},0,2,0,0,{c:.5}\n"));
        }
    }
    std::fs::write(&iv, rows).unwrap();
    check(
        "not-identifiable",
        &["--model", "pk-1cmt", "--data", iv.to_str().unwrap()],
        1,
        &["not identifiable (iteration 0)", "KA", "OMEGA(KA)"],
    );
}
