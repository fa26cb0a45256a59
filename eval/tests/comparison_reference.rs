//! twin-eval's pcVPC statistics, per-patient shifts, therapy choices, decision flips and
//! distribution summaries against numpy.
//!
//! Expected values come from `tests/fixtures/comparison_reference.json`, written once by
//! `tests/fixtures/make_comparison_reference.py` with numpy 2.4.6 (python 3.11.7; versions are
//! stored in the JSON) from the published definitions (Bergstrand et al. 2011 for the pcVPC).
//! Both sides compute the same type-7 quantiles of the same numbers, so the tolerance is 1e-12
//! relative (a few roundings of products and sums).

use serde_json::Value;
use twin_eval::compare::{choose_therapy, decision_flips, patient_shift, summarise};
use twin_eval::vpc::{pc_vpc, share_outside};

/// Same quantities computed in a different order: a few ulps.
const REL_TOL: f64 = 1e-12;

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/comparison_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture is committed"))
        .expect("fixture is valid JSON")
}

fn num(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(num).collect()
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().expect("array").iter().map(nums).collect()
}

thread_local! {
    /// Largest relative difference seen by this test's thread, printed at its end.
    static WORST: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
}

fn assert_rel(got: f64, expected: f64, what: &str) {
    let scale = expected.abs().max(1e-300);
    let relative = (got - expected).abs() / scale;
    WORST.with(|w| w.set(w.get().max(relative)));
    assert!(
        relative <= REL_TOL,
        "{what}: got {got:e}, expected {expected:e}"
    );
}

fn report_worst(test: &str) {
    println!(
        "{test}: largest relative difference from numpy {:e}",
        WORST.with(std::cell::Cell::get)
    );
}

#[test]
fn pc_vpc_equals_numpy() {
    let r = reference();
    let vpc = &r["vpc"];
    let bins = pc_vpc(
        &nums(&vpc["times"]),
        &nums(&vpc["observed"]),
        &nums(&vpc["pred"]),
        &rows(&vpc["sims"]),
        usize::try_from(vpc["n_bins"].as_u64().unwrap()).unwrap(),
    )
    .unwrap();
    let expected = vpc["bins"].as_array().unwrap();
    assert_eq!(bins.len(), expected.len());
    for (k, (got, want)) in bins.iter().zip(expected).enumerate() {
        assert_eq!(
            got.n_observations as u64,
            want["n"].as_u64().unwrap(),
            "bin {k} size"
        );
        for (field, value) in [
            ("time_first", got.time_first),
            ("time_last", got.time_last),
            ("time_median", got.time_median),
            ("median_prediction", got.median_prediction),
        ] {
            assert_rel(value, num(&want[field]), &format!("bin {k} {field}"));
        }
        for (field, values) in [
            ("observed", got.observed),
            ("lower", got.simulated_lower),
            ("median", got.simulated_median),
            ("upper", got.simulated_upper),
        ] {
            for (p, (g, w)) in values.iter().zip(nums(&want[field])).enumerate() {
                assert_rel(*g, w, &format!("bin {k} {field}[{p}]"));
            }
        }
        assert_eq!(
            got.outside().iter().filter(|&&o| o).count() as u64,
            want["n_outside"].as_u64().unwrap(),
            "bin {k} percentiles outside"
        );
    }
    assert_rel(
        share_outside(&bins),
        num(&vpc["share_outside"]),
        "share outside",
    );
    report_worst("pcVPC");
}

#[test]
fn patient_shifts_equal_numpy() {
    let r = reference();
    for (idx, patient) in r["shifts"].as_array().unwrap().iter().enumerate() {
        let shift = patient_shift(
            &rows(&patient["previous"]),
            &rows(&patient["candidate"]),
            0.9,
        )
        .unwrap();
        assert_rel(
            shift.median_shift,
            num(&patient["median_shift"]),
            &format!("patient {idx} median shift"),
        );
        assert_rel(
            shift.width_shift,
            num(&patient["width_shift"]),
            &format!("patient {idx} width shift"),
        );
    }
    report_worst("shifts");
}

#[test]
fn choices_and_flip_rate_equal_numpy() {
    let r = reference();
    let d = &r["decisions"];
    let max_risk = num(&d["max_risk"]);
    let choices = |risks: &Value| -> Vec<usize> {
        rows(risks)
            .iter()
            .map(|row| choose_therapy(row, max_risk).unwrap())
            .collect()
    };
    let previous = choices(&d["risks_previous"]);
    let candidate = choices(&d["risks_candidate"]);
    let as_usize = |v: &Value| -> Vec<usize> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| usize::try_from(c.as_u64().unwrap()).unwrap())
            .collect()
    };
    assert_eq!(previous, as_usize(&d["choices_previous"]));
    assert_eq!(candidate, as_usize(&d["choices_candidate"]));
    let flips = decision_flips(&previous, &candidate).unwrap();
    assert_eq!(flips.n_flips as u64, d["n_flips"].as_u64().unwrap());
    assert_rel(flips.rate, num(&d["flip_rate"]), "flip rate");
    report_worst("flips");
}

#[test]
fn distribution_summary_equals_numpy() {
    let r = reference();
    let s = &r["summary"];
    let got = summarise(&nums(&s["values"])).unwrap();
    for (field, value) in [
        ("mean", got.mean),
        ("min", got.min),
        ("p05", got.p05),
        ("p25", got.p25),
        ("p50", got.p50),
        ("p75", got.p75),
        ("p95", got.p95),
        ("max", got.max),
    ] {
        assert_rel(value, num(&s[field]), field);
    }
    report_worst("summary");
}
