//! The outcome tables of `twin simulate`: event probabilities, value outcomes and paired
//! arm-versus-arm differences, as CSV.

use std::fmt::Write as _;

use twin_engine::model::{Model, OutcomeKind};
use twin_engine::montecarlo::{CohortSummary, Crossing, ThresholdEvent};
use twin_engine::stats::wilson_95;
use twin_engine::summary::RunningSummary;

use crate::files::number;

/// Quantiles reported in every table and summary, with their column names.
pub const QUANTILES: [(&str, f64); 5] = [
    ("p05", 0.05),
    ("p25", 0.25),
    ("p50", 0.5),
    ("p75", 0.75),
    ("p95", 0.95),
];

/// A threshold event in words, e.g. `CP > 3 at any output time`.
pub fn event_definition(model: &dyn Model, def: &ThresholdEvent) -> String {
    let sign = if def.crossing == Crossing::Below {
        "<"
    } else {
        ">"
    };
    format!(
        "{} {sign} {} at any output time",
        model.spec().outputs[def.output].name,
        def.threshold
    )
}

fn quantile_cells(summary: &RunningSummary) -> String {
    QUANTILES
        .iter()
        .map(|(_, q)| number(summary.quantile(*q).unwrap_or(f64::NAN)))
        .collect::<Vec<_>>()
        .join(",")
}

/// `events.csv`: one row per arm and event (threshold events and time-to-event outcomes).
pub fn events_csv(model: &dyn Model, events: &[ThresholdEvent], summary: &CohortSummary) -> String {
    let spec = model.spec();
    let mut csv = String::from(
        "arm,event,definition,n,n_events,probability,ci95_low,ci95_high,median_time_to_event,km_median\n",
    );
    for arm in &summary.arms {
        for (def, tally) in events.iter().zip(&arm.events) {
            let [lo, hi] = wilson_95(tally.n_events, arm.n_ok);
            let definition = event_definition(model, def);
            let p = if arm.n_ok == 0 {
                f64::NAN
            } else {
                tally.n_events as f64 / arm.n_ok as f64
            };
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{},{},.",
                arm.name,
                def.name,
                definition,
                arm.n_ok,
                tally.n_events,
                number(p),
                number(lo),
                number(hi),
                number(tally.time_to_event.quantile(0.5).unwrap_or(f64::NAN))
            );
        }
        for (outcome, tally) in spec.outcomes.iter().zip(&arm.outcomes) {
            if outcome.kind != OutcomeKind::TimeToEvent {
                continue;
            }
            let [lo, hi] = wilson_95(tally.n_observed, tally.n);
            let p = if tally.n == 0 {
                f64::NAN
            } else {
                tally.n_observed as f64 / tally.n as f64
            };
            let _ = writeln!(
                csv,
                "{},{},\"{}\",{},{},{},{},{},{},{}",
                arm.name,
                outcome.name,
                outcome.description.replace('"', "'"),
                tally.n,
                tally.n_observed,
                number(p),
                number(lo),
                number(hi),
                number(tally.values.quantile(0.5).unwrap_or(f64::NAN)),
                tally
                    .km_median(&summary.output_times)
                    .map_or(".".to_owned(), number)
            );
        }
    }
    csv
}

/// `outcomes.csv`: value outcomes per arm (mean and quantiles over patients).
pub fn outcomes_csv(model: &dyn Model, summary: &CohortSummary) -> String {
    let spec = model.spec();
    let mut csv = String::from("arm,outcome,unit,n,n_observed,mean,p05,p25,p50,p75,p95\n");
    for arm in &summary.arms {
        for (outcome, tally) in spec.outcomes.iter().zip(&arm.outcomes) {
            if outcome.kind != OutcomeKind::Value {
                continue;
            }
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{}",
                arm.name,
                outcome.name,
                outcome.unit,
                tally.n,
                tally.n_observed,
                number(tally.values.mean()),
                quantile_cells(&tally.values)
            );
        }
    }
    csv
}

/// `differences.csv`: each arm against the first arm on the same virtual patients.
pub fn differences_csv(model: &dyn Model, summary: &CohortSummary) -> String {
    let spec = model.spec();
    let mut csv = String::from(
        "arm,reference,outcome,measure,n_pairs,mean_difference,p05,p25,p50,p75,p95,p_arm_greater,p_arm_less\n",
    );
    let Some(reference) = summary.arms.first() else {
        return csv;
    };
    for arm in summary.arms.iter().skip(1) {
        for (outcome, paired) in spec.outcomes.iter().zip(&arm.paired) {
            let measure = match outcome.kind {
                OutcomeKind::Value => "value difference",
                OutcomeKind::TimeToEvent => "event-indicator difference (risk difference)",
            };
            let share = |k: u64| {
                if paired.n_pairs == 0 {
                    f64::NAN
                } else {
                    k as f64 / paired.n_pairs as f64
                }
            };
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{},{}",
                arm.name,
                reference.name,
                outcome.name,
                measure,
                paired.n_pairs,
                number(paired.difference.mean()),
                quantile_cells(&paired.difference),
                number(share(paired.n_greater)),
                number(share(paired.n_less))
            );
        }
    }
    csv
}
