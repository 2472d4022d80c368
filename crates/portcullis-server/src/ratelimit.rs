//! Rate limits and budgets as the gateway enforces them: in process for one replica, or
//! in Redis when several replicas must share them (`[redis]`).
//!
//! In Redis each reservation is one Lua script, which Redis runs atomically: it checks
//! every limit of every subject charged (the principal and its groups) and charges them
//! all, or none. Requests per minute and tokens per minute are GCRA (the theoretical
//! arrival time is the stored state, so a reservation's unused tokens can be given back
//! by moving it); daily budgets are counters on the UTC day. Time is Redis's own clock, so
//! replicas whose clocks drift still agree. However many replicas race, a budget of N
//! admits at most N.
//!
//! When Redis does not answer within `redis.timeout`, `on_unavailable` decides: refuse
//! (`fail_closed`, the default) or enforce the limits per replica in process (`local`),
//! counted in `portcullis_limits_fallback_total`. After [`TRIP_AFTER`] failures in a row
//! Redis is retried at most every [`RETRY_AFTER`], so an outage does not cost every
//! caller a timeout; a single slow answer fails only its own request.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use portcullis_core::config::{RedisConfig, RedisFallback};
use portcullis_core::limits::{
    utc_day, Exceeded, LimitKind, LimitSpec, Limiter, Reservation, Subject,
};
use secrecy::ExposeSecret;

/// How long after [`TRIP_AFTER`] failures in a row Redis is left alone.
pub const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Failures in a row that count Redis as down.
pub const TRIP_AFTER: u32 = 3;

/// Why a reservation was refused.
#[derive(Debug)]
pub enum LimitError {
    /// A limit would be exceeded.
    Exceeded(Exceeded),
    /// The shared limits could not be checked, and the configuration says fail closed.
    Unavailable,
}

/// A held reservation; give it back to [`Limits::reconcile`] when the request ends.
#[derive(Debug)]
pub enum Held {
    /// Taken from the in-process limiter.
    Local(Reservation),
    /// Taken in Redis.
    Shared(SharedReservation),
}

impl Held {
    /// Tokens reserved.
    pub fn tokens(&self) -> u64 {
        match self {
            Held::Local(r) => r.tokens(),
            Held::Shared(r) => r.tokens,
        }
    }
}

/// A reservation held in Redis.
#[derive(Debug)]
pub struct SharedReservation {
    charges: Vec<(Subject, LimitSpec)>,
    tokens: u64,
    day: i64,
}

/// The limits of this gateway.
pub struct Limits {
    /// In process: the limits themselves, or Redis's fallback.
    local: Limiter,
    shared: Option<Shared>,
}

struct Shared {
    client: redis::Client,
    /// Made on first use (the gateway is built outside async code); reconnects itself.
    conn: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
    reserve: redis::Script,
    reconcile: redis::Script,
    restore: redis::Script,
    prefix: String,
    timeout: Duration,
    fallback: RedisFallback,
    /// Unix ms before which Redis is not tried (after a failure).
    down_until_ms: AtomicI64,
    /// Failures since the last success.
    failures: std::sync::atomic::AtomicU32,
    up: AtomicBool,
}

/// Checks every limit, then charges them all. KEYS are three per subject (requests-per-
/// minute TAT, tokens-per-minute TAT, day counter prefix); ARGV: subject count, tokens,
/// seconds until UTC midnight, then per subject: rpm, tpm, tpd, rpd (0 = unlimited).
/// Returns {-1} when charged, else {subject index, limit kind, retry ms (-1: never)}.
const RESERVE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local tokens = tonumber(ARGV[2])
local midnight_ms = tonumber(ARGV[3]) * 1000
local function tat(key)
  local v = redis.call('GET', key)
  if v then return math.max(tonumber(v), now) end
  return now
