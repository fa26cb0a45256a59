//! Tumour growth inhibition with a survival link: Zecchin 2016, ovarian cancer
//! (`docs/models/tumour.md`).
//!
//! The sum of longest diameters (SLD) of the target lesions of a patient with platinum-sensitive
//! recurrent ovarian cancer grows exponentially and shrinks under carboplatin and gemcitabine
//! exposure (DDMoRe bundle 217, real `.lst`). Overall survival follows a Weibull hazard raised by a
//! large baseline tumour, a poor week-12 tumour-size ratio, a new lesion and ECOG ≥ 1; new lesions
//! and dropout from tumour follow-up have Weibull hazards of their own (bundle 218, real `.lst`).
//! Time is in days.
//!
//! ```text
//! dSLD/dt = (KG/1000)·SLD − (KD0/1000·E0(t) + KD1/100·E1(t))·SLD,   SLD(0) = IBASE·1000 mm
//! TSR(t)  = (SLD(t) − SLD(0)) / SLD(0)
//! h_OS(t) = λ·α·(λ(t+δ))^(α−1) · exp(γ_SLD·SLD(0)/70 + γ_TSR·TSR(min(t, 84)) + γ_NL·NL(t) + γ_ECOG·[ECOG ≥ 1])
//! h_NL(t) = λ_NL·k_NL·(λ_NL(t+δ))^(k_NL−1) · exp(β_NL·TSR(t))
//! h_DO(t) = λ_DO·k_DO·(λ_DO(t+δ))^(k_DO−1) · exp(β_DO·PD(t)),   δ = 1e-6 day
//! ```
//!
//! | state index | CMT | name | meaning |
//! | --- | --- | --- | --- |
//! | 0 | 1 | `SLD` | sum of longest diameters, mm |
//! | 1 | 2 | `CARBO` | carboplatin target AUC delivered so far (mg·min/mL); default dose compartment |
//! | 2 | 3 | `GEM` | gemcitabine delivered so far, mg |
//! | 3 | 4 | `SLD84` | SLD until day 84, then held: carries `TSR(min(t, 84))` |
//! | 4 | 5 | `HNL` | cumulative new-lesion hazard |
//! | 5 | 6 | `HOS` | cumulative death hazard of the patient without ECOG and new-lesion factors |
//!
//! # Exposures (assumed mechanism)
//!
//! E0 and E1 are per-cycle average exposures in the paper's units, step functions that change at
//! cycle starts. The dose → exposure mapping was not obtained (`docs/models/tumour.md`
//! §Not obtained), so this model reads the exposures from the zero-order input rates of the regimen
//! ([`Model::rhs_with_inputs`]): a cycle's dose is given `over` the cycle
//! (`5 AUC cmt=2 over 21d q3w x6`), which sets a constant input rate for the cycle, and
//!
//! ```text
//! E0(t) = E0_REF · (r_CARBO(t) / (5 AUC per 21 d))^E0_POWER
//! E1(t) = E1_REF ·  r_GEM(t)   / (2000 mg/m² × 1.8 m² per 21 d)
//! ```
//!
//! with `E0_REF` = 126.6 and `E0_POWER` = ln(126.6/95.2)/ln(5/4) ≈ 1.277, so that carboplatin AUC 5
//! gives the carboplatin-arm median E0 = 126.6 and AUC 4 the combination-arm median 95.2, and
//! `E1_REF` = 13.8, the combination-arm median E1 (`docs/models/tumour.md` §SLD model). A dose
//! given as a bolus or as a short infusion into `CARBO` or `GEM` does not describe a cycle average;
//! see [`ZecchinOvarianV1`].
//!
//! # Events
//!
//! [`Model::outcomes`] draws three uniforms, in this order, from the stream it is handed: `U_NL`,
//! `U_DEATH`, `U_DROP`, and resolves the events in the order of their dependencies, so no random
//! number is needed inside the ODE:
//!
//! 1. new lesion `T_NL`: first time `HNL ≥ −ln U_NL` (its hazard depends on SLD only);
//! 2. progression `T_PD`: the first of the RECIST rule on SLD and `T_NL`;
//! 3. dropout from tumour follow-up `T_DROP`: the closed-form Weibull cumulative hazard,
//!    multiplied by `e^β_DO` from `T_PD` on, reaches `−ln U_DROP`;
//! 4. death: `e^(γ_ECOG·ECOG01)·[HOS(t) + (e^γ_NL − 1)·(HOS(t) − HOS(T_NL))₊] = −ln U_DEATH`, the
//!    OS hazard with `NL(t) = 1` from the new lesion on, **if the new lesion comes before the
//!    dropout** (`T_NL ≤ T_DROP`; otherwise `NL ≡ 0`). Bundle 218 was fitted to the *observed*
//!    time of the first new lesion, and a lesion after the end of tumour follow-up is never
//!    observed \[A\]. With every new lesion counted instead, the median OS of a simulated
//!    carboplatin arm falls from about 16.5 to about 13 months (the trial reported 17.3 \[S\]).

mod events;

use twin_engine::math;
use twin_engine::model::{
    CovariateSpec, DoseModifiers, Interpolation, Model, ModelSpec, OutcomeKind, OutcomeSpec,
    OutputSpec, ParameterSpec, StateSpec, TherapySpec, TimeUnit,
};
use twin_engine::population::{
    Population, RandomEffect, ResidualError, Transform, VariabilityModel,
};
use twin_engine::random::RandomStream;

