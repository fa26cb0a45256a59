//! Exact, order-independent streaming summaries: sums, moments and quantiles of `f64` values.
//!
//! The Monte Carlo runner folds millions of simulated patients per (arm, output, time point) into a
//! [`RunningSummary`] without keeping trajectories. Threads and shards on different machines fold
//! different patients, and the merged result must be bit-identical however the values were split
//! and in whatever order they were added or merged. So the state of every accumulator here is a
//! function of the multiset of values added, not of their order:
//!
//! - [`ExactSum`] keeps the exact sum in a fixed-point superaccumulator of integer limbs, and
//!   [`ExactSum::value`] rounds it correctly to the nearest `f64`.
//! - [`QuantileSketch`] keeps integer bucket counts (DDSketch), so merging is integer addition.
//! - [`RunningSummary`] combines exact Σx and Σx² with a sketch and reports mean, SD and quantiles.
//!
//! Float arithmetic that decides state (which bucket a value goes to) uses only the IEEE 754 basic
//! operations `+ − × ÷`, which are correctly rounded and so identical on every platform. It never
//! calls `ln` or `exp`, whose last bit differs between libm implementations (glibc, musl, the wasm
//! build).
//!
//! Start with [`RunningSummary`]; the other two types are its parts.

use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// Number of 32-bit digits ("limbs") in an [`ExactSum`].
///
/// Limb `k` has weight 2^(32·k − [`UNIT_BIT`]). Limbs 0..=66 cover every bit of every finite `f64`
/// (2⁻¹⁰⁷⁴ up to 2¹⁰²³·(2 − 2⁻⁵²)); limbs 67 and 68 only receive carries, so the sum of up to 2⁶⁴
/// values of magnitude below 2¹⁰²⁴ is held without overflow.
const N_LIMBS: usize = 69;
/// Bit index (counted from bit 0 of limb 0) of the unit 2⁰. It is 34·32, so the smallest subnormal
/// 2⁻¹⁰⁷⁴ sits at bit 14.
const UNIT_BIT: i32 = 1088;
/// Bit index of 2⁻¹⁰⁷⁴, the smallest subnormal: every finite `f64` is an integer multiple of it.
const SUBNORMAL_BIT: usize = 14;
/// Bits per limb digit once carries are normalised.
const DIGIT_BITS: u32 = 32;
/// Mask of one normalised digit.
const DIGIT_MASK: i64 = 0xFFFF_FFFF;
/// Carries are propagated after this many [`ExactSum::add`] calls.
///
/// After normalisation every limb but the top one lies in [0, 2³²), and each addition changes a
/// limb by less than 2³² in magnitude. After 2³⁰ additions a limb is below 2³² + 2³⁰·2³² < 2⁶³,
/// so `i64` never overflows.
const NORMALISE_EVERY: u32 = 1 << 30;
/// Fraction (explicit mantissa) bits of an `f64`.
const F64_FRACTION_MASK: u64 = (1 << 52) - 1;
/// The implicit leading bit of a normal `f64`'s mantissa.
const F64_HIDDEN_BIT: u64 = 1 << 52;
/// Bits of the biased exponent field of ±∞ and NaN.
const F64_EXPONENT_NON_FINITE: u64 = 0x7ff;
/// Bit pattern of 1.0 (biased exponent 1023, zero fraction).
const F64_ONE_BITS: u64 = 0x3ff0_0000_0000_0000;

/// Exact sum of `f64` values, independent of the order they are added or merged in.
///
/// The sum Σxᵢ of finite values is kept exactly as an integer multiple of 2⁻¹⁰⁷⁴ (the smallest
/// subnormal), in 69 limbs of 32-bit digits held in `i64`: value = Σₖ limbₖ · 2^(32·k − 1088).
/// [`add`](Self::add) splits the 53-bit mantissa of `x` over at most three limbs and adds it without
/// propagating carries; carries are normalised every 2³⁰ additions and before reading. This is
/// the "large superaccumulator" of Neal (2015), *Fast exact summation using small and large
/// superaccumulators*, arXiv:1505.05571.
///
/// Non-finite values are counted, not summed: if any NaN was added, or both +∞ and −∞,
/// [`value`](Self::value) is NaN; otherwise if +∞ (−∞) was added it is +∞ (−∞).
///
/// Equality ([`PartialEq`]) and the serialised form compare exact sums and non-finite counts, so
/// two accumulators of the same multiset of values compare equal and serialise to the same text.
/// The serialised form is `{negative, exponent, digits, nan_count, positive_infinity_count,
/// negative_infinity_count}` with |sum| = Σⱼ digitsⱼ · 2^(exponent + 32·j), digits trimmed of
/// leading and trailing zeros.
///
/// Speed: `add` measured 2.8 ns per value (x86-64 Xeon, release build, 2²⁰ values of mixed
/// sign and magnitude, best of 5 runs), against 0.7 ns for a naive `f64` sum.
///
/// # Example
/// ```
/// use twin_engine::summary::ExactSum;
///
/// let mut sum = ExactSum::new();
/// for x in [1e16, 1.0, -1e16] {
///     sum.add(x);
/// }
/// assert_eq!(sum.value().to_bits(), 1.0_f64.to_bits()); // A naive f64 sum gives 0.
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "ExactSumWire", try_from = "ExactSumWire")]
pub struct ExactSum {
    /// Limb `k` has weight 2^(32·k − 1088); carries are pending in all but the top limb.
    limbs: [i64; N_LIMBS],
    /// Additions since carries were last normalised.
    pending: u32,
    nan_count: u64,
    positive_infinity_count: u64,
    negative_infinity_count: u64,
}

impl Default for ExactSum {
    fn default() -> Self {
        Self::new()
    }
}

impl ExactSum {
    /// An empty sum (value 0).
    #[must_use]
    pub fn new() -> Self {
        Self {
            limbs: [0; N_LIMBS],
            pending: 0,
            nan_count: 0,
            positive_infinity_count: 0,
            negative_infinity_count: 0,
        }
    }

    /// Adds `x` exactly.
    ///
    /// A finite `x = ±M · 2^(e − 52)` (53-bit integer `M`) becomes the integer `M` shifted to bit
    /// `e − 52 + 1088` of the accumulator, split over three consecutive limbs. NaN and ±∞ are
    /// counted instead (see the type's docs). No allocation.
    #[inline]
    pub fn add(&mut self, x: f64) {
        let bits = x.to_bits();
        let biased_exponent = (bits >> 52) & F64_EXPONENT_NON_FINITE;
        if biased_exponent == F64_EXPONENT_NON_FINITE {
            self.add_non_finite(x);
            return;
        }
        let fraction = bits & F64_FRACTION_MASK;
        // A normal value is (2⁵² + fraction)·2^(biased − 1075); a subnormal is fraction·2⁻¹⁰⁷⁴,
        // which is the same formula with biased exponent 1 and no hidden bit.
        let (mantissa, lowest_bit) = if biased_exponent == 0 {
            (fraction, SUBNORMAL_BIT)
        } else {
            (fraction | F64_HIDDEN_BIT, biased_exponent as usize + 13)
        };
        let signed_mantissa = if (bits as i64) < 0 {
            -(mantissa as i64)
        } else {
            mantissa as i64
        };
        // The shifted mantissa w (< 2⁸⁵ in magnitude) is split exactly as
        // w = d₀ + d₁·2³² + d₂·2⁶⁴ with d₀, d₁ ∈ [0, 2³²) and d₂ signed (two's complement).
        let shifted = i128::from(signed_mantissa) << (lowest_bit % 32);
        let limb_idx = lowest_bit / 32;
        // The largest finite value has biased exponent 2046, so limb_idx + 2 ≤ 66 < N_LIMBS.
        if let Some([low, mid, high]) = self.limbs.get_mut(limb_idx..limb_idx + 3) {
            *low += shifted as i64 & DIGIT_MASK;
            *mid += (shifted >> DIGIT_BITS) as i64 & DIGIT_MASK;
            *high += (shifted >> (2 * DIGIT_BITS)) as i64;
        }
        self.pending += 1;
        if self.pending >= NORMALISE_EVERY {
            self.normalise();
        }
    }

    #[cold]
    #[inline(never)]
    fn add_non_finite(&mut self, x: f64) {
        if x.is_nan() {
            self.nan_count += 1;
        } else if x > 0.0 {
            self.positive_infinity_count += 1;
        } else {
            self.negative_infinity_count += 1;
        }
    }

    /// Whether the non-finite counts of `self` and `other` add up without overflowing `u64`
    /// (so that [`merge`](Self::merge) cannot overflow; only deserialised sums can be that
    /// large).
    fn counts_fit(&self, other: &Self) -> bool {
        self.nan_count.checked_add(other.nan_count).is_some()
            && self
                .positive_infinity_count
                .checked_add(other.positive_infinity_count)
                .is_some()
            && self
                .negative_infinity_count
                .checked_add(other.negative_infinity_count)
                .is_some()
    }

    /// Adds the exact sum of `other` (Σ over both multisets of values) to this one.
    pub fn merge(&mut self, other: &Self) {
        self.normalise();
        // Normalise `other`'s carries on the fly so each limb receives a digit below 2³².
        let mut carry = 0_i64;
        for (limb, &other_limb) in self.limbs[..N_LIMBS - 1].iter_mut().zip(&other.limbs) {
            let v = other_limb + carry;
            *limb += v & DIGIT_MASK;
            carry = v >> DIGIT_BITS;
        }
        self.limbs[N_LIMBS - 1] += other.limbs[N_LIMBS - 1] + carry;
        self.normalise();
        self.nan_count += other.nan_count;
        self.positive_infinity_count += other.positive_infinity_count;
        self.negative_infinity_count += other.negative_infinity_count;
    }

