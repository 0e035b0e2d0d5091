//! BatchNorm kernels (Caffe semantics, no affine part): batch-statistics and global-statistics
//! forward/backward, Caffe's running-statistics blob update and the global-stats read-out.
//!
//! Layout `(outer, channels, inner)`: element `(o, c, i)` at `(o·channels + c)·inner + i` (for a
//! BatchNorm bottom of shape (N, C, ...): outer = N, inner = spatial count).
//!
//! Normalisation is computed as Caffe does in f32: `y = (x − mean[c]) / sqrt(var[c] + eps)` with
//! the subtraction, `var + eps`, the square root and the division each rounded to f32. Batch
//! statistics are computed more accurately than Caffe's f32 BLAS: two passes, f64 accumulation
//! (biased variance `E[(x − mean)²]`), rounded to f32 once. The optimised kernels use `wide` SIMD;
//! their `_naive` twins are bitwise identical for the element-wise parts and agree to f64 rounding
//! for the reductions.

use crate::kernels::stats;
use wide::{f32x8, f64x4};

const L: usize = 8;

fn check(len: usize, outer: usize, channels: usize, inner: usize) {
    debug_assert_eq!(len, outer * channels * inner);
}

#[inline(always)]
fn ld(s: &[f32]) -> f32x8 {
    let a: [f32; L] = s.try_into().expect("8 lanes");
    f32x8::new(a)
}

/// In-place `x ← (x − m) / s` over one row (SIMD, same rounding as the scalar tail).
#[inline(always)]
fn normalize_row(row: &mut [f32], m: f32, s: f32) {
    let (mv, sv) = (f32x8::splat(m), f32x8::splat(s));
    let mut chunks = row.chunks_exact_mut(L);
    for c in &mut chunks {
        let v = (ld(c) - mv) / sv;
        c.copy_from_slice(v.as_array());
    }
    for v in chunks.into_remainder() {
        *v = (*v - m) / s;
    }
}

/// Computes the per-channel batch mean and biased variance (`E[(x − mean)²]`) over outer and
/// inner, in f64 with two passes (SIMD), rounded to f32. Channels with no elements get 0.
pub fn batch_norm_stats(
    x: &[f32],
    outer: usize,
    channels: usize,
    inner: usize,
    mean: &mut [f32],
    var: &mut [f32],
) {
    check(x.len(), outer, channels, inner);
    debug_assert!(mean.len() == channels && var.len() == channels);
    let m = (outer * inner) as f64;
    let mut s = vec![0.0f64; channels];
    let mut q = vec![0.0f64; channels];
    if inner > 0 {
        for (r, row) in x.chunks_exact(inner).enumerate() {
            s[r % channels] += stats::sum(row);
        }
        let mu: Vec<f64> = s.iter().map(|v| v / m).collect();
        for (r, row) in x.chunks_exact(inner).enumerate() {
            q[r % channels] += stats::sum_sq_dev(row, mu[r % channels]);
        }
    }
    for c in 0..channels {
        let ok = m > 0.0;
        mean[c] = if ok { (s[c] / m) as f32 } else { 0.0 };
        var[c] = if ok { (q[c] / m) as f32 } else { 0.0 };
    }
}

/// Scalar twin of [`batch_norm_stats`] (sequential f64 sums).
pub fn batch_norm_stats_naive(
    x: &[f32],
    outer: usize,
    channels: usize,
    inner: usize,
    mean: &mut [f32],
    var: &mut [f32],
) {
    check(x.len(), outer, channels, inner);
    let m = (outer * inner) as f64;
    for c in 0..channels {
        let mut s = 0.0f64;
        for o in 0..outer {
            for i in 0..inner {
                s += x[(o * channels + c) * inner + i] as f64;
            }
        }
        let mu = s / m;
        let mut q = 0.0f64;
        for o in 0..outer {
            for i in 0..inner {
                let d = x[(o * channels + c) * inner + i] as f64 - mu;
                q += d * d;
            }
        }
        mean[c] = if m > 0.0 { mu as f32 } else { 0.0 };
        var[c] = if m > 0.0 { (q / m) as f32 } else { 0.0 };
    }
}

