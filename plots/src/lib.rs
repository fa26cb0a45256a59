//! The figures of twinsim, as SVG text or PNG bytes: plain data in, bytes out.
//!
//! **What it is.** Nine figure builders and what they share: fan charts of an output over time per
//! therapy arm ([`fan_chart_svg`], [`fan_chart_png`]), Kaplan–Meier plots ([`km_svg`]),
//! goodness-of-fit scatter plots ([`scatter_svg`]), and the evaluation report's PIT histograms
//! ([`pit_histogram_svg`]), interval coverage against nominal ([`coverage_svg`]),
//! prediction-corrected VPCs ([`vpc_svg`]), histograms of paired per-patient differences
//! ([`paired_differences_svg`]) and drift statistics per covariate ([`drift_svg`]). Each takes a
//! plain struct of labels and numbers ([`FanChart`], [`KmPlot`], …) and fails with a [`PlotError`].
//!
//! **What it is not.** It knows nothing of models, cohorts, fits or reports: it depends on no
//! twinsim crate, computes no statistic (quantiles, survival estimates, PIT values, coverage and
//! VPC percentiles arrive computed) and reads or writes no file. It is presentation only, and
//! carries heavy dependencies (plotters, a font, a PNG encoder) that the engine and the WebAssembly
//! widget never pull in.
//!
//! **Conventions.** Every figure is [`WIDTH_PX`] × [`HEIGHT_PX`] pixels, uses the Okabe–Ito
//! colour-blind-safe palette in series order, and puts the legend in a panel to the right of the
//! plot so it never hides data. Missing values (NaN) leave gaps; on a logarithmic axis, values ≤ 0
//! are treated as missing. PNG text is rasterised from DejaVu Sans embedded in the binary (no
//! system font is read), and PNGs are drawn at 3× and averaged down for anti-aliasing. Output is a
//! pure function of the input: the same input gives the same bytes. SVG output is self-contained:
//! it references no file, image or web font, and names the generic `sans-serif` family so any
//! viewer can show it; its layout uses DejaVu Sans metrics, so it matches the PNG.
//!
//! **Where to start.** [`fan_chart_svg`] and [`km_svg`]. Inside, each figure kind has its module
//! (`fan`, `km`, `scatter`, `pit`, `coverage`, `vpc`, `difference`, `drift`) that turns its input
//! into a format-independent `figure::Figure` on `axes` with ticks; `render` draws that with
//! plotters through the `backend` (text measured and rasterised by `text`) as SVG, and `png` as
//! supersampled PNG.

mod axes;
mod backend;
mod coverage;
mod difference;
mod drift;
mod error;
mod fan;
mod figure;
mod km;
mod pit;
mod png;
mod render;
mod scatter;
mod style;
mod text;
mod vpc;

#[cfg(test)]
mod tests;

pub use coverage::{CoveragePlot, CoverageSeries, coverage_svg};
pub use difference::{DifferencePlot, paired_differences_svg};
pub use drift::{DriftPlot, drift_svg};
pub use error::PlotError;
pub use fan::{Band, FanChart, Observations, fan_chart_png, fan_chart_svg};
pub use km::{KmPlot, SurvivalCurve, km_svg};
pub use pit::{PitPlot, PitSeries, pit_histogram_svg};
pub use scatter::{ReferenceLine, ScatterPlot, scatter_svg};
pub use style::{HEIGHT_PX, WIDTH_PX};
pub use vpc::{VpcPlot, vpc_svg};
