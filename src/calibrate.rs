//! Algorithm 2 of the paper (between-layer scaling, `-cs`), as the original script's
//! calibrateGradientRatio runs it: random N(0, 1) diffs at the last non-softmax layer are
//! backpropagated; each parameter layer's change rate r_k = sqrt(mean(dW²) / mean(W²)) is
//! compared with their geometric mean (times the output std^(1/N)), and every layer is rescaled
//! by sqrt(r_k / target) until all rates agree within 1 % in log. Unlike the original, each r_k
//! is averaged over several random draws and batches (`--cs-draws`), so a small net does not
//! "converge" to the noise of a single draw.

use crate::error::{Error, Result};
use crate::feed::Feeder;
use crate::kernels::stats::{mean_abs, sum_sq, ChannelStats};
use crate::layers::{count, Layer};
use crate::net::forward::Workspace;
use crate::net::params::Params;
use crate::net::Net;
use crate::rng::Rng;

/// Options of Algorithm 2.
#[derive(Clone, Debug)]
pub struct CsOptions {
    /// Random top diffs (each on the next batch, cycling) averaged into every change rate.
    pub draws: usize,
    /// Batches the draws cycle through.
    pub batches: usize,
    /// Iterations at most (the original: 10).
    pub max_iterations: usize,
    /// Seed of the random diffs.
    pub seed: u64,
}

/// One measurement of the change rates.
#[derive(Clone, Debug, PartialEq)]
pub struct Rates {
    /// Node index and change rate of every parameter layer, in net order.
    pub layers: Vec<(usize, f64)>,
    /// Per layer, the change rate of each slice along the weight blob's axis 1 (input channels
    /// of a convolution, inputs of an inner product), as the original measure_stat reports.
    pub slices: Vec<Vec<f64>>,
    /// Mean over channels of the last layer's output std.
    pub output_std: f64,
}

impl Rates {
    /// Geometric mean of the rates.
    pub fn geometric_mean(&self) -> f64 {
        let n = self.layers.len().max(1) as f64;
        (self.layers.iter().map(|(_, r)| r.ln()).sum::<f64>() / n).exp()
    }

    /// max_k |log(r_k / geometric mean)|: 0 when all layers learn at the same rate.
    pub fn spread(&self) -> f64 {
        let g = self.geometric_mean().ln();
        self.layers.iter().map(|(_, r)| (r.ln() - g).abs()).fold(0.0, f64::max)
    }
}

/// What the calibration did.
#[derive(Clone, Debug, Default)]
pub struct CsReport {
    /// Measurements, one per iteration (the last one describes the final weights when
    /// `converged`).
    pub history: Vec<Rates>,
    /// Whether the 1 % criterion was met.
    pub converged: bool,
    /// Whether it stopped early because the spread stopped shrinking.
    pub stalled: bool,
    /// Warnings (output std drift).
    pub warnings: Vec<String>,
}

/// The layer whose tops receive the random diffs: the last one that is not a Softmax (the
/// original strips Softmax and loss layers).
pub fn last_layer(net: &Net) -> Result<usize> {
    net.nodes
        .iter()
        .rposition(|n| !matches!(n.layer, Layer::Softmax(_) | Layer::Input(_)))
        .ok_or_else(|| Error::input("the net has no layer to calibrate"))
}

/// Parameter layers (Convolution, Deconvolution, InnerProduct) up to `last`.
fn weighted(net: &Net, last: usize) -> Vec<usize> {
    (0..=last).filter(|&i| net.nodes[i].layer.is_weighted()).collect()
}

/// Mean |x| over a layer's bottoms.
fn bottom_scale(ws: &Workspace, net: &Net, i: usize) -> f64 {
    let b = &net.nodes[i].bottoms;
    b.iter().map(|&id| mean_abs(ws.blobs[id].data())).sum::<f64>() / b.len().max(1) as f64
}

