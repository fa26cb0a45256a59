//! The JSON file of a fitted model version, and the fitted version of a [`FitResult`].
//!
//! ```json
//! {
//!   "format": "twinsim-fitted-model",
//!   "format_version": 1,
//!   "id": "pheno",
//!   "version": "1-fit-3fa2b9c1",
//!   "content_hash": "…",
//!   "base_version": "1",
//!   "base_content_hash": "…",
//!   "typical": [{ "name": "CL", "value": 0.0047 }, …],
//!   "covariate_coefficients": [{ "name": "V~APGR", "value": -0.137 }, …],
//!   "omega": [[0.0293, 0.0], [0.0, 0.0279]],
//!   "residual": [{ "output": "CP", "model": "proportional", "sd": [0.115] }],
//!   "provenance": { "method": "FOCE-I", "data_file": "pheno_sd.csv", "data_sha256": "…", … }
//! }
//! ```
//!
//! `residual[].sd` holds one standard deviation (additive, proportional, exponential), two
//! (combined: additive, proportional) or none (`none`). On reading, the base model must exist
//! with the recorded content hash, the names must match the base's parameters in order, and the
//! rebuilt version must have the recorded content hash: a file edited by hand is refused.

use serde::{Deserialize, Serialize};
use twin_engine::Model;
use twin_engine::population::ResidualError;
use twin_models::fitted::{Fitted, FittedParameters, Provenance, covariate_target};

use crate::FitError;
use crate::estimate::FitResult;

