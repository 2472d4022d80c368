//! Authorization with Cedar: the schema, loading policy files, and the decision.
//!
//! One decision point: every data-plane request is authorized here, over the model the
//! gateway resolved from its own configuration, never over what the client claims in a
//! path, query string or header. The default is deny. Policies are `.cedar` files in the
//! policy directory, validated against [`SCHEMA`] when loaded; a policy's id is its
//! `@id("...")` annotation, or `<file stem>.<index>` when it has none. A denial names the
//! deciding policy id (or `default-deny`), never the policy text.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use parking_lot::Mutex;

use cedar_policy::{
    Authorizer, Context, Decision, Effect, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    Policy, PolicyId, PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use miette::Diagnostic;

use crate::config::{ConfigError, Model};
use crate::identity::{Principal, PrincipalKind};

/// The Cedar schema every policy is validated against.
pub const SCHEMA: &str = r#"
namespace Portcullis {
  // A group of principals, e.g. a team. Keys carry their principal's groups.
  entity Group;
  // A caller authenticated by API key. The entity id is the principal's name.
  entity ApiKey in [Group] {
    key_id: String,
  };
  // A person or client with a token from an OIDC issuer. The id is the token's subject
  // (the configured principal claim); groups come from the groups claim.
  entity User in [Group] {
    issuer: String,
  };
  // A workload authenticated by mTLS alone. The id is its SPIFFE ID.
  entity Workload in [Group] {
    trust_domain: String,
  };
  // The workload a request came through over mTLS (also when a user's token rides on it).
  type WorkloadInfo = {
    id: String,
    trust_domain: String,
  };
  // A model as the gateway resolved it from its configuration.
  entity Model {
    provider: String,
    tier: String,
    upstream: String,
  };
  type RequestContext = {
    // The completion cap in effect: the caller's max_tokens, or the gateway's default.
    max_tokens: Long,
    // Estimated prompt tokens.
    prompt_tokens: Long,
    stream: Bool,
    // Names of the function tools offered to the model.
    tools: Set<String>,
    client_ip: __cedar::ipaddr,
    // UTC hour, 0 to 23.
    hour: Long,
    // UTC weekday: "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun".
    weekday: String,
    workload?: WorkloadInfo,
    // What the input guards found (all zero/empty when guards are off for the model).
    guard: GuardInfo,
  };
  // Input guard verdict summary. Scores are in thousandths (0 to 1000): Cedar has no
  // floating point.
  type GuardInfo = {
    injection_score: Long,
    jailbreak_score: Long,
    // Finding types seen in the input, e.g. "EMAIL", "SECRET", "INJECTION".
    findings: Set<String>,
  };
  type ListContext = {
    client_ip: __cedar::ipaddr,
    hour: Long,
    weekday: String,
    workload?: WorkloadInfo,
  };
  action "chat.completions", "embeddings" appliesTo {
    principal: [ApiKey, User, Workload],
    resource: [Model],
    context: RequestContext,
  };
  action "models.list" appliesTo {
    principal: [ApiKey, User, Workload],
    resource: [Model],
    context: ListContext,
  };
}
"#;

/// The data-plane actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `POST /v1/chat/completions`.
    ChatCompletions,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// `GET /v1/models` (evaluated per model).
    ModelsList,
}

impl Action {
    /// The Cedar action id.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::ChatCompletions => "chat.completions",
            Action::Embeddings => "embeddings",
            Action::ModelsList => "models.list",
        }
    }
}

/// What the request carries that policy may look at.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    /// Completion cap in effect.
    pub max_tokens: u64,
    /// Estimated prompt tokens.
    pub prompt_tokens: u64,
    /// Streaming requested.
    pub stream: bool,
    /// Function tool names offered.
    pub tools: Vec<String>,
    /// The client's address.
    pub client_ip: IpAddr,
    /// UTC hour.
    pub hour: u8,
    /// UTC weekday, `Mon`..`Sun`.
    pub weekday: &'static str,
    /// The input guards' verdict summary.
    pub guard: GuardFacts,
}

