//! What changed between two evaluation reports (`twin eval diff A B`): verdicts, criteria,
//! metric values with their CIs, model hashes, data, plan and program.
//!
//! [`changes`] lists the differences between two report bodies, one line each, in a fixed order
//! (identity, verdict, criteria, models, data, plan, program, metrics, comparison, drift); it is
//! also the change log of a report against the one it supersedes. [`diff_reports`] adds the
//! integrity of both reports and whether the newer links to the older.

use std::collections::BTreeSet;

use crate::analysis::number;
use crate::report::{MetricValue, Report, ReportBody};

/// Bitwise equality, so that any change of a reported number shows.
fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits()
}

fn same_opt(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(a, b),
        (None, None) => true,
        _ => false,
    }
}

fn same_interval(a: Option<[f64; 2]>, b: Option<[f64; 2]>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(a[0], b[0]) && same(a[1], b[1]),
        (None, None) => true,
        _ => false,
    }
}

fn show(value: Option<f64>, interval: Option<[f64; 2]>) -> String {
    let value = value.map_or("n/a".to_owned(), number);
    match interval {
        Some([lo, hi]) => format!("{value} [{}, {}]", number(lo), number(hi)),
        None => value,
    }
}

fn show_metric(m: Option<&MetricValue>) -> String {
    m.map_or("absent".to_owned(), |m| show(m.value, m.ci95))
}

fn text_change(res: &mut Vec<String>, what: &str, old: &str, new: &str) {
    if old != new {
        res.push(format!("{what}: {old} -> {new}"));
    }
}

