//! Deterministic predictions for every record of a dataset (what `twin predict` computes).
//!
//! Individual parameters are the typical values adjusted for the dataset's covariates, with η = 0
//! (NONMEM's PRED). A parameter can be fixed to a value, or bound to a data column so that it
//! varies per record (as NONMEM's `$PK` reads data items): `ALAG2 = @LAGT`.

use crate::error::EngineError;
use crate::model::{Interpolation, Model};
use crate::population::Population;
use crate::random::{Purpose, RandomStream};
use crate::records::{Dataset, DoseRate, Subject, check_compartments};
use crate::simulate::{ParameterTrack, Simulator};
use crate::solver::SolverOptions;

/// Where one parameter's value comes from, overriding the model's typical value.
#[derive(Debug, Clone, PartialEq)]
pub enum ParameterSource {
    /// A fixed value.
    Value(f64),
    /// The value of this data column on each record (carried forward like a covariate).
    Column(String),
}

/// One override: parameter name and its source.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterOverride {
    /// Parameter name (case-insensitive).
    pub name: String,
    /// Where its value comes from.
    pub source: ParameterSource,
}

impl ParameterOverride {
    /// Parses `NAME=VALUE` or `NAME=@COLUMN`.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] when the text has no `=` or the value is not a number.
    pub fn parse(text: &str) -> Result<Self, EngineError> {
        let (name, value) = text.split_once('=').ok_or_else(|| {
            EngineError::invalid(
                "--param",
                format!("expected NAME=VALUE or NAME=@COLUMN, got '{text}'"),
            )
        })?;
        let name = name.trim().to_owned();
        let value = value.trim();
        let source = if let Some(column) = value.strip_prefix('@') {
            ParameterSource::Column(column.to_owned())
        } else {
            ParameterSource::Value(value.parse::<f64>().map_err(|_| {
                EngineError::invalid(
                    format!("--param {name}"),
                    format!("'{value}' is not a number (or @COLUMN)"),
                )
            })?)
        };
        Ok(Self { name, source })
    }
}

/// Options of [`predict_dataset`].
#[derive(Debug, Clone, Default)]
pub struct PredictOptions {
    /// Solver options (used when the model has no closed form).
    pub solver: SolverOptions,
    /// Parameter overrides.
    pub overrides: Vec<ParameterOverride>,
    /// Add residual error drawn from this seed (stream per subject, purpose `Residual`).
    pub residual_error_seed: Option<u64>,
}

/// Predictions of one subject: `n_records × n_outputs`, in record order.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectPrediction {
    /// Subject identifier.
    pub id: String,
    /// Outputs after each record, row-major.
    pub outputs: Vec<f64>,
}

/// Resolved binding of model parameters and covariates to dataset columns.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    fixed: Vec<(usize, f64)>,
    columns: Vec<(usize, usize)>,
    covariate_columns: Vec<Option<usize>>,
    /// Whether parameters may change from record to record (a covariate or bound column exists).
    pub(crate) time_varying: bool,
}

impl Binding {
    /// Whether the run sets parameter `idx` (a fixed value or a data column).
    pub(crate) fn sets(&self, idx: usize) -> bool {
        self.fixed.iter().any(|&(i, _)| i == idx) || self.columns.iter().any(|&(i, _)| i == idx)
    }
}

/// Resolves `overrides` and the model's covariates against the columns of `dataset`.
pub(crate) fn bind<M: Model + ?Sized>(
    model: &M,
    dataset: &Dataset,
    overrides: &[ParameterOverride],
) -> Result<Binding, EngineError> {
    let spec = model.spec();
    let mut fixed = Vec::new();
    let mut columns = Vec::new();
    for o in overrides {
        let idx = spec.parameter_index(&o.name).ok_or_else(|| {
            let names: Vec<&str> = spec.parameters.iter().map(|p| p.name).collect();
            EngineError::invalid(
                format!("parameter {}", o.name),
                format!(
                    "model {} has no such parameter; it has {}",
                    spec.id,
                    names.join(", ")
                ),
            )
        })?;
        match &o.source {
            ParameterSource::Value(v) => {
                let p = &spec.parameters[idx];
                if !(*v >= p.lower && *v <= p.upper) {
                    return Err(EngineError::invalid(
                        format!("parameter {}", p.name),
                        format!(
                            "{v} is outside its bounds [{}, {}] {}",
                            p.lower, p.upper, p.unit
                        ),
                    ));
                }
                fixed.push((idx, *v));
            }
            ParameterSource::Column(c) => {
                let col = dataset.covariate_index(c).ok_or_else(|| {
                    EngineError::input(
                        &dataset.source,
                        1,
                        format!("column {c} (bound to parameter {}) is missing", o.name),
                    )
                })?;
                columns.push((idx, col));
            }
        }
    }
    let covariate_columns: Vec<Option<usize>> = spec
        .covariates
        .iter()
        .map(|c| dataset.covariate_index(c.name))
        .collect();
    let time_varying = !columns.is_empty() || covariate_columns.iter().any(Option::is_some);
    Ok(Binding {
        fixed,
        columns,
        covariate_columns,
        time_varying,
    })
}

