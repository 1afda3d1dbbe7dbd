//! `datahub`: see and repair the DataHub channels of this machine.
//!
//! `datahub broker` runs the discovery broker (until SIGINT or SIGTERM);
//! `datahub list --broker ENDPOINT` lists what a broker knows.
//!
//! Read-only commands (`list`, `inspect`, `diagnose`, `recover --dry-run`,
//! `cleanup --dry-run`) read a private copy of a segment, never mapping it:
//! they work on channels they did not create, never change a byte, and a
//! segment truncated meanwhile is an error, not a crash. `recover` and
//! `cleanup` change only their own user's segments. A reader that goes
//! away ends a command quietly (status 0).
//!
//! Exit status: 0 on success (`diagnose`: the channel is healthy, or has
//! only `info` findings); 1 when `diagnose` finds a warning or an error, or
//! `cleanup` skips a segment it cannot judge; 2 for a usage error; 3 when
//! the command itself fails (no such channel, a corrupt segment, I/O), with
//! `error[DH2xx]: ...` on stderr.

mod broker;
mod layout;
mod list;
mod out;
mod repair;
mod show;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::out::outln;

#[derive(Debug, Parser)]
#[command(
    name = "datahub",
    version,
    about = "See and repair the DataHub channels (shared-memory segments) of this machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every channel on this machine: state, producer alive or dead,
    /// consumers, items committed and the rate over a short interval.
    List {
        /// One JSON array, an object per channel.
        #[arg(long)]
        json: bool,
        /// How long to watch the commit counters to measure rates (ms; 0:
        /// no rates).
        #[arg(long, default_value_t = 200, value_name = "MS")]
        interval_ms: u64,
        /// List what the broker at this endpoint knows instead (channel,
        /// producer pid, host, channel hash, shm name, ZeroMQ endpoint);
        /// without a value, $DATAHUB_BROKER or the default endpoint.
        #[arg(long, value_name = "ENDPOINT", num_args = 0..=1)]
        broker: Option<Option<String>>,
        /// How long to wait for the broker's reply (ms).
        #[arg(long, default_value_t = 2000, value_name = "MS", requires = "broker")]
        timeout_ms: u64,
    },
    /// Run a discovery broker: producers register their channels, consumers
    /// discover them by name and schema hash; no data goes through it.
    /// Runs until SIGINT or SIGTERM.
    Broker {
        /// Where to listen: `ipc://PATH` on this host, `tcp://HOST:PORT` for
        /// other hosts [default: $DATAHUB_BROKER, or
        /// ipc://$XDG_RUNTIME_DIR/datahub-broker.sock, or under /tmp].
        #[arg(long, value_name = "ENDPOINT")]
        endpoint: Option<String>,
        /// Log every refused request too.
        #[arg(long, short)]
        verbose: bool,
        /// How many registrations one client may hold (every process of
        /// one user on ipc://, every connection from one address on tcp://).
        #[arg(long, default_value_t = 1024, value_name = "N",
              value_parser = clap::value_parser!(u16).range(1..=4096))]
        quota: u16,
    },
    /// A channel's configuration, slot and zone layouts, producer,
    /// counters, every consumer and (with --slots) every slot.
    Inspect {
        /// The channel's name.
        channel: String,
        /// The snapshot as JSON (one object; with --watch, one per line).
        #[arg(long)]
        json: bool,
        /// Refresh every --interval-ms until interrupted (or --count times),
        /// with rates since the previous refresh.
        #[arg(long)]
        watch: bool,
        /// Refresh period for --watch (ms).
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        interval_ms: u64,
        /// Stop --watch after this many refreshes.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Also list every ring slot.
        #[arg(long)]
        slots: bool,
    },
    /// What is wrong with a channel: a dead producer, slots left WRITING,
    /// dead or stalled consumers, locks held by dead processes; each with
    /// its fix. Exit 1 when a warning or error is found.
    Diagnose {
        /// The channel's name.
        channel: String,
        /// The findings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Reclaim what dead processes hold in a channel: their consumer
    /// entries and zone locks.
    Recover {
        /// The channel's name.
        channel: String,
        /// Show what would be reclaimed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove segments whose producer is dead and that no live consumer is
    /// attached to.
    Cleanup {
        /// Only these channels (default: every channel on the machine).
        channels: Vec<String>,
        /// Show what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// The verdicts as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// How a command ended, beyond printing.
pub(crate) enum Outcome {
    /// Done.
    Ok,
    /// Done, and it found problems (exit 1).
    Problems,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    out::exit_on_truncated_segment();
    let result = match cli.command {
        Command::List {
            json,
            broker: Some(endpoint),
            timeout_ms,
            ..
        } => broker::list(
            &endpoint.unwrap_or_else(datahub_broker::configured_endpoint),
            json,
            Duration::from_millis(timeout_ms),
        ),
        Command::List {
            json,
            interval_ms,
            broker: None,
            ..
        } => list::run(json, Duration::from_millis(interval_ms)),
        Command::Broker {
            endpoint,
            verbose,
            quota,
        } => broker::serve(
            &endpoint.unwrap_or_else(datahub_broker::configured_endpoint),
            verbose,
            usize::from(quota),
        ),
        Command::Inspect {
            channel,
            json,
            watch,
            interval_ms,
            count,
            slots,
        } => show::run(
            &channel,
            &show::Options {
                json,
                watch,
                interval: Duration::from_millis(interval_ms.max(10)),
                count,
                slots,
            },
        ),
        Command::Diagnose { channel, json } => repair::diagnose(&channel, json),
        Command::Recover {
            channel,
            dry_run,
            json,
        } => repair::recover(&channel, dry_run, json),
        Command::Cleanup {
            channels,
            dry_run,
            json,
        } => repair::cleanup(&channels, dry_run, json),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Problems) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error[{}]: {e}", e.code());
            ExitCode::from(3)
        }
    }
}

/// Prints `value` as one line of JSON.
pub(crate) fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string(value) {
        Ok(line) => outln!("{line}"),
        // The snapshot types serialize infallibly (strings, numbers, maps
        // with string keys); this would be a bug, said plainly.
        Err(e) => eprintln!("error: cannot write JSON: {e}"),
    }
}
