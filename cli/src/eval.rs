//! `twin eval`: re-validate model versions against a validation plan and write `report.json` and
//! `report.html`; `twin eval diff A B`: what changed between two reports.
//!
//! Everything is checked (plan, model versions, cohort columns and covariates, previous report)
//! before any computation and before the output directory is created. Exit codes: 0 PASS, 3 FAIL
//! (the report is written and names the failed criteria), 2 bad input, 1 a failed run.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use clap::Subcommand;
use twin_engine::model::Model;
use twin_eval::plan::ValidationPlan;
use twin_eval::report::{EvaluationInputs, InputFile, ProgramInfo, Report, evaluate, prepare};

use crate::Failure;
use crate::files::OutputFiles;

/// Exit code of a report whose verdict is FAIL.
const EXIT_VERDICT_FAIL: u8 = 3;

/// Arguments of `twin eval`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<EvalCommand>,
    /// The validation plan (TOML). Paths inside it are relative to its directory.
    #[arg(long, value_name = "PLAN.toml")]
    plan: Option<PathBuf>,
    /// Output directory for report.json and report.html.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Worker threads (default: all cores). The report does not depend on it.
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Subcommand, Debug)]
enum EvalCommand {
    /// What changed between two reports: verdicts, criteria, metric values with their CIs,
    /// model hashes, data, plan and program.
    Diff {
        /// The older report.json.
        a: PathBuf,
        /// The newer report.json.
        b: PathBuf,
    },
}

/// Runs `twin eval` or `twin eval diff`.
pub fn run(args: &Args) -> Result<(), Failure> {
    match &args.command {
        Some(EvalCommand::Diff { a, b }) => diff(a, b),
        None => {
            let plan = args.plan.as_ref().ok_or_else(|| {
                Failure::input(anyhow!(
                    "give --plan PLAN.toml (or use `twin eval diff A B`)"
                ))
            })?;
            let out = args.out.as_ref().ok_or_else(|| {
                Failure::input(anyhow!("give --out DIR for report.json and report.html"))
            })?;
            run_plan(plan, out, args.threads)
        }
    }
}

fn read_bytes(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .with_context(|| format!("reading the {what} {}", path.display()))
        .map_err(Failure::input)
}

/// A model version named in the plan, or an error naming the plan field: a released version
/// (`id@version`), a fitted version in the models directory, or a fitted version file (`.json`,
/// relative to the plan's directory); see `crate::registry`.
fn resolve(
    plan_name: &str,
    base: &Path,
    field: &str,
    reference: &str,
) -> Result<Box<dyn Model>, Failure> {
    let text = if reference.ends_with(".json") {
        base.join(reference).display().to_string()
    } else {
        reference.to_owned()
    };
    crate::registry::resolve_model(&text)
        .map_err(|e| Failure::input(anyhow!("{plan_name}: {field}: {e:#}")))
}

fn run_plan(plan_path: &Path, out: &Path, threads: Option<usize>) -> Result<(), Failure> {
    let plan_bytes = read_bytes(plan_path, "validation plan")?;
    let plan_name = plan_path.file_name().map_or_else(
        || plan_path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let plan_text = std::str::from_utf8(&plan_bytes)
        .map_err(|e| Failure::input(anyhow!("{}: is not UTF-8 text: {e}", plan_path.display())))?;
    let plan = ValidationPlan::parse(&plan_name, plan_text).map_err(Failure::input)?;
    let base = plan_path.parent().unwrap_or(Path::new(""));
    let candidate = resolve(&plan_name, base, "models.candidate", &plan.models.candidate)?;
    let previous = plan
        .models
        .previous
        .as_ref()
        .map(|r| resolve(&plan_name, base, "models.previous", r))
        .transpose()?;
    let evaluation = read_bytes(&base.join(&plan.data.evaluation), "evaluation cohort")?;
    let training = plan
        .data
        .training
        .as_ref()
        .map(|p| read_bytes(&base.join(p), "training cohort"))
        .transpose()?;
    let previous_report = plan
        .models
        .supersedes
        .as_ref()
        .map(|p| read_bytes(&base.join(p), "previous report"))
        .transpose()?;
    let program = ProgramInfo {
        name: "twin".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: option_env!("TWIN_BUILD_COMMIT").map(str::to_owned),
        command: format!("twin eval --plan {plan_name}"),
    };
    let inputs = EvaluationInputs {
        plan: &plan,
        plan_file: InputFile {
            path: &plan_name,
            bytes: &plan_bytes,
        },
        evaluation: InputFile {
            path: &plan.data.evaluation,
            bytes: &evaluation,
        },
        training: plan
            .data
            .training
            .as_deref()
            .zip(training.as_deref())
            .map(|(path, bytes)| InputFile { path, bytes }),
        previous_report: plan
            .models
            .supersedes
            .as_deref()
            .zip(previous_report.as_deref())
            .map(|(path, bytes)| InputFile { path, bytes }),
        candidate: candidate.as_ref(),
        previous: previous.as_deref(),
        program: &program,
    };
    let prepared = prepare(inputs).map_err(Failure::input)?;
    eprintln!(
        "forecasting {} of {} subjects with {} version(s), {} draws each",
        prepared.n_to_forecast(),
        prepared.n_subjects(),
        1 + usize::from(previous.is_some()),
        plan.protocol.draws
    );
    let run = || evaluate(&prepared);
    let report = crate::with_threads(threads, run)?;
    let report = report.map_err(|e| {
        if e.is_bad_input() {
            Failure::input(e)
        } else {
            Failure::run(e)
        }
    })?;
    let json = report.to_json();
    let html = twin_eval::html::render(&report);
    let mut files = OutputFiles::new(out).map_err(Failure::run)?;
    files
        .write("report.json", json.as_bytes())
        .map_err(Failure::run)?;
    files
        .write("report.html", html.as_bytes())
        .map_err(Failure::run)?;
    files.commit().map_err(Failure::run)?;
    let verdict = &report.body.verdict;
    println!("{}: {}", verdict.status, verdict.summary);
    println!(
        "report {} written to {} (body SHA-256 {})",
        report.body.identity.report_id,
        out.display(),
        report.body_sha256
    );
    if verdict.passed() {
        Ok(())
    } else {
        Err(Failure {
            code: EXIT_VERDICT_FAIL,
            error: anyhow!(
                "verdict FAIL: {} (report written to {})",
                verdict.failed_criteria.join("; "),
                out.display()
            ),
        })
    }
}

fn diff(a: &Path, b: &Path) -> Result<(), Failure> {
    let a_bytes = read_bytes(a, "report")?;
    let b_bytes = read_bytes(b, "report")?;
    let parse = |path: &Path, bytes: &[u8]| -> Result<Report, Failure> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Failure::input(anyhow!("{}: is not UTF-8 text: {e}", path.display())))?;
        Report::from_json(&path.display().to_string(), text).map_err(Failure::input)
    };
    let old = parse(a, &a_bytes)?;
    let new = parse(b, &b_bytes)?;
    println!(
        "A: {} ({}, {})",
        a.display(),
        old.body.identity.report_id,
        old.body.verdict.status
    );
    println!(
        "B: {} ({}, {})",
        b.display(),
        new.body.identity.report_id,
        new.body.verdict.status
    );
    let a_sha = twin_engine::model::sha256_hex(&a_bytes);
    for line in twin_eval::diff::diff_reports(&old, &a_sha, &new) {
        println!("{line}");
    }
    Ok(())
}
