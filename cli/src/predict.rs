//! `twin predict`: PRED for every record of a dataset.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use twin_engine::EngineError;
use twin_engine::model::Model;
use twin_engine::nmcsv::SubjectReader;
use twin_engine::predict::{ParameterOverride, PredictOptions, Predictor, SubjectPrediction};
use twin_engine::records::Subject;

use crate::Failure;
use crate::files::{PendingFile, number};

/// Arguments of `twin predict`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model id, optionally with a version: `pk-1cmt` or `pk-1cmt@1`.
    #[arg(long)]
    model: String,
    /// NONMEM-style CSV dataset.
    #[arg(long)]
    data: PathBuf,
    /// Override a parameter: `NAME=VALUE`, or `NAME=@COLUMN` to read it from a data column.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Add residual error drawn with this seed (default: none, predictions are PRED).
    #[arg(long, value_name = "SEED")]
    with_error: Option<u64>,
    #[command(flatten)]
    solver: crate::SolverArgs,
    /// Output CSV: ID, TIME, EVID, then one column per model output.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `twin predict`: reads, predicts and writes one subject at a time, so memory stays flat in
/// the dataset's size; the output is written under a temporary name and renamed when complete.
pub fn run(args: &Args) -> Result<(), Failure> {
    let model = crate::registry::resolve_model(&args.model).map_err(Failure::input)?;
    let overrides = args
        .params
        .iter()
        .map(|p| ParameterOverride::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::input)?;
    let options = PredictOptions {
        solver: args.solver.options(),
        overrides,
        residual_error_seed: args.with_error,
    };
    let source = args.data.display().to_string();
    let file = File::open(&args.data)
        .with_context(|| format!("reading {source}"))
        .map_err(Failure::input)?;
    let mut out = PendingFile::create(&args.out).map_err(Failure::run)?;
    let spec = model.spec();
    let mut header = String::from("ID,TIME,EVID");
    for o in &spec.outputs {
        header.push(',');
        header.push_str(o.name);
    }
    writeln!(out, "{header}").map_err(|e| Failure::run(write_error(&args.out, e)))?;

    let mut reader = SubjectReader::new(&source);
    let mut predictor: Option<Predictor<'_, dyn Model>> = None;
    let mut tally = Tally::default();
    let mut predict = |subject: Subject, out: &mut PendingFile, reader: &SubjectReader| {
        let predictor = match &mut predictor {
            Some(predictor) => predictor,
            None => predictor.insert(
                Predictor::new(model.as_ref(), &source, reader.covariate_names(), &options)
                    .map_err(Failure::input)?,
            ),
        };
        let prediction = predictor
            .predict(tally.n_subjects, &subject)
            .map_err(Failure::input)?;
        write_subject(
            out,
            &subject,
            prediction.as_ref(),
            spec.outputs.len(),
            &mut tally,
        )
        .map_err(|e| Failure::run(write_error(&args.out, e)))
    };
    for (line_idx, line) in BufReader::new(file).lines().enumerate() {
        let line = line
            .with_context(|| format!("reading {source}:{}", line_idx + 1))
            .map_err(Failure::input)?;
        if let Some(subject) = reader
            .push_line(line_idx + 1, &line)
            .map_err(Failure::input)?
        {
            predict(subject, &mut out, &reader)?;
        }
    }
    if let Some(subject) = reader.finish().map_err(Failure::input)? {
        predict(subject, &mut out, &reader)?;
    }
    out.commit().map_err(Failure::run)?;
    if tally.n_failed > 0 {
        return Err(Failure::run(anyhow!(
            "{} of {} subjects failed; {} was written with their rows missing",
            tally.n_failed,
            tally.n_subjects,
            args.out.display()
        )));
    }
    Ok(())
}

/// Subjects written so far, and how many of them failed.
#[derive(Default)]
struct Tally {
    n_subjects: usize,
    n_failed: usize,
}

/// Writes one subject's rows: ID, TIME, EVID and its predictions, or `.` where its run failed.
fn write_subject(
    out: &mut impl Write,
    subject: &Subject,
    prediction: Result<&SubjectPrediction, &EngineError>,
    n_outputs: usize,
    tally: &mut Tally,
) -> std::io::Result<()> {
    tally.n_subjects += 1;
    let outputs = match prediction {
        Ok(p) => Some(&p.outputs),
        Err(e) => {
            eprintln!("warning: {e}; its rows are written as missing (.)");
            tally.n_failed += 1;
            None
        }
    };
    for (row, record) in subject.records.iter().enumerate() {
        let mut line = format!(
            "{},{},{}",
            subject.id,
            number(record.time),
            record.evid.code()
        );
        for o in 0..n_outputs {
            let v = outputs.map_or(f64::NAN, |values| values[row * n_outputs + o]);
            line.push(',');
            line.push_str(&number(v));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The error of writing the output file `path`.
fn write_error(path: &Path, error: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(error).context(format!("writing {}", path.display()))
}
