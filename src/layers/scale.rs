//! Scale layer: multiplies by a broadcast factor — a learned blob of shape
//! bottom.shape[axis .. axis+num_axes], or a second bottom — with an optional learned bias.

use super::LayerState;
use super::{canonical_axis, check_arity, count, fmt_shape, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::kernels::eltwise::scale_channels_backward_inplace;
use crate::kernels::eltwise::{scale_channels_forward, scale_channels_forward_inplace};
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// How a broadcast operand lines up with the bottom: (outer, dim, inner) counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broadcast {
    /// Elements before the operand's axes.
    pub outer: usize,
    /// Elements of the operand.
    pub dim: usize,
    /// Elements after the operand's axes.
    pub inner: usize,
}

impl Broadcast {
    /// The operand shape for `axis`/`num_axes` (−1 = to the end) of a bottom, checked.
    pub fn operand_shape(
        bottom: &[usize],
        axis: i32,
        num_axes: i32,
        what: &str,
    ) -> Result<(usize, Shape)> {
        let axis = if bottom.is_empty() && axis == 0 {
            0
        } else {
            canonical_axis(axis, bottom.len(), &format!("{what}.axis"))?
        };
        if num_axes < -1 {
            return Err(Error::input(format!("{what}.num_axes must be ≥ −1, got {num_axes}")));
        }
        let end = if num_axes == -1 { bottom.len() } else { axis + num_axes as usize };
        if end > bottom.len() {
            return Err(Error::input(format!(
                "{what}: axis {axis} + num_axes {num_axes} exceeds the bottom's {} axes",
                bottom.len()
            )));
        }
        Ok((axis, bottom[axis..end].to_vec()))
    }

    /// The operand's axis and shape: the second bottom's (checked to line up with the first
    /// bottom at `axis`), or `axis`/`num_axes` of the first bottom when there is one bottom.
    pub fn operand(
        bottoms: &[Shape],
        axis: i32,
        num_axes: i32,
        what: &str,
    ) -> Result<(usize, Shape)> {
        let b = &bottoms[0];
        let Some(s) = bottoms.get(1) else {
            return Broadcast::operand_shape(b, axis, num_axes, what);
        };
        let axis =
            if b.is_empty() { 0 } else { canonical_axis(axis, b.len(), &format!("{what}.axis"))? };
        if axis + s.len() > b.len() || b[axis..axis + s.len()] != s[..] {
            return Err(Error::input(format!(
                "{what}: second bottom {} does not match bottom {} at axis {axis}",
                fmt_shape(s),
                fmt_shape(b)
            )));
        }
        Ok((axis, s.clone()))
    }

    /// Counts for an operand of shape `operand` starting at `axis` of `bottom`.
    pub fn new(bottom: &[usize], axis: usize, operand: &[usize]) -> Broadcast {
        Broadcast {
            outer: count(&bottom[..axis]),
            dim: count(operand),
            inner: count(&bottom[axis + operand.len()..]),
        }
    }
}

/// Broadcast multiplication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scale {
    /// Layout of the factor against the bottom.
    pub bcast: Broadcast,
    /// Factor from the second bottom (no learned factor blob).
    pub from_bottom: bool,
    /// Learned bias blob present.
    pub bias_term: bool,
}

impl Scale {
    /// Parses `scale_param`; 1 or 2 bottoms.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        check_arity(lp, (1, 2), (1, 1))?;
        let p = lp.scale_param.clone().unwrap_or_default();
        let b = &bottoms[0];
        let (axis, operand) = Broadcast::operand(bottoms, p.axis(), p.num_axes(), "scale_param")?;
        let from_bottom = bottoms.len() == 2;
        let mut params = Vec::new();
        if !from_bottom {
            params.push(operand.clone());
        }
        if p.bias_term() {
            params.push(operand.clone());
        }
        let layer = Scale {
            bcast: Broadcast::new(b, axis, &operand),
            from_bottom,
            bias_term: p.bias_term(),
        };
        Ok(Setup { layer: Layer::Scale(layer), tops: vec![b.clone()], params })
    }
}

