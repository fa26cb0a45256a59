//! Discrimination and calibration metrics for time-to-event forecasts (docs/domain.md §4):
//! Harrell's and Uno's concordance indices, the time-dependent Brier score and the integrated Brier
//! score.
//!
//! Times are non-negative and in any one unit (state it in the report); `events[i]` is `true` for an
//! observed event and `false` for right-censoring. Risk scores are "higher = earlier event". The
//! inverse-probability-of-censoring weights follow scikit-survival 0.28 (`sksurv.metrics`), which the
//! tests compare with, so the conventions below are theirs unless stated otherwise.

use crate::metrics::{
    MetricError, check_finite, check_len, check_sample, compensated_sum, same_value,
};

/// A concordance index with its pair counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Concordance {
    /// `C = Σ wᵢ (concordantᵢ + ½ tiedᵢ) / Σ wᵢ comparableᵢ`, in [0, 1]; 0.5 is random ranking.
    pub c_index: f64,
    /// Comparable pairs whose earlier-event subject has the higher risk.
    pub concordant: usize,
    /// Comparable pairs whose earlier-event subject has the lower risk.
    pub discordant: usize,
    /// Comparable pairs with exactly equal risk scores (each counts ½).
    pub tied_risk: usize,
    /// Comparable pairs formed by an event and a censoring at the same time.
    pub tied_time: usize,
}

fn check_survival(
    what_times: &'static str,
    times: &[f64],
    events: &[bool],
) -> Result<(), MetricError> {
    check_sample(what_times, times)?;
    check_len("events", times.len(), events.len())?;
    if let Some(index) = times.iter().position(|t| *t < 0.0) {
        return Err(MetricError::NegativeTime {
            what: what_times,
            index,
            value: times[index],
        });
    }
    Ok(())
}

/// Weighted concordance over comparable pairs; `weights[i]` multiplies every pair whose earlier
/// subject is the event i. Pairs (i, j) are comparable when i has an event and either `Tᵢ < Tⱼ`, or
/// `Tᵢ = Tⱼ` and j is censored (the censored subject is taken to outlive the event); two events at
/// the same time are not comparable. Risk ties count ½ (exact equality of scores).
fn weighted_concordance(
    times: &[f64],
    events: &[bool],
    risk: &[f64],
    weights: &[f64],
) -> Result<Concordance, MetricError> {
    let (mut concordant, mut discordant, mut tied_risk, mut tied_time) = (0, 0, 0, 0);
    let mut any_comparable = false;
    let mut numerator = Vec::new();
    let mut denominator = Vec::new();
    for i in (0..times.len()).filter(|&i| events[i]) {
        let (mut n_con, mut n_tie, mut n_pairs) = (0_usize, 0_usize, 0_usize);
        for j in 0..times.len() {
            let later = times[j] > times[i];
            let tied_censored = !events[j] && same_value(times[j], times[i]);
            if !(later || tied_censored) {
                continue;
            }
            n_pairs += 1;
            if tied_censored {
                tied_time += 1;
            }
            if risk[i] > risk[j] {
                n_con += 1;
            } else if risk[i] < risk[j] {
                discordant += 1;
            } else {
                n_tie += 1;
            }
        }
        if n_pairs > 0 {
            any_comparable = true;
        }
        concordant += n_con;
        tied_risk += n_tie;
        numerator.push(weights[i] * (n_con as f64 + 0.5 * n_tie as f64));
        denominator.push(weights[i] * n_pairs as f64);
    }
    let denominator = compensated_sum(denominator);
    if !any_comparable || denominator <= 0.0 {
        return Err(MetricError::NoComparablePairs);
    }
    Ok(Concordance {
        c_index: compensated_sum(numerator) / denominator,
        concordant,
        discordant,
        tied_risk,
        tied_time,
    })
}

