//! `Consumer<T>`: attaches to a channel, checks its schema, and reads typed
//! slots in place.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::checksum;
use crate::error::Error;
use crate::ring::protocol::{ReadAttempt, Ring, Start};
use crate::ring::wait::{WaitStrategy, wait_until};
use crate::segment::os;
use crate::segment::shm::Segment;
use crate::sync::Ordering::Relaxed;
use crate::types::{DataHubSlot, DataHubZone, SchemaHash};
use crate::zone::handle::{LockedZone, Zone};

/// How a consumer attaches.
///
/// ```
/// use std::time::Duration;
/// use datahub::{AttachOptions, Start, WaitStrategy};
///
/// let opts = AttachOptions::default()
///     .start(Start::Newest)
///     .ready_timeout(Duration::from_secs(2))
///     .wait_strategy(WaitStrategy::busy_poll());
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachOptions {
    start: Start,
    ready_timeout: Duration,
    strategy: WaitStrategy,
}

impl Default for AttachOptions {
    /// Start at the oldest item held, wait up to 1 s for a segment being
    /// created, default wait strategy.
    fn default() -> Self {
        Self {
            start: Start::Oldest,
            ready_timeout: Duration::from_secs(1),
            strategy: WaitStrategy::default(),
        }
    }
}

impl AttachOptions {
    /// Where to start reading.
    pub fn start(mut self, start: Start) -> Self {
        self.start = start;
        self
    }

    /// How long to wait for a segment that is still being created.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// How blocked reads wait.
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }
}

/// A consumer of a channel whose slots are `T`, reading in place.
/// See [`Producer`](crate::Producer) for an example.
pub struct Consumer<T: DataHubSlot> {
    segment: Arc<Segment>,
    entry: usize,
    next: u64,
    lost: u64,
    strategy: WaitStrategy,
    enforced_checksums: bool,
    _slot: PhantomData<fn() -> T>,
}

impl<T: DataHubSlot> Consumer<T> {
    /// Attaches to channel `name`, starting at the oldest item held.
    pub fn attach(name: &str) -> Result<Self, Error> {
        Self::attach_with(name, &AttachOptions::default())
    }

    /// Attaches to channel `name` with `options`. Refuses a segment whose
    /// slot type is not `T` with [`Error::SchemaMismatch`] naming the first
    /// differing field.
    pub fn attach_with(name: &str, options: &AttachOptions) -> Result<Self, Error> {
        let segment = Segment::attach(name, true, options.ready_timeout)?;
        let id = *segment.identity();
        let found = SchemaHash::from_bytes(id.slot_hash);
        if found != T::SCHEMA_HASH {
            let expected = T::DESC.canonical();
            return Err(Error::SchemaMismatch {
                channel: name.to_owned(),
                part: "slot type".into(),
                expected: Box::new(T::SCHEMA_HASH),
                found: Box::new(found),
                detail: first_difference(&segment.schema().slot, &expected),
            });
        }
        let me = os::current_process();
        let Some((entry, first)) =
            segment
                .ring()
                .join(me.pid, me.start_time, os::monotonic_ns(), options.start)
        else {
            return Err(Error::ConsumersFull {
                channel: name.to_owned(),
                max: id.max_consumers,
            });
        };
        Ok(Self {
            enforced_checksums: id.checksum == 2,
            segment: Arc::new(segment),
            entry,
            next: first,
            lost: 0,
            strategy: options.strategy,
            _slot: PhantomData,
        })
    }

    /// The channel's name.
    pub fn channel(&self) -> &str {
        self.segment.channel()
    }

    /// The lock-free zone `name`, typed `Z`: a handle that derefs to `&Z`
    /// and does not borrow the consumer. Fails with [`Error::WrongZone`]
    /// when the channel has no lock-free zone of that name, and with
    /// [`Error::SchemaMismatch`] when its type is not `Z`.
    pub fn zone<Z: DataHubZone>(&self, name: &str) -> Result<Zone<Z>, Error> {
        Zone::open(&self.segment, name)
    }

    /// The locked zone `name`, typed `T`, reached through its lock.
    pub fn locked_zone<Z: DataHubSlot>(&self, name: &str) -> Result<LockedZone<Z>, Error> {
        LockedZone::open(&self.segment, name)
    }

