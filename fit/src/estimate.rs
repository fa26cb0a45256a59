//! The outer problem: estimates of θ, Ω and σ, their standard errors, and the fit's
//! diagnostics.
//!
//! # FOCE-I
//!
//! The OFV of [`crate::foce`] is minimised over the unconstrained coordinates `x` of
//! [`ParameterSet`] (logs of positive parameters, Cholesky factor of Ω with log diagonal) by BFGS
//! with an Armijo backtracking line search (`c₁ = 10⁻⁴`), steps capped at 1 in every coordinate,
//! the inverse Hessian started at the inverse of the diagonal second differences of the OFV
//! (which the gradient's evaluations give for free), floored so that no coordinate moves by more
//! than 1 (Nocedal & Wright 2006, §6.1). Gradients are central finite differences with step `10⁻⁴`
//! (each probe re-solves every subject's conditional mode, warm-started at the current η̂; the
//! first modes come from the engine's multi-start MAP, `twin_engine::posterior::map_estimate`).
//! Convergence: the largest gradient component below [`FitOptions::gradient_tolerance`] (OFV per
//! unit of the coordinate); or, after two BFGS updates, a quasi-Newton step below
//! [`FitOptions::step_tolerance`] in every coordinate that predicts an OFV decrease below 10⁻⁶;
//! or, when the line search finds no (or only a negligible) decrease, a gradient below 100 times
//! the tolerance (the finite-difference noise floor: each OFV is exact only to the precision of
//! the subjects' conditional modes).
//!
//! Before the first iteration every coordinate is moved by ±0.1: one that changes the OFV by less
//! than `10⁻⁹·max(1, |OFV|)` either way has no information in the data, and the fit stops with
//! [`FitError::NotIdentifiable`] naming it. After every accepted step a typical value that came
//! within 10⁻⁴ (relative, on its scale) of a bound, or a standard deviation of Ω or σ below 10⁻⁵,
//! stops the fit with [`FitError::Diverged`].
//!
//! # Standard errors
//!
//! The covariance of the estimates is `2·H⁻¹` with `H` the central finite-difference Hessian of
//! the OFV in the coordinates `x` (step `10⁻³`; NONMEM's `$COV MATRIX=R`), mapped to natural
//! units by the delta method (`J·Cov·Jᵀ`, `J = ∂ψ/∂x` by finite differences of the exact map).
//! A Hessian with an eigenvalue at or below `10⁻⁸` of the largest one is singular: the fit stops
//! with [`FitError::NotIdentifiable`], naming the parameters that make up that eigenvector.
//!
//! # Diagnostics
//!
//! η-shrinkage `1 − SD(η̂_k)/ω_k` over subjects with observations (SD with denominator `n − 1`),
//! ε-shrinkage `1 − SD(IWRES)` over uncensored observations, and per observation PRED, IPRED,
//! CWRES and IWRES ([`ObservationDiagnostics`]).

use twin_engine::Model;
use twin_engine::posterior::{Individual, IndividualOptions, MapOptions, map_estimate};
use twin_engine::records::Dataset;
use twin_engine::solver::SolverOptions;

use crate::foce::{InnerOptions, ObservationDiagnostics, SubjectProblem, SubjectSolution};
use crate::parameters::{ParameterSet, ParameterSettings, Slot, Values};
use crate::saem::SaemOptions;
use crate::{FitError, map_subjects};

/// Estimation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// First-order conditional estimation with interaction ([`crate::foce`]).
    #[default]
    FoceI,
    /// Stochastic approximation EM ([`crate::saem`]), then FOCE-I's OFV and standard errors at its
    /// estimates.
    Saem,
}

impl Method {
    /// The method's name in reports: `FOCE-I` or `SAEM`.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::FoceI => "FOCE-I",
            Self::Saem => "SAEM",
        }
    }

    /// Parses `foce-i` (or `focei`) and `saem`, case-insensitive.
    ///
    /// # Errors
    /// [`FitError::Option`] naming the accepted words.
    pub fn parse(text: &str) -> Result<Self, FitError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "foce-i" | "focei" | "foce_i" => Ok(Self::FoceI),
            "saem" => Ok(Self::Saem),
            _ => Err(FitError::option(
                "--method",
                format!("'{text}' is not a method; expected foce-i or saem"),
            )),
        }
    }
}

/// Options of [`fit`].
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Estimation method. By default, [`Method::FoceI`].
    pub method: Method,
    /// Which parameters are estimated, fixed or started elsewhere. By default, the rules of
    /// [`crate::parameters`].
    pub parameters: ParameterSettings,
    /// ODE solver options (models without a closed form). By default, `rtol = 1e-9`,
    /// `atol = 1e-12`: finite differences of the objective need predictions far more precise
    /// than a forecast does.
    pub solver: SolverOptions,
    /// Largest number of outer iterations (FOCE-I); 0 evaluates the OFV, η̂ and diagnostics at
    /// the initial estimates without estimating (NONMEM's `MAXEVAL=0`). By default, `500`.
    pub max_iterations: usize,
    /// Convergence: largest gradient component of the OFV per unit of the coordinates. By
    /// default, `1e-3`.
    pub gradient_tolerance: f64,
    /// Convergence: largest coordinate change of the quasi-Newton step `−H⁻¹g` (after two BFGS
    /// updates; about the relative change of log-scale parameters), together with a predicted
    /// OFV decrease `−½gᵀp` below 10⁻⁶. By default, `1e-4` (four significant digits; NONMEM's
    /// default asks for three).
    pub step_tolerance: f64,
    /// Options of each subject's conditional mode. By default, [`InnerOptions::default`].
    pub inner: InnerOptions,
    /// Compute standard errors (and check identifiability) from the Hessian. By default, `true`.
    pub covariance: bool,
    /// Options of SAEM. By default, [`SaemOptions::default`].
    pub saem: SaemOptions,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            method: Method::FoceI,
            parameters: ParameterSettings::default(),
            solver: SolverOptions {
                rtol: 1e-9,
                atol: 1e-12,
                ..SolverOptions::default()
            },
            max_iterations: 500,
            gradient_tolerance: 1e-3,
            step_tolerance: 1e-4,
            inner: InnerOptions::default(),
            covariance: true,
            saem: SaemOptions::default(),
        }
    }
}

