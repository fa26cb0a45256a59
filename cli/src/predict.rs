//! `twin predict`: PRED for every record of a dataset.

use std::path::PathBuf;

use anyhow::anyhow;
use twin_engine::nmcsv;
use twin_engine::predict::{ParameterOverride, PredictOptions, predict_dataset};

use crate::Failure;
use crate::files::{number, read_text, write_atomic};

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

/// Runs `twin predict`.
pub fn run(args: &Args) -> Result<(), Failure> {
    let model = crate::registry::resolve_model(&args.model).map_err(Failure::input)?;
    let overrides = args
        .params
        .iter()
        .map(|p| ParameterOverride::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::input)?;
    let text = read_text(&args.data).map_err(Failure::input)?;
    let dataset =
        nmcsv::parse_dataset(&args.data.display().to_string(), &text).map_err(Failure::input)?;
    let options = PredictOptions {
        solver: args.solver.options(),
        overrides,
        residual_error_seed: args.with_error,
    };
    let predictions =
        predict_dataset(model.as_ref(), &dataset, &options).map_err(Failure::input)?;
    let spec = model.spec();
    let mut csv = String::from("ID,TIME,EVID");
    for o in &spec.outputs {
        csv.push(',');
        csv.push_str(o.name);
    }
    csv.push('\n');
    let mut n_failed = 0usize;
    for (subject, prediction) in dataset.subjects.iter().zip(&predictions) {
        let outputs = match prediction {
            Ok(p) => Some(&p.outputs),
            Err(e) => {
                eprintln!("warning: {e}; its rows are written as missing (.)");
                n_failed += 1;
                None
            }
        };
        for (row, record) in subject.records.iter().enumerate() {
            csv.push_str(&format!(
                "{},{},{}",
                subject.id,
                number(record.time),
                record.evid.code()
            ));
            for o in 0..spec.outputs.len() {
                let v = outputs.map_or(f64::NAN, |values| values[row * spec.outputs.len() + o]);
                csv.push(',');
                csv.push_str(&number(v));
            }
            csv.push('\n');
        }
    }
    write_atomic(&args.out, csv.as_bytes()).map_err(Failure::run)?;
    if n_failed > 0 {
        return Err(Failure::run(anyhow!(
            "{n_failed} of {} subjects failed; {} was written with their rows missing",
            dataset.subjects.len(),
            args.out.display()
        )));
    }
    Ok(())
}
