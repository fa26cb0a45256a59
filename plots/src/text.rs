//! Text: DejaVu Sans, embedded, laid out with its own metrics (so SVG and PNG share one layout).

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId, PxScale};
use plotters::style::FontStyle;

use crate::error::PlotError;

/// DejaVu Sans x-height (1120 of 2048 font units per em): where SVG viewers put `0.5ex`.
pub(crate) const X_HEIGHT_EM: f64 = 1120.0 / 2048.0;
/// plotters' SVG backend writes `font-size` as the text size divided by this; we do the same.
pub(crate) const SIZE_PER_EM: f64 = 1.24;

/// The embedded fonts, parsed once per process.
pub(crate) struct Fonts {
    pub(crate) regular: FontRef<'static>,
    pub(crate) bold: FontRef<'static>,
}

pub(crate) fn fonts() -> Result<&'static Fonts, PlotError> {
    static FONTS: OnceLock<Option<Fonts>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            Some(Fonts {
                regular: FontRef::try_from_slice(dejavu::sans::regular()).ok()?,
                bold: FontRef::try_from_slice(dejavu::sans::bold()).ok()?,
            })
        })
        .as_ref()
        .ok_or_else(|| {
            PlotError::Render("the embedded DejaVu Sans font could not be parsed".to_owned())
        })
}

/// One line of text laid out on its baseline from x = 0, in device pixels.
pub(crate) struct TextLine<'f> {
    pub(crate) font: &'f FontRef<'static>,
    pub(crate) scale: PxScale,
    /// Glyph and the x of its origin.
    pub(crate) glyphs: Vec<(GlyphId, f32)>,
    pub(crate) width: f32,
    pub(crate) em: f32,
}

impl Fonts {
    /// Lays out `text` at plotters text size `size` (em = `size` / 1.24 pixels) with kerning.
    pub(crate) fn layout(&self, text: &str, size: f64, style: FontStyle) -> TextLine<'_> {
        let font = if matches!(style, FontStyle::Bold) {
            &self.bold
        } else {
            &self.regular
        };
        let em = (size / SIZE_PER_EM) as f32;
        let units_per_em = font.units_per_em().unwrap_or(2048.0);
        let px_per_unit = em / units_per_em;
        let mut glyphs = Vec::with_capacity(text.len());
        let mut x = 0.0_f32;
        let mut prev: Option<GlyphId> = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(prev) = prev {
                x += font.kern_unscaled(prev, id) * px_per_unit;
            }
            glyphs.push((id, x));
            x += font.h_advance_unscaled(id) * px_per_unit;
            prev = Some(id);
        }
        TextLine {
            font,
            // ab_glyph scales so that ascent − descent spans the given pixels.
            scale: PxScale::from(em * font.height_unscaled() / units_per_em),
            glyphs,
            width: x,
            em,
        }
    }
}
