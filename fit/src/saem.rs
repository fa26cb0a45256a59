//! Stochastic approximation EM (Delyon, Lavielle & Moulines 1999; Kuhn & Lavielle 2005), the
//! method of Monolix and of NONMEM's `METHOD=SAEM`.
//!
//! # The algorithm
//!
//! Each subject's individual parameters on the random effects' scale, `φ_i = μ_i(β) + η_i`, are
//! a Markov chain. `μ_i` is the transformed typical value (`ln TV` for a log-normal random effect,
//! `TV` for an additive one), which must be *linear* in the estimated coordinates `β` of the
//! typical values and covariate coefficients: `μ_i = o_i + X_i β` ("mu-referencing"; true for
//! `ln θ` with power, exponential, threshold and categorical effects of subject-constant
//! covariates). Iteration `k`:
//!
//! 1. **Simulation.** For every subject and each of its [`SaemOptions::n_chains`] chains,
//!    Metropolis–Hastings steps targeting `p(η | y_i)`: 2 draws
//!    from the prior `N(0, Ω)` (accepted by the likelihood ratio), 2 random-walk moves `η + s·Lz`
//!    (`Ω = LLᵀ`) and one random-walk move per component `η_k + s_k·ω_k·z` (accepted by the
//!    posterior ratio). During the burn-in the scales adapt towards an acceptance rate of 0.4:
//!    `s ← s·(1 + 0.4·(rate − 0.4))`, rates pooled over subjects in subject order.
//! 2. **Stochastic approximation** of the sufficient statistics with step `γ_k` (1 for the
//!    burn-in, then `1/(k − K₁)`): `S1_i ← S1_i + γ(φ_i − S1_i)` per subject, `S2 ← S2 + γ(Σ_i
//!    φ_i φ_iᵀ − S2)`, and per output `S3_o ← S3_o + γ(Σ_j r_j² − S3_o)` with `r` the residual on
//!    the error model's scale (`y − f`, `(y − f)/f`, `ln y − ln f`).
//! 3. **Maximisation.** `β = (Σ X_iᵀΩ⁻¹X_i)⁻¹ Σ X_iᵀΩ⁻¹(S1_i − o_i)`,
//!    `Ω = (S2 − Σ S1_i μ_iᵀ − Σ μ_i S1_iᵀ + Σ μ_i μ_iᵀ)/N` (its diagonal for a diagonal Ω; fixed
//!    variances stay), alternated twice, and `σ_o² = S3_o / n_o`.
//!
//! The statistics average over the chains. Randomness: chain `c` of subject `i` at iteration `k`
//! draws from [`RandomStream`] `(seed, (k − 1)·n_chains + c, i, Purpose::Custom(SAEM_PURPOSE))`,
//! so results do not depend on threads.
//!
//! After the last iteration, [`crate::estimate::fit`] reports FOCE-I's OFV, standard errors,
//! conditional modes and diagnostics at the SAEM estimates (NONMEM evaluates its SAEM fits with
//! importance sampling instead; the FOCE-I OFV is comparable with a FOCE-I fit's).
//!
//! Supported: single-component residual errors (additive, proportional, exponential),
//! uncensored observations, mu-referenced estimated parameters. Anything else is refused with a
//! message naming the parameter; FOCE-I covers it.

use nalgebra::{DMatrix, DVector};
use twin_engine::Model;
use twin_engine::population::{ResidualError, Transform};
use twin_engine::posterior::{Censoring, Individual};
use twin_engine::random::{Purpose, RandomStream};

use crate::estimate::{Evaluator, Iteration};
use crate::foce::SubjectProblem;
use crate::parameters::Slot;
use crate::{FitError, map_subjects};

/// `Purpose::Custom` number of SAEM's random streams.
pub const SAEM_PURPOSE: u16 = 7;

/// Options of SAEM.
#[derive(Debug, Clone, Copy)]
pub struct SaemOptions {
    /// Iterations with step size 1 (exploration, K₁). By default, `300`.
    pub burn_in_iterations: usize,
    /// Iterations with step size `1/k` (smoothing, K₂). By default, `200`.
    pub smoothing_iterations: usize,
    /// Master seed of the Markov chains. By default, `1`.
    pub seed: u64,
    /// Markov chains per subject; the statistics average over them (NONMEM's `ISAMPLE`). By
    /// default, `2`.
    pub n_chains: usize,
}

