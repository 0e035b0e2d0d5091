//! Upgrade of deprecated Caffe net definitions to the current format, following Caffe's
//! `UpgradeNetAsNeeded`: V0 layers → V1, legacy data-transformation fields → `transform_param`,
//! V1 `layers` → V2 `layer`, legacy `input`/`input_dim`/`input_shape` → an `Input` layer, and the
//! BatchNorm `param` fix-up. Used for prototxt and binary .caffemodel files alike.
//!
//! Where Caffe would only log a problem and carry on (V0 settings that do not apply to the layer
//! type), we carry on too and report it in the notes; where Caffe aborts (or would crash on an
//! out-of-range index), we return [`Error::input`]. Deliberate differences from Caffe:
//! - an explicit V1 type `NONE` (or an unknown enum number) is an error here, where Caffe writes an
//!   empty type string and fails later when it creates the layer;
//! - a V0 net whose `layers` mix V0 (`layer { ... }` inside) and V1 entries is refused, where
//!   Caffe silently keeps only bottom/top of the V1 entries;
//! - `input_dim` must hold exactly 4 values per input and `input_shape` exactly one shape per
//!   input, and the two may not both be given (Caffe reads past the end or ignores extras);
//! - the V0 upgrade keeps the net-level fields it does not touch (Caffe keeps only name, inputs,
//!   input_dim and force_backward, but V0 nets never had the others).

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::proto::caffe::v1_layer_parameter::LayerType;
use crate::proto::caffe::{
    param_spec, pooling_parameter, v0_layer_parameter, v1_layer_parameter, BlobShape,
    ConvolutionParameter, ImageDataParameter, InnerProductParameter, InputParameter,
    LayerParameter, LrnParameter, NetParameter, ParamSpec, PoolingParameter,
    TransformationParameter, V0LayerParameter, V1LayerParameter, WindowDataParameter,
};

/// True if [`upgrade_net`] would change `net`: it has V0/V1 `layers`, legacy `input` fields, or a
/// BatchNorm layer with three `param` specs whose multipliers are not all explicitly zero.
pub fn needs_upgrade(net: &NetParameter) -> bool {
    !net.layers.is_empty() || !net.input.is_empty() || net.layer.iter().any(batch_norm_needs_fix)
}

/// Upgrades `net` to the current (V2) format as Caffe's `UpgradeNetAsNeeded` does, returning the
/// upgraded net and one human-readable note per step that changed something. `source` names the
/// file in error messages. A net that needs no upgrade comes back unchanged with no notes.
///
/// Layer `blobs` (weights of a .caffemodel) are moved across untouched.
pub fn upgrade_net(mut net: NetParameter, source: &str) -> Result<(NetParameter, Vec<String>)> {
    let mut notes = Vec::new();
    if !net.layer.is_empty() && !net.layers.is_empty() {
        return Err(Error::input(format!(
            "{source}: the net has both `layer` (current format) and `layers` (deprecated V1 \
             format) entries; rewrite the `layers {{ type: ENUM }}` entries as \
             `layer {{ type: \"Name\" }}`"
        )));
    }
    if net.layers.iter().any(|l| l.layer.is_some()) {
        upgrade_v0_net(&mut net, source, &mut notes)?;
    }
    if net_needs_data_upgrade(&net) {
        let n = upgrade_data_transformation(&mut net);
        notes.push(format!(
            "moved legacy scale/mean_file/crop_size/mirror of {n} data layer(s) into transform_param"
        ));
    }
    if !net.layers.is_empty() {
        let n = net.layers.len();
        let v1 = std::mem::take(&mut net.layers);
        net.layer = v1
            .into_iter()
            .enumerate()
            .map(|(i, l)| upgrade_v1_layer(l, i, source))
            .collect::<Result<_>>()?;
        notes.push(format!("upgraded {n} V1 layers (`layers`) to the current `layer` format"));
    }
    if !net.input.is_empty() {
        notes.push(upgrade_input(&mut net, source)?);
    }
    let fixed = upgrade_batch_norm(&mut net);
    if fixed > 0 {
        notes.push(format!(
            "set lr_mult and decay_mult to 0 in the 3 param specs of {fixed} BatchNorm layer(s)"
        ));
    }
    Ok((net, notes))
}

// ---------------------------------------------------------------------------------------------
// V0 → V1
// ---------------------------------------------------------------------------------------------

/// Display name of a V1/V0 layer for messages: its name, or its index.
fn layer_label(name: Option<&str>, index: usize) -> String {
    match name {
        Some(n) => format!("'{n}'"),
        None => format!("#{index}"),
    }
}

/// Folds V0 "padding" layers into the conv/pool layer they feed, then converts every V0 layer
/// (`layers { layer { ... } }`) to a V1 layer.
fn upgrade_v0_net(net: &mut NetParameter, source: &str, notes: &mut Vec<String>) -> Result<()> {
    if let Some((i, l)) = net.layers.iter().enumerate().find(|(_, l)| l.layer.is_none()) {
        return Err(Error::input(format!(
            "{source}: layers entry {} has no V0 `layer {{ ... }}` although other entries do; \
             mixed V0/V1 nets cannot be upgraded",
            layer_label(l.name.as_deref(), i)
        )));
    }
    let original = std::mem::take(&mut net.layers);
    let (unpadded, folded) = fold_v0_padding(&original, &net.input, source)?;
    let mut problems = Vec::new();
    let mut upgraded = Vec::with_capacity(unpadded.len());
    for (i, conn) in unpadded.into_iter().enumerate() {
        upgraded.push(upgrade_v0_layer(conn, i, source, &mut problems)?);
    }
    let mut note = format!("upgraded {} V0 layers to V1", upgraded.len());
    if folded > 0 {
        note.push_str(&format!(" (padding layers folded into {folded} conv/pool layer(s))"));
    }
    notes.push(note);
    notes.extend(problems);
    net.layers = upgraded;
    Ok(())
}

