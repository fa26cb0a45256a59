#!/usr/bin/env bash
# Runs every test of twinsim on a fresh machine: installs what the tests need (idempotently,
# skipping what is present), then formatting, lints, unit/integration tests, the wasm32 build
# check of the engine and the models, docs, and a compile check of the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "toolchain"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
# The evaluation report's browser test (cli/tests/eval.rs) runs with the workspace's tests.
scripts/ensure-chromium.sh

step "self-contained: no tracked file refers to a path outside the repository"
scripts/check-self-contained.sh

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "tests"
cargo test --workspace --locked

step "wasm32 build of the engine and the models (no rayon)"
cargo check -p twin-engine -p twin-models --no-default-features --target wasm32-unknown-unknown --locked

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "benchmarks compile"
cargo bench -p twin-benches --no-run --locked

step "clinician widget (WebAssembly + headless Chromium)"
scripts/test-wasm.sh

step "golden files unchanged"
if ! git diff --exit-code --stat -- twin-models/tests/golden 2>/dev/null; then
    echo "tests changed committed golden files" >&2
    exit 1
fi
echo "all checks passed"
