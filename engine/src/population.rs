//! Population variability: random effects η ~ N(0, Ω), parameter transforms, covariate effects and
//! residual error.
//!
//! Individual parameter j of a patient with covariates `c` and random effects `η`:
//!
//! 1. `TV_j = θ_j · Π effects_j(c)` (typical value adjusted for covariates, see [`CovariateEffect`]);
//! 2. `P_j = g_j(TV_j, η_k)` for the random effect `k` on `j` (see [`Transform`]), or `TV_j` if none.

use crate::math;
use nalgebra::DMatrix;

use crate::error::EngineError;
use crate::random::RandomStream;

/// How a random effect enters its parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Transform {
    /// `P = TV · e^η` (log-normal; the usual choice for positive parameters).
    LogNormal,
    /// `P = 1 / (1 + e^−(logit(TV) + η))` (for fractions in (0, 1)).
    Logit,
    /// `P = TV + η`.
    Additive,
}

impl Transform {
    /// Applies the transform.
    #[must_use]
    pub fn apply(self, typical: f64, eta: f64) -> f64 {
        match self {
            Self::LogNormal => typical * math::exp(eta),
            Self::Logit => {
                let logit = math::ln(typical / (1.0 - typical));
                1.0 / (1.0 + math::exp(-(logit + eta)))
            }
            Self::Additive => typical + eta,
        }
    }
}

/// One random effect: which parameter it acts on and how.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RandomEffect {
    /// Index of the parameter in [`crate::model::ModelSpec::parameters`].
    pub parameter: usize,
    /// How η enters.
    pub transform: Transform,
}

/// A covariate effect on a parameter's typical value (a multiplicative factor).
#[derive(Debug, Clone, serde::Serialize)]
pub enum CovariateEffect {
    /// `(c / reference)^exponent` — e.g. allometric weight scaling.
    Power {
        /// Parameter index.
        parameter: usize,
        /// Covariate index in the model's covariate list.
        covariate: usize,
        /// Exponent.
        exponent: f64,
    },
    /// `1 + slope · (c − reference)`.
    Linear {
        /// Parameter index.
        parameter: usize,
        /// Covariate index.
        covariate: usize,
        /// Slope per covariate unit.
        slope: f64,
    },
    /// `e^(coefficient · (c − reference))`.
    Exponential {
        /// Parameter index.
        parameter: usize,
        /// Covariate index.
        covariate: usize,
        /// Coefficient per covariate unit.
        coefficient: f64,
    },
    /// `1 + slope_below · (c − knot)` for `c ≤ knot`, `1 + slope_above · (c − knot)` above —
    /// e.g. α1-acid glycoprotein on baseline ANC in Kloft 2006.
    PiecewiseLinear {
        /// Parameter index.
        parameter: usize,
        /// Covariate index.
        covariate: usize,
        /// Knot (in covariate units).
        knot: f64,
        /// Slope at or below the knot.
        slope_below: f64,
        /// Slope above the knot.
        slope_above: f64,
    },
    /// `1 + shift` when `c ≥ threshold`, else 1 — e.g. performance status ≥ 1.
    Threshold {
        /// Parameter index.
        parameter: usize,
        /// Covariate index.
        covariate: usize,
        /// Threshold (inclusive).
        threshold: f64,
        /// Fractional change.
        shift: f64,
    },
    /// `1 + shift` when `c` equals `level`, else 1 — e.g. sex or a prior-therapy flag.
    Categorical {
        /// Parameter index.
        parameter: usize,
        /// Covariate index.
        covariate: usize,
        /// Level that triggers the effect.
        level: f64,
        /// Fractional change.
        shift: f64,
    },
}

impl CovariateEffect {
    fn parameter(&self) -> usize {
        match self {
            Self::Power { parameter, .. }
            | Self::Linear { parameter, .. }
            | Self::Exponential { parameter, .. }
            | Self::PiecewiseLinear { parameter, .. }
            | Self::Threshold { parameter, .. }
            | Self::Categorical { parameter, .. } => *parameter,
        }
    }

