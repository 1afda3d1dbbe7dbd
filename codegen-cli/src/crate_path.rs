//! The path by which generated code names the `datahub` crate: `::datahub`
//! unless the user renamed the dependency or reaches it through a
//! re-export (`Builder::crate_path`, `--crate-path`).

use std::fmt;
use std::str::FromStr;

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::Parser;

/// An absolute path to the `datahub` crate, as generated code names it:
/// `::datahub` (the default), `::dh` for a dependency renamed
/// `dh = { package = "datahub", .. }`, or `crate::reexport::datahub` for a
/// re-export in the user's crate.
///
/// It must be absolute (`::name` or `crate::...`): the generated code names
/// it from inside the channel modules it defines, where a relative path
/// would mean something else.
///
/// ```
/// use datahub_codegen::CratePath;
///
/// let path: CratePath = ":: dh".parse()?;
/// assert_eq!(path.as_str(), "::dh");
/// assert!("super::datahub".parse::<CratePath>().is_err());
/// # Ok::<(), datahub_codegen::CratePathError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CratePath {
    /// Normalized text: the path's tokens without spaces (`::dh`,
    /// `crate::a::b`), which parse back to the same tokens.
    text: String,
}

/// Why a [`CratePath`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}` is not a crate path that generated code can use: {problem}")]
pub struct CratePathError {
    path: String,
    problem: &'static str,
}

impl CratePath {
    /// Checks and normalizes `text`.
    pub fn new(text: &str) -> Result<Self, CratePathError> {
        let refuse = |problem| CratePathError {
            path: text.to_owned(),
            problem,
        };
        let path = syn::Path::parse_mod_style
            .parse_str(text)
            .ok()
            .filter(|path| !path.segments.is_empty())
            .ok_or_else(|| {
                refuse("write a path such as `::dh` or `crate::reexport::datahub` (no generic arguments)")
            })?;
        let first = path.segments[0].ident.to_string();
        let absolute = path.leading_colon.is_some() || first == "crate";
        if !absolute {
            return Err(refuse(
                "it must be absolute, `::name` for a (renamed) dependency or `crate::..` for a re-export, \
                 because generated code names it from inside the modules it defines",
            ));
        }
        if path.segments.iter().skip(1).any(|s| {
            matches!(
                s.ident.to_string().as_str(),
                "crate" | "self" | "super" | "Self"
            )
        }) {
            return Err(refuse(
                "`crate`, `self` and `super` may only start a path; write it as `::name` or `crate::..`",
            ));
        }
        let text = path.to_token_stream().to_string().replace(' ', "");
        Ok(Self { text })
    }

    /// The path as text, without spaces (`::datahub`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is the default, `::datahub`.
    pub fn is_default(&self) -> bool {
        self.text == "::datahub"
    }

    pub(crate) fn tokens(&self) -> TokenStream {
        self.text
            .parse()
            .expect("a checked path's text parses back to tokens")
    }
}

impl Default for CratePath {
    fn default() -> Self {
        Self::new("::datahub").expect("`::datahub` is a crate path")
    }
}

impl FromStr for CratePath {
    type Err = CratePathError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::new(text)
    }
}

impl fmt::Display for CratePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths_are_accepted_and_normalized() {
        for (given, normal) in [
            ("::datahub", "::datahub"),
            (" :: dh ", "::dh"),
            ("crate::reexport::datahub", "crate::reexport::datahub"),
            ("::r#async::datahub", "::r#async::datahub"),
        ] {
            assert_eq!(CratePath::new(given).unwrap().as_str(), normal);
        }
        assert!(CratePath::default().is_default());
    }

    #[test]
    fn relative_malformed_or_generic_paths_are_refused_with_the_fix() {
        for (given, says) in [
            ("", "write a path"),
            ("::dh<T>", "write a path"),
            ("a b", "write a path"),
            ("::dh::", "write a path"),
            ("dh", "must be absolute"),
            ("self::datahub", "must be absolute"),
            ("super::datahub", "must be absolute"),
            ("crate::super::datahub", "may only start"),
        ] {
            let message = CratePath::new(given).unwrap_err().to_string();
            assert!(message.contains(says), "{given}: {message}");
        }
    }
}
