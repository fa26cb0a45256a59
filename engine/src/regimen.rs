//! Regimen text: `100 mg q24h x7`, `180 mg iv over 1h q3w x6`, `50 mg at 12h; 100 mg oral q12h x4 at 24h`.
//!
//! Grammar (case-insensitive; segments separated by `;`):
//!
//! ```text
//! segment  := AMOUNT [UNIT] [ROUTE] ["over" DURATION] [INTERVAL ["x" COUNT]] ["at" TIME]
//! UNIT     := mg | g | ug | mcg | µg | ng | the unit of the dosed state (e.g. U, umol),
//!             optionally per m2 (× the patient's BSA) or per kg (× WT): mg/m2, mg/kg
//! ROUTE    := oral | po | iv | cmt=N          (default: the model's default dose compartment)
//! INTERVAL := qTIME | qd | bid | tid          (qd = q24h, bid = q12h, tid = q8h)
//! TIME     := NUMBER UNIT, UNIT one of min, h, d, w (e.g. 30min, 1h, 3w)
//! COUNT    := number of doses in total (default 1; "x7" means 7 doses)
//! ```
//!
//! `iv` doses go to the state named `CENTRAL`; `over` makes a zero-order infusion. Each segment
//! becomes one NONMEM dose record (ADDL = COUNT − 1, II = interval) in the model's time unit.

use crate::error::EngineError;
use crate::model::{ModelSpec, TimeUnit};
use crate::records::{DoseRate, Evid, MAX_DOSES_PER_RECORD, Record, SteadyState};

/// A parsed regimen: dose records in the model's time unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Regimen {
    /// The text it was parsed from (or the file name it was read from).
    pub label: String,
    /// Dose records, sorted by time.
    pub doses: Vec<Record>,
    /// Per dose, the model covariate that multiplies its amount (BSA for `mg/m2`, WT for
    /// `mg/kg`), applied per patient when the cohort is simulated.
    pub scale_by: Vec<Option<usize>>,
}

impl Regimen {
    /// Time just after the last dose's interval ends (or the last dose when it has no interval),
    /// a natural default horizon.
    #[must_use]
    pub fn natural_end(&self) -> f64 {
        self.doses
            .iter()
            .map(|d| {
                let span = d.ii * f64::from(d.addl);
                let tail = if d.ii > 0.0 { d.ii } else { 0.0 };
                d.time + span + tail
            })
            .fold(0.0, f64::max)
    }

    /// This patient's dose records: doses given per m² or per kg multiplied by the patient's
    /// covariate (model order), amount and infusion rate alike.
    #[must_use]
    pub fn doses_for(&self, covariates: &[f64]) -> Vec<Record> {
        self.doses
            .iter()
            .zip(&self.scale_by)
            .map(|(dose, scale)| {
                let mut dose = dose.clone();
                if let Some(c) = scale {
                    scale_dose(&mut dose, covariates[*c]);
                }
                dose
            })
            .collect()
    }

    /// Builds a regimen from the dose records of a dataset's subject (a NONMEM-style events file).
    ///
    /// # Errors
    /// [`EngineError::Invalid`] when the records hold no dose.
    pub fn from_records(label: &str, records: &[Record]) -> Result<Self, EngineError> {
        let doses: Vec<Record> = records
            .iter()
            .filter(|r| r.evid.is_dose() || r.evid.is_reset())
            .cloned()
            .collect();
        if doses.is_empty() {
            return Err(EngineError::invalid(
                format!("regimen {label}"),
                "the events file holds no dose record (EVID 1 or 4)",
            ));
        }
        Ok(Self {
            label: label.to_owned(),
            scale_by: vec![None; doses.len()],
            doses,
        })
    }

    /// Parses regimen text for `model`.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] naming the offending word and what was expected; also when the
    /// segments give more than [`MAX_DOSES_PER_RECORD`] doses in all, or a time, amount or rate
    /// is too large to be a finite number.
    pub fn parse(text: &str, model: &ModelSpec) -> Result<Self, EngineError> {
        let mut doses = Vec::new();
        let mut total_doses = 0_u64;
        for segment in text.split(';') {
            let segment = segment.trim();
            if segment.is_empty() {
                continue;
            }
            if segment.eq_ignore_ascii_case("none") || segment.eq_ignore_ascii_case("control") {
                continue;
            }
            let dose = parse_segment(segment, model)
                .map_err(|message| EngineError::invalid(format!("regimen '{text}'"), message))?;
            total_doses += u64::from(dose.0.addl) + 1;
            if total_doses > u64::from(MAX_DOSES_PER_RECORD) {
                return Err(EngineError::invalid(
                    format!("regimen '{text}'"),
                    format!(
                        "the segments give more than the limit of {MAX_DOSES_PER_RECORD} doses in \
                         all; expected fewer doses"
                    ),
                ));
            }
            doses.push(dose);
        }
        doses.sort_by(|a, b| a.0.time.total_cmp(&b.0.time));
        let (doses, scale_by): (Vec<Record>, Vec<Option<usize>>) = doses.into_iter().unzip();
        Ok(Self {
            label: text.to_owned(),
            scale_by,
            doses,
        })
    }
}

