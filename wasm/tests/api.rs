//! The widget's core functions, natively: the request means what `twin forecast` means, the
//! numbers are the engine's forecast's, the output is deterministic, and errors carry the CLI's
//! messages. The browser test (`wasm/tests/e2e/`) checks that the WebAssembly build returns
//! the same bytes as `examples/native_forecast.rs` for `tests/fixtures/neutropenia-request.json`.

use serde_json::Value;
use twin_engine::forecast::{ForecastRequest, forecast};
use twin_engine::montecarlo::Arm;
use twin_engine::nmcsv::parse_dataset;
use twin_engine::regimen::Regimen;
use twin_wasm::{describe_json, error_message, forecast_json, models_json};

/// The neutropenia patient of `cli/tests/cli.rs`: BSA 1.7 m², one docetaxel dose of 170 mg
/// (100 mg/m²) as a 1-h infusion at t = 0, and ANC 5.4 (baseline), 2.1, 0.45 and 4.8 ×10⁹/L at
/// 0, 96, 168 and 336 h.
const PATIENT: &str = "ID,TIME,DV,MDV,EVID,AMT,CMT,RATE,SEX,PERF,PC,AAG,BSA
7,0,5.4,0,0,0,7,0,2,1,0,1.5,1.7
7,0,.,1,1,170,1,170,2,1,0,1.5,1.7
7,96,2.1,0,0,0,7,0,2,1,0,1.5,1.7
7,168,0.45,0,0,0,7,0,2,1,0,1.5,1.7
7,336,4.8,0,0,0,7,0,2,1,0,1.5,1.7
";

/// A request for `PATIENT` with `draws` draws and the fields in `extra` added or replaced.
fn request(draws: usize, extra: &[(&str, Value)]) -> String {
    let mut request = serde_json::json!({
        "model": "neutropenia@1",
        "patient_csv": PATIENT,
        "therapies": [
            { "name": "d75", "regimen": "docetaxel-75" },
            { "name": "d100", "regimen": "docetaxel-100" }
        ],
        "from": "21d",
        "until": "42d",
        "every": "1d",
        "draws": draws,
        "seed": 1
    });
    for (key, value) in extra {
        request[*key] = value.clone();
    }
    request.to_string()
}

fn parse(json: &str) -> Value {
    serde_json::from_str(json).unwrap()
}

fn err(request: &str) -> String {
    error_message(&forecast_json(request).unwrap_err())
}

#[test]
fn catalogue_lists_every_released_version_with_its_hash() {
    let models = parse(&models_json());
    let catalogue = twin_models::catalogue();
    let listed = models.as_array().unwrap();
    assert_eq!(listed.len(), catalogue.len());
    for (entry, model) in listed.iter().zip(&catalogue) {
        let spec = model.spec();
        assert_eq!(entry["id"], spec.id);
        assert_eq!(entry["version"], spec.version);
        assert_eq!(entry["hash"], spec.content_hash());
    }
    let neutropenia = listed.iter().find(|m| m["id"] == "neutropenia").unwrap();
    assert_eq!(
        neutropenia["therapies"],
        serde_json::json!(["docetaxel-75", "docetaxel-100"])
    );
}