/// One parameter in the results.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Name (see [`crate::parameters`]).
    pub name: String,
    /// Final value (natural units: θ, coefficient, variance or covariance, standard deviation).
    pub value: f64,
    /// Initial value (or the fixed value).
    pub initial: f64,
    /// Whether it was estimated.
    pub estimated: bool,
    /// Standard error, when the covariance step ran.
    pub se: Option<f64>,
    /// Relative standard error in % (`100·SE/|value|`).
    pub rse_percent: Option<f64>,
}

/// One outer iteration (FOCE-I) or one SAEM iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct Iteration {
    /// Iteration number, from 0 (the initial estimates).
    pub iteration: usize,
    /// FOCE-I: the OFV; SAEM: `−2 log p(y, η)` of the current chains (no constants).
    pub objective: f64,
    /// Natural values of the estimated parameters ([`FitResult::estimated_names`] order).
    pub values: Vec<f64>,
    /// FOCE-I: largest gradient component; SAEM: NaN.
    pub gradient_max: f64,
    /// FOCE-I: accepted step length of the line search; SAEM: the step size γ.
    pub step: f64,
    /// Objective evaluations (FOCE-I) or simulations (SAEM) so far.
    pub n_evaluations: usize,
}

/// One subject's results.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectResult {
    /// Subject ID.
    pub id: String,
    /// Empirical Bayes estimate η̂ (conditional mode), one per random effect.
    pub eta: Vec<f64>,
    /// The subject's part of the OFV.
    pub ofv: f64,
    /// Observations of the subject.
    pub n_observations: usize,
    /// Diagnostics of each observation.
    pub diagnostics: Vec<ObservationDiagnostics>,
}

/// The covariance of the estimates.
#[derive(Debug, Clone, PartialEq)]
pub struct Covariance {
    /// Row-major covariance of the estimated parameters in natural units
    /// ([`FitResult::estimated_names`] order).
    pub matrix: Vec<f64>,
    /// Smallest over largest eigenvalue of the Hessian (coordinates `x`).
    pub condition_ratio: f64,
}

/// The result of a fit.
#[derive(Debug, Clone)]
pub struct FitResult {
    /// The method used.
    pub method: Method,
    /// OFV at the estimates, `−2 log L` without the `n·ln 2π` constant (FOCE-I's, also for SAEM).
    pub ofv: f64,
    /// Subjects in the data.
    pub n_subjects: usize,
    /// Observations in the likelihood.
    pub n_observations: usize,
    /// Every parameter, estimated or fixed.
    pub estimates: Vec<Estimate>,
    /// Names of the estimated parameters, in coordinate order.
    pub estimated_names: Vec<String>,
    /// The full parameter set at the estimates.
    pub values: Values,
    /// The iteration log.
    pub iterations: Vec<Iteration>,
    /// Per subject: η̂, OFV part and diagnostics.
    pub subjects: Vec<SubjectResult>,
    /// Names of the random effects (η order).
    pub eta_names: Vec<String>,
    /// η-shrinkage per free random effect: `(name, 1 − SD(η̂)/ω)`.
    pub shrinkage: Vec<(String, f64)>,
    /// ε-shrinkage `1 − SD(IWRES)`.
    pub epsilon_shrinkage: f64,
    /// Covariance of the estimates (`None` when not requested).
    pub covariance: Option<Covariance>,
    /// Objective evaluations (each solves every subject's conditional mode).
    pub n_evaluations: usize,
    /// How the optimiser stopped.
    pub convergence: String,
    /// Notes for the reader (large RSE, high shrinkage, near-zero variances).
    pub notes: Vec<String>,
}

