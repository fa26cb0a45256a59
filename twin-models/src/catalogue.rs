//! The catalogue: every released model version, looked up by `id` or `id@version`.

use twin_engine::model::Model;

use crate::pk::{
    OneCompartment, OneCompartmentMm, ThreeCompartment, TwoCompartment, TwoCompartmentMm,
};

/// Why a model could not be found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// No model has this id.
    #[error("unknown model '{id}'; known models: {known}")]
    UnknownModel {
        /// The id asked for.
        id: String,
        /// Comma-separated known ids.
        known: String,
    },
    /// The model exists but not in this version.
    #[error("model '{id}' has no version '{version}'; released versions: {known}")]
    UnknownVersion {
        /// The model id.
        id: String,
        /// The version asked for.
        version: String,
        /// Comma-separated released versions.
        known: String,
    },
}

/// Every released model version, in catalogue order.
#[must_use]
pub fn catalogue() -> Vec<Box<dyn Model>> {
    vec![
        Box::new(OneCompartment::new()),
        Box::new(TwoCompartment::new()),
        Box::new(ThreeCompartment::new()),
        Box::new(OneCompartmentMm::new()),
        Box::new(TwoCompartmentMm::new()),
        Box::new(crate::pheno::PhenoV1::new()),
        Box::new(crate::pheno::PhenoV2::new()),
        Box::new(crate::neutropenia::KloftDocetaxelV1::new()),
        Box::new(crate::neutropenia::KloftDocetaxelV2::new()),
        Box::new(crate::neutropenia::FribergDocetaxelV1::new()),
        Box::new(crate::neutropenia::FribergPaclitaxelV1::new()),
        Box::new(crate::tumour::ZecchinOvarianV1::new()),
        Box::new(crate::alzheimers::ConradoAdasCogV1::new()),
        Box::new(crate::t1d::UvaPadovaV1::new()),
        Box::new(crate::cml::MichorImatinibV1::new()),
    ]
}

/// Finds `id` (latest version) or `id@version`.
///
/// # Errors
/// [`CatalogueError`] listing the known ids or versions.
pub fn find(name: &str) -> Result<Box<dyn Model>, CatalogueError> {
    let (id, version) = match name.split_once('@') {
        Some((id, version)) => (id.trim(), Some(version.trim())),
        None => (name.trim(), None),
    };
    let mut versions: Vec<Box<dyn Model>> = catalogue()
        .into_iter()
        .filter(|m| m.spec().id.eq_ignore_ascii_case(id))
        .collect();
    if versions.is_empty() {
        let mut known: Vec<&str> = Vec::new();
        let all = catalogue();
        for m in &all {
            if !known.contains(&m.spec().id) {
                known.push(m.spec().id);
            }
        }
        return Err(CatalogueError::UnknownModel {
            id: id.to_owned(),
            known: known.join(", "),
        });
    }
    match version {
        None => Ok(versions.remove(versions.len() - 1)),
        Some(v) => {
            let known: Vec<String> = versions
                .iter()
                .map(|m| m.spec().version.to_owned())
                .collect();
            let position = versions.iter().position(|m| m.spec().version == v);
            match position {
                Some(i) => Ok(versions.remove(i)),
                None => Err(CatalogueError::UnknownVersion {
                    id: id.to_owned(),
                    version: v.to_owned(),
                    known: known.join(", "),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_models_by_id_and_version_and_explains_misses() {
        assert_eq!(find("pk-2cmt").unwrap().spec().id, "pk-2cmt");
        assert_eq!(find("PK-2CMT@1").unwrap().spec().version, "1");
        let unknown = find("pk-9cmt").err().unwrap().to_string();
        assert!(
            unknown.contains("pk-9cmt") && unknown.contains("pk-1cmt"),
            "{unknown}"
        );
        let version = find("pk-1cmt@7").err().unwrap().to_string();
        assert!(
            version.contains("'7'") && version.contains("released versions: 1"),
            "{version}"
        );
    }
}
