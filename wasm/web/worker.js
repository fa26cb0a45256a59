// The engine's thread: loads the WebAssembly module once and answers calls from the page, so a
// forecast never blocks the page. Each reply carries the time spent inside the WebAssembly call
// (performance.now() around it), which the page shows.
import init, { describe, forecast, models } from './pkg/twin_wasm.js';

const calls = { describe, forecast, models };

// Right after loading, one small forecast (the neutropenia model, 40 draws; result discarded):
// V8 first runs WebAssembly from its baseline compiler and moves hot functions to its optimising
// one while they run, so without this the clinician's first forecast would take about twice as
// long as the next ones. The functions it warms (solver, exact PK, posterior) serve every model.
const WARM_UP = JSON.stringify({
  model: 'neutropenia',
  source: 'warm-up',
  patient_csv: 'ID,TIME,DV,MDV,EVID,AMT,CMT,RATE,SEX,PERF,PC,AAG,BSA\n' +
    '1,0,5.4,0,0,0,7,0,2,1,0,1.5,1.7\n1,0,.,1,1,170,1,170,2,1,0,1.5,1.7\n' +
    '1,168,0.45,0,0,0,7,0,2,1,0,1.5,1.7\n',
  therapies: [{ name: 'warm-up', regimen: 'docetaxel-75' }],
  from: '21d',
  until: '42d',
  every: '1d',
  draws: 40,
  seed: 1,
});
const ready = init({ module_or_path: new URL('./pkg/twin_wasm_bg.wasm', import.meta.url) })
  .then(() => forecast(WARM_UP));

self.onmessage = async (event) => {
  const { id, call, arg } = event.data;
  try {
    await ready;
    const fn = calls[call];
    if (!fn) throw new Error(`unknown call ${call}`);
    const start = performance.now();
    const value = arg === undefined ? fn() : fn(arg);
    const ms = performance.now() - start;
    self.postMessage({ id, ok: true, value, ms });
  } catch (err) {
    self.postMessage({ id, ok: false, message: err instanceof Error ? err.message : String(err) });
  }
};
