//! Type 1 diabetes: the UVA/Padova 2008 glucose–insulin model as implemented by simglucose 0.2.11
//! (`docs/models/t1d.md`), minute by minute, for one of simglucose's 30 virtual patients.
//!
//! simglucose (Jinyu Xie, MIT licence, `simglucose/patient/t1dpatient.py`) is an academic
//! re-implementation of the "UVa/Padova Simulator (2008 version)", not the FDA-accepted T1DMS; this
//! model reproduces *that implementation*, quirks included. Time is in minutes.
//!
//! # States
//!
//! | CMT | name | meaning | unit |
//! | --- | --- | --- | --- |
//! | 1 | `QSTO1` | solid glucose in the stomach, x1; **meals are dosed here** (`cmt=1`) | mg |
//! | 2 | `QSTO2` | liquid glucose in the stomach, x2 | mg |
//! | 3 | `QGUT` | glucose in the intestine, x3 | mg |
//! | 4 | `GP` | plasma glucose, x4 | mg/kg |
//! | 5 | `GT` | tissue glucose, x5 | mg/kg |
//! | 6 | `IP` | plasma insulin, x6 | pmol/kg |
//! | 7 | `X` | remote insulin action on utilisation, x7 | pmol/L |
//! | 8 | `I1` | delayed insulin signal I′, x8 | pmol/L |
//! | 9 | `XL` | insulin action on production, x9 | pmol/L |
//! | 10 | `IL` | liver insulin, x10 | pmol/kg |
//! | 11 | `ISC1` | subcutaneous insulin, compartment 1, **insulin doses in U** (default) | U |
//! | 12 | `ISC2` | subcutaneous insulin, compartment 2, x12 | pmol/kg |
//! | 13 | `GS` | subcutaneous (sensor-site) glucose, x13 | mg/kg |
//! | 14 | `BOLUS_CHO` | subcutaneous insulin, compartment 1, **dosed as grams of carbohydrate covered** (insulin = grams / CR) | g |
//! | 15 | `DBAR_MEAL` | D̄ of the meal being eaten: stomach content at its start + eaten so far | mg |
//! | 16 | `DBAR` | D̄ of the last meal, held between meals | mg |
//!
//! simglucose's x11 (pmol/kg) is `(6000/BW)·(ISC1 + BOLUS_CHO/CR)`, simglucose's own conversion of
//! units into pmol/kg. The first subcutaneous compartment is linear, so holding it in U and
//! splitting off the carbohydrate-ratio part changes nothing but lets a regimen dose insulin in U
//! (`4 U at 7h`) or as a bolus whose size depends on the patient's CR (`45 g cmt=14 over 1min at
//! 7h` gives 45/CR U). The basal infusion u2ss·BW/6000 U/min (`u2ss` in pmol/kg/min) is part of
//! the right-hand side, so therapies list only meals and boluses.
//!
//! # Equations (simglucose `T1DPatient.model`, restated; `docs/models/t1d.md`)
//!
//! With `d` the meal input into `QSTO1` (mg/min), `Qsto = x1 + x2`, `D̄` the current meal size and
//! `x11 = (6000/BW)·(ISC1 + BOLUS_CHO/CR)`:
//!
//! ```text
//! kgut   = kmin + (kmax − kmin)/2·[tanh(a·(Qsto − b·D̄)) − tanh(c·(Qsto − d·D̄)) + 2],
//!          a = 5/(2·D̄·(1 − b)), c = 5/(2·D̄·d)          (kgut = kmax when D̄ = 0)
//! dx1/dt = −kmax·x1 + d
//! dx2/dt =  kmax·x1 − kgut·x2
//! dx3/dt =  kgut·x2 − kabs·x3
//! Ra     =  f·kabs·x3/BW
//! EGP    =  kp1 − kp2·x4 − kp3·x9                         (only max(EGP, 0) enters)
//! E      =  ke1·(x4 − ke2) if x4 > ke2, else 0            (renal excretion)
//! dx4/dt =  max(EGP, 0) + Ra − Fsnc − E − k1·x4 + k2·x5
//! dx5/dt = −(Vm0 + Vmx·x7)·x5/(Km0 + x5) + k1·x4 − k2·x5
//! dx6/dt = −(m2 + m4)·x6 + m1·x10 + ka1·x11 + ka2·x12,     I = x6/Vi
//! dx7/dt = −p2u·x7 + p2u·(I − Ib)
//! dx8/dt = −ki·(x8 − I)
//! dx9/dt = −ki·(x9 − x8)
//! dx10/dt = −(m1 + m30)·x10 + m2·x6
//! dx11/dt = u2ss + (6000/BW)·u − (ka1 + kd)·x11             (u: insulin doses, U/min)
//!          i.e. dISC1/dt = u2ss·BW/6000 + u − (ka1 + kd)·ISC1, dBOLUS_CHO/dt = −(ka1 + kd)·BOLUS_CHO
//! dx12/dt =  kd·x11 − ka2·x12
//! dx13/dt = −ksc·x13 + ksc·x4
//! ```
//!
//! The derivatives of x4, x5, x6, x10, x11, x12 and x13 are multiplied by `(state ≥ 0)`, as in
//! simglucose. Outputs: `BG = x4/Vg` (plasma glucose, mg/dL) and `CGM = x13/Vg` (noise-free
//! subcutaneous glucose, mg/dL; simglucose's environment reports this one as "BG").
//!
//! # The meal size D̄
//!
//! simglucose sets D̄ = (x1 + x2 when the meal started) + 1000·(grams eaten so far in this meal),
//! counting each minute's grams from the start of that minute (inputs are held over 1-minute
//! steps), and keeps it until the next meal starts. An ODE cannot latch a value at an event, so two
//! states track it (`r` = meal input rate, `K` = [`DBAR_TRACKING_PER_MIN`]):
//!
//! ```text
//! eating (r > 0):  dDBAR_MEAL/dt = r,                          dDBAR/dt = r + K·(DBAR_MEAL − DBAR)
//!                  D̄ = DBAR_MEAL + r·(⌊t⌋ + 1 − t)            (the current minute counted whole)
//! otherwise:       dDBAR_MEAL/dt = −kgut·x2 + K·(Qsto − DBAR_MEAL),  dDBAR/dt = 0,   D̄ = DBAR
//! ```
//!
//! Between meals `DBAR_MEAL` follows the stomach content (exactly, once the relaxation after a meal
//! has decayed), so at a meal's start it holds simglucose's "stomach content when the meal
//! started"; while eating it adds the grams eaten. `DBAR` follows `DBAR_MEAL` during the meal and
//! holds its final value afterwards. For a first meal from an empty stomach (the reference
//! scenario) both are exact; for later meals the error is `e^(−K·duration of the meal)` times the
//! previous meal's D̄ minus the stomach content (about 1e-4 of it for a 9-minute meal), provided
//! meals are more than about 30 minutes apart.
//!
//! # Regimens
//!
//! - Meals: `45 g cmt=1 over 9min at 7h` (into `QSTO1`). simglucose eats 5 g/min, so a meal of `G`
//!   grams lasts `G/5` minutes; meals should start and end on whole minutes, because D̄ counts
//!   whole minutes as simglucose does. A meal given without `over` lands in the stomach at once and
//!   is never "eaten", so D̄ keeps the previous meal's value: always give meals with `over`.
//! - Insulin in units (the default compartment): `4 U at 7h` (an injection) or `4 U over 1min at
//!   7h` (a pump bolus given as a rate for one minute, as simglucose's controllers do).
//! - Carbohydrate-ratio bolus: `45 g cmt=14 over 1min at 7h` gives 45/CR U.
//!
//! # Outcomes
//!
//! Computed from the plasma glucose `BG` on the output grid, as fractions of grid samples (the
//! grid should be uniform; simglucose reports per-sample fractions): `tir_70_180`, `tbr_70`,
//! `tbr_54`, `tar_180`, `tar_250` (%), `lbgi`, `hbgi` (Kovatchev risk indices with
//! `f(BG) = 1.509·((ln BG)^1.084 − 5.381)`, `risk = 10·f²`, averaged over all samples with zero
//! on the other side, as simglucose's `report.py`), and `hypo_54` (first grid time with
//! BG < 54 mg/dL). Their time resolution is the grid's.

