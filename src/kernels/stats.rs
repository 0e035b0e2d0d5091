//! Per-channel statistics (Σx, Σx² in f64) over `(outer, channels, inner)` arrays, the per-channel
//! affine map `y = a[c]·x + b[c]`, and whole-slice reductions (`sum`, `sum_sq`, `sum_sq_dev`,
//! `mean_abs`).
//!
//! Element `(o, c, i)` lives at `(o·channels + c)·inner + i` (NCHW activations: outer = N,
//! inner = H·W). The optimised reductions widen each f32 to f64 (exact) and accumulate in several
//! `wide::f64x4` lanes, so they differ from the sequential f64 `_naive` twins only by f64 rounding
//! (relative ~1e-15), not by f32 rounding: accumulating over many batches stays accurate.

use wide::{f32x8, f64x4};

const L: usize = 8;

#[inline(always)]
fn widen(s: &[f32]) -> (f64x4, f64x4) {
    (
        f64x4::new([s[0] as f64, s[1] as f64, s[2] as f64, s[3] as f64]),
        f64x4::new([s[4] as f64, s[5] as f64, s[6] as f64, s[7] as f64]),
    )
}

#[inline(always)]
fn hsum(v: f64x4) -> f64 {
    let a = v.to_array();
    (a[0] + a[1]) + (a[2] + a[3])
}

/// `(Σ (x − center), Σ (x − center)²)` of a run, in f64 (16 elements per step, 4 lanes × 4 chains).
#[inline(always)]
fn run_sums(a: &[f32], center: f64) -> (f64, f64) {
    let z = f64x4::splat(0.0);
    let cv = f64x4::splat(center);
    let (mut s0, mut s1, mut s2, mut s3) = (z, z, z, z);
    let (mut q0, mut q1, mut q2, mut q3) = (z, z, z, z);
    let mut chunks = a.chunks_exact(2 * L);
    for c in &mut chunks {
        let (a0, a1) = widen(&c[..L]);
        let (a2, a3) = widen(&c[L..]);
        let (a0, a1, a2, a3) = (a0 - cv, a1 - cv, a2 - cv, a3 - cv);
        s0 += a0;
        s1 += a1;
        s2 += a2;
        s3 += a3;
        q0 = a0.mul_add(a0, q0);
        q1 = a1.mul_add(a1, q1);
        q2 = a2.mul_add(a2, q2);
        q3 = a3.mul_add(a3, q3);
    }
    let mut s = hsum((s0 + s1) + (s2 + s3));
    let mut q = hsum((q0 + q1) + (q2 + q3));
    for &v in chunks.remainder() {
        let d = v as f64 - center;
        s += d;
        q += d * d;
    }
    (s, q)
}

/// Σ|x| of a run in f64.
#[inline(always)]
fn run_abs(a: &[f32]) -> f64 {
    let z = f64x4::splat(0.0);
    let (mut s0, mut s1, mut s2, mut s3) = (z, z, z, z);
    let mut chunks = a.chunks_exact(2 * L);
    for c in &mut chunks {
        let (a0, a1) = widen(&c[..L]);
        let (a2, a3) = widen(&c[L..]);
        s0 += a0.abs();
        s1 += a1.abs();
        s2 += a2.abs();
        s3 += a3.abs();
    }
    let mut s = hsum((s0 + s1) + (s2 + s3));
    for &v in chunks.remainder() {
        s += v.abs() as f64;
    }
    s
}

/// Running per-channel sums over any number of `(outer, channels, inner)` arrays.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelStats {
    /// Number of values accumulated per channel.
    pub count: usize,
    /// Σx per channel.
    pub sum: Vec<f64>,
    /// Σx² per channel.
    pub sum_sq: Vec<f64>,
}

impl ChannelStats {
    /// Empty statistics for `channels` channels.
    pub fn new(channels: usize) -> Self {
        ChannelStats { count: 0, sum: vec![0.0; channels], sum_sq: vec![0.0; channels] }
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.sum.len()
    }

    /// Adds every value of `data` (shape `(outer, channels, inner)`) to its channel's sums (SIMD,
    /// f64 accumulation).
    pub fn accumulate(&mut self, data: &[f32], outer: usize, channels: usize, inner: usize) {
        debug_assert_eq!(data.len(), outer * channels * inner);
        debug_assert_eq!(channels, self.channels());
        self.count += outer * inner;
        if inner == 0 {
            return;
        }
        for (r, row) in data.chunks_exact(inner).enumerate() {
            let (s, q) = run_sums(row, 0.0);
            self.sum[r % channels] += s;
            self.sum_sq[r % channels] += q;
        }
    }

