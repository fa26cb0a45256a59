//! Bad design files and baseline data: each error names the file, the line and column of the
//! offending value, the field and what was expected, and nothing panics.
//!
//! The expected line of each error is found independently, by searching the design text for
//! the offending value.

mod common;

use twin_trial::TrialError;
use twin_trial::replicates::{NoProgress, Trial};

/// One-based line of the first occurrence of `needle` (after `after`, when given) in `text`.
fn line_of(text: &str, needle: &str, after: Option<&str>) -> usize {
    let start = after.map_or(0, |a| text.find(a).expect("anchor in text"));
    let offset = start + text[start..].find(needle).expect("needle in text");
    text[..offset].matches('\n').count() + 1
}

/// Replaces the first `from` (after `after`, when given) by `to`.
fn edit(text: &str, from: &str, to: &str, after: Option<&str>) -> String {
    let start = after.map_or(0, |a| text.find(a).expect("anchor in text"));
    let offset = start + text[start..].find(from).expect("text to replace");
    format!("{}{to}{}", &text[..offset], &text[offset + from.len()..])
}

fn base() -> String {
    common::linear_design(200, 10, "")
}

/// Parses `text` and checks the error is a design error at `line` naming `field` and containing
/// every `needle` (case-insensitive).
fn assert_design_error(text: &str, line: usize, field: &str, needles: &[&str]) {
    let err = common::parse(text).expect_err("the design must be rejected");
    let message = err.to_string();
    match &err {
        TrialError::Design {
            source_name,
            line: got_line,
            field: got_field,
            ..
        } => {
            assert_eq!(source_name, "design.toml", "{message}");
            assert_eq!(*got_line, line, "{message}");
            assert!(
                got_field.contains(field),
                "field '{got_field}' in {message}"
            );
        }
        other => panic!("expected a design error, got {other:?}"),
    }
    assert!(
        message.starts_with(&format!("design.toml:{line}:")),
        "{message}"
    );
    for needle in needles {
        assert!(
            message.to_lowercase().contains(&needle.to_lowercase()),
            "'{needle}' not in '{message}'"
        );
    }
}

#[test]
fn the_base_design_is_valid() {
    let design = common::parse(&base()).unwrap();
    assert_eq!(design.analyses.len(), 6);
    assert_eq!(design.arm_sizes(200), (100, 100));
}

#[test]
fn toml_syntax_errors_have_line_and_column() {
    let text = edit(&base(), "patients = 200", "patients = = 200", None);
    let line = line_of(&text, "patients = = 200", None);
    let err = common::parse(&text).unwrap_err().to_string();
    assert!(err.starts_with(&format!("design.toml:{line}:")), "{err}");
    // Column of the second '=' (one-based): "patients = = 200" has it at column 12.
    assert!(err.starts_with(&format!("design.toml:{line}:12:")), "{err}");
}

#[test]
fn unknown_and_missing_fields_are_named() {
    let text = edit(&base(), "allocation = 0.5", "alocation = 0.5", None);
    let line = line_of(&text, "alocation", None);
    assert_design_error(
        &text,
        line,
        "[[arms]]",
        &["unknown field `alocation`", "allocation"],
    );

    let text = edit(&base(), "seed = 7\n", "", None);
    assert_design_error(
        &text,
        line_of(&text, "[trial]", None),
        "[trial]",
        &["missing field `seed`"],
    );
}

#[test]
fn allocations_that_do_not_sum_to_one_are_rejected() {
    let text = edit(
        &base(),
        "allocation = 0.5",
        "allocation = 0.4",
        Some("name = \"active\""),
    );
    assert_design_error(
        &text,
        line_of(&text, "allocation = 0.4", None),
        "allocation",
        &["sum to 0.9", "must sum to 1"],
    );
    // A fraction outside (0, 1).
    let text = edit(&base(), "allocation = 0.5", "allocation = 1.5", None);
    assert_design_error(
        &text,
        line_of(&text, "1.5", None),
        "arms[0].allocation",
        &["(0, 1)"],
    );
    // Patients that the allocation cannot split: 2:1 needs multiples of 3.
    let text = edit(
        &edit(&base(), "allocation = 0.5", "allocation = 0.3333", None),
        "allocation = 0.5",
        "allocation = 0.6667",
        None,
    );
    assert_design_error(
        &text,
        line_of(&text, "patients", None),
        "trial.patients",
        &["multiple of 3"],
    );
}

