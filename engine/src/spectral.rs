//! Exact propagation of small linear compartment blocks by spectral decomposition.
//!
//! A block of `n ≤ 3` amounts `x` with constant zero-order inputs `r` (amount per time unit),
//!
//! ```text
//! dx/dt = −B·x + r,
//! ```
//!
//! has the solution (variation of constants)
//!
//! ```text
//! x(t) = Σ_i P_i·[ e^(−λ_i·t)·x(0) + φ(λ_i, t)·r ],     φ(λ, t) = (1 − e^(−λ·t))/λ  (= t at λ = 0),
//! ```
//!
//! when `B` has real, distinct eigenvalues `λ_i`; `P_i = adj(λ_i·I − B) / Π_(m≠i) (λ_i − λ_m)` is
//! the residue of the resolvent `(λ·I − B)⁻¹` at `λ_i` (a rank-one spectral projector, `Σ P_i =
//! I`). The matrices of linear mammillary PK models (central compartment exchanging with
//! peripherals, elimination from the central one) always qualify: they are similar to symmetric
//! matrices. The adjugate is a polynomial in `B`'s entries, so `P_i` stays finite when two
//! peripherals share a rate constant.
//!
//! Eigenvalues: `B₀₀` for one compartment; for two, `α = (s + √((b₀₀ − b₁₁)² + 4·b₀₁·b₁₀))/2` and
//! `β = det B/α` (Vieta, which keeps the small root accurate); for three, the trigonometric
//! solution of the characteristic cubic `λ³ − a₂·λ² + a₁·λ − a₀ = 0` (`a₂ = tr B`, `a₁` the sum of
//! the principal 2 × 2 minors, `a₀ = det B`) polished by one Newton step.
//!
//! [`Spectrum`] is computed once per parameter set; each [`Spectrum::advance`] then costs `n`
//! exponentials and `n` small matrix–vector products, cheap enough to evaluate at every stage of
//! an ODE step (see [`crate::model::Model::linear_head`]).

use crate::math;

/// Largest block [`Spectrum`] handles.
pub const MAX_BLOCK: usize = 3;

/// Smallest relative gap between two eigenvalues for which the spectral formula is used. Rounding
/// error of the projectors grows like machine epsilon divided by this gap, so `1e-6` bounds it at
/// about `2e-10`.
pub const MIN_RELATIVE_EIGEN_GAP: f64 = 1e-6;

/// A square matrix of at most [`MAX_BLOCK`] rows; entries outside the leading `n × n` block are
/// ignored.
pub type BlockMatrix = [[f64; MAX_BLOCK]; MAX_BLOCK];

/// Eigenvalues and spectral projectors of a block matrix `B` (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spectrum {
    n: usize,
    rates: [f64; MAX_BLOCK],
    projectors: [BlockMatrix; MAX_BLOCK],
}

impl Spectrum {
    /// The spectrum of the leading `n × n` block of `b`, eigenvalues in decreasing order.
    ///
    /// Returns `None` when `n` is not 1 to [`MAX_BLOCK`], an entry is not finite, the eigenvalues
    /// are not real, or two of them are closer than [`MIN_RELATIVE_EIGEN_GAP`] (relative to the
    /// larger): callers then integrate the block numerically.
    #[must_use]
    pub fn of_matrix(b: &BlockMatrix, n: usize) -> Option<Self> {
        if !(1..=MAX_BLOCK).contains(&n)
            || b[..n]
                .iter()
                .any(|row| !row[..n].iter().all(|v| v.is_finite()))
        {
            return None;
        }
        let rates = eigenvalues(b, n)?;
        if !rates[..n].iter().all(|l| l.is_finite()) {
            return None;
        }
        for i in 0..n {
            for j in i + 1..n {
                let scale = rates[i].abs().max(rates[j].abs());
                if (rates[i] - rates[j]).abs() < MIN_RELATIVE_EIGEN_GAP * scale {
                    return None;
                }
            }
        }
        let mut projectors = [[[0.0; MAX_BLOCK]; MAX_BLOCK]; MAX_BLOCK];
        for (mode, projector) in projectors.iter_mut().enumerate().take(n) {
            let lambda = rates[mode];
            let mut shifted = [[0.0; MAX_BLOCK]; MAX_BLOCK];
            for row in 0..n {
                for col in 0..n {
                    shifted[row][col] = -b[row][col];
                }
                shifted[row][row] += lambda;
            }
            let adjugate = adjugate(&shifted, n);
            let gap_product: f64 = (0..n)
                .filter(|&other| other != mode)
                .map(|other| lambda - rates[other])
                .product();
            for row in 0..n {
                for col in 0..n {
                    projector[row][col] = adjugate[row][col] / gap_product;
                }
            }
        }
        if !projectors.iter().flatten().flatten().all(|v| v.is_finite()) {
            return None;
        }
        Some(Self {
            n,
            rates,
            projectors,
        })
    }

