//! Test support: checks every layer's backward against central finite differences of its
//! forward, on a one-layer net fed by Input layers, with loss L = Σ_k ⟨top_k, R_k⟩ for fixed
//! random R_k. Inputs are drawn away from kinks (|x| ≥ 0.2, distinct values for max-type layers).

use crate::net::forward::Workspace;
use crate::net::params::Params;
use crate::net::{BuildOptions, Net};
use crate::proto::caffe::Phase;
use crate::rng::Rng;
use crate::tensor::Tensor;

/// Builds `Input` layers `in0, in1, ...` with `shapes` in front of `layer` (which must read
/// them) and checks d L / d (every bottom and parameter element, up to 40 sampled each).
pub fn check(layer: &str, shapes: &[&[usize]], phase: Phase) {
    let mut text = String::new();
    for (i, s) in shapes.iter().enumerate() {
        let dims: Vec<String> = s.iter().map(|d| format!("dim: {d}")).collect();
        text.push_str(&format!(
            "layer {{ name: \"in{i}\" type: \"Input\" top: \"in{i}\" input_param {{ shape {{ {} }} }} }}\n",
            dims.join(" ")
        ));
    }
    text.push_str(layer);
    let (p, spans) = crate::prototxt::parse_net(&text, "gradcheck").unwrap();
    let net =
        Net::build(p, Some(&spans), "gradcheck", &BuildOptions { phase, ..Default::default() })
            .unwrap();
    let last = net.nodes.len() - 1;
    let mut rng = Rng::new(42);
    // Inputs: distinct magnitudes ≥ 0.2 with random signs, so no ReLU kink or max tie is near.
    let inputs: Vec<Vec<f32>> = shapes
        .iter()
        .map(|s| {
            let n: usize = s.iter().product();
            let mut v: Vec<f32> = (0..n).map(|k| 0.2 + 1.3 * (k as f32 + 0.5) / n as f32).collect();
            for i in (1..n).rev() {
                v.swap(i, rng.below(i as u64 + 1) as usize);
            }
            v.iter().map(|&m| if rng.bernoulli(0.5) { m } else { -m }).collect()
        })
        .collect();
    let mut params = Params::new(&net);
    for (node, blobs) in net.nodes.iter().zip(&mut params.blobs) {
        if node.layer.type_name() == "BatchNorm" {
            rng.fill_gaussian(blobs[0].data_mut(), 0.0, 0.5);
            blobs[1].data_mut().iter_mut().for_each(|v| *v = 0.5 + rng.uniform_f32());
            blobs[2].fill(1.0);
            continue;
        }
        for b in blobs.iter_mut() {
            rng.fill_gaussian(b.data_mut(), 0.0, 0.5);
        }
    }
    let tops: Vec<usize> = net.nodes[last].tops.clone();
    let r: Vec<Vec<f32>> = tops
        .iter()
        .map(|&t| {
            let mut v = vec![0.0; net.blobs[t].shape.iter().product()];
            rng.fill_gaussian(&mut v, 0.0, 1.0);
            v
        })
        .collect();
    // Masked tops (a pooling argmax top) carry no gradient.
    let weighted_tops = if net.nodes[last].layer.type_name() == "Pooling" { 1 } else { tops.len() };
    let loss = |inputs: &[Vec<f32>], params: &mut Params| -> f64 {
        let mut ws = Workspace::new(&net, 7);
        for (i, x) in inputs.iter().enumerate() {
            ws.blobs[net.nodes[i].tops[0]].data_mut().copy_from_slice(x);
        }
        ws.forward(&net, params);
        tops.iter()
            .zip(&r)
            .take(weighted_tops)
            .map(|(&t, r)| {
                ws.blobs[t]
                    .data()
                    .iter()
                    .zip(r)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum::<f64>()
            })
            .sum()
    };
    // Analytic gradients.
    let mut ws = Workspace::new(&net, 7);
    for (i, x) in inputs.iter().enumerate() {
        ws.blobs[net.nodes[i].tops[0]].data_mut().copy_from_slice(x);
    }
    let mut fwd_params = params.clone();
    ws.forward(&net, &mut fwd_params);
    ws.input_diffs = true;
    ws.alloc_diffs(&net);
    for (k, &t) in tops.iter().enumerate().take(weighted_tops) {
        ws.diffs[t].data_mut().copy_from_slice(&r[k]);
    }
    let mut grads = params.zeros_like();
    ws.backward(&net, &params, &mut grads, last);
    let eps = 1e-2f32;
    let close = |num: f64, ana: f64, what: &str| {
        let tol = 2e-2 * num.abs().max(ana.abs()).max(1.0);
        assert!((num - ana).abs() <= tol, "{layer}\n{what}: numeric {num} vs analytic {ana}");
    };
    for (i, x) in inputs.iter().enumerate() {
        let analytic: &Tensor = &ws.diffs[net.nodes[i].tops[0]];
        let step = (x.len() / 40).max(1);
        for e in (0..x.len()).step_by(step) {
            let mut plus = inputs.clone();
            plus[i][e] += eps;
            let mut minus = inputs.clone();
            minus[i][e] -= eps;
            let num = (loss(&plus, &mut params.clone()) - loss(&minus, &mut params.clone()))
                / (2.0 * f64::from(eps));
            close(num, f64::from(analytic.data()[e]), &format!("d/d in{i}[{e}]"));
        }
    }
    for (j, blob) in params.blobs[last].iter().enumerate() {
        if net.nodes[last].layer.type_name() == "BatchNorm" {
            break; // statistics, not learned
        }
        let step = (blob.len() / 40).max(1);
        for e in (0..blob.len()).step_by(step) {
            let mut plus = params.clone();
            plus.blobs[last][j].data_mut()[e] += eps;
            let mut minus = params.clone();
            minus.blobs[last][j].data_mut()[e] -= eps;
            let num =
                (loss(&inputs, &mut plus) - loss(&inputs, &mut minus)) / (2.0 * f64::from(eps));
            close(num, f64::from(grads.blobs[last][j].data()[e]), &format!("d/d param {j}[{e}]"));
        }
    }
}

