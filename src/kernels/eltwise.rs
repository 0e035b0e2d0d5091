//! Element-wise kernels: ReLU, PReLU, Sigmoid, TanH, Power, Dropout, Eltwise SUM/PROD/MAX,
//! channel-broadcast Scale/Bias (forward and backward), and small BLAS-1 helpers.
//!
//! Channel-wise kernels use the `(outer, channels, inner)` layout: element `(o, c, i)` lives at
//! `(o·channels + c)·inner + i` (for NCHW and axis 1: outer = N, inner = H·W).
//!
//! The optimised kernels use `wide::f32x8` with the same per-element operation order as their
//! `_naive` twins, so results are bitwise identical except for the parameter-gradient reductions
//! (PReLU `dslope`, Scale `dgamma`/`dbeta`), which sum in f32 lanes per row and in f64 across rows
//! (the naive twins sum everything in f64). Sigmoid and TanH forward use the standard library's
//! scalar `tanh` (correctly rounded to within 1 ulp on glibc-class libms), as Caffe does
//! (`sigmoid(x) = 0.5·tanh(0.5·x) + 0.5`).

use wide::f32x8;

const L: usize = 8;

#[inline(always)]
fn ld(s: &[f32]) -> f32x8 {
    let a: [f32; L] = s.try_into().expect("8 lanes");
    f32x8::new(a)
}

#[inline(always)]
fn st(d: &mut [f32], v: f32x8) {
    d.copy_from_slice(v.as_array());
}

#[inline(always)]
fn ld_mask(m: &[u8]) -> f32x8 {
    f32x8::new(std::array::from_fn(|j| m[j] as f32))
}

/// `y[i] = f(x[i])`, SIMD body + scalar tail (both closures must compute the same thing).
#[inline(always)]
fn map1(x: &[f32], y: &mut [f32], fv: impl Fn(f32x8) -> f32x8, fs: impl Fn(f32) -> f32) {
    debug_assert_eq!(x.len(), y.len());
    let mut xc = x.chunks_exact(L);
    let mut yc = y.chunks_exact_mut(L);
    for (xs, ys) in (&mut xc).zip(&mut yc) {
        st(ys, fv(ld(xs)));
    }
    for (a, b) in xc.remainder().iter().zip(yc.into_remainder()) {
        *b = fs(*a);
    }
}

/// `y[i] = f(y[i])` in place.
#[inline(always)]
fn map1_inplace(y: &mut [f32], fv: impl Fn(f32x8) -> f32x8, fs: impl Fn(f32) -> f32) {
    let mut yc = y.chunks_exact_mut(L);
    for ys in &mut yc {
        let v = fv(ld(ys));
        st(ys, v);
    }
    for b in yc.into_remainder() {
        *b = fs(*b);
    }
}

/// `out[i] = f(a[i], b[i])`.
#[inline(always)]
fn map2(
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    fv: impl Fn(f32x8, f32x8) -> f32x8,
    fs: impl Fn(f32, f32) -> f32,
) {
    debug_assert_eq!(a.len(), out.len());
    debug_assert_eq!(b.len(), out.len());
    let mut ac = a.chunks_exact(L);
    let mut bc = b.chunks_exact(L);
    let mut oc = out.chunks_exact_mut(L);
    for ((xa, xb), o) in (&mut ac).zip(&mut bc).zip(&mut oc) {
        st(o, fv(ld(xa), ld(xb)));
    }
    for ((xa, xb), o) in ac.remainder().iter().zip(bc.remainder()).zip(oc.into_remainder()) {
        *o = fs(*xa, *xb);
    }
}

/// `io[i] = f(a[i], io[i])` in place.
#[inline(always)]
fn map2_inplace(
    a: &[f32],
    io: &mut [f32],
    fv: impl Fn(f32x8, f32x8) -> f32x8,
    fs: impl Fn(f32, f32) -> f32,
) {
    debug_assert_eq!(a.len(), io.len());
    let mut ac = a.chunks_exact(L);
    let mut oc = io.chunks_exact_mut(L);
    for (xa, o) in (&mut ac).zip(&mut oc) {
        let v = fv(ld(xa), ld(o));
        st(o, v);
    }
    for (xa, o) in ac.remainder().iter().zip(oc.into_remainder()) {
        *o = fs(*xa, *o);
    }
}

/// `Σ a[i]·b[i]·pred(b[i])` with 8 f32 lanes per call, reduced in f64 (`pred` returns 0 or 1).
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32], pv: impl Fn(f32x8) -> f32x8, ps: impl Fn(f32) -> f32) -> f64 {
    let mut acc = f32x8::splat(0.0);
    let mut ac = a.chunks_exact(L);
    let mut bc = b.chunks_exact(L);
    for (xa, xb) in (&mut ac).zip(&mut bc) {
        let vb = ld(xb);
        acc += ld(xa) * vb * pv(vb);
    }
    let tail: f64 =
        ac.remainder().iter().zip(bc.remainder()).map(|(&xa, &xb)| (xa * xb * ps(xb)) as f64).sum();
    acc.as_array().iter().map(|&v| v as f64).sum::<f64>() + tail
}

/// `Σ a[i]` with 8 f32 lanes per call, reduced in f64.
#[inline(always)]
fn sum_lanes(a: &[f32]) -> f64 {
    let mut acc = f32x8::splat(0.0);
    let mut ac = a.chunks_exact(L);
    for xa in &mut ac {
        acc += ld(xa);
    }
    let tail: f64 = ac.remainder().iter().map(|&v| v as f64).sum();
    acc.as_array().iter().map(|&v| v as f64).sum::<f64>() + tail
}

// ---------------------------------------------------------------------------------------------
// ReLU

/// Caffe's `std::max(x, 0)` (`x < 0 ? 0 : x`, so −0 and NaN pass through).
#[inline(always)]
fn cmax0(x: f32) -> f32 {
    if x < 0.0 {
        0.0
    } else {
        x
    }
}

/// Caffe's `std::min(x, 0)` (`0 < x ? 0 : x`).
#[inline(always)]
fn cmin0(x: f32) -> f32 {
    if 0.0 < x {
        0.0
    } else {
        x
    }
}

