//! `report.html`: the report for a human reader, self-contained (inline CSS and SVG, no script, no
//! external reference), verdict first, then the sections of docs/domain.md §6 in order.
//!
//! The page is rendered from a [`Report`] alone, so it can be regenerated from `report.json`.
//! Figures: PIT histograms, interval coverage against nominal coverage, a prediction-corrected
//! VPC per version, the per-patient CRPS differences with the TOST interval and margins, the
//! per-patient shifts of the predictive median, and PSI per covariate.

use std::fmt::Write as _;

use crate::analysis::number;
use crate::metrics::STANDARD_INTERVAL_LEVELS;
use crate::plan::{Rule, metric_info, parse_rule};
use crate::report::{CANDIDATE, MetricValue, PREVIOUS, Report, ReportBody};
use twin_plots::{
    CoveragePlot, CoverageSeries, DifferencePlot, DriftPlot, PitPlot, PitSeries, PlotError,
    VpcPlot, coverage_svg, drift_svg, paired_differences_svg, pit_histogram_svg, vpc_svg,
};

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    let mut res = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => res.push_str("&amp;"),
            '<' => res.push_str("&lt;"),
            '>' => res.push_str("&gt;"),
            '"' => res.push_str("&quot;"),
            '\'' => res.push_str("&#39;"),
            _ => res.push(c),
        }
    }
    res
}

fn opt_number(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), number)
}

fn interval(ci: Option<[f64; 2]>) -> String {
    ci.map_or(String::new(), |[lo, hi]| {
        format!(
            " <span class=\"ci\">[{}, {}]</span>",
            number(lo),
            number(hi)
        )
    })
}

fn metric_cell(value: Option<&MetricValue>) -> String {
    match value {
        None => "<td>–</td>".to_owned(),
        Some(m) => {
            let note = m.note.as_ref().map_or(String::new(), |n| {
                format!(" <span class=\"note\">({})</span>", esc(n))
            });
            format!("<td>{}{}{note}</td>", opt_number(m.value), interval(m.ci95))
        }
    }
}

