//! Free text that reaches generated code (`doc` strings): which characters
//! it may hold.
//!
//! Generated code carries each `doc` as `///` comment lines. A text-direction
//! character there (the "Trojan Source" characters, which rustc refuses in
//! comments) can make code read differently than it compiles; a bare `\r`
//! ends no line for rustc, which refuses it in a doc comment; other control
//! characters do nothing for a reader but can rewrite a terminal that shows
//! the file. So all of them are refused: a doc is plain lines of text.

/// The characters that change the direction of the text after them (bidi
/// embeddings, overrides and isolates), which rustc refuses in comments and
/// string literals (`text_direction_codepoint_in_comment`).
const TEXT_DIRECTION: &[(char, &str)] = &[
    ('\u{202A}', "LEFT-TO-RIGHT EMBEDDING"),
    ('\u{202B}', "RIGHT-TO-LEFT EMBEDDING"),
    ('\u{202C}', "POP DIRECTIONAL FORMATTING"),
    ('\u{202D}', "LEFT-TO-RIGHT OVERRIDE"),
    ('\u{202E}', "RIGHT-TO-LEFT OVERRIDE"),
    ('\u{2066}', "LEFT-TO-RIGHT ISOLATE"),
    ('\u{2067}', "RIGHT-TO-LEFT ISOLATE"),
    ('\u{2068}', "FIRST STRONG ISOLATE"),
    ('\u{2069}', "POP DIRECTIONAL ISOLATE"),
];

/// The first character of `text` that a `doc` may not hold, with its
/// 1-based position among the characters; `None` when every one is fine.
///
/// Allowed: any character that is not a control character, a text-direction
/// character or a line or paragraph separator (U+2028, U+2029: editors show
/// them as line breaks, rustc does not), plus `\t`, `\n`, and `\r` right
/// before `\n` (a Windows line end).
pub(crate) fn forbidden_in_doc(text: &str) -> Option<(usize, char)> {
    let mut chars = text.chars().enumerate().peekable();
    while let Some((i, c)) = chars.next() {
        let allowed = match c {
            '\t' | '\n' => true,
            '\r' => matches!(chars.peek(), Some((_, '\n'))),
            '\u{2028}' | '\u{2029}' => false,
            c if c.is_control() => false,
            c => !TEXT_DIRECTION.iter().any(|&(d, _)| d == c),
        };
        if !allowed {
            return Some((i + 1, c));
        }
    }
    None
}

/// `U+202E (RIGHT-TO-LEFT OVERRIDE)`, or `U+000D (\r)` for a control character.
pub(crate) fn describe_char(c: char) -> String {
    let name = match c {
        '\u{2028}' => "LINE SEPARATOR".to_owned(),
        '\u{2029}' => "PARAGRAPH SEPARATOR".to_owned(),
        c => match TEXT_DIRECTION.iter().find(|&&(d, _)| d == c) {
            Some((_, name)) => (*name).to_owned(),
            None => c.escape_debug().to_string(),
        },
    };
    format!("U+{:04X} ({name})", u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_pass_and_direction_and_control_characters_do_not() {
        for ok in [
            "",
            "One acquisition frame",
            "two\nlines\r\nand a\ttab",
            "*/ /* `code` {braces} \"quotes\" \\ é 😀 עברית",
        ] {
            assert_eq!(forbidden_in_doc(ok), None, "{ok:?}");
        }
        assert_eq!(forbidden_in_doc("ab\u{202E}c"), Some((3, '\u{202E}')));
        assert_eq!(forbidden_in_doc("a\rb"), Some((2, '\r')));
        assert_eq!(forbidden_in_doc("a\r"), Some((2, '\r')));
        assert_eq!(forbidden_in_doc("\u{1b}[31m"), Some((1, '\u{1b}')));
        assert_eq!(forbidden_in_doc("x\u{0}"), Some((2, '\0')));
        assert_eq!(forbidden_in_doc("x\u{2028}"), Some((2, '\u{2028}')));
        assert_eq!(forbidden_in_doc("\u{85}"), Some((1, '\u{85}')));
        for (c, _) in TEXT_DIRECTION {
            assert_eq!(forbidden_in_doc(&c.to_string()), Some((1, *c)));
        }
    }

    #[test]
    fn characters_are_described_by_code_point_and_name() {
        assert_eq!(describe_char('\u{202E}'), "U+202E (RIGHT-TO-LEFT OVERRIDE)");
        assert_eq!(describe_char('\r'), "U+000D (\\r)");
        assert_eq!(describe_char('\u{1b}'), "U+001B (\\u{1b})");
    }
}
