//! Golden files: every released model version, simulated for its typical patient (η = 0,
//! reference covariates) under its first built-in therapy, must reproduce
//! `tests/golden/<model>/v<version>.json` — outputs to a relative 1e-9 (the same code on another
//! platform may differ in the last bits of `exp`/`pow`) and the content hash exactly.
//!
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p twin-models --test golden`, commit the result
//! and explain the change: a released version must not change.

use std::collections::BTreeMap;
use std::path::PathBuf;

use twin_engine::model::Model;
use twin_engine::predict::population_of;
use twin_engine::records::Record;
use twin_engine::regimen::Regimen;
use twin_engine::simulate::{ParameterTrack, Simulator};
use twin_engine::solver::SolverOptions;

/// Agreement required with the golden outputs.
const REL_TOL: f64 = 1e-9;
/// Output points per golden trajectory.
const N_POINTS: usize = 60;

#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
struct Golden {
    id: String,
    version: String,
    content_hash: String,
    therapy: String,
    regimen: String,
    times: Vec<f64>,
    outputs: BTreeMap<String, Vec<f64>>,
}

fn typical_trajectory(model: &dyn Model) -> Golden {
    let spec = model.spec();
    let population = population_of(model).unwrap();
    let covariates: Vec<f64> = spec.covariates.iter().map(|c| c.reference).collect();
    let mut params = vec![0.0; spec.parameters.len()];
    model.individual_parameters(
        &population,
        &covariates,
        &vec![0.0; population.n_eta()],
        &mut params,
    );
    let (therapy, regimen_text) = spec
        .therapies
        .first()
        .map_or(("none", "none"), |t| (t.name, t.regimen));
    let regimen = Regimen::parse(regimen_text, spec).unwrap();
    let horizon = match regimen.natural_end() {
        end if end > 0.0 => end,
        _ => 24.0 / spec.time_unit.hours() * 28.0,
    };
    let times: Vec<f64> = (0..N_POINTS)
        .map(|i| horizon * i as f64 / (N_POINTS - 1) as f64)
        .collect();
    let mut records: Vec<Record> = regimen.doses_for(&covariates);
    let n_doses = records.len();
    records.extend(times.iter().map(|&t| Record::output_time(t)));
    records.sort_by(|a, b| {
        a.time
            .total_cmp(&b.time)
            .then(b.evid.is_dose().cmp(&a.evid.is_dose()))
    });
    let n_out = spec.outputs.len();
    let mut out = vec![0.0; records.len() * n_out];
    let mut simulator = Simulator::new(
        model,
        SolverOptions {
            rtol: 1e-10,
            atol: 1e-12,
            ..SolverOptions::default()
        },
    )
    .unwrap();
    simulator
        .run(&records, ParameterTrack::Constant(&params), &mut out)
        .unwrap();
    let mut outputs = BTreeMap::new();
    for (o, spec_out) in spec.outputs.iter().enumerate() {
        let series: Vec<f64> = records
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.evid.is_dose())
            .map(|(i, _)| out[i * n_out + o])
            .collect();
        assert_eq!(series.len(), times.len(), "{n_doses} doses");
        outputs.insert(spec_out.name.to_owned(), series);
    }
    Golden {
        id: spec.id.to_owned(),
        version: spec.version.to_owned(),
        content_hash: spec.content_hash(),
        therapy: therapy.to_owned(),
        regimen: regimen_text.to_owned(),
        times,
        outputs,
    }
}

#[test]
fn every_released_version_matches_its_golden_file() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut problems = Vec::new();
    for model in twin_models::catalogue() {
        let spec = model.spec();
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/golden/{}/v{}.json", spec.id, spec.version));
        let got = typical_trajectory(model.as_ref());
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            problems.push(format!(
                "{}: missing golden file {} (run UPDATE_GOLDEN=1)",
                spec.id,
                path.display()
            ));
            continue;
        };
        let want: Golden = serde_json::from_str(&text).unwrap();
        if want.content_hash != got.content_hash {
            problems.push(format!(
                "{}@{}: content hash changed — a released version must not change",
                spec.id, spec.version
            ));
        }
        for (name, series) in &want.outputs {
            let Some(new) = got.outputs.get(name) else {
                problems.push(format!("{}: output {name} disappeared", spec.id));
                continue;
            };
            for ((t, a), b) in want.times.iter().zip(series).zip(new) {
                if (a - b).abs() > REL_TOL * a.abs().max(b.abs()) + 1e-300
                    && !(a.is_nan() && b.is_nan())
                {
                    problems.push(format!(
                        "{} {name} at t = {t}: golden {a} vs now {b}",
                        spec.id
                    ));
                    break;
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
