//! Single-precision matrix multiplication: the project's one safe wrapper around
//! `matrixmultiply::sgemm` (the only `unsafe` block in the crate) and its naive twin.
//!
//! Two levels of API:
//! - [`sgemm`] / [`sgemm_naive`] take strided matrix views ([`MatRef`], [`MatMut`]) and compute
//!   `C ← α·A·B + β·C`;
//! - [`gemm`] / [`gemm_naive`] work on dense row-major matrices with optional transposition,
//!   like `cblas_sgemm(CblasRowMajor, ...)` with tight leading dimensions.
//!
//! With `β = 0` the old contents of `C` are ignored (overwritten even if they hold NaN).

/// A read-only strided view of an `rows × cols` matrix inside a slice:
/// element `(i, j)` lives at `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// Backing storage; every element the strides reach must lie inside it.
    pub data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance (in elements) between consecutive rows.
    pub row_stride: usize,
    /// Distance (in elements) between consecutive columns.
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A general strided view.
    pub fn new(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> MatRef<'a> {
        MatRef { data, rows, cols, row_stride, col_stride }
    }

    /// A dense row-major `rows × cols` matrix (row stride `cols`, column stride 1).
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> MatRef<'a> {
        MatRef { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transposed view (no data movement).
    pub fn t(self) -> MatRef<'a> {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Element `(i, j)` (bounds-checked by slice indexing).
    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.row_stride + j * self.col_stride]
    }
}

/// A mutable strided view of an `rows × cols` matrix inside a slice:
/// element `(i, j)` lives at `data[i * row_stride + j * col_stride]`.
#[derive(Debug)]
pub struct MatMut<'a> {
    /// Backing storage; every element the strides reach must lie inside it.
    pub data: &'a mut [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance (in elements) between consecutive rows.
    pub row_stride: usize,
    /// Distance (in elements) between consecutive columns.
    pub col_stride: usize,
}

impl<'a> MatMut<'a> {
    /// A general strided view.
    pub fn new(
        data: &'a mut [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> MatMut<'a> {
        MatMut { data, rows, cols, row_stride, col_stride }
    }

    /// A dense row-major `rows × cols` matrix (row stride `cols`, column stride 1).
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> MatMut<'a> {
        MatMut { data, rows, cols, row_stride: cols, col_stride: 1 }
    }
}

/// Largest element offset a `rows × cols` view with these strides can reach, or `None` if the
/// view is empty. Panics if the offset computation overflows.
fn max_offset(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return None;
    }
    let r = (rows - 1).checked_mul(row_stride).expect("gemm: row offset overflows");
    let c = (cols - 1).checked_mul(col_stride).expect("gemm: column offset overflows");
    Some(r.checked_add(c).expect("gemm: offset overflows"))
}

/// Asserts that every element of the view lies inside a slice of length `len`, and that the
/// strides fit in `isize` (as `matrixmultiply` takes signed strides).
fn assert_view_in_bounds(
    name: &str,
    len: usize,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
) {
    assert!(
        row_stride <= isize::MAX as usize && col_stride <= isize::MAX as usize,
        "gemm: strides of {name} do not fit in isize"
    );
    if let Some(last) = max_offset(rows, cols, row_stride, col_stride) {
        assert!(
            last < len,
            "gemm: {name} ({rows}x{cols}, strides {row_stride},{col_stride}) reaches element \
             {last} of a slice of length {len}"
        );
    }
}

