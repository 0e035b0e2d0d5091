//! magic-init: data-dependent initialization of Caffe convolutional networks (Krähenbühl,
//! Doersch, Donahue, Darrell, ICLR 2016) as a library; the binary lives in `main.rs`.

pub mod app;
pub mod bases;
pub mod caffemodel;
pub mod calibrate;
pub mod cli;
pub mod data;
pub mod error;
pub mod feed;
pub mod info;
pub mod init;
pub mod io;
pub mod json;
pub mod kernels;
pub mod layers;
pub mod linalg;
pub mod net;
pub mod proto;
pub mod prototxt;
pub mod rng;
pub mod stat;
pub mod tensor;
pub mod upgrade;