/// What the input guards found, as policy sees it (`context.guard`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuardFacts {
    /// Prompt-injection score in thousandths (0..=1000).
    pub injection_score: u16,
    /// Jailbreak score in thousandths (0..=1000).
    pub jailbreak_score: u16,
    /// Finding type names seen in the input (`EMAIL`, `SECRET`, ...), sorted, unique.
    pub findings: Vec<&'static str>,
}

/// The outcome of one authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed, by these permit policies.
    Allow {
        /// Deciding permit policies.
        policies: Vec<String>,
    },
    /// Denied.
    Deny {
        /// The deciding policy: a forbid policy's id, `default-deny` when no permit
        /// applied, or `evaluation-error` when a forbid policy could not be evaluated
        /// (failing closed).
        policy: String,
    },
}

impl Verdict {
    /// Whether allowed.
    pub fn is_allow(&self) -> bool {
        matches!(self, Verdict::Allow { .. })
    }
    /// The deciding policy id(s), joined by `,`.
    pub fn policy_ids(&self) -> String {
        match self {
            Verdict::Allow { policies } => policies.join(","),
            Verdict::Deny { policy } => policy.clone(),
        }
    }
}

/// A loaded, validated policy set with the entities built from config.
pub struct PolicyEngine {
    /// Checks each request's full context in debug builds (see `decide`); release
    /// builds validated the policies against it at load only.
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    schema: Schema,
    policies: PolicySet,
    authorizer: Authorizer,
    models: HashMap<String, Entity>,
    actions: HashMap<Action, EntityUid>,
    /// Forbid policies, so an evaluation error in one of them denies.
    forbids: HashSet<PolicyId>,
    /// The context attributes some policy reads: only these are built per request.
    context_use: ContextUse,
    /// Entities per (principal, model), and IP values per address: building them runs
    /// Cedar's parser and transitive closure, which cost more than the evaluation. Both
    /// are pure functions of their keys; each cache is cleared when it reaches
    /// [`CACHE_LIMIT`] entries.
    entity_cache: Mutex<HashMap<EntityCacheKey, Arc<Entities>>>,
    ip_cache: Mutex<HashMap<IpAddr, RestrictedExpression>>,
    /// Entity type names, parsed once: parsing runs Cedar's parser, which is far too
    /// slow for every request.
    types: Types,
    /// How many policies were loaded, and from which files.
    pub files: Vec<PathBuf>,
    /// SHA-256 over the policy sources (file names and texts, in load order): what the
    /// audit log records so a change of the policy set is visible there.
    pub digest: [u8; 32],
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("policies", &self.policies.policies().count())
            .field("files", &self.files)
            .finish()
    }
}

/// Most entries each per-engine cache holds before it is emptied.
const CACHE_LIMIT: usize = 10_000;

