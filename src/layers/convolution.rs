//! Convolution layer: `ConvolutionParameter` parsing shared with Deconvolution, shape inference
//! (Caffe's floor rule), parameter shapes (M, C/g, kh, kw) + (M) and multiply-add count.

use super::split_diffs;
use super::Ctx;
use super::{check_4d, check_arity, count, fmt_shape, spatial_pair, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::kernels::conv::conv_backward;
use crate::kernels::conv::{conv_forward, ConvGeom};
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// Geometry shared by Convolution and Deconvolution, read from `convolution_param`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvParams {
    /// `num_output`: output channels M.
    pub num_output: usize,
    /// `bias_term`.
    pub bias_term: bool,
    /// `group`.
    pub group: usize,
    /// (kernel_h, kernel_w).
    pub kernel: (usize, usize),
    /// (stride_h, stride_w).
    pub stride: (usize, usize),
    /// (pad_h, pad_w).
    pub pad: (usize, usize),
    /// (dilation_h, dilation_w).
    pub dilation: (usize, usize),
}

impl ConvParams {
    /// Reads and validates `convolution_param` against a 4-D bottom with `channels` channels.
    pub fn parse(lp: &LayerParameter, bottom: &[usize]) -> Result<ConvParams> {
        let Some(p) = &lp.convolution_param else {
            return Err(Error::input("needs a `convolution_param` with `num_output`"));
        };
        let axis = p.axis();
        if axis != 1 && axis != -3 {
            return Err(Error::input(format!(
                "convolution_param.axis {axis} is not supported (only the channel axis 1)"
            )));
        }
        check_4d(bottom, "2-D convolution")?;
        let num_output = p.num_output() as usize;
        if num_output == 0 {
            return Err(Error::input("convolution_param.num_output must be positive"));
        }
        let kernel = spatial_pair(&p.kernel_size, p.kernel_h, p.kernel_w, "kernel_size", 0, 0)
            .map_err(|e| e.context("convolution_param"))?;
        if p.kernel_size.is_empty() && p.kernel_h.is_none() && p.kernel_w.is_none() {
            return Err(Error::input(
                "convolution_param needs `kernel_size` or `kernel_h`/`kernel_w`",
            ));
        }
        if kernel.0 == 0 || kernel.1 == 0 {
            return Err(Error::input("convolution_param: kernel dimensions must be nonzero"));
        }
        let stride = spatial_pair(&p.stride, p.stride_h, p.stride_w, "stride", 1, 0)
            .map_err(|e| e.context("convolution_param"))?;
        if stride.0 == 0 || stride.1 == 0 {
            return Err(Error::input("convolution_param: stride must be nonzero"));
        }
        let pad = spatial_pair(&p.pad, p.pad_h, p.pad_w, "pad", 0, 0)
            .map_err(|e| e.context("convolution_param"))?;
        let dilation = spatial_pair(&p.dilation, None, None, "dilation", 1, 1)
            .map_err(|e| e.context("convolution_param"))?;
        if dilation.0 == 0 || dilation.1 == 0 {
            return Err(Error::input("convolution_param: dilation must be nonzero"));
        }
        let group = p.group() as usize;
        let channels = bottom[1];
        if group == 0 || channels % group != 0 || num_output % group != 0 {
            return Err(Error::input(format!(
                "convolution_param.group {group} must divide both the input channels ({channels}) \
                 and num_output ({num_output})"
            )));
        }
        Ok(ConvParams {
            num_output,
            bias_term: p.bias_term(),
            group,
            kernel,
            stride,
            pad,
            dilation,
        })
    }

    /// Output size along one axis by Caffe's convolution rule (floor); `None` when the dilated
    /// kernel does not fit in the padded input.
    pub fn conv_out(
        input: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
        dilation: usize,
    ) -> Option<usize> {
        let extent = dilation * (kernel - 1) + 1;
        let padded = input + 2 * pad;
        (padded >= extent).then(|| (padded - extent) / stride + 1)
    }

    /// The kernel geometry for one image of `channels` × `input` (the layer's own geometry for
    /// a convolution; for a deconvolution, the deconvolution's input).
    pub fn geom(&self, channels: usize, input: (usize, usize)) -> ConvGeom {
        ConvGeom::new(channels, input.0, input.1, self.num_output, self.kernel.0, self.kernel.1)
            .with_stride(self.stride.0, self.stride.1)
            .with_pad(self.pad.0, self.pad.1)
            .with_dilation(self.dilation.0, self.dilation.1)
            .with_group(self.group)
    }

    /// Checks that every bottom has the first bottom's shape (Caffe applies one weight set to
    /// each bottom).
    pub fn check_same_bottoms(bottoms: &[Shape]) -> Result<()> {
        if let Some(bad) = bottoms.iter().find(|b| **b != bottoms[0]) {
            return Err(Error::input(format!(
                "all bottoms must have the same shape: {} vs {}",
                fmt_shape(&bottoms[0]),
                fmt_shape(bad)
            )));
        }
        Ok(())
    }
}

/// A convolution layer with its input geometry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Convolution {
    /// Parameters from the prototxt.
    pub p: ConvParams,
    /// Input channels C.
    pub channels: usize,
    /// Input (H, W).
    pub input: (usize, usize),
    /// Output (Ho, Wo).
    pub output: (usize, usize),
}

