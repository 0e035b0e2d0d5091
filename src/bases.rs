//! Data-driven weight bases (`-t pca | zca | kmeans | rand | orthogonal`, `fast_` variants):
//! the patches a layer actually sees are gathered exactly (im2col columns of its bottom, per
//! group; an inner product's flattened rows), sub-sampled under `--mem-limit`, whitened, and
//! turned into one weight row per output channel. Algorithm 1 then normalises them.

use crate::layers::{count, Layer};
use crate::linalg::{covariance, kmeans, orthonormal, whitening};
use crate::rng::Rng;
use crate::tensor::Tensor;

/// The weight bases of the original script, plus LSUV's orthogonal one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// Whitened principal directions: S Vᵀ.
    Pca,
    /// Zero-phase whitening filters: rows of V S Vᵀ.
    Zca,
    /// Mini-batch k-means centres of whitened, normalised patches, projected back.
    Kmeans,
    /// Random whitened, normalised patches, projected back.
    Rand,
    /// An orthonormal basis (QR of a Gaussian matrix); needs no data.
    Orthogonal,
}

/// Largest input dimension whose covariance is eigendecomposed; above it the layer falls back to
/// Gaussian weights (an n³ decomposition of e.g. AlexNet fc6's 9216 inputs would dominate the run).
pub const MAX_DIM: usize = 4096;

/// Largest n_out²·dim of an orthonormal basis built by QR (about a second of work).
pub const MAX_QR_WORK: f64 = 2e9;

/// Patches per layer group at most with `fast_` (the full variants use all that fit in
/// `--mem-limit`): fewer samples make the covariance, and k-means, cheaper and noisier.
pub fn fast_samples(dim: usize, n_out: usize) -> usize {
    4 * dim.max(n_out)
}

/// Input dimension per group and number of groups of a weighted layer, or `None` when the
/// layer type has no data-driven basis (Deconvolution).
pub fn layout(layer: &Layer) -> Option<(usize, usize)> {
    match layer {
        Layer::Convolution(c) => Some((c.fan_in(), c.p.group)),
        Layer::InnerProduct(ip) => Some((ip.k, 1)),
        _ => None,
    }
}

/// Gathers up to `max_rows` input patches of group `g` of `layer` from its bottom activations
/// (one tensor per batch), choosing which ones with a seeded random subset. Returns the rows
/// (each `dim` long) and their count.
pub fn gather(
    layer: &Layer,
    bottoms: &[&Tensor],
    g: usize,
    max_rows: usize,
    rng: &mut Rng,
) -> (Vec<f32>, usize) {
    let (dim, _) = layout(layer).expect("gather is only called for conv and inner product layers");
    match layer {
        Layer::Convolution(c) => {
            let geom = c.geom().patch();
            let (per_image, n) = (geom.col_cols(), bottoms[0].shape()[0]);
            let total = per_image * n * bottoms.len();
            let keep = select(total, max_rows, rng);
            let mut rows = Vec::with_capacity(keep.len() * dim);
            let mut col = vec![0.0f32; geom.col_rows() * per_image];
            let mut next = 0;
            for (b, t) in bottoms.iter().enumerate() {
                for i in 0..n {
                    let base = (b * n + i) * per_image;
                    if next >= keep.len() || keep[next] >= base + per_image {
                        continue;
                    }
                    let img = &t.data()[i * geom.image_len()..(i + 1) * geom.image_len()];
                    crate::kernels::im2col::im2col(&geom, img, &mut col);
                    while next < keep.len() && keep[next] < base + per_image {
                        let p = keep[next] - base;
                        rows.extend((g * dim..(g + 1) * dim).map(|r| col[r * per_image + p]));
                        next += 1;
                    }
                }
            }
            (rows, keep.len())
        }
        Layer::InnerProduct(ip) => {
            let total = ip.rows * bottoms.len();
            let keep = select(total, max_rows, rng);
            let mut rows = Vec::with_capacity(keep.len() * dim);
            for &k in &keep {
                let (b, r) = (k / ip.rows, k % ip.rows);
                rows.extend_from_slice(&bottoms[b].data()[r * dim..(r + 1) * dim]);
            }
            (rows, keep.len())
        }
        _ => (Vec::new(), 0),
    }
}

