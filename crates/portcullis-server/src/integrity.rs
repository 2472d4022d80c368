//! The model-integrity gate: which `registry = true` models the gateway serves.
//!
//! The registry ([`portcullis_integrity::registry`]) lives in the gateway's database and
//! is changed by `portcullis model ...`. The gateway does not take its `active` state on
//! trust (whoever can write the database could set it): a thread of its own re-checks
//! every active version with the gateway's own `[integrity]` settings, namely k valid
//! approvals under the configured approver set and the model files hashing to their
//! signed digests under a trusted signer key (for hosted models: the pinned endpoint and
//! model id matching this gateway's upstream), and publishes the versions that pass.
//! The check runs at start (until it finishes no registry model is served: fail
//! closed), whenever the set of active versions changes, and every `verify_interval`. A
//! version that fails is suspended in the registry and stops being served at once; every
//! change of what is served is an audit event (`model_changed`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use parking_lot::{Condvar, Mutex};
use portcullis_audit::EventKind;
use portcullis_core::config::{Config, IntegrityConfig};
use portcullis_integrity::registry::AnyRegistryStore;
use portcullis_integrity::registry::{ApprovalPolicy, Artifacts, Listed, Registry, State};
use portcullis_integrity::ModelPublicKey;

use crate::decisions::DecisionSink;

/// How often the registry is read for newly activated or retired versions.
const REFRESH: Duration = Duration::from_secs(1);

/// Served versions: model name to `name@version`.
type Served = HashMap<String, String>;

/// What the request path asks.
pub struct IntegrityGate {
    served: ArcSwap<Served>,
    stop: Arc<(Mutex<bool>, Condvar)>,
}

impl std::fmt::Debug for IntegrityGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrityGate")
            .field("served", &self.served.load())
            .finish_non_exhaustive()
    }
}

impl IntegrityGate {
    /// The served version of `model` (`name@version`), `None` when it has none.
    pub fn served(&self, model: &str) -> Option<String> {
        self.served.load().get(model).cloned()
    }

    /// Builds the gate when some model has `registry = true`: reads the approver set and
    /// trusted keys (errors name the file) and starts the checking thread.
    pub fn start(
        config: &Config,
        db: &Path,
        sink: DecisionSink,
        audit_on: bool,
    ) -> Result<Option<Arc<Self>>, String> {
        if !config.models.values().any(|m| m.registry) {
            return Ok(None);
        }
        let Some(ic) = &config.integrity else {
            return Err("a model has registry = true but there is no [integrity] section".into());
        };
        let checker = Checker::new(ic, config, db)?;
        let gate = Arc::new(Self {
            served: ArcSwap::from_pointee(Served::new()),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
        });
        let weak = Arc::downgrade(&gate);
        let stop = gate.stop.clone();
        let interval = ic.verify_interval;
        // Detached: see `Drop`.
        std::thread::Builder::new()
            .name("model-integrity".into())
            .spawn(move || checker.run(&weak, &stop, interval, &sink, audit_on))
            .map_err(|e| format!("starting the model-integrity thread: {e}"))?;
        Ok(Some(gate))
    }
}

impl Drop for IntegrityGate {
    /// Tells the thread to stop without waiting for it: it holds a handle to the
    /// decision writer, whose channel closes (and the gateway's shutdown completes) only
    /// when the thread has let go of it.
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
    }
}

/// The checking thread's state.
struct Checker {
    registry: Registry<AnyRegistryStore>,
    policy: ApprovalPolicy,
    signers: Vec<ModelPublicKey>,
    /// Registry models of this gateway: name to (upstream base URL, upstream model id),
    /// what a hosted model's pinned identity must match.
    models: BTreeMap<String, (String, String)>,
}

/// The approver set and k of `[integrity]` (errors name the file).
pub fn approval_policy(ic: &IntegrityConfig) -> Result<ApprovalPolicy, String> {
    let text = std::fs::read_to_string(&ic.approvers_file).map_err(|e| {
        format!(
            "integrity.approvers_file {}: {e}",
            ic.approvers_file.display()
        )
    })?;
    let approvers = ApprovalPolicy::parse_approvers(&text)
        .map_err(|e| format!("{}: {e}", ic.approvers_file.display()))?;
    ApprovalPolicy::new(approvers, ic.threshold)
        .map_err(|e| format!("{}: {e}", ic.approvers_file.display()))
}

