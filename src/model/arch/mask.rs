//! Causal masks for masked convolutions, as plain data.

use serde::{Deserialize, Serialize};

/// Which of the two PixelCNN masks a convolution uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MaskKind {
    /// First layer: hides the centre pixel, everything right of it and every row below.
    A,
    /// Later layers: like A but keeps the centre.
    B,
}

impl MaskKind {
    /// "A" or "B".
    pub fn label(self) -> &'static str {
        match self {
            MaskKind::A => "A",
            MaskKind::B => "B",
        }
    }
}

/// A `size x size` kernel mask; `true` where the kernel tap is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    /// Kernel side (odd).
    pub size: usize,
    /// Row-major `size * size` flags.
    pub keep: Vec<bool>,
}

impl Mask {
    /// Builds mask `kind` for an odd `size`: rows above the centre are kept, the centre row is kept
    /// left of the centre (and at the centre for mask B), rows below are hidden.
    pub fn new(size: usize, kind: MaskKind) -> Mask {
        let centre = size / 2;
        let mut keep = Vec::with_capacity(size * size);
        for row in 0..size {
            for col in 0..size {
                let visible = row < centre
                    || (row == centre && (col < centre || (col == centre && kind == MaskKind::B)));
                keep.push(visible);
            }
        }
        Mask { size, keep }
    }

    /// The mask of a plain (unmasked) `size x size` kernel, e.g. a 1x1 conv.
    pub fn full(size: usize) -> Mask {
        Mask {
            size,
            keep: vec![true; size * size],
        }
    }

    /// Whether tap (`row`, `col`) is used; false outside the kernel.
    pub fn is_kept(&self, row: usize, col: usize) -> bool {
        row < self.size && col < self.size && self.keep[row * self.size + col]
    }

    /// Number of used taps.
    pub fn kept_count(&self) -> usize {
        self.keep.iter().filter(|&&k| k).count()
    }

    /// Text drawing: `#` used, `.` hidden, the centre bracketed.
    pub fn to_text(&self) -> String {
        let centre = self.size / 2;
        let mut out = String::new();
        for row in 0..self.size {
            for col in 0..self.size {
                let cell = if self.is_kept(row, col) { '#' } else { '.' };
                if row == centre && col == centre {
                    out.push('[');
                    out.push(cell);
                    out.push(']');
                } else {
                    out.push(' ');
                    out.push(cell);
                    out.push(' ');
                }
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_a_hides_the_centre_the_rest_of_its_row_and_all_rows_below() {
        let mask = Mask::new(7, MaskKind::A);
        assert!(!mask.is_kept(3, 3));
        for col in 0..7 {
            assert!(mask.is_kept(2, col), "row above the centre is visible");
            assert_eq!(mask.is_kept(3, col), col < 3);
            assert!(!mask.is_kept(4, col) && !mask.is_kept(6, col));
        }
        assert_eq!(mask.kept_count(), 24);
    }

    #[test]
    fn mask_b_keeps_the_centre() {
        let mask = Mask::new(3, MaskKind::B);
        assert!(mask.is_kept(1, 1));
        assert!(!mask.is_kept(1, 2));
        assert_eq!(mask.kept_count(), 5);
        assert_eq!(
            mask.keep,
            [true, true, true, true, true, false, false, false, false]
        );
    }

    #[test]
    fn text_drawing_marks_the_centre() {
        let text = Mask::new(3, MaskKind::A).to_text();
        assert_eq!(text, " #  #  # \n # [.] . \n .  .  . \n");
    }
}
