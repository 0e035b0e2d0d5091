//! Softmax forward and backward along the channel axis of an `(outer, channels, inner)` array.
//!
//! Element `(o, c, i)` lives at `(o·channels + c)·inner + i`; the softmax runs over `c` for every
//! `(o, i)` pair (Caffe: axis 1, per sample and spatial position). Forward:
//! `y = exp(x − max) / Σ exp(x − max)`; backward: `dx = (dy − Σ_c dy_c·y_c)·y`.
//!
//! The optimised kernels vectorise over channels when `inner == 1` (classifier outputs) and over
//! `inner` otherwise, with `wide`'s `f32x8::exp` (a range-reduced degree-7 polynomial, within
//! ~2 ulp of the correctly rounded value for the arguments `≤ 0` used here). Their results match
//! the scalar `_naive` twins (std `exp`, f64 sums) to a relative 1e-6.

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

fn check(len: usize, outer: usize, channels: usize, inner: usize) {
    debug_assert_eq!(len, outer * channels * inner);
}

/// Softmax of one contiguous row (the `inner == 1` case).
fn softmax_row(x: &[f32], y: &mut [f32]) {
    let mut xc = x.chunks_exact(L);
    let mut mv = f32x8::splat(f32::NEG_INFINITY);
    for c in &mut xc {
        mv = mv.max(ld(c));
    }
    let mut m = mv.as_array().iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for &v in xc.remainder() {
        m = m.max(v);
    }
    let (mvec, mut acc) = (f32x8::splat(m), f32x8::splat(0.0));
    let mut yc = y.chunks_exact_mut(L);
    let mut xc = x.chunks_exact(L);
    for (xs, ys) in (&mut xc).zip(&mut yc) {
        let e = (ld(xs) - mvec).exp();
        acc += e;
        st(ys, e);
    }
    let mut sum = acc.as_array().iter().map(|&v| v as f64).sum::<f64>();
    for (a, b) in xc.remainder().iter().zip(yc.into_remainder()) {
        *b = (a - m).exp();
        sum += *b as f64;
    }
    let s = sum as f32;
    let sv = f32x8::splat(s);
    let mut yc = y.chunks_exact_mut(L);
    for ys in &mut yc {
        let v = ld(ys) / sv;
        st(ys, v);
    }
    for b in yc.into_remainder() {
        *b /= s;
    }
}

/// Applies `f(x_row, acc_row)` over `inner` in SIMD chunks plus a scalar tail.
#[inline(always)]
fn zip_inner(
    a: &[f32],
    b: &mut [f32],
    fv: impl Fn(f32x8, f32x8) -> f32x8,
    fs: impl Fn(f32, f32) -> f32,
) {
    let mut ac = a.chunks_exact(L);
    let mut bc = b.chunks_exact_mut(L);
    for (xa, xb) in (&mut ac).zip(&mut bc) {
        let v = fv(ld(xa), ld(xb));
        st(xb, v);
    }
    for (xa, xb) in ac.remainder().iter().zip(bc.into_remainder()) {
        *xb = fs(*xa, *xb);
    }
}

/// Softmax forward (SIMD) over `channels` for every `(outer, inner)` position.
pub fn softmax_forward(x: &[f32], y: &mut [f32], outer: usize, channels: usize, inner: usize) {
    check(x.len(), outer, channels, inner);
    debug_assert_eq!(x.len(), y.len());
    let dim = channels * inner;
    if dim == 0 {
        return;
    }
    if inner == 1 {
        for (xr, yr) in x.chunks_exact(dim).zip(y.chunks_exact_mut(dim)) {
            softmax_row(xr, yr);
        }
        return;
    }
    let mut mx = vec![0.0f32; inner];
    let mut sum = vec![0.0f32; inner];
    for (xo, yo) in x.chunks_exact(dim).zip(y.chunks_exact_mut(dim)) {
        mx.copy_from_slice(&xo[..inner]);
        for xr in xo.chunks_exact(inner).skip(1) {
            zip_inner(xr, &mut mx, |a, m| m.max(a), |a, m| m.max(a));
        }
        sum.fill(0.0);
        for (xr, yr) in xo.chunks_exact(inner).zip(yo.chunks_exact_mut(inner)) {
            yr.copy_from_slice(xr);
            zip_inner(&mx, yr, |m, v| (v - m).exp(), |m, v| (v - m).exp());
            zip_inner(yr, &mut sum, |e, s| s + e, |e, s| s + e);
        }
        for yr in yo.chunks_exact_mut(inner) {
            zip_inner(&sum, yr, |s, v| v / s, |s, v| v / s);
        }
    }
}

