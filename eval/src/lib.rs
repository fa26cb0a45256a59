//! Evaluation harness (docs/design.md §Evaluation): forecast accuracy, calibration and drift
//! metrics, each checked against an independent computation (closed forms, scipy, R), and
//! versioned, reproducible re-validation reports of model versions against a validation plan fixed
//! in advance.
//!
//! This crate computes and renders; it reads no file itself (the CLI hands it the bytes of the
//! plan, the cohorts and the previous report, and writes what it returns) and never reads the
//! clock. Start with [`plan::ValidationPlan::parse`], then [`report::prepare`] and
//! [`report::evaluate`]; [`report::Report::to_json`] and [`html::render`] give `report.json` and
//! `report.html`, and [`diff::diff_reports`] compares two reports. The metrics themselves are in
//! [`metrics`], [`drift`], [`survival_metrics`], [`vpc`] and [`compare`].

mod analysis;
pub mod compare;
pub mod diff;
pub mod drift;
pub mod error;
pub mod html;
pub mod metrics;
pub mod plan;
pub mod protocol;
pub mod report;
pub mod survival_metrics;
pub mod vpc;

pub use error::EvalError;
