//! CDISC-style ADaM tables of one replicate trial (alternative scenario), as CSV text: subject
//! level `ADSL`, time to event `ADTTE`, continuous and binary endpoints `ADEFF` (basic data
//! structure), and the per-patient prognostic scores with the locked model's hash.
//!
//! These follow the ADaM variable names and conventions a statistician's code expects; they are
//! not a validated CDISC submission. Dates are ISO 8601 (`YYYY-MM-DD`) counted from the design's
//! `start_date` (an assumed 2026-01-05 when absent); a patient's randomisation date is the start
//! date plus the whole days of the entry time. `AVAL` of `ADTTE` is in days (model time converted),
//! with `ADT = STARTDT + floor(AVAL)`. `CNSR` is 0 for an event, 1 for administrative censoring
//! at the study end (or the last visit), 2 for dropout.

use std::fmt::Write as _;

use crate::design::{Design, EndpointKind, FIRST_ISO_DAY, LAST_ISO_DAY, iso_date_from_days};
use crate::endpoints::{CNSR_DROPOUT, CNSR_EVENT};
use crate::replicates::ReplicateData;
use crate::report::{number, text};

fn usubjid(design: &Design, data: &ReplicateData, k: usize) -> String {
    format!("{}-R{}-{:05}", design.name, data.replicate, k + 1)
}

fn days(design: &Design, t: f64) -> f64 {
    t * design.time_unit().hours() / 24.0
}

/// The ISO date `day_offset` days after the study start; empty beyond the four-digit years
/// (ISO 8601's basic range), where no date is written.
fn date(design: &Design, day_offset: f64) -> String {
    let day = day_offset
        .is_finite()
        .then(|| design.start_day.checked_add(day_offset.floor() as i64))
        .flatten()
        .filter(|day| (FIRST_ISO_DAY..=LAST_ISO_DAY).contains(day));
    day.map_or_else(String::new, iso_date_from_days)
}

/// `SEX` as `F`/`M` when the model's `SEX` covariate says which code is which in its unit
/// (e.g. "1 female, 2 male"), else `U`.
fn sex_code(unit: &str, value: f64) -> &'static str {
    let unit = unit.to_ascii_lowercase();
    let code_of = |word: &str| -> Option<f64> {
        unit.split(',').find_map(|part| {
            let mut words = part.split_whitespace();
            let code: f64 = words.next()?.parse().ok()?;
            (words.next()? == word).then_some(code)
        })
    };
    let is = |word| code_of(word).is_some_and(|c| (c - value).abs() < 1e-9);
    if is("female") {
        "F"
    } else if is("male") {
        "M"
    } else {
        "U"
    }
}

