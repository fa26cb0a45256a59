//! The model trait: what a twin model declares and computes.
//!
//! A model is an ODE system `dy/dt = f(t, y, p)` over named states, driven by individual
//! parameters `p` (one value per declared [`ParameterSpec`], in declaration order). Doses enter as
//! boluses into a state or as zero-order inputs that the engine adds to `dy` itself, so the model's
//! right-hand side never sees the dosing history. A linear model may also propagate its state
//! exactly over an interval ([`Model::advance_exact`]); the engine then skips the ODE solver.

use crate::population::{Population, VariabilityModel};
use crate::random::RandomStream;
use crate::spectral::Spectrum;

/// Unit of the model's time axis. Regimens and output grids are converted into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Minutes.
    Minute,
    /// Hours.
    Hour,
    /// Days.
    Day,
}

impl TimeUnit {
    /// Length of one unit in hours.
    #[must_use]
    pub fn hours(self) -> f64 {
        match self {
            Self::Minute => 1.0 / 60.0,
            Self::Hour => 1.0,
            Self::Day => 24.0,
        }
    }

    /// Short symbol used in regimen text and axis labels (`min`, `h`, `d`).
    #[must_use]
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Minute => "min",
            Self::Hour => "h",
            Self::Day => "d",
        }
    }
}

/// One state variable (compartment) of a model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StateSpec {
    /// Short name, e.g. `CENTRAL`.
    pub name: &'static str,
    /// Unit of the state, e.g. `mg`.
    pub unit: &'static str,
}

/// One individual parameter with its typical value, unit, bounds and source.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParameterSpec {
    /// Name as used in datasets and on the command line, e.g. `CL`.
    pub name: &'static str,
    /// Unit, e.g. `L/h`.
    pub unit: &'static str,
    /// Typical (population) value θ.
    pub typical: f64,
    /// Smallest admissible value (inclusive).
    pub lower: f64,
    /// Largest admissible value (inclusive).
    pub upper: f64,
    /// What it is and where the number comes from (publication or `[A]` for assumed).
    pub source: &'static str,
}

impl ParameterSpec {
    /// A parameter declaration in one line: name, unit, typical value, `(lower, upper)` bounds and
    /// the source of the number.
    #[must_use]
    pub const fn new(
        name: &'static str,
        unit: &'static str,
        typical: f64,
        (lower, upper): (f64, f64),
        source: &'static str,
    ) -> Self {
        Self {
            name,
            unit,
            typical,
            lower,
            upper,
            source,
        }
    }
}

/// How a time-varying covariate is interpolated between records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Interpolation {
    /// Last observation carried forward: a record's value holds from its time until the next record.
    Locf,
    /// Next observation carried backward: a record's value holds on the interval that ends at it
    /// (NONMEM's rule for data items used in `$PK`/`$DES`).
    Nocb,
}

/// A covariate the model reads from the dataset or from a virtual-cohort generator.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CovariateSpec {
    /// Column name, e.g. `WT`.
    pub name: &'static str,
    /// Unit, e.g. `kg`.
    pub unit: &'static str,
    /// Reference value used when the covariate is absent (and for centring covariate effects).
    pub reference: f64,
    /// Smallest plausible value (inclusive); values outside are input errors.
    pub lower: f64,
    /// Largest plausible value (inclusive).
    pub upper: f64,
    /// Interpolation rule between records.
    pub interpolation: Interpolation,
}

/// An observable output computed from the state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutputSpec {
    /// Name, e.g. `CP`.
    pub name: &'static str,
    /// Unit, e.g. `mg/L`.
    pub unit: &'static str,
}

/// Which parameters modify doses into one compartment (NONMEM's F, ALAG, R and D).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DoseModifiers {
    /// Index of the bioavailability parameter (fraction, default 1).
    pub bioavailability: Option<usize>,
    /// Index of the lag-time parameter (model time units, default 0).
    pub lag: Option<usize>,
    /// Index of the modelled infusion rate, used by records with RATE = −1.
    pub rate: Option<usize>,
    /// Index of the modelled infusion duration, used by records with RATE = −2.
    pub duration: Option<usize>,
    /// Whether the model leaves the values of `rate` and `duration` to the user: their typical
    /// values are placeholders (a generic PK building block knows no drug), so a record with
    /// RATE = −1 or −2 into this compartment is refused unless the run sets the parameter (a
    /// fixed value or a data column), as NONMEM refuses such a record when `$PK` defines no R or
    /// D. Omitted from the serialised spec when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rate_and_duration_set_by_user: bool,
}