    /// Scalar twin of [`ChannelStats::accumulate`] (sequential f64 sums).
    pub fn accumulate_naive(&mut self, data: &[f32], outer: usize, channels: usize, inner: usize) {
        debug_assert_eq!(data.len(), outer * channels * inner);
        self.count += outer * inner;
        for (i, &v) in data.iter().enumerate() {
            let c = (i / inner) % channels;
            self.sum[c] += v as f64;
            self.sum_sq[c] += v as f64 * v as f64;
        }
    }

    /// Mean of channel `c` (0 when nothing was accumulated).
    pub fn mean(&self, c: usize) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum[c] / self.count as f64
        }
    }

    /// Population variance `E[x²] − E[x]²` of channel `c`, clamped at 0.
    pub fn var(&self, c: usize) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let m = self.mean(c);
        (self.sum_sq[c] / self.count as f64 - m * m).max(0.0)
    }

    /// Population standard deviation of channel `c`.
    pub fn std(&self, c: usize) -> f64 {
        self.var(c).sqrt()
    }
}

/// In-place per-channel affine map `x ← a[c]·x + b[c]` over `(outer, channels, inner)` (SIMD; the
/// product is rounded before the addition, bitwise identical to [`affine_channels_naive`]).
pub fn affine_channels(
    data: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    a: &[f32],
    b: &[f32],
) {
    debug_assert_eq!(data.len(), outer * channels * inner);
    debug_assert!(a.len() == channels && b.len() == channels);
    if inner == 0 {
        return;
    }
    for (r, row) in data.chunks_exact_mut(inner).enumerate() {
        let (ac, bc) = (a[r % channels], b[r % channels]);
        let (av, bv) = (f32x8::splat(ac), f32x8::splat(bc));
        let mut chunks = row.chunks_exact_mut(L);
        for c in &mut chunks {
            let v: [f32; L] = (&*c).try_into().expect("8 lanes");
            c.copy_from_slice((f32x8::new(v) * av + bv).as_array());
        }
        for v in chunks.into_remainder() {
            *v = *v * ac + bc;
        }
    }
}

/// Scalar twin of [`affine_channels`].
pub fn affine_channels_naive(
    data: &mut [f32],
    outer: usize,
    channels: usize,
    inner: usize,
    a: &[f32],
    b: &[f32],
) {
    debug_assert_eq!(data.len(), outer * channels * inner);
    for (i, v) in data.iter_mut().enumerate() {
        let c = (i / inner) % channels;
        *v = *v * a[c] + b[c];
    }
}

/// Σx in f64 (SIMD).
pub fn sum(x: &[f32]) -> f64 {
    run_sums(x, 0.0).0
}

/// Σx² in f64 (SIMD).
pub fn sum_sq(x: &[f32]) -> f64 {
    run_sums(x, 0.0).1
}

/// Σ(x − center)² in f64 (SIMD; the second pass of a two-pass variance).
pub fn sum_sq_dev(x: &[f32], center: f64) -> f64 {
    run_sums(x, center).1
}

/// Mean of |x| in f64 (SIMD); 0 for an empty slice.
pub fn mean_abs(x: &[f32]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        run_abs(x) / x.len() as f64
    }
}

/// Scalar twin of [`sum`].
pub fn sum_naive(x: &[f32]) -> f64 {
    x.iter().map(|&v| v as f64).sum()
}

/// Scalar twin of [`sum_sq`].
pub fn sum_sq_naive(x: &[f32]) -> f64 {
    x.iter().map(|&v| v as f64 * v as f64).sum()
}

/// Scalar twin of [`sum_sq_dev`].
pub fn sum_sq_dev_naive(x: &[f32], center: f64) -> f64 {
    x.iter().map(|&v| (v as f64 - center) * (v as f64 - center)).sum()
}

