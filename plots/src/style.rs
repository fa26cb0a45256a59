//! Style: the Okabe–Ito palette, text sizes, line widths and opacities shared by every figure.

use plotters::style::RGBColor;

/// Figure width in pixels.
pub const WIDTH_PX: u32 = 900;
/// Figure height in pixels.
pub const HEIGHT_PX: u32 = 560;

/// Okabe & Ito (2008) colour-blind-safe colours, in the order arms get them: the first ones differ
/// most in hue and lightness; yellow comes last because it is faint on white. Arms beyond seven reuse
/// the colours.
pub(crate) const PALETTE: [RGBColor; 7] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];
pub(crate) const TEXT: RGBColor = RGBColor(0x22, 0x22, 0x22);
pub(crate) const MUTED: RGBColor = RGBColor(0x55, 0x55, 0x55);
pub(crate) const AXIS: RGBColor = RGBColor(0x77, 0x77, 0x77);
pub(crate) const GRID: RGBColor = RGBColor(0xE4, 0xE4, 0xE4);
pub(crate) const KEY_GREY: RGBColor = RGBColor(0x70, 0x70, 0x70);
pub(crate) const OBSERVED: RGBColor = RGBColor(0x1A, 0x1A, 0x1A);

/// Opacity of the 90 % band; the 50 % band is drawn over it with [`INNER_ALPHA`].
pub(crate) const OUTER_ALPHA: f64 = 0.16;
pub(crate) const INNER_ALPHA: f64 = 0.30;
/// Opacity of a Kaplan–Meier confidence band.
pub(crate) const CI_ALPHA: f64 = 0.18;

pub(crate) const FONT: &str = "sans-serif";
/// Text sizes in plotters' unit (1.24 × the em size in logical pixels, as plotters' SVG backend uses).
pub(crate) const TITLE_SIZE: f64 = 25.0;
pub(crate) const AXIS_LABEL_SIZE: f64 = 19.0;
pub(crate) const TICK_SIZE: f64 = 16.0;
pub(crate) const LEGEND_SIZE: f64 = 17.0;
/// Width of median and survival lines, in logical pixels.
pub(crate) const LINE_W: f64 = 2.25;
/// Legend entries longer than this (logical pixels) are shortened with an ellipsis so the plot keeps
/// its width.
pub(crate) const LEGEND_MAX_TEXT_W: f64 = 210.0;
/// PNGs are drawn at this many device pixels per logical pixel and then averaged down, which
/// anti-aliases lines, band edges and text.
pub(crate) const PNG_SUPERSAMPLING: u32 = 3;

pub(crate) fn arm_colour(arm_idx: usize) -> RGBColor {
    PALETTE[arm_idx % PALETTE.len()]
}
