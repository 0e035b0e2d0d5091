//! Dense f64 linear algebra for the data-driven weight bases: symmetric eigen-decomposition,
//! covariance, PCA whitening, mini-batch k-means and random orthonormal matrices.
//!
//! All matrices are row-major `Vec<f64>` / slices with explicit dimensions.
//!
//! # Symmetric eigen-decomposition
//!
//! [`symmetric_eigen`] is the classic two-phase scheme:
//!
//! 1. **Householder tridiagonalisation** `A = Q T Qᵀ`. Step `k` builds a reflector
//!    `H = I − β v vᵀ` mapping row `k` right of the diagonal onto `α e₁`, then updates the
//!    trailing block `B ← H B H = B − v qᵀ − q vᵀ` with `p = β B v`, `q = p − (β/2)(vᵀp) v`.
//!    The matrix is kept in full (both triangles) so that every access is a contiguous row
//!    segment, and the rank-2 update of step `k` is fused with the matrix–vector product of
//!    step `k+1`: each trailing row is updated and immediately dotted with the next reflector
//!    while it is in L1, so the O(n³) phase streams the trailing block once per step.
//! 2. **Back-accumulation of Q** = `H₀ H₁ ⋯ H_{n−2}`, applied right-to-left to the identity.
//!    Q is stored as contiguous panels of `STRIP` (32) columns; each panel stays in L2 while all
//!    reflectors pass over it.
//! 3. **Implicit QL with Wilkinson shifts** on the tridiagonal `T` (eigenvalues only touch the
//!    O(n) diagonals). The Givens rotations of every sweep are recorded instead of being applied
//!    immediately; they are then replayed on `Qᵀ` (rows = eigenvector index, same panel
//!    layout), each panel kept in L2 while the whole rotation list streams past it.
//! 4. Eigenvalues are sorted ascending and the eigenvectors permuted accordingly.

use crate::rng::Rng;

/// Panel width (columns) for the cache-blocked reflector and rotation passes.
const STRIP: usize = 32;

/// Rotations buffered before being replayed on the eigenvector matrix (bounds memory use).
const MAX_PENDING_ROTATIONS: usize = 1 << 22;

/// Dot product with eight independent accumulators (vectorises; fixed summation order).
fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f64; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Householder reduction of the symmetric `n×n` matrix `w` (full storage, overwritten) to
/// tridiagonal form. Returns `(d, e, betas)`: the diagonal, the sub-diagonal (`e[k]` couples
/// `k` and `k+1`, `e[n−1] = 0`) and the reflector scales; reflector `k`'s vector is left in
/// `w[k][k+1..n]` (unused when `betas[k] == 0`).
fn tridiagonalise(w: &mut [f64], n: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut d = vec![0.0; n];
    let mut e = vec![0.0; n];
    let mut betas = vec![0.0; n];
    // The pending (not yet applied) rank-2 update of the previous step: B -= v qᵀ + q vᵀ.
    let mut vprev = vec![0.0; n];
    let mut qprev = vec![0.0; n];
    let mut has_prev = false;
    let mut vcur = vec![0.0; n];
    let mut p = vec![0.0; n];
    for k in 0..n {
        if has_prev {
            let (a, b) = (vprev[k], qprev[k]);
            let row = &mut w[k * n + k..(k + 1) * n];
            for ((x, &qv), &vv) in row.iter_mut().zip(&qprev[k..n]).zip(&vprev[k..n]) {
                *x -= a * qv + b * vv;
            }
        }
        d[k] = w[k * n + k];
        if k + 1 == n {
            break;
        }
        let x = &w[k * n + k + 1..(k + 1) * n];
        let x0 = x[0];
        let tail2: f64 = x[1..].iter().map(|t| t * t).sum();
        let beta = if tail2 == 0.0 {
            e[k] = x0;
            0.0
        } else {
            let sigma = (x0 * x0 + tail2).sqrt();
            let alpha = if x0 >= 0.0 { -sigma } else { sigma };
            e[k] = alpha;
            vcur[k + 1] = x0 - alpha;
            vcur[k + 2..n].copy_from_slice(&x[1..]);
            1.0 / (sigma * (sigma + x0.abs()))
        };
        betas[k] = beta;
        if beta != 0.0 {
            w[k * n + k + 1..(k + 1) * n].copy_from_slice(&vcur[k + 1..n]);
        } else if !has_prev {
            continue;
        }
        let v = &vcur[k + 1..n];
        for j in k + 1..n {
            let row = &mut w[j * n + k + 1..(j + 1) * n];
            if has_prev {
                let (a, b) = (vprev[j], qprev[j]);
                for ((x, &qv), &vv) in row.iter_mut().zip(&qprev[k + 1..n]).zip(&vprev[k + 1..n]) {
                    *x -= a * qv + b * vv;
                }
            }
            p[j] = if beta != 0.0 { beta * dot(row, v) } else { 0.0 };
        }
        if beta != 0.0 {
            let kk = 0.5 * beta * dot(v, &p[k + 1..n]);
            for j in k + 1..n {
                qprev[j] = p[j] - kk * vcur[j];
                vprev[j] = vcur[j];
            }
            has_prev = true;
        } else {
            has_prev = false;
        }
    }
    (d, e, betas)
}

