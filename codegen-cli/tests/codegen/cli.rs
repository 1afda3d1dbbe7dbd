//! The `datahub-codegen` command, run as a user runs it: real process, real
//! files, exit status, stdout and stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

pub(crate) fn vectors() -> PathBuf {
    root().join("../shared/vectors")
}

pub(crate) fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_datahub-codegen"))
        .args(args)
        .current_dir(root())
        .env_remove("NO_COLOR")
        .output()
        .expect("the datahub-codegen binary runs")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn hash_json_prints_exactly_the_reference_vectors() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vectors().join("expected.json")).unwrap())
            .unwrap();
    for (file, want) in expected.as_object().unwrap() {
        if want.get("error").is_some() {
            continue;
        }
        let path = vectors().join(file);
        let out = run(&["hash", "--json", path.to_str().unwrap()]);
        assert!(out.status.success(), "{file}: {}", text(&out.stderr));
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(&got, want, "{file}");
    }
}

#[test]
fn hash_json_keeps_declaration_order() {
    let out = run(&["hash", "--json", "schemas/sensor.toml"]);
    let stdout = text(&out.stdout);
    let pos = |s: &str| stdout.find(s).unwrap();
    assert!(
        pos("\"SensorFrame\"") < pos("\"Telemetry\"") && pos("\"Telemetry\"") < pos("\"Calib\"")
    );
}

#[test]
fn hash_without_json_prints_tables_for_people() {
    let out = run(&["hash", "schemas/sensor.toml"]);
    assert!(out.status.success());
    insta::assert_snapshot!(text(&out.stdout));
}

#[test]
fn an_invalid_file_exits_1_with_rustc_style_diagnostics_on_stderr() {
    let path = vectors().join("padding_error.toml");
    let path = path.to_str().unwrap();
    for args in [&["hash", "--json", path][..], &["check", path][..]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            out.stdout.is_empty(),
            "nothing on stdout for an invalid file"
        );
        let stderr = text(&out.stderr);
        let first = stderr.lines().next().unwrap();
        assert_eq!(
            first,
            format!(
                "{path}:6:3: error[DH116]: struct `Bad` has 3 bytes of implicit padding at offset 1, after field `a`"
            )
        );
        assert!(
            stderr.contains("6 |   { name = \"b\", type = \"u32\" },"),
            "{stderr}"
        );
        assert!(
            stderr.contains("  |   ^^^^"),
            "a caret under the offending entry: {stderr}"
        );
        assert!(
            stderr.contains(r#"help: add { name = "_pad0", type = "[u8; 3]" } after "a""#),
            "{stderr}"
        );
        assert!(
            !stderr.contains('\u{1b}'),
            "no color when stderr is not a terminal"
        );
    }
}

#[test]
fn check_validates_every_file_and_fails_if_any_is_invalid() {
    let ok = run(&[
        "check",
        "schemas/sensor.toml",
        "schemas/tracker.toml",
        "schemas/camera.toml",
    ]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert_eq!(
        text(&ok.stdout),
        "schemas/sensor.toml: ok (3 structs, 1 channel)\nschemas/tracker.toml: ok (4 structs, 1 channel)\nschemas/camera.toml: ok (0 structs, 1 channel)\n"
    );
    let bad = vectors().join("padding_error.toml");
    let mixed = run(&["check", "schemas/sensor.toml", bad.to_str().unwrap()]);
    assert_eq!(mixed.status.code(), Some(1));
    assert!(text(&mixed.stdout).contains("schemas/sensor.toml: ok"));
    assert!(text(&mixed.stderr).ends_with("error: 1 of 2 schema files invalid\n"));
}

#[test]
fn a_missing_file_exits_1_naming_it() {
    let out = run(&["check", "schemas/nope.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error[DH190]: cannot read schema file `schemas/nope.toml`"),
        "{stderr}"
    );
}

#[test]
fn color_can_be_forced_for_terminals_that_are_not_detected() {
    let bad = vectors().join("padding_error.toml");
    let out = run(&["--color", "always", "check", bad.to_str().unwrap()]);
    assert!(text(&out.stderr).contains('\u{1b}'));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["check"]).status.code(), Some(2));
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
}
