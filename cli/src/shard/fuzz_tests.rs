//! Fuzz target of the `shard.json` reader of `twin merge`: [`parse_shard`] of simulation and
//! trial shards, then what `twin merge` does with them before it writes anything (the checks
//! that shards belong to one run, the summary merge, shard order and replicate ranges). Every
//! file must be accepted or refused as bad input (exit code 2) with a message; none may panic or
//! ask for unbounded work (a shard count or replicate range in the billions). The parsing lives
//! in the `twin` binary, so this target is a unit-test module of it rather than a file in
//! `cli/tests`.
//!
//! Why proptest and not cargo-fuzz: cargo-fuzz needs a nightly toolchain and twinsim builds on
//! stable; proptest is already a workspace dev-dependency; a fixed seed per target makes every
//! run draw the same inputs, a bounded number of them, inside `cargo test`; and shrinking turns a
//! crash into a minimal input, kept below as a regression test. Longer campaigns:
//! `TWIN_FUZZ_CASES=100000 cargo test -p twin-cli --bin twin fuzz --release`
//! (docs/fuzzing.md).
//!
//! The seed files are written by the real `twin simulate --shard` and `twin trial --shard` on a
//! small run, so they follow the format as it is.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use clap::Parser as _;

use super::{FORMAT, Partial, SimulationMerge, parse_shard};
use crate::{Cli, Command, EXIT_BAD_INPUT, Failure};

#[path = "../../../engine/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use fuzz_support::{assert_says_something, bytes_text, fuzz, json_mutated};

/// Cases of the arbitrary-bytes and soup generators in CI (`TWIN_FUZZ_CASES` overrides every
/// count).
const CASES: u32 = 5_000;

/// Cases of the structure-aware mutations of valid seeds in CI, where the findings were.
const MUTATED_CASES: u32 = 40_000;

/// A small trial design for the trial shard seeds.
const DESIGN: &str = r#"
[trial]
name = "FUZZ"
model = "pk-1cmt"
patients = 4
replicates = 4
seed = 5
truth_patients = 10

[[arms]]
name = "low"
regimen = "100 mg iv"
allocation = 0.5
control = true

[[arms]]
name = "high"
regimen = "200 mg iv"
allocation = 0.5

[visits]
times = ["0h", "12h"]

[[endpoints]]
name = "CP12"
type = "value"
output = "CP"
at = "12h"

[[analyses]]
endpoint = "CP12"
method = "difference-in-means"
"#;

/// The text of both shards (of 2) of a small simulation and of a small trial.
struct Seeds {
    simulation: [String; 2],
    trial: [String; 2],
}

/// Runs `twin ARGS…` in this process.
fn twin(args: &[&str]) -> Result<(), Failure> {
    let cli = Cli::try_parse_from(std::iter::once("twin").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("twin {args:?}: {e}"));
    match cli.command {
        Command::Simulate(args) => crate::simulate::run(&args),
        Command::Trial(args) => crate::trial::run(&args),
        other => panic!("unexpected command {other:?}"),
    }
}

fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("twin-fuzz-shards-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let design = dir.join("design.toml");
        std::fs::write(&design, DESIGN).unwrap();
        let shard = |kind: &str, index: usize| -> String {
            let out = dir.join(format!("{kind}-{index}"));
            let out_text = out.to_str().unwrap().to_owned();
            let selection = format!("{index}/2");
            let result = if kind == "simulate" {
                twin(&[
                    "simulate",
                    "--model",
                    "pk-1cmt",
                    "--arm",
                    "low=100 mg iv",
                    "--arm",
                    "high=100 mg iv q12h x2",
                    "--patients",
                    "5",
                    "--until",
                    "24h",
                    "--every",
                    "6h",
                    "--event",
                    "low:CP<0.5",
                    "--out",
                    &out_text,
                    "--shard",
                    &selection,
                ])
            } else {
                twin(&[
                    "trial",
                    design.to_str().unwrap(),
                    "--out",
                    &out_text,
                    "--shard",
                    &selection,
                ])
            };
            result.unwrap_or_else(|f| panic!("twin {kind} --shard {selection}: {:#}", f.error));
            std::fs::read_to_string(out.join(super::SHARD_FILE)).unwrap()
        };
        let seeds = Seeds {
            simulation: [shard("simulate", 0), shard("simulate", 1)],
            trial: [shard("trial", 0), shard("trial", 1)],
        };
        let _ = std::fs::remove_dir_all(&dir);
        seeds
    })
}

