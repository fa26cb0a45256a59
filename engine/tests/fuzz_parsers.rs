//! Fuzz targets of the engine's parsers: NONMEM-style CSV (`nmcsv::parse_dataset`), regimen
//! text (`Regimen::parse`) and protocol JSON (`Protocol::parse`). Every input must be accepted
//! with sane contents or refused with an error that names the file, line or field; no input may
//! panic, and none may ask for unbounded work (a dose count or ADDL in the billions).
//!
//! Why proptest and not cargo-fuzz: cargo-fuzz needs a nightly toolchain and twinsim builds on
//! stable; proptest is already a workspace dev-dependency; a fixed seed per target makes every
//! run draw the same inputs, a bounded number of them, inside `cargo test`; and shrinking turns a
//! crash into a minimal input, kept below as a regression test. Longer campaigns:
//! `TWIN_FUZZ_CASES=100000 cargo test -p twin-engine --test fuzz_parsers --release`
//! (docs/fuzzing.md).

#[path = "fuzz_support/mod.rs"]
mod fuzz_support;

use fuzz_support::{assert_says_something, bytes_text, fuzz, json_mutated, mutated, soup};
use twin_engine::EngineError;
use twin_engine::model::{
    CovariateSpec, DoseModifiers, Interpolation, ModelSpec, OutputSpec, StateSpec, TimeUnit,
};
use twin_engine::nmcsv::{parse_dataset, write_dataset};
use twin_engine::population::VariabilityModel;
use twin_engine::protocol::{Action, Protocol};
use twin_engine::records::{Dataset, DoseRate, MAX_DOSES_PER_RECORD, Record};
use twin_engine::regimen::Regimen;

/// Cases of the arbitrary-bytes and soup generators in CI (`TWIN_FUZZ_CASES` overrides every
/// count).
const CASES: u32 = 20_000;

/// Cases of the structure-aware mutations of valid seeds in CI, where the findings were.
const MUTATED_CASES: u32 = 120_000;

// ---------------------------------------------------------------------------------------------
// NONMEM-style CSV.

