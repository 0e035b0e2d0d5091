//! Convolution, deconvolution and inner-product kernels (forward and backward, Caffe semantics)
//! built on im2col/col2im + GEMM, with direct-loop naive twins.
//!
//! Layouts are NCHW, row-major. Convolution weights are `(M, C/g, kh, kw)`; deconvolution
//! weights are `(C, M/g, kh, kw)` where `C` is the deconvolution's INPUT channel count.
//! Backward kernels accumulate (`+=`) into weight and bias gradients and overwrite the input
//! gradient, as Caffe does.
//!
//! Performance notes: per group, the output columns are cut into GEMM panels of roughly
//! 512–1024 columns, near 1 MiB of column matrix where the kernel size allows (see `Plan`):
//! large output planes (AlexNet conv1, 55×55) are cut into bands of output rows written
//! straight into `y`; small ones (13×13) put the column matrices of several images side by side (`K × (nb·Ho·Wo)`) and
//! scatter the product back to NCHW. 1×1 kernels with stride 1 and no padding skip im2col and
//! multiply the input directly. The bias is preset in the output block before its GEMM.
//! Deconvolution reuses the convolution code through its adjoint ([`ConvGeom::deconv_as_conv`]).

use super::gemm::{gemm, sgemm, MatMut, MatRef};
use super::im2col::{col2im_rows_add, conv_out_size, im2col_rows, Im2colGeom};

/// Geometry of a 2-D convolution or deconvolution layer applied to one image.
///
/// For a convolution: input `channels × height × width`, output `num_output × out_h() ×
/// out_w()`. For a deconvolution the fields describe the deconvolution layer itself: input
/// `channels × height × width`, output `num_output × deconv_out_h() × deconv_out_w()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Input channels `C`.
    pub channels: usize,
    /// Input height `H`.
    pub height: usize,
    /// Input width `W`.
    pub width: usize,
    /// Output channels `M`.
    pub num_output: usize,
    /// Number of groups `g` (`C` and `M` must be multiples of it).
    pub group: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical zero padding.
    pub pad_h: usize,
    /// Horizontal zero padding.
    pub pad_w: usize,
    /// Vertical dilation.
    pub dilation_h: usize,
    /// Horizontal dilation.
    pub dilation_w: usize,
}

impl ConvGeom {
    /// A geometry with group 1, stride 1, no padding and dilation 1.
    pub fn new(
        channels: usize,
        height: usize,
        width: usize,
        num_output: usize,
        kernel_h: usize,
        kernel_w: usize,
    ) -> ConvGeom {
        ConvGeom {
            channels,
            height,
            width,
            num_output,
            group: 1,
            kernel_h,
            kernel_w,
            stride_h: 1,
            stride_w: 1,
            pad_h: 0,
            pad_w: 0,
            dilation_h: 1,
            dilation_w: 1,
        }
    }

    /// The same geometry with the given strides.
    pub fn with_stride(self, stride_h: usize, stride_w: usize) -> ConvGeom {
        ConvGeom { stride_h, stride_w, ..self }
    }

    /// The same geometry with the given paddings.
    pub fn with_pad(self, pad_h: usize, pad_w: usize) -> ConvGeom {
        ConvGeom { pad_h, pad_w, ..self }
    }

    /// The same geometry with the given dilations.
    pub fn with_dilation(self, dilation_h: usize, dilation_w: usize) -> ConvGeom {
        ConvGeom { dilation_h, dilation_w, ..self }
    }

    /// The same geometry with the given group count.
    pub fn with_group(self, group: usize) -> ConvGeom {
        ConvGeom { group, ..self }
    }

    /// Convolution output height `(H + 2p − (d(k−1)+1)) / s + 1` (C truncation, clamped at 0).
    pub fn out_h(&self) -> usize {
        conv_out_size(self.height, self.kernel_h, self.pad_h, self.stride_h, self.dilation_h)
    }

    /// Convolution output width (see [`ConvGeom::out_h`]).
    pub fn out_w(&self) -> usize {
        conv_out_size(self.width, self.kernel_w, self.pad_w, self.stride_w, self.dilation_w)
    }

    /// Deconvolution output height `s(H − 1) + d(k − 1) + 1 − 2p` (clamped at 0).
    pub fn deconv_out_h(&self) -> usize {
        deconv_out_size(self.height, self.kernel_h, self.pad_h, self.stride_h, self.dilation_h)
    }

    /// Deconvolution output width `s(W − 1) + d(k − 1) + 1 − 2p` (clamped at 0).
    pub fn deconv_out_w(&self) -> usize {
        deconv_out_size(self.width, self.kernel_w, self.pad_w, self.stride_w, self.dilation_w)
    }

    /// Elements of one input image, `C·H·W`.
    pub fn input_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Elements of one convolution output image, `M·out_h·out_w`.
    pub fn output_len(&self) -> usize {
        self.num_output * self.out_h() * self.out_w()
    }

    /// Elements of one deconvolution output image, `M·deconv_out_h·deconv_out_w`.
    pub fn deconv_output_len(&self) -> usize {
        self.num_output * self.deconv_out_h() * self.deconv_out_w()
    }

    /// Elements of the weight blob: `M·(C/g)·kh·kw` (convolution, shape `(M, C/g, kh, kw)`),
    /// which equals `C·(M/g)·kh·kw` (deconvolution, shape `(C, M/g, kh, kw)`).
    pub fn weight_len(&self) -> usize {
        self.num_output * (self.channels / self.group) * self.kernel_h * self.kernel_w
    }

    /// Multiply-adds of one convolution forward pass on one image.
    pub fn conv_macs_per_image(&self) -> usize {
        self.weight_len() * self.out_h() * self.out_w()
    }

    /// Multiply-adds of one deconvolution forward pass on one image.
    pub fn deconv_macs_per_image(&self) -> usize {
        self.weight_len() * self.height * self.width
    }

    /// The patch-extraction geometry of the convolution's input.
    pub fn patch(&self) -> Im2colGeom {
        Im2colGeom {
            channels: self.channels,
            height: self.height,
            width: self.width,
            kernel_h: self.kernel_h,
            kernel_w: self.kernel_w,
            pad_h: self.pad_h,
            pad_w: self.pad_w,
            stride_h: self.stride_h,
            stride_w: self.stride_w,
            dilation_h: self.dilation_h,
            dilation_w: self.dilation_w,
        }
    }

    /// For a deconvolution geometry, the convolution it is the adjoint of: input `M ×
    /// deconv_out_h × deconv_out_w`, output `C × H × W`, weights `(C, M/g, kh, kw)` (the very
    /// same blob), same kernel, stride, padding, dilation and groups.
    pub fn deconv_as_conv(&self) -> ConvGeom {
        ConvGeom {
            channels: self.num_output,
            height: self.deconv_out_h(),
            width: self.deconv_out_w(),
            num_output: self.channels,
            ..*self
        }
    }

    /// 1×1 kernel, stride 1, no padding: the input already is the column matrix.
    fn is_pointwise(&self) -> bool {
        self.kernel_h == 1
            && self.kernel_w == 1
            && self.stride_h == 1
            && self.stride_w == 1
            && self.pad_h == 0
            && self.pad_w == 0
    }

