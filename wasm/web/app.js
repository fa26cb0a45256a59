// The clinician widget: a patient form, therapy pickers, fan charts and tables around the
// twinsim engine, which runs in a Web Worker (worker.js) compiled to WebAssembly. Nothing is
// sent anywhere: the only requests are the page's own files, made while it loads.

import { COLOURS, fanChart, fmt, timeAxis } from './chart.js';
import { buildCsv, regimenParts, withRegimenParts } from './patient.js';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// The engine, behind a message channel.

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const pending = new Map();
let nextCall = 0;
worker.onmessage = (event) => {
  const { id, ok, value, message, ms } = event.data;
  const entry = pending.get(id);
  if (!entry) return;
  pending.delete(id);
  if (ok) entry.resolve({ value, ms });
  else entry.reject(new Error(message));
};
worker.onerror = (event) => {
  setStatus(`The engine could not start: ${event.message || 'unknown error'}.`, 'error');
};

/** Calls `fn` of the WebAssembly module in the worker; resolves to { value, ms }. */
function call(fn, arg) {
  const id = nextCall++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, call: fn, arg });
  });
}

// ---------------------------------------------------------------------------------------------
// Small DOM helpers.

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function setStatus(text, kind = '') {
  const status = $('status');
  status.textContent = text;
  status.className = `status ${kind}`;
}

/** Shows `message` next to the input whose message element is `msgId` (empty clears it). */
function setMessage(msgId, message, input) {
  const msg = $(msgId);
  if (msg) msg.textContent = message || '';
  const field = input ?? document.querySelector(`[aria-describedby~="${msgId}"]`);
  if (field) {
    if (message) field.setAttribute('aria-invalid', 'true');
    else field.removeAttribute('aria-invalid');
  }
}

function clearMessages() {
  for (const msg of document.querySelectorAll('.msg')) msg.textContent = '';
  for (const field of document.querySelectorAll('[aria-invalid]')) field.removeAttribute('aria-invalid');
}

// ---------------------------------------------------------------------------------------------
// State.

const state = {
  catalogue: [],
  model: null, // describe() of the chosen model version
  verdicts: [],
  doseRows: 0,
  obsRows: 0,
  therapyRows: 0,
  csvSource: 'pasted CSV',
  lastLineMap: null,
};

// ---------------------------------------------------------------------------------------------
// Model choice.

async function chooseModel(name) {
  const { value } = await call('describe', name);
  const model = JSON.parse(value);
  state.model = model;
  $('model-description').textContent = `${model.description}. Evidence: ${model.evidence}.`;
  $('model-version').textContent = `${model.id} version ${model.version}`;
  $('model-hash').textContent = model.hash;
  showVerdict(model);
  buildCovariates(model);
  $('doses').tBodies[0].replaceChildren();
  $('observations').tBodies[0].replaceChildren();
  state.doseRows = 0;
  state.obsRows = 0;
  addDoseRow();
  addObservationRow();
  $('dose-unit-note').textContent = `(times in ${unitName(model.time_unit)})`;
  $('obs-unit-note').textContent = `(times in ${unitName(model.time_unit)})`;
  $('therapies').replaceChildren();
  state.therapyRows = 0;
  const builtIn = model.therapies.slice(0, 2);
  if (builtIn.length === 0) addTherapyRow(null);
  for (const therapy of builtIn) addTherapyRow(therapy);
  clearMessages();
}

function unitName(unit) {
  return { h: 'hours', d: 'days', min: 'minutes' }[unit] ?? unit;
}

/** The bundled evaluation verdict of this exact model version and content hash, if any. */
function showVerdict(model) {
  const target = $('model-verdict');
  target.replaceChildren();
  const reports = state.verdicts.filter((r) => r.model === model.id && r.version === model.version);
  if (reports.length === 0) {
    target.textContent = 'no evaluation report bundled';
    target.className = 'verdict none';
    return;
  }
  const matching = reports.filter((r) => r.hash === model.hash);
  if (matching.length === 0) {
    target.textContent =
      `a report for version ${model.version} is bundled, but for another content hash ` +
      `(${reports[0].hash ? reports[0].hash.slice(0, 12) : 'none given'}…): it does not apply to this build`;
    target.className = 'verdict none';
    return;
  }
  for (const report of matching) {
    const verdict = String(report.verdict);
    target.append(
      h('span', { class: `verdict ${/^pass/i.test(verdict) ? 'pass' : /^fail/i.test(verdict) ? 'fail' : ''}`, text: verdict }),
      h('span', { class: 'note', text: ` report ${report.report_id ?? report.path}` }),
    );
  }
}