/// Harrell's concordance index (Harrell et al. 1982).
///
/// Share of comparable pairs in which the subject with the earlier event has the higher risk
/// score. A pair (i, j) is comparable when i has an event and `Tᵢ < Tⱼ`, or `Tᵢ = Tⱼ` with j
/// censored; two events at the same time are not comparable. Equal risk scores count ½. This is
/// `lifelines.utils.concordance_index(T, −risk, E)` and
/// `sksurv.metrics.concordance_index_censored(E, T, risk)` (which treats scores within 1e-8 as tied;
/// here only exactly equal scores are). O(n²).
///
/// # Errors
/// [`MetricError::Empty`], [`MetricError::LengthMismatch`], [`MetricError::NonFinite`],
/// [`MetricError::NegativeTime`], or [`MetricError::NoComparablePairs`].
///
/// # Example
/// ```
/// use twin_eval::metrics::MetricError;
/// use twin_eval::survival_metrics::harrell_c;
/// // Events at 1 and 2, censoring at 3; risks 0.9, 0.2, 0.5. Comparable pairs: (1,2) concordant,
/// // (1,3) concordant, (2,3) discordant, so C = 2/3.
/// let res = harrell_c(&[1.0, 2.0, 3.0], &[true, true, false], &[0.9, 0.2, 0.5])?;
/// assert!((res.c_index - 2.0 / 3.0).abs() < 1e-15);
/// # Ok::<(), MetricError>(())
/// ```
pub fn harrell_c(
    times: &[f64],
    events: &[bool],
    risk_scores: &[f64],
) -> Result<Concordance, MetricError> {
    check_survival("times", times, events)?;
    check_len("risk scores", times.len(), risk_scores.len())?;
    check_finite("risk scores", risk_scores)?;
    weighted_concordance(times, events, risk_scores, &vec![1.0; times.len()])
}

/// Kaplan–Meier estimate of the censoring survival `G(t) = P(C > t)`, as scikit-survival's
/// `CensoringDistributionEstimator`: at each distinct time, events leave the risk set before
/// censorings at the same time, so `G(t) = Π_{s ≤ t} (1 − cₛ/(rₛ − dₛ))` with r at risk, d events and
/// c censorings at s. G is right-continuous (includes censorings at t itself) and 1 before the first
/// time.
struct CensoringKm {
    times: Vec<f64>,
    survival: Vec<f64>,
}

impl CensoringKm {
    fn fit(times: &[f64], events: &[bool]) -> Self {
        let mut order: Vec<usize> = (0..times.len()).collect();
        order.sort_by(|&a, &b| times[a].total_cmp(&times[b]));
        let mut res = Self {
            times: Vec::new(),
            survival: Vec::new(),
        };
        let mut at_risk = times.len();
        let mut g = 1.0;
        let mut start = 0;
        while start < order.len() {
            let t = times[order[start]];
            let mut end = start;
            while end < order.len() && times[order[end]] <= t {
                end += 1;
            }
            let n_here = end - start;
            let n_events = order[start..end].iter().filter(|&&i| events[i]).count();
            let n_censored = n_here - n_events;
            let remaining = at_risk - n_events;
            if n_censored > 0 {
                g *= 1.0 - n_censored as f64 / remaining as f64;
            }
            res.times.push(t);
            res.survival.push(g);
            at_risk -= n_here;
            start = end;
        }
        res
    }

    /// `G(t)`; an error past the last time unless G has already reached 0 there.
    fn at(&self, t: f64) -> Result<f64, MetricError> {
        let last = self.times[self.times.len() - 1];
        let g_last = self.survival[self.survival.len() - 1];
        if t > last {
            return if g_last > 0.0 {
                Err(MetricError::BeyondFollowUp { t, last })
            } else {
                Ok(0.0)
            };
        }
        let n_not_after = self.times.partition_point(|&s| s <= t);
        Ok(if n_not_after == 0 {
            1.0
        } else {
            self.survival[n_not_after - 1]
        })
    }

    /// `1/G(t)`, an error if G is 0 there.
    fn inverse_at(&self, t: f64) -> Result<f64, MetricError> {
        let g = self.at(t)?;
        if g > 0.0 {
            Ok(1.0 / g)
        } else {
            Err(MetricError::ZeroCensoringSurvival { t })
        }
    }
}

/// Training data (for the censoring distribution) and test data of a censoring-weighted metric.
#[derive(Debug, Clone, Copy)]
pub struct CensoredSample<'a> {
    /// Event or censoring times, ≥ 0.
    pub times: &'a [f64],
    /// `true` = event observed, `false` = right-censored.
    pub events: &'a [bool],
}

