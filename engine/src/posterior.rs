//! Individualisation: the posterior of one patient's random effects η given the patient's
//! covariates, dose history and observations (NONMEM-style records, docs/domain.md §1–2).
//!
//! # The posterior
//!
//! `p(η | y) ∝ p(y | η) · p(η)` with the prior `η ~ N(0, Ω)` of the model's population and the
//! likelihood of the patient's observations:
//!
//! - **Predictions** `f` come from [`Simulator`] over the patient's own records, with one parameter
//!   row per record when the model's covariates (or `NAME=@COLUMN` overrides) are in the data, so
//!   time-varying covariates are honoured exactly as `twin predict` does (LOCF or NOCB per
//!   covariate, see [`crate::model::Interpolation`]).
//! - **Which output.** An observation is of the model's first output, unless the dataset has a
//!   column `DVID` (or, failing that, `OUTPUT`) holding the one-based index of the output. The CMT
//!   of an observation record does not select the output.
//! - **Residual error** of that output ([`ResidualError`]), with `r` the standardised residual:
//!   - additive `y ~ N(f, σ²)`; proportional `y ~ N(f, (σ·f)²)`; combined
//!     `y ~ N(f, σ_a² + (σ_p·f)²)`: `−2 log p = ln 2π + 2 ln s + ((y − f)/s)²`;
//!   - exponential `ln y ~ N(ln f, σ²)` (log-normal): `−2 log p = ln 2π + 2 ln σ + 2 ln y +
//!     ((ln y − ln f)/σ)²`, the density of `y` itself (so it includes the Jacobian `1/y`).
//! - **Below the limit of quantification (M3; Beal 2001).** A record whose column `BLQ` is 1 is
//!   censored: it contributes `ln P(y < LLOQ) = ln Φ((LLOQ − f)/s)` (for the exponential error
//!   model `ln Φ((ln LLOQ − ln f)/σ)`, the same event on the log scale). The limit is the record's
//!   `LLOQ` column when the dataset has one with a value there, otherwise the record's `DV`. Like
//!   every observation the record needs MDV 0; `BLQ` must be 0 or 1. The reader carries a missing
//!   value (`.`) forward from the previous row, so write `BLQ` on every observation row.
//! - **Prior.** Random effects whose variance in Ω is zero are fixed at 0 (a point mass); the
//!   others are handled in whitened coordinates `z = L⁻¹ η` with `L Lᵀ = Ω` (free block), where
//!   the prior is `N(0, I)`.
//!
//! The objective is `−2 log p(y, η)`, all normalising constants included (`n·ln 2π` too, unlike
//! NONMEM's OFV). Subjects without observations have the prior as posterior: no error, a note.
//!
//! **Input checks** (errors naming the file and line, see [`Individual::new`]): every model
//! covariate must be in the file with a value for the patient (unless
//! [`MissingCovariate::Reference`]) and within the model's bounds; an observation may not come
//! before any dose (since the start or the last reset) when the model's state starts empty, since
//! the model predicts nothing there. Models with a non-zero initial state (a baseline cell count)
//! accept pre-dose observations: they inform η.
//!
//! # MAP, Laplace covariance and draws
//!
//! [`map_estimate`] minimises the objective by BFGS with an Armijo backtracking line search and
//! central finite-difference gradients, from several deterministic starts ([`MapOptions`]), and
//! keeps the best converged one. The Laplace covariance is `2·H⁻¹` with `H` the central
//! finite-difference Hessian of the objective at the MAP (regularised if not positive definite,
//! which is reported). [`sample_posterior`] draws by importance resampling from a multivariate-t
//! proposal (ν = 4) at the MAP, with effective sample size, largest-weight share and Pareto k̂
//! diagnostics ([`ImportanceDiagnostics`]). [`update_map`] re-estimates after new observations
//! starting from a previous posterior.
//!
//! Everything is deterministic: the only randomness is the [`RandomStream`] of purpose
//! [`Purpose::Posterior`] for (seed, subject index).
//!
//! ```
//! use twin_engine::nmcsv::parse_dataset;
//! use twin_engine::posterior::{Individual, IndividualOptions, MapOptions, map_estimate};
//! use twin_engine::predict::population_of;
//! # use twin_engine::model::*;
//! # use twin_engine::population::*;
//! # struct Decay { spec: ModelSpec }
//! # impl Model for Decay {
//! #     fn spec(&self) -> &ModelSpec { &self.spec }
//! #     fn rhs(&self, _t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) { dy[0] = -p[0] * y[0]; }
//! #     fn outputs(&self, _t: f64, y: &[f64], _p: &[f64], out: &mut [f64]) { out[0] = y[0]; }
//! # }
//! # let model = Decay { spec: ModelSpec {
//! #     id: "decay", version: "1", description: "", time_unit: TimeUnit::Hour,
//! #     states: vec![StateSpec { name: "CENTRAL", unit: "mg" }],
//! #     parameters: vec![ParameterSpec { name: "K", unit: "1/h", typical: 0.1, lower: 0.0,
//! #         upper: 10.0, source: "" }],
//! #     covariates: vec![], outputs: vec![OutputSpec { name: "A", unit: "mg" }],
//! #     dosing: vec![DoseModifiers::default()], default_dose_compartment: 0,
//! #     variability: VariabilityModel {
//! #         random_effects: vec![RandomEffect { parameter: 0, transform: Transform::LogNormal }],
//! #         omega: vec![0.09], covariate_effects: vec![],
//! #         residual: vec![ResidualError::Proportional { sd: 0.1 }] },
//! #     outcomes: vec![], therapies: vec![], evidence: "", documentation: "" } };
//! // `model`: dA/dt = −K·A, K = 0.1·e^η, ω² = 0.09, 10 % proportional error.
//! let data = parse_dataset("patient.csv", "ID,TIME,AMT,DV\n1,0,100,.\n1,4,0,55\n1,8,0,30\n")?;
//! let population = population_of(&model)?;
//! let mut patient = Individual::new(&model, &population, &data, 0, &IndividualOptions::default())?;
//! let map = map_estimate(&mut patient, &MapOptions::default())?;
//! // The data say K ≈ 0.15 /h, faster than the typical 0.1 /h: η > 0.
//! assert!(map.eta[0] > 0.2 && map.eta[0] < 0.5, "{:?}", map.eta);
//! # Ok::<(), twin_engine::EngineError>(())
//! ```

use crate::math;
use nalgebra::{DMatrix, DVector};

use crate::error::EngineError;
use crate::model::Model;
use crate::population::{Population, ResidualError};
use crate::predict::{Binding, ParameterOverride, bind, check_modelled_doses, parameter_rows};
use crate::random::{Purpose, RandomStream};
use crate::records::{Dataset, Subject};
use crate::simulate::{ParameterTrack, Simulator};
use crate::solver::SolverOptions;
use crate::stats::log_normal_cdf;

/// Degrees of freedom ν of the multivariate-t importance proposal. Four is the smallest even
/// number with a finite variance: the tails decay polynomially, so the weights `p/q` stay bounded
/// wherever the posterior decays like a Gaussian, which the Laplace approximation assumes.
pub const PROPOSAL_DEGREES_OF_FREEDOM: f64 = 4.0;

/// Armijo sufficient-decrease constant of the line search (Nocedal & Wright 2006, §3.1).
const ARMIJO_C1: f64 = 1e-4;

/// Smallest eigenvalue kept in the Hessian of the objective in whitened coordinates. The prior
/// alone contributes 2 in every direction there, so the floor means "never more than 10 prior
/// standard deviations wide": a direction the data leave flat or (numerically) concave.
const HESSIAN_EIGENVALUE_FLOOR: f64 = 0.02;

/// Two starts whose optima are closer than this (in prior standard deviations, max norm) found
/// the same optimum.
const SAME_OPTIMUM_TOL: f64 = 1e-3;

/// How a covariate the model needs but the patient's data lack is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingCovariate {
    /// An error naming the file and the covariate (the default: an individual forecast should
    /// not silently assume a reference patient).
    #[default]
    Error,
    /// The covariate's reference value, as `twin predict` does.
    Reference,
}

/// Options of [`Individual::new`].
#[derive(Debug, Clone, Default)]
pub struct IndividualOptions {
    /// Solver options (used when the model has no closed form). By default, the solver's defaults.
    pub solver: SolverOptions,
    /// Parameter overrides, as for `twin predict` (`NAME=VALUE` or `NAME=@COLUMN`). By default,
    /// none.
    pub overrides: Vec<ParameterOverride>,
    /// What to do when a model covariate is missing. By default, [`MissingCovariate::Error`].
    pub missing_covariates: MissingCovariate,
}

/// Whether an observation is a value or only known to lie below a limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Censoring {
    /// The value was measured.
    Observed,
    /// The value is below `limit` (M3 likelihood).
    BelowLimit {
        /// The lower limit of quantification, in output units.
        limit: f64,
    },
}

/// One observation of the patient, resolved against the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Index of the record in the subject's records.
    pub record: usize,
    /// One-based line of the record in the source text.
    pub line: usize,
    /// Time of the record (model time unit).
    pub time: f64,
    /// Index of the model output observed.
    pub output: usize,
    /// The observed value (DV).
    pub value: f64,
    /// Whether the value is censored.
    pub censoring: Censoring,
}

/// One patient's posterior problem: model, population, records and observations.
///
/// Holds a [`Simulator`] and reuses its buffers, so evaluations take `&mut self`.
#[derive(Debug)]
pub struct Individual<'a, M: Model + ?Sized> {
    model: &'a M,
    population: &'a Population,
    dataset: &'a Dataset,
    subject_idx: usize,
    binding: Binding,
    observations: Vec<Observation>,
    residual: Vec<ResidualError>,
    /// Indices of the random effects with non-zero variance.
    free: Vec<usize>,
    /// Lower Cholesky factor of Ω restricted to the free random effects.
    omega_lower: DMatrix<f64>,
    /// η-independent part of `−2 log p(y | η)`.
    likelihood_constant: f64,
    /// η-independent part of `−2 log p(η)` (free random effects).
    prior_constant: f64,
    simulator: Simulator<'a, M>,
    outputs: Vec<f64>,
    eta: Vec<f64>,
    /// The last evaluation failure, reported when every MAP start fails.
    last_failure: Option<String>,
}

