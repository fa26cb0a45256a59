// End-to-end test of the clinician widget in headless Debian Chromium (playwright-core, no
// browser download). scripts/test-wasm.sh builds the site into target/widget-site and the
// native forecast of tests/fixtures/neutropenia-request.json into
// target/widget-artifacts/native-forecast.json, then runs `node --test` here.
//
// The site is served from 127.0.0.1 by a file server in this process, which records every
// request, so the test can show that the page makes none after it has loaded.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const SITE = resolve(process.env.TWIN_WIDGET_SITE ?? join(root, 'target/widget-site'));
const ARTIFACTS = resolve(process.env.TWIN_WIDGET_ARTIFACTS ?? join(root, 'target/widget-artifacts'));
const REQUEST = readFileSync(join(root, 'wasm/tests/fixtures/neutropenia-request.json'), 'utf8');
const NATIVE = join(ARTIFACTS, 'native-forecast.json');

// docs/toolchain.md: Debian's chromium with these flags.
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

let server;
let base;
const served = [];
let browser;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    served.push(path);
    const file = normalize(join(SITE, path.endsWith('/') ? `${path}index.html` : path));
    if (!file.startsWith(SITE + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = readFileSync(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** A fresh page at 1366 × 768 with the widget loaded, recording requests and page errors. */
async function openWidget() {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const requests = [];
  const errors = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
  return { context, page, requests, errors };
}

/** Picks version 1 of the neutropenia model, the version of the fixture request. */
async function pickNeutropenia(page) {
  await page.selectOption('#model', 'neutropenia@1');
  await page.waitForFunction(() => document.querySelector('#model-version').textContent === 'neutropenia version 1');
}

/** The patient of cli/tests/cli.rs (NEUTROPENIA_PATIENT), typed into the form. */
async function enterPatient(page) {
  for (const [name, value] of Object.entries({ SEX: '2', PERF: '1', PC: '0', AAG: '1.5', BSA: '1.7' })) {
    await page.fill(`#cov-${name}`, value);
  }
  const dose = page.locator('#doses tr[data-row="dose"]').first();
  await dose.locator('[data-role="time"]').fill('0');
  await dose.locator('[data-role="amount"]').fill('170');
  await dose.locator('[data-role="cmt"]').selectOption('1');
  await dose.locator('[data-role="duration"]').fill('1');
  const observations = [['0', '5.4'], ['96', '2.1'], ['168', '0.45'], ['336', '4.8']];
  for (let i = 0; i < observations.length; i++) {
    if (i > 0) await page.click('#add-observation');
    const row = page.locator('#observations tr[data-row="observation"]').nth(i);
    await row.locator('[data-role="time"]').fill(observations[i][0]);
    await row.locator('[data-role="value"]').fill(observations[i][1]);
  }
  await page.fill('#from', '21d');
  await page.fill('#until', '42d');
  await page.fill('#every', '1d');
  await page.fill('#draws', '500');
  await page.fill('#seed', '1');
}

async function compare(page) {
  await page.click('#run');
  await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: 120_000 });
}

test('a clinician compares docetaxel 75 and 100 mg/m2 for one patient, and nothing leaves the page', async () => {
  const { context, page, requests, errors } = await openWidget();
  const servedAtLoad = served.length;
  const requestsAtLoad = requests.length;
  assert.ok(requests.every((url) => url.startsWith(`${base}/`)), `only the page's own files: ${requests}`);
  assert.match(await page.textContent('#privacy'), /Computed on this computer/);

  await pickNeutropenia(page);
  await enterPatient(page);
  const names = await page.$$eval('#therapies [data-role="name"]', (inputs) => inputs.map((i) => i.value));
  assert.deepEqual(names, ['docetaxel-75', 'docetaxel-100']);
  assert.equal(await page.inputValue('#therapy-1-regimen'), '100 mg/m2 iv over 1h q3w x6');
  // No evaluation report is bundled by the test build: the page says so, it invents nothing.
  assert.equal(await page.textContent('#model-verdict'), 'no evaluation report bundled');

  await compare(page);
  assert.equal(await page.getAttribute('body', 'data-state'), 'done', await page.textContent('#run-msg'));
  const ms = Number(await page.getAttribute('#status', 'data-ms'));

  // Charts: one per therapy, each with both bands, the median and the four observations.
  const charts = await page.$$eval('figure.chart', (figures) =>
    figures.map((f) => ({
      therapy: f.dataset.therapy,
      band90: f.querySelectorAll('polygon.band90').length,
      band50: f.querySelectorAll('polygon.band50').length,
      medianPoints: f.querySelector('polyline.median').getAttribute('points').split(' ').length,
      observations: f.querySelectorAll('circle.obs').length,
    })),
  );
  assert.deepEqual(
    charts.map((c) => c.therapy),
    ['docetaxel-75', 'docetaxel-100'],
  );
  for (const c of charts) {
    assert.equal(c.band90, 1);
    assert.equal(c.band50, 1);
    assert.equal(c.medianPoints, 64, 'one point per day from 0 to 63 d (504 + 1008 h)');
    assert.equal(c.observations, 4);
  }

  // Tables: probabilities with their intervals, and the higher dose more toxic.
  const cell = async (outcome, therapy, attribute) =>
    Number(await page.getAttribute(`td[data-outcome="${outcome}"][data-therapy="${therapy}"][data-${attribute}]`, `data-${attribute}`));
  const grade4 = {};
  for (const therapy of ['docetaxel-75', 'docetaxel-100']) {
    const [p, lo, hi] = [await cell('grade4', therapy, 'p'), await cell('grade4', therapy, 'lo'), await cell('grade4', therapy, 'hi')];
    assert.ok(p >= 0 && p <= 1 && lo <= p && p <= hi && lo >= 0 && hi <= 1, `${therapy}: ${lo} ≤ ${p} ≤ ${hi}`);
    grade4[therapy] = p;
    // Nadir ANC of a patient on docetaxel: between 0.01 and 6 ×10⁹/L (baseline here 5.4).
    const nadir = await cell('nadir_anc', therapy, 'median');
    assert.ok(nadir > 0.01 && nadir < 6, `median nadir ANC ${nadir}`);
  }
  assert.ok(grade4['docetaxel-100'] > grade4['docetaxel-75'], `P(grade 4): ${JSON.stringify(grade4)}`);
  // The same patient and request as the fixture, entered through the form instead of CSV text:
  // the probabilities equal the native computation's.
  const native = JSON.parse(readFileSync(NATIVE, 'utf8'));
  for (const therapy of native.therapies) {
    const expected = therapy.outcomes.find((o) => o.name === 'grade4').probability;
    assert.equal(grade4[therapy.name], expected, `${therapy.name}: form and native CSV agree`);
  }
  const greater = await cell('nadir_anc', 'docetaxel-100', 'greater');
  assert.ok(greater >= 0 && greater < 0.05, `P(nadir under 100 > nadir under 75) = ${greater}`);

  await page.screenshot({ path: join(ARTIFACTS, 'widget.png'), fullPage: true });
  await page.screenshot({ path: join(ARTIFACTS, 'widget-viewport.png') });
  assert.equal(served.length, servedAtLoad, `requests after load: ${served.slice(servedAtLoad)}`);
  assert.equal(requests.length, requestsAtLoad, `requests after load: ${requests.slice(requestsAtLoad)}`);
  assert.deepEqual(errors, []);
  console.log(`widget: forecast through the page (worker, first call, 2 therapies x 500 draws): ${ms.toFixed(0)} ms`);
  await context.close();
});

test('bad input shows a message next to the field and nothing crashes', async () => {
  const { context, page, errors } = await openWidget();
  await pickNeutropenia(page);
  await enterPatient(page);

  // An impossible covariate and an empty one: checked against the model's ranges in the page.
  await page.fill('#cov-AAG', '99');
  await page.fill('#cov-BSA', '');
  await page.click('#run');
  assert.equal(await page.textContent('#cov-AAG-msg'), 'Must be between 0.2 and 4.');
  assert.equal(await page.getAttribute('#cov-AAG', 'aria-invalid'), 'true');
  assert.equal(await page.textContent('#cov-BSA-msg'), 'Enter a value.');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'cov-AAG', 'focus moves to the first problem');
  await page.fill('#cov-AAG', '1.5');
  await page.fill('#cov-BSA', '1.7');

  // A regimen the engine rejects: its message (the CLI's) next to that therapy's regimen.
  await page.fill('#therapy-1-regimen', '100 furlongs');
  await compare(page);
  assert.match(await page.textContent('#therapy-1-regimen-msg'), /^invalid regimen '100 furlongs': /);
  await page.fill('#therapy-1-regimen', '100 mg/m2 iv over 1h q3w x6');

  // A malformed CSV (a letter in DV on line 4) and an out-of-range covariate in a CSV: the
  // engine's messages with file and line, next to the CSV field.
  await page.check('input[name="patient-mode"][value="csv"]');
  const csv = JSON.parse(REQUEST).patient_csv;
  await page.fill('#csv-text', csv.replace('7,96,2.1', '7,96,abc'));
  await compare(page);
  const malformed = await page.textContent('#csv-msg');
  assert.match(malformed, /^pasted CSV:4: /);
  assert.match(malformed, /DV/);
  await page.fill('#csv-text', csv.replace(',1.5,1.7\n7,96', ',99,1.7\n7,96'));
  await compare(page);
  assert.equal(await page.textContent('#csv-msg'), 'pasted CSV:3: covariate AAG = 99 is outside [0.2, 4] g/L');
  await page.fill('#csv-text', '');
  await page.click('#run');
  assert.equal(await page.textContent('#csv-msg'), 'Paste the CSV or upload a file.');

  // After all that, a correct CSV still gives a forecast; Enter in a field submits the form.
  await page.fill('#csv-text', csv);
  await page.fill('#draws', '50');
  await page.press('#draws', 'Enter');
  await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: 120_000 });
  assert.equal(await page.getAttribute('body', 'data-state'), 'done');
  assert.equal(await page.textContent('#csv-msg'), '');
  assert.deepEqual(errors, []);
  await context.close();
});

