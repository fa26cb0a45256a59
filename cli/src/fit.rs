//! `twin fit`: population estimation (FOCE-I or SAEM) of a model on a NONMEM-style dataset; the
//! estimates become a new model version that every command loads by `id@version`.
//!
//! Writes into `--out DIR`:
//! - `<id>@<version>.json`: the fitted version (see `twin_fit::version`); put it in the models
//!   directory (`--models DIR`, `TWIN_MODELS`, default `./models`) or point `--models` at `DIR`;
//! - `report.md`: estimates with SE and RSE %, OFV (without the n·ln 2π constant, and with it),
//!   shrinkage, convergence, notes, provenance; `fit.json`: the same, machine-readable;
//! - `iterations.csv`: the iteration log; `sdtab.csv`: per observation ID, TIME, DV, PRED, IPRED,
//!   CWRES, IWRES and the subject's ETAs (NONMEM's `sdtab`);
//! - goodness-of-fit plots: `gof-dv-pred.svg`, `gof-dv-ipred.svg`, `gof-cwres-time.svg`,
//!   `gof-cwres-pred.svg`, `gof-iwres-ipred.svg`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::anyhow;
use serde::Serialize;
use twin_engine::Model;
use twin_engine::nmcsv;
use twin_engine::population::ResidualError;
use twin_engine::solver::SolverOptions;
use twin_fit::estimate::{FitOptions, FitResult, Method, fit};
use twin_fit::parameters::{ErrorModel, OmegaStructure, ParameterSettings};
use twin_fit::saem::SaemOptions;
use twin_models::fitted::Fitted;
use twin_plots::{ReferenceLine, ScatterPlot, scatter_svg};

use crate::Failure;
use crate::files::{OutputFiles, number};

/// Arguments of `twin fit`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model to fit: id, id@version, or a fitted version (its estimates are the initial ones).
    #[arg(long)]
    model: String,
    /// NONMEM-style CSV dataset with observations (DV, MDV 0).
    #[arg(long)]
    data: PathBuf,
    /// Estimation method: foce-i or saem.
    #[arg(long, default_value = "foce-i")]
    method: String,
    /// Fix a parameter: NAME=VALUE. Names: typical values (CL), covariate coefficients (V~APGR),
    /// variances (OMEGA(CL); OMEGA(KA)=0 removes a random effect), residual SDs (SD(CP)).
    #[arg(long = "fix", value_name = "NAME=VALUE")]
    fix: Vec<String>,
    /// Estimate a parameter that is fixed by default (e.g. F1, or a power exponent CL~WT).
    #[arg(long = "estimate", value_name = "NAME")]
    estimate: Vec<String>,
    /// Initial estimate of a parameter: NAME=VALUE.
    #[arg(long = "init", value_name = "NAME=VALUE")]
    init: Vec<String>,
    /// Structure of Ω: model (full if the model has covariances), diagonal or full.
    #[arg(long, default_value = "model")]
    omega: String,
    /// Residual error model: [OUTPUT=]additive|proportional|combined|exponential (OUTPUT
    /// defaults to the model's first output).
    #[arg(long = "error", value_name = "[OUTPUT=]MODEL")]
    errors: Vec<String>,
    /// Version label of the fitted version (default: <base version>-fit-<8 hex of its hash>).
    #[arg(long)]
    label: Option<String>,
    /// Seed of SAEM's Markov chains.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Largest number of FOCE-I iterations; 0 evaluates the OFV, EBEs and diagnostics at the
    /// initial estimates (NONMEM's MAXEVAL=0).
    #[arg(long, default_value_t = 500)]
    max_iterations: usize,
    /// SAEM burn-in iterations (step size 1).
    #[arg(long, default_value_t = 300)]
    saem_burn_in: usize,
    /// SAEM smoothing iterations (step size 1/k).
    #[arg(long, default_value_t = 200)]
    saem_iterations: usize,
    /// SAEM Markov chains per subject.
    #[arg(long, default_value_t = 2)]
    saem_chains: usize,
    /// Skip the covariance step (no standard errors, no identifiability check at the end).
    #[arg(long)]
    no_covariance: bool,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Relative tolerance of the ODE solver (tighter than for simulation: the objective is
    /// differentiated numerically).
    #[arg(long, default_value_t = 1e-9)]
    rtol: f64,
    /// Absolute tolerance of the ODE solver.
    #[arg(long, default_value_t = 1e-12)]
    atol: f64,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

/// `NAME=VALUE` of a flag.
fn name_value(flag: &str, text: &str) -> Result<(String, f64), Failure> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| Failure::input(anyhow!("{flag} '{text}': expected NAME=VALUE")))?;
    let value: f64 = value.trim().parse().map_err(|_| {
        Failure::input(anyhow!(
            "{flag} '{text}': '{}' is not a number",
            value.trim()
        ))
    })?;
    Ok((name.trim().to_owned(), value))
}

