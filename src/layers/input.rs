//! Input layer: the tops a net is fed from outside. Built from `Input` layers and from Caffe's
//! data layers (Data, ImageData, MemoryData, DummyData, HDF5Data, WindowData), whose top shapes
//! are inferred from their parameters or given on the command line.

use super::{fmt_shape, Layer, Setup, Shape};
use crate::error::{Error, Result};
use crate::proto::caffe::LayerParameter;

/// Where a data layer's images would come from in Caffe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// An `Input` layer (or legacy `input` fields): the caller fills it.
    Input,
    /// An `ImageData` layer: a list file of `path label` lines.
    ImageList {
        /// `image_data_param.source`.
        source: String,
        /// `image_data_param.root_folder`, prefixed to every path.
        root_folder: String,
    },
    /// Any other data layer type (its database cannot be read by magic-init).
    Other(String),
}

/// Caffe's `transform_param` as far as preprocessing goes.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Transform {
    /// Multiplier applied after mean subtraction.
    pub scale: f32,
    /// Per-channel (BGR) mean values; one value means all channels.
    pub mean_value: Vec<f32>,
    /// Square crop size (0 = none).
    pub crop_size: usize,
    /// Random horizontal mirroring.
    pub mirror: bool,
}

/// The input layer: shapes of its tops and what Caffe would feed them.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    /// Source description.
    pub source: DataSource,
    /// Preprocessing of the source layer.
    pub transform: Transform,
}

/// Command-line overrides of the input geometry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputOverride {
    /// Per-item shape (usually C, H, W) of the first top of the first data layer.
    pub item_shape: Option<Vec<usize>>,
    /// Batch size for every data top.
    pub batch: Option<usize>,
}

impl Input {
    /// Builds the input layer that replaces data layer `lp`. `first` says whether the item-shape
    /// override applies (only to the net's first data layer).
    pub fn from_data_layer(lp: &LayerParameter, ov: &InputOverride, first: bool) -> Result<Setup> {
        let t = lp.r#type();
        let tp = lp.transform_param.clone().unwrap_or_default();
        let transform = Transform {
            scale: tp.scale(),
            mean_value: tp.mean_value.clone(),
            crop_size: tp.crop_size() as usize,
            mirror: tp.mirror(),
        };
        let crop = transform.crop_size;
        let ntop = lp.top.len();
        if ntop == 0 {
            return Err(Error::input("a data layer needs at least one top"));
        }
        let hint = "give the input shape with --input-shape C,H,W";
        let mut source = DataSource::Other(t.to_string());
        // The layer's own batch size, for tops whose other dims come from the command line.
        let mut layer_batch = 1usize;
        // Shapes Caffe would give the tops; `None` where the data itself decides.
        let mut tops: Vec<Option<Shape>> = match t {
            "Input" => {
                source = DataSource::Input;
                let shapes = lp.input_param.as_ref().map(|p| p.shape.clone()).unwrap_or_default();
                let dims = |i: usize| -> Result<Option<Shape>> {
                    let dim = &shapes[i].dim;
                    if dim.iter().any(|&d| d < 0) {
                        return Err(Error::input(format!(
                            "input_param.shape {dim:?} has a negative dim"
                        )));
                    }
                    Ok(Some(dim.iter().map(|&d| d as usize).collect()))
                };
                match shapes.len() {
                    0 => vec![None; ntop],
                    1 => (0..ntop).map(|_| dims(0)).collect::<Result<_>>()?,
                    n if n == ntop => (0..ntop).map(dims).collect::<Result<_>>()?,
                    n => {
                        return Err(Error::input(format!(
                            "input_param has {n} shapes for {ntop} tops (give one, or one per top)"
                        )))
                    }
                }
            }
            "ImageData" => {
                let p = lp.image_data_param.clone().unwrap_or_default();
                layer_batch = p.batch_size() as usize;
                source = DataSource::ImageList {
                    source: p.source().to_string(),
                    root_folder: p.root_folder().to_string(),
                };
                let c = if p.is_color() { 3 } else { 1 };
                let (nh, nw) = (p.new_height() as usize, p.new_width() as usize);
                if (nh == 0) != (nw == 0) {
                    return Err(Error::input(
                        "image_data_param: new_height and new_width go together",
                    ));
                }
                let data = if crop > 0 {
                    Some(vec![p.batch_size() as usize, c, crop, crop])
                } else if nh > 0 {
                    Some(vec![p.batch_size() as usize, c, nh, nw])
                } else {
                    None
                };
                with_label(data, p.batch_size() as usize, ntop)
            }
            "Data" => {
                let p = lp.data_param.clone().unwrap_or_default();
                layer_batch = p.batch_size() as usize;
                // The database holds the images; with a crop the size is known and, like the
                // original script, we assume colour images.
                let data = (crop > 0).then(|| vec![p.batch_size() as usize, 3, crop, crop]);
                with_label(data, p.batch_size() as usize, ntop)
            }
            "WindowData" => {
                let p = lp.window_data_param.clone().unwrap_or_default();
                layer_batch = p.batch_size() as usize;
                let c = if crop > 0 { crop } else { p.crop_size() as usize };
                let data = (c > 0).then(|| vec![p.batch_size() as usize, 3, c, c]);
                with_label(data, p.batch_size() as usize, ntop)
            }
            "MemoryData" => {
                let p = lp.memory_data_param.unwrap_or_default();
                layer_batch = p.batch_size() as usize;
                let (n, c, h, w) = (p.batch_size(), p.channels(), p.height(), p.width());
                let (h, w) = if crop > 0 { (crop as u32, crop as u32) } else { (h, w) };
                let data = [n, c, h, w]
                    .iter()
                    .all(|&d| d > 0)
                    .then(|| [n, c, h, w].iter().map(|&d| d as usize).collect::<Shape>());
                with_label(data, n as usize, ntop)
            }
            "DummyData" => {
                let p = lp.dummy_data_param.clone().unwrap_or_default();
                if !p.shape.is_empty() {
                    if p.shape.len() != 1 && p.shape.len() != ntop {
                        return Err(Error::input(
                            "dummy_data_param needs one shape, or one per top",
                        ));
                    }
                    (0..ntop)
                        .map(|i| {
                            let s = &p.shape[if p.shape.len() == 1 { 0 } else { i }];
                            Some(s.dim.iter().map(|&d| d.max(0) as usize).collect())
                        })
                        .collect()
                } else {
                    let pick = |v: &[u32], i: usize| -> Option<usize> {
                        match v.len() {
                            0 => None,
                            1 => Some(v[0] as usize),
                            _ => v.get(i).map(|&x| x as usize),
                        }
                    };
                    (0..ntop)
                        .map(|i| {
                            Some(vec![
                                pick(&p.num, i)?,
                                pick(&p.channels, i)?,
                                pick(&p.height, i)?,
                                pick(&p.width, i)?,
                            ])
                        })
                        .collect()
                }
            }
            "HDF5Data" => {
                let p = lp.hdf5_data_param.clone().unwrap_or_default();
                layer_batch = p.batch_size() as usize;
                vec![None; ntop]
            }
            other => return Err(Error::input(format!("\"{other}\" is not a data layer type"))),
        };
        if first {
            if let Some(item) = &ov.item_shape {
                let n = tops[0].as_ref().and_then(|s| s.first().copied()).unwrap_or(layer_batch);
                let mut s = vec![n];
                s.extend_from_slice(item);
                tops[0] = Some(s);
            }
        }
        let mut shapes = Vec::with_capacity(ntop);
        for (i, top) in tops.into_iter().enumerate() {
            let Some(mut s) = top else {
                return Err(Error::input(format!(
                    "cannot tell the shape of top \"{}\" of this {t} layer from the prototxt; {hint}",
                    lp.top[i]
                )));
            };
            if let (Some(b), Some(d)) = (ov.batch, s.first_mut()) {
                *d = b;
            }
            if s.first() == Some(&0) {
                return Err(Error::input(format!(
                    "top \"{}\" has batch size 0 ({})",
                    lp.top[i],
                    fmt_shape(&s)
                )));
            }
            shapes.push(s);
        }
        Ok(Setup { layer: Layer::Input(Input { source, transform }), tops: shapes, params: vec![] })
    }
}