    /// The exact sum rounded to the nearest `f64` (ties to even), as IEEE 754 would round it.
    ///
    /// A pure function of the exact sum and the non-finite counts, hence of the multiset of
    /// values added. Sums of magnitude ≥ 2¹⁰²⁴ − 2⁹⁷⁰ round to ±∞; an exact zero is `+0.0`.
    /// NaN if any NaN or both +∞ and −∞ were added, otherwise ±∞ if that infinity was added.
    #[must_use]
    pub fn value(&self) -> f64 {
        match (
            self.nan_count,
            self.positive_infinity_count,
            self.negative_infinity_count,
        ) {
            (0, 0, 0) => {}
            (0, _, 0) => return f64::INFINITY,
            (0, 0, _) => return f64::NEG_INFINITY,
            _ => return f64::NAN,
        }
        let mut limbs = self.limbs;
        normalise_limbs(&mut limbs);
        let negative = limbs[N_LIMBS - 1] < 0;
        if negative {
            negate_limbs(&mut limbs);
        }
        let magnitude = magnitude_to_f64(&limbs);
        if negative { -magnitude } else { magnitude }
    }

    /// The exact sum as an unevaluated pair `hi + lo` with `hi` = [`value`](Self::value) and
    /// `lo` the correctly rounded remainder, about 106 significant bits in all.
    fn value_double_double(&self) -> (f64, f64) {
        let hi = self.value();
        if !hi.is_finite() {
            return (hi, 0.0);
        }
        let mut remainder = self.clone();
        remainder.add(-hi);
        (hi, remainder.value())
    }

    /// Number of NaN values added.
    #[must_use]
    pub fn nan_count(&self) -> u64 {
        self.nan_count
    }

    /// Number of +∞ values added.
    #[must_use]
    pub fn positive_infinity_count(&self) -> u64 {
        self.positive_infinity_count
    }

    /// Number of −∞ values added.
    #[must_use]
    pub fn negative_infinity_count(&self) -> u64 {
        self.negative_infinity_count
    }

    /// The same sum with all carries propagated: every limb but the top one in [0, 2³²).
    ///
    /// This representation is unique for each exact sum. Equality and serialisation normalise
    /// internally, so calling this is never required.
    #[must_use]
    pub fn normalised(&self) -> Self {
        let mut res = self.clone();
        res.normalise();
        res
    }

    fn normalise(&mut self) {
        normalise_limbs(&mut self.limbs);
        self.pending = 0;
    }
}

impl PartialEq for ExactSum {
    fn eq(&self, other: &Self) -> bool {
        let mut a = self.limbs;
        let mut b = other.limbs;
        normalise_limbs(&mut a);
        normalise_limbs(&mut b);
        a == b
            && self.nan_count == other.nan_count
            && self.positive_infinity_count == other.positive_infinity_count
            && self.negative_infinity_count == other.negative_infinity_count
    }
}

impl Eq for ExactSum {}

/// Propagates carries so that limbs 0..N−1 lie in [0, 2³²); the top limb keeps the sign.
fn normalise_limbs(limbs: &mut [i64; N_LIMBS]) {
    let mut carry = 0_i64;
    for limb in &mut limbs[..N_LIMBS - 1] {
        let v = *limb + carry;
        *limb = v & DIGIT_MASK;
        carry = v >> DIGIT_BITS;
    }
    limbs[N_LIMBS - 1] += carry;
}

/// Replaces normalised limbs by those of the negated sum, normalised.
fn negate_limbs(limbs: &mut [i64; N_LIMBS]) {
    for limb in limbs.iter_mut() {
        *limb = limb.wrapping_neg();
    }
    normalise_limbs(limbs);
}

/// Bits `[lowest, lowest + 64)` of non-negative normalised limbs.
fn bits_from(limbs: &[i64; N_LIMBS], lowest: usize) -> u64 {
    let limb_idx = lowest / 32;
    let digit = |i: usize| {
        limbs
            .get(i)
            .map_or(0, |&l| u128::from(l as u64 & 0xFFFF_FFFF))
    };
    let window = digit(limb_idx) | digit(limb_idx + 1) << 32 | digit(limb_idx + 2) << 64;
    (window >> (lowest % 32)) as u64
}

/// Whether any bit below bit index `bit` of non-negative normalised limbs is set.
fn any_bit_below(limbs: &[i64; N_LIMBS], bit: usize) -> bool {
    let limb_idx = bit / 32;
    let partial_mask = (1_i64 << (bit % 32)) - 1;
    limbs[..limb_idx].iter().any(|&l| l != 0) || limbs[limb_idx] & partial_mask != 0
}

/// Rounds a non-negative normalised sum to the nearest `f64`, ties to even.
fn magnitude_to_f64(limbs: &[i64; N_LIMBS]) -> f64 {
    if limbs[N_LIMBS - 1] != 0 {
        // At least 2^(32·68 − 1088) = 2¹⁰⁸⁸.
        return f64::INFINITY;
    }
    let Some(top_idx) = limbs.iter().rposition(|&l| l != 0) else {
        return 0.0;
    };
    let leading_bit = top_idx * 32 + (63 - limbs[top_idx].leading_zeros() as usize);
    // The last kept bit: 53 significant bits, but never finer than the subnormal spacing 2⁻¹⁰⁷⁴.
    let lowest_kept = leading_bit.saturating_sub(52).max(SUBNORMAL_BIT);
    let mut mantissa = bits_from(limbs, lowest_kept);
    let round_bit = bits_from(limbs, lowest_kept - 1) & 1 == 1;
    let sticky = any_bit_below(limbs, lowest_kept - 1);
    if round_bit && (sticky || mantissa & 1 == 1) {
        mantissa += 1;
    }
    // In the IEEE encoding, (biased exponent − 1)·2⁵² + mantissa with the hidden bit included is
    // the bit pattern of mantissa·2^(lowest_kept − 1088) for normals and subnormals alike, and a
    // rounding carry to 2⁵³ moves into the exponent field by itself.
    let encoded = (((lowest_kept - SUBNORMAL_BIT) as u64) << 52) + mantissa;
    if encoded >= f64::INFINITY.to_bits() {
        f64::INFINITY
    } else {
        f64::from_bits(encoded)
    }
}

/// Serialised form of [`ExactSum`]: sign and magnitude, with digits trimmed of zeros.
#[derive(Serialize, Deserialize)]
#[serde(rename = "ExactSum", deny_unknown_fields)]
struct ExactSumWire {
    /// Whether the finite sum is negative.
    negative: bool,
    /// Power of two of the first digit's unit: a multiple of 32, at least −1088.
    exponent: i32,
    /// |sum| = Σⱼ digitsⱼ · 2^(exponent + 32·j); first and last digits non-zero, empty for 0.
    digits: Vec<u32>,
    nan_count: u64,
    positive_infinity_count: u64,
    negative_infinity_count: u64,
}

/// Digit positions in the wire form: the 68 lower limbs and the top limb as two digits.
const N_WIRE_DIGITS: usize = N_LIMBS + 1;

impl From<ExactSum> for ExactSumWire {
    fn from(sum: ExactSum) -> Self {
        let mut limbs = sum.limbs;
        normalise_limbs(&mut limbs);
        let negative = limbs[N_LIMBS - 1] < 0;
        if negative {
            negate_limbs(&mut limbs);
        }
        let top = limbs[N_LIMBS - 1] as u64;
        let mut all_digits = [0_u32; N_WIRE_DIGITS];
        for (digit, &limb) in all_digits.iter_mut().zip(&limbs[..N_LIMBS - 1]) {
            *digit = limb as u32;
        }
        all_digits[N_LIMBS - 1] = top as u32;
        all_digits[N_LIMBS] = (top >> 32) as u32;
        let first = all_digits.iter().position(|&d| d != 0);
        let last = all_digits.iter().rposition(|&d| d != 0);
        let (exponent, digits) = match (first, last) {
            (Some(first), Some(last)) => (
                32 * first as i32 - UNIT_BIT,
                all_digits[first..=last].to_vec(),
            ),
            _ => (0, Vec::new()),
        };
        Self {
            negative: negative && !digits.is_empty(),
            exponent,
            digits,
            nan_count: sum.nan_count,
            positive_infinity_count: sum.positive_infinity_count,
            negative_infinity_count: sum.negative_infinity_count,
        }
    }
}

impl TryFrom<ExactSumWire> for ExactSum {
    type Error = EngineError;

    fn try_from(wire: ExactSumWire) -> Result<Self, Self::Error> {
        let invalid = |message: String| EngineError::invalid("serialised ExactSum", message);
        let mut res = Self::new();
        res.nan_count = wire.nan_count;
        res.positive_infinity_count = wire.positive_infinity_count;
        res.negative_infinity_count = wire.negative_infinity_count;
        if wire.digits.is_empty() {
            return Ok(res);
        }
        let offset = i64::from(wire.exponent) + i64::from(UNIT_BIT);
        if offset < 0 || offset % 32 != 0 {
            return Err(invalid(format!(
                "exponent {} is not a multiple of 32 of at least -{UNIT_BIT}",
                wire.exponent
            )));
        }
        let first = (offset / 32) as usize;
        let end = first + wire.digits.len();
        if end > N_WIRE_DIGITS
            || (end == N_WIRE_DIGITS && wire.digits[wire.digits.len() - 1] >= 1 << 31)
        {
            return Err(invalid(format!(
                "{} digits from exponent {} exceed the range of the accumulator",
                wire.digits.len(),
                wire.exponent
            )));
        }
        for (position, &digit) in (first..end).zip(&wire.digits) {
            let digit = i64::from(digit);
            match position {
                p if p < N_LIMBS - 1 => res.limbs[p] = digit,
                p if p == N_LIMBS - 1 => res.limbs[N_LIMBS - 1] += digit,
                _ => res.limbs[N_LIMBS - 1] += digit << 32,
            }
        }
        if wire.negative {
            negate_limbs(&mut res.limbs);
        }
        Ok(res)
    }
}