/// The options of the fit from the flags.
fn options(args: &Args, model: &dyn Model) -> Result<FitOptions, Failure> {
    let method = Method::parse(&args.method).map_err(Failure::input)?;
    let omega = match args.omega.trim().to_ascii_lowercase().as_str() {
        "model" => OmegaStructure::AsModel,
        "diagonal" | "diag" => OmegaStructure::Diagonal,
        "full" => OmegaStructure::Full,
        other => {
            return Err(Failure::input(anyhow!(
                "--omega '{other}': expected model, diagonal or full"
            )));
        }
    };
    let mut error_models = Vec::new();
    for text in &args.errors {
        let (output, kind) = match text.split_once('=') {
            Some((o, k)) => (o.trim().to_owned(), k),
            None => (
                model
                    .spec()
                    .outputs
                    .first()
                    .map_or(String::new(), |o| o.name.to_owned()),
                text.as_str(),
            ),
        };
        error_models.push((output, ErrorModel::parse(kind).map_err(Failure::input)?));
    }
    let solver = SolverOptions {
        rtol: args.rtol,
        atol: args.atol,
        ..SolverOptions::default()
    };
    solver.validate().map_err(Failure::input)?;
    Ok(FitOptions {
        method,
        parameters: ParameterSettings {
            fix: args
                .fix
                .iter()
                .map(|t| name_value("--fix", t))
                .collect::<Result<_, _>>()?,
            estimate: args.estimate.clone(),
            initial: args
                .init
                .iter()
                .map(|t| name_value("--init", t))
                .collect::<Result<_, _>>()?,
            omega,
            error_models,
        },
        solver,
        max_iterations: args.max_iterations,
        covariance: !args.no_covariance,
        saem: SaemOptions {
            burn_in_iterations: args.saem_burn_in,
            smoothing_iterations: args.saem_iterations,
            seed: args.seed,
            n_chains: args.saem_chains,
        },
        ..FitOptions::default()
    })
}