/// Fits `model` to `dataset`.
///
/// `progress` is called after every iteration with its record.
///
/// # Errors
/// [`FitError::Engine`] for data the engine rejects (file and line), [`FitError::Option`] for
/// unusable options, [`FitError::Initial`] when the objective cannot be evaluated at the initial
/// estimates, [`FitError::NotIdentifiable`], [`FitError::Diverged`], [`FitError::Subject`] and
/// [`FitError::NoConvergence`] for fits that cannot end well (each names the parameter or
/// subject and the iteration).
pub fn fit<M: Model + ?Sized>(
    model: &M,
    dataset: &Dataset,
    options: &FitOptions,
    progress: &mut dyn FnMut(&Iteration),
) -> Result<FitResult, FitError> {
    options.solver.validate()?;
    let individual_options = IndividualOptions {
        solver: options.solver,
        ..IndividualOptions::default()
    };
    // The data are checked (file and line) under the model with the requested error models.
    let n_out = model.spec().outputs.len();
    let checking = ParameterSet::new(
        model,
        &vec![Vec::new(); n_out],
        &ParameterSettings {
            error_models: options.parameters.error_models.clone(),
            ..ParameterSettings::default()
        },
    )?;
    let population = checking.population(&checking.values(&checking.initial_coordinates()))?;
    let mut observed = vec![Vec::new(); n_out];
    for subject_idx in 0..dataset.subjects.len() {
        let individual = Individual::new(
            model,
            &population,
            dataset,
            subject_idx,
            &individual_options,
        )?;
        for obs in individual.observations() {
            observed[obs.output].push(obs.value);
        }
    }
    let n_observations = observed.iter().map(Vec::len).sum();
    if n_observations == 0 {
        return Err(FitError::Engine(twin_engine::EngineError::input(
            &dataset.source,
            0,
            "the file has no observations (rows with MDV 0 and a DV); nothing to fit",
        )));
    }
    let set = ParameterSet::new(model, &observed, &options.parameters)?;
    if set.n_coordinates() == 0 && options.max_iterations > 0 {
        return Err(FitError::option(
            "--fix",
            "every parameter is fixed; nothing to estimate (set the maximum number of \
             iterations to 0 to evaluate the OFV only)",
        ));
    }
    let evaluator = Evaluator {
        model,
        dataset,
        set: &set,
        individual_options,
        inner: options.inner,
    };
    let x0 = set.initial_coordinates();
    let etas0 = evaluator.initial_etas(&x0)?;
    let (x, etas, iterations, n_evaluations, convergence) = match options.method {
        _ if options.max_iterations == 0 => {
            let record = Iteration {
                iteration: 0,
                objective: f64::NAN,
                values: set.estimated_values(&x0),
                gradient_max: f64::NAN,
                step: 0.0,
                n_evaluations: 0,
            };
            progress(&record);
            (
                x0,
                etas0,
                vec![record],
                0,
                "evaluation only (maximum iterations 0): the OFV at the initial estimates"
                    .to_owned(),
            )
        }
        Method::FoceI => foce_minimise(&evaluator, x0, etas0, options, progress)?,
        Method::Saem => {
            let (x, etas, iterations, n_simulations) =
                crate::saem::run(&evaluator, &x0, &etas0, &options.saem, progress)?;
            (
                x,
                etas,
                iterations,
                n_simulations,
                format!(
                    "SAEM: {} + {} iterations (step size 1, then 1/k)",
                    options.saem.burn_in_iterations, options.saem.smoothing_iterations
                ),
            )
        }
    };
    evaluator.finish(
        options,
        &x,
        &etas,
        iterations,
        n_evaluations,
        convergence,
        n_observations,
    )
}

/// Evaluates the OFV for the coordinates of a parameter set.
pub(crate) struct Evaluator<'a, M: Model + ?Sized> {
    pub(crate) model: &'a M,
    pub(crate) dataset: &'a Dataset,
    pub(crate) set: &'a ParameterSet,
    pub(crate) individual_options: IndividualOptions,
    pub(crate) inner: InnerOptions,
}

/// The OFV and the conditional modes at one point.
#[derive(Debug, Clone)]
pub(crate) struct Evaluation {
    pub(crate) ofv: f64,
    pub(crate) etas: Vec<Vec<f64>>,
}

/// Why an evaluation failed.
#[derive(Debug, Clone)]
pub(crate) enum EvaluationFailure {
    /// The coordinates are outside the parameter bounds or give an unusable Ω.
    Outside(String),
    /// A subject failed.
    Subject { subject_idx: usize, reason: String },
}

impl EvaluationFailure {
    fn describe<M: Model + ?Sized>(&self, evaluator: &Evaluator<'_, M>) -> String {
        match self {
            Self::Outside(reason) => reason.clone(),
            Self::Subject {
                subject_idx,
                reason,
            } => format!(
                "ID {}: {reason}",
                evaluator.dataset.subjects[*subject_idx].id
            ),
        }
    }
}

