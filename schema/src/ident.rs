//! Names: which strings may name a struct, a field, a zone or a channel.
//!
//! Struct, field and zone names become Rust identifiers in generated code,
//! and field names enter the canonical form, so they are limited to ASCII
//! identifiers that are not keywords (a C or Python peer reads them too).

/// Every Rust keyword, strict and reserved, of the 2015 to 2024 editions.
const RUST_KEYWORDS: &[&str] = &[
    "Self", "abstract", "as", "async", "await", "become", "box", "break", "const", "continue",
    "crate", "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if",
    "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub",
    "ref", "return", "self", "static", "struct", "super", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Whether `name` is a Rust keyword (strict or reserved).
pub fn is_rust_keyword(name: &str) -> bool {
    RUST_KEYWORDS.contains(&name)
}

/// Whether `name` is an ASCII Rust identifier: `[A-Za-z_][A-Za-z0-9_]*`, not `_`.
pub fn is_ascii_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    name != "_" && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Longest channel name: the segment is `/dev/shm/datahub.<channel>`.
pub const MAX_CHANNEL_NAME_LEN: usize = 63;

/// Whether `name` is a valid channel name: `[A-Za-z0-9_-]{1,63}`.
pub fn is_channel_name(name: &str) -> bool {
    (1..=MAX_CHANNEL_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The module that generated Rust gives channel `channel`: `-` becomes `_`,
/// a leading digit gets `ch_` before it, and a keyword (or `_`) gets `_`
/// after it. Two channels whose modules would be spelled the same are
/// refused by the checker (DH122).
///
/// ```
/// use datahub_schema::channel_module_name;
///
/// assert_eq!(channel_module_name("raw-camera"), "raw_camera");
/// assert_eq!(channel_module_name("3d"), "ch_3d");
/// assert_eq!(channel_module_name("type"), "type_");
/// assert_eq!(channel_module_name("-"), "__");
/// ```
pub fn channel_module_name(channel: &str) -> String {
    let mut name = channel.replace('-', "_");
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "ch_");
    }
    if is_rust_keyword(&name) || name == "_" {
        name.push('_');
    }
    name
}

/// Methods of the runtime's `Producer` and `Consumer` (and of the generated
/// handles that deref to them) that a zone accessor must not shadow: a zone
/// with one of these names gets the accessor `NAME_zone` instead.
pub const RESERVED_ZONE_ACCESSORS: &[&str] = &[
    "acquire",
    "deref",
    "deref_mut",
    "new",
    "attach",
    "attach_with",
    "channel",
    "channel_hash",
    "consumer_count",
    "create",
    "discover",
    "discover_with",
    "heartbeat",
    "inner",
    "into_inner",
    "latest",
    "locked_zone",
    "lost",
    "next",
    "next_seq",
    "position",
    "register",
    "register_with",
    "set_wait_strategy",
    "slot_size",
    "try_next",
    "write_bytes",
    "write_with",
    "zone",
];

/// The accessor (method and field) that generated handles give zone
/// `zone`: its name, or `NAME_zone` for a name in
/// [`RESERVED_ZONE_ACCESSORS`]. Two zones of a channel whose accessors would
/// be spelled the same are refused by the checker (DH122).
///
/// ```
/// assert_eq!(datahub_schema::zone_accessor_name("telemetry"), "telemetry");
/// assert_eq!(datahub_schema::zone_accessor_name("next"), "next_zone");
/// ```
pub fn zone_accessor_name(zone: &str) -> String {
    if RESERVED_ZONE_ACCESSORS.contains(&zone) {
        format!("{zone}_zone")
    } else {
        zone.to_owned()
    }
}

/// The candidates closest to `name` by edit distance, when close enough to
/// be a likely typo, phrased for a help line: `` `u16` or `u32` ``.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let limit = (name.chars().count() / 3).max(1);
    let len = name.chars().count();
    let scored: Vec<(usize, &str)> = candidates
        .into_iter()
        // The distance is at least the difference of the lengths: skip the
        // quadratic computation for names that cannot be close.
        .filter(|c| c.chars().count().abs_diff(len) <= limit)
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .collect();
    let best = scored.iter().map(|&(d, _)| d).min()?;
    let mut closest: Vec<&str> = scored
        .iter()
        .filter(|&&(d, _)| d == best)
        .map(|&(_, c)| c)
        .collect();
    closest.dedup();
    closest.truncate(3);
    let quoted: Vec<String> = closest.iter().map(|c| format!("`{c}`")).collect();
    Some(match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => return None,
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_ascii_and_not_a_lone_underscore() {
        for ok in ["a", "_pad0", "SensorFrame", "x1"] {
            assert!(is_ascii_identifier(ok), "{ok}");
        }
        for bad in ["", "_", "1a", "a-b", "a b", "ä", "r#type"] {
            assert!(!is_ascii_identifier(bad), "{bad}");
        }
        assert!(is_rust_keyword("type") && is_rust_keyword("gen") && !is_rust_keyword("union"));
    }

    #[test]
    fn channel_modules_and_zone_accessors_are_rust_identifiers() {
        for channel in [
            "-", "_", "--", "a-b", "1", "9-9", "self", "Self", "crate", "u8", "A",
        ] {
            let module = channel_module_name(channel);
            assert!(
                is_ascii_identifier(&module) && !is_rust_keyword(&module),
                "{channel} -> {module}"
            );
        }
        assert_eq!(channel_module_name("a-b"), channel_module_name("a_b"));
        assert_eq!(zone_accessor_name("inner"), "inner_zone");
        assert_eq!(zone_accessor_name("inner_zone"), "inner_zone");
    }

    #[test]
    fn channel_names_allow_dashes_and_at_most_63_bytes() {
        assert!(is_channel_name("raw-camera") && is_channel_name(&"a".repeat(63)));
        assert!(!is_channel_name("") && !is_channel_name(&"a".repeat(64)));
        assert!(!is_channel_name("a/b") && !is_channel_name("a.b"));
    }

    #[test]
    fn typos_get_a_suggestion_and_strangers_do_not() {
        assert_eq!(
            did_you_mean("u36", ["u16", "u32", "u64"]).as_deref(),
            Some("`u16` or `u32`")
        );
        assert_eq!(
            did_you_mean("Vec4", ["Vec3", "Pose"]).as_deref(),
            Some("`Vec3`")
        );
        assert_eq!(did_you_mean("zzzzzz", ["Vec3", "Pose"]), None);
    }
}
