//! Drift statistics between a reference sample and a current sample (docs/domain.md §5).
//!
//! Covariate drift compares an evaluation cohort with the training cohort; prediction drift compares
//! two model versions' outputs on the same frozen cohort. Univariate statistics take one column
//! (`&[f64]`) of each sample; [`mmd_rbf`] takes several covariates at once (one `Vec<f64>` per
//! individual). The reference sample always comes first: PSI bins and the Wasserstein
//! normalisation are defined by it.

use crate::metrics::{
    KsMethod, KsResult, MetricError, check_len, check_sample, compensated_sum, kolmogorov_sf,
    mean_of, quantile_sorted, sorted_copy,
};
use twin_engine::random::{Purpose, RandomStream};

/// Largest sample size for which [`ks_two_sample`] uses the exact distribution
/// (scipy's `MAX_AUTO_N` of `ks_2samp(method="auto")`).
pub const KS_EXACT_MAX_N: usize = 10_000;

/// Two-sample two-sided Kolmogorov–Smirnov test, as `scipy.stats.ks_2samp(reference, current)`
/// with its default `method="auto"`.
///
/// `D = sup_x |F_ref(x) − F_cur(x)|` over the pooled values (empirical CDFs are right-continuous,
/// so ties between the samples are handled exactly). p-value `P(D ≥ d)`:
/// - **exact** when both sizes are at most [`KS_EXACT_MAX_N`]: the share of monotone lattice paths
///   from (0, 0) to (m, n) that touch `|x/m − y/n| ≥ d` (Hodges 1958), computed with the recursion
///   for the complement probability of Viehmann (2021), which stays in [0, 1] and cannot overflow;
/// - **asymptotic** otherwise: the one-sample distribution [`kolmogorov_sf`] at the effective size
///   `round(mn/(m + n))` (rounding half to even, as numpy), as scipy does.
///
/// # Errors
/// [`MetricError::Empty`] or [`MetricError::NonFinite`].
///
/// # Example
/// ```
/// use twin_eval::drift::ks_two_sample;
/// use twin_eval::metrics::MetricError;
/// // Separated samples: D = 1, and 2 of the C(4, 2) = 6 orderings reach it, so p = 1/3.
/// let res = ks_two_sample(&[1.0, 2.0], &[3.0, 4.0])?;
/// assert!((res.statistic - 1.0).abs() < 1e-15 && (res.p_value - 1.0 / 3.0).abs() < 1e-15);
/// # Ok::<(), MetricError>(())
/// ```
pub fn ks_two_sample(reference: &[f64], current: &[f64]) -> Result<KsResult, MetricError> {
    check_sample("reference", reference)?;
    check_sample("current", current)?;
    let a = sorted_copy(reference);
    let b = sorted_copy(current);
    let (n1, n2) = (a.len(), b.len());
    // Largest |i·n2 − j·n1| over the pooled values, in integers: D = that / (n1·n2).
    let (mut i, mut j) = (0_usize, 0_usize);
    let mut max_gap: u128 = 0;
    while i < n1 || j < n2 {
        let next = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.min(*y),
            (Some(x), None) => *x,
            (None, Some(y)) => *y,
            (None, None) => break,
        };
        while i < n1 && a[i] <= next {
            i += 1;
        }
        while j < n2 && b[j] <= next {
            j += 1;
        }
        let gap = (i as u128 * n2 as u128).abs_diff(j as u128 * n1 as u128);
        max_gap = max_gap.max(gap);
    }
    let statistic = max_gap as f64 / (n1 as f64 * n2 as f64);
    if n1.max(n2) <= KS_EXACT_MAX_N {
        let g = gcd(n1, n2) as u128;
        let h = max_gap / g;
        Ok(KsResult {
            statistic,
            p_value: ks_two_sample_exact_sf(n1, n2, h),
            method: KsMethod::Exact,
        })
    } else {
        let (m, n) = (n1 as f64, n2 as f64);
        let effective = (m * n / (m + n)).round_ties_even() as usize;
        Ok(KsResult {
            statistic,
            p_value: kolmogorov_sf(effective, statistic),
            method: KsMethod::Asymptotic,
        })
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Exact `P(D_{m,n} ≥ h/lcm(m, n))`: the probability that a uniformly random monotone lattice path
/// from (0, 0) to (m, n) touches `|n'x − m'y| ≥ h` with `m' = m/g`, `n' = n/g`.
///
/// `P(x, y)`, the share of paths to (x, y) that have touched the boundary, is 1 on or outside it and
/// `P(x, y) = x/(x+y)·P(x−1, y) + y/(x+y)·P(x, y−1)` inside, with `P(0, 0) = 0`. Only the band inside
/// the boundary is updated column by column; O(m · band) time, O(n) memory.
fn ks_two_sample_exact_sf(n1: usize, n2: usize, h: u128) -> f64 {
    if h == 0 {
        return 1.0;
    }
    let (m, n) = if n1 >= n2 { (n1, n2) } else { (n2, n1) };
    let g = gcd(m, n) as u128;
    let (mg, ng) = (m as u128 / g, n as u128 / g);
    let h = h as i128;
    let (mg_i, ng_i) = (mg as i128, ng as i128);
    // Column x = 0: straight up from the origin, inside while m'·y < h.
    let mut col: Vec<f64> = (0..=n)
        .map(|y| if (mg_i * y as i128) < h { 0.0 } else { 1.0 })
        .collect();
    let mut prev_lo = 0_usize;
    for x in 1..=m {
        let a = ng_i * x as i128;
        // Smallest y with m'·y > a − h, and smallest y with m'·y ≥ a + h.
        let lo = if a - h < 0 {
            0
        } else {
            usize::try_from((a - h) / mg_i + 1).unwrap_or(usize::MAX)
        }
        .min(n + 1);
        let hi = usize::try_from((a + h + mg_i - 1) / mg_i)
            .unwrap_or(usize::MAX)
            .min(n + 1);
        if hi <= lo {
            return 1.0;
        }
        for value in &mut col[prev_lo..lo] {
            *value = 1.0;
        }
        let xf = x as f64;
        for y in lo..hi {
            if y > 0 {
                let yf = y as f64;
                col[y] = (xf * col[y] + yf * col[y - 1]) / (xf + yf);
            }
        }
        prev_lo = lo;
    }
    col[n].clamp(0.0, 1.0)
}

/// Wasserstein-1 (earth mover's) distance between two empirical distributions, in units of the
/// data: `W₁ = ∫ |F_ref(x) − F_cur(x)| dx`, computed exactly over the pooled sorted values, as
/// `scipy.stats.wasserstein_distance(reference, current)` (unweighted).
///
/// # Errors
/// [`MetricError::Empty`] or [`MetricError::NonFinite`].
pub fn wasserstein1(reference: &[f64], current: &[f64]) -> Result<f64, MetricError> {
    check_sample("reference", reference)?;
    check_sample("current", current)?;
    let a = sorted_copy(reference);
    let b = sorted_copy(current);
    let mut pooled: Vec<f64> = a.iter().chain(&b).copied().collect();
    pooled.sort_by(f64::total_cmp);
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0_usize, 0_usize);
    let mut terms = Vec::with_capacity(pooled.len());
    for window in pooled.windows(2) {
        let (left, right) = (window[0], window[1]);
        while i < a.len() && a[i] <= left {
            i += 1;
        }
        while j < b.len() && b[j] <= left {
            j += 1;
        }
        terms.push((i as f64 / n1 - j as f64 / n2).abs() * (right - left));
    }
    Ok(compensated_sum(terms))
}