impl<M: Model + ?Sized> Evaluator<'_, M> {
    /// The OFV at `x`, every subject's mode warm-started at `etas`.
    pub(crate) fn evaluate(
        &self,
        x: &[f64],
        etas: &[Vec<f64>],
    ) -> Result<Evaluation, EvaluationFailure> {
        let values = self.set.values(x);
        if !self.set.within_bounds(&values) {
            return Err(EvaluationFailure::Outside(
                "a typical value is outside its bounds".to_owned(),
            ));
        }
        let population = self
            .set
            .population(&values)
            .map_err(|e| EvaluationFailure::Outside(e.to_string()))?;
        let solutions = map_subjects(self.dataset.subjects.len(), |subject_idx| {
            let mut problem = SubjectProblem::new(
                self.model,
                &population,
                self.dataset,
                subject_idx,
                &self.individual_options,
                &self.inner,
            )
            .map_err(|e| e.to_string())?;
            problem.solve(&etas[subject_idx], &self.inner)
        });
        let mut ofv = 0.0;
        let mut res_etas = Vec::with_capacity(solutions.len());
        for (subject_idx, solution) in solutions.into_iter().enumerate() {
            let solution = solution.map_err(|reason| EvaluationFailure::Subject {
                subject_idx,
                reason,
            })?;
            if !solution.ofv.is_finite() {
                return Err(EvaluationFailure::Subject {
                    subject_idx,
                    reason: format!("its part of the OFV is {}", solution.ofv),
                });
            }
            ofv += solution.ofv;
            res_etas.push(solution.eta);
        }
        Ok(Evaluation {
            ofv,
            etas: res_etas,
        })
    }

    /// The OFV at `x` or +∞.
    fn value(&self, x: &[f64], etas: &[Vec<f64>]) -> f64 {
        self.evaluate(x, etas).map_or(f64::INFINITY, |e| e.ofv)
    }

    /// Each subject's MAP at the initial estimates (the engine's multi-start BFGS), the starting
    /// points of the conditional modes.
    fn initial_etas(&self, x0: &[f64]) -> Result<Vec<Vec<f64>>, FitError> {
        let population = self.set.population(&self.set.values(x0))?;
        let results = map_subjects(self.dataset.subjects.len(), |subject_idx| {
            let mut individual = Individual::new(
                self.model,
                &population,
                self.dataset,
                subject_idx,
                &self.individual_options,
            )
            .map_err(|e| e.to_string())?;
            map_estimate(&mut individual, &MapOptions::default())
                .map(|m| m.eta)
                .map_err(|e| e.to_string())
        });
        results
            .into_iter()
            .enumerate()
            .map(|(subject_idx, r)| {
                r.map_err(|reason| FitError::Initial {
                    reason: format!("ID {}: {reason}", self.dataset.subjects[subject_idx].id),
                })
            })
            .collect()
    }

    /// Every subject's solution and diagnostics at `x`.
    fn subjects(
        &self,
        x: &[f64],
        etas: &[Vec<f64>],
        iteration: usize,
    ) -> Result<Vec<(SubjectSolution, Vec<ObservationDiagnostics>)>, FitError> {
        let values = self.set.values(x);
        let population = self.set.population(&values)?;
        let results = map_subjects(self.dataset.subjects.len(), |subject_idx| {
            let mut problem = SubjectProblem::new(
                self.model,
                &population,
                self.dataset,
                subject_idx,
                &self.individual_options,
                &self.inner,
            )
            .map_err(|e| e.to_string())?;
            let solution = problem.solve(&etas[subject_idx], &self.inner)?;
            let diagnostics = problem.diagnostics(&solution)?;
            Ok((solution, diagnostics))
        });
        results
            .into_iter()
            .enumerate()
            .map(|(subject_idx, r)| {
                r.map_err(|reason: String| FitError::Subject {
                    iteration,
                    id: self.dataset.subjects[subject_idx].id.clone(),
                    reason,
                })
            })
            .collect()
    }

    /// Central finite-difference gradient of the OFV at `x` (value `f`), warm-started at `etas`,
    /// and the diagonal second differences the same evaluations give (NaN where a side failed).
    fn gradient(
        &self,
        x: &[f64],
        f: f64,
        etas: &[Vec<f64>],
        iteration: usize,
        n_evaluations: &mut usize,
    ) -> Result<(Vec<f64>, Vec<f64>), FitError> {
        let mut probe = x.to_vec();
        let mut g = vec![0.0; x.len()];
        let mut curvature = vec![f64::NAN; x.len()];
        for k in 0..x.len() {
            let h = GRADIENT_STEP * x[k].abs().max(1.0);
            probe[k] = x[k] + h;
            let plus = self.evaluate(&probe, etas);
            probe[k] = x[k] - h;
            let minus = self.evaluate(&probe, etas);
            probe[k] = x[k];
            *n_evaluations += 2;
            g[k] = match (&plus, &minus) {
                (Ok(p), Ok(m)) => {
                    curvature[k] = (p.ofv - 2.0 * f + m.ofv) / (h * h);
                    (p.ofv - m.ofv) / (2.0 * h)
                }
                (Ok(p), Err(_)) => (p.ofv - f) / h,
                (Err(_), Ok(m)) => (f - m.ofv) / h,
                (Err(e), Err(_)) => {
                    return Err(FitError::NoConvergence {
                        iteration,
                        message: format!(
                            "the gradient of the OFV with respect to {} cannot be evaluated: {}",
                            self.name_of_coordinate(k),
                            e.describe(self)
                        ),
                    });
                }
            };
        }
        Ok((g, curvature))
    }

    /// Name of the estimated parameter behind coordinate `k`.
    pub(crate) fn name_of_coordinate(&self, k: usize) -> String {
        self.set.parameters()[self.set.estimated()[k]].name.clone()
    }

    /// Results at the final coordinates: standard errors, η̂, diagnostics, shrinkage.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        options: &FitOptions,
        x: &[f64],
        etas: &[Vec<f64>],
        mut iterations: Vec<Iteration>,
        mut n_evaluations: usize,
        convergence: String,
        n_observations: usize,
    ) -> Result<FitResult, FitError> {
        let last_iteration = iterations.last().map_or(0, |i| i.iteration);
        let evaluation = self
            .evaluate(x, etas)
            .map_err(|e| FitError::NoConvergence {
                iteration: last_iteration,
                message: format!(
                    "the OFV cannot be evaluated at the final estimates: {}",
                    e.describe(self)
                ),
            })?;
        n_evaluations += 1;
        if options.max_iterations == 0 {
            for record in &mut iterations {
                record.objective = evaluation.ofv;
                record.n_evaluations = n_evaluations;
            }
        }
        let values = self.set.values(x);
        let estimated = self.set.estimated();
        let estimated_names: Vec<String> = estimated
            .iter()
            .map(|&i| self.set.parameters()[i].name.clone())
            .collect();
        let covariance = if options.covariance && !x.is_empty() && options.max_iterations > 0 {
            Some(self.covariance(
                x,
                evaluation.ofv,
                &evaluation.etas,
                last_iteration,
                &mut n_evaluations,
            )?)
        } else {
            None
        };
        let mut estimates = Vec::new();
        for (idx, p) in self.set.parameters().iter().enumerate() {
            let value = self.set.value_of(&values, idx);
            let position = estimated.iter().position(|&e| e == idx);
            let se = match (&covariance, position) {
                (Some(c), Some(k)) => {
                    let n = estimated.len();
                    Some(c.matrix[k * n + k].max(0.0).sqrt())
                }
                _ => None,
            };
            estimates.push(Estimate {
                name: p.name.clone(),
                value,
                initial: p.initial,
                estimated: p.estimated,
                se,
                rse_percent: se.map(|s| 100.0 * s / value.abs()),
            });
        }
        let solutions = self.subjects(x, &evaluation.etas, last_iteration)?;
        let eta_names = self.set.eta_names();
        let n_eta = eta_names.len();
        let subjects: Vec<SubjectResult> = solutions
            .into_iter()
            .zip(&self.dataset.subjects)
            .map(|((solution, diagnostics), subject)| SubjectResult {
                id: subject.id.clone(),
                eta: solution.eta,
                ofv: solution.ofv,
                n_observations: diagnostics.len(),
                diagnostics,
            })
            .collect();
        let mut shrinkage = Vec::new();
        for &k in self.set.free_eta() {
            let etas: Vec<f64> = subjects
                .iter()
                .filter(|s| s.n_observations > 0)
                .map(|s| s.eta[k])
                .collect();
            let omega = values.omega[k * n_eta + k].sqrt();
            shrinkage.push((eta_names[k].clone(), 1.0 - sample_sd(&etas) / omega));
        }
        let iwres: Vec<f64> = subjects
            .iter()
            .flat_map(|s| s.diagnostics.iter().map(|d| d.iwres))
            .filter(|v| v.is_finite())
            .collect();
        let epsilon_shrinkage = 1.0 - sample_sd(&iwres);
        let mut notes = Vec::new();
        for e in &estimates {
            if let Some(rse) = e.rse_percent
                && rse > 50.0
            {
                notes.push(format!(
                    "{} has a relative standard error of {rse:.0} %: the data determine it poorly",
                    e.name
                ));
            }
        }
        for e in estimates
            .iter()
            .filter(|e| e.estimated && e.name.starts_with("OMEGA("))
        {
            if !e.name.contains(',') && e.value.sqrt() < NEAR_ZERO_OMEGA {
                notes.push(format!(
                    "{} is near zero (ω = {:.2e}): the data hardly support this variability; \
                     consider --fix {}=0",
                    e.name,
                    e.value.sqrt(),
                    e.name
                ));
            }
        }
        for (name, s) in &shrinkage {
            if *s > 0.3 {
                notes.push(format!(
                    "η-shrinkage of {name} is {:.0} %: its individual estimates lean on the \
                     population value, so EBE-based diagnostics of {name} are unreliable",
                    100.0 * s
                ));
            }
        }
        Ok(FitResult {
            method: options.method,
            ofv: evaluation.ofv,
            n_subjects: self.dataset.subjects.len(),
            n_observations,
            estimates,
            estimated_names,
            values,
            iterations,
            subjects,
            eta_names,
            shrinkage,
            epsilon_shrinkage,
            covariance,
            n_evaluations,
            convergence,
            notes,
        })
    }

    /// The covariance step (see the module documentation).
    fn covariance(
        &self,
        x: &[f64],
        f: f64,
        etas: &[Vec<f64>],
        iteration: usize,
        n_evaluations: &mut usize,
    ) -> Result<Covariance, FitError> {
        let n = x.len();
        let h: Vec<f64> = x.iter().map(|v| HESSIAN_STEP * v.abs().max(1.0)).collect();
        let mut probe = x.to_vec();
        let eval = |probe: &[f64], n_evaluations: &mut usize| {
            *n_evaluations += 1;
            self.evaluate(probe, etas)
                .map(|e| e.ofv)
                .map_err(|e| FitError::NoConvergence {
                    iteration,
                    message: format!(
                        "the covariance step cannot evaluate the OFV next to the estimates: {}",
                        e.describe(self)
                    ),
                })
        };
        let mut hessian = nalgebra::DMatrix::zeros(n, n);
        for i in 0..n {
            probe[i] = x[i] + h[i];
            let plus = eval(&probe, n_evaluations)?;
            probe[i] = x[i] - h[i];
            let minus = eval(&probe, n_evaluations)?;
            probe[i] = x[i];
            hessian[(i, i)] = (plus - 2.0 * f + minus) / (h[i] * h[i]);
            for j in 0..i {
                let mut corner = |si: f64, sj: f64, n_evaluations: &mut usize| {
                    probe[i] = x[i] + si * h[i];
                    probe[j] = x[j] + sj * h[j];
                    let v = eval(&probe, n_evaluations);
                    probe[i] = x[i];
                    probe[j] = x[j];
                    v
                };
                let v = (corner(1.0, 1.0, n_evaluations)?
                    - corner(1.0, -1.0, n_evaluations)?
                    - corner(-1.0, 1.0, n_evaluations)?
                    + corner(-1.0, -1.0, n_evaluations)?)
                    / (4.0 * h[i] * h[j]);
                hessian[(i, j)] = v;
                hessian[(j, i)] = v;
            }
        }
        let eigen = nalgebra::SymmetricEigen::new(hessian.clone());
        let (mut smallest, mut largest) = (0, 0);
        for k in 0..n {
            if eigen.eigenvalues[k] < eigen.eigenvalues[smallest] {
                smallest = k;
            }
            if eigen.eigenvalues[k] > eigen.eigenvalues[largest] {
                largest = k;
            }
        }
        let (lambda_min, lambda_max) = (eigen.eigenvalues[smallest], eigen.eigenvalues[largest]);
        let positive_definite = lambda_min > SINGULAR_RATIO * lambda_max;
        if !positive_definite {
            let vector = eigen.eigenvectors.column(smallest);
            let mut involved: Vec<(f64, String)> = (0..n)
                .filter(|&k| vector[k].abs() >= 0.3)
                .map(|k| (vector[k].abs(), self.name_of_coordinate(k)))
                .collect();
            involved.sort_by(|a, b| b.0.total_cmp(&a.0));
            return Err(FitError::NotIdentifiable {
                iteration,
                parameters: involved.into_iter().map(|(_, name)| name).collect(),
                message: format!(
                    "the Hessian of the OFV at the estimates is {} (eigenvalues {lambda_min:.3e} \
                     to {lambda_max:.3e}): the data cannot tell these parameters apart from a \
                     change along that direction; fix one of them (--fix NAME=VALUE) or simplify \
                     the model",
                    if lambda_min <= 0.0 {
                        "not positive definite"
                    } else {
                        "singular"
                    }
                ),
            });
        }
        let inverse = eigen.eigenvectors.clone()
            * nalgebra::DMatrix::from_diagonal(&eigen.eigenvalues.map(|l| 2.0 / l))
            * eigen.eigenvectors.transpose();
        // Delta method: J = ∂ψ/∂x of the exact map from coordinates to natural values.
        let psi = |x: &[f64]| self.set.estimated_values(x);
        let mut jacobian = nalgebra::DMatrix::zeros(n, n);
        let mut probe = x.to_vec();
        for k in 0..n {
            let step = 1e-6 * x[k].abs().max(1.0);
            probe[k] = x[k] + step;
            let plus = psi(&probe);
            probe[k] = x[k] - step;
            let minus = psi(&probe);
            probe[k] = x[k];
            for r in 0..n {
                jacobian[(r, k)] = (plus[r] - minus[r]) / (2.0 * step);
            }
        }
        let natural = &jacobian * inverse * jacobian.transpose();
        Ok(Covariance {
            matrix: natural.transpose().iter().copied().collect(),
            condition_ratio: lambda_min / lambda_max,
        })
    }
}