/// The differences between an older and a newer report body, one line each.
#[must_use]
pub fn changes(old: &ReportBody, new: &ReportBody) -> Vec<String> {
    let mut res = Vec::new();
    text_change(
        &mut res,
        "report id",
        &old.identity.report_id,
        &new.identity.report_id,
    );
    if old.verdict.status == new.verdict.status {
        if old.verdict.failed_criteria != new.verdict.failed_criteria {
            res.push(format!(
                "verdict {}; failed criteria: [{}] -> [{}]",
                new.verdict.status,
                old.verdict.failed_criteria.join("; "),
                new.verdict.failed_criteria.join("; ")
            ));
        }
    } else {
        res.push(format!(
            "verdict: {} -> {}{}",
            old.verdict.status,
            new.verdict.status,
            if new.verdict.failed_criteria.is_empty() {
                String::new()
            } else {
                format!(" (failed: {})", new.verdict.failed_criteria.join("; "))
            }
        ));
    }

    // Criteria, by name.
    for criterion in &new.criteria {
        match old.criteria.iter().find(|c| c.name == criterion.name) {
            None => res.push(format!(
                "criterion added: {} ({}: {})",
                criterion.name, criterion.status, criterion.explanation
            )),
            Some(before) => {
                if before.status != criterion.status {
                    res.push(format!(
                        "criterion {}: {} -> {} ({})",
                        criterion.name, before.status, criterion.status, criterion.explanation
                    ));
                } else if !same_opt(before.decisive_value, criterion.decisive_value)
                    || !same_opt(before.estimate, criterion.estimate)
                {
                    res.push(format!(
                        "criterion {} ({}): estimate {} -> {}; {} {} -> {}",
                        criterion.name,
                        criterion.status,
                        show(before.estimate, before.interval),
                        show(criterion.estimate, criterion.interval),
                        criterion.decided_on,
                        before.decisive_value.map_or("n/a".to_owned(), number),
                        criterion.decisive_value.map_or("n/a".to_owned(), number),
                    ));
                }
            }
        }
    }
    for criterion in &old.criteria {
        if !new.criteria.iter().any(|c| c.name == criterion.name) {
            res.push(format!("criterion removed: {}", criterion.name));
        }
    }

    // Models, by role.
    let roles: BTreeSet<&str> = old
        .models
        .iter()
        .chain(&new.models)
        .map(|m| m.role.as_str())
        .collect();
    for role in roles {
        let before = old.models.iter().find(|m| m.role == role);
        let after = new.models.iter().find(|m| m.role == role);
        match (before, after) {
            (Some(b), Some(a)) => {
                let label = |m: &crate::report::ModelIdentity| format!("{}@{}", m.id, m.version);
                text_change(&mut res, &format!("{role} model"), &label(b), &label(a));
                if b.content_sha256 != a.content_sha256 {
                    res.push(format!(
                        "{role} model content hash: {} -> {}{}",
                        &b.content_sha256[..12.min(b.content_sha256.len())],
                        &a.content_sha256[..12.min(a.content_sha256.len())],
                        match (
                            b.structure_sha256 == a.structure_sha256,
                            b.parameter_set_sha256 == a.parameter_set_sha256
                        ) {
                            (true, false) => " (same structure, new parameter set)",
                            (false, true) => " (new structure, same parameter set)",
                            (false, false) => " (new structure and parameter set)",
                            (true, true) => " (same structure and parameters; documentation or therapies changed)",
                        }
                    ));
                }
            }
            (None, Some(a)) => res.push(format!("{role} model added: {}@{}", a.id, a.version)),
            (Some(b), None) => res.push(format!("{role} model removed: {}@{}", b.id, b.version)),
            (None, None) => {}
        }
    }

    // Data, plan, program.
    text_change(
        &mut res,
        "evaluation cohort",
        &format!(
            "{} ({})",
            old.data.evaluation.path,
            short(&old.data.evaluation.sha256)
        ),
        &format!(
            "{} ({})",
            new.data.evaluation.path,
            short(&new.data.evaluation.sha256)
        ),
    );
    let training = |b: &ReportBody| {
        b.data.training.as_ref().map_or("none".to_owned(), |t| {
            format!("{} ({})", t.path, short(&t.sha256))
        })
    };
    text_change(&mut res, "training cohort", &training(old), &training(new));
    text_change(
        &mut res,
        "plan",
        &format!(
            "{} ({}, fixed {})",
            old.plan.path,
            short(&old.plan.sha256),
            old.plan.fixed_on
        ),
        &format!(
            "{} ({}, fixed {})",
            new.plan.path,
            short(&new.plan.sha256),
            new.plan.fixed_on
        ),
    );
    let program = |b: &ReportBody| {
        format!(
            "{} {}{}",
            b.program.name,
            b.program.version,
            b.program
                .commit
                .as_ref()
                .map_or(String::new(), |c| format!(" ({c})"))
        )
    };
    text_change(&mut res, "program", &program(old), &program(new));

    // Metric values, by role, subgroup and metric.
    for (role, results) in &new.results {
        for (subgroup, group) in &results.by_subgroup {
            for (metric, value) in &group.metrics {
                let before = old
                    .results
                    .get(role)
                    .and_then(|r| r.by_subgroup.get(subgroup))
                    .and_then(|g| g.metrics.get(metric));
                let changed = before.is_none_or(|b| {
                    !same_opt(b.value, value.value) || !same_interval(b.ci95, value.ci95)
                });
                if changed {
                    res.push(format!(
                        "{metric} ({role}, {subgroup}): {} -> {}",
                        show_metric(before),
                        show_metric(Some(value))
                    ));
                }
            }
        }
    }

    // Comparison with the previous version.
    match (&old.comparison, &new.comparison) {
        (Some(b), Some(a)) => {
            for (subgroup, metrics) in &a.paired {
                for (metric, diff) in metrics {
                    let before = b.paired.get(subgroup).and_then(|m| m.get(metric));
                    if before.is_none_or(|d| !same(d.mean, diff.mean)) {
                        res.push(format!(
                            "paired {metric} ({subgroup}): {} -> {}",
                            before.map_or("absent".to_owned(), |d| show(Some(d.mean), d.ci95)),
                            show(Some(diff.mean), diff.ci95)
                        ));
                    }
                }
            }
            match (&b.decision, &a.decision) {
                (Some(db), Some(da)) if !same_opt(db.flip_rate.value, da.flip_rate.value) => {
                    res.push(format!(
                        "decision-flip rate: {} -> {}",
                        show_metric(Some(&db.flip_rate)),
                        show_metric(Some(&da.flip_rate))
                    ));
                }
                _ => {}
            }
            if !same(b.prediction_drift.psi, a.prediction_drift.psi) {
                res.push(format!(
                    "prediction-drift PSI between versions: {} ({}) -> {} ({})",
                    number(b.prediction_drift.psi),
                    b.prediction_drift.psi_level,
                    number(a.prediction_drift.psi),
                    a.prediction_drift.psi_level
                ));
            }
        }
        (None, Some(_)) => res.push("comparison with a previous version added".to_owned()),
        (Some(_), None) => res.push("comparison with a previous version removed".to_owned()),
        (None, None) => {}
    }

    // Cohort drift.
    match (&old.cohort_drift, &new.cohort_drift) {
        (Some(b), Some(a)) => {
            if b.dataset_drift != a.dataset_drift || b.n_drifted != a.n_drifted {
                res.push(format!(
                    "cohort drift: {} drifted covariate(s) -> {}",
                    b.n_drifted, a.n_drifted
                ));
            }
        }
        (None, Some(a)) => res.push(format!(
            "cohort drift assessed: {} drifted covariate(s)",
            a.n_drifted
        )),
        (Some(_), None) => res.push("cohort drift no longer assessed".to_owned()),
        (None, None) => {}
    }
    res
}

fn short(hash: &str) -> &str {
    &hash[..12.min(hash.len())]
}

/// `twin eval diff A B`: integrity of both reports, whether B links to A, then [`changes`].
///
/// `a_sha256` is the SHA-256 of A's file bytes (B's `supersedes` link names it).
#[must_use]
pub fn diff_reports(a: &Report, a_sha256: &str, b: &Report) -> Vec<String> {
    let mut res = Vec::new();
    for (label, report) in [("A", a), ("B", b)] {
        if !report.verify() {
            res.push(format!(
                "WARNING: report {label} was altered: its body no longer matches body_sha256"
            ));
        }
    }
    match &b.body.identity.supersedes {
        Some(link) if link.sha256 == a_sha256 => res.push(format!(
            "B supersedes A ({} links to this file by SHA-256)",
            b.body.identity.report_id
        )),
        Some(link) => res.push(format!(
            "B supersedes another report ({}, SHA-256 {}), not this A",
            link.report_id,
            short(&link.sha256)
        )),
        None => res.push("B does not name a superseded report".to_owned()),
    }
    let changes = changes(&a.body, &b.body);
    if changes.is_empty() {
        res.push(
            "no differences in verdict, criteria, models, data, plan, program or metrics"
                .to_owned(),
        );
    }
    res.extend(changes);
    res
}