impl Scale {
    /// y = x·γ (+ β), γ broadcast from the learned blob or from `factor` (the second bottom).
    /// `x` is `None` in place: `y` holds the input, which is kept for backward.
    pub fn forward(
        &self,
        x: Option<&Tensor>,
        factor: Option<&Tensor>,
        y: &mut Tensor,
        params: &[Tensor],
        st: &mut LayerState,
    ) {
        let b = &self.bcast;
        let (gamma, beta) = match factor {
            Some(f) => (f.data(), params.first().map(Tensor::data)),
            None => (params[0].data(), params.get(1).map(Tensor::data)),
        };
        match x {
            Some(x) => scale_channels_forward(
                x.data(),
                y.data_mut(),
                b.outer,
                b.dim,
                b.inner,
                Some(gamma),
                beta,
            ),
            None => {
                st.saved.clear();
                st.saved.extend_from_slice(y.data());
                scale_channels_forward_inplace(
                    y.data_mut(),
                    b.outer,
                    b.dim,
                    b.inner,
                    Some(gamma),
                    beta,
                );
            }
        }
    }
}

impl Scale {
    /// In place on the diff (dy → dx = dy·γ); dγ += Σ dy·x, dβ += Σ dy. With γ from a second
    /// bottom, that bottom's diff (overwritten) gets Σ dy·x.
    pub fn backward(
        &self,
        x: &[f32],
        factor: Option<(&Tensor, &mut Tensor)>,
        diff: &mut Tensor,
        params: &[Tensor],
        param_diffs: &mut [Tensor],
    ) {
        let b = &self.bcast;
        let (gamma, dgamma, dbeta): (&[f32], Option<&mut [f32]>, Option<&mut [f32]>) = match factor
        {
            Some((f, df)) => {
                df.fill(0.0);
                (f.data(), Some(df.data_mut()), param_diffs.first_mut().map(Tensor::data_mut))
            }
            None => {
                let (dg, rest) = param_diffs.split_at_mut(1);
                (params[0].data(), Some(dg[0].data_mut()), rest.first_mut().map(Tensor::data_mut))
            }
        };
        scale_channels_backward_inplace(
            x,
            diff.data_mut(),
            b.outer,
            b.dim,
            b.inner,
            Some(gamma),
            dgamma,
            dbeta,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prototxt::parse;

    fn lp(text: &str) -> LayerParameter {
        parse(text, "t", "caffe.LayerParameter").unwrap().0
    }

    #[test]
    fn per_channel_with_bias() {
        let s = Scale::setup(
            &lp(r#"bottom: "a" top: "a" scale_param { bias_term: true }"#),
            &[vec![2, 8, 5, 5]],
        )
        .unwrap();
        assert_eq!(s.params, vec![vec![8], vec![8]]);
        let Layer::Scale(sc) = s.layer else { panic!() };
        assert_eq!(sc.bcast, Broadcast { outer: 2, dim: 8, inner: 25 });
    }

    #[test]
    fn num_axes_variants_and_second_bottom() {
        let s = Scale::setup(
            &lp(r#"bottom: "a" top: "b" scale_param { num_axes: -1 }"#),
            &[vec![2, 3, 4]],
        )
        .unwrap();
        assert_eq!(s.params, vec![vec![3, 4]]);
        let s =
            Scale::setup(&lp(r#"bottom: "a" top: "b" scale_param { num_axes: 0 }"#), &[vec![2, 3]])
                .unwrap();
        assert_eq!(s.params, vec![Vec::<usize>::new()]);
        let s = Scale::setup(&lp(r#"bottom: "a" bottom: "s" top: "b""#), &[vec![2, 3, 4], vec![3]])
            .unwrap();
        assert!(s.params.is_empty());
        assert!(Scale::setup(
            &lp(r#"bottom: "a" bottom: "s" top: "b""#),
            &[vec![2, 3, 4], vec![4]]
        )
        .is_err());
        assert!(Scale::setup(
            &lp(r#"bottom: "a" top: "b" scale_param { num_axes: 3 }"#),
            &[vec![2, 3]]
        )
        .is_err());
    }
}
