//! The learnable blobs of a built net (weights, biases, statistics), one list per layer, kept
//! apart from the graph so that models can be loaded into and saved from them.

use super::Net;
use crate::tensor::Tensor;

/// Every node's learnable blobs, in node order; each list follows the node's `param_shapes`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    /// `blobs[node][i]`.
    pub blobs: Vec<Vec<Tensor>>,
}

impl Params {
    /// Zero blobs (Caffe's default fillers give zeros), except where the prototxt carries
    /// inline `blobs`, which are used as they are (the builder checked their shapes).
    pub fn new(net: &Net) -> Params {
        let blobs = net
            .nodes
            .iter()
            .map(|n| {
                n.param_shapes
                    .iter()
                    .enumerate()
                    .map(|(i, shape)| {
                        let mut t = Tensor::zeros(shape);
                        if let Some(b) = n.proto.blobs.get(i) {
                            if b.double_data.len() == t.len() && !b.double_data.is_empty() {
                                for (d, &s) in t.data_mut().iter_mut().zip(&b.double_data) {
                                    *d = s as f32;
                                }
                            } else if b.data.len() == t.len() {
                                t.data_mut().copy_from_slice(&b.data);
                            }
                        }
                        t
                    })
                    .collect()
            })
            .collect();
        Params { blobs }
    }

    /// Zero blobs shaped like `self` (for parameter diffs).
    pub fn zeros_like(&self) -> Params {
        Params {
            blobs: self
                .blobs
                .iter()
                .map(|v| v.iter().map(|t| Tensor::zeros(t.shape())).collect())
                .collect(),
        }
    }

    /// Bytes held by all blobs.
    pub fn bytes(&self) -> usize {
        self.blobs.iter().flatten().map(Tensor::bytes).sum()
    }
}