/// `ADSL`: one row per randomised subject — `STUDYID, USUBJID, SUBJID, REPLICATE, ARM, TRT01P,
/// TRT01PN` (1 control, 2 treatment), `AGE, AGEU, SEX`, the flags `RANDFL, ITTFL, SAFFL` (all `Y`),
/// `COMPLFL` (`Y` unless the subject dropped out before the last visit or the study end),
/// `DCSREAS`, `RANDDT, TRTSDT, EOSDT`, `SIMFAIL` (`Y` if the simulation failed), then every model
/// covariate as `COV_<name>` (exact values, e.g. age in years with decimals) and every output
/// with a residual-error model (an observable) as observed at baseline, `<output>BL`.
#[must_use]
pub fn adsl(design: &Design, data: &ReplicateData) -> String {
    let spec = design.truth.spec();
    let mut csv = String::from(
        "STUDYID,USUBJID,SUBJID,REPLICATE,ARM,TRT01P,TRT01PN,AGE,AGEU,SEX,RANDFL,ITTFL,SAFFL,\
         COMPLFL,DCSREAS,RANDDT,TRTSDT,EOSDT,SIMFAIL",
    );
    for c in &spec.covariates {
        let _ = write!(csv, ",COV_{}", c.name);
    }
    // Outputs measured with error (the observable ones), observed at the baseline visit.
    let observed: Vec<usize> = (0..spec.outputs.len())
        .filter(|&o| {
            !matches!(
                spec.variability.residual.get(o),
                None | Some(twin_engine::population::ResidualError::None)
            )
        })
        .collect();
    for &o in &observed {
        let _ = write!(csv, ",{}BL", spec.outputs[o].name);
    }
    csv.push('\n');
    let age = spec
        .covariates
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case("AGE"));
    let sex = spec
        .covariates
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case("SEX"));
    let last_visit = design.visits.last().copied().unwrap_or(0.0);
    for (k, p) in data.patients.iter().enumerate() {
        let arm = if p.treated {
            &design.treatment
        } else {
            &design.control
        };
        let end_of_follow_up = (design.study_end - p.entry).min(last_visit);
        let completed = p.dropout >= end_of_follow_up;
        let end = p.entry + p.dropout.min(end_of_follow_up);
        let entry_days = days(design, p.entry);
        let cells = [
            text(&design.name),
            usubjid(design, data, k),
            format!("{:05}", k + 1),
            data.replicate.to_string(),
            text(&arm.name),
            text(&arm.name),
            if p.treated { "2" } else { "1" }.to_owned(),
            age.map_or_else(String::new, |a| {
                format!("{}", p.candidate.covariates[a].floor())
            }),
            if age.is_some() { "YEARS" } else { "" }.to_owned(),
            sex.map_or("U", |s| {
                sex_code(spec.covariates[s].unit, p.candidate.covariates[s])
            })
            .to_owned(),
            "Y".to_owned(),
            "Y".to_owned(),
            "Y".to_owned(),
            if completed { "Y" } else { "N" }.to_owned(),
            if completed { "" } else { "LOST TO FOLLOW-UP" }.to_owned(),
            date(design, entry_days),
            date(design, entry_days),
            date(design, days(design, end)),
            if p.failure.is_some() { "Y" } else { "N" }.to_owned(),
        ];
        csv.push_str(&cells.join(","));
        for v in &p.candidate.covariates {
            let _ = write!(csv, ",{}", number(*v));
        }
        for &o in &observed {
            let _ = write!(csv, ",{}", number(p.candidate.baseline[o]));
        }
        csv.push('\n');
    }
    csv
}

/// `ADTTE`: one row per subject and time-to-event endpoint — `STUDYID, USUBJID, TRT01P, TRT01PN,
/// PARAMCD, PARAM, AVAL` (days), `AVALU, CNSR, EVNTDESC, CNSDTDSC, STARTDT, ADT`. Subjects whose
/// simulation failed are left out.
#[must_use]
pub fn adtte(design: &Design, data: &ReplicateData) -> String {
    let mut csv = String::from(
        "STUDYID,USUBJID,TRT01P,TRT01PN,PARAMCD,PARAM,AVAL,AVALU,CNSR,EVNTDESC,CNSDTDSC,STARTDT,ADT\n",
    );
    for (e, endpoint) in design.endpoints.iter().enumerate() {
        if !endpoint.is_time_to_event() {
            continue;
        }
        for (k, p) in data.patients.iter().enumerate() {
            let Some(v) = p.alternative.get(e) else {
                continue;
            };
            let arm = if p.treated {
                &design.treatment
            } else {
                &design.control
            };
            let aval = days(design, v.value);
            let start = days(design, p.entry);
            let (event, censoring) = match v.cnsr {
                CNSR_EVENT => (endpoint.name.clone(), String::new()),
                CNSR_DROPOUT => (String::new(), "LOST TO FOLLOW-UP".to_owned()),
                _ => (String::new(), "END OF STUDY".to_owned()),
            };
            let cells = [
                text(&design.name),
                usubjid(design, data, k),
                text(&arm.name),
                if p.treated { "2" } else { "1" }.to_owned(),
                text(&endpoint.name),
                text(&endpoint.description),
                number(aval),
                "DAYS".to_owned(),
                v.cnsr.to_string(),
                text(&event),
                censoring,
                date(design, start),
                date(design, start + aval),
            ];
            csv.push_str(&cells.join(","));
            csv.push('\n');
        }
    }
    csv
}

