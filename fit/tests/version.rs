//! Fitted model versions as files: what `twin fit` writes reads back to the same model (same
//! content hash, same numbers), and a file edited by hand, or fitted from another base, is
//! refused with the file and the reason.

use twin_engine::Model;
use twin_engine::model::sha256_hex;
use twin_engine::population::ResidualError;
use twin_fit::version::{from_json, to_json};
use twin_models::fitted::{Fitted, FittedParameters, Provenance};

fn find(name: &str) -> Result<Box<dyn Model>, String> {
    twin_models::find(name).map_err(|e| e.to_string())
}

fn fitted(version: Option<String>) -> Fitted {
    let base = twin_models::find("pheno@1").unwrap();
    let mut parameters = FittedParameters::from_spec(
        base.spec(),
        Provenance {
            method: "FOCE-I".to_owned(),
            data_file: "pheno_sd.csv".to_owned(),
            data_sha256: sha256_hex(b"data"),
            seed: None,
            ofv: 586.276,
            ofv_includes_constant: false,
            n_subjects: 59,
            n_observations: 155,
            estimated: vec!["CL".to_owned(), "OMEGA(CL)".to_owned()],
            fixed: vec!["CL~WT=1".to_owned()],
            tool: "test".to_owned(),
        },
    );
    parameters.version = version;
    parameters.typical[0] = 0.0051;
    parameters.omega[0] = 0.04;
    parameters.residual[0] = ResidualError::Proportional { sd: 0.12 };
    Fitted::new(base, parameters).unwrap()
}

#[test]
fn sha256_matches_the_standard_test_vector() {
    // FIPS 180-2, appendix B.1: SHA-256("abc").
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn a_written_version_reads_back_to_the_same_model() {
    for version in [None, Some("refit-2025".to_owned())] {
        let original = fitted(version);
        let text = to_json(&original);
        let read = from_json("v.json", &text, &find).unwrap();
        assert_eq!(read.spec().version, original.spec().version);
        assert_eq!(read.spec().content_hash(), original.spec().content_hash());
        // The file records the label, derived or chosen; everything else is as written.
        let mut expected = original.parameters().clone();
        expected.version = Some(original.spec().version.to_owned());
        assert_eq!(read.parameters(), &expected);
        // Writing the read version gives the same bytes.
        assert_eq!(to_json(&read), text);
    }
    let derived = fitted(None);
    assert!(derived.spec().version.starts_with("1-fit-"));
    assert_ne!(
        derived.spec().content_hash(),
        twin_models::find("pheno@1").unwrap().spec().content_hash()
    );
}

#[test]
fn edited_or_foreign_files_are_refused_with_the_reason() {
    let text = to_json(&fitted(None));
    let refuse = |text: &str, needle: &str| {
        let err = from_json("v.json", text, &find).unwrap_err().to_string();
        assert!(err.contains("v.json") || err.contains("pheno"), "{err}");
        assert!(err.contains(needle), "'{needle}' not in {err}");
    };
    // A number changed by hand.
    refuse(&text.replacen("0.0051", "0.0052", 1), "content hash");
    // Another base model (its hash is recorded).
    let base_hash = twin_models::find("pheno@1").unwrap().spec().content_hash();
    refuse(&text.replace(&base_hash, &"0".repeat(64)), "another build");
    // Not JSON of this format.
    refuse("{\"format\": 1}", "line 1");
    refuse(
        &text.replacen("\"omega\"", "\"omegas\"", 1),
        "unknown field",
    );
    // A base that is not in the catalogue.
    refuse(
        &text.replacen("\"base_version\": \"1\"", "\"base_version\": \"7\"", 1),
        "pheno@7",
    );
}