impl Default for SaemOptions {
    fn default() -> Self {
        Self {
            burn_in_iterations: 300,
            smoothing_iterations: 200,
            seed: 1,
            n_chains: 2,
        }
    }
}

/// Target acceptance rate of the random-walk kernels.
const TARGET_ACCEPTANCE: f64 = 0.4;

/// The mu-referenced structure: per subject `μ_i = o_i + X_i β`.
struct Structure {
    /// Coordinate index (into `x`) of each β.
    beta_coordinates: Vec<usize>,
    /// Per subject: offset `o_i` (m) and design `X_i` (m × q).
    offsets: Vec<DVector<f64>>,
    designs: Vec<DMatrix<f64>>,
}

/// What one subject's Markov chain step returns.
struct ChainStep {
    eta: Vec<f64>,
    objective: f64,
    accepted_block: usize,
    accepted_components: Vec<usize>,
    squared_residuals: Vec<(usize, f64)>,
    n_simulations: usize,
}

/// What [`run`] returns: the final coordinates, each subject's random effects (first chain),
/// the iteration log and the number of simulations.
pub(crate) type SaemRun = (Vec<f64>, Vec<Vec<f64>>, Vec<Iteration>, usize);

/// Runs SAEM from coordinates `x0` and initial random effects `etas0`.
pub(crate) fn run<M: Model + ?Sized>(
    evaluator: &Evaluator<'_, M>,
    x0: &[f64],
    etas0: &[Vec<f64>],
    options: &SaemOptions,
    progress: &mut dyn FnMut(&Iteration),
) -> Result<SaemRun, FitError> {
    let set = evaluator.set;
    let refuse = |name: &str, why: &str| {
        FitError::option(
            "--method saem",
            format!("{name}: {why}; use --method foce-i, or fix it (--fix)"),
        )
    };
    for idx in set.estimated() {
        let p = &set.parameters()[idx];
        if let Slot::Sd { output, .. } = p.slot {
            let values = set.values(x0);
            if matches!(values.residual[output], ResidualError::Combined { .. }) {
                return Err(refuse(
                    &p.name,
                    "SAEM here estimates single-component residual errors only (combined has \
                     no sufficient statistic)",
                ));
            }
        }
    }
    let free = set.free_eta().to_vec();
    let m = free.len();
    if m == 0 {
        return Err(FitError::option(
            "--method saem",
            "the model has no random effect with non-zero variance; SAEM needs one. Use --method \
             foce-i",
        ));
    }
    // Censored observations have no sufficient statistic of the residual error.
    let population0 = set.population(&set.values(x0))?;
    for subject_idx in 0..evaluator.dataset.subjects.len() {
        let individual = Individual::new(
            evaluator.model,
            &population0,
            evaluator.dataset,
            subject_idx,
            &evaluator.individual_options,
        )?;
        if let Some(obs) = individual
            .observations()
            .iter()
            .find(|o| o.censoring != Censoring::Observed)
        {
            return Err(FitError::option(
                "--method saem",
                format!(
                    "{} line {}: observations below a limit (BLQ, M3) are not supported by SAEM \
                     here; use --method foce-i",
                    evaluator.dataset.source, obs.line
                ),
            ));
        }
    }
    let structure = structure(evaluator, x0, &free)?;
    let n_subjects = evaluator.dataset.subjects.len();
    let n_eta = set.random_effects().len();

    let n_chains = options.n_chains.max(1);
    let mut x = x0.to_vec();
    // chains[i][c]: η of chain c of subject i; every chain starts at the subject's MAP.
    let mut chains: Vec<Vec<Vec<f64>>> = etas0.iter().map(|e| vec![e.clone(); n_chains]).collect();
    let phi_of = |structure: &Structure, i: usize, x: &[f64], eta: &[f64]| {
        let mu = mu_of(structure, i, x);
        DVector::from_iterator(m, (0..m).map(|r| mu[r] + eta[free[r]]))
    };
    let mut phi: Vec<Vec<DVector<f64>>> = (0..n_subjects)
        .map(|i| {
            chains[i]
                .iter()
                .map(|eta| phi_of(&structure, i, &x, eta))
                .collect()
        })
        .collect();
    let mut s1: Vec<DVector<f64>> = phi.iter().map(|p| p[0].clone()).collect();
    let mut s2 = DMatrix::zeros(m, m);
    for p in &s1 {
        s2 += p * p.transpose();
    }
    let n_out = evaluator.model.spec().outputs.len();
    let mut s3 = vec![0.0; n_out];
    let mut n_obs = vec![0usize; n_out];
    let mut block_scale = 1.0_f64;
    let mut component_scale = vec![1.0_f64; m];
    let mut iterations = Vec::new();
    let mut n_simulations = 0usize;
    let total = options.burn_in_iterations + options.smoothing_iterations;
    for k in 1..=total {
        let values = set.values(&x);
        let population = set.population(&values)?;
        let lower = omega_lower(&values.omega, &free, n_eta);
        let steps = map_subjects(n_subjects, |i| {
            let mut problem = SubjectProblem::new(
                evaluator.model,
                &population,
                evaluator.dataset,
                i,
                &evaluator.individual_options,
                &evaluator.inner,
            )
            .map_err(|e| e.to_string())?;
            (0..n_chains)
                .map(|c| {
                    let replicate = ((k - 1) * n_chains + c) as u64;
                    chain_step(
                        &mut problem,
                        &chains[i][c],
                        &free,
                        &lower,
                        block_scale,
                        &component_scale,
                        RandomStream::new(
                            options.seed,
                            replicate,
                            i as u64,
                            Purpose::Custom(SAEM_PURPOSE),
                        ),
                    )
                })
                .collect::<Result<Vec<_>, String>>()
        });
        let mut accepted_block = 0;
        let mut accepted_components = vec![0usize; m];
        let mut objective = 0.0;
        let mut residual_sums = vec![0.0; n_out];
        let mut residual_counts = vec![0usize; n_out];
        let weight = 1.0 / n_chains as f64;
        for (i, subject_steps) in steps.into_iter().enumerate() {
            let subject_steps = subject_steps.map_err(|reason| FitError::Subject {
                iteration: k,
                id: evaluator.dataset.subjects[i].id.clone(),
                reason,
            })?;
            for (c, step) in subject_steps.into_iter().enumerate() {
                n_simulations += step.n_simulations;
                accepted_block += step.accepted_block;
                for (total, accepted) in accepted_components
                    .iter_mut()
                    .zip(&step.accepted_components)
                {
                    *total += accepted;
                }
                objective += weight * step.objective;
                for (o, r2) in step.squared_residuals {
                    residual_sums[o] += weight * r2;
                    if c == 0 {
                        residual_counts[o] += 1;
                    }
                }
                chains[i][c] = step.eta;
            }
        }
        // φ from the new η under the current β.
        for i in 0..n_subjects {
            for c in 0..n_chains {
                phi[i][c] = phi_of(&structure, i, &x, &chains[i][c]);
            }
        }
        let gamma = if k <= options.burn_in_iterations {
            1.0
        } else {
            1.0 / (k - options.burn_in_iterations) as f64
        };
        let mut sum_outer = DMatrix::zeros(m, m);
        for i in 0..n_subjects {
            let mut mean = DVector::zeros(m);
            for p in &phi[i] {
                mean += p * weight;
                sum_outer += p * p.transpose() * weight;
            }
            let change = (mean - &s1[i]) * gamma;
            s1[i] += change;
        }
        s2 += (sum_outer - &s2) * gamma;
        for (s, sum) in s3.iter_mut().zip(&residual_sums) {
            *s += gamma * (sum - *s);
        }
        n_obs.clone_from(&residual_counts);
        x = maximise(evaluator, &structure, &x, &s1, &s2, &s3, &n_obs, &free, k)?;
        // η follows φ, which is held fixed while β moves.
        for i in 0..n_subjects {
            let mu = mu_of(&structure, i, &x);
            for c in 0..n_chains {
                for r in 0..m {
                    chains[i][c][free[r]] = phi[i][c][r] - mu[r];
                }
            }
        }
        if k <= options.burn_in_iterations {
            let n_moves = (n_subjects * n_chains) as f64;
            let rate = accepted_block as f64 / (2.0 * n_moves);
            block_scale =
                (block_scale * (1.0 + 0.4 * (rate - TARGET_ACCEPTANCE))).clamp(0.01, 10.0);
            for r in 0..m {
                let rate = accepted_components[r] as f64 / n_moves;
                component_scale[r] = (component_scale[r]
                    * (1.0 + 0.4 * (rate - TARGET_ACCEPTANCE)))
                    .clamp(0.01, 10.0);
            }
        }
        let values = set.values(&x);
        let log_det_omega = 2.0
            * omega_lower(&values.omega, &free, n_eta)
                .diagonal()
                .iter()
                .map(|d| d.ln())
                .sum::<f64>();
        let record = Iteration {
            iteration: k,
            objective: objective + n_subjects as f64 * log_det_omega,
            values: set.estimated_values(&x),
            gradient_max: f64::NAN,
            step: gamma,
            n_evaluations: n_simulations,
        };
        if record.values.iter().any(|v| !v.is_finite()) {
            let bad = record
                .values
                .iter()
                .position(|v| !v.is_finite())
                .unwrap_or(0);
            return Err(FitError::Diverged {
                iteration: k,
                parameter: evaluator.name_of_coordinate(bad),
                message: "became non-finite in the maximisation step".to_owned(),
            });
        }
        progress(&record);
        iterations.push(record);
    }
    let etas = chains.into_iter().map(|mut c| c.swap_remove(0)).collect();
    Ok((x, etas, iterations, n_simulations))
}

