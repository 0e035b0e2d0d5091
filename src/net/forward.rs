//! The interpreter: a workspace holding every blob's activations and diffs and every layer's
//! state, running the net's layers forward in order and backward in reverse (in-place layers
//! share their blob and its diff; blob diffs are overwritten, parameter diffs accumulate).

use super::params::Params;
use super::Net;
use crate::layers::{Ctx, LayerState};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Activations and per-layer state for one net at its build-time shapes.
pub struct Workspace {
    /// Activations by blob id.
    pub blobs: Vec<Tensor>,
    /// Diffs by blob id (allocated by [`Workspace::alloc_diffs`]).
    pub diffs: Vec<Tensor>,
    /// Compute the diffs of the net's inputs too (off by default: nothing reads them, and for
    /// a first convolution they cost as much as its forward pass).
    pub input_diffs: bool,
    /// Per blob: written by an input layer (its diff is never needed).
    from_input: Vec<bool>,
    /// Forward state by node.
    pub states: Vec<LayerState>,
    /// One deterministic random stream per node (Dropout masks).
    rngs: Vec<Rng>,
    scratch: Vec<f32>,
}

/// Per blob, whether an input layer writes it.
fn from_input(net: &Net) -> Vec<bool> {
    let mut v = vec![false; net.blobs.len()];
    for n in net.nodes.iter().filter(|n| matches!(n.layer, crate::layers::Layer::Input(_))) {
        n.tops.iter().for_each(|&t| v[t] = true);
    }
    v
}

impl Workspace {
    /// Zero activations for every blob; node i's random stream is `Rng::new(seed).fork(i)`.
    pub fn new(net: &Net, seed: u64) -> Workspace {
        let root = Rng::new(seed);
        Workspace {
            blobs: net.blobs.iter().map(|b| Tensor::zeros(&b.shape)).collect(),
            diffs: Vec::new(),
            input_diffs: false,
            from_input: from_input(net),
            states: vec![LayerState::default(); net.nodes.len()],
            rngs: (0..net.nodes.len()).map(|i| root.fork(i as u64)).collect(),
            scratch: Vec::new(),
        }
    }

    /// Like [`Workspace::new`] but without allocating activations: the caller swaps its own
    /// tensors into `blobs` before running a layer (the initializer keeps one per batch).
    pub fn unallocated(net: &Net, seed: u64) -> Workspace {
        let root = Rng::new(seed);
        Workspace {
            blobs: vec![Tensor::default(); net.blobs.len()],
            diffs: Vec::new(),
            input_diffs: false,
            from_input: from_input(net),
            states: vec![LayerState::default(); net.nodes.len()],
            rngs: (0..net.nodes.len()).map(|i| root.fork(i as u64)).collect(),
            scratch: Vec::new(),
        }
    }

    /// The activations of the blob called `name` (the last blob of that name).
    pub fn blob(&self, net: &Net, name: &str) -> Option<&Tensor> {
        net.blobs.iter().rposition(|b| b.name == name).map(|i| &self.blobs[i])
    }

    /// Runs every layer in order (input layers leave their tops as the caller filled them).
    pub fn forward(&mut self, net: &Net, params: &mut Params) {
        for i in 0..net.nodes.len() {
            self.forward_node(net, params, i);
        }
    }

    /// Runs layer `i` forward.
    pub fn forward_node(&mut self, net: &Net, params: &mut Params, i: usize) {
        let node = &net.nodes[i];
        let in_place = !node.tops.is_empty() && node.bottoms.first() == node.tops.first();
        // Take the tops out so the bottoms can be borrowed alongside them.
        let mut tops: Vec<Tensor> =
            node.tops.iter().map(|&t| std::mem::take(&mut self.blobs[t])).collect();
        let skip = usize::from(in_place);
        let bottoms: Vec<&Tensor> = node.bottoms[skip..].iter().map(|&b| &self.blobs[b]).collect();
        let mut cx =
            Ctx { scratch: &mut self.scratch, rng: &mut self.rngs[i], need_bottom_diff: true };
        node.layer.forward(
            &bottoms,
            &mut tops,
            in_place,
            &mut params.blobs[i],
            &mut self.states[i],
            &mut cx,
        );
        for (&t, tensor) in node.tops.iter().zip(tops) {
            self.blobs[t] = tensor;
        }
    }

    /// Allocates (or zeroes) a diff for every blob.
    pub fn alloc_diffs(&mut self, net: &Net) {
        if self.diffs.len() == net.blobs.len() {
            self.diffs.iter_mut().for_each(|d| d.fill(0.0));
        } else {
            self.diffs = net.blobs.iter().map(|b| Tensor::zeros(&b.shape)).collect();
        }
    }

