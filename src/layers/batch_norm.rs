//! BatchNorm layer: normalises each channel by batch statistics (TRAIN default) or by the stored
//! running statistics (`use_global_stats`, TEST default); blobs mean (C), variance (C), factor (1).

use super::LayerState;
use super::{unary_shape, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::kernels::batchnorm::{
    batch_norm_backward_global_inplace, batch_norm_backward_train_inplace,
};
use crate::kernels::batchnorm::{
    batch_norm_forward_global, batch_norm_forward_train_inplace, global_stats, update_running_stats,
};
use crate::proto::caffe::{LayerParameter, Phase};
use crate::tensor::Tensor;

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

impl BatchNorm {
    /// (outer, channels, inner) of a bottom shape.
    fn layout(&self, shape: &[usize]) -> (usize, usize) {
        let outer = shape.first().copied().unwrap_or(1);
        let inner: usize = shape.get(2..).map_or(1, |s| s.iter().product());
        (outer, inner)
    }

    /// In place. Batch statistics (and, as Caffe's forward does, the running-average blobs are
    /// updated), or the stored statistics with `use_global_stats`. Mean and variance used are
    /// kept for backward.
    pub fn forward(&self, y: &mut Tensor, params: &mut [Tensor], st: &mut LayerState) {
        let (outer, inner) = self.layout(y.shape());
        let c = self.channels;
        st.mean.resize(c, 0.0);
        st.var.resize(c, 0.0);
        if self.use_global_stats {
            let factor = params[2].data()[0];
            global_stats(params[0].data(), params[1].data(), factor, &mut st.mean, &mut st.var);
            st.saved.clear();
            st.saved.extend_from_slice(y.data());
            batch_norm_forward_global(
                &st.saved,
                y.data_mut(),
                outer,
                c,
                inner,
                self.eps,
                &st.mean,
                &st.var,
            );
        } else {
            batch_norm_forward_train_inplace(
                y.data_mut(),
                outer,
                c,
                inner,
                self.eps,
                &mut st.mean,
                &mut st.var,
            );
            let (mean_sum, rest) = params.split_at_mut(1);
            let (var_sum, factor) = rest.split_at_mut(1);
            update_running_stats(
                mean_sum[0].data_mut(),
                var_sum[0].data_mut(),
                &mut factor[0].data_mut()[0],
                &st.mean,
                &st.var,
                outer * inner,
                self.moving_average_fraction,
            );
        }
    }
}

impl BatchNorm {
    /// In place on the diff. Batch statistics: dx = (dy − mean(dy) − mean(dy·ŷ)·ŷ)/sqrt(var + eps);
    /// global statistics: dx = dy/sqrt(var + eps).
    pub fn backward(&self, y: &Tensor, diff: &mut Tensor, st: &LayerState) {
        let (outer, inner) = self.layout(y.shape());
        if self.use_global_stats {
            batch_norm_backward_global_inplace(
                diff.data_mut(),
                outer,
                self.channels,
                inner,
                &st.var,
                self.eps,
            );
        } else {
            batch_norm_backward_train_inplace(
                y.data(),
                diff.data_mut(),
                outer,
                self.channels,
                inner,
                &st.var,
                self.eps,
            );
        }
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
