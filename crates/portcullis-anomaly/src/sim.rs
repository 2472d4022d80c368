//! A traffic simulator: a week (or more) of ordinary traffic for a few hundred
//! principals, with daily and weekly rhythms and noise, and six attack scenarios
//! injected at known times, written to a label file.
//!
//! Ordinary traffic: people (about 70%) work in their own time zone on weekdays, in
//! sessions of a few requests, with lunch dips, heavy days, the odd weekend or late
//! session, travel (a new network for a day), working from home (a second network),
//! a new browser version now and then, trying another of their group's models, and
//! rare guard false positives; services (about 30%) run around the clock at a steady
//! rate with a mild daily swing, batch services with a nightly burst. A few people
//! mistype their keys, and scanners probe with single failed authentications.
//!
//! Scenarios, each on its own principal, on day 2 or later (after warm-up):
//! `stolen_key` (a new network at the victim's local night, new client, high volume),
//! `model_extraction` (short prompts, long completions, a few per minute, for hours),
//! `injection_campaign` (most prompts score as injections), `budget_draining` (long
//! prompts and completions at a high rate), `credential_stuffing` (one address, many
//! failed authentications), `hijacked_agent` (a service calls a model its group never
//! uses, with some injection hits).

use std::collections::HashMap;
use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::event::{Decision, Event};
use crate::SplitMix64;

/// Monday 2026-01-05 00:00 UTC, the default start.
pub const DEFAULT_START_MS: i64 = 1_767_571_200_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

/// The scenarios, in label order.
pub const SCENARIOS: [&str; 6] = [
    "stolen_key",
    "model_extraction",
    "injection_campaign",
    "budget_draining",
    "credential_stuffing",
    "hijacked_agent",
];

/// What to simulate.
#[derive(Debug, Clone, Copy)]
pub struct SimConfig {
    /// The seed; the same seed gives the same traffic.
    pub seed: u64,
    /// Principals (at least 20).
    pub principals: usize,
    /// Days (at least 4).
    pub days: u32,
    /// Start, Unix milliseconds (a Monday 00:00 UTC reads best).
    pub start_ms: i64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            principals: 300,
            days: 7,
            start_ms: DEFAULT_START_MS,
        }
    }
}

/// A scenario's ground truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// One of [`SCENARIOS`].
    pub scenario: String,
    /// The victim principal (empty for credential stuffing).
    pub principal: String,
    /// The attacking address, for credential stuffing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// First attack event, Unix milliseconds.
    pub start: i64,
    /// Last attack event.
    pub end: i64,
}

#[derive(Debug, Clone, Copy)]
struct SimEvent {
    ts: i64,
    principal: u32,
    group: u32,
    ip: u32,
    ua: u32,
    model: u32,
    decision: Decision,
    prompt: u32,
    completion: u32,
    injection: f32,
}

/// Simulated traffic, sorted by time, and its labels.
#[derive(Debug)]
pub struct Simulation {
    events: Vec<SimEvent>,
    strings: Vec<String>,
    /// The scenarios.
    pub labels: Vec<Label>,
    /// Principals simulated.
    pub principals: usize,
    /// Days simulated.
    pub days: u32,
}

#[derive(Default)]
struct Interner {
    map: HashMap<String, u32>,
    strings: Vec<String>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(i) = self.map.get(s) {
            return *i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_string());
        self.map.insert(s.to_string(), i);
        i
    }
}

const GROUPS: [(&str, &[&str]); 6] = [
    ("eng", &["gpt-4o", "gpt-4o-mini", "claude-sonnet"]),
    ("research", &["gpt-4o", "research-large", "o1"]),
    ("support", &["gpt-4o-mini"]),
    ("sales", &["gpt-4o-mini", "gpt-4o"]),
    ("agents", &["gpt-4o-mini", "embed-small"]),
    ("batch", &["embed-small", "gpt-4o-mini"]),
];
const HIJACK_MODEL: &str = "research-large";