/// An SVG figure, or a note saying why it could not be drawn.
fn figure(svg: Result<String, PlotError>, caption: &str) -> String {
    match svg {
        Ok(svg) => format!(
            "<figure role=\"img\" aria-label=\"{}\">{svg}<figcaption>{}</figcaption></figure>\n",
            esc(caption),
            esc(caption)
        ),
        Err(e) => format!(
            "<p class=\"note\">Figure not drawn ({}): {}</p>\n",
            esc(caption),
            esc(&e.to_string())
        ),
    }
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:2em auto;max-width:1000px;\
color:#222;line-height:1.45;padding:0 1em}h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;\
margin-top:2em}table{border-collapse:collapse;margin:0.8em 0;font-size:0.92em}th,td{border:1px \
solid #ccc;padding:0.25em 0.6em;text-align:left;vertical-align:top}th{background:#f3f3f3}\
.verdict{font-size:1.4em;padding:0.8em 1em;border-radius:6px;margin:1em 0}\
.PASS{background:#e3f4ea;border:2px solid #009E73}.FAIL{background:#fbe7dd;border:2px solid #D55E00}\
.pass{color:#00734f;font-weight:bold}.fail,.not{color:#b34700;font-weight:bold}.ci{color:#555}\
.note{color:#666;font-size:0.9em}figure{margin:1em 0}figure svg{max-width:100%;height:auto}\
figcaption{font-size:0.9em;color:#444}code{background:#f4f4f4;padding:0 0.2em}\
.signoff td{height:2.2em;min-width:14em}";

/// Renders the report as a self-contained HTML page.
#[must_use]
pub fn render(report: &Report) -> String {
    let body = &report.body;
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>",
        esc(&body.identity.title),
        esc(&body.identity.title)
    );
    verdict_section(&mut h, body);
    identity_section(&mut h, report);
    question_section(&mut h, body);
    models_section(&mut h, body);
    data_section(&mut h, body);
    plan_section(&mut h, body);
    verification_section(&mut h, body);
    results_section(&mut h, body);
    comparison_section(&mut h, body);
    drift_section(&mut h, body);
    change_log_section(&mut h, body);
    reproducibility_section(&mut h, body);
    limitations_section(&mut h, body);
    estimand_section(&mut h, body);
    h.push_str("</body>\n</html>\n");
    h
}

fn verdict_section(h: &mut String, body: &ReportBody) {
    let verdict = &body.verdict;
    let _ = writeln!(
        h,
        "<section id=\"verdict\"><div class=\"verdict {status}\"><strong>Verdict: {status}</strong> \
         — {}</div>",
        esc(&verdict.summary),
        status = esc(&verdict.status)
    );
    if !verdict.failed_criteria.is_empty() {
        h.push_str("<p>Failed or not evaluable:</p><ul>");
        for name in &verdict.failed_criteria {
            let _ = write!(h, "<li><strong>{}</strong></li>", esc(name));
        }
        h.push_str("</ul>\n");
    }
    criteria_table(h, body);
    h.push_str("</section>\n");
}

fn criteria_table(h: &mut String, body: &ReportBody) {
    h.push_str(
        "<table class=\"criteria\"><tr><th>criterion</th><th>subgroup</th><th>estimate \
         [interval]</th><th>decided on</th><th>status</th><th>explanation</th></tr>\n",
    );
    for c in &body.criteria {
        let class = c.status.split_whitespace().next().unwrap_or("");
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}{}<br><span class=\"note\">{}</span></td><td>{}</td>\
             <td class=\"{class}\">{}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&c.subgroup),
            opt_number(c.estimate),
            interval(c.interval),
            esc(&c.interval_kind),
            esc(&c.decided_on),
            esc(&c.status.to_uppercase()),
            esc(&c.explanation)
        );
    }
    h.push_str("</table>\n");
}

fn identity_section(h: &mut String, report: &Report) {
    let body = &report.body;
    let supersedes = body.identity.supersedes.as_ref().map_or(
        "none (first report of this line)".to_owned(),
        |s| {
            format!(
                "<code>{}</code> ({}, verdict {}), SHA-256 <code>{}</code>",
                esc(&s.path),
                esc(&s.report_id),
                esc(&s.verdict),
                esc(&s.sha256)
            )
        },
    );
    let _ = writeln!(
        h,
        "<section id=\"identity\"><h2>1. Identity</h2><table>\
         <tr><th>report id</th><td>{}</td></tr>\
         <tr><th>schema</th><td><code>{}</code></td></tr>\
         <tr><th>supersedes</th><td>{supersedes}</td></tr>\
         <tr><th>SHA-256 of the report body</th><td><code>{}</code></td></tr></table></section>",
        esc(&body.identity.report_id),
        esc(&report.schema),
        esc(&report.body_sha256)
    );
}

fn question_section(h: &mut String, body: &ReportBody) {
    let q = &body.question;
    let _ = write!(
        h,
        "<section id=\"question\"><h2>2. Question of interest and context of use</h2>\
         <p><strong>Question.</strong> {}</p><p><strong>Context of use.</strong> {}</p>",
        esc(&q.question_of_interest),
        esc(&q.context_of_use)
    );
    if !q.out_of_scope.is_empty() {
        h.push_str("<p><strong>Out of scope.</strong></p><ul>");
        for item in &q.out_of_scope {
            let _ = write!(h, "<li>{}</li>", esc(item));
        }
        h.push_str("</ul>");
    }
    let r = &body.risk;
    let _ = writeln!(
        h,
        "</section>\n<section id=\"risk\"><h2>3. Model risk</h2><table>\
         <tr><th>model influence</th><td>{}</td></tr><tr><th>decision consequence</th><td>{}</td></tr>\
         <tr><th>risk level</th><td>{} of 5</td></tr></table><p>{}</p><p class=\"note\">{}</p></section>",
        esc(&r.model_influence),
        esc(&r.decision_consequence),
        r.level,
        esc(&r.rationale),
        esc(&r.method)
    );
}

fn models_section(h: &mut String, body: &ReportBody) {
    h.push_str(
        "<section id=\"models\"><h2>4. Model identity</h2><table><tr><th>role</th><th>reference</th>\
         <th>model</th><th>evidence</th><th>content SHA-256</th><th>structure SHA-256</th>\
         <th>parameter-set SHA-256</th></tr>\n",
    );
    for m in &body.models {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}@{}: {}</td><td>{}</td><td><code>{}</code></td>\
             <td><code>{}</code></td><td><code>{}</code></td></tr>",
            esc(&m.role),
            esc(&m.reference),
            esc(&m.id),
            esc(&m.version),
            esc(&m.description),
            esc(&m.evidence),
            esc(&m.content_sha256),
            esc(&m.structure_sha256),
            esc(&m.parameter_set_sha256)
        );
    }
    let p = &body.program;
    let _ = writeln!(
        h,
        "</table><p>Program: {} {} (twin-eval {}), commit {}.</p></section>",
        esc(&p.name),
        esc(&p.version),
        esc(&p.eval_version),
        p.commit
            .as_deref()
            .map_or("not recorded at build time".to_owned(), esc)
    );
}