end
for i = 0, n - 1 do
  local rpm = tonumber(ARGV[4 + 4 * i])
  local tpm = tonumber(ARGV[5 + 4 * i])
  local tpd = tonumber(ARGV[6 + 4 * i])
  local rpd = tonumber(ARGV[7 + 4 * i])
  if rpm > 0 then
    local next = tat(KEYS[1 + 3 * i]) + 60000 / rpm
    if next - now > 60000 + 0.001 then return {i, 1, math.ceil(next - now - 60000)} end
  end
  if tpm > 0 then
    if tokens > tpm then return {i, 2, -1} end
    local next = tat(KEYS[2 + 3 * i]) + tokens * 60000 / tpm
    if next - now > 60000 + 0.001 then return {i, 2, math.ceil(next - now - 60000)} end
  end
  if rpd > 0 then
    local used = tonumber(redis.call('GET', KEYS[3 + 3 * i] .. ':r') or '0')
    if used + 1 > rpd then return {i, 4, midnight_ms} end
  end
  if tpd > 0 then
    if tokens > tpd then return {i, 3, -1} end
    local used = tonumber(redis.call('GET', KEYS[3 + 3 * i] .. ':t') or '0')
    if used + tokens > tpd then return {i, 3, midnight_ms} end
  end
end
for i = 0, n - 1 do
  local rpm = tonumber(ARGV[4 + 4 * i])
  local tpm = tonumber(ARGV[5 + 4 * i])
  local tpd = tonumber(ARGV[6 + 4 * i])
  local rpd = tonumber(ARGV[7 + 4 * i])
  if rpm > 0 then
    local next = tat(KEYS[1 + 3 * i]) + 60000 / rpm
    redis.call('SET', KEYS[1 + 3 * i], string.format('%.3f', next), 'PX', math.ceil(next - now) + 1000)
  end
  if tpm > 0 then
    local next = tat(KEYS[2 + 3 * i]) + tokens * 60000 / tpm
    redis.call('SET', KEYS[2 + 3 * i], string.format('%.3f', next), 'PX', math.ceil(next - now) + 1000)
  end
  if rpd > 0 then
    redis.call('INCR', KEYS[3 + 3 * i] .. ':r')
    redis.call('EXPIRE', KEYS[3 + 3 * i] .. ':r', 172800)
  end
  if tpd > 0 then
    redis.call('INCRBY', KEYS[3 + 3 * i] .. ':t', tokens)
    redis.call('EXPIRE', KEYS[3 + 3 * i] .. ':t', 172800)
  end
end
return {-1}
"#;

/// Gives back the tokens a reservation did not use (or charges what it used beyond).
/// KEYS as for RESERVE (day counters of the reservation's day), then one day counter
/// prefix per subject for the current day; ARGV: subject count, reserved tokens, used
/// tokens, 1 when the reservation's day has ended (0 otherwise), then per subject tpm, tpd.
/// Usage beyond the reservation is charged to the current day when the reservation's
/// day has ended or its counter is gone (Redis lost it), and to a per-minute state that
/// has expired as a fresh one: it is never dropped. A refund goes back to the
/// reservation's own day only (never to the current one, which it was not taken from).
const RECONCILE: &str = r#"
local n = tonumber(ARGV[1])
local reserved = tonumber(ARGV[2])
local used = tonumber(ARGV[3])
local ended = tonumber(ARGV[4]) == 1
local delta = used - reserved
if delta == 0 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 0, n - 1 do
  local tpm = tonumber(ARGV[5 + 2 * i])
  local tpd = tonumber(ARGV[6 + 2 * i])
  if tpm > 0 then
    local key = KEYS[2 + 3 * i]
    local v = redis.call('GET', key)
    local next = nil
    if v then
      local tat = tonumber(v)
      -- A charge starts from now when the state is in the past (GCRA); a refund
      -- moves the state back.
      if delta > 0 then tat = math.max(tat, now) end
      next = tat + delta * 60000 / tpm
    elseif delta > 0 then
      next = now + delta * 60000 / tpm
    end
    if next then
      redis.call('SET', key, string.format('%.3f', next), 'PX', math.max(math.ceil(next - now) + 1000, 1000))
    end
  end
  if tpd > 0 then
    local key = KEYS[3 + 3 * i] .. ':t'
    local exists = redis.call('EXISTS', key) == 1
    if delta > 0 and (ended or not exists) then
      local cur = KEYS[3 * n + 1 + i] .. ':t'
      redis.call('INCRBY', cur, string.format('%d', delta))
      redis.call('EXPIRE', cur, 172800)
    elseif exists then
      local left = tonumber(redis.call('INCRBY', key, string.format('%d', delta)))
      if left < 0 then redis.call('SET', key, 0, 'KEEPTTL') end
    end
  end
