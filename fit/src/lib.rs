//! Population estimation for twinsim: fit θ, Ω and σ of a catalogue model to a NONMEM-style
//! dataset by FOCE-I (or SAEM), with standard errors, OFV, shrinkage, empirical Bayes estimates
//! and NONMEM-like diagnostic tables. A fit becomes a new model version
//! ([`twin_models::fitted::Fitted`]), saved as JSON by [`version`].
//!
//! This crate does no IO and never reads the clock; SAEM's randomness comes from
//! [`twin_engine::random::RandomStream`] keyed by (seed, iteration, subject). Subjects are
//! processed in parallel (rayon, `parallel` feature) and every sum is taken in subject order, so
//! results do not depend on the number of threads.
//!
//! Start with [`estimate::fit`]; the objective is documented in [`foce`], the parameters and
//! their names in [`parameters`].
//!
//! ```
//! use twin_engine::nmcsv::parse_dataset;
//! use twin_fit::estimate::{FitOptions, fit};
//! use twin_fit::parameters::ParameterSettings;
//!
//! // Two neonates of the pheno data: a loading dose, maintenance doses every 12 h, two levels.
//! let data = parse_dataset("two.csv", "ID,TIME,AMT,II,ADDL,WT,APGR,DV,MDV,EVID\n\
//!     1,0,25,0,0,1.4,7,.,1,1\n1,2,0,0,0,1.4,7,17.3,0,0\n1,12.5,3.5,12,8,1.4,7,.,1,1\n\
//!     1,112.5,0,0,0,1.4,7,31,0,0\n2,0,15,0,0,1.5,9,.,1,1\n2,2,0,0,0,1.5,9,9.7,0,0\n\
//!     2,4,3.8,12,4,1.5,9,.,1,1\n2,63.5,0,0,0,1.5,9,24.6,0,0\n")?;
//! let model = twin_models::pheno::PhenoV1::new();
//! // Only the clearance is estimated here; everything else keeps the model's values.
//! let mut options = FitOptions::default();
//! options.parameters = ParameterSettings {
//!     fix: ["V", "V~APGR", "OMEGA(CL)", "OMEGA(V)", "SD(CP)"]
//!         .iter()
//!         .map(|n| (n.to_string(), twin_fit::parameters::model_value(&model, n).unwrap()))
//!         .collect(),
//!     ..ParameterSettings::default()
//! };
//! let result = fit(&model, &data, &options, &mut |_| {})?;
//! let cl = result.estimates.iter().find(|e| e.name == "CL").unwrap();
//! // Both neonates' second levels lie above the typical prediction (24.6 mg/L where θ = 0.0047
//! // L/h/kg predicts 18.4): these two clear the drug more slowly than the population.
//! assert!(cl.value > 0.0 && cl.value < 0.0047 && cl.se.is_some(), "{cl:?}");
//! # Ok::<(), twin_fit::FitError>(())
//! ```

pub mod estimate;
pub mod foce;
pub mod parameters;
pub mod saem;
pub mod version;

use twin_engine::EngineError;
use twin_models::fitted::FittedError;

/// Why a fit could not be done or did not end well.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    /// The data or the model were rejected by the engine (the message names file and line).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A fit option (`--fix`, `--estimate`, `--init`, `--error`, …) is unusable.
    #[error("{option}: {message}")]
    Option {
        /// The option and name, e.g. `--fix CLX`.
        option: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The objective cannot be evaluated at the initial estimates.
    #[error("the objective cannot be evaluated at the initial estimates: {reason}")]
    Initial {
        /// Which subject (ID, line) and why.
        reason: String,
    },
    /// A subject's conditional mode failed during the fit.
    #[error("iteration {iteration}: ID {id}: {reason}")]
    Subject {
        /// Outer iteration.
        iteration: usize,
        /// Subject ID.
        id: String,
        /// Why.
        reason: String,
    },
    /// The estimates ran away: a parameter reached a bound or collapsed.
    #[error("the fit diverged at iteration {iteration}: {parameter} {message}")]
    Diverged {
        /// Outer iteration.
        iteration: usize,
        /// The parameter's name.
        parameter: String,
        /// What happened and what to do.
        message: String,
    },
    /// The data hold no information on some parameters.
    #[error(
        "not identifiable (iteration {iteration}): {} — {message}",
        parameters.join(", ")
    )]
    NotIdentifiable {
        /// Outer iteration at which it was found.
        iteration: usize,
        /// The parameters involved.
        parameters: Vec<String>,
        /// What was seen and what to do.
        message: String,
    },
    /// The optimiser stopped without reaching the convergence criterion.
    #[error("no convergence at iteration {iteration}: {message}")]
    NoConvergence {
        /// Outer iteration.
        iteration: usize,
        /// What happened (largest gradient and its parameter).
        message: String,
    },
    /// The fitted parameter set was rejected.
    #[error(transparent)]
    Fitted(#[from] FittedError),
    /// A fitted-version file could not be read.
    #[error("{file}: {message}")]
    VersionFile {
        /// The file.
        file: String,
        /// What is wrong and what was expected.
        message: String,
    },
}

impl FitError {
    /// An option error.
    pub(crate) fn option(option: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Option {
            option: option.into(),
            message: message.into(),
        }
    }

    /// Whether the error is bad input (data, options or files) rather than a fit that ended
    /// badly.
    #[must_use]
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Engine(e) => e.is_bad_input(),
            Self::Option { .. } | Self::VersionFile { .. } | Self::Fitted(_) => true,
            _ => false,
        }
    }
}

/// Maps `f` over subject indices `0..n`, in parallel with the `parallel` feature; the results
/// are in index order either way.
pub(crate) fn map_subjects<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        (0..n).into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        (0..n).map(f).collect()
    }
}
