//! Where batches of input images come from: image files (a glob pattern, a Caffe `ImageData`
//! list file or an explicit list) read cyclically, or a built-in deterministic synthetic
//! generator of natural-looking images (a dead-leaves model), all preprocessed into planar f32.
//!
//! Batch `b` of size `bs` holds images `b * bs + j` (`j < bs`); with `n` files these are taken
//! modulo `n`, so fewer files than needed simply cycle. Synthetic image `i` depends only on the
//! seed and `i` (and the requested size), never on the batch size.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::data::image::{load_image, write_chw, Image8};
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Default memory budget of the decoded-image cache of a file source (1 GiB).
pub const DEFAULT_CACHE_BYTES: usize = 1 << 30;

/// One image file and its label (0 when the source has no labels).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Path of the image file.
    pub path: PathBuf,
    /// Integer class label (Caffe `atoi` of the list file's last field).
    pub label: i32,
}

/// Images read from files, with a bounded cache of decoded and resized 8-bit images.
///
/// Cache policy: the first time a file is needed at a given (channels, height, width) its
/// resized 8-bit image is kept, as long as the cache stays within `cache_limit` bytes (each entry
/// costs `channels * height * width` bytes). Once the budget is reached nothing is evicted and
/// further images are decoded each time they are used. Memory is therefore bounded by
/// `min(cache_limit, n_files * C * H * W)` bytes, e.g. 1000 files at 3x227x227 take 155 MB.
#[derive(Debug)]
pub struct FileSource {
    entries: Vec<FileEntry>,
    cache_limit: usize,
    cache: RefCell<ImageCache>,
}

/// Resized images keyed by (entry index, channels, height, width).
#[derive(Debug, Default)]
struct ImageCache {
    images: HashMap<(usize, usize, usize, usize), Vec<u8>>,
    bytes: usize,
}

/// Built-in generator of synthetic natural-statistics images (dead-leaves model).
///
/// Image `i` is drawn with `Rng::new(seed).fork(i)`: occluding discs and axis-aligned
/// rectangles whose size `r` (disc radius / rectangle half-diagonal scale) has density
/// proportional to `r^-3` between `rmin = max(1, s/64)` and `rmax = max(rmin, s/2)` pixels
/// (`s` = the smaller image side), which gives the scale invariance and 1/f^2 power spectrum of
/// natural images. Shapes are laid front to back until every pixel is covered (at most
/// `MAX_SHAPES`; anything left shows a background colour). Each image draws a brightness `m`
/// uniform in [70, 180]; each shape a luminance N(m, 45^2) and, for colour images, per-channel
/// offsets N(0, 20^2) (values are clamped to [0, 255] at the end). Finally
/// approximately Gaussian pixel noise of standard deviation `noise_std` (a sum of four uniforms,
/// cheap and exactly reproducible) is added and values are rounded to 8 bits. Rendering a
/// 227x227 colour image takes about 1 ms.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticSource {
    /// Seed of the whole image sequence.
    pub seed: u64,
    /// Standard deviation of the additive pixel noise, in grey levels.
    pub noise_std: f64,
}

/// Upper bound on the number of shapes per synthetic image.
pub const MAX_SHAPES: usize = 20_000;

/// A source of input images. See the module documentation for the batch rule.
#[derive(Debug)]
pub enum ImageSource {
    /// Image files, used cyclically.
    Files(FileSource),
    /// The infinite synthetic dead-leaves sequence.
    Synthetic(SyntheticSource),
}

