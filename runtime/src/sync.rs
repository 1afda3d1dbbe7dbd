//! The atomics the concurrency core is written against: `std`'s in a
//! build, loom's under `--cfg datahub_loom`, so that the very code that ships is the
//! code the model checker explores (tokio's and crossbeam's habit).
//!
//! Every ordering that synchronizes something is written at a named site,
//! `ordering!("site", Release)` or `seqcst_fence!("site")`. In a build the
//! macros are the ordering and the fence, nothing else. Under `--cfg datahub_loom`
//! the environment variable `DATAHUB_LOOM_WEAKEN` (site names separated by
//! commas) weakens those sites: an ordering becomes `Relaxed`, a fence is
//! left out. `.ci/loom-claims` uses it to check, on the same test binary,
//! the claims of `docs/protocol.md`: each weakening listed there makes the
//! model it names fail.

#[cfg(datahub_loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

#[cfg(not(datahub_loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering, fence};

/// The ordering `$ordering`, chosen at site `$site` (see the module comment).
#[cfg(not(datahub_loom))]
macro_rules! ordering {
    ($site:literal, $ordering:expr) => {
        $ordering
    };
}

/// The ordering `$ordering`, chosen at site `$site`; `Relaxed` when the
/// site is weakened (see the module comment).
#[cfg(datahub_loom)]
macro_rules! ordering {
    ($site:literal, $ordering:expr) => {
        if $crate::sync::weakened($site) {
            $crate::sync::Ordering::Relaxed
        } else {
            $ordering
        }
    };
}

/// `fence(SeqCst)` at site `$site` (see the module comment).
#[cfg(not(datahub_loom))]
macro_rules! seqcst_fence {
    ($site:literal) => {
        $crate::sync::fence($crate::sync::Ordering::SeqCst)
    };
}

/// `fence(SeqCst)` at site `$site`, left out when the site is weakened.
#[cfg(datahub_loom)]
macro_rules! seqcst_fence {
    ($site:literal) => {
        if !$crate::sync::weakened($site) {
            $crate::sync::fence($crate::sync::Ordering::SeqCst)
        }
    };
}

pub(crate) use {ordering, seqcst_fence};

/// Whether `DATAHUB_LOOM_WEAKEN` names `site` (read once per process).
#[cfg(datahub_loom)]
pub(crate) fn weakened(site: &str) -> bool {
    static SITES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SITES
        .get_or_init(|| {
            std::env::var("DATAHUB_LOOM_WEAKEN")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .iter()
        .any(|s| s == site)
}
