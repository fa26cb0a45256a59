//! Exact state propagation of linear mammillary PK models with a first-order-absorption depot.
//!
//! This is ADVAN-style state propagation (Abuhelwa, Foster & Upton 2015): the whole state vector is
//! carried exactly from `t` to `t + dt` under constant zero-order inputs, so the engine can chain
//! intervals between dosing events without an ODE solver. The derivation below is written out so it
//! can be checked without the paper.
//!
//! # Model
//!
//! State `y = (A_d, x)`: the depot amount `A_d` and the disposition amounts
//! `x = (A_c, A_p1, A_p2)` (central and up to two peripherals; `n` = 1, 2 or 3 disposition
//! compartments). Inputs `r = (r_d, r_x)` are constant zero-order rates (amount per hour) into each
//! compartment over the interval.
//!
//! ```text
//! dA_d/dt = −ka·A_d + r_d
//! dx/dt   = −B·x + ka·A_d·e_c + r_x
//!
//!     ⎡ k10 + k12 + k13   −k21   −k31 ⎤
//! B = ⎢      −k12          k21     0  ⎥        e_c = (1, 0, 0)ᵀ
//!     ⎣      −k13           0     k31 ⎦
//! ```
//!
//! with `k10 = CL/V1`, `k12 = Q2/V1`, `k21 = Q2/V2`, `k13 = Q3/V1`, `k31 = Q3/V3` (rows and columns
//! of absent peripherals dropped).
//!
//! # Disposition eigen-structure
//!
//! The eigenvalues `λ_i` of `B` are the disposition exponents of `docs/models/pk.md` §Closed forms:
//! `k10` for one compartment; `α, β = [s ± √(s² − 4·k10·k21)]/2` with `s = k10 + k12 + k21` for two
//! (computed as `α = (s + √((k10 + k12 − k21)² + 4·k12·k21))/2`, `β = k10·k21/α`, which avoids
//! cancellation); and the trigonometric solution of the characteristic cubic
//! `λ³ − a2·λ² + a1·λ − a0 = 0` for three, polished by one Newton step. For positive
//! inter-compartmental clearances they are real, positive and distinct, and
//!
//! ```text
//! e^(−B·t) = Σ_i P_i·e^(−λ_i·t),     P_i = adj(λ_i·I − B) / Π_(m≠i) (λ_i − λ_m).
//! ```
//!
//! `P_i` is the residue of the resolvent `(λ·I − B)⁻¹` at `λ_i` (a rank-one spectral projector).
//! Its central–central element is the macro-coefficient `A_i` of `docs/models/pk.md`, e.g.
//! `A_i = (k21 − λ_i)(k31 − λ_i)/[(λ_j − λ_i)(λ_k − λ_i)]` for three compartments. The adjugate
//! is a polynomial in the rate constants, so `P_i` stays finite even when `k21 = k31`.
//!
//! # Solution over one interval
//!
//! By variation of constants, the state at `t` is a superposition of the response to each
//! compartment's initial amount and to each input:
//!
//! ```text
//! A_d(t) = A_d(0)·e^(−ka·t) + r_d·(1 − e^(−ka·t))/ka
//! x(t)   = Σ_i P_i·[ e^(−λ_i·t)·x(0) + φ_i·r_x + (ka·A_d(0)·E_i + r_d·H_i)·e_c ]
//!
//! φ_i = (1 − e^(−λ_i·t))/λ_i                        (zero-order input into disposition)
//! E_i = (e^(−λ_i·t) − e^(−ka·t))/(ka − λ_i)         (depot amount at the start)
//! H_i = ∫₀ᵗ e^(−λ_i·(t−s))·(1 − e^(−ka·s)) ds = φ_i − E_i   (zero-order input into the depot)
//! ```
//!
//! With only a depot dose this is the first-order-absorption formula of `docs/models/pk.md`
//! `A_c = F·D·ka·Σ_i A_i·(e^(−λ_i·t) − e^(−ka·t))/(ka − λ_i)`.
//!
//! # Coincident exponents (`ka = λ_i`)
//!
//! Each coefficient above is a convolution of exponentials, and by the Hermite–Genocchi formula a
//! convolution of `e^(−x_0·s), …, e^(−x_k·s)` evaluated at `t` equals `t^k·D_k(x_0·t, …, x_k·t)`,
//! where
//!
//! ```text
//! D_k(z_0, …, z_k) = ∫_(simplex) e^(−Σ_j σ_j·z_j) dσ = (−1)^k · (divided difference of e^(−z) at z_0 … z_k).
//! ```
//!
//! So `φ_i = t·D_1(0, λ_i·t)`, `E_i = t·D_1(λ_i·t, ka·t)`, `H_i = ka·t²·D_2(0, ka·t, λ_i·t)` and
//! the depot input term is `r_d·t·D_1(0, ka·t)`. `D_k` is continuous in its nodes and equals the
//! limit formula when nodes coincide (`E_i = t·e^(−λ_i·t)` at `ka = λ_i`, `docs/models/pk.md`
//! §Closed forms). It is evaluated without cancellation:
//!
//! - `D_1(z_0, z_1) = e^(−z_lo)·(−expm1(−d))/d` with `d = |z_1 − z_0|` (and `e^(−z_lo)` at
//!   `d = 0`), accurate to a few ulps for every `d`.
//! - `D_2`, nodes sorted, spread `z_2 − z_0`: above 1 the recurrence
//!   `D_2 = (D_1(z_0, z_1) − D_1(z_1, z_2))/(z_2 − z_0)`, whose subtraction loses at most a factor
//!   of about 3; at or below 1 the Taylor series around the midpoint `c`,
//!   `D_2 = e^(−c)·Σ_m (−1)^m·h_m(w)/(m + 2)!` with `w_j = z_j − c` and `h_m` the complete
//!   homogeneous symmetric polynomial, truncated after [`TAYLOR_TERMS`] terms (relative
//!   truncation error below `0.5^18/18! ≈ 6e−19`).
//!
//! No perturbation of `ka` is needed and there is no switch at a threshold: `ka = λ_i` exactly,
//! nearly or not at all go through the same formulas.
//!
//! # Where the closed form refuses
//!
//! The projectors divide by eigenvalue gaps, so their rounding error grows like `ε/g` with `g` the
//! relative gap between two disposition eigenvalues. When `g < 1e−6` (only possible when an
//! inter-compartmental clearance is near zero), or when a rate constant or eigenvalue is not
//! finite, [`Mammillary::advance`] returns `false` and leaves the state untouched; the engine then
//! integrates the right-hand side numerically.
//!
//! # Accuracy
//!
//! Against a 50-digit matrix exponential of the augmented system (random parameters within a
//! factor 10 of typical, `KA` free or pinned to an eigenvalue, `dt` from 1e−4 to 100 h), every
//! component larger than 1e−12 of the mass agreed to about 2e−15 relative for one compartment and
//! 3e−11 for two and three. The larger figures come from a compartment that starts empty and
//! fills from a much fuller neighbour over a very short interval: the sum over modes then
//! cancels, and the absolute error is a few ulps of the largest amount (about 1e−16 of the mass
//! in the system), as in any sum-of-exponentials (ADVAN) solution.

