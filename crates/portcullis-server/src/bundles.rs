//! Where the enforced policies come from: the `.cedar` files of `[policy] dir`, or, with
//! `[policy] source = "bundle"`, the active policy bundle in the database
//! ([`portcullis_integrity::policy_bundle`]).
//!
//! A bundle is loaded only after the gateway has re-verified its approvals against its
//! own `[integrity]` approver set (whoever can write the database cannot make a bundle
//! active by flipping its state), and its `guards.toml`, when present, replaces the
//! guard profiles of the main file. While the gateway runs it polls for a newly
//! activated (or rolled back) bundle every second and swaps policies and guards
//! atomically; a bundle that fails any check is refused and the previous one stays in
//! force.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;
use portcullis_core::config::{parse_guards_toml, Config, GuardSettings, PolicySource};
use portcullis_core::policy::PolicyEngine;
use portcullis_integrity::policy_bundle::BundleStore;

use crate::guards::GuardEngine;
use crate::state::AppState;

/// Policies (and guard profiles) ready to enforce.
pub struct Loaded {
    /// The policy engine.
    pub engine: PolicyEngine,
    /// The guard profiles in force: the main file's, or the bundle's `guards.toml`.
    pub guard_profiles: BTreeMap<String, GuardSettings>,
    /// The bundle's version and digest, when loaded from one.
    pub bundle: Option<(u64, String)>,
}

impl Loaded {
    /// The target of its `policy_reloaded` audit event: the policy digest first (what
    /// a starting gateway compares), then counts and the bundle.
    pub fn audit_target(&self) -> String {
        let t = crate::audit::policy_target(
            &self.engine.digest,
            self.engine.len(),
            self.engine.files.len(),
        );
        match &self.bundle {
            Some((v, d)) => format!("{t} bundle v{v} sha256:{d}"),
            None => t,
        }
    }
}

/// Opens the bundle store when policies come from bundles.
pub fn open_store(config: &Config) -> Result<Option<Mutex<BundleStore>>, String> {
    if config.policy_source != PolicySource::Bundle {
        return Ok(None);
    }
    if !config.data_dir.exists() {
        // Private like the store's own (0700): the database holds key hashes.
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&config.data_dir)
            .map_err(|e| format!("creating {}: {e}", config.data_dir.display()))?;
    }
    let db = config.data_dir.join("portcullis.db");
    crate::shared_db::open_bundles(config, &db).map(|s| Some(Mutex::new(s)))
}

/// Loads what `config` says to enforce.
pub fn load(config: &Config, store: Option<&Mutex<BundleStore>>) -> Result<Loaded, String> {
    let Some(store) = store else {
        let engine =
            PolicyEngine::load(&config.policy_dir, &config.models).map_err(|e| e.to_string())?;
        return Ok(Loaded {
            engine,
            guard_profiles: config.guard_profiles.clone(),
            bundle: None,
        });
    };
    let Some(ic) = &config.integrity else {
        return Err("policy.source = \"bundle\" needs [integrity]".into());
    };
    let policy = crate::integrity::approval_policy(ic)?;
    let store = store.lock();
    let version = store
        .active_version()
        .map_err(|e| e.to_string())?
        .ok_or("no policy bundle is active: propose, approve and activate one (`portcullis policy propose|approve|activate`)")?;
    let b = store.get(version).map_err(|e| e.to_string())?;
    drop(store);
    let have = BundleStore::valid_approvers(&b, &policy).len();
    if have < policy.threshold() {
        return Err(format!(
            "policy bundle v{version} is marked active but only {have} of the {} approvals it needs verify under the configured approvers; refused",
            policy.threshold()
        ));
    }
    let prefix = PathBuf::from(format!("bundle v{version}"));
    let sources: Vec<(PathBuf, String)> = b
        .bundle
        .policies()
        .into_iter()
        .map(|(name, text)| (prefix.join(name), text))
        .collect();
    let engine = PolicyEngine::from_sources(&sources, &config.models).map_err(|e| e.to_string())?;
    let guard_profiles = match b.bundle.guards_toml() {
        Some(text) => parse_guards_toml(
            &prefix.join(portcullis_integrity::policy_bundle::GUARDS_FILE),
            text,
            &config.models,
        )
        .map_err(|e| e.to_string())?,
        None => config.guard_profiles.clone(),
    };
    Ok(Loaded {
        engine,
        guard_profiles,
        bundle: Some((version, b.digest)),
    })
}

/// Re-reads the active bundle and, when it changed (or `force`), swaps policies and
/// guards in and records audit events. `Ok(None)` when nothing changed.
pub fn reload(state: &AppState, force: bool) -> Result<Option<String>, String> {
    let Some(store) = state.bundles.as_ref() else {
        return Ok(None);
    };
    let active = store
        .lock()
        .active_version()
        .map_err(|e| e.to_string())?
        .unwrap_or(0);
    if !force && active == state.bundle_version.load(Ordering::Acquire) {
        return Ok(None);
    }
    let loaded = load(&state.config, Some(store))?;
    let old_guards = state.guards.load_full();
    let old_desc = GuardEngine::describe(
        old_guards.as_deref(),
        &state.guard_profiles.load(),
        &state.config,
    );
    let engine = GuardEngine::from_profiles(
        &loaded.guard_profiles,
        old_guards.as_ref().map(|g| g.guards().clone()),
    )?;
    let new_desc = GuardEngine::describe(engine.as_ref(), &loaded.guard_profiles, &state.config);
    let target = loaded.audit_target();
    let version = loaded.bundle.as_ref().map_or(0, |(v, _)| *v);
    state.policy.store(Arc::new(loaded.engine));
    state.guards.store(engine.map(Arc::new));
    state.guard_profiles.store(Arc::new(loaded.guard_profiles));
    state.bundle_version.store(version, Ordering::Release);
    if state.audit_on() {
        let now = crate::state::unix_now().saturating_mul(1000);
        let mut events = vec![crate::audit::control_event(
            portcullis_audit::EventKind::PolicyReloaded,
            now,
            crate::audit::SYSTEM,
            crate::audit::SYSTEM,
            "policy.bundle",
            &target,
        )];
        if new_desc != old_desc {
            events.push(crate::audit::control_event(
                portcullis_audit::EventKind::GuardConfigChanged,
                now,
                crate::audit::SYSTEM,
                crate::audit::SYSTEM,
                "guards.bundle",
                &crate::audit::guard_config_target(&new_desc),
            ));
        }
        for e in events {
            if !state.decisions.audit_event(e) {
                tracing::error!("audit event for a policy bundle change was not queued");
            }
        }
    }
    Ok(Some(target))
}
