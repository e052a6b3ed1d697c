//! A small deterministic random source (SplitMix64) and the skewed choices
//! the month is made of. Our own, so that a seed gives the same month on
//! every machine and every version of every crate.

/// SplitMix64: fast, good enough for synthetic logs, and fixed forever.
pub struct Rng(u64);

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A stream for one `(seed, parts...)`: the same parts give the same
    /// stream, whatever else was generated before.
    pub fn new(seed: u64, parts: &[u64]) -> Rng {
        let mut state = mix(seed ^ 0x5eed_5eed_5eed_5eed);
        for &part in parts {
            state = mix(state ^ mix(part.wrapping_add(0x9e37_79b9_7f4a_7c15)));
        }
        Rng(state)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Ranks `0..n` with probability proportional to `1 / (rank + 1)^s`: a few
/// users, addresses and jobs make most of the lines, as in real logs.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        Weighted::new(&(1..=n).map(|k| 1.0 / (k as f64).powf(s)).collect::<Vec<_>>()).into_zipf()
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        sample_cdf(&self.cdf, rng)
    }
}

/// A choice among items with the given weights.
pub struct Weighted {
    cdf: Vec<f64>,
}

impl Weighted {
    pub fn new(weights: &[f64]) -> Weighted {
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Weighted { cdf }
    }

    fn into_zipf(self) -> Zipf {
        Zipf { cdf: self.cdf }
    }

    pub fn sample(&self, rng: &mut Rng) -> usize {
        sample_cdf(&self.cdf, rng)
    }
}

fn sample_cdf(cdf: &[f64], rng: &mut Rng) -> usize {
    let u = rng.unit();
    cdf.partition_point(|&c| c <= u).min(cdf.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_depend_only_on_their_parts() {
        let a: Vec<u64> = (0..4).map({ let mut r = Rng::new(7, &[1, 2]); move |_| r.next_u64() }).collect();
        let b: Vec<u64> = (0..4).map({ let mut r = Rng::new(7, &[1, 2]); move |_| r.next_u64() }).collect();
        let c: Vec<u64> = (0..4).map({ let mut r = Rng::new(7, &[2, 1]); move |_| r.next_u64() }).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn zipf_favours_the_first_ranks() {
        let z = Zipf::new(1000, 1.1);
        let mut rng = Rng::new(1, &[]);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[z.sample(&mut rng)] += 1;
        }
        assert!(counts[0] > counts[9] * 5, "{} vs {}", counts[0], counts[9]);
        assert!(counts[999] < counts[0] / 100);
    }
}
