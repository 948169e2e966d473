//! A safe, bounds-checked f32 matrix product: an AVX-512 kernel for this network's shapes where
//! the CPU has it, else the `gemm` crate's portable one (the one candle uses).
//!
//! Views ([`MatRef`]) are checked when they are made, with overflow-checked arithmetic, so the
//! kernels index without checks. `PIXELCNN_KERNEL=portable` in the environment (read once) or
//! [`set_kernel`] forces the portable kernel, so that both kernels can be measured and compared
//! on a machine that has AVX-512.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use thiserror::Error;

/// The environment variable that picks the kernel: `auto` (default) or `portable`.
pub const KERNEL_ENV: &str = "PIXELCNN_KERNEL";

/// Which GEMM kernel [`matmul`] runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kernel {
    /// The AVX-512 kernel where the CPU has it and the shapes suit it, else the portable one.
    #[default]
    Auto,
    /// Always the `gemm` crate's portable kernel.
    Portable,
}

impl Kernel {
    /// Parses `auto` or `portable`.
    pub fn parse(name: &str) -> Result<Kernel, String> {
        match name {
            "auto" => Ok(Kernel::Auto),
            "portable" => Ok(Kernel::Portable),
            other => Err(format!(
                "unknown GEMM kernel '{other}': use auto or portable"
            )),
        }
    }

    /// The name [`Kernel::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Auto => "auto",
            Kernel::Portable => "portable",
        }
    }
}

/// The kernel `PIXELCNN_KERNEL` asks for, read now: unset or empty means [`Kernel::Auto`].
/// The command line calls this first, so that a misspelt value is an error, not ignored.
pub fn kernel_from_env() -> Result<Kernel, String> {
    match std::env::var(KERNEL_ENV) {
        Ok(value) if value.is_empty() => Ok(Kernel::Auto),
        Ok(value) => Kernel::parse(&value).map_err(|e| format!("{KERNEL_ENV}: {e}")),
        Err(std::env::VarError::NotPresent) => Ok(Kernel::Auto),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!(
            "{KERNEL_ENV} is not valid UTF-8: use auto or portable"
        )),
    }
}

/// 0: not forced (the environment decides); else `1 + Kernel as u8`.
static FORCED_KERNEL: AtomicU8 = AtomicU8::new(0);

/// Makes every later [`matmul`] of this process use `kernel`, whatever the environment says
/// (`bench --kernel`).
pub fn set_kernel(kernel: Kernel) {
    let code = match kernel {
        Kernel::Auto => 1,
        Kernel::Portable => 2,
    };
    FORCED_KERNEL.store(code, Ordering::Relaxed);
}

/// The kernel [`matmul`] uses: the one given to [`set_kernel`], else `PIXELCNN_KERNEL` (read
/// once; a value that does not parse counts as `auto`, the command line reports it up front).
pub fn kernel() -> Kernel {
    static FROM_ENV: OnceLock<Kernel> = OnceLock::new();
    match FORCED_KERNEL.load(Ordering::Relaxed) {
        1 => Kernel::Auto,
        2 => Kernel::Portable,
        _ => *FROM_ENV.get_or_init(|| kernel_from_env().unwrap_or_default()),
    }
}

/// Whether this CPU can run the AVX-512 kernel.
pub fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS_AVX512: OnceLock<bool> = OnceLock::new();
        *HAS_AVX512.get_or_init(|| std::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// What the kernel behind `kernel` is on this machine, for reports: `avx512` when the AVX-512
/// kernel can run (it takes the shapes that suit it), else `portable`.
pub fn kernel_description(kernel: Kernel) -> &'static str {
    match kernel {
        Kernel::Auto if avx512_available() => "avx512",
        _ => "portable",
    }
}