/// A refusal is bad input with a message.
fn assert_refused(failure: &Failure) {
    assert_says_something(&format!("{:#}", failure.error));
    assert_eq!(failure.code, EXIT_BAD_INPUT, "{:#}", failure.error);
}

/// Reads `text` as the simulation shard in `fuzz/` and merges it, alone and after the valid
/// shard 0, as `twin merge` does.
fn check_simulation(text: &str) {
    let fuzzed = match parse_shard::<Partial>(Path::new("fuzz/shard.json"), text, FORMAT) {
        Ok(partial) => partial,
        Err(failure) => {
            assert_refused(&failure);
            assert!(
                format!("{:#}", failure.error).contains("fuzz/shard.json"),
                "{:#}",
                failure.error
            );
            return;
        }
    };
    let first: Partial =
        parse_shard(Path::new("s0/shard.json"), &seeds().simulation[0], FORMAT).unwrap();
    for with_first in [false, true] {
        let mut merging = SimulationMerge::default();
        if with_first {
            merging.add(Path::new("s0"), first.clone()).unwrap();
        }
        let merged = merging
            .add(Path::new("fuzz"), fuzzed.clone())
            .and_then(|()| merging.finish());
        match merged {
            Ok((ordered, _summary)) => {
                let count = ordered[0].1.shard.count;
                assert_eq!(ordered.len() as u64, count);
                for (index, (_, manifest)) in ordered.iter().enumerate() {
                    assert_eq!(manifest.shard.index, index as u64);
                }
            }
            Err(failure) => assert_refused(&failure),
        }
    }
}

/// Reads `text` as the trial shard in `fuzz/` and orders it, alone and with the valid shard 0,
/// as `twin merge` does.
fn check_trial(text: &str) {
    use crate::trial::{Partial, SHARD_FORMAT, order_trial_shards};
    let fuzzed = match parse_shard::<Partial>(Path::new("fuzz/shard.json"), text, SHARD_FORMAT) {
        Ok(partial) => partial,
        Err(failure) => {
            assert_refused(&failure);
            assert!(
                format!("{:#}", failure.error).contains("fuzz/shard.json"),
                "{:#}",
                failure.error
            );
            return;
        }
    };
    let first: Partial =
        parse_shard(Path::new("t0/shard.json"), &seeds().trial[0], SHARD_FORMAT).unwrap();
    for shards in [
        vec![(PathBuf::from("fuzz"), fuzzed.clone())],
        vec![
            (PathBuf::from("t0"), first),
            (PathBuf::from("fuzz"), fuzzed),
        ],
    ] {
        match order_trial_shards(shards) {
            Ok(ordered) => {
                let replicates = ordered[0].1.replicates();
                let n: usize = ordered.iter().map(|(_, p)| p.results.len()).sum();
                assert_eq!(n as u64, replicates);
            }
            Err(failure) => assert_refused(&failure),
        }
    }
}

/// Tokens that mean something in a shard file.
const SHARD_TOKENS: &[&str] = &[
    "manifest",
    "format",
    "twinsim-shard/1",
    "twinsim-trial-shard/1",
    "shard",
    "index",
    "count",
    "patients",
    "patient_range",
    "replicate_range",
    "replicates",
    "summary",
    "results",
    "offset",
    "counts",
    "digits",
    "exponent",
    "negative",
    "relative_accuracy",
    "min_positive",
    "nan_count",
    "1e-3",
    "2",
];