    /// Items lost so far: overwritten before this consumer read them.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// The sequence number of the next item [`next`](Self::next) returns.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The next item in order, waiting up to `timeout` for it. In overwrite
    /// mode, items overwritten before they were read are skipped and
    /// counted ([`ReadSlot::lost_before`], [`lost`](Self::lost)).
    pub fn next(&mut self, timeout: Duration) -> Result<ReadSlot<'_, T>, Error> {
        let started = Instant::now();
        let mut lost_now = 0;
        let found = {
            let ring = self.segment.ring();
            let me = &ring.consumers[self.entry];
            let mut q = self.next;
            let segment = &self.segment;
            let found = wait_until(self.strategy, timeout, Some(&ring), || {
                loop {
                    match ring.try_read(me, q) {
                        ReadAttempt::Ready => return Some(Ok(q)),
                        ReadAttempt::NotYet | ReadAttempt::Busy => {
                            return closed(segment).then_some(Err(()));
                        }
                        ReadAttempt::Lost { resume } => {
                            lost_now += resume - q;
                            ring.skip_to(me, resume);
                            q = resume;
                        }
                    }
                }
            });
            (found, q)
        };
        self.record_loss(lost_now);
        match found {
            (Some(Ok(q)), _) => self.ready(q, lost_now),
            (Some(Err(())), q) => {
                self.next = q;
                Err(Error::Closed {
                    channel: self.channel().to_owned(),
                })
            }
            (None, q) => {
                self.next = q;
                Err(Error::Timeout {
                    channel: self.channel().to_owned(),
                    waited: started.elapsed(),
                    cause: format!("no item {q} committed yet"),
                })
            }
        }
    }

    /// The next item if one is committed now, without waiting.
    pub fn try_next(&mut self) -> Result<Option<ReadSlot<'_, T>>, Error> {
        match self.next(Duration::ZERO) {
            Ok(slot) => Ok(Some(slot)),
            Err(Error::Timeout { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The newest item (skipping older unread ones, which are not counted
    /// as lost), waiting up to `timeout` for one newer than the last read.
    pub fn latest(&mut self, timeout: Duration) -> Result<ReadSlot<'_, T>, Error> {
        let started = Instant::now();
        let found = {
            let ring = self.segment.ring();
            let me = &ring.consumers[self.entry];
            let next = self.next;
            let segment = &self.segment;
            wait_until(self.strategy, timeout, Some(&ring), || {
                loop {
                    let committed = ring.commit_seq();
                    if committed <= next {
                        return closed(segment).then_some(Err(()));
                    }
                    let newest = committed - 1;
                    match ring.try_read(me, newest) {
                        ReadAttempt::Ready => return Some(Ok(newest)),
                        // Overwritten meanwhile: there is a newer one.
                        ReadAttempt::Lost { .. } => continue,
                        ReadAttempt::NotYet | ReadAttempt::Busy => return None,
                    }
                }
            })
        };
        match found {
            Some(Ok(q)) => self.ready(q, 0),
            Some(Err(())) => Err(Error::Closed {
                channel: self.channel().to_owned(),
            }),
            None => Err(Error::Timeout {
                channel: self.channel().to_owned(),
                waited: started.elapsed(),
                cause: format!("no item after {} committed yet", self.next.wrapping_sub(1)),
            }),
        }
    }

    /// Refreshes this consumer's heartbeat without reading.
    pub fn heartbeat(&self) {
        self.ring().consumers[self.entry]
            .heartbeat_ns
            // Relaxed: a figure for liveness reports, not a synchronization.
            .store(os::monotonic_ns(), Relaxed);
    }

    fn record_loss(&mut self, lost: u64) {
        if lost > 0 {
            self.lost += lost;
            // Relaxed: a counter.
            self.ring().consumers[self.entry]
                .overruns
                .fetch_add(lost, Relaxed);
        }
    }

    fn ready(&mut self, q: u64, lost_before: u64) -> Result<ReadSlot<'_, T>, Error> {
        let index = self.ring().slot_index(q);
        let slot = ReadSlot {
            consumer: self,
            seq: q,
            index,
            lost_before,
        };
        if slot.consumer.enforced_checksums && !slot.verify_checksum() {
            let entry = &slot.consumer.ring().consumers[slot.consumer.entry];
            // Relaxed: a counter.
            entry.checksum_failures.fetch_add(1, Relaxed);
            let channel = slot.consumer.channel().to_owned();
            drop(slot);
            return Err(Error::ChecksumMismatch { channel, seq: q });
        }
        Ok(slot)
    }

    fn ring(&self) -> Ring<'_> {
        self.segment.ring()
    }
}

impl<T: DataHubSlot> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.segment.ring().leave(self.entry);
    }
}

/// An item read in place (`Deref<Target = T>`); the producer cannot reuse
/// its slot until this is dropped.
pub struct ReadSlot<'a, T: DataHubSlot> {
    consumer: &'a mut Consumer<T>,
    seq: u64,
    index: usize,
    lost_before: u64,
}

impl<T: DataHubSlot> ReadSlot<'_, T> {
    /// The item's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Items lost (overwritten unread) just before this one.
    pub fn lost_before(&self) -> u64 {
        self.lost_before
    }

    /// Checks the item against the checksum its producer recorded; `true`
    /// when it matches (always `true` on a channel without checksums).
    pub fn verify_checksum(&self) -> bool {
        match self.consumer.segment.checksums() {
            None => true,
            Some(entries) => {
                checksum::verify(&entries[self.index], None, self.seq, self.bytes()).is_ok()
            }
        }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the slot is `size_of::<T>()` bytes inside the mapping,
        // committed, and protected by our read mark until drop.
        unsafe {
            std::slice::from_raw_parts(
                self.consumer.segment.slot_ptr(self.index).cast::<u8>(),
                size_of::<T>(),
            )
        }
    }
}