/// Coefficients of the cubic P(m) = A·m³ + B·m² + C·m that interpolates log₂(1 + m) on [0, 1].
const CUBIC_A: f64 = 6.0 / 35.0;
/// See [`CUBIC_A`].
const CUBIC_B: f64 = -3.0 / 5.0;
/// See [`CUBIC_A`].
const CUBIC_C: f64 = 10.0 / 7.0;
/// Buckets are made narrower by this fraction than α allows.
///
/// Rounding in the key and representative computations moves values by less than 10⁻¹² relative
/// (a few ulps of numbers below 1100 in log₂ space); with α ≥ 10⁻⁶ this margin (≥ 10⁻¹¹ relative)
/// keeps the guarantee strict.
const BUCKET_MARGIN: f64 = 1e-5;
/// Smallest accepted relative accuracy: keeps bucket keys inside `i32` and rounding far below α.
pub const MIN_RELATIVE_ACCURACY: f64 = 1e-6;
/// Largest accepted relative accuracy (buckets spanning a factor γ = 3).
pub const MAX_RELATIVE_ACCURACY: f64 = 0.5;
/// Default threshold below which magnitudes go to the zero bucket.
pub const DEFAULT_MIN_POSITIVE: f64 = 1e-12;

/// Relative-error quantile sketch (DDSketch; Masson, Rim & Lee, VLDB 2019) with integer counts.
///
/// **Buckets.** A magnitude |x| = 2^e·(1 + m), m ∈ [0, 1), has the interpolated logarithm
/// f(|x|) = e + P(m) with P(m) = (6/35)·m³ − (3/5)·m² + (10/7)·m, a monotone cubic that equals
/// log₂ at every power of two. Its slope against log₂ is ln 2 · (1 + m)·P′(m) =
/// ln 2 · (10/7 + 2m(3m − 2)²/35) ≥ (10/7)·ln 2. With γ = (1 + α)/(1 − α), the key is
/// k = ⌈f(|x|) · s⌉ with s = 7 / (10 · ln γ · (1 − 10⁻⁵)), so every bucket spans a ratio
/// hi/lo ≤ γ, as the γ-geometric buckets (γ^(k−1), γ^k] of the paper do, with at most 4 % (about
/// 1 % on average) more buckets. This is DDSketch's "cubically interpolated" mapping; exact
/// logarithmic keys would need `ln`, which is not bit-identical across platforms.
/// Positive and negative values have separate dense stores (an `i32` offset and a `Vec<u64>` that
/// grows to cover the keys seen); magnitudes below `min_positive` (10⁻¹² by default) go to a zero
/// bucket, ±∞ are counted apart and NaN is counted and ignored.
///
/// **Quantiles.** [`quantile(q)`](Self::quantile) targets the lower empirical quantile: the value
/// of 0-based rank r = ⌊q·(n − 1)⌋ (computed in `f64`) among the n non-NaN values sorted
/// ascending. It returns the exact minimum for r = 0 and the exact maximum for r = n − 1;
/// otherwise the representative of the bucket holding rank r, 2·lo·hi/(lo + hi) (which is
/// 2γ^k/(γ + 1) for geometric buckets), negated for negative values, 0 for the zero bucket, and
/// clamped into [min, max].
///
/// **Accuracy.** For every q, the result is within relative α of the exact lower empirical
/// quantile v: |result − v| ≤ α·|v| when |v| ≥ `min_positive`, and |result − v| < `min_positive`
/// otherwise. Bucket counts are integers, so [`merge`](Self::merge) is exact: any partition of the
/// values, merged in any order, gives a sketch equal to sequential addition, bit for bit.
///
/// **Memory.** 8 bytes per bucket from the smallest to the largest key seen, per sign, plus growth
/// slack of up to a quarter of the length on each side: s·Δf buckets, where Δf ≈ 1.005·log₂(max/min)
/// is the spread in interpolated log₂. Sparse outliers cost the whole gap between them, so a
/// sketch of values from 10⁻¹² to 10¹² at α = 10⁻³ takes about 230 KB, and at α = 10⁻⁶ a spread
/// over 600 decades would take 5 GB. Measured at α = 10⁻³: values spanning a factor 30 use
/// 1 718 buckets (13.7 KB serialised; 15.5 KB in memory filled in ascending order, 17.7 KB filled
/// in random order), a factor 10⁶ about 7 000 buckets (56 KB; 60–71 KB in memory).
///
/// Speed: `add` measured 5.5–6 ns per value (x86-64 Xeon, release build, log-normal values,
/// α = 10⁻³, best of 5 runs), 11 ns when values of both signs spread over 34 decades so that
/// buckets miss the cache.
///
/// # Example
/// ```
/// use twin_engine::summary::QuantileSketch;
///
/// let mut sketch = QuantileSketch::new(0.01)?;
/// for i in 1..=1000 {
///     sketch.add(f64::from(i));
/// }
/// // The exact lower median is 500 (rank ⌊0.5·999⌋ = 499).
/// let median = sketch.quantile(0.5).unwrap_or(f64::NAN);
/// assert!((median - 500.0).abs() <= 0.01 * 500.0);
/// # Ok::<(), twin_engine::EngineError>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "QuantileSketchWire", try_from = "QuantileSketchWire")]
pub struct QuantileSketch {
    relative_accuracy: f64,
    min_positive: f64,
    /// Keys per unit of the interpolated log₂: s above.
    key_scale: f64,
    negative: DenseStore,
    positive: DenseStore,
    zero_count: u64,
    negative_infinity_count: u64,
    positive_infinity_count: u64,
    nan_count: u64,
    /// Non-NaN values added.
    count: u64,
    /// Smallest finite value added, +∞ if none.
    min: f64,
    /// Largest finite value added, −∞ if none.
    max: f64,
}

impl QuantileSketch {
    /// An empty sketch with relative accuracy α and the default zero threshold 10⁻¹².
    ///
    /// # Errors
    /// [`EngineError::Invalid`] unless 10⁻⁶ ≤ α ≤ 0.5.
    pub fn new(relative_accuracy: f64) -> Result<Self, EngineError> {
        Self::with_min_positive(relative_accuracy, DEFAULT_MIN_POSITIVE)
    }

    /// An empty sketch with relative accuracy α whose zero bucket takes |x| < `min_positive`.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] unless 10⁻⁶ ≤ α ≤ 0.5 and `min_positive` is a finite normal
    /// number (≥ 2.2·10⁻³⁰⁸).
    pub fn with_min_positive(
        relative_accuracy: f64,
        min_positive: f64,
    ) -> Result<Self, EngineError> {
        if !(MIN_RELATIVE_ACCURACY..=MAX_RELATIVE_ACCURACY).contains(&relative_accuracy) {
            return Err(EngineError::invalid(
                "relative_accuracy",
                format!(
                    "{relative_accuracy} is outside [{MIN_RELATIVE_ACCURACY}, {MAX_RELATIVE_ACCURACY}]"
                ),
            ));
        }
        if !(f64::MIN_POSITIVE..=f64::MAX).contains(&min_positive) {
            return Err(EngineError::invalid(
                "min_positive",
                format!("{min_positive} is not a positive, finite, normal number"),
            ));
        }
        Ok(Self {
            relative_accuracy,
            min_positive,
            key_scale: 7.0 / (10.0 * ln_gamma(relative_accuracy) * (1.0 - BUCKET_MARGIN)),
            negative: DenseStore::default(),
            positive: DenseStore::default(),
            zero_count: 0,
            negative_infinity_count: 0,
            positive_infinity_count: 0,
            nan_count: 0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        })
    }

    /// Adds one value. NaN is counted and otherwise ignored; −0.0 counts as 0.0.
    ///
    /// No allocation unless a store grows to cover a new key.
    #[inline]
    pub fn add(&mut self, x: f64) {
        let magnitude = x.abs();
        // Ordered by frequency; NaN fails both comparisons and ends in the last branch.
        let x = if magnitude >= self.min_positive && magnitude <= f64::MAX {
            let key = self.key(magnitude);
            if x > 0.0 {
                self.positive.add(key);
            } else {
                self.negative.add(key);
            }
            x
        } else if magnitude < self.min_positive {
            self.zero_count += 1;
            // Adding +0.0 turns −0.0 into +0.0 and leaves everything else unchanged, so min and
            // max do not depend on the order in which ±0 arrive.
            x + 0.0
        } else {
            self.add_non_finite(x);
            return;
        };
        self.count += 1;
        if x < self.min {
            self.min = x;
        }
        if x > self.max {
            self.max = x;
        }
    }

    #[cold]
    #[inline(never)]
    fn add_non_finite(&mut self, x: f64) {
        if x.is_nan() {
            self.nan_count += 1;
            return;
        }
        self.count += 1;
        if x > 0.0 {
            self.positive_infinity_count += 1;
        } else {
            self.negative_infinity_count += 1;
        }
    }

    /// Bucket key k = ⌈f(|x|)·s⌉ of a finite normal magnitude (see the type's docs).
    #[inline]
    fn key(&self, magnitude: f64) -> i32 {
        let bits = magnitude.to_bits();
        let exponent = (bits >> 52) as i32 - 1023;
        // Exact: 1 + m has the same mantissa as |x|, and (1 + m) − 1 is exact (Sterbenz).
        let m = f64::from_bits((bits & F64_FRACTION_MASK) | F64_ONE_BITS) - 1.0;
        let log2_interpolated = f64::from(exponent) + ((CUBIC_A * m + CUBIC_B) * m + CUBIC_C) * m;
        ceil_to_i32(log2_interpolated * self.key_scale)
    }

    /// Representative 2·lo·hi/(lo + hi) of the positive bucket `key`, whose magnitudes lie in
    /// (lo, hi] with lo = f⁻¹((k − 1)/s) and hi = f⁻¹(k/s).
    fn representative(&self, key: i32) -> f64 {
        let lower = interpolated_exp2((f64::from(key) - 1.0) / self.key_scale);
        // The top bucket reaches past 2¹⁰²⁴, but the finite values in it stop at f64::MAX.
        let upper = interpolated_exp2(f64::from(key) / self.key_scale).min(f64::MAX);
        // 2·lo·hi/(lo + hi) written so that it cannot overflow.
        (lower * (2.0 / (1.0 + lower / upper))).min(f64::MAX)
    }

