//! One convolution on a candle device, computing only its used taps: channels-last activations
//! `[images * 784, in]`, the taps gathered with one `index_select` into `[images * 784, taps *
//! in]` (zero where a tap falls outside the image), one matmul by the `[taps * in, out]` weight,
//! the bias added. The backward pass is written by hand with the same tools: the weight gradient
//! is one matmul over the re-gathered input, the bias gradient one matmul by a row of ones, and
//! the input gradient a second gather (each input pixel collects what its readers received)
//! summed over the taps: no dense or transposed convolution, no scatter.
//!
//! A 1x1 convolution skips the gathers. [`DeviceConv::at_positions`] computes a few output
//! positions only, which is how the device sampler advances one pixel or one row at a time.

use candle_core::{DType, Device, Result, Tensor};

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::arch::conv_spec::ConvSpec;

/// `index_select` ids that read nothing (the gather writes a zero there).
const NOWHERE: u32 = u32::MAX;

/// The positions each tap reads, and the reverse map, for one tap pattern over a 28x28 image.
#[derive(Clone, Debug)]
pub struct TapGather {
    /// `[784 * taps]`: for output position `q` and tap `t`, entry `q * taps + t` is the input
    /// position read, or [`NOWHERE`].
    forward: Tensor,
    /// `[784 * taps]`: for input position `p` and tap `t`, entry `p * taps + t` is `q * taps + t`
    /// for the output position `q` that reads `p` through tap `t`, or [`NOWHERE`].
    backward: Tensor,
    taps: usize,
}

impl TapGather {
    /// The gather of `spec`'s taps, its ids on `device`.
    pub fn new(spec: &ConvSpec, device: &Device) -> Result<TapGather> {
        let taps = spec.taps.len();
        let side = IMAGE_SIDE as isize;
        let at = |y: isize, x: isize| -> Option<usize> {
            ((0..side).contains(&y) && (0..side).contains(&x)).then(|| (y * side + x) as usize)
        };
        let mut forward = vec![NOWHERE; IMAGE_PIXELS * taps];
        let mut backward = vec![NOWHERE; IMAGE_PIXELS * taps];
        for q in 0..IMAGE_PIXELS {
            let (y, x) = ((q / IMAGE_SIDE) as isize, (q % IMAGE_SIDE) as isize);
            for (t, tap) in spec.taps.iter().enumerate() {
                if let Some(p) = at(y + tap.dy, x + tap.dx) {
                    forward[q * taps + t] = p as u32;
                    backward[p * taps + t] = (q * taps + t) as u32;
                }
            }
        }
        Ok(TapGather {
            forward: Tensor::from_vec(forward, IMAGE_PIXELS * taps, device)?,
            backward: Tensor::from_vec(backward, IMAGE_PIXELS * taps, device)?,
            taps,
        })
    }

    /// Taps per output position.
    pub fn taps(&self) -> usize {
        self.taps
    }

    /// The taps of output positions `first..first + count` of every image of `x` (`[images,
    /// 784, c]`, contiguous): `[images * count, taps * c]`.
    pub fn gather_positions(&self, x: &Tensor, first: usize, count: usize) -> Result<Tensor> {
        let (images, _, channels) = x.dims3()?;
        // candle's CUDA gather counts its elements in 32 bits.
        let values = images as u64 * (count * self.taps * channels) as u64;
        if values > u64::from(u32::MAX) {
            candle_core::bail!(
                "a gather of {values} values is more than the device can index at once: use a smaller batch"
            );
        }
        let ids = self
            .forward
            .narrow(0, first * self.taps, count * self.taps)?;
        x.index_select(&ids, 1)?
            .reshape((images * count, self.taps * channels))
    }

    /// The input gradient `[images * 784, c]` from the gradient of the gathered taps `[images *
    /// 784, taps * c]`.
    pub fn scatter_back(&self, grad_taps: &Tensor, images: usize) -> Result<Tensor> {
        let channels = grad_taps.dim(1)? / self.taps;
        grad_taps
            .reshape((images, IMAGE_PIXELS * self.taps, channels))?
            .index_select(&self.backward, 1)?
            .reshape((images * IMAGE_PIXELS, self.taps, channels))?
            .sum(1)
    }
}

/// A convolution's geometry on the device; its weight `[taps * in, out]` and bias `[out]` are
/// passed in (views of the flat parameter vector).
#[derive(Clone, Debug)]
pub struct DeviceConv {
    /// Index of the weight in the stored parameters.
    pub weight: usize,
    /// Index of the bias in the stored parameters.
    pub bias: usize,
    /// `None` for a 1x1 convolution.
    gather: Option<TapGather>,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
}

/// A convolution's weight and bias on the device.
#[derive(Clone, Copy, Debug)]
pub struct ConvWeights<'a> {
    /// `[taps * in, out]`.
    pub weight: &'a Tensor,
    /// `[out]`.
    pub bias: &'a Tensor,
}

/// The gradients of one convolution.
#[derive(Debug)]
pub struct ConvGrads {
    /// `[taps * in, out]`.
    pub weight: Tensor,
    /// `[out]`.
    pub bias: Tensor,
    /// `[images * 784, in]`, when asked for.
    pub input: Option<Tensor>,
}