end
return 0
"#;

/// Raises a day counter to at least a value (restoring usage recorded in the store after
/// Redis lost its data). KEYS[1] the counter; ARGV[1] the value.
const RESTORE: &str = r#"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', 172800)
end
return 0
"#;

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A Redis error for logs: its kind only, since the full text can quote the URL.
fn redis_error(e: &redis::RedisError) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connection_refusal() {
        "connection refused".into()
    } else {
        format!("{:?}", e.kind())
    }
}

fn kind_from_code(code: i64) -> LimitKind {
    match code {
        1 => LimitKind::Requests,
        2 => LimitKind::TokensPerMinute,
        4 => LimitKind::RequestsPerDay,
        _ => LimitKind::TokensPerDay,
    }
}

impl Limits {
    /// In-process limits only.
    pub fn local() -> Self {
        Self {
            local: Limiter::new(),
            shared: None,
        }
    }

    /// Limits in Redis. The URL is checked now; the connection is made on first use, and
    /// a Redis that is down then is not fatal (`on_unavailable` applies until it answers).
    pub fn redis(config: &RedisConfig) -> Result<Self, String> {
        let client = redis::Client::open(config.url.expose_secret())
            // The error may quote the URL, password included; name the setting instead.
            .map_err(|e| format!("redis.url is not usable: {}", redis_error(&e)))?;
        Ok(Self {
            local: Limiter::new(),
            shared: Some(Shared {
                client,
                conn: tokio::sync::OnceCell::new(),
                reserve: redis::Script::new(RESERVE),
                reconcile: redis::Script::new(RECONCILE),
                restore: redis::Script::new(RESTORE),
                prefix: config.key_prefix.clone(),
                timeout: config.timeout,
                fallback: config.on_unavailable,
                down_until_ms: AtomicI64::new(0),
                failures: std::sync::atomic::AtomicU32::new(0),
                up: AtomicBool::new(true),
            }),
        })
    }

    /// Connects and loads the scripts ahead of the first request (best effort: a failure
    /// here is retried by the first request).
    pub async fn warm_up(&self) {
        if let Some(s) = &self.shared {
            let work = async {
                let mut conn = s.conn().await?;
                for script in [&s.reserve, &s.reconcile, &s.restore] {
                    script
                        .load_async(&mut conn)
                        .await
                        .map_err(|e| redis_error(&e))?;
                }
                Ok::<(), String>(())
            };
            match tokio::time::timeout(s.timeout * 20, work).await {
                Ok(Ok(())) => tracing::debug!("redis: connected, scripts loaded"),
                Ok(Err(e)) => tracing::warn!(error = %e, "redis: not reachable at start"),
                Err(_) => tracing::warn!("redis: no answer at start"),
            }
        }
    }

    /// Whether limits are shared through Redis.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Whether Redis answered the last call (always true in process).
    pub fn redis_up(&self) -> bool {
        self.shared
            .as_ref()
            .is_none_or(|s| s.up.load(Ordering::Relaxed))
    }

    /// Restores a subject's daily token usage recorded in the store into the in-process
    /// limiter (the limits themselves, or Redis's fallback).
    pub fn restore_local(&self, subject: Subject, spec: LimitSpec, day: i64, used: u64) {
        self.local.restore_day(subject, spec, day, used);
    }