    fn factor(&self, covariates: &[f64], references: &[f64]) -> f64 {
        match *self {
            Self::Power {
                covariate,
                exponent,
                ..
            } => math::pow(covariates[covariate] / references[covariate], exponent),
            Self::Linear {
                covariate, slope, ..
            } => 1.0 + slope * (covariates[covariate] - references[covariate]),
            Self::Exponential {
                covariate,
                coefficient,
                ..
            } => math::exp(coefficient * (covariates[covariate] - references[covariate])),
            Self::PiecewiseLinear {
                covariate,
                knot,
                slope_below,
                slope_above,
                ..
            } => {
                let c = covariates[covariate];
                1.0 + if c <= knot { slope_below } else { slope_above } * (c - knot)
            }
            Self::Threshold {
                covariate,
                threshold,
                shift,
                ..
            } => {
                if covariates[covariate] >= threshold {
                    1.0 + shift
                } else {
                    1.0
                }
            }
            Self::Categorical {
                covariate,
                level,
                shift,
                ..
            } => {
                if (covariates[covariate] - level).abs() < 1e-9 {
                    1.0 + shift
                } else {
                    1.0
                }
            }
        }
    }
}

/// Residual (observation) error model of one output, with `ε ~ N(0, 1)`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum ResidualError {
    /// No residual error.
    None,
    /// `y = f + sd·ε`.
    Additive {
        /// Standard deviation, in output units.
        sd: f64,
    },
    /// `y = f · (1 + sd·ε)`.
    Proportional {
        /// Coefficient of variation (fraction).
        sd: f64,
    },
    /// `y = f + √(additive_sd² + (proportional_sd·f)²)·ε`.
    Combined {
        /// Additive standard deviation.
        additive_sd: f64,
        /// Proportional coefficient of variation.
        proportional_sd: f64,
    },
    /// `y = f · e^(sd·ε)` (additive on the log scale).
    Exponential {
        /// Standard deviation on the log scale.
        sd: f64,
    },
}

impl ResidualError {
    /// Observation for prediction `f` and standard normal `epsilon`.
    #[must_use]
    pub fn observe(self, f: f64, epsilon: f64) -> f64 {
        match self {
            Self::None => f,
            Self::Additive { sd } => f + sd * epsilon,
            Self::Proportional { sd } => f * (1.0 + sd * epsilon),
            Self::Combined {
                additive_sd,
                proportional_sd,
            } => f + math::hypot(additive_sd, proportional_sd * f) * epsilon,
            Self::Exponential { sd } => f * math::exp(sd * epsilon),
        }
    }
}

/// Random effects, covariate effects and residual errors of a model, as declared.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VariabilityModel {
    /// Random effects, in the order of η.
    pub random_effects: Vec<RandomEffect>,
    /// Ω, row-major, `n × n` for `n` random effects (variances on the diagonal).
    pub omega: Vec<f64>,
    /// Covariate effects on typical values.
    pub covariate_effects: Vec<CovariateEffect>,
    /// Residual error per output (same length as the model's outputs, or empty for none).
    pub residual: Vec<ResidualError>,
}

/// A validated population model, ready to sample: Ω factorised once.
#[derive(Debug, Clone)]
pub struct Population {
    variability: VariabilityModel,
    typical: Vec<f64>,
    covariate_references: Vec<f64>,
    cholesky_lower: DMatrix<f64>,
}