/// Asserts that distinct `(i, j)` of a `rows × cols` output view map to distinct offsets.
/// Sufficient condition: one stride is at least the full extent spanned by the other axis.
fn assert_no_self_alias(rows: usize, cols: usize, row_stride: usize, col_stride: usize) {
    if rows <= 1 && cols <= 1 {
        return;
    }
    if rows <= 1 {
        assert!(col_stride > 0, "gemm: C column stride 0 aliases its elements");
        return;
    }
    if cols <= 1 {
        assert!(row_stride > 0, "gemm: C row stride 0 aliases its elements");
        return;
    }
    // Both axes have at least two entries, so both strides must be non-zero and nested.
    let row_span = (cols - 1) * col_stride; // no overflow: checked by assert_view_in_bounds
    let col_span = (rows - 1) * row_stride;
    let nested =
        (col_stride > 0 && row_stride > row_span) || (row_stride > 0 && col_stride > col_span);
    assert!(nested, "gemm: C strides ({row_stride},{col_stride}) make elements alias");
}

/// `C ← α·A·B + β·C` on strided views, computed by `matrixmultiply::sgemm`.
///
/// `A` is `m × k`, `B` is `k × n`, `C` is `m × n`. With `β = 0`, `C` is overwritten without
/// being read. Panics (always, also in release builds) if the shapes disagree, if a view
/// reaches outside its slice, or if the strides of `C` make two elements alias.
pub fn sgemm(alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(b.rows == k, "gemm: A is {m}x{k} but B is {}x{n}", b.rows);
    assert!(c.rows == m && c.cols == n, "gemm: C is {}x{}, expected {m}x{n}", c.rows, c.cols);
    assert_view_in_bounds("A", a.data.len(), m, k, a.row_stride, a.col_stride);
    assert_view_in_bounds("B", b.data.len(), k, n, b.row_stride, b.col_stride);
    assert_view_in_bounds("C", c.data.len(), m, n, c.row_stride, c.col_stride);
    assert_no_self_alias(m, n, c.row_stride, c.col_stride);
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: `matrixmultiply::sgemm` reads A at offsets i*rsa + l*csa (i < m, l < k), B at
    // l*rsb + j*csb (l < k, j < n) and reads/writes C at i*rsc + j*csc (i < m, j < n), and
    // nothing else. The asserts above check, with overflow-checked arithmetic, that the largest
    // of these offsets is inside each slice (A/B are only touched when k > 0, in which case
    // they were checked), that all strides fit in isize (so the casts below are lossless), and
    // that no two elements of C share an offset (the library's documented requirement). C is a
    // `&mut` slice, so it cannot overlap A or B, and the call is single-threaded and returns
    // before the borrows end.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            a.row_stride as isize,
            a.col_stride as isize,
            b.data.as_ptr(),
            b.row_stride as isize,
            b.col_stride as isize,
            beta,
            c.data.as_mut_ptr(),
            c.row_stride as isize,
            c.col_stride as isize,
        );
    }
}

/// Naive twin of [`sgemm`]: triple loop, same semantics (including `β = 0` overwriting).
pub fn sgemm_naive(alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(b.rows == k, "gemm: A is {m}x{k} but B is {}x{n}", b.rows);
    assert!(c.rows == m && c.cols == n, "gemm: C is {}x{}, expected {m}x{n}", c.rows, c.cols);
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for l in 0..k {
                acc += a.at(i, l) * b.at(l, j);
            }
            let idx = i * c.row_stride + j * c.col_stride;
            c.data[idx] = if beta == 0.0 { alpha * acc } else { alpha * acc + beta * c.data[idx] };
        }
    }
}

/// Views for the dense row-major operands of [`gemm`].
fn dense_views<'a>(
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    a: &'a [f32],
    b: &'a [f32],
) -> (MatRef<'a>, MatRef<'a>) {
    let av = if trans_a { MatRef::row_major(a, k, m).t() } else { MatRef::row_major(a, m, k) };
    let bv = if trans_b { MatRef::row_major(b, n, k).t() } else { MatRef::row_major(b, k, n) };
    (av, bv)
}

/// Dense row-major `C ← α·op(A)·op(B) + β·C` (like `cblas_sgemm` in row-major order).
///
/// `op(A)` is `m × k`: `A` is stored `m × k`, or `k × m` when `trans_a`. `op(B)` is `k × n`:
/// `B` is stored `k × n`, or `n × k` when `trans_b`. `C` is `m × n`. Slices may be longer
/// than needed (only the leading part is used).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    b: &[f32],
    beta: f32,
    c: &mut [f32],
) {
    let (av, bv) = dense_views(trans_a, trans_b, m, n, k, a, b);
    sgemm(alpha, av, bv, beta, MatMut::row_major(c, m, n));
}