/// C `atoi`: optional leading whitespace and sign, then decimal digits up to the first
/// non-digit; 0 if there are none (saturating instead of overflowing).
fn atoi(s: &str) -> i32 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = (v * 10 + i64::from(b - b'0')).min(i64::from(i32::MAX) + 1);
    }
    let v = if neg { -v } else { v };
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Parses the text of a Caffe `ImageData` list file: per non-empty line, the path is everything
/// before the LAST space and the label is `atoi` of the rest (a line without a space is all path,
/// label `atoi(line)` as in Caffe). `root_folder` is prefixed by plain string concatenation.
/// A trailing `\r` is removed; blank lines are skipped.
pub fn parse_list(text: &str, root_folder: &str) -> Vec<FileEntry> {
    text.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (path, label) = match line.rfind(' ') {
                Some(pos) => (&line[..pos], atoi(&line[pos + 1..])),
                None => (line, atoi(line)),
            };
            FileEntry { path: PathBuf::from(format!("{root_folder}{path}")), label }
        })
        .collect()
}

impl FileSource {
    /// A source over the given entries (must not be empty).
    pub fn new(entries: Vec<FileEntry>) -> Result<FileSource> {
        if entries.is_empty() {
            return Err(Error::input("no image files given"));
        }
        Ok(FileSource {
            entries,
            cache_limit: DEFAULT_CACHE_BYTES,
            cache: RefCell::new(ImageCache::default()),
        })
    }

    /// The files, in the order they are used.
    pub fn entries(&self) -> &[FileEntry] {
        &self.entries
    }

    /// Sets the cache budget in bytes (0 disables caching); drops what is cached.
    pub fn set_cache_limit(&mut self, bytes: usize) {
        self.cache_limit = bytes;
        *self.cache.get_mut() = ImageCache::default();
    }

    /// Bytes currently held by the cache.
    pub fn cached_bytes(&self) -> usize {
        self.cache.borrow().bytes
    }

    /// Writes entry `i`, preprocessed, into `out` (`channels * height * width` floats).
    fn fill_one(
        &self,
        i: usize,
        dims: (usize, usize, usize),
        mean: &[f32],
        scale: f32,
        out: &mut [f32],
    ) -> Result<()> {
        let (channels, height, width) = dims;
        let key = (i, channels, height, width);
        if let Some(data) = self.cache.borrow().images.get(&key) {
            let img = Image8 { width, height, channels, data: data.clone() };
            write_chw(&img, mean, scale, out);
            return Ok(());
        }
        let img = load_image(&self.entries[i].path, channels == 3)?.resized(height, width);
        write_chw(&img, mean, scale, out);
        let mut cache = self.cache.borrow_mut();
        if cache.bytes + img.data.len() <= self.cache_limit {
            cache.bytes += img.data.len();
            cache.images.insert(key, img.data);
        }
        Ok(())
    }
}

/// Cheap, exactly reproducible approximately standard-normal noise: the sum of four 16-bit
/// uniforms taken from one 64-bit draw, centred and scaled to unit variance (Irwin-Hall, n = 4).
fn noise(rng: &mut Rng) -> f64 {
    let bits = rng.next_u64();
    let sum: u64 = (0..4).map(|k| (bits >> (16 * k)) & 0xFFFF).sum();
    // Each 16-bit uniform (u + 0.5) / 65536 has mean 1/2 and variance ~1/12.
    let u = (sum as f64 + 2.0) / 65536.0;
    (u - 2.0) * 3.0f64.sqrt()
}

impl SyntheticSource {
    /// The generator for `seed` with the default noise (2 grey levels).
    pub fn new(seed: u64) -> SyntheticSource {
        SyntheticSource { seed, noise_std: 2.0 }
    }

