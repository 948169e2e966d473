//! One convolution of either family as plain data: its stored kernel shape, the taps it uses and
//! its channels. The fast kernels, the parameter layout and the inspector all read it.

use super::mask::Mask;
use crate::data::IMAGE_SIDE;

/// One used kernel tap: where it reads, relative to the output pixel, and where its weights sit
/// in the stored `[out, in, kh, kw]` kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tap {
    /// Row offset of the input pixel (negative: above).
    pub dy: isize,
    /// Column offset of the input pixel (negative: left).
    pub dx: isize,
    /// `row * kw + col` in the stored kernel.
    pub index: usize,
}

/// A convolution with a bias, channels-last in the fast kernels, `[out, in, kh, kw]` as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    /// Checkpoint prefix, e.g. `conv_b.0` or `layers.0.conv_v`.
    pub name: String,
    /// Stored kernel height.
    pub kernel_height: usize,
    /// Stored kernel width.
    pub kernel_width: usize,
    /// The taps the convolution uses, in stored (row-major) order.
    pub taps: Vec<Tap>,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
}

impl ConvSpec {
    /// A square `mask.size` kernel centred on the output pixel, using the mask's kept taps.
    pub fn masked(name: &str, mask: &Mask, in_channels: usize, out_channels: usize) -> ConvSpec {
        let centre = (mask.size / 2) as isize;
        let taps = (0..mask.size * mask.size)
            .filter(|&i| mask.keep[i])
            .map(|index| Tap {
                dy: (index / mask.size) as isize - centre,
                dx: (index % mask.size) as isize - centre,
                index,
            })
            .collect();
        ConvSpec {
            name: name.to_string(),
            kernel_height: mask.size,
            kernel_width: mask.size,
            taps,
            in_channels,
            out_channels,
        }
    }

    /// A dense `height x width` kernel whose top-left tap reads the pixel at (`top`, `left`)
    /// relative to the output pixel: the valid convolution of an explicitly padded input, as the
    /// gated PixelCNN writes its shifted stacks.
    pub fn shifted(
        name: &str,
        (height, width): (usize, usize),
        (top, left): (isize, isize),
        in_channels: usize,
        out_channels: usize,
    ) -> ConvSpec {
        let taps = (0..height * width)
            .map(|index| Tap {
                dy: top + (index / width) as isize,
                dx: left + (index % width) as isize,
                index,
            })
            .collect();
        ConvSpec {
            name: name.to_string(),
            kernel_height: height,
            kernel_width: width,
            taps,
            in_channels,
            out_channels,
        }
    }

    /// The same kernel with its taps spread `rows` apart vertically and `columns` apart
    /// horizontally around the output pixel (`dy * rows`, `dx * columns`): a dilated
    /// convolution, with the same stored weights.
    pub fn with_dilation(mut self, rows: usize, columns: usize) -> ConvSpec {
        let (rows, columns) = (rows.max(1) as isize, columns.max(1) as isize);
        for tap in &mut self.taps {
            tap.dy *= rows;
            tap.dx *= columns;
        }
        self
    }

    /// A 1x1 convolution.
    pub fn pointwise(name: &str, in_channels: usize, out_channels: usize) -> ConvSpec {
        ConvSpec::shifted(name, (1, 1), (0, 0), in_channels, out_channels)
    }

    /// Whether it reads only the output pixel itself (a 1x1 convolution).
    pub fn is_pointwise(&self) -> bool {
        matches!(self.taps.as_slice(), [Tap { dy: 0, dx: 0, .. }])
    }

    /// Values of the stored kernel per (output, input) channel pair.
    pub fn kernel_area(&self) -> usize {
        self.kernel_height * self.kernel_width
    }

    /// Stored weight shape `[out, in, kh, kw]`.
    pub fn weight_shape(&self) -> [usize; 4] {
        [
            self.out_channels,
            self.in_channels,
            self.kernel_height,
            self.kernel_width,
        ]
    }

    /// Whether stored tap `index` is used.
    pub fn uses(&self, index: usize) -> bool {
        self.taps.iter().any(|t| t.index == index)
    }

    /// Stored weights plus biases.
    pub fn parameter_count(&self) -> usize {
        self.weight_shape().iter().product::<usize>() + self.out_channels
    }

    /// Multiply-accumulates per output pixel (used taps only).
    pub fn macs_per_pixel(&self) -> usize {
        self.taps.len() * self.in_channels * self.out_channels
    }

    /// Image rows above the output pixel the taps reach (0 when none reach above).
    pub fn reach_above(&self) -> usize {
        self.taps
            .iter()
            .map(|t| (-t.dy).max(0) as usize)
            .max()
            .unwrap_or(0)
    }

    /// Marks in `into` (784 flags) every input pixel this convolution's taps read for the
    /// output pixels marked in `from`: one step of a receptive field, walked backwards.
    pub fn mark_inputs(&self, from: &[bool], into: &mut [bool]) {
        let side = IMAGE_SIDE as isize;
        for (pos, _) in from.iter().enumerate().filter(|(_, &s)| s) {
            let (y, x) = ((pos / IMAGE_SIDE) as isize, (pos % IMAGE_SIDE) as isize);
            for tap in &self.taps {
                let (yy, xx) = (y + tap.dy, x + tap.dx);
                if (0..side).contains(&yy) && (0..side).contains(&xx) {
                    if let Some(seen) = into.get_mut((yy * side + xx) as usize) {
                        *seen = true;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MaskKind;

    #[test]
    fn masked_spec_keeps_the_mask_taps_in_stored_order() {
        let spec = ConvSpec::masked("conv_a", &Mask::new(3, MaskKind::A), 1, 4);
        let taps: Vec<_> = spec.taps.iter().map(|t| (t.dy, t.dx, t.index)).collect();
        assert_eq!(taps, [(-1, -1, 0), (-1, 0, 1), (-1, 1, 2), (0, -1, 3)]);
        assert_eq!(spec.weight_shape(), [4, 1, 3, 3]);
    }

    #[test]
    fn shifted_spec_reads_the_rectangle_from_its_top_left_offset() {
        // The gated first vertical conv for k = 7: rows i-3..i-1, columns j-3..j+3.
        let spec = ConvSpec::shifted("conv_v0", (3, 7), (-3, -3), 1, 8);
        assert_eq!(spec.taps.len(), 21);
        assert_eq!((spec.taps[0].dy, spec.taps[0].dx), (-3, -3));
        assert_eq!((spec.taps[20].dy, spec.taps[20].dx), (-1, 3));
        assert!(spec.taps.iter().all(|t| t.dy < 0));
        assert_eq!(spec.reach_above(), 3);
        assert!(ConvSpec::pointwise("link", 8, 8).is_pointwise());
    }
}