/// Citation of the SLD model's parameters.
macro_rules! bundle_217 {
    () => {
        "Zecchin C et al., Br J Clin Pharmacol 2016;82:717-727; DDMoRe DDMODEL00000217 real .lst \
         final estimate [R] (docs/models/tumour.md §SLD model)"
    };
}

/// Citation of the survival, new-lesion and dropout parameters.
macro_rules! bundle_218 {
    () => {
        "Zecchin C et al., Br J Clin Pharmacol 2016;82:717-727; DDMoRe DDMODEL00000218 real .lst \
         [R] (docs/models/tumour.md §Survival, new-lesion and dropout hazards)"
    };
}

/// Day after which the tumour-size ratio in the OS hazard is held (week 12; bundle 218 code).
const TSR_FREEZE_DAY: f64 = 84.0;
/// δ of the Weibull hazards, day (bundle 218 code).
const WEIBULL_DELTA_DAY: f64 = 1e-6;
/// Normaliser of baseline SLD in the OS hazard, mm (bundle 218 code).
const BASELINE_NORMALISER_MM: f64 = 70.0;
/// RECIST-like progression: SLD at least this multiple of the nadir (bundle 218 code).
const PROGRESSION_RELATIVE: f64 = 1.2;
/// ... and at least this many mm above it (bundle 218 code).
const PROGRESSION_ABSOLUTE_MM: f64 = 5.0;
/// Time of the week-12 value outcomes, day.
const WEEK_12_DAY: f64 = 84.0;

/// Median E0 of the carboplatin arm (AUC 5) in bundle 217's simulated data \[D\].
const E0_CARBOPLATIN_ARM: f64 = 126.6;
/// Median E0 of the gemcitabine + carboplatin arm (AUC 4) in bundle 217's simulated data \[D\].
const E0_COMBINATION_ARM: f64 = 95.2;
/// Median E1 of the gemcitabine + carboplatin arm in bundle 217's simulated data \[D\].
const E1_COMBINATION_ARM: f64 = 13.8;
/// Carboplatin input rate that gives `E0_REF`: target AUC 5 mg·min/mL per 21-day cycle \[A\].
const CARBOPLATIN_REFERENCE_RATE: f64 = 5.0 / 21.0;
/// Carboplatin target AUC of the combination arm, mg·min/mL \[S: review table\].
const CARBOPLATIN_COMBINATION_AUC: f64 = 4.0;
/// Reference body-surface area, m² \[A\].
const REFERENCE_BSA_M2: f64 = 1.8;
/// Gemcitabine input rate that gives `E1_REF`: 2 × 1000 mg/m² per 21-day cycle at 1.8 m² \[A\].
const GEMCITABINE_REFERENCE_RATE: f64 = 2.0 * 1000.0 * REFERENCE_BSA_M2 / 21.0;

/// Largest exponent of a hazard multiplier. A numerical guard: at e^50 ≈ 5·10²¹ the cumulative
/// hazard has long passed any `−ln U` a 53-bit uniform can give (at most 36.7), so event draws do
/// not change; the cap keeps the state finite when a fast-growing tumour makes `TSR` huge.
const MAX_LOG_HAZARD_MULTIPLIER: f64 = 50.0;

/// Probabilities of ECOG 0, 1 and 2 in sampled virtual patients \[A\].
const ECOG_PROBABILITIES: [f64; 3] = [0.50, 0.42, 0.08];
/// Log-scale standard deviation of sampled BSA around the reference (CV ≈ 10 %) \[A\].
const BSA_LOG_SD: f64 = 0.10;

/// Number of outputs (`SLD`, `TSR`, `HNL`, `HOS`).
const N_OUTPUTS: usize = 4;

/// Zecchin 2016 ovarian-cancer SLD model with the bundle-218 overall-survival, new-lesion and
/// dropout hazards, id `tumour`, version 1, time in days.
///
/// Parameters, in order: `KG`, `KD0`, `KD1`, `IBASE` (SLD model, bundle 217); `LAMBDA_OS`,
/// `SHAPE_OS`, `GAMMA_SLD`, `GAMMA_TSR`, `GAMMA_NL`, `GAMMA_ECOG` (OS hazard); `LAMBDA_NL`,
/// `SHAPE_NL`, `BETA_NL` (new-lesion hazard); `LAMBDA_DROP`, `SHAPE_DROP`, `BETA_DROP` (dropout
/// hazard); `E0_REF`, `E0_POWER`, `E1_REF` (assumed exposure mapping). Random effects: log-normal
/// η1 on `KG` (ω² 1.7154), η2 on `KD0` **and** `KD1` (ω² 1.0945, one shared η as in bundle 217),
/// η3 on `IBASE` (ω² 0.51496). The generic population cannot give one η to two parameters, so
/// [`Model::individual_parameters`] applies η2 to `KD1` after the declared population model.
///
/// Covariates: `ECOG` (0–2, reference 0) and `BSA` (m², reference 1.8, used by `mg/m2` doses).
/// Outputs: `SLD` (mm, additive residual error 18.370 mm), `TSR` (fraction), `HNL` and `HOS`
/// (cumulative hazards, see the [module documentation](self)).
///
/// Exposure doses must be spread over their cycle with `over`: E0 and E1 are read from the input
/// rates, so a bolus into `CARBO` or `GEM` only adds to the delivered amount and has no effect on
/// SLD, and a short infusion gives an unrealistically high exposure for a short time.
///
/// # Example
///
/// ```
/// use twin_engine::Model;
/// use twin_engine::regimen::Regimen;
/// use twin_engine::simulate::simulate_records;
/// use twin_engine::records::Record;
/// use twin_models::tumour::ZecchinOvarianV1;
///
/// let model = ZecchinOvarianV1::new();
/// let mut records = Regimen::parse("5 AUC cmt=2 over 21d q3w x6", model.spec())?.doses;
/// records.push(Record::output_time(84.0));
/// let p = model.spec().typical_parameters();
/// let out = simulate_records(&model, &records, &p, Default::default())?;
/// let sld_day_84 = out[out.len() - 4];
/// assert!((sld_day_84 - 44.24).abs() < 0.01); // docs/models/tumour.md §Check numbers.
/// # Ok::<(), twin_engine::EngineError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ZecchinOvarianV1 {
    spec: ModelSpec,
}

