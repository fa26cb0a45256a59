//! The clinician widget's engine: twinsim compiled to WebAssembly for a static page that forecasts
//! one patient under alternative therapies without sending anything over the network.
//!
//! This crate holds JSON conversions only: no model math, no IO, no clock, no rayon (it uses
//! `twin-engine` and `twin-models` without their `parallel` feature). Start with [`api`]: the
//! computations are plain Rust functions from request text to JSON text, tested natively; the
//! three `wasm-bindgen` exports below ([`models`], [`describe`], [`forecast`]) wrap them, and
//! [`into_js_error`] turns an error into a JavaScript `Error` with the CLI's message.
//!
//! The page itself is `wasm/web/`; `scripts/build-widget.sh DIR` builds the deployable site and
//! `scripts/test-wasm.sh` tests it end to end in headless Chromium.

pub mod api;
pub mod stats;

use wasm_bindgen::prelude::*;

pub use api::{
    WidgetError, WidgetRequest, describe_json, error_message, forecast_json, models_json,
};

/// Installs the panic hook when the module is instantiated, so that a panic shows its message in
/// the browser console instead of only "unreachable".
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The model catalogue as JSON ([`models_json`]).
#[wasm_bindgen]
#[must_use]
pub fn models() -> String {
    models_json()
}

/// One model's inputs, outputs, therapies and outcomes as JSON ([`describe_json`]).
///
/// # Errors
/// A JavaScript `Error` naming the unknown model and the known ones.
#[wasm_bindgen]
pub fn describe(name: &str) -> Result<String, JsError> {
    describe_json(name).map_err(|e| into_js_error(&e))
}

/// A patient's forecast under one to four therapies as JSON ([`forecast_json`]).
///
/// # Errors
/// A JavaScript `Error` whose message is the one `twin forecast` prints for the same input.
#[wasm_bindgen]
pub fn forecast(request_json: &str) -> Result<String, JsError> {
    forecast_json(request_json).map_err(|e| into_js_error(&e))
}

/// The one conversion of a widget error into a JavaScript `Error` ([`error_message`]).
#[must_use]
pub fn into_js_error(err: &WidgetError) -> JsError {
    JsError::new(&error_message(err))
}
