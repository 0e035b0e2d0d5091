//! Eltwise layer: element-wise SUM (with per-bottom coefficients), PROD or MAX of ≥ 2 bottoms of
//! identical shape.

use super::LayerState;
use super::{check_arity, fmt_shape, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::kernels::eltwise::{eltwise_max, eltwise_prod, eltwise_sum};
use crate::kernels::eltwise::{eltwise_max_backward, eltwise_prod_backward};
use crate::proto::caffe::eltwise_parameter::EltwiseOp;
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// The operation.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Σ coeff_i · x_i (coefficients default to 1).
    Sum(Vec<f32>),
    /// Π x_i.
    Prod,
    /// max_i x_i (argmax kept for backward).
    Max,
}

/// Element-wise combination of the bottoms.
#[derive(Clone, Debug, PartialEq)]
pub struct Eltwise {
    /// Operation.
    pub op: Op,
    /// PROD backward through the product of the others (true) or y / x_i (false).
    pub stable_prod_grad: bool,
}

impl Eltwise {
    /// Parses `eltwise_param`; all bottoms must have the same shape.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        check_arity(lp, (2, usize::MAX), (1, 1))?;
        let p = lp.eltwise_param.clone().unwrap_or_default();
        let n = bottoms.len();
        if !p.coeff.is_empty() && p.operation() != EltwiseOp::Sum {
            return Err(Error::input("eltwise_param.coeff is only allowed with operation SUM"));
        }
        if !p.coeff.is_empty() && p.coeff.len() != n {
            return Err(Error::input(format!(
                "eltwise_param has {} coeff values for {n} bottoms (give none or one per bottom)",
                p.coeff.len()
            )));
        }
        if let Some(bad) = bottoms.iter().find(|b| **b != bottoms[0]) {
            return Err(Error::input(format!(
                "Eltwise bottoms must have identical shapes: {} vs {}",
                fmt_shape(&bottoms[0]),
                fmt_shape(bad)
            )));
        }
        let op = match p.operation() {
            EltwiseOp::Sum => {
                Op::Sum(if p.coeff.is_empty() { vec![1.0; n] } else { p.coeff.clone() })
            }
            EltwiseOp::Prod => Op::Prod,
            EltwiseOp::Max => Op::Max,
        };
        let layer = Eltwise { op, stable_prod_grad: p.stable_prod_grad() };
        Ok(Setup { layer: Layer::Eltwise(layer), tops: vec![bottoms[0].clone()], params: vec![] })
    }
}

impl Eltwise {
    /// SUM / PROD / MAX over the bottoms (MAX keeps the argmax for backward).
    pub fn forward(&self, bottoms: &[&Tensor], tops: &mut [Tensor], st: &mut LayerState) {
        let xs: Vec<&[f32]> = bottoms.iter().map(|b| b.data()).collect();
        let y = tops[0].data_mut();
        match &self.op {
            Op::Sum(coeffs) => eltwise_sum(&xs, coeffs, y),
            Op::Prod => eltwise_prod(&xs, y),
            Op::Max => {
                st.argmax.resize(y.len(), 0);
                eltwise_max(&xs, y, &mut st.argmax);
            }
        }
    }
}

impl Eltwise {
    /// SUM: dx_i = coeff_i·dy; PROD: dx_i = dy·Π_{j≠i} x_j; MAX: dy where bottom i won.
    pub fn backward(
        &self,
        bottoms: &[&Tensor],
        tops: &[&Tensor],
        top_diffs: &[&Tensor],
        bottom_diffs: &mut [Tensor],
        st: &LayerState,
    ) {
        let dy = top_diffs[0].data();
        let xs: Vec<&[f32]> = bottoms.iter().map(|b| b.data()).collect();
        for (i, dx) in bottom_diffs.iter_mut().enumerate() {
            let dx = dx.data_mut();
            match &self.op {
                Op::Sum(coeffs) => {
                    for (d, &g) in dx.iter_mut().zip(dy) {
                        *d = coeffs[i] * g;
                    }
                }
                Op::Prod => {
                    eltwise_prod_backward(&xs, tops[0].data(), dy, i, self.stable_prod_grad, dx)
                }
                Op::Max => eltwise_max_backward(dy, &st.argmax, i, dx),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prototxt::parse;

    fn lp(param: &str) -> LayerParameter {
        parse(
            &format!("bottom: \"a\" bottom: \"b\" top: \"c\" {param}"),
            "t",
            "caffe.LayerParameter",
        )
        .unwrap()
        .0
    }

    #[test]
    fn ops_and_checks() {
        let s =
            Eltwise::setup(&lp("eltwise_param { coeff: 1 coeff: -1 }"), &[vec![2, 3], vec![2, 3]])
                .unwrap();
        let Layer::Eltwise(e) = s.layer else { panic!() };
        assert_eq!(e.op, Op::Sum(vec![1.0, -1.0]));
        for (param, shapes, want) in [
            (
                "eltwise_param { operation: PROD coeff: 1 coeff: 2 }",
                [vec![1], vec![1]],
                "only allowed",
            ),
            ("eltwise_param { coeff: 1 }", [vec![1], vec![1]], "1 coeff values for 2"),
            ("", [vec![1, 2], vec![2, 1]], "identical shapes"),
        ] {
            let e = Eltwise::setup(&lp(param), &shapes).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