fn parse_number(word: &str, what: &str) -> Result<f64, String> {
    word.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("expected {what}, got '{word}'"))
}

/// Parses `12h`, `30min`, `3w`, `1.5d` into model time units.
fn parse_time(word: &str, unit: TimeUnit) -> Result<f64, String> {
    let split = word
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("'{word}' needs a time unit (min, h, d or w), e.g. 24h"))?;
    let (number, suffix) = word.split_at(split);
    let value = parse_number(number, "a number before the time unit")?;
    let hours = match suffix.to_ascii_lowercase().as_str() {
        "min" | "m" => value / 60.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => value,
        "d" | "day" | "days" => value * 24.0,
        "w" | "wk" | "week" | "weeks" => value * 168.0,
        other => {
            return Err(format!(
                "unknown time unit '{other}' in '{word}' (use min, h, d or w)"
            ));
        }
    };
    if value < 0.0 {
        return Err(format!("time '{word}' must not be negative"));
    }
    let time = hours / unit.hours();
    if !time.is_finite() {
        return Err(format!("time '{word}' is too large"));
    }
    Ok(time)
}

fn parse_segment(segment: &str, model: &ModelSpec) -> Result<(Record, Option<usize>), String> {
    let words: Vec<&str> = segment.split_whitespace().collect();
    let mut i = 0;
    let first = words.first().ok_or("empty segment")?;
    // The amount may carry its unit: "100mg".
    let split = first
        .find(|c: char| c.is_ascii_alphabetic() || c == 'µ')
        .unwrap_or(first.len());
    let (amount_text, attached_unit) = first.split_at(split);
    let mut amount = parse_number(amount_text, "a dose amount such as 100")?;
    if amount <= 0.0 {
        return Err(format!("dose amount must be positive, got {amount}"));
    }
    i += 1;
    let mut cmt = model.default_dose_compartment;
    let unit_word = if attached_unit.is_empty() {
        words
            .get(i)
            .copied()
            .filter(|w| is_amount_unit(w, &model.states[cmt].unit.to_ascii_lowercase()))
    } else {
        Some(attached_unit)
    };
    if unit_word.is_some() && attached_unit.is_empty() {
        i += 1;
    }
    let mut duration = None;
    let mut interval = 0.0;
    let mut count = 1u32;
    let mut at = 0.0;
    while i < words.len() {
        let w = words[i].to_ascii_lowercase();
        match w.as_str() {
            "oral" | "po" => cmt = model.default_dose_compartment,
            "iv" => {
                cmt = model
                    .states
                    .iter()
                    .position(|s| s.name.eq_ignore_ascii_case("CENTRAL"))
                    .ok_or("route 'iv' needs a state named CENTRAL; use cmt=N")?;
            }
            "over" => {
                i += 1;
                let d = parse_time(
                    words
                        .get(i)
                        .ok_or("'over' needs a duration, e.g. over 1h")?,
                    model.time_unit,
                )?;
                if d <= 0.0 {
                    return Err("infusion duration must be positive".into());
                }
                duration = Some(d);
            }
            "at" => {
                i += 1;
                at = parse_time(
                    words.get(i).ok_or("'at' needs a time, e.g. at 12h")?,
                    model.time_unit,
                )?;
            }
            "qd" => interval = 24.0 / model.time_unit.hours(),
            "bid" => interval = 12.0 / model.time_unit.hours(),
            "tid" => interval = 8.0 / model.time_unit.hours(),
            _ if w.starts_with("cmt=") => {
                let n: usize = w[4..].parse().map_err(|_| {
                    format!("expected cmt=N with N a compartment number, got '{w}'")
                })?;
                if n == 0 || n > model.states.len() {
                    return Err(format!(
                        "compartment {n} does not exist: model {} has 1 to {}",
                        model.id,
                        model.states.len()
                    ));
                }
                cmt = n - 1;
            }
            _ if w.starts_with('q') && w.len() > 1 => {
                interval = parse_time(&w[1..], model.time_unit)?;
                if interval <= 0.0 {
                    return Err("dosing interval must be positive".into());
                }
            }
            _ if w.starts_with('x') && w.len() > 1 => {
                let digits = &w[1..];
                let unsigned = digits.strip_prefix('+').unwrap_or(digits);
                let is_number =
                    !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit());
                if !is_number {
                    return Err(format!("expected a dose count like x7, got '{w}'"));
                }
                // Digits that do not fit a u32 are a count far above the limit.
                count = digits
                    .parse()
                    .ok()
                    .filter(|&n| n <= MAX_DOSES_PER_RECORD)
                    .ok_or_else(|| {
                        format!(
                            "dose count {unsigned} is above the limit of {MAX_DOSES_PER_RECORD} \
                             doses"
                        )
                    })?;
                if count == 0 {
                    return Err("dose count must be at least 1".into());
                }
            }
            _ => {
                return Err(format!(
                    "unexpected '{}': expected a route (oral, iv, cmt=N), 'over DURATION', 'qINTERVAL', 'xCOUNT' or 'at TIME'",
                    words[i]
                ));
            }
        }
        i += 1;
    }
    let mut scale_by = None;
    if let Some(unit) = unit_word {
        let (mass_unit, per) = match unit.split_once('/') {
            Some((mass, per)) => (mass, Some(per.to_ascii_lowercase())),
            None => (unit, None),
        };
        if let Some(per) = per {
            let covariate = match per.as_str() {
                "m2" | "m²" => "BSA",
                "kg" => "WT",
                other => {
                    return Err(format!(
                        "unknown dose normalisation '/{other}' (use mg/m2 or mg/kg)"
                    ));
                }
            };
            let idx = model
                .covariates
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(covariate))
                .ok_or_else(|| {
                    format!(
                        "a dose in {unit} needs the covariate {covariate}, which model {} lacks",
                        model.id
                    )
                })?;
            scale_by = Some(idx);
        }
        amount *= amount_factor(mass_unit, model.states[cmt].unit)?;
    }
    if !(amount.is_finite() && amount > 0.0) {
        return Err(format!(
            "dose amount {amount_text} {} is not a positive finite number in {}",
            unit_word.unwrap_or(""),
            model.states[cmt].unit
        ));
    }
    if count > 1 && interval <= 0.0 {
        return Err(format!("{count} doses need an interval such as q24h"));
    }
    // The end of the last dose's interval (`Regimen::natural_end`) must be a number too.
    let end = if count > 1 {
        at + interval * f64::from(count)
    } else {
        at
    };
    if !end.is_finite() {
        return Err(format!(
            "{count} doses every {interval} {} from {at} end at a time too large to be a \
             number; expected a shorter interval or fewer doses",
            model.time_unit.symbol()
        ));
    }
    let rate = match duration {
        Some(d) => {
            let rate = amount / d;
            if !(rate.is_finite() && rate > 0.0) {
                return Err(format!(
                    "the infusion rate (amount / duration = {amount} / {d} {}) is not a positive \
                     finite number; expected a dose and an infusion of usual size",
                    model.time_unit.symbol()
                ));
            }
            DoseRate::Rate(rate)
        }
        None => DoseRate::Bolus,
    };
    let record = Record {
        time: at,
        evid: Evid::Dose,
        amt: amount,
        cmt: Some(cmt),
        rate,
        ii: if count > 1 { interval } else { 0.0 },
        addl: count - 1,
        ss: SteadyState::No,
        dv: None,
        covariates: Vec::new(),
        line: 0,
    };
    Ok((record, scale_by))
}

