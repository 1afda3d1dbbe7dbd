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
    for args in [
        vec!["list", "--interval-ms", "50"],
        vec!["list", "--json"],
        vec!["inspect", &name, "--slots"],
        vec!["inspect", &name, "--json"],
        vec![
            "inspect",
            &name,
            "--watch",
            "--count",
            "2",
            "--interval-ms",
            "20",
        ],
        vec!["cleanup", &name, "--dry-run"],
        vec!["cleanup", "--dry-run", "--json"],
    ] {
        crate::datahub(&args);
    }
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
