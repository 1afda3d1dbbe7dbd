//! Who may produce and consume on a channel with a secret (`docs/protocol.md`, "Liveness and recovery"):
//! the keyed BLAKE2b-256 (a MAC) a segment stores to prove a key without
//! revealing it (the secret tag), and the producer's seal. The slot
//! digests (`crate::checksum`) use the same keyed hash.

use blake2::Blake2bMac;
use blake2::digest::consts::U32;
use blake2::digest::{KeyInit, Mac};

/// Bytes of a digest.
pub(crate) const DIGEST_LEN: usize = 32;

/// A channel secret: 256 bits.
pub(crate) type Key = [u8; 32];

/// A channel's key with the nonce of the segment's incarnation: what keyed
/// digests, the secret tag and the producer's seal are computed with.
#[derive(Clone, Copy)]
pub(crate) struct Keying {
    pub(crate) key: Key,
    pub(crate) nonce: [u8; 32],
}

/// A BLAKE2b-256 MAC with `key` (RFC 7693: key length 32 in the
/// parameter block, the key padded to a first block of its own).
pub(crate) fn mac(key: &Key) -> Blake2bMac<U32> {
    // `new_from_slice`, not `KeyInit::new`: the latter takes a 64-byte
    // key, which would hash a key length of 64, not 32.
    <Blake2bMac<U32> as KeyInit>::new_from_slice(key)
        .expect("a 32-byte key is within BLAKE2b's 64-byte limit")
}

/// The tag a segment stores for a channel with a secret: the keyed
/// BLAKE2b-256 of `"datahub.secret.v2 " || nonce || channel name`. It
/// proves a key without revealing it, for this incarnation only.
pub(crate) fn secret_tag(keying: &Keying, channel: &str) -> [u8; DIGEST_LEN] {
    let mut mac = mac(&keying.key);
    Mac::update(&mut mac, b"datahub.secret.v2 ");
    Mac::update(&mut mac, &keying.nonce);
    Mac::update(&mut mac, channel.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The producer's seal (`SealLine`): the keyed BLAKE2b-256 of
/// `"datahub.producer.v1 " || nonce || len(boot_id) as u8 || boot_id ||
/// pid as u32 LE || start_time as u64 LE`.
pub(crate) fn producer_seal(
    keying: &Keying,
    boot_id: &str,
    pid: u32,
    start_time: u64,
) -> [u8; DIGEST_LEN] {
    let mut mac = mac(&keying.key);
    Mac::update(&mut mac, b"datahub.producer.v1 ");
    Mac::update(&mut mac, &keying.nonce);
    let boot_id = &boot_id.as_bytes()[..boot_id.len().min(255)];
    Mac::update(&mut mac, &[boot_id.len() as u8]);
    Mac::update(&mut mac, boot_id);
    Mac::update(&mut mac, &pid.to_le_bytes());
    Mac::update(&mut mac, &start_time.to_le_bytes());
    mac.finalize().into_bytes().into()
}

/// Whether two tags are equal, in constant time.
pub(crate) fn tags_equal(a: &[u8; DIGEST_LEN], b: &[u8; DIGEST_LEN]) -> bool {
    constant_time_eq(a, b)
}

/// `a == b`, in time that does not depend on where they differ.
pub(crate) fn constant_time_eq(a: &[u8; DIGEST_LEN], b: &[u8; DIGEST_LEN]) -> bool {
    let difference = a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y));
    // black_box: keeps the optimizer from turning the fold into an early exit.
    core::hint::black_box(difference) == 0
}
