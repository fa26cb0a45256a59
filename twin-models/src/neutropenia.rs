//! Semi-mechanistic myelosuppression (Friberg model): neutrophils or leukocytes falling and
//! recovering after cytotoxic chemotherapy, driven by the drug's own pharmacokinetics. Time in
//! hours. `docs/models/neutropenia.md`.
//!
//! | type | id | drug, cells | parameters |
//! | --- | --- | --- | --- |
//! | [`KloftDocetaxelV1`] | `neutropenia` | docetaxel, ANC | Kloft 2006 via DDMoRe 224 \[R\], covariates, IIV |
//! | [`KloftDocetaxelV2`] | `neutropenia` (version 2) | docetaxel, ANC | as version 1, with Kloft 2006's IIV on γ restored \[R\] |
//! | [`FribergDocetaxelV1`] | `neutropenia-friberg2002-docetaxel` | docetaxel, ANC | Friberg 2002 via radivot/myelo \[S\], no IIV |
//! | [`FribergPaclitaxelV1`] | `neutropenia-friberg2002-paclitaxel` | paclitaxel, leukocytes | Friberg 2002 via DDMoRe 186 \[R\], IIV |
//!
//! # Equations
//!
//! States: the drug amounts (`CENTRAL`, which receives `iv` doses, then the peripheral
//! compartments), then `PROL` (proliferating progenitors), `TRANSIT1–3` (maturing cells) and `CIRC`
//! (circulating cells, ×10⁹/L, observed). With `k_tr = 4/MTT` (three transit compartments):
//!
//! ```text
//! E          = SLOPE · C_u                     (C_u: concentration in µmol/L)
//! dPROL/dt   = k_tr·PROL·(1 − E)·(BASE / max(CIRC, 1e-9))^γ − k_tr·PROL
//! dTRANSIT1  = k_tr·(PROL − TRANSIT1)
//! dTRANSIT2  = k_tr·(TRANSIT1 − TRANSIT2)
//! dTRANSIT3  = k_tr·(TRANSIT2 − TRANSIT3)
//! dCIRC/dt   = k_tr·(TRANSIT3 − CIRC)
//! ```
//!
//! Every cell compartment starts at `BASE` (the steady state without drug). `(1 − E)` is not
//! floored, as in the bundle code. The floor of 1e-9 ×10⁹/L (one cell per litre) on `CIRC` inside
//! the feedback term keeps the singular `(BASE/CIRC)^γ` finite for extreme virtual patients
//! (`docs/models/neutropenia.md` §Equations, numerical guard); it does not act above that count.
//!
//! Docetaxel (Bruno 1996, three compartments, amounts in mg):
//!
//! ```text
//! dCENTRAL/dt = −(K10 + K12 + K13)·CENTRAL + K21·PERIPH1 + K31·PERIPH2
//! dPERIPH1/dt = K12·CENTRAL − K21·PERIPH1
//! dPERIPH2/dt = K13·CENTRAL − K31·PERIPH2
//! CP = CENTRAL / V1 (mg/L),   C_u = CP · 1000 / MW (µmol/L)
//! ```
//!
//! Paclitaxel (bundle 186, two compartments, amounts in µmol):
//!
//! ```text
//! dCENTRAL/dt = −(Q + CL)/V1·CENTRAL + Q/V2·PERIPH1
//! dPERIPH1/dt = Q/V1·CENTRAL − Q/V2·PERIPH1
//! CU = C_u = CENTRAL / V1 (unbound, µmol/L)
//! ```
//!
//! # Outcomes
//!
//! Every version computes, from the output grid (so their time resolution is the grid's spacing):
//! `grade3` and `grade4` (first grid time below the grade threshold), `grade4_duration` (total
//! time below the grade-4 threshold: each grid time below it counts until the next grid time),
//! the nadir count and `nadir_day`, and `recovery` (first grid time after the nadir back at or
//! above `BASE`).
//!
//! # Example
//!
//! ```
//! use twin_engine::Model;
//! use twin_models::neutropenia::KloftDocetaxelV1;
//!
//! let model = KloftDocetaxelV1::new();
//! let p = model.spec().typical_parameters();
//! let mut y = vec![0.0; model.spec().states.len()];
//! model.initial_state(&p, &mut y);
//! // Without drug the cell chain is at steady state.
//! let mut dy = vec![1.0; y.len()];
//! model.rhs(0.0, &y, &p, &mut dy);
//! assert!(dy.iter().all(|d| d.abs() < 1e-12));
//! ```

mod friberg;

use twin_engine::model::{
    CovariateSpec, DoseModifiers, Interpolation, Model, ModelSpec, OutputSpec, ParameterSpec,
    StateSpec, TherapySpec, TimeUnit,
};
use twin_engine::population::{CovariateEffect, ResidualError, VariabilityModel};
use twin_engine::random::RandomStream;
use twin_engine::spectral::Spectrum;

use friberg::{
    AAG, AAG_MEDIAN, BASE, CovariateDraws, Disposition, FribergCore, GAMMA, GradeThresholds, MTT,
    OutcomeTexts, PERF, PRIOR_CHEMO, SEX, SLOPE, bsa_covariate, cell_states, diagonal_log_normal,
    grade_outcomes,
};

/// Citation of the Kloft 2006 values as coded in DDMoRe bundle 224.
macro_rules! kloft {
    () => {
        "Kloft C et al. 2006 as used by Netterberg I et al., Cancer Chemother Pharmacol 2017; \
         DDMoRe DDMODEL00000224 .mod/.lst [R] (docs/models/neutropenia.md §Kloft 2006 docetaxel)"
    };
}

