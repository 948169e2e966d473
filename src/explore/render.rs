//! How explore results look, as plain RGB: the heatmap's colour scale and the completion tiles.
//! The studio paints with these colours and the command line writes them to PNG, so both show
//! the same picture.

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};

use super::completion::Hole;
use super::nll_map::NllMap;

/// Top of the heatmap's colour scale, nats: costs at or above it get the brightest colour. Fixed,
/// so that maps of different images and models compare.
pub const HEAT_SCALE_MAX_NATS: f64 = 4.0;

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Control points of the colour scale (an "inferno"-like ramp: dark for confident, bright for
/// surprised), evenly spaced from 0 to 1.
const RAMP: [Rgb; 5] = [
    [0, 0, 4],
    [87, 16, 110],
    [188, 55, 84],
    [249, 142, 9],
    [252, 255, 164],
];

/// The colour of a pixel costing `cost_nats` (clamped to `0..=HEAT_SCALE_MAX_NATS`).
pub fn heat_color(cost_nats: f64) -> Rgb {
    let t = (cost_nats / HEAT_SCALE_MAX_NATS).clamp(0.0, 1.0);
    let scaled = t * (RAMP.len() - 1) as f64;
    let index = (scaled.floor() as usize).min(RAMP.len() - 2);
    let frac = scaled - index as f64;
    let (a, b) = (RAMP[index], RAMP[index + 1]);
    std::array::from_fn(|c| {
        (f64::from(a[c]) + (f64::from(b[c]) - f64::from(a[c])) * frac).round() as u8
    })
}

/// Ink the model was given (kept from the original).
pub const KEPT_INK: Rgb = [235, 235, 235];
/// Ink the model drew where it was asked to (below the cut, inside the hole).
pub const DRAWN_INK: Rgb = [255, 184, 77];
/// Ink the model redrew outside a hole: those pixels were kept by the user, but come after the
/// hole in raster order, so the model could not see them and drew them again.
pub const REDRAWN_INK: Rgb = [105, 105, 105];
/// Background of the hole in a completion tile.
pub const HOLE_BACKGROUND: Rgb = [28, 30, 52];
/// Background elsewhere.
pub const BACKGROUND: Rgb = [0, 0, 0];

/// The colour of pixel `pos` of a completion whose first `keep_pixels` were kept, and which
/// filled `hole` (if any).
pub fn completion_color(pos: usize, ink: bool, keep_pixels: usize, hole: Option<&Hole>) -> Rgb {
    let in_hole = hole.is_some_and(|h| h.contains(pos));
    match (ink, pos < keep_pixels, hole.is_some(), in_hole) {
        (true, true, _, _) => KEPT_INK,
        (true, false, false, _) | (true, false, true, true) => DRAWN_INK,
        (true, false, true, false) => REDRAWN_INK,
        (false, _, _, true) => HOLE_BACKGROUND,
        (false, _, _, false) => BACKGROUND,
    }
}

/// One completion (784 pixels) as 28x28 RGB.
pub fn completion_tile(pixels: &[f32], keep_pixels: usize, hole: Option<&Hole>) -> Vec<Rgb> {
    pixels
        .iter()
        .take(IMAGE_PIXELS)
        .enumerate()
        .map(|(pos, &p)| completion_color(pos, p > 0.5, keep_pixels, hole))
        .collect()
}

/// An RGB picture being laid out: `width x height`, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Canvas {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

impl Canvas {
    /// A canvas filled with `color`.
    pub fn filled(width: usize, height: usize, color: Rgb) -> Canvas {
        Canvas {
            width,
            height,
            rgb: color.repeat(width * height),
        }
    }

    /// Fills the rectangle at `(x, y)` of `w x h`, clipped to the canvas.
    pub fn fill_rect(&mut self, x: usize, y: usize, w: usize, h: usize, color: Rgb) {
        for row in y..(y + h).min(self.height) {
            for col in x..(x + w).min(self.width) {
                let at = (row * self.width + col) * 3;
                self.rgb[at..at + 3].copy_from_slice(&color);
            }
        }
    }

    /// Draws a 28x28 tile of colours at `(x, y)`, each pixel a `scale x scale` square.
    pub fn draw_tile(&mut self, x: usize, y: usize, scale: usize, tile: &[Rgb]) {
        for (pos, &color) in tile.iter().enumerate().take(IMAGE_PIXELS) {
            let (row, col) = (pos / IMAGE_SIDE, pos % IMAGE_SIDE);
            self.fill_rect(x + col * scale, y + row * scale, scale, scale, color);
        }
    }
}

/// The heatmap of `map` over `pixels`, `scale` screen pixels per image pixel: each pixel in its
/// cost's colour, ink marked by a light square in its middle.
pub fn heatmap_canvas(map: &NllMap, pixels: &[f32], scale: usize) -> Canvas {
    let scale = scale.max(1);
    let side = IMAGE_SIDE * scale;
    let mut canvas = Canvas::filled(side, side, BACKGROUND);
    let tile: Vec<Rgb> = map.cost_nats.iter().map(|&c| heat_color(c)).collect();
    canvas.draw_tile(0, 0, scale, &tile);
    let inset = scale / 3;
    if scale >= 3 {
        for (pos, _) in pixels.iter().enumerate().filter(|(_, &p)| p > 0.5) {
            let (row, col) = (pos / IMAGE_SIDE, pos % IMAGE_SIDE);
            let (x, y) = (col * scale + inset, row * scale + inset);
            canvas.fill_rect(x, y, scale - 2 * inset, scale - 2 * inset, [255, 255, 255]);
        }
    }
    canvas
}

/// Space between tiles of a completion sheet, in image pixels (scaled like the tiles).
pub const GUTTER: usize = 2;
/// Colour of the cut line and the hole outline on the original.
pub const CUT_LINE: Rgb = [230, 40, 40];

/// The original (with the cut line, or the hole outlined) followed by its completions, in rows of
/// up to `columns` tiles, `scale` screen pixels per image pixel, on a dark grey sheet.
pub fn completion_sheet(
    original: &[f32],
    completions: &[f32],
    keep_pixels: usize,
    hole: Option<&Hole>,
    columns: usize,
    scale: usize,
) -> Canvas {
    let scale = scale.max(1);
    let columns = columns.max(1);
    let count = completions.len() / IMAGE_PIXELS;
    let tiles = count + 1;
    let rows = tiles.div_ceil(columns);
    let step = (IMAGE_SIDE + GUTTER) * scale;
    let width = columns.min(tiles) * step + GUTTER * scale;
    let height = rows * step + GUTTER * scale;
    let mut sheet = Canvas::filled(width, height, [48, 48, 48]);
    let origin = |index: usize| {
        (
            GUTTER * scale + (index % columns) * step,
            GUTTER * scale + (index / columns) * step,
        )
    };
    let original_tile: Vec<Rgb> = original
        .iter()
        .take(IMAGE_PIXELS)
        .map(|&p| if p > 0.5 { KEPT_INK } else { BACKGROUND })
        .collect();
    let (x0, y0) = origin(0);
    sheet.draw_tile(x0, y0, scale, &original_tile);
    let tile_side = IMAGE_SIDE * scale;
    match hole {
        Some(h) => {
            let (x, y) = (x0 + h.left * scale, y0 + h.top * scale);
            let (w, ht) = ((h.right - h.left) * scale, (h.bottom - h.top) * scale);
            sheet.fill_rect(x, y, w, 1, CUT_LINE);
            sheet.fill_rect(x, y + ht.saturating_sub(1), w, 1, CUT_LINE);
            sheet.fill_rect(x, y, 1, ht, CUT_LINE);
            sheet.fill_rect(x + w.saturating_sub(1), y, 1, ht, CUT_LINE);
        }
        None => {
            let y = y0 + (keep_pixels / IMAGE_SIDE) * scale;
            sheet.fill_rect(x0, y.min(y0 + tile_side - 1), tile_side, 1, CUT_LINE);
        }
    }
    for (index, pixels) in completions.chunks_exact(IMAGE_PIXELS).enumerate() {
        let (x, y) = origin(index + 1);
        sheet.draw_tile(x, y, scale, &completion_tile(pixels, keep_pixels, hole));
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_colour_scale_runs_dark_to_bright_and_clamps() {
        assert_eq!(heat_color(0.0), RAMP[0]);
        assert_eq!(heat_color(HEAT_SCALE_MAX_NATS), RAMP[4]);
        assert_eq!(heat_color(100.0), RAMP[4]);
        assert_eq!(heat_color(-1.0), RAMP[0]);
        let brightness = |c: Rgb| c.iter().map(|&v| u32::from(v)).sum::<u32>();
        assert!(brightness(heat_color(1.0)) < brightness(heat_color(3.0)));
    }

    #[test]
    fn a_completion_tile_tells_kept_drawn_and_redrawn_ink_apart() {
        let hole = Hole::spanning((10, 10), (12, 12));
        let keep = hole.first_pixel();
        assert_eq!(completion_color(0, true, keep, Some(&hole)), KEPT_INK);
        assert_eq!(
            completion_color(11 * 28 + 11, true, keep, Some(&hole)),
            DRAWN_INK
        );
        assert_eq!(
            completion_color(20 * 28, true, keep, Some(&hole)),
            REDRAWN_INK
        );
        assert_eq!(completion_color(20 * 28, true, 28 * 5, None), DRAWN_INK);
        assert_eq!(
            completion_color(11 * 28 + 11, false, keep, Some(&hole)),
            HOLE_BACKGROUND
        );
    }

    #[test]
    fn a_sheet_holds_the_original_and_every_completion() {
        let image = vec![0.0; IMAGE_PIXELS];
        let sheet = completion_sheet(&image, &image.repeat(10), 14 * 28, None, 6, 2);
        assert_eq!(sheet.width, 6 * 30 * 2 + 4);
        assert_eq!(sheet.height, 2 * 30 * 2 + 4);
        assert_eq!(sheet.rgb.len(), sheet.width * sheet.height * 3);
    }
}
