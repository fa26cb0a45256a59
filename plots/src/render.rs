//! Rendering a [`Figure`](crate::figure::Figure) with plotters: title, axes, shapes and legend, and
//! the SVG output.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::RGBAColor;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::backend::Canvas;
use crate::error::PlotError;
use crate::figure::{Figure, Shape, Swatch};
use crate::style::{
    AXIS, AXIS_LABEL_SIZE, CI_ALPHA, FONT, GRID, HEIGHT_PX, INNER_ALPHA, LEGEND_MAX_TEXT_W,
    LEGEND_SIZE, LINE_W, MUTED, OBSERVED, OUTER_ALPHA, TEXT, TICK_SIZE, TITLE_SIZE, WIDTH_PX,
};
use crate::text::fonts;

/// Logical-to-device pixel conversion: 1 for SVG,
/// [`PNG_SUPERSAMPLING`](crate::style::PNG_SUPERSAMPLING) for PNG.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scale(pub(crate) f64);

impl Scale {
    /// Device pixels for `logical` pixels, at least 1.
    pub(crate) fn px(self, logical: f64) -> u32 {
        (logical * self.0).round().max(1.0) as u32
    }
    /// Signed device pixels for `logical` pixels.
    pub(crate) fn at(self, logical: f64) -> i32 {
        (logical * self.0).round() as i32
    }
    /// A text size in device units.
    pub(crate) fn text(self, size: f64) -> f64 {
        size * self.0
    }
}

pub(crate) fn text_style(size: f64, colour: RGBColor) -> TextStyle<'static> {
    (FONT, size).into_font().color(&colour)
}

pub(crate) fn render_svg(figure: &Figure) -> Result<String, PlotError> {
    let fonts = fonts()?;
    let mut svg = String::new();
    {
        let canvas = Canvas {
            inner: SVGBackend::with_string(&mut svg, (WIDTH_PX, HEIGHT_PX)),
            fonts,
            raster_text: false,
        };
        let root = canvas.into_drawing_area();
        draw_figure(&root, figure, Scale(1.0))?;
        root.present()
            .map_err(|e| PlotError::Render(format!("finishing the SVG document: {e}")))?;
    }
    Ok(svg)
}

/// Converts a plotters drawing error (generic over the backend) into a [`PlotError::Render`].
pub(crate) fn drawing<T, E: std::error::Error + Send + Sync + 'static>(
    res: Result<T, DrawingAreaErrorKind<E>>,
) -> Result<T, PlotError> {
    res.map_err(|e| PlotError::Render(format!("drawing the plot: {e}")))
}

