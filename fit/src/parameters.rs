//! The estimable parameters of a model: names, which are estimated, their values and the
//! unconstrained coordinates the optimiser moves.
//!
//! # Names
//!
//! | name | what | scale of the coordinate |
//! | --- | --- | --- |
//! | `CL` | typical value θ of a model parameter | `ln θ` when its lower bound is ≥ 0, else θ |
//! | `CL~WT` | coefficient of a covariate effect on `CL` (exponent, slope, coefficient or shift, see [`twin_models::fitted::covariate_coefficient`]) | `ln(1 + shift)` for threshold and categorical shifts, else the coefficient |
//! | `OMEGA(CL)` | variance ω² of the random effect on `CL` | `ln ω` (diagonal Ω) or the log-diagonal of the Cholesky factor (full Ω) |
//! | `OMEGA(CL,V)` | covariance of the random effects on `CL` and `V` (full Ω only) | an off-diagonal element of the Cholesky factor `L`, `Ω = L Lᵀ` |
//! | `SD(CP)` | standard deviation of the residual error of output `CP` (σ for additive, the coefficient of variation for proportional, σ of `ln y` for exponential) | `ln σ` |
//! | `SD_ADD(CP)`, `SD_PROP(CP)` | the two standard deviations of a combined error | `ln σ` |
//!
//! Names are matched without regard to case. A second effect of the same covariate on the same
//! parameter is `CL~WT#2`; a random effect on a parameter that has two is `OMEGA(ETA3)`.
//!
//! # What is estimated by default
//!
//! - the typical value of every parameter that carries a random effect with non-zero variance in
//!   the model (parameters without one — dose modifiers such as `F1`, `ALAG1`, placeholders — keep
//!   the model's value);
//! - the coefficient of every covariate effect except power effects, whose exponents are by
//!   convention fixed (allometric scaling, e.g. pheno's `WT^1`) \[A\];
//! - Ω: every variance of a random effect with non-zero variance, and with a full Ω every
//!   covariance among them;
//! - the residual standard deviations of every output that has observations in the data.
//!
//! `--fix NAME=VALUE` fixes one (a variance fixed at 0 removes its random effect), `--estimate
//! NAME` frees one, `--init NAME=VALUE` changes an initial estimate.

use nalgebra::DMatrix;
use twin_engine::population::{Population, ResidualError, VariabilityModel};
use twin_engine::{EngineError, Model};
use twin_models::fitted::{covariate_coefficient, covariate_target, with_covariate_coefficient};

use crate::FitError;

/// Which elements of Ω are estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OmegaStructure {
    /// Full if the model's Ω has a non-zero covariance among its random effects, else diagonal.
    #[default]
    AsModel,
    /// Variances only; covariances are zero.
    Diagonal,
    /// Every variance and covariance of the random effects with non-zero variance.
    Full,
}

/// A residual error model chosen for an output instead of the model's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorModel {
    /// `y = f + σ·ε`.
    Additive,
    /// `y = f·(1 + σ·ε)`.
    Proportional,
    /// `y = f + √(σ_a² + σ_p²·f²)·ε`.
    Combined,
    /// `ln y = ln f + σ·ε`.
    Exponential,
}

impl ErrorModel {
    /// Parses `additive`, `proportional`, `combined` or `exponential` (case-insensitive).
    ///
    /// # Errors
    /// [`FitError::Option`] naming the accepted words.
    pub fn parse(text: &str) -> Result<Self, FitError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "additive" | "add" => Ok(Self::Additive),
            "proportional" | "prop" => Ok(Self::Proportional),
            "combined" => Ok(Self::Combined),
            "exponential" | "exp" => Ok(Self::Exponential),
            _ => Err(FitError::option(
                "--error",
                format!(
                    "'{text}' is not an error model; expected additive, proportional, combined \
                     or exponential"
                ),
            )),
        }
    }
}

/// Which parameters are fixed, freed or started elsewhere, and the structure of Ω and the
/// residual errors. By default, nothing changes the rules of the [module documentation](self).
#[derive(Debug, Clone, Default)]
pub struct ParameterSettings {
    /// `NAME = VALUE`: fixed at the value. By default, none.
    pub fix: Vec<(String, f64)>,
    /// Names estimated although fixed by default. By default, none.
    pub estimate: Vec<String>,
    /// `NAME = VALUE`: initial estimate instead of the model's value. By default, none.
    pub initial: Vec<(String, f64)>,
    /// Structure of Ω. By default, [`OmegaStructure::AsModel`].
    pub omega: OmegaStructure,
    /// `(output name, error model)`: residual error models replacing the model's. By default,
    /// none.
    pub error_models: Vec<(String, ErrorModel)>,
}