    /// Size of the block.
    #[must_use]
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the block is empty (never: a spectrum has 1 to [`MAX_BLOCK`] modes).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Eigenvalues `λ_i` (decay rates, per time unit) in decreasing order.
    #[must_use]
    pub fn rates(&self) -> &[f64] {
        &self.rates[..self.n]
    }

    /// The projector `P_i` of eigenvalue `i` (leading `n × n` block meaningful).
    #[must_use]
    pub fn projector(&self, mode: usize) -> &BlockMatrix {
        &self.projectors[mode]
    }

    /// Writes `x(dt)` from `x(0) = start` under constant `inputs` into `end` (all of length
    /// [`Self::len`]; `dt ≥ 0`).
    pub fn advance(&self, start: &[f64], inputs: &[f64], dt: f64, end: &mut [f64]) {
        self.trajectory(start, inputs).at(dt, end);
    }

    /// The block's trajectory from `x(0) = start` under constant `inputs`, with the projections
    /// `P_i·x(0)` and `P_i·r` computed once, so that each evaluation costs `n` exponentials.
    #[must_use]
    pub fn trajectory(&self, start: &[f64], inputs: &[f64]) -> Trajectory {
        let n = self.n;
        let project = |projector: &BlockMatrix, v: &[f64]| {
            let mut out = [0.0; MAX_BLOCK];
            for (row, value) in out.iter_mut().enumerate().take(n) {
                *value = (0..n).map(|col| projector[row][col] * v[col]).sum();
            }
            out
        };
        let mut from_start = [[0.0; MAX_BLOCK]; MAX_BLOCK];
        let mut from_inputs = [[0.0; MAX_BLOCK]; MAX_BLOCK];
        for mode in 0..n {
            from_start[mode] = project(&self.projectors[mode], start);
            from_inputs[mode] = project(&self.projectors[mode], inputs);
        }
        Trajectory {
            n,
            rates: self.rates,
            from_start,
            from_inputs,
            has_inputs: inputs[..n].iter().any(|&r| r != 0.0),
        }
    }
}

/// A linear block's solution from one start under constant inputs (see [`Spectrum::trajectory`]):
/// `x(τ) = Σ_i e^(−λ_i·τ)·(P_i·x(0)) + φ(λ_i, τ)·(P_i·r)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trajectory {
    n: usize,
    rates: [f64; MAX_BLOCK],
    from_start: [[f64; MAX_BLOCK]; MAX_BLOCK],
    from_inputs: [[f64; MAX_BLOCK]; MAX_BLOCK],
    has_inputs: bool,
}

