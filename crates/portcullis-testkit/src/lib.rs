//! Test helpers (not published): a scriptable mock upstream that records what it
//! receives, and a harness that runs the real gateway on ephemeral ports.
// Test support: panicking on a broken fixture is the right failure mode here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod jwt;
pub mod tls;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use http::{header, StatusCode};
use parking_lot::Mutex;
use portcullis_core::config::Config;
use portcullis_core::identity::{generate_key, KeyRecord};
use portcullis_server::Gateway;
use portcullis_store::sqlite::SqliteStore;
use portcullis_store::{DecisionRecord, Store};
use secrecy::ExposeSecret;

/// How the mock upstream answers the next requests.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// A normal answer (JSON, or SSE when the request streams) from the mock model.
    Normal,
    /// Wait this long before sending the response head.
    DelayHead(Duration),
    /// Answer with this status and an error body.
    Status(u16),
    /// Stream these raw chunks with a pause between them.
    Chunks(Vec<Bytes>, Duration),
    /// Stream these chunks, then break the connection.
    ResetAfter(Vec<Bytes>),
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// Answer 200 with this JSON body (`application/json`), e.g. a chat completion with
    /// tool calls.
    Json(serde_json::Value),
    /// Answer 200 with these headers (lower-case name, value) and this body, as they are.
    Raw(Vec<(&'static str, &'static str)>, Bytes),
}

/// One request as the mock upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Path and query.
    pub uri: String,
    /// Headers, lower-case names.
    pub headers: BTreeMap<String, String>,
    /// Body.
    pub body: serde_json::Value,
}

#[derive(Default)]
struct MockState {
    behavior: Mutex<Option<Behavior>>,
    seen: Mutex<Vec<Seen>>,
    /// Set when a chunked response has sent its last chunk.
    finished: Mutex<Vec<std::time::Instant>>,
}

/// A mock OpenAI-compatible upstream on an ephemeral port.
#[derive(Clone)]
pub struct MockUpstream {
    /// Its address.
    pub addr: SocketAddr,
    state: Arc<MockState>,
}

impl MockUpstream {
    /// Starts it.
    pub async fn start() -> Self {
        let state = Arc::new(MockState::default());
        let app = Router::new()
            .fallback(any(handle))
            .with_state(state.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(l, app).await.unwrap();
        });
        Self { addr, state }
    }

    /// The base URL to put in a config.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Sets the behavior for the following requests.
    pub fn set(&self, b: Behavior) {
        *self.state.behavior.lock() = Some(b);
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().clone()
    }

    /// When each chunked stream sent its last chunk.
    pub fn finished(&self) -> Vec<std::time::Instant> {
        self.state.finished.lock().clone()
    }
}