impl ZecchinOvarianV1 {
    const KG: usize = 0;
    const KD0: usize = 1;
    const KD1: usize = 2;
    const IBASE: usize = 3;
    const LAMBDA_OS: usize = 4;
    const SHAPE_OS: usize = 5;
    const GAMMA_SLD: usize = 6;
    const GAMMA_TSR: usize = 7;
    const GAMMA_NL: usize = 8;
    const GAMMA_ECOG: usize = 9;
    const LAMBDA_NL: usize = 10;
    const SHAPE_NL: usize = 11;
    const BETA_NL: usize = 12;
    const LAMBDA_DROP: usize = 13;
    const SHAPE_DROP: usize = 14;
    const BETA_DROP: usize = 15;
    const E0_REF: usize = 16;
    const E0_POWER: usize = 17;
    const E1_REF: usize = 18;

    const SLD: usize = 0;
    const CARBO: usize = 1;
    const GEM: usize = 2;
    const SLD84: usize = 3;
    const HNL: usize = 4;
    const HOS: usize = 5;

    const OUT_SLD: usize = 0;
    const OUT_TSR: usize = 1;
    const OUT_HNL: usize = 2;
    const OUT_HOS: usize = 3;

    const COV_ECOG: usize = 0;
    const COV_BSA: usize = 1;

    /// Index of the η shared by `KD0` and `KD1`.
    const ETA_KD: usize = 1;

    /// The model with its specification built once.
    #[must_use]
    pub fn new() -> Self {
        Self { spec: spec() }
    }

    /// Carboplatin (E0) and gemcitabine (E1) exposures for input rates `carboplatin` (target AUC
    /// per day) and `gemcitabine` (mg per day).
    fn exposures(p: &[f64], carboplatin: f64, gemcitabine: f64) -> (f64, f64) {
        let e0 = if carboplatin > 0.0 {
            p[Self::E0_REF] * math::pow(carboplatin / CARBOPLATIN_REFERENCE_RATE, p[Self::E0_POWER])
        } else {
            0.0
        };
        let e1 = p[Self::E1_REF] * gemcitabine.max(0.0) / GEMCITABINE_REFERENCE_RATE;
        (e0, e1)
    }

    /// `dy/dt` under exposures `e0`, `e1`, without the zero-order inputs.
    fn derivatives(t: f64, y: &[f64], p: &[f64], e0: f64, e1: f64, dy: &mut [f64]) {
        let rate = p[Self::KG] / 1000.0 - (p[Self::KD0] / 1000.0 * e0 + p[Self::KD1] / 100.0 * e1);
        let baseline = p[Self::IBASE] * 1000.0;
        dy[Self::SLD] = rate * y[Self::SLD];
        dy[Self::CARBO] = 0.0;
        dy[Self::GEM] = 0.0;
        dy[Self::SLD84] = if t < TSR_FREEZE_DAY {
            rate * y[Self::SLD84]
        } else {
            0.0
        };
        let relative_change = (y[Self::SLD] - baseline) / baseline;
        dy[Self::HNL] =
            events::weibull_hazard(p[Self::LAMBDA_NL], p[Self::SHAPE_NL], WEIBULL_DELTA_DAY, t)
                * math::exp((p[Self::BETA_NL] * relative_change).min(MAX_LOG_HAZARD_MULTIPLIER));
        let held_ratio = (y[Self::SLD84] - baseline) / baseline;
        let log_multiplier = p[Self::GAMMA_SLD] * baseline / BASELINE_NORMALISER_MM
            + p[Self::GAMMA_TSR] * held_ratio;
        dy[Self::HOS] =
            events::weibull_hazard(p[Self::LAMBDA_OS], p[Self::SHAPE_OS], WEIBULL_DELTA_DAY, t)
                * math::exp(log_multiplier.min(MAX_LOG_HAZARD_MULTIPLIER));
    }
}

impl Default for ZecchinOvarianV1 {
    fn default() -> Self {
        Self::new()
    }
}

