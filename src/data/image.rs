//! Decoding JPEG/PNG files into 8-bit images with OpenCV `imread` conventions (BGR colour or
//! one grey channel), and Caffe `ImageData`/`DataTransformer` preprocessing: resize to the net's
//! input size, subtract the per-channel mean, multiply by the scale, write planar CHW f32.
//!
//! Conventions followed (OpenCV `imread` with `IMREAD_COLOR` / `IMREAD_GRAYSCALE`):
//! - colour: 3 channels in B, G, R order; grey sources are replicated, alpha is dropped;
//! - grey from a grey file: its values as stored; grey from a colour PNG: libpng's
//!   `png_set_rgb_to_gray(0.299, 0.587)` as OpenCV calls it, i.e. the truncating 15-bit fixed-point
//!   sum `(9797 R + 19234 G + 3737 B) >> 15`; grey from a colour JPEG: OpenCV asks libjpeg for
//!   grey output, which is the decoded luma plane Y. Our decoder only yields RGB, so Y is
//!   recovered with the JFIF forward transform `(19595 R + 38470 G + 7471 B + 32768) >> 16`;
//! - 16-bit PNG samples keep their high byte (libpng `png_set_strip_16`); a 16-bit colour PNG read
//!   as grey is converted at 16 bits first (libpng's rounded 16-bit formula), then stripped;
//! - the EXIF orientation is applied (OpenCV >= 3.1 default).
//!
//! Known differences: JPEG pixels come from the `image` crate's decoder, not libjpeg(-turbo):
//! IDCT and chroma upsampling may differ by a few grey levels. A colour PNG with a gAMA/sRGB chunk
//! read as grey goes through libpng's gamma-corrected conversion in OpenCV; we ignore gamma.
//! Only JPEG and PNG codecs are compiled in; any other format is an input error.

use std::io::Cursor;
use std::path::Path;

use ::image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::data::resize::resize_bilinear_u8;
use crate::error::{Error, Result};

/// An 8-bit image in OpenCV's `Mat` layout: `height` rows of `width` pixels of `channels`
/// interleaved bytes (B, G, R for colour; one byte for grey).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image8 {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// 1 (grey) or 3 (B, G, R).
    pub channels: usize,
    /// `height * width * channels` bytes, row-major, channels interleaved.
    pub data: Vec<u8>,
}

impl Image8 {
    /// Resized copy (OpenCV-exact bilinear) with the given size; a clone if already that size.
    pub fn resized(&self, height: usize, width: usize) -> Image8 {
        if self.height == height && self.width == width {
            return self.clone();
        }
        let data =
            resize_bilinear_u8(&self.data, self.width, self.height, self.channels, width, height);
        Image8 { width, height, channels: self.channels, data }
    }
}

/// libpng's RGB -> grey as OpenCV's PNG decoder requests it (coefficients 0.299 and 0.587 turned
/// into 15-bit integers by truncation, blue takes the rest; result truncated).
pub fn gray_png(r: u8, g: u8, b: u8) -> u8 {
    if r == g && g == b {
        return r;
    }
    ((9797 * u32::from(r) + 19234 * u32::from(g) + 3737 * u32::from(b)) >> 15) as u8
}

/// libpng's RGB -> grey for 16-bit samples (same coefficients, rounded instead of truncated).
pub fn gray_png16(r: u16, g: u16, b: u16) -> u16 {
    if r == g && g == b {
        return r;
    }
    ((9797 * u64::from(r) + 19234 * u64::from(g) + 3737 * u64::from(b) + 16384) >> 15) as u16
}

/// JFIF/libjpeg luma of an RGB pixel (16-bit fixed point, rounded): our estimate of the Y plane
/// that libjpeg hands to OpenCV for a colour JPEG read as grey.
pub fn gray_jpeg(r: u8, g: u8, b: u8) -> u8 {
    ((19595 * u32::from(r) + 38470 * u32::from(g) + 7471 * u32::from(b) + 32768) >> 16) as u8
}

/// OpenCV `cvtColor(RGB2GRAY)` for 8-bit data: 14-bit fixed point 4899/9617/1868, rounded.
/// (`imread` does not use it for JPEG/PNG; kept for callers converting decoded colour images.)
pub fn gray_cvt_color(r: u8, g: u8, b: u8) -> u8 {
    ((4899 * u32::from(r) + 9617 * u32::from(g) + 1868 * u32::from(b) + (1 << 13)) >> 14) as u8
}

