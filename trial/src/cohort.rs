//! Virtual patients of a trial: baseline covariates (from the model's sampler or resampled from a
//! CSV of real baseline data), random effects, the observed baseline, screening against the
//! inclusion criteria, and permuted-block randomisation.
//!
//! # Streams
//!
//! Candidate `j` of replicate trial `r` uses exactly the streams of patient `j` of replicate `r` in
//! [`twin_engine::montecarlo::run_cohort`]: covariates from `(seed, r, j, Covariates)`, η from
//! `(seed, r, j, Eta)`, residual error from `(seed, r, j, Residual)` (the baseline visit takes the
//! first normal per output, as run_cohort's first output time does) and model events from
//! `(seed, r, j, Dropout)`. The trial adds its own purposes: entry time ([`PURPOSE_ENTRY`]),
//! dropout from the trial ([`PURPOSE_TRIAL_DROPOUT`]) and the randomisation list
//! ([`PURPOSE_RANDOMISATION`], keyed by block instead of patient). Candidates are screened in
//! index order, so the first `n` enrolled patients of a trial of `n' > n` patients are those of
//! the trial of `n`: cohorts of different sizes are nested (common random numbers in the
//! sample-size search).

use twin_engine::model::Model;
use twin_engine::population::Population;
use twin_engine::random::{Purpose, RandomStream};

use crate::design::{BaselineSource, Design, Variable};
use crate::error::TrialError;

/// Stream purpose of a patient's entry time (uniform over the accrual period).
pub const PURPOSE_ENTRY: Purpose = Purpose::Custom(0);
/// Stream purpose of a patient's dropout time from the trial (exponential).
pub const PURPOSE_TRIAL_DROPOUT: Purpose = Purpose::Custom(1);
/// Stream purpose of the randomisation list, keyed by block index in place of the patient.
pub const PURPOSE_RANDOMISATION: Purpose = Purpose::Custom(2);

/// Replicate index of the truth cohort (defines each endpoint's true effect).
pub const TRUTH_REPLICATE: u64 = u64::MAX;
/// Replicate index of the historical control cohort (estimates ρ for PROCOVA).
pub const HISTORICAL_REPLICATE: u64 = u64::MAX - 1;
/// Replicate index of the pilot screen that checks the inclusion criteria before a run.
pub const PILOT_REPLICATE: u64 = u64::MAX - 2;

/// Candidates screened by the pilot.
pub const PILOT_CANDIDATES: u64 = 10_000;

/// One screened virtual patient.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Candidate index (the patient index of its random streams).
    pub index: u64,
    /// Covariates, truth-model order.
    pub covariates: Vec<f64>,
    /// Random effects η.
    pub eta: Vec<f64>,
    /// Individual parameters.
    pub params: Vec<f64>,
    /// Outputs at the baseline visit before any dose, observed with residual error.
    pub baseline: Vec<f64>,
}

impl Candidate {
    /// Value of a baseline variable.
    #[must_use]
    pub fn variable(&self, variable: Variable) -> f64 {
        match variable {
            Variable::Covariate(c) => self.covariates[c],
            Variable::Output(o) => self.baseline[o],
        }
    }
}

/// Generates and screens candidates of the truth model.
pub struct Screener<'d> {
    design: &'d Design,
    population: Population,
}

impl<'d> Screener<'d> {
    /// A screener for `design`'s truth model.
    ///
    /// # Errors
    /// [`TrialError::Engine`] if the model's variability declaration is invalid.
    pub fn new(design: &'d Design) -> Result<Self, TrialError> {
        let population =
            twin_engine::predict::population_of(design.truth.as_ref()).map_err(|source| {
                TrialError::Engine {
                    context: format!("model {}", design.truth_label),
                    source,
                }
            })?;
        Ok(Self { design, population })
    }

    /// The truth model's population.
    #[must_use]
    pub fn population(&self) -> &Population {
        &self.population
    }