impl Model for ZecchinOvarianV1 {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Without running infusions both exposures are zero.
    fn rhs(&self, t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) {
        Self::derivatives(t, y, p, 0.0, 0.0, dy);
    }

    /// The input rates into `CARBO` and `GEM` are the cycle-average doses that set E0 and E1.
    fn rhs_with_inputs(&self, t: f64, y: &[f64], p: &[f64], inputs: &[f64], dy: &mut [f64]) {
        let (e0, e1) = Self::exposures(p, inputs[Self::CARBO], inputs[Self::GEM]);
        Self::derivatives(t, y, p, e0, e1, dy);
        for (d, r) in dy.iter_mut().zip(inputs) {
            *d += r;
        }
    }

    fn initial_state(&self, p: &[f64], y: &mut [f64]) {
        y.fill(0.0);
        y[Self::SLD] = p[Self::IBASE] * 1000.0;
        y[Self::SLD84] = y[Self::SLD];
    }

    /// The declared population model, then the shared η of `KD0` applied to `KD1` (bundle 217:
    /// `KD1 = θ3·e^η2`).
    fn individual_parameters(
        &self,
        population: &Population,
        covariates: &[f64],
        eta: &[f64],
        params: &mut [f64],
    ) {
        population.individual_parameters(covariates, eta, params);
        params[Self::KD1] *= math::exp(eta[Self::ETA_KD]);
    }

    /// ECOG 0/1/2 with probabilities 0.50/0.42/0.08 and BSA = 1.8·e^(0.10·z) m², clamped to its
    /// bounds; both assumed (no cohort description was read).
    fn sample_covariates(&self, stream: &mut RandomStream, covariates: &mut [f64]) {
        let u = stream.uniform();
        covariates[Self::COV_ECOG] = if u < ECOG_PROBABILITIES[0] {
            0.0
        } else if u < ECOG_PROBABILITIES[0] + ECOG_PROBABILITIES[1] {
            1.0
        } else {
            2.0
        };
        let bsa = &self.spec.covariates[Self::COV_BSA];
        covariates[Self::COV_BSA] = (REFERENCE_BSA_M2 * math::exp(BSA_LOG_SD * stream.normal()))
            .clamp(bsa.lower, bsa.upper);
    }

    /// See the [module documentation](self): three uniforms `U_NL`, `U_DEATH`, `U_DROP` are drawn
    /// in this order whatever happens; new lesion, progression, dropout and death are resolved in
    /// that order; events after death are not reported; every time has the grid's resolution.
    fn outcomes(
        &self,
        times: &[f64],
        outputs: &[f64],
        params: &[f64],
        covariates: &[f64],
        stream: &mut RandomStream,
        out: &mut [f64],
    ) {
        let u_new_lesion = stream.uniform();
        let u_death = stream.uniform();
        let u_dropout = stream.uniform();
        out.fill(f64::NAN);
        let n_times = times.len().min(outputs.len() / N_OUTPUTS);
        let times = &times[..n_times];
        let Some(&horizon) = times.last() else {
            return;
        };

        // 1. New lesion: its hazard depends on the SLD trajectory only.
        let t_new_lesion = events::first_passage(
            times,
            outputs,
            N_OUTPUTS,
            Self::OUT_HNL,
            -math::ln(u_new_lesion),
        );

        // 2. Progression: the RECIST rule on the grid, or the new lesion.
        let t_recist = events::recist_progression(
            times,
            outputs,
            N_OUTPUTS,
            Self::OUT_SLD,
            PROGRESSION_RELATIVE,
            PROGRESSION_ABSOLUTE_MM,
        );
        let t_progression = t_recist.min(t_new_lesion);

        // 3. Dropout from tumour follow-up: Weibull hazard × e^BETA_DROP from progression on. A
        //    progression after the dropout does not change it, so the latent progression time
        //    can be used. Not limited to the grid: it only decides whether a new lesion is seen.
        let (scale, shape) = (params[Self::LAMBDA_DROP], params[Self::SHAPE_DROP]);
        let dropout_at_progression = if t_progression.is_nan() {
            f64::INFINITY
        } else {
            events::weibull_cumulative(scale, shape, WEIBULL_DELTA_DAY, t_progression)
        };
        let t_dropout_latent = events::weibull_cumulative_inverse(
            scale,
            shape,
            WEIBULL_DELTA_DAY,
            events::base_target_after_switch(
                -math::ln(u_dropout),
                dropout_at_progression,
                math::exp(params[Self::BETA_DROP]),
            ),
        );
        let t_dropout = if t_dropout_latent <= horizon {
            t_dropout_latent
        } else {
            f64::NAN
        };

        // 4. Death: NL(t) = 1 from a new lesion seen while the patient is still in tumour
        //    follow-up (bundle 218 was fitted to the observed time of the first new lesion).
        let ecog = covariates
            .get(Self::COV_ECOG)
            .copied()
            .filter(|c| !c.is_nan())
            .unwrap_or(self.spec.covariates[Self::COV_ECOG].reference);
        let ecog_factor = if ecog > 0.0 {
            math::exp(params[Self::GAMMA_ECOG])
        } else {
            1.0
        };
        let hos_at_seen_lesion = if t_new_lesion <= t_dropout_latent {
            events::interpolate(times, outputs, N_OUTPUTS, Self::OUT_HOS, t_new_lesion)
        } else {
            f64::INFINITY
        };
        let hos_target = events::base_target_after_switch(
            -math::ln(u_death) / ecog_factor,
            hos_at_seen_lesion,
            math::exp(params[Self::GAMMA_NL]),
        );
        let t_death = events::first_passage(times, outputs, N_OUTPUTS, Self::OUT_HOS, hos_target);

        // A patient who has died has no later progression, new lesion or dropout.
        let before_death = |t: f64| {
            if t_death.is_nan() || t <= t_death {
                t
            } else {
                f64::NAN
            }
        };
        let progression = before_death(t_progression);
        out[0] = progression;
        out[1] = t_death;
        out[2] = progression.min(t_death);
        out[3] = before_death(t_new_lesion);
        out[4] = before_death(t_dropout);
        out[5] = events::interpolate(times, outputs, N_OUTPUTS, Self::OUT_TSR, WEEK_12_DAY);
        out[6] = events::interpolate(times, outputs, N_OUTPUTS, Self::OUT_SLD, WEEK_12_DAY);
    }

