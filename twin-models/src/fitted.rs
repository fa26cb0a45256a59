//! Fitted model versions: a released model whose population parameters (θ, Ω, σ) were
//! re-estimated on data, with the provenance of the estimate.
//!
//! A fitted version keeps the structure of its base — states, equations, covariates, outputs,
//! random-effect transforms, therapies — and replaces the parameter set: the typical values θ,
//! the coefficients of the covariate effects, Ω and the residual error of each output. Its
//! [`ModelSpec`] carries the new numbers, a version label such as `1-fit-3fa2b9c1` (or one the
//! user chose) and documentation that states where the numbers come from, so its content hash
//! differs from the base's and from any other fit.
//!
//! # Version labels
//!
//! When [`FittedParameters::version`] is `None` the label is `<base version>-fit-<h>`, with `<h>`
//! the first 8 hex digits of the content hash of the fitted specification written with the
//! provisional label `<base version>-fit`. Since that specification includes the estimates and the
//! provenance (data SHA-256, method, seed, OFV), two different fits get different labels and the
//! same fit always gets the same one. A chosen label must not be a released version of the model.
//!
//! # Memory
//!
//! [`ModelSpec`] holds `&'static str` (released versions are compiled in). The few strings a
//! fitted version adds (version label, evidence, documentation, parameter sources) are leaked
//! once per construction; a process constructs a handful of fitted versions at most.
//!
//! This module does no IO: the JSON file of a fitted version is read and written by `twin-fit`
//! (`twin_fit::version`) and the CLI.
//!
//! ```
//! use twin_engine::Model;
//! use twin_models::fitted::{Fitted, FittedParameters, Provenance};
//!
//! let base = twin_models::find("pheno@1").unwrap();
//! let spec = base.spec().clone();
//! let mut parameters = FittedParameters::from_spec(&spec, Provenance {
//!     method: "FOCE-I".to_owned(),
//!     data_file: "pheno_sd.csv".to_owned(),
//!     data_sha256: "0".repeat(64),
//!     seed: None,
//!     ofv: 586.3,
//!     ofv_includes_constant: false,
//!     n_subjects: 59,
//!     n_observations: 155,
//!     estimated: vec!["CL".to_owned()],
//!     fixed: vec![],
//!     tool: "example".to_owned(),
//! });
//! parameters.typical[0] = 0.0048;
//! let fitted = Fitted::new(base, parameters).unwrap();
//! assert!(fitted.spec().version.starts_with("1-fit-"));
//! assert_ne!(fitted.spec().content_hash(), spec.content_hash());
//! ```

use std::fmt::Write as _;

use twin_engine::model::{Model, ModelSpec};
use twin_engine::population::{CovariateEffect, Population, ResidualError};
use twin_engine::random::RandomStream;
use twin_engine::spectral::Spectrum;

/// Why a fitted version could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FittedError {
    /// A number of the parameter set is unusable.
    #[error("fitted version of {model}: {field}: {message}")]
    Invalid {
        /// `id@version` of the base model.
        model: String,
        /// Which field, e.g. `typical value of CL` or `omega`.
        field: String,
        /// What is wrong and what was expected.
        message: String,
    },
}

/// Where a fitted parameter set comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Provenance {
    /// Estimation method, e.g. `FOCE-I` or `SAEM`.
    pub method: String,
    /// The data file's name as given to the fit.
    pub data_file: String,
    /// SHA-256 (hex) of the data file's bytes.
    pub data_sha256: String,
    /// Seed of the stochastic parts of the method (SAEM); `None` for deterministic methods.
    pub seed: Option<u64>,
    /// Objective function value at the estimates, `−2 log L`.
    pub ofv: f64,
    /// Whether `ofv` includes the `n·ln 2π` constant (NONMEM's OFV does not).
    pub ofv_includes_constant: bool,
    /// Subjects in the data.
    pub n_subjects: usize,
    /// Observations in the likelihood.
    pub n_observations: usize,
    /// Names of the estimated parameters (e.g. `CL`, `V~APGR`, `OMEGA(CL)`, `SD(CP)`).
    pub estimated: Vec<String>,
    /// Fixed parameters as `NAME=VALUE`.
    pub fixed: Vec<String>,
    /// The software that produced the estimate, e.g. `twin-fit 0.1.0`.
    pub tool: String,
}