pub(crate) fn draw_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    figure: &Figure,
    scale: Scale,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let (device_w, _) = root.dim_in_pixel();
    drawing(root.fill(&WHITE))?;
    let (title_area, body) = root.split_vertically(scale.at(50.0));
    let title_style = TextStyle::from(
        (FONT, scale.text(TITLE_SIZE))
            .into_font()
            .style(FontStyle::Bold),
    )
    .color(&TEXT)
    .pos(Pos::new(HPos::Center, VPos::Center));
    let title = fit_text(root, &figure.title, &title_style, device_w - scale.px(40.0))?;
    drawing(title_area.draw_text(&title, &title_style, (device_w as i32 / 2, scale.at(27.0))))?;

    // Legend panel on the right, as wide as its longest entry.
    let legend_style = text_style(scale.text(LEGEND_SIZE), TEXT);
    let key_style = text_style(scale.text(LEGEND_SIZE - 1.0), MUTED);
    let mut entries = Vec::with_capacity(figure.legend.len() + figure.key.len());
    let mut text_w = 0;
    for (entry, style) in figure
        .legend
        .iter()
        .map(|e| (e, &legend_style))
        .chain(figure.key.iter().map(|e| (e, &key_style)))
    {
        let text = fit_text(root, &entry.text, style, scale.px(LEGEND_MAX_TEXT_W))?;
        text_w = text_w.max(drawing(root.estimate_text_size(&text, style))?.0);
        entries.push((entry.swatch, text, style));
    }
    let swatch_w = scale.at(30.0);
    let legend_w = (text_w as i32 + swatch_w + scale.at(36.0)).max(scale.at(150.0));
    let (plot_area, legend_area) = body.split_horizontally(device_w as i32 - legend_w);

    let tick_style = text_style(scale.text(TICK_SIZE), MUTED);
    let mut y_tick_w = 0;
    for &t in &figure.y_axis.ticks {
        let label = figure.y_axis.label(t);
        y_tick_w = y_tick_w.max(drawing(root.estimate_text_size(&label, &tick_style))?.0);
    }
    let mut chart = drawing(
        ChartBuilder::on(&plot_area)
            .margin_top(scale.px(6.0))
            .margin_right(scale.px(12.0))
            .margin_left(scale.px(10.0))
            .margin_bottom(scale.px(6.0))
            .x_label_area_size(scale.px(54.0))
            .y_label_area_size(y_tick_w + scale.px(44.0))
            .build_cartesian_2d(figure.x_axis.clone(), figure.y_axis.clone()),
    )?;
    let x_fmt = |v: &f64| figure.x_axis.label(*v);
    let y_fmt = |v: &f64| figure.y_axis.label(*v);
    drawing(
        chart
            .configure_mesh()
            .x_desc(figure.x_label.as_str())
            .y_desc(figure.y_label.as_str())
            .axis_desc_style(text_style(scale.text(AXIS_LABEL_SIZE), TEXT))
            .label_style(tick_style.clone())
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .bold_line_style(GRID.stroke_width(scale.px(1.0)))
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS.stroke_width(scale.px(1.0)))
            .set_all_tick_mark_size(scale.px(4.0))
            .draw(),
    )?;

    for shape in &figure.shapes {
        match shape {
            Shape::Area { points, fill } => {
                drawing(
                    chart.draw_series(std::iter::once(Polygon::new(points.clone(), fill.filled()))),
                )?;
            }
            Shape::Line {
                points,
                colour,
                width,
            } => {
                drawing(chart.draw_series(std::iter::once(PathElement::new(
                    points.clone(),
                    colour.stroke_width(scale.px(*width)),
                ))))?;
            }
            Shape::Dot { at, colour, radius } => {
                let rim = Circle::new(*at, scale.px(radius + 1.25), WHITE.filled());
                let dot = Circle::new(*at, scale.px(*radius), colour.filled());
                drawing(chart.draw_series([rim, dot]))?;
            }
        }
    }

    // Legend entries, top-aligned with the plot area.
    let row_h = scale.at(26.0);
    let mut y = scale.at(18.0);
    for (entry_idx, (swatch, text, style)) in entries.iter().enumerate() {
        if entry_idx == figure.legend.len() && entry_idx > 0 {
            y += scale.at(14.0); // Gap between the arms and the key to the symbols.
        }
        draw_swatch(&legend_area, *swatch, (scale.at(4.0), y), swatch_w, scale)?;
        drawing(legend_area.draw_text(
            text,
            &style.pos(Pos::new(HPos::Left, VPos::Center)),
            (swatch_w + scale.at(14.0), y),
        ))?;
        y += row_h;
    }
    Ok(())
}

/// Draws a legend symbol `width` device pixels wide, vertically centred on `y`.
pub(crate) fn draw_swatch<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    swatch: Swatch,
    (x, y): (i32, i32),
    width: i32,
    scale: Scale,
) -> Result<(), PlotError>
where
    DB::ErrorType: 'static,
{
    let rect = |half_h: f64, fill: RGBAColor| {
        let half_h = scale.at(half_h);
        Rectangle::new([(x, y - half_h), (x + width, y + half_h)], fill.filled())
    };
    let line = |colour: RGBColor| {
        PathElement::new(
            vec![(x, y), (x + width, y)],
            colour.stroke_width(scale.px(LINE_W)),
        )
    };
    match swatch {
        Swatch::Fan(colour) => {
            drawing(area.draw(&rect(9.0, colour.mix(OUTER_ALPHA))))?;
            drawing(area.draw(&rect(5.0, colour.mix(INNER_ALPHA))))?;
            drawing(area.draw(&line(colour)))?;
        }
        Swatch::Line { colour, band } => {
            if band {
                drawing(area.draw(&rect(7.0, colour.mix(CI_ALPHA))))?;
            }
            drawing(area.draw(&line(colour)))?;
        }
        Swatch::Band { colour, alpha } => {
            drawing(area.draw(&rect(7.0, colour.mix(alpha))))?;
        }
        Swatch::Dot => {
            let centre = (x + width / 2, y);
            drawing(area.draw(&Circle::new(centre, scale.px(5.25), WHITE.filled())))?;
            drawing(area.draw(&Circle::new(centre, scale.px(4.0), OBSERVED.filled())))?;
        }
    }
    Ok(())
}

/// `text`, shortened with an ellipsis if it is wider than `max_w` device pixels in `style`.
pub(crate) fn fit_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max_w: u32,
) -> Result<String, PlotError>
where
    DB::ErrorType: 'static,
{
    if drawing(area.estimate_text_size(text, style))?.0 <= max_w {
        return Ok(text.to_owned());
    }
    let chars: Vec<char> = text.chars().collect();
    for n_keep in (0..chars.len()).rev() {
        let candidate: String = chars[..n_keep].iter().chain(['…'].iter()).collect();
        if drawing(area.estimate_text_size(&candidate, style))?.0 <= max_w {
            return Ok(candidate);
        }
    }
    Ok("…".to_owned())
}
