//! 2-D `im2col` / `col2im` (Caffe layout, with pad, stride and dilation) and their naive twins.
//!
//! The column matrix of one image has `channels · kernel_h · kernel_w` rows, ordered
//! `(c, kh, kw)` with `kw` fastest, and `out_h · out_w` columns ordered `(ho, wo)`.
//! Row `r`, column `(ho, wo)` holds `x[c, ho·sh − ph + kh·dh, wo·sw − pw + kw·dw]`, or 0 when
//! that position falls in the padding. The `_ld` variants place row `r` at offset `r · ld`
//! (so several images can be laid side by side in one wider matrix).

/// Caffe's convolution output size along one axis: `(input + 2·pad − (dilation·(kernel−1)+1))
/// / stride + 1`, with C integer division (truncation towards zero), clamped at 0.
pub fn conv_out_size(
    input: usize,
    kernel: usize,
    pad: usize,
    stride: usize,
    dilation: usize,
) -> usize {
    debug_assert!(kernel >= 1 && stride >= 1 && dilation >= 1);
    let extent = (dilation * (kernel - 1) + 1) as i64;
    let span = (input + 2 * pad) as i64 - extent;
    // i64 `/` truncates towards zero, like C's int division.
    (span / stride as i64 + 1).max(0) as usize
}

/// Geometry of one image's patch extraction: input `channels × height × width`, kernel,
/// padding, stride and dilation per axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Im2colGeom {
    /// Input channels.
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Zero padding at the top and bottom.
    pub pad_h: usize,
    /// Zero padding at the left and right.
    pub pad_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dilation_h: usize,
    /// Horizontal dilation.
    pub dilation_w: usize,
}

impl Im2colGeom {
    /// Output height (Caffe's formula, see [`conv_out_size`]).
    pub fn out_h(&self) -> usize {
        conv_out_size(self.height, self.kernel_h, self.pad_h, self.stride_h, self.dilation_h)
    }

    /// Output width (Caffe's formula, see [`conv_out_size`]).
    pub fn out_w(&self) -> usize {
        conv_out_size(self.width, self.kernel_w, self.pad_w, self.stride_w, self.dilation_w)
    }

    /// Rows of the column matrix: `channels · kernel_h · kernel_w`.
    pub fn col_rows(&self) -> usize {
        self.channels * self.kernel_h * self.kernel_w
    }

    /// Columns of the column matrix: `out_h · out_w`.
    pub fn col_cols(&self) -> usize {
        self.out_h() * self.out_w()
    }

