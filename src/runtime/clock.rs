//! Time and randomness, injectable so simulations control both.

use std::sync::Mutex;
use std::time::Duration;

/// How a node perceives time passing. Timers ask the clock how long a local duration
/// lasts in real (runtime) time, so a simulation can make one node's clock run fast or
/// slow (drift). Raft's safety does not depend on clocks; liveness and leases do.
pub trait Clock: Send + Sync + 'static {
    /// How long `local` lasts by the runtime's timer (`tokio::time`).
    fn real_duration(&self, local: std::time::Duration) -> std::time::Duration;
}

/// The production clock: local time is real time.
#[derive(Clone, Copy, Debug, Default)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn real_duration(&self, local: Duration) -> Duration {
        local
    }
}

/// A clock that runs at `rate` times real speed (rate 1.25 = 25% fast), changeable at
/// run time by a nemesis.
#[derive(Debug)]
pub struct DriftingClock {
    rate_per_million: Mutex<u64>,
}

impl DriftingClock {
    /// A clock running at `rate` (must be positive).
    pub fn new(rate: f64) -> Self {
        let clock = DriftingClock {
            rate_per_million: Mutex::new(1_000_000),
        };
        clock.set_rate(rate);
        clock
    }

    /// Changes the rate (clamped to [0.01, 100]).
    pub fn set_rate(&self, rate: f64) {
        let rate = rate.clamp(0.01, 100.0);
        *self
            .rate_per_million
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (rate * 1_000_000.0) as u64;
    }
}

impl Clock for DriftingClock {
    fn real_duration(&self, local: Duration) -> Duration {
        let rate = *self
            .rate_per_million
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A fast clock (rate > 1) reaches a local deadline sooner in real time.
        let nanos = local.as_nanos().saturating_mul(1_000_000) / u128::from(rate.max(1));
        Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64)
    }
}

/// A small deterministic generator (SplitMix64) for timer jitter.
#[derive(Clone, Debug)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Self {
        Jitter(seed)
    }

    /// A uniformly distributed duration in `[0, bound)` (zero when bound is zero).
    pub(crate) fn below(&mut self, bound: Duration) -> Duration {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let bound_nanos = bound.as_nanos() as u64;
        if bound_nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(z % bound_nanos)
        }
    }
}
