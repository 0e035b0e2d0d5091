//! The closed set of layer types: one file per type holding its parameter parsing (from
//! `caffe.LayerParameter`), shape inference and tests; this file is the enum that dispatches.

pub mod batch_norm;
pub mod bias;
pub mod concat;
pub mod convolution;
pub mod deconvolution;
pub mod dropout;
pub mod eltwise;
pub mod flatten;
#[cfg(test)]
mod gradcheck;
pub mod inner_product;
pub mod input;
pub mod lrn;
pub mod pooling;
pub mod power;
pub mod prelu;
pub mod relu;
pub mod reshape;
pub mod scale;
pub mod sigmoid;
pub mod slice;
pub mod softmax;
pub mod split;
pub mod tanh;

use crate::error::{Error, Result};
use crate::proto::caffe::{LayerParameter, Phase};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// A blob shape, outermost axis first (Caffe's `vector<int>` shape).
pub type Shape = Vec<usize>;

/// What a layer's setup produced: the typed layer, its top shapes and its learnable blob shapes.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The typed layer.
    pub layer: Layer,
    /// Shapes of the tops, in order.
    pub tops: Vec<Shape>,
    /// Shapes of the learnable blobs (weights, bias, statistics), in Caffe's order.
    pub params: Vec<Shape>,
}

/// Every layer type magic-init runs. Data layers are turned into [`Layer::Input`] by the net
/// builder; loss and accuracy layers are stripped before this point.
#[derive(Clone, Debug)]
pub enum Layer {
    /// Tops fed from outside (images).
    Input(input::Input),
    /// 2-D convolution.
    Convolution(convolution::Convolution),
    /// 2-D transposed convolution.
    Deconvolution(deconvolution::Deconvolution),
    /// Fully connected.
    InnerProduct(inner_product::InnerProduct),
    /// MAX / AVE pooling.
    Pooling(pooling::Pooling),
    /// Local response normalisation.
    Lrn(lrn::Lrn),
    /// Rectifier with optional leak.
    ReLU(relu::ReLU),
    /// Rectifier with learned per-channel leak.
    PReLU(prelu::PReLU),
    /// Logistic function.
    Sigmoid(sigmoid::Sigmoid),
    /// Hyperbolic tangent.
    TanH(tanh::TanH),
    /// Random zeroing (TRAIN) or identity (TEST).
    Dropout(dropout::Dropout),
    /// Element-wise SUM / PROD / MAX of several bottoms.
    Eltwise(eltwise::Eltwise),
    /// Concatenation along an axis.
    Concat(concat::Concat),
    /// Fan-out of one blob to several consumers.
    Split(split::Split),
    /// Cut along an axis.
    Slice(slice::Slice),
    /// Normalisation by batch or stored statistics.
    BatchNorm(batch_norm::BatchNorm),
    /// Broadcast multiplication (+ optional bias).
    Scale(scale::Scale),
    /// Broadcast addition.
    Bias(bias::Bias),
    /// Merge axes.
    Flatten(flatten::Flatten),
    /// Change the shape, keep the data.
    Reshape(reshape::Reshape),
    /// Normalised exponential along an axis.
    Softmax(softmax::Softmax),
    /// (shift + scale·x)^power.
    Power(power::Power),
}

/// Per-layer buffers kept between forward and backward (argmax, dropout mask, LRN scale, saved
/// inputs of in-place layers, batch statistics). Each layer uses the fields it needs.
#[derive(Clone, Debug, Default)]
pub struct LayerState {
    /// MAX pooling / Eltwise MAX winners.
    pub argmax: Vec<i32>,
    /// Dropout keep mask.
    pub mask: Vec<u8>,
    /// LRN scale.
    pub scale: Vec<f32>,
    /// The input of an in-place layer whose backward needs it.
    pub saved: Vec<f32>,
    /// BatchNorm mean used.
    pub mean: Vec<f32>,
    /// BatchNorm variance used.
    pub var: Vec<f32>,
}

/// What a layer's forward may use besides its blobs: scratch space and its random stream.
pub struct Ctx<'a> {
    /// Scratch buffer (im2col columns), grown as needed.
    pub scratch: &'a mut Vec<f32>,
    /// The layer's own deterministic random stream.
    pub rng: &'a mut Rng,
    /// Whether backward must compute the bottom diffs (false when nothing below needs them,
    /// e.g. the first convolution over the images).
    pub need_bottom_diff: bool,
}