    fn debug_check(&self) {
        debug_assert!(self.group >= 1, "group must be >= 1");
        debug_assert!(self.channels % self.group == 0, "channels not divisible by group");
        debug_assert!(self.num_output % self.group == 0, "num_output not divisible by group");
        debug_assert!(self.kernel_h >= 1 && self.kernel_w >= 1, "kernel must be >= 1");
        debug_assert!(self.stride_h >= 1 && self.stride_w >= 1, "stride must be >= 1");
        debug_assert!(self.dilation_h >= 1 && self.dilation_w >= 1, "dilation must be >= 1");
    }
}

/// Caffe's deconvolution output size `s(in − 1) + d(k − 1) + 1 − 2p`, clamped at 0.
fn deconv_out_size(
    input: usize,
    kernel: usize,
    pad: usize,
    stride: usize,
    dilation: usize,
) -> usize {
    (stride * input.saturating_sub(1) + dilation * (kernel - 1) + 1).saturating_sub(2 * pad)
}

/// Column-matrix budget per GEMM panel, in floats (1 MiB: the panel stays in L2).
const COL_BUDGET: usize = 1 << 18;
/// Narrowest panel worth a GEMM call (every call repacks the weights: overhead ≈ 1/`cols`).
const MIN_COLS: usize = 512;
/// Widest panel (about the GEMM's own column blocking).
const MAX_COLS: usize = 1024;

/// How the output columns of one group are cut into GEMM panels: either several whole images
/// side by side (`images > 1`, small output planes), or bands of `rows` output rows of one
/// image (large output planes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Plan {
    images: usize,
    rows: usize,
}

impl Plan {
    /// Panel shape for `kg` column-matrix rows, an `oh × ow` output plane and `n` images.
    fn new(kg: usize, oh: usize, ow: usize, n: usize) -> Plan {
        let ohw = oh * ow;
        let target = (COL_BUDGET / kg.max(1)).clamp(MIN_COLS, MAX_COLS);
        if ohw == 0 || n == 0 {
            Plan { images: 1, rows: oh.max(1) }
        } else if ohw >= target {
            let rows = (target / ow).clamp(1, oh);
            Plan { images: 1, rows: oh.div_ceil(oh.div_ceil(rows)) }
        } else {
            let images = (target / ohw).clamp(1, n);
            Plan { images: n.div_ceil(n.div_ceil(images)), rows: oh }
        }
    }

    /// Maximum columns of one panel.
    fn max_cols(&self, ow: usize) -> usize {
        self.images * self.rows * ow
    }

    /// The panels as `(first image, image count, first output row, end output row)`.
    fn panels(self, n: usize, oh: usize) -> impl Iterator<Item = (usize, usize, usize, usize)> {
        let Plan { images, rows } = self;
        let batched = (images > 1).then(|| {
            (0..n).step_by(images).map(move |start| (start, images.min(n - start), 0, oh))
        });
        let banded = (images == 1).then(|| {
            (0..n).flat_map(move |i| {
                (0..oh).step_by(rows.max(1)).map(move |r| (i, 1, r, (r + rows).min(oh)))
            })
        });
        batched.into_iter().flatten().chain(banded.into_iter().flatten())
    }
}

/// Grows `scratch` to at least `len` elements and returns the first `len`.
fn scratch_slice(scratch: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if scratch.len() < len {
        scratch.resize(len, 0.0);
    }
    &mut scratch[..len]
}

/// Per-group sizes of a convolution geometry.
struct Dims {
    /// Patch geometry of ONE group's input channels.
    patch: Im2colGeom,
    oh: usize,
    ow: usize,
    ohw: usize,
    in_len: usize,
    out_len: usize,
    /// Input channels per group.
    cg: usize,
    /// Output channels per group.
    mg: usize,
    /// Column-matrix rows (and weight columns) per group.
    kg: usize,
}

impl Dims {
    fn new(g: &ConvGeom) -> Dims {
        let (oh, ow) = (g.out_h(), g.out_w());
        let (cg, mg) = (g.channels / g.group, g.num_output / g.group);
        Dims {
            patch: Im2colGeom { channels: cg, ..g.patch() },
            oh,
            ow,
            ohw: oh * ow,
            in_len: g.input_len(),
            out_len: g.num_output * oh * ow,
            cg,
            mg,
            kg: cg * g.kernel_h * g.kernel_w,
        }
    }

    /// Input channels of group `gi` in image `i` (`x` holds whole images).
    fn group_input<'a>(&self, x: &'a [f32], i: usize, gi: usize) -> &'a [f32] {
        let plane = self.in_plane();
        &x[i * self.in_len + gi * self.cg * plane..i * self.in_len + (gi + 1) * self.cg * plane]
    }

    /// `H · W` of the input.
    fn in_plane(&self) -> usize {
        self.patch.height * self.patch.width
    }

    /// Offset of output row `r` of group `gi` in image `i`.
    fn out_offset(&self, i: usize, gi: usize, r: usize) -> usize {
        i * self.out_len + gi * self.mg * self.ohw + r * self.ow
    }
}

/// Sets row `m` of the `rows × cols` matrix at `c[m · ld ..]` to `bias[m]` (or zero) and
/// returns the GEMM `beta` to use on it (`1` with a bias, `0` without).
fn preset_bias(c: &mut [f32], rows: usize, cols: usize, ld: usize, bias: Option<&[f32]>) -> f32 {
    match bias {
        Some(b) => {
            for (m, &bm) in b.iter().enumerate().take(rows) {
                c[m * ld..m * ld + cols].fill(bm);
            }
            1.0
        }
        None => 0.0,
    }
}

/// `y = W · im2col(x) (+ bias)` for `n` images of convolution geometry `g` (overwrites `y`).
/// The bias is written into the output block right before its GEMM (which then accumulates
/// onto it), while the block is in cache.
#[allow(clippy::too_many_arguments)]
fn forward_core(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    let d = Dims::new(g);
    let (mg, kg, ohw) = (d.mg, d.kg, d.ohw);
    assert!(x.len() >= n * d.in_len && y.len() >= n * d.out_len, "conv: data too small");
    assert!(w.len() >= g.group * mg * kg, "conv: weights too small");
    if let Some(b) = bias {
        assert!(b.len() >= g.num_output, "conv: bias too small");
    }
    let bias_g = |gi: usize| bias.map(|b| &b[gi * mg..(gi + 1) * mg]);
    if n == 0 || d.out_len == 0 {
        return;
    }
    if g.is_pointwise() {
        for i in 0..n {
            for gi in 0..g.group {
                let wg = &w[gi * mg * kg..(gi + 1) * mg * kg];
                let yg = &mut y[d.out_offset(i, gi, 0)..d.out_offset(i, gi + 1, 0)];
                let beta = preset_bias(yg, mg, ohw, ohw, bias_g(gi));
                gemm(false, false, mg, ohw, d.cg, 1.0, wg, d.group_input(x, i, gi), beta, yg);
            }
        }
        return;
    }
    let plan = Plan::new(kg, d.oh, d.ow, n);
    let max_cols = plan.max_cols(d.ow);
    let col_len = kg * max_cols;
    let tmp_len = if plan.images > 1 { mg * max_cols } else { 0 };
    let (col, tmp) = scratch_slice(scratch, col_len + tmp_len).split_at_mut(col_len);
    for gi in 0..g.group {
        let wg = MatRef::row_major(&w[gi * mg * kg..(gi + 1) * mg * kg], mg, kg);
        for (start, cnt, r0, r1) in plan.panels(n, d.oh) {
            let band = (r1 - r0) * d.ow;
            let cols = cnt * band;
            for j in 0..cnt {
                let xg = d.group_input(x, start + j, gi);
                im2col_rows(&d.patch, xg, r0, r1, &mut col[j * band..], cols);
            }
            let colp = MatRef::row_major(&col[..kg * cols], kg, cols);
            if cnt == 1 {
                // Write straight into the output rows r0..r1 of this image and group.
                let dst = &mut y[d.out_offset(start, gi, r0)..];
                let beta = preset_bias(dst, mg, cols, ohw, bias_g(gi));
                sgemm(1.0, wg, colp, beta, MatMut::new(dst, mg, cols, ohw, 1));
            } else {
                // Several whole images: multiply into `tmp`, then scatter back to NCHW.
                let dst = &mut tmp[..mg * cols];
                let beta = preset_bias(dst, mg, cols, cols, bias_g(gi));
                sgemm(1.0, wg, colp, beta, MatMut::row_major(dst, mg, cols));
                for j in 0..cnt {
                    for m in 0..mg {
                        let o = d.out_offset(start + j, gi, 0) + m * ohw;
                        y[o..o + ohw].copy_from_slice(&tmp[m * cols + j * ohw..][..ohw]);
                    }
                }
            }
        }
    }
}

