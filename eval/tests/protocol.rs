//! The forecast protocol on real data (the first neonates of `pheno_sd.csv`, Grasela & Donn 1985):
//! leakage-safety, paired random streams and independence of the thread count.

use twin_engine::Model;
use twin_engine::nmcsv::parse_dataset;
use twin_engine::posterior::MapOptions;
use twin_engine::records::Dataset;
use twin_engine::solver::SolverOptions;
use twin_eval::protocol::{
    Conditioning, ForecastSettings, PatientResult, forecast_cohort, split_cohort,
};
use twin_models::pheno::{PhenoV1, PhenoV2};

const PHENO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../testdata/third_party/nlmixr2data/pheno_sd.csv"
);

/// The first 8 neonates of pheno_sd.csv (enough subjects with two or more concentrations).
fn cohort() -> Dataset {
    let text = std::fs::read_to_string(PHENO).expect("shared data is present");
    let mut data = parse_dataset("pheno_sd.csv", &text).unwrap();
    data.subjects.truncate(8);
    data
}

fn settings() -> ForecastSettings {
    ForecastSettings {
        output: 0,
        n_draws: 60,
        proposals_per_draw: 4,
        seed: 11,
        map: MapOptions {
            n_design_starts: 2,
            ..MapOptions::default()
        },
        solver: SolverOptions::default(),
    }
}

/// The forecasts, subjects without a forecast dropped.
fn forecasts(results: &[PatientResult]) -> Vec<&twin_eval::protocol::PatientForecast> {
    results
        .iter()
        .filter_map(|r| match r {
            PatientResult::Forecast(f) => Some(f),
            _ => None,
        })
        .collect()
}

#[test]
fn nothing_recorded_after_the_origin_changes_a_forecast() {
    let model = PhenoV1::new();
    let data = cohort();
    let split = split_cohort(&data, Conditioning::FirstObservations(1));
    let before = forecast_cohort(&model, &data, &split, &settings(), None).unwrap();
    assert!(forecasts(&before).len() >= 4, "too few forecast subjects");

    // Change every DV and every covariate value recorded after each subject's origin.
    let mut later_changed = data.clone();
    let wt = data.covariate_index("WT").unwrap();
    for (subject, cut) in later_changed.subjects.iter_mut().zip(&split.subjects) {
        for record in &mut subject.records[cut.n_prefix_records..] {
            record.dv = record.dv.map(|v| 10.0 * v + 1.0);
            record.covariates[wt] = 4.5;
        }
    }
    let split_changed = split_cohort(&later_changed, Conditioning::FirstObservations(1));
    let after = forecast_cohort(&model, &later_changed, &split_changed, &settings(), None).unwrap();
    for (a, b) in forecasts(&before).iter().zip(forecasts(&after)) {
        assert_eq!(a.held_out.len(), b.held_out.len());
        for (x, y) in a.held_out.iter().zip(&b.held_out) {
            // The observed value is what changed; the forecast is bit for bit the same.
            assert_eq!(x.draws, y.draws, "patient {} line {}", a.id, x.line);
            assert_eq!(
                x.population_prediction.to_bits(),
                y.population_prediction.to_bits()
            );
            assert!((y.observed - (10.0 * x.observed + 1.0)).abs() < 1e-9);
        }
    }

    // Control: changing the conditioning observation does change the forecast, so the check
    // above can fail.
    let mut early_changed = data.clone();
    for (subject, cut) in early_changed.subjects.iter_mut().zip(&split.subjects) {
        if let Some(record) = subject.records[..cut.n_prefix_records]
            .iter_mut()
            .rev()
            .find(|r| r.dv.is_some())
        {
            record.dv = record.dv.map(|v| 1.5 * v);
        }
    }
    let split_early = split_cohort(&early_changed, Conditioning::FirstObservations(1));
    let changed = forecast_cohort(&model, &early_changed, &split_early, &settings(), None).unwrap();
    let first_before = forecasts(&before)[0];
    let first_changed = forecasts(&changed)[0];
    assert_ne!(
        first_before.held_out[0].draws,
        first_changed.held_out[0].draws
    );
}

/// PhenoV1 relabelled as another version: same dynamics, prior and error model, another
/// identity (id, version and content hash).
struct Relabelled {
    inner: PhenoV1,
    spec: twin_engine::ModelSpec,
}

impl Relabelled {
    fn new() -> Self {
        let inner = PhenoV1::new();
        let mut spec = inner.spec().clone();
        spec.id = "pheno-relabelled";
        spec.version = "99";
        Self { inner, spec }
    }
}

impl Model for Relabelled {
    fn spec(&self) -> &twin_engine::ModelSpec {
        &self.spec
    }
    fn rhs(&self, t: f64, y: &[f64], p: &[f64], dy: &mut [f64]) {
        self.inner.rhs(t, y, p, dy);
    }
    fn outputs(&self, t: f64, y: &[f64], p: &[f64], out: &mut [f64]) {
        self.inner.outputs(t, y, p, out);
    }
    fn advance_exact(&self, p: &[f64], y: &mut [f64], inputs: &[f64], dt: f64) -> bool {
        self.inner.advance_exact(p, y, inputs, dt)
    }
    fn is_linear(&self) -> bool {
        true
    }
}

#[test]
fn random_streams_belong_to_the_patient_not_the_version() {
    let data = cohort();
    let split = split_cohort(&data, Conditioning::FirstObservations(1));
    let v1 = forecast_cohort(&PhenoV1::new(), &data, &split, &settings(), None).unwrap();
    // Another version with the same dynamics: every posterior proposal and residual error is the
    // same random number, so every draw is the same bit for bit. Were the streams keyed by the
    // version, the draws would differ.
    let relabelled = Relabelled::new();
    assert_ne!(
        relabelled.spec().content_hash(),
        PhenoV1::new().spec().content_hash()
    );
    let copy = forecast_cohort(&relabelled, &data, &split, &settings(), None).unwrap();
    assert_eq!(v1, copy);
    // A version with other parameters forecasts differently; another seed changes the draws.
    let v2 = forecast_cohort(&PhenoV2::new(), &data, &split, &settings(), None).unwrap();
    assert_ne!(
        forecasts(&v1)[0].held_out[0].draws,
        forecasts(&v2)[0].held_out[0].draws
    );
    let mut other_seed = settings();
    other_seed.seed = 12;
    let v1_other = forecast_cohort(&PhenoV1::new(), &data, &split, &other_seed, None).unwrap();
    assert_ne!(
        forecasts(&v1)[0].held_out[0].draws,
        forecasts(&v1_other)[0].held_out[0].draws
    );
}

#[cfg(feature = "parallel")]
#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    let data = cohort();
    let split = split_cohort(&data, Conditioning::FirstObservations(1));
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| forecast_cohort(&PhenoV1::new(), &data, &split, &settings(), None))
            .unwrap()
    };
    assert_eq!(run(1), run(2));
}