#[test]
fn contradictory_inclusion_criteria_are_rejected() {
    // min above max.
    let criteria = "[[cohort.inclusion]]\nvariable = \"X\"\nmin = 2\nmax = 1\n";
    let text = base().replacen("[[arms]]", &format!("{criteria}\n[[arms]]"), 1);
    assert_design_error(
        &text,
        line_of(&text, "[[cohort.inclusion]]", None),
        "cohort.inclusion[0]",
        &["contradictory", "no patient can qualify"],
    );
    // Two criteria on the same variable that do not overlap.
    let criteria = "[[cohort.inclusion]]\nvariable = \"Y\"\nmin = 60\n\n[[cohort.inclusion]]\nvariable = \"Y\"\nmax = 40\n";
    let text = base().replacen("[[arms]]", &format!("{criteria}\n[[arms]]"), 1);
    let second = line_of(&text, "[[cohort.inclusion]]", Some("min = 60"));
    assert_design_error(
        &text,
        second,
        "cohort.inclusion[1]",
        &["contradictory", "Y >= 60", "Y <= 40"],
    );
    // Listed values outside the bounds.
    let criteria = "[[cohort.inclusion]]\nvariable = \"X\"\nvalues = [5]\nmax = 1\n";
    let text = base().replacen("[[arms]]", &format!("{criteria}\n[[arms]]"), 1);
    assert_design_error(
        &text,
        line_of(&text, "[[cohort.inclusion]]", None),
        "cohort.inclusion[0]",
        &["contradictory"],
    );
    // A variable the model does not have.
    let criteria = "[[cohort.inclusion]]\nvariable = \"MMSE\"\nmin = 20\n";
    let text = base().replacen("[[arms]]", &format!("{criteria}\n[[arms]]"), 1);
    assert_design_error(
        &text,
        line_of(&text, "\"MMSE\"", None),
        "cohort.inclusion[0].variable",
        &[
            "no covariate or output 'MMSE'",
            "covariates: X",
            "Y, DRUGAMT",
        ],
    );
}

#[test]
fn criteria_that_nobody_meets_fail_the_pilot_screen() {
    // Consistent on paper, but X ~ N(0, 1) is never above 9: no candidate qualifies.
    let criteria = "[[cohort.inclusion]]\nvariable = \"X\"\nmin = 9\n";
    let text = base().replacen("[[arms]]", &format!("{criteria}\n[[arms]]"), 1);
    let design = common::parse(&text).unwrap();
    let err = Trial::prepare(&design, &NoProgress)
        .err()
        .expect("no patient qualifies");
    let message = err.to_string();
    assert!(matches!(err, TrialError::Screening(_)), "{message}");
    assert!(err.is_bad_input());
    for needle in ["design.toml", "contradictory", "none of 10000", "X >= 9"] {
        assert!(message.contains(needle), "'{needle}' not in '{message}'");
    }
}

#[test]
fn endpoints_referring_to_missing_outputs_or_times_are_rejected() {
    let text = edit(&base(), "output = \"Y\"", "output = \"ADAS\"", None);
    assert_design_error(
        &text,
        line_of(&text, "\"ADAS\"", None),
        "endpoints[0].output",
        &["has no output 'ADAS'", "Y, DRUGAMT"],
    );
    let text = edit(&base(), "at = \"1d\"", "at = \"2d\"", None);
    assert_design_error(
        &text,
        line_of(&text, "\"2d\"", None),
        "endpoints[0].at",
        &["not a visit", "0, 1"],
    );
    let text = edit(&base(), "outcome = \"event\"", "outcome = \"death\"", None);
    assert_design_error(
        &text,
        line_of(&text, "\"death\"", None),
        "endpoints[1].outcome",
        &["no time-to-event outcome 'death'", "event"],
    );
    let text = edit(&base(), "type = \"value\"", "type = \"ratio\"", None);
    assert_design_error(
        &text,
        line_of(&text, "\"ratio\"", None),
        "endpoints[0].type",
        &["expected change, value"],
    );
}

