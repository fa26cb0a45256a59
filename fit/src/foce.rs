//! One subject's part of the FOCE-I objective: the conditional mode η̂ (inner problem), the
//! linearisation around it, and the diagnostics that use it (PRED, IPRED, CWRES, IWRES).
//!
//! # The objective
//!
//! Each observation `j` of subject `i` is normal on its own scale, with mean `μ_j(η)` and variance
//! `v_j(η)` given the individual prediction `f_j(η)` (the model output, simulated through the
//! subject's records by the engine):
//!
//! | residual error | `y` on the scale | `μ` | `v` |
//! | --- | --- | --- | --- |
//! | additive | `y` | `f` | `σ²` |
//! | proportional | `y` | `f` | `σ²·f²` |
//! | combined | `y` | `f` | `σ_a² + σ_p²·f²` |
//! | exponential | `ln y` | `ln f` | `σ²` |
//!
//! with contribution `ℓ_j = ln v_j + (y_j − μ_j)²/v_j` (an observation below its limit `L`, M3:
//! `ℓ_j = −2 ln Φ((L − μ_j)/√v_j)`, with `ln L` for the exponential model). The conditional mode
//! minimises `O_i(η) = Σ_j ℓ_j(η) + ηᵀ Ω⁻¹ η`, and subject `i` adds
//!
//! ```text
//! OFV_i = O_i(η̂) + ln|Ω| + ln|A_i|  (+ Σ_j 2 ln y_j for exponential errors: the density of y)
//! A_i   = Ω⁻¹ + Σ_j [ g_j g_jᵀ / v_j + ½ h_j h_jᵀ / v_j² ],   g_j = ∂μ_j/∂η,  h_j = ∂v_j/∂η  at η̂
//! ```
//!
//! This is Lindstrom & Bates' first-order conditional estimation with interaction as NONMEM
//! computes it (Wang 2007, J Pharmacokinet Pharmacodyn 34:575): `Σ_j ℓ_j = ln|R̃| + (y − f̃)ᵀ R̃⁻¹
//! (y − f̃)` with the residual variance `R̃` evaluated at the individual prediction, `ln|Ω| +
//! η̂ᵀΩ⁻¹η̂` the prior, and `A_i` the expected-information Hessian of `½ O_i`: `G̃ᵀR̃⁻¹G̃` from the
//! mean and `½ Σ h hᵀ/v²` from the η-dependence of the variance (the interaction; it vanishes for
//! additive and exponential errors). Without that term the proportional case of Wang's data gives
//! a different number from NONMEM's 39.458; with it, the test `wang2007` reproduces it. For an
//! M3 observation the information is `λ(λ + z)·∇z ∇zᵀ` with `z = (L − μ)/√v`, `λ = φ(z)/Φ(z)`
//! (the Gauss–Newton part of the Hessian of `−ln Φ(z)`). Constants `n·ln 2π` are left out, as
//! in NONMEM's OFV.
//!
//! # The inner problem
//!
//! `η̂` is found by Gauss–Newton (Fisher scoring) on `O_i`: the step solves `2A_i Δ = −∇O_i`,
//! capped at 3 prior standard deviations, with an Armijo backtracking line search. The gradient
//! is exact given `g` and `h`: `∇O = Σ_j [h_j/v_j − 2 r_j g_j/v_j − r_j² h_j/v_j²] + 2Ω⁻¹η`,
//! `r = y − μ`. `g` and `h` are central finite differences of the engine's predictions with step
//! `10⁻³·ω_k` (ω_k = √Ω_kk). Convergence: the Newton decrement `∇Oᵀ(2A)⁻¹∇O` below `10⁻¹²`.
//! After 8 Gauss–Newton iterations without convergence the steps become Newton steps with the
//! Hessian from central differences of the gradient (when it is positive definite), which
//! converge quadratically where Gauss–Newton crawls.

use nalgebra::{DMatrix, DVector};
use twin_engine::Model;
use twin_engine::population::{Population, ResidualError};
use twin_engine::posterior::{Censoring, Individual, IndividualOptions, Observation};
use twin_engine::records::Dataset;
use twin_engine::stats::log_normal_cdf;

