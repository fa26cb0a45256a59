//! Therapies as protocols: a regimen plus rules over the simulated state, evaluated at every
//! planned dose ("delay the next cycle by a week while ANC < 1.5 ×10⁹/L", "reduce the dose by
//! 25 % after a grade-4 nadir", "add a correction bolus when glucose > 250 mg/dL").
//!
//! Rules are data (JSON), validated against the model on load:
//!
//! ```json
//! {
//!   "regimen": "100 mg/m2 iv over 1h q3w x6",
//!   "rules": [
//!     { "name": "delay while ANC < 1.5",
//!       "if":   { "output": "ANC", "below": 1.5 },
//!       "then": { "delay": "7d" }, "max_times": 3 },
//!     { "name": "reduce 25 % after grade-4 nadir",
//!       "if":   { "output": "ANC", "measure": "nadir_since_last_dose", "below": 0.5 },
//!       "then": { "reduce_by": 0.25 }, "max_times": 1 }
//!   ]
//! }
//! ```
//!
//! Semantics, at each planned dose time `d` (doses of the regimen, expanded one by one):
//! 1. The patient is simulated up to `d` (pre-dose state).
//! 2. Rules are evaluated in file order. A `delay` rule whose condition holds postpones this and
//!    every later dose by its duration, and is evaluated again at the new time (so it acts
//!    "while" the condition holds), at most `max_times` times per patient. `reduce_by` multiplies
//!    this and every later dose by `1 − fraction` (cumulatively). `skip` drops this dose. `add`
//!    gives an extra dose (one regimen segment, e.g. `2 U cmt=11`) just before this one.
//! 3. The (possibly reduced) dose is given.
//!
//! Conditions compare an output with `below` (strictly less) or `above` (strictly greater), using
//! its `current` value at `d` (default) or its `nadir_since_last_dose` / `peak_since_last_dose`
//! over the output grid since the previous dose and at `d`.

use serde::Deserialize;

use crate::error::EngineError;
use crate::model::ModelSpec;
use crate::records::{Record, SteadyState};
use crate::regimen::{Regimen, parse_duration, scale_dose};

/// Which value of an output a condition looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// The value at the decision time.
    #[default]
    Current,
    /// The smallest value since the previous dose (output grid and decision time).
    NadirSinceLastDose,
    /// The largest value since the previous dose.
    PeakSinceLastDose,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConditionText {
    output: String,
    #[serde(default)]
    measure: Measure,
    below: Option<f64>,
    above: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionText {
    delay: Option<String>,
    reduce_by: Option<f64>,
    skip: Option<bool>,
    add: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    name: Option<String>,
    #[serde(rename = "if")]
    condition: ConditionText,
    #[serde(rename = "then")]
    action: ActionText,
    max_times: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProtocolText {
    regimen: String,
    #[serde(default)]
    rules: Vec<RuleText>,
}

/// What a rule does when its condition holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Postpone this and later doses by this many model time units.
    Delay(f64),
    /// Multiply this and later doses by `1 − fraction`.
    Reduce(f64),
    /// Drop this dose.
    Skip,
    /// Give this extra dose just before the planned one (its time is set at decision).
    Add(Record),
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Name shown in outputs.
    pub name: String,
    /// Output index the condition reads.
    pub output: usize,
    /// Which value of the output.
    pub measure: Measure,
    /// `true`: the condition is `value < threshold`; `false`: `value > threshold`.
    pub below: bool,
    /// Threshold in output units.
    pub threshold: f64,
    /// The action.
    pub action: Action,
    /// Largest number of firings per patient.
    pub max_times: u32,
}

impl Rule {
    fn holds(&self, value: f64) -> bool {
        if self.below {
            value < self.threshold
        } else {
            value > self.threshold
        }
    }
}

/// A regimen with rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Protocol {
    /// The planned regimen.
    pub regimen: Regimen,
    /// Rules, in evaluation order.
    pub rules: Vec<Rule>,
}

