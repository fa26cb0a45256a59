//! Prediction-corrected visual predictive check statistics (pcVPC; Bergstrand et al., AAPS J
//! 2011;13:143–151), for the forecast distribution.
//!
//! Inputs are the held-out observations `yⱼ` at times `tⱼ`, their population predictions PREDⱼ
//! (η = 0) and M simulated values per observation; simulation r of every observation together is
//! one simulated dataset (here: posterior-predictive draw r of every patient). Then:
//!
//! 1. **Bins.** Time bins with about equal numbers of observations: the inner edges are the type-7
//!    quantiles of the observation times at k/B (k = 1 … B − 1) and bin k is `(e_k, e_{k+1}]`
//!    (the first bin also holds the earliest time; ties stay together, so bins can be empty and
//!    are then dropped).
//! 2. **Prediction correction.** Within a bin, `pcYⱼ = Yⱼ · PRED̃ / PREDⱼ` with PRED̃ the median
//!    PRED of the bin, for observations and simulations alike (lower bound 0; PRED must be
//!    positive).
//! 3. **Percentiles.** The observed 5th, 50th and 95th percentiles of the corrected observations
//!    in the bin; the same percentiles of each simulated dataset, summarised by their 2.5 %, 50 %
//!    and 97.5 % quantiles over the M datasets (the simulated 95 % interval of each percentile).
//!    All quantiles are type 7. An observed percentile outside its simulated interval is a
//!    misfit signal; [`share_outside`] counts them.

use crate::metrics::{
    MetricError, check_finite, check_len, check_sample, quantile_sorted, sorted_copy,
};

/// The percentiles compared: 5th, 50th and 95th.
pub const VPC_PERCENTILES: [f64; 3] = [0.05, 0.5, 0.95];

/// One time bin of a pcVPC.
#[derive(Debug, Clone, PartialEq)]
pub struct VpcBin {
    /// Earliest observation time in the bin.
    pub time_first: f64,
    /// Latest observation time in the bin.
    pub time_last: f64,
    /// Median observation time in the bin (where the bin is drawn).
    pub time_median: f64,
    /// Number of observations in the bin.
    pub n_observations: usize,
    /// Median PRED of the bin, the reference of the correction.
    pub median_prediction: f64,
    /// Observed percentiles (in [`VPC_PERCENTILES`] order) of the corrected observations.
    pub observed: [f64; 3],
    /// 2.5 % quantile over simulated datasets of each simulated percentile.
    pub simulated_lower: [f64; 3],
    /// Median over simulated datasets of each simulated percentile.
    pub simulated_median: [f64; 3],
    /// 97.5 % quantile over simulated datasets of each simulated percentile.
    pub simulated_upper: [f64; 3],
}

impl VpcBin {
    /// Whether each observed percentile lies outside its simulated 95 % interval.
    #[must_use]
    pub fn outside(&self) -> [bool; 3] {
        std::array::from_fn(|k| {
            self.observed[k] < self.simulated_lower[k] || self.observed[k] > self.simulated_upper[k]
        })
    }
}

