//! Reshape layer: replaces axes [axis, axis+num_axes) by `shape` (0 = copy the bottom's extent,
//! −1 = infer from the count); data unchanged.

use super::{check_arity, count, fmt_shape, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// Shape change (data unchanged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reshape;

impl Reshape {
    /// Parses `reshape_param` and computes the new shape; not allowed in place.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        check_arity(lp, (1, 1), (1, 1))?;
        if lp.bottom[0] == lp.top[0] {
            return Err(Error::input("Reshape cannot run in place"));
        }
        let p = lp.reshape_param.clone().unwrap_or_default();
        let b = &bottoms[0];
        let dims = p.shape.as_ref().map(|s| s.dim.clone()).unwrap_or_default();
        let n = b.len() as i64;
        let axis = i64::from(p.axis());
        let start = if axis < 0 { axis + n + 1 } else { axis };
        if !(0..=n).contains(&start) {
            return Err(Error::input(format!(
                "reshape_param.axis {axis} out of range for {n} axes"
            )));
        }
        let start = start as usize;
        let num_axes = i64::from(p.num_axes());
        if num_axes < -1 {
            return Err(Error::input("reshape_param.num_axes must be ≥ −1"));
        }
        let end = if num_axes == -1 { b.len() } else { start + num_axes as usize };
        if end > b.len() {
            return Err(Error::input(format!(
                "reshape_param: axis {start} + num_axes {num_axes} exceeds {n} axes"
            )));
        }
        let mut middle = Vec::with_capacity(dims.len());
        let mut infer = None;
        for (i, &d) in dims.iter().enumerate() {
            match d {
                0 => {
                    let src = start + i;
                    let Some(&v) = b.get(src).filter(|_| src < end) else {
                        return Err(Error::input(format!(
                            "reshape dim {i} is 0 but the bottom has no axis {src} to copy"
                        )));
                    };
                    middle.push(v);
                }
                -1 if infer.is_none() => {
                    infer = Some(i);
                    middle.push(1);
                }
                -1 => return Err(Error::input("reshape_param.shape may contain -1 only once")),
                d if d > 0 => middle.push(d as usize),
                d => return Err(Error::input(format!("reshape dim {d} is invalid"))),
            }
        }
        let mut top = b[..start].to_vec();
        top.extend_from_slice(&middle);
        top.extend_from_slice(&b[end..]);
        if let Some(i) = infer {
            let known = count(&top);
            if known == 0 || count(b) % known != 0 {
                return Err(Error::input(format!(
                    "cannot infer the -1 dim: {} elements do not divide into {}",
                    count(b),
                    fmt_shape(&top)
                )));
            }
            top[start + i] = count(b) / known;
        }
        if count(&top) != count(b) {
            return Err(Error::input(format!(
                "reshape to {} changes the count ({} vs {})",
                fmt_shape(&top),
                count(&top),
                count(b)
            )));
        }
        Ok(Setup { layer: Layer::Reshape(Reshape), tops: vec![top], params: vec![] })
    }
}

impl Reshape {
    /// The data is unchanged; only the shape differs.
    pub fn forward(&self, bottoms: &[&Tensor], tops: &mut [Tensor]) {
        tops[0].data_mut().copy_from_slice(bottoms[0].data());
    }
}

impl Reshape {
    /// The diff is unchanged; only the shape differs.
    pub fn backward(&self, top_diffs: &[&Tensor], bottom_diffs: &mut [Tensor]) {
        bottom_diffs[0].data_mut().copy_from_slice(top_diffs[0].data());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prototxt::parse;

    fn run(param: &str, b: Shape) -> Result<Shape> {
        let lp: LayerParameter = parse(
            &format!("bottom: \"a\" top: \"b\" reshape_param {{ {param} }}"),
            "t",
            "caffe.LayerParameter",
        )
        .unwrap()
        .0;
        Reshape::setup(&lp, &[b]).map(|s| s.tops[0].clone())
    }

    #[test]
    fn caffe_examples() {
        assert_eq!(run("shape { dim: 0 dim: -1 }", vec![2, 3, 4]).unwrap(), vec![2, 12]);
        assert_eq!(
            run("shape { dim: 0 dim: 2 dim: 3 dim: -1 }", vec![2, 24]).unwrap(),
            vec![2, 2, 3, 4]
        );
        assert_eq!(
            run("shape { dim: 2 dim: 2 } axis: 1 num_axes: 1", vec![3, 4, 5]).unwrap(),
            vec![3, 2, 2, 5]
        );
        assert_eq!(
            run("shape { dim: 1 } axis: -1 num_axes: 0", vec![3, 4]).unwrap(),
            vec![3, 4, 1]
        );
        assert!(run("shape { dim: 5 }", vec![2, 3])
            .unwrap_err()
            .to_string()
            .contains("changes the count"));
        assert!(run("shape { dim: -1 dim: -1 }", vec![2, 3]).is_err());
    }
}