/// Scalar twin of [`softmax_forward`] (std `exp`, f64 sums).
pub fn softmax_forward_naive(
    x: &[f32],
    y: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
) {
    check(x.len(), outer, channels, inner);
    for o in 0..outer {
        for i in 0..inner {
            let at = |c: usize| (o * channels + c) * inner + i;
            let m = (0..channels).map(|c| x[at(c)]).fold(f32::NEG_INFINITY, f32::max);
            let mut s = 0.0f64;
            for c in 0..channels {
                y[at(c)] = (x[at(c)] - m).exp();
                s += y[at(c)] as f64;
            }
            for c in 0..channels {
                y[at(c)] /= s as f32;
            }
        }
    }
}

/// Softmax backward (SIMD): `dx = (dy − Σ_c dy_c·y_c)·y` from the forward output `y`.
pub fn softmax_backward(
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
) {
    check(y.len(), outer, channels, inner);
    let dim = channels * inner;
    if dim == 0 {
        return;
    }
    let mut dot = vec![0.0f32; inner];
    for ((yo, go), xo) in
        y.chunks_exact(dim).zip(dy.chunks_exact(dim)).zip(dx.chunks_exact_mut(dim))
    {
        if inner == 1 {
            // One contiguous row: f32 lanes for Σ dy·y (reduced in f64), then dx = (dy − s)·y.
            let mut acc = f32x8::splat(0.0);
            let mut yc = yo.chunks_exact(L);
            let mut gc = go.chunks_exact(L);
            for (a, b) in (&mut yc).zip(&mut gc) {
                acc += ld(a) * ld(b);
            }
            let mut s = acc.as_array().iter().map(|&v| v as f64).sum::<f64>();
            for (a, b) in yc.remainder().iter().zip(gc.remainder()) {
                s += (a * b) as f64;
            }
            let (sv, s) = (f32x8::splat(s as f32), s as f32);
            xo.copy_from_slice(go);
            zip_inner(yo, xo, |y, g| (g - sv) * y, |y, g| (g - s) * y);
            continue;
        }
        // dot[i] = Σ_c y·dy, accumulated channel row by channel row (SIMD along inner).
        dot.fill(0.0);
        for (yr, gr) in yo.chunks_exact(inner).zip(go.chunks_exact(inner)) {
            let mut ac = yr.chunks_exact(L);
            let mut bc = gr.chunks_exact(L);
            let mut dc = dot.chunks_exact_mut(L);
            for ((a, b), d) in (&mut ac).zip(&mut bc).zip(&mut dc) {
                let v = ld(d) + ld(a) * ld(b);
                st(d, v);
            }
            for ((a, b), d) in ac.remainder().iter().zip(bc.remainder()).zip(dc.into_remainder()) {
                *d += a * b;
            }
        }
        for ((yr, gr), xr) in
            yo.chunks_exact(inner).zip(go.chunks_exact(inner)).zip(xo.chunks_exact_mut(inner))
        {
            xr.copy_from_slice(gr);
            zip_inner(&dot, xr, |s, g| g - s, |s, g| g - s);
            zip_inner(yr, xr, |y, v| v * y, |y, v| v * y);
        }
    }
}

