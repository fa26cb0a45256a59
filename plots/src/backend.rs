//! The drawing backend: a plotters backend that measures text with DejaVu Sans metrics and, on
//! bitmaps, rasterises text itself.

use ab_glyph::{Font, point};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendTextStyle, DrawingErrorKind};

use crate::text::{Fonts, X_HEIGHT_EM};

/// A plotters backend that measures text with DejaVu Sans metrics (so the layout is the same for
/// SVG and PNG) and, on bitmaps, rasterises text itself with proper side bearings, kerning and
/// sub-pixel glyph positions.
pub(crate) struct Canvas<DB> {
    pub(crate) inner: DB,
    pub(crate) fonts: &'static Fonts,
    pub(crate) raster_text: bool,
}

impl<DB: DrawingBackend> DrawingBackend for Canvas<DB> {
    type ErrorType = DB::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        if !self.raster_text {
            return self.inner.draw_text(text, style, pos);
        }
        let colour = style.color();
        let fonts = self.fonts;
        let line = fonts.layout(text, style.size(), style.style());
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -line.width / 2.0,
            HPos::Right => -line.width,
        };
        // The same baselines as plotters' SVG backend (`dy` of 0.76em, 0.5ex, -0.5ex), so that a
        // PNG looks like its SVG.
        let baseline = match anchor.v_pos {
            VPos::Top => 0.76 * line.em,
            VPos::Center => 0.5 * X_HEIGHT_EM as f32 * line.em,
            VPos::Bottom => -0.5 * X_HEIGHT_EM as f32 * line.em,
        };
        let transform = style.transform();
        let mut res = Ok(());
        for &(id, x) in &line.glyphs {
            let glyph = id.with_scale_and_position(line.scale, point(dx + x, baseline));
            let Some(outline) = line.font.outline_glyph(glyph) else {
                continue; // Blank glyphs (spaces) have no outline.
            };
            let bounds = outline.px_bounds();
            let inner = &mut self.inner;
            outline.draw(|gx, gy, coverage| {
                if res.is_err() || coverage <= 0.0 {
                    return;
                }
                let (tx, ty) = transform.transform(
                    bounds.min.x as i32 + gx as i32,
                    bounds.min.y as i32 + gy as i32,
                );
                let pixel_colour = BackendColor {
                    alpha: colour.alpha * f64::from(coverage.min(1.0)),
                    rgb: colour.rgb,
                };
                res = inner.draw_pixel((pos.0 + tx, pos.1 + ty), pixel_colour);
            });
            if res.is_err() {
                break;
            }
        }
        res
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let line = self.fonts.layout(text, style.size(), style.style());
        Ok((line.width.ceil() as u32, line.em.ceil() as u32))
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }
}