/// Citation of the Bruno 1996 docetaxel PK.
macro_rules! bruno {
    () => {
        "Bruno R et al., J Pharmacokinet Biopharm 1996;24:153-172, Table II first column, via \
         radivot/myelo fribergPars02 [S] (docs/models/neutropenia.md §Docetaxel pharmacokinetics)"
    };
}

/// Citation of the Friberg 2002 docetaxel values.
macro_rules! friberg_docetaxel {
    () => {
        "Friberg LE et al., J Clin Oncol 2002;20:4713-4721, Table 4 first row, via radivot/myelo \
         fribergPars02 [S] (docs/models/neutropenia.md §Friberg 2002 docetaxel)"
    };
}

/// Citation of the Friberg 2002 paclitaxel values as coded in DDMoRe bundle 186.
macro_rules! friberg_paclitaxel {
    () => {
        "Friberg LE et al., J Clin Oncol 2002 (paclitaxel, leukocytes); DDMoRe DDMODEL00000186 \
         .mdl, equal to the publication per its Command.txt [R] \
         (docs/models/neutropenia.md §Friberg 2002 paclitaxel)"
    };
}

/// Provenance of the paclitaxel PK values taken from the bundle-186 data.
macro_rules! bundle_median {
    () => {
        " [D] median over the subjects of the DDMoRe 186 dataset, where it is an individual data \
         column (docs/models/neutropenia.md §Friberg 2002 paclitaxel); [A] used as every \
         patient's value (no PK IIV)."
    };
}

/// The cell-chain equations, shared by every version's documentation.
macro_rules! friberg_equations {
    () => {
        "Cell chain (Friberg 2002 structure), k_tr = 4/MTT, E = SLOPE*C_u (C_u in umol/L):
  dPROL/dt     = k_tr*PROL*(1 - E)*(BASE/max(CIRC, 1e-9))^GAMMA - k_tr*PROL
  dTRANSITi/dt = k_tr*(previous - TRANSITi), i = 1..3
  dCIRC/dt     = k_tr*(TRANSIT3 - CIRC)
All five cell compartments start at BASE. (1 - E) is not floored (as in the bundle code).
Numerical guard: CIRC is floored at 1e-9 x10^9/L (one cell per litre) inside the feedback only;
the term (BASE/CIRC)^GAMMA is singular at CIRC = 0 and made stiff solvers fail on extreme virtual
patients (docs/models/neutropenia.md §Equations, numerical guard). Trajectories above that count
are unaffected.
"
    };
}

