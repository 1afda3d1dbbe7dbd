//! Code generation: the checks rustc must prove (trait bounds per field, no
//! implicit padding, no zero-sized field) as free `const` items, so they
//! fire under `cargo check`, and the `DataHubType` impl whose `const`
//! descriptor rustc hashes.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Ident, LitStr};

use crate::Kind;
use crate::attr::{self, CratePath};
use crate::check::{self, Errors, Field};

pub(crate) fn expand(input: &DeriveInput, kind: Kind) -> TokenStream {
    let mut errors = Errors::default();
    let krate = attr::crate_path(input, &mut errors);
    let checked = check::check(input, kind, &mut errors);
    let Some(checked) = checked.filter(|c| c.concrete) else {
        return errors.into_compile_errors();
    };
    let name = &input.ident;
    let fields = &checked.fields;

    // With impls, each field's bound is checked once, in `DESC`; without,
    // by a separate item, so that these errors come with the others.
    let with_impls = errors.is_empty();
    let field_checks = fields
        .iter()
        .filter(|f| f.type_ok)
        .map(|f| field_check(&krate, name, f, kind, !with_impls));
    let padding_checks = if checked.repr_c && fields.iter().all(|f| f.type_ok) {
        padding_checks(&krate, name, fields)
    } else {
        Vec::new()
    };
    let impls = if with_impls {
        impls(&krate, name, fields, kind)
    } else {
        TokenStream::new()
    };
    let compile_errors = errors.into_compile_errors();

    quote! {
        #compile_errors
        #[allow(non_camel_case_types, clippy::all)]
        const _: () = {
            #(#field_checks)*
            #(#padding_checks)*
            #impls
        };
    }
}

