//! Change management on the admin API (behind the admin token): the model registry and
//! policy bundles, with the same rules as `portcullis model ...` / `portcullis policy
//! ...` and the approver set and trusted keys of `[integrity]`.
//!
//! Approvals are submitted as signed notes made offline by the approver (`portcullis
//! model approval-sign`, `portcullis policy approval-sign`): approvers are identified by
//! their keys, and the gateway never holds an approver's private key. Each change is an
//! audit event (actor `admin`, identity kind `admin_token`).
//!
//! | method and path | does |
//! | --- | --- |
//! | `GET /registry/models` | every version: name, version, state, digest, valid approvals, and what the gateway serves |
//! | `GET /registry/models/{name}/{version}` | one version: the canonical record (what approvers sign), state, approvals |
//! | `POST /registry/models/{name}/{version}/approvals` | body: a signed approval note |
//! | `POST /registry/models/{name}/{version}/activate` | activate an approved version (approvals and files re-checked) |
//! | `POST /registry/models/{name}/{version}/retire` | retire it |
//! | `GET /policy/bundles` | every bundle version: state, digest |
//! | `GET /policy/bundles/{v}` | one bundle: its canonical JSON (what approvers sign), state, approvals |
//! | `POST /policy/bundles` | propose: `{"files":[{"name","text"}],"note","proposed_by"}` |
//! | `POST /policy/bundles/{v}/approvals` | body: a signed approval note |
//! | `POST /policy/bundles/{v}/activate` | activate an approved version |
//! | `POST /policy/rollback[?to=N]` | activate an earlier approved version |
//! | `GET /policy/diff?from=A&to=B` | unified diff |

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use portcullis_audit::EventKind;
use portcullis_integrity::policy_bundle::{
    self, BundleError, BundleFile, BundleStore, StoredBundle,
};
use portcullis_integrity::registry::AnyRegistryStore;
use portcullis_integrity::registry::{ApprovalPolicy, Listed, Registry};
use portcullis_integrity::{Error as IntegrityError, ModelPublicKey, RegistryError};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::state::{unix_now, AppState};

/// The routes (merged into the protected admin router).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/registry/models", get(models_list))
        .route("/registry/models/{name}/{version}", get(model_show))
        .route(
            "/registry/models/{name}/{version}/approvals",
            post(model_approve),
        )
        .route(
            "/registry/models/{name}/{version}/activate",
            post(model_activate),
        )
        .route(
            "/registry/models/{name}/{version}/retire",
            post(model_retire),
        )
        .route("/policy/bundles", get(bundles_list).post(bundle_propose))
        .route("/policy/bundles/{v}", get(bundle_show))
        .route("/policy/bundles/{v}/approvals", post(bundle_approve))
        .route("/policy/bundles/{v}/activate", post(bundle_activate))
        .route("/policy/rollback", post(bundle_rollback))
        .route("/policy/diff", get(bundle_diff))
}

/// A refused or failed change, as `{"error": {"message": ...}}`.
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": {"message": self.1}}))).into_response()
    }
}

impl From<IntegrityError> for Refused {
    fn from(e: IntegrityError) -> Self {
        let status = match &e {
            IntegrityError::Registry(RegistryError::NotFound { .. }) => StatusCode::NOT_FOUND,
            IntegrityError::Registry(
                RegistryError::UnknownApprover(_)
                | RegistryError::DuplicateApprover(_)
                | RegistryError::BadApproval { .. }
                | RegistryError::ReplayedApproval { .. }
                | RegistryError::Expired { .. },
            ) => StatusCode::BAD_REQUEST,
            _ => StatusCode::CONFLICT,
        };
        Refused(status, e.to_string())
    }
}

