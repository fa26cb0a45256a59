//! One virtual patient under one regimen, through the engine's public building blocks.
//!
//! The trial does not call [`twin_engine::montecarlo::run_cohort`]: that function simulates a
//! contiguous range of patients under every arm and folds them into streaming summaries, while a
//! trial needs per-patient values, screens candidates before simulating them (only enrolled
//! patients are integrated), gives each patient its own covariates (possibly from a baseline
//! file), and simulates the control regimen for treated patients only (the null scenario). It
//! reuses run_cohort's per-patient recipe and streams instead (see [`crate::cohort`]): the noise-free
//! trajectory on the visit grid (doses before outputs at equal times; dosing rules through
//! [`run_protocol`]), then the engine's own per-patient steps: model outcomes from that
//! trajectory ([`twin_engine::montecarlo::patient_outcomes`], `Dropout` stream shared by all
//! regimens) and residual error on every visit and output
//! ([`twin_engine::montecarlo::add_residual_error`], `Residual` stream shared by all regimens). A
//! test checks that the result equals run_cohort's trajectories bit for bit.

use twin_engine::EngineError;
use twin_engine::model::Model;
use twin_engine::montecarlo::{Arm, add_residual_error, patient_outcomes};
use twin_engine::population::Population;
use twin_engine::protocol::{Protocol, run_protocol};
use twin_engine::records::Record;
use twin_engine::simulate::{ParameterTrack, Simulator};
use twin_engine::solver::SolverOptions;

/// Marker in `Record::line` of the output-grid records.
const OUTPUT_MARK: usize = usize::MAX;

/// A therapy prepared for repeated simulation: its protocol when it has rules.
#[derive(Debug, Clone)]
pub struct PreparedArm {
    arm: Arm,
    protocol: Option<Protocol>,
}

impl PreparedArm {
    /// Prepares `arm`.
    #[must_use]
    pub fn new(arm: &Arm) -> Self {
        Self {
            protocol: (!arm.rules.is_empty()).then(|| Protocol {
                regimen: arm.regimen.clone(),
                rules: arm.rules.clone(),
            }),
            arm: arm.clone(),
        }
    }
}

/// Simulation buffers of one thread for one model.
pub struct PatientSimulator<'m> {
    model: &'m dyn Model,
    simulator: Simulator<'m, dyn Model + 'm>,
    records: Vec<Record>,
    outputs: Vec<f64>,
}

impl<'m> PatientSimulator<'m> {
    /// Buffers for `model`.
    ///
    /// # Errors
    /// [`EngineError::Invalid`] for invalid solver options or a model the solver cannot take.
    pub fn new(model: &'m dyn Model, solver: SolverOptions) -> Result<Self, EngineError> {
        Ok(Self {
            model,
            simulator: Simulator::new(model, solver)?,
            records: Vec::new(),
            outputs: Vec::new(),
        })
    }

    /// The noise-free outputs at `grid` (row-major `grid × outputs`) into `values`.
    ///
    /// # Errors
    /// The solver's error (non-finite state, step-size underflow, too many steps).
    pub fn trajectory(
        &mut self,
        arm: &PreparedArm,
        params: &[f64],
        covariates: &[f64],
        grid: &[f64],
        values: &mut [f64],
    ) -> Result<(), EngineError> {
        if let Some(protocol) = &arm.protocol {
            run_protocol(
                &mut self.simulator,
                protocol,
                params,
                covariates,
                grid,
                values,
            )?;
            return Ok(());
        }
        // Doses (scaled per patient by BSA or weight where the regimen says so), then the output
        // records, marked in `line`; a stable sort puts doses before outputs at equal times, as in
        // run_cohort.
        self.records.clear();
        self.records.extend(arm.arm.regimen.doses_for(covariates));
        self.records.extend(grid.iter().map(|&t| Record {
            line: OUTPUT_MARK,
            ..Record::output_time(t)
        }));
        self.records.sort_by(|a, b| {
            a.time
                .total_cmp(&b.time)
                .then((a.line == OUTPUT_MARK).cmp(&(b.line == OUTPUT_MARK)))
        });
        let n_out = self.model.spec().outputs.len();
        self.outputs.resize(self.records.len() * n_out, 0.0);
        self.simulator.run(
            &self.records,
            ParameterTrack::Constant(params),
            &mut self.outputs,
        )?;
        let rows = self
            .records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.line == OUTPUT_MARK)
            .map(|(position, _)| position);
        for (row, position) in rows.enumerate() {
            values[row * n_out..(row + 1) * n_out]
                .copy_from_slice(&self.outputs[position * n_out..(position + 1) * n_out]);
        }
        Ok(())
    }
}

/// Everything simulated for one patient under one regimen.
#[derive(Debug, Clone, PartialEq)]
pub struct RegimenResult {
    /// Noise-free outputs at the visits, row-major `visits × outputs`.
    pub predicted: Vec<f64>,
    /// Observed outputs (with residual error), same layout.
    pub observed: Vec<f64>,
    /// Model outcomes (NaN: no value or no event within the visits).
    pub outcomes: Vec<f64>,
}

/// Simulates one patient (candidate `index` of `replicate`, parameters `params`, covariates
/// `covariates`) under `arm` at the visits `grid`, with outcomes and residual error from the
/// patient's `Dropout` and `Residual` streams (the same under every regimen, so regimens are
/// paired).
///
/// # Errors
/// The solver's error.
#[allow(clippy::too_many_arguments)]
pub fn simulate_regimen(
    sim: &mut PatientSimulator<'_>,
    population: &Population,
    arm: &PreparedArm,
    params: &[f64],
    covariates: &[f64],
    grid: &[f64],
    seed: u64,
    replicate: u64,
    index: u64,
) -> Result<RegimenResult, EngineError> {
    let spec = sim.model.spec();
    let n_out = spec.outputs.len();
    let mut predicted = vec![0.0; grid.len() * n_out];
    sim.trajectory(arm, params, covariates, grid, &mut predicted)?;
    let mut outcomes = vec![f64::NAN; spec.outcomes.len()];
    let streams = (seed, replicate, index);
    patient_outcomes(
        sim.model,
        streams,
        grid,
        &predicted,
        params,
        covariates,
        &mut outcomes,
    );
    let mut observed = predicted.clone();
    add_residual_error(population, streams, n_out, &mut observed);
    Ok(RegimenResult {
        predicted,
        observed,
        outcomes,
    })
}
