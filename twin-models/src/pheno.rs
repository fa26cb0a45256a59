//! Phenobarbital in neonates (Grasela & Donn 1985): the one-compartment model of NONMEM's
//! classic `pheno` example, with weight-proportional clearance and volume and a larger volume
//! after a low Apgar score. Time in hours, amounts in mg, concentrations in mg/L.
//!
//! | type | id | parameters |
//! | --- | --- | --- |
//! | [`PhenoV1`] | `pheno` | NONMEM FOCE-I estimates for `pheno_sd.csv` (Pharmpy's `pheno_real` example run) |
//! | [`PhenoV2`] | `pheno` | the same model refitted by NONMEM's SAEM (Pharmpy's `pheno_saem` example run) |
//!
//! # Equations
//!
//! One state, `CENTRAL` (mg), which receives every dose (IV bolus or infusion; NONMEM ADVAN1
//! TRANS2):
//!
//! ```text
//! CL = θ1 · WT · e^η1                          (L/h)
//! V  = θ2 · WT · (1 + θ3 · [APGR < 5]) · e^η2  (L)
//! dCENTRAL/dt = −(CL/V) · CENTRAL + R(t)       (R: zero-order input, mg/h)
//! CP = CENTRAL / V                             (mg/L)
//! y  = CP · (1 + ε),  ε ~ N(0, σ²)             (proportional residual error)
//! ```
//!
//! with θ = (0.00469555 L/h/kg, 0.984258 L/kg, 0.15892), ω² = (0.0293508, 0.027906) (diagonal) and
//! σ² = 0.013241: the NONMEM FOCE-I (`METHOD=1 INTERACTION`) estimates for the 59 neonates of
//! `pheno_sd.csv`, as shipped with Pharmpy (its `pheno_real.mod` / `pheno_real.ext` example run:
//! `TVCL=THETA(1)*WGT`, `TVV=THETA(2)*WGT`, `IF(APGR.LT.5) TVV=TVV*(1+THETA(3))`,
//! `CL=TVCL*EXP(ETA(1))`, `V=TVV*EXP(ETA(2))`, `W=F`, `Y=F+W*EPS(1)`). They agree with the
//! published typical values CL 0.0047 L/h/kg and V 0.96 L/kg (Grasela & Donn 1985;
//! `docs/models/pheno.md`).
//!
//! Version 2 ([`PhenoV2`]) has the same structure, data items and error model, refitted by
//! stochastic approximation EM: θ = (0.00458503 L/h/kg, 0.980182 L/kg, 0.152386),
//! ω² = (0.0343783, 0.0280642), σ² = 0.0123932, the final (iteration 1000) estimates of
//! `$ESTIMATION METHOD=SAEM` in Pharmpy's test run `tests/testdata/nonmem/modelfit_results/saem/
//! pheno_saem.mod`/`.ext` on the same 59 neonates. It exists so that two fitted versions of one
//! model can be compared on the same cohort (twin-eval); it is a refit by another estimation
//! method, not a correction of version 1.
//!
//! # How the equations map onto the engine's population model
//!
//! - `CL` has typical value θ1 (a 1-kg neonate) and the covariate effect `WT^1` (a power effect
//!   with reference 1 kg), then `e^η1`.
//! - The engine's threshold effect multiplies by `1 + shift` when a covariate is *at or above* a
//!   threshold, whereas the model enlarges V *below* APGR 5. So `V`'s declared typical value is
//!   θ2·(1 + θ3) = 1.140675… L/kg, the volume of a 1-kg neonate with APGR < 5, and the effect
//!   `APGR ≥ 5` multiplies it by `1/(1 + θ3)`, i.e. shift `−θ3/(1 + θ3)`. The product is θ2 for
//!   APGR ≥ 5 (to within one rounding, 2·10⁻¹⁶ relative).
//! - Between doses the single compartment is propagated exactly ([`Model::advance_exact`]):
//!   `A(t + Δt) = A·e^(−kΔt) + R·(1 − e^(−kΔt))/k`, `k = CL/V`, with `1 − e^(−x)` computed as
//!   `−expm1(−x)` so that short intervals keep full precision.
//!
//! # Data
//!
//! `pheno_sd.csv` (nlmixr2data): `AMT` in mg (e.g. 25 mg for a 1.4-kg neonate: a loading dose of
//! 18 mg/kg), bolus doses (no RATE column) into the only compartment, `DV` in mg/L (µg/mL),
//! `WT` in kg, `APGR` the 1-minute-or-5-minute Apgar score (0–10; which one is not stated by the
//! source \[A\]). EVID 1 dose rows, EVID 0 observation rows.
//!
//! # Example
//!
//! ```
//! use twin_engine::Model;
//! use twin_models::pheno::PhenoV1;
//!
//! let model = PhenoV1::new();
//! assert_eq!(model.spec().id, "pheno");
//! // A 1-kg neonate with APGR 7 at η = 0: CL = θ1, V = θ2.
//! let p = [0.004_695_55, 0.984_258];
//! let mut amount = [20.0];
//! assert!(model.advance_exact(&p, &mut amount, &[0.0], 24.0));
//! let mut cp = [0.0];
//! model.outputs(24.0, &amount, &p, &mut cp);
//! let expected = 20.0 / 0.984_258 * (-0.004_695_55 / 0.984_258 * 24.0_f64).exp();
//! assert!((cp[0] - expected).abs() < 1e-12 * expected);
//! ```