use twin_engine::math;
use twin_engine::spectral::Spectrum;

/// Largest number of disposition compartments (central plus two peripherals).
const MAX_DISPOSITION: usize = twin_engine::spectral::MAX_BLOCK;

/// Number of Taylor terms for `D_2` when the scaled nodes span at most 1: the truncation error is
/// below `0.5^18 / 18! ≈ 6e-19` relative.
const TAYLOR_TERMS: usize = 18;

/// Micro-constants (per hour) of a linear mammillary model with a first-order-absorption depot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mammillary {
    /// Number of disposition compartments (1, 2 or 3).
    n_disposition: usize,
    /// Absorption rate constant from the depot into the central compartment, 1/h.
    ka: f64,
    /// Elimination rate constant from the central compartment, 1/h.
    k10: f64,
    /// Rate constants from the central compartment into peripheral `j` (`k12`, `k13`), 1/h.
    k_to_peripheral: [f64; 2],
    /// Rate constants from peripheral `j` back into the central compartment (`k21`, `k31`), 1/h.
    k_from_peripheral: [f64; 2],
}

impl Mammillary {
    /// One disposition compartment: depot and central.
    pub(crate) fn one(ka: f64, k10: f64) -> Self {
        Self {
            n_disposition: 1,
            ka,
            k10,
            k_to_peripheral: [0.0; 2],
            k_from_peripheral: [0.0; 2],
        }
    }

    /// Two disposition compartments: depot, central and one peripheral.
    pub(crate) fn two(ka: f64, k10: f64, k12: f64, k21: f64) -> Self {
        Self {
            n_disposition: 2,
            ka,
            k10,
            k_to_peripheral: [k12, 0.0],
            k_from_peripheral: [k21, 0.0],
        }
    }