/// Convolution geometry `g`, `n` images: `dw += dY · im2col(x)ᵀ` (if `dw`) and
/// `dx = col2im(Wᵀ · dY)` (if `dx`, overwritten). `x` is only read when `dw` is requested.
#[allow(clippy::too_many_arguments)]
fn backward_core(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    mut dw: Option<&mut [f32]>,
    mut dx: Option<&mut [f32]>,
    scratch: &mut Vec<f32>,
) {
    let d = Dims::new(g);
    let (mg, kg, ohw) = (d.mg, d.kg, d.ohw);
    let wlen = g.group * mg * kg;
    assert!(dy.len() >= n * d.out_len, "conv backward: top diff too small");
    if let Some(dw) = dw.as_deref() {
        assert!(dw.len() >= wlen, "conv backward: weight diff too small");
        assert!(x.len() >= n * d.in_len, "conv backward: input too small");
    }
    if let Some(dx) = dx.as_deref_mut() {
        assert!(w.len() >= wlen, "conv backward: weights too small");
        dx[..n * d.in_len].fill(0.0);
    }
    if n == 0 || ohw == 0 || (dw.is_none() && dx.is_none()) {
        return;
    }
    if g.is_pointwise() {
        for i in 0..n {
            for gi in 0..g.group {
                let dyg = &dy[d.out_offset(i, gi, 0)..d.out_offset(i, gi + 1, 0)];
                if let Some(dw) = dw.as_deref_mut() {
                    let dwg = &mut dw[gi * mg * kg..(gi + 1) * mg * kg];
                    gemm(false, true, mg, d.cg, ohw, 1.0, dyg, d.group_input(x, i, gi), 1.0, dwg);
                }
                if let Some(dx) = dx.as_deref_mut() {
                    let wg = &w[gi * mg * kg..(gi + 1) * mg * kg];
                    let plane = d.in_plane();
                    let o = i * d.in_len + gi * d.cg * plane;
                    gemm(
                        true,
                        false,
                        d.cg,
                        ohw,
                        mg,
                        1.0,
                        wg,
                        dyg,
                        0.0,
                        &mut dx[o..o + d.cg * plane],
                    );
                }
            }
        }
        return;
    }
    let plan = Plan::new(kg, d.oh, d.ow, n);
    let max_cols = plan.max_cols(d.ow);
    let col_len = kg * max_cols;
    let tmp_len = if plan.images > 1 { mg * max_cols } else { 0 };
    let (col, tmp) = scratch_slice(scratch, col_len + tmp_len).split_at_mut(col_len);
    for gi in 0..g.group {
        for (start, cnt, r0, r1) in plan.panels(n, d.oh) {
            let band = (r1 - r0) * d.ow;
            let cols = cnt * band;
            // The panel's top diff as an mg × cols matrix (gathered when several images).
            let dyp = if cnt == 1 {
                MatRef::new(&dy[d.out_offset(start, gi, r0)..], mg, cols, ohw, 1)
            } else {
                for j in 0..cnt {
                    for m in 0..mg {
                        let o = d.out_offset(start + j, gi, 0) + m * ohw;
                        tmp[m * cols + j * ohw..][..ohw].copy_from_slice(&dy[o..o + ohw]);
                    }
                }
                MatRef::row_major(&tmp[..mg * cols], mg, cols)
            };
            if let Some(dw) = dw.as_deref_mut() {
                for j in 0..cnt {
                    let xg = d.group_input(x, start + j, gi);
                    im2col_rows(&d.patch, xg, r0, r1, &mut col[j * band..], cols);
                }
                let colt = MatRef::row_major(&col[..kg * cols], kg, cols).t();
                let dwg = MatMut::row_major(&mut dw[gi * mg * kg..(gi + 1) * mg * kg], mg, kg);
                sgemm(1.0, dyp, colt, 1.0, dwg);
            }
            if let Some(dx) = dx.as_deref_mut() {
                let wt = MatRef::row_major(&w[gi * mg * kg..(gi + 1) * mg * kg], mg, kg).t();
                sgemm(1.0, wt, dyp, 0.0, MatMut::row_major(&mut col[..kg * cols], kg, cols));
                let plane = d.in_plane();
                for j in 0..cnt {
                    let o = (start + j) * d.in_len + gi * d.cg * plane;
                    let dxg = &mut dx[o..o + d.cg * plane];
                    col2im_rows_add(&d.patch, &col[j * band..], cols, r0, r1, dxg);
                }
            }
        }
    }
}

/// `y[i, m, :] += bias[m]` for `n` images of `channels` planes of `plane` elements.
fn add_bias(y: &mut [f32], n: usize, channels: usize, plane: usize, bias: &[f32]) {
    assert!(bias.len() >= channels, "bias too small");
    if plane == 0 {
        return;
    }
    for yi in y.chunks_exact_mut(channels * plane).take(n) {
        for (ym, &b) in yi.chunks_exact_mut(plane).zip(bias) {
            for v in ym {
                *v += b;
            }
        }
    }
}

/// `db[m] += Σ_{i, spatial} dy[i, m, :]`.
fn bias_grad(dy: &[f32], n: usize, channels: usize, plane: usize, db: &mut [f32]) {
    assert!(db.len() >= channels, "bias diff too small");
    if plane == 0 {
        return;
    }
    for dyi in dy.chunks_exact(channels * plane).take(n) {
        for (dym, d) in dyi.chunks_exact(plane).zip(db.iter_mut()) {
            *d += dym.iter().sum::<f32>();
        }
    }
}

/// Convolution forward for `n` images: `y = conv(x, w) + bias` (overwrites `y`).
///
/// `x`: `(n, C, H, W)`, `w`: `(M, C/g, kh, kw)`, `bias`: `(M)`, `y`: `(n, M, out_h, out_w)`.
/// `scratch` is grown as needed and may be reused across calls.
pub fn conv_forward(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    g.debug_check();
    forward_core(g, n, x, w, bias, y, scratch);
}

