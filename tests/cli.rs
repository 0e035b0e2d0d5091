//! The one integration-test binary: the library on the model-zoo prototxts in `../shared/models`
//! (skipped with a note when absent) and on our own nets in `tests/data`, and the `magic-init`
//! binary end to end (outputs, exit codes, error messages).

use magic_init::layers::fmt_shape;
use magic_init::net::{BuildOptions, Net};
use magic_init::proto::caffe::Phase;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn models() -> Option<PathBuf> {
    let dir = repo().join("../shared/models");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("note: {} not present; skipping model-zoo checks", dir.display());
        None
    }
}

fn data(name: &str) -> PathBuf {
    repo().join("tests/data").join(name)
}

fn build(path: &Path, opts: &BuildOptions) -> Net {
    Net::from_file(path, opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn shape_of(net: &Net, blob: &str) -> String {
    let b =
        net.blobs.iter().rev().find(|b| b.name == blob).unwrap_or_else(|| panic!("no blob {blob}"));
    fmt_shape(&b.shape)
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_magic-init")).args(args).output().expect("run magic-init")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Options that let the LMDB-fed train/test files build (their image size is not in the file).
fn opts_for(file: &str, phase: Phase) -> BuildOptions {
    let mut o = BuildOptions { phase, ..Default::default() };
    if file.starts_with("lenet_train_test") {
        o.input.item_shape = Some(vec![1, 28, 28]);
    } else if file.starts_with("cifar10_quick_train_test") {
        o.input.item_shape = Some(vec![3, 32, 32]);
    }
    o
}

#[test]
fn every_zoo_model_builds_in_both_phases() {
    let Some(dir) = models() else { return };
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if !file.ends_with(".prototxt") {
            continue;
        }
        for phase in [Phase::Train, Phase::Test] {
            let net = build(&path, &opts_for(&file, phase));
            assert!(net.param_count() > 0, "{file}");
        }
        n += 1;
    }
    assert!(n >= 13, "expected the 13 zoo files, found {n}");
}

#[test]
fn alexnet_facts() {
    let Some(dir) = models() else { return };
    for file in [
        "bvlc_alexnet_deploy.prototxt",
        "alexnet_v1_deploy.prototxt",
        "bvlc_reference_caffenet_deploy.prototxt",
    ] {
        let net = build(&dir.join(file), &BuildOptions::default());
        assert_eq!(net.param_count(), 60_965_224, "{file}");
        let macs = net.macs_per_item();
        assert!((0.71e9..0.73e9).contains(&(macs as f64)), "{file}: {macs}");
        assert_eq!(shape_of(&net, "pool5"), "10×256×6×6");
        assert_eq!(shape_of(&net, "conv1"), "10×96×55×55");
        assert_eq!(shape_of(&net, "pool1"), "10×96×27×27");
        assert_eq!(shape_of(&net, "pool2"), "10×256×13×13");
        assert_eq!(shape_of(&net, "prob"), "10×1000");
        assert_eq!(net.outputs.len(), 1);
    }
    // The train_val file: ceil-mode pooling on the 227 crop, loss stripped, label left over.
    let net = build(&dir.join("bvlc_alexnet_train_val.prototxt"), &BuildOptions::default());
    assert_eq!(shape_of(&net, "data"), "256×3×227×227");
    assert_eq!(shape_of(&net, "pool5"), "256×256×6×6");
    assert!(net.node("loss").is_none());
    let test = build(&dir.join("bvlc_alexnet_train_val.prototxt"), &opts_for("", Phase::Test));
    assert_eq!(shape_of(&test, "data"), "50×3×227×227");
    assert!(test.node("accuracy").is_none());
}

#[test]
fn googlenet_shapes_and_splits() {
    let Some(dir) = models() else { return };
    let net = build(&dir.join("bvlc_googlenet_deploy.prototxt"), &BuildOptions::default());
    for (blob, shape) in [
        ("conv1/7x7_s2", "10×64×112×112"),
        ("pool1/3x3_s2", "10×64×56×56"),
        ("pool2/3x3_s2", "10×192×28×28"),
        ("inception_3a/output", "10×256×28×28"),
        ("inception_3b/output", "10×480×28×28"),
        ("pool3/3x3_s2", "10×480×14×14"),
        ("inception_4e/output", "10×832×14×14"),
        ("pool4/3x3_s2", "10×832×7×7"),
        ("inception_5b/output", "10×1024×7×7"),
        ("pool5/7x7_s1", "10×1024×1×1"),
        ("prob", "10×1000"),
    ] {
        assert_eq!(shape_of(&net, blob), shape, "{blob}");
    }
    let split = net.node("pool3/3x3_s2_pool3/3x3_s2_0_split").expect("Caffe's split name");
    assert_eq!(split.tops.len(), 4);
    // One 4-way split in front of each of the 9 inception modules.
    assert_eq!(net.nodes.iter().filter(|n| n.layer.type_name() == "Split").count(), 9);
    assert_eq!(net.param_count(), 6_998_552);
}

#[test]
fn small_zoo_nets() {
    let Some(dir) = models() else { return };
    let lenet = build(&dir.join("lenet.prototxt"), &BuildOptions::default());
    assert_eq!(shape_of(&lenet, "conv1"), "64×20×24×24");
    assert_eq!(shape_of(&lenet, "pool2"), "64×50×4×4");
    assert_eq!(lenet.param_count(), 431_080);
    let tt =
        build(&dir.join("lenet_train_test.prototxt"), &opts_for("lenet_train_test", Phase::Test));
    assert_eq!(shape_of(&tt, "data"), "100×1×28×28");
    assert_eq!(shape_of(&tt, "ip2"), "100×10");
    let cifar = build(&dir.join("cifar10_quick.prototxt"), &BuildOptions::default());
    assert_eq!(shape_of(&cifar, "pool1"), "1×32×16×16");
    assert_eq!(shape_of(&cifar, "pool3"), "1×64×4×4");
    let full = build(&dir.join("cifar10_full.prototxt"), &BuildOptions::default());
    assert_eq!(shape_of(&full, "pool3"), "1×64×4×4");
    assert_eq!(full.param_count(), 89_578);
}

#[test]
fn v1_and_v2_files_build_the_same_net() {
    let Some(dir) = models() else { return };
    for (v1, v2) in [
        ("alexnet_v1_deploy.prototxt", "bvlc_alexnet_deploy.prototxt"),
        ("lenet_v1.prototxt", "lenet.prototxt"),
        ("cifar10_quick_v1.prototxt", "cifar10_quick.prototxt"),
        ("alexnet_v1_train_val.prototxt", "bvlc_alexnet_train_val.prototxt"),
    ] {
        let a = build(&dir.join(v1), &BuildOptions::default());
        let b = build(&dir.join(v2), &BuildOptions::default());
        let shapes = |n: &Net| -> Vec<(String, Vec<Vec<usize>>)> {
            n.nodes.iter().skip(1).map(|x| (x.name.clone(), x.param_shapes.clone())).collect()
        };
        assert_eq!(shapes(&a), shapes(&b), "{v1}");
        let blobs = |n: &Net| n.blobs.iter().map(|b| b.shape.clone()).collect::<Vec<_>>();
        assert_eq!(blobs(&a), blobs(&b), "{v1}");
    }
}

#[test]
fn our_all_layers_net() {
    let net = build(&data("all_layers.prototxt"), &BuildOptions::default());
    for (blob, shape) in [
        ("conv1", "2×6×9×9"),
        ("pool1", "2×6×5×5"),
        ("conv2a", "2×4×5×5"),
        ("conv2b", "2×4×5×5"),
        ("cat", "2×14×5×5"),
        ("s1", "2×10×5×5"),
        ("s2", "2×4×5×5"),
        ("up", "2×2×10×10"),
        ("flat", "2×200"),
        ("fc", "2×12"),
        ("r", "2×3×4"),
        ("prob", "2×3×4"),
    ] {
        assert_eq!(shape_of(&net, blob), shape, "{blob}");
    }
    // norm1 feeds three layers: Caffe's split, and the loss layer was stripped.
    assert!(net.node("norm1_norm1_0_split").is_some());
    assert!(net.node("loss").is_none());
    let param = |name: &str| net.node(name).unwrap().param_shapes.clone();
    assert_eq!(param("bn1"), vec![vec![6], vec![6], vec![1]]);
    assert_eq!(param("conv2a"), vec![vec![4, 3, 1, 1], vec![4]]);
    assert_eq!(param("up"), vec![vec![10, 2, 4, 4], vec![2]]);
    assert_eq!(param("fc"), vec![vec![12, 200], vec![12]]);
    let in_place = net.node("relu").unwrap();
    assert_eq!(in_place.tops, in_place.bottoms);
}

#[test]
fn phase_rules_pick_the_layers() {
    let train = build(&data("phases.prototxt"), &BuildOptions::default());
    let names: Vec<&str> = train.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["train_data", "conv", "drop", "fc"]);
    assert_eq!(shape_of(&train, "conv"), "8×8×28×28");
    let test =
        build(&data("phases.prototxt"), &BuildOptions { phase: Phase::Test, ..Default::default() });
    let names: Vec<&str> = test.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["test_data", "conv", "fc"]);
    assert_eq!(shape_of(&test, "conv"), "4×8×24×24");
}