impl DeviceConv {
    /// The convolution `spec` whose weight and bias sit at stored indices `weight`, `bias`.
    pub fn new(spec: &ConvSpec, weight: usize, bias: usize, device: &Device) -> Result<Self> {
        let gather = if spec.is_pointwise() {
            None
        } else {
            Some(TapGather::new(spec, device)?)
        };
        Ok(DeviceConv {
            weight,
            bias,
            gather,
            in_channels: spec.in_channels,
            out_channels: spec.out_channels,
        })
    }

    /// Whether it reads other positions than the output's own (not a 1x1 convolution).
    pub fn reads_neighbours(&self) -> bool {
        self.gather.is_some()
    }

    /// The matmul's left side for `x` `[images * 784, in]`: the gathered taps, or `x` itself.
    fn lhs(&self, x: &Tensor, images: usize) -> Result<Tensor> {
        match &self.gather {
            Some(gather) => {
                let x = x.reshape((images, IMAGE_PIXELS, self.in_channels))?;
                gather.gather_positions(&x, 0, IMAGE_PIXELS)
            }
            None => Ok(x.clone()),
        }
    }

    /// `conv(x) + bias`, `[images * 784, out]`.
    pub fn forward(&self, x: &Tensor, w: ConvWeights, images: usize) -> Result<Tensor> {
        self.lhs(x, images)?.matmul(w.weight)?.broadcast_add(w.bias)
    }

    /// `conv(x) + bias` at output positions `first..first + count` of each image of `x`
    /// (`[images, 784, in]`, contiguous): `[images * count, out]`.
    pub fn at_positions(
        &self,
        x: &Tensor,
        w: ConvWeights,
        first: usize,
        count: usize,
    ) -> Result<Tensor> {
        let lhs = match &self.gather {
            Some(gather) => gather.gather_positions(x, first, count)?,
            None => {
                let images = x.dim(0)?;
                x.narrow(1, first, count)?
                    .reshape((images * count, self.in_channels))?
            }
        };
        lhs.matmul(w.weight)?.broadcast_add(w.bias)
    }

    /// Gradients from `grad_out` (of `conv(x) + bias`, `[images * 784, out]`); `ones` is a
    /// `[1, images * 784]` row of ones (it sums the bias gradient as a matmul).
    pub fn backward(
        &self,
        x: &Tensor,
        grad_out: &Tensor,
        w: ConvWeights,
        ones: &Tensor,
        images: usize,
        need_input: bool,
    ) -> Result<ConvGrads> {
        let lhs = self.lhs(x, images)?;
        let weight = lhs.t()?.matmul(grad_out)?;
        let bias = ones.matmul(grad_out)?.squeeze(0)?;
        let input = if need_input {
            let grad_lhs = grad_out.matmul(&w.weight.t()?)?;
            Some(match &self.gather {
                Some(gather) => gather.scatter_back(&grad_lhs, images)?,
                None => grad_lhs,
            })
        } else {
            None
        };
        Ok(ConvGrads {
            weight,
            bias,
            input,
        })
    }
}

/// A `[1, rows]` row of ones on `device`.
pub fn ones_row(rows: usize, device: &Device) -> Result<Tensor> {
    Tensor::ones((1, rows), DType::F32, device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mask, MaskKind};

    #[test]
    fn gathered_taps_read_the_pixels_above_and_left_and_zero_outside() {
        let spec = ConvSpec::masked("c", &Mask::new(3, MaskKind::B), 1, 1);
        let gather = TapGather::new(&spec, &Device::Cpu).unwrap();
        let image: Vec<f32> = (0..IMAGE_PIXELS).map(|p| p as f32 + 1.0).collect();
        let x = Tensor::from_vec(image, (1, IMAGE_PIXELS, 1), &Device::Cpu).unwrap();
        // Position (1, 0): taps (0,-1) (0,0) (0,1) (1,-1) (1,0); column -1 is outside.
        let row: Vec<Vec<f32>> = gather
            .gather_positions(&x, 28, 1)
            .unwrap()
            .to_vec2()
            .unwrap();
        assert_eq!(row, vec![vec![0.0, 1.0, 2.0, 0.0, 29.0]]);
    }

    #[test]
    fn the_input_gradient_sums_what_each_pixel_fed_to_every_tap() {
        // Gather then scatter back with all-ones gradients: each pixel counts its readers.
        let spec = ConvSpec::masked("c", &Mask::new(3, MaskKind::B), 1, 1);
        let gather = TapGather::new(&spec, &Device::Cpu).unwrap();
        let ones = Tensor::ones((IMAGE_PIXELS, 5), DType::F32, &Device::Cpu).unwrap();
        let counts: Vec<f32> = gather
            .scatter_back(&ones, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        // Pixel p is read by the outputs p + (1, 1), (1, 0), (1, -1), (0, 1) and p itself: all
        // five in the interior, only itself at the bottom-right corner, four at the top-left.
        assert_eq!(counts[14 * 28 + 14], 5.0);
        assert_eq!(counts[IMAGE_PIXELS - 1], 1.0);
        assert_eq!(counts[0], 4.0);
    }
}
