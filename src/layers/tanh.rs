//! TanH layer: y = tanh(x); shape-preserving.

use super::{unary_shape, Layer, Setup, Shape};
use crate::error::Result;
use crate::kernels::eltwise::tanh_backward_inplace;
use crate::kernels::eltwise::tanh_forward_inplace;
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// The hyperbolic tangent (no parameters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TanH;

impl TanH {
    /// The top has the bottom's shape.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        let shape = unary_shape(lp, bottoms)?;
        Ok(Setup { layer: Layer::TanH(TanH), tops: vec![shape], params: vec![] })
    }
}

impl TanH {
    /// In place: y = tanh x.
    pub fn forward(&self, y: &mut Tensor) {
        tanh_forward_inplace(y.data_mut());
    }
}

impl TanH {
    /// In place on the diff: dx = dy·(1 − y²).
    pub fn backward(&self, y: &Tensor, diff: &mut Tensor) {
        tanh_backward_inplace(y.data(), diff.data_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_shape() {
        let lp = LayerParameter {
            bottom: vec!["a".into()],
            top: vec!["b".into()],
            ..Default::default()
        };
        assert_eq!(TanH::setup(&lp, &[vec![4, 5, 1]]).unwrap().tops, vec![vec![4, 5, 1]]);
    }
}