/// Mean over channels of the per-channel std of a (N, C, ...) blob.
fn output_std(stats: &ChannelStats) -> f64 {
    let c = stats.channels();
    (0..c).map(|k| stats.std(k)).sum::<f64>() / c.max(1) as f64
}

fn channel_layout(shape: &[usize]) -> (usize, usize, usize) {
    (shape[0], shape.get(1).copied().unwrap_or(1), count(shape.get(2..).unwrap_or(&[])))
}

/// Measures the change rates: the draws are spread over the batches (one forward pass per
/// batch); each draw puts N(0, 1) diffs on the last layer's tops and runs a backward pass;
/// mean(dW²) is averaged over the draws.
pub fn measure_rates(
    net: &Net,
    params: &mut Params,
    feeder: &Feeder,
    ws: &mut Workspace,
    opts: &CsOptions,
    stream: u64,
) -> Result<Rates> {
    let last = last_layer(net)?;
    let layers = weighted(net, last);
    let mut grads = params.zeros_like();
    let mut sq: Vec<Vec<f64>> =
        layers.iter().map(|&k| vec![0.0; params.blobs[k][0].shape()[1]]).collect();
    let top = net.nodes[last].tops[0];
    let mut out = ChannelStats::new(channel_layout(&net.blobs[top].shape).1);
    let root = Rng::new(opts.seed).fork(stream);
    // One forward pass per batch, the draws spread over the batches.
    let batches = opts.batches.clamp(1, opts.draws);
    let first = layers[0];
    for b in 0..batches {
        feeder.fill(net, ws, b)?;
        for i in 0..=last {
            ws.forward_node(net, params, i);
        }
        let (o, c, inner) = channel_layout(&net.blobs[top].shape);
        out.accumulate(ws.blobs[top].data(), o, c, inner);
        for d in (b..opts.draws).step_by(batches) {
            ws.alloc_diffs(net);
            let mut rng = root.fork(d as u64);
            for &t in &net.nodes[last].tops {
                rng.fill_gaussian(ws.diffs[t].data_mut(), 0.0, 1.0);
            }
            for &k in &layers {
                grads.blobs[k].iter_mut().for_each(|g| g.fill(0.0));
            }
            ws.backward_range(net, params, &mut grads, first, last);
            for (s, &k) in sq.iter_mut().zip(&layers) {
                accumulate_slices(&grads.blobs[k][0], s);
            }
        }
    }
    let mut rates = Vec::with_capacity(layers.len());
    let mut slices = Vec::with_capacity(layers.len());
    for (&k, s) in layers.iter().zip(&sq) {
        let w = &params.blobs[k][0];
        let mean_w2 = sum_sq(w.data()) / w.len() as f64;
        let per: Vec<f64> = s.iter().map(|&v| (v / opts.draws as f64 / mean_w2).sqrt()).collect();
        let mean_sq = s.iter().sum::<f64>() / s.len() as f64 / opts.draws as f64;
        rates.push((k, (mean_sq / mean_w2).sqrt()));
        slices.push(per);
    }
    Ok(Rates { layers: rates, slices, output_std: output_std(&out) })
}

/// Adds, for each index j of axis 1 of `g`, the mean of g[:, j, ...]² to `out[j]`.
fn accumulate_slices(g: &crate::tensor::Tensor, out: &mut [f64]) {
    let shape = g.shape();
    let (rows, inner) = (shape[0], count(&shape[2..]));
    let per = (rows * inner) as f64;
    for chunk in g.data().chunks(shape[1] * inner) {
        for (j, o) in out.iter_mut().enumerate() {
            *o += sum_sq(&chunk[j * inner..(j + 1) * inner]) / per;
        }
    }
}