/// Wasserstein-1 distance divided by the reference sample's standard deviation (population SD,
/// denominator n, as numpy's `std` that Evidently uses), so that it is unit-free. docs/domain.md §5
/// names the reference SD; Evidently flags drift above 0.1 for samples of more than 1000 rows.
///
/// # Errors
/// As [`wasserstein1`], plus [`MetricError::ZeroSpread`] if the reference is constant.
pub fn normalised_wasserstein1(reference: &[f64], current: &[f64]) -> Result<f64, MetricError> {
    let distance = wasserstein1(reference, current)?;
    let mean = mean_of(reference);
    let sd = (compensated_sum(reference.iter().map(|x| (x - mean) * (x - mean)))
        / reference.len() as f64)
        .sqrt();
    if sd <= 0.0 {
        return Err(MetricError::ZeroSpread { what: "reference" });
    }
    Ok(distance / sd)
}

/// Number of reference-quantile bins used by [`psi`] and [`jensen_shannon_distance`].
pub const DRIFT_BINS: usize = 10;

/// Share that replaces an empty bin's share inside the PSI sum (Evidently's 0.0001); the shares are
/// not renormalised afterwards.
pub const PSI_EPSILON: f64 = 1e-4;

/// Binned shares of a reference and a current sample on the reference's decile bins.
#[derive(Debug, Clone, PartialEq)]
pub struct BinnedShares {
    /// The 9 inner bin edges: type-7 quantiles of the reference at 0.1, 0.2, …, 0.9.
    pub edges: Vec<f64>,
    /// Share of the reference in each of the 10 bins (sums to 1).
    pub reference: Vec<f64>,
    /// Share of the current sample in each of the 10 bins (sums to 1).
    pub current: Vec<f64>,
}

