//! Hostile clients and users against a real `datahub broker` process
//! (issue 14): a client impersonating a live producer, and another user
//! registering processes it does not own.

use datahub::broker::MessageHub;
use datahub::{Consumer, SchemaHash};
use serde_json::{Value, json};

use super::{BrokerProcess, Wire};
use crate::children::{Holder, OtherUser, REPLY, other_user};
use crate::{Frame, unique};

/// The start time of process `pid` (clock ticks since boot), as
/// `/proc/PID/stat` gives it.
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split(' ').nth(19).unwrap().parse().unwrap()
}

/// The JSON after `prefix` on the lines a child printed.
fn printed(lines: &[String], prefix: &str) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|line| line.strip_prefix(prefix))
        .map(|json| serde_json::from_str(json.trim()).unwrap())
        .collect()
}

/// The replies a `wire` child run as `user` got to `requests`.
fn ask_as(user: &OtherUser, endpoint: &str, requests: &Value) -> Vec<Value> {
    let (_child, lines) = Holder::start_as(
        user,
        "wire",
        "-",
        &[
            ("DATAHUB_CLI_ENDPOINT", endpoint),
            ("DATAHUB_CLI_REQUESTS", &requests.to_string()),
        ],
    );
    printed(&lines, REPLY)
}

#[test]
fn a_client_claiming_a_live_producers_pid_can_neither_deregister_nor_rewrite_its_registration() {
    let broker = BrokerProcess::start("impersonate");
    let name = unique("impersonate");
    let producer = Holder::start_with(
        "registered",
        &name,
        &[("DATAHUB_BROKER", broker.endpoint())],
    );
    let hub = MessageHub::connect(broker.endpoint()).unwrap();
    let registered = hub.discover(&name, None).unwrap();
    assert_eq!(registered.producer_pid, producer.pid());

    // Everything the registration holds is public: LIST_REQ shows it.
    let attacker = Wire::connect(broker.endpoint());
    let list = attacker.ask(json!({"type": "LIST_REQ", "request_id": "l"}));
    let listed = &list["channels"][0];
    assert_eq!(listed["producer_pid"], producer.pid(), "{list}");
    // A perfect copy of the producer's identity, but not its connection
    // (nor its owner token, which LIST_REQ never shows).
    let claim = |kind: &str, id: &str, extra: Value| {
        let mut request = json!({"type": kind, "request_id": id, "channel": name,
            "producer_pid": producer.pid(), "producer_start_time": start_time(producer.pid()),
            "boot_id": listed["boot_id"]});
        request
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        attacker.ask(request)
    };
    assert!(
        !list.to_string().contains("owner_token"),
        "LIST_REQ shows no owner token: {list}"
    );
    for (id, extra) in [
        ("d1", json!({})),
        (
            "d2",
            json!({"owner_token": "0123456789abcdef0123456789abcdef"}),
        ),
    ] {
        let dereg = claim("DEREG_REQ", id, extra);
        assert_eq!(
            dereg["code"], "NOT_OWNER",
            "deregistered by another client: {dereg}"
        );
    }
    let rewrite = claim(
        "REG_REQ",
        "r1",
        json!({"shm_name": "/datahub.elsewhere", "channel_hash": SchemaHash::digest(b"evil").to_string(),
               "zmq_endpoint": "tcp://10.6.6.6:1"}),
    );
    assert_eq!(
        rewrite["code"], "NOT_OWNER",
        "rewritten by another client: {rewrite}"
    );

    // Consumers discovering meanwhile find the producer's own registration.
    let found = hub.discover(&name, None).unwrap();
    assert_eq!(
        (&found.shm_name, found.channel_hash, &found.zmq_endpoint),
        (&registered.shm_name, registered.channel_hash, &None)
    );
    let mut consumer = Consumer::<Frame>::discover(&hub, &name).unwrap();
    assert!(consumer.try_next().is_ok());
    drop(consumer);
    producer.kill();
    crate::datahub_ok(&["cleanup", &name], 0);
}

#[test]
fn another_user_may_register_its_own_processes_only() {
    let Some(user) = other_user() else { return };
    let broker = BrokerProcess::start("otheruser");
    broker.open_to_all_users();
    let me = std::process::id();
    let hash = SchemaHash::digest(b"x").to_string();
    let register = |id: &str, channel: &str, pid: Value| {
        json!({"type": "REG_REQ", "request_id": id, "channel": channel,
               "shm_name": format!("/datahub.{channel}"), "channel_hash": hash, "producer_pid": pid})
    };
    let requests = json!([
        register("mine", "its-own", "self".into()),
        register("root", "root-s", me.into()),
        register("init", "init-s", 1.into()),
    ]);
    let replies = ask_as(user, broker.endpoint(), &requests);
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert_eq!(replies[0]["status"], "OK", "{}", replies[0]);
    for refused in &replies[1..] {
        assert_eq!(refused["code"], "NOT_OWNER", "{refused}");
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{} (uid {})", user.name, user.uid))
                && message.contains("uid 0"),
            "the refusal names both users: {message}"
        );
    }
    let hub = MessageHub::connect(broker.endpoint()).unwrap();
    let listed: Vec<String> = hub.list().unwrap().into_iter().map(|c| c.channel).collect();
    assert!(!listed.contains(&"root-s".to_owned()), "{listed:?}");
    assert!(!listed.contains(&"init-s".to_owned()), "{listed:?}");
}
