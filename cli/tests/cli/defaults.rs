//! Commands run without their optional arguments, which pick what to act
//! on by themselves: `datahub cleanup` without names (every segment on the
//! machine: run in a private mount namespace whose `/dev/shm` is an empty
//! tmpfs, so the other tests' segments are out of its reach), and `datahub
//! broker` without `--endpoint` with `datahub list --broker` without a
//! value (the default endpoint, under an `XDG_RUNTIME_DIR` of this test's
//! own, so no other broker is in the way).

use std::process::Command;

use datahub::{Consumer, Producer, SchemaHash};
use datahub_broker::{MessageHub, Registration};

use crate::broker::BrokerProcess;
use crate::children::Holder;
use crate::{Frame, config, datahub_json, datahub_ok};

/// Marks the test binary run inside the private namespace.
const PRIVATE_SHM_ENV: &str = "DATAHUB_CLI_PRIVATE_SHM";

/// Whether this process may make mount namespaces with a tmpfs
/// `/dev/shm`; why not, otherwise.
fn can_unshare_mounts() -> Result<(), String> {
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o size=64k datahub-probe /dev/shm")
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "unshare --mount with a tmpfs /dev/shm failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[test]
fn cleanup_without_names_removes_only_the_abandoned_segments_of_the_machine() {
    if let Err(why) = can_unshare_mounts() {
        eprintln!("skipped: {why}");
        return;
    }
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o size=8m datahub-test /dev/shm && exec \"$0\" \"$@\"")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "defaults::cleanup_without_names_in_a_private_shm",
            "--ignored",
            "--nocapture",
        ])
        .env(PRIVATE_SHM_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{}\n--- stdout:\n{stdout}\n--- stderr:\n{stderr}",
        out.status
    );
    // The inner test ran (a filter that matched nothing would pass too).
    assert!(stdout.contains("1 passed"), "{stdout}");
}

/// The body of the test above, in its private `/dev/shm`.
#[test]
#[ignore = "run in a private mount namespace by cleanup_without_names_removes_only_..."]
fn cleanup_without_names_in_a_private_shm() {
    assert!(
        std::env::var_os(PRIVATE_SHM_ENV).is_some(),
        "run only by cleanup_without_names_removes_only_the_abandoned_segments_of_the_machine"
    );
    // The namespace's /dev/shm is empty: `cleanup` sees nobody else's.
    assert_eq!(std::fs::read_dir("/dev/shm").unwrap().count(), 0);
    assert_eq!(
        datahub_ok(&["cleanup"], 0),
        "no DataHub channels on this machine\n"
    );
    assert_eq!(datahub_json(&["cleanup"], 0), serde_json::json!([]));

    let me = std::process::id();
    // Abandoned: its producer killed. Live: this process produces. Orphan:
    // its producer killed, but this process still consumes.
    let producer = Holder::start("producer", "abandoned");
    let dead = producer.pid();
    producer.kill();
    let _live = Producer::<Frame>::create(&config("live")).unwrap();
    let orphan_producer = Holder::start("producer", "orphan");
    let orphan_dead = orphan_producer.pid();
    orphan_producer.kill();
    let orphan_consumer = Consumer::<Frame>::attach("orphan").unwrap();
    let shm = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir("/dev/shm")
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        shm(),
        ["datahub.abandoned", "datahub.live", "datahub.orphan"]
    );

    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let dry = datahub_ok(&["cleanup", "--dry-run"], 0);
    assert_eq!(
        words(&dry),
        format!(
            "would remove abandoned: its producer, pid {dead}, is dead and no live consumer is \
             attached kept live: its producer, pid {me}, is alive kept orphan: its producer is \
             dead, but consumer pid {me} is alive and attached"
        ),
        "{dry}"
    );
    assert_eq!(shm().len(), 3, "a dry run removed something");

    let done = datahub_json(&["cleanup"], 0);
    let verdicts: Vec<(&str, &str)> = done
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["channel"].as_str().unwrap(),
                v["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("abandoned", "removed"),
            ("live", "kept"),
            ("orphan", "kept")
        ],
        "{done}"
    );
    assert_eq!(shm(), ["datahub.live", "datahub.orphan"]);

    // The orphan's last consumer gone, it is abandoned too.
    drop(orphan_consumer);
    let text = datahub_ok(&["cleanup"], 0);
    assert_eq!(
        words(&text),
        format!(
            "kept live: its producer, pid {me}, is alive removed orphan: its producer, pid \
             {orphan_dead}, is dead and no live consumer is attached"
        ),
        "{text}"
    );
    assert_eq!(shm(), ["datahub.live"]);
}

#[test]
fn broker_without_an_endpoint_serves_the_default_one_that_list_broker_asks_by_default() {
    use std::os::unix::fs::PermissionsExt;
    let me = std::process::id();
    let dir = format!("/tmp/datahub-test-default-{me}");
    let elsewhere = format!("/tmp/datahub-test-default-elsewhere-{me}");
    for d in [&dir, &elsewhere] {
        let _ = std::fs::remove_dir_all(d);
        std::fs::create_dir(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    struct RemoveDirs<'a>([&'a str; 2]);
    impl Drop for RemoveDirs<'_> {
        fn drop(&mut self) {
            for d in self.0 {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
    let _dirs = RemoveDirs([&dir, &elsewhere]);
    // The default endpoint: under $XDG_RUNTIME_DIR, $DATAHUB_BROKER unset.
    let command_with = |xdg: &str, broker: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_datahub"));
        command.env("XDG_RUNTIME_DIR", xdg);
        match broker {
            Some(endpoint) => command.env("DATAHUB_BROKER", endpoint),
            None => command.env_remove("DATAHUB_BROKER"),
        };
        command
    };
    let endpoint = format!("ipc://{dir}/datahub-broker.sock");
    let mut command = command_with(&dir, None);
    command.arg("broker");
    let (broker, said) = BrokerProcess::start_listening(command, &endpoint);
    assert_eq!(said, format!("datahub broker listening on {endpoint}"));

    let list = |xdg: &str, broker: Option<&str>, json: bool| -> String {
        let mut command = command_with(xdg, broker);
        command.args(["list", "--broker", "--timeout-ms", "10000"]);
        if json {
            command.arg("--json");
        }
        let out = command.output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    assert_eq!(
        list(&dir, None, false),
        format!("the broker at {endpoint} knows no channels\n")
    );

    let hub = MessageHub::connect(broker.endpoint()).unwrap();
    let channel = format!("cli-default-{me}");
    hub.register(&Registration::new(&channel, SchemaHash::digest(b"d"), me))
        .unwrap();
    let text = list(&dir, None, false);
    let row = text
        .lines()
        .find(|l| l.contains(&channel))
        .unwrap_or_else(|| panic!("{channel} not listed:\n{text}"));
    assert!(row.contains(&format!("pid {me}")), "{row}");
    assert!(row.contains("local"), "{row}");
    let json: serde_json::Value = serde_json::from_str(&list(&dir, None, true)).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json[0]["channel"], channel.as_str());
    assert_eq!(json[0]["producer_pid"], me);
    // $DATAHUB_BROKER, when set, is the default over $XDG_RUNTIME_DIR.
    let json: serde_json::Value =
        serde_json::from_str(&list(&elsewhere, Some(&endpoint), true)).unwrap();
    assert_eq!(json[0]["channel"], channel.as_str(), "{json}");
    drop(hub);
    drop(broker);
}