/// Shares of both samples in the bins `(−∞, e₁], (e₁, e₂], …, (e₉, ∞)` where `eₖ` is the type-7
/// quantile of the reference at k/10 (right-closed bins, so a value equal to an edge falls in the
/// lower bin; with ties in the reference some bins can be empty).
///
/// # Errors
/// [`MetricError::Empty`] or [`MetricError::NonFinite`].
pub fn decile_shares(reference: &[f64], current: &[f64]) -> Result<BinnedShares, MetricError> {
    check_sample("reference", reference)?;
    check_sample("current", current)?;
    let sorted = sorted_copy(reference);
    let edges: Vec<f64> = (1..DRIFT_BINS)
        .map(|k| quantile_sorted(&sorted, k as f64 / DRIFT_BINS as f64))
        .collect();
    let shares = |sample: &[f64]| {
        let mut counts = [0_usize; DRIFT_BINS];
        for &x in sample {
            counts[edges.iter().filter(|&&e| e < x).count()] += 1;
        }
        counts
            .iter()
            .map(|&c| c as f64 / sample.len() as f64)
            .collect::<Vec<f64>>()
    };
    Ok(BinnedShares {
        reference: shares(reference),
        current: shares(current),
        edges,
    })
}

/// Population stability index with its bins.
#[derive(Debug, Clone, PartialEq)]
pub struct PsiResult {
    /// `PSI = Σₖ (cₖ − rₖ) ln(cₖ/rₖ)`, unit-free, ≥ 0.
    pub value: f64,
    /// Bins and raw shares (before the epsilon replacement).
    pub bins: BinnedShares,
}

/// Population stability index on the reference's 10 decile bins ([`decile_shares`]).
///
/// `PSI = Σₖ (cₖ − rₖ) ln(cₖ/rₖ)` with rₖ, cₖ the reference and current shares of bin k; a zero
/// share is replaced by [`PSI_EPSILON`] inside the sum (no renormalisation). Classify with
/// [`PsiThresholds`].
///
/// # Errors
/// [`MetricError::Empty`] or [`MetricError::NonFinite`].
///
/// # Example
/// ```
/// use twin_eval::drift::{DriftLevel, PsiThresholds, psi};
/// use twin_eval::metrics::MetricError;
/// let reference: Vec<f64> = (0..1000).map(|i| f64::from(i) / 10.0).collect();
/// let current: Vec<f64> = reference.iter().map(|x| x + 30.0).collect();
/// let res = psi(&reference, &current)?;
/// assert_eq!(PsiThresholds::default().classify(res.value), DriftLevel::Major);
/// # Ok::<(), MetricError>(())
/// ```
pub fn psi(reference: &[f64], current: &[f64]) -> Result<PsiResult, MetricError> {
    let bins = decile_shares(reference, current)?;
    let floor = |p: f64| if p > 0.0 { p } else { PSI_EPSILON };
    let value = compensated_sum(bins.reference.iter().zip(&bins.current).map(|(&r, &c)| {
        let (r, c) = (floor(r), floor(c));
        (c - r) * (c / r).ln()
    }));
    Ok(PsiResult { value, bins })
}

