//! `datahub broker` (run a discovery broker) and `datahub list --broker`
//! (what a broker knows).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_BORDERS_ONLY};
use datahub::ChannelRecord;
use datahub_broker::{Broker, BrokerOptions, HubOptions, MessageHub};

use crate::Outcome;

/// Serves a broker on `endpoint`, `quota` registrations per client, until
/// SIGINT or SIGTERM.
pub(crate) fn serve(
    endpoint: &str,
    verbose: bool,
    quota: usize,
) -> Result<Outcome, datahub::Error> {
    let level = if verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    // A second subscriber (there is none) would be refused: ignore it.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(level)
        .try_init();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(|source| {
            datahub::ErrorKind::BrokerIo {
                endpoint: endpoint.to_owned(),
                source,
            }
        })?;
    }
    let mut broker = Broker::bind_with(endpoint, &BrokerOptions::default().quota(quota))?;
    // One line on stdout, flushed: scripts and tests wait for it.
    println!("datahub broker listening on {}", broker.endpoint());
    let _ = std::io::stdout().flush();
    broker.serve(&stop)?;
    let stats = broker.stats();
    eprintln!(
        "datahub broker stopped: {} requests, {} refused, {} dead producers dropped, {} registrations held",
        stats.requests, stats.errors, stats.dropped_dead, stats.registrations
    );
    Ok(Outcome::Ok)
}

/// Lists what the broker at `endpoint` knows.
pub(crate) fn list(
    endpoint: &str,
    json: bool,
    timeout: Duration,
) -> Result<Outcome, datahub::Error> {
    let hub = MessageHub::connect_with(endpoint, HubOptions::default().timeout(timeout))?;
    let channels = hub.list()?;
    if json {
        crate::print_json(&channels);
    } else {
        print!("{}", render(endpoint, &channels));
    }
    Ok(Outcome::Ok)
}

fn render(endpoint: &str, channels: &[ChannelRecord]) -> String {
    if channels.is_empty() {
        return format!("the broker at {endpoint} knows no channels\n");
    }
    let mut t = Table::new();
    t.load_style(UTF8_BORDERS_ONLY).set_header([
        "channel",
        "producer",
        "host",
        "channel hash",
        "shm",
        "zmq endpoint",
        "registered",
    ]);
    for c in channels {
        let hash = c.channel_hash.to_string();
        t.add_row([
            Cell::new(&c.channel),
            Cell::new(format!("pid {}", c.producer_pid)),
            Cell::new(if c.local { "local" } else { "remote" }),
            // `dh1:` and the first 12 hex digits tell hashes apart at a glance.
            Cell::new(format!("{}…", &hash[..hash.len().min(16)])),
            Cell::new(&c.shm_name),
            Cell::new(c.zmq_endpoint.as_deref().unwrap_or("-")),
            Cell::new(format!("{} ms ago", c.registered_ms)).set_alignment(CellAlignment::Right),
        ]);
    }
    format!("{t}\n")
}
