//! `twin models`: the catalogue, and one model's full description.

use std::fmt::Write as _;

use twin_engine::model::{Model, OutcomeKind};

use crate::Failure;

/// Arguments of `twin models`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Describe one model: equations, parameters with units and sources, assumptions.
    #[arg(long, value_name = "ID[@VERSION]")]
    describe: Option<String>,
}

/// Runs `twin models`.
pub fn run(args: &Args) -> Result<(), Failure> {
    match &args.describe {
        Some(name) => {
            let model = crate::registry::resolve_model(name).map_err(Failure::input)?;
            print!("{}", describe(model.as_ref()));
        }
        None => {
            let (fitted, warnings) = crate::registry::fitted_models();
            for warning in warnings {
                eprintln!("warning: {warning}");
            }
            let mut models = twin_models::catalogue();
            models.extend(fitted);
            print!("{}", list(&models));
        }
    }
    Ok(())
}

/// One line per released model version.
fn list(models: &[Box<dyn Model>]) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:<36} {:<7} {:<14} {:<24} {:<44} evidence",
        "id", "version", "hash", "outputs", "therapies"
    );
    for model in models {
        let spec = model.spec();
        let outputs: Vec<&str> = spec.outputs.iter().map(|o| o.name).collect();
        let therapies: Vec<&str> = spec.therapies.iter().map(|t| t.name).collect();
        let _ = writeln!(
            text,
            "{:<36} {:<7} {:<14} {:<24} {:<44} {}",
            spec.id,
            spec.version,
            &spec.content_hash()[..12],
            outputs.join(","),
            therapies.join(","),
            spec.evidence
        );
    }
    text
}

/// Everything a reviewer needs to know about one model version.
/// The repository page documenting model `id`: `docs/models/FAMILY.md`, where the family is the
/// id up to its first `-` (`pk-2cmt-mm` → `pk`); fitted versions keep their base model's id.
fn documentation_page(id: &str) -> String {
    let family = id.split('-').next().unwrap_or(id);
    format!("docs/models/{family}.md")
}

fn describe(model: &dyn Model) -> String {
    let spec = model.spec();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{} version {} — {}",
        spec.id, spec.version, spec.description
    );
    let _ = writeln!(t, "content hash (SHA-256): {}", spec.content_hash());
    let _ = writeln!(t, "evidence: {}", spec.evidence);
    let _ = writeln!(
        t,
        "documentation: {} (equations, parameter sources, assumptions)",
        documentation_page(spec.id)
    );
    let _ = writeln!(t, "time unit: {}\n", spec.time_unit.symbol());
    let _ = writeln!(t, "{}\n", spec.documentation.trim_end());
    let _ = writeln!(t, "States:");
    for (i, s) in spec.states.iter().enumerate() {
        let _ = writeln!(t, "  CMT {:<3} {:<12} {}", i + 1, s.name, s.unit);
    }
    let _ = writeln!(t, "\nParameters (typical value, unit, bounds, source):");
    for p in &spec.parameters {
        let _ = writeln!(
            t,
            "  {:<10} {:<12} {:<14} [{}, {}]  {}",
            p.name, p.typical, p.unit, p.lower, p.upper, p.source
        );
    }
    let v = &spec.variability;
    if !v.random_effects.is_empty() {
        let n = v.random_effects.len();
        let _ = writeln!(t, "\nRandom effects (Ω, variances; rows in this order):");
        for (i, effect) in v.random_effects.iter().enumerate() {
            let row: Vec<String> = (0..n).map(|j| format!("{}", v.omega[i * n + j])).collect();
            let _ = writeln!(
                t,
                "  η{} on {:<8} {:?}  [{}]",
                i + 1,
                spec.parameters[effect.parameter].name,
                effect.transform,
                row.join(", ")
            );
        }
    }
    if !spec.covariates.is_empty() {
        let _ = writeln!(t, "\nCovariates (reference, range, interpolation):");
        for c in &spec.covariates {
            let _ = writeln!(
                t,
                "  {:<8} {:<8} {} [{}, {}] {:?}",
                c.name, c.unit, c.reference, c.lower, c.upper, c.interpolation
            );
        }
    }
    let _ = writeln!(t, "\nOutputs (residual error):");
    for (i, o) in spec.outputs.iter().enumerate() {
        let residual = v
            .residual
            .get(i)
            .map_or("none".to_owned(), |r| format!("{r:?}"));
        let _ = writeln!(t, "  {:<14} {:<12} {}", o.name, o.unit, residual);
    }
    if !spec.outcomes.is_empty() {
        let _ = writeln!(t, "\nOutcomes:");
        for o in &spec.outcomes {
            let kind = match o.kind {
                OutcomeKind::Value => "value",
                OutcomeKind::TimeToEvent => "time to event",
            };
            let _ = writeln!(
                t,
                "  {:<18} {:<14} {:<8} {}",
                o.name, kind, o.unit, o.description
            );
        }
    }
    if !spec.therapies.is_empty() {
        let _ = writeln!(t, "\nTherapies:");
        for th in &spec.therapies {
            let _ = writeln!(t, "  {:<24} {:<40} {}", th.name, th.regimen, th.description);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_released_model_has_its_documentation_page() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for model in twin_models::catalogue() {
            let page = documentation_page(model.spec().id);
            assert!(
                root.join(&page).is_file(),
                "{}: {page} is missing",
                model.spec().id
            );
            assert!(describe(model.as_ref()).contains(&page));
        }
    }
}