impl From<BundleError> for Refused {
    fn from(e: BundleError) -> Self {
        let status = match &e {
            BundleError::NotFound(_) => StatusCode::NOT_FOUND,
            BundleError::BadApproval { .. }
            | BundleError::DuplicateApprover { .. }
            | BundleError::Files { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::CONFLICT,
        };
        Refused(status, e.to_string())
    }
}

type Reply = Result<Json<Value>, Refused>;

fn unavailable(e: impl std::fmt::Display) -> Refused {
    Refused(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

/// The approver set and trusted keys of `[integrity]`.
fn settings(st: &AppState) -> Result<(ApprovalPolicy, Vec<ModelPublicKey>), Refused> {
    let Some(ic) = &st.config.integrity else {
        return Err(Refused(
            StatusCode::NOT_FOUND,
            "change management needs an [integrity] section in the configuration".into(),
        ));
    };
    let policy = crate::integrity::approval_policy(ic).map_err(unavailable)?;
    let keys = ic
        .trusted_signers
        .iter()
        .map(|p| ModelPublicKey::from_pem_file(p).map_err(unavailable))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((policy, keys))
}

fn registry(st: &AppState) -> Result<Registry<AnyRegistryStore>, Refused> {
    crate::shared_db::open_registry(&st.config, &st.config.data_dir.join("portcullis.db"))
        .map_err(unavailable)
}

fn bundles(st: &AppState) -> Result<BundleStore, Refused> {
    crate::shared_db::open_bundles(&st.config, &st.config.data_dir.join("portcullis.db"))
        .map_err(unavailable)
}

fn record(st: &AppState, kind: EventKind, action: &str, target: &str) {
    if !st.audit_on() {
        return;
    }
    let e = crate::audit::control_event(
        kind,
        unix_now().saturating_mul(1000),
        "admin",
        "admin_token",
        action,
        target,
    );
    if !st.decisions.audit_event(e) {
        tracing::error!(%action, %target, "audit event for an admin change was not queued");
    }
}

/// Runs blocking registry work off the async workers.
async fn blocking(st: Arc<AppState>, f: impl FnOnce(&AppState) -> Reply + Send + 'static) -> Reply {
    tokio::task::spawn_blocking(move || f(&st))
        .await
        .unwrap_or_else(|e| Err(unavailable(e)))
}

async fn models_list(State(st): State<Arc<AppState>>) -> Reply {
    blocking(st, |st| {
        let (policy, _) = settings(st)?;
        let reg = registry(st)?;
        let mut out = Vec::new();
        for l in reg.list()? {
            match l {
                Listed::Version(v) => {
                    let id = v.record.id();
                    let served = st
                        .integrity
                        .as_ref()
                        .and_then(|g| g.served(&v.record.name))
                        .is_some_and(|s| s == id);
                    out.push(json!({
                        "name": v.record.name, "version": v.record.version,
                        "state": v.state.as_str(), "digest": v.digest,
                        "approvals": reg.valid_approvers(&v, &policy),
                        "needed": policy.threshold(), "served": served,
                    }));
                }
                Listed::Unreadable {
                    name,
                    version,
                    error,
                } => out.push(json!({"name": name, "version": version, "error": error})),
            }
        }
        Ok(Json(json!({"versions": out})))
    })
    .await
}

async fn model_show(
    State(st): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Reply {
    blocking(st, move |st| {
        let (policy, _) = settings(st)?;
        let reg = registry(st)?;
        let v = reg.get(&name, &version)?;
        Ok(Json(json!({
            "record": v.record.canonical_json(), "digest": v.digest,
            "state": v.state.as_str(), "state_reason": v.state_reason,
            "approvals": reg.valid_approvers(&v, &policy), "needed": policy.threshold(),
        })))
    })
    .await
}

async fn model_approve(
    State(st): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
    note: String,
) -> Reply {
    blocking(st, move |st| {
        let (policy, _) = settings(st)?;
        let mut reg = registry(st)?;
        let state = reg.submit_approval(&name, &version, &note, &policy, unix_now())?;
        let v = reg.get(&name, &version)?;
        let have = reg.valid_approvers(&v, &policy);
        record(
            st,
            EventKind::ModelChanged,
            "model.approve",
            &format!(
                "{name}@{version} sha256:{} approvals {}: {state}",
                v.digest,
                have.join(",")
            ),
        );
        Ok(Json(
            json!({"state": state.as_str(), "approvals": have, "needed": policy.threshold()}),
        ))
    })
    .await
}

async fn model_activate(
    State(st): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Reply {
    blocking(st, move |st| {
        let (policy, keys) = settings(st)?;
        registry(st)?.activate(&name, &version, &policy, &keys, "admin", unix_now())?;
        record(
            st,
            EventKind::ModelChanged,
            "model.activate",
            &format!("{name}@{version} by admin"),
        );
        Ok(Json(json!({"state": "active"})))
    })
    .await
}

#[derive(Deserialize)]
struct RetireQuery {
    reason: Option<String>,
}

async fn model_retire(
    State(st): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
    Query(q): Query<RetireQuery>,
) -> Reply {
    blocking(st, move |st| {
        let reason = q.reason.unwrap_or_default();
        registry(st)?.retire(&name, &version, "admin", &reason, unix_now())?;
        record(
            st,
            EventKind::ModelChanged,
            "model.retire",
            &format!("{name}@{version} by admin: {reason}"),
        );
        Ok(Json(json!({"state": "retired"})))
    })
    .await
}

fn bundle_json(b: &StoredBundle, policy: &ApprovalPolicy) -> Value {
    json!({
        "version": b.bundle.version, "state": b.state.as_str(), "digest": b.digest,
        "bundle": b.bundle.canonical_json(),
        "approvals": BundleStore::valid_approvers(b, policy), "needed": policy.threshold(),
    })
}

async fn bundles_list(State(st): State<Arc<AppState>>) -> Reply {
    blocking(st, |st| {
        let list: Vec<Value> = bundles(st)?
            .list()?
            .into_iter()
            .map(|(v, state, digest)| json!({"version": v, "state": state, "digest": digest}))
            .collect();
        let enforced = st.bundle_version.load(std::sync::atomic::Ordering::Acquire);
        Ok(Json(json!({"versions": list, "enforced": enforced})))
    })
    .await
}

async fn bundle_show(State(st): State<Arc<AppState>>, Path(v): Path<u64>) -> Reply {
    blocking(st, move |st| {
        let (policy, _) = settings(st)?;
        Ok(Json(bundle_json(&bundles(st)?.get(v)?, &policy)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Proposal {
    files: Vec<BundleFile>,
    #[serde(default)]
    note: String,
    proposed_by: String,
}

async fn bundle_propose(State(st): State<Arc<AppState>>, Json(p): Json<Proposal>) -> Reply {
    blocking(st, move |st| {
        let (policy, _) = settings(st)?;
        // Refused before it is stored if it could not be enforced.
        let files: Vec<(std::path::PathBuf, String)> = p
            .files
            .iter()
            .filter(|f| f.name.ends_with(".cedar"))
            .map(|f| (std::path::PathBuf::from(&f.name), f.text.clone()))
            .collect();
        portcullis_core::policy::PolicyEngine::from_sources(&files, &st.config.models)
            .map_err(|e| Refused(StatusCode::BAD_REQUEST, e.to_string()))?;
        if let Some(g) = p
            .files
            .iter()
            .find(|f| f.name == policy_bundle::GUARDS_FILE)
        {
            portcullis_core::config::parse_guards_toml(
                std::path::Path::new(policy_bundle::GUARDS_FILE),
                &g.text,
                &st.config.models,
            )
            .map_err(|e| Refused(StatusCode::BAD_REQUEST, e.to_string()))?;
        }
        let b = bundles(st)?.propose_files(p.files, &p.proposed_by, &p.note, unix_now())?;
        record(
            st,
            EventKind::PolicyBundleChanged,
            "policy.propose",
            &format!("bundle v{} sha256:{}", b.bundle.version, b.digest),
        );
        Ok(Json(bundle_json(&b, &policy)))
    })
    .await
}

async fn bundle_approve(
    State(st): State<Arc<AppState>>,
    Path(v): Path<u64>,
    note: String,
) -> Reply {
    blocking(st, move |st| {
        let (policy, _) = settings(st)?;
        let mut store = bundles(st)?;
        store.submit_approval(v, &note, &policy, unix_now())?;
        let b = store.get(v)?;
        record(
            st,
            EventKind::PolicyBundleChanged,
            "policy.approve",
            &format!("bundle v{v} sha256:{}", b.digest),
        );
        Ok(Json(bundle_json(&b, &policy)))
    })
    .await
}

async fn bundle_activate(State(st): State<Arc<AppState>>, Path(v): Path<u64>) -> Reply {
    blocking(st, move |st| {
        let (policy, _) = settings(st)?;
        let b = bundles(st)?.activate(v, &policy, unix_now())?;
        record(
            st,
            EventKind::PolicyBundleChanged,
            "policy.activate",
            &format!("bundle v{v} sha256:{}", b.digest),
        );
        Ok(Json(bundle_json(&b, &policy)))
    })
    .await
}

#[derive(Deserialize)]
struct RollbackQuery {
    to: Option<u64>,
}

async fn bundle_rollback(State(st): State<Arc<AppState>>, Query(q): Query<RollbackQuery>) -> Reply {
    blocking(st, move |st| {
        let (policy, _) = settings(st)?;
        let b = bundles(st)?.rollback(q.to, &policy, unix_now())?;
        record(
            st,
            EventKind::PolicyBundleChanged,
            "policy.rollback",
            &format!("bundle v{} sha256:{}", b.bundle.version, b.digest),
        );
        Ok(Json(bundle_json(&b, &policy)))
    })
    .await
}

#[derive(Deserialize)]
struct DiffQuery {
    from: u64,
    to: u64,
}

async fn bundle_diff(State(st): State<Arc<AppState>>, Query(q): Query<DiffQuery>) -> Reply {
    blocking(st, move |st| {
        let s = bundles(st)?;
        let (a, b) = (s.get(q.from)?, s.get(q.to)?);
        Ok(Json(
            json!({"diff": policy_bundle::diff(&a.bundle, &b.bundle)}),
        ))
    })
    .await
}
