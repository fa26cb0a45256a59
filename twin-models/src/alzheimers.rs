//! Alzheimer's disease progression on the ADAS-Cog scale: the Conrado 2014 Richards model of
//! control arms (DDMoRe DDMODEL00000290), with assumed symptomatic and disease-modifying drug
//! effects.
//!
//! | type | id | version | time unit |
//! | --- | --- | --- | --- |
//! | [`ConradoAdasCogV1`] | `alzheimers` | 1 | days |
//!
//! # Control model (Conrado DJ et al., J Pharmacokinet Pharmacodyn 2014;41:581–598, bundle 290)
//!
//! ADAS-Cog (0–70 points, higher is worse) follows a Richards logistic on the 0–1 scale,
//! `μ = ADAS/70`, with `t_yr = t_days / 365.25`:
//!
//! ```text
//! d(70μ)/dt_yr = SL · (70μ) · (1 − μ^s),   70μ(0) = BL
//! μ(t) = BL / [BL^s + (70^s − BL^s)·e^(−s·SL·t_yr)]^(1/s)          (closed form, no drug)
//! BL = TVBL · BLCOV · e^η1                                           (log-normal)
//! SL = TVSL · SLCOV + η2                                             (η2 additive, NOT × SLCOV)
//! BLCOV = (θ5 if SEX = 2) · (1 + θ9·(APOE4C − 0.72))
//! SLCOV = (1 + θ6·(AGE − 75)) · (1 + θ7·(APOE4C − 0.72)) · (1 + θ8 if COMED2 = 0)
//! (η1, η2) ~ N(0, Ω),  Ω = [[0.15599, 0.022350], [0.022350, 0.041272]]
//! DV/70 ~ Beta(μ·τ, (1 − μ)·τ),  τ = 87.533,  Var = μ(1 − μ)/(τ + 1)
//! ```
//!
//! The study-level random effects η3/η4 and the study-1131 scale factors of the `.mod` are not
//! simulated: a virtual patient belongs to no study. A trial simulator may add a study effect
//! later.
//!
//! # Drug effects (all \[A\] assumed; the bundle has none)
//!
//! Two treatment states receive zero-order inputs from a regimen; the model reads the *input
//! rate* (not the amount): a drug is "on" while its input rate is positive.
//!
//! ```text
//! on_sym = [input into SYMPTOMATIC (CMT 2) > 0]
//! on_dm  = [input into DISEASE_MODIFYING (CMT 3) > 0]
//! d(DISEASE)/dt = SL/365.25 · (1 − DM_FRACTION·on_dm) · DISEASE · (1 − (DISEASE/70)^s)
//! d(SYM_EFFECT)/dt = (ln 2 / T_HALF_SYM) · (E_SYM·on_sym − SYM_EFFECT)
//! d(SYMPTOMATIC)/dt = input rate,  d(DISEASE_MODIFYING)/dt = input rate   (cumulative amounts)
//! ADAS = clamp(DISEASE − SYM_EFFECT, 0, 70)
//! ```
//!
//! The built-in therapies give 1 notional mg over 78 weeks (546 days). The amount only carries the
//! on/off signal: there is no dose–response, and a bolus into a treatment state switches nothing
//! on (it only adds to the cumulative amount).
//!
//! # Observation error
//!
//! The published observation model is a beta distribution; the engine's [`ResidualError`] has no
//! beta variant, so [`observe_adas`] samples it here (from [`sample_beta`], built on the
//! Marsaglia–Tsang [`sample_gamma`]). The declared residual error that `twin simulate
//! --with-error` applies is an additive approximation, SD 3.59 points (the beta SD at the typical
//! 1-year value, `docs/models/alzheimers.md` §Control model \[D\]), \[A\] assumed.

use twin_engine::math;
use twin_engine::model::{
    CovariateSpec, DoseModifiers, Interpolation, Model, ModelSpec, OutcomeKind, OutcomeSpec,
    OutputSpec, ParameterSpec, StateSpec, TherapySpec, TimeUnit,
};
use twin_engine::population::{
    CovariateEffect, RandomEffect, ResidualError, Transform, VariabilityModel,
};
use twin_engine::random::RandomStream;

