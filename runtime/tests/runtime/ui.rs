//! Compile-fail tests: every input the derives refuse, with the message and
//! span rustc prints checked in next to it (`tests/ui/*.stderr`).
//!
//! Regenerate the `.stderr` files after a deliberate change with
//! `TRYBUILD=overwrite cargo test -p datahub --test derive ui`.

#[test]
fn refused_inputs_give_spanned_messages_that_say_what_to_do() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
