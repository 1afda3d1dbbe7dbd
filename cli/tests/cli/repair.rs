//! `datahub diagnose`, `recover` and `cleanup` on what killed processes
//! left behind; read-only commands proven read-only byte for byte.

use datahub::{Consumer, Producer};

use crate::children::Holder;
use crate::{Calib, Frame, SECOND, config, datahub_json, datahub_ok, redact, segment_path, unique};

fn codes(findings: &serde_json::Value) -> Vec<&str> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect()
}

#[test]
fn read_only_commands_change_nothing_and_recover_reclaims_what_the_dead_hold() {
    let name = unique("recover");
    let mut producer = Producer::<Frame>::create(&config(&name)).unwrap();
    for seq in 0..3 {
        producer.write_with(SECOND, |f| f.seq = seq).unwrap();
    }
    let reader = Holder::start("reader", &name);
    let locker = Holder::start("lock", &name);
    let live = Holder::start("consumer", &name);
    let (reader_pid, locker_pid) = (reader.pid(), locker.pid());
    reader.kill();
    locker.kill();
    let pids = [std::process::id(), reader_pid, locker_pid, live.pid()];

    let before = std::fs::read(segment_path(&name)).unwrap();
    let diagnosis = datahub_ok(&["diagnose", &name], 1);
    insta::assert_snapshot!("diagnose_dead_holders", redact(&diagnosis, &name, &pids));
    let findings = datahub_json(&["diagnose", &name], 1);
    // The lock holder was a consumer too: two dead consumer entries.
    assert_eq!(
        codes(&findings),
        ["dead-lock-holder", "dead-consumer", "dead-consumer"]
    );
    let dry = datahub_ok(&["recover", &name, "--dry-run"], 0);
    insta::assert_snapshot!("recover_dry_run", redact(&dry, &name, &pids));
    let dry = datahub_json(&["recover", &name, "--dry-run"], 0);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["actions"].as_array().unwrap().len(), 3, "{dry}");
    read_only_commands_report_the_channel(&name, live.pid());
    let after = std::fs::read(segment_path(&name)).unwrap();
    assert!(before == after, "a read-only command wrote to the segment");

    let done = datahub_json(&["recover", &name], 0);
    assert_eq!(
        done["actions"],
        serde_json::json!([
            {"action": "removed_consumer", "index": 0, "pid": reader_pid},
            {"action": "removed_consumer", "index": 1, "pid": locker_pid},
            {"action": "released_lock", "zone": "calibration", "pid": locker_pid},
        ])
    );
    assert_eq!(codes(&done["remaining"]), ["lock-recovery-pending"]);
    assert_ne!(std::fs::read(segment_path(&name)).unwrap(), after);
    // Only info is left: diagnose exits 0. The dead reader's mark is gone,
    // so the producer can reuse every slot.
    assert_eq!(
        codes(&datahub_json(&["diagnose", &name], 0)),
        ["lock-recovery-pending"]
    );
    let again = datahub_json(&["recover", &name], 0);
    assert_eq!(again["actions"], serde_json::json!([]));

    // The next holder of the lock is told, and sees the dead holder's write.
    let zone = producer.locked_zone::<Calib>("calibration").unwrap();
    let guard = zone.lock(SECOND).unwrap();
    assert!(guard.recovered());
    assert_eq!(guard.gain[0], 1.5);
    drop(guard);
    assert!(!zone.lock(SECOND).unwrap().recovered());
    let inspect = datahub_json(&["inspect", &name], 0);
    assert_eq!(inspect["consumers"].as_array().unwrap().len(), 1);
    assert_eq!(inspect["consumers"][0]["pid"], live.pid());
    assert_eq!(inspect["counters"]["consumers_evicted"], 2);
    assert_eq!(
        datahub_ok(&["diagnose", &name], 0),
        format!("channel `{name}` is healthy\n")
    );
}