/// How much a PSI value says the distribution moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DriftLevel {
    /// Below the moderate threshold.
    Stable,
    /// At or above the moderate threshold and below the major one.
    Moderate,
    /// At or above the major threshold.
    Major,
}

/// PSI thresholds; state them in the report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PsiThresholds {
    /// Lower bound of moderate drift. By default, this is `0.1`.
    pub moderate: f64,
    /// Lower bound of major drift. By default, this is `0.25`.
    pub major: f64,
}

impl Default for PsiThresholds {
    fn default() -> Self {
        Self {
            moderate: 0.1,
            major: 0.25,
        }
    }
}

impl PsiThresholds {
    /// The drift level of a PSI value: < moderate stable, < major moderate, otherwise major.
    #[must_use]
    pub fn classify(&self, psi_value: f64) -> DriftLevel {
        if psi_value >= self.major {
            DriftLevel::Major
        } else if psi_value >= self.moderate {
            DriftLevel::Moderate
        } else {
            DriftLevel::Stable
        }
    }
}

/// Jensen–Shannon distance between the reference and current shares on the reference's decile bins
/// ([`decile_shares`]): `√(½ KL(r‖m) + ½ KL(c‖m))`, `m = (r + c)/2`, natural logarithm (so it lies
/// in [0, √ln 2]), `0 · ln 0 = 0`; as `scipy.spatial.distance.jensenshannon(r, c)`.
///
/// # Errors
/// [`MetricError::Empty`] or [`MetricError::NonFinite`].
pub fn jensen_shannon_distance(reference: &[f64], current: &[f64]) -> Result<f64, MetricError> {
    let bins = decile_shares(reference, current)?;
    let kl_to_mid = |p: &[f64], q: &[f64]| {
        compensated_sum(p.iter().zip(q).map(|(&pk, &qk)| {
            let mid = 0.5 * (pk + qk);
            if pk > 0.0 { pk * (pk / mid).ln() } else { 0.0 }
        }))
    };
    let divergence = 0.5 * kl_to_mid(&bins.reference, &bins.current)
        + 0.5 * kl_to_mid(&bins.current, &bins.reference);
    Ok(divergence.max(0.0).sqrt())
}

/// Stream purpose of [`mmd_rbf`] permutations (`Purpose::Custom(602)`).
pub const MMD_PURPOSE: Purpose = Purpose::Custom(602);

/// Maximum mean discrepancy between two multivariate samples with its permutation p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmdResult {
    /// Unbiased estimate MMD²_u (can be slightly negative when the samples agree).
    pub mmd2: f64,
    /// Kernel bandwidth σ (median heuristic), in units of the covariates.
    pub bandwidth: f64,
    /// Permutation p-value `(1 + #{b: MMD²_b ≥ MMD²_obs}) / (1 + B)`.
    pub p_value: f64,
    /// Number of permutations B.
    pub n_permutations: usize,
}

