//! LRN layer: local response normalisation ACROSS_CHANNELS or WITHIN_CHANNEL with Caffe's
//! conventions (alpha divided by local_size, or by local_size² within a channel; k ignored there).

use super::LayerState;
use super::{check_4d, unary_shape, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::kernels::lrn::{lrn_across_backward, lrn_within_backward};
use crate::kernels::lrn::{lrn_across_forward, lrn_within_forward, LrnParams};
use crate::proto::caffe::lrn_parameter::NormRegion;
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// Normalisation region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    /// Over neighbouring channels at the same pixel.
    AcrossChannels,
    /// Over an n×n spatial window of the same channel.
    WithinChannel,
}

/// LRN parameters and input geometry.
#[derive(Clone, Debug, PartialEq)]
pub struct Lrn {
    /// Region.
    pub region: Region,
    /// `local_size` n (odd).
    pub local_size: usize,
    /// `alpha` (as written; the kernels divide it by n or n²).
    pub alpha: f32,
    /// `beta`.
    pub beta: f32,
    /// `k` (ignored WITHIN_CHANNEL).
    pub k: f32,
    /// Input (N, C, H, W).
    pub shape: Shape,
}

impl Lrn {
    /// Parses `lrn_param`; 4-D input, odd local_size; the top has the bottom's shape.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        let shape = unary_shape(lp, bottoms)?;
        check_4d(&shape, "LRN")?;
        let p = lp.lrn_param.unwrap_or_default();
        let n = p.local_size() as usize;
        if n % 2 == 0 {
            return Err(Error::input(format!("lrn_param.local_size {n} must be odd")));
        }
        let region = match p.norm_region() {
            NormRegion::AcrossChannels => Region::AcrossChannels,
            NormRegion::WithinChannel => Region::WithinChannel,
        };
        let layer = Lrn {
            region,
            local_size: n,
            alpha: p.alpha(),
            beta: p.beta(),
            k: p.k(),
            shape: shape.clone(),
        };
        Ok(Setup { layer: Layer::Lrn(layer), tops: vec![shape], params: vec![] })
    }
}

impl Lrn {
    /// The kernel parameters.
    pub fn params(&self) -> LrnParams {
        LrnParams { local_size: self.local_size, alpha: self.alpha, beta: self.beta, k: self.k }
    }

    /// y = x·scale^(−β), keeping `scale` for backward.
    pub fn forward(&self, bottoms: &[&Tensor], tops: &mut [Tensor], st: &mut LayerState) {
        let p = self.params();
        let (n, c, h, w) = (self.shape[0], self.shape[1], self.shape[2], self.shape[3]);
        st.scale.resize(tops[0].len(), 0.0);
        let (x, y) = (bottoms[0].data(), tops[0].data_mut());
        match self.region {
            Region::AcrossChannels => lrn_across_forward(&p, n, c, h * w, x, y, &mut st.scale),
            Region::WithinChannel => lrn_within_forward(&p, n, c, h, w, x, y, &mut st.scale),
        }
    }
}

impl Lrn {
    /// Caffe's exact LRN gradient from x, y and the kept scale.
    pub fn backward(
        &self,
        bottoms: &[&Tensor],
        tops: &[&Tensor],
        top_diffs: &[&Tensor],
        bottom_diffs: &mut [Tensor],
        st: &LayerState,
    ) {
        let p = self.params();
        let (n, c, h, w) = (self.shape[0], self.shape[1], self.shape[2], self.shape[3]);
        let (x, y, dy) = (bottoms[0].data(), tops[0].data(), top_diffs[0].data());
        let dx = bottom_diffs[0].data_mut();
        match self.region {
            Region::AcrossChannels => lrn_across_backward(&p, n, c, h * w, x, y, &st.scale, dy, dx),
            Region::WithinChannel => lrn_within_backward(&p, n, c, h, w, x, y, &st.scale, dy, dx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prototxt::parse;

    #[test]
    fn alexnet_norm1_and_errors() {
        let lp: LayerParameter = parse(
            r#"bottom: "x" top: "y" lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }"#,
            "t",
            "caffe.LayerParameter",
        )
        .unwrap()
        .0;
        let s = Lrn::setup(&lp, &[vec![1, 96, 55, 55]]).unwrap();
        let Layer::Lrn(l) = s.layer else { panic!() };
        assert_eq!(
            (l.local_size, l.alpha, l.beta, l.k, l.region),
            (5, 0.0001, 0.75, 1.0, Region::AcrossChannels)
        );
        let even: LayerParameter = parse(
            r#"bottom: "x" top: "y" lrn_param { local_size: 4 }"#,
            "t",
            "caffe.LayerParameter",
        )
        .unwrap()
        .0;
        assert!(Lrn::setup(&even, &[vec![1, 3, 2, 2]]).unwrap_err().to_string().contains("odd"));
        assert!(Lrn::setup(&lp, &[vec![1, 3]]).is_err());
    }
}