impl Protocol {
    /// Parses and validates a protocol (JSON text, see the module docs) for `model`.
    ///
    /// # Errors
    /// [`EngineError::Input`] naming `source` and the line for malformed JSON or unknown fields;
    /// [`EngineError::Invalid`] naming `source` and the regimen for invalid regimen text, or
    /// `source` and the rule for an unknown output, a missing or double threshold or action, or
    /// an invalid duration, fraction or dose.
    pub fn parse(source: &str, text: &str, model: &ModelSpec) -> Result<Self, EngineError> {
        let parsed: ProtocolText = serde_json::from_str(text)
            .map_err(|e| EngineError::input(source, e.line(), format!("invalid protocol: {e}")))?;
        let regimen = Regimen::parse(&parsed.regimen, model).map_err(|e| in_file(source, e))?;
        if regimen.doses.iter().any(|d| d.ss != SteadyState::No) {
            return Err(EngineError::invalid(
                format!("protocol {source}"),
                "steady-state doses cannot carry rules",
            ));
        }
        let mut rules = Vec::new();
        for (i, rule) in parsed.rules.into_iter().enumerate() {
            if rule.name.as_ref().is_some_and(|n| n.trim().is_empty()) {
                return Err(EngineError::invalid(
                    format!("{source}: rule {}", i + 1),
                    "\"name\" is empty; expected the name shown in outputs, or no \"name\" \
                     (the rule is then called by its number)",
                ));
            }
            let name = rule
                .name
                .clone()
                .unwrap_or_else(|| format!("rule {}", i + 1));
            let invalid =
                |message: String| EngineError::invalid(format!("{source}: {name}"), message);
            let output = model.output_index(&rule.condition.output).ok_or_else(|| {
                let names: Vec<&str> = model.outputs.iter().map(|o| o.name).collect();
                invalid(format!(
                    "model {} has no output '{}' (outputs: {})",
                    model.id,
                    rule.condition.output,
                    names.join(", ")
                ))
            })?;
            let (below, threshold) = match (rule.condition.below, rule.condition.above) {
                (Some(t), None) => (true, t),
                (None, Some(t)) => (false, t),
                _ => {
                    return Err(invalid(
                        "the condition needs exactly one of \"below\" or \"above\"".into(),
                    ));
                }
            };
            if !threshold.is_finite() {
                return Err(invalid(format!("threshold {threshold} is not finite")));
            }
            let a = &rule.action;
            let n_actions = usize::from(a.delay.is_some())
                + usize::from(a.reduce_by.is_some())
                + usize::from(a.skip == Some(true))
                + usize::from(a.add.is_some());
            if n_actions != 1 {
                return Err(invalid("\"then\" needs exactly one of \"delay\", \"reduce_by\", \"skip\": true or \"add\"".into()));
            }
            let action = if let Some(d) = &a.delay {
                let delay = parse_duration(d, model.time_unit)
                    .map_err(|e| invalid(format!("\"delay\": {e}")))?;
                if delay <= 0.0 {
                    return Err(invalid("the delay must be positive".into()));
                }
                Action::Delay(delay)
            } else if let Some(f) = a.reduce_by {
                if !(f > 0.0 && f < 1.0) {
                    return Err(invalid(format!(
                        "reduce_by must be a fraction in (0, 1), got {f}"
                    )));
                }
                Action::Reduce(f)
            } else if let Some(dose) = &a.add {
                let extra =
                    Regimen::parse(dose, model).map_err(|e| invalid(format!("\"add\": {e}")))?;
                match extra.doses.as_slice() {
                    [one] if one.addl == 0 && extra.scale_by[0].is_none() => {
                        Action::Add(one.clone())
                    }
                    _ => {
                        return Err(invalid(format!(
                            "\"add\" must be a single dose without repeats or per-m² scaling, got '{dose}'"
                        )));
                    }
                }
            } else {
                Action::Skip
            };
            let max_times = rule.max_times.unwrap_or(u32::MAX);
            rules.push(Rule {
                name,
                output,
                measure: rule.condition.measure,
                below,
                threshold,
                action,
                max_times,
            });
        }
        Ok(Self { regimen, rules })
    }

