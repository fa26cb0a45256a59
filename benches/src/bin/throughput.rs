//! Throughput report: patients per second of the engine (one thread, all cores) and of the
//! hand-written reference loop, measured in one run so the ratios are meaningful on a shared,
//! noisy machine. Prints a Markdown table for `benches/README.md`.
//!
//! Usage: `cargo run --release -p twin-benches --bin throughput -- [N_PATIENTS]` (default 10 000).

use std::time::Instant;

use twin_benches::{
    FORECAST_PATIENT, engine_cohort, forecast_request, neutropenia_cohort, neutropenia_forecast,
    reference_cohort,
};

/// Interleaved measurement rounds; the best time of each path is reported.
const ROUNDS: usize = 3;

fn timed(f: impl FnOnce() -> f64) -> (f64, f64) {
    let start = Instant::now();
    let checksum = f();
    (start.elapsed().as_secs_f64(), checksum)
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("one-thread pool");
    // Warm-up so that page faults and lazy initialisation are not measured.
    let _ = reference_cohort(200, 7);
    let _ = one.install(|| engine_cohort(200, 7));
    // Interleaved rounds, best time per path: the machine is shared, and a burst of load from
    // elsewhere should not land on one path only.
    let (mut t_ref, mut t_one, mut t_all) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    let (mut c_ref, mut c_one, mut c_all) = (0.0, 0.0, 0.0);
    for _ in 0..ROUNDS {
        let (t, c) = timed(|| reference_cohort(n, 1));
        (t_ref, c_ref) = (t_ref.min(t), c);
        let (t, c) = timed(|| one.install(|| engine_cohort(n, 1)));
        (t_one, c_one) = (t_one.min(t), c);
        let (t, c) = timed(|| engine_cohort(n, 1));
        (t_all, c_all) = (t_all.min(t), c);
    }
    let rate = |t: f64| n as f64 / t;
    println!("Best of {ROUNDS} interleaved rounds.");
    println!(
        "Workload: pk-2cmt-mm (ODE path), {} daily oral doses, hourly output (673 times), {n} patients.",
        twin_benches::N_DOSES
    );
    println!();
    println!("| path | threads | patients/s | ratio |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| hand-written Dormand–Prince loop (reference) | 1 | {:.0} | 1.00 |",
        rate(t_ref)
    );
    println!(
        "| engine `run_cohort` | 1 | {:.0} | {:.2} × reference |",
        rate(t_one),
        t_ref / t_one
    );
    println!(
        "| engine `run_cohort` | {cores} | {:.0} | {:.2} × engine on 1 thread |",
        rate(t_all),
        t_one / t_all
    );
    println!();
    println!(
        "Checksums (mean CP at 672 h, mg/L): reference {c_ref:.6}, engine {c_one:.6} / {c_all:.6}."
    );

    // Workload of benches/README.md §Neutropenia cohort: neutropenia, two arms, 126 days daily
    // output.
    let (mut t_n1, mut t_nall, mut grade4) = (f64::INFINITY, f64::INFINITY, 0.0);
    for _ in 0..ROUNDS {
        let (t, g) = timed(|| one.install(|| neutropenia_cohort(n, 1)));
        (t_n1, grade4) = (t_n1.min(t), g);
        let (t, _) = timed(|| neutropenia_cohort(n, 1));
        t_nall = t_nall.min(t);
    }
    println!();
    println!(
        "Workload: neutropenia (Kloft 2006 + Bruno docetaxel PK, ODE path), 75 vs 100 mg/m2 q3w x6, daily output over 126 days, two arms, {n} patients."
    );
    println!();
    println!("| path | threads | patients/s (both arms) |");
    println!("| --- | --- | --- |");
    println!("| engine `run_cohort` | 1 | {:.0} |", rate(t_n1));
    println!("| engine `run_cohort` | {cores} | {:.0} |", rate(t_nall));
    println!();
    println!("Checksum: P(grade 4) under 100 mg/m2 = {grade4:.4}.");

    forecast_report(&one);
}

/// Workload of benches/README.md §One patient's twin (target under 1 s): one neutropenia patient,
/// individualisation plus a 1,000-draw forecast of two therapies on one thread, with the time of
/// each stage (MAP; MAP and importance sampling; the whole forecast), best of [`ROUNDS`] rounds.
fn forecast_report(one: &rayon::ThreadPool) {
    use twin_engine::posterior::{Individual, SamplingOptions, map_estimate, sample_posterior};
    let model = twin_models::neutropenia::KloftDocetaxelV1::new();
    let dataset = twin_engine::nmcsv::parse_dataset("benchmark patient", FORECAST_PATIENT)
        .expect("patient parses");
    let population = twin_engine::predict::population_of(&model).expect("population");
    let request = forecast_request(&model, 1000);
    let mut individual =
        Individual::new(&model, &population, &dataset, 0, &request.individual).expect("patient");
    let sampling = SamplingOptions {
        n_draws: request.draws,
        n_proposals: request.draws * request.proposals_per_draw,
        seed: request.seed,
        ..SamplingOptions::default()
    };
    let (mut t_map, mut t_sample, mut t_total, mut grade4) =
        (f64::INFINITY, f64::INFINITY, f64::INFINITY, 0.0);
    for _ in 0..ROUNDS {
        let (t, _) = timed(|| {
            map_estimate(&mut individual, &request.map).expect("MAP");
            0.0
        });
        t_map = t_map.min(t);
        let map = map_estimate(&mut individual, &request.map).expect("MAP");
        let (t, _) = timed(|| {
            sample_posterior(&mut individual, &map, &sampling).expect("draws");
            0.0
        });
        t_sample = t_sample.min(t);
        let (t, g) = timed(|| one.install(|| neutropenia_forecast(1000)));
        (t_total, grade4) = (t_total.min(t), g);
    }
    println!();
    println!(
        "Workload: one neutropenia patient (4 ANC observations after one cycle), MAP, {} importance proposals, 1,000 draws x 2 therapies (docetaxel 75 / 100 mg/m2 q3w, day 21 to day 63, about 200 output times), one thread.",
        sampling.n_proposals
    );
    println!();
    println!("| stage | seconds |");
    println!("| --- | --- |");
    println!("| MAP (several starts, Laplace covariance) | {t_map:.3} |");
    println!("| importance sampling | {t_sample:.3} |");
    println!(
        "| paired forecast of both therapies (whole minus the two above) | {:.3} |",
        t_total - t_map - t_sample
    );
    println!("| **individualisation + forecast** (target < 1 s) | **{t_total:.3}** |");
    println!();
    println!("Checksum: P(grade 4) under 100 mg/m2 for this patient = {grade4:.4}.");
}