/// What a parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Typical value of model parameter `.0`.
    Typical(usize),
    /// Coefficient of covariate effect `.0`.
    Covariate(usize),
    /// Variance of random effect `.0`.
    Variance(usize),
    /// Covariance of random effects `.0` and `.1` (`.0 > .1`).
    Covariance(usize, usize),
    /// Residual standard deviation of `output`; `component` 0 is the additive (or only) one, 1
    /// the proportional one of a combined error.
    Sd {
        /// Output index.
        output: usize,
        /// Component.
        component: usize,
    },
}

/// One named population parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Name (see the [module documentation](self)).
    pub name: String,
    /// What it is.
    pub slot: Slot,
    /// Initial estimate, or the fixed value.
    pub initial: f64,
    /// Whether it is estimated.
    pub estimated: bool,
}

/// Scale of a scalar coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    Log,
    Identity,
    LogOnePlus,
}

impl Scale {
    fn to_coordinate(self, value: f64) -> f64 {
        match self {
            Self::Log => value.ln(),
            Self::Identity => value,
            Self::LogOnePlus => value.ln_1p(),
        }
    }
    fn to_value(self, x: f64) -> f64 {
        match self {
            Self::Log => x.exp(),
            Self::Identity => x,
            Self::LogOnePlus => x.exp_m1(),
        }
    }
}

/// The population parameters of a model in natural units: what a fitted version stores.
#[derive(Debug, Clone, PartialEq)]
pub struct Values {
    /// Typical value of every model parameter.
    pub typical: Vec<f64>,
    /// Coefficient of every covariate effect.
    pub covariate_coefficients: Vec<f64>,
    /// Ω, row-major `n_eta × n_eta`.
    pub omega: Vec<f64>,
    /// Residual error per output.
    pub residual: Vec<ResidualError>,
}

/// The parameters of one fit: every named parameter, which are estimated, and the map between
/// the optimiser's unconstrained coordinates `x` and [`Values`].
#[derive(Debug, Clone)]
pub struct ParameterSet {
    parameters: Vec<Parameter>,
    /// Estimated non-Ω parameters: index into `parameters` and scale.
    scalars: Vec<(usize, Scale)>,
    /// Random effects with non-zero variance.
    free_eta: Vec<usize>,
    /// Full Ω (Cholesky coordinates) or diagonal.
    full_omega: bool,
    /// Diagonal Ω: indices into `parameters` of the estimated variances.
    estimated_variances: Vec<usize>,
    /// Values of everything not estimated (and initial values of the rest).
    base: Values,
    /// Parameter bounds of the typical values (lower, upper).
    bounds: Vec<(f64, f64)>,
    /// Covariate references, for [`Population::new`].
    covariate_references: Vec<f64>,
    variability: VariabilityModel,
}