impl Population {
    /// Validates Ω (symmetric positive semi-definite; zero rows allowed for fixed effects) and
    /// factorises it.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] if Ω has the wrong size, is not symmetric or not positive
    /// semi-definite, or an effect names a parameter or covariate that does not exist.
    pub fn new(
        variability: VariabilityModel,
        typical: Vec<f64>,
        covariate_references: Vec<f64>,
    ) -> Result<Self, EngineError> {
        let n = variability.random_effects.len();
        if variability.omega.len() != n * n {
            return Err(EngineError::invalid(
                "omega",
                format!(
                    "expected {n}×{n} = {} entries, got {}",
                    n * n,
                    variability.omega.len()
                ),
            ));
        }
        for effect in &variability.random_effects {
            if effect.parameter >= typical.len() {
                return Err(EngineError::invalid(
                    "random effect",
                    format!("parameter index {} out of range", effect.parameter),
                ));
            }
        }
        for effect in &variability.covariate_effects {
            if effect.parameter() >= typical.len() {
                return Err(EngineError::invalid(
                    "covariate effect",
                    format!("parameter index {} out of range", effect.parameter()),
                ));
            }
        }
        let omega = DMatrix::from_row_slice(n, n, &variability.omega);
        for i in 0..n {
            for j in 0..i {
                if (omega[(i, j)] - omega[(j, i)]).abs()
                    > 1e-12 * (omega[(i, i)].abs() + omega[(j, j)].abs()).max(1e-300)
                {
                    return Err(EngineError::invalid(
                        "omega",
                        format!("not symmetric at ({}, {})", i + 1, j + 1),
                    ));
                }
            }
        }
        let cholesky_lower = semidefinite_cholesky(&omega)?;
        Ok(Self {
            variability,
            typical,
            covariate_references,
            cholesky_lower,
        })
    }

    /// Number of random effects.
    #[must_use]
    pub fn n_eta(&self) -> usize {
        self.variability.random_effects.len()
    }

    /// The declaration this population was built from.
    #[must_use]
    pub fn variability(&self) -> &VariabilityModel {
        &self.variability
    }

    /// Typical parameter values θ.
    #[must_use]
    pub fn typical(&self) -> &[f64] {
        &self.typical
    }

    /// Draws `η = L·z` with `L Lᵀ = Ω` and `z` standard normal from `stream`, into `eta`.
    pub fn sample_eta(&self, stream: &mut RandomStream, eta: &mut [f64]) {
        let n = self.n_eta();
        let mut z = [0.0; 32];
        let mut z_heap;
        let z: &mut [f64] = if n <= 32 {
            &mut z[..n]
        } else {
            z_heap = vec![0.0; n];
            &mut z_heap
        };
        for zi in z.iter_mut() {
            *zi = stream.normal();
        }
        for (i, eta_i) in eta.iter_mut().enumerate().take(n) {
            *eta_i = (0..=i).map(|j| self.cholesky_lower[(i, j)] * z[j]).sum();
        }
    }

    /// Writes individual parameters for covariates `covariates` (model order; NaN = reference)
    /// and random effects `eta` into `params`.
    pub fn individual_parameters(&self, covariates: &[f64], eta: &[f64], params: &mut [f64]) {
        params.copy_from_slice(&self.typical);
        if !self.variability.covariate_effects.is_empty() {
            let mut filled = [0.0; 32];
            let n_cov = covariates.len().min(32);
            for (i, slot) in filled.iter_mut().enumerate().take(n_cov) {
                *slot = if covariates[i].is_nan() {
                    self.covariate_references[i]
                } else {
                    covariates[i]
                };
            }
            for effect in &self.variability.covariate_effects {
                params[effect.parameter()] *=
                    effect.factor(&filled[..n_cov], &self.covariate_references);
            }
        }
        for (effect, &eta_k) in self.variability.random_effects.iter().zip(eta) {
            params[effect.parameter] = effect.transform.apply(params[effect.parameter], eta_k);
        }
    }

    /// Residual error model of output `output`.
    #[must_use]
    pub fn residual(&self, output: usize) -> ResidualError {
        self.variability
            .residual
            .get(output)
            .copied()
            .unwrap_or(ResidualError::None)
    }
}