/// Lower Cholesky factor of the free block of Ω.
fn omega_lower(omega: &[f64], free: &[usize], n_eta: usize) -> DMatrix<f64> {
    let m = free.len();
    let block = DMatrix::from_fn(m, m, |r, c| omega[free[r] * n_eta + free[c]]);
    nalgebra::Cholesky::new(block)
        .map(|c| c.l())
        .expect("Ω was validated positive definite by Population::new")
}

/// `μ_i` at coordinates `x`.
fn mu_of(structure: &Structure, subject_idx: usize, x: &[f64]) -> DVector<f64> {
    let beta = DVector::from_iterator(
        structure.beta_coordinates.len(),
        structure.beta_coordinates.iter().map(|&c| x[c]),
    );
    &structure.offsets[subject_idx] + &structure.designs[subject_idx] * beta
}

/// Transformed typical values (one per free random effect) of every subject at `x`.
fn transformed_typical<M: Model + ?Sized>(
    evaluator: &Evaluator<'_, M>,
    x: &[f64],
    free: &[usize],
) -> Result<Vec<DVector<f64>>, FitError> {
    let set = evaluator.set;
    let population = set.population(&set.values(x))?;
    let n_params = evaluator.model.spec().parameters.len();
    let n_eta = set.random_effects().len();
    let mut res = Vec::new();
    for subject_idx in 0..evaluator.dataset.subjects.len() {
        let individual = Individual::new(
            evaluator.model,
            &population,
            evaluator.dataset,
            subject_idx,
            &evaluator.individual_options,
        )?;
        let rows = individual.parameter_rows(&vec![0.0; n_eta])?;
        let mut mu = DVector::zeros(free.len());
        for (r, &k) in free.iter().enumerate() {
            let effect = &set.random_effects()[k];
            let p = effect.parameter;
            let first = rows[p];
            if let Some(row) = rows
                .chunks(n_params)
                .position(|row| (row[p] - first).abs() > 1e-12 * first.abs())
            {
                let record = &evaluator.dataset.subjects[subject_idx].records[row];
                return Err(FitError::option(
                    "--method saem",
                    format!(
                        "{} line {}: the typical value of {} changes within ID {} (a \
                         time-varying covariate); SAEM here needs it constant per subject. Use \
                         --method foce-i",
                        evaluator.dataset.source,
                        record.line,
                        evaluator.model.spec().parameters[p].name,
                        evaluator.dataset.subjects[subject_idx].id
                    ),
                ));
            }
            mu[r] = match effect.transform {
                Transform::LogNormal => first.ln(),
                Transform::Additive => first,
                Transform::Logit => (first / (1.0 - first)).ln(),
            };
        }
        res.push(mu);
    }
    Ok(res)
}