/// The Bruno docetaxel PK equations, shared by both docetaxel versions' documentation.
macro_rules! bruno_equations {
    () => {
        "Docetaxel PK (Bruno 1996, amounts in mg; iv doses go to CENTRAL):
  dCENTRAL/dt = -(K10 + K12 + K13)*CENTRAL + K21*PERIPH1 + K31*PERIPH2
  dPERIPH1/dt = K12*CENTRAL - K21*PERIPH1
  dPERIPH2/dt = K13*CENTRAL - K31*PERIPH2
  CP = CENTRAL/V1 (mg/L); C_u = CP*1000/MW (umol/L)
PK parameters [S] (Bruno 1996 Table II, first column, via radivot/myelo): K10 5.2, K12 1.06,
K21 1.51, K13 1.26, K31 0.084 1/h, V1 7.4 L (CL = 38.5 L/h).
[A] V1 = 7.4 L is used as a total volume (radivot/myelo's reading; per m2 or total is unclear).
[A] PK is the typical Bruno profile for every patient: Bruno's covariates, IIV and residual
error were not obtained.
"
    };
}

/// The outcome definitions, shared by every version's documentation.
macro_rules! outcome_notes {
    () => {
        "Outcomes are computed from the output grid, so their time resolution is the grid spacing:
  grade3, grade4: first grid time with the count below the threshold (time to event, h);
  grade4_duration: time below the grade-4 threshold (each grid time below counts until the next);
  nadir and nadir_day: lowest count on the grid and its first time (days);
  recovery: first grid time after the nadir with the count back at or above BASE.
Virtual covariates [A] assumed: BSA ~ Normal(1.8, 0.2) m2 truncated to [1.1, 2.5]; 1.8 m2 is
also the reference BSA [A].
"
    };
}

/// Kloft 2006 ω² of η on BASE, MTT and SL (\[R\] bundle 224 $OMEGA).
const KLOFT_OMEGA: [f64; 3] = [0.0639703, 0.0191785, 0.128412];

/// Kloft 2006 ω² of η on γ, set to 0 in bundle 224 and restored in version 2 (\[R\] bundle 224
/// `Model_Accommodations.txt`; `docs/models/neutropenia.md` §Kloft 2006 docetaxel).
const KLOFT_GAMMA_OMEGA2: f64 = 0.021_645_2;

/// Kloft 2006 residual SD on the log scale, θ5 (\[R\] bundle 224).
const KLOFT_RESIDUAL_SD: f64 = 0.424093;

/// Molar mass of docetaxel as coded in bundle 224 (`SL = θ3/808·1000`), g/mol \[R\].
const DOCETAXEL_MW_BUNDLE: f64 = 808.0;

/// Molar mass of anhydrous docetaxel, g/mol \[S: nlmixr2lib comment\].
const DOCETAXEL_MW_ANHYDROUS: f64 = 807.88;

/// Friberg 2002 paclitaxel ω² of η on CIRC0, MTT and SLOPU (\[R\] bundle 186 .mdl).
const PACLITAXEL_OMEGA: [f64; 3] = [0.107, 0.0296, 0.176];

/// Friberg 2002 paclitaxel proportional residual error (\[R\] bundle 186 .mdl).
const PACLITAXEL_RESIDUAL: f64 = 0.286;

/// Neutropenia grades: grade 4 below 0.5 ×10⁹/L (\[R\] bundle 224 code), grade 3 below 1.0 (\[A\]
/// CTCAE, not in any file read).
const NEUTROPENIA_GRADES: GradeThresholds = GradeThresholds {
    grade3: 1.0,
    grade4: 0.5,
};

/// Leukopenia grades (\[A\] CTCAE: grade 4 below 1.0 ×10⁹/L, grade 3 below 2.0;
/// `docs/models/neutropenia.md` §Outcomes).
const LEUKOPENIA_GRADES: GradeThresholds = GradeThresholds {
    grade3: 2.0,
    grade4: 1.0,
};

/// A baseline covariate (carried forward) in one line.
fn covariate(
    name: &'static str,
    unit: &'static str,
    reference: f64,
    (lower, upper): (f64, f64),
) -> CovariateSpec {
    CovariateSpec {
        name,
        unit,
        reference,
        lower,
        upper,
        interpolation: Interpolation::Locf,
    }
}

/// The four cell-chain parameters `[BASE, MTT, SLOPE, GAMMA]` under the version's names.
fn cell_parameters(
    [base_name, slope_name]: [&'static str; 2],
    [base, mtt, slope, gamma]: [f64; 4],
    [base_source, mtt_source, slope_source, gamma_source]: [&'static str; 4],
) -> Vec<ParameterSpec> {
    vec![
        ParameterSpec::new(base_name, "10^9/L", base, (0.01, 100.0), base_source),
        ParameterSpec::new("MTT", "h", mtt, (1.0, 2000.0), mtt_source),
        ParameterSpec::new(slope_name, "L/umol", slope, (0.0, 1e4), slope_source),
        ParameterSpec::new("GAMMA", "-", gamma, (0.0, 5.0), gamma_source),
    ]
}

/// Bruno 1996 docetaxel micro-constants and central volume `[K10, K12, K21, K13, K31, V1]`.
fn bruno_parameters() -> [ParameterSpec; 6] {
    let rate = |name, value, source| ParameterSpec::new(name, "1/h", value, (1e-4, 1e3), source);
    [
        rate("K10", 5.2, concat!("Elimination rate constant. ", bruno!())),
        rate("K12", 1.06, concat!("Central to PERIPH1. ", bruno!())),
        rate("K21", 1.51, concat!("PERIPH1 to central. ", bruno!())),
        rate("K13", 1.26, concat!("Central to PERIPH2. ", bruno!())),
        rate("K31", 0.084, concat!("PERIPH2 to central. ", bruno!())),
        ParameterSpec::new(
            "V1",
            "L",
            7.4,
            (0.01, 1e3),
            concat!(
                "Central volume; [A] used as a total volume (per m2 or total is unclear). ",
                bruno!()
            ),
        ),
    ]
}

/// Docetaxel amounts (mg) followed by the cell states.
fn docetaxel_states() -> Vec<StateSpec> {
    let mut states: Vec<StateSpec> = ["CENTRAL", "PERIPH1", "PERIPH2"]
        .map(|name| StateSpec { name, unit: "mg" })
        .into();
    states.extend(cell_states());
    states
}

/// `ANC` and docetaxel `CP`.
fn docetaxel_outputs() -> Vec<OutputSpec> {
    vec![
        OutputSpec {
            name: "ANC",
            unit: "10^9/L",
        },
        OutputSpec {
            name: "CP",
            unit: "mg/L",
        },
    ]
}

/// Docetaxel 75 and 100 mg/m² every three weeks.
fn docetaxel_therapies() -> Vec<TherapySpec> {
    vec![
        TherapySpec {
            name: "docetaxel-75",
            regimen: "75 mg/m2 iv over 1h q3w x6",
            description: "Docetaxel 75 mg/m2 as a 1-h IV infusion every 3 weeks, 6 cycles [A: dose \
                          and cycle count assumed, docs/models/neutropenia.md §Regimens]",
        },
        TherapySpec {
            name: "docetaxel-100",
            regimen: "100 mg/m2 iv over 1h q3w x6",
            description: "Docetaxel 100 mg/m2 as a 1-h IV infusion every 3 weeks [S: nlmixr2lib], \
                          6 cycles [A]",
        },
    ]
}

/// Neutropenia outcome texts (grade 4 \[R\] bundle 224 code, grade 3 \[A\] CTCAE).
const NEUTROPENIA_OUTCOMES: OutcomeTexts = OutcomeTexts {
    grade3: "first output time with ANC < 1.0 x10^9/L (CTCAE grade 3 or worse) [A threshold]",
    grade4: "first output time with ANC < 0.5 x10^9/L (grade 4, threshold of the bundle-224 code)",
    grade4_duration: "time with ANC < 0.5 x10^9/L on the output grid (each grid time below the \
                      threshold counts until the next grid time)",
    nadir_name: "nadir_anc",
    nadir: "lowest ANC on the output grid",
};

/// Leukopenia outcome texts (both thresholds \[A\]).
const LEUKOPENIA_OUTCOMES: OutcomeTexts = OutcomeTexts {
    grade3: "first output time with WBC < 2.0 x10^9/L (CTCAE leukopenia grade 3 or worse) \
             [A threshold]",
    grade4: "first output time with WBC < 1.0 x10^9/L (leukopenia grade 4) [A threshold, \
             docs/models/neutropenia.md §Outcomes]",
    grade4_duration: "time with WBC < 1.0 x10^9/L on the output grid (each grid time below the \
                      threshold counts until the next grid time)",
    nadir_name: "nadir_wbc",
    nadir: "lowest WBC on the output grid",
};

/// Builds the spec shared by every version; the version supplies what differs.
struct VersionSpec {
    id: &'static str,
    version: &'static str,
    description: &'static str,
    states: Vec<StateSpec>,
    parameters: Vec<ParameterSpec>,
    covariates: Vec<CovariateSpec>,
    outputs: Vec<OutputSpec>,
    variability: VariabilityModel,
    outcomes: &'static OutcomeTexts,
    therapies: Vec<TherapySpec>,
    evidence: &'static str,
    documentation: &'static str,
}

impl VersionSpec {
    fn build(self) -> ModelSpec {
        let n_states = self.states.len();
        ModelSpec {
            id: self.id,
            version: self.version,
            description: self.description,
            time_unit: TimeUnit::Hour,
            states: self.states,
            parameters: self.parameters,
            covariates: self.covariates,
            outputs: self.outputs,
            dosing: vec![DoseModifiers::default(); n_states],
            default_dose_compartment: 0,
            variability: self.variability,
            outcomes: grade_outcomes(self.outcomes),
            therapies: self.therapies,
            evidence: self.evidence,
            documentation: self.documentation,
        }
    }
}

/// Implements [`Model`] for a version by delegating to its [`FribergCore`].
macro_rules! friberg_model {
    ($version:ty) => {
        impl Default for $version {
            fn default() -> Self {
                Self::new()
            }
        }

        impl Model for $version {
            fn spec(&self) -> &ModelSpec {
                &self.spec
            }

            fn rhs(&self, _t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) {
                self.core.rhs(y, p, dy);
            }

            fn initial_state(&self, p: &[f64], y: &mut [f64]) {
                self.core.initial_state(p, y);
            }

            fn linear_head(&self, p: &[f64]) -> Option<Spectrum> {
                self.core.linear_head(p)
            }

            fn sample_covariates(&self, stream: &mut RandomStream, covariates: &mut [f64]) {
                self.core.sample_covariates(stream, covariates);
            }

            fn outcomes(
                &self,
                times: &[f64],
                outputs: &[f64],
                params: &[f64],
                _covariates: &[f64],
                _stream: &mut RandomStream,
                out: &mut [f64],
            ) {
                self.core.outcomes(times, outputs, params, out);
            }

            fn outputs(&self, _t: f64, y: &[f64], p: &[f64], out: &mut [f64]) {
                self.core.outputs(y, p, out);
            }
        }
    };
}

/// Friberg myelosuppression model with Kloft 2006 docetaxel parameters as used by Netterberg
/// 2017 (DDMoRe bundle 224), driven by Bruno 1996 docetaxel PK; id `neutropenia`, version 1.
/// `docs/models/neutropenia.md` §Kloft 2006 docetaxel and §Docetaxel pharmacokinetics.
///
/// Parameters, in order: `BASE` (×10⁹/L, 5.21965), `MTT` (h, 84.1791), `SL` (L/µmol, 15.5711),
/// `GAMMA` (0.144543), then Bruno's `K10, K12, K21, K13, K31` (1/h) and `V1` (L). The drug effect
/// is `E = SL · CP · 1000/808` with `CP` in mg/L, i.e. the bundle's `SL = θ3/808·1000` per mg/L.
///
/// Covariates `[SEX, PERF, PC, AAG, BSA]` act on the typical values:
///
/// ```text
/// BASE = θ1·(1 + θ11·[SEX = 2])·(1 + θ8·[PERF ≥ 1])·(1 + θ7·[PC = 1])
///          ·(1 + (AAG ≤ 1.34 ? θ9 : θ10)·(AAG − 1.34)) · e^η1
/// MTT  = θ2 · e^η2
/// SL   = θ3·(1 + θ6·(AAG − 1.34)) · e^η3
/// ```
///
/// Ω is diagonal (0.0639703, 0.0191785, 0.128412); γ has no IIV (the publication's 0.0216452 was
/// set to 0 in the bundle). Observation: `log ANC_obs = log CIRC + 0.424093·ε`. Outputs `ANC`
/// (×10⁹/L) and `CP` (mg/L).
#[derive(Debug, Clone)]
pub struct KloftDocetaxelV1 {
    spec: ModelSpec,
    core: FribergCore,
}

impl KloftDocetaxelV1 {
    /// The model with its specification built once.
    #[must_use]
    pub fn new() -> Self {
        Self {
            spec: kloft_spec(&KloftVersion {
                version: "1",
                gamma_omega2: None,
                gamma_source: concat!(
                    "Feedback exponent, theta4; no IIV (publication omega2 0.0216452 set to 0 in \
                     the bundle). ",
                    kloft!()
                ),
                documentation: KLOFT_DOCUMENTATION,
            }),
            core: kloft_core(),
        }
    }
}

/// What differs between the Kloft versions.
struct KloftVersion {
    version: &'static str,
    /// ω² of a log-normal η on γ; `None` for no IIV on γ.
    gamma_omega2: Option<f64>,
    /// Source text of γ.
    gamma_source: &'static str,
    documentation: &'static str,
}

/// The dynamics shared by the Kloft versions.
fn kloft_core() -> FribergCore {
    FribergCore {
        disposition: Disposition::ThreeCompartmentMicro {
            molar_mass_g_per_mol: DOCETAXEL_MW_BUNDLE,
        },
        grades: NEUTROPENIA_GRADES,
        covariate_draws: CovariateDraws::Kloft,
    }
}

/// The specification of a Kloft version.
fn kloft_spec(version: &KloftVersion) -> ModelSpec {
    let mut effects = vec![
        (BASE, KLOFT_OMEGA[0]),
        (MTT, KLOFT_OMEGA[1]),
        (SLOPE, KLOFT_OMEGA[2]),
    ];
    if let Some(gamma_omega2) = version.gamma_omega2 {
        effects.push((GAMMA, gamma_omega2));
    }
    let (random_effects, omega) = diagonal_log_normal(&effects);
    let mut parameters = cell_parameters(
        ["BASE", "SL"],
        [5.21965, 84.1791, 15.5711, 0.144543],
        [
            concat!("Baseline ANC, theta1 (eta omega2 0.0639703). ", kloft!()),
            concat!(
                "Mean transit time, theta2 (eta omega2 0.0191785). ",
                kloft!()
            ),
            concat!(
                "Linear drug-effect slope per umol/L, theta3 (eta omega2 0.128412); the \
                     .mod converts it to 19.27 per mg/L with MW 808. ",
                kloft!()
            ),
            version.gamma_source,
        ],
    );
    parameters.extend(bruno_parameters());
    VersionSpec {
        id: "neutropenia",
        version: version.version,
        description: "Docetaxel neutropenia: Friberg myelosuppression with Kloft 2006 \
                          parameters and covariates (DDMoRe 224), Bruno 1996 PK",
        states: docetaxel_states(),
        parameters,
        covariates: vec![
            covariate("SEX", "1=male 2=female", 1.0, (1.0, 2.0)),
            covariate("PERF", "performance status 0-4", 0.0, (0.0, 4.0)),
            covariate("PC", "prior chemotherapy 0/1", 0.0, (0.0, 1.0)),
            covariate("AAG", "g/L", AAG_MEDIAN, (0.2, 4.0)),
            bsa_covariate(),
        ],
        outputs: docetaxel_outputs(),
        variability: VariabilityModel {
            random_effects,
            omega,
            covariate_effects: vec![
                CovariateEffect::Categorical {
                    parameter: BASE,
                    covariate: SEX,
                    level: 2.0,
                    shift: -0.121451,
                },
                CovariateEffect::Threshold {
                    parameter: BASE,
                    covariate: PERF,
                    threshold: 1.0,
                    shift: 0.130406,
                },
                CovariateEffect::Categorical {
                    parameter: BASE,
                    covariate: PRIOR_CHEMO,
                    level: 1.0,
                    shift: -0.146837,
                },
                CovariateEffect::PiecewiseLinear {
                    parameter: BASE,
                    covariate: AAG,
                    knot: AAG_MEDIAN,
                    slope_below: 0.174677,
                    slope_above: 0.494618,
                },
                CovariateEffect::Linear {
                    parameter: SLOPE,
                    covariate: AAG,
                    slope: -0.350693,
                },
            ],
            residual: vec![
                ResidualError::Exponential {
                    sd: KLOFT_RESIDUAL_SD,
                },
                ResidualError::None,
            ],
        },
        outcomes: &NEUTROPENIA_OUTCOMES,
        therapies: docetaxel_therapies(),
        evidence: "published parameters (Kloft 2006 via DDMoRe 224); PK secondary (Bruno \
                       1996 via radivot/myelo)",
        documentation: version.documentation,
    }
    .build()
}

friberg_model!(KloftDocetaxelV1);

/// The Kloft 2006 docetaxel model of [`KloftDocetaxelV1`] with the inter-individual variability
/// of γ that the publication estimated restored: id `neutropenia`, version 2.
/// `docs/models/neutropenia.md` §Kloft 2006 docetaxel.
///
/// `GAMMA = 0.144543 · e^η4` with ω² 0.0216452 (Kloft 2006; bundle 224 set it to 0, see its
/// `Model_Accommodations.txt` \[R\]); log-normal like the other random effects \[A\]. Parameters,
/// covariates, outputs, outcomes, therapies and the other random effects are those of version 1.
#[derive(Debug, Clone)]
pub struct KloftDocetaxelV2 {
    spec: ModelSpec,
    core: FribergCore,
}

impl KloftDocetaxelV2 {
    /// The model with its specification built once.
    #[must_use]
    pub fn new() -> Self {
        Self {
            spec: kloft_spec(&KloftVersion {
                version: "2",
                gamma_omega2: Some(KLOFT_GAMMA_OMEGA2),
                gamma_source: concat!(
                    "Feedback exponent, theta4, with IIV omega2 0.0216452 as estimated by Kloft \
                     2006 (set to 0 in bundle 224, restored in version 2). ",
                    kloft!()
                ),
                documentation: KLOFT_V2_DOCUMENTATION,
            }),
            core: kloft_core(),
        }
    }
}

friberg_model!(KloftDocetaxelV2);

/// The individual-parameter lines of the Kloft versions before the γ line.
macro_rules! kloft_parameters_head {
    () => {
        "Individual parameters [R] (bundle 224 .mod $THETA/$OMEGA, equal to its .lst):
  BASE  = 5.21965 x10^9/L *(1 - 0.121451 if SEX = 2)*(1 + 0.130406 if PERF >= 1)
          *(1 - 0.146837 if PC = 1)*(1 + (AAG <= 1.34 ? 0.174677 : 0.494618)*(AAG - 1.34)) * e^eta1
  MTT   = 84.1791 h * e^eta2
  SL    = 15.5711 L/umol *(1 - 0.350693*(AAG - 1.34)) * e^eta3
"
    };
}

/// The covariate and observation lines of the Kloft versions.
macro_rules! kloft_covariates_and_error {
    () => {
        "  SEX 1 male / 2 female [S: nlmixr2lib]; PERF >= 1 (a missing PERF coded -99 in the bundle counts
  as 0; code it 0 here); AAG in g/L [unit S], 1.34 is the median.
Observation: log(ANC_obs) = log(CIRC) + 0.424093*eps (exponential error, ~42 %). CP has no
residual error [A: docetaxel PK error not obtained].
"
    };
}

/// The closing notes of the Kloft versions.
macro_rules! kloft_tail {
    () => {
        "Grade 4 is ANC < 0.5 x10^9/L [R: bundle 224 code]; grade 3 is ANC < 1.0 [A: CTCAE].
Virtual covariates, all [A] assumed (not from Kloft 2006, whose population was not obtained):
  SEX female with probability 0.5; PERF 0 / 1 / 2 with probabilities 0.35 / 0.55 / 0.10;
  PC = 1 with probability 0.5; AAG log-normal with median 1.34 g/L and log-SD 0.3, truncated to
  [0.4, 4.0] g/L.
Therapies: docetaxel-75 = 75 mg/m2 iv over 1h q3w x6 [A: regimen], docetaxel-100 = 100 mg/m2 iv
over 1h q3w x6 [S: nlmixr2lib; 6 cycles A].
Not obtained (docs/models/neutropenia.md §Not obtained): Kloft 2006 citation details, population
size, standard errors, the PK used to generate Cp in the original analysis, published typical
nadir predictions.
"
    };
}

/// What `twin models --describe` shows for [`KloftDocetaxelV1`].
const KLOFT_DOCUMENTATION: &str = concat!(
    "Friberg semi-mechanistic myelosuppression, Kloft 2006 docetaxel parameters as coded in DDMoRe
bundle 224 (Netterberg 2017). Time in hours. docs/models/neutropenia.md §Kloft 2006 docetaxel and
§Docetaxel pharmacokinetics.
",
    friberg_equations!(),
    "Drug effect: E = SL*CP*1000/808 (bundle: SL = theta3/808*1000 per mg/L, typical 19.27).
",
    bruno_equations!(),
    kloft_parameters_head!(),
    "  GAMMA = 0.144543 (no IIV; the publication estimated omega2 0.0216452, set to 0 in the bundle)
  Omega (variances, diagonal): BASE 0.0639703, MTT 0.0191785, SL 0.128412.
",
    kloft_covariates_and_error!(),
    outcome_notes!(),
    kloft_tail!()
);

/// What `twin models --describe` shows for [`KloftDocetaxelV2`].
const KLOFT_V2_DOCUMENTATION: &str = concat!(
    "Friberg semi-mechanistic myelosuppression, Kloft 2006 docetaxel parameters as coded in DDMoRe
bundle 224 (Netterberg 2017), version 2: the inter-individual variability of the feedback
exponent GAMMA that Kloft 2006 estimated (omega2 0.0216452) and bundle 224 set to 0 is restored
[R: bundle 224 Model_Accommodations.txt, docs/models/neutropenia.md §Kloft 2006 docetaxel];
everything else equals version 1. Time in hours. docs/models/neutropenia.md §Kloft 2006 docetaxel
and §Docetaxel pharmacokinetics.
",
    friberg_equations!(),
    "Drug effect: E = SL*CP*1000/808 (bundle: SL = theta3/808*1000 per mg/L, typical 19.27).
",
    bruno_equations!(),
    kloft_parameters_head!(),
    "  GAMMA = 0.144543 * e^eta4 (omega2 0.0216452, Kloft 2006 [R: bundle 224 accommodations];
          log-normal like the other effects [A: the transform is not stated in the files read])
  Omega (variances, diagonal): BASE 0.0639703, MTT 0.0191785, SL 0.128412, GAMMA 0.0216452.
",
    kloft_covariates_and_error!(),
    outcome_notes!(),
    kloft_tail!()
);

/// Friberg myelosuppression model with the Friberg 2002 docetaxel values \[S\], driven by Bruno
/// 1996 docetaxel PK; id `neutropenia-friberg2002-docetaxel`, version 1.
/// `docs/models/neutropenia.md` §Friberg 2002 docetaxel.
///
/// Parameters, in order: `CIRC0` (×10⁹/L, 5.05), `MTT` (h, 88.7), `SLOPE` (L/µmol, 8.58),
/// `GAMMA` (0.161), then Bruno's `K10, K12, K21, K13, K31` (1/h) and `V1` (L). The drug effect is
/// `E = SLOPE · CP · 1000/807.88` (anhydrous docetaxel). Friberg 2002's IIV and residual error
/// were not obtained, so the model declares none: virtual patients differ only by body-surface
/// area (their dose). Covariate `[BSA]`; outputs `ANC` (×10⁹/L) and `CP` (mg/L).
#[derive(Debug, Clone)]
pub struct FribergDocetaxelV1 {
    spec: ModelSpec,
    core: FribergCore,
}

impl FribergDocetaxelV1 {
    /// The model with its specification built once.
    #[must_use]
    pub fn new() -> Self {
        let mut parameters = cell_parameters(
            ["CIRC0", "SLOPE"],
            [5.05, 88.7, 8.58, 0.161],
            [
                concat!("Baseline ANC. ", friberg_docetaxel!()),
                concat!("Mean transit time. ", friberg_docetaxel!()),
                concat!(
                    "Linear drug-effect slope per umol/L of total docetaxel; [A] paired with \
                     Bruno PK. ",
                    friberg_docetaxel!()
                ),
                concat!("Feedback exponent. ", friberg_docetaxel!()),
            ],
        );
        parameters.extend(bruno_parameters());
        let spec = VersionSpec {
            id: "neutropenia-friberg2002-docetaxel",
            version: "1",
            description: "Docetaxel neutropenia: Friberg 2002 myelosuppression values [S], Bruno \
                          1996 PK, no variability",
            states: docetaxel_states(),
            parameters,
            covariates: vec![bsa_covariate()],
            outputs: docetaxel_outputs(),
            variability: VariabilityModel::default(),
            outcomes: &NEUTROPENIA_OUTCOMES,
            therapies: docetaxel_therapies(),
            evidence: "secondary parameters (Friberg 2002 via radivot/myelo); PK secondary (Bruno \
                       1996 via radivot/myelo); no variability",
            documentation: FRIBERG_DOCETAXEL_DOCUMENTATION,
        }
        .build();
        Self {
            spec,
            core: FribergCore {
                disposition: Disposition::ThreeCompartmentMicro {
                    molar_mass_g_per_mol: DOCETAXEL_MW_ANHYDROUS,
                },
                grades: NEUTROPENIA_GRADES,
                covariate_draws: CovariateDraws::BodySurfaceArea,
            },
        }
    }
}

friberg_model!(FribergDocetaxelV1);

/// What `twin models --describe` shows for [`FribergDocetaxelV1`].
const FRIBERG_DOCETAXEL_DOCUMENTATION: &str = concat!(
    "Friberg semi-mechanistic myelosuppression, Friberg 2002 docetaxel values [S] (J Clin Oncol
2002;20:4713, Table 4 first row, via radivot/myelo). Time in hours. docs/models/neutropenia.md
§Friberg 2002 docetaxel.
",
    friberg_equations!(),
    "Drug effect: E = SLOPE*CP*1000/807.88 (MW of anhydrous docetaxel [S: nlmixr2lib]; radivot/myelo
divides by 0.808, which lowers E by 0.015 %; the check number 0.8960 of docs/models/neutropenia.md
§Check numbers is reproduced with 807.88).
",
    bruno_equations!(),
    "Parameters [S]: CIRC0 5.05 x10^9/L, MTT 88.7 h, SLOPE 8.58 L/umol, GAMMA 0.161.
