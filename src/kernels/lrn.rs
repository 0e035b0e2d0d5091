//! Local Response Normalization (Caffe's LRN layer), ACROSS_CHANNELS and WITHIN_CHANNEL, forward
//! and backward.
//!
//! Layout NCHW: `num` images of `channels` planes of `height × width`.
//!
//! - ACROSS_CHANNELS: `scale = k + alpha/n · Σ_{|c'−c| ≤ (n−1)/2} x[c']²`, `y = x·scale^(−β)`;
//!   backward `dx = dy·scale^(−β) − (2αβ/n)·x·Σ_{window} dy·y/scale`. The optimised kernels keep a
//!   running window sum over channels (as Caffe does: add the head channel, subtract the tail) in
//!   a plane-sized accumulator and stream channel by channel, vectorised along the plane; their
//!   `_naive` twins sum every window directly, so the two agree to float rounding (relative
//!   ~1e-6), not bitwise.
//! - WITHIN_CHANNEL: `scale = 1 + alpha·(S/n²)` with `S` the sum of `x²` over the `n × n` window
//!   centred on the pixel (zero padded; Caffe's AVE pooling divisor is `n²` everywhere here since
//!   the window never reaches beyond the padding), `y = x·scale^(−β)`; `k` is ignored. Backward is
//!   the chain rule through Caffe's split/square/pool/power/product sub-layers:
//!   `dx = dy·scale^(−β) − (2αβ/n²)·x·Σ_{window} dy·y/scale`.
//!
//! `scale^(−β)` uses `powf`, except in the optimised kernels for `β = 0.75` (AlexNet, GoogLeNet),
//! where `1/sqrt(scale·sqrt(scale))` is exact to ~2 ulp and several times faster. The naive twins
//! always use `powf`. Both forward kernels store `scale` for the backward pass.

use wide::f32x8;

const L: usize = 8;

/// LRN hyper-parameters as in Caffe's `LRNParameter`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LrnParams {
    /// Window size `n` (odd).
    pub local_size: usize,
    /// Scaling `α` (divided by `n` across channels, by `n²` within a channel).
    pub alpha: f32,
    /// Exponent `β`.
    pub beta: f32,
    /// Additive constant `k` (ACROSS_CHANNELS only).
    pub k: f32,
}

#[inline(always)]
fn ld(s: &[f32]) -> f32x8 {
    let a: [f32; L] = s[..L].try_into().expect("8 lanes");
    f32x8::new(a)
}

#[inline(always)]
fn st(d: &mut [f32], v: f32x8) {
    d[..L].copy_from_slice(v.as_array());
}

/// `s^(−β)`: the β = 0.75 fast path or per-lane `powf`.
#[inline(always)]
fn neg_pow_v(s: f32x8, beta: f32, fast: bool) -> f32x8 {
    if fast {
        f32x8::splat(1.0) / (s * s.sqrt()).sqrt()
    } else {
        f32x8::new(s.to_array().map(|v| v.powf(-beta)))
    }
}

/// Scalar `s^(−β)` with the same fast path as [`neg_pow_v`].
#[inline(always)]
fn neg_pow_s(s: f32, beta: f32, fast: bool) -> f32 {
    if fast {
        1.0 / (s * s.sqrt()).sqrt()
    } else {
        s.powf(-beta)
    }
}

fn check(p: &LrnParams, len: usize, num: usize, channels: usize, plane: usize) {
    debug_assert!(p.local_size % 2 == 1, "LRN local_size must be odd");
    debug_assert_eq!(len, num * channels * plane);
}

// ---------------------------------------------------------------------------------------------
// ACROSS_CHANNELS