/// Options of the inner problem of one subject.
#[derive(Debug, Clone, Copy)]
pub struct InnerOptions {
    /// Finite-difference step of `∂f/∂η_k`, relative to `ω_k`. By default, `1e-3`.
    pub eta_step: f64,
    /// Largest number of Gauss–Newton iterations. By default, `100`.
    pub max_iterations: usize,
    /// Convergence: Newton decrement `∇Oᵀ(2A)⁻¹∇O` (OFV units). By default, `1e-12`: the
    /// OFV depends on η̂ to first order through `ln|A|`, so finite differences of the OFV need
    /// precise modes.
    pub tolerance: f64,
}

impl Default for InnerOptions {
    fn default() -> Self {
        Self {
            eta_step: 1e-3,
            max_iterations: 100,
            tolerance: 1e-12,
        }
    }
}

/// Gauss–Newton iterations before the inner problem switches to Newton steps with a
/// finite-difference Hessian (Gauss–Newton converges only linearly when the residuals are large
/// or the model strongly nonlinear in η).
const GAUSS_NEWTON_ITERATIONS: usize = 8;
/// Largest Gauss–Newton step, in prior standard deviations (max norm of `L⁻¹Δ`).
const MAX_STEP_PRIOR_SD: f64 = 3.0;
/// Armijo sufficient-decrease constant (Nocedal & Wright 2006, §3.1).
const ARMIJO_C1: f64 = 1e-4;
/// A line search that finds no decrease, or a step that decreases the objective by less than a
/// thousandth of the predicted amount, still counts as converged when the decrement is below
/// this (OFV units): the objective is then flat to within its evaluation noise (ODE tolerance).
const NOISE_FLOOR_DECREMENT: f64 = 1e-4;

/// The linearisation of one subject's observations at some η.
#[derive(Debug, Clone)]
pub struct Linearisation {
    /// `O(η) = Σ ℓ_j + ηᵀΩ⁻¹η` (no constants).
    pub objective: f64,
    /// `∇O` over the free random effects.
    pub gradient: DVector<f64>,
    /// `A = Ω⁻¹ + Σ_j …` (see the module documentation), free block.
    pub information: DMatrix<f64>,
    /// `μ_j` per observation.
    pub mean: Vec<f64>,
    /// `v_j` per observation.
    pub variance: Vec<f64>,
    /// `∂μ_j/∂η_k`: row j, column k (free random effects).
    pub mean_gradient: DMatrix<f64>,
}

/// The solution of one subject's inner problem.
#[derive(Debug, Clone)]
pub struct SubjectSolution {
    /// η̂, one value per random effect (fixed ones 0).
    pub eta: Vec<f64>,
    /// The subject's part of the OFV (see the module documentation).
    pub ofv: f64,
    /// Gauss–Newton iterations.
    pub iterations: usize,
    /// The linearisation at η̂ (`None` without observations or free random effects).
    pub linearisation: Option<Linearisation>,
}

/// NONMEM-like diagnostics of one observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObservationDiagnostics {
    /// Index of the record in the subject's records.
    pub record: usize,
    /// Time of the record.
    pub time: f64,
    /// Output index.
    pub output: usize,
    /// Observed value (the limit for a censored one).
    pub dv: f64,
    /// Whether the observation is below its limit (M3).
    pub censored: bool,
    /// Population prediction (η = 0).
    pub pred: f64,
    /// Individual prediction (η̂).
    pub ipred: f64,
    /// Conditional weighted residual (Hooker et al. 2007), NaN when censored.
    pub cwres: f64,
    /// Individual weighted residual `(y − μ̂)/√v̂` on the error model's scale, NaN when censored.
    pub iwres: f64,
}

