//! The audit log's durability promise, tested the hard way: the real binary serves a
//! load of concurrent requests (plain and streamed) with `[audit]` on, is killed with
//! SIGKILL in the middle of it, and restarted on the same data directory. Every request
//! that got a complete `200` before the kill must have its event in the log (matched by
//! the `x-request-id` header), `portcullis audit verify` must pass, and the restarted
//! gateway must keep serving and appending to the same log. Bodies are stored too
//! (`store_bodies`), and must be there, committed with their leaves.
//!
//! HTTP is spoken over raw sockets (`Connection: close`, one request per connection) so
//! the test can tell a complete response (all of `Content-Length`, or the final
//! zero-length chunk) from one cut off by the kill.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::{ok, run, BIN};

/// Generous: the machine running this may be a busy 2-core box.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(60);
const CLIENTS: usize = 16;
const PER_CLIENT: usize = 40;
/// Kill once this many requests have completed (or after `KILL_AFTER`).
const KILL_AT: usize = 200;
const KILL_AFTER: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes the config with fresh ports; returns the data port.
fn write_config(dir: &Path) -> u16 {
    let (port, admin) = (free_port(), free_port());
    let config = format!(
        r#"[server]
listen = "127.0.0.1:{port}"
[admin]
listen = "127.0.0.1:{admin}"
[store]
data_dir = "data"
[log]
level = "warn"
[upstreams.m]
kind = "mock"
[models.mock-model]
upstream = "m"
[bootstrap.demo_key]
principal = "demo"
groups = ["g"]
[audit]
signing_key_file = "audit.key"
checkpoint_interval = "200ms"
store_bodies = true
body_key_file = "body.key"
"#
    );
    std::fs::write(dir.join("p.toml"), config).unwrap();
    port
}

fn spawn(dir: &Path, log: &str) -> Child {
    Command::new(BIN)
        .args(["serve", "--config", "p.toml"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).unwrap())
        .spawn()
        .unwrap()
}

/// Waits until the gateway answers a request; returns the demo key.
fn wait_ready(dir: &Path, port: u16, child: &mut Child) -> String {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "gateway exited early ({status}): {}",
                std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default()
            );
        }
        if let Ok(key) = std::fs::read_to_string(dir.join("data/demo.key")) {
            if let Outcome::Complete { status: 200, .. } = request(port, key.trim(), false) {
                return key.trim().to_string();
            }
        }
        assert!(
            start.elapsed() < START_TIMEOUT,
            "gateway not ready in {START_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Debug)]
enum Outcome {
    /// A whole response arrived.
    Complete { status: u16, request_id: String },
    /// The request was sent (at least in part) but the response was cut off or never
    /// came.
    Interrupted,
    /// Could not connect.
    Refused,
}

fn request(port: u16, key: &str, stream: bool) -> Outcome {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return Outcome::Refused;
    };
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let body = format!(
        r#"{{"model":"mock-model","messages":[{{"role":"user","content":"crash test"}}],"max_tokens":16,"stream":{stream}}}"#
    );
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return Outcome::Interrupted;
    }
    let mut raw = Vec::new();
    if s.read_to_end(&mut raw).is_err() {
        return Outcome::Interrupted;
    }
    parse(&raw).unwrap_or(Outcome::Interrupted)
}

/// A complete HTTP/1.1 response, or `None` when it was cut short.
fn parse(raw: &[u8]) -> Option<Outcome> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut request_id = None;
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        let (name, value) = l.split_once(':')?;
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "x-request-id" => request_id = Some(value.to_string()),
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let content = if chunked {
        dechunk(body)?
    } else {
        if body.len() != length? {
            return None;
        }
        body.to_vec()
    };
    if status == 200 {
        // A whole answer: a JSON completion, or a stream through `[DONE]`.
        let text = String::from_utf8_lossy(&content);
        let whole = if chunked {
            text.contains("data: [DONE]")
        } else {
            serde_json::from_slice::<serde_json::Value>(&content)
                .ok()
                .is_some_and(|v| v["choices"].is_array())
        };
        assert!(whole, "a complete 200 with a bad body: {text}");
    }
    Some(Outcome::Complete {
        status,
        request_id: request_id?,
    })
}

/// Decodes a chunked body; `None` unless it ends with the zero-length chunk.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return b.starts_with(b"\r\n").then_some(out);
        }
        if b.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

