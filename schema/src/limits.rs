//! Every limit a schema file is held to, in one place, each with the reason
//! it exists. A schema the checker accepts must generate Rust that rustc
//! compiles and segments that the runtime creates, so the limits of rustc
//! and of the runtime are checked here, before any code is generated; the
//! others bound the checker's and the generator's time and memory on a
//! hostile file. docs/schema.md lists them all.

/// Largest schema file, in bytes (8 MiB). Every other limit is per item;
/// this one bounds how many items a file can hold, and so the time and
/// memory of checking it and the size of the code generated from it.
pub const MAX_FILE_SIZE: usize = 8 << 20;

/// Most structs in one file.
pub const MAX_STRUCTS: usize = 1024;

/// Most channels in one file.
pub const MAX_CHANNELS: usize = 1024;

/// Most fields in one struct. Generated code asserts each field's offset
/// and the derive checks each gap, so compile time grows with the fields;
/// larger records are arrays.
pub const MAX_FIELDS: usize = 1024;

/// Largest size of any type, in bytes: rustc refuses a type of `1 << 61`
/// bytes or more on a 64-bit target ("values of the type `[u8; N]` are too
/// big for the target architecture"; `obj_size_bound` in rustc_abi, the
/// same on x86_64 and aarch64), which is less than `isize::MAX`.
pub const MAX_TYPE_SIZE: u64 = (1 << 61) - 1;

/// Longest canonical string of one type (32 KiB). The derive hashes it at
/// compile time in a `const` BLAKE2b, and rustc stops a constant
/// evaluation after 2,000,000 steps (`long_running_const_eval`, an error by
/// default): about 32 steps a byte, so 62 KB is the most rustc 1.95 hashes.
/// Nested structs are written inline, so a struct's canonical form
/// includes those of the structs it contains.
pub const MAX_CANONICAL_LEN: usize = 32 << 10;

/// Most bytes of canonical strings built for one file, structs and channels
/// together (64 MiB): nested structs are written inline and each channel
/// holds the strings of its slot and zones, so without this bound a small
/// file could make the checker build gigabytes of strings.
pub const MAX_TOTAL_CANONICAL_LEN: usize = 64 << 20;

/// How deeply structs and arrays may nest, counted together: a struct is
/// one level, each `[..; N]` another. rustc's recursion limit (128) bounds
/// the struct chains it lays out and the frames of the compile-time hash,
/// which descends one frame per level; 64 leaves it room.
pub const MAX_NESTING_DEPTH: usize = 64;

/// Longest struct or field name, in bytes. Names are repeated in the
/// messages of generated code (once per field), so their length bounds the
/// size of the output.
pub const MAX_NAME_LEN: usize = 128;

/// Longest zone name, in bytes: the segment's zone table stores each name
/// NUL-padded in 32 bytes (`docs/layout.md`), and the runtime refuses a longer
/// one when the channel is created.
pub const MAX_ZONE_NAME_LEN: usize = 31;

/// Longest `doc` string, in bytes (4 KiB). Docs are copied into generated
/// code; longer prose belongs in the project's documentation.
pub const MAX_DOC_LEN: usize = 4096;

/// Largest shared-memory segment of a channel (1 TiB): the runtime refuses
/// to create a larger one, and an attacher takes a header claiming more to
/// be corrupt. See [`crate::Channel::segment_size`].
pub const MAX_SEGMENT_SIZE: u64 = 1 << 40;

/// Most slots in one ring.
pub const MAX_CAPACITY: u64 = 1 << 20;

/// Most consumers of one channel.
pub const MAX_CONSUMERS: u64 = 64;

/// Most zones in one channel.
pub const MAX_ZONES: usize = 16;