/// Finds the mu-referenced structure at `x0`, checking that it is linear.
fn structure<M: Model + ?Sized>(
    evaluator: &Evaluator<'_, M>,
    x0: &[f64],
    free: &[usize],
) -> Result<Structure, FitError> {
    let set = evaluator.set;
    let estimated = set.estimated();
    let beta_coordinates: Vec<usize> = (0..set.n_scalar_coordinates())
        .filter(|&c| {
            matches!(
                set.parameters()[estimated[c]].slot,
                Slot::Typical(_) | Slot::Covariate(_)
            )
        })
        .collect();
    let base = transformed_typical(evaluator, x0, free)?;
    let n_subjects = base.len();
    let m = free.len();
    let q = beta_coordinates.len();
    let mut designs = vec![DMatrix::zeros(m, q); n_subjects];
    for (col, &c) in beta_coordinates.iter().enumerate() {
        let name = &set.parameters()[estimated[c]].name;
        let mut probe = x0.to_vec();
        probe[c] = x0[c] + 1.0;
        let plus = transformed_typical(evaluator, &probe, free)?;
        probe[c] = x0[c] - 1.0;
        let minus = transformed_typical(evaluator, &probe, free)?;
        let mut influences = false;
        for i in 0..n_subjects {
            let up = &plus[i] - &base[i];
            let down = &base[i] - &minus[i];
            if (&up - &down).amax() > 1e-8 * (1.0 + up.amax()) {
                return Err(FitError::option(
                    "--method saem",
                    format!(
                        "{name} does not enter the random effects' scale linearly (not \
                         mu-referenced: e.g. a linear covariate effect or a logit parameter); \
                         use --method foce-i, or fix it (--fix)"
                    ),
                ));
            }
            influences |= up.amax() > 0.0;
            designs[i].set_column(col, &up);
        }
        if !influences {
            return Err(FitError::option(
                "--method saem",
                format!(
                    "{name} is a typical value without a random effect; SAEM here estimates \
                     only mu-referenced parameters. Use --method foce-i, or fix it (--fix)"
                ),
            ));
        }
    }
    let beta0 = DVector::from_iterator(q, beta_coordinates.iter().map(|&c| x0[c]));
    let offsets = (0..n_subjects)
        .map(|i| &base[i] - &designs[i] * &beta0)
        .collect();
    Ok(Structure {
        beta_coordinates,
        offsets,
        designs,
    })
}