    /// Merges the values of `other` into this sketch: every count is added.
    ///
    /// The result equals, bit for bit, the sketch of both multisets of values added in any order.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] if the relative accuracies or zero thresholds differ, or if a
    /// merged count would overflow `u64` (only deserialised sketches can be that large); `self`
    /// is then unchanged.
    pub fn merge(&mut self, other: &Self) -> Result<(), EngineError> {
        self.check_compatible(other)?;
        // Every bucket, zero and infinity count is at most `count`, so these two bound them all.
        if self.count.checked_add(other.count).is_none()
            || self.nan_count.checked_add(other.nan_count).is_none()
        {
            return Err(EngineError::invalid(
                "sketch merge",
                "the merged counts would overflow u64",
            ));
        }
        self.negative.merge(&other.negative);
        self.positive.merge(&other.positive);
        self.zero_count += other.zero_count;
        self.negative_infinity_count += other.negative_infinity_count;
        self.positive_infinity_count += other.positive_infinity_count;
        self.nan_count += other.nan_count;
        self.count += other.count;
        if other.min < self.min {
            self.min = other.min;
        }
        if other.max > self.max {
            self.max = other.max;
        }
        Ok(())
    }

    fn check_compatible(&self, other: &Self) -> Result<(), EngineError> {
        if self.relative_accuracy.to_bits() != other.relative_accuracy.to_bits()
            || self.min_positive.to_bits() != other.min_positive.to_bits()
        {
            return Err(EngineError::invalid(
                "sketch merge",
                format!(
                    "relative accuracy {} and zero threshold {} differ from {} and {}",
                    other.relative_accuracy,
                    other.min_positive,
                    self.relative_accuracy,
                    self.min_positive
                ),
            ));
        }
        Ok(())
    }

    /// Number of values added, NaN excluded (±∞ included).
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Number of NaN values added (they take no part in quantiles).
    #[must_use]
    pub fn nan_count(&self) -> u64 {
        self.nan_count
    }

    /// The relative accuracy α.
    #[must_use]
    pub fn relative_accuracy(&self) -> f64 {
        self.relative_accuracy
    }

    /// Magnitudes below this go to the zero bucket. By default, this is `1e-12`.
    #[must_use]
    pub fn min_positive(&self) -> f64 {
        self.min_positive
    }

    /// Smallest value added (exact), or `None` when empty. −∞ if −∞ was added.
    #[must_use]
    pub fn min(&self) -> Option<f64> {
        self.quantile(0.0)
    }

    /// Largest value added (exact), or `None` when empty. +∞ if +∞ was added.
    #[must_use]
    pub fn max(&self) -> Option<f64> {
        self.quantile(1.0)
    }

    /// Estimate of the lower empirical q-quantile: the value of rank ⌊q·(n − 1)⌋ (0-based).
    ///
    /// Within relative α of the exact value (absolute `min_positive` for values closer to zero);
    /// exact for the minimum and maximum ranks. See the type's docs for the rule.
    /// `None` when no non-NaN value was added, or when q is not in [0, 1].
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let last_rank = self.count - 1;
        // Truncation is the floor for q·(n − 1) ≥ 0; `as` saturates.
        let rank = ((q * last_rank as f64) as u64).min(last_rank);
        if rank < self.negative_infinity_count {
            return Some(f64::NEG_INFINITY);
        }
        let finite_rank = rank - self.negative_infinity_count;
        let finite_count = self.count - self.negative_infinity_count - self.positive_infinity_count;
        if finite_rank >= finite_count {
            return Some(f64::INFINITY);
        }
        if finite_rank == 0 {
            return Some(self.min);
        }
        if finite_rank == finite_count - 1 {
            return Some(self.max);
        }
        let estimate = self.finite_value_at_rank(finite_rank);
        // The exact value lies in [min, max], so clamping can only bring the estimate closer.
        Some(estimate.max(self.min).min(self.max))
    }

    /// Representative of the bucket holding 0-based rank `rank` among the finite values.
    fn finite_value_at_rank(&self, rank: u64) -> f64 {
        let mut remaining = rank;
        // Negative values ascend as their magnitude's key descends.
        for (key, count) in self.negative.iter_keys().rev() {
            if remaining < count {
                return -self.representative(key);
            }
            remaining -= count;
        }
        if remaining < self.zero_count {
            return 0.0;
        }
        remaining -= self.zero_count;
        for (key, count) in self.positive.iter_keys() {
            if remaining < count {
                return self.representative(key);
            }
            remaining -= count;
        }
        // Unreachable while the counts add up, which add, merge and deserialisation maintain.
        self.max
    }

    /// Bytes held by the bucket stores (capacity, including growth slack).
    #[must_use]
    pub fn bucket_bytes(&self) -> usize {
        (self.negative.counts.capacity() + self.positive.counts.capacity()) * size_of::<u64>()
    }
}

impl PartialEq for QuantileSketch {
    fn eq(&self, other: &Self) -> bool {
        self.relative_accuracy.to_bits() == other.relative_accuracy.to_bits()
            && self.min_positive.to_bits() == other.min_positive.to_bits()
            && self.negative.trimmed() == other.negative.trimmed()
            && self.positive.trimmed() == other.positive.trimmed()
            && self.zero_count == other.zero_count
            && self.negative_infinity_count == other.negative_infinity_count
            && self.positive_infinity_count == other.positive_infinity_count
            && self.nan_count == other.nan_count
            && self.count == other.count
            && self.min.to_bits() == other.min.to_bits()
            && self.max.to_bits() == other.max.to_bits()
    }
}

/// ln γ = ln((1 + α)/(1 − α)) = 2·atanh α = 2·Σⱼ α^(2j+1)/(2j + 1), using only `+ − × ÷`.
///
/// For α ≤ 0.5 the terms fall by at least 4× each, so 40 terms reach 10⁻²⁴ of the sum.
fn ln_gamma(relative_accuracy: f64) -> f64 {
    let alpha_sq = relative_accuracy * relative_accuracy;
    let mut power = relative_accuracy;
    let mut sum = 0.0;
    for j in 0..40_u32 {
        sum += power / f64::from(2 * j + 1);
        power *= alpha_sq;
    }
    2.0 * sum
}

/// ⌈y⌉ for |y| < 2³¹, exactly.
#[inline]
fn ceil_to_i32(y: f64) -> i32 {
    let truncated = y as i32;
    if f64::from(truncated) < y {
        truncated + 1
    } else {
        truncated
    }
}

/// 2^e for integer e, exactly (0 below the subnormal range, +∞ above the finite range).
fn pow2(exponent: i32) -> f64 {
    match exponent {
        e if e > 1023 => f64::INFINITY,
        e if e >= -1022 => f64::from_bits(((e + 1023) as u64) << 52),
        e if e >= -1074 => f64::from_bits(1 << (e + 1074)),
        _ => 0.0,
    }
}

/// Inverse of the interpolated logarithm: x with f(x) = y, found by bisection on P(m) = y − ⌊y⌋.
fn interpolated_exp2(y: f64) -> f64 {
    let exponent = y.floor();
    let target = y - exponent;
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    // P is strictly increasing (P′ > 0 on [0, 1]); 64 halvings reach adjacent floats.
    for _ in 0..64 {
        let mid = 0.5 * (lo + hi);
        if ((CUBIC_A * mid + CUBIC_B) * mid + CUBIC_C) * mid < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (1.0 + 0.5 * (lo + hi)) * pow2(exponent as i32)
}

/// Counts for a contiguous range of keys: `counts[i]` is the count of key `offset + i`.
///
/// The range may carry zero counts at either end (growth slack); [`trimmed`](Self::trimmed)
/// gives the canonical view.
#[derive(Debug, Clone, Default)]
struct DenseStore {
    offset: i32,
    counts: Vec<u64>,
}

impl DenseStore {
    #[inline]
    fn add(&mut self, key: i32) {
        // A key below the offset wraps to an index ≥ 2³¹, beyond any store.
        let idx = key.wrapping_sub(self.offset) as u32 as usize;
        if let Some(count) = self.counts.get_mut(idx) {
            *count += 1;
        } else {
            self.add_growing(key);
        }
    }

    #[cold]
    #[inline(never)]
    fn add_growing(&mut self, key: i32) {
        self.cover(key, key);
        let idx = key.wrapping_sub(self.offset) as u32 as usize;
        if let Some(count) = self.counts.get_mut(idx) {
            *count += 1;
        }
    }

    /// Grows the store to include keys `lo..=hi`, with slack of a quarter of its length on the
    /// side that grows so that growth is amortised O(1) per key.
    fn cover(&mut self, lo: i32, hi: i32) {
        if self.counts.is_empty() {
            self.offset = lo;
            self.counts = vec![0; (i64::from(hi) - i64::from(lo) + 1) as usize];
            return;
        }
        let len = self.counts.len() as i64;
        let slack = len / 4 + 8;
        let current_lo = i64::from(self.offset);
        let current_hi = current_lo + len - 1;
        let (lo, hi) = (i64::from(lo), i64::from(hi));
        if hi > current_hi {
            let new_hi = (hi + slack).min(i64::from(i32::MAX));
            let new_len = (new_hi - current_lo + 1) as usize;
            self.counts.reserve_exact(new_len - self.counts.len());
            self.counts.resize(new_len, 0);
        }
        if lo < current_lo {
            let new_lo = (lo - slack).max(i64::from(i32::MIN));
            let prefix = (current_lo - new_lo) as usize;
            let mut counts = Vec::with_capacity(prefix + self.counts.len());
            counts.resize(prefix, 0);
            counts.extend_from_slice(&self.counts);
            self.counts = counts;
            self.offset = new_lo as i32;
        }
    }

    fn merge(&mut self, other: &Self) {
        let (other_offset, other_counts) = other.trimmed();
        let Some(last) = other_counts.len().checked_sub(1) else {
            return;
        };
        self.cover(other_offset, other_offset + last as i32);
        let start = (other_offset - self.offset) as usize;
        for (count, &other_count) in self.counts[start..].iter_mut().zip(other_counts) {
            *count += other_count;
        }
    }

    /// The canonical view: offset of the first non-zero count and the counts up to the last
    /// non-zero one; `(0, [])` when empty.
    fn trimmed(&self) -> (i32, &[u64]) {
        let Some(first) = self.counts.iter().position(|&c| c != 0) else {
            return (0, &[]);
        };
        let last = self.counts.iter().rposition(|&c| c != 0).unwrap_or(first);
        (self.offset + first as i32, &self.counts[first..=last])
    }

    /// Non-zero buckets as (key, count), ascending by key.
    fn iter_keys(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        let offset = self.offset;
        self.counts
            .iter()
            .enumerate()
            .filter(|&(_, &count)| count != 0)
            .map(move |(idx, &count)| (offset + idx as i32, count))
    }
}

/// Serialised form of a [`DenseStore`]: counts of keys `offset..`, trimmed of zeros at both ends.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DenseStoreWire {
    offset: i32,
    counts: Vec<u64>,
}