function buildCovariates(model) {
  const box = $('covariates');
  box.replaceChildren();
  for (const c of model.covariates) {
    const id = `cov-${c.name}`;
    const hint = `${c.name === c.unit ? '' : `${c.unit}; `}${fmt(c.lower)} to ${fmt(c.upper)}, reference ${fmt(c.reference)}`;
    box.append(
      h(
        'div',
        { class: 'field' },
        h('label', { for: id, text: c.name }),
        h('input', {
          id,
          type: 'text',
          inputmode: 'decimal',
          autocomplete: 'off',
          'data-covariate': c.name,
          placeholder: String(c.reference),
          'aria-describedby': `${id}-hint ${id}-msg`,
        }),
        h('span', { class: 'hint', id: `${id}-hint`, text: hint }),
        h('span', { class: 'msg', id: `${id}-msg`, role: 'alert' }),
      ),
    );
  }
  box.append(
    h('button', {
      type: 'button',
      class: 'small',
      text: 'Fill empty covariates with reference values',
      onclick: () => {
        for (const c of model.covariates) {
          const input = $(`cov-${c.name}`);
          if (input.value.trim() === '') input.value = String(c.reference);
        }
      },
    }),
  );
}

function removeButton(label, onClick) {
  return h('button', { type: 'button', class: 'remove', 'aria-label': label, title: label, text: '×', onclick: onClick });
}

/** Removes a dose or observation row with its message row, and moves focus to its table. */
function removeRow(row) {
  const table = row.closest('table');
  row.msgRow.remove();
  row.remove();
  table.nextElementSibling?.focus();
}

function addDoseRow() {
  const model = state.model;
  const i = state.doseRows++;
  const tbody = $('doses').tBodies[0];
  const select = h('select', { 'aria-label': `Dose ${i + 1}: into compartment`, 'data-role': 'cmt' });
  for (const s of model.states) {
    select.append(h('option', { value: s.cmt, text: `${s.name} (${s.unit})`, selected: s.cmt === model.default_dose_cmt }));
  }
  const row = h(
    'tr',
    { 'data-row': 'dose' },
    h('td', {}, h('input', { type: 'text', inputmode: 'decimal', 'aria-label': `Dose ${i + 1}: time (${unitName(model.time_unit)})`, 'data-role': 'time' })),
    h('td', {}, h('input', { type: 'text', inputmode: 'decimal', 'aria-label': `Dose ${i + 1}: amount`, 'data-role': 'amount' })),
    h('td', {}, select),
    h('td', {}, h('input', { type: 'text', inputmode: 'decimal', placeholder: 'bolus', 'aria-label': `Dose ${i + 1}: infusion duration (${unitName(model.time_unit)}; empty for a bolus)`, 'data-role': 'duration' })),
    h('td', {}, removeButton(`Remove dose ${i + 1}`, () => removeRow(row))),
  );
  row.msgRow = h('tr', { class: 'msg-row' }, h('td', { colspan: 5 }, h('span', { class: 'msg', role: 'alert' })));
  tbody.append(row, row.msgRow);
  return row;
}

function addObservationRow() {
  const model = state.model;
  const i = state.obsRows++;
  const tbody = $('observations').tBodies[0];
  const select = h('select', { 'aria-label': `Observation ${i + 1}: output`, 'data-role': 'output' });
  model.outputs.forEach((o, index) => {
    if (o.observable) select.append(h('option', { value: index + 1, text: `${o.name} (${o.unit})` }));
  });
  const row = h(
    'tr',
    { 'data-row': 'observation' },
    h('td', {}, h('input', { type: 'text', inputmode: 'decimal', 'aria-label': `Observation ${i + 1}: time (${unitName(model.time_unit)})`, 'data-role': 'time' })),
    h('td', {}, select),
    h('td', {}, h('input', { type: 'text', inputmode: 'decimal', 'aria-label': `Observation ${i + 1}: value`, 'data-role': 'value' })),
    h('td', {}, removeButton(`Remove observation ${i + 1}`, () => removeRow(row))),
  );
  row.msgRow = h('tr', { class: 'msg-row' }, h('td', { colspan: 4 }, h('span', { class: 'msg', role: 'alert' })));
  tbody.append(row, row.msgRow);
  return row;
}

