//! The facade every primitive imports its synchronization from: `std::sync` in normal
//! builds, `loom::sync` under `--cfg loom`, so loom sees (and permutes) every lock and
//! atomic access the primitives make.

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicBool, AtomicU32, Ordering},
    Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicBool, AtomicU32, Ordering},
    Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

use std::sync::PoisonError;
use std::task::Waker;

/// Locks `mutex`, ignoring poisoning. No critical section in this crate runs a waker or
/// drops a caller's value while it holds a lock, and the one that runs a caller's closure
/// (`status::Publisher`) updates its own bookkeeping only after the closure returned, so
/// a panic leaves a consistent state behind and is no reason to fail every later caller.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-locks `lock`, ignoring poisoning (see [`lock`]).
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-locks `lock`, ignoring poisoning (see [`lock`]).
pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// Stores `waker` in `slot` unless the one there already wakes the same task (saves a
/// clone, and the drop of the old one, on every poll of a waiting future).
pub(crate) fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(current) if current.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}