/// Forms `Q = H₀ H₁ ⋯ H_{n−2}` from the reflectors left in `w` by [`tridiagonalise`], in
/// [`STRIP`]-column panel layout (see [`panel_index`]; padding columns are zero).
fn accumulate_q(w: &[f64], betas: &[f64], n: usize, np: usize) -> Vec<f64> {
    let mut m = vec![0.0; n * np];
    for i in 0..n {
        m[panel_index(n, i, i)] = 1.0;
    }
    for (pi, panel) in m.chunks_exact_mut(n * STRIP).enumerate() {
        let s = pi * STRIP;
        for k in (0..n.saturating_sub(1)).rev() {
            let beta = betas[k];
            // Columns c <= k are still e_c with zeros below row k: unaffected by H_k.
            if beta == 0.0 || s + STRIP <= k + 1 {
                continue;
            }
            let v = &w[k * n + k + 1..(k + 1) * n];
            let rows = &mut panel[(k + 1) * STRIP..];
            let mut acc = [0.0f64; STRIP];
            for (&vt, row) in v.iter().zip(rows.chunks_exact(STRIP)) {
                for b in 0..STRIP {
                    acc[b] += vt * row[b];
                }
            }
            for a in acc.iter_mut() {
                *a *= beta;
            }
            for (&vt, row) in v.iter().zip(rows.chunks_exact_mut(STRIP)) {
                for b in 0..STRIP {
                    row[b] -= vt * acc[b];
                }
            }
        }
    }
    m
}

/// Position of element (`row`, `col`) of an `n`-row matrix stored as contiguous panels of
/// [`STRIP`] columns (panel-major, then row, then column within the panel): each panel is a
/// compact `n×STRIP` block that stays in cache while a long sequence of row operations passes.
fn panel_index(n: usize, row: usize, col: usize) -> usize {
    (col / STRIP) * n * STRIP + row * STRIP + col % STRIP
}

/// One recorded QL sweep: rotations on row pairs `(i, i+1)` for `i = top, top−1, …`.
struct Sweep {
    top: usize,
    start: usize,
    count: usize,
}

/// Replays the recorded rotations on the rows of `zt` (`n` rows in [`STRIP`]-column panel
/// layout), panel by panel.
fn apply_rotations(zt: &mut [f64], n: usize, sweeps: &[Sweep], cs: &[[f64; 2]]) {
    for panel in zt.chunks_exact_mut(n * STRIP) {
        for sw in sweeps {
            if sw.count == 0 {
                continue;
            }
            let mut carry = [0.0f64; STRIP];
            carry.copy_from_slice(&panel[(sw.top + 1) * STRIP..][..STRIP]);
            for (r, &[c, sn]) in cs[sw.start..sw.start + sw.count].iter().enumerate() {
                let i = sw.top - r;
                let (x, next) = panel[i * STRIP..(i + 2) * STRIP].split_at_mut(STRIP);
                let mut newc = [0.0f64; STRIP];
                for b in 0..STRIP {
                    let xb = x[b];
                    next[b] = sn * xb + c * carry[b];
                    newc[b] = c * xb - sn * carry[b];
                }
                carry = newc;
            }
            let last = sw.top + 1 - sw.count;
            panel[last * STRIP..][..STRIP].copy_from_slice(&carry);
        }
    }
}