/// Runs `twin fit`.
pub fn run(args: &Args) -> Result<(), Failure> {
    let (start, base) = crate::registry::resolve_with_base(&args.model).map_err(Failure::input)?;
    let options = options(args, start.as_ref())?;
    let bytes = std::fs::read(&args.data)
        .map_err(|e| Failure::input(anyhow!("reading {}: {e}", args.data.display())))?;
    let source = args.data.display().to_string();
    let text = String::from_utf8(bytes.clone())
        .map_err(|_| Failure::input(anyhow!("{source}: the file is not UTF-8 text")))?;
    let dataset = nmcsv::parse_dataset(&source, &text).map_err(Failure::input)?;
    let data_sha256 = twin_engine::model::sha256_hex(&bytes);

    let total = match options.method {
        Method::FoceI => options.max_iterations,
        Method::Saem => options.saem.burn_in_iterations + options.saem.smoothing_iterations,
    };
    let bar = crate::progress::bar(total as u64, &format!("{} fit", options.method.label()));
    let mut on_iteration = |it: &twin_fit::estimate::Iteration| {
        bar.set_position(it.iteration as u64);
    };
    let run = || fit(start.as_ref(), &dataset, &options, &mut on_iteration);
    let result = crate::with_threads(args.threads, run)?;
    bar.finish_and_clear();
    let result = result.map_err(|e| {
        if e.is_bad_input() {
            Failure::input(e)
        } else {
            Failure::run(anyhow!("{source}: {e}"))
        }
    })?;
    let data_file = args
        .data
        .file_name()
        .map_or(source.clone(), |n| n.to_string_lossy().into_owned());
    let seed = (options.method == Method::Saem).then_some(args.seed);
    let parameters = twin_fit::version::fitted_parameters(
        &result,
        &data_file,
        &data_sha256,
        seed,
        args.label.clone(),
    );
    let fitted = Fitted::new(base, parameters).map_err(Failure::input)?;
    let files = outputs(&fitted, &result, &source, &data_sha256, &options)?;
    let mut output = OutputFiles::new(&args.out).map_err(Failure::run)?;
    for (name, contents) in &files {
        output.write(name, contents).map_err(Failure::run)?;
    }
    output.commit().map_err(Failure::run)?;
    let spec = fitted.spec();
    println!(
        "{} fit of {} to {source}: OFV {:.4} (without n·ln 2π); new version {}@{} written to {}",
        result.method.label(),
        start.spec().id,
        result.ofv,
        spec.id,
        spec.version,
        args.out
            .join(crate::registry::file_name(spec.id, spec.version))
            .display()
    );
    for note in &result.notes {
        eprintln!("note: {note}");
    }
    Ok(())
}

/// Every output file, built in memory before anything is written.
fn outputs(
    fitted: &Fitted,
    result: &FitResult,
    source: &str,
    data_sha256: &str,
    options: &FitOptions,
) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let spec = fitted.spec();
    let mut files = vec![
        (
            crate::registry::file_name(spec.id, spec.version),
            twin_fit::version::to_json(fitted).into_bytes(),
        ),
        (
            "report.md".to_owned(),
            report(fitted, result, source, data_sha256, options).into_bytes(),
        ),
        (
            "fit.json".to_owned(),
            fit_json(fitted, result, source, data_sha256)?.into_bytes(),
        ),
        (
            "iterations.csv".to_owned(),
            iterations_csv(result).into_bytes(),
        ),
        ("sdtab.csv".to_owned(), sdtab(fitted, result).into_bytes()),
    ];
    files.extend(plots(fitted, result)?);
    Ok(files)
}

