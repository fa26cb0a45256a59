//! End-to-end tests of `twin trial`: the files it writes, identical bytes on 1 and 2 threads, and
//! clean failures on bad designs (exit code 2, the file and line named, nothing written).

use std::path::Path;
use std::process::Output;

mod common;
use common::{scratch, twin};

/// A small Alzheimer's PROCOVA design with a time-to-event secondary endpoint and a sample-size
/// search, cheap enough for a test (also run sharded by `tests/shard.rs`).
const DESIGN: &str = include_str!("data/ad-small-trial.toml");

const FILES: [&str; 8] = [
    "summary.csv",
    "summary.json",
    "replicates.csv",
    "adsl.csv",
    "adtte.csv",
    "adeff.csv",
    "scores.csv",
    "sample_size.csv",
];

fn run_design(dir: &Path, threads: &str) -> Output {
    let design = dir.join("design.toml");
    std::fs::write(&design, DESIGN).unwrap();
    let out = dir.join(format!("out-{threads}"));
    twin(&[
        "trial",
        design.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--threads",
        threads,
    ])
}

#[test]
fn trial_writes_identical_files_on_one_and_two_threads() {
    let dir = scratch("trial-threads");
    for threads in ["1", "2"] {
        let out = run_design(&dir, threads);
        assert!(
            out.status.success(),
            "threads {threads}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("procova") && stdout.contains("wrote 8 files"),
            "{stdout}"
        );
    }
    for file in FILES {
        let one = std::fs::read(dir.join("out-1").join(file)).unwrap();
        let two = std::fs::read(dir.join("out-2").join(file)).unwrap();
        assert!(!one.is_empty(), "{file} is empty");
        assert!(one == two, "{file} differs between 1 and 2 threads");
    }
    // The scores carry the locked model and its content hash.
    let scores = std::fs::read_to_string(dir.join("out-1/scores.csv")).unwrap();
    let hash = twin_engine_hash();
    assert!(
        scores
            .lines()
            .nth(1)
            .unwrap()
            .contains(&format!("alzheimers@1,{hash}")),
        "{scores}"
    );
    // 40 subjects in ADSL, and the per-replicate table has 20 replicates × 2 scenarios × 2
    // analyses rows.
    let adsl = std::fs::read_to_string(dir.join("out-1/adsl.csv")).unwrap();
    assert_eq!(adsl.lines().count(), 41);
    let replicates = std::fs::read_to_string(dir.join("out-1/replicates.csv")).unwrap();
    assert_eq!(replicates.lines().count(), 1 + 20 * 2 * 2);
}

/// The content hash the catalogue gives alzheimers@1 (`twin models` prints it too).
fn twin_engine_hash() -> String {
    twin_models::find("alzheimers@1")
        .unwrap()
        .spec()
        .content_hash()
}

#[test]
fn bad_designs_fail_with_file_line_and_no_output() {
    let dir = scratch("trial-bad");
    let cases = [
        (
            DESIGN.replacen("allocation = 0.5", "allocation = 0.6", 1),
            "allocation = 0.5\n\n[visits]",
            "must sum to 1",
        ),
        (
            DESIGN.replace("output = \"ADAS\"", "output = \"MMSE\""),
            "output = \"MMSE\"",
            "has no output 'MMSE'",
        ),
        (
            DESIGN.replace("min = 12\nmax = 50", "min = 60\nmax = 50"),
            "[[cohort.inclusion]]",
            "contradictory",
        ),
    ];
    for (k, (text, needle, message)) in cases.iter().enumerate() {
        let design = dir.join(format!("design-{k}.toml"));
        std::fs::write(&design, text).unwrap();
        let line = text[..text.find(needle).unwrap()].matches('\n').count() + 1;
        let out_dir = dir.join(format!("out-{k}"));
        let out = twin(&[
            "trial",
            design.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {k}: {stderr}");
        assert!(!stderr.contains("panicked"), "case {k}: {stderr}");
        assert!(
            stderr.contains(&format!("design-{k}.toml:{line}:")),
            "case {k}: no file:line {line} in {stderr}"
        );
        assert!(
            stderr.contains(message),
            "case {k}: '{message}' not in {stderr}"
        );
        assert!(!out_dir.exists(), "case {k}: output written");
    }
    // A design that does not exist.
    let out = twin(&[
        "trial",
        "/nonexistent/design.toml",
        "--out",
        dir.join("x").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/design.toml"));
}