/// One subject's problem at one set of population parameters.
pub(crate) struct SubjectProblem<'a, M: Model + ?Sized> {
    individual: Individual<'a, M>,
    observations: Vec<Observation>,
    residual: Vec<ResidualError>,
    n_out: usize,
    free: Vec<usize>,
    omega_inv: DMatrix<f64>,
    omega_lower: DMatrix<f64>,
    log_det_omega: f64,
    steps: Vec<f64>,
    /// `Σ 2 ln y` of uncensored observations with exponential error.
    constant: f64,
    last_failure: Option<String>,
    /// Simulations run so far.
    pub n_simulations: usize,
}

impl<'a, M: Model + ?Sized> SubjectProblem<'a, M> {
    /// Subject `subject_idx` of `dataset` under `population`.
    pub(crate) fn new(
        model: &'a M,
        population: &'a Population,
        dataset: &'a Dataset,
        subject_idx: usize,
        options: &IndividualOptions,
        inner: &InnerOptions,
    ) -> Result<Self, twin_engine::EngineError> {
        let individual = Individual::new(model, population, dataset, subject_idx, options)?;
        let observations = individual.observations().to_vec();
        let free = individual.free_eta().to_vec();
        let n_eta = population.n_eta();
        let omega = &population.variability().omega;
        let m = free.len();
        let block = DMatrix::from_fn(m, m, |r, c| omega[free[r] * n_eta + free[c]]);
        let omega_lower = nalgebra::Cholesky::new(block.clone())
            .map(|c| c.l())
            .ok_or_else(|| twin_engine::EngineError::invalid("omega", "not positive definite"))?;
        let log_det_omega = 2.0 * (0..m).map(|i| omega_lower[(i, i)].ln()).sum::<f64>();
        let omega_inv = nalgebra::Cholesky::new(block)
            .map(|c| c.inverse())
            .expect("the block was just factorised");
        let residual: Vec<ResidualError> = (0..model.spec().outputs.len())
            .map(|o| population.residual(o))
            .collect();
        let constant = observations
            .iter()
            .filter(|o| {
                o.censoring == Censoring::Observed
                    && matches!(residual[o.output], ResidualError::Exponential { .. })
            })
            .map(|o| 2.0 * o.value.ln())
            .sum();
        let steps = free
            .iter()
            .map(|&k| inner.eta_step * omega[k * n_eta + k].sqrt())
            .collect();
        Ok(Self {
            individual,
            observations,
            residual,
            n_out: model.spec().outputs.len(),
            free,
            omega_inv,
            omega_lower,
            log_det_omega,
            steps,
            constant,
            last_failure: None,
            n_simulations: 0,
        })
    }

    /// The individual's model outputs after every record for `eta`.
    pub(crate) fn predictions(&mut self, eta: &[f64]) -> Result<Vec<f64>, String> {
        self.n_simulations += 1;
        self.individual.predictions(eta).map_err(|e| e.to_string())
    }

    /// `(μ_j, v_j)` for every observation at `eta`; NaN where the observation is impossible
    /// (a non-positive prediction under an exponential error).
    fn moments(&mut self, eta: &[f64]) -> Result<Vec<(f64, f64)>, String> {
        let outputs = self.predictions(eta)?;
        let mut res = Vec::with_capacity(self.observations.len());
        for obs in &self.observations {
            let f = outputs[obs.record * self.n_out + obs.output];
            if f.is_nan() {
                return Err(format!(
                    "line {}: the prediction is NaN at TIME {} for η = {eta:?}",
                    obs.line, obs.time
                ));
            }
            res.push(moments(self.residual[obs.output], f));
        }
        Ok(res)
    }

    /// `y` of an observation on its error model's scale (the limit for a censored one).
    fn scaled_value(&self, obs: &Observation) -> f64 {
        let value = match obs.censoring {
            Censoring::Observed => obs.value,
            Censoring::BelowLimit { limit } => limit,
        };
        if matches!(self.residual[obs.output], ResidualError::Exponential { .. }) {
            value.ln()
        } else {
            value
        }
    }

    /// The prior term `ηᵀΩ⁻¹η` over the free random effects.
    fn prior(&self, eta: &[f64]) -> f64 {
        let e = DVector::from_iterator(self.free.len(), self.free.iter().map(|&k| eta[k]));
        e.dot(&(&self.omega_inv * &e))
    }

