//! Scoring alerts against the simulator's labels: per-scenario detection and time to
//! containment, false alerts and false quarantines per 1,000 principal-days.
//!
//! An alert belongs to a scenario when it names the scenario's principal (or, for
//! credential stuffing, its address) and falls between the scenario's start and
//! [`GRACE_MS`] after its end (decayed counters stay high for a while after an attack
//! stops). Every other alert is false, including alerts on a victim outside that window.
//! Containment is the first alert whose action is more than `alert`.

use std::fmt::Write as _;

use serde::Serialize;

use crate::config::{Action, DetectorConfig};
use crate::detector::Detector;
use crate::event::Alert;
use crate::sim::{Label, SimConfig, Simulation, SCENARIOS};

/// How long after a scenario's end its alerts still belong to it.
pub const GRACE_MS: i64 = 30 * 60_000;

/// One scenario's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// The scenario.
    pub scenario: String,
    /// Whether any alert named it.
    pub detected: bool,
    /// Seconds of event time from its start to the first alert.
    pub detect_s: Option<f64>,
    /// Seconds from its start to the first containing action.
    pub contain_s: Option<f64>,
    /// The first containing action.
    pub action: Option<Action>,
    /// The strongest action reached, and seconds from the start to it.
    pub strongest: Option<(Action, f64)>,
}

/// One run's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// Per scenario.
    pub scenarios: Vec<ScenarioResult>,
    /// Principal-days of traffic.
    pub principal_days: f64,
    /// Alerts outside every scenario.
    pub false_alerts: u64,
    /// Of those, quarantines.
    pub false_quarantines: u64,
    /// Events replayed.
    pub events: u64,
    /// Alerts in all.
    pub alerts: u64,
}

fn belongs(a: &Alert, l: &Label) -> bool {
    let who = match &l.ip {
        Some(ip) => a.ip.as_deref() == Some(ip.as_str()),
        None => !l.principal.is_empty() && a.principal == l.principal,
    };
    who && a.ts >= l.start && a.ts <= l.end.saturating_add(GRACE_MS)
}

/// Scores `alerts` against `labels`.
pub fn score(labels: &[Label], alerts: &[Alert], principal_days: f64, events: u64) -> RunResult {
    let scenarios = labels
        .iter()
        .map(|l| {
            let mine = alerts.iter().filter(|a| belongs(a, l));
            let mut first = None;
            let mut contain = None;
            let mut strongest: Option<(Action, i64)> = None;
            for a in mine {
                first.get_or_insert(a.ts);
                if strongest.is_none_or(|s| a.action > s.0) {
                    strongest = Some((a.action, a.ts));
                }
                if a.action.contains() && contain.is_none() {
                    contain = Some((a.ts, a.action));
                }
            }
            let secs = |t: i64| t.saturating_sub(l.start) as f64 / 1000.0;
            ScenarioResult {
                scenario: l.scenario.clone(),
                detected: first.is_some(),
                detect_s: first.map(secs),
                contain_s: contain.map(|c| secs(c.0)),
                action: contain.map(|c| c.1),
                strongest: strongest.map(|s| (s.0, secs(s.1))),
            }
        })
        .collect();
    let false_ones: Vec<_> = alerts
        .iter()
        .filter(|a| !labels.iter().any(|l| belongs(a, l)))
        .collect();
    RunResult {
        scenarios,
        principal_days,
        false_alerts: false_ones.len() as u64,
        false_quarantines: false_ones
            .iter()
            .filter(|a| a.action == Action::Quarantine)
            .count() as u64,
        events,
        alerts: alerts.len() as u64,
    }
}

