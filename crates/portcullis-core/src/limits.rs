//! Rate limits and token budgets, in process.
//!
//! Every request reserves, before it is forwarded, one request and its token estimate
//! (prompt estimate plus `max_tokens`) against the limits of its principal and of each of
//! its groups. The reservation is all-or-nothing and made under one lock, so concurrent
//! requests can never overshoot a limit: fifty requests racing for a budget of ten get
//! exactly ten reservations. When the response is done the reservation is reconciled with
//! the real usage, returning what was not used and charging what was used beyond it (to
//! the current UTC day when the request ran past midnight).
//!
//! Per-minute limits are token buckets that refill continuously (the capacity is the
//! per-minute limit). The per-day budget is a fixed window on the UTC day, so it resets at
//! midnight UTC as operators expect. `governor` does GCRA well but has no way to give back
//! an over-reservation, which reconciliation needs; hence this small module.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Deserialize;

/// Limits for one principal or group. `None` means unlimited on that axis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    /// Requests per minute.
    pub requests_per_minute: Option<u64>,
    /// Tokens (prompt + completion) per minute.
    pub tokens_per_minute: Option<u64>,
    /// Tokens per UTC day.
    pub tokens_per_day: Option<u64>,
    /// Requests per UTC day (a request budget; in process it starts over when the
    /// gateway restarts, in Redis it is shared and kept).
    pub requests_per_day: Option<u64>,
}

impl LimitSpec {
    /// Whether any axis is limited.
    pub fn is_limited(&self) -> bool {
        self.requests_per_minute.is_some()
            || self.tokens_per_minute.is_some()
            || self.tokens_per_day.is_some()
            || self.requests_per_day.is_some()
    }
}

/// What a limit applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// A principal, by name.
    Principal(String),
    /// A group, by name.
    Group(String),
}

impl Subject {
    /// `principal` or `group`.
    pub fn kind(&self) -> &'static str {
        match self {
            Subject::Principal(_) => "principal",
            Subject::Group(_) => "group",
        }
    }
    /// The name.
    pub fn name(&self) -> &str {
        match self {
            Subject::Principal(n) | Subject::Group(n) => n,
        }
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Requests per minute.
    Requests,
    /// Tokens per minute.
    TokensPerMinute,
    /// Tokens per day.
    TokensPerDay,
    /// Requests per day.
    RequestsPerDay,
}

impl LimitKind {
    /// A stable label for metrics and errors.
    pub fn as_str(&self) -> &'static str {
        match self {
            LimitKind::Requests => "requests_per_minute",
            LimitKind::TokensPerMinute => "tokens_per_minute",
            LimitKind::TokensPerDay => "tokens_per_day",
            LimitKind::RequestsPerDay => "requests_per_day",
        }
    }
}

/// A refused reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    /// Whose limit.
    pub subject: Subject,
    /// Which limit.
    pub kind: LimitKind,
    /// When a retry could succeed; `None` when the request can never fit (it asks for
    /// more than the whole limit).
    pub retry_after: Option<Duration>,
}

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    level: f64,
    per_sec: f64,
    last: Instant,
}

impl Bucket {
    fn new(per_minute: u64, now: Instant) -> Self {
        let capacity = per_minute as f64;
        Self {
            capacity,
            level: capacity,
            per_sec: capacity / 60.0,
            last: now,
        }
    }
    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.level = (self.level + dt * self.per_sec).min(self.capacity);
        self.last = now;
    }
    fn check(&mut self, n: f64, now: Instant) -> Result<(), Option<Duration>> {
        self.refill(now);
        if n > self.capacity {
            return Err(None);
        }
        if self.level >= n {
            Ok(())
        } else {
            let wait = (n - self.level) / self.per_sec;
            Err(Some(Duration::from_secs_f64(wait.max(0.001))))
        }
    }
    fn adjust(&mut self, delta: f64) {
        // Positive delta gives back; negative charges more. The level may go negative
        // when real usage exceeded the estimate: later requests then wait for it.
        self.level = (self.level + delta).min(self.capacity);
    }
}

#[derive(Debug)]
struct State {
    spec: LimitSpec,
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    day: i64,
    day_used: u64,
    day_requests: u64,
}