#[test]
fn describe_gives_the_covariate_ranges_and_the_observable_outputs() {
    let d = parse(&describe_json("neutropenia@1").unwrap());
    // twin-models/src/neutropenia.rs: SEX 1–2, PERF 0–4, PC 0–1, AAG 0.2–4 g/L, then BSA.
    let names: Vec<&str> = d["covariates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["SEX", "PERF", "PC", "AAG", "BSA"]);
    let aag = &d["covariates"][3];
    assert_eq!(aag["unit"], "g/L");
    assert!((aag["lower"].as_f64().unwrap() - 0.2).abs() < 1e-12);
    assert!((aag["upper"].as_f64().unwrap() - 4.0).abs() < 1e-12);
    // ANC has a residual error model (its observations calibrate the twin); CP has none.
    assert_eq!(d["outputs"][0]["name"], "ANC");
    assert_eq!(d["outputs"][0]["observable"], true);
    assert_eq!(d["therapies"][0]["regimen"], "75 mg/m2 iv over 1h q3w x6");
    assert_eq!(d["time_unit"], "h");
    assert_eq!(
        error_message(&describe_json("neutro").unwrap_err()),
        twin_models::find("neutro").err().unwrap().to_string()
    );
}

#[test]
fn request_fields_mean_what_the_cli_flags_mean() {
    let f = parse(&forecast_json(&request(50, &[])).unwrap());
    // --from 21d: origin 504 h. --until 42d after the origin: end 504 + 1008 = 1512 h.
    // --every 1d: 0, 24, …, 1512, i.e. 1512/24 + 1 = 64 times.
    assert!((f["origin"].as_f64().unwrap() - 504.0).abs() < 1e-12);
    let time = f["time"].as_array().unwrap();
    assert_eq!(time.len(), 64);
    assert!((time[63].as_f64().unwrap() - 1512.0).abs() < 1e-9);
    assert_eq!(f["patient"], "7");
    assert_eq!(f["draws"], 50);
    // A built-in therapy name stands for its regimen text.
    assert_eq!(f["therapies"][1]["regimen"], "100 mg/m2 iv over 1h q3w x6");
    // Without --from the origin is the last record (336 h); without --until the end is the
    // therapies' natural end: 6 cycles q3w from the origin, 336 + 6·504 = 3360 h.
    let default = parse(
        &forecast_json(&request(
            20,
            &[
                ("from", Value::Null),
                ("until", "".into()),
                ("every", "7d".into()),
            ],
        ))
        .unwrap(),
    );
    assert!((default["origin"].as_f64().unwrap() - 336.0).abs() < 1e-12);
    // The grid runs 0, 168, … up to the end 3360 h, a multiple of 168.
    let last = default["time"].as_array().unwrap().last().unwrap();
    assert!((last.as_f64().unwrap() - 3360.0).abs() < 1e-9, "{last}");
}

#[test]
fn numbers_are_the_engines_forecast_bit_for_bit() {
    // The request the CLI builds for `--therapy d75=docetaxel-75 --therapy d100=docetaxel-100
    // --from 21d --until 42d --every 1d --draws 50 --seed 1` (cli/src/forecast.rs).
    let model = twin_models::find("neutropenia@1").unwrap();
    let spec = model.spec();
    let dataset = parse_dataset("patient.csv", PATIENT).unwrap();
    let arms = [("d75", 0), ("d100", 1)]
        .map(|(name, t)| Arm {
            name: name.to_owned(),
            regimen: Regimen::parse(spec.therapies[t].regimen, spec).unwrap(),
            rules: Vec::new(),
        })
        .to_vec();
    let mut engine = ForecastRequest::new(arms);
    engine.origin = Some(504.0);
    engine.horizon = Some(1008.0);
    engine.every = Some(24.0);
    engine.draws = 50;
    engine.seed = 1;
    let expected = forecast(model.as_ref(), &dataset, 0, &engine).unwrap();
    let got = parse(&forecast_json(&request(50, &[])).unwrap());
    // serde_json writes the shortest text that reads back to the same f64 (float_roundtrip
    // reading), so bits compare exactly; NaN is written as null.
    let same = |value: &Value, x: f64| match value.as_f64() {
        Some(v) => v.to_bits() == x.to_bits(),
        None => value.is_null() && x.is_nan(),
    };
    for (arm, therapy) in expected
        .summary
        .arms
        .iter()
        .zip(got["therapies"].as_array().unwrap())
    {
        assert_eq!(therapy["name"], arm.name.as_str());
        assert_eq!(therapy["n_ok"], arm.n_ok);
        for (o, band) in therapy["outputs"].as_array().unwrap().iter().enumerate() {
            for (label, q) in [
                ("p05", 0.05),
                ("p25", 0.25),
                ("p50", 0.5),
                ("p75", 0.75),
                ("p95", 0.95),
            ] {
                for (t, summary) in arm.outputs[o].iter().enumerate() {
                    let want = summary.quantile(q).unwrap_or(f64::NAN);
                    assert!(same(&band[label][t], want), "{label} {o} {t}");
                }
            }
        }
        for (k, outcome) in therapy["outcomes"].as_array().unwrap().iter().enumerate() {
            assert_eq!(outcome["n"], arm.outcomes[k].n);
            assert_eq!(outcome["n_observed"], arm.outcomes[k].n_observed);
            if let Some(paired) = arm.paired.get(k) {
                assert_eq!(outcome["paired"]["n_pairs"], paired.n_pairs);
                let p = paired.n_greater as f64 / paired.n_pairs as f64;
                assert!(same(&outcome["paired"]["p_greater"], p));
            }
        }
    }
    for (i, eta) in expected.map.eta.iter().enumerate() {
        assert!(same(&got["posterior"]["map_eta"][i], *eta));
    }
}

#[test]
fn forecast_is_plausible_and_the_higher_dose_is_more_toxic() {
    let f = parse(&forecast_json(&request(200, &[])).unwrap());
    let therapies = f["therapies"].as_array().unwrap();
    let outcome = |t: usize, name: &str| -> Value {
        therapies[t]["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap()
            .clone()
    };
    for (t, therapy) in therapies.iter().enumerate() {
        assert_eq!(therapy["n_failed"], 0);
        let g4 = outcome(t, "grade4");
        let p = g4["probability"].as_f64().unwrap();
        let [lo, hi] = [0, 1].map(|i| g4["ci95"][i].as_f64().unwrap());
        assert!((0.0..=1.0).contains(&p) && lo <= p && p <= hi, "{g4}");
        // The Wilson interval of the reported counts (scipy agreement is tested in stats.rs).
        let n = g4["n"].as_u64().unwrap();
        assert_eq!(n, 200);
        let [wl, wh] = twin_engine::stats::wilson_95(g4["n_observed"].as_u64().unwrap(), n);
        assert!((wl - lo).abs() < 1e-15 && (wh - hi).abs() < 1e-15);
        // Medians of ANC within the physiological range of a treated patient, 0.01–20 ×10⁹/L.
        for m in therapy["outputs"][0]["p50"].as_array().unwrap() {
            let m = m.as_f64().unwrap();
            assert!((0.01..20.0).contains(&m), "median ANC {m}");
        }
    }
    // Paired draws: 100 instead of 75 mg/m² gives every draw more drug and the same η, so the
    // drug effect (linear in concentration) is larger and the nadir lower in (almost) every draw.
    let g4 = |t| outcome(t, "grade4")["probability"].as_f64().unwrap();
    assert!(g4(1) > g4(0), "P(grade4) {} vs {}", g4(1), g4(0));
    let nadir = outcome(1, "nadir_anc");
    assert_eq!(nadir["paired"]["reference"], "d75");
    let less = nadir["paired"]["p_less"].as_f64().unwrap();
    assert!(
        less > 0.95,
        "P(nadir under d100 < nadir under d75) = {less}"
    );
    assert!(outcome(0, "nadir_anc")["paired"].is_null());
    // The twin was calibrated on the four ANC values.
    assert_eq!(f["observations"].as_array().unwrap().len(), 4);
    assert_eq!(f["posterior"]["n_observations"], 4);
}

#[test]
fn same_request_same_bytes_and_the_seed_matters() {
    let first = forecast_json(&request(30, &[])).unwrap();
    assert!(first == forecast_json(&request(30, &[])).unwrap());
    let other = forecast_json(&request(30, &[("seed", 2.into())])).unwrap();
    assert!(first != other);
}

#[test]
fn errors_carry_the_cli_messages() {
    // A malformed CSV: the message is the engine's parse error, as `twin forecast` prints it.
    let bad_csv = PATIENT.replace("7,96,2.1", "7,96,abc");
    let expected = parse_dataset("patient.csv", &bad_csv)
        .unwrap_err()
        .to_string();
    let message = err(&request(10, &[("patient_csv", bad_csv.clone().into())]));
    assert_eq!(message, expected);
    assert!(message.starts_with("patient.csv:4:"), "{message}");
    // The file name in messages is the request's source.
    let message = err(&request(
        10,
        &[
            ("patient_csv", bad_csv.into()),
            ("source", "anna.csv".into()),
        ],
    ));
    assert!(message.starts_with("anna.csv:4:"), "{message}");
    // A covariate outside the model's range (AAG 99 g/L; the model accepts 0.2 to 4).
    let out_of_range = PATIENT.replace(",1.5,1.7\n7,96", ",99,1.7\n7,96");
    let message = err(&request(10, &[("patient_csv", out_of_range.into())]));
    // The changed value is on line 3, the dose record before the 96-h sample.
    assert_eq!(
        message,
        "patient.csv:3: covariate AAG = 99 is outside [0.2, 4] g/L"
    );
    // A regimen the parser rejects, with the parser's own message.
    let model = twin_models::find("neutropenia@1").unwrap();
    let expected = Regimen::parse("75 furlongs", model.spec())
        .unwrap_err()
        .to_string();
    let therapies = serde_json::json!([{ "name": "x", "regimen": "75 furlongs" }]);
    assert_eq!(err(&request(10, &[("therapies", therapies)])), expected);
    // Counts, names, draws, models and JSON.
    let five = serde_json::json!([
        { "name": "a", "regimen": "docetaxel-75" }, { "name": "b", "regimen": "docetaxel-75" },
        { "name": "c", "regimen": "docetaxel-75" }, { "name": "d", "regimen": "docetaxel-75" },
        { "name": "e", "regimen": "docetaxel-75" }
    ]);
    assert_eq!(
        err(&request(10, &[("therapies", five)])),
        "give one to four therapies, got 5"
    );
    let twice = serde_json::json!([
        { "name": "a", "regimen": "docetaxel-75" }, { "name": "a ", "regimen": "docetaxel-100" }
    ]);
    assert_eq!(
        err(&request(10, &[("therapies", twice)])),
        "therapy 2: the name 'a' is used twice"
    );
    assert_eq!(err(&request(0, &[])), "draws: 0 is not between 1 and 20000");
    assert_eq!(
        err(&request(10, &[("model", "neutro".into())])),
        twin_models::find("neutro").err().unwrap().to_string()
    );
    assert_eq!(
        err(&request(10, &[("id", "8".into())])),
        "patient.csv: no subject with ID 8"
    );
    assert!(
        err("{").starts_with("forecast request: EOF"),
        "{}",
        err("{")
    );
    let typo = err(&request(10, &[("seeds", 3.into())]));
    assert!(
        typo.starts_with("forecast request: unknown field `seeds`"),
        "{typo}"
    );
    assert!(err(&request(10, &[("until", "soon".into())])).contains("duration 'soon'"));
}

#[test]
fn error_message_lists_the_causes_like_the_cli() {
    // anyhow's `{:#}` (what the CLI prints after "error: ") is the error's text, then ": " and
    // the text of each source in turn. EngineError::Patient shows its source in its own text
    // and also returns it as its source, so the cause appears twice, as in the CLI.
    let error = twin_engine::EngineError::NonFinite { t: 2.0 }.for_patient("3");
    let expected =
        "patient 3 failed: state became non-finite at t = 2: state became non-finite at t = 2";
    assert_eq!(error_message(&error), expected);
}