#[test]
fn recover_in_text_mode_says_what_it_reclaimed_and_what_is_left() {
    let name = unique("recover-text");
    let mut producer = Producer::<Frame>::create(&config(&name)).unwrap();
    for seq in 0..3 {
        producer.write_with(SECOND, |f| f.seq = seq).unwrap();
    }
    let reader = Holder::start("reader", &name);
    let locker = Holder::start("lock", &name);
    let (reader_pid, locker_pid) = (reader.pid(), locker.pid());
    reader.kill();
    locker.kill();
    let pids = [std::process::id(), reader_pid, locker_pid];

    let text = datahub_ok(&["recover", &name], 0);
    insta::assert_snapshot!("recover_text", redact(&text, &name, &pids));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..5],
        [
            format!("removed consumer 0 (pid {reader_pid}, dead)").as_str(),
            &format!("removed consumer 1 (pid {locker_pid}, dead)"),
            &format!(
                "released the lock of zone `calibration` (held by pid {locker_pid}, dead); its next \
                 holder is told the zone may be half-written"
            ),
            "",
            "still wrong:",
        ],
        "{text}"
    );
    assert!(
        lines[5].starts_with("info[lock-recovery-pending]: "),
        "{text}"
    );
    // Done, not a dry run: the entries are free, the lock released.
    let snapshot = datahub_json(&["inspect", &name], 0);
    assert_eq!(snapshot["consumers"], serde_json::json!([]), "{snapshot}");
    assert_eq!(snapshot["zones"][1]["lock_holder"], serde_json::Value::Null);

    let again = datahub_ok(&["recover", &name], 0);
    assert!(
        again.starts_with(&format!(
            "nothing held by a dead process in channel `{name}`\n\nstill wrong:\ninfo[lock-recovery-pending]"
        )),
        "{again}"
    );
    drop(
        producer
            .locked_zone::<Calib>("calibration")
            .unwrap()
            .lock(SECOND)
            .unwrap(),
    );
    assert_eq!(
        datahub_ok(&["recover", &name], 0),
        format!("nothing held by a dead process in channel `{name}`\n")
    );
}