/// Path of a file in the repository's test data (see `testdata/README.md`).
fn testdata(path: &str) -> String {
    format!(
        "{}/../testdata/third_party/{path}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Path of a file in the repository.
fn repository(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}

/// A dataset exercising the reader's dialects: BOM, `#` comments, a comment column, quoted
/// names and IDs, missing values, covariates carried and back-filled, resets (EVID 3 and 4),
/// SS doses (modelled rate), a steady-state constant infusion, a modelled duration, EVID 2.
const DIALECTS: &str = "\u{feff}# hand-written: every dialect the reader accepts\n\
C,ID,TIME,AMT,RATE,II,ADDL,SS,CMT,EVID,MDV,DV,WT,\"sex\"\n\
.,\"a,1\",0,100,0,24,3,0,1,1,1,.,70,1\n\
x,\"a,1\",1,0,0,0,0,0,2,0,0,5,.,.\n\
,\"a,1\",2,0,0,0,0,0,2,0,0,4.5,71,\n\
.,\"a,1\",3,0,0,0,0,0,.,3,1,.,.,.\n\
.,\"a,1\",1,50,-1,12,0,1,1,4,1,.,.,.\n\
\n\
.,b,0,0,100,0,0,1,1,1,1,.,60,0\n\
.,b,5,20,-2,0,0,0,2,1,1,.,.,0\n\
.,b,6,0,0,0,0,0,2,2,1,.,.,0\n\
.,b,7,30,0,12,2,2,1,1,1,.,.,0\n";

/// rxode2's classic codes: a bolus (101) and an infusion started and stopped (10101).
const RXODE2: &str = "ID,TIME,AMT,RATE,EVID,CMT,DV\n\
1,0,100,.,101,1,.\n\
1,1,0,.,0,2,3.2\n\
1,2,50,50,10101,1,.\n\
1,4,-50,-50,10101,1,.\n\
1,5,0,.,0,2,1.1\n";

/// The first lines of `text` (at most `max_lines`, header included) that the reader accepts.
fn valid_head(text: &str, max_lines: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    (2..=max_lines.min(lines.len()))
        .rev()
        .map(|n| format!("{}\n", lines[..n].join("\n")))
        .find(|head| parse_dataset("seed.csv", head).is_ok())
}

/// Valid seed datasets: the heads of the test data files (each a dialect found in real files),
/// the example cohort, and the hand-written ones above.
fn csv_seeds() -> Vec<String> {
    let mut seeds = vec![DIALECTS.to_owned(), RXODE2.to_owned()];
    for path in [
        testdata("mrgsolve-nmtests/scenarios-1001.csv"),
        testdata("nlmixr2data/nmtest-nonmem743.csv"),
        testdata("nlmixr2data/theo_sd.csv"),
        testdata("nlmixr2data/wbcSim.csv"),
        testdata("nlmixr2data/Bolus_1CPT.csv"),
        testdata("nlmixr2data/Bolus_2CPT.csv"),
        testdata("nlmixr2data/Oral_1CPT.csv"),
        testdata("nlmixr2data/pheno_sd.csv"),
        repository("examples/eval/neutropenia/cohort.csv"),
    ] {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        seeds.push(valid_head(&text, 40).unwrap_or_else(|| panic!("{path}: no valid head")));
    }
    seeds
}

/// Tokens that mean something to the CSV reader.
const CSV_TOKENS: &[&str] = &[
    "ID",
    "TIME",
    "DV",
    "MDV",
    "EVID",
    "AMT",
    "CMT",
    "RATE",
    "II",
    "ADDL",
    "SS",
    "C",
    "WT",
    "4",
    "-2",
    "100000",
    "99999",
    "1e300",
    "\"\"",
    "\"a\"\"b\"",
    "\"1,2\"",
];

/// Pieces of CSV text for the soup generator.
const CSV_PIECES: &[&str] = &[
    "ID,TIME,AMT,DV\n",
    "ID,TIME,AMT,EVID,CMT,RATE,II,ADDL,SS,MDV,DV,WT\n",
    "C,ID,TIME,EVID,AMT\n",
    "\n",
    ",",
    ",",
    ",",
    "\"",
    ".",
    "#",
    "1",
    "0",
    "2",
    "3",
    "4",
    "24",
    "-1",
    "-2",
    "99",
    "101",
    "10101",
    "1e308",
    "NaN",
    "inf",
    "4294967295",
    " ",
    "x",
    "ID",
    "TIME",
];

/// The last line number of `text` as the reader counts lines.
fn last_line(text: &str) -> usize {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .lines()
        .count()
}

/// A record the reader accepted is usable: finite numbers, bounded ADDL, a finite last dose.
fn assert_sane_record(record: &Record) {
    assert!(record.time.is_finite(), "{record:?}");
    assert!(record.amt.is_finite() && record.amt >= 0.0, "{record:?}");
    assert!(record.ii.is_finite() && record.ii >= 0.0, "{record:?}");
    assert!(record.rate.value().is_finite(), "{record:?}");
    assert!(record.addl < MAX_DOSES_PER_RECORD, "{record:?}");
    assert!(
        (record.time + record.ii * f64::from(record.addl)).is_finite(),
        "{record:?}"
    );
    assert!(record.dv.is_none_or(f64::is_finite), "{record:?}");
}

/// NaN-aware text of a dataset, for comparisons (the writer's text is canonical).
fn canonical(dataset: &Dataset) -> String {
    write_dataset(dataset)
}

fn check_dataset(text: &str) {
    match parse_dataset("fuzz.csv", text) {
        Ok(dataset) => {
            for record in dataset.subjects.iter().flat_map(|s| &s.records) {
                assert_sane_record(record);
                assert!(record.line >= 1 && record.line <= last_line(text));
            }
            // What the reader accepted, the writer writes and the reader reads back the same.
            let written = canonical(&dataset);
            let again = parse_dataset("written.csv", &written)
                .unwrap_or_else(|e| panic!("the written dataset does not read back: {e}"));
            assert_eq!(canonical(&again), written);
        }
        Err(EngineError::Input { location, message }) => {
            assert_says_something(&message);
            assert_eq!(location.source, "fuzz.csv");
            assert!(location.line <= last_line(text), "line {}", location.line);
            if location.line == 0 {
                assert!(message.starts_with("no header"), "{message}");
            }
        }
        Err(other) => panic!("expected an input error naming the line, got {other:?}"),
    }
}

#[test]
fn nmcsv_seeds_are_valid() {
    let seeds = csv_seeds();
    assert_eq!(seeds.len(), 11);
    for seed in &seeds {
        let dataset = parse_dataset("seed.csv", seed).unwrap();
        assert!(!dataset.subjects.is_empty());
    }
}

#[test]
fn fuzz_nmcsv_arbitrary_bytes() {
    fuzz("nmcsv/bytes", CASES, &bytes_text(600), |text| {
        check_dataset(text);
    });
}

#[test]
fn fuzz_nmcsv_csv_soup() {
    fuzz("nmcsv/soup", CASES, &soup(CSV_PIECES, 120), |text| {
        check_dataset(text);
    });
}

#[test]
fn fuzz_nmcsv_mutated_seeds() {
    fuzz(
        "nmcsv/mutated",
        MUTATED_CASES,
        &mutated(csv_seeds(), CSV_TOKENS, 6),
        |text| check_dataset(text),
    );
}

// ---------------------------------------------------------------------------------------------
// Regimen text and protocol JSON, against a model with every kind of dose target.

fn spec() -> ModelSpec {
    let state = |name, unit| StateSpec { name, unit };
    let covariate = |name, unit, reference| CovariateSpec {
        name,
        unit,
        reference,
        lower: 0.0,
        upper: 500.0,
        interpolation: Interpolation::Locf,
    };
    ModelSpec {
        id: "fuzz",
        version: "1",
        description: "dose targets of every kind, for fuzzing",
        time_unit: TimeUnit::Hour,
        states: vec![
            state("DEPOT", "mg"),
            state("CENTRAL", "mg"),
            state("AUCS", "AUC"),
            state("GUT", "g"),
            state("INS", "U"),
        ],
        parameters: vec![],
        covariates: vec![covariate("BSA", "m2", 1.8), covariate("WT", "kg", 70.0)],
        outputs: vec![
            OutputSpec {
                name: "CP",
                unit: "mg/L",
            },
            OutputSpec {
                name: "ANC",
                unit: "1e9/L",
            },
        ],
        dosing: vec![DoseModifiers::default(); 5],
        default_dose_compartment: 0,
        variability: VariabilityModel::default(),
        outcomes: vec![],
        therapies: vec![],
        evidence: "test",
        documentation: "test",
    }
}

/// Regimens written in the repository: the catalogue's therapies, tests and examples.
const REGIMEN_SEEDS: &[&str] = &[
    "100 mg q24h x7",
    "100 mg oral q24h x7",
    "100 mg iv over 1h q24h x7",
    "100 mg/m2 iv over 1h q3w x6",
    "75 mg/m2 iv over 1h",
    "20 mg/kg iv; 1.5 mg/kg iv q12h x14 at 12h",
    "204.94 mg/m2 iv over 3h q3w x6",
    "4 cmt=3 over 21d q3w x6; 2000 mg/m2 cmt=2 over 21d q3w x6",
    "400 mg oral over 24h q24h x1825",
    "50 g cmt=4 over 10min at 60min; 50 g cmt=4 over 1min at 60min",
    "0.18 g iv over 1h q3w x6",
    "100mg oral q12h x4 at 24h; 50 ug iv at 12h",
    "100 mg iv at 0h; 75 mg iv at 12h; 75 mg iv at 24h",
    "2 cmt=5",
    "1 mg cmt=2 over 78w",
    "45 g cmt=4 over 9min at 7h; 70 g cmt=4 over 14min at 12h",
    "200 mg bid x6",
    "10 mcg tid x3; 5 µg qd x2",
    "none",
    "control",
];

/// Tokens that mean something in regimen text.
const REGIMEN_TOKENS: &[&str] = &[
    "mg",
    "g",
    "ug",
    "mcg",
    "µg",
    "ng",
    "U",
    "AUC",
    "mg/m2",
    "mg/kg",
    "mg/m²",
    "mg/lb",
    "oral",
    "po",
    "iv",
    "cmt=0",
    "cmt=1",
    "cmt=5",
    "cmt=6",
    "cmt=18446744073709551616",
    "over",
    "at",
    "q24h",
    "q0h",
    "q1min",
    "q1e-300h",
    "q1e308w",
    "qd",
    "bid",
    "tid",
    "x7",
    "x0",
    "x1",
    "x100000",
    "x100001",
    "x4294967295",
    "x999999999999",
    "x",
    "q",
    "1e308w",
    "1e308",
    "0min",
    "1e-320min",
    "-1h",
    "none",
    "control",
    ";",
];

/// A regimen the parser accepted is usable: positive finite amounts and rates, finite times, a
/// bounded number of doses.
fn assert_sane_dose(dose: &Record) {
    assert!(dose.time.is_finite() && dose.time >= 0.0, "{dose:?}");
    assert!(dose.amt.is_finite() && dose.amt > 0.0, "{dose:?}");
    assert!(dose.ii.is_finite() && dose.ii >= 0.0, "{dose:?}");
    match dose.rate {
        DoseRate::Bolus => {}
        DoseRate::Rate(rate) => assert!(rate.is_finite() && rate > 0.0, "{dose:?}"),
        other => panic!("a regimen gave rate {other:?}"),
    }
    assert!(dose.addl < MAX_DOSES_PER_RECORD, "{dose:?}");
    assert!(
        (dose.time + dose.ii * f64::from(dose.addl)).is_finite(),
        "{dose:?}"
    );
}

fn assert_sane_regimen(regimen: &Regimen) {
    assert_eq!(regimen.doses.len(), regimen.scale_by.len());
    for dose in &regimen.doses {
        assert_sane_dose(dose);
    }
    let total: u64 = regimen.doses.iter().map(|d| u64::from(d.addl) + 1).sum();
    assert!(total <= u64::from(MAX_DOSES_PER_RECORD), "{total} doses");
    assert!(regimen.natural_end().is_finite());
}

fn check_regimen(text: &str, spec: &ModelSpec) {
    match Regimen::parse(text, spec) {
        Ok(regimen) => assert_sane_regimen(&regimen),
        Err(EngineError::Invalid { what, message }) => {
            assert_says_something(&message);
            assert!(what.starts_with("regimen '"), "{what}");
        }
        Err(other) => panic!("expected an invalid-regimen error, got {other:?}"),
    }
}

#[test]
fn regimen_seeds_are_valid() {
    let spec = spec();
    for seed in REGIMEN_SEEDS {
        Regimen::parse(seed, &spec).unwrap();
    }
}

#[test]
fn fuzz_regimen_arbitrary_bytes() {
    let spec = spec();
    fuzz("regimen/bytes", CASES, &bytes_text(120), |text| {
        check_regimen(text, &spec);
    });
}

#[test]
fn fuzz_regimen_word_soup() {
    let spec = spec();
    fuzz("regimen/soup", CASES, &soup(REGIMEN_PIECES, 24), |text| {
        check_regimen(text, &spec);
    });
}

/// Pieces of regimen text for the soup generator.
const REGIMEN_PIECES: &[&str] = &[
    "100",
    "1e308",
    "0",
    "-5",
    "0.5",
    "NaN",
    " ",
    " ",
    " ",
    "mg",
    "g",
    "mg/m2",
    "mg/kg",
    "U",
    "iv",
    "oral",
    "cmt=2",
    "over",
    "1h",
    "at",
    "24h",
    "q",
    "24",
    "h",
    "min",
    "w",
    "d",
    "x",
    "7",
    "4294967295",
    "100001",
    "qd",
    "bid",
    ";",
    "µg",
];

/// Numbers written out in full that [`REGIMEN_TOKENS`] cannot hold as literals: times and
/// amounts take no exponent.
fn long_numbers() -> Vec<String> {
    let huge = format!("1{}", "0".repeat(307));
    let tiny = format!("0.{}1", "0".repeat(300));
    vec![
        huge.clone(),
        format!("{huge}w"),
        format!("q{huge}h"),
        tiny.clone(),
        format!("{tiny}min"),
    ]
}

#[test]
fn fuzz_regimen_mutated_seeds() {
    let spec = spec();
    let seeds = REGIMEN_SEEDS.iter().map(|s| (*s).to_owned()).collect();
    let long = long_numbers();
    let mut tokens = REGIMEN_TOKENS.to_vec();
    tokens.extend(long.iter().map(String::as_str));
    fuzz(
        "regimen/mutated",
        MUTATED_CASES,
        &mutated(seeds, &tokens, 4),
        |text| check_regimen(text, &spec),
    );
}

/// Protocols: the example in `examples/protocols/` and rules of every kind.
fn protocol_seeds() -> Vec<String> {
    let path = repository("examples/protocols/docetaxel-100-dose-delay.json");
    let example = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    vec![
        example,
        r#"{
  "regimen": "100 mg iv q12h x6",
  "rules": [
    { "name": "skip when CP is high", "if": { "output": "CP", "above": 5 },
      "then": { "skip": true } },
    { "if": { "output": "cp", "measure": "peak_since_last_dose", "above": 8 },
      "then": { "reduce_by": 0.5 }, "max_times": 2 },
    { "name": "rescue", "if": { "output": "ANC", "measure": "current", "below": 0.1 },
      "then": { "add": "2 cmt=5" }, "max_times": 1 },
    { "if": { "output": "ANC", "below": 1.5 }, "then": { "delay": "30min" } }
  ]
}"#
        .to_owned(),
        r#"{"regimen": "75 mg/m2 iv over 1h q3w x6; 1 mg/kg at 2d", "rules": []}"#.to_owned(),
        r#"{"regimen": "none"}"#.to_owned(),
    ]
}

/// A protocol the parser accepted is usable, and its doses expand within the limit.
fn assert_sane_protocol(protocol: &Protocol, spec: &ModelSpec) {
    assert_sane_regimen(&protocol.regimen);
    for rule in &protocol.rules {
        assert!(rule.output < spec.outputs.len());
        assert!(rule.threshold.is_finite());
        assert!(!rule.name.is_empty());
        match &rule.action {
            Action::Delay(delay) => assert!(delay.is_finite() && *delay > 0.0),
            Action::Reduce(fraction) => assert!(*fraction > 0.0 && *fraction < 1.0),
            Action::Skip => {}
            Action::Add(dose) => {
                assert_sane_dose(dose);
                assert_eq!(dose.addl, 0);
            }
        }
    }
    let expected: u64 = protocol
        .regimen
        .doses
        .iter()
        .map(|d| u64::from(d.addl) + 1)
        .sum();
    // Amounts per m² or kg are scaled per patient (a huge amount may overflow then, which the
    // simulation reports for that patient); the times are the regimen's.
    let plan = protocol.planned_doses(&[1.8, 70.0]);
    assert_eq!(plan.len() as u64, expected);
    assert!(plan.iter().all(|d| d.time.is_finite()));
}

fn check_protocol(text: &str, spec: &ModelSpec) {
    match Protocol::parse("fuzz.json", text, spec) {
        Ok(protocol) => assert_sane_protocol(&protocol, spec),
        Err(EngineError::Input { location, message }) => {
            assert_says_something(&message);
            assert_eq!(location.source, "fuzz.json");
            let lines = text.matches('\n').count() + 1;
            assert!(location.line >= 1 && location.line <= lines, "{location}");
        }
        Err(EngineError::Invalid { what, message }) => {
            assert_says_something(&message);
            assert!(what.contains("fuzz.json"), "{what}: {message}");
        }
        Err(other) => panic!("expected an error naming the protocol file, got {other:?}"),
    }
}

#[test]
fn protocol_seeds_are_valid() {
    let spec = spec();
    for seed in protocol_seeds() {
        Protocol::parse("seed.json", &seed, &spec).unwrap();
    }
}

#[test]
fn fuzz_protocol_arbitrary_bytes() {
    let spec = spec();
    fuzz("protocol/bytes", CASES, &bytes_text(200), |text| {
        check_protocol(text, &spec);
    });
}

#[test]
fn fuzz_protocol_mutated_seeds() {
    let spec = spec();
    let long = long_numbers();
    let mut tokens = REGIMEN_TOKENS.to_vec();
    tokens.extend(long.iter().map(String::as_str));
    tokens.extend([
        "regimen",
        "rules",
        "if",
        "then",
        "delay",
        "reduce_by",
        "skip",
        "add",
        "max_times",
        "output",
        "measure",
        "below",
        "above",
        "nadir_since_last_dose",
        "ANC",
        "CP",
        "7d",
        "0d",
        "1e308d",
    ]);
    fuzz(
        "protocol/mutated",
        MUTATED_CASES,
        &json_mutated(&protocol_seeds(), &tokens, 4),
        |text| check_protocol(text, &spec),
    );
}

// ---------------------------------------------------------------------------------------------
// Regressions: minimal inputs the fuzz targets found, fixed in the parsers.

/// Asserts that `text` is refused as a dataset, on `line`, with a message containing `needle`.
fn assert_dataset_refused(text: &str, line: usize, needle: &str) {
    let message = parse_dataset("fuzz.csv", text).unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("fuzz.csv:{line}: ")),
        "{message}"
    );
    assert!(message.contains(needle), "'{needle}' not in: {message}");
}