/// A fitted parameter set for a base model: every number of the base's parameter set, new or
/// unchanged, plus provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedParameters {
    /// Version label; `None` derives `<base version>-fit-<hash>` (see the module documentation).
    pub version: Option<String>,
    /// Typical value of every parameter, in the base model's parameter order.
    pub typical: Vec<f64>,
    /// Coefficient of every covariate effect, in the base's order (see [`covariate_coefficient`]).
    pub covariate_coefficients: Vec<f64>,
    /// Ω, row-major `n_eta × n_eta`, in the base's random-effect order.
    pub omega: Vec<f64>,
    /// Residual error per output (same length as the base's declaration).
    pub residual: Vec<ResidualError>,
    /// Where the numbers come from.
    pub provenance: Provenance,
}

impl FittedParameters {
    /// The parameter set of `spec` unchanged, with `provenance`: a starting point to edit.
    #[must_use]
    pub fn from_spec(spec: &ModelSpec, provenance: Provenance) -> Self {
        Self {
            version: None,
            typical: spec.typical_parameters(),
            covariate_coefficients: spec
                .variability
                .covariate_effects
                .iter()
                .map(covariate_coefficient)
                .collect(),
            omega: spec.variability.omega.clone(),
            residual: spec.variability.residual.clone(),
            provenance,
        }
    }
}

/// The estimable coefficient of a covariate effect: the exponent of a power effect, the slope of
/// a linear effect, the coefficient of an exponential effect, the shift of a threshold or
/// categorical effect. A piecewise-linear effect has two slopes; its coefficient is the slope
/// below the knot (the slope above stays as declared).
#[must_use]
pub fn covariate_coefficient(effect: &CovariateEffect) -> f64 {
    match *effect {
        CovariateEffect::Power { exponent, .. } => exponent,
        CovariateEffect::Linear { slope, .. } => slope,
        CovariateEffect::Exponential { coefficient, .. } => coefficient,
        CovariateEffect::PiecewiseLinear { slope_below, .. } => slope_below,
        CovariateEffect::Threshold { shift, .. } | CovariateEffect::Categorical { shift, .. } => {
            shift
        }
    }
}

/// `effect` with its coefficient (see [`covariate_coefficient`]) replaced by `value`.
#[must_use]
pub fn with_covariate_coefficient(effect: &CovariateEffect, value: f64) -> CovariateEffect {
    let mut res = effect.clone();
    match &mut res {
        CovariateEffect::Power { exponent: c, .. }
        | CovariateEffect::Linear { slope: c, .. }
        | CovariateEffect::Exponential { coefficient: c, .. }
        | CovariateEffect::PiecewiseLinear { slope_below: c, .. }
        | CovariateEffect::Threshold { shift: c, .. }
        | CovariateEffect::Categorical { shift: c, .. } => *c = value,
    }
    res
}

/// Parameter index and covariate index of a covariate effect.
#[must_use]
pub fn covariate_target(effect: &CovariateEffect) -> (usize, usize) {
    match *effect {
        CovariateEffect::Power {
            parameter,
            covariate,
            ..
        }
        | CovariateEffect::Linear {
            parameter,
            covariate,
            ..
        }
        | CovariateEffect::Exponential {
            parameter,
            covariate,
            ..
        }
        | CovariateEffect::PiecewiseLinear {
            parameter,
            covariate,
            ..
        }
        | CovariateEffect::Threshold {
            parameter,
            covariate,
            ..
        }
        | CovariateEffect::Categorical {
            parameter,
            covariate,
            ..
        } => (parameter, covariate),
    }
}

