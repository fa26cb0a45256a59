//! `twin trial`: replicate virtual trials of a design file, with power, type-I error, bias, RMSE
//! and CI coverage per analysis, closed-form predictions, a sample-size search and ADaM tables.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::anyhow;
use indicatif::ProgressBar;
use twin_trial::design::{Design, Inputs};
use twin_trial::replicates::{Progress, Trial};
use twin_trial::summary::{AnalysisSummary, ClosedForm, SampleSizeSearch};
use twin_trial::{TrialError, adam, report, summary};

use crate::Failure;
use crate::files::{ensure_dir, read_text, write_atomic};

/// Arguments of `twin trial`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The trial design (TOML); see examples/trials/ and the README.
    design: PathBuf,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Number of replicate trials, overriding the design's `trial.replicates`.
    #[arg(long)]
    replicates: Option<u64>,
    /// Skip the simulated sample-size search even if the design asks for one.
    #[arg(long)]
    no_search: bool,
    /// Replicate trial whose patients are written as ADaM tables (ADSL, ADTTE, ADEFF) and scores.
    #[arg(long, default_value_t = 0)]
    adam_replicate: u64,
}

/// A progress bar per phase on a terminal, nothing when stderr is piped.
struct Bars {
    current: Mutex<Option<ProgressBar>>,
}

impl Progress for Bars {
    fn start(&self, phase: &str, total: u64) {
        if let Ok(mut current) = self.current.lock() {
            *current = Some(crate::progress::bar(total, phase));
        }
    }
    fn advance(&self) {
        if let Ok(current) = self.current.lock()
            && let Some(bar) = current.as_ref()
        {
            bar.inc(1);
        }
    }
    fn finish(&self) {
        if let Ok(mut current) = self.current.lock()
            && let Some(bar) = current.take()
        {
            bar.finish_and_clear();
        }
    }
}

fn failure(e: TrialError) -> Failure {
    if e.is_bad_input() {
        Failure::input(e)
    } else {
        Failure::run(e)
    }
}