/// Uno's concordance index with inverse-probability-of-censoring weights (Uno et al. 2011).
///
/// `C_τ = Σᵢⱼ Δᵢ G(Tᵢ)⁻² 1{Tᵢ < Tⱼ, Tᵢ < τ} (1{ηᵢ > ηⱼ} + ½ 1{ηᵢ = ηⱼ}) / Σᵢⱼ Δᵢ G(Tᵢ)⁻² 1{Tᵢ < Tⱼ, Tᵢ < τ}`
/// over the test subjects, with comparable pairs and ties as in [`harrell_c`], η the risk score and G
/// the Kaplan–Meier censoring survival estimated from `train` (right-continuous, evaluated at Tᵢ;
/// see `CensoringKm`). Events at or after `tau` get weight 0; `None` means no truncation. This is
/// `sksurv.metrics.concordance_index_ipcw(train, test, risk, tau)`; implementations that use
/// G(Tᵢ−) differ when a censoring ties an event time.
///
/// # Errors
/// As [`harrell_c`] for either sample, [`MetricError::OutOfRange`] for a non-positive or NaN `tau`,
/// [`MetricError::BeyondFollowUp`] if a weighted event time lies after the last training time
/// while G is still positive, and [`MetricError::ZeroCensoringSurvival`] if G(Tᵢ) = 0.
pub fn uno_c(
    train: CensoredSample<'_>,
    test: CensoredSample<'_>,
    risk_scores: &[f64],
    tau: Option<f64>,
) -> Result<Concordance, MetricError> {
    check_survival("train times", train.times, train.events)?;
    check_survival("test times", test.times, test.events)?;
    check_len("risk scores", test.times.len(), risk_scores.len())?;
    check_finite("risk scores", risk_scores)?;
    if let Some(tau) = tau
        && (tau.is_nan() || tau <= 0.0)
    {
        return Err(MetricError::OutOfRange {
            what: "tau",
            value: tau,
            allowed: "(0, ∞)",
        });
    }
    let censoring = CensoringKm::fit(train.times, train.events);
    let weights = test
        .times
        .iter()
        .zip(test.events)
        .map(|(&t, &event)| {
            if event && tau.is_none_or(|tau| t < tau) {
                censoring.inverse_at(t).map(|w| w * w)
            } else {
                Ok(0.0)
            }
        })
        .collect::<Result<Vec<f64>, MetricError>>()?;
    weighted_concordance(test.times, test.events, risk_scores, &weights)
}