fn data_section(h: &mut String, body: &ReportBody) {
    h.push_str(
        "<section id=\"data\"><h2>5. Data provenance</h2><table><tr><th>cohort</th><th>file</th>\
         <th>SHA-256</th><th>subjects</th><th>records</th><th>observations</th><th>provenance</th></tr>\n",
    );
    for (label, file) in [
        ("evaluation", Some(&body.data.evaluation)),
        ("training", body.data.training.as_ref()),
    ] {
        if let Some(f) = file {
            let _ = writeln!(
                h,
                "<tr><td>{label}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.path),
                esc(&f.sha256),
                f.n_subjects,
                f.n_records,
                f.n_observations,
                esc(&f.provenance)
            );
        }
    }
    let _ = writeln!(
        h,
        "</table><p><strong>Independence.</strong> {}</p></section>",
        esc(&body.data.independence)
    );
}

fn plan_section(h: &mut String, body: &ReportBody) {
    let plan = &body.plan;
    let content = &plan.content;
    let _ = write!(
        h,
        "<section id=\"plan\"><h2>6. Validation plan</h2><p>Plan <code>{}</code> ({}), fixed on \
         {} by its authors{}; SHA-256 <code>{}</code>. It names the metrics, subgroups, \
         acceptance criteria and margins below before any result.</p>",
        esc(&plan.path),
        esc(&content.id),
        esc(&plan.fixed_on),
        if content.authors.is_empty() {
            String::new()
        } else {
            format!(" ({})", esc(&content.authors.join(", ")))
        },
        esc(&plan.sha256)
    );
    let pr = &body.protocol;
    let _ = write!(
        h,
        "<p><strong>Forecast protocol.</strong> {}. {} posterior-predictive draws per patient \
         ({} importance proposals), seed {}. Held-out observations are forecast under the doses \
         recorded after the origin; covariates recorded after the origin are not used.</p>",
        esc(&pr.conditioning),
        pr.draws,
        body.verification.importance_proposals,
        body.reproducibility.seed
    );
    h.push_str("<table><tr><th>acceptance criterion</th><th>rule</th><th>subgroup</th><th>rationale</th></tr>");
    for c in &content.criteria {
        let _ = write!(
            h,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(c.name.as_deref().unwrap_or(&c.rule)),
            esc(&c.rule),
            esc(&c.subgroup),
            esc(&c.rationale)
        );
    }
    h.push_str("</table>");
    if !content.subgroups.is_empty() {
        h.push_str("<p>Subgroups (baseline covariates): ");
        let names: Vec<String> = content
            .subgroups
            .iter()
            .map(|s| format!("{} ({})", esc(&s.name), esc(&s.condition())))
            .collect();
        h.push_str(&names.join("; "));
        h.push_str(".</p>");
    }
    h.push_str("</section>\n");
}

fn verification_section(h: &mut String, body: &ReportBody) {
    let v = &body.verification;
    let _ = write!(
        h,
        "<section id=\"verification\"><h2>7. Verification</h2><p>ODE solver relative tolerance \
         {}, absolute tolerance {}; MAP from η = 0 and {} design starts; importance resampling \
         from {} proposals per patient. Checks in the test suite:</p><ul>",
        number(v.solver_rtol),
        number(v.solver_atol),
        v.map_design_starts,
        v.importance_proposals
    );
    for check in &v.checks {
        let _ = write!(h, "<li>{}</li>", esc(check));
    }
    h.push_str("</ul></section>\n");
}