/// Citation of the parameter estimates: the real-data `.lst` of DDMoRe bundle 290.
macro_rules! conrado {
    () => {
        "Conrado DJ et al., J Pharmacokinet Pharmacodyn 2014;41:581-598; DDMoRe \
         DDMODEL00000290 real-data .lst (docs/models/alzheimers.md §Control model) [R]"
    };
}

/// Upper end of the ADAS-Cog scale, in points.
pub const ADAS_MAX: f64 = 70.0;

/// Days per year used to convert the model's per-year slope to the day time axis (the `.mod`
/// divides days by 365.25).
pub const DAYS_PER_YEAR: f64 = 365.25;

/// The time of `adas_change_18m`: 78 weeks = 546 days, the usual 18-month AD trial visit.
pub const EIGHTEEN_MONTHS_DAYS: f64 = 546.0;

/// Largest distance between the grid time used for `adas_change_18m` and 546 days: a ±14-day
/// visit window \[A\] assumed, a common trial visit window.
pub const VISIT_WINDOW_DAYS: f64 = 14.0;

/// Worsening from baseline that counts as `decline_4pt`, in ADAS-Cog points \[A\] assumed: the
/// 4-point change often quoted as clinically meaningful; no minimal clinically important
/// difference was obtained (`docs/models/alzheimers.md` §Not obtained).
pub const DECLINE_THRESHOLD_POINTS: f64 = 4.0;

/// Clipping of the mean on the 0–1 scale before beta sampling, as the `.mod` clips DV to
/// [0.001, 0.999], so that both beta shape parameters stay positive.
const BETA_MEAN_CLIP: (f64, f64) = (0.001, 0.999);

/// Additive residual SD in ADAS points declared for the engine's generic residual error: the beta
/// SD at the typical 1-year ADAS-Cog of 25.855 points (`docs/models/alzheimers.md` §Check numbers
/// \[D\]); \[A\] assumed as a stand-in for the beta observation model.
const ADDITIVE_RESIDUAL_SD: f64 = 3.59;

/// State indices.
const DISEASE: usize = 0;
const SYMPTOMATIC: usize = 1;
const DISEASE_MODIFYING: usize = 2;
const SYM_EFFECT: usize = 3;

/// Parameter indices.
const BL: usize = 0;
const SL: usize = 1;
const SHAPE: usize = 2;
const TAU: usize = 3;
const E_SYM: usize = 4;
const T_HALF_SYM: usize = 5;
const DM_FRACTION: usize = 6;

/// Covariate indices.
const SEX: usize = 0;
const AGE: usize = 1;
const APOE4C: usize = 2;
const COMED2: usize = 3;

/// Outcome indices.
const CHANGE_18M: usize = 0;
const CHANGE_END: usize = 1;
const DECLINE_4PT: usize = 2;

/// Mean and SD (years) of the sampled age, and its truncation range \[A\] assumed: a typical
/// mild-to-moderate AD trial population.
const AGE_MEAN: f64 = 75.0;
const AGE_SD: f64 = 8.0;
const AGE_RANGE: (f64, f64) = (55.0, 90.0);
/// Probability that a sampled patient is female \[A\] assumed.
const P_FEMALE: f64 = 0.55;
/// Probabilities of 0 and 1 APOE ε4 alleles (2 alleles: the rest, 0.14) \[A\] assumed; the mean
/// allele count 0.44 + 2·0.14 = 0.72 equals the model's reference APOE4C.
const P_APOE4_NONE: f64 = 0.42;
const P_APOE4_ONE: f64 = 0.44;
/// Probability of stable background AChEI/memantine (COMED2 = 1) \[A\] assumed.
const P_COMED: f64 = 0.70;

/// The Conrado 2014 ADAS-Cog progression model with assumed symptomatic and disease-modifying
/// drug effects; id `alzheimers`, version 1, time in days.
///
/// States, in order (CMT = index + 1): `DISEASE` (ADAS points without symptomatic offset),
/// `SYMPTOMATIC` and `DISEASE_MODIFYING` (cumulative notional mg of each treatment; their input
/// rates switch the drug effects on; `SYMPTOMATIC` is the default dose compartment),
/// `SYM_EFFECT` (current symptomatic offset, points).
///
/// Parameters, in order: `BL` (points), `SL` (1/yr), `SHAPE`, `TAU`, then the assumed drug
/// parameters `E_SYM` (points), `T_HALF_SYM` (days), `DM_FRACTION`. Covariates: `SEX` (1 female,
/// 2 male), `AGE` (years), `APOE4C` (ε4 alleles), `COMED2` (1 = on background AD medication).
/// Output: `ADAS` (points). The equations are in the [module documentation](self).
///
/// ```
/// use twin_engine::Model;
/// use twin_models::alzheimers::ConradoAdasCogV1;
///
/// let model = ConradoAdasCogV1::new();
/// let p = model.spec().typical_parameters();
/// let mut y = [0.0; 4];
/// model.initial_state(&p, &mut y);
/// let mut adas = [0.0];
/// model.outputs(0.0, &y, &p, &mut adas);
/// assert!((adas[0] - 22.186).abs() < 1e-12); // TVBL, docs/models/alzheimers.md.
/// ```
#[derive(Debug, Clone)]
pub struct ConradoAdasCogV1 {
    spec: ModelSpec,
}