/// `sqrt(var + eps)` in f32, the divisor Caffe keeps from the forward pass.
#[inline]
fn std_of(var: f32, eps: f32) -> f32 {
    (var + eps).sqrt()
}

/// In-place normalisation `x ← (x − mean[c]) / sqrt(var[c] + eps)` (SIMD).
pub fn batch_norm_normalize_inplace(
    xy: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    mean: &[f32],
    var: &[f32],
    eps: f32,
) {
    check(xy.len(), outer, channels, inner);
    if inner == 0 {
        return;
    }
    for (r, row) in xy.chunks_exact_mut(inner).enumerate() {
        let c = r % channels;
        normalize_row(row, mean[c], std_of(var[c], eps));
    }
}

/// Scalar twin of [`batch_norm_normalize_inplace`].
pub fn batch_norm_normalize_naive(
    xy: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    mean: &[f32],
    var: &[f32],
    eps: f32,
) {
    check(xy.len(), outer, channels, inner);
    for (i, v) in xy.iter_mut().enumerate() {
        let c = (i / inner) % channels;
        *v = (*v - mean[c]) / (var[c] + eps).sqrt();
    }
}

/// Forward with batch statistics (Caffe TRAIN): fills `mean`/`var` (biased) with the batch
/// statistics and writes `y = (x − mean)/sqrt(var + eps)`. `y` is the normalised value that
/// [`batch_norm_backward_train`] needs. Call [`update_running_stats`] afterwards to mutate the
/// layer blobs as Caffe's forward does.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward_train(
    x: &[f32],
    y: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    eps: f32,
    mean: &mut [f32],
    var: &mut [f32],
) {
    batch_norm_stats(x, outer, channels, inner, mean, var);
    y.copy_from_slice(x);
    batch_norm_normalize_inplace(y, outer, channels, inner, mean, var, eps);
}

/// In-place variant of [`batch_norm_forward_train`].
pub fn batch_norm_forward_train_inplace(
    xy: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    eps: f32,
    mean: &mut [f32],
    var: &mut [f32],
) {
    batch_norm_stats(xy, outer, channels, inner, mean, var);
    batch_norm_normalize_inplace(xy, outer, channels, inner, mean, var, eps);
}

/// Forward with given (global) statistics: `y = (x − mean)/sqrt(var + eps)`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_forward_global(
    x: &[f32],
    y: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    eps: f32,
    mean: &[f32],
    var: &[f32],
) {
    y.copy_from_slice(x);
    batch_norm_normalize_inplace(y, outer, channels, inner, mean, var, eps);
}

/// Caffe's global statistics from the three blobs: `f = (factor == 0 ? 0 : 1/factor)`,
/// `mean = f·mean_sum`, `var = f·var_sum`.
pub fn global_stats(
    mean_sum: &[f32],
    var_sum: &[f32],
    factor: f32,
    mean: &mut [f32],
    var: &mut [f32],
) {
    let f = if factor == 0.0 { 0.0 } else { 1.0 / factor };
    for (d, s) in mean.iter_mut().zip(mean_sum) {
        *d = f * s;
    }
    for (d, s) in var.iter_mut().zip(var_sum) {
        *d = f * s;
    }
}

/// Caffe's running-statistics update performed during a batch-statistics forward:
/// `factor = factor·maf + 1`, `mean_sum = maf·mean_sum + mean`,
/// `var_sum = maf·var_sum + var·m/(m−1)` (`m` = values per channel = count/channels; the
/// correction is 1 when `m ≤ 1`). `maf` = moving_average_fraction (default 0.999).
pub fn update_running_stats(
    mean_sum: &mut [f32],
    var_sum: &mut [f32],
    factor: &mut f32,
    mean: &[f32],
    var: &[f32],
    m: usize,
    maf: f32,
) {
    *factor = *factor * maf + 1.0;
    for (b, v) in mean_sum.iter_mut().zip(mean) {
        *b = v + maf * *b;
    }
    let corr = if m > 1 { m as f32 / (m as f32 - 1.0) } else { 1.0 };
    for (b, v) in var_sum.iter_mut().zip(var) {
        *b = corr * v + maf * *b;
    }
}

