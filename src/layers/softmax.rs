//! Softmax layer: normalised exponential along `axis` (default 1), independently for every outer
//! and inner index; shape-preserving.

use super::{canonical_axis, unary_shape, Layer, Setup, Shape};
use crate::error::Result;
use crate::kernels::softmax::softmax_backward;
use crate::kernels::softmax::softmax_forward;
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// Softmax along a canonical axis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Softmax {
    /// Canonical axis.
    pub axis: usize,
}

impl Softmax {
    /// Parses `softmax_param.axis`; the top has the bottom's shape.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        let shape = unary_shape(lp, bottoms)?;
        let axis = lp.softmax_param.as_ref().map_or(1, |p| p.axis());
        let axis = canonical_axis(axis, shape.len(), "softmax_param.axis")?;
        Ok(Setup { layer: Layer::Softmax(Softmax { axis }), tops: vec![shape], params: vec![] })
    }
}

impl Softmax {
    /// Softmax along the axis for every outer and inner index.
    pub fn forward(&self, bottoms: &[&Tensor], tops: &mut [Tensor]) {
        let shape = bottoms[0].shape();
        let outer: usize = shape[..self.axis].iter().product();
        let inner: usize = shape[self.axis + 1..].iter().product();
        softmax_forward(bottoms[0].data(), tops[0].data_mut(), outer, shape[self.axis], inner);
    }
}

impl Softmax {
    /// dx = y·(dy − Σ_c dy_c·y_c) along the axis.
    pub fn backward(&self, tops: &[&Tensor], top_diffs: &[&Tensor], bottom_diffs: &mut [Tensor]) {
        let shape = tops[0].shape();
        let outer: usize = shape[..self.axis].iter().product();
        let inner: usize = shape[self.axis + 1..].iter().product();
        softmax_backward(
            tops[0].data(),
            top_diffs[0].data(),
            bottom_diffs[0].data_mut(),
            outer,
            shape[self.axis],
            inner,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_is_canonicalised() {
        let mut lp = LayerParameter {
            bottom: vec!["a".into()],
            top: vec!["b".into()],
            ..Default::default()
        };
        let Layer::Softmax(s) = Softmax::setup(&lp, &[vec![2, 10]]).unwrap().layer else {
            panic!()
        };
        assert_eq!(s.axis, 1);
        lp.softmax_param =
            Some(crate::proto::caffe::SoftmaxParameter { axis: Some(-1), ..Default::default() });
        let Layer::Softmax(s) = Softmax::setup(&lp, &[vec![2, 3, 4]]).unwrap().layer else {
            panic!()
        };
        assert_eq!(s.axis, 2);
        assert!(Softmax::setup(&lp, &[vec![]]).is_err());
    }
}