impl Convolution {
    /// Parses the parameters and infers the tops (one per bottom).
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        check_arity(lp, (1, usize::MAX), (lp.bottom.len(), lp.bottom.len()))?;
        ConvParams::check_same_bottoms(bottoms)?;
        let b = &bottoms[0];
        let p = ConvParams::parse(lp, b)?;
        let (h, w) = (b[2], b[3]);
        let oh = ConvParams::conv_out(h, p.kernel.0, p.stride.0, p.pad.0, p.dilation.0);
        let ow = ConvParams::conv_out(w, p.kernel.1, p.stride.1, p.pad.1, p.dilation.1);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            return Err(Error::input(format!(
                "kernel {}×{} (dilation {}×{}) is larger than the padded input {}×{}",
                p.kernel.0,
                p.kernel.1,
                p.dilation.0,
                p.dilation.1,
                h + 2 * p.pad.0,
                w + 2 * p.pad.1
            )));
        };
        let channels = b[1];
        let mut params = vec![vec![p.num_output, channels / p.group, p.kernel.0, p.kernel.1]];
        if p.bias_term {
            params.push(vec![p.num_output]);
        }
        let tops = vec![vec![b[0], p.num_output, oh, ow]; bottoms.len()];
        let layer = Convolution { p, channels, input: (h, w), output: (oh, ow) };
        Ok(Setup { layer: Layer::Convolution(layer), tops, params })
    }

    /// Multiply-adds per batch item, summed over the bottoms.
    pub fn macs_per_item(&self, bottoms: &[Shape], _tops: &[Shape]) -> u64 {
        let per =
            self.p.num_output * (self.channels / self.p.group) * self.p.kernel.0 * self.p.kernel.1;
        (per * self.output.0 * self.output.1 * bottoms.len()) as u64
    }

    /// Weight count per output channel (fan-in).
    pub fn fan_in(&self) -> usize {
        count(&[self.channels / self.p.group, self.p.kernel.0, self.p.kernel.1])
    }
}

impl Convolution {
    /// The kernel geometry for one image.
    pub fn geom(&self) -> ConvGeom {
        self.p.geom(self.channels, self.input)
    }

    /// y_i = conv(x_i, W) + b for every bottom i.
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
            conv_forward(
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

impl Convolution {
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
        let (dw, db) = split_diffs(param_diffs);
        let (mut dw, mut db) = (Some(dw), db);
        for ((x, dy), dx) in bottoms.iter().zip(top_diffs).zip(bottom_diffs.iter_mut()) {
            conv_backward(
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
        dw.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prototxt::parse;

    fn layer(text: &str) -> LayerParameter {
        parse::<LayerParameter>(text, "t", "caffe.LayerParameter").unwrap().0
    }

    #[test]
    fn alexnet_conv1_and_grouped_conv2() {
        let lp = layer(
            r#"name: "c" type: "Convolution" bottom: "x" top: "y"
            convolution_param { num_output: 96 kernel_size: 11 stride: 4 }"#,
        );
        let s = Convolution::setup(&lp, &[vec![10, 3, 227, 227]]).unwrap();
        assert_eq!(s.tops, vec![vec![10, 96, 55, 55]]);
        assert_eq!(s.params, vec![vec![96, 3, 11, 11], vec![96]]);
        let lp = layer(
            r#"name: "c" type: "Convolution" bottom: "x" top: "y"
            convolution_param { num_output: 256 pad: 2 kernel_size: 5 group: 2 }"#,
        );
        let s = Convolution::setup(&lp, &[vec![1, 96, 27, 27]]).unwrap();
        assert_eq!(s.tops, vec![vec![1, 256, 27, 27]]);
        assert_eq!(s.params[0], vec![256, 48, 5, 5]);
        let Layer::Convolution(c) = &s.layer else { panic!() };
        assert_eq!(c.macs_per_item(&[vec![1, 96, 27, 27]], &s.tops), 256 * 48 * 25 * 27 * 27);
    }

    #[test]
    fn every_spelling_of_the_geometry() {
        let lp = layer(
            r#"bottom: "x" top: "y" convolution_param { num_output: 4 kernel_h: 3
            kernel_w: 5 stride_h: 2 stride_w: 1 pad_h: 1 bias_term: false }"#,
        );
        let s = Convolution::setup(&lp, &[vec![2, 3, 9, 9]]).unwrap();
        assert_eq!(s.tops, vec![vec![2, 4, 5, 5]]);
        assert_eq!(s.params, vec![vec![4, 3, 3, 5]]);
        let lp = layer(
            r#"bottom: "x" top: "y" convolution_param { num_output: 4
            kernel_size: [3, 1] stride: [1, 2] pad: [0, 2] dilation: 2 }"#,
        );
        let s = Convolution::setup(&lp, &[vec![1, 1, 7, 7]]).unwrap();
        assert_eq!(s.tops, vec![vec![1, 4, 3, 6]]);
    }

    #[test]
    fn bad_geometry_is_an_error() {
        let cases = [
            (
                r#"convolution_param { num_output: 4 kernel_size: 3 stride: 0 }"#,
                "stride must be nonzero",
            ),
            (
                r#"convolution_param { num_output: 4 kernel_size: 9 }"#,
                "larger than the padded input",
            ),
            (
                r#"convolution_param { num_output: 4 kernel_size: 3 group: 2 }"#,
                "group 2 must divide",
            ),
            (
                r#"convolution_param { num_output: 0 kernel_size: 3 }"#,
                "num_output must be positive",
            ),
            (r#"convolution_param { num_output: 4 }"#, "needs `kernel_size`"),
            (
                r#"convolution_param { num_output: 4 kernel_size: 3 kernel_h: 3 kernel_w: 3 }"#,
                "not both",
            ),
            (r#"convolution_param { num_output: 4 kernel_size: [3, 3, 3] }"#, "has 3 values"),
        ];
        for (param, want) in cases {
            let lp = layer(&format!("bottom: \"x\" top: \"y\" {param}"));
            let e = Convolution::setup(&lp, &[vec![1, 3, 7, 7]]).unwrap_err().to_string();
            assert!(e.contains(want), "{param}: {e}");
        }
    }
}