impl Trajectory {
    /// Writes `x(dt)` into `out` (length at least the block size; `dt ≥ 0`).
    pub fn at(&self, dt: f64, out: &mut [f64]) {
        let n = self.n;
        out[..n].fill(0.0);
        for mode in 0..n {
            let lambda = self.rates[mode];
            let z = lambda * dt;
            let start = &self.from_start[mode];
            if !self.has_inputs {
                // Free decay (no infusion running): one exponential, no φ.
                let decay = math::exp(-z);
                for i in 0..n {
                    out[i] += decay * start[i];
                }
                continue;
            }
            // One exponential per mode, each quantity from the form without cancellation:
            // φ(λ, t) = (1 − e^(−z))/λ via expm1 for small z (continuous at z = 0: φ = t).
            let (decay, phi) = if z.abs() < 1.0 {
                let decay_minus_one = math::exp_m1(-z);
                let phi = if z.abs() > 1e-300 {
                    -decay_minus_one / lambda
                } else {
                    dt
                };
                (1.0 + decay_minus_one, phi)
            } else {
                let decay = math::exp(-z);
                (decay, (1.0 - decay) / lambda)
            };
            let inputs = &self.from_inputs[mode];
            for i in 0..n {
                out[i] += decay * start[i] + phi * inputs[i];
            }
        }
    }
}

/// Eigenvalues of the leading `n × n` block in decreasing order (see the module documentation);
/// `None` when they are not real.
fn eigenvalues(b: &BlockMatrix, n: usize) -> Option<[f64; MAX_BLOCK]> {
    match n {
        1 => Some([b[0][0], 0.0, 0.0]),
        2 => {
            let discriminant = math::powi(b[0][0] - b[1][1], 2) + 4.0 * b[0][1] * b[1][0];
            if discriminant < 0.0 {
                return None;
            }
            let alpha = 0.5 * (b[0][0] + b[1][1] + discriminant.sqrt());
            let det = b[0][0] * b[1][1] - b[0][1] * b[1][0];
            let beta = if alpha.abs() > 0.0 {
                det / alpha
            } else {
                b[0][0] + b[1][1] - alpha
            };
            Some([alpha, beta, 0.0])
        }
        _ => cubic_eigenvalues(b),
    }
}

/// Eigenvalues of a 3 × 3 matrix by the trigonometric solution of its characteristic cubic and
/// one Newton step each, in decreasing order; `None` without three distinct real roots.
fn cubic_eigenvalues(b: &BlockMatrix) -> Option<[f64; MAX_BLOCK]> {
    let a2 = b[0][0] + b[1][1] + b[2][2];
    let a1 = b[0][0] * b[1][1] - b[0][1] * b[1][0] + b[0][0] * b[2][2] - b[0][2] * b[2][0]
        + b[1][1] * b[2][2]
        - b[1][2] * b[2][1];
    let a0 = b[0][0] * (b[1][1] * b[2][2] - b[1][2] * b[2][1])
        - b[0][1] * (b[1][0] * b[2][2] - b[1][2] * b[2][0])
        + b[0][2] * (b[1][0] * b[2][1] - b[1][1] * b[2][0]);
    let p = a1 - a2 * a2 / 3.0;
    let q = 2.0 * math::powi(a2, 3) / 27.0 - a1 * a2 / 3.0 + a0;
    // Three distinct real roots need p < 0; p ≥ 0 means a triple root or complex roots.
    if p >= 0.0 || !p.is_finite() || !q.is_finite() {
        return None;
    }
    let r1 = (-math::powi(p, 3) / 27.0).sqrt();
    let cosine = -q / (2.0 * r1);
    if !(-1.0..=1.0).contains(&cosine) && (cosine.abs() - 1.0) > 1e-12 {
        return None;
    }
    let phi = math::acos(cosine.clamp(-1.0, 1.0)) / 3.0;
    let r2 = 2.0 * math::cbrt(r1);
    let mut lambda = [0.0; MAX_BLOCK];
    for (root_idx, slot) in lambda.iter_mut().enumerate() {
        let angle = phi + 2.0 * std::f64::consts::PI * root_idx as f64 / 3.0;
        let root = a2 / 3.0 - r2 * math::cos(angle);
        // One Newton step on the unreduced cubic removes most of the rounding error of the
        // trigonometric form, which matters for the small root at long times.
        let value = ((root - a2) * root + a1) * root - a0;
        let slope = (3.0 * root - 2.0 * a2) * root + a1;
        let step = value / slope;
        *slot = if step.is_finite() && step.abs() <= 1e-6 * root.abs() {
            root - step
        } else {
            root
        };
    }
    lambda.sort_by(|a, b| b.total_cmp(a));
    Some(lambda)
}

