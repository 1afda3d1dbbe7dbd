//! Field types refused whatever they resolve to (`bool`, `usize`, pointers,
//! an atomic in a slot, a number in a zone, ...), each with the fix.
//! Paths this cannot judge are left to the trait bounds rustc checks.

use syn::spanned::Spanned;
use syn::{Expr, Lit, Type};

use crate::Kind;

/// Refuses, with a tailored message, the field types that are wrong whatever
/// they resolve to; recurses into arrays. Paths are otherwise left to rustc.
pub(crate) fn check_type(ty: &Type, kind: Kind) -> syn::Result<()> {
    let refuse = |message: String| Err(syn::Error::new(ty.span(), message));
    match ty {
        Type::Array(array) => {
            check_type(&array.elem, kind)?;
            if let Expr::Lit(lit) = &array.len
                && let Lit::Int(n) = &lit.lit
                && n.base10_digits() == "0"
            {
                return Err(syn::Error::new(
                    array.len.span(),
                    "an array of length 0 is zero-sized, which DataHub schemas refuse; remove the field",
                ));
            }
            Ok(())
        }
        Type::Group(group) => check_type(&group.elem, kind),
        Type::Paren(paren) => check_type(&paren.elem, kind),
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return Ok(());
            };
            match refused_path(&last.ident.to_string(), kind) {
                Some(message) => refuse(message),
                None => Ok(()),
            }
        }
        Type::Ptr(_) => refuse(
            "raw pointers are not allowed: an address means nothing in another process; \
             store an index or offset (`u64`) instead"
                .into(),
        ),
        Type::Reference(_) => refuse(
            "references are not allowed: an address means nothing in another process; \
             store the data inline, or an index or offset (`u64`)"
                .into(),
        ),
        Type::FnPtr(_) => refuse(
            "function pointers are not allowed: an address means nothing in another process".into(),
        ),
        Type::Slice(_) => refuse(
            "slices are not allowed: they are unsized; use a fixed-size array `[T; N]`".into(),
        ),
        Type::Tuple(tuple) if tuple.elems.is_empty() => {
            refuse("`()` is zero-sized, which DataHub schemas refuse; remove the field".into())
        }
        Type::Tuple(_) => refuse(
            "tuples are not allowed: Rust does not fix their layout; use an array `[T; N]` or a \
             `#[repr(C)]` struct with a DataHub derive"
                .into(),
        ),
        Type::TraitObject(_) | Type::ImplTrait(_) => {
            refuse("trait objects are not allowed: a field needs one concrete, sized type".into())
        }
        Type::Never(_) => refuse("`!` is not allowed: a field needs a type with values".into()),
        Type::Infer(_) => refuse("`_` is not allowed here: write the field's type".into()),
        _ => Ok(()),
    }
}

/// The message for a type name that is refused whatever path leads to it.
fn refused_path(name: &str, kind: Kind) -> Option<String> {
    let bit_patterns = "a peer process can write any bit pattern";
    let message = match name {
        "bool" => format!(
            "`bool` is not allowed: {bit_patterns}, and only 0 and 1 are valid bools; use `u8`"
        ),
        "char" => format!(
            "`char` is not allowed: {bit_patterns}, and most are not valid chars; use `u32` \
             (or `[u8; N]` for UTF-8 text)"
        ),
        "usize" | "isize" => {
            let fixed = if name == "usize" { "u64" } else { "i64" };
            format!("`{name}` is not allowed: its size depends on the target; use `{fixed}`")
        }
        "u128" | "i128" => {
            format!(
                "`{name}` is not a DataHub type: schemas have no 128-bit integers; use `[u64; 2]`"
            )
        }
        "f16" | "f128" => format!("`{name}` is not a DataHub type: use `f32` or `f64`"),
        "str" | "String" => {
            format!(
                "`{name}` is not allowed: text in shared memory is a fixed-size byte array; use `[u8; N]`"
            )
        }
        "Vec" | "Box" | "Rc" | "Arc" => format!(
            "`{name}` is not allowed: it points to this process's heap, which other processes cannot see; \
             use a fixed-size array `[T; N]`"
        ),
        "Option" => format!(
            "`Option` is not allowed: it is an enum, and {bit_patterns}; use the value and a separate \
             `u8` flag field"
        ),
        "PhantomData" => {
            "`PhantomData` is zero-sized, which DataHub schemas refuse; remove the field".into()
        }
        "AtomicBool" => format!(
            "`AtomicBool` is not allowed: {bit_patterns}, and only 0 and 1 are valid; use `AtomicU8`"
        ),
        "AtomicUsize" | "AtomicIsize" => {
            let fixed = if name == "AtomicUsize" {
                "AtomicU64"
            } else {
                "AtomicI64"
            };
            format!("`{name}` is not allowed: its size depends on the target; use `{fixed}`")
        }
        "AtomicPtr" => {
            "`AtomicPtr` is not allowed: an address means nothing in another process; store an \
                        index or offset in an `AtomicU64`"
                .into()
        }
        _ => return kind_mismatch(name, kind),
    };
    Some(message)
}