/// Convolution backward for `n` images given the top diff `dy` `(n, M, out_h, out_w)`:
/// `dw += ∂L/∂w`, `db += ∂L/∂b` (accumulate), `dx = ∂L/∂x` (overwritten). Each output is
/// optional; `x` is only read when `dw` is requested and `w` only when `dx` is.
#[allow(clippy::too_many_arguments)]
pub fn conv_backward(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
    dx: Option<&mut [f32]>,
    scratch: &mut Vec<f32>,
) {
    g.debug_check();
    if let Some(db) = db {
        bias_grad(dy, n, g.num_output, g.out_h() * g.out_w(), db);
    }
    backward_core(g, n, x, w, dy, dw, dx, scratch);
}

/// Deconvolution forward for `n` images (Caffe's Deconvolution layer, the adjoint of the
/// convolution [`ConvGeom::deconv_as_conv`]): `y = deconv(x, w) + bias` (overwrites `y`).
///
/// `x`: `(n, C, H, W)`, `w`: `(C, M/g, kh, kw)`, `bias`: `(M)`,
/// `y`: `(n, M, deconv_out_h, deconv_out_w)`.
pub fn deconv_forward(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    g.debug_check();
    let a = g.deconv_as_conv();
    debug_assert!(a.out_h() == g.height && a.out_w() == g.width, "degenerate deconvolution");
    backward_core(&a, n, &[], w, x, None, Some(y), scratch);
    if let Some(b) = bias {
        add_bias(y, n, g.num_output, g.deconv_out_h() * g.deconv_out_w(), b);
    }
}

/// Deconvolution backward for `n` images given the top diff `dy`
/// `(n, M, deconv_out_h, deconv_out_w)`: `dw += ∂L/∂w`, `db += ∂L/∂b` (accumulate),
/// `dx = ∂L/∂x` (overwritten; it is the convolution of `dy` with `w`).
#[allow(clippy::too_many_arguments)]
pub fn deconv_backward(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
    dx: Option<&mut [f32]>,
    scratch: &mut Vec<f32>,
) {
    g.debug_check();
    let a = g.deconv_as_conv();
    if let Some(db) = db {
        bias_grad(dy, n, g.num_output, g.deconv_out_h() * g.deconv_out_w(), db);
    }
    if let Some(dw) = dw {
        // In the adjoint convolution, dy is the input and x plays the top diff.
        backward_core(&a, n, dy, w, x, Some(dw), None, scratch);
    }
    if let Some(dx) = dx {
        forward_core(&a, n, dy, w, None, dx, scratch);
    }
}