impl<'a, M: Model + ?Sized> Individual<'a, M> {
    /// Prepares subject `subject_idx` of `dataset` for `model` with prior `population`.
    ///
    /// # Errors
    /// [`EngineError::Input`] naming the file and line for: a model covariate missing from the
    /// file or without a value for this subject (unless [`MissingCovariate::Reference`]); a
    /// covariate value outside the model's bounds; a `DVID`/`OUTPUT` that is not an output index;
    /// a `BLQ` other than 0 or 1, or a censored observation without a limit; a non-positive
    /// observation or limit under an exponential error model; an observation before any dose
    /// (since the start or the last reset) of a model whose state starts empty. [`EngineError::
    /// Invalid`] for a subject index out of range, an unknown override, a compartment the model
    /// lacks, or an observed output without a residual error model.
    pub fn new(
        model: &'a M,
        population: &'a Population,
        dataset: &'a Dataset,
        subject_idx: usize,
        options: &IndividualOptions,
    ) -> Result<Self, EngineError> {
        let spec = model.spec();
        let subject = dataset.subjects.get(subject_idx).ok_or_else(|| {
            EngineError::invalid(
                "subject index",
                format!(
                    "{subject_idx} is out of range: {} has {} subjects",
                    dataset.source,
                    dataset.subjects.len()
                ),
            )
        })?;
        if population.typical().len() != spec.parameters.len() {
            return Err(EngineError::invalid(
                "population",
                format!(
                    "has {} typical values; model {} has {} parameters",
                    population.typical().len(),
                    spec.id,
                    spec.parameters.len()
                ),
            ));
        }
        dataset.check_compartments(spec.states.len())?;
        if options.missing_covariates == MissingCovariate::Error {
            check_covariates_present(model, dataset, subject)?;
        }
        let binding = bind(model, dataset, &options.overrides)?;
        check_modelled_doses(model, &dataset.source, subject, &binding)?;
        let n_eta = population.n_eta();
        // Parameter rows at η = 0 validate covariate ranges (file and line) before any work.
        let rows = parameter_rows(
            model,
            population,
            dataset,
            subject,
            &binding,
            &vec![0.0; n_eta],
        )?;
        let observations = resolve_observations(model, dataset, subject)?;
        let residual: Vec<ResidualError> = (0..spec.outputs.len())
            .map(|o| population.residual(o))
            .collect();
        check_residuals(model, &residual, &observations, &dataset.source)?;
        check_observations_follow_doses(model, dataset, subject, &rows[..spec.parameters.len()])?;

        let omega = &population.variability().omega;
        let free: Vec<usize> = (0..n_eta).filter(|&i| omega[i * n_eta + i] > 0.0).collect();
        let m = free.len();
        let omega_free = DMatrix::from_fn(m, m, |r, c| omega[free[r] * n_eta + free[c]]);
        let omega_lower = nalgebra::Cholesky::new(omega_free)
            .ok_or_else(|| EngineError::invalid("omega", "not positive definite"))?
            .l();
        let log_det_omega: f64 = 2.0 * (0..m).map(|i| math::ln(omega_lower[(i, i)])).sum::<f64>();
        let ln_2pi = math::ln(2.0 * std::f64::consts::PI);
        let prior_constant = m as f64 * ln_2pi + log_det_omega;
        let likelihood_constant = observations
            .iter()
            .map(|obs| observation_constant(residual[obs.output], obs))
            .sum();

        let simulator = Simulator::new(model, options.solver)?;
        let outputs = vec![0.0; subject.records.len() * spec.outputs.len()];
        Ok(Self {
            model,
            population,
            dataset,
            subject_idx,
            binding,
            observations,
            residual,
            free,
            omega_lower,
            likelihood_constant,
            prior_constant,
            simulator,
            outputs,
            eta: vec![0.0; n_eta],
            last_failure: None,
        })
    }

    /// The subject's records and identifier.
    #[must_use]
    pub fn subject(&self) -> &'a Subject {
        &self.dataset.subjects[self.subject_idx]
    }

    /// Index of the subject in its dataset (the stream id of its posterior draws).
    #[must_use]
    pub fn subject_index(&self) -> usize {
        self.subject_idx
    }

    /// The observations that enter the likelihood, in record order.
    #[must_use]
    pub fn observations(&self) -> &[Observation] {
        &self.observations
    }

    /// Number of random effects η (free and fixed).
    #[must_use]
    pub fn n_eta(&self) -> usize {
        self.population.n_eta()
    }

    /// Indices of the random effects with non-zero variance; the others are fixed at 0.
    #[must_use]
    pub fn free_eta(&self) -> &[usize] {
        &self.free
    }

    /// The model.
    #[must_use]
    pub fn model(&self) -> &'a M {
        self.model
    }

    /// Individual parameters for random effects `eta`: one row per record (row-major,
    /// `n_records × n_parameters`), as the simulator uses them.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] if `eta` has the wrong length; covariate errors as [`Self::new`].
    pub fn parameter_rows(&self, eta: &[f64]) -> Result<Vec<f64>, EngineError> {
        self.check_eta(eta)?;
        parameter_rows(
            self.model,
            self.population,
            self.dataset,
            self.subject(),
            &self.binding,
            eta,
        )
    }

    /// Model outputs after every record for random effects `eta` (row-major,
    /// `n_records × n_outputs`): the individual predictions (IPRED).
    ///
    /// # Errors
    /// As [`Simulator::run`], and a wrong length of `eta`.
    pub fn predictions(&mut self, eta: &[f64]) -> Result<Vec<f64>, EngineError> {
        self.check_eta(eta)?;
        self.simulate(eta)?;
        Ok(self.outputs.clone())
    }

    /// `log p(y | η)`: the log-likelihood of the observations, with all constants. It is −∞ when
    /// an observation is impossible under the model (e.g. a prediction of 0 under an exponential
    /// error model).
    ///
    /// # Errors
    /// As [`Simulator::run`], a NaN prediction, and a wrong length of `eta`.
    pub fn log_likelihood(&mut self, eta: &[f64]) -> Result<f64, EngineError> {
        self.check_eta(eta)?;
        let kernel = self.data_kernel(eta)?;
        Ok(-0.5 * (kernel + self.likelihood_constant))
    }

    /// `log p(η)` under `N(0, Ω)`; −∞ when a fixed random effect (zero variance) is not 0.
    ///
    /// # Errors
    /// A wrong length of `eta`.
    pub fn log_prior(&self, eta: &[f64]) -> Result<f64, EngineError> {
        self.check_eta(eta)?;
        let n_eta = eta.len();
        if (0..n_eta).any(|i| !self.free.contains(&i) && eta[i].abs() > 0.0) {
            return Ok(f64::NEG_INFINITY);
        }
        let z = self.whiten(eta);
        Ok(-0.5 * (z.norm_squared() + self.prior_constant))
    }

    /// The MAP objective `−2 log p(y, η) = −2 log p(y | η) − 2 log p(η)`, constants included.
    ///
    /// # Errors
    /// As [`Self::log_likelihood`].
    pub fn objective(&mut self, eta: &[f64]) -> Result<f64, EngineError> {
        let prior = self.log_prior(eta)?;
        let likelihood = self.log_likelihood(eta)?;
        Ok(-2.0 * (likelihood + prior))
    }

    fn check_eta(&self, eta: &[f64]) -> Result<(), EngineError> {
        if eta.len() == self.n_eta() {
            Ok(())
        } else {
            Err(EngineError::invalid(
                "eta",
                format!(
                    "has {} values; model {} has {} random effects",
                    eta.len(),
                    self.model.spec().id,
                    self.n_eta()
                ),
            ))
        }
    }

    /// Whitened coordinates `z = L⁻¹ η_free`.
    fn whiten(&self, eta: &[f64]) -> DVector<f64> {
        let eta_free = DVector::from_iterator(self.free.len(), self.free.iter().map(|&i| eta[i]));
        self.omega_lower
            .solve_lower_triangular(&eta_free)
            .expect("the Cholesky factor of a positive definite block has a non-zero diagonal")
    }

    /// Writes `η = L z` (fixed random effects 0) into `self.eta`.
    fn set_eta_from_z(&mut self, z: &[f64]) {
        self.eta.fill(0.0);
        for (r, &i) in self.free.iter().enumerate() {
            self.eta[i] = (0..=r).map(|c| self.omega_lower[(r, c)] * z[c]).sum();
        }
    }

    /// Runs the subject's records with random effects `eta` into `self.outputs`.
    fn simulate(&mut self, eta: &[f64]) -> Result<(), EngineError> {
        let subject = &self.dataset.subjects[self.subject_idx];
        let rows = parameter_rows(
            self.model,
            self.population,
            self.dataset,
            subject,
            &self.binding,
            eta,
        )?;
        let n_params = self.model.spec().parameters.len();
        let track = if self.binding.time_varying {
            ParameterTrack::PerRecord(&rows)
        } else {
            ParameterTrack::Constant(&rows[..n_params])
        };
        self.simulator
            .run(&subject.records, track, &mut self.outputs)
            .map_err(|e| e.for_patient(subject.id.clone()))
    }

    /// The η-dependent part of `−2 log p(y | η)`; +∞ when an observation is impossible.
    fn data_kernel(&mut self, eta: &[f64]) -> Result<f64, EngineError> {
        if self.observations.is_empty() {
            return Ok(0.0);
        }
        self.simulate(eta)?;
        let n_out = self.model.spec().outputs.len();
        let mut kernel = 0.0;
        for obs in &self.observations {
            let f = self.outputs[obs.record * n_out + obs.output];
            if f.is_nan() {
                return Err(EngineError::input(
                    &self.dataset.source,
                    obs.line,
                    format!(
                        "the prediction of output {} is NaN at TIME {} for η = {eta:?}",
                        self.model.spec().outputs[obs.output].name,
                        obs.time
                    ),
                ));
            }
            kernel += observation_kernel(self.residual[obs.output], f, obs);
        }
        Ok(kernel)
    }

    /// The η-dependent part of the objective at whitened coordinates `z`; +∞ on any failure
    /// (remembered in `last_failure`), so that a line search simply steps back.
    fn kernel_z(&mut self, z: &[f64]) -> f64 {
        self.set_eta_from_z(z);
        let eta = std::mem::take(&mut self.eta);
        let res = self.data_kernel(&eta);
        self.eta = eta;
        let prior: f64 = z.iter().map(|v| v * v).sum();
        match res {
            Ok(kernel) => kernel + prior,
            Err(e) => {
                self.last_failure = Some(e.to_string());
                f64::INFINITY
            }
        }
    }

    /// Full objective from the kernel at whitened coordinates.
    fn objective_from_kernel(&self, kernel: f64) -> f64 {
        kernel + self.likelihood_constant + self.prior_constant
    }

    /// η (all random effects) from whitened coordinates.
    fn eta_from_z(&mut self, z: &[f64]) -> Vec<f64> {
        self.set_eta_from_z(z);
        self.eta.clone()
    }

    /// Covariance of η (full `n_eta × n_eta`, zeros for fixed effects) from a covariance of z.
    fn eta_covariance(&self, cov_z: &DMatrix<f64>) -> Vec<f64> {
        let cov_free = &self.omega_lower * cov_z * self.omega_lower.transpose();
        let n_eta = self.n_eta();
        let mut res = vec![0.0; n_eta * n_eta];
        for (r, &i) in self.free.iter().enumerate() {
            for (c, &j) in self.free.iter().enumerate() {
                res[i * n_eta + j] = 0.5 * (cov_free[(r, c)] + cov_free[(c, r)]);
            }
        }
        res
    }

    /// Covariance of z from a covariance of η (free block).
    fn z_covariance(&self, cov_eta: &[f64]) -> DMatrix<f64> {
        let n_eta = self.n_eta();
        let m = self.free.len();
        let cov_free = DMatrix::from_fn(m, m, |r, c| cov_eta[self.free[r] * n_eta + self.free[c]]);
        let l_inv_cov = self
            .omega_lower
            .solve_lower_triangular(&cov_free)
            .expect("the Cholesky factor of a positive definite block has a non-zero diagonal");
        let res = self
            .omega_lower
            .solve_lower_triangular(&l_inv_cov.transpose())
            .expect("the Cholesky factor of a positive definite block has a non-zero diagonal");
        0.5 * (&res + res.transpose())
    }
}

