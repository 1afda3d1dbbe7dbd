//! The ring on the heap that the loom models of `protocol` and `lifecycle`
//! drive: the shipped words, and a two-word payload per slot in loom cells
//! (so a read not ordered after its write is a model failure).

use loom::cell::UnsafeCell;

use crate::ring::protocol::Ring;
use crate::segment::layout::{CommitLine, ConsumerEntry, SlotState, WriteLine};

/// A ring of `slots.len()` slots and `consumers.len()` consumer entries.
pub(crate) struct RingModel {
    pub(crate) write: WriteLine,
    pub(crate) commit: CommitLine,
    pub(crate) slots: Vec<SlotState>,
    pub(crate) consumers: Vec<ConsumerEntry>,
    pub(crate) payload: Vec<UnsafeCell<[u64; 2]>>,
}

// SAFETY: the payload cells are only accessed as the protocol allows; that
// is exactly what loom checks.
unsafe impl Sync for RingModel {}

impl RingModel {
    pub(crate) fn new(capacity: usize, consumers: usize) -> Self {
        Self {
            write: WriteLine::new(),
            commit: CommitLine::new(),
            slots: (0..capacity).map(|_| SlotState::new()).collect(),
            consumers: (0..consumers).map(|_| ConsumerEntry::new()).collect(),
            payload: (0..capacity).map(|_| UnsafeCell::new([0, 0])).collect(),
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
}

/// The value item `q` carries: two words that must always match.
pub(crate) fn item(q: u64) -> [u64; 2] {
    [q, !q]
}