/// An atomic in a slot, or a plain number in a zone.
fn kind_mismatch(name: &str, kind: Kind) -> Option<String> {
    const PAIRS: [(&str, &str); 10] = [
        ("u8", "AtomicU8"),
        ("u16", "AtomicU16"),
        ("u32", "AtomicU32"),
        ("u64", "AtomicU64"),
        ("i8", "AtomicI8"),
        ("i16", "AtomicI16"),
        ("i32", "AtomicI32"),
        ("i64", "AtomicI64"),
        ("f32", "AtomicF32"),
        ("f64", "AtomicF64"),
    ];
    match kind {
        Kind::Slot => {
            let (plain, atomic) = PAIRS.iter().find(|(_, atomic)| *atomic == name)?;
            Some(format!(
                "`{atomic}` is not allowed in a `DataHubSlot` struct: slots hold plain data, and atomics \
                 belong in a lock-free zone; use `{plain}`, or move the field into a \
                 `#[derive(DataHubZone)]` struct"
            ))
        }
        Kind::Zone => {
            let (plain, atomic) = PAIRS.iter().find(|(plain, _)| *plain == name)?;
            let path = if plain.starts_with('f') {
                format!("datahub::{atomic}")
            } else {
                format!("core::sync::atomic::{atomic}")
            };
            Some(format!(
                "`{plain}` is not allowed in a `DataHubZone` struct: every field of a lock-free zone is \
                 shared by all attached processes, so it must be atomic; use `{path}`, or put plain data \
                 in a `#[derive(Clone, Copy, DataHubSlot)]` struct for a locked zone"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomics_in_a_slot_and_numbers_in_a_zone_get_the_matching_suggestion() {
        let slot = refused_path("AtomicF64", Kind::Slot).unwrap();
        assert!(slot.contains("use `f64`"), "{slot}");
        let zone = refused_path("u16", Kind::Zone).unwrap();
        assert!(
            zone.contains("use `core::sync::atomic::AtomicU16`"),
            "{zone}"
        );
        let zone = refused_path("f32", Kind::Zone).unwrap();
        assert!(zone.contains("use `datahub::AtomicF32`"), "{zone}");
        assert_eq!(refused_path("AtomicF64", Kind::Zone), None);
        assert_eq!(refused_path("f64", Kind::Slot), None);
        assert_eq!(refused_path("Vec3", Kind::Slot), None);
    }

    #[test]
    fn arrays_are_checked_element_first() {
        let ty: Type = syn::parse_str("[[bool; 2]; 3]").unwrap();
        let message = check_type(&ty, Kind::Slot).unwrap_err().to_string();
        assert!(message.starts_with("`bool` is not allowed"), "{message}");
        let ty: Type = syn::parse_str("[[f32; 6]; 6]").unwrap();
        assert!(check_type(&ty, Kind::Slot).is_ok());
    }
}