    /// `O(η)`; +∞ (and the reason remembered) when it cannot be evaluated.
    fn objective(&mut self, eta: &[f64]) -> f64 {
        match self.moments(eta) {
            Ok(moments) => {
                let data: f64 = self
                    .observations
                    .iter()
                    .zip(&moments)
                    .map(|(obs, &(mu, v))| {
                        contribution(
                            self.scaled_value(obs),
                            mu,
                            v,
                            obs.censoring != Censoring::Observed,
                        )
                    })
                    .sum();
                data + self.prior(eta)
            }
            Err(e) => {
                self.last_failure = Some(e);
                f64::INFINITY
            }
        }
    }

    /// `Σ ℓ_j` at `eta` (no prior, no constants); +∞ when it cannot be evaluated.
    pub(crate) fn data_objective(&mut self, eta: &[f64]) -> f64 {
        let prior = self.prior(eta);
        self.objective(eta) - prior
    }

    /// The prior term `ηᵀΩ⁻¹η` over the free random effects.
    pub(crate) fn prior_term(&self, eta: &[f64]) -> f64 {
        self.prior(eta)
    }

    /// `(output, (y − μ)²·σ²/v)` of every uncensored observation at `eta`, with σ the residual
    /// error's only standard deviation: the squared residual on the error model's own scale
    /// (`y − f`, `(y − f)/f` or `ln y − ln f`), whose mean is σ².
    pub(crate) fn squared_residuals(&mut self, eta: &[f64]) -> Result<Vec<(usize, f64)>, String> {
        let moments = self.moments(eta)?;
        let mut res = Vec::with_capacity(moments.len());
        for (obs, &(mu, v)) in self.observations.iter().zip(&moments) {
            let sigma = match self.residual[obs.output] {
                ResidualError::Additive { sd }
                | ResidualError::Proportional { sd }
                | ResidualError::Exponential { sd } => sd,
                ResidualError::Combined { .. } | ResidualError::None => f64::NAN,
            };
            let y = self.scaled_value(obs);
            let value = (y - mu).powi(2) * sigma * sigma / v;
            if !value.is_finite() {
                return Err(format!(
                    "line {}: the residual at TIME {} is not finite",
                    obs.line, obs.time
                ));
            }
            res.push((obs.output, value));
        }
        Ok(res)
    }