fn v0_type(conn: &V1LayerParameter) -> &str {
    conn.layer.as_ref().and_then(|l| l.r#type.as_deref()).unwrap_or("")
}

/// Caffe's `UpgradeV0PaddingLayers`: drops every V0 layer of type "padding" and moves its `pad`
/// into the conv/pool layer that reads its output (whose bottom is rewired to the padding layer's
/// input). Returns the remaining layers and how many conv/pool layers absorbed a padding layer.
fn fold_v0_padding(
    layers: &[V1LayerParameter],
    inputs: &[String],
    source: &str,
) -> Result<(Vec<V1LayerParameter>, usize)> {
    // Blob name → index (in `layers`) of the last layer that produced it; None = net input.
    let mut last_top: HashMap<&str, Option<usize>> =
        inputs.iter().map(|name| (name.as_str(), None)).collect();
    let mut out: Vec<V1LayerParameter> = Vec::with_capacity(layers.len());
    let mut folded = 0;
    for (i, conn) in layers.iter().enumerate() {
        let ty = v0_type(conn);
        let label = || layer_label(conn.layer.as_ref().and_then(|l| l.name.as_deref()), i);
        if ty != "padding" {
            out.push(conn.clone());
        }
        for (j, blob) in conn.bottom.iter().enumerate() {
            let Some(&producer) = last_top.get(blob.as_str()) else {
                return Err(Error::input(format!(
                    "{source}: V0 layer {} reads blob '{blob}' that no earlier layer or input \
                     produces",
                    label()
                )));
            };
            let Some(src) = producer.map(|k| &layers[k]) else { continue };
            if v0_type(src) != "padding" {
                continue;
            }
            let shape_ok = conn.bottom.len() == 1 && src.bottom.len() == 1 && src.top.len() == 1;
            if !(ty == "conv" || ty == "pool") || !shape_ok {
                return Err(Error::input(format!(
                    "{source}: V0 padding layer output feeds layer {} of type '{ty}'; only a \
                     single-input conv or pool layer may follow a single-input, single-output \
                     padding layer",
                    label()
                )));
            }
            let pad = src.layer.as_ref().and_then(|l| l.pad).unwrap_or(0);
            let target = out.last_mut().expect("current layer was pushed above");
            target.layer.get_or_insert_with(Default::default).pad = Some(pad);
            target.bottom[j] = src.bottom[0].clone();
            folded += 1;
        }
        for blob in &conn.top {
            last_top.insert(blob.as_str(), Some(i));
        }
    }
    Ok((out, folded))
}

/// Caffe's `UpgradeV0LayerType`: V0 type string → V1 enum.
fn v0_layer_type(ty: &str) -> Option<LayerType> {
    Some(match ty {
        "accuracy" => LayerType::Accuracy,
        "bnll" => LayerType::Bnll,
        "concat" => LayerType::Concat,
        "conv" => LayerType::Convolution,
        "data" => LayerType::Data,
        "dropout" => LayerType::Dropout,
        "euclidean_loss" => LayerType::EuclideanLoss,
        "flatten" => LayerType::Flatten,
        "hdf5_data" => LayerType::Hdf5Data,
        "hdf5_output" => LayerType::Hdf5Output,
        "im2col" => LayerType::Im2col,
        "images" => LayerType::ImageData,
        "infogain_loss" => LayerType::InfogainLoss,
        "innerproduct" => LayerType::InnerProduct,
        "lrn" => LayerType::Lrn,
        "multinomial_logistic_loss" => LayerType::MultinomialLogisticLoss,
        "pool" => LayerType::Pooling,
        "relu" => LayerType::Relu,
        "sigmoid" => LayerType::Sigmoid,
        "softmax" => LayerType::Softmax,
        "softmax_loss" => LayerType::SoftmaxLoss,
        "split" => LayerType::Split,
        "tanh" => LayerType::Tanh,
        "window_data" => LayerType::WindowData,
        _ => return None,
    })
}

fn conv_of(l: &mut V1LayerParameter) -> &mut ConvolutionParameter {
    l.convolution_param.get_or_insert_with(Default::default)
}

fn ip_of(l: &mut V1LayerParameter) -> &mut InnerProductParameter {
    l.inner_product_param.get_or_insert_with(Default::default)
}

fn lrn_of(l: &mut V1LayerParameter) -> &mut LrnParameter {
    l.lrn_param.get_or_insert_with(Default::default)
}

fn pool_of(l: &mut V1LayerParameter) -> &mut PoolingParameter {
    l.pooling_param.get_or_insert_with(Default::default)
}

fn transform_of(l: &mut V1LayerParameter) -> &mut TransformationParameter {
    l.transform_param.get_or_insert_with(Default::default)
}

fn image_data_of(l: &mut V1LayerParameter) -> &mut ImageDataParameter {
    l.image_data_param.get_or_insert_with(Default::default)
}

fn window_data_of(l: &mut V1LayerParameter) -> &mut WindowDataParameter {
    l.window_data_param.get_or_insert_with(Default::default)
}

/// Caffe's `UpgradeV0LayerParameter`: builds a fresh V1 layer from the connection's bottom/top and
/// its V0 layer. Settings that do not apply to the layer's type are dropped and reported in
/// `problems` (Caffe logs them and continues).
fn upgrade_v0_layer(
    conn: V1LayerParameter,
    index: usize,
    source: &str,
    problems: &mut Vec<String>,
) -> Result<V1LayerParameter> {
    let mut out = V1LayerParameter { bottom: conn.bottom, top: conn.top, ..Default::default() };
    let Some(v0) = conn.layer else { return Ok(out) };
    // Exhaustive destructuring: a field added to the schema must be handled here.
    let V0LayerParameter {
        name,
        r#type,
        num_output,
        biasterm,
        weight_filler,
        bias_filler,
        pad,
        kernelsize,
        group,
        stride,
        pool,
        dropout_ratio,
        local_size,
        alpha,
        beta,
        k,
        source: data_source,
        scale,
        meanfile,
        batchsize,
        cropsize,
        mirror,
        blobs,
        blobs_lr,
        weight_decay,
        rand_skip,
        det_fg_threshold,
        det_bg_threshold,
        det_fg_fraction,
        det_context_pad,
        det_crop_mode,
        new_num: _,      // never read by Caffe's upgrade
        new_channels: _, // never read by Caffe's upgrade
        new_height,
        new_width,
        shuffle_images,
        concat_dim,
        hdf5_output_param,
    } = v0;
    let label = layer_label(name.as_deref(), index);
    let ty = r#type.clone().unwrap_or_default();
    if r#type.is_some() {
        let Some(t) = v0_layer_type(&ty) else {
            return Err(Error::input(format!(
                "{source}: V0 layer {label} has unknown type '{ty}'"
            )));
        };
        out.r#type = Some(t as i32);
    }
    out.name = name;
    out.blobs = blobs;
    out.blobs_lr = blobs_lr;
    out.weight_decay = weight_decay;
    let mut reject = |field: &str| {
        problems.push(format!(
            "V0 layer {label}: setting '{field}' does not apply to type '{ty}' and was dropped"
        ));
    };
    let is = |t: &str| ty == t;

    if let Some(v) = num_output {
        match ty.as_str() {
            "conv" => conv_of(&mut out).num_output = Some(v),
            "innerproduct" => ip_of(&mut out).num_output = Some(v),
            _ => reject("num_output"),
        }
    }
    if let Some(v) = biasterm {
        match ty.as_str() {
            "conv" => conv_of(&mut out).bias_term = Some(v),
            "innerproduct" => ip_of(&mut out).bias_term = Some(v),
            _ => reject("biasterm"),
        }
    }
    if let Some(v) = weight_filler {
        match ty.as_str() {
            "conv" => conv_of(&mut out).weight_filler = Some(v),
            "innerproduct" => ip_of(&mut out).weight_filler = Some(v),
            _ => reject("weight_filler"),
        }
    }
    if let Some(v) = bias_filler {
        match ty.as_str() {
            "conv" => conv_of(&mut out).bias_filler = Some(v),
            "innerproduct" => ip_of(&mut out).bias_filler = Some(v),
            _ => reject("bias_filler"),
        }
    }
    if let Some(v) = pad {
        match ty.as_str() {
            "conv" => conv_of(&mut out).pad.push(v),
            "pool" => pool_of(&mut out).pad = Some(v),
            _ => reject("pad"),
        }
    }
    if let Some(v) = kernelsize {
        match ty.as_str() {
            "conv" => conv_of(&mut out).kernel_size.push(v),
            "pool" => pool_of(&mut out).kernel_size = Some(v),
            _ => reject("kernelsize"),
        }
    }
    if let Some(v) = group {
        if is("conv") {
            conv_of(&mut out).group = Some(v);
        } else {
            reject("group");
        }
    }
    if let Some(v) = stride {
        match ty.as_str() {
            "conv" => conv_of(&mut out).stride.push(v),
            "pool" => pool_of(&mut out).stride = Some(v),
            _ => reject("stride"),
        }
    }
    if let Some(v) = pool {
        let method = match v0_layer_parameter::PoolMethod::try_from(v) {
            Ok(v0_layer_parameter::PoolMethod::Max) => Some(pooling_parameter::PoolMethod::Max),
            Ok(v0_layer_parameter::PoolMethod::Ave) => Some(pooling_parameter::PoolMethod::Ave),
            Ok(v0_layer_parameter::PoolMethod::Stochastic) => {
                Some(pooling_parameter::PoolMethod::Stochastic)
            }
            Err(_) => None,
        };
        match (is("pool"), method) {
            (true, Some(m)) => pool_of(&mut out).pool = Some(m as i32),
            (true, None) => reject("pool (unknown method)"),
            (false, _) => reject("pool"),
        }
    }
    if let Some(v) = dropout_ratio {
        if is("dropout") {
            out.dropout_param.get_or_insert_with(Default::default).dropout_ratio = Some(v);
        } else {
            reject("dropout_ratio");
        }
    }
    if let Some(v) = local_size {
        if is("lrn") {
            lrn_of(&mut out).local_size = Some(v);
        } else {
            reject("local_size");
        }
    }
    if let Some(v) = alpha {
        if is("lrn") {
            lrn_of(&mut out).alpha = Some(v);
        } else {
            reject("alpha");
        }
    }
    if let Some(v) = beta {
        if is("lrn") {
            lrn_of(&mut out).beta = Some(v);
        } else {
            reject("beta");
        }
    }
    if let Some(v) = k {
        if is("lrn") {
            lrn_of(&mut out).k = Some(v);
        } else {
            reject("k");
        }
    }
    if let Some(v) = data_source {
        match ty.as_str() {
            "data" => out.data_param.get_or_insert_with(Default::default).source = Some(v),
            "hdf5_data" => {
                out.hdf5_data_param.get_or_insert_with(Default::default).source = Some(v)
            }
            "images" => image_data_of(&mut out).source = Some(v),
            "window_data" => window_data_of(&mut out).source = Some(v),
            "infogain_loss" => {
                out.infogain_loss_param.get_or_insert_with(Default::default).source = Some(v)
            }
            _ => reject("source"),
        }
    }
    if let Some(v) = scale {
        transform_of(&mut out).scale = Some(v);
    }
    if let Some(v) = meanfile {
        transform_of(&mut out).mean_file = Some(v);
    }
    if let Some(v) = batchsize {
        match ty.as_str() {
            "data" => out.data_param.get_or_insert_with(Default::default).batch_size = Some(v),
            "hdf5_data" => {
                out.hdf5_data_param.get_or_insert_with(Default::default).batch_size = Some(v)
            }
            "images" => image_data_of(&mut out).batch_size = Some(v),
            "window_data" => window_data_of(&mut out).batch_size = Some(v),
            _ => reject("batchsize"),
        }
    }
    if let Some(v) = cropsize {
        transform_of(&mut out).crop_size = Some(v);
    }
    if let Some(v) = mirror {
        transform_of(&mut out).mirror = Some(v);
    }
    if let Some(v) = rand_skip {
        match ty.as_str() {
            "data" => out.data_param.get_or_insert_with(Default::default).rand_skip = Some(v),
            "images" => image_data_of(&mut out).rand_skip = Some(v),
            _ => reject("rand_skip"),
        }
    }
    if let Some(v) = shuffle_images {
        if is("images") {
            image_data_of(&mut out).shuffle = Some(v);
        } else {
            reject("shuffle_images");
        }
    }
    if let Some(v) = new_height {
        match (is("images"), u32::try_from(v)) {
            (true, Ok(v)) => image_data_of(&mut out).new_height = Some(v),
            (true, Err(_)) => reject("new_height (negative)"),
            (false, _) => reject("new_height"),
        }
    }
    if let Some(v) = new_width {
        match (is("images"), u32::try_from(v)) {
            (true, Ok(v)) => image_data_of(&mut out).new_width = Some(v),
            (true, Err(_)) => reject("new_width (negative)"),
            (false, _) => reject("new_width"),
        }
    }
    if let Some(v) = concat_dim {
        if is("concat") {
            out.concat_param.get_or_insert_with(Default::default).concat_dim = Some(v);
        } else {
            reject("concat_dim");
        }
    }
    if let Some(v) = det_fg_threshold {
        if is("window_data") {
            window_data_of(&mut out).fg_threshold = Some(v);
        } else {
            reject("det_fg_threshold");
        }
    }
    if let Some(v) = det_bg_threshold {
        if is("window_data") {
            window_data_of(&mut out).bg_threshold = Some(v);
        } else {
            reject("det_bg_threshold");
        }
    }
    if let Some(v) = det_fg_fraction {
        if is("window_data") {
            window_data_of(&mut out).fg_fraction = Some(v);
        } else {
            reject("det_fg_fraction");
        }
    }
    if let Some(v) = det_context_pad {
        if is("window_data") {
            window_data_of(&mut out).context_pad = Some(v);
        } else {
            reject("det_context_pad");
        }
    }
    if let Some(v) = det_crop_mode {
        if is("window_data") {
            window_data_of(&mut out).crop_mode = Some(v);
        } else {
            reject("det_crop_mode");
        }
    }
    if let Some(v) = hdf5_output_param {
        if is("hdf5_output") {
            out.hdf5_output_param = Some(v);
        } else {
            reject("hdf5_output_param");
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Legacy data transformation fields
// ---------------------------------------------------------------------------------------------

fn is_v1_type(l: &V1LayerParameter, t: LayerType) -> bool {
    l.r#type == Some(t as i32)
}

/// Caffe's `NetNeedsDataUpgrade`: a V1 Data/ImageData/WindowData layer sets scale, mean_file,
/// crop_size or mirror inside its own parameter message.
fn net_needs_data_upgrade(net: &NetParameter) -> bool {
    net.layers.iter().any(|l| {
        // (scale, mean_file, crop_size, mirror) presence in the type's own parameter message.
        let present = if is_v1_type(l, LayerType::Data) {
            l.data_param.as_ref().map(|p| {
                [
                    p.scale.is_some(),
                    p.mean_file.is_some(),
                    p.crop_size.is_some(),
                    p.mirror.is_some(),
                ]
            })
        } else if is_v1_type(l, LayerType::ImageData) {
            l.image_data_param.as_ref().map(|p| {
                [
                    p.scale.is_some(),
                    p.mean_file.is_some(),
                    p.crop_size.is_some(),
                    p.mirror.is_some(),
                ]
            })
        } else if is_v1_type(l, LayerType::WindowData) {
            l.window_data_param.as_ref().map(|p| {
                [
                    p.scale.is_some(),
                    p.mean_file.is_some(),
                    p.crop_size.is_some(),
                    p.mirror.is_some(),
                ]
            })
        } else {
            None
        };
        present.is_some_and(|flags| flags.contains(&true))
    })
}

/// Caffe's `UpgradeNetDataTransformation`. Like Caffe, it gives every Data/ImageData/WindowData
/// layer a (possibly empty) parameter message and `transform_param`. Returns the number of layers
/// of those types.
fn upgrade_data_transformation(net: &mut NetParameter) -> usize {
    let mut count = 0;
    for l in &mut net.layers {
        let legacy = if is_v1_type(l, LayerType::Data) {
            let p = l.data_param.get_or_insert_with(Default::default);
            (p.scale.take(), p.mean_file.take(), p.crop_size.take(), p.mirror.take())
        } else if is_v1_type(l, LayerType::ImageData) {
            let p = l.image_data_param.get_or_insert_with(Default::default);
            (p.scale.take(), p.mean_file.take(), p.crop_size.take(), p.mirror.take())
        } else if is_v1_type(l, LayerType::WindowData) {
            let p = l.window_data_param.get_or_insert_with(Default::default);
            (p.scale.take(), p.mean_file.take(), p.crop_size.take(), p.mirror.take())
        } else {
            continue;
        };
        let (scale, mean_file, crop_size, mirror) = legacy;
        let t = transform_of(l);
        // A legacy value overrides one already in transform_param, as in Caffe.
        t.scale = scale.or(t.scale);
        t.mean_file = mean_file.or(t.mean_file.take());
        t.crop_size = crop_size.or(t.crop_size);
        t.mirror = mirror.or(t.mirror);
        count += 1;
    }
    count
}

// ---------------------------------------------------------------------------------------------
// V1 → V2
// ---------------------------------------------------------------------------------------------

/// Caffe's `UpgradeV1LayerType`: V1 enum → V2 type string. `None` for `NONE`.
pub fn v1_type_name(t: LayerType) -> Option<&'static str> {
    Some(match t {
        LayerType::None => return None,
        LayerType::Absval => "AbsVal",
        LayerType::Accuracy => "Accuracy",
        LayerType::Argmax => "ArgMax",
        LayerType::Bnll => "BNLL",
        LayerType::Concat => "Concat",
        LayerType::ContrastiveLoss => "ContrastiveLoss",
        LayerType::Convolution => "Convolution",
        LayerType::Deconvolution => "Deconvolution",
        LayerType::Data => "Data",
        LayerType::Dropout => "Dropout",
        LayerType::DummyData => "DummyData",
        LayerType::EuclideanLoss => "EuclideanLoss",
        LayerType::Eltwise => "Eltwise",
        LayerType::Exp => "Exp",
        LayerType::Flatten => "Flatten",
        LayerType::Hdf5Data => "HDF5Data",
        LayerType::Hdf5Output => "HDF5Output",
        LayerType::HingeLoss => "HingeLoss",
        LayerType::Im2col => "Im2col",
        LayerType::ImageData => "ImageData",
        LayerType::InfogainLoss => "InfogainLoss",
        LayerType::InnerProduct => "InnerProduct",
        LayerType::Lrn => "LRN",
        LayerType::MemoryData => "MemoryData",
        LayerType::MultinomialLogisticLoss => "MultinomialLogisticLoss",
        LayerType::Mvn => "MVN",
        LayerType::Pooling => "Pooling",
        LayerType::Power => "Power",
        LayerType::Relu => "ReLU",
        LayerType::Sigmoid => "Sigmoid",
        LayerType::SigmoidCrossEntropyLoss => "SigmoidCrossEntropyLoss",
        LayerType::Silence => "Silence",
        LayerType::Softmax => "Softmax",
        LayerType::SoftmaxLoss => "SoftmaxWithLoss",
        LayerType::Split => "Split",
        LayerType::Slice => "Slice",
        LayerType::Tanh => "TanH",
        LayerType::WindowData => "WindowData",
        LayerType::Threshold => "Threshold",
    })
}

/// The `i`-th ParamSpec of `specs`, appending default ones as needed.
fn spec_at(specs: &mut Vec<ParamSpec>, i: usize) -> &mut ParamSpec {
    if specs.len() <= i {
        specs.resize_with(i + 1, ParamSpec::default);
    }
    &mut specs[i]
}

/// Caffe's `UpgradeV1LayerParameter`.
fn upgrade_v1_layer(v1: V1LayerParameter, index: usize, source: &str) -> Result<LayerParameter> {
    // Exhaustive destructuring: a field added to the schema must be handled here.
    let V1LayerParameter {
        bottom,
        top,
        name,
        include,
        exclude,
        r#type,
        blobs,
        param,
        blob_share_mode,
        blobs_lr,
        weight_decay,
        loss_weight,
        accuracy_param,
        argmax_param,
        concat_param,
        contrastive_loss_param,
        convolution_param,
        data_param,
        dropout_param,
        dummy_data_param,
        eltwise_param,
        exp_param,
        hdf5_data_param,
        hdf5_output_param,
        hinge_loss_param,
        image_data_param,
        infogain_loss_param,
        inner_product_param,
        lrn_param,
        memory_data_param,
        mvn_param,
        pooling_param,
        power_param,
        relu_param,
        sigmoid_param,
        softmax_param,
        slice_param,
        tanh_param,
        threshold_param,
        window_data_param,
        transform_param,
        loss_param,
        layer,
    } = v1;
    let label = layer_label(name.as_deref(), index);
    if layer.is_some() {
        // Unreachable through upgrade_net (the V0 step converts these first).
        return Err(Error::input(format!("{source}: V1 layer {label} still holds a V0 layer")));
    }
    let type_name = match r#type {
        None => None,
        Some(n) => match LayerType::try_from(n) {
            Ok(t) => match v1_type_name(t) {
                Some(s) => Some(s.to_string()),
                None => {
                    return Err(Error::input(format!(
                        "{source}: V1 layer {label} has type NONE, which has no current-format \
                         equivalent"
                    )))
                }
            },
            Err(_) => {
                return Err(Error::input(format!(
                    "{source}: V1 layer {label} has unknown type number {n}"
                )))
            }
        },
    };
    let mut specs: Vec<ParamSpec> = Vec::new();
    for (i, n) in param.into_iter().enumerate() {
        spec_at(&mut specs, i).name = Some(n);
    }
    for (i, mode) in blob_share_mode.into_iter().enumerate() {
        let mode = match v1_layer_parameter::DimCheckMode::try_from(mode) {
            Ok(v1_layer_parameter::DimCheckMode::Strict) => param_spec::DimCheckMode::Strict,
            Ok(v1_layer_parameter::DimCheckMode::Permissive) => {
                param_spec::DimCheckMode::Permissive
            }
            Err(_) => {
                return Err(Error::input(format!(
                    "{source}: V1 layer {label} has unknown blob_share_mode {mode}"
                )))
            }
        };
        spec_at(&mut specs, i).share_mode = Some(mode as i32);
    }
    for (i, lr) in blobs_lr.into_iter().enumerate() {
        spec_at(&mut specs, i).lr_mult = Some(lr);
    }
    for (i, decay) in weight_decay.into_iter().enumerate() {
        spec_at(&mut specs, i).decay_mult = Some(decay);
    }
    Ok(LayerParameter {
        name,
        r#type: type_name,
        bottom,
        top,
        loss_weight,
        param: specs,
        blobs,
        include,
        exclude,
        transform_param,
        loss_param,
        accuracy_param,
        argmax_param,
        concat_param,
        contrastive_loss_param,
        convolution_param,
        data_param,
        dropout_param,
        dummy_data_param,
        eltwise_param,
        exp_param,
        hdf5_data_param,
        hdf5_output_param,
        hinge_loss_param,
        image_data_param,
        infogain_loss_param,
        inner_product_param,
        lrn_param,
        memory_data_param,
        mvn_param,
        pooling_param,
        power_param,
        relu_param,
        sigmoid_param,
        softmax_param,
        slice_param,
        tanh_param,
        threshold_param,
        window_data_param,
        ..Default::default()
    })
}

// ---------------------------------------------------------------------------------------------
// Legacy inputs, BatchNorm
// ---------------------------------------------------------------------------------------------

/// Caffe's `UpgradeNetInput`: `input` + `input_shape`/`input_dim` become a first layer
/// `{ name: "input" type: "Input" top: <inputs> input_param { shape ... } }`; the legacy fields are
/// cleared. Names without any shape (as in old .caffemodel files) are simply dropped.
fn upgrade_input(net: &mut NetParameter, source: &str) -> Result<String> {
    let inputs = std::mem::take(&mut net.input);
    let shapes = std::mem::take(&mut net.input_shape);
    let dims = std::mem::take(&mut net.input_dim);
    let n = inputs.len();
    let shapes = match (shapes.is_empty(), dims.is_empty()) {
        (true, true) => {
            return Ok(format!("dropped {n} legacy input name(s) that carry no shape"));
        }
        (false, false) => {
            return Err(Error::input(format!(
                "{source}: give either input_shape or the deprecated input_dim, not both"
            )));
        }
        (false, true) => {
            if shapes.len() != n {
                return Err(Error::input(format!(
                    "{source}: {n} input(s) but {} input_shape(s); give exactly one shape per input",
                    shapes.len()
                )));
            }
            shapes
        }
        (true, false) => {
            if dims.len() != 4 * n {
                return Err(Error::input(format!(
                    "{source}: {n} input(s) need {} input_dim values (4 per input), found {}",
                    4 * n,
                    dims.len()
                )));
            }
            dims.chunks(4)
                .map(|d| BlobShape { dim: d.iter().map(|&v| i64::from(v)).collect() })
                .collect()
        }
    };
    let note = format!("legacy input fields → Input layer 'input' (tops: {})", inputs.join(", "));
    let layer = LayerParameter {
        name: Some("input".to_string()),
        r#type: Some("Input".to_string()),
        top: inputs,
        input_param: Some(InputParameter { shape: shapes }),
        ..Default::default()
    };
    net.layer.insert(0, layer);
    Ok(note)
}

/// True for a BatchNorm layer with exactly 3 param specs not all having explicit zero multipliers.
fn batch_norm_needs_fix(l: &LayerParameter) -> bool {
    l.r#type.as_deref() == Some("BatchNorm")
        && l.param.len() == 3
        && l.param.iter().any(|p| p.lr_mult != Some(0.0) || p.decay_mult != Some(0.0))
}

/// Caffe's `UpgradeNetBatchNorm` (BVLC master, after PR #5184): every BatchNorm layer declaring
/// exactly 3 param specs gets lr_mult = decay_mult = 0 in each (names and share modes are kept).
/// Returns the number of layers actually changed.
fn upgrade_batch_norm(net: &mut NetParameter) -> usize {
    let mut changed = 0;
    for l in &mut net.layer {
        if batch_norm_needs_fix(l) {
            for p in &mut l.param {
                p.lr_mult = Some(0.0);
                p.decay_mult = Some(0.0);
            }
            changed += 1;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::prototxt::{parse_net, print_net};
    use prost::Message;
    use std::path::Path;

    fn parse(src: &str) -> NetParameter {
        parse_net(src, "test.prototxt").unwrap_or_else(|e| panic!("parse failed: {e}")).0
    }

    fn upgrade(src: &str) -> (NetParameter, Vec<String>) {
        upgrade_net(parse(src), "test.prototxt").unwrap_or_else(|e| panic!("upgrade failed: {e}"))
    }

    fn upgrade_err(src: &str) -> Error {
        match upgrade_net(parse(src), "test.prototxt") {
            Ok((net, _)) => panic!("expected an error, got:\n{}", print_net(&net)),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Input);
                assert!(e.message().starts_with("test.prototxt: "), "{e}");
                e
            }
        }
    }

    /// Asserts equality, printing both nets layer by layer on failure.
    fn assert_same(got: &NetParameter, want: &NetParameter, what: &str) {
        if got == want {
            return;
        }
        let mut g = got.clone();
        let mut w = want.clone();
        let mut report = format!("{what}: upgraded net differs\n");
        for (i, (a, b)) in g.layer.iter().zip(&w.layer).enumerate() {
            if a != b {
                let one = |l: &LayerParameter| {
                    print_net(&NetParameter { layer: vec![l.clone()], ..Default::default() })
                };
                report.push_str(&format!("layer {i}:\n--- got\n{}--- want\n{}", one(a), one(b)));
            }
        }
        g.layer.clear();
        w.layer.clear();
        if g != w || got.layer.len() != want.layer.len() {
            report.push_str(&format!(
                "net fields / layer count ({} vs {}):\n--- got\n{}--- want\n{}",
                got.layer.len(),
                want.layer.len(),
                print_net(&g),
                print_net(&w)
            ));
        }
        panic!("{report}");
    }

    #[test]
    fn v1_model_files_match_their_v2_counterparts() {
        let dir = Path::new("/work/shared/models");
        if !dir.is_dir() {
            println!("note: {} is absent; skipping the model-file comparison", dir.display());
            return;
        }
        let pairs = [
            ("alexnet_v1_deploy.prototxt", "bvlc_alexnet_deploy.prototxt"),
            ("alexnet_v1_train_val.prototxt", "bvlc_alexnet_train_val.prototxt"),
            ("lenet_v1.prototxt", "lenet.prototxt"),
            ("cifar10_quick_v1.prototxt", "cifar10_quick.prototxt"),
        ];
        for (v1_file, v2_file) in pairs {
            let read = |f: &str| {
                let path = dir.join(f);
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                parse_net(&text, f).unwrap_or_else(|e| panic!("{e}")).0
            };
            let v1 = read(v1_file);
            let v2 = read(v2_file);
            assert!(needs_upgrade(&v1), "{v1_file}");
            assert!(!needs_upgrade(&v2), "{v2_file}");
            let (mut up, notes) = upgrade_net(v1.clone(), v1_file).unwrap();
            assert!(!needs_upgrade(&up), "{v1_file}");
            assert!(notes.iter().any(|n| n.contains("V1 layers")), "{v1_file}: {notes:?}");
            // The one documented difference: Caffe names the generated Input layer "input",
            // the hand-written V2 files name it "data".
            if !v1.input.is_empty() {
                assert_eq!(up.layer[0].name.as_deref(), Some("input"), "{v1_file}");
                assert_eq!(up.layer[0].r#type.as_deref(), Some("Input"), "{v1_file}");
                assert!(notes.iter().any(|n| n.contains("Input layer 'input'")), "{notes:?}");
                up.layer[0].name = Some("data".to_string());
            }
            assert_same(&up, &v2, v1_file);
            // Upgrading the V2 file is the identity.
            let (same, notes) = upgrade_net(v2.clone(), v2_file).unwrap();
            assert_eq!(same, v2, "{v2_file}");
            assert!(notes.is_empty(), "{v2_file}: {notes:?}");
        }
    }

    #[test]
    fn current_nets_pass_through_unchanged() {
        let src = r#"
            name: "v2"
            force_backward: true
            layer { name: "data" type: "Input" top: "data"
                    input_param { shape { dim: 1 dim: 3 dim: 5 dim: 5 } } }
            layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
                    param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
                    convolution_param { num_output: 2 kernel_size: 3 } }
            layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv"
                    param { lr_mult: 0 decay_mult: 0 } param { lr_mult: 0 decay_mult: 0 }
                    param { lr_mult: 0 decay_mult: 0 } }
            layer { name: "bn2" type: "BatchNorm" bottom: "conv" top: "conv" }
        "#;
        let net = parse(src);
        assert!(!needs_upgrade(&net));
        let (up, notes) = upgrade_net(net.clone(), "x").unwrap();
        assert_eq!(up, net);
        assert!(notes.is_empty());
        assert!(!needs_upgrade(&NetParameter::default()));
    }

    #[test]
    fn blobs_lr_and_weight_decay_map_by_index() {
        let (net, _) = upgrade(
            r#"
            layers { name: "a" type: CONVOLUTION bottom: "x" top: "a"
                     blobs_lr: 1 blobs_lr: 2 blobs_lr: 3 weight_decay: 0.5 }
            layers { name: "b" type: INNER_PRODUCT bottom: "a" top: "b"
                     blobs_lr: 4 weight_decay: 1 weight_decay: 0 weight_decay: 7 }
            layers { name: "c" type: INNER_PRODUCT bottom: "b" top: "c"
                     param: "shared_w" param: "shared_b" blob_share_mode: STRICT
                     blob_share_mode: PERMISSIVE blob_share_mode: STRICT weight_decay: 2 }
        "#,
        );
        let want = parse(
            r#"
            layer { name: "a" type: "Convolution" bottom: "x" top: "a"
                    param { lr_mult: 1 decay_mult: 0.5 } param { lr_mult: 2 }
                    param { lr_mult: 3 } }
            layer { name: "b" type: "InnerProduct" bottom: "a" top: "b"
                    param { lr_mult: 4 decay_mult: 1 } param { decay_mult: 0 }
                    param { decay_mult: 7 } }
            layer { name: "c" type: "InnerProduct" bottom: "b" top: "c"
                    param { name: "shared_w" share_mode: STRICT decay_mult: 2 }
                    param { name: "shared_b" share_mode: PERMISSIVE }
                    param { share_mode: STRICT } }
        "#,
        );
        assert_same(&net, &want, "blobs_lr/weight_decay");
        // Unset multipliers stay unset (so they keep the proto default of 1).
        assert_eq!(net.layer[0].param[1].decay_mult, None);
        assert_eq!(net.layer[1].param[1].lr_mult, None);
    }

    #[test]
    fn every_v1_field_is_carried_across() {
        let (net, _) = upgrade(
            r#"
            layers { name: "l" type: SOFTMAX_LOSS bottom: "p" bottom: "q" top: "loss"
                     loss_weight: 2.5
                     include { phase: TRAIN } exclude { stage: "deploy" }
                     loss_param { ignore_label: 3 } softmax_param { axis: 2 } }
            layers { name: "d" type: DATA top: "x" top: "y"
                     data_param { source: "db" batch_size: 8 }
                     transform_param { crop_size: 4 mirror: true } }
            layers { name: "p" type: POOLING bottom: "x" top: "p"
                     pooling_param { pool: AVE kernel_size: 3 stride: 2 } }
            layers { name: "e" type: ELTWISE bottom: "p" bottom: "q" top: "e"
                     eltwise_param { operation: SUM coeff: 1 coeff: -1 } }
        "#,
        );
        let want = parse(
            r#"
            layer { name: "l" type: "SoftmaxWithLoss" bottom: "p" bottom: "q" top: "loss"
                    loss_weight: 2.5
                    include { phase: TRAIN } exclude { stage: "deploy" }
                    loss_param { ignore_label: 3 } softmax_param { axis: 2 } }
            layer { name: "d" type: "Data" top: "x" top: "y"
                    data_param { source: "db" batch_size: 8 }
                    transform_param { crop_size: 4 mirror: true } }
            layer { name: "p" type: "Pooling" bottom: "x" top: "p"
                    pooling_param { pool: AVE kernel_size: 3 stride: 2 } }
            layer { name: "e" type: "Eltwise" bottom: "p" bottom: "q" top: "e"
                    eltwise_param { operation: SUM coeff: 1 coeff: -1 } }
        "#,
        );
        assert_same(&net, &want, "field copy");
    }

    #[test]
    fn v1_type_table_covers_every_enum_value() {
        let mut names = std::collections::HashSet::new();
        for &(enum_name, number) in crate::proto::schema::ENUMS
            .iter()
            .find(|e| e.name == "caffe.V1LayerParameter.LayerType")
            .expect("V1 LayerType in schema")
            .values
        {
            let t = LayerType::try_from(number).unwrap();
            match v1_type_name(t) {
                None => assert_eq!(enum_name, "NONE"),
                Some(s) => {
                    assert!(names.insert(s), "duplicate type string {s}");
                    // The strings are the enum names in CamelCase, give or take Caffe's spellings.
                    let squashed: String =
                        enum_name.chars().filter(|&c| c != '_').collect::<String>().to_lowercase();
                    let special = [("SOFTMAX_LOSS", "SoftmaxWithLoss")];
                    if !special.contains(&(enum_name, s)) {
                        assert_eq!(s.to_lowercase(), squashed, "{enum_name}");
                    }
                }
            }
        }
        assert_eq!(names.len(), 39);
        assert_eq!(v1_type_name(LayerType::Hdf5Data), Some("HDF5Data"));
        assert_eq!(v1_type_name(LayerType::Tanh), Some("TanH"));
        assert_eq!(v1_type_name(LayerType::Im2col), Some("Im2col"));
    }

    #[test]
    fn input_dim_groups_become_one_shape_per_input() {
        let (net, notes) = upgrade(
            r#"
            name: "two"
            input: "img" input: "aux"
            input_dim: 2 input_dim: 3 input_dim: 4 input_dim: 5
            input_dim: 2 input_dim: 7 input_dim: 1 input_dim: 1
            layer { name: "c" type: "Concat" bottom: "img" bottom: "aux" top: "c" }
        "#,
        );
        let want = parse(
            r#"
            name: "two"
            layer { name: "input" type: "Input" top: "img" top: "aux"
                    input_param { shape { dim: 2 dim: 3 dim: 4 dim: 5 }
                                  shape { dim: 2 dim: 7 dim: 1 dim: 1 } } }
            layer { name: "c" type: "Concat" bottom: "img" bottom: "aux" top: "c" }
        "#,
        );
        assert_same(&net, &want, "input_dim");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("img, aux"), "{notes:?}");

        let e = upgrade_err(r#"input: "a" input: "b" input_dim: 1 input_dim: 2 input_dim: 3"#);
        assert!(e.message().contains("4 per input"), "{e}");
        let e = upgrade_err(
            r#"input: "a" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 4 input_dim: 5"#,
        );
        assert!(e.message().contains("found 5"), "{e}");
    }

    #[test]
    fn input_shape_becomes_input_layer() {
        let src = r#"
            input: "data"
            input_shape { dim: 10 dim: 3 dim: 224 dim: 224 }
            layer { name: "r" type: "ReLU" bottom: "data" top: "data" }
        "#;
        assert!(needs_upgrade(&parse(src)));
        let (net, _) = upgrade(src);
        let want = parse(
            r#"
            layer { name: "input" type: "Input" top: "data"
                    input_param { shape { dim: 10 dim: 3 dim: 224 dim: 224 } } }
            layer { name: "r" type: "ReLU" bottom: "data" top: "data" }
        "#,
        );
        assert_same(&net, &want, "input_shape");
        assert!(net.input.is_empty() && net.input_shape.is_empty() && net.input_dim.is_empty());

        let e = upgrade_err(r#"input: "a" input: "b" input_shape { dim: 1 }"#);
        assert!(e.message().contains("one shape per input"), "{e}");
        let e = upgrade_err(r#"input: "a" input_shape { dim: 1 } input_dim: 1 input_dim: 1"#);
        assert!(e.message().contains("not both"), "{e}");
    }

    #[test]
    fn bare_input_names_are_dropped() {
        // Old .caffemodel files list input names without shapes; Caffe just clears them.
        let (net, notes) = upgrade(r#"input: "data" layer { name: "r" type: "ReLU" }"#);
        assert!(net.input.is_empty());
        assert_eq!(net.layer.len(), 1);
        assert!(notes[0].contains("dropped 1"), "{notes:?}");
    }

    #[test]
    fn mixing_layer_and_layers_is_refused() {
        let e = upgrade_err(r#"layer { name: "a" type: "ReLU" } layers { name: "b" type: RELU }"#);
        assert!(e.message().contains("both `layer`"), "{e}");
    }

    #[test]
    fn v1_type_none_and_unknown_numbers_are_refused() {
        let e = upgrade_err(r#"layers { name: "x" type: NONE bottom: "a" top: "b" }"#);
        assert!(e.message().contains("'x' has type NONE"), "{e}");
        // An unset type stays unset, as in Caffe.
        let (net, _) = upgrade(r#"layers { name: "x" bottom: "a" top: "b" }"#);
        assert_eq!(net.layer[0].r#type, None);
        // Binary files can hold enum numbers the schema does not know.
        let net = NetParameter {
            layers: vec![V1LayerParameter { r#type: Some(99), ..Default::default() }],
            ..Default::default()
        };
        let e = upgrade_net(net, "m.caffemodel").unwrap_err();
        assert!(e.message().contains("unknown type number 99"), "{e}");
        let net = NetParameter {
            layers: vec![V1LayerParameter {
                r#type: Some(LayerType::Relu as i32),
                blob_share_mode: vec![5],
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = upgrade_net(net, "m.caffemodel").unwrap_err();
        assert!(e.message().contains("blob_share_mode 5"), "{e}");
    }

    #[test]
    fn legacy_data_transformation_fields_move_to_transform_param() {
        let src = r#"
            layers { name: "d" type: DATA top: "x"
                     data_param { source: "db" scale: 0.5 mean_file: "m.binaryproto"
                                  crop_size: 7 mirror: true batch_size: 3 } }
            layers { name: "i" type: IMAGE_DATA top: "y"
                     image_data_param { source: "list" crop_size: 5 }
                     transform_param { crop_size: 9 scale: 2 } }
            layers { name: "w" type: WINDOW_DATA top: "z"
                     window_data_param { source: "win" mirror: false } }
            layers { name: "d2" type: DATA top: "v" }
            layers { name: "r" type: RELU bottom: "x" top: "x"
                     transform_param { scale: 3 } }
        "#;
        let (net, notes) = upgrade(src);
        let want = parse(
            r#"
            layer { name: "d" type: "Data" top: "x"
                    data_param { source: "db" batch_size: 3 }
                    transform_param { scale: 0.5 mean_file: "m.binaryproto" crop_size: 7
                                      mirror: true } }
            layer { name: "i" type: "ImageData" top: "y"
                    image_data_param { source: "list" }
                    transform_param { crop_size: 5 scale: 2 } }
            layer { name: "w" type: "WindowData" top: "z"
                    window_data_param { source: "win" }
                    transform_param { mirror: false } }
            layer { name: "d2" type: "Data" top: "v" data_param { } transform_param { } }
            layer { name: "r" type: "ReLU" bottom: "x" top: "x" transform_param { scale: 3 } }
        "#,
        );
        assert_same(&net, &want, "data transformation");
        assert!(notes.iter().any(|n| n.contains("4 data layer(s)")), "{notes:?}");
        // Without any legacy field, data layers are not touched.
        let (net, notes) = upgrade(r#"layers { name: "d2" type: DATA top: "v" }"#);
        assert_eq!(net.layer[0].data_param, None);
        assert_eq!(net.layer[0].transform_param, None);
        assert_eq!(notes.len(), 1);
    }

    #[test]
    fn batch_norm_param_specs_get_zero_multipliers() {
        let src = r#"
            layer { name: "bn0" type: "BatchNorm"
                    param { lr_mult: 1 decay_mult: 1 name: "m" }
                    param { lr_mult: 0 share_mode: PERMISSIVE } param { } }
            layer { name: "bn1" type: "BatchNorm" param { lr_mult: 1 } param { lr_mult: 1 } }
            layer { name: "sc" type: "Scale"
                    param { lr_mult: 1 } param { lr_mult: 1 } param { lr_mult: 1 } }
        "#;
        let net = parse(src);
        assert!(needs_upgrade(&net));
        let (up, notes) = upgrade_net(net.clone(), "bn").unwrap();
        let want = parse(
            r#"
            layer { name: "bn0" type: "BatchNorm"
                    param { lr_mult: 0 decay_mult: 0 name: "m" }
                    param { lr_mult: 0 decay_mult: 0 share_mode: PERMISSIVE }
                    param { lr_mult: 0 decay_mult: 0 } }
            layer { name: "bn1" type: "BatchNorm" param { lr_mult: 1 } param { lr_mult: 1 } }
            layer { name: "sc" type: "Scale"
                    param { lr_mult: 1 } param { lr_mult: 1 } param { lr_mult: 1 } }
        "#,
        );
        assert_same(&up, &want, "batch norm");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("1 BatchNorm"), "{notes:?}");
        assert!(!needs_upgrade(&up));
    }

    #[test]
    fn v0_net_is_upgraded_with_padding_folded() {
        let src = r#"
            name: "v0"
            input: "data"
            input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
            layers { layer { name: "d" type: "data" source: "db" batchsize: 4 cropsize: 3
                             mirror: true meanfile: "m" scale: 0.5 rand_skip: 2 }
                     top: "data2" top: "label" }
            layers { layer { name: "pad1" type: "padding" pad: 2 } bottom: "data" top: "pad1" }
            layers { layer { name: "conv1" type: "conv" num_output: 4 kernelsize: 3 stride: 1
                             group: 1 biasterm: false weight_filler { type: "gaussian" std: 0.01 }
                             blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0 }
                     bottom: "pad1" top: "conv1" }
            layers { layer { name: "relu1" type: "relu" } bottom: "conv1" top: "conv1" }
            layers { layer { name: "pool1" type: "pool" pool: AVE kernelsize: 2 stride: 2 }
                     bottom: "conv1" top: "pool1" }
            layers { layer { name: "norm" type: "lrn" local_size: 3 alpha: 0.1 beta: 0.5 }
                     bottom: "pool1" top: "norm" }
            layers { layer { name: "drop" type: "dropout" dropout_ratio: 0.25 num_output: 5 }
                     bottom: "norm" top: "norm" }
            layers { layer { name: "fc" type: "innerproduct" num_output: 10 } bottom: "norm"
                     top: "fc" }
            layers { layer { name: "loss" type: "softmax_loss" } bottom: "fc" bottom: "label"
                     top: "loss" }
        "#;
        let net = parse(src);
        assert!(needs_upgrade(&net));
        let (up, notes) = upgrade_net(net, "v0").unwrap();
        let want = parse(
            r#"
            name: "v0"
            layer { name: "input" type: "Input" top: "data"
                    input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
            layer { name: "d" type: "Data" top: "data2" top: "label"
                    data_param { source: "db" batch_size: 4 rand_skip: 2 }
                    transform_param { scale: 0.5 mean_file: "m" crop_size: 3 mirror: true } }
            layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
                    param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
                    convolution_param { num_output: 4 bias_term: false pad: 2 kernel_size: 3
                                        stride: 1 group: 1
                                        weight_filler { type: "gaussian" std: 0.01 } } }
            layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
            layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
                    pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
            layer { name: "norm" type: "LRN" bottom: "pool1" top: "norm"
                    lrn_param { local_size: 3 alpha: 0.1 beta: 0.5 } }
            layer { name: "drop" type: "Dropout" bottom: "norm" top: "norm"
                    dropout_param { dropout_ratio: 0.25 } }
            layer { name: "fc" type: "InnerProduct" bottom: "norm" top: "fc"
                    inner_product_param { num_output: 10 } }
            layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label"
                    top: "loss" }
        "#,
        );
        assert_same(&up, &want, "V0");
        let joined = notes.join("\n");
        assert!(joined.contains("upgraded 8 V0 layers"), "{joined}");
        assert!(joined.contains("folded into 1 conv/pool"), "{joined}");
        assert!(joined.contains("'drop': setting 'num_output'"), "{joined}");
        assert!(joined.contains("upgraded 8 V1 layers"), "{joined}");
    }

    #[test]
    fn v0_errors() {
        let e = upgrade_err(r#"layers { layer { name: "q" type: "quux" } }"#);
        assert!(e.message().contains("unknown type 'quux'"), "{e}");
        let e = upgrade_err(
            r#"input: "a"
               layers { layer { name: "p" type: "padding" pad: 1 } bottom: "a" top: "p" }
               layers { layer { name: "r" type: "relu" } bottom: "p" top: "r" }"#,
        );
        assert!(e.message().contains("padding layer output feeds layer 'r'"), "{e}");
        let e = upgrade_err(r#"layers { layer { name: "r" type: "relu" } bottom: "nope" }"#);
        assert!(e.message().contains("'nope'"), "{e}");
        let e = upgrade_err(
            r#"layers { layer { name: "r" type: "relu" } } layers { name: "s" type: RELU }"#,
        );
        assert!(e.message().contains("mixed V0/V1"), "{e}");
    }

    #[test]
    fn caffemodel_blobs_move_across_unchanged() {
        let blob = |seed: f32, n: usize| crate::proto::caffe::BlobProto {
            num: Some(1),
            channels: Some(1),
            height: Some(2),
            width: Some(n as i32 / 2),
            data: (0..n).map(|i| seed + i as f32 * 0.25).collect(),
            ..Default::default()
        };
        let v1 = NetParameter {
            name: Some("m".into()),
            input: vec!["data".into()],
            layers: vec![
                V1LayerParameter {
                    name: Some("conv1".into()),
                    r#type: Some(LayerType::Convolution as i32),
                    bottom: vec!["data".into()],
                    top: vec!["conv1".into()],
                    blobs: vec![blob(1.0, 8), blob(-3.0, 2)],
                    blobs_lr: vec![1.0, 2.0],
                    ..Default::default()
                },
                V1LayerParameter {
                    name: Some("fc".into()),
                    r#type: Some(LayerType::InnerProduct as i32),
                    blobs: vec![blob(0.5, 6)],
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        // Through the wire format, as a .caffemodel would arrive.
        let bytes = v1.encode_to_vec();
        let decoded = NetParameter::decode(bytes.as_slice()).unwrap();
        let (up, _) = upgrade_net(decoded, "m.caffemodel").unwrap();
        assert!(up.input.is_empty() && up.layers.is_empty());
        assert_eq!(up.layer.len(), 2);
        assert_eq!(up.layer[0].blobs, v1.layers[0].blobs);
        assert_eq!(up.layer[1].blobs, v1.layers[1].blobs);
        assert_eq!(up.layer[0].r#type.as_deref(), Some("Convolution"));
        assert_eq!(up.layer[1].name.as_deref(), Some("fc"));
        // V0 caffemodels carry the blobs inside the V0 layer.
        let v0 = NetParameter {
            layers: vec![V1LayerParameter {
                layer: Some(V0LayerParameter {
                    name: Some("ip".into()),
                    r#type: Some("innerproduct".into()),
                    blobs: vec![blob(2.0, 4), blob(9.0, 2)],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let (up, _) = upgrade_net(v0.clone(), "old.caffemodel").unwrap();
        assert_eq!(up.layer[0].blobs, v0.layers[0].layer.as_ref().unwrap().blobs);
        assert_eq!(up.layer[0].r#type.as_deref(), Some("InnerProduct"));
    }
}