[A] Pairing the slope with total docetaxel from Bruno PK: the PK model Friberg 2002 paired it
with was not obtained.
[A] No IIV and no residual error: Friberg 2002's were not obtained, so virtual patients differ
only by BSA (their dose). The alternative Emax model (Emax 83.9, EC50 7.17) is not implemented.
",
    outcome_notes!(),
    "Grade 4 is ANC < 0.5 x10^9/L [R: bundle 224 code]; grade 3 is ANC < 1.0 [A: CTCAE].
Therapies: docetaxel-75 = 75 mg/m2 iv over 1h q3w x6 [A: regimen], docetaxel-100 = 100 mg/m2 iv
over 1h q3w x6 [S: nlmixr2lib; 6 cycles A].
"
);

/// Friberg myelosuppression model for paclitaxel and leukocytes with the Friberg 2002 values as
/// coded in DDMoRe bundle 186; id `neutropenia-friberg2002-paclitaxel`, version 1.
/// `docs/models/neutropenia.md` §Friberg 2002 paclitaxel.
///
/// Parameters, in order: `CIRC0` (×10⁹/L, 7.21), `MTT` (h, 124), `SLOPU` (L/µmol, 28.9, on the
/// unbound concentration), `GAMMA` (0.239), then the paclitaxel PK `CL` (L/h, 339), `V1` (L,
/// 421.5), `Q` (L/h, 204), `V2` (L, 1010). Amounts are in µmol; doses in the regimen text are
/// written in `umol` (the engine does not convert mg into µmol). Ω is diagonal (0.107, 0.0296,
/// 0.176) on `CIRC0`, `MTT`, `SLOPU`; the observation is `WBC_obs = CIRC·(1 + 0.286·ε)`.
/// Covariate `[BSA]`; outputs `WBC` (×10⁹/L) and `CU` (unbound paclitaxel, µmol/L).
#[derive(Debug, Clone)]
pub struct FribergPaclitaxelV1 {
    spec: ModelSpec,
    core: FribergCore,
}

