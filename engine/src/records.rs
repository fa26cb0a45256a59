//! NONMEM-style event records: the patient data format every pharmacometric tool reads.
//!
//! One [`Record`] per row. Semantics follow NONMEM's PREDPP (docs/domain.md §2): EVID 0
//! observation, 1 dose, 2 other, 3 reset, 4 reset then dose; RATE > 0 zero-order infusion,
//! −1 modelled rate, −2 modelled duration; II/ADDL repeated doses; SS 1/2/3 steady state.

use crate::error::EngineError;

/// Most doses one record or one regimen may give: the dose itself and its additional doses
/// (ADDL < this), or all the doses of a regimen's segments together. 100 000 doses is eleven
/// years of hourly dosing; a count in the billions (ADDL 4294967295, `x999999999`) would make
/// one patient's simulation run for hours or a protocol's dose plan fill the memory, so readers
/// refuse it.
pub const MAX_DOSES_PER_RECORD: u32 = 100_000;

/// Event identifier (NONMEM `EVID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Evid {
    /// 0: observation.
    Observation,
    /// 1: dose.
    Dose,
    /// 2: other event (covariate change, extra output time).
    Other,
    /// 3: reset all compartments to their initial state.
    Reset,
    /// 4: reset, then dose.
    ResetDose,
}

impl Evid {
    /// Parses a NONMEM EVID code.
    ///
    /// # Errors
    /// A message naming the accepted codes when `code` is not 0–4.
    pub fn from_code(code: f64) -> Result<Self, String> {
        match code {
            c if c.fract().abs() < f64::EPSILON && (0.0..=4.0).contains(&c) => Ok(match c as u8 {
                0 => Self::Observation,
                1 => Self::Dose,
                2 => Self::Other,
                3 => Self::Reset,
                _ => Self::ResetDose,
            }),
            _ => Err(format!("EVID must be 0, 1, 2, 3 or 4, got {code}")),
        }
    }

    /// The NONMEM code.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::Observation => 0,
            Self::Dose => 1,
            Self::Other => 2,
            Self::Reset => 3,
            Self::ResetDose => 4,
        }
    }

    /// Whether the record gives a dose (EVID 1 or 4).
    #[must_use]
    pub fn is_dose(self) -> bool {
        matches!(self, Self::Dose | Self::ResetDose)
    }

    /// Whether the record resets the system (EVID 3 or 4).
    #[must_use]
    pub fn is_reset(self) -> bool {
        matches!(self, Self::Reset | Self::ResetDose)
    }
}

/// Steady-state flag (NONMEM `SS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum SteadyState {
    /// 0: no steady state.
    No,
    /// 1: reset the system to the steady state of this regimen.
    Reset,
    /// 2: add the steady-state amounts of this regimen to the current state (linear models).
    Add,
    /// 3: like 1, with the iteration seeded by the current state.
    ResetSeeded,
}

impl SteadyState {
    /// Parses a NONMEM SS code.
    ///
    /// # Errors
    /// A message naming the accepted codes when `code` is not 0–3.
    pub fn from_code(code: f64) -> Result<Self, String> {
        match code {
            c if c.fract().abs() < f64::EPSILON && (0.0..=3.0).contains(&c) => Ok(match c as u8 {
                0 => Self::No,
                1 => Self::Reset,
                2 => Self::Add,
                _ => Self::ResetSeeded,
            }),
            _ => Err(format!("SS must be 0, 1, 2 or 3, got {code}")),
        }
    }

    /// The NONMEM code.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::No => 0,
            Self::Reset => 1,
            Self::Add => 2,
            Self::ResetSeeded => 3,
        }
    }
}

/// How a dose is delivered (NONMEM `RATE`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum DoseRate {
    /// RATE = 0: bolus.
    Bolus,
    /// RATE > 0: zero-order infusion at this rate (amount per time unit).
    Rate(f64),
    /// RATE = −1: the model's rate parameter for the compartment.
    ModelledRate,
    /// RATE = −2: the model's duration parameter for the compartment.
    ModelledDuration,
}

impl DoseRate {
    /// Parses a NONMEM RATE value.
    ///
    /// # Errors
    /// A message when `rate` is negative but not −1 or −2, or not finite.
    pub fn from_value(rate: f64) -> Result<Self, String> {
        if !rate.is_finite() {
            return Err(format!("RATE must be finite, got {rate}"));
        }
        if rate > 0.0 {
            Ok(Self::Rate(rate))
        } else if rate == 0.0 {
            Ok(Self::Bolus)
        } else if (rate + 1.0).abs() < 1e-12 {
            Ok(Self::ModelledRate)
        } else if (rate + 2.0).abs() < 1e-12 {
            Ok(Self::ModelledDuration)
        } else {
            Err(format!("RATE must be 0, positive, −1 or −2, got {rate}"))
        }
    }