/// Time-dependent Brier score with inverse-probability-of-censoring weights (Graf et al. 1999), at
/// each time of `times`.
///
/// `BS(t) = (1/n) Σᵢ [ Ŝᵢ(t)² · 1{Tᵢ ≤ t, Δᵢ = 1} / G(Tᵢ) + (1 − Ŝᵢ(t))² · 1{Tᵢ > t} / G(t) ]`,
/// where `predicted_survival[i][k] = Ŝᵢ(times[k])` is subject i's predicted probability of being
/// event-free at `times[k]`, and G is the Kaplan–Meier censoring survival from `train`
/// (right-continuous, evaluated at Tᵢ — Graf et al. use G(Tᵢ−); the two differ only when a
/// censoring ties an event). Subjects censored at or before t contribute 0 but stay in n. Unit-free,
/// in [0, 1]. This is `sksurv.metrics.brier_score(train, test, S, times)`, except that a zero G is
/// an error here instead of a silent zero weight.
///
/// # Errors
/// As [`uno_c`]; [`MetricError::LengthMismatch`] if a row of `predicted_survival` does not have one
/// value per time; [`MetricError::OutOfRange`] for a prediction outside [0, 1]; and
/// [`MetricError::OutOfRange`] unless `times` is strictly increasing.
pub fn brier_score(
    train: CensoredSample<'_>,
    test: CensoredSample<'_>,
    predicted_survival: &[Vec<f64>],
    times: &[f64],
) -> Result<Vec<f64>, MetricError> {
    check_survival("train times", train.times, train.events)?;
    check_survival("test times", test.times, test.events)?;
    check_survival("evaluation times", times, &vec![false; times.len()])?;
    if let Some(k) = (1..times.len()).find(|&k| times[k] <= times[k - 1]) {
        return Err(MetricError::OutOfRange {
            what: "evaluation time (must increase strictly)",
            value: times[k],
            allowed: "(previous time, ∞)",
        });
    }
    check_len(
        "predicted survival rows",
        test.times.len(),
        predicted_survival.len(),
    )?;
    for row in predicted_survival {
        check_len("predicted survival row", times.len(), row.len())?;
        check_finite("predicted survival", row)?;
        if let Some(&p) = row.iter().find(|p| !(0.0..=1.0).contains(*p)) {
            return Err(MetricError::OutOfRange {
                what: "predicted survival",
                value: p,
                allowed: "[0, 1]",
            });
        }
    }
    let censoring = CensoringKm::fit(train.times, train.events);
    let last_time = times[times.len() - 1];
    // 1/G(Tᵢ) for every event that is a case at some evaluation time.
    let case_weights = test
        .times
        .iter()
        .zip(test.events)
        .map(|(&t, &event)| {
            if event && t <= last_time {
                censoring.inverse_at(t)
            } else {
                Ok(0.0)
            }
        })
        .collect::<Result<Vec<f64>, MetricError>>()?;
    let n = test.times.len() as f64;
    let mut res = Vec::with_capacity(times.len());
    for (k, &t) in times.iter().enumerate() {
        let has_controls = test.times.iter().any(|&ti| ti > t);
        let control_weight = if has_controls {
            censoring.inverse_at(t)?
        } else {
            0.0
        };
        let terms = test.times.iter().enumerate().map(|(i, &ti)| {
            let s = predicted_survival[i][k];
            if ti <= t && test.events[i] {
                s * s * case_weights[i]
            } else if ti > t {
                (1.0 - s) * (1.0 - s) * control_weight
            } else {
                0.0
            }
        });
        res.push(compensated_sum(terms) / n);
    }
    Ok(res)
}

