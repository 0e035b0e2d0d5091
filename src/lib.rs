//! magic-init: data-dependent initialization of Caffe convolutional networks (Krähenbühl,
//! Doersch, Donahue, Darrell, ICLR 2016) as a library; the binary lives in `main.rs`.

pub mod error;
pub mod layers;
pub mod proto;
pub mod prototxt;