/// `(Σ a, Σ a·b)` of a run in f64 (f64x4 lanes).
#[inline(always)]
fn run_dot(a: &[f32], b: &[f32]) -> (f64, f64) {
    let z = f64x4::splat(0.0);
    let (mut s0, mut s1, mut p0, mut p1) = (z, z, z, z);
    let mut ac = a.chunks_exact(L);
    let mut bc = b.chunks_exact(L);
    let w = |s: &[f32], k: usize| {
        f64x4::new([s[k] as f64, s[k + 1] as f64, s[k + 2] as f64, s[k + 3] as f64])
    };
    for (xa, xb) in (&mut ac).zip(&mut bc) {
        let (a0, a1, b0, b1) = (w(xa, 0), w(xa, 4), w(xb, 0), w(xb, 4));
        s0 += a0;
        s1 += a1;
        p0 = a0.mul_add(b0, p0);
        p1 = a1.mul_add(b1, p1);
    }
    let h = |v: f64x4| v.to_array().iter().sum::<f64>();
    let (mut s, mut p) = (h(s0 + s1), h(p0 + p1));
    for (&u, &v) in ac.remainder().iter().zip(bc.remainder()) {
        s += u as f64;
        p += u as f64 * v as f64;
    }
    (s, p)
}

/// Per-channel `(mean(dy), mean(dy·y))` in f64.
fn grad_means(
    y: &[f32],
    dy: &[f32],
    outer: usize,
    channels: usize,
    inner: usize,
) -> Vec<(f32, f32)> {
    let m = (outer * inner) as f64;
    let mut acc = vec![(0.0f64, 0.0f64); channels];
    if inner > 0 {
        for (r, (yr, gr)) in y.chunks_exact(inner).zip(dy.chunks_exact(inner)).enumerate() {
            let (s, p) = run_dot(gr, yr);
            acc[r % channels].0 += s;
            acc[r % channels].1 += p;
        }
    }
    acc.iter().map(|&(s, p)| ((s / m) as f32, (p / m) as f32)).collect()
}

/// In-place core of the batch-statistics backward (`dxy` holds `dy` on entry).
fn backward_train_core(
    y: &[f32],
    dxy: &mut [f32],
    channels: usize,
    inner: usize,
    means: &[(f32, f32)],
    var: &[f32],
    eps: f32,
) {
    for (r, (yr, row)) in y.chunks_exact(inner).zip(dxy.chunks_exact_mut(inner)).enumerate() {
        let c = r % channels;
        let (md, mdy) = means[c];
        let s = std_of(var[c], eps);
        let (mdv, mdyv, sv) = (f32x8::splat(md), f32x8::splat(mdy), f32x8::splat(s));
        let mut yc = yr.chunks_exact(L);
        let mut dc = row.chunks_exact_mut(L);
        for (ys, ds) in (&mut yc).zip(&mut dc) {
            let v = (ld(ds) - mdv - mdyv * ld(ys)) / sv;
            ds.copy_from_slice(v.as_array());
        }
        for (yv, d) in yc.remainder().iter().zip(dc.into_remainder()) {
            *d = (*d - md - mdy * yv) / s;
        }
    }
}

/// Backward with batch statistics (Caffe TRAIN):
/// `dx = (dy − mean(dy) − mean(dy·y)·y) / sqrt(var + eps)`, means per channel over outer and inner,
/// `y` = the normalised forward output, `var` = the batch variance of the forward pass.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward_train(
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    var: &[f32],
    eps: f32,
) {
    check(y.len(), outer, channels, inner);
    if inner == 0 {
        return;
    }
    let means = grad_means(y, dy, outer, channels, inner);
    dx.copy_from_slice(dy);
    backward_train_core(y, dx, channels, inner, &means, var, eps);
}

/// In-place variant of [`batch_norm_backward_train`] (`dxy` holds `dy` on entry).
pub fn batch_norm_backward_train_inplace(
    y: &[f32],
    dxy: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    var: &[f32],
    eps: f32,
) {
    check(y.len(), outer, channels, inner);
    if inner == 0 {
        return;
    }
    let means = grad_means(y, dxy, outer, channels, inner);
    backward_train_core(y, dxy, channels, inner, &means, var, eps);
}