test('the verdict shown is that of a bundled report for this exact version and hash, or none', async () => {
  const plain = await openWidget();
  await pickNeutropenia(plain.page);
  const hash = await plain.page.textContent('#model-hash');
  await plain.context.close();

  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  await context.route('**/verdicts.json', (route) =>
    route.fulfill({
      json: {
        schema: 'twinsim.widget.verdicts/1',
        reports: [
          { model: 'neutropenia', version: '1', hash, verdict: 'PASS', report_id: 'r-7', path: 'n/report.json' },
          { model: 'pk-1cmt', version: '1', hash: 'not-this-build', verdict: 'PASS', report_id: null, path: 'p/report.json' },
        ],
      },
    }),
  );
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
  await pickNeutropenia(page);
  assert.equal(await page.textContent('#model-verdict .verdict'), 'PASS');
  assert.match(await page.textContent('#model-verdict'), /report r-7/);
  await page.selectOption('#model', 'pk-1cmt@1');
  await page.waitForFunction(() => document.querySelector('#model-version').textContent === 'pk-1cmt version 1');
  assert.match(await page.textContent('#model-verdict'), /for another content hash .* does not apply to this build/);
  await page.selectOption('#model', 'pheno@1');
  await page.waitForFunction(() => document.querySelector('#model-version').textContent === 'pheno version 1');
  assert.equal(await page.textContent('#model-verdict'), 'no evaluation report bundled');
  await context.close();
});

