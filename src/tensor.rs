//! The f32 tensor: a shape and a 32-byte-aligned buffer (so SIMD loads of whole rows start on a
//! vector boundary), without `unsafe`: the buffer is over-allocated and the aligned window is
//! found from the allocation's address.

use crate::layers::{count, Shape};

/// Alignment of every tensor's first element, in bytes (one AVX register).
pub const ALIGN: usize = 32;
const PAD: usize = ALIGN / std::mem::size_of::<f32>();

/// A dense row-major f32 array.
#[derive(Default)]
pub struct Tensor {
    shape: Shape,
    buf: Vec<f32>,
    offset: usize,
    len: usize,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?}", self.shape)
    }
}

impl Clone for Tensor {
    /// A new allocation has its own alignment, so the aligned window is found again.
    fn clone(&self) -> Tensor {
        let mut buf = vec![0.0f32; self.len + PAD];
        let offset = Self::aligned_offset(&buf);
        buf[offset..offset + self.len].copy_from_slice(self.data());
        Tensor { shape: self.shape.clone(), buf, offset, len: self.len }
    }
}

impl PartialEq for Tensor {
    fn eq(&self, other: &Tensor) -> bool {
        self.shape == other.shape && self.data() == other.data()
    }
}

impl Tensor {
    /// A zero-filled tensor.
    pub fn zeros(shape: &[usize]) -> Tensor {
        let len = count(shape);
        let buf = vec![0.0f32; len + PAD];
        let offset = Self::aligned_offset(&buf);
        Tensor { shape: shape.to_vec(), buf, offset, len }
    }

    /// A tensor holding `data` (length must equal the shape's count).
    pub fn from_vec(shape: &[usize], data: Vec<f32>) -> Tensor {
        assert_eq!(count(shape), data.len(), "tensor data length does not match its shape");
        let mut t = Tensor::zeros(shape);
        t.data_mut().copy_from_slice(&data);
        t
    }

    fn aligned_offset(buf: &[f32]) -> usize {
        let addr = buf.as_ptr() as usize;
        (ALIGN - addr % ALIGN) % ALIGN / std::mem::size_of::<f32>()
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements.
    pub fn data(&self) -> &[f32] {
        &self.buf[self.offset..self.offset + self.len]
    }

    /// The elements, mutably.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.buf[self.offset..self.offset + self.len]
    }

    /// Gives the tensor a new shape with the same element count (Flatten, Reshape).
    pub fn reshape(&mut self, shape: &[usize]) {
        assert_eq!(count(shape), self.len, "reshape must keep the element count");
        self.shape = shape.to_vec();
    }

    /// Sets every element to `v`.
    pub fn fill(&mut self, v: f32) {
        self.data_mut().fill(v);
    }

    /// Bytes held (for memory accounting).
    pub fn bytes(&self) -> usize {
        self.buf.capacity() * std::mem::size_of::<f32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_sized() {
        for n in [0usize, 1, 7, 9, 1000] {
            let t = Tensor::zeros(&[n, 3]);
            assert_eq!(t.len(), 3 * n);
            assert_eq!(t.data().as_ptr() as usize % ALIGN, 0);
            let c = t.clone();
            assert_eq!(c.data().as_ptr() as usize % ALIGN, 0, "clones realign");
        }
        let empty = Tensor::default().clone();
        assert!(empty.is_empty());
        let mut t = Tensor::from_vec(&[2, 3], vec![1., 2., 3., 4., 5., 6.]);
        t.reshape(&[6]);
        assert_eq!(t.shape(), &[6]);
        assert_eq!(t.data()[5], 6.0);
    }
}
