//! Issue 14: every `datahub` command on names in `/dev/shm` that are not
//! DataHub segments (a FIFO, a directory, a symbolic link, a socket, text,
//! zeros, absurd sizes, another user's file) and on a segment truncated
//! while the command runs: each finishes within its timeout with a typed
//! error (or reports the channel unreadable), never hangs or crashes, and
//! writes to or removes nothing it did not prove to be its own user's
//! DataHub segment. And a reader that goes away ends a command quietly.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use datahub::Producer;

use crate::{Frame, SECOND, config, datahub_json, segment_path, unique};

/// How long any command may take on any file: far more than it needs.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `datahub ARGS` (under `ulimit -v` of 2 GiB, so an allocation the
/// size of a hostile header field fails the command instead of the
/// machine) and checks it ended by itself within [`COMMAND_TIMEOUT`],
/// with a status of 0, 1 or 3, no signal and no panic. Returns status,
/// stdout and stderr.
fn run_bounded(args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2097152 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_datahub"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let drain = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let mut stdout = String::new();
    let reader = std::thread::spawn(move || {
        let _ = out.read_to_string(&mut stdout);
        stdout
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > COMMAND_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("datahub {args:?} hung: killed after {COMMAND_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (stdout, stderr) = (reader.join().unwrap(), drain.join().unwrap());
    let context =
        format!("datahub {args:?}: {status}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}");
    assert_eq!(status.signal(), None, "killed by a signal: {context}");
    assert!(!stderr.contains("panicked"), "{context}");
    let code = status.code().unwrap();
    assert!([0, 1, 3].contains(&code), "{context}");
    (code, stdout, stderr)
}

/// What a name in /dev/shm is, to compare before and after.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Gone,
    File { ino: u64, bytes: Vec<u8> },
    Other { ino: u64, kind: String },
}

fn seen(channel: &str) -> Seen {
    let path = segment_path(channel);
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return Seen::Gone;
    };
    let kind = meta.file_type();
    if kind.is_file() {
        // A sparse file of absurd size: its first and last pages stand for it.
        let bytes = if meta.len() > 1 << 20 {
            let mut head = vec![0; 8192];
            std::fs::File::open(&path)
                .unwrap()
                .read_exact(&mut head)
                .unwrap();
            head
        } else {
            std::fs::read(&path).unwrap()
        };
        Seen::File {
            ino: meta.ino(),
            bytes,
        }
    } else {
        let kind = if kind.is_fifo() {
            "fifo"
        } else if kind.is_dir() {
            "dir"
        } else if kind.is_symlink() {
            "symlink"
        } else if kind.is_socket() {
            "socket"
        } else {
            "other"
        };
        Seen::Other {
            ino: meta.ino(),
            kind: kind.into(),
        }
    }
}

/// The bytes of a valid segment, closed by its producer, named `channel`:
/// made by a real producer under another name, then renamed in the header.
fn segment_bytes(channel: &str) -> Vec<u8> {
    // A scratch name of its own: tests run side by side.
    static SCRATCH: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SCRATCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let scratch = unique(&format!("image-{n}"));
    let mut producer = Producer::<Frame>::create(&config(&scratch)).unwrap();
    producer.write_with(SECOND, |f| f.seq = 1).unwrap();
    let mut bytes = std::fs::read(segment_path(&scratch)).unwrap();
    drop(producer);
    let name = &mut bytes[72..136];
    name.fill(0);
    name[..channel.len()].copy_from_slice(channel.as_bytes());
    bytes
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// The uid of a second user (`dhtest2`, created when missing), or why not.
fn second_uid() -> Result<u32, String> {
    let uid = || -> Option<u32> {
        let out = Command::new("id").args(["-u", "dhtest2"]).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    if uid().is_none() {
        let status = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "dhtest2",
            ])
            .status()
            .map_err(|e| format!("cannot run useradd: {e}"))?;
        if !status.success() {
            return Err(format!("useradd failed ({status}): not root?"));
        }
    }
    uid().ok_or_else(|| "no user dhtest2".into())
}

/// Names under /dev/shm (and link targets under /tmp) that a test made:
/// removed when it ends, passed or failed.
struct Made(Vec<String>);

impl Drop for Made {
    fn drop(&mut self) {
        for channel in &self.0 {
            let path = segment_path(channel);
            let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir(&path));
            let _ = std::fs::remove_file(std::env::temp_dir().join(format!("{channel}.target")));
        }
    }
}