/// Step of the gradient's central differences, in coordinate units (relative above 1).
const GRADIENT_STEP: f64 = 1e-4;
/// Step of the Hessian's central differences, in coordinate units (relative above 1).
const HESSIAN_STEP: f64 = 1e-3;
/// A Hessian eigenvalue at or below this fraction of the largest one is singular.
const SINGULAR_RATIO: f64 = 1e-8;
/// Largest change of any coordinate in one outer step.
const MAX_COORDINATE_STEP: f64 = 1.0;
/// Armijo constant of the outer line search.
const OUTER_ARMIJO_C1: f64 = 1e-4;
/// Largest OFV decrease the quasi-Newton model may still predict at convergence.
const PREDICTED_DECREASE_TOLERANCE: f64 = 1e-6;
/// Probe of the identifiability pre-check, in coordinate units.
const INFLUENCE_PROBE: f64 = 0.1;
/// A random effect with a standard deviation below this gets a note (1 % variability).
const NEAR_ZERO_OMEGA: f64 = 0.01;
/// Smallest standard deviation (of Ω or a residual error) before the fit counts as collapsed.
const COLLAPSED_SD: f64 = 1e-5;

/// Sample standard deviation (denominator `n − 1`); NaN below two values.
fn sample_sd(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return f64::NAN;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
}