    /// The planned doses one by one (ADDL expanded), with covariate scaling applied.
    #[must_use]
    pub fn planned_doses(&self, covariates: &[f64]) -> Vec<Record> {
        let mut plan = Vec::new();
        for dose in self.regimen.doses_for(covariates) {
            for k in 0..=dose.addl {
                let mut single = dose.clone();
                single.time = dose.time + f64::from(k) * dose.ii;
                single.addl = 0;
                single.ii = 0.0;
                plan.push(single);
            }
        }
        plan.sort_by(|a, b| a.time.total_cmp(&b.time));
        plan
    }
}

/// `error` (of the protocol's regimen) with the protocol file named first.
fn in_file(source: &str, error: EngineError) -> EngineError {
    match error {
        EngineError::Invalid { what, message } => {
            EngineError::invalid(format!("{source}: {what}"), message)
        }
        other => other,
    }
}

/// What the rules did to one patient.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProtocolLog {
    /// Firings per rule.
    pub firings: Vec<u32>,
}

/// Runs a protocol for one patient: planned doses with rules, outputs written at `output_times`
/// (row-major `output_times.len() × n_outputs`, each after any dose at the same time).
///
/// # Errors
/// As [`Simulator::run`](crate::simulate::Simulator::run).
pub fn run_protocol<M: crate::model::Model + ?Sized>(
    simulator: &mut crate::simulate::Simulator<'_, M>,
    protocol: &Protocol,
    params: &[f64],
    covariates: &[f64],
    output_times: &[f64],
    outputs: &mut [f64],
) -> Result<ProtocolLog, EngineError> {
    run_protocol_after(
        simulator,
        &[],
        protocol,
        params,
        covariates,
        output_times,
        outputs,
    )
}

