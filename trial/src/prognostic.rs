//! The twin prognostic score of PROCOVA: each patient's expected control outcome given baseline
//! data only, computed by a model version locked before the trial.
//!
//! For a continuous endpoint "output `y` at visit `t`" (or its change from baseline) the score is
//!
//! ```text
//! m(x) = E[ y_t | covariates, observed baseline y_0, control ]         (value)
//! m(x) = E[ y_t | covariates, observed baseline y_0, control ] − y_0   (change from baseline)
//! ```
//!
//! under the prognostic model, by importance sampling over its random effects:
//!
//! 1. `K` prior draws `η_k ~ N(0, Ω)` from the streams `(prognostic seed, 0, k, Eta)`: the same
//!    draws for every patient, so the score is a fixed function of the baseline data — what a
//!    locked score must be (the same patient always gets the same score);
//! 2. weights `w_k ∝ Π_o p(y_0,o | f_0,o(η_k, x))`, the likelihood of the observed baseline of each
//!    conditioned output under the prognostic model's residual error (normal for additive,
//!    proportional and combined errors, log-normal for exponential), with `f_0` the model's
//!    outputs at time 0 before any dose (initial state, no integration needed);
//! 3. `M` draws resampled systematically (positions `(m + ½)/M` on the cumulative weights, no
//!    randomness), each distinct draw simulated once under the control regimen;
//! 4. `m(x)` = the mean over the `M` resampled draws of the expected observation at `t`
//!    (`f_t`, times `e^(σ²/2)` for an exponential error model), minus `y_0` for a change.
//!
//! Without conditioned outputs every weight is 1 and the score is the prior mean prediction for
//! the patient's covariates; a model without random effects needs one simulation. The finite `M`
//! adds noise to the score (its variance is at most `Var(y_t | x)/M`), which only lowers ρ: a
//! prognostic covariate fixed before randomisation keeps the type-I error of ANCOVA whatever its
//! accuracy. The score's correlation with the outcome is estimated on a historical control cohort
//! simulated from the truth model.

use twin_engine::EngineError;
use twin_engine::population::{Population, ResidualError};
use twin_engine::random::{Purpose, RandomStream};

use crate::design::{Design, PrognosticSpec};
use crate::simulate::{PatientSimulator, PreparedArm};

/// The locked score function of a design.
pub struct ScoreFunction<'d> {
    spec: &'d PrognosticSpec,
    population: Population,
    control: PreparedArm,
    /// Prior draws of η, one vector per draw.
    draws: Vec<Vec<f64>>,
    /// Per endpoint with a score: `(prognostic output, visit index, truth output if the endpoint
    /// is a change from baseline)`.
    targets: Vec<Option<(usize, usize, Option<usize>)>>,
}

/// Per-thread buffers of the score.
pub struct ScoreWorkspace<'d> {
    simulator: PatientSimulator<'d>,
    covariates: Vec<f64>,
    params: Vec<Vec<f64>>,
    log_weights: Vec<f64>,
    state: Vec<f64>,
    outputs: Vec<f64>,
    values: Vec<f64>,
}

impl<'d> ScoreFunction<'d> {
    /// The score of `design`, `None` without a prognostic model.
    ///
    /// # Errors
    /// [`EngineError`] if the prognostic model's variability declaration is invalid.
    pub fn new(design: &'d Design) -> Result<Option<Self>, EngineError> {
        let Some(spec) = &design.prognostic else {
            return Ok(None);
        };
        let population = twin_engine::predict::population_of(spec.model.as_ref())?;
        let n_draws = if population.n_eta() == 0 {
            1
        } else {
            spec.prior_draws
        };
        let draws = (0..n_draws as u64)
            .map(|k| {
                let mut eta = vec![0.0; population.n_eta()];
                let mut stream = RandomStream::new(spec.seed, 0, k, Purpose::Eta);
                population.sample_eta(&mut stream, &mut eta);
                eta
            })
            .collect();
        let targets = design
            .endpoints
            .iter()
            .zip(&spec.endpoint_outputs)
            .map(|(e, prog)| match (&e.kind, prog) {
                (
                    crate::design::EndpointKind::Continuous {
                        visit,
                        change,
                        output,
                    },
                    Some(o),
                ) => Some((*o, *visit, change.then_some(*output))),
                _ => None,
            })
            .collect();
        Ok(Some(Self {
            spec,
            control: PreparedArm::new(&spec.control),
            population,
            draws,
            targets,
        }))
    }