impl ConradoAdasCogV1 {
    /// The model with the published control-arm estimates and the assumed drug effects.
    #[must_use]
    pub fn new() -> Self {
        Self {
            spec: ModelSpec {
                id: "alzheimers",
                version: "1",
                description: "ADAS-Cog progression in mild-to-moderate Alzheimer's disease \
                              (Conrado 2014 Richards model of control arms) with assumed \
                              symptomatic and disease-modifying drug effects",
                time_unit: TimeUnit::Day,
                states: vec![
                    StateSpec {
                        name: "DISEASE",
                        unit: "ADAS points",
                    },
                    StateSpec {
                        name: "SYMPTOMATIC",
                        unit: "mg",
                    },
                    StateSpec {
                        name: "DISEASE_MODIFYING",
                        unit: "mg",
                    },
                    StateSpec {
                        name: "SYM_EFFECT",
                        unit: "ADAS points",
                    },
                ],
                parameters: parameters(),
                covariates: covariates(),
                outputs: vec![OutputSpec {
                    name: "ADAS",
                    unit: "points",
                }],
                dosing: vec![DoseModifiers::default(); 4],
                default_dose_compartment: SYMPTOMATIC,
                variability: variability(),
                outcomes: outcomes(),
                therapies: therapies(),
                evidence: "published control-arm model (Conrado 2014, DDMoRe 290); drug effects \
                           assumed",
                documentation: DOCUMENTATION,
            },
        }
    }

    /// An observed ADAS-Cog score (points) for the predicted `adas_points` of a patient with
    /// individual parameters `params` (model order): [`observe_adas`] with the patient's `TAU`.
    pub fn observe(&self, adas_points: f64, params: &[f64], stream: &mut RandomStream) -> f64 {
        observe_adas(adas_points, params[TAU], stream)
    }

    /// Writes the derivatives for the given drug switches into `dy` (no inputs added).
    fn derivatives(y: &[f64], p: &[f64], on_symptomatic: bool, on_modifying: bool, dy: &mut [f64]) {
        let slope_per_day = p[SL] / DAYS_PER_YEAR;
        let slowing = if on_modifying {
            1.0 - p[DM_FRACTION]
        } else {
            1.0
        };
        // A solver trial step may overshoot slightly below zero; μ^s is only defined for μ ≥ 0.
        let mu = (y[DISEASE] / ADAS_MAX).max(0.0);
        dy[DISEASE] = slope_per_day * slowing * y[DISEASE] * (1.0 - math::pow(mu, p[SHAPE]));
        dy[SYMPTOMATIC] = 0.0;
        dy[DISEASE_MODIFYING] = 0.0;
        let target = if on_symptomatic { p[E_SYM] } else { 0.0 };
        dy[SYM_EFFECT] = std::f64::consts::LN_2 / p[T_HALF_SYM] * (target - y[SYM_EFFECT]);
    }
}

impl Default for ConradoAdasCogV1 {
    fn default() -> Self {
        Self::new()
    }
}

impl Model for ConradoAdasCogV1 {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn rhs(&self, _t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) {
        Self::derivatives(y, p, false, false, dy);
    }

    fn rhs_with_inputs(&self, _t: f64, y: &[f64], p: &[f64], inputs: &[f64], dy: &mut [f64]) {
        Self::derivatives(
            y,
            p,
            inputs[SYMPTOMATIC] > 0.0,
            inputs[DISEASE_MODIFYING] > 0.0,
            dy,
        );
        for (d, r) in dy.iter_mut().zip(inputs) {
            *d += r;
        }
    }