    /// Raises a subject's daily token counter in Redis to the usage recorded in the store,
    /// for when Redis lost its data.
    pub async fn restore_shared(&self, subject: &Subject, day: i64, used: u64) {
        if let Some(s) = &self.shared {
            let mut inv = s.restore.prepare_invoke();
            inv.key(format!("{}:t", s.day_key(subject, day))).arg(used);
            if let Err(e) = s.run::<i64>(inv).await {
                tracing::warn!(error = %e, "redis: day usage not restored");
            }
        }
    }

    /// Reserves one request and `tokens` against every limit of `charges`, all or
    /// nothing. `fallback` is called when the in-process fallback was used.
    pub async fn reserve(
        &self,
        charges: &[(Subject, LimitSpec)],
        tokens: u64,
        unix_secs: i64,
        on_fallback: impl FnOnce(),
    ) -> Result<Held, LimitError> {
        let Some(s) = &self.shared else {
            return self
                .local
                .reserve(charges, tokens, Instant::now(), unix_secs)
                .map(Held::Local)
                .map_err(LimitError::Exceeded);
        };
        let limited: Vec<(Subject, LimitSpec)> = charges
            .iter()
            .filter(|(_, spec)| spec.is_limited())
            .cloned()
            .collect();
        let day = utc_day(unix_secs);
        if limited.is_empty() {
            return Ok(Held::Shared(SharedReservation {
                charges: limited,
                tokens,
                day,
            }));
        }
        match s.reserve(&limited, tokens, unix_secs, day).await {
            Ok(None) => Ok(Held::Shared(SharedReservation {
                charges: limited,
                tokens,
                day,
            })),
            Ok(Some(exceeded)) => Err(LimitError::Exceeded(exceeded)),
            Err(()) => match s.fallback {
                RedisFallback::FailClosed => Err(LimitError::Unavailable),
                RedisFallback::Local => {
                    on_fallback();
                    self.local
                        .reserve(charges, tokens, Instant::now(), unix_secs)
                        .map(Held::Local)
                        .map_err(LimitError::Exceeded)
                }
            },
        }
    }

    /// Settles a reservation with the tokens really used, at `unix_secs` (wall-clock
    /// time now): against the day the reservation was taken from, or, when that day has
    /// ended since, by charging the usage beyond the reservation to the current day.
    pub async fn reconcile(&self, held: Held, used_tokens: u64, unix_secs: i64) {
        match held {
            Held::Local(r) => self.local.reconcile(&r, used_tokens, unix_secs),
            Held::Shared(r) => {
                if let Some(s) = &self.shared {
                    if r.tokens != used_tokens && !r.charges.is_empty() {
                        s.reconcile(&r, used_tokens, utc_day(unix_secs)).await;
                    }
                }
            }
        }
    }
}

impl Shared {
    fn subject_key(&self, subject: &Subject) -> String {
        // Names are the principal's or group's, as the gateway resolved them. One script
        // touches every subject of a request, so Redis Cluster is not supported.
        format!("{}:{}:{}", self.prefix, subject.kind(), subject.name())
    }

    fn day_key(&self, subject: &Subject, day: i64) -> String {
        format!("{}:day:{day}", self.subject_key(subject))
    }

    fn keys(&self, charges: &[(Subject, LimitSpec)], day: i64) -> Vec<String> {
        let mut keys = Vec::with_capacity(charges.len() * 3);
        for (subject, _) in charges {
            let base = self.subject_key(subject);
            keys.push(format!("{base}:rpm"));
            keys.push(format!("{base}:tpm"));
            keys.push(self.day_key(subject, day));
        }
        keys
    }

    /// The connection, made on first use.
    async fn conn(&self) -> Result<redis::aio::ConnectionManager, String> {
        let cm_config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        self.conn
            .get_or_try_init(|| {
                redis::aio::ConnectionManager::new_with_config(self.client.clone(), cm_config)
            })
            .await
            .cloned()
            .map_err(|e| redis_error(&e))
    }