/// One iteration of one Markov chain of a subject (see the module documentation).
fn chain_step<M: Model + ?Sized>(
    problem: &mut SubjectProblem<'_, M>,
    eta: &[f64],
    free: &[usize],
    omega_lower: &DMatrix<f64>,
    block_scale: f64,
    component_scale: &[f64],
    mut stream: RandomStream,
) -> Result<ChainStep, String> {
    let simulations_before = problem.n_simulations;
    let m = free.len();
    let mut eta = eta.to_vec();
    let mut data = problem.data_objective(&eta);
    let mut prior = problem.prior_term(&eta);
    if !data.is_finite() {
        return Err(format!(
            "the likelihood of the chain's state η = {eta:?} is not finite"
        ));
    }
    let mut accepted_block = 0;
    let mut accepted_components = vec![0usize; m];
    let propose = |eta: &[f64], z: &DVector<f64>, scale: f64, centred: bool| {
        let step = omega_lower * z * scale;
        let mut res = eta.to_vec();
        for (r, &k) in free.iter().enumerate() {
            res[k] = if centred { step[r] } else { eta[k] + step[r] };
        }
        res
    };
    // Kernel 1: independent draws from the prior, accepted by the likelihood ratio.
    for _ in 0..2 {
        let z = DVector::from_fn(m, |_, _| stream.normal());
        let candidate = propose(&eta, &z, 1.0, true);
        let d = problem.data_objective(&candidate);
        if d.is_finite() && stream.uniform().ln() < -0.5 * (d - data) {
            prior = problem.prior_term(&candidate);
            eta = candidate;
            data = d;
        }
    }
    // Kernel 2: random walk along Ω.
    for _ in 0..2 {
        let z = DVector::from_fn(m, |_, _| stream.normal());
        let candidate = propose(&eta, &z, block_scale, false);
        let d = problem.data_objective(&candidate);
        let p = problem.prior_term(&candidate);
        if d.is_finite() && stream.uniform().ln() < -0.5 * ((d + p) - (data + prior)) {
            eta = candidate;
            data = d;
            prior = p;
            accepted_block += 1;
        }
    }
    // Kernel 3: random walk per component.
    for r in 0..m {
        let k = free[r];
        let omega_k = (0..=r)
            .map(|c| omega_lower[(r, c)].powi(2))
            .sum::<f64>()
            .sqrt();
        let mut candidate = eta.clone();
        candidate[k] += component_scale[r] * omega_k * stream.normal();
        let d = problem.data_objective(&candidate);
        let p = problem.prior_term(&candidate);
        if d.is_finite() && stream.uniform().ln() < -0.5 * ((d + p) - (data + prior)) {
            eta = candidate;
            data = d;
            prior = p;
            accepted_components[r] += 1;
        }
    }
    let squared_residuals = problem.squared_residuals(&eta)?;
    Ok(ChainStep {
        eta,
        objective: data + prior,
        accepted_block,
        accepted_components,
        squared_residuals,
        n_simulations: problem.n_simulations - simulations_before,
    })
}