    /// Buffers for one thread.
    ///
    /// # Errors
    /// [`EngineError`] if the solver cannot take the prognostic model.
    pub fn workspace(
        &self,
        solver: twin_engine::solver::SolverOptions,
    ) -> Result<ScoreWorkspace<'d>, EngineError> {
        let model = self.spec.model.as_ref();
        let spec = model.spec();
        Ok(ScoreWorkspace {
            simulator: PatientSimulator::new(model, solver)?,
            covariates: vec![f64::NAN; spec.covariates.len()],
            params: vec![vec![0.0; spec.parameters.len()]; self.draws.len()],
            log_weights: vec![0.0; self.draws.len()],
            state: vec![0.0; spec.states.len()],
            outputs: vec![0.0; spec.outputs.len()],
            values: vec![0.0; self.spec.visits.len() * spec.outputs.len()],
        })
    }

    /// The scores of one patient, one per endpoint (NaN for endpoints without a score), from
    /// the truth model's covariates and observed baseline outputs.
    ///
    /// # Errors
    /// A failed simulation of a resampled draw (the patient then has no score).
    pub fn score(
        &self,
        truth_covariates: &[f64],
        observed_baseline: &[f64],
        ws: &mut ScoreWorkspace<'_>,
    ) -> Result<Vec<f64>, EngineError> {
        let model = self.spec.model.as_ref();
        let n_out = model.spec().outputs.len();
        for (slot, &c) in ws.covariates.iter_mut().zip(&self.spec.covariates) {
            *slot = truth_covariates[c];
        }
        for (k, eta) in self.draws.iter().enumerate() {
            model.individual_parameters(&self.population, &ws.covariates, eta, &mut ws.params[k]);
            let mut log_weight = 0.0;
            if !self.spec.condition_on.is_empty() {
                model.initial_state(&ws.params[k], &mut ws.state);
                model.outputs(0.0, &ws.state, &ws.params[k], &mut ws.outputs);
                for &(truth_output, prog_output) in &self.spec.condition_on {
                    log_weight += log_density(
                        self.population.residual(prog_output),
                        observed_baseline[truth_output],
                        ws.outputs[prog_output],
                    );
                }
            }
            ws.log_weights[k] = log_weight;
        }
        let picks = systematic_resample(
            &ws.log_weights,
            self.spec.simulated_draws.min(self.draws.len()),
        );
        let mut sums = vec![0.0; self.targets.len()];
        let n_picks = picks.iter().map(|(_, m)| *m).sum::<usize>();
        if n_picks == 0 {
            // Every weight is zero: the baseline is impossible under the prognostic model.
            return Ok(vec![f64::NAN; self.targets.len()]);
        }
        for &(k, multiplicity) in &picks {
            ws.simulator.trajectory(
                &self.control,
                &ws.params[k],
                &ws.covariates,
                &self.spec.visits,
                &mut ws.values,
            )?;
            for (sum, target) in sums.iter_mut().zip(&self.targets) {
                if let Some((output, visit, _)) = target {
                    let f = ws.values[visit * n_out + output];
                    *sum += multiplicity as f64
                        * expected_observation(self.population.residual(*output), f);
                }
            }
        }
        Ok(sums
            .iter()
            .zip(&self.targets)
            .map(|(sum, target)| match target {
                Some((_, _, change_of)) => {
                    let mean = sum / n_picks as f64;
                    change_of.map_or(mean, |truth_output| mean - observed_baseline[truth_output])
                }
                None => f64::NAN,
            })
            .collect())
    }
}

