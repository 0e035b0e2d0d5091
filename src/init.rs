//! Algorithm 1 of the paper (within-layer initialization), layer by layer as the original
//! script walks the net: every parameter layer gets Gaussian weights, its output over all
//! batches is measured per channel, and weights and bias are set so that each channel has mean
//! β and standard deviation 1. The measured output itself is mapped by the same per-channel
//! affine transform, so no layer runs twice.

use crate::error::{Error, Result};
use crate::feed::Feeder;
use crate::kernels::stats::{affine_channels, ChannelStats};
use crate::layers::{count, Layer};
use crate::net::forward::Workspace;
use crate::net::params::Params;
use crate::net::Net;
use crate::rng::Rng;
use crate::tensor::Tensor;
use std::time::Instant;

/// How weights are drawn before the data-dependent rescaling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightType {
    /// Independent N(0, 1) entries (the paper's "elwise" / Gaussian basis).
    Elwise,
    /// A basis computed from the layer's input patches (`fast`: fewer patches).
    Data {
        /// Which basis.
        basis: crate::bases::Basis,
        /// `fast_` variant.
        fast: bool,
    },
}

impl WeightType {
    /// The `-t` spelling.
    pub fn name(&self) -> String {
        match self {
            WeightType::Elwise => "elwise".into(),
            WeightType::Data { basis, fast } => {
                format!(
                    "{}{}",
                    if *fast { "fast_" } else { "" },
                    format!("{basis:?}").to_lowercase()
                )
            }
        }
    }
}

/// Options of Algorithm 1.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// β: the mean every initialised channel gets (`-b`, default 0.1).
    pub bias: f32,
    /// Number of batches (`-nit`).
    pub nit: usize,
    /// Re-initialise every parameter layer, even those with weights (`-z`).
    pub reinit_all: bool,
    /// At most this many bytes of a layer's output enter its statistics (`--mem-limit`);
    /// beyond it, a deterministic subset of whole images is used.
    pub stats_limit_bytes: usize,
    /// Seed of every random draw.
    pub seed: u64,
    /// Weight basis.
    pub weight_type: WeightType,
}

/// What happened to one layer.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Data written from the image source.
    Fed,
    /// Weights drawn and rescaled; the output statistics before rescaling.
    Initialised {
        /// The weight basis used (`elwise` when a data-driven one fell back).
        basis: String,
        /// Mean over channels of the raw per-channel means.
        raw_mean: f64,
        /// Mean over channels of the raw per-channel standard deviations.
        raw_std: f64,
        /// Channels whose output was constant (left finite, mean set to β).
        dead: usize,
    },
    /// BatchNorm statistics measured on the data.
    Statistics,
    /// Layer has weights (loaded or inline) and was left alone.
    Skipped,
    /// Just run forward.
    Forward,
}

/// One line of the progress report.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerReport {
    /// Layer name.
    pub name: String,
    /// Layer type.
    pub kind: &'static str,
    /// What was done.
    pub action: Action,
    /// Wall time for the layer, all batches.
    pub seconds: f64,
}

/// The outcome of a run.
#[derive(Clone, Debug, Default)]
pub struct InitReport {
    /// One entry per layer, in order.
    pub layers: Vec<LayerReport>,
    /// Images that went through the net (nit × batch size).
    pub images: usize,
    /// Warnings raised on the way.
    pub warnings: Vec<String>,
    /// Estimated peak bytes of activations and parameters.
    pub estimated_bytes: usize,
}

impl InitReport {
    /// Number of layers initialised.
    pub fn initialised(&self) -> usize {
        self.layers.iter().filter(|l| matches!(l.action, Action::Initialised { .. })).count()
    }
}

/// For each blob, the index of the last layer reading it (its producer if nobody does).
fn last_uses(net: &Net) -> Vec<usize> {
    let mut last = vec![0usize; net.blobs.len()];
    for (i, n) in net.nodes.iter().enumerate() {
        for &b in n.bottoms.iter().chain(&n.tops) {
            last[b] = last[b].max(i);
        }
    }
    last
}