/// Data shape for top 0 and a label of shape (batch) for top 1, if the layer has one.
fn with_label(data: Option<Shape>, batch: usize, ntop: usize) -> Vec<Option<Shape>> {
    let mut v = vec![data];
    if ntop > 1 {
        v.push(Some(vec![batch]));
    }
    v.resize(ntop, None);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prototxt::parse;

    fn lp(text: &str) -> LayerParameter {
        parse(text, "t", "caffe.LayerParameter").unwrap().0
    }

    #[test]
    fn input_layer_shapes_and_override() {
        let l = lp(
            r#"type: "Input" top: "data" input_param { shape { dim: 10 dim: 3 dim: 227 dim: 227 } }"#,
        );
        let s = Input::from_data_layer(&l, &InputOverride::default(), true).unwrap();
        assert_eq!(s.tops, vec![vec![10, 3, 227, 227]]);
        let ov = InputOverride { item_shape: Some(vec![3, 224, 224]), batch: Some(16) };
        assert_eq!(
            Input::from_data_layer(&l, &ov, true).unwrap().tops,
            vec![vec![16, 3, 224, 224]]
        );
    }

    #[test]
    fn data_layers() {
        let l = lp(r#"type: "Data" top: "data" top: "label" transform_param { crop_size: 227 }
            data_param { batch_size: 256 }"#);
        let s = Input::from_data_layer(&l, &InputOverride::default(), true).unwrap();
        assert_eq!(s.tops, vec![vec![256, 3, 227, 227], vec![256]]);
        let l = lp(r#"type: "Data" top: "data" top: "label" data_param { batch_size: 64 }"#);
        let e = Input::from_data_layer(&l, &InputOverride::default(), true).unwrap_err();
        assert!(e.to_string().contains("--input-shape"), "{e}");
        let ov = InputOverride { item_shape: Some(vec![1, 28, 28]), batch: None };
        assert_eq!(
            Input::from_data_layer(&l, &ov, true).unwrap().tops,
            vec![vec![64, 1, 28, 28], vec![64]]
        );
        let l =
            lp(r#"type: "ImageData" top: "data" top: "label" image_data_param { source: "list.txt"
            batch_size: 8 new_height: 256 new_width: 256 is_color: false }"#);
        let s = Input::from_data_layer(&l, &InputOverride::default(), true).unwrap();
        assert_eq!(s.tops, vec![vec![8, 1, 256, 256], vec![8]]);
        let Layer::Input(i) = s.layer else { panic!() };
        assert_eq!(
            i.source,
            DataSource::ImageList { source: "list.txt".into(), root_folder: String::new() }
        );
        let l =
            lp(r#"type: "DummyData" top: "a" top: "b" dummy_data_param { num: 2 channels: [3, 1]
            height: 5 width: 5 }"#);
        let s = Input::from_data_layer(&l, &InputOverride::default(), true).unwrap();
        assert_eq!(s.tops, vec![vec![2, 3, 5, 5], vec![2, 1, 5, 5]]);
    }
}
