//! Virtual trials (docs/design.md §Trials): a design file names the model version that generates
//! the truth, the cohort and its inclusion criteria, two arms, the visits, endpoints and analyses;
//! replicate trials are simulated under the design's alternative and its null (treatment arm
//! given the control regimen), and each analysis is summarised by power, type-I error, bias, RMSE
//! and 95 % CI coverage, next to closed-form predictions and a simulated sample-size search.
//! PROCOVA adjusts for a twin prognostic score computed by a model version locked before the
//! trial.
//!
//! This crate does no IO: the caller hands in the design text and the files it refers to, and
//! writes the CSV/JSON text this crate produces (see the `twin trial` command). It holds no
//! model equations: patients are simulated through [`twin_engine`] with models of
//! [`twin_models`] (or any [`twin_engine::Model`]).
//!
//! Start with [`design::Design::parse`], then [`replicates::Trial::prepare`] and
//! [`replicates::Trial::run`], [`summary::summarise`] and [`report`]. The statistics underneath
//! ([`distributions`], [`linear`], [`survival`]) are each checked against R.

pub mod adam;
pub mod analysis;
pub mod closed_form;
pub mod cohort;
pub mod design;
pub mod endpoints;
pub mod error;
mod exact_f64;
pub mod linear;
pub mod prognostic;
pub mod replicates;
pub mod report;
pub mod simulate;
pub mod summary;
pub mod survival;

pub use error::TrialError;
/// The distribution functions and [`distributions::StatsError`], shared with the engine and
/// twin-eval ([`twin_engine::stats`]).
pub use twin_engine::stats as distributions;