/// A fitted model version: the base model's equations with a new parameter set.
pub struct Fitted {
    base: Box<dyn Model>,
    spec: ModelSpec,
    parameters: FittedParameters,
}

impl std::fmt::Debug for Fitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fitted")
            .field("id", &self.spec.id)
            .field("version", &self.spec.version)
            .field("base_version", &self.base.spec().version)
            .field("parameters", &self.parameters)
            .finish_non_exhaustive()
    }
}

impl Fitted {
    /// Builds the fitted version of `base` with `parameters`.
    ///
    /// # Errors
    /// [`FittedError::Invalid`] when a vector has the wrong length, a typical value is not finite
    /// or outside the parameter's bounds, a covariate coefficient is not finite, Ω is not
    /// symmetric positive semi-definite, a residual standard deviation is negative or not finite
    /// (or a residual error model is given for an output that had none), the OFV is not finite,
    /// or a chosen version label is empty, contains `@`, `/`, `\` or whitespace, or names a
    /// released version of the model.
    pub fn new(base: Box<dyn Model>, parameters: FittedParameters) -> Result<Self, FittedError> {
        let base_spec = base.spec();
        let model = format!("{}@{}", base_spec.id, base_spec.version);
        let invalid = |field: &str, message: String| FittedError::Invalid {
            model: model.clone(),
            field: field.to_owned(),
            message,
        };
        let n_params = base_spec.parameters.len();
        let n_eta = base_spec.variability.random_effects.len();
        let n_effects = base_spec.variability.covariate_effects.len();
        let expect_len = |field: &str, got: usize, expected: usize| {
            if got == expected {
                Ok(())
            } else {
                Err(invalid(
                    field,
                    format!("has {got} values; the base model has {expected}"),
                ))
            }
        };
        expect_len("typical values", parameters.typical.len(), n_params)?;
        expect_len(
            "covariate coefficients",
            parameters.covariate_coefficients.len(),
            n_effects,
        )?;
        expect_len("omega", parameters.omega.len(), n_eta * n_eta)?;
        expect_len(
            "residual",
            parameters.residual.len(),
            base_spec.variability.residual.len(),
        )?;
        for (p, &value) in base_spec.parameters.iter().zip(&parameters.typical) {
            if !(value.is_finite() && value >= p.lower && value <= p.upper) {
                return Err(invalid(
                    &format!("typical value of {}", p.name),
                    format!(
                        "{value} is outside the parameter's bounds [{}, {}] {}",
                        p.lower, p.upper, p.unit
                    ),
                ));
            }
        }
        if let Some(c) = parameters
            .covariate_coefficients
            .iter()
            .find(|c| !c.is_finite())
        {
            return Err(invalid(
                "covariate coefficients",
                format!("{c} is not finite"),
            ));
        }
        for (o, (new, old)) in parameters
            .residual
            .iter()
            .zip(&base_spec.variability.residual)
            .enumerate()
        {
            let sds: Vec<f64> = match *new {
                ResidualError::None => Vec::new(),
                ResidualError::Additive { sd }
                | ResidualError::Proportional { sd }
                | ResidualError::Exponential { sd } => vec![sd],
                ResidualError::Combined {
                    additive_sd,
                    proportional_sd,
                } => vec![additive_sd, proportional_sd],
            };
            let name = base_spec.outputs.get(o).map_or("?", |s| s.name);
            if sds.iter().any(|s| !(s.is_finite() && *s >= 0.0)) {
                return Err(invalid(
                    &format!("residual error of {name}"),
                    format!("standard deviations {sds:?} must be finite and non-negative"),
                ));
            }
            if matches!(old, ResidualError::None) && !matches!(new, ResidualError::None) {
                return Err(invalid(
                    &format!("residual error of {name}"),
                    "the base model declares none for this output".to_owned(),
                ));
            }
        }
        if !parameters.provenance.ofv.is_finite() {
            return Err(invalid(
                "provenance",
                format!("OFV {} is not finite", parameters.provenance.ofv),
            ));
        }
        if let Some(version) = &parameters.version {
            let bad = version.is_empty()
                || version
                    .chars()
                    .any(|c| c == '@' || c == '/' || c == '\\' || c.is_whitespace());
            if bad {
                return Err(invalid(
                    "version",
                    format!(
                        "'{version}' is not a version label; expected letters, digits, '.', '-' \
                         or '_' (no '@', '/', '\\' or spaces)"
                    ),
                ));
            }
            let released: Vec<String> = crate::catalogue()
                .iter()
                .filter(|m| m.spec().id == base_spec.id)
                .map(|m| m.spec().version.to_owned())
                .collect();
            if released.iter().any(|v| v == version) {
                return Err(invalid(
                    "version",
                    format!(
                        "'{version}' is a released version of {}; released versions ({}) never \
                         change, choose another label",
                        base_spec.id,
                        released.join(", ")
                    ),
                ));
            }
        }

        let mut spec = base_spec.clone();
        for (p, &value) in spec.parameters.iter_mut().zip(&parameters.typical) {
            if (p.typical - value).abs() > 0.0 {
                p.source = leak(format!(
                    "{} estimate on {} (sha256 {}), {}; was {} in {}@{}: {}",
                    parameters.provenance.method,
                    parameters.provenance.data_file,
                    short(&parameters.provenance.data_sha256),
                    parameters.provenance.tool,
                    p.typical,
                    base_spec.id,
                    base_spec.version,
                    p.source
                ));
                p.typical = value;
            }
        }
        spec.variability.covariate_effects = base_spec
            .variability
            .covariate_effects
            .iter()
            .zip(&parameters.covariate_coefficients)
            .map(|(effect, &c)| with_covariate_coefficient(effect, c))
            .collect();
        spec.variability.omega.clone_from(&parameters.omega);
        spec.variability.residual.clone_from(&parameters.residual);
        Population::new(
            spec.variability.clone(),
            spec.typical_parameters(),
            spec.covariates.iter().map(|c| c.reference).collect(),
        )
        .map_err(|e| invalid("omega", e.to_string()))?;
        spec.evidence = leak(format!(
            "fitted: {} estimate on {} (sha256 {}) from {}@{}",
            parameters.provenance.method,
            parameters.provenance.data_file,
            short(&parameters.provenance.data_sha256),
            base_spec.id,
            base_spec.version
        ));
        spec.documentation = leak(documentation(base_spec, &parameters));
        let version = match &parameters.version {
            Some(v) => v.clone(),
            None => {
                spec.version = leak(format!("{}-fit", base_spec.version));
                let hash = spec.content_hash();
                format!("{}-fit-{}", base_spec.version, &hash[..8])
            }
        };
        spec.version = leak(version);
        Ok(Self {
            base,
            spec,
            parameters,
        })
    }

