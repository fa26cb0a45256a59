//! Numerical core of twinsim: integrates a [`Model`] through a NONMEM-style dosing history and runs
//! virtual cohorts as streaming Monte Carlo.
//!
//! This crate holds no disease knowledge and does no IO: it parses text it is handed, never reads
//! the clock or the OS entropy, and callers pass seeds in. Start with [`simulate::Simulator`] for
//! one patient, [`montecarlo::run_cohort`] for many, and [`records`] for the data format.

pub mod csv;
pub mod error;
pub mod forecast;
pub mod math;
pub mod model;
pub mod montecarlo;
pub mod nmcsv;
pub mod population;
pub mod posterior;
pub mod predict;
pub mod protocol;
pub mod random;
pub mod records;
pub mod reference;
pub mod regimen;
pub mod simulate;
pub mod solver;
pub mod spectral;
pub mod stats;
pub mod summary;

pub use error::EngineError;
pub use model::{Model, ModelSpec};