fn is_amount_unit(word: &str, state_unit: &str) -> bool {
    let w = word.to_ascii_lowercase();
    let mass = w.split_once('/').map_or(w.as_str(), |(m, _)| m);
    matches!(mass, "mg" | "g" | "ug" | "mcg" | "µg" | "ng") || mass == state_unit
}

/// Factor converting an amount in `unit` into the dosed state's unit.
fn amount_factor(unit: &str, state_unit: &str) -> Result<f64, String> {
    let mass_mg = |u: &str| match u {
        "mg" => Some(1.0),
        "g" => Some(1000.0),
        "ug" | "mcg" | "µg" => Some(1e-3),
        "ng" => Some(1e-6),
        _ => None,
    };
    let u = unit.to_ascii_lowercase();
    let s = state_unit.to_ascii_lowercase();
    if u == s {
        return Ok(1.0);
    }
    match (mass_mg(&u), mass_mg(&s)) {
        (Some(a), Some(b)) => Ok(a / b),
        _ => Err(format!(
            "cannot convert a dose in '{unit}' into the dosed compartment's unit '{state_unit}'"
        )),
    }
}

/// Multiplies a dose's amount, and its infusion rate when one is given, by `factor` (the
/// infusion's duration is unchanged up to rounding).
pub fn scale_dose(record: &mut Record, factor: f64) {
    record.amt *= factor;
    if let DoseRate::Rate(rate) = record.rate {
        record.rate = DoseRate::Rate(rate * factor);
    }
}

