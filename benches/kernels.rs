//! Benchmark of the pooling, LRN, element-wise, softmax, batch-norm and statistics kernels on
//! AlexNet-like shapes (batch 16), each optimised kernel next to its naive twin, in GB/s of
//! compulsory memory traffic (and GFLOP/s / % of the FMA peak for the compute-heavy LRN).
//!
//! Plain binary (`harness = false`). `MAGIC_BENCH_QUICK=1` or `--quick` uses batch 2 and a single
//! repetition so that it finishes in a few seconds.

use magic_init::kernels::batchnorm::{
    batch_norm_backward_train, batch_norm_backward_train_naive, batch_norm_forward_train,
    batch_norm_normalize_naive, batch_norm_stats_naive,
};
use magic_init::kernels::eltwise::{
    relu_backward, relu_backward_naive, relu_forward, relu_forward_inplace, relu_forward_naive,
    scale_channels_forward, scale_channels_forward_naive,
};
use magic_init::kernels::lrn::{
    lrn_across_backward, lrn_across_backward_naive, lrn_across_forward, lrn_across_forward_naive,
    LrnParams,
};
use magic_init::kernels::peak::{fma_peak_gflops, fma_peak_gflops_for};
use magic_init::kernels::pool::{
    ave_pool_forward, ave_pool_forward_naive, max_pool_backward, max_pool_forward,
    max_pool_forward_naive, PoolGeom,
};
use magic_init::kernels::softmax::{
    softmax_backward, softmax_backward_naive, softmax_forward, softmax_forward_naive,
};
use magic_init::kernels::stats::{affine_channels, affine_channels_naive, ChannelStats};
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

struct Bench {
    reps: usize,
    naive_reps: usize,
    peak: f64,
}

impl Bench {
    /// Times `opt` and `naive`, printing ms, GB/s (for `bytes`) and optionally GFLOP/s.
    fn pair(&self, what: &str, bytes: f64, flops: f64, opt: impl FnMut(), naive: impl FnMut()) {
        let t_opt = best_time(self.reps, opt);
        let t_naive = best_time(self.naive_reps, naive);
        self.line(what, "simd", bytes, flops, t_opt);
        self.line(what, "naive", bytes, flops, t_naive);
        println!("  {:<40} speed-up x{:.2}", "", t_naive / t_opt);
    }

    /// Times a kernel without a twin.
    fn single(&self, what: &str, bytes: f64, flops: f64, f: impl FnMut()) {
        let t = best_time(self.reps, f);
        self.line(what, "", bytes, flops, t);
    }

    fn line(&self, what: &str, kind: &str, bytes: f64, flops: f64, secs: f64) {
        let mut s = format!(
            "  {what:<34} {kind:<5} {:>9.3} ms {:>7.2} GB/s",
            secs * 1e3,
            bytes / secs * 1e-9
        );
        if flops > 0.0 {
            let g = flops / secs * 1e-9;
            s += &format!(" {:>7.2} GFLOP/s {:>5.1}% peak", g, 100.0 * g / self.peak);
        }
        println!("{s}");
    }
}