mod patients;

use twin_engine::math;
use twin_engine::model::{
    CovariateSpec, DoseModifiers, Interpolation, Model, ModelSpec, OutcomeKind, OutcomeSpec,
    OutputSpec, ParameterSpec, StateSpec, TherapySpec, TimeUnit,
};
use twin_engine::population::{Population, VariabilityModel};
use twin_engine::random::RandomStream;

use patients::{COLUMNS, N_COLUMNS, N_PATIENTS, NAMES, ROWS};

/// Rate at which the meal-size states follow their targets at meal transitions, 1/min.
///
/// \[A\] assumed: a numerical device, not physiology (see the module documentation). Any value
/// well above the gastric rates (≤ 0.07/min) works; larger values shorten the solver's steps,
/// since the explicit Dormand–Prince method needs a step below about 3/K between meals.
pub const DBAR_TRACKING_PER_MIN: f64 = 1.0;

/// Index of the reference virtual patient (adolescent#001), whose values are the typical ones.
const REFERENCE_PATIENT: usize = 0;

/// Picomoles of insulin per unit: simglucose converts U/min into pmol/kg/min as `u·6000/BW`.
/// (Units of insulin: 1 U = 6 nmol.)
const PMOL_PER_U: f64 = 6000.0;

// State indices.
const QSTO1: usize = 0;
const QSTO2: usize = 1;
const QGUT: usize = 2;
const GP: usize = 3;
const GT: usize = 4;
const IP: usize = 5;
const X: usize = 6;
const I1: usize = 7;
const XL: usize = 8;
const IL: usize = 9;
const ISC1: usize = 10;
const ISC2: usize = 11;
const GS: usize = 12;
const BOLUS_CHO: usize = 13;
const DBAR_MEAL: usize = 14;
const DBAR: usize = 15;
const N_STATES: usize = 16;

// Parameter indices (the order of `patients::COLUMNS`).
const BW: usize = 0;
const KABS: usize = 1;
const KMAX: usize = 2;
const KMIN: usize = 3;
const B: usize = 4;
const D: usize = 5;
const F: usize = 6;
const VG: usize = 7;
const K1: usize = 8;
const K2: usize = 9;
const VM0: usize = 10;
const VMX: usize = 11;
const KM0: usize = 12;
const FSNC: usize = 13;
const P2U: usize = 14;
const KP1: usize = 15;
const KP2: usize = 16;
const KP3: usize = 17;
const KI: usize = 18;
const KE1: usize = 19;
const KE2: usize = 20;
const VI: usize = 21;
const IB: usize = 22;
const M1: usize = 23;
const M2: usize = 24;
const M4: usize = 25;
const M30: usize = 26;
const KD: usize = 27;
const KA1: usize = 28;
const KA2: usize = 29;
const KSC: usize = 30;
const U2SS: usize = 31;
const CR: usize = 32;
const GPB: usize = 33;
const GTB: usize = 34;
const IPB: usize = 35;
const ILB: usize = 36;
const ISC1SS: usize = 37;
const ISC2SS: usize = 38;

