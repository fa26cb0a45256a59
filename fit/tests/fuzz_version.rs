//! Fuzz target of the fitted-version reader (`twin_fit::version::from_json`, what the CLI's model
//! registry calls for a fitted version file). Every input must be accepted as a usable model
//! version or refused with an error naming the file and the field (or the model and the field);
//! no input may panic.
//!
//! Why proptest and not cargo-fuzz: cargo-fuzz needs a nightly toolchain and twinsim builds on
//! stable; proptest is already a workspace dev-dependency; a fixed seed per target makes every
//! run draw the same inputs, a bounded number of them, inside `cargo test`; and shrinking turns a
//! crash into a minimal input, kept below as a regression test. Longer campaigns:
//! `TWIN_FUZZ_CASES=100000 cargo test -p twin-fit --test fuzz_version --release`
//! (docs/fuzzing.md). Each accepted or nearly accepted case leaks a few strings by design
//! (`twin_models::fitted`, "Memory"), so very long campaigns grow the test's memory slowly.

#[path = "../../engine/tests/fuzz_support/mod.rs"]
mod fuzz_support;

use fuzz_support::{assert_says_something, bytes_text, fuzz, json_mutated};
use twin_engine::Model;
use twin_engine::model::sha256_hex;
use twin_engine::population::ResidualError;
use twin_fit::FitError;
use twin_fit::version::{from_json, to_json};
use twin_models::fitted::{Fitted, FittedError, FittedParameters, Provenance};

/// Cases of the arbitrary-bytes and soup generators in CI (`TWIN_FUZZ_CASES` overrides every
/// count).
const CASES: u32 = 10_000;

/// Cases of the structure-aware mutations of valid seeds in CI, where the findings were.
const MUTATED_CASES: u32 = 150_000;

fn find(name: &str) -> Result<Box<dyn Model>, String> {
    twin_models::find(name).map_err(|e| e.to_string())
}

/// A fitted version of `base` with changed numbers: a typical value, Ω and a residual error.
fn fitted(base: Box<dyn Model>, version: Option<String>) -> Fitted {
    let label = format!("{}@{}", base.spec().id, base.spec().version);
    let mut parameters = FittedParameters::from_spec(
        base.spec(),
        Provenance {
            method: "SAEM".to_owned(),
            data_file: format!("{}.csv", base.spec().id),
            data_sha256: sha256_hex(label.as_bytes()),
            seed: Some(7),
            ofv: -123.5,
            ofv_includes_constant: true,
            n_subjects: 12,
            n_observations: 96,
            estimated: vec!["OMEGA".to_owned()],
            fixed: vec!["X=1".to_owned()],
            tool: "fuzz seed".to_owned(),
        },
    );
    parameters.version = version;
    if let Some(first) = parameters.omega.first_mut() {
        *first *= 1.5;
    }
    for residual in &mut parameters.residual {
        if let ResidualError::Proportional { sd } | ResidualError::Additive { sd } = residual {
            *sd *= 0.9;
        }
    }
    Fitted::new(base, parameters).unwrap_or_else(|e| panic!("{label}: {e}"))
}

/// Valid seed files: a fitted version of every released model (with a derived and a chosen
/// version label), as `twin fit` writes them.
fn seeds() -> Vec<String> {
    twin_models::catalogue()
        .into_iter()
        .enumerate()
        .map(|(idx, base)| {
            let version = (idx % 2 == 1).then(|| format!("refit-{idx}"));
            to_json(&fitted(base, version))
        })
        .collect()
}

/// Tokens that mean something in a fitted version file.
const VERSION_TOKENS: &[&str] = &[
    "format",
    "twinsim-fitted-model",
    "format_version",
    "id",
    "version",
    "content_hash",
    "base_version",
    "base_content_hash",
    "typical",
    "covariate_coefficients",
    "omega",
    "residual",
    "provenance",
    "name",
    "value",
    "output",
    "model",
    "sd",
    "none",
    "additive",
    "proportional",
    "exponential",
    "combined",
    "method",
    "data_file",
    "data_sha256",
    "seed",
    "ofv",
    "n_subjects",
    "pheno",
    "neutropenia",
    "1",
    "2",
    "1-fit",
    "a@b",
    "a b",
    "ééééééééééééé",
    "x💊💊💊💊💊💊",
];

fn check_version(text: &str) {
    match from_json("v.json", text, &find) {
        Ok(read) => {
            // What the reader accepted, the writer writes and the reader reads back the same.
            let written = to_json(&read);
            let again = from_json("written.json", &written, &find)
                .unwrap_or_else(|e| panic!("the written version does not read back: {e}"));
            assert_eq!(again.spec().content_hash(), read.spec().content_hash());
            assert!(
                read.parameters()
                    .typical
                    .iter()
                    .chain(&read.parameters().omega)
                    .all(|x| x.is_finite())
            );
        }
        Err(FitError::VersionFile { file, message }) => {
            assert_eq!(file, "v.json");
            assert_says_something(&message);
        }
        Err(FitError::Fitted(FittedError::Invalid {
            model,
            field,
            message,
        })) => {
            assert_says_something(&model);
            assert_says_something(&field);
            assert_says_something(&message);
        }
        Err(other) => panic!("expected an error naming the file or the field, got {other:?}"),
    }
}

#[test]
fn version_seeds_are_valid() {
    let seeds = seeds();
    assert_eq!(seeds.len(), twin_models::catalogue().len());
    for seed in seeds {
        from_json("seed.json", &seed, &find).unwrap();
    }
}

#[test]
fn fuzz_version_arbitrary_bytes() {
    fuzz("fitted-version/bytes", CASES, &bytes_text(300), |text| {
        check_version(text);
    });
}

#[test]
fn fuzz_version_mutated_seeds() {
    fuzz(
        "fitted-version/mutated",
        MUTATED_CASES,
        &json_mutated(&seeds(), VERSION_TOKENS, 3),
        |text| check_version(text),
    );
}

// ---------------------------------------------------------------------------------------------
// Regressions: minimal inputs the fuzz target found, fixed in the reader.

/// Found by `fitted-version/mutated`: a `data_sha256` with a multi-byte character among its
/// first 12 bytes (`5a4a56141fࠀe933…`) panicked while the version's documentation quoted the
/// hash's first 12 bytes. The file is now refused because its content hash no longer matches.
#[test]
fn regression_version_data_hash_with_a_multibyte_character_is_refused() {
    let base = twin_models::find("pheno@1").unwrap();
    let text = to_json(&fitted(base, None));
    let hash = sha256_hex(b"pheno@1");
    assert!(text.contains(&hash));
    let edited = text.replace(&hash, &format!("{}\u{800}{}", &hash[..10], &hash[11..]));
    match from_json("v.json", &edited, &find) {
        Err(FitError::VersionFile { file, message }) => {
            assert_eq!(file, "v.json");
            assert!(message.contains("content hash"), "{message}");
        }
        other => panic!("expected the file to be refused, got {other:?}"),
    }
}