    /// Candidate `index` of replicate `replicate`.
    #[must_use]
    pub fn candidate(&self, replicate: u64, index: u64) -> Candidate {
        let model: &dyn Model = self.design.truth.as_ref();
        let spec = model.spec();
        let seed = self.design.seed;
        let mut covariates = vec![f64::NAN; spec.covariates.len()];
        let mut covariate_stream = RandomStream::new(seed, replicate, index, Purpose::Covariates);
        match &self.design.cohort.source {
            BaselineSource::Model => {
                model.sample_covariates(&mut covariate_stream, &mut covariates)
            }
            BaselineSource::Rows { rows, .. } => {
                // A uniform row: floor(U·n) with U in (0, 1).
                let pick = (covariate_stream.uniform() * rows.len() as f64) as usize;
                covariates.copy_from_slice(&rows[pick.min(rows.len() - 1)]);
            }
        }
        let mut eta = vec![0.0; self.population.n_eta()];
        let mut eta_stream = RandomStream::new(seed, replicate, index, Purpose::Eta);
        self.population.sample_eta(&mut eta_stream, &mut eta);
        let mut params = vec![0.0; spec.parameters.len()];
        model.individual_parameters(&self.population, &covariates, &eta, &mut params);
        let mut state = vec![0.0; spec.states.len()];
        model.initial_state(&params, &mut state);
        let mut baseline = vec![0.0; spec.outputs.len()];
        model.outputs(0.0, &state, &params, &mut baseline);
        let mut residual = RandomStream::new(seed, replicate, index, Purpose::Residual);
        for (o, value) in baseline.iter_mut().enumerate() {
            *value = self
                .population
                .residual(o)
                .observe(*value, residual.normal());
        }
        Candidate {
            index,
            covariates,
            eta,
            params,
            baseline,
        }
    }

    /// Whether a candidate meets every inclusion criterion.
    #[must_use]
    pub fn eligible(&self, candidate: &Candidate) -> bool {
        self.design
            .cohort
            .criteria
            .iter()
            .all(|c| c.admits(candidate.variable(c.variable)))
    }

    /// The next `n` eligible candidates of `replicate`, screening from candidate `start` and at
    /// most up to candidate `max_screened`; also returns the index after the last screened.
    ///
    /// # Errors
    /// [`TrialError::Screening`] when the candidates up to `max_screened` give fewer than `n`
    /// eligible.
    pub fn enrol(
        &self,
        replicate: u64,
        start: u64,
        n: u64,
        max_screened: u64,
    ) -> Result<(Vec<Candidate>, u64), TrialError> {
        let mut enrolled = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        let mut index = start;
        while (enrolled.len() as u64) < n {
            if index >= max_screened {
                return Err(TrialError::Screening(format!(
                    "replicate {replicate}: only {} of {} screened candidates met the \
                     inclusion criteria ({}); {n} were needed",
                    enrolled.len(),
                    index - start,
                    self.describe_criteria()
                )));
            }
            let candidate = self.candidate(replicate, index);
            if self.eligible(&candidate) {
                enrolled.push(candidate);
            }
            index += 1;
        }
        Ok((enrolled, index))
    }

    /// The inclusion criteria as text.
    #[must_use]
    pub fn describe_criteria(&self) -> String {
        let parts: Vec<String> = self
            .design
            .cohort
            .criteria
            .iter()
            .map(crate::design::Criterion::describe)
            .collect();
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join("; ")
        }
    }

    /// Screens [`PILOT_CANDIDATES`] candidates of the pilot replicate and returns the number
    /// eligible.
    ///
    /// # Errors
    /// [`TrialError::Screening`] when none is eligible (the criteria contradict the model's or
    /// the baseline file's population), naming the criteria.
    pub fn pilot(&self) -> Result<u64, TrialError> {
        let eligible = (0..PILOT_CANDIDATES)
            .filter(|&j| self.eligible(&self.candidate(PILOT_REPLICATE, j)))
            .count() as u64;
        if eligible == 0 {
            let source = match &self.design.cohort.source {
                BaselineSource::Model => format!("model {}", self.design.truth_label),
                BaselineSource::Rows { name, .. } => format!("baseline file {name}"),
            };
            return Err(TrialError::Screening(format!(
                "{}: contradictory inclusion criteria: none of {PILOT_CANDIDATES} virtual patients \
                 screened from {source} meets them ({})",
                self.design.source_name,
                self.describe_criteria()
            )));
        }
        Ok(eligible)
    }
}