impl ParameterSet {
    /// The parameters of `model` under `settings`; `observed_values[o]` holds the observed values
    /// of output `o` in the data (which outputs have a residual error to estimate, and a scale
    /// for a new additive error).
    ///
    /// # Errors
    /// [`FitError::Option`] for an unknown name (listing the known ones), a name both fixed and
    /// estimated, a value outside a parameter's bounds, a non-positive initial value on a log
    /// scale, a fixed Ω element other than a variance of 0 under a full Ω, an unknown output in an
    /// error model, or an initial Ω that is not positive definite.
    pub fn new<M: Model + ?Sized>(
        model: &M,
        observed_values: &[Vec<f64>],
        settings: &ParameterSettings,
    ) -> Result<Self, FitError> {
        let spec = model.spec();
        let variability = spec.variability.clone();
        let n_eta = variability.random_effects.len();
        let mut residual: Vec<ResidualError> = (0..spec.outputs.len())
            .map(|o| {
                variability
                    .residual
                    .get(o)
                    .copied()
                    .unwrap_or(ResidualError::None)
            })
            .collect();
        for (output, error_model) in &settings.error_models {
            let o = spec.output_index(output).ok_or_else(|| {
                let names: Vec<&str> = spec.outputs.iter().map(|o| o.name).collect();
                FitError::option(
                    "--error",
                    format!(
                        "model {} has no output {output}; it has {}",
                        spec.id,
                        names.join(", ")
                    ),
                )
            })?;
            residual[o] = new_error_model(residual[o], *error_model, &observed_values[o]);
        }
        let omega = &variability.omega;
        let full_omega = match settings.omega {
            OmegaStructure::Full => true,
            OmegaStructure::Diagonal => false,
            OmegaStructure::AsModel => {
                (0..n_eta).any(|i| (0..i).any(|j| omega[i * n_eta + j].abs() > 0.0))
            }
        };
        let mut parameters = Vec::new();
        let with_eta: Vec<usize> = (0..n_eta)
            .filter(|&k| omega[k * n_eta + k] > 0.0)
            .map(|k| variability.random_effects[k].parameter)
            .collect();
        for (p, spec_p) in spec.parameters.iter().enumerate() {
            parameters.push(Parameter {
                name: spec_p.name.to_owned(),
                slot: Slot::Typical(p),
                initial: spec_p.typical,
                estimated: with_eta.contains(&p),
            });
        }
        for (e, effect) in variability.covariate_effects.iter().enumerate() {
            let (p, c) = covariate_target(effect);
            let mut name = format!(
                "{}~{}",
                spec.parameters[p].name,
                spec.covariates.get(c).map_or("?", |c| c.name)
            );
            let n_same = parameters
                .iter()
                .filter(|q: &&Parameter| q.name == name || q.name.starts_with(&format!("{name}#")))
                .count();
            if n_same > 0 {
                name = format!("{name}#{}", n_same + 1);
            }
            parameters.push(Parameter {
                name,
                slot: Slot::Covariate(e),
                initial: covariate_coefficient(effect),
                estimated: !matches!(
                    effect,
                    twin_engine::population::CovariateEffect::Power { .. }
                ),
            });
        }
        let eta_names: Vec<String> = (0..n_eta)
            .map(|k| {
                let p = variability.random_effects[k].parameter;
                let n_on_p = variability
                    .random_effects
                    .iter()
                    .filter(|r| r.parameter == p)
                    .count();
                if n_on_p == 1 {
                    spec.parameters[p].name.to_owned()
                } else {
                    format!("ETA{}", k + 1)
                }
            })
            .collect();
        for k in 0..n_eta {
            let variance = omega[k * n_eta + k];
            parameters.push(Parameter {
                name: format!("OMEGA({})", eta_names[k]),
                slot: Slot::Variance(k),
                initial: variance,
                estimated: variance > 0.0,
            });
        }
        if full_omega {
            for k in 0..n_eta {
                for l in 0..k {
                    if omega[k * n_eta + k] > 0.0 && omega[l * n_eta + l] > 0.0 {
                        parameters.push(Parameter {
                            name: format!("OMEGA({},{})", eta_names[l], eta_names[k]),
                            slot: Slot::Covariance(k, l),
                            initial: omega[k * n_eta + l],
                            estimated: true,
                        });
                    }
                }
            }
        }
        for (o, r) in residual.iter().enumerate() {
            let out = spec.outputs[o].name;
            let observed = !observed_values[o].is_empty();
            match *r {
                ResidualError::None => {}
                ResidualError::Additive { sd }
                | ResidualError::Proportional { sd }
                | ResidualError::Exponential { sd } => parameters.push(Parameter {
                    name: format!("SD({out})"),
                    slot: Slot::Sd {
                        output: o,
                        component: 0,
                    },
                    initial: sd,
                    estimated: observed,
                }),
                ResidualError::Combined {
                    additive_sd,
                    proportional_sd,
                } => {
                    for (component, label, sd) in
                        [(0, "SD_ADD", additive_sd), (1, "SD_PROP", proportional_sd)]
                    {
                        parameters.push(Parameter {
                            name: format!("{label}({out})"),
                            slot: Slot::Sd {
                                output: o,
                                component,
                            },
                            initial: sd,
                            estimated: observed,
                        });
                    }
                }
            }
        }

        let find = |parameters: &[Parameter], name: &str, flag: &str| {
            parameters
                .iter()
                .position(|p| p.name.eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| {
                    let names: Vec<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
                    FitError::option(
                        format!("{flag} {name}"),
                        format!(
                            "model {} has no such parameter; it has {}",
                            spec.id,
                            names.join(", ")
                        ),
                    )
                })
        };
        for (name, value) in &settings.initial {
            let idx = find(&parameters, name, "--init")?;
            parameters[idx].initial = *value;
        }
        for (name, value) in &settings.fix {
            let idx = find(&parameters, name, "--fix")?;
            if settings
                .estimate
                .iter()
                .any(|e| e.trim().eq_ignore_ascii_case(name.trim()))
            {
                return Err(FitError::option(
                    format!("--fix {name}"),
                    "the parameter is also given to --estimate; choose one".to_owned(),
                ));
            }
            let slot = parameters[idx].slot;
            match slot {
                Slot::Variance(_) if full_omega && value.abs() > 0.0 => {
                    return Err(FitError::option(
                        format!("--fix {name}"),
                        "with a full Ω only a variance of 0 (no random effect) can be fixed; \
                         use --omega diagonal to fix other values"
                            .to_owned(),
                    ));
                }
                Slot::Covariance(..) => {
                    return Err(FitError::option(
                        format!("--fix {name}"),
                        "covariances of a full Ω cannot be fixed; use --omega diagonal for \
                         zero covariances"
                            .to_owned(),
                    ));
                }
                _ => {}
            }
            parameters[idx].initial = *value;
            parameters[idx].estimated = false;
        }
        for name in &settings.estimate {
            let idx = find(&parameters, name, "--estimate")?;
            parameters[idx].estimated = true;
        }
        // A variance fixed at 0 removes its random effect, and its covariances with it.
        let removed: Vec<usize> = parameters
            .iter()
            .filter_map(|p| match p.slot {
                Slot::Variance(k) if p.initial <= 0.0 => Some(k),
                _ => None,
            })
            .collect();
        parameters.retain(|p| match p.slot {
            Slot::Covariance(k, l) => !removed.contains(&k) && !removed.contains(&l),
            _ => true,
        });
        for p in &mut parameters {
            if let Slot::Variance(k) = p.slot
                && removed.contains(&k)
            {
                p.estimated = false;
                p.initial = 0.0;
            }
        }
        let free_eta: Vec<usize> = (0..n_eta).filter(|k| !removed.contains(k)).collect();

        // Values of everything at the initial estimates.
        let mut base = Values {
            typical: spec.typical_parameters(),
            covariate_coefficients: variability
                .covariate_effects
                .iter()
                .map(covariate_coefficient)
                .collect(),
            omega: vec![0.0; n_eta * n_eta],
            residual,
        };
        // A model's covariances are kept only when Ω is estimated in full.
        if full_omega {
            for &k in &free_eta {
                for &l in &free_eta {
                    base.omega[k * n_eta + l] = omega[k * n_eta + l];
                }
            }
        }
        let bounds: Vec<(f64, f64)> = spec.parameters.iter().map(|p| (p.lower, p.upper)).collect();
        let mut scalars = Vec::new();
        let mut estimated_variances = Vec::new();
        for (idx, p) in parameters.iter().enumerate() {
            let bad = |message: String| FitError::option(p.name.clone(), message);
            if !p.initial.is_finite() {
                return Err(bad(format!("value {} is not finite", p.initial)));
            }
            match p.slot {
                Slot::Typical(j) => {
                    let (lower, upper) = bounds[j];
                    if !(lower..=upper).contains(&p.initial) {
                        return Err(bad(format!(
                            "value {} is outside the parameter's bounds [{lower}, {upper}] {}",
                            p.initial, spec.parameters[j].unit
                        )));
                    }
                    base.typical[j] = p.initial;
                    if p.estimated {
                        let scale = if lower >= 0.0 {
                            Scale::Log
                        } else {
                            Scale::Identity
                        };
                        if scale == Scale::Log && p.initial <= 0.0 {
                            return Err(bad(format!(
                                "the initial estimate {} must be positive (the parameter is \
                                 estimated on a log scale); give one with --init {}=VALUE",
                                p.initial, p.name
                            )));
                        }
                        scalars.push((idx, scale));
                    }
                }
                Slot::Covariate(e) => {
                    base.covariate_coefficients[e] = p.initial;
                    let shift = matches!(
                        variability.covariate_effects[e],
                        twin_engine::population::CovariateEffect::Threshold { .. }
                            | twin_engine::population::CovariateEffect::Categorical { .. }
                    );
                    if shift && p.initial <= -1.0 {
                        return Err(bad(format!(
                            "a shift of {} makes the parameter non-positive; expected > -1",
                            p.initial
                        )));
                    }
                    if p.estimated {
                        scalars.push((
                            idx,
                            if shift {
                                Scale::LogOnePlus
                            } else {
                                Scale::Identity
                            },
                        ));
                    }
                }
                Slot::Variance(k) => {
                    if p.initial < 0.0 {
                        return Err(bad(format!("a variance of {} is negative", p.initial)));
                    }
                    base.omega[k * n_eta + k] = p.initial;
                    if p.estimated && !full_omega {
                        estimated_variances.push(idx);
                    }
                }
                Slot::Covariance(k, l) => {
                    base.omega[k * n_eta + l] = p.initial;
                    base.omega[l * n_eta + k] = p.initial;
                }
                Slot::Sd { output, component } => {
                    if p.initial <= 0.0 {
                        return Err(bad(format!(
                            "a residual standard deviation of {} must be positive",
                            p.initial
                        )));
                    }
                    base.residual[output] = with_sd(base.residual[output], component, p.initial);
                    if p.estimated {
                        scalars.push((idx, Scale::Log));
                    }
                }
            }
        }
        let res = Self {
            parameters,
            scalars,
            free_eta,
            full_omega,
            estimated_variances,
            base,
            bounds,
            covariate_references: spec.covariates.iter().map(|c| c.reference).collect(),
            variability,
        };
        if res.full_omega && !res.free_eta.is_empty() {
            res.omega_cholesky(&res.base.omega).ok_or_else(|| {
                FitError::option(
                    "initial Ω",
                    "is not positive definite; give other covariances with --init".to_owned(),
                )
            })?;
        }
        Ok(res)
    }