function addTherapyRow(therapy) {
  const model = state.model;
  const rows = $('therapies');
  if (rows.children.length >= 4) {
    setMessage('run-msg', 'At most four therapies can be compared.');
    return null;
  }
  const i = state.therapyRows++;
  const id = `therapy-${i}`;
  const based = h('select', { id: `${id}-base`, 'aria-describedby': `${id}-base-hint` });
  for (const t of model.therapies) based.append(h('option', { value: t.name, text: t.name }));
  based.append(h('option', { value: '', text: 'custom regimen' }));
  based.value = therapy ? therapy.name : '';
  const name = h('input', { id: `${id}-name`, type: 'text', value: therapy ? therapy.name : `therapy ${i + 1}`, 'aria-describedby': `${id}-name-msg`, 'data-role': 'name' });
  const regimen = h('input', { id: `${id}-regimen`, type: 'text', value: therapy ? therapy.regimen : '', spellcheck: 'false', 'aria-describedby': `${id}-regimen-hint ${id}-regimen-msg`, 'data-role': 'regimen' });
  const dose = h('input', { id: `${id}-dose`, type: 'text', inputmode: 'decimal', 'data-role': 'dose' });
  const every = h('input', { id: `${id}-every`, type: 'text', 'data-role': 'every' });
  const cycles = h('input', { id: `${id}-cycles`, type: 'text', inputmode: 'numeric', 'data-role': 'cycles' });
  const doseUnit = h('span', { class: 'unit' });
  const syncFields = () => {
    const parts = regimenParts(regimen.value);
    for (const input of [dose, every, cycles]) input.disabled = parts === null;
    dose.value = parts ? parts.dose : '';
    every.value = parts ? parts.every : '';
    cycles.value = parts ? parts.cycles : '';
    doseUnit.textContent = parts ? parts.unit : '';
  };
  const syncText = () => {
    regimen.value = withRegimenParts(regimen.value, { dose: dose.value.trim(), every: every.value.trim(), cycles: cycles.value.trim() });
    doseUnit.textContent = regimenParts(regimen.value)?.unit ?? '';
  };
  based.addEventListener('change', () => {
    const t = model.therapies.find((x) => x.name === based.value);
    if (t) {
      regimen.value = t.regimen;
      name.value = t.name;
    }
    syncFields();
  });
  regimen.addEventListener('input', syncFields);
  for (const input of [dose, every, cycles]) input.addEventListener('input', syncText);
  const box = h(
    'fieldset',
    { class: 'therapy', 'data-therapy': i },
    h('legend', {}, h('span', { class: 'swatch', 'data-colour': i % 4 }), `Therapy`),
    h(
      'div',
      { class: 'grid2' },
      h('div', { class: 'field' }, h('label', { for: name.id, text: 'Name' }), name, h('span', { class: 'msg', id: `${id}-name-msg`, role: 'alert' })),
      h('div', { class: 'field' }, h('label', { for: based.id, text: 'Based on' }), based, h('span', { class: 'hint', id: `${id}-base-hint`, text: 'a built-in therapy of the model' })),
    ),
    h(
      'div',
      { class: 'grid3' },
      h('div', { class: 'field' }, h('label', { for: dose.id, text: 'Dose' }), h('span', { class: 'with-unit' }, dose, doseUnit)),
      h('div', { class: 'field' }, h('label', { for: every.id, text: 'Every' }), every),
      h('div', { class: 'field' }, h('label', { for: cycles.id, text: 'Cycles' }), cycles),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: regimen.id, text: 'Regimen' }),
      regimen,
      h('span', { class: 'hint', id: `${id}-regimen-hint`, text: 'e.g. 75 mg/m2 iv over 1h q3w x6; units min, h, d, w' }),
      h('span', { class: 'msg', id: `${id}-regimen-msg`, role: 'alert' }),
    ),
    removeButton(`Remove therapy ${i + 1}`, () => {
      if ($('therapies').children.length > 1) box.remove();
      else setMessage('run-msg', 'Keep at least one therapy.');
    }),
  );
  rows.append(box);
  syncFields();
  return box;
}