    /// Three disposition compartments: depot, central and two peripherals.
    pub(crate) fn three(ka: f64, k10: f64, k12: f64, k21: f64, k13: f64, k31: f64) -> Self {
        Self {
            n_disposition: 3,
            ka,
            k10,
            k_to_peripheral: [k12, k13],
            k_from_peripheral: [k21, k31],
        }
    }

    /// Number of states including the depot.
    pub(crate) fn n_states(&self) -> usize {
        self.n_disposition + 1
    }

    /// Writes `dy/dt` without inputs: `y = (depot, central, peripherals…)`.
    pub(crate) fn rhs(&self, y: &[f64], dy: &mut [f64]) {
        let depot = y[0];
        let central = y[1];
        let absorption = self.ka * depot;
        dy[0] = -absorption;
        let mut d_central = absorption - self.k10 * central;
        for peripheral_idx in 0..self.n_disposition - 1 {
            let to_peripheral = self.k_to_peripheral[peripheral_idx] * central;
            let from_peripheral = self.k_from_peripheral[peripheral_idx] * y[peripheral_idx + 2];
            d_central += from_peripheral - to_peripheral;
            dy[peripheral_idx + 2] = to_peripheral - from_peripheral;
        }
        dy[1] = d_central;
    }

    /// The disposition matrix `B` (`dx/dt = −B·x + …`); entries outside `n × n` are zero.
    fn disposition_matrix(&self) -> [[f64; MAX_DISPOSITION]; MAX_DISPOSITION] {
        let mut b = [[0.0; MAX_DISPOSITION]; MAX_DISPOSITION];
        b[0][0] = self.k10;
        for peripheral_idx in 0..self.n_disposition - 1 {
            let row = peripheral_idx + 1;
            let k_out = self.k_to_peripheral[peripheral_idx];
            let k_in = self.k_from_peripheral[peripheral_idx];
            b[0][0] += k_out;
            b[0][row] = -k_in;
            b[row][0] = -k_out;
            b[row][row] = k_in;
        }
        b
    }

    /// The eigen-structure of the disposition matrix (`twin_engine::spectral`): eigenvalues in
    /// decreasing order and spectral projectors.
    ///
    /// Returns `None` when they are not finite or two of them are closer than
    /// [`MIN_RELATIVE_EIGEN_GAP`](twin_engine::spectral::MIN_RELATIVE_EIGEN_GAP) relative to each other.
    pub(crate) fn spectrum(&self) -> Option<Spectrum> {
        Spectrum::of_matrix(&self.disposition_matrix(), self.n_disposition)
    }

    /// Disposition eigenvalues `λ_i` (1/h) in decreasing order; entries past `n` are zero (tests
    /// compare them with the formulas of `docs/models/pk.md`).
    ///
    /// Returns `None` as [`Self::spectrum`].
    #[cfg(test)]
    pub(crate) fn eigenvalues(&self) -> Option<[f64; MAX_DISPOSITION]> {
        let spectrum = self.spectrum()?;
        let mut lambda = [0.0; MAX_DISPOSITION];
        lambda[..self.n_disposition].copy_from_slice(spectrum.rates());
        Some(lambda)
    }