/// The human-readable report.
fn report(
    fitted: &Fitted,
    result: &FitResult,
    source: &str,
    data_sha256: &str,
    options: &FitOptions,
) -> String {
    let spec = fitted.spec();
    let base = fitted.base_spec();
    let ln_2pi = (2.0 * std::f64::consts::PI).ln();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# {} fit of {}@{} to {source}\n",
        result.method.label(),
        base.id,
        base.version
    );
    let _ = writeln!(
        t,
        "- New version: **{}@{}**, content hash `{}`",
        spec.id,
        spec.version,
        spec.content_hash()
    );
    let _ = writeln!(t, "- Data: `{source}`, SHA-256 `{data_sha256}`");
    let _ = writeln!(
        t,
        "- {} subjects, {} observations",
        result.n_subjects, result.n_observations
    );
    let _ = writeln!(
        t,
        "- OFV (−2 log L, FOCE-I): **{:.4}** without the n·ln 2π constant (as NONMEM reports \
         it); {:.4} with it (n = {})",
        result.ofv,
        result.ofv + result.n_observations as f64 * ln_2pi,
        result.n_observations
    );
    if result
        .values
        .residual
        .iter()
        .any(|r| matches!(r, ResidualError::Exponential { .. }))
    {
        let _ = writeln!(
            t,
            "- Exponential residual errors: the OFV is the density of DV itself, so it includes \
             Σ 2·ln DV over those observations (NONMEM on log-transformed data omits it)"
        );
    }
    if result.method == Method::Saem {
        let _ = writeln!(
            t,
            "- SAEM (seed {}, {} chains per subject, {} + {} iterations); OFV, standard errors, \
             EBEs and diagnostics are FOCE-I's at the SAEM estimates",
            options.saem.seed,
            options.saem.n_chains,
            options.saem.burn_in_iterations,
            options.saem.smoothing_iterations
        );
    }
    let _ = writeln!(t, "- Convergence: {}", result.convergence);
    let _ = writeln!(
        t,
        "- {}: {}",
        match result.method {
            Method::FoceI => "Objective evaluations (each solves every subject's conditional mode)",
            Method::Saem => "Model simulations (SAEM chains) plus FOCE-I objective evaluations",
        },
        result.n_evaluations
    );
    let _ = writeln!(t, "- Tool: twin-fit {}\n", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(t, "## Estimates\n");
    let _ = writeln!(
        t,
        "Standard errors from the inverse Hessian of the OFV (NONMEM's MATRIX=R), by the delta \
         method in natural units. OMEGA is a variance (ω² or a covariance), SD a residual \
         standard deviation.\n"
    );
    let _ = writeln!(
        t,
        "| parameter | estimate | SE | RSE % | initial | | derived |"
    );
    let _ = writeln!(t, "| --- | ---: | ---: | ---: | ---: | --- | --- |");
    for e in &result.estimates {
        let derived = if e.name.starts_with("OMEGA(") && !e.name.contains(',') {
            format!("ω = {:.6}", e.value.max(0.0).sqrt())
        } else if e.name.starts_with("SD") {
            format!("σ² = {:.6}", e.value * e.value)
        } else {
            String::new()
        };
        let _ = writeln!(
            t,
            "| {} | {:.6} | {} | {} | {} | {} | {} |",
            e.name,
            e.value,
            e.se.map_or("—".to_owned(), |s| format!("{s:.6}")),
            e.rse_percent.map_or("—".to_owned(), |r| format!("{r:.1}")),
            e.initial,
            if e.estimated { "estimated" } else { "fixed" },
            derived
        );
    }
    let _ = writeln!(t, "\n## Shrinkage\n");
    for (name, s) in &result.shrinkage {
        let _ = writeln!(t, "- η-shrinkage of {name}: {:.1} %", 100.0 * s);
    }
    let _ = writeln!(
        t,
        "- ε-shrinkage: {:.1} %",
        100.0 * result.epsilon_shrinkage
    );
    if !result.notes.is_empty() {
        let _ = writeln!(t, "\n## Notes\n");
        for note in &result.notes {
            let _ = writeln!(t, "- {note}");
        }
    }
    let _ = writeln!(t, "\n## Files\n");
    let _ = writeln!(
        t,
        "- `{}`: the fitted version; load it with `--model {}@{}` and `--models <this \
         directory>` (or copy it into the models directory)",
        crate::registry::file_name(spec.id, spec.version),
        spec.id,
        spec.version
    );
    let _ = writeln!(
        t,
        "- `iterations.csv` (iteration log; OBJECTIVE is the OFV for FOCE-I, −2 log p(y, η) of \
         the chains for SAEM, whose STEP is γ), `sdtab.csv` (ID, TIME, DV, PRED, IPRED, CWRES, \
         IWRES, ETAs: {}), `fit.json`",
        result
            .eta_names
            .iter()
            .enumerate()
            .map(|(k, n)| format!("ETA{} = {n}", k + 1))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        t,
        "- Goodness of fit: ![DV vs PRED](gof-dv-pred.svg) ![DV vs IPRED](gof-dv-ipred.svg) \
         ![CWRES vs TIME](gof-cwres-time.svg) ![CWRES vs PRED](gof-cwres-pred.svg) \
         ![IWRES vs IPRED](gof-iwres-ipred.svg)"
    );
    t
}

