//! Shared by the split-invariance targets: turns the fuzzer's bytes into a small header and a
//! body, and cuts the body into reads whose sizes the header's seed chooses.

/// `flags`, `read_size` and an 8-byte seed, then the body.
pub const HEADER_BYTES: usize = 10;

pub struct Input<'a> {
    pub flags: u8,
    pub body: &'a [u8],
    /// Upper bound of one read, a power of two from 1 to 2048 so both byte-at-a-time and
    /// whole-event reads are common.
    max_read: usize,
    seed: u64,
}

impl<'a> Input<'a> {
    pub fn parse(bytes: &'a [u8]) -> Option<Input<'a>> {
        let (header, body) = bytes.split_at_checked(HEADER_BYTES)?;
        let (&[flags, read_size], seed) = header.split_first_chunk::<2>()?;
        let seed = u64::from_le_bytes(seed.try_into().ok()?);
        Some(Input {
            flags,
            body,
            max_read: 1 << (read_size % 12),
            seed,
        })
    }

    /// The body cut into reads of 0..=max_read bytes (empty reads are legal and exercised).
    pub fn reads(&self) -> Vec<&'a [u8]> {
        let mut rng = Rng::new(self.seed);
        let mut reads = Vec::new();
        let mut rest = self.body;
        while !rest.is_empty() {
            let len = (rng.below(self.max_read as u64 + 1) as usize).min(rest.len());
            let (read, tail) = rest.split_at(len);
            reads.push(read);
            rest = tail;
        }
        reads
    }

    /// A generator derived from the same seed, for other choices made while feeding.
    pub fn rng(&self) -> Rng {
        Rng::new(self.seed.rotate_left(32) ^ 0xA5A5_A5A5)
    }
}

/// xorshift64: deterministic, so a crash reproduces from its input file alone.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // xorshift has one fixed point, zero.
        Rng(seed | 1)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}
