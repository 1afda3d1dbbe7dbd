//! What is wrong with a channel, from a [`ChannelSnapshot`]: the findings
//! `datahub diagnose` prints, each with the command or step that fixes it
//! (docs/operations.md). Pure: it reads a snapshot, never the segment.

use serde::Serialize;

use crate::inspect::ChannelSnapshot;

/// How bad a [`Finding`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing; nothing is held back.
    Info,
    /// Something is degraded (a consumer loses items, a dead process holds
    /// an entry) but data keeps flowing.
    Warning,
    /// The stream is stopped or a resource is held by a dead process.
    Error,
}

/// One problem found in a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// A stable name for tools: `producer-dead`, `stuck-slot`,
    /// `dead-consumer`, `stalled-consumer`, `consumer-behind`,
    /// `dead-lock-holder`, `lock-recovery-pending`, `closed`,
    /// `invalid-state`.
    pub code: &'static str,
    /// What is wrong, with the pids, items and times involved.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

impl Finding {
    /// The finding for channel `channel`, closed by its producer but still
    /// named (its producer, or a `cleanup`, died between marking it closed
    /// and removing the name). A snapshot of such a segment cannot be taken
    /// ([`inspect`](crate::inspect) says [`ErrorKind::Closed`](crate::ErrorKind::Closed),
    /// as an attach does), so `datahub diagnose` reports this instead.
    ///
    /// ```
    /// use datahub::{Finding, Severity};
    ///
    /// let finding = Finding::closed("sensor");
    /// assert_eq!((finding.severity, finding.code), (Severity::Info, "closed"));
    /// ```
    pub fn closed(channel: &str) -> Self {
        Self {
            severity: Severity::Info,
            code: "closed",
            message: format!(
                "channel `{channel}` was closed by its producer; consumers drain it and get `Closed`"
            ),
            fix: "nothing: a new producer creates the channel afresh".into(),
        }
    }
}

impl ChannelSnapshot {
    /// The problems this snapshot shows, worst first (empty: healthy).
    ///
    /// ```
    /// use datahub::{ChannelConfig, DataHubSlot, Producer};
    ///
    /// #[derive(Clone, Copy, DataHubSlot)]
    /// #[repr(C)]
    /// struct Tick { seq: u64 }
    ///
    /// let name = format!("doc-diagnose-{}", std::process::id());
    /// let _p = Producer::<Tick>::create(&ChannelConfig::new(&name))?;
    /// assert!(datahub::inspect(&name)?.diagnose().is_empty());
    /// # Ok::<(), datahub::Error>(())
    /// ```
    pub fn diagnose(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        let channel = &self.channel;
        let mut found = |severity, code, message: String, fix: String| {
            findings.push(Finding {
                severity,
                code,
                message,
                fix,
            });
        };
        let producer = match self.producer.pid {
            Some(pid) => format!("producer pid {pid}"),
            None => "no producer".to_owned(),
        };
        if self.state == crate::inspect::ChannelState::Closed {
            let closed = Finding::closed(channel);
            found(closed.severity, closed.code, closed.message, closed.fix);
        } else if !self.producer.alive {
            found(
                Severity::Error,
                "producer-dead",
                format!(
                    "{producer} of channel `{channel}` is dead (the OS says so); {} item(s) were committed, \
                     consumers waiting get `ProducerGone` at their timeout",
                    self.committed
                ),
                format!(
                    "restart the producer (with the same schema it takes the segment over in place and attached \
                     consumers carry on), or remove the segment with `datahub cleanup {channel}`"
                ),
            );
        }
        let writing: Vec<_> = self.slots.iter().filter(|s| s.state == "writing").collect();
        for slot in &writing {
            let left_by_the_dead =
                !self.producer.alive || Some(slot.writer_pid) != self.producer.pid;
            if left_by_the_dead {
                found(
                    Severity::Error,
                    "stuck-slot",
                    format!(
                        "slot {} was left WRITING (item {}) by pid {}, which is not a live producer: consumers \
                         cannot read past it",
                        slot.index, self.committed, slot.writer_pid
                    ),
                    "restart the producer: taking the segment over resets slots left WRITING"
                        .into(),
                );
            }
        }
        if writing.len() > 1 {
            found(
                Severity::Error,
                "invalid-state",
                format!(
                    "{} slots are WRITING at once (the protocol has one writer with one slot)",
                    writing.len()
                ),
                format!(
                    "the segment is damaged: stop its processes and run `datahub cleanup {channel}`"
                ),
            );
        }
        for slot in self.slots.iter().filter(|s| s.state == "invalid") {
            found(
                Severity::Error,
                "invalid-state",
                format!("slot {} has an unknown state word", slot.index),
                format!(
                    "the segment is damaged: stop its processes and run `datahub cleanup {channel}`"
                ),
            );
        }
        for c in &self.consumers {
            let who = format!("consumer {} (pid {})", c.index, c.pid);
            if c.state == "invalid" {
                found(
                    Severity::Error,
                    "invalid-state",
                    format!("{who} has an unknown state word"),
                    format!(
                        "the segment is damaged: stop its processes and run `datahub cleanup {channel}`"
                    ),
                );
            } else if !c.alive {
                let holding = match c.reading {
                    Some(seq) => format!(", still marking item {seq} as being read"),
                    None => String::new(),
                };
                found(
                    Severity::Warning,
                    "dead-consumer",
                    format!("{who} is dead but still holds its entry{holding}"),
                    format!(
                        "`datahub recover {channel}` frees it now (a producer it holds back frees it itself, \
                         and so does a consumer that finds the table full)"
                    ),
                );
            } else if c.stalled {
                found(
                    Severity::Warning,
                    "stalled-consumer",
                    format!(
                        "{who} is alive but has not read for {} ms (stall timeout {} ms): the producer no \
                         longer waits for it; it is {} item(s) behind and learns its loss on its next read",
                        c.heartbeat_age_ms, self.stall_timeout_ms, c.lag
                    ),
                    "find out why the process stopped reading (a debugger, a blocked thread); it resumes by \
                     itself when it reads again"
                        .into(),
                );
            } else if self.overflow == crate::config::Overflow::Block
                && self.capacity > 0
                && c.lag >= u64::from(self.capacity)
            {
                found(
                    Severity::Info,
                    "consumer-behind",
                    format!(
                        "{who} is a full ring ({} items) behind: the lossless producer waits for it (at most the \
                         stall timeout, {} ms, after its last read)",
                        c.lag, self.stall_timeout_ms
                    ),
                    "a consumer slower than the producer: read faster, or use a larger capacity to absorb bursts"
                        .into(),
                );
            }
        }
        for zone in &self.zones {
            if zone.lock_holder_alive == Some(false) {
                found(
                    Severity::Error,
                    "dead-lock-holder",
                    format!(
                        "the lock of zone `{}` is held by pid {}, which is dead; the zone may be half-written",
                        zone.name,
                        zone.lock_holder.unwrap_or(0)
                    ),
                    format!(
                        "`datahub recover {channel}` releases it (the next process to lock it is told the data \
                         may be half-written); the next locker also takes it over by itself"
                    ),
                );
            } else if zone.recovery_pending {
                found(
                    Severity::Info,
                    "lock-recovery-pending",
                    format!(
                        "the lock of zone `{}` was released for a dead holder; nobody has taken it since",
                        zone.name
                    ),
                    "the next process to lock it is told the data may be half-written and should check or \
                     rewrite it"
                        .into(),
                );
            }
        }
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        findings
    }
}