/// Peak bytes of the activations kept for `nit` batches during the layer walk, plus the
/// parameters.
pub fn estimate_bytes(net: &Net, nit: usize) -> usize {
    let last = last_uses(net);
    let size = |b: usize| count(&net.blobs[b].shape) * 4 * nit;
    let mut live = vec![false; net.blobs.len()];
    let mut peak = 0usize;
    for (i, n) in net.nodes.iter().enumerate() {
        for &t in &n.tops {
            live[t] = true;
        }
        let now: usize = (0..net.blobs.len()).filter(|&b| live[b]).map(size).sum();
        peak = peak.max(now);
        for b in 0..net.blobs.len() {
            if live[b] && last[b] <= i {
                live[b] = false;
            }
        }
    }
    let params: usize = net.nodes.iter().flat_map(|n| &n.param_shapes).map(|s| count(s) * 4).sum();
    peak + params
}

/// Memory the kernel says is available, in bytes (Linux `MemAvailable`).
pub fn available_memory() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Peak resident memory of this process so far, in bytes (Linux `VmHWM`).
pub fn peak_rss() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// True when a weight blob holds nothing (Caffe's default fillers give zeros).
pub fn is_blank(t: &Tensor) -> bool {
    t.data().iter().map(|v| f64::from(v.abs())).sum::<f64>() <= 1e-10
}

struct Walk<'a> {
    net: &'a Net,
    params: &'a mut Params,
    ws: Workspace,
    /// Per blob, one tensor per batch while the blob is live.
    acts: Vec<Vec<Tensor>>,
    nit: usize,
}

impl Walk<'_> {
    /// Runs layer `i` on every batch, keeping its tops.
    fn run(&mut self, i: usize) {
        let node = &self.net.nodes[i];
        for b in 0..self.nit {
            for &id in &node.bottoms {
                std::mem::swap(&mut self.ws.blobs[id], &mut self.acts[id][b]);
            }
            for &id in &node.tops {
                if !node.bottoms.contains(&id) {
                    self.ws.blobs[id] = Tensor::zeros(&self.net.blobs[id].shape);
                }
            }
            self.ws.forward_node(self.net, self.params, i);
            for &id in &node.bottoms {
                std::mem::swap(&mut self.ws.blobs[id], &mut self.acts[id][b]);
            }
            for &id in &node.tops {
                if !node.bottoms.contains(&id) {
                    let t = std::mem::take(&mut self.ws.blobs[id]);
                    self.acts[id].push(t);
                }
            }
        }
    }
}

/// (outer, channels, inner) of an output blob whose channel axis is 1 (or the last axis of an
/// inner product's top).
pub fn channel_layout(layer: &Layer, shape: &[usize]) -> (usize, usize, usize) {
    match layer {
        Layer::InnerProduct(ip) => {
            (count(&shape[..ip.axis]), shape[ip.axis], count(&shape[ip.axis + 1..]))
        }
        _ => (
            shape.first().copied().unwrap_or(1),
            shape.get(1).copied().unwrap_or(1),
            count(shape.get(2..).unwrap_or(&[])),
        ),
    }
}

/// Per-channel statistics of `tensors` (several batches), on at most `limit` bytes: whole
/// images (outer index) are taken at a fixed stride when the data is larger.
fn channel_stats(tensors: &[&Tensor], layout: (usize, usize, usize), limit: usize) -> ChannelStats {
    let (outer, channels, inner) = layout;
    let item = channels * inner;
    let total = tensors.len() * outer * item * 4;
    let stride = total.div_ceil(limit.max(1)).max(1);
    let mut stats = ChannelStats::new(channels);
    let mut index = 0usize;
    for t in tensors {
        if stride == 1 {
            stats.accumulate(t.data(), outer, channels, inner);
            continue;
        }
        for o in 0..outer {
            if index % stride == 0 {
                stats.accumulate(&t.data()[o * item..(o + 1) * item], 1, channels, inner);
            }
            index += 1;
        }
    }
    stats
}

/// Multiplies output channel m's weights by `a[m]` (Convolution, InnerProduct with either
/// layout, Deconvolution with its (C, M/g, kh, kw) layout and groups).
fn scale_weights(layer: &Layer, w: &mut Tensor, a: &[f32]) {
    let shape = w.shape().to_vec();
    let data = w.data_mut();
    match layer {
        Layer::Deconvolution(d) => {
            let (c, mg, k) = (shape[0], shape[1], count(&shape[2..]));
            let per_group = c / d.p.group;
            for ci in 0..c {
                let g = ci / per_group;
                for m in 0..mg {
                    let s = a[g * mg + m];
                    data[(ci * mg + m) * k..(ci * mg + m + 1) * k].iter_mut().for_each(|v| *v *= s);
                }
            }
        }
        Layer::InnerProduct(ip) if ip.transpose => {
            for row in data.chunks_mut(shape[1]) {
                row.iter_mut().zip(a).for_each(|(v, s)| *v *= s);
            }
        }
        _ => {
            let k = count(&shape[1..]);
            for (row, s) in data.chunks_mut(k).zip(a) {
                row.iter_mut().for_each(|v| *v *= s);
            }
        }
    }
}