/// Found by `nmcsv/mutated`: ADDL 2147483647 was accepted, so one record asked the simulator
/// for two billion doses (hours of work for one patient).
#[test]
fn regression_nmcsv_addl_in_the_billions_is_refused_naming_the_limit() {
    for addl in ["2147483647", "4294967295", "4294967296", "1e12", "100000"] {
        assert_dataset_refused(
            &format!("ID,TIME,AMT,II,ADDL\n1,0,100,24,{addl}\n"),
            2,
            "above the limit of 99999 additional doses",
        );
    }
    let ok = parse_dataset("fuzz.csv", "ID,TIME,AMT,II,ADDL\n1,0,100,24,99999\n").unwrap();
    assert_eq!(ok.subjects[0].records[0].addl, 99_999);
    assert_dataset_refused("ID,TIME,AMT,II,ADDL\n1,0,100,24,1.5\n", 2, "whole number");
    assert_dataset_refused("ID,TIME,AMT,II,ADDL\n1,0,100,24,-1\n", 2, "whole number");
}

/// Found by `nmcsv/mutated`: II 1e308 with ADDL 10 was accepted, its last dose at +∞.
#[test]
fn regression_nmcsv_last_additional_dose_beyond_the_numbers_is_refused() {
    assert_dataset_refused(
        "ID,TIME,AMT,II,ADDL\n1,0,100,1e308,10\n",
        2,
        "TIME + II × ADDL",
    );
}

