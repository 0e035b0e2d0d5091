//! InnerProduct (fully connected) layer: `axis` flattening, optional `transpose`, parameter
//! shapes (M, K) or (K, M) + (M).

use super::split_diffs;
use super::{canonical_axis, check_arity, count, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::kernels::conv::inner_product_backward;
use crate::kernels::conv::inner_product_forward;
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// A fully connected layer: rows R = count(0..axis), inputs K = count(axis..), outputs M.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InnerProduct {
    /// `num_output` M.
    pub num_output: usize,
    /// `bias_term`.
    pub bias_term: bool,
    /// `transpose`: weights stored (K, M).
    pub transpose: bool,
    /// Canonical `axis`.
    pub axis: usize,
    /// Rows R (batch-like count).
    pub rows: usize,
    /// Inputs per row K.
    pub k: usize,
}

impl InnerProduct {
    /// Parses `inner_product_param` and infers the top.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        check_arity(lp, (1, 1), (1, 1))?;
        let Some(p) = &lp.inner_product_param else {
            return Err(Error::input("needs an `inner_product_param` with `num_output`"));
        };
        let b = &bottoms[0];
        let num_output = p.num_output() as usize;
        if num_output == 0 {
            return Err(Error::input("inner_product_param.num_output must be positive"));
        }
        let axis = canonical_axis(p.axis(), b.len(), "inner_product_param.axis")?;
        let (rows, k) = (count(&b[..axis]), count(&b[axis..]));
        let mut params =
            vec![if p.transpose() { vec![k, num_output] } else { vec![num_output, k] }];
        if p.bias_term() {
            params.push(vec![num_output]);
        }
        let mut top = b[..axis].to_vec();
        top.push(num_output);
        let layer = InnerProduct {
            num_output,
            bias_term: p.bias_term(),
            transpose: p.transpose(),
            axis,
            rows,
            k,
        };
        Ok(Setup { layer: Layer::InnerProduct(layer), tops: vec![top], params })
    }

    /// Multiply-adds per batch item (per row of axis 0).
    pub fn macs_per_item(&self, bottoms: &[Shape], _tops: &[Shape]) -> u64 {
        let n = bottoms[0].first().copied().unwrap_or(1).max(1);
        (self.rows / n * self.k * self.num_output) as u64
    }
}

impl InnerProduct {
    /// Y = X·Wᵀ + b (or X·W with `transpose`).
    pub fn forward(&self, bottoms: &[&Tensor], tops: &mut [Tensor], params: &[Tensor]) {
        let bias = params.get(1).map(Tensor::data);
        inner_product_forward(
            self.rows,
            self.k,
            self.num_output,
            bottoms[0].data(),
            params[0].data(),
            bias,
            self.transpose,
            tops[0].data_mut(),
        );
    }
}

impl InnerProduct {
    /// dW += dYᵀX (or XᵀdY), db += column sums of dY, dX = dY·W (overwritten).
    pub fn backward(
        &self,
        bottoms: &[&Tensor],
        top_diffs: &[&Tensor],
        bottom_diffs: &mut [Tensor],
        params: &[Tensor],
        param_diffs: &mut [Tensor],
        need_bottom_diff: bool,
    ) {
        let (dw, db) = split_diffs(param_diffs);
        inner_product_backward(
            self.rows,
            self.k,
            self.num_output,
            bottoms[0].data(),
            params[0].data(),
            top_diffs[0].data(),
            self.transpose,
            Some(dw),
            db,
            need_bottom_diff.then(|| bottom_diffs[0].data_mut()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prototxt::parse;

    fn lp(param: &str) -> LayerParameter {
        parse(&format!("bottom: \"x\" top: \"y\" {param}"), "t", "caffe.LayerParameter").unwrap().0
    }

    #[test]
    fn flattens_from_axis() {
        let s = InnerProduct::setup(
            &lp("inner_product_param { num_output: 4096 }"),
            &[vec![10, 256, 6, 6]],
        )
        .unwrap();
        assert_eq!(s.tops, vec![vec![10, 4096]]);
        assert_eq!(s.params, vec![vec![4096, 9216], vec![4096]]);
        let s = InnerProduct::setup(
            &lp("inner_product_param { num_output: 5 axis: -1 transpose: true bias_term: false }"),
            &[vec![2, 3, 7]],
        )
        .unwrap();
        assert_eq!(s.tops, vec![vec![2, 3, 5]]);
        assert_eq!(s.params, vec![vec![7, 5]]);
        let Layer::InnerProduct(ip) = &s.layer else { panic!() };
        assert_eq!(ip.macs_per_item(&[vec![2, 3, 7]], &s.tops), 3 * 7 * 5);
    }

    #[test]
    fn bad_axis() {
        let e = InnerProduct::setup(
            &lp("inner_product_param { num_output: 1 axis: 4 }"),
            &[vec![1, 2, 3, 4]],
        );
        assert!(e.unwrap_err().to_string().contains("out of range"));
    }
}
