//! A compact fixed-size bitset for the set of linearized operations.

/// A fixed-size set of small integers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Bitset {
    /// Inline up to 256 operations: cloning into the cache then allocates nothing.
    words: smallvec::SmallVec<[u64; 4]>,
}

impl Bitset {
    /// An empty set able to hold `0..len`.
    pub(crate) fn new(len: usize) -> Self {
        Bitset {
            words: smallvec::smallvec![0; len.div_ceil(64)],
        }
    }

    /// Adds `bit`.
    pub(crate) fn set(&mut self, bit: usize) {
        self.words[bit / 64] |= 1 << (bit % 64);
    }

    /// Bytes owned on the heap (0 while the set fits inline).
    pub(crate) fn heap_bytes(&self) -> usize {
        if self.words.spilled() {
            self.words.capacity() * std::mem::size_of::<u64>()
        } else {
            0
        }
    }

    /// Removes `bit`.
    pub(crate) fn clear(&mut self, bit: usize) {
        self.words[bit / 64] &= !(1 << (bit % 64));
    }
}