    /// Renders synthetic image `index` as an 8-bit image (`channels` 1 = grey, 3 = B, G, R).
    pub fn render(&self, index: u64, channels: usize, height: usize, width: usize) -> Image8 {
        let mut rng = Rng::new(self.seed).fork(index);
        let (h, w) = (height as f64, width as f64);
        let side = h.min(w);
        let rmin = (side / 64.0).max(1.0);
        let rmax = (side / 2.0).max(rmin);
        let (a, b) = (1.0 / (rmin * rmin), 1.0 / (rmin * rmin) - 1.0 / (rmax * rmax));

        // Colour of the frontmost shape covering each pixel (front-to-back drawing).
        let n = height * width;
        let mut color = vec![[0.0f64; 3]; n];
        let mut covered = vec![false; n];
        let mut remaining = n;
        // Uncovered pixels per row, to skip finished rows quickly once most of the image is done.
        let mut row_left = vec![width; height];
        // Image-level brightness, then per-shape luminance and colour around it.
        let image_mean = 70.0 + 110.0 * rng.uniform_f64();
        let shape_color = |rng: &mut Rng| -> [f64; 3] {
            let lum = image_mean + 45.0 * rng.gaussian_f64();
            if channels == 1 {
                [lum; 3]
            } else {
                let mut c = [0.0; 3];
                for v in c.iter_mut() {
                    *v = lum + 20.0 * rng.gaussian_f64();
                }
                c
            }
        };
        let mut shapes = 0;
        while remaining > 0 && shapes < MAX_SHAPES {
            shapes += 1;
            // Inverse CDF of p(r) ~ r^-3 on [rmin, rmax].
            let r = 1.0 / (a - rng.uniform_f64() * b).sqrt();
            let cx = -r + rng.uniform_f64() * (w + 2.0 * r);
            let cy = -r + rng.uniform_f64() * (h + 2.0 * r);
            let disc = rng.bernoulli(0.5);
            // Rectangles: half sides r*s and r/s with aspect s^2 uniform in [0.5, 2].
            let s = (0.5 + 1.5 * rng.uniform_f64()).sqrt();
            let (hx, hy) = if disc { (r, r) } else { (r * s, r / s) };
            let c = shape_color(&mut rng);
            let x0 = (cx - hx).floor().max(0.0) as usize;
            let x1 = ((cx + hx).ceil().max(0.0) as usize).min(width);
            let y0 = (cy - hy).floor().max(0.0) as usize;
            let y1 = ((cy + hy).ceil().max(0.0) as usize).min(height);
            for (y, left) in row_left.iter_mut().enumerate().take(y1).skip(y0) {
                if *left == 0 {
                    continue;
                }
                let py = y as f64 + 0.5 - cy;
                for x in x0..x1 {
                    let k = y * width + x;
                    if covered[k] {
                        continue;
                    }
                    let px = x as f64 + 0.5 - cx;
                    let inside = if disc {
                        px * px + py * py <= r * r
                    } else {
                        px.abs() <= hx && py.abs() <= hy
                    };
                    if inside {
                        covered[k] = true;
                        color[k] = c;
                        remaining -= 1;
                        *left -= 1;
                    }
                }
            }
        }
        if remaining > 0 {
            let bg = shape_color(&mut rng);
            for (k, c) in color.iter_mut().enumerate() {
                if !covered[k] {
                    *c = bg;
                }
            }
        }

        let mut data = Vec::with_capacity(n * channels);
        for c in &color {
            for &v in &c[..channels] {
                let noisy =
                    if self.noise_std > 0.0 { v + self.noise_std * noise(&mut rng) } else { v };
                data.push(noisy.round().clamp(0.0, 255.0) as u8);
            }
        }
        Image8 { width, height, channels, data }
    }
}

impl ImageSource {
    /// Files matching a glob pattern (e.g. `photos/*.jpg`), sorted by path; directories are
    /// ignored. Labels are 0. A bad pattern or no match is an input error.
    pub fn from_glob(pattern: &str) -> Result<ImageSource> {
        let paths = glob::glob(pattern)
            .map_err(|e| Error::input(format!("bad image pattern {pattern:?}: {e}")))?;
        let mut files = Vec::new();
        for p in paths {
            let p = p.map_err(|e| {
                Error::input(format!("while expanding image pattern {pattern:?}: {e}"))
            })?;
            if !p.is_dir() {
                files.push(p);
            }
        }
        if files.is_empty() {
            return Err(Error::input(format!("no image files match {pattern:?}")));
        }
        files.sort();
        ImageSource::from_paths(files)
    }

