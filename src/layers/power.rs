//! Power layer: y = (shift + scale · x)^power; shape-preserving.

use super::LayerState;
use super::{unary_shape, Layer, Setup, Shape};
use crate::error::Result;
use crate::kernels::eltwise::power_backward;
use crate::kernels::eltwise::{power_forward, PowerParams};
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// Parameters of `power_param`.
#[derive(Clone, Debug, PartialEq)]
pub struct Power {
    /// Exponent.
    pub power: f32,
    /// Input scale.
    pub scale: f32,
    /// Input shift.
    pub shift: f32,
}

impl Power {
    /// Parses `power_param` (defaults 1, 1, 0); the top has the bottom's shape.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        let shape = unary_shape(lp, bottoms)?;
        let p = lp.power_param.unwrap_or_default();
        let layer = Power { power: p.power(), scale: p.scale(), shift: p.shift() };
        Ok(Setup { layer: Layer::Power(layer), tops: vec![shape], params: vec![] })
    }
}

impl Power {
    /// In place: y = (shift + scale·x)^power; the input is kept for backward.
    pub fn forward(&self, y: &mut Tensor, st: &mut LayerState) {
        st.saved.clear();
        st.saved.extend_from_slice(y.data());
        let p = PowerParams { power: self.power, scale: self.scale, shift: self.shift };
        power_forward(&st.saved, y.data_mut(), p);
    }
}

impl Power {
    /// In place on the diff: dx = dy·power·scale·(shift + scale·x)^(power−1).
    pub fn backward(&self, x: &[f32], y: &Tensor, diff: &mut Tensor) {
        let p = PowerParams { power: self.power, scale: self.scale, shift: self.shift };
        let dy = diff.data().to_vec();
        power_backward(x, y.data(), &dy, diff.data_mut(), p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_identity() {
        let lp = LayerParameter {
            bottom: vec!["a".into()],
            top: vec!["b".into()],
            ..Default::default()
        };
        let Layer::Power(p) = Power::setup(&lp, &[vec![3]]).unwrap().layer else { panic!() };
        assert_eq!((p.power, p.scale, p.shift), (1.0, 1.0, 0.0));
    }
}
