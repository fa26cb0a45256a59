//! Fuzz target of the trial design reader (`Design::parse`, TOML). Every input must be accepted
//! as a usable design or refused with a design error naming the file, line, column and field;
//! no input may panic, and none may ask for unbounded work (patient, replicate or draw counts in
//! the billions).
//!
//! Why proptest and not cargo-fuzz: cargo-fuzz needs a nightly toolchain and twinsim builds on
//! stable; proptest is already a workspace dev-dependency; a fixed seed per target makes every
//! run draw the same inputs, a bounded number of them, inside `cargo test`; and shrinking turns a
//! crash into a minimal input, kept below as a regression test. Longer campaigns:
//! `TWIN_FUZZ_CASES=100000 cargo test -p twin-trial --test fuzz_design --release`
//! (docs/fuzzing.md).

mod common;
#[path = "../../engine/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use fuzz_support::{assert_says_something, bytes_text, fuzz, mutated, soup, without_comment_lines};
use twin_engine::records::DoseRate;
use twin_trial::TrialError;
use twin_trial::design::{Design, days_from_iso_date, iso_date_from_days};

/// Cases of the arbitrary-bytes and soup generators in CI (`TWIN_FUZZ_CASES` overrides every
/// count).
const CASES: u32 = 10_000;

/// Cases of the structure-aware mutations of valid seeds in CI, where the findings were.
const MUTATED_CASES: u32 = 150_000;

