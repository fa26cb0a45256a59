//! Chronic myeloid leukaemia (CML) under imatinib: the hierarchical model of Michor et al.
//! (*Nature* 2005;435:1267–1270), a **research model** with secondary, partly uncertain parameters
//! (`docs/models/cml.md`).
//!
//! Three cell lineages, each on four levels of differentiation (0 stem, 1 progenitor,
//! 2 differentiated, 3 terminally differentiated): normal cells `X`, imatinib-sensitive leukaemic
//! cells `Y` and imatinib-resistant leukaemic cells `Z`. Imatinib lowers the rates at which
//! sensitive leukaemic stem cells and progenitors produce progeny; it does not touch leukaemic stem
//! cells, which is why the BCR-ABL ratio falls in two phases and relapses when therapy stops.
//!
//! | state index | CMT | name | unit | what it is |
//! | --- | --- | --- | --- | --- |
//! | 0 | 1 | `IMATINIB` | mg | cumulative imatinib delivered by the regimen; receives the doses |
//! | 1–4 | 2–5 | `X0`…`X3` | cells | normal stem, progenitor, differentiated, terminal cells |
//! | 5–8 | 6–9 | `Y0`…`Y3` | cells | imatinib-sensitive leukaemic cells, same levels |
//! | 9–12 | 10–13 | `Z0`…`Z3` | cells | imatinib-resistant leukaemic cells, same levels |
//!
//! # Equations (t in days) \[S\]
//!
//! ```text
//! dX0/dt = (λ(X0) − d0)·X0,        λ(X0) = −0.5·(X0 − X0o)
//! dX1/dt = ax·X0 − d1·X1           dX2/dt = bx·X1 − d2·X2           dX3/dt = cx·X2 − d3·X3
//! dY0/dt = (ry·(1 − u) − d0)·Y0
//! dY1/dt = ay'·Y0 − d1·Y1          dY2/dt = by'·Y1 − d2·Y2          dY3/dt = cy·Y2 − d3·Y3
//! dZ0/dt = (rz − d0)·Z0 + ry·u·Y0
//! dZ1/dt = az·Z0 − d1·Z1           dZ2/dt = bz·Z1 − d2·Z2           dZ3/dt = cz·Z2 − d3·Z3
//! dIMATINIB/dt = zero-order input rate of the regimen
//! ```
//!
//! Off imatinib `ay' = ay` and `by' = by`; on imatinib `ay' = ay/100` and `by' = by/750`
//! (`AY_REDUCTION`, `BY_REDUCTION`). Resistant cells are unaffected. The readout is the BCR-ABL
//! ratio `(Y3 + Z3)/(Y3 + Z3 + X3)`.
//!
//! # Therapy: on/off from the regimen's input rate
//!
//! The model has no imatinib pharmacokinetics and no dose–response, only "on drug" or "off drug"
//! (`docs/models/cml.md` §Therapy). The patient is on imatinib while the zero-order input rate into
//! `IMATINIB` is positive ([`Model::rhs_with_inputs`] and [`Model::advance_exact`] see that rate),
//! so a regimen gives each daily dose as a zero-order input spread over its dosing interval:
//! `400 mg oral over 24h q24h x365` is one year of continuous therapy, and so is
//! `146000 mg over 365d`. `IMATINIB` only integrates the input (the cumulative dose, mg). A bolus
//! (a dose without `over`) is added to `IMATINIB` but does not switch therapy on. \[A\] This is a
//! modelling device chosen here, not part of the publication.
//!
//! # Exact propagation
//!
//! The normal stem-cell equation is the logistic `dX0/dt = r·X0·(1 − X0/K)` with
//! `r = 0.5·X0o − d0 ≈ 10⁶ /day` and stable fixed point `K = X0o − d0/0.5`. Near `K` it relaxes in
//! about a microday, so the system is far too stiff for the engine's explicit Dormand–Prince
//! solver (a year would take ~10⁸ steps). Nothing in the model moves `X0` (it is decoupled from `Y`
//! and `Z` and untouched by therapy), and the initial state puts it at `K`, where it stays. The
//! other twelve equations are then linear with constant coefficients between dosing events, and
//! [`Model::advance_exact`] propagates them exactly:
//!
//! - Each lineage is a *chain*: a lower-bidiagonal system with diagonal ("nodes")
//!   `μ = (g, −d1, −d2, −d3)` and links `ℓ = (a, b, c)`; the normal chain has `g = 0` (X0 at its
//!   fixed point), the sensitive chain `g = ry·(1 − u) − d0`. The resistant lineage is fed by
//!   mutation from `Y0`, so `Y0 → Z0 → Z1 → Z2 → Z3` is a five-node chain with nodes
//!   `(ry·(1 − u) − d0, rz − d0, −d1, −d2, −d3)` and links `(ry·u, az, bz, cz)`.
//! - For a chain, `e^(t·A)[j][i] = ℓ_(i+1)·…·ℓ_j · f[μ_i, …, μ_j]`, the divided difference of
//!   `f(μ) = e^(μ·t)` over the nodes (Opitz's formula; `A = S·N·S⁻¹` with `N` the chain with unit
//!   links and `S = diag(1, ℓ_1, ℓ_1·ℓ_2, …)`).
//! - The divided differences are the entries of `e^(t·N)`, computed as McCurdy, Ng & Parlett
//!   (Math Comp 1984) advise: scale `t` by `2^−s` until `|μ|·t·2^−s ≤ 1/2`, sum the Taylor series
//!   to degree `TAYLOR_DEGREE` (truncation below 1e−21 relative), then square `s` times. All
//!   entries of `e^(t·N)` are positive, so squaring does not cancel; the relative error is about
//!   `2^s` ulps (about 2e−13 for a year at `d3 = 1 /day`). Equal or close nodes need no special
//!   case.
//!
//! `advance_exact` declines (and the engine falls back to its ODE solver) when `X0` is neither 0
//! nor within a relative 1e−9 of `K` — possible only after a dose into `X0` — or when a cell state
//! receives a zero-order input. With the default set point `X0o = 2×10⁶` that fallback runs out of
//! steps (the engine reports `TooManySteps`; a stiff solver would be needed); with a small set
//! point (e.g. 20 cells, `r ≈ 10 /day`) it works and is used in the tests to cross-check the
//! closed form against the right-hand side.
//!
//! # Provenance and uncertainty
//!
//! Equations and parameters are secondary \[S\], transcribed from the `radivot/myelo` R package
//! (`michor05.R`, its therapy-switch version; the dose-variable version has copy errors). The paper
//! and its supplement were not read, so the homeostasis function `λ(X0)` with its set point, the
//! initial state at diagnosis and the exact definition of the ratio (a factor 2 for the two BCR
//! alleles of normal cells?) are unverified. There is no inter-individual variability, observation
//! model or fit to data: every virtual patient is the same deterministic patient. The full list of
//! assumptions is in [`DOCUMENTATION`], which `twin models --describe` prints.

