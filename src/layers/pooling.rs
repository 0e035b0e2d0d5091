//! Pooling layer: MAX / AVE (STOCHASTIC is GPU-only in Caffe and refused), global pooling, and
//! Caffe's output-size rule: ceil (or floor) rounding, then the "last window must start inside
//! the image" clip when there is padding.

use super::LayerState;
use super::{check_4d, check_arity, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::kernels::pool::pooled_size_rule;
use crate::kernels::pool::{ave_pool_backward, max_pool_backward};
use crate::kernels::pool::{ave_pool_forward, max_pool_forward, PoolGeom};
use crate::proto::caffe::pooling_parameter::{PoolMethod, RoundMode};
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// Pooling method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Maximum over the window (argmax kept for backward).
    Max,
    /// Average over the window with Caffe's divisor rule.
    Ave,
}

/// A pooling layer with its geometry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pooling {
    /// MAX or AVE.
    pub method: Method,
    /// (kernel_h, kernel_w); the whole plane for global pooling.
    pub kernel: (usize, usize),
    /// (stride_h, stride_w).
    pub stride: (usize, usize),
    /// (pad_h, pad_w).
    pub pad: (usize, usize),
    /// Channels.
    pub channels: usize,
    /// Input (H, W).
    pub input: (usize, usize),
    /// Output (Ho, Wo).
    pub output: (usize, usize),
    /// Whether a second top receives the argmax mask (MAX only).
    pub mask_top: bool,
}

/// Caffe's pooled size along one axis; `None` if the kernel exceeds the padded input.
/// `any_pad`: Caffe clips the last window in both axes when either pad is non-zero.
pub fn pooled_size(
    input: usize,
    kernel: usize,
    pad: usize,
    stride: usize,
    ceil: bool,
    any_pad: bool,
) -> Option<usize> {
    (kernel <= input + 2 * pad).then(|| pooled_size_rule(input, kernel, pad, stride, ceil, any_pad))
}