/// Fills `w` with a data-driven basis computed from the layer's input patches (all groups), or
/// says why it cannot.
fn draw_basis(
    layer: &Layer,
    bottoms: &[Tensor],
    w: &mut Tensor,
    basis: crate::bases::Basis,
    fast: bool,
    opts: &InitOptions,
    rng: &mut Rng,
) -> std::result::Result<(), String> {
    use crate::bases;
    let (dim, groups) =
        bases::layout(layer).ok_or("data-driven bases are for Convolution and InnerProduct")?;
    let n_out = match layer {
        Layer::InnerProduct(ip) => ip.num_output,
        _ => w.shape()[0],
    } / groups;
    let mut max_rows = (opts.stats_limit_bytes / (dim * 4)).max(1);
    if fast {
        max_rows = max_rows.min(bases::fast_samples(dim, n_out));
    }
    let inputs: Vec<&Tensor> = bottoms.iter().collect();
    for g in 0..groups {
        let (d, rows) = if basis == bases::Basis::Orthogonal {
            (Vec::new(), 0)
        } else {
            bases::gather(layer, &inputs, g, max_rows, rng)
        };
        let rows_w = bases::weights(basis, &d, rows, dim, n_out, rng)?;
        bases::place(layer, w, g, &rows_w);
    }
    Ok(())
}