// Outcome indices.
const TIR_70_180: usize = 0;
const TBR_70: usize = 1;
const TBR_54: usize = 2;
const TAR_180: usize = 3;
const TAR_250: usize = 4;
const LBGI: usize = 5;
const HBGI: usize = 6;
const HYPO_54: usize = 7;

/// Source text shared by every per-patient parameter.
macro_rules! vpatient {
    ($meaning:literal) => {
        concat!(
            $meaning,
            " Per virtual patient, from simglucose 0.2.11 (MIT) params/vpatient_params.csv [R, \
             docs/models/t1d.md §Parameters]; the typical value is adolescent#001's."
        )
    };
}

/// Unit and source of each parameter, in the order of `patients::COLUMNS`.
const PARAMETERS: [(&str, &str, &str); N_COLUMNS] = [
    ("BW", "kg", vpatient!("Body weight.")),
    (
        "kabs",
        "1/min",
        vpatient!("Rate constant of intestinal absorption."),
    ),
    (
        "kmax",
        "1/min",
        vpatient!("Maximal gastric emptying rate constant."),
    ),
    (
        "kmin",
        "1/min",
        vpatient!("Minimal gastric emptying rate constant."),
    ),
    (
        "b",
        "fraction",
        vpatient!("Fraction of D̄ where gastric emptying slows (upper tanh switch)."),
    ),
    (
        "d",
        "fraction",
        vpatient!("Fraction of D̄ where gastric emptying speeds up again (lower tanh switch)."),
    ),
    (
        "f",
        "fraction",
        vpatient!("Fraction of absorbed glucose that appears in plasma."),
    ),
    (
        "Vg",
        "dL/kg",
        vpatient!("Glucose distribution volume (unit [A] in docs/models/t1d.md §Parameters)."),
    ),
    (
        "k1",
        "1/min",
        vpatient!("Glucose transfer, plasma to tissue."),
    ),
    (
        "k2",
        "1/min",
        vpatient!("Glucose transfer, tissue to plasma."),
    ),
    (
        "Vm0",
        "mg/kg/min",
        vpatient!("Insulin-independent part of the maximal utilisation (unit [A])."),
    ),
    (
        "Vmx",
        "mg/kg/min per pmol/L",
        vpatient!("Insulin sensitivity of the maximal utilisation (unit [A])."),
    ),
    (
        "Km0",
        "mg/kg",
        vpatient!("Michaelis constant of utilisation (unit [A])."),
    ),
    (
        "Fsnc",
        "mg/kg/min",
        vpatient!("Insulin-independent utilisation (unit [A])."),
    ),
    (
        "p2u",
        "1/min",
        vpatient!("Rate of insulin action on utilisation."),
    ),
    (
        "kp1",
        "mg/kg/min",
        vpatient!("Endogenous glucose production at zero glucose and insulin (unit [A])."),
    ),
    ("kp2", "1/min", vpatient!("Liver glucose effectiveness.")),
    (
        "kp3",
        "mg/kg/min per pmol/L",
        vpatient!("Insulin action on glucose production (unit [A])."),
    ),
    (
        "ki",
        "1/min",
        vpatient!("Rate of the delay of insulin action on production."),
    ),
    ("ke1", "1/min", vpatient!("Renal excretion rate.")),
    (
        "ke2",
        "mg/kg",
        vpatient!("Renal threshold of plasma glucose (unit [A])."),
    ),
    (
        "Vi",
        "L/kg",
        vpatient!("Insulin distribution volume (unit [A])."),
    ),
    (
        "Ib",
        "pmol/L",
        vpatient!("Basal plasma insulin concentration (unit [A])."),
    ),
    (
        "m1",
        "1/min",
        vpatient!("Insulin transfer, liver to plasma."),
    ),
    (
        "m2",
        "1/min",
        vpatient!("Insulin transfer, plasma to liver."),
    ),
    ("m4", "1/min", vpatient!("Peripheral insulin degradation.")),
    ("m30", "1/min", vpatient!("Hepatic insulin extraction.")),
    (
        "kd",
        "1/min",
        vpatient!("Subcutaneous insulin transfer, compartment 1 to 2."),
    ),
    (
        "ka1",
        "1/min",
        vpatient!("Subcutaneous insulin absorption from compartment 1."),
    ),
    (
        "ka2",
        "1/min",
        vpatient!("Subcutaneous insulin absorption from compartment 2."),
    ),
    (
        "ksc",
        "1/min",
        vpatient!("Equilibration rate of sensor-site glucose."),
    ),
    (
        "u2ss",
        "pmol/kg/min",
        vpatient!(
            "Basal insulin infusion, u2ss·BW/6000 U/min (the basal-bolus controller's basal; \
             the CSV comment's pmol/(L·kg) contradicts the conversion)."
        ),
    ),
    (
        "CR",
        "g/U",
        "Carbohydrate ratio: grams of carbohydrate covered by 1 U (doses into BOLUS_CHO). Per \
         virtual patient, from simglucose 0.2.11 (MIT) params/Quest.csv [R, \
         docs/models/t1d.md §Parameters; unit [A]]; the typical value is adolescent#001's.",
    ),
    (
        "Gpb",
        "mg/kg",
        vpatient!("Basal plasma glucose: initial GP and GS (the CSV's x0_4 and x0_13)."),
    ),
    (
        "Gtb",
        "mg/kg",
        vpatient!("Basal tissue glucose: initial GT (the CSV's x0_5)."),
    ),
    (
        "Ipb",
        "pmol/kg",
        vpatient!("Basal plasma insulin: initial IP (the CSV's x0_6)."),
    ),
    (
        "Ilb",
        "pmol/kg",
        vpatient!("Basal liver insulin: initial IL (the CSV's x0_10)."),
    ),
    (
        "isc1ss",
        "pmol/kg",
        vpatient!("Steady-state subcutaneous insulin 1: initial ISC1 = isc1ss·BW/6000 U (x0_11)."),
    ),
    (
        "isc2ss",
        "pmol/kg",
        vpatient!("Steady-state subcutaneous insulin 2: initial ISC2 (the CSV's x0_12)."),
    ),
];

