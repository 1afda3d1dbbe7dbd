//! The one waiting policy of the runtime: every blocking wait (a consumer
//! waiting for an item, a producer for room, a zone's lock, an attacher
//! for a segment being created) runs under a [`Deadline`] and paces
//! itself with a [`Backoff`]: spin, then yield, then sleep in steps that
//! never overshoot the deadline. A wait that sleeps on a futex instead
//! (`ring::wait`) asks the backoff which phase it is in.
//!
//! Each wait also re-checks what could end it early (a dead producer, a
//! closed channel, a dead lock owner) at least every 40 ms, so that every
//! blocking wait notices within 100 ms (issue 14's rule); the sleep steps
//! here are far shorter than that.

use std::time::{Duration, Instant};

/// How long a call may wait: every call that waits (`Producer::acquire`,
/// `Consumer::next`, `Consumer::latest`, a zone's `lock`, ...) takes an
/// `impl Into<Wait>`, so a [`Duration`] (a timeout), an [`Instant`] (a
/// deadline) or [`Wait::Forever`] all fit the one argument.
///
/// A wait without a timeout still ends when it cannot succeed: a consumer's
/// when the producer closes the channel or dies, a lossless producer's when
/// its slowest consumer dies or stalls past the stall timeout. Each of those
/// is noticed within 100 ms.
///
/// ```
/// use std::time::{Duration, Instant};
/// use datahub::Wait;
///
/// assert_eq!(Wait::from(Duration::from_millis(5)), Wait::Timeout(Duration::from_millis(5)));
/// let at = Instant::now() + Duration::from_secs(1);
/// assert_eq!(Wait::from(at), Wait::Deadline(at));
/// assert_eq!(Wait::from(None::<Duration>), Wait::Forever);  // Python's timeout=None
/// assert!(Wait::Deadline(Instant::now()).remaining().is_zero());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Wait {
    /// Until it succeeds, or until it cannot (see above).
    Forever,
    /// At most this long from the call.
    Timeout(Duration),
    /// Until this instant (a deadline already passed polls once).
    Deadline(Instant),
}

impl Wait {
    /// The time left from now: `Duration::MAX` for [`Wait::Forever`].
    pub fn remaining(self) -> Duration {
        match self {
            Self::Forever => Duration::MAX,
            Self::Timeout(timeout) => timeout,
            Self::Deadline(at) => at.saturating_duration_since(Instant::now()),
        }
    }
}

impl From<Duration> for Wait {
    fn from(timeout: Duration) -> Self {
        Self::Timeout(timeout)
    }
}

impl From<Instant> for Wait {
    fn from(deadline: Instant) -> Self {
        Self::Deadline(deadline)
    }
}

/// `None` waits forever: a binding's `timeout=None`.
impl From<Option<Duration>> for Wait {
    fn from(timeout: Option<Duration>) -> Self {
        timeout.map_or(Self::Forever, Self::Timeout)
    }
}

/// When a wait gives up: a start and a timeout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    start: Instant,
    timeout: Duration,
}

impl Deadline {
    /// `timeout` from now.
    #[inline]
    pub(crate) fn after(timeout: Duration) -> Self {
        Self {
            start: Instant::now(),
            timeout,
        }
    }

    /// When the wait began.
    #[inline]
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// Since the wait began.
    #[inline]
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// What is left of the timeout (zero once it passed).
    pub(crate) fn remaining(&self) -> Duration {
        self.timeout.saturating_sub(self.elapsed())
    }

    /// Whether the timeout has passed.
    pub(crate) fn passed(&self) -> bool {
        self.elapsed() >= self.timeout
    }
}

/// Where a backoff is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// A spin-loop hint: the wait is expected to end within microseconds.
    Spin,
    /// A `yield`: let the thread that will end the wait run.
    Yield,
    /// A sleep: the wait is long; stop using the core.
    Sleep,
}

/// The pacing of one wait: `spins` rounds of spinning, then `yields`
/// rounds of yielding, then sleeps of `sleep_step` (or, with
/// `sleep_step` zero, spinning forever: busy polling).
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    spins: u64,
    yields: u64,
    sleep_step: Duration,
    round: u64,
}

impl Backoff {
    /// Zone locks: their critical sections are copies of a few hundred
    /// bytes, over in well under a microsecond, so 100 spins, then 20
    /// yields, then 100 µs naps (a long wait does not burn a core).
    pub(crate) const LOCK: Self = Self::new(100, 20, Duration::from_micros(100));

    /// Waiting for a segment another process is creating: a few yields,
    /// then 1 ms naps (creation takes a file, a mapping and a header).
    pub(crate) const ATTACH: Self = Self::new(0, 4, Duration::from_millis(1));

    /// A backoff that spins `spins` times, yields `yields` times, then
    /// sleeps `sleep_step` at a time (never, if it is zero).
    pub(crate) const fn new(spins: u64, yields: u64, sleep_step: Duration) -> Self {
        Self {
            spins,
            yields,
            sleep_step,
            round: 0,
        }
    }

    /// The phase of the next round (the one [`Backoff::snooze`] or
    /// [`Backoff::advance`] would run).
    #[inline]
    pub(crate) fn phase(&self) -> Phase {
        if self.round < self.spins {
            Phase::Spin
        } else if self.round < self.spins.saturating_add(self.yields) {
            Phase::Yield
        } else if self.sleep_step.is_zero() {
            Phase::Spin
        } else {
            Phase::Sleep
        }
    }

    /// Rounds waited so far.
    #[inline]
    pub(crate) fn round(&self) -> u64 {
        self.round
    }

    /// Moves to the next round without waiting (for a caller that waits
    /// its own way in the phase [`Backoff::phase`] gave).
    #[inline]
    pub(crate) fn advance(&mut self) {
        self.round = self.round.saturating_add(1);
    }

    /// Waits one round: a spin-loop hint, a yield, or a sleep of the step
    /// (cut to what is left of `deadline`).
    pub(crate) fn snooze(&mut self, deadline: &Deadline) {
        match self.phase() {
            Phase::Spin => std::hint::spin_loop(),
            Phase::Yield => std::thread::yield_now(),
            Phase::Sleep => std::thread::sleep(self.sleep_step.min(deadline.remaining())),
        }
        self.advance();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backoff_spins_then_yields_then_sleeps() {
        let mut b = Backoff::new(2, 3, Duration::from_micros(1));
        let mut phases = Vec::new();
        for _ in 0..7 {
            phases.push(b.phase());
            b.advance();
        }
        use Phase::*;
        assert_eq!(phases, [Spin, Spin, Yield, Yield, Yield, Sleep, Sleep]);
        // Busy polling: spinning after the yields, never sleeping.
        let mut b = Backoff::new(1, 1, Duration::ZERO);
        b.advance();
        b.advance();
        assert_eq!(b.phase(), Spin);
    }

    #[test]
    fn a_sleep_never_overshoots_the_deadline_by_a_step() {
        let deadline = Deadline::after(Duration::from_millis(5));
        let mut b = Backoff::new(0, 0, Duration::from_secs(60));
        b.snooze(&deadline);
        assert!(deadline.passed(), "slept to the deadline");
        // Lower bounds only: the machine may be slow, never fast.
        assert!(deadline.elapsed() >= Duration::from_millis(5));
        // Not the 60 s step (a bound no slow machine comes near).
        assert!(deadline.elapsed() < Duration::from_secs(30));
        assert_eq!(deadline.remaining(), Duration::ZERO);
        assert!(!Deadline::after(Duration::from_secs(60)).passed());
    }
}