#[test]
fn every_answered_request_survives_sigkill_and_the_log_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/main.cedar"),
        "@id(\"all\")\npermit(principal in Portcullis::Group::\"g\", action, resource);\n",
    )
    .unwrap();
    let vkey = ok(&run(dir, &["audit", "keygen", "--out", "audit.key"]))
        .trim()
        .to_string();
    std::fs::write(dir.join("vkey"), &vkey).unwrap();
    ok(&run(dir, &["audit", "body-keygen", "--out", "body.key"]));

    // 1. Load, then SIGKILL in the middle of it.
    let port = write_config(dir);
    let mut child = spawn(dir, "gateway.log");
    let key = wait_ready(dir, port, &mut child);

    let completed = Arc::new(Mutex::new(Vec::<(String, bool)>::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let interrupted = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (completed, done, interrupted, stop, key) = (
                completed.clone(),
                done.clone(),
                interrupted.clone(),
                stop.clone(),
                key.clone(),
            );
            std::thread::spawn(move || {
                for i in 0..PER_CLIENT {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    // Every fourth request streams.
                    let stream = (c + i) % 4 == 0;
                    match request(port, &key, stream) {
                        Outcome::Complete { status, request_id } => {
                            assert_eq!(status, 200, "request {request_id} refused before the kill");
                            completed.lock().unwrap().push((request_id, stream));
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                        Outcome::Interrupted => {
                            interrupted.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        Outcome::Refused => break,
                    }
                }
            })
        })
        .collect();
    let t = Instant::now();
    while done.load(Ordering::SeqCst) < KILL_AT && t.elapsed() < KILL_AFTER {
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix: no drain, no last checkpoint.
    let at_kill = done.load(Ordering::SeqCst);
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let completed = completed.lock().unwrap().clone();
    assert!(
        at_kill >= 20,
        "too few requests completed before the kill ({at_kill}): the gateway was not under load"
    );
    assert!(
        completed.len() < CLIENTS * PER_CLIENT,
        "the kill came after the load had finished"
    );
    eprintln!(
        "killed after {at_kill} completed responses; {} complete in all ({} streamed), {} cut off by the kill",
        completed.len(),
        completed.iter().filter(|c| c.1).count(),
        interrupted.load(Ordering::SeqCst)
    );

    // 2. The log as the kill left it verifies, and holds every answered request.
    let out = ok(&run(dir, &["audit", "verify", "--config", "p.toml"]));
    assert!(out.starts_with("ok: "), "{out}");
    let logged = |dir: &Path| -> HashSet<String> {
        ok(&run(dir, &["audit", "query", "--config", "p.toml"]))
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["event"]["request_id"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let before = logged(dir);
    let missing: Vec<_> = completed
        .iter()
        .filter(|(id, _)| !before.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} answered requests have no event in the log: {missing:?}",
        missing.len()
    );
    // Plus the readiness probe; requests cut off by the kill may be there too.
    assert!(before.len() > completed.len(), "{} events", before.len());

    // 3. Restart on the same data directory: the gateway reopens the log (refusing it
    //    if it no longer matched its last checkpoint), serves, and appends.
    let port = write_config(dir);
    let mut child = spawn(dir, "gateway2.log");
    let key = wait_ready(dir, port, &mut child);
    let mut after = Vec::new();
    for i in 0..20 {
        match request(port, &key, i % 2 == 0) {
            Outcome::Complete {
                status: 200,
                request_id,
            } => after.push(request_id),
            other => panic!("after the restart: {other:?}"),
        }
    }
    // Verify while it is running (another process, reading the same database)...
    let out = ok(&run(dir, &["audit", "verify", "--config", "p.toml"]));
    assert!(out.starts_with("ok: "), "{out}");
    // ...and after a clean stop, which signs a last checkpoint over everything.
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < START_TIMEOUT, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = ok(&run(
        dir,
        &["audit", "verify", "--config", "p.toml", "--vkey", "vkey"],
    ));
    assert!(out.starts_with("ok: "), "{out}");
    assert!(
        !out.contains("not covered"),
        "the last checkpoint covers the whole log: {out}"
    );
    let all = logged(dir);
    assert!(
        after.iter().all(|id| all.contains(id)),
        "post-restart events"
    );
    assert!(completed.iter().all(|(id, _)| all.contains(id)));
    assert_eq!(
        all.len(),
        before.len() + after.len() + 1,
        "one readiness probe"
    );

    // The encrypted bodies were committed with the leaves: every answered request has
    // both, and they decrypt and match the hashes in the leaves.
    let db = rusqlite::Connection::open(dir.join("data/portcullis.db")).unwrap();
    let mut st = db
        .prepare("SELECT event_id FROM audit_bodies WHERE part = ?1")
        .unwrap();
    for part in ["request", "response"] {
        let stored: HashSet<String> = st
            .query_map([part], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let missing = completed
            .iter()
            .filter(|(id, _)| !stored.contains(id))
            .count();
        assert_eq!(
            missing, 0,
            "{missing} answered requests without a stored {part} body"
        );
    }
    for (id, stream) in completed.iter().step_by(completed.len() / 8 + 1) {
        let body = ok(&run(
            dir,
            &[
                "audit", "body", "--config", "p.toml", "--part", "response", id,
            ],
        ));
        assert!(
            if *stream {
                body.contains("data: [DONE]")
            } else {
                body.contains("\"choices\"")
            },
            "{body}"
        );
    }
}
