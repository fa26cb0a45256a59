//! The analyses of one replicate trial: each gives an effect estimate, its standard error, a 95 %
//! confidence interval and a two-sided p-value.
//!
//! | method | estimate | test | 95 % CI |
//! | --- | --- | --- | --- |
//! | difference in means | `ȳ_T − ȳ_C` | pooled-variance t | t-based |
//! | ANCOVA | treatment coefficient of `y ~ T + covariates` (OLS) | t | t-based |
//! | PROCOVA | treatment coefficient of `y ~ T + score (+ covariates)` | t | t-based |
//! | log-rank | Peto's log hazard ratio `(O_T − E_T)/V_T` | log-rank χ² (1 df) | `± z·V_T^(−½)` |
//! | Cox | treatment log hazard ratio (Efron ties), adjusted for covariates | Wald z | Wald |
//!
//! Patients with a missing endpoint (dropout before the visit), covariate or score are left out
//! (complete-case analysis).

use crate::design::{Analysis, Method};
use crate::distributions::{StatsError, normal_quantile};
use crate::endpoints::EndpointValue;
use crate::linear::{ancova, difference_in_means};
use crate::survival::{Ties, cox_ph, log_rank};

/// The result of one analysis of one replicate trial under one scenario.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Effect {
    /// Effect estimate (difference, or log hazard ratio).
    #[serde(with = "crate::exact_f64")]
    pub estimate: f64,
    /// Its standard error.
    #[serde(with = "crate::exact_f64")]
    pub std_error: f64,
    /// Lower end of the 95 % confidence interval.
    #[serde(with = "crate::exact_f64")]
    pub ci_lower: f64,
    /// Upper end of the 95 % confidence interval.
    #[serde(with = "crate::exact_f64")]
    pub ci_upper: f64,
    /// Two-sided p-value.
    #[serde(with = "crate::exact_f64")]
    pub p_value: f64,
    /// Patients analysed.
    pub n: usize,
    /// Events (time-to-event analyses; 0 otherwise).
    pub n_events: usize,
}

/// One patient's data as an analysis sees it.
#[derive(Debug, Clone, Copy)]
pub struct AnalysisRow<'a> {
    /// In the treatment arm.
    pub treated: bool,
    /// The endpoint value.
    pub value: EndpointValue,
    /// The covariate values, in the analysis's order.
    pub covariates: &'a [f64],
    /// The prognostic score (PROCOVA), NaN if none.
    pub score: f64,
}

/// Runs `analysis` on `rows`.
///
/// # Errors
/// The statistics layer's error, e.g. an empty arm, no events, or a monotone Cox likelihood.
pub fn analyse(analysis: &Analysis, rows: &[AnalysisRow<'_>]) -> Result<Effect, StatsError> {
    let uses_score = analysis.method == Method::Procova;
    let complete: Vec<&AnalysisRow<'_>> = rows
        .iter()
        .filter(|r| {
            !r.value.value.is_nan()
                && r.covariates.iter().all(|c| !c.is_nan())
                && (!uses_score || !r.score.is_nan())
        })
        .collect();
    let n = complete.len();
    let column = |k: usize| -> Vec<f64> { complete.iter().map(|r| r.covariates[k]).collect() };
    match analysis.method {
        Method::DifferenceInMeans => {
            let treated: Vec<f64> = complete
                .iter()
                .filter(|r| r.treated)
                .map(|r| r.value.value)
                .collect();
            let control: Vec<f64> = complete
                .iter()
                .filter(|r| !r.treated)
                .map(|r| r.value.value)
                .collect();
            let e = difference_in_means(&treated, &control)?;
            Ok(from_linear(&e, n))
        }
        Method::Ancova | Method::Procova => {
            let outcome: Vec<f64> = complete.iter().map(|r| r.value.value).collect();
            let treated: Vec<bool> = complete.iter().map(|r| r.treated).collect();
            let mut columns: Vec<Vec<f64>> = Vec::new();
            if uses_score {
                columns.push(complete.iter().map(|r| r.score).collect());
            }
            for k in 0..analysis.covariates.len() {
                columns.push(column(k));
            }
            let refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
            let e = ancova(&outcome, &treated, &refs)?;
            Ok(from_linear(&e, n))
        }
        Method::LogRank => {
            let times: Vec<f64> = complete.iter().map(|r| r.value.value).collect();
            let events: Vec<bool> = complete.iter().map(|r| r.value.is_event()).collect();
            let groups: Vec<usize> = complete.iter().map(|r| usize::from(r.treated)).collect();
            let test = log_rank(&times, &events, &groups)?;
            // Groups are sorted by label: control (0) first, treated (1) second.
            let k = test.groups.len();
            let treated_group = test
                .groups
                .iter()
                .position(|g| g.label == 1)
                .ok_or(StatsError::TooFewGroups { got: k })?;
            let g = test.groups[treated_group];
            let variance = test.variance[treated_group * k + treated_group];
            if variance.is_nan() || variance <= 0.0 {
                return Err(StatsError::Singular {
                    what: "log-rank variance",
                });
            }
            let estimate = (g.observed as f64 - g.expected) / variance;
            let std_error = variance.sqrt().recip();
            let z = normal_quantile(0.975)?;
            Ok(Effect {
                estimate,
                std_error,
                ci_lower: estimate - z * std_error,
                ci_upper: estimate + z * std_error,
                p_value: test.test.p_value,
                n,
                n_events: events.iter().filter(|&&e| e).count(),
            })
        }
        Method::Cox => {
            let times: Vec<f64> = complete.iter().map(|r| r.value.value).collect();
            let events: Vec<bool> = complete.iter().map(|r| r.value.is_event()).collect();
            let mut columns: Vec<Vec<f64>> = vec![
                complete
                    .iter()
                    .map(|r| f64::from(u8::from(r.treated)))
                    .collect(),
            ];
            for k in 0..analysis.covariates.len() {
                columns.push(column(k));
            }
            let refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
            let fit = cox_ph(&times, &events, &refs, Ties::Efron)?;
            let c = fit.coefficients[0];
            Ok(Effect {
                estimate: c.estimate,
                std_error: c.std_error,
                ci_lower: c.hr_lower.ln(),
                ci_upper: c.hr_upper.ln(),
                p_value: c.p_value,
                n,
                n_events: fit.n_events,
            })
        }
    }
}

fn from_linear(e: &crate::linear::Estimate, n: usize) -> Effect {
    Effect {
        estimate: e.estimate,
        std_error: e.std_error,
        ci_lower: e.ci_lower,
        ci_upper: e.ci_upper,
        p_value: e.p_value,
        n,
        n_events: 0,
    }
}