    /// Runs layers `last` down to 0 backward (input layers do nothing). The caller sets the
    /// diffs of `last`'s tops; `grads` (shaped like `params`) accumulates parameter diffs.
    /// Diffs of the net's inputs are not computed (nothing consumes them).
    pub fn backward(&mut self, net: &Net, params: &Params, grads: &mut Params, last: usize) {
        self.backward_range(net, params, grads, 0, last);
    }

    /// Like [`Workspace::backward`], but stops after layer `first`.
    pub fn backward_range(
        &mut self,
        net: &Net,
        params: &Params,
        grads: &mut Params,
        first: usize,
        last: usize,
    ) {
        if self.diffs.len() != net.blobs.len() {
            self.alloc_diffs(net);
        }
        for i in (first..=last).rev() {
            self.backward_node(net, params, grads, i);
        }
    }

    /// Runs layer `i` backward.
    pub fn backward_node(&mut self, net: &Net, params: &Params, grads: &mut Params, i: usize) {
        let node = &net.nodes[i];
        if node.bottoms.is_empty() {
            return;
        }
        let in_place = !node.tops.is_empty() && node.bottoms.first() == node.tops.first();
        let mut bottom_diffs: Vec<Tensor> =
            node.bottoms.iter().map(|&b| std::mem::take(&mut self.diffs[b])).collect();
        let skip = usize::from(in_place);
        let bottoms: Vec<&Tensor> = node.bottoms[skip..].iter().map(|&b| &self.blobs[b]).collect();
        let tops: Vec<&Tensor> = node.tops.iter().map(|&t| &self.blobs[t]).collect();
        let top_diffs: Vec<&Tensor> =
            if in_place { Vec::new() } else { node.tops.iter().map(|&t| &self.diffs[t]).collect() };
        // Bottoms fed by input layers need no diff.
        let need_bottom_diff =
            self.input_diffs || node.bottoms.iter().any(|&b| !self.from_input[b]);
        let mut cx = Ctx { scratch: &mut self.scratch, rng: &mut self.rngs[i], need_bottom_diff };
        node.layer.backward(
            &bottoms,
            &tops,
            &top_diffs,
            &mut bottom_diffs,
            in_place,
            &params.blobs[i],
            &mut grads.blobs[i],
            &self.states[i],
            &mut cx,
        );
        for (&b, d) in node.bottoms.iter().zip(bottom_diffs) {
            self.diffs[b] = d;
        }
    }

