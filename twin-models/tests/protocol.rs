//! Dosing rules: a protocol whose rules fire must equal the plain regimen with the doses the rule
//! implies, given explicitly; malformed rules are rejected before anything runs.

use twin_engine::model::Model;
use twin_engine::protocol::{Protocol, run_protocol, run_protocol_after};
use twin_engine::records::Record;
use twin_engine::regimen::Regimen;
use twin_engine::simulate::{ParameterTrack, Simulator};
use twin_engine::solver::SolverOptions;
use twin_models::pk::OneCompartment;

/// Closed-form propagation on both sides; only rounding differs.
const TOL: f64 = 1e-12;

fn times() -> Vec<f64> {
    (0..=48).map(f64::from).collect()
}

/// CP at `times()` for an explicit regimen text.
fn plain(model: &OneCompartment, regimen: &str) -> Vec<f64> {
    let spec = model.spec();
    let mut records = Regimen::parse(regimen, spec).unwrap().doses;
    records.extend(times().into_iter().map(Record::output_time));
    records.sort_by(|a, b| {
        a.time
            .total_cmp(&b.time)
            .then(b.evid.is_dose().cmp(&a.evid.is_dose()))
    });
    let mut out = vec![0.0; records.len()];
    let mut sim = Simulator::new(model, SolverOptions::default()).unwrap();
    sim.run(
        &records,
        ParameterTrack::Constant(&spec.typical_parameters()),
        &mut out,
    )
    .unwrap();
    records
        .iter()
        .zip(out)
        .filter(|(r, _)| !r.evid.is_dose())
        .map(|(_, v)| v)
        .collect()
}

fn with_rules(model: &OneCompartment, json: &str) -> (Vec<f64>, Vec<u32>) {
    let spec = model.spec();
    let protocol = Protocol::parse("test.json", json, spec).unwrap();
    let mut sim = Simulator::new(model, SolverOptions::default()).unwrap();
    let t = times();
    let mut out = vec![0.0; t.len()];
    let log = run_protocol(
        &mut sim,
        &protocol,
        &spec.typical_parameters(),
        &[],
        &t,
        &mut out,
    )
    .unwrap();
    (out, log.firings)
}

fn assert_same(a: &[f64], b: &[f64]) {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= TOL * x.abs().max(1e-12),
            "t = {i}: {x} vs {y}"
        );
    }
}

#[test]
fn a_rule_that_never_fires_leaves_the_regimen_unchanged() {
    let model = OneCompartment::new();
    let json = r#"{"regimen": "100 mg iv q12h x3", "rules": [{"if": {"output": "CP", "above": 1000}, "then": {"delay": "6h"}}]}"#;
    let (got, firings) = with_rules(&model, json);
    assert_eq!(firings, vec![0]);
    assert_same(&got, &plain(&model, "100 mg iv q12h x3"));
}

#[test]
fn delay_while_above_threshold_shifts_this_and_later_doses() {
    // CP after one 100 mg IV bolus (V 70 L, k = 4/70 per h): 1.429·e^(−kt); at 12 h 0.721 mg/L,
    // at 18 h 0.509 mg/L. "Delay 6 h while CP > 0.6" holds the second dose once (to 18 h); the
    // third, now due at 30 h, sees CP = 0.976 and 0.692 at 36 h, so it waits until 42 h (0.492).
    let model = OneCompartment::new();
    let json = r#"{"regimen": "100 mg iv q12h x3", "rules": [{"name": "hold", "if": {"output": "CP", "above": 0.6}, "then": {"delay": "6h"}}]}"#;
    let (got, firings) = with_rules(&model, json);
    assert_eq!(firings, vec![3]);
    assert_same(
        &got,
        &plain(
            &model,
            "100 mg iv at 0h; 100 mg iv at 18h; 100 mg iv at 42h",
        ),
    );
    // With max_times 1 only the first hold happens: doses at 0, 18 and 30 h.
    let once = json.replace(
        "\"then\": {\"delay\": \"6h\"}}",
        "\"then\": {\"delay\": \"6h\"}, \"max_times\": 1}",
    );
    let (got, firings) = with_rules(&model, &once);
    assert_eq!(firings, vec![1]);
    assert_same(
        &got,
        &plain(
            &model,
            "100 mg iv at 0h; 100 mg iv at 18h; 100 mg iv at 30h",
        ),
    );
}

