//! Benchmark of the convolution, inner-product and GEMM kernels on AlexNet shapes, reported in
//! GFLOP/s and as a percentage of this core's measured FMA peak.
//!
//! Plain binary (`harness = false`). `MAGIC_BENCH_QUICK=1` or `--quick` runs tiny iteration
//! counts and batches so that CI finishes in seconds.

use magic_init::kernels::conv::{
    conv_backward, conv_forward, conv_forward_naive, inner_product_backward, inner_product_forward,
    inner_product_forward_naive, ConvGeom,
};
use magic_init::kernels::gemm::gemm;
use magic_init::kernels::peak::{cpu_has_avx512f, fma_peak_gflops, fma_peak_gflops_for};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Deterministic pseudo-random data in [-1, 1).
fn data(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Best wall time (seconds) of `reps` runs of `f`, after one warm-up run.
fn best_time(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

/// Wall time (seconds) of a single run of `f` (for the slow naive twins).
fn time_once(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

struct Report {
    peak: f64,
}

impl Report {
    fn line(&self, what: &str, flops: f64, secs: f64) {
        let g = flops / secs * 1e-9;
        println!(
            "  {what:<34} {:>9.2} ms {:>8.2} GFLOP/s {:>6.1}% of peak",
            secs * 1e3,
            g,
            100.0 * g / self.peak
        );
    }
}

fn main() {
    let quick = std::env::var("MAGIC_BENCH_QUICK").is_ok_and(|v| v == "1")
        || std::env::args().any(|a| a == "--quick");
    let reps = if quick { 1 } else { 3 };
    let batch = if quick { 2 } else { 16 };

    let peak =
        if quick { fma_peak_gflops_for(Duration::from_millis(50)) } else { fma_peak_gflops() };
    println!("single-thread f32 FMA peak (f32x8 mul_add): {peak:.1} GFLOP/s");
    if cpu_has_avx512f() {
        println!(
            "note: AVX-512F present; matrixmultiply then runs 16-lane kernels, so GEMM-based \
             kernels may exceed this 8-lane peak"
        );
    }
    let rep = Report { peak };

    // Raw sgemm on a big square product.
    let s = if quick { 256 } else { 1024 };
    let a = data(s * s, 1);
    let b = data(s * s, 2);
    let mut c = vec![0.0; s * s];
    println!("sgemm {s}x{s}x{s}");
    let t = best_time(reps, || {
        gemm(false, false, s, s, s, 1.0, black_box(&a), black_box(&b), 0.0, &mut c);
        black_box(&c);
    });
    rep.line("C = A B", 2.0 * (s * s * s) as f64, t);

    let layers = [
        ("conv1", ConvGeom::new(3, 227, 227, 96, 11, 11).with_stride(4, 4)),
        ("conv2", ConvGeom::new(96, 27, 27, 256, 5, 5).with_pad(2, 2).with_group(2)),
        ("conv3", ConvGeom::new(256, 13, 13, 384, 3, 3).with_pad(1, 1)),
        ("conv4", ConvGeom::new(384, 13, 13, 384, 3, 3).with_pad(1, 1).with_group(2)),
        ("conv5", ConvGeom::new(384, 13, 13, 256, 3, 3).with_pad(1, 1).with_group(2)),
    ];
    let mut scratch = Vec::new();
    let (mut fwd_flops, mut fwd_secs) = (0.0, 0.0);
    for (name, g) in layers {
        let n = batch;
        println!(
            "{name}: {}x{}x{} -> {}x{}x{}, k{} s{} p{} g{}, batch {n}",
            g.channels,
            g.height,
            g.width,
            g.num_output,
            g.out_h(),
            g.out_w(),
            g.kernel_h,
            g.stride_h,
            g.pad_h,
            g.group
        );
        let x = data(n * g.input_len(), 3);
        let w = data(g.weight_len(), 4);
        let bias = data(g.num_output, 5);
        let dy = data(n * g.output_len(), 6);
        let mut y = vec![0.0; n * g.output_len()];
        let flops = 2.0 * (n * g.conv_macs_per_image()) as f64;
        let t = best_time(reps, || {
            conv_forward(&g, n, black_box(&x), &w, Some(&bias), &mut y, &mut scratch);
            black_box(&y);
        });
        rep.line("forward", flops, t);
        fwd_flops += flops;
        fwd_secs += t;
        let mut dw = vec![0.0; w.len()];
        let mut db = vec![0.0; bias.len()];
        let mut dx = vec![0.0; x.len()];
        let t = best_time(reps, || {
            conv_backward(
                &g,
                n,
                black_box(&x),
                &w,
                &dy,
                Some(&mut dw),
                Some(&mut db),
                Some(&mut dx),
                &mut scratch,
            );
            black_box(&dx);
        });
        rep.line("backward (dW + db + dx)", 2.0 * flops, t);
        // Naive twin on one image.
        let mut y1 = vec![0.0; g.output_len()];
        let t = time_once(|| {
            conv_forward_naive(&g, 1, black_box(&x), &w, Some(&bias), &mut y1);
            black_box(&y1);
        });
        rep.line("naive forward (batch 1)", 2.0 * g.conv_macs_per_image() as f64, t);
    }
    println!("all conv layers: forward");
    rep.line("total", fwd_flops, fwd_secs);

    // fc6-like inner product: (16 x 9216) · (9216 -> 4096).
    let (rows, k, m) = (16, 9216, 4096);
    println!("fc6: {rows}x{k} -> {m}");
    let x = data(rows * k, 7);
    let w = data(k * m, 8);
    let bias = data(m, 9);
    let dy = data(rows * m, 10);
    let mut y = vec![0.0; rows * m];
    let flops = 2.0 * (rows * k * m) as f64;
    let t = best_time(reps, || {
        inner_product_forward(rows, k, m, black_box(&x), &w, Some(&bias), false, &mut y);
        black_box(&y);
    });
    rep.line("forward", flops, t);
    let mut dw = vec![0.0; w.len()];
    let mut db = vec![0.0; m];
    let mut dx = vec![0.0; x.len()];
    let t = best_time(reps, || {
        inner_product_backward(
            rows,
            k,
            m,
            black_box(&x),
            &w,
            &dy,
            false,
            Some(&mut dw),
            Some(&mut db),
            Some(&mut dx),
        );
        black_box(&dx);
    });
    rep.line("backward (dW + db + dx)", 2.0 * flops, t);
    let mut y1 = vec![0.0; m];
    let t = time_once(|| {
        inner_product_forward_naive(1, k, m, black_box(&x), &w, Some(&bias), false, &mut y1);
        black_box(&y1);
    });
    rep.line("naive forward (1 row)", 2.0 * (k * m) as f64, t);
}
