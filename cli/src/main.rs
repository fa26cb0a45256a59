//! `twin`: the command-line face of twinsim. Argument parsing, files and terminal output only;
//! every number is computed by `twin-engine` and `twin-models`.

mod demo;
mod eval;
mod figures;
mod files;
mod fit;
mod forecast;
mod models;
mod predict;
mod progress;
mod registry;
mod shard;
mod simulate;
mod tables;
mod trial;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for bad input (unreadable or invalid files, options, model names).
const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for a run that failed or completed with failed patients.
const EXIT_FAILURE: u8 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "twin",
    version,
    about = "twinsim: digital-twin simulations for medicine"
)]
struct Cli {
    /// Directory of fitted model versions (`<id>@<version>.json`), looked up by `id@version`
    /// after the released versions; default: $TWIN_MODELS, else ./models.
    #[arg(long, global = true, value_name = "DIR")]
    models: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// One built-in therapy comparison per model, with plots, tables and an index.html.
    Demo(demo::Args),
    /// Re-validate model versions against a validation plan (report.json, report.html), or
    /// compare two reports with `twin eval diff A B`. Exit code 3 when the verdict is FAIL.
    Eval(eval::Args),
    /// Population estimation (FOCE-I or SAEM) on a NONMEM-style dataset: a new model version,
    /// a fit report with standard errors, diagnostics table and goodness-of-fit plots.
    Fit(fit::Args),
    /// Individualise a model to one patient and forecast alternative therapies.
    Forecast(forecast::Args),
    /// The model catalogue (id, version, content hash, outputs, therapies, evidence), or one
    /// model's equations, parameters, sources and assumptions with `--describe`.
    Models(models::Args),
    /// Deterministic predictions (η = 0) for every row of a NONMEM-style dataset.
    Predict(predict::Args),
    /// Combine the shards of a sharded `twin simulate` or `twin trial` into exactly what one run
    /// writes.
    Merge(shard::MergeArgs),
    /// Monte Carlo simulation of a virtual cohort under one or more therapy arms.
    Simulate(simulate::Args),
    /// Replicate virtual trials of a design file: power, type-I error, bias, RMSE, CI coverage,
    /// PROCOVA, closed-form and simulated sample sizes, ADaM tables.
    Trial(trial::Args),
}

/// Solver tolerance flags shared by the commands that integrate models.
#[derive(clap::Args, Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct SolverArgs {
    /// Relative tolerance of the ODE solver.
    #[arg(long, default_value_t = twin_engine::solver::SolverOptions::default().rtol)]
    rtol: f64,
    /// Absolute tolerance of the ODE solver.
    #[arg(long, default_value_t = twin_engine::solver::SolverOptions::default().atol)]
    atol: f64,
}

impl SolverArgs {
    /// Solver options with these tolerances.
    pub fn options(self) -> twin_engine::solver::SolverOptions {
        twin_engine::solver::SolverOptions {
            rtol: self.rtol,
            atol: self.atol,
            ..twin_engine::solver::SolverOptions::default()
        }
    }
}

/// Runs `f` on a pool of `threads` worker threads (`None`: rayon's global pool, all cores).
/// Results never depend on the number of threads; only the speed does.
pub fn with_threads<R: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> R + Send,
) -> Result<R, Failure> {
    match threads {
        #[cfg(feature = "parallel")]
        Some(threads) => rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build()
            .map(|pool| pool.install(f))
            .map_err(|e| Failure::run(anyhow::anyhow!("starting {threads} threads: {e}"))),
        _ => Ok(f()),
    }
}

/// An error with the exit code it should produce.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    /// Bad input: exit code 2.
    pub fn input(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: EXIT_BAD_INPUT,
            error: error.into(),
        }
    }

    /// Run failure: exit code 1.
    pub fn run(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: EXIT_FAILURE,
            error: error.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    registry::set_models_dir(cli.models);
    let res = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Fit(args) => fit::run(&args),
        Command::Forecast(args) => forecast::run(&args),
        Command::Merge(args) => shard::merge(&args),
        Command::Models(args) => models::run(&args),
        Command::Predict(args) => predict::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Trial(args) => trial::run(&args),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}
