//! Slot checksums (`docs/locks-and-checksums.md`): one 64-byte entry per ring slot,
//! holding the BLAKE2b-256 digest of the item's sequence number and
//! payload, keyed (a MAC) when the channel has a secret.
//!
//! The digest covers `seq.to_le_bytes() || payload`, so an item replayed
//! into another slot or under another sequence number fails, and a
//! truncated or extended payload fails (BLAKE2b hashes the length in).
//! Keyed, it also covers the segment's incarnation nonce first
//! (`nonce || seq || payload`), so an item from an earlier incarnation of
//! the channel (a copy of an old segment) does not verify in a new one.
//!
//! The producer stores the entry before its Release commit of the slot;
//! a consumer reads it after its Acquire load of the slot state and while
//! its read mark holds the slot (`ring::protocol`). The words are atomics
//! all the same, so that a hostile or broken peer writing them at the wrong
//! time gives a mismatch, never undefined behaviour.

use blake2::Blake2b256;
use blake2::digest::{Digest, Mac};

use crate::segment::layout::SlotChecksum;
use crate::segment::seal::{DIGEST_LEN, constant_time_eq, mac};
// The keys and tags live with the segment they vouch for; the consumer and
// the producer reach them through here, with the digests.
pub(crate) use crate::segment::seal::{Keying, producer_seal, secret_tag, tags_equal};
use crate::sync::Ordering::Relaxed;

/// The digest of item `seq` with payload `payload`: BLAKE2b with a 32-byte
/// output over `seq.to_le_bytes() || payload`; with a key, BLAKE2b's keyed
/// mode (a MAC) over `nonce || seq.to_le_bytes() || payload`.
pub(crate) fn digest(keying: Option<&Keying>, seq: u64, payload: &[u8]) -> [u8; DIGEST_LEN] {
    match keying {
        None => {
            let mut hasher = Blake2b256::new();
            Digest::update(&mut hasher, seq.to_le_bytes());
            Digest::update(&mut hasher, payload);
            hasher.finalize().into()
        }
        Some(keying) => {
            let mut mac = mac(&keying.key);
            Mac::update(&mut mac, &keying.nonce);
            Mac::update(&mut mac, &seq.to_le_bytes());
            Mac::update(&mut mac, payload);
            mac.finalize().into_bytes().into()
        }
    }
}

/// Records the digest of item `seq` (`payload_len` bytes) in its slot's
/// entry.
pub(crate) fn store(entry: &SlotChecksum, digest: &[u8; DIGEST_LEN], payload_len: u64, seq: u64) {
    for (word, bytes) in entry.digest.iter().zip(digest.chunks_exact(8)) {
        // Relaxed: published by the producer's Release store of
        // `SLOT_COMMITTED` in `Ring::commit`, which follows.
        word.store(u64::from_le_bytes(bytes.try_into().unwrap()), Relaxed);
    }
    // Relaxed: as above.
    entry.payload_len.store(payload_len, Relaxed);
    entry.seq.store(seq, Relaxed);
}

/// The digest an entry holds.
pub(crate) fn load(entry: &SlotChecksum) -> [u8; DIGEST_LEN] {
    let mut digest = [0; DIGEST_LEN];
    for (word, bytes) in entry.digest.iter().zip(digest.chunks_exact_mut(8)) {
        // Relaxed: ordered after the consumer's Acquire load of the slot
        // state in `Ring::try_read`, which pairs with the commit.
        bytes.copy_from_slice(&word.load(Relaxed).to_le_bytes());
    }
    digest
}

/// The payload read does not match the digest the producer recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChecksumMismatch {
    /// The digest in the slot's entry (what the producer recorded).
    pub(crate) expected: [u8; DIGEST_LEN],
    /// The digest of the item as this consumer read it.
    pub(crate) found: [u8; DIGEST_LEN],
}