/// What [`foce_minimise`] returns: coordinates, modes, iterations, evaluations, how it stopped.
type Minimum = (Vec<f64>, Vec<Vec<f64>>, Vec<Iteration>, usize, String);

/// BFGS on the FOCE-I OFV (see the module documentation).
fn foce_minimise<M: Model + ?Sized>(
    evaluator: &Evaluator<'_, M>,
    x0: Vec<f64>,
    etas0: Vec<Vec<f64>>,
    options: &FitOptions,
    progress: &mut dyn FnMut(&Iteration),
) -> Result<Minimum, FitError> {
    let n = x0.len();
    let start = evaluator
        .evaluate(&x0, &etas0)
        .map_err(|e| FitError::Initial {
            reason: e.describe(evaluator),
        })?;
    let mut n_evaluations = 1;
    check_influence(evaluator, &x0, &start, &mut n_evaluations)?;
    let mut x = x0;
    let mut f = start.ofv;
    let mut etas = start.etas;
    let (mut g, mut curvature) = evaluator.gradient(&x, f, &etas, 0, &mut n_evaluations)?;
    let g_max = |g: &[f64]| g.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
    // The inverse Hessian starts (and restarts) as the inverse of the diagonal second
    // differences that the gradient's evaluations give, each floored so that the step is at most
    // 1 in its coordinate: a Newton step per coordinate, so that one steep coordinate (typically
    // a residual SD far from its value) does not set the pace for the others.
    let scaled = |g: &[f64], curvature: &[f64]| {
        nalgebra::DMatrix::from_diagonal(&nalgebra::DVector::from_iterator(
            n,
            g.iter().zip(curvature).map(|(gk, ck)| {
                let floor = gk.abs() / MAX_COORDINATE_STEP;
                let c = if ck.is_finite() { ck.max(floor) } else { floor };
                1.0 / c.max(1e-8)
            }),
        ))
    };
    let mut h_inv = scaled(&g, &curvature);
    let mut updated = false;
    let mut n_updates = 0usize;
    let mut iterations = Vec::new();
    let mut last_step = 0.0;
    let tol = options.gradient_tolerance;
    for iteration in 0..=options.max_iterations {
        let record = Iteration {
            iteration,
            objective: f,
            values: evaluator.set.estimated_values(&x),
            gradient_max: g_max(&g),
            step: last_step,
            n_evaluations,
        };
        progress(&record);
        iterations.push(record);
        if g_max(&g) <= tol {
            return Ok((
                x,
                etas,
                iterations,
                n_evaluations,
                format!(
                    "converged at iteration {iteration}: largest gradient component {:.2e} ≤ {tol:e}",
                    g_max(&g)
                ),
            ));
        }
        if iteration == options.max_iterations {
            break;
        }
        let g_vec = nalgebra::DVector::from_column_slice(&g);
        if n_updates >= 2 {
            let newton = -(&h_inv * &g_vec);
            let predicted_decrease = -0.5 * g_vec.dot(&newton);
            if newton.amax() <= options.step_tolerance
                && (0.0..=PREDICTED_DECREASE_TOLERANCE).contains(&predicted_decrease)
            {
                return Ok((
                    x,
                    etas,
                    iterations,
                    n_evaluations,
                    format!(
                        "converged at iteration {iteration}: the quasi-Newton step is {:.1e} ≤ \
                         {:e} in every coordinate and predicts an OFV decrease of {:.1e} \
                         (largest gradient component {:.2e})",
                        newton.amax(),
                        options.step_tolerance,
                        predicted_decrease,
                        g_max(&g)
                    ),
                ));
            }
        }
        let mut accepted = None;
        for attempt in 0..2 {
            let mut p = -(&h_inv * &g_vec);
            if g_vec.dot(&p) >= 0.0 || attempt == 1 {
                h_inv = scaled(&g, &curvature);
                updated = false;
                n_updates = 0;
                p = -(&h_inv * &g_vec);
            }
            let p_max = p.amax();
            if p_max > MAX_COORDINATE_STEP {
                p *= MAX_COORDINATE_STEP / p_max;
            }
            let slope = g_vec.dot(&p);
            let mut t = 1.0;
            for _ in 0..30 {
                let trial: Vec<f64> = x.iter().zip(p.iter()).map(|(a, b)| a + t * b).collect();
                n_evaluations += 1;
                let value = evaluator.evaluate(&trial, &etas);
                match value {
                    Ok(e) if e.ofv <= f + OUTER_ARMIJO_C1 * t * slope => {
                        accepted = Some((trial, e, t * p.amax()));
                        break;
                    }
                    Ok(e) => {
                        let curvature = e.ofv - f - slope * t;
                        t = (-slope * t * t / (2.0 * curvature)).clamp(0.1 * t, 0.5 * t);
                    }
                    Err(_) => t *= 0.1,
                }
            }
            if accepted.is_some() || !updated {
                break;
            }
        }
        let Some((x_new, evaluation, step)) = accepted else {
            if g_max(&g) <= 100.0 * tol {
                return Ok((
                    x,
                    etas,
                    iterations,
                    n_evaluations,
                    format!(
                        "converged at iteration {iteration} at the noise floor: the line search \
                         found no decrease with the largest gradient component {:.2e} ≤ 100 × \
                         {tol:e}",
                        g_max(&g)
                    ),
                ));
            }
            check_bounds(evaluator, &x, iteration, 1e-2)?;
            let worst = (0..n)
                .max_by(|&a, &b| g[a].abs().total_cmp(&g[b].abs()))
                .unwrap_or(0);
            return Err(FitError::NoConvergence {
                iteration,
                message: format!(
                    "the line search found no lower OFV than {f:.4}; the largest gradient \
                     component is {:.3e}, for {}. Try other initial estimates (--init) or fix \
                     that parameter",
                    g[worst],
                    evaluator.name_of_coordinate(worst)
                ),
            });
        };
        if step < 1e-8 && g_max(&g) <= 100.0 * tol {
            return Ok((
                x,
                etas,
                iterations,
                n_evaluations,
                format!(
                    "converged at iteration {iteration} at the noise floor: the accepted step was \
                     {step:.1e} with the largest gradient component {:.2e} ≤ 100 × {tol:e}",
                    g_max(&g)
                ),
            ));
        }
        check_bounds(evaluator, &x_new, iteration + 1, 1e-4)?;
        let (g_new, curvature_new) = evaluator.gradient(
            &x_new,
            evaluation.ofv,
            &evaluation.etas,
            iteration + 1,
            &mut n_evaluations,
        )?;
        let s = nalgebra::DVector::from_iterator(n, x_new.iter().zip(&x).map(|(a, b)| a - b));
        let y = nalgebra::DVector::from_iterator(n, g_new.iter().zip(&g).map(|(a, b)| a - b));
        let sy = s.dot(&y);
        if sy > 1e-12 * s.norm() * y.norm() {
            let rho = 1.0 / sy;
            let eye = nalgebra::DMatrix::<f64>::identity(n, n);
            let left = &eye - rho * &s * y.transpose();
            let right = &eye - rho * &y * s.transpose();
            h_inv = &left * &h_inv * &right + rho * &s * s.transpose();
            updated = true;
            n_updates += 1;
        }
        x = x_new;
        f = evaluation.ofv;
        etas = evaluation.etas;
        g = g_new;
        curvature = curvature_new;
        last_step = step;
    }
    let worst = (0..n)
        .max_by(|&a, &b| g[a].abs().total_cmp(&g[b].abs()))
        .unwrap_or(0);
    Err(FitError::NoConvergence {
        iteration: options.max_iterations,
        message: format!(
            "{} iterations were not enough; the largest gradient component is {:.3e}, for {}",
            options.max_iterations,
            g[worst],
            evaluator.name_of_coordinate(worst)
        ),
    })
}