/// The call that yields a field type's descriptor and requires the slot or
/// zone marker, spanned on the field's type so an error points there.
fn field_desc(krate: &CratePath, ty: &syn::Type, kind: Kind) -> TokenStream {
    let krate = krate.spanned(ty.span());
    let function = match kind {
        Kind::Slot => quote_spanned!(ty.span()=> #krate::__private::slot_field_desc),
        Kind::Zone => quote_spanned!(ty.span()=> #krate::__private::zone_field_desc),
    };
    quote_spanned!(ty.span()=> #function::<#ty>())
}

/// The field's type must not be zero-sized and, when no impl will check it,
/// must implement the slot or zone marker.
fn field_check(
    krate: &CratePath,
    name: &Ident,
    field: &Field<'_>,
    kind: Kind,
    check_marker: bool,
) -> TokenStream {
    let ty = field.ty;
    let zero_sized = LitStr::new(
        &format!(
            "field `{}` of `{name}` is zero-sized (an array of length 0?), which DataHub schemas refuse; \
             remove it",
            field.name
        ),
        ty.span(),
    );
    let marker = check_marker.then(|| {
        let desc = field_desc(krate, ty, kind);
        let krate = krate.spanned(ty.span());
        quote_spanned!(ty.span()=> const _: &#krate::__private::TypeDesc = #desc;)
    });
    quote_spanned! {ty.span()=>
        #marker
        const _: () = ::core::assert!(::core::mem::size_of::<#ty>() != 0, #zero_sized);
    }
}

/// One check per gap: after each field, up to the next field or, after the
/// last, up to the end of the struct (trailing padding).
///
/// The gap's size in bytes is computed by rustc from `offset_of!` and
/// `size_of`, and becomes the length of `[u8; GAP]`, which must implement
/// a trait of the runtime that only `[u8; 0]` implements; its
/// `on_unimplemented` message shows `{Self}`, i.e. the exact padding field
/// to add. The trait is the runtime's, not one the expansion defines,
/// because `#[diagnostic::..]` cannot be named under
/// `#![no_implicit_prelude]`; the names in its message (the fields, the
/// padding field to add) are the type parameters of the function that
/// checks the bound, named after them.
fn padding_checks(krate: &CratePath, name: &Ident, fields: &[Field<'_>]) -> Vec<TokenStream> {
    let pad_names = pad_names(fields);
    fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let ident = field.ident;
            let ty = field.ty;
            let pad = format_ident!("{}", pad_names[i]);
            let end_of_field =
                quote!(::core::mem::offset_of!(#name, #ident) + ::core::mem::size_of::<#ty>());
            let (gap, params, check) = match fields.get(i + 1) {
                Some(next) => {
                    let next_ident = next.ident;
                    (
                        quote!(::core::mem::offset_of!(#name, #next_ident) - (#end_of_field)),
                        quote!(#ident, #next_ident, #pad),
                        quote!(no_padding_between),
                    )
                }
                None => (
                    quote!(::core::mem::size_of::<#name>() - (#end_of_field)),
                    quote!(#ident, #pad),
                    quote!(no_padding_after),
                ),
            };
            let span = ident.span();
            // The struct, the gap and the check are named outside the
            // function: inside it, a type parameter named after a field
            // could shadow them.
            let gap_type = quote_spanned!(span=> __DataHubGap);
            quote! {
                const _: () = {
                    type __DataHubStruct = #name;
                    type __DataHubGap = [::core::primitive::u8; #gap];
                    use #krate::__private::#check as __datahub_check;
                    #[allow(non_camel_case_types, dead_code)]
                    const fn no_implicit_padding<#params>() {
                        __datahub_check::<#gap_type, __DataHubStruct, #params>()
                    }
                };
            }
        })
        .collect()
}

/// A distinct `_padN` name per gap, skipping names the struct already uses.
fn pad_names(fields: &[Field<'_>]) -> Vec<String> {
    let mut next = 0usize;
    fields
        .iter()
        .map(|_| {
            loop {
                let candidate = format!("_pad{next}");
                next += 1;
                if fields.iter().all(|f| f.name != candidate) {
                    break candidate;
                }
            }
        })
        .collect()
}

fn impls(krate: &CratePath, name: &Ident, fields: &[Field<'_>], kind: Kind) -> TokenStream {
    let field_descs = fields.iter().map(|f| {
        let ident = f.ident;
        let field_name = LitStr::new(&f.name, Span::call_site());
        let desc = field_desc(krate, f.ty, kind);
        quote! {
            #krate::__private::FieldDesc {
                name: #field_name,
                ty: #desc,
                offset: ::core::mem::offset_of!(#name, #ident),
            }
        }
    });
    let marker = match kind {
        Kind::Slot => quote!(#krate::__private::DataHubSlot),
        Kind::Zone => quote!(#krate::__private::DataHubZone),
    };
    // SAFETY (of the generated impls): the checks above, which rustc must
    // pass for the impls to compile, prove that the struct is `repr(C)` and
    // non-generic, that every field implements the marker (and so
    // `DataHubType`: no pointers, every bit pattern valid, plain data for a
    // slot, atomics for a zone), that no field is zero-sized and that there
    // is no padding between or after the fields; `DESC` takes the size,
    // alignment and offsets from rustc itself.
    quote! {
        #[automatically_derived]
        unsafe impl #krate::__private::DataHubType for #name {
            const DESC: &'static #krate::__private::TypeDesc = &#krate::__private::TypeDesc::Struct {
                size: ::core::mem::size_of::<#name>(),
                align: ::core::mem::align_of::<#name>(),
                fields: &[#(#field_descs),*],
            };
        }

        #[automatically_derived]
        unsafe impl #marker for #name {}

        // Evaluate the hash now, so that a type that derives is also one
        // whose hash rustc has computed (under `cargo check` too).
        const _: #krate::SchemaHash = <#name as #krate::__private::DataHubType>::SCHEMA_HASH;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(source: &str, kind: Kind) -> String {
        let input: DeriveInput = syn::parse_str(source).unwrap();
        expand(&input, kind).to_string()
    }

    #[test]
    fn a_valid_struct_gets_the_impls_and_no_compile_error() {
        let out = expand_str("#[repr(C)] struct V { u: f32, v: f32 }", Kind::Slot);
        assert!(out.contains("unsafe impl :: datahub :: __private :: DataHubType for V"));
        assert!(out.contains("unsafe impl :: datahub :: __private :: DataHubSlot for V"));
        assert!(out.contains("slot_field_desc"));
        assert!(!out.contains("compile_error"));
    }

    #[test]
    fn every_path_goes_through_the_crate_attribute() {
        for kind in [Kind::Slot, Kind::Zone] {
            let field = if kind == Kind::Slot { "u32" } else { "Atomic" };
            let out = expand_str(
                &format!(
                    "#[datahub(crate = \"::dh\")] #[repr(C)] struct V {{ a: {field}, b: [{field}; 2] }}"
                ),
                kind,
            );
            assert!(
                out.contains("unsafe impl :: dh :: __private :: DataHubType for V"),
                "{out}"
            );
            assert!(!out.contains(":: datahub"), "{out}");
            assert!(!out.contains("compile_error"), "{out}");
        }
    }

    #[test]
    fn a_refused_struct_gets_compile_errors_and_no_impls() {
        let out = expand_str("#[repr(C)] struct V { ok: u32, flag: bool }", Kind::Slot);
        assert!(out.contains("compile_error"));
        assert!(!out.contains("unsafe impl"));
        // The other field is still checked, so its problems come in the same run.
        assert!(out.contains("slot_field_desc :: < u32 >"));
    }

    #[test]
    fn odd_inputs_give_errors_never_a_panic() {
        for source in [
            "enum E { A }",
            "union U { a: u32 }",
            "struct S;",
            "struct S();",
            "#[repr(C)] struct S {}",
            "#[repr(C, packed(2), align(8), transparent)] struct S<'a, T: Copy, const N: usize> where T: Copy { a: &'a [T; N] }",
            "#[repr(C)] #[repr(u8)] struct S { a: [(); 0], b: !, c: _, d: dyn Send, e: fn(), f: [u8] }",
            "#[repr = \"C\"] struct S { a: u8 }",
        ] {
            for kind in [Kind::Slot, Kind::Zone] {
                let out = expand_str(source, kind);
                assert!(out.contains("compile_error"), "{source}: {out}");
            }
        }
    }

    #[test]
    fn pad_names_are_distinct_and_skip_names_in_use() {
        let input: DeriveInput =
            syn::parse_str("#[repr(C)] struct S { a: u8, _pad0: [u8; 3], _pad2: u32 }").unwrap();
        let mut errors = Errors::default();
        let checked = check::check(&input, Kind::Slot, &mut errors).unwrap();
        assert_eq!(pad_names(&checked.fields), ["_pad1", "_pad3", "_pad4"]);
    }
}