/// Parameter rows (one per record) for `subject` under `binding`, with η = `eta`.
pub(crate) fn parameter_rows<M: Model + ?Sized>(
    model: &M,
    population: &Population,
    dataset: &Dataset,
    subject: &Subject,
    binding: &Binding,
    eta: &[f64],
) -> Result<Vec<f64>, EngineError> {
    let spec = model.spec();
    let n_params = spec.parameters.len();
    let n_records = subject.records.len();
    let mut rows = vec![0.0; n_records.max(1) * n_params];
    let mut covariates = vec![f64::NAN; spec.covariates.len()];
    for k in 0..n_records {
        for (c, (cov, column)) in spec
            .covariates
            .iter()
            .zip(&binding.covariate_columns)
            .enumerate()
        {
            let Some(column) = column else { continue };
            let source_record = match cov.interpolation {
                Interpolation::Locf => k,
                Interpolation::Nocb => (k + 1).min(n_records - 1),
            };
            let record = &subject.records[source_record];
            let value = record.covariates[*column];
            if !(value.is_nan() || (cov.lower..=cov.upper).contains(&value)) {
                return Err(EngineError::input(
                    &dataset.source,
                    record.line,
                    format!(
                        "covariate {} = {value} is outside [{}, {}] {}",
                        cov.name, cov.lower, cov.upper, cov.unit
                    ),
                ));
            }
            covariates[c] = value;
        }
        let row = &mut rows[k * n_params..(k + 1) * n_params];
        model.individual_parameters(population, &covariates, eta, row);
        for &(idx, v) in &binding.fixed {
            row[idx] = v;
        }
        for &(idx, col) in &binding.columns {
            let record = &subject.records[k];
            let v = record.covariates[col];
            if v.is_nan() {
                return Err(EngineError::input(
                    &dataset.source,
                    record.line,
                    format!(
                        "column {} (bound to {}) has no value",
                        dataset.covariate_names[col], spec.parameters[idx].name
                    ),
                ));
            }
            row[idx] = v;
        }
    }
    Ok(rows)
}

/// Builds the model's population (typical values, Ω, covariate effects) from its declaration.
///
/// # Errors
/// [`EngineError::Invalid`] when the model's variability declaration is inconsistent.
pub fn population_of<M: Model + ?Sized>(model: &M) -> Result<Population, EngineError> {
    let spec = model.spec();
    Population::new(
        spec.variability.clone(),
        spec.typical_parameters(),
        spec.covariates.iter().map(|c| c.reference).collect(),
    )
}

/// Refuses a dose record of `subject` that relies on a dose modifier the model does not give a
/// value: RATE = −1 (modelled rate) or −2 (modelled duration) into a compartment without one, or
/// one whose value the model leaves to the user ([`crate::model::DoseModifiers`]) and `binding`
/// does not set. NONMEM refuses both kinds of record.
pub(crate) fn check_modelled_doses<M: Model + ?Sized>(
    model: &M,
    source: &str,
    subject: &Subject,
    binding: &Binding,
) -> Result<(), EngineError> {
    let spec = model.spec();
    for record in subject.records.iter().filter(|r| r.evid.is_dose()) {
        let (code, what, letter) = match record.rate {
            DoseRate::ModelledRate => (-1, "rate", 'R'),
            DoseRate::ModelledDuration => (-2, "duration", 'D'),
            DoseRate::Bolus | DoseRate::Rate(_) => continue,
        };
        let cmt = record.cmt.unwrap_or(spec.default_dose_compartment);
        let (Some(modifiers), Some(state)) = (spec.dosing.get(cmt), spec.states.get(cmt)) else {
            continue; // Dataset::check_compartments names a compartment the model lacks.
        };
        let compartment = format!("CMT {} ({})", cmt + 1, state.name);
        let parameter = if code == -1 {
            modifiers.rate
        } else {
            modifiers.duration
        };
        let Some(idx) = parameter else {
            return Err(EngineError::input(
                source,
                record.line,
                format!(
                    "RATE = {code} asks for the modelled infusion {what} of {compartment}, but \
                     model {} defines none for that compartment (NONMEM would need {letter}{} in \
                     $PK); expected RATE 0 (bolus), a positive RATE, or a dose into a \
                     compartment with a modelled {what}",
                    spec.id,
                    cmt + 1
                ),
            ));
        };
        if modifiers.rate_and_duration_set_by_user && !binding.sets(idx) {
            let name = spec.parameters[idx].name;
            return Err(EngineError::input(
                source,
                record.line,
                format!(
                    "RATE = {code} asks for the modelled infusion {what} {name} of \
                     {compartment}, which model {} leaves to the user (its typical value is a \
                     placeholder); set it with --param {name}=VALUE or --param {name}=@COLUMN",
                    spec.id
                ),
            ));
        }
    }
    Ok(())
}

