//! `datahub list` and `datahub inspect` on live channels, and their
//! errors on missing and damaged segments.

use std::time::Duration;

use datahub::{Consumer, Producer};

use crate::{Frame, SECOND, config, datahub_json, datahub_ok, redact, redact_json, unique};

/// A channel with 5 items committed, a consumer that has read 2, and
/// both zones written.
fn busy_channel(name: &str) -> (Producer<Frame>, Consumer<Frame>) {
    let mut producer = Producer::<Frame>::create(&config(name)).unwrap();
    let consumer = Consumer::<Frame>::attach(name).unwrap();
    producer
        .locked_zone::<crate::Calib>("calibration")
        .unwrap()
        .write(SECOND, crate::Calib { gain: [2.0, 0.5] })
        .unwrap();
    for seq in 0..4 {
        producer.write_with(SECOND, |f| f.seq = seq).unwrap();
    }
    for _ in 0..2 {
        drop(consumer.next(SECOND).unwrap());
    }
    producer.write_with(SECOND, |f| f.seq = 4).unwrap();
    (producer, consumer)
}

#[test]
fn inspect_shows_config_layouts_counters_and_consumers() {
    let name = unique("inspect");
    let (_producer, _consumer) = busy_channel(&name);

    let mut json = datahub_json(&["inspect", &name], 0);
    assert_eq!(json["committed"], 5);
    assert_eq!(json["producer"]["alive"], true);
    assert_eq!(json["producer"]["pid"], std::process::id());
    assert_eq!(json["consumers"][0]["position"], 2);
    assert_eq!(json["consumers"][0]["lag"], 3);
    assert_eq!(json["consumers"][0]["items_read"], 2);
    assert_eq!(json["counters"]["items_committed"], 5);
    assert_eq!(json["counters"]["consumers_attached"], 1);
    assert!(
        json["uptime_ms"].as_u64().unwrap() < 60_000,
        "{}",
        json["uptime_ms"]
    );
    redact_json(&mut json, &name);
    insta::assert_json_snapshot!("inspect_json", json);

    let text = datahub_ok(&["inspect", &name, "--slots"], 0);
    insta::assert_snapshot!("inspect_text", redact(&text, &name, &[std::process::id()]));
}

#[test]
fn inspect_watch_refreshes_with_rates() {
    let name = unique("watch");
    let (_producer, _consumer) = busy_channel(&name);
    let text = datahub_ok(
        &[
            "inspect",
            &name,
            "--watch",
            "--count",
            "3",
            "--interval-ms",
            "50",
        ],
        0,
    );
    assert_eq!(text.matches("channel   ").count(), 3, "{text}");
    assert_eq!(text.matches("items/s").count(), 2 * 2, "{text}");

    let lines = datahub_ok(&["inspect", &name, "--watch", "--count", "2", "--json"], 0);
    let frames: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(frames.len(), 2);
    assert!(frames.iter().all(|f| f["channel"] == name.as_str()));
}

#[test]
fn list_shows_each_channel_with_its_producer_consumers_and_rate() {
    let name = unique("list");
    let (_producer, _consumer) = busy_channel(&name);
    let dead = unique("list-dead");
    crate::children::Holder::start("producer", &dead).kill();
    let free = unique("list-free");
    let mut free_producer = Producer::<Frame>::create(&config(&free)).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let free_writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                free_producer.write_with(SECOND, |f| f.seq = 1).unwrap();
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    let json = datahub_json(&["list", "--interval-ms", "300"], 0);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    free_writer.join().unwrap();
    let find = |channel: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|e| e["channel"] == channel)
            .unwrap_or_else(|| panic!("{channel} not listed: {json}"))
            .clone()
    };
    let busy = find(&name);
    assert_eq!(busy["producer_alive"], true);
    assert_eq!(busy["producer_pid"], std::process::id());
    assert_eq!(busy["consumers"], 1);
    assert_eq!(busy["consumers_alive"], 1);
    let dead_entry = find(&dead);
    assert_eq!(dead_entry["producer_alive"], false);
    assert_eq!(dead_entry["committed"], 3);
    assert_eq!(dead_entry["rate_per_s"], 0.0);
    let free = find(&free);
    assert!(
        free["rate_per_s"].as_f64().unwrap() > 0.0,
        "a producer writing during the interval has a rate: {free}"
    );

    let text = datahub_ok(&["list", "--interval-ms", "0"], 0);
    assert!(text.contains(&name) && text.contains("DEAD"), "{text}");
    datahub::cleanup(&[dead], false).unwrap();
}

#[test]
fn missing_and_damaged_segments_are_typed_errors_never_panics() {
    let out = crate::datahub(&["inspect", "cli-no-such-channel"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("error[DH203]: no channel `cli-no-such-channel`"),
        "{stderr}"
    );

    // A file that is not a segment, under a DataHub name.
    let name = unique("garbage");
    let path = crate::segment_path(&name);
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    for args in [
        vec!["inspect", name.as_str()],
        vec!["diagnose", name.as_str()],
        vec!["recover", name.as_str(), "--dry-run"],
    ] {
        let out = crate::datahub(&args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error[DH2"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let json = datahub_json(&["list", "--interval-ms", "0"], 0);
    let entry = json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["channel"] == name.as_str())
        .unwrap();
    assert!(
        entry["state"].as_str().unwrap().starts_with("unreadable"),
        "{entry}"
    );
    // `cleanup` will not guess about a file it cannot read.
    let verdicts = datahub_json(&["cleanup", &name], 1);
    assert_eq!(verdicts[0]["verdict"], "skipped");
    assert!(path.exists());
    std::fs::remove_file(&path).unwrap();
}
