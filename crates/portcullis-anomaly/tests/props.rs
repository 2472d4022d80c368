//! Property tests: no input line, event or time order makes the detector or the replay
//! panic, and replay is deterministic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::borrow::Cow;

use portcullis_anomaly::config::DetectorConfig;
use portcullis_anomaly::replay::replay;
use portcullis_anomaly::{Decision, Detector, Event};
use proptest::prelude::*;

fn decision() -> impl Strategy<Value = Decision> {
    prop_oneof![
        Just(Decision::Allow),
        Just(Decision::Deny),
        Just(Decision::Error)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_line_is_an_error_or_an_event(line in ".{0,200}") {
        let input = format!("{line}\n");
        let _ = replay(&DetectorConfig::default(), input.as_bytes(), Vec::new());
    }

    #[test]
    fn any_events_any_order(
        events in proptest::collection::vec(
            (any::<i64>(), "[a-c]{0,2}", "[0-9.:a-f]{0,12}", "[a-z/0-9.]{0,8}", "[a-z]{0,3}",
             decision(), any::<u64>(), any::<u64>(), any::<f64>()),
            1..60,
        )
    ) {
        let mut d = Detector::new(DetectorConfig {
            warmup_events: 2,
            warmup_ms: 0,
            hst_window: 8,
            ..DetectorConfig::default()
        });
        for (ts, p, ip, ua, m, dec, pt, ct, inj) in &events {
            let e = Event {
                ts: *ts,
                principal: Cow::Borrowed(p),
                ip: Cow::Borrowed(ip),
                user_agent: Cow::Borrowed(ua),
                model: Cow::Borrowed(m),
                decision: *dec,
                prompt_tokens: *pt,
                completion_tokens: *ct,
                injection_score: *inj,
                group: None,
            };
            if let Some(a) = d.observe(&e) {
                prop_assert!(a.score.is_finite() || a.score.is_infinite());
                serde_json::to_string(&a).unwrap();
            }
        }
    }
}

#[test]
fn replay_is_deterministic() {
    let sim = portcullis_anomaly::sim::Simulation::generate(portcullis_anomaly::sim::SimConfig {
        seed: 9,
        principals: 40,
        days: 4,
        ..Default::default()
    });
    let mut input = Vec::new();
    sim.write_events(&mut input).unwrap();
    let run = || {
        let mut out = Vec::new();
        let stats = replay(&DetectorConfig::default(), input.as_slice(), &mut out).unwrap();
        (stats, out)
    };
    let (a, out_a) = run();
    let (b, out_b) = run();
    assert_eq!(a, b);
    assert_eq!(out_a, out_b);
    assert_eq!(a.events as usize, sim.len());
}
