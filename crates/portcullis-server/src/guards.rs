//! Guards in the request path.
//!
//! The engines and the per-model profiles are built once ([`GuardEngine`]). For each
//! request, [`GuardEngine::check`] runs the input guards over every text of the parsed
//! request (rewriting it in place: redaction, pseudonymization, the canary note) and
//! returns a [`RequestGuard`] holding what the response side needs: the profile, the
//! request's placeholder mapping (memory only, dropped with the request), the values the
//! input guards saw (for the exfiltration check) and the canary. Non-streamed responses
//! are checked and restored by [`RequestGuard::guard_json`]; streams by
//! [`crate::stream`], incrementally, with the same scanner and actions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use portcullis_core::config::{Config, GuardSettings};
use portcullis_core::policy::GuardFacts;
use portcullis_guard::guard::{InputVerdict, OutputScanner};
use portcullis_guard::output::Canary;
use portcullis_guard::pseudo::Pseudonymizer;
use portcullis_guard::stream::guard_text;
use portcullis_guard::{FindingKind, GuardPolicy, Guards};
use serde_json::Value;

/// The guard engines and every profile's policy.
pub struct GuardEngine {
    guards: Arc<Guards>,
    /// Profile name to policy; `None` for a disabled profile.
    policies: HashMap<String, Option<Arc<GuardPolicy>>>,
}

impl GuardEngine {
    /// Builds the engines when any profile is enabled; `None` when every one is off.
    pub fn new(config: &Config) -> Result<Option<Self>, String> {
        Self::from_profiles(&config.guard_profiles, None)
    }

    /// Like [`GuardEngine::new`] over `profiles` (e.g. a policy bundle's), reusing
    /// `engines` when given: building them compiles every pattern.
    pub fn from_profiles(
        profiles: &BTreeMap<String, GuardSettings>,
        engines: Option<Arc<Guards>>,
    ) -> Result<Option<Self>, String> {
        if !profiles.values().any(|p| p.enabled) {
            return Ok(None);
        }
        let guards = match engines {
            Some(g) => g,
            None => Arc::new(Guards::new().map_err(|e| format!("guards: {e}"))?),
        };
        let defaults = guards.injection().thresholds();
        let mut policies = HashMap::new();
        for (name, s) in profiles {
            if !s.enabled {
                tracing::warn!(profile = %name, "guard profile is disabled: models using it are not guarded");
                policies.insert(name.clone(), None);
                continue;
            }
            let mut p = GuardPolicy::defaults(defaults);
            for (k, a) in &s.input {
                p.input.set(*k, *a);
            }
            for (k, a) in &s.output {
                p.output.set(*k, *a);
            }
            if let Some(t) = s.injection_threshold {
                p.injection_threshold = t;
            }
            if let Some(t) = s.jailbreak_threshold {
                p.jailbreak_threshold = t;
            }
            p.allowed_link_hosts = s.allowed_link_hosts.clone();
            p.canary = s.canary;
            policies.insert(name.clone(), Some(Arc::new(p)));
        }
        Ok(Some(Self { guards, policies }))
    }

