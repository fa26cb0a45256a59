//! The Friberg cell chain shared by every myelosuppression version: drug disposition, the
//! proliferation–transit–circulation dynamics with feedback, outcomes from the output grid and
//! virtual-patient covariates.
//!
//! Every version lays out its parameters as `[BASE, MTT, SLOPE, GAMMA, pk…]` and its states as
//! `[pk amounts…, PROL, TRANSIT1, TRANSIT2, TRANSIT3, CIRC]`, with outputs `[cells, concentration]`.

use twin_engine::math;
use twin_engine::model::{CovariateSpec, Interpolation, OutcomeKind, OutcomeSpec, StateSpec};
use twin_engine::population::{RandomEffect, Transform};
use twin_engine::random::RandomStream;
use twin_engine::spectral::{BlockMatrix, Spectrum};

/// Index of the baseline count (`BASE`, `CIRC0`) in every version's parameter vector.
pub(super) const BASE: usize = 0;
/// Index of the mean transit time `MTT` (h).
pub(super) const MTT: usize = 1;
/// Index of the linear drug-effect slope, per µmol/L.
pub(super) const SLOPE: usize = 2;
/// Index of the feedback exponent γ.
pub(super) const GAMMA: usize = 3;
/// Index of the first pharmacokinetic parameter.
pub(super) const FIRST_PK: usize = 4;

/// Number of cell states: `PROL`, three transit compartments, `CIRC`.
const N_CELL_STATES: usize = 5;

/// Index of the observed cell count among the outputs.
const CELLS_OUTPUT: usize = 0;
/// Index of the drug concentration among the outputs.
const CONCENTRATION_OUTPUT: usize = 1;
/// Number of outputs of every version.
const N_OUTPUTS: usize = 2;

/// Lower bound on `CIRC` inside the feedback term `(BASE/CIRC)^γ`, in ×10⁹/L: one cell per litre.
///
/// The term is singular as `CIRC → 0`. In a peer comparison (`docs/models/neutropenia.md`
/// §Equations, numerical guard) extreme virtual patients (nadir near 1e-8 ×10⁹/L) broke CVODE,
/// LSODA and a BDF solver; a solver step that overshoots to `CIRC ≤ 0` would also make the power
/// NaN. The bundle code has no floor; at one cell per litre the feedback is at most `(BASE/1e-9)^γ`
/// (≈ 23 for Kloft's γ and BASE), so any trajectory that stays above 1e-9 ×10⁹/L is integrated
/// exactly as written.
pub(super) const CIRC_FLOOR: f64 = 1e-9;

/// How the drug is distributed and eliminated, and how its amount becomes a concentration.
#[derive(Debug, Clone, Copy)]
pub(super) enum Disposition {
    /// Three compartments with micro-constants, parameters `[K10, K12, K21, K13, K31, V1]`,
    /// amounts in mg, output concentration in mg/L; the drug effect uses µmol/L =
    /// `mg/L · 1000 / molar_mass`.
    ThreeCompartmentMicro {
        /// Molar mass in g/mol used to convert mg/L into µmol/L.
        molar_mass_g_per_mol: f64,
    },
    /// Two compartments, parameters `[CL, V1, Q, V2]`, amounts in µmol, concentration (and drug
    /// effect) in µmol/L.
    TwoCompartmentClearance,
}

impl Disposition {
    /// Number of pharmacokinetic states.
    pub(super) fn n_states(self) -> usize {
        match self {
            Self::ThreeCompartmentMicro { .. } => 3,
            Self::TwoCompartmentClearance => 2,
        }
    }

    /// Writes the amount derivatives (without zero-order inputs, which the engine adds).
    fn rhs(self, amounts: &[f64], pk: &[f64], d_amounts: &mut [f64]) {
        match self {
            Self::ThreeCompartmentMicro { .. } => {
                let [k10, k12, k21, k13, k31] = [pk[0], pk[1], pk[2], pk[3], pk[4]];
                let (central, periph1, periph2) = (amounts[0], amounts[1], amounts[2]);
                d_amounts[0] = -(k10 + k12 + k13) * central + k21 * periph1 + k31 * periph2;
                d_amounts[1] = k12 * central - k21 * periph1;
                d_amounts[2] = k13 * central - k31 * periph2;
            }
            Self::TwoCompartmentClearance => {
                let [cl, v1, q, v2] = [pk[0], pk[1], pk[2], pk[3]];
                let (central, periph) = (amounts[0], amounts[1]);
                d_amounts[0] = -(q + cl) / v1 * central + q / v2 * periph;
                d_amounts[1] = q / v1 * central - q / v2 * periph;
            }
        }
    }