/// A sorted, seeded random subset of `min(total, want)` indices of `0..total` (selection
/// sampling: every subset equally likely).
fn select(total: usize, want: usize, rng: &mut Rng) -> Vec<usize> {
    if want >= total {
        return (0..total).collect();
    }
    let mut out = Vec::with_capacity(want);
    for i in 0..total {
        let (left, need) = (total - i, want - out.len());
        if need == 0 {
            break;
        }
        if (rng.uniform_f64() * left as f64) < need as f64 {
            out.push(i);
        }
    }
    out
}

/// `n_out` weight rows of length `dim` from the sampled patches `d` (`rows` × `dim`), or `None`
/// with the reason when the basis cannot be formed (too few samples, too many outputs).
pub fn weights(
    basis: Basis,
    d: &[f32],
    rows: usize,
    dim: usize,
    n_out: usize,
    rng: &mut Rng,
) -> Result<Vec<f64>, String> {
    if basis == Basis::Orthogonal {
        // Gram–Schmidt costs n_out²·dim: AlexNet's fc6 (4096 × 9216) would take minutes.
        if (n_out * n_out) as f64 * dim as f64 > MAX_QR_WORK {
            return Err(format!("a {n_out}×{dim} orthonormal basis is too large to build here"));
        }
        return Ok(orthonormal(n_out, dim, rng));
    }
    if n_out > dim {
        return Err(format!("{n_out} outputs exceed the {dim} input dimensions"));
    }
    if rows < n_out {
        return Err(format!("only {rows} patches for {n_out} outputs"));
    }
    if dim > MAX_DIM {
        return Err(format!("{dim} input dimensions are too many to whiten (limit {MAX_DIM})"));
    }
    let (mean, cov) = covariance(d, rows, dim);
    let (s, v) = whitening(&cov, dim, n_out);
    // v: dim × n_out (columns = kept eigenvectors); s: n_out whitening factors.
    let sv_t = |out: &mut Vec<f64>, coeffs: &[f64]| {
        // Row of (coeffs · S Vᵀ): Σ_j coeffs[j] s_j V[:, j].
        let mut row = vec![0.0; dim];
        for (j, &c) in coeffs.iter().enumerate() {
            let f = c * s[j];
            if f != 0.0 {
                for (r, x) in row.iter_mut().enumerate() {
                    *x += f * v[r * n_out + j];
                }
            }
        }
        out.extend(row);
    };
    let mut w = Vec::with_capacity(n_out * dim);
    match basis {
        Basis::Pca => {
            for k in 0..n_out {
                let mut e = vec![0.0; n_out];
                e[k] = 1.0;
                sv_t(&mut w, &e);
            }
        }
        Basis::Zca => {
            // Rows of V S Vᵀ, one per output, evenly spread over the input dimensions.
            for k in 0..n_out {
                let r = k * dim / n_out;
                let coeffs: Vec<f64> = (0..n_out).map(|j| v[r * n_out + j]).collect();
                sv_t(&mut w, &coeffs);
            }
        }
        Basis::Kmeans | Basis::Rand => {
            // Whiten the centred patches: wD = (D − μ) V S, rows L2-normalised.
            let mut wd = vec![0.0f64; rows * n_out];
            for i in 0..rows {
                let x = &d[i * dim..(i + 1) * dim];
                let out = &mut wd[i * n_out..(i + 1) * n_out];
                for (r, (&xv, &m)) in x.iter().zip(&mean).enumerate() {
                    let c = f64::from(xv) - m;
                    if c != 0.0 {
                        let vr = &v[r * n_out..(r + 1) * n_out];
                        for (o, &vv) in out.iter_mut().zip(vr) {
                            *o += c * vv;
                        }
                    }
                }
                let mut norm = 0.0f64;
                for (o, &sj) in out.iter_mut().zip(&s) {
                    *o *= sj;
                    norm += *o * *o;
                }
                let norm = norm.sqrt();
                if norm > 0.0 {
                    out.iter_mut().for_each(|o| *o /= norm);
                }
            }
            let centres = if basis == Basis::Kmeans {
                kmeans(&wd, rows, n_out, n_out, rng, 100)
            } else {
                let pick = select(rows, n_out, rng);
                pick.iter().flat_map(|&i| wd[i * n_out..(i + 1) * n_out].to_vec()).collect()
            };
            for k in 0..n_out {
                sv_t(&mut w, &centres[k * n_out..(k + 1) * n_out]);
            }
        }
        Basis::Orthogonal => unreachable!("handled above"),
    }
    Ok(w)
}

