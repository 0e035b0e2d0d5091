//! The net graph: from a prototxt (any format version) to an ordered list of typed layers wired
//! to blobs with inferred shapes, the way Caffe's `Net::Init` builds it — upgrade, phase filter,
//! loss layers stripped, data layers turned into inputs, splits inserted, in-place tops resolved.

pub mod filter;
pub mod forward;
pub mod params;

use crate::error::{Error, Result};
use crate::layers::input::{Input, InputOverride};
use crate::layers::{count, fmt_shape, is_data_layer, is_loss_or_metric, Layer, Shape};
use crate::proto::caffe::{LayerParameter, NetParameter, Phase};
use crate::prototxt::{Pos, Spans};
use filter::State;
use std::collections::HashMap;
use std::path::Path;

/// How to build a net.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Phase (TRAIN by default, as the original script runs).
    pub phase: Phase,
    /// Command-line overrides of the input geometry.
    pub input: InputOverride,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions { phase: Phase::Train, input: InputOverride::default() }
    }
}

/// A blob: a named activation buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    /// Name (the last top name that wrote it).
    pub name: String,
    /// Shape.
    pub shape: Shape,
}

/// One layer of the built net.
#[derive(Clone, Debug)]
pub struct Node {
    /// Layer name.
    pub name: String,
    /// The typed layer.
    pub layer: Layer,
    /// Blob ids read.
    pub bottoms: Vec<usize>,
    /// Blob ids written (a bottom's id when in place).
    pub tops: Vec<usize>,
    /// Shapes of the learnable blobs.
    pub param_shapes: Vec<Shape>,
    /// The layer's definition as the net holds it (phase filled in; saved in the caffemodel).
    pub proto: LayerParameter,
    /// Where the layer is defined in the source file (`None` for inserted layers).
    pub pos: Option<Pos>,
}

/// A built net.
#[derive(Clone, Debug)]
pub struct Net {
    /// `name` of the NetParameter.
    pub name: String,
    /// Phase it was built in.
    pub phase: Phase,
    /// Layers in execution order.
    pub nodes: Vec<Node>,
    /// Blobs by id.
    pub blobs: Vec<Blob>,
    /// Blobs never consumed (the net's outputs, e.g. `prob`).
    pub outputs: Vec<usize>,
    /// What the builder changed: upgrades, stripped layers.
    pub notes: Vec<String>,
}

impl Net {
    /// Reads, parses and builds a prototxt file.
    pub fn from_file(path: &Path, opts: &BuildOptions) -> Result<Net> {
        let (param, spans) = crate::prototxt::read_net_file(path)?;
        Net::build(param, Some(&spans), &path.display().to_string(), opts)
    }