fn results_section(h: &mut String, body: &ReportBody) {
    let pr = &body.protocol;
    let _ = write!(
        h,
        "<section id=\"results\"><h2>8. Results</h2><p>{} of {} subjects forecast by every \
         version, {} held-out observations of {} ({}) scored{}. Values with patient-level \
         bootstrap 95 % CIs.</p>",
        pr.n_analysed,
        pr.n_subjects,
        pr.n_held_out,
        esc(&pr.output),
        esc(&pr.output_unit),
        if pr.n_censored_held_out > 0 {
            format!(
                "; {} below the limit of quantification not scored",
                pr.n_censored_held_out
            )
        } else {
            String::new()
        }
    );
    if !pr.excluded.is_empty() {
        let _ = write!(
            h,
            "<p class=\"note\">Excluded by the protocol: {}.</p>",
            esc(&pr
                .excluded
                .iter()
                .map(|e| format!("{} ({})", e.id, e.reason))
                .collect::<Vec<_>>()
                .join("; "))
        );
    }
    if !pr.failed.is_empty() {
        let _ = write!(
            h,
            "<p><strong>Forecast failures:</strong> {}.</p>",
            esc(&pr
                .failed
                .iter()
                .map(|e| format!(
                    "{} ({}: {})",
                    e.id,
                    e.version.as_deref().unwrap_or(""),
                    e.reason
                ))
                .collect::<Vec<_>>()
                .join("; "))
        );
    }
    for (role, diag) in &pr.posterior {
        let _ = write!(
            h,
            "<p class=\"note\">Posterior ({role}): {} patient(s) with Pareto k̂ above its \
             threshold; effective sample size median {}.</p>",
            diag.n_unreliable,
            opt_number(diag.effective_sample_size.map(|s| s.p50))
        );
    }
    let roles: Vec<&str> = [CANDIDATE, PREVIOUS]
        .into_iter()
        .filter(|r| body.results.contains_key(*r))
        .collect();
    let Some(candidate) = body.results.get(CANDIDATE) else {
        h.push_str("</section>\n");
        return;
    };
    // The whole cohort first, then the subgroups in name order.
    let groups = candidate
        .by_subgroup
        .iter()
        .filter(|(name, _)| name.as_str() == "all")
        .chain(
            candidate
                .by_subgroup
                .iter()
                .filter(|(name, _)| name.as_str() != "all"),
        );
    for (subgroup, group) in groups {
        let _ = write!(
            h,
            "<h3>{} ({}): {} patients, {} observations</h3><table><tr><th>metric</th>",
            esc(subgroup),
            esc(&group.condition),
            group.n_patients,
            group.n_observations
        );
        for role in &roles {
            let _ = write!(h, "<th>{role}</th>");
        }
        h.push_str("<th>definition</th></tr>\n");
        for metric in group.metrics.keys() {
            let _ = write!(h, "<tr><td><code>{}</code></td>", esc(metric));
            for role in &roles {
                let value = body
                    .results
                    .get(*role)
                    .and_then(|r| r.by_subgroup.get(subgroup))
                    .and_then(|g| g.metrics.get(metric));
                h.push_str(&metric_cell(value));
            }
            let info = metric_info(metric);
            let unit = info.map_or("", |m| m.unit);
            let _ = writeln!(
                h,
                "<td>{}{}</td></tr>",
                esc(info.map_or("", |m| m.description)),
                if unit == "output" {
                    format!(" ({})", esc(&pr.output_unit))
                } else {
                    String::new()
                }
            );
        }
        h.push_str("</table>\n");
    }
    let pit: Vec<PitSeries> = roles
        .iter()
        .map(|role| PitSeries {
            name: (*role).to_owned(),
            counts: body.results[*role].pit_histogram.clone(),
        })
        .collect();
    h.push_str(&figure(
        pit_histogram_svg(&PitPlot {
            title: "PIT histogram of the held-out observations",
            series: &pit,
        }),
        "PIT histogram: a flat histogram at density 1 means calibrated forecasts; a U shape, \
         too narrow intervals; a hump, too wide ones.",
    ));
    let coverage: Vec<CoverageSeries> = roles
        .iter()
        .map(|role| {
            let metrics = &body.results[*role].by_subgroup["all"].metrics;
            let get = |level: f64| metrics.get(&format!("coverage{}", (level * 100.0).round()));
            CoverageSeries {
                name: (*role).to_owned(),
                levels: STANDARD_INTERVAL_LEVELS.to_vec(),
                coverage: STANDARD_INTERVAL_LEVELS
                    .iter()
                    .map(|&l| get(l).and_then(|m| m.value).unwrap_or(f64::NAN))
                    .collect(),
                lower: STANDARD_INTERVAL_LEVELS
                    .iter()
                    .map(|&l| get(l).and_then(|m| m.ci95).map_or(f64::NAN, |c| c[0]))
                    .collect(),
                upper: STANDARD_INTERVAL_LEVELS
                    .iter()
                    .map(|&l| get(l).and_then(|m| m.ci95).map_or(f64::NAN, |c| c[1]))
                    .collect(),
            }
        })
        .collect();
    h.push_str(&figure(
        coverage_svg(&CoveragePlot {
            title: "Coverage of the central prediction intervals",
            series: &coverage,
        }),
        "Observed against nominal coverage of the 50, 80, 90 and 95 % intervals, with \
         bootstrap 95 % CIs.",
    ));
    for role in &roles {
        let results = &body.results[*role];
        if let Some(note) = &results.vpc_note {
            let _ = write!(
                h,
                "<p class=\"note\">No pcVPC for {role}: {}</p>",
                esc(note)
            );
            continue;
        }
        let bins = &results.vpc;
        let title = format!("Prediction-corrected VPC of the forecasts ({role})");
        let x_label = format!("Time ({})", pr.time_unit);
        let y_label = format!("Prediction-corrected {} ({})", pr.output, pr.output_unit);
        h.push_str(&figure(
            vpc_svg(&VpcPlot {
                title: &title,
                x_label: &x_label,
                y_label: &y_label,
                times: &bins.iter().map(|b| b.time_median).collect::<Vec<_>>(),
                observed: &bins.iter().map(|b| b.observed).collect::<Vec<_>>(),
                simulated_lower: &bins.iter().map(|b| b.simulated_lower).collect::<Vec<_>>(),
                simulated_median: &bins.iter().map(|b| b.simulated_median).collect::<Vec<_>>(),
                simulated_upper: &bins.iter().map(|b| b.simulated_upper).collect::<Vec<_>>(),
                log_y: false,
            }),
            "Observed 5th, 50th and 95th percentiles of the prediction-corrected held-out \
             observations per time bin, against the 95 % interval of the same percentiles over \
             the posterior-predictive datasets.",
        ));
    }
    h.push_str("</section>\n");
}