/// `ln p(y | f)` up to a constant that does not depend on `f`, for an observation `y` of a
/// prediction `f` under `residual`.
#[must_use]
pub fn log_density(residual: ResidualError, y: f64, f: f64) -> f64 {
    let normal = |sd: f64| {
        let sd = sd.abs();
        if sd > 0.0 {
            let z = (y - f) / sd;
            -0.5 * z * z - sd.ln()
        } else if (y - f).abs() <= 0.0 {
            0.0
        } else {
            f64::NEG_INFINITY
        }
    };
    match residual {
        ResidualError::None => 0.0,
        ResidualError::Additive { sd } => normal(sd),
        ResidualError::Proportional { sd } => normal(sd * f),
        ResidualError::Combined {
            additive_sd,
            proportional_sd,
        } => normal(additive_sd.hypot(proportional_sd * f)),
        ResidualError::Exponential { sd } => {
            if y > 0.0 && f > 0.0 && sd > 0.0 {
                let z = (y.ln() - f.ln()) / sd;
                -0.5 * z * z
            } else {
                f64::NEG_INFINITY
            }
        }
    }
}

/// The expected observation `E[y | f]` under `residual`: `f`, or `f·e^(σ²/2)` for an exponential
/// error model.
#[must_use]
pub fn expected_observation(residual: ResidualError, f: f64) -> f64 {
    match residual {
        ResidualError::Exponential { sd } => f * (0.5 * sd * sd).exp(),
        _ => f,
    }
}

/// Systematic resampling of `m` draws from weights `exp(log_weights)`: position `(i + ½)/m` of
/// the cumulative normalised weights picks a draw. Returns `(draw, multiplicity)` for each distinct
/// picked draw in draw order; empty when every weight is zero.
#[must_use]
pub fn systematic_resample(log_weights: &[f64], m: usize) -> Vec<(usize, usize)> {
    let max = log_weights
        .iter()
        .copied()
        .filter(|w| !w.is_nan())
        .fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() || m == 0 {
        return Vec::new();
    }
    let weights: Vec<f64> = log_weights
        .iter()
        .map(|&w| if w.is_nan() { 0.0 } else { (w - max).exp() })
        .collect();
    let total: f64 = weights.iter().sum();
    let mut picks: Vec<(usize, usize)> = Vec::new();
    let mut cumulative = 0.0;
    let mut next = 0;
    for (k, w) in weights.iter().enumerate() {
        cumulative += w / total;
        let mut count = 0;
        while next < m && (next as f64 + 0.5) / m as f64 <= cumulative {
            count += 1;
            next += 1;
        }
        if count > 0 {
            picks.push((k, count));
        }
    }
    // Rounding may leave the last positions beyond a cumulative sum of 1 − ε: give them to the
    // last draw with weight.
    if next < m
        && let Some(last) = weights.iter().rposition(|&w| w > 0.0)
    {
        match picks.last_mut() {
            Some((k, count)) if *k == last => *count += m - next,
            _ => picks.push((last, m - next)),
        }
    }
    picks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systematic_resampling_follows_the_weights() {
        // Weights 0.1, 0.6, 0.3 and m = 10: positions 0.05, 0.15, …, 0.95 fall 1, 6, 3 times
        // into the cumulative intervals [0, 0.1), [0.1, 0.7), [0.7, 1].
        let log_w: Vec<f64> = [0.1_f64, 0.6, 0.3].iter().map(|w| w.ln()).collect();
        assert_eq!(
            systematic_resample(&log_w, 10),
            vec![(0, 1), (1, 6), (2, 3)]
        );
        // Uniform weights pick evenly spaced draws.
        assert_eq!(systematic_resample(&[0.0; 4], 2), vec![(0, 1), (2, 1)]);
        // All weights zero: nothing.
        assert!(systematic_resample(&[f64::NEG_INFINITY; 3], 2).is_empty());
    }

    #[test]
    fn log_density_is_the_normal_kernel() {
        // Additive σ = 2: ln φ((y − f)/σ) − ln σ up to −½ ln 2π; y − f = 3 gives −1.125 − ln 2.
        let got = log_density(ResidualError::Additive { sd: 2.0 }, 13.0, 10.0);
        assert!((got - (-1.125 - 2.0_f64.ln())).abs() < 1e-15);
        assert!(log_density(ResidualError::Exponential { sd: 0.1 }, -1.0, 2.0).is_infinite());
        let mean = expected_observation(ResidualError::Exponential { sd: 0.2 }, 10.0);
        assert!((mean - 10.0 * 0.02_f64.exp()).abs() < 1e-12);
    }
}