    fn outputs(&self, _t: f64, y: &[f64], p: &[f64], out: &mut [f64]) {
        let baseline = p[Self::IBASE] * 1000.0;
        out[Self::OUT_SLD] = y[Self::SLD];
        out[Self::OUT_TSR] = (y[Self::SLD] - baseline) / baseline;
        out[Self::OUT_HNL] = y[Self::HNL];
        out[Self::OUT_HOS] = y[Self::HOS];
    }
}

/// Parameters in the order of the `ZecchinOvarianV1` index constants.
fn parameters() -> Vec<ParameterSpec> {
    let e0_power = math::ln(E0_CARBOPLATIN_ARM / E0_COMBINATION_ARM)
        / math::ln(5.0 / CARBOPLATIN_COMBINATION_AUC);
    vec![
        ParameterSpec::new(
            "KG",
            "1e-3/day",
            0.61063,
            (0.0, 1e3),
            concat!(
                "Tumour growth rate theta1 (effective 6.1063e-4 /day); ",
                bundle_217!()
            ),
        ),
        ParameterSpec::new(
            "KD0",
            "1e-3/day per E0 unit",
            0.049726,
            (0.0, 1e3),
            concat!(
                "Carboplatin kill rate per unit E0 theta2 (effective 4.9726e-5); ",
                bundle_217!()
            ),
        ),
        ParameterSpec::new(
            "KD1",
            "1e-2/day per E1 unit",
            0.016408,
            (0.0, 1e3),
            concat!(
                "Gemcitabine kill rate per unit E1 theta3 (effective 1.6408e-4), sharing KD0's \
                 eta; ",
                bundle_217!()
            ),
        ),
        ParameterSpec::new(
            "IBASE",
            "m",
            0.071322,
            (1e-4, 1.0),
            concat!("Baseline SLD theta4 in metres (71.32 mm); ", bundle_217!()),
        ),
        ParameterSpec::new(
            "LAMBDA_OS",
            "1/day",
            1.1843e-3,
            (1e-6, 1.0),
            concat!("Weibull scale of the death hazard; ", bundle_218!()),
        ),
        ParameterSpec::new(
            "SHAPE_OS",
            "-",
            2.0044,
            (0.1, 10.0),
            concat!("Weibull shape of the death hazard; ", bundle_218!()),
        ),
        ParameterSpec::new(
            "GAMMA_SLD",
            "-",
            0.20837,
            (-10.0, 10.0),
            concat!(
                "Log hazard ratio per baseline SLD/70 mm; ",
                bundle_218!(),
                ". [A] assumed: the model baseline IBASE*1000 stands for the observed baseline"
            ),
        ),
        ParameterSpec::new(
            "GAMMA_TSR",
            "-",
            0.90356,
            (-10.0, 10.0),
            concat!(
                "Log hazard ratio per unit tumour-size ratio TSR(min(t, 84 d)); ",
                bundle_218!()
            ),
        ),
        ParameterSpec::new(
            "GAMMA_NL",
            "-",
            1.2303,
            (-10.0, 10.0),
            concat!(
                "Log hazard ratio of death after a new lesion; ",
                bundle_218!()
            ),
        ),
        ParameterSpec::new(
            "GAMMA_ECOG",
            "-",
            0.51621,
            (-10.0, 10.0),
            concat!("Log hazard ratio of death for ECOG >= 1; ", bundle_218!()),
        ),
        ParameterSpec::new(
            "LAMBDA_NL",
            "1/day",
            0.0049,
            (1e-6, 1.0),
            concat!(
                "Weibull scale of the new-lesion hazard (fixed inside the real run); ",
                bundle_218!(),
                ". [A] assumed: same Weibull form as the death hazard"
            ),
        ),
        ParameterSpec::new(
            "SHAPE_NL",
            "-",
            2.67,
            (0.1, 10.0),
            concat!("Weibull shape of the new-lesion hazard; ", bundle_218!()),
        ),
        ParameterSpec::new(
            "BETA_NL",
            "-",
            1.22,
            (-10.0, 10.0),
            concat!(
                "Log hazard ratio of a new lesion per unit relative SLD change (not held); ",
                bundle_218!()
            ),
        ),
        ParameterSpec::new(
            "LAMBDA_DROP",
            "1/day",
            0.0049,
            (1e-6, 1.0),
            concat!(
                "Weibull scale of the dropout hazard (fixed inside the real run); ",
                bundle_218!(),
                ". [A] assumed: same Weibull form as the death hazard"
            ),
        ),
        ParameterSpec::new(
            "SHAPE_DROP",
            "-",
            2.95,
            (0.1, 10.0),
            concat!("Weibull shape of the dropout hazard; ", bundle_218!()),
        ),
        ParameterSpec::new(
            "BETA_DROP",
            "-",
            1.16,
            (-10.0, 10.0),
            concat!(
                "Log hazard ratio of dropout after progression; ",
                bundle_218!(),
                ". [A] assumed: the progression flag stays 1 once set"
            ),
        ),
        ParameterSpec::new(
            "E0_REF",
            "E0 unit",
            E0_CARBOPLATIN_ARM,
            (0.0, 1e4),
            "Carboplatin exposure E0 at target AUC 5 mg*min/mL per 21-day cycle. [A] assumed \
             mapping, anchored to the carboplatin-arm median E0 126.6 of bundle 217's simulated \
             data [D] (docs/models/tumour.md §Exposures in twinsim); the dose-to-exposure \
             mapping was not obtained",
        ),
        ParameterSpec::new(
            "E0_POWER",
            "-",
            e0_power,
            (0.0, 10.0),
            "Exponent of E0 in the carboplatin input rate, ln(126.6/95.2)/ln(5/4) = 1.277. [A] \
             assumed: the only monotone power law through 0 and both arm medians (AUC 5 -> 126.6, \
             AUC 4 -> 95.2, bundle 217 simulated data [D]); the arms' ratio 1.33 (not 1.25) \
             probably reflects dose delays, not pharmacology",
        ),
        ParameterSpec::new(
            "E1_REF",
            "E1 unit",
            E1_COMBINATION_ARM,
            (0.0, 1e4),
            "Gemcitabine exposure E1 for 2 x 1000 mg/m2 per 21-day cycle at BSA 1.8 m2. [A] \
             assumed: proportional to the absolute dose rate (mg/day), anchored to the \
             combination-arm median E1 13.8 of bundle 217's simulated data [D] \
             (docs/models/tumour.md §Exposures in twinsim)",
        ),
    ]
}