/// `max(x, 0) + slope·min(x, 0)` on 8 lanes with Caffe's `std::max`/`std::min` semantics.
#[inline(always)]
fn leaky_v(v: f32x8, slope: f32x8) -> f32x8 {
    let z = f32x8::splat(0.0);
    v.simd_lt(z).select(z, v) + slope * v.simd_gt(z).select(z, v)
}

/// ReLU forward: `y = max(x, 0) + slope·min(x, 0)` (Caffe's formula, including its
/// `std::max`/`std::min` treatment of −0 and NaN).
pub fn relu_forward(x: &[f32], y: &mut [f32], slope: f32) {
    let s = f32x8::splat(slope);
    map1(x, y, |v| leaky_v(v, s), |v| cmax0(v) + slope * cmin0(v));
}

/// In-place ReLU forward (same arithmetic as [`relu_forward`]).
pub fn relu_forward_inplace(xy: &mut [f32], slope: f32) {
    let s = f32x8::splat(slope);
    map1_inplace(xy, |v| leaky_v(v, s), |v| cmax0(v) + slope * cmin0(v));
}

/// Scalar twin of [`relu_forward`].
pub fn relu_forward_naive(x: &[f32], y: &mut [f32], slope: f32) {
    for (a, b) in x.iter().zip(y.iter_mut()) {
        *b = cmax0(*a) + slope * cmin0(*a);
    }
}

/// ReLU backward: `dx = dy · (t > 0 ? 1 : slope)` where `t` is the input, or the output when the
/// layer ran in place (same sign for `slope ≥ 0`).
pub fn relu_backward(t: &[f32], dy: &[f32], dx: &mut [f32], slope: f32) {
    let (z, one, s) = (f32x8::splat(0.0), f32x8::splat(1.0), f32x8::splat(slope));
    map2(
        t,
        dy,
        dx,
        |t, d| d * t.simd_gt(z).select(one, s),
        |t, d| d * if t > 0.0 { 1.0 } else { slope },
    );
}

/// In-place ReLU backward: `dxy` holds `dy` on entry and `dx` on exit.
pub fn relu_backward_inplace(t: &[f32], dxy: &mut [f32], slope: f32) {
    let (z, one, s) = (f32x8::splat(0.0), f32x8::splat(1.0), f32x8::splat(slope));
    map2_inplace(
        t,
        dxy,
        |t, d| d * t.simd_gt(z).select(one, s),
        |t, d| d * if t > 0.0 { 1.0 } else { slope },
    );
}

/// Scalar twin of [`relu_backward`].
pub fn relu_backward_naive(t: &[f32], dy: &[f32], dx: &mut [f32], slope: f32) {
    for ((t, d), o) in t.iter().zip(dy).zip(dx.iter_mut()) {
        *o = d * if *t > 0.0 { 1.0 } else { slope };
    }
}

// ---------------------------------------------------------------------------------------------
// PReLU

#[inline]
fn prelu_slope(slope: &[f32], c: usize) -> f32 {
    if slope.len() == 1 {
        slope[0]
    } else {
        slope[c]
    }
}

fn check_oci(len: usize, outer: usize, channels: usize, inner: usize) {
    debug_assert_eq!(len, outer * channels * inner);
}

/// PReLU forward over `(outer, channels, inner)`: `y = max(x,0) + a[c]·min(x,0)`; `slope` has
/// `channels` entries or one (channel_shared). `x` and `y` may not alias (see
/// [`prelu_forward_inplace`]).
pub fn prelu_forward(
    x: &[f32],
    y: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    slope: &[f32],
) {
    check_oci(x.len(), outer, channels, inner);
    if inner == 0 {
        return;
    }
    for (r, (xr, yr)) in x.chunks_exact(inner).zip(y.chunks_exact_mut(inner)).enumerate() {
        relu_forward(xr, yr, prelu_slope(slope, r % channels));
    }
}

/// In-place PReLU forward. The caller must keep a copy of the input for the backward pass (as
/// Caffe does), since a negative slope flips signs.
pub fn prelu_forward_inplace(
    xy: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    s: &[f32],
) {
    check_oci(xy.len(), outer, channels, inner);
    if inner == 0 {
        return;
    }
    for (r, row) in xy.chunks_exact_mut(inner).enumerate() {
        relu_forward_inplace(row, prelu_slope(s, r % channels));
    }
}

/// Scalar twin of [`prelu_forward`].
pub fn prelu_forward_naive(
    x: &[f32],
    y: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    slope: &[f32],
) {
    check_oci(x.len(), outer, channels, inner);
    for i in 0..x.len() {
        let a = prelu_slope(slope, (i / inner) % channels);
        y[i] = cmax0(x[i]) + a * cmin0(x[i]);
    }
}

/// PReLU backward (Caffe): `dx = dy·(x > 0 ? 1 : a[c])` (written only if `dx` is `Some`), and
/// `dslope[c] += Σ dy·x·(x ≤ 0)` over outer and inner (a single entry when channel_shared).
/// `x` is the layer *input*.
#[allow(clippy::too_many_arguments)]
pub fn prelu_backward(
    x: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    outer: usize,
    channels: usize,
    inner: usize,
    slope: &[f32],
    dslope: Option<&mut [f32]>,
) {
    check_oci(x.len(), outer, channels, inner);
    if inner == 0 {
        return;
    }
    if let Some(ds) = dslope {
        let mut acc = vec![0.0f64; ds.len()];
        let z = f32x8::splat(0.0);
        let one = f32x8::splat(1.0);
        for (r, (xr, dr)) in x.chunks_exact(inner).zip(dy.chunks_exact(inner)).enumerate() {
            let k = if ds.len() == 1 { 0 } else { r % channels };
            acc[k] += dot_lanes(dr, xr, |v| v.simd_le(z).select(one, z), |v| f32::from(v <= 0.0));
        }
        for (d, a) in ds.iter_mut().zip(&acc) {
            *d += *a as f32;
        }
    }
    if let Some(dx) = dx {
        for (r, ((xr, dr), o)) in x
            .chunks_exact(inner)
            .zip(dy.chunks_exact(inner))
            .zip(dx.chunks_exact_mut(inner))
            .enumerate()
        {
            relu_backward(xr, dr, o, prelu_slope(slope, r % channels));
        }
    }
}

