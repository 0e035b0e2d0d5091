//! Bias layer: adds a broadcast term — a learned blob of shape bottom.shape[axis .. axis+num_axes],
//! or a second bottom.

use super::scale::Broadcast;
use super::{check_arity, Layer, Setup, Shape};
use crate::error::Result;
use crate::kernels::eltwise::scale_channels_backward;
use crate::kernels::eltwise::{scale_channels_forward, scale_channels_forward_inplace};
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// Broadcast addition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bias {
    /// Layout of the term against the bottom.
    pub bcast: Broadcast,
    /// Term from the second bottom (no learned blob).
    pub from_bottom: bool,
}

impl Bias {
    /// Parses `bias_param`; 1 or 2 bottoms.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        check_arity(lp, (1, 2), (1, 1))?;
        let p = lp.bias_param.clone().unwrap_or_default();
        let b = &bottoms[0];
        let (axis, operand) = Broadcast::operand(bottoms, p.axis(), p.num_axes(), "bias_param")?;
        let from_bottom = bottoms.len() == 2;
        let params = if from_bottom { vec![] } else { vec![operand.clone()] };
        let layer = Bias { bcast: Broadcast::new(b, axis, &operand), from_bottom };
        Ok(Setup { layer: Layer::Bias(layer), tops: vec![b.clone()], params })
    }
}

impl Bias {
    /// y = x + β, β broadcast from the learned blob or from `term` (the second bottom).
    /// `x` is `None` in place (`y` holds the input).
    pub fn forward(
        &self,
        x: Option<&Tensor>,
        term: Option<&Tensor>,
        y: &mut Tensor,
        params: &[Tensor],
    ) {
        let b = &self.bcast;
        let beta = term.map_or_else(|| params[0].data(), |t| t.data());
        match x {
            Some(x) => scale_channels_forward(
                x.data(),
                y.data_mut(),
                b.outer,
                b.dim,
                b.inner,
                None,
                Some(beta),
            ),
            None => scale_channels_forward_inplace(
                y.data_mut(),
                b.outer,
                b.dim,
                b.inner,
                None,
                Some(beta),
            ),
        }
    }
}

impl Bias {
    /// dx = dy (the diff passes unchanged); dβ += Σ dy, into the learned blob's diff or the
    /// second bottom's diff (overwritten).
    pub fn backward(
        &self,
        term_diff: Option<&mut Tensor>,
        diff: &Tensor,
        param_diffs: &mut [Tensor],
    ) {
        let b = &self.bcast;
        let dbeta = match term_diff {
            Some(t) => {
                t.fill(0.0);
                t.data_mut()
            }
            None => param_diffs[0].data_mut(),
        };
        let dy = diff.data();
        scale_channels_backward(dy, dy, None, b.outer, b.dim, b.inner, None, None, Some(dbeta));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_term() {
        let lp = LayerParameter {
            bottom: vec!["a".into()],
            top: vec!["b".into()],
            ..Default::default()
        };
        let s = Bias::setup(&lp, &[vec![2, 8, 5, 5]]).unwrap();
        assert_eq!(s.params, vec![vec![8]]);
        let Layer::Bias(b) = s.layer else { panic!() };
        assert_eq!(b.bcast, Broadcast { outer: 2, dim: 8, inner: 25 });
    }
}