/// Path of a file in the repository.
fn repository(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The protocol file the neutropenia seed names (`@docetaxel.json`).
fn protocol_json() -> String {
    read(&repository(
        "examples/protocols/docetaxel-100-dose-delay.json",
    ))
}

/// A design on the neutropenia model: a dosing protocol arm, a threshold endpoint, a visit list,
/// accrual, a study end, a start date and a block size.
const NEUTROPENIA: &str = r#"
[trial]
name = "DOCETAXEL"
model = "neutropenia@1"
patients = 60
replicates = 5
alpha = 0.1
seed = 11
start_date = "2026-02-28"
accrual = "7d"
study_end = "21d"
block_size = 4
truth_patients = 200

[[arms]]
name = "d75"
regimen = "docetaxel-75"
allocation = 0.5
control = true

[[arms]]
name = "d100-protocol"
regimen = "@docetaxel.json"
allocation = 0.5

[visits]
times = ["0d", "7d", "14d", "21d"]

[[endpoints]]
name = "G4"
type = "binary"
output = "ANC"
at = "7d"
below = 0.5

[[endpoints]]
name = "ANC14"
type = "value"
output = "ANC"
at = "14d"

[[analyses]]
endpoint = "G4"
method = "difference-in-means"

[[analyses]]
name = "ancova-bsa"
endpoint = "ANC14"
method = "ancova"
covariates = ["baseline", "BSA"]

[sample_size]
target_power = 0.9
replicates = 20
"#;

/// Valid seed designs: the examples (as written, and without their comment lines so that more
/// edits land on values), the CLI's test design, the trial tests' linear design (with and
/// without every optional key of `[trial]`) and the neutropenia design above.
fn seeds() -> Vec<String> {
    let examples = [
        read(&repository("examples/trials/alzheimers-procova.toml")),
        read(&repository("examples/trials/ovarian-pfs.toml")),
    ];
    let mut seeds: Vec<String> = examples.iter().map(|e| without_comment_lines(e)).collect();
    seeds.extend(examples);
    seeds.extend([
        read(&repository("cli/tests/data/ad-small-trial.toml")),
        common::linear_design(200, 10, ""),
        common::linear_design(
            30,
            2,
            "alpha = 0.01\nstart_date = \"2024-02-29\"\naccrual = \"0.25d\"\nstudy_end = \"1d\"\n\
             block_size = 6\ndropout = { probability = 0.3, by = \"1d\" }",
        ),
        NEUTROPENIA.to_owned(),
    ]);
    seeds
}

fn parse(text: &str) -> Result<Design, TrialError> {
    let protocol = protocol_json();
    common::parse_with(text, common::DEFAULT, &[("docetaxel.json", &protocol)])
}

/// Tokens that mean something in a design.
const DESIGN_TOKENS: &[&str] = &[
    "trial",
    "cohort",
    "arms",
    "visits",
    "endpoints",
    "analyses",
    "prognostic",
    "sample_size",
    "inclusion",
    "name",
    "model",
    "patients",
    "replicates",
    "alpha",
    "seed",
    "accrual",
    "study_end",
    "dropout",
    "truth_patients",
    "block_size",
    "start_date",
    "regimen",
    "allocation",
    "control",
    "times",
    "every",
    "until",
    "type",
    "output",
    "at",
    "outcome",
    "by",
    "above",
    "below",
    "from_baseline",
    "endpoint",
    "method",
    "covariates",
    "prior_draws",
    "simulated_draws",
    "historical_patients",
    "condition_on",
    "max_patients",
    "target_power",
    "sha256",
    "values",
    "min",
    "max",
    "baseline",
    "change",
    "value",
    "binary",
    "time-to-event",
    "procova",
    "ancova",
    "cox",
    "log-rank",
    "difference-in-means",
    "placebo",
    "alzheimers@1",
    "tumour@1",
    "neutropenia@1",
    "linear-test@1",
    "t1d@1",
    "@docetaxel.json",
    "@missing.json",
    "0d",
    "1d",
    "78w",
    "1e308w",
    "0.0001min",
    "1min",
    "0.3333",
    "0.6667",
    "1e-9",
    "true",
    "false",
    "nan",
    "+inf",
    "-inf",
    "-0.0",
    "0x7fffffffffffffff",
    "1e400",
    "0001-01-01",
    "9999-12-31",
    "2024-02-29",
    "2023-02-29",
    "-9223372036854775808-01-01",
    "9223372036854775807-12-31",
    "1 mg q1h x100000",
    "1 mg q1min x4294967295",
];

/// Pieces of TOML for the soup generator.
const TOML_PIECES: &[&str] = &[
    "[trial]\n",
    "[[arms]]\n",
    "[visits]\n",
    "[[endpoints]]\n",
    "[[analyses]]\n",
    "[prognostic]\n",
    "name = \"x\"\n",
    "model = \"linear-test@1\"\n",
    "patients = ",
    "replicates = ",
    "seed = ",
    "regimen = \"placebo\"\n",
    "allocation = 0.5\n",
    "control = true\n",
    "times = [\"0d\", \"1d\"]\n",
    "type = \"value\"\n",
    "output = \"Y\"\n",
    "at = \"1d\"\n",
    "endpoint = \"x\"\n",
    "method = \"ancova\"\n",
    "1",
    "2",
    "0",
    "-1",
    "9223372036854775807",
    "nan",
    "\n",
    "\"",
    "=",
    "[",
    "]",
    "{",
    "}",
    ",",
];

/// Lines of `text` (a TOML error may point just past the last line).
fn last_line(text: &str) -> usize {
    text.lines().count() + 1
}

/// A design the reader accepted is usable: the counts and times a run needs are bounded and
/// finite, and its dates print and read back.
fn assert_sane_design(design: &Design) {
    let (controls, treated) = design.arm_sizes(design.patients);
    assert_eq!(controls + treated, design.patients);
    assert!(controls >= 1 && treated >= 1);
    assert!(design.replicates >= 1);
    assert!(design.alpha > 0.0 && design.alpha < 1.0);
    assert!(design.visits.len() >= 2);
    assert!(design.visits.windows(2).all(|w| w[0] < w[1]));
    assert!(design.visits.iter().all(|v| v.is_finite()));
    assert!(design.accrual.is_finite() && design.study_end.is_finite());
    assert!(design.dropout_hazard.is_finite() && design.dropout_hazard >= 0.0);
    for arm in [&design.control, &design.treatment] {
        for dose in &arm.arm.regimen.doses {
            assert!(dose.time.is_finite() && dose.amt.is_finite() && dose.ii.is_finite());
            if let DoseRate::Rate(rate) = dose.rate {
                assert!(rate.is_finite());
            }
        }
    }
    let date = iso_date_from_days(design.start_day);
    assert_eq!(days_from_iso_date(&date), Some(design.start_day), "{date}");
    if let Some(sample_size) = &design.sample_size {
        assert!(sample_size.max_patients >= 2 * design.allocation_unit);
    }
}

fn check_design(text: &str) {
    match parse(text) {
        Ok(design) => assert_sane_design(&design),
        Err(TrialError::Design {
            source_name,
            line,
            column,
            field,
            message,
        }) => {
            assert_says_something(&message);
            assert_says_something(&field);
            assert_eq!(source_name, "design.toml");
            assert!(line >= 1 && line <= last_line(text), "line {line}");
            assert!(column >= 1);
        }
        Err(other) => panic!("expected a design error naming the line and field, got {other:?}"),
    }
}

#[test]
fn design_seeds_are_valid() {
    for seed in seeds() {
        parse(&seed).unwrap();
    }
}

#[test]
fn fuzz_design_arbitrary_bytes() {
    fuzz("design/bytes", CASES, &bytes_text(400), |text| {
        check_design(text);
    });
}

#[test]
fn fuzz_design_toml_soup() {
    fuzz("design/soup", CASES, &soup(TOML_PIECES, 80), |text| {
        check_design(text);
    });
}

#[test]
fn fuzz_design_mutated_seeds() {
    fuzz(
        "design/mutated",
        MUTATED_CASES,
        &mutated(seeds(), DESIGN_TOKENS, 5),
        |text| check_design(text),
    );
}

// ---------------------------------------------------------------------------------------------
// Regressions: minimal inputs the fuzz target found, fixed in the reader.

/// Asserts that `text` is refused on `line` for `field`, with a message containing `needle`.
fn assert_refused(text: &str, line: usize, field: &str, needle: &str) {
    match parse(text) {
        Err(TrialError::Design {
            line: got_line,
            field: got_field,
            message,
            ..
        }) => {
            assert_eq!((got_line, got_field.as_str()), (line, field), "{message}");
            assert!(message.contains(needle), "'{needle}' not in: {message}");
        }
        other => panic!("expected a design error, got {other:?}"),
    }
}

/// The linear design with `key = value` replacing the line that starts with `key = `.
fn with_value(key: &str, value: &str) -> (String, usize) {
    let text = common::linear_design(200, 10, "start_date = \"2026-01-05\"");
    let line = text
        .lines()
        .position(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no {key} in the design"));
    let edited: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == line {
                format!("{key} = {value}")
            } else {
                l.to_owned()
            }
        })
        .collect();
    (edited.join("\n"), line + 1)
}

