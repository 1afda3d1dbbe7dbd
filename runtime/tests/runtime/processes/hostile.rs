//! Issue 14: promises kept under hostile input and faults, with real
//! processes. Files under a channel's name that are not the producer's
//! own (another user's, a symbolic link, a FIFO) are refused and left
//! untouched; a full `/dev/shm` is an error, not a SIGBUS; consumers map
//! the slots read-only; a replayed copy of a secret channel is refused; a
//! segment is never seen half made; every wait notices a dead producer
//! within 100 ms.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use datahub::{
    AttachOptions, Bytes, ChannelConfig, ChecksumPolicy, Consumer, ErrorKind, Producer, Secret,
};
use serde_json::{Value, json};

use super::spawn::{ChildProcess, Launch, SecondUser, can_unshare_mounts};
use super::{Record, START, STUCK};
use crate::channel::Name;

const KEY: [u8; 32] = [0x5A; 32];

fn shm_path(name: &Name) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/dev/shm/datahub.{}", name.0))
}

/// Waits for `marker` to exist while `child` runs.
pub(super) fn wait_for(marker: &std::path::Path, child: &mut ChildProcess) {
    let deadline = Instant::now() + START;
    while !marker.exists() {
        child.assert_running();
        assert!(
            Instant::now() < deadline,
            "the child never wrote {marker:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A marker file path for `name` and `tag`, removed first.
pub(super) fn marker(name: &Name, tag: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("{}.{tag}", name.0));
    let _ = std::fs::remove_file(&path);
    path
}

/// Child: creates the channel with file mode `mode` (octal), commits 3
/// items, tells the parent through `marker`, and waits to be killed.
pub(super) fn produce_with_mode(channel: &str, mode: &str, marker: &str) -> Value {
    let mode = u32::from_str_radix(mode, 8).unwrap();
    let mut producer = Producer::<Record>::create(&ChannelConfig::new(channel).mode(mode)).unwrap();
    for seq in 0..3 {
        producer.write_with(STUCK, |r| r.fill(seq)).unwrap();
    }
    std::fs::write(marker, b"ready to die").unwrap();
    std::thread::sleep(STUCK);
    panic!("not killed within {STUCK:?}");
}

/// Defect 2: another user's dead segment, left with mode 0666, is neither
/// taken over nor removed by this user's producer (root's here, which the
/// file mode would not stop): the producer is refused with an error that
/// says whose file it is, and not a byte of the file changes.
#[test]
fn a_producer_refuses_another_users_dead_segment_and_leaves_it_untouched() {
    let user = match SecondUser::get() {
        Ok(user) => user,
        Err(why) => {
            eprintln!("skipped: no second user ({why})");
            return;
        }
    };
    let name = Name::new("foreign");
    let ready = marker(&name, "foreign");
    let ready_path = ready.to_str().unwrap();
    let mut child = ChildProcess::launch(
        Launch::As(&user),
        &["produce-mode", &name.0, "666", ready_path],
    );
    wait_for(&ready, &mut child);
    let killed = child.kill();
    assert_eq!(killed.status.signal(), Some(9), "{killed}");
    let _ = std::fs::remove_file(&ready);
    let before = std::fs::read(shm_path(&name)).unwrap();

    let err = Producer::<Record>::create(&ChannelConfig::new(&name.0))
        .expect_err("another user's segment was taken over");
    assert_eq!(err.code(), "DH223", "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("user {} (uid {})", user.name, user.uid)) && text.contains("0666"),
        "the error says whose file it is: {text}"
    );
    assert!(
        std::fs::read(shm_path(&name)).unwrap() == before,
        "the file was written"
    );
    // Its own user's consumers may still read it (its mode allows).
    std::fs::remove_file(shm_path(&name)).unwrap();
}

/// Defect 2: a symbolic link under the channel's name, to a file
/// elsewhere, is not followed by a producer or a consumer: both are
/// refused, and the file it leads to is not written.
#[test]
fn producers_and_consumers_refuse_a_symbolic_link_and_never_write_through_it() {
    let name = Name::new("symlink");
    let target = std::env::temp_dir().join(format!("{}.target", name.0));
    // The link leads to a real segment's bytes, as the probe's did.
    let source = Name::new("symlink-source");
    {
        let mut p = Producer::<Record>::create(&ChannelConfig::new(&source.0)).unwrap();
        p.write_with(STUCK, |r| r.fill(0)).unwrap();
        std::fs::copy(shm_path(&source), &target).unwrap();
    }
    std::os::unix::fs::symlink(&target, shm_path(&name)).unwrap();
    let before = std::fs::read(&target).unwrap();

    let err = Producer::<Record>::create(&ChannelConfig::new(&name.0))
        .expect_err("the producer followed the link");
    assert_eq!(err.code(), "DH223", "{err}");
    assert!(err.to_string().contains("a symbolic link"), "{err}");
    let err = Consumer::<Record>::attach(&name.0).err().unwrap();
    assert_eq!(err.code(), "DH223", "{err}");
    let err = datahub::inspect(&name.0).err().unwrap();
    assert_eq!(err.code(), "DH223", "{err}");
    assert!(std::fs::read(&target).unwrap() == before, "written through");
    assert!(shm_path(&name).is_symlink(), "the link was removed");
    std::fs::remove_file(shm_path(&name)).unwrap();
    std::fs::remove_file(&target).unwrap();
}

/// Defect 2: a dead producer's segment of this user whose file mode is not
/// the configured one (someone made it world-writable) is not written
/// into: the producer is refused, and says how to go on.
#[test]
fn a_segment_whose_mode_was_changed_is_refused_and_left_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let name = Name::new("chmodded");
    let ready = marker(&name, "chmodded");
    let mut child = ChildProcess::spawn(&["produce-mode", &name.0, "600", ready.to_str().unwrap()]);
    wait_for(&ready, &mut child);
    child.kill();
    let _ = std::fs::remove_file(&ready);
    let path = shm_path(&name);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let before = std::fs::read(&path).unwrap();

    let err = Producer::<Record>::create(&ChannelConfig::new(&name.0))
        .expect_err("a world-writable segment was taken over");
    assert_eq!(err.code(), "DH223", "{err}");
    assert!(
        err.to_string().contains("file mode 0666") && err.to_string().contains("datahub cleanup"),
        "{err}"
    );
    assert!(
        std::fs::read(&path).unwrap() == before,
        "the file was written"
    );
    // `datahub cleanup` (its own user's, producer dead) removes it; then
    // the channel is created afresh with the configured mode.
    let verdicts = datahub::cleanup(std::slice::from_ref(&name.0), false).unwrap();
    assert_eq!(
        verdicts[0].verdict,
        datahub::CleanupVerdict::Removed,
        "{verdicts:?}"
    );
    let mut producer = Producer::<Record>::create(&ChannelConfig::new(&name.0)).unwrap();
    assert_eq!(producer.write_with(STUCK, |r| r.fill(0)).unwrap(), 0);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Defect 3: a FIFO under a channel's name: a producer, a consumer and
/// `inspect` each get an error at once (opening it would block forever).
#[test]
fn a_fifo_under_a_channel_name_is_an_error_at_once_not_a_hang() {
    let name = Name::new("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(shm_path(&name))
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let producer = Producer::<Record>::create(&ChannelConfig::new(&name.0)).err();
    let consumer = Consumer::<Record>::attach(&name.0).err();
    let inspect = datahub::inspect(&name.0).err();
    for err in [producer, consumer, inspect] {
        let err = err.expect("a FIFO was taken for a segment");
        assert_eq!(err.code(), "DH223", "{err}");
        assert!(err.to_string().contains("a FIFO"), "{err}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(shm_path(&name).exists(), "the FIFO was removed");
    std::fs::remove_file(shm_path(&name)).unwrap();
}

/// Child, on a small private /dev/shm: a segment larger than the free
/// space, then one that fits, written in full.
pub(super) fn create_on_a_small_shm() -> Value {
    let big = ChannelConfig::new("small-shm-big")
        .slot_size(1 << 20)
        .capacity(4);
    let refused = match Producer::<Bytes>::create(&big) {
        Ok(_) => json!("created"),
        Err(e) => json!({"code": e.code(), "message": e.to_string()}),
    };
    let fits = ChannelConfig::new("small-shm-fits")
        .slot_size(64 << 10)
        .capacity(4);
    let mut producer = Producer::<Bytes>::create(&fits).unwrap();
    for _ in 0..8 {
        producer.write_bytes(STUCK, &[0xA5; 64 << 10]).unwrap();
    }
    json!({"refused": refused, "fits_written": producer.next_seq()})
}

/// Defect 6: a full /dev/shm. Before, the producer's segment was a sparse
/// file and its first write to a page tmpfs could not back killed it with
/// SIGBUS; now every page is reserved at create, and a segment that does
/// not fit is `OutOfSpace` (DH224), which says how much was needed.
#[test]
fn a_full_dev_shm_is_an_out_of_space_error_not_a_sigbus() {
    if let Err(why) = can_unshare_mounts() {
        eprintln!("skipped: no private /dev/shm ({why})");
        return;
    }
    // 1 MiB: the 4 MiB ring cannot fit; the 256 KiB one can.
    let child = ChildProcess::launch(Launch::SmallShm(1024), &["small-shm"]);
    let result = child.finish(Instant::now() + START).result();
    assert_eq!(result["refused"]["code"], "DH224", "{result}");
    let message = result["refused"]["message"].as_str().unwrap();
    assert!(message.contains("no room in /dev/shm"), "{message}");
    assert_eq!(result["fits_written"], 8, "{result}");
}

/// Child: attaches, reads item 0, and writes into it through a pointer
/// made from the shared reference, as a buggy consumer might.
pub(super) fn scribble(channel: &str) -> Value {
    let consumer = Consumer::<Record>::attach(channel).unwrap();
    let item = consumer.next(STUCK).unwrap();
    item.assert_is(0);
    // `seq` is the first field: the item's address is its address. (Through
    // an integer: what a C consumer with a stray pointer would do.)
    let seq = std::ptr::with_exposed_provenance_mut::<u64>(
        std::ptr::from_ref::<Record>(&item).expose_provenance(),
    );
    println!("writing into a slot mapped read-only: this child must die by SIGSEGV");
    // SAFETY: none, on purpose: the slot is mapped read-only for consumers,
    // and this write must fault (the parent checks the signal). Were it
    // writable, it would be a data race the test then reports.
    unsafe { std::ptr::write_volatile(seq, 0xBAD) };
    json!({"wrote": true})
}

/// Defect 7: consumers do not need write access to the payload, and do
/// not get it: a consumer that writes into a slot faults, and the item the
/// others read is intact.
#[test]
fn a_consumer_that_writes_into_a_slot_faults_and_the_item_stays_whole() {
    let name = Name::new("scribble");
    let mut producer = Producer::<Record>::create(&ChannelConfig::new(&name.0)).unwrap();
    let witness = Consumer::<Record>::attach(&name.0).unwrap();
    producer.write_with(STUCK, |r| r.fill(0)).unwrap();
    let child = ChildProcess::spawn(&["scribble", &name.0]);
    let finished = child.finish(Instant::now() + START);
    assert_eq!(
        finished.status.signal(),
        Some(11),
        "the write into the slot did not fault\n{finished}"
    );
    witness.next(STUCK).unwrap().assert_is(0);
}

/// Child: creates a channel with a secret and enforced checksums, commits
/// 5 items, tells the parent through `marker`, and waits to be killed.
pub(super) fn produce_secretly(channel: &str, marker: &str) -> Value {
    let config = ChannelConfig::new(channel)
        .checksum(ChecksumPolicy::Enforced)
        .secret(Secret::from_bytes(KEY));
    let mut producer = Producer::<Record>::create(&config).unwrap();
    for seq in 0..5 {
        producer.write_with(STUCK, |r| r.fill(seq)).unwrap();
    }
    std::fs::write(marker, b"ready to die").unwrap();
    std::thread::sleep(STUCK);
    panic!("not killed within {STUCK:?}");
}

/// Defect 10: someone without the key copies a secret channel's segment
/// and, once its producer is gone and the segment removed, puts the copy
/// back. Before, a consumer holding the key accepted the replayed items;
/// now the producer's seal names a dead process, and nobody without the key
/// can seal another: the consumer is refused.
#[test]
fn a_replayed_copy_of_a_secret_channel_is_refused() {
    let name = Name::new("replay");
    let ready = marker(&name, "replay");
    let mut child = ChildProcess::spawn(&["secret-producer", &name.0, ready.to_str().unwrap()]);
    wait_for(&ready, &mut child);
    let with_key = AttachOptions::default().secret(Secret::from_bytes(KEY));
    // While the producer lives, the key admits.
    let live = Consumer::<Record>::attach_with(&name.0, &with_key).unwrap();
    live.next(STUCK).unwrap().assert_is(0);
    drop(live);
    let copy = std::fs::read(shm_path(&name)).unwrap();
    child.kill();
    let _ = std::fs::remove_file(&ready);
    std::fs::remove_file(shm_path(&name)).unwrap();

    std::fs::write(shm_path(&name), &copy).unwrap();
    // With the producer's mode, as a faithful replay would.
    std::fs::set_permissions(
        shm_path(&name),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let err = Consumer::<Record>::attach_with(&name.0, &with_key)
        .expect_err("the replayed copy was accepted");
    assert_eq!(err.code(), "DH214", "{err}");
    assert!(err.to_string().contains("is not running"), "{err}");
    // A producer with the key takes it over, sealing it anew: then it is
    // read again (the replayed items are the channel's own, genuine ones).
    let config = ChannelConfig::new(&name.0)
        .checksum(ChecksumPolicy::Enforced)
        .secret(Secret::from_bytes(KEY));
    let successor = Producer::<Record>::create(&config).unwrap();
    assert_eq!(successor.next_seq(), 5, "taken over");
    let consumer = Consumer::<Record>::attach_with(&name.0, &with_key).unwrap();
    consumer.next(STUCK).unwrap().assert_is(0);
}

/// Defect 10: an item of an earlier incarnation of a secret channel (same
/// key, same channel, same sequence number), spliced into a new one by
/// someone who can write the file, does not verify: the MAC covers the
/// incarnation's nonce.
#[test]
fn an_item_from_an_earlier_incarnation_of_a_secret_channel_does_not_verify() {
    const CHECKSUMS_OFFSET: usize = 360;
    const SLOTS_OFFSET: usize = 392;
    let name = Name::new("incarnation");
    let config = ChannelConfig::new(&name.0)
        .checksum(ChecksumPolicy::Enforced)
        .secret(Secret::from_bytes(KEY));
    let with_key = AttachOptions::default().secret(Secret::from_bytes(KEY));
    let capture = |bytes: &[u8]| {
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
        let (sums, slots) = (word(CHECKSUMS_OFFSET), word(SLOTS_OFFSET));
        (
            (sums, bytes[sums..sums + 64].to_vec()),
            (slots, bytes[slots..slots + size_of::<Record>()].to_vec()),
        )
    };
    let old = {
        let mut first = Producer::<Record>::create(&config).unwrap();
        first.write_with(STUCK, |r| r.fill(0)).unwrap();
        capture(&std::fs::read(shm_path(&name)).unwrap())
    };
    let mut second = Producer::<Record>::create(&config).unwrap();
    let consumer = Consumer::<Record>::attach_with(&name.0, &with_key).unwrap();
    second
        .write_with(STUCK, |r| {
            r.fill(0);
            r.words[0] = 7;
        })
        .unwrap();
    for (offset, bytes) in [old.0, old.1] {
        name.poke(offset as u64, &bytes);
    }
    let err = consumer.next(STUCK).expect_err("an old item verified");
    assert!(
        matches!(err.kind(), ErrorKind::ChecksumMismatch { seq: 0, .. }),
        "{err}"
    );
}

/// Defect 13: producers racing to create one channel, and consumers
/// attaching meanwhile, never see a segment half made: a loser gets
/// `ChannelExists`, a consumer a segment or none, never "corrupt" or "not
/// ready". (Before, a loser sometimes got DH204 "file size 0".)
#[test]
fn a_segment_is_never_seen_half_made() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let name = Name::new("create-race");
    let done = AtomicBool::new(false);
    let codes = std::sync::Mutex::new(std::collections::BTreeMap::<String, u64>::new());
    let count = |code: &str| *codes.lock().unwrap().entry(code.into()).or_default() += 1;
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    match Consumer::<Record>::attach(&name.0) {
                        Ok(_) => count("attached"),
                        Err(e) => count(e.code()),
                    }
                }
            });
        }
        let creators: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..300 {
                        match Producer::<Record>::create(&ChannelConfig::new(&name.0)) {
                            Ok(p) => {
                                count("created");
                                drop(p);
                            }
                            Err(e) => count(e.code()),
                        }
                    }
                })
            })
            .collect();
        for creator in creators {
            creator.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    let codes = codes.into_inner().unwrap();
    eprintln!("create race outcomes: {codes:?}");
    for code in codes.keys() {
        assert!(
            ["created", "attached", "DH202", "DH203", "DH206"].contains(&code.as_str()),
            "{code} seen: {codes:?}"
        );
    }
    assert!(codes["created"] > 0);
}

