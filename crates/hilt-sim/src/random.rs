//! The simulation's one source of seeded randomness: SplitMix64, a small,
//! well-spread generator (Steele, Lea and Flood, 2014). Every random choice
//! of a run (a link's drops, a power cut's chunk, a flash's garbage, a
//! fuzzer's mutation) comes from the scenario's seed through it, so a run
//! is the same every time. Eight lines of arithmetic, so our own rather
//! than a dependency whose algorithm could change under a version bump and
//! with it every seeded transcript.

/// A SplitMix64 generator; the same seed gives the same numbers.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// The generator for `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The next number as a fraction in `[0, 1)`, from its top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number below `bound` (which must not be 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    /// The first outputs for seed 1234567, from the reference C code
    /// (splitmix64.c); a change here would change every seeded run.
    #[test]
    fn it_is_the_reference_splitmix64() {
        let mut random = SplitMix64::new(1_234_567);
        assert_eq!(random.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(random.next_u64(), 3_203_168_211_198_807_973);
        assert_eq!(random.next_u64(), 9_817_491_932_198_370_423);
    }

    #[test]
    fn fractions_are_below_one_and_bounded_numbers_below_their_bound() {
        let mut random = SplitMix64::new(7);
        for _ in 0..1000 {
            let fraction = random.next_f64();
            assert!((0.0..1.0).contains(&fraction));
            assert!(random.below(13) < 13);
        }
    }
}