/// The maximisation step (see the module documentation); returns the new coordinates.
#[allow(clippy::too_many_arguments)]
fn maximise<M: Model + ?Sized>(
    evaluator: &Evaluator<'_, M>,
    structure: &Structure,
    x: &[f64],
    s1: &[DVector<f64>],
    s2: &DMatrix<f64>,
    s3: &[f64],
    n_obs: &[usize],
    free: &[usize],
    iteration: usize,
) -> Result<Vec<f64>, FitError> {
    let set = evaluator.set;
    let mut values = set.values(x);
    let n_eta = set.random_effects().len();
    let m = free.len();
    let n_subjects = s1.len() as f64;
    let q = structure.beta_coordinates.len();
    let estimated = set.estimated();
    // Which variances are estimated (the others stay).
    let estimated_variance: Vec<bool> = free
        .iter()
        .map(|&k| {
            estimated
                .iter()
                .any(|&i| set.parameters()[i].slot == Slot::Variance(k))
        })
        .collect();
    let mut x_new = x.to_vec();
    for _ in 0..2 {
        let omega_block = DMatrix::from_fn(m, m, |r, c| values.omega[free[r] * n_eta + free[c]]);
        let omega_inv = nalgebra::Cholesky::new(omega_block)
            .map(|c| c.inverse())
            .ok_or_else(|| FitError::Diverged {
                iteration,
                parameter: "OMEGA".to_owned(),
                message: "is no longer positive definite".to_owned(),
            })?;
        if q > 0 {
            let mut lhs = DMatrix::zeros(q, q);
            let mut rhs = DVector::zeros(q);
            for (i, s1_i) in s1.iter().enumerate() {
                let xt_oinv = structure.designs[i].transpose() * &omega_inv;
                lhs += &xt_oinv * &structure.designs[i];
                rhs += &xt_oinv * (s1_i - &structure.offsets[i]);
            }
            let beta = nalgebra::Cholesky::new(lhs)
                .map(|c| c.solve(&rhs))
                .ok_or_else(|| FitError::NotIdentifiable {
                    iteration,
                    parameters: structure
                        .beta_coordinates
                        .iter()
                        .map(|&c| evaluator.name_of_coordinate(c))
                        .collect(),
                    message: "the design of the typical values and covariate coefficients is \
                              singular (a covariate without variation, or two coefficients for \
                              the same thing)"
                        .to_owned(),
                })?;
            for (col, &c) in structure.beta_coordinates.iter().enumerate() {
                x_new[c] = beta[col];
            }
            values = set.values(&x_new);
        }
        let mut omega = s2.clone();
        for (i, s1_i) in s1.iter().enumerate() {
            let mu = mu_of(structure, i, &x_new);
            omega += &mu * mu.transpose() - s1_i * mu.transpose() - &mu * s1_i.transpose();
        }
        omega /= n_subjects;
        for (r, &k) in free.iter().enumerate() {
            for (c, &l) in free.iter().enumerate() {
                let keep_fixed = !(estimated_variance[r] && estimated_variance[c]);
                let diagonal_only = !set.full_omega() && r != c;
                if diagonal_only {
                    values.omega[k * n_eta + l] = 0.0;
                } else if !keep_fixed {
                    values.omega[k * n_eta + l] = omega[(r, c)];
                }
            }
        }
    }
    for (o, &n) in n_obs.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let sd = (s3[o] / n as f64).sqrt();
        let sd_estimated = estimated
            .iter()
            .any(|&i| matches!(set.parameters()[i].slot, Slot::Sd { output, .. } if output == o));
        if sd_estimated {
            values.residual[o] = match values.residual[o] {
                ResidualError::Additive { .. } => ResidualError::Additive { sd },
                ResidualError::Proportional { .. } => ResidualError::Proportional { sd },
                ResidualError::Exponential { .. } => ResidualError::Exponential { sd },
                other => other,
            };
        }
    }
    let res = set.coordinates(&values);
    if res.len() != x.len() || res.iter().any(|v| !v.is_finite()) {
        return Err(FitError::Diverged {
            iteration,
            parameter: "OMEGA".to_owned(),
            message: "lost positive definiteness in the maximisation step".to_owned(),
        });
    }
    Ok(res)
}
