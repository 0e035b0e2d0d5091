//! Concat layer: joins bottoms along `axis` (or the deprecated `concat_dim`); all other axes match.

use super::{canonical_axis, check_arity, fmt_shape, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// Concatenation along a canonical axis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Concat {
    /// Canonical axis.
    pub axis: usize,
}

impl Concat {
    /// Parses `concat_param` and sums the bottoms' extents along the axis.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        check_arity(lp, (1, usize::MAX), (1, 1))?;
        let p = lp.concat_param.unwrap_or_default();
        let first = &bottoms[0];
        let axis = match p.concat_dim {
            Some(d) if p.axis.is_some() => {
                return Err(Error::input(format!(
                    "concat_param: give `axis` or the deprecated `concat_dim` ({d}), not both"
                )))
            }
            Some(d) => canonical_axis(d as i32, first.len(), "concat_param.concat_dim")?,
            None => canonical_axis(p.axis(), first.len(), "concat_param.axis")?,
        };
        let mut top = first.clone();
        for b in &bottoms[1..] {
            let same = b.len() == first.len()
                && b.iter().zip(first).enumerate().all(|(i, (x, y))| i == axis || x == y);
            if !same {
                return Err(Error::input(format!(
                    "Concat bottoms must match on every axis but {axis}: {} vs {}",
                    fmt_shape(first),
                    fmt_shape(b)
                )));
            }
            top[axis] += b[axis];
        }
        Ok(Setup { layer: Layer::Concat(Concat { axis }), tops: vec![top], params: vec![] })
    }
}

impl Concat {
    /// Copies each bottom's block into its place along the axis.
    pub fn forward(&self, bottoms: &[&Tensor], tops: &mut [Tensor]) {
        let top_shape = tops[0].shape().to_vec();
        let outer: usize = top_shape[..self.axis].iter().product();
        let inner: usize = top_shape[self.axis + 1..].iter().product();
        let top_row = top_shape[self.axis] * inner;
        let y = tops[0].data_mut();
        let mut offset = 0;
        for b in bottoms {
            let row = b.shape()[self.axis] * inner;
            for o in 0..outer {
                y[o * top_row + offset..o * top_row + offset + row]
                    .copy_from_slice(&b.data()[o * row..(o + 1) * row]);
            }
            offset += row;
        }
    }
}

impl Concat {
    /// Each bottom gets its block of the top diff.
    pub fn backward(&self, top_diffs: &[&Tensor], bottom_diffs: &mut [Tensor]) {
        let top_shape = top_diffs[0].shape().to_vec();
        let outer: usize = top_shape[..self.axis].iter().product();
        let inner: usize = top_shape[self.axis + 1..].iter().product();
        let top_row = top_shape[self.axis] * inner;
        let dy = top_diffs[0].data();
        let mut offset = 0;
        for b in bottom_diffs {
            let row = b.shape()[self.axis] * inner;
            for o in 0..outer {
                b.data_mut()[o * row..(o + 1) * row]
                    .copy_from_slice(&dy[o * top_row + offset..o * top_row + offset + row]);
            }
            offset += row;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prototxt::parse;

    #[test]
    fn inception_output_and_mismatch() {
        let lp: LayerParameter =
            parse(r#"bottom: "a" bottom: "b" bottom: "c" top: "d""#, "t", "caffe.LayerParameter")
                .unwrap()
                .0;
        let s =
            Concat::setup(&lp, &[vec![1, 64, 28, 28], vec![1, 128, 28, 28], vec![1, 32, 28, 28]])
                .unwrap();
        assert_eq!(s.tops, vec![vec![1, 224, 28, 28]]);
        let e =
            Concat::setup(&lp, &[vec![1, 64, 28, 28], vec![1, 128, 14, 14], vec![1, 1, 28, 28]]);
        assert!(e.unwrap_err().to_string().contains("must match"));
    }
}