    /// Propagates `y` exactly over `dt` hours under constant zero-order `inputs` (amount per hour
    /// into each state); see the module documentation for the formulas.
    ///
    /// Returns `false` and leaves `y` untouched when the lengths do not match the model, `dt` is
    /// negative or not finite, the disposition eigenvalues are too close (see
    /// [`MIN_RELATIVE_EIGEN_GAP`](twin_engine::spectral::MIN_RELATIVE_EIGEN_GAP)) or the result is not finite.
    pub(crate) fn advance(&self, y: &mut [f64], inputs: &[f64], dt: f64) -> bool {
        let n = self.n_disposition;
        if y.len() != self.n_states()
            || inputs.len() != self.n_states()
            || !dt.is_finite()
            || dt < 0.0
        {
            return false;
        }
        let Some(spectrum) = self.spectrum() else {
            return false;
        };
        let lambda = spectrum.rates();
        if !self.ka.is_finite() {
            return false;
        }
        let t = dt;
        let ka = self.ka;
        let depot_start = y[0];
        let depot_rate = inputs[0];
        let z_ka = ka * t;
        let mut x_start = [0.0; MAX_DISPOSITION];
        let mut x_rate = [0.0; MAX_DISPOSITION];
        x_start[..n].copy_from_slice(&y[1..]);
        x_rate[..n].copy_from_slice(&inputs[1..]);

        let mut x_end = [0.0; MAX_DISPOSITION];
        for (mode_idx, &lambda_i) in lambda.iter().enumerate() {
            let z = lambda_i * t;
            let decay = math::exp(-z);
            let phi = t * exp_dd1(0.0, z);
            let from_depot_amount = t * exp_dd1(z, z_ka);
            let from_depot_input = ka * t * t * exp_dd2(0.0, z_ka, z);

            // Forcing of this mode before projection: initial amounts, inputs, absorption.
            let mut forcing = [0.0; MAX_DISPOSITION];
            for state_idx in 0..n {
                forcing[state_idx] = decay * x_start[state_idx] + phi * x_rate[state_idx];
            }
            forcing[0] += ka * depot_start * from_depot_amount + depot_rate * from_depot_input;

            let projector = spectrum.projector(mode_idx);
            for (row_idx, x_row) in x_end.iter_mut().enumerate().take(n) {
                let projected: f64 = (0..n)
                    .map(|col_idx| projector[row_idx][col_idx] * forcing[col_idx])
                    .sum();
                *x_row += projected;
            }
        }
        let depot_end = depot_start * math::exp(-z_ka) + depot_rate * t * exp_dd1(0.0, z_ka);
        if !depot_end.is_finite() || !x_end[..n].iter().all(|v| v.is_finite()) {
            return false;
        }
        y[0] = depot_end;
        y[1..].copy_from_slice(&x_end[..n]);
        true
    }
}

/// `D_1(z0, z1) = (e^(−z0) − e^(−z1))/(z1 − z0)`, continuous at `z0 = z1` (value `e^(−z0)`).
fn exp_dd1(z0: f64, z1: f64) -> f64 {
    let (low, high) = if z0 <= z1 { (z0, z1) } else { (z1, z0) };
    let spread = high - low;
    let ratio = if spread > 0.0 {
        -math::exp_m1(-spread) / spread
    } else {
        1.0
    };
    math::exp(-low) * ratio
}