/// Serialised form of [`QuantileSketch`]: parameters, trimmed stores, counts and finite min/max.
#[derive(Serialize, Deserialize)]
#[serde(rename = "QuantileSketch", deny_unknown_fields)]
struct QuantileSketchWire {
    relative_accuracy: f64,
    min_positive: f64,
    /// Smallest finite value, `None` if there is none.
    min: Option<f64>,
    /// Largest finite value, `None` if there is none.
    max: Option<f64>,
    negative: DenseStoreWire,
    zero_count: u64,
    positive: DenseStoreWire,
    negative_infinity_count: u64,
    positive_infinity_count: u64,
    nan_count: u64,
}

impl From<QuantileSketch> for QuantileSketchWire {
    fn from(sketch: QuantileSketch) -> Self {
        let store = |store: &DenseStore| {
            let (offset, counts) = store.trimmed();
            DenseStoreWire {
                offset,
                counts: counts.to_vec(),
            }
        };
        let has_finite = sketch.min <= sketch.max;
        Self {
            relative_accuracy: sketch.relative_accuracy,
            min_positive: sketch.min_positive,
            min: has_finite.then_some(sketch.min),
            max: has_finite.then_some(sketch.max),
            negative: store(&sketch.negative),
            zero_count: sketch.zero_count,
            positive: store(&sketch.positive),
            negative_infinity_count: sketch.negative_infinity_count,
            positive_infinity_count: sketch.positive_infinity_count,
            nan_count: sketch.nan_count,
        }
    }
}

impl TryFrom<QuantileSketchWire> for QuantileSketch {
    type Error = EngineError;

    fn try_from(wire: QuantileSketchWire) -> Result<Self, Self::Error> {
        let invalid = |message: &str| EngineError::invalid("serialised QuantileSketch", message);
        let mut res = Self::with_min_positive(wire.relative_accuracy, wire.min_positive)?;
        // The keys `add` gives finite magnitudes from min_positive to f64::MAX. A store with
        // counts outside them comes from no sketch, and merging it would grow a store over the
        // gap (up to 2³² keys, 32 GB).
        let (lowest_key, highest_key) = (res.key(res.min_positive), res.key(f64::MAX));
        let store = |wire: DenseStoreWire| -> Result<DenseStore, EngineError> {
            if i64::from(wire.offset) + wire.counts.len() as i64 > i64::from(i32::MAX) + 1 {
                return Err(invalid("a store's keys exceed the i32 range"));
            }
            let first = wire.counts.iter().position(|&c| c != 0);
            let last = wire.counts.iter().rposition(|&c| c != 0);
            if let (Some(first), Some(last)) = (first, last) {
                let key = |idx: usize| i64::from(wire.offset) + idx as i64;
                if key(first) < i64::from(lowest_key) || key(last) > i64::from(highest_key) {
                    return Err(invalid(&format!(
                        "a store counts keys {} to {}, outside the keys {lowest_key} to \
                         {highest_key} of finite magnitudes from min_positive to the largest \
                         number",
                        key(first),
                        key(last)
                    )));
                }
            }
            Ok(DenseStore {
                offset: wire.offset,
                counts: wire.counts,
            })
        };
        res.negative = store(wire.negative)?;
        res.positive = store(wire.positive)?;
        res.zero_count = wire.zero_count;
        res.negative_infinity_count = wire.negative_infinity_count;
        res.positive_infinity_count = wire.positive_infinity_count;
        res.nan_count = wire.nan_count;
        let finite_count = res
            .negative
            .counts
            .iter()
            .chain(&res.positive.counts)
            .try_fold(res.zero_count, |acc, &c| acc.checked_add(c));
        let count = finite_count.and_then(|n| {
            n.checked_add(res.negative_infinity_count)?
                .checked_add(res.positive_infinity_count)
        });
        let (Some(finite_count), Some(count)) = (finite_count, count) else {
            return Err(invalid("counts overflow u64"));
        };
        res.count = count;
        match (wire.min, wire.max) {
            (None, None) if finite_count == 0 => {}
            (Some(min), Some(max))
                if finite_count > 0 && min.is_finite() && max.is_finite() && min <= max =>
            {
                // Canonicalise −0.0 as `add` does.
                res.min = min + 0.0;
                res.max = max + 0.0;
            }
            _ => {
                return Err(invalid(
                    "min and max must be finite with min <= max when finite values were counted, and absent otherwise",
                ));
            }
        }
        Ok(res)
    }
}

/// Streaming summary of one (arm, output, time point): count, exact Σx and Σx², and a sketch.
///
/// - mean = Σx / n, from the exact sum, nearly correctly rounded (double-double division).
/// - sd = √((Σx² − (Σx)²/n) / (n − 1)), the sample standard deviation. Σx² is the exact sum of
///   exactly computed squares (each x² as a double-double), and the formula is evaluated in
///   double-double arithmetic, so there is no catastrophic cancellation for |mean| ≫ sd.
/// - quantiles come from the [`QuantileSketch`] (relative accuracy α).
///
/// Every reported number is a pure function of the multiset of values added, so results are
/// bit-identical across any split into threads or shards and any merge order. NaN values count in
/// [`count`](Self::count) and make mean and sd NaN, but are ignored by quantiles.
///
/// Speed: `add` measured about 16 ns per value (three exact additions for x, fl(x²) and its
/// rounding error, plus a sketch update; log-normal values, α = 10⁻³, release build).
/// Memory: 1.3 KB plus the sketch's buckets.
///
/// # Example
/// ```
/// use twin_engine::summary::RunningSummary;
///
/// let mut first_shard = RunningSummary::new(1e-3)?;
/// let mut second_shard = RunningSummary::new(1e-3)?;
/// for x in [2.0, 4.0] {
///     first_shard.add(x);
/// }
/// second_shard.add(6.0);
/// first_shard.merge(&second_shard)?;
/// assert_eq!(first_shard.count(), 3);
/// assert!((first_shard.mean() - 4.0).abs() <= 1e-15);
/// assert!((first_shard.sd() - 2.0).abs() <= 1e-15);
/// # Ok::<(), twin_engine::EngineError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningSummary {
    sum: ExactSum,
    sum_of_squares: ExactSum,
    sketch: QuantileSketch,
}

impl RunningSummary {
    /// An empty summary whose quantiles have relative accuracy α.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] unless 10⁻⁶ ≤ α ≤ 0.5 (see [`QuantileSketch::new`]).
    pub fn new(relative_accuracy: f64) -> Result<Self, EngineError> {
        Ok(Self {
            sum: ExactSum::new(),
            sum_of_squares: ExactSum::new(),
            sketch: QuantileSketch::new(relative_accuracy)?,
        })
    }

    /// Adds one value. No allocation unless the sketch grows.
    #[inline]
    pub fn add(&mut self, x: f64) {
        self.sum.add(x);
        let square = x * x;
        self.sum_of_squares.add(square);
        if square.is_finite() {
            // x² = square + error exactly (unless x² underflows), so Σx² is exact too.
            self.sum_of_squares.add(square_rounding_error(x, square));
        }
        self.sketch.add(x);
    }

    /// Merges another summary (of other values) into this one.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] if the sketches' relative accuracies differ, or if a merged count
    /// would overflow `u64` (only deserialised summaries can be that large); `self` is then
    /// unchanged.
    pub fn merge(&mut self, other: &Self) -> Result<(), EngineError> {
        if !(self.sum.counts_fit(&other.sum)
            && self.sum_of_squares.counts_fit(&other.sum_of_squares))
        {
            return Err(EngineError::invalid(
                "summary merge",
                "the merged counts of non-finite values would overflow u64",
            ));
        }
        self.sketch.merge(&other.sketch)?;
        self.sum.merge(&other.sum);
        self.sum_of_squares.merge(&other.sum_of_squares);
        Ok(())
    }

