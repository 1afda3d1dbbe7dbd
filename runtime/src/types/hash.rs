//! A `const fn` BLAKE2b-256 (RFC 7693: unkeyed, 32-byte digest, 12 rounds)
//! and the type hash computed with it by streaming over a [`TypeDesc`].
//!
//! The derive's `SCHEMA_HASH` is evaluated by rustc, so the hash of the
//! layout rustc chose is a compile-time constant that generated code can
//! compare with the hash a TOML schema promised. It must equal
//! `datahub_schema::SchemaHash::of_type_canon` byte for byte; the tests
//! check both the hasher (against the `blake2` crate) and the vectors.

use datahub_schema::{SchemaHash, TYPE_HASH_DOMAIN};

use super::desc::TypeDesc;

const BLOCK: usize = 128;
const DIGEST: usize = 32;

const IV: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

const SIGMA: [[usize; 16]; 12] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
];

/// Streaming BLAKE2b-256 usable in `const` contexts.
///
/// The last block must be compressed with the finalization flag, so a full
/// buffer is only compressed once more input arrives.
pub(crate) struct ConstBlake2b256 {
    h: [u64; 8],
    /// Bytes compressed so far (the RFC's `t`).
    counter: u128,
    buf: [u8; BLOCK],
    buf_len: usize,
}

impl ConstBlake2b256 {
    pub(crate) const fn new() -> Self {
        let mut h = IV;
        // Parameter block word 0: digest length, key length 0, fanout 1, depth 1.
        h[0] ^= 0x0101_0000 ^ (DIGEST as u64);
        Self {
            h,
            counter: 0,
            buf: [0; BLOCK],
            buf_len: 0,
        }
    }