/// [`run_protocol`] after a recorded `history` (a real patient's past doses and observations,
/// all before the first planned dose): the history and the output times before the first planned
/// dose are simulated first (history records first at equal times), then the protocol continues.
/// Rules see the history: "nadir since the last dose" at the first planned dose covers the output
/// times since the last recorded dose.
///
/// # Errors
/// As [`Simulator::run`](crate::simulate::Simulator::run).
pub fn run_protocol_after<M: crate::model::Model + ?Sized>(
    simulator: &mut crate::simulate::Simulator<'_, M>,
    history: &[Record],
    protocol: &Protocol,
    params: &[f64],
    covariates: &[f64],
    output_times: &[f64],
    outputs: &mut [f64],
) -> Result<ProtocolLog, EngineError> {
    use crate::simulate::ParameterTrack;
    let n_out = simulator_outputs(simulator);
    let mut plan = protocol.planned_doses(covariates);
    let mut log = ProtocolLog {
        firings: vec![0; protocol.rules.len()],
    };
    let t0 = plan
        .first()
        .map_or(0.0, |d| d.time)
        .min(output_times.first().copied().unwrap_or(0.0))
        .min(history.first().map_or(f64::INFINITY, |r| r.time));
    simulator.begin(t0, params);
    let track = ParameterTrack::Constant(params);
    let mut next_output = 0usize;
    let mut current = vec![0.0; n_out];
    // Extremes of each output since the previous dose: (nadir, peak).
    let mut extremes = vec![(f64::INFINITY, f64::NEG_INFINITY); n_out];
    if !history.is_empty() {
        let first_planned = plan.first().map_or(f64::INFINITY, |d| d.time);
        next_output = output_times.partition_point(|&t| t < first_planned);
        let last_dose = history
            .iter()
            .filter(|r| r.evid.is_dose())
            .map(|r| r.time)
            .fold(f64::NEG_INFINITY, f64::max);
        // Items: history records, then output times; a stable sort by time keeps the history
        // first at equal times.
        let mut order: Vec<usize> = (0..history.len() + next_output).collect();
        let time_of = |item: usize| match item.checked_sub(history.len()) {
            Some(output_idx) => output_times[output_idx],
            None => history[item].time,
        };
        order.sort_by(|&a, &b| time_of(a).total_cmp(&time_of(b)));
        let records: Vec<Record> = order
            .iter()
            .map(|&item| match item.checked_sub(history.len()) {
                Some(output_idx) => Record::output_time(output_times[output_idx]),
                None => history[item].clone(),
            })
            .collect();
        let mut rows = vec![0.0; records.len() * n_out];
        simulator.process(&records, track, &mut rows)?;
        for (position, &item) in order.iter().enumerate() {
            let Some(output_idx) = item.checked_sub(history.len()) else {
                continue;
            };
            let row = &rows[position * n_out..(position + 1) * n_out];
            outputs[output_idx * n_out..(output_idx + 1) * n_out].copy_from_slice(row);
            if output_times[output_idx] >= last_dose {
                for (e, v) in extremes.iter_mut().zip(row) {
                    *e = (e.0.min(*v), e.1.max(*v));
                }
            }
        }
    }
    let mut multiplier = 1.0;
    let mut dose_idx = 0;
    let mut dummy = vec![0.0; n_out];
    while dose_idx < plan.len() {
        let d = plan[dose_idx].time;
        // Outputs strictly before the dose time.
        while next_output < output_times.len() && output_times[next_output] < d {
            let row = &mut outputs[next_output * n_out..(next_output + 1) * n_out];
            simulator.process(
                &[Record::output_time(output_times[next_output])],
                track,
                row,
            )?;
            for (e, v) in extremes.iter_mut().zip(row.iter()) {
                *e = (e.0.min(*v), e.1.max(*v));
            }
            next_output += 1;
        }
        simulator.advance_to(d, params)?;
        simulator.current_outputs(params, &mut current);
        let mut delayed = false;
        let mut skipped = false;
        for (r, rule) in protocol.rules.iter().enumerate() {
            if log.firings[r] >= rule.max_times {
                continue;
            }
            let value = match rule.measure {
                Measure::Current => current[rule.output],
                Measure::NadirSinceLastDose => extremes[rule.output].0.min(current[rule.output]),
                Measure::PeakSinceLastDose => extremes[rule.output].1.max(current[rule.output]),
            };
            if !rule.holds(value) {
                continue;
            }
            log.firings[r] += 1;
            match &rule.action {
                Action::Delay(delay) => {
                    for later in &mut plan[dose_idx..] {
                        later.time += delay;
                    }
                    delayed = true;
                    break;
                }
                Action::Reduce(fraction) => multiplier *= 1.0 - fraction,
                Action::Skip => skipped = true,
                Action::Add(extra) => {
                    let mut extra = extra.clone();
                    extra.time = d;
                    simulator.process(&[extra], track, &mut dummy)?;
                }
            }
        }
        if delayed {
            // Re-decide at the new time.
            continue;
        }
        if !skipped {
            let mut dose = plan[dose_idx].clone();
            scale_dose(&mut dose, multiplier);
            simulator.process(&[dose], track, &mut dummy)?;
        }
        extremes.fill((f64::INFINITY, f64::NEG_INFINITY));
        dose_idx += 1;
    }
    while next_output < output_times.len() {
        let row = &mut outputs[next_output * n_out..(next_output + 1) * n_out];
        simulator.process(
            &[Record::output_time(output_times[next_output])],
            track,
            row,
        )?;
        next_output += 1;
    }
    Ok(log)
}

fn simulator_outputs<M: crate::model::Model + ?Sized>(
    simulator: &crate::simulate::Simulator<'_, M>,
) -> usize {
    simulator.model().spec().outputs.len()
}
