// Collects the evaluation verdicts that the widget shows next to each model version.
//
//   node wasm/tools/verdicts.mjs [REPORTS_DIR] > verdicts.json
//
// Every file named report.json under REPORTS_DIR (the output of `twin eval`) contributes one
// entry when it states, at its top level, `verdict` (a string such as "PASS" or "FAIL") and a
// `model` object with `id`, `version` and `hash` (the model's content hash); `report_id` is
// copied when present. A report without these fields is skipped with a warning on stderr:
// nothing is ever guessed. Without REPORTS_DIR (or with no report in it) the bundle is empty and
// the page says "no evaluation report bundled". The output is sorted, so the same reports give
// the same bytes.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

function reportFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...reportFiles(path));
    else if (name === 'report.json') out.push(path);
  }
  return out;
}

const dir = process.argv[2];
const reports = [];
if (dir) {
  for (const path of reportFiles(dir)) {
    const where = relative(dir, path);
    let report;
    try {
      report = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      console.error(`warning: ${path}: not JSON (${err.message}); skipped`);
      continue;
    }
    const model = report?.model;
    const missing = [
      typeof report?.verdict === 'string' ? null : 'verdict (a string)',
      typeof model?.id === 'string' ? null : 'model.id',
      typeof model?.version === 'string' ? null : 'model.version',
      typeof model?.hash === 'string' ? null : 'model.hash',
    ].filter(Boolean);
    if (missing.length) {
      console.error(`warning: ${path}: no ${missing.join(', ')}; skipped`);
      continue;
    }
    reports.push({
      model: model.id,
      version: model.version,
      hash: model.hash,
      verdict: report.verdict,
      report_id: typeof report.report_id === 'string' ? report.report_id : null,
      path: where,
    });
  }
}
reports.sort((a, b) => (a.model + a.version + a.path).localeCompare(b.model + b.version + b.path));
process.stdout.write(`${JSON.stringify({ schema: 'twinsim.widget.verdicts/1', reports }, null, 2)}\n`);
