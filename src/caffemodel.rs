//! Binary `.caffemodel` files: reading (with the same upgrade Caffe applies), copying trained
//! blobs into a net's [`Params`] the way `Net::CopyTrainedLayersFrom` does, and writing a net's
//! current blobs the way `Net::ToProto` + binary serialisation does.

use crate::error::{Error, Result};
use crate::layers::{blob_proto_shape, fmt_shape, legacy_shape_matches};
use crate::net::params::Params;
use crate::net::{Net, Node};
use crate::proto::caffe::{BlobProto, BlobShape, LayerParameter, NetParameter};
use crate::tensor::Tensor;
use prost::Message as _;
use std::path::Path;

/// First bytes of every HDF5 file (Caffe's `.caffemodel.h5` weights).
const HDF5_SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Field number of `NetParameter.name`.
const NET_NAME_FIELD: u32 = 1;
/// Field number of `NetParameter.layer`.
const NET_LAYER_FIELD: u32 = 100;

/// What [`load_into`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Names of the net's nodes that received blobs from the model, each once, in the order
    /// they were first filled. Nodes matched by a source layer without blobs (ReLU, Pooling...)
    /// are not listed.
    pub loaded: Vec<String>,
    /// Names of the model's layers that match no node of the net (Caffe's "Ignoring source
    /// layer"), in model order.
    pub skipped: Vec<String>,
}

/// Reads a binary `.caffemodel` (a serialised `caffe.NetParameter`) and upgrades it to the
/// current format as Caffe does on load (V0/V1 `layers` with their blobs become `layer`
/// entries). Returns the model and the notes of the upgrade steps that changed something.
///
/// HDF5 weight files, empty files, undecodable bytes and messages without any layer are
/// input errors.
pub fn read_model(path: &Path) -> Result<(NetParameter, Vec<String>)> {
    let shown = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| Error::input(format!("cannot read model {shown}: {e}")))?;
    decode_model(&bytes, &shown)
}

/// [`read_model`] on bytes already in memory; `source` names the file in messages.
fn decode_model(bytes: &[u8], source: &str) -> Result<(NetParameter, Vec<String>)> {
    if bytes.is_empty() {
        return Err(Error::input(format!("{source}: the model file is empty")));
    }
    if bytes.starts_with(HDF5_SIGNATURE) {
        return Err(Error::input(format!(
            "{source}: this is an HDF5 weight file (.caffemodel.h5); HDF5 weights are not \
             supported, convert them to a binary .caffemodel"
        )));
    }
    let model = NetParameter::decode(bytes).map_err(|e| {
        let hint = if looks_like_text(bytes) {
            " (the file looks like text: a .prototxt net definition rather than weights?)"
        } else {
            ""
        };
        Error::input(format!("{source}: not a Caffe model (binary NetParameter): {e}{hint}"))
    })?;
    if model.layer.is_empty() && model.layers.is_empty() {
        // Protobuf skips unknown fields, so unrelated bytes can decode to an empty message.
        return Err(Error::input(format!(
            "{source}: not a Caffe model (binary NetParameter): it holds no layers"
        )));
    }
    if crate::upgrade::needs_upgrade(&model) {
        crate::upgrade::upgrade_net(model, source)
    } else {
        Ok((model, Vec::new()))
    }
}

/// True when the first bytes are printable ASCII text (a prototxt passed as weights).
fn looks_like_text(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(256)];
    head.iter().all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b))
}

