//! `datahub-codegen`: check DataHub channel schemas, print their layouts and
//! hashes, and generate typed Rust from them.
//!
//! Exit status: 0 when every file is valid, 1 when any is not (diagnostics
//! on stderr, `FILE:LINE:COL: error[CODE]: ...` then the source with a
//! caret), 2 for a usage error.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use datahub_codegen::{CratePath, HashReport};
use datahub_schema::Schema;

#[derive(Debug, Parser)]
#[command(
    name = "datahub-codegen",
    version,
    about = "Check DataHub channel schemas, print their layouts and hashes, and generate typed Rust from them"
)]
struct Cli {
    /// When to color diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    color: Color,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Color {
    /// When stderr is a terminal and NO_COLOR is unset.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print every struct's layout, canonical form and type hash, and every
    /// channel's canonical form and channel hash.
    Hash {
        /// One JSON object: {"structs": {NAME: {size, align, canon, hash}}, "channels": {NAME: {canon, hash}}}.
        #[arg(long)]
        json: bool,
        /// The schema file (TOML, format 1).
        file: PathBuf,
    },
    /// Generate Rust from a schema: structs with compile-time layout and
    /// hash checks, and one module per channel with typed handles.
    Generate {
        /// The schema file (TOML, format 1).
        file: PathBuf,
        /// Where to write the code.
        #[arg(short, long)]
        out: PathBuf,
        /// Write nothing; exit 1 when OUT is missing or differs from what
        /// would be generated.
        #[arg(long)]
        check: bool,
        /// How the generated code names the datahub crate: `::dh` when the
        /// dependency is renamed (`dh = { package = "datahub", .. }`),
        /// `crate::path::to::datahub` for a re-export. Must be absolute.
        #[arg(long, value_name = "PATH", default_value = "::datahub")]
        crate_path: CratePath,
    },
    /// Print each struct's layout (offset, size, type, field) and every hash.
    Describe {
        /// The schema file (TOML, format 1).
        file: PathBuf,
    },
    /// Check schema files; exit 0 when all are valid.
    Check {
        /// Schema files (TOML, format 1).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    match cli.command {
        Command::Hash { json, file } => match Schema::load(&file) {
            Ok(schema) => {
                let report = HashReport::new(&schema);
                if json {
                    match serde_json::to_string_pretty(&report) {
                        Ok(text) => println!("{text}"),
                        Err(e) => {
                            eprintln!("error: cannot write JSON: {e}");
                            return ExitCode::FAILURE;
                        }
                    }
                } else {
                    println!("{}", file.display());
                    print!("{}", report.to_table());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprint!("{}", e.render(color));
                ExitCode::FAILURE
            }
        },
        Command::Generate {
            file,
            out,
            check,
            crate_path,
        } => generate(&file, &out, check, &crate_path),
        Command::Describe { file } => match Schema::load(&file) {
            Ok(schema) => {
                print!("{}", datahub_codegen::describe(&schema));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprint!("{}", e.render(color));
                ExitCode::FAILURE
            }
        },
        Command::Check { files } => {
            let mut failed = 0;
            for file in &files {
                match Schema::load(file) {
                    Ok(schema) => println!(
                        "{}: ok ({} struct{}, {} channel{})",
                        file.display(),
                        schema.structs().len(),
                        plural(schema.structs().len()),
                        schema.channels().len(),
                        plural(schema.channels().len()),
                    ),
                    Err(e) => {
                        failed += 1;
                        eprint!("{}", e.render(color));
                    }
                }
            }
            if failed > 0 {
                eprintln!(
                    "error: {failed} of {} schema file{} invalid",
                    files.len(),
                    plural(files.len())
                );
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

fn generate(file: &Path, out: &Path, check: bool, crate_path: &CratePath) -> ExitCode {
    let code = match datahub_codegen::generate_file_with(file, crate_path) {
        Ok(code) => code,
        Err(e) => {
            eprint!("{e}");
            if !e.to_string().ends_with('\n') {
                eprintln!();
            }
            return ExitCode::FAILURE;
        }
    };
    let option = if crate_path.is_default() {
        String::new()
    } else {
        format!(" --crate-path {crate_path}")
    };
    let regenerate = format!(
        "datahub-codegen generate{option} {} -o {}",
        file.display(),
        out.display()
    );
    if check {
        return match std::fs::read_to_string(out) {
            Ok(existing) if existing == code => {
                println!("{}: up to date with {}", out.display(), file.display());
                ExitCode::SUCCESS
            }
            Ok(_) => {
                eprintln!(
                    "error: {} is stale: it differs from what {} generates; run `{regenerate}`",
                    out.display(),
                    file.display()
                );
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!(
                    "error: cannot read {} ({e}); generate it with `{regenerate}`",
                    out.display()
                );
                ExitCode::FAILURE
            }
        };
    }
    match std::fs::write(out, &code) {
        Ok(()) => {
            println!("{}: generated from {}", out.display(), file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