/// One channel step of the forward running sum over a whole plane (SIMD along the plane):
/// `acc += head² − tail²`, `scale = k + α/n·acc`, `y = x·scale^(−β)`. `HEAD`/`TAIL` say whether
/// the channel entering/leaving the window exists.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn across_fwd_step<const HEAD: bool, const TAIL: bool>(
    p: &LrnParams,
    fast: bool,
    acc: &mut [f32],
    head: &[f32],
    tail: &[f32],
    x: &[f32],
    scale: &mut [f32],
    y: &mut [f32],
) {
    let a = p.alpha / p.local_size as f32;
    let (kv, av) = (f32x8::splat(p.k), f32x8::splat(a));
    let n = acc.len();
    let body = n - n % L;
    for j in (0..body).step_by(L) {
        let mut s = ld(&acc[j..]);
        if HEAD {
            let h = ld(&head[j..]);
            s = h.mul_add(h, s);
        }
        if TAIL {
            let t = ld(&tail[j..]);
            s = t.mul_neg_add(t, s);
        }
        st(&mut acc[j..], s);
        let sc = av.mul_add(s, kv);
        st(&mut scale[j..], sc);
        st(&mut y[j..], ld(&x[j..]) * neg_pow_v(sc, p.beta, fast));
    }
    for j in body..n {
        let mut s = acc[j];
        if HEAD {
            s = head[j].mul_add(head[j], s);
        }
        if TAIL {
            s = (-tail[j]).mul_add(tail[j], s);
        }
        acc[j] = s;
        scale[j] = a.mul_add(s, p.k);
        y[j] = x[j] * neg_pow_s(scale[j], p.beta, fast);
    }
}

/// ACROSS_CHANNELS forward (SIMD along the plane, running channel sum as Caffe, β = 0.75 fast
/// path). Writes `y` and the `scale` buffer (same shape) needed by [`lrn_across_backward`].
pub fn lrn_across_forward(
    p: &LrnParams,
    num: usize,
    channels: usize,
    plane: usize,
    x: &[f32],
    y: &mut [f32],
    scale: &mut [f32],
) {
    check(p, x.len(), num, channels, plane);
    debug_assert!(y.len() == x.len() && scale.len() == x.len());
    let fast = p.beta == 0.75;
    let half = (p.local_size - 1) / 2;
    let img = channels * plane;
    if img == 0 {
        return;
    }
    let mut acc = vec![0.0f32; plane];
    for ((xi, yi), si) in
        x.chunks_exact(img).zip(y.chunks_exact_mut(img)).zip(scale.chunks_exact_mut(img))
    {
        let xc = |c: usize| &xi[c * plane..(c + 1) * plane];
        acc.fill(0.0);
        for c in 0..half.min(channels) {
            for (a, v) in acc.iter_mut().zip(xc(c)) {
                *a = v.mul_add(*v, *a);
            }
        }
        for c in 0..channels {
            let (yc, sc) =
                (&mut yi[c * plane..(c + 1) * plane], &mut si[c * plane..(c + 1) * plane]);
            let head = if c + half < channels { xc(c + half) } else { &[] };
            let tail = if c > half { xc(c - half - 1) } else { &[] };
            match (!head.is_empty(), !tail.is_empty()) {
                (true, true) => {
                    across_fwd_step::<true, true>(p, fast, &mut acc, head, tail, xc(c), sc, yc)
                }
                (true, false) => {
                    across_fwd_step::<true, false>(p, fast, &mut acc, head, tail, xc(c), sc, yc)
                }
                (false, true) => {
                    across_fwd_step::<false, true>(p, fast, &mut acc, head, tail, xc(c), sc, yc)
                }
                (false, false) => {
                    across_fwd_step::<false, false>(p, fast, &mut acc, head, tail, xc(c), sc, yc)
                }
            }
        }
    }
}

/// Scalar twin of [`lrn_across_forward`]: every window summed directly, `powf` always.
pub fn lrn_across_forward_naive(
    p: &LrnParams,
    num: usize,
    channels: usize,
    plane: usize,
    x: &[f32],
    y: &mut [f32],
    scale: &mut [f32],
) {
    check(p, x.len(), num, channels, plane);
    let half = (p.local_size - 1) / 2;
    let a = p.alpha / p.local_size as f32;
    for n in 0..num {
        for c in 0..channels {
            for t in 0..plane {
                let at = |cc: usize| (n * channels + cc) * plane + t;
                let mut s = p.k;
                for cc in c.saturating_sub(half)..(c + half + 1).min(channels) {
                    s += a * x[at(cc)] * x[at(cc)];
                }
                scale[at(c)] = s;
                y[at(c)] = x[at(c)] * s.powf(-p.beta);
            }
        }
    }
}