/// Naive twin of [`gemm`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_naive(
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    b: &[f32],
    beta: f32,
    c: &mut [f32],
) {
    let (av, bv) = dense_views(trans_a, trans_b, m, n, k, a, b);
    sgemm_naive(alpha, av, bv, beta, MatMut::row_major(c, m, n));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tiny deterministic xorshift generator for test data.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// Integer-valued f32 in [-4, 4].
        fn int(&mut self) -> f32 {
            (self.next() % 9) as f32 - 4.0
        }
        fn ints(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.int()).collect()
        }
    }

    const SIZES: [usize; 8] = [1, 2, 7, 8, 9, 17, 33, 65];

    #[test]
    fn dense_matches_naive_all_transpositions_exactly() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let params = [(1.0, 0.0), (2.0, 0.0), (1.0, 1.0), (-0.5, 2.0), (3.0, -1.0)];
        for (idx, &m) in SIZES.iter().enumerate() {
            for &n in SIZES.iter().skip(idx % 3) {
                for &k in &[1usize, 3, 9, 17, 65, 300] {
                    for ta in [false, true] {
                        for tb in [false, true] {
                            let (alpha, beta) = params[(m + n + k) % params.len()];
                            let a = rng.ints(m * k);
                            let b = rng.ints(k * n);
                            let c0 = rng.ints(m * n);
                            let mut c1 = c0.clone();
                            let mut c2 = c0.clone();
                            gemm(ta, tb, m, n, k, alpha, &a, &b, beta, &mut c1);
                            gemm_naive(ta, tb, m, n, k, alpha, &a, &b, beta, &mut c2);
                            assert_eq!(c1, c2, "m={m} n={n} k={k} ta={ta} tb={tb}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn transposition_flags_mean_what_they_say() {
        // A = [[1,2],[3,4]] (2x2), B = [[5,6,7],[8,9,10]] (2x3).
        let a = [1.0, 2.0, 3.0, 4.0];
        let at = [1.0, 3.0, 2.0, 4.0];
        let b = [5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        let bt = [5.0, 8.0, 6.0, 9.0, 7.0, 10.0];
        let expect = [21.0, 24.0, 27.0, 47.0, 54.0, 61.0];
        for (ta, aa) in [(false, &a), (true, &at)] {
            for (tb, bb) in [(false, &b[..]), (true, &bt[..])] {
                let mut c = [0.0; 6];
                gemm(ta, tb, 2, 3, 2, 1.0, aa, bb, 0.0, &mut c);
                assert_eq!(c, expect);
                let mut c = [0.0; 6];
                gemm_naive(ta, tb, 2, 3, 2, 1.0, aa, bb, 0.0, &mut c);
                assert_eq!(c, expect);
            }
        }
    }

    #[test]
    fn beta_zero_overwrites_nan() {
        let mut rng = Rng(7);
        for &(m, n, k) in &[(1, 1, 1), (9, 17, 33), (65, 7, 9), (3, 5, 0)] {
            let a = rng.ints(m * k);
            let b = rng.ints(k * n);
            let mut c1 = vec![f32::NAN; m * n];
            let mut c2 = vec![f32::NAN; m * n];
            gemm(false, false, m, n, k, 1.5, &a, &b, 0.0, &mut c1);
            gemm_naive(false, false, m, n, k, 1.5, &a, &b, 0.0, &mut c2);
            assert!(c1.iter().all(|v| v.is_finite()));
            assert_eq!(c1, c2);
        }
    }

    #[test]
    fn k_zero_scales_c_by_beta() {
        let mut c = vec![1.0, 2.0, 3.0, 4.0];
        gemm(false, false, 2, 2, 0, 1.0, &[], &[], 3.0, &mut c);
        assert_eq!(c, vec![3.0, 6.0, 9.0, 12.0]);
    }

    #[test]
    fn strided_views_match_naive() {
        let mut rng = Rng(12345);
        // A: 7x9 taken every other row of a 14x11 buffer, column stride 1.
        let abuf = rng.ints(14 * 11);
        let a = MatRef::new(&abuf, 7, 9, 22, 1);
        // B: 9x17 stored column-major with padding (ld 10).
        let bbuf = rng.ints(17 * 10);
        let b = MatRef::new(&bbuf, 9, 17, 1, 10);
        // C: 7x17 inside a 7x20 row-major buffer.
        let cbuf = rng.ints(7 * 20);
        let mut c1 = cbuf.clone();
        let mut c2 = cbuf.clone();
        sgemm(2.0, a, b, -1.0, MatMut::new(&mut c1, 7, 17, 20, 1));
        sgemm_naive(2.0, a, b, -1.0, MatMut::new(&mut c2, 7, 17, 20, 1));
        assert_eq!(c1, c2);
        // The padding columns of C are untouched.
        for i in 0..7 {
            assert_eq!(c1[i * 20 + 17..i * 20 + 20], cbuf[i * 20 + 17..i * 20 + 20]);
        }
        // Column-major C.
        let mut c1 = vec![0.0; 7 * 17];
        let mut c2 = vec![0.0; 7 * 17];
        sgemm(1.0, a, b, 0.0, MatMut::new(&mut c1, 7, 17, 1, 7));
        sgemm_naive(1.0, a, b, 0.0, MatMut::new(&mut c2, 7, 17, 1, 7));
        assert_eq!(c1, c2);
    }

    #[test]
    #[should_panic(expected = "reaches element")]
    fn out_of_bounds_view_panics() {
        let a = vec![1.0; 10];
        let b = vec![1.0; 4];
        let mut c = vec![0.0; 8];
        // A claims 3x4 but the slice holds only 10 elements.
        sgemm(
            1.0,
            MatRef::row_major(&a, 3, 4),
            MatRef::row_major(&b, 4, 1),
            0.0,
            MatMut::row_major(&mut c, 3, 1),
        );
    }

    #[test]
    #[should_panic(expected = "alias")]
    fn aliasing_output_panics() {
        let a = vec![1.0; 4];
        let b = vec![1.0; 4];
        let mut c = vec![0.0; 8];
        sgemm(
            1.0,
            MatRef::row_major(&a, 2, 2),
            MatRef::row_major(&b, 2, 2),
            0.0,
            MatMut::new(&mut c, 2, 2, 1, 1),
        );
    }

    #[test]
    #[should_panic(expected = "expected")]
    fn shape_mismatch_panics() {
        let a = vec![1.0; 6];
        let b = vec![1.0; 6];
        let mut c = vec![0.0; 4];
        sgemm(
            1.0,
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&b, 3, 2),
            0.0,
            MatMut::row_major(&mut c, 2, 3),
        );
    }

    #[test]
    fn zero_stride_inputs_broadcast() {
        // A with column stride 0 repeats its first column; B row stride 0 repeats a row.
        let a = [2.0, 3.0];
        let b = [1.0, 4.0, 5.0];
        let mut c1 = vec![0.0; 6];
        let mut c2 = vec![0.0; 6];
        let av = MatRef::new(&a, 2, 5, 1, 0);
        let bv = MatRef::new(&b, 5, 3, 0, 1);
        sgemm(1.0, av, bv, 0.0, MatMut::row_major(&mut c1, 2, 3));
        sgemm_naive(1.0, av, bv, 0.0, MatMut::row_major(&mut c2, 2, 3));
        assert_eq!(c1, vec![10.0, 40.0, 50.0, 15.0, 60.0, 75.0]);
        assert_eq!(c1, c2);
    }
}