async fn handle(State(st): State<Arc<MockState>>, req: Request) -> Response {
    let uri = req.uri().to_string();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let path = req.uri().path().to_string();
    let body = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    st.seen.lock().push(Seen {
        uri,
        headers,
        body: json,
    });
    let behavior = st.behavior.lock().clone().unwrap_or(Behavior::Normal);
    match behavior {
        Behavior::Normal => {}
        Behavior::DelayHead(d) => tokio::time::sleep(d).await,
        Behavior::Status(s) => {
            return (
                StatusCode::from_u16(s).unwrap(),
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"error":{"message":"internal detail: model secret-internal-model on host 10.0.0.7 failed","type":"server_error"}}"#,
            )
                .into_response()
        }
        Behavior::Garbage => return ([(header::CONTENT_TYPE, "application/json")], "<html>oops").into_response(),
        Behavior::Json(v) => return ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response(),
        Behavior::Raw(headers, body) => {
            let mut r = Response::new(Body::from(body));
            for (k, v) in headers {
                r.headers_mut().insert(
                    http::HeaderName::from_static(k),
                    http::HeaderValue::from_static(v),
                );
            }
            return r;
        }
        Behavior::Chunks(chunks, pause) => {
            let st2 = st.clone();
            let n = chunks.len();
            let s = futures_util::stream::unfold((chunks.into_iter().enumerate(), st2), move |(mut it, st2)| async move {
                let (i, c) = it.next()?;
                if i > 0 {
                    tokio::time::sleep(pause).await;
                }
                if i + 1 == n {
                    st2.finished.lock().push(std::time::Instant::now());
                }
                Some((Ok::<_, std::io::Error>(c), (it, st2)))
            });
            return ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(s)).into_response();
        }
        Behavior::ResetAfter(chunks) => {
            let items: Vec<Result<Bytes, std::io::Error>> = chunks
                .into_iter()
                .map(Ok)
                .chain(std::iter::once(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"))))
                .collect();
            let s = futures_util::stream::unfold(items.into_iter(), |mut it| async move {
                let item = it.next()?;
                tokio::time::sleep(Duration::from_millis(20)).await;
                Some((item, it))
            });
            return ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(s)).into_response();
        }
    }
    // Normal: delegate to the built-in mock model server's logic.
    let limits = portcullis_core::openai::RequestLimits {
        max_tokens_cap: u64::MAX,
        max_messages: usize::MAX,
    };
    if path.ends_with("/embeddings") {
        let req = portcullis_core::openai::EmbeddingsRequest::parse(&body).unwrap();
        return (
            [(header::CONTENT_TYPE, "application/json")],
            portcullis_core::mock::embeddings(&req),
        )
            .into_response();
    }
    let req = portcullis_core::openai::ChatRequest::parse(&body, limits).unwrap();
    if req.is_stream() {
        let events = portcullis_core::mock::chat_stream_events(&req, 0);
        return (
            [(header::CONTENT_TYPE, "text/event-stream")],
            Body::from(events.concat()),
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        portcullis_core::mock::chat_completion(&req, 0),
    )
        .into_response()
}

