//! The `#[datahub(...)]` helper attribute: today only `crate = "path"`,
//! the path by which the expansion names the `datahub` crate (as serde's
//! `#[serde(crate = "...")]`), for a user who renamed the dependency or
//! reaches it through a re-export.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, LitStr};

use crate::check::Errors;

/// How the expansion names the `datahub` crate.
pub(crate) struct CratePath(Option<syn::Path>);

impl CratePath {
    /// The path, as tokens; the default `::datahub` carries `span`, so a
    /// generated path spanned on a field's type stays spanned there.
    pub(crate) fn spanned(&self, span: Span) -> TokenStream {
        match &self.0 {
            Some(path) => path.to_token_stream(),
            None => quote_spanned!(span=> ::datahub),
        }
    }
}

impl ToTokens for CratePath {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(self.spanned(Span::call_site()));
    }
}

/// Reads the struct's `#[datahub(crate = "...")]`; every problem (an
/// unknown key, a value that is not a path, a second `crate`, the
/// attribute on a field) goes to `errors`, and the default is used.
pub(crate) fn crate_path(input: &DeriveInput, errors: &mut Errors) -> CratePath {
    let mut found: Option<syn::Path> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("datahub")) {
        let parsed = attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident("crate") {
                let key = meta.path.to_token_stream().to_string().replace(' ', "");
                return Err(meta.error(format!(
                    "unknown key `{key}` in `#[datahub(..)]`: the only key is `crate`, as in \
                     `#[datahub(crate = \"::datahub\")]`"
                )));
            }
            let value: LitStr = meta.value()?.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    "`crate` takes a string holding a path: `#[datahub(crate = \"::datahub\")]`",
                )
            })?;
            let path = value
                .parse_with(syn::Path::parse_mod_style)
                .ok()
                .filter(|path| !path.segments.is_empty())
                .ok_or_else(|| {
                    syn::Error::new(
                        value.span(),
                        format!(
                            "`{}` is not a path to the `datahub` crate: write one such as `\"::datahub\"`, \
                             `\"::dh\"` or `\"my_crate::reexport::datahub\"` (no generic arguments)",
                            value.value()
                        ),
                    )
                })?;
            if found.is_some() {
                return Err(syn::Error::new(
                    meta.path.span(),
                    "`crate` is given twice in `#[datahub(..)]` on this struct: keep one",
                ));
            }
            found = Some(path);
            Ok(())
        });
        if let Err(e) = parsed {
            errors.push_error(e);
        }
    }
    if let Data::Struct(data) = &input.data {
        for attr in data.fields.iter().flat_map(|f| &f.attrs) {
            if attr.path().is_ident("datahub") {
                errors.push(
                    attr.path().span(),
                    "`#[datahub(..)]` belongs on the struct, not on a field: move it above the struct",
                );
            }
        }
    }
    CratePath(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(source: &str) -> (String, String) {
        let input: DeriveInput = syn::parse_str(source).unwrap();
        let mut errors = Errors::default();
        let path = crate_path(&input, &mut errors)
            .to_token_stream()
            .to_string();
        (path, errors.into_compile_errors().to_string())
    }

    #[test]
    fn the_crate_path_is_datahub_unless_the_attribute_gives_another() {
        assert_eq!(
            read("struct S { a: u8 }"),
            (":: datahub".into(), String::new())
        );
        assert_eq!(
            read("#[datahub(crate = \"::dh\")] struct S { a: u8 }"),
            (":: dh".into(), String::new())
        );
        assert_eq!(
            read("#[datahub(crate = \"my::reexport::datahub\")] struct S { a: u8 }"),
            ("my :: reexport :: datahub".into(), String::new())
        );
    }

    #[test]
    fn a_malformed_or_repeated_attribute_is_an_error_that_says_what_to_write() {
        for (source, message) in [
            (
                "#[datahub(crate = \"::dh<T>\")] struct S { a: u8 }",
                "is not a path",
            ),
            (
                "#[datahub(crate = \"\")] struct S { a: u8 }",
                "is not a path",
            ),
            (
                "#[datahub(crate = \"a b\")] struct S { a: u8 }",
                "is not a path",
            ),
            (
                "#[datahub(crate = dh)] struct S { a: u8 }",
                "takes a string",
            ),
            (
                "#[datahub(krate = \"dh\")] struct S { a: u8 }",
                "unknown key `krate`",
            ),
            (
                "#[datahub] struct S { a: u8 }",
                "expected attribute arguments",
            ),
            (
                "#[datahub(crate = \"a\")] #[datahub(crate = \"b\")] struct S { a: u8 }",
                "given twice",
            ),
            (
                "#[datahub(crate = \"a\", crate = \"b\")] struct S { a: u8 }",
                "given twice",
            ),
            (
                "struct S { #[datahub(crate = \"a\")] a: u8 }",
                "not on a field",
            ),
        ] {
            let (_, errors) = read(source);
            assert!(errors.contains(message), "{source}: {errors}");
        }
    }
}
