//! Sharded runs (docs/design.md, "Beyond one machine"): `twin simulate --shard i/N` simulates a
//! contiguous range of the run's patients and writes `shard.json` — a manifest and the shard's
//! mergeable summary — and `twin merge DIR...` checks the manifests and writes exactly the files
//! one uninterrupted run writes. `twin trial --shard i/N` does the same for a range of replicate
//! trials (see `crate::trial`); `twin merge` tells the two kinds apart by the manifest's format.
//!
//! Why the bytes match: every random number is keyed by (seed, replicate, patient, purpose), not
//! by shard or thread, and the summaries are order-independent exactly (exact sums, integer
//! sketch counts), so merging the shards' summaries gives the single run's summary bit for bit;
//! `twin merge` then rebuilds the study from the manifest's arguments and writes it with the same
//! code as `twin simulate`. Trajectory files are concatenated in patient order.
//!
//! Patients (replicate trials) `0..P` split into `N` ranges `[⌊P·i/N⌋, ⌊P·(i+1)/N⌋)`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead as _, BufReader, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use serde::{Deserialize, Serialize};
use twin_engine::model::sha256_hex;
use twin_engine::montecarlo::CohortSummary;

use crate::Failure;
use crate::files::{OutputFiles, read_text};
use crate::simulate::{Args as SimulateArgs, Study, with_study};

#[cfg(test)]
mod fuzz_tests;

/// Name of a shard's partial result in its output directory.
pub const SHARD_FILE: &str = "shard.json";

/// Format tag of [`SHARD_FILE`].
const FORMAT: &str = "twinsim-shard/1";

/// Environment variables that carry the shard index, in the order they are read.
const INDEX_VARIABLES: [&str; 2] = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"];

/// One shard of a run: `index` in `0..count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Shard index, from 0.
    pub index: u64,
    /// Number of shards.
    pub count: u64,
}

impl Shard {
    /// The shard selected by `--shard I/N`, or by `--shards N` with the index from
    /// `JOB_COMPLETION_INDEX` or `SLURM_ARRAY_TASK_ID`; `None` for a whole run. `--shard` wins
    /// over the environment.
    pub fn from_flags(shard: Option<&str>, shards: Option<u64>) -> Result<Option<Self>, Failure> {
        let from_environment = || {
            INDEX_VARIABLES
                .iter()
                .find_map(|name| std::env::var(name).ok().map(|value| (*name, value)))
        };
        let (index, count) = match (shard, shards) {
            (None, None) => return Ok(None),
            (Some(text), shards) => {
                let (index, count) = text.split_once('/').ok_or_else(|| {
                    Failure::input(anyhow!("--shard '{text}': expected I/N, e.g. 0/4"))
                })?;
                let parse = |part: &str, what: &str| {
                    part.trim().parse::<u64>().map_err(|_| {
                        Failure::input(anyhow!(
                            "--shard '{text}': the {what} '{}' is not a whole number",
                            part.trim()
                        ))
                    })
                };
                let (index, count) = (parse(index, "index")?, parse(count, "count")?);
                if let Some(n) = shards
                    && n != count
                {
                    return Err(Failure::input(anyhow!(
                        "--shard {text} and --shards {n} disagree on the number of shards"
                    )));
                }
                (index, count)
            }
            (None, Some(count)) => {
                let (name, value) = from_environment().ok_or_else(|| {
                    Failure::input(anyhow!(
                        "--shards {count} needs the shard index: give --shard I/{count}, or run \
                         as a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) or a Slurm array \
                         (SLURM_ARRAY_TASK_ID)"
                    ))
                })?;
                let index = value.trim().parse::<u64>().map_err(|_| {
                    Failure::input(anyhow!(
                        "{name}='{value}': expected a whole number (the shard index)"
                    ))
                })?;
                (index, count)
            }
        };
        if count == 0 {
            return Err(Failure::input(anyhow!(
                "shard {index}/{count}: the number of shards must be at least 1"
            )));
        }
        if index >= count {
            return Err(Failure::input(anyhow!(
                "shard {index}/{count}: the index must be 0 to {} (indices start at 0)",
                count - 1
            )));
        }
        Ok(Some(Self { index, count }))
    }

    /// This shard's items (patients, replicate trials) among `0..total`:
    /// `[⌊total·i/N⌋, ⌊total·(i+1)/N⌋)`.
    #[must_use]
    pub fn range(self, total: u64) -> Range<u64> {
        let bound = |i: u64| (u128::from(total) * u128::from(i) / u128::from(self.count)) as u64;
        bound(self.index)..bound(self.index + 1)
    }
}

