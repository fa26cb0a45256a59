//! Trial outputs as text (CSV and JSON), for the CLI to write: the side-by-side summary, the
//! per-replicate table and the sample-size evaluations. No IO here.
//!
//! CSV conventions: a header row, comma separators, numbers in the shortest form that reads back
//! to the same `f64`, an empty cell for a missing number (CDISC ADaM's convention; R's
//! `read.csv` and pandas read it as NA; the rule is [`twin_engine::csv`]'s), text with commas or
//! quotes quoted with doubled quotes.

use std::fmt::Write as _;

use serde::Serialize;
use twin_engine::csv::{self, Missing};

use crate::design::Design;
use crate::replicates::{ReplicateResult, Trial};
use crate::summary::{AnalysisSummary, ClosedForm, SampleSizeSearch};

/// A number for the trial's CSV files (reports and ADaM tables): [`twin_engine::csv::number`]
/// with an empty cell for a missing value, the CDISC ADaM convention.
#[must_use]
pub fn number(x: f64) -> String {
    csv::number(x, Missing::Empty)
}

/// A text cell for CSV, quoted when it contains a comma, quote or line break.
#[must_use]
pub fn text(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(String::new, number)
}

/// `summary.csv`: one row per analysis, simulated operating characteristics next to the
/// closed-form prediction and the simulated sample size.
#[must_use]
pub fn summary_csv(
    summaries: &[AnalysisSummary],
    closed: &[ClosedForm],
    search: Option<&SampleSizeSearch>,
) -> String {
    let mut csv = String::from(
        "analysis,endpoint,method,effect_scale,replicates,power,power_mcse,type1_error,\
         type1_mcse,true_effect,true_effect_mcse,mean_estimate,bias,bias_mcse,rmse,coverage,\
         coverage_mcse,null_coverage,mean_std_error,empirical_sd,mean_analysed,mean_events,\
         failed_alternative,failed_null,closed_form_power,closed_form_n_total,\
         procova_formula_n_total,closed_form_events,simulated_n_total,simulated_n_power,\
         simulated_n_total_low,simulated_n_total_high\n",
    );
    for (s, c) in summaries.iter().zip(closed) {
        let found = search.and_then(|x| x.results.iter().find(|r| r.analysis == s.analysis));
        let cells = [
            text(&s.analysis),
            text(&s.endpoint),
            s.method.clone(),
            text(&s.effect_scale),
            s.replicates.to_string(),
            number(s.power),
            number(s.power_mcse),
            number(s.type1_error),
            number(s.type1_mcse),
            number(s.true_effect),
            number(s.true_effect_mcse),
            number(s.mean_estimate),
            number(s.bias),
            number(s.bias_mcse),
            number(s.rmse),
            number(s.coverage),
            number(s.coverage_mcse),
            number(s.null_coverage),
            number(s.mean_std_error),
            number(s.empirical_sd),
            number(s.mean_analysed),
            number(s.mean_events),
            s.failed_alternative.to_string(),
            s.failed_null.to_string(),
            opt(c.power),
            opt(c.n_total),
            opt(c.n_total_procova_formula),
            opt(c.events),
            found
                .and_then(|r| r.n_total)
                .map_or_else(String::new, |n| n.to_string()),
            opt(found.and_then(|r| r.power)),
            found
                .and_then(|r| r.n_total_range.0)
                .map_or_else(String::new, |n| n.to_string()),
            found
                .and_then(|r| r.n_total_range.1)
                .map_or_else(String::new, |n| n.to_string()),
        ];
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    csv
}

/// `replicates.csv`: one row per replicate, scenario and analysis, sorted by replicate index,
/// then scenario (alternative, null), then analysis in design order. Rows of disjoint replicate
/// ranges concatenate (after the header) into the table of the whole range.
#[must_use]
pub fn replicates_csv(design: &Design, results: &[ReplicateResult]) -> String {
    let mut csv = String::from(
        "replicate,scenario,analysis,estimate,std_error,ci_lower,ci_upper,p_value,reject,\
         n_analysed,n_events,n_screened,n_control,n_treated,n_failed,error\n",
    );
    let mut sorted: Vec<&ReplicateResult> = results.iter().collect();
    sorted.sort_by_key(|r| r.replicate);
    for r in sorted {
        for (scenario, list) in [("alternative", &r.alternative), ("null", &r.null)] {
            for (analysis, effect) in design.analyses.iter().zip(list.iter()) {
                let _ = write!(csv, "{},{scenario},{},", r.replicate, text(&analysis.name));
                match effect {
                    Ok(e) => {
                        let _ = write!(
                            csv,
                            "{},{},{},{},{},{},{},{},",
                            number(e.estimate),
                            number(e.std_error),
                            number(e.ci_lower),
                            number(e.ci_upper),
                            number(e.p_value),
                            u8::from(e.p_value < design.alpha),
                            e.n,
                            e.n_events
                        );
                    }
                    Err(_) => csv.push_str(",,,,,0,,,"),
                }
                let _ = writeln!(
                    csv,
                    "{},{},{},{},{}",
                    r.n_screened,
                    r.n_control,
                    r.n_treated,
                    r.n_failed,
                    effect.as_ref().err().map_or_else(String::new, |m| text(m))
                );
            }
        }
    }
    csv
}

/// `sample_size.csv`: the simulated power of each searched analysis at every evaluated size.
#[must_use]
pub fn sample_size_csv(search: &SampleSizeSearch) -> String {
    let mut csv = String::from("n_total,n_control,n_treated,analysis,power,power_mcse\n");
    for e in &search.evaluations {
        for (r, p) in search.results.iter().zip(&e.power) {
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{}",
                e.n_total,
                e.n_control,
                e.n_treated,
                text(&r.analysis),
                number(*p),
                number((p * (1.0 - p) / search.replicates as f64).sqrt())
            );
        }
    }
    csv
}

