//! A safe, bounds-checked f32 matrix product: an AVX-512 kernel for this network's shapes where
//! the CPU has it, else the `gemm` crate's (the one candle uses).

/// A read-only strided matrix view over a slice.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// Backing values.
    pub data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance between consecutive rows.
    pub row_stride: usize,
    /// Distance between consecutive columns.
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A dense row-major `rows x cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a dense row-major `rows x cols` matrix (a `cols x rows` view).
    pub fn transposed(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            rows: cols,
            cols: rows,
            row_stride: 1,
            col_stride: cols,
        }
    }

    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// `dst = (accumulate ? dst : 0) + lhs * rhs`, with `dst` dense row-major `lhs.rows x rhs.cols`.
/// Runs on the calling thread.
///
/// # Panics
/// If the shapes disagree or a view does not fit its slice (a programming error).
pub fn matmul(dst: &mut [f32], lhs: MatRef<'_>, rhs: MatRef<'_>, accumulate: bool) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions differ");
    assert!(dst.len() >= m * n, "destination too small");
    assert!(lhs.fits() && rhs.fits(), "matrix view exceeds its slice");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if avx512::usable(n, rhs.col_stride) {
        // SAFETY: as below: `fits()` bounds both operands, `dst` holds `m * n` values, and
        // `usable` checked that the CPU has AVX-512F, that `n` is a multiple of 16 and that
        // `rhs` rows are contiguous.
        #[allow(unsafe_code)]
        unsafe {
            avx512::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                lhs.data.as_ptr(),
                lhs.row_stride,
                lhs.col_stride,
                rhs.data.as_ptr(),
                rhs.row_stride,
                accumulate,
            );
        }
        return;
    }
    // SAFETY: every index the product touches is inside its slice: `fits()` checked the largest
    // offset of both operands and `dst` holds `m * n` row-major values. The slices are borrowed
    // for the whole call, and `dst` is a unique borrow, so nothing aliases it.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// An AVX-512 kernel for the shapes of this network: `n` (output channels) a multiple of 16,
/// `rhs` rows contiguous, `lhs` with any strides (so `lhs^T` for weight gradients costs nothing).
/// The `gemm` crate only uses AVX2 on stable Rust; this CPU's 512-bit FMAs double the peak.
///
/// Each tile keeps `MR x (16 * NV)` accumulators in registers (at most 6 x 64 = 24 zmm) over a
/// block of `KC` inner steps, so the `rhs` panel of a block (KC x 64 floats, 64 KiB) stays in L1/L2.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512 {
    use std::arch::x86_64::{
        __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_storeu_ps,
    };
    use std::sync::OnceLock;

    /// Inner steps per block.
    const KC: usize = 128;
    /// Rows per register tile.
    const MR: usize = 6;

    /// Whether this CPU and these shapes can take the AVX-512 path.
    pub(super) fn usable(n: usize, rhs_col_stride: usize) -> bool {
        static HAS_AVX512: OnceLock<bool> = OnceLock::new();
        n.is_multiple_of(16)
            && rhs_col_stride == 1
            && *HAS_AVX512.get_or_init(|| std::is_x86_feature_detected!("avx512f"))
    }

    /// `dst[m x n] (+)= a * b`, `a(i, p) = a[i * a_rs + p * a_cs]`, `b(p, j) = b[p * b_rs + j]`,
    /// `dst` dense row-major.
    ///
    /// # Safety
    /// The CPU must have AVX-512F, `n % 16 == 0`, and every `a(i, p)` (`i < m`, `p < k`),
    /// `b(p, j)` (`j < n`) and `dst[..m * n]` must be in bounds; `dst` must not alias `a` or `b`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn gemm(
        m: usize,
        n: usize,
        k: usize,
        dst: *mut f32,
        a: *const f32,
        a_rs: usize,
        a_cs: usize,
        b: *const f32,
        b_rs: usize,
        accumulate: bool,
    ) {
        let mut p0 = 0;
        while p0 < k {
            let kc = KC.min(k - p0);
            let acc = accumulate || p0 > 0;
            // SAFETY (all calls below): the block's rows, columns and inner steps are inside the
            // ranges the caller vouched for.
            let (a_blk, b_blk) = unsafe { (a.add(p0 * a_cs), b.add(p0 * b_rs)) };
            // One panel of NV x 16 output columns starting at column `j`.
            macro_rules! panel {
                ($nv:literal, $j:expr) => {
                    unsafe {
                        rows::<$nv>(
                            m,
                            kc,
                            dst.add($j),
                            n,
                            a_blk,
                            a_rs,
                            a_cs,
                            b_blk.add($j),
                            b_rs,
                            acc,
                        )
                    }
                };
            }
            let mut j = 0;
            while j + 64 <= n {
                panel!(4, j);
                j += 64;
            }
            match (n - j) / 16 {
                3 => panel!(3, j),
                2 => panel!(2, j),
                1 => panel!(1, j),
                _ => {}
            }
            p0 += kc;
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn rows<const NV: usize>(
        m: usize,
        k: usize,
        c: *mut f32,
        c_rs: usize,
        a: *const f32,
        a_rs: usize,
        a_cs: usize,
        b: *const f32,
        b_rs: usize,
        accumulate: bool,
    ) {
        let mut i = 0;
        // SAFETY (all calls): rows `i..i + MR` are below `m`.
        while i + MR <= m {
            unsafe {
                tile::<MR, NV>(
                    k,
                    c.add(i * c_rs),
                    c_rs,
                    a.add(i * a_rs),
                    a_rs,
                    a_cs,
                    b,
                    b_rs,
                    accumulate,
                )
            };
            i += MR;
        }
        let (c, a) = unsafe { (c.add(i * c_rs), a.add(i * a_rs)) };
        match m - i {
            5 => unsafe { tile::<5, NV>(k, c, c_rs, a, a_rs, a_cs, b, b_rs, accumulate) },
            4 => unsafe { tile::<4, NV>(k, c, c_rs, a, a_rs, a_cs, b, b_rs, accumulate) },
            3 => unsafe { tile::<3, NV>(k, c, c_rs, a, a_rs, a_cs, b, b_rs, accumulate) },
            2 => unsafe { tile::<2, NV>(k, c, c_rs, a, a_rs, a_cs, b, b_rs, accumulate) },
            1 => unsafe { tile::<1, NV>(k, c, c_rs, a, a_rs, a_cs, b, b_rs, accumulate) },
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const R: usize, const NV: usize>(
        k: usize,
        c: *mut f32,
        c_rs: usize,
        a: *const f32,
        a_rs: usize,
        a_cs: usize,
        b: *const f32,
        b_rs: usize,
        accumulate: bool,
    ) {
        let mut acc: [[__m512; NV]; R] = [[_mm512_setzero_ps(); NV]; R];
        if accumulate {
            for (i, row) in acc.iter_mut().enumerate() {
                for (v, lane) in row.iter_mut().enumerate() {
                    // SAFETY: inside `dst` (row `i < R`, columns `16 v..16 v + 16` below `n`).
                    *lane = unsafe { _mm512_loadu_ps(c.add(i * c_rs + 16 * v)) };
                }
            }
        }
        let (mut ap, mut bp) = (a, b);
        for _ in 0..k {
            let mut bv: [__m512; NV] = [_mm512_setzero_ps(); NV];
            for (v, lane) in bv.iter_mut().enumerate() {
                // SAFETY: row `p < k` of `b`, columns inside `n`.
                *lane = unsafe { _mm512_loadu_ps(bp.add(16 * v)) };
            }
            for (i, row) in acc.iter_mut().enumerate() {
                // SAFETY: `a(i, p)` with `i < R`, `p < k`.
                let ai = _mm512_set1_ps(unsafe { *ap.add(i * a_rs) });
                for (lane, &bl) in row.iter_mut().zip(&bv) {
                    *lane = _mm512_fmadd_ps(ai, bl, *lane);
                }
            }
            // Wrapping: after the last step these point past the operands and are not read.
            ap = ap.wrapping_add(a_cs);
            bp = bp.wrapping_add(b_rs);
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, lane) in row.iter().enumerate() {
                // SAFETY: inside `dst`, as for the loads.
                unsafe { _mm512_storeu_ps(c.add(i * c_rs + 16 * v), *lane) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_a_hand_computed_product_and_accumulates() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2x3
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3x2
        let mut c = vec![10.0; 4];
        matmul(
            &mut c,
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&b, 3, 2),
            false,
        );
        assert_eq!(c, vec![4.0, 5.0, 10.0, 11.0]);
        matmul(
            &mut c,
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&b, 3, 2),
            true,
        );
        assert_eq!(c, vec![8.0, 10.0, 20.0, 22.0]);
        // a^T (3x2) times a 2x1 column.
        let mut d = vec![0.0; 3];
        matmul(
            &mut d,
            MatRef::transposed(&a, 2, 3),
            MatRef::row_major(&[1.0, 1.0], 2, 1),
            false,
        );
        assert_eq!(d, vec![5.0, 7.0, 9.0]);
    }

    /// The plain triple loop, in f64.
    fn reference(lhs: MatRef<'_>, rhs: MatRef<'_>) -> Vec<f32> {
        let mut out = vec![0.0f32; lhs.rows * rhs.cols];
        for i in 0..lhs.rows {
            for j in 0..rhs.cols {
                let mut sum = 0.0f64;
                for p in 0..lhs.cols {
                    let a = lhs.data[i * lhs.row_stride + p * lhs.col_stride] as f64;
                    let b = rhs.data[p * rhs.row_stride + j * rhs.col_stride] as f64;
                    sum += a * b;
                }
                out[i * rhs.cols + j] = sum as f32;
            }
        }
        out
    }

    #[test]
    fn matmul_agrees_with_a_triple_loop_on_odd_shapes_and_transposed_operands() {
        let mut state = 12345u32;
        let mut next = move || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for &(m, k, n) in &[
            (1, 1, 16),
            (7, 300, 64),
            (13, 5, 128),
            (6, 257, 48),
            (11, 9, 80),
            (5, 3, 7),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
            let start: Vec<f32> = (0..m * n).map(|_| next()).collect();
            for transposed in [false, true] {
                let lhs = if transposed {
                    MatRef::transposed(&a, k, m)
                } else {
                    MatRef::row_major(&a, m, k)
                };
                let rhs = MatRef::row_major(&b, k, n);
                let expected = reference(lhs, rhs);
                let mut c = start.clone();
                matmul(&mut c, lhs, rhs, false);
                for (x, y) in c.iter().zip(&expected) {
                    assert!((x - y).abs() < 1e-4, "{m}x{k}x{n}: {x} vs {y}");
                }
                let mut c = start.clone();
                matmul(&mut c, lhs, rhs, true);
                for ((x, y), s) in c.iter().zip(&expected).zip(&start) {
                    assert!(
                        (x - y - s).abs() < 1e-4,
                        "{m}x{k}x{n} accumulate: {x} vs {y} + {s}"
                    );
                }
            }
        }
    }
}