/// Layer types that only compute a training objective or a metric: stripped by the net builder.
pub fn is_loss_or_metric(type_name: &str) -> bool {
    type_name.ends_with("Loss") || matches!(type_name, "Accuracy" | "Silence")
}

/// Data-producing layer types that the net builder replaces by an [`input::Input`].
pub fn is_data_layer(type_name: &str) -> bool {
    matches!(
        type_name,
        "Input" | "Data" | "ImageData" | "MemoryData" | "DummyData" | "HDF5Data" | "WindowData"
    )
}

/// Caffe layer types that parse but that magic-init cannot run.
const KNOWN_UNSUPPORTED: &[&str] = &[
    "AbsVal",
    "ArgMax",
    "BNLL",
    "Clip",
    "Crop",
    "ELU",
    "Embed",
    "Exp",
    "Filter",
    "HDF5Output",
    "Im2col",
    "Log",
    "LSTM",
    "MVN",
    "Parameter",
    "Python",
    "Recurrent",
    "Reduction",
    "RNN",
    "SPP",
    "Swish",
    "Threshold",
    "Tile",
];

impl Layer {
    /// Parses `lp` (already phase-filtered, type not a data or loss layer) for the given bottom
    /// shapes, checks everything Caffe checks at setup, and infers the tops.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape], phase: Phase) -> Result<Setup> {
        let t = lp.r#type();
        match t {
            "Convolution" => convolution::Convolution::setup(lp, bottoms),
            "Deconvolution" => deconvolution::Deconvolution::setup(lp, bottoms),
            "InnerProduct" => inner_product::InnerProduct::setup(lp, bottoms),
            "Pooling" => pooling::Pooling::setup(lp, bottoms),
            "LRN" => lrn::Lrn::setup(lp, bottoms),
            "ReLU" => relu::ReLU::setup(lp, bottoms),
            "PReLU" => prelu::PReLU::setup(lp, bottoms),
            "Sigmoid" => sigmoid::Sigmoid::setup(lp, bottoms),
            "TanH" => tanh::TanH::setup(lp, bottoms),
            "Dropout" => dropout::Dropout::setup(lp, bottoms, phase),
            "Eltwise" => eltwise::Eltwise::setup(lp, bottoms),
            "Concat" => concat::Concat::setup(lp, bottoms),
            "Split" => split::Split::setup(lp, bottoms),
            "Slice" => slice::Slice::setup(lp, bottoms),
            "BatchNorm" => batch_norm::BatchNorm::setup(lp, bottoms, phase),
            "Scale" => scale::Scale::setup(lp, bottoms),
            "Bias" => bias::Bias::setup(lp, bottoms),
            "Flatten" => flatten::Flatten::setup(lp, bottoms),
            "Reshape" => reshape::Reshape::setup(lp, bottoms),
            "Softmax" => softmax::Softmax::setup(lp, bottoms),
            "Power" => power::Power::setup(lp, bottoms),
            t if is_data_layer(t) => {
                Err(Error::input("data layers are handled by the net builder"))
            }
            t if KNOWN_UNSUPPORTED.contains(&t) => {
                Err(Error::input(format!("layer type \"{t}\" is not supported by magic-init")))
            }
            "" => Err(Error::input("layer has no `type`")),
            t => Err(Error::input(format!("unknown layer type \"{t}\""))),
        }
    }

    /// Caffe's type string of this layer.
    pub fn type_name(&self) -> &'static str {
        match self {
            Layer::Input(_) => "Input",
            Layer::Convolution(_) => "Convolution",
            Layer::Deconvolution(_) => "Deconvolution",
            Layer::InnerProduct(_) => "InnerProduct",
            Layer::Pooling(_) => "Pooling",
            Layer::Lrn(_) => "LRN",
            Layer::ReLU(_) => "ReLU",
            Layer::PReLU(_) => "PReLU",
            Layer::Sigmoid(_) => "Sigmoid",
            Layer::TanH(_) => "TanH",
            Layer::Dropout(_) => "Dropout",
            Layer::Eltwise(_) => "Eltwise",
            Layer::Concat(_) => "Concat",
            Layer::Split(_) => "Split",
            Layer::Slice(_) => "Slice",
            Layer::BatchNorm(_) => "BatchNorm",
            Layer::Scale(_) => "Scale",
            Layer::Bias(_) => "Bias",
            Layer::Flatten(_) => "Flatten",
            Layer::Reshape(_) => "Reshape",
            Layer::Softmax(_) => "Softmax",
            Layer::Power(_) => "Power",
        }
    }

    /// Multiply-adds of the layer's linear part for one image (batch item): convolutions and
    /// inner products; element-wise and pooling work is not counted (as in the usual MAC figures).
    pub fn macs_per_item(&self, bottoms: &[Shape], tops: &[Shape]) -> u64 {
        match self {
            Layer::Convolution(l) => l.macs_per_item(bottoms, tops),
            Layer::Deconvolution(l) => l.macs_per_item(bottoms, tops),
            Layer::InnerProduct(l) => l.macs_per_item(bottoms, tops),
            Layer::Input(_)
            | Layer::Pooling(_)
            | Layer::Lrn(_)
            | Layer::ReLU(_)
            | Layer::PReLU(_)
            | Layer::Sigmoid(_)
            | Layer::TanH(_)
            | Layer::Dropout(_)
            | Layer::Eltwise(_)
            | Layer::Concat(_)
            | Layer::Split(_)
            | Layer::Slice(_)
            | Layer::BatchNorm(_)
            | Layer::Scale(_)
            | Layer::Bias(_)
            | Layer::Flatten(_)
            | Layer::Reshape(_)
            | Layer::Softmax(_)
            | Layer::Power(_) => 0,
        }
    }

    /// Whether the layer may run in place (its first top is its first bottom), as Caffe's
    /// neuron-style layers can.
    pub fn supports_in_place(&self) -> bool {
        matches!(
            self,
            Layer::ReLU(_)
                | Layer::PReLU(_)
                | Layer::Sigmoid(_)
                | Layer::TanH(_)
                | Layer::Dropout(_)
                | Layer::BatchNorm(_)
                | Layer::Scale(_)
                | Layer::Bias(_)
                | Layer::Power(_)
        )
    }

    /// Runs the layer forward. With `in_place`, `tops[0]` already holds bottom 0 and `bottoms`
    /// lists only the other bottoms; otherwise `bottoms` lists them all.
    pub fn forward(
        &self,
        bottoms: &[&Tensor],
        tops: &mut [Tensor],
        in_place: bool,
        params: &mut [Tensor],
        st: &mut LayerState,
        cx: &mut Ctx,
    ) {
        // Element-wise layers compute in place; out of place, the top starts as a copy.
        let prime = |tops: &mut [Tensor]| {
            if !in_place {
                tops[0].data_mut().copy_from_slice(bottoms[0].data());
            }
        };
        let (x, rest) = if in_place {
            (None, bottoms)
        } else {
            (bottoms.first().copied(), &bottoms[1.min(bottoms.len())..])
        };
        match self {
            Layer::Input(_) => {}
            Layer::Convolution(l) => l.forward(bottoms, tops, params, cx),
            Layer::Deconvolution(l) => l.forward(bottoms, tops, params, cx),
            Layer::InnerProduct(l) => l.forward(bottoms, tops, params),
            Layer::Pooling(l) => l.forward(bottoms, tops, st),
            Layer::Lrn(l) => l.forward(bottoms, tops, st),
            Layer::ReLU(l) => {
                prime(tops);
                l.forward(&mut tops[0]);
            }
            Layer::PReLU(l) => {
                prime(tops);
                l.forward(&mut tops[0], params, st);
            }
            Layer::Sigmoid(l) => {
                prime(tops);
                l.forward(&mut tops[0]);
            }
            Layer::TanH(l) => {
                prime(tops);
                l.forward(&mut tops[0]);
            }
            Layer::Dropout(l) => {
                prime(tops);
                l.forward(&mut tops[0], st, cx);
            }
            Layer::BatchNorm(l) => {
                prime(tops);
                l.forward(&mut tops[0], params, st);
            }
            Layer::Power(l) => {
                prime(tops);
                l.forward(&mut tops[0], st);
            }
            Layer::Scale(l) => l.forward(x, rest.first().copied(), &mut tops[0], params, st),
            Layer::Bias(l) => l.forward(x, rest.first().copied(), &mut tops[0], params),
            Layer::Eltwise(l) => l.forward(bottoms, tops, st),
            Layer::Concat(l) => l.forward(bottoms, tops),
            Layer::Split(l) => l.forward(bottoms, tops),
            Layer::Slice(l) => l.forward(bottoms, tops),
            Layer::Flatten(l) => l.forward(bottoms, tops),
            Layer::Reshape(l) => l.forward(bottoms, tops),
            Layer::Softmax(l) => l.forward(bottoms, tops),
        }
    }

    /// Runs the layer backward: bottom diffs are overwritten, parameter diffs accumulate.
    ///
    /// Out of place, `bottoms`, `tops`, `top_diffs` and `bottom_diffs` list every blob. In place,
    /// `tops[0]` is the shared data (the layer's output), `bottom_diffs[0]` the shared diff
    /// (holding dy on entry, dx on exit), `top_diffs` is empty and `bottoms` lists only the other
    /// bottoms; the layer input, where needed, is the copy its forward kept.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        bottoms: &[&Tensor],
        tops: &[&Tensor],
        top_diffs: &[&Tensor],
        bottom_diffs: &mut [Tensor],
        in_place: bool,
        params: &[Tensor],
        param_diffs: &mut [Tensor],
        st: &LayerState,
        cx: &mut Ctx,
    ) {
        if self.supports_in_place() && !in_place {
            // Element-wise layers work on the diff in place; out of place it starts as dy.
            bottom_diffs[0].data_mut().copy_from_slice(top_diffs[0].data());
        }
        // The input of an element-wise layer, and its other bottoms.
        let (x, rest): (&[f32], &[&Tensor]) = if in_place {
            (&st.saved, bottoms)
        } else {
            (bottoms.first().map_or(&[][..], |b| b.data()), bottoms.get(1..).unwrap_or(&[]))
        };
        match self {
            Layer::Input(_) => {}
            Layer::Convolution(l) => {
                l.backward(bottoms, top_diffs, bottom_diffs, params, param_diffs, cx)
            }
            Layer::Deconvolution(l) => {
                l.backward(bottoms, top_diffs, bottom_diffs, params, param_diffs, cx)
            }
            Layer::InnerProduct(l) => l.backward(
                bottoms,
                top_diffs,
                bottom_diffs,
                params,
                param_diffs,
                cx.need_bottom_diff,
            ),
            Layer::Pooling(l) => l.backward(top_diffs, bottom_diffs, st),
            Layer::Lrn(l) => l.backward(bottoms, tops, top_diffs, bottom_diffs, st),
            Layer::ReLU(l) => l.backward(tops[0], &mut bottom_diffs[0]),
            Layer::PReLU(l) => {
                let x = if in_place { &st.saved[..] } else { x };
                l.backward(x, &mut bottom_diffs[0], params, param_diffs)
            }
            Layer::Sigmoid(l) => l.backward(tops[0], &mut bottom_diffs[0]),
            Layer::TanH(l) => l.backward(tops[0], &mut bottom_diffs[0]),
            Layer::Dropout(l) => l.backward(&mut bottom_diffs[0], st),
            Layer::BatchNorm(l) => l.backward(tops[0], &mut bottom_diffs[0], st),
            Layer::Power(l) => l.backward(&st.saved, tops[0], &mut bottom_diffs[0]),
            Layer::Scale(l) => {
                let (d0, drest) = bottom_diffs.split_at_mut(1);
                let factor = rest.first().copied().zip(drest.first_mut());
                l.backward(x, factor, &mut d0[0], params, param_diffs)
            }
            Layer::Bias(l) => {
                let (d0, drest) = bottom_diffs.split_at_mut(1);
                l.backward(drest.first_mut(), &d0[0], param_diffs)
            }
            Layer::Eltwise(l) => l.backward(bottoms, tops, top_diffs, bottom_diffs, st),
            Layer::Concat(l) => l.backward(top_diffs, bottom_diffs),
            Layer::Split(l) => l.backward(top_diffs, bottom_diffs),
            Layer::Slice(l) => l.backward(top_diffs, bottom_diffs),
            Layer::Flatten(l) => l.backward(top_diffs, bottom_diffs),
            Layer::Reshape(l) => l.backward(top_diffs, bottom_diffs),
            Layer::Softmax(l) => l.backward(tops, top_diffs, bottom_diffs),
        }
    }

    /// True for the layers whose weights magic-init initialises.
    pub fn is_weighted(&self) -> bool {
        matches!(self, Layer::Convolution(_) | Layer::Deconvolution(_) | Layer::InnerProduct(_))
    }
}