    /// The effective guard configuration as canonical text, one line per item: the
    /// shipped classifier's digest, every profile's actions, thresholds, link hosts and
    /// canary setting (defaults resolved), and each model's profile. Two gateways with
    /// the same text enforce the same guards; the audit log records its digest.
    pub fn describe(
        engine: Option<&GuardEngine>,
        profiles: &BTreeMap<String, GuardSettings>,
        config: &Config,
    ) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "classifier sha256:{}",
            hex::encode(portcullis_guard::injection::embedded_model_sha256())
        );
        for name in profiles.keys() {
            let Some(p) = engine.and_then(|e| e.policy(name)) else {
                let _ = writeln!(out, "profile {name}: off");
                continue;
            };
            let table = |t: &portcullis_guard::action::ActionTable| {
                FindingKind::ALL
                    .iter()
                    .map(|k| format!("{}={}", k.as_str(), t.get(*k).as_str()))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let _ = writeln!(
                out,
                "profile {name}: input {}; output {}; injection_threshold {}; jailbreak_threshold {}; canary {}; allowed_link_hosts [{}]",
                table(&p.input),
                table(&p.output),
                p.injection_threshold,
                p.jailbreak_threshold,
                p.canary,
                p.allowed_link_hosts.join(",")
            );
        }
        for (model, m) in &config.models {
            let _ = writeln!(out, "model {model}: profile {}", m.guards);
        }
        out
    }

    /// The engines.
    pub fn guards(&self) -> &Arc<Guards> {
        &self.guards
    }

    /// The policy of a profile, `None` when it is disabled.
    pub fn policy(&self, profile: &str) -> Option<&Arc<GuardPolicy>> {
        self.policies.get(profile).and_then(Option::as_ref)
    }

    /// Runs the input guards over `texts` (rewritten in place) for `profile`; `None` when
    /// the profile is disabled.
    pub fn check(&self, profile: &str, texts: &mut [&mut String]) -> Option<RequestGuard> {
        let policy = self.policy(profile)?.clone();
        let mut pseudo = Pseudonymizer::new();
        let verdict = self.guards.check_input(&policy, texts, &mut pseudo);
        Some(RequestGuard {
            guards: self.guards.clone(),
            canary: policy.canary.then(Canary::random),
            policy,
            pseudo,
            verdict,
        })
    }
}

/// One request's guard state.
pub struct RequestGuard {
    guards: Arc<Guards>,
    /// The profile in force.
    pub policy: Arc<GuardPolicy>,
    /// The request's placeholders (memory only).
    pub pseudo: Pseudonymizer,
    /// What the input guards found.
    pub verdict: InputVerdict,
    /// The canary put into the system prompt, if the profile asks for one.
    pub canary: Option<Canary>,
}

/// A response refused by an output guard.
#[derive(Debug, Clone, Copy)]
pub struct OutputBlocked(pub FindingKind);

impl RequestGuard {
    /// What policy sees in `context.guard`.
    pub fn facts(&self) -> GuardFacts {
        let permille = |s: f32| (s.clamp(0.0, 1.0) * 1000.0).round() as u16;
        GuardFacts {
            injection_score: permille(self.verdict.scores.injection),
            jailbreak_score: permille(self.verdict.scores.jailbreak),
            findings: self.verdict.kinds(),
        }
    }

    /// The output scanner for this request.
    pub fn output_scanner(&self) -> Result<OutputScanner, String> {
        self.guards
            .output_scanner(&self.policy, &self.verdict.sensitive, self.canary.clone())
            .map_err(|e| e.to_string())
    }

    /// Checks and rewrites a non-streamed chat completion: each choice's message content
    /// is scanned with the output actions, then its placeholders are restored. Counts go
    /// to `out`. A body that is not a chat completion passes unchanged.
    pub fn guard_json(
        &self,
        body: &Bytes,
        out: &mut BTreeMap<FindingKind, u32>,
    ) -> Result<Bytes, OutputBlocked> {
        let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
            return Ok(body.clone());
        };
        let Ok(scanner) = self.output_scanner() else {
            // The scanner could not be built (a built-in pattern failed, a bug): fail
            // closed rather than pass unchecked output.
            tracing::error!("output guard unavailable; refusing the response");
            return Err(OutputBlocked(FindingKind::Secret));
        };
        let mut changed = false;
        if let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) {
            for c in choices {
                let Some(Value::String(text)) =
                    c.get_mut("message").and_then(|m| m.get_mut("content"))
                else {
                    continue;
                };
                let step = guard_text(&scanner, &self.policy.output, text);
                for f in &step.findings {
                    *out.entry(f.kind).or_default() += 1;
                }
                if let Some(b) = step.blocked {
                    return Err(OutputBlocked(b.kind));
                }
                let restored = self.pseudo.restore(&step.emit);
                if restored != *text {
                    *text = restored;
                    changed = true;
                }
            }
        }
        if !changed {
            return Ok(body.clone());
        }
        Ok(Bytes::from(v.to_string()))
    }
}

/// `EMAIL*2,SECRET*1` for the decision record (types and counts, never values).
pub fn summarize(counts: &BTreeMap<FindingKind, u32>) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{}*{n}", k.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}