/// States in the order of the `ZecchinOvarianV1` index constants.
fn states() -> Vec<StateSpec> {
    vec![
        StateSpec {
            name: "SLD",
            unit: "mm",
        },
        // The unit doubles as the regimen word: `5 AUC cmt=2 ...` (mg*min/mL).
        StateSpec {
            name: "CARBO",
            unit: "AUC",
        },
        StateSpec {
            name: "GEM",
            unit: "mg",
        },
        StateSpec {
            name: "SLD84",
            unit: "mm",
        },
        StateSpec {
            name: "HNL",
            unit: "-",
        },
        StateSpec {
            name: "HOS",
            unit: "-",
        },
    ]
}

/// The per-patient outcomes, in the order written by `outcomes`.
fn outcomes() -> Vec<OutcomeSpec> {
    vec![
        OutcomeSpec {
            name: "progression",
            unit: "d",
            kind: OutcomeKind::TimeToEvent,
            description: "first grid time with SLD >= 1.2 x nadir and SLD - nadir >= 5 mm, or a \
                          new lesion (bundle 218 rule); not reported after death",
        },
        OutcomeSpec {
            name: "death",
            unit: "d",
            kind: OutcomeKind::TimeToEvent,
            description: "overall survival: inverse transform of the bundle-218 Weibull hazard \
                          with TSR(min(t, 84 d)), ECOG and new-lesion effects (a new lesion \
                          counts if seen before dropout)",
        },
        OutcomeSpec {
            name: "pfs",
            unit: "d",
            kind: OutcomeKind::TimeToEvent,
            description: "progression-free survival: first of progression or death",
        },
        OutcomeSpec {
            name: "new_lesion",
            unit: "d",
            kind: OutcomeKind::TimeToEvent,
            description: "first new lesion (bundle-218 Weibull hazard x exp(1.22 x relative SLD \
                          change)); not reported after death",
        },
        OutcomeSpec {
            name: "dropout",
            unit: "d",
            kind: OutcomeKind::TimeToEvent,
            description: "dropout from tumour follow-up (bundle-218 Weibull hazard x exp(1.16) \
                          after progression); not applied as censoring, not reported after death",
        },
        OutcomeSpec {
            name: "tsr_week12",
            unit: "fraction",
            kind: OutcomeKind::Value,
            description: "tumour-size ratio (SLD - SLD0)/SLD0 at day 84, interpolated linearly on \
                          the grid (NaN if the grid does not cover day 84)",
        },
        OutcomeSpec {
            name: "sld_week12",
            unit: "mm",
            kind: OutcomeKind::Value,
            description: "SLD at day 84, interpolated linearly on the grid (NaN if the grid does \
                          not cover day 84)",
        },
    ]
}