type EntityCacheKey = (&'static str, String, String, String, String);

#[derive(Clone)]
struct Types {
    api_key: EntityTypeName,
    user: EntityTypeName,
    workload: EntityTypeName,
    group: EntityTypeName,
}

impl Types {
    fn new() -> Result<Self, String> {
        Ok(Self {
            api_key: type_name("Portcullis::ApiKey")?,
            user: type_name("Portcullis::User")?,
            workload: type_name("Portcullis::Workload")?,
            group: type_name("Portcullis::Group")?,
        })
    }
}

/// Each file's name (without its directory, so moving the directory changes nothing) and
/// text, length-prefixed so no two different sets hash alike.
fn sources_digest(sources: &[(PathBuf, String)]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (file, text) in sources {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for part in [name.as_bytes(), text.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
    }
    h.finalize().into()
}

fn type_name(name: &str) -> Result<EntityTypeName, String> {
    EntityTypeName::from_str(name).map_err(|e| e.to_string())
}

fn uid(ty: &str, id: &str) -> Result<EntityUid, String> {
    Ok(EntityUid::from_type_name_and_id(
        type_name(ty)?,
        EntityId::new(id),
    ))
}

/// The schema, parsed.
pub fn schema() -> Result<Schema, String> {
    Schema::from_cedarschema_str(SCHEMA)
        .map(|(s, _warnings)| s)
        .map_err(|e| format!("built-in schema: {e}"))
}

fn first_offset(d: &dyn Diagnostic) -> Option<usize> {
    d.labels()
        .and_then(|mut l| l.next())
        .map(|l| l.offset())
        .or_else(|| d.related().and_then(|mut r| r.find_map(first_offset)))
}

fn diag_error(file: &Path, text: &str, d: &dyn Diagnostic, what: &str) -> ConfigError {
    let mut reason = format!("{what}: {d}");
    if let Some(help) = d.help() {
        reason.push_str(&format!(" (help: {help})"));
    }
    match first_offset(d) {
        Some(off) => ConfigError::at_offset(file, text, off, reason),
        None => ConfigError::whole(file, reason),
    }
}

impl PolicyEngine {
    /// Loads every `.cedar` file in `dir`, validates the set against the schema, and
    /// builds model entities from `models`.
    pub fn load(
        dir: &Path,
        models: &std::collections::BTreeMap<String, Model>,
    ) -> Result<Self, ConfigError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| ConfigError::whole(dir, format!("cannot read policy directory: {e}")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(ConfigError::whole(
                dir,
                "no .cedar policy files: every request would be denied",
            ));
        }
        let mut sources = Vec::with_capacity(files.len());
        for f in &files {
            let text = std::fs::read_to_string(f)
                .map_err(|e| ConfigError::whole(f, format!("cannot read: {e}")))?;
            sources.push((f.clone(), text));
        }
        Self::from_sources(&sources, models)
    }

    /// Like [`PolicyEngine::load`] over `(file name, text)` pairs already read.
    pub fn from_sources(
        sources: &[(PathBuf, String)],
        models: &std::collections::BTreeMap<String, Model>,
    ) -> Result<Self, ConfigError> {
        let schema = schema().map_err(|e| ConfigError::whole(Path::new("<schema>"), e))?;
        let mut set = PolicySet::new();
        // Which file and text each policy came from, for locating validation errors.
        let mut origin: HashMap<PolicyId, usize> = HashMap::new();
        for (fi, (file, text)) in sources.iter().enumerate() {
            let parsed = PolicySet::from_str(text)
                .map_err(|e| diag_error(file, text, &e, "policy syntax error"))?;
            if parsed.templates().next().is_some() {
                return Err(ConfigError::whole(
                    file,
                    "policy templates are not supported",
                ));
            }
            let stem = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "policy".into());
            for (i, p) in parsed.policies().enumerate() {
                let id = p
                    .annotation("id")
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{stem}.{i}"));
                let pid = PolicyId::new(&id);
                if origin.contains_key(&pid) {
                    return Err(ConfigError::whole(
                        file,
                        format!("duplicate policy id `{id}`"),
                    ));
                }
                let p: Policy = p.new_id(pid.clone());
                set.add(p)
                    .map_err(|e| ConfigError::whole(file, e.to_string()))?;
                origin.insert(pid, fi);
            }
        }
        let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
        if let Some(err) = result.validation_errors().next() {
            let fi = origin.get(err.policy_id()).copied().unwrap_or(0);
            let (file, text) = match sources.get(fi) {
                Some((f, t)) => (f.as_path(), t.as_str()),
                None => (Path::new("<policies>"), ""),
            };
            return Err(diag_error(
                file,
                text,
                err,
                "policy does not match the schema",
            ));
        }
        let forbids = set
            .policies()
            .filter(|p| p.effect() == Effect::Forbid)
            .map(|p| p.id().clone())
            .collect();
        let context_use = ContextUse::of(&set);

        let mut model_entities = HashMap::new();
        for (name, m) in models {
            let attrs = HashMap::from([
                (
                    "provider".to_string(),
                    RestrictedExpression::new_string(m.provider.clone()),
                ),
                (
                    "tier".to_string(),
                    RestrictedExpression::new_string(m.tier.clone()),
                ),
                (
                    "upstream".to_string(),
                    RestrictedExpression::new_string(m.upstream.clone()),
                ),
            ]);
            let e = Entity::new(
                uid("Portcullis::Model", name)
                    .map_err(|e| ConfigError::whole(Path::new("<models>"), e))?,
                attrs,
                HashSet::new(),
            )
            .map_err(|e| ConfigError::whole(Path::new("<models>"), e.to_string()))?;
            model_entities.insert(name.clone(), e);
        }
        let mut actions = HashMap::new();
        for a in [
            Action::ChatCompletions,
            Action::Embeddings,
            Action::ModelsList,
        ] {
            actions.insert(
                a,
                uid("Portcullis::Action", a.as_str())
                    .map_err(|e| ConfigError::whole(Path::new("<schema>"), e))?,
            );
        }
        Ok(Self {
            schema,
            policies: set,
            authorizer: Authorizer::new(),
            models: model_entities,
            actions,
            forbids,
            context_use,
            entity_cache: Mutex::new(HashMap::new()),
            ip_cache: Mutex::new(HashMap::new()),
            types: Types::new().map_err(|e| ConfigError::whole(Path::new("<schema>"), e))?,
            files: sources.iter().map(|(f, _)| f.clone()).collect(),
            digest: sources_digest(sources),
        })
    }

    /// Number of policies loaded.
    pub fn len(&self) -> usize {
        self.policies.policies().count()
    }

    /// Whether no policy is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decides whether `principal` may do `action` on `model`. Any failure to build the
    /// request denies (fail closed).
    pub fn authorize(
        &self,
        principal: &Principal,
        action: Action,
        model: &str,
        facts: &RequestFacts,
    ) -> Verdict {
        match self.try_authorize(principal, action, model, facts) {
            Ok(v) => v,
            Err(_) => Verdict::Deny {
                policy: "evaluation-error".into(),
            },
        }
    }

    fn try_authorize(
        &self,
        principal: &Principal,
        action: Action,
        model: &str,
        facts: &RequestFacts,
    ) -> Result<Verdict, String> {
        let model_entity = self.models.get(model).ok_or("unknown model")?;
        let action_uid = self.actions.get(&action).ok_or("unknown action")?.clone();
        let (ty, attr, value) = match &principal.kind {
            PrincipalKind::ApiKey => (&self.types.api_key, "key_id", principal.key_id.clone()),
            PrincipalKind::User { issuer } => (&self.types.user, "issuer", issuer.clone()),
            PrincipalKind::Workload => (
                &self.types.workload,
                "trust_domain",
                principal
                    .workload
                    .as_ref()
                    .map(|w| w.trust_domain().to_string())
                    .unwrap_or_default(),
            ),
        };
        let principal_uid =
            EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(&principal.name));
        let cache_key = (
            principal.kind.as_str(),
            principal.name.clone(),
            value.clone(),
            principal.groups.join("\n"),
            model.to_string(),
        );
        let cached = self.entity_cache.lock().get(&cache_key).cloned();
        let entities = match cached {
            Some(e) => e,
            None => {
                let e = Arc::new(self.build_entities(ty, attr, &value, principal, model_entity)?);
                let mut cache = self.entity_cache.lock();
                if cache.len() >= CACHE_LIMIT {
                    cache.clear();
                }
                cache.insert(cache_key, e.clone());
                e
            }
        };
        // Cedar's IP values come from its parser; cached, and built only when read.
        let client_ip =
            (cfg!(debug_assertions) || self.context_use.wants("client_ip")).then(|| {
                let cached = self.ip_cache.lock().get(&facts.client_ip).cloned();
                cached.unwrap_or_else(|| {
                    let ip = RestrictedExpression::new_ip(facts.client_ip.to_string());
                    let mut cache = self.ip_cache.lock();
                    if cache.len() >= CACHE_LIMIT {
                        cache.clear();
                    }
                    cache.insert(facts.client_ip, ip.clone());
                    ip
                })
            });
        self.decide(
            principal,
            action_uid,
            principal_uid,
            model_entity,
            &entities,
            client_ip,
            action,
            facts,
        )
    }

    /// The entities of one request: the principal with its groups, and the model.
    fn build_entities(
        &self,
        ty: &EntityTypeName,
        attr: &str,
        value: &str,
        principal: &Principal,
        model_entity: &Entity,
    ) -> Result<Entities, String> {
        let principal_uid =
            EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(&principal.name));
        let mut parents = HashSet::with_capacity(principal.groups.len());
        let mut entities = Vec::with_capacity(principal.groups.len() + 2);
        for g in &principal.groups {
            let g = EntityUid::from_type_name_and_id(self.types.group.clone(), EntityId::new(g));
            parents.insert(g.clone());
            entities.push(Entity::new_no_attrs(g, HashSet::new()));
        }
        let attrs = HashMap::from([(
            attr.to_string(),
            RestrictedExpression::new_string(value.to_string()),
        )]);
        entities
            .push(Entity::new(principal_uid.clone(), attrs, parents).map_err(|e| e.to_string())?);
        entities.push(model_entity.clone());
        Entities::from_entities(entities, None).map_err(|e| e.to_string())
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        principal: &Principal,
        action_uid: EntityUid,
        principal_uid: EntityUid,
        model_entity: &Entity,
        entities: &Entities,
        client_ip: Option<RestrictedExpression>,
        action: Action,
        facts: &RequestFacts,
    ) -> Result<Verdict, String> {
        // Debug builds (every test) first decide over the whole context, checked against
        // the schema, and then require the pruned context to give the same verdict: the
        // pruning must never change a decision. Release builds skip the schema check,
        // which costs more than the authorization itself; the policies were validated
        // strictly at load and the context is built here with the schema's types.
        #[cfg(debug_assertions)]
        let full = {
            let pairs = context_pairs(
                principal,
                client_ip.clone(),
                action,
                facts,
                &ContextUse::All,
            )?;
            self.evaluate(
                principal_uid.clone(),
                action_uid.clone(),
                model_entity,
                entities,
                pairs,
                Some(&self.schema),
            )?
        };
        let pairs = context_pairs(principal, client_ip, action, facts, &self.context_use)?;
        let verdict = self.evaluate(
            principal_uid,
            action_uid,
            model_entity,
            entities,
            pairs,
            None,
        )?;
        #[cfg(debug_assertions)]
        assert_eq!(verdict, full, "the pruned context changed the decision");
        Ok(verdict)
    }

    fn evaluate(
        &self,
        principal_uid: EntityUid,
        action_uid: EntityUid,
        model_entity: &Entity,
        entities: &Entities,
        pairs: Vec<(String, RestrictedExpression)>,
        schema: Option<&Schema>,
    ) -> Result<Verdict, String> {
        let context = Context::from_pairs(pairs).map_err(|e| e.to_string())?;
        let request = Request::new(
            principal_uid,
            action_uid,
            model_entity.uid(),
            context,
            schema,
        )
        .map_err(|e| e.to_string())?;
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, entities);
        let diag = response.diagnostics();
        // Fail closed: a forbid policy that could not be evaluated counts as applying.
        for e in diag.errors() {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(e) = e;
            if self.forbids.contains(e.policy_id()) {
                return Ok(Verdict::Deny {
                    policy: e.policy_id().to_string(),
                });
            }
        }
        let mut reasons: Vec<String> = diag.reason().map(|p| p.to_string()).collect();
        reasons.sort();
        Ok(match response.decision() {
            Decision::Allow => Verdict::Allow { policies: reasons },
            Decision::Deny => Verdict::Deny {
                policy: reasons
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| "default-deny".into()),
            },
        })
    }
}

