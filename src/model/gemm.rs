//! A safe, bounds-checked front for the `gemm` crate's f32 matrix product (the one candle uses).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_a_hand_computed_product_and_accumulates() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2x3
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3x2
        let mut c = vec![10.0; 4];
        matmul(&mut c, MatRef::row_major(&a, 2, 3), MatRef::row_major(&b, 3, 2), false);
        assert_eq!(c, vec![4.0, 5.0, 10.0, 11.0]);
        matmul(&mut c, MatRef::row_major(&a, 2, 3), MatRef::row_major(&b, 3, 2), true);
        assert_eq!(c, vec![8.0, 10.0, 20.0, 22.0]);
        // a^T (3x2) times a 2x1 column.
        let mut d = vec![0.0; 3];
        matmul(&mut d, MatRef::transposed(&a, 2, 3), MatRef::row_major(&[1.0, 1.0], 2, 1), false);
        assert_eq!(d, vec![5.0, 7.0, 9.0]);
    }
}