#[derive(Serialize)]
struct FitJson<'a> {
    model: &'a str,
    version: &'a str,
    content_hash: String,
    base_version: &'a str,
    method: &'a str,
    data: &'a str,
    data_sha256: &'a str,
    n_subjects: usize,
    n_observations: usize,
    ofv: f64,
    ofv_includes_constant: bool,
    ofv_with_constant: f64,
    convergence: &'a str,
    n_evaluations: usize,
    estimates: Vec<EstimateJson<'a>>,
    covariance: Option<CovarianceJson<'a>>,
    eta_names: &'a [String],
    shrinkage: Vec<(&'a str, f64)>,
    epsilon_shrinkage: f64,
    notes: &'a [String],
}

#[derive(Serialize)]
struct EstimateJson<'a> {
    name: &'a str,
    value: f64,
    initial: f64,
    estimated: bool,
    se: Option<f64>,
    rse_percent: Option<f64>,
}

#[derive(Serialize)]
struct CovarianceJson<'a> {
    names: &'a [String],
    matrix: &'a [f64],
    hessian_condition_ratio: f64,
}

/// The machine-readable results.
fn fit_json(
    fitted: &Fitted,
    result: &FitResult,
    source: &str,
    data_sha256: &str,
) -> Result<String, Failure> {
    let spec = fitted.spec();
    let json = FitJson {
        model: spec.id,
        version: spec.version,
        content_hash: spec.content_hash(),
        base_version: fitted.base_spec().version,
        method: result.method.label(),
        data: source,
        data_sha256,
        n_subjects: result.n_subjects,
        n_observations: result.n_observations,
        ofv: result.ofv,
        ofv_includes_constant: false,
        ofv_with_constant: result.ofv
            + result.n_observations as f64 * (2.0 * std::f64::consts::PI).ln(),
        convergence: &result.convergence,
        n_evaluations: result.n_evaluations,
        estimates: result
            .estimates
            .iter()
            .map(|e| EstimateJson {
                name: &e.name,
                value: e.value,
                initial: e.initial,
                estimated: e.estimated,
                se: e.se,
                rse_percent: e.rse_percent,
            })
            .collect(),
        covariance: result.covariance.as_ref().map(|c| CovarianceJson {
            names: &result.estimated_names,
            matrix: &c.matrix,
            hessian_condition_ratio: c.condition_ratio,
        }),
        eta_names: &result.eta_names,
        shrinkage: result
            .shrinkage
            .iter()
            .map(|(n, s)| (n.as_str(), *s))
            .collect(),
        epsilon_shrinkage: result.epsilon_shrinkage,
        notes: &result.notes,
    };
    let mut text = serde_json::to_string_pretty(&json)
        .map_err(|e| Failure::run(anyhow!("writing fit.json: {e}")))?;
    text.push('\n');
    Ok(text)
}

/// The iteration log: iteration, objective, gradient, step, evaluations, then one column per
/// estimated parameter.
fn iterations_csv(result: &FitResult) -> String {
    let mut csv = String::from("ITERATION,OBJECTIVE,GRADIENT_MAX,STEP,EVALUATIONS");
    for name in &result.estimated_names {
        csv.push(',');
        csv.push_str(name);
    }
    csv.push('\n');
    for it in &result.iterations {
        let _ = write!(
            csv,
            "{},{},{},{},{}",
            it.iteration,
            number(it.objective),
            number(it.gradient_max),
            number(it.step),
            it.n_evaluations
        );
        for v in &it.values {
            csv.push(',');
            csv.push_str(&number(*v));
        }
        csv.push('\n');
    }
    csv
}

/// NONMEM-like diagnostic table, one row per observation.
fn sdtab(fitted: &Fitted, result: &FitResult) -> String {
    let several_outputs = fitted.spec().outputs.len() > 1;
    let any_censored = result
        .subjects
        .iter()
        .any(|s| s.diagnostics.iter().any(|d| d.censored));
    let mut csv = String::from("ID,TIME");
    if several_outputs {
        csv.push_str(",DVID");
    }
    csv.push_str(",DV");
    if any_censored {
        csv.push_str(",BLQ");
    }
    csv.push_str(",PRED,IPRED,CWRES,IWRES");
    for k in 0..result.eta_names.len() {
        let _ = write!(csv, ",ETA{}", k + 1);
    }
    csv.push('\n');
    for subject in &result.subjects {
        for d in &subject.diagnostics {
            let _ = write!(csv, "{},{}", subject.id, number(d.time));
            if several_outputs {
                let _ = write!(csv, ",{}", d.output + 1);
            }
            let _ = write!(csv, ",{}", number(d.dv));
            if any_censored {
                let _ = write!(csv, ",{}", u8::from(d.censored));
            }
            let _ = write!(
                csv,
                ",{},{},{},{}",
                number(d.pred),
                number(d.ipred),
                number(d.cwres),
                number(d.iwres)
            );
            for eta in &subject.eta {
                csv.push(',');
                csv.push_str(&number(*eta));
            }
            csv.push('\n');
        }
    }
    csv
}