/// Stops with [`FitError::NotIdentifiable`] when moving a coordinate by ±0.1 leaves the OFV
/// unchanged (see the module documentation).
fn check_influence<M: Model + ?Sized>(
    evaluator: &Evaluator<'_, M>,
    x: &[f64],
    start: &Evaluation,
    n_evaluations: &mut usize,
) -> Result<(), FitError> {
    let tol = 1e-9 * start.ofv.abs().max(1.0);
    let mut flat = Vec::new();
    let mut probe = x.to_vec();
    for k in 0..x.len() {
        let mut unchanged = true;
        for sign in [1.0, -1.0] {
            probe[k] = x[k] + sign * INFLUENCE_PROBE;
            *n_evaluations += 1;
            let value = evaluator.value(&probe, &start.etas);
            unchanged &= value.is_finite() && (value - start.ofv).abs() <= tol;
        }
        probe[k] = x[k];
        if unchanged {
            flat.push(evaluator.name_of_coordinate(k));
        }
    }
    if flat.is_empty() {
        Ok(())
    } else {
        Err(FitError::NotIdentifiable {
            iteration: 0,
            parameters: flat,
            message: format!(
                "moving each by ±{INFLUENCE_PROBE} on its scale changes the OFV by less than \
                 {tol:.1e}: the data hold no information on it (e.g. an absorption rate without \
                 oral doses). Fix it with --fix NAME=VALUE (a variance with OMEGA(...)=0)"
            ),
        })
    }
}

