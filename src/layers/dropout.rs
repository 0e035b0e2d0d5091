//! Dropout layer: in TRAIN phase zeroes each element with probability `dropout_ratio` and scales
//! the rest by 1/(1−p); in TEST phase the identity. The layer's own phase decides.

use super::{unary_shape, Layer, Setup, Shape};
use super::{Ctx, LayerState};
use crate::error::{Error, Result};
use crate::kernels::eltwise::dropout_inplace;
use crate::proto::caffe::{LayerParameter, Phase};
use crate::tensor::Tensor;

/// Dropout with its ratio and the phase it runs in.
#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    /// Probability of zeroing an element.
    pub ratio: f32,
    /// True in TRAIN phase (random mask), false in TEST (identity).
    pub train: bool,
}

impl Dropout {
    /// Parses `dropout_param` (ratio in [0, 1)); the top has the bottom's shape.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape], phase: Phase) -> Result<Setup> {
        let shape = unary_shape(lp, bottoms)?;
        let ratio = lp.dropout_param.as_ref().map_or(0.5, |p| p.dropout_ratio());
        if !(0.0..1.0).contains(&ratio) {
            return Err(Error::input(format!("dropout_ratio {ratio} must be in [0, 1)")));
        }
        let phase = if lp.phase.is_some() { lp.phase() } else { phase };
        let layer = Dropout { ratio, train: phase == Phase::Train };
        Ok(Setup { layer: Layer::Dropout(layer), tops: vec![shape], params: vec![] })
    }
}

impl Dropout {
    /// In place. TRAIN: a fresh Bernoulli(1−p) mask, kept elements scaled by 1/(1−p); TEST: identity.
    pub fn forward(&self, y: &mut Tensor, st: &mut LayerState, cx: &mut Ctx) {
        if !self.train {
            return;
        }
        let keep = 1.0 - f64::from(self.ratio);
        st.mask.clear();
        st.mask.extend((0..y.len()).map(|_| u8::from(cx.rng.bernoulli(keep))));
        dropout_inplace(y.data_mut(), &st.mask, 1.0 / (1.0 - self.ratio));
    }
}

impl Dropout {
    /// In place on the diff: TRAIN dx = dy·mask/(1−p) with the forward's mask; TEST dx = dy.
    pub fn backward(&self, diff: &mut Tensor, st: &LayerState) {
        if self.train {
            dropout_inplace(diff.data_mut(), &st.mask, 1.0 / (1.0 - self.ratio));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_and_ratio() {
        let mut lp = LayerParameter {
            bottom: vec!["a".into()],
            top: vec!["a".into()],
            ..Default::default()
        };
        let Layer::Dropout(d) = Dropout::setup(&lp, &[vec![2, 8]], Phase::Train).unwrap().layer
        else {
            panic!()
        };
        assert_eq!((d.ratio, d.train), (0.5, true));
        lp.phase = Some(Phase::Test as i32);
        let Layer::Dropout(d) = Dropout::setup(&lp, &[vec![2, 8]], Phase::Train).unwrap().layer
        else {
            panic!()
        };
        assert!(!d.train);
        lp.dropout_param = Some(crate::proto::caffe::DropoutParameter { dropout_ratio: Some(1.0) });
        assert!(Dropout::setup(&lp, &[vec![2]], Phase::Train).is_err());
    }
}
