//! What every message carries and how it is touched, the same for every
//! system and the floor: the producer writes every byte (little-endian
//! u64 words `seq, seq + STEP, seq + 2 STEP, ...`), the consumer reads
//! every byte (a wrapping sum of the words, checked against the closed
//! form of the pattern) and learns the sequence number from the first
//! word. So no system is timed on memory it never touched, and a
//! message that is torn, stale or out of order is caught.

use std::mem::MaybeUninit;

use anyhow::{Result, bail, ensure};

/// Step between consecutive words of a payload (odd, so every word differs).
const STEP: u64 = 0x9E37_79B9_7F4A_7C15;

/// Payload sizes must be whole words.
pub(crate) const WORD: usize = 8;

/// Word `i` of the payload of item `seq`.
fn word(seq: u64, i: usize) -> u64 {
    seq.wrapping_add(STEP.wrapping_mul(i as u64))
}

/// Writes the payload of item `seq` into `buf` (every byte).
pub(crate) fn fill(buf: &mut [u8], seq: u64) {
    for (i, chunk) in buf.chunks_exact_mut(WORD).enumerate() {
        chunk.copy_from_slice(&word(seq, i).to_le_bytes());
    }
}

/// [`fill`] into memory that may not be initialized yet (a loaned
/// iceoryx2 sample); afterwards every byte is.
pub(crate) fn fill_uninit(buf: &mut [MaybeUninit<u8>], seq: u64) {
    for (i, chunk) in buf.chunks_exact_mut(WORD).enumerate() {
        chunk.copy_from_slice(&word(seq, i).to_le_bytes().map(MaybeUninit::new));
    }
}

/// Reads every byte of a payload written by [`fill`] and returns its
/// sequence number; fails when any word is not the pattern's.
pub(crate) fn check(buf: &[u8]) -> Result<u64> {
    ensure!(
        buf.len() >= WORD && buf.len().is_multiple_of(WORD),
        "a payload of {} bytes: expected whole words",
        buf.len()
    );
    let words = buf
        .chunks_exact(WORD)
        .map(|c| u64::from_le_bytes(c.try_into().expect("chunks of a word")));
    let sum = words.fold(0u64, u64::wrapping_add);
    let seq = u64::from_le_bytes(buf[..WORD].try_into().expect("one word"));
    if sum != expected_sum(seq, buf.len() / WORD) {
        bail!(
            "payload of item {seq} ({} bytes) is not the pattern written: torn or stale",
            buf.len()
        );
    }
    Ok(seq)
}

/// Sum of the `n` words of item `seq`: `n seq + STEP n (n - 1) / 2`, wrapping.
fn expected_sum(seq: u64, n: usize) -> u64 {
    let n = n as u64;
    // n (n - 1) / 2 without overflow before the division: halve the even factor.
    let triangle = if n.is_multiple_of(2) {
        (n / 2).wrapping_mul(n.wrapping_sub(1))
    } else {
        n.wrapping_mul(n.wrapping_sub(1) / 2)
    };
    n.wrapping_mul(seq)
        .wrapping_add(STEP.wrapping_mul(triangle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_payload_checks_and_names_its_item() {
        for size in [8, 64, 4096, 4104] {
            let mut buf = vec![0u8; size];
            fill(&mut buf, 12345);
            assert_eq!(check(&buf).unwrap(), 12345);
            let mut uninit = vec![MaybeUninit::new(0u8); size];
            fill_uninit(&mut uninit, 7);
            let bytes: Vec<u8> = uninit
                .iter()
                // SAFETY: every element was initialized, by
                // `MaybeUninit::new` and then by `fill_uninit`.
                .map(|b| unsafe { b.assume_init() })
                .collect();
            assert_eq!(bytes, {
                let mut b = vec![0; size];
                fill(&mut b, 7);
                b
            });
        }
    }

    #[test]
    fn a_payload_with_one_changed_byte_or_the_wrong_size_fails() {
        let mut buf = vec![0u8; 4096];
        fill(&mut buf, 3);
        buf[4000] ^= 1;
        assert!(check(&buf).is_err());
        assert!(check(&buf[..7]).is_err());
        assert!(check(&[]).is_err());
    }
}