/// Scalar twin of [`prelu_backward`] (parameter gradient summed in f64).
#[allow(clippy::too_many_arguments)]
pub fn prelu_backward_naive(
    x: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    outer: usize,
    channels: usize,
    inner: usize,
    slope: &[f32],
    dslope: Option<&mut [f32]>,
) {
    check_oci(x.len(), outer, channels, inner);
    if let Some(ds) = dslope {
        let mut acc = vec![0.0f64; ds.len()];
        for i in 0..x.len() {
            let k = if ds.len() == 1 { 0 } else { (i / inner) % channels };
            if x[i] <= 0.0 {
                acc[k] += (dy[i] * x[i]) as f64;
            }
        }
        for (d, a) in ds.iter_mut().zip(&acc) {
            *d += *a as f32;
        }
    }
    if let Some(dx) = dx {
        for i in 0..x.len() {
            let a = prelu_slope(slope, (i / inner) % channels);
            dx[i] = dy[i] * if x[i] > 0.0 { 1.0 } else { a };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sigmoid / TanH

/// Sigmoid forward, Caffe's formula `0.5·tanh(0.5·x) + 0.5` with the scalar std `tanh`.
pub fn sigmoid_forward(x: &[f32], y: &mut [f32]) {
    for (a, b) in x.iter().zip(y.iter_mut()) {
        *b = 0.5 * (0.5 * a).tanh() + 0.5;
    }
}

/// In-place sigmoid forward.
pub fn sigmoid_forward_inplace(xy: &mut [f32]) {
    for v in xy {
        *v = 0.5 * (0.5 * *v).tanh() + 0.5;
    }
}

/// Sigmoid backward from the output: `dx = dy·y·(1 − y)`.
pub fn sigmoid_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    let one = f32x8::splat(1.0);
    map2(y, dy, dx, |y, d| d * y * (one - y), |y, d| d * y * (1.0 - y));
}

/// In-place sigmoid backward (`dxy` holds `dy` on entry).
pub fn sigmoid_backward_inplace(y: &[f32], dxy: &mut [f32]) {
    let one = f32x8::splat(1.0);
    map2_inplace(y, dxy, |y, d| d * y * (one - y), |y, d| d * y * (1.0 - y));
}

/// Scalar twin of [`sigmoid_backward`].
pub fn sigmoid_backward_naive(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    for ((y, d), o) in y.iter().zip(dy).zip(dx.iter_mut()) {
        *o = d * y * (1.0 - y);
    }
}

/// TanH forward with the scalar std `tanh`.
pub fn tanh_forward(x: &[f32], y: &mut [f32]) {
    for (a, b) in x.iter().zip(y.iter_mut()) {
        *b = a.tanh();
    }
}

/// In-place TanH forward.
pub fn tanh_forward_inplace(xy: &mut [f32]) {
    for v in xy {
        *v = v.tanh();
    }
}

/// TanH backward from the output: `dx = dy·(1 − y²)`.
pub fn tanh_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    let one = f32x8::splat(1.0);
    map2(y, dy, dx, |y, d| d * (one - y * y), |y, d| d * (1.0 - y * y));
}

/// In-place TanH backward (`dxy` holds `dy` on entry).
pub fn tanh_backward_inplace(y: &[f32], dxy: &mut [f32]) {
    let one = f32x8::splat(1.0);
    map2_inplace(y, dxy, |y, d| d * (one - y * y), |y, d| d * (1.0 - y * y));
}

/// Scalar twin of [`tanh_backward`].
pub fn tanh_backward_naive(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    for ((y, d), o) in y.iter().zip(dy).zip(dx.iter_mut()) {
        *o = d * (1.0 - y * y);
    }
}

// ---------------------------------------------------------------------------------------------
// Power

/// Parameters of Caffe's Power layer: `y = (shift + scale·x)^power`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PowerParams {
    /// Exponent.
    pub power: f32,
    /// Multiplier applied to `x` first.
    pub scale: f32,
    /// Additive shift.
    pub shift: f32,
}

/// Power forward with Caffe's special cases (`power·scale == 0` gives the constant
/// `power == 0 ? 1 : shift^power`; `power == 1` skips the `powf`).
pub fn power_forward(x: &[f32], y: &mut [f32], p: PowerParams) {
    let diff_scale = p.power * p.scale;
    if diff_scale == 0.0 {
        y.fill(if p.power == 0.0 { 1.0 } else { p.shift.powf(p.power) });
        return;
    }
    for (a, b) in x.iter().zip(y.iter_mut()) {
        let mut v = *a;
        if p.scale != 1.0 {
            v *= p.scale;
        }
        if p.shift != 0.0 {
            v += p.shift;
        }
        *b = if p.power != 1.0 { v.powf(p.power) } else { v };
    }
}

/// Power backward exactly as Caffe computes it: `dx = dy·power·scale·(shift+scale·x)^(power−1)`
/// evaluated as `diff_scale·y/(shift + scale·x)` (or `power·y/x` when shift is 0, or the linear
/// form when power is 2); `dx = 0` when `power·scale == 0`.
pub fn power_backward(x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32], p: PowerParams) {
    let ds = p.power * p.scale;
    if ds == 0.0 {
        dx.fill(0.0);
        return;
    }
    for i in 0..dx.len() {
        let g = if p.power == 1.0 {
            ds
        } else if p.power == 2.0 {
            let g = ds * p.scale * x[i];
            if p.shift != 0.0 {
                g + ds * p.shift
            } else {
                g
            }
        } else if p.shift == 0.0 {
            y[i] / x[i] * p.power
        } else {
            let mut b = x[i];
            if p.scale != 1.0 {
                b *= p.scale;
            }
            b += p.shift;
            let g = y[i] / b;
            if ds != 1.0 {
                g * ds
            } else {
                g
            }
        };
        dx[i] = dy[i] * g;
    }
}

// ---------------------------------------------------------------------------------------------
// Dropout

/// Dropout forward (TRAIN) with a precomputed mask of 0/1 bytes: `y = x·m·scale`, `scale = 1/(1−p)`.
pub fn dropout_forward(x: &[f32], mask: &[u8], scale: f32, y: &mut [f32]) {
    debug_assert_eq!(x.len(), mask.len());
    debug_assert_eq!(x.len(), y.len());
    let s = f32x8::splat(scale);
    let mut xc = x.chunks_exact(L);
    let mut mc = mask.chunks_exact(L);
    let mut yc = y.chunks_exact_mut(L);
    for ((xs, ms), ys) in (&mut xc).zip(&mut mc).zip(&mut yc) {
        st(ys, ld(xs) * ld_mask(ms) * s);
    }
    for ((a, m), b) in xc.remainder().iter().zip(mc.remainder()).zip(yc.into_remainder()) {
        *b = a * *m as f32 * scale;
    }
}