    /// An explicit list of image files, used in the given order, labels 0.
    pub fn from_paths(paths: Vec<PathBuf>) -> Result<ImageSource> {
        let entries = paths.into_iter().map(|path| FileEntry { path, label: 0 }).collect();
        Ok(ImageSource::Files(FileSource::new(entries)?))
    }

    /// A Caffe `ImageData` list file (see [`parse_list`]), paths prefixed with `root_folder`.
    pub fn from_list_file(list: &Path, root_folder: &str) -> Result<ImageSource> {
        let text = std::fs::read_to_string(list).map_err(|e| {
            Error::input(format!("{}: cannot read image list: {e}", list.display()))
        })?;
        let entries = parse_list(&text, root_folder);
        if entries.is_empty() {
            return Err(Error::input(format!("{}: image list has no entries", list.display())));
        }
        Ok(ImageSource::Files(FileSource::new(entries)?))
    }

    /// The synthetic dead-leaves source for `seed` (default parameters).
    pub fn synthetic(seed: u64) -> ImageSource {
        ImageSource::Synthetic(SyntheticSource::new(seed))
    }

    /// Number of distinct images: `Some(n)` for files, `None` for the infinite synthetic source.
    pub fn len(&self) -> Option<usize> {
        match self {
            ImageSource::Files(f) => Some(f.entries.len()),
            ImageSource::Synthetic(_) => None,
        }
    }

    /// Always false: a source has at least one image (kept for API symmetry with `len`).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Index of the image at position `j` of batch `batch_index` (before wrapping).
    fn global_index(batch_index: usize, batch_size: usize, j: usize) -> Result<usize> {
        batch_index
            .checked_mul(batch_size)
            .and_then(|v| v.checked_add(j))
            .ok_or_else(|| Error::runtime(format!("batch index {batch_index} is too large")))
    }

    /// Writes batch `batch_index` (`batch_size` images, each `channels` x `height` x `width`,
    /// channels 1 = grey or 3 = B, G, R) into `out` as N x C x H x W floats
    /// `(pixel - mean[c]) * scale`. `mean` has 0 (none), 1 (all channels) or `channels` values.
    /// Image `j` of the batch is image `(batch_index * batch_size + j) mod len`.
    #[allow(clippy::too_many_arguments)]
    pub fn fill_batch(
        &self,
        batch_index: usize,
        batch_size: usize,
        channels: usize,
        height: usize,
        width: usize,
        mean: &[f32],
        scale: f32,
        out: &mut [f32],
    ) -> Result<()> {
        if channels != 1 && channels != 3 {
            return Err(Error::input(format!(
                "input images must have 1 or 3 channels; the net asks for {channels}"
            )));
        }
        if !(mean.len() <= 1 || mean.len() == channels) {
            return Err(Error::input(format!(
                "{} mean values given for {channels}-channel input (need 1 or {channels})",
                mean.len()
            )));
        }
        let per = channels * height * width;
        if out.len() != batch_size * per {
            return Err(Error::runtime(format!(
                "batch buffer holds {} values, expected {batch_size} x {channels} x {height} x {width}",
                out.len()
            )));
        }
        if per == 0 {
            return Ok(());
        }
        for (j, dst) in out.chunks_exact_mut(per).enumerate() {
            let g = ImageSource::global_index(batch_index, batch_size, j)?;
            match self {
                ImageSource::Files(f) => {
                    f.fill_one(g % f.entries.len(), (channels, height, width), mean, scale, dst)?
                }
                ImageSource::Synthetic(s) => {
                    let img = s.render(g as u64, channels, height, width);
                    write_chw(&img, mean, scale, dst);
                }
            }
        }
        Ok(())
    }