/// Unbiased MMD² with a Gaussian (RBF) kernel and a permutation test (Gretton et al. 2012).
///
/// `k(a, b) = exp(−‖a − b‖² / (2σ²))` with σ the median of the Euclidean distances between all
/// distinct pairs of the pooled sample (median heuristic; type-7 median). With X the m reference
/// rows and Y the n current rows:
/// `MMD²_u = Σ_{i≠j} k(xᵢ,xⱼ)/(m(m−1)) + Σ_{i≠j} k(yᵢ,yⱼ)/(n(n−1)) − 2 Σᵢⱼ k(xᵢ,yⱼ)/(mn)`.
/// The p-value re-splits the pooled rows B times at random (the bandwidth, a function of the pooled
/// sample, stays fixed); permutation b shuffles with `RandomStream::new(seed, b, 0, MMD_PURPOSE)`
/// by Fisher–Yates, so the result is a pure function of the inputs and the seed.
///
/// Covariates are used as given: standardise columns first if their units differ. Cost: O(N² d) to
/// build the kernel matrix, O(N²) memory for its upper triangle and O(N² B) time for the
/// permutations, with N = m + n; subsample large cohorts first.
///
/// # Errors
/// [`MetricError::TooFew`] for fewer than 2 rows in a sample, 0 covariates or `n_permutations = 0`;
/// [`MetricError::LengthMismatch`] for rows of different dimension; [`MetricError::NonFinite`];
/// [`MetricError::ZeroSpread`] if the median pairwise distance is 0.
pub fn mmd_rbf(
    reference: &[Vec<f64>],
    current: &[Vec<f64>],
    n_permutations: usize,
    seed: u64,
) -> Result<MmdResult, MetricError> {
    for (what, sample) in [("reference rows", reference), ("current rows", current)] {
        if sample.len() < 2 {
            return Err(MetricError::TooFew {
                what,
                needed: 2,
                actual: sample.len(),
            });
        }
    }
    if n_permutations == 0 {
        return Err(MetricError::TooFew {
            what: "permutations",
            needed: 1,
            actual: 0,
        });
    }
    let dim = reference[0].len();
    if dim == 0 {
        return Err(MetricError::TooFew {
            what: "covariates",
            needed: 1,
            actual: 0,
        });
    }
    for row in reference.iter().chain(current) {
        check_len("row dimension", dim, row.len())?;
        check_sample("row", row)?;
    }
    let pooled: Vec<&[f64]> = reference.iter().chain(current).map(Vec::as_slice).collect();
    let n_total = pooled.len();
    // Upper triangle (i < j), row by row.
    let mut squared = Vec::with_capacity(n_total * (n_total - 1) / 2);
    for i in 0..n_total {
        for j in i + 1..n_total {
            squared.push(compensated_sum(
                pooled[i]
                    .iter()
                    .zip(pooled[j])
                    .map(|(a, b)| (a - b) * (a - b)),
            ));
        }
    }
    let mut distances: Vec<f64> = squared.iter().map(|s| s.sqrt()).collect();
    distances.sort_by(f64::total_cmp);
    let bandwidth = quantile_sorted(&distances, 0.5);
    if bandwidth <= 0.0 {
        return Err(MetricError::ZeroSpread {
            what: "pooled sample (median pairwise distance)",
        });
    }
    let kernel: Vec<f64> = squared
        .iter()
        .map(|s| (-s / (2.0 * bandwidth * bandwidth)).exp())
        .collect();
    let m = reference.len();
    let mut in_reference: Vec<bool> = (0..n_total).map(|i| i < m).collect();
    let observed = mmd2_for_split(&kernel, &in_reference, m, n_total - m);
    let mut order: Vec<usize> = Vec::with_capacity(n_total);
    let mut at_least = 0_usize;
    for permutation_idx in 0..n_permutations {
        let mut stream = RandomStream::new(seed, permutation_idx as u64, 0, MMD_PURPOSE);
        order.clear();
        order.extend(0..n_total);
        for i in (1..n_total).rev() {
            let j = ((stream.uniform() * (i + 1) as f64) as usize).min(i);
            order.swap(i, j);
        }
        in_reference.iter_mut().for_each(|flag| *flag = false);
        for &idx in &order[..m] {
            in_reference[idx] = true;
        }
        if mmd2_for_split(&kernel, &in_reference, m, n_total - m) >= observed {
            at_least += 1;
        }
    }
    Ok(MmdResult {
        mmd2: observed,
        bandwidth,
        p_value: (1 + at_least) as f64 / (1 + n_permutations) as f64,
        n_permutations,
    })
}

/// Neumaier accumulator for the three kernel sums.
#[derive(Default)]
struct Accumulator {
    sum: f64,
    compensation: f64,
}

