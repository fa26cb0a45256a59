//! `twin trial`: replicate virtual trials of a design file, with power, type-I error, bias, RMSE
//! and CI coverage per analysis, closed-form predictions, a sample-size search and ADaM tables.
//! `--shard I/N` runs a contiguous range of the replicate trials and writes their results with
//! a manifest; `twin merge` (crate::shard) writes from the shards exactly what one run writes —
//! each replicate trial's random numbers are keyed by (seed, replicate, patient), not by shard or
//! thread, and the summaries are computed serially from the results in replicate order.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::anyhow;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use twin_engine::model::sha256_hex;
use twin_trial::design::{Design, Inputs};
use twin_trial::replicates::{Progress, ReplicateResult, Trial};
use twin_trial::summary::{AnalysisSummary, ClosedForm, SampleSizeSearch};
use twin_trial::{TrialError, adam, report, summary};

use crate::Failure;
use crate::files::{OutputFiles, read_text};
use crate::shard::{SHARD_FILE, Shard, ShardIdentity, order_shards, read_shard};

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
    #[command(flatten)]
    run: RunArgs,
    /// Run only shard I of N of the replicate trials (`--shard 2/4`; I from 0 to N − 1) and
    /// write its mergeable per-replicate results with a manifest (`shard.json`); `twin merge`
    /// combines the shards into exactly the files one run writes
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Number of shards, the index coming from `JOB_COMPLETION_INDEX` (Kubernetes Indexed Job)
    /// or `SLURM_ARRAY_TASK_ID` (Slurm job array)
    #[arg(long, value_name = "N")]
    shards: Option<u64>,
}

/// The arguments that shape a trial run's results (not where it writes or how many threads).
#[derive(clap::Args, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RunArgs {
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

/// Format tag of a trial shard's `shard.json`.
pub const SHARD_FORMAT: &str = "twinsim-trial-shard/1";

/// What a trial shard ran: enough to check that shards belong together and to rebuild the trial.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: String,
    program_version: String,
    /// The design file as the shard was given it (also the `file` of summary.json).
    design_file: String,
    /// SHA-256 of the design text and of every file it reads.
    design_sha256: String,
    /// `id@version sha256` of the truth model and of the prognostic model, if any.
    models: Vec<String>,
    seed: u64,
    replicates: u64,
    shard: Shard,
    replicate_range: [u64; 2],
    arguments: RunArgs,
}

/// A trial shard's partial result: its replicate trials' results, in replicate order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Partial {
    manifest: Manifest,
    pub(crate) results: Vec<ReplicateResult>,
}