// ---------------------------------------------------------------------------------------------
// Reading and checking the form.

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** The number in `input`, or an inline message and null. */
function readNumber(input, msgEl, { required = true, min = -Infinity, minExclusive = false, max = Infinity, what = 'a number', integer = false } = {}) {
  const text = input.value.trim();
  const fail = (message) => {
    if (msgEl) msgEl.textContent = message;
    input.setAttribute('aria-invalid', 'true');
    return undefined;
  };
  if (text === '') return required ? fail('Enter a value.') : null;
  if (!NUMBER.test(text)) return fail(`Enter ${what}.`);
  const value = Number(text);
  if (integer && !Number.isInteger(value)) return fail('Enter a whole number.');
  if (value < min || (minExclusive && value <= min) || value > max) {
    if (max === Infinity) return fail(minExclusive ? `Must be more than ${min}.` : `Must be at least ${min}.`);
    return fail(`Must be between ${fmt(min)} and ${fmt(max)}.`);
  }
  return value;
}

/** Reads the patient from the form as CSV, or returns null after showing inline messages. */
function patientFromForm() {
  const model = state.model;
  let ok = true;
  const covariates = [];
  for (const c of model.covariates) {
    const input = $(`cov-${c.name}`);
    const value = readNumber(input, $(`cov-${c.name}-msg`), { min: c.lower, max: c.upper });
    if (value === undefined) ok = false;
    else if (value !== null) covariates.push({ name: c.name, value });
  }
  const rowMsg = (row) => row.msgRow.querySelector('.msg');
  const doses = [];
  for (const row of $('doses').tBodies[0].querySelectorAll('tr[data-row="dose"]')) {
    const get = (role) => row.querySelector(`[data-role="${role}"]`);
    if (['time', 'amount', 'duration'].every((r) => get(r).value.trim() === '')) continue;
    const msg = rowMsg(row);
    const time = readNumber(get('time'), msg, { min: 0 });
    const amount = time === undefined ? undefined : readNumber(get('amount'), msg, { min: 0, minExclusive: true });
    const duration = amount === undefined ? undefined : readNumber(get('duration'), msg, { required: false, min: 0 });
    if (time === undefined || amount === undefined || duration === undefined) ok = false;
    else doses.push({ row, time, amount, cmt: Number(get('cmt').value), duration: duration ?? 0 });
  }
  const observations = [];
  for (const row of $('observations').tBodies[0].querySelectorAll('tr[data-row="observation"]')) {
    const get = (role) => row.querySelector(`[data-role="${role}"]`);
    if (['time', 'value'].every((r) => get(r).value.trim() === '')) continue;
    const msg = rowMsg(row);
    const time = readNumber(get('time'), msg, { min: 0 });
    const value = time === undefined ? undefined : readNumber(get('value'), msg);
    if (time === undefined || value === undefined) ok = false;
    else observations.push({ row, time, value, dvid: Number(get('output').value) });
  }
  if (!ok) return null;
  return buildCsv(covariates, doses, observations);
}

function readTherapies() {
  let ok = true;
  const names = new Set();
  const therapies = [];
  for (const box of $('therapies').children) {
    const i = box.dataset.therapy;
    const name = box.querySelector('[data-role="name"]');
    const regimen = box.querySelector('[data-role="regimen"]');
    const n = name.value.trim();
    if (n === '') {
      setMessage(`therapy-${i}-name-msg`, 'Give the therapy a name.', name);
      ok = false;
    } else if (names.has(n)) {
      setMessage(`therapy-${i}-name-msg`, 'Another therapy has this name.', name);
      ok = false;
    }
    names.add(n);
    therapies.push({ name: n, regimen: regimen.value.trim(), box });
  }
  return ok ? therapies : null;
}