/// Adjugate (transposed cofactor matrix) of the leading `n × n` block of `m`, `n ≤ 3`.
fn adjugate(m: &BlockMatrix, n: usize) -> BlockMatrix {
    let mut adj = [[0.0; MAX_BLOCK]; MAX_BLOCK];
    match n {
        1 => adj[0][0] = 1.0,
        2 => {
            adj[0][0] = m[1][1];
            adj[0][1] = -m[0][1];
            adj[1][0] = -m[1][0];
            adj[1][1] = m[0][0];
        }
        _ => {
            adj[0][0] = m[1][1] * m[2][2] - m[1][2] * m[2][1];
            adj[0][1] = m[0][2] * m[2][1] - m[0][1] * m[2][2];
            adj[0][2] = m[0][1] * m[1][2] - m[0][2] * m[1][1];
            adj[1][0] = m[1][2] * m[2][0] - m[1][0] * m[2][2];
            adj[1][1] = m[0][0] * m[2][2] - m[0][2] * m[2][0];
            adj[1][2] = m[0][2] * m[1][0] - m[0][0] * m[1][2];
            adj[2][0] = m[1][0] * m[2][1] - m[1][1] * m[2][0];
            adj[2][1] = m[0][1] * m[2][0] - m[0][0] * m[2][1];
            adj[2][2] = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        }
    }
    adj
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Docetaxel micro-constants `[K10, K12, K21, K13, K31]` (1/h) of Bruno et al. 1996 (Table II,
    /// as in twin-models' neutropenia model): the fastest block in the catalogue.
    const DOCETAXEL: [f64; 5] = [5.2, 1.06, 1.51, 1.26, 0.084];

    fn mammillary(k: [f64; 5]) -> BlockMatrix {
        let [k10, k12, k21, k13, k31] = k;
        [
            [k10 + k12 + k13, -k21, -k31],
            [-k12, k21, 0.0],
            [-k13, 0.0, k31],
        ]
    }

    /// Reference: fixed-step classical RK4 of `dx/dt = −B·x + r` with 100 000 steps.
    fn rk4(b: &BlockMatrix, n: usize, start: &[f64], inputs: &[f64], dt: f64) -> Vec<f64> {
        let f = |x: &[f64]| -> Vec<f64> {
            (0..n)
                .map(|i| inputs[i] - (0..n).map(|j| b[i][j] * x[j]).sum::<f64>())
                .collect()
        };
        let steps = 100_000;
        let h = dt / f64::from(steps);
        let mut x = start.to_vec();
        for _ in 0..steps {
            let k1 = f(&x);
            let x2: Vec<f64> = (0..n).map(|i| x[i] + 0.5 * h * k1[i]).collect();
            let k2 = f(&x2);
            let x3: Vec<f64> = (0..n).map(|i| x[i] + 0.5 * h * k2[i]).collect();
            let k3 = f(&x3);
            let x4: Vec<f64> = (0..n).map(|i| x[i] + h * k3[i]).collect();
            let k4 = f(&x4);
            for i in 0..n {
                x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
            }
        }
        x
    }

    #[test]
    fn three_compartment_block_matches_an_independent_integration() {
        let b = mammillary(DOCETAXEL);
        let spectrum = Spectrum::of_matrix(&b, 3).expect("mammillary spectrum is real");
        let start = [100.0, 3.0, 7.0];
        let inputs = [50.0, 0.0, 0.0];
        for dt in [0.01, 0.5, 24.0] {
            let mut exact = [0.0; 3];
            spectrum.advance(&start, &inputs, dt, &mut exact);
            let reference = rk4(&b, 3, &start, &inputs, dt);
            for (e, r) in exact.iter().zip(&reference) {
                assert!(
                    (e - r).abs() <= 1e-9 * r.abs().max(1.0),
                    "dt {dt}: {e} vs {r}"
                );
            }
        }
    }

    #[test]
    fn projectors_sum_to_the_identity_and_rates_satisfy_the_characteristic_equation() {
        let b = mammillary(DOCETAXEL);
        let spectrum = Spectrum::of_matrix(&b, 3).expect("real spectrum");
        for row in 0..3 {
            for col in 0..3 {
                let sum: f64 = (0..3).map(|m| spectrum.projector(m)[row][col]).sum();
                let identity = if row == col { 1.0 } else { 0.0 };
                assert!((sum - identity).abs() < 1e-12, "({row},{col}) {sum}");
            }
        }
        // Trace and determinant are the sum and product of the eigenvalues.
        let [k10, _, k21, _, k31] = DOCETAXEL;
        let rates = spectrum.rates();
        let trace = b[0][0] + b[1][1] + b[2][2];
        assert!((rates.iter().sum::<f64>() - trace).abs() < 1e-12 * trace);
        let det = k10 * k21 * k31;
        assert!((rates.iter().product::<f64>() - det).abs() < 1e-10 * det);
    }

    #[test]
    fn one_and_two_compartment_blocks_have_their_textbook_closed_forms() {
        // One compartment: x(t) = x0·e^(−kt) + r·(1 − e^(−kt))/k.
        let k = 0.3;
        let one = Spectrum::of_matrix(&[[k, 0.0, 0.0], [0.0; 3], [0.0; 3]], 1).expect("1x1");
        let mut x = [0.0];
        one.advance(&[10.0], &[2.0], 4.0, &mut x);
        let expected = 10.0 * math::exp(-1.2_f64) + 2.0 * (1.0 - math::exp(-1.2_f64)) / k;
        assert!((x[0] - expected).abs() < 1e-13 * expected);
        // Two compartments, bolus into the central one: A_c(t) = D·Σ (k21 − λ_i)/(λ_j − λ_i)·e^(−λ_i t)
        // (Gibaldi & Perrier, Pharmacokinetics, 2nd ed., eq. 2.12).
        let (k10, k12, k21) = (0.2, 0.5, 0.1);
        let b = [[k10 + k12, -k21, 0.0], [-k12, k21, 0.0], [0.0; 3]];
        let two = Spectrum::of_matrix(&b, 2).expect("2x2");
        let [alpha, beta] = [two.rates()[0], two.rates()[1]];
        let t = 3.0;
        let expected = 100.0
            * ((k21 - alpha) / (beta - alpha) * math::exp(-alpha * t)
                + (k21 - beta) / (alpha - beta) * math::exp(-beta * t));
        let mut x = [0.0; 2];
        two.advance(&[100.0, 0.0], &[0.0, 0.0], t, &mut x);
        assert!(
            (x[0] - expected).abs() < 1e-12 * expected,
            "{} vs {expected}",
            x[0]
        );
    }

    #[test]
    fn degenerate_or_complex_blocks_are_declined() {
        // A triple eigenvalue.
        let triple = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        assert!(Spectrum::of_matrix(&triple, 3).is_none());
        // A rotation: complex eigenvalues.
        let rotation = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0; 3]];
        assert!(Spectrum::of_matrix(&rotation, 2).is_none());
        assert!(Spectrum::of_matrix(&triple, 0).is_none());
        assert!(Spectrum::of_matrix(&[[f64::NAN; 3]; 3], 1).is_none());
    }
}