    /// The NONMEM RATE value.
    #[must_use]
    pub fn value(self) -> f64 {
        match self {
            Self::Bolus => 0.0,
            Self::Rate(r) => r,
            Self::ModelledRate => -1.0,
            Self::ModelledDuration => -2.0,
        }
    }
}

/// One event record of one subject.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Record {
    /// Event time in the model's time unit.
    pub time: f64,
    /// Event kind.
    pub evid: Evid,
    /// Dose amount (0 on non-dose records).
    pub amt: f64,
    /// Compartment index, zero-based (NONMEM's CMT minus one). `None` when CMT is absent or 0,
    /// meaning the model's default (dose) or output (observation) compartment.
    pub cmt: Option<usize>,
    /// Dose delivery.
    pub rate: DoseRate,
    /// Interdose interval for ADDL and SS doses (0 when unused).
    pub ii: f64,
    /// Number of additional doses after this one, every `ii`.
    pub addl: u32,
    /// Steady-state flag.
    pub ss: SteadyState,
    /// Observed value, if any (DV with MDV = 0 on an observation record).
    pub dv: Option<f64>,
    /// Values of the dataset's covariate columns on this record, after carrying forward; one per
    /// [`Dataset::covariate_names`]. Missing values that cannot be carried are NaN.
    pub covariates: Vec<f64>,
    /// One-based line number in the source text (0 for generated records).
    pub line: usize,
}

impl Record {
    /// An EVID 2 record at `time`, used to request model outputs.
    #[must_use]
    pub fn output_time(time: f64) -> Self {
        Self {
            time,
            evid: Evid::Other,
            amt: 0.0,
            cmt: None,
            rate: DoseRate::Bolus,
            ii: 0.0,
            addl: 0,
            ss: SteadyState::No,
            dv: None,
            covariates: Vec::new(),
            line: 0,
        }
    }

    /// A bolus dose record of `amt` into compartment `cmt` (zero-based) at `time`.
    #[must_use]
    pub fn bolus(time: f64, amt: f64, cmt: usize) -> Self {
        Self {
            evid: Evid::Dose,
            amt,
            cmt: Some(cmt),
            ..Self::output_time(time)
        }
    }
}

/// All records of one subject, in file order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Subject {
    /// The subject identifier as written in the ID column.
    pub id: String,
    /// Records in file order.
    pub records: Vec<Record>,
}

/// A parsed NONMEM-style dataset.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Dataset {
    /// Name of the source (file path), used in error messages.
    pub source: String,
    /// Names of the extra (covariate) columns, upper-cased, in file order.
    pub covariate_names: Vec<String>,
    /// Subjects in order of first appearance.
    pub subjects: Vec<Subject>,
}

impl Dataset {
    /// The index of the subject with `id`, or of the first subject when `id` is `None`.
    ///
    /// # Errors
    /// A message naming the source: no subject with that ID, or no record at all.
    pub fn subject_index(&self, id: Option<&str>) -> Result<usize, String> {
        let source = &self.source;
        match id {
            Some(id) => self
                .subjects
                .iter()
                .position(|s| s.id == id)
                .ok_or_else(|| format!("{source}: no subject with ID {id}")),
            None if self.subjects.is_empty() => Err(format!("{source}: the file holds no record")),
            None => Ok(0),
        }
    }
}

impl Dataset {
    /// Index of the covariate column called `name` (case-insensitive).
    #[must_use]
    pub fn covariate_index(&self, name: &str) -> Option<usize> {
        self.covariate_names
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
    }

    /// Checks the dataset against a model: compartments exist and required covariates are present.
    ///
    /// # Errors
    /// [`EngineError::Input`] naming the file and line of the first offending record.
    pub fn check_compartments(&self, n_states: usize) -> Result<(), EngineError> {
        self.subjects
            .iter()
            .try_for_each(|subject| check_compartments(&self.source, subject, n_states))
    }
}

/// Refuses a record of `subject` (read from `source`) naming a compartment outside
/// `0..n_states`.
///
/// # Errors
/// [`EngineError::Input`] naming the file, the line and the compartments the model has.
pub fn check_compartments(
    source: &str,
    subject: &Subject,
    n_states: usize,
) -> Result<(), EngineError> {
    for record in &subject.records {
        if let Some(cmt) = record.cmt
            && cmt >= n_states
        {
            return Err(EngineError::input(
                source,
                record.line,
                format!(
                    "CMT {} does not exist: the model has compartments 1 to {n_states}",
                    cmt + 1
                ),
            ));
        }
    }
    Ok(())
}
