//! Writes the widget's forecast JSON for a request file, computed natively through the same core
//! function the WebAssembly build exports ([`twin_wasm::forecast_json`]), so that the browser test
//! can compare the two byte for byte.
//!
//! ```sh
//! cargo run -p twin-wasm --example native_forecast -- wasm/tests/fixtures/neutropenia-request.json out.json
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [request_path, out_path] = args.as_slice() else {
        eprintln!("usage: native_forecast REQUEST.json OUT.json");
        return ExitCode::from(2);
    };
    let request = match std::fs::read_to_string(request_path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: reading {request_path}: {e}");
            return ExitCode::from(2);
        }
    };
    let json = match twin_wasm::forecast_json(&request) {
        Ok(json) => json,
        Err(e) => {
            eprintln!("error: {request_path}: {}", twin_wasm::error_message(&e));
            return ExitCode::from(2);
        }
    };
    // Written under a temporary name and renamed, so a half-written file never looks finished.
    let partial = format!("{out_path}.partial");
    if let Err(e) =
        std::fs::write(&partial, json).and_then(|()| std::fs::rename(&partial, out_path))
    {
        eprintln!("error: writing {out_path}: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