impl State {
    fn new(spec: LimitSpec, now: Instant, day: i64) -> Self {
        Self {
            spec,
            requests: spec.requests_per_minute.map(|r| Bucket::new(r, now)),
            tokens: spec.tokens_per_minute.map(|t| Bucket::new(t, now)),
            day,
            day_used: 0,
            day_requests: 0,
        }
    }
    fn roll_day(&mut self, day: i64) {
        if day != self.day {
            self.day = day;
            self.day_used = 0;
            self.day_requests = 0;
        }
    }
}

/// A held reservation. Give it back to [`Limiter::reconcile`] when the response is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    subjects: Vec<Subject>,
    tokens: u64,
    day: i64,
}

impl Reservation {
    /// Tokens reserved.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }
    /// The subjects charged.
    pub fn subjects(&self) -> &[Subject] {
        &self.subjects
    }
}

/// The in-process limiter.
#[derive(Debug, Default)]
pub struct Limiter {
    states: Mutex<HashMap<Subject, State>>,
}

/// Seconds since the epoch to a UTC day number.
pub fn utc_day(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(86_400)
}

impl Limiter {
    /// An empty limiter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Restores per-day usage (from the store) at start.
    pub fn restore_day(&self, subject: Subject, spec: LimitSpec, day: i64, used: u64) {
        let mut states = self.states.lock();
        let st = states
            .entry(subject)
            .or_insert_with(|| State::new(spec, Instant::now(), day));
        st.roll_day(day);
        if st.day == day {
            st.day_used = st.day_used.max(used);
        }
    }

    /// Reserves one request and `tokens` tokens against every `(subject, spec)` given, all
    /// or nothing. `unix_secs` is wall-clock time for the daily window; `now` the
    /// monotonic clock for the per-minute buckets.
    pub fn reserve(
        &self,
        charges: &[(Subject, LimitSpec)],
        tokens: u64,
        now: Instant,
        unix_secs: i64,
    ) -> Result<Reservation, Exceeded> {
        let day = utc_day(unix_secs);
        let mut states = self.states.lock();
        // Phase one: check every limit without changing anything.
        for (subject, spec) in charges {
            if !spec.is_limited() {
                continue;
            }
            let st = states
                .entry(subject.clone())
                .or_insert_with(|| State::new(*spec, now, day));
            if st.spec != *spec {
                // Limits changed by a reload: start over with the new spec, keeping the
                // day's usage.
                let (used, requests) = (st.day_used, st.day_requests);
                let d = st.day;
                *st = State::new(*spec, now, d);
                st.day_used = used;
                st.day_requests = requests;
            }
            st.roll_day(day);
            let fail = |kind, retry_after| Exceeded {
                subject: subject.clone(),
                kind,
                retry_after,
            };
            if let Some(b) = st.requests.as_mut() {
                b.check(1.0, now)
                    .map_err(|r| fail(LimitKind::Requests, r))?;
            }
            if let Some(b) = st.tokens.as_mut() {
                b.check(tokens as f64, now)
                    .map_err(|r| fail(LimitKind::TokensPerMinute, r))?;
            }
            if let Some(limit) = spec.requests_per_day {
                if st.day_requests >= limit {
                    let until_midnight = 86_400 - unix_secs.rem_euclid(86_400);
                    return Err(fail(
                        LimitKind::RequestsPerDay,
                        Some(Duration::from_secs(until_midnight as u64)),
                    ));
                }
            }
            if let Some(limit) = spec.tokens_per_day {
                if tokens > limit {
                    return Err(fail(LimitKind::TokensPerDay, None));
                }
                if st.day_used.saturating_add(tokens) > limit {
                    let until_midnight = 86_400 - unix_secs.rem_euclid(86_400);
                    return Err(fail(
                        LimitKind::TokensPerDay,
                        Some(Duration::from_secs(until_midnight as u64)),
                    ));
                }
            }
        }
        // Phase two: every check passed under the same lock; charge them all.
        let mut subjects = Vec::with_capacity(charges.len());
        for (subject, spec) in charges {
            if !spec.is_limited() {
                continue;
            }
            if let Some(st) = states.get_mut(subject) {
                if let Some(b) = st.requests.as_mut() {
                    b.adjust(-1.0);
                }
                if let Some(b) = st.tokens.as_mut() {
                    b.adjust(-(tokens as f64));
                }
                st.day_used = st.day_used.saturating_add(tokens);
                st.day_requests = st.day_requests.saturating_add(1);
                subjects.push(subject.clone());
            }
        }
        Ok(Reservation {
            subjects,
            tokens,
            day,
        })
    }