/// Why a matrix view was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ViewError {
    /// The offset of the last element does not fit in `usize`.
    #[error("a {rows}x{cols} view with strides ({row_stride}, {col_stride}) overflows the address arithmetic")]
    Overflow {
        /// Rows asked for.
        rows: usize,
        /// Columns asked for.
        cols: usize,
        /// Row stride asked for.
        row_stride: usize,
        /// Column stride asked for.
        col_stride: usize,
    },
    /// A stride does not fit in `isize` (pointer offsets are signed).
    #[error("stride {stride} is larger than isize::MAX")]
    StrideTooLarge {
        /// The offending stride.
        stride: usize,
    },
    /// The last element lies past the end of the slice.
    #[error("a {rows}x{cols} view reaches offset {last} of a slice of {len} values")]
    OutOfBounds {
        /// Rows asked for.
        rows: usize,
        /// Columns asked for.
        cols: usize,
        /// Offset of the last element.
        last: usize,
        /// Length of the slice.
        len: usize,
    },
}

/// A read-only strided matrix view over a slice: element `(i, j)` is
/// `data[i * row_stride + j * col_stride]`.
///
/// The fields are private: every constructor checks, with overflow-checked arithmetic, that
/// each element of the view lies inside the slice, which is what lets [`matmul`] hand the view
/// to kernels that index without checks.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A `rows x cols` view with the given strides, or why it does not fit `data`.
    pub fn try_strided(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, ViewError> {
        for stride in [row_stride, col_stride] {
            if isize::try_from(stride).is_err() {
                return Err(ViewError::StrideTooLarge { stride });
            }
        }
        if rows > 0 && cols > 0 {
            let overflow = ViewError::Overflow {
                rows,
                cols,
                row_stride,
                col_stride,
            };
            let last = (rows - 1)
                .checked_mul(row_stride)
                .zip((cols - 1).checked_mul(col_stride))
                .and_then(|(r, c)| r.checked_add(c))
                .ok_or(overflow)?;
            if last >= data.len() {
                return Err(ViewError::OutOfBounds {
                    rows,
                    cols,
                    last,
                    len: data.len(),
                });
            }
        }
        Ok(MatRef {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        })
    }

    /// A `rows x cols` view with the given strides.
    ///
    /// # Panics
    /// If the view does not fit `data` or its offsets overflow (a programming error).
    pub fn strided(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Self {
        match Self::try_strided(data, rows, cols, row_stride, col_stride) {
            Ok(view) => view,
            Err(err) => panic!("invalid matrix view: {err}"),
        }
    }

    /// A dense row-major `rows x cols` matrix.
    ///
    /// # Panics
    /// If `data` holds fewer than `rows * cols` values.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols, 1)
    }

    /// The transpose of a dense row-major `rows x cols` matrix (a `cols x rows` view).
    ///
    /// # Panics
    /// If `data` holds fewer than `rows * cols` values.
    pub fn transposed(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, cols, rows, 1, cols)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Element `(i, j)`, `None` outside the view.
    pub fn get(&self, i: usize, j: usize) -> Option<f32> {
        if i >= self.rows || j >= self.cols {
            return None;
        }
        // In bounds: the constructor checked the largest offset.
        self.data
            .get(i * self.row_stride + j * self.col_stride)
            .copied()
    }
}

/// `dst = (accumulate ? dst : 0) + lhs * rhs`, with `dst` dense row-major `lhs.rows x rhs.cols`,
/// on the kernel [`kernel`] picks. Runs on the calling thread.
///
/// # Panics
/// If the inner dimensions differ or `dst` is too small (a programming error).
pub fn matmul(dst: &mut [f32], lhs: MatRef<'_>, rhs: MatRef<'_>, accumulate: bool) {
    matmul_with(kernel(), dst, lhs, rhs, accumulate);
}