    fn initial_state(&self, p: &[f64], y: &mut [f64]) {
        y.fill(0.0);
        y[DISEASE] = p[BL];
    }

    fn outputs(&self, _t: f64, y: &[f64], _p: &[f64], out: &mut [f64]) {
        out[0] = (y[DISEASE] - y[SYM_EFFECT]).clamp(0.0, ADAS_MAX);
    }

    fn sample_covariates(&self, stream: &mut RandomStream, covariates: &mut [f64]) {
        covariates[SEX] = if stream.uniform() < P_FEMALE {
            1.0
        } else {
            2.0
        };
        // Rejection from the normal: about 3.7 % of draws fall outside 55–90 years.
        covariates[AGE] = loop {
            let age = AGE_MEAN + AGE_SD * stream.normal();
            if (AGE_RANGE.0..=AGE_RANGE.1).contains(&age) {
                break age;
            }
        };
        let u = stream.uniform();
        covariates[APOE4C] = if u < P_APOE4_NONE {
            0.0
        } else if u < P_APOE4_NONE + P_APOE4_ONE {
            1.0
        } else {
            2.0
        };
        covariates[COMED2] = if stream.uniform() < P_COMED { 1.0 } else { 0.0 };
    }

    fn outcomes(
        &self,
        times: &[f64],
        outputs: &[f64],
        _params: &[f64],
        _covariates: &[f64],
        _stream: &mut RandomStream,
        out: &mut [f64],
    ) {
        out.fill(f64::NAN);
        let n_outputs = self.spec.outputs.len();
        let adas = |time_idx: usize| outputs[time_idx * n_outputs];
        let Some(last_idx) = times.len().checked_sub(1) else {
            return;
        };
        let baseline = adas(0);
        out[CHANGE_END] = adas(last_idx) - baseline;
        // Nearest grid time to 546 days; on a tie the earlier time wins.
        let mut nearest: Option<usize> = None;
        for (time_idx, &t) in times.iter().enumerate() {
            let distance = (t - EIGHTEEN_MONTHS_DAYS).abs();
            if nearest.is_none_or(|best| distance < (times[best] - EIGHTEEN_MONTHS_DAYS).abs()) {
                nearest = Some(time_idx);
            }
        }
        if let Some(best) = nearest
            && (times[best] - EIGHTEEN_MONTHS_DAYS).abs() <= VISIT_WINDOW_DAYS
        {
            out[CHANGE_18M] = adas(best) - baseline;
        }
        if let Some(time_idx) =
            (0..times.len()).find(|&i| adas(i) >= baseline + DECLINE_THRESHOLD_POINTS)
        {
            out[DECLINE_4PT] = times[time_idx];
        }
    }
}