/// The `format` field of every fitted-version file.
pub const FORMAT: &str = "twinsim-fitted-model";
/// The `format_version` this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionFile {
    format: String,
    format_version: u32,
    id: String,
    version: String,
    content_hash: String,
    base_version: String,
    base_content_hash: String,
    typical: Vec<Named>,
    covariate_coefficients: Vec<Named>,
    omega: Vec<Vec<f64>>,
    residual: Vec<Residual>,
    provenance: ProvenanceJson,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    name: String,
    value: f64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Residual {
    output: String,
    model: String,
    sd: Vec<f64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProvenanceJson {
    method: String,
    data_file: String,
    data_sha256: String,
    seed: Option<u64>,
    ofv: f64,
    ofv_includes_constant: bool,
    n_subjects: usize,
    n_observations: usize,
    estimated: Vec<String>,
    fixed: Vec<String>,
    tool: String,
}

/// The fitted parameter set of `result`, with provenance: the data file's name and SHA-256, the
/// SAEM seed (if any) and an optional version label.
#[must_use]
pub fn fitted_parameters(
    result: &FitResult,
    data_file: &str,
    data_sha256: &str,
    seed: Option<u64>,
    version: Option<String>,
) -> FittedParameters {
    let fixed = result
        .estimates
        .iter()
        .filter(|e| !e.estimated)
        .map(|e| format!("{}={}", e.name, e.value))
        .collect();
    FittedParameters {
        version,
        typical: result.values.typical.clone(),
        covariate_coefficients: result.values.covariate_coefficients.clone(),
        omega: result.values.omega.clone(),
        residual: result.values.residual.clone(),
        provenance: Provenance {
            method: result.method.label().to_owned(),
            data_file: data_file.to_owned(),
            data_sha256: data_sha256.to_owned(),
            seed,
            ofv: result.ofv,
            ofv_includes_constant: false,
            n_subjects: result.n_subjects,
            n_observations: result.n_observations,
            estimated: result.estimated_names.clone(),
            fixed,
            tool: concat!("twin-fit ", env!("CARGO_PKG_VERSION")).to_owned(),
        },
    }
}

/// The JSON text of a fitted version (pretty-printed, one trailing newline).
#[must_use]
pub fn to_json(fitted: &Fitted) -> String {
    let spec = fitted.spec();
    let base = fitted.base_spec();
    let parameters = fitted.parameters();
    let n_eta = base.variability.random_effects.len();
    let p = &parameters.provenance;
    let file = VersionFile {
        format: FORMAT.to_owned(),
        format_version: FORMAT_VERSION,
        id: spec.id.to_owned(),
        version: spec.version.to_owned(),
        content_hash: spec.content_hash(),
        base_version: base.version.to_owned(),
        base_content_hash: base.content_hash(),
        typical: base
            .parameters
            .iter()
            .zip(&parameters.typical)
            .map(|(s, &value)| Named {
                name: s.name.to_owned(),
                value,
            })
            .collect(),
        covariate_coefficients: base
            .variability
            .covariate_effects
            .iter()
            .zip(&parameters.covariate_coefficients)
            .map(|(effect, &value)| Named {
                name: effect_name(base, effect),
                value,
            })
            .collect(),
        omega: parameters
            .omega
            .chunks(n_eta.max(1))
            .map(<[f64]>::to_vec)
            .collect(),
        residual: base
            .outputs
            .iter()
            .zip(&parameters.residual)
            .map(|(o, r)| {
                let (model, sd) = residual_parts(*r);
                Residual {
                    output: o.name.to_owned(),
                    model: model.to_owned(),
                    sd,
                }
            })
            .collect(),
        provenance: ProvenanceJson {
            method: p.method.clone(),
            data_file: p.data_file.clone(),
            data_sha256: p.data_sha256.clone(),
            seed: p.seed,
            ofv: p.ofv,
            ofv_includes_constant: p.ofv_includes_constant,
            n_subjects: p.n_subjects,
            n_observations: p.n_observations,
            estimated: p.estimated.clone(),
            fixed: p.fixed.clone(),
            tool: p.tool.clone(),
        },
    };
    let mut text = serde_json::to_string_pretty(&file)
        .expect("a fitted version is plain data (strings, finite numbers, vectors)");
    text.push('\n');
    text
}

/// `PARAM~COV` of a covariate effect.
fn effect_name(
    spec: &twin_engine::ModelSpec,
    effect: &twin_engine::population::CovariateEffect,
) -> String {
    let (p, c) = covariate_target(effect);
    format!(
        "{}~{}",
        spec.parameters[p].name,
        spec.covariates.get(c).map_or("?", |c| c.name)
    )
}

fn residual_parts(r: ResidualError) -> (&'static str, Vec<f64>) {
    match r {
        ResidualError::None => ("none", vec![]),
        ResidualError::Additive { sd } => ("additive", vec![sd]),
        ResidualError::Proportional { sd } => ("proportional", vec![sd]),
        ResidualError::Exponential { sd } => ("exponential", vec![sd]),
        ResidualError::Combined {
            additive_sd,
            proportional_sd,
        } => ("combined", vec![additive_sd, proportional_sd]),
    }
}

/// Looks up a released model by `id@version`, with an error message when it does not exist.
pub type FindBase<'a> = dyn Fn(&str) -> Result<Box<dyn Model>, String> + 'a;

/// Reads a fitted version from the JSON `text` of file `source`; `find_base` returns the released
/// model `id@version`.
///
/// # Errors
/// [`FitError::VersionFile`] naming `source` and the field for malformed JSON, another format,
/// an unknown base model, a base whose content hash changed, names that do not match the base, or
/// a content hash that does not match the rebuilt version; [`FitError::Fitted`] when the numbers
/// are unusable.
pub fn from_json(source: &str, text: &str, find_base: &FindBase<'_>) -> Result<Fitted, FitError> {
    let bad = |message: String| FitError::VersionFile {
        file: source.to_owned(),
        message,
    };
    let file: VersionFile = serde_json::from_str(text).map_err(|e| {
        bad(format!(
            "line {}, column {}: {e}; expected a fitted model version written by `twin fit`",
            e.line(),
            e.column()
        ))
    })?;
    if file.format != FORMAT || file.format_version != FORMAT_VERSION {
        return Err(bad(format!(
            "format {} version {} is not {FORMAT} version {FORMAT_VERSION}",
            file.format, file.format_version
        )));
    }
    let base_name = format!("{}@{}", file.id, file.base_version);
    let base = find_base(&base_name).map_err(|e| bad(format!("base model {base_name}: {e}")))?;
    let spec = base.spec().clone();
    if spec.content_hash() != file.base_content_hash {
        return Err(bad(format!(
            "base model {base_name} has content hash {} but the file was fitted from {}; a \
             released version never changes, so this file comes from another build",
            spec.content_hash(),
            file.base_content_hash
        )));
    }
    let names: Vec<&str> = file.typical.iter().map(|n| n.name.as_str()).collect();
    let expected: Vec<&str> = spec.parameters.iter().map(|p| p.name).collect();
    if names != expected {
        return Err(bad(format!(
            "field typical names {names:?}; expected the parameters of {base_name} in order: \
             {expected:?}"
        )));
    }
    let effect_names: Vec<String> = spec
        .variability
        .covariate_effects
        .iter()
        .map(|e| effect_name(&spec, e))
        .collect();
    let got: Vec<&str> = file
        .covariate_coefficients
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    if got != effect_names.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(bad(format!(
            "field covariate_coefficients names {got:?}; expected {effect_names:?}"
        )));
    }
    let n_eta = spec.variability.random_effects.len();
    if file.omega.len() != n_eta || file.omega.iter().any(|row| row.len() != n_eta) {
        return Err(bad(format!("field omega must be {n_eta} × {n_eta}")));
    }
    if file.residual.len() != spec.variability.residual.len() {
        return Err(bad(format!(
            "field residual has {} entries; expected {}",
            file.residual.len(),
            spec.variability.residual.len()
        )));
    }
    let mut residual = Vec::new();
    for (r, o) in file.residual.iter().zip(&spec.outputs) {
        if r.output != o.name {
            return Err(bad(format!(
                "field residual: output {} where {} was expected",
                r.output, o.name
            )));
        }
        let sd = |k: usize| r.sd.get(k).copied().unwrap_or(f64::NAN);
        let expected_len = match r.model.as_str() {
            "none" => 0,
            "combined" => 2,
            _ => 1,
        };
        if r.sd.len() != expected_len {
            return Err(bad(format!(
                "field residual of {}: {} needs {expected_len} standard deviations, got {}",
                r.output,
                r.model,
                r.sd.len()
            )));
        }
        residual.push(match r.model.as_str() {
            "none" => ResidualError::None,
            "additive" => ResidualError::Additive { sd: sd(0) },
            "proportional" => ResidualError::Proportional { sd: sd(0) },
            "exponential" => ResidualError::Exponential { sd: sd(0) },
            "combined" => ResidualError::Combined {
                additive_sd: sd(0),
                proportional_sd: sd(1),
            },
            other => {
                return Err(bad(format!(
                    "field residual of {}: '{other}' is not none, additive, proportional, \
                     exponential or combined",
                    r.output
                )));
            }
        });
    }
    let p = file.provenance;
    let parameters = FittedParameters {
        version: Some(file.version.clone()),
        typical: file.typical.iter().map(|n| n.value).collect(),
        covariate_coefficients: file
            .covariate_coefficients
            .iter()
            .map(|n| n.value)
            .collect(),
        omega: file.omega.concat(),
        residual,
        provenance: Provenance {
            method: p.method,
            data_file: p.data_file,
            data_sha256: p.data_sha256,
            seed: p.seed,
            ofv: p.ofv,
            ofv_includes_constant: p.ofv_includes_constant,
            n_subjects: p.n_subjects,
            n_observations: p.n_observations,
            estimated: p.estimated,
            fixed: p.fixed,
            tool: p.tool,
        },
    };
    let fitted = Fitted::new(base, parameters)?;
    if fitted.spec().content_hash() != file.content_hash {
        return Err(bad(format!(
            "content hash {} does not match the version rebuilt from the file ({}): the file was \
             changed after it was written",
            file.content_hash,
            fitted.spec().content_hash()
        )));
    }
    Ok(fitted)
}