/// Scalar twin of [`batch_norm_backward_train`] (sequential f64 means).
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward_train_naive(
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    var: &[f32],
    eps: f32,
) {
    check(y.len(), outer, channels, inner);
    let m = (outer * inner) as f64;
    for (c, &vc) in var.iter().enumerate().take(channels) {
        let idx = |o: usize, i: usize| (o * channels + c) * inner + i;
        let (mut s, mut p) = (0.0f64, 0.0f64);
        for o in 0..outer {
            for i in 0..inner {
                s += dy[idx(o, i)] as f64;
                p += dy[idx(o, i)] as f64 * y[idx(o, i)] as f64;
            }
        }
        let (md, mdy) = ((s / m) as f32, (p / m) as f32);
        let sd = (vc + eps).sqrt();
        for o in 0..outer {
            for i in 0..inner {
                dx[idx(o, i)] = (dy[idx(o, i)] - md - mdy * y[idx(o, i)]) / sd;
            }
        }
    }
}

/// Backward with global statistics: `dx = dy / sqrt(var + eps)`.
pub fn batch_norm_backward_global(
    dy: &[f32],
    dx: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    var: &[f32],
    eps: f32,
) {
    dx.copy_from_slice(dy);
    batch_norm_backward_global_inplace(dx, outer, channels, inner, var, eps);
}