/// Every kind of file the probe put under a `datahub.` name, made here,
/// named after `test` (tests run side by side). Returns (channel, what it
/// is).
fn hostile_files(test: &str) -> Vec<(String, &'static str)> {
    let mut files = Vec::new();
    let mut add = |tag: &str, what: &'static str, make: &dyn Fn(&str)| {
        let channel = unique(&format!("{test}-{tag}"));
        let _ = std::fs::remove_file(segment_path(&channel));
        let _ = std::fs::remove_dir(segment_path(&channel));
        make(&channel);
        files.push((channel, what));
    };
    add("fifo", "a FIFO", &|c| {
        assert!(
            Command::new("mkfifo")
                .arg(segment_path(c))
                .status()
                .unwrap()
                .success()
        );
    });
    add("dir", "a directory", &|c| {
        std::fs::create_dir(segment_path(c)).unwrap()
    });
    add("symlink", "a symbolic link", &|c| {
        let target = std::env::temp_dir().join(format!("{c}.target"));
        std::fs::write(&target, segment_bytes(c)).unwrap();
        std::os::unix::fs::symlink(&target, segment_path(c)).unwrap();
    });
    add("socket", "a socket", &|c| {
        // The listener's socket file stays when the listener is dropped.
        drop(std::os::unix::net::UnixListener::bind(segment_path(c)).unwrap());
    });
    add("text", "24 bytes of text", &|c| {
        std::fs::write(segment_path(c), b"not a segment, a note.\n\n").unwrap();
    });
    add("zeros", "10,000 zero bytes", &|c| {
        std::fs::write(segment_path(c), vec![0u8; 10_000]).unwrap();
    });
    add("closed-no-magic", "no magic, word 24 = 3", &|c| {
        let mut bytes = vec![0u8; 8192];
        bytes[24..28].copy_from_slice(&3u32.to_le_bytes());
        std::fs::write(segment_path(c), bytes).unwrap();
    });
    add("schema-len", "schema_len of 900 GiB", &|c| {
        let mut bytes = segment_bytes(c);
        let huge = 900u64 << 30;
        put_u64(&mut bytes, 344, huge);
        // total_size and the file's size as the plan would make them.
        let total = (huge + (1 << 20)) & !4095;
        put_u64(&mut bytes, 16, total);
        std::fs::write(segment_path(c), &bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(segment_path(c))
            .unwrap()
            .set_len(total)
            .unwrap();
    });
    add("zone-size", "a zone of 512 GiB", &|c| {
        let mut bytes = segment_bytes(c);
        // The first zone's size (zone table at 400, size at +40).
        put_u64(&mut bytes, 440, 512 << 30);
        std::fs::write(segment_path(c), &bytes).unwrap();
    });
    if let Ok(uid) = second_uid() {
        add("other-user", "another user's closed segment", &|c| {
            let mut bytes = segment_bytes(c);
            bytes[24..28].copy_from_slice(&3u32.to_le_bytes());
            std::fs::write(segment_path(c), bytes).unwrap();
            std::os::unix::fs::chown(segment_path(c), Some(uid), Some(uid)).unwrap();
        });
    } else {
        eprintln!("no second user: the other user's file is not tried");
    }
    files
}

#[test]
fn every_command_on_a_file_that_is_not_a_segment_ends_with_a_typed_error_and_touches_nothing() {
    let files = hostile_files("every");
    let _made = Made(files.iter().map(|(c, _)| c.clone()).collect());
    let commands: [&[&str]; 8] = [
        &["inspect"],
        &["inspect", "--json"],
        &["diagnose"],
        &["diagnose", "--json"],
        &["recover", "--dry-run"],
        &["recover"],
        &["cleanup", "--dry-run"],
        &["cleanup"],
    ];
    for (channel, what) in &files {
        let before = seen(channel);
        for command in commands {
            let mut args = command.to_vec();
            args.insert(1, channel);
            let (code, stdout, stderr) = run_bounded(&args);
            let context = format!("{what}: datahub {args:?} -> {code}\n{stdout}\n{stderr}");
            match args[0] {
                // A verdict per channel: skipped (exit 1), never removed.
                "cleanup" => {
                    assert_eq!(code, 1, "{context}");
                    assert!(stdout.contains("skipped"), "{context}");
                }
                // A closed segment, another user's or not, is a finding.
                "diagnose" if channel.contains("-other-user-") => {
                    assert_eq!(code, 0, "{context}");
                    assert!(stdout.contains("closed"), "{context}");
                }
                _ => {
                    assert_eq!(code, 3, "{context}");
                    assert!(stderr.starts_with("error[DH2"), "{context}");
                }
            }
            assert_eq!(seen(channel), before, "{context}: the file changed");
        }
    }
    // `list` lists each as unreadable, with the others, quickly.
    let (code, stdout, _) = run_bounded(&["list", "--json", "--interval-ms", "0"]);
    assert_eq!(code, 0);
    let listed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for (channel, what) in &files {
        let entry = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["channel"] == channel.as_str())
            .unwrap_or_else(|| panic!("{what} not listed: {listed}"));
        assert!(entry["error"].is_string(), "{what}: {entry}");
    }
}