/// Scalar twin of [`softmax_backward`] (f64 dot products).
pub fn softmax_backward_naive(
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
) {
    check(y.len(), outer, channels, inner);
    for o in 0..outer {
        for i in 0..inner {
            let at = |c: usize| (o * channels + c) * inner + i;
            let s: f64 = (0..channels).map(|c| dy[at(c)] as f64 * y[at(c)] as f64).sum();
            for c in 0..channels {
                dx[at(c)] = (dy[at(c)] - s as f32) * y[at(c)];
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
        fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
            (0..n).map(|_| self.unif() * scale).collect()
        }
    }

    const SHAPES: [(usize, usize, usize); 9] = [
        (1, 1, 1),
        (2, 7, 1),
        (3, 9, 1),
        (2, 17, 1),
        (4, 1000, 1),
        (2, 3, 7),
        (2, 5, 9),
        (1, 4, 17),
        (3, 21, 13),
    ];

    #[test]
    fn forward_matches_naive_and_sums_to_one() {
        let mut rng = Rng(11);
        for &(o, c, i) in &SHAPES {
            for scale in [1.0, 30.0] {
                let x = rng.vec(o * c * i, scale);
                let (mut y1, mut y2) = (vec![0.0; x.len()], vec![0.0; x.len()]);
                softmax_forward(&x, &mut y1, o, c, i);
                softmax_forward_naive(&x, &mut y2, o, c, i);
                for (a, b) in y1.iter().zip(&y2) {
                    assert!((a - b).abs() <= 1e-6 * b.abs() + 1e-30, "{a} vs {b}");
                }
                for oo in 0..o {
                    for ii in 0..i {
                        let s: f64 = (0..c).map(|cc| y1[(oo * c + cc) * i + ii] as f64).sum();
                        assert!((s - 1.0).abs() < 1e-5, "sum {s}");
                    }
                }
            }
        }
    }

    #[test]
    fn forward_hand_case_and_extremes() {
        let x = [0.0f32, 2.0f32.ln(), 1000.0, 1000.0 + 3.0f32.ln()];
        let mut y = [0.0; 4];
        softmax_forward(&x, &mut y, 2, 2, 1);
        assert!((y[0] - 1.0 / 3.0).abs() < 1e-7 && (y[1] - 2.0 / 3.0).abs() < 1e-7);
        // 1000 + ln 3 is rounded to f32 (ulp 6e-5), hence the looser tolerance.
        assert!((y[2] - 0.25).abs() < 5e-5 && (y[3] - 0.75).abs() < 5e-5);
        assert!((y[2] + y[3] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn backward_matches_naive_and_fd() {
        let mut rng = Rng(12);
        for &(o, c, i) in &SHAPES {
            let n = o * c * i;
            let x = rng.vec(n, 2.0);
            let dy = rng.vec(n, 1.0);
            let mut y = vec![0.0; n];
            softmax_forward_naive(&x, &mut y, o, c, i);
            let (mut d1, mut d2) = (vec![0.0; n], vec![0.0; n]);
            softmax_backward(&y, &dy, &mut d1, o, c, i);
            softmax_backward_naive(&y, &dy, &mut d2, o, c, i);
            for (a, b) in d1.iter().zip(&d2) {
                assert!((a - b).abs() <= 1e-5 * (b.abs() + 1e-3), "{a} vs {b}");
            }
            if n > 200 {
                continue;
            }
            // Central differences of L = Σ dy·softmax(x), computed in f64.
            let loss = |x: &[f32]| -> f64 {
                let mut tot = 0.0;
                for oo in 0..o {
                    for ii in 0..i {
                        let at = |cc: usize| (oo * c + cc) * i + ii;
                        let m = (0..c).map(|cc| x[at(cc)] as f64).fold(f64::MIN, f64::max);
                        let z: f64 = (0..c).map(|cc| (x[at(cc)] as f64 - m).exp()).sum();
                        for cc in 0..c {
                            tot += dy[at(cc)] as f64 * (x[at(cc)] as f64 - m).exp() / z;
                        }
                    }
                }
                tot
            };
            for k in 0..n {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[k] += 1e-2;
                xm[k] -= 1e-2;
                let fd = (loss(&xp) - loss(&xm)) / (xp[k] as f64 - xm[k] as f64);
                assert!((fd - d1[k] as f64).abs() < 1e-4, "fd {fd} vs {}", d1[k]);
            }
        }
    }
}
