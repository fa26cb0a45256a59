//! Shared by the `twin` end-to-end tests: running the binary hermetically, scratch directories and
//! the reference data.

// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `twin` with `args` and the environment variables `env`; the variables that change what it
/// does (the fitted-model directory, a scheduler's shard index) are cleared first.
pub fn twin_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = twin_command(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("the twin binary runs")
}

/// The command `twin ARGS`, with the variables that change what it does (the fitted-model
/// directory, a scheduler's shard index) cleared.
pub fn twin_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_twin"));
    command
        .args(args)
        .env_remove("TWIN_MODELS")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SLURM_ARRAY_TASK_ID");
    command
}

/// Runs `twin` with `args` (see [`twin_env`]).
pub fn twin(args: &[&str]) -> Output {
    twin_env(args, &[])
}

/// An empty directory `name` under the target's temporary directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A command's standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A command's standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Path of a file in the repository's test data (see `testdata/README.md`).
pub fn testdata(path: &str) -> String {
    format!("{}/../testdata/{path}", env!("CARGO_MANIFEST_DIR"))
}