/// Input position `o·stride − pad + k·dilation` if it lies inside `[0, len)`.
fn tap(
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

/// Calls `f(i, m, oh, ow, c, u, v, x_index)` for every (image, output, kernel tap) pair of a
/// convolution whose input position is inside the image; `c` is the absolute input channel.
fn for_each_tap(
    g: &ConvGeom,
    n: usize,
    mut f: impl FnMut(usize, usize, usize, usize, usize, usize, usize, usize),
) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (h, w) = (g.height, g.width);
    let (cg, mg) = (g.channels / g.group, g.num_output / g.group);
    for i in 0..n {
        for m in 0..g.num_output {
            let gi = m / mg;
            for o_h in 0..oh {
                for o_w in 0..ow {
                    for c in gi * cg..(gi + 1) * cg {
                        for u in 0..g.kernel_h {
                            let Some(ih) = tap(o_h, u, g.stride_h, g.pad_h, g.dilation_h, h) else {
                                continue;
                            };
                            for v in 0..g.kernel_w {
                                let Some(iw) = tap(o_w, v, g.stride_w, g.pad_w, g.dilation_w, w)
                                else {
                                    continue;
                                };
                                f(
                                    i,
                                    m,
                                    o_h,
                                    o_w,
                                    c,
                                    u,
                                    v,
                                    ((i * g.channels + c) * h + ih) * w + iw,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Naive twin of [`conv_forward`]: direct nested loops.
pub fn conv_forward_naive(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (cg, m_all) = (g.channels / g.group, g.num_output);
    let (kh, kw) = (g.kernel_h, g.kernel_w);
    y[..n * m_all * oh * ow].fill(0.0);
    for_each_tap(g, n, |i, m, o_h, o_w, c, u, v, xi| {
        let wi = ((m * cg + c % cg) * kh + u) * kw + v;
        y[((i * m_all + m) * oh + o_h) * ow + o_w] += w[wi] * x[xi];
    });
    if let Some(b) = bias {
        add_bias(y, n, m_all, oh * ow, b);
    }
}

/// Naive twin of [`conv_backward`]: direct nested loops, same accumulate/overwrite rules.
#[allow(clippy::too_many_arguments)]
pub fn conv_backward_naive(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    mut dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
    mut dx: Option<&mut [f32]>,
) {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (cg, m_all) = (g.channels / g.group, g.num_output);
    let (kh, kw) = (g.kernel_h, g.kernel_w);
    if let Some(db) = db {
        for i in 0..n {
            for (m, d) in db.iter_mut().enumerate().take(m_all) {
                for p in 0..oh * ow {
                    *d += dy[(i * m_all + m) * oh * ow + p];
                }
            }
        }
    }
    if let Some(dx) = dx.as_deref_mut() {
        dx[..n * g.input_len()].fill(0.0);
    }
    for_each_tap(g, n, |i, m, o_h, o_w, c, u, v, xi| {
        let wi = ((m * cg + c % cg) * kh + u) * kw + v;
        let d = dy[((i * m_all + m) * oh + o_h) * ow + o_w];
        if let Some(dw) = dw.as_deref_mut() {
            dw[wi] += d * x[xi];
        }
        if let Some(dx) = dx.as_deref_mut() {
            dx[xi] += d * w[wi];
        }
    });
}

/// Naive twin of [`deconv_forward`]: every input value scatters `w · x` into the output.
pub fn deconv_forward_naive(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) {
    // Loop over the adjoint convolution's taps: its output is our input and vice versa.
    let a = g.deconv_as_conv();
    let (h, wd) = (g.height, g.width);
    let (mg, c_all) = (g.num_output / g.group, g.channels);
    let (kh, kw) = (g.kernel_h, g.kernel_w);
    y[..n * g.deconv_output_len()].fill(0.0);
    for_each_tap(&a, n, |i, c, ih, iw, m, u, v, yi| {
        let wi = ((c * mg + m % mg) * kh + u) * kw + v;
        y[yi] += w[wi] * x[((i * c_all + c) * h + ih) * wd + iw];
    });
    if let Some(b) = bias {
        add_bias(y, n, g.num_output, g.deconv_out_h() * g.deconv_out_w(), b);
    }
}

/// Naive twin of [`deconv_backward`]: direct loops, same accumulate/overwrite rules.
#[allow(clippy::too_many_arguments)]
pub fn deconv_backward_naive(
    g: &ConvGeom,
    n: usize,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    mut dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
    mut dx: Option<&mut [f32]>,
) {
    let a = g.deconv_as_conv();
    let (h, wd) = (g.height, g.width);
    let (mg, c_all, m_all) = (g.num_output / g.group, g.channels, g.num_output);
    let (kh, kw) = (g.kernel_h, g.kernel_w);
    let plane = g.deconv_out_h() * g.deconv_out_w();
    if let Some(db) = db {
        for i in 0..n {
            for (m, d) in db.iter_mut().enumerate().take(m_all) {
                for p in 0..plane {
                    *d += dy[(i * m_all + m) * plane + p];
                }
            }
        }
    }
    if let Some(dx) = dx.as_deref_mut() {
        dx[..n * g.input_len()].fill(0.0);
    }
    for_each_tap(&a, n, |i, c, ih, iw, m, u, v, yi| {
        let wi = ((c * mg + m % mg) * kh + u) * kw + v;
        let xi = ((i * c_all + c) * h + ih) * wd + iw;
        if let Some(dw) = dw.as_deref_mut() {
            dw[wi] += x[xi] * dy[yi];
        }
        if let Some(dx) = dx.as_deref_mut() {
            dx[xi] += w[wi] * dy[yi];
        }
    });
}

/// Inner product forward: `Y (rows × m) = X (rows × k) · Wᵀ + 1·biasᵀ` with `W` stored
/// `(m, k)`, or `Y = X · W + 1·biasᵀ` with `W` stored `(k, m)` when `transpose`.
/// Overwrites `y`.
#[allow(clippy::too_many_arguments)]
pub fn inner_product_forward(
    rows: usize,
    k: usize,
    m: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    transpose: bool,
    y: &mut [f32],
) {
    gemm(false, !transpose, rows, m, k, 1.0, x, w, 0.0, y);
    if let Some(b) = bias {
        add_bias(y, rows, m, 1, b);
    }
}

/// Inner product backward given `dY (rows × m)`: `dW += dYᵀ·X` (`(m, k)`; with `transpose`
/// `dW += Xᵀ·dY`, `(k, m)`), `db += column sums of dY` (accumulate), `dX = dY·W` (with
/// `transpose` `dY·Wᵀ`; overwritten). Each output is optional.
#[allow(clippy::too_many_arguments)]
pub fn inner_product_backward(
    rows: usize,
    k: usize,
    m: usize,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    transpose: bool,
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
    dx: Option<&mut [f32]>,
) {
    if let Some(dw) = dw {
        if transpose {
            gemm(true, false, k, m, rows, 1.0, x, dy, 1.0, dw);
        } else {
            gemm(true, false, m, k, rows, 1.0, dy, x, 1.0, dw);
        }
    }
    if let Some(db) = db {
        bias_grad(dy, rows, m, 1, db);
    }
    if let Some(dx) = dx {
        // Computed as dXᵀ = op(W)ᵀ · dYᵀ: with few rows this packs W along its rows, which
        // measured markedly faster than dX = dY · op(W) for fc6-like shapes.
        let wt =
            if transpose { MatRef::row_major(w, k, m) } else { MatRef::row_major(w, m, k).t() };
        let dyt = MatRef::row_major(dy, rows, m).t();
        sgemm(1.0, wt, dyt, 0.0, MatMut::new(dx, k, rows, 1, k));
    }
}

/// `W[j, l]` of an inner product's weight blob (stored `(m, k)`, or `(k, m)` if `transpose`).
fn ip_weight(w: &[f32], k: usize, m: usize, transpose: bool, j: usize, l: usize) -> f32 {
    if transpose {
        w[l * m + j]
    } else {
        w[j * k + l]
    }
}

/// Naive twin of [`inner_product_forward`].
#[allow(clippy::too_many_arguments)]
pub fn inner_product_forward_naive(
    rows: usize,
    k: usize,
    m: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    transpose: bool,
    y: &mut [f32],
) {
    for r in 0..rows {
        for j in 0..m {
            let mut acc = 0.0f32;
            for l in 0..k {
                acc += x[r * k + l] * ip_weight(w, k, m, transpose, j, l);
            }
            y[r * m + j] = acc + bias.map_or(0.0, |b| b[j]);
        }
    }
}

/// Naive twin of [`inner_product_backward`].
#[allow(clippy::too_many_arguments)]
pub fn inner_product_backward_naive(
    rows: usize,
    k: usize,
    m: usize,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    transpose: bool,
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
    dx: Option<&mut [f32]>,
) {
    if let Some(dw) = dw {
        for j in 0..m {
            for l in 0..k {
                let mut acc = 0.0f32;
                for r in 0..rows {
                    acc += dy[r * m + j] * x[r * k + l];
                }
                let idx = if transpose { l * m + j } else { j * k + l };
                dw[idx] += acc;
            }
        }
    }
    if let Some(db) = db {
        for (j, d) in db.iter_mut().enumerate().take(m) {
            for r in 0..rows {
                *d += dy[r * m + j];
            }
        }
    }
    if let Some(dx) = dx {
        for r in 0..rows {
            for l in 0..k {
                let mut acc = 0.0f32;
                for j in 0..m {
                    acc += dy[r * m + j] * ip_weight(w, k, m, transpose, j, l);
                }
                dx[r * k + l] = acc;
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
        /// Integer-valued f32 in [-3, 3].
        fn ints(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| (self.next() % 7) as f32 - 3.0).collect()
        }
        /// Uniform f32 in [-1, 1).
        fn floats(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0).collect()
        }
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
    }

    /// Compares `grad` with central differences (step 1e-2) of `loss` around `v`. The losses
    /// tested are linear in each argument, so the only error is f32 rounding.
    fn check_fd(name: &str, v: &[f32], grad: &[f32], loss: &mut dyn FnMut(&[f32]) -> f64) {
        assert_eq!(v.len(), grad.len());
        let h = 1e-2f32;
        for (i, &g) in grad.iter().enumerate() {
            let (mut plus, mut minus) = (v.to_vec(), v.to_vec());
            plus[i] += h;
            minus[i] -= h;
            let num = (loss(&plus) - loss(&minus)) / (2.0 * h as f64);
            assert!((num - g as f64).abs() < 2e-3, "{name}[{i}]: numeric {num} vs analytic {g}");
        }
    }

    /// (C, H, W, M, k, s, p, d, g)
    type RawGeom = (usize, usize, usize, usize, usize, usize, usize, usize, usize);

    /// Awkward geometries: (C, H, W, M, k, s, p, d, g).
    fn geometries() -> Vec<ConvGeom> {
        let raw: [RawGeom; 17] = [
            (3, 7, 7, 4, 1, 1, 0, 1, 1),    // pointwise
            (6, 9, 7, 6, 1, 1, 0, 1, 3),    // pointwise, groups
            (2, 7, 9, 5, 1, 2, 0, 1, 1),    // 1x1 strided: im2col path
            (3, 9, 9, 4, 3, 1, 1, 1, 1),    // 3x3 same
            (4, 9, 7, 6, 3, 2, 1, 1, 2),    // groups 2
            (6, 17, 17, 3, 5, 1, 2, 1, 3),  // groups 3
            (3, 17, 17, 5, 11, 4, 0, 1, 1), // AlexNet conv1-like
            (3, 17, 9, 2, 11, 4, 2, 1, 1),
            (2, 9, 9, 3, 2, 3, 0, 1, 1),   // stride > kernel
            (2, 9, 9, 3, 3, 4, 1, 1, 1),   // stride > kernel, pad
            (2, 9, 11, 4, 3, 1, 2, 2, 2),  // dilation 2
            (3, 17, 7, 3, 5, 2, 1, 2, 3),  // dilation + groups
            (4, 13, 13, 6, 3, 1, 1, 1, 2), // conv3-5-like, batched path
            (1, 1, 1, 1, 1, 1, 0, 1, 1),
            (2, 3, 3, 2, 5, 1, 2, 1, 1), // kernel larger than the image
            (2, 7, 7, 2, 3, 2, 0, 1, 1),
            (3, 5, 5, 6, 1, 2, 1, 1, 3),
        ];
        raw.iter()
            .map(|&(c, h, w, m, k, s, p, d, g)| {
                ConvGeom::new(c, h, w, m, k, k)
                    .with_stride(s, s)
                    .with_pad(p, p)
                    .with_dilation(d, d)
                    .with_group(g)
            })
            .chain([
                // Non-square kernels, strides, pads and dilations.
                ConvGeom::new(2, 9, 8, 3, 3, 5)
                    .with_stride(2, 1)
                    .with_pad(0, 2)
                    .with_dilation(1, 2),
                ConvGeom::new(4, 7, 17, 4, 1, 3).with_stride(1, 3).with_pad(1, 0).with_group(2),
            ])
            .collect()
    }

    #[test]
    fn geometry_sizes_follow_caffe() {
        let g = ConvGeom::new(3, 227, 227, 96, 11, 11).with_stride(4, 4);
        assert_eq!((g.out_h(), g.out_w()), (55, 55));
        let g = ConvGeom::new(96, 27, 27, 256, 5, 5).with_pad(2, 2).with_group(2);
        assert_eq!((g.out_h(), g.weight_len()), (27, 256 * 48 * 25));
        // Deconvolution: Ho = s(H−1) + d(k−1) + 1 − 2p.
        let d = ConvGeom::new(8, 7, 5, 4, 4, 3).with_stride(2, 3).with_pad(1, 0);
        assert_eq!((d.deconv_out_h(), d.deconv_out_w()), (14, 15));
        let a = d.deconv_as_conv();
        assert_eq!((a.channels, a.height, a.width, a.num_output), (4, 14, 15, 8));
        assert_eq!((a.out_h(), a.out_w()), (7, 5));
        assert_eq!(a.weight_len(), d.weight_len());
    }

    #[test]
    fn conv_forward_matches_naive() {
        let mut rng = Rng(0x1234_5678);
        let mut scratch = Vec::new();
        for g in geometries() {
            for n in [1usize, 3] {
                for with_bias in [false, true] {
                    let x = rng.ints(n * g.input_len());
                    let w = rng.ints(g.weight_len());
                    let b = rng.ints(g.num_output);
                    let bias = with_bias.then_some(&b[..]);
                    let mut fast = vec![f32::NAN; n * g.output_len()];
                    let mut slow = vec![f32::NAN; n * g.output_len()];
                    conv_forward(&g, n, &x, &w, bias, &mut fast, &mut scratch);
                    conv_forward_naive(&g, n, &x, &w, bias, &mut slow);
                    assert_eq!(fast, slow, "{g:?} n={n} bias={with_bias}");
                }
            }
        }
    }

    #[test]
    fn conv_backward_matches_naive() {
        let mut rng = Rng(0xdead_beef);
        let mut scratch = Vec::new();
        for g in geometries() {
            for n in [1usize, 3] {
                let x = rng.ints(n * g.input_len());
                let w = rng.ints(g.weight_len());
                let dy = rng.ints(n * g.output_len());
                let dw0 = rng.ints(g.weight_len());
                let db0 = rng.ints(g.num_output);
                let (mut dw1, mut dw2) = (dw0.clone(), dw0.clone());
                let (mut db1, mut db2) = (db0.clone(), db0.clone());
                let mut dx1 = vec![f32::NAN; n * g.input_len()];
                let mut dx2 = vec![f32::NAN; n * g.input_len()];
                conv_backward(
                    &g,
                    n,
                    &x,
                    &w,
                    &dy,
                    Some(&mut dw1),
                    Some(&mut db1),
                    Some(&mut dx1),
                    &mut scratch,
                );
                conv_backward_naive(
                    &g,
                    n,
                    &x,
                    &w,
                    &dy,
                    Some(&mut dw2),
                    Some(&mut db2),
                    Some(&mut dx2),
                );
                assert_eq!(dw1, dw2, "dw {g:?} n={n}");
                assert_eq!(db1, db2, "db {g:?} n={n}");
                assert_eq!(dx1, dx2, "dx {g:?} n={n}");
                // Each output alone gives the same answer.
                let mut dw3 = dw0.clone();
                conv_backward(&g, n, &x, &w, &dy, Some(&mut dw3), None, None, &mut scratch);
                assert_eq!(dw3, dw2);
                let mut dx3 = vec![f32::NAN; n * g.input_len()];
                conv_backward(&g, n, &[], &w, &dy, None, None, Some(&mut dx3), &mut scratch);
                assert_eq!(dx3, dx2);
            }
        }
    }

    #[test]
    fn batched_chunks_with_remainder_match_naive() {
        // 13x13 output: several images share one column matrix; 7 images leave a remainder.
        let mut rng = Rng(31337);
        let g = ConvGeom::new(3, 13, 13, 4, 3, 3).with_pad(1, 1);
        let n = 7;
        assert!(Plan::new(27, 13, 13, n).images > 1);
        let x = rng.ints(n * g.input_len());
        let w = rng.ints(g.weight_len());
        let b = rng.ints(4);
        let mut scratch = Vec::new();
        let mut fast = vec![0.0; n * g.output_len()];
        let mut slow = vec![0.0; n * g.output_len()];
        conv_forward(&g, n, &x, &w, Some(&b), &mut fast, &mut scratch);
        conv_forward_naive(&g, n, &x, &w, Some(&b), &mut slow);
        assert_eq!(fast, slow);
        let dy = rng.ints(n * g.output_len());
        let (mut dw1, mut dw2) = (vec![0.0; g.weight_len()], vec![0.0; g.weight_len()]);
        let (mut dx1, mut dx2) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        conv_backward(&g, n, &x, &w, &dy, Some(&mut dw1), None, Some(&mut dx1), &mut scratch);
        conv_backward_naive(&g, n, &x, &w, &dy, Some(&mut dw2), None, Some(&mut dx2));
        assert_eq!(dw1, dw2);
        assert_eq!(dx1, dx2);
    }

    #[test]
    fn plan_panels_cover_every_output_once() {
        for &(kg, oh, ow, n) in &[
            (363, 55, 55, 16),
            (1200, 27, 27, 16),
            (2304, 13, 13, 16),
            (27, 13, 13, 7),
            (9, 1, 1, 3),
            (100_000, 3, 500, 2),
            (5, 0, 4, 2),
            (5, 4, 4, 0),
        ] {
            let plan = Plan::new(kg, oh, ow, n);
            let mut seen = vec![0u32; n * oh];
            for (start, cnt, r0, r1) in plan.panels(n, oh) {
                assert!(cnt >= 1 && r0 < r1 && r1 <= oh && start + cnt <= n);
                assert!(cnt == 1 || (r0 == 0 && r1 == oh));
                assert!(cnt * (r1 - r0) * ow <= plan.max_cols(ow));
                for i in start..start + cnt {
                    for r in r0..r1 {
                        seen[i * oh + r] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "kg={kg} oh={oh} ow={ow} n={n}");
        }
        // AlexNet conv1 is cut into bands, conv3 batches several images.
        assert!(Plan::new(363, 55, 55, 16).rows < 55);
        assert!(Plan::new(2304, 13, 13, 16).images > 1);
    }

    #[test]
    fn banded_panels_match_naive() {
        let mut rng = Rng(4711);
        for g in [
            ConvGeom::new(4, 40, 40, 3, 3, 3).with_pad(1, 1),
            ConvGeom::new(64, 25, 25, 4, 9, 9).with_pad(4, 4).with_group(2),
            ConvGeom::new(2, 91, 37, 4, 5, 3).with_stride(2, 1).with_pad(2, 0).with_group(2),
        ] {
            let d = Dims::new(&g);
            assert!(Plan::new(d.kg, d.oh, d.ow, 2).rows < d.oh, "{g:?} is not banded");
            let n = 2;
            let x = rng.ints(n * g.input_len());
            let w = rng.ints(g.weight_len());
            let b = rng.ints(g.num_output);
            let dy = rng.ints(n * g.output_len());
            let mut scratch = Vec::new();
            let mut fast = vec![f32::NAN; n * g.output_len()];
            let mut slow = vec![f32::NAN; n * g.output_len()];
            conv_forward(&g, n, &x, &w, Some(&b), &mut fast, &mut scratch);
            conv_forward_naive(&g, n, &x, &w, Some(&b), &mut slow);
            assert_eq!(fast, slow, "{g:?}");
            let (mut dw1, mut dw2) = (vec![1.0; g.weight_len()], vec![1.0; g.weight_len()]);
            let (mut dx1, mut dx2) = (vec![f32::NAN; x.len()], vec![f32::NAN; x.len()]);
            conv_backward(&g, n, &x, &w, &dy, Some(&mut dw1), None, Some(&mut dx1), &mut scratch);
            conv_backward_naive(&g, n, &x, &w, &dy, Some(&mut dw2), None, Some(&mut dx2));
            assert_eq!(dw1, dw2, "{g:?}");
            assert_eq!(dx1, dx2, "{g:?}");
        }
    }

    #[test]
    fn backward_accumulates_parameter_diffs_and_overwrites_dx() {
        let mut rng = Rng(5);
        let g = ConvGeom::new(4, 7, 7, 4, 3, 3).with_pad(1, 1).with_group(2);
        let n = 2;
        let x = rng.ints(n * g.input_len());
        let w = rng.ints(g.weight_len());
        let dy = rng.ints(n * g.output_len());
        let mut scratch = Vec::new();
        let mut dw = vec![0.0; g.weight_len()];
        let mut db = vec![0.0; 4];
        let mut dx = vec![0.0; x.len()];
        conv_backward(
            &g,
            n,
            &x,
            &w,
            &dy,
            Some(&mut dw),
            Some(&mut db),
            Some(&mut dx),
            &mut scratch,
        );
        let (dw_once, db_once, dx_once) = (dw.clone(), db.clone(), dx.clone());
        conv_backward(
            &g,
            n,
            &x,
            &w,
            &dy,
            Some(&mut dw),
            Some(&mut db),
            Some(&mut dx),
            &mut scratch,
        );
        assert_eq!(dw, dw_once.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
        assert_eq!(db, db_once.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
        assert_eq!(dx, dx_once);
        assert!(dw_once.iter().any(|&v| v != 0.0));
    }

    /// Checks `conv_backward` against central differences of `L = Σ conv(x, w, b) ⊙ r`.
    #[test]
    fn conv_backward_matches_finite_differences() {
        let mut rng = Rng(77);
        let cases = [
            ConvGeom::new(2, 5, 4, 3, 3, 2).with_pad(1, 0).with_stride(2, 1),
            ConvGeom::new(4, 5, 5, 2, 3, 3).with_group(2).with_dilation(2, 1).with_pad(1, 1),
            ConvGeom::new(2, 3, 3, 2, 1, 1),
        ];
        for g in cases {
            let n = 2;
            let x = rng.floats(n * g.input_len());
            let w = rng.floats(g.weight_len());
            let b = rng.floats(g.num_output);
            let r = rng.floats(n * g.output_len());
            let mut scratch = Vec::new();
            let mut loss = |x: &[f32], w: &[f32], b: &[f32]| {
                let mut y = vec![0.0; n * g.output_len()];
                conv_forward(&g, n, x, w, Some(b), &mut y, &mut scratch);
                dot(&y, &r)
            };
            let (mut dw, mut db, mut dx) =
                (vec![0.0; w.len()], vec![0.0; b.len()], vec![0.0; x.len()]);
            conv_backward(
                &g,
                n,
                &x,
                &w,
                &r,
                Some(&mut dw),
                Some(&mut db),
                Some(&mut dx),
                &mut Vec::new(),
            );
            check_fd("dx", &x, &dx, &mut |v| loss(v, &w, &b));
            check_fd("dw", &w, &dw, &mut |v| loss(&x, v, &b));
            check_fd("db", &b, &db, &mut |v| loss(&x, &w, v));
        }
    }

    /// Deconvolution geometries; each one's adjoint convolution is exact.
    fn deconv_geometries() -> Vec<ConvGeom> {
        vec![
            ConvGeom::new(3, 4, 5, 2, 4, 4).with_stride(2, 2).with_pad(1, 1),
            ConvGeom::new(4, 3, 3, 6, 3, 3).with_stride(2, 2).with_group(2),
            ConvGeom::new(6, 5, 4, 3, 3, 5).with_stride(1, 3).with_pad(1, 2).with_group(3),
            ConvGeom::new(2, 7, 7, 2, 3, 3).with_dilation(2, 2).with_stride(2, 1),
            ConvGeom::new(4, 9, 7, 6, 1, 1).with_group(2), // pointwise
            ConvGeom::new(2, 5, 5, 3, 2, 2).with_stride(4, 4), // stride > kernel
            ConvGeom::new(2, 13, 13, 3, 3, 3).with_pad(1, 1), // batched path
            ConvGeom::new(1, 1, 1, 1, 1, 1),
        ]
    }

    #[test]
    fn deconv_forward_matches_naive() {
        let mut rng = Rng(0xabc);
        let mut scratch = Vec::new();
        for g in deconv_geometries() {
            for n in [1usize, 3] {
                for with_bias in [false, true] {
                    let x = rng.ints(n * g.input_len());
                    let w = rng.ints(g.weight_len());
                    let b = rng.ints(g.num_output);
                    let bias = with_bias.then_some(&b[..]);
                    let mut fast = vec![f32::NAN; n * g.deconv_output_len()];
                    let mut slow = vec![f32::NAN; n * g.deconv_output_len()];
                    deconv_forward(&g, n, &x, &w, bias, &mut fast, &mut scratch);
                    deconv_forward_naive(&g, n, &x, &w, bias, &mut slow);
                    assert_eq!(fast, slow, "{g:?} n={n}");
                }
            }
        }
    }

    #[test]
    fn deconv_backward_matches_naive() {
        let mut rng = Rng(0xfeed);
        let mut scratch = Vec::new();
        for g in deconv_geometries() {
            for n in [1usize, 3] {
                let x = rng.ints(n * g.input_len());
                let w = rng.ints(g.weight_len());
                let dy = rng.ints(n * g.deconv_output_len());
                let dw0 = rng.ints(g.weight_len());
                let db0 = rng.ints(g.num_output);
                let (mut dw1, mut dw2) = (dw0.clone(), dw0.clone());
                let (mut db1, mut db2) = (db0.clone(), db0.clone());
                let mut dx1 = vec![f32::NAN; n * g.input_len()];
                let mut dx2 = vec![f32::NAN; n * g.input_len()];
                deconv_backward(
                    &g,
                    n,
                    &x,
                    &w,
                    &dy,
                    Some(&mut dw1),
                    Some(&mut db1),
                    Some(&mut dx1),
                    &mut scratch,
                );
                deconv_backward_naive(
                    &g,
                    n,
                    &x,
                    &w,
                    &dy,
                    Some(&mut dw2),
                    Some(&mut db2),
                    Some(&mut dx2),
                );
                assert_eq!(dw1, dw2, "dw {g:?}");
                assert_eq!(db1, db2, "db {g:?}");
                assert_eq!(dx1, dx2, "dx {g:?}");
            }
        }
    }

    #[test]
    fn deconv_is_adjoint_of_conv() {
        let mut rng = Rng(0x5eed);
        let mut scratch = Vec::new();
        for d in deconv_geometries() {
            let c = d.deconv_as_conv();
            let n = 2;
            // ⟨conv(u), v⟩ = ⟨u, deconv(v)⟩ with the same weight blob.
            let w = rng.ints(d.weight_len());
            let u = rng.ints(n * c.input_len());
            let v = rng.ints(n * c.output_len());
            let mut cu = vec![0.0; n * c.output_len()];
            conv_forward(&c, n, &u, &w, None, &mut cu, &mut scratch);
            let mut dv = vec![0.0; n * d.deconv_output_len()];
            deconv_forward(&d, n, &v, &w, None, &mut dv, &mut scratch);
            assert_eq!(dot(&cu, &v), dot(&u, &dv), "{d:?}");
            // conv_backward's dx is deconv_forward of dy.
            let mut dx = vec![f32::NAN; n * c.input_len()];
            conv_backward(&c, n, &[], &w, &v, None, None, Some(&mut dx), &mut scratch);
            assert_eq!(dx, dv, "{d:?}");
            // deconv_backward's dx is conv_forward of dy.
            let mut ddx = vec![f32::NAN; n * d.input_len()];
            deconv_backward(&d, n, &[], &w, &u, None, None, Some(&mut ddx), &mut scratch);
            assert_eq!(ddx, cu, "{d:?}");
        }
    }

    #[test]
    fn deconv_backward_matches_finite_differences() {
        let mut rng = Rng(99);
        for g in [
            ConvGeom::new(2, 3, 2, 2, 3, 2).with_stride(2, 1).with_pad(1, 0),
            ConvGeom::new(4, 2, 3, 2, 2, 2).with_group(2).with_stride(2, 2),
        ] {
            let n = 2;
            let x = rng.floats(n * g.input_len());
            let w = rng.floats(g.weight_len());
            let b = rng.floats(g.num_output);
            let r = rng.floats(n * g.deconv_output_len());
            let mut scratch = Vec::new();
            let mut loss = |x: &[f32], w: &[f32], b: &[f32]| {
                let mut y = vec![0.0; n * g.deconv_output_len()];
                deconv_forward(&g, n, x, w, Some(b), &mut y, &mut scratch);
                dot(&y, &r)
            };
            let (mut dw, mut db, mut dx) =
                (vec![0.0; w.len()], vec![0.0; b.len()], vec![0.0; x.len()]);
            deconv_backward(
                &g,
                n,
                &x,
                &w,
                &r,
                Some(&mut dw),
                Some(&mut db),
                Some(&mut dx),
                &mut Vec::new(),
            );
            check_fd("dx", &x, &dx, &mut |v| loss(v, &w, &b));
            check_fd("dw", &w, &dw, &mut |v| loss(&x, v, &b));
            check_fd("db", &b, &db, &mut |v| loss(&x, &w, v));
        }
    }

    #[test]
    fn inner_product_matches_naive() {
        let mut rng = Rng(0x1f);
        for &(rows, k, m) in &[(1, 1, 1), (3, 7, 9), (16, 33, 17), (2, 65, 1), (9, 1, 7)] {
            for transpose in [false, true] {
                for with_bias in [false, true] {
                    let x = rng.ints(rows * k);
                    let w = rng.ints(k * m);
                    let b = rng.ints(m);
                    let bias = with_bias.then_some(&b[..]);
                    let mut y1 = vec![f32::NAN; rows * m];
                    let mut y2 = vec![f32::NAN; rows * m];
                    inner_product_forward(rows, k, m, &x, &w, bias, transpose, &mut y1);
                    inner_product_forward_naive(rows, k, m, &x, &w, bias, transpose, &mut y2);
                    assert_eq!(y1, y2);
                    let dy = rng.ints(rows * m);
                    let dw0 = rng.ints(k * m);
                    let db0 = rng.ints(m);
                    let (mut dw1, mut dw2) = (dw0.clone(), dw0.clone());
                    let (mut db1, mut db2) = (db0.clone(), db0.clone());
                    let mut dx1 = vec![f32::NAN; rows * k];
                    let mut dx2 = vec![f32::NAN; rows * k];
                    inner_product_backward(
                        rows,
                        k,
                        m,
                        &x,
                        &w,
                        &dy,
                        transpose,
                        Some(&mut dw1),
                        Some(&mut db1),
                        Some(&mut dx1),
                    );
                    inner_product_backward_naive(
                        rows,
                        k,
                        m,
                        &x,
                        &w,
                        &dy,
                        transpose,
                        Some(&mut dw2),
                        Some(&mut db2),
                        Some(&mut dx2),
                    );
                    assert_eq!(dw1, dw2);
                    assert_eq!(db1, db2);
                    assert_eq!(dx1, dx2);
                }
            }
        }
    }

    #[test]
    fn inner_product_layout_and_gradients() {
        // X = [[1, 2]], W (m=2, k=2) = [[1, 0], [3, 4]] -> Y = X Wᵀ = [1, 11].
        let x = [1.0, 2.0];
        let w = [1.0, 0.0, 3.0, 4.0];
        let mut y = [0.0; 2];
        inner_product_forward(1, 2, 2, &x, &w, Some(&[0.5, -1.0]), false, &mut y);
        assert_eq!(y, [1.5, 10.0]);
        // Transposed storage (k, m): W = [[1, 3], [0, 4]] is the same matrix.
        let wt = [1.0, 3.0, 0.0, 4.0];
        inner_product_forward(1, 2, 2, &x, &wt, None, true, &mut y);
        assert_eq!(y, [1.0, 11.0]);
        // Finite differences of L = Σ Y ⊙ r on a small random problem.
        let mut rng = Rng(3);
        let (rows, k, m) = (3, 4, 5);
        for transpose in [false, true] {
            let x = rng.floats(rows * k);
            let w = rng.floats(k * m);
            let b = rng.floats(m);
            let r = rng.floats(rows * m);
            let loss = |x: &[f32], w: &[f32], b: &[f32]| {
                let mut y = vec![0.0; rows * m];
                inner_product_forward(rows, k, m, x, w, Some(b), transpose, &mut y);
                dot(&y, &r)
            };
            let (mut dw, mut db, mut dx) = (vec![0.0; k * m], vec![0.0; m], vec![0.0; rows * k]);
            inner_product_backward(
                rows,
                k,
                m,
                &x,
                &w,
                &r,
                transpose,
                Some(&mut dw),
                Some(&mut db),
                Some(&mut dx),
            );
            check_fd("dx", &x, &dx, &mut |v| loss(v, &w, &b));
            check_fd("dw", &w, &dw, &mut |v| loss(&x, v, &b));
            check_fd("db", &b, &db, &mut |v| loss(&x, &w, v));
        }
    }
}