/** The request for forecast(), or null when the form has problems (shown inline). */
function readRequest() {
  clearMessages();
  const model = state.model;
  const mode = document.querySelector('input[name="patient-mode"]:checked').value;
  let patient;
  let source;
  let id = null;
  if (mode === 'form') {
    patient = patientFromForm();
    source = 'patient form';
  } else {
    patient = $('csv-text').value;
    source = state.csvSource;
    if (patient.trim() === '') {
      setMessage('csv-msg', 'Paste the CSV or upload a file.');
      patient = null;
    }
    id = $('csv-id').value.trim() || null;
  }
  const therapies = readTherapies();
  const draws = readNumber($('draws'), $('draws-msg'), { min: 1, max: 20000, integer: true });
  const seed = readNumber($('seed'), $('seed-msg'), { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true });
  if (patient === null || therapies === null || draws === undefined || seed === undefined) {
    const first = document.querySelector('[aria-invalid="true"]');
    if (first) first.focus();
    setMessage('run-msg', 'Please correct the fields marked above.');
    return null;
  }
  state.lastLineMap = patient.lineMap ?? null;
  return {
    text: JSON.stringify({
      model: `${model.id}@${model.version}`,
      patient_csv: typeof patient === 'string' ? patient : patient.csv,
      source,
      id,
      therapies: therapies.map(({ name, regimen }) => ({ name, regimen })),
      from: $('from').value.trim() || null,
      until: $('until').value.trim() || null,
      every: $('every').value.trim() || null,
      draws,
      seed,
    }),
    therapies,
    source,
    mode,
  };
}

/** Puts an engine error next to the field it is about, or under the button. */
function showEngineError(message, request) {
  const inline = (msgId, input) => {
    setMessage(msgId, message, input);
    if (input) input.focus();
  };
  const quoted = /'([^']*)'/.exec(message)?.[1];
  if (message.startsWith('invalid regimen ')) {
    const hit = request.therapies.find((t) => t.regimen === quoted);
    if (hit) return inline(`therapy-${hit.box.dataset.therapy}-regimen-msg`, hit.box.querySelector('[data-role="regimen"]'));
  }
  if (message.startsWith('invalid duration ')) {
    for (const field of ['from', 'until', 'every']) {
      if ($(field).value.trim() === quoted) return inline(`${field}-msg`, $(field));
    }
  }
  if (request.mode === 'csv' && message.startsWith(`${request.source}: no subject`)) {
    return inline('csv-id-msg', $('csv-id'));
  }
  if (request.mode === 'csv' && message.startsWith(`${request.source}`)) {
    return inline('csv-msg', $('csv-text'));
  }
  if (request.mode === 'form' && message.startsWith(`${request.source}:`)) {
    const line = Number(/^[^:]*:(\d+):/.exec(message)?.[1]);
    const row = state.lastLineMap?.get(line);
    if (row) {
      row.msgRow.querySelector('.msg').textContent = message;
      const input = row.querySelector('input');
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return undefined;
    }
    const covariate = state.model.covariates.find((c) => message.includes(`covariate ${c.name} `));
    if (covariate) return inline(`cov-${covariate.name}-msg`, $(`cov-${covariate.name}`));
  }
  setMessage('run-msg', message);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Running and showing a forecast.

let lastResult = null;

async function run(event) {
  event.preventDefault();
  if (!state.model) return;
  let request;
  try {
    request = readRequest();
  } catch (err) {
    setMessage('run-msg', `Could not read the form: ${err.message}`);
    return;
  }
  if (!request) return;
  $('run').disabled = true;
  document.body.dataset.state = 'running';
  setStatus('Computing on this computer…', 'busy');
  try {
    const { value, ms } = await call('forecast', request.text);
    lastResult = JSON.parse(value);
    render(lastResult, ms);
    document.body.dataset.state = 'done';
  } catch (err) {
    showEngineError(err.message, request);
    setStatus('The forecast could not be computed; see the message next to the field.', 'error');
    document.body.dataset.state = 'error';
  } finally {
    $('run').disabled = false;
  }
}

function pct(p) {
  if (p === null || p === undefined || Number.isNaN(p)) return '–';
  const v = 100 * p;
  return `${v < 10 && v > 0 ? v.toFixed(1) : v.toFixed(0)} %`;
}

function render(result, ms) {
  const model = state.model;
  const p = result.posterior;
  const notes = p.notes.length ? ` Note: ${p.notes.join(' ')}` : '';
  const reliability = p.reliable
    ? ''
    : ` Caution: the importance-sampling diagnostics are poor (effective sample size ${fmt(p.effective_sample_size)}, Pareto k ${fmt(p.pareto_k)}).`;
  const status = $('status');
  setStatus(
    `Patient ${result.patient}, ${result.model.id} v${result.model.version}: ${result.draws} posterior draws, ` +
      `calibrated on ${p.n_observations} observation(s). Computed on this computer in ${Math.round(ms)} ms.${reliability}${notes}`,
    p.reliable ? 'ok' : 'warn',
  );
  status.dataset.ms = ms.toFixed(1);

  const pick = $('output');
  const previous = pick.value;
  pick.replaceChildren();
  result.therapies[0].outputs.forEach((o, index) => pick.append(h('option', { value: index, text: `${o.name} (${o.unit})` })));
  pick.value = previous !== '' && Number(previous) < result.therapies[0].outputs.length ? previous : '0';
  $('output-pick').hidden = false;
  drawCharts(result);
  $('chart-legend').hidden = false;
  $('tables').replaceChildren(eventTable(result), valueTable(result), differenceTable(result));
  $('posterior').replaceChildren(posteriorTable(result, model));
  $('posterior-details').hidden = false;
}