#[test]
fn shard_seeds_merge() {
    for text in &seeds().simulation {
        check_simulation(text);
    }
    for text in &seeds().trial {
        check_trial(text);
    }
    // The two valid shards of each kind merge completely.
    let read = |i: usize| -> Partial {
        parse_shard(Path::new("s/shard.json"), &seeds().simulation[i], FORMAT).unwrap()
    };
    let mut merging = SimulationMerge::default();
    merging.add(Path::new("s1"), read(1)).unwrap();
    merging.add(Path::new("s0"), read(0)).unwrap();
    let (ordered, summary) = merging.finish().unwrap();
    assert_eq!(ordered.len(), 2);
    assert_eq!(summary.arms.len(), 2);
}

#[test]
fn fuzz_shard_arbitrary_bytes() {
    fuzz("shard/bytes", CASES, &bytes_text(300), |text| {
        check_simulation(text);
        check_trial(text);
    });
}

#[test]
fn fuzz_simulation_shard_mutated() {
    let seeds = seeds().simulation.to_vec();
    fuzz(
        "shard/simulation-mutated",
        MUTATED_CASES,
        &json_mutated(&seeds, SHARD_TOKENS, 3),
        |text| check_simulation(text),
    );
}

#[test]
fn fuzz_trial_shard_mutated() {
    let seeds = seeds().trial.to_vec();
    fuzz(
        "shard/trial-mutated",
        MUTATED_CASES,
        &json_mutated(&seeds, SHARD_TOKENS, 3),
        |text| check_trial(text),
    );
}

// ---------------------------------------------------------------------------------------------
// Regressions: minimal inputs the fuzz target found, fixed in the reader.

/// `text` (a shard file) with `edit` applied to its JSON tree.
fn edited(text: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut tree: serde_json::Value = serde_json::from_str(text).unwrap();
    edit(&mut tree);
    tree.to_string()
}

/// Merges the simulation shard `text` after the valid shard 0 and returns the refusal.
fn simulation_refusal(text: &str) -> String {
    let fuzzed: Partial = match parse_shard(Path::new("fuzz/shard.json"), text, FORMAT) {
        Ok(partial) => partial,
        Err(failure) => return format!("{:#}", failure.error),
    };
    let first: Partial =
        parse_shard(Path::new("s0/shard.json"), &seeds().simulation[0], FORMAT).unwrap();
    let mut merging = SimulationMerge::default();
    merging.add(Path::new("s0"), first).unwrap();
    let failure = match merging.add(Path::new("fuzz"), fuzzed) {
        Ok(()) => merging.finish().expect_err("the merge must be refused"),
        Err(failure) => failure,
    };
    assert_eq!(failure.code, EXIT_BAD_INPUT);
    format!("{:#}", failure.error)
}

/// Orders the trial shard `text` after the valid shard 0 and returns the refusal.
fn trial_refusal(text: &str) -> String {
    use crate::trial::{Partial, SHARD_FORMAT, order_trial_shards};
    let parse = |name: &str, text: &str| -> Partial {
        parse_shard(Path::new(name), text, SHARD_FORMAT).unwrap()
    };
    let shards = vec![
        (
            PathBuf::from("t0"),
            parse("t0/shard.json", &seeds().trial[0]),
        ),
        (PathBuf::from("fuzz"), parse("fuzz/shard.json", text)),
    ];
    let failure = order_trial_shards(shards).expect_err("the shards must be refused");
    assert_eq!(failure.code, EXIT_BAD_INPUT);
    format!("{:#}", failure.error)
}

/// Found by `shard/trial-mutated`: a manifest claiming 2⁴⁰ shards made the merge allocate a slot
/// per shard (capacity overflow, or 32 GB and an abort) and list every missing one. Now the
/// merge names the first 20 missing shards and counts the rest.
#[test]
fn regression_shard_count_in_the_trillions_is_refused_without_a_slot_per_shard() {
    let count = 1_u64 << 40;
    let text = edited(&seeds().simulation[1], |tree| {
        tree["manifest"]["shard"] = serde_json::json!({ "index": 0, "count": count });
        tree["manifest"]["patient_range"] = serde_json::json!([0, 0]);
    });
    let alone: Partial = parse_shard(Path::new("fuzz/shard.json"), &text, FORMAT).unwrap();
    let mut merging = SimulationMerge::default();
    merging.add(Path::new("fuzz"), alone).unwrap();
    let failure = merging.finish().expect_err("the merge must be refused");
    assert_eq!(failure.code, EXIT_BAD_INPUT);
    let message = format!("{:#}", failure.error);
    assert!(
        message.contains(&format!(
            "missing shard(s) 1/{count} (patients 0..0; re-run it with --shard 1/{count})"
        )),
        "{message}"
    );
    assert!(
        message.contains(&format!("and {} more", count - 1 - 20)),
        "{message}"
    );
}