/// Runs Algorithm 2 on `params` in place. `progress` receives each iteration's measurement.
pub fn calibrate(
    net: &Net,
    params: &mut Params,
    feeder: &Feeder,
    opts: &CsOptions,
    progress: &mut dyn FnMut(usize, &Rates, f64),
) -> Result<CsReport> {
    if opts.draws == 0 {
        return Err(Error::input("--cs-draws must be at least 1"));
    }
    let last = last_layer(net)?;
    let layers = weighted(net, last);
    if layers.is_empty() {
        return Err(Error::input(
            "-cs: the net has no Convolution, Deconvolution or InnerProduct layer",
        ));
    }
    for &k in &layers {
        if crate::init::is_blank(&params.blobs[k][0]) {
            return Err(Error::input(format!(
                "-cs: layer \"{}\" has no weights (initialise it first)",
                net.nodes[k].name
            )));
        }
    }
    let mut ws = Workspace::new(net, opts.seed);
    // Mean |input| of every parameter layer on batch 0, to carry bias corrections.
    feeder.fill(net, &mut ws, 0)?;
    let mut scales = vec![0.0f64; net.nodes.len()];
    for (i, scale) in scales.iter_mut().enumerate().take(last + 1) {
        if layers.contains(&i) {
            *scale = bottom_scale(&ws, net, i);
        }
        ws.forward_node(net, params, i);
    }
    let mut report = CsReport::default();
    let mut out_std: Option<f64> = None;
    for it in 0..opts.max_iterations {
        let rates = measure_rates(net, params, feeder, &mut ws, opts, it as u64)?;
        let std0 = *out_std.get_or_insert(rates.output_std);
        let n = rates.layers.len() as f64;
        let target = rates.geometric_mean() * std0.powf(1.0 / n);
        progress(it, &rates, target);
        let done = rates.layers.iter().all(|(_, r)| (r.ln() / target.ln() - 1.0).abs() < 0.01);
        let step: Vec<(usize, f64)> =
            rates.layers.iter().map(|&(k, r)| (k, (r / target).sqrt())).collect();
        report.history.push(rates);
        if done {
            report.converged = true;
            break;
        }
        // Stalled: the spread has not shrunk by 10 % over the last three measurements. On nets
        // with parallel multi-layer branches (GoogLeNet) per-layer scales cannot equalise every
        // rate: scaling a branch's layers leaves the product of their rates unchanged.
        let h = &report.history;
        if h.len() >= 4 {
            let recent = h[h.len() - 3..].iter().map(Rates::spread).fold(f64::INFINITY, f64::min);
            if recent > 0.9 * h[h.len() - 4].spread() {
                report.stalled = true;
                break;
            }
        }
        // Rescale layer by layer on batch 0, moving each bias with the change of its input.
        feeder.fill(net, &mut ws, 0)?;
        for (i, scale) in scales.iter_mut().enumerate().take(last + 1) {
            if let Some(&(_, s)) = step.iter().find(|(k, _)| *k == i) {
                let current = bottom_scale(&ws, net, i);
                let adj = if *scale > 0.0 { current / *scale } else { 1.0 };
                *scale = current;
                for (j, blob) in params.blobs[i].iter_mut().enumerate() {
                    let f = if j == 0 { s } else { s * adj };
                    blob.data_mut().iter_mut().for_each(|v| *v *= f as f32);
                }
            }
            ws.forward_node(net, params, i);
        }
        let top = net.nodes[last].tops[0];
        let mut st = ChannelStats::new(channel_layout(&net.blobs[top].shape).1);
        let (o, c, inner) = channel_layout(&net.blobs[top].shape);
        st.accumulate(ws.blobs[top].data(), o, c, inner);
        let new_std = output_std(&st);
        if (new_std.ln() - std0.ln()).abs() > 0.25 {
            report.warnings.push(format!(
                "iteration {}: the output std moved from {std0:.4} to {new_std:.4}: one or more layers \
                 are not homogeneous; correcting for it",
                it + 1
            ));
        }
        out_std = Some(new_std);
    }
    Ok(report)
}