function drawCharts(result) {
  const o = Number($('output').value);
  const observations = result.observations
    .filter((obs) => obs.output_index === o)
    .map((obs) => ({ time: obs.time, value: obs.below_limit ?? obs.value, censored: obs.below_limit !== null }));
  let yMax = 0;
  for (const t of result.therapies) {
    for (const v of t.outputs[o].p95) if (Number.isFinite(v)) yMax = Math.max(yMax, v);
  }
  for (const obs of observations) yMax = Math.max(yMax, obs.value);
  const charts = $('charts');
  charts.replaceChildren();
  charts.dataset.count = result.therapies.length;
  result.therapies.forEach((t, i) => {
    const band = t.outputs[o];
    const svg = fanChart({
      title: `${t.name}: ${band.name} (${band.unit})`,
      colour: COLOURS[i % COLOURS.length],
      times: result.time,
      band,
      observations,
      origin: result.origin,
      yMax: yMax * 1.05,
      unit: result.time_unit,
      yLabel: `${band.name} (${band.unit})`,
    });
    charts.append(
      h(
        'figure',
        { class: 'chart', 'data-therapy': t.name },
        h('figcaption', {}, h('strong', { text: t.name }), ` ${t.regimen}, from ${fmtTime(result.origin, result)}`),
        svg,
      ),
    );
  });
}

function fmtTime(t, result) {
  const axis = timeAxis(result.time_unit, result.time[result.time.length - 1]);
  return `${fmt(t * axis.factor)} ${axis.label}`;
}

function table(caption, head, rows) {
  return h(
    'table',
    { class: 'results-table' },
    h('caption', { text: caption }),
    h('thead', {}, h('tr', {}, ...head.map((c, i) => h('th', { scope: 'col', text: c, class: i ? 'num' : '' })))),
    h('tbody', {}, ...rows),
  );
}

function eventTable(result) {
  const names = result.therapies[0].outcomes.filter((o) => o.kind === 'time_to_event');
  const rows = names.map((spec) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, h('span', { text: spec.name }), h('span', { class: 'desc', text: spec.description })),
      ...result.therapies.map((t) => {
        const o = t.outcomes.find((x) => x.name === spec.name);
        return h('td', {
          class: 'num',
          'data-outcome': spec.name,
          'data-therapy': t.name,
          'data-p': o.probability,
          'data-lo': o.ci95?.[0],
          'data-hi': o.ci95?.[1],
          text: `${pct(o.probability)} (${pct(o.ci95?.[0])} to ${pct(o.ci95?.[1])})`,
        });
      }),
    ),
  );
  return table(
    `Probability of each event from the start to the horizon (95 % interval; ${result.draws} draws)`,
    ['event', ...result.therapies.map((t) => t.name)],
    rows,
  );
}

function valueTable(result) {
  const names = result.therapies[0].outcomes.filter((o) => o.kind === 'value');
  const rows = names.map((spec) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, h('span', { text: `${spec.name} (${spec.unit})` }), h('span', { class: 'desc', text: spec.description })),
      ...result.therapies.map((t) => {
        const o = t.outcomes.find((x) => x.name === spec.name);
        const q = o.quantiles;
        return h('td', {
          class: 'num',
          'data-outcome': spec.name,
          'data-therapy': t.name,
          'data-median': q.p50,
          text: `${fmt(q.p50)} (${fmt(q.p05)} to ${fmt(q.p95)})`,
        });
      }),
    ),
  );
  return table('Outcome values: median (90 % range)', ['outcome', ...result.therapies.map((t) => t.name)], rows);
}

