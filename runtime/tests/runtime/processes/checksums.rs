//! Checksums that fail, seen from another process (issue 15): this
//! process writes items 0 and 1, damages item 1 in the segment file as a
//! stray writer would, and a child consumer reads both. Item 0 must
//! verify and item 1 must not, for typed and raw-bytes slots, Manual and
//! Enforced policies, with and without a secret.

use datahub::Secret;
use datahub::{
    AttachOptions, Bytes, ChannelConfig, ChecksumPolicy, Consumer, ErrorKind, Payload, Producer,
};
use serde_json::{Value, json};

use super::spawn::ChildProcess;
use super::{Record, STUCK, deadline};
use crate::channel::Name;

const KEY: [u8; 32] = [0x3C; 32];
const OTHER_KEY: [u8; 32] = [0x3D; 32];

// Header words (docs/layout.md).
const SLOT_STRIDE: usize = 248;
const SLOT_STATES_OFFSET: usize = 352;
const SLOTS_OFFSET: usize = 392;
/// Bytes of a `SlotState` entry, and where its `payload_len` lies.
const SLOT_STATE_SIZE: u64 = 64;
const PAYLOAD_LEN: u64 = 16;

/// Bytes of a raw-bytes slot, and of the items written into it.
const BYTES_SLOT: u64 = 64;
const BYTES_ITEM: usize = 40;

fn bytes_item(seq: u64) -> Vec<u8> {
    (0..BYTES_ITEM).map(|i| (seq as u8) ^ (i as u8)).collect()
}

/// What the slots hold.
#[derive(Clone, Copy)]
enum Slots {
    Typed,
    Bytes,
}

/// How item 1 is damaged behind the protocol's back.
#[derive(Clone, Copy)]
enum Damage {
    /// A payload byte flipped.
    FlipByte,
    /// The stored length one byte short (raw bytes: the item reads
    /// shorter, its bytes all genuine).
    Shorten,
}

/// The producer, kept alive while the child reads (a secret channel's
/// consumer is refused once its producer is gone); never read.
#[expect(dead_code, reason = "held for its lifetime, not read")]
enum Held {
    Typed(Producer<Record>),
    Bytes(Producer<Bytes>),
}

/// Creates a channel of `slots` with `policy` (and the secret `KEY` when
/// `keyed`), writes items 0 and 1, and damages item 1. Each item's
/// checksum is recorded with `update_checksum`, as Manual asks of the
/// producer (Enforced records it again at commit).
fn two_items_the_second_damaged(
    name: &Name,
    slots: Slots,
    policy: ChecksumPolicy,
    keyed: bool,
    damage: Damage,
) -> Held {
    let mut config = ChannelConfig::new(&name.0).capacity(8).checksum(policy);
    if keyed {
        config = config.secret(Secret::from_bytes(KEY));
    }
    let held = match slots {
        Slots::Typed => {
            let mut p = Producer::<Record>::create(&config).unwrap();
            for seq in 0..2 {
                let mut slot = p.acquire(STUCK).unwrap();
                slot.fill(seq);
                slot.update_checksum();
                slot.commit();
            }
            Held::Typed(p)
        }
        Slots::Bytes => {
            let mut p = Producer::<Bytes>::create(&config.slot_size(BYTES_SLOT)).unwrap();
            for seq in 0..2 {
                let mut slot = p.acquire(STUCK).unwrap();
                slot[..BYTES_ITEM].copy_from_slice(&bytes_item(seq));
                slot.set_len(BYTES_ITEM);
                slot.update_checksum();
                slot.commit();
            }
            Held::Bytes(p)
        }
    };
    match damage {
        Damage::FlipByte => {
            let slot_1 = name.header_word(SLOTS_OFFSET) + name.header_word(SLOT_STRIDE);
            let at = slot_1 + 20;
            let byte = std::fs::read(format!("/dev/shm/datahub.{}", name.0)).unwrap()[at as usize];
            name.poke(at, &[byte ^ 0x01]);
        }
        Damage::Shorten => {
            let len_at = name.header_word(SLOT_STATES_OFFSET) + SLOT_STATE_SIZE + PAYLOAD_LEN;
            name.poke(len_at, &(BYTES_ITEM as u64 - 1).to_le_bytes());
        }
    }
    held
}

/// Runs the child consumer of `name` (its payload `slots`, its key
/// `key`: `none`, `right` or `wrong`) and returns its result.
fn read_in_a_child(name: &Name, slots: &str, key: &str) -> Value {
    ChildProcess::spawn(&["verify", &name.0, slots, key])
        .finish(deadline())
        .result()
}

/// Child: attaches to `channel` (typed `Record` or raw bytes, with no
/// key, the right one or a wrong one) and reads two items, reporting for
/// each whether it verifies, or the error `next` returned; then the
/// `checksum_failures` of its own consumer entry.
pub(super) fn read_and_verify(channel: &str, slots: &str, key: &str) -> Value {
    let options = match key {
        "none" => AttachOptions::default(),
        "right" => AttachOptions::default().secret(Secret::from_bytes(KEY)),
        "wrong" => AttachOptions::default().secret(Secret::from_bytes(OTHER_KEY)),
        other => panic!("unknown key `{other}`"),
    };
    match slots {
        "typed" => verify_two::<Record>(channel, &options, |item| item.assert_is(item.seq)),
        "bytes" => verify_two::<Bytes>(channel, &options, |item| {
            assert_eq!(item, bytes_item(0).as_slice());
        }),
        other => panic!("unknown slots `{other}`"),
    }
}