/// In-place dropout forward (also serves as the in-place backward: `dx = dy·m·scale`).
pub fn dropout_inplace(xy: &mut [f32], mask: &[u8], scale: f32) {
    debug_assert_eq!(xy.len(), mask.len());
    let s = f32x8::splat(scale);
    let mut mc = mask.chunks_exact(L);
    let mut yc = xy.chunks_exact_mut(L);
    for (ms, ys) in (&mut mc).zip(&mut yc) {
        let v = ld(ys) * ld_mask(ms) * s;
        st(ys, v);
    }
    for (m, b) in mc.remainder().iter().zip(yc.into_remainder()) {
        *b = *b * *m as f32 * scale;
    }
}

/// Dropout backward (TRAIN): `dx = dy·m·scale` (the same formula as the forward pass).
pub fn dropout_backward(dy: &[f32], mask: &[u8], scale: f32, dx: &mut [f32]) {
    dropout_forward(dy, mask, scale, dx);
}

/// Scalar twin of [`dropout_forward`].
pub fn dropout_forward_naive(x: &[f32], mask: &[u8], scale: f32, y: &mut [f32]) {
    for ((a, m), b) in x.iter().zip(mask).zip(y.iter_mut()) {
        *b = a * *m as f32 * scale;
    }
}

// ---------------------------------------------------------------------------------------------
// Eltwise

/// Eltwise SUM: `y = Σ_i coeff_i·x_i` accumulated in bottom order from 0 (Caffe's `axpy` chain);
/// an empty `coeffs` means all ones.
pub fn eltwise_sum(inputs: &[&[f32]], coeffs: &[f32], y: &mut [f32]) {
    debug_assert!(coeffs.is_empty() || coeffs.len() == inputs.len());
    let coeff = |i: usize| if coeffs.is_empty() { 1.0 } else { coeffs[i] };
    let n = y.len();
    let body = n - n % L;
    for o in (0..body).step_by(L) {
        let mut acc = f32x8::splat(0.0);
        for (i, x) in inputs.iter().enumerate() {
            acc += f32x8::splat(coeff(i)) * ld(&x[o..o + L]);
        }
        st(&mut y[o..o + L], acc);
    }
    for o in body..n {
        let mut acc = 0.0f32;
        for (i, x) in inputs.iter().enumerate() {
            acc += coeff(i) * x[o];
        }
        y[o] = acc;
    }
}

/// Scalar twin of [`eltwise_sum`].
pub fn eltwise_sum_naive(inputs: &[&[f32]], coeffs: &[f32], y: &mut [f32]) {
    y.fill(0.0);
    for (i, x) in inputs.iter().enumerate() {
        let c = if coeffs.is_empty() { 1.0 } else { coeffs[i] };
        for (a, b) in x.iter().zip(y.iter_mut()) {
            *b += c * a;
        }
    }
}

/// Eltwise SUM backward for one bottom: `dx = coeff·dy` (a plain copy when `coeff == 1`).
pub fn eltwise_sum_backward(dy: &[f32], coeff: f32, dx: &mut [f32]) {
    if coeff == 1.0 {
        dx.copy_from_slice(dy);
    } else {
        for (a, b) in dy.iter().zip(dx.iter_mut()) {
            *b = coeff * a;
        }
    }
}

/// Eltwise PROD: `y = ((x_0·x_1)·x_2)·…`.
pub fn eltwise_prod(inputs: &[&[f32]], y: &mut [f32]) {
    debug_assert!(inputs.len() >= 2);
    map2(inputs[0], inputs[1], y, |a, b| a * b, |a, b| a * b);
    for x in &inputs[2..] {
        map2_inplace(x, y, |a, b| b * a, |a, b| b * a);
    }
}

/// Scalar twin of [`eltwise_prod`].
pub fn eltwise_prod_naive(inputs: &[&[f32]], y: &mut [f32]) {
    for (o, v) in y.iter_mut().enumerate() {
        let mut p = inputs[0][o] * inputs[1][o];
        for x in &inputs[2..] {
            p *= x[o];
        }
        *v = p;
    }
}

/// Eltwise PROD backward for bottom `which`: with `stable` (Caffe's default
/// `stable_prod_grad: true`) `dx = (Π_{j≠which} x_j, in bottom order)·dy`; otherwise
/// `dx = (y / x_which)·dy`.
pub fn eltwise_prod_backward(
    inputs: &[&[f32]],
    y: &[f32],
    dy: &[f32],
    which: usize,
    stable: bool,
    dx: &mut [f32],
) {
    if stable {
        let mut first = true;
        for (j, x) in inputs.iter().enumerate() {
            if j == which {
                continue;
            }
            if first {
                dx.copy_from_slice(x);
                first = false;
            } else {
                for (a, b) in x.iter().zip(dx.iter_mut()) {
                    *b *= a;
                }
            }
        }
    } else {
        for ((a, b), o) in y.iter().zip(inputs[which]).zip(dx.iter_mut()) {
            *o = a / b;
        }
    }
    for (d, o) in dy.iter().zip(dx.iter_mut()) {
        *o *= d;
    }
}

/// Eltwise MAX with argmax (bottom index): between `x_0` and `x_1` ties go to 1
/// (`x_0 > x_1 ? 0 : 1`), later bottoms replace only when strictly greater.
pub fn eltwise_max(inputs: &[&[f32]], y: &mut [f32], argmax: &mut [i32]) {
    debug_assert!(inputs.len() >= 2);
    debug_assert_eq!(argmax.len(), y.len());
    let n = y.len();
    let body = n - n % L;
    let (zero, one) = (f32x8::splat(0.0), f32x8::splat(1.0));
    for o in (0..body).step_by(L) {
        let a = ld(&inputs[0][o..o + L]);
        let b = ld(&inputs[1][o..o + L]);
        let m = a.simd_gt(b);
        let mut v = m.select(a, b);
        let mut idx = m.select(zero, one);
        for (k, x) in inputs.iter().enumerate().skip(2) {
            let c = ld(&x[o..o + L]);
            let m = c.simd_gt(v);
            v = m.select(c, v);
            idx = m.select(f32x8::splat(k as f32), idx);
        }
        st(&mut y[o..o + L], v);
        for (d, s) in argmax[o..o + L].iter_mut().zip(idx.as_array()) {
            *d = *s as i32;
        }
    }
    for o in body..n {
        let (v, i) = max_scalar(inputs, o);
        y[o] = v;
        argmax[o] = i;
    }
}

