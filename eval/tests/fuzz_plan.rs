//! Fuzz target of the validation plan reader (`ValidationPlan::parse`, TOML). Every input must
//! be accepted as a usable plan or refused with an error naming the file and the line or field;
//! no input may panic, and none may ask for unbounded work (draws, bootstrap replicates or
//! permutations in the billions).
//!
//! Why proptest and not cargo-fuzz: cargo-fuzz needs a nightly toolchain and twinsim builds on
//! stable; proptest is already a workspace dev-dependency; a fixed seed per target makes every
//! run draw the same inputs, a bounded number of them, inside `cargo test`; and shrinking turns a
//! crash into a minimal input, kept below as a regression test. Longer campaigns:
//! `TWIN_FUZZ_CASES=100000 cargo test -p twin-eval --test fuzz_plan --release`
//! (docs/fuzzing.md).

#[path = "../../engine/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use std::error::Error as _;

use fuzz_support::{assert_says_something, bytes_text, fuzz, mutated, soup, without_comment_lines};
use twin_eval::EvalError;
use twin_eval::plan::{
    MAX_BOOTSTRAP_REPLICATES, MAX_DRAWS, MAX_MAP_STARTS, MAX_MMD_PERMUTATIONS,
    MAX_PROPOSALS_PER_DRAW, MAX_VPC_BINS, ValidationPlan,
};

/// Cases of the arbitrary-bytes and soup generators in CI (`TWIN_FUZZ_CASES` overrides every
/// count).
const CASES: u32 = 10_000;

/// Cases of the structure-aware mutations of valid seeds in CI, where the findings were.
const MUTATED_CASES: u32 = 150_000;

/// Path of a file in the repository.
fn repository(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}

/// The smallest plan: every required key, no optional one.
const MINIMAL: &str = r#"schema = "twinsim-validation-plan/1"
id = "t"
title = "test"
fixed_on = "2026-01-01"
[question]
question_of_interest = "q"
context_of_use = "c"
[risk]
model_influence = "low"
decision_consequence = "high"
[models]
candidate = "pheno@2"
previous = "pheno@1"
[data]
evaluation = "data.csv"
evaluation_provenance = "p"
independence = "i"
[protocol]
output = "CP"
origin = "336h"
draws = 50
seed = 1
[[criteria]]
rule = "tost(crps_diff, 0.5)"
[[criteria]]
rule = "noninferior(mae_diff, 1)"
[[criteria]]
rule = "mae < 3"
decide_on = "point"
"#;

/// Valid seed plans: the two examples (as written, and without their comment lines so that
/// more edits land on values) and the minimal plan.
fn seeds() -> Vec<String> {
    let mut seeds = vec![MINIMAL.to_owned()];
    for path in [
        "examples/eval/pheno/plan.toml",
        "examples/eval/neutropenia/plan.toml",
    ] {
        let path = repository(path);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        seeds.push(without_comment_lines(&text));
        seeds.push(text);
    }
    seeds
}

/// Tokens that mean something in a plan.
const PLAN_TOKENS: &[&str] = &[
    "schema",
    "id",
    "title",
    "fixed_on",
    "authors",
    "question",
    "risk",
    "models",
    "data",
    "protocol",
    "decision",
    "metrics",
    "subgroups",
    "drift",
    "criteria",
    "limitations",
    "estimand",
    "candidate",
    "previous",
    "supersedes",
    "evaluation",
    "training",
    "output",
    "condition_on_first",
    "origin",
    "draws",
    "proposals_per_draw",
    "seed",
    "bootstrap_replicates",
    "vpc_bins",
    "map_starts",
    "max_failed_patients",
    "event",
    "brier_times",
    "below",
    "above",
    "therapies",
    "horizon",
    "every",
    "outcome",
    "max_risk",
    "report",
    "name",
    "covariate",
    "at_least",
    "equals",
    "psi_moderate",
    "psi_major",
    "mmd_permutations",
    "covariates",
    "rule",
    "subgroup",
    "decide_on",
    "rationale",
    "point",
    "ci",
    "low",
    "medium",
    "high",
    "all",
    "each",
    "twinsim-validation-plan/1",
    "mae",
    "rmse",
    "crps",
    "energy",
    "coverage90",
    "width90",
    "pit_ks_p",
    "npde_mean",
    "vpc_outside",
    "harrell_c",
    "uno_c",
    "brier",
    "ibs",
    "crps_diff",
    "energy_diff",
    "mae_diff",
    "coverage90_diff",
    "decision_flip_rate",
    "crsp",
    "tost(",
    "noninferior(",
    ">=",
    "<=",
    ">",
    "<",
    "d=1 mg",
    "=",
    "nan",
    "+inf",
    "-inf",
    "1e400",
    "18446744073709551615",
    "0x7fffffffffffffff",
];

/// Pieces of TOML for the soup generator.
const TOML_PIECES: &[&str] = &[
    "schema = \"twinsim-validation-plan/1\"\n",
    "id = \"x\"\n",
    "[protocol]\n",
    "[[criteria]]\n",
    "rule = \"crps <= 1\"\n",
    "[[subgroups]]\n",
    "draws = ",
    "1",
    "0",
    "18446744073709551615",
    "\n",
    "\"",
    "=",
    "[",
    "]",
    ",",
];

