//! Every finding `datahub diagnose` reports (runtime/src/diagnose.rs), each
//! made by a real situation (a process killed with SIGKILL, a consumer that
//! stops reading) or by poking the segment's words in
//! `/dev/shm/datahub.<channel>` (docs/layout.md): its code and severity in
//! `--json`, its lines in the text, and the exit status that follows from
//! the severities (1 when a warning or an error is found, 0 for info only).

use std::any::Any;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use datahub::{Consumer, Producer};

use crate::children::Holder;
use crate::{Frame, SECOND, config, datahub_json, datahub_ok, redact, segment_path, unique};

/// `init_state` (docs/layout.md, identity).
const INIT_STATE: u64 = 24;
/// `slot_states_offset` and `consumers_offset` (identity).
const SLOT_STATES_OFFSET: u64 = 352;
const CONSUMERS_OFFSET: u64 = 368;
/// The zone spin locks: live words at 2048, locks at +192, 64 bytes each.
const LOCKS: u64 = 2048 + 192;
/// The zone `config` locks, and its index in the zone table.
const CALIBRATION: u64 = 1;

/// Writes `bytes` at `at` in `channel`'s segment file: a process that has
/// it mapped sees them at once (a shared mapping of the same pages).
fn poke(channel: &str, at: u64, bytes: &[u8]) {
    let file = std::fs::File::options()
        .write(true)
        .open(segment_path(channel))
        .unwrap();
    file.write_all_at(bytes, at).unwrap();
}

/// The u64 at `at` in `channel`'s segment file.
fn peek_u64(channel: &str, at: u64) -> u64 {
    let file = std::fs::File::open(segment_path(channel)).unwrap();
    let mut word = [0u8; 8];
    file.read_exact_at(&mut word, at).unwrap();
    u64::from_le_bytes(word)
}

/// Sets slot `index`'s `state` word (and its `writer_pid`).
fn poke_slot(channel: &str, index: u64, state: u32, writer_pid: u32) {
    let at = peek_u64(channel, SLOT_STATES_OFFSET) + 64 * index;
    poke(channel, at, &state.to_le_bytes());
    poke(channel, at + 4, &writer_pid.to_le_bytes());
}

/// The pid of a process that ran and was reaped.
fn exited_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    child.id()
}

/// What a situation keeps alive while it is diagnosed, and the pids its
/// text names (redacted in the snapshot).
struct Situation {
    _keep: Box<dyn Any>,
    pids: Vec<u32>,
}

impl Situation {
    fn new(keep: impl Any, pids: &[u32]) -> Self {
        let mut all = vec![std::process::id()];
        all.extend_from_slice(pids);
        Self {
            _keep: Box::new(keep),
            pids: all,
        }
    }
}

/// A live producer (this process) with `items` committed.
fn producing(channel: &str, items: u32) -> Producer<Frame> {
    let mut producer = Producer::<Frame>::create(&config(channel)).unwrap();
    for seq in 0..items {
        producer.write_with(SECOND, |f| f.seq = seq).unwrap();
    }
    producer
}

fn healthy(channel: &str) -> Situation {
    Situation::new(producing(channel, 2), &[])
}

fn producer_killed(channel: &str) -> Situation {
    let producer = Holder::start("producer", channel);
    let pid = producer.pid();
    producer.kill();
    Situation::new((), &[pid])
}

fn producer_killed_mid_write(channel: &str) -> Situation {
    let writer = Holder::start("writing", channel);
    let pid = writer.pid();
    writer.kill();
    Situation::new((), &[pid])
}

/// A slot WRITING under a live producer, claimed by a pid that is not it.
fn slot_left_writing_by_another(channel: &str) -> Situation {
    let producer = producing(channel, 2);
    let dead = exited_pid();
    poke_slot(channel, 3, 1, dead);
    Situation::new(producer, &[dead])
}

fn two_slots_writing(channel: &str) -> Situation {
    let producer = producing(channel, 2);
    let dead = exited_pid();
    poke_slot(channel, 2, 1, dead);
    poke_slot(channel, 3, 1, dead);
    Situation::new(producer, &[dead])
}