/// Which attributes of the request context the loaded policies read. Building the
/// context (Cedar evaluates every attribute's expression into a value) costs about as
/// much as the authorization itself, and an attribute no policy reads cannot change a
/// decision, so only the attributes some policy names are built.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ContextUse {
    /// Some policy uses `context` as a whole (e.g. compares records): build everything.
    All,
    /// Only these top-level attributes are read (`context.x`, `context has x`).
    Attrs(HashSet<String>),
}

impl ContextUse {
    /// Reads the policies' JSON form (Cedar's EST), where `context.x` is
    /// `{".": {"left": {"Var": "context"}, "attr": "x"}}` and `context has x` the same
    /// under `"has"`; any other occurrence of the `context` variable means all. A policy
    /// that cannot be converted also means all (never prune on a guess).
    fn of(set: &PolicySet) -> Self {
        let mut attrs = HashSet::new();
        for p in set.policies() {
            let Ok(json) = p.to_json() else {
                return ContextUse::All;
            };
            if !collect_context_attrs(&json, &mut attrs) {
                return ContextUse::All;
            }
        }
        ContextUse::Attrs(attrs)
    }

    fn wants(&self, attr: &str) -> bool {
        match self {
            ContextUse::All => true,
            ContextUse::Attrs(a) => a.contains(attr),
        }
    }
}

