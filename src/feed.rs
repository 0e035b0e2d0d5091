//! Feeding a net: picks the image source (`-d` glob, the prototxt's ImageData list, or the
//! built-in synthetic images), and writes batch i into the net's data input with Caffe's
//! preprocessing (BGR, resize, mean subtraction, scale).

use crate::data::source::ImageSource;
use crate::error::{Error, Result};
use crate::layers::input::DataSource;
use crate::layers::Layer;
use crate::net::forward::Workspace;
use crate::net::Net;
use std::path::Path;

/// Where images come from and how they are normalised.
pub struct Feeder {
    /// The images.
    pub source: ImageSource,
    /// Per-channel mean (BGR order), subtracted before scaling.
    pub mean: Vec<f32>,
    /// Multiplier after mean subtraction.
    pub scale: f32,
    /// Human-readable description of the source, for progress output.
    pub description: String,
    /// Warnings to show the user (e.g. "using synthetic images").
    pub warnings: Vec<String>,
}

/// Caffe's usual ImageNet mean in BGR order, the original script's default.
pub const IMAGENET_MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];

impl Feeder {
    /// Chooses the source: `glob` if given, else the first ImageData layer's list file (looked
    /// up next to the prototxt, entries included, when not found from the working folder), else
    /// synthetic images from
    /// `seed`. `mean`: explicit per-channel values, else 104/117/123 for 3-channel inputs and 0
    /// for 1-channel ones.
    pub fn new(
        net: &Net,
        prototxt: Option<&Path>,
        glob: Option<&str>,
        mean: Option<&[f32]>,
        scale: f32,
        seed: u64,
    ) -> Result<Feeder> {
        let (_, channels, _, _) = data_geometry(net)?;
        let mut warnings = Vec::new();
        let (source, description) = if let Some(g) = glob {
            let s = ImageSource::from_glob(g)?;
            let n = s.len().unwrap_or(0);
            (s, format!("{n} images matching {g}"))
        } else if let Some((list, root)) = image_list(net) {
            let mut path = Path::new(&list).to_path_buf();
            let mut root = root;
            if !path.exists() {
                if let Some(dir) =
                    prototxt.and_then(Path::parent).filter(|d| !d.as_os_str().is_empty())
                {
                    // Found next to the prototxt rather than in the working folder: its
                    // relative entries are taken from there too (Caffe: root_folder + path).
                    path = dir.join(&list);
                    if root.is_empty() {
                        root = format!("{}/", dir.display());
                    }
                }
            }
            let s = ImageSource::from_list_file(&path, &root).map_err(|e| {
                e.context("reading the ImageData layer's source list (give images with -d)")
            })?;
            let n = s.len().unwrap_or(0);
            (s, format!("{n} images listed in {}", path.display()))
        } else {
            warnings.push(
                "no images given (-d): using built-in synthetic dead-leaves images; \
                 real images of your domain give a better initialization"
                    .to_string(),
            );
            (ImageSource::synthetic(seed), format!("synthetic dead-leaves images (seed {seed})"))
        };
        let mean = match mean {
            Some(m) if m.len() == 1 || m.len() == channels => m.to_vec(),
            Some(m) => {
                return Err(Error::input(format!(
                    "--mean has {} values; the net's input has {channels} channels (give 1 or {channels})",
                    m.len()
                )))
            }
            None if channels == 3 => IMAGENET_MEAN_BGR.to_vec(),
            None => vec![0.0],
        };
        Ok(Feeder { source, mean, scale, description, warnings })
    }

    /// Writes batch `batch_index` into the net's data blob.
    pub fn fill(&self, net: &Net, ws: &mut Workspace, batch_index: usize) -> Result<()> {
        let (blob, c, h, w) = data_geometry(net)?;
        let n = net.blobs[blob].shape[0];
        self.source.fill_batch(
            batch_index,
            n,
            c,
            h,
            w,
            &self.mean,
            self.scale,
            ws.blobs[blob].data_mut(),
        )
    }
}

/// The data blob (first top of the first input layer) and its (C, H, W).
pub fn data_geometry(net: &Net) -> Result<(usize, usize, usize, usize)> {
    let node = net
        .nodes
        .iter()
        .find(|n| matches!(n.layer, Layer::Input(_)))
        .ok_or_else(|| Error::input("the net has no input or data layer"))?;
    let blob = *node.tops.first().ok_or_else(|| Error::input("the input layer has no top"))?;
    match net.blobs[blob].shape.as_slice() {
        &[_, c, h, w] if c == 1 || c == 3 => Ok((blob, c, h, w)),
        s => Err(Error::input(format!(
            "input \"{}\" has shape {}; images need N×C×H×W with 1 or 3 channels",
            net.blobs[blob].name,
            crate::layers::fmt_shape(s)
        ))),
    }
}

/// The list file and root folder of the first ImageData layer, if any.
fn image_list(net: &Net) -> Option<(String, String)> {
    net.nodes.iter().find_map(|n| match &n.layer {
        Layer::Input(i) => match &i.source {
            DataSource::ImageList { source, root_folder } if !source.is_empty() => {
                Some((source.clone(), root_folder.clone()))
            }
            _ => None,
        },
        _ => None,
    })
}
