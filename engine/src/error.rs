//! The engine's single error type.

use thiserror::Error;

/// Where in an input text an error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Name of the input (usually a file path), as handed in by the caller.
    pub source: String,
    /// One-based line number, or 0 when the error concerns the input as a whole.
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.source)
        } else {
            write!(f, "{}:{}", self.source, self.line)
        }
    }
}

/// Everything that can go wrong in the engine.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EngineError {
    /// An input text (dataset, regimen) does not have the expected shape.
    #[error("{location}: {message}")]
    Input {
        /// File and line.
        location: Location,
        /// What was found and what was expected.
        message: String,
    },
    /// A parameter, option or model declaration is invalid.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The thing that is invalid (a parameter name, an option).
        what: String,
        /// Why.
        message: String,
    },
    /// The state became NaN or infinite during integration.
    #[error("state became non-finite at t = {t}")]
    NonFinite {
        /// Model time at which it happened.
        t: f64,
    },
    /// The adaptive step size fell below the representable resolution of time.
    #[error("step size underflow at t = {t} (h = {h:e}); the problem may be stiff or singular")]
    StepSizeUnderflow {
        /// Model time at which it happened.
        t: f64,
        /// The rejected step size.
        h: f64,
    },
    /// The integrator exceeded its step budget within one interval between events.
    #[error("more than {max_steps} steps between t = {t_start} and t = {t_end}")]
    TooManySteps {
        /// Step budget (see `SolverOptions::max_steps`).
        max_steps: usize,
        /// Start of the interval.
        t_start: f64,
        /// End of the interval.
        t_end: f64,
    },
    /// The iteration to steady state did not converge.
    #[error("steady state did not converge within {cycles} dosing intervals at t = {t}")]
    SteadyStateNotConverged {
        /// Dose time of the SS record.
        t: f64,
        /// Number of intervals tried.
        cycles: usize,
    },
    /// One patient of a cohort or dataset failed; the others are unaffected.
    #[error("patient {patient} failed: {source}")]
    Patient {
        /// Patient identifier (ID column, or index in a virtual cohort).
        patient: String,
        /// What went wrong.
        #[source]
        source: Box<EngineError>,
    },
}

impl EngineError {
    /// Builds an [`EngineError::Input`] at `source:line`.
    pub fn input(source: &str, line: usize, message: impl Into<String>) -> Self {
        Self::Input {
            location: Location {
                source: source.to_owned(),
                line,
            },
            message: message.into(),
        }
    }

    /// Builds an [`EngineError::Invalid`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }

    /// Whether the error is in what the caller gave (a file, an option), as opposed to a run
    /// failure (the solver, a non-finite state).
    #[must_use]
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Input { .. } | Self::Invalid { .. } => true,
            Self::Patient { source, .. } => source.is_bad_input(),
            _ => false,
        }
    }

    /// Wraps this error as the failure of one patient.
    #[must_use]
    pub fn for_patient(self, patient: impl Into<String>) -> Self {
        Self::Patient {
            patient: patient.into(),
            source: Box::new(self),
        }
    }
}