/// Runs Algorithm 1 over the net with `nit` batches from `feeder`, writing into `params`.
/// `progress` is called after each layer.
pub fn initialize(
    net: &Net,
    params: &mut Params,
    feeder: &Feeder,
    opts: &InitOptions,
    progress: &mut dyn FnMut(&LayerReport),
) -> Result<InitReport> {
    if opts.nit == 0 {
        return Err(Error::input("-nit must be at least 1"));
    }
    let estimated = estimate_bytes(net, opts.nit);
    if let Some(avail) = available_memory() {
        if estimated > avail {
            return Err(Error::runtime(format!(
                "this run needs about {} MB for activations and parameters ({} batches of {}) but \
                 only {} MB are available; lower -nit or -bs",
                estimated >> 20,
                opts.nit,
                net.batch_size(),
                avail >> 20
            )));
        }
    }
    let mut report = InitReport { estimated_bytes: estimated, ..Default::default() };
    report.images = opts.nit * net.batch_size();
    if opts.reinit_all {
        for blobs in &mut params.blobs {
            blobs.iter_mut().for_each(|b| b.fill(0.0));
        }
    }
    let last = last_uses(net);
    let root = Rng::new(opts.seed);
    let mut walk = Walk {
        net,
        params,
        ws: Workspace::unallocated(net, opts.seed),
        acts: vec![Vec::new(); net.blobs.len()],
        nit: opts.nit,
    };
    for (i, node) in net.nodes.iter().enumerate() {
        let start = Instant::now();
        let action = match &node.layer {
            Layer::Input(_) => {
                for b in 0..opts.nit {
                    for &id in &node.tops {
                        walk.ws.blobs[id] = Tensor::zeros(&net.blobs[id].shape);
                    }
                    feeder.fill(net, &mut walk.ws, b)?;
                    for &id in &node.tops {
                        let t = std::mem::take(&mut walk.ws.blobs[id]);
                        walk.acts[id].push(t);
                    }
                }
                Action::Fed
            }
            layer if layer.is_weighted() => {
                if !is_blank(&walk.params.blobs[i][0]) {
                    walk.run(i);
                    Action::Skipped
                } else {
                    let mut rng = root.fork(0x1000_0000 + i as u64);
                    let mut used = WeightType::Elwise;
                    if let WeightType::Data { basis, fast } = opts.weight_type {
                        match draw_basis(
                            layer,
                            &walk.acts[node.bottoms[0]],
                            &mut walk.params.blobs[i][0],
                            basis,
                            fast,
                            opts,
                            &mut rng,
                        ) {
                            Ok(()) => used = opts.weight_type,
                            Err(why) => report.warnings.push(format!(
                                "layer \"{}\": no {} basis ({why}); using elwise",
                                node.name,
                                opts.weight_type.name()
                            )),
                        }
                    }
                    let blobs = &mut walk.params.blobs[i];
                    if used == WeightType::Elwise {
                        rng.fill_gaussian(blobs[0].data_mut(), 0.0, 1.0);
                    }
                    blobs.iter_mut().skip(1).for_each(|b| b.fill(0.0));
                    walk.run(i);
                    let tops: Vec<&Tensor> =
                        node.tops.iter().flat_map(|&t| walk.acts[t].iter()).collect();
                    let layout = channel_layout(layer, &net.blobs[node.tops[0]].shape);
                    let stats = channel_stats(&tops, layout, opts.stats_limit_bytes);
                    let channels = layout.1;
                    let has_bias = walk.params.blobs[i].len() > 1;
                    let (mut a, mut b) = (vec![0f32; channels], vec![0f32; channels]);
                    let (mut raw_mean, mut raw_std, mut dead) = (0.0, 0.0, 0);
                    for c in 0..channels {
                        let (mu, sd) = (stats.mean(c), stats.std(c));
                        raw_mean += mu / channels as f64;
                        raw_std += sd / channels as f64;
                        // A constant channel (dead input) cannot be normalised: keep its
                        // weights and move its mean to β.
                        let scale = if sd > 1e-20 && (1.0 / sd).is_finite() {
                            1.0 / sd
                        } else {
                            dead += 1;
                            1.0
                        };
                        a[c] = scale as f32;
                        b[c] =
                            if has_bias { (f64::from(opts.bias) - mu * scale) as f32 } else { 0.0 };
                    }
                    if dead > 0 {
                        report.warnings.push(format!(
                            "layer \"{}\": {dead} of {channels} output channels are constant on these \
                             images (dead input); their weights were left unscaled",
                            node.name
                        ));
                    }
                    let blobs = &mut walk.params.blobs[i];
                    scale_weights(layer, &mut blobs[0], &a);
                    if has_bias {
                        blobs[1].data_mut().copy_from_slice(&b);
                    }
                    let (outer, ch, inner) = layout;
                    for &t in &node.tops {
                        for tensor in &mut walk.acts[t] {
                            affine_channels(tensor.data_mut(), outer, ch, inner, &a, &b);
                        }
                    }
                    if !has_bias {
                        report.warnings.push(format!(
                            "layer \"{}\" has no bias term: its channels are scaled to std 1 but \
                             their mean cannot be moved to β",
                            node.name
                        ));
                    }
                    Action::Initialised { basis: used.name(), raw_mean, raw_std, dead }
                }
            }
            Layer::BatchNorm(bn) => {
                let blobs = &walk.params.blobs[i];
                let measured = blobs[2].data()[0] == 0.0;
                if measured {
                    let bottom = node.bottoms[0];
                    let inputs: Vec<&Tensor> = walk.acts[bottom].iter().collect();
                    let layout = (
                        net.blobs[bottom].shape[0],
                        bn.channels,
                        count(net.blobs[bottom].shape.get(2..).unwrap_or(&[])),
                    );
                    let stats = channel_stats(&inputs, layout, usize::MAX);
                    let mean: Vec<f32> = (0..bn.channels).map(|c| stats.mean(c) as f32).collect();
                    let var: Vec<f32> = (0..bn.channels).map(|c| stats.var(c) as f32).collect();
                    let set = |blobs: &mut Vec<Tensor>| {
                        blobs[0].data_mut().copy_from_slice(&mean);
                        blobs[1].data_mut().copy_from_slice(&var);
                        blobs[2].data_mut()[0] = 1.0;
                    };
                    set(&mut walk.params.blobs[i]);
                    walk.run(i);
                    // TRAIN-phase forward moves the running averages; keep the data's statistics.
                    set(&mut walk.params.blobs[i]);
                    Action::Statistics
                } else {
                    walk.run(i);
                    Action::Skipped
                }
            }
            Layer::Scale(s) => {
                let blobs = &mut walk.params.blobs[i];
                if !s.from_bottom && is_blank(&blobs[0]) {
                    // A Scale after BatchNorm starts as the identity (Caffe's usual filler 1).
                    blobs[0].fill(1.0);
                }
                walk.run(i);
                Action::Forward
            }
            Layer::PReLU(_) => {
                let blobs = &mut walk.params.blobs[i];
                if is_blank(&blobs[0]) {
                    // Caffe's default PReLU filler: constant 0.25.
                    blobs[0].fill(0.25);
                }
                walk.run(i);
                Action::Forward
            }
            _ => {
                walk.run(i);
                Action::Forward
            }
        };
        for &id in node.bottoms.iter().chain(&node.tops) {
            if last[id] <= i {
                walk.acts[id] = Vec::new();
            }
        }
        let entry = LayerReport {
            name: node.name.clone(),
            kind: node.layer.type_name(),
            action,
            seconds: start.elapsed().as_secs_f64(),
        };
        progress(&entry);
        report.layers.push(entry);
    }
    Ok(report)
}