/// Defect 14: a consumer blocked in `next` or `latest` with a long timeout
/// learns that its producer was SIGKILLed within 100 ms (before, only when
/// the timeout ran out: 60 s to learn it). Asserted against a generous
/// bound for a loaded machine; the time is printed.
#[test]
fn waits_notice_a_killed_producer_within_100_ms() {
    let name = Name::new("gone-wait");
    let ready = marker(&name, "gone-wait");
    let mut child = ChildProcess::spawn(&["idle", &name.0, "2", ready.to_str().unwrap()]);
    let deadline = Instant::now() + START;
    let consumer = loop {
        match Consumer::<Record>::attach(&name.0) {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => panic!("{e}"),
        }
    };
    wait_for(&ready, &mut child);
    let latest = Consumer::<Record>::attach_with(
        &name.0,
        &AttachOptions::default().start(datahub::Start::Newest),
    )
    .unwrap();
    latest.latest(STUCK).unwrap().assert_is(1);
    for seq in 0..2 {
        consumer.next(STUCK).unwrap().assert_is(seq);
    }
    let (noticed_next, noticed_latest) = std::thread::scope(|s| {
        let next = s.spawn(|| {
            let err = consumer.next(Duration::from_secs(60)).err().unwrap();
            (Instant::now(), err)
        });
        let newest = s.spawn(|| {
            let err = latest.latest(Duration::from_secs(60)).err().unwrap();
            (Instant::now(), err)
        });
        std::thread::sleep(Duration::from_millis(200));
        let killed_at = Instant::now();
        child.kill();
        let (at, err) = next.join().unwrap();
        assert_eq!(err.code(), "DH215", "{err}");
        let next_took = at - killed_at;
        let (at, err) = newest.join().unwrap();
        assert_eq!(err.code(), "DH215", "{err}");
        (next_took, at - killed_at)
    });
    let _ = std::fs::remove_file(&ready);
    eprintln!(
        "a killed producer noticed after {noticed_next:?} (next) and {noticed_latest:?} (latest)"
    );
    for took in [noticed_next, noticed_latest] {
        assert!(took < Duration::from_secs(2), "noticed after {took:?}");
    }
}