/// Parameters whose admissible range ends at 1 (fractions).
const FRACTIONS: [usize; 3] = [B, D, F];

/// What `twin models --describe` shows.
const DOCUMENTATION: &str = "\
UVA/Padova 2008 type 1 diabetes model as implemented by simglucose 0.2.11 (Jinyu Xie, MIT licence;
simglucose/patient/t1dpatient.py), docs/models/t1d.md §Provenance. An academic
re-implementation, not the FDA-accepted T1DMS; this model reproduces that implementation, quirks
included. Time in minutes.

States: 1 QSTO1 (mg, solid stomach; meals dosed here), 2 QSTO2 (mg), 3 QGUT (mg), 4 GP (mg/kg),
5 GT (mg/kg), 6 IP (pmol/kg), 7 X (pmol/L), 8 I1 (pmol/L), 9 XL (pmol/L), 10 IL (pmol/kg),
11 ISC1 (U, subcutaneous insulin 1; insulin doses, the default compartment), 12 ISC2 (pmol/kg),
13 GS (mg/kg), 14 BOLUS_CHO (g, subcutaneous insulin 1 dosed as grams of carbohydrate covered:
insulin = grams/CR), 15 DBAR_MEAL (mg), 16 DBAR (mg).
simglucose's x11 (pmol/kg) = (6000/BW)*(ISC1 + BOLUS_CHO/CR): the same linear compartment, held in U
and split by the source of its insulin.

Equations (d = meal input into QSTO1, mg/min; Qsto = x1 + x2; D = meal size D-bar, mg):
  kgut = kmin + (kmax-kmin)/2*[tanh(a*(Qsto - b*D)) - tanh(c*(Qsto - d*D)) + 2],
         a = 5/(2*D*(1-b)), c = 5/(2*D*d); kgut = kmax when D = 0
  dx1/dt = -kmax*x1 + d;  dx2/dt = kmax*x1 - kgut*x2;  dx3/dt = kgut*x2 - kabs*x3
  Ra = f*kabs*x3/BW;  EGP = kp1 - kp2*x4 - kp3*x9 (only max(EGP,0) enters)
  E = ke1*(x4 - ke2) if x4 > ke2 else 0
  dx4/dt = max(EGP,0) + Ra - Fsnc - E - k1*x4 + k2*x5
  dx5/dt = -(Vm0 + Vmx*x7)*x5/(Km0 + x5) + k1*x4 - k2*x5
  dx6/dt = -(m2+m4)*x6 + m1*x10 + ka1*x11 + ka2*x12;  I = x6/Vi
  dx7/dt = -p2u*x7 + p2u*(I - Ib);  dx8/dt = -ki*(x8 - I);  dx9/dt = -ki*(x9 - x8)
  dx10/dt = -(m1+m30)*x10 + m2*x6
  dx11/dt = u2ss + (6000/BW)*u - (ka1+kd)*x11   (basal u2ss pmol/kg/min always on; u = doses, U/min),
    i.e. dISC1/dt = u2ss*BW/6000 + u - (ka1+kd)*ISC1 and dBOLUS_CHO/dt = -(ka1+kd)*BOLUS_CHO
  dx12/dt = kd*x11 - ka2*x12;  dx13/dt = -ksc*x13 + ksc*x4
  The derivatives of x4, x5, x6, x10, x11, x12, x13 are multiplied by (state >= 0), as in simglucose.
Meal size: simglucose's D = (x1+x2 at the meal's start) + grams eaten so far (each minute's grams
  counted from the start of that minute), held until the next meal. Tracked by two states, with r the
  meal rate and K = 1/min:
  eating:    dDBAR_MEAL/dt = r;  dDBAR/dt = r + K*(DBAR_MEAL - DBAR);  D = DBAR_MEAL + r*(floor(t)+1-t)
  otherwise: dDBAR_MEAL/dt = -kgut*x2 + K*(Qsto - DBAR_MEAL);  dDBAR/dt = 0;  D = DBAR
  Exact for a first meal from an empty stomach; for later meals the error is exp(-K*meal duration)
  times (previous D - stomach content), about 1e-4 of it for a 9-minute meal.
