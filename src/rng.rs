//! The project's one pseudo-random number generator: xoshiro256** seeded through splitmix64,
//! with uniform, integer, Gaussian and Bernoulli draws and deterministic sub-streams (`fork`).
//!
//! Everything here is bit-for-bit reproducible across platforms: the integer core uses only
//! wrapping arithmetic, uniforms are exact dyadic fractions, and the Gaussian (Marsaglia's polar
//! method) uses only IEEE-exact operations plus `f64::ln` and `f64::sqrt`.

/// Golden-ratio increment of splitmix64.
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The splitmix64 output function (a bijective 64-bit mixer).
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One step of splitmix64: advances `state` and returns the next output.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(GOLDEN_GAMMA);
    mix64(*state)
}

/// A xoshiro256** generator. Cheap to clone; never shared globally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
    /// Second value of the last polar-method pair, returned by the next `gaussian_f64`.
    spare: Option<u64>,
}

impl Rng {
    /// A generator whose 256-bit state is filled by splitmix64 started at `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let s =
            [splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm)];
        Rng::from_state(s)
    }

    /// A generator with the given raw xoshiro256** state (an all-zero state, which would only
    /// ever produce zeros, is replaced by the state of `Rng::new(0)`).
    pub fn from_state(s: [u64; 4]) -> Rng {
        if s == [0; 4] {
            return Rng::new(0);
        }
        Rng { s, spare: None }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// The next 32 random bits (the high half of `next_u64`, the better-mixed bits).
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in [0, 1) with 24 random bits: a multiple of 2^-24, exactly representable.
    pub fn uniform_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in [0, 1) with 53 random bits: a multiple of 2^-53, exactly representable.
    pub fn uniform_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject). Panics if `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            // Reject the low products that would over-represent some outputs.
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// A standard normal sample in f64 (Marsaglia's polar method; values come in pairs, the
    /// second one is kept for the next call).
    pub fn gaussian_f64(&mut self) -> f64 {
        if let Some(bits) = self.spare.take() {
            return f64::from_bits(bits);
        }
        loop {
            let u = 2.0 * self.uniform_f64() - 1.0;
            let v = 2.0 * self.uniform_f64() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let m = (-2.0 * s.ln() / s).sqrt();
                self.spare = Some((v * m).to_bits());
                return u * m;
            }
        }
    }

    /// A standard normal sample rounded to f32.
    pub fn gaussian(&mut self) -> f32 {
        self.gaussian_f64() as f32
    }

    /// Fills `out` with independent N(mean, std^2) samples (computed in f64, rounded to f32).
    pub fn fill_gaussian(&mut self, out: &mut [f32], mean: f32, std: f32) {
        let (mean, std) = (f64::from(mean), f64::from(std));
        for x in out.iter_mut() {
            *x = (mean + std * self.gaussian_f64()) as f32;
        }
    }

    /// Fills `out` with independent samples uniform in [lo, hi) (computed in f64).
    pub fn fill_uniform(&mut self, out: &mut [f32], lo: f32, hi: f32) {
        let (lo, width) = (f64::from(lo), f64::from(hi) - f64::from(lo));
        for x in out.iter_mut() {
            *x = (lo + width * self.uniform_f64()) as f32;
        }
    }

    /// True with probability `p` (p <= 0 never, p >= 1 always).
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform_f64() < p
    }

    /// An independent generator for sub-stream `stream`, derived from this generator's current
    /// state without advancing it: the same (state, stream) always gives the same generator and
    /// different streams give unrelated ones (e.g. one per layer, or one per image index).
    pub fn fork(&self, stream: u64) -> Rng {
        let mut key = mix64(stream ^ 0x6A09_E667_F3BC_C909);
        let mut s = [0u64; 4];
        for (i, word) in s.iter_mut().enumerate() {
            let k = splitmix64(&mut key);
            *word = mix64(self.s[i] ^ k).wrapping_add(k.rotate_left(i as u32 * 16 + 7));
        }
        Rng::from_state(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_values() {
        // Published splitmix64 outputs for seed 1234567.
        let mut s = 1_234_567u64;
        let got: Vec<u64> = (0..5).map(|_| splitmix64(&mut s)).collect();
        assert_eq!(
            got,
            [
                6457827717110365317,
                3203168211198807973,
                9817491932198370423,
                4593380528125082431,
                16408922859458223821
            ]
        );
    }

    #[test]
    fn xoshiro256starstar_reference_values() {
        // Reference outputs of xoshiro256** for the raw state [1, 2, 3, 4].
        let mut r = Rng::from_state([1, 2, 3, 4]);
        let got: Vec<u64> = (0..10).map(|_| r.next_u64()).collect();
        assert_eq!(
            got,
            [
                11520,
                0,
                1509978240,
                1215971899390074240,
                1216172134540287360,
                607988272756665600,
                16172922978634559625,
                8476171486693032832,
                10595114339597558777,
                2904607092377533576
            ]
        );
    }

    #[test]
    fn frozen_first_outputs() {
        // Regression guard: changing these values changes every seeded result of the project.
        let mut r = Rng::new(42);
        let got: Vec<u64> = (0..4).map(|_| r.next_u64()).collect();
        assert_eq!(got, FROZEN_U64_SEED42);
        // Gaussians go through the platform's `ln`, so compare with a tiny tolerance instead of
        // bits (on x86-64 Linux they match exactly).
        let mut r = Rng::new(42);
        for want in FROZEN_GAUSS_SEED42 {
            let got = r.gaussian_f64();
            assert!((got - want).abs() <= 1e-13, "{got} vs {want}");
        }
        let f = Rng::new(42).fork(7).next_u64();
        assert_eq!(f, FROZEN_FORK7_SEED42);
    }

    const FROZEN_U64_SEED42: [u64; 4] =
        [1546998764402558742, 6990951692964543102, 12544586762248559009, 17057574109182124193];
    const FROZEN_GAUSS_SEED42: [f64; 4] =
        [-0.7262191382447857, -0.21119691823195985, 0.2216227015035933, 0.5227716877560146];
    const FROZEN_FORK7_SEED42: u64 = 12136853507437753234;

    #[test]
    fn reproducible_and_seed_sensitive() {
        let mut a = Rng::new(123);
        let mut b = Rng::new(123);
        let mut c = Rng::new(124);
        let va: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        let vc: Vec<u64> = (0..100).map(|_| c.next_u64()).collect();
        assert_eq!(va, vb);
        assert_ne!(va, vc);
    }

    #[test]
    fn all_zero_state_is_replaced() {
        let mut r = Rng::from_state([0; 4]);
        assert!((0..4).any(|_| r.next_u64() != 0));
    }

    #[test]
    fn uniform_ranges_and_mean() {
        let mut r = Rng::new(5);
        let n = 100_000;
        let (mut s32, mut s64) = (0.0f64, 0.0f64);
        for _ in 0..n {
            let a = r.uniform_f32();
            let b = r.uniform_f64();
            assert!((0.0..1.0).contains(&a));
            assert!((0.0..1.0).contains(&b));
            s32 += f64::from(a);
            s64 += b;
        }
        assert!((s32 / n as f64 - 0.5).abs() < 0.005);
        assert!((s64 / n as f64 - 0.5).abs() < 0.005);
        let mut buf = [0.0f32; 1000];
        r.fill_uniform(&mut buf, -2.0, 3.0);
        assert!(buf.iter().all(|&x| (-2.0..3.0).contains(&x)));
        assert!(buf.iter().any(|&x| x < 0.0) && buf.iter().any(|&x| x > 2.0));
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut r = Rng::new(9);
        let mut counts = [0usize; 7];
        for _ in 0..70_000 {
            let k = r.below(7);
            assert!(k < 7);
            counts[k as usize] += 1;
        }
        for &c in &counts {
            assert!((9_400..10_600).contains(&c), "{counts:?}");
        }
        assert_eq!(r.below(1), 0);
        // Large n exercises the rejection branch without bias checks.
        let big = (1u64 << 63) + 12345;
        for _ in 0..1000 {
            assert!(r.below(big) < big);
        }
    }

    #[test]
    #[should_panic(expected = "below(0)")]
    fn below_zero_panics() {
        Rng::new(1).below(0);
    }

    #[test]
    fn gaussian_moments() {
        let mut r = Rng::new(2024);
        let n = 100_000;
        let xs: Vec<f64> = (0..n).map(|_| r.gaussian_f64()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        let kurt = xs.iter().map(|x| (x - mean).powi(4)).sum::<f64>() / n as f64 / (var * var);
        assert!(mean.abs() < 0.015, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
        assert!((kurt - 3.0).abs() < 0.1, "kurtosis {kurt}");
        let within1 = xs.iter().filter(|x| x.abs() < 1.0).count() as f64 / n as f64;
        assert!((within1 - 0.6827).abs() < 0.01, "P(|x|<1) = {within1}");
    }

    #[test]
    fn fill_gaussian_mean_std() {
        let mut r = Rng::new(77);
        let mut buf = vec![0.0f32; 100_000];
        r.fill_gaussian(&mut buf, 3.0, 0.5);
        let n = buf.len() as f64;
        let mean = buf.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = buf.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
        assert!((mean - 3.0).abs() < 0.01, "mean {mean}");
        assert!((var.sqrt() - 0.5).abs() < 0.01, "std {}", var.sqrt());
    }

    #[test]
    fn bernoulli_rate_and_extremes() {
        let mut r = Rng::new(3);
        let hits = (0..100_000).filter(|_| r.bernoulli(0.3)).count();
        assert!((29_000..31_000).contains(&hits), "{hits}");
        assert!((0..1000).all(|_| !r.bernoulli(0.0)));
        assert!((0..1000).all(|_| r.bernoulli(1.0)));
    }

    #[test]
    fn fork_is_deterministic_independent_and_non_advancing() {
        let base = Rng::new(10);
        let before = base.clone();
        let mut f1 = base.fork(1);
        let mut f1b = base.fork(1);
        let mut f2 = base.fork(2);
        assert_eq!(base, before, "fork must not advance the parent");
        let a: Vec<u64> = (0..64).map(|_| f1.next_u64()).collect();
        let b: Vec<u64> = (0..64).map(|_| f1b.next_u64()).collect();
        let c: Vec<u64> = (0..64).map(|_| f2.next_u64()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut parent = base.clone();
        let p: Vec<u64> = (0..64).map(|_| parent.next_u64()).collect();
        assert!(a.iter().all(|x| !p.contains(x)));
        // Streams of neighbouring indices look unrelated: correlation of uniforms near zero.
        let mut g1 = base.fork(100);
        let mut g2 = base.fork(101);
        let n = 20_000;
        let mut sxy = 0.0;
        for _ in 0..n {
            sxy += (g1.uniform_f64() - 0.5) * (g2.uniform_f64() - 0.5);
        }
        let corr = sxy / n as f64 * 12.0;
        assert!(corr.abs() < 0.05, "corr {corr}");
    }
}
