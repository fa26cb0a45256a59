// The engine's thread: loads the WebAssembly module once and answers calls from the page, so a
// forecast never blocks the page. Each reply carries the time spent inside the WebAssembly call
// (performance.now() around it), which the page shows.
import init, { describe, forecast, models } from './pkg/twin_wasm.js';

const calls = { describe, forecast, models };
const ready = init({ module_or_path: new URL('./pkg/twin_wasm_bg.wasm', import.meta.url) });

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