/// `D_2(z0, z1, z2)`: the second divided difference of `e^(−z)` (sign flipped so that it is
/// positive), continuous for coinciding nodes.
fn exp_dd2(z0: f64, z1: f64, z2: f64) -> f64 {
    let mut nodes = [z0, z1, z2];
    nodes.sort_by(f64::total_cmp);
    let [low, mid, high] = nodes;
    let spread = high - low;
    if spread > 1.0 {
        return (exp_dd1(low, mid) - exp_dd1(mid, high)) / spread;
    }
    let centre = 0.5 * (low + high);
    let shifted = [low - centre, mid - centre, high - centre];
    // homogeneous[m] = h_m of the nodes added so far, by h_m(w_0..w_j) = h_m(w_0..w_(j−1)) +
    // w_j·h_(m−1)(w_0..w_j).
    let mut homogeneous = [0.0; TAYLOR_TERMS];
    homogeneous[0] = 1.0;
    for m in 1..TAYLOR_TERMS {
        homogeneous[m] = shifted[0] * homogeneous[m - 1];
    }
    for &w in &shifted[1..] {
        for m in 1..TAYLOR_TERMS {
            homogeneous[m] += w * homogeneous[m - 1];
        }
    }
    let mut coefficient = 0.5; // 1/(m + 2)! at m = 0.
    let mut sum = 0.0;
    for (m, &h) in homogeneous.iter().enumerate() {
        let signed = if m % 2 == 0 {
            coefficient
        } else {
            -coefficient
        };
        sum += signed * h;
        coefficient /= (m + 3) as f64;
    }
    math::exp(-centre) * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain-formula reference `D_1` for well-separated nodes.
    fn naive_dd1(z0: f64, z1: f64) -> f64 {
        (math::exp(-z0) - math::exp(-z1)) / (z1 - z0)
    }

    #[test]
    fn dd1_matches_formula_and_limit() {
        assert!((exp_dd1(0.3, 2.0) - naive_dd1(0.3, 2.0)).abs() < 1e-15);
        assert!((exp_dd1(2.0, 0.3) - naive_dd1(0.3, 2.0)).abs() < 1e-15);
        assert!((exp_dd1(1.5, 1.5) - math::exp(-1.5_f64)).abs() < 1e-16);
        // Near-coincident nodes: the derivative limit plus the first-order correction.
        let z: f64 = 1.5;
        let d = 1e-9;
        let expected = math::exp(-z) * (1.0 - d / 2.0);
        assert!((exp_dd1(z, z + d) - expected).abs() < 1e-16);
    }

    #[test]
    fn dd2_is_continuous_across_the_taylor_switch() {
        // Nodes with spread just below and just above 1 use different branches.
        for &(a, b, c) in &[
            (0.0, 0.4, 1.0 - 1e-12),
            (0.0, 0.4, 1.0 + 1e-12),
            (2.0, 2.5, 3.5),
        ] {
            let naive = (naive_dd1(a, b) - naive_dd1(b, c)) / (c - a);
            let got = exp_dd2(a, b, c);
            assert!(
                (got - naive).abs() < 1e-14 * naive.abs(),
                "nodes ({a}, {b}, {c}): got {got}, naive {naive}"
            );
        }
        // Double node at 2 and one at 3: (e^(−2) − (e^(−2) − e^(−3)))/1 = e^(−3).
        assert!((exp_dd2(2.0, 2.0, 3.0) - math::exp(-3.0_f64)).abs() < 1e-16);
        // Triple node: e^(−z)/2.
        let z = 0.7;
        assert!((exp_dd2(z, z, z) - 0.5 * math::exp(-z)).abs() < 1e-16);
        // Double node at 0 and one at z: (z − 1 + e^(−z))/z².
        let z: f64 = 0.01;
        let expected = (z - 1.0 + math::exp(-z)) / (z * z);
        assert!((exp_dd2(0.0, 0.0, z) - expected).abs() < 1e-10 * expected);
    }

    #[test]
    fn two_compartment_eigenvalues_match_docs_check_numbers() {
        // docs/models/pk.md §Check numbers: CL 4, V1 70, Q 4, V2 50 → α = 0.166895,
        // β = 0.027391 /h.
        let model = Mammillary::two(1.0, 4.0 / 70.0, 4.0 / 70.0, 4.0 / 50.0);
        let lambda = model.eigenvalues().unwrap();
        assert!((lambda[0] - 0.166_895).abs() < 5e-7, "{lambda:?}");
        assert!((lambda[1] - 0.027_391).abs() < 5e-7, "{lambda:?}");
    }

    #[test]
    fn three_compartment_eigenvalues_match_docs_check_numbers() {
        // docs/models/pk.md §Check numbers, Bruno docetaxel micro-constants.
        let model = Mammillary::three(1.0, 5.2, 1.06, 1.51, 1.26, 0.084);
        let lambda = model.eigenvalues().unwrap();
        for (got, expected) in lambda.iter().zip([7.788_664, 1.258_022, 0.067_314]) {
            assert!((got - expected).abs() < 5e-7, "{lambda:?}");
        }
    }

    #[test]
    fn identical_peripheral_return_rates_keep_finite_projectors() {
        // k21 = k31 makes one eigenvalue equal to k21; the adjugate form has no division by
        // k21 − λ, so propagation stays finite and mass-consistent.
        let model = Mammillary::three(1.0, 0.1, 0.2, 0.05, 0.3, 0.05);
        let mut y = [10.0, 20.0, 30.0, 40.0];
        assert!(model.advance(&mut y, &[0.0; 4], 5.0));
        assert!(y.iter().all(|v| v.is_finite() && *v > 0.0), "{y:?}");
    }

    #[test]
    fn refuses_nearly_coincident_disposition_eigenvalues() {
        // Q → 0 with k10 = k21 makes α and β coincide; the closed form hands over to the solver.
        let model = Mammillary::two(1.0, 0.1, 1e-20, 0.1);
        let mut y = [1.0, 2.0, 3.0];
        assert!(!model.advance(&mut y, &[0.0; 3], 1.0));
        assert!((y[1] - 2.0).abs() < f64::EPSILON, "state must be untouched");
    }

    #[test]
    fn rejects_negative_or_non_finite_dt_and_wrong_lengths() {
        let model = Mammillary::one(1.0, 0.1);
        let mut y = [1.0, 2.0];
        assert!(!model.advance(&mut y, &[0.0; 2], -1.0));
        assert!(!model.advance(&mut y, &[0.0; 2], f64::NAN));
        assert!(!model.advance(&mut y, &[0.0; 3], 1.0));
        assert!(model.advance(&mut y, &[0.0; 2], 0.0));
        assert!((y[0] - 1.0).abs() < f64::EPSILON && (y[1] - 2.0).abs() < f64::EPSILON);
    }
}
