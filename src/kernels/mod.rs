//! Compute kernels over plain f32 slices (NCHW, row-major): GEMM, im2col, convolution, pooling,
//! LRN, element-wise, softmax, batch-norm and statistics. Each optimised kernel keeps a naive twin
//! used by tests and benches; kernels are infallible (shapes are checked at net build time).

pub mod batchnorm;
pub mod conv;
pub mod eltwise;
pub mod gemm;
pub mod im2col;
pub mod lrn;
pub mod peak;
pub mod pool;
pub mod softmax;
pub mod stats;