/// [`matmul`] on the given kernel.
///
/// # Panics
/// If the inner dimensions differ or `dst` is too small (a programming error).
pub fn matmul_with(
    kernel: Kernel,
    dst: &mut [f32],
    lhs: MatRef<'_>,
    rhs: MatRef<'_>,
    accumulate: bool,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions differ");
    let dst_len = m
        .checked_mul(n)
        .unwrap_or_else(|| panic!("a {m}x{n} destination overflows usize"));
    assert!(dst.len() >= dst_len, "destination too small");
    if m == 0 || n == 0 {
        return;
    }
    let dst = &mut dst[..dst_len];
    if k == 0 {
        if !accumulate {
            dst.fill(0.0);
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if uses_avx512(kernel, n, rhs.col_stride) {
        // SAFETY: the views' constructors checked that every element of `lhs` (`m x k`) and
        // `rhs` (`k x n`) is inside its slice; `dst` holds exactly `m * n` values and is a
        // unique borrow, so it aliases neither operand; `uses_avx512` checked that the CPU has
        // AVX-512F, that `n` is a multiple of 16 and that `rhs` rows are contiguous.
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
    // The strides fit in isize: the views' constructors checked them.
    let stride = |s: usize| s as isize;
    // SAFETY: every index the product touches is inside its slice: the views' constructors
    // checked the largest offset of both operands (and that the strides fit in isize), and
    // `dst` holds `m * n` row-major values. The slices are borrowed for the whole call, and
    // `dst` is a unique borrow, so nothing aliases it.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            stride(n),
            accumulate,
            lhs.data.as_ptr(),
            stride(lhs.col_stride),
            stride(lhs.row_stride),
            rhs.data.as_ptr(),
            stride(rhs.col_stride),
            stride(rhs.row_stride),
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Whether a product with `n` output columns and this `rhs` column stride runs on the AVX-512
/// kernel under `kernel`.
pub fn uses_avx512(kernel: Kernel, n: usize, rhs_col_stride: usize) -> bool {
    kernel == Kernel::Auto && n.is_multiple_of(16) && rhs_col_stride == 1 && avx512_available()
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

    /// Inner steps per block.
    const KC: usize = 128;
    /// Rows per register tile.
    const MR: usize = 6;

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
            // SAFETY: `p0 < k`, so `a(0, p0)` and `b(p0, 0)` are elements the caller vouched for.
            let (a_blk, b_blk) = unsafe { (a.add(p0 * a_cs), b.add(p0 * b_rs)) };
            // One panel of NV x 16 output columns starting at column `j`.
            macro_rules! panel {
                ($nv:literal, $j:expr) => {
                    // SAFETY: columns `j..j + 16 * NV` are below `n` (the loop and the match
                    // below only take whole 16-column groups), rows `0..m` and the block's
                    // inner steps `p0..p0 + kc` are below `m` and `k`: all in bounds by the
                    // caller's promise, and the CPU has AVX-512F.
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

    /// `c[m x 16 NV] (+)= a[m x k] * b[k x 16 NV]`, in tiles of up to `MR` rows.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `c(i, j) = c[i * c_rs + j]`, `a(i, p) = a[i * a_rs + p * a_cs]`
    /// and `b(p, j) = b[p * b_rs + j]` must be in bounds for every `i < m`, `p < k`,
    /// `j < 16 * NV`, and `c` must not alias `a` or `b`.
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
        while i + MR <= m {
            // SAFETY: rows `i..i + MR` are below `m`; columns and inner steps as the caller
            // promised.
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
        if i == m {
            return;
        }
        // SAFETY: `i < m`, so row `i` of `c` and of `a` is in bounds.
        let (c, a) = unsafe { (c.add(i * c_rs), a.add(i * a_rs)) };
        match m - i {
            5 => {
                // SAFETY: the remaining 5 rows, the columns and the inner steps are in
                // bounds as the caller promised.
                unsafe { tile::<5, NV>(k, c, c_rs, a, a_rs, a_cs, b, b_rs, accumulate) }
            }
            4 => {
                // SAFETY: the remaining 4 rows, the columns and the inner steps are in
                // bounds as the caller promised.
                unsafe { tile::<4, NV>(k, c, c_rs, a, a_rs, a_cs, b, b_rs, accumulate) }
            }
            3 => {
                // SAFETY: the remaining 3 rows, the columns and the inner steps are in
                // bounds as the caller promised.
                unsafe { tile::<3, NV>(k, c, c_rs, a, a_rs, a_cs, b, b_rs, accumulate) }
            }
            2 => {
                // SAFETY: the remaining 2 rows, the columns and the inner steps are in
                // bounds as the caller promised.
                unsafe { tile::<2, NV>(k, c, c_rs, a, a_rs, a_cs, b, b_rs, accumulate) }
            }
            1 => {
                // SAFETY: the remaining 1 row, the columns and the inner steps are in
                // bounds as the caller promised.
                unsafe { tile::<1, NV>(k, c, c_rs, a, a_rs, a_cs, b, b_rs, accumulate) }
            }
            _ => {}
        }
    }

    /// One register tile: `c[R x 16 NV] (+)= a[R x k] * b[k x 16 NV]`.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; `c(i, j) = c[i * c_rs + j]`, `a(i, p) = a[i * a_rs + p * a_cs]`
    /// and `b(p, j) = b[p * b_rs + j]` must be in bounds for every `i < R`, `p < k`,
    /// `j < 16 * NV`, and `c` must not alias `a` or `b`.
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
                    // SAFETY: inside `c` (row `i < R`, columns `16 v..16 v + 16` below `16 NV`).
                    *lane = unsafe { _mm512_loadu_ps(c.add(i * c_rs + 16 * v)) };
                }
            }
        }
        let (mut ap, mut bp) = (a, b);
        for _ in 0..k {
            let mut bv: [__m512; NV] = [_mm512_setzero_ps(); NV];
            for (v, lane) in bv.iter_mut().enumerate() {
                // SAFETY: row `p < k` of `b`, columns `16 v..16 v + 16` below `16 NV`.
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
                // SAFETY: inside `c`, as for the loads.
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

    #[test]
    fn a_view_whose_offsets_overflow_is_refused_before_anything_is_read() {
        let data = [0.0f32; 8];
        // (3 - 1) * isize::MAX + (2 - 1) * 2 wraps around to 0, which an unchecked bounds test
        // accepts: the kernel would then read far outside the slice.
        let wrapping = MatRef::try_strided(&data, 3, 2, isize::MAX as usize, 2);
        assert!(
            matches!(wrapping, Err(ViewError::Overflow { .. })),
            "{wrapping:?}"
        );
        // Pointer offsets are signed: a stride past isize::MAX is refused outright.
        let huge = MatRef::try_strided(&data, 1, 1, usize::MAX, 1);
        assert!(
            matches!(huge, Err(ViewError::StrideTooLarge { .. })),
            "{huge:?}"
        );
        let past_the_end = MatRef::try_strided(&data, 2, 4, 5, 1);
        assert_eq!(
            past_the_end.map(|v| v.rows()),
            Err(ViewError::OutOfBounds {
                rows: 2,
                cols: 4,
                last: 8,
                len: 8
            })
        );
        assert!(MatRef::try_strided(&data, 2, 4, 4, 1).is_ok());
        // Empty views need no data at all, whatever their strides.
        assert!(MatRef::try_strided(&[], 0, 5, 7, 3).is_ok());
        // The panicking constructors refuse the same views.
        let refused = std::panic::catch_unwind(|| MatRef::strided(&data, 3, 2, usize::MAX, 1));
        assert!(refused.is_err());
        let short = std::panic::catch_unwind(|| MatRef::row_major(&data, 3, 3));
        assert!(short.is_err());
    }

    /// The plain triple loop, in f64.
    fn reference(lhs: MatRef<'_>, rhs: MatRef<'_>) -> Vec<f64> {
        let mut out = vec![0.0; lhs.rows() * rhs.cols()];
        for i in 0..lhs.rows() {
            for j in 0..rhs.cols() {
                out[i * rhs.cols() + j] = (0..lhs.cols())
                    .map(|p| f64::from(lhs.get(i, p).unwrap()) * f64::from(rhs.get(p, j).unwrap()))
                    .sum();
            }
        }
        out
    }

    /// Both kernels on the same random inputs: odd shapes (`n` not a multiple of 16, which even
    /// `auto` runs on the portable kernel), `m = 1`, strided and transposed `lhs`, `k` past the
    /// AVX kernel's block, accumulate on and off. Each agrees with an f64 triple loop and with
    /// the other. The AVX-512 kernel runs only where the CPU has it.
    #[test]
    fn both_kernels_agree_with_each_other_and_a_triple_loop_on_odd_shapes() {
        let mut state = 12345u32;
        let mut next = move || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let mut avx_products = 0;
        for &(m, k, n) in &[
            (1, 1, 16),
            (1, 37, 64),
            (7, 300, 64),
            (13, 5, 128),
            (6, 257, 48),
            (11, 9, 80),
            (12, 130, 32),
            (5, 3, 7),
            (1, 20, 33),
            (9, 140, 17),
        ] {
            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
            let start: Vec<f32> = (0..m * n).map(|_| next()).collect();
            // lhs layouts: dense, transposed, and rows padded with every other column used.
            let dense: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let padded: Vec<f32> = (0..m * (2 * k + 3)).map(|_| next()).collect();
            let lhs_views = [
                ("row-major", MatRef::row_major(&dense, m, k)),
                ("transposed", MatRef::transposed(&dense, k, m)),
                ("strided", MatRef::strided(&padded, m, k, 2 * k + 3, 2)),
            ];
            let rhs = MatRef::row_major(&b, k, n);
            for (layout, lhs) in lhs_views {
                let expected = reference(lhs, rhs);
                for accumulate in [false, true] {
                    let mut results = Vec::new();
                    for kernel in [Kernel::Portable, Kernel::Auto] {
                        let mut c = start.clone();
                        matmul_with(kernel, &mut c, lhs, rhs, accumulate);
                        for (index, (&x, &y)) in c.iter().zip(&expected).enumerate() {
                            let want = y + if accumulate {
                                f64::from(start[index])
                            } else {
                                0.0
                            };
                            assert!(
                                (f64::from(x) - want).abs() < 1e-4,
                                "{} kernel, {m}x{k}x{n} {layout}, accumulate {accumulate}: {x} vs {want}",
                                kernel_description(kernel)
                            );
                        }
                        results.push(c);
                    }
                    if uses_avx512(Kernel::Auto, n, 1) {
                        avx_products += 1;
                    }
                    for (x, y) in results[0].iter().zip(&results[1]) {
                        assert!(
                            (x - y).abs() < 1e-4,
                            "{m}x{k}x{n} {layout}: portable {x} vs auto {y}"
                        );
                    }
                }
            }
        }
        if avx512_available() {
            assert!(avx_products > 0, "the AVX-512 kernel never ran");
        } else {
            eprintln!("no AVX-512 on this CPU: only the portable kernel was compared");
        }
    }

    #[test]
    fn the_kernel_switch_parses_its_two_names_and_refuses_others() {
        assert_eq!(Kernel::parse("portable"), Ok(Kernel::Portable));
        assert_eq!(Kernel::parse("auto"), Ok(Kernel::Auto));
        assert!(Kernel::parse("avx")
            .unwrap_err()
            .contains("auto or portable"));
        assert!(!uses_avx512(Kernel::Portable, 64, 1));
        assert!(!uses_avx512(Kernel::Auto, 63, 1));
        assert!(!uses_avx512(Kernel::Auto, 64, 2));
    }
}