impl Pooling {
    /// Parses `pooling_param` and infers the top(s).
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        check_arity(lp, (1, 1), (1, 2))?;
        let b = &bottoms[0];
        check_4d(b, "pooling")?;
        let p = lp.pooling_param.unwrap_or_default();
        let method =
            match p.pool() {
                PoolMethod::Max => Method::Max,
                PoolMethod::Ave => Method::Ave,
                PoolMethod::Stochastic => return Err(Error::input(
                    "STOCHASTIC pooling has no CPU implementation in Caffe and is not supported",
                )),
            };
        let (h, w) = (b[2], b[3]);
        let has_kernel = p.kernel_size.is_some() || p.kernel_h.is_some() || p.kernel_w.is_some();
        let (kernel, stride, pad);
        if p.global_pooling() {
            if has_kernel {
                return Err(Error::input("with global_pooling the kernel size cannot be given"));
            }
            kernel = (h, w);
        } else {
            kernel =
                match (p.kernel_size, p.kernel_h, p.kernel_w) {
                    (Some(k), None, None) => (k as usize, k as usize),
                    (None, Some(kh), Some(kw)) => (kh as usize, kw as usize),
                    (None, None, None) => {
                        return Err(Error::input(
                            "pooling_param needs `kernel_size` or `kernel_h` and `kernel_w`",
                        ))
                    }
                    (Some(_), _, _) => return Err(Error::input(
                        "pooling kernel is `kernel_size` OR `kernel_h` and `kernel_w`, not both",
                    )),
                    _ => {
                        return Err(Error::input(
                            "non-square pooling needs both `kernel_h` and `kernel_w`",
                        ))
                    }
                };
        }
        pad = match (p.pad, p.pad_h, p.pad_w) {
            (pd, None, None) => (pd.unwrap_or(0) as usize, pd.unwrap_or(0) as usize),
            (None, Some(ph), Some(pw)) => (ph as usize, pw as usize),
            _ => return Err(Error::input("pooling pad is `pad` OR `pad_h` and `pad_w`")),
        };
        stride = match (p.stride, p.stride_h, p.stride_w) {
            (st, None, None) => (st.unwrap_or(1) as usize, st.unwrap_or(1) as usize),
            (None, Some(sh), Some(sw)) => (sh as usize, sw as usize),
            _ => {
                return Err(Error::input("pooling stride is `stride` OR `stride_h` and `stride_w`"))
            }
        };
        if p.global_pooling() && (pad != (0, 0) || stride != (1, 1)) {
            return Err(Error::input("with global_pooling only pad 0 and stride 1 are allowed"));
        }
        if kernel.0 == 0 || kernel.1 == 0 {
            return Err(Error::input("pooling kernel dimensions must be nonzero"));
        }
        if stride.0 == 0 || stride.1 == 0 {
            return Err(Error::input("pooling stride must be nonzero"));
        }
        if pad.0 >= kernel.0 || pad.1 >= kernel.1 {
            return Err(Error::input(format!(
                "pooling pad {}×{} must be smaller than the kernel {}×{}",
                pad.0, pad.1, kernel.0, kernel.1
            )));
        }
        let ceil = p.round_mode() == RoundMode::Ceil;
        let any_pad = pad != (0, 0);
        let oh = pooled_size(h, kernel.0, pad.0, stride.0, ceil, any_pad);
        let ow = pooled_size(w, kernel.1, pad.1, stride.1, ceil, any_pad);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            return Err(Error::input(format!(
                "pooling kernel {}×{} is larger than the padded input {}×{}",
                kernel.0,
                kernel.1,
                h + 2 * pad.0,
                w + 2 * pad.1
            )));
        };
        let mask_top = lp.top.len() == 2;
        if mask_top && method != Method::Max {
            return Err(Error::input("only MAX pooling has a second (mask) top"));
        }
        let top = vec![b[0], b[1], oh, ow];
        let tops = if mask_top { vec![top.clone(), top] } else { vec![top] };
        let layer = Pooling {
            method,
            kernel,
            stride,
            pad,
            channels: b[1],
            input: (h, w),
            output: (oh, ow),
            mask_top,
        };
        Ok(Setup { layer: Layer::Pooling(layer), tops, params: vec![] })
    }
}

impl Pooling {
    /// The kernel geometry.
    pub fn geom(&self) -> PoolGeom {
        PoolGeom {
            channels: self.channels,
            height: self.input.0,
            width: self.input.1,
            kernel_h: self.kernel.0,
            kernel_w: self.kernel.1,
            stride_h: self.stride.0,
            stride_w: self.stride.1,
            pad_h: self.pad.0,
            pad_w: self.pad.1,
            out_h: self.output.0,
            out_w: self.output.1,
        }
    }

    /// MAX (keeping the argmax for backward, and writing it to the mask top if any) or AVE.
    pub fn forward(&self, bottoms: &[&Tensor], tops: &mut [Tensor], st: &mut LayerState) {
        let g = self.geom();
        let (x, n) = (bottoms[0].data(), bottoms[0].shape()[0]);
        match self.method {
            Method::Max => {
                st.argmax.resize(tops[0].len(), 0);
                max_pool_forward(&g, n, x, tops[0].data_mut(), &mut st.argmax);
                if let Some(mask) = tops.get_mut(1) {
                    for (m, &a) in mask.data_mut().iter_mut().zip(&st.argmax) {
                        *m = a as f32;
                    }
                }
            }
            Method::Ave => ave_pool_forward(&g, n, x, tops[0].data_mut()),
        }
    }
}