/// Implicit QL with Wilkinson shifts on the tridiagonal (`d`, `e`); the eigenvalues are left in
/// `d` (unsorted) and every Givens rotation is applied to the rows of `zt` (`n` rows in
/// [`STRIP`]-column panel layout): row `i` of `zt` ends up as the eigenvector of `d[i]` when
/// `zt` starts as `Qᵀ`.
fn tridiagonal_ql(d: &mut [f64], e: &mut [f64], zt: &mut [f64]) {
    let n = d.len();
    if n == 0 {
        return;
    }
    e[n - 1] = 0.0;
    let mut sweeps: Vec<Sweep> = Vec::new();
    let mut cs: Vec<[f64; 2]> = Vec::new();
    for l in 0..n {
        let mut iter = 0;
        loop {
            let mut m = l;
            while m + 1 < n {
                let em = e[m].abs();
                if em <= f64::MIN_POSITIVE
                    || em <= f64::EPSILON * (d[m].abs().sqrt() * d[m + 1].abs().sqrt())
                {
                    break;
                }
                m += 1;
            }
            if m == l {
                break;
            }
            iter += 1;
            if iter > 200 {
                // Pathological non-convergence: accept the current approximation.
                e[l] = 0.0;
                continue;
            }
            // Wilkinson-type shift from the leading 2×2 block.
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0f64, 1.0f64, 0.0f64);
            let start = cs.len();
            let mut underflow = false;
            let mut i = m;
            while i > l {
                i -= 1;
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    underflow = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
                cs.push([c, s]);
            }
            sweeps.push(Sweep { top: m - 1, start, count: cs.len() - start });
            if cs.len() >= MAX_PENDING_ROTATIONS {
                apply_rotations(zt, n, &sweeps, &cs);
                sweeps.clear();
                cs.clear();
            }
            if underflow {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    apply_rotations(zt, n, &sweeps, &cs);
}

/// All eigenvalues (ascending) and eigenvectors of the symmetric `n×n` matrix `a` (row-major;
/// only its symmetric part is used). Column `j` of the returned row-major `n×n` matrix is the
/// unit eigenvector of eigenvalue `j`. Householder tridiagonalisation + implicit QL; see the
/// module documentation.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    debug_assert_eq!(a.len(), n * n);
    if n == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut w = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            w[i * n + j] = 0.5 * (a[i * n + j] + a[j * n + i]);
        }
    }
    let (mut d, mut e, betas) = tridiagonalise(&mut w, n);
    let np = n.div_ceil(STRIP) * STRIP;
    let q = accumulate_q(&w, &betas, n, np);
    drop(w);
    // zt = Qᵀ: row i holds column i of Q (the basis vector the QL rotations act on).
    let mut zt = vec![0.0; n * np];
    for r in 0..n {
        for c in 0..n {
            zt[panel_index(n, c, r)] = q[panel_index(n, r, c)];
        }
    }
    drop(q);
    tridiagonal_ql(&mut d, &mut e, &mut zt);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| d[x].total_cmp(&d[y]).then(x.cmp(&y)));
    let values: Vec<f64> = order.iter().map(|&i| d[i]).collect();
    let mut vectors = vec![0.0; n * n];
    for (j, &src) in order.iter().enumerate() {
        for r in 0..n {
            vectors[r * n + j] = zt[panel_index(n, src, r)];
        }
    }
    (values, vectors)
}

/// Column means of the `rows×cols` f32 matrix `d` and the centred scatter matrix
/// `(D − μ)ᵀ(D − μ)` (`cols×cols`, NOT divided by `rows`), both accumulated in f64.
/// Cache-blocked: blocks of rows are centred into packed f64 panels and multiplied with a 4×8
/// register tile over the upper triangle, which is then mirrored.
pub fn covariance(d: &[f32], rows: usize, cols: usize) -> (Vec<f64>, Vec<f64>) {
    const P: usize = 8;
    const RB: usize = 256;
    debug_assert_eq!(d.len(), rows * cols);
    let means = column_means(d, rows, cols);
    let np = cols.div_ceil(P);
    let cp = np * P;
    let mut acc = vec![0.0f64; cp * cp];
    let mut pack = vec![0.0f64; np * RB * P];
    for r0 in (0..rows).step_by(RB) {
        let rb = RB.min(rows - r0);
        for r in 0..rb {
            let src = &d[(r0 + r) * cols..(r0 + r + 1) * cols];
            for (pi, (chunk, mu)) in src.chunks(P).zip(means.chunks(P)).enumerate() {
                let dst = &mut pack[pi * RB * P + r * P..][..chunk.len()];
                for ((o, &x), &m) in dst.iter_mut().zip(chunk).zip(mu) {
                    *o = f64::from(x) - m;
                }
            }
        }
        for pi in 0..np {
            let a_panel = &pack[pi * RB * P..][..rb * P];
            for pj in pi..np {
                let b_panel = &pack[pj * RB * P..][..rb * P];
                for h in 0..2 {
                    let mut t = [[0.0f64; P]; 4];
                    for (a, b) in a_panel.chunks_exact(P).zip(b_panel.chunks_exact(P)) {
                        for ii in 0..4 {
                            let ai = a[4 * h + ii];
                            for jj in 0..P {
                                t[ii][jj] += ai * b[jj];
                            }
                        }
                    }
                    for (ii, trow) in t.iter().enumerate() {
                        let dst = &mut acc[(pi * P + 4 * h + ii) * cp + pj * P..][..P];
                        for (o, &v) in dst.iter_mut().zip(trow) {
                            *o += v;
                        }
                    }
                }
            }
        }
    }
    let mut c = vec![0.0; cols * cols];
    for i in 0..cols {
        for j in i..cols {
            let v = acc[i * cp + j];
            c[i * cols + j] = v;
            c[j * cols + i] = v;
        }
    }
    (means, c)
}

