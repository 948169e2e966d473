//! The 28x28 pixel grid on screen: which cell the pointer is over, where a cell is drawn, the
//! cells a stroke and a brush cover.

use egui::{Color32, Pos2, Rect, Vec2};

use super::CELL;
use crate::data::IMAGE_SIDE;
use crate::explore::render::Rgb;

/// The cells on the straight line from `a` to `b` (Bresenham), both included.
pub(super) fn line_cells(a: (usize, usize), b: (usize, usize)) -> Vec<(usize, usize)> {
    let (mut r, mut c) = (a.0 as i64, a.1 as i64);
    let (r1, c1) = (b.0 as i64, b.1 as i64);
    let (dr, dc) = ((r1 - r).abs(), -(c1 - c).abs());
    let (sr, sc) = ((r1 - r).signum(), (c1 - c).signum());
    let mut err = dr + dc;
    let mut cells = Vec::new();
    loop {
        cells.push((r as usize, c as usize));
        if r == r1 && c == c1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dc {
            err += dc;
            r += sr;
        }
        if e2 <= dr {
            err += dr;
            c += sc;
        }
    }
    cells
}

/// The cells a brush of side `size` (1-3) covers at `(row, col)`, inside the image.
pub(super) fn brush_cells(row: usize, col: usize, size: usize) -> Vec<(usize, usize)> {
    let size = size.clamp(1, 3) as i64;
    let (lo, hi) = (-(size - 1) / 2, size / 2);
    let mut cells = Vec::new();
    for dr in lo..=hi {
        for dc in lo..=hi {
            let (r, c) = (row as i64 + dr, col as i64 + dc);
            if (0..IMAGE_SIDE as i64).contains(&r) && (0..IMAGE_SIDE as i64).contains(&c) {
                cells.push((r as usize, c as usize));
            }
        }
    }
    cells
}

pub(super) fn color(rgb: Rgb) -> Color32 {
    Color32::from_rgb(rgb[0], rgb[1], rgb[2])
}

/// The image cell under `pos` on a 28x28 grid drawn in `rect`.
pub(super) fn cell_at(rect: Rect, pos: Pos2) -> Option<(usize, usize)> {
    if !rect.contains(pos) {
        return None;
    }
    // The far edges belong to the last row and column.
    let col = (((pos.x - rect.min.x) / CELL).floor() as usize).min(IMAGE_SIDE - 1);
    let row = (((pos.y - rect.min.y) / CELL).floor() as usize).min(IMAGE_SIDE - 1);
    Some((row, col))
}

pub(super) fn cell_rect(rect: Rect, pos: usize) -> Rect {
    let (row, col) = (pos / IMAGE_SIDE, pos % IMAGE_SIDE);
    Rect::from_min_size(
        rect.min + Vec2::new(col as f32 * CELL, row as f32 * CELL),
        Vec2::splat(CELL),
    )
}

/// Outlines the hovered pixel (if any) of the 28x28 grid drawn in `rect`; the canvas and the
/// heatmap mark the same pixel the same way.
pub(super) fn outline_hovered(painter: &egui::Painter, rect: Rect, hovered: Option<usize>) {
    if let Some(pos) = hovered {
        painter.rect_stroke(
            cell_rect(rect, pos),
            0.0,
            egui::Stroke::new(1.0, Color32::from_rgb(80, 200, 255)),
            egui::StrokeKind::Inside,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stroke_covers_every_cell_between_its_ends() {
        let cells = line_cells((0, 0), (3, 6));
        assert_eq!(cells.first(), Some(&(0, 0)));
        assert_eq!(cells.last(), Some(&(3, 6)));
        assert_eq!(cells.len(), 7, "one cell per column of the longer axis");
        assert!(cells
            .windows(2)
            .all(|w| { w[0].0.abs_diff(w[1].0) <= 1 && w[0].1.abs_diff(w[1].1) <= 1 }));
    }

    #[test]
    fn a_brush_stays_inside_the_image() {
        assert_eq!(brush_cells(0, 0, 1), vec![(0, 0)]);
        assert_eq!(brush_cells(27, 27, 2), vec![(27, 27)]);
        assert_eq!(brush_cells(5, 5, 3).len(), 9);
    }
}