    /// The linearisation at `eta` (1 + 2m simulations).
    fn linearise(&mut self, eta: &[f64]) -> Result<Linearisation, String> {
        let m = self.free.len();
        let n_obs = self.observations.len();
        let base = self.moments(eta)?;
        let mut mean_gradient = DMatrix::zeros(n_obs, m);
        let mut variance_gradient = DMatrix::zeros(n_obs, m);
        let mut probe = eta.to_vec();
        for r in 0..m {
            let k = self.free[r];
            let h = self.steps[r];
            probe[k] = eta[k] + h;
            let plus = self.moments(&probe)?;
            probe[k] = eta[k] - h;
            let minus = self.moments(&probe)?;
            probe[k] = eta[k];
            for j in 0..n_obs {
                let finite = |x: (f64, f64)| x.0.is_finite() && x.1.is_finite();
                let (d_mu, d_v) = match (finite(plus[j]), finite(minus[j])) {
                    (true, true) => (
                        (plus[j].0 - minus[j].0) / (2.0 * h),
                        (plus[j].1 - minus[j].1) / (2.0 * h),
                    ),
                    (true, false) => ((plus[j].0 - base[j].0) / h, (plus[j].1 - base[j].1) / h),
                    (false, true) => ((base[j].0 - minus[j].0) / h, (base[j].1 - minus[j].1) / h),
                    (false, false) => {
                        return Err(format!(
                            "line {}: the prediction is not usable on either side of η{} = {}",
                            self.observations[j].line,
                            k + 1,
                            eta[k]
                        ));
                    }
                };
                mean_gradient[(j, r)] = d_mu;
                variance_gradient[(j, r)] = d_v;
            }
        }
        let e = DVector::from_iterator(m, self.free.iter().map(|&k| eta[k]));
        let mut gradient = 2.0 * (&self.omega_inv * &e);
        let mut information = self.omega_inv.clone();
        let mut objective = e.dot(&(&self.omega_inv * &e));
        for (j, obs) in self.observations.iter().enumerate() {
            let (mu, v) = base[j];
            let y = self.scaled_value(obs);
            let censored = obs.censoring != Censoring::Observed;
            let term = contribution(y, mu, v, censored);
            if !term.is_finite() {
                return Err(format!(
                    "line {}: observation {} at TIME {} is impossible under the model (its \
                     prediction gives −2 log p = {term})",
                    obs.line, obs.value, obs.time
                ));
            }
            objective += term;
            let g = mean_gradient.row(j).transpose();
            let hv = variance_gradient.row(j).transpose();
            if censored {
                let s = v.sqrt();
                let z = (y - mu) / s;
                let dz = -&g / s - &hv * (z / (2.0 * v));
                let log_phi = -0.5 * z * z - 0.5 * (2.0 * std::f64::consts::PI).ln();
                let lambda = (log_phi - log_normal_cdf(z)).exp();
                gradient -= &dz * (2.0 * lambda);
                information += &dz * dz.transpose() * (lambda * (lambda + z));
            } else {
                let r = y - mu;
                gradient += &hv * (1.0 / v - r * r / (v * v)) - &g * (2.0 * r / v);
                information += &g * g.transpose() / v + &hv * hv.transpose() * (0.5 / (v * v));
            }
        }
        Ok(Linearisation {
            objective,
            gradient,
            information,
            mean: base.iter().map(|x| x.0).collect(),
            variance: base.iter().map(|x| x.1).collect(),
            mean_gradient,
        })
    }

    /// Finds η̂ from `eta_start` and the subject's part of the OFV.
    pub(crate) fn solve(
        &mut self,
        eta_start: &[f64],
        options: &InnerOptions,
    ) -> Result<SubjectSolution, String> {
        let m = self.free.len();
        let n_eta = eta_start.len();
        if self.observations.is_empty() {
            // The prior alone: η̂ = 0 and ln|Ω| + ln|Ω⁻¹| = 0.
            return Ok(SubjectSolution {
                eta: vec![0.0; n_eta],
                ofv: 0.0,
                iterations: 0,
                linearisation: None,
            });
        }
        if m == 0 {
            let eta = vec![0.0; n_eta];
            let objective = self.objective(&eta);
            if !objective.is_finite() {
                return Err(self.failure("at η = 0"));
            }
            return Ok(SubjectSolution {
                eta,
                ofv: objective + self.constant,
                iterations: 0,
                linearisation: None,
            });
        }
        let mut eta = vec![0.0; n_eta];
        for &k in &self.free {
            eta[k] = eta_start[k];
        }
        let mut lin = self.linearise(&eta)?;
        for iteration in 0..options.max_iterations {
            let two_a = &lin.information * 2.0;
            let Some(chol) = nalgebra::Cholesky::new(two_a) else {
                return Err(format!(
                    "the information matrix is not positive definite at η = {eta:?}"
                ));
            };
            let mut delta = chol.solve(&(-&lin.gradient));
            let decrement = -lin.gradient.dot(&delta);
            if decrement <= options.tolerance {
                return Ok(self.finish(eta, lin, iteration));
            }
            if iteration >= GAUSS_NEWTON_ITERATIONS
                && let Some(newton) = self.newton_step(&eta, &lin)?
            {
                delta = newton;
            }
            let whitened = self
                .omega_lower
                .solve_lower_triangular(&delta)
                .expect("the Cholesky factor has a non-zero diagonal");
            let largest = whitened.amax();
            if largest > MAX_STEP_PRIOR_SD {
                delta *= MAX_STEP_PRIOR_SD / largest;
            }
            let slope = lin.gradient.dot(&delta);
            let mut t = 1.0;
            let mut accepted = None;
            for _ in 0..40 {
                let mut trial = eta.clone();
                for (r, &k) in self.free.iter().enumerate() {
                    trial[k] = eta[k] + t * delta[r];
                }
                let value = self.objective(&trial);
                if value.is_finite() && value <= lin.objective + ARMIJO_C1 * t * slope {
                    accepted = Some(trial);
                    break;
                }
                t = if value.is_finite() {
                    let curvature = value - lin.objective - slope * t;
                    (-slope * t * t / (2.0 * curvature)).clamp(0.1 * t, 0.5 * t)
                } else {
                    0.1 * t
                };
            }
            let Some(trial) = accepted else {
                if decrement <= NOISE_FLOOR_DECREMENT {
                    return Ok(self.finish(eta, lin, iteration));
                }
                return Err(format!(
                    "the line search found no decrease after {iteration} Gauss-Newton iterations \
                     (Newton decrement {decrement:.3e} at η = {eta:?}){}",
                    self.last_failure
                        .take()
                        .map_or(String::new(), |e| format!("; last error: {e}"))
                ));
            };
            let previous = lin.objective;
            let new_lin = self.linearise(&trial)?;
            let reduction = previous - new_lin.objective;
            if decrement <= NOISE_FLOOR_DECREMENT && reduction < 1e-3 * decrement {
                // The decrease is far below the quadratic model's prediction: the objective is
                // flat to within its evaluation noise (ODE tolerance) here.
                return Ok(self.finish(trial, new_lin, iteration + 1));
            }
            eta = trial;
            lin = new_lin;
        }
        Err(format!(
            "no convergence within {} Gauss-Newton iterations (η = {eta:?})",
            options.max_iterations
        ))
    }