/// Found by `shard/trial-mutated`: a replicate range of 2⁶⁴ − 1 trials was collected into a
/// vector to compare it with the results (capacity overflow).
#[test]
fn regression_trial_shard_with_a_huge_replicate_range_is_refused_without_allocating_it() {
    let text = edited(&seeds().trial[1], |tree| {
        tree["manifest"]["replicate_range"] = serde_json::json!([2, u64::MAX]);
    });
    let message = trial_refusal(&text);
    assert!(
        message.contains("replicate trials 2..18446744073709551615"),
        "{message}"
    );
    assert!(message.contains("runs 2..4"), "{message}");
}

/// Found by `shard/trial-mutated`: the only shard of a one-shard run held replicate trials 0..2
/// of 4, and the merge would have summarised half the trials as the whole run.
#[test]
fn regression_trial_shard_whose_range_is_not_its_share_is_refused() {
    let text = edited(&seeds().trial[0], |tree| {
        tree["manifest"]["shard"] = serde_json::json!({ "index": 0, "count": 1 });
    });
    let parse = |text: &str| -> crate::trial::Partial {
        parse_shard(
            Path::new("fuzz/shard.json"),
            text,
            crate::trial::SHARD_FORMAT,
        )
        .unwrap()
    };
    let failure = crate::trial::order_trial_shards(vec![(PathBuf::from("fuzz"), parse(&text))])
        .expect_err("the shard must be refused");
    let message = format!("{:#}", failure.error);
    assert!(
        message.contains("replicate trials 0..2, but shard 0/1 of 4 replicate trials runs 0..4"),
        "{message}"
    );
}

/// Found by `shard/simulation-mutated`: a quantile sketch with counts at key −2³¹ made the merge
/// grow a store over 2³¹ keys (a 17 GB allocation and an abort).
#[test]
fn regression_simulation_shard_with_a_sketch_key_far_out_of_range_is_refused() {
    let text = edited(&seeds().simulation[1], |tree| {
        let sketch = &mut tree["summary"]["arms"][0]["outputs"][0][1]["sketch"];
        assert!(!sketch["positive"]["counts"].as_array().unwrap().is_empty());
        sketch["positive"]["offset"] = serde_json::json!(i32::MIN);
    });
    let message = simulation_refusal(&text);
    assert!(message.contains("fuzz/shard.json"), "{message}");
    assert!(message.contains("outside the keys"), "{message}");
}

/// Found by `shard/simulation-mutated`: `n_ok` of 2⁶⁴ − 1 overflowed when added to the other
/// shard's (a panic in debug builds, a wrong count in release builds).
#[test]
fn regression_simulation_shard_counts_that_overflow_when_merged_are_refused() {
    let text = edited(&seeds().simulation[1], |tree| {
        tree["summary"]["arms"][0]["n_ok"] = serde_json::json!(u64::MAX);
    });
    let message = simulation_refusal(&text);
    assert!(message.starts_with("fuzz: "), "{message}");
    assert!(message.contains("more than a u64 holds"), "{message}");
}

/// A simulation shard whose patient range is not its share of the patients is refused.
#[test]
fn regression_simulation_shard_whose_range_is_not_its_share_is_refused() {
    let text = edited(&seeds().simulation[1], |tree| {
        tree["manifest"]["patient_range"] = serde_json::json!([0, 5]);
    });
    let message = simulation_refusal(&text);
    assert!(
        message.contains("patients 0..5, but shard 1/2 of 5 patients runs 2..5"),
        "{message}"
    );
}
