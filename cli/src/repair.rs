//! `datahub diagnose`, `recover` and `cleanup`: what is wrong, and the
//! repairs an operator asks for.

use std::fmt::Write as _;

use datahub::{CleanupVerdict, Finding, RecoveryAction, Severity};

use crate::Outcome;
use crate::out::{out, outln};

pub(crate) fn diagnose(channel: &str, json: bool) -> Result<Outcome, datahub::Error> {
    let findings = match datahub::inspect(channel) {
        Ok(snapshot) => snapshot.diagnose(),
        // A closed segment is refused by every reader, snapshots included:
        // that is the `closed` finding, not a failure of the command.
        Err(e) if matches!(e.kind(), datahub::ErrorKind::Closed { .. }) => {
            vec![Finding::closed(channel)]
        }
        Err(e) => return Err(e),
    };
    if json {
        crate::print_json(&findings);
    } else if findings.is_empty() {
        outln!("channel `{channel}` is healthy");
    } else {
        out!("{}", render_findings(&findings));
    }
    Ok(
        if findings.iter().any(|f| f.severity >= Severity::Warning) {
            Outcome::Problems
        } else {
            Outcome::Ok
        },
    )
}

fn render_findings(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            _ => "info",
        };
        let _ = writeln!(out, "{severity}[{}]: {}", f.code, f.message);
        let _ = writeln!(out, "  fix: {}", f.fix);
    }
    out
}

pub(crate) fn recover(channel: &str, dry_run: bool, json: bool) -> Result<Outcome, datahub::Error> {
    let recovery = datahub::recover(channel, dry_run)?;
    if json {
        crate::print_json(&recovery);
        return Ok(Outcome::Ok);
    }
    let verb = |done: &'static str, would: &'static str| if dry_run { would } else { done };
    if recovery.actions.is_empty() {
        outln!("nothing held by a dead process in channel `{channel}`");
    }
    for action in &recovery.actions {
        match action {
            RecoveryAction::RemovedConsumer { index, pid } => outln!(
                "{} consumer {index} (pid {pid}, dead)",
                verb("removed", "would remove")
            ),
            RecoveryAction::ReleasedLock { zone, pid } => outln!(
                "{} the lock of zone `{zone}` (held by pid {pid}, dead); its next holder is told the zone \
                 may be half-written",
                verb("released", "would release")
            ),
            other => outln!("{other:?}"),
        }
    }
    if !recovery.remaining.is_empty() {
        outln!(
            "\n{}:",
            verb("still wrong", "wrong now (a dry run changes nothing)")
        );
        out!("{}", render_findings(&recovery.remaining));
    }
    Ok(Outcome::Ok)
}

pub(crate) fn cleanup(
    channels: &[String],
    dry_run: bool,
    json: bool,
) -> Result<Outcome, datahub::Error> {
    let verdicts = datahub::cleanup(channels, dry_run)?;
    if json {
        crate::print_json(&verdicts);
    } else if verdicts.is_empty() {
        outln!("no DataHub channels on this machine");
    } else {
        for v in &verdicts {
            let verdict = match v.verdict {
                CleanupVerdict::Removed => "removed",
                CleanupVerdict::WouldRemove => "would remove",
                CleanupVerdict::Kept => "kept",
                _ => "skipped",
            };
            outln!("{verdict:>12}  {}: {}", v.channel, v.reason);
        }
    }
    Ok(
        if verdicts
            .iter()
            .any(|v| v.verdict == CleanupVerdict::Skipped)
        {
            Outcome::Problems
        } else {
            Outcome::Ok
        },
    )
}
