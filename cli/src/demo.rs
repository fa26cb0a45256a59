//! `twin demo`: one built-in therapy comparison per model, with an `index.html` that links the
//! plots and shows the tables. The README's "run the main job" command.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use twin_engine::model::Model;
use twin_engine::montecarlo::{Arm, CohortOptions, CohortSummary};
use twin_engine::protocol::Protocol;
use twin_engine::regimen::{Regimen, parse_duration};

use crate::Failure;
use crate::files::{ensure_dir, read_text, write_atomic};
use crate::simulate::Study;

/// Arguments of `twin demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output directory.
    #[arg(long, default_value = "out/demo")]
    out: PathBuf,
    /// Virtual patients per comparison (models without variability use at most 20).
    #[arg(long, default_value_t = 1000)]
    patients: u64,
    /// Master seed.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

/// An arm of a demo comparison: a built-in therapy name or a protocol file.
enum DemoArm {
    Therapy(&'static str),
    Protocol(&'static str, &'static str),
}

/// One demo comparison.
struct Comparison {
    model: &'static str,
    question: &'static str,
    arms: &'static [(&'static str, DemoArm)],
    until: &'static str,
    every: &'static str,
}

/// Protocols shipped in `examples/protocols/`, compiled in so the demo runs anywhere.
const DOCETAXEL_DELAY: &str =
    include_str!("../../examples/protocols/docetaxel-100-dose-delay.json");

const COMPARISONS: &[Comparison] = &[
    Comparison {
        model: "neutropenia",
        question: "Docetaxel 75 vs 100 mg/m² every 3 weeks, and 100 mg/m² with a dose-delay and dose-reduction rule: how often does grade-4 neutropenia occur?",
        arms: &[
            ("docetaxel-75", DemoArm::Therapy("docetaxel-75")),
            ("docetaxel-100", DemoArm::Therapy("docetaxel-100")),
            (
                "docetaxel-100-with-rules",
                DemoArm::Protocol(
                    "examples/protocols/docetaxel-100-dose-delay.json",
                    DOCETAXEL_DELAY,
                ),
            ),
        ],
        until: "126d",
        every: "1d",
    },
    Comparison {
        model: "tumour",
        question: "Carboplatin alone vs gemcitabine + carboplatin in platinum-sensitive recurrent ovarian cancer: tumour size, progression and survival.",
        arms: &[
            ("carboplatin-auc5", DemoArm::Therapy("carboplatin-auc5")),
            (
                "gemcitabine-carboplatin",
                DemoArm::Therapy("gemcitabine-carboplatin"),
            ),
        ],
        until: "104w",
        every: "7d",
    },
    Comparison {
        model: "alzheimers",
        question: "Placebo vs an assumed symptomatic and an assumed disease-modifying drug over 18 months: ADAS-Cog change.",
        arms: &[
            ("placebo", DemoArm::Therapy("placebo")),
            ("symptomatic", DemoArm::Therapy("symptomatic")),
            ("disease-modifying", DemoArm::Therapy("disease-modifying")),
        ],
        until: "78w",
        every: "2w",
    },
    Comparison {
        model: "t1d",
        question: "Type 1 diabetes, one day with three meals: basal-bolus therapy with and without pre-meal boluses — time in range and hypoglycaemia.",
        arms: &[],
        until: "24h",
        every: "5min",
    },
    Comparison {
        model: "cml",
        question: "Chronic myeloid leukaemia: imatinib 400 mg daily vs no treatment — BCR-ABL ratio and major molecular response (research model).",
        arms: &[],
        until: "156w",
        every: "7d",
    },
];

/// The arms of a comparison; an empty list means "every built-in therapy of the model".
fn arms_for(
    comparison: &Comparison,
    model: &dyn Model,
) -> Result<(Vec<Arm>, Vec<String>), Failure> {
    let spec = model.spec();
    let mut arms = Vec::new();
    let mut texts = Vec::new();
    if comparison.arms.is_empty() {
        for therapy in &spec.therapies {
            arms.push(Arm {
                name: therapy.name.to_owned(),
                regimen: Regimen::parse(therapy.regimen, spec).map_err(Failure::run)?,
                rules: Vec::new(),
            });
            texts.push(therapy.regimen.to_owned());
        }
    }
    for (name, arm) in comparison.arms {
        let (regimen, rules, text) = match arm {
            DemoArm::Therapy(therapy) => {
                let t = spec
                    .therapies
                    .iter()
                    .find(|t| t.name == *therapy)
                    .ok_or_else(|| {
                        Failure::run(anyhow!("model {} has no therapy {therapy}", spec.id))
                    })?;
                (
                    Regimen::parse(t.regimen, spec).map_err(Failure::run)?,
                    Vec::new(),
                    t.regimen.to_owned(),
                )
            }
            DemoArm::Protocol(path, text) => {
                let p = Protocol::parse(path, text, spec).map_err(Failure::run)?;
                (p.regimen, p.rules, format!("@{path}"))
            }
        };
        arms.push(Arm {
            name: (*name).to_owned(),
            regimen,
            rules,
        });
        texts.push(text);
    }
    Ok((arms, texts))
}