    /// Elements of one input image: `channels · height · width`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// The output indices `o` in `[0, n_out)` whose input position `o·stride + offset` lies in
/// `[0, len)`, as a half-open range (possibly empty).
fn valid_range(n_out: usize, stride: usize, offset: isize, len: usize) -> (usize, usize) {
    let s = stride as isize;
    let lo = if offset >= 0 { 0 } else { ((-offset) + s - 1) / s };
    let room = len as isize - offset; // need o·s < room
    let hi = if room <= 0 { 0 } else { (room - 1) / s + 1 };
    let hi = (hi as usize).min(n_out);
    let lo = (lo as usize).min(hi);
    (lo, hi)
}

/// Checks that `rows` rows of `len` entries at stride `ld` fit in a buffer of `col_len`.
fn check_col_len(rows: usize, len: usize, col_len: usize, ld: usize) {
    assert!(ld >= len, "im2col: ld {ld} smaller than the row length {len}");
    if rows > 0 && len > 0 {
        assert!(col_len >= (rows - 1) * ld + len, "im2col: column buffer too small");
    }
}

/// Writes the columns of output rows `[oh_start, oh_end)` of image `x`'s column matrix into
/// `col`: row `r` (of `channels · kernel_h · kernel_w`) gets its `(oh_end − oh_start) · out_w`
/// entries at `col[r · ld ..]`. Entries between rows are left untouched.
pub fn im2col_rows(
    g: &Im2colGeom,
    x: &[f32],
    oh_start: usize,
    oh_end: usize,
    col: &mut [f32],
    ld: usize,
) {
    let (oh, ow) = (g.out_h(), g.out_w());
    assert!(oh_start <= oh_end && oh_end <= oh, "im2col: bad output row range");
    assert!(x.len() >= g.image_len(), "im2col: input too small");
    let len = (oh_end - oh_start) * ow;
    check_col_len(g.col_rows(), len, col.len(), ld);
    if len == 0 {
        return;
    }
    let (h, w) = (g.height, g.width);
    let mut r = 0;
    for c in 0..g.channels {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for ki in 0..g.kernel_h {
            let off_h = (ki * g.dilation_h) as isize - g.pad_h as isize;
            let (hlo, hhi) = valid_range(oh, g.stride_h, off_h, h);
            let (hlo, hhi) = (hlo.clamp(oh_start, oh_end), hhi.clamp(oh_start, oh_end));
            let (hlo, hhi) = (hlo - oh_start, hhi.max(hlo) - oh_start);
            for kj in 0..g.kernel_w {
                let off_w = (kj * g.dilation_w) as isize - g.pad_w as isize;
                let (wlo, whi) = valid_range(ow, g.stride_w, off_w, w);
                let row = &mut col[r * ld..r * ld + len];
                r += 1;
                if hlo > 0 {
                    row[..hlo * ow].fill(0.0);
                }
                if hhi * ow < len {
                    row[hhi * ow..].fill(0.0);
                }
                for (o_h, dst) in row.chunks_exact_mut(ow).enumerate().take(hhi).skip(hlo) {
                    let ih = ((o_h + oh_start) * g.stride_h) as isize + off_h;
                    let src = &plane[ih as usize * w..(ih as usize + 1) * w];
                    if wlo > 0 {
                        dst[..wlo].fill(0.0);
                    }
                    if whi < ow {
                        dst[whi..].fill(0.0);
                    }
                    if wlo == whi {
                        continue;
                    }
                    let first = ((wlo * g.stride_w) as isize + off_w) as usize;
                    gather(&mut dst[wlo..whi], &src[first..], g.stride_w);
                }
            }
        }
    }
}

/// `dst[j] = src[j · stride]` for every `j`.
fn gather(dst: &mut [f32], src: &[f32], stride: usize) {
    match stride {
        1 => dst.copy_from_slice(&src[..dst.len()]),
        2 => gather_fixed::<2>(dst, src),
        3 => gather_fixed::<3>(dst, src),
        4 => gather_fixed::<4>(dst, src),
        _ => {
            let src = &src[..(dst.len() - 1) * stride + 1];
            for (j, d) in dst.iter_mut().enumerate() {
                *d = src[j * stride];
            }
        }
    }
}

/// [`gather`] with a compile-time stride: blocks of 8 without bounds checks, then the tail.
fn gather_fixed<const S: usize>(dst: &mut [f32], src: &[f32]) {
    let mut done = 0;
    for (d, s) in dst.chunks_exact_mut(8).zip(src.chunks_exact(8 * S)) {
        for j in 0..8 {
            d[j] = s[j * S];
        }
        done += 8;
    }
    for (j, d) in dst.iter_mut().enumerate().skip(done) {
        *d = src[j * S];
    }
}

/// Writes the column matrix of image `x` (`channels × height × width`) into `col`, row `r`
/// starting at `col[r · ld]` (`ld ≥ out_h · out_w`). Entries between rows are left untouched.
pub fn im2col_ld(g: &Im2colGeom, x: &[f32], col: &mut [f32], ld: usize) {
    im2col_rows(g, x, 0, g.out_h(), col, ld);
}

/// Dense [`im2col_ld`] (`ld = out_h · out_w`).
pub fn im2col(g: &Im2colGeom, x: &[f32], col: &mut [f32]) {
    im2col_ld(g, x, col, g.col_cols());
}

/// Accumulates (without zeroing `x` first) the columns of output rows `[oh_start, oh_end)`,
/// laid out as written by [`im2col_rows`], into the input positions they were taken from.
pub fn col2im_rows_add(
    g: &Im2colGeom,
    col: &[f32],
    ld: usize,
    oh_start: usize,
    oh_end: usize,
    x: &mut [f32],
) {
    let (oh, ow) = (g.out_h(), g.out_w());
    assert!(oh_start <= oh_end && oh_end <= oh, "col2im: bad output row range");
    assert!(x.len() >= g.image_len(), "col2im: output too small");
    let len = (oh_end - oh_start) * ow;
    check_col_len(g.col_rows(), len, col.len(), ld);
    if len == 0 {
        return;
    }
    let (h, w) = (g.height, g.width);
    let mut r = 0;
    for c in 0..g.channels {
        let plane = &mut x[c * h * w..(c + 1) * h * w];
        for ki in 0..g.kernel_h {
            let off_h = (ki * g.dilation_h) as isize - g.pad_h as isize;
            let (hlo, hhi) = valid_range(oh, g.stride_h, off_h, h);
            let (hlo, hhi) = (hlo.clamp(oh_start, oh_end), hhi.clamp(oh_start, oh_end));
            let (hlo, hhi) = (hlo - oh_start, hhi.max(hlo) - oh_start);
            for kj in 0..g.kernel_w {
                let off_w = (kj * g.dilation_w) as isize - g.pad_w as isize;
                let (wlo, whi) = valid_range(ow, g.stride_w, off_w, w);
                let row = &col[r * ld..r * ld + len];
                r += 1;
                if wlo == whi {
                    continue;
                }
                let first = ((wlo * g.stride_w) as isize + off_w) as usize;
                for (o_h, src) in row.chunks_exact(ow).enumerate().take(hhi).skip(hlo) {
                    let ih = (((o_h + oh_start) * g.stride_h) as isize + off_h) as usize;
                    let dst = &mut plane[ih * w + first..(ih + 1) * w];
                    scatter_add(dst, &src[wlo..whi], g.stride_w);
                }
            }
        }
    }
}

/// `dst[j · stride] += src[j]` for every `j`.
fn scatter_add(dst: &mut [f32], src: &[f32], stride: usize) {
    match stride {
        1 => {
            for (d, &s) in dst[..src.len()].iter_mut().zip(src) {
                *d += s;
            }
        }
        2 => scatter_add_fixed::<2>(dst, src),
        3 => scatter_add_fixed::<3>(dst, src),
        4 => scatter_add_fixed::<4>(dst, src),
        _ => {
            let dst = &mut dst[..(src.len() - 1) * stride + 1];
            for (j, &s) in src.iter().enumerate() {
                dst[j * stride] += s;
            }
        }
    }
}

/// [`scatter_add`] with a compile-time stride: blocks of 8 without bounds checks, then the tail.
fn scatter_add_fixed<const S: usize>(dst: &mut [f32], src: &[f32]) {
    let mut done = 0;
    for (d, s) in dst.chunks_exact_mut(8 * S).zip(src.chunks_exact(8)) {
        for j in 0..8 {
            d[j * S] += s[j];
        }
        done += 8;
    }
    for (j, &s) in src.iter().enumerate().skip(done) {
        dst[j * S] += s;
    }
}

/// Sets image `x` to zero, then accumulates every column-matrix entry (row `r` starting at
/// `col[r · ld]`) into the input position it was taken from (padding entries are dropped).
/// This is the adjoint of [`im2col_ld`]; overlapping windows add up, as in Caffe.
pub fn col2im_ld(g: &Im2colGeom, col: &[f32], ld: usize, x: &mut [f32]) {
    assert!(x.len() >= g.image_len(), "col2im: output too small");
    x[..g.image_len()].fill(0.0);
    col2im_rows_add(g, col, ld, 0, g.out_h(), x);
}

/// Dense [`col2im_ld`] (`ld = out_h · out_w`).
pub fn col2im(g: &Im2colGeom, col: &[f32], x: &mut [f32]) {
    col2im_ld(g, col, g.col_cols(), x);
}

/// Input position `o·stride − pad + k·dilation` if it lies inside `[0, len)`.
fn source_index(
    o: usize,
    k: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
    len: usize,
) -> Option<usize> {
    let pos = (o * stride + k * dilation) as isize - pad as isize;
    (pos >= 0 && (pos as usize) < len).then_some(pos as usize)
}

/// Naive twin of [`im2col`]: one bounds-checked gather per column-matrix entry.
pub fn im2col_naive(g: &Im2colGeom, x: &[f32], col: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (h, w) = (g.height, g.width);
    for c in 0..g.channels {
        for ki in 0..g.kernel_h {
            for kj in 0..g.kernel_w {
                let r = (c * g.kernel_h + ki) * g.kernel_w + kj;
                for o_h in 0..oh {
                    for o_w in 0..ow {
                        let ih = source_index(o_h, ki, g.stride_h, g.pad_h, g.dilation_h, h);
                        let iw = source_index(o_w, kj, g.stride_w, g.pad_w, g.dilation_w, w);
                        col[(r * oh + o_h) * ow + o_w] = match (ih, iw) {
                            (Some(ih), Some(iw)) => x[(c * h + ih) * w + iw],
                            _ => 0.0,
                        };
                    }
                }
            }
        }
    }
}

/// Naive twin of [`col2im`]: zero `x`, then one bounds-checked scatter-add per entry.
pub fn col2im_naive(g: &Im2colGeom, col: &[f32], x: &mut [f32]) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (h, w) = (g.height, g.width);
    x[..g.image_len()].fill(0.0);
    for c in 0..g.channels {
        for ki in 0..g.kernel_h {
            for kj in 0..g.kernel_w {
                let r = (c * g.kernel_h + ki) * g.kernel_w + kj;
                for o_h in 0..oh {
                    for o_w in 0..ow {
                        let ih = source_index(o_h, ki, g.stride_h, g.pad_h, g.dilation_h, h);
                        let iw = source_index(o_w, kj, g.stride_w, g.pad_w, g.dilation_w, w);
                        if let (Some(ih), Some(iw)) = (ih, iw) {
                            x[(c * h + ih) * w + iw] += col[(r * oh + o_h) * ow + o_w];
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn ints(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| (self.next() % 11) as f32 - 5.0).collect()
        }
    }

    /// (channels, h, w, k_h, k_w, pad_h, pad_w, stride_h, stride_w, dil_h, dil_w)
    type Case = (usize, usize, usize, usize, usize, usize, usize, usize, usize, usize, usize);
    const CASES: [Case; 19] = [
        (1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1),
        (2, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1),
        (3, 9, 7, 3, 5, 0, 2, 2, 1, 1, 1),
        (1, 17, 17, 5, 5, 2, 2, 4, 4, 1, 1),
        (2, 9, 9, 2, 2, 0, 0, 3, 3, 1, 1), // stride > kernel
        (1, 7, 7, 1, 1, 0, 0, 3, 2, 1, 1),
        (2, 9, 11, 3, 3, 2, 2, 1, 2, 2, 2), // dilation
        (3, 17, 9, 11, 3, 2, 1, 4, 1, 1, 3),
        (1, 3, 3, 5, 5, 2, 2, 1, 1, 1, 1), // kernel larger than the image
        (1, 4, 5, 3, 3, 3, 3, 2, 2, 1, 1), // pad larger than the kernel reach
        (2, 2, 2, 3, 3, 1, 1, 5, 5, 1, 1),
        (1, 13, 13, 3, 3, 1, 1, 1, 1, 1, 1),
        (2, 8, 6, 4, 2, 1, 0, 2, 3, 1, 1),
        (1, 1, 9, 1, 3, 0, 1, 1, 1, 1, 1),
        (4, 5, 5, 3, 3, 0, 0, 1, 1, 2, 2),
        (1, 10, 10, 2, 2, 1, 1, 7, 7, 3, 3),
        // Long rows: the blocked strided gather/scatter paths (strides 2, 3, 4).
        (2, 9, 40, 3, 3, 1, 1, 2, 2, 1, 1),
        (1, 5, 70, 3, 5, 0, 2, 1, 3, 1, 2),
        (1, 5, 100, 1, 11, 0, 0, 1, 4, 1, 1),
    ];

    fn geom(c: Case) -> Im2colGeom {
        Im2colGeom {
            channels: c.0,
            height: c.1,
            width: c.2,
            kernel_h: c.3,
            kernel_w: c.4,
            pad_h: c.5,
            pad_w: c.6,
            stride_h: c.7,
            stride_w: c.8,
            dilation_h: c.9,
            dilation_w: c.10,
        }
    }

    #[test]
    fn out_size_follows_caffe() {
        assert_eq!(conv_out_size(227, 11, 0, 4, 1), 55);
        assert_eq!(conv_out_size(27, 5, 2, 1, 1), 27);
        assert_eq!(conv_out_size(13, 3, 1, 1, 1), 13);
        assert_eq!(conv_out_size(7, 3, 0, 2, 2), 2);
        assert_eq!(conv_out_size(9, 2, 0, 3, 1), 3);
        // Kernel extent larger than the padded input: C truncation gives (−1)/2 + 1 = 1 ...
        assert_eq!(conv_out_size(3, 4, 0, 2, 1), 1);
        // ... and (−3)/1 + 1 < 0 is clamped to 0.
        assert_eq!(conv_out_size(2, 5, 0, 1, 1), 0);
    }

    #[test]
    fn valid_range_matches_brute_force() {
        for n_out in 0..6 {
            for stride in 1..5 {
                for offset in -6isize..6 {
                    for len in 0..8 {
                        let (lo, hi) = valid_range(n_out, stride, offset, len);
                        let ok: Vec<usize> = (0..n_out)
                            .filter(|&o| {
                                let p = (o * stride) as isize + offset;
                                p >= 0 && (p as usize) < len
                            })
                            .collect();
                        let got: Vec<usize> = (lo..hi).collect();
                        assert_eq!(got, ok, "n_out={n_out} s={stride} off={offset} len={len}");
                    }
                }
            }
        }
    }

    #[test]
    fn im2col_matches_naive() {
        let mut rng = Rng(99);
        for case in CASES {
            let g = geom(case);
            let x = rng.ints(g.image_len());
            let n = g.col_rows() * g.col_cols();
            let mut fast = vec![f32::NAN; n];
            let mut slow = vec![f32::NAN; n];
            im2col(&g, &x, &mut fast);
            im2col_naive(&g, &x, &mut slow);
            assert_eq!(fast, slow, "{g:?}");
        }
    }

    #[test]
    fn col2im_matches_naive() {
        let mut rng = Rng(1234);
        for case in CASES {
            let g = geom(case);
            let col = rng.ints(g.col_rows() * g.col_cols());
            let mut fast = vec![f32::NAN; g.image_len()];
            let mut slow = vec![f32::NAN; g.image_len()];
            col2im(&g, &col, &mut fast);
            col2im_naive(&g, &col, &mut slow);
            assert_eq!(fast, slow, "{g:?}");
        }
    }

    #[test]
    fn col2im_is_adjoint_of_im2col() {
        let mut rng = Rng(777);
        for case in CASES {
            let g = geom(case);
            let x = rng.ints(g.image_len());
            let c = rng.ints(g.col_rows() * g.col_cols());
            let mut cx = vec![0.0; c.len()];
            im2col(&g, &x, &mut cx);
            let mut xc = vec![0.0; x.len()];
            col2im(&g, &c, &mut xc);
            let lhs: f64 = cx.iter().zip(&c).map(|(a, b)| (a * b) as f64).sum();
            let rhs: f64 = x.iter().zip(&xc).map(|(a, b)| (a * b) as f64).sum();
            assert_eq!(lhs, rhs, "{g:?}");
        }
    }

    #[test]
    fn ld_variants_place_rows_and_leave_gaps_alone() {
        let mut rng = Rng(4242);
        for case in CASES {
            let g = geom(case);
            let (rows, ohw) = (g.col_rows(), g.col_cols());
            if rows == 0 || ohw == 0 {
                continue;
            }
            let ld = 2 * ohw + 3;
            let x = rng.ints(g.image_len());
            let mut dense = vec![0.0; rows * ohw];
            im2col(&g, &x, &mut dense);
            let mut wide = vec![-99.0; rows * ld];
            im2col_ld(&g, &x, &mut wide[ohw..], ld);
            for r in 0..rows {
                assert_eq!(wide[r * ld + ohw..r * ld + 2 * ohw], dense[r * ohw..(r + 1) * ohw]);
                assert!(wide[r * ld..r * ld + ohw].iter().all(|&v| v == -99.0));
            }
            let mut back_dense = vec![0.0; x.len()];
            col2im(&g, &dense, &mut back_dense);
            let mut back_wide = vec![f32::NAN; x.len()];
            col2im_ld(&g, &wide[ohw..], ld, &mut back_wide);
            assert_eq!(back_dense, back_wide);
        }
    }

    #[test]
    fn row_bands_assemble_the_full_matrices() {
        let mut rng = Rng(2024);
        for case in CASES {
            let g = geom(case);
            let (rows, oh, ow) = (g.col_rows(), g.out_h(), g.out_w());
            let ohw = oh * ow;
            let x = rng.ints(g.image_len());
            let mut full = vec![0.0; rows * ohw];
            im2col(&g, &x, &mut full);
            let col = rng.ints(rows * ohw);
            let mut back_full = vec![0.0; x.len()];
            col2im(&g, &col, &mut back_full);
            for band in 1..=oh.max(1) {
                let mut back = vec![0.0; x.len()];
                let mut start = 0;
                while start < oh {
                    let end = (start + band).min(oh);
                    let len = (end - start) * ow;
                    let ld = len + 1;
                    let mut part = vec![f32::NAN; rows * ld];
                    im2col_rows(&g, &x, start, end, &mut part, ld);
                    let mut piece = vec![0.0; rows * ld];
                    for r in 0..rows {
                        let range = r * ohw + start * ow..r * ohw + end * ow;
                        assert_eq!(part[r * ld..r * ld + len], full[range.clone()], "{g:?}");
                        assert!(part[r * ld + len].is_nan());
                        piece[r * ld..r * ld + len].copy_from_slice(&col[range]);
                    }
                    col2im_rows_add(&g, &piece, ld, start, end, &mut back);
                    start = end;
                }
                assert_eq!(back, back_full, "{g:?} band={band}");
            }
        }
    }

    #[test]
    fn col2im_counts_overlaps() {
        // 3x3 kernel, stride 1, pad 1 on a 3x3 image: col2im of all-ones counts how many
        // windows see each pixel: corners 4, edges 6, centre 9.
        let g = geom((1, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1));
        let ones = vec![1.0; g.col_rows() * g.col_cols()];
        let mut x = vec![0.0; 9];
        col2im(&g, &ones, &mut x);
        assert_eq!(x, vec![4.0, 6.0, 4.0, 6.0, 9.0, 6.0, 4.0, 6.0, 4.0]);
    }
}