    /// Every named parameter, estimated or not.
    #[must_use]
    pub fn parameters(&self) -> &[Parameter] {
        &self.parameters
    }

    /// Number of coordinates (estimated parameters).
    #[must_use]
    pub fn n_coordinates(&self) -> usize {
        self.scalars.len()
            + if self.full_omega {
                let m = self.free_eta.len();
                m * (m + 1) / 2
            } else {
                self.estimated_variances.len()
            }
    }

    /// Random effects with non-zero variance.
    #[must_use]
    pub fn free_eta(&self) -> &[usize] {
        &self.free_eta
    }

    /// Indices into [`Self::parameters`] of the estimated parameters, in coordinate order.
    #[must_use]
    pub fn estimated(&self) -> Vec<usize> {
        let mut res: Vec<usize> = self.scalars.iter().map(|(i, _)| *i).collect();
        if self.full_omega {
            for (r, &k) in self.free_eta.iter().enumerate() {
                for &l in &self.free_eta[..=r] {
                    let idx = self.parameters.iter().position(|p| {
                        if k == l {
                            p.slot == Slot::Variance(k)
                        } else {
                            p.slot == Slot::Covariance(k, l)
                        }
                    });
                    res.push(idx.expect("every free pair has a parameter"));
                }
            }
        } else {
            res.extend(&self.estimated_variances);
        }
        res
    }

