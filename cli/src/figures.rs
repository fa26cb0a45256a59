//! The figures of a simulation study: one fan chart per output (SVG and PNG) and one
//! Kaplan–Meier plot per time-to-event outcome (SVG).

use twin_engine::model::{OutcomeKind, TimeUnit};
use twin_engine::montecarlo::CohortSummary;

use crate::Failure;
use crate::files::OutputFiles;
use crate::simulate::Study;
use twin_engine::stats::wilson_95;
use twin_plots::{
    Band, FanChart, KmPlot, Observations, SurvivalCurve, fan_chart_png, fan_chart_svg, km_svg,
};

/// Display unit for a time axis: long horizons in hours read better in days, long ones in
/// minutes read better in hours. Returns the divisor from model units and the label.
fn display_time(unit: TimeUnit, horizon: f64) -> (f64, &'static str) {
    match unit {
        TimeUnit::Hour if horizon > 96.0 => (24.0, "time (days)"),
        TimeUnit::Minute if horizon > 600.0 => (60.0, "time (hours)"),
        TimeUnit::Minute => (1.0, "time (min)"),
        TimeUnit::Hour => (1.0, "time (h)"),
        TimeUnit::Day if horizon > 1100.0 => (365.25 / 12.0, "time (months)"),
        TimeUnit::Day => (1.0, "time (days)"),
    }
}

/// Adds the figures to `files` and returns their file names.
pub fn write_figures(
    study: &Study<'_>,
    summary: &CohortSummary,
    files: &mut OutputFiles,
) -> Result<Vec<String>, Failure> {
    let spec = study.model.spec();
    let horizon = summary.output_times.last().copied().unwrap_or(0.0);
    let (divisor, x_label) = display_time(spec.time_unit, horizon);
    let times: Vec<f64> = summary.output_times.iter().map(|t| t / divisor).collect();
    let mut names = Vec::new();
    for (o, output) in spec.outputs.iter().enumerate() {
        let bands: Vec<Band> = summary
            .arms
            .iter()
            .map(|arm| {
                let q = |p: f64| {
                    arm.outputs[o]
                        .iter()
                        .map(|acc| acc.quantile(p).unwrap_or(f64::NAN))
                        .collect()
                };
                Band {
                    arm: arm.name.clone(),
                    times: times.clone(),
                    p05: q(0.05),
                    p25: q(0.25),
                    p50: q(0.5),
                    p75: q(0.75),
                    p95: q(0.95),
                }
            })
            .collect();
        let observed = study
            .observations
            .iter()
            .find(|(output_idx, _, _)| *output_idx == o)
            .map(|(_, t, v)| Observations {
                times: t.iter().map(|x| x / divisor).collect(),
                values: v.clone(),
            });
        let title = format!(
            "{} v{} — {}: median, 50 % and 90 % bands",
            spec.id, spec.version, output.name
        );
        let y_label = format!("{} ({})", output.name, output.unit);
        let chart = FanChart {
            title: &title,
            x_label,
            y_label: &y_label,
            bands: &bands,
            observations: observed.as_ref(),
            log_y: false,
        };
        let svg = fan_chart_svg(&chart).map_err(Failure::run)?;
        let png = fan_chart_png(&chart).map_err(Failure::run)?;
        let stem = output.name.to_ascii_lowercase();
        for (name, contents) in [
            (format!("{stem}.svg"), svg.as_bytes()),
            (format!("{stem}.png"), &png[..]),
        ] {
            files.write(&name, contents).map_err(Failure::run)?;
            names.push(name);
        }
    }
    for (k, outcome) in spec.outcomes.iter().enumerate() {
        if outcome.kind != OutcomeKind::TimeToEvent {
            continue;
        }
        let curves: Vec<SurvivalCurve> = summary
            .arms
            .iter()
            .map(|arm| {
                let tally = &arm.outcomes[k];
                let s = tally.survival();
                let n_events: Vec<u64> = tally.cumulative_events.clone();
                let interval: Vec<[f64; 2]> = n_events
                    .iter()
                    .map(|&e| wilson_95(tally.n.saturating_sub(e), tally.n))
                    .collect();
                SurvivalCurve {
                    arm: arm.name.clone(),
                    times: times.clone(),
                    survival: s,
                    lower: Some(interval.iter().map(|i| i[0]).collect()),
                    upper: Some(interval.iter().map(|i| i[1]).collect()),
                }
            })
            .collect();
        let title = format!(
            "{} v{} — event-free probability: {}",
            spec.id, spec.version, outcome.name
        );
        let plot = KmPlot {
            title: &title,
            x_label,
            curves: &curves,
        };
        let svg = km_svg(&plot).map_err(Failure::run)?;
        let name = format!("km-{}.svg", outcome.name);
        files.write(&name, svg.as_bytes()).map_err(Failure::run)?;
        names.push(name);
    }
    Ok(names)
}
