//! Adaptive Dormand–Prince 5(4) with dense output (Hairer, Nørsett & Wanner, *Solving Ordinary
//! Differential Equations I*, 2nd ed., §II.5 and §II.6; the coefficients are those of their DOPRI5).
//!
//! The solver never steps past a *stop time* (the next discontinuity: a dose, an infusion switch, a
//! reset), so a step always ends exactly on it. Between stops, values at intermediate times come
//! from the order-4 continuous extension, so output times cost no extra steps.

use crate::error::EngineError;
use crate::math;

/// Tolerances and limits of the adaptive solver.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SolverOptions {
    /// Relative tolerance. By default, this is `1e-6`.
    pub rtol: f64,
    /// Absolute tolerance, in state units. By default, this is `1e-9`.
    pub atol: f64,
    /// Largest number of steps between two consecutive stops. By default, this is `100_000`.
    pub max_steps: usize,
    /// Largest step size in model time units (`f64::INFINITY` for none). By default, this is
    /// `f64::INFINITY`.
    pub max_step: f64,
}

impl Default for SolverOptions {
    fn default() -> Self {
        Self {
            rtol: 1e-6,
            atol: 1e-9,
            max_steps: 100_000,
            max_step: f64::INFINITY,
        }
    }
}

impl SolverOptions {
    /// Checks that tolerances are positive and finite.
    ///
    /// # Errors
    /// Returns [`EngineError::Invalid`] naming the offending option.
    pub fn validate(&self) -> Result<(), EngineError> {
        if !(self.rtol > 0.0 && self.rtol.is_finite()) {
            return Err(EngineError::invalid(
                "rtol",
                format!("must be positive, got {}", self.rtol),
            ));
        }
        if !(self.atol > 0.0 && self.atol.is_finite()) {
            return Err(EngineError::invalid(
                "atol",
                format!("must be positive, got {}", self.atol),
            ));
        }
        if self.max_steps == 0 || self.max_step.is_nan() || self.max_step <= 0.0 {
            return Err(EngineError::invalid(
                "max_steps/max_step",
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// Counters of solver work, for performance snapshots in tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SolverStats {
    /// Accepted steps.
    pub accepted: usize,
    /// Rejected steps.
    pub rejected: usize,
    /// Right-hand-side evaluations.
    pub rhs_calls: usize,
}

// Butcher tableau of Dormand & Prince (1980), as in Hairer's DOPRI5.
const C2: f64 = 1.0 / 5.0;
const C3: f64 = 3.0 / 10.0;
const C4: f64 = 4.0 / 5.0;
const C5: f64 = 8.0 / 9.0;
const A21: f64 = 1.0 / 5.0;
const A31: f64 = 3.0 / 40.0;
const A32: f64 = 9.0 / 40.0;
const A41: f64 = 44.0 / 45.0;
const A42: f64 = -56.0 / 15.0;
const A43: f64 = 32.0 / 9.0;
const A51: f64 = 19372.0 / 6561.0;
const A52: f64 = -25360.0 / 2187.0;
const A53: f64 = 64448.0 / 6561.0;
const A54: f64 = -212.0 / 729.0;
const A61: f64 = 9017.0 / 3168.0;
const A62: f64 = -355.0 / 33.0;
const A63: f64 = 46732.0 / 5247.0;
const A64: f64 = 49.0 / 176.0;
const A65: f64 = -5103.0 / 18656.0;
const A71: f64 = 35.0 / 384.0;
const A73: f64 = 500.0 / 1113.0;
const A74: f64 = 125.0 / 192.0;
const A75: f64 = -2187.0 / 6784.0;
const A76: f64 = 11.0 / 84.0;
const E1: f64 = 71.0 / 57600.0;
const E3: f64 = -71.0 / 16695.0;
const E4: f64 = 71.0 / 1920.0;
const E5: f64 = -17253.0 / 339_200.0;
const E6: f64 = 22.0 / 525.0;
const E7: f64 = -1.0 / 40.0;
// Dense-output coefficients (Hairer's CONTD5).
const D1: f64 = -12_715_105_075.0 / 11_282_082_432.0;
const D3: f64 = 87_487_479_700.0 / 32_700_410_799.0;
const D4: f64 = -10_690_763_975.0 / 1_880_347_072.0;
const D5: f64 = 701_980_252_875.0 / 199_316_789_632.0;
const D6: f64 = -1_453_857_185.0 / 822_651_844.0;
const D7: f64 = 69_997_945.0 / 29_380_423.0;

/// Dormand–Prince 5(4) state with caller-reusable buffers.
///
/// Create once per thread and [`Dopri5::restart`] it for each interval between discontinuities;
/// nothing allocates after [`Dopri5::new`].
#[derive(Debug, Clone)]
pub struct Dopri5 {
    options: SolverOptions,
    t: f64,
    h: f64,
    y: Vec<f64>,
    k: [Vec<f64>; 2],
    y_stage: Vec<f64>,
    dense: [Vec<f64>; 5],
    t_old: f64,
    h_dense: f64,
    has_dense: bool,
    fsal_valid: bool,
    stats: SolverStats,
}

impl Dopri5 {
    /// A solver for systems with `n_states` states.
    #[must_use]
    pub fn new(n_states: usize, options: SolverOptions) -> Self {
        let v = || vec![0.0; n_states];
        Self {
            options,
            t: 0.0,
            h: 0.0,
            y: v(),
            k: [v(), v()],
            y_stage: v(),
            dense: [v(), v(), v(), v(), v()],
            t_old: 0.0,
            h_dense: 0.0,
            has_dense: false,
            fsal_valid: false,
            stats: SolverStats::default(),
        }
    }

    /// The solver's options.
    #[must_use]
    pub fn options(&self) -> &SolverOptions {
        &self.options
    }

    /// Work counters accumulated since construction.
    #[must_use]
    pub fn stats(&self) -> SolverStats {
        self.stats
    }

    /// Current time of the solution.
    #[must_use]
    pub fn t(&self) -> f64 {
        self.t
    }

    /// Current state.
    #[must_use]
    pub fn y(&self) -> &[f64] {
        &self.y
    }

    /// Forgets the step-size hint, so the next step size comes from the initial-step heuristic.
    ///
    /// Call this between independent problems (patients): a hint left by another patient would
    /// make results depend on which patients a thread solved before.
    pub fn forget_step_size(&mut self) {
        self.h = 0.0;
    }

    /// Restarts at `(t, y)` after a discontinuity. The last step size is kept as a hint.
    pub fn restart(&mut self, t: f64, y: &[f64]) {
        self.t = t;
        self.y.copy_from_slice(y);
        self.has_dense = false;
        self.fsal_valid = false;
    }

    /// Writes the solution at `t_out` into `y_out`, stepping forward as needed but never past `t_stop`.
    ///
    /// Requires `t() <= t_out <= t_stop` or `t_out` inside the last accepted step.
    ///
    /// # Errors
    /// Non-finite states, step-size underflow or an exhausted step budget.
    pub fn solve_to<F>(
        &mut self,
        f: &mut F,
        t_out: f64,
        t_stop: f64,
        y_out: &mut [f64],
    ) -> Result<(), EngineError>
    where
        F: FnMut(f64, &[f64], &mut [f64]),
    {
        let mut n_steps = 0usize;
        while self.t < t_out {
            if n_steps >= self.options.max_steps {
                return Err(EngineError::TooManySteps {
                    max_steps: self.options.max_steps,
                    t_start: self.t,
                    t_end: t_out,
                });
            }
            self.step(f, t_stop)?;
            n_steps += 1;
        }
        if t_out >= self.t {
            y_out.copy_from_slice(&self.y);
        } else {
            self.interpolate(t_out, y_out);
        }
        Ok(())
    }

    /// Writes the dense-output value at `t_out`, which must lie inside the last accepted step.
    fn interpolate(&self, t_out: f64, y_out: &mut [f64]) {
        debug_assert!(self.has_dense, "interpolation requires an accepted step");
        let theta = (t_out - self.t_old) / self.h_dense;
        let theta1 = 1.0 - theta;
        let [r1, r2, r3, r4, r5] = &self.dense;
        for i in 0..y_out.len() {
            y_out[i] =
                r1[i] + theta * (r2[i] + theta1 * (r3[i] + theta * (r4[i] + theta1 * r5[i])));
        }
    }

    /// Initial step size by Hairer's heuristic (HINIT), using one extra right-hand-side call.
    fn initial_step<F>(&mut self, f: &mut F, t_stop: f64) -> f64
    where
        F: FnMut(f64, &[f64], &mut [f64]),
    {
        let (rtol, atol) = (self.options.rtol, self.options.atol);
        let n = self.y.len().max(1) as f64;
        let mut d0 = 0.0;
        let mut d1 = 0.0;
        for i in 0..self.y.len() {
            let sc = atol + rtol * self.y[i].abs();
            d0 += math::powi(self.y[i] / sc, 2);
            d1 += math::powi(self.k[0][i] / sc, 2);
        }
        let (d0, d1) = ((d0 / n).sqrt(), (d1 / n).sqrt());
        let span = t_stop - self.t;
        let mut h0 = if d0 < 1e-5 || d1 < 1e-5 {
            1e-6
        } else {
            0.01 * d0 / d1
        };
        h0 = h0.min(span).min(self.options.max_step);
        for i in 0..self.y.len() {
            self.y_stage[i] = self.y[i] + h0 * self.k[0][i];
        }
        f(self.t + h0, &self.y_stage, &mut self.k[1]);
        self.stats.rhs_calls += 1;
        let mut d2 = 0.0;
        for i in 0..self.y.len() {
            let sc = atol + rtol * self.y[i].abs();
            d2 += math::powi((self.k[1][i] - self.k[0][i]) / sc, 2);
        }
        let d2 = (d2 / n).sqrt() / h0;
        let h1 = if d1.max(d2) <= 1e-15 {
            (h0 * 1e-3).max(1e-6)
        } else {
            math::pow(0.01 / d1.max(d2), 0.2)
        };
        (100.0 * h0).min(h1).min(span).min(self.options.max_step)
    }

    /// Takes one accepted step (retrying rejected ones), ending at `t_stop` at the latest.
    ///
    /// The stages live in stack arrays of a compile-time size: exact for small systems (so loops
    /// unroll, as in a hand-written solver), [`MAX_STATES`] otherwise.
    fn step<F>(&mut self, f: &mut F, t_stop: f64) -> Result<(), EngineError>
    where
        F: FnMut(f64, &[f64], &mut [f64]),
    {
        if !self.fsal_valid {
            f(self.t, &self.y, &mut self.k[0]);
            self.stats.rhs_calls += 1;
            self.fsal_valid = true;
            if self.h <= 0.0 || !self.h.is_finite() {
                self.h = self.initial_step(f, t_stop);
            }
        }
        match self.y.len() {
            1 => self.step_kernel::<F, 1>(f, t_stop, 1),
            2 => self.step_kernel::<F, 2>(f, t_stop, 2),
            3 => self.step_kernel::<F, 3>(f, t_stop, 3),
            4 => self.step_kernel::<F, 4>(f, t_stop, 4),
            5 => self.step_kernel::<F, 5>(f, t_stop, 5),
            6 => self.step_kernel::<F, 6>(f, t_stop, 6),
            7 => self.step_kernel::<F, 7>(f, t_stop, 7),
            8 => self.step_kernel::<F, 8>(f, t_stop, 8),
            n if n <= 16 => self.step_kernel::<F, 16>(f, t_stop, n),
            n => self.step_kernel::<F, MAX_STATES>(f, t_stop, n),
        }
    }

    /// One Dormand–Prince step for `n ≤ N` states, with stage vectors on the stack.
    fn step_kernel<F, const N: usize>(
        &mut self,
        f: &mut F,
        t_stop: f64,
        n: usize,
    ) -> Result<(), EngineError>
    where
        F: FnMut(f64, &[f64], &mut [f64]),
    {
        let (rtol, atol) = (self.options.rtol, self.options.atol);
        let mut y = [0.0; N];
        y[..n].copy_from_slice(&self.y);
        let mut k = [[0.0; N]; 7];
        k[0][..n].copy_from_slice(&self.k[0]);
        let mut ys = [0.0; N];
        let mut yn = [0.0; N];
        let mut h = self.h.min(self.options.max_step);
        let mut rejected_before = false;
        loop {
            let mut last = false;
            if self.t + h >= t_stop || self.t + 1.01 * h >= t_stop {
                h = t_stop - self.t;
                last = true;
            }
            if h <= f64::EPSILON * 16.0 * self.t.abs().max(1.0) {
                return Err(EngineError::StepSizeUnderflow { t: self.t, h });
            }
            let t = self.t;
            let [k1, k2, k3, k4, k5, k6, k7] = &mut k;
            for i in 0..n {
                ys[i] = y[i] + h * A21 * k1[i];
            }
            f(t + C2 * h, &ys[..n], &mut k2[..n]);
            for i in 0..n {
                ys[i] = y[i] + h * (A31 * k1[i] + A32 * k2[i]);
            }
            f(t + C3 * h, &ys[..n], &mut k3[..n]);
            for i in 0..n {
                ys[i] = y[i] + h * (A41 * k1[i] + A42 * k2[i] + A43 * k3[i]);
            }
            f(t + C4 * h, &ys[..n], &mut k4[..n]);
            for i in 0..n {
                ys[i] = y[i] + h * (A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i]);
            }
            f(t + C5 * h, &ys[..n], &mut k5[..n]);
            for i in 0..n {
                ys[i] = y[i]
                    + h * (A61 * k1[i] + A62 * k2[i] + A63 * k3[i] + A64 * k4[i] + A65 * k5[i]);
            }
            let t_new = if last { t_stop } else { t + h };
            f(t_new, &ys[..n], &mut k6[..n]);
            for i in 0..n {
                yn[i] = y[i]
                    + h * (A71 * k1[i] + A73 * k3[i] + A74 * k4[i] + A75 * k5[i] + A76 * k6[i]);
            }
            f(t_new, &yn[..n], &mut k7[..n]);
            self.stats.rhs_calls += 6;
            let mut err = 0.0;
            for i in 0..n {
                let sc = atol + rtol * y[i].abs().max(yn[i].abs());
                let e = h
                    * (E1 * k1[i] + E3 * k3[i] + E4 * k4[i] + E5 * k5[i] + E6 * k6[i] + E7 * k7[i]);
                err += (e / sc) * (e / sc);
            }
            let err = (err / n.max(1) as f64).sqrt();
            if !err.is_finite() {
                if yn[..n].iter().any(|v| !v.is_finite()) && h <= 1e-10 * t.abs().max(1.0) {
                    return Err(EngineError::NonFinite { t });
                }
                h *= 0.1;
                rejected_before = true;
                self.stats.rejected += 1;
                continue;
            }
            // Step-size controller of Hairer's DOPRI5 without the PI term: safety 0.9, factor in
            // [0.2, 10], `err^(−1/5)` as `exp(−ln(err)/5)` (a heuristic needs no last-bit accuracy;
            // one exp and one ln cost a fraction of `pow`, which took 9 % of a forecast).
            let mut factor = (0.9 * math::exp(-0.2 * math::ln(err))).clamp(0.2, 10.0);
            if err > 1.0 {
                h *= factor.min(1.0);
                rejected_before = true;
                self.stats.rejected += 1;
                continue;
            }
            if yn[..n].iter().any(|v| !v.is_finite()) {
                return Err(EngineError::NonFinite { t: t_new });
            }
            // Dense output of the accepted step (Hairer's CONTD5 coefficients).
            let [r1, r2, r3, r4, r5] = &mut self.dense;
            for i in 0..n {
                let ydiff = yn[i] - y[i];
                let bspl = h * k1[i] - ydiff;
                r1[i] = y[i];
                r2[i] = ydiff;
                r3[i] = bspl;
                r4[i] = ydiff - h * k7[i] - bspl;
                r5[i] = h
                    * (D1 * k1[i] + D3 * k3[i] + D4 * k4[i] + D5 * k5[i] + D6 * k6[i] + D7 * k7[i]);
            }
            self.t_old = t;
            self.h_dense = h;
            self.has_dense = true;
            self.y.copy_from_slice(&yn[..n]);
            self.k[0].copy_from_slice(&k7[..n]);
            self.t = t_new;
            if rejected_before {
                factor = factor.min(1.0);
            }
            if !last {
                self.h = (h * factor).min(self.options.max_step);
            }
            self.stats.accepted += 1;
            return Ok(());
        }
    }
}

/// Largest number of states the solver supports.
pub const MAX_STATES: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;

    #[test]
    fn exponential_decay_matches_closed_form_at_dense_and_step_points() {
        // Closed form y(t) = y0 · e^(−k t) (twin_engine::reference::exponential_decay).
        let k = 0.3;
        let mut solver = Dopri5::new(
            1,
            SolverOptions {
                rtol: 1e-10,
                atol: 1e-12,
                ..SolverOptions::default()
            },
        );
        solver.restart(0.0, &[5.0]);
        let mut f = |_t: f64, y: &[f64], dy: &mut [f64]| dy[0] = -k * y[0];
        let mut out = [0.0];
        for i in 1..=40 {
            let t = f64::from(i) * 0.25;
            solver.solve_to(&mut f, t, 10.0, &mut out).unwrap();
            let expected = reference::exponential_decay(5.0, k, t);
            assert!(
                (out[0] - expected).abs() <= 1e-8 * expected,
                "t={t}: {} vs {expected}",
                out[0]
            );
        }
        assert!((solver.t() - 10.0).abs() < f64::EPSILON * 10.0 || solver.t() <= 10.0);
    }

    #[test]
    fn harmonic_oscillator_keeps_amplitude_with_default_tolerances() {
        // y'' = −y with y(0) = 1, y'(0) = 0 has closed form cos t.
        let mut solver = Dopri5::new(2, SolverOptions::default());
        solver.restart(0.0, &[1.0, 0.0]);
        let mut f = |_t: f64, y: &[f64], dy: &mut [f64]| {
            dy[0] = y[1];
            dy[1] = -y[0];
        };
        let mut out = [0.0; 2];
        solver.solve_to(&mut f, 20.0, 20.0, &mut out).unwrap();
        assert!((out[0] - math::cos(20f64)).abs() < 1e-4, "{}", out[0]);
        // A step ends exactly on the stop time.
        assert!((solver.t() - 20.0).abs() <= 0.0_f64.max(f64::EPSILON * 20.0));
    }

    #[test]
    fn blow_up_is_reported_with_its_time() {
        // dy/dt = y² from y(0) = 1 explodes at t = 1 (closed form 1/(1 − t)).
        let mut solver = Dopri5::new(1, SolverOptions::default());
        solver.restart(0.0, &[1.0]);
        let mut f = |_t: f64, y: &[f64], dy: &mut [f64]| dy[0] = y[0] * y[0];
        let mut out = [0.0];
        let err = solver.solve_to(&mut f, 2.0, 2.0, &mut out).unwrap_err();
        let t = match err {
            EngineError::StepSizeUnderflow { t, .. } | EngineError::NonFinite { t } => t,
            EngineError::TooManySteps { t_start, .. } => t_start,
            other => panic!("unexpected error {other}"),
        };
        assert!((t - 1.0).abs() < 1e-3, "failure reported at t = {t}");
    }
}