/// Runs `twin demo`.
pub fn run(args: &Args) -> Result<(), Failure> {
    ensure_dir(&args.out).map_err(Failure::input)?;
    let mut sections = String::new();
    for comparison in COMPARISONS {
        let Ok(model) = twin_models::find(comparison.model) else {
            continue;
        };
        let model: &dyn Model = model.as_ref();
        let spec = model.spec();
        let (arms, arm_texts) = arms_for(comparison, model)?;
        if arms.is_empty() {
            continue;
        }
        let until = parse_duration(comparison.until, spec.time_unit).map_err(Failure::run)?;
        let every = parse_duration(comparison.every, spec.time_unit).map_err(Failure::run)?;
        let times = crate::simulate::output_grid(until, every)?;
        let patients = if spec.variability.random_effects.is_empty() && spec.covariates.is_empty() {
            args.patients.min(20)
        } else {
            args.patients
        };
        let options = CohortOptions::new(patients, args.seed, times);
        let study = Study {
            model,
            arms,
            arm_texts,
            options,
            threads: None,
            trajectories: false,
            stem: "summary",
            observations: Vec::new(),
        };
        let dir = args.out.join(spec.id);
        eprintln!(
            "demo: {} ({} patients × {} arms)",
            spec.id,
            patients,
            study.arms.len()
        );
        let summary = study.execute(&dir)?;
        sections.push_str(&section(comparison, &study, &summary, &dir, patients)?);
    }
    let html = page(&sections);
    write_atomic(&args.out.join("index.html"), html.as_bytes()).map_err(Failure::run)?;
    eprintln!("demo: open {}", args.out.join("index.html").display());
    Ok(())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A CSV file as an HTML table (numbers shortened to 4 significant digits for reading).
fn csv_table(path: &Path) -> Result<String, Failure> {
    let text = read_text(path).map_err(Failure::run)?;
    let mut html = String::from("<table>\n");
    for (i, line) in text.lines().enumerate() {
        let cells = split_csv(line);
        html.push_str("<tr>");
        for cell in cells {
            let shown = match cell.parse::<f64>() {
                Ok(v) if i > 0 && v.fract().abs() > 0.0 => format!("{v:.4}"),
                _ => cell.clone(),
            };
            let tag = if i == 0 { "th" } else { "td" };
            let _ = write!(html, "<{tag}>{}</{tag}>", escape(&shown));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    Ok(html)
}

/// Splits one CSV line, honouring double quotes.
fn split_csv(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => cells.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    cells.push(cell);
    cells
}

fn section(
    comparison: &Comparison,
    study: &Study<'_>,
    summary: &CohortSummary,
    dir: &Path,
    patients: u64,
) -> Result<String, Failure> {
    let spec = study.model.spec();
    let mut html = String::new();
    let _ = writeln!(
        html,
        "<section id=\"{}\">\n<h2>{} <small>v{} · {}</small></h2>",
        spec.id,
        escape(spec.description),
        spec.version,
        spec.id
    );
    let _ = writeln!(
        html,
        "<p class=\"question\">{}</p>",
        escape(comparison.question)
    );
    let _ = writeln!(
        html,
        "<p class=\"meta\">{patients} virtual patients per arm, paired across arms (same random effects). Evidence: {}. Content hash <code>{}</code>. Details: <code>twin models --describe {}</code>.</p>",
        escape(spec.evidence),
        &spec.content_hash()[..16],
        spec.id
    );
    html.push_str("<ul class=\"arms\">");
    for (arm, text) in summary.arms.iter().zip(&study.arm_texts) {
        let _ = write!(
            html,
            "<li><b>{}</b>: <code>{}</code> ({} patients simulated, {} failed)</li>",
            escape(&arm.name),
            escape(text),
            arm.n_ok,
            arm.n_failed
        );
    }
    html.push_str("</ul>\n<div class=\"figures\">");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Failure::run(anyhow!("listing {}: {e}", dir.display())))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".svg"))
        .collect();
    names.sort();
    for name in names {
        let _ = write!(
            html,
            "<figure><a href=\"{0}/{1}\"><img src=\"{0}/{1}\" alt=\"{1}\"></a></figure>",
            spec.id, name
        );
    }
    html.push_str("</div>\n");
    for (file, title) in [
        ("events.csv", "Events"),
        ("outcomes.csv", "Outcomes"),
        (
            "differences.csv",
            "Paired differences against the first arm",
        ),
    ] {
        let table = csv_table(&dir.join(file))?;
        if table.matches("<tr>").count() > 1 {
            let _ = write!(
                html,
                "<h3>{title} <small><a href=\"{}/{file}\">{file}</a></small></h3>\n{table}",
                spec.id
            );
        }
    }
    let _ = writeln!(
        html,
        "<p class=\"files\">All files: <a href=\"{0}/summary.csv\">summary.csv</a> · <a href=\"{0}/summary.json\">summary.json</a></p>\n</section>",
        spec.id
    );
    Ok(html)
}

fn page(sections: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>twinsim demo</title>\n<style>\n\
body{{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}}\n\
h2 small,h3 small{{font-weight:normal;color:#666;font-size:.7em}} .question{{font-size:1.1em}} .meta{{color:#555}}\n\
.figures{{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:1em}} figure{{margin:0}} img{{width:100%;border:1px solid #ddd}}\n\
table{{border-collapse:collapse;font-size:.85em;margin:.5em 0 1.5em}} td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:right}} th{{background:#f3f3f3}}\n\
section{{border-top:2px solid #ddd;padding-top:1em;margin-top:2em}}\n</style></head><body>\n\
<h1>twinsim demo: therapy comparisons on virtual patients</h1>\n\
<p>Each section simulates a published model (see its evidence line and <code>twin models --describe</code>) under alternative therapies. Bands are the 50 % and 90 % ranges over virtual patients; events carry Wilson 95 % intervals; paired differences compare each arm with the first on the same patients. Numbers marked [A] in a model's description are assumptions.</p>\n\
{sections}\n</body></html>\n"
    )
}
