#!/usr/bin/env bash
# Builds the clinician widget as a static site in DIR, ready to copy to any file server:
#
#   scripts/build-widget.sh DIR [REPORTS_DIR]
#
# DIR gets index.html, app.js, patient.js, chart.js, worker.js, style.css (from wasm/web/),
# pkg/twin_wasm.js and pkg/twin_wasm_bg.wasm (the engine, from wasm-bindgen --target web) and
# verdicts.json: the evaluation verdicts of every report.json found under REPORTS_DIR (or the
# directory in $TWIN_EVAL_REPORTS; see wasm/tools/verdicts.mjs). Without reports the page says
# "no evaluation report bundled". The page loads only these files, from its own origin, and
# then computes everything in the browser; serve DIR over HTTP (browsers do not run WebAssembly
# modules from file:// URLs), e.g. `python3 -m http.server -b 127.0.0.1 -d DIR 8000`.
#
# Installs what it needs when missing (idempotent): the wasm32-unknown-unknown target and the
# wasm-bindgen CLI at exactly the version of the wasm-bindgen crate in Cargo.lock (compiled from
# source, about 6 minutes once; cached in ~/.cargo/bin). Needs node (for verdicts.json).
# The site is assembled under a temporary name and renamed into place, so DIR is never half
# written.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: scripts/build-widget.sh DIR [REPORTS_DIR]" >&2
    exit 2
fi
out=$1
reports=${2:-${TWIN_EVAL_REPORTS:-}}
if [ -n "$reports" ] && [ ! -d "$reports" ]; then
    echo "error: reports directory '$reports' does not exist" >&2
    exit 2
fi
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi

# The CLI must equal the crate to the patch level (docs/toolchain.md, pitfall 1).
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [ -z "$bindgen_version" ]; then
    echo "error: Cargo.lock names no wasm-bindgen version" >&2
    exit 1
fi
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $bindgen_version" ]; then
    echo "installing wasm-bindgen-cli $bindgen_version (compiles from source, ~6 min once)"
    # Some releases' own lockfiles name crate versions the registry lacks; retry unlocked.
    cargo install wasm-bindgen-cli --version "=$bindgen_version" --locked \
        || cargo install wasm-bindgen-cli --version "=$bindgen_version"
fi

# The crate is an rlib for native tests; the shipped file is built as a cdylib here so that LTO
# applies (docs/toolchain.md, pitfall 3). The wasm-release profile is in the root Cargo.toml.
cargo rustc --lib -p twin-wasm --target wasm32-unknown-unknown --profile wasm-release \
    --crate-type cdylib --locked
wasm="${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/wasm-release/twin_wasm.wasm"

staging="$out.partial.$$"
rm -rf "$staging"
mkdir -p "$staging/pkg"
trap 'rm -rf "$staging"' EXIT
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
    --out-dir "$staging/pkg" "$wasm"
cp wasm/web/index.html wasm/web/style.css wasm/web/app.js wasm/web/patient.js \
    wasm/web/chart.js wasm/web/worker.js "$staging/"
if [ -n "$reports" ]; then
    node wasm/tools/verdicts.mjs "$reports" > "$staging/verdicts.json"
else
    node wasm/tools/verdicts.mjs > "$staging/verdicts.json"
fi
rm -rf "$out"
mv "$staging" "$out"
trap - EXIT
printf 'widget site in %s (engine %s bytes, %s gzipped)\n' "$out" \
    "$(wc -c < "$out/pkg/twin_wasm_bg.wasm")" "$(gzip -9 -c "$out/pkg/twin_wasm_bg.wasm" | wc -c)"