/// A standard gamma draw (shape `shape`, scale 1) by Marsaglia & Tsang (ACM TOMS 2000;26:363–372),
/// from the stream's normals and uniforms.
///
/// For `shape < 1` it draws `G(shape + 1)·U^(1/shape)`, their boost. Returns NaN when `shape` is
/// not a positive finite number.
pub fn sample_gamma(shape: f64, stream: &mut RandomStream) -> f64 {
    if !(shape > 0.0 && shape.is_finite()) {
        return f64::NAN;
    }
    if shape < 1.0 {
        let boosted = sample_gamma(shape + 1.0, stream);
        return boosted * math::pow(stream.uniform(), 1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let z = stream.normal();
        let v = 1.0 + c * z;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = stream.uniform();
        // Squeeze first (cheap), then the exact acceptance test.
        if u < 1.0 - 0.0331 * math::powi(z, 4)
            || math::ln(u) < 0.5 * z * z + d * (1.0 - v + math::ln(v))
        {
            return d * v;
        }
    }
}

/// A beta draw with shapes `alpha` and `beta`, as `X / (X + Y)` with `X ~ Gamma(alpha)` and
/// `Y ~ Gamma(beta)` ([`sample_gamma`]). Returns NaN when a shape is not positive and finite.
pub fn sample_beta(alpha: f64, beta: f64, stream: &mut RandomStream) -> f64 {
    let x = sample_gamma(alpha, stream);
    let y = sample_gamma(beta, stream);
    x / (x + y)
}

/// An observed ADAS-Cog score (points) for the predicted score `adas_points`, from the published
/// beta observation model: `70·Beta(μ·τ, (1 − μ)·τ)` with `μ = adas_points / 70` clipped to
/// [0.001, 0.999] (as the `.mod` clips DV) and `τ = precision` (the model's `TAU`, 87.533).
///
/// The observation has mean `adas_points` (inside the clip) and variance
/// `70²·μ(1 − μ)/(τ + 1)`. Returns NaN for a NaN prediction or a precision that is not positive.
pub fn observe_adas(adas_points: f64, precision: f64, stream: &mut RandomStream) -> f64 {
    let mu = (adas_points / ADAS_MAX).clamp(BETA_MEAN_CLIP.0, BETA_MEAN_CLIP.1);
    ADAS_MAX * sample_beta(mu * precision, (1.0 - mu) * precision, stream)
}

fn parameters() -> Vec<ParameterSpec> {
    vec![
        ParameterSpec {
            name: "BL",
            unit: "ADAS points",
            typical: 22.186,
            lower: 0.01,
            upper: ADAS_MAX,
            source: concat!(
                "Baseline ADAS-Cog (TVBL, theta1 = 22.186, SE 0.181); log-normal eta1, covariates \
                 SEX and APOE4C. ",
                conrado!()
            ),
        },
        ParameterSpec {
            name: "SL",
            unit: "1/yr",
            typical: 0.15315,
            lower: -5.0,
            upper: 5.0,
            source: concat!(
                "Richards progression rate (TVSL, theta2 = 0.15315/yr, SE 0.00495), divided by \
                 365.25 for the day axis; additive eta2 not scaled by covariates; covariates AGE, \
                 APOE4C, COMED2. ",
                conrado!()
            ),
        },
        ParameterSpec {
            name: "SHAPE",
            unit: "-",
            typical: 6.9078,
            lower: 0.01,
            upper: 100.0,
            source: concat!(
                "Richards shape exponent s (theta3 = 6.9078, SE 0.253). ",
                conrado!()
            ),
        },
        ParameterSpec {
            name: "TAU",
            unit: "-",
            typical: 87.533,
            lower: 1.0,
            upper: 1e4,
            source: concat!(
                "Precision of the beta observation model on the 0-1 scale (theta4 = 87.533, SE \
                 0.940); used by observe_adas, not by the dynamics. ",
                conrado!()
            ),
        },
        ParameterSpec {
            name: "E_SYM",
            unit: "ADAS points",
            typical: 2.5,
            lower: 0.0,
            upper: ADAS_MAX,
            source: "Maximal symptomatic improvement while on the symptomatic drug. [A] assumed: \
                     the order of cholinesterase-inhibitor effects versus placebo; the bundle has \
                     no drug effect (docs/models/alzheimers.md §Drug effects).",
        },
        ParameterSpec {
            name: "T_HALF_SYM",
            unit: "d",
            typical: 21.0,
            lower: 0.01,
            upper: 3650.0,
            source: "Half-life of onset (and of washout after stopping) of the symptomatic \
                     effect. [A] assumed: about 94 % of the maximal effect by week 12.",
        },
        ParameterSpec {
            name: "DM_FRACTION",
            unit: "fraction",
            typical: 0.3,
            lower: 0.0,
            upper: 1.0,
            source: "Fractional reduction of the progression rate SL while on the \
                     disease-modifying drug. [A] assumed: a 30 % slowing, a common design \
                     assumption of disease-modifying AD trials.",
        },
    ]
}

fn covariates() -> Vec<CovariateSpec> {
    vec![
        CovariateSpec {
            name: "SEX",
            unit: "1 female, 2 male",
            reference: 1.0,
            lower: 1.0,
            upper: 2.0,
            interpolation: Interpolation::Locf,
        },
        CovariateSpec {
            name: "AGE",
            unit: "years",
            reference: 75.0,
            lower: 40.0,
            upper: 100.0,
            interpolation: Interpolation::Locf,
        },
        CovariateSpec {
            name: "APOE4C",
            unit: "e4 alleles",
            reference: 0.72,
            lower: 0.0,
            upper: 2.0,
            interpolation: Interpolation::Locf,
        },
        CovariateSpec {
            name: "COMED2",
            unit: "1 on background AChEI/memantine, 0 off",
            reference: 1.0,
            lower: 0.0,
            upper: 1.0,
            interpolation: Interpolation::Locf,
        },
    ]
}

fn variability() -> VariabilityModel {
    VariabilityModel {
        random_effects: vec![
            RandomEffect {
                parameter: BL,
                transform: Transform::LogNormal,
            },
            RandomEffect {
                parameter: SL,
                transform: Transform::Additive,
            },
        ],
        // Subject-level Ω of the real-data .lst (variances and covariance) [R].
        omega: vec![0.15599, 0.022350, 0.022350, 0.041272],
        covariate_effects: vec![
            // θ5 = 0.95257: BL × θ5 for men.
            CovariateEffect::Categorical {
                parameter: BL,
                covariate: SEX,
                level: 2.0,
                shift: 0.95257 - 1.0,
            },
            // θ9 = 0.037240 per allele from 0.72.
            CovariateEffect::Linear {
                parameter: BL,
                covariate: APOE4C,
                slope: 0.037240,
            },
            // θ6 = −0.023969 per year from 75.
            CovariateEffect::Linear {
                parameter: SL,
                covariate: AGE,
                slope: -0.023969,
            },
            // θ7 = 0.19487 per allele from 0.72.
            CovariateEffect::Linear {
                parameter: SL,
                covariate: APOE4C,
                slope: 0.19487,
            },
            // θ8 = −0.30202: SL × (1 + θ8) off background medication.
            CovariateEffect::Categorical {
                parameter: SL,
                covariate: COMED2,
                level: 0.0,
                shift: -0.30202,
            },
        ],
        residual: vec![ResidualError::Additive {
            sd: ADDITIVE_RESIDUAL_SD,
        }],
    }
}

fn outcomes() -> Vec<OutcomeSpec> {
    vec![
        OutcomeSpec {
            name: "adas_change_18m",
            unit: "points",
            kind: OutcomeKind::Value,
            description: "ADAS at the grid time nearest 546 d (78 weeks) minus ADAS at the first \
                          grid time; NaN when no grid time lies within 14 d of 546 d",
        },
        OutcomeSpec {
            name: "adas_change_end",
            unit: "points",
            kind: OutcomeKind::Value,
            description: "ADAS at the last grid time minus ADAS at the first grid time",
        },
        OutcomeSpec {
            name: "decline_4pt",
            unit: "d",
            kind: OutcomeKind::TimeToEvent,
            description: "first grid time with ADAS >= baseline + 4 points ([A] assumed \
                          clinically meaningful worsening); NaN if not reached",
        },
    ]
}

fn therapies() -> Vec<TherapySpec> {
    vec![
        TherapySpec {
            name: "placebo",
            regimen: "none",
            description: "Control arm: natural course as in the Conrado 2014 control arms",
        },
        TherapySpec {
            name: "symptomatic",
            regimen: "1 mg cmt=2 over 78w",
            description: "18-month (78-week) course of a symptomatic drug: ADAS improves by up to \
                          E_SYM = 2.5 points, onset half-life 21 d [A] assumed",
        },
        TherapySpec {
            name: "disease-modifying",
            regimen: "1 mg cmt=3 over 78w",
            description: "18-month (78-week) course of a disease-modifying drug: progression rate \
                          reduced by DM_FRACTION = 30 % while on drug [A] assumed",
        },
    ]
}

/// What `twin models --describe` shows.
const DOCUMENTATION: &str = "\
Conrado 2014 ADAS-Cog progression model (DDMoRe DDMODEL00000290), time in days, with ASSUMED
drug effects. Source: Conrado DJ, Denney WS, Chen D, Ito K. J Pharmacokinet Pharmacodyn
2014;41:581-598 (PMID 25168488); estimates from the bundle's real-data .lst (4494 subjects, 15
control arms of mild-to-moderate AD trials, CAMD database).