fn comparison_section(h: &mut String, body: &ReportBody) {
    h.push_str("<section id=\"comparison\"><h2>9. Comparison with the previous version</h2>");
    let Some(c) = &body.comparison else {
        h.push_str("<p>No previous version was named in the plan.</p></section>\n");
        return;
    };
    h.push_str(
        "<p>Paired per-patient differences, candidate − previous, on the same patients with the \
         same random streams.</p><table><tr><th>subgroup</th><th>difference</th><th>patients</th>\
         <th>mean [bootstrap 95 % CI]</th><th>90 % t interval (TOST)</th></tr>\n",
    );
    let groups = c
        .paired
        .iter()
        .filter(|(name, _)| name.as_str() == "all")
        .chain(c.paired.iter().filter(|(name, _)| name.as_str() != "all"));
    for (subgroup, metrics) in groups {
        for (metric, d) in metrics {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}{}</td><td>[{}, {}]</td></tr>",
                esc(subgroup),
                esc(metric),
                d.n_patients,
                number(d.mean),
                interval(d.ci95),
                number(d.ci90_t[0]),
                number(d.ci90_t[1])
            );
        }
    }
    h.push_str("</table>\n");
    let margin = body
        .plan
        .content
        .criteria
        .iter()
        .filter_map(|c| parse_rule(&c.rule).ok())
        .find_map(|r| match r {
            Rule::Equivalence { metric, margin } | Rule::NonInferiority { metric, margin }
                if metric == "crps_diff" =>
            {
                Some(margin)
            }
            _ => None,
        });
    let crps = c.paired.get("all").and_then(|m| m.get("crps_diff"));
    let unit = &body.protocol.output_unit;
    let x_label = format!("Per-patient mean CRPS, candidate − previous ({unit})");
    h.push_str(&figure(
        paired_differences_svg(&DifferencePlot {
            title: "Paired CRPS differences per patient",
            x_label: &x_label,
            differences: &c
                .per_patient
                .iter()
                .map(|p| p.crps_diff)
                .collect::<Vec<_>>(),
            interval: crps.map(|d| (d.ci90_t, "90 % t interval of the mean")),
            margin,
        }),
        "Per-patient differences of the mean CRPS (negative: the candidate forecasts better), \
         the 90 % t interval of their mean and, when the plan has one, the equivalence margin.",
    ));
    let shift_row = |name: &str, s: &crate::compare::DistributionSummary| {
        format!(
            "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            number(s.mean),
            number(s.min),
            number(s.p05),
            number(s.p50),
            number(s.p95),
            number(s.max)
        )
    };
    let _ = write!(
        h,
        "<h3>Prediction drift</h3><p>Per-patient shifts ({unit}), candidate − previous:</p>\
         <table><tr><th>shift</th><th>mean</th><th>min</th><th>5th</th><th>median</th><th>95th</th>\
         <th>max</th></tr>{}{}</table>",
        shift_row("predictive median", &c.median_shift),
        shift_row("90 % interval width", &c.width_shift)
    );
    h.push_str(&figure(
        paired_differences_svg(&DifferencePlot {
            title: "Shift of the predictive median per patient",
            x_label: &format!("Mean shift of the predictive median ({unit})"),
            differences: &c
                .per_patient
                .iter()
                .map(|p| p.median_shift)
                .collect::<Vec<_>>(),
            interval: None,
            margin: None,
        }),
        "How far each patient's forecast median moved between the versions.",
    ));
    let d = &c.prediction_drift;
    let _ = write!(
        h,
        "<p>Pooled predictive distributions (previous = reference): PSI {} ({}), KS D {} \
         (p {}, descriptive), Wasserstein-1 / SD {}; per held-out observation, Wasserstein-1 / \
         SD median {} (max {}).</p>",
        number(d.psi),
        esc(&d.psi_level),
        number(d.ks_d),
        number(d.ks_p),
        number(d.wasserstein_normalised),
        opt_number(d.per_observation_wasserstein.map(|s| s.p50)),
        opt_number(d.per_observation_wasserstein.map(|s| s.max))
    );
    if let Some(dec) = &c.decision {
        let _ = write!(
            h,
            "<h3>Therapy decisions</h3><p>Therapies in order of preference: {}; a patient gets \
             the first whose risk ({}) is at most {}, otherwise the least risky.</p><table><tr>\
             <th>version</th>",
            esc(&dec.therapies.join(", ")),
            esc(&dec.risk),
            number(dec.max_risk)
        );
        for t in &dec.therapies {
            let _ = write!(h, "<th>{}</th>", esc(t));
        }
        h.push_str("</tr>");
        for (role, counts) in &dec.choices {
            let _ = write!(h, "<tr><td>{}</td>", esc(role));
            for n in counts {
                let _ = write!(h, "<td>{n}</td>");
            }
            h.push_str("</tr>");
        }
        let _ = write!(
            h,
            "</table><p><strong>Decision-flip rate</strong>: {} of {} patients, {}{}.</p>",
            dec.n_flips,
            dec.n_patients,
            opt_number(dec.flip_rate.value),
            interval(dec.flip_rate.ci95)
        );
        if !dec.flipped.is_empty() {
            let _ = write!(
                h,
                "<p class=\"note\">Flipped: {}.</p>",
                esc(&dec
                    .flipped
                    .iter()
                    .map(|[id, a, b]| format!("{id} {a} → {b}"))
                    .collect::<Vec<_>>()
                    .join("; "))
            );
        }
    }
    h.push_str("</section>\n");
}