#[inline]
fn max_scalar(inputs: &[&[f32]], o: usize) -> (f32, i32) {
    let (a, b) = (inputs[0][o], inputs[1][o]);
    let (mut v, mut idx) = if a > b { (a, 0) } else { (b, 1) };
    for (k, x) in inputs.iter().enumerate().skip(2) {
        if x[o] > v {
            v = x[o];
            idx = k as i32;
        }
    }
    (v, idx)
}

/// Scalar twin of [`eltwise_max`].
pub fn eltwise_max_naive(inputs: &[&[f32]], y: &mut [f32], argmax: &mut [i32]) {
    for o in 0..y.len() {
        let (v, i) = max_scalar(inputs, o);
        y[o] = v;
        argmax[o] = i;
    }
}

/// Eltwise MAX backward for bottom `which`: `dx = dy` where `argmax == which`, else 0.
pub fn eltwise_max_backward(dy: &[f32], argmax: &[i32], which: usize, dx: &mut [f32]) {
    for ((d, a), o) in dy.iter().zip(argmax).zip(dx.iter_mut()) {
        *o = if *a == which as i32 { *d } else { 0.0 };
    }
}

// ---------------------------------------------------------------------------------------------
// Scale / Bias (channel broadcast)

/// Channel-broadcast Scale/Bias forward over `(outer, channels, inner)`:
/// `y = x·γ[c] + β[c]` (either part optional: `gamma = None` is the Bias layer; the product is
/// rounded before the addition, as Caffe's two-step computation).
pub fn scale_channels_forward(
    x: &[f32],
    y: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
) {
    y.copy_from_slice(x);
    scale_channels_forward_inplace(y, outer, channels, inner, gamma, beta);
}

/// In-place variant of [`scale_channels_forward`].
pub fn scale_channels_forward_inplace(
    xy: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
) {
    check_oci(xy.len(), outer, channels, inner);
    if inner == 0 {
        return;
    }
    for (r, row) in xy.chunks_exact_mut(inner).enumerate() {
        let c = r % channels;
        match (gamma, beta) {
            (Some(g), Some(b)) => {
                let (gs, bs) = (g[c], b[c]);
                let (gv, bv) = (f32x8::splat(gs), f32x8::splat(bs));
                map1_inplace(row, |v| v * gv + bv, |v| v * gs + bs);
            }
            (Some(g), None) => scale_in_place(g[c], row),
            (None, Some(b)) => {
                let (bs, bv) = (b[c], f32x8::splat(b[c]));
                map1_inplace(row, |v| v + bv, |v| v + bs);
            }
            (None, None) => {}
        }
    }
}

/// Scalar twin of [`scale_channels_forward`].
pub fn scale_channels_forward_naive(
    x: &[f32],
    y: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
) {
    check_oci(x.len(), outer, channels, inner);
    for i in 0..x.len() {
        let c = (i / inner) % channels;
        let mut v = x[i];
        if let Some(g) = gamma {
            v *= g[c];
        }
        if let Some(b) = beta {
            v += b[c];
        }
        y[i] = v;
    }
}

/// Channel-wise parameter gradients shared by the Scale backward variants.
fn scale_param_grads(
    x: &[f32],
    dy: &[f32],
    channels: usize,
    inner: usize,
    dgamma: Option<&mut [f32]>,
    dbeta: Option<&mut [f32]>,
) {
    let one = f32x8::splat(1.0);
    if let Some(dg) = dgamma {
        let mut acc = vec![0.0f64; channels];
        for (r, (xr, dr)) in x.chunks_exact(inner).zip(dy.chunks_exact(inner)).enumerate() {
            acc[r % channels] += dot_lanes(dr, xr, |_| one, |_| 1.0);
        }
        for (d, a) in dg.iter_mut().zip(&acc) {
            *d += *a as f32;
        }
    }
    if let Some(db) = dbeta {
        let mut acc = vec![0.0f64; channels];
        for (r, dr) in dy.chunks_exact(inner).enumerate() {
            acc[r % channels] += sum_lanes(dr);
        }
        for (d, a) in db.iter_mut().zip(&acc) {
            *d += *a as f32;
        }
    }
}

/// Scale/Bias backward: `dγ[c] += Σ dy·x`, `dβ[c] += Σ dy` (sums over outer and inner, f32 lanes
/// per row, f64 across rows; accumulated into the given buffers), `dx = dy·γ[c]` (`dx = dy` without
/// γ). `x` is the layer input (Caffe keeps a copy when the layer runs in place).
#[allow(clippy::too_many_arguments)]
pub fn scale_channels_backward(
    x: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    outer: usize,
    channels: usize,
    inner: usize,
    gamma: Option<&[f32]>,
    dgamma: Option<&mut [f32]>,
    dbeta: Option<&mut [f32]>,
) {
    check_oci(dy.len(), outer, channels, inner);
    if inner == 0 {
        return;
    }
    scale_param_grads(x, dy, channels, inner, dgamma, dbeta);
    if let Some(dx) = dx {
        dx.copy_from_slice(dy);
        scale_channels_forward_inplace(dx, outer, channels, inner, gamma, None);
    }
}

/// In-place variant of [`scale_channels_backward`]: `dxy` holds `dy` on entry and `dx` on exit
/// (parameter gradients are taken before it is overwritten).
#[allow(clippy::too_many_arguments)]
pub fn scale_channels_backward_inplace(
    x: &[f32],
    dxy: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    gamma: Option<&[f32]>,
    dgamma: Option<&mut [f32]>,
    dbeta: Option<&mut [f32]>,
) {
    check_oci(dxy.len(), outer, channels, inner);
    if inner == 0 {
        return;
    }
    scale_param_grads(x, dxy, channels, inner, dgamma, dbeta);
    scale_channels_forward_inplace(dxy, outer, channels, inner, gamma, None);
}