use twin_engine::math;
use twin_engine::model::{
    CovariateSpec, DoseModifiers, Interpolation, Model, ModelSpec, OutputSpec, ParameterSpec,
    StateSpec, TherapySpec, TimeUnit,
};
use twin_engine::population::{
    CovariateEffect, RandomEffect, ResidualError, Transform, VariabilityModel,
};

/// Citation of every estimate of this model.
macro_rules! pheno_estimates {
    () => {
        "NONMEM FOCE-I (METHOD=1 INTERACTION) estimate for pheno_sd.csv (Grasela & Donn 1985, 59 \
         neonates), as quoted in docs/models/pheno.md §Parameters and in Pharmpy's \
         pheno_real.mod/.ext example run [R]"
    };
}

/// Citation of every estimate of version 2.
macro_rules! pheno_saem_estimates {
    () => {
        "NONMEM SAEM estimate (final iteration 1000 of $ESTIMATION METHOD=SAEM, after FOCE-I) for \
         pheno (Grasela & Donn 1985, 59 neonates), Pharmpy's test run \
         tests/testdata/nonmem/modelfit_results/saem/pheno_saem.mod/.ext [R]"
    };
}

/// One set of population estimates of the pheno model.
struct Estimates {
    /// θ1: clearance per kg of body weight, L/h/kg.
    theta_cl: f64,
    /// θ2: volume per kg of body weight, L/kg.
    theta_v: f64,
    /// θ3: fractional increase of the volume when APGR < 5.
    theta_apgr: f64,
    /// ω² of η1 (on CL).
    omega2_cl: f64,
    /// ω² of η2 (on V).
    omega2_v: f64,
    /// σ² of the proportional residual error.
    sigma2: f64,
}

/// Version 1: NONMEM FOCE-I estimates (cited by the `pheno_estimates` macro).
const FOCEI: Estimates = Estimates {
    theta_cl: 0.004_695_55,
    theta_v: 0.984_258,
    theta_apgr: 0.158_92,
    omega2_cl: 0.029_350_8,
    omega2_v: 0.027_906,
    sigma2: 0.013_241,
};

/// Version 2: NONMEM SAEM estimates, final iteration (cited by the `pheno_saem_estimates` macro).
const SAEM: Estimates = Estimates {
    theta_cl: 0.004_585_03,
    theta_v: 0.980_182,
    theta_apgr: 0.152_386,
    omega2_cl: 0.034_378_3,
    omega2_v: 0.028_064_2,
    sigma2: 0.012_393_2,
};
/// Apgar score below which the volume is larger.
const APGR_THRESHOLD: f64 = 5.0;

/// What `twin models --describe` shows.
const DOCUMENTATION: &str = "\
Phenobarbital in neonates (Grasela & Donn 1985; NONMEM's classic pheno example). Time in hours.
State: CENTRAL (mg), receives every dose (IV bolus or infusion; NONMEM ADVAN1 TRANS2).
Equations:
  CL = THETA1 * WT * exp(ETA1)                               (L/h)
  V  = THETA2 * WT * (1 + THETA3 * [APGR < 5]) * exp(ETA2)   (L)
  dCENTRAL/dt = -(CL/V) * CENTRAL + R(t)
  CP = CENTRAL / V (mg/L);  y = CP * (1 + EPS), EPS ~ N(0, SIGMA^2)