impl Pooling {
    /// MAX: the diff goes to each window's argmax (overlaps add); AVE: spread with the
    /// forward's divisor. The mask top has no gradient.
    pub fn backward(&self, top_diffs: &[&Tensor], bottom_diffs: &mut [Tensor], st: &LayerState) {
        let g = self.geom();
        let n = bottom_diffs[0].shape()[0];
        let (dy, dx) = (top_diffs[0].data(), bottom_diffs[0].data_mut());
        match self.method {
            Method::Max => max_pool_backward(&g, n, dy, &st.argmax, dx),
            Method::Ave => ave_pool_backward(&g, n, dy, dx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prototxt::parse;

    fn setup(param: &str, b: Shape) -> Result<Setup> {
        let lp: LayerParameter =
            parse(&format!("bottom: \"x\" top: \"y\" {param}"), "t", "caffe.LayerParameter")
                .unwrap()
                .0;
        Pooling::setup(&lp, &[b])
    }

    #[test]
    fn caffe_output_sizes() {
        // AlexNet pool1: 55 → 27, pool5: 13 → 6 (ceil); GoogLeNet pool1: 112 → 56 (ceil).
        let max3s2 = "pooling_param { pool: MAX kernel_size: 3 stride: 2 }";
        assert_eq!(setup(max3s2, vec![1, 96, 55, 55]).unwrap().tops[0], vec![1, 96, 27, 27]);
        assert_eq!(setup(max3s2, vec![1, 256, 13, 13]).unwrap().tops[0], vec![1, 256, 6, 6]);
        assert_eq!(setup(max3s2, vec![1, 64, 112, 112]).unwrap().tops[0], vec![1, 64, 56, 56]);
        // CIFAR-10: 32 → 16 with k3 s2 (ceil gives 16 where floor gives 15).
        assert_eq!(setup(max3s2, vec![1, 32, 32, 32]).unwrap().tops[0][2], 16);
        let floor = "pooling_param { kernel_size: 3 stride: 2 round_mode: FLOOR }";
        assert_eq!(setup(floor, vec![1, 32, 32, 32]).unwrap().tops[0][2], 15);
    }

    #[test]
    fn pad_clip_rule() {
        // H=4, k=2, s=2, p=1: ceil((4+2-2)/2)+1 = 3; (3-1)*2 = 4 < 4+1 → stays 3.
        assert_eq!(pooled_size(4, 2, 1, 2, true, true), Some(3));
        // H=5, k=3, s=2, p=1: ceil(4/2)+1 = 3; 4 >= 6? no → 3.
        assert_eq!(pooled_size(5, 3, 1, 2, true, true), Some(3));
        // H=6, k=3, s=3, p=1: ceil(5/3)+1 = 3; (3-1)*3 = 6 >= 7? no → 3. H=5: ceil(4/3)+1 = 3;
        // 6 >= 6 → clipped to 2.
        assert_eq!(pooled_size(6, 3, 1, 3, true, true), Some(3));
        assert_eq!(pooled_size(5, 3, 1, 3, true, true), Some(2));
        // Without padding the ceil overflow window stays (Caffe's k < s edge case).
        assert_eq!(pooled_size(5, 1, 0, 2, true, false), Some(3));
    }

    #[test]
    fn global_and_errors() {
        let s =
            setup("pooling_param { pool: AVE global_pooling: true }", vec![2, 1024, 7, 7]).unwrap();
        assert_eq!(s.tops[0], vec![2, 1024, 1, 1]);
        let Layer::Pooling(p) = s.layer else { panic!() };
        assert_eq!((p.kernel, p.method), ((7, 7), Method::Ave));
        for (param, want) in [
            ("pooling_param { kernel_size: 3 stride: 0 }", "stride must be nonzero"),
            ("pooling_param { kernel_size: 9 }", "larger than the padded input"),
            ("pooling_param { kernel_size: 3 pad: 3 }", "smaller than the kernel"),
            ("pooling_param { pool: STOCHASTIC kernel_size: 2 }", "STOCHASTIC"),
            ("pooling_param { kernel_h: 2 }", "both `kernel_h` and `kernel_w`"),
            ("pooling_param { global_pooling: true kernel_size: 2 }", "cannot be given"),
        ] {
            let e = setup(param, vec![1, 3, 5, 5]).unwrap_err().to_string();
            assert!(e.contains(want), "{param}: {e}");
        }
    }
}