/// Predictions of one subject at a time, for datasets read subject by subject
/// ([`crate::nmcsv::SubjectReader`]); [`predict_dataset`] is this applied to a whole dataset.
pub struct Predictor<'m, M: Model + ?Sized> {
    model: &'m M,
    /// The dataset's name and covariate columns (no subjects): what binding and errors need.
    columns: Dataset,
    binding: Binding,
    population: Population,
    eta: Vec<f64>,
    simulator: Simulator<'m, M>,
    residual_error_seed: Option<u64>,
}

impl<'m, M: Model + ?Sized> Predictor<'m, M> {
    /// A predictor for the dataset called `source` whose covariate columns are
    /// `covariate_names` (upper case, as [`Dataset::covariate_names`]).
    ///
    /// # Errors
    /// An unknown parameter or column in `options.overrides`, an inconsistent variability
    /// declaration, or invalid solver options.
    pub fn new(
        model: &'m M,
        source: &str,
        covariate_names: &[String],
        options: &PredictOptions,
    ) -> Result<Self, EngineError> {
        let columns = Dataset {
            source: source.to_owned(),
            covariate_names: covariate_names.to_vec(),
            subjects: Vec::new(),
        };
        let binding = bind(model, &columns, &options.overrides)?;
        let population = population_of(model)?;
        let eta = vec![0.0; population.n_eta()];
        Ok(Self {
            model,
            columns,
            binding,
            population,
            eta,
            simulator: Simulator::new(model, options.solver)?,
            residual_error_seed: options.residual_error_seed,
        })
    }

    /// Predicts every record of `subject`, the `subject_idx`-th of the dataset (which keys its
    /// residual-error stream).
    ///
    /// # Errors
    /// The outer error is the input's (a compartment the model lacks, a covariate out of range,
    /// a modelled rate or duration the model does not give): the dataset cannot be predicted. The
    /// inner error is this subject's run failing (non-finite state, step-size underflow), named
    /// with its ID; other subjects can still be predicted.
    pub fn predict(
        &mut self,
        subject_idx: usize,
        subject: &Subject,
    ) -> Result<Result<SubjectPrediction, EngineError>, EngineError> {
        let spec = self.model.spec();
        let source = &self.columns.source;
        check_compartments(source, subject, spec.states.len())?;
        check_modelled_doses(self.model, source, subject, &self.binding)?;
        let rows = parameter_rows(
            self.model,
            &self.population,
            &self.columns,
            subject,
            &self.binding,
            &self.eta,
        )?;
        let track = if self.binding.time_varying {
            ParameterTrack::PerRecord(&rows)
        } else {
            ParameterTrack::Constant(&rows[..spec.parameters.len()])
        };
        let n_out = spec.outputs.len();
        let mut outputs = vec![0.0; subject.records.len() * n_out];
        let res = self
            .simulator
            .run(&subject.records, track, &mut outputs)
            .map_err(|e| e.for_patient(subject.id.clone()))
            .map(|()| {
                if let Some(seed) = self.residual_error_seed {
                    let mut stream =
                        RandomStream::new(seed, 0, subject_idx as u64, Purpose::Residual);
                    for row in outputs.chunks_mut(n_out) {
                        for (o, value) in row.iter_mut().enumerate() {
                            *value = self.population.residual(o).observe(*value, stream.normal());
                        }
                    }
                }
                SubjectPrediction {
                    id: subject.id.clone(),
                    outputs,
                }
            });
        Ok(res)
    }
}

/// Predicts every record of every subject of `dataset`.
///
/// Subjects are independent: the result holds one `Result` per subject, so one failing subject
/// (non-finite state, step-size underflow) does not stop the others.
///
/// # Errors
/// Dataset-level problems (unknown parameter or column, a compartment the model lacks, a dose
/// relying on a modelled rate or duration the model does not give) fail the whole call before
/// anything is simulated.
pub fn predict_dataset<M: Model + ?Sized>(
    model: &M,
    dataset: &Dataset,
    options: &PredictOptions,
) -> Result<Vec<Result<SubjectPrediction, EngineError>>, EngineError> {
    let mut predictor = Predictor::new(model, &dataset.source, &dataset.covariate_names, options)?;
    for subject in &dataset.subjects {
        check_compartments(&dataset.source, subject, model.spec().states.len())?;
        check_modelled_doses(model, &dataset.source, subject, &predictor.binding)?;
    }
    dataset
        .subjects
        .iter()
        .enumerate()
        .map(|(subject_idx, subject)| predictor.predict(subject_idx, subject))
        .collect()
}