    /// The parameter set and provenance this version was built from.
    #[must_use]
    pub fn parameters(&self) -> &FittedParameters {
        &self.parameters
    }

    /// The specification of the base (released) model.
    #[must_use]
    pub fn base_spec(&self) -> &ModelSpec {
        self.base.spec()
    }
}

/// The first 12 hex digits of a hash, for text (the first 12 characters of whatever a file
/// holds in its place).
fn short(hash: &str) -> &str {
    hash.char_indices()
        .nth(12)
        .map_or(hash, |(end, _)| &hash[..end])
}

/// Moves a string into static memory (see "Memory" in the module documentation).
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// The base's documentation followed by what the fit changed and where the numbers come from.
fn documentation(base: &ModelSpec, parameters: &FittedParameters) -> String {
    let p = &parameters.provenance;
    let mut t = String::new();
    let _ = writeln!(t, "{}", base.documentation.trim_end());
    let _ = writeln!(
        t,
        "\nFitted version of {}@{} (base content hash {}).",
        base.id,
        base.version,
        base.content_hash()
    );
    let _ = writeln!(
        t,
        "Method: {}; tool: {}; data: {} (sha256 {}), {} subjects, {} observations; seed: {}.",
        p.method,
        p.tool,
        p.data_file,
        p.data_sha256,
        p.n_subjects,
        p.n_observations,
        p.seed.map_or("none".to_owned(), |s| s.to_string())
    );
    let _ = writeln!(
        t,
        "OFV (-2 log L) {} ({} the n*ln(2*pi) constant).",
        p.ofv,
        if p.ofv_includes_constant {
            "including"
        } else {
            "without"
        }
    );
    let _ = writeln!(t, "Estimated: {}.", p.estimated.join(", "));
    if !p.fixed.is_empty() {
        let _ = writeln!(t, "Fixed: {}.", p.fixed.join(", "));
    }
    let _ = writeln!(t, "Typical values (was -> now):");
    for (spec, &value) in base.parameters.iter().zip(&parameters.typical) {
        let _ = writeln!(
            t,
            "  {:<10} {} -> {} {}",
            spec.name, spec.typical, value, spec.unit
        );
    }
    if !base.variability.covariate_effects.is_empty() {
        let _ = writeln!(t, "Covariate coefficients (was -> now):");
        for (effect, &value) in base
            .variability
            .covariate_effects
            .iter()
            .zip(&parameters.covariate_coefficients)
        {
            let (param, cov) = covariate_target(effect);
            let _ = writeln!(
                t,
                "  {}~{} {} -> {}",
                base.parameters[param].name,
                base.covariates.get(cov).map_or("?", |c| c.name),
                covariate_coefficient(effect),
                value
            );
        }
    }
    let _ = writeln!(
        t,
        "Omega (row-major): {:?} -> {:?}",
        base.variability.omega, parameters.omega
    );
    let _ = writeln!(
        t,
        "Residual error: {:?} -> {:?}",
        base.variability.residual, parameters.residual
    );
    t
}