/// Found by `design/mutated` (`patients = 3481235253754853424` with a `[sample_size]` table):
/// the default largest sample size, 16 × patients, overflowed (a panic in debug builds); counts
/// in the billions also sized cohorts that cannot fit in memory.
#[test]
fn regression_design_counts_in_the_billions_are_refused_naming_the_limit() {
    for (key, value, limit) in [
        ("patients", "3481235253754853424", "10000000"),
        ("patients", "10000002", "10000000"),
        ("replicates", "9223372036854775807", "1000000"),
        ("truth_patients", "4611686018427387904", "10000000"),
        ("historical_patients", "10000001", "10000000"),
    ] {
        let (text, line) = with_value(key, value);
        let field = if key == "historical_patients" {
            format!("prognostic.{key}")
        } else {
            format!("trial.{key}")
        };
        assert_refused(&text, line, &field, &format!("above the limit of {limit}"));
    }
    let (text, _) = with_value("patients", "10000000");
    assert_eq!(parse(&text).unwrap().patients, 10_000_000);
}

/// Found by `design/mutated` (`start_date = "9223372036854775807-12-31"`): the day count of
/// the date overflowed (a panic in debug builds).
#[test]
fn regression_design_start_date_beyond_four_digit_years_is_refused() {
    for date in [
        "9223372036854775807-12-31",
        "-9223372036854775808-01-01",
        "10000-01-01",
    ] {
        let (text, line) = with_value("start_date", &format!("\"{date}\""));
        assert_refused(&text, line, "trial.start_date", "year from 0000 to 9999");
    }
    let (text, _) = with_value("start_date", "\"9999-12-31\"");
    assert_eq!(
        parse(&text).unwrap().start_day,
        twin_trial::design::LAST_ISO_DAY
    );
}