    pub(crate) const fn update(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            if self.buf_len == BLOCK {
                self.counter += BLOCK as u128;
                self.compress(false);
                self.buf_len = 0;
            }
            self.buf[self.buf_len] = bytes[i];
            self.buf_len += 1;
            i += 1;
        }
    }

    /// Feeds `n` in decimal, without sign or leading zeros.
    pub(crate) const fn update_decimal(&mut self, mut n: usize) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let (_, used) = digits.split_at(start);
        self.update(used);
    }

    pub(crate) const fn finalize(mut self) -> [u8; DIGEST] {
        self.counter += self.buf_len as u128;
        let mut i = self.buf_len;
        while i < BLOCK {
            self.buf[i] = 0;
            i += 1;
        }
        self.compress(true);
        let mut out = [0u8; DIGEST];
        let mut w = 0;
        while w < DIGEST / 8 {
            let bytes = self.h[w].to_le_bytes();
            let mut b = 0;
            while b < 8 {
                out[w * 8 + b] = bytes[b];
                b += 1;
            }
            w += 1;
        }
        out
    }

    const fn compress(&mut self, last: bool) {
        let mut m = [0u64; 16];
        let mut i = 0;
        while i < 16 {
            let mut word = [0u8; 8];
            let mut b = 0;
            while b < 8 {
                word[b] = self.buf[i * 8 + b];
                b += 1;
            }
            m[i] = u64::from_le_bytes(word);
            i += 1;
        }

        let mut v = [0u64; 16];
        let mut i = 0;
        while i < 8 {
            v[i] = self.h[i];
            v[i + 8] = IV[i];
            i += 1;
        }
        v[12] ^= self.counter as u64;
        v[13] ^= (self.counter >> 64) as u64;
        if last {
            v[14] = !v[14];
        }

        let mut round = 0;
        while round < 12 {
            let s = &SIGMA[round];
            g(&mut v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
            g(&mut v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
            g(&mut v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
            g(&mut v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
            g(&mut v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
            g(&mut v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
            g(&mut v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
            g(&mut v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
            round += 1;
        }

        let mut i = 0;
        while i < 8 {
            self.h[i] ^= v[i] ^ v[i + 8];
            i += 1;
        }
    }
}

/// The mixing function G of RFC 7693 §3.1.
#[allow(clippy::many_single_char_names)]
const fn g(v: &mut [u64; 16], a: usize, b: usize, c: usize, d: usize, x: u64, y: u64) {
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
    v[d] = (v[d] ^ v[a]).rotate_right(32);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(24);
    v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
    v[d] = (v[d] ^ v[a]).rotate_right(16);
    v[c] = v[c].wrapping_add(v[d]);
    v[b] = (v[b] ^ v[c]).rotate_right(63);
}

/// BLAKE2b-256 of `bytes`, in `const`.
#[cfg(test)]
pub(crate) const fn blake2b_256(bytes: &[u8]) -> [u8; DIGEST] {
    let mut h = ConstBlake2b256::new();
    h.update(bytes);
    h.finalize()
}

/// Feeds the canonical form of `desc` (`docs/schema.md`, "Canonical form and hashes") into the hasher.
const fn feed_canonical(h: &mut ConstBlake2b256, desc: &TypeDesc) {
    match *desc {
        TypeDesc::Prim(p) => h.update(p.name().as_bytes()),
        TypeDesc::Array { elem, len } => {
            h.update(b"[");
            feed_canonical(h, elem);
            h.update(b";");
            h.update_decimal(len);
            h.update(b"]");
        }
        TypeDesc::Struct {
            size,
            align,
            fields,
        } => {
            h.update(b"{");
            h.update_decimal(size);
            h.update(b"/");
            h.update_decimal(align);
            h.update(b":");
            let mut i = 0;
            while i < fields.len() {
                if i > 0 {
                    h.update(b",");
                }
                let field = &fields[i];
                h.update(field.name.as_bytes());
                h.update(b":");
                feed_canonical(h, field.ty);
                h.update(b"@");
                h.update_decimal(field.offset);
                i += 1;
            }
            h.update(b"}");
        }
    }
}

/// The type hash `BLAKE2b-256("datahub.type.v1 " + canon(desc))`, in `const`.
///
/// Equal to `SchemaHash::of_type_canon(&desc.canonical())`.
pub const fn type_hash(desc: &TypeDesc) -> SchemaHash {
    let mut h = ConstBlake2b256::new();
    h.update(TYPE_HASH_DOMAIN.as_bytes());
    feed_canonical(&mut h, desc);
    SchemaHash::from_bytes(h.finalize())
}

/// Parses the `dh1:` text form of a schema hash in `const`.
///
/// Malformed text panics, which in a `const` is a compile error; at run time
/// prefer `str::parse::<SchemaHash>()`, which returns an error instead.
///
/// ```
/// use datahub::{SchemaHash, schema_hash};
///
/// const H: SchemaHash =
///     schema_hash("dh1:bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
/// assert_eq!(H, SchemaHash::digest(b"abc"));
/// ```
pub const fn schema_hash(text: &str) -> SchemaHash {
    let bytes = text.as_bytes();
    assert!(
        bytes.len() == 4 + 2 * DIGEST,
        "a schema hash is `dh1:` followed by 64 lowercase hex digits"
    );
    assert!(
        bytes[0] == b'd' && bytes[1] == b'h' && bytes[2] == b'1' && bytes[3] == b':',
        "a schema hash starts with `dh1:`"
    );
    let mut out = [0u8; DIGEST];
    let mut i = 0;
    while i < 2 * DIGEST {
        let nibble = match bytes[4 + i] {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'a'..=b'f' => c - b'a' + 10,
            c @ b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("a schema hash has only hex digits after `dh1:`"),
        };
        out[i / 2] |= nibble << if i % 2 == 0 { 4 } else { 0 };
        i += 1;
    }
    SchemaHash::from_bytes(out)
}

#[cfg(test)]
mod tests {
    use blake2::{Blake2b256, Digest};

    use super::*;

    fn reference(bytes: &[u8]) -> [u8; 32] {
        Blake2b256::digest(bytes).into()
    }

    /// Deterministic, varied bytes (no `rand` needed).
    fn bytes_of_len(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn const_blake2b_matches_the_blake2_crate_at_block_boundaries_and_beyond() {
        for len in [
            0, 1, 2, 63, 64, 127, 128, 129, 255, 256, 257, 383, 384, 1000, 4096,
        ] {
            for seed in 0..4 {
                let input = bytes_of_len(len, seed);
                assert_eq!(
                    blake2b_256(&input),
                    reference(&input),
                    "len {len} seed {seed}"
                );
            }
        }
    }

    #[test]
    fn const_blake2b_matches_the_blake2_crate_on_every_length_up_to_600() {
        for len in 0..600 {
            let input = bytes_of_len(len, len as u64);
            assert_eq!(blake2b_256(&input), reference(&input), "len {len}");
        }
    }

    #[test]
    fn streaming_in_uneven_pieces_gives_the_one_shot_digest() {
        let input = bytes_of_len(1000, 7);
        for piece in [1, 3, 127, 128, 129, 500] {
            let mut h = ConstBlake2b256::new();
            for chunk in input.chunks(piece) {
                h.update(chunk);
            }
            assert_eq!(h.finalize(), reference(&input), "pieces of {piece}");
        }
    }

    #[test]
    fn const_blake2b_is_evaluated_by_rustc_at_compile_time() {
        const ABC: [u8; 32] = blake2b_256(b"abc");
        assert_eq!(
            SchemaHash::from_bytes(ABC).to_string(),
            "dh1:bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"
        );
    }

    #[test]
    fn decimal_numbers_are_written_without_leading_zeros() {
        for n in [0usize, 7, 10, 4112, 4194304, usize::MAX] {
            let mut h = ConstBlake2b256::new();
            h.update_decimal(n);
            assert_eq!(h.finalize(), reference(n.to_string().as_bytes()), "{n}");
        }
    }

    #[test]
    fn schema_hash_parses_what_display_prints() {
        let h = SchemaHash::of_type_canon("u8");
        assert_eq!(schema_hash(&h.to_string()), h);
    }

    #[test]
    #[should_panic(expected = "starts with `dh1:`")]
    fn schema_hash_refuses_a_missing_prefix() {
        schema_hash(&format!("dh2:{}", "0".repeat(64)));
    }
}