    /// Number of values added, NaN included.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.sketch.count() + self.sketch.nan_count()
    }

    /// Mean Σx / n; NaN when empty or when a NaN was added, ±∞ when an infinity was.
    #[must_use]
    pub fn mean(&self) -> f64 {
        let (s1_hi, s1_lo) = self.sum.value_double_double();
        let (hi, lo) = mean_double_double(s1_hi, s1_lo, self.count() as f64);
        hi + lo
    }

    /// Sample standard deviation √((Σx² − (Σx)²/n)/(n − 1)); NaN for fewer than two values or
    /// when a NaN or infinity was added.
    #[must_use]
    pub fn sd(&self) -> f64 {
        let n = self.count();
        if n < 2 {
            return f64::NAN;
        }
        let (s1_hi, s1_lo) = self.sum.value_double_double();
        let (s2_hi, s2_lo) = self.sum_of_squares.value_double_double();
        let (mean_hi, mean_lo) = mean_double_double(s1_hi, s1_lo, n as f64);
        // (Σx)²/n = Σx · mean, as a double-double.
        let product = s1_hi * mean_hi;
        let product_lo = s1_hi.mul_add(mean_hi, -product) + s1_hi * mean_lo + s1_lo * mean_hi;
        let (difference, difference_err) = two_sum(s2_hi, -product);
        let centred_sum_of_squares = difference + (difference_err + s2_lo - product_lo);
        let variance = centred_sum_of_squares / (n - 1) as f64;
        if variance.is_nan() {
            f64::NAN
        } else {
            variance.max(0.0).sqrt()
        }
    }

    /// Estimate of the lower empirical q-quantile, NaN values excluded; see
    /// [`QuantileSketch::quantile`]. `None` when empty or q is not in [0, 1].
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.sketch.quantile(q)
    }

    /// The exact Σx.
    #[must_use]
    pub fn sum(&self) -> &ExactSum {
        &self.sum
    }

    /// The exact Σx² (of exactly computed squares).
    #[must_use]
    pub fn sum_of_squares(&self) -> &ExactSum {
        &self.sum_of_squares
    }

    /// The quantile sketch.
    #[must_use]
    pub fn sketch(&self) -> &QuantileSketch {
        &self.sketch
    }
}

/// (s_hi + s_lo) / n as a double-double (hi, lo).
fn mean_double_double(s_hi: f64, s_lo: f64, n: f64) -> (f64, f64) {
    let mean_hi = s_hi / n;
    if !mean_hi.is_finite() {
        return (mean_hi, 0.0);
    }
    // The remainder of a correctly rounded division, s_hi − mean_hi·n, is exact, and the fused
    // multiply-add computes it with a single (here exact) rounding on every platform.
    let remainder = (-mean_hi).mul_add(n, s_hi);
    (mean_hi, (remainder + s_lo) / n)
}

/// Error-free sum: s + e = a + b exactly, s = fl(a + b) (Knuth's TwoSum).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let b_virtual = s - a;
    let a_virtual = s - b_virtual;
    (s, (a - a_virtual) + (b - b_virtual))
}