impl Model for Fitted {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }
    fn rhs(&self, t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) {
        self.base.rhs(t, y, p, dy);
    }
    fn initial_state(&self, p: &[f64], y: &mut [f64]) {
        self.base.initial_state(p, y);
    }
    fn rhs_with_inputs(&self, t: f64, y: &[f64], p: &[f64], inputs: &[f64], dy: &mut [f64]) {
        self.base.rhs_with_inputs(t, y, p, inputs, dy);
    }
    fn individual_parameters(
        &self,
        population: &Population,
        covariates: &[f64],
        eta: &[f64],
        params: &mut [f64],
    ) {
        self.base
            .individual_parameters(population, covariates, eta, params);
    }
    fn sample_covariates(&self, stream: &mut RandomStream, covariates: &mut [f64]) {
        self.base.sample_covariates(stream, covariates);
    }
    fn outcomes(
        &self,
        times: &[f64],
        outputs: &[f64],
        params: &[f64],
        covariates: &[f64],
        stream: &mut RandomStream,
        out: &mut [f64],
    ) {
        self.base
            .outcomes(times, outputs, params, covariates, stream, out);
    }
    fn outputs(&self, t: f64, y: &[f64], p: &[f64], out: &mut [f64]) {
        self.base.outputs(t, y, p, out);
    }
    fn advance_exact(&self, p: &[f64], y: &mut [f64], inputs: &[f64], dt: f64) -> bool {
        self.base.advance_exact(p, y, inputs, dt)
    }
    fn is_linear(&self) -> bool {
        self.base.is_linear()
    }
    fn linear_head(&self, p: &[f64]) -> Option<Spectrum> {
        self.base.linear_head(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provenance() -> Provenance {
        Provenance {
            method: "FOCE-I".to_owned(),
            data_file: "data.csv".to_owned(),
            data_sha256: "ab".repeat(32),
            seed: None,
            ofv: 100.0,
            ofv_includes_constant: false,
            n_subjects: 10,
            n_observations: 30,
            estimated: vec!["CL".to_owned()],
            fixed: vec![],
            tool: "test".to_owned(),
        }
    }

    #[test]
    fn new_numbers_make_a_new_version_with_its_own_hash() {
        let base = crate::find("pk-1cmt@1").unwrap();
        let base_hash = base.spec().content_hash();
        let mut parameters = FittedParameters::from_spec(base.spec(), provenance());
        parameters.typical[0] = 5.0;
        parameters.omega[0] = 0.1;
        let fitted = Fitted::new(base, parameters.clone()).unwrap();
        let spec = fitted.spec();
        assert!(spec.version.starts_with("1-fit-"), "{}", spec.version);
        assert_eq!(spec.version.len(), "1-fit-".len() + 8);
        assert_ne!(spec.content_hash(), base_hash);
        assert!((spec.parameters[0].typical - 5.0).abs() < 1e-15);
        assert!((spec.variability.omega[0] - 0.1).abs() < 1e-15);
        assert!(spec.documentation.contains("Fitted version of pk-1cmt@1"));
        // The same parameter set gives the same version and hash; another OFV another one.
        let again = Fitted::new(crate::find("pk-1cmt@1").unwrap(), parameters.clone()).unwrap();
        assert_eq!(again.spec().version, spec.version);
        assert_eq!(again.spec().content_hash(), spec.content_hash());
        parameters.provenance.ofv = 99.0;
        let other = Fitted::new(crate::find("pk-1cmt@1").unwrap(), parameters).unwrap();
        assert_ne!(other.spec().version, spec.version);
    }

    #[test]
    fn unusable_parameter_sets_are_rejected_with_the_field() {
        let base = || crate::find("pheno@1").unwrap();
        let spec = base().spec().clone();
        let mut p = FittedParameters::from_spec(&spec, provenance());
        p.typical[0] = -1.0;
        let e = Fitted::new(base(), p).unwrap_err().to_string();
        assert!(
            e.contains("typical value of CL") && e.contains("bounds"),
            "{e}"
        );
        let mut p = FittedParameters::from_spec(&spec, provenance());
        p.omega = vec![0.1, 0.5, 0.5, 0.1];
        let e = Fitted::new(base(), p).unwrap_err().to_string();
        assert!(e.contains("omega"), "{e}");
        let mut p = FittedParameters::from_spec(&spec, provenance());
        p.version = Some("1".to_owned());
        let e = Fitted::new(base(), p).unwrap_err().to_string();
        assert!(e.contains("released version"), "{e}");
        let mut p = FittedParameters::from_spec(&spec, provenance());
        p.version = Some("my fit".to_owned());
        let e = Fitted::new(base(), p).unwrap_err().to_string();
        assert!(e.contains("not a version label"), "{e}");
        let mut p = FittedParameters::from_spec(&spec, provenance());
        p.residual = vec![ResidualError::Additive { sd: f64::NAN }];
        let e = Fitted::new(base(), p).unwrap_err().to_string();
        assert!(e.contains("residual error of CP"), "{e}");
    }

    #[test]
    fn short_hashes_cut_at_a_character() {
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("0123"), "0123");
        assert_eq!(short("5a4a56141f\u{800}e93390"), "5a4a56141f\u{800}e");
    }

    #[test]
    fn covariate_coefficients_round_trip() {
        let spec = crate::find("pheno@1").unwrap().spec().clone();
        for effect in &spec.variability.covariate_effects {
            let changed = with_covariate_coefficient(effect, 0.25);
            assert!((covariate_coefficient(&changed) - 0.25).abs() < 1e-15);
            assert_eq!(covariate_target(&changed), covariate_target(effect));
        }
    }
}