fn verify_two<P: Payload>(
    channel: &str,
    options: &AttachOptions,
    check_item_0: impl Fn(&P::View),
) -> Value {
    let consumer = match Consumer::<P>::attach_with(channel, options) {
        Ok(consumer) => consumer,
        Err(e) => return json!({"attach": e.code(), "message": e.to_string()}),
    };
    let mut items = Vec::new();
    for _ in 0..2 {
        items.push(match consumer.next(STUCK) {
            Ok(item) => {
                if item.seq() == 0 {
                    check_item_0(&item);
                }
                json!({"seq": item.seq(), "verifies": item.verify_checksum()})
            }
            Err(e) => match e.kind() {
                ErrorKind::ChecksumMismatch { seq, .. } => json!({"seq": seq, "error": e.code()}),
                _ => panic!("after {items:?}: {e}"),
            },
        });
    }
    let me = std::process::id();
    let snapshot = datahub::inspect(channel).unwrap();
    let entry = snapshot.consumers.iter().find(|c| c.pid == me).unwrap();
    json!({"items": items, "checksum_failures": entry.checksum_failures})
}

/// The channel's checksum failure counters: (`checksum_failures`,
/// `last_error_code`).
fn failures(name: &Name) -> (u64, u64) {
    let c = datahub::inspect(&name.0).unwrap().counters;
    (c["checksum_failures"], c["last_error_code"])
}

/// What a child reports when item 0 verifies and item 1, read all the
/// same (Manual: the reader decides), does not.
fn manual_verdicts() -> Value {
    json!({
        "items": [{"seq": 0, "verifies": true}, {"seq": 1, "verifies": false}],
        "checksum_failures": 0,
    })
}

/// What a child reports when item 0 verifies and item 1 is refused with
/// `ChecksumMismatch` (Enforced), counted at its consumer entry.
fn enforced_verdicts() -> Value {
    json!({
        "items": [{"seq": 0, "verifies": true}, {"seq": 1, "error": "DH211"}],
        "checksum_failures": 1,
    })
}

#[test]
fn under_manual_checksums_a_corrupted_item_is_read_and_does_not_verify() {
    let name = Name::new("ck-manual");
    let _producer = two_items_the_second_damaged(
        &name,
        Slots::Typed,
        ChecksumPolicy::Manual,
        false,
        Damage::FlipByte,
    );
    assert_eq!(read_in_a_child(&name, "typed", "none"), manual_verdicts());
    assert_eq!(failures(&name), (0, 0), "Manual: the reader decides");
}

#[test]
fn under_enforced_checksums_a_corrupted_item_is_refused_and_counted() {
    let name = Name::new("ck-enforced");
    let _producer = two_items_the_second_damaged(
        &name,
        Slots::Typed,
        ChecksumPolicy::Enforced,
        false,
        Damage::FlipByte,
    );
    assert_eq!(read_in_a_child(&name, "typed", "none"), enforced_verdicts());
    assert_eq!(failures(&name), (1, 211));
}

/// A secret channel: the keyed digest verifies with the key (item 0) and
/// catches the damage (item 1); a consumer with another key, or none, is
/// refused before it reads anything.
#[test]
fn on_a_secret_channel_a_corrupted_item_does_not_verify_and_a_wrong_key_is_refused() {
    let name = Name::new("ck-keyed");
    let _producer = two_items_the_second_damaged(
        &name,
        Slots::Typed,
        ChecksumPolicy::Manual,
        true,
        Damage::FlipByte,
    );
    assert_eq!(read_in_a_child(&name, "typed", "right"), manual_verdicts());
    for (key, says) in [
        ("wrong", "the secret differs"),
        ("none", "the channel has a secret"),
    ] {
        let result = read_in_a_child(&name, "typed", key);
        assert_eq!(result["attach"], "DH214", "{key}: {result}");
        let message = result["message"].as_str().unwrap();
        assert!(message.contains(says), "{key}: {message}");
    }

    let enforced = Name::new("ck-keyed-enforced");
    let _producer = two_items_the_second_damaged(
        &enforced,
        Slots::Typed,
        ChecksumPolicy::Enforced,
        true,
        Damage::FlipByte,
    );
    assert_eq!(
        read_in_a_child(&enforced, "typed", "right"),
        enforced_verdicts()
    );
    assert_eq!(failures(&enforced), (1, 211));
}

/// Raw bytes: the digest covers the item's bytes and its length, so a
/// flipped byte and a length cut short both fail, Manual and Enforced.
#[test]
fn on_a_bytes_channel_a_corrupted_or_shortened_item_fails_its_checksum() {
    for (tag, damage) in [("flip", Damage::FlipByte), ("short", Damage::Shorten)] {
        let manual = Name::new(&format!("ck-bytes-{tag}-manual"));
        let _producer = two_items_the_second_damaged(
            &manual,
            Slots::Bytes,
            ChecksumPolicy::Manual,
            false,
            damage,
        );
        assert_eq!(
            read_in_a_child(&manual, "bytes", "none"),
            manual_verdicts(),
            "{tag}"
        );
        let enforced = Name::new(&format!("ck-bytes-{tag}-enforced"));
        let _producer = two_items_the_second_damaged(
            &enforced,
            Slots::Bytes,
            ChecksumPolicy::Enforced,
            false,
            damage,
        );
        assert_eq!(
            read_in_a_child(&enforced, "bytes", "none"),
            enforced_verdicts(),
            "{tag}"
        );
        assert_eq!(failures(&enforced), (1, 211), "{tag}");
    }
}
