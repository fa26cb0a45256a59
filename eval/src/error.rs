//! The error of the evaluation harness (plans, cohorts, reports); the metric functions keep
//! their own [`MetricError`].

use twin_engine::EngineError;

use crate::metrics::MetricError;

/// Everything that can stop an evaluation, with what someone needs to act on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The plan is not valid TOML or does not have the plan's shape (unknown or missing keys,
    /// wrong types); the parser's message names the line and column.
    #[error("{source_name}")]
    PlanToml {
        /// Name of the plan file.
        source_name: String,
        /// The parser's error.
        #[source]
        error: toml::de::Error,
    },
    /// A plan field has a value the harness does not accept.
    #[error("{source_name}: {field}: {message}")]
    PlanField {
        /// Name of the plan file.
        source_name: String,
        /// The field, e.g. `criteria[2].rule`.
        field: String,
        /// What was found and what was expected.
        message: String,
    },
    /// A data or report file does not have what the plan needs.
    #[error("{file}: {message}")]
    Input {
        /// The file, as named in the plan.
        file: String,
        /// What was found and what was expected.
        message: String,
    },
    /// The engine refused an input or failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A metric could not be computed.
    #[error("{what}")]
    Metric {
        /// Which metric or statistic.
        what: String,
        /// Why.
        #[source]
        source: MetricError,
    },
    /// The evaluation cannot be completed (e.g. too few patients could be forecast).
    #[error("{message}")]
    Run {
        /// What happened.
        message: String,
    },
}

impl EvalError {
    /// Whether the error is in what the caller gave (plan, data, report files, model names), as
    /// opposed to a failure of the run.
    #[must_use]
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::PlanToml { .. } | Self::PlanField { .. } | Self::Input { .. } => true,
            Self::Engine(e) => e.is_bad_input(),
            Self::Metric { .. } | Self::Run { .. } => false,
        }
    }

    /// A metric error labelled with what was being computed.
    pub(crate) fn metric(what: impl Into<String>) -> impl FnOnce(MetricError) -> Self {
        let what = what.into();
        move |source| Self::Metric { what, source }
    }
}