/// The read-only commands run on the channel of
/// `read_only_commands_change_nothing_and_recover_reclaims_what_the_dead_hold`
/// (3 items, a live producer: this process, consumers: a dead reader, a
/// dead lock holder, `live`): each succeeds and says what is there.
fn read_only_commands_report_the_channel(name: &str, live: u32) {
    let me = std::process::id();
    // Each line's words, one space apart (tables pad their columns), a
    // table's border lines shortened to their first character.
    let words = |text: &str| -> String {
        let word = |w: &str| -> String {
            if w.chars().all(|c| "─═┌┐└┘╞╡".contains(c)) {
                w.chars().take(1).collect()
            } else {
                w.to_owned()
            }
        };
        let line = |l: &str| l.split_whitespace().map(word).collect::<Vec<_>>().join(" ");
        text.lines().map(line).collect::<Vec<_>>().join("\n")
    };

    let text = words(&datahub_ok(&["list", "--interval-ms", "50"], 0));
    // channel, state, producer, consumers, committed, items/s.
    let row = format!("│ {name} ready pid {me} alive 3 (2 dead) 3 0 │");
    assert!(text.lines().any(|l| l == row), "no `{row}` in:\n{text}");

    let listed = datahub_json(&["list"], 0);
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["channel"] == name)
        .unwrap_or_else(|| panic!("`{name}` not listed: {listed}"));
    assert_eq!(entry["state"], "ready", "{entry}");
    assert_eq!(entry["producer_pid"], me, "{entry}");
    assert_eq!(entry["producer_alive"], true, "{entry}");
    assert_eq!(
        (&entry["consumers"], &entry["consumers_alive"]),
        (&serde_json::json!(3), &serde_json::json!(1)),
        "{entry}"
    );
    assert_eq!(entry["committed"], 3, "{entry}");
    assert_eq!(entry["rate_per_s"], 0.0, "{entry}");
    assert_eq!(entry["error"], serde_json::Value::Null, "{entry}");

    let text = words(&datahub_ok(&["inspect", name, "--slots"], 0));
    assert!(
        text.starts_with(&format!("channel {name} (ready)\n")),
        "{text}"
    );
    assert!(text.contains("\nconsumers (3 of 8 entries)\n"), "{text}");
    let slots = format!(
        "\nslots\n┌\n│ slot state item bytes writer pid │\n╞\n│ 0 committed 0 32 {me} │\n\
         │ 1 committed 1 32 {me} │\n│ 2 committed 2 32 {me} │\n│ 3 free 0 0 0 │\n└\n"
    );
    assert!(text.contains(&slots), "no\n{slots}in:\n{text}");
    assert!(
        text.contains(&format!(
            "diagnosis: 3 finding(s), see `datahub diagnose {name}`"
        )),
        "{text}"
    );

    let snapshot = datahub_json(&["inspect", name], 0);
    assert_eq!(snapshot["channel"], name);
    assert_eq!(snapshot["state"], "ready");
    assert_eq!(snapshot["committed"], 3);
    assert_eq!(snapshot["producer"]["pid"], me);
    let consumers = snapshot["consumers"].as_array().unwrap();
    let alive: Vec<_> = consumers.iter().map(|c| c["alive"].clone()).collect();
    assert_eq!(alive, [false, false, true], "{snapshot}");
    assert_eq!(consumers[2]["pid"], live);
    assert_eq!(
        snapshot["zones"][1]["lock_holder_alive"], false,
        "{snapshot}"
    );

    let watched = words(&datahub_ok(
        &[
            "inspect",
            name,
            "--watch",
            "--count",
            "2",
            "--interval-ms",
            "20",
        ],
        0,
    ));
    assert_eq!(
        watched.matches(&format!("channel {name} (ready)")).count(),
        2,
        "{watched}"
    );

    let text = datahub_ok(&["cleanup", name, "--dry-run"], 0);
    assert_eq!(
        words(&text),
        format!("kept {name}: its producer, pid {me}, is alive"),
    );

    // Every channel on the machine, other tests' included: exit 1 exactly
    // when one of them is skipped.
    let out = crate::datahub(&["cleanup", "--dry-run", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let verdicts: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let verdicts = verdicts.as_array().unwrap();
    let ours = verdicts
        .iter()
        .find(|v| v["channel"] == name)
        .unwrap_or_else(|| panic!("`{name}` not judged: {stdout}"));
    assert_eq!(ours["verdict"], "kept", "{ours}");
    assert_eq!(
        ours["reason"],
        format!("its producer, pid {me}, is alive"),
        "{ours}"
    );
    assert!(
        verdicts.iter().all(|v| v["verdict"] != "removed"),
        "a dry run removed: {stdout}"
    );
    let skipped = verdicts.iter().any(|v| v["verdict"] == "skipped");
    assert_eq!(out.status.code(), Some(i32::from(skipped)), "{stdout}");
}

#[test]
fn dead_producers_are_diagnosed_and_cleanup_removes_only_abandoned_segments() {
    // A: its producer died mid-write. B: a live producer. C: its producer
    // died, but a live consumer is still attached.
    let (a, b, c) = (
        unique("cleanup-a"),
        unique("cleanup-b"),
        unique("cleanup-c"),
    );
    let writer = Holder::start("writing", &a);
    let a_pid = writer.pid();
    writer.kill();
    let _b_producer = Producer::<Frame>::create(&config(&b)).unwrap();
    Holder::start("producer", &c).kill();
    let _c_consumer = Consumer::<Frame>::attach(&c).unwrap();

    let diagnosis = datahub_ok(&["diagnose", &a], 1);
    insta::assert_snapshot!("diagnose_dead_producer", redact(&diagnosis, &a, &[a_pid]));
    assert_eq!(
        codes(&datahub_json(&["diagnose", &a], 1)),
        ["producer-dead", "stuck-slot"]
    );

    let verdicts = |json: &serde_json::Value| -> Vec<(String, String)> {
        json.as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["channel"].as_str().unwrap().to_owned(),
                    v["verdict"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let expect = |a_verdict: &str| {
        vec![
            (a.clone(), a_verdict.to_owned()),
            (b.clone(), "kept".to_owned()),
            (c.clone(), "kept".to_owned()),
        ]
    };
    let dry = datahub_json(&["cleanup", &a, &b, &c, "--dry-run"], 0);
    assert_eq!(verdicts(&dry), expect("would_remove"));
    assert!(segment_path(&a).exists());
    let text = datahub_ok(&["cleanup", &a, &b, &c], 0);
    let pids = [a_pid, std::process::id()];
    let text = redact(&text, &a, &pids);
    let text = redact(&text, &b, &pids);
    let text = redact(&text, &c, &pids);
    insta::assert_snapshot!("cleanup", text);
    assert!(!segment_path(&a).exists());
    assert!(segment_path(&b).exists() && segment_path(&c).exists());
    let again = datahub_json(&["cleanup", &b, &c], 0);
    assert_eq!(verdicts(&again), expect("removed")[1..]);

    // The name is free again.
    let mut fresh = Producer::<Frame>::create(&config(&a)).unwrap();
    assert_eq!(fresh.write_with(SECOND, |f| f.seq = 0).unwrap(), 0);
    drop(_c_consumer);
    let removed = datahub_json(&["cleanup", &c], 0);
    assert_eq!(removed[0]["verdict"], "removed");
}

/// Writes a segment file as a creator of an older build that died before
/// READY leaves it (this build names a segment only once it is ready):
/// `len` bytes, the magic and layout version, `init_state` INITIALIZING,
/// and `owner` (0: none yet) in the producer's owner word (docs/layout.md:
/// header offset 2048 + 128 + 32), modified `age` ago. A `len` below 4096
/// writes that many zero bytes (no magic).
fn unready_segment(channel: &str, len: usize, owner: u64, age: std::time::Duration) {
    let mut bytes = vec![0u8; len];
    if len >= 4096 {
        bytes[..8].copy_from_slice(b"DATAHUB\0");
        bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
        bytes[24..28].copy_from_slice(&1u32.to_le_bytes());
        bytes[2208..2216].copy_from_slice(&owner.to_le_bytes());
    }
    let path = segment_path(channel);
    std::fs::write(&path, bytes).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(std::time::SystemTime::now() - age)
        .unwrap();
}

/// The owner word of a process (`start_time << 22 | pid`).
fn owner_word(pid: u32, start_time: u64) -> u64 {
    start_time << 22 | u64::from(pid)
}

#[test]
fn segments_abandoned_while_being_created_are_replaced_or_removed_and_others_are_not() {
    use std::time::Duration;
    let exited = {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        child.id()
    };
    let me = std::process::id();
    let my_start: u64 = std::fs::read_to_string(format!("/proc/{me}/stat"))
        .unwrap()
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    // Named dead creator; nameless and old; nameless and new; live creator;
    // an empty file (no creator to judge: never a leftover).
    let (dead, old, new, live, empty) = (
        unique("unready-dead"),
        unique("unready-old"),
        unique("unready-new"),
        unique("unready-live"),
        unique("unready-empty"),
    );
    unready_segment(&dead, 8192, owner_word(exited, 1), Duration::ZERO);
    unready_segment(&old, 8192, 0, Duration::from_secs(60));
    unready_segment(&new, 8192, 0, Duration::ZERO);
    unready_segment(
        &live,
        8192,
        owner_word(me, my_start),
        Duration::from_secs(60),
    );
    unready_segment(&empty, 0, 0, Duration::from_secs(60));

    let out = crate::datahub(&["inspect", &dead]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error[DH205]"));
    let verdicts = datahub_json(
        &["cleanup", &dead, &old, &new, &live, &empty, "--dry-run"],
        1,
    );
    let verdict = |i: usize| verdicts[i]["verdict"].as_str().unwrap().to_owned();
    assert_eq!(
        (verdict(0), verdict(1), verdict(2), verdict(3), verdict(4)),
        (
            "would_remove".into(),
            "would_remove".into(),
            "skipped".into(),
            "skipped".into(),
            "skipped".into()
        ),
        "{verdicts}"
    );
    assert!(
        verdicts[4]["reason"]
            .as_str()
            .unwrap()
            .contains("0 bytes, too short for a DataHub segment"),
        "{verdicts}"
    );
    // A producer replaces what a dead creator abandoned, and refuses what a
    // live one is creating or what may be new (being created), and what is
    // not a segment.
    let mut replaced = Producer::<Frame>::create(&config(&dead)).unwrap();
    assert_eq!(replaced.write_with(SECOND, |f| f.seq = 7).unwrap(), 0);
    let err = Producer::<Frame>::create(&config(&live)).err().unwrap();
    assert_eq!(err.code(), "DH202", "{err}");
    let err = Producer::<Frame>::create(&config(&new)).err().unwrap();
    assert_eq!(err.code(), "DH202", "{err}");
    let err = Producer::<Frame>::create(&config(&empty)).err().unwrap();
    assert_eq!(err.code(), "DH223", "{err}");
    assert!(err.to_string().contains("a file of 0 bytes"), "{err}");

    let verdicts = datahub_json(&["cleanup", &old, &new, &live, &empty], 1);
    assert_eq!(verdicts[0]["verdict"], "removed", "{verdicts}");
    assert!(!segment_path(&old).exists());
    for kept in [&new, &live, &empty] {
        assert!(segment_path(kept).exists(), "{kept}: {verdicts}");
    }
    std::fs::remove_file(segment_path(&new)).unwrap();
    std::fs::remove_file(segment_path(&empty)).unwrap();
    std::fs::remove_file(segment_path(&live)).unwrap();
}