/// Adds the context attributes `v` reads to `out`; false when it uses the whole context.
fn collect_context_attrs(v: &serde_json::Value, out: &mut HashSet<String>) -> bool {
    use serde_json::Value;
    let is_context = |v: &Value| v.get("Var").and_then(Value::as_str) == Some("context");
    match v {
        Value::Object(map) => {
            if is_context(v) {
                return false;
            }
            for op in [".", "has"] {
                if let Some(inner) = map.get(op) {
                    if let (Some(left), Some(attr)) =
                        (inner.get("left"), inner.get("attr").and_then(Value::as_str))
                    {
                        if is_context(left) {
                            out.insert(attr.to_string());
                            return true;
                        }
                    }
                }
            }
            map.values().all(|x| collect_context_attrs(x, out))
        }
        Value::Array(items) => items.iter().all(|x| collect_context_attrs(x, out)),
        _ => true,
    }
}

/// The request context's attributes that `wanted` names, built with the schema's types.
fn context_pairs(
    principal: &Principal,
    client_ip: Option<RestrictedExpression>,
    action: Action,
    facts: &RequestFacts,
    wanted: &ContextUse,
) -> Result<Vec<(String, RestrictedExpression)>, String> {
    let mut ctx: Vec<(String, RestrictedExpression)> = Vec::new();
    if let Some(ip) = client_ip.filter(|_| wanted.wants("client_ip")) {
        ctx.push(("client_ip".into(), ip));
    }
    if wanted.wants("hour") {
        ctx.push((
            "hour".into(),
            RestrictedExpression::new_long(i64::from(facts.hour)),
        ));
    }
    if wanted.wants("weekday") {
        ctx.push((
            "weekday".into(),
            RestrictedExpression::new_string(facts.weekday.to_string()),
        ));
    }
    if let Some(w) = principal
        .workload
        .as_ref()
        .filter(|_| wanted.wants("workload"))
    {
        ctx.push((
            "workload".into(),
            RestrictedExpression::new_record([
                (
                    "id".to_string(),
                    RestrictedExpression::new_string(w.to_string()),
                ),
                (
                    "trust_domain".to_string(),
                    RestrictedExpression::new_string(w.trust_domain().to_string()),
                ),
            ])
            .map_err(|e| e.to_string())?,
        ));
    }
    if action == Action::ModelsList {
        return Ok(ctx);
    }
    if wanted.wants("max_tokens") {
        ctx.push((
            "max_tokens".to_string(),
            RestrictedExpression::new_long(clamp(facts.max_tokens)),
        ));
    }
    if wanted.wants("prompt_tokens") {
        ctx.push((
            "prompt_tokens".into(),
            RestrictedExpression::new_long(clamp(facts.prompt_tokens)),
        ));
    }
    if wanted.wants("stream") {
        ctx.push((
            "stream".into(),
            RestrictedExpression::new_bool(facts.stream),
        ));
    }
    if wanted.wants("tools") {
        ctx.push((
            "tools".into(),
            RestrictedExpression::new_set(
                facts
                    .tools
                    .iter()
                    .map(|t| RestrictedExpression::new_string(t.clone())),
            ),
        ));
    }
    if wanted.wants("guard") {
        ctx.push((
            "guard".into(),
            RestrictedExpression::new_record([
                (
                    "injection_score".to_string(),
                    RestrictedExpression::new_long(i64::from(facts.guard.injection_score)),
                ),
                (
                    "jailbreak_score".to_string(),
                    RestrictedExpression::new_long(i64::from(facts.guard.jailbreak_score)),
                ),
                (
                    "findings".to_string(),
                    RestrictedExpression::new_set(
                        facts
                            .guard
                            .findings
                            .iter()
                            .map(|f| RestrictedExpression::new_string((*f).to_string())),
                    ),
                ),
            ])
            .map_err(|e| e.to_string())?,
        ));
    }
    Ok(ctx)
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// UTC hour and weekday name of a unix time.
pub fn utc_hour_weekday(unix_secs: i64) -> (u8, &'static str) {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
    let days = unix_secs.div_euclid(86_400);
    let hour = (unix_secs.rem_euclid(86_400) / 3600) as u8;
    let wd = DAYS
        .get(days.rem_euclid(7) as usize)
        .copied()
        .unwrap_or("Mon");
    (hour, wd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn models() -> BTreeMap<String, Model> {
        let mut m = BTreeMap::new();
        for (name, tier) in [("small", "standard"), ("big", "premium")] {
            m.insert(
                name.to_string(),
                Model {
                    name: name.into(),
                    upstream: "u".into(),
                    upstream_model: name.into(),
                    provider: "mock".into(),
                    tier: tier.into(),
                    chat: true,
                    embeddings: true,
                    require_mtls: false,
                    require_jwt: false,
                    guards: "default".into(),
                    registry: false,
                    default_max_tokens: 1024,
                    max_tokens_field: Default::default(),
                },
            );
        }
        m
    }

    fn facts(max_tokens: u64) -> RequestFacts {
        RequestFacts {
            max_tokens,
            prompt_tokens: 10,
            stream: false,
            tools: vec![],
            client_ip: "10.1.2.3".parse().unwrap(),
            hour: 12,
            weekday: "Wed",
            guard: Default::default(),
        }
    }

    fn alice() -> Principal {
        Principal::api_key("alice", vec!["eng".into()], "k1")
    }

    const POLICIES: &str = r#"
@id("eng-standard")
permit(principal in Portcullis::Group::"eng", action, resource)
when { resource.tier == "standard" };

@id("cap-max-tokens")
forbid(principal, action == Portcullis::Action::"chat.completions", resource)
when { context.max_tokens > 2048 };
"#;

    fn engine(text: &str) -> Result<PolicyEngine, ConfigError> {
        PolicyEngine::from_sources(
            &[(PathBuf::from("p/main.cedar"), text.to_string())],
            &models(),
        )
    }

    #[test]
    fn allow_deny_and_context() {
        let e = engine(POLICIES).unwrap();
        let v = e.authorize(&alice(), Action::ChatCompletions, "small", &facts(100));
        assert_eq!(
            v,
            Verdict::Allow {
                policies: vec!["eng-standard".into()]
            }
        );
        let v = e.authorize(&alice(), Action::ChatCompletions, "big", &facts(100));
        assert_eq!(
            v,
            Verdict::Deny {
                policy: "default-deny".into()
            }
        );
        let v = e.authorize(&alice(), Action::ChatCompletions, "small", &facts(4096));
        assert_eq!(
            v,
            Verdict::Deny {
                policy: "cap-max-tokens".into()
            }
        );
        let v = e.authorize(&alice(), Action::ModelsList, "small", &facts(0));
        assert!(v.is_allow());
        let v = e.authorize(&alice(), Action::ChatCompletions, "nope", &facts(1));
        assert_eq!(
            v,
            Verdict::Deny {
                policy: "evaluation-error".into()
            }
        );
    }

    #[test]
    fn guard_context_reaches_policy() {
        let e = engine(
            r#"@id("all")
permit(principal, action, resource);
@id("no-injection")
forbid(principal, action == Portcullis::Action::"chat.completions", resource)
when { context.guard.injection_score >= 700 };
@id("no-secrets")
forbid(principal, action == Portcullis::Action::"chat.completions", resource)
when { context.guard.findings.contains("SECRET") };
"#,
        )
        .unwrap();
        let mut f = facts(10);
        assert!(e
            .authorize(&alice(), Action::ChatCompletions, "small", &f)
            .is_allow());
        f.guard.injection_score = 700;
        assert_eq!(
            e.authorize(&alice(), Action::ChatCompletions, "small", &f),
            Verdict::Deny {
                policy: "no-injection".into()
            }
        );
        f.guard.injection_score = 699;
        f.guard.findings = vec!["EMAIL", "SECRET"];
        assert_eq!(
            e.authorize(&alice(), Action::ChatCompletions, "small", &f),
            Verdict::Deny {
                policy: "no-secrets".into()
            }
        );
    }

    #[test]
    fn only_the_context_attributes_policies_read_are_built() {
        let attrs =
            |names: &[&str]| ContextUse::Attrs(names.iter().map(|n| n.to_string()).collect());
        assert_eq!(
            engine(POLICIES).unwrap().context_use,
            attrs(&["max_tokens"])
        );
        let e = engine(
            r#"permit(principal, action, resource)
when { context has workload && context.workload.trust_domain == "prod" };
forbid(principal, action == Portcullis::Action::"chat.completions", resource)
when { context.client_ip.isInRange(ip("10.0.0.0/8")) || context.guard.injection_score > 500 };
"#,
        )
        .unwrap();
        assert_eq!(e.context_use, attrs(&["workload", "client_ip", "guard"]));
        assert_eq!(
            engine("permit(principal, action, resource);")
                .unwrap()
                .context_use,
            attrs(&[])
        );
        // The context as a whole: nothing can be left out.
        let whole = Policy::from_str(
            r#"permit(principal, action, resource) when { context == {"hour": 1} };"#,
        )
        .unwrap();
        assert!(!collect_context_attrs(
            &whole.to_json().unwrap(),
            &mut HashSet::new()
        ));
        // Decisions over a pruned context: every authorize() in a debug build also
        // decides over the full, schema-checked context and asserts the same verdict.
        let e = engine(
            r#"@id("office-hours")
permit(principal, action, resource) when { context.hour >= 8 && context.hour < 18 };
"#,
        )
        .unwrap();
        let mut f = facts(10);
        assert!(e
            .authorize(&alice(), Action::ChatCompletions, "small", &f)
            .is_allow());
        f.hour = 20;
        assert!(!e
            .authorize(&alice(), Action::ChatCompletions, "small", &f)
            .is_allow());
    }

    #[test]
    fn syntax_error_names_line() {
        let err = engine("permit(principal, action, resource);\n\npermit(principal action);\n")
            .unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(err.to_string().starts_with("p/main.cedar:3:"), "{err}");
    }

    #[test]
    fn schema_violation_names_line() {
        let err = engine("permit(principal, action, resource);\n@id(\"x\")\npermit(principal, action, resource)\nwhen { context.max_tokenz > 1 };\n").unwrap_err();
        assert_eq!(err.line, 4, "{err}");
        assert!(err.reason.contains("schema"), "{err}");
    }

    #[test]
    fn weekday_and_hour() {
        assert_eq!(utc_hour_weekday(0), (0, "Thu"));
        // 2026-11-25 19:00 UTC is a Wednesday.
        assert_eq!(utc_hour_weekday(1_795_633_200), (19, "Wed"));
    }
}