/// Scalar twin of [`mean_abs`].
pub fn mean_abs_naive(x: &[f32]) -> f64 {
    if x.is_empty() {
        0.0
    } else {
        x.iter().map(|&v| v.abs() as f64).sum::<f64>() / x.len() as f64
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
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn channel_stats_match_naive() {
        let mut rng = Rng(21);
        for &(outer, channels, inner) in
            &[(1, 1, 1), (2, 3, 7), (3, 5, 9), (2, 4, 17), (4, 3, 33), (1, 2, 0), (3, 7, 169)]
        {
            let mut s1 = ChannelStats::new(channels);
            let mut s2 = ChannelStats::new(channels);
            for batch in 0..3 {
                let n = outer * channels * inner;
                let data: Vec<f32> = (0..n).map(|_| rng.unif() * 10.0 + batch as f32).collect();
                s1.accumulate(&data, outer, channels, inner);
                s2.accumulate_naive(&data, outer, channels, inner);
            }
            assert_eq!(s1.count, s2.count);
            for c in 0..channels {
                assert!(close(s1.sum[c], s2.sum[c], 1e-13));
                assert!(close(s1.sum_sq[c], s2.sum_sq[c], 1e-13));
                assert!(close(s1.var(c), s2.var(c), 1e-12));
            }
        }
    }

    #[test]
    fn mean_var_std_hand_case() {
        // Channel 0: {1, 2, 3, 4} (two samples of two values) -> mean 2.5, var 1.25.
        // Channel 1: constant 7 -> var 0 (clamped even if rounding goes negative).
        let data = [1.0, 2.0, 7.0, 7.0, 3.0, 4.0, 7.0, 7.0];
        let mut s = ChannelStats::new(2);
        s.accumulate(&data, 2, 2, 2);
        assert_eq!(s.count, 4);
        assert_eq!(s.mean(0), 2.5);
        assert_eq!(s.var(0), 1.25);
        assert_eq!(s.std(0), 1.25f64.sqrt());
        assert_eq!(s.mean(1), 7.0);
        assert_eq!(s.var(1), 0.0);
        let mut t = ChannelStats::new(1);
        t.accumulate(&[0.1; 3], 1, 1, 3);
        assert!(t.var(0) >= 0.0);
        assert_eq!(ChannelStats::new(3).mean(1), 0.0);
    }

    #[test]
    fn f64_accumulation_is_accurate() {
        // 1e6 copies of 1 + 2^-20: an f32 running sum would drift badly.
        let v = 1.0f32 + 2f32.powi(-20);
        let data = vec![v; 1_000_003];
        let exact = 1_000_003.0 * v as f64;
        assert!((sum(&data) - exact).abs() < 1e-6);
        assert!((sum_sq(&data) - exact * v as f64).abs() < 1e-6);
    }

    #[test]
    fn affine_matches_naive() {
        let mut rng = Rng(22);
        for &(outer, channels, inner) in &[(1, 1, 1), (2, 3, 7), (3, 5, 9), (2, 4, 17), (1, 3, 0)] {
            let n = outer * channels * inner;
            let data: Vec<f32> = (0..n).map(|_| rng.unif()).collect();
            let a: Vec<f32> = (0..channels).map(|_| rng.unif()).collect();
            let b: Vec<f32> = (0..channels).map(|_| rng.unif()).collect();
            let (mut d1, mut d2) = (data.clone(), data.clone());
            affine_channels(&mut d1, outer, channels, inner, &a, &b);
            affine_channels_naive(&mut d2, outer, channels, inner, &a, &b);
            assert!(d1.iter().zip(&d2).all(|(x, y)| x.to_bits() == y.to_bits()));
            for (i, (&x, &y)) in data.iter().zip(&d1).enumerate() {
                let c = (i / inner) % channels;
                assert_eq!(y, x * a[c] + b[c]);
            }
        }
        // Whitening with the measured statistics yields mean 0, variance 1.
        let data: Vec<f32> = (0..2 * 3 * 50).map(|_| rng.unif() * 5.0 + 2.0).collect();
        let mut s = ChannelStats::new(3);
        s.accumulate(&data, 2, 3, 50);
        let a: Vec<f32> = (0..3).map(|c| (1.0 / s.std(c)) as f32).collect();
        let b: Vec<f32> = (0..3).map(|c| (-s.mean(c) / s.std(c)) as f32).collect();
        let mut w = data.clone();
        affine_channels(&mut w, 2, 3, 50, &a, &b);
        let mut t = ChannelStats::new(3);
        t.accumulate(&w, 2, 3, 50);
        for c in 0..3 {
            assert!(t.mean(c).abs() < 1e-5 && (t.var(c) - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn slice_reductions_match_naive() {
        let mut rng = Rng(23);
        for n in [0, 1, 7, 8, 9, 15, 16, 17, 33, 1000] {
            let x: Vec<f32> = (0..n).map(|_| rng.unif() * 3.0).collect();
            assert!(close(sum(&x), sum_naive(&x), 1e-14));
            assert!(close(sum_sq(&x), sum_sq_naive(&x), 1e-14));
            assert!(close(sum_sq_dev(&x, 0.3), sum_sq_dev_naive(&x, 0.3), 1e-14));
            assert!(close(mean_abs(&x), mean_abs_naive(&x), 1e-14));
        }
        assert_eq!(sum_sq(&[1.0, -2.0, 3.0]), 14.0);
        assert_eq!(mean_abs(&[1.0, -2.0, 3.0, -2.0]), 2.0);
        assert_eq!(mean_abs(&[]), 0.0);
    }
}