fn main() {
    let quick = std::env::var("MAGIC_BENCH_QUICK").is_ok_and(|v| v == "1")
        || std::env::args().any(|a| a == "--quick");
    let batch = if quick { 2 } else { 16 };
    let peak =
        if quick { fma_peak_gflops_for(Duration::from_millis(20)) } else { fma_peak_gflops() };
    let b = Bench { reps: if quick { 1 } else { 10 }, naive_reps: if quick { 1 } else { 3 }, peak };
    println!("misc kernels, batch {batch}{}", if quick { " (quick)" } else { "" });
    println!("FMA peak: {peak:.1} GFLOP/s (single core)");
    let f4 = 4.0f64;

    // --- pool1: 96x55x55, 3x3 s2 MAX (and AVE on the same shape) ---------------------------
    let g = PoolGeom::caffe(96, 55, 55, 3, 3, 2, 2, 0, 0, true);
    let (n_in, n_out) = (batch * 96 * 55 * 55, batch * 96 * g.out_plane());
    let x = data(n_in, 1);
    let mut y = vec![0.0f32; n_out];
    let mut arg = vec![0i32; n_out];
    let mut y2 = vec![0.0f32; n_out];
    let mut arg2 = vec![0i32; n_out];
    println!("pool1 {batch}x96x55x55 k3 s2 -> {}x{}", g.out_h, g.out_w);
    let bytes = f4 * (n_in + 2 * n_out) as f64;
    b.pair(
        "max_pool_forward",
        bytes,
        0.0,
        || max_pool_forward(&g, batch, black_box(&x), &mut y, &mut arg),
        || max_pool_forward_naive(&g, batch, black_box(&x), &mut y2, &mut arg2),
    );
    assert_eq!(y, y2);
    let mut dx = vec![0.0f32; n_in];
    let dy = data(n_out, 2);
    b.single("max_pool_backward", f4 * (n_in + 2 * n_out) as f64, 0.0, || {
        max_pool_backward(&g, batch, black_box(&dy), &arg, &mut dx)
    });
    b.pair(
        "ave_pool_forward",
        f4 * (n_in + n_out) as f64,
        0.0,
        || ave_pool_forward(&g, batch, black_box(&x), &mut y),
        || ave_pool_forward_naive(&g, batch, black_box(&x), &mut y2),
    );

    // --- LRN1: 96x55x55, n 5, ACROSS_CHANNELS --------------------------------------------------
    let p = LrnParams { local_size: 5, alpha: 1e-4, beta: 0.75, k: 1.0 };
    let plane = 55 * 55;
    let n = batch * 96 * plane;
    let x = data(n, 3);
    let (mut y, mut s, mut y2, mut s2) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    println!("lrn1 {batch}x96x55x55 n5 beta 0.75");
    // Per element: 2 FMA for the running sum, 1 FMA scale, sqrt·2 + div + mul ≈ 10 flops.
    b.pair(
        "lrn_across_forward",
        f4 * 3.0 * n as f64,
        10.0 * n as f64,
        || lrn_across_forward(&p, batch, 96, plane, black_box(&x), &mut y, &mut s),
        || lrn_across_forward_naive(&p, batch, 96, plane, black_box(&x), &mut y2, &mut s2),
    );
    let p_gen = LrnParams { beta: 0.7, ..p };
    b.single("lrn_across_forward (beta 0.7, powf)", f4 * 3.0 * n as f64, 10.0 * n as f64, || {
        lrn_across_forward(&p_gen, batch, 96, plane, black_box(&x), &mut y2, &mut s2)
    });
    let dy = data(n, 4);
    let (mut dx, mut dx2) = (vec![0.0; n], vec![0.0; n]);
    b.pair(
        "lrn_across_backward",
        f4 * 5.0 * n as f64,
        16.0 * n as f64,
        || lrn_across_backward(&p, batch, 96, plane, &x, &y, &s, black_box(&dy), &mut dx),
        || lrn_across_backward_naive(&p, batch, 96, plane, &x, &y, &s, black_box(&dy), &mut dx2),
    );

    // --- ReLU on 96x55x55 --------------------------------------------------------------------
    println!("relu {batch}x96x55x55");
    let mut y = vec![0.0f32; n];
    let mut y2 = vec![0.0f32; n];
    b.pair(
        "relu_forward",
        f4 * 2.0 * n as f64,
        0.0,
        || relu_forward(black_box(&x), &mut y, 0.0),
        || relu_forward_naive(black_box(&x), &mut y2, 0.0),
    );
    let mut xy = x.clone();
    b.single("relu_forward_inplace", f4 * 2.0 * n as f64, 0.0, || {
        relu_forward_inplace(black_box(&mut xy), 0.0)
    });
    b.pair(
        "relu_backward",
        f4 * 3.0 * n as f64,
        0.0,
        || relu_backward(black_box(&x), &dy, &mut y, 0.0),
        || relu_backward_naive(black_box(&x), &dy, &mut y2, 0.0),
    );

    // --- stats / affine / scale / batch-norm over 256x13x13 -------------------------------------
    let (c, inner) = (256, 13 * 13);
    let n = batch * c * inner;
    let x = data(n, 5);
    println!("channel stats {batch}x256x13x13");
    let mut st = ChannelStats::new(c);
    let mut st2 = ChannelStats::new(c);
    b.pair(
        "ChannelStats::accumulate",
        f4 * n as f64,
        0.0,
        || st.accumulate(black_box(&x), batch, c, inner),
        || st2.accumulate_naive(black_box(&x), batch, c, inner),
    );
    let a = data(c, 6);
    let bb = data(c, 7);
    let mut w = x.clone();
    let mut w2 = x.clone();
    b.pair(
        "affine_channels",
        f4 * 2.0 * n as f64,
        0.0,
        || affine_channels(black_box(&mut w), batch, c, inner, &a, &bb),
        || affine_channels_naive(black_box(&mut w2), batch, c, inner, &a, &bb),
    );
    let (mut y, mut y2) = (vec![0.0f32; n], vec![0.0f32; n]);
    b.pair(
        "scale_channels_forward (+bias)",
        f4 * 2.0 * n as f64,
        0.0,
        || scale_channels_forward(black_box(&x), &mut y, batch, c, inner, Some(&a), Some(&bb)),
        || {
            scale_channels_forward_naive(
                black_box(&x),
                &mut y2,
                batch,
                c,
                inner,
                Some(&a),
                Some(&bb),
            )
        },
    );
    let (mut m, mut v) = (vec![0.0f32; c], vec![0.0f32; c]);
    let (mut m2, mut v2) = (vec![0.0f32; c], vec![0.0f32; c]);
    b.pair(
        "batch_norm_forward_train",
        f4 * 4.0 * n as f64,
        0.0,
        || batch_norm_forward_train(black_box(&x), &mut y, batch, c, inner, 1e-5, &mut m, &mut v),
        || {
            batch_norm_stats_naive(black_box(&x), batch, c, inner, &mut m2, &mut v2);
            y2.copy_from_slice(&x);
            batch_norm_normalize_naive(&mut y2, batch, c, inner, &m2, &v2, 1e-5);
        },
    );
    let dy = data(n, 8);
    let (mut dx, mut dx2) = (vec![0.0f32; n], vec![0.0f32; n]);
    b.pair(
        "batch_norm_backward_train",
        f4 * 5.0 * n as f64,
        0.0,
        || batch_norm_backward_train(&y, black_box(&dy), &mut dx, batch, c, inner, &v, 1e-5),
        || batch_norm_backward_train_naive(&y, black_box(&dy), &mut dx2, batch, c, inner, &v, 1e-5),
    );

    // --- softmax 1000 classes ------------------------------------------------------------------
    let n = batch * 1000;
    let x = data(n, 9);
    let dy = data(n, 10);
    println!("softmax {batch}x1000");
    let (mut y, mut y2) = (vec![0.0f32; n], vec![0.0f32; n]);
    let reps = Bench { reps: b.reps * 20, naive_reps: b.naive_reps * 20, peak };
    reps.pair(
        "softmax_forward",
        f4 * 2.0 * n as f64,
        0.0,
        || softmax_forward(black_box(&x), &mut y, batch, 1000, 1),
        || softmax_forward_naive(black_box(&x), &mut y2, batch, 1000, 1),
    );
    let (mut dx, mut dx2) = (vec![0.0f32; n], vec![0.0f32; n]);
    reps.pair(
        "softmax_backward",
        f4 * 3.0 * n as f64,
        0.0,
        || softmax_backward(&y, black_box(&dy), &mut dx, batch, 1000, 1),
        || softmax_backward_naive(&y, black_box(&dy), &mut dx2, batch, 1000, 1),
    );
    black_box((&dx, &dx2, &y2, &w, &w2, &st, &st2));
}