/// Checks that every model covariate has a column and a value for the subject.
fn check_covariates_present<M: Model + ?Sized>(
    model: &M,
    dataset: &Dataset,
    subject: &Subject,
) -> Result<(), EngineError> {
    let spec = model.spec();
    for cov in &spec.covariates {
        let Some(column) = dataset.covariate_index(cov.name) else {
            return Err(EngineError::input(
                &dataset.source,
                0,
                format!(
                    "model {} needs covariate {} ({}) but the file has no column {}; it has \
                     columns [{}]",
                    spec.id,
                    cov.name,
                    cov.unit,
                    cov.name,
                    dataset.covariate_names.join(", ")
                ),
            ));
        };
        // The reader back-fills and carries values, so NaN means the subject never has one.
        if let Some(record) = subject.records.first()
            && record.covariates[column].is_nan()
        {
            return Err(EngineError::input(
                &dataset.source,
                record.line,
                format!(
                    "covariate {} of ID {} has no value on any row; model {} needs it",
                    cov.name, subject.id, spec.id
                ),
            ));
        }
    }
    Ok(())
}

/// The subject's observations, mapped to outputs, with censoring.
fn resolve_observations<M: Model + ?Sized>(
    model: &M,
    dataset: &Dataset,
    subject: &Subject,
) -> Result<Vec<Observation>, EngineError> {
    let spec = model.spec();
    let n_out = spec.outputs.len();
    let output_column = dataset
        .covariate_index("DVID")
        .map(|c| (c, "DVID"))
        .or_else(|| dataset.covariate_index("OUTPUT").map(|c| (c, "OUTPUT")));
    let blq_column = dataset.covariate_index("BLQ");
    let lloq_column = dataset.covariate_index("LLOQ");
    let mut res = Vec::new();
    for (record_idx, record) in subject.records.iter().enumerate() {
        let Some(value) = record.dv else { continue };
        let err = |msg: String| EngineError::input(&dataset.source, record.line, msg);
        let output = match output_column {
            None => 0,
            Some((column, name)) => {
                let v = record.covariates[column];
                let idx = whole_number(v).filter(|&i| i >= 1 && i <= n_out as i64);
                let idx = idx.ok_or_else(|| {
                    let names: Vec<&str> = spec.outputs.iter().map(|o| o.name).collect();
                    err(format!(
                        "{name} {v} is not an output of model {}; expected 1 to {n_out} ({})",
                        spec.id,
                        names.join(", ")
                    ))
                })?;
                usize::try_from(idx - 1).expect("the index was checked to be at least 1")
            }
        };
        let censored = match blq_column {
            None => false,
            Some(column) => {
                let v = record.covariates[column];
                match whole_number(v) {
                    Some(0) => false,
                    Some(1) => true,
                    _ => {
                        return Err(err(format!(
                            "BLQ {v} is not supported; expected 1 (below the limit of \
                             quantification, M3) or 0 (a measured value)"
                        )));
                    }
                }
            }
        };
        let censoring = if censored {
            let limit = lloq_column
                .map(|c| record.covariates[c])
                .filter(|v| v.is_finite())
                .unwrap_or(value);
            if !limit.is_finite() {
                return Err(err(
                    "BLQ 1 without a limit; expected a value in LLOQ or DV".to_owned()
                ));
            }
            Censoring::BelowLimit { limit }
        } else {
            Censoring::Observed
        };
        res.push(Observation {
            record: record_idx,
            line: record.line,
            time: record.time,
            output,
            value,
            censoring,
        });
    }
    Ok(res)
}