    /// The Newton step `−H⁻¹∇O` with `H` the central finite difference of the gradient
    /// (`2m` linearisations), or `None` when `H` is not positive definite.
    fn newton_step(
        &mut self,
        eta: &[f64],
        lin: &Linearisation,
    ) -> Result<Option<DVector<f64>>, String> {
        let m = self.free.len();
        let mut hessian = DMatrix::zeros(m, m);
        let mut probe = eta.to_vec();
        for r in 0..m {
            let k = self.free[r];
            let h = self.steps[r];
            probe[k] = eta[k] + h;
            let plus = self.linearise(&probe)?;
            probe[k] = eta[k] - h;
            let minus = self.linearise(&probe)?;
            probe[k] = eta[k];
            hessian.set_column(r, &((plus.gradient - minus.gradient) / (2.0 * h)));
        }
        let symmetric = (&hessian + hessian.transpose()) * 0.5;
        Ok(nalgebra::Cholesky::new(symmetric).map(|c| c.solve(&(-&lin.gradient))))
    }

    fn failure(&mut self, at: &str) -> String {
        format!(
            "the objective cannot be evaluated {at}: {}",
            self.last_failure.take().unwrap_or_default()
        )
    }

    /// The solution at the converged η̂.
    fn finish(&self, eta: Vec<f64>, lin: Linearisation, iterations: usize) -> SubjectSolution {
        let log_det_information = nalgebra::Cholesky::new(lin.information.clone())
            .map_or(f64::INFINITY, |c| {
                2.0 * c.l().diagonal().iter().map(|d| d.ln()).sum::<f64>()
            });
        SubjectSolution {
            eta,
            ofv: lin.objective + self.constant + self.log_det_omega + log_det_information,
            iterations,
            linearisation: Some(lin),
        }
    }

