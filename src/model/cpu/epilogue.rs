//! The CPU half of a layer's epilogue ([`Epilogue`]): bias, activation and residual applied to
//! one pixel's channels-last row, the gate's backward, and the fast `tanh`/`sigmoid`
//! approximations (AVX-512 where the CPU has it) that the fast networks and samplers use.

use crate::model::arch::epilogue::{Activation, Epilogue};

impl Epilogue {
    /// Applies the epilogue to one pixel's convolution output `pre` (all its channels).
    ///
    /// - Identity and ReLU work in place: `pre = act(pre + bias) [+ residual]`. The ReLU keeps
    ///   the sign of what it zeroed (`-0.0` for a negative input), so a backward pass can read
    ///   the derivative from the output; the values are exactly `max(z, 0)`.
    /// - Gate: `pre` (`2c` values) becomes `[tanh(a) | sigmoid(b)]` of `a | b = pre + bias`
    ///   (what the backward pass needs) and `gated` (`c` values) receives `tanh(a) * sigmoid(b)
    ///   [+ residual]`.
    ///
    /// `before_residual`, if given, receives the activation before the residual is added.
    ///
    /// Inline: it runs once per pixel and layer, and the networks and samplers that call it sit
    /// in other modules (other codegen units), where a plain function would not be inlined.
    #[inline]
    pub fn apply_row(
        &self,
        pre: &mut [f32],
        bias: &[f32],
        gated: Option<&mut [f32]>,
        residual: Option<&[f32]>,
        before_residual: Option<&mut [f32]>,
    ) {
        let out: &mut [f32] = match self.activation {
            Activation::Identity => {
                pre.iter_mut().zip(bias).for_each(|(v, &b)| *v += b);
                pre
            }
            Activation::Relu => {
                pre.iter_mut()
                    .zip(bias)
                    .for_each(|(v, &b)| *v = relu_keeping_sign(*v + b));
                pre
            }
            Activation::Gate => {
                let Some(out) = gated else { return };
                let c = out.len();
                let (a, b) = pre.split_at_mut(c);
                let (bias_a, bias_b) = bias.split_at(c.min(bias.len()));
                gate(a, b, bias_a, bias_b, out);
                out
            }
        };
        if let Some(copy) = before_residual {
            copy.copy_from_slice(out);
        }
        if let (true, Some(res)) = (self.residual, residual) {
            out.iter_mut().zip(res).for_each(|(v, &r)| *v += r);
        }
    }
}

/// Backward of the gate for one pixel: from `ts` = `[tanh(a) | sigmoid(b)]` (as
/// [`Epilogue::apply_row`] left them) and the gradient `grad_out` of `tanh(a) * sigmoid(b)`,
/// writes the gradient of `a | b` into `grad_pre` (`2c` values). Inline, like
/// [`Epilogue::apply_row`].
#[inline]
pub fn gate_backward_row(ts: &[f32], grad_out: &[f32], grad_pre: &mut [f32]) {
    let c = grad_out.len();
    let (t, s) = ts.split_at(c);
    let (ga, gb) = grad_pre.split_at_mut(c);
    for ((ga, gb), ((&t, &s), &g)) in ga
        .iter_mut()
        .zip(gb.iter_mut())
        .zip(t.iter().zip(s).zip(grad_out))
    {
        *ga = g * s * (1.0 - t * t);
        *gb = g * t * s * (1.0 - s);
    }
}

/// `a = tanh(a + bias_a)`, `b = sigmoid(b + bias_b)`, `out = a * b`, element-wise (over the
/// shortest of the slices): with AVX-512 where the CPU has it (the gates are a fifth of a gated
/// network's time otherwise), else in portable vector code.
#[inline]
fn gate(a: &mut [f32], b: &mut [f32], bias_a: &[f32], bias_b: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has AVX-512F (checked just above); the function only indexes slices.
        #[allow(unsafe_code)]
        unsafe {
            gate_avx512(a, b, bias_a, bias_b, out)
        };
        return;
    }
    gate_body(a, b, bias_a, bias_b, out);
}

/// Whether the CPU has AVX-512F (detected once).
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    static HAS_AVX512: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS_AVX512.get_or_init(|| std::is_x86_feature_detected!("avx512f"))
}

/// [`gate_body`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
unsafe fn gate_avx512(
    a: &mut [f32],
    b: &mut [f32],
    bias_a: &[f32],
    bias_b: &[f32],
    out: &mut [f32],
) {
    gate_body(a, b, bias_a, bias_b, out);
}

/// The gate's arithmetic on equal-length slices, written so that it vectorizes.
#[inline(always)]
fn gate_body(a: &mut [f32], b: &mut [f32], bias_a: &[f32], bias_b: &[f32], out: &mut [f32]) {
    let n = out
        .len()
        .min(a.len())
        .min(b.len())
        .min(bias_a.len())
        .min(bias_b.len());
    let (a, b, bias_a, bias_b, out) = (
        &mut a[..n],
        &mut b[..n],
        &bias_a[..n],
        &bias_b[..n],
        &mut out[..n],
    );
    for i in 0..n {
        let t = tanh_approx(a[i] + bias_a[i]);
        let s = sigmoid_approx(b[i] + bias_b[i]);
        a[i] = t;
        b[i] = s;
        out[i] = t * s;
    }
}