/// Copies the model's blobs into `params` exactly as Caffe's `Net::CopyTrainedLayersFrom`:
/// each source layer, in model order, goes to the FIRST node with the identical name (types
/// are never compared; a later source layer with the same name overwrites an earlier one);
/// source layers matching no node are skipped; the blob counts must be equal; each blob's shape
/// must match (`Blob::ShapeEquals`: legacy 4-D dims compare right-aligned, padded with 1);
/// values come from `double_data` if non-empty, else `data`, and their count must equal the
/// target's. Gradients (`diff`) are ignored. Nodes the model does not mention keep their values.
///
/// Everything is checked before anything is copied, so on error `params` is unchanged.
/// `source` names the model in messages.
pub fn load_into(
    net: &Net,
    params: &mut Params,
    model: &NetParameter,
    source: &str,
) -> Result<LoadReport> {
    if params.blobs.len() != net.nodes.len() {
        return Err(Error::runtime(format!(
            "internal: params hold {} layers but the net has {}",
            params.blobs.len(),
            net.nodes.len()
        )));
    }
    let mut report = LoadReport::default();
    // (node index, source layer) pairs, validated, in model order.
    let mut copies: Vec<(usize, &LayerParameter)> = Vec::new();
    for layer in &model.layer {
        let name = layer.name();
        let Some(ni) = net.nodes.iter().position(|n| n.name == name) else {
            report.skipped.push(name.to_string());
            continue;
        };
        check_layer(layer, &params.blobs[ni], source)?;
        copies.push((ni, layer));
    }
    for (ni, layer) in copies {
        for (target, blob) in params.blobs[ni].iter_mut().zip(&layer.blobs) {
            copy_values(blob, target.data_mut());
        }
        let node_name = &net.nodes[ni].name;
        if !layer.blobs.is_empty() && !report.loaded.contains(node_name) {
            report.loaded.push(node_name.clone());
        }
    }
    Ok(report)
}

/// Checks that `layer`'s blobs can be copied into `targets` (count, shapes, value counts).
fn check_layer(layer: &LayerParameter, targets: &[Tensor], source: &str) -> Result<()> {
    let name = layer.name();
    if layer.blobs.len() != targets.len() {
        return Err(Error::input(format!(
            "{source}: layer \"{name}\" has {} blob(s) in the model but {} in the net \
             (does bias_term differ?); rename the layer to leave it out of the copy",
            layer.blobs.len(),
            targets.len()
        )));
    }
    for (j, (blob, target)) in layer.blobs.iter().zip(targets).enumerate() {
        if !legacy_shape_matches(blob, target.shape()) {
            return Err(Error::input(format!(
                "{source}: layer \"{name}\", blob {j}: shape mismatch, the model has {} but the \
                 net needs {}; rename the layer to leave it out of the copy",
                describe_shape(blob),
                fmt_shape(target.shape())
            )));
        }
        let n = if blob.double_data.is_empty() { blob.data.len() } else { blob.double_data.len() };
        if n != target.len() {
            let field = if blob.double_data.is_empty() { "data" } else { "double_data" };
            return Err(Error::input(format!(
                "{source}: layer \"{name}\", blob {j}: `{field}` holds {n} value(s) but the \
                 shape {} needs {}",
                fmt_shape(target.shape()),
                target.len()
            )));
        }
    }
    Ok(())
}

/// A BlobProto's declared shape for messages, marking legacy (num, channels, height, width).
fn describe_shape(blob: &BlobProto) -> String {
    let legacy = blob.num.is_some()
        || blob.channels.is_some()
        || blob.height.is_some()
        || blob.width.is_some();
    let shape = fmt_shape(&blob_proto_shape(blob));
    if legacy {
        format!("{shape} (legacy num×channels×height×width)")
    } else {
        shape
    }
}

/// Copies a checked blob's values (double_data first, as Caffe's `Blob::FromProto`).
fn copy_values(blob: &BlobProto, out: &mut [f32]) {
    if blob.double_data.is_empty() {
        out.copy_from_slice(&blob.data);
    } else {
        for (o, &v) in out.iter_mut().zip(&blob.double_data) {
            *o = v as f32;
        }
    }
}