impl FribergPaclitaxelV1 {
    /// The model with its specification built once.
    #[must_use]
    pub fn new() -> Self {
        let (random_effects, omega) = diagonal_log_normal(&[
            (BASE, PACLITAXEL_OMEGA[0]),
            (MTT, PACLITAXEL_OMEGA[1]),
            (SLOPE, PACLITAXEL_OMEGA[2]),
        ]);
        let mut parameters = cell_parameters(
            ["CIRC0", "SLOPU"],
            [7.21, 124.0, 28.9, 0.239],
            [
                concat!(
                    "Baseline leukocytes (eta omega2 0.107). ",
                    friberg_paclitaxel!()
                ),
                concat!(
                    "Mean transit time (eta omega2 0.0296). ",
                    friberg_paclitaxel!()
                ),
                concat!(
                    "Linear drug-effect slope per umol/L of unbound paclitaxel (eta omega2 \
                     0.176). ",
                    friberg_paclitaxel!()
                ),
                concat!("Feedback exponent. ", friberg_paclitaxel!()),
            ],
        );
        parameters.extend([
            ParameterSpec::new(
                "CL",
                "L/h",
                339.0,
                (1e-3, 1e5),
                concat!("Clearance of unbound paclitaxel (CLI).", bundle_median!()),
            ),
            ParameterSpec::new(
                "V1",
                "L",
                421.5,
                (1e-2, 1e6),
                concat!(
                    "Central volume of unbound paclitaxel (V1I).",
                    bundle_median!()
                ),
            ),
            ParameterSpec::new(
                "Q",
                "L/h",
                204.0,
                (1e-3, 1e5),
                concat!(
                    "Inter-compartmental clearance, fixed in the bundle code. ",
                    friberg_paclitaxel!()
                ),
            ),
            ParameterSpec::new(
                "V2",
                "L",
                1010.0,
                (1e-2, 1e6),
                concat!(
                    "Peripheral volume of unbound paclitaxel (V2I).",
                    bundle_median!()
                ),
            ),
        ]);
        let mut states: Vec<StateSpec> = ["CENTRAL", "PERIPH1"]
            .map(|name| StateSpec { name, unit: "umol" })
            .into();
        states.extend(cell_states());
        let spec = VersionSpec {
            id: "neutropenia-friberg2002-paclitaxel",
            version: "1",
            description: "Paclitaxel leukopenia: Friberg 2002 myelosuppression (DDMoRe 186), \
                          two-compartment unbound paclitaxel PK",
            states,
            parameters,
            covariates: vec![bsa_covariate()],
            outputs: vec![
                OutputSpec {
                    name: "WBC",
                    unit: "10^9/L",
                },
                OutputSpec {
                    name: "CU",
                    unit: "umol/L",
                },
            ],
            variability: VariabilityModel {
                random_effects,
                omega,
                covariate_effects: Vec::new(),
                residual: vec![
                    ResidualError::Proportional {
                        sd: PACLITAXEL_RESIDUAL,
                    },
                    ResidualError::None,
                ],
            },
            outcomes: &LEUKOPENIA_OUTCOMES,
            therapies: vec![TherapySpec {
                name: "paclitaxel-175",
                regimen: "204.94 umol/m2 iv over 3h q3w x6",
                description: "Paclitaxel 175 mg/m2 (204.94 umol/m2 at 853.9 g/mol) as a 3-h IV \
                              infusion every 3 weeks, 6 cycles [A: regimen, molar mass and cycle \
                              count assumed; consistent with the bundle-186 data]",
            }],
            evidence: "published parameters (Friberg 2002 via DDMoRe 186); PK medians of the \
                       bundle data",
            documentation: FRIBERG_PACLITAXEL_DOCUMENTATION,
        }
        .build();
        Self {
            spec,
            core: FribergCore {
                disposition: Disposition::TwoCompartmentClearance,
                grades: LEUKOPENIA_GRADES,
                covariate_draws: CovariateDraws::BodySurfaceArea,
            },
        }
    }
}