    /// The disposition matrix `B` of `d(amounts)/dt = −B·amounts` (the rows of [`Self::rhs`]).
    fn matrix(self, pk: &[f64]) -> BlockMatrix {
        match self {
            Self::ThreeCompartmentMicro { .. } => {
                let [k10, k12, k21, k13, k31] = [pk[0], pk[1], pk[2], pk[3], pk[4]];
                [
                    [k10 + k12 + k13, -k21, -k31],
                    [-k12, k21, 0.0],
                    [-k13, 0.0, k31],
                ]
            }
            Self::TwoCompartmentClearance => {
                let [cl, v1, q, v2] = [pk[0], pk[1], pk[2], pk[3]];
                [
                    [(q + cl) / v1, -q / v2, 0.0],
                    [-q / v1, q / v2, 0.0],
                    [0.0; 3],
                ]
            }
        }
    }

    /// Central concentration in output units (mg/L or µmol/L).
    fn concentration(self, amounts: &[f64], pk: &[f64]) -> f64 {
        match self {
            Self::ThreeCompartmentMicro { .. } => amounts[0] / pk[5],
            Self::TwoCompartmentClearance => amounts[0] / pk[1],
        }
    }

    /// The concentration that drives the drug effect, in µmol/L.
    fn effect_concentration(self, amounts: &[f64], pk: &[f64]) -> f64 {
        let concentration = self.concentration(amounts, pk);
        match self {
            Self::ThreeCompartmentMicro {
                molar_mass_g_per_mol,
            } => concentration * 1000.0 / molar_mass_g_per_mol,
            Self::TwoCompartmentClearance => concentration,
        }
    }
}

/// How a virtual patient's covariates are drawn ([`FribergCore::sample_covariates`]).
#[derive(Debug, Clone, Copy)]
pub(super) enum CovariateDraws {
    /// Kloft 2006 covariates `[SEX, PERF, PC, AAG, BSA]`.
    Kloft,
    /// Body-surface area only, `[BSA]`.
    BodySurfaceArea,
}

/// Typical body-surface area of a virtual adult, m² (\[A\] assumed; also the covariate reference).
pub(super) const BSA_MEAN: f64 = 1.8;
/// Standard deviation of the virtual body-surface area, m² (\[A\] assumed).
const BSA_SD: f64 = 0.2;
/// Truncation of the virtual body-surface area, m² (\[A\] assumed: ±3.5 SD, adult range).
const BSA_RANGE: (f64, f64) = (1.1, 2.5);
/// Probability of female sex (SEX = 2) in a virtual cohort (\[A\] assumed).
const P_FEMALE: f64 = 0.5;
/// Probabilities of performance status 0 and 1; status 2 takes the rest (\[A\] assumed).
const P_PERF: [f64; 2] = [0.35, 0.55];
/// Probability of prior chemotherapy (PC = 1) (\[A\] assumed).
const P_PRIOR_CHEMO: f64 = 0.5;
/// Median α1-acid glycoprotein, g/L: the centring value of Kloft 2006 (\[R\] bundle 224 .mod).
pub(super) const AAG_MEDIAN: f64 = 1.34;
/// Standard deviation of log AAG in a virtual cohort (\[A\] assumed: CV ≈ 30 %).
const AAG_LOG_SD: f64 = 0.3;
/// Truncation of virtual AAG, g/L (\[A\] assumed; the upper end keeps Kloft's SL factor
/// `1 − 0.3507·(AAG − 1.34)` positive).
const AAG_RANGE: (f64, f64) = (0.4, 4.0);

/// Index of SEX among the Kloft covariates (1 male, 2 female).
pub(super) const SEX: usize = 0;
/// Index of PERF (performance status).
pub(super) const PERF: usize = 1;
/// Index of PC (prior chemotherapy, 0/1).
pub(super) const PRIOR_CHEMO: usize = 2;
/// Index of AAG (α1-acid glycoprotein, g/L).
pub(super) const AAG: usize = 3;
/// Index of BSA (m²).
const KLOFT_BSA: usize = 4;

/// Grade thresholds of the observed cell count, ×10⁹/L.
#[derive(Debug, Clone, Copy)]
pub(super) struct GradeThresholds {
    /// Grade 3 or worse below this count.
    pub(super) grade3: f64,
    /// Grade 4 below this count.
    pub(super) grade4: f64,
}

/// Everything a version adds to its [`twin_engine::ModelSpec`] to run the Friberg chain.
#[derive(Debug, Clone, Copy)]
pub(super) struct FribergCore {
    pub(super) disposition: Disposition,
    pub(super) grades: GradeThresholds,
    pub(super) covariate_draws: CovariateDraws,
}