/// `max(z, 0)` that remembers which side of the kink it came from: `+0.0` for `z == 0` (the
/// reference's ReLU passes the gradient there: its derivative is `z >= 0`), `-0.0` for `z < 0`.
/// A `-0.0` input adds nothing to the next layer's sums (they start from `+0.0`), so values are
/// exactly those of `max(z, 0)`; the backward pass reads the sign bit as the derivative.
pub fn relu_keeping_sign(z: f32) -> f32 {
    if z >= 0.0 {
        z + 0.0
    } else {
        -0.0
    }
}

/// The logistic function, `1 / (1 + e^-z)`, accurate to f32 rounding.
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// `e^x` without a library call, so that loops over it vectorize: Cephes' `expf` polynomial on
/// `x - n ln 2` scaled by `2^n`; relative error below 3e-7 for `x` in [-87, 88] (clamped there).
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without a call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let big = x * LOG2_E + ROUND;
    let n = big - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5; // Cephes' 5.0000001e-1, which is 0.5 in f32
    let e = p * r * r + r + 1.0;
    // `big`'s low mantissa bits hold n (its exponent is that of 1.5 * 2^23): 2^n from integer
    // arithmetic on the bits, which vectorizes (a float-to-int conversion would not).
    let n_bits = big.to_bits().wrapping_sub(ROUND.to_bits());
    e * f32::from_bits(n_bits.wrapping_add(127) << 23)
}

/// `tanh(z) = 1 - 2 / (e^2z + 1)`; absolute error below 3e-7.
#[inline(always)]
pub fn tanh_approx(z: f32) -> f32 {
    1.0 - 2.0 / (exp_approx(2.0 * z) + 1.0)
}

/// `sigmoid(z) = 1 / (1 + e^-z)` through `exp_approx`; absolute error below 3e-7.
#[inline(always)]
pub fn sigmoid_approx(z: f32) -> f32 {
    1.0 / (1.0 + exp_approx(-z))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approximations_track_the_library_functions() {
        let mut worst = (0.0f32, 0.0f32);
        for i in -20_000..=20_000 {
            let z = i as f32 * 1e-3;
            worst.0 = worst.0.max((tanh_approx(z) - z.tanh()).abs());
            worst.1 = worst.1.max((sigmoid_approx(z) - sigmoid(z)).abs());
        }
        assert!(worst.0 < 5e-7 && worst.1 < 5e-7, "{worst:?}");
        assert_eq!(tanh_approx(100.0), 1.0);
        assert_eq!(tanh_approx(-100.0), -1.0);
        assert_eq!(sigmoid_approx(-200.0).max(0.0), sigmoid_approx(-200.0));
        for z in [-80.0f32, -10.0, -0.5, 0.0, 3.0, 40.0] {
            let rel = (exp_approx(z) - z.exp()).abs() / z.exp();
            assert!(rel < 5e-7, "exp({z}) off by {rel}");
        }
    }

    #[test]
    fn gate_rows_give_tanh_times_sigmoid_and_keep_both_factors() {
        let mut pre = [0.5, -1.0, 2.0, 0.0];
        let mut out = [0.0; 2];
        Epilogue::GATE.apply_row(&mut pre, &[0.1, 0.0, 0.0, 0.3], Some(&mut out), None, None);
        let expect = [
            0.6f32.tanh() * sigmoid(2.0),
            (-1.0f32).tanh() * sigmoid(0.3),
        ];
        for (o, e) in out.iter().zip(expect) {
            assert!((o - e).abs() < 1e-6);
        }
        assert!((pre[0] - 0.6f32.tanh()).abs() < 1e-6 && (pre[3] - sigmoid(0.3)).abs() < 1e-6);
        // The backward pass against a finite difference.
        let mut grad = [0.0; 4];
        gate_backward_row(&pre, &[1.0, 0.0], &mut grad);
        let h = 1e-3f32;
        let numeric = ((0.6 + h).tanh() - (0.6 - h).tanh()) / (2.0 * h) * sigmoid(2.0);
        assert!((grad[0] - numeric).abs() < 1e-3);
    }

    #[test]
    fn relu_and_residual_rows() {
        let mut pre = [1.0, -2.0];
        let residual = Epilogue {
            activation: Activation::Relu,
            residual: true,
        };
        let mut part = [9.0; 2];
        residual.apply_row(
            &mut pre,
            &[0.5, 0.5],
            None,
            Some(&[10.0, 20.0]),
            Some(&mut part),
        );
        assert_eq!(part, [1.5, 0.0]);
        assert_eq!(pre, [11.5, 20.0]);
    }
}