/// Parses a duration such as `24h`, `30min`, `3w` or `1.5d` into model time units.
///
/// # Errors
/// [`EngineError::Invalid`] naming the text and the accepted units.
pub fn parse_duration(text: &str, unit: TimeUnit) -> Result<f64, EngineError> {
    parse_time(text.trim(), unit).map_err(|m| EngineError::invalid(format!("duration '{text}'"), m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DoseModifiers, OutputSpec, StateSpec};
    use crate::population::VariabilityModel;

    fn spec(time_unit: TimeUnit) -> ModelSpec {
        ModelSpec {
            id: "test",
            version: "1",
            description: "",
            time_unit,
            states: vec![
                StateSpec {
                    name: "DEPOT",
                    unit: "mg",
                },
                StateSpec {
                    name: "CENTRAL",
                    unit: "mg",
                },
            ],
            parameters: vec![],
            covariates: vec![],
            outputs: vec![OutputSpec {
                name: "CP",
                unit: "mg/L",
            }],
            dosing: vec![DoseModifiers::default(), DoseModifiers::default()],
            default_dose_compartment: 0,
            variability: VariabilityModel::default(),
            outcomes: vec![],
            therapies: vec![],
            evidence: "test",
            documentation: "test",
        }
    }

    #[test]
    fn daily_oral_course_becomes_one_record_with_addl() {
        let r = Regimen::parse("100 mg q24h x7", &spec(TimeUnit::Hour)).unwrap();
        assert_eq!(r.doses.len(), 1);
        let d = &r.doses[0];
        assert_eq!((d.cmt, d.addl), (Some(0), 6));
        assert!((d.ii - 24.0).abs() < 1e-12 && (d.amt - 100.0).abs() < 1e-12);
        assert!((r.natural_end() - 168.0).abs() < 1e-12);
    }

    #[test]
    fn iv_infusion_in_weeks_converts_units() {
        let r = Regimen::parse("0.18 g iv over 1h q3w x6", &spec(TimeUnit::Day)).unwrap();
        let d = &r.doses[0];
        assert_eq!(d.cmt, Some(1));
        assert!((d.amt - 180.0).abs() < 1e-9);
        assert!((d.ii - 21.0).abs() < 1e-12);
        // 180 mg over 1/24 day = 4320 mg/day.
        assert!(matches!(d.rate, DoseRate::Rate(r) if (r - 4320.0).abs() < 1e-6));
    }

    #[test]
    fn segments_are_sorted_and_attached_units_work() {
        let r = Regimen::parse(
            "100mg oral q12h x4 at 24h; 50 ug iv at 12h",
            &spec(TimeUnit::Hour),
        )
        .unwrap();
        assert_eq!(r.doses.len(), 2);
        assert!((r.doses[0].time - 12.0).abs() < 1e-12 && (r.doses[0].amt - 0.05).abs() < 1e-12);
        assert!((r.doses[1].time - 24.0).abs() < 1e-12);
    }

    #[test]
    fn bad_regimens_say_what_was_expected() {
        let s = spec(TimeUnit::Hour);
        for (text, needle) in [
            ("abc", "dose amount"),
            ("-5 mg", "positive"),
            ("100 mg q24h x0", "dose count"),
            ("100 mg x3", "interval"),
            ("100 mg q24parsecs", "unknown time unit"),
            ("100 mg every day", "unexpected 'every'"),
            ("100 mg cmt=9", "compartment 9"),
            ("100 mmol", "unexpected 'mmol'"),
            ("75 mg/m2 iv", "needs the covariate BSA"),
            ("75 mg/lb iv", "unknown dose normalisation"),
        ] {
            let err = Regimen::parse(text, &s).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