/// Found by `nmcsv/mutated`: an rxode2 infusion at rate 1e308 for 4 h was accepted with AMT +∞
/// (written back as `.`, which reads back as a dose of 0).
#[test]
fn regression_nmcsv_rxode2_infusion_amount_beyond_the_numbers_is_refused() {
    assert_dataset_refused(
        "ID,TIME,AMT,EVID,CMT\n1,0,1e308,10101,1\n1,4,-1e308,10101,1\n",
        3,
        "not a finite number",
    );
}

fn regimen_error(text: &str) -> String {
    Regimen::parse(text, &spec()).unwrap_err().to_string()
}

/// Found by `regimen/mutated` (`100mg oral q12h x100000 at 24h; 50 ug iv at 12h`): the
/// segments together asked for 100 001 doses; counts in the billions made a protocol's dose
/// plan fill the memory.
#[test]
fn regression_regimen_absurd_dose_counts_are_refused_naming_the_limit() {
    for text in [
        "1 mg q1h x999999999999",
        "1 mg q1h x4294967295",
        "1 mg q1h x100001",
        "1 mg q1h x+100001",
    ] {
        let message = regimen_error(text);
        assert!(
            message.contains("above the limit of 100000 doses"),
            "{message}"
        );
    }
    let message = regimen_error("100mg oral q12h x100000 at 24h; 50 ug iv at 12h");
    assert!(
        message.contains("limit of 100000 doses in all"),
        "{message}"
    );
    // A count written apart from its `x` is not a count.
    assert!(regimen_error("1 mg q1h x 999999999999").contains("unexpected 'x'"));
    let full = Regimen::parse("1 mg q1h x100000", &spec()).unwrap();
    assert_eq!(full.doses[0].addl, 99_999);
}