function differenceTable(result) {
  const rows = [];
  for (const t of result.therapies.slice(1)) {
    for (const o of t.outcomes) {
      if (!o.paired) continue;
      const event = o.kind === 'time_to_event';
      rows.push(
        h(
          'tr',
          {},
          h('th', { scope: 'row', text: `${o.name}: ${t.name} vs ${o.paired.reference}` }),
          h('td', { class: 'num', text: event ? `${pct(o.paired.mean_difference)} points` : `${fmt(o.paired.mean_difference)} ${o.unit}` }),
          h('td', { class: 'num', 'data-outcome': o.name, 'data-therapy': t.name, 'data-greater': o.paired.p_greater, text: pct(o.paired.p_greater) }),
          h('td', { class: 'num', text: pct(o.paired.p_less) }),
        ),
      );
    }
  }
  return table(
    `Each therapy against ${result.therapies[0].name}, draw by draw (the same patient under both)`,
    ['outcome', 'mean difference', 'P(higher)', 'P(lower)'],
    rows,
  );
}

function posteriorTable(result, model) {
  const p = result.posterior;
  const rows = p.eta_names.map((name, i) =>
    h('tr', {}, h('th', { scope: 'row', text: name }), h('td', { class: 'num', text: fmt(p.map_eta[i]) }), h('td', { class: 'num', text: fmt(Math.sqrt(p.laplace_covariance[i * p.eta_names.length + i])) })),
  );
  const wrap = h('div');
  wrap.append(
    table('Random effects at the MAP (with Laplace standard deviation)', ['effect', 'MAP', 'SD'], rows),
    h(
      'p',
      { class: 'note' },
      `Effective sample size ${fmt(p.effective_sample_size)} of ${result.draws}; largest weight share ${fmt(p.max_weight_share)}; ` +
        `Pareto k ${fmt(p.pareto_k)}; ${p.n_distinct_optima} optimum found. Model ${model.id} v${model.version}, hash ${result.model.hash}.`,
    ),
  );
  return wrap;
}

// ---------------------------------------------------------------------------------------------
// Start.

function bindStatic() {
  $('inputs').addEventListener('submit', run);
  $('add-dose').addEventListener('click', () => addDoseRow().querySelector('input').focus());
  $('add-observation').addEventListener('click', () => addObservationRow().querySelector('input').focus());
  $('add-therapy').addEventListener('click', () => addTherapyRow(null)?.querySelector('input')?.focus());
  $('output').addEventListener('change', () => lastResult && drawCharts(lastResult));
  for (const radio of document.querySelectorAll('input[name="patient-mode"]')) {
    radio.addEventListener('change', () => {
      const csv = document.querySelector('input[name="patient-mode"]:checked').value === 'csv';
      $('patient-form').hidden = csv;
      $('patient-csv').hidden = !csv;
    });
  }
  $('csv-file').addEventListener('change', async () => {
    const file = $('csv-file').files[0];
    if (!file) return;
    try {
      $('csv-text').value = await file.text();
      state.csvSource = file.name;
      setMessage('csv-msg', '');
    } catch (err) {
      setMessage('csv-msg', `Could not read ${file.name}: ${err.message}`);
    }
  });
  $('csv-text').addEventListener('input', () => {
    if (!$('csv-file').files.length) state.csvSource = 'pasted CSV';
  });
  $('model').addEventListener('change', async () => {
    try {
      await chooseModel($('model').value);
      setMessage('model-msg', '');
    } catch (err) {
      setMessage('model-msg', err.message);
    }
  });
}

async function loadVerdicts() {
  try {
    const response = await fetch('verdicts.json');
    if (!response.ok) return [];
    const bundle = await response.json();
    return Array.isArray(bundle.reports) ? bundle.reports : [];
  } catch {
    return [];
  }
}

async function start() {
  bindStatic();
  try {
    state.verdicts = await loadVerdicts();
    const { value } = await call('models');
    state.catalogue = JSON.parse(value);
    const select = $('model');
    for (const m of state.catalogue) {
      select.append(h('option', { value: `${m.id}@${m.version}`, text: `${m.id} v${m.version} — ${m.description}` }));
    }
    await chooseModel(select.value);
    $('run').disabled = false;
    setStatus('Ready. Enter the patient and the therapies, then choose “Compare therapies”.');
    document.body.dataset.state = 'ready';
  } catch (err) {
    setStatus(`The model engine could not start: ${err.message}`, 'error');
    document.body.dataset.state = 'error';
  }
}

start();
