//! End-to-end tests of `twin eval` and `twin eval diff` on the pheno example
//! (`examples/eval/pheno/plan.toml`, real data from `testdata/third_party/nlmixr2data/pheno_sd.csv`):
//! byte-identical reports on 1 and 2 threads, exit code 3 and the failed criterion named on a FAIL
//! verdict, exit code 2 and nothing written on bad input, `diff`, and the HTML report rendered by
//! headless Chromium (verdict and figures).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{scratch, stderr, stdout, twin};

fn example_plan() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/eval/pheno/plan.toml"
    ))
}

/// The example plan's text with its cohort path made absolute, so it can run from another
/// directory, and `edit` applied.
fn plan_in(dir: &Path, name: &str, edit: &dyn Fn(String) -> String) -> PathBuf {
    let data = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/third_party/nlmixr2data/pheno_sd.csv"
    ));
    let text = std::fs::read_to_string(example_plan()).unwrap().replace(
        "../../../testdata/third_party/nlmixr2data/pheno_sd.csv",
        &data.display().to_string(),
    );
    let path = dir.join(name);
    std::fs::write(&path, edit(text)).unwrap();
    path
}

/// A change to the plan text.
type Edit = Box<dyn Fn(String) -> String>;

fn eval(plan: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "eval",
        "--plan",
        plan.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    twin(&args)
}

#[test]
fn the_example_gives_byte_identical_reports_on_one_and_two_threads() {
    let dir = scratch("eval_identical");
    let one = eval(&example_plan(), &dir.join("one"), &["--threads", "1"]);
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
    assert!(stdout(&one).starts_with("PASS: "), "{}", stdout(&one));
    let two = eval(&example_plan(), &dir.join("two"), &["--threads", "2"]);
    assert_eq!(two.status.code(), Some(0), "{}", stderr(&two));
    for file in ["report.json", "report.html"] {
        let a = std::fs::read(dir.join("one").join(file)).unwrap();
        let b = std::fs::read(dir.join("two").join(file)).unwrap();
        assert!(a == b, "{file} differs between runs");
    }
    // Nothing but the two reports is left in the output directory.
    let mut names: Vec<String> = std::fs::read_dir(dir.join("one"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["report.html", "report.json"]);
}

#[test]
fn a_failed_criterion_exits_3_and_names_it() {
    let dir = scratch("eval_fail");
    let plan = plan_in(&dir, "plan.toml", &|text| {
        text.replace(
            "[[criteria]]\nrule = \"tost(crps_diff, 0.5)\"",
            "[[criteria]]\nname = \"equivalence within 0.001 mg/L\"\nrule = \"tost(crps_diff, 0.001)\"",
        )
    });
    let out_dir = dir.join("out");
    let out = eval(&plan, &out_dir, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("verdict FAIL: equivalence within 0.001 mg/L"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).starts_with("FAIL: "), "{}", stdout(&out));
    let json = std::fs::read_to_string(out_dir.join("report.json")).unwrap();
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["body"]["verdict"]["status"], "FAIL");
    assert_eq!(
        report["body"]["verdict"]["failed_criteria"],
        serde_json::json!(["equivalence within 0.001 mg/L"])
    );
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.contains("Verdict: FAIL"));
}

#[test]
fn bad_input_exits_2_names_the_problem_and_writes_nothing() {
    let dir = scratch("eval_bad");
    let no_dv = dir.join("no_dv.csv");
    std::fs::write(&no_dv, "ID,TIME,AMT,WT,APGR\n1,0,25,1.4,7\n1,2,0,1.4,7\n").unwrap();
    let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
        (
            "unknown_version.toml",
            Box::new(|t: String| t.replace("candidate = \"pheno@2\"", "candidate = \"pheno@7\"")),
            vec![
                "unknown_version.toml: models.candidate",
                "no version '7'",
                "1, 2",
            ],
        ),
        (
            "missing_column.toml",
            Box::new(move |t: String| {
                let start = t.find("evaluation = \"").unwrap() + "evaluation = \"".len();
                let end = start + t[start..].find('"').unwrap();
                format!("{}{}{}", &t[..start], no_dv.display(), &t[end..])
            }),
            vec!["no_dv.csv: has no column DV"],
        ),
        (
            "misspelled_metric.toml",
            Box::new(|t: String| t.replace("rule = \"crps <= 4.0\"", "rule = \"crsp <= 4.0\"")),
            vec![
                "misspelled_metric.toml: criteria[1].rule",
                "unknown metric 'crsp'; did you mean 'crps'?",
            ],
        ),
        (
            "misspelled_key.toml",
            Box::new(|t: String| t.replace("draws = 200", "drwas = 200")),
            vec!["misspelled_key.toml", "unknown field `drwas`"],
        ),
    ];
    for (name, edit, needles) in cases {
        let plan = plan_in(&dir, name, &*edit);
        let out_dir = dir.join(format!("out-{name}"));
        let out = eval(&plan, &out_dir, &[]);
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {message}");
        assert!(!message.contains("panicked"), "{name}: {message}");
        for needle in needles {
            assert!(
                message.contains(needle),
                "{name}: '{needle}' not in '{message}'"
            );
        }
        assert!(!out_dir.exists(), "{name}: output written for bad input");
    }
}

