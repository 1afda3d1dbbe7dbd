//! Table 2: the ring of fixed slots, one writer, many readers.
//!
//! `protocol.rs` is the slot state machine on the shared atomics, and
//! `lifecycle.rs` the producer's lifecycle (claim, close, wake); the two are
//! the only code here that reasons about memory ordering.

#[cfg(all(test, not(datahub_loom)))]
pub(crate) mod fixture;
pub(crate) mod lifecycle;
#[cfg(all(test, datahub_loom))]
mod loom_model;
pub(crate) mod protocol;
#[cfg(not(datahub_loom))]
pub(crate) mod wait;

pub use protocol::Start;
#[cfg(not(datahub_loom))]
pub use wait::WaitStrategy;

#[cfg(not(datahub_loom))]
impl crate::segment::shm::Segment {
    /// The ring's shared words in this segment.
    #[inline]
    pub(crate) fn ring(&self) -> protocol::Ring<'_> {
        let live = self.live();
        protocol::Ring {
            write: &live.write,
            commit: &live.commit,
            slots: self.slot_states(),
            consumers: self.consumer_entries(),
        }
    }

    /// The producer's lifecycle words in this segment.
    #[inline]
    pub(crate) fn lifecycle(&self) -> lifecycle::Lifecycle<'_> {
        let live = self.live();
        lifecycle::Lifecycle {
            owner: &live.producer.owner,
            init_state: self.init_state(),
            commit: &live.commit,
        }
    }
}
