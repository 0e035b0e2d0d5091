//! Deconvolution (transposed convolution) layer: shape inference Ho = s(H−1) + d(k−1) + 1 − 2p,
//! parameter shapes (C, M/g, kh, kw) + (M) — input channels first, as Caffe stores them.

use super::convolution::ConvParams;
use super::split_diffs;
use super::Ctx;
use super::{check_arity, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::kernels::conv::deconv_backward;
use crate::kernels::conv::{deconv_forward, ConvGeom};
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// A deconvolution layer with its input geometry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deconvolution {
    /// Parameters from `convolution_param`.
    pub p: ConvParams,
    /// Input channels C.
    pub channels: usize,
    /// Input (H, W).
    pub input: (usize, usize),
    /// Output (Ho, Wo).
    pub output: (usize, usize),
}

impl Deconvolution {
    /// Output size along one axis; `None` when the padding eats the whole output.
    pub fn deconv_out(
        input: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
        dilation: usize,
    ) -> Option<usize> {
        let full = stride * (input - 1) + dilation * (kernel - 1) + 1;
        (full > 2 * pad).then(|| full - 2 * pad)
    }

    /// Parses the parameters and infers the tops (one per bottom).
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        check_arity(lp, (1, usize::MAX), (lp.bottom.len(), lp.bottom.len()))?;
        ConvParams::check_same_bottoms(bottoms)?;
        let b = &bottoms[0];
        let p = ConvParams::parse(lp, b)?;
        let (h, w) = (b[2], b[3]);
        if h == 0 || w == 0 {
            return Err(Error::input("deconvolution of an empty input"));
        }
        let oh = Self::deconv_out(h, p.kernel.0, p.stride.0, p.pad.0, p.dilation.0);
        let ow = Self::deconv_out(w, p.kernel.1, p.stride.1, p.pad.1, p.dilation.1);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            return Err(Error::input(format!(
                "padding {}×{} leaves no output for a {h}×{w} input",
                p.pad.0, p.pad.1
            )));
        };
        let channels = b[1];
        let mut params = vec![vec![channels, p.num_output / p.group, p.kernel.0, p.kernel.1]];
        if p.bias_term {
            params.push(vec![p.num_output]);
        }
        let tops = vec![vec![b[0], p.num_output, oh, ow]; bottoms.len()];
        let layer = Deconvolution { p, channels, input: (h, w), output: (oh, ow) };
        Ok(Setup { layer: Layer::Deconvolution(layer), tops, params })
    }

    /// Multiply-adds per batch item: every input pixel meets every weight of its group once.
    pub fn macs_per_item(&self, bottoms: &[Shape], _tops: &[Shape]) -> u64 {
        let per =
            self.channels * (self.p.num_output / self.p.group) * self.p.kernel.0 * self.p.kernel.1;
        (per * self.input.0 * self.input.1 * bottoms.len()) as u64
    }
}

impl Deconvolution {
    /// The kernel geometry (of the deconvolution itself) for one image.
    pub fn geom(&self) -> ConvGeom {
        self.p.geom(self.channels, self.input)
    }

    /// y_i = deconv(x_i, W) + b for every bottom i.
    pub fn forward(
        &self,
        bottoms: &[&Tensor],
        tops: &mut [Tensor],
        params: &[Tensor],
        cx: &mut Ctx,
    ) {
        let g = self.geom();
        let bias = params.get(1).map(Tensor::data);
        for (x, y) in bottoms.iter().zip(tops.iter_mut()) {
            deconv_forward(
                &g,
                x.shape()[0],
                x.data(),
                params[0].data(),
                bias,
                y.data_mut(),
                cx.scratch,
            );
        }
    }
}

impl Deconvolution {
    /// dW += Σ_i ∂/∂W, db += Σ_i ∂/∂b over the bottoms; dx_i overwritten.
    pub fn backward(
        &self,
        bottoms: &[&Tensor],
        top_diffs: &[&Tensor],
        bottom_diffs: &mut [Tensor],
        params: &[Tensor],
        param_diffs: &mut [Tensor],
        cx: &mut Ctx,
    ) {
        let g = self.geom();
        let (dw, mut db) = split_diffs(param_diffs);
        let mut dw = Some(dw);
        for ((x, dy), dx) in bottoms.iter().zip(top_diffs).zip(bottom_diffs.iter_mut()) {
            deconv_backward(
                &g,
                x.shape()[0],
                x.data(),
                params[0].data(),
                dy.data(),
                dw.as_deref_mut(),
                db.as_deref_mut(),
                cx.need_bottom_diff.then(|| dx.data_mut()),
                cx.scratch,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prototxt::parse;

    #[test]
    fn upsampling_by_two() {
        let lp: LayerParameter = parse(
            r#"bottom: "x" top: "y" convolution_param { num_output: 6 kernel_size: 4 stride: 2
               pad: 1 group: 3 }"#,
            "t",
            "caffe.LayerParameter",
        )
        .unwrap()
        .0;
        let s = Deconvolution::setup(&lp, &[vec![2, 3, 7, 5]]).unwrap();
        assert_eq!(s.tops, vec![vec![2, 6, 14, 10]]);
        assert_eq!(s.params, vec![vec![3, 2, 4, 4], vec![6]]);
        let Layer::Deconvolution(d) = &s.layer else { panic!() };
        assert_eq!(d.macs_per_item(&[vec![2, 3, 7, 5]], &s.tops), 3 * 2 * 16 * 35);
    }

    #[test]
    fn padding_larger_than_output_is_an_error() {
        let lp: LayerParameter = parse(
            r#"bottom: "x" top: "y" convolution_param { num_output: 1 kernel_size: 1 pad: 3 }"#,
            "t",
            "caffe.LayerParameter",
        )
        .unwrap()
        .0;
        assert!(Deconvolution::setup(&lp, &[vec![1, 1, 2, 2]]).is_err());
    }
}
