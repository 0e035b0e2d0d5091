//! Bench: a whole AlexNet forward pass over a batch of 16 images (real JPEGs when
//! ../shared/data/images exists, else synthetic), per layer and in total, in GFLOP/s next to
//! the core's measured FMA peak. `MAGIC_BENCH_QUICK=1` (or `--quick`): batch 2, one pass.

use magic_init::feed::Feeder;
use magic_init::kernels::peak::fma_peak_gflops;
use magic_init::net::forward::Workspace;
use magic_init::net::params::Params;
use magic_init::net::{BuildOptions, Net};
use std::path::Path;
use std::time::Instant;

fn main() {
    let quick = std::env::var("MAGIC_BENCH_QUICK").is_ok_and(|v| v == "1")
        || std::env::args().any(|a| a == "--quick");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let proto = root.join("../shared/models/bvlc_alexnet_deploy.prototxt");
    if !proto.exists() {
        println!("forward bench: {} not present; skipped", proto.display());
        return;
    }
    let batch = if quick { 2 } else { 16 };
    let reps = if quick { 1 } else { 5 };
    let mut opts = BuildOptions::default();
    opts.input.batch = Some(batch);
    let net = Net::from_file(&proto, &opts).expect("AlexNet builds");
    let mut params = Params::new(&net);
    let mut rng = magic_init::rng::Rng::new(1);
    for blobs in &mut params.blobs {
        for b in blobs {
            rng.fill_gaussian(b.data_mut(), 0.0, 0.01);
        }
    }
    let images = root.join("../shared/data/images");
    let glob = images.is_dir().then(|| format!("{}/*.jpg", images.display()));
    let feeder = Feeder::new(&net, None, glob.as_deref(), None, 1.0, 0).expect("images");
    let mut ws = Workspace::new(&net, 0);
    feeder.fill(&net, &mut ws, 0).expect("batch");
    let peak = fma_peak_gflops();
    println!("AlexNet forward, batch {batch}, {}; FMA peak {peak:.1} GFLOP/s", feeder.description);

    let mut per_layer = vec![f64::INFINITY; net.nodes.len()];
    let mut best_total = f64::INFINITY;
    for _ in 0..reps {
        let t0 = Instant::now();
        for (i, best) in per_layer.iter_mut().enumerate() {
            let t = Instant::now();
            ws.forward_node(&net, &mut params, i);
            *best = best.min(t.elapsed().as_secs_f64());
        }
        best_total = best_total.min(t0.elapsed().as_secs_f64());
    }
    let mut flops_total = 0.0;
    for (node, &secs) in net.nodes.iter().zip(&per_layer) {
        let flops = 2.0 * net.node_macs_per_item(node) as f64 * batch as f64;
        flops_total += flops;
        if flops > 0.0 {
            let g = flops / secs / 1e9;
            println!(
                "  {:<6} {:>8.2} ms  {:>6.1} GFLOP/s  {:>5.1}% of peak",
                node.name,
                secs * 1e3,
                g,
                100.0 * g / peak
            );
        } else if secs > 2e-4 {
            println!("  {:<6} {:>8.2} ms", node.name, secs * 1e3);
        }
    }
    let g = flops_total / best_total / 1e9;
    println!(
        "  total  {:>8.2} ms  {:>6.1} GFLOP/s  {:>5.1}% of peak  ({:.2} ms per image)",
        best_total * 1e3,
        g,
        100.0 * g / peak,
        best_total * 1e3 / batch as f64
    );
}
