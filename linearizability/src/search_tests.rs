//! Unit tests for the search's cache: hash collisions must never merge configurations.

use super::Cache;
use crate::bitset::Bitset;

#[test]
fn colliding_entries_are_kept_apart() {
    let mut cache: Cache<u8> = Cache::new();
    let mut first = Bitset::new(3);
    first.set(0);
    let mut second = Bitset::new(3);
    second.set(1);
    let mut third = Bitset::new(3);
    third.set(2);
    // Same state and the same (forced) set hash: all three share one chain.
    assert!(cache.insert(&first, 42, &7));
    assert!(cache.insert(&second, 42, &7));
    assert!(!cache.insert(&first, 42, &7));
    assert!(!cache.insert(&second, 42, &7));
    assert!(cache.insert(&third, 42, &7));
    assert!(!cache.insert(&third, 42, &7));
    // A different state with the same set is a different configuration.
    assert!(cache.insert(&first, 42, &8));
    assert_eq!(cache.entries.len(), 4);
}
