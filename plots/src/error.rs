//! The one error type of the crate.

/// Why a figure could not be drawn. Every variant's text names the figure or series at fault.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// Nothing to draw: no series (arms, versions, bins, covariates), or every value is missing
    /// (or not positive on a logarithmic axis).
    #[error("{figure}: {reason}")]
    NothingToPlot {
        /// The figure, e.g. `fan chart 'Plasma concentration'`.
        figure: String,
        /// What is missing, e.g. `no arms to plot`.
        reason: String,
    },
    /// A vector has a different length from the one it must match.
    #[error("{series}: {field} has {got} values for {expected} {per}")]
    Mismatch {
        /// The series (or figure) the vector belongs to, e.g. `arm '200 mg q24h'`.
        series: String,
        /// The vector, e.g. `p75`.
        field: String,
        /// Its length.
        got: usize,
        /// The length it must have.
        expected: usize,
        /// What it must have one value per, e.g. `times`.
        per: String,
    },
    /// Times decrease (missing times are skipped).
    #[error("{series}: times decrease at index {index} ({time} after {previous})")]
    Unsorted {
        /// The series (or figure) whose times decrease.
        series: String,
        /// Index of the first time smaller than an earlier one.
        index: usize,
        /// That time.
        time: f64,
        /// The largest time before it.
        previous: f64,
    },
    /// A value lies outside its domain (a finite probability outside [0, 1], a coverage level
    /// outside (0, 1)).
    #[error("{series}: {field}[{index}] = {value} is not {domain}")]
    OutOfDomain {
        /// The series the value belongs to.
        series: String,
        /// The vector it is in.
        field: String,
        /// Its index.
        index: usize,
        /// The value.
        value: f64,
        /// What it must be, e.g. `a probability in [0, 1]`.
        domain: String,
    },
    /// The values span more than the floating-point range, so no axis can hold them.
    #[error("{figure}: the {quantity} span more than the floating-point range")]
    TooWide {
        /// The figure.
        figure: String,
        /// What spans too far: `values` or `times`.
        quantity: String,
    },
    /// The drawing backend, the embedded font or the PNG encoder failed.
    #[error("{0}")]
    Render(String),
}
