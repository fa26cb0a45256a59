//! Model lookup for every command: released versions from the catalogue, fitted versions from a
//! models directory.
//!
//! `resolve_model(text)` looks `text` up in this order:
//!
//! 1. `text` names an existing file ending in `.json`: that fitted version file.
//! 2. `id` without a version: the latest *released* version (`twin_models::find`); fitted
//!    versions are only used when asked for by name.
//! 3. `id@version` of a released version: that version.
//! 4. `id@version` otherwise: the file `<id>@<version>.json` in the models directory — the
//!    `--models DIR` flag, else the `TWIN_MODELS` environment variable, else `./models`.
//!
//! A fitted version file names its base model; the base must be released with the content hash
//! recorded in the file, and the rebuilt version must have the file's content hash.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use twin_engine::Model;

/// Environment variable naming the models directory.
pub const MODELS_ENV: &str = "TWIN_MODELS";

/// The models directory given by `--models`, set once by `main`.
static MODELS_DIR: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Records the `--models DIR` flag (call once, before any lookup).
pub fn set_models_dir(dir: Option<PathBuf>) {
    let _ = MODELS_DIR.set(dir);
}

/// The models directory: `--models`, else `$TWIN_MODELS`, else `./models`.
pub fn models_dir() -> PathBuf {
    if let Some(Some(dir)) = MODELS_DIR.get() {
        return dir.clone();
    }
    match std::env::var_os(MODELS_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from("models"),
    }
}

/// The file name of a fitted version in the models directory.
pub fn file_name(id: &str, version: &str) -> String {
    format!("{id}@{version}.json")
}

/// Reads the fitted version file `path`.
///
/// # Errors
/// The file cannot be read, or [`twin_fit::version::from_json`] refuses it.
pub fn load_fitted(path: &Path) -> Result<twin_models::fitted::Fitted> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading fitted model version {}", path.display()))?;
    let find_base = |name: &str| -> std::result::Result<Box<dyn Model>, String> {
        twin_models::find(name).map_err(|e| e.to_string())
    };
    Ok(twin_fit::version::from_json(
        &path.display().to_string(),
        &text,
        &find_base,
    )?)
}

/// The model named by `text` (see the module documentation for the lookup order).
///
/// # Errors
/// An unknown id (listing the known ones), an unknown version (listing the released versions
/// and the fitted versions found in the models directory), or a fitted version file that cannot
/// be read or is refused.
pub fn resolve_model(text: &str) -> Result<Box<dyn Model>> {
    Ok(match resolve(text)? {
        Resolved::Released(model) => model,
        Resolved::Fitted(fitted) => fitted,
    })
}

/// The model named by `text` and the released version it is built on (itself, for a released
/// version): a fit starts from the first and becomes a new version of the second.
///
/// # Errors
/// As [`resolve_model`].
pub fn resolve_with_base(text: &str) -> Result<(Box<dyn Model>, Box<dyn Model>)> {
    Ok(match resolve(text)? {
        Resolved::Released(model) => {
            let spec = model.spec();
            let base = twin_models::find(&format!("{}@{}", spec.id, spec.version))?;
            (model, base)
        }
        Resolved::Fitted(fitted) => {
            let base_spec = fitted.base_spec();
            let base = twin_models::find(&format!("{}@{}", base_spec.id, base_spec.version))?;
            (fitted as Box<dyn Model>, base)
        }
    })
}

/// A released or fitted model.
enum Resolved {
    Released(Box<dyn Model>),
    Fitted(Box<twin_models::fitted::Fitted>),
}

fn resolve(text: &str) -> Result<Resolved> {
    let trimmed = text.trim();
    let as_path = Path::new(trimmed);
    if trimmed.ends_with(".json") && as_path.is_file() {
        return Ok(Resolved::Fitted(Box::new(load_fitted(as_path)?)));
    }
    let Some((id, version)) = trimmed.split_once('@') else {
        return Ok(Resolved::Released(twin_models::find(trimmed)?));
    };
    let (id, version) = (id.trim(), version.trim());
    match twin_models::find(trimmed) {
        Ok(model) => Ok(Resolved::Released(model)),
        Err(twin_models::CatalogueError::UnknownVersion { known, .. }) => {
            let dir = models_dir();
            // Files are named with the catalogue's spelling of the id.
            let canonical = twin_models::find(id)
                .map(|m| m.spec().id.to_owned())
                .unwrap_or_else(|_| id.to_owned());
            let path = dir.join(file_name(&canonical, version));
            if path.is_file() {
                return Ok(Resolved::Fitted(Box::new(load_fitted(&path)?)));
            }
            let fitted = fitted_versions_in(&dir, &canonical);
            Err(anyhow!(
                "model '{canonical}' has no version '{version}': released versions {known}; \
                 fitted versions in {} (--models DIR or {MODELS_ENV}): {}",
                dir.display(),
                if fitted.is_empty() {
                    "none".to_owned()
                } else {
                    fitted.join(", ")
                }
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// Versions of `id` with a file `<id>@<version>.json` in `dir`, sorted.
fn fitted_versions_in(dir: &Path, id: &str) -> Vec<String> {
    let prefix = format!("{id}@");
    let mut res: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|name| {
                    name.strip_prefix(&prefix)
                        .and_then(|v| v.strip_suffix(".json"))
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    res.sort();
    res
}

/// Every fitted version in the models directory that loads, sorted by file name, and one
/// warning per file that does not.
pub fn fitted_models() -> (Vec<Box<dyn Model>>, Vec<String>) {
    let dir = models_dir();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.extension().is_some_and(|e| e == "json")
                        && p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.contains('@'))
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut models: Vec<Box<dyn Model>> = Vec::new();
    let mut warnings = Vec::new();
    for path in names {
        match load_fitted(&path) {
            Ok(m) => models.push(Box::new(m)),
            Err(e) => warnings.push(format!("{e:#}")),
        }
    }
    (models, warnings)
}