/// x² − fl(x²) exactly, by Dekker's splitting (valid while fl(x²) is finite and does not
/// underflow); basic operations only, so it is fast and identical on every platform.
#[inline]
fn square_rounding_error(x: f64, square: f64) -> f64 {
    // 2²⁷ + 1 splits a 53-bit mantissa into two halves of at most 26 bits.
    const SPLITTER: f64 = 134_217_729.0;
    let scaled = SPLITTER * x;
    let hi = scaled - (scaled - x);
    let lo = x - hi;
    ((hi * hi - square) + 2.0 * hi * lo) + lo * lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math;
    use proptest::prelude::*;

    /// SplitMix64, a small deterministic generator for test inputs.
    struct SplitMix(u64);

    impl SplitMix {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in (0, 1).
        fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 0.5) / (1_u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            (-2.0 * math::ln(self.uniform())).sqrt()
                * math::cos(std::f64::consts::TAU * self.uniform())
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }

        fn shuffle<T>(&mut self, values: &mut [T]) {
            for i in (1..values.len()).rev() {
                values.swap(i, self.below(i + 1));
            }
        }
    }

    fn sum_of(values: &[f64]) -> ExactSum {
        let mut sum = ExactSum::new();
        for &x in values {
            sum.add(x);
        }
        sum
    }

    fn sketch_of(alpha: f64, values: &[f64]) -> QuantileSketch {
        let mut sketch = QuantileSketch::new(alpha).unwrap();
        for &x in values {
            sketch.add(x);
        }
        sketch
    }

    /// Splits a shuffled copy of `values` into random parts and returns them.
    fn random_parts(values: &[f64], seed: u64) -> Vec<Vec<f64>> {
        let mut rng = SplitMix(seed);
        let mut shuffled = values.to_vec();
        rng.shuffle(&mut shuffled);
        let n_parts = 1 + rng.below(6);
        let mut parts = vec![Vec::new(); n_parts];
        for x in shuffled {
            parts[rng.below(n_parts)].push(x);
        }
        parts
    }

    /// Merges summaries in a random tree order.
    fn merge_randomly<T: Clone>(mut parts: Vec<T>, seed: u64, merge: impl Fn(&mut T, &T)) -> T {
        let mut rng = SplitMix(seed ^ 0xDEAD_BEEF);
        while parts.len() > 1 {
            let a = rng.below(parts.len());
            let b = parts.swap_remove(a);
            let c = rng.below(parts.len());
            merge(&mut parts[c], &b);
        }
        parts.pop().unwrap()
    }

    fn json<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    /// The exact lower empirical quantile of sorted values, by the documented rank rule.
    fn lower_quantile(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64) as usize]
    }

    fn assert_within_alpha(got: f64, exact: f64, alpha: f64, min_positive: f64, context: &str) {
        let error = (got - exact).abs();
        if exact.abs() >= min_positive {
            assert!(
                error <= alpha * exact.abs(),
                "{context}: got {got}, exact {exact}, relative error {}",
                error / exact.abs()
            );
        } else {
            assert!(
                error < min_positive,
                "{context}: got {got}, exact {exact} (zero bucket)"
            );
        }
    }

    #[test]
    fn exact_sum_recovers_what_naive_summation_loses() {
        assert_eq!(
            sum_of(&[1e16, 1.0, -1e16]).value().to_bits(),
            1.0_f64.to_bits()
        );
        assert_eq!(
            sum_of(&[1.0, 1e100, 1.0, -1e100]).value().to_bits(),
            2.0_f64.to_bits()
        );
        // Ten copies of fl(0.1) sum to 1 + 5.55e-17 exactly, which rounds to 1.0; a naive sum
        // gives 1 − 1.1e-16.
        assert_eq!(sum_of(&[0.1; 10]).value().to_bits(), 1.0_f64.to_bits());
    }

    #[test]
    fn exact_sum_rounds_ties_to_even_and_uses_sticky_bits() {
        let two_53 = 9_007_199_254_740_992.0_f64;
        assert_eq!(sum_of(&[two_53, 1.0]).value().to_bits(), two_53.to_bits());
        assert_eq!(
            sum_of(&[two_53, 3.0]).value().to_bits(),
            (two_53 + 4.0).to_bits()
        );
        assert_eq!(
            sum_of(&[two_53, 1.0, 1e-300]).value().to_bits(),
            (two_53 + 2.0).to_bits()
        );
        assert_eq!(
            sum_of(&[-two_53, -1.0, -1e-300]).value().to_bits(),
            (-two_53 - 2.0).to_bits()
        );
    }

    #[test]
    fn exact_sum_handles_overflow_and_subnormals() {
        let max = f64::MAX;
        assert_eq!(sum_of(&[max, max, -max]).value().to_bits(), max.to_bits());
        assert_eq!(
            sum_of(&[max, max]).value().to_bits(),
            f64::INFINITY.to_bits()
        );
        assert_eq!(
            sum_of(&[-max, -max]).value().to_bits(),
            f64::NEG_INFINITY.to_bits()
        );
        // f64::MAX = 2¹⁰²⁴ − 2⁹⁷¹. Adding half an ulp (2⁹⁷⁰) is a tie between MAX (odd mantissa)
        // and 2¹⁰²⁴, so it overflows; a quarter ulp does not.
        assert_eq!(
            sum_of(&[max, pow2(970)]).value().to_bits(),
            f64::INFINITY.to_bits()
        );
        assert_eq!(sum_of(&[max, pow2(969)]).value().to_bits(), max.to_bits());
        let tiny = f64::from_bits(1);
        assert_eq!(sum_of(&[tiny, tiny, tiny]).value().to_bits(), 3);
        assert_eq!(
            sum_of(&[f64::MIN_POSITIVE, -tiny]).value().to_bits(),
            (1_u64 << 52) - 1
        );
        assert_eq!(sum_of(&[0.5, -0.5]).value().to_bits(), 0.0_f64.to_bits());
        assert_eq!(sum_of(&[-0.0]).value().to_bits(), 0.0_f64.to_bits());
        assert_eq!(ExactSum::new().value().to_bits(), 0.0_f64.to_bits());
    }

    #[test]
    fn exact_sum_counts_non_finite_values() {
        assert!(sum_of(&[1.0, f64::NAN]).value().is_nan());
        assert_eq!(
            sum_of(&[1.0, f64::INFINITY]).value().to_bits(),
            f64::INFINITY.to_bits()
        );
        assert_eq!(
            sum_of(&[1.0, f64::NEG_INFINITY]).value().to_bits(),
            f64::NEG_INFINITY.to_bits()
        );
        assert!(sum_of(&[f64::INFINITY, f64::NEG_INFINITY]).value().is_nan());
        let mut merged = sum_of(&[f64::INFINITY, 2.0]);
        merged.merge(&sum_of(&[f64::NAN, f64::NEG_INFINITY]));
        assert_eq!(
            (
                merged.nan_count(),
                merged.positive_infinity_count(),
                merged.negative_infinity_count()
            ),
            (1, 1, 1)
        );
        assert!(merged.value().is_nan());
    }

    #[test]
    fn exact_sum_normalises_carries_lazily_without_changing_the_value() {
        let values = [f64::MAX, -1.5, 3e-310, -f64::MAX, 7.25e200, -2.0];
        let mut near_threshold = ExactSum::new();
        near_threshold.pending = NORMALISE_EVERY - 3;
        for &x in &values {
            near_threshold.add(x);
        }
        assert!(
            near_threshold.pending < 4,
            "carries were normalised at the threshold"
        );
        assert_eq!(near_threshold, sum_of(&values));
        assert_eq!(
            near_threshold.value().to_bits(),
            sum_of(&values).value().to_bits()
        );
    }

    #[test]
    fn exact_sum_serialises_canonically() {
        assert_eq!(
            json(&sum_of(&[1.0])),
            r#"{"negative":false,"exponent":0,"digits":[1],"nan_count":0,"positive_infinity_count":0,"negative_infinity_count":0}"#
        );
        // −1.5 = −(2³¹·2⁻³² + 1·2⁰).
        assert_eq!(
            json(&sum_of(&[-1.5])),
            r#"{"negative":true,"exponent":-32,"digits":[2147483648,1],"nan_count":0,"positive_infinity_count":0,"negative_infinity_count":0}"#
        );
        assert_eq!(json(&sum_of(&[2.0, -2.0])), json(&ExactSum::new()));
        for values in [
            &[-f64::MAX, -f64::MAX, -f64::MAX][..],
            &[f64::from_bits(1), -1e300, f64::NAN],
            &[],
        ] {
            let sum = sum_of(values);
            let back: ExactSum = serde_json::from_str(&json(&sum)).unwrap();
            assert_eq!(back, sum);
            assert_eq!(json(&back), json(&sum));
        }
    }

    #[test]
    fn exact_sum_rejects_malformed_serialisations() {
        let misaligned = r#"{"negative":false,"exponent":1,"digits":[1],"nan_count":0,"positive_infinity_count":0,"negative_infinity_count":0}"#;
        let err = serde_json::from_str::<ExactSum>(misaligned).unwrap_err();
        assert!(err.to_string().contains("multiple of 32"), "{err}");
        let too_long = format!(
            r#"{{"negative":false,"exponent":-1088,"digits":{:?},"nan_count":0,"positive_infinity_count":0,"negative_infinity_count":0}}"#,
            vec![1_u32; N_WIRE_DIGITS + 1]
        );
        let err = serde_json::from_str::<ExactSum>(&too_long).unwrap_err();
        assert!(err.to_string().contains("exceed"), "{err}");
    }

    #[test]
    fn sketch_quantiles_of_log_normal_values_are_within_alpha() {
        let mut rng = SplitMix(42);
        let values: Vec<f64> = (0..100_000)
            .map(|_| math::exp(1.0 + 0.8 * rng.normal()))
            .collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        for alpha in [1e-3, 1e-2] {
            let sketch = sketch_of(alpha, &values);
            for q in [0.05, 0.25, 0.5, 0.75, 0.95] {
                let got = sketch.quantile(q).unwrap();
                assert_within_alpha(
                    got,
                    lower_quantile(&sorted, q),
                    alpha,
                    DEFAULT_MIN_POSITIVE,
                    &format!("alpha {alpha}, q {q}"),
                );
            }
            assert_eq!(sketch.min().unwrap().to_bits(), sorted[0].to_bits());
            assert_eq!(
                sketch.max().unwrap().to_bits(),
                sorted[sorted.len() - 1].to_bits()
            );
        }
    }

    #[test]
    fn sketch_handles_negative_and_zero_values() {
        let mut rng = SplitMix(7);
        let values: Vec<f64> = (0..20_000)
            .map(|i| match i % 5 {
                0 => 0.0,
                1 => -0.0,
                2 => 1e-13 * rng.normal(),
                3 => -math::exp(3.0 * rng.normal()),
                _ => math::exp(3.0 * rng.normal()),
            })
            .collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let sketch = sketch_of(1e-3, &values);
        for step in 0..=100 {
            let q = f64::from(step) / 100.0;
            assert_within_alpha(
                sketch.quantile(q).unwrap(),
                lower_quantile(&sorted, q),
                1e-3,
                DEFAULT_MIN_POSITIVE,
                &format!("q {q}"),
            );
        }
        assert_eq!(sketch.count(), 20_000);
    }

    #[test]
    fn sketch_merge_of_partitions_equals_sequential_addition() {
        let mut rng = SplitMix(3);
        let values: Vec<f64> = (0..5_000)
            .map(|_| rng.normal() * math::exp(4.0 * rng.normal()))
            .collect();
        let sequential = sketch_of(1e-3, &values);
        for seed in 0..5 {
            let parts: Vec<QuantileSketch> = random_parts(&values, seed)
                .iter()
                .map(|p| sketch_of(1e-3, p))
                .collect();
            let merged = merge_randomly(parts, seed, |a, b| a.merge(b).unwrap());
            assert_eq!(merged, sequential);
            assert_eq!(json(&merged), json(&sequential));
        }
    }

    #[test]
    fn sketch_rejects_invalid_parameters() {
        for alpha in [0.0, -0.1, 1.0, 2.0, f64::NAN, f64::INFINITY, 1e-7, 0.6] {
            let res = QuantileSketch::new(alpha);
            assert!(
                matches!(res, Err(EngineError::Invalid { ref what, .. }) if what == "relative_accuracy"),
                "alpha {alpha}: {res:?}"
            );
        }
        for min_positive in [0.0, -1.0, 1e-310, f64::INFINITY, f64::NAN] {
            let res = QuantileSketch::with_min_positive(0.01, min_positive);
            assert!(
                matches!(res, Err(EngineError::Invalid { ref what, .. }) if what == "min_positive"),
                "{min_positive}: {res:?}"
            );
        }
        let mut coarse = sketch_of(0.01, &[1.0]);
        let before = coarse.clone();
        let res = coarse.merge(&sketch_of(0.001, &[2.0]));
        assert!(
            matches!(res, Err(EngineError::Invalid { ref what, .. }) if what == "sketch merge"),
            "{res:?}"
        );
        assert_eq!(coarse, before);
    }

    #[test]
    fn sketch_edge_cases() {
        let empty = QuantileSketch::new(0.01).unwrap();
        assert_eq!(empty.quantile(0.5), None);
        assert_eq!(empty.min(), None);
        let sketch = sketch_of(0.01, &[3.0, f64::NAN, 1.0, 2.0]);
        assert_eq!(sketch.count(), 3);
        assert_eq!(sketch.nan_count(), 1);
        assert_eq!(sketch.quantile(-0.1), None);
        assert_eq!(sketch.quantile(1.1), None);
        assert_eq!(sketch.quantile(f64::NAN), None);
        assert_eq!(sketch.quantile(0.0).unwrap().to_bits(), 1.0_f64.to_bits());
        assert_eq!(sketch.quantile(1.0).unwrap().to_bits(), 3.0_f64.to_bits());
        assert!((sketch.quantile(0.5).unwrap() - 2.0).abs() <= 0.01 * 2.0);
        let with_infinities = sketch_of(0.01, &[f64::INFINITY, 5.0, f64::NEG_INFINITY, 6.0, 7.0]);
        assert_eq!(with_infinities.quantile(0.0), Some(f64::NEG_INFINITY));
        assert_eq!(
            with_infinities.quantile(0.25).unwrap().to_bits(),
            5.0_f64.to_bits()
        );
        assert_eq!(
            with_infinities.quantile(0.75).unwrap().to_bits(),
            7.0_f64.to_bits()
        );
        assert_eq!(with_infinities.quantile(1.0), Some(f64::INFINITY));
        let back: QuantileSketch = serde_json::from_str(&json(&with_infinities)).unwrap();
        assert_eq!(back, with_infinities);
        let extremes = sketch_of(0.5, &[f64::MAX, f64::MAX, 1.0, f64::MAX]);
        assert_within_alpha(
            extremes.quantile(0.5).unwrap(),
            f64::MAX,
            0.5,
            DEFAULT_MIN_POSITIVE,
            "bucket of f64::MAX",
        );
    }

    #[test]
    fn sketch_serialises_canonically_and_rejects_inconsistent_input() {
        let sketch = sketch_of(0.01, &[1.0, 1.0, -2.0, 0.0]);
        assert_eq!(
            json(&sketch),
            r#"{"relative_accuracy":0.01,"min_positive":1e-12,"min":-2.0,"max":1.0,"negative":{"offset":35,"counts":[1]},"zero_count":1,"positive":{"offset":0,"counts":[2]},"negative_infinity_count":0,"positive_infinity_count":0,"nan_count":0}"#
        );
        let no_max = r#"{"relative_accuracy":0.01,"min_positive":1e-12,"min":1.0,"max":null,"negative":{"offset":0,"counts":[]},"zero_count":0,"positive":{"offset":0,"counts":[1]},"negative_infinity_count":0,"positive_infinity_count":0,"nan_count":0}"#;
        let err = serde_json::from_str::<QuantileSketch>(no_max).unwrap_err();
        assert!(err.to_string().contains("min and max"), "{err}");
        let bad_alpha = json(&sketch).replace("0.01", "0.9");
        let err = serde_json::from_str::<QuantileSketch>(&bad_alpha).unwrap_err();
        assert!(err.to_string().contains("relative_accuracy"), "{err}");
        // Counts at keys no finite magnitude maps to (a hand-edited shard file): merging them
        // would grow a store over 2³¹ keys.
        for offset in ["-2147483648", "2147483646", "-100000"] {
            let far = json(&sketch).replace(
                r#""positive":{"offset":0"#,
                &format!(r#""positive":{{"offset":{offset}"#),
            );
            let err = serde_json::from_str::<QuantileSketch>(&far).unwrap_err();
            assert!(err.to_string().contains("outside the keys"), "{err}");
        }
        // The extreme magnitudes themselves read back.
        let extremes = sketch_of(
            0.5,
            &[
                DEFAULT_MIN_POSITIVE,
                f64::MAX,
                -DEFAULT_MIN_POSITIVE,
                -f64::MAX,
            ],
        );
        let back: QuantileSketch = serde_json::from_str(&json(&extremes)).unwrap();
        assert_eq!(back, extremes);
    }

    #[test]
    fn summary_mean_and_sd_match_two_pass_formulas() {
        let mut rng = SplitMix(11);
        // Mean 1e6 and SD 1e-3: the one-pass f64 formula would lose every digit of the variance.
        let values: Vec<f64> = (0..10_000).map(|_| 1e6 + 1e-3 * rng.normal()).collect();
        let mut summary = RunningSummary::new(1e-3).unwrap();
        for &x in &values {
            summary.add(x);
        }
        let n = values.len() as f64;
        // Reference: x − 1e6 is exact (Sterbenz), so the deviations from 1e6 and their moments
        // carry only relative rounding of about n·1e-16, far below the tolerances used.
        let offsets: Vec<f64> = values.iter().map(|x| x - 1e6).collect();
        let offset_mean = offsets.iter().sum::<f64>() / n;
        let mean = 1e6 + offset_mean;
        let sd = (offsets
            .iter()
            .map(|d| math::powi(d - offset_mean, 2))
            .sum::<f64>()
            / (n - 1.0))
            .sqrt();
        // Tolerances: the mean to one ulp, the SD to 1e-12 (reference error ~1e-13).
        assert!(
            (summary.mean() - mean).abs() <= f64::EPSILON * mean,
            "mean {} vs {mean}",
            summary.mean()
        );
        assert!(
            (summary.sd() - sd).abs() <= 1e-12 * sd,
            "sd {} vs {sd}",
            summary.sd()
        );
        assert_eq!(summary.count(), 10_000);
    }

    #[test]
    fn summary_of_constant_values_has_zero_sd() {
        let mut summary = RunningSummary::new(1e-3).unwrap();
        for _ in 0..1_000 {
            summary.add(0.1);
        }
        assert_eq!(summary.mean().to_bits(), 0.1_f64.to_bits());
        assert!(summary.sd() <= 1e-16 * 0.1, "sd {}", summary.sd());
    }

    #[test]
    fn summary_edge_cases() {
        let mut summary = RunningSummary::new(1e-3).unwrap();
        assert!(summary.mean().is_nan());
        assert!(summary.sd().is_nan());
        assert_eq!(summary.quantile(0.5), None);
        summary.add(2.0);
        assert_eq!(summary.mean().to_bits(), 2.0_f64.to_bits());
        assert!(summary.sd().is_nan());
        summary.add(f64::NAN);
        assert_eq!(summary.count(), 2);
        assert!(summary.mean().is_nan());
        assert!(summary.sd().is_nan());
        assert_eq!(summary.quantile(0.5).unwrap().to_bits(), 2.0_f64.to_bits());
        let mut infinite = RunningSummary::new(1e-3).unwrap();
        infinite.add(1.0);
        infinite.add(f64::INFINITY);
        assert_eq!(infinite.mean().to_bits(), f64::INFINITY.to_bits());
        assert!(infinite.sd().is_nan());
        let res = summary.merge(&RunningSummary::new(1e-2).unwrap());
        assert!(matches!(res, Err(EngineError::Invalid { .. })), "{res:?}");
        assert_eq!(summary.count(), 2);
    }

    #[test]
    fn merges_whose_counts_would_overflow_are_refused_and_change_nothing() {
        // Counts this large only come from an edited file (a shard's summary).
        let mut summary = RunningSummary::new(1e-3).unwrap();
        summary.add(1.0);
        summary.add(f64::NAN);
        let before = summary.clone();
        let huge_nan = json(&summary).replacen(
            r#""nan_count":1"#,
            &format!(r#""nan_count":{}"#, u64::MAX),
            1,
        );
        let huge_zeros = json(&summary).replacen(
            r#""zero_count":0"#,
            &format!(r#""zero_count":{}"#, u64::MAX - 1),
            1,
        );
        for text in [huge_nan, huge_zeros] {
            let other: RunningSummary = serde_json::from_str(&text).unwrap();
            let err = summary.merge(&other).unwrap_err();
            assert!(err.to_string().contains("overflow u64"), "{err}");
            assert_eq!(summary, before);
        }
    }

    #[test]
    fn sketch_at_the_smallest_alpha_is_within_alpha() {
        let mut rng = SplitMix(5);
        let values: Vec<f64> = (0..20_000).map(|_| math::exp(2.0 * rng.normal())).collect();
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let sketch = sketch_of(MIN_RELATIVE_ACCURACY, &values);
        for step in 0..=100 {
            let q = f64::from(step) / 100.0;
            assert_within_alpha(
                sketch.quantile(q).unwrap(),
                lower_quantile(&sorted, q),
                MIN_RELATIVE_ACCURACY,
                DEFAULT_MIN_POSITIVE,
                &format!("q {q}"),
            );
        }
    }

    /// Finite values over the whole exponent range, both signs, subnormals and zeros.
    fn any_finite() -> impl Strategy<Value = f64> {
        use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
        (POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO).boxed()
    }

    /// Values of moderate, clinically plausible and extreme magnitudes, both signs, and zeros.
    fn mixed_magnitudes() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(0.0),
            (-1e3..1e3_f64),
            (-300.0..300.0_f64, any::<bool>()).prop_map(|(log10, negative)| {
                let x = math::pow(10.0_f64, log10);
                if negative { -x } else { x }
            }),
        ]
    }

    proptest! {
        #[test]
        fn exact_sum_is_independent_of_order_and_partition(
            values in prop::collection::vec(any_finite(), 0..200),
            seed in any::<u64>(),
        ) {
            let sequential = sum_of(&values);
            let parts: Vec<ExactSum> = random_parts(&values, seed).iter().map(|p| sum_of(p)).collect();
            let merged = merge_randomly(parts, seed, ExactSum::merge);
            prop_assert_eq!(merged.value().to_bits(), sequential.value().to_bits());
            prop_assert_eq!(&merged, &sequential);
            prop_assert_eq!(json(&merged), json(&sequential));
        }

        #[test]
        fn exact_sum_is_the_correctly_rounded_sum_of_integers(
            integers in prop::collection::vec(-(1_i64 << 53)..(1_i64 << 53), 0..64),
            scale in -1000_i32..900,
        ) {
            // i128 sums exactly and `as f64` rounds to nearest, ties to even.
            let values: Vec<f64> = integers.iter().map(|&i| i as f64 * pow2(scale)).collect();
            let exact: i128 = integers.iter().map(|&i| i128::from(i)).sum();
            let expected = exact as f64 * pow2(scale);
            prop_assert_eq!(sum_of(&values).value().to_bits(), expected.to_bits());
        }

        #[test]
        fn exact_sum_of_subnormal_multiples_is_exact(
            integers in prop::collection::vec(-(1_i64 << 45)..(1_i64 << 45), 0..64),
        ) {
            let tiny = f64::from_bits(1);
            let values: Vec<f64> = integers.iter().map(|&i| i as f64 * tiny).collect();
            let exact: i64 = integers.iter().sum();
            let expected = f64::from_bits(exact.unsigned_abs()) * if exact < 0 { -1.0 } else { 1.0 };
            prop_assert_eq!(sum_of(&values).value().to_bits(), (expected + 0.0).to_bits());
        }

        #[test]
        fn every_value_is_within_alpha_of_its_bucket_representative(
            magnitude in 1e-12..f64::MAX,
            alpha in prop_oneof![Just(MIN_RELATIVE_ACCURACY), Just(1e-3), Just(MAX_RELATIVE_ACCURACY)],
        ) {
            let sketch = QuantileSketch::new(alpha).unwrap();
            let key = sketch.key(magnitude);
            // The computed bucket boundaries and their neighbouring floats are the values most
            // exposed to rounding in the key computation.
            let boundary = interpolated_exp2(f64::from(key) / sketch.key_scale);
            let candidates = [
                magnitude,
                boundary.next_down(),
                boundary,
                boundary.next_up(),
            ];
            for x in candidates.into_iter().filter(|x| (1e-12..=f64::MAX).contains(x)) {
                let representative = sketch.representative(sketch.key(x));
                prop_assert!(
                    (representative - x).abs() <= alpha * x,
                    "alpha {}, x {:e}: representative {:e}, relative error {:e}",
                    alpha, x, representative, (representative - x).abs() / x
                );
            }
        }

        #[test]
        fn sketch_quantiles_are_within_alpha_and_merge_exactly(
            values in prop::collection::vec(mixed_magnitudes(), 1..300),
            // Dense stores hold one bucket per key between the extremes, so α = 1e-6 over
            // 600 decades would need 5 GB; tiny α is tested on a realistic range below.
            alpha in prop_oneof![Just(1e-3), Just(0.05), Just(0.5)],
            seed in any::<u64>(),
        ) {
            let sketch = sketch_of(alpha, &values);
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            for step in 0..=20 {
                let q = f64::from(step) / 20.0;
                assert_within_alpha(sketch.quantile(q).unwrap(), lower_quantile(&sorted, q), alpha, DEFAULT_MIN_POSITIVE, &format!("q {q}"));
            }
            let parts: Vec<QuantileSketch> = random_parts(&values, seed).iter().map(|p| sketch_of(alpha, p)).collect();
            let merged = merge_randomly(parts, seed, |a, b| a.merge(b).unwrap());
            prop_assert_eq!(&merged, &sketch);
            prop_assert_eq!(json(&merged), json(&sketch));
        }

        #[test]
        fn summary_is_independent_of_order_and_partition(
            values in prop::collection::vec(mixed_magnitudes(), 0..100),
            seed in any::<u64>(),
        ) {
            let summarise = |values: &[f64]| {
                let mut summary = RunningSummary::new(1e-3).unwrap();
                for &x in values {
                    summary.add(x);
                }
                summary
            };
            let sequential = summarise(&values);
            let parts: Vec<RunningSummary> = random_parts(&values, seed).iter().map(|p| summarise(p)).collect();
            let merged = merge_randomly(parts, seed, |a, b| a.merge(b).unwrap());
            prop_assert_eq!(merged.mean().to_bits(), sequential.mean().to_bits());
            prop_assert_eq!(merged.sd().to_bits(), sequential.sd().to_bits());
            prop_assert_eq!(json(&merged), json(&sequential));
            let back: RunningSummary = serde_json::from_str(&json(&merged)).unwrap();
            prop_assert_eq!(back, sequential);
        }
    }
}
