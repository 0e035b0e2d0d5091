//! Flatten layer: merges axes [axis, end_axis] into one (default: everything after N).

use super::{canonical_axis, check_arity, count, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::proto::caffe::LayerParameter;
use crate::tensor::Tensor;

/// Axis merge (data unchanged).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flatten;

impl Flatten {
    /// Parses `flatten_param`; not allowed in place.
    pub fn setup(lp: &LayerParameter, bottoms: &[Shape]) -> Result<Setup> {
        check_arity(lp, (1, 1), (1, 1))?;
        if lp.bottom[0] == lp.top[0] {
            return Err(Error::input("Flatten cannot run in place"));
        }
        let p = lp.flatten_param.unwrap_or_default();
        let b = &bottoms[0];
        let start = canonical_axis(p.axis(), b.len(), "flatten_param.axis")?;
        let end = canonical_axis(p.end_axis(), b.len(), "flatten_param.end_axis")?;
        if end < start {
            return Err(Error::input(format!(
                "flatten_param.end_axis {end} is before axis {start}"
            )));
        }
        let mut top = b[..start].to_vec();
        top.push(count(&b[start..=end]));
        top.extend_from_slice(&b[end + 1..]);
        Ok(Setup { layer: Layer::Flatten(Flatten), tops: vec![top], params: vec![] })
    }
}

impl Flatten {
    /// The data is unchanged; only the shape differs.
    pub fn forward(&self, bottoms: &[&Tensor], tops: &mut [Tensor]) {
        tops[0].data_mut().copy_from_slice(bottoms[0].data());
    }
}

impl Flatten {
    /// The diff is unchanged; only the shape differs.
    pub fn backward(&self, top_diffs: &[&Tensor], bottom_diffs: &mut [Tensor]) {
        bottom_diffs[0].data_mut().copy_from_slice(top_diffs[0].data());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prototxt::parse;

    #[test]
    fn default_and_ranges() {
        let lp: LayerParameter =
            parse(r#"bottom: "a" top: "b""#, "t", "caffe.LayerParameter").unwrap().0;
        assert_eq!(Flatten::setup(&lp, &[vec![2, 3, 4, 5]]).unwrap().tops, vec![vec![2, 60]]);
        let lp: LayerParameter = parse(
            r#"bottom: "a" top: "b" flatten_param { axis: 1 end_axis: 2 }"#,
            "t",
            "caffe.LayerParameter",
        )
        .unwrap()
        .0;
        assert_eq!(Flatten::setup(&lp, &[vec![2, 3, 4, 5]]).unwrap().tops, vec![vec![2, 12, 5]]);
        let inplace: LayerParameter =
            parse(r#"bottom: "a" top: "a""#, "t", "caffe.LayerParameter").unwrap().0;
        assert!(Flatten::setup(&inplace, &[vec![2, 3]]).is_err());
    }
}
