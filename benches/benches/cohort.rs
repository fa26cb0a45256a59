#![allow(missing_docs)] // criterion_group! generates an undocumented public function.
//! Criterion benchmarks of the cohort path against the hand-written reference loop.
//! Ids follow `{model}/{solver}/{n_patients}`: model, variant, size, the pattern of every
//! benchmark in this crate.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use twin_benches::{engine_cohort, reference_cohort};

fn cohort(c: &mut Criterion) {
    let mut group = c.benchmark_group("pk-2cmt-mm");
    group.sample_size(10);
    let n = 200;
    group.bench_function(format!("pk-2cmt-mm/engine-1-thread/{n}"), |b| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("one-thread pool");
        b.iter(|| pool.install(|| black_box(engine_cohort(n, 1))));
    });
    group.bench_function(format!("pk-2cmt-mm/engine-all-cores/{n}"), |b| {
        b.iter(|| black_box(engine_cohort(n, 1)))
    });
    group.bench_function(format!("pk-2cmt-mm/reference-dopri5/{n}"), |b| {
        b.iter(|| black_box(reference_cohort(n, 1)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = cohort
}
criterion_main!(benches);
