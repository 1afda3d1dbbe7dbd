//! The benchmark never rots: `datahub-bench --smoke` runs every scenario
//! for a few items between real processes, and each must produce sane
//! numbers (every item received and checked, times above zero, every
//! target judged), a JSON file and a chart.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn bench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_datahub-bench"))
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("datahub-bench-smoke-{}-{name}", std::process::id()))
}

fn number(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is not a number in {v}"))
}

#[test]
fn every_scenario_runs_between_processes_and_reports_sane_numbers() {
    let (json, svg) = (scratch("results.json"), scratch("chart.svg"));
    let out = bench()
        .arg("--smoke")
        .arg("--json")
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    let results: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(results["failures"], Value::Array(vec![]), "{stderr}");

    // Latency: the floor, DataHub, iceoryx2, ZeroMQ twice, the Unix socket.
    let latency = results["latency"].as_array().unwrap();
    let systems: Vec<&str> = latency
        .iter()
        .map(|r| r["system"].as_str().unwrap())
        .collect();
    assert_eq!(
        systems,
        [
            "floor",
            "DataHub",
            "iceoryx2",
            "ZeroMQ",
            "ZeroMQ",
            "Unix socket"
        ]
    );
    for row in latency {
        assert_eq!(row["round_trips"], 50, "{row}");
        assert!(number(row, "median_ns") > 0.0, "{row}");
        assert!(number(row, "min_ns") > 0.0, "{row}");
        assert!(number(row, "p50_ns") <= number(row, "p99_ns"), "{row}");
        assert!(number(row, "p99_ns") <= number(row, "p999_ns"), "{row}");
        assert!(number(row, "ratio_to_floor") > 0.0, "{row}");
    }

    // Throughput: three systems at four sizes, the floor at the two large
    // ones; every item the producer sent was received and checked.
    let throughput = results["throughput"].as_array().unwrap();
    assert_eq!(throughput.len(), 3 * 4 + 2);
    for row in throughput {
        assert_eq!(row["items"], 20 + 16, "warm-up and one round: {row}");
        assert!(number(row, "median_msgs_per_s") > 0.0, "{row}");
        assert!(number(row, "median_gb_per_s") > 0.0, "{row}");
    }
    let floors = throughput.iter().filter(|r| r["system"] == "floor").count();
    assert_eq!(floors, 2);

    // Fan-out: four consumers, each with every item.
    let fanout = &results["fanout"];
    assert!(number(fanout, "producer_msgs_per_s") > 0.0);
    assert_eq!(
        fanout["consumer_items"],
        serde_json::json!([66, 66, 66, 66])
    );
    for rate in fanout["consumer_msgs_per_s"].as_array().unwrap() {
        assert!(rate.as_f64().unwrap() > 0.0, "{fanout}");
    }

    // Checksums at 4 KiB and 1 MiB, and BLAKE2b alone.
    let checksums = results["checksums"].as_array().unwrap();
    assert_eq!(checksums.len(), 2);
    for row in checksums {
        assert!(number(row, "enforced_msgs_per_s") > 0.0, "{row}");
        assert!(number(row, "none_msgs_per_s") > 0.0, "{row}");
        assert!(number(row, "blake2b_gb_per_s") > 0.0, "{row}");
        assert!(number(row, "blake2b_both_cores_ns") > 0.0, "{row}");
    }

    // Idle: the wait ran its course, using some but not all of a core.
    let idle = &results["idle"];
    assert!(number(idle, "wait_s") >= 0.2, "{idle}");
    assert!(number(idle, "cpu_percent_of_core") < 50.0, "{idle}");
    assert!(idle["outcome"].as_str().unwrap().contains("timed out"));

    // Before every case, how busy the machine was and how far apart its
    // CPUs were (a cache line's round trip) are on record.
    let loads = results["case_load"].as_array().unwrap();
    assert_eq!(loads.len(), 6 + 14 + 1 + 8 + 1, "one per case: {loads:?}");
    for load in loads {
        assert!(number(load, "probe_rtt_ns") > 0.0, "{load}");
        assert!(number(load, "busy_percent") >= 0.0, "{load}");
    }

    // Every target is judged, and the table says so.
    let targets = results["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 7);
    assert!(targets.iter().all(|t| t["met"].is_boolean()), "{targets:?}");
    assert!(stdout.contains("Targets"), "{stdout}");

    // The chart, at the end of the run and again from the JSON.
    let drawn = std::fs::read_to_string(&svg).unwrap();
    assert!(drawn.starts_with("<svg") && drawn.contains("DataHub"));
    let again = scratch("again.svg");
    let status = bench()
        .arg("chart")
        .arg(&json)
        .arg(&again)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&again).unwrap(), drawn);
    for file in [json, svg, again] {
        let _ = std::fs::remove_file(file);
    }
}

#[test]
fn bad_arguments_are_refused_with_an_error_not_a_panic() {
    for args in [
        &["--only", "nonsense"][..],
        &["--quick", "--smoke"],
        &["chart"],
    ] {
        let out = bench().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
    }
    let out = bench()
        .args(["chart", "/nonexistent.json", "/tmp/x.svg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading /nonexistent.json"));
}