#[test]
fn reduce_after_a_peak_applies_to_this_and_later_doses_once() {
    let model = OneCompartment::new();
    let json = r#"{"regimen": "100 mg iv q12h x3", "rules": [{"if": {"output": "CP", "measure": "peak_since_last_dose", "above": 1.0}, "then": {"reduce_by": 0.25}, "max_times": 1}]}"#;
    let (got, firings) = with_rules(&model, json);
    // The first decision (t = 0) has no history: the peak is the pre-dose 0. At 12 h the peak
    // since the first dose is 1.43 > 1.0, so the second and third doses are 75 mg.
    assert_eq!(firings, vec![1]);
    assert_same(
        &got,
        &plain(&model, "100 mg iv at 0h; 75 mg iv at 12h; 75 mg iv at 24h"),
    );
}

#[test]
fn skip_and_add_actions() {
    let model = OneCompartment::new();
    let skip = r#"{"regimen": "100 mg iv q12h x3", "rules": [{"if": {"output": "CP", "above": 0.7}, "then": {"skip": true}}]}"#;
    let (got, _) = with_rules(&model, skip);
    // At 12 h CP = 0.721 > 0.7: skipped; at 24 h CP = 0.364: given.
    assert_same(&got, &plain(&model, "100 mg iv at 0h; 100 mg iv at 24h"));
    let add = r#"{"regimen": "100 mg iv q12h x2", "rules": [{"if": {"output": "CP", "below": 1.0}, "then": {"add": "20 mg iv"}}]}"#;
    let (got, firings) = with_rules(&model, add);
    assert_eq!(firings, vec![2]);
    assert_same(&got, &plain(&model, "120 mg iv at 0h; 120 mg iv at 12h"));
}

#[test]
fn malformed_rules_are_rejected_with_a_clear_message() {
    let spec = OneCompartment::new();
    let spec = spec.spec();
    for (json, needle) in [
        (
            r#"{"regimen": "100 mg iv", "rules": [{"if": {"output": "ANC", "below": 1}, "then": {"skip": true}}]}"#,
            "no output 'ANC'",
        ),
        (
            r#"{"regimen": "100 mg iv", "rules": [{"if": {"output": "CP"}, "then": {"skip": true}}]}"#,
            "exactly one of \"below\" or \"above\"",
        ),
        (
            r#"{"regimen": "100 mg iv", "rules": [{"if": {"output": "CP", "below": 1}, "then": {"skip": true, "delay": "1d"}}]}"#,
            "exactly one of \"delay\"",
        ),
        (
            r#"{"regimen": "100 mg iv", "rules": [{"if": {"output": "CP", "below": 1}, "then": {"reduce_by": 1.5}}]}"#,
            "fraction in (0, 1)",
        ),
        (
            r#"{"regimen": "100 mg iv", "rules": [{"if": {"output": "CP", "below": 1}, "then": {"delay": "1 parsec"}}]}"#,
            "duration",
        ),
        (
            r#"{"regimen": "100 mg iv", "rules": [{"iff": {}}]}"#,
            "test.json:1",
        ),
        ("{\n\"regimen\": 3\n}", "test.json:2"),
    ] {
        let err = Protocol::parse("test.json", json, spec)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{json}: {err}");
    }
}

#[test]
fn rules_after_a_recorded_history_see_that_history() {
    // A patient's recorded dose of 100 mg at t = 0, then a protocol from 24 h: 100 mg every 12 h,
    // halved once if CP peaked above 1 mg/L since the last dose. Only the history's dose can
    // make the first decision (at 24 h) fire: its peak is CP(0) = 100 mg / V (≈ 1.4 mg/L for the
    // typical 70 L). Expected: the plain regimen "100 mg at 0, 50 mg at 24 h, 50 mg at 36 h".
    let model = OneCompartment::new();
    let spec = model.spec();
    let history = Regimen::parse("100 mg iv", spec).unwrap().doses;
    let json = r#"{"regimen": "100 mg iv q12h x2 at 24h", "rules": [{"if": {"output": "CP", "measure": "peak_since_last_dose", "above": 1.0}, "then": {"reduce_by": 0.5}, "max_times": 1}]}"#;
    let protocol = Protocol::parse("test.json", json, spec).unwrap();
    let t = times();
    let mut got = vec![0.0; t.len()];
    let mut sim = Simulator::new(&model, SolverOptions::default()).unwrap();
    let log = run_protocol_after(
        &mut sim,
        &history,
        &protocol,
        &spec.typical_parameters(),
        &[],
        &t,
        &mut got,
    )
    .unwrap();
    assert_eq!(log.firings, vec![1]);
    assert_same(&got, &plain(&model, "100 mg iv; 50 mg iv q12h x2 at 24h"));
    // Without the history the first decision sees no peak, and the same rule fires at 36 h
    // instead (after the first planned dose), which gives a different course.
    let (alone, firings) = with_rules(&model, json);
    assert_eq!(firings, vec![1]);
    assert_same(&alone, &plain(&model, "100 mg iv at 24h; 50 mg iv at 36h"));
}