/// A plan the reader accepted can be run: its criteria check and its counts are within the
/// limits, so that draws × proposals and the bootstrap and permutation loops are bounded.
fn assert_sane_plan(plan: &ValidationPlan) {
    let criteria = plan.criteria_checked("fuzz.toml").unwrap();
    assert!(!criteria.is_empty());
    assert!(!plan.reported_metrics().is_empty());
    let p = &plan.protocol;
    assert!((20..=MAX_DRAWS).contains(&p.draws), "{}", p.draws);
    assert!((1..=MAX_PROPOSALS_PER_DRAW).contains(&p.proposals_per_draw));
    assert!(p.draws.checked_mul(p.proposals_per_draw).is_some());
    assert!((100..=MAX_BOOTSTRAP_REPLICATES).contains(&p.bootstrap_replicates));
    assert!((1..=MAX_VPC_BINS).contains(&p.vpc_bins));
    assert!(p.map_starts.is_none_or(|n| n <= MAX_MAP_STARTS));
    assert!((1..=MAX_MMD_PERMUTATIONS).contains(&plan.drift.mmd_permutations));
}

fn check_plan(text: &str) {
    match ValidationPlan::parse("fuzz.toml", text) {
        Ok(plan) => assert_sane_plan(&plan),
        Err(error @ EvalError::PlanToml { .. }) => {
            assert_eq!(error.to_string(), "fuzz.toml");
            let cause = error.source().map(ToString::to_string).unwrap_or_default();
            assert_says_something(&cause);
            if let EvalError::PlanToml { error: toml, .. } = &error
                && toml.span().is_some()
            {
                assert!(cause.contains("line"), "{cause}");
            }
        }
        Err(EvalError::PlanField {
            source_name,
            field,
            message,
        }) => {
            assert_eq!(source_name, "fuzz.toml");
            assert_says_something(&field);
            assert_says_something(&message);
        }
        Err(other) => panic!("expected a plan error naming the file, got {other:?}"),
    }
}

#[test]
fn plan_seeds_are_valid() {
    for seed in seeds() {
        ValidationPlan::parse("seed.toml", &seed).unwrap();
    }
}

#[test]
fn fuzz_plan_arbitrary_bytes() {
    fuzz("plan/bytes", CASES, &bytes_text(400), |text| {
        check_plan(text)
    });
}

#[test]
fn fuzz_plan_toml_soup() {
    fuzz("plan/soup", CASES, &soup(TOML_PIECES, 60), |text| {
        check_plan(text);
    });
}

#[test]
fn fuzz_plan_mutated_seeds() {
    fuzz(
        "plan/mutated",
        MUTATED_CASES,
        &mutated(seeds(), PLAN_TOKENS, 5),
        |text| check_plan(text),
    );
}

// ---------------------------------------------------------------------------------------------
// Regressions: minimal inputs the fuzz target found, fixed in the reader.

/// Found by `plan/mutated` (`draws = 100001`): counts that size the run had no upper limit, so
/// `draws = 18446744073709551615` was accepted and later overflowed draws × proposals (a panic
/// in debug builds) or asked for a vector of that many draws.
#[test]
fn regression_plan_counts_above_their_limits_are_refused_naming_the_limit() {
    for (from, to, field, limit) in [
        ("draws = 50", "draws = 100001", "protocol.draws", MAX_DRAWS),
        (
            "draws = 50",
            "draws = 18446744073709551615",
            "protocol.draws",
            MAX_DRAWS,
        ),
        (
            "seed = 1",
            "seed = 1\nproposals_per_draw = 1001",
            "protocol.proposals_per_draw",
            MAX_PROPOSALS_PER_DRAW,
        ),
        (
            "seed = 1",
            "seed = 1\nbootstrap_replicates = 1000001",
            "protocol.bootstrap_replicates",
            MAX_BOOTSTRAP_REPLICATES,
        ),
        (
            "seed = 1",
            "seed = 1\nvpc_bins = 1001",
            "protocol.vpc_bins",
            MAX_VPC_BINS,
        ),
        (
            "seed = 1",
            "seed = 1\nmap_starts = 1001",
            "protocol.map_starts",
            MAX_MAP_STARTS,
        ),
        (
            "[[criteria]]",
            "[drift]\nmmd_permutations = 1000001\n[[criteria]]",
            "drift.mmd_permutations",
            MAX_MMD_PERMUTATIONS,
        ),
    ] {
        assert!(MINIMAL.contains(from));
        let text = MINIMAL.replacen(from, to, 1);
        match ValidationPlan::parse("fuzz.toml", &text) {
            Err(EvalError::PlanField {
                field: got,
                message,
                ..
            }) => {
                assert_eq!(got, field, "{message}");
                assert!(
                    message.contains(&format!("above the limit of {limit}")),
                    "{message}"
                );
            }
            other => panic!("{to}: expected a plan field error, got {other:?}"),
        }
        let at_limit = MINIMAL.replacen(
            from,
            &to.replace(&(limit + 1).to_string(), &limit.to_string()),
            1,
        );
        if !to.contains("18446744073709551615") {
            ValidationPlan::parse("fuzz.toml", &at_limit).unwrap();
        }
    }
}