/// Simulates `sim` and replays it through a new detector, in process (the same
/// [`Detector::observe`] the CLI replay and the gateway call).
pub fn run(sim: SimConfig, cfg: &DetectorConfig) -> (RunResult, Vec<Alert>) {
    let s = Simulation::generate(sim);
    let mut d = Detector::new(cfg.clone());
    let mut alerts = Vec::new();
    let mut events = 0u64;
    for e in s.events() {
        events += 1;
        if let Some(a) = d.observe(&e) {
            alerts.push(a);
        }
    }
    let pd = s.principals as f64 * f64::from(s.days);
    (score(&s.labels, &alerts, pd, events), alerts)
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// A Markdown table over several runs: per scenario, detections, median and worst time
/// to containment, the actions taken; then the false-alert rates.
pub fn table(runs: &[(u64, RunResult)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | detected | contained | median detect (s) | median contain (s) | worst contain (s) | first containment | strongest action (median s to it) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for name in SCENARIOS {
        let rs: Vec<&ScenarioResult> = runs
            .iter()
            .flat_map(|(_, r)| r.scenarios.iter().filter(|s| s.scenario == name))
            .collect();
        let det = rs.iter().filter(|s| s.detected).count();
        let mut ds: Vec<f64> = rs.iter().filter_map(|s| s.detect_s).collect();
        let mut cs: Vec<f64> = rs.iter().filter_map(|s| s.contain_s).collect();
        let worst = cs
            .iter()
            .copied()
            .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.max(b))));
        let mut actions: Vec<&str> = rs
            .iter()
            .filter_map(|s| s.action.map(Action::as_str))
            .collect();
        actions.sort_unstable();
        actions.dedup();
        let strong: Vec<(Action, f64)> = rs.iter().filter_map(|s| s.strongest).collect();
        let mut strongest = Vec::new();
        for act in [
            Action::Alert,
            Action::Throttle,
            Action::StepUp,
            Action::Quarantine,
        ] {
            let mut t: Vec<f64> = strong.iter().filter(|s| s.0 == act).map(|s| s.1).collect();
            if let Some(m) = median(&mut t) {
                strongest.push(format!("{} ×{} ({m:.0})", act.as_str(), t.len()));
            }
        }
        let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.0}"));
        let _ = writeln!(
            out,
            "| {name} | {det}/{} | {}/{} | {} | {} | {} | {} | {} |",
            rs.len(),
            cs.len(),
            rs.len(),
            f(median(&mut ds)),
            f(median(&mut cs)),
            f(worst),
            actions.join(", "),
            strongest.join(", ")
        );
    }
    let pd: f64 = runs.iter().map(|(_, r)| r.principal_days).sum();
    let fa: u64 = runs.iter().map(|(_, r)| r.false_alerts).sum();
    let fq: u64 = runs.iter().map(|(_, r)| r.false_quarantines).sum();
    let ev: u64 = runs.iter().map(|(_, r)| r.events).sum();
    let mut all_c: Vec<f64> = runs
        .iter()
        .flat_map(|(_, r)| r.scenarios.iter().filter_map(|s| s.contain_s))
        .collect();
    let seeds: Vec<String> = runs.iter().map(|(s, _)| s.to_string()).collect();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{}{pd:.0} principal-days; median time to containment over all scenarios {} s; false alerts {fa} ({:.2} per 1,000 principal-days); false quarantines {fq} ({:.2} per 1,000 principal-days).",
        if ev > 0 {
            format!("Seeds {}: {ev} events, ", seeds.join(", "))
        } else {
            String::new()
        },
        median(&mut all_c).map_or("-".into(), |v| format!("{v:.0}")),
        fa as f64 * 1000.0 / pd.max(1.0),
        fq as f64 * 1000.0 / pd.max(1.0),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Severity;
    use std::collections::BTreeMap;

    fn alert(ts: i64, principal: &str, action: Action) -> Alert {
        Alert {
            ts,
            principal: principal.into(),
            ip: None,
            kind: "volume".into(),
            score: 5.0,
            severity: Severity::Medium,
            action,
            features: BTreeMap::new(),
        }
    }

    #[test]
    fn scoring_counts_false_and_contained() {
        let labels = vec![Label {
            scenario: "stolen_key".into(),
            principal: "u1".into(),
            ip: None,
            start: 1_000,
            end: 100_000,
        }];
        let alerts = vec![
            alert(500, "u1", Action::Alert),
            alert(2_000, "u1", Action::Alert),
            alert(31_000, "u1", Action::Quarantine),
            alert(50_000, "u2", Action::Quarantine),
        ];
        let r = score(&labels, &alerts, 1000.0, 10);
        assert_eq!(r.false_alerts, 2);
        assert_eq!(r.false_quarantines, 1);
        let s = &r.scenarios[0];
        assert_eq!(s.detect_s, Some(1.0));
        assert_eq!(s.contain_s, Some(30.0));
        let t = table(&[(1, r)]);
        assert!(
            t.contains(
                "| stolen_key | 1/1 | 1/1 | 1 | 30 | 30 | quarantine | quarantine ×1 (30) |"
            ),
            "{t}"
        );
    }
}