/// Everything a run writes, computed before anything is written.
struct Outputs {
    files: Vec<(&'static str, String)>,
    table: String,
}

/// Runs `twin trial`.
pub fn run(args: &Args) -> Result<(), Failure> {
    let text = read_text(&args.design).map_err(Failure::input)?;
    let base = args
        .design
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let files = |path: &str| -> Result<String, String> {
        std::fs::read_to_string(base.join(path)).map_err(|e| e.to_string())
    };
    // Released versions and fitted ones (`--models DIR`, `$TWIN_MODELS`), as every command.
    let models = |name: &str| crate::registry::resolve_model(name).map_err(|e| format!("{e:#}"));
    let inputs = Inputs {
        models: &models,
        files: &files,
    };
    let source = args.design.display().to_string();
    let mut design = Design::parse(&source, &text, &inputs).map_err(failure)?;
    if let Some(r) = args.replicates {
        if r == 0 {
            return Err(Failure::input(anyhow!("--replicates must be at least 1")));
        }
        design.replicates = r;
    }
    if args.no_search {
        design.sample_size = None;
    }
    let compute = || compute(&design, args.adam_replicate);
    let outputs = crate::with_threads(args.threads, compute)??;
    ensure_dir(&args.out).map_err(Failure::run)?;
    for (name, contents) in &outputs.files {
        write_atomic(&args.out.join(name), contents.as_bytes()).map_err(Failure::run)?;
    }
    print!("{}", outputs.table);
    println!(
        "wrote {} files to {}",
        outputs.files.len(),
        args.out.display()
    );
    Ok(())
}

fn compute(design: &Design, adam_replicate: u64) -> Result<Outputs, Failure> {
    let bars = Bars {
        current: Mutex::new(None),
    };
    let trial = Trial::prepare(design, &bars).map_err(failure)?;
    let results = trial.run(0..design.replicates, &bars).map_err(failure)?;
    let summaries = summary::summarise(&trial, &results);
    let closed = summary::closed_form(&trial, &summaries);
    let search = summary::search_sample_size(&trial, &bars).map_err(failure)?;
    let data = trial
        .replicate_data(adam_replicate, design.patients, true)
        .map_err(failure)?;
    let mut files = vec![
        (
            "summary.csv",
            report::summary_csv(&summaries, &closed, search.as_ref()),
        ),
        (
            "summary.json",
            report::summary_json(&trial, &results, &summaries, &closed, search.as_ref()),
        ),
        ("replicates.csv", report::replicates_csv(design, &results)),
        ("adsl.csv", adam::adsl(design, &data)),
    ];
    if design.endpoints.iter().any(|e| e.is_time_to_event()) {
        files.push(("adtte.csv", adam::adtte(design, &data)));
    }
    if design.endpoints.iter().any(|e| !e.is_time_to_event()) {
        files.push(("adeff.csv", adam::adeff(design, &data)));
    }
    if let Some(scores) = adam::scores(design, &data) {
        files.push(("scores.csv", scores));
    }
    if let Some(search) = &search {
        files.push(("sample_size.csv", report::sample_size_csv(search)));
    }
    Ok(Outputs {
        table: table(design, &trial, &summaries, &closed, search.as_ref()),
        files,
    })
}

/// The side-by-side table printed on stdout.
fn table(
    design: &Design,
    trial: &Trial<'_>,
    summaries: &[AnalysisSummary],
    closed: &[ClosedForm],
    search: Option<&SampleSizeSearch>,
) -> String {
    let (n_control, n_treated) = design.arm_sizes(design.patients);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} replicate trials of {} + {} patients ({} vs {}), model {}, alpha {}",
        design.name,
        design.replicates,
        n_control,
        n_treated,
        design.control.name,
        design.treatment.name,
        design.truth_label,
        design.alpha
    );
    let _ = writeln!(
        out,
        "screening: {} of {} pilot candidates eligible",
        trial.pilot_eligible(),
        twin_trial::cohort::PILOT_CANDIDATES
    );
    if let Some(p) = &design.prognostic {
        let _ = writeln!(out, "prognostic model {} sha256 {}", p.label, p.sha256);
    }
    let _ = writeln!(
        out,
        "{:<28} {:>8} {:>8} {:>10} {:>10} {:>9} {:>9} {:>10} {:>9}",
        "analysis", "power", "type-I", "true", "bias", "RMSE", "coverage", "closed-pwr", "n-search"
    );
    for (s, c) in summaries.iter().zip(closed) {
        let n_search = search
            .and_then(|x| x.results.iter().find(|r| r.analysis == s.analysis))
            .map_or_else(
                || "-".to_owned(),
                |r| {
                    r.n_total
                        .map_or_else(|| "not reached".to_owned(), |n| n.to_string())
                },
            );
        let _ = writeln!(
            out,
            "{:<28} {:>8.3} {:>8.3} {:>10.4} {:>10.4} {:>9.4} {:>9.3} {:>10} {:>9}",
            s.analysis,
            s.power,
            s.type1_error,
            s.true_effect,
            s.bias,
            s.rmse,
            s.coverage,
            c.power
                .map_or_else(|| "-".to_owned(), |p| format!("{p:.3}")),
            n_search
        );
    }
    if let Some(search) = search {
        for r in &search.results {
            let show =
                |n: Option<u64>| n.map_or_else(|| "not reached".to_owned(), |n| n.to_string());
            let _ = writeln!(
                out,
                "{}: simulated N for power {} = {} (Monte Carlo range {} to {}, {} replicates per size)",
                r.analysis,
                search.target_power,
                show(r.n_total),
                show(r.n_total_range.0),
                show(r.n_total_range.1),
                search.replicates
            );
        }
    }
    for c in closed {
        if let (Some(rho), Some(n)) = (c.inputs.get("rho"), c.n_total_procova_formula) {
            let _ = writeln!(
                out,
                "{}: rho = {rho:.3} (historical controls); closed-form N = {:.1} without the \
                 score, N(1 - rho^2) = {n:.1} with it",
                c.analysis,
                n / (1.0 - rho * rho)
            );
        }
    }
    out
}