/// The net with its current blobs as Caffe's `Net::ToProto` (without gradients) builds it:
/// only `name` and one `layer` per node, each the node's full definition as the net holds it
/// (phase filled in, BatchNorm's added param specs) with `blobs` replaced by the current values
/// as `BlobProto { shape, data }` (no legacy dims, no diff).
///
/// Panics if `params` does not belong to `net` (a different node count).
pub fn to_net_parameter(net: &Net, params: &Params) -> NetParameter {
    assert_eq!(params.blobs.len(), net.nodes.len(), "params do not belong to this net");
    NetParameter {
        name: Some(net.name.clone()),
        layer: net.nodes.iter().zip(&params.blobs).map(|(n, b)| layer_proto(n, b)).collect(),
        ..Default::default()
    }
}

/// One node's saved definition: its LayerParameter with `blobs` replaced by `blobs`.
fn layer_proto(node: &Node, blobs: &[Tensor]) -> LayerParameter {
    let mut lp = node.proto.clone();
    lp.blobs = blobs.iter().map(blob_proto).collect();
    lp
}

/// Caffe's `Blob::ToProto` without diff: shape dims (no `shape` message for a 0-axis blob, as
/// Caffe only creates it while adding dims) and float data.
fn blob_proto(t: &Tensor) -> BlobProto {
    let shape = (!t.shape().is_empty())
        .then(|| BlobShape { dim: t.shape().iter().map(|&d| d as i64).collect() });
    BlobProto { shape, data: t.data().to_vec(), ..Default::default() }
}

/// The bytes of `to_net_parameter(net, params)` encoded as binary protobuf, built one layer at a
/// time so that only one layer's copy of the values exists besides the output buffer.
fn encode_model(net: &Net, params: &Params) -> Vec<u8> {
    assert_eq!(params.blobs.len(), net.nodes.len(), "params do not belong to this net");
    let values: usize = params.blobs.iter().flatten().map(Tensor::len).sum();
    let mut buf = Vec::with_capacity(4 * values + 1024 * net.nodes.len() + net.name.len() + 16);
    prost::encoding::string::encode(NET_NAME_FIELD, &net.name, &mut buf);
    for (node, blobs) in net.nodes.iter().zip(&params.blobs) {
        let lp = layer_proto(node, blobs);
        prost::encoding::message::encode(NET_LAYER_FIELD, &lp, &mut buf);
    }
    buf
}

