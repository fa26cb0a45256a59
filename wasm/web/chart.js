// Fan charts drawn as SVG: the median, the 50 % band (p25–p75) and the 90 % band (p05–p95) of
// one output under one therapy, with the patient's observations and the forecast start marked.

const SVG = 'http://www.w3.org/2000/svg';

/** Charts drawn so far, for unique element ids. */
let chartCount = 0;

/** Colour of therapy `i` (Okabe–Ito palette, distinguishable with colour-vision deficiency). */
export const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7'];

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** About `count` round tick values covering [lo, hi]. */
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

/** How model time is shown: days when a model in hours spans more than three days. */
export function timeAxis(unit, maxTime) {
  if (unit === 'h' && maxTime > 72) return { factor: 1 / 24, label: 'days' };
  if (unit === 'min' && maxTime > 180) return { factor: 1 / 60, label: 'hours' };
  return { factor: 1, label: { h: 'hours', d: 'days', min: 'minutes' }[unit] ?? unit };
}

/** Format a number with about three significant digits. */
export function fmt(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (x === 0) return '0';
  const abs = Math.abs(x);
  if (abs >= 1000) return x.toFixed(0);
  if (abs >= 1) return Number(x.toPrecision(3)).toString();
  return Number(x.toPrecision(2)).toString();
}

/**
 * An SVG fan chart.
 * options: { title, colour, times, band: {p05, p25, p50, p75, p95}, observations: [{time, value,
 * censored}], origin, yMax, unit (model time unit), yLabel }
 */
export function fanChart(options) {
  const { title, colour, times, band, observations, origin, unit, yLabel } = options;
  const width = 520;
  const height = 250;
  const margin = { left: 46, right: 12, top: 22, bottom: 36 };
  const axis = timeAxis(unit, times[times.length - 1]);
  const xMax = times[times.length - 1] * axis.factor || 1;
  const yMax = options.yMax > 0 ? options.yMax : 1;
  const x = (t) => margin.left + ((t * axis.factor) / xMax) * (width - margin.left - margin.right);
  const y = (v) => height - margin.bottom - (v / yMax) * (height - margin.top - margin.bottom);

  const id = `chart-${++chartCount}`;
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'fan', 'aria-labelledby': `${id}-t ${id}-d` });
  const titleNode = el('title', { id: `${id}-t` }, title);
  const median = band.p50;
  const last = median.length - 1;
  const desc = el(
    'desc',
    { id: `${id}-d` },
    `Median ${yLabel} ${fmt(median[last])} at the end of the forecast; 90 % band ` +
      `${fmt(band.p05[last])} to ${fmt(band.p95[last])}.`,
  );
  svg.append(titleNode, desc);

  // Axes and grid.
  const grid = el('g', { class: 'grid' });
  for (const v of ticks(0, yMax, 5)) {
    grid.append(el('line', { x1: margin.left, x2: width - margin.right, y1: y(v), y2: y(v) }));
    grid.append(el('text', { x: margin.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt(v)));
  }
  for (const v of ticks(0, xMax, 7)) {
    const px = margin.left + (v / xMax) * (width - margin.left - margin.right);
    grid.append(el('line', { x1: px, x2: px, y1: margin.top, y2: height - margin.bottom, class: 'v' }));
    grid.append(el('text', { x: px, y: height - margin.bottom + 15, 'text-anchor': 'middle' }, fmt(v)));
  }
  grid.append(el('text', { x: (width + margin.left) / 2, y: height - 4, 'text-anchor': 'middle', class: 'axis-label' }, axis.label));
  grid.append(el('text', { x: 4, y: margin.top - 9, class: 'axis-label' }, yLabel));
  svg.append(grid);

  // Bands: polygons over the times where both edges are numbers.
  const area = (lo, hi, cls) => {
    const idx = times.map((_, i) => i).filter((i) => Number.isFinite(lo[i]) && Number.isFinite(hi[i]));
    if (idx.length < 2) return;
    const top = idx.map((i) => `${x(times[i]).toFixed(1)},${y(Math.min(hi[i], yMax)).toFixed(1)}`);
    const bottom = idx.reverse().map((i) => `${x(times[i]).toFixed(1)},${y(Math.min(lo[i], yMax)).toFixed(1)}`);
    svg.append(el('polygon', { points: top.concat(bottom).join(' '), fill: colour, class: cls }));
  };
  area(band.p05, band.p95, 'band90');
  area(band.p25, band.p75, 'band50');
  const path = times
    .map((t, i) => (Number.isFinite(median[i]) ? `${x(t).toFixed(1)},${y(Math.min(median[i], yMax)).toFixed(1)}` : null))
    .filter((p) => p !== null);
  svg.append(el('polyline', { points: path.join(' '), stroke: colour, class: 'median' }));

  // Forecast start.
  if (Number.isFinite(origin)) {
    svg.append(el('line', { x1: x(origin), x2: x(origin), y1: margin.top, y2: height - margin.bottom, class: 'origin' }));
    svg.append(el('text', { x: x(origin) + 4, y: margin.top + 10, class: 'origin-label' }, 'start'));
  }

  // Observations: filled dots; values below a limit as open dots at the limit.
  for (const obs of observations) {
    svg.append(
      el('circle', {
        cx: x(obs.time),
        cy: y(Math.min(obs.value, yMax)),
        r: 3.5,
        class: obs.censored ? 'obs censored' : 'obs',
      }),
    );
  }
  return svg;
}