/** Fields that are counts, or shares and intervals computed from counts. */
const COUNT_FIELDS = new Set(['n', 'n_ok', 'n_failed', 'n_observed', 'n_pairs', 'probability', 'ci95', 'km_median', 'p_greater', 'p_less', 'draws', 'time']);

/**
 * Compares the WebAssembly forecast with the native one, field by field: the paths of differing
 * count fields (and of anything that is not a number), and the largest relative difference of
 * the other numbers.
 */
function compareForecasts(wasm, native, path = '', inCounts = false, out = { counts: [], numbers: 0, maxRelative: 0 }) {
  if (typeof native === 'number' && typeof wasm === 'number') {
    if (wasm !== native) {
      if (inCounts) out.counts.push(path);
      out.numbers += 1;
      const rel = Math.abs(wasm - native) / Math.abs(native);
      out.maxRelative = Math.max(out.maxRelative, rel);
    }
  } else if (Array.isArray(native) || (native && typeof native === 'object')) {
    for (const key of Object.keys(native)) {
      const counts = inCounts || COUNT_FIELDS.has(key);
      compareForecasts(wasm?.[key], native[key], `${path}.${key}`, counts, out);
    }
  } else if (wasm !== native) {
    out.counts.push(path);
  }
  return out;
}

test('the WebAssembly build gives the native numbers; time and size of the engine', async () => {
  const { context, page } = await openWidget();
  const run = await page.evaluate(async (request) => {
    const engine = await import('./pkg/twin_wasm.js');
    await engine.default({ module_or_path: new URL('./pkg/twin_wasm_bg.wasm', document.baseURI) });
    const times = [];
    let first;
    for (let i = 0; i < 4; i++) {
      const start = performance.now();
      const out = engine.forecast(request);
      times.push(performance.now() - start);
      first ??= out;
    }
    return { first, times };
  }, REQUEST);
  const native = readFileSync(NATIVE, 'utf8');
  const wasm = JSON.parse(run.first);
  const diff = compareForecasts(wasm, JSON.parse(native));
  // Counts and everything computed from them (event probabilities, their intervals, Kaplan–Meier
  // medians, paired shares), the time grid and the strings are identical.
  assert.deepEqual(diff.counts, [], 'count fields differ between native and wasm');
  // Everything else too, to the last bit: engine and models take exp, ln, pow, sin, … from one
  // implementation on every target (twin_engine::math), so the two builds write the same bytes.
  assert.equal(diff.numbers, 0, `${diff.numbers} numbers differ, largest relative difference ${diff.maxRelative}`);
  assert.equal(run.first, native, 'the wasm response is not byte-identical to the native one');
  const identical = run.first === native;
  writeFileSync(join(ARTIFACTS, 'wasm-forecast.json'), run.first);

  const wasmBytes = readFileSync(join(SITE, 'pkg/twin_wasm_bg.wasm'));
  const gzipped = gzipSync(wasmBytes, { level: 9 }).length;
  const [firstMs, ...warm] = run.times;
  const sorted = [...warm].sort((a, b) => a - b);
  const measurements = {
    forecast: '2 therapies (docetaxel 75 and 100 mg/m2), 500 posterior draws, neutropenia, headless Chromium main thread',
    first_call_ms: Math.round(firstMs),
    warm_calls_ms: warm.map(Math.round),
    warm_median_ms: Math.round(sorted[Math.floor(sorted.length / 2)]),
    target_ms: 500,
    wasm_bytes: wasmBytes.length,
    wasm_gzip_bytes: gzipped,
    target_gzip_bytes: 1.5e6,
    native_wasm_bytes_identical: identical,
    native_wasm_numbers_differing: diff.numbers,
    native_wasm_max_relative_difference: diff.maxRelative,
  };
  writeFileSync(join(ARTIFACTS, 'measurements.json'), `${JSON.stringify(measurements, null, 2)}\n`);
  console.log(`widget: wasm forecast (2 therapies x 500 draws) first call ${measurements.first_call_ms} ms, ` +
    `then ${measurements.warm_calls_ms.join(', ')} ms (median ${measurements.warm_median_ms} ms; target < 500 ms)`);
  console.log(`widget: engine ${wasmBytes.length} bytes, ${gzipped} gzipped (target < 1.5 MB)`);
  console.log(`widget: native vs wasm: bytes identical ${identical}; counts identical; ${diff.numbers} other numbers ` +
    `differ, largest relative difference ${diff.maxRelative.toExponential(2)}`);
  await context.close();
});
