//! How a blocked call on the ring waits: the runtime's one waiting policy
//! (`crate::backoff`: spin, then yield, then sleep, under a deadline),
//! with the sleeps on a futex of the channel, so a benchmark can busy-poll
//! and an idle consumer uses no CPU.

use std::time::{Duration, Instant};

use crate::backoff::{Backoff, Deadline, Phase};

use crate::ring::protocol::Ring;
use crate::segment::os;

/// The phases of a wait. The default spins briefly, yields a few times,
/// then sleeps on a futex of the channel: a consumer until the next commit,
/// a producer until a consumer frees room or a slot.
///
/// ```
/// use datahub::WaitStrategy;
///
/// let polling = WaitStrategy::busy_poll();   // lowest latency, one core busy
/// let normal = WaitStrategy::default();      // sleeps when idle
/// assert!(polling.spins > normal.spins);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitStrategy {
    /// Checks with a spin-loop hint between them.
    pub spins: u32,
    /// Then checks with a `yield` between them.
    pub yields: u32,
    /// Then sleep on the channel's futex; `false` keeps spinning until the
    /// deadline.
    pub sleep: bool,
}

impl Default for WaitStrategy {
    fn default() -> Self {
        Self {
            spins: 200,
            yields: 20,
            sleep: true,
        }
    }
}

impl WaitStrategy {
    /// The runtime's one waiting policy with these phases; its sleeps are
    /// futex sleeps of at most [`MAX_SLEEP`] (`wait_until`).
    fn backoff(self) -> Backoff {
        let sleep_step = if self.sleep {
            MAX_SLEEP
        } else {
            Duration::ZERO
        };
        Backoff::new(u64::from(self.spins), u64::from(self.yields), sleep_step)
    }

    /// Never sleeps: spins until the item comes or the deadline passes.
    pub fn busy_poll() -> Self {
        Self {
            spins: u32::MAX,
            yields: 0,
            sleep: false,
        }
    }
}

/// The longest single futex sleep: a sleeper re-checks (and so notices a
/// producer that died without waking it) at least this often.
const MAX_SLEEP: Duration = Duration::from_millis(40);

/// How often a wait runs its `every` check (whether the producer is gone,
/// say) while it waits: with [`MAX_SLEEP`], a wait notices a dead producer
/// within 100 ms (issue 14), for a /proc read per period.
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(40);

/// What a sleeping wait sleeps on.
#[derive(Clone, Copy)]
pub(crate) enum SleepOn<'a> {
    /// A consumer: the commit futex, bumped by every commit.
    Commits(&'a Ring<'a>),
    /// The producer: the read futex, bumped by consumers that move while
    /// the producer waits.
    Reads(&'a Ring<'a>),
}

impl SleepOn<'_> {
    fn prepare(self) -> u32 {
        match self {
            Self::Commits(ring) => ring.prepare_wait(),
            Self::Reads(ring) => ring.prepare_writer_wait(),
        }
    }

    fn sleep(self, seen: u32, timeout: Duration) {
        let word = match self {
            Self::Commits(ring) => &ring.commit.futex,
            Self::Reads(ring) => &ring.write.read_futex,
        };
        os::futex_wait(word, seen, timeout);
    }

    fn end(self) {
        match self {
            Self::Commits(ring) => ring.end_wait(),
            Self::Reads(ring) => ring.end_writer_wait(),
        }
    }
}

/// While spinning, the clock is read only every this many rounds: a
/// clock read (about 25 ns on a VM) costs more than a poll, and a spinning
/// poll loop is what a busy-polling reader's latency is made of.
const CLOCK_EVERY: u64 = 64;

/// What a wait found, and when it began.
pub(crate) struct Waited<R> {
    /// `None`: the timeout passed first.
    pub(crate) found: Option<R>,
    /// When the wait began: `None` when the first poll found it (then the
    /// clock was not read at all).
    pub(crate) since: Option<Instant>,
}

impl<R> Waited<R> {
    /// How long it waited (reads the clock, unless it did not wait).
    pub(crate) fn waited(&self) -> Duration {
        self.since.map_or(Duration::ZERO, |since| since.elapsed())
    }
}

/// Calls `poll` until it returns `Some`, or `timeout` passes (then `found`
/// is `None`), spinning, yielding, then sleeping on `sleep_on`'s futex.
/// The clock is first read after a poll that found nothing, and while
/// spinning only every [`CLOCK_EVERY`] rounds. While it waits, `every` runs
/// once per [`CHECK_EVERY`] (not at all for a wait the first poll ends); a
/// `Some` from it ends the wait as one from `poll` does.
pub(crate) fn wait_until<R>(
    strategy: WaitStrategy,
    timeout: Duration,
    sleep_on: SleepOn<'_>,
    mut poll: impl FnMut() -> Option<R>,
    mut every: impl FnMut() -> Option<R>,
) -> Waited<R> {
    if let Some(found) = poll() {
        return Waited {
            found: Some(found),
            since: None,
        };
    }
    let deadline = Deadline::after(timeout);
    let done = |found| Waited {
        found,
        since: Some(deadline.start()),
    };
    let mut backoff = strategy.backoff();
    let mut checked = Duration::ZERO;
    loop {
        let phase = backoff.phase();
        if phase == Phase::Spin && !backoff.round().is_multiple_of(CLOCK_EVERY) {
            std::hint::spin_loop();
        } else {
            let elapsed = deadline.elapsed();
            if elapsed >= timeout {
                return done(None);
            }
            if elapsed >= checked + CHECK_EVERY {
                checked = elapsed;
                if let Some(found) = every() {
                    return done(Some(found));
                }
            }
            match phase {
                Phase::Spin => std::hint::spin_loop(),
                Phase::Yield => std::thread::yield_now(),
                Phase::Sleep => {
                    let remaining = (timeout - elapsed).min(MAX_SLEEP);
                    let seen = sleep_on.prepare();
                    // Re-check between registering and sleeping: a change in
                    // between also changed the futex word, so the sleep returns
                    // at once (see `Ring::prepare_wait`, `Ring::prepare_writer_wait`).
                    if let Some(found) = poll() {
                        sleep_on.end();
                        return done(Some(found));
                    }
                    sleep_on.sleep(seen, remaining);
                    sleep_on.end();
                }
            }
        }
        backoff.advance();
        if let Some(found) = poll() {
            return done(Some(found));
        }
    }
}

#[cfg(test)]
mod tests;