/// Treatment assignments (`true` = treatment arm) of the first `n_total` enrolled patients of a
/// replicate: permuted blocks of `design.block_size`, each with the allocation's exact composition;
/// the last block may be shorter (a multiple of the allocation unit) and is permuted the same way.
/// Block `b` is shuffled (Fisher–Yates) with the stream `(seed, replicate, b, randomisation)`.
#[must_use]
pub fn randomise(design: &Design, replicate: u64, n_total: u64) -> Vec<bool> {
    let mut assignments = Vec::with_capacity(usize::try_from(n_total).unwrap_or(0));
    let mut block_idx = 0;
    while (assignments.len() as u64) < n_total {
        let size = design.block_size.min(n_total - assignments.len() as u64);
        let (controls, _) = design.arm_sizes(size);
        let mut block: Vec<bool> = (0..size).map(|k| k >= controls).collect();
        let mut stream =
            RandomStream::new(design.seed, replicate, block_idx, PURPOSE_RANDOMISATION);
        for i in (1..block.len()).rev() {
            let j = ((stream.uniform() * (i + 1) as f64) as usize).min(i);
            block.swap(i, j);
        }
        assignments.extend(block);
        block_idx += 1;
    }
    assignments
}

/// Entry time (uniform over the accrual period; a Poisson accrual conditioned on the number of
/// patients has independent uniform entry times) and dropout time (exponential with the design's
/// hazard; `+∞` without dropout) of candidate `index`, model time units.
#[must_use]
pub fn entry_and_dropout(design: &Design, replicate: u64, index: u64) -> (f64, f64) {
    let entry = if design.accrual > 0.0 {
        RandomStream::new(design.seed, replicate, index, PURPOSE_ENTRY).uniform() * design.accrual
    } else {
        0.0
    };
    let dropout = if design.dropout_hazard > 0.0 {
        RandomStream::new(design.seed, replicate, index, PURPOSE_TRIAL_DROPOUT)
            .exponential(design.dropout_hazard)
    } else {
        f64::INFINITY
    };
    (entry, dropout)
}

/// Parses a baseline CSV: a header row naming columns, one row per real patient. Every covariate
/// of the model must have a column (matched case-insensitively); other columns are ignored. Rows
/// give covariates in the model's order.
///
/// # Errors
/// [`TrialError::Baseline`] naming the file, the line and the problem: a missing covariate column,
/// a cell that is not a number, or a value outside the covariate's plausible range.
pub fn parse_baseline_csv(
    name: &str,
    text: &str,
    model: &dyn Model,
) -> Result<Vec<Vec<f64>>, TrialError> {
    let err = |line: usize, message: String| TrialError::Baseline {
        source_name: name.to_owned(),
        line,
        message,
    };
    let spec = model.spec();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (header_idx, header) = lines
        .next()
        .ok_or_else(|| err(0, "the file is empty; expected a header row".to_owned()))?;
    let columns: Vec<String> = header.split(',').map(|c| c.trim().to_owned()).collect();
    let positions = spec
        .covariates
        .iter()
        .map(|c| {
            columns
                .iter()
                .position(|h| h.eq_ignore_ascii_case(c.name))
                .ok_or_else(|| {
                    err(
                        header_idx + 1,
                        format!(
                            "no column {} ({}); model {} needs a column for each covariate: {}",
                            c.name,
                            c.unit,
                            spec.id,
                            spec.covariates
                                .iter()
                                .map(|c| c.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    for (idx, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != columns.len() {
            return Err(err(
                idx + 1,
                format!(
                    "{} cells, expected {} as in the header",
                    cells.len(),
                    columns.len()
                ),
            ));
        }
        let mut row = Vec::with_capacity(positions.len());
        for (c, &pos) in spec.covariates.iter().zip(&positions) {
            let cell = cells[pos];
            let value: f64 = cell
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| {
                    err(
                        idx + 1,
                        format!(
                            "column {}: '{cell}' is not a number; every covariate needs a value",
                            c.name
                        ),
                    )
                })?;
            if !(c.lower..=c.upper).contains(&value) {
                return Err(err(
                    idx + 1,
                    format!(
                        "column {}: {value} is outside its plausible range [{}, {}] {}",
                        c.name, c.lower, c.upper, c.unit
                    ),
                ));
            }
            row.push(value);
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(err(
            0,
            "the file has a header but no patient rows".to_owned(),
        ));
    }
    Ok(rows)
}
