// The patient form as NONMEM-style CSV text, and the dose / interval / cycles of simple regimen
// text. Pure functions: no DOM beyond the row objects they carry along for error messages.

/**
 * CSV text for one subject (ID 1) from the form, and which line came from which form row.
 *
 * covariates: [{ name, value }] (held constant on every row); doses: [{ row, time, amount, cmt,
 * duration }] (duration 0: a bolus; otherwise RATE = amount / duration); observations: [{ row,
 * time, value, dvid }] (DVID: one-based output index). Rows are sorted by time; at the same time
 * an observation comes before a dose, so a sample taken at a dose time is a pre-dose sample. A
 * patient with neither doses nor observations gets one EVID 2 record at time 0 carrying the
 * covariates, so the forecast starts from the prior.
 */
export function buildCsv(covariates, doses, observations) {
  const header = ['ID', 'TIME', 'DV', 'MDV', 'EVID', 'AMT', 'CMT', 'RATE', 'DVID', ...covariates.map((c) => c.name)];
  const covariateFields = covariates.map((c) => String(c.value));
  const events = [
    ...observations.map((o) => ({ time: o.time, order: 0, row: o.row, fields: [o.value, 0, 0, 0, '.', 0, o.dvid] })),
    ...doses.map((d) => ({
      time: d.time,
      order: 1,
      row: d.row,
      fields: ['.', 1, 1, d.amount, d.cmt, d.duration > 0 ? d.amount / d.duration : 0, '.'],
    })),
  ];
  if (events.length === 0) events.push({ time: 0, order: 0, row: null, fields: ['.', 1, 2, 0, '.', 0, '.'] });
  events.sort((a, b) => a.time - b.time || a.order - b.order);
  const lines = [header.join(',')];
  const lineMap = new Map();
  for (const event of events) {
    lines.push(['1', String(event.time), ...event.fields.map(String), ...covariateFields].join(','));
    if (event.row) lineMap.set(lines.length, event.row);
  }
  return { csv: `${lines.join('\n')}\n`, lineMap };
}

const AMOUNT = /^(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const FREQUENCY_WORDS = /^(qd|bid|tid)$/i;
const INTERVAL = /^q\d/i;
const COUNT = /^x\d+$/i;
const ROUTES = /^(iv|oral|po|sc|im|over|at|cmt=\S*)$/i;

/**
 * The dose, its unit, the interval and the number of doses of single-segment regimen text such
 * as `75 mg/m2 iv over 1h q3w x6`, or null when the text has several segments or does not start
 * with an amount (then only the text itself can be edited).
 */
export function regimenParts(text) {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.includes(';') || trimmed.startsWith('@')) return null;
  const tokens = trimmed.split(/\s+/);
  if (!AMOUNT.test(tokens[0])) return null;
  const q = tokens.findIndex((t) => INTERVAL.test(t) || FREQUENCY_WORDS.test(t));
  const x = tokens.findIndex((t) => COUNT.test(t));
  const unit = tokens.length > 1 && !ROUTES.test(tokens[1]) && !INTERVAL.test(tokens[1]) && !COUNT.test(tokens[1]) && !FREQUENCY_WORDS.test(tokens[1]) ? tokens[1] : '';
  return {
    tokens,
    dose: tokens[0],
    unit,
    every: q >= 0 ? (FREQUENCY_WORDS.test(tokens[q]) ? tokens[q] : tokens[q].slice(1)) : '',
    cycles: x >= 0 ? tokens[x].slice(1) : '',
    q,
    x,
  };
}

/**
 * `text` with its dose, interval and count replaced (an empty interval or count is removed). The
 * interval and count go after the route and infusion words and before `at TIME`, the order of
 * the regimen syntax. Text that regimenParts cannot read is returned unchanged.
 */
export function withRegimenParts(text, { dose, every, cycles }) {
  const parts = regimenParts(text);
  if (!parts) return text;
  const tokens = parts.tokens.filter((_, i) => i !== parts.q && i !== parts.x);
  tokens[0] = dose === '' ? parts.dose : dose;
  const interval = every === '' ? '' : FREQUENCY_WORDS.test(every) ? every : `q${every.replace(/^q/i, '')}`;
  const count = cycles === '' ? '' : `x${cycles}`;
  const at = tokens.findIndex((t) => t.toLowerCase() === 'at');
  tokens.splice(at >= 0 ? at : tokens.length, 0, ...[interval, count].filter((t) => t !== ''));
  return tokens.join(' ');
}