/// A running gateway on ephemeral ports over a temporary directory.
pub struct TestGateway {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Admin `http://127.0.0.1:PORT`.
    pub admin_url: String,
    /// The store it uses.
    pub store: Arc<dyn Store>,
    /// The directory holding config, policies and data.
    pub dir: tempfile::TempDir,
    /// The admin API token.
    pub admin_token: String,
    /// The shared state (to reload policies, inspect the limiter).
    pub state: Arc<portcullis_server::state::AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestGateway {
    /// Starts a gateway from a config text (without `[server]`/`[admin]`/`[store]`/
    /// `[policy]` sections: the harness adds them) and policy files.
    pub async fn start(config_body: &str, policies: &[(&str, &str)]) -> Self {
        Self::start_with_files(config_body, policies, &[]).await
    }

    /// Like [`TestGateway::start`], writing extra files (e.g. credentials) next to the
    /// config first.
    pub async fn start_with_files(
        config_body: &str,
        policies: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> Self {
        Self::start_with_setup(config_body, policies, files, |_| {}).await
    }

    /// Like [`TestGateway::start_with_files`], running `setup` on the directory (the
    /// database is `data/portcullis.db` under it) before the gateway starts. A
    /// `config_body` with its own `[policy]` or `[store]` section replaces the harness's.
    pub async fn start_with_setup(
        config_body: &str,
        policies: &[(&str, &str)],
        files: &[(&str, &str)],
        setup: impl FnOnce(&std::path::Path),
    ) -> Self {
        Self::start_on(config_body, policies, files, setup, None).await
    }

    /// Like [`TestGateway::start_with_files`] on a given store (several gateways on one
    /// shared store are replicas).
    pub async fn start_on_store(
        config_body: &str,
        policies: &[(&str, &str)],
        files: &[(&str, &str)],
        store: Arc<dyn Store>,
    ) -> Self {
        Self::start_on(config_body, policies, files, |_| {}, Some(store)).await
    }

    async fn start_on(
        config_body: &str,
        policies: &[(&str, &str)],
        files: &[(&str, &str)],
        setup: impl FnOnce(&std::path::Path),
        store: Option<Arc<dyn Store>>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let admin_token = format!("admin-{}", std::process::id());
        std::fs::write(dir.path().join("admin.token"), &admin_token).unwrap();
        let pdir = dir.path().join("policies");
        std::fs::create_dir_all(&pdir).unwrap();
        for (name, text) in policies {
            std::fs::write(pdir.join(name), text).unwrap();
        }
        let policy = if config_body.contains("[policy]") {
            ""
        } else {
            "[policy]\ndir = \"policies\"\n"
        };
        let store_section = if config_body.contains("[store]") {
            ""
        } else {
            "[store]\ndata_dir = \"data\"\n"
        };
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:1\"\n[admin]\nlisten = \"127.0.0.1:2\"\ntoken_file = \"admin.token\"\n{store_section}{policy}{config_body}"
        );
        let path = dir.path().join("portcullis.toml");
        std::fs::write(&path, &text).unwrap();
        setup(dir.path());
        let config = Config::load(&path, &BTreeMap::<String, String>::new()).unwrap();
        let store: Arc<dyn Store> = match store {
            Some(s) => s,
            None => Arc::new(SqliteStore::open(&config.data_dir).unwrap()),
        };
        let gw = Gateway::new(config, store.clone()).unwrap();
        let state = gw.state().clone();
        let data = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", data.local_addr().unwrap());
        let admin_url = format!("http://{}", admin.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            gw.run(data, admin, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            url,
            admin_url,
            admin_token,
            store,
            dir,
            state,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Creates a key; returns (id, full key).
    pub fn key(
        &self,
        principal: &str,
        groups: &[&str],
        expires_at: Option<i64>,
    ) -> (String, String) {
        let g = generate_key();
        self.store
            .put_key(&KeyRecord {
                id: g.id.clone(),
                hash: g.hash,
                principal: principal.into(),
                groups: groups.iter().map(|s| s.to_string()).collect(),
                created_at: 0,
                expires_at,
                revoked_at: None,
            })
            .unwrap();
        (g.id, g.key.expose_secret().to_string())
    }

    /// The policy directory.
    pub fn policy_dir(&self) -> PathBuf {
        self.dir.path().join("policies")
    }

    /// Waits (up to 5 s) for the decision record of a request id.
    pub async fn decision(&self, request_id: &str) -> DecisionRecord {
        for _ in 0..500 {
            if let Some(d) = self
                .store
                .recent_decisions(10_000)
                .unwrap()
                .into_iter()
                .find(|d| d.request_id == request_id)
            {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "no decision record for request {request_id}: {:?}",
            self.store.recent_decisions(10)
        );
    }

    /// Waits (up to 5 s) for a decision record matching `pred`.
    pub async fn wait_decision(&self, pred: impl Fn(&DecisionRecord) -> bool) -> DecisionRecord {
        for _ in 0..500 {
            if let Some(d) = self
                .store
                .recent_decisions(10_000)
                .unwrap()
                .into_iter()
                .find(|d| pred(d))
            {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "no matching decision record: {:?}",
            self.store.recent_decisions(10)
        );
    }

    /// Waits until every decision record and audit event of the requests answered so
    /// far is in the store (with the audit log on, events reach it from the audit
    /// journal a few milliseconds after the response): call before reading them from
    /// `store`.
    pub async fn flush_audit(&self) {
        self.state.decisions.flush().await;
    }

    /// Stops the gateway and waits for it (flushing decision records).
    pub async fn stop(self) {
        drop(self.stop_keeping_dir().await);
    }

    /// Stops the gateway like [`TestGateway::stop`] and hands back its directory
    /// (config, data) to inspect or restart from; it is deleted when dropped.
    pub async fn stop_keeping_dir(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // The state handle held here must go before the writer can finish.
        let task = self.task.take();
        drop(self.state);
        drop(self.store);
        if let Some(t) = task {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        self.dir
    }
}

/// Writes a file (for tests that change policies on disk).
pub fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}