fn slot_state_unknown(channel: &str) -> Situation {
    let producer = producing(channel, 2);
    poke_slot(channel, 3, 7, 0);
    Situation::new(producer, &[])
}

/// A free consumer entry whose state word becomes 9, naming this process.
fn consumer_state_unknown(channel: &str) -> Situation {
    let producer = producing(channel, 2);
    let entry = peek_u64(channel, CONSUMERS_OFFSET);
    poke(channel, entry, &9u32.to_le_bytes());
    poke(channel, entry + 4, &std::process::id().to_le_bytes());
    Situation::new(producer, &[])
}

fn consumer_killed(channel: &str) -> Situation {
    let producer = producing(channel, 2);
    let consumer = Holder::start("consumer", channel);
    let pid = consumer.pid();
    consumer.kill();
    Situation::new(producer, &[pid])
}

/// A live consumer (this process) that never reads, on a lossless channel
/// with a 300 ms stall timeout: the producer, blocked by it on the fifth
/// item, stops waiting for it.
fn consumer_stalled(channel: &str) -> Situation {
    let config = config(channel).stall_timeout(Duration::from_millis(300));
    let mut producer = Producer::<Frame>::create(&config).unwrap();
    let consumer = Consumer::<Frame>::attach(channel).unwrap();
    for seq in 0..5 {
        // Generous: the fifth waits out the stall timeout, on a busy machine.
        producer
            .write_with(Duration::from_secs(30), |f| f.seq = seq)
            .unwrap();
    }
    assert_eq!(
        datahub::inspect(channel).unwrap().counters["consumers_stalled"],
        1
    );
    Situation::new((producer, consumer), &[])
}

/// A live consumer (this process) that has read nothing of a full ring.
fn consumer_a_ring_behind(channel: &str) -> Situation {
    let mut producer = Producer::<Frame>::create(&config(channel)).unwrap();
    let consumer = Consumer::<Frame>::attach(channel).unwrap();
    for seq in 0..4 {
        producer.write_with(SECOND, |f| f.seq = seq).unwrap();
    }
    Situation::new((producer, consumer), &[])
}

/// A consumer killed holding the lock of zone `calibration`.
fn lock_holder_killed(channel: &str) -> Situation {
    let producer = producing(channel, 2);
    let locker = Holder::start("lock", channel);
    let pid = locker.pid();
    locker.kill();
    Situation::new(producer, &[pid])
}

/// The mark `datahub recover` leaves on a lock it released for the dead.
fn lock_released_for_the_dead(channel: &str) -> Situation {
    let producer = producing(channel, 2);
    poke(channel, LOCKS + 64 * CALIBRATION + 24, &1u64.to_le_bytes());
    Situation::new(producer, &[])
}

/// A segment left CLOSED under its name: its producer (or a `cleanup`)
/// died between marking it closed and removing the name. Its dead
/// producer is not reported as well: a closed channel has none to wait for.
fn closed_and_left(channel: &str) -> Situation {
    let producer = Holder::start("producer", channel);
    let pid = producer.pid();
    producer.kill();
    poke(channel, INIT_STATE, &3u32.to_le_bytes());
    Situation::new((), &[pid])
}

/// One situation and what `diagnose` must say of it: (severity, code) of
/// each finding, worst first.
struct Case {
    tag: &'static str,
    make: fn(&str) -> Situation,
    findings: &'static [(&'static str, &'static str)],
}

