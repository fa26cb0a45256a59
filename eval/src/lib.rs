//! Evaluation harness (twinsim issue 6): forecast accuracy, calibration and drift metrics, each
//! checked against an independent computation (closed forms, scipy, R).

pub mod drift;
pub mod metrics;
pub mod plots;
pub mod survival_metrics;
