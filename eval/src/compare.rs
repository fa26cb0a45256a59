//! Comparison of two model versions on the same patients (docs/domain.md §5): per-patient shifts of
//! the predictive median and interval width, therapy choices and the decision-flip rate, and
//! distribution summaries for the report.
//!
//! "Previous" is the reference version and "candidate" the new one; every difference is
//! candidate − previous. Quantiles are type 7 (see [`crate::metrics`]).

use crate::metrics::{
    MetricError, check_len, check_sample, compensated_sum, quantile_sorted, sorted_copy,
};

/// How one patient's forecasts moved between two versions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PatientShift {
    /// Mean over the patient's observations of `median_candidate − median_previous`, in units of
    /// the output.
    pub median_shift: f64,
    /// Mean over the patient's observations of `width_candidate − width_previous` of the central
    /// prediction interval at the requested level, in units of the output.
    pub width_shift: f64,
}

/// Per-patient shift of the predictive median and the central interval width at `level`.
///
/// `previous[j]` and `candidate[j]` are the two versions' draws for the patient's observation j.
/// Width is `Q((1 + level)/2) − Q((1 − level)/2)`; the median is `Q(½)`.
///
/// # Errors
/// [`MetricError::Empty`] for no observation or an empty ensemble,
/// [`MetricError::LengthMismatch`], [`MetricError::NonFinite`],
/// [`MetricError::OutOfRange`] unless `0 < level < 1`.
///
/// # Example
/// ```
/// use twin_eval::compare::patient_shift;
/// use twin_eval::metrics::MetricError;
/// // One observation: previous {0, 1, 2} (median 1, 50 % width 1), candidate {1, 3, 5}
/// // (median 3, width 2).
/// let shift = patient_shift(&[vec![0.0, 1.0, 2.0]], &[vec![1.0, 3.0, 5.0]], 0.5)?;
/// assert!((shift.median_shift - 2.0).abs() < 1e-15 && (shift.width_shift - 1.0).abs() < 1e-15);
/// # Ok::<(), MetricError>(())
/// ```
pub fn patient_shift(
    previous: &[Vec<f64>],
    candidate: &[Vec<f64>],
    level: f64,
) -> Result<PatientShift, MetricError> {
    if previous.is_empty() {
        return Err(MetricError::Empty {
            what: "observations",
        });
    }
    check_len("candidate observations", previous.len(), candidate.len())?;
    if !(level > 0.0 && level < 1.0) {
        return Err(MetricError::OutOfRange {
            what: "interval level",
            value: level,
            allowed: "(0, 1)",
        });
    }
    let summary = |draws: &[f64]| -> Result<(f64, f64), MetricError> {
        check_sample("ensemble draws", draws)?;
        let sorted = sorted_copy(draws);
        Ok((
            quantile_sorted(&sorted, 0.5),
            quantile_sorted(&sorted, 0.5 * (1.0 + level))
                - quantile_sorted(&sorted, 0.5 * (1.0 - level)),
        ))
    };
    let mut median_shifts = Vec::with_capacity(previous.len());
    let mut width_shifts = Vec::with_capacity(previous.len());
    for (old, new) in previous.iter().zip(candidate) {
        let (old_median, old_width) = summary(old)?;
        let (new_median, new_width) = summary(new)?;
        median_shifts.push(new_median - old_median);
        width_shifts.push(new_width - old_width);
    }
    let n = previous.len() as f64;
    Ok(PatientShift {
        median_shift: compensated_sum(median_shifts) / n,
        width_shift: compensated_sum(width_shifts) / n,
    })
}