impl Accumulator {
    fn add(&mut self, v: f64) {
        let t = self.sum + v;
        if self.sum.abs() >= v.abs() {
            self.compensation += (self.sum - t) + v;
        } else {
            self.compensation += (v - t) + self.sum;
        }
        self.sum = t;
    }

    fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// MMD²_u for one split of the pooled rows; `kernel` is the upper triangle of the kernel matrix.
fn mmd2_for_split(kernel: &[f64], in_reference: &[bool], m: usize, n: usize) -> f64 {
    let n_total = in_reference.len();
    let (mut xx, mut yy, mut xy) = (
        Accumulator::default(),
        Accumulator::default(),
        Accumulator::default(),
    );
    let mut idx = 0;
    for i in 0..n_total {
        for j in i + 1..n_total {
            let k = kernel[idx];
            idx += 1;
            match (in_reference[i], in_reference[j]) {
                (true, true) => xx.add(k),
                (false, false) => yy.add(k),
                _ => xy.add(k),
            }
        }
    }
    let (mf, nf) = (m as f64, n as f64);
    // Each unordered within-sample pair appears twice in Σ_{i≠j}.
    2.0 * xx.value() / (mf * (mf - 1.0)) + 2.0 * yy.value() / (nf * (nf - 1.0))
        - 2.0 * xy.value() / (mf * nf)
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

    #[test]
    fn two_sample_ks_by_hand() {
        // Reference {1, 2}, current {3, 4}: the ECDFs differ by 1 between 2 and 3, so D = 1.
        // Of the C(4, 2) = 6 orderings only {1,2 | 3,4} and {3,4 | 1,2} reach D = 1: p = 2/6.
        let res = ks_two_sample(&[1.0, 2.0], &[3.0, 4.0]).unwrap();
        assert_close(res.statistic, 1.0, 1e-15);
        assert_close(res.p_value, 1.0 / 3.0, 1e-15);
        assert_eq!(res.method, KsMethod::Exact);
        // Identical samples: D = 0 and p = 1.
        let same = ks_two_sample(&[1.0, 2.0, 2.0], &[2.0, 1.0, 2.0]).unwrap();
        assert_close(same.statistic, 0.0, 0.0);
        assert_close(same.p_value, 1.0, 0.0);
    }

    #[test]
    fn wasserstein_of_shift_is_the_shift() {
        // Shifting every value by c moves the distribution by exactly c.
        let reference = [0.5, -1.0, 2.0, 3.5, 0.0];
        let shifted: Vec<f64> = reference.iter().map(|x| x + 0.75).collect();
        assert_close(wasserstein1(&reference, &shifted).unwrap(), 0.75, 1e-15);
    }

    #[test]
    fn psi_of_identical_samples_is_zero_and_thresholds_classify() {
        let reference: Vec<f64> = (0..100).map(f64::from).collect();
        assert_close(psi(&reference, &reference).unwrap().value, 0.0, 0.0);
        let thresholds = PsiThresholds::default();
        assert_eq!(thresholds.classify(0.05), DriftLevel::Stable);
        assert_eq!(thresholds.classify(0.1), DriftLevel::Moderate);
        assert_eq!(thresholds.classify(0.3), DriftLevel::Major);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            ks_two_sample(&[], &[1.0]),
            Err(MetricError::Empty { what: "reference" })
        );
        assert_eq!(
            normalised_wasserstein1(&[2.0, 2.0], &[1.0]),
            Err(MetricError::ZeroSpread { what: "reference" })
        );
        assert_eq!(
            psi(&[1.0, f64::INFINITY], &[1.0]),
            Err(MetricError::NonFinite {
                what: "reference",
                index: 1
            })
        );
        let rows = vec![vec![0.0, 1.0], vec![1.0, 0.0]];
        assert_eq!(
            mmd_rbf(&rows, &[vec![0.0, 1.0], vec![1.0]], 10, 1),
            Err(MetricError::LengthMismatch {
                what: "row dimension",
                expected: 2,
                actual: 1
            })
        );
        assert!(matches!(
            mmd_rbf(&rows, &rows, 0, 1),
            Err(MetricError::TooFew { .. })
        ));
    }
}