/// The pcVPC statistics (see the [module documentation](self)).
///
/// `simulations[j]` holds the M simulated values of observation j; every observation must have
/// the same M.
///
/// # Errors
/// [`MetricError::Empty`], [`MetricError::LengthMismatch`], [`MetricError::NonFinite`];
/// [`MetricError::TooFew`] for fewer than 2 simulations or 0 bins; [`MetricError::OutOfRange`]
/// for a population prediction that is not positive.
///
/// # Example
/// ```
/// use twin_eval::metrics::MetricError;
/// use twin_eval::vpc::pc_vpc;
/// // One bin, PRED 1 everywhere (no correction): observed median of {1, 2, 3} is 2.
/// let sims = vec![vec![1.0, 2.0, 3.0]; 3];
/// let bins = pc_vpc(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], &[1.0; 3], &sims, 1)?;
/// assert!((bins[0].observed[1] - 2.0).abs() < 1e-15);
/// # Ok::<(), MetricError>(())
/// ```
pub fn pc_vpc(
    times: &[f64],
    observed: &[f64],
    population_predictions: &[f64],
    simulations: &[Vec<f64>],
    n_bins: usize,
) -> Result<Vec<VpcBin>, MetricError> {
    check_sample("times", times)?;
    check_len("observations", times.len(), observed.len())?;
    check_len(
        "population predictions",
        times.len(),
        population_predictions.len(),
    )?;
    check_len("simulations", times.len(), simulations.len())?;
    check_finite("observations", observed)?;
    check_finite("population predictions", population_predictions)?;
    if let Some(&p) = population_predictions.iter().find(|&&p| p <= 0.0) {
        return Err(MetricError::OutOfRange {
            what: "population prediction (prediction correction needs PRED > 0)",
            value: p,
            allowed: "(0, ∞)",
        });
    }
    let n_sims = simulations[0].len();
    if n_sims < 2 {
        return Err(MetricError::TooFew {
            what: "simulations per observation",
            needed: 2,
            actual: n_sims,
        });
    }
    for sims in simulations {
        check_len("simulations per observation", n_sims, sims.len())?;
        check_finite("simulations", sims)?;
    }
    if n_bins == 0 {
        return Err(MetricError::TooFew {
            what: "bins",
            needed: 1,
            actual: 0,
        });
    }
    let sorted_times = sorted_copy(times);
    let edges: Vec<f64> = (1..n_bins)
        .map(|k| quantile_sorted(&sorted_times, k as f64 / n_bins as f64))
        .collect();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_bins];
    for (j, &t) in times.iter().enumerate() {
        members[edges.iter().filter(|&&e| e < t).count()].push(j);
    }
    let mut res = Vec::new();
    for bin in members.iter().filter(|m| !m.is_empty()) {
        let bin_times = sorted_copy(&bin.iter().map(|&j| times[j]).collect::<Vec<_>>());
        let preds = sorted_copy(
            &bin.iter()
                .map(|&j| population_predictions[j])
                .collect::<Vec<_>>(),
        );
        let median_prediction = quantile_sorted(&preds, 0.5);
        let factor = |j: usize| median_prediction / population_predictions[j];
        let corrected = sorted_copy(
            &bin.iter()
                .map(|&j| observed[j] * factor(j))
                .collect::<Vec<_>>(),
        );
        let observed_percentiles = VPC_PERCENTILES.map(|p| quantile_sorted(&corrected, p));
        // Per percentile, its value in every simulated dataset.
        let mut simulated: [Vec<f64>; 3] = std::array::from_fn(|_| Vec::with_capacity(n_sims));
        // One iterator per observation of the bin; each step of all of them is one dataset.
        let mut columns: Vec<(f64, std::slice::Iter<'_, f64>)> = bin
            .iter()
            .map(|&j| (factor(j), simulations[j].iter()))
            .collect();
        let mut dataset = Vec::with_capacity(bin.len());
        for _ in 0..n_sims {
            dataset.clear();
            for (scale, column) in &mut columns {
                let value = column
                    .next()
                    .expect("every observation has n_sims simulations (checked above)");
                dataset.push(value * *scale);
            }
            dataset.sort_by(f64::total_cmp);
            for (k, &p) in VPC_PERCENTILES.iter().enumerate() {
                simulated[k].push(quantile_sorted(&dataset, p));
            }
        }
        for values in &mut simulated {
            values.sort_by(f64::total_cmp);
        }
        res.push(VpcBin {
            time_first: bin_times[0],
            time_last: bin_times[bin_times.len() - 1],
            time_median: quantile_sorted(&bin_times, 0.5),
            n_observations: bin.len(),
            median_prediction,
            observed: observed_percentiles,
            simulated_lower: std::array::from_fn(|k| quantile_sorted(&simulated[k], 0.025)),
            simulated_median: std::array::from_fn(|k| quantile_sorted(&simulated[k], 0.5)),
            simulated_upper: std::array::from_fn(|k| quantile_sorted(&simulated[k], 0.975)),
        });
    }
    Ok(res)
}

/// Share of (bin, percentile) pairs whose observed percentile lies outside its simulated 95 %
/// interval; NaN without bins.
#[must_use]
pub fn share_outside(bins: &[VpcBin]) -> f64 {
    let outside: usize = bins
        .iter()
        .map(|b| b.outside().iter().filter(|&&o| o).count())
        .sum();
    outside as f64 / (3 * bins.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correction_scales_by_the_bin_median_prediction() {
        // One bin; observations 2, 4, 4 with PRED 1, 2, 4 (median 2): corrected 2·2/1, 4·2/2,
        // 4·2/4 = 4, 4, 2.
        let sims = vec![vec![0.0, 1.0]; 3];
        let bins = pc_vpc(
            &[0.0, 1.0, 2.0],
            &[2.0, 4.0, 4.0],
            &[1.0, 2.0, 4.0],
            &sims,
            1,
        )
        .unwrap();
        assert_eq!(bins.len(), 1);
        assert!((bins[0].median_prediction - 2.0).abs() < 1e-15);
        // Sorted corrected {2, 4, 4}: median 4; 5th percentile 2 + 0.1·2 = 2.2.
        assert!((bins[0].observed[1] - 4.0).abs() < 1e-15);
        assert!((bins[0].observed[0] - 2.2).abs() < 1e-12);
    }

    #[test]
    fn tied_times_stay_in_one_bin_and_empty_bins_are_dropped() {
        let times = [1.0, 1.0, 1.0, 1.0, 5.0];
        // Simulated datasets all 0.5 or all 1.5: every simulated percentile's 95 % interval is
        // [0.525, 1.475], which holds the observed 1.
        let sims = vec![vec![0.5, 1.5]; 5];
        let bins = pc_vpc(&times, &[1.0; 5], &[1.0; 5], &sims, 4).unwrap();
        assert_eq!(bins.len(), 2);
        assert_eq!((bins[0].n_observations, bins[1].n_observations), (4, 1));
        assert!((share_outside(&bins) - 0.0).abs() < 1e-15);
    }

    #[test]
    fn bad_input_is_an_error() {
        let sims = vec![vec![1.0, 2.0]; 2];
        assert!(matches!(
            pc_vpc(&[0.0, 1.0], &[1.0, 1.0], &[1.0, 0.0], &sims, 1),
            Err(MetricError::OutOfRange { .. })
        ));
        assert!(matches!(
            pc_vpc(
                &[0.0, 1.0],
                &[1.0, 1.0],
                &[1.0, 1.0],
                &[vec![1.0], vec![1.0]],
                1
            ),
            Err(MetricError::TooFew { .. })
        ));
    }
}