    /// Writes the labels of batch `batch_index` into `out` (`batch_size` values, same image rule
    /// as `fill_batch`; 0 for glob, explicit-path and synthetic sources).
    pub fn fill_labels(
        &self,
        batch_index: usize,
        batch_size: usize,
        out: &mut [f32],
    ) -> Result<()> {
        if out.len() != batch_size {
            return Err(Error::runtime(format!(
                "label buffer holds {} values, expected {batch_size}",
                out.len()
            )));
        }
        for (j, o) in out.iter_mut().enumerate() {
            let g = ImageSource::global_index(batch_index, batch_size, j)?;
            *o = match self {
                ImageSource::Files(f) => f.entries[g % f.entries.len()].label as f32,
                ImageSource::Synthetic(_) => 0.0,
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::image::{GrayImage, Luma, Rgb, RgbImage};

    /// A fresh scratch directory under the system temp dir (removed on drop).
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir()
                .join(format!("magic-init-source-test-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Writes 1x1 grey PNGs whose value encodes their index; returns their paths.
    fn write_numbered_pngs(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let p = dir.join(name);
                GrayImage::from_pixel(1, 1, Luma([10 * (i as u8 + 1)])).save(&p).unwrap();
                p
            })
            .collect()
    }

    #[test]
    fn glob_sorted_and_deterministic() {
        let dir = TempDir::new("glob");
        write_numbered_pngs(&dir.0, &["c.png", "a.png", "b.png", "a10.png"]);
        std::fs::create_dir(dir.0.join("sub.png")).unwrap(); // a directory is skipped
        let pattern = format!("{}/*.png", dir.0.display());
        let src = ImageSource::from_glob(&pattern).unwrap();
        let ImageSource::Files(f) = &src else { panic!("expected files") };
        let names: Vec<String> = f
            .entries()
            .iter()
            .map(|e| e.path.file_name().unwrap().to_string_lossy().into())
            .collect();
        assert_eq!(names, ["a.png", "a10.png", "b.png", "c.png"]);
        assert_eq!(src.len(), Some(4));
        let ImageSource::Files(g) = ImageSource::from_glob(&pattern).unwrap() else { panic!() };
        assert_eq!(f.entries(), g.entries());
    }

    #[test]
    fn glob_errors() {
        let dir = TempDir::new("globerr");
        let pattern = format!("{}/*.jpg", dir.0.display());
        let e = ImageSource::from_glob(&pattern).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Input);
        assert!(e.message().contains(&pattern), "{e}");
        let e = ImageSource::from_glob("photos/[*.jpg").unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Input);
        assert!(e.message().contains("bad image pattern"), "{e}");
    }

    #[test]
    fn list_parsing_last_space_root_and_blank_lines() {
        let text = "a b/photo one.jpg 3\n\n  \nplain.png 12\r\nnolabel.png\nneg.jpg -4x\n";
        let entries = parse_list(text, "/root/");
        let got: Vec<(String, i32)> =
            entries.iter().map(|e| (e.path.to_string_lossy().into_owned(), e.label)).collect();
        assert_eq!(
            got,
            [
                ("/root/a b/photo one.jpg".to_string(), 3),
                ("/root/plain.png".to_string(), 12),
                ("/root/nolabel.png".to_string(), 0),
                ("/root/neg.jpg".to_string(), -4),
            ]
        );
        // Plain concatenation: no separator is inserted.
        assert_eq!(parse_list("x.png 1", "dir")[0].path, PathBuf::from("dirx.png"));
        assert_eq!(atoi("  +17abc"), 17);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi("99999999999"), i32::MAX);
    }