/// Whether an outcome is a value (e.g. nadir ANC) or the time of an event (e.g. progression).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum OutcomeKind {
    /// A number per patient, summarised by mean and quantiles.
    Value,
    /// The time of the first occurrence, NaN when it did not occur within the horizon
    /// (administratively censored); summarised by event probability and Kaplan–Meier curve.
    TimeToEvent,
}

/// A per-patient clinical outcome derived from the simulated trajectory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutcomeSpec {
    /// Short name, e.g. `grade4` or `nadir_anc`.
    pub name: &'static str,
    /// Unit of the value (the model's time unit for events).
    pub unit: &'static str,
    /// Value or time to event.
    pub kind: OutcomeKind,
    /// Definition, e.g. "first time ANC < 0.5 ×10⁹/L (CTCAE grade 4)".
    pub description: &'static str,
}

/// A built-in therapy of a model: a name and its regimen text (see [`crate::regimen`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct TherapySpec {
    /// Name, e.g. `docetaxel-100`.
    pub name: &'static str,
    /// Regimen text, e.g. `100 mg/m2 iv over 1h q3w x6`.
    pub regimen: &'static str,
    /// What it is and where it comes from.
    pub description: &'static str,
}

/// Everything a model declares about itself.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelSpec {
    /// Catalogue identifier, e.g. `pk-2cmt`.
    pub id: &'static str,
    /// Released version label, e.g. `1`.
    pub version: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// Time unit of the ODE.
    pub time_unit: TimeUnit,
    /// States, in the order of the state vector; compartment number = index + 1.
    pub states: Vec<StateSpec>,
    /// Individual parameters, in the order of the parameter vector.
    pub parameters: Vec<ParameterSpec>,
    /// Covariates read from data.
    pub covariates: Vec<CovariateSpec>,
    /// Outputs, in the order written by [`Model::outputs`].
    pub outputs: Vec<OutputSpec>,
    /// Dose modifiers per compartment (same length as `states`).
    pub dosing: Vec<DoseModifiers>,
    /// Compartment (index) that receives a dose given without a route.
    pub default_dose_compartment: usize,
    /// Random effects, covariate effects and residual error.
    pub variability: VariabilityModel,
    /// Per-patient clinical outcomes computed by [`Model::outcomes`].
    pub outcomes: Vec<OutcomeSpec>,
    /// Built-in therapies.
    pub therapies: Vec<TherapySpec>,
    /// Evidence level shown to users, e.g. "published parameters" or "research model".
    pub evidence: &'static str,
    /// Equations, parameter provenance and assumptions, as shown by `twin models --describe`.
    pub documentation: &'static str,
}

