//! Slice layer: cuts one bottom along `axis` (or `slice_dim`) at `slice_point`s, or into equal
//! parts, one per top.

use super::{canonical_axis, check_arity, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// Slicing along a canonical axis into the given extents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slice {
    /// Canonical axis.
    pub axis: usize,
    /// Extent of each top along the axis.
    pub sizes: Vec<usize>,
}

impl Slice {
    /// Parses `slice_param` and infers one top per slice.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        check_arity(lp, (1, 1), (1, usize::MAX))?;
        let p = lp.slice_param.clone().unwrap_or_default();
        let b = &bottoms[0];
        let axis = match p.slice_dim {
            Some(_) if p.axis.is_some() => {
                return Err(Error::input("slice_param: give `axis` or `slice_dim`, not both"))
            }
            Some(d) => canonical_axis(d as i32, b.len(), "slice_param.slice_dim")?,
            None => canonical_axis(p.axis(), b.len(), "slice_param.axis")?,
        };
        let dim = b[axis];
        let ntop = lp.top.len();
        let sizes = if p.slice_point.is_empty() {
            if dim % ntop != 0 {
                return Err(Error::input(format!(
                    "axis {axis} of extent {dim} does not split evenly into {ntop} tops"
                )));
            }
            vec![dim / ntop; ntop]
        } else {
            if p.slice_point.len() != ntop - 1 {
                return Err(Error::input(format!(
                    "slice_param has {} slice_point values for {ntop} tops (need {})",
                    p.slice_point.len(),
                    ntop - 1
                )));
            }
            let mut sizes = Vec::with_capacity(ntop);
            let mut prev = 0usize;
            for &sp in &p.slice_point {
                let sp = sp as usize;
                if sp <= prev || sp >= dim {
                    return Err(Error::input(format!(
                        "slice_point {sp} must increase strictly and lie inside (0, {dim})"
                    )));
                }
                sizes.push(sp - prev);
                prev = sp;
            }
            sizes.push(dim - prev);
            sizes
        };
        let tops = sizes
            .iter()
            .map(|&s| {
                let mut t = b.clone();
                t[axis] = s;
                t
            })
            .collect();
        Ok(Setup { layer: Layer::Slice(Slice { axis, sizes }), tops, params: vec![] })
    }
}

impl Slice {
    /// Copies each top's block out of the bottom.
    pub fn forward(&self, bottoms: &[&Tensor], tops: &mut [Tensor]) {
        let shape = bottoms[0].shape();
        let outer: usize = shape[..self.axis].iter().product();
        let inner: usize = shape[self.axis + 1..].iter().product();
        let bottom_row = shape[self.axis] * inner;
        let x = bottoms[0].data();
        let mut offset = 0;
        for (t, &size) in tops.iter_mut().zip(&self.sizes) {
            let row = size * inner;
            for o in 0..outer {
                t.data_mut()[o * row..(o + 1) * row]
                    .copy_from_slice(&x[o * bottom_row + offset..o * bottom_row + offset + row]);
            }
            offset += row;
        }
    }
}

impl Slice {
    /// The bottom diff is the tops' diffs put back in place.
    pub fn backward(&self, top_diffs: &[&Tensor], bottom_diffs: &mut [Tensor]) {
        let shape = bottom_diffs[0].shape().to_vec();
        let outer: usize = shape[..self.axis].iter().product();
        let inner: usize = shape[self.axis + 1..].iter().product();
        let bottom_row = shape[self.axis] * inner;
        let dx = bottom_diffs[0].data_mut();
        let mut offset = 0;
        for (t, &size) in top_diffs.iter().zip(&self.sizes) {
            let row = size * inner;
            for o in 0..outer {
                dx[o * bottom_row + offset..o * bottom_row + offset + row]
                    .copy_from_slice(&t.data()[o * row..(o + 1) * row]);
            }
            offset += row;
        }
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
    fn points_and_even_split() {
        let l = lp(r#"bottom: "a" top: "b" top: "c" top: "d" slice_param { slice_point: [1, 4] }"#);
        let s = Slice::setup(&l, &[vec![2, 6, 3]]).unwrap();
        assert_eq!(s.tops, vec![vec![2, 1, 3], vec![2, 3, 3], vec![2, 2, 3]]);
        let l = lp(r#"bottom: "a" top: "b" top: "c" slice_param { axis: -1 }"#);
        assert_eq!(Slice::setup(&l, &[vec![2, 6]]).unwrap().tops, vec![vec![2, 3]; 2]);
        assert!(Slice::setup(&l, &[vec![2, 5]]).is_err());
        let l = lp(r#"bottom: "a" top: "b" top: "c" slice_param { slice_point: 7 }"#);
        assert!(Slice::setup(&l, &[vec![2, 6]]).is_err());
    }
}
