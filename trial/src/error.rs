//! The error of a virtual trial: a bad design or baseline file, a model that cannot serve the
//! design, or a run that cannot continue.

use crate::distributions::StatsError;

/// Everything that can stop a virtual trial. Failures of one analysis in one replicate trial
/// (e.g. a Cox fit without events) do not stop the run: they are recorded per replicate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrialError {
    /// A design file (TOML) is malformed or asks for something impossible. `line` and `column`
    /// are one-based; `field` is the TOML path, e.g. `arms[1].allocation`.
    #[error("{source_name}:{line}:{column}: {field}: {message}")]
    Design {
        /// The design file as named by the caller.
        source_name: String,
        /// One-based line.
        line: usize,
        /// One-based column.
        column: usize,
        /// TOML path of the offending value.
        field: String,
        /// What was found and what was expected.
        message: String,
    },
    /// A baseline-data CSV file is malformed.
    #[error("{source_name}:{line}: {message}")]
    Baseline {
        /// The CSV file as named in the design.
        source_name: String,
        /// One-based line (0 for the file as a whole).
        line: usize,
        /// What was found and what was expected.
        message: String,
    },
    /// The inclusion criteria admit too few of the screened virtual patients.
    #[error("{0}")]
    Screening(String),
    /// The engine refused a model or option of the design.
    #[error("{context}")]
    Engine {
        /// What was being done.
        context: String,
        /// The engine's error.
        #[source]
        source: twin_engine::EngineError,
    },
    /// A statistic of the design as a whole (closed-form sample size, truth cohort) failed.
    #[error("{context}")]
    Stats {
        /// What was being computed.
        context: String,
        /// The statistics layer's error.
        #[source]
        source: StatsError,
    },
}

impl TrialError {
    /// Whether the error is in what the caller gave (design, baseline file, option) rather than a
    /// failure of the run itself.
    #[must_use]
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Design { .. } | Self::Baseline { .. } | Self::Screening(_) => true,
            Self::Engine { source, .. } => source.is_bad_input(),
            Self::Stats { .. } => false,
        }
    }
}