/// Found by `regimen/mutated` (`100 iv over 1000…000w q24h x7`, 307 zeros): an infusion time
/// overflowed to +∞ and the dose became an infusion at rate 0. Times, amounts and rates that
/// overflow to infinity, or a rate that underflows to 0, are refused.
#[test]
fn regression_regimen_times_amounts_and_rates_beyond_the_numbers_are_refused() {
    // Times take no exponent (`1e308w` reads as 1 in the unit `e308w`), so the huge and tiny
    // numbers are written out.
    let huge = format!("1{}", "0".repeat(307));
    let tiny = format!("0.{}1", "0".repeat(300));
    for (text, needle) in [
        (format!("1 mg at {huge}w"), "is too large"),
        (format!("{huge} g"), "not a positive finite number"),
        (format!("{huge} mg over {tiny}min"), "infusion rate"),
        (format!("100 iv over {huge}w q24h x7"), "is too large"),
        (
            format!("0.{}1 mg over 1000h", "0".repeat(320)),
            "is not a positive finite number",
        ),
        (format!("1 mg q{huge}h x100"), "too large to be a number"),
    ] {
        let message = regimen_error(&text);
        assert!(message.contains(needle), "{text}: {message}");
    }
}

/// Found by `protocol/mutated` (`{"regimen":"."}`): an invalid regimen in a protocol file was
/// reported without the file's name; so were invalid delays and added doses.
#[test]
fn regression_protocol_errors_name_the_file() {
    let spec = spec();
    for (text, needle) in [
        (r#"{"regimen":"."}"#, "invalid fuzz.json: regimen '.': "),
        (
            r#"{"regimen":"1 mg","rules":[{"if":{"output":"CP","below":1},"then":{"delay":"1 parsec"}}]}"#,
            "invalid fuzz.json: rule 1: \"delay\": invalid duration",
        ),
        (
            r#"{"regimen":"1 mg","rules":[{"if":{"output":"CP","below":1},"then":{"add":"x"}}]}"#,
            "invalid fuzz.json: rule 1: \"add\": invalid regimen 'x'",
        ),
    ] {
        let message = Protocol::parse("fuzz.json", text, &spec)
            .unwrap_err()
            .to_string();
        assert!(message.starts_with(needle), "{message}");
    }
}

/// Found by `protocol/mutated`: a rule named `""` was accepted, and outputs showed a blank rule
/// name.
#[test]
fn regression_protocol_rule_with_an_empty_name_is_refused() {
    let text = r#"{"regimen":"1 mg","rules":[{"name":" ","if":{"output":"CP","below":1},"then":{"skip":true}}]}"#;
    let message = Protocol::parse("fuzz.json", text, &spec())
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("invalid fuzz.json: rule 1: \"name\" is empty"),
        "{message}"
    );
}