impl<T: DataHubSlot> Deref for ReadSlot<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: committed (Acquire in try_read) and protected by our mark
        // until drop; aligned (slots are 64-aligned, T's align at most 64,
        // checked by the hash: same T as the producer's); any bits are a T.
        unsafe { &*self.consumer.segment.slot_ptr(self.index).cast::<T>() }
    }
}

impl<T: DataHubSlot> Drop for ReadSlot<'_, T> {
    fn drop(&mut self) {
        let consumer = &mut *self.consumer;
        {
            let ring = consumer.segment.ring();
            let me = &ring.consumers[consumer.entry];
            ring.finish_read(me, self.seq);
            // Relaxed: counters and a liveness figure.
            me.slots_read.fetch_add(1, Relaxed);
            me.heartbeat_ns.store(os::monotonic_ns(), Relaxed);
        }
        consumer.next = self.seq + 1;
    }
}

/// Whether the producer closed the channel (checked only when no item is
/// ready, so that committed items are still read first).
fn closed(segment: &Segment) -> bool {
    // Acquire: pairs with the Release store of CLOSED in `Producer::drop`,
    // which follows every commit; a reader that sees CLOSED and then finds
    // no item has read everything.
    segment.init_state().load(crate::sync::Ordering::Acquire) == crate::segment::header::INIT_CLOSED
}

/// The first top-level field where two canonical struct forms differ, as
/// "\n  field `x`: the segment has `..`, you expect `..`".
pub(crate) fn first_difference(segment: &str, expected: &str) -> String {
    let fields = |canon: &str| -> (String, Vec<String>) {
        let Some(body) = canon.strip_prefix('{').and_then(|c| c.strip_suffix('}')) else {
            // Not a struct: compared whole, below.
            return (String::new(), Vec::new());
        };
        let (head, rest) = body.split_once(':').unwrap_or((body, ""));
        let mut out = Vec::new();
        let (mut depth, mut start) = (0i32, 0);
        for (i, c) in rest.char_indices() {
            match c {
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(rest[start..i].to_owned());
                    start = i + 1;
                }
                _ => {}
            }
        }
        if !rest.is_empty() {
            out.push(rest[start..].to_owned());
        }
        (head.to_owned(), out)
    };
    let (seg_head, seg_fields) = fields(segment);
    let (exp_head, exp_fields) = fields(expected);
    let name = |f: &str| f.split(':').next().unwrap_or("").to_owned();
    let body = |f: &str| {
        f.split_once(':')
            .map_or(f.to_owned(), |(_, b)| b.to_owned())
    };
    for i in 0..seg_fields.len().max(exp_fields.len()) {
        match (seg_fields.get(i), exp_fields.get(i)) {
            (Some(s), Some(e)) if s != e => {
                return if name(s) == name(e) {
                    format!(
                        "\n  field `{}`: the segment has `{}`, you expect `{}`",
                        name(s),
                        body(s),
                        body(e)
                    )
                } else {
                    format!(
                        "\n  field {}: the segment has `{s}`, you expect `{e}`",
                        i + 1
                    )
                };
            }
            (Some(s), None) => return format!("\n  the segment has an extra field `{s}`"),
            (None, Some(e)) => return format!("\n  the segment lacks field `{e}`"),
            _ => {}
        }
    }
    if seg_head != exp_head {
        return format!("\n  size/alignment: the segment has {seg_head}, you expect {exp_head}");
    }
    format!("\n  the segment has `{segment}`, you expect `{expected}`")
}

#[cfg(test)]
mod tests {
    use super::first_difference;

    #[test]
    fn the_first_differing_field_is_named_with_both_sides() {
        let seg = "{4112/8:timestamp_ns:u64@0,seq:u32@8,_pad0:[u8;4]@12,samples:[f32;1024]@16}";
        let mine = "{2064/8:timestamp_ns:u64@0,seq:u32@8,_pad0:[u8;4]@12,samples:[f32;512]@16}";
        assert_eq!(
            first_difference(seg, mine),
            "\n  field `samples`: the segment has `[f32;1024]@16`, you expect `[f32;512]@16`"
        );
        assert!(
            first_difference("{8/8:a:u64@0}", "{16/8:a:u64@0,b:u64@8}")
                .contains("lacks field `b:u64@8`")
        );
        assert!(first_difference("{8/8:a:u64@0}", "{8/8:b:u64@0}").contains("field 1"));
        assert!(first_difference("[u8;16]", "[u8;32]").contains("`[u8;16]`"));
    }
}
