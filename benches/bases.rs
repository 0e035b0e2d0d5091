//! Bench: the data-driven weight bases. Full mode: the time of each `-t` type for the whole
//! AlexNet initialisation with `-nit 10 -bs 16` on real images (when ../shared is present),
//! and the eigendecomposition of a 2304×2304 covariance (AlexNet conv3's input dimension).
//! `MAGIC_BENCH_QUICK=1` (or `--quick`): CIFAR-10 quick with 2 batches and a 300×300 matrix.

use magic_init::feed::Feeder;
use magic_init::init::{initialize, InitOptions, WeightType};
use magic_init::net::params::Params;
use magic_init::net::{BuildOptions, Net};
use std::path::Path;
use std::time::Instant;

fn main() {
    let quick = std::env::var("MAGIC_BENCH_QUICK").is_ok_and(|v| v == "1")
        || std::env::args().any(|a| a == "--quick");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    let n = if quick { 300 } else { 2304 };
    let rows = if quick { 2000 } else { 20_000 };
    let mut rng = magic_init::rng::Rng::new(1);
    let d: Vec<f32> = (0..rows * n).map(|_| rng.gaussian()).collect();
    let t = Instant::now();
    let (_, cov) = magic_init::linalg::covariance(&d, rows, n);
    let t_cov = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (vals, _) = magic_init::linalg::symmetric_eigen(&cov, n);
    let t_eig = t.elapsed().as_secs_f64();
    println!(
        "covariance {rows}×{n}: {t_cov:.2} s ({:.1} GFLOP/s); eigendecomposition {n}×{n}: {t_eig:.2} s (largest eigenvalue {:.1})",
        rows as f64 * n as f64 * n as f64 / t_cov / 1e9,
        vals[n - 1]
    );

    let (file, nit, bs) = if quick {
        ("cifar10_quick.prototxt", 2, 16)
    } else {
        ("bvlc_alexnet_deploy.prototxt", 10, 16)
    };
    let proto = root.join("../shared/models").join(file);
    let images = root.join("../shared/data/images");
    if !proto.exists() {
        println!("bases bench: {} not present; skipped", proto.display());
        return;
    }
    let glob = images.is_dir().then(|| format!("{}/*.jpg", images.display()));
    let mut opts = BuildOptions::default();
    opts.input.batch = Some(bs);
    let net = Net::from_file(&proto, &opts).expect("net builds");
    let feeder = Feeder::new(&net, None, glob.as_deref(), None, 1.0, 1).expect("images");
    println!("{file}, -nit {nit} -bs {bs}, {}", feeder.description);
    for t in ["elwise", "pca", "zca", "kmeans", "rand", "orthogonal", "fast_pca", "fast_kmeans"] {
        let weight_type = match t {
            "elwise" => WeightType::Elwise,
            other => {
                let (fast, base) =
                    other.strip_prefix("fast_").map_or((false, other), |b| (true, b));
                let basis = match base {
                    "pca" => magic_init::bases::Basis::Pca,
                    "zca" => magic_init::bases::Basis::Zca,
                    "kmeans" => magic_init::bases::Basis::Kmeans,
                    "rand" => magic_init::bases::Basis::Rand,
                    _ => magic_init::bases::Basis::Orthogonal,
                };
                WeightType::Data { basis, fast }
            }
        };
        let o = InitOptions {
            bias: 0.1,
            nit,
            reinit_all: false,
            stats_limit_bytes: 500 << 20,
            seed: 1,
            weight_type,
        };
        let mut params = Params::new(&net);
        let start = Instant::now();
        let report = initialize(&net, &mut params, &feeder, &o, &mut |_| {}).expect("init");
        println!(
            "  {t:<12} {:>7.2} s  ({} layers)",
            start.elapsed().as_secs_f64(),
            report.initialised()
        );
    }
}