fn drift_section(h: &mut String, body: &ReportBody) {
    h.push_str(
        "<section id=\"drift\"><h2>10. Input drift (evaluation against training cohort)</h2>",
    );
    let Some(d) = &body.cohort_drift else {
        h.push_str(
            "<p>No training cohort was named in the plan; drift is not assessed.</p></section>\n",
        );
        return;
    };
    h.push_str(
        "<table><tr><th>covariate</th><th>n (training / evaluation)</th><th>PSI</th><th>KS D (p)</th>\
         <th>Wasserstein / SD</th><th>MMD² (p)</th><th>drifted</th></tr>\n",
    );
    for (name, c) in &d.covariates {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{} / {}</td><td>{} {}</td><td>{} ({})</td><td>{}</td><td>{} ({})</td>\
             <td>{}{}</td></tr>",
            esc(name),
            c.n_training,
            c.n_evaluation,
            opt_number(c.psi),
            esc(c.psi_level.as_deref().unwrap_or("")),
            opt_number(c.ks_d),
            opt_number(c.ks_p),
            opt_number(c.wasserstein_normalised),
            opt_number(c.mmd2),
            opt_number(c.mmd_p),
            if c.drifted { "yes" } else { "no" },
            c.note.as_ref().map_or(String::new(), |n| format!(
                " <span class=\"note\">({})</span>",
                esc(n)
            ))
        );
    }
    let _ = write!(
        h,
        "</table><p>Joint MMD² {} (p {}). {} covariate(s) drifted; cohort drift: {}.</p>\
         <p class=\"note\">{}</p>",
        opt_number(d.joint_mmd2),
        opt_number(d.joint_mmd_p),
        d.n_drifted,
        if d.dataset_drift { "yes" } else { "no" },
        esc(&d.rules)
    );
    let names: Vec<String> = d.covariates.keys().cloned().collect();
    let values: Vec<f64> = d
        .covariates
        .values()
        .map(|c| c.psi.unwrap_or(f64::NAN))
        .collect();
    let plan = &body.plan.content.drift;
    h.push_str(&figure(
        drift_svg(&DriftPlot {
            title: "Population stability index per covariate",
            y_label: "PSI",
            names: &names,
            values: &values,
            moderate: plan.psi_moderate,
            major: plan.psi_major,
        }),
        "PSI of each baseline covariate on the training cohort's decile bins, with the plan's \
         thresholds.",
    ));
    h.push_str("</section>\n");
}