Engine form: CL typical THETA1 with the power effect WT^1 (reference 1 kg); V typical
  THETA2*(1+THETA3) = 1.140675 L (a 1-kg neonate with APGR < 5) with the threshold effect
  APGR >= 5 -> factor 1/(1+THETA3) (shift -THETA3/(1+THETA3)), which gives THETA2 there.
Parameters [R] (NONMEM FOCE-I METHOD=1 INTERACTION estimates for pheno_sd.csv, 59 neonates, as
quoted in docs/models/pheno.md §Parameters and in Pharmpy's pheno_real.mod/.ext example run):
  THETA1  0.00469555 L/h/kg   clearance per kg
  THETA2  0.984258   L/kg     volume per kg
  THETA3  0.15892             fractional volume increase when APGR < 5
  OMEGA   diag(0.0293508, 0.027906)   log-normal IIV on CL and V
  SIGMA^2 0.013241            proportional residual error (SD 0.11507)
Covariates: WT (kg, reference 1 kg, bounds 0.2-10), APGR (Apgar score, reference 7, bounds 0-10),
  next observation carried backward (NONMEM's rule for $PK data items).
Closed form between events: A(t+dt) = A*exp(-k*dt) + R*(1-exp(-k*dt))/k, k = CL/V.
Assumptions [A]:
  - WT bounds 0.2-10 kg: the fit is to neonates of 0.6-3.6 kg; outside that range the model is an
    extrapolation, beyond 10 kg it is refused.
  - References WT 1 kg (the parameters are per kg) and APGR 7 (the median of pheno_sd.csv): used
    only for a missing covariate and for virtual patients, which take the references.
  - Which Apgar score (1 or 5 minutes) APGR is, is not stated by the data source.
  - Therapies are illustrative regimens built on the median doses of pheno_sd.csv (loading
    20 mg/kg, maintenance 2.5 mg/kg every 12 h), not dosing advice.";

/// Phenobarbital in neonates, id `pheno`, version 1, time in hours (see the
/// [module documentation](self) for the equations and sources).
///
/// Parameters, in order: `CL` (L/h; θ1 for a 1-kg neonate), `V` (L; θ2·(1 + θ3) for a 1-kg
/// neonate with APGR < 5). Covariates: `WT` (kg), `APGR`. Output: `CP` (mg/L). Random effects:
/// log-normal on `CL` and `V`. Residual error: proportional, σ = √0.013241. No outcomes.
/// Therapies: `load20-maint2.5-q12h`, `load20-maint1.5-q12h`.
#[derive(Debug, Clone)]
pub struct PhenoV1 {
    spec: ModelSpec,
}

/// Index of the parameter `CL`.
const CL: usize = 0;
/// Index of the parameter `V`.
const V: usize = 1;
/// Index of the covariate `WT`.
const WT: usize = 0;
/// Index of the covariate `APGR`.
const APGR: usize = 1;

/// Elimination rate constant `k = CL/V` (1/h).
fn elimination_rate(p: &[f64]) -> f64 {
    p[CL] / p[V]
}

impl PhenoV1 {
    /// The model with its specification built once.
    #[must_use]
    pub fn new() -> Self {
        Self {
            spec: pheno_spec(
                "1",
                &FOCEI,
                [
                    concat!(
                        "Clearance of a 1-kg neonate: THETA1 = 0.00469555 L/h/kg times WT (power \
                         effect, reference 1 kg). ",
                        pheno_estimates!()
                    ),
                    concat!(
                        "Volume of a 1-kg neonate with APGR < 5: THETA2 * (1 + THETA3) = 0.984258 \
                         * 1.15892 L/kg times WT; APGR >= 5 divides it by (1 + THETA3), giving \
                         THETA2. ",
                        pheno_estimates!()
                    ),
                ],
                "published parameters (NONMEM FOCE-I fit to pheno_sd.csv)",
                DOCUMENTATION,
            ),
        }
    }
}

impl Default for PhenoV1 {
    fn default() -> Self {
        Self::new()
    }
}

/// Phenobarbital in neonates, id `pheno`, version 2: the structure of [`PhenoV1`] refitted by
/// NONMEM's SAEM on the same data (see the [module documentation](self)).
///
/// θ = (0.00458503 L/h/kg, 0.980182 L/kg, 0.152386), ω² = diag(0.0343783, 0.0280642),
/// σ² = 0.0123932 (proportional). Parameters, covariates, output, therapies and the mapping onto
/// the engine are those of version 1.
#[derive(Debug, Clone)]
pub struct PhenoV2 {
    spec: ModelSpec,
}

impl PhenoV2 {
    /// The model with its specification built once.
    #[must_use]
    pub fn new() -> Self {
        Self {
            spec: pheno_spec(
                "2",
                &SAEM,
                [
                    concat!(
                        "Clearance of a 1-kg neonate: THETA1 = 0.00458503 L/h/kg times WT (power \
                         effect, reference 1 kg). ",
                        pheno_saem_estimates!()
                    ),
                    concat!(
                        "Volume of a 1-kg neonate with APGR < 5: THETA2 * (1 + THETA3) = 0.980182 \
                         * 1.152386 L/kg times WT; APGR >= 5 divides it by (1 + THETA3), giving \
                         THETA2. ",
                        pheno_saem_estimates!()
                    ),
                ],
                "published parameters (NONMEM SAEM fit of the pheno model, Pharmpy example run)",
                DOCUMENTATION_V2,
            ),
        }
    }
}

impl Default for PhenoV2 {
    fn default() -> Self {
        Self::new()
    }
}

/// What `twin models --describe` shows for version 2.
const DOCUMENTATION_V2: &str = "\
Phenobarbital in neonates (Grasela & Donn 1985; NONMEM's classic pheno example), version 2: the
structure of version 1 refitted by stochastic approximation EM. Time in hours.
State: CENTRAL (mg), receives every dose (IV bolus or infusion; NONMEM ADVAN1 TRANS2).
Equations (as version 1):
  CL = THETA1 * WT * exp(ETA1)                               (L/h)
  V  = THETA2 * WT * (1 + THETA3 * [APGR < 5]) * exp(ETA2)   (L)
  dCENTRAL/dt = -(CL/V) * CENTRAL + R(t)
  CP = CENTRAL / V (mg/L);  y = CP * (1 + EPS), EPS ~ N(0, SIGMA^2)
Engine form: CL typical THETA1 with the power effect WT^1 (reference 1 kg); V typical
  THETA2*(1+THETA3) = 1.129548 L (a 1-kg neonate with APGR < 5) with the threshold effect
  APGR >= 5 -> factor 1/(1+THETA3), which gives THETA2 there.
Parameters [R] (NONMEM $ESTIMATION METHOD=SAEM after METHOD=1 INTERACTION, final iteration 1000,
Pharmpy's test run tests/testdata/nonmem/modelfit_results/saem/pheno_saem.mod/.ext, on the 59
neonates of the pheno data):
  THETA1  0.00458503 L/h/kg   clearance per kg             (version 1: 0.00469555)
  THETA2  0.980182   L/kg     volume per kg                (version 1: 0.984258)
  THETA3  0.152386            fractional volume increase when APGR < 5 (version 1: 0.15892)
  OMEGA   diag(0.0343783, 0.0280642)   log-normal IIV on CL and V (version 1: 0.0293508, 0.027906)
  SIGMA^2 0.0123932           proportional residual error (SD 0.11133; version 1: 0.013241)
Change from version 1: estimation method only (SAEM instead of FOCE-I); same model and data.
Covariates: WT (kg, reference 1 kg, bounds 0.2-10), APGR (Apgar score, reference 7, bounds 0-10),
  next observation carried backward (NONMEM's rule for $PK data items).
Closed form between events: A(t+dt) = A*exp(-k*dt) + R*(1-exp(-k*dt))/k, k = CL/V.
Assumptions [A]: as version 1 (WT bounds, reference covariates, Apgar timing, illustrative
  therapies).";

/// The specification shared by every version; `estimates`, the parameter `sources` (CL, V), the
/// evidence level and the documentation differ.
fn pheno_spec(
    version: &'static str,
    estimates: &Estimates,
    sources: [&'static str; 2],
    evidence: &'static str,
    documentation: &'static str,
) -> ModelSpec {
    ModelSpec {
        id: "pheno",
        version,
        description: "Phenobarbital in neonates, one compartment, weight and Apgar covariates \
                      (NONMEM pheno example)",
        time_unit: TimeUnit::Hour,
        states: vec![StateSpec {
            name: "CENTRAL",
            unit: "mg",
        }],
        parameters: parameters(estimates, sources),
        covariates: covariates(),
        outputs: vec![OutputSpec {
            name: "CP",
            unit: "mg/L",
        }],
        dosing: vec![DoseModifiers::default()],
        default_dose_compartment: 0,
        variability: variability(estimates),
        outcomes: Vec::new(),
        therapies: therapies(),
        evidence,
        documentation,
    }
}

fn parameters(
    estimates: &Estimates,
    [cl_source, v_source]: [&'static str; 2],
) -> Vec<ParameterSpec> {
    vec![
        ParameterSpec {
            name: "CL",
            unit: "L/h",
            typical: estimates.theta_cl,
            lower: 1e-6,
            upper: 10.0,
            source: cl_source,
        },
        ParameterSpec {
            name: "V",
            unit: "L",
            typical: estimates.theta_v * (1.0 + estimates.theta_apgr),
            lower: 1e-4,
            upper: 1e3,
            source: v_source,
        },
    ]
}

fn covariates() -> Vec<CovariateSpec> {
    vec![
        CovariateSpec {
            name: "WT",
            unit: "kg",
            reference: 1.0,
            lower: 0.2,
            upper: 10.0,
            interpolation: Interpolation::Nocb,
        },
        CovariateSpec {
            name: "APGR",
            unit: "score",
            reference: 7.0,
            lower: 0.0,
            upper: 10.0,
            interpolation: Interpolation::Nocb,
        },
    ]
}

fn variability(estimates: &Estimates) -> VariabilityModel {
    VariabilityModel {
        random_effects: vec![
            RandomEffect {
                parameter: CL,
                transform: Transform::LogNormal,
            },
            RandomEffect {
                parameter: V,
                transform: Transform::LogNormal,
            },
        ],
        omega: vec![estimates.omega2_cl, 0.0, 0.0, estimates.omega2_v],
        covariate_effects: vec![
            CovariateEffect::Power {
                parameter: CL,
                covariate: WT,
                exponent: 1.0,
            },
            CovariateEffect::Power {
                parameter: V,
                covariate: WT,
                exponent: 1.0,
            },
            CovariateEffect::Threshold {
                parameter: V,
                covariate: APGR,
                threshold: APGR_THRESHOLD,
                shift: -estimates.theta_apgr / (1.0 + estimates.theta_apgr),
            },
        ],
        residual: vec![ResidualError::Proportional {
            sd: estimates.sigma2.sqrt(),
        }],
    }
}

fn therapies() -> Vec<TherapySpec> {
    vec![
        TherapySpec {
            name: "load20-maint2.5-q12h",
            regimen: "20 mg/kg iv; 2.5 mg/kg iv q12h x14 at 12h",
            description: "20 mg/kg IV loading dose, then 2.5 mg/kg IV every 12 h for a week: the \
                          median doses of pheno_sd.csv [A: illustrative regimen]",
        },
        TherapySpec {
            name: "load20-maint1.5-q12h",
            regimen: "20 mg/kg iv; 1.5 mg/kg iv q12h x14 at 12h",
            description: "20 mg/kg IV loading dose, then 1.5 mg/kg IV every 12 h for a week: a \
                          lower maintenance dose [A: illustrative regimen]",
        },
    ]
}

/// One compartment, shared by every version: `k = CL/V`, output `CP = CENTRAL/V`, exact
/// propagation between events.
macro_rules! pheno_model {
    ($version:ty) => {
        impl Model for $version {
            fn spec(&self) -> &ModelSpec {
                &self.spec
            }

            fn rhs(&self, _t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) {
                dy[0] = -elimination_rate(p) * y[0];
            }

            fn outputs(&self, _t: f64, y: &[f64], p: &[f64], out: &mut [f64]) {
                out[0] = y[0] / p[V];
            }

            fn advance_exact(&self, p: &[f64], y: &mut [f64], inputs: &[f64], dt: f64) -> bool {
                let k = elimination_rate(p);
                let decay = math::exp(-k * dt);
                // (1 − e^(−k·dt))/k, exact also for short intervals.
                let input_gain = -math::exp_m1(-k * dt) / k;
                y[0] = y[0] * decay + inputs[0] * input_gain;
                true
            }

            fn is_linear(&self) -> bool {
                true
            }
        }
    };
}

pheno_model!(PhenoV1);
pheno_model!(PhenoV2);

#[cfg(test)]
mod tests {
    use super::*;
    use twin_engine::predict::population_of;

    #[test]
    fn individual_parameters_follow_the_nonmem_code() {
        // The $PK code of pheno_real.mod, written out by hand.
        let model = PhenoV1::new();
        let population = population_of(&model).unwrap();
        let mut p = [0.0; 2];
        for (wt, apgr, eta) in [
            (1.4, 7.0, [0.1, -0.2]),
            (0.9, 4.0, [-0.3, 0.25]),
            (2.5, 5.0, [0.0, 0.0]),
        ] {
            population.individual_parameters(&[wt, apgr], &eta, &mut p);
            let low_apgr = if apgr < 5.0 { 1.0 } else { 0.0 };
            let cl = FOCEI.theta_cl * wt * math::exp(eta[0]);
            let v = FOCEI.theta_v * wt * (1.0 + FOCEI.theta_apgr * low_apgr) * math::exp(eta[1]);
            assert!((p[0] - cl).abs() <= 1e-14 * cl, "CL {} vs {cl}", p[0]);
            assert!((p[1] - v).abs() <= 1e-14 * v, "V {} vs {v}", p[1]);
        }
    }

    #[test]
    fn version_2_has_the_saem_estimates_and_the_same_structure() {
        // The $PK code of pheno_saem.mod with its final SAEM estimates (pheno_saem.ext, iteration
        // 1000), written out by hand.
        let v2 = PhenoV2::new();
        let population = population_of(&v2).unwrap();
        let mut p = [0.0; 2];
        for (wt, apgr, eta) in [(1.4, 7.0, [0.1, -0.2]), (0.9, 4.0, [-0.3, 0.25])] {
            population.individual_parameters(&[wt, apgr], &eta, &mut p);
            let low_apgr = if apgr < 5.0 { 1.0 } else { 0.0 };
            let cl = 0.004_585_03 * wt * math::exp(eta[0]);
            let v = 0.980_182 * wt * (1.0 + 0.152_386 * low_apgr) * math::exp(eta[1]);
            assert!((p[0] - cl).abs() <= 1e-14 * cl, "CL {} vs {cl}", p[0]);
            assert!((p[1] - v).abs() <= 1e-14 * v, "V {} vs {v}", p[1]);
        }
        let (s1, s2) = (PhenoV1::new().spec().clone(), v2.spec().clone());
        assert_eq!(
            (s1.id, s2.id, s1.version, s2.version),
            ("pheno", "pheno", "1", "2")
        );
        assert_eq!(s1.states.len(), s2.states.len());
        assert_eq!(s1.covariates.len(), s2.covariates.len());
        assert_eq!(
            s2.variability.omega,
            vec![0.034_378_3, 0.0, 0.0, 0.028_064_2]
        );
        assert_ne!(s1.content_hash(), s2.content_hash());
    }

    #[test]
    fn closed_form_matches_the_ode_for_an_infusion() {
        // Infusion of 2 mg/h over 30 min from 10 mg: closed form of docs/models/pk.md §Closed forms
        // times V.
        let model = PhenoV1::new();
        let p = [0.006, 1.3];
        let k = p[0] / p[1];
        let mut y = [10.0];
        assert!(model.advance_exact(&p, &mut y, &[2.0], 0.5));
        let expected = 10.0 * math::exp(-k * 0.5_f64) + 2.0 / k * (1.0 - math::exp(-k * 0.5_f64));
        assert!(
            (y[0] - expected).abs() < 1e-12 * expected,
            "{} vs {expected}",
            y[0]
        );
        let mut dy = [0.0];
        model.rhs(0.0, &[10.0], &p, &mut dy);
        assert!((dy[0] + k * 10.0).abs() < 1e-15);
    }
}
