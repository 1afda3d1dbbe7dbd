//! Schema hashes: BLAKE2b-256 over a domain prefix and a canonical string
//! (`docs/schema.md`, "Canonical form and hashes"), and their `dh1:` text form.
//!
//! This is the one place that knows the hash construction, so the schema
//! path, the derive path and the runtime's attach check cannot disagree.

use std::fmt;
use std::str::FromStr;

use blake2::{Blake2b256, Digest};

/// Domain prefix of a type hash: `BLAKE2b-256("datahub.type.v1 " + canon(T))`.
pub const TYPE_HASH_DOMAIN: &str = "datahub.type.v1 ";

/// Domain prefix of a channel's canonical string (and so of its hash).
pub const CHANNEL_HASH_DOMAIN: &str = "datahub.channel.v1 ";

/// Prefix of the text form of a [`SchemaHash`].
pub const TEXT_PREFIX: &str = "dh1:";

/// A 256-bit schema hash (BLAKE2b with a 32-byte digest, unkeyed).
///
/// `Display` gives the text form `dh1:` followed by 64 lowercase hex digits,
/// and `FromStr` parses it back.
///
/// ```
/// use datahub_schema::SchemaHash;
///
/// let h = SchemaHash::of_type_canon("u32");
/// let text = h.to_string();
/// assert!(text.starts_with("dh1:") && text.len() == 68);
/// assert_eq!(text.parse::<SchemaHash>().unwrap(), h);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchemaHash([u8; 32]);

impl SchemaHash {
    /// Wraps 32 digest bytes (usable in `const` contexts).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// BLAKE2b-256 of arbitrary bytes (no domain prefix added).
    pub fn digest(bytes: &[u8]) -> Self {
        Self(Blake2b256::digest(bytes).into())
    }

    /// The type hash of a canonical type string: `BLAKE2b-256("datahub.type.v1 " + canon)`.
    pub fn of_type_canon(canon: &str) -> Self {
        let mut h = Blake2b256::new();
        h.update(TYPE_HASH_DOMAIN.as_bytes());
        h.update(canon.as_bytes());
        Self(h.finalize().into())
    }

    /// The channel hash of a full channel canonical string, which already
    /// starts with [`CHANNEL_HASH_DOMAIN`] (see [`crate::Channel::canonical`]).
    pub fn of_channel_canon(channel_canon: &str) -> Self {
        Self::digest(channel_canon.as_bytes())
    }

    /// Const equality, for compile-time assertions in generated code.
    pub const fn const_eq(&self, other: &Self) -> bool {
        let mut i = 0;
        while i < 32 {
            if self.0[i] != other.0[i] {
                return false;
            }
            i += 1;
        }
        true
    }
}

impl fmt::Display for SchemaHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TEXT_PREFIX)?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SchemaHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SchemaHash({self})")
    }
}

/// Why a string is not a `dh1:` schema hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseHashError {
    /// The text does not start with `dh1:`.
    #[error(
        "a schema hash starts with `dh1:`, found `{found}`: copy the hash as printed by `datahub-codegen hash`"
    )]
    MissingPrefix {
        /// The first characters of the text (at most 8).
        found: String,
    },
    /// Not exactly 64 hex digits after the prefix.
    #[error("a schema hash has 64 hex digits after `dh1:`, found {found}")]
    WrongLength {
        /// Number of characters found after the prefix.
        found: usize,
    },
    /// A character that is not a hex digit.
    #[error(
        "a schema hash has only hex digits after `dh1:`, found `{found}` at position {position}"
    )]
    NotHex {
        /// The offending character.
        found: char,
        /// Its position after the prefix (0-based).
        position: usize,
    },
}

impl FromStr for SchemaHash {
    type Err = ParseHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some(hex) = s.strip_prefix(TEXT_PREFIX) else {
            return Err(ParseHashError::MissingPrefix {
                found: s.chars().take(8).collect(),
            });
        };
        let count = hex.chars().count();
        if count != 64 {
            return Err(ParseHashError::WrongLength { found: count });
        }
        let mut out = [0u8; 32];
        for (position, c) in hex.chars().enumerate() {
            let nibble = c
                .to_digit(16)
                .ok_or(ParseHashError::NotHex { found: c, position })?;
            // `to_digit(16)` is < 16, so the cast is lossless.
            out[position / 2] |= (nibble as u8) << if position % 2 == 0 { 4 } else { 0 };
        }
        Ok(Self(out))
    }
}

impl serde::Serialize for SchemaHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SchemaHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blake2b_256_is_the_rfc7693_unkeyed_32_byte_variant_not_a_truncated_512() {
        // BLAKE2b-256("abc"), a published test vector of the 32-byte variant.
        assert_eq!(
            SchemaHash::digest(b"abc").to_string(),
            "dh1:bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"
        );
    }

    #[test]
    fn text_form_round_trips_and_rejects_what_is_not_a_hash() {
        let h = SchemaHash::of_type_canon("u8");
        assert_eq!(h.to_string().parse::<SchemaHash>(), Ok(h));
        assert!(matches!(
            "sha:00".parse::<SchemaHash>(),
            Err(ParseHashError::MissingPrefix { .. })
        ));
        assert_eq!(
            "dh1:abc".parse::<SchemaHash>(),
            Err(ParseHashError::WrongLength { found: 3 })
        );
        let bad = format!("dh1:{}g", "0".repeat(63));
        assert_eq!(
            bad.parse::<SchemaHash>(),
            Err(ParseHashError::NotHex {
                found: 'g',
                position: 63
            })
        );
        // Non-ASCII input is counted in characters, never sliced mid-character.
        assert!("dh1:é".parse::<SchemaHash>().is_err());
    }

    #[test]
    fn const_eq_agrees_with_eq() {
        let a = SchemaHash::of_type_canon("u8");
        let b = SchemaHash::of_type_canon("u16");
        assert!(a.const_eq(&a) && !a.const_eq(&b));
    }
}
