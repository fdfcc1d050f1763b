//! Time and randomness, injectable so simulations control both.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::sync::Notify;

/// How a node perceives time. Timers are set in the clock's local time: a timer armed
/// for `d` fires when [`Clock::now`] has advanced by `d`, however fast the clock runs
/// and wherever it jumps. Raft's safety does not depend on clocks; liveness does, and
/// leases will.
///
/// Production uses [`MonotonicClock`]. Simulations use [`DriftingClock`] to give each
/// node its own rate (drift) and to step its reading forward or back (offsets, like a
/// badly stepped system clock), which the chaos suite's skew nemesis does.
pub trait Clock: Send + Sync + 'static {
    /// The local reading, as time since an arbitrary origin.
    fn now(&self) -> Duration;
    /// How long `local` lasts by the runtime's timer (`tokio::time`) at the current rate.
    fn real_duration(&self, local: Duration) -> Duration;
    /// Changes whenever the clock is adjusted (rate or reading); the driver then
    /// recomputes its timers. Constant for clocks that are never adjusted.
    fn generation(&self) -> u64 {
        0
    }
    /// Notified on every adjustment, for clocks that can be adjusted, so an idle node
    /// recomputes its timers at once.
    fn notifier(&self) -> Option<Arc<Notify>> {
        None
    }
}

/// The production clock: tokio's monotonic time, never adjusted.
#[derive(Clone, Copy, Debug)]
pub struct MonotonicClock {
    origin: tokio::time::Instant,
}

impl MonotonicClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        MonotonicClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn real_duration(&self, local: Duration) -> Duration {
        local
    }
}

/// Where the local reading starts, so that backward steps do not hit zero.
const LOCAL_ORIGIN: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug)]
struct Drift {
    rate_per_million: u64,
    anchor_true: Duration,
    anchor_local: Duration,
    generation: u64,
}

impl Drift {
    fn local_at(&self, true_now: Duration) -> Duration {
        let elapsed = true_now.saturating_sub(self.anchor_true).as_nanos();
        let local = elapsed.saturating_mul(u128::from(self.rate_per_million)) / 1_000_000;
        self.anchor_local + Duration::from_nanos(local.min(u128::from(u64::MAX)) as u64)
    }
}

type TrueTime = dyn Fn() -> Duration + Send + Sync;

/// A clock that runs at an adjustable rate against a true time source and whose
/// reading can be stepped. Rate 1.25 = 25% fast: a local second passes in 0.8 true
/// seconds.
pub struct DriftingClock {
    true_time: Box<TrueTime>,
    drift: Mutex<Drift>,
    notify: Arc<Notify>,
}

impl std::fmt::Debug for DriftingClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriftingClock")
            .field("drift", &self.drift)
            .finish_non_exhaustive()
    }
}

fn rate_per_million(rate: f64) -> u64 {
    (rate.clamp(0.01, 100.0) * 1_000_000.0) as u64
}

impl DriftingClock {
    /// A clock running at `rate` against tokio's time (clamped to [0.01, 100]).
    pub fn new(rate: f64) -> Self {
        let origin = tokio::time::Instant::now();
        Self::with_true_time(rate, move || origin.elapsed())
    }

    /// A clock running at `rate` against `true_time` (a simulation's global virtual
    /// time, which unlike a runtime's `Instant` survives a simulated restart).
    pub fn with_true_time(
        rate: f64,
        true_time: impl Fn() -> Duration + Send + Sync + 'static,
    ) -> Self {
        let anchor_true = true_time();
        DriftingClock {
            true_time: Box::new(true_time),
            drift: Mutex::new(Drift {
                rate_per_million: rate_per_million(rate),
                anchor_true,
                anchor_local: LOCAL_ORIGIN,
                generation: 0,
            }),
            notify: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Drift> {
        self.drift.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the rate from now on (clamped to [0.01, 100]).
    pub fn set_rate(&self, rate: f64) {
        let now = (self.true_time)();
        self.adjust_at(now, Some(rate), 0);
    }

    /// At true time `true_now`: optionally changes the rate, and steps the reading by
    /// `step_nanos` (negative: back). Callers outside the simulated node pass the true
    /// time themselves.
    pub fn adjust_at(&self, true_now: Duration, rate: Option<f64>, step_nanos: i64) {
        {
            let mut drift = self.lock();
            let local = drift.local_at(true_now);
            let step = Duration::from_nanos(step_nanos.unsigned_abs());
            drift.anchor_local = if step_nanos >= 0 {
                local + step
            } else {
                local.saturating_sub(step)
            };
            drift.anchor_true = true_now;
            if let Some(rate) = rate {
                drift.rate_per_million = rate_per_million(rate);
            }
            drift.generation += 1;
        }
        self.notify.notify_waiters();
    }

    /// The current rate.
    pub fn rate(&self) -> f64 {
        self.lock().rate_per_million as f64 / 1_000_000.0
    }
}

impl Clock for DriftingClock {
    fn now(&self) -> Duration {
        let true_now = (self.true_time)();
        self.lock().local_at(true_now)
    }

    fn real_duration(&self, local: Duration) -> Duration {
        let rate = self.lock().rate_per_million.max(1);
        // A fast clock (rate > 1) reaches a local deadline sooner in real time.
        let nanos = local.as_nanos().saturating_mul(1_000_000) / u128::from(rate);
        Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64)
    }

    fn generation(&self) -> u64 {
        self.lock().generation
    }

    fn notifier(&self) -> Option<Arc<Notify>> {
        Some(self.notify.clone())
    }
}

/// Timer jitter: a seeded generator (`rand`'s small generator), so a seed replays.
#[derive(Clone, Debug)]
pub(crate) struct Jitter(SmallRng);

impl Jitter {
    /// Seeded with `seed`, or from the operating system.
    pub(crate) fn new(seed: Option<u64>) -> Self {
        Jitter(match seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        })
    }

    /// A uniformly distributed number.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.random()
    }

    /// A uniformly distributed duration in `[0, bound)` (zero when bound is zero).
    pub(crate) fn below(&mut self, bound: Duration) -> Duration {
        let bound_nanos = bound.as_nanos() as u64;
        if bound_nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.0.random_range(0..bound_nanos))
        }
    }
}