/// Lower-triangular `L` with `L Lᵀ = Ω` for a positive semi-definite Ω. Rows of zero variance
/// (a fixed random effect) get zero rows, which the plain Cholesky of nalgebra would reject.
fn semidefinite_cholesky(omega: &DMatrix<f64>) -> Result<DMatrix<f64>, EngineError> {
    let n = omega.nrows();
    let active: Vec<usize> = (0..n).filter(|&i| omega[(i, i)] != 0.0).collect();
    for &i in &active {
        if omega[(i, i)] < 0.0 {
            return Err(EngineError::invalid(
                "omega",
                format!("negative variance at ({0}, {0})", i + 1),
            ));
        }
    }
    let sub = DMatrix::from_fn(active.len(), active.len(), |r, c| {
        omega[(active[r], active[c])]
    });
    let chol = nalgebra::Cholesky::new(sub)
        .ok_or_else(|| EngineError::invalid("omega", "not positive definite"))?;
    let l_sub = chol.l();
    let mut lower = DMatrix::zeros(n, n);
    for (r, &i) in active.iter().enumerate() {
        for (c, &j) in active.iter().enumerate() {
            lower[(i, j)] = l_sub[(r, c)];
        }
    }
    for i in 0..n {
        if !active.contains(&i) {
            for j in 0..n {
                if omega[(i, j)] != 0.0 {
                    return Err(EngineError::invalid(
                        "omega",
                        format!("row {} has zero variance but non-zero covariance", i + 1),
                    ));
                }
            }
        }
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Purpose;

    fn population(omega: Vec<f64>) -> Result<Population, EngineError> {
        let variability = VariabilityModel {
            random_effects: vec![
                RandomEffect {
                    parameter: 0,
                    transform: Transform::LogNormal,
                },
                RandomEffect {
                    parameter: 1,
                    transform: Transform::LogNormal,
                },
            ],
            omega,
            covariate_effects: vec![CovariateEffect::Power {
                parameter: 0,
                covariate: 0,
                exponent: 0.75,
            }],
            residual: vec![],
        };
        Population::new(variability, vec![4.0, 70.0], vec![70.0])
    }

    #[test]
    fn sampled_eta_reproduces_full_omega() {
        // Sample covariance of 100 000 draws against Ω; 5 standard errors of a covariance estimate.
        let omega = vec![0.09, 0.03, 0.03, 0.04];
        let pop = population(omega.clone()).unwrap();
        let n = 100_000;
        let (mut s00, mut s01, mut s11) = (0.0, 0.0, 0.0);
        let mut eta = [0.0; 2];
        for patient in 0..n {
            let mut stream = RandomStream::new(9, 0, patient, Purpose::Eta);
            pop.sample_eta(&mut stream, &mut eta);
            s00 += eta[0] * eta[0];
            s01 += eta[0] * eta[1];
            s11 += eta[1] * eta[1];
        }
        let nf = n as f64;
        for (got, want) in [
            (s00 / nf, omega[0]),
            (s01 / nf, omega[1]),
            (s11 / nf, omega[3]),
        ] {
            assert!(
                (got - want).abs() < 5.0 * 0.09 * (2.0 / nf).sqrt(),
                "{got} vs {want}"
            );
        }
    }

    #[test]
    fn covariates_and_transforms_give_individual_parameters() {
        let pop = population(vec![0.09, 0.0, 0.0, 0.04]).unwrap();
        let mut params = [0.0; 2];
        pop.individual_parameters(&[35.0], &[0.1, -0.2], &mut params);
        let expected_cl = 4.0 * math::pow(35.0_f64 / 70.0, 0.75) * math::exp(0.1_f64);
        assert!((params[0] - expected_cl).abs() < 1e-12);
        assert!((params[1] - 70.0 * math::exp(-0.2_f64)).abs() < 1e-12);
        // A missing covariate takes its reference value.
        pop.individual_parameters(&[f64::NAN], &[0.0, 0.0], &mut params);
        assert!((params[0] - 4.0).abs() < 1e-12);
    }

    #[test]
    fn invalid_omega_is_rejected() {
        assert!(
            population(vec![0.09, 0.5, 0.5, 0.04]).is_err(),
            "not positive definite"
        );
        assert!(
            population(vec![0.09, 0.01, 0.02, 0.04]).is_err(),
            "not symmetric"
        );
        assert!(population(vec![0.09]).is_err(), "wrong size");
    }

    #[test]
    fn logit_transform_stays_in_unit_interval() {
        for eta in [-10.0, -1.0, 0.0, 1.0, 10.0] {
            let p = Transform::Logit.apply(0.3, eta);
            assert!(p > 0.0 && p < 1.0);
        }
        assert!((Transform::Logit.apply(0.3, 0.0) - 0.3).abs() < 1e-12);
    }
}
