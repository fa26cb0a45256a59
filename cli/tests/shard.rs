//! Sharded `twin simulate` and `twin merge`: four shard processes plus a merge write exactly the
//! bytes of one run; a missing shard is named and re-running it alone completes the
//! merge; bad shard specifications and shards of different runs are refused. The same for a
//! sharded `twin trial`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{scratch, stderr, twin_env};

/// The run: two neutropenia arms (events, outcomes, paired differences, KM curves and plots),
/// 37 patients (not a multiple of the shard count), every trajectory written.
fn simulate(out: &Path, seed: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec![
        "simulate",
        "--model",
        "neutropenia",
        "--arm",
        "d75=docetaxel-75",
        "--arm",
        "d100=docetaxel-100",
        "--patients",
        "37",
        "--seed",
        seed,
        "--until",
        "42d",
        "--every",
        "1d",
        "--trajectories",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    twin_env(&args, env)
}

/// Every file of a directory (name → bytes).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// The merged run wrote exactly the files of the single run, byte for byte.
fn assert_same_files(single: &Path, merged: &Path) {
    let expected = files(single);
    let got = files(merged);
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &expected {
        assert!(
            bytes == &got[name],
            "{name} differs between the single run and the merge"
        );
    }
}

fn merge(dirs: &[&Path], out: &Path) -> Output {
    let mut args = vec!["merge"];
    args.extend(dirs.iter().map(|d| d.to_str().unwrap()));
    args.extend(["--out", out.to_str().unwrap()]);
    twin_env(&args, &[])
}

#[test]
fn four_shards_and_a_merge_write_the_bytes_of_one_run() {
    let dir = scratch("shard_bytes");
    let single = dir.join("single");
    let out = simulate(&single, "5", &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    let shards: Vec<PathBuf> = (0..4).map(|i| dir.join(format!("shard{i}"))).collect();
    for (i, shard_dir) in shards.iter().enumerate() {
        let spec = format!("{i}/4");
        let out = simulate(shard_dir, "5", &["--shard", &spec], &[]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    // A killed shard: the merge names it and what to re-run.
    std::fs::remove_dir_all(&shards[2]).unwrap();
    std::fs::create_dir_all(&shards[2]).unwrap();
    let merged = dir.join("merged");
    let refs: Vec<&Path> = [3, 1, 0, 2].iter().map(|&i| shards[i].as_path()).collect();
    let out = merge(&refs, &merged);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("shard2"), "{}", stderr(&out));
    let without = merge(&[&shards[0], &shards[1], &shards[3]], &merged);
    assert_eq!(without.status.code(), Some(2));
    assert!(
        stderr(&without)
            .contains("missing shard(s) 2/4 (patients 18..27; re-run it with --shard 2/4)"),
        "{}",
        stderr(&without)
    );
    // Re-running that shard alone (its index from a Kubernetes Indexed Job) completes it.
    let out = simulate(
        &shards[2],
        "5",
        &["--shards", "4"],
        &[("JOB_COMPLETION_INDEX", "2")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = merge(&refs, &merged);
    assert!(out.status.success(), "{}", stderr(&out));

    assert_same_files(&single, &merged);
}

#[test]
fn bad_shard_specifications_and_mixed_runs_are_refused() {
    let dir = scratch("shard_bad");
    for (spec, needle) in [
        ("5/4", "the index must be 0 to 3"),
        ("0/0", "at least 1"),
        ("a/4", "is not a whole number"),
        ("3", "expected I/N"),
    ] {
        let out = simulate(&dir.join("bad"), "1", &["--shard", spec], &[]);
        assert_eq!(out.status.code(), Some(2), "{spec}");
        assert!(stderr(&out).contains(needle), "{spec}: {}", stderr(&out));
    }
    let out = simulate(&dir.join("bad"), "1", &["--shards", "4"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("SLURM_ARRAY_TASK_ID"),
        "{}",
        stderr(&out)
    );
    let out = simulate(
        &dir.join("bad"),
        "1",
        &["--shards", "4"],
        &[("SLURM_ARRAY_TASK_ID", "x")],
    );
    assert_eq!(out.status.code(), Some(2));

    // Shards of two seeds do not merge; the message names both directories.
    let a = dir.join("seed1");
    let b = dir.join("seed2");
    assert!(simulate(&a, "1", &["--shard", "0/2"], &[]).status.success());
    assert!(simulate(&b, "2", &["--shard", "1/2"], &[]).status.success());
    let out = merge(&[&a, &b], &dir.join("merged"));
    assert_eq!(out.status.code(), Some(2));
    let message = stderr(&out);
    assert!(
        message.contains("seed1")
            && message.contains("seed2")
            && message.contains("different runs"),
        "{message}"
    );
    // The same shard twice.
    let out = merge(&[&a, &a], &dir.join("merged"));
    assert!(stderr(&out).contains("given twice"), "{}", stderr(&out));
    assert!(!dir.join("merged").join("summary.csv").exists());
}

/// The small PROCOVA design of `tests/trial.rs` (prognostic score, time-to-event endpoint,
/// sample-size search, ADaM tables), 20 replicate trials.
const TRIAL_DESIGN: &str = include_str!("data/ad-small-trial.toml");

fn trial(design: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec![
        "trial",
        design.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    twin_env(&args, env)
}

#[test]
fn a_trial_in_three_shards_and_a_merge_writes_the_bytes_of_one_run() {
    let dir = scratch("shard_trial");
    let design = dir.join("design.toml");
    std::fs::write(&design, TRIAL_DESIGN).unwrap();
    let single = dir.join("single");
    let out = trial(&design, &single, &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    // 20 replicate trials in 3 shards (7 + 6 + 7), the index from a Slurm array.
    let shards: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("shard{i}"))).collect();
    for (i, shard_dir) in shards.iter().enumerate() {
        let index = i.to_string();
        let out = trial(
            &design,
            shard_dir,
            &["--shards", "3"],
            &[("SLURM_ARRAY_TASK_ID", &index)],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            files(shard_dir).keys().collect::<Vec<_>>(),
            ["shard.json"],
            "a shard writes only its partial result"
        );
    }
    // A shard that never finished is named, with its replicate trials and how to re-run it.
    let merged = dir.join("merged");
    let out = merge(&[&shards[2], &shards[0]], &merged);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("missing shard(s) 1/3 (replicate trials 6..13; re-run it with --shard 1/3)"),
        "{}",
        stderr(&out)
    );
    assert!(!merged.join("summary.csv").exists());
    // Simulation and trial shards do not mix.
    let sim = dir.join("sim");
    assert!(
        simulate(&sim, "1", &["--shard", "1/3"], &[])
            .status
            .success()
    );
    let out = merge(&[&shards[0], &sim, &shards[2]], &merged);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("like the first shard given"),
        "{}",
        stderr(&out)
    );
    // A different number of replicate trials is a different run.
    let other = dir.join("other");
    let out = trial(
        &design,
        &other,
        &["--shard", "1/3", "--replicates", "21"],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = merge(&[&shards[0], &other, &shards[2]], &merged);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("different runs"), "{}", stderr(&out));

    let out = merge(&[&shards[2], &shards[0], &shards[1]], &merged);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same_files(&single, &merged);

    // A design edited after the shards ran is refused.
    std::fs::write(&design, TRIAL_DESIGN.replace("seed = 3", "seed = 4")).unwrap();
    let out = merge(&[&shards[0], &shards[1], &shards[2]], &dir.join("stale"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("changed since the shards ran"),
        "{}",
        stderr(&out)
    );
}
