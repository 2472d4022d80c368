//! The binary's commands, run as a user would: `check` errors name file, line and
//! reason; `keys` prints the key alone on the last line; `version`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

const GOOD_POLICY: &str =
    "@id(\"all\")\npermit(principal in Portcullis::Group::\"g\", action, resource);\n";

fn setup(config: &str, policy: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.toml"), config).unwrap();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/main.cedar"), policy).unwrap();
    dir
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("PORTCULLIS_TEST_MISSING")
        .output()
        .unwrap()
}

const BASE: &str = "[store]\ndata_dir = \"data\"\n[upstreams.m]\nkind = \"mock\"\n[models.mock-model]\nupstream = \"m\"\n";

#[test]
fn check_accepts_a_good_config() {
    let dir = setup(BASE, GOOD_POLICY);
    let out = run(dir.path(), &["check", "--config", "p.toml"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 policies"));
}

#[test]
fn check_names_file_line_and_reason() {
    let cases = [
        (format!("{BASE}[server]\nlisten = \"127.0.0.1:1\"\nlistn = 1\n"), GOOD_POLICY.to_string(), "p.toml:9:", "unknown field `listn`"),
        (format!("[server]\nlisten = \"${{PORTCULLIS_TEST_MISSING}}\"\n{BASE}"), GOOD_POLICY.to_string(), "p.toml:2:", "PORTCULLIS_TEST_MISSING"),
        (BASE.to_string(), format!("{GOOD_POLICY}\npermit(principal, action, resource) when {{ context.max_tokenz > 1 }};\n"), "main.cedar:4:", "schema"),
        (BASE.to_string(), "permit(principal, action, resource)\n".to_string(), "main.cedar:1:", "syntax"),
    ];
    for (config, policy, location, reason) in cases {
        let dir = setup(&config, &policy);
        let out = run(dir.path(), &["check", "--config", "p.toml"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "should fail: {config}");
        assert!(err.contains(location), "want {location} in: {err}");
        assert!(err.contains(reason), "want {reason} in: {err}");
    }
}

#[test]
fn check_reports_missing_upstream_credential_without_echoing_secrets() {
    let config = "[upstreams.o]\nbase_url = \"https://api.example.com/v1\"\napi_key_env = \"PORTCULLIS_TEST_MISSING\"\n[models.x]\nupstream = \"o\"\n";
    let dir = setup(config, GOOD_POLICY);
    let out = run(dir.path(), &["check", "--config", "p.toml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PORTCULLIS_TEST_MISSING"));
}

#[test]
fn plaintext_credentials_only_under_dangerous() {
    let config = format!("{BASE}[upstreams.o]\nbase_url = \"https://api.example.com/v1\"\napi_key = \"sk-live-1234\"\n");
    let dir = setup(&config, GOOD_POLICY);
    let out = run(dir.path(), &["check", "--config", "p.toml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("unknown field `api_key`"), "{err}");
    assert!(!err.contains("sk-live-1234"), "secret echoed: {err}");
}

#[test]
fn keys_create_list_revoke() {
    let dir = setup(BASE, GOOD_POLICY);
    let out = run(
        dir.path(),
        &[
            "keys",
            "create",
            "--config",
            "p.toml",
            "--principal",
            "alice",
            "--group",
            "g",
            "--expires",
            "30d",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.lines().last().unwrap();
    assert!(key.starts_with("pc_") && key.len() == 84, "{key}");
    let id = &key[3..19];
    let list =
        String::from_utf8(run(dir.path(), &["keys", "list", "--config", "p.toml"]).stdout).unwrap();
    assert!(
        list.contains(id) && list.contains("alice") && list.contains("active"),
        "{list}"
    );
    assert!(!list.contains(&key[20..]), "the secret is never listed");
    assert!(
        run(dir.path(), &["keys", "revoke", "--config", "p.toml", id])
            .status
            .success()
    );
    let list =
        String::from_utf8(run(dir.path(), &["keys", "list", "--config", "p.toml"]).stdout).unwrap();
    assert!(list.contains("revoked"), "{list}");
    assert!(
        !run(dir.path(), &["keys", "revoke", "--config", "p.toml", id])
            .status
            .success()
    );
    let bad = run(
        dir.path(),
        &[
            "keys",
            "create",
            "--config",
            "p.toml",
            "--principal",
            "bad name",
        ],
    );
    assert!(!bad.status.success());
}

#[test]
fn version() {
    let out = run(Path::new("."), &["version"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("portcullis "));
}

#[test]
fn serve_stops_promptly_on_sigterm_and_keeps_records() {
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, admin) = (free_port(), free_port());
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n{BASE}[bootstrap.demo_key]\nprincipal = \"demo\"\ngroups = [\"g\"]\n"
    );
    let dir = setup(&config, GOOD_POLICY);
    let mut child = Command::new(BIN)
        .args(["serve", "--config", "p.toml"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let key_file = dir.path().join("data/demo.key");
    let start = std::time::Instant::now();
    while !key_file.exists() && start.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let key = std::fs::read_to_string(&key_file).unwrap();
    // One request, over a raw socket to keep the test free of HTTP client crates.
    let body = r#"{"model":"mock-model","messages":[{"role":"user","content":"hi"}]}"#;
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        key.trim(),
        body.len()
    );
    // The demo key is written just before the listener binds: retry briefly.
    let mut s = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) if start.elapsed() > std::time::Duration::from_secs(10) => panic!("{e}"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    };
    std::io::Write::write_all(&mut s, req.as_bytes()).unwrap();
    let mut resp = String::new();
    std::io::Read::read_to_string(&mut s, &mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");

    let t = std::time::Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "serve did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The decision record of the request was written before exit.
    use portcullis_store::Store;
    let store = portcullis_store::sqlite::SqliteStore::open(&dir.path().join("data")).unwrap();
    let records = store.recent_decisions(10).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].decision, "allow");
}

fn scan(input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("scan")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn scan_reports_findings_with_byte_offsets() {
    // Multi-byte text before the findings: offsets are bytes into the UTF-8 text.
    let text = "Grüße — mail jane.doe@example.com, key ghp_R8xVq2Lm9TzK4wN7pYc3HbJd6FsA1eGu5Xo0";
    let input = format!(
        "{}\n\n{}\n",
        serde_json::json!({"id": "a", "text": text}),
        serde_json::json!({"id": 7, "text": "What is the capital of France?"})
    );
    let out = scan(&input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "one line per input, blank lines skipped");
    let a = &lines[0];
    assert_eq!(a["id"], "a");
    assert_eq!(a["action"], "redact");
    let f = a["findings"].as_array().unwrap();
    let span = |t: &str| {
        let x = f.iter().find(|x| x["type"] == t).unwrap();
        let (s, e) = (
            x["start"].as_u64().unwrap() as usize,
            x["end"].as_u64().unwrap() as usize,
        );
        &text[s..e]
    };
    assert_eq!(span("EMAIL"), "jane.doe@example.com");
    assert_eq!(span("SECRET"), "ghp_R8xVq2Lm9TzK4wN7pYc3HbJd6FsA1eGu5Xo0");
    let s = &a["scores"];
    assert!(s["injection"].as_f64().unwrap() >= 0.0 && s["jailbreak"].as_f64().unwrap() <= 1.0);
    assert_eq!(lines[1]["id"], 7);
    assert_eq!(lines[1]["findings"].as_array().unwrap().len(), 0);
}

#[test]
fn scan_names_the_bad_input_line() {
    let out = scan("{\"id\": 1, \"text\": \"ok\"}\n{\"id\": 2}\n");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("text"), "{err}");
}