    /// Bytes held by activations and layer state.
    pub fn bytes(&self) -> usize {
        let state: usize = self
            .states
            .iter()
            .map(|s| {
                s.argmax.capacity() * 4
                    + s.mask.capacity()
                    + (s.scale.capacity()
                        + s.saved.capacity()
                        + s.mean.capacity()
                        + s.var.capacity())
                        * 4
            })
            .sum();
        self.blobs.iter().chain(&self.diffs).map(Tensor::bytes).sum::<usize>()
            + state
            + self.scratch.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{BuildOptions, Net};
    use crate::proto::caffe::Phase;

    fn net(text: &str, phase: Phase) -> Net {
        let (p, spans) = crate::prototxt::parse_net(text, "t").unwrap();
        Net::build(p, Some(&spans), "t", &BuildOptions { phase, ..Default::default() }).unwrap()
    }

    const SMALL: &str = r#"
        layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 3 dim: 3 } } }
        layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
                convolution_param { num_output: 1 kernel_size: 2 } }
        layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
        layer { name: "max" type: "Pooling" bottom: "conv" top: "max" pooling_param { kernel_size: 2 stride: 1 } }
        layer { name: "ave" type: "Pooling" bottom: "conv" top: "ave" pooling_param { pool: AVE kernel_size: 2 } }
        layer { name: "cat" type: "Concat" bottom: "max" bottom: "ave" top: "cat" }
        layer { name: "fc" type: "InnerProduct" bottom: "cat" top: "fc" inner_product_param { num_output: 1 } }
    "#;

    #[test]
    fn hand_computed_small_net() {
        let n = net(SMALL, Phase::Train);
        let mut params = Params::new(&n);
        let conv = n.nodes.iter().position(|x| x.name == "conv").unwrap();
        params.blobs[conv][0].data_mut().copy_from_slice(&[1.0, 0.0, 0.0, 1.0]);
        params.blobs[conv][1].data_mut()[0] = 0.5;
        let fc = n.nodes.iter().position(|x| x.name == "fc").unwrap();
        params.blobs[fc][0].data_mut().copy_from_slice(&[2.0, -1.0]);
        params.blobs[fc][1].data_mut()[0] = -1.0;
        let mut ws = Workspace::new(&n, 1);
        ws.blobs[0].data_mut().copy_from_slice(&[1., 2., 3., 4., 5., 6., 7., 8., 9.]);
        ws.forward(&n, &mut params);
        // conv: x[i,j] + x[i+1,j+1] + 0.5; ReLU keeps it; max 14.5; ave (6.5+8.5+12.5+14.5)/4.
        assert_eq!(ws.blob(&n, "conv").unwrap().data(), &[6.5, 8.5, 12.5, 14.5]);
        assert_eq!(ws.blob(&n, "cat").unwrap().data(), &[14.5, 10.5]);
        assert_eq!(ws.blob(&n, "fc").unwrap().data(), &[2.0 * 14.5 - 10.5 - 1.0]);
    }

    const DROP: &str = r#"
        layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 4 dim: 1000 } } }
        layer { name: "drop" type: "Dropout" bottom: "data" top: "data" dropout_param { dropout_ratio: 0.25 } }
    "#;

    #[test]
    fn dropout_train_is_seeded_and_scaled_test_is_identity() {
        let run = |phase, seed| {
            let n = net(DROP, phase);
            let mut params = Params::new(&n);
            let mut ws = Workspace::new(&n, seed);
            ws.blobs[0].fill(3.0);
            ws.forward(&n, &mut params);
            ws.blobs[0].data().to_vec()
        };
        let a = run(Phase::Train, 7);
        assert_eq!(a, run(Phase::Train, 7), "same seed, same mask");
        assert_ne!(a, run(Phase::Train, 8));
        assert!(a.iter().all(|&v| v == 0.0 || v == 4.0), "kept values scaled by 1/(1-p)");
        let kept = a.iter().filter(|&&v| v != 0.0).count() as f64 / a.len() as f64;
        assert!((kept - 0.75).abs() < 0.03, "{kept}");
        assert!(run(Phase::Test, 7).iter().all(|&v| v == 3.0));
    }

    #[test]
    fn batch_norm_updates_and_uses_its_statistics() {
        let text = r#"
            layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 2 dim: 1 dim: 2 } } }
            layer { name: "bn" type: "BatchNorm" bottom: "data" top: "bn" batch_norm_param { eps: 0 } }
        "#;
        let x = [1.0, 3.0, 10.0, 10.0, 5.0, 7.0, 20.0, 40.0];
        let n = net(text, Phase::Train);
        let mut params = Params::new(&n);
        let mut ws = Workspace::new(&n, 0);
        ws.blobs[0].data_mut().copy_from_slice(&x);
        ws.forward(&n, &mut params);
        // Channel 0: values 1,3,5,7 → mean 4, var 5; channel 1: 10,10,20,40 → mean 20, var 150.
        let y = ws.blob(&n, "bn").unwrap().data().to_vec();
        let s5 = 5f32.sqrt();
        assert!((y[0] + 3.0 / s5).abs() < 1e-6 && (y[5] - 3.0 / s5).abs() < 1e-6, "{y:?}");
        let bn = &params.blobs[1];
        assert_eq!((bn[0].data(), bn[2].data()), (&[4.0, 20.0][..], &[1.0][..]));
        // Unbiased running variance: var · m/(m−1) with m = 4.
        assert!((bn[1].data()[0] - 5.0 * 4.0 / 3.0).abs() < 1e-5);
        // TEST phase reads the stored statistics.
        let t = net(text, Phase::Test);
        let mut ws = Workspace::new(&t, 0);
        ws.blobs[0].data_mut().copy_from_slice(&x);
        ws.forward(&t, &mut params);
        let y = ws.blob(&t, "bn").unwrap().data();
        assert!((y[0] - (1.0 - 4.0) / (5.0f32 * 4.0 / 3.0).sqrt()).abs() < 1e-5, "{y:?}");
    }

    #[test]
    fn every_layer_type_runs_and_stays_finite() {
        let text = include_str!("../../tests/data/all_layers.prototxt");
        for phase in [Phase::Train, Phase::Test] {
            let n = net(text, phase);
            let mut params = Params::new(&n);
            let mut rng = Rng::new(3);
            for (node, blobs) in n.nodes.iter().zip(&mut params.blobs) {
                if node.layer.type_name() == "BatchNorm" {
                    blobs[2].fill(1.0);
                    blobs[1].fill(1.0);
                    continue;
                }
                for b in blobs.iter_mut() {
                    rng.fill_gaussian(b.data_mut(), 0.0, 0.3);
                }
            }
            let mut ws = Workspace::new(&n, 5);
            rng.fill_gaussian(ws.blobs[0].data_mut(), 0.0, 1.0);
            ws.forward(&n, &mut params);
            for (b, t) in n.blobs.iter().zip(&ws.blobs) {
                assert!(t.data().iter().all(|v| v.is_finite()), "{} in {phase:?}", b.name);
            }
            let prob = ws.blob(&n, "prob").unwrap();
            // Softmax along axis 2 of (2, 3, 4).
            for row in prob.data().chunks(4) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            }
            let s1 = ws.blob(&n, "s1").unwrap();
            assert_eq!(s1.shape(), &[2, 10, 5, 5]);
        }
    }
}