/// Column means in f64 (zeros when `rows == 0`).
fn column_means(d: &[f32], rows: usize, cols: usize) -> Vec<f64> {
    let mut means = vec![0.0f64; cols];
    for row in d.chunks_exact(cols.max(1)).take(rows) {
        for (m, &x) in means.iter_mut().zip(row) {
            *m += f64::from(x);
        }
    }
    if rows > 0 {
        for m in means.iter_mut() {
            *m /= rows as f64;
        }
    }
    means
}

/// Naive twin of [`covariance`]: plain triple loop in f64.
pub fn covariance_naive(d: &[f32], rows: usize, cols: usize) -> (Vec<f64>, Vec<f64>) {
    let means = column_means(d, rows, cols);
    let mut c = vec![0.0; cols * cols];
    for i in 0..cols {
        for j in 0..cols {
            let mut s = 0.0;
            for r in 0..rows {
                s += (f64::from(d[r * cols + i]) - means[i])
                    * (f64::from(d[r * cols + j]) - means[j]);
            }
            c[i * cols + j] = s;
        }
    }
    (means, c)
}

/// PCA whitening basis of the `n×n` covariance `cov`: returns `(s, v_keep)` for the `keep`
/// largest eigenvalues (clamped to `n`), in ascending order, with `s = 0` where the eigenvalue is
/// below 1e-6 and `1/sqrt(λ + 1e-3)` otherwise; `v_keep` is `n×keep` (column `j` = eigenvector
/// of `s[j]`). Whitened data is `(D − μ) · v_keep · diag(s)`.
pub fn whitening(cov: &[f64], n: usize, keep: usize) -> (Vec<f64>, Vec<f64>) {
    let keep = keep.min(n);
    let (values, vectors) = symmetric_eigen(cov, n);
    let first = n - keep;
    let s = values[first..]
        .iter()
        .map(|&l| if l < 1e-6 { 0.0 } else { 1.0 / (l + 1e-3).sqrt() })
        .collect();
    let mut v = vec![0.0; n * keep];
    for r in 0..n {
        v[r * keep..(r + 1) * keep].copy_from_slice(&vectors[r * n + first..(r + 1) * n]);
    }
    (s, v)
}