/// Checks item `seq`, read as `payload`, against its slot's entry. The
/// digest alone decides: it covers `seq` and the payload with its length,
/// so the entry's `seq` and `payload_len` words (kept for inspection) add
/// nothing. Compared in constant time, so that a peer without the key
/// learns nothing about a valid MAC from how long a refusal takes.
pub(crate) fn verify(
    entry: &SlotChecksum,
    keying: Option<&Keying>,
    seq: u64,
    payload: &[u8],
) -> Result<(), ChecksumMismatch> {
    let expected = load(entry);
    let found = digest(keying, seq, payload);
    if constant_time_eq(&expected, &found) {
        Ok(())
    } else {
        Err(ChecksumMismatch { expected, found })
    }
}

#[cfg(all(test, not(datahub_loom)))]
mod tests {
    use super::*;

    const KEY: Keying = Keying {
        key: [0x42; 32],
        nonce: NONCE,
    };
    const OTHER_KEY: Keying = Keying {
        key: [0x43; 32],
        nonce: NONCE,
    };
    /// Bytes 0, 1, ..., 31.
    const NONCE: [u8; 32] = {
        let mut n = [0; 32];
        let mut i = 0;
        while i < 32 {
            n[i] = i as u8;
            i += 1;
        }
        n
    };

    fn reference(bytes: &[u8]) -> [u8; 32] {
        Blake2b256::digest(bytes).into()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_digest_is_blake2b_256_of_the_little_endian_seq_then_the_payload() {
        let payload = b"one acquisition frame";
        let seq = 0x0102_0304_0506_0708u64;
        let mut input = vec![8, 7, 6, 5, 4, 3, 2, 1];
        input.extend_from_slice(payload);
        assert_eq!(digest(None, seq, payload), reference(&input));
        // An empty payload hashes the seq alone.
        assert_eq!(digest(None, 0, b""), reference(&[0; 8]));
    }

    #[test]
    fn digests_match_an_independent_implementation() {
        // Python's hashlib (the reference C implementation), with
        // nonce = bytes(range(32)) and key = b"\x42" * 32:
        // blake2b(struct.pack("<Q", 5) + b"abc", digest_size=32)
        assert_eq!(
            hex(&digest(None, 5, b"abc")),
            "12517b98313214b1fe71b831f9c3eb2e8db0437bd83e68fb5933b2fadacd118d"
        );
        // blake2b(nonce + struct.pack("<Q", 5) + b"abc", digest_size=32, key=key)
        assert_eq!(
            hex(&digest(Some(&KEY), 5, b"abc")),
            "415cc15b51d4f7efcf5b3a68c144a6422e32cca62a2d45f94ae6aa2507dd8897"
        );
        // blake2b(b"datahub.secret.v2 " + nonce + b"sensor", digest_size=32, key=key)
        assert_eq!(
            hex(&secret_tag(&KEY, "sensor")),
            "877b76cf04b66850762003d0c51cb042ab3cbc2b636e34155d56822876988c50"
        );
        // blake2b(b"datahub.producer.v1 " + nonce + bytes([36]) + boot_id
        //         + struct.pack("<I", 1234) + struct.pack("<Q", 987654),
        //         digest_size=32, key=key)
        let boot_id = "0f0e0d0c-0b0a-0908-0706-050403020100";
        assert_eq!(
            hex(&producer_seal(&KEY, boot_id, 1234, 987_654)),
            "e4f18cbd45b443b0b1da0f790d5ead831b6e8405e2b1eff37e1fe6ef090afbea"
        );
    }

    #[test]
    fn keyed_digests_differ_from_unkeyed_and_between_keys() {
        let (seq, payload) = (9, &b"payload"[..]);
        let unkeyed = digest(None, seq, payload);
        let keyed = digest(Some(&KEY), seq, payload);
        assert_ne!(keyed, unkeyed);
        assert_ne!(keyed, digest(Some(&OTHER_KEY), seq, payload));
        assert_eq!(keyed, digest(Some(&KEY), seq, payload), "deterministic");
        // An all-zero key is a key, not the unkeyed hash.
        let zero = Keying {
            key: [0; 32],
            nonce: [0; 32],
        };
        assert_ne!(digest(Some(&zero), seq, payload), unkeyed);
        // Another incarnation (nonce) of the same channel: another MAC.
        let other_incarnation = Keying {
            nonce: [9; 32],
            ..KEY
        };
        assert_ne!(digest(Some(&other_incarnation), seq, payload), keyed);
        assert_ne!(
            secret_tag(&other_incarnation, "sensor"),
            secret_tag(&KEY, "sensor")
        );
    }

    #[test]
    fn a_stored_digest_verifies_and_reads_back_byte_for_byte() {
        for key in [None, Some(&KEY)] {
            let entry = SlotChecksum::new();
            let payload = [7u8; 100];
            let d = digest(key, 3, &payload);
            store(&entry, &d, 100, 3);
            assert_eq!(load(&entry), d);
            assert_eq!(entry.payload_len.load(Relaxed), 100);
            assert_eq!(entry.seq.load(Relaxed), 3);
            assert_eq!(verify(&entry, key, 3, &payload), Ok(()));
        }
    }

    #[test]
    fn a_flipped_payload_bit_a_wrong_seq_or_a_wrong_key_is_detected() {
        let entry = SlotChecksum::new();
        let payload = *b"calibration table v2";
        let d = digest(Some(&KEY), 11, &payload);
        store(&entry, &d, payload.len() as u64, 11);

        for bit in [0, 7, 8 * payload.len() - 1] {
            let mut flipped = payload;
            flipped[bit / 8] ^= 1 << (bit % 8);
            let err = verify(&entry, Some(&KEY), 11, &flipped).unwrap_err();
            assert_eq!(err.expected, d);
            assert_eq!(err.found, digest(Some(&KEY), 11, &flipped));
        }
        assert!(
            verify(&entry, Some(&KEY), 12, &payload).is_err(),
            "replayed as seq 12"
        );
        assert!(verify(&entry, Some(&OTHER_KEY), 11, &payload).is_err());
        assert!(
            verify(&entry, None, 11, &payload).is_err(),
            "keyless reader"
        );
        assert!(
            verify(&entry, Some(&KEY), 11, &payload[1..]).is_err(),
            "truncated"
        );
        assert_eq!(verify(&entry, Some(&KEY), 11, &payload), Ok(()));
    }

    #[test]
    fn a_fresh_entry_matches_no_item() {
        let entry = SlotChecksum::new();
        assert!(verify(&entry, None, 0, b"").is_err());
        assert!(verify(&entry, Some(&KEY), 0, b"").is_err());
    }

    #[test]
    fn the_entry_is_one_cache_line_with_the_digest_bytes_in_order() {
        let entry = SlotChecksum::new();
        let d: [u8; 32] = core::array::from_fn(|i| i as u8);
        store(&entry, &d, 0x1122, 0x3344);
        assert_eq!(core::mem::size_of_val(&entry), 64);
        // SAFETY: SlotChecksum is 64 bytes of atomics and integers, all
        // initialized, with no padding; reading them as bytes is fine.
        let bytes: [u8; 64] = unsafe { core::mem::transmute_copy(&entry) };
        if cfg!(target_endian = "little") {
            assert_eq!(bytes[..32], d);
        }
        assert_eq!(bytes[32..40], 0x1122u64.to_ne_bytes());
        assert_eq!(bytes[40..48], 0x3344u64.to_ne_bytes());
        assert_eq!(bytes[48..], [0; 16]);
    }

    #[test]
    fn constant_time_eq_is_equality() {
        let a = [5u8; 32];
        let mut b = a;
        assert!(constant_time_eq(&a, &b));
        for i in [0, 17, 31] {
            b = a;
            b[i] ^= 0x80;
            assert!(!constant_time_eq(&a, &b));
        }
        // Two bytes that differ by the same bit: a fold that XORs the
        // differences (rather than ORing them) would cancel them out.
        b = a;
        b[3] ^= 0x01;
        b[20] ^= 0x01;
        assert!(!constant_time_eq(&a, &b));
    }

    #[test]
    fn tags_equal_is_equality_of_whole_tags() {
        let a = [7u8; 32];
        assert!(tags_equal(&a, &a));
        for i in [0, 31] {
            let mut b = a;
            b[i] = 0;
            assert!(!tags_equal(&a, &b), "differs at byte {i}");
        }
    }
}