    /// Runs a script within the timeout.
    async fn run<T: redis::FromRedisValue>(
        &self,
        inv: redis::ScriptInvocation<'_>,
    ) -> Result<T, String> {
        let work = async {
            let mut conn = self.conn().await?;
            inv.invoke_async::<T>(&mut conn)
                .await
                .map_err(|e| redis_error(&e))
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err("timeout".into()),
        }
    }

    fn available(&self) -> bool {
        let until = self.down_until_ms.load(Ordering::Relaxed);
        until == 0 || unix_ms() >= until
    }

    fn failed(&self, what: &str, e: &str) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(error = %e, failures = n, "redis call failed during {what}");
        if n < TRIP_AFTER {
            return;
        }
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(error = %e, "redis unavailable during {what}; limits follow redis.on_unavailable");
        }
        self.down_until_ms.store(
            unix_ms() + RETRY_AFTER.as_millis() as i64,
            Ordering::Relaxed,
        );
    }

    fn succeeded(&self) {
        self.failures.store(0, Ordering::Relaxed);
        self.down_until_ms.store(0, Ordering::Relaxed);
        if !self.up.swap(true, Ordering::Relaxed) {
            tracing::info!("redis answers again; shared limits resumed");
        }
    }

    /// `Ok(None)`: charged. `Ok(Some(e))`: refused. `Err(())`: Redis unavailable.
    async fn reserve(
        &self,
        charges: &[(Subject, LimitSpec)],
        tokens: u64,
        unix_secs: i64,
        day: i64,
    ) -> Result<Option<Exceeded>, ()> {
        if !self.available() {
            return Err(());
        }
        let mut inv = self.reserve.prepare_invoke();
        for k in self.keys(charges, day) {
            inv.key(k);
        }
        let until_midnight = 86_400 - unix_secs.rem_euclid(86_400);
        inv.arg(charges.len()).arg(tokens).arg(until_midnight);
        for (_, spec) in charges {
            inv.arg(spec.requests_per_minute.unwrap_or(0))
                .arg(spec.tokens_per_minute.unwrap_or(0))
                .arg(spec.tokens_per_day.unwrap_or(0))
                .arg(spec.requests_per_day.unwrap_or(0));
        }
        let out = match self.run::<Vec<i64>>(inv).await {
            Ok(v) => v,
            Err(e) => {
                self.failed("a reservation", &e);
                return Err(());
            }
        };
        self.succeeded();
        match out.as_slice() {
            [-1] => Ok(None),
            [i, code, retry_ms] => {
                let Some((subject, _)) = usize::try_from(*i).ok().and_then(|i| charges.get(i))
                else {
                    self.failed("a reservation", "unexpected script reply");
                    return Err(());
                };
                Ok(Some(Exceeded {
                    subject: subject.clone(),
                    kind: kind_from_code(*code),
                    retry_after: u64::try_from(*retry_ms).ok().map(Duration::from_millis),
                }))
            }
            _ => {
                self.failed("a reservation", "unexpected script reply");
                Err(())
            }
        }
    }

    async fn reconcile(&self, r: &SharedReservation, used_tokens: u64, today: i64) {
        if !self.available() {
            return;
        }
        let mut inv = self.reconcile.prepare_invoke();
        for k in self.keys(&r.charges, r.day) {
            inv.key(k);
        }
        for (subject, _) in &r.charges {
            inv.key(self.day_key(subject, today));
        }
        inv.arg(r.charges.len())
            .arg(r.tokens)
            .arg(used_tokens)
            .arg(i64::from(today != r.day));
        for (_, spec) in &r.charges {
            inv.arg(spec.tokens_per_minute.unwrap_or(0))
                .arg(spec.tokens_per_day.unwrap_or(0));
        }
        match self.run::<i64>(inv).await {
            Ok(_) => self.succeeded(),
            Err(e) => self.failed("a reconciliation", &e),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The Redis reconciliation, against a real Redis (`PORTCULLIS_TEST_REDIS`; skipped
    //! when it is not set). Time is passed in, so midnight is crossed without waiting.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const DAY: i64 = 86_400;

    fn redis_limits() -> Option<(Limits, String, String)> {
        let url = match std::env::var("PORTCULLIS_TEST_REDIS") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                eprintln!("PORTCULLIS_TEST_REDIS is not set: skipping the Redis tests");
                return None;
            }
        };
        let prefix = format!("pctest-{}", hex::encode(rand::random::<[u8; 6]>()));
        let config = RedisConfig {
            url: url.clone().into(),
            on_unavailable: RedisFallback::FailClosed,
            timeout: Duration::from_secs(2),
            key_prefix: prefix.clone(),
        };
        Some((Limits::redis(&config).unwrap(), url, prefix))
    }

    /// Deletes every key of the test's prefix, as a Redis that lost its data would.
    async fn forget_all(url: &str, prefix: &str) {
        let mut c = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(!keys.is_empty());
        let _: i64 = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut c)
            .await
            .unwrap();
    }

    fn charges(spec: LimitSpec) -> Vec<(Subject, LimitSpec)> {
        vec![
            (Subject::Principal("p".into()), spec),
            (Subject::Group("g".into()), spec),
        ]
    }

    async fn fits(l: &Limits, c: &[(Subject, LimitSpec)], tokens: u64, at: i64) -> bool {
        match l.reserve(c, tokens, at, || panic!("no fallback")).await {
            Ok(_) => true,
            Err(LimitError::Exceeded(_)) => false,
            Err(LimitError::Unavailable) => panic!("redis unavailable"),
        }
    }

    /// A day boundary a little ahead of the real clock, so keys expire as in service.
    fn midnight() -> i64 {
        (utc_day(unix_ms() / 1000) + 1) * DAY
    }

    #[tokio::test]
    async fn usage_beyond_a_reservation_that_ends_after_midnight_counts_toward_the_new_day() {
        let Some((l, _, _)) = redis_limits() else {
            return;
        };
        let c = charges(LimitSpec {
            tokens_per_day: Some(1000),
            ..LimitSpec::default()
        });
        let m = midnight();
        let held = l.reserve(&c, 100, m - 5, || {}).await.unwrap();
        // 800 tokens beyond the reservation, spent after midnight.
        l.reconcile(held, 900, m + 5).await;
        assert!(!fits(&l, &c, 201, m + 6).await);
        assert!(fits(&l, &c, 200, m + 6).await);
        // A refund after midnight goes to the day it was taken from, not to today.
        let m = m + 2 * DAY;
        let held = l.reserve(&c, 900, m - 5, || {}).await.unwrap();
        l.reconcile(held, 0, m + 5).await;
        assert!(fits(&l, &c, 1000, m + 6).await);
        assert!(!fits(&l, &c, 1, m + 6).await);
    }

    #[tokio::test]
    async fn usage_beyond_a_reservation_whose_counters_are_gone_is_still_charged() {
        let Some((l, url, prefix)) = redis_limits() else {
            return;
        };
        // Per day: the day counter is lost mid-request.
        let c = charges(LimitSpec {
            tokens_per_day: Some(1000),
            ..LimitSpec::default()
        });
        let now = midnight() - DAY / 2;
        let held = l.reserve(&c, 100, now, || {}).await.unwrap();
        forget_all(&url, &prefix).await;
        l.reconcile(held, 900, now + 5).await;
        assert!(!fits(&l, &c, 201, now + 6).await);
        assert!(fits(&l, &c, 200, now + 6).await);
        // Per minute: the state expired (here: deleted) before a long response ended.
        let c = vec![(
            Subject::Principal("q".into()),
            LimitSpec {
                tokens_per_minute: Some(1000),
                ..LimitSpec::default()
            },
        )];
        let held = l.reserve(&c, 100, now, || {}).await.unwrap();
        forget_all(&url, &prefix).await;
        l.reconcile(held, 1000, now + 5).await;
        // The minute's 1000 tokens are spent: 200 more do not fit right after.
        assert!(!fits(&l, &c, 200, now + 6).await);
    }
}