/// Writes per-group weight rows into a layer's weight blob (convolution (M, C/g, kh, kw) with
/// group g owning rows g·M/g…; inner product (M, K) or, transposed, (K, M)).
pub fn place(layer: &Layer, blob: &mut Tensor, group: usize, rows: &[f64]) {
    let shape = blob.shape().to_vec();
    let data = blob.data_mut();
    match layer {
        Layer::InnerProduct(ip) if ip.transpose => {
            let (k, m) = (shape[0], shape[1]);
            for o in 0..m {
                for i in 0..k {
                    data[i * m + o] = rows[o * k + i] as f32;
                }
            }
        }
        _ => {
            let per = count(&shape[1..]);
            let groups = layout(layer).map_or(1, |(_, g)| g);
            let m = shape[0] / groups;
            for (o, row) in rows.chunks(per).enumerate().take(m) {
                let dst = &mut data[(group * m + o) * per..(group * m + o + 1) * per];
                for (d, &r) in dst.iter_mut().zip(row) {
                    *d = r as f32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_is_a_sorted_subset_of_the_right_size() {
        let mut rng = Rng::new(1);
        let s = select(1000, 37, &mut rng);
        assert_eq!(s.len(), 37);
        assert!(s.windows(2).all(|w| w[0] < w[1]) && *s.last().unwrap() < 1000);
        assert_eq!(select(5, 10, &mut rng), vec![0, 1, 2, 3, 4]);
        let mut a = Rng::new(3);
        let mut b = Rng::new(3);
        assert_eq!(select(500, 20, &mut a), select(500, 20, &mut b));
    }

    #[test]
    fn pca_rows_decorrelate_the_data() {
        // 3-D data with a known covariance; the PCA rows must whiten it.
        let mut rng = Rng::new(5);
        let mix = [2.0, 0.0, 0.0, 1.0, 0.5, 0.0, 0.3, -0.2, 0.1];
        let rows = 4000;
        let mut d = Vec::with_capacity(rows * 3);
        for _ in 0..rows {
            let z = [rng.gaussian_f64(), rng.gaussian_f64(), rng.gaussian_f64()];
            for r in 0..3 {
                d.push((0..3).map(|c| mix[r * 3 + c] * z[c]).sum::<f64>() as f32 + 1.0);
            }
        }
        let w = weights(Basis::Pca, &d, rows, 3, 3, &mut rng).unwrap();
        // Project: y = W (x − μ); the covariance of y must be diagonal, variances ≈ 1/(1 + 1e-3/s)·rows.
        let (mean, _) = covariance(&d, rows, 3);
        let mut cov = [0.0f64; 9];
        for i in 0..rows {
            let x: Vec<f64> = (0..3).map(|c| f64::from(d[i * 3 + c]) - mean[c]).collect();
            let y: Vec<f64> = (0..3).map(|k| (0..3).map(|c| w[k * 3 + c] * x[c]).sum()).collect();
            for a in 0..3 {
                for b in 0..3 {
                    cov[a * 3 + b] += y[a] * y[b];
                }
            }
        }
        for a in 0..3 {
            assert!((cov[a * 4] - 1.0).abs() < 0.05, "variance {a}: {}", cov[a * 4]);
            for b in 0..3 {
                if a != b {
                    assert!(cov[a * 3 + b].abs() < 1e-6, "covariance {a},{b}: {}", cov[a * 3 + b]);
                }
            }
        }
    }

    #[test]
    fn fallbacks_say_why() {
        let mut rng = Rng::new(1);
        assert!(weights(Basis::Pca, &[0.0; 6], 2, 3, 3, &mut rng)
            .unwrap_err()
            .contains("only 2 patches"));
        assert!(weights(Basis::Kmeans, &[0.0; 6], 3, 2, 3, &mut rng)
            .unwrap_err()
            .contains("exceed"));
        assert_eq!(weights(Basis::Orthogonal, &[], 0, 4, 3, &mut rng).unwrap().len(), 12);
        assert!(weights(Basis::Orthogonal, &[], 0, 9216, 4096, &mut rng)
            .unwrap_err()
            .contains("too large"));
    }
}
