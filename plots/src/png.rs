//! PNG output: drawn at [`PNG_SUPERSAMPLING`]× the size, averaged down (anti-aliasing), encoded.

use plotters::prelude::*;

use crate::backend::Canvas;
use crate::error::PlotError;
use crate::figure::Figure;
use crate::render::{Scale, draw_figure};
use crate::style::{HEIGHT_PX, PNG_SUPERSAMPLING, WIDTH_PX};
use crate::text::fonts;

pub(crate) fn render_png(figure: &Figure) -> Result<Vec<u8>, PlotError> {
    let fonts = fonts()?;
    let factor = PNG_SUPERSAMPLING;
    let (device_w, device_h) = (WIDTH_PX * factor, HEIGHT_PX * factor);
    let mut device = vec![0_u8; device_w as usize * device_h as usize * 3];
    {
        let canvas = Canvas {
            inner: BitMapBackend::with_buffer(&mut device, (device_w, device_h)),
            fonts,
            raster_text: true,
        };
        let root = canvas.into_drawing_area();
        draw_figure(&root, figure, Scale(f64::from(factor)))?;
        root.present()
            .map_err(|e| PlotError::Render(format!("finishing the bitmap: {e}")))?;
    }
    let rgb = downsample(&device, device_w as usize, factor as usize);
    let mut png_bytes = Vec::new();
    let mut encoder = ::png::Encoder::new(&mut png_bytes, WIDTH_PX, HEIGHT_PX);
    encoder.set_color(::png::ColorType::Rgb);
    encoder.set_depth(::png::BitDepth::Eight);
    encoder.set_compression(::png::Compression::Balanced);
    let mut writer = encoder
        .write_header()
        .map_err(encoding("writing the PNG header"))?;
    writer
        .write_image_data(&rgb)
        .map_err(encoding("encoding the PNG image"))?;
    writer
        .finish()
        .map_err(encoding("finishing the PNG image"))?;
    Ok(png_bytes)
}

/// Averages `factor` × `factor` blocks of an RGB image `width` pixels wide (integer arithmetic, so
/// the result is the same everywhere).
pub(crate) fn downsample(rgb: &[u8], width: usize, factor: usize) -> Vec<u8> {
    let height = rgb.len() / 3 / width;
    let (out_w, out_h) = (width / factor, height / factor);
    let n = (factor * factor) as u32;
    let mut out = Vec::with_capacity(out_w * out_h * 3);
    for out_y in 0..out_h {
        for out_x in 0..out_w {
            let mut sum = [0_u32; 3];
            for y in out_y * factor..(out_y + 1) * factor {
                let row =
                    &rgb[(y * width + out_x * factor) * 3..(y * width + (out_x + 1) * factor) * 3];
                for pixel in row.chunks_exact(3) {
                    for (s, &c) in sum.iter_mut().zip(pixel) {
                        *s += u32::from(c);
                    }
                }
            }
            // Rounded mean of values ≤ 255 is ≤ 255.
            out.extend(sum.map(|s| ((s + n / 2) / n) as u8));
        }
    }
    out
}

/// Turns a PNG encoder error during `step` into a [`PlotError::Render`].
fn encoding(step: &'static str) -> impl Fn(::png::EncodingError) -> PlotError {
    move |e| PlotError::Render(format!("{step}: {e}"))
}