    /// Coordinates of the initial estimates.
    #[must_use]
    pub fn initial_coordinates(&self) -> Vec<f64> {
        let mut x: Vec<f64> = self
            .scalars
            .iter()
            .map(|&(i, scale)| scale.to_coordinate(self.parameters[i].initial))
            .collect();
        x.extend(self.omega_coordinates(&self.base.omega));
        x
    }

    /// Ω coordinates of `omega`: `ln ω` per estimated variance (diagonal) or the Cholesky
    /// factor's lower triangle row by row, log on its diagonal (full).
    fn omega_coordinates(&self, omega: &[f64]) -> Vec<f64> {
        let n_eta = self.variability.random_effects.len();
        if self.full_omega {
            let Some(l) = self.omega_cholesky(omega) else {
                return Vec::new();
            };
            let mut res = Vec::new();
            for r in 0..self.free_eta.len() {
                for c in 0..=r {
                    res.push(if r == c { l[(r, c)].ln() } else { l[(r, c)] });
                }
            }
            res
        } else {
            self.estimated_variances
                .iter()
                .map(|&i| match self.parameters[i].slot {
                    Slot::Variance(k) => 0.5 * omega[k * n_eta + k].ln(),
                    _ => unreachable!("estimated_variances holds variances only"),
                })
                .collect()
        }
    }

    /// The coordinates of `values` (the inverse of [`Self::values`] on the estimated
    /// parameters); empty Ω coordinates when a full Ω block is not positive definite.
    #[must_use]
    pub fn coordinates(&self, values: &Values) -> Vec<f64> {
        let mut x: Vec<f64> = self
            .scalars
            .iter()
            .map(|&(i, scale)| scale.to_coordinate(self.value_of(values, i)))
            .collect();
        x.extend(self.omega_coordinates(&values.omega));
        x
    }

