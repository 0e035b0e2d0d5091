//! Input images: decoding with OpenCV's `imread` conventions, OpenCV-exact bilinear resizing,
//! Caffe `ImageData`-style preprocessing into planar f32 batches, and the image sources (files
//! or a built-in synthetic generator) that fill those batches.

pub mod image;
pub mod resize;
pub mod source;