macro_rules! gradcheck {
    ($name:ident, $layer:expr, [$($shape:expr),+]) => {
        gradcheck!($name, $layer, [$($shape),+], Phase::Train);
    };
    ($name:ident, $layer:expr, [$($shape:expr),+], $phase:expr) => {
        #[test]
        fn $name() {
            check($layer, &[$(&$shape),+], $phase);
        }
    };
}

gradcheck!(
    convolution,
    r#"layer { name: "l" type: "Convolution" bottom: "in0" top: "y"
    convolution_param { num_output: 4 kernel_size: 3 stride: 2 pad: 1 group: 2 } }"#,
    [[2, 4, 5, 5]]
);
gradcheck!(
    convolution_two_bottoms,
    r#"layer { name: "l" type: "Convolution" bottom: "in0" bottom: "in1"
    top: "y0" top: "y1" convolution_param { num_output: 2 kernel_size: 2 dilation: 2 } }"#,
    [[1, 2, 5, 5], [1, 2, 5, 5]]
);
gradcheck!(
    deconvolution,
    r#"layer { name: "l" type: "Deconvolution" bottom: "in0" top: "y"
    convolution_param { num_output: 4 kernel_size: 3 stride: 2 pad: 1 group: 2 } }"#,
    [[2, 2, 3, 3]]
);
gradcheck!(
    inner_product,
    r#"layer { name: "l" type: "InnerProduct" bottom: "in0" top: "y"
    inner_product_param { num_output: 5 } }"#,
    [[3, 2, 2, 2]]
);
gradcheck!(
    inner_product_transposed,
    r#"layer { name: "l" type: "InnerProduct" bottom: "in0" top: "y"
    inner_product_param { num_output: 3 transpose: true axis: 2 } }"#,
    [[2, 2, 4]]
);
gradcheck!(
    max_pooling,
    r#"layer { name: "l" type: "Pooling" bottom: "in0" top: "y" top: "mask"
    pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }"#,
    [[2, 2, 6, 5]]
);
gradcheck!(
    ave_pooling,
    r#"layer { name: "l" type: "Pooling" bottom: "in0" top: "y"
    pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }"#,
    [[2, 2, 6, 5]]
);
gradcheck!(
    lrn_across,
    r#"layer { name: "l" type: "LRN" bottom: "in0" top: "y"
    lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 } }"#,
    [[2, 5, 3, 3]]
);
gradcheck!(
    lrn_within,
    r#"layer { name: "l" type: "LRN" bottom: "in0" top: "y"
    lrn_param { local_size: 3 alpha: 0.5 beta: 0.6 norm_region: WITHIN_CHANNEL } }"#,
    [[1, 2, 4, 5]]
);
gradcheck!(
    relu_leaky,
    r#"layer { name: "l" type: "ReLU" bottom: "in0" top: "y" relu_param { negative_slope: 0.1 } }"#,
    [[2, 3, 4]]
);
gradcheck!(prelu, r#"layer { name: "l" type: "PReLU" bottom: "in0" top: "y" }"#, [[2, 3, 4]]);
gradcheck!(
    prelu_shared,
    r#"layer { name: "l" type: "PReLU" bottom: "in0" top: "y" prelu_param { channel_shared: true } }"#,
    [[2, 3, 4]]
);
gradcheck!(sigmoid, r#"layer { name: "l" type: "Sigmoid" bottom: "in0" top: "y" }"#, [[2, 3, 4]]);
gradcheck!(tanh, r#"layer { name: "l" type: "TanH" bottom: "in0" top: "y" }"#, [[2, 3, 4]]);
gradcheck!(
    power,
    r#"layer { name: "l" type: "Power" bottom: "in0" top: "y" power_param { power: 2 scale: 0.5 shift: 3 } }"#,
    [[2, 3]]
);
gradcheck!(
    dropout_train,
    r#"layer { name: "l" type: "Dropout" bottom: "in0" top: "y" }"#,
    [[4, 10]]
);
gradcheck!(
    dropout_test,
    r#"layer { name: "l" type: "Dropout" bottom: "in0" top: "y" }"#,
    [[4, 10]],
    Phase::Test
);
gradcheck!(
    eltwise_sum,
    r#"layer { name: "l" type: "Eltwise" bottom: "in0" bottom: "in1" top: "y" eltwise_param { coeff: 2 coeff: -0.5 } }"#,
    [[2, 3], [2, 3]]
);
gradcheck!(
    eltwise_prod,
    r#"layer { name: "l" type: "Eltwise" bottom: "in0" bottom: "in1" bottom: "in2" top: "y" eltwise_param { operation: PROD } }"#,
    [[2, 3], [2, 3], [2, 3]]
);
gradcheck!(
    eltwise_max,
    r#"layer { name: "l" type: "Eltwise" bottom: "in0" bottom: "in1" top: "y" eltwise_param { operation: MAX } }"#,
    [[2, 3], [2, 3]]
);
gradcheck!(
    concat,
    r#"layer { name: "l" type: "Concat" bottom: "in0" bottom: "in1" top: "y" concat_param { axis: 2 } }"#,
    [[2, 3, 2], [2, 3, 4]]
);
gradcheck!(
    slice,
    r#"layer { name: "l" type: "Slice" bottom: "in0" top: "a" top: "b" top: "c" slice_param { slice_point: [1, 3] } }"#,
    [[2, 5, 2]]
);
gradcheck!(split, r#"layer { name: "l" type: "Split" bottom: "in0" top: "a" top: "b" }"#, [[2, 3]]);
gradcheck!(
    batch_norm_train,
    r#"layer { name: "l" type: "BatchNorm" bottom: "in0" top: "y" }"#,
    [[4, 3, 2, 2]]
);
gradcheck!(
    batch_norm_global,
    r#"layer { name: "l" type: "BatchNorm" bottom: "in0" top: "y" }"#,
    [[4, 3, 2, 2]],
    Phase::Test
);
gradcheck!(
    scale,
    r#"layer { name: "l" type: "Scale" bottom: "in0" top: "y" scale_param { bias_term: true } }"#,
    [[2, 3, 2, 2]]
);
gradcheck!(
    scale_from_bottom,
    r#"layer { name: "l" type: "Scale" bottom: "in0" bottom: "in1" top: "y" scale_param { bias_term: true } }"#,
    [[2, 3, 2], [3]]
);
gradcheck!(bias, r#"layer { name: "l" type: "Bias" bottom: "in0" top: "y" }"#, [[2, 3, 2]]);
gradcheck!(
    bias_from_bottom,
    r#"layer { name: "l" type: "Bias" bottom: "in0" bottom: "in1" top: "y" }"#,
    [[2, 3, 2], [3, 2]]
);
gradcheck!(flatten, r#"layer { name: "l" type: "Flatten" bottom: "in0" top: "y" }"#, [[2, 3, 2]]);
gradcheck!(
    reshape,
    r#"layer { name: "l" type: "Reshape" bottom: "in0" top: "y" reshape_param { shape { dim: 0 dim: -1 } } }"#,
    [[2, 3, 2]]
);
gradcheck!(softmax, r#"layer { name: "l" type: "Softmax" bottom: "in0" top: "y" }"#, [[2, 4, 3]]);
