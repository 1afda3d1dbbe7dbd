//! How a blocked call waits: spin, then yield, then sleep (DESIGN.md §6),
//! so a benchmark can busy-poll and an idle consumer uses no CPU.

use std::time::{Duration, Instant};

use crate::ring::protocol::Ring;
use crate::segment::os;

/// The phases of a wait. The default spins briefly, yields a few times,
/// then sleeps on the channel's futex until the next commit (consumers) or
/// in short naps (a producer waiting for room).
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
    /// Then sleep (futex for consumers, naps for the producer); `false`
    /// keeps spinning until the deadline.
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
const MAX_SLEEP: Duration = Duration::from_millis(100);
/// A producer's nap while it waits for room or for a read mark to go.
const PRODUCER_NAP: Duration = Duration::from_micros(50);

/// Calls `poll` until it returns `Some`, or `timeout` passes (then `None`).
/// With `ring`, sleeps on its futex between commits; without, naps.
pub(crate) fn wait_until<R>(
    strategy: WaitStrategy,
    timeout: Duration,
    ring: Option<&Ring<'_>>,
    mut poll: impl FnMut() -> Option<R>,
) -> Option<R> {
    let started = Instant::now();
    let mut round: u64 = 0;
    loop {
        if let Some(found) = poll() {
            return Some(found);
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            return None;
        }
        let spins = u64::from(strategy.spins);
        if round < spins || !strategy.sleep && round >= spins + u64::from(strategy.yields) {
            std::hint::spin_loop();
        } else if round < spins + u64::from(strategy.yields) {
            std::thread::yield_now();
        } else {
            let remaining = (timeout - elapsed).min(MAX_SLEEP);
            match ring {
                Some(ring) => {
                    let seen = ring.prepare_wait();
                    // Re-check between registering and sleeping: a commit
                    // in between changed the futex word, so the sleep
                    // returns at once (see `Ring::prepare_wait`).
                    if let Some(found) = poll() {
                        ring.end_wait();
                        return Some(found);
                    }
                    os::futex_wait(&ring.commit.futex, seen, remaining);
                    ring.end_wait();
                }
                None => std::thread::sleep(remaining.min(PRODUCER_NAP)),
            }
        }
        round = round.saturating_add(1);
    }
}
