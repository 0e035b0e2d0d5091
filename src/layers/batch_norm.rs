//! BatchNorm layer: normalises each channel by batch statistics (TRAIN default) or by the stored
//! running statistics (`use_global_stats`, TEST default); blobs mean (C), variance (C), factor (1).

use super::{unary_shape, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::proto::caffe::{LayerParameter, Phase};

/// Batch normalisation without the affine part (that is the following Scale layer).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    /// Use the stored statistics instead of the batch's.
    pub use_global_stats: bool,
    /// Running-average decay.
    pub moving_average_fraction: f32,
    /// Added to the variance.
    pub eps: f32,
    /// Channels (axis 1, or 1 for a 1-axis blob).
    pub channels: usize,
}

impl BatchNorm {
    /// Parses `batch_norm_param`; `use_global_stats` defaults to (phase == TEST).
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape], phase: Phase) -> Result<Setup> {
        let shape = unary_shape(lp, bottoms)?;
        if shape.is_empty() {
            return Err(Error::input("BatchNorm needs a bottom with at least one axis"));
        }
        let p = lp.batch_norm_param.unwrap_or_default();
        let phase = if lp.phase.is_some() { lp.phase() } else { phase };
        if lp.param.iter().any(|ps| ps.lr_mult() != 0.0) {
            return Err(Error::input(
                "BatchNorm statistics are not learnable: every param must have lr_mult 0",
            ));
        }
        let channels = if shape.len() == 1 { 1 } else { shape[1] };
        let layer = BatchNorm {
            use_global_stats: p.use_global_stats.unwrap_or(phase == Phase::Test),
            moving_average_fraction: p.moving_average_fraction(),
            eps: p.eps(),
            channels,
        };
        let params = vec![vec![channels], vec![channels], vec![1]];
        Ok(Setup { layer: Layer::BatchNorm(layer), tops: vec![shape], params })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_decides_statistics() {
        let lp = LayerParameter {
            bottom: vec!["a".into()],
            top: vec!["a".into()],
            ..Default::default()
        };
        let s = BatchNorm::setup(&lp, &[vec![4, 8, 5, 5]], Phase::Train).unwrap();
        assert_eq!(s.params, vec![vec![8], vec![8], vec![1]]);
        let Layer::BatchNorm(b) = s.layer else { panic!() };
        assert!(!b.use_global_stats);
        assert_eq!((b.eps, b.moving_average_fraction), (1e-5, 0.999));
        let Layer::BatchNorm(b) = BatchNorm::setup(&lp, &[vec![4, 8]], Phase::Test).unwrap().layer
        else {
            panic!()
        };
        assert!(b.use_global_stats);
    }
}