/// Writes the net's current blobs as a binary `.caffemodel` (see [`to_net_parameter`]),
/// atomically. The bytes depend only on the net and the values (deterministic).
pub fn write_model(path: &Path, net: &Net, params: &Params) -> Result<()> {
    crate::io::write_atomic(path, &encode_model(net, params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::net::BuildOptions;
    use crate::proto::caffe::v1_layer_parameter::LayerType;
    use crate::proto::caffe::{
        ConvolutionParameter, InnerProductParameter, Phase, V1LayerParameter,
    };
    use std::path::PathBuf;

    const SMALL: &str = r#"
name: "small"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 2 dim: 3 dim: 5 dim: 5 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"
        inner_product_param { num_output: 6 } }
"#;

    fn build(src: &str) -> Net {
        let (param, spans) = crate::prototxt::parse_net(src, "test.prototxt").unwrap();
        Net::build(param, Some(&spans), "test.prototxt", &BuildOptions::default()).unwrap()
    }

    /// Distinct values in every blob of every node: `seed + node * 1000 + blob * 100 + i / 8`.
    fn fill(params: &mut Params, seed: f32) {
        for (ni, blobs) in params.blobs.iter_mut().enumerate() {
            for (bi, t) in blobs.iter_mut().enumerate() {
                for (i, v) in t.data_mut().iter_mut().enumerate() {
                    *v = seed + (ni * 1000 + bi * 100) as f32 + i as f32 * 0.125;
                }
            }
        }
    }

    /// `name` inside a fresh folder of its own (tests run in parallel); see [`cleanup`].
    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mi-caffemodel-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    /// Removes the folder [`tmp`] made for `path`.
    fn cleanup(path: &Path) {
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    fn node_index(net: &Net, name: &str) -> usize {
        net.nodes.iter().position(|n| n.name == name).unwrap()
    }

    #[test]
    fn write_read_load_round_trip() {
        let net = build(SMALL);
        let mut params = Params::new(&net);
        fill(&mut params, 1.0);
        let path = tmp("small.caffemodel");
        write_model(&path, &net, &params).unwrap();
        let (model, notes) = read_model(&path).unwrap();
        // The BatchNorm param specs the builder adds are already in their upgraded form
        // (lr_mult and decay_mult 0), so reading needs no upgrade and returns what was saved.
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(model, to_net_parameter(&net, &params));
        let mut fresh = Params::new(&net);
        let report = load_into(&net, &mut fresh, &model, "small.caffemodel").unwrap();
        assert_eq!(fresh, params);
        assert_eq!(report.loaded, ["conv1", "bn1", "fc"]);
        assert!(report.skipped.is_empty());
        // Deterministic and streamed bytes equal the one-shot encoding.
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes, to_net_parameter(&net, &params).encode_to_vec());
        write_model(&path, &net, &params).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        cleanup(&path);
    }

    #[test]
    fn saved_layers_are_the_net_definition_with_current_blobs() {
        let net = build(SMALL);
        let mut params = Params::new(&net);
        fill(&mut params, 0.5);
        let model = to_net_parameter(&net, &params);
        assert_eq!(model.name(), "small");
        assert!(model.layers.is_empty() && model.input.is_empty() && model.state.is_none());
        let names: Vec<&str> = model.layer.iter().map(|l| l.name()).collect();
        assert_eq!(names, ["data", "conv1", "bn1", "relu1", "fc"]);
        for l in &model.layer {
            assert_eq!(l.phase(), Phase::Train);
        }
        let conv = &model.layer[1];
        assert_eq!(conv.convolution_param.as_ref().unwrap().num_output(), 4);
        assert_eq!(conv.blobs.len(), 2);
        let w = &conv.blobs[0];
        assert_eq!(w.shape.as_ref().unwrap().dim, [4, 3, 3, 3]);
        assert!(w.num.is_none() && w.diff.is_empty() && w.double_data.is_empty());
        assert_eq!(w.data, params.blobs[1][0].data());
        let bn = &model.layer[2];
        assert_eq!(bn.param.len(), 3, "BatchNorm's added param specs are saved");
        assert!(bn.param.iter().all(|p| p.lr_mult() == 0.0));
        let dims: Vec<_> = bn.blobs.iter().map(|b| b.shape.as_ref().unwrap().dim.clone()).collect();
        assert_eq!(dims, [vec![4], vec![4], vec![1]]);
        assert_eq!(model.layer[4].blobs[0].shape.as_ref().unwrap().dim, [6, 36]);
        assert!(model.layer[3].blobs.is_empty());
    }

    /// Reads one varint at `*pos`.
    fn varint(bytes: &[u8], pos: &mut usize) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = bytes[*pos];
            *pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
        }
        v
    }

    /// (field number, payload) of each length-delimited top-level field of `bytes`.
    fn fields(bytes: &[u8]) -> Vec<(u64, &[u8])> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let key = varint(bytes, &mut pos);
            match key & 7 {
                2 => {
                    let len = varint(bytes, &mut pos) as usize;
                    out.push((key >> 3, &bytes[pos..pos + len]));
                    pos += len;
                }
                0 => {
                    varint(bytes, &mut pos);
                    out.push((key >> 3, &[][..]));
                }
                5 => {
                    pos += 4;
                    out.push((key >> 3, &[][..]));
                }
                1 => {
                    pos += 8;
                    out.push((key >> 3, &[][..]));
                }
                w => panic!("unexpected wire type {w}"),
            }
        }
        out
    }

    #[test]
    fn bytes_follow_caffe_field_order() {
        let net = build(SMALL);
        let mut params = Params::new(&net);
        fill(&mut params, 2.0);
        let bytes = encode_model(&net, &params);
        let top = fields(&bytes);
        assert_eq!(top[0], (1, &b"small"[..]));
        assert_eq!(top.len(), 1 + net.nodes.len());
        assert!(top[1..].iter().all(|&(f, _)| f == 100));
        // Inside a layer, field numbers ascend: name 1, type 2, bottom 3, top 4, blobs 7,
        // phase 10, then the 100+ parameter messages.
        let conv = fields(top[2].1);
        let numbers: Vec<u64> = conv.iter().map(|&(f, _)| f).collect();
        assert!(numbers.windows(2).all(|w| w[0] <= w[1]), "{numbers:?}");
        let blob = conv.iter().find(|&&(f, _)| f == 7).unwrap().1;
        let blob_fields = fields(blob);
        let order: Vec<u64> = blob_fields.iter().map(|&(f, _)| f).collect();
        assert_eq!(order, [5, 7], "data (5) before shape (7), nothing else");
        assert_eq!(blob_fields[0].1.len(), 4 * 4 * 3 * 3 * 3, "packed floats");
    }

    fn legacy_blob(dims: [i32; 4], values: &[f64]) -> BlobProto {
        BlobProto {
            num: Some(dims[0]),
            channels: Some(dims[1]),
            height: Some(dims[2]),
            width: Some(dims[3]),
            double_data: values.to_vec(),
            ..Default::default()
        }
    }

    fn ramp(n: usize, start: f64) -> Vec<f64> {
        (0..n).map(|i| start + i as f64 * 0.25).collect()
    }

    const V2_EQUIVALENT: &str = r#"
