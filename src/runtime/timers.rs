//! The driver's two timers (the core's `Timer::Election` and `Timer::Heartbeat`), kept
//! in the node's clock (which a simulation may drift or step) and converted to tokio
//! deadlines. The core decides when a timer is (re)armed or cancelled; this module only
//! picks the duration (randomized for elections) and keeps time.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::clock::{Clock, Jitter};
use super::options::NodeOptions;
use crate::core::Timer;

/// One armed timer: when it fires in tokio time, and in the clock's local time.
#[derive(Clone, Copy)]
struct Armed {
    deadline: Instant,
    local: Duration,
}

pub(crate) struct Timers {
    clock: Arc<dyn Clock>,
    jitter: Jitter,
    election_timeout: Duration,
    max_election_delay: Duration,
    heartbeat_interval: Duration,
    election: Option<Armed>,
    heartbeat: Option<Armed>,
    /// The clock's adjustment count when the deadlines were last derived.
    generation: u64,
}

impl Timers {
    pub(crate) fn new(options: &NodeOptions, clock: Arc<dyn Clock>) -> Self {
        let generation = clock.generation();
        Timers {
            clock,
            jitter: Jitter::new(options.jitter_seed),
            election_timeout: options.election_timeout,
            max_election_delay: options.max_election_delay,
            heartbeat_interval: options.heartbeat_interval(),
            election: None,
            heartbeat: None,
            generation,
        }
    }

    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// (Re)arms `timer`: an election timer for a random duration in
    /// `[election_timeout, election_timeout + max_election_delay)`, a heartbeat timer for
    /// the heartbeat interval, both measured on the node's clock.
    pub(crate) fn arm(&mut self, timer: Timer) {
        let local = match timer {
            Timer::Election => self.election_timeout + self.jitter.below(self.max_election_delay),
            Timer::Heartbeat => self.heartbeat_interval,
        };
        let armed = Armed {
            deadline: Instant::now() + self.clock.real_duration(local),
            local: self.clock.now() + local,
        };
        *self.slot(timer) = Some(armed);
    }

    /// Disarms `timer` (also called when it fires).
    pub(crate) fn cancel(&mut self, timer: Timer) {
        *self.slot(timer) = None;
    }

    /// When `timer` fires, if armed.
    pub(crate) fn deadline(&self, timer: Timer) -> Option<Instant> {
        match timer {
            Timer::Election => self.election.map(|armed| armed.deadline),
            Timer::Heartbeat => self.heartbeat.map(|armed| armed.deadline),
        }
    }

    /// After a clock adjustment (rate change or step), re-derives each armed timer's
    /// deadline from its local deadline: a clock stepped forward fires its timers early
    /// (at once if they are now due), one stepped back fires them late. Cheap when the
    /// clock was not adjusted.
    pub(crate) fn follow_clock(&mut self) {
        if self.clock.generation() == self.generation {
            return;
        }
        self.generation = self.clock.generation();
        let now_local = self.clock.now();
        let now = Instant::now();
        let clock = &self.clock;
        for armed in [&mut self.election, &mut self.heartbeat]
            .into_iter()
            .flatten()
        {
            let remaining = armed.local.saturating_sub(now_local);
            armed.deadline = now + clock.real_duration(remaining);
        }
    }

    fn slot(&mut self, timer: Timer) -> &mut Option<Armed> {
        match timer {
            Timer::Election => &mut self.election,
            Timer::Heartbeat => &mut self.heartbeat,
        }
    }
}