/// The model's declaration.
fn spec() -> ModelSpec {
    let n_states = 6;
    let log_normal = |parameter| RandomEffect {
        parameter,
        transform: Transform::LogNormal,
    };
    ModelSpec {
        id: "tumour",
        version: "1",
        description: "Ovarian cancer SLD under carboplatin +/- gemcitabine with overall survival \
                      (Zecchin 2016)",
        time_unit: TimeUnit::Day,
        states: states(),
        parameters: parameters(),
        covariates: vec![
            CovariateSpec {
                name: "ECOG",
                unit: "grade",
                reference: 0.0,
                lower: 0.0,
                upper: 2.0,
                interpolation: Interpolation::Locf,
            },
            CovariateSpec {
                name: "BSA",
                unit: "m2",
                reference: REFERENCE_BSA_M2,
                lower: 1.0,
                upper: 3.0,
                interpolation: Interpolation::Locf,
            },
        ],
        outputs: vec![
            OutputSpec {
                name: "SLD",
                unit: "mm",
            },
            OutputSpec {
                name: "TSR",
                unit: "fraction",
            },
            OutputSpec {
                name: "HNL",
                unit: "-",
            },
            OutputSpec {
                name: "HOS",
                unit: "-",
            },
        ],
        dosing: vec![DoseModifiers::default(); n_states],
        default_dose_compartment: ZecchinOvarianV1::CARBO,
        variability: VariabilityModel {
            random_effects: vec![
                log_normal(ZecchinOvarianV1::KG),
                log_normal(ZecchinOvarianV1::KD0),
                log_normal(ZecchinOvarianV1::IBASE),
            ],
            omega: vec![
                1.7154, 0.0, 0.0, //
                0.0, 1.0945, 0.0, //
                0.0, 0.0, 0.51496,
            ],
            covariate_effects: Vec::new(),
            residual: vec![
                ResidualError::Additive { sd: 18.370 },
                ResidualError::None,
                ResidualError::None,
                ResidualError::None,
            ],
        },
        outcomes: outcomes(),
        therapies: vec![
            TherapySpec {
                name: "carboplatin-auc5",
                regimen: "5 AUC cmt=2 over 21d q3w x6",
                description: "Carboplatin AUC 5 mg*min/mL every 3 weeks [S: review table], 6 \
                              cycles [A]; each cycle's dose spread over the cycle so that its \
                              input rate sets E0 (126.6)",
            },
            TherapySpec {
                name: "gemcitabine-carboplatin",
                regimen: "4 AUC cmt=2 over 21d q3w x6; 2000 mg/m2 cmt=3 over 21d q3w x6",
                description: "Carboplatin AUC 4 plus gemcitabine 1000 mg/m2 on days 1 and 8 of \
                              21-day cycles [S: review table; days 1 and 8 and 6 cycles A]; E1 is \
                              a per-cycle average, so the cycle's 2000 mg/m2 is spread over the \
                              cycle (E0 95.2, E1 13.8 at BSA 1.8 m2)",
            },
        ],
        evidence: "published parameters (Zecchin 2016 via DDMoRe 217/218); exposure mapping \
                   assumed",
        documentation: DOCUMENTATION,
    }
}

/// What `twin models --describe` shows.
const DOCUMENTATION: &str = "\
Zecchin C, Gueorguieva I, Enas NH, Friberg LE. Br J Clin Pharmacol 2016;82(3):717-727. Ovarian cancer
tumour size (sum of longest diameters, SLD) under carboplatin +/- gemcitabine, with overall survival.
SLD model: DDMoRe DDMODEL00000217 real .lst; survival, new-lesion and dropout hazards: DDMODEL00000218
real .lst (docs/models/tumour.md §SLD model and §Survival, new-lesion and dropout hazards). Time in
days.

States: SLD (mm, CMT 1); CARBO (carboplatin target AUC delivered, mg*min/mL, CMT 2, default dose
compartment); GEM (gemcitabine delivered, mg, CMT 3); SLD84 (SLD held from day 84); HNL, HOS
(cumulative new-lesion and death hazards).

Equations:
  dSLD/dt = (KG/1000)*SLD - (KD0/1000*E0(t) + KD1/100*E1(t))*SLD,  SLD(0) = IBASE*1000
  dSLD84/dt = same rate * SLD84 for t < 84, 0 after          (so SLD84 = SLD(min(t, 84)))
  TSR(t) = (SLD(t) - SLD(0))/SLD(0)
  dHNL/dt = LAMBDA_NL*SHAPE_NL*(LAMBDA_NL*(t+d))^(SHAPE_NL-1) * exp(BETA_NL*TSR(t))
  dHOS/dt = LAMBDA_OS*SHAPE_OS*(LAMBDA_OS*(t+d))^(SHAPE_OS-1)
            * exp(GAMMA_SLD*SLD(0)/70 + GAMMA_TSR*TSR(min(t, 84)))
  death hazard = dHOS/dt * exp(GAMMA_NL*NL(t) + GAMMA_ECOG*[ECOG >= 1])   (applied when drawing)
  dropout hazard = LAMBDA_DROP*SHAPE_DROP*(LAMBDA_DROP*(t+d))^(SHAPE_DROP-1) * exp(BETA_DROP*PD(t))
  d = 1e-6 day. The exponents of the hazard multipliers are capped at 50 as a numerical guard
  (e^50 ~ 5e21; the cumulative hazard then exceeds any -ln U, so event draws are unchanged).

