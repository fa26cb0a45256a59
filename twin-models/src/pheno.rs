//! Phenobarbital in neonates (Grasela & Donn 1985): the one-compartment model of NONMEM's
//! classic `pheno` example, with weight-proportional clearance and volume and a larger volume
//! after a low Apgar score. Time in hours, amounts in mg, concentrations in mg/L.
//!
//! | type | id | parameters |
//! | --- | --- | --- |
//! | [`PhenoV1`] | `pheno` | NONMEM FOCE-I estimates for `pheno_sd.csv` (issue 4; Pharmpy's `pheno_real`) |
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
//! with θ = (0.00469555 L/h/kg, 0.984258 L/kg, 0.15892), ω² = (0.0293508, 0.027906) (diagonal)
//! and σ² = 0.013241: the NONMEM FOCE-I (`METHOD=1 INTERACTION`) estimates for the 59 neonates of
//! `pheno_sd.csv`, as quoted in issue 4 and as shipped with Pharmpy (its `pheno_real.mod` /
//! `pheno_real.ext` example run: `TVCL=THETA(1)*WGT`, `TVV=THETA(2)*WGT`,
//! `IF(APGR.LT.5) TVV=TVV*(1+THETA(3))`, `CL=TVCL*EXP(ETA(1))`, `V=TVV*EXP(ETA(2))`, `W=F`,
//! `Y=F+W*EPS(1)`). They agree with the published typical values CL 0.0047 L/h/kg and
//! V 0.96 L/kg (shared/data/README.md).
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
         neonates), as quoted in twinsim issue 4 and in Pharmpy's pheno_real.mod/.ext example \
         run [R]"
    };
}

/// θ1: clearance per kg of body weight, L/h/kg.
const THETA_CL: f64 = 0.004_695_55;
/// θ2: volume per kg of body weight, L/kg.
const THETA_V: f64 = 0.984_258;
/// θ3: fractional increase of the volume when APGR < 5.
const THETA_APGR: f64 = 0.158_92;
/// ω² of η1 (on CL).
const OMEGA2_CL: f64 = 0.029_350_8;
/// ω² of η2 (on V).
const OMEGA2_V: f64 = 0.027_906;
/// σ² of the proportional residual error.
const SIGMA2: f64 = 0.013_241;
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
quoted in twinsim issue 4 and in Pharmpy's pheno_real.mod/.ext example run):
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

impl PhenoV1 {
    const CL: usize = 0;
    const V: usize = 1;
    const WT: usize = 0;
    const APGR: usize = 1;

    /// The model with its specification built once.
    #[must_use]
    pub fn new() -> Self {
        Self {
            spec: ModelSpec {
                id: "pheno",
                version: "1",
                description: "Phenobarbital in neonates, one compartment, weight and Apgar \
                              covariates (NONMEM pheno example)",
                time_unit: TimeUnit::Hour,
                states: vec![StateSpec {
                    name: "CENTRAL",
                    unit: "mg",
                }],
                parameters: parameters(),
                covariates: covariates(),
                outputs: vec![OutputSpec {
                    name: "CP",
                    unit: "mg/L",
                }],
                dosing: vec![DoseModifiers::default()],
                default_dose_compartment: 0,
                variability: variability(),
                outcomes: Vec::new(),
                therapies: therapies(),
                evidence: "published parameters (NONMEM FOCE-I fit to pheno_sd.csv)",
                documentation: DOCUMENTATION,
            },
        }
    }

    /// Elimination rate constant `k = CL/V` (1/h).
    fn elimination_rate(p: &[f64]) -> f64 {
        p[Self::CL] / p[Self::V]
    }
}

impl Default for PhenoV1 {
    fn default() -> Self {
        Self::new()
    }
}

fn parameters() -> Vec<ParameterSpec> {
    vec![
        ParameterSpec {
            name: "CL",
            unit: "L/h",
            typical: THETA_CL,
            lower: 1e-6,
            upper: 10.0,
            source: concat!(
                "Clearance of a 1-kg neonate: THETA1 = 0.00469555 L/h/kg times WT (power effect, \
                 reference 1 kg). ",
                pheno_estimates!()
            ),
        },
        ParameterSpec {
            name: "V",
            unit: "L",
            typical: THETA_V * (1.0 + THETA_APGR),
            lower: 1e-4,
            upper: 1e3,
            source: concat!(
                "Volume of a 1-kg neonate with APGR < 5: THETA2 * (1 + THETA3) = 0.984258 * \
                 1.15892 L/kg times WT; APGR >= 5 divides it by (1 + THETA3), giving THETA2. ",
                pheno_estimates!()
            ),
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

fn variability() -> VariabilityModel {
    VariabilityModel {
        random_effects: vec![
            RandomEffect {
                parameter: PhenoV1::CL,
                transform: Transform::LogNormal,
            },
            RandomEffect {
                parameter: PhenoV1::V,
                transform: Transform::LogNormal,
            },
        ],
        omega: vec![OMEGA2_CL, 0.0, 0.0, OMEGA2_V],
        covariate_effects: vec![
            CovariateEffect::Power {
                parameter: PhenoV1::CL,
                covariate: PhenoV1::WT,
                exponent: 1.0,
            },
            CovariateEffect::Power {
                parameter: PhenoV1::V,
                covariate: PhenoV1::WT,
                exponent: 1.0,
            },
            CovariateEffect::Threshold {
                parameter: PhenoV1::V,
                covariate: PhenoV1::APGR,
                threshold: APGR_THRESHOLD,
                shift: -THETA_APGR / (1.0 + THETA_APGR),
            },
        ],
        residual: vec![ResidualError::Proportional { sd: SIGMA2.sqrt() }],
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

impl Model for PhenoV1 {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn rhs(&self, _t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) {
        dy[0] = -Self::elimination_rate(p) * y[0];
    }

    fn outputs(&self, _t: f64, y: &[f64], p: &[f64], out: &mut [f64]) {
        out[0] = y[0] / p[Self::V];
    }

    fn advance_exact(&self, p: &[f64], y: &mut [f64], inputs: &[f64], dt: f64) -> bool {
        let k = Self::elimination_rate(p);
        let decay = (-k * dt).exp();
        // (1 − e^(−k·dt))/k, exact also for short intervals.
        let input_gain = -(-k * dt).exp_m1() / k;
        y[0] = y[0] * decay + inputs[0] * input_gain;
        true
    }

    fn is_linear(&self) -> bool {
        true
    }
}

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
            let cl = THETA_CL * wt * eta[0].exp();
            let v = THETA_V * wt * (1.0 + THETA_APGR * low_apgr) * eta[1].exp();
            assert!((p[0] - cl).abs() <= 1e-14 * cl, "CL {} vs {cl}", p[0]);
            assert!((p[1] - v).abs() <= 1e-14 * v, "V {} vs {v}", p[1]);
        }
    }

    #[test]
    fn closed_form_matches_the_ode_for_an_infusion() {
        // Infusion of 2 mg/h over 30 min from 10 mg: closed form of MODELS.md §6.1 times V.
        let model = PhenoV1::new();
        let p = [0.006, 1.3];
        let k = p[0] / p[1];
        let mut y = [10.0];
        assert!(model.advance_exact(&p, &mut y, &[2.0], 0.5));
        let expected = 10.0 * (-k * 0.5_f64).exp() + 2.0 / k * (1.0 - (-k * 0.5_f64).exp());
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