/// Per-channel statistics of every parameter layer's output (measured right after the layer
/// runs, before any in-place layer changes it), over `nit` batches run through the whole net
/// with the same seed as [`initialize`] — so Dropout draws the same masks.
pub fn measure(
    net: &Net,
    params: &mut Params,
    feeder: &Feeder,
    nit: usize,
    seed: u64,
) -> Result<Vec<(usize, ChannelStats)>> {
    let weighted: Vec<usize> =
        (0..net.nodes.len()).filter(|&i| net.nodes[i].layer.is_weighted()).collect();
    measure_nodes(net, params, feeder, nit, seed, &weighted)
}

/// Like [`measure`], for the first top of each listed layer (in increasing order).
pub fn measure_nodes(
    net: &Net,
    params: &mut Params,
    feeder: &Feeder,
    nit: usize,
    seed: u64,
    nodes: &[usize],
) -> Result<Vec<(usize, ChannelStats)>> {
    let mut ws = Workspace::new(net, seed);
    let layout = |i: usize| {
        let n = &net.nodes[i];
        channel_layout(&n.layer, &net.blobs[n.tops[0]].shape)
    };
    let mut stats: Vec<(usize, ChannelStats)> = nodes
        .iter()
        .filter(|&&i| !net.nodes[i].tops.is_empty())
        .map(|&i| (i, ChannelStats::new(layout(i).1)))
        .collect();
    for b in 0..nit {
        feeder.fill(net, &mut ws, b)?;
        let mut next = 0;
        for i in 0..net.nodes.len() {
            ws.forward_node(net, params, i);
            while next < stats.len() && stats[next].0 == i {
                let node = &net.nodes[i];
                let tops: &[usize] =
                    if node.layer.is_weighted() { &node.tops } else { &node.tops[..1] };
                for &t in tops {
                    let (o, c, inner) = channel_layout(&node.layer, &net.blobs[t].shape);
                    stats[next].1.accumulate(ws.blobs[t].data(), o, c, inner);
                }
                next += 1;
            }
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::BuildOptions;

    fn build(text: &str) -> Net {
        let (p, s) = crate::prototxt::parse_net(text, "t").unwrap();
        let mut o = BuildOptions::default();
        o.input.batch = Some(4);
        Net::build(p, Some(&s), "t", &o).unwrap()
    }

    fn opts(nit: usize) -> InitOptions {
        InitOptions {
            bias: 0.1,
            nit,
            reinit_all: false,
            stats_limit_bytes: 500 << 20,
            seed: 9,
            weight_type: WeightType::Elwise,
        }
    }

    /// After initialisation every initialised layer's channels have mean β and std 1.
    fn check(net: &Net, params: &mut Params, feeder: &Feeder, o: &InitOptions, r: &InitReport) {
        for (i, s) in measure(net, params, feeder, o.nit, o.seed).unwrap() {
            if !matches!(r.layers[i].action, Action::Initialised { .. }) {
                continue;
            }
            for c in 0..s.channels() {
                let (m, sd) = (s.mean(c), s.std(c));
                assert!(
                    (m - f64::from(o.bias)).abs() < 1e-3,
                    "{} channel {c}: mean {m}",
                    net.nodes[i].name
                );
                assert!((sd - 1.0).abs() < 1e-3, "{} channel {c}: std {sd}", net.nodes[i].name);
            }
        }
    }

    #[test]
    fn small_dag_with_every_weighted_type_is_normalised() {
        let net = build(
            r#"layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 19 dim: 19 } } }
               layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 6 kernel_size: 3 stride: 2 group: 3 } }
               layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
               layer { name: "up" type: "Deconvolution" bottom: "conv" top: "up" convolution_param { num_output: 4 kernel_size: 4 stride: 2 group: 2 } }
               layer { name: "drop" type: "Dropout" bottom: "up" top: "up" }
               layer { name: "pool" type: "Pooling" bottom: "up" top: "pool" pooling_param { kernel_size: 2 stride: 2 } }
               layer { name: "fc" type: "InnerProduct" bottom: "pool" top: "fc" inner_product_param { num_output: 5 } }
               layer { name: "fct" type: "InnerProduct" bottom: "pool" top: "fct" inner_product_param { num_output: 3 transpose: true } }
               layer { name: "sum" type: "Eltwise" bottom: "fc" bottom: "fc" top: "sum" }"#,
        );
        let mut params = Params::new(&net);
        let feeder = Feeder::new(&net, None, None, None, 1.0, 3).unwrap();
        let o = opts(3);
        let r = initialize(&net, &mut params, &feeder, &o, &mut |_| {}).unwrap();
        assert_eq!(r.initialised(), 4);
        assert_eq!(r.images, 12);
        check(&net, &mut params, &feeder, &o, &r);
    }

    #[test]
    fn loaded_layers_are_kept_and_batchnorm_measured() {
        let net = build(
            r#"layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 8 dim: 8 } } }
               layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 4 kernel_size: 3 } }
               layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" }
               layer { name: "sc" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
               layer { name: "fc" type: "InnerProduct" bottom: "conv" top: "fc" inner_product_param { num_output: 3 } }"#,
        );
        let mut params = Params::new(&net);
        params.blobs[1][0]
            .data_mut()
            .iter_mut()
            .enumerate()
            .for_each(|(k, v)| *v = (k % 5) as f32 - 2.0);
        let before = params.blobs[1].clone();
        let feeder = Feeder::new(&net, None, None, None, 1.0, 3).unwrap();
        let o = opts(2);
        let r = initialize(&net, &mut params, &feeder, &o, &mut |_| {}).unwrap();
        let actions: Vec<&Action> = r.layers.iter().map(|l| &l.action).collect();
        assert!(matches!(actions[1], Action::Skipped));
        assert!(matches!(actions[2], Action::Statistics));
        assert!(matches!(actions[4], Action::Initialised { .. }));
        assert_eq!(params.blobs[1], before, "loaded conv untouched");
        assert_eq!(params.blobs[2][2].data(), &[1.0], "BatchNorm scale factor 1");
        assert!(params.blobs[3][0].data().iter().all(|&g| g == 1.0), "Scale starts at 1");
        check(&net, &mut params, &feeder, &o, &r);
        // -z re-initialises the loaded layer too.
        let z = InitOptions { reinit_all: true, ..opts(2) };
        let r = initialize(&net, &mut params, &feeder, &z, &mut |_| {}).unwrap();
        assert_eq!(r.initialised(), 2);
        assert_ne!(params.blobs[1], before);
    }

    #[test]
    fn dead_channels_stay_finite() {
        // A 1×1 convolution on a constant input: every channel is constant.
        let net = build(
            r#"layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 4 dim: 4 } } }
               layer { name: "zero" type: "Power" bottom: "data" top: "z" power_param { scale: 0 shift: 2 } }
               layer { name: "conv" type: "Convolution" bottom: "z" top: "conv" convolution_param { num_output: 3 kernel_size: 1 } }"#,
        );
        let mut params = Params::new(&net);
        let feeder = Feeder::new(&net, None, None, None, 1.0, 3).unwrap();
        let r = initialize(&net, &mut params, &feeder, &opts(2), &mut |_| {}).unwrap();
        assert!(params.blobs[2].iter().all(|b| b.data().iter().all(|v| v.is_finite())));
        assert!(
            r.warnings.iter().any(|w| w.contains("3 of 3 output channels are constant")),
            "{:?}",
            r.warnings
        );
        assert!(matches!(r.layers[2].action, Action::Initialised { dead: 3, .. }));
    }

    #[test]
    fn statistics_subsample_deterministically() {
        let t = Tensor::from_vec(&[4, 1, 2], vec![1., 1., 2., 2., 3., 3., 4., 4.]);
        let full = channel_stats(&[&t], (4, 1, 2), usize::MAX);
        assert_eq!(full.mean(0), 2.5);
        // 32 bytes of data, 16 allowed: every second image.
        let half = channel_stats(&[&t], (4, 1, 2), 16);
        assert_eq!((half.count, half.mean(0)), (4, 2.0));
    }

    #[test]
    fn memory_estimate_counts_live_activations() {
        let net = build(
            r#"layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 10 dim: 10 } } }
               layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 2 kernel_size: 1 bias_term: false } }"#,
        );
        // data (4×100) and c (4×200) floats live together, × 3 batches, + 2 weights.
        assert_eq!(estimate_bytes(&net, 3), (400 + 800) * 4 * 3 + 8);
    }
}
