//! Arms with dosing rules (`regimen = "@protocol.json"`): rules that never fire give the plain
//! regimen's trial, and a rule that skips every dose turns the treatment arm into the control arm,
//! so the alternative scenario equals the null scenario replicate by replicate.

mod common;

use twin_trial::replicates::{NoProgress, ReplicateResult, Trial};

/// Runs 30 replicate trials of the linear test design with the treatment regimen `regimen` and
/// the protocol file `protocol` available as `protocol.json`.
fn run(regimen: &str, protocol: &str) -> Vec<ReplicateResult> {
    let text = common::linear_design(40, 30, "")
        .replace("regimen = \"active\"", &format!("regimen = \"{regimen}\""));
    let design =
        common::parse_with(&text, common::DEFAULT, &[("protocol.json", protocol)]).unwrap();
    let trial = Trial::prepare(&design, &NoProgress).unwrap();
    trial.run(0..30, &NoProgress).unwrap()
}

fn estimates(results: &[ReplicateResult], null: bool) -> Vec<f64> {
    results
        .iter()
        .flat_map(|r| if null { &r.null } else { &r.alternative })
        .map(|e| e.as_ref().map_or(f64::NAN, |e| e.estimate))
        .collect()
}

/// Equal to 1e-12 (the closed-form propagation may split an interval at a dose time).
fn assert_close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-12 * y.abs().max(1.0), "{x} vs {y}");
    }
}

#[test]
fn rules_that_never_fire_give_the_plain_regimen() {
    let never = r#"{ "regimen": "1 mg cmt=2 over 10d",
        "rules": [ { "name": "never", "if": { "output": "Y", "above": 1e9 }, "then": { "skip": true } } ] }"#;
    let plain = run("1 mg cmt=2 over 10d", never);
    let with_rules = run("@protocol.json", never);
    assert_close(&estimates(&with_rules, false), &estimates(&plain, false));
}

#[test]
fn a_rule_that_skips_every_dose_makes_the_alternative_the_null() {
    let always = r#"{ "regimen": "1 mg cmt=2 over 10d",
        "rules": [ { "name": "always", "if": { "output": "Y", "below": 1e9 }, "then": { "skip": true } } ] }"#;
    let results = run("@protocol.json", always);
    assert_close(&estimates(&results, false), &estimates(&results, true));
}