fn change_log_section(h: &mut String, body: &ReportBody) {
    let log = &body.change_log;
    let _ = write!(
        h,
        "<section id=\"changes\"><h2>11. Change log</h2><p><strong>Description of the \
         modifications.</strong> {}</p>",
        if log.description_of_modifications.is_empty() {
            "(none given)".to_owned()
        } else {
            esc(&log.description_of_modifications)
        }
    );
    if body.identity.supersedes.is_some() {
        h.push_str("<p>Since the superseded report:</p><ul>");
        for line in &log.since_superseded {
            let _ = write!(h, "<li>{}</li>", esc(line));
        }
        if log.since_superseded.is_empty() {
            h.push_str("<li>no differences</li>");
        }
        h.push_str("</ul>");
    }
    h.push_str("</section>\n");
}

fn reproducibility_section(h: &mut String, body: &ReportBody) {
    let r = &body.reproducibility;
    let _ = writeln!(
        h,
        "<section id=\"reproducibility\"><h2>12. Reproducibility</h2><table>\
         <tr><th>master seed</th><td>{}</td></tr><tr><th>random number generator</th><td>{}</td></tr>\
         <tr><th>streams</th><td>{}</td></tr><tr><th>bootstrap</th><td>{}</td></tr>\
         <tr><th>threads and shards</th><td>{}</td></tr><tr><th>command</th><td><code>{}</code></td></tr>\
         </table></section>",
        r.seed,
        esc(&r.rng),
        esc(&r.streams),
        esc(&r.bootstrap),
        esc(&r.parallelism),
        esc(&r.command)
    );
}

fn limitations_section(h: &mut String, body: &ReportBody) {
    h.push_str("<section id=\"limitations\"><h2>13. Limitations, verdict and sign-off</h2><ul>");
    for item in &body.limitations {
        let _ = write!(h, "<li>{}</li>", esc(item));
    }
    let _ = writeln!(
        h,
        "</ul><p><strong>Adequacy verdict against the plan: {}.</strong> {}</p>\
         <table class=\"signoff\"><tr><th>reviewer</th><td></td></tr><tr><th>decision</th><td></td></tr>\
         <tr><th>date and signature</th><td></td></tr></table></section>",
        esc(&body.verdict.status),
        esc(&body.verdict.summary)
    );
}

fn estimand_section(h: &mut String, body: &ReportBody) {
    h.push_str("<section id=\"estimand\"><h2>14. Estimand</h2>");
    match &body.estimand {
        None => h.push_str(
            "<p>The plan makes no treatment-effect claim, so no estimand is defined. The therapy \
             decisions of section 9 compare forecasts, not treatment effects.</p>",
        ),
        Some(e) => {
            let _ = write!(
                h,
                "<table><tr><th>population</th><td>{}</td></tr><tr><th>endpoint</th><td>{}</td></tr>\
                 <tr><th>treatment</th><td>{}</td></tr><tr><th>intercurrent events</th><td>{}</td></tr>\
                 <tr><th>summary measure</th><td>{}</td></tr></table>",
                esc(&e.population),
                esc(&e.endpoint),
                esc(&e.treatment),
                esc(&e.intercurrent_events),
                esc(&e.summary_measure)
            );
        }
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