Outputs: BG = x4/Vg (plasma glucose, mg/dL); CGM = x13/Vg (noise-free subcutaneous glucose, mg/dL;
  simglucose's environment reports this one as BG).
Initial state: the basal steady state of the patient's table row (x0 of vpatient_params.csv):
  GP = GS = Gpb, GT = Gtb, IP = Ipb, X = 0, I1 = XL = Ib, IL = Ilb, ISC1 = isc1ss*BW/6000 U,
  ISC2 = isc2ss, everything else 0.

Parameters: one row of simglucose 0.2.11 params/vpatient_params.csv (30 virtual patients:
adolescent#001-010, adult#001-010, child#001-010) plus CR from params/Quest.csv [R], chosen by the
covariate PATIENT (0-29, in that order; reference 0 = adolescent#001). The rows are embedded as a
Rust table generated by twin-models/tests/fixtures/t1d/make_patient_table.py. Parameter overrides
(--param) apply on top of the row. There are no random effects: the 30 patients are the cohort.
Virtual cohorts draw PATIENT uniformly from the 30.

Regimens: meals '45 g cmt=1 over 9min at 7h' (QSTO1; simglucose eats 5 g/min, so G grams last G/5
minutes; start and end meals on whole minutes; a meal without 'over' is never counted in D);
insulin '4 U at 7h' (ISC1, the default: an injection) or '4 U over 1min at 7h' (a pump bolus as a
one-minute rate, as simglucose's controllers give it); carbohydrate-ratio bolus
'45 g cmt=14 over 1min at 7h' (= 45/CR U).

Outcomes (plasma BG on the output grid, fractions of grid samples; time resolution = the grid's):
  tir_70_180 (% with 70 <= BG <= 180), tbr_70 (% < 70), tbr_54 (% < 54), tar_180 (% > 180),
  tar_250 (% > 250), lbgi and hbgi (f = 1.509*((ln BG)^1.084 - 5.381), risk = 10*f^2; LBGI = mean
  over all samples of risk where f < 0 and 0 elsewhere, HBGI likewise for f > 0, as simglucose's
  report.py and Kovatchev), hypo_54 (time to event: first grid time with BG < 54 mg/dL).

Not modelled: the correction bolus (CGM > 150)*(CGM - 140)/CF of the basal-bolus controller (it
depends on the state, a regimen cannot express it), CGM noise and sampling, pump limits and
quantisation (0.05 pmol/min steps, negligible), simglucose's random meal scenarios.

Assumptions [A]:
  [A] K = 1/min, the rate at which the meal-size states follow their targets (a numerical device).
  [A] Units marked [A] in docs/models/t1d.md §States and §Parameters (Vg dL/kg, Vi L/kg,
      Ib pmol/L, glucose masses mg/kg, insulin amounts pmol/kg, CR g/U); simglucose's code does
      not state them.
  [A] Admissible range of each parameter for overrides: a tenth of the smallest to ten times the
      largest value among the 30 patients (b, d, f at most 1).
  [A] The 54 mg/dL threshold of tbr_54 and hypo_54 (international consensus level 2 hypoglycaemia);
      simglucose reports < 50 and < 70 only.
  [A] Risk indices averaged over all samples (report.py, Kovatchev); simglucose's risk.py averages
      over the low (or high) samples only, which agrees for a single sample.
  [A] Reference patient adolescent#001 (simglucose's first row and its examples' default) and a
      uniform draw over the 30 patients for virtual cohorts.
  [A] The 20-minute lead of the meals-cr-prebolus-20min therapy (an illustrative pre-meal bolus).";

/// UVA/Padova 2008 type 1 diabetes model as implemented by simglucose 0.2.11, id `t1d`, version 1.
///
/// One of simglucose's 30 virtual patients, chosen by the covariate `PATIENT` (0–29:
/// adolescent#001–010, adult#001–010, child#001–010). See the [module documentation](self) for the
/// states, equations, regimens and outcomes.
///
/// # Example
///
/// ```
/// use twin_engine::Model;
/// use twin_engine::population::Population;
/// use twin_engine::predict::population_of;
/// use twin_models::t1d::UvaPadovaV1;
///
/// let model = UvaPadovaV1::new();
/// let population: Population = population_of(&model)?;
/// let mut params = vec![0.0; model.spec().parameters.len()];
/// model.individual_parameters(&population, &[10.0], &[], &mut params); // adult#001
/// let mut y = vec![0.0; model.spec().states.len()];
/// model.initial_state(&params, &mut y);
/// let mut out = [0.0; 2];
/// model.outputs(0.0, &y, &params, &mut out);
/// assert!((out[0] - 138.56).abs() < 0.01); // adult#001's basal plasma glucose, mg/dL.
/// # Ok::<(), twin_engine::EngineError>(())
/// ```
#[derive(Debug, Clone)]
pub struct UvaPadovaV1 {
    spec: ModelSpec,
}

impl Default for UvaPadovaV1 {
    fn default() -> Self {
        Self::new()
    }
}

impl UvaPadovaV1 {
    /// The model with its specification built once.
    #[must_use]
    pub fn new() -> Self {
        Self {
            spec: ModelSpec {
                id: "t1d",
                version: "1",
                description: "Type 1 diabetes glucose-insulin model, UVA/Padova 2008 as \
                              implemented by simglucose 0.2.11 (30 virtual patients)",
                time_unit: TimeUnit::Minute,
                states: states(),
                parameters: parameters(),
                covariates: vec![CovariateSpec {
                    name: "PATIENT",
                    unit: "index",
                    reference: REFERENCE_PATIENT as f64,
                    lower: 0.0,
                    upper: (N_PATIENTS - 1) as f64,
                    interpolation: Interpolation::Locf,
                }],
                outputs: vec![
                    OutputSpec {
                        name: "BG",
                        unit: "mg/dL",
                    },
                    OutputSpec {
                        name: "CGM",
                        unit: "mg/dL",
                    },
                ],
                dosing: vec![DoseModifiers::default(); N_STATES],
                default_dose_compartment: ISC1,
                variability: VariabilityModel::default(),
                outcomes: outcomes(),
                therapies: therapies(),
                evidence: "re-implementation of simglucose 0.2.11 (academic UVA/Padova 2008, not \
                           the FDA-accepted T1DMS); 30 published virtual patients",
                documentation: DOCUMENTATION,
            },
        }
    }

    /// Name of virtual patient `index` (0–29), e.g. `adult#001` for 10; `None` out of range.
    #[must_use]
    pub fn patient_name(index: usize) -> Option<&'static str> {
        NAMES.get(index).copied()
    }

    /// Index (the `PATIENT` covariate) of the virtual patient called `name`, e.g. 23 for
    /// `child#004`.
    #[must_use]
    pub fn patient_index(name: &str) -> Option<usize> {
        NAMES.iter().position(|n| n.eq_ignore_ascii_case(name))
    }

    /// Right-hand side without inputs other than the meal rate `meal_rate` (mg/min into QSTO1),
    /// which decides whether the patient is eating.
    fn dynamics(t: f64, y: &[f64], p: &[f64], meal_rate: f64, dy: &mut [f64]) {
        let pmol_per_kg_per_u = PMOL_PER_U / p[BW];
        let isc1 = pmol_per_kg_per_u * (y[ISC1] + y[BOLUS_CHO] / p[CR]);
        let qsto = y[QSTO1] + y[QSTO2];
        let eating = meal_rate > 0.0;
        // simglucose counts the current minute's grams from the start of the minute.
        let dbar = if eating {
            y[DBAR_MEAL] + meal_rate * (t.floor() + 1.0 - t)
        } else {
            y[DBAR]
        };
        let (kmax, kmin) = (p[KMAX], p[KMIN]);
        let kgut = if dbar > 0.0 {
            let a = 5.0 / (2.0 * dbar * (1.0 - p[B]));
            let c = 5.0 / (2.0 * dbar * p[D]);
            kmin + (kmax - kmin) / 2.0
                * (math::tanh(a * (qsto - p[B] * dbar)) - math::tanh(c * (qsto - p[D] * dbar))
                    + 2.0)
        } else {
            kmax
        };
        dy[QSTO1] = -kmax * y[QSTO1];
        dy[QSTO2] = kmax * y[QSTO1] - kgut * y[QSTO2];
        dy[QGUT] = kgut * y[QSTO2] - p[KABS] * y[QGUT];

        let rate_of_appearance = p[F] * p[KABS] * y[QGUT] / p[BW];
        let production = p[KP1] - p[KP2] * y[GP] - p[KP3] * y[XL];
        let excretion = if y[GP] > p[KE2] {
            p[KE1] * (y[GP] - p[KE2])
        } else {
            0.0
        };
        dy[GP] = clamped(
            y[GP],
            production.max(0.0) + rate_of_appearance - p[FSNC] - excretion - p[K1] * y[GP]
                + p[K2] * y[GT],
        );
        let utilisation = (p[VM0] + p[VMX] * y[X]) * y[GT] / (p[KM0] + y[GT]);
        dy[GT] = clamped(y[GT], -utilisation + p[K1] * y[GP] - p[K2] * y[GT]);

        dy[IP] = clamped(
            y[IP],
            -(p[M2] + p[M4]) * y[IP] + p[M1] * y[IL] + p[KA1] * isc1 + p[KA2] * y[ISC2],
        );
        let plasma_insulin = y[IP] / p[VI];
        dy[X] = -p[P2U] * y[X] + p[P2U] * (plasma_insulin - p[IB]);
        dy[I1] = -p[KI] * (y[I1] - plasma_insulin);
        dy[XL] = -p[KI] * (y[XL] - y[I1]);
        dy[IL] = clamped(y[IL], -(p[M1] + p[M30]) * y[IL] + p[M2] * y[IP]);
        let sc_loss = p[KA1] + p[KD];
        dy[ISC1] = clamped(y[ISC1], p[U2SS] / pmol_per_kg_per_u - sc_loss * y[ISC1]);
        dy[ISC2] = clamped(y[ISC2], p[KD] * isc1 - p[KA2] * y[ISC2]);
        dy[GS] = clamped(y[GS], -p[KSC] * y[GS] + p[KSC] * y[GP]);
        dy[BOLUS_CHO] = -sc_loss * y[BOLUS_CHO];

        if eating {
            dy[DBAR_MEAL] = meal_rate;
            dy[DBAR] = meal_rate + DBAR_TRACKING_PER_MIN * (y[DBAR_MEAL] - y[DBAR]);
        } else {
            dy[DBAR_MEAL] = -kgut * y[QSTO2] + DBAR_TRACKING_PER_MIN * (qsto - y[DBAR_MEAL]);
            dy[DBAR] = 0.0;
        }
    }
}

/// simglucose's `(x >= 0) * dx`: a state that becomes negative freezes.
fn clamped(state: f64, derivative: f64) -> f64 {
    if state >= 0.0 { derivative } else { 0.0 }
}

fn states() -> Vec<StateSpec> {
    [
        ("QSTO1", "mg"),
        ("QSTO2", "mg"),
        ("QGUT", "mg"),
        ("GP", "mg/kg"),
        ("GT", "mg/kg"),
        ("IP", "pmol/kg"),
        ("X", "pmol/L"),
        ("I1", "pmol/L"),
        ("XL", "pmol/L"),
        ("IL", "pmol/kg"),
        ("ISC1", "U"),
        ("ISC2", "pmol/kg"),
        ("GS", "mg/kg"),
        ("BOLUS_CHO", "g"),
        ("DBAR_MEAL", "mg"),
        ("DBAR", "mg"),
    ]
    .into_iter()
    .map(|(name, unit)| StateSpec { name, unit })
    .collect()
}

fn parameters() -> Vec<ParameterSpec> {
    PARAMETERS
        .iter()
        .enumerate()
        .map(|(column, &(name, unit, source))| {
            debug_assert_eq!(name, COLUMNS[column], "parameter order follows the table");
            let values = ROWS.iter().map(|row| row[column]);
            let smallest = values.clone().fold(f64::INFINITY, f64::min);
            let largest = values.fold(f64::NEG_INFINITY, f64::max);
            let upper = if FRACTIONS.contains(&column) {
                1.0
            } else {
                10.0 * largest
            };
            ParameterSpec {
                name,
                unit,
                typical: ROWS[REFERENCE_PATIENT][column],
                lower: smallest / 10.0,
                upper,
                source,
            }
        })
        .collect()
}

fn outcomes() -> Vec<OutcomeSpec> {
    let value = |name, unit, description| OutcomeSpec {
        name,
        unit,
        kind: OutcomeKind::Value,
        description,
    };
    let res = vec![
        value(
            "tir_70_180",
            "%",
            "time in range: % of output-grid samples with 70 <= BG <= 180 mg/dL (simglucose \
             report.py)",
        ),
        value(
            "tbr_70",
            "%",
            "time below range: % of output-grid samples with BG < 70 mg/dL (simglucose report.py)",
        ),
        value(
            "tbr_54",
            "%",
            "time below 54 mg/dL: % of output-grid samples with BG < 54 mg/dL ([A] consensus \
             level 2 threshold)",
        ),
        value(
            "tar_180",
            "%",
            "time above range: % of output-grid samples with BG > 180 mg/dL (simglucose report.py)",
        ),
        value(
            "tar_250",
            "%",
            "time above 250 mg/dL: % of output-grid samples with BG > 250 mg/dL (simglucose \
             report.py)",
        ),
        value(
            "lbgi",
            "-",
            "low blood glucose index: mean over output-grid samples of 10·f² where f < 0 (0 \
             elsewhere), f = 1.509·((ln BG)^1.084 − 5.381)",
        ),
        value(
            "hbgi",
            "-",
            "high blood glucose index: mean over output-grid samples of 10·f² where f > 0 (0 \
             elsewhere), f = 1.509·((ln BG)^1.084 − 5.381)",
        ),
        OutcomeSpec {
            name: "hypo_54",
            unit: "min",
            kind: OutcomeKind::TimeToEvent,
            description: "first output-grid time with BG < 54 mg/dL ([A] consensus level 2 \
                          hypoglycaemia)",
        },
    ];
    debug_assert_eq!(res[TIR_70_180].name, "tir_70_180");
    debug_assert_eq!(res[HYPO_54].name, "hypo_54");
    res
}

/// The day's meals: simglucose's random-scenario mean sizes and times (45, 70, 80 g at 7:00,
/// 12:00, 18:00; `scenario_gen.py`), eaten at 5 g/min.
macro_rules! day_meals {
    () => {
        "45 g cmt=1 over 9min at 7h; 70 g cmt=1 over 14min at 12h; 80 g cmt=1 over 16min at 18h"
    };
}

fn therapies() -> Vec<TherapySpec> {
    vec![
        TherapySpec {
            name: "meals-cr-bolus",
            regimen: concat!(
                day_meals!(),
                "; 45 g cmt=14 over 1min at 7h; 70 g cmt=14 over 1min at 12h; \
                 80 g cmt=14 over 1min at 18h"
            ),
            description: "Basal-bolus day: meals of 45, 70 and 80 g at 7:00, 12:00 and 18:00 \
                          (simglucose's random-scenario mean sizes and times [R: \
                          scenario_gen.py]) eaten at 5 g/min, each with a CHO/CR U bolus given \
                          as a one-minute rate at the meal's start (simglucose's basal-bolus \
                          controller without the correction term); basal is always on",
        },
        TherapySpec {
            name: "meals-cr-prebolus-20min",
            regimen: concat!(
                day_meals!(),
                "; 45 g cmt=14 over 1min at 400min; 70 g cmt=14 over 1min at 700min; \
                 80 g cmt=14 over 1min at 1060min"
            ),
            description: "The same day with each CHO/CR bolus given 20 minutes before the meal \
                          [A: illustrative pre-meal bolus timing, a comparator of \
                          docs/models/t1d.md §Regimens]",
        },
        TherapySpec {
            name: "meals-basal-only",
            regimen: day_meals!(),
            description: "The same meals with basal insulin only (no meal bolus)",
        },
        TherapySpec {
            name: "reference-50g",
            regimen: "50 g cmt=1 over 10min at 60min; 50 g cmt=14 over 1min at 60min",
            description: "Reference scenario of docs/models/t1d.md §Check numbers: 50 g \
                          announced at 60 min, eaten at 5 g/min, with a 50/CR U bolus as a \
                          one-minute rate at 60 min [R]",
        },
    ]
}

impl Model for UvaPadovaV1 {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn rhs(&self, t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) {
        Self::dynamics(t, y, p, 0.0, dy);
    }

    fn rhs_with_inputs(&self, t: f64, y: &[f64], p: &[f64], inputs: &[f64], dy: &mut [f64]) {
        Self::dynamics(t, y, p, inputs[QSTO1], dy);
        for (d, r) in dy.iter_mut().zip(inputs) {
            *d += r;
        }
    }

    fn initial_state(&self, p: &[f64], y: &mut [f64]) {
        y.fill(0.0);
        y[GP] = p[GPB];
        y[GT] = p[GTB];
        y[IP] = p[IPB];
        y[I1] = p[IB];
        y[XL] = p[IB];
        y[IL] = p[ILB];
        y[ISC1] = p[ISC1SS] / (PMOL_PER_U / p[BW]);
        y[ISC2] = p[ISC2SS];
        y[GS] = p[GPB];
    }

    fn outputs(&self, _t: f64, y: &[f64], p: &[f64], out: &mut [f64]) {
        out[0] = y[GP] / p[VG];
        out[1] = y[GS] / p[VG];
    }

    /// The table row of the patient `PATIENT` (rounded to the nearest index and clamped to
    /// 0–29; NaN means the reference patient). There are no random effects.
    fn individual_parameters(
        &self,
        _population: &Population,
        covariates: &[f64],
        _eta: &[f64],
        params: &mut [f64],
    ) {
        params.copy_from_slice(&ROWS[patient_of(covariates[0])]);
    }

    /// `PATIENT` uniform over the 30 virtual patients.
    fn sample_covariates(&self, stream: &mut RandomStream, covariates: &mut [f64]) {
        let draw = (stream.uniform() * N_PATIENTS as f64).floor();
        covariates[0] = draw.min((N_PATIENTS - 1) as f64);
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
        let n_outputs = self.spec.outputs.len();
        glucose_outcomes(
            times,
            outputs.chunks_exact(n_outputs).map(|row| row[0]),
            out,
        );
    }
}

/// Row index of the `PATIENT` covariate value.
fn patient_of(covariate: f64) -> usize {
    if covariate.is_nan() {
        return REFERENCE_PATIENT;
    }
    // Rounded and clamped to the table first, so the cast neither truncates nor wraps.
    covariate.round().clamp(0.0, (N_PATIENTS - 1) as f64) as usize
}

/// Kovatchev's symmetrised glucose scale, `f(BG) = 1.509·((ln BG)^1.084 − 5.381)`, BG in mg/dL.
fn risk_scale(bg: f64) -> f64 {
    1.509 * (math::pow(math::ln(bg), 1.084) - 5.381)
}

/// Writes the eight outcomes of the plasma glucose samples `bg` at `times` into `out`.
/// Non-finite samples are skipped; with none left, every value is NaN.
fn glucose_outcomes(times: &[f64], bg: impl Iterator<Item = f64>, out: &mut [f64]) {
    let mut n = 0usize;
    let mut counts = [0usize; 5];
    let (mut low_risk, mut high_risk) = (0.0, 0.0);
    let mut first_below_54 = f64::NAN;
    for (&t, value) in times.iter().zip(bg) {
        if !value.is_finite() {
            continue;
        }
        n += 1;
        counts[TIR_70_180] += usize::from((70.0..=180.0).contains(&value));
        counts[TBR_70] += usize::from(value < 70.0);
        counts[TBR_54] += usize::from(value < 54.0);
        counts[TAR_180] += usize::from(value > 180.0);
        counts[TAR_250] += usize::from(value > 250.0);
        if value < 54.0 && first_below_54.is_nan() {
            first_below_54 = t;
        }
        // ln is undefined at BG <= 0 (only reachable if GP froze at 0); simglucose's report.py
        // drops such samples from the risk indices as well.
        if value > 0.0 {
            let f = risk_scale(value);
            let risk = 10.0 * f * f;
            if f < 0.0 {
                low_risk += risk;
            } else {
                high_risk += risk;
            }
        }
    }
    if n == 0 {
        out.fill(f64::NAN);
        return;
    }
    let n = n as f64;
    for (slot, count) in out.iter_mut().zip(counts) {
        *slot = 100.0 * count as f64 / n;
    }
    out[LBGI] = low_risk / n;
    out[HBGI] = high_risk / n;
    out[HYPO_54] = first_below_54;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_table_matches_the_generated_columns() {
        for (column, (name, _, _)) in PARAMETERS.iter().enumerate() {
            assert_eq!(*name, COLUMNS[column]);
        }
        let model = UvaPadovaV1::new();
        let names: Vec<&str> = model.spec().parameters.iter().map(|p| p.name).collect();
        for (idx, name) in [
            (BW, "BW"),
            (KABS, "kabs"),
            (B, "b"),
            (D, "d"),
            (F, "f"),
            (VG, "Vg"),
            (K1, "k1"),
            (VM0, "Vm0"),
            (FSNC, "Fsnc"),
            (KP1, "kp1"),
            (KE2, "ke2"),
            (VI, "Vi"),
            (IB, "Ib"),
            (M30, "m30"),
            (KA2, "ka2"),
            (KSC, "ksc"),
            (U2SS, "u2ss"),
            (CR, "CR"),
            (GPB, "Gpb"),
            (ISC2SS, "isc2ss"),
        ] {
            assert_eq!(names[idx], name);
        }
        let states: Vec<&str> = model.spec().states.iter().map(|s| s.name).collect();
        assert_eq!(states.len(), N_STATES);
        assert_eq!(
            (states[GS], states[BOLUS_CHO], states[DBAR]),
            ("GS", "BOLUS_CHO", "DBAR")
        );
    }

    #[test]
    fn every_row_lies_within_the_declared_bounds() {
        let model = UvaPadovaV1::new();
        for row in &ROWS {
            for (value, p) in row.iter().zip(&model.spec().parameters) {
                assert!((p.lower..=p.upper).contains(value), "{} = {value}", p.name);
            }
        }
    }

    #[test]
    fn patient_covariate_selects_rows_by_nearest_index() {
        assert_eq!(patient_of(f64::NAN), REFERENCE_PATIENT);
        assert_eq!(patient_of(10.2), 10);
        assert_eq!(patient_of(-3.0), 0);
        assert_eq!(patient_of(99.0), N_PATIENTS - 1);
        assert_eq!(UvaPadovaV1::patient_index("child#004"), Some(23));
        assert_eq!(UvaPadovaV1::patient_name(10), Some("adult#001"));
    }
}