    /// The random effects of the model (η order).
    #[must_use]
    pub fn random_effects(&self) -> &[twin_engine::population::RandomEffect] {
        &self.variability.random_effects
    }

    /// Number of scalar (non-Ω) coordinates; Ω's coordinates follow them.
    #[must_use]
    pub fn n_scalar_coordinates(&self) -> usize {
        self.scalars.len()
    }

    /// Whether Ω is estimated in full (Cholesky coordinates).
    #[must_use]
    pub fn full_omega(&self) -> bool {
        self.full_omega
    }

    /// Lower Cholesky factor of the free block of `omega`.
    fn omega_cholesky(&self, omega: &[f64]) -> Option<DMatrix<f64>> {
        let n_eta = self.variability.random_effects.len();
        let m = self.free_eta.len();
        let block = DMatrix::from_fn(m, m, |r, c| {
            omega[self.free_eta[r] * n_eta + self.free_eta[c]]
        });
        nalgebra::Cholesky::new(block).map(|c| c.l())
    }

    /// The values at coordinates `x`.
    #[must_use]
    pub fn values(&self, x: &[f64]) -> Values {
        let mut res = self.base.clone();
        for (&(idx, scale), &xi) in self.scalars.iter().zip(x) {
            let value = scale.to_value(xi);
            match self.parameters[idx].slot {
                Slot::Typical(j) => res.typical[j] = value,
                Slot::Covariate(e) => res.covariate_coefficients[e] = value,
                Slot::Sd { output, component } => {
                    res.residual[output] = with_sd(res.residual[output], component, value);
                }
                Slot::Variance(_) | Slot::Covariance(..) => {}
            }
        }
        let omega_x = &x[self.scalars.len()..];
        let n_eta = self.variability.random_effects.len();
        if self.full_omega {
            let m = self.free_eta.len();
            let mut l = DMatrix::zeros(m, m);
            let mut i = 0;
            for r in 0..m {
                for c in 0..=r {
                    l[(r, c)] = if r == c { omega_x[i].exp() } else { omega_x[i] };
                    i += 1;
                }
            }
            let block = &l * l.transpose();
            for (r, &k) in self.free_eta.iter().enumerate() {
                for (c, &j) in self.free_eta.iter().enumerate() {
                    res.omega[k * n_eta + j] = block[(r, c)];
                }
            }
        } else {
            for (&idx, &xi) in self.estimated_variances.iter().zip(omega_x) {
                if let Slot::Variance(k) = self.parameters[idx].slot {
                    res.omega[k * n_eta + k] = (2.0 * xi).exp();
                }
            }
        }
        res
    }

    /// The value of parameter `idx` (index into [`Self::parameters`]) in `values`.
    #[must_use]
    pub fn value_of(&self, values: &Values, idx: usize) -> f64 {
        let n_eta = self.variability.random_effects.len();
        match self.parameters[idx].slot {
            Slot::Typical(j) => values.typical[j],
            Slot::Covariate(e) => values.covariate_coefficients[e],
            Slot::Variance(k) => values.omega[k * n_eta + k],
            Slot::Covariance(k, l) => values.omega[k * n_eta + l],
            Slot::Sd { output, component } => sd_of(values.residual[output], component),
        }
    }

    /// Natural values of the estimated parameters ([`Self::estimated`] order) at `x`.
    #[must_use]
    pub fn estimated_values(&self, x: &[f64]) -> Vec<f64> {
        let values = self.values(x);
        self.estimated()
            .into_iter()
            .map(|i| self.value_of(&values, i))
            .collect()
    }

    /// Whether `values` keep every typical value within its bounds.
    #[must_use]
    pub fn within_bounds(&self, values: &Values) -> bool {
        values
            .typical
            .iter()
            .zip(&self.bounds)
            .all(|(v, (lo, hi))| v.is_finite() && *v >= *lo && *v <= *hi)
    }

    /// Bounds of the typical value of model parameter `j`.
    #[must_use]
    pub fn bounds(&self, j: usize) -> (f64, f64) {
        self.bounds[j]
    }

    /// The population (θ, covariate effects, Ω, residual errors) of `values`.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] when Ω is not positive semi-definite.
    pub fn population(&self, values: &Values) -> Result<Population, EngineError> {
        let mut variability = self.variability.clone();
        variability.covariate_effects = self
            .variability
            .covariate_effects
            .iter()
            .zip(&values.covariate_coefficients)
            .map(|(effect, &c)| with_covariate_coefficient(effect, c))
            .collect();
        variability.omega.clone_from(&values.omega);
        variability.residual.clone_from(&values.residual);
        Population::new(
            variability,
            values.typical.clone(),
            self.covariate_references.clone(),
        )
    }

