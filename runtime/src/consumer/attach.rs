//! What an attacher checks before it reads a segment: the slot type, the
//! channel hash (zones included), and on a channel with a secret the key
//! and the producer's seal.

use std::time::Duration;

use crate::backoff::{Backoff, Deadline};
use crate::checksum;
use crate::error::{Error, ErrorKind};
use crate::payload::{Bytes, Payload, SlotLayout};
use crate::segment::os;
use crate::segment::shm::Segment;
use crate::types::SchemaHash;

/// Refuses a segment whose channel hash is not `expected`, listing its zones.
pub(super) fn check_channel_hash(segment: &Segment, expected: SchemaHash) -> Result<(), Error> {
    let found = SchemaHash::from_bytes(segment.identity().channel_hash);
    if found == expected {
        return Ok(());
    }
    let zones: Vec<String> = segment
        .zone_names()
        .enumerate()
        .map(|(i, name)| {
            let kind = if segment.zone_locked(i) {
                "locked "
            } else {
                ""
            };
            let canon = segment.schema().zones.get(i).map_or("?", String::as_str);
            format!("{kind}`{name}`: `{canon}`")
        })
        .collect();
    Err(ErrorKind::SchemaMismatch {
        channel: segment.channel().to_owned(),
        part: "channel (slot type and zones)".into(),
        expected: Box::new(expected),
        found: Box::new(found),
        detail: if zones.is_empty() {
            "\n  the segment has no zones".into()
        } else {
            format!("\n  the segment's zones: {}", zones.join(", "))
        },
    }
    .into())
}

/// Refuses a consumer whose secret is not the channel's, and, with a
/// secret, a segment whose seal does not name a live producer of this
/// host: the key vouches for who produces, so a copy of an old segment
/// replayed after its producer is gone (whose tag and items are genuine)
/// is refused (issue 14, defect 10).
pub(super) fn check_secret(
    segment: &Segment,
    keying: Option<&checksum::Keying>,
) -> Result<(), Error> {
    let id = segment.identity();
    let channel = segment.channel();
    let denied = |problem: String| {
        Err(ErrorKind::AccessDenied {
            channel: channel.to_owned(),
            problem,
        }
        .into())
    };
    let keying = match (id.has_secret != 0, keying) {
        (false, None) => return Ok(()),
        (true, None) => {
            return denied("the channel has a secret: pass it with `AttachOptions::secret`".into());
        }
        (false, Some(_)) => {
            return denied(
                "the channel has no secret, but you gave one: it may not be the channel you expect \
                 (drop `AttachOptions::secret` if it is)"
                    .into(),
            );
        }
        (true, Some(keying)) => keying,
    };
    if !checksum::tags_equal(&checksum::secret_tag(keying, channel), &id.secret_tag) {
        return denied("the secret differs from the channel's".into());
    }
    let boot_id = os::boot_id().unwrap_or_default();
    // A producer taking the segment over writes its seal just after its
    // owner CAS: a consumer attaching in between retries, for 100 ms.
    let deadline = Deadline::after(Duration::from_millis(100));
    let mut backoff = Backoff::ATTACH;
    loop {
        let seal = segment.seal();
        let producer = segment.producer();
        let sealed = producer.is_some_and(|p| {
            checksum::tags_equal(
                &checksum::producer_seal(keying, &boot_id, p.pid, p.start_time),
                &seal,
            )
        });
        match producer {
            Some(p) if sealed && os::is_alive(p) => return Ok(()),
            Some(p) if sealed => {
                return denied(format!(
                    "its producer (pid {}) is not running: with a secret, a segment whose producer is \
                     gone cannot be told from a replayed copy of an old one, so it is not read; \
                     restart the producer (it takes the channel over) and attach again",
                    p.pid
                ));
            }
            _ if !deadline.passed() => backoff.snooze(&deadline),
            _ => {
                return denied(
                    "the segment's producer seal does not match its producer on this host: the \
                     segment was not made by a holder of the key for the process it names (a copy \
                     from elsewhere, or forged); remove it and restart the producer"
                        .into(),
                );
            }
        }
    }
}

/// Refuses a segment whose slots are not `P`'s: another kind (typed or
/// raw bytes), another type, or a size the type does not have; for
/// [`Described`](crate::Described) slots, not `expected` (when given), or
/// a recorded layout that does not agree with itself. Returns the layout.
pub(super) fn check_slot<P: Payload>(
    segment: &Segment,
    expected: Option<&SlotLayout>,
) -> Result<SlotLayout, Error> {
    let id = segment.identity();
    let channel = segment.channel();
    let found = SchemaHash::from_bytes(id.slot_hash);
    let recorded = &segment.schema().slot;
    let ours = if P::DESCRIBED {
        let layout = SlotLayout::recorded(id.slot_kind, id.slot_size, recorded, found).map_err(
            |problem| ErrorKind::CorruptSegment {
                channel: channel.to_owned(),
                field: "schema.slot",
                expected: "a slot layout whose canonical form, hash and size agree".into(),
                found: problem,
            },
        )?;
        match expected {
            None => return Ok(layout),
            Some(expected) => expected.clone(),
        }
    } else {
        SlotLayout::of_payload::<P>(id.slot_size)
    };
    let mismatch = |part: &str, detail: String| {
        Err(ErrorKind::SchemaMismatch {
            channel: channel.to_owned(),
            part: part.to_owned(),
            expected: Box::new(ours.hash()),
            found: Box::new(found),
            detail,
        }
        .into())
    };
    if id.slot_kind != ours.kind_byte() {
        return mismatch(
            "slot kind",
            if id.slot_kind == Bytes::KIND {
                format!(
                    "\n  the segment's slots are raw bytes (slot_size {}): attach with `Consumer::<Bytes>`",
                    id.slot_size
                )
            } else {
                format!(
                    "\n  the segment's slots are typed (`{recorded}`): attach with a `DataHubSlot` type of that layout"
                )
            },
        );
    }
    if found != ours.hash() {
        return mismatch(
            "slot type",
            crate::error::mismatch_detail(recorded, ours.canonical()),
        );
    }
    // The hash matched, but it came from the segment: its slot size must
    // be the type's too, or a `&T` could reach past the slot.
    if ours.size() != id.slot_size {
        return Err(ErrorKind::CorruptSegment {
            channel: channel.to_owned(),
            field: "slot_size",
            expected: format!("{}, the size of the slot type its hash names", ours.size()),
            found: id.slot_size.to_string(),
        }
        .into());
    }
    Ok(ours)
}
