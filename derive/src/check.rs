//! Syntactic checks of the struct: shape, generics, `repr`, field names,
//! and (through [`check_type`]) field types. What can be refused from the
//! tokens alone gets a message tailored to the mistake. What needs types or layout (a field of a
//! non-DataHub type, implicit padding) is left to the trait bounds and
//! `const` items that `expand` generates, which rustc checks.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::Kind;
use crate::field_type::check_type;

/// Collects every problem of one input, to report them all at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push_error(syn::Error::new(span, message));
    }

    pub(crate) fn push_error(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub(crate) fn into_compile_errors(self) -> proc_macro2::TokenStream {
        self.0.map(|e| e.to_compile_error()).unwrap_or_default()
    }
}

/// A named field of the input struct.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    /// The name in the canonical form (a raw identifier's `r#` removed).
    pub(crate) name: String,
    pub(crate) ty: &'a Type,
    /// No syntactic problem was found in the type, so rustc's trait and
    /// layout checks will give a meaningful answer.
    pub(crate) type_ok: bool,
}

/// The input as far as the checks accepted it.
pub(crate) struct Checked<'a> {
    pub(crate) fields: Vec<Field<'a>>,
    /// No generics: generated code may name the struct's type by its ident.
    pub(crate) concrete: bool,
    /// `#[repr(C)]` found and nothing refused in the `repr`s: offsets mean
    /// something, so padding checks are worth generating.
    pub(crate) repr_c: bool,
}

/// Checks the shape, generics, `repr` and field types; `None` when the input
/// is not a struct with named fields at all.
pub(crate) fn check<'a>(
    input: &'a DeriveInput,
    kind: Kind,
    errors: &mut Errors,
) -> Option<Checked<'a>> {
    let derive = kind.name();
    let name = &input.ident;
    let named = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => Some(named),
            Fields::Unnamed(fields) => {
                errors.push(
                    fields.span(),
                    format!(
                        "`#[derive({derive})]` needs named fields: field names are part of the schema hash; \
                         write `struct {name} {{ field_name: Type, .. }}`"
                    ),
                );
                None
            }
            Fields::Unit => {
                errors.push(
                    name.span(),
                    format!("`{name}` has no fields: DataHub types are never zero-sized; add at least one field"),
                );
                None
            }
        },
        Data::Enum(data) => {
            errors.push(
                data.enum_token.span,
                format!(
                    "`#[derive({derive})]` needs a struct, not an enum: a peer process can write any bit \
                     pattern, and most are not a valid discriminant; use a struct with an integer tag field"
                ),
            );
            None
        }
        Data::Union(data) => {
            errors.push(
                data.union_token.span,
                format!(
                    "`#[derive({derive})]` needs a struct, not a union: write a `#[repr(C)]` struct"
                ),
            );
            None
        }
    };

    let concrete = check_generics(input, derive, errors);
    // An enum or a union is refused whatever its repr: do not pile on.
    let repr_c = matches!(input.data, Data::Struct(_)) && check_repr(input, derive, errors);

    let named = named?;
    if named.named.is_empty() {
        errors.push(
            name.span(),
            format!(
                "`{name}` has no fields: DataHub types are never zero-sized; add at least one field"
            ),
        );
        return None;
    }

    let fields = named
        .named
        .iter()
        .filter_map(|field| {
            let ident = field.ident.as_ref()?;
            let plain = ident.unraw();
            if plain != *ident {
                errors.push(
                    ident.span(),
                    format!(
                        "field name `{plain}` is a Rust keyword, which DataHub schemas refuse (TOML and \
                         C peers must be able to name it too); rename the field"
                    ),
                );
            }
            let mut type_ok = true;
            if let Err(e) = check_type(&field.ty, kind) {
                errors.push_error(e);
                type_ok = false;
            }
            Some(Field {
                ident,
                name: plain.to_string(),
                ty: &field.ty,
                type_ok,
            })
        })
        .collect();

    Some(Checked {
        fields,
        concrete,
        repr_c,
    })
}

fn check_generics(input: &DeriveInput, derive: &str, errors: &mut Errors) -> bool {
    let mut concrete = true;
    for param in &input.generics.params {
        concrete = false;
        let message = match param {
            syn::GenericParam::Lifetime(_) => format!(
                "`#[derive({derive})]` does not allow lifetime parameters: data in shared memory cannot \
                 borrow from a process; remove the lifetime and any reference"
            ),
            _ => format!(
                "`#[derive({derive})]` does not allow generic parameters: a schema describes one concrete \
                 layout; write one struct per instantiation, or use a fixed array `[T; N]` with a literal N"
            ),
        };
        errors.push(param.span(), message);
    }
    if let Some(clause) = &input.generics.where_clause {
        concrete = false;
        errors.push(
            clause.where_token.span,
            format!(
                "`#[derive({derive})]` does not allow a `where` clause: the struct must be concrete"
            ),
        );
    }
    concrete
}

/// `true` if `#[repr(C)]` is present and no refused `repr` is.
fn check_repr(input: &DeriveInput, derive: &str, errors: &mut Errors) -> bool {
    let mut found_c = false;
    let mut refused = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        let parsed = attr.parse_nested_meta(|meta| {
            let word = meta.path.get_ident().map(Ident::to_string).unwrap_or_default();
            match word.as_str() {
                "C" => found_c = true,
                "packed" => {
                    refused = true;
                    if meta.input.peek(syn::token::Paren) {
                        let _ = meta.input.parse::<proc_macro2::Group>()?;
                    }
                    errors.push(
                        meta.path.span(),
                        format!(
                            "`#[derive({derive})]` does not allow `repr(packed)`: fields at unaligned offsets \
                             cannot be read in place, and schemas use natural alignment; remove `packed` and \
                             make any padding an explicit field such as `_pad0: [u8; N]`"
                        ),
                    );
                }
                "align" => {
                    refused = true;
                    if meta.input.peek(syn::token::Paren) {
                        let _ = meta.input.parse::<proc_macro2::Group>()?;
                    }
                    errors.push(
                        meta.path.span(),
                        format!(
                            "`#[derive({derive})]` does not allow `repr(align(..))`: a TOML schema cannot \
                             express over-alignment, so no schema would have this layout; remove it (add an \
                             explicit `_pad: [u8; N]` field if you need the room)"
                        ),
                    );
                }
                "transparent" | "Rust" => {
                    refused = true;
                    errors.push(
                        meta.path.span(),
                        format!("`#[derive({derive})]` needs `repr(C)`, not `repr({word})`: write `#[repr(C)]`"),
                    );
                }
                _ => {
                    // Integer reprs are rustc's to refuse on a struct; skip
                    // anything we do not know without failing the parse.
                    if meta.input.peek(syn::token::Paren) {
                        let _ = meta.input.parse::<proc_macro2::Group>()?;
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = parsed {
            refused = true;
            errors.push_error(e);
        }
    }
    if !found_c {
        let name = &input.ident;
        errors.push(
            name.span(),
            format!(
                "`#[derive({derive})]` needs `#[repr(C)]` on `{name}`: Rust's default layout may reorder \
                 fields, so no other process could rely on it; add `#[repr(C)]` above the struct"
            ),
        );
    }
    found_c && !refused
}