    #[test]
    fn list_file_errors_and_loading() {
        let dir = TempDir::new("list");
        let paths = write_numbered_pngs(&dir.0, &["with space.png", "b.png"]);
        let list = dir.0.join("list.txt");
        std::fs::write(&list, "with space.png 5\nb.png 7\n").unwrap();
        let root = format!("{}/", dir.0.display());
        let src = ImageSource::from_list_file(&list, &root).unwrap();
        let mut out = vec![0.0; 3];
        src.fill_batch(0, 3, 1, 1, 1, &[], 1.0, &mut out).unwrap();
        assert_eq!(out, [10.0, 20.0, 10.0]);
        let mut labels = vec![0.0; 3];
        src.fill_labels(0, 3, &mut labels).unwrap();
        assert_eq!(labels, [5.0, 7.0, 5.0]);
        assert_eq!(paths.len(), 2);

        let e = ImageSource::from_list_file(&dir.0.join("nope.txt"), "").unwrap_err();
        assert!(e.message().contains("nope.txt"), "{e}");
        let empty = dir.0.join("empty.txt");
        std::fs::write(&empty, "\n\n").unwrap();
        let e = ImageSource::from_list_file(&empty, "").unwrap_err();
        assert!(e.message().contains("no entries"), "{e}");

        // A missing file surfaces at load time, naming it.
        std::fs::write(&list, "missing.png 0\n").unwrap();
        let src = ImageSource::from_list_file(&list, &root).unwrap();
        let e = src.fill_batch(0, 1, 1, 1, 1, &[], 1.0, &mut out[..1]).unwrap_err();
        assert!(e.message().contains("missing.png"), "{e}");
    }

    #[test]
    fn cycling_rule() {
        let dir = TempDir::new("cycle");
        let paths = write_numbered_pngs(&dir.0, &["0.png", "1.png", "2.png"]);
        let src = ImageSource::from_paths(paths).unwrap();
        let mut out = vec![0.0; 4];
        // Batch 0 of size 4: files 0 1 2 0; batch 1: files (4..8) mod 3 = 1 2 0 1.
        src.fill_batch(0, 4, 1, 1, 1, &[], 1.0, &mut out).unwrap();
        assert_eq!(out, [10.0, 20.0, 30.0, 10.0]);
        src.fill_batch(1, 4, 1, 1, 1, &[], 1.0, &mut out).unwrap();
        assert_eq!(out, [20.0, 30.0, 10.0, 20.0]);
        let mut out2 = vec![0.0; 2];
        src.fill_batch(5, 2, 1, 1, 1, &[], 1.0, &mut out2).unwrap(); // images 10, 11
        assert_eq!(out2, [20.0, 30.0]);
    }