/// Scalar twin of [`scale_channels_backward`] (parameter gradients summed in f64).
#[allow(clippy::too_many_arguments)]
pub fn scale_channels_backward_naive(
    x: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    outer: usize,
    channels: usize,
    inner: usize,
    gamma: Option<&[f32]>,
    dgamma: Option<&mut [f32]>,
    dbeta: Option<&mut [f32]>,
) {
    check_oci(dy.len(), outer, channels, inner);
    let mut sg = vec![0.0f64; channels];
    let mut sb = vec![0.0f64; channels];
    for i in 0..dy.len() {
        let c = (i / inner) % channels;
        sg[c] += (dy[i] * x[i]) as f64;
        sb[c] += dy[i] as f64;
    }
    if let Some(dg) = dgamma {
        for (d, a) in dg.iter_mut().zip(&sg) {
            *d += *a as f32;
        }
    }
    if let Some(db) = dbeta {
        for (d, a) in db.iter_mut().zip(&sb) {
            *d += *a as f32;
        }
    }
    if let Some(dx) = dx {
        for i in 0..dy.len() {
            dx[i] = match gamma {
                Some(g) => dy[i] * g[(i / inner) % channels],
                None => dy[i],
            };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// BLAS-1 helpers (plain loops; the compiler vectorises them)

/// `y += a·x`.
pub fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    debug_assert_eq!(x.len(), y.len());
    for (xv, yv) in x.iter().zip(y.iter_mut()) {
        *yv += a * xv;
    }
}

/// `y *= a`.
pub fn scale_in_place(a: f32, y: &mut [f32]) {
    for v in y {
        *v *= a;
    }
}

/// `y += x`.
pub fn add_assign(y: &mut [f32], x: &[f32]) {
    debug_assert_eq!(x.len(), y.len());
    for (yv, xv) in y.iter_mut().zip(x) {
        *yv += xv;
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
        fn int(&mut self, r: i64) -> f32 {
            ((self.next() % (2 * r as u64 + 1)) as i64 - r) as f32
        }
        fn unif(&mut self) -> f32 {
            ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
        fn vec_int(&mut self, n: usize, r: i64) -> Vec<f32> {
            (0..n).map(|_| self.int(r)).collect()
        }
        fn vec(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.unif()).collect()
        }
    }

    const SIZES: [usize; 9] = [0, 1, 7, 8, 9, 16, 17, 31, 1000];

    fn bits_eq(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn relu_simd_matches_naive() {
        let mut rng = Rng(1);
        for &n in &SIZES {
            let mut x = rng.vec(n);
            if n > 3 {
                x[2] = 0.0;
                x[3] = -0.0;
            }
            let dy = rng.vec(n);
            for slope in [0.0, 0.1, -0.5] {
                let (mut y1, mut y2) = (vec![0.0; n], vec![0.0; n]);
                relu_forward(&x, &mut y1, slope);
                relu_forward_naive(&x, &mut y2, slope);
                assert!(bits_eq(&y1, &y2));
                let mut y3 = x.clone();
                relu_forward_inplace(&mut y3, slope);
                assert!(bits_eq(&y1, &y3));
                let (mut d1, mut d2) = (vec![0.0; n], vec![0.0; n]);
                relu_backward(&x, &dy, &mut d1, slope);
                relu_backward_naive(&x, &dy, &mut d2, slope);
                assert!(bits_eq(&d1, &d2));
                let mut d3 = dy.clone();
                relu_backward_inplace(&x, &mut d3, slope);
                assert!(bits_eq(&d1, &d3));
            }
        }
        let mut y = [0.0; 4];
        relu_forward(&[-2.0, 0.0, 3.0, -1.0], &mut y, 0.25);
        assert_eq!(y, [-0.5, 0.0, 3.0, -0.25]);
        // Caffe's std::max/std::min keep the sign of −0 and propagate NaN.
        let mut y = [1.0; 9];
        relu_forward(&[-0.0, f32::NAN, 0.0, -0.0, 1.0, 1.0, 1.0, 1.0, -0.0], &mut y, 0.0);
        assert!(y[0].is_sign_negative() && y[0] == 0.0 && y[8].is_sign_negative());
        assert!(y[1].is_nan() && y[2].is_sign_positive());
        let mut d = [0.0; 4];
        relu_backward(&[-2.0, 0.0, 3.0, -1.0], &[1.0; 4], &mut d, 0.25);
        assert_eq!(d, [0.25, 0.25, 1.0, 0.25]);
    }

    #[test]
    fn prelu_matches_naive_and_fd() {
        let mut rng = Rng(2);
        for &(outer, channels, inner) in &[(1, 1, 1), (2, 3, 7), (3, 5, 17), (2, 4, 9)] {
            let n = outer * channels * inner;
            let x = rng.vec(n);
            let dy = rng.vec(n);
            for shared in [false, true] {
                let slope: Vec<f32> = rng.vec(if shared { 1 } else { channels });
                let (mut y1, mut y2) = (vec![0.0; n], vec![0.0; n]);
                prelu_forward(&x, &mut y1, outer, channels, inner, &slope);
                prelu_forward_naive(&x, &mut y2, outer, channels, inner, &slope);
                assert!(bits_eq(&y1, &y2));
                let mut y3 = x.clone();
                prelu_forward_inplace(&mut y3, outer, channels, inner, &slope);
                assert!(bits_eq(&y1, &y3));
                let (mut d1, mut d2) = (vec![0.0; n], vec![0.0; n]);
                let (mut s1, mut s2) = (vec![0.5; slope.len()], vec![0.5; slope.len()]);
                prelu_backward(
                    &x,
                    &dy,
                    Some(&mut d1),
                    outer,
                    channels,
                    inner,
                    &slope,
                    Some(&mut s1),
                );
                let sl = &slope;
                prelu_backward_naive(
                    &x,
                    &dy,
                    Some(&mut d2),
                    outer,
                    channels,
                    inner,
                    sl,
                    Some(&mut s2),
                );
                assert!(bits_eq(&d1, &d2));
                for (a, b) in s1.iter().zip(&s2) {
                    assert!(close(*a as f64, *b as f64, 1e-6));
                }
                // Finite differences of L = Σ w·y with respect to the slopes.
                let loss = |s: &[f32]| -> f64 {
                    let mut y = vec![0.0; n];
                    prelu_forward_naive(&x, &mut y, outer, channels, inner, s);
                    y.iter().zip(&dy).map(|(&a, &b)| a as f64 * b as f64).sum()
                };
                for k in 0..slope.len() {
                    let (mut sp, mut sm) = (slope.clone(), slope.clone());
                    sp[k] += 1e-2;
                    sm[k] -= 1e-2;
                    let fd = (loss(&sp) - loss(&sm)) / 2e-2;
                    assert!(close(fd, (s1[k] - 0.5) as f64, 1e-3), "fd {fd} vs {}", s1[k] - 0.5);
                }
            }
        }
    }

    #[test]
    fn sigmoid_tanh() {
        let mut rng = Rng(3);
        for &n in &SIZES {
            let x: Vec<f32> = rng.vec(n).iter().map(|v| v * 6.0).collect();
            let dy = rng.vec(n);
            let mut y = vec![0.0; n];
            sigmoid_forward(&x, &mut y);
            for (a, b) in x.iter().zip(&y) {
                let r = 1.0 / (1.0 + (-(*a as f64)).exp());
                assert!((r - *b as f64).abs() < 2e-7);
            }
            let mut y2 = x.clone();
            sigmoid_forward_inplace(&mut y2);
            assert!(bits_eq(&y, &y2));
            let (mut d1, mut d2) = (vec![0.0; n], vec![0.0; n]);
            sigmoid_backward(&y, &dy, &mut d1);
            sigmoid_backward_naive(&y, &dy, &mut d2);
            assert!(bits_eq(&d1, &d2));
            let mut d3 = dy.clone();
            sigmoid_backward_inplace(&y, &mut d3);
            assert!(bits_eq(&d1, &d3));
            // Finite differences of the forward.
            for i in 0..n.min(20) {
                let h = 1e-3f64;
                let f = |v: f64| 1.0 / (1.0 + (-v).exp());
                let fd = (f(x[i] as f64 + h) - f(x[i] as f64 - h)) / (2.0 * h);
                assert!((fd * dy[i] as f64 - d1[i] as f64).abs() < 1e-5);
            }
            tanh_forward(&x, &mut y);
            let mut y2 = x.clone();
            tanh_forward_inplace(&mut y2);
            assert!(bits_eq(&y, &y2));
            tanh_backward(&y, &dy, &mut d1);
            tanh_backward_naive(&y, &dy, &mut d2);
            assert!(bits_eq(&d1, &d2));
            let mut d3 = dy.clone();
            tanh_backward_inplace(&y, &mut d3);
            assert!(bits_eq(&d1, &d3));
            for i in 0..n.min(20) {
                let h = 1e-3f64;
                let fd = ((x[i] as f64 + h).tanh() - (x[i] as f64 - h).tanh()) / (2.0 * h);
                assert!((fd * dy[i] as f64 - d1[i] as f64).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn power_forward_backward() {
        let mut rng = Rng(4);
        let x: Vec<f32> = rng.vec(37).iter().map(|v| v.abs() + 0.5).collect();
        let dy = rng.vec(37);
        let params = [
            PowerParams { power: 2.0, scale: 1.5, shift: 0.5 },
            PowerParams { power: 2.0, scale: 1.0, shift: 0.0 },
            PowerParams { power: -0.75, scale: 0.3, shift: 1.0 },
            PowerParams { power: 0.5, scale: 2.0, shift: 0.0 },
            PowerParams { power: 1.0, scale: 3.0, shift: -1.0 },
            PowerParams { power: 1.7, scale: 1.0, shift: 0.2 },
        ];
        for p in params {
            let mut y = vec![0.0; x.len()];
            power_forward(&x, &mut y, p);
            let f = |v: f64| (p.shift as f64 + p.scale as f64 * v).powf(p.power as f64);
            for (a, b) in x.iter().zip(&y) {
                assert!(close(f(*a as f64), *b as f64, 1e-6));
            }
            let mut dx = vec![0.0; x.len()];
            power_backward(&x, &y, &dy, &mut dx, p);
            for i in 0..x.len() {
                let h = 1e-4;
                let fd = (f(x[i] as f64 + h) - f(x[i] as f64 - h)) / (2.0 * h);
                assert!(close(fd * dy[i] as f64, dx[i] as f64, 1e-4), "{p:?}");
            }
        }
        // Constant cases.
        let mut y = vec![0.0; 3];
        power_forward(&[1.0, 2.0, 3.0], &mut y, PowerParams { power: 0.0, scale: 2.0, shift: 5.0 });
        assert_eq!(y, [1.0; 3]);
        power_forward(&[1.0, 2.0, 3.0], &mut y, PowerParams { power: 2.0, scale: 0.0, shift: 3.0 });
        assert_eq!(y, [9.0; 3]);
        let mut dx = vec![7.0; 3];
        let p = PowerParams { power: 2.0, scale: 0.0, shift: 3.0 };
        power_backward(&[1.0; 3], &y, &[1.0; 3], &mut dx, p);
        assert_eq!(dx, [0.0; 3]);
    }

    #[test]
    fn dropout_matches_naive() {
        let mut rng = Rng(5);
        for &n in &SIZES {
            let x = rng.vec(n);
            let mask: Vec<u8> = (0..n).map(|_| (rng.next() % 2) as u8).collect();
            let scale = 1.0 / (1.0 - 0.5);
            let (mut y1, mut y2) = (vec![0.0; n], vec![0.0; n]);
            dropout_forward(&x, &mask, scale, &mut y1);
            dropout_forward_naive(&x, &mask, scale, &mut y2);
            assert!(bits_eq(&y1, &y2));
            let mut y3 = x.clone();
            dropout_inplace(&mut y3, &mask, scale);
            assert!(bits_eq(&y1, &y3));
            dropout_backward(&x, &mask, scale, &mut y3);
            assert!(bits_eq(&y1, &y3));
            for i in 0..n {
                assert_eq!(y1[i], if mask[i] == 1 { x[i] * 2.0 } else { 0.0 });
            }
        }
    }

    #[test]
    fn eltwise_ops_match_naive() {
        let mut rng = Rng(6);
        for &n in &SIZES {
            for nb in [2usize, 3, 4] {
                let xs: Vec<Vec<f32>> = (0..nb).map(|_| rng.vec_int(n, 2)).collect();
                let refs: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
                let coeffs: Vec<f32> = (0..nb).map(|i| i as f32 - 0.5).collect();
                for c in [&coeffs[..], &[]] {
                    let (mut y1, mut y2) = (vec![0.0; n], vec![0.0; n]);
                    eltwise_sum(&refs, c, &mut y1);
                    eltwise_sum_naive(&refs, c, &mut y2);
                    assert_eq!(y1, y2);
                }
                let (mut y1, mut y2) = (vec![0.0; n], vec![0.0; n]);
                eltwise_prod(&refs, &mut y1);
                eltwise_prod_naive(&refs, &mut y2);
                assert!(bits_eq(&y1, &y2));
                let (mut a1, mut a2) = (vec![0; n], vec![0; n]);
                eltwise_max(&refs, &mut y1, &mut a1);
                eltwise_max_naive(&refs, &mut y2, &mut a2);
                assert!(bits_eq(&y1, &y2));
                assert_eq!(a1, a2);
            }
        }
        // Tie rule: x0 == x1 -> 1; later bottoms need strictly greater.
        let (x0, x1, x2) = ([1.0f32; 9], [1.0f32; 9], [1.0f32; 9]);
        let mut x3 = [0.0f32; 9];
        x3[8] = 2.0;
        let refs: [&[f32]; 4] = [&x0, &x1, &x2, &x3];
        let (mut y, mut a) = ([0.0; 9], [0; 9]);
        eltwise_max(&refs, &mut y, &mut a);
        assert_eq!(a, [1, 1, 1, 1, 1, 1, 1, 1, 3]);
        let mut dx = [9.0; 9];
        eltwise_max_backward(&[5.0; 9], &a, 1, &mut dx);
        assert_eq!(dx, [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 0.0]);
    }

    #[test]
    fn eltwise_backward_fd() {
        let mut rng = Rng(7);
        let n = 19;
        let xs: Vec<Vec<f32>> = (0..3).map(|_| rng.vec(n)).collect();
        let refs: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
        let dy = rng.vec(n);
        let mut y = vec![0.0; n];
        eltwise_prod(&refs, &mut y);
        for which in 0..3 {
            let (mut d1, mut d2) = (vec![0.0; n], vec![0.0; n]);
            eltwise_prod_backward(&refs, &y, &dy, which, true, &mut d1);
            eltwise_prod_backward(&refs, &y, &dy, which, false, &mut d2);
            for i in 0..n {
                let others: f64 = (0..3).filter(|&j| j != which).map(|j| xs[j][i] as f64).product();
                assert!(close(others * dy[i] as f64, d1[i] as f64, 1e-6));
                assert!(close(d1[i] as f64, d2[i] as f64, 1e-4));
            }
        }
        let mut dx = vec![0.0; n];
        eltwise_sum_backward(&dy, -2.0, &mut dx);
        assert!(dx.iter().zip(&dy).all(|(a, b)| *a == -2.0 * b));
        eltwise_sum_backward(&dy, 1.0, &mut dx);
        assert_eq!(dx, dy);
    }

    #[test]
    fn scale_matches_naive_and_fd() {
        let mut rng = Rng(8);
        for &(outer, channels, inner) in &[(1, 1, 1), (2, 3, 7), (3, 5, 17), (2, 2, 33), (1, 4, 0)]
        {
            let n = outer * channels * inner;
            let x = rng.vec(n);
            let dy = rng.vec(n);
            let g = rng.vec(channels);
            let b = rng.vec(channels);
            for (gm, bt) in
                [(Some(&g[..]), Some(&b[..])), (Some(&g[..]), None), (None, Some(&b[..]))]
            {
                let (mut y1, mut y2) = (vec![0.0; n], vec![0.0; n]);
                scale_channels_forward(&x, &mut y1, outer, channels, inner, gm, bt);
                scale_channels_forward_naive(&x, &mut y2, outer, channels, inner, gm, bt);
                assert!(bits_eq(&y1, &y2));
                let (mut d1, mut d2) = (vec![0.0; n], vec![0.0; n]);
                let (mut g1, mut g2) = (vec![1.0; channels], vec![1.0; channels]);
                let (mut b1, mut b2) = (vec![-1.0; channels], vec![-1.0; channels]);
                scale_channels_backward(
                    &x,
                    &dy,
                    Some(&mut d1),
                    outer,
                    channels,
                    inner,
                    gm,
                    Some(&mut g1),
                    Some(&mut b1),
                );
                scale_channels_backward_naive(
                    &x,
                    &dy,
                    Some(&mut d2),
                    outer,
                    channels,
                    inner,
                    gm,
                    Some(&mut g2),
                    Some(&mut b2),
                );
                assert!(bits_eq(&d1, &d2));
                let mut d3 = dy.clone();
                let (mut g3, mut b3) = (vec![1.0; channels], vec![-1.0; channels]);
                let (o, c, i) = (outer, channels, inner);
                scale_channels_backward_inplace(
                    &x,
                    &mut d3,
                    o,
                    c,
                    i,
                    gm,
                    Some(&mut g3),
                    Some(&mut b3),
                );
                assert!(bits_eq(&d1, &d3));
                assert_eq!(g1, g3);
                assert_eq!(b1, b3);
                for k in 0..channels {
                    assert!(close(g1[k] as f64, g2[k] as f64, 1e-6));
                    assert!(close(b1[k] as f64, b2[k] as f64, 1e-6));
                    // dgamma = dL/dgamma for L = Σ dy·y: Σ dy·x over the channel.
                    let mut s = 0.0f64;
                    for oo in 0..outer {
                        for ii in 0..inner {
                            let idx = (oo * channels + k) * inner + ii;
                            s += dy[idx] as f64 * x[idx] as f64;
                        }
                    }
                    assert!(close(s, (g1[k] - 1.0) as f64, 1e-5));
                }
            }
        }
    }

    #[test]
    fn blas1_helpers() {
        let mut y = vec![1.0, 2.0, 3.0];
        axpy(2.0, &[1.0, 1.0, -1.0], &mut y);
        assert_eq!(y, [3.0, 4.0, 1.0]);
        scale_in_place(0.5, &mut y);
        assert_eq!(y, [1.5, 2.0, 0.5]);
        add_assign(&mut y, &[1.0, 1.0, 1.0]);
        assert_eq!(y, [2.5, 3.0, 1.5]);
    }
}
