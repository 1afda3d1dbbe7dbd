//! `datahub-bench`: DataHub side by side with iceoryx2, ZeroMQ, a Unix
//! socket and the hardware floor, on this machine, in one run, between
//! real processes (the binary re-runs itself for each peer). Prints a
//! table; `--json FILE` writes the results, `--svg FILE` the chart
//! (`datahub-bench chart RESULTS.json OUT.svg` draws it later).
//! The method is in docs/benchmarks.md.

mod chart;
mod payload;
mod peer;
mod plan;
mod report;
mod runner;
mod scenario;
mod transport;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::plan::{Mode, Plan};
use crate::report::Results;
use crate::runner::Scenario;

/// DataHub side by side with iceoryx2, ZeroMQ, a Unix socket and the
/// hardware floor, between real processes on this machine.
#[derive(Debug, Parser)]
#[command(
    name = "datahub-bench",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// A shorter run (under 2 minutes): fewer rounds, fewer items.
    #[arg(long)]
    quick: bool,
    /// A few items per case (the smoke test): checks, does not measure.
    #[arg(long, hide = true, conflicts_with = "quick")]
    smoke: bool,
    /// Runs only these scenarios (comma-separated; default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Scenario>,
    /// Compares only these systems in the latency and throughput
    /// scenarios (comma-separated; default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    systems: Vec<transport::System>,
    /// Pins the measuring thread of each of a case's two peers to a CPU
    /// of its own (by default the scheduler places them: on this 2-vCPU
    /// VM that varied less).
    #[arg(long)]
    pin: bool,
    /// Writes the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Draws the chart (SVG) to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Draws the chart (SVG) of a results file written with `--json`.
    Chart {
        /// The results (JSON).
        results: PathBuf,
        /// Where to write the SVG.
        svg: PathBuf,
    },
    /// One process of a case (started by the benchmark itself).
    #[command(hide = true)]
    Peer {
        /// The CPU to pin the measuring thread to.
        #[arg(long)]
        cpu: Option<usize>,
        /// The role, as JSON.
        role: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Some(Command::Peer { role, cpu }) => {
            peer::run_child(&role, cpu)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Chart { results, svg }) => {
            let text = std::fs::read_to_string(&results)
                .with_context(|| format!("reading {}", results.display()))?;
            let results: Results = serde_json::from_str(&text).with_context(|| {
                format!("{} is not a datahub-bench results file", results.display())
            })?;
            chart::draw(&results, &svg)?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let args = cli.run;
            let mode = match (args.quick, args.smoke) {
                (_, true) => Mode::Smoke,
                (true, false) => Mode::Quick,
                (false, false) => Mode::Full,
            };
            let results = runner::run(Plan::of(mode), &args.only, &args.systems, args.pin)?;
            print!("{}", results.table());
            if let Some(path) = &args.json {
                std::fs::write(path, serde_json::to_string_pretty(&results)? + "\n")
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            if let Some(path) = &args.svg {
                chart::draw(&results, path)?;
            }
            Ok(if results.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
