//! Numbers in the CSV files twinsim writes: one formatting rule, one marker for a missing value
//! per kind of file.
//!
//! A finite number is written in the shortest form that reads back to the same `f64` (plain
//! decimal, as Rust's `Display` writes it); `inf` and `-inf` are spelled out; NaN, a missing
//! value, is written as the file's [`Missing`] marker:
//!
//! - [`Missing::Dot`] (`.`, NONMEM's missing value) in NONMEM-style datasets and in the tables
//!   written next to them: predictions, simulation summaries and trajectories, forecasts, fit
//!   iterations and diagnostics;
//! - [`Missing::Empty`] (an empty cell, the CDISC ADaM convention for a missing value, read as NA
//!   by R's `read.csv` and pandas) in clinical-trial reports and ADaM tables.
//!
//! Datasets written by [`crate::nmcsv`] differ in one respect: they switch to exponent form for
//! very large or small magnitudes and write a non-finite value as `.`, so that NONMEM and
//! [`crate::nmcsv::parse_dataset`] read every field back.

/// How a missing value (NaN) is written in a CSV cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// `.`: NONMEM's missing value (datasets, predictions and the CLI's tables).
    Dot,
    /// An empty cell: CDISC ADaM's missing value (trial reports and ADaM tables).
    Empty,
}

impl Missing {
    /// The text of a missing value.
    #[must_use]
    pub const fn text(self) -> &'static str {
        match self {
            Self::Dot => ".",
            Self::Empty => "",
        }
    }
}

/// A number for a CSV cell: the shortest text that reads back to the same `f64`, `missing`'s
/// marker for NaN, `inf`/`-inf` spelled out.
#[must_use]
pub fn number(x: f64, missing: Missing) -> String {
    if x.is_nan() {
        missing.text().to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_back_and_missing_values_follow_the_file_kind() {
        for missing in [Missing::Dot, Missing::Empty] {
            assert_eq!(number(100.0, missing), "100");
            assert_eq!(number(0.1 + 0.2, missing), "0.30000000000000004");
            assert_eq!(number(1e-7, missing), "0.0000001");
            assert_eq!(number(f64::INFINITY, missing), "inf");
            assert_eq!(number(f64::NEG_INFINITY, missing), "-inf");
        }
        assert_eq!(number(f64::NAN, Missing::Dot), ".");
        assert_eq!(number(f64::NAN, Missing::Empty), "");
    }
}