/// Squared Euclidean distance.
fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Mini-batch k-means (Sculley 2010) on the `rows×dim` matrix `data`; returns `k×dim` centres.
///
/// Seeding: k-means++ on a random sample of `min(rows, max(k, 3·batch))` rows. Then up to
/// `max_iter` iterations, each drawing a batch of `min(10·k, rows)` rows (with replacement),
/// assigning them to their nearest centre and moving that centre towards each point with a
/// per-centre learning rate `1/count`. Stops early once the mean squared centre shift of an
/// iteration drops below `1e-7` times the sample's total variance. Deterministic given `rng`.
pub fn kmeans(
    data: &[f64],
    rows: usize,
    dim: usize,
    k: usize,
    rng: &mut Rng,
    max_iter: usize,
) -> Vec<f64> {
    debug_assert_eq!(data.len(), rows * dim);
    let mut centres = vec![0.0; k * dim];
    if rows == 0 || k == 0 || dim == 0 {
        return centres;
    }
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let batch = (10 * k).min(rows);
    // Sample without replacement (partial Fisher–Yates).
    let sample_size = (3 * batch).max(k).min(rows);
    let mut perm: Vec<usize> = (0..rows).collect();
    for i in 0..sample_size {
        let j = i + rng.below((rows - i) as u64) as usize;
        perm.swap(i, j);
    }
    let sample = &perm[..sample_size];
    // k-means++ seeding.
    let first = sample[rng.below(sample_size as u64) as usize];
    centres[..dim].copy_from_slice(row(first));
    let mut best: Vec<f64> = sample.iter().map(|&i| dist2(row(i), &centres[..dim])).collect();
    for c in 1..k {
        let total: f64 = best.iter().sum();
        let pick = if total > 0.0 {
            let u = rng.uniform_f64() * total;
            let mut cum = 0.0;
            let mut pick = sample_size - 1;
            for (t, &b) in best.iter().enumerate() {
                cum += b;
                if cum > u && b > 0.0 {
                    pick = t;
                    break;
                }
            }
            pick
        } else {
            rng.below(sample_size as u64) as usize
        };
        centres[c * dim..(c + 1) * dim].copy_from_slice(row(sample[pick]));
        let cen = &centres[c * dim..(c + 1) * dim];
        for (b, &i) in best.iter_mut().zip(sample) {
            let d2 = dist2(row(i), cen);
            if d2 < *b {
                *b = d2;
            }
        }
    }
    // Stopping tolerance from the sample's total variance.
    let mut mean = vec![0.0; dim];
    for &i in sample {
        for (m, &x) in mean.iter_mut().zip(row(i)) {
            *m += x;
        }
    }
    for m in mean.iter_mut() {
        *m /= sample_size as f64;
    }
    let var = sample.iter().map(|&i| dist2(row(i), &mean)).sum::<f64>() / sample_size as f64;
    let tol = 1e-7 * var;
    let mut counts = vec![0u64; k];
    let mut cnorm = vec![0.0; k];
    let mut idx = vec![0usize; batch];
    let mut assign = vec![0usize; batch];
    let mut old = centres.clone();
    for _ in 0..max_iter {
        for t in idx.iter_mut() {
            *t = rng.below(rows as u64) as usize;
        }
        for (c, cn) in cnorm.iter_mut().enumerate() {
            let cen = &centres[c * dim..(c + 1) * dim];
            *cn = dot(cen, cen);
        }
        for (a, &i) in assign.iter_mut().zip(&idx) {
            let x = row(i);
            let mut bc = 0;
            let mut bd = f64::INFINITY;
            for (c, &cn) in cnorm.iter().enumerate() {
                let dd = cn - 2.0 * dot(x, &centres[c * dim..(c + 1) * dim]);
                if dd < bd {
                    bd = dd;
                    bc = c;
                }
            }
            *a = bc;
        }
        old.copy_from_slice(&centres);
        for (&c, &i) in assign.iter().zip(&idx) {
            counts[c] += 1;
            let eta = 1.0 / counts[c] as f64;
            for (m, &x) in centres[c * dim..(c + 1) * dim].iter_mut().zip(row(i)) {
                *m += eta * (x - *m);
            }
        }
        let shift = dist2(&centres, &old) / k as f64;
        if shift <= tol {
            break;
        }
    }
    centres
}