/// Reads and decodes an image file; `color` selects 3-channel BGR, otherwise 1-channel grey.
/// Errors name the file.
pub fn load_image(path: &Path, color: bool) -> Result<Image8> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::input(format!("{}: cannot read image file: {e}", path.display())))?;
    decode_image(&bytes, color).map_err(|e| Error::input(format!("{}: {}", path.display(), e)))
}

/// Decodes an in-memory JPEG or PNG (format detected from the content, not a file name).
/// The error message does not name a file (`load_image` adds it).
pub fn decode_image(bytes: &[u8], color: bool) -> std::result::Result<Image8, String> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read image: {e}"))?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Jpeg | ImageFormat::Png)) => f,
        Some(other) => {
            return Err(format!(
                "unsupported image format {} (only JPEG and PNG can be read)",
                other.extensions_str().first().copied().unwrap_or("?").to_uppercase()
            ))
        }
        None => return Err("not a JPEG or PNG image (unrecognised content)".to_string()),
    };
    let mut decoder = reader.into_decoder().map_err(|e| format!("cannot decode image: {e}"))?;
    // A broken EXIF block is ignored, as OpenCV does.
    let orientation = decoder.orientation().unwrap_or(::image::metadata::Orientation::NoTransforms);
    let mut img =
        DynamicImage::from_decoder(decoder).map_err(|e| format!("cannot decode image: {e}"))?;
    img.apply_orientation(orientation);
    if img.width() == 0 || img.height() == 0 {
        return Err("image has zero width or height".to_string());
    }
    Ok(to_opencv_layout(img, color, format))
}

/// Converts a decoded image to OpenCV's 8-bit BGR or grey layout.
fn to_opencv_layout(img: DynamicImage, color: bool, format: ImageFormat) -> Image8 {
    let (width, height) = (img.width() as usize, img.height() as usize);
    // Reduce to grey or RGB samples; 16-bit grey keeps the high byte, 16-bit RGB is kept whole
    // because libpng converts it to grey before dropping the low byte.
    enum Px {
        Gray(Vec<u8>),
        Rgb(Vec<u8>),
        Rgb16(Vec<u16>),
    }
    let hi = |v: u16| (v >> 8) as u8;
    let px = match img {
        DynamicImage::ImageLuma8(b) => Px::Gray(b.into_raw()),
        DynamicImage::ImageLumaA8(b) => {
            Px::Gray(b.into_raw().chunks_exact(2).map(|p| p[0]).collect())
        }
        DynamicImage::ImageRgb8(b) => Px::Rgb(b.into_raw()),
        DynamicImage::ImageRgba8(b) => {
            Px::Rgb(b.into_raw().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect())
        }
        DynamicImage::ImageLuma16(b) => Px::Gray(b.into_raw().into_iter().map(hi).collect()),
        DynamicImage::ImageLumaA16(b) => {
            Px::Gray(b.into_raw().chunks_exact(2).map(|p| hi(p[0])).collect())
        }
        DynamicImage::ImageRgb16(b) => Px::Rgb16(b.into_raw()),
        DynamicImage::ImageRgba16(b) => {
            Px::Rgb16(b.into_raw().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect())
        }
        other => Px::Rgb(other.to_rgb8().into_raw()),
    };
    let (channels, data) = match (px, color) {
        (Px::Gray(g), false) => (1, g),
        (Px::Gray(g), true) => (3, g.iter().flat_map(|&v| [v, v, v]).collect()),
        (Px::Rgb(rgb), true) => (3, rgb.chunks_exact(3).flat_map(|p| [p[2], p[1], p[0]]).collect()),
        (Px::Rgb(rgb), false) => {
            let f = if format == ImageFormat::Png { gray_png } else { gray_jpeg };
            (1, rgb.chunks_exact(3).map(|p| f(p[0], p[1], p[2])).collect())
        }
        (Px::Rgb16(rgb), true) => {
            (3, rgb.chunks_exact(3).flat_map(|p| [hi(p[2]), hi(p[1]), hi(p[0])]).collect())
        }
        (Px::Rgb16(rgb), false) => {
            (1, rgb.chunks_exact(3).map(|p| hi(gray_png16(p[0], p[1], p[2]))).collect())
        }
    };
    debug_assert_eq!(data.len(), width * height * channels);
    Image8 { width, height, channels, data }
}

/// The mean of channel `c` from a mean list of length 0 (no mean), 1 (all channels) or C.
fn mean_of(mean: &[f32], c: usize) -> f32 {
    match mean.len() {
        0 => 0.0,
        1 => mean[0],
        _ => mean[c],
    }
}