/// Stops with [`FitError::Diverged`] when a typical value is within `relative` of a bound (on
/// its coordinate scale) or a standard deviation of Ω or σ collapsed below 10⁻⁵.
fn check_bounds<M: Model + ?Sized>(
    evaluator: &Evaluator<'_, M>,
    x: &[f64],
    iteration: usize,
    relative: f64,
) -> Result<(), FitError> {
    let set = evaluator.set;
    let values = set.values(x);
    let spec = evaluator.model.spec();
    for idx in set.estimated() {
        let p = &set.parameters()[idx];
        let value = set.value_of(&values, idx);
        match p.slot {
            Slot::Typical(j) => {
                let (lower, upper) = set.bounds(j);
                let near = |bound: f64| {
                    if lower >= 0.0 && bound > 0.0 {
                        (value.ln() - bound.ln()).abs() <= relative
                    } else {
                        (value - bound).abs() <= relative * bound.abs().max(1.0)
                    }
                };
                for (bound, which) in [(lower, "lower"), (upper, "upper")] {
                    if bound.is_finite() && near(bound) {
                        return Err(FitError::Diverged {
                            iteration,
                            parameter: p.name.clone(),
                            message: format!(
                                "reached its {which} bound {bound} {} (value {value}): the data \
                                 push it out of the model's admissible range; check the data's \
                                 units and the model, or fix it",
                                spec.parameters[j].unit
                            ),
                        });
                    }
                }
            }
            Slot::Variance(_) | Slot::Sd { .. } => {
                let sd = if matches!(p.slot, Slot::Variance(_)) {
                    value.sqrt()
                } else {
                    value
                };
                let collapsed = sd.is_nan() || sd < COLLAPSED_SD;
                if collapsed {
                    return Err(FitError::Diverged {
                        iteration,
                        parameter: p.name.clone(),
                        message: format!(
                            "collapsed towards 0 (standard deviation {sd:.2e}): the data do not \
                             support this variability; fix it (--fix {}=0 removes a random effect)",
                            p.name
                        ),
                    });
                }
            }
            Slot::Covariate(_) | Slot::Covariance(..) => {}
        }
    }
    Ok(())
}
