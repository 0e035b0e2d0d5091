//! PReLU layer: ReLU with a learned slope per channel (or one shared slope); blob (C) or (1).

use super::LayerState;
use super::{unary_shape, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::kernels::eltwise::prelu_backward;
use crate::kernels::eltwise::prelu_forward_inplace;
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// Parametric ReLU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PReLU {
    /// One slope for all channels.
    pub channel_shared: bool,
    /// Channels (axis 1, or 1 for a 1-axis blob).
    pub channels: usize,
}

impl PReLU {
    /// Parses `prelu_param`; needs at least 2 axes; the top has the bottom's shape.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        let shape = unary_shape(lp, bottoms)?;
        if shape.len() < 2 {
            return Err(Error::input("PReLU needs a bottom with at least 2 axes"));
        }
        let channel_shared = lp.prelu_param.as_ref().is_some_and(|p| p.channel_shared());
        let channels = shape[1];
        let params = vec![vec![if channel_shared { 1 } else { channels }]];
        Ok(Setup {
            layer: Layer::PReLU(PReLU { channel_shared, channels }),
            tops: vec![shape],
            params,
        })
    }
}

impl PReLU {
    /// In place: y = max(x, 0) + a_c·min(x, 0); the input is kept for backward.
    pub fn forward(&self, y: &mut Tensor, params: &[Tensor], st: &mut LayerState) {
        st.saved.clear();
        st.saved.extend_from_slice(y.data());
        let shape = y.shape().to_vec();
        let outer = shape[0];
        let inner: usize = shape[2..].iter().product();
        let (c, inner) =
            if self.channel_shared { (1, self.channels * inner) } else { (self.channels, inner) };
        prelu_forward_inplace(y.data_mut(), outer, c, inner, params[0].data());
    }
}

impl PReLU {
    /// In place on the diff: dx = dy·(x > 0 ? 1 : a_c); da_c += Σ dy·x·(x ≤ 0).
    pub fn backward(
        &self,
        x: &[f32],
        diff: &mut Tensor,
        params: &[Tensor],
        param_diffs: &mut [Tensor],
    ) {
        let shape = diff.shape().to_vec();
        let inner: usize = shape[2..].iter().product();
        let (c, inner) =
            if self.channel_shared { (1, self.channels * inner) } else { (self.channels, inner) };
        let dy = diff.data().to_vec();
        prelu_backward(
            x,
            &dy,
            Some(diff.data_mut()),
            shape[0],
            c,
            inner,
            params[0].data(),
            Some(param_diffs[0].data_mut()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_blob_shape() {
        let mut lp = LayerParameter {
            bottom: vec!["a".into()],
            top: vec!["a".into()],
            ..Default::default()
        };
        assert_eq!(PReLU::setup(&lp, &[vec![2, 16, 3, 3]]).unwrap().params, vec![vec![16]]);
        lp.prelu_param = Some(crate::proto::caffe::PReLuParameter {
            channel_shared: Some(true),
            ..Default::default()
        });
        assert_eq!(PReLU::setup(&lp, &[vec![2, 16, 3, 3]]).unwrap().params, vec![vec![1]]);
        assert!(PReLU::setup(&lp, &[vec![5]]).is_err());
    }
}