#[test]
fn diff_states_what_changed_and_the_supersedes_link() {
    let dir = scratch("eval_diff");
    let first = eval(&example_plan(), &dir.join("a"), &[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let a_report = dir.join("a").join("report.json");
    let plan = plan_in(&dir, "plan-b.toml", &|text| {
        text.replace(
            "[models]\n",
            &format!("[models]\nsupersedes = \"{}\"\n", a_report.display()),
        )
        .replace("crps <= 4.0", "crps <= 3.0")
    });
    let second = eval(&plan, &dir.join("b"), &[]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    let b_report = dir.join("b").join("report.json");
    let out = twin(&[
        "eval",
        "diff",
        a_report.to_str().unwrap(),
        b_report.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        "B supersedes A",
        "criterion added: crps <= 3.0",
        "criterion removed: crps <= 4.0",
        "plan: plan.toml",
    ] {
        assert!(text.contains(needle), "'{needle}' not in:\n{text}");
    }
    // A file that is not a report is bad input.
    let out = twin(&[
        "eval",
        "diff",
        a_report.to_str().unwrap(),
        plan.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("plan-b.toml: is not JSON"),
        "{}",
        stderr(&out)
    );
}

/// Debian's Chromium (`apt-get install chromium`, see docs/toolchain.md), or `$CHROMIUM`.
fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.exists(),
        "headless Chromium is needed to check report.html: install it (docs/toolchain.md) or set \
         CHROMIUM"
    );
    path
}

#[test]
fn headless_chromium_renders_the_verdict_and_the_figures() {
    let dir = scratch("eval_chromium");
    let out = eval(&example_plan(), &dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A probe page loads the report in a frame and writes what the browser laid out: the verdict
    // text, the number of SVG figures, their rendered sizes and how many contain drawn shapes.
    let probe = dir.join("probe.html");
    std::fs::write(
        &probe,
        r#"<!DOCTYPE html><html><body><pre id="out">pending</pre>
<iframe id="f" src="report.html" style="width:1100px;height:800px"></iframe>
<script>
document.getElementById('f').addEventListener('load', function () {
  var d = this.contentDocument;
  var svgs = Array.prototype.slice.call(d.querySelectorAll('figure svg'));
  var laid = svgs.filter(function (s) {
    var r = s.getBoundingClientRect(); return r.width > 400 && r.height > 200; }).length;
  var drawn = svgs.filter(function (s) {
    return s.querySelectorAll('polygon,polyline,path,rect,circle').length > 3; }).length;
  var v = d.querySelector('#verdict .verdict');
  document.getElementById('out').textContent = 'VERDICT=' + (v ? v.textContent : 'none') +
    '|SVGS=' + svgs.length + '|LAID=' + laid + '|DRAWN=' + drawn + '|END';
});
</script></body></html>"#,
    )
    .unwrap();
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--allow-file-access-from-files",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", probe.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    let start = dom
        .find("VERDICT=")
        .unwrap_or_else(|| panic!("probe did not run:\n{dom}"));
    let probe_text = &dom[start..start + dom[start..].find("|END").unwrap()];
    println!("chromium: {probe_text}");
    assert!(
        probe_text.starts_with("VERDICT=Verdict: PASS"),
        "{probe_text}"
    );
    let count = |key: &str| -> usize {
        probe_text
            .split('|')
            .find_map(|p| p.strip_prefix(key))
            .unwrap()
            .parse()
            .unwrap()
    };
    // PIT histogram, coverage, a pcVPC per version, paired CRPS differences, median shifts.
    assert_eq!(count("SVGS="), 6, "{probe_text}");
    assert_eq!(
        count("LAID="),
        6,
        "every figure has a rendered size: {probe_text}"
    );
    assert_eq!(
        count("DRAWN="),
        6,
        "every figure draws shapes: {probe_text}"
    );
}
