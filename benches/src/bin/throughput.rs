//! Throughput report: patients per second of the engine (one thread, all cores) and of the
//! hand-written reference loop, measured in one run so the ratios are meaningful on a shared,
//! noisy machine. Prints a Markdown table for `benches/README.md`.
//!
//! Usage: `cargo run --release -p twin-benches --bin throughput -- [N_PATIENTS]` (default 10 000).

use std::time::Instant;

use twin_benches::{engine_cohort, neutropenia_cohort, reference_cohort};

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

    // Issue 3 workload: neutropenia, two arms, 126 days daily output.
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
}
