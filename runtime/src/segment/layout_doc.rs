//! Keeps `docs/layout.md` and the code in step: every row of the
//! document's field tables must name a field at that offset with that size,
//! and every field of the documented structs must have a row.

use core::mem::{offset_of, size_of};

use super::header::{Identity, Live, ProducerLine, SealLine, ZoneEntry};
use super::layout::{CommitLine, ConsumerEntry, SlotState, WriteLine};
use crate::segment::layout::SpinLockState;

const DOC: &str = include_str!("../../../docs/layout.md");

/// A documented field: (name, offset, size).
type Row = (String, usize, usize);
/// A struct's fields as the code has them: (name, offset, size).
type CodeSection = (&'static str, Vec<(&'static str, usize, usize)>);

/// Size of a field's type, from a projection closure.
fn size_of_field<T, F>(_: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

macro_rules! fields {
    ($ty:ident: $($field:ident),* $(,)?) => {
        (
            stringify!($ty),
            vec![$((stringify!($field), offset_of!($ty, $field), size_of_field::<$ty, _>(|s| &s.$field))),*],
        )
    };
}

/// The code's side: (struct, [(field, offset, size)]).
fn code() -> Vec<CodeSection> {
    vec![
        fields!(Identity: magic, layout_version, header_size, total_size, init_state_slot, mode, created_ns,
            live_offset, _reserved0, channel_name, channel_hash, slot_hash, secret_tag, capacity, max_consumers,
            slot_size, slot_stride, stall_timeout_ns, policy, overflow, checksum, has_secret, slot_kind, _pad1,
            zone_count, _pad2, _reserved1, schema_offset, schema_len, slot_states_offset, checksums_offset,
            consumers_offset, zones_offset, zones_len, slots_offset, zones, nonce, _reserved2),
        fields!(ZoneEntry: name, offset, size, locked, _pad, type_hash),
        fields!(Live: write, commit, producer, locks, metrics, seal, _reserved),
        fields!(SealLine: mac, _reserved),
        fields!(WriteLine: write_seq, read_futex, writer_waiting),
        fields!(CommitLine: commit_seq, futex, waiters),
        fields!(ProducerLine: pid, start_time, epoch, heartbeat_ns, owner),
        fields!(SpinLockState: owner, generation, takeovers, recovery_pending, _reserved),
        fields!(SlotState: state, writer_pid, seq, payload_len, commit_time_ns),
        fields!(ConsumerEntry: state, pid, pid_start_time, heartbeat_ns, read_pos, read_mark, slots_read,
            overruns, checksum_failures, races, attach_time_ns, stalled_since_ns),
    ]
}

/// The document's side: rows `| offset | size | `field` | ...` under each
/// heading `### `Struct``.
fn documented() -> Vec<(String, Vec<Row>)> {
    let mut out: Vec<(String, Vec<Row>)> = Vec::new();
    for line in DOC.lines() {
        if let Some(rest) = line.strip_prefix("### `") {
            let name = rest.split('`').next().unwrap_or_default().to_owned();
            out.push((name, Vec::new()));
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 {
            continue;
        }
        let (Ok(offset), Ok(size)) = (cells[1].parse(), cells[2].parse()) else {
            continue;
        };
        let field = cells[3].trim_matches('`').to_owned();
        if let Some((_, rows)) = out.last_mut() {
            rows.push((field, offset, size));
        }
    }
    out
}

#[test]
fn docs_layout_md_matches_the_code_field_by_field() {
    let doc = documented();
    for (name, fields) in code() {
        let Some((_, rows)) = doc.iter().find(|(n, _)| n == name) else {
            panic!("docs/layout.md has no section \"### `{name}`\"");
        };
        let want: Vec<Row> = fields
            .iter()
            .map(|&(f, o, s)| (f.to_owned(), o, s))
            .collect();
        assert_eq!(
            rows, &want,
            "docs/layout.md, section `{name}`: (field, offset, size) rows differ from the code"
        );
    }
    assert_eq!(
        doc.len(),
        code().len(),
        "every documented struct is checked"
    );
}
