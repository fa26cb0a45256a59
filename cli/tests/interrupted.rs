//! Runs killed with SIGKILL midway: the output folder holds no file that looks finished (a run's
//! files are renamed into place together at its end), and the next run into the same folder
//! succeeds and removes the temporary files the killed one left.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{scratch, stderr, testdata, twin, twin_command};

/// A temporary file of a process that cannot exist (above any pid_max), standing for a run
/// killed long ago.
const STALE_TEMPORARY: &str = ".summary.json.tmp-4294967295";

/// The longest a run is waited for before the test gives up.
const PATIENCE: Duration = Duration::from_secs(300);

/// Names in `dir` that are temporary files (`.NAME.tmp-PID`).
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with('.') && name.contains(".tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Starts `twin ARGS`, kills it (SIGKILL) as soon as one of its temporary files appears in `out`
/// (or after `fallback`, if none appears first), and returns whether it was killed before it
/// finished.
fn kill_midway(args: &[&str], out: &Path, fallback: Duration) -> bool {
    let mut child = twin_command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("twin starts");
    let marker = format!(".tmp-{}", child.id());
    let start = Instant::now();
    loop {
        if child.try_wait().expect("waiting for twin").is_some() {
            return false;
        }
        let writing = temporaries(out).iter().any(|name| name.ends_with(&marker));
        if writing || start.elapsed() > fallback {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaping twin");
            return true;
        }
        assert!(start.elapsed() < PATIENCE, "twin ran for {PATIENCE:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Kills `twin ARGS` (whose output folder is `out`) midway, checks that none of `finished`
/// exists then unless all do, reruns it into the same folder and checks that it succeeds, writes
/// every file of `finished` and leaves no temporary file (neither the killed run's nor a stale
/// one planted before). Returns whether the kill landed before the run finished.
fn interrupt_and_rerun(args: &[&str], out: &Path, finished: &[&str], fallback: Duration) -> bool {
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(out.join(STALE_TEMPORARY), "half a file").unwrap();
    let killed = kill_midway(args, out, fallback);
    let present: Vec<&&str> = finished.iter().filter(|f| out.join(f).exists()).collect();
    assert!(
        present.is_empty() || present.len() == finished.len(),
        "a killed run left some of its files looking finished: {present:?}"
    );
    let rerun = twin(args);
    assert!(rerun.status.success(), "rerun: {}", stderr(&rerun));
    for name in finished {
        assert!(out.join(name).is_file(), "rerun did not write {name}");
    }
    assert_eq!(
        temporaries(out),
        Vec::<String>::new(),
        "temporary files left"
    );
    killed
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn simulate_killed_while_streaming_trajectories_leaves_nothing_finished() {
    let dir = scratch("interrupted-simulate");
    let out = dir.join("out");
    let args = [
        "simulate",
        "--model",
        "neutropenia",
        "--arm",
        "d75=docetaxel-75",
        "--arm",
        "d100=docetaxel-100",
        "--patients",
        "20000",
        "--until",
        "21d",
        "--every",
        "1d",
        "--trajectories",
        "--out",
        path_str(&out),
    ];
    let finished = ["trajectories.csv", "summary.csv", "summary.json"];
    let killed = interrupt_and_rerun(&args, &out, &finished, PATIENCE);
    // The trajectories are streamed from the first wave on: the kill lands while writing.
    assert!(killed, "the run finished before it could be killed");
}

#[test]
fn trial_killed_midway_then_rerun() {
    let dir = scratch("interrupted-trial");
    let out = dir.join("out");
    let design = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/ad-small-trial.toml");
    let args = ["trial", path_str(&design), "--out", path_str(&out)];
    interrupt_and_rerun(
        &args,
        &out,
        &["summary.json", "replicates.csv"],
        Duration::from_millis(300),
    );
}

#[test]
fn eval_killed_midway_then_rerun() {
    let dir = scratch("interrupted-eval");
    let out = dir.join("out");
    let plan =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/eval/neutropenia/plan.toml");
    let args = ["eval", "--plan", path_str(&plan), "--out", path_str(&out)];
    interrupt_and_rerun(
        &args,
        &out,
        &["report.json", "report.html"],
        Duration::from_millis(300),
    );
}

#[test]
fn fit_killed_midway_then_rerun() {
    let dir = scratch("interrupted-fit");
    let out = dir.join("out");
    let data = testdata("third_party/nlmixr2data/pheno_sd.csv");
    let args = [
        "fit",
        "--model",
        "pheno@1",
        "--data",
        &data,
        "--out",
        path_str(&out),
    ];
    interrupt_and_rerun(&args, &out, &[], Duration::from_millis(200));
    let written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        written.iter().any(|name| name.ends_with(".json")),
        "no fitted version in {written:?}"
    );
}