    #[test]
    fn fill_batch_validation() {
        let src = ImageSource::synthetic(1);
        let mut out = vec![0.0; 2 * 4 * 4];
        let e = src.fill_batch(0, 1, 2, 4, 4, &[], 1.0, &mut out).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Input);
        assert!(e.message().contains("1 or 3 channels"), "{e}");
        let mut out3 = vec![0.0; 3 * 4 * 4];
        let e = src.fill_batch(0, 1, 3, 4, 4, &[1.0, 2.0], 1.0, &mut out3).unwrap_err();
        assert!(e.message().contains("mean"), "{e}");
        let e = src.fill_batch(0, 2, 3, 4, 4, &[], 1.0, &mut out3).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Runtime);
        assert_eq!(src.len(), None);
    }

    #[test]
    fn bgr_mean_scale_through_source() {
        let dir = TempDir::new("bgr");
        let p = dir.0.join("red.png");
        RgbImage::from_pixel(2, 2, Rgb([255, 0, 0])).save(&p).unwrap();
        let src = ImageSource::from_paths(vec![p]).unwrap();
        let mut out = vec![0.0; 3 * 2 * 2];
        src.fill_batch(0, 1, 3, 2, 2, &[104.0, 117.0, 123.0], 0.5, &mut out).unwrap();
        let b = -104.0 * 0.5;
        let g = -117.0 * 0.5;
        let r = (255.0 - 123.0) * 0.5;
        assert_eq!(out, [b, b, b, b, g, g, g, g, r, r, r, r]);
        // Grey read of the same file: libpng's red weight.
        let mut grey = vec![0.0; 4];
        src.fill_batch(0, 1, 1, 2, 2, &[], 1.0, &mut grey).unwrap();
        assert_eq!(grey, [76.0; 4]);
    }

    #[test]
    fn cache_is_bounded_and_transparent() {
        let dir = TempDir::new("cache");
        let paths: Vec<PathBuf> = (0..3)
            .map(|i| {
                let p = dir.0.join(format!("{i}.png"));
                RgbImage::from_fn(9, 7, |x, y| Rgb([(x * 20 + i) as u8, (y * 30) as u8, 7]))
                    .save(&p)
                    .unwrap();
                p
            })
            .collect();
        let ImageSource::Files(mut f) = ImageSource::from_paths(paths).unwrap() else { panic!() };
        let per = 3 * 5 * 6;
        let mut uncached = vec![0.0; 3 * per];
        f.set_cache_limit(0);
        let src0 = ImageSource::Files(f);
        src0.fill_batch(0, 3, 3, 5, 6, &[1.0], 2.0, &mut uncached).unwrap();
        let ImageSource::Files(mut f) = src0 else { panic!() };
        assert_eq!(f.cached_bytes(), 0);
        f.set_cache_limit(2 * per); // room for two images only
        let src = ImageSource::Files(f);
        let mut first = vec![0.0; 3 * per];
        let mut second = vec![0.0; 3 * per];
        src.fill_batch(0, 3, 3, 5, 6, &[1.0], 2.0, &mut first).unwrap();
        src.fill_batch(0, 3, 3, 5, 6, &[1.0], 2.0, &mut second).unwrap();
        assert_eq!(first, uncached);
        assert_eq!(second, uncached);
        let ImageSource::Files(f) = &src else { panic!() };
        assert_eq!(f.cached_bytes(), 2 * per);
    }

    #[test]
    fn synthetic_deterministic_and_batch_size_independent() {
        let src = ImageSource::synthetic(42);
        let per = 3 * 16 * 20;
        let mut a = vec![0.0; 4 * per];
        let mut b = vec![0.0; 4 * per];
        src.fill_batch(0, 4, 3, 16, 20, &[], 1.0, &mut a).unwrap();
        ImageSource::synthetic(42).fill_batch(0, 4, 3, 16, 20, &[], 1.0, &mut b).unwrap();
        assert_eq!(a, b);
        // Image 3 is the same as the 2nd image of batch 1 with batch size 2.
        let mut c = vec![0.0; 2 * per];
        src.fill_batch(1, 2, 3, 16, 20, &[], 1.0, &mut c).unwrap();
        assert_eq!(&c[per..], &a[3 * per..]);
        // Different seed, different images; different index, different image.
        let mut d = vec![0.0; 4 * per];
        ImageSource::synthetic(43).fill_batch(0, 4, 3, 16, 20, &[], 1.0, &mut d).unwrap();
        assert_ne!(a, d);
        assert_ne!(&a[..per], &a[per..2 * per]);
    }

    /// Mean, standard deviation and horizontal-neighbour correlation of one plane.
    fn plane_stats(p: &[u8], w: usize) -> (f64, f64, f64) {
        let n = p.len() as f64;
        let mean = p.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = p.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        let (mut cov, mut m) = (0.0, 0.0);
        for row in p.chunks_exact(w) {
            for k in 0..w - 1 {
                cov += (f64::from(row[k]) - mean) * (f64::from(row[k + 1]) - mean);
                m += 1.0;
            }
        }
        (mean, var.sqrt(), cov / m / var)
    }

    #[test]
    fn synthetic_natural_statistics() {
        let s = SyntheticSource::new(7);
        for i in 0..6 {
            let img = s.render(i, 3, 227, 227);
            assert_eq!(img.data.len(), 3 * 227 * 227);
            for c in 0..3 {
                let plane: Vec<u8> = img.data.iter().skip(c).step_by(3).copied().collect();
                let (mean, std, corr) = plane_stats(&plane, 227);
                // Real photos in /work/shared/data/images: mean 85..152, std 32..55, corr 0.83..0.96.
                assert!((20.0..235.0).contains(&mean), "image {i} ch {c} mean {mean}");
                assert!((15.0..90.0).contains(&std), "image {i} ch {c} std {std}");
                // Piecewise-constant regions: neighbours are strongly correlated, unlike noise.
                assert!(corr > 0.75, "image {i} ch {c} neighbour correlation {corr}");
            }
            // Channels are correlated (shared luminance) but not identical.
            let b: Vec<u8> = img.data.iter().step_by(3).copied().collect();
            let r: Vec<u8> = img.data.iter().skip(2).step_by(3).copied().collect();
            assert_ne!(b, r);
        }
        // Grey images: many distinct levels (varied shapes plus noise), not constant.
        let g = s.render(0, 1, 64, 64);
        let mut seen = [false; 256];
        g.data.iter().for_each(|&v| seen[v as usize] = true);
        assert!(seen.iter().filter(|&&x| x).count() > 30);
        let (_, std, corr) = plane_stats(&g.data, 64);
        assert!(std > 10.0 && corr > 0.4, "grey std {std} corr {corr}");
    }

    #[test]
    fn noise_is_unit_variance() {
        let mut rng = Rng::new(11);
        let n = 100_000;
        let xs: Vec<f64> = (0..n).map(|_| noise(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.02, "mean {mean} var {var}");
        assert!(xs.iter().all(|x| x.abs() <= 2.0 * 3.0f64.sqrt()));
    }

    #[test]
    fn synthetic_without_noise_is_piecewise_constant() {
        let s = SyntheticSource { seed: 5, noise_std: 0.0 };
        let img = s.render(0, 1, 32, 32);
        let equal = img.data.windows(2).filter(|p| p[0] == p[1]).count();
        assert!(equal > img.data.len() / 2, "{equal} equal neighbours");
    }

    #[test]
    fn synthetic_odd_sizes() {
        let s = SyntheticSource::new(3);
        for (h, w) in [(1, 1), (1, 7), (5, 1), (3, 227)] {
            let img = s.render(9, 1, h, w);
            assert_eq!((img.height, img.width, img.data.len()), (h, w, h * w));
        }
    }

    #[test]
    fn real_jpegs_fill_a_batch() {
        let dir = Path::new("/work/shared/data/images");
        if !dir.is_dir() {
            println!("note: {} is missing; real-JPEG batch test skipped", dir.display());
            return;
        }
        let src = ImageSource::from_glob(&format!("{}/*.jpg", dir.display())).unwrap();
        assert!(src.len().unwrap() > 0);
        let per = 3 * 227 * 227;
        let mut out = vec![f32::NAN; 2 * per];
        src.fill_batch(0, 2, 3, 227, 227, &[104.0, 117.0, 123.0], 1.0, &mut out).unwrap();
        assert!(out.iter().all(|v| v.is_finite()));
        assert_ne!(&out[..per], &out[per..]);
    }

    #[test]
    fn fashion_mnist_grey_pngs() {
        let dir = Path::new("/work/shared/data/labeled/fashion_mnist/train/0_tshirt-top");
        if !dir.is_dir() {
            println!("note: {} is missing; grey-PNG test skipped", dir.display());
            return;
        }
        let src = ImageSource::from_glob(&format!("{}/*.png", dir.display())).unwrap();
        let mut out = vec![0.0; 2 * 28 * 28];
        src.fill_batch(0, 2, 1, 28, 28, &[], 1.0 / 255.0, &mut out).unwrap();
        assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(out.iter().any(|&v| v > 0.5) && out.contains(&0.0));
        // Read as colour, the grey values are replicated into B, G and R.
        let mut col = vec![0.0; 3 * 28 * 28];
        src.fill_batch(0, 1, 3, 28, 28, &[], 1.0 / 255.0, &mut col).unwrap();
        assert_eq!(&col[..784], &out[..784]);
        assert_eq!(&col[784..1568], &out[..784]);
        assert_eq!(&col[1568..], &out[..784]);
    }
}