    /// Names of the random effects, in η order (`CL` for the effect on `CL`).
    #[must_use]
    pub fn eta_names(&self) -> Vec<String> {
        let n_eta = self.variability.random_effects.len();
        (0..n_eta)
            .map(|k| {
                self.parameters
                    .iter()
                    .find(|p| p.slot == Slot::Variance(k))
                    .map_or(format!("ETA{}", k + 1), |p| {
                        p.name
                            .trim_start_matches("OMEGA(")
                            .trim_end_matches(')')
                            .to_owned()
                    })
            })
            .collect()
    }
}

/// The model's own value of the parameter called `name` (see the [module documentation](self)
/// for names), e.g. `model_value(&model, "OMEGA(CL)")`; `None` for an unknown name.
#[must_use]
pub fn model_value<M: Model + ?Sized>(model: &M, name: &str) -> Option<f64> {
    let observed = vec![Vec::new(); model.spec().outputs.len()];
    let set = ParameterSet::new(model, &observed, &ParameterSettings::default()).ok()?;
    set.parameters()
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
        .map(|p| p.initial)
}

/// The residual error of an output switched to `kind`, with initial standard deviations: the
/// model's relative ones where they exist (else 0.1) and, for an additive part, 0.1 × the median
/// absolute observed value \[A\] (1 without observations).
fn new_error_model(old: ResidualError, kind: ErrorModel, observed: &[f64]) -> ResidualError {
    let relative = match old {
        ResidualError::Proportional { sd } | ResidualError::Exponential { sd } => sd,
        ResidualError::Combined {
            proportional_sd, ..
        } => proportional_sd,
        ResidualError::Additive { .. } | ResidualError::None => 0.1,
    };
    let mut magnitudes: Vec<f64> = observed
        .iter()
        .map(|v| v.abs())
        .filter(|v| v.is_finite())
        .collect();
    magnitudes.sort_by(f64::total_cmp);
    let median = magnitudes
        .get(magnitudes.len() / 2)
        .copied()
        .filter(|m| *m > 0.0)
        .unwrap_or(1.0);
    let additive = match old {
        ResidualError::Additive { sd } => sd,
        ResidualError::Combined { additive_sd, .. } if additive_sd > 0.0 => additive_sd,
        _ => 0.1 * median,
    };
    match kind {
        ErrorModel::Additive => ResidualError::Additive { sd: additive },
        ErrorModel::Proportional => ResidualError::Proportional { sd: relative },
        ErrorModel::Exponential => ResidualError::Exponential { sd: relative },
        ErrorModel::Combined => ResidualError::Combined {
            additive_sd: additive,
            proportional_sd: relative,
        },
    }
}

/// Standard deviation `component` of a residual error.
fn sd_of(residual: ResidualError, component: usize) -> f64 {
    match residual {
        ResidualError::None => f64::NAN,
        ResidualError::Additive { sd }
        | ResidualError::Proportional { sd }
        | ResidualError::Exponential { sd } => sd,
        ResidualError::Combined {
            additive_sd,
            proportional_sd,
        } => {
            if component == 0 {
                additive_sd
            } else {
                proportional_sd
            }
        }
    }
}