#[derive(Serialize)]
struct ModelJson {
    id: String,
    version: String,
    sha256: String,
}

#[derive(Serialize)]
struct PrognosticJson {
    model: ModelJson,
    seed: u64,
    prior_draws: usize,
    simulated_draws: usize,
    condition_on: Vec<String>,
    historical_patients: u64,
    method: &'static str,
}

#[derive(Serialize)]
struct TruthJson {
    endpoint: String,
    description: String,
    true_effect: f64,
    mcse: f64,
    patients: usize,
}

#[derive(Serialize)]
struct SummaryJson<'a> {
    schema: &'static str,
    design: DesignJson,
    rng: &'static str,
    solver: twin_engine::solver::SolverOptions,
    screening: ScreeningJson,
    truth: Vec<TruthJson>,
    analyses: &'a [AnalysisSummary],
    closed_form: &'a [ClosedForm],
    sample_size: Option<&'a SampleSizeSearch>,
    replicate_failures: u64,
}

#[derive(Serialize)]
struct DesignJson {
    file: String,
    sha256: String,
    name: String,
    truth_model: ModelJson,
    prognostic: Option<PrognosticJson>,
    patients: u64,
    n_control: u64,
    n_treated: u64,
    arms: Vec<ArmJson>,
    block_size: u64,
    replicates: u64,
    alpha: f64,
    target_power: f64,
    seed: u64,
    time_unit: &'static str,
    visits: Vec<f64>,
    accrual: f64,
    study_end: f64,
    dropout_hazard: f64,
    truth_patients: u64,
    inclusion: Vec<String>,
}

#[derive(Serialize)]
struct ArmJson {
    name: String,
    regimen: String,
    allocation: f64,
    control: bool,
}

#[derive(Serialize)]
struct ScreeningJson {
    pilot_candidates: u64,
    pilot_eligible: u64,
    mean_screened_per_trial: f64,
}

/// `summary.json`: the design (with the SHA-256 of the design file and the models' content
/// hashes), the truth, every analysis's operating characteristics, the closed forms, the
/// sample-size search, the random-number generator and the solver options.
#[must_use]
pub fn summary_json(
    trial: &Trial<'_>,
    results: &[ReplicateResult],
    summaries: &[AnalysisSummary],
    closed: &[ClosedForm],
    search: Option<&SampleSizeSearch>,
) -> String {
    let design = trial.design();
    let spec = design.truth.spec();
    let (n_control, n_treated) = design.arm_sizes(design.patients);
    let json = SummaryJson {
        schema: "twinsim.trial.summary/1",
        design: DesignJson {
            file: design.source_name.clone(),
            sha256: design.source_sha256.clone(),
            name: design.name.clone(),
            truth_model: ModelJson {
                id: spec.id.to_owned(),
                version: spec.version.to_owned(),
                sha256: spec.content_hash(),
            },
            prognostic: design.prognostic.as_ref().map(|p| {
                let s = p.model.spec();
                PrognosticJson {
                    model: ModelJson {
                        id: s.id.to_owned(),
                        version: s.version.to_owned(),
                        sha256: p.sha256.clone(),
                    },
                    seed: p.seed,
                    prior_draws: p.prior_draws,
                    simulated_draws: p.simulated_draws,
                    condition_on: p
                        .condition_on
                        .iter()
                        .map(|&(t, _)| spec.outputs[t].name.to_owned())
                        .collect(),
                    historical_patients: p.historical_patients,
                    method: "E[outcome | covariates, observed baseline, control] by importance \
                             sampling over prior draws of eta, systematically resampled and \
                             simulated (twin_trial::prognostic)",
                }
            }),
            patients: design.patients,
            n_control,
            n_treated,
            arms: [(&design.control, true), (&design.treatment, false)]
                .iter()
                .map(|(a, control)| ArmJson {
                    name: a.name.clone(),
                    regimen: a.regimen_text.clone(),
                    allocation: a.allocation,
                    control: *control,
                })
                .collect(),
            block_size: design.block_size,
            replicates: design.replicates,
            alpha: design.alpha,
            target_power: design.target_power,
            seed: design.seed,
            time_unit: design.time_unit().symbol(),
            visits: design.visits.clone(),
            accrual: design.accrual,
            study_end: design.study_end,
            dropout_hazard: design.dropout_hazard,
            truth_patients: design.truth_patients,
            inclusion: design
                .cohort
                .criteria
                .iter()
                .map(crate::design::Criterion::describe)
                .collect(),
        },
        rng: twin_engine::random::RNG_ALGORITHM,
        solver: design.solver,
        screening: ScreeningJson {
            pilot_candidates: crate::cohort::PILOT_CANDIDATES,
            pilot_eligible: trial.pilot_eligible(),
            mean_screened_per_trial: results.iter().map(|r| r.n_screened as f64).sum::<f64>()
                / results.len() as f64,
        },
        truth: design
            .endpoints
            .iter()
            .zip(trial.truth())
            .map(|(e, t)| TruthJson {
                endpoint: e.name.clone(),
                description: e.description.clone(),
                true_effect: t.value,
                mcse: t.mcse,
                patients: t.n,
            })
            .collect(),
        analyses: summaries,
        closed_form: closed,
        sample_size: search,
        replicate_failures: results.iter().map(|r| r.n_failed).sum(),
    };
    serde_json::to_string_pretty(&json).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")) + "\n"
}