/// One channel step of the backward running sum over a whole plane (SIMD along the plane):
/// `acc += ratio(head) − ring_slot` (`ratio = dy·y/scale` of the entering channel, stored into the
/// ring slot that held the leaving channel's), `dx = dy·scale^(−β) − (2αβ/n)·(acc·x)`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn across_bwd_step<const HEAD: bool, const TAIL: bool>(
    p: &LrnParams,
    fast: bool,
    acc: &mut [f32],
    slot: &mut [f32],
    head: (&[f32], &[f32], &[f32]),
    cur: (&[f32], &[f32], &[f32]),
    dx: &mut [f32],
) {
    let (hdy, hy, hs) = head;
    let (x, dy, scale) = cur;
    let cr = 2.0 * p.alpha * p.beta / p.local_size as f32;
    let crv = f32x8::splat(cr);
    let n = acc.len();
    let body = n - n % L;
    for j in (0..body).step_by(L) {
        let mut a = ld(&acc[j..]);
        if HEAD {
            let r = ld(&hdy[j..]) * ld(&hy[j..]) / ld(&hs[j..]);
            a += r;
            if TAIL {
                a -= ld(&slot[j..]);
            }
            st(&mut slot[j..], r);
        } else if TAIL {
            a -= ld(&slot[j..]);
        }
        st(&mut acc[j..], a);
        let g = ld(&dy[j..]) * neg_pow_v(ld(&scale[j..]), p.beta, fast);
        st(&mut dx[j..], g - crv * (a * ld(&x[j..])));
    }
    for j in body..n {
        let mut a = acc[j];
        if HEAD {
            let r = hdy[j] * hy[j] / hs[j];
            a += r;
            if TAIL {
                a -= slot[j];
            }
            slot[j] = r;
        } else if TAIL {
            a -= slot[j];
        }
        acc[j] = a;
        dx[j] = dy[j] * neg_pow_s(scale[j], p.beta, fast) - cr * (a * x[j]);
    }
}

/// ACROSS_CHANNELS backward (SIMD along the plane, running window sum of `dy·y/scale` as Caffe):
/// `dx = dy·scale^(−β) − (2αβ/n)·x·Σ_{window} dy·y/scale` (overwrites `dx`).
#[allow(clippy::too_many_arguments)]
pub fn lrn_across_backward(
    p: &LrnParams,
    num: usize,
    channels: usize,
    plane: usize,
    x: &[f32],
    y: &[f32],
    scale: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) {
    check(p, x.len(), num, channels, plane);
    let fast = p.beta == 0.75;
    let n = p.local_size;
    let half = (n - 1) / 2;
    let img = channels * plane;
    if img == 0 {
        return;
    }
    // Ratios of the last n channels, channel c in slot c % n (the leaving channel's slot is the
    // entering channel's).
    let mut ring = vec![0.0f32; n * plane];
    let mut acc = vec![0.0f32; plane];
    for i in 0..num {
        let at = |c: usize| (i * channels + c) * plane..(i * channels + c + 1) * plane;
        acc.fill(0.0);
        for c in 0..half.min(channels) {
            let slot = &mut ring[(c % n) * plane..(c % n + 1) * plane];
            let (g, yv, s) = (&dy[at(c)], &y[at(c)], &scale[at(c)]);
            for j in 0..plane {
                slot[j] = g[j] * yv[j] / s[j];
                acc[j] += slot[j];
            }
        }
        for c in 0..channels {
            let hc = c + half;
            let slot = &mut ring[(hc % n) * plane..(hc % n + 1) * plane];
            let head = if hc < channels {
                (&dy[at(hc)], &y[at(hc)], &scale[at(hc)])
            } else {
                (&[][..], &[][..], &[][..])
            };
            let cur = (&x[at(c)], &dy[at(c)], &scale[at(c)]);
            let dxc = &mut dx[at(c)];
            match (hc < channels, c > half) {
                (true, true) => {
                    across_bwd_step::<true, true>(p, fast, &mut acc, slot, head, cur, dxc)
                }
                (true, false) => {
                    across_bwd_step::<true, false>(p, fast, &mut acc, slot, head, cur, dxc)
                }
                (false, true) => {
                    across_bwd_step::<false, true>(p, fast, &mut acc, slot, head, cur, dxc)
                }
                (false, false) => {
                    across_bwd_step::<false, false>(p, fast, &mut acc, slot, head, cur, dxc)
                }
            }
        }
    }
}