/// Checks that every observed output has a residual error model that accepts its observations.
fn check_residuals<M: Model + ?Sized>(
    model: &M,
    residual: &[ResidualError],
    observations: &[Observation],
    source: &str,
) -> Result<(), EngineError> {
    let spec = model.spec();
    for obs in observations {
        let name = spec.outputs[obs.output].name;
        let sds: &[f64] = match &residual[obs.output] {
            ResidualError::None => {
                return Err(EngineError::invalid(
                    format!("model {}", spec.id),
                    format!(
                        "output {name} has no residual error model, so its observations have \
                         no likelihood"
                    ),
                ));
            }
            ResidualError::Additive { sd }
            | ResidualError::Proportional { sd }
            | ResidualError::Exponential { sd } => &[*sd],
            ResidualError::Combined {
                additive_sd,
                proportional_sd,
            } => &[*additive_sd, *proportional_sd],
        };
        if sds.iter().any(|s| !(s.is_finite() && *s >= 0.0)) || sds.iter().all(|s| *s <= 0.0) {
            return Err(EngineError::invalid(
                format!("model {}", spec.id),
                format!("output {name} has residual standard deviations {sds:?}"),
            ));
        }
        if matches!(residual[obs.output], ResidualError::Exponential { .. }) {
            let value = match obs.censoring {
                Censoring::Observed => obs.value,
                Censoring::BelowLimit { limit } => limit,
            };
            if value.is_nan() || value <= 0.0 {
                return Err(EngineError::input(
                    source,
                    obs.line,
                    format!(
                        "{} {value} of output {name} is not positive; its error model is \
                         exponential (log-normal), which needs positive values",
                        if obs.censoring == Censoring::Observed {
                            "DV"
                        } else {
                            "limit"
                        }
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// An observation before any dose (since the start or the last reset) of a model whose state
/// starts empty is an error: the model predicts nothing there, so it is almost always a wrong
/// TIME or a missing dose row. Models with a non-zero initial state (e.g. a baseline cell count)
/// accept pre-dose observations; they carry information about η.
fn check_observations_follow_doses<M: Model + ?Sized>(
    model: &M,
    dataset: &Dataset,
    subject: &Subject,
    first_row: &[f64],
) -> Result<(), EngineError> {
    let spec = model.spec();
    let mut y0 = vec![0.0; spec.states.len()];
    model.initial_state(first_row, &mut y0);
    if y0.iter().any(|v| v.abs() > 0.0) {
        return Ok(());
    }
    let mut dosed = false;
    for record in &subject.records {
        if record.evid.is_reset() {
            dosed = false;
        }
        if record.evid.is_dose() {
            dosed = true;
        }
        if let Some(dv) = record.dv
            && !dosed
        {
            return Err(EngineError::input(
                &dataset.source,
                record.line,
                format!(
                    "observation DV {dv} at TIME {} of ID {} comes before any dose (since the \
                     start or the last reset); model {} starts from an empty state and predicts \
                     nothing there. Expected a dose record (EVID 1 or 4) earlier in the file, or \
                     MDV 1 on this row",
                    record.time, subject.id, spec.id
                ),
            ));
        }
    }
    Ok(())
}

/// The value as a whole number, if it is one.
fn whole_number(v: f64) -> Option<i64> {
    // Codes and indices are small; beyond 2^31 a value is no index.
    if v.is_finite() && v.fract().abs() <= 0.0 && v.abs() < 2_147_483_648.0 {
        Some(v as i64)
    } else {
        None
    }
}

/// η-independent part of one observation's `−2 log p`.
fn observation_constant(residual: ResidualError, obs: &Observation) -> f64 {
    if obs.censoring != Censoring::Observed {
        return 0.0;
    }
    let ln_2pi = math::ln(2.0 * std::f64::consts::PI);
    match residual {
        ResidualError::Additive { sd } => ln_2pi + 2.0 * math::ln(sd),
        ResidualError::Exponential { sd } => {
            ln_2pi + 2.0 * math::ln(sd) + 2.0 * math::ln(obs.value)
        }
        ResidualError::Proportional { .. } | ResidualError::Combined { .. } => ln_2pi,
        ResidualError::None => 0.0,
    }
}

/// η-dependent part of one observation's `−2 log p` given prediction `f`; +∞ when impossible.
fn observation_kernel(residual: ResidualError, f: f64, obs: &Observation) -> f64 {
    if let ResidualError::Exponential { sd } = residual {
        if f.is_nan() || f <= 0.0 {
            return f64::INFINITY;
        }
        let ln_f = math::ln(f);
        return match obs.censoring {
            Censoring::Observed => {
                let r = (math::ln(obs.value) - ln_f) / sd;
                r * r
            }
            Censoring::BelowLimit { limit } => -2.0 * log_normal_cdf((math::ln(limit) - ln_f) / sd),
        };
    }
    let (s, varying_log) = match residual {
        ResidualError::Additive { sd } => (sd, false),
        ResidualError::Proportional { sd } => (sd * f.abs(), true),
        ResidualError::Combined {
            additive_sd,
            proportional_sd,
        } => (math::hypot(additive_sd, proportional_sd * f), true),
        ResidualError::Exponential { .. } | ResidualError::None => (0.0, false),
    };
    if s.is_nan() || s <= 0.0 {
        return f64::INFINITY;
    }
    match obs.censoring {
        Censoring::Observed => {
            let r = (obs.value - f) / s;
            r * r + if varying_log { 2.0 * math::ln(s) } else { 0.0 }
        }
        Censoring::BelowLimit { limit } => -2.0 * log_normal_cdf((limit - f) / s),
    }
}

/// Options of [`map_estimate`] and [`update_map`].
#[derive(Debug, Clone)]
pub struct MapOptions {
    /// Number of design starts besides η = 0 (and besides the warm start of [`update_map`]):
    /// the vertices `±r·(1, …, 1)`, `±r·(1, −1, 1, −1, …)`, `±r·(1, 1, −1, −1, …)`, … (Walsh
    /// sign patterns, duplicates dropped) in whitened coordinates `z = L⁻¹η`, i.e. `η = L·z` at
    /// `r` prior standard deviations along Ω's own correlations. By default, this is `4`.
    pub n_design_starts: usize,
    /// Radius `r` of the design starts, in prior standard deviations. By default, this is `1`.
    pub start_radius: f64,
    /// Largest number of BFGS iterations per start. By default, this is `200`.
    pub max_iterations: usize,
    /// Convergence: the largest gradient component of the objective `−2 log p(y, η)` with
    /// respect to the whitened `z` falls below this. Since the prior alone makes the Hessian at
    /// least 2 there, the distance to the optimum is then about half of it in prior standard
    /// deviations (for a locally quadratic objective). By default, this is `1e-5`.
    pub gradient_tolerance: f64,
    /// Largest step per iteration, in prior standard deviations (max norm). By default, `3`.
    pub max_step: f64,
}

impl Default for MapOptions {
    fn default() -> Self {
        Self {
            n_design_starts: 4,
            start_radius: 1.0,
            max_iterations: 200,
            gradient_tolerance: 1e-5,
            max_step: 3.0,
        }
    }
}

impl MapOptions {
    fn validate(&self) -> Result<(), EngineError> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(EngineError::invalid(
                    format!("MAP option {name}"),
                    format!("{v} must be positive and finite"),
                ))
            }
        };
        positive("start_radius", self.start_radius)?;
        positive("gradient_tolerance", self.gradient_tolerance)?;
        positive("max_step", self.max_step)?;
        if self.max_iterations == 0 {
            return Err(EngineError::invalid(
                "MAP option max_iterations",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// A previous posterior used as a warm start: its centre starts the optimiser and its
/// covariance seeds the BFGS inverse Hessian.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmStart {
    /// Centre (e.g. the previous MAP), one value per random effect.
    pub eta: Vec<f64>,
    /// Covariance, row-major `n_eta × n_eta`.
    pub covariance: Vec<f64>,
}

impl From<&MapEstimate> for WarmStart {
    fn from(map: &MapEstimate) -> Self {
        Self {
            eta: map.eta.clone(),
            covariance: map.covariance.clone(),
        }
    }
}

impl From<&PosteriorSample> for WarmStart {
    fn from(sample: &PosteriorSample) -> Self {
        Self {
            eta: sample.weighted_mean.clone(),
            covariance: sample.weighted_covariance.clone(),
        }
    }
}

/// Where a MAP start began and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct StartOutcome {
    /// What the start is: `warm`, `zero` or `design k`.
    pub label: String,
    /// Its initial η.
    pub initial_eta: Vec<f64>,
    /// How it ended.
    pub status: StartStatus,
}

/// The end of one MAP start.
#[derive(Debug, Clone, PartialEq)]
pub enum StartStatus {
    /// Converged to a local optimum.
    Converged {
        /// The optimum.
        eta: Vec<f64>,
        /// The objective there (`−2 log p(y, η)`).
        objective: f64,
        /// BFGS iterations.
        iterations: usize,
    },
    /// Failed: non-finite objective at the start, line-search breakdown or no convergence.
    Failed {
        /// Why.
        reason: String,
    },
}

/// How the Laplace Hessian was made positive definite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Regularisation {
    /// Smallest eigenvalue of the finite-difference Hessian (whitened coordinates) before.
    pub smallest_eigenvalue: f64,
    /// The floor its small eigenvalues were raised to (0.02: at most 10 prior SDs wide).
    pub floor: f64,
    /// How many eigenvalues were raised.
    pub n_raised: usize,
}

/// The MAP estimate of η and its Laplace covariance.
#[derive(Debug, Clone, PartialEq)]
pub struct MapEstimate {
    /// The MAP (empirical Bayes estimate), one value per random effect (fixed ones 0).
    pub eta: Vec<f64>,
    /// `−2 log p(y, η)` at the MAP, all constants included.
    pub objective: f64,
    /// `log p(y | η)` at the MAP.
    pub log_likelihood: f64,
    /// Laplace covariance `(−∇² log p(y, η))⁻¹` at the MAP, row-major `n_eta × n_eta`, zero rows
    /// and columns for fixed random effects; the prior Ω when there are no observations.
    pub covariance: Vec<f64>,
    /// Set when the Hessian had to be regularised.
    pub regularisation: Option<Regularisation>,
    /// Every start and its outcome.
    pub starts: Vec<StartOutcome>,
    /// Number of distinct optima the converged starts found (more than 1: multimodal).
    pub n_distinct_optima: usize,
    /// Number of observations in the likelihood.
    pub n_observations: usize,
    /// Objective evaluations used (each one simulation of the patient).
    pub n_evaluations: usize,
    /// Plain-text notes for the user (no observations, regularisation, several optima).
    pub notes: Vec<String>,
}

/// The MAP of η for `individual` and its Laplace covariance.
///
/// Minimises `−2 log p(y, η)` in whitened coordinates `z = L⁻¹ η` (Ω = L Lᵀ, free block) by
/// BFGS: central finite-difference gradients with step `ε^(1/3)·max(1, |z_i|)`, an Armijo
/// backtracking line search (`c₁ = 10⁻⁴`, quadratic interpolation clamped to [0.1, 0.5] of the
/// step), steps capped at [`MapOptions::max_step`], the inverse Hessian started at `I/2` (the
/// prior's curvature is 2) and rescaled by `sᵀy/yᵀy` after the first step (Nocedal & Wright 2006,
/// eq. 6.20), updates skipped when `sᵀy ≤ 10⁻¹²‖s‖‖y‖`. A start converges when the largest
/// gradient component is below [`MapOptions::gradient_tolerance`], or when the line search can
/// no longer decrease the objective with the gradient within 100× of it (the finite-difference
/// noise floor). Starts: η = 0 and the design starts of [`MapOptions::n_design_starts`]; the best
/// converged optimum is kept.
///
/// The Laplace covariance is `2·H⁻¹` with `H` the central finite-difference Hessian of the
/// objective in z (step `ε^(1/4)·max(1, |z_i|)`, symmetrised), mapped back by `L`. Eigenvalues
/// below 0.02 are raised to it and [`MapEstimate::regularisation`] says so.
///
/// A subject without observations gets the prior: η = 0, covariance Ω, and a note.
///
/// # Errors
/// [`EngineError::Invalid`] for invalid options, when every start fails (listing each start's
/// reason) or when the Hessian cannot be evaluated at the MAP.
pub fn map_estimate<M: Model + ?Sized>(
    individual: &mut Individual<'_, M>,
    options: &MapOptions,
) -> Result<MapEstimate, EngineError> {
    run_map(individual, None, options)
}

/// Sequential updating: the MAP for `individual` (whose records now include new observations)
/// started from a previous posterior.
///
/// The posterior is recomputed from the patient's whole history; `previous` only warm-starts
/// the optimiser: its centre is the first start and its covariance (in whitened coordinates,
/// halved) the initial BFGS inverse Hessian, so a small update converges in a few iterations.
/// η = 0 and the design starts of `options` follow as usual; set
/// [`MapOptions::n_design_starts`] to 0 for speed when the posterior is known to be unimodal.
///
/// # Errors
/// As [`map_estimate`], and [`EngineError::Invalid`] when `previous` has the wrong size.
pub fn update_map<M: Model + ?Sized>(
    individual: &mut Individual<'_, M>,
    previous: &WarmStart,
    options: &MapOptions,
) -> Result<MapEstimate, EngineError> {
    let n_eta = individual.n_eta();
    if previous.eta.len() != n_eta || previous.covariance.len() != n_eta * n_eta {
        return Err(EngineError::invalid(
            "warm start",
            format!(
                "has {} values and a covariance of {}; expected {n_eta} and {}",
                previous.eta.len(),
                previous.covariance.len(),
                n_eta * n_eta
            ),
        ));
    }
    run_map(individual, Some(previous), options)
}

fn run_map<M: Model + ?Sized>(
    individual: &mut Individual<'_, M>,
    warm: Option<&WarmStart>,
    options: &MapOptions,
) -> Result<MapEstimate, EngineError> {
    options.validate()?;
    let m = individual.free.len();
    let n_eta = individual.n_eta();
    let n_observations = individual.observations.len();
    if n_observations == 0 || m == 0 {
        let eta = vec![0.0; n_eta];
        let log_likelihood = individual.log_likelihood(&eta)?;
        let objective = individual.objective(&eta)?;
        let mut notes = Vec::new();
        if n_observations == 0 {
            notes.push(format!(
                "ID {} has no observations: the posterior is the prior N(0, Omega) and every \
                 forecast is a population forecast",
                individual.subject().id
            ));
        }
        if m == 0 {
            notes.push("the model has no random effect with non-zero variance".to_owned());
        }
        return Ok(MapEstimate {
            eta,
            objective,
            log_likelihood,
            covariance: individual.population.variability().omega.clone(),
            regularisation: None,
            starts: Vec::new(),
            n_distinct_optima: 1,
            n_observations,
            n_evaluations: 1,
            notes,
        });
    }

    let mut starts: Vec<(String, Vec<f64>, Option<DMatrix<f64>>)> = Vec::new();
    if let Some(warm) = warm {
        let z0: Vec<f64> = individual.whiten(&warm.eta).iter().copied().collect();
        let inverse_hessian = 0.5 * individual.z_covariance(&warm.covariance);
        let usable = nalgebra::Cholesky::new(inverse_hessian.clone()).is_some();
        starts.push(("warm".to_owned(), z0, usable.then_some(inverse_hessian)));
    }
    starts.push(("zero".to_owned(), vec![0.0; m], None));
    for (k, z) in design_starts(m, options.n_design_starts, options.start_radius)
        .into_iter()
        .enumerate()
    {
        starts.push((format!("design {}", k + 1), z, None));
    }

    let mut n_evaluations = 0;
    let mut outcomes = Vec::with_capacity(starts.len());
    let mut optima: Vec<(Vec<f64>, f64)> = Vec::new();
    for (label, z0, inverse_hessian) in starts {
        individual.last_failure = None;
        let mut evaluations = 0usize;
        let res = {
            let mut f = |z: &[f64]| {
                evaluations += 1;
                individual.kernel_z(z)
            };
            minimise_bfgs(&mut f, &z0, inverse_hessian, options)
        };
        n_evaluations += evaluations;
        let initial_eta = individual.eta_from_z(&z0);
        let status = match res {
            Ok(minimum) => {
                let objective = individual.objective_from_kernel(minimum.f);
                let eta = individual.eta_from_z(&minimum.x);
                optima.push((minimum.x, minimum.f));
                StartStatus::Converged {
                    eta,
                    objective,
                    iterations: minimum.iterations,
                }
            }
            Err(reason) => StartStatus::Failed {
                reason: match individual.last_failure.take() {
                    Some(failure) => format!("{reason} (last evaluation error: {failure})"),
                    None => reason,
                },
            },
        };
        outcomes.push(StartOutcome {
            label,
            initial_eta,
            status,
        });
    }

    let Some((best_z, best_kernel)) = optima
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(z, f)| (z.clone(), *f))
    else {
        let reasons: Vec<String> = outcomes
            .iter()
            .map(|o| match &o.status {
                StartStatus::Failed { reason } => {
                    format!("{} (η = {:?}): {reason}", o.label, o.initial_eta)
                }
                StartStatus::Converged { .. } => String::new(),
            })
            .collect();
        return Err(EngineError::invalid(
            format!("MAP of ID {}", individual.subject().id),
            format!("every start failed: {}", reasons.join("; ")),
        ));
    };
    let mut distinct: Vec<&Vec<f64>> = Vec::new();
    for (z, _) in &optima {
        if !distinct
            .iter()
            .any(|d| max_abs_diff(d, z) < SAME_OPTIMUM_TOL)
        {
            distinct.push(z);
        }
    }
    let n_distinct_optima = distinct.len();

    let mut evaluations = 0usize;
    let hessian = {
        let mut f = |z: &[f64]| {
            evaluations += 1;
            individual.kernel_z(z)
        };
        finite_difference_hessian(&mut f, &best_z, best_kernel)
    };
    n_evaluations += evaluations;
    let hessian = hessian.map_err(|reason| {
        EngineError::invalid(
            format!("Laplace covariance of ID {}", individual.subject().id),
            reason,
        )
    })?;
    let (cov_z, regularisation) = laplace_covariance(&hessian);
    let eta = individual.eta_from_z(&best_z);
    let log_likelihood = individual.log_likelihood(&eta)?;
    let mut notes = Vec::new();
    if let Some(r) = &regularisation {
        notes.push(format!(
            "the Hessian at the MAP was not safely positive definite (smallest eigenvalue {:.3e} \
             in whitened coordinates); {} eigenvalue(s) were raised to {}, so the Laplace \
             covariance is at most 10 prior SDs wide in those directions",
            r.smallest_eigenvalue, r.n_raised, r.floor
        ));
    }
    if n_distinct_optima > 1 {
        notes.push(format!(
            "the starts found {n_distinct_optima} distinct optima: the posterior may be \
             multimodal; the best was kept and the importance draws are centred on it"
        ));
    }
    Ok(MapEstimate {
        eta,
        objective: individual.objective_from_kernel(best_kernel),
        log_likelihood,
        covariance: individual.eta_covariance(&cov_z),
        regularisation,
        starts: outcomes,
        n_distinct_optima,
        n_observations,
        n_evaluations,
        notes,
    })
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Design starts in whitened coordinates (see [`MapOptions::n_design_starts`]).
fn design_starts(m: usize, n: usize, radius: f64) -> Vec<Vec<f64>> {
    let mut res: Vec<Vec<f64>> = Vec::new();
    let mut pattern = 0u32;
    // Walsh pattern p > 0 flips the sign every 2^(p−1) coordinates; once 2^(p−1) ≥ m it equals
    // pattern 0, so the loop ends there.
    while res.len() < n && (pattern == 0 || (1usize << (pattern - 1)) < m) {
        let base: Vec<f64> = (0..m)
            .map(|j| {
                if pattern == 0 || (j >> (pattern - 1)).is_multiple_of(2) {
                    radius
                } else {
                    -radius
                }
            })
            .collect();
        for sign in [1.0, -1.0] {
            if res.len() < n {
                res.push(base.iter().map(|v| sign * v).collect());
            }
        }
        pattern += 1;
    }
    res
}

/// A local minimum found by [`minimise_bfgs`].
#[derive(Debug)]
struct Minimum {
    x: Vec<f64>,
    f: f64,
    iterations: usize,
}

/// Central finite-difference gradient of `f` at `x` (value `fx`), one-sided where a side fails.
fn gradient(f: &mut dyn FnMut(&[f64]) -> f64, x: &[f64], fx: f64) -> Result<Vec<f64>, String> {
    let step = math::cbrt(f64::EPSILON);
    let mut probe = x.to_vec();
    let mut g = vec![0.0; x.len()];
    for i in 0..x.len() {
        let h = step * x[i].abs().max(1.0);
        probe[i] = x[i] + h;
        let h_plus = probe[i] - x[i];
        let f_plus = f(&probe);
        probe[i] = x[i] - h;
        let h_minus = x[i] - probe[i];
        let f_minus = f(&probe);
        probe[i] = x[i];
        g[i] = match (f_plus.is_finite(), f_minus.is_finite()) {
            (true, true) => (f_plus - f_minus) / (h_plus + h_minus),
            (true, false) => (f_plus - fx) / h_plus,
            (false, true) => (fx - f_minus) / h_minus,
            (false, false) => {
                return Err(format!(
                    "the objective is not finite on either side of coordinate {} at {x:?}",
                    i + 1
                ));
            }
        };
    }
    Ok(g)
}

/// BFGS with Armijo backtracking (see [`map_estimate`] for the rules).
fn minimise_bfgs(
    f: &mut dyn FnMut(&[f64]) -> f64,
    x0: &[f64],
    inverse_hessian: Option<DMatrix<f64>>,
    options: &MapOptions,
) -> Result<Minimum, String> {
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut fx = f(&x);
    if !fx.is_finite() {
        return Err(format!("the objective is not finite at the start ({fx})"));
    }
    let mut g = gradient(f, &x, fx)?;
    let seeded = inverse_hessian.is_some();
    let mut h_inv = inverse_hessian.unwrap_or_else(|| DMatrix::identity(n, n) * 0.5);
    let mut updated = false;
    let tol = options.gradient_tolerance;
    for iteration in 0..options.max_iterations {
        let g_max = g.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
        if g_max <= tol {
            return Ok(Minimum {
                x,
                f: fx,
                iterations: iteration,
            });
        }
        let g_vec = DVector::from_column_slice(&g);
        let mut p = -(&h_inv * &g_vec);
        let descent = g_vec.dot(&p);
        if descent.is_nan() || descent >= 0.0 {
            // Not a descent direction (a poor quasi-Newton model): restart from the prior scale.
            h_inv = DMatrix::identity(n, n) * 0.5;
            updated = false;
            p = -0.5 * &g_vec;
        }
        let p_max = p.amax();
        if p_max > options.max_step {
            p *= options.max_step / p_max;
        }
        let slope = g_vec.dot(&p);
        let p_max = p.amax();
        let x_scale = x.iter().fold(1.0_f64, |a, v| a.max(v.abs()));
        let mut alpha = 1.0;
        let mut accepted: Option<(Vec<f64>, f64)> = None;
        while alpha * p_max > 1e-14 * x_scale {
            let trial: Vec<f64> = x.iter().zip(p.iter()).map(|(a, b)| a + alpha * b).collect();
            let f_trial = f(&trial);
            if f_trial.is_finite() && f_trial <= fx + ARMIJO_C1 * alpha * slope {
                accepted = Some((trial, f_trial));
                break;
            }
            alpha = if f_trial.is_finite() {
                let curvature = f_trial - fx - slope * alpha;
                let quadratic = -slope * alpha * alpha / (2.0 * curvature);
                quadratic.clamp(0.1 * alpha, 0.5 * alpha)
            } else {
                0.1 * alpha
            };
        }
        let Some((x_new, f_new)) = accepted else {
            if g_max <= 100.0 * tol {
                return Ok(Minimum {
                    x,
                    f: fx,
                    iterations: iteration,
                });
            }
            return Err(format!(
                "the line search found no decrease after {iteration} iterations (objective \
                 kernel {fx}, largest gradient component {g_max:.3e})"
            ));
        };
        let g_new = gradient(f, &x_new, f_new)?;
        let s = DVector::from_iterator(n, x_new.iter().zip(&x).map(|(a, b)| a - b));
        let y = DVector::from_iterator(n, g_new.iter().zip(&g).map(|(a, b)| a - b));
        let sy = s.dot(&y);
        if sy > 1e-12 * s.norm() * y.norm() {
            if !updated && !seeded {
                h_inv = DMatrix::identity(n, n) * (sy / y.dot(&y));
            }
            let rho = 1.0 / sy;
            let identity = DMatrix::<f64>::identity(n, n);
            let left = &identity - rho * &s * y.transpose();
            let right = &identity - rho * &y * s.transpose();
            h_inv = &left * &h_inv * &right + rho * &s * s.transpose();
            updated = true;
        }
        x = x_new;
        fx = f_new;
        g = g_new;
    }
    let g_max = g.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
    Err(format!(
        "no convergence within {} iterations (largest gradient component {g_max:.3e})",
        options.max_iterations
    ))
}

/// Central finite-difference Hessian of `f` at `x` (value `fx`), symmetric by construction.
fn finite_difference_hessian(
    f: &mut dyn FnMut(&[f64]) -> f64,
    x: &[f64],
    fx: f64,
) -> Result<DMatrix<f64>, String> {
    let n = x.len();
    let step = f64::EPSILON.sqrt().sqrt();
    let h: Vec<f64> = x.iter().map(|v| step * v.abs().max(1.0)).collect();
    let mut probe = x.to_vec();
    let mut eval = |probe: &[f64]| {
        let v = f(probe);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(format!(
                "the objective is not finite at {probe:?}, next to the MAP"
            ))
        }
    };
    let mut hessian = DMatrix::zeros(n, n);
    for i in 0..n {
        probe[i] = x[i] + h[i];
        let plus = eval(&probe)?;
        probe[i] = x[i] - h[i];
        let minus = eval(&probe)?;
        probe[i] = x[i];
        hessian[(i, i)] = (plus - 2.0 * fx + minus) / (h[i] * h[i]);
        for j in 0..i {
            let mut corner = |si: f64, sj: f64| {
                probe[i] = x[i] + si * h[i];
                probe[j] = x[j] + sj * h[j];
                let v = eval(&probe);
                probe[i] = x[i];
                probe[j] = x[j];
                v
            };
            let pp = corner(1.0, 1.0)?;
            let pm = corner(1.0, -1.0)?;
            let mp = corner(-1.0, 1.0)?;
            let mm = corner(-1.0, -1.0)?;
            let v = (pp - pm - mp + mm) / (4.0 * h[i] * h[j]);
            hessian[(i, j)] = v;
            hessian[(j, i)] = v;
        }
    }
    Ok(hessian)
}

/// `2·H⁻¹` with small eigenvalues of `H` raised to the floor.
fn laplace_covariance(hessian: &DMatrix<f64>) -> (DMatrix<f64>, Option<Regularisation>) {
    let symmetric = 0.5 * (hessian + hessian.transpose());
    let eigen = symmetric.symmetric_eigen();
    let smallest = eigen.eigenvalues.min();
    let mut n_raised = 0;
    let inverse_eigenvalues = eigen.eigenvalues.map(|lambda| {
        let kept = if lambda < HESSIAN_EIGENVALUE_FLOOR {
            n_raised += 1;
            HESSIAN_EIGENVALUE_FLOOR
        } else {
            lambda
        };
        2.0 / kept
    });
    let v = &eigen.eigenvectors;
    let cov = v * DMatrix::from_diagonal(&inverse_eigenvalues) * v.transpose();
    let cov = 0.5 * (&cov + cov.transpose());
    let regularisation = (n_raised > 0).then_some(Regularisation {
        smallest_eigenvalue: smallest,
        floor: HESSIAN_EIGENVALUE_FLOOR,
        n_raised,
    });
    (cov, regularisation)
}

/// Options of [`sample_posterior`].
#[derive(Debug, Clone)]
pub struct SamplingOptions {
    /// Number of posterior draws returned (equally weighted, after resampling). By default,
    /// this is `1000`.
    pub n_draws: usize,
    /// Number of importance proposals (at least `n_draws`). By default, this is `4000`.
    pub n_proposals: usize,
    /// Factor on the Laplace covariance giving the scale matrix of the t proposal. The t with
    /// ν = 4 already has twice its scale as covariance; the factor widens its core as well, so
    /// that where the posterior is wider than the Laplace curvature says (skewed posteriors of
    /// log-normal parameters, weakly informed directions) the proposal still covers it. By
    /// default, this is `1.5`.
    pub scale_inflation: f64,
    /// Seed of the random stream (purpose [`Purpose::Posterior`], stream id the subject index).
    /// By default, this is `0`.
    pub seed: u64,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self {
            n_draws: 1000,
            n_proposals: 4000,
            scale_inflation: 1.5,
            seed: 0,
        }
    }
}

/// Diagnostics of the importance sampling step.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportanceDiagnostics {
    /// Number of proposals drawn.
    pub n_proposals: usize,
    /// Proposals whose evaluation failed or had zero posterior density (weight 0).
    pub n_failed: usize,
    /// Kish's effective sample size `(Σw)²/Σw²` of the proposals.
    pub effective_sample_size: f64,
    /// The largest normalised weight.
    pub max_weight_share: f64,
    /// Pareto k̂ of the largest weights (Vehtari et al., JMLR 2024): below
    /// [`Self::pareto_k_threshold`] the estimates are reliable. `None` when the draws are exact
    /// (equal weights).
    pub pareto_k: Option<f64>,
    /// Number of distinct proposals among the resampled draws.
    pub n_unique_draws: usize,
}

impl ImportanceDiagnostics {
    /// `min(1 − 1/log₁₀ S, 0.7)` for `S` proposals (Vehtari et al. 2024).
    #[must_use]
    pub fn pareto_k_threshold(&self) -> f64 {
        (1.0 - 1.0 / math::log10(self.n_proposals as f64)).min(0.7)
    }

    /// Whether k̂ is below its threshold (exact draws are reliable).
    #[must_use]
    pub fn is_reliable(&self) -> bool {
        self.pareto_k.is_none_or(|k| k < self.pareto_k_threshold())
    }
}

/// Posterior draws of η.
#[derive(Debug, Clone, PartialEq)]
pub struct PosteriorSample {
    /// Draws, row-major `n_draws × n_eta`, equally weighted.
    pub eta: Vec<f64>,
    /// Number of draws.
    pub n_draws: usize,
    /// Number of random effects per draw.
    pub n_eta: usize,
    /// Importance-weighted posterior mean of η (before resampling).
    pub weighted_mean: Vec<f64>,
    /// Importance-weighted posterior covariance of η, row-major `n_eta × n_eta`.
    pub weighted_covariance: Vec<f64>,
    /// Diagnostics.
    pub diagnostics: ImportanceDiagnostics,
    /// Plain-text notes (prior draws, unreliable weights).
    pub notes: Vec<String>,
}

impl PosteriorSample {
    /// Draw `draw_idx`.
    #[must_use]
    pub fn draw(&self, draw_idx: usize) -> &[f64] {
        &self.eta[draw_idx * self.n_eta..(draw_idx + 1) * self.n_eta]
    }
}

/// Posterior draws of η by importance resampling around `map`.
///
/// Proposals `z = ẑ + C·g·√(ν/χ²_ν)` in whitened coordinates: a multivariate t with ν = 4
/// ([`PROPOSAL_DEGREES_OF_FREEDOM`]; `χ²₄ = −2 ln(u₁u₂)`), centred at the MAP, with scale
/// `C Cᵀ = k·Σ_z` (Laplace covariance times [`SamplingOptions::scale_inflation`]). Weights
/// `w ∝ p(y, η)/q(z)`, self-normalised. Diagnostics: Kish's effective sample size, the largest
/// weight share and Pareto k̂ (generalised Pareto fit of Zhang & Stephens 2009 to the largest
/// `min(S/5, 3√S)` weights, with the weakly informative prior of Vehtari et al. 2024). Then
/// systematic resampling of `n_draws` (one uniform, positions `(u + i)/n`). Proposals, then the
/// uniform, come from one stream `(seed, 0, subject index, Posterior)`, so the same seed gives
/// the same draws.
///
/// A subject without observations gets exact prior draws `η ~ N(0, Ω)` and a note.
///
/// # Errors
/// [`EngineError::Invalid`] for invalid options, a MAP of the wrong size, a Laplace covariance
/// that is not positive definite, or when every proposal fails.
pub fn sample_posterior<M: Model + ?Sized>(
    individual: &mut Individual<'_, M>,
    map: &MapEstimate,
    options: &SamplingOptions,
) -> Result<PosteriorSample, EngineError> {
    if options.n_draws == 0 || options.n_proposals < options.n_draws {
        return Err(EngineError::invalid(
            "sampling options",
            format!(
                "need n_draws ≥ 1 and n_proposals ≥ n_draws, got {} and {}",
                options.n_draws, options.n_proposals
            ),
        ));
    }
    if !(options.scale_inflation.is_finite() && options.scale_inflation > 0.0) {
        return Err(EngineError::invalid(
            "sampling option scale_inflation",
            format!("{} must be positive and finite", options.scale_inflation),
        ));
    }
    let n_eta = individual.n_eta();
    if map.eta.len() != n_eta || map.covariance.len() != n_eta * n_eta {
        return Err(EngineError::invalid(
            "MAP estimate",
            format!("does not belong to a model with {n_eta} random effects"),
        ));
    }
    let m = individual.free.len();
    let mut stream = RandomStream::new(
        options.seed,
        0,
        individual.subject_idx as u64,
        Purpose::Posterior,
    );
    if individual.observations.is_empty() || m == 0 {
        return Ok(prior_sample(individual, &mut stream, options.n_draws));
    }

    let z_map = individual.whiten(&map.eta);
    let scale = options.scale_inflation * individual.z_covariance(&map.covariance);
    let chol = nalgebra::Cholesky::new(scale)
        .ok_or_else(|| EngineError::invalid("Laplace covariance", "not positive definite"))?
        .l();
    let nu = PROPOSAL_DEGREES_OF_FREEDOM;
    let n = options.n_proposals;
    let mut proposals = vec![0.0; n * m];
    let mut log_weights = vec![f64::NEG_INFINITY; n];
    let mut g = DVector::zeros(m);
    let mut n_failed = 0;
    for i in 0..n {
        for v in g.iter_mut() {
            *v = stream.normal();
        }
        let chi_square = -2.0 * (math::ln(stream.uniform()) + math::ln(stream.uniform()));
        let delta = &g * (nu / chi_square).sqrt();
        let z = &z_map + &chol * &delta;
        let log_q = -0.5 * (nu + m as f64) * math::ln_1p(delta.norm_squared() / nu);
        let kernel = individual.kernel_z(z.as_slice());
        if kernel.is_finite() {
            log_weights[i] = -0.5 * kernel - log_q;
        } else {
            n_failed += 1;
        }
        proposals[i * m..(i + 1) * m].copy_from_slice(z.as_slice());
    }
    if n_failed == n {
        return Err(EngineError::invalid(
            format!("posterior draws of ID {}", individual.subject().id),
            format!(
                "every one of {n} proposals failed (last error: {})",
                individual.last_failure.take().unwrap_or_default()
            ),
        ));
    }
    let max_log_weight = log_weights
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let mut weights: Vec<f64> = log_weights
        .iter()
        .map(|lw| math::exp(lw - max_log_weight))
        .collect();
    let total: f64 = weights.iter().sum();
    for w in &mut weights {
        *w /= total;
    }
    let effective_sample_size = 1.0 / weights.iter().map(|w| w * w).sum::<f64>();
    let max_weight_share = weights.iter().copied().fold(0.0, f64::max);
    let pareto_k = pareto_k_hat(&log_weights);

    let proposal_eta: Vec<Vec<f64>> = (0..n)
        .map(|i| individual.eta_from_z(&proposals[i * m..(i + 1) * m]))
        .collect();
    let mut weighted_mean = vec![0.0; n_eta];
    for (w, eta) in weights.iter().zip(&proposal_eta) {
        for (mean, v) in weighted_mean.iter_mut().zip(eta) {
            *mean += w * v;
        }
    }
    let mut weighted_covariance = vec![0.0; n_eta * n_eta];
    for (w, eta) in weights.iter().zip(&proposal_eta) {
        for a in 0..n_eta {
            for b in 0..n_eta {
                weighted_covariance[a * n_eta + b] +=
                    w * (eta[a] - weighted_mean[a]) * (eta[b] - weighted_mean[b]);
            }
        }
    }

    let picks = systematic_resample(&weights, options.n_draws, stream.uniform());
    let mut unique = picks.clone();
    unique.dedup();
    let mut eta = Vec::with_capacity(options.n_draws * n_eta);
    for &pick in &picks {
        eta.extend_from_slice(&proposal_eta[pick]);
    }
    let diagnostics = ImportanceDiagnostics {
        n_proposals: n,
        n_failed,
        effective_sample_size,
        max_weight_share,
        pareto_k,
        n_unique_draws: unique.len(),
    };
    let mut notes = Vec::new();
    if !diagnostics.is_reliable() {
        notes.push(format!(
            "Pareto k = {:.2} exceeds {:.2}: the importance weights are dominated by a few \
             proposals and the draws are unreliable; check the MAP (several optima?) or increase \
             the number of proposals",
            pareto_k.unwrap_or(f64::NAN),
            diagnostics.pareto_k_threshold()
        ));
    }
    if effective_sample_size < options.n_draws as f64 {
        notes.push(format!(
            "the effective sample size {effective_sample_size:.0} is below the {} draws \
             requested: the draws repeat proposals ({} distinct)",
            options.n_draws, diagnostics.n_unique_draws
        ));
    }
    Ok(PosteriorSample {
        eta,
        n_draws: options.n_draws,
        n_eta,
        weighted_mean,
        weighted_covariance,
        diagnostics,
        notes,
    })
}

/// Exact prior draws, for a subject without observations (or a model without free effects).
fn prior_sample<M: Model + ?Sized>(
    individual: &mut Individual<'_, M>,
    stream: &mut RandomStream,
    n_draws: usize,
) -> PosteriorSample {
    let m = individual.free.len();
    let n_eta = individual.n_eta();
    let mut eta = Vec::with_capacity(n_draws * n_eta);
    let mut z = vec![0.0; m];
    for _ in 0..n_draws {
        for v in &mut z {
            *v = stream.normal();
        }
        eta.extend(individual.eta_from_z(&z));
    }
    let mut notes = Vec::new();
    if individual.observations.is_empty() {
        notes.push(format!(
            "ID {} has no observations: the draws are exact draws from the prior N(0, Omega)",
            individual.subject().id
        ));
    }
    PosteriorSample {
        eta,
        n_draws,
        n_eta,
        weighted_mean: vec![0.0; n_eta],
        weighted_covariance: individual.population.variability().omega.clone(),
        diagnostics: ImportanceDiagnostics {
            n_proposals: n_draws,
            n_failed: 0,
            effective_sample_size: n_draws as f64,
            max_weight_share: 1.0 / n_draws as f64,
            pareto_k: None,
            n_unique_draws: n_draws,
        },
        notes,
    }
}

/// Indices picked by systematic resampling of normalised `weights` with uniform `u` in (0, 1).
fn systematic_resample(weights: &[f64], n_draws: usize, u: f64) -> Vec<usize> {
    let mut picks = Vec::with_capacity(n_draws);
    let mut cumulative = weights[0];
    let mut idx = 0;
    for draw_idx in 0..n_draws {
        let position = (u + draw_idx as f64) / n_draws as f64;
        while position > cumulative && idx + 1 < weights.len() {
            idx += 1;
            cumulative += weights[idx];
        }
        picks.push(idx);
    }
    picks
}

/// Pareto k̂ of importance log-weights (PSIS diagnostic; Vehtari et al. 2024, as in R's `loo`).
fn pareto_k_hat(log_weights: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = log_weights
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    let s = sorted.len();
    let s_f = s as f64;
    let tail_len = (0.2 * s_f).min(3.0 * s_f.sqrt()).ceil() as usize;
    if tail_len < 5 || tail_len >= s {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let max = sorted[s - 1];
    let cutoff = math::exp(sorted[s - tail_len - 1] - max);
    let exceedances: Vec<f64> = sorted[s - tail_len..]
        .iter()
        .map(|lw| math::exp(lw - max) - cutoff)
        .collect();
    if exceedances.iter().all(|x| *x <= 0.0) {
        return None;
    }
    Some(generalised_pareto_shape(&exceedances))
}

/// Shape k of a generalised Pareto fit to sorted exceedances `x` (Zhang & Stephens,
/// Technometrics 2009, empirical Bayes on a grid), shrunk towards 0.5 with the weakly informative
/// prior of Vehtari et al. 2024: `k = (n·k̂ + 10·0.5)/(n + 10)`.
fn generalised_pareto_shape(x: &[f64]) -> f64 {
    let n = x.len();
    let n_f = n as f64;
    let prior = 3.0;
    let n_grid = 30 + (n_f.sqrt() as usize);
    // First quartile of the sample, as in Zhang & Stephens.
    let quartile = x[((n_f / 4.0 + 0.5).floor() as usize).saturating_sub(1)];
    let theta: Vec<f64> = (1..=n_grid)
        .map(|j| {
            1.0 / x[n - 1] + (1.0 - (n_grid as f64 / (j as f64 - 0.5)).sqrt()) / prior / quartile
        })
        .collect();
    let profile: Vec<f64> = theta
        .iter()
        .map(|&t| {
            let k = x.iter().map(|v| math::ln_1p(-t * v)).sum::<f64>() / n_f;
            n_f * (math::ln(-t / k) - k - 1.0)
        })
        .collect();
    let max = profile.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = profile.iter().map(|l| math::exp(l - max)).collect();
    let total: f64 = weights.iter().sum();
    let theta_hat: f64 = theta.iter().zip(&weights).map(|(t, w)| t * w).sum::<f64>() / total;
    let k = x.iter().map(|v| math::ln_1p(-theta_hat * v)).sum::<f64>() / n_f;
    let k = if k.is_nan() { f64::INFINITY } else { k };
    (k * n_f + 10.0 * 0.5) / (n_f + 10.0)
}

/// MAP and posterior draws together.
#[derive(Debug, Clone, PartialEq)]
pub struct Posterior {
    /// The MAP and Laplace covariance.
    pub map: MapEstimate,
    /// Draws by importance resampling.
    pub sample: PosteriorSample,
}

/// [`map_estimate`] then [`sample_posterior`].
///
/// # Errors
/// As those two.
pub fn individualise<M: Model + ?Sized>(
    individual: &mut Individual<'_, M>,
    map_options: &MapOptions,
    sampling_options: &SamplingOptions,
) -> Result<Posterior, EngineError> {
    let map = map_estimate(individual, map_options)?;
    let sample = sample_posterior(individual, &map, sampling_options)?;
    Ok(Posterior { map, sample })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        CovariateSpec, DoseModifiers, Interpolation, ModelSpec, OutputSpec, ParameterSpec,
        StateSpec, TimeUnit,
    };
    use crate::nmcsv::parse_dataset;
    use crate::population::{CovariateEffect, RandomEffect, Transform, VariabilityModel};
    use crate::predict::population_of;

    /// `dA/dt = −K·A`, `K = 0.1·WT·e^η` (WT reference 1, LOCF), output `A`.
    #[derive(Debug)]
    struct Decay {
        spec: ModelSpec,
        nan_output: bool,
    }

    impl Decay {
        fn new(residual: ResidualError) -> Self {
            Self {
                spec: ModelSpec {
                    id: "decay",
                    version: "1",
                    description: "test",
                    time_unit: TimeUnit::Hour,
                    states: vec![StateSpec {
                        name: "CENTRAL",
                        unit: "mg",
                    }],
                    parameters: vec![ParameterSpec {
                        name: "K",
                        unit: "1/h",
                        typical: 0.1,
                        lower: 0.0,
                        upper: 100.0,
                        source: "test",
                    }],
                    covariates: vec![CovariateSpec {
                        name: "WT",
                        unit: "kg",
                        reference: 1.0,
                        lower: 0.1,
                        upper: 10.0,
                        interpolation: Interpolation::Locf,
                    }],
                    outputs: vec![OutputSpec {
                        name: "A",
                        unit: "mg",
                    }],
                    dosing: vec![DoseModifiers::default()],
                    default_dose_compartment: 0,
                    variability: VariabilityModel {
                        random_effects: vec![RandomEffect {
                            parameter: 0,
                            transform: Transform::LogNormal,
                        }],
                        omega: vec![0.09],
                        covariate_effects: vec![CovariateEffect::Power {
                            parameter: 0,
                            covariate: 0,
                            exponent: 1.0,
                        }],
                        residual: vec![residual],
                    },
                    outcomes: vec![],
                    therapies: vec![],
                    evidence: "test",
                    documentation: "test",
                },
                nan_output: false,
            }
        }
    }

    impl Model for Decay {
        fn spec(&self) -> &ModelSpec {
            &self.spec
        }
        fn rhs(&self, _t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) {
            dy[0] = -p[0] * y[0];
        }
        fn outputs(&self, _t: f64, y: &[f64], _p: &[f64], out: &mut [f64]) {
            out[0] = if self.nan_output { f64::NAN } else { y[0] };
        }
        fn advance_exact(&self, p: &[f64], y: &mut [f64], _inputs: &[f64], dt: f64) -> bool {
            y[0] *= math::exp(-p[0] * dt);
            true
        }
    }

    const LN_2PI: f64 = 1.837_877_066_409_345_5;

    #[test]
    fn time_varying_covariate_changes_the_prediction_from_its_record() {
        // WT doubles at 3 h (LOCF), so K goes from 0.1 to 0.2 there: A(2) = 100·e^(−0.2),
        // A(5) = 100·e^(−0.3)·e^(−0.4). Additive error SD 1.
        let model = Decay::new(ResidualError::Additive { sd: 1.0 });
        let population = population_of(&model).unwrap();
        let text = "ID,TIME,AMT,DV,EVID,WT\n1,0,100,.,1,1\n1,2,0,80,0,1\n1,3,0,.,2,2\n\
                    1,5,0,50,0,2\n";
        let dataset = parse_dataset("tv.csv", text).unwrap();
        // Through a trait object, as the CLI holds catalogue models.
        let model_ref: &dyn Model = &model;
        let mut individual = Individual::new(
            model_ref,
            &population,
            &dataset,
            0,
            &IndividualOptions::default(),
        )
        .unwrap();
        let predictions = [
            100.0 * math::exp(-0.2_f64),
            100.0 * math::exp(-0.3_f64) * math::exp(-0.4_f64),
        ];
        let expected: f64 = predictions
            .iter()
            .zip([80.0, 50.0])
            .map(|(f, y)| -0.5 * (LN_2PI + (y - f) * (y - f)))
            .sum();
        let got = individual.log_likelihood(&[0.0]).unwrap();
        assert!((got - expected).abs() < 1e-10, "{got} vs {expected}");
        // The prior at η = 0.3: −½(ln 2π + ln ω² + η²/ω²).
        let prior = individual.log_prior(&[0.3]).unwrap();
        let want = -0.5 * (LN_2PI + math::ln(0.09_f64) + 1.0);
        assert!((prior - want).abs() < 1e-12, "{prior} vs {want}");
    }

    #[test]
    fn exponential_error_density_and_censoring_are_on_the_log_scale() {
        // Prediction at 2 h: f = 100·e^(−0.2). Observed 70: −½ ln 2π − ln σ − ln y − ½r² with
        // r = (ln 70 − ln f)/σ. Censored below 50: ln Φ((ln 50 − ln f)/σ) = −1.8201938639446256
        // (scipy.stats.norm.logcdf).
        let model = Decay::new(ResidualError::Exponential { sd: 0.5 });
        let population = population_of(&model).unwrap();
        let f = 100.0 * math::exp(-0.2_f64);
        let observed =
            parse_dataset("e.csv", "ID,TIME,AMT,DV,WT\n1,0,100,.,1\n1,2,0,70,1\n").unwrap();
        let mut individual = Individual::new(
            &model,
            &population,
            &observed,
            0,
            &IndividualOptions::default(),
        )
        .unwrap();
        let r = (math::ln(70.0_f64) - math::ln(f)) / 0.5;
        let want = -0.5 * LN_2PI - math::ln(0.5_f64) - math::ln(70.0_f64) - 0.5 * r * r;
        let got = individual.log_likelihood(&[0.0]).unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        let censored = parse_dataset(
            "e.csv",
            "ID,TIME,AMT,DV,WT,BLQ,LLOQ\n1,0,100,.,1,0,.\n1,2,0,0,1,1,50\n",
        )
        .unwrap();
        let mut individual = Individual::new(
            &model,
            &population,
            &censored,
            0,
            &IndividualOptions::default(),
        )
        .unwrap();
        let got = individual.log_likelihood(&[0.0]).unwrap();
        assert!((got + 1.820_193_863_944_625_6).abs() < 1e-13, "{got}");
        // A non-positive observation has no log-normal density: an input error at its line.
        let zero = parse_dataset("e.csv", "ID,TIME,AMT,DV,WT\n1,0,100,.,1\n1,2,0,0,1\n").unwrap();
        let msg = Individual::new(&model, &population, &zero, 0, &IndividualOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("e.csv:3: ") && msg.contains("not positive"),
            "{msg}"
        );
    }

    #[test]
    fn every_failing_start_gives_a_clear_error() {
        let mut model = Decay::new(ResidualError::Additive { sd: 1.0 });
        model.nan_output = true;
        let population = population_of(&model).unwrap();
        let dataset =
            parse_dataset("nan.csv", "ID,TIME,AMT,DV,WT\n1,0,100,.,1\n1,2,0,70,1\n").unwrap();
        let mut individual = Individual::new(
            &model,
            &population,
            &dataset,
            0,
            &IndividualOptions::default(),
        )
        .unwrap();
        let msg = map_estimate(&mut individual, &MapOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("MAP of ID 1") && msg.contains("every start failed"),
            "{msg}"
        );
        assert!(msg.contains("nan.csv:3: ") && msg.contains("NaN"), "{msg}");
    }

    #[test]
    fn bfgs_finds_the_rosenbrock_minimum() {
        // f = (1 − x)² + 100(y − x²)², minimum 0 at (1, 1), from the classic start (−1.2, 1).
        let mut f =
            |x: &[f64]| math::powi(1.0 - x[0], 2) + 100.0 * math::powi(x[1] - x[0] * x[0], 2);
        let options = MapOptions {
            gradient_tolerance: 1e-7,
            ..MapOptions::default()
        };
        let minimum = minimise_bfgs(&mut f, &[-1.2, 1.0], None, &options).unwrap();
        assert!(
            (minimum.x[0] - 1.0).abs() < 1e-5 && (minimum.x[1] - 1.0).abs() < 1e-5,
            "{minimum:?}"
        );
        assert!(minimum.iterations < 100, "{minimum:?}");
    }

    #[test]
    fn finite_difference_hessian_of_a_quadratic_is_exact() {
        let mut f = |x: &[f64]| 3.0 * x[0] * x[0] + 2.0 * x[0] * x[1] + 5.0 * x[1] * x[1];
        let x = [0.3, -0.7];
        let fx = f(&x);
        let h = finite_difference_hessian(&mut f, &x, fx).unwrap();
        let expected = [6.0, 2.0, 2.0, 10.0];
        for (got, want) in h.transpose().iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{h}");
        }
        // An indefinite Hessian is regularised and reported.
        let (cov, regularisation) =
            laplace_covariance(&DMatrix::from_row_slice(2, 2, &[4.0, 0.0, 0.0, -1.0]));
        let r = regularisation.unwrap();
        assert_eq!(r.n_raised, 1);
        assert!((r.smallest_eigenvalue + 1.0).abs() < 1e-12);
        assert!((cov[(0, 0)] - 0.5).abs() < 1e-12 && (cov[(1, 1)] - 100.0).abs() < 1e-9);
    }

    #[test]
    fn pareto_k_recovers_the_tail_shape() {
        // Exact generalised Pareto draws (inverse CDF, shape ξ = 0.5 and ξ = 0.9): PSIS's k̂
        // estimates ξ; light tails (uniform weights on a grid) give k̂ < 0.5.
        let mut stream = RandomStream::new(11, 0, 0, Purpose::Custom(1));
        for xi in [0.5, 0.9] {
            let log_weights: Vec<f64> = (0..20_000)
                .map(|_| {
                    let u = stream.uniform();
                    math::ln((math::pow(u, -xi) - 1.0) / xi)
                })
                .collect();
            let k = pareto_k_hat(&log_weights).unwrap();
            assert!((k - xi).abs() < 0.1, "ξ = {xi}: k̂ = {k}");
        }
        let flat: Vec<f64> = (1..=4000)
            .map(|i| math::ln(f64::from(i) / 4000.0))
            .collect();
        assert!(pareto_k_hat(&flat).unwrap() < 0.5);
    }

    #[test]
    fn systematic_resampling_keeps_proportions() {
        // Weights ½, ¼, ¼ and 8 draws: exactly 4, 2 and 2 copies whatever the uniform.
        for u in [0.001, 0.5, 0.999] {
            let picks = systematic_resample(&[0.5, 0.25, 0.25], 8, u);
            let counts: Vec<usize> = (0..3)
                .map(|i| picks.iter().filter(|&&p| p == i).count())
                .collect();
            assert_eq!(counts, [4, 2, 2], "u = {u}");
        }
    }

    #[test]
    fn design_starts_are_distinct_sign_patterns() {
        assert_eq!(
            design_starts(3, 4, 1.0),
            [
                vec![1.0, 1.0, 1.0],
                vec![-1.0, -1.0, -1.0],
                vec![1.0, -1.0, 1.0],
                vec![-1.0, 1.0, -1.0]
            ]
        );
        // One random effect has only two such points.
        assert_eq!(design_starts(1, 4, 2.0), [vec![2.0], vec![-2.0]]);
        assert_eq!(design_starts(4, 6, 1.0)[4], [1.0, 1.0, -1.0, -1.0]);
    }
}