/// Caffe's `DataTransformer` arithmetic: writes `out[c][y][x] = (pixel[y][x][c] - mean[c]) *
/// scale` in planar CHW order. `mean` has 0, 1 or `img.channels` entries; `out` holds exactly
/// `channels * height * width` values.
pub fn write_chw(img: &Image8, mean: &[f32], scale: f32, out: &mut [f32]) {
    let (c_n, hw) = (img.channels, img.height * img.width);
    debug_assert!(mean.len() <= 1 || mean.len() == c_n);
    debug_assert_eq!(out.len(), c_n * hw);
    for (c, plane) in out.chunks_exact_mut(hw).enumerate() {
        let m = mean_of(mean, c);
        for (o, &p) in plane.iter_mut().zip(img.data.iter().skip(c).step_by(c_n)) {
            *o = (f32::from(p) - m) * scale;
        }
    }
}

/// Loads `path` as `channels` (1 or 3) channels, resizes to `height` x `width` if needed and
/// writes the preprocessed planar CHW values into `out` (`channels * height * width` floats).
pub fn load_preprocessed(
    path: &Path,
    channels: usize,
    height: usize,
    width: usize,
    mean: &[f32],
    scale: f32,
    out: &mut [f32],
) -> Result<()> {
    if channels != 1 && channels != 3 {
        return Err(Error::input(format!("images must have 1 or 3 channels, not {channels}")));
    }
    if !(mean.len() <= 1 || mean.len() == channels) {
        return Err(Error::input(format!(
            "{} mean values given for {channels}-channel images (need 1 or {channels})",
            mean.len()
        )));
    }
    let img = load_image(path, channels == 3)?.resized(height, width);
    write_chw(&img, mean, scale, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::image::{GrayImage, ImageBuffer, Luma, Rgb, RgbImage, Rgba, RgbaImage};
    use std::path::PathBuf;

    /// A fresh scratch directory under the system temp dir (removed on drop).
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir()
                .join(format!("magic-init-image-test-{tag}-{}", std::process::id()));
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

    fn encode(img: &DynamicImage, fmt: ImageFormat) -> Vec<u8> {
        let mut buf = Cursor::new(Vec::new());
        img.write_to(&mut buf, fmt).unwrap();
        buf.into_inner()
    }

    #[test]
    fn red_png_pixel_lands_in_channel_two() {
        let dir = TempDir::new("red");
        let path = dir.0.join("red.png");
        RgbImage::from_pixel(2, 1, Rgb([255, 0, 0])).save(&path).unwrap();
        let img = load_image(&path, true).unwrap();
        assert_eq!((img.width, img.height, img.channels), (2, 1, 3));
        assert_eq!(img.data, [0, 0, 255, 0, 0, 255]);
        let mut out = vec![0.0; 3 * 2];
        load_preprocessed(&path, 3, 1, 2, &[], 1.0, &mut out).unwrap();
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 255.0, 255.0]);
    }

    #[test]
    fn bgr_order_for_distinct_channels_and_alpha_dropped() {
        let img = RgbaImage::from_pixel(1, 1, Rgba([10, 20, 30, 7]));
        let bytes = encode(&DynamicImage::ImageRgba8(img), ImageFormat::Png);
        let d = decode_image(&bytes, true).unwrap();
        assert_eq!(d.data, [30, 20, 10]);
    }

    #[test]
    fn grey_png_replicated_in_colour_and_kept_in_grey() {
        let g = GrayImage::from_fn(3, 2, |x, y| Luma([(x * 40 + y * 100) as u8]));
        let bytes = encode(&DynamicImage::ImageLuma8(g.clone()), ImageFormat::Png);
        let c = decode_image(&bytes, true).unwrap();
        assert_eq!(c.channels, 3);
        for (i, &v) in g.as_raw().iter().enumerate() {
            assert_eq!(&c.data[3 * i..3 * i + 3], &[v, v, v]);
        }
        let gr = decode_image(&bytes, false).unwrap();
        assert_eq!((gr.channels, &gr.data), (1, g.as_raw()));
    }

    #[test]
    fn colour_png_to_grey_uses_libpng_formula() {
        let px = [[255u8, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 90], [77, 77, 77]];
        let img = RgbImage::from_fn(px.len() as u32, 1, |x, _| Rgb(px[x as usize]));
        let bytes = encode(&DynamicImage::ImageRgb8(img), ImageFormat::Png);
        let d = decode_image(&bytes, false).unwrap();
        // Values checked against OpenCV 4.10 `cv2.imread(path, cv2.IMREAD_GRAYSCALE)`.
        assert_eq!(d.data, [76, 149, 29, 130, 77]);
        assert_eq!(gray_png(10, 200, 90), 130);
        assert_eq!(gray_jpeg(10, 200, 90), 131);
    }

    #[test]
    fn grey_formulas() {
        assert_eq!(gray_jpeg(255, 255, 255), 255);
        assert_eq!(gray_jpeg(255, 0, 0), 76);
        assert_eq!(gray_jpeg(0, 255, 0), 150);
        assert_eq!(gray_jpeg(0, 0, 255), 29);
        assert_eq!(gray_cvt_color(255, 0, 0), 76);
        assert_eq!(gray_cvt_color(0, 255, 0), 150);
        assert_eq!(gray_cvt_color(0, 0, 255), 29);
        for v in [0u8, 1, 128, 255] {
            assert_eq!((gray_png(v, v, v), gray_jpeg(v, v, v), gray_cvt_color(v, v, v)), (v, v, v));
        }
    }

    #[test]
    fn sixteen_bit_png_keeps_high_byte() {
        let img: ImageBuffer<Rgb<u16>, Vec<u16>> =
            ImageBuffer::from_pixel(1, 1, Rgb([0x1234, 0xABFF, 0x00FF]));
        let bytes = encode(&DynamicImage::ImageRgb16(img), ImageFormat::Png);
        assert_eq!(decode_image(&bytes, true).unwrap().data, [0x00, 0xAB, 0x12]);
        // Grey is computed at 16 bits before stripping: OpenCV 4.10 gives 106 here (an 8-bit
        // conversion of the high bytes would give 105).
        assert_eq!(decode_image(&bytes, false).unwrap().data, [106]);
        let g: ImageBuffer<Luma<u16>, Vec<u16>> =
            ImageBuffer::from_fn(2, 1, |x, _| Luma([[0x12FF, 0x8080][x as usize]]));
        let bytes = encode(&DynamicImage::ImageLuma16(g), ImageFormat::Png);
        assert_eq!(decode_image(&bytes, false).unwrap().data, [0x12, 0x80]);
    }

    #[test]
    fn jpeg_colour_and_grey() {
        let img = RgbImage::from_fn(16, 16, |x, y| Rgb([(x * 16) as u8, (y * 16) as u8, 128]));
        let bytes = encode(&DynamicImage::ImageRgb8(img.clone()), ImageFormat::Jpeg);
        let c = decode_image(&bytes, true).unwrap();
        let g = decode_image(&bytes, false).unwrap();
        assert_eq!((c.channels, c.width, c.height, g.channels), (3, 16, 16, 1));
        // Lossy, but close to the source; grey is the luma of the decoded colour.
        for (i, p) in img.pixels().enumerate() {
            let bgr = &c.data[3 * i..3 * i + 3];
            for (k, &want) in [p[2], p[1], p[0]].iter().enumerate() {
                assert!((i32::from(bgr[k]) - i32::from(want)).abs() <= 24, "pixel {i} ch {k}");
            }
            assert_eq!(g.data[i], gray_jpeg(bgr[2], bgr[1], bgr[0]));
        }
    }

    #[test]
    fn exif_orientation_is_applied() {
        use ::image::ImageEncoder;
        // Minimal little-endian TIFF/EXIF block: one IFD entry, Orientation (0x0112) = 6, i.e.
        // rotate 90 degrees clockwise for display.
        let exif = vec![
            0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0,
            0,
        ];
        let img =
            RgbImage::from_fn(2, 1, |x, _| Rgb(if x == 0 { [255, 0, 0] } else { [0, 0, 255] }));
        let mut bytes = Vec::new();
        let mut enc = ::image::codecs::png::PngEncoder::new(&mut bytes);
        enc.set_exif_metadata(exif).unwrap();
        enc.write_image(img.as_raw(), 2, 1, ::image::ExtendedColorType::Rgb8).unwrap();
        let d = decode_image(&bytes, true).unwrap();
        // OpenCV 4.10 `imread` of this file: shape (2, 1, 3), red on top, then blue.
        assert_eq!((d.width, d.height), (1, 2));
        assert_eq!(d.data, [0, 0, 255, 255, 0, 0]);
    }

    #[test]
    fn mean_and_scale_arithmetic() {
        let img = Image8 { width: 2, height: 1, channels: 3, data: vec![10, 20, 30, 40, 50, 60] };
        let mut out = [0.0f32; 6];
        write_chw(&img, &[1.0, 2.0, 3.0], 0.5, &mut out);
        assert_eq!(out, [4.5, 19.5, 9.0, 24.0, 13.5, 28.5]);
        write_chw(&img, &[10.0], 2.0, &mut out);
        assert_eq!(out, [0.0, 60.0, 20.0, 80.0, 40.0, 100.0]);
        write_chw(&img, &[], 1.0, &mut out);
        assert_eq!(out, [10.0, 40.0, 20.0, 50.0, 30.0, 60.0]);
    }

    #[test]
    fn load_preprocessed_resizes_and_validates() {
        let dir = TempDir::new("resize");
        let path = dir.0.join("g.png");
        GrayImage::from_fn(8, 6, |x, y| Luma([(x * 30 + y) as u8])).save(&path).unwrap();
        let mut out = vec![0.0; 4 * 3];
        load_preprocessed(&path, 1, 3, 4, &[1.0], 1.0, &mut out).unwrap();
        let src = load_image(&path, false).unwrap();
        let small = resize_bilinear_u8(&src.data, 8, 6, 1, 4, 3);
        let want: Vec<f32> = small.iter().map(|&v| f32::from(v) - 1.0).collect();
        assert_eq!(out, want);
        let e = load_preprocessed(&path, 2, 3, 4, &[], 1.0, &mut out).unwrap_err();
        assert!(e.message().contains("1 or 3 channels"), "{e}");
        let mut out3 = vec![0.0; 3 * 4 * 3];
        let e = load_preprocessed(&path, 3, 3, 4, &[1.0, 2.0], 1.0, &mut out3).unwrap_err();
        assert!(e.message().contains("mean"), "{e}");
    }

    #[test]
    fn errors_name_the_file() {
        let dir = TempDir::new("errors");
        let missing = dir.0.join("missing.png");
        let e = load_image(&missing, true).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Input);
        assert!(e.message().contains("missing.png"), "{e}");

        let junk = dir.0.join("junk.jpg");
        std::fs::write(&junk, b"this is not an image at all").unwrap();
        let e = load_image(&junk, true).unwrap_err();
        assert!(e.message().contains("junk.jpg") && e.message().contains("not a JPEG or PNG"));

        // GIF, BMP and TIFF signatures are recognised but their codecs are not compiled in.
        for (name, head) in [
            ("a.gif", &b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"[..]),
            ("a.bmp", &b"BM\x1e\x00\x00\x00\x00\x00\x00\x00\x1a\x00\x00\x00"[..]),
            ("a.tif", &b"II*\x00\x08\x00\x00\x00\x00\x00"[..]),
        ] {
            let p = dir.0.join(name);
            std::fs::write(&p, head).unwrap();
            let e = load_image(&p, true).unwrap_err();
            assert_eq!(e.kind(), crate::error::ErrorKind::Input);
            assert!(e.message().contains(name) && e.message().contains("unsupported"), "{e}");
        }

        // A truncated PNG is a decode error naming the file.
        let bytes = encode(&DynamicImage::ImageRgb8(RgbImage::new(20, 20)), ImageFormat::Png);
        let trunc = dir.0.join("trunc.png");
        std::fs::write(&trunc, &bytes[..bytes.len() / 2]).unwrap();
        let e = load_image(&trunc, true).unwrap_err();
        assert!(e.message().contains("trunc.png"), "{e}");
    }

    #[test]
    fn real_jpegs_load_to_227() {
        let dir = Path::new("/work/shared/data/images");
        if !dir.is_dir() {
            println!("note: {} is missing; real-JPEG test skipped", dir.display());
            return;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
            .collect();
        files.sort();
        assert!(!files.is_empty());
        let mut out = vec![0.0f32; 3 * 227 * 227];
        for p in files.iter().take(5) {
            load_preprocessed(p, 3, 227, 227, &[104.0, 117.0, 123.0], 1.0, &mut out).unwrap();
            assert!(out.iter().all(|v| v.is_finite() && (-123.0..=151.0).contains(v)));
            let spread = out.iter().fold((f32::MAX, f32::MIN), |a, &v| (a.0.min(v), a.1.max(v)));
            assert!(spread.1 - spread.0 > 20.0, "{} looks constant", p.display());
        }
    }
}