    /// Settles a reservation with the tokens really used, at `unix_secs` (wall-clock time
    /// now). While the UTC day the reservation was taken from is still the current one,
    /// the day's usage is corrected to the real usage. Once that day has ended (the
    /// request ran past midnight), only the current day is kept: a refund is dropped (it
    /// was not taken from today) and the usage beyond the reservation is charged to
    /// today, so it is never lost.
    pub fn reconcile(&self, reservation: &Reservation, used_tokens: u64, unix_secs: i64) {
        let delta = reservation.tokens as f64 - used_tokens as f64;
        let excess = used_tokens.saturating_sub(reservation.tokens);
        let today = utc_day(unix_secs);
        let mut states = self.states.lock();
        for s in &reservation.subjects {
            if let Some(st) = states.get_mut(s) {
                if let Some(b) = st.tokens.as_mut() {
                    b.adjust(delta);
                }
                // Forward only: a wall clock stepped back must not wipe today's usage.
                if today > st.day {
                    st.roll_day(today);
                }
                if st.day == reservation.day {
                    st.day_used = st
                        .day_used
                        .saturating_sub(reservation.tokens)
                        .saturating_add(used_tokens);
                } else {
                    st.day_used = st.day_used.saturating_add(excess);
                }
            }
        }
    }

    /// Tokens used today by a subject (for reports and tests).
    pub fn day_used(&self, subject: &Subject) -> u64 {
        self.states.lock().get(subject).map_or(0, |s| s.day_used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn spec(rpm: Option<u64>, tpm: Option<u64>, tpd: Option<u64>) -> LimitSpec {
        LimitSpec {
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
            tokens_per_day: tpd,
            requests_per_day: None,
        }
    }

    #[test]
    fn a_request_budget_holds_under_concurrency_and_starts_over_the_next_day() {
        let l = Arc::new(Limiter::new());
        let now = Instant::now();
        let budget = LimitSpec {
            requests_per_day: Some(7),
            ..LimitSpec::default()
        };
        let charges = vec![(Subject::Principal("p".into()), budget)];
        let passed = std::thread::scope(|s| {
            let hs: Vec<_> = (0..40)
                .map(|_| s.spawn(|| l.reserve(&charges, 5, now, 1_000).is_ok()))
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap_or(false))
                .filter(|ok| *ok)
                .count()
        });
        assert_eq!(passed, 7);
        let e = l.reserve(&charges, 5, now, 2_000).unwrap_err();
        assert_eq!(e.kind, LimitKind::RequestsPerDay);
        // The next UTC day starts over.
        assert!(l.reserve(&charges, 5, now, 86_400 + 10).is_ok());
    }

    #[test]
    fn concurrent_reservations_never_overshoot() {
        let l = Arc::new(Limiter::new());
        let now = Instant::now();
        let charges = vec![(Subject::Principal("p".into()), spec(Some(10), None, None))];
        let handles: Vec<_> = (0..50)
            .map(|_| {
                let l = l.clone();
                let c = charges.clone();
                std::thread::spawn(move || l.reserve(&c, 5, now, 0).is_ok())
            })
            .collect();
        let ok = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|passed| *passed)
            .count();
        assert_eq!(ok, 10);
    }

    #[test]
    fn group_limit_is_shared_and_atomic() {
        let l = Limiter::new();
        let now = Instant::now();
        let g = (Subject::Group("team".into()), spec(Some(3), None, None));
        let a = vec![
            (Subject::Principal("a".into()), spec(Some(2), None, None)),
            g.clone(),
        ];
        let b = vec![
            (Subject::Principal("b".into()), spec(Some(100), None, None)),
            g,
        ];
        assert!(l.reserve(&a, 0, now, 0).is_ok());
        assert!(l.reserve(&a, 0, now, 0).is_ok());
        let e = l.reserve(&a, 0, now, 0).unwrap_err();
        assert_eq!(e.subject, Subject::Principal("a".into()));
        assert!(l.reserve(&b, 0, now, 0).is_ok());
        let e = l.reserve(&b, 0, now, 0).unwrap_err();
        assert_eq!(e.subject, Subject::Group("team".into()));
        assert!(e.retry_after.is_some());
    }