States: DISEASE (ADAS points without symptomatic offset, CMT 1), SYMPTOMATIC (CMT 2, default dose
compartment) and DISEASE_MODIFYING (CMT 3) (cumulative notional mg of each treatment),
SYM_EFFECT (current symptomatic offset, points, CMT 4).

Control model [R], mu = ADAS/70, t_yr = t_days/365.25:
  d(70 mu)/dt_yr = SL * (70 mu) * (1 - mu^s),   70 mu(0) = BL
  closed form: mu(t) = BL / [BL^s + (70^s - BL^s) * exp(-s*SL*t_yr)]^(1/s)
  BL = TVBL * BLCOV * exp(eta1)         (log-normal)
  SL = TVSL * SLCOV + eta2              (eta2 additive, not multiplied by SLCOV, as the .mod)
  BLCOV = (theta5 if SEX = 2) * (1 + theta9*(APOE4C - 0.72))
  SLCOV = (1 + theta6*(AGE - 75)) * (1 + theta7*(APOE4C - 0.72)) * (1 + theta8 if COMED2 = 0)
  Omega (subject level): var(eta1) 0.15599, cov 0.022350, var(eta2) 0.041272.
  Observation: DV/70 ~ Beta(mu*tau, (1 - mu)*tau), Var = mu(1 - mu)/(tau + 1).