/// A `rows×cols` matrix with orthonormal rows (if `rows ≤ cols`) or orthonormal columns
/// (otherwise): the Q factor of a Gaussian matrix, by modified Gram–Schmidt applied twice
/// (as LSUV's orthogonal initialisation).
pub fn orthonormal(rows: usize, cols: usize, rng: &mut Rng) -> Vec<f64> {
    let (r, c) = if rows <= cols { (rows, cols) } else { (cols, rows) };
    let mut m: Vec<f64> = (0..r * c).map(|_| rng.gaussian_f64()).collect();
    for i in 0..r {
        let (done, rest) = m.split_at_mut(i * c);
        let cur = &mut rest[..c];
        for _pass in 0..2 {
            for prev in done.chunks_exact(c) {
                let proj = dot(cur, prev);
                for (x, &y) in cur.iter_mut().zip(prev) {
                    *x -= proj * y;
                }
            }
        }
        let norm = dot(cur, cur).sqrt();
        if norm > 0.0 {
            for x in cur.iter_mut() {
                *x /= norm;
            }
        }
    }
    if rows <= cols {
        return m;
    }
    let mut out = vec![0.0; rows * cols];
    for i in 0..r {
        for j in 0..c {
            out[j * cols + i] = m[i * c + j];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frobenius norm.
    fn fro(a: &[f64]) -> f64 {
        a.iter().map(|x| x * x).sum::<f64>().sqrt()
    }

    /// Q diag(λ) Qᵀ for a row-major orthogonal `q`.
    fn with_spectrum(q: &[f64], lambda: &[f64]) -> Vec<f64> {
        let n = lambda.len();
        let ql: Vec<f64> = (0..n * n).map(|t| q[t] * lambda[t % n]).collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = dot(&ql[i * n..(i + 1) * n], &q[j * n..(j + 1) * n]);
                a[i * n + j] = v;
                a[j * n + i] = v;
            }
        }
        a
    }

    /// Returns (‖AV − VΛ‖_F / ‖A‖_F, ‖VᵀV − I‖_F).
    fn eigen_errors(a: &[f64], n: usize, vals: &[f64], vecs: &[f64]) -> (f64, f64) {
        let mut res = 0.0;
        let mut av = vec![0.0; n];
        for i in 0..n {
            av.iter_mut().for_each(|x| *x = 0.0);
            for k in 0..n {
                let aik = a[i * n + k];
                for (o, &v) in av.iter_mut().zip(&vecs[k * n..(k + 1) * n]) {
                    *o += aik * v;
                }
            }
            for j in 0..n {
                let r = av[j] - vecs[i * n + j] * vals[j];
                res += r * r;
            }
        }
        let mut vt = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                vt[j * n + i] = vecs[i * n + j];
            }
        }
        let mut orth = 0.0;
        for i in 0..n {
            for j in 0..=i {
                let g = dot(&vt[i * n..(i + 1) * n], &vt[j * n..(j + 1) * n]);
                let r = g - if i == j { 1.0 } else { 0.0 };
                orth += if i == j { r * r } else { 2.0 * r * r };
            }
        }
        let an = fro(a);
        (res.sqrt() / if an > 0.0 { an } else { 1.0 }, orth.sqrt())
    }

    fn check_known_spectrum(lambda: &[f64], seed: u64, tol: f64) {
        let n = lambda.len();
        let mut rng = Rng::new(seed);
        let q = orthonormal(n, n, &mut rng);
        let a = with_spectrum(&q, lambda);
        let (vals, vecs) = symmetric_eigen(&a, n);
        let mut want = lambda.to_vec();
        want.sort_by(f64::total_cmp);
        let scale = lambda.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-300);
        for (g, w) in vals.iter().zip(&want) {
            assert!((g - w).abs() <= tol * scale, "n={n}: eigenvalue {g} vs {w}");
        }
        for pair in vals.windows(2) {
            assert!(pair[0] <= pair[1], "not ascending");
        }
        let (res, orth) = eigen_errors(&a, n, &vals, &vecs);
        assert!(res <= tol, "n={n}: residual {res}");
        assert!(orth <= tol * (n as f64).sqrt(), "n={n}: orthogonality {orth}");
    }

    #[test]
    fn eigen_two_by_two_by_hand() {
        // [[2, 1], [1, 2]] has eigenvalues 1, 3 with vectors (1, −1)/√2, (1, 1)/√2.
        let (vals, vecs) = symmetric_eigen(&[2.0, 1.0, 1.0, 2.0], 2);
        assert!((vals[0] - 1.0).abs() < 1e-14 && (vals[1] - 3.0).abs() < 1e-14, "{vals:?}");
        let h = 0.5f64.sqrt();
        assert!((vecs[0].abs() - h).abs() < 1e-14 && (vecs[2] + vecs[0]).abs() < 1e-14);
        assert!((vecs[1].abs() - h).abs() < 1e-14 && (vecs[3] - vecs[1]).abs() < 1e-14);
    }

    #[test]
    fn eigen_one_by_one_and_empty() {
        let (vals, vecs) = symmetric_eigen(&[-4.5], 1);
        assert_eq!(vals, vec![-4.5]);
        assert_eq!(vecs, vec![1.0]);
        let (vals, vecs) = symmetric_eigen(&[], 0);
        assert!(vals.is_empty() && vecs.is_empty());
    }

    #[test]
    fn eigen_diagonal_matrix() {
        let diag = [3.0, -1.0, 0.0, 7.5, 2.0, 2.0];
        let n = diag.len();
        let mut a = vec![0.0; n * n];
        for (i, &x) in diag.iter().enumerate() {
            a[i * n + i] = x;
        }
        let (vals, vecs) = symmetric_eigen(&a, n);
        assert_eq!(vals, vec![-1.0, 0.0, 2.0, 2.0, 3.0, 7.5]);
        let (res, orth) = eigen_errors(&a, n, &vals, &vecs);
        assert!(res < 1e-15 && orth < 1e-15, "{res} {orth}");
        // Each eigenvector of a simple eigenvalue is ± a unit vector.
        for (j, want_row) in [(0usize, 1usize), (1, 2), (4, 0), (5, 3)] {
            assert!((vecs[want_row * n + j].abs() - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn eigen_known_spectra_small() {
        check_known_spectrum(&[1.5], 1, 1e-12);
        check_known_spectrum(&[1.0, -2.0], 2, 1e-12);
        check_known_spectrum(&[5.0, 1.0, 1.0, 0.0, -3.0], 3, 1e-12);
        check_known_spectrum(&[0.0; 5], 4, 1e-12);
        check_known_spectrum(&[2.0; 5], 5, 1e-12);
    }

    #[test]
    fn eigen_known_spectra_medium() {
        // Distinct, repeated and zero eigenvalues (a rank-deficient covariance-like spectrum).
        let l50: Vec<f64> = (0..50).map(|i| if i < 10 { 0.0 } else { (i / 5) as f64 }).collect();
        check_known_spectrum(&l50, 6, 1e-12);
        let l300: Vec<f64> =
            (0..300).map(|i| if i % 7 == 0 { 0.0 } else { 1e3 * 0.97f64.powi(i) }).collect();
        check_known_spectrum(&l300, 7, 1e-12);
        let mixed: Vec<f64> = (0..300).map(|i| (i as f64 - 150.0) * 0.5).collect();
        check_known_spectrum(&mixed, 8, 1e-12);
    }

    #[test]
    fn eigen_known_spectrum_large() {
        let l: Vec<f64> =
            (0..1200).map(|i| if i < 200 { 0.0 } else { 1.0 / (1.0 + i as f64) }).collect();
        check_known_spectrum(&l, 9, 1e-11);
    }

    #[test]
    fn eigen_random_symmetric_matrix() {
        let n = 97;
        let mut rng = Rng::new(10);
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = rng.gaussian_f64();
                a[i * n + j] = v;
                a[j * n + i] = v;
            }
        }
        let (vals, vecs) = symmetric_eigen(&a, n);
        let (res, orth) = eigen_errors(&a, n, &vals, &vecs);
        assert!(res < 1e-13 && orth < 1e-12, "{res} {orth}");
        let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
        assert!((vals.iter().sum::<f64>() - trace).abs() < 1e-10);
    }

    fn random_data(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        (0..rows * cols).map(|i| (rng.below(17) as f32 - 5.0) * 0.5 + (i % cols) as f32).collect()
    }

    #[test]
    fn covariance_matches_naive() {
        for &(rows, cols) in &[(1, 1), (7, 3), (9, 9), (17, 13), (300, 17), (513, 40), (5, 0)] {
            let d = random_data(rows, cols, (rows * 31 + cols) as u64);
            let (m1, c1) = covariance(&d, rows, cols);
            let (m2, c2) = covariance_naive(&d, rows, cols);
            assert_eq!(m1, m2);
            let scale = c2.iter().fold(1.0f64, |m, x| m.max(x.abs()));
            for (x, y) in c1.iter().zip(&c2) {
                assert!((x - y).abs() <= 1e-12 * scale, "{rows}x{cols}: {x} vs {y}");
            }
            for i in 0..cols {
                for j in 0..cols {
                    assert_eq!(c1[i * cols + j], c1[j * cols + i]);
                }
            }
        }
        let (m, c) = covariance(&[], 0, 4);
        assert_eq!(m, vec![0.0; 4]);
        assert_eq!(c, vec![0.0; 16]);
    }

    #[test]
    fn whitening_gives_identity_covariance() {
        // Data = z · L with z ~ N(0, I) in 4 dims mixed into 6 (rank 4) plus an offset.
        let (rows, cols, rank) = (4000, 6, 4);
        let mut rng = Rng::new(11);
        let mix: Vec<f64> = (0..rank * cols).map(|_| 3.0 * rng.gaussian_f64()).collect();
        let mut d = vec![0.0f32; rows * cols];
        for r in 0..rows {
            let z: Vec<f64> = (0..rank).map(|_| rng.gaussian_f64()).collect();
            for c in 0..cols {
                let v: f64 = (0..rank).map(|t| z[t] * mix[t * cols + c]).sum();
                d[r * cols + c] = (v + 10.0 + c as f64) as f32;
            }
        }
        let (mean, cov) = covariance(&d, rows, cols);
        let keep = 5;
        let (s, v) = whitening(&cov, cols, keep);
        assert_eq!(s.len(), keep);
        assert_eq!(v.len(), cols * keep);
        // Only one of the kept eigenvalues (the smallest) is (numerically) zero: f32 rounding
        // leaves it at ~1e-3·rows at most, so it is either dropped or tiny-variance; the others
        // must whiten to unit variance, up to the 1e-3 regulariser.
        let mut w = vec![0.0; rows * keep];
        for r in 0..rows {
            for j in 0..keep {
                let mut acc = 0.0;
                for c in 0..cols {
                    acc += (f64::from(d[r * cols + c]) - mean[c]) * v[c * keep + j];
                }
                w[r * keep + j] = acc * s[j];
            }
        }
        for a in 1..keep {
            for b in 1..keep {
                let g: f64 = (0..rows).map(|r| w[r * keep + a] * w[r * keep + b]).sum();
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((g - want).abs() < 1e-6, "({a},{b}): {g}");
            }
        }
        assert!(s[1..].iter().all(|&x| x > 0.0));
    }

    #[test]
    fn whitening_zero_eigenvalues_and_order() {
        let cov = [4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        let (s, v) = whitening(&cov, 3, 3);
        assert_eq!(s[0], 0.0);
        assert!((s[1] - 1.0 / 1.001f64.sqrt()).abs() < 1e-14);
        assert!((s[2] - 1.0 / 4.001f64.sqrt()).abs() < 1e-14);
        assert!((v[2 * 3 + 1].abs() - 1.0).abs() < 1e-14);
        assert!((v[2].abs() - 1.0).abs() < 1e-14);
        let (s2, v2) = whitening(&cov, 3, 1);
        assert_eq!(s2, vec![s[2]]);
        assert_eq!(v2, vec![v[2], v[5], v[8]]);
    }

    fn planted(rng: &mut Rng, k: usize, dim: usize, per: usize) -> (Vec<f64>, Vec<f64>) {
        let truth: Vec<f64> = (0..k * dim).map(|_| 20.0 * rng.gaussian_f64()).collect();
        let mut data = Vec::with_capacity(k * per * dim);
        for p in 0..k * per {
            let c = p % k;
            for t in 0..dim {
                data.push(truth[c * dim + t] + 0.3 * rng.gaussian_f64());
            }
        }
        (truth, data)
    }

    #[test]
    fn kmeans_recovers_planted_clusters_deterministically() {
        let (k, dim, per) = (6, 5, 200);
        let (truth, data) = planted(&mut Rng::new(12), k, dim, per);
        let rows = k * per;
        let centres = kmeans(&data, rows, dim, k, &mut Rng::new(13), 100);
        assert_eq!(centres.len(), k * dim);
        for c in 0..k {
            let t = &truth[c * dim..(c + 1) * dim];
            let best = (0..k)
                .map(|f| dist2(t, &centres[f * dim..(f + 1) * dim]))
                .fold(f64::INFINITY, f64::min);
            assert!(best.sqrt() < 0.5, "true centre {c} missed by {}", best.sqrt());
        }
        let again = kmeans(&data, rows, dim, k, &mut Rng::new(13), 100);
        assert_eq!(centres, again);
        let other = kmeans(&data, rows, dim, k, &mut Rng::new(14), 100);
        assert_ne!(centres, other);
    }

    #[test]
    fn kmeans_degenerate_inputs() {
        // More centres than rows, and identical rows: must not panic, centres are data points.
        let data = [1.0, 2.0, 1.0, 2.0, 1.0, 2.0];
        let c = kmeans(&data, 3, 2, 5, &mut Rng::new(1), 10);
        assert_eq!(c.len(), 10);
        assert!(c.chunks(2).all(|x| x == [1.0, 2.0]));
        assert_eq!(kmeans(&[], 0, 3, 2, &mut Rng::new(1), 10), vec![0.0; 6]);
    }

    #[test]
    fn orthonormal_rows_and_columns() {
        for &(r, c) in &[(1, 1), (3, 7), (7, 3), (16, 16), (5, 40), (64, 9)] {
            let q = orthonormal(r, c, &mut Rng::new((r * 100 + c) as u64));
            assert_eq!(q.len(), r * c);
            // Gram matrix of the short side.
            let (m, stride, count) = if r <= c { (r, 1, c) } else { (c, c, r) };
            for a in 0..m {
                for b in 0..m {
                    let g: f64 = (0..count)
                        .map(|t| {
                            if r <= c {
                                q[a * c + t * stride] * q[b * c + t * stride]
                            } else {
                                q[t * stride + a] * q[t * stride + b]
                            }
                        })
                        .sum();
                    let want = if a == b { 1.0 } else { 0.0 };
                    assert!((g - want).abs() < 1e-13, "{r}x{c} ({a},{b}): {g}");
                }
            }
        }
        let a = orthonormal(4, 9, &mut Rng::new(5));
        assert_eq!(a, orthonormal(4, 9, &mut Rng::new(5)));
    }
}