const CASES: &[Case] = &[
    Case {
        tag: "healthy",
        make: healthy,
        findings: &[],
    },
    Case {
        tag: "producer-dead",
        make: producer_killed,
        findings: &[("error", "producer-dead")],
    },
    Case {
        tag: "mid-write",
        make: producer_killed_mid_write,
        findings: &[("error", "producer-dead"), ("error", "stuck-slot")],
    },
    Case {
        tag: "stuck-slot",
        make: slot_left_writing_by_another,
        findings: &[("error", "stuck-slot")],
    },
    Case {
        tag: "two-writing",
        make: two_slots_writing,
        findings: &[
            ("error", "stuck-slot"),
            ("error", "stuck-slot"),
            ("error", "invalid-state"),
        ],
    },
    Case {
        tag: "slot-state",
        make: slot_state_unknown,
        findings: &[("error", "invalid-state")],
    },
    Case {
        tag: "consumer-state",
        make: consumer_state_unknown,
        findings: &[("error", "invalid-state")],
    },
    Case {
        tag: "dead-consumer",
        make: consumer_killed,
        findings: &[("warning", "dead-consumer")],
    },
    Case {
        tag: "stalled",
        make: consumer_stalled,
        findings: &[("warning", "stalled-consumer")],
    },
    Case {
        tag: "behind",
        make: consumer_a_ring_behind,
        findings: &[("info", "consumer-behind")],
    },
    Case {
        tag: "dead-lock-holder",
        make: lock_holder_killed,
        findings: &[("error", "dead-lock-holder"), ("warning", "dead-consumer")],
    },
    Case {
        tag: "recovery-pending",
        make: lock_released_for_the_dead,
        findings: &[("info", "lock-recovery-pending")],
    },
    Case {
        tag: "closed",
        make: closed_and_left,
        findings: &[("info", "closed")],
    },
];

/// Removes a segment file when dropped (after what the situation keeps,
/// declared later, is dropped), passed or failed.
struct RemoveSegment<'a>(&'a str);

impl Drop for RemoveSegment<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(segment_path(self.0));
    }
}

#[test]
fn every_finding_has_its_code_severity_text_and_exit_status() {
    let mut texts = String::new();
    for case in CASES {
        let channel = unique(&format!("finding-{}", case.tag));
        let _remove = RemoveSegment(&channel);
        let situation = (case.make)(&channel);
        let worst_is_a_problem = case
            .findings
            .iter()
            .any(|(severity, _)| *severity != "info");
        let status = i32::from(worst_is_a_problem);
        let context = format!("case `{}`", case.tag);

        let json = datahub_json(&["diagnose", &channel], status);
        let found: Vec<(&str, &str)> = json
            .as_array()
            .unwrap_or_else(|| panic!("{context}: {json}"))
            .iter()
            .map(|f| (f["severity"].as_str().unwrap(), f["code"].as_str().unwrap()))
            .collect();
        assert_eq!(found, case.findings, "{context}: {json}");
        for finding in json.as_array().unwrap() {
            for field in ["message", "fix"] {
                assert!(
                    finding[field].as_str().is_some_and(|s| !s.is_empty()),
                    "{context}: no {field} in {finding}"
                );
            }
        }

        let text = datahub_ok(&["diagnose", &channel], status);
        if case.findings.is_empty() {
            assert_eq!(
                text,
                format!("channel `{channel}` is healthy\n"),
                "{context}"
            );
        } else {
            // Each finding: `severity[code]: message`, then `  fix: ...`.
            let heads: Vec<&str> = text
                .lines()
                .step_by(2)
                .map(|l| l.split_once(": ").map_or(l, |(head, _)| head))
                .collect();
            let expected: Vec<String> = case
                .findings
                .iter()
                .map(|(severity, code)| format!("{severity}[{code}]"))
                .collect();
            assert_eq!(heads, expected, "{context}:\n{text}");
            assert!(
                text.lines()
                    .skip(1)
                    .step_by(2)
                    .all(|l| l.starts_with("  fix: ")),
                "{context}:\n{text}"
            );
        }
        texts.push_str(&format!("## {}\n", case.tag));
        texts.push_str(&redact(&text, &channel, &situation.pids));
        drop(situation);
    }
    insta::assert_snapshot!("diagnose_every_finding", texts);
}

/// `datahub cleanup` removes a segment left closed, as docs/operations.md
/// says, and `diagnose` then finds no channel.
#[test]
fn a_segment_left_closed_is_removed_by_cleanup() {
    let channel = unique("closed-left");
    let _remove = RemoveSegment(&channel);
    let _situation = closed_and_left(&channel);
    let verdicts = datahub_json(&["cleanup", &channel], 0);
    assert_eq!(verdicts[0]["verdict"], "removed", "{verdicts}");
    assert!(!segment_path(&channel).exists());
    let out = crate::datahub(&["diagnose", &channel]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error[DH2"),
        "{out:?}"
    );
}
