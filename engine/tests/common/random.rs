//! Seeded pseudo-random numbers, so generated test inputs are the same on every run.

/// Knuth's MMIX linear congruential generator.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next number below `bound`, from the state's upper bits.
    pub fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}