Parameters [R] (theta, SE): TVBL 22.186 (0.181) points; TVSL 0.15315 (0.00495) /yr; s 6.9078
(0.253); tau 87.533 (0.940); theta5 male on BL 0.95257 (0.0113); theta6 age on SL -0.023969
(0.00382) /yr from 75; theta7 APOE4 on SL 0.19487 (0.0549) /allele from 0.72; theta8 off
background medication on SL -0.30202 (0.0126); theta9 APOE4 on BL 0.037240 (0.0136) /allele.
Covariates: SEX 1 female / 2 male; AGE years; APOE4C number of e4 alleles (unknown genotype was
imputed with the mean 0.72 [S: nlmixr2lib]); COMED2 1 = stable background AChEI/memantine. An
absent covariate takes its reference: female, 75 years, 0.72 alleles, COMED2 = 1. Covariates are
baseline values, constant per patient; they are declared LOCF, which for constant values gives
the same as NONMEM's NOCB.

Not simulated: the study-level random effects eta3/eta4 (Omega 0.0097657, 0.0021105, 0.00067069)
and the study-1131 factors (theta10 on tau, theta11 on eta1); a virtual patient belongs to no
study. A trial simulator may add a study effect later.

Drug effects [A] ASSUMED (the bundle has none). A drug is on while a zero-order input runs into
its treatment state (the rate matters, not the amount; a bolus switches nothing on):
  d(DISEASE)/dt = SL/365.25 * (1 - DM_FRACTION*on_dm) * DISEASE * (1 - (DISEASE/70)^s)
  d(SYM_EFFECT)/dt = ln2/T_HALF_SYM * (E_SYM*on_sym - SYM_EFFECT)
  ADAS = clamp(DISEASE - SYM_EFFECT, 0, 70)
  E_SYM = 2.5 points [A]: order of cholinesterase-inhibitor effects versus placebo.
  T_HALF_SYM = 21 d [A]: onset and washout half-life, ~94 % of the effect by week 12.
  DM_FRACTION = 0.3 [A]: 30 % slowing of SL (a negative SL is shrunk toward 0 as well).
  No dose-response: the built-in regimens give 1 notional mg over 78 weeks.

Therapies: placebo (none); symptomatic (1 mg cmt=2 over 78w); disease-modifying (1 mg cmt=3
over 78w).

Outcomes (time resolution is the output grid's; baseline = ADAS at the first grid time):
  adas_change_18m: ADAS at the grid time nearest 546 d (78 weeks) minus baseline; NaN when no grid
    time is within 14 d [A: visit window] of 546 d.
  adas_change_end: ADAS at the last grid time minus baseline.
  decline_4pt: first grid time with ADAS >= baseline + 4 points [A: clinically meaningful
    worsening; no MCID was obtained]; NaN if not reached within the grid.

Virtual patients [A] ASSUMED (a mild-to-moderate AD population): AGE ~ N(75, 8) truncated to
55-90 years; 55 % female; APOE e4 alleles 0/1/2 with probabilities 0.42/0.44/0.14 (mean 0.72);
COMED2 = 1 for 70 %.

Residual error: the beta observation model is sampled by observe_adas (Marsaglia-Tsang gamma
draws). The engine's generic residual error (twin simulate --with-error) has no beta variant and
uses an additive SD of 3.59 points [A]: the beta SD at the typical 1-year ADAS of 25.855 points.

Caveats: eta2 has SD 0.203/yr, larger than TVSL, so many simulated patients improve. BL is
log-normal with CV ~40 %, so about 0.2 % of sampled baselines exceed 70; their DISEASE state
decays toward 70 and the ADAS output is clamped to 0-70.";