impl Checker {
    fn new(ic: &IntegrityConfig, config: &Config, db: &Path) -> Result<Self, String> {
        let policy = approval_policy(ic)?;
        let signers = ic
            .trusted_signers
            .iter()
            .map(|p| {
                ModelPublicKey::from_pem_file(p)
                    .map_err(|e| format!("integrity.trusted_signers {}: {e}", p.display()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let registry = crate::shared_db::open_registry(config, db)?;
        let models = config
            .models
            .values()
            .filter(|m| m.registry)
            .map(|m| {
                let base = config
                    .upstreams
                    .get(&m.upstream)
                    .map(|u| u.base_url.clone())
                    .unwrap_or_default();
                (m.name.clone(), (base, m.upstream_model.clone()))
            })
            .collect();
        Ok(Self {
            registry,
            policy,
            signers,
            models,
        })
    }

    fn run(
        mut self,
        gate: &std::sync::Weak<IntegrityGate>,
        stop: &(Mutex<bool>, Condvar),
        interval: Duration,
        sink: &DecisionSink,
        audit_on: bool,
    ) {
        let mut seen: Option<Vec<(String, String)>> = None;
        let mut last_check = Instant::now();
        loop {
            if gate.strong_count() == 0 {
                return;
            }
            let active = self.active();
            let due = last_check.elapsed() >= interval;
            if seen.as_ref() != Some(&active) || due {
                let served = self.check(sink, audit_on);
                last_check = Instant::now();
                // What is active after the check (failures were suspended).
                seen = Some(self.active());
                let Some(g) = gate.upgrade() else { return };
                let before = g.served.load_full();
                for (name, id) in before.iter() {
                    if served.get(name) != Some(id) {
                        tracing::warn!(model = %name, version = %id, "model version no longer served");
                        emit(sink, audit_on, "model.unserve", id);
                    }
                }
                for (name, id) in &served {
                    if before.get(name) != Some(id) {
                        tracing::info!(model = %name, version = %id, "model version verified and served");
                        emit(sink, audit_on, "model.serve", id);
                    }
                }
                g.served.store(Arc::new(served));
            }
            let mut stopped = stop.0.lock();
            if *stopped {
                return;
            }
            stop.1.wait_for(&mut stopped, REFRESH);
            if *stopped {
                return;
            }
        }
    }

    /// Active versions of this gateway's registry models, with their record digests (a
    /// record replaced under the same version counts as a change). Unreadable means none.
    fn active(&self) -> Vec<(String, String)> {
        match self.registry.list() {
            Ok(list) => list
                .into_iter()
                .filter_map(|l| match l {
                    Listed::Version(v)
                        if v.state == State::Active && self.models.contains_key(&v.record.name) =>
                    {
                        Some((v.record.id(), v.digest.clone()))
                    }
                    _ => None,
                })
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "reading the model registry failed; registry models are not served");
                Vec::new()
            }
        }
    }

    /// Re-verifies every active version (suspending failures) and returns what may be
    /// served.
    fn check(&mut self, sink: &DecisionSink, audit_on: bool) -> Served {
        let now = crate::state::unix_now();
        let results = match self.registry.check_active(&self.policy, &self.signers, now) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "model verification could not run; registry models are not served");
                return Served::new();
            }
        };
        let mut served = Served::new();
        for (id, outcome) in results {
            match outcome {
                Err(reason) => {
                    tracing::error!(version = %id, %reason, "model version failed verification and was suspended");
                    emit(sink, audit_on, "model.suspend", &format!("{id}: {reason}"));
                }
                Ok(_) => {
                    let Some((name, version)) = id.split_once('@') else {
                        continue;
                    };
                    if let Some(reason) = self.mismatch(name, version) {
                        tracing::error!(version = %id, %reason, "model version not served");
                        continue;
                    }
                    served.insert(name.to_string(), id.clone());
                }
            }
        }
        served
    }

    /// Why a verified version still may not be served by this gateway: not one of its
    /// registry models, or a hosted model pinned to another endpoint or model id.
    fn mismatch(&self, name: &str, version: &str) -> Option<String> {
        let (base, upstream_model) = self.models.get(name)?;
        let view = match self.registry.get(name, version) {
            Ok(v) => v,
            Err(e) => return Some(e.to_string()),
        };
        match &view.record.artifacts {
            Artifacts::Remote {
                endpoint,
                provider_model_id,
            } => {
                if endpoint.trim_end_matches('/') != base.trim_end_matches('/') {
                    Some(format!(
                        "approved for endpoint {endpoint}, but the upstream is {base}"
                    ))
                } else if provider_model_id != upstream_model {
                    Some(format!(
                        "approved for provider model {provider_model_id}, but the gateway sends {upstream_model}"
                    ))
                } else {
                    None
                }
            }
            Artifacts::Local { .. } => None,
        }
    }
}

fn emit(sink: &DecisionSink, audit_on: bool, action: &str, target: &str) {
    if !audit_on {
        return;
    }
    let event = crate::audit::control_event(
        EventKind::ModelChanged,
        crate::state::unix_now().saturating_mul(1000),
        crate::audit::SYSTEM,
        crate::audit::SYSTEM,
        action,
        target,
    );
    if !sink.audit_event(event) {
        tracing::error!(%action, %target, "audit event for a model change was not queued");
    }
}