impl Partial {
    /// Replicate trials of the whole run.
    #[cfg(test)]
    pub(crate) fn replicates(&self) -> u64 {
        self.manifest.replicates
    }
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

/// A parsed design with the identity a shard manifest records.
struct Loaded {
    design: Design,
    /// SHA-256 of the design text and of every file it read (path and content hash, in order).
    sha256: String,
    /// `id@version sha256` of the truth model and of the prognostic model.
    models: Vec<String>,
}

/// Reads and parses the design `path` (named `source` in messages and reports) with `run`'s
/// overrides.
fn load(path: &Path, source: &str, run: &RunArgs) -> Result<Loaded, Failure> {
    let text = read_text(path).map_err(Failure::input)?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let read = RefCell::new(Vec::new());
    let files = |name: &str| -> Result<String, String> {
        let contents = std::fs::read_to_string(base.join(name)).map_err(|e| e.to_string())?;
        read.borrow_mut()
            .push(format!("{name}\0{}", sha256_hex(contents.as_bytes())));
        Ok(contents)
    };
    // Released versions and fitted ones (`--models DIR`, `$TWIN_MODELS`), as every command.
    let models = |name: &str| crate::registry::resolve_model(name).map_err(|e| format!("{e:#}"));
    let inputs = Inputs {
        models: &models,
        files: &files,
    };
    let mut design = Design::parse(source, &text, &inputs).map_err(failure)?;
    if let Some(r) = run.replicates {
        if r == 0 {
            return Err(Failure::input(anyhow!("--replicates must be at least 1")));
        }
        design.replicates = r;
    }
    if run.no_search {
        design.sample_size = None;
    }
    let mut identity = sha256_hex(text.as_bytes());
    for file in read.into_inner() {
        identity.push('\n');
        identity.push_str(&file);
    }
    let spec = design.truth.spec();
    let mut model_hashes = vec![format!(
        "{}@{} {}",
        spec.id,
        spec.version,
        spec.content_hash()
    )];
    if let Some(p) = &design.prognostic {
        let s = p.model.spec();
        model_hashes.push(format!("{}@{} {}", s.id, s.version, p.sha256));
    }
    Ok(Loaded {
        design,
        sha256: sha256_hex(identity.as_bytes()),
        models: model_hashes,
    })
}

/// Runs `twin trial`: the whole run, or one shard of its replicate trials.
pub fn run(args: &Args) -> Result<(), Failure> {
    let shard = Shard::from_flags(args.shard.as_deref(), args.shards)?;
    let source = args.design.display().to_string();
    let loaded = load(&args.design, &source, &args.run)?;
    let design = &loaded.design;
    let bars = Bars {
        current: Mutex::new(None),
    };
    let Some(shard) = shard else {
        let compute = || -> Result<Outputs, Failure> {
            let trial = Trial::prepare(design, &bars).map_err(failure)?;
            let results = trial.run(0..design.replicates, &bars).map_err(failure)?;
            outputs(&trial, &results, args.run.adam_replicate, &bars)
        };
        let outputs = crate::with_threads(args.threads, compute)??;
        return write_outputs(&outputs, &args.out);
    };
    let range = shard.range(design.replicates);
    let compute = || -> Result<Vec<ReplicateResult>, Failure> {
        let trial = Trial::prepare(design, &bars).map_err(failure)?;
        trial.run(range.clone(), &bars).map_err(failure)
    };
    let results = crate::with_threads(args.threads, compute)??;
    let partial = Partial {
        manifest: Manifest {
            format: SHARD_FORMAT.to_owned(),
            program_version: env!("CARGO_PKG_VERSION").to_owned(),
            design_file: source,
            design_sha256: loaded.sha256.clone(),
            models: loaded.models.clone(),
            seed: design.seed,
            replicates: design.replicates,
            shard,
            replicate_range: [range.start, range.end],
            arguments: args.run.clone(),
        },
        results,
    };
    let json = serde_json::to_string(&partial)
        .map_err(|e| Failure::run(anyhow!("serialising the shard: {e}")))?;
    let path = args.out.join(SHARD_FILE);
    let mut files = OutputFiles::new(&args.out).map_err(Failure::run)?;
    files
        .write(SHARD_FILE, json.as_bytes())
        .map_err(Failure::run)?;
    files.commit().map_err(Failure::run)?;
    eprintln!(
        "shard {}/{}: replicate trials {}..{} written to {}",
        shard.index,
        shard.count,
        range.start,
        range.end,
        path.display()
    );
    Ok(())
}

/// Merges the shards of a trial (read by `twin merge`) into the files one run writes: the
/// replicate results are concatenated in shard order; the design is read again (refused if it,
/// a file it reads or a model changed) and the parts that are not split into shards — truth and
/// historical cohorts, the sample-size search, the ADaM replicate — are computed here.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<(), Failure> {
    let partials = dirs
        .iter()
        .map(|dir| Ok((dir.clone(), read_shard::<Partial>(dir, SHARD_FORMAT)?)))
        .collect::<Result<Vec<_>, Failure>>()?;
    let ordered = order_trial_shards(partials)?;
    let manifest = ordered[0].1.manifest.clone();
    let loaded = load(
        Path::new(&manifest.design_file),
        &manifest.design_file,
        &manifest.arguments,
    )
    .map_err(|f| {
        Failure::input(anyhow!(
            "reading the design the shards ran, {} (relative paths are read from the \
             directory twin merge runs in): {:#}",
            manifest.design_file,
            f.error
        ))
    })?;
    if loaded.sha256 != manifest.design_sha256 {
        return Err(Failure::input(anyhow!(
            "{}: the design, or a file it reads, changed since the shards ran",
            manifest.design_file
        )));
    }
    if loaded.models != manifest.models {
        return Err(Failure::input(anyhow!(
            "the design's models are now {}, the shards ran {}",
            loaded.models.join(", "),
            manifest.models.join(", ")
        )));
    }
    let results: Vec<ReplicateResult> = ordered
        .into_iter()
        .flat_map(|(_, partial)| partial.results)
        .collect();
    let design = &loaded.design;
    let bars = Bars {
        current: Mutex::new(None),
    };
    let compute = || -> Result<Outputs, Failure> {
        let trial = Trial::prepare(design, &bars).map_err(failure)?;
        outputs(&trial, &results, manifest.arguments.adam_replicate, &bars)
    };
    let outputs = crate::with_threads(None, compute)??;
    write_outputs(&outputs, out)
}