name: "v1net"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 2 dim: 4 dim: 4 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 3 kernel_size: 3 } }
layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip"
        inner_product_param { num_output: 5 } }
"#;

    #[test]
    fn v1_model_with_legacy_dims_loads_into_v2_net() {
        let conv = V1LayerParameter {
            name: Some("conv".into()),
            r#type: Some(LayerType::Convolution as i32),
            bottom: vec!["data".into()],
            top: vec!["conv".into()],
            convolution_param: Some(ConvolutionParameter {
                num_output: Some(3),
                kernel_size: vec![3],
                ..Default::default()
            }),
            blobs: vec![
                legacy_blob([3, 2, 3, 3], &ramp(54, 1.0)),
                legacy_blob([1, 1, 1, 3], &ramp(3, -1.0)),
            ],
            ..Default::default()
        };
        let ip = V1LayerParameter {
            name: Some("ip".into()),
            r#type: Some(LayerType::InnerProduct as i32),
            bottom: vec!["conv".into()],
            top: vec!["ip".into()],
            inner_product_param: Some(InnerProductParameter {
                num_output: Some(5),
                ..Default::default()
            }),
            blobs: vec![
                legacy_blob([1, 1, 5, 12], &ramp(60, 7.0)),
                legacy_blob([1, 1, 1, 5], &ramp(5, 0.5)),
            ],
            ..Default::default()
        };
        let v1 = NetParameter {
            name: Some("v1net".into()),
            input: vec!["data".into()],
            layers: vec![conv, ip],
            ..Default::default()
        };
        let path = tmp("v1.caffemodel");
        std::fs::write(&path, v1.encode_to_vec()).unwrap();
        let (model, notes) = read_model(&path).unwrap();
        assert!(!notes.is_empty(), "the V1 upgrade is reported");
        assert!(model.layers.is_empty());
        assert_eq!(model.layer[0].r#type(), "Convolution");
        let net = build(V2_EQUIVALENT);
        let mut params = Params::new(&net);
        let report = load_into(&net, &mut params, &model, "v1.caffemodel").unwrap();
        assert_eq!(report.loaded, ["conv", "ip"]);
        assert!(report.skipped.is_empty());
        let as_f32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<_>>();
        let (c, i) = (node_index(&net, "conv"), node_index(&net, "ip"));
        assert_eq!(params.blobs[c][0].shape(), &[3, 2, 3, 3]);
        assert_eq!(params.blobs[c][0].data(), as_f32(ramp(54, 1.0)));
        assert_eq!(params.blobs[c][1].data(), as_f32(ramp(3, -1.0)));
        assert_eq!(params.blobs[i][0].shape(), &[5, 12], "the target keeps its modern shape");
        assert_eq!(params.blobs[i][0].data(), as_f32(ramp(60, 7.0)));
        assert_eq!(params.blobs[i][1].data(), as_f32(ramp(5, 0.5)));
        cleanup(&path);
    }

    #[test]
    fn blob_count_mismatch_names_the_layer_and_changes_nothing() {
        let net = build(SMALL);
        let mut params = Params::new(&net);
        fill(&mut params, 3.0);
        let model = to_net_parameter(&net, &params);
        let target = build(&SMALL.replace(
            "inner_product_param { num_output: 6 }",
            "inner_product_param { num_output: 6 bias_term: false }",
        ));
        let mut tp = Params::new(&target);
        fill(&mut tp, 9.0);
        let before = tp.clone();
        let e = load_into(&target, &mut tp, &model, "m.caffemodel").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Input);
        let msg = e.to_string();
        assert!(msg.contains("m.caffemodel") && msg.contains("\"fc\""), "{msg}");
        assert!(msg.contains("2 blob(s) in the model but 1 in the net"), "{msg}");
        assert_eq!(tp, before, "conv1 and bn1 come first in the model but were not copied");
    }

    #[test]
    fn shape_mismatch_names_layer_blob_and_shapes_and_changes_nothing() {
        let net = build(SMALL);
        let mut params = Params::new(&net);
        fill(&mut params, 3.0);
        let model = to_net_parameter(&net, &params);
        let target = build(&SMALL.replace("num_output: 6", "num_output: 7"));
        let mut tp = Params::new(&target);
        let before = tp.clone();
        let msg = load_into(&target, &mut tp, &model, "m.caffemodel").unwrap_err().to_string();
        assert!(msg.contains("layer \"fc\", blob 0"), "{msg}");
        assert!(msg.contains("6×36") && msg.contains("7×36"), "{msg}");
        assert_eq!(tp, before);

        // Legacy dims that do not right-align, and a wrong value count.
        let mut tp = Params::new(&net);
        let mut bad = model.clone();
        let fc = bad.layer.iter_mut().find(|l| l.name() == "fc").unwrap();
        fc.blobs[1] = legacy_blob([1, 1, 6, 1], &ramp(6, 0.0));
        let msg = load_into(&net, &mut tp, &bad, "m").unwrap_err().to_string();
        assert!(msg.contains("blob 1") && msg.contains("1×1×6×1 (legacy"), "{msg}");
        fc_blob(&mut bad).clone_from(&legacy_blob([1, 1, 1, 6], &ramp(5, 0.0)));
        let msg = load_into(&net, &mut tp, &bad, "m").unwrap_err().to_string();
        assert!(msg.contains("`double_data` holds 5 value(s)"), "{msg}");
        fc_blob(&mut bad).clone_from(&legacy_blob([1, 1, 1, 6], &ramp(6, 0.0)));
        load_into(&net, &mut tp, &bad, "m").unwrap();
        assert_eq!(tp.blobs[node_index(&net, "fc")][1].data(), [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]);
        assert_eq!(tp.blobs[node_index(&net, "conv1")], params.blobs[node_index(&net, "conv1")]);
    }

    fn fc_blob(model: &mut NetParameter) -> &mut BlobProto {
        &mut model.layer.iter_mut().find(|l| l.name() == "fc").unwrap().blobs[1]
    }

    #[test]
    fn unmatched_layers_are_skipped_and_absent_ones_keep_their_values() {
        let net = build(SMALL);
        let mut params = Params::new(&net);
        fill(&mut params, 4.0);
        let mut model = to_net_parameter(&net, &params);
        // Drop bn1 from the model, rename fc (types are never compared: the "extra" layer
        // keeps a blob count that would not fit anything).
        model.layer.retain(|l| l.name() != "bn1");
        model.layer.iter_mut().find(|l| l.name() == "fc").unwrap().name = Some("fc_old".into());
        let mut tp = Params::new(&net);
        fill(&mut tp, 100.0);
        let before = tp.clone();
        let report = load_into(&net, &mut tp, &model, "m").unwrap();
        assert_eq!(report.loaded, ["conv1"]);
        assert_eq!(report.skipped, ["fc_old"]);
        let (c, b, f) =
            (node_index(&net, "conv1"), node_index(&net, "bn1"), node_index(&net, "fc"));
        assert_eq!(tp.blobs[c], params.blobs[c]);
        assert_eq!(tp.blobs[b], before.blobs[b]);
        assert_eq!(tp.blobs[f], before.blobs[f]);
    }

    #[test]
    fn a_later_duplicate_source_layer_overwrites() {
        let net = build(SMALL);
        let mut first = Params::new(&net);
        fill(&mut first, 1.0);
        let mut second = Params::new(&net);
        fill(&mut second, 50.0);
        let mut model = to_net_parameter(&net, &first);
        let dup = to_net_parameter(&net, &second).layer.into_iter().find(|l| l.name() == "conv1");
        model.layer.push(dup.unwrap());
        let mut tp = Params::new(&net);
        let report = load_into(&net, &mut tp, &model, "m").unwrap();
        assert_eq!(report.loaded, ["conv1", "bn1", "fc"], "each node once");
        let c = node_index(&net, "conv1");
        assert_eq!(tp.blobs[c], second.blobs[c]);
        assert_eq!(tp.blobs[node_index(&net, "fc")], first.blobs[node_index(&net, "fc")]);
    }

    #[test]
    fn bad_files_are_input_errors() {
        let check = |name: &str, bytes: &[u8], want: &str| {
            let path = tmp(name);
            std::fs::write(&path, bytes).unwrap();
            let e = read_model(&path).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Input, "{e}");
            let msg = e.to_string();
            assert!(msg.contains(want) && msg.contains(name), "{msg}");
            cleanup(&path);
        };
        check("empty.caffemodel", b"", "empty");
        check("h5.caffemodel", b"\x89HDF\r\n\x1a\n\0\0\0\0", "HDF5 weights are not supported");
        check("garbage.caffemodel", &[0xff; 37], "not a Caffe model (binary NetParameter)");
        check("text.caffemodel", b"name: \"x\"\nlayer { name: \"a\" }\n", "looks like text");
        // Valid protobuf with only an unknown field (field 9, varint): decodes to nothing.
        check("nolayers.caffemodel", &[9 << 3, 1], "holds no layers");
        let missing = tmp("does-not-exist.caffemodel");
        assert!(read_model(&missing).unwrap_err().to_string().contains("cannot read model"));
        cleanup(&missing);
    }

    #[test]
    fn shared_model_round_trip() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/models");
        let dir = if dir.exists() { dir } else { PathBuf::from("/work/shared/models") };
        let proto = dir.join("bvlc_alexnet_deploy.prototxt");
        if !proto.exists() {
            eprintln!("note: {} not present; skipping", proto.display());
            return;
        }
        let net = Net::from_file(&proto, &BuildOptions::default()).unwrap();
        let mut params = Params::new(&net);
        let mut x = 0x9e37_79b9u32;
        for t in params.blobs.iter_mut().flatten() {
            for v in t.data_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *v = (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
            }
        }
        let path = tmp("alexnet.caffemodel");
        write_model(&path, &net, &params).unwrap();
        let (model, _) = read_model(&path).unwrap();
        let mut fresh = Params::new(&net);
        let report = load_into(&net, &mut fresh, &model, "alexnet").unwrap();
        assert_eq!(report.loaded.len(), 8, "{:?}", report.loaded);
        assert!(fresh == params, "values differ after the round trip");
        cleanup(&path);
    }
}