fn lognormal(rng: &mut SplitMix64, median: f64, sigma: f64) -> f64 {
    median * (sigma * rng.normal()).exp()
}

fn public_ip(rng: &mut SplitMix64, first: &[u8]) -> String {
    let a = first
        .get(rng.below(first.len() as u64) as usize)
        .copied()
        .unwrap_or(81);
    format!(
        "{a}.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        1 + rng.below(254)
    )
}

struct Person {
    name: u32,
    group: u32,
    human: bool,
    batch: bool,
    tz: i64,
    start_h: f64,
    end_h: f64,
    sessions_per_hour: f64,
    session_size: f64,
    rate_per_min: f64,
    batch_hour: i64,
    prompt: f64,
    completion: f64,
    models: Vec<u32>,
    office: u32,
    home: u32,
    ua: u32,
}

struct Gen<'a> {
    rng: SplitMix64,
    s: &'a mut Interner,
    out: Vec<SimEvent>,
}

impl Gen<'_> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        p: &Person,
        ts: i64,
        ip: u32,
        ua: u32,
        model: u32,
        prompt: f64,
        completion: f64,
        injection: Option<f32>,
    ) {
        let r = self.rng.f64();
        let decision = if r < 0.006 {
            Decision::Deny
        } else if r < 0.011 {
            Decision::Error
        } else {
            Decision::Allow
        };
        let (pt, ct) = match decision {
            Decision::Allow => (
                lognormal(&mut self.rng, prompt, 0.6).clamp(1.0, 100_000.0) as u32,
                lognormal(&mut self.rng, completion, 0.6).clamp(1.0, 16_000.0) as u32,
            ),
            _ => (0, 0),
        };
        let injection = injection.unwrap_or_else(|| {
            if self.rng.f64() < 0.003 {
                0.5 + 0.3 * self.rng.f64() as f32
            } else {
                0.08 * self.rng.f64() as f32
            }
        });
        self.out.push(SimEvent {
            ts,
            principal: p.name,
            group: p.group,
            ip,
            ua,
            model,
            decision,
            prompt: pt,
            completion: ct,
            injection,
        });
    }

    fn pick_model(&mut self, p: &Person) -> u32 {
        // The first model is the favourite.
        let n = p.models.len() as u64;
        let i = if self.rng.f64() < 0.6 {
            0
        } else {
            self.rng.below(n)
        };
        p.models.get(i as usize).copied().unwrap_or(0)
    }

    fn failure(&mut self, ts: i64, ip: u32, ua: u32) {
        self.out.push(SimEvent {
            ts,
            principal: self.s.id(""),
            group: self.s.id(""),
            ip,
            ua,
            model: self.s.id(""),
            decision: Decision::Deny,
            prompt: 0,
            completion: 0,
            injection: 0.0,
        });
    }
}

