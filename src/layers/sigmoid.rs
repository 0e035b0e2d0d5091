//! Sigmoid layer: y = 1 / (1 + e^−x); shape-preserving.

use super::{unary_shape, Layer, Setup, Shape};
use crate::error::Result;
use crate::kernels::eltwise::sigmoid_backward_inplace;
use crate::kernels::eltwise::sigmoid_forward_inplace;
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// The logistic function (no parameters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sigmoid;

impl Sigmoid {
    /// The top has the bottom's shape.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        let shape = unary_shape(lp, bottoms)?;
        Ok(Setup { layer: Layer::Sigmoid(Sigmoid), tops: vec![shape], params: vec![] })
    }
}

impl Sigmoid {
    /// In place: y = 1 / (1 + e^−x).
    pub fn forward(&self, y: &mut Tensor) {
        sigmoid_forward_inplace(y.data_mut());
    }
}

impl Sigmoid {
    /// In place on the diff: dx = dy·y(1 − y).
    pub fn backward(&self, y: &Tensor, diff: &mut Tensor) {
        sigmoid_backward_inplace(y.data(), diff.data_mut());
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
        assert_eq!(Sigmoid::setup(&lp, &[vec![4, 5, 1]]).unwrap().tops, vec![vec![4, 5, 1]]);
    }
}