/// The goodness-of-fit plots (uncensored observations).
fn plots(fitted: &Fitted, result: &FitResult) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let spec = fitted.spec();
    let rows: Vec<_> = result
        .subjects
        .iter()
        .flat_map(|s| s.diagnostics.iter())
        .filter(|d| !d.censored)
        .collect();
    let column = |f: &dyn Fn(&twin_fit::foce::ObservationDiagnostics) -> f64| -> Vec<f64> {
        rows.iter().map(|d| f(d)).collect()
    };
    let (dv, pred, ipred) = (column(&|d| d.dv), column(&|d| d.pred), column(&|d| d.ipred));
    let (cwres, iwres, time) = (
        column(&|d| d.cwres),
        column(&|d| d.iwres),
        column(&|d| d.time),
    );
    let unit = spec.outputs.first().map_or("", |o| o.unit);
    let time_label = format!("Time ({})", spec.time_unit.symbol());
    let (dv_label, pred_label, ipred_label) = (
        format!("Observation ({unit})"),
        format!("Population prediction PRED ({unit})"),
        format!("Individual prediction IPRED ({unit})"),
    );
    let title = |what: &str| format!("{}@{}: {what}", spec.id, spec.version);
    let specs = [
        GofPlot {
            file: "gof-dv-pred.svg",
            title: title("observations vs population predictions"),
            x_label: &pred_label,
            y_label: &dv_label,
            x: &pred,
            y: &dv,
            reference: ReferenceLine::Identity,
        },
        GofPlot {
            file: "gof-dv-ipred.svg",
            title: title("observations vs individual predictions"),
            x_label: &ipred_label,
            y_label: &dv_label,
            x: &ipred,
            y: &dv,
            reference: ReferenceLine::Identity,
        },
        GofPlot {
            file: "gof-cwres-time.svg",
            title: title("conditional weighted residuals vs time"),
            x_label: &time_label,
            y_label: "CWRES",
            x: &time,
            y: &cwres,
            reference: ReferenceLine::Zero,
        },
        GofPlot {
            file: "gof-cwres-pred.svg",
            title: title("conditional weighted residuals vs PRED"),
            x_label: &pred_label,
            y_label: "CWRES",
            x: &pred,
            y: &cwres,
            reference: ReferenceLine::Zero,
        },
        GofPlot {
            file: "gof-iwres-ipred.svg",
            title: title("individual weighted residuals vs IPRED"),
            x_label: &ipred_label,
            y_label: "IWRES",
            x: &ipred,
            y: &iwres,
            reference: ReferenceLine::Zero,
        },
    ];
    specs
        .into_iter()
        .map(|p| {
            let svg = scatter_svg(&ScatterPlot {
                title: &p.title,
                x_label: p.x_label,
                y_label: p.y_label,
                x: p.x,
                y: p.y,
                reference: p.reference,
            })
            .map_err(|e| {
                Failure::run(anyhow::Error::new(e).context(format!("plotting {}", p.file)))
            })?;
            Ok((p.file.to_owned(), svg.into_bytes()))
        })
        .collect()
}

/// One goodness-of-fit plot: file name, title, axes and data.
struct GofPlot<'a> {
    file: &'static str,
    title: String,
    x_label: &'a str,
    y_label: &'a str,
    x: &'a [f64],
    y: &'a [f64],
    reference: ReferenceLine,
}
