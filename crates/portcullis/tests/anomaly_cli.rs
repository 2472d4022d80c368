//! `portcullis anomaly` and `portcullis incidents` through the real binary: simulate,
//! replay and score agree; bad input is an error with a line number; incidents are
//! listed, shown, acknowledged and released, and a step that does not apply fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Stdio};

use portcullis_server::anomaly::{Incident, IncidentStatus, IncidentStore, SqliteIncidents};

mod common;
use common::{ok, run, BIN};

#[test]
fn simulate_replay_score() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&run(
        d,
        &[
            "anomaly",
            "simulate",
            "--seed",
            "4",
            "--principals",
            "30",
            "--days",
            "4",
            "--out",
            "e.jsonl",
            "--labels",
            "l.jsonl",
        ],
    ));
    let labels = std::fs::read_to_string(d.join("l.jsonl")).unwrap();
    assert_eq!(labels.lines().count(), 6);
    let events = std::fs::read(d.join("e.jsonl")).unwrap();
    let mut child = Command::new(BIN)
        .args(["anomaly", "replay"])
        .current_dir(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&events));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    let alerts = ok(&out);
    assert!(alerts.lines().count() >= 6, "{alerts}");
    for line in alerts.lines() {
        let a: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            a["features"].as_object().is_some_and(|f| !f.is_empty()),
            "{a}"
        );
    }
    std::fs::write(d.join("a.jsonl"), &alerts).unwrap();
    let table = ok(&run(
        d,
        &[
            "anomaly",
            "score",
            "--labels",
            "l.jsonl",
            "--alerts",
            "a.jsonl",
            "--principal-days",
            "120",
        ],
    ));
    assert!(table.contains("| stolen_key | 1/1 | 1/1 |"), "{table}");
}

#[test]
fn replay_names_the_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["anomaly", "replay"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"ts\": 1, \"decision\": \"allow\", \"principal\": \"a\"}\nnot json\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
}

#[test]
fn incidents_list_show_ack_release() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("p.toml"),
        "[store]\ndata_dir = \"data\"\n[upstreams.builtin]\nkind = \"mock\"\n",
    )
    .unwrap();
    let store = SqliteIncidents::open(&d.join("data").join("portcullis.db")).unwrap();
    store
        .save(&Incident {
            id: "inc_00000000000000aa".into(),
            subject_kind: "principal".into(),
            subject: "alice".into(),
            status: IncidentStatus::Open,
            action: portcullis_anomaly::Action::Quarantine,
            severity: portcullis_anomaly::Severity::Critical,
            kind: "volume".into(),
            opened_ms: 1,
            updated_ms: 1,
            until_ms: None,
            timeline: vec![],
        })
        .unwrap();
    let list = ok(&run(d, &["incidents", "list", "--config", "p.toml"]));
    assert!(
        list.contains("inc_00000000000000aa\topen\tquarantine\tcritical\tprincipal:alice"),
        "{list}"
    );
    ok(&run(
        d,
        &[
            "incidents",
            "ack",
            "--config",
            "p.toml",
            "inc_00000000000000aa",
            "--by",
            "dana",
            "--note",
            "on it",
        ],
    ));
    // Acknowledging twice is refused.
    assert!(!run(
        d,
        &[
            "incidents",
            "ack",
            "--config",
            "p.toml",
            "inc_00000000000000aa"
        ]
    )
    .status
    .success());
    ok(&run(
        d,
        &[
            "incidents",
            "release",
            "--config",
            "p.toml",
            "inc_00000000000000aa",
            "--by",
            "dana",
        ],
    ));
    let shown = ok(&run(
        d,
        &[
            "incidents",
            "show",
            "--config",
            "p.toml",
            "inc_00000000000000aa",
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v["status"], "released");
    let steps: Vec<(&str, &str)> = v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["event"].as_str().unwrap(), t["by"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        vec![("acknowledged", "cli:dana"), ("released", "cli:dana")]
    );
    assert_eq!(v["timeline"][0]["detail"]["note"], "on it");
    // Released incidents leave the default list.
    let list = ok(&run(d, &["incidents", "list", "--config", "p.toml"]));
    assert!(!list.contains("inc_00000000000000aa"), "{list}");
    assert!(
        !run(d, &["incidents", "show", "--config", "p.toml", "inc_nope"])
            .status
            .success()
    );
}