/// `residual` with standard deviation `component` set to `value`.
fn with_sd(residual: ResidualError, component: usize, value: f64) -> ResidualError {
    match residual {
        ResidualError::None => ResidualError::None,
        ResidualError::Additive { .. } => ResidualError::Additive { sd: value },
        ResidualError::Proportional { .. } => ResidualError::Proportional { sd: value },
        ResidualError::Exponential { .. } => ResidualError::Exponential { sd: value },
        ResidualError::Combined {
            additive_sd,
            proportional_sd,
        } => {
            if component == 0 {
                ResidualError::Combined {
                    additive_sd: value,
                    proportional_sd,
                }
            } else {
                ResidualError::Combined {
                    additive_sd,
                    proportional_sd: value,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use twin_models::pheno::PhenoV1;
    use twin_models::pk::OneCompartment;

    #[test]
    fn pheno_defaults_estimate_theta_omega_sigma_and_round_trip() {
        let model = PhenoV1::new();
        let set = ParameterSet::new(&model, &[vec![10.0]], &ParameterSettings::default()).unwrap();
        let names: Vec<&str> = set
            .estimated()
            .into_iter()
            .map(|i| set.parameters()[i].name.as_str())
            .collect();
        assert_eq!(
            names,
            ["CL", "V", "V~APGR", "SD(CP)", "OMEGA(CL)", "OMEGA(V)"]
        );
        let x = set.initial_coordinates();
        let values = set.values(&x);
        let spec = model.spec();
        for (a, b) in values.typical.iter().zip(spec.typical_parameters()) {
            assert!((a - b).abs() <= 1e-15 * b.abs(), "{a} vs {b}");
        }
        for (a, b) in values.omega.iter().zip(&spec.variability.omega) {
            assert!((a - b).abs() <= 1e-15, "{a} vs {b}");
        }
    }

    #[test]
    fn every_catalogue_model_has_a_parameter_set_that_round_trips() {
        for model in twin_models::catalogue() {
            let spec = model.spec();
            let observed = vec![vec![1.0]; spec.outputs.len()];
            let set = ParameterSet::new(model.as_ref(), &observed, &ParameterSettings::default())
                .unwrap_or_else(|e| panic!("{}@{}: {e}", spec.id, spec.version));
            let values = set.values(&set.initial_coordinates());
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1e-300);
            for (a, b) in values.typical.iter().zip(spec.typical_parameters()) {
                assert!(close(*a, b), "{}: typical {a} vs {b}", spec.id);
            }
            for (a, b) in values.omega.iter().zip(&spec.variability.omega) {
                assert!(close(*a, *b), "{}: omega {a} vs {b}", spec.id);
            }
            for (a, b) in values.residual.iter().zip(&spec.variability.residual) {
                assert_eq!(
                    std::mem::discriminant(a),
                    std::mem::discriminant(b),
                    "{}",
                    spec.id
                );
                for component in 0..2 {
                    let (x, y) = (sd_of(*a, component), sd_of(*b, component));
                    assert!(
                        close(x, y) || (x.is_nan() && y.is_nan()),
                        "{}: {a:?} vs {b:?}",
                        spec.id
                    );
                }
            }
            assert!(set.population(&values).is_ok(), "{}", spec.id);
        }
    }

    #[test]
    fn full_omega_round_trips_through_its_cholesky_factor() {
        let model = OneCompartment::new();
        let settings = ParameterSettings {
            omega: OmegaStructure::Full,
            initial: vec![("OMEGA(CL,V)".to_owned(), 0.03)],
            ..ParameterSettings::default()
        };
        let set = ParameterSet::new(&model, &[vec![1.0]], &settings).unwrap();
        let values = set.values(&set.initial_coordinates());
        // Ω = [[0.09, 0.03, 0], [0.03, 0.09, 0], [0, 0, 0.09]] from its Cholesky coordinates.
        let expected = [0.09, 0.03, 0.0, 0.03, 0.09, 0.0, 0.0, 0.0, 0.09];
        for (a, b) in values.omega.iter().zip(expected) {
            assert!((a - b).abs() < 1e-15, "{:?}", values.omega);
        }
        assert_eq!(set.n_coordinates(), 3 + 6 + 1);
    }

    #[test]
    fn bad_settings_name_the_parameter() {
        let model = OneCompartment::new();
        let err = |settings: ParameterSettings| {
            ParameterSet::new(&model, &[vec![1.0]], &settings)
                .unwrap_err()
                .to_string()
        };
        let e = err(ParameterSettings {
            fix: vec![("CLX".to_owned(), 1.0)],
            ..ParameterSettings::default()
        });
        assert!(e.contains("CLX") && e.contains("OMEGA(KA)"), "{e}");
        let e = err(ParameterSettings {
            fix: vec![("CL".to_owned(), -1.0)],
            ..ParameterSettings::default()
        });
        assert!(e.contains("CL") && e.contains("bounds"), "{e}");
        let e = err(ParameterSettings {
            estimate: vec!["ALAG1".to_owned()],
            ..ParameterSettings::default()
        });
        assert!(e.contains("--init ALAG1"), "{e}");
        // A variance fixed at 0 removes the random effect.
        let set = ParameterSet::new(
            &model,
            &[vec![1.0]],
            &ParameterSettings {
                fix: vec![("omega(ka)".to_owned(), 0.0), ("KA".to_owned(), 1.0)],
                ..ParameterSettings::default()
            },
        )
        .unwrap();
        assert_eq!(set.free_eta(), [0, 1]);
        assert_eq!(set.n_coordinates(), 2 + 2 + 1);
    }
}