#[test]
fn info_through_the_binary() {
    let Some(dir) = models() else { return };
    let alex = dir.join("bvlc_alexnet_deploy.prototxt");
    let o = run(&["info", alex.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("pool5  Pooling       conv5 → pool5   10×256×6×6"), "{out}");
    assert!(out.contains("60,965,224 parameters"), "{out}");
    assert!(out.contains("(724.4M)"), "{out}");
    let o = run(&["info", alex.to_str().unwrap(), "--json", "-bs", "16", "--phase", "test"]);
    let json = stdout(&o);
    assert!(o.status.success());
    assert!(json.starts_with("{\"name\":\"AlexNet\",\"phase\":\"TEST\",\"batch\":16,"), "{json}");
    assert!(json.contains("\"total_params\":60965224"), "{json}");
    assert!(json.contains("\"top_shapes\":[[16,256,6,6]]"), "{json}");
    // Data-fed train/test file: a clear hint, then success with the shape given.
    let lenet = dir.join("lenet_train_test.prototxt");
    let o = run(&["info", lenet.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("lenet_train_test.prototxt:2:1: layer \"mnist\" (Data)"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--input-shape"));
    let o = run(&["info", lenet.to_str().unwrap(), "--input-shape", "1,28,28"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn upgrade_through_the_binary() {
    let Some(dir) = models() else { return };
    let v1 = dir.join("alexnet_v1_deploy.prototxt");
    let o = run(&["upgrade", v1.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("layer {\n  name: \"conv1\"\n  type: \"Convolution\"\n"), "{text}");
    assert!(!text.contains("layers {") && !text.contains("input_dim"));
    let (printed, _) = magic_init::prototxt::parse_net(&text, "upgraded").unwrap();
    let (v2, _) =
        magic_init::prototxt::read_net_file(&dir.join("bvlc_alexnet_deploy.prototxt")).unwrap();
    assert_eq!(printed.layer[1..], v2.layer[1..]);
    // Written to a file atomically.
    let out = std::env::temp_dir().join(format!("mi-upgrade-{}.prototxt", std::process::id()));
    let o = run(&["upgrade", v1.to_str().unwrap(), out.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
    std::fs::remove_file(out).unwrap();
}

fn write_temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mi-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_input_exits_2_with_a_located_message() {
    let input = r#"layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 4 dim: 8 dim: 8 } } }
"#;
    let cases = [
        ("syntax.prototxt", format!("{input}layer {{ name: \"c\" type: \"Convolution\" convolution_param {{ num_output: 3 kernel_size: 3 stride: -1 }} }}"),
         "syntax.prototxt:2:96: value of `stride` out of range [0, 4294967295]"),
        ("unknown.prototxt", format!("{input}layer {{ name: \"x\" type: \"Frobnicate\" bottom: \"data\" top: \"y\" }}"),
         "unknown.prototxt:2:1: layer \"x\" (Frobnicate): unknown layer type \"Frobnicate\""),
        ("bottom.prototxt", format!("{input}layer {{ name: \"r\" type: \"ReLU\" bottom: \"dta\" top: \"r\" }}"),
         "bottom.prototxt:2:1: layer \"r\" (ReLU): bottom \"dta\" is not produced by any earlier layer"),
        ("stride.prototxt", format!("{input}layer {{ name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\" convolution_param {{ num_output: 2 kernel_size: 3 stride: 0 }} }}"),
         "layer \"c\" (Convolution): convolution_param: stride must be nonzero"),
        ("big.prototxt", format!("{input}layer {{ name: \"p\" type: \"Pooling\" bottom: \"data\" top: \"p\" pooling_param {{ kernel_size: 9 }} }}"),
         "layer \"p\" (Pooling): pooling kernel 9×9 is larger than the padded input 8×8"),
        ("group.prototxt", format!("{input}layer {{ name: \"g\" type: \"Convolution\" bottom: \"data\" top: \"g\" convolution_param {{ num_output: 6 kernel_size: 1 group: 3 }} }}"),
         "layer \"g\" (Convolution): convolution_param.group 3 must divide both the input channels (4)"),
        ("twice.prototxt", format!("{input}layer {{ name: \"a\" type: \"ReLU\" bottom: \"data\" top: \"data2\" }}\nlayer {{ name: \"b\" type: \"ReLU\" bottom: \"data\" top: \"data2\" }}"),
         "twice.prototxt:3:1: layer \"b\" (ReLU): top \"data2\" is produced by multiple sources"),
    ];
    for (name, text, want) in cases {
        let p = write_temp(name, &text);
        let o = run(&["info", p.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(want), "{name}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let o = run(&["info", "/nonexistent/net.prototxt"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read /nonexistent/net.prototxt"));
    let o = run(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["--help"]);
    assert!(o.status.success() && stdout(&o).contains("USAGE"));
}

fn images() -> Option<String> {
    let dir = repo().join("../shared/data/images");
    if dir.is_dir() {
        Some(format!("{}/*.jpg", dir.display()))
    } else {
        eprintln!("note: {} not present; skipping real-image checks", dir.display());
        None
    }
}

/// Gaussian weights with the given std, zero biases (BatchNorm left at its zero statistics).
fn random_params(net: &Net, std: f32, seed: u64) -> magic_init::net::params::Params {
    let mut params = magic_init::net::params::Params::new(net);
    let mut rng = magic_init::rng::Rng::new(seed);
    for (node, blobs) in net.nodes.iter().zip(&mut params.blobs) {
        if node.layer.is_weighted() {
            rng.fill_gaussian(blobs[0].data_mut(), 0.0, std);
        }
    }
    params
}

#[test]
fn zoo_nets_run_forward_on_real_images() {
    let (Some(dir), Some(glob)) = (models(), images()) else { return };
    use magic_init::feed::Feeder;
    use magic_init::net::forward::Workspace;
    for (file, batch, out) in
        [("bvlc_alexnet_deploy.prototxt", 4, "prob"), ("bvlc_googlenet_deploy.prototxt", 2, "prob")]
    {
        for phase in [Phase::Train, Phase::Test] {
            let mut opts = BuildOptions { phase, ..Default::default() };
            opts.input.batch = Some(batch);
            let net = build(&dir.join(file), &opts);
            let mut params = random_params(&net, 0.01, 1);
            let feeder = Feeder::new(&net, None, Some(&glob), None, 1.0, 0).unwrap();
            let mut ws = Workspace::new(&net, 0);
            feeder.fill(&net, &mut ws, 1).unwrap();
            let data = ws.blob(&net, "data").unwrap();
            assert!(data.data().iter().any(|&v| v != 0.0));
            ws.forward(&net, &mut params);
            for (b, t) in net.blobs.iter().zip(&ws.blobs) {
                assert!(t.data().iter().all(|v| v.is_finite()), "{file}: {} not finite", b.name);
            }
            let prob = ws.blob(&net, out).unwrap();
            assert_eq!(prob.shape(), &[batch, 1000]);
            for row in prob.data().chunks(1000) {
                let s: f32 = row.iter().sum();
                assert!((s - 1.0).abs() < 1e-4, "{file}: softmax row sums to {s}");
                assert!(row.iter().all(|&p| p >= 0.0));
            }
        }
    }
}

#[test]
fn lenet_runs_on_fashion_mnist_and_synthetic_images() {
    let Some(dir) = models() else { return };
    use magic_init::feed::Feeder;
    use magic_init::net::forward::Workspace;
    let net = build(&dir.join("lenet.prototxt"), &BuildOptions::default());
    let mut params = random_params(&net, 0.1, 2);
    let fashion = repo().join("../shared/data/labeled/fashion_mnist");
    let glob =
        if fashion.is_dir() { Some(format!("{}/**/*.png", fashion.display())) } else { None };
    for g in [glob.as_deref(), None] {
        let feeder = Feeder::new(&net, None, g, None, 1.0 / 255.0, 0).unwrap();
        assert_eq!(feeder.mean, [0.0], "1-channel nets get mean 0");
        assert_eq!(feeder.warnings.len(), usize::from(g.is_none()));
        let mut ws = Workspace::new(&net, 0);
        feeder.fill(&net, &mut ws, 0).unwrap();
        let x = ws.blob(&net, "data").unwrap().data();
        assert!(x.iter().all(|&v| (0.0..=1.0).contains(&v)) && x.iter().any(|&v| v > 0.0));
        ws.forward(&net, &mut params);
        let prob = ws.blob(&net, "prob").unwrap();
        for row in prob.data().chunks(10) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }
}

fn tmp_dir(tag: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("mi-{tag}-{}-{k}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the main command, then re-runs the written model forward over the same batches and
/// checks every initialised layer's channels: |mean − β| < 1e-3 and |std − 1| < 1e-3.
fn init_and_verify(
    proto: &Path,
    glob: Option<&str>,
    extra: &[&str],
    bs: usize,
    nit: usize,
    scale: f32,
) {
    let dir = tmp_dir("verify");
    let out = dir.join(format!("{}.caffemodel", proto.file_stem().unwrap().to_string_lossy()));
    let (bs_s, nit_s, scale_s) = (bs.to_string(), nit.to_string(), scale.to_string());
    let mut args = vec![
        proto.to_str().unwrap(),
        out.to_str().unwrap(),
        "-bs",
        &bs_s,
        "-nit",
        &nit_s,
        "-s",
        &scale_s,
        "-q",
    ];
    if let Some(g) = glob {
        args.extend(["-d", g]);
    }
    args.extend(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let phase =
        if extra.windows(2).any(|w| w == ["--phase", "test"]) { Phase::Test } else { Phase::Train };
    let mut opts = BuildOptions { phase, ..Default::default() };
    opts.input.batch = Some(bs);
    let net = build(proto, &opts);
    let mut params = magic_init::net::params::Params::new(&net);
    let (model, _) = magic_init::caffemodel::read_model(&out).unwrap();
    magic_init::caffemodel::load_into(&net, &mut params, &model, "out").unwrap();
    let feeder = magic_init::feed::Feeder::new(&net, Some(proto), glob, None, scale, 1).unwrap();
    let stats = magic_init::init::measure(&net, &mut params, &feeder, nit, 1).unwrap();
    assert!(!stats.is_empty());
    for (i, s) in stats {
        // Without a bias term only the scale can be set.
        let has_bias = net.nodes[i].param_shapes.len() > 1;
        for c in 0..s.channels() {
            let (m, sd) = (s.mean(c), s.std(c));
            let name = &net.nodes[i].name;
            assert!(
                !has_bias || (m - 0.1).abs() < 1e-3,
                "{}: {name} channel {c} mean {m}",
                proto.display()
            );
            assert!((sd - 1.0).abs() < 1e-3, "{}: {name} channel {c} std {sd}", proto.display());
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn init_gives_unit_statistics_on_zoo_nets_with_real_images() {
    let (Some(dir), Some(glob)) = (models(), images()) else { return };
    init_and_verify(&dir.join("bvlc_alexnet_deploy.prototxt"), Some(&glob), &[], 8, 4, 1.0);
    init_and_verify(&dir.join("cifar10_quick.prototxt"), Some(&glob), &[], 16, 4, 1.0);
    init_and_verify(
        &dir.join("cifar10_full.prototxt"),
        Some(&glob),
        &["--phase", "test"],
        16,
        3,
        1.0,
    );
    let fashion = repo().join("../shared/data/labeled/fashion_mnist");
    if fashion.is_dir() {
        let g = format!("{}/test/*/*.png", fashion.display());
        init_and_verify(&dir.join("lenet.prototxt"), Some(&g), &[], 32, 4, 1.0 / 255.0);
    }
}

#[test]
fn init_on_our_own_nets_with_synthetic_images() {
    init_and_verify(&data("all_layers.prototxt"), None, &[], 4, 3, 1.0);
    init_and_verify(&data("all_layers.prototxt"), None, &["--phase", "test"], 4, 3, 1.0);
}

#[test]
fn init_is_reproducible_quiet_and_respects_loaded_layers() {
    let dir = tmp_dir("repro");
    let proto = data("all_layers.prototxt");
    let p = proto.to_str().unwrap();
    let file = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let (a, b, c, d) =
        (file("a.caffemodel"), file("b.caffemodel"), file("c.caffemodel"), file("d.caffemodel"));
    let o = run(&[p, &a, "-nit", "2", "-bs", "2", "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "-q prints nothing on success: {}", stdout(&o));
    assert!(stderr(&o).contains("synthetic"), "warns about synthetic images: {}", stderr(&o));
    let o = run(&[p, &b, "-nit", "2", "-bs", "2"]);
    assert!(
        stdout(&o).contains("conv1")
            && stdout(&o).contains("done: 5 layers initialised on 4 images"),
        "{}",
        stdout(&o)
    );
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "same seed, same bytes");
    run(&[p, &c, "-nit", "2", "-bs", "2", "--seed", "2", "-q"]);
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
    // Loading the result: every weighted layer already has weights and is kept.
    let o = run(&[p, &d, "-nit", "2", "-bs", "2", "-l", &c]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("has weights, kept")
            && stdout(&o).contains("done: 0 layers initialised"),
        "{}",
        stdout(&o)
    );
    let load = |f: &str| magic_init::caffemodel::read_model(Path::new(f)).unwrap().0;
    let weights = |m: &magic_init::proto::caffe::NetParameter| -> Vec<Vec<f32>> {
        m.layer
            .iter()
            .filter(|l| l.r#type() != "BatchNorm")
            .flat_map(|l| l.blobs.iter().map(|b| b.data.clone()))
            .collect()
    };
    assert_eq!(weights(&load(&d)), weights(&load(&c)));
    // -z starts over.
    let o = run(&[p, &d, "-nit", "2", "-bs", "2", "-l", &c, "-z"]);
    assert!(stdout(&o).contains("done: 5 layers initialised"), "{}", stdout(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn init_rejects_bad_flags_and_files_without_writing() {
    let dir = tmp_dir("bad");
    let out = dir.join("out.caffemodel");
    let o_s = out.to_str().unwrap();
    let proto = data("all_layers.prototxt");
    let p = proto.to_str().unwrap();
    for (args, want) in [
        (vec![p, o_s, "-t", "gaussian"], "unknown type"),
        (vec![p, o_s, "-t", "fast_orthogonal"], "unknown type"),
        (vec![p, o_s, "-cs", "--cs-draws", "0"], "--cs-draws"),
        (vec![p, o_s, "-nit", "0"], "-nit"),
        (vec![p, o_s, "-bs", "x"], "-bs: invalid value"),
        (vec![p, o_s, "--mem-limit", "0"], "--mem-limit"),
        (vec![p, o_s, "--mean", "1,2"], "--mean has 2 values"),
        (vec![p], "missing OUTPUT"),
        (vec![p, o_s, "--frobnicate"], "unknown option --frobnicate"),
        (vec!["/nonexistent.prototxt", o_s], "cannot read /nonexistent.prototxt"),
        (vec![p, o_s, "-d", "/nonexistent/*.jpg"], "/nonexistent/*.jpg"),
        (vec![p, o_s, "-l", "/nonexistent.caffemodel"], "/nonexistent.caffemodel"),
        (vec![p, "/nonexistent/dir/out.caffemodel"], "does not exist"),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert!(!out.exists(), "{args:?} left an output file");
    }
    // A model whose blobs do not fit the net.
    let other = dir.join("other.caffemodel");
    let lenet = models().map(|m| m.join("lenet.prototxt"));
    if let Some(lenet) = lenet {
        assert!(run(&[
            lenet.to_str().unwrap(),
            other.to_str().unwrap(),
            "-nit",
            "1",
            "-bs",
            "1",
            "-q"
        ])
        .status
        .success());
        let o = run(&[p, o_s, "-l", other.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2));
        assert!(!out.exists());
    }
    assert!(std::fs::read_dir(&dir).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains(".tmp")));
    std::fs::remove_dir_all(dir).unwrap();
}

/// After `-cs`, re-measuring the change rates with 16 fresh draws gives rates that agree.
fn cs_and_verify(proto: &Path, glob: &str, bs: usize, nit: usize, limit: f64) -> f64 {
    let dir = tmp_dir("cs");
    let out = dir.join("cs.caffemodel");
    let (bs_s, nit_s) = (bs.to_string(), nit.to_string());
    let o = run(&[
        proto.to_str().unwrap(),
        out.to_str().unwrap(),
        "-d",
        glob,
        "-bs",
        &bs_s,
        "-nit",
        &nit_s,
        "-cs",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("converged after"), "{}{}", stdout(&o), stderr(&o));
    let mut opts = BuildOptions::default();
    opts.input.batch = Some(bs);
    let net = build(proto, &opts);
    let mut params = magic_init::net::params::Params::new(&net);
    let (model, _) = magic_init::caffemodel::read_model(&out).unwrap();
    magic_init::caffemodel::load_into(&net, &mut params, &model, "cs").unwrap();
    let feeder = magic_init::feed::Feeder::new(&net, None, Some(glob), None, 1.0, 1).unwrap();
    let mut ws = magic_init::net::forward::Workspace::new(&net, 99);
    let cs =
        magic_init::calibrate::CsOptions { draws: 16, batches: nit, max_iterations: 1, seed: 1234 };
    let rates =
        magic_init::calibrate::measure_rates(&net, &mut params, &feeder, &mut ws, &cs, 7).unwrap();
    let spread = rates.spread();
    assert!(
        spread < limit,
        "{}: change rates spread {spread}: {:?}",
        proto.display(),
        rates.layers
    );
    std::fs::remove_dir_all(dir).unwrap();
    spread
}

#[test]
fn cs_balances_change_rates_on_alexnet_and_cifar10() {
    let (Some(dir), Some(glob)) = (models(), images()) else { return };
    let a = cs_and_verify(&dir.join("bvlc_alexnet_deploy.prototxt"), &glob, 8, 4, 0.05);
    let c = cs_and_verify(&dir.join("cifar10_quick.prototxt"), &glob, 16, 4, 0.1);
    eprintln!("re-measured spread after -cs: AlexNet {a:.4}, CIFAR-10 quick {c:.4}");
}

#[test]
fn cs_works_on_a_dag_and_on_a_loaded_model() {
    let dir = tmp_dir("csdag");
    let proto = data("all_layers.prototxt");
    let p = proto.to_str().unwrap();
    let a = dir.join("a.caffemodel");
    let b = dir.join("b.caffemodel");
    let o = run(&[p, a.to_str().unwrap(), "-nit", "2", "-bs", "2", "-cs", "--cs-draws", "4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("iteration 1"), "{}", stdout(&o));
    // Rescaling a loaded (already initialised) model.
    let o = run(&[
        p,
        b.to_str().unwrap(),
        "-nit",
        "2",
        "-bs",
        "2",
        "-l",
        a.to_str().unwrap(),
        "-cs",
        "--cs-draws",
        "4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("done: 0 layers initialised"), "{}", stdout(&o));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn stat_reports_json_text_and_a_wellformed_svg() {
    let dir = tmp_dir("stat");
    let proto = data("small_convnet.prototxt");
    let p = proto.to_str().unwrap();
    let model = dir.join("m.caffemodel");
    assert!(run(&[p, model.to_str().unwrap(), "-nit", "2", "-bs", "4", "-q"]).status.success());
    let m = model.to_str().unwrap();
    let o = run(&["stat", p, "-l", m, "-nit", "2", "-bs", "4", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = stdout(&o);
    assert!(j.starts_with(r#"{"layers":[{"name":"conv1","type":"Convolution","top":"conv1","channels":32,"mean":["#), "{j}");
    for key in
        [r#""std":["#, r#""out_std":"#, r#""out_cvar":"#, r#""rate_cvar":"#, r#""rate_mean":"#]
    {
        assert_eq!(j.matches(key).count(), 5, "{key} once per parameter layer: {j}");
    }
    let all = stdout(&run(&["stat", p, "-l", m, "-nit", "2", "-bs", "4", "--json", "-a"]));
    assert!(all.matches(r#""name":"#).count() >= 15, "-a lists every layer: {all}");
    assert!(
        all.contains(r#""name":"pool1","type":"Pooling""#) && all.contains(r#""rate_cvar":null"#)
    );
    let o = run(&["stat", p, "-l", m, "-nit", "2", "-bs", "4", "-nc"]);
    let t = stdout(&o);
    assert!(
        t.contains("conv1 (Convolution) : conv1") && t.contains("summary") && !t.contains('\x1b'),
        "{t}"
    );
    let sm = stdout(&run(&["stat", p, "-l", m, "-nit", "2", "-bs", "4", "-sm", "-nc"]));
    assert!(sm.starts_with("summary") && sm.contains("fc5"), "{sm}");
    let svg_path = dir.join("chart.svg");
    let o = run(&[
        "stat",
        p,
        "-l",
        m,
        "-nit",
        "2",
        "-bs",
        "4",
        "-sm",
        "--svg",
        svg_path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"")
            && svg.trim_end().ends_with("</svg>")
    );
    // Well-formed: tags nest and close properly.
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg.as_str();
    while let Some(i) = rest.find('<') {
        let end = rest[i..].find('>').expect("tag closes") + i;
        let tag = &rest[i + 1..end];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap().to_string());
        }
        rest = &rest[end + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
    assert_eq!(svg.matches("<circle").count(), 10, "std and rate for each of 5 layers");
    assert_eq!(run(&["stat"]).status.code(), Some(2));
    assert_eq!(run(&["stat", p, "--frobnicate"]).status.code(), Some(2));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn without_d_the_imagedata_list_of_the_prototxt_is_used() {
    let Some(glob) = images() else { return };
    let dir = tmp_dir("list");
    let files: Vec<PathBuf> = std::fs::read_dir(glob.trim_end_matches("/*.jpg"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .take(3)
        .collect();
    // Caffe's list format: path, a space, a label; relative to the prototxt's folder here.
    let mut list = String::new();
    for (i, f) in files.iter().enumerate() {
        let name = format!("img {i}.jpg");
        std::fs::copy(f, dir.join(&name)).unwrap();
        list.push_str(&format!("{name} {i}\n"));
    }
    std::fs::write(dir.join("list.txt"), list).unwrap();
    let proto = dir.join("net.prototxt");
    std::fs::write(
        &proto,
        r#"layer { name: "data" type: "ImageData" top: "data" top: "label"
             image_data_param { source: "list.txt" batch_size: 2 new_height: 24 new_width: 24 } }
           layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 4 kernel_size: 3 } }
           layer { name: "loss" type: "SoftmaxWithLoss" bottom: "conv" bottom: "label" top: "loss" }"#,
    )
    .unwrap();
    let out = dir.join("out.caffemodel");
    let o = run(&[proto.to_str().unwrap(), out.to_str().unwrap(), "-nit", "2", "-bs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("3 images listed in"), "{}", stdout(&o));
    assert!(!stderr(&o).contains("synthetic"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn data_driven_bases_initialise_cifar10_with_unit_statistics() {
    let (Some(dir), Some(glob)) = (models(), images()) else { return };
    let proto = dir.join("cifar10_quick.prototxt");
    for t in ["pca", "zca", "kmeans", "rand", "orthogonal", "fast_kmeans", "fast_pca"] {
        init_and_verify(&proto, Some(&glob), &["-t", t], 16, 8, 1.0);
    }
    // Same seed, same bytes, for a type that draws random numbers along the way.
    let d = tmp_dir("kmeans");
    let (a, b) = (d.join("a.caffemodel"), d.join("b.caffemodel"));
    for out in [&a, &b] {
        let o = run(&[
            proto.to_str().unwrap(),
            out.to_str().unwrap(),
            "-d",
            &glob,
            "-t",
            "kmeans",
            "-nit",
            "4",
            "-q",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn data_driven_bases_initialise_alexnet_conv_layers_with_unit_statistics() {
    let (Some(dir), Some(glob)) = (models(), images()) else { return };
    let proto = dir.join("bvlc_alexnet_deploy.prototxt");
    // 8 images: conv1–conv5 get their basis; the fully connected layers have fewer patches
    // than outputs and fall back to elwise (checked too).
    for t in ["kmeans", "pca", "zca", "rand", "orthogonal"] {
        init_and_verify(&proto, Some(&glob), &["-t", t], 8, 1, 1.0);
    }
}