/// In-place variant of [`batch_norm_backward_global`].
pub fn batch_norm_backward_global_inplace(
    dxy: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    var: &[f32],
    eps: f32,
) {
    check(dxy.len(), outer, channels, inner);
    if inner == 0 {
        return;
    }
    for (r, row) in dxy.chunks_exact_mut(inner).enumerate() {
        normalize_row(row, 0.0, std_of(var[r % channels], eps));
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
        fn vec(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.unif()).collect()
        }
    }

    const SHAPES: [(usize, usize, usize); 6] =
        [(1, 1, 2), (2, 3, 7), (3, 5, 9), (2, 4, 17), (4, 3, 1), (2, 2, 33)];

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn stats_and_forward_match_naive() {
        let mut rng = Rng(31);
        for &(o, c, i) in &SHAPES {
            let n = o * c * i;
            let x: Vec<f32> = rng.vec(n).iter().map(|v| v * 3.0 + 1.5).collect();
            let (mut m1, mut v1, mut m2, mut v2) =
                (vec![0.0; c], vec![0.0; c], vec![0.0; c], vec![0.0; c]);
            batch_norm_stats(&x, o, c, i, &mut m1, &mut v1);
            batch_norm_stats_naive(&x, o, c, i, &mut m2, &mut v2);
            for k in 0..c {
                assert!(close(m1[k] as f64, m2[k] as f64, 1e-7));
                assert!(close(v1[k] as f64, v2[k] as f64, 1e-7));
            }
            let mut y1 = vec![0.0; n];
            batch_norm_forward_train(&x, &mut y1, o, c, i, 1e-5, &mut m1, &mut v1);
            let mut y2 = x.clone();
            batch_norm_normalize_naive(&mut y2, o, c, i, &m1, &v1, 1e-5);
            assert!(y1.iter().zip(&y2).all(|(a, b)| a.to_bits() == b.to_bits()));
            let mut y3 = x.clone();
            batch_norm_forward_train_inplace(&mut y3, o, c, i, 1e-5, &mut m2, &mut v2);
            assert_eq!(y1, y3);
            // Normalised output: per-channel mean 0, biased variance var/(var+eps) ~ 1.
            let (mut mm, mut vv) = (vec![0.0; c], vec![0.0; c]);
            batch_norm_stats_naive(&y1, o, c, i, &mut mm, &mut vv);
            for k in 0..c {
                assert!(mm[k].abs() < 1e-5);
                let expect = v1[k] as f64 / (v1[k] as f64 + 1e-5);
                assert!((vv[k] as f64 - expect).abs() < 1e-4, "{} vs {expect}", vv[k]);
            }
            let mut y4 = vec![0.0; n];
            batch_norm_forward_global(&x, &mut y4, o, c, i, 1e-5, &m1, &v1);
            assert_eq!(y1, y4);
        }
    }

    #[test]
    fn hand_case_and_running_stats() {
        // One channel, values {1, 3} twice: mean 2, biased var 1, m = 4.
        let x = [1.0, 3.0, 1.0, 3.0];
        let (mut m, mut v) = ([0.0], [0.0]);
        let mut y = [0.0; 4];
        batch_norm_forward_train(&x, &mut y, 2, 1, 2, 0.0, &mut m, &mut v);
        assert_eq!((m[0], v[0]), (2.0, 1.0));
        assert_eq!(y, [-1.0, 1.0, -1.0, 1.0]);
        let (mut ms, mut vs, mut f) = ([10.0], [20.0], 2.0);
        update_running_stats(&mut ms, &mut vs, &mut f, &m, &v, 4, 0.5);
        assert_eq!(f, 2.0);
        assert_eq!(ms, [7.0]);
        assert_eq!(vs, [4.0 / 3.0 + 10.0]);
        let (mut gm, mut gv) = ([0.0], [0.0]);
        global_stats(&ms, &vs, f, &mut gm, &mut gv);
        assert_eq!(gm, [3.5]);
        assert_eq!(gv, [(4.0 / 3.0 + 10.0) * 0.5]);
        global_stats(&ms, &vs, 0.0, &mut gm, &mut gv);
        assert_eq!((gm, gv), ([0.0], [0.0]));
        // From zeroed blobs (fresh layer), maf 0.999, one update.
        let (mut ms, mut vs, mut f) = ([0.0, 0.0], [0.0, 0.0], 0.0);
        update_running_stats(&mut ms, &mut vs, &mut f, &[1.0, 2.0], &[3.0, 4.0], 1, 0.999);
        assert_eq!((f, ms, vs), (1.0, [1.0, 2.0], [3.0, 4.0]));
    }

    #[test]
    fn backward_matches_naive_and_fd() {
        let mut rng = Rng(32);
        let eps = 1e-3f32;
        for &(o, c, i) in &SHAPES {
            let n = o * c * i;
            let x: Vec<f32> = rng.vec(n).iter().map(|v| v * 2.0 + 0.5).collect();
            let dy = rng.vec(n);
            let (mut m, mut v) = (vec![0.0; c], vec![0.0; c]);
            let mut y = vec![0.0; n];
            batch_norm_forward_train(&x, &mut y, o, c, i, eps, &mut m, &mut v);
            let (mut d1, mut d2) = (vec![0.0; n], vec![0.0; n]);
            batch_norm_backward_train(&y, &dy, &mut d1, o, c, i, &v, eps);
            batch_norm_backward_train_naive(&y, &dy, &mut d2, o, c, i, &v, eps);
            for (a, b) in d1.iter().zip(&d2) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
            }
            let mut d3 = dy.clone();
            batch_norm_backward_train_inplace(&y, &mut d3, o, c, i, &v, eps);
            assert_eq!(d1, d3);
            // Finite differences of L = Σ dy·BN(x) in f64 with batch statistics.
            let loss = |x: &[f32]| -> f64 {
                let mut tot = 0.0;
                for k in 0..c {
                    let idx: Vec<usize> =
                        (0..o).flat_map(|oo| (0..i).map(move |ii| (oo * c + k) * i + ii)).collect();
                    let mu = idx.iter().map(|&j| x[j] as f64).sum::<f64>() / idx.len() as f64;
                    let var = idx.iter().map(|&j| (x[j] as f64 - mu).powi(2)).sum::<f64>()
                        / idx.len() as f64;
                    for &j in &idx {
                        tot += dy[j] as f64 * (x[j] as f64 - mu) / (var + eps as f64).sqrt();
                    }
                }
                tot
            };
            for k in 0..n {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[k] += 1e-3;
                xm[k] -= 1e-3;
                let fd = (loss(&xp) - loss(&xm)) / (xp[k] as f64 - xm[k] as f64);
                assert!(
                    (fd - d1[k] as f64).abs() < 1e-3 * (1.0 + fd.abs()),
                    "fd {fd} vs {}",
                    d1[k]
                );
            }
            // Global statistics: dx = dy / sqrt(var + eps).
            let mut g = vec![0.0; n];
            batch_norm_backward_global(&dy, &mut g, o, c, i, &v, eps);
            for (j, (&gv, &d)) in g.iter().zip(&dy).enumerate() {
                assert_eq!(gv, d / (v[(j / i) % c] + eps).sqrt());
            }
        }
    }
}