Exposures [A] (the dose -> E0/E1 mapping of the paper was not obtained):
  E0 and E1 are per-cycle average exposures in the paper's units, step functions (LOCF). They are
  read from the zero-order input rates of the regimen: a cycle's dose is given 'over' the cycle.
  E0 = E0_REF*(r_CARBO/(5 AUC per 21 d))^E0_POWER, E0_REF = 126.6, E0_POWER = ln(126.6/95.2)/ln(5/4)
       = 1.277: carboplatin AUC 5 gives the carboplatin-arm median 126.6 and AUC 4 the
       combination-arm median 95.2 (bundle 217 simulated data [D]).
  E1 = E1_REF*r_GEM/(2000 mg/m2 * 1.8 m2 per 21 d), E1_REF = 13.8 (combination-arm median [D]);
       proportional to the absolute dose in mg, so mg/m2 dosing gives E1 proportional to BSA.
  A bolus into CARBO or GEM changes no exposure; a short infusion gives a short, high exposure.
  Exposures change at the cycle start (the bundle sets them 0.04 day later); no dose delays or
  reductions are modelled.

Parameters (typical values; sources in the parameter table):
  KG 0.61063 e-3/day, KD0 0.049726 e-3/day per E0, KD1 0.016408 e-2/day per E1, IBASE 0.071322 m
    [R, bundle 217 real .lst].
  LAMBDA_OS 1.1843e-3 /day, SHAPE_OS 2.0044, GAMMA_SLD 0.20837, GAMMA_TSR 0.90356, GAMMA_NL 1.2303,
    GAMMA_ECOG 0.51621 [R, bundle 218 real .lst].
  LAMBDA_NL 0.0049 /day, SHAPE_NL 2.67, BETA_NL 1.22; LAMBDA_DROP 0.0049 /day, SHAPE_DROP 2.95,
    BETA_DROP 1.16 [R, fixed submodels inside the bundle 218 real run].
  E0_REF 126.6, E0_POWER 1.277, E1_REF 13.8 [A, anchored to [D] medians].
Variability: log-normal eta1 on KG (omega2 1.7154), eta2 on KD0 AND KD1 (omega2 1.0945, one shared
  eta as in bundle 217; applied to KD1 by the model's individual_parameters), eta3 on IBASE
  (omega2 0.51496). No frailty in the hazards (bundle 218 fixes its omega at 0).
Residual error: SLD additive, SD 18.370 mm [R]. The bundle's M3 likelihood for values below
  LLOQ 5 mm (P(BLQ) = Phi((5 - SLD)/18.37)) is not implemented here (later issue).

Outcomes (computed from the output grid; event times have the grid's resolution):
  Three uniforms are drawn per patient, in this order: U_NL, U_DEATH, U_DROP. Events are resolved
  in the order of their dependencies:
  new_lesion: first t with HNL(t) >= -ln U_NL, HNL interpolated linearly between grid times.
  progression: first grid time with SLD >= 1.2 x nadir and SLD - nadir >= 5 mm (nadir: running
         minimum including baseline), or the new lesion, whichever is first [R rule].
  dropout: closed-form inverse of the Weibull dropout hazard with PD = 1 from progression on [A:
         PD stays 1 once set]; reported, not applied as censoring of the other events.
  death: first t with e^(GAMMA_ECOG*ECOG01)*[HOS(t) + (e^GAMMA_NL - 1)*(HOS(t) - HOS(T_NL))+]
         >= -ln U_DEATH, i.e. the OS hazard with NL = 1 from the new lesion on, counting only a
         new lesion seen before the dropout [A: bundle 218 used the observed new-lesion time, and
         tumour follow-up ends at dropout; counting every new lesion lowers the simulated median
         OS of the carboplatin arm from about 16.5 to about 13 months, against 17.3 reported].
  pfs: first of progression and death.
  new_lesion and progression are the tumour's events as if assessed throughout (not censored at
  dropout). Events after death are not reported (NaN); events after the last grid time are NaN.
  tsr_week12, sld_week12: TSR and SLD at day 84, interpolated linearly on the grid.
  Outcomes expect outputs without residual error and a grid starting at the start of treatment.

Assumptions [A]:
  - The exposure mapping above (E0 power law through both arm medians, E1 linear in mg/day anchored
    at 2000 mg/m2 per 21 days and BSA 1.8 m2); doses of CARBO and GEM must be spread 'over' the cycle.
  - Gemcitabine 1000 mg/m2 on days 1 and 8 of 21-day cycles, entered as the cycle total spread over
    the cycle (E1 is a per-cycle average); 6 cycles in both arms.
  - BSA reference 1.8 m2; sampled BSA = 1.8*exp(0.10*z), clamped to [1, 3] m2.
  - ECOG reference 0; sampled ECOG 0/1/2 with probabilities 0.50/0.42/0.08.
  - SLD(0) = IBASE*1000 stands for the observed baseline SLD (BASE) of the OS hazard.
  - New-lesion and dropout hazards have the same Weibull form as the death hazard.
  - The progression flag of the dropout hazard stays 1 once set.
  - Only a new lesion before dropout from tumour follow-up raises the death hazard.
  - new_lesion, progression and pfs are not censored at dropout (a trial analysis may do so).
  - Time 0 is the start of treatment: the hazards' clock starts there.
  - Hazard-multiplier exponents capped at 50 (numerical guard, see above).";
