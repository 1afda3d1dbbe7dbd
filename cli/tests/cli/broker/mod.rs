//! The broker, a real `datahub broker` process, over the wire: each
//! message type, malformed frames, many threads on one `MessageHub`, a
//! late reply, a broker restart while callers wait, and stopping;
//! `hostile` has clients and users that attack it.

mod hostile;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use datahub::{Error, ErrorKind, SchemaHash};
use datahub_broker::{HubOptions, MessageHub, Registration};
use serde_json::{Value, json};

/// A `datahub broker` process; killed with SIGKILL on drop.
pub(crate) struct BrokerProcess {
    child: Child,
    endpoint: String,
}

impl BrokerProcess {
    /// A broker on an `ipc://` endpoint of its own.
    pub(crate) fn start(tag: &str) -> Self {
        let path = format!("/tmp/datahub-test-{tag}-{}.sock", std::process::id());
        let _ = std::fs::remove_file(&path);
        Self::start_at(&format!("ipc://{path}"))
    }

    /// A broker on `endpoint`, once it says it listens.
    pub(crate) fn start_at(endpoint: &str) -> Self {
        Self::start_command(Command::new(env!("CARGO_BIN_EXE_datahub")), endpoint, &[])
    }

    /// `datahub broker --endpoint ENDPOINT ARGS` run by `command` (the
    /// binary itself, or a wrapper that runs it as another user), once it
    /// says it listens.
    pub(crate) fn start_command(mut command: Command, endpoint: &str, args: &[&str]) -> Self {
        command.args(["broker", "--endpoint", endpoint]).args(args);
        Self::start_listening(command, endpoint).0
    }

