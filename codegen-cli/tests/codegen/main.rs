//! Integration tests of `datahub-codegen`, in one test binary (one compile
//! on a 2-core machine): the command as users run it, and the generated
//! code (snapshots, compiled by trybuild, stale-output checks), and that
//! `check` and `generate` agree on every file.

mod agree;
mod cli;
mod generate;
