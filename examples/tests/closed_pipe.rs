//! `sensor-producer | head -1` (issue 14, defect 14): the producer's output
//! reader goes away after one line. The program must notice at its next
//! line, close its channel on the way out (its segment removed), and exit
//! with status 0: no panic on the closed pipe, no channel left behind.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sensor_producer_piped_into_head_closes_its_channel_and_exits_quietly() {
    let segment = std::path::Path::new("/dev/shm/datahub.sensor");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sensor-producer"))
        .arg("60")
        .env_remove("DATAHUB_BROKER")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        first.starts_with("sensor-producer: channel `sensor`"),
        "{first}"
    );
    assert!(segment.exists(), "the channel is there while it runs");
    // The reader is gone (dropped above): the next line fails.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("sensor-producer went on writing into a closed pipe");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status}\n{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(
        !segment.exists(),
        "the channel was not closed on the way out"
    );
}