/// The therapy chosen from risks listed in order of preference: the first whose risk is at most
/// `max_risk`, or, if none is, the one with the lowest risk (the first of equals).
///
/// # Errors
/// [`MetricError::Empty`] or [`MetricError::NonFinite`] for the risks.
///
/// # Example
/// ```
/// use twin_eval::compare::choose_therapy;
/// // Preferred therapy too risky, second acceptable.
/// assert_eq!(choose_therapy(&[0.4, 0.1, 0.05], 0.2)?, 1);
/// // None acceptable: the least risky.
/// assert_eq!(choose_therapy(&[0.4, 0.3, 0.35], 0.2)?, 1);
/// # Ok::<(), twin_eval::metrics::MetricError>(())
/// ```
pub fn choose_therapy(risks: &[f64], max_risk: f64) -> Result<usize, MetricError> {
    check_sample("therapy risks", risks)?;
    if let Some(first) = risks.iter().position(|&r| r <= max_risk) {
        return Ok(first);
    }
    let mut best = 0;
    for (idx, &risk) in risks.iter().enumerate() {
        if risk < risks[best] {
            best = idx;
        }
    }
    Ok(best)
}

/// Decision flips between two versions' therapy choices for the same patients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionFlips {
    /// Patients compared.
    pub n: usize,
    /// Patients whose chosen therapy differs.
    pub n_flips: usize,
    /// `n_flips / n`.
    pub rate: f64,
}

/// Share of patients whose chosen therapy differs between the versions.
///
/// # Errors
/// [`MetricError::Empty`] for no patient, [`MetricError::LengthMismatch`].
pub fn decision_flips(
    previous: &[usize],
    candidate: &[usize],
) -> Result<DecisionFlips, MetricError> {
    if previous.is_empty() {
        return Err(MetricError::Empty {
            what: "therapy choices",
        });
    }
    check_len("candidate choices", previous.len(), candidate.len())?;
    let n_flips = previous
        .iter()
        .zip(candidate)
        .filter(|(a, b)| a != b)
        .count();
    Ok(DecisionFlips {
        n: previous.len(),
        n_flips,
        rate: n_flips as f64 / previous.len() as f64,
    })
}

/// Summary of a distribution: count, mean and type-7 quantiles.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DistributionSummary {
    /// Number of values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Minimum.
    pub min: f64,
    /// 5th percentile.
    pub p05: f64,
    /// 25th percentile.
    pub p25: f64,
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Maximum.
    pub max: f64,
}

/// Count, mean and quantiles of `values`.
///
/// # Errors
/// [`MetricError::Empty`] or [`MetricError::NonFinite`].
pub fn summarise(values: &[f64]) -> Result<DistributionSummary, MetricError> {
    check_sample("values", values)?;
    let sorted = sorted_copy(values);
    let q = |p: f64| quantile_sorted(&sorted, p);
    Ok(DistributionSummary {
        n: values.len(),
        mean: compensated_sum(values.iter().copied()) / values.len() as f64,
        min: sorted[0],
        p05: q(0.05),
        p25: q(0.25),
        p50: q(0.5),
        p75: q(0.75),
        p95: q(0.95),
        max: sorted[sorted.len() - 1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_by_hand() {
        // Patients 2 and 4 of five change their therapy: 2/5.
        let res = decision_flips(&[0, 1, 0, 1, 1], &[0, 0, 0, 0, 1]).unwrap();
        assert_eq!((res.n, res.n_flips), (5, 2));
        assert!((res.rate - 0.4).abs() < 1e-15);
        assert!(decision_flips(&[], &[]).is_err());
        assert!(decision_flips(&[0], &[0, 1]).is_err());
    }

    #[test]
    fn choice_needs_finite_risks() {
        assert!(choose_therapy(&[0.1, f64::NAN], 0.2).is_err());
        assert_eq!(choose_therapy(&[0.2, 0.1], 0.2).unwrap(), 0);
    }

    #[test]
    fn shift_averages_over_observations() {
        // Observation 1 as in the doc example (median +2, width +1); observation 2 identical
        // (0, 0): means 1 and 0.5.
        let old = vec![vec![0.0, 1.0, 2.0], vec![4.0, 5.0, 6.0]];
        let new = vec![vec![1.0, 3.0, 5.0], vec![4.0, 5.0, 6.0]];
        let shift = patient_shift(&old, &new, 0.5).unwrap();
        assert!((shift.median_shift - 1.0).abs() < 1e-15);
        assert!((shift.width_shift - 0.5).abs() < 1e-15);
        assert!(patient_shift(&old, &new, 1.0).is_err());
    }
}