    /// Builds a parsed NetParameter; `spans` (from the parser) lets errors name file positions.
    pub fn build(
        param: NetParameter,
        spans: Option<&Spans>,
        file: &str,
        opts: &BuildOptions,
    ) -> Result<Net> {
        let mut notes = Vec::new();
        let legacy_input = !param.input.is_empty();
        let was_v1 = !param.layers.is_empty();
        let (param, upgrade_notes) = if crate::upgrade::needs_upgrade(&param) {
            crate::upgrade::upgrade_net(param, file)?
        } else {
            (param, Vec::new())
        };
        notes.extend(upgrade_notes);
        // Source positions of the (upgraded) layers.
        let field = if was_v1 { "layers" } else { "layer" };
        let shift = usize::from(legacy_input);
        let positions: Vec<Option<Pos>> = (0..param.layer.len())
            .map(|i| if i < shift { None } else { spans.and_then(|s| s.nth(field, i - shift)) })
            .collect();
        let state = State {
            phase: opts.phase,
            level: 0,
            stages: param.state.as_ref().map(|s| s.stage.clone()).unwrap_or_default(),
        };
        let where_ = |pos: Option<Pos>, lp: &LayerParameter| match pos {
            Some(p) => {
                format!("{file}:{}:{}: layer \"{}\" ({})", p.line, p.col, lp.name(), lp.r#type())
            }
            None => format!("{file}: layer \"{}\" ({})", lp.name(), lp.r#type()),
        };
        let mut kept = Vec::new();
        let mut kept_pos = Vec::new();
        let mut stripped = Vec::new();
        for (lp, &pos) in param.layer.iter().zip(&positions) {
            if !filter::layer_included(&state, lp).map_err(|e| e.context(where_(pos, lp)))? {
                continue;
            }
            if is_loss_or_metric(lp.r#type()) {
                stripped.push(lp.name().to_string());
                continue;
            }
            let mut lp = lp.clone();
            if lp.phase.is_none() {
                lp.set_phase(opts.phase);
            }
            kept.push(lp);
            kept_pos.push(pos);
        }
        if !stripped.is_empty() {
            notes.push(format!("left out loss/metric layers: {}", stripped.join(", ")));
        }
        let (layers, origin) = filter::insert_splits(&kept);

        let mut blobs: Vec<Blob> = Vec::new();
        let mut available: HashMap<String, usize> = HashMap::new();
        let mut consumed = vec![];
        let mut nodes = Vec::with_capacity(layers.len());
        let mut first_data = true;
        for (lp, origin) in layers.into_iter().zip(origin) {
            let pos = origin.and_then(|i| kept_pos[i]);
            let place = where_(pos, &lp);
            let ctx = |e: Error| e.context(place.clone());
            let mut bottoms = Vec::with_capacity(lp.bottom.len());
            for b in &lp.bottom {
                let Some(&id) = available.get(b) else {
                    return Err(ctx(Error::input(format!(
                        "bottom \"{b}\" is not produced by any earlier layer"
                    ))));
                };
                bottoms.push(id);
            }
            let shapes: Vec<Shape> = bottoms.iter().map(|&id| blobs[id].shape.clone()).collect();
            let setup = if is_data_layer(lp.r#type()) {
                if !lp.bottom.is_empty() {
                    return Err(ctx(Error::input("a data layer takes no bottoms")));
                }
                let s = Input::from_data_layer(&lp, &opts.input, first_data).map_err(ctx)?;
                first_data = false;
                s
            } else {
                Layer::setup(&lp, &shapes, opts.phase).map_err(ctx)?
            };
            check_given_blobs(&lp, &setup.params).map_err(ctx)?;
            let mut lp = lp;
            if matches!(setup.layer, Layer::BatchNorm(_)) {
                // Caffe's BatchNorm masks its statistics from the solver by adding
                // `param { lr_mult: 0 }` entries to its own definition (saved with the model).
                while lp.param.len() < setup.params.len() {
                    lp.param.push(crate::proto::caffe::ParamSpec {
                        lr_mult: Some(0.0),
                        decay_mult: Some(0.0),
                        ..Default::default()
                    });
                }
            }
            let in_place_any = lp.top.iter().enumerate().any(|(j, t)| lp.bottom.get(j) == Some(t));
            if in_place_any && !setup.layer.supports_in_place() {
                return Err(ctx(Error::input(format!(
                    "a {} layer cannot run in place (its top must differ from its bottom)",
                    setup.layer.type_name()
                ))));
            }
            let mut tops = Vec::with_capacity(lp.top.len());
            for (j, (t, shape)) in lp.top.iter().zip(&setup.tops).enumerate() {
                let in_place = lp.bottom.get(j) == Some(t);
                if in_place {
                    let id = bottoms[j];
                    if blobs[id].shape != *shape {
                        return Err(ctx(Error::input(format!(
                            "in-place top \"{t}\" would change shape {} to {}",
                            fmt_shape(&blobs[id].shape),
                            fmt_shape(shape)
                        ))));
                    }
                    tops.push(id);
                } else if available.contains_key(t) || lp.top[..j].contains(t) {
                    return Err(ctx(Error::input(format!(
                        "top \"{t}\" is produced by multiple sources (only top i = bottom i may reuse a name)"
                    ))));
                } else {
                    blobs.push(Blob { name: t.clone(), shape: shape.clone() });
                    consumed.push(false);
                    tops.push(blobs.len() - 1);
                }
            }
            for (j, b) in lp.bottom.iter().enumerate() {
                // A consumed blob stays available only through an in-place top of the same name.
                if lp.top.get(j) != Some(b) {
                    available.remove(b);
                }
                consumed[bottoms[j]] = true;
            }
            for (t, &id) in lp.top.iter().zip(&tops) {
                available.insert(t.clone(), id);
            }
            nodes.push(Node {
                name: lp.name().to_string(),
                layer: setup.layer,
                bottoms,
                tops,
                param_shapes: setup.params,
                proto: lp,
                pos,
            });
        }
        if nodes.is_empty() {
            return Err(Error::input(format!(
                "{file}: the net has no layers in phase {:?}",
                opts.phase
            )));
        }
        let mut outputs: Vec<usize> = available.values().copied().collect();
        outputs.sort_unstable();
        Ok(Net { name: param.name().to_string(), phase: opts.phase, nodes, blobs, outputs, notes })
    }

    /// Total learnable parameter count.
    pub fn param_count(&self) -> u64 {
        self.nodes.iter().flat_map(|n| &n.param_shapes).map(|s| count(s) as u64).sum()
    }

    /// Batch size: the first dimension of the first input top.
    pub fn batch_size(&self) -> usize {
        self.nodes
            .first()
            .and_then(|n| n.tops.first())
            .and_then(|&t| self.blobs[t].shape.first().copied())
            .unwrap_or(1)
    }

    /// Multiply-adds per batch item over the whole net.
    pub fn macs_per_item(&self) -> u64 {
        self.nodes.iter().map(|n| self.node_macs_per_item(n)).sum()
    }

    /// Multiply-adds per batch item of one layer.
    pub fn node_macs_per_item(&self, n: &Node) -> u64 {
        let shapes =
            |ids: &[usize]| ids.iter().map(|&i| self.blobs[i].shape.clone()).collect::<Vec<_>>();
        n.layer.macs_per_item(&shapes(&n.bottoms), &shapes(&n.tops))
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// Blobs given inline in the prototxt (`blobs { ... }`) must match the shapes the layer needs.
fn check_given_blobs(lp: &LayerParameter, params: &[Shape]) -> Result<()> {
    if lp.blobs.is_empty() {
        return Ok(());
    }
    if lp.blobs.len() != params.len() {
        return Err(Error::input(format!(
            "has {} inline blobs but the layer needs {}",
            lp.blobs.len(),
            params.len()
        )));
    }
    for (i, (b, want)) in lp.blobs.iter().zip(params).enumerate() {
        let got = crate::layers::blob_proto_shape(b);
        if !crate::layers::legacy_shape_matches(b, want) {
            return Err(Error::input(format!(
                "inline blob {i} has shape {} but the layer needs {}",
                fmt_shape(&got),
                fmt_shape(want)
            )));
        }
    }
    Ok(())
}