impl ModelSpec {
    /// The regimen text of `written`: the built-in therapy of that name (exact match) replaced by
    /// its regimen, any other text returned as it is (a regimen such as `100 mg q24h x7`).
    #[must_use]
    pub fn regimen_text<'t>(&self, written: &'t str) -> &'t str {
        self.therapies
            .iter()
            .find(|t| t.name == written)
            .map_or(written, |t| t.regimen)
    }

    /// Index of the parameter called `name` (case-insensitive).
    #[must_use]
    pub fn parameter_index(&self, name: &str) -> Option<usize> {
        self.parameters
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Index of the output called `name` (case-insensitive).
    #[must_use]
    pub fn output_index(&self, name: &str) -> Option<usize> {
        self.outputs
            .iter()
            .position(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// SHA-256 (hex) of the canonical JSON of this specification: id, version, structure
    /// (states, outputs, dose modifiers, outcomes), parameter set (typical values, bounds,
    /// sources), variability (Ω, covariate effects, residual error), therapies and documentation.
    /// Any change to a released version changes its hash.
    #[must_use]
    pub fn content_hash(&self) -> String {
        // Serialising plain data (strings, numbers, vectors) cannot fail.
        sha256_hex(&serde_json::to_vec(self).unwrap_or_default())
    }

    /// Typical values of all parameters, in order.
    #[must_use]
    pub fn typical_parameters(&self) -> Vec<f64> {
        self.parameters.iter().map(|p| p.typical).collect()
    }
}

/// SHA-256 of `bytes` as 64 lower-case hex digits (content hashes of models, run manifests and
/// reports).
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A twin model: a right-hand side over caller-owned buffers plus its declaration.
pub trait Model: Send + Sync {
    /// The model's declaration.
    fn spec(&self) -> &ModelSpec;

    /// Writes `dy/dt` at time `t` for state `y` and individual parameters `p` into `dy`.
    ///
    /// Must not allocate. Zero-order inputs (infusions) are added by the engine afterwards.
    fn rhs(&self, t: f64, y: &[f64], p: &[f64], dy: &mut [f64]);

    /// Writes the state at the start of the history (and after a reset) into `y`.
    ///
    /// By default every state starts at zero, as in NONMEM's PREDPP.
    fn initial_state(&self, p: &[f64], y: &mut [f64]) {
        let _ = p;
        y.fill(0.0);
    }

    /// Writes `dy/dt` including the zero-order `inputs` (amount per time unit into each state).
    ///
    /// By default this is [`Model::rhs`] plus the inputs. A model whose dynamics depend on the
    /// input rate itself (e.g. a meal being eaten) overrides it. The engine calls `rhs` while no
    /// zero-order input is running and this method otherwise, so both must agree when every input
    /// is zero; [`Model::advance_exact`] receives the same input rates.
    fn rhs_with_inputs(&self, t: f64, y: &[f64], p: &[f64], inputs: &[f64], dy: &mut [f64]) {
        self.rhs(t, y, p, dy);
        for (d, r) in dy.iter_mut().zip(inputs) {
            *d += r;
        }
    }

    /// Writes the individual parameters for `covariates` (model order, NaN = reference) and
    /// random effects `eta` into `params`.
    ///
    /// By default this is the declared population model ([`Population::individual_parameters`]);
    /// a model whose parameters come from a table (e.g. one row per virtual patient) overrides it.
    fn individual_parameters(
        &self,
        population: &Population,
        covariates: &[f64],
        eta: &[f64],
        params: &mut [f64],
    ) {
        population.individual_parameters(covariates, eta, params);
    }

    /// Samples the covariates of a virtual patient (model order) from the model's covariate
    /// distribution. By default every covariate takes its reference value.
    fn sample_covariates(&self, stream: &mut RandomStream, covariates: &mut [f64]) {
        let _ = stream;
        for (c, spec) in covariates.iter_mut().zip(&self.spec().covariates) {
            *c = spec.reference;
        }
    }

    /// Computes the per-patient outcomes declared in [`ModelSpec::outcomes`] from the outputs at
    /// `times` (row-major `times.len() × n_outputs`). `stream` serves stochastic events (new
    /// lesions, dropout, death). By default a model has no outcomes.
    fn outcomes(
        &self,
        times: &[f64],
        outputs: &[f64],
        params: &[f64],
        covariates: &[f64],
        stream: &mut RandomStream,
        out: &mut [f64],
    ) {
        let _ = (times, outputs, params, covariates, stream, out);
    }

    /// Writes the outputs at time `t` into `out` (one value per [`OutputSpec`]).
    fn outputs(&self, t: f64, y: &[f64], p: &[f64], out: &mut [f64]);

    /// Propagates `y` exactly from `t` to `t + dt` under constant zero-order `inputs` (amount per
    /// time unit into each state), if the model has a closed form. Returns `false` when it has
    /// none, in which case the engine integrates [`Model::rhs`] numerically.
    fn advance_exact(&self, p: &[f64], y: &mut [f64], inputs: &[f64], dt: f64) -> bool {
        let _ = (p, y, inputs, dt);
        false
    }

    /// Whether `rhs` is linear in `y` (affine under constant inputs). Linear models reach steady
    /// state by one linear solve instead of iterating dosing cycles.
    fn is_linear(&self) -> bool {
        false
    }

    /// The leading states `y[..k]` as an exactly solvable block, when they form one: their
    /// dynamics must not depend on `y[k..]` and must read `d y[..k]/dt = −B·y[..k] + inputs[..k]`
    /// (what [`Model::rhs_with_inputs`] computes for them), returned as the [`Spectrum`] of `B` for
    /// parameters `p`. The engine then integrates only `y[k..]` numerically and evaluates the
    /// block exactly at every stage. This is for linear PK driving a PD model: an explicit solver
    /// would otherwise keep its steps short enough for the fast distribution phase long after the
    /// drug has gone (stiffness), though nothing the PD sees changes on that time scale.
    ///
    /// `None` (the default, or when `B` is degenerate for these parameters) integrates every
    /// state.
    fn linear_head(&self, p: &[f64]) -> Option<Spectrum> {
        let _ = p;
        None
    }
}

/// A model with some individual parameters fixed to given values for every patient (the random
/// effects of those parameters are ignored), e.g. `twin simulate --param CL=5`.
///
/// The specification's typical values show the fixed values, so the content hash of the
/// modified model differs from the released version's.
#[derive(Debug, Clone)]
pub struct FixedParameters<'a, M: Model + ?Sized> {
    inner: &'a M,
    spec: ModelSpec,
    fixed: Vec<(usize, f64)>,
}

impl<'a, M: Model + ?Sized> FixedParameters<'a, M> {
    /// Fixes each `(name, value)` of `overrides`.
    ///
    /// # Errors
    /// [`crate::EngineError::Invalid`] naming an unknown parameter (and listing the known ones) or
    /// a value outside the parameter's bounds.
    pub fn new(inner: &'a M, overrides: &[(String, f64)]) -> Result<Self, crate::EngineError> {
        let mut spec = inner.spec().clone();
        let mut fixed = Vec::new();
        for (name, value) in overrides {
            let idx = spec.parameter_index(name).ok_or_else(|| {
                let names: Vec<&str> = spec.parameters.iter().map(|p| p.name).collect();
                crate::EngineError::invalid(
                    format!("parameter {name}"),
                    format!(
                        "model {} has no such parameter; it has {}",
                        spec.id,
                        names.join(", ")
                    ),
                )
            })?;
            let p = &mut spec.parameters[idx];
            if !(p.lower..=p.upper).contains(value) {
                return Err(crate::EngineError::invalid(
                    format!("parameter {}", p.name),
                    format!(
                        "{value} is outside its bounds [{}, {}] {}",
                        p.lower, p.upper, p.unit
                    ),
                ));
            }
            p.typical = *value;
            fixed.push((idx, *value));
        }
        Ok(Self { inner, spec, fixed })
    }
}

impl<M: Model + ?Sized> Model for FixedParameters<'_, M> {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }
    fn rhs(&self, t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) {
        self.inner.rhs(t, y, p, dy);
    }
    fn initial_state(&self, p: &[f64], y: &mut [f64]) {
        self.inner.initial_state(p, y);
    }
    fn rhs_with_inputs(&self, t: f64, y: &[f64], p: &[f64], inputs: &[f64], dy: &mut [f64]) {
        self.inner.rhs_with_inputs(t, y, p, inputs, dy);
    }
    fn individual_parameters(
        &self,
        population: &Population,
        covariates: &[f64],
        eta: &[f64],
        params: &mut [f64],
    ) {
        self.inner
            .individual_parameters(population, covariates, eta, params);
        for &(idx, value) in &self.fixed {
            params[idx] = value;
        }
    }
    fn sample_covariates(&self, stream: &mut RandomStream, covariates: &mut [f64]) {
        self.inner.sample_covariates(stream, covariates);
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
        self.inner
            .outcomes(times, outputs, params, covariates, stream, out);
    }
    fn outputs(&self, t: f64, y: &[f64], p: &[f64], out: &mut [f64]) {
        self.inner.outputs(t, y, p, out);
    }
    fn advance_exact(&self, p: &[f64], y: &mut [f64], inputs: &[f64], dt: f64) -> bool {
        self.inner.advance_exact(p, y, inputs, dt)
    }
    fn is_linear(&self) -> bool {
        self.inner.is_linear()
    }
    fn linear_head(&self, p: &[f64]) -> Option<Spectrum> {
        self.inner.linear_head(p)
    }
}
