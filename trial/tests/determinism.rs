//! Determinism: the same design and seed give the same bytes on 1 thread and on several, and the
//! results of disjoint replicate ranges (shards) concatenate into the results of the whole range.

mod common;

use twin_trial::replicates::{NoProgress, Trial};
use twin_trial::report::{replicates_csv, summary_csv, summary_json};
use twin_trial::summary::{closed_form, search_sample_size, summarise};

/// Every text output of a run of `design` (replicates, summary, sample-size search) on a pool of
/// `threads` threads.
fn outputs(text: &str, threads: usize) -> (String, String, String) {
    let design = common::parse(text).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let trial = Trial::prepare(&design, &NoProgress).unwrap();
        let results = trial.run(0..design.replicates, &NoProgress).unwrap();
        let summaries = summarise(&trial, &results);
        let closed = closed_form(&trial, &summaries);
        let search = search_sample_size(&trial, &NoProgress).unwrap();
        (
            replicates_csv(&design, &results),
            summary_csv(&summaries, &closed, search.as_ref()),
            summary_json(&trial, &results, &summaries, &closed, search.as_ref()),
        )
    })
}

fn design_text() -> String {
    common::linear_design(
        40,
        60,
        "accrual = \"12h\"\nstudy_end = \"1d\"\ndropout = { probability = 0.2, by = \"1d\" }",
    ) + "\n[sample_size]\ntarget_power = 0.8\nreplicates = 30\nanalyses = [\"procova\"]\n"
}

#[test]
fn one_thread_and_three_threads_give_identical_bytes() {
    let text = design_text();
    let one = outputs(&text, 1);
    let three = outputs(&text, 3);
    assert!(
        one.0 == three.0,
        "replicates.csv differs between 1 and 3 threads"
    );
    assert!(
        one.1 == three.1,
        "summary.csv differs between 1 and 3 threads"
    );
    assert!(
        one.2 == three.2,
        "summary.json differs between 1 and 3 threads"
    );
    // The search ran and found a size (the file is not trivially equal).
    assert!(one.2.contains("\"n_total\": "), "{}", one.2);
}

#[test]
fn shards_of_replicates_concatenate_into_the_whole_run() {
    let design = common::parse(&design_text()).unwrap();
    let trial = Trial::prepare(&design, &NoProgress).unwrap();
    let whole = trial.run(0..60, &NoProgress).unwrap();
    let mut shards = trial.run(35..60, &NoProgress).unwrap();
    shards.extend(trial.run(0..35, &NoProgress).unwrap());
    assert_eq!(
        replicates_csv(&design, &whole),
        replicates_csv(&design, &shards)
    );
    let a = summarise(&trial, &whole);
    let b = summarise(&trial, &shards);
    assert_eq!(a, b);
    // And the table of a shard is the whole table's rows for those replicates.
    let table = replicates_csv(&design, &whole);
    let shard_table = replicates_csv(&design, &trial.run(35..60, &NoProgress).unwrap());
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| {
            l.split(',')
                .next()
                .and_then(|r| r.parse::<u64>().ok())
                .is_some_and(|r| r >= 35)
        })
        .collect();
    assert_eq!(rows, shard_table.lines().skip(1).collect::<Vec<_>>());
}