/// Number of elements of a shape.
pub fn count(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Formats a shape as `10×3×227×227` (`scalar` for an empty shape).
pub fn fmt_shape(shape: &[usize]) -> String {
    if shape.is_empty() {
        return "scalar".into();
    }
    shape.iter().map(usize::to_string).collect::<Vec<_>>().join("×")
}

/// Caffe's `CanonicalAxisIndex`: `axis` may be negative (counted from the end).
pub fn canonical_axis(axis: i32, ndim: usize, what: &str) -> Result<usize> {
    let n = ndim as i64;
    let a = i64::from(axis);
    if a < -n || a >= n {
        return Err(Error::input(format!(
            "{what} {axis} is out of range for a {ndim}-axis blob (allowed {}..{})",
            -n,
            n - 1
        )));
    }
    Ok(if a < 0 { (a + n) as usize } else { a as usize })
}

/// Checks the number of bottoms and tops against Caffe's `ExactNum*`/`Min*`/`Max*` rules.
pub fn check_arity(
    lp: &LayerParameter,
    bottoms: (usize, usize),
    tops: (usize, usize),
) -> Result<()> {
    let (nb, nt) = (lp.bottom.len(), lp.top.len());
    let range = |(lo, hi): (usize, usize)| {
        if lo == hi {
            format!("{lo}")
        } else if hi == usize::MAX {
            format!("at least {lo}")
        } else {
            format!("{lo} to {hi}")
        }
    };
    if nb < bottoms.0 || nb > bottoms.1 {
        return Err(Error::input(format!("takes {} bottom(s), has {nb}", range(bottoms))));
    }
    if nt < tops.0 || nt > tops.1 {
        return Err(Error::input(format!("takes {} top(s), has {nt}", range(tops))));
    }
    Ok(())
}

/// Requires a 4-D (N, C, H, W) bottom.
pub fn check_4d(shape: &[usize], what: &str) -> Result<()> {
    if shape.len() != 4 {
        return Err(Error::input(format!(
            "{what} needs a 4-axis (N, C, H, W) bottom, got {}",
            fmt_shape(shape)
        )));
    }
    Ok(())
}

/// A 2-D convolution parameter given as `name: v` (repeated, 0/1/2 entries) or as
/// `name_h`/`name_w` (either may be omitted and then takes `default_hw`, as Caffe reads the proto
/// default), the way `ConvolutionParameter` spells kernel, stride, pad and dilation.
pub fn spatial_pair(
    repeated: &[u32],
    h: Option<u32>,
    w: Option<u32>,
    name: &str,
    default: u32,
    default_hw: u32,
) -> Result<(usize, usize)> {
    if h.is_some() || w.is_some() {
        if !repeated.is_empty() {
            return Err(Error::input(format!(
                "either `{name}` or `{name}_h`/`{name}_w` may be given, not both"
            )));
        }
        return Ok((h.unwrap_or(default_hw) as usize, w.unwrap_or(default_hw) as usize));
    }
    match repeated {
        [] => Ok((default as usize, default as usize)),
        [v] => Ok((*v as usize, *v as usize)),
        [a, b] => Ok((*a as usize, *b as usize)),
        more => Err(Error::input(format!(
            "`{name}` has {} values; a 2-D layer takes 1 or 2",
            more.len()
        ))),
    }
}

/// The weight diff and the optional bias diff of a weighted layer.
pub fn split_diffs(d: &mut [Tensor]) -> (&mut [f32], Option<&mut [f32]>) {
    let (w, rest) = d.split_at_mut(1);
    (w[0].data_mut(), rest.first_mut().map(Tensor::data_mut))
}

/// Checks a one-bottom, one-top layer and returns the bottom shape (= the top shape).
pub fn unary_shape(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Shape> {
    check_arity(lp, (1, 1), (1, 1))?;
    Ok(bottoms[0].clone())
}

/// The shape a `BlobProto` declares: `shape.dim` if present, else the legacy
/// (num, channels, height, width).
pub fn blob_proto_shape(b: &crate::proto::caffe::BlobProto) -> Shape {
    if let Some(s) = &b.shape {
        return s.dim.iter().map(|&d| d.max(0) as usize).collect();
    }
    [b.num(), b.channels(), b.height(), b.width()].iter().map(|&d| d.max(0) as usize).collect()
}

/// Caffe's `Blob::ShapeEquals`: with legacy dims, compare (num, channels, height, width) to the
/// target shape right-aligned and padded with 1 on the left; otherwise `shape.dim` must be equal.
pub fn legacy_shape_matches(b: &crate::proto::caffe::BlobProto, target: &[usize]) -> bool {
    let legacy = b.num.is_some() || b.channels.is_some() || b.height.is_some() || b.width.is_some();
    if legacy {
        if target.len() > 4 {
            return false;
        }
        let mut padded = vec![1usize; 4 - target.len()];
        padded.extend_from_slice(target);
        let dims = [b.num(), b.channels(), b.height(), b.width()];
        return dims.iter().zip(&padded).all(|(&d, &t)| d >= 0 && d as usize == t);
    }
    blob_proto_shape(b) == target
}
