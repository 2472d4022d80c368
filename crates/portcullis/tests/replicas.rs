//! Several gateway processes on one PostgreSQL database and one Redis, as operators run
//! them behind a load balancer: a key revoked through one is refused by every replica
//! within a second, and killing the audit sequencer with SIGKILL under load loses no
//! acknowledged event: another replica takes over within 5 s and `audit verify` passes.
//! Runs when both `PORTCULLIS_TEST_POSTGRES` and `PORTCULLIS_TEST_REDIS` are set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_audit::note::NoteSigner;
use portcullis_store::postgres::PostgresStore;
use portcullis_store::testing::TestPostgres;
use portcullis_store::Store;
use secrecy::ExposeSecret;

mod common;
use common::{ok, BIN};

const START_TIMEOUT: Duration = Duration::from_secs(60);
const SEQUENCER_LINE: &str = "now the audit log's sequencer";

const POLICY: &str = r#"
@id("team")
permit (principal in Portcullis::Group::"team", action, resource);
"#;

struct Cluster {
    dir: tempfile::TempDir,
    db: TestPostgres,
    redis: String,
    prefix: String,
    audit: bool,
    replicas: Vec<Replica>,
}

struct Replica {
    child: Child,
    port: u16,
    config: PathBuf,
    log: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn env() -> Option<(TestPostgres, String)> {
    let db = TestPostgres::or_skip("replicas")?;
    match std::env::var("PORTCULLIS_TEST_REDIS") {
        Ok(r) if !r.is_empty() => Some((db, r)),
        _ => {
            eprintln!("replicas: skipped (PORTCULLIS_TEST_REDIS is not set)");
            None
        }
    }
}

impl Cluster {
    fn new(db: TestPostgres, redis: String, audit: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("policies")).unwrap();
        std::fs::write(dir.path().join("policies/p.cedar"), POLICY).unwrap();
        std::fs::write(dir.path().join("admin.token"), "replica-admin-token").unwrap();
        let signer = NoteSigner::generate("replicas.test/audit").unwrap();
        std::fs::write(
            dir.path().join("audit.key"),
            signer.to_skey().expose_secret(),
        )
        .unwrap();
        Self {
            dir,
            db,
            redis,
            prefix: format!("pcrep-{}", hex_id()),
            audit,
            replicas: Vec::new(),
        }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Starts replica number `self.replicas.len()` and waits until it serves.
    fn start(&mut self, key: Option<&str>) -> usize {
        let i = self.replicas.len();
        let (port, admin) = (free_port(), free_port());
        let audit = if self.audit {
            "[audit]\nsigning_key_file = \"audit.key\"\norigin = \"replicas.test/audit\"\ncheckpoint_interval = \"1s\"\n"
        } else {
            ""
        };
        let config = format!(
            r#"[server]
listen = "127.0.0.1:{port}"
[admin]
listen = "127.0.0.1:{admin}"
token_file = "admin.token"
[store]
kind = "postgres"
url_env = "PORTCULLIS_TEST_DB_URL"
schema = "{schema}"
data_dir = "data{i}"
[log]
level = "info"
[redis]
url = "{redis}"
key_prefix = "{prefix}"
timeout = "2s"
[policy]
dir = "policies"
[upstreams.m]
kind = "mock"
[models.mock-model]
upstream = "m"
[guards]
enabled = false
{audit}"#,
            schema = self.db.schema(),
            redis = self.redis,
            prefix = self.prefix,
        );
        let config_path = self.path().join(format!("r{i}.toml"));
        std::fs::write(&config_path, config).unwrap();
        let log = self.path().join(format!("r{i}.log"));
        let child = Command::new(BIN)
            .args(["serve", "--config", config_path.to_str().unwrap()])
            .current_dir(self.path())
            .env("PORTCULLIS_TEST_DB_URL", self.db.url().expose_secret())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        self.replicas.push(Replica {
            child,
            port,
            config: config_path,
            log,
        });
        let t0 = Instant::now();
        loop {
            let r = &mut self.replicas[i];
            if let Some(status) = r.child.try_wait().unwrap() {
                panic!(
                    "replica {i} exited ({status}): {}",
                    std::fs::read_to_string(&r.log).unwrap_or_default()
                );
            }
            let up = match key {
                Some(k) => status(port, k) == 200,
                None => std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            };
            if up {
                return i;
            }
            assert!(t0.elapsed() < START_TIMEOUT, "replica {i} not ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(self.path())
            .env("PORTCULLIS_TEST_DB_URL", self.db.url().expose_secret())
            .output()
            .unwrap();
        ok(&out)
    }

    /// A key for `alice` in group `team`; (id, key).
    fn key(&self) -> (String, String) {
        // The database is migrated; any replica's config reaches it.
        let out = self.cli(&[
            "keys",
            "create",
            "-c",
            "r0.toml",
            "--principal",
            "alice",
            "--group",
            "team",
        ]);
        let id = out
            .lines()
            .find_map(|l| l.strip_prefix("created key "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_string();
        (id, out.lines().last().unwrap().trim().to_string())
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.replicas[i].log).unwrap_or_default()
    }
}

fn hex_id() -> String {
    format!("{:012x}", rand_u64() & 0xffff_ffff_ffff)
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

/// One chat request; the status (0 when the replica could not be reached or the answer
/// was cut short) and the request id of a complete answer.
fn chat(port: u16, key: &str) -> (u16, Option<String>) {
    post(port, key).unwrap_or((0, None))
}

fn status(port: u16, key: &str) -> u16 {
    chat(port, key).0
}

/// HTTP/1.1 over a raw socket with `Connection: close`: a response counts only when it
/// arrived whole.
fn post(port: u16, key: &str) -> Option<(u16, Option<String>)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let body = r#"{"model":"mock-model","messages":[{"role":"user","content":"replica test"}],"max_tokens":8}"#;
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let mut id = None;
    let mut length = None;
    for l in head.split("\r\n").skip(1) {
        let (n, v) = l.split_once(':')?;
        match n.to_ascii_lowercase().as_str() {
            "x-request-id" => id = Some(v.trim().to_string()),
            "content-length" => length = v.trim().parse::<usize>().ok(),
            _ => {}
        }
    }
    // A body cut short by a kill is not an answer.
    if length != Some(raw.len() - split - 4) {
        return None;
    }
    Some((status, id))
}

#[test]
fn a_key_revoked_through_one_replica_is_refused_by_all_within_a_second() {
    let Some((db, redis)) = env() else { return };
    let mut c = Cluster::new(db, redis, false);
    c.start(None);
    let (id, key) = c.key();
    c.start(Some(&key));
    c.start(Some(&key));
    for r in &c.replicas {
        assert_eq!(status(r.port, &key), 200);
    }
    c.cli(&["keys", "revoke", "-c", "r1.toml", &id]);
    let revoked = Instant::now();
    let mut took = Vec::new();
    for (i, r) in c.replicas.iter().enumerate() {
        loop {
            let s = status(r.port, &key);
            if s == 401 {
                took.push(revoked.elapsed());
                break;
            }
            assert_eq!(s, 200, "replica {i}");
            assert!(
                revoked.elapsed() < Duration::from_secs(5),
                "replica {i} still accepts the revoked key"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let worst = took.iter().max().unwrap();
    eprintln!("revocation seen by every replica after {took:?}");
    assert!(
        *worst < Duration::from_secs(1),
        "a replica took {worst:?} to refuse the revoked key"
    );
}

#[test]
fn killing_the_sequencer_under_load_loses_no_acknowledged_event() {
    let Some((db, redis)) = env() else { return };
    let mut c = Cluster::new(db, redis, true);
    c.start(None);
    let (_, key) = c.key();
    // The first replica takes the sequencer's lease; wait until it says so.
    let t0 = Instant::now();
    while !c.log(0).contains(SEQUENCER_LINE) {
        assert!(t0.elapsed() < START_TIMEOUT, "no sequencer: {}", c.log(0));
        std::thread::sleep(Duration::from_millis(50));
    }
    c.start(Some(&key));
    c.start(Some(&key));
    let ports: Vec<u16> = c.replicas.iter().map(|r| r.port).collect();

    // Load on all three from eight clients until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for n in 0..8 {
        let (stop, acked, ports, key) = (stop.clone(), acked.clone(), ports.clone(), key.clone());
        clients.push(std::thread::spawn(move || {
            let mut i = n;
            while !stop.load(Ordering::SeqCst) {
                if let (200, Some(id)) = chat(ports[i % ports.len()], &key) {
                    acked.lock().unwrap().push(id);
                }
                i += 1;
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(2));
    let before_kill = acked.lock().unwrap().len();
    assert!(before_kill > 20, "too little load: {before_kill}");
    c.replicas[0].child.kill().unwrap(); // SIGKILL
    let killed = Instant::now();
    c.replicas[0].child.wait().unwrap();
    // Another replica takes the lease.
    let took = loop {
        if c.log(1).contains(SEQUENCER_LINE) || c.log(2).contains(SEQUENCER_LINE) {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "no replica took over: {}\n{}",
            c.log(1),
            c.log(2)
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    for t in clients {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    eprintln!(
        "sequencer failover after {took:?}; {} requests answered ({before_kill} before the kill)",
        acked.len()
    );
    assert!(took < Duration::from_secs(5), "takeover took {took:?}");
    assert!(acked.len() > before_kill, "the survivors kept serving");

    // Every answered request is in the log exactly once.
    let store = PostgresStore::open(&c.db.config()).unwrap();
    let t0 = Instant::now();
    while store.audit_pending_count().unwrap() > 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "events stay unsequenced"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let size = store.audit_size().unwrap();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for l in store.audit_leaves(0, size).unwrap() {
        *count.entry(l.leaf.event_id).or_default() += 1;
    }
    let missing: Vec<_> = acked.iter().filter(|id| !count.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} answered requests not in the log: {missing:?}",
        missing.len()
    );
    let twice: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "events in the log twice: {twice:?}");

    // The new sequencer signs the whole log on its 1 s schedule; then it all verifies.
    let t0 = Instant::now();
    while store
        .latest_audit_checkpoint()
        .unwrap()
        .is_none_or(|cp| cp.size < size)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "no checkpoint of the whole log"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let config = c.replicas[1].config.to_str().unwrap().to_string();
    let out = c.cli(&["audit", "verify", "--config", &config]);
    eprintln!("{out}");
}