/// Scalar twin of [`lrn_across_backward`] (direct window sums, `powf`).
#[allow(clippy::too_many_arguments)]
pub fn lrn_across_backward_naive(
    p: &LrnParams,
    num: usize,
    channels: usize,
    plane: usize,
    x: &[f32],
    y: &[f32],
    scale: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) {
    check(p, x.len(), num, channels, plane);
    let half = (p.local_size - 1) / 2;
    let cr = 2.0 * p.alpha * p.beta / p.local_size as f32;
    for n in 0..num {
        for c in 0..channels {
            for t in 0..plane {
                let at = |cc: usize| (n * channels + cc) * plane + t;
                let mut acc = 0.0f32;
                for cc in c.saturating_sub(half)..(c + half + 1).min(channels) {
                    acc += dy[at(cc)] * y[at(cc)] / scale[at(cc)];
                }
                let i = at(c);
                dx[i] = dy[i] * scale[i].powf(-p.beta) - cr * (acc * x[i]);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// WITHIN_CHANNEL

/// Zero-padded `n × n` box sum of one plane (separable: horizontal over a padded row, then
/// vertical; both vectorised). `row` is scratch of `width + n − 1`, `tmp` of `height · width`.
fn box_sum(
    src: &[f32],
    dst: &mut [f32],
    h: usize,
    w: usize,
    n: usize,
    row: &mut [f32],
    tmp: &mut [f32],
) {
    let half = (n - 1) / 2;
    // Horizontal: tmp[r][j] = Σ_{d<n} padded[r][j + d].
    for r in 0..h {
        row[half..half + w].copy_from_slice(&src[r * w..(r + 1) * w]);
        let out = &mut tmp[r * w..(r + 1) * w];
        let mut j = 0;
        while j + L <= w {
            let mut s = ld(&row[j..]);
            for d in 1..n {
                s += ld(&row[j + d..]);
            }
            st(&mut out[j..], s);
            j += L;
        }
        for (j, o) in out.iter_mut().enumerate().skip(j) {
            *o = row[j..j + n].iter().sum();
        }
    }
    // Vertical: dst[r] = Σ rows r−half ..= r+half (clipped) of tmp.
    for r in 0..h {
        let (lo, hi) = (r.saturating_sub(half), (r + half + 1).min(h));
        let out = &mut dst[r * w..(r + 1) * w];
        out.copy_from_slice(&tmp[lo * w..(lo + 1) * w]);
        for rr in lo + 1..hi {
            let src_row = &tmp[rr * w..(rr + 1) * w];
            let mut oc = out.chunks_exact_mut(L);
            let mut sc = src_row.chunks_exact(L);
            for (o, s) in (&mut oc).zip(&mut sc) {
                let v = ld(o) + ld(s);
                st(o, v);
            }
            for (o, s) in oc.into_remainder().iter_mut().zip(sc.remainder()) {
                *o += s;
            }
        }
    }
}

/// Direct zero-padded `n × n` window sum at `(r, j)` in row-major order (Caffe's AVE pooling loop).
#[inline]
fn window_sum(src: &[f32], h: usize, w: usize, n: usize, r: usize, j: usize) -> f32 {
    let half = (n - 1) / 2;
    let mut s = 0.0f32;
    for rr in r.saturating_sub(half)..(r + half + 1).min(h) {
        for jj in j.saturating_sub(half)..(j + half + 1).min(w) {
            s += src[rr * w + jj];
        }
    }
    s
}

/// WITHIN_CHANNEL forward (separable SIMD box sum, β = 0.75 fast path): `scale = 1 + α·(S/n²)`,
/// `y = x·scale^(−β)`; writes `y` and `scale`.
#[allow(clippy::too_many_arguments)]
pub fn lrn_within_forward(
    p: &LrnParams,
    num: usize,
    channels: usize,
    height: usize,
    width: usize,
    x: &[f32],
    y: &mut [f32],
    scale: &mut [f32],
) {
    let plane = height * width;
    check(p, x.len(), num, channels, plane);
    if plane == 0 {
        return;
    }
    let fast = p.beta == 0.75;
    let n = p.local_size;
    let nn = (n * n) as f32;
    let mut sq = vec![0.0f32; plane];
    let mut tmp = vec![0.0f32; plane];
    let mut row = vec![0.0f32; width + n - 1];
    for ((xp, yp), sp) in
        x.chunks_exact(plane).zip(y.chunks_exact_mut(plane)).zip(scale.chunks_exact_mut(plane))
    {
        for (q, &v) in sq.iter_mut().zip(xp) {
            *q = v * v;
        }
        box_sum(&sq, sp, height, width, n, &mut row, &mut tmp);
        let (nv, av, one) = (f32x8::splat(nn), f32x8::splat(p.alpha), f32x8::splat(1.0));
        let mut sc = sp.chunks_exact_mut(L);
        let mut xc = xp.chunks_exact(L);
        let mut yc = yp.chunks_exact_mut(L);
        for ((s, xs), ys) in (&mut sc).zip(&mut xc).zip(&mut yc) {
            let v = ld(s) / nv * av + one;
            st(s, v);
            st(ys, ld(xs) * neg_pow_v(v, p.beta, fast));
        }
        let rest = sc.into_remainder().iter_mut().zip(xc.remainder()).zip(yc.into_remainder());
        for ((s, xs), ys) in rest {
            *s = *s / nn * p.alpha + 1.0;
            *ys = xs * neg_pow_s(*s, p.beta, fast);
        }
    }
}

/// Scalar twin of [`lrn_within_forward`] (direct window sums in Caffe's order, `powf`).
#[allow(clippy::too_many_arguments)]
pub fn lrn_within_forward_naive(
    p: &LrnParams,
    num: usize,
    channels: usize,
    height: usize,
    width: usize,
    x: &[f32],
    y: &mut [f32],
    scale: &mut [f32],
) {
    let plane = height * width;
    check(p, x.len(), num, channels, plane);
    if plane == 0 {
        return;
    }
    let nn = (p.local_size * p.local_size) as f32;
    for ((xp, yp), sp) in
        x.chunks_exact(plane).zip(y.chunks_exact_mut(plane)).zip(scale.chunks_exact_mut(plane))
    {
        let sq: Vec<f32> = xp.iter().map(|v| v * v).collect();
        for r in 0..height {
            for j in 0..width {
                let i = r * width + j;
                let s = window_sum(&sq, height, width, p.local_size, r, j) / nn * p.alpha + 1.0;
                sp[i] = s;
                yp[i] = xp[i] * s.powf(-p.beta);
            }
        }
    }
}

/// WITHIN_CHANNEL backward (SIMD box sum): `dx = dy·scale^(−β) − (2αβ/n²)·x·Σ_{window} dy·y/scale`
/// (overwrites `dx`).
#[allow(clippy::too_many_arguments)]
pub fn lrn_within_backward(
    p: &LrnParams,
    num: usize,
    channels: usize,
    height: usize,
    width: usize,
    x: &[f32],
    y: &[f32],
    scale: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) {
    let plane = height * width;
    check(p, x.len(), num, channels, plane);
    if plane == 0 {
        return;
    }
    let fast = p.beta == 0.75;
    let n = p.local_size;
    let cr = 2.0 * p.alpha * p.beta / (n * n) as f32;
    let mut ratio = vec![0.0f32; plane];
    let mut acc = vec![0.0f32; plane];
    let mut tmp = vec![0.0f32; plane];
    let mut row = vec![0.0f32; width + n - 1];
    for i in 0..num * channels {
        let r = i * plane..(i + 1) * plane;
        let (xp, yp, sp, gp) = (&x[r.clone()], &y[r.clone()], &scale[r.clone()], &dy[r.clone()]);
        for (((q, g), yv), s) in ratio.iter_mut().zip(gp).zip(yp).zip(sp) {
            *q = g * yv / s;
        }
        box_sum(&ratio, &mut acc, height, width, n, &mut row, &mut tmp);
        let dxp = &mut dx[r];
        let crv = f32x8::splat(cr);
        let mut j = 0;
        while j + L <= plane {
            let g = ld(&gp[j..]) * neg_pow_v(ld(&sp[j..]), p.beta, fast);
            st(&mut dxp[j..], g - crv * (ld(&acc[j..]) * ld(&xp[j..])));
            j += L;
        }
        for j in j..plane {
            dxp[j] = gp[j] * neg_pow_s(sp[j], p.beta, fast) - cr * (acc[j] * xp[j]);
        }
    }
}

/// Scalar twin of [`lrn_within_backward`] (direct window sums, `powf`).
#[allow(clippy::too_many_arguments)]
pub fn lrn_within_backward_naive(
    p: &LrnParams,
    num: usize,
    channels: usize,
    height: usize,
    width: usize,
    x: &[f32],
    y: &[f32],
    scale: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) {
    let plane = height * width;
    check(p, x.len(), num, channels, plane);
    if plane == 0 {
        return;
    }
    let n = p.local_size;
    let cr = 2.0 * p.alpha * p.beta / (n * n) as f32;
    for i in 0..num * channels {
        let o = i * plane;
        let ratio: Vec<f32> = (0..plane).map(|j| dy[o + j] * y[o + j] / scale[o + j]).collect();
        for r in 0..height {
            for c in 0..width {
                let j = o + r * width + c;
                let acc = window_sum(&ratio, height, width, n, r, c);
                dx[j] = dy[j] * scale[j].powf(-p.beta) - cr * (acc * x[j]);
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
        fn unif(&mut self) -> f32 {
            ((self.next() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
        fn vec(&mut self, n: usize, s: f32) -> Vec<f32> {
            (0..n).map(|_| self.unif() * s).collect()
        }
    }

    fn rel_close(a: &[f32], b: &[f32], tol: f32) {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "i={i}: {x} vs {y}");
        }
    }

    fn params() -> Vec<LrnParams> {
        vec![
            LrnParams { local_size: 5, alpha: 1e-4, beta: 0.75, k: 1.0 },
            LrnParams { local_size: 5, alpha: 0.5, beta: 0.75, k: 2.0 },
            LrnParams { local_size: 3, alpha: 0.9, beta: 0.6, k: 1.5 },
            LrnParams { local_size: 1, alpha: 0.3, beta: 1.0, k: 1.0 },
            LrnParams { local_size: 7, alpha: 2.0, beta: 0.75, k: 0.5 },
        ]
    }

    /// (num, channels, height, width) incl. odd planes, channels < n, planes of 1, 7, 9, 17.
    const SHAPES: [(usize, usize, usize, usize); 7] = [
        (1, 1, 1, 1),
        (2, 3, 1, 7),
        (1, 7, 3, 3),
        (2, 9, 1, 17),
        (1, 2, 5, 5),
        (1, 12, 7, 9),
        (1, 5, 4, 4),
    ];

    #[test]
    fn fast_pow_matches_powf() {
        let mut s = 1e-3f32;
        while s < 1e6 {
            let f = neg_pow_s(s, 0.75, true);
            let g = s.powf(-0.75);
            assert!((f - g).abs() <= 3e-7 * g, "{s}: {f} vs {g}");
            let v = neg_pow_v(f32x8::splat(s), 0.75, true).to_array()[3];
            assert_eq!(v, f);
            s *= 1.37;
        }
    }

    #[test]
    fn across_matches_naive() {
        let mut rng = Rng(41);
        for p in params() {
            for &(n, c, h, w) in &SHAPES {
                let plane = h * w;
                let len = n * c * plane;
                let x = rng.vec(len, 3.0);
                let dy = rng.vec(len, 1.0);
                let (mut y1, mut s1) = (vec![0.0; len], vec![0.0; len]);
                let (mut y2, mut s2) = (vec![0.0; len], vec![0.0; len]);
                lrn_across_forward(&p, n, c, plane, &x, &mut y1, &mut s1);
                lrn_across_forward_naive(&p, n, c, plane, &x, &mut y2, &mut s2);
                rel_close(&s1, &s2, 2e-6);
                rel_close(&y1, &y2, 2e-6);
                let (mut d1, mut d2) = (vec![0.0; len], vec![0.0; len]);
                lrn_across_backward(&p, n, c, plane, &x, &y2, &s2, &dy, &mut d1);
                lrn_across_backward_naive(&p, n, c, plane, &x, &y2, &s2, &dy, &mut d2);
                rel_close(&d1, &d2, 2e-6);
            }
        }
    }

    #[test]
    fn across_hand_case() {
        // 3 channels, 1 pixel, n = 3, alpha = 3 (alpha/n = 1), beta = 1, k = 1.
        let p = LrnParams { local_size: 3, alpha: 3.0, beta: 1.0, k: 1.0 };
        let x = [1.0, 2.0, 3.0];
        let (mut y, mut s) = ([0.0; 3], [0.0; 3]);
        lrn_across_forward(&p, 1, 3, 1, &x, &mut y, &mut s);
        assert_eq!(s, [6.0, 15.0, 14.0]);
        // y = x·powf(scale, −1), so allow one rounding of the reciprocal.
        rel_close(&y, &[1.0 / 6.0, 2.0 / 15.0, 3.0 / 14.0], 2e-7);
    }

    #[test]
    fn within_matches_naive() {
        let mut rng = Rng(42);
        for p in params() {
            for &(n, c, h, w) in &SHAPES {
                let len = n * c * h * w;
                let x = rng.vec(len, 3.0);
                let dy = rng.vec(len, 1.0);
                let (mut y1, mut s1) = (vec![0.0; len], vec![0.0; len]);
                let (mut y2, mut s2) = (vec![0.0; len], vec![0.0; len]);
                lrn_within_forward(&p, n, c, h, w, &x, &mut y1, &mut s1);
                lrn_within_forward_naive(&p, n, c, h, w, &x, &mut y2, &mut s2);
                rel_close(&s1, &s2, 2e-6);
                rel_close(&y1, &y2, 2e-6);
                let (mut d1, mut d2) = (vec![0.0; len], vec![0.0; len]);
                lrn_within_backward(&p, n, c, h, w, &x, &y2, &s2, &dy, &mut d1);
                lrn_within_backward_naive(&p, n, c, h, w, &x, &y2, &s2, &dy, &mut d2);
                rel_close(&d1, &d2, 2e-6);
            }
        }
    }

    #[test]
    fn within_hand_case() {
        // 3x3 plane of ones, n = 3, alpha = 9, beta = 1: S = number of real neighbours
        // (4 corner, 6 edge, 9 centre), scale = 1 + 9·S/9 = 1 + S; k must be ignored.
        let p = LrnParams { local_size: 3, alpha: 9.0, beta: 1.0, k: 100.0 };
        let x = [1.0; 9];
        let (mut y, mut s) = ([0.0; 9], [0.0; 9]);
        lrn_within_forward(&p, 1, 1, 3, 3, &x, &mut y, &mut s);
        assert_eq!(s, [5.0, 7.0, 5.0, 7.0, 10.0, 7.0, 5.0, 7.0, 5.0]);
        let e = 1.0 / 7.0;
        rel_close(&y, &[0.2, e, 0.2, e, 0.1, e, 0.2, e, 0.2], 2e-7);
    }

    fn fd_check(p: &LrnParams, across: bool, (n, c, h, w): (usize, usize, usize, usize)) {
        let mut rng = Rng(43 + c as u64);
        let len = n * c * h * w;
        let x = rng.vec(len, 2.0);
        let g = rng.vec(len, 1.0);
        let fwd = |x: &[f32]| -> Vec<f32> {
            let (mut y, mut s) = (vec![0.0; len], vec![0.0; len]);
            if across {
                lrn_across_forward_naive(p, n, c, h * w, x, &mut y, &mut s);
            } else {
                lrn_within_forward_naive(p, n, c, h, w, x, &mut y, &mut s);
            }
            y
        };
        let (mut y, mut s) = (vec![0.0; len], vec![0.0; len]);
        let mut dx = vec![0.0; len];
        if across {
            lrn_across_forward(p, n, c, h * w, &x, &mut y, &mut s);
            lrn_across_backward(p, n, c, h * w, &x, &y, &s, &g, &mut dx);
        } else {
            lrn_within_forward(p, n, c, h, w, &x, &mut y, &mut s);
            lrn_within_backward(p, n, c, h, w, &x, &y, &s, &g, &mut dx);
        }
        let loss =
            |x: &[f32]| -> f64 { fwd(x).iter().zip(&g).map(|(&a, &b)| a as f64 * b as f64).sum() };
        for i in 0..len {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += 1e-2;
            xm[i] -= 1e-2;
            let fd = (loss(&xp) - loss(&xm)) / (xp[i] as f64 - xm[i] as f64);
            assert!((fd - dx[i] as f64).abs() < 2e-3 * (1.0 + fd.abs()), "{i}: {fd} vs {}", dx[i]);
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let p1 = LrnParams { local_size: 5, alpha: 0.8, beta: 0.75, k: 2.0 };
        let p2 = LrnParams { local_size: 3, alpha: 1.5, beta: 0.6, k: 1.0 };
        for shape in [(1, 7, 2, 9), (2, 3, 3, 3), (1, 9, 1, 17)] {
            fd_check(&p1, true, shape);
            fd_check(&p2, true, shape);
            fd_check(&p1, false, shape);
            fd_check(&p2, false, shape);
        }
    }
}