/// What a shard ran: enough to check that shards belong together and to rebuild the study.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    format: String,
    program_version: String,
    model_id: String,
    model_version: String,
    model_hash: String,
    /// SHA-256 of the run-defining arguments and of every `@file` they read.
    run_hash: String,
    seed: u64,
    patients: u64,
    shard: Shard,
    patient_range: [u64; 2],
    /// The run-defining arguments (no output directory, threads or shard selection).
    arguments: SimulateArgs,
}

/// A shard's partial result.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Partial {
    manifest: Manifest,
    summary: CohortSummary,
}

/// SHA-256 over the run-defining arguments and the contents of the files they name.
fn run_hash(args: &SimulateArgs) -> Result<String, Failure> {
    let mut canonical = serde_json::to_vec(&args.run_defining())
        .map_err(|e| Failure::run(anyhow!("serialising the run's arguments: {e}")))?;
    for path in args.arm_files() {
        let text = read_text(&path).map_err(Failure::input)?;
        canonical.extend_from_slice(sha256_hex(text.as_bytes()).as_bytes());
    }
    Ok(sha256_hex(&canonical))
}

/// Runs one shard of `study` (built from `args`) and writes its [`SHARD_FILE`] (and
/// `trajectories.csv` when asked) into `args`' output directory.
pub fn run_shard(study: &mut Study<'_>, args: &SimulateArgs, shard: Shard) -> Result<(), Failure> {
    let total = args.patients();
    let range = shard.range(total);
    study.options.patients = range.clone();
    let spec = study.model.spec();
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        program_version: env!("CARGO_PKG_VERSION").to_owned(),
        model_id: spec.id.to_owned(),
        model_version: spec.version.to_owned(),
        model_hash: spec.content_hash(),
        run_hash: run_hash(args)?,
        seed: study.options.seed,
        patients: total,
        shard,
        patient_range: [range.start, range.end],
        arguments: args.run_defining(),
    };
    let out_dir = args.out().to_owned();
    let mut files = OutputFiles::new(&out_dir).map_err(Failure::input)?;
    // A shard may be empty (more shards than patients): it still reports, so the merge is
    // complete.
    let summary = study.compute(&mut files)?;
    let partial = Partial { manifest, summary };
    let json = serde_json::to_string(&partial)
        .map_err(|e| Failure::run(anyhow!("serialising the shard: {e}")))?;
    files
        .write(SHARD_FILE, json.as_bytes())
        .map_err(Failure::run)?;
    files.commit().map_err(Failure::run)?;
    eprintln!(
        "shard {}/{}: patients {}..{} written to {}",
        shard.index,
        shard.count,
        range.start,
        range.end,
        out_dir.join(SHARD_FILE).display()
    );
    Ok(())
}

/// Arguments of `twin merge`.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The shards' output directories (each holding a `shard.json`), in any order.
    #[arg(required = true, num_args = 1..)]
    dirs: Vec<PathBuf>,
    /// Output directory of the merged run.
    #[arg(long)]
    out: PathBuf,
}

