//! A ring over ordinary memory, for the sequential tests of the protocol,
//! the waits and the producer's liveness checks.

use crate::ring::protocol::Ring;
use crate::segment::layout::{CommitLine, ConsumerEntry, SlotState, WriteLine};

pub(crate) struct Fixture {
    pub(crate) write: WriteLine,
    pub(crate) commit: CommitLine,
    pub(crate) slots: Vec<SlotState>,
    pub(crate) consumers: Vec<ConsumerEntry>,
}

impl Fixture {
    pub(crate) fn new(capacity: usize, consumers: usize) -> Self {
        Self {
            write: WriteLine::new(),
            commit: CommitLine::new(),
            slots: (0..capacity).map(|_| SlotState::new()).collect(),
            consumers: (0..consumers).map(|_| ConsumerEntry::new()).collect(),
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