/// `ADEFF`: one row per subject and continuous or binary endpoint — `STUDYID, USUBJID, TRT01P,
/// TRT01PN, PARAMCD, PARAM, AVISIT, ADY` (study day of the visit), `AVAL` (observed value; 0/1 for
/// binary endpoints), `BASE, CHG` (output endpoints), `ANL01FL` (`Y` when analysed, i.e. not
/// missing), `PROGSCORE` (PROCOVA score, empty if none).
#[must_use]
pub fn adeff(design: &Design, data: &ReplicateData) -> String {
    let mut csv = String::from(
        "STUDYID,USUBJID,TRT01P,TRT01PN,PARAMCD,PARAM,AVISIT,ADY,AVAL,BASE,CHG,ANL01FL,PROGSCORE\n",
    );
    for (e, endpoint) in design.endpoints.iter().enumerate() {
        if endpoint.is_time_to_event() {
            continue;
        }
        for (k, p) in data.patients.iter().enumerate() {
            let Some(v) = p.alternative.get(e) else {
                continue;
            };
            let arm = if p.treated {
                &design.treatment
            } else {
                &design.control
            };
            let (visit_time, output) = match endpoint.kind {
                EndpointKind::Continuous { output, visit, .. }
                | EndpointKind::BinaryThreshold { output, visit, .. } => {
                    (design.visits[visit], Some(output))
                }
                EndpointKind::BinaryEvent { by, .. } => (by, None),
                EndpointKind::TimeToEvent { .. } => continue,
            };
            let day = days(design, visit_time);
            let (aval, base, chg) = match (&endpoint.kind, output) {
                (EndpointKind::Continuous { .. }, Some(o)) => {
                    let base = p.candidate.baseline[o];
                    (v.raw, base, v.raw - base)
                }
                (EndpointKind::BinaryThreshold { .. }, Some(o)) => {
                    let base = p.candidate.baseline[o];
                    (v.value, base, v.raw - base)
                }
                _ => (v.value, f64::NAN, f64::NAN),
            };
            let cells = [
                text(&design.name),
                usubjid(design, data, k),
                text(&arm.name),
                if p.treated { "2" } else { "1" }.to_owned(),
                text(&endpoint.name),
                text(&endpoint.description),
                format!("DAY {}", number(day.round())),
                number(day.floor() + 1.0),
                number(aval),
                number(base),
                number(chg),
                if v.value.is_nan() { "" } else { "Y" }.to_owned(),
                number(p.scores.get(e).copied().unwrap_or(f64::NAN)),
            ];
            csv.push_str(&cells.join(","));
            csv.push('\n');
        }
    }
    csv
}

/// `scores.csv`: per subject and scored endpoint, the prognostic score with the locked model
/// (`id@version`), its content hash (SHA-256) and the score's seed and draw counts — everything
/// needed to recompute it. `None` without a prognostic model.
#[must_use]
pub fn scores(design: &Design, data: &ReplicateData) -> Option<String> {
    let prognostic = design.prognostic.as_ref()?;
    let mut csv = String::from(
        "STUDYID,USUBJID,TRT01P,PARAMCD,PROGSCORE,PROGMODEL,PROGSHA256,PROGSEED,PRIORDRAWS,SIMDRAWS\n",
    );
    for (e, endpoint) in design.endpoints.iter().enumerate() {
        if prognostic.endpoint_outputs[e].is_none() {
            continue;
        }
        for (k, p) in data.patients.iter().enumerate() {
            let arm = if p.treated {
                &design.treatment
            } else {
                &design.control
            };
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{},{},{}",
                text(&design.name),
                usubjid(design, data, k),
                text(&arm.name),
                text(&endpoint.name),
                number(p.scores[e]),
                prognostic.label,
                prognostic.sha256,
                prognostic.seed,
                prognostic.prior_draws,
                prognostic.simulated_draws
            );
        }
    }
    Some(csv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sex_codes_follow_the_covariate_unit() {
        assert_eq!(sex_code("1 female, 2 male", 1.0), "F");
        assert_eq!(sex_code("1 female, 2 male", 2.0), "M");
        assert_eq!(sex_code("0 male, 1 female", 0.0), "M");
        assert_eq!(sex_code("code", 1.0), "U");
    }
}