/// What `twin merge` checks in every shard's manifest, whatever its kind.
pub struct ShardIdentity {
    /// Values every shard of one run shares, `(what, value)`: program version, hashes, seed.
    pub shared: Vec<(&'static str, String)>,
    /// The shard.
    pub shard: Shard,
    /// Items of the whole run.
    pub total: u64,
    /// What the items are ("patients", "replicate trials").
    pub items: &'static str,
}

/// Checks that the shard in `dir` belongs to the same run as the one in `first_dir`.
pub fn check_same_run(
    (first_dir, first): (&Path, &ShardIdentity),
    (dir, theirs): (&Path, &ShardIdentity),
) -> Result<(), Failure> {
    let counts = [first, theirs].map(|i| ("number of shards", i.shard.count.to_string()));
    let pairs = first
        .shared
        .iter()
        .chain([&counts[0]])
        .zip(theirs.shared.iter().chain([&counts[1]]));
    for ((what, ours), (_, theirs)) in pairs {
        if ours != theirs {
            return Err(Failure::input(anyhow!(
                "{} and {} are shards of different runs: {what} {ours} vs {theirs}",
                first_dir.display(),
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Checks that `shards` (directory, partial result) belong to one run and that each of its shards
/// is there exactly once; returns them in shard order.
///
/// The work is bounded by the shards given, not by the count their manifests claim: a missing
/// shard is found by the number of shards given, and at most [`MAX_LISTED_MISSING`] missing
/// shards are named.
pub fn order_shards<T>(
    shards: Vec<(PathBuf, T)>,
    identity: impl Fn(&T) -> ShardIdentity,
) -> Result<Vec<(PathBuf, T)>, Failure> {
    let (first_dir, first) = &shards[0];
    let reference = identity(first);
    for (dir, partial) in &shards[1..] {
        check_same_run((first_dir, &reference), (dir, &identity(partial)))?;
    }
    let count = reference.shard.count;
    let mut by_index: BTreeMap<u64, (PathBuf, T)> = BTreeMap::new();
    for (dir, partial) in shards {
        let index = identity(&partial).shard.index;
        if index >= count {
            return Err(Failure::input(anyhow!(
                "{}: shard index {index} of {count}; expected an index from 0 to {}",
                dir.display(),
                count.saturating_sub(1)
            )));
        }
        if let Some((previous, _)) = by_index.get(&index) {
            return Err(Failure::input(anyhow!(
                "shard {index}/{count} is given twice: {} and {}",
                previous.display(),
                dir.display()
            )));
        }
        by_index.insert(index, (dir, partial));
    }
    let n_missing = count - by_index.len() as u64;
    if n_missing > 0 {
        let mut missing: Vec<String> = (0..count)
            .filter(|index| !by_index.contains_key(index))
            .take(MAX_LISTED_MISSING)
            .map(|index| {
                let range = Shard { index, count }.range(reference.total);
                format!(
                    "{index}/{count} ({} {}..{}; re-run it with --shard {index}/{count})",
                    reference.items, range.start, range.end
                )
            })
            .collect();
        if n_missing > MAX_LISTED_MISSING as u64 {
            missing.push(format!(
                "and {} more",
                n_missing - MAX_LISTED_MISSING as u64
            ));
        }
        return Err(Failure::input(anyhow!(
            "missing shard(s) {}",
            missing.join(", ")
        )));
    }
    Ok(by_index.into_values().collect())
}

/// Most missing shards a merge names; it counts the others.
const MAX_LISTED_MISSING: usize = 20;

/// The format tag of a shard file, read before its kind is known.
#[derive(Deserialize)]
struct FormatOnly {
    manifest: FormatTag,
}

#[derive(Deserialize)]
struct FormatTag {
    format: String,
}

/// Reads the shard file in `dir`, checking that it is of the kind `format` names.
pub fn read_shard<T: serde::de::DeserializeOwned>(dir: &Path, format: &str) -> Result<T, Failure> {
    let path = dir.join(SHARD_FILE);
    if !path.exists() {
        return Err(Failure::input(anyhow!(
            "{}: no {SHARD_FILE} (the shard did not finish, or this is not a shard's output \
             directory)",
            dir.display()
        )));
    }
    let text = read_text(&path).map_err(Failure::input)?;
    parse_shard(&path, &text, format)
}

/// Parses `text`, the shard file `path`, checking that it is of the kind `format` names.
pub fn parse_shard<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
    format: &str,
) -> Result<T, Failure> {
    let not_a_shard = |e: serde_json::Error| {
        Failure::input(anyhow!(
            "{}: not a shard file of this program version ({e})",
            path.display()
        ))
    };
    let found = serde_json::from_str::<FormatOnly>(text)
        .map_err(not_a_shard)?
        .manifest
        .format;
    if found != format {
        return Err(Failure::input(anyhow!(
            "{}: format '{found}', expected '{format}' like the first shard given (shards of \
             `twin simulate` are '{FORMAT}', of `twin trial` '{}')",
            path.display(),
            crate::trial::SHARD_FORMAT
        )));
    }
    serde_json::from_str(text).map_err(not_a_shard)
}

/// Runs `twin merge`: the first shard's format says whether the shards are a simulation's or a
/// trial's; every other must be of the same kind.
pub fn merge(args: &MergeArgs) -> Result<(), Failure> {
    let first: FormatOnly = read_shard_format(&args.dirs[0])?;
    if first.manifest.format == crate::trial::SHARD_FORMAT {
        crate::trial::merge(&args.dirs, &args.out)
    } else {
        merge_simulation(&args.dirs, &args.out)
    }
}

/// The format tag of the shard file in `dir` (any format; [`read_shard`] checks it).
fn read_shard_format(dir: &Path) -> Result<FormatOnly, Failure> {
    let path = dir.join(SHARD_FILE);
    let text = read_text(&path).map_err(|e| {
        Failure::input(anyhow!(
            "{}: no readable {SHARD_FILE} (the shard did not finish, or this is not a shard's \
             output directory): {e:#}",
            dir.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::input(anyhow!(
            "{}: not a shard file of this program version ({e})",
            path.display()
        ))
    })
}

/// What the merge checks in a simulation shard's manifest.
fn simulation_identity(m: &Manifest) -> ShardIdentity {
    ShardIdentity {
        shared: vec![
            ("program version", m.program_version.clone()),
            ("model hash", m.model_hash.clone()),
            ("run hash (arguments and files)", m.run_hash.clone()),
            ("seed", m.seed.to_string()),
        ],
        shard: m.shard,
        total: m.patients,
        items: "patients",
    }
}

/// Merges a simulation's shards, one file at a time: each shard's summary is folded into the
/// running total as soon as its manifest matches the first's (summaries merge exactly in any
/// order), so the merge holds one shard file in memory, not all of them.
fn merge_simulation(dirs: &[PathBuf], out: &Path) -> Result<(), Failure> {
    let mut merging = SimulationMerge::default();
    for dir in dirs {
        merging.add(dir, read_shard(dir, FORMAT)?)?;
    }
    let (ordered, summary) = merging.finish()?;
    let reference = ordered[0].1.clone();
    let arguments = reference.arguments.with_out(out);
    if run_hash(&arguments)? != reference.run_hash {
        return Err(Failure::input(anyhow!(
            "a file the run reads (an @protocol or @events arm) changed since the shards ran"
        )));
    }
    let mut files = OutputFiles::new(out).map_err(Failure::input)?;
    with_study(&arguments, |study| {
        if study.model.spec().content_hash() != reference.model_hash {
            return Err(Failure::input(anyhow!(
                "model {}@{} is not the version the shards ran (hash {})",
                reference.model_id,
                reference.model_version,
                reference.model_hash
            )));
        }
        if arguments.trajectories() {
            let parts: Vec<PathBuf> = ordered
                .iter()
                .map(|(dir, _)| dir.join("trajectories.csv"))
                .collect();
            let mut trajectories = files.stream("trajectories.csv").map_err(Failure::run)?;
            concatenate_csv(&parts, &mut trajectories).map_err(Failure::run)?;
            files.add(trajectories).map_err(Failure::run)?;
        }
        study.write_summary(&summary, &mut files)?;
        files.commit().map_err(Failure::run)
    })
}

/// The simulation shards `twin merge` has read so far: their manifests, checked against the
/// first's, and their summaries merged.
#[derive(Default)]
struct SimulationMerge {
    manifests: Vec<(PathBuf, Manifest)>,
    summary: Option<CohortSummary>,
}

impl SimulationMerge {
    /// Adds the shard read from `dir`.
    fn add(&mut self, dir: &Path, partial: Partial) -> Result<(), Failure> {
        let m = &partial.manifest;
        let [start, end] = m.patient_range;
        // `range` needs index < count; `order_shards` names a shard without a place.
        if m.shard.index < m.shard.count {
            let expected = m.shard.range(m.patients);
            if (start..end) != expected {
                return Err(Failure::input(anyhow!(
                    "{}: patients {start}..{end}, but shard {}/{} of {} patients runs {}..{}",
                    dir.join(SHARD_FILE).display(),
                    m.shard.index,
                    m.shard.count,
                    m.patients,
                    expected.start,
                    expected.end
                )));
            }
        }
        if let Some((first_dir, first)) = self.manifests.first() {
            check_same_run(
                (first_dir, &simulation_identity(first)),
                (dir, &simulation_identity(&partial.manifest)),
            )?;
        }
        match self.summary.as_mut() {
            None => self.summary = Some(partial.summary),
            Some(total) => total
                .merge(&partial.summary)
                .map_err(|e| Failure::input(anyhow!("{}: {e}", dir.display())))?,
        }
        self.manifests.push((dir.to_owned(), partial.manifest));
        Ok(())
    }

    /// The manifests in shard order, each shard there exactly once, and the merged summary.
    fn finish(self) -> Result<(Vec<(PathBuf, Manifest)>, CohortSummary), Failure> {
        let ordered = order_shards(self.manifests, simulation_identity)?;
        let Some(summary) = self.summary else {
            return Err(Failure::input(anyhow!("no shards to merge")));
        };
        Ok((ordered, summary))
    }
}

/// Writes the CSV files `parts` one after another into `target` (the header of the first only).
fn concatenate_csv(parts: &[PathBuf], target: &mut impl Write) -> anyhow::Result<()> {
    for (part_idx, part) in parts.iter().enumerate() {
        let file = fs::File::open(part).with_context(|| format!("opening {}", part.display()))?;
        for (line_idx, line) in BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("reading {}", part.display()))?;
            if line_idx == 0 && part_idx > 0 {
                continue;
            }
            writeln!(target, "{line}")?;
        }
    }
    Ok(())
}
