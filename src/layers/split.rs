//! Split layer: copies one bottom to several tops (inserted by the net builder where a blob
//! feeds several layers, exactly as Caffe's InsertSplits names them).

use super::{check_arity, Layer, Setup, Shape};
use crate::error::Result;
use crate::kernels::eltwise::add_assign;
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// Fan-out of one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split;

impl Split {
    /// Every top has the bottom's shape.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        check_arity(lp, (1, 1), (1, usize::MAX))?;
        let tops = vec![bottoms[0].clone(); lp.top.len()];
        Ok(Setup { layer: Layer::Split(Split), tops, params: vec![] })
    }
}

impl Split {
    /// Copies the bottom to every top.
    pub fn forward(&self, bottoms: &[&Tensor], tops: &mut [Tensor]) {
        for t in tops {
            t.data_mut().copy_from_slice(bottoms[0].data());
        }
    }
}

impl Split {
    /// dx = Σ_k dy_k.
    pub fn backward(&self, top_diffs: &[&Tensor], bottom_diffs: &mut [Tensor]) {
        let dx = bottom_diffs[0].data_mut();
        dx.copy_from_slice(top_diffs[0].data());
        for t in &top_diffs[1..] {
            add_assign(dx, t.data());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_shape_to_every_top() {
        let lp = LayerParameter {
            bottom: vec!["a".into()],
            top: vec!["a0".into(), "a1".into(), "a2".into()],
            ..Default::default()
        };
        assert_eq!(Split::setup(&lp, &[vec![2, 5]]).unwrap().tops, vec![vec![2, 5]; 3]);
    }
}