impl Simulation {
    /// Generates the traffic.
    pub fn generate(cfg: SimConfig) -> Self {
        let principals = cfg.principals.max(20);
        let days = cfg.days.max(4);
        let mut s = Interner::default();
        let mut rng = SplitMix64::new(cfg.seed);
        let empty = s.id("");
        let _ = empty;
        let tzs = [-8i64, -5, 0, 1, 2, 5, 8, 9];
        let mut people = Vec::with_capacity(principals);
        for i in 0..principals {
            let human = rng.f64() < 0.7;
            let g = if human {
                rng.below(4) as usize
            } else {
                4 + rng.below(2) as usize
            };
            let (gname, gmodels) = GROUPS.get(g).copied().unwrap_or(GROUPS[0]);
            let mut models: Vec<u32> = Vec::new();
            let want = 1 + rng.below(gmodels.len() as u64) as usize;
            let off = rng.below(gmodels.len() as u64) as usize;
            for k in 0..want {
                if let Some(m) = gmodels.get((off + k) % gmodels.len()) {
                    models.push(s.id(m));
                }
            }
            let name = if human {
                format!("u{i:04}")
            } else {
                format!("svc-{i:04}")
            };
            let office = if human {
                format!("10.{}.{}.{}", g + 1, rng.below(256), 1 + rng.below(254))
            } else {
                format!("172.16.{}.{}", i / 250, 1 + i % 250)
            };
            let home = public_ip(&mut rng, &[73, 24, 86, 92, 109]);
            let ua = if human {
                format!("Mozilla/5.0 app/{}", 100 + rng.below(20))
            } else {
                format!("agent-sdk/1.{}", rng.below(5))
            };
            people.push(Person {
                name: s.id(&name),
                group: s.id(gname),
                human,
                batch: g == 5,
                tz: tzs
                    .get(rng.below(tzs.len() as u64) as usize)
                    .copied()
                    .unwrap_or(0),
                start_h: 8.5 + rng.normal(),
                end_h: 17.5 + rng.normal(),
                sessions_per_hour: lognormal(&mut rng, 1.2, 0.5),
                session_size: lognormal(&mut rng, 3.0, 0.4),
                rate_per_min: lognormal(&mut rng, 0.35, 0.6).clamp(0.05, 3.0),
                batch_hour: rng.below(24) as i64,
                prompt: lognormal(&mut rng, 400.0, 0.5),
                completion: lognormal(&mut rng, 250.0, 0.5),
                models,
                office: s.id(&office),
                home: s.id(&home),
                ua: s.id(&ua),
            });
        }
        let mut g = Gen {
            rng: SplitMix64::new(cfg.seed.wrapping_mul(31).wrapping_add(17)),
            s: &mut s,
            out: Vec::new(),
        };
        for p in &people {
            if p.human {
                human_traffic(&mut g, p, cfg.start_ms, days);
            } else {
                service_traffic(&mut g, p, cfg.start_ms, days);
            }
        }
        // Scanners: single failed authentications from random addresses.
        let total_hours = i64::from(days) * 24;
        for h in 0..total_hours {
            for _ in 0..g.rng.poisson(2.0) {
                let ip = public_ip(&mut g.rng, &[5, 31, 45, 89, 185, 193]);
                let ip = g.s.id(&ip);
                let ua = g.s.id("curl/8.5");
                let ts = cfg.start_ms + h * HOUR + g.rng.below(HOUR as u64) as i64;
                g.failure(ts, ip, ua);
            }
        }
        let labels = scenarios(&mut g, &people, cfg.start_ms, days);
        let mut events = g.out;
        events.sort_by_key(|e| e.ts);
        Self {
            events,
            strings: s.strings,
            labels,
            principals,
            days,
        }
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn str(&self, i: u32) -> &str {
        self.strings.get(i as usize).map_or("", String::as_str)
    }

    /// The events, as the detector reads them.
    pub fn events(&self) -> impl Iterator<Item = Event<'_>> + '_ {
        self.events.iter().map(|e| {
            let group = self.str(e.group);
            Event {
                ts: e.ts,
                principal: self.str(e.principal).into(),
                ip: self.str(e.ip).into(),
                user_agent: self.str(e.ua).into(),
                model: self.str(e.model).into(),
                decision: e.decision,
                prompt_tokens: u64::from(e.prompt),
                completion_tokens: u64::from(e.completion),
                injection_score: (f64::from(e.injection) * 1000.0).round() / 1000.0,
                group: (!group.is_empty()).then(|| group.into()),
            }
        })
    }

    /// Writes the events as JSON Lines.
    pub fn write_events(&self, mut w: impl Write) -> std::io::Result<()> {
        for e in self.events() {
            serde_json::to_writer(&mut w, &e)?;
            w.write_all(b"\n")?;
        }
        w.flush()
    }

    /// Writes the labels as JSON Lines.
    pub fn write_labels(&self, mut w: impl Write) -> std::io::Result<()> {
        for l in &self.labels {
            serde_json::to_writer(&mut w, l)?;
            w.write_all(b"\n")?;
        }
        w.flush()
    }
}

fn human_traffic(g: &mut Gen<'_>, p: &Person, start: i64, days: u32) {
    let mut ua = p.ua;
    for d in 0..i64::from(days) {
        let weekday = d % 7 < 5;
        let active = g.rng.f64() < if weekday { 0.95 } else { 0.1 };
        if !active {
            continue;
        }
        let mut factor = lognormal(&mut g.rng, 1.0, 0.3);
        if g.rng.f64() < 0.05 {
            factor *= 3.0;
        }
        let ip = if g.rng.f64() < 0.03 {
            let t = public_ip(&mut g.rng, &[62, 80, 151, 176, 203]);
            g.s.id(&t)
        } else if g.rng.f64() < 0.3 {
            p.home
        } else {
            p.office
        };
        if g.rng.f64() < 0.02 {
            let t = format!("Mozilla/5.0 app/{}", 200 + g.rng.below(50));
            ua = g.s.id(&t);
        }
        let mut models = p.models.clone();
        if g.rng.f64() < 0.02 {
            if let Some(gm) = GROUPS
                .iter()
                .find(|(n, _)| g.s.id(n) == p.group)
                .map(|(_, m)| *m)
            {
                if let Some(m) = gm.get(g.rng.below(gm.len() as u64) as usize) {
                    models.push(g.s.id(m));
                }
            }
        }
        let person = Person {
            models,
            ..clone_person(p)
        };
        let day0 = start + d * DAY - p.tz * HOUR;
        let mut hours: Vec<(f64, f64)> = Vec::new();
        let (a, b) = (p.start_h, p.end_h);
        let mut h = a.floor();
        while h < b {
            let w = if (h - 12.0).abs() < 0.5 { 0.5 } else { 1.0 };
            hours.push((h, w));
            h += 1.0;
        }
        if g.rng.f64() < 0.03 {
            hours.push((22.0 + g.rng.below(2) as f64, 1.0));
        }
        for (h, w) in hours {
            let n = g.rng.poisson(p.sessions_per_hour * factor * w);
            for _ in 0..n {
                let mut ts = day0 + (h * HOUR as f64) as i64 + g.rng.below(HOUR as u64) as i64;
                let k = 1 + g.rng.poisson(p.session_size);
                let model = g.pick_model(&person);
                for _ in 0..k {
                    g.push(&person, ts, ip, ua, model, p.prompt, p.completion, None);
                    ts += 5_000 + g.rng.below(55_000) as i64;
                }
            }
        }
        // A mistyped key now and then.
        if g.rng.f64() < 0.01 {
            let t = day0 + (p.start_h * HOUR as f64) as i64;
            for i in 0..1 + g.rng.below(3) as i64 {
                g.failure(t + i * 3_000, ip, ua);
            }
        }
    }
}

fn clone_person(p: &Person) -> Person {
    Person {
        name: p.name,
        group: p.group,
        human: p.human,
        batch: p.batch,
        tz: p.tz,
        start_h: p.start_h,
        end_h: p.end_h,
        sessions_per_hour: p.sessions_per_hour,
        session_size: p.session_size,
        rate_per_min: p.rate_per_min,
        batch_hour: p.batch_hour,
        prompt: p.prompt,
        completion: p.completion,
        models: p.models.clone(),
        office: p.office,
        home: p.home,
        ua: p.ua,
    }
}

fn service_traffic(g: &mut Gen<'_>, p: &Person, start: i64, days: u32) {
    let minutes = i64::from(days) * 24 * 60;
    for m in 0..minutes {
        let hour = (m / 60) % 24;
        let swing = 1.0 + 0.3 * ((hour as f64 - 6.0) / 24.0 * std::f64::consts::TAU).sin();
        let burst = if p.batch && hour == p.batch_hour && (m % 60) < 30 {
            8.0
        } else {
            1.0
        };
        let n = g.rng.poisson(p.rate_per_min * swing * burst);
        for _ in 0..n {
            let ts = start + m * MINUTE + g.rng.below(MINUTE as u64) as i64;
            let model = g.pick_model(p);
            g.push(p, ts, p.office, p.ua, model, p.prompt, p.completion, None);
        }
    }
}

fn scenarios(g: &mut Gen<'_>, people: &[Person], start: i64, days: u32) -> Vec<Label> {
    let mut labels = Vec::new();
    let mut used: Vec<u32> = Vec::new();
    let mut pick = |g: &mut Gen<'_>, human: Option<bool>, group: Option<&str>| -> Option<usize> {
        let gid = group.map(|n| g.s.id(n));
        let candidates: Vec<usize> = people
            .iter()
            .enumerate()
            .filter(|(_, p)| human.is_none_or(|h| p.human == h))
            .filter(|(_, p)| gid.is_none_or(|id| p.group == id))
            .filter(|(_, p)| !used.contains(&p.name))
            .map(|(i, _)| i)
            .collect();
        let i = *candidates.get(g.rng.below(candidates.len() as u64) as usize)?;
        if let Some(p) = people.get(i) {
            used.push(p.name);
        }
        Some(i)
    };
    // A start on day 2 .. days-1.
    let day_start = |g: &mut Gen<'_>| start + (2 + g.rng.below(u64::from(days) - 2) as i64) * DAY;
    let name = |g: &Gen<'_>, p: &Person| {
        g.s.strings
            .get(p.name as usize)
            .cloned()
            .unwrap_or_default()
    };

    // 1. Stolen key: the victim's local night, a new network and client, high volume.
    if let Some(p) = pick(g, Some(true), None).and_then(|i| people.get(i)) {
        let t0 = day_start(g) - p.tz * HOUR + (2 * HOUR) + g.rng.below(2 * HOUR as u64) as i64;
        let ip = public_ip(&mut g.rng, &[185, 194, 45]);
        let ip = g.s.id(&ip);
        let ua = g.s.id("python-requests/2.31");
        let model = p.models.first().copied().unwrap_or(0);
        let mut ts = t0;
        let end = t0 + 20 * MINUTE;
        while ts < end {
            g.push(p, ts, ip, ua, model, 300.0, 800.0, Some(0.02));
            ts += 1_500;
        }
        labels.push(Label {
            scenario: "stolen_key".into(),
            principal: name(g, p),
            ip: None,
            start: t0,
            end: ts,
        });
    }
    // 2. Slow model extraction: short prompts, long completions, 3 a minute, 3 hours.
    if let Some(p) = pick(g, None, None).and_then(|i| people.get(i)) {
        let t0 = day_start(g) - p.tz * HOUR + 10 * HOUR + g.rng.below(4 * HOUR as u64) as i64;
        let model = p.models.first().copied().unwrap_or(0);
        let mut ts = t0;
        let end = t0 + 3 * HOUR;
        while ts < end {
            g.push(p, ts, p.office, p.ua, model, 60.0, 3_000.0, Some(0.02));
            ts += 20_000;
        }
        labels.push(Label {
            scenario: "model_extraction".into(),
            principal: name(g, p),
            ip: None,
            start: t0,
            end: ts,
        });
    }
    // 3. Prompt-injection campaign: 4 a minute, most scoring as injections, 30 minutes.
    if let Some(p) = pick(g, Some(true), None).and_then(|i| people.get(i)) {
        let t0 = day_start(g) - p.tz * HOUR + 10 * HOUR + g.rng.below(5 * HOUR as u64) as i64;
        let model = p.models.first().copied().unwrap_or(0);
        let mut ts = t0;
        let end = t0 + 30 * MINUTE;
        while ts < end {
            let inj = if g.rng.f64() < 0.7 {
                0.6 + 0.39 * g.rng.f64() as f32
            } else {
                0.1 + 0.3 * g.rng.f64() as f32
            };
            g.push(
                p,
                ts,
                p.office,
                p.ua,
                model,
                p.prompt,
                p.completion,
                Some(inj),
            );
            ts += 15_000;
        }
        labels.push(Label {
            scenario: "injection_campaign".into(),
            principal: name(g, p),
            ip: None,
            start: t0,
            end: ts,
        });
    }
    // 4. Budget draining: long prompts and completions, 20 a minute, 30 minutes.
    if let Some(p) = pick(g, None, None).and_then(|i| people.get(i)) {
        let t0 = day_start(g) - p.tz * HOUR + 11 * HOUR + g.rng.below(4 * HOUR as u64) as i64;
        let model = p.models.first().copied().unwrap_or(0);
        let mut ts = t0;
        let end = t0 + 30 * MINUTE;
        while ts < end {
            g.push(p, ts, p.office, p.ua, model, 6_000.0, 2_000.0, Some(0.02));
            ts += 3_000;
        }
        labels.push(Label {
            scenario: "budget_draining".into(),
            principal: name(g, p),
            ip: None,
            start: t0,
            end: ts,
        });
    }
    // 5. Credential stuffing: one address, 60 failed authentications a minute, 20 minutes.
    {
        let t0 = day_start(g) + g.rng.below(DAY as u64) as i64;
        let ip_s = public_ip(&mut g.rng, &[45, 91, 193]);
        let ip = g.s.id(&ip_s);
        let ua = g.s.id("python-httpx/0.27");
        let mut ts = t0;
        let end = t0 + 20 * MINUTE;
        while ts < end {
            g.failure(ts, ip, ua);
            ts += 1_000;
        }
        labels.push(Label {
            scenario: "credential_stuffing".into(),
            principal: String::new(),
            ip: Some(ip_s),
            start: t0,
            end: ts,
        });
    }
    // 6. Hijacked agent: a service calls a model its group never uses, with some
    //    injection hits (the instructions that hijacked it), 6 a minute, 30 minutes.
    if let Some(p) = pick(g, Some(false), Some("agents"))
        .or_else(|| pick(g, Some(false), None))
        .and_then(|i| people.get(i))
    {
        let t0 = day_start(g) + g.rng.below(DAY as u64) as i64;
        let model = g.s.id(HIJACK_MODEL);
        let mut ts = t0;
        let end = t0 + 30 * MINUTE;
        while ts < end {
            let inj = if g.rng.f64() < 0.2 {
                0.5 + 0.2 * g.rng.f64() as f32
            } else {
                0.05
            };
            g.push(
                p,
                ts,
                p.office,
                p.ua,
                model,
                p.prompt,
                p.completion,
                Some(inj),
            );
            ts += 10_000;
        }
        labels.push(Label {
            scenario: "hijacked_agent".into(),
            principal: name(g, p),
            ip: None,
            start: t0,
            end: ts,
        });
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_sorted_and_labelled() {
        let cfg = SimConfig {
            seed: 5,
            principals: 40,
            days: 4,
            ..SimConfig::default()
        };
        let a = Simulation::generate(cfg);
        let b = Simulation::generate(cfg);
        assert_eq!(a.len(), b.len());
        assert!(a.len() > 1_000);
        assert!(a.events.windows(2).all(|w| w[0].ts <= w[1].ts));
        assert_eq!(a.labels, b.labels);
        let names: Vec<_> = a.labels.iter().map(|l| l.scenario.as_str()).collect();
        assert_eq!(names, SCENARIOS);
        for l in &a.labels {
            assert!(l.start >= cfg.start_ms + 2 * DAY - 12 * HOUR, "{l:?}");
            assert!(l.end > l.start);
        }
        let mut out = Vec::new();
        a.write_events(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let first = text.lines().next().unwrap();
        Event::parse(first).unwrap();
    }
}