impl FribergCore {
    /// Pharmacokinetic then cell-chain derivatives.
    ///
    /// `dPROL = k_tr·PROL·(1 − E)·(BASE/max(CIRC, floor))^γ − k_tr·PROL`, `E = SLOPE·C[µM]`,
    /// `dTRANSITi = k_tr·(previous − TRANSITi)`, `dCIRC = k_tr·(TRANSIT3 − CIRC)`, `k_tr = 4/MTT`.
    /// `(1 − E)` is not floored, as in the bundle code: proliferation reverses when `E > 1`.
    /// The feedback is evaluated as `exp(γ·ln(BASE/CIRC))`: one `exp` and one `ln` take a
    /// fraction of the time of the `libm` crate's `pow` (the hottest function of a forecast
    /// before; benches/README.md), and with `|γ·ln(BASE/CIRC)| ≲ 1` here the result is within a
    /// few ulp of `pow`'s, far inside the solver's tolerance.
    pub(super) fn rhs(&self, y: &[f64], p: &[f64], dy: &mut [f64]) {
        let n_pk = self.disposition.n_states();
        let (amounts, cells) = y.split_at(n_pk);
        let (d_amounts, d_cells) = dy.split_at_mut(n_pk);
        let pk = &p[FIRST_PK..];
        self.disposition.rhs(amounts, pk, d_amounts);
        let effect = p[SLOPE] * self.disposition.effect_concentration(amounts, pk);
        let k_tr = 4.0 / p[MTT];
        let [prol, transit1, transit2, transit3, circ] =
            [cells[0], cells[1], cells[2], cells[3], cells[4]];
        let feedback = math::exp(p[GAMMA] * math::ln(p[BASE] / circ.max(CIRC_FLOOR)));
        d_cells[0] = k_tr * prol * (1.0 - effect) * feedback - k_tr * prol;
        d_cells[1] = k_tr * (prol - transit1);
        d_cells[2] = k_tr * (transit1 - transit2);
        d_cells[3] = k_tr * (transit2 - transit3);
        d_cells[4] = k_tr * (transit3 - circ);
    }

    /// The drug amounts are linear and do not depend on the cells: the engine propagates them
    /// exactly ([`twin_engine::Model::linear_head`]).
    pub(super) fn linear_head(&self, p: &[f64]) -> Option<Spectrum> {
        let disposition = self.disposition;
        Spectrum::of_matrix(&disposition.matrix(&p[FIRST_PK..]), disposition.n_states())
    }

    /// No drug on board; every cell compartment at the baseline count (the steady state).
    pub(super) fn initial_state(&self, p: &[f64], y: &mut [f64]) {
        let n_pk = self.disposition.n_states();
        y[..n_pk].fill(0.0);
        y[n_pk..n_pk + N_CELL_STATES].fill(p[BASE]);
    }

    /// `[CIRC, concentration]`.
    pub(super) fn outputs(&self, y: &[f64], p: &[f64], out: &mut [f64]) {
        let n_pk = self.disposition.n_states();
        out[CELLS_OUTPUT] = y[n_pk + N_CELL_STATES - 1];
        out[CONCENTRATION_OUTPUT] = self.disposition.concentration(&y[..n_pk], &p[FIRST_PK..]);
    }

    /// Outcomes from the output grid, in the order of [`grade_outcomes`]. Times are grid times.
    pub(super) fn outcomes(&self, times: &[f64], outputs: &[f64], p: &[f64], out: &mut [f64]) {
        let cells = |idx: usize| outputs[idx * N_OUTPUTS + CELLS_OUTPUT];
        let first_below = |threshold: f64| {
            (0..times.len())
                .find(|&idx| cells(idx) < threshold)
                .map_or(f64::NAN, |idx| times[idx])
        };
        let mut nadir_idx: Option<usize> = None;
        for idx in 0..times.len() {
            if nadir_idx.is_none_or(|best| cells(idx) < cells(best)) {
                nadir_idx = Some(idx);
            }
        }
        let grade4_duration: f64 = times
            .windows(2)
            .enumerate()
            .filter(|&(idx, _)| cells(idx) < self.grades.grade4)
            .map(|(_, pair)| pair[1] - pair[0])
            .sum();
        let baseline = p[BASE];
        let recovery = nadir_idx
            .filter(|&nadir| cells(nadir) < baseline)
            .and_then(|nadir| (nadir + 1..times.len()).find(|&idx| cells(idx) >= baseline))
            .map_or(f64::NAN, |idx| times[idx]);
        out[0] = first_below(self.grades.grade3);
        out[1] = first_below(self.grades.grade4);
        out[2] = grade4_duration;
        out[3] = nadir_idx.map_or(f64::NAN, cells);
        // Every version's time unit is the hour.
        out[4] = nadir_idx.map_or(f64::NAN, |idx| times[idx] / 24.0);
        out[5] = recovery;
    }