friberg_model!(FribergPaclitaxelV1);

/// What `twin models --describe` shows for [`FribergPaclitaxelV1`].
const FRIBERG_PACLITAXEL_DOCUMENTATION: &str = concat!(
    "Friberg semi-mechanistic myelosuppression for paclitaxel and leukocytes, Friberg 2002 as coded
in DDMoRe bundle 186 (MDL values, equal to the publication per Command.txt). Time in hours.
docs/models/neutropenia.md §Friberg 2002 paclitaxel. Output WBC (leukocytes, x10^9/L) and CU
(unbound paclitaxel, umol/L).
",
    friberg_equations!(),
    "Drug effect: E = SLOPU*CU on the unbound concentration CU = CENTRAL/V1 (umol/L).
Paclitaxel PK (amounts in umol, zero-order infusions into CENTRAL):
  dCENTRAL/dt = -(Q + CL)/V1*CENTRAL + Q/V2*PERIPH1
  dPERIPH1/dt = Q/V1*CENTRAL - Q/V2*PERIPH1
Parameters [R] (bundle 186 .mdl): CIRC0 7.21 x10^9/L, MTT 124 h, GAMMA 0.239, SLOPU 28.9 L/umol,
Q 204 L/h (fixed in code); Omega (variances, diagonal): CIRC0 0.107, MTT 0.0296, SLOPU 0.176.
(The NONMEM re-fit on the simulated data gave MTT 123, GAMMA 0.238, SLOPU 28.7; Monolix gave
GAMMA 0.553, MTT 140: the data do not pin GAMMA and MTT well.)
CL 339 L/h, V1 421.5 L, V2 1010 L: [D] medians of the individual data columns CLI, V1I, V2I of
the bundle dataset; [A] every virtual patient gets these values (the bundle supplies individual
PK as data; PK IIV was not obtained).
Observation: WBC_obs = CIRC*(1 + 0.286*eps) [R]. CU has no residual error [A].
",
    outcome_notes!(),
    "Leukopenia grade 4 is WBC < 1.0 x10^9/L [A: docs/models/neutropenia.md §Outcomes]; grade 3
is WBC < 2.0 [A: CTCAE].
Therapy paclitaxel-175 = 204.94 umol/m2 iv over 3h q3w x6: 175 mg/m2 over 3 h every 3 weeks [A,
consistent with the bundle data: 410 umol over 3 h], converted at 853.9 g/mol [A], 6 cycles [A].
Doses are written in umol because the PK states are in umol, as in the bundle.
"
);
