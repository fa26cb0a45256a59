#!/usr/bin/env bash
# Tests the clinician widget end to end: builds the WebAssembly engine and the static site,
# computes the native forecast of the fixture request for the byte comparison, serves the site
# on 127.0.0.1 and drives it in headless Debian Chromium (wasm/e2e/widget.test.mjs).
#
# Installs what it needs when missing (idempotent, skipped when present): Debian's chromium
# (apt-get), the JS test dependencies (npm ci, never downloading a browser), and, through
# scripts/build-widget.sh, the wasm32 target and the wasm-bindgen CLI at the Cargo.lock version.
# Artefacts (screenshots, measurements.json, both forecasts) go to target/widget-artifacts/.
# The native tests of the widget's core (cargo test -p twin-wasm) run with the workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
started=$(date +%s)
site=target/widget-site
artifacts=target/widget-artifacts

step "browser"
scripts/ensure-chromium.sh

step "JS test dependencies"
(cd wasm/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)

step "widget site (WebAssembly engine + page)"
scripts/build-widget.sh "$site"

step "native forecast of the fixture request"
mkdir -p "$artifacts"
cargo run --locked -q -p twin-wasm --example native_forecast --profile test -- \
    wasm/tests/fixtures/neutropenia-request.json "$artifacts/native-forecast.json"

step "end to end in headless Chromium"
(cd wasm/e2e && TWIN_WIDGET_SITE="$PWD/../../$site" TWIN_WIDGET_ARTIFACTS="$PWD/../../$artifacts" \
    node --test page-logic.test.mjs widget.test.mjs)

echo "widget tests passed in $(($(date +%s) - started)) s"