/// Integrated Brier score: the trapezoid rule over the evaluation times divided by their span,
/// `IBS = Σₖ ½ (BS(tₖ) + BS(tₖ₊₁)) (tₖ₊₁ − tₖ) / (t_last − t_first)`, with BS from
/// [`brier_score`] (`sksurv.metrics.integrated_brier_score`). Use a fine, evenly spaced grid within
/// the test follow-up; the grid is part of the definition and belongs in the report.
///
/// # Errors
/// As [`brier_score`], plus [`MetricError::TooFew`] for fewer than 2 times.
pub fn integrated_brier_score(
    train: CensoredSample<'_>,
    test: CensoredSample<'_>,
    predicted_survival: &[Vec<f64>],
    times: &[f64],
) -> Result<f64, MetricError> {
    if times.len() < 2 {
        return Err(MetricError::TooFew {
            what: "evaluation times",
            needed: 2,
            actual: times.len(),
        });
    }
    let scores = brier_score(train, test, predicted_survival, times)?;
    let area = compensated_sum(
        (1..times.len()).map(|k| 0.5 * (scores[k] + scores[k - 1]) * (times[k] - times[k - 1])),
    );
    Ok(area / (times[times.len() - 1] - times[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(got: f64, expected: f64, tol: f64) {
        assert!(
            (got - expected).abs() <= tol,
            "got {got}, expected {expected}, tolerance {tol}"
        );
    }

    // Five subjects used by the hand-worked examples below.
    const TIMES: [f64; 5] = [2.0, 4.0, 4.0, 6.0, 8.0];
    const EVENTS: [bool; 5] = [true, true, false, true, false];
    const RISK: [f64; 5] = [0.9, 0.5, 0.7, 0.5, 0.1];

    #[test]
    fn harrell_c_by_hand() {
        // Comparable pairs (earlier subject has an event):
        //   s1 (T=2, r=.9) vs s2, s3, s4, s5 (r = .5, .7, .5, .1): 4 concordant.
        //   s2 (T=4, r=.5) vs s3 (T=4 censored, tie in time → comparable, r=.7): discordant;
        //                  vs s4 (r=.5): tied risk, ½; vs s5 (r=.1): concordant.
        //   s4 (T=6, r=.5) vs s5 (r=.1): concordant.
        //   s3 and s5 are censored and start no pair.
        // 8 pairs, 6 concordant, 1 tied, 1 discordant: C = (6 + ½)/8 = 0.8125.
        let res = harrell_c(&TIMES, &EVENTS, &RISK).unwrap();
        assert_close(res.c_index, 0.8125, 1e-15);
        assert_eq!(
            (res.concordant, res.discordant, res.tied_risk, res.tied_time),
            (6, 1, 1, 1)
        );
    }

    #[test]
    fn uno_c_and_brier_by_hand() {
        // Censoring KM on the same data (events leave the risk set before censorings):
        //   t=2: r=5, d=1, c=0 → G=1;  t=4: r=4, d=1, c=1 → G = 1·(1 − 1/3) = 2/3;
        //   t=6: c=0 → G=2/3;          t=8: r=1, d=0, c=1 → G = 0.
        // Event weights G(Tᵢ)⁻²: s1 → 1, s2 → 9/4, s4 → 9/4.
        // Numerator 1·4 + 9/4·(1 + ½) + 9/4·1 = 9.625; denominator 1·4 + 9/4·3 + 9/4·1 = 13.
        let sample = CensoredSample {
            times: &TIMES,
            events: &EVENTS,
        };
        let res = uno_c(sample, sample, &RISK, None).unwrap();
        assert_close(res.c_index, 9.625 / 13.0, 1e-15);
        // τ = 5 drops s4's pairs: (4 + 9/4·1.5)/(4 + 9/4·3) = 7.375/10.75.
        let truncated = uno_c(sample, sample, &RISK, Some(5.0)).unwrap();
        assert_close(truncated.c_index, 7.375 / 10.75, 1e-15);

        // Brier at t = 5 with Ŝ(5) = (.2, .5, .6, .7, .9): cases s1 (G(2)=1), s2 (G(4)=2/3);
        // controls s4, s5 with G(5) = 2/3; s3 (censored at 4) contributes 0 but counts in n = 5.
        // BS = (.2²/1 + .5²·1.5 + .3²·1.5 + .1²·1.5)/5 = 0.565/5 = 0.113.
        let predicted: Vec<Vec<f64>> = [0.2, 0.5, 0.6, 0.7, 0.9].iter().map(|s| vec![*s]).collect();
        let bs = brier_score(sample, sample, &predicted, &[5.0]).unwrap();
        assert_close(bs[0], 0.113, 1e-15);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            harrell_c(&[1.0, -2.0], &[true, false], &[0.0, 1.0]),
            Err(MetricError::NegativeTime {
                what: "times",
                index: 1,
                value: -2.0
            })
        );
        assert_eq!(
            harrell_c(&[1.0, 2.0], &[false, false], &[0.0, 1.0]),
            Err(MetricError::NoComparablePairs)
        );
        let sample = CensoredSample {
            times: &TIMES,
            events: &EVENTS,
        };
        let late = CensoredSample {
            times: &[9.0, 10.0],
            events: &[true, false],
        };
        // The censoring KM reached 0 at t = 8, so G(9) = 0 cannot weight the event at 9.
        assert_eq!(
            uno_c(sample, late, &[1.0, 0.0], None),
            Err(MetricError::ZeroCensoringSurvival { t: 9.0 })
        );
        let all_events = CensoredSample {
            times: &[1.0, 2.0],
            events: &[true, true],
        };
        assert_eq!(
            uno_c(all_events, late, &[1.0, 0.0], None),
            Err(MetricError::BeyondFollowUp { t: 9.0, last: 2.0 })
        );
        let predicted = vec![vec![0.5, 0.4]; 5];
        assert!(matches!(
            brier_score(sample, sample, &predicted, &[3.0, 3.0]),
            Err(MetricError::OutOfRange { .. })
        ));
        assert!(matches!(
            integrated_brier_score(sample, sample, &predicted[..4], &[3.0, 5.0]),
            Err(MetricError::LengthMismatch { .. })
        ));
    }
}
