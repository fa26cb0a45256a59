#![allow(missing_docs)] // criterion_group! generates an undocumented public function.
//! Criterion benchmark of one patient's digital twin (benches/README.md §One patient's twin; target
//! under 1 s): individualisation (MAP and 4,000 importance proposals) plus a 1,000-draw forecast of
//! two therapies, single-threaded.
//! Ids follow `{model}/{path}/{size}`: model, variant, size, the pattern of every benchmark in
//! this crate.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use twin_benches::neutropenia_forecast;

fn forecast(c: &mut Criterion) {
    let mut group = c.benchmark_group("neutropenia-forecast");
    group.sample_size(10);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("one-thread pool");
    group.bench_function(
        "neutropenia/individualise-and-forecast-1-thread/1000-draws",
        |b| {
            b.iter(|| pool.install(|| black_box(neutropenia_forecast(1000))));
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = forecast
}
criterion_main!(benches);
