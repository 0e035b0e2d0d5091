//! Measurement of this core's single-thread f32 FMA peak (GFLOP/s), the yardstick that benches
//! use to print "x% of peak".

use std::hint::black_box;
use std::time::{Duration, Instant};
use wide::f32x8;

/// Number of independent accumulator chains: enough to cover FMA latency × FMA ports
/// (4 cycles × 2 ports = 8 on current x86 cores) with margin.
const CHAINS: usize = 12;

/// Inner iterations between two clock reads.
const INNER: usize = 1 << 16;

/// Runs `outer × INNER` rounds of `CHAINS` independent `f32x8` fused multiply-adds and returns
/// the sum of the accumulators (so the work cannot be optimised away).
fn fma_rounds(outer: usize) -> f32 {
    let a = black_box(f32x8::splat(0.999_999));
    let b = black_box(f32x8::splat(1.0e-6));
    let mut acc = [f32x8::ZERO; CHAINS];
    for (i, v) in acc.iter_mut().enumerate() {
        *v = black_box(f32x8::splat(i as f32 * 0.01));
    }
    for _ in 0..outer {
        for _ in 0..INNER {
            for v in acc.iter_mut() {
                *v = v.mul_add(a, b);
            }
        }
        acc = black_box(acc);
    }
    acc.iter().fold(f32x8::ZERO, |s, &v| s + v).reduce_add()
}

/// Flops performed by one call of `fma_rounds(outer)` (an FMA counts as 2 flops per lane).
fn rounds_flops(outer: usize) -> f64 {
    (outer * INNER * CHAINS * 8 * 2) as f64
}

/// Measures the single-thread FMA peak for roughly `budget` of wall time and returns the best
/// observed rate in GFLOP/s (best of several short runs, to reject interruptions).
pub fn fma_peak_gflops_for(budget: Duration) -> f64 {
    // Warm up (frequency ramp, page-in) and calibrate a run of about 20 ms.
    let mut outer = 1usize;
    loop {
        let t = Instant::now();
        black_box(fma_rounds(black_box(outer)));
        let dt = t.elapsed();
        if dt >= Duration::from_millis(20) || outer >= 1 << 20 {
            break;
        }
        outer *= 2;
    }
    let start = Instant::now();
    let mut best = 0.0f64;
    loop {
        let t = Instant::now();
        black_box(fma_rounds(black_box(outer)));
        let secs = t.elapsed().as_secs_f64();
        if secs > 0.0 {
            best = best.max(rounds_flops(outer) / secs * 1e-9);
        }
        if start.elapsed() >= budget {
            break;
        }
    }
    best
}

/// Measures the single-thread FMA peak (≈ 0.2 s) in GFLOP/s, using `wide::f32x8::mul_add` on
/// independent accumulator chains.
pub fn fma_peak_gflops() -> f64 {
    fma_peak_gflops_for(Duration::from_millis(200))
}

/// Whether this CPU supports AVX-512F. `matrixmultiply` (default feature `avx512`, Rust ≥ 1.89)
/// detects it at run time and then uses 16-lane kernels, so GEMM-based kernels can exceed the
/// 8-lane peak measured by [`fma_peak_gflops`].
pub fn cpu_has_avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fma_rounds_computes_the_recurrence() {
        // acc ← acc·a + b converges towards b / (1 − a) = 1; after many rounds every chain
        // has moved away from its start value towards 1.
        let s = fma_rounds(1);
        assert!(s.is_finite());
        assert!(s > 0.0 && s < 8.0 * CHAINS as f32);
        assert_eq!(rounds_flops(2), 2.0 * (INNER * CHAINS * 16) as f64);
    }

    #[test]
    fn peak_is_positive_and_plausible() {
        let g = fma_peak_gflops_for(Duration::from_millis(30));
        assert!(g > 0.1 && g < 10_000.0, "implausible peak {g}");
    }
}
