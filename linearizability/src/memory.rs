//! The memory budget of one check: every partition's search publishes an estimate of
//! what it holds (cache, stack, longest witness) into one shared counter, and a search
//! that would take the total past the limit stops with an `Unknown` verdict instead of
//! growing until the operating system kills the process.

use std::sync::atomic::{AtomicU64, Ordering};

/// The default budget when [`crate::CheckOptions::max_memory_bytes`] is not set: half of
/// the physical memory, at most 4 GiB.
pub fn default_max_memory_bytes() -> u64 {
    const CAP_BYTES: u64 = 4 << 30;
    physical_memory_bytes().map_or(CAP_BYTES, |physical| (physical / 2).min(CAP_BYTES))
}

#[cfg(unix)]
fn physical_memory_bytes() -> Option<u64> {
    // SAFETY: sysconf only reads system configuration; it has no memory-safety
    // preconditions.
    let (pages, page_bytes) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let pages = u64::try_from(pages).ok()?;
    let page_bytes = u64::try_from(page_bytes).ok()?;
    pages.checked_mul(page_bytes).filter(|&bytes| bytes > 0)
}

#[cfg(not(unix))]
fn physical_memory_bytes() -> Option<u64> {
    None
}

/// A shared byte counter with a limit.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    /// The most the searches may hold together.
    pub(crate) limit_bytes: u64,
    used_bytes: AtomicU64,
}

impl MemoryBudget {
    pub(crate) fn new(limit_bytes: u64) -> Self {
        MemoryBudget {
            limit_bytes,
            used_bytes: AtomicU64::new(0),
        }
    }

    /// Replaces one search's share, `old` bytes, by `new` bytes; returns the new total.
    pub(crate) fn replace(&self, old: usize, new: usize) -> u64 {
        let (old, new) = (old as u64, new as u64);
        if new >= old {
            self.used_bytes.fetch_add(new - old, Ordering::Relaxed) + (new - old)
        } else {
            self.used_bytes
                .fetch_sub(old - new, Ordering::Relaxed)
                .saturating_sub(old - new)
        }
    }

    /// Bytes currently published by all searches.
    #[cfg(test)]
    pub(crate) fn used_bytes(&self) -> u64 {
        self.used_bytes.load(Ordering::Relaxed)
    }
}