#[test]
fn analyses_must_fit_their_endpoints() {
    // PROCOVA on a time-to-event endpoint.
    let text = edit(
        &base(),
        "method = \"log-rank\"",
        "method = \"procova\"",
        None,
    );
    assert_design_error(
        &text,
        line_of(&text, "method = \"procova\"", Some("name = \"logrank\"")),
        "analyses[4].method",
        &["procova needs a continuous endpoint", "time-to-event"],
    );
    // An unknown endpoint.
    let text = edit(&base(), "endpoint = \"Y1\"", "endpoint = \"Y2\"", None);
    assert_design_error(
        &text,
        line_of(&text, "\"Y2\"", None),
        "analyses[0].endpoint",
        &["no endpoint 'Y2'", "Y1, EV12H, TTE"],
    );
    // PROCOVA without a prognostic model.
    let cut = base();
    let text = &cut[..cut.find("[prognostic]").unwrap()];
    assert_design_error(
        text,
        line_of(text, "name = \"procova\"", None) - 1,
        "prognostic",
        &["needs a [prognostic] table"],
    );
    // A locked hash that does not match.
    let text = edit(
        &base(),
        "historical_patients = 4000",
        "historical_patients = 4000\nsha256 = \"00ff\"",
        None,
    );
    assert_design_error(
        &text,
        line_of(&text, "\"00ff\"", None),
        "prognostic.sha256",
        &["does not match", "content hash"],
    );
}

#[test]
fn models_regimens_and_arms_are_checked() {
    let text = edit(&base(), "linear-test@1", "alzheimers@9", None);
    assert_design_error(
        &text,
        line_of(&text, "alzheimers@9", None),
        "trial.model",
        &["model 'alzheimers' has no version '9'"],
    );
    let text = edit(
        &base(),
        "regimen = \"active\"",
        "regimen = \"100 zz\"",
        None,
    );
    assert_design_error(
        &text,
        line_of(&text, "\"100 zz\"", None),
        "arms[1].regimen",
        &["expected a therapy", "placebo, active"],
    );
    let text = edit(&base(), "control = true", "control = false", None);
    assert_design_error(
        &text,
        line_of(&text, "[[arms]]", None),
        "arms",
        &["no arm is marked control"],
    );
    let text = edit(
        &base(),
        "visits]\ntimes = [\"0d\", \"1d\"]",
        "visits]\ntimes = [\"1d\", \"2d\"]",
        None,
    );
    assert_design_error(
        &text,
        line_of(&text, "[\"1d\", \"2d\"]", None),
        "visits.times",
        &["baseline visit"],
    );
}

const BASELINE: &str = "ID,X,AGE\n1,0.5,70\n2,-1.2,64\n";

#[test]
fn baseline_files_are_checked_line_by_line() {
    let text = base().replacen(
        "[[arms]]",
        "[cohort]\nbaseline = \"baseline.csv\"\n\n[[arms]]",
        1,
    );
    let parse = |csv: &str| common::parse_with(&text, common::DEFAULT, &[("baseline.csv", csv)]);
    // A valid file: two rows of X, read in the model's covariate order.
    let design = parse(BASELINE).unwrap();
    match &design.cohort.source {
        twin_trial::design::BaselineSource::Rows { rows, .. } => {
            assert_eq!(rows, &vec![vec![0.5], vec![-1.2]]);
        }
        twin_trial::design::BaselineSource::Model => panic!("expected rows"),
    }
    for (csv, line, needle) in [
        ("ID,AGE\n1,70\n", 1, "no column X"),
        ("ID,X\n1,0.5\n2,abc\n", 3, "'abc' is not a number"),
        (
            "ID,X\n1,0.5\n2,55\n",
            3,
            "outside its plausible range [-10, 10]",
        ),
        ("ID,X\n1,0.5,3\n", 2, "3 cells, expected 2"),
    ] {
        let err = parse(csv).expect_err(needle);
        let message = err.to_string();
        assert!(matches!(err, TrialError::Baseline { .. }), "{message}");
        assert!(
            message.starts_with(&format!("baseline.csv:{line}: ")),
            "{message}"
        );
        assert!(message.contains(needle), "'{needle}' not in '{message}'");
    }
    // A missing file is named at the design's line.
    let err = common::parse(&text).unwrap_err().to_string();
    let line = line_of(&text, "\"baseline.csv\"", None);
    assert!(
        err.starts_with(&format!("design.toml:{line}:")) && err.contains("No such file"),
        "{err}"
    );
}
