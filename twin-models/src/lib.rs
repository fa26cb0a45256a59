//! The twinsim model catalogue: published pharmacokinetic and disease models, each a type that
//! implements [`twin_engine::Model`] and declares its states, parameters (typical value, unit,
//! bounds and the publication each number comes from), dosing modifiers and variability.
//!
//! This crate holds model equations and parameter tables only. It has no solver code (the engine
//! integrates every model, or chains a model's own closed form), does no IO and never reads the
//! clock or the OS entropy. A released model version is a type: a changed structure or parameter
//! set is a new type, and the old one stays so that evaluations can compare them.
//!
//! Start with [`pk`]: one-, two- and three-compartment PK with a depot (NONMEM ADVAN2/4/12
//! numbering), with exact closed-form propagation, and their Michaelis–Menten variants.
//!
//! ```
//! use twin_engine::Model;
//! use twin_models::pk::TwoCompartment;
//!
//! let model = TwoCompartment::new();
//! assert_eq!(model.spec().id, "pk-2cmt");
//! let p = model.spec().typical_parameters();
//! // 100 mg bolus into CENTRAL (state 1), then 12 h without input.
//! let mut amounts = [0.0, 100.0, 0.0];
//! assert!(model.advance_exact(&p, &mut amounts, &[0.0; 3], 12.0));
//! let mut cp = [0.0];
//! model.outputs(12.0, &amounts, &p, &mut cp);
//! assert!((cp[0] - 0.507_914).abs() < 5e-7); // docs/models/pk.md §Check numbers.
//! ```

pub mod alzheimers;
pub mod cml;
pub mod fitted;
pub mod neutropenia;
pub mod pheno;
pub mod pk;
pub mod t1d;
pub mod tumour;

mod catalogue;

pub use catalogue::{CatalogueError, catalogue, find};