/// Checks that trial shards belong to one run, that each of its shards is there exactly once
/// and that each holds the results of its own replicate trials; returns them in shard order.
pub(crate) fn order_trial_shards(
    partials: Vec<(PathBuf, Partial)>,
) -> Result<Vec<(PathBuf, Partial)>, Failure> {
    let ordered = order_shards(partials, |p| {
        let m = &p.manifest;
        ShardIdentity {
            shared: vec![
                ("program version", m.program_version.clone()),
                (
                    "design (file and the files it reads)",
                    m.design_sha256.clone(),
                ),
                ("models", m.models.join(", ")),
                ("seed", m.seed.to_string()),
                ("replicate trials", m.replicates.to_string()),
                (
                    "arguments",
                    serde_json::to_string(&m.arguments).unwrap_or_default(),
                ),
            ],
            shard: m.shard,
            total: m.replicates,
            items: "replicate trials",
        }
    })?;
    for (dir, partial) in &ordered {
        let m = &partial.manifest;
        let [start, end] = m.replicate_range;
        let expected = m.shard.range(m.replicates);
        if (start..end) != expected {
            return Err(Failure::input(anyhow!(
                "{}: replicate trials {start}..{end}, but shard {}/{} of {} replicate trials \
                 runs {}..{}",
                dir.join(SHARD_FILE).display(),
                m.shard.index,
                m.shard.count,
                m.replicates,
                expected.start,
                expected.end
            )));
        }
        // Compared lazily: the range comes from the file and may be huge.
        if !partial.results.iter().map(|r| r.replicate).eq(start..end) {
            return Err(Failure::input(anyhow!(
                "{}: the results are not replicate trials {start}..{end}",
                dir.join(SHARD_FILE).display()
            )));
        }
    }
    Ok(ordered)
}

/// Writes every output file (renamed into place together when all are written) and prints the
/// table.
fn write_outputs(outputs: &Outputs, out: &Path) -> Result<(), Failure> {
    let mut files = OutputFiles::new(out).map_err(Failure::run)?;
    for (name, contents) in &outputs.files {
        files
            .write(name, contents.as_bytes())
            .map_err(Failure::run)?;
    }
    files.commit().map_err(Failure::run)?;
    print!("{}", outputs.table);
    println!("wrote {} files to {}", outputs.files.len(), out.display());
    Ok(())
}

/// Everything a run writes, from the prepared trial and the results of every replicate trial.
fn outputs(
    trial: &Trial<'_>,
    results: &[ReplicateResult],
    adam_replicate: u64,
    bars: &Bars,
) -> Result<Outputs, Failure> {
    let design = trial.design();
    let summaries = summary::summarise(trial, results);
    let closed = summary::closed_form(trial, &summaries);
    let search = summary::search_sample_size(trial, bars).map_err(failure)?;
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
            report::summary_json(trial, results, &summaries, &closed, search.as_ref()),
        ),
        ("replicates.csv", report::replicates_csv(design, results)),
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
        table: table(design, trial, &summaries, &closed, search.as_ref()),
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
