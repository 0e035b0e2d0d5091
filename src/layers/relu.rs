//! ReLU layer: y = max(x, 0) + negative_slope · min(x, 0); shape-preserving, usually in place.

use super::{unary_shape, Layer, Setup, Shape};
use crate::error::Result;
use crate::kernels::eltwise::{relu_backward_inplace, relu_forward_inplace};
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// Rectified linear unit with Caffe's `negative_slope`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReLU {
    /// Slope for negative inputs (0 for a plain ReLU).
    pub negative_slope: f32,
}

impl ReLU {
    /// Parses `relu_param`; the top has the bottom's shape.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        let shape = unary_shape(lp, bottoms)?;
        let negative_slope = lp.relu_param.as_ref().map_or(0.0, |p| p.negative_slope());
        Ok(Setup { layer: Layer::ReLU(ReLU { negative_slope }), tops: vec![shape], params: vec![] })
    }
}

impl ReLU {
    /// In place: y = max(x, 0) + slope·min(x, 0).
    pub fn forward(&self, y: &mut Tensor) {
        relu_forward_inplace(y.data_mut(), self.negative_slope);
    }
}

impl ReLU {
    /// In place on the diff: dx = dy·(y > 0 ? 1 : slope) (the sign of y is the sign of x).
    pub fn backward(&self, y: &Tensor, diff: &mut Tensor) {
        relu_backward_inplace(y.data(), diff.data_mut(), self.negative_slope);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prototxt::parse;

    #[test]
    fn leaky_slope_and_arity() {
        let lp: LayerParameter = parse(
            r#"bottom: "x" top: "x" relu_param { negative_slope: 0.1 }"#,
            "t",
            "caffe.LayerParameter",
        )
        .unwrap()
        .0;
        let s = ReLU::setup(&lp, &[vec![2, 3]]).unwrap();
        assert_eq!(s.tops, vec![vec![2, 3]]);
        let Layer::ReLU(r) = s.layer else { panic!() };
        assert_eq!(r.negative_slope, 0.1);
        let two: LayerParameter =
            parse(r#"bottom: "x" bottom: "z" top: "x""#, "t", "caffe.LayerParameter").unwrap().0;
        assert!(ReLU::setup(&two, &[vec![1], vec![1]]).unwrap_err().to_string().contains("bottom"));
    }
}
