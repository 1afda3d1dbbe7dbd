//! A ring (and the producer's lifecycle words) over ordinary memory, for
//! the sequential tests of the protocol, the lifecycle, the waits and the
//! producer's liveness checks.

use crate::ring::lifecycle::Lifecycle;
use crate::ring::protocol::Ring;
use crate::segment::layout::{CommitLine, ConsumerEntry, SlotState, WriteLine};
use crate::sync::{AtomicU32, AtomicU64};

pub(crate) struct Fixture {
    pub(crate) write: WriteLine,
    pub(crate) commit: CommitLine,
    pub(crate) slots: Vec<SlotState>,
    pub(crate) consumers: Vec<ConsumerEntry>,
    /// The producer's owner word.
    pub(crate) owner: AtomicU64,
    /// The segment's `init_state`.
    pub(crate) init_state: AtomicU32,
}

impl Fixture {
    pub(crate) fn new(capacity: usize, consumers: usize) -> Self {
        Self {
            write: WriteLine::new(),
            commit: CommitLine::new(),
            slots: (0..capacity).map(|_| SlotState::new()).collect(),
            consumers: (0..consumers).map(|_| ConsumerEntry::new()).collect(),
            owner: AtomicU64::new(0),
            init_state: AtomicU32::new(crate::segment::header::INIT_READY),
        }
    }

    pub(crate) fn ring(&self) -> Ring<'_> {
        Ring {
            write: &self.write,
            commit: &self.commit,
            slots: &self.slots,
            consumers: &self.consumers,
        }
    }

    pub(crate) fn lifecycle(&self) -> Lifecycle<'_> {
        Lifecycle {
            owner: &self.owner,
            init_state: &self.init_state,
            commit: &self.commit,
        }
    }
}