    #[test]
    fn reconcile_returns_unused_tokens() {
        let l = Limiter::new();
        let now = Instant::now();
        let c = vec![(
            Subject::Principal("p".into()),
            spec(None, Some(1000), Some(5000)),
        )];
        let r = l.reserve(&c, 800, now, 0).unwrap();
        assert!(l.reserve(&c, 800, now, 0).is_err());
        l.reconcile(&r, 100, 0);
        assert_eq!(l.day_used(&Subject::Principal("p".into())), 100);
        assert!(l.reserve(&c, 800, now, 0).is_ok());
    }

    #[test]
    fn oversized_request_can_never_fit() {
        let l = Limiter::new();
        let c = vec![(Subject::Principal("p".into()), spec(None, Some(100), None))];
        let e = l.reserve(&c, 101, Instant::now(), 0).unwrap_err();
        assert_eq!(e.kind, LimitKind::TokensPerMinute);
        assert_eq!(e.retry_after, None);
    }

    #[test]
    fn daily_budget_resets_at_utc_midnight() {
        let l = Limiter::new();
        let now = Instant::now();
        let c = vec![(Subject::Principal("p".into()), spec(None, None, Some(10)))];
        assert!(l.reserve(&c, 10, now, 86_400 - 5).is_ok());
        let e = l.reserve(&c, 1, now, 86_400 - 5).unwrap_err();
        assert_eq!(e.retry_after, Some(Duration::from_secs(5)));
        assert!(l.reserve(&c, 10, now, 86_400).is_ok());
    }

    const DAY: i64 = 86_400;

    #[test]
    fn usage_beyond_a_reservation_that_ends_after_midnight_counts_toward_the_new_day() {
        let p = Subject::Principal("p".into());
        let c = vec![(p.clone(), spec(None, None, Some(1000)))];
        let now = Instant::now();
        // Whether or not another request rolled the day over before the late one ends.
        for other_request_after_midnight in [false, true] {
            let l = Limiter::new();
            let r = l.reserve(&c, 100, now, DAY - 5).unwrap();
            if other_request_after_midnight {
                let o = l.reserve(&c, 10, now, DAY + 1).unwrap();
                l.reconcile(&o, 10, DAY + 2);
            }
            // It used 900 tokens: 800 more than it reserved, spent after midnight.
            l.reconcile(&r, 900, DAY + 5);
            let today = if other_request_after_midnight {
                810
            } else {
                800
            };
            assert_eq!(l.day_used(&p), today, "{other_request_after_midnight}");
            assert!(l.reserve(&c, 1000 - today + 1, now, DAY + 6).is_err());
            assert!(l.reserve(&c, 1000 - today, now, DAY + 6).is_ok());
        }
    }

    #[test]
    fn a_refund_after_midnight_does_not_add_to_the_new_day() {
        let p = Subject::Principal("p".into());
        let c = vec![(p.clone(), spec(None, None, Some(1000)))];
        let now = Instant::now();
        let l = Limiter::new();
        let r = l.reserve(&c, 900, now, DAY - 5).unwrap();
        let o = l.reserve(&c, 300, now, DAY + 1).unwrap();
        // The first reserved 900 yesterday and used 10: nothing comes back today.
        l.reconcile(&r, 10, DAY + 5);
        assert_eq!(l.day_used(&p), 300);
        l.reconcile(&o, 300, DAY + 6);
        assert!(l.reserve(&c, 701, now, DAY + 7).is_err());
        // Before midnight the same refund is settled in its own day.
        let r = l.reserve(&c, 600, now, 3 * DAY - 10).unwrap();
        l.reconcile(&r, 10, 3 * DAY - 5);
        assert_eq!(l.day_used(&p), 10);
    }
}