    /// PRED, IPRED, CWRES and IWRES of every observation at the solution.
    ///
    /// CWRES (Hooker, Staatz & Karlsson 2007, Pharm Res 24:2187) on the error model's scale: the
    /// uncensored observations' `y` against the first-order mean `E = μ(η̂) − G η̂` and covariance
    /// `C = G Ω Gᵀ + diag(v(η̂))`, decorrelated by the Cholesky factor: `CWRES = L_C⁻¹ (y − E)`,
    /// `L_C L_Cᵀ = C`, in record order.
    pub(crate) fn diagnostics(
        &mut self,
        solution: &SubjectSolution,
    ) -> Result<Vec<ObservationDiagnostics>, String> {
        let n_eta = solution.eta.len();
        let pred_outputs = self.predictions(&vec![0.0; n_eta])?;
        let ipred_outputs = self.predictions(&solution.eta)?;
        let n_out = self.n_out;
        let mut rows: Vec<ObservationDiagnostics> = self
            .observations
            .iter()
            .map(|obs| {
                let censored = obs.censoring != Censoring::Observed;
                ObservationDiagnostics {
                    record: obs.record,
                    time: obs.time,
                    output: obs.output,
                    dv: match obs.censoring {
                        Censoring::Observed => obs.value,
                        Censoring::BelowLimit { limit } => limit,
                    },
                    censored,
                    pred: pred_outputs[obs.record * n_out + obs.output],
                    ipred: ipred_outputs[obs.record * n_out + obs.output],
                    cwres: f64::NAN,
                    iwres: f64::NAN,
                }
            })
            .collect();
        let (mean, variance, g) = match &solution.linearisation {
            Some(lin) => (
                lin.mean.clone(),
                lin.variance.clone(),
                lin.mean_gradient.clone(),
            ),
            None => {
                let moments = self.moments(&solution.eta)?;
                (
                    moments.iter().map(|x| x.0).collect(),
                    moments.iter().map(|x| x.1).collect(),
                    DMatrix::zeros(moments.len(), self.free.len()),
                )
            }
        };
        let uncensored: Vec<usize> = (0..rows.len()).filter(|&j| !rows[j].censored).collect();
        for &j in &uncensored {
            let y = self.scaled_value(&self.observations[j]);
            rows[j].iwres = (y - mean[j]) / variance[j].sqrt();
        }
        let n = uncensored.len();
        if n > 0 {
            let omega = self.omega_lower.clone() * self.omega_lower.transpose();
            let g_u = DMatrix::from_fn(n, self.free.len(), |r, c| g[(uncensored[r], c)]);
            let mut c = &g_u * &omega * g_u.transpose();
            let eta_free =
                DVector::from_iterator(self.free.len(), self.free.iter().map(|&k| solution.eta[k]));
            let shift = &g_u * &eta_free;
            let mut residual = DVector::zeros(n);
            for (r, &j) in uncensored.iter().enumerate() {
                c[(r, r)] += variance[j];
                residual[r] = self.scaled_value(&self.observations[j]) - (mean[j] - shift[r]);
            }
            if let Some(chol) = nalgebra::Cholesky::new(c) {
                let cwres = chol
                    .l()
                    .solve_lower_triangular(&residual)
                    .expect("a Cholesky factor has a non-zero diagonal");
                for (r, &j) in uncensored.iter().enumerate() {
                    rows[j].cwres = cwres[r];
                }
            }
        }
        Ok(rows)
    }
}

/// Mean and variance on the error model's scale for prediction `f` (see the module
/// documentation); NaN when impossible.
fn moments(residual: ResidualError, f: f64) -> (f64, f64) {
    match residual {
        ResidualError::Additive { sd } => (f, sd * sd),
        ResidualError::Proportional { sd } => (f, (sd * f).powi(2)),
        ResidualError::Combined {
            additive_sd,
            proportional_sd,
        } => (f, additive_sd.powi(2) + (proportional_sd * f).powi(2)),
        ResidualError::Exponential { sd } => {
            if f > 0.0 {
                (f.ln(), sd * sd)
            } else {
                (f64::NAN, f64::NAN)
            }
        }
        ResidualError::None => (f64::NAN, f64::NAN),
    }
}

/// `ℓ = ln v + (y − μ)²/v`, or `−2 ln Φ((y − μ)/√v)` for a censored one; +∞ when impossible.
fn contribution(y: f64, mu: f64, v: f64, censored: bool) -> f64 {
    if !(mu.is_finite() && v.is_finite() && v > 0.0) {
        return f64::INFINITY;
    }
    if censored {
        -2.0 * log_normal_cdf((y - mu) / v.sqrt())
    } else {
        v.ln() + (y - mu).powi(2) / v
    }
}