    /// `command`, a whole `datahub broker ...` command line, expected to
    /// listen on `endpoint`, once it says it listens; also returns the line
    /// it said that in.
    pub(crate) fn start_listening(mut command: Command, endpoint: &str) -> (Self, String) {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("running datahub broker");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening on") {
                    let _ = tx.send(line);
                }
            }
        });
        let broker = Self {
            child,
            endpoint: endpoint.to_owned(),
        };
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the broker on {endpoint} never said it listens"));
        (broker, line)
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Lets every user connect to its `ipc://` socket (connecting needs
    /// write permission on the socket file), as a broker shared by the
    /// users of a host is set up.
    pub(crate) fn open_to_all_users(&self) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.endpoint.strip_prefix("ipc://").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777)).unwrap();
    }

    /// Whether the process still runs.
    pub(crate) fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGKILL, then reap.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        self.kill();
        if let Some(path) = self.endpoint.strip_prefix("ipc://") {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A bare DEALER socket speaking JSON frames to a broker.
pub(crate) struct Wire {
    socket: zmq::Socket,
}

impl Wire {
    pub(crate) fn connect(endpoint: &str) -> Self {
        let socket = zmq::Context::new().socket(zmq::DEALER).unwrap();
        socket.set_linger(0).unwrap();
        socket.set_rcvtimeo(10_000).unwrap();
        socket.connect(endpoint).unwrap();
        Self { socket }
    }

    pub(crate) fn send_frames(&self, frames: &[&[u8]]) {
        self.socket.send_multipart(frames, 0).unwrap();
    }

    /// The next reply, as JSON.
    pub(crate) fn recv(&self) -> Value {
        let frames = self.recv_frames();
        assert_eq!(frames.len(), 1, "one frame per reply");
        serde_json::from_slice(&frames[0]).unwrap()
    }

    /// The next reply's frames, unparsed.
    pub(crate) fn recv_frames(&self) -> Vec<Vec<u8>> {
        self.socket.recv_multipart(0).expect("a reply within 10 s")
    }

    /// Sends `request` and returns its reply, checking the id is echoed.
    pub(crate) fn ask(&self, request: Value) -> Value {
        self.send_frames(&[request.to_string().as_bytes()]);
        let reply = self.recv();
        assert_eq!(reply["request_id"], request["request_id"], "{reply}");
        reply
    }
}

fn hash(n: u32) -> SchemaHash {
    SchemaHash::digest(&n.to_le_bytes())
}

/// A process that lives while the test needs a live pid that is not ours.
fn other_live_process() -> Child {
    Command::new("sleep").arg("30").spawn().unwrap()
}

#[test]
fn every_message_type_gets_its_documented_reply() {
    let broker = BrokerProcess::start("types");
    let wire = Wire::connect(broker.endpoint());
    let me = std::process::id();
    let h = hash(1).to_string();
    let register = |id: &str, pid: u32| {
        json!({"type": "REG_REQ", "request_id": id, "channel": "cam0", "shm_name": "/datahub.cam0",
               "channel_hash": h, "producer_pid": pid})
    };

    let ok = wire.ask(register("r1", me));
    assert_eq!(ok["status"], "OK", "{ok}");
    let mut other = other_live_process();
    let taken = wire.ask(register("r2", other.id()));
    assert_eq!(
        (&taken["status"], &taken["code"]),
        (&json!("ERROR"), &json!("CHANNEL_EXISTS"))
    );
    assert_eq!(taken["producer_pid"], me);
    assert!(taken["message"].as_str().unwrap().contains("alive"));

    let found = wire.ask(json!({"type": "DISC_REQ", "request_id": "d1", "channel": "cam0"}));
    assert_eq!(found["status"], "OK");
    assert_eq!(found["shm_name"], "/datahub.cam0");
    assert_eq!(found["channel_hash"], h);
    assert_eq!(found["producer_pid"], me);
    assert_eq!(found["zmq_endpoint"], Value::Null);
    let expected_ok = wire.ask(
        json!({"type": "DISC_REQ", "request_id": "d2", "channel": "cam0", "expected_hash": h}),
    );
    assert_eq!(expected_ok["status"], "OK");
    let mismatch = wire.ask(
        json!({"type": "DISC_REQ", "request_id": "d3", "channel": "cam0",
                                   "expected_hash": hash(2).to_string()}),
    );
    assert_eq!(mismatch["code"], "SCHEMA_MISMATCH", "{mismatch}");
    assert_eq!(mismatch["channel_hash"], h);
    assert_eq!(mismatch["expected_hash"], hash(2).to_string());
    let missing = wire.ask(json!({"type": "DISC_REQ", "request_id": "d4", "channel": "cam9"}));
    assert_eq!(missing["code"], "NOT_FOUND");

    let list = wire.ask(json!({"type": "LIST_REQ", "request_id": "l1"}));
    let channels = list["channels"].as_array().unwrap();
    assert_eq!(channels.len(), 1);
    assert_eq!(channels[0]["channel"], "cam0");
    assert_eq!(channels[0]["local"], true);

    let not_owner =
        wire.ask(json!({"type": "DEREG_REQ", "request_id": "x1", "channel": "cam0", "producer_pid": other.id()}));
    assert_eq!(not_owner["code"], "NOT_OWNER");
    let dereg = wire.ask(
        json!({"type": "DEREG_REQ", "request_id": "x2", "channel": "cam0", "producer_pid": me}),
    );
    assert_eq!(
        (&dereg["status"], &dereg["removed"]),
        (&json!("OK"), &json!(true))
    );
    let again = wire.ask(
        json!({"type": "DEREG_REQ", "request_id": "x3", "channel": "cam0", "producer_pid": me}),
    );
    assert_eq!(
        (&again["status"], &again["removed"]),
        (&json!("OK"), &json!(false))
    );
    let gone = wire.ask(json!({"type": "DISC_REQ", "request_id": "d5", "channel": "cam0"}));
    assert_eq!(gone["code"], "NOT_FOUND");

    let _ = other.kill();
    let _ = other.wait();
    let dead = wire.ask(register("r3", other.id()));
    assert_eq!(dead["code"], "PRODUCER_DEAD", "{dead}");

    // A REQ socket's envelope (an empty delimiter frame) is answered in kind.
    let req = zmq::Context::new().socket(zmq::REQ).unwrap();
    req.set_linger(0).unwrap();
    req.set_rcvtimeo(10_000).unwrap();
    req.connect(broker.endpoint()).unwrap();
    req.send(
        json!({"type": "LIST_REQ", "request_id": "q"})
            .to_string()
            .as_bytes(),
        0,
    )
    .unwrap();
    let reply: Value = serde_json::from_slice(&req.recv_bytes(0).unwrap()).unwrap();
    assert_eq!(
        (&reply["request_id"], &reply["status"]),
        (&json!("q"), &json!("OK"))
    );
}

/// Frame number `i` of the malformed flood, and the request id the broker
/// can read in it (if any).
fn malformed(i: usize) -> (Vec<Vec<u8>>, Option<String>) {
    let id = format!("m{i}");
    let one = |text: String| vec![text.into_bytes()];
    let with_id = |text: String| (one(text), Some(id.clone()));
    match i % 20 {
        0 => (one("not json".into()), None),
        1 => (vec![Vec::new()], None),
        2 => (one("null".into()), None),
        3 => (one(format!("[{i}]")), None),
        4 => (vec![vec![0xff, 0xfe, i as u8, 0x00]], None),
        5 => (
            one(format!(r#"{{"type":"LIST_REQ","request_id":{i}}}"#)),
            None,
        ),
        6 => (one(r#"{"type":"LIST_REQ"}"#.into()), None),
        7 => with_id(format!(r#"{{"request_id":"{id}"}}"#)),
        8 => with_id(format!(r#"{{"request_id":"{id}","type":7}}"#)),
        9 => with_id(format!(r#"{{"request_id":"{id}","type":"EXPLODE_REQ"}}"#)),
        10 => with_id(format!(r#"{{"request_id":"{id}","type":"DISC_REQ"}}"#)),
        11 => with_id(format!(
            r#"{{"request_id":"{id}","type":"DISC_REQ","channel":"../etc/passwd"}}"#
        )),
        12 => with_id(format!(
            r#"{{"request_id":"{id}","type":"DISC_REQ","channel":"c","expected_hash":"dh1:{}"}}"#,
            "g".repeat(64)
        )),
        13 => with_id(format!(
            r#"{{"request_id":"{id}","type":"DEREG_REQ","channel":"c","producer_pid":99999999999}}"#
        )),
        14 => with_id(format!(
            r#"{{"request_id":"{id}","type":"REG_REQ","channel":"c","shm_name":7,"channel_hash":"x","producer_pid":1}}"#
        )),
        15 => (
            one(format!(
                r#"{{"request_id":"{id}","type":"LIST_REQ","pad":"{}"}}"#,
                "p".repeat(20_000)
            )),
            None,
        ),
        16 => (one(format!("{}{}", "[".repeat(300), "]".repeat(300))), None),
        17 => (vec![b"{}".to_vec(), b"{}".to_vec(), b"{}".to_vec()], None),
        18 => (
            one(format!(
                r#"{{"request_id":"{id}","type":"LIST_REQ"}} trailing"#
            )),
            None,
        ),
        _ => with_id(format!(
            r#"{{"request_id":"{id}","type":"REG_REQ","channel":"c"}}"#
        )),
    }
}

#[test]
fn a_thousand_malformed_frames_each_get_an_error_and_the_broker_serves_on() {
    let mut broker = BrokerProcess::start("malformed");
    let wire = Wire::connect(broker.endpoint());
    let mut expected_ids = Vec::new();
    let mut anonymous = 0;
    for i in 0..1000 {
        let (frames, id) = malformed(i);
        let frames: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        wire.send_frames(&frames);
        match id {
            Some(id) => expected_ids.push(id),
            None => anonymous += 1,
        }
    }
    let mut echoed = Vec::new();
    let mut nulls = 0;
    for _ in 0..1000 {
        let reply = wire.recv();
        assert_eq!(reply["status"], "ERROR", "{reply}");
        let code = reply["code"].as_str().unwrap();
        assert!(
            ["INVALID_REQUEST", "UNKNOWN_MSG_TYPE"].contains(&code),
            "{reply}"
        );
        assert!(!reply["message"].as_str().unwrap().is_empty());
        match &reply["request_id"] {
            Value::String(id) => echoed.push(id.clone()),
            Value::Null => nulls += 1,
            other => panic!("request_id {other}"),
        }
    }
    echoed.sort();
    expected_ids.sort();
    assert_eq!(
        echoed, expected_ids,
        "every readable id echoed exactly once"
    );
    assert_eq!(nulls, anonymous);
    let list = wire.ask(json!({"type": "LIST_REQ", "request_id": "after"}));
    assert_eq!(list["status"], "OK");
    assert!(broker.is_running());
}

#[test]
fn many_threads_share_one_hub_and_every_reply_reaches_its_caller() {
    let broker = BrokerProcess::start("threads");
    let hub = MessageHub::connect(broker.endpoint()).unwrap();
    const CHANNELS: u32 = 16;
    const PER_THREAD: u32 = 250;
    for c in 0..CHANNELS {
        hub.register(&Registration::new(
            &format!("ch{c}"),
            hash(c),
            std::process::id(),
        ))
        .unwrap();
    }
    let threads: Vec<_> = (0..CHANNELS)
        .map(|t| {
            let hub = hub.clone();
            thread::spawn(move || {
                for k in 0..PER_THREAD {
                    let c = (t + k) % CHANNELS;
                    if k % 50 == 0 {
                        assert_eq!(hub.list().unwrap().len(), CHANNELS as usize);
                        continue;
                    }
                    let found = hub.discover(&format!("ch{c}"), None).unwrap();
                    assert_eq!(found.channel, format!("ch{c}"));
                    assert_eq!(found.channel_hash, hash(c), "the reply of another request");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(hub.late_replies(), 0);
}

#[test]
fn a_late_reply_is_dropped_and_never_reaches_the_next_caller() {
    // A stand-in broker that answers the first request only once the
    // second has come, which its caller sends after the first timed out.
    let path = format!("/tmp/datahub-test-late-{}.sock", std::process::id());
    let endpoint = format!("ipc://{path}");
    let router = zmq::Context::new().socket(zmq::ROUTER).unwrap();
    router.set_linger(0).unwrap();
    router.bind(&endpoint).unwrap();
    let record = |request: &Value| {
        json!({"request_id": request["request_id"], "status": "OK", "channel": request["channel"],
               "shm_name": "/datahub.x", "channel_hash": hash(3).to_string(), "producer_pid": 1})
    };
    let fake = thread::spawn(move || {
        let requests: Vec<Vec<Vec<u8>>> =
            (0..2).map(|_| router.recv_multipart(0).unwrap()).collect();
        for frames in requests {
            let request: Value = serde_json::from_slice(frames.last().unwrap()).unwrap();
            let reply = record(&request).to_string();
            router
                .send_multipart([frames[0].as_slice(), reply.as_bytes()], 0)
                .unwrap();
        }
    });
    let options = HubOptions::default()
        .timeout(Duration::from_secs(1))
        .resend_interval(Duration::from_secs(60));
    let hub = MessageHub::connect_with(&endpoint, options).unwrap();
    let slow = hub.discover("slow", None).unwrap_err();
    assert!(
        matches!(slow.kind(), ErrorKind::BrokerTimeout { .. }),
        "{slow}"
    );
    assert_eq!(slow.code(), "DH217");
    // The same hub's next call gets its own reply, after the late one.
    let fast = hub.discover("fast", None).unwrap();
    assert_eq!(fast.channel, "fast");
    fake.join().unwrap();
    assert_eq!(hub.late_replies(), 1);
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_broker_that_speaks_nonsense_gets_protocol_errors_never_a_panic_or_a_hang() {
    let path = format!("/tmp/datahub-test-nonsense-{}.sock", std::process::id());
    let endpoint = format!("ipc://{path}");
    let router = zmq::Context::new().socket(zmq::ROUTER).unwrap();
    router.set_linger(0).unwrap();
    router.set_rcvtimeo(10_000).unwrap();
    router.bind(&endpoint).unwrap();
    // For each request: a frame that is not JSON and one without an id
    // (both ignored), then a reply with the right id and a bad body.
    let bodies = [
        json!({"status": "MAYBE"}),
        json!({"status": "OK", "channel": 5}),
        json!({"status": "OK"}),
        json!({"status": "OK", "channel": "cam0", "shm_name": "/elsewhere",
               "channel_hash": hash(1).to_string(), "producer_pid": 1}),
    ];
    let fake = thread::spawn(move || {
        for body in bodies {
            let frames = router.recv_multipart(0).unwrap();
            let request: Value = serde_json::from_slice(frames.last().unwrap()).unwrap();
            let mut reply = body;
            reply["request_id"] = request["request_id"].clone();
            for frame in [
                b"\xff not json".to_vec(),
                br#"{"status":"OK"}"#.to_vec(),
                reply.to_string().into_bytes(),
            ] {
                router
                    .send_multipart([frames[0].as_slice(), &frame], 0)
                    .unwrap();
            }
        }
    });
    let hub = MessageHub::connect_with(
        &endpoint,
        HubOptions::default()
            .timeout(Duration::from_secs(10))
            .resend_interval(Duration::from_secs(60)),
    )
    .unwrap();
    let protocol = |result: Result<(), Error>| {
        let err = result.unwrap_err();
        assert_eq!(err.code(), "DH220", "{err}");
        err.to_string()
    };
    assert!(protocol(hub.list().map(drop)).contains("MAYBE"));
    assert!(protocol(hub.discover("cam0", None).map(drop)).contains("does not read"));
    assert!(protocol(hub.list().map(drop)).contains("`channels`"));
    let wrong_shm = protocol(datahub::Consumer::<datahub::Bytes>::discover(&hub, "cam0").map(drop));
    assert!(wrong_shm.contains("/elsewhere"), "{wrong_shm}");
    fake.join().unwrap();
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_request_swallowed_by_a_dying_broker_is_sent_again_to_its_successor() {
    let path = format!("/tmp/datahub-test-swallow-{}.sock", std::process::id());
    let endpoint = format!("ipc://{path}");
    let context = zmq::Context::new();
    let bind = || {
        let router = context.socket(zmq::ROUTER).unwrap();
        router.set_linger(0).unwrap();
        router.set_rcvtimeo(10_000).unwrap();
        router.bind(&endpoint).unwrap();
        router
    };
    let dying = bind();
    let hub = MessageHub::connect_with(
        &endpoint,
        HubOptions::default()
            .timeout(Duration::from_secs(10))
            .resend_interval(Duration::from_millis(200)),
    )
    .unwrap();
    let caller = {
        let hub = hub.clone();
        thread::spawn(move || hub.list())
    };
    // The request arrives, and its broker dies without answering.
    let swallowed = dying.recv_multipart(0).unwrap();
    drop(dying);
    let successor = bind();
    let frames = successor.recv_multipart(0).unwrap();
    assert_eq!(
        frames.last(),
        swallowed.last(),
        "the same request, sent again"
    );
    let request: Value = serde_json::from_slice(frames.last().unwrap()).unwrap();
    let reply = json!({"request_id": request["request_id"], "status": "OK", "channels": []});
    successor
        .send_multipart([frames[0].as_slice(), reply.to_string().as_bytes()], 0)
        .unwrap();
    assert_eq!(caller.join().unwrap().unwrap(), []);
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_broker_restart_while_callers_wait_delays_them_without_a_wrong_or_lost_reply() {
    let mut broker = BrokerProcess::start("restart");
    let endpoint = broker.endpoint().to_owned();
    let hub = MessageHub::connect_with(
        &endpoint,
        HubOptions::default()
            .timeout(Duration::from_secs(10))
            .resend_interval(Duration::from_millis(200))
            .refresh_interval(Duration::from_millis(300)),
    )
    .unwrap();
    let me = std::process::id();
    hub.register(&Registration::new("kept", hash(7), me))
        .unwrap();
    broker.kill();
    let started = Instant::now();
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let hub = hub.clone();
            thread::spawn(move || {
                // Until the new broker has relearned the channel from the
                // hub's renewal, it may not know it: never anything else.
                loop {
                    match hub
                        .discover("kept", None)
                        .map_err(datahub::Error::into_kind)
                    {
                        Ok(found) => {
                            assert_eq!(found.channel_hash, hash(7));
                            return;
                        }
                        Err(ErrorKind::NotDiscovered { .. }) => {
                            assert!(
                                started.elapsed() < Duration::from_secs(8),
                                "the restarted broker never relearned the channel"
                            );
                            thread::sleep(Duration::from_millis(20));
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(700));
    let _restarted = BrokerProcess::start_at(&endpoint);
    for caller in callers {
        caller.join().unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "callers waited {:?}",
        started.elapsed()
    );
}

#[test]
fn a_second_broker_on_the_same_endpoint_is_refused_and_sigterm_stops_the_first() {
    let mut broker = BrokerProcess::start("twice");
    let out = crate::datahub(&["broker", "--endpoint", broker.endpoint()]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("error[DH221]") && stderr.contains("already listens"),
        "{stderr}"
    );
    assert!(broker.is_running());

    Command::new("kill")
        .args(["-TERM", &broker.child.id().to_string()])
        .status()
        .unwrap();
    let status = broker.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a clean exit on SIGTERM");
    let path = broker.endpoint().strip_prefix("ipc://").unwrap();
    assert!(
        !std::path::Path::new(path).exists(),
        "the socket file is removed"
    );
}