use twin_engine::math;
use twin_engine::model::{
    DoseModifiers, Model, ModelSpec, OutcomeKind, OutcomeSpec, OutputSpec, ParameterSpec,
    StateSpec, TherapySpec, TimeUnit,
};
use twin_engine::population::VariabilityModel;
use twin_engine::random::RandomStream;

/// Citation of every \[S\] parameter and equation.
macro_rules! michor {
    () => {
        "Michor F et al., Nature 2005;435:1267-1270, as transcribed in radivot/myelo michor05.R \
         (docs/models/cml.md §Parameters) [S]"
    };
}

/// Gain of the normal stem-cell homeostasis `λ(X0) = −0.5·(X0 − X0o)`, per cell per day.
/// [S, uncertain]: a coding choice of `radivot/myelo` (`docs/models/cml.md` §Equations), not
/// verified against the supplement. It sets the fixed point `K = X0o − d0/0.5` and the relaxation
/// rate `0.5·K`.
const HOMEOSTATIC_GAIN: f64 = 0.5;

/// Relative distance from the fixed point `K` within which `X0` counts as being at it. An offset
/// of `ε·K` relaxes within microdays and feeds at most `ax·ε·K/(0.5·K)` cells into `X1`, so 1e−9
/// keeps the closed form exact to far below a cell.
const FIXED_POINT_RTOL: f64 = 1e-9;

/// Longest chain: `Y0 → Z0 → Z1 → Z2 → Z3`.
const MAX_CHAIN: usize = 5;

/// Taylor degree of the scaled chain exponential. With scaled nodes `|μ·h| ≤ 1/2` the truncated
/// terms are below `0.5^19/19! ≈ 2e−23` relative to each entry.
const TAYLOR_DEGREE: u32 = 18;

/// Log-reduction (factor) of the BCR-ABL ratio below its baseline that defines a major molecular
/// response: 3 logs [S: ASH education abstract; `docs/models/cml.md` §Outcomes].
const MMR_FACTOR: f64 = 1e-3;

/// A molecular response (1 log below baseline) must precede a relapse, and a relapse is a rise
/// of 1 log above the nadir since that response. \[A\] assumed, see [`DOCUMENTATION`].
const LOG_FACTOR: f64 = 10.0;

/// Time (days) of the 12-month ratio.
const TWELVE_MONTHS_D: f64 = 365.0;

/// Two grid times closer than this (days) are the same time.
const TIME_MATCH_D: f64 = 1e-9;

// State indices.
const IMATINIB: usize = 0;
const X0: usize = 1;
const X3: usize = 4;
const Y0: usize = 5;
const Y3: usize = 8;
const Z0: usize = 9;
const Z3: usize = 12;
const N_STATES: usize = 13;

// Output indices.
const BCR_ABL_RATIO: usize = 0;
const LOG10_RATIO: usize = 1;
const LEUKAEMIC_CELLS: usize = 2;
const RESISTANT_CELLS: usize = 3;

// Outcome indices.
const MMR: usize = 0;
const RELAPSE: usize = 1;
const RATIO_12M: usize = 2;

/// What `twin models --describe` shows for [`MichorImatinibV1`].
pub const DOCUMENTATION: &str = "\
Michor F, Hughes TP, Iwasa Y, Branford S, Shah NP, Sawyers CL, Nowak MA. Dynamics of chronic
myeloid leukaemia. Nature 2005;435:1267-1270. Equations and parameters [S] are the transcription in
the radivot/myelo R package (michor05.R, therapy-switch version; its dose-variable version has
copy errors: az, bz and cx in the leukaemic equations). The paper and its supplement were NOT read.
RESEARCH MODEL: secondary parameters, several uncertain; no inter-individual variability, no
observation model, no fit to data. Every virtual patient is the same deterministic patient.
Time unit: days.

STATES (CMT = index + 1)
  IMATINIB (CMT 1, mg)   cumulative imatinib delivered by the regimen; receives the doses
  X0..X3 (CMT 2-5)       normal stem, progenitor, differentiated, terminally differentiated cells
  Y0..Y3 (CMT 6-9)       imatinib-sensitive leukaemic cells, same levels
  Z0..Z3 (CMT 10-13)     imatinib-resistant leukaemic cells, same levels

EQUATIONS [S]
  dX0/dt = (lambda(X0) - d0)*X0,  lambda(X0) = -0.5*(X0 - X0o)      [S, uncertain]
  dX1/dt = ax*X0 - d1*X1    dX2/dt = bx*X1 - d2*X2    dX3/dt = cx*X2 - d3*X3
  dY0/dt = (ry*(1 - u) - d0)*Y0
  dY1/dt = ay'*Y0 - d1*Y1   dY2/dt = by'*Y1 - d2*Y2   dY3/dt = cy*Y2 - d3*Y3
  dZ0/dt = (rz - d0)*Z0 + ry*u*Y0
  dZ1/dt = az*Z0 - d1*Z1    dZ2/dt = bz*Z1 - d2*Z2    dZ3/dt = cz*Z2 - d3*Z3
  dIMATINIB/dt = zero-order input rate of the regimen
  Off imatinib ay' = ay, by' = by. On imatinib ay' = ay/AY_REDUCTION, by' = by/BY_REDUCTION
  (100 and 750 [S]); resistant cells are unaffected. Stopping therapy restores ay and by.