    /// Draws a virtual patient's covariates (all distributions \[A\] assumed, see the constants).
    pub(super) fn sample_covariates(&self, stream: &mut RandomStream, covariates: &mut [f64]) {
        match self.covariate_draws {
            CovariateDraws::Kloft => {
                covariates[SEX] = if stream.uniform() < P_FEMALE {
                    2.0
                } else {
                    1.0
                };
                let u = stream.uniform();
                covariates[PERF] = if u < P_PERF[0] {
                    0.0
                } else if u < P_PERF[0] + P_PERF[1] {
                    1.0
                } else {
                    2.0
                };
                covariates[PRIOR_CHEMO] = if stream.uniform() < P_PRIOR_CHEMO {
                    1.0
                } else {
                    0.0
                };
                covariates[AAG] = truncated(stream, AAG_RANGE, |z| {
                    AAG_MEDIAN * math::exp(AAG_LOG_SD * z)
                });
                covariates[KLOFT_BSA] = body_surface_area(stream);
            }
            // BSA is these versions' only covariate.
            CovariateDraws::BodySurfaceArea => covariates[0] = body_surface_area(stream),
        }
    }
}

/// Normal body-surface area, truncated to [`BSA_RANGE`].
fn body_surface_area(stream: &mut RandomStream) -> f64 {
    truncated(stream, BSA_RANGE, |z| BSA_MEAN + BSA_SD * z)
}

/// `draw(z)` for standard normal `z`, redrawn until it falls in `range` (rejection sampling; both
/// ranges used here hold more than 99.9 % of the mass, so a redraw is rare).
fn truncated(stream: &mut RandomStream, range: (f64, f64), draw: impl Fn(f64) -> f64) -> f64 {
    loop {
        let value = draw(stream.normal());
        if (range.0..=range.1).contains(&value) {
            return value;
        }
    }
}

/// The five cell states after the pharmacokinetic ones.
pub(super) fn cell_states() -> [StateSpec; N_CELL_STATES] {
    ["PROL", "TRANSIT1", "TRANSIT2", "TRANSIT3", "CIRC"].map(|name| StateSpec {
        name,
        unit: "10^9/L",
    })
}

/// Body-surface area covariate (for mg/m² dosing), reference [`BSA_MEAN`].
pub(super) fn bsa_covariate() -> CovariateSpec {
    CovariateSpec {
        name: "BSA",
        unit: "m2",
        reference: BSA_MEAN,
        lower: 0.5,
        upper: 3.5,
        interpolation: Interpolation::Locf,
    }
}

/// Log-normal random effects on `(parameter, ω²)` pairs, with a diagonal Ω (row-major).
pub(super) fn diagonal_log_normal(effects: &[(usize, f64)]) -> (Vec<RandomEffect>, Vec<f64>) {
    let n = effects.len();
    let mut omega = vec![0.0; n * n];
    for (idx, &(_, variance)) in effects.iter().enumerate() {
        omega[idx * n + idx] = variance;
    }
    let random_effects = effects
        .iter()
        .map(|&(parameter, _)| RandomEffect {
            parameter,
            transform: Transform::LogNormal,
        })
        .collect();
    (random_effects, omega)
}

/// Descriptions of the outcomes that depend on the cell type and its grade thresholds.
pub(super) struct OutcomeTexts {
    pub(super) grade3: &'static str,
    pub(super) grade4: &'static str,
    pub(super) grade4_duration: &'static str,
    pub(super) nadir_name: &'static str,
    pub(super) nadir: &'static str,
}

/// The six outcomes every version computes, in the order written by [`FribergCore::outcomes`].
pub(super) fn grade_outcomes(texts: &OutcomeTexts) -> Vec<OutcomeSpec> {
    vec![
        OutcomeSpec {
            name: "grade3",
            unit: "h",
            kind: OutcomeKind::TimeToEvent,
            description: texts.grade3,
        },
        OutcomeSpec {
            name: "grade4",
            unit: "h",
            kind: OutcomeKind::TimeToEvent,
            description: texts.grade4,
        },
        OutcomeSpec {
            name: "grade4_duration",
            unit: "h",
            kind: OutcomeKind::Value,
            description: texts.grade4_duration,
        },
        OutcomeSpec {
            name: texts.nadir_name,
            unit: "10^9/L",
            kind: OutcomeKind::Value,
            description: texts.nadir,
        },
        OutcomeSpec {
            name: "nadir_day",
            unit: "d",
            kind: OutcomeKind::Value,
            description: "day of the nadir: first output time of the lowest count, in days",
        },
        OutcomeSpec {
            name: "recovery",
            unit: "h",
            kind: OutcomeKind::TimeToEvent,
            description: "first output time after the nadir at which the count is back at or \
                          above the patient's baseline (BASE); censored when the count never \
                          fell below baseline or had not recovered by the end of the grid",
        },
    ]
}