#[test]
fn cleanup_removes_only_abandoned_segments_of_its_own_user() {
    let exited = {
        let mut child = Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        child.id()
    };
    // An abandoned own segment (the magic, being created, its creator
    // dead): removed.
    let abandoned = unique("own-abandoned");
    let mut made = Made(vec![abandoned.clone()]);
    let mut bytes = segment_bytes(&abandoned);
    bytes[24..28].copy_from_slice(&1u32.to_le_bytes());
    put_u64(&mut bytes, 2208, u64::from(exited) | 1 << 22);
    std::fs::write(segment_path(&abandoned), &bytes).unwrap();
    let mut keep = vec![];
    for (channel, what) in hostile_files("cleanup") {
        made.0.push(channel.clone());
        if matches!(
            what,
            "a FIFO" | "a directory" | "a socket" | "a symbolic link"
        ) {
            let path = segment_path(&channel);
            let _ = std::fs::remove_file(&path).or_else(|_| std::fs::remove_dir(&path));
            continue;
        }
        keep.push(channel);
    }
    let mut args: Vec<&str> = vec!["cleanup"];
    args.extend(keep.iter().map(String::as_str));
    args.push(&abandoned);
    let verdicts = datahub_json(&args, 1);
    let verdicts = verdicts.as_array().unwrap();
    assert_eq!(
        verdicts.last().unwrap()["verdict"],
        "removed",
        "{verdicts:?}"
    );
    assert!(!segment_path(&abandoned).exists());
    for (channel, verdict) in keep.iter().zip(verdicts) {
        assert_eq!(verdict["verdict"], "skipped", "{channel}: {verdict}");
        assert!(segment_path(channel).exists(), "{channel} removed");
    }
}

#[test]
fn a_segment_truncated_while_commands_run_never_crashes_them() {
    let channel = unique("truncated");
    let _made = Made(vec![channel.clone()]);
    let bytes = segment_bytes(&channel);
    std::fs::write(segment_path(&channel), &bytes).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut codes = std::collections::BTreeMap::<(String, i32, bool), u32>::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::options()
                .write(true)
                .open(segment_path(&channel))
                .unwrap();
            let lens = [0, 4096, bytes.len() as u64 / 2, bytes.len() as u64];
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = file.set_len(lens[i % lens.len()]);
                if i % lens.len() == lens.len() - 1 {
                    use std::os::unix::fs::FileExt;
                    let _ = file.write_all_at(&bytes, 0);
                }
                i += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        // Stops the truncating thread however this one ends (a failed
        // check unwinds through here).
        struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let _stop = StopOnDrop(&stop);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            for args in [
                vec!["inspect", &channel],
                vec!["diagnose", &channel],
                vec!["recover", &channel],
                vec!["recover", &channel, "--dry-run"],
                vec!["list", "--interval-ms", "0"],
            ] {
                let (code, _, stderr) = run_bounded(&args);
                // Whether the command's mapping lost its pages under it
                // (SIGBUS, turned into an error by the command).
                let truncated = stderr.contains("shrank while this command had it mapped");
                *codes
                    .entry((args[0].to_owned(), code, truncated))
                    .or_default() += 1;
            }
        }
    });
    eprintln!("outcomes while truncating (command, status, SIGBUS caught): {codes:?}");
}

/// Defect 14: `datahub inspect --watch | head -2` ended with a panic on the
/// closed pipe; it ends quietly, with status 0.
#[test]
fn a_command_whose_reader_goes_away_ends_quietly() {
    let name = unique("pipe");
    let _producer = Producer::<Frame>::create(&config(&name)).unwrap();
    for args in [
        vec!["inspect", &name, "--watch", "--interval-ms", "10"],
        vec!["inspect", &name, "--watch", "--json", "--interval-ms", "10"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_datahub"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read a little, as `head -2` would, then go away.
        let mut stdout = child.stdout.take().unwrap();
        let mut some = [0u8; 64];
        stdout.read_exact(&mut some).unwrap();
        drop(stdout);
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(started.elapsed() < COMMAND_TIMEOUT, "{args:?} went on");
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {status}\n{stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}