THERAPY (on/off; the model has no imatinib PK and no dose-response)
  The patient is on imatinib while the zero-order input rate into IMATINIB is positive, so
  regimens give each daily dose as a zero-order input over its dosing interval:
  '400 mg oral over 24h q24h x365' is one year of continuous therapy, and so is
  '146000 mg over 365d'. A bolus (no 'over') is added to IMATINIB but does not switch therapy on.
  [A] modelling device chosen here.
  Built-in therapies: imatinib-400 (400 mg daily [S: ASH education abstract], continuously for
  5 years), imatinib-stop-1y (the same for 1 year, then stopped: simulate past day 365 to see the
  relapse), no-treatment.

OUTPUTS
  BCR_ABL_RATIO (fraction) = (Y3 + Z3)/(Y3 + Z3 + X3)   [S; the paper may count 2 BCR alleles
                             per normal cell, i.e. 2*X3 in the denominator - not verified]
  LOG10_RATIO = log10(BCR_ABL_RATIO)
  LEUKAEMIC_CELLS (cells) = Y0 + Y1 + Y2 + Y3 + Z0 + Z1 + Z2 + Z3
  RESISTANT_CELLS (cells) = Z0 + Z1 + Z2 + Z3

OUTCOMES (time resolution is the output grid's: an event is the first grid time satisfying it)
  mmr (days): first time the ratio is at or below 1e-3 x its baseline (3-log reduction, major
    molecular response [S: ASH education abstract]). The baseline is the ratio of the initial
    state at diagnosis, computed from the parameters, not from the grid.
  relapse (days): after a molecular response (ratio at or below baseline/10), the first time the
    ratio is at or above 10 x its lowest value since that response (a 1-log rise above the
    nadir) [A].
  ratio_12m (fraction): ratio at day 365, log-linearly interpolated between the grid times
    around it; NaN when the grid does not reach day 365.
  With the default parameters the ratio bottoms out about 2.2 logs below baseline near day 400
  (no MMR): leukaemic stem cells keep growing at ry - d0 = +0.005/day under imatinib. Relapse
  therefore follows a 1-log response rather than MMR [A]: conditioning on MMR would make relapse
  unobservable here.

INITIAL STATE AT DIAGNOSIS [A] (not obtained from the publication; the check-number set-up of
  docs/models/cml.md §Initial state at diagnosis)
  X0 = K = X0o - d0/0.5 (fixed point of dX0/dt), X1 = ax*X0/d1, X2 = bx*X1/d2, X3 = cx*X2/d3.
  Y0 = Y0_DX = 2.5e7 [A, chosen to give an initial ratio of 0.98], Y1 = ay*Y0/d1,
  Y2 = by*Y1/d2, Y3 = cy*Y2/d3 (progeny at quasi-steady state off therapy, as in radivot/myelo
  michorDemo.R).
  Z0 = Z0_DX = 0 [A: resistance arises by mutation at rate u; radivot's Fig. 4C example starts
  from 10], Z progeny at quasi-steady state likewise. IMATINIB = 0.

PARAMETERS (per day unless noted)
  D0, D1, D2, D3        0.003, 0.008, 0.05, 1    death rates of levels 0-3           [S]
  AX, BX, CX            0.8, 5, 100              normal production rates             [S]
  RY, AY, BY, CY        0.008, 1.6, 10, 100      sensitive leukaemic rates           [S]
  RZ, AZ, BZ, CZ        0.023, 1.6, 10, 100      resistant leukaemic rates           [S]
  U                     4e-8 per division        resistance mutation rate            [S]
  X0_SET (X0o)          2e6 cells                normal stem-cell set point          [S, uncertain]
  AY_REDUCTION          100                      imatinib reduction of ay            [S]
  BY_REDUCTION          750                      imatinib reduction of by            [S]
  Y0_DX                 2.5e7 cells              leukaemic stem cells at diagnosis   [A]
  Z0_DX                 0 cells                  resistant stem cells at diagnosis   [A]
  The homeostatic gain 0.5 /(cell*day) of lambda(X0) is fixed [S, uncertain].

VARIABILITY: none. No inter-individual variability or residual error has been published for
  this model (Omega is empty); it is a deterministic research model.

NUMERICS: X0 relaxes to its fixed point at rate ~0.5*X0o = 1e6/day, far too stiff for an
  explicit solver. It starts at its fixed point and nothing moves it, so the remaining equations
  are linear between doses and are propagated exactly (matrix exponential of each lineage chain,
  by scaling and squaring). Doses into X0 or zero-order inputs into cell states fall back to the
  explicit ODE solver, which runs out of steps at the default set point (error TooManySteps):
  do not dose cell states.

ASSUMPTIONS [A]
  - Initial state at diagnosis (above): Y0_DX = 2.5e7, Z0_DX = 0, progeny at quasi-steady state.
  - On/off therapy from the zero-order input rate into IMATINIB (above).
  - Relapse definition: 1-log rise above the nadir after a 1-log response (above).
  - Mutation to resistance is the deterministic flux ry*u*Y0 (the expected value of a stochastic
    process): resistant cells appear as fractions of a cell and every patient on continuous
    therapy eventually relapses with resistant cells (near day 630 with the defaults). Michor
    2005's probability of resistance is not modelled.

UNCERTAIN OR NOT OBTAINED (docs/models/cml.md §Not obtained)
  - The paper and supplement were not read: the homeostasis function lambda(X0) and its set
    point X0o (a coding choice in radivot/myelo), the initial conditions at diagnosis and the
    exact BCR-ABL ratio definition (including any factor 2 for normal BCR alleles) are
    unverified.
  - All parameters are secondary [S] (radivot/myelo); none was checked against the paper.
  - No inter-individual variability, observation model or data fit is available.
  - No dose-response for imatinib: only on/off.
  - The biphasic slopes published by Michor 2005 itself were not obtained. A later study (Blood
    2011;118(6):1622, authors not read) reports imatinib slopes -0.052 +/- 0.018 and
    -0.0057 +/- 0.0038 per day [S, abstract]; the model's -0.0496 (ln Y3, days 20-60) and
    -0.0066 (days 200-365) lie within them [D].

CHECK NUMBERS [D] (docs/models/cml.md §Check numbers; u = 0, Z = 0, therapy from day 0): slope
  of ln Y3 over days 20-60 -0.0496/day, over days 200-365 -0.0066/day; slope of ln(ratio) over
  days 60-90 -0.0213/day, over days 200-300 -0.0077/day.";

/// Michor 2005 CML hierarchy under imatinib on/off, id `cml`, version 1, time in days. A research
/// model: secondary parameters, several uncertain, no variability (see the
/// [module documentation](self)).
///
/// Parameters, in order: `D0, D1, D2, D3, AX, BX, CX, RY, AY, BY, CY, RZ, AZ, BZ, CZ, U, X0_SET,
/// AY_REDUCTION, BY_REDUCTION, Y0_DX, Z0_DX`. Outputs: `BCR_ABL_RATIO`, `LOG10_RATIO`,
/// `LEUKAEMIC_CELLS`, `RESISTANT_CELLS`. Outcomes: `mmr`, `relapse` (days) and `ratio_12m`.
/// Therapies: `imatinib-400`, `imatinib-stop-1y`, `no-treatment`.
///
/// # Example
///
/// ```
/// use twin_engine::Model;
/// use twin_models::cml::MichorImatinibV1;
///
/// let model = MichorImatinibV1::new();
/// let p = model.spec().typical_parameters();
/// let mut y = vec![0.0; model.spec().states.len()];
/// model.initial_state(&p, &mut y);
/// let mut out = [0.0; 4];
/// model.outputs(0.0, &y, &p, &mut out);
/// assert!((out[0] - 0.98).abs() < 1e-3); // Initial ratio of docs/models/cml.md.
/// // One year on imatinib: 400 mg/day as a zero-order input into IMATINIB (state 0).
/// let mut inputs = vec![0.0; y.len()];
/// inputs[0] = 400.0;
/// assert!(model.advance_exact(&p, &mut y, &inputs, 365.0));
/// model.outputs(365.0, &y, &p, &mut out);
/// assert!(out[0] < 0.01); // More than two logs down.
/// ```
#[derive(Debug, Clone)]
pub struct MichorImatinibV1 {
    spec: ModelSpec,
}

impl MichorImatinibV1 {
    const D0: usize = 0;
    const D1: usize = 1;
    const D2: usize = 2;
    const D3: usize = 3;
    const AX: usize = 4;
    const BX: usize = 5;
    const CX: usize = 6;
    const RY: usize = 7;
    const AY: usize = 8;
    const BY: usize = 9;
    const CY: usize = 10;
    const RZ: usize = 11;
    const AZ: usize = 12;
    const BZ: usize = 13;
    const CZ: usize = 14;
    const U: usize = 15;
    const X0_SET: usize = 16;
    const AY_REDUCTION: usize = 17;
    const BY_REDUCTION: usize = 18;
    const Y0_DX: usize = 19;
    const Z0_DX: usize = 20;

    /// The model with its specification built once.
    #[must_use]
    pub fn new() -> Self {
        Self {
            spec: ModelSpec {
                id: "cml",
                version: "1",
                description: "Michor 2005 CML stem-cell hierarchy under imatinib on/off (research \
                              model)",
                time_unit: TimeUnit::Day,
                states: states(),
                parameters: parameters(),
                covariates: Vec::new(),
                outputs: vec![
                    OutputSpec {
                        name: "BCR_ABL_RATIO",
                        unit: "fraction",
                    },
                    OutputSpec {
                        name: "LOG10_RATIO",
                        unit: "log10",
                    },
                    OutputSpec {
                        name: "LEUKAEMIC_CELLS",
                        unit: "cells",
                    },
                    OutputSpec {
                        name: "RESISTANT_CELLS",
                        unit: "cells",
                    },
                ],
                dosing: vec![DoseModifiers::default(); N_STATES],
                default_dose_compartment: IMATINIB,
                variability: VariabilityModel::default(),
                outcomes: outcomes(),
                therapies: therapies(),
                evidence: "research model: secondary parameters (radivot/myelo transcription), \
                           several uncertain",
                documentation: DOCUMENTATION,
            },
        }
    }

    /// Stable fixed point `K = X0o − d0/0.5` of the normal stem-cell equation.
    fn normal_set_point(p: &[f64]) -> f64 {
        p[Self::X0_SET] - p[Self::D0] / HOMEOSTATIC_GAIN
    }

    /// Production rates `(ay', by')` of sensitive progenitors and differentiated cells, reduced
    /// while on imatinib.
    fn sensitive_production(p: &[f64], on_imatinib: bool) -> (f64, f64) {
        if on_imatinib {
            (
                p[Self::AY] / p[Self::AY_REDUCTION],
                p[Self::BY] / p[Self::BY_REDUCTION],
            )
        } else {
            (p[Self::AY], p[Self::BY])
        }
    }

    /// The cell equations; `dy[IMATINIB]` is left at 0 (it only integrates the input).
    fn cell_derivatives(p: &[f64], y: &[f64], on_imatinib: bool, dy: &mut [f64]) {
        let (d0, d1, d2, d3) = (p[Self::D0], p[Self::D1], p[Self::D2], p[Self::D3]);
        let (ay, by) = Self::sensitive_production(p, on_imatinib);
        let [x0, x1, x2, x3, y0, y1, y2, y3, z0, z1, z2, z3] = [
            y[X0],
            y[X0 + 1],
            y[X0 + 2],
            y[X3],
            y[Y0],
            y[Y0 + 1],
            y[Y0 + 2],
            y[Y3],
            y[Z0],
            y[Z0 + 1],
            y[Z0 + 2],
            y[Z3],
        ];
        let lambda = -HOMEOSTATIC_GAIN * (x0 - p[Self::X0_SET]);
        let u = p[Self::U];
        dy[IMATINIB] = 0.0;
        dy[X0] = (lambda - d0) * x0;
        dy[X0 + 1] = p[Self::AX] * x0 - d1 * x1;
        dy[X0 + 2] = p[Self::BX] * x1 - d2 * x2;
        dy[X3] = p[Self::CX] * x2 - d3 * x3;
        dy[Y0] = (p[Self::RY] * (1.0 - u) - d0) * y0;
        dy[Y0 + 1] = ay * y0 - d1 * y1;
        dy[Y0 + 2] = by * y1 - d2 * y2;
        dy[Y3] = p[Self::CY] * y2 - d3 * y3;
        dy[Z0] = (p[Self::RZ] - d0) * z0 + p[Self::RY] * u * y0;
        dy[Z0 + 1] = p[Self::AZ] * z0 - d1 * z1;
        dy[Z0 + 2] = p[Self::BZ] * z1 - d2 * z2;
        dy[Z3] = p[Self::CZ] * z2 - d3 * z3;
    }

    /// BCR-ABL ratio `(Y3 + Z3)/(Y3 + Z3 + X3)` of state `y`.
    fn ratio(y: &[f64]) -> f64 {
        let leukaemic = y[Y3] + y[Z3];
        leukaemic / (leukaemic + y[X3])
    }
}

impl Default for MichorImatinibV1 {
    fn default() -> Self {
        Self::new()
    }
}

impl Model for MichorImatinibV1 {
    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Off imatinib: without a zero-order input into `IMATINIB` the patient is off drug.
    fn rhs(&self, _t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) {
        Self::cell_derivatives(p, y, false, dy);
    }

    /// On imatinib while the input rate into `IMATINIB` is positive; every input is added to `dy`.
    fn rhs_with_inputs(&self, _t: f64, y: &[f64], p: &[f64], inputs: &[f64], dy: &mut [f64]) {
        Self::cell_derivatives(p, y, inputs[IMATINIB] > 0.0, dy);
        for (d, r) in dy.iter_mut().zip(inputs) {
            *d += r;
        }
    }

    /// \[A\] The state at diagnosis of the check-number set-up (`docs/models/cml.md`
    /// §Initial state at diagnosis): every lineage's progeny at quasi-steady state off therapy
    /// behind its stem cells (`X0` at its fixed point, `Y0 = Y0_DX`, `Z0 = Z0_DX`), no imatinib
    /// given yet.
    fn initial_state(&self, p: &[f64], y: &mut [f64]) {
        let (d1, d2, d3) = (p[Self::D1], p[Self::D2], p[Self::D3]);
        let lineages = [
            (
                X0,
                Self::normal_set_point(p),
                [p[Self::AX], p[Self::BX], p[Self::CX]],
            ),
            (Y0, p[Self::Y0_DX], [p[Self::AY], p[Self::BY], p[Self::CY]]),
            (Z0, p[Self::Z0_DX], [p[Self::AZ], p[Self::BZ], p[Self::CZ]]),
        ];
        y[IMATINIB] = 0.0;
        for (first, stem, [a, b, c]) in lineages {
            y[first] = stem;
            y[first + 1] = a * stem / d1;
            y[first + 2] = b * y[first + 1] / d2;
            y[first + 3] = c * y[first + 2] / d3;
        }
    }

    fn outputs(&self, _t: f64, y: &[f64], _p: &[f64], out: &mut [f64]) {
        let ratio = Self::ratio(y);
        out[BCR_ABL_RATIO] = ratio;
        out[LOG10_RATIO] = math::log10(ratio);
        out[RESISTANT_CELLS] = y[Z0..=Z3].iter().sum();
        out[LEUKAEMIC_CELLS] = y[Y0..=Y3].iter().sum::<f64>() + out[RESISTANT_CELLS];
    }

    /// Exact propagation of the three lineage chains (see the [module documentation](self)).
    /// Declines when `X0` is off its fixed points (0 or `K`), when a cell state has a zero-order
    /// input, or when a rate or `dt` is not finite.
    fn advance_exact(&self, p: &[f64], y: &mut [f64], inputs: &[f64], dt: f64) -> bool {
        let set_point = Self::normal_set_point(p);
        let x0 = y[X0];
        let at_fixed_point = x0 == 0.0 || (x0 - set_point).abs() <= FIXED_POINT_RTOL * set_point;
        let cell_inputs = inputs[IMATINIB + 1..].iter().any(|&r| r != 0.0);
        if !at_fixed_point || cell_inputs || !dt.is_finite() || p.iter().any(|v| !v.is_finite()) {
            return false;
        }
        let (d1, d2, d3) = (p[Self::D1], p[Self::D2], p[Self::D3]);
        let (ay, by) = Self::sensitive_production(p, inputs[IMATINIB] > 0.0);
        let sensitive_growth = p[Self::RY] * (1.0 - p[Self::U]) - p[Self::D0];
        // The resistant chain starts at Y0, so it must read Y0 before the sensitive chain moves it.
        let mut resistant = [y[Y0], y[Z0], y[Z0 + 1], y[Z0 + 2], y[Z3]];
        chain::advance(
            &[sensitive_growth, p[Self::RZ] - p[Self::D0], -d1, -d2, -d3],
            &[
                p[Self::RY] * p[Self::U],
                p[Self::AZ],
                p[Self::BZ],
                p[Self::CZ],
            ],
            &mut resistant,
            dt,
        );
        chain::advance(
            &[0.0, -d1, -d2, -d3],
            &[p[Self::AX], p[Self::BX], p[Self::CX]],
            &mut y[X0..=X3],
            dt,
        );
        chain::advance(
            &[sensitive_growth, -d1, -d2, -d3],
            &[ay, by, p[Self::CY]],
            &mut y[Y0..=Y3],
            dt,
        );
        y[Z0..=Z3].copy_from_slice(&resistant[1..]);
        y[IMATINIB] += inputs[IMATINIB] * dt;
        true
    }

    /// `mmr`, `relapse` and `ratio_12m` from the ratio on the output grid; the baseline is the
    /// ratio of [`Model::initial_state`]. See [`DOCUMENTATION`] for the definitions.
    fn outcomes(
        &self,
        times: &[f64],
        outputs: &[f64],
        params: &[f64],
        _covariates: &[f64],
        _stream: &mut RandomStream,
        out: &mut [f64],
    ) {
        let n_out = self.spec.outputs.len();
        let ratio = |k: usize| outputs[k * n_out + BCR_ABL_RATIO];
        let mut at_diagnosis = [0.0; N_STATES];
        self.initial_state(params, &mut at_diagnosis);
        let baseline = Self::ratio(&at_diagnosis);
        out[RATIO_12M] = log_interpolate(times, ratio, TWELVE_MONTHS_D);
        out[MMR] = f64::NAN;
        out[RELAPSE] = f64::NAN;
        // Without leukaemic cells at diagnosis there is no response to measure.
        if baseline.is_nan() || baseline <= 0.0 {
            return;
        }

        out[MMR] = (0..times.len())
            .find(|&k| ratio(k) <= MMR_FACTOR * baseline)
            .map_or(f64::NAN, |k| times[k]);

        let mut nadir: Option<f64> = None;
        for (k, &t) in times.iter().enumerate() {
            let r = ratio(k);
            match nadir {
                None if r <= baseline / LOG_FACTOR => nadir = Some(r),
                None => {}
                Some(lowest) if r >= LOG_FACTOR * lowest => {
                    out[RELAPSE] = t;
                    break;
                }
                Some(lowest) => nadir = Some(lowest.min(r)),
            }
        }
    }
}

/// The value at `t` of a positive series given on ascending `times`, interpolated linearly in its
/// logarithm; NaN when `t` lies outside the grid.
fn log_interpolate(times: &[f64], value: impl Fn(usize) -> f64, t: f64) -> f64 {
    let Some(after) = times.iter().position(|&s| s >= t - TIME_MATCH_D) else {
        return f64::NAN;
    };
    if (times[after] - t).abs() <= TIME_MATCH_D {
        return value(after);
    }
    if after == 0 {
        return f64::NAN;
    }
    let (t0, t1) = (times[after - 1], times[after]);
    let (l0, l1) = (math::ln(value(after - 1)), math::ln(value(after)));
    math::exp(l0 + (l1 - l0) * (t - t0) / (t1 - t0))
}

fn states() -> Vec<StateSpec> {
    let cells = |name| StateSpec {
        name,
        unit: "cells",
    };
    let mut res = vec![StateSpec {
        name: "IMATINIB",
        unit: "mg",
    }];
    res.extend(
        [
            "X0", "X1", "X2", "X3", "Y0", "Y1", "Y2", "Y3", "Z0", "Z1", "Z2", "Z3",
        ]
        .map(cells),
    );
    res
}

/// The fifteen rate parameters (per day): name, typical value, lower and upper bound, source.
#[rustfmt::skip] // A table reads best with one parameter per line.
const RATES: [(&str, f64, f64, f64, &str); 15] = [
    ("D0", 0.003, 1e-5, 0.1, concat!("Death rate of stem cells. ", michor!())),
    ("D1", 0.008, 1e-5, 1.0, concat!("Death rate of progenitors. ", michor!())),
    ("D2", 0.05, 1e-5, 1.0, concat!("Death rate of differentiated cells. ", michor!())),
    ("D3", 1.0, 1e-3, 10.0, concat!("Death rate of terminal cells. ", michor!())),
    ("AX", 0.8, 1e-3, 1e3, concat!("Normal progenitors per stem cell. ", michor!())),
    ("BX", 5.0, 1e-3, 1e3, concat!("Normal differentiated per progenitor. ", michor!())),
    ("CX", 100.0, 1e-3, 1e4, concat!("Normal terminal per differentiated. ", michor!())),
    ("RY", 0.008, 0.0, 1.0, concat!("Sensitive stem-cell division. ", michor!())),
    ("AY", 1.6, 1e-3, 1e3, concat!("Sensitive progenitors per stem cell. ", michor!())),
    ("BY", 10.0, 1e-3, 1e3, concat!("Sensitive differentiated per progenitor. ", michor!())),
    ("CY", 100.0, 1e-3, 1e4, concat!("Sensitive terminal per differentiated. ", michor!())),
    ("RZ", 0.023, 0.0, 1.0, concat!("Resistant stem-cell division. ", michor!())),
    ("AZ", 1.6, 1e-3, 1e3, concat!("Resistant progenitors per stem cell. ", michor!())),
    ("BZ", 10.0, 1e-3, 1e3, concat!("Resistant differentiated per progenitor. ", michor!())),
    ("CZ", 100.0, 1e-3, 1e4, concat!("Resistant terminal per differentiated. ", michor!())),
];

fn parameters() -> Vec<ParameterSpec> {
    let mut res: Vec<ParameterSpec> = RATES
        .iter()
        .map(|&(name, typical, lower, upper, source)| ParameterSpec {
            name,
            unit: "1/d",
            typical,
            lower,
            upper,
            source,
        })
        .collect();
    res.extend([
        ParameterSpec {
            name: "U",
            unit: "per division",
            typical: 4e-8,
            lower: 0.0,
            upper: 1e-3,
            source: concat!(
                "Probability that a sensitive leukaemic stem-cell division yields a resistant \
                 cell; entered as the deterministic flux ry*u*Y0 [A]. ",
                michor!()
            ),
        },
        ParameterSpec {
            name: "X0_SET",
            unit: "cells",
            typical: 2e6,
            lower: 1.0,
            upper: 1e9,
            source: concat!(
                "Set point X0o of the normal stem-cell homeostasis lambda(X0) = -0.5*(X0 - X0o); \
                 uncertain: a coding choice of radivot/myelo, to be verified against the \
                 supplement. ",
                michor!()
            ),
        },
        ParameterSpec {
            name: "AY_REDUCTION",
            unit: "fold",
            typical: 100.0,
            lower: 1.0,
            upper: 1e5,
            source: concat!(
                "Imatinib divides ay by this factor while on drug. ",
                michor!()
            ),
        },
        ParameterSpec {
            name: "BY_REDUCTION",
            unit: "fold",
            typical: 750.0,
            lower: 1.0,
            upper: 1e6,
            source: concat!(
                "Imatinib divides by by this factor while on drug. ",
                michor!()
            ),
        },
        ParameterSpec {
            name: "Y0_DX",
            unit: "cells",
            typical: 2.5e7,
            lower: 0.0,
            upper: 1e10,
            source: "Sensitive leukaemic stem cells at diagnosis. [A] assumed: the initial state \
                     at diagnosis was not obtained; 2.5e7 gives an initial ratio of 0.98 \
                     (the check-number set-up of docs/models/cml.md §Initial state at \
                     diagnosis).",
        },
        ParameterSpec {
            name: "Z0_DX",
            unit: "cells",
            typical: 0.0,
            lower: 0.0,
            upper: 1e8,
            source: "Resistant leukaemic stem cells at diagnosis. [A] assumed: none, resistance \
                     arises by mutation at rate U (radivot/myelo's Fig. 4C example starts from \
                     10).",
        },
    ]);
    res
}

fn outcomes() -> Vec<OutcomeSpec> {
    vec![
        OutcomeSpec {
            name: "mmr",
            unit: "d",
            kind: OutcomeKind::TimeToEvent,
            description: "major molecular response: first output time at which the BCR-ABL ratio \
                          is at or below 1e-3 x its value at diagnosis (3-log reduction) [S: ASH \
                          education abstract]",
        },
        OutcomeSpec {
            name: "relapse",
            unit: "d",
            kind: OutcomeKind::TimeToEvent,
            description: "first output time, after the ratio has fallen 1 log below its value at \
                          diagnosis, at which it is at or above 10 x its lowest value since then \
                          (1-log rise above the nadir) [A]",
        },
        OutcomeSpec {
            name: "ratio_12m",
            unit: "fraction",
            kind: OutcomeKind::Value,
            description: "BCR-ABL ratio at day 365 (log-linear interpolation between output \
                          times; NaN if the grid does not reach day 365)",
        },
    ]
}

fn therapies() -> Vec<TherapySpec> {
    vec![
        TherapySpec {
            name: "imatinib-400",
            regimen: "400 mg oral over 24h q24h x1825",
            description: "imatinib 400 mg daily [S: ASH education abstract], continuously for 5 \
                          years; each dose is a zero-order input over its day, which keeps the \
                          patient on drug [A: on/off device, no PK]",
        },
        TherapySpec {
            name: "imatinib-stop-1y",
            regimen: "400 mg oral over 24h q24h x365",
            description: "imatinib 400 mg daily for one year, then stopped: ay and by recover and \
                          the ratio relapses within days [A: illustrative regimen]",
        },
        TherapySpec {
            name: "no-treatment",
            regimen: "none",
            description: "no imatinib: the untreated course from diagnosis",
        },
    ]
}

/// Exact propagation of a lineage chain, a lower-bidiagonal linear system.
mod chain {
    use super::{MAX_CHAIN, TAYLOR_DEGREE};

    /// Lower-triangular table; `table[j][i]` for `i ≤ j`.
    pub(super) type Table = [[f64; MAX_CHAIN]; MAX_CHAIN];

    /// Propagates `values` of the chain `dw_0/dt = μ_0·w_0`,
    /// `dw_j/dt = ℓ_j·w_(j−1) + μ_j·w_j` (`links[j − 1] = ℓ_j`) exactly over `dt`:
    /// `w_j(dt) = Σ_(i≤j) ℓ_(i+1)·…·ℓ_j · f[μ_i, …, μ_j] · w_i(0)` with `f(μ) = e^(μ·dt)`.
    pub(super) fn advance(nodes: &[f64], links: &[f64], values: &mut [f64], dt: f64) {
        let n = nodes.len();
        debug_assert!(n <= MAX_CHAIN && links.len() + 1 == n && values.len() == n);
        let mut table = [[0.0; MAX_CHAIN]; MAX_CHAIN];
        exp_divided_differences(nodes, dt, &mut table);
        let mut res = [0.0; MAX_CHAIN];
        for (j, w) in res.iter_mut().enumerate().take(n) {
            // Walk i downwards from j so the link product grows one factor at a time.
            let mut link_product = 1.0;
            for i in (0..=j).rev() {
                if i < j {
                    link_product *= links[i];
                }
                *w += link_product * table[j][i] * values[i];
            }
        }
        values.copy_from_slice(&res[..n]);
    }

    /// Writes the divided differences `f[μ_i, …, μ_j]` of `f(μ) = e^(μ·t)` into `table[j][i]`:
    /// the exponential of `t·N`, `N` the lower-bidiagonal matrix with `nodes` on the diagonal and
    /// ones below it (McCurdy, Ng & Parlett, Math Comp 1984), by scaling, a Taylor polynomial and
    /// squaring. Equal or nearly equal nodes need no special case.
    pub(super) fn exp_divided_differences(nodes: &[f64], t: f64, table: &mut Table) {
        let n = nodes.len();
        let largest = nodes.iter().fold(0.0_f64, |m, &x| m.max(x.abs()));
        // Halve the step until every scaled node is at most 1/2 in size.
        let mut h = t;
        let mut n_squarings = 0;
        while largest * h.abs() > 0.5 {
            h *= 0.5;
            n_squarings += 1;
        }
        // Horner: E = I + B·(I + B/2·(I + … (I + B/m))) with B = h·N.
        let mut e = identity(n);
        for k in (1..=TAYLOR_DEGREE).rev() {
            let scale = h / f64::from(k);
            let mut next = identity(n);
            for j in 0..n {
                for i in 0..=j {
                    let below = if j > i { e[j - 1][i] } else { 0.0 };
                    next[j][i] += scale * (nodes[j] * e[j][i] + below);
                }
            }
            e = next;
        }
        for _ in 0..n_squarings {
            let mut squared = [[0.0; MAX_CHAIN]; MAX_CHAIN];
            for j in 0..n {
                for i in 0..=j {
                    squared[j][i] = (i..=j).map(|m| e[j][m] * e[m][i]).sum();
                }
            }
            e = squared;
        }
        *table = e;
    }

    fn identity(n: usize) -> Table {
        let mut res = [[0.0; MAX_CHAIN]; MAX_CHAIN];
        for (i, row) in res.iter_mut().enumerate().take(n) {
            row[i] = 1.0;
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Divided difference of `e^(μ·t)` over distinct nodes, by its explicit formula
    /// `Σ_i e^(μ_i·t) / Π_(m≠i) (μ_i − μ_m)`.
    fn explicit_divided_difference(nodes: &[f64], t: f64) -> f64 {
        nodes
            .iter()
            .enumerate()
            .map(|(i, &mi)| {
                let denominator: f64 = nodes
                    .iter()
                    .enumerate()
                    .filter(|&(m, _)| m != i)
                    .map(|(_, &mm)| mi - mm)
                    .product();
                math::exp(mi * t) / denominator
            })
            .sum()
    }

    #[test]
    fn divided_differences_match_the_explicit_formula_for_distinct_nodes() {
        // The Michor Z-chain nodes (docs/models/cml.md rates), well separated over 100 days.
        let nodes = [0.005, 0.02, -0.008, -0.05, -1.0];
        let t = 100.0;
        let mut table = [[0.0; MAX_CHAIN]; MAX_CHAIN];
        chain::exp_divided_differences(&nodes, t, &mut table);
        for j in 0..nodes.len() {
            for i in 0..=j {
                let want = explicit_divided_difference(&nodes[i..=j], t);
                // Scaling and squaring with 8 squarings: a few hundred ulps.
                assert!(
                    (table[j][i] - want).abs() <= 1e-12 * want.abs(),
                    "[{j}][{i}]: {} vs {want}",
                    table[j][i]
                );
            }
        }
    }

    #[test]
    fn divided_differences_at_equal_nodes_are_the_confluent_limit() {
        // f[μ, …, μ] (k + 1 nodes) = t^k·e^(μ·t)/k!.
        let nodes = [-0.05; 4];
        let t = 30.0;
        let mut table = [[0.0; MAX_CHAIN]; MAX_CHAIN];
        chain::exp_divided_differences(&nodes, t, &mut table);
        let mut factorial = 1.0;
        for (k, row) in table.iter().take(4).enumerate() {
            if k > 0 {
                factorial *= k as f64;
            }
            let want = math::powi(t, k as i32) * math::exp(-0.05 * t) / factorial;
            assert!(
                (row[0] - want).abs() <= 1e-13 * want,
                "k = {k}: {} vs {want}",
                row[0]
            );
        }
    }

    #[test]
    fn closed_form_derivative_is_the_right_hand_side() {
        // Central difference of the closed form over ±δ against rhs_with_inputs, on and off drug,
        // from a state 100 days into therapy (all lineages populated, u > 0).
        let model = MichorImatinibV1::new();
        let p = model.spec().typical_parameters();
        let mut y = vec![0.0; N_STATES];
        model.initial_state(&p, &mut y);
        y[Z0] = 50.0;
        let mut on = vec![0.0; N_STATES];
        on[IMATINIB] = 400.0;
        assert!(model.advance_exact(&p, &mut y, &on, 100.0));
        for inputs in [on.clone(), vec![0.0; N_STATES]] {
            let mut dy = vec![0.0; N_STATES];
            model.rhs_with_inputs(0.0, &y, &p, &inputs, &mut dy);
            let delta = 1e-4;
            let mut forward = y.clone();
            assert!(model.advance_exact(&p, &mut forward, &inputs, delta));
            // Backwards propagation is the same matrix exponential at −δ.
            let mut backward = y.clone();
            assert!(model.advance_exact(&p, &mut backward, &inputs, -delta));
            for s in (0..N_STATES).filter(|&s| s != X0) {
                let numeric = (forward[s] - backward[s]) / (2.0 * delta);
                // Central difference error ~ δ²·|y'''|/6 with rates ≤ 1/day.
                let scale = dy[s].abs() + 1e-6 * y[s].abs() + 1e-12;
                assert!(
                    (numeric - dy[s]).abs() <= 1e-5 * scale,
                    "state {s}: {numeric} vs {}",
                    dy[s]
                );
            }
            // X0 is at its fixed point, where the right-hand side vanishes to rounding.
            assert!(dy[X0].abs() <= 1e-6 * y[X0]);
            assert_eq!(forward[X0].to_bits(), y[X0].to_bits());
        }
    }

    #[test]
    fn closed_form_declines_off_the_fixed_point_and_for_cell_inputs() {
        let model = MichorImatinibV1::new();
        let p = model.spec().typical_parameters();
        let mut y = vec![0.0; N_STATES];
        model.initial_state(&p, &mut y);
        let inputs = vec![0.0; N_STATES];
        let mut moved = y.clone();
        moved[X0] *= 1.01;
        assert!(!model.advance_exact(&p, &mut moved, &inputs, 1.0));
        let mut infused = inputs.clone();
        infused[Y0] = 1.0;
        assert!(!model.advance_exact(&p, &mut y.clone(), &infused, 1.0));
        // The engine probes with an all-zero state: X0 = 0 is a fixed point too.
        assert!(model.advance_exact(&p, &mut [0.0; N_STATES], &inputs, 0.0));
        assert!(model.advance_exact(&p, &mut y, &inputs, 1.0));
    }

    #[test]
    fn twelve_month_ratio_interpolates_log_linearly_and_is_nan_off_grid() {
        let ratios = [1e-1, 1e-3];
        let value = |k: usize| ratios[k];
        let got = log_interpolate(&[360.0, 370.0], value, 365.0);
        assert!((got - 1e-2).abs() <= 1e-15, "{got}");
        assert!(log_interpolate(&[0.0, 300.0], value, 365.0).is_nan());
        assert!(log_interpolate(&[400.0, 500.0], value, 365.0).is_nan());
        assert!((log_interpolate(&[300.0, 365.0], value, 365.0) - 1e-3).abs() <= 1e-18);
    }
}
