//! Per-principal behaviour features, robust baselines, scoring and containment decisions.
//!
//! State per principal has a fixed size (about 2 KiB): exponentially decayed counters
//! (requests, tokens, refusals, injection hits over one, five and fifteen minutes of
//! event time), a robust baseline per rate feature (an EWMA of the value and of its
//! absolute deviation, a streaming stand-in for median and MAD), a 168-slot hour-of-week
//! activity profile, and small sets of the networks, user agents and models it has used
//! (hashes with counts and first-seen times; the least used entry makes room). Client
//! addresses that fail authentication get a counter each. Nothing reads the wall clock:
//! time is the events' `ts`.
//!
//! Every event is scored as a sum of feature contributions (see the constants below and
//! docs/anomaly.md): each rate feature adds `log2(value / reference)` when above its
//! reference `mean + 4 × deviation` (never below a floor); a network, user agent or
//! model the principal has not established adds a fixed amount; so do hours it is never
//! active in; two per-request sequential tests (a run of prompt-injection hits, a run of
//! completions far beyond the principal's own) add once the run outweighs one hit, so
//! an attack of a few requests a minute is contained within its first few requests
//! instead of waiting for a per-minute rate to build up; and Half-Space Trees over the
//! vector of the principal's deviations from its own baseline add up to [`W_HST`] for a
//! vector unlike the population's. The score maps to a severity, the severity to an action.
//! A principal still warming up is compared with its group's baseline (or everyone's),
//! and features that need its own history stay silent.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

use crate::config::{DetectorConfig, Severity};
use crate::event::{Alert, Decision, Event, FeatureReport};
use crate::hash64;
use crate::hst::HalfSpaceTrees;

/// Short window (requests, tokens, refusals): one minute.
const TAU_SHORT_MS: f64 = 60_000.0;
/// Injection hits: five minutes.
const TAU_INJ_MS: f64 = 300_000.0;
/// Long window (completion volume, completion-to-prompt ratio): fifteen minutes.
const TAU_LONG_MS: f64 = 900_000.0;
/// Baseline learning rate once warmed up (about the last 500 samples).
const ALPHA: f32 = 0.002;
/// Baselines take one sample per this much event time of activity: the highest value
/// of each feature in it. Sampling per request would let a burst fill the baseline
/// with its own ramp.
const SAMPLE_MS: i64 = 60_000;
/// Deviations above the mean a value may reach before it counts.
const K_DEV: f32 = 4.0;
/// Floors of the references: below these, a rate is never unusual.
const FLOOR_RATE: f32 = 6.0;
const FLOOR_TOKENS: f32 = 6_000.0;
const FLOOR_COMPLETION_LONG: f32 = 20_000.0;
const FLOOR_RATIO: f32 = 4.0;
const FLOOR_REFUSALS: f32 = 3.0;
/// An injection score at or above this is a hit.
const INJECTION_HIT: f64 = 0.5;
/// Contribution caps and fixed amounts.
const CAP_RATE: f64 = 4.0;
const CAP_TOKENS: f64 = 4.0;
const CAP_COMPLETION_LONG: f64 = 3.0;
const CAP_RATIO: f64 = 2.0;
const CAP_REFUSALS: f64 = 3.0;
const CAP_LONG_COMPLETIONS: f64 = 3.0;
/// A long completion: at least this many tokens, and [`LONG_RATIO`] times the prompt.
const LONG_COMPLETION: u64 = 1_500;
const LONG_RATIO: u64 = 8;
const FLOOR_LONG_COMPLETIONS: f32 = 5.0;
/// The hour-of-day peak profile: each day's peaks fold into the learned ones at the
/// day's end (so a burst is never whitelisted on the day it happens), older peaks fading
/// by this factor per day; the reference is at least this multiple of the learned peak.
const PEAK_FADE: f32 = 0.7;
const PEAK_MARGIN: f32 = 1.5;
const W_NEW_NETWORK: f64 = 1.5;
const W_NEW_USER_AGENT: f64 = 0.5;
const W_OFF_HOURS: f64 = 1.0;
const W_MODEL_NEW: f64 = 0.5;
const W_MODEL_GROUP_RARE: f64 = 2.0;
const W_MODEL_GLOBAL_RARE: f64 = 1.0;
const CAP_MODEL: f64 = 4.5;
/// The most Half-Space Trees add.
pub const W_HST: f64 = 1.5;
/// Below this share of its history in the hour (±1) a principal is off-hours.
const OFF_HOURS_SHARE: f32 = 0.01;
/// Events in the profile before off-hours is judged.
const OFF_HOURS_MIN_EVENTS: f32 = 200.0;
/// A network, user agent or model is established after this many uses (and
/// `establish` of time, a setting).
const ESTABLISH_COUNT: u32 = 5;
/// A model below these shares of its group's (everyone's) traffic is rare.
const GROUP_RARE: f64 = 0.01;
const GLOBAL_RARE: f64 = 0.002;
/// Traffic a group (everyone) needs before rarity is judged.
const RARITY_MIN_EVENTS: f64 = 1_000.0;
/// A principal still warming up is judged against its group's (or everyone's) volume
/// references times this margin: a group is a rough stand-in for one member.
const WARMUP_MARGIN: f32 = 2.0;
/// Samples a group baseline needs before it stands in for a warming-up member.
const GROUP_MIN_SAMPLES: u32 = 200;
/// Per-request statistics (log completion-to-prompt ratio, log completion): learning
/// rate (about the last 100 requests), requests before a principal's own are trusted
/// (everyone's stand in until then), the smallest deviation (log units), and how many
/// deviations above the mean make a request extreme.
const REQ_ALPHA: f32 = 0.01;
const REQ_MIN_N: u32 = 30;
const REQ_PRIOR_N: f32 = 10.0;
const REQ_WARM_MARGIN: f32 = 2.0;
const REQ_MIN_DEV: f32 = 0.1;
const K_REQ: f32 = 4.0;
/// Tokens added to both sides of a completion-to-prompt ratio (tiny prompts).
const RATIO_PAD: f32 = 20.0;
/// An extraction-like request also has at least this many completion tokens.
const EXTREME_MIN_COMPLETION: u64 = 1_000;
/// Sequential tests (a CUSUM of the Bernoulli log-likelihood ratio) over "this request
/// scored as an injection" and "this request is extraction-like": the rate an attack
/// shows, and the least the ordinary rate is taken to be (a principal's own learned
/// rate when higher). A hit adds `weight × ln(p1/p0)` (3.9 nats at weight one), a miss
/// subtracts `ln((1-p0)/(1-p1))` (0.7), the sum decays over [`TAU_INJ_MS`] and never
/// goes below zero; the contribution is the sum beyond one hit's worth at weight one.
/// So one hit alone never alerts (at most 2.0), two sure hits in a row contain (about
/// 3.7 at weight one each), and the odd hit among a busy principal's ordinary requests
/// is drained by the misses around it. Per request rather than per minute, so an attack
/// a few requests a minute is contained within its first few requests.
const RUN_P1: f32 = 0.5;
/// The least and the most one hit weighs (see [`injection_weight`], [`extreme_weight`]).
const RUN_MIN_WEIGHT: f32 = 0.25;
const RUN_MAX_WEIGHT: f32 = 1.5;
const RUN_P0_FLOOR: f32 = 0.01;
/// Learning rate of a principal's own hit rates (about the last 500 requests).
const RUN_RATE_ALPHA: f32 = 0.002;
const CAP_INJECTION_RUN: f64 = 6.0;
const CAP_EXTRACTION_RUN: f64 = 6.0;
/// Half-Space Trees: feature dimensions, and where the anomaly contribution starts.
const HST_DIMS: usize = 9;
const HST_START: f64 = 0.9;

/// Fx-style hasher: the maps are keyed by principal names and hashes already spread.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            for (d, s) in b.iter_mut().zip(chunk) {
                *d = *s;
            }
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(b))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type Fx = BuildHasherDefault<FxHasher>;

/// A streaming robust estimate: EWMA of the value and of its absolute deviation.
#[derive(Debug, Clone, Copy, Default)]
struct Robust {
    mean: f32,
    dev: f32,
    n: u32,
}

impl Robust {
    fn update(&mut self, x: f32, floor: f32) {
        if !x.is_finite() {
            return;
        }
        self.n = self.n.saturating_add(1);
        let a = (1.0 / self.n as f32).max(ALPHA);
        // Above the reference a value is learned ten times slower, only up to the
        // reference, and the deviation not at all: a slow attack must not drag the
        // baseline up with it (growing the deviation would let it grow exponentially);
        // a lasting change still gets in, over weeks.
        let reference = self.reference(floor);
        if self.n > 30 && x > reference {
            self.mean += 0.1 * a * (reference - self.mean);
            return;
        }
        let d = x - self.mean;
        self.mean += a * d;
        self.dev += a * (d.abs() - self.dev);
    }

    fn reference(&self, floor: f32) -> f32 {
        (self.mean + K_DEV * self.dev).max(floor)
    }
}

/// A per-request robust estimate in log units (EWMA of the value and of its absolute
/// deviation), for "this one request is far beyond what the principal sends".
#[derive(Debug, Clone, Copy, Default)]
struct PerRequest {
    mean: f32,
    dev: f32,
    n: u32,
}

impl PerRequest {
    fn update(&mut self, x: f32, extreme: bool) {
        if !x.is_finite() {
            return;
        }
        self.n = self.n.saturating_add(1);
        let a = (1.0 / self.n as f32).max(REQ_ALPHA);
        let d = x - self.mean;
        // As in [`Robust`]: an extreme value (judged by the caller, or beyond this
        // estimate's own bar) moves the mean slowly and the deviation not at all, so a
        // run of them cannot teach the principal that they are normal; a lasting change
        // still gets in, over about a thousand requests.
        if extreme || (self.n > REQ_MIN_N && d > K_REQ * self.dev.max(REQ_MIN_DEV)) {
            self.mean += 0.1 * a * d;
            return;
        }
        self.mean += a * d;
        self.dev += a * (d.abs() - self.dev);
    }

    /// How many deviations above the mean `x` is.
    fn z(&self, x: f32) -> f32 {
        (x - self.mean) / self.dev.max(REQ_MIN_DEV)
    }

    /// Own estimate shrunk towards `prior` as if the prior were [`REQ_PRIOR_N`] requests:
    /// a principal with few requests of its own is judged mostly against everyone's.
    fn shrunk(&self, prior: &PerRequest) -> PerRequest {
        let n = self.n.min(REQ_MIN_N) as f32;
        let w = n / (n + REQ_PRIOR_N);
        PerRequest {
            mean: w * self.mean + (1.0 - w) * prior.mean,
            dev: w * self.dev + (1.0 - w) * prior.dev,
            n: self.n,
        }
    }
}

/// Per-request completion statistics: log completion-to-prompt ratio and log completion.
#[derive(Debug, Clone, Copy, Default)]
struct RequestStats {
    ratio: PerRequest,
    completion: PerRequest,
}

impl RequestStats {
    /// How extraction-like a request with these (log) values is: the weight of a hit,
    /// zero when it is not one. Until the principal has [`REQ_MIN_N`] requests of its
    /// own, its estimates lean on `prior` (everyone's) and the bar is higher, by
    /// [`REQ_WARM_MARGIN`] deviations for a new principal and less as its own requests
    /// add up: everyone's spread is a rough stand-in for one principal's.
    fn extreme(
        &self,
        prior: &RequestStats,
        completion_tokens: u64,
        ratio: f32,
        completion: f32,
    ) -> f32 {
        if completion_tokens < EXTREME_MIN_COMPLETION || prior.ratio.n < REQ_MIN_N {
            return 0.0;
        }
        if self.ratio.n >= REQ_MIN_N {
            return extreme_weight(self.ratio.z(ratio).max(self.completion.z(completion)));
        }
        let z = self
            .ratio
            .shrunk(&prior.ratio)
            .z(ratio)
            .max(self.completion.shrunk(&prior.completion).z(completion));
        let margin = REQ_WARM_MARGIN * (1.0 - self.ratio.n as f32 / REQ_MIN_N as f32);
        extreme_weight(z - margin)
    }
    fn update(&mut self, ratio: f32, completion: f32, extreme: bool) {
        self.ratio.update(ratio, extreme);
        self.completion.update(completion, extreme);
    }
}

/// One step of a decayed Bernoulli CUSUM (see [`RUN_P1`]): the new sum. A hit weighs
/// `weight` (from [`RUN_MIN_WEIGHT`] to [`RUN_MAX_WEIGHT`], by how sure it is); a
/// weight of zero is a miss.
fn run_step(sum: f32, weight: f32, own_rate: f32) -> f32 {
    let p0 = own_rate.clamp(RUN_P0_FLOOR, RUN_P1 * 0.5);
    let llr = if weight > 0.0 {
        weight * (RUN_P1 / p0).ln()
    } else {
        ((1.0 - RUN_P1) / (1.0 - p0)).ln()
    };
    (sum + llr).max(0.0)
}

/// The weight of an injection hit by its score: a quarter at the hit threshold (guards
/// err near it), one at 0.75, the most from 0.875 on; zero below the threshold.
fn injection_weight(score: f64) -> f32 {
    if score < INJECTION_HIT {
        0.0
    } else {
        (4.0 * score as f32 - 2.0).clamp(RUN_MIN_WEIGHT, RUN_MAX_WEIGHT)
    }
}

/// The weight of an extraction-like request by how far beyond the principal's own it
/// is: a quarter at [`K_REQ`] deviations, one at 5.5, the most from 6.5 on.
fn extreme_weight(z: f32) -> f32 {
    if z < K_REQ {
        0.0
    } else {
        (0.25 + (z - K_REQ) / 2.0).clamp(RUN_MIN_WEIGHT, RUN_MAX_WEIGHT)
    }
}

/// The contribution of a run sum: what is beyond one hit's worth.
fn run_contribution(sum: f32, own_rate: f32, cap: f64) -> f64 {
    let p0 = own_rate.clamp(RUN_P0_FLOOR, RUN_P1 * 0.5);
    f64::from(sum - (RUN_P1 / p0).ln()).clamp(0.0, cap)
}

/// The baselines of one principal (or group, or everyone).
#[derive(Debug, Clone, Copy, Default)]
struct Baselines {
    rate: Robust,
    tokens: Robust,
    completion_long: Robust,
    ratio: Robust,
    refusals: Robust,
    long_completions: Robust,
}

impl Measured {
    fn max(&self, o: &Measured) -> Measured {
        Measured {
            rate: self.rate.max(o.rate),
            tokens: self.tokens.max(o.tokens),
            completion_long: self.completion_long.max(o.completion_long),
            ratio: self.ratio.max(o.ratio),
            refusals: self.refusals.max(o.refusals),
            long_completions: self.long_completions.max(o.long_completions),
        }
    }
}

impl Baselines {
    fn update(&mut self, f: &Measured) {
        self.rate.update(f.rate, FLOOR_RATE);
        self.tokens.update(f.tokens, FLOOR_TOKENS);
        self.completion_long
            .update(f.completion_long, FLOOR_COMPLETION_LONG);
        self.ratio.update(f.ratio, FLOOR_RATIO);
        self.refusals.update(f.refusals, FLOOR_REFUSALS);
        self.long_completions
            .update(f.long_completions, FLOOR_LONG_COMPLETIONS);
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    key: u64,
    first_ms: i64,
    count: u32,
}

/// A fixed-size set of things a principal uses, with counts.
#[derive(Debug, Clone, Copy)]
struct SeenSet<const N: usize> {
    items: [Seen; N],
}

impl<const N: usize> Default for SeenSet<N> {
    fn default() -> Self {
        Self {
            items: [Seen::default(); N],
        }
    }
}

impl<const N: usize> SeenSet<N> {
    /// Records a use; whether the thing was established before it.
    fn observe(&mut self, key: u64, now: i64, establish_ms: i64) -> bool {
        let key = key.max(1);
        if let Some(s) = self.items.iter_mut().find(|s| s.key == key) {
            let established =
                s.count >= ESTABLISH_COUNT && now.saturating_sub(s.first_ms) >= establish_ms;
            s.count = s.count.saturating_add(1);
            return established;
        }
        if let Some(slot) = self.items.iter_mut().min_by_key(|s| s.count) {
            *slot = Seen {
                key,
                first_ms: now,
                count: 1,
            };
        }
        false
    }
}

/// Decayed counters sharing one clock.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    last_ms: i64,
    rate: f32,
    tokens: f32,
    refusals: f32,
    new_model: f32,
    injection_hits: f32,
    completion_long: f32,
    prompt_long: f32,
    long_completions: f32,
    /// Sequential-test sums (see [`RUN_P1`]), decaying over five minutes.
    injection_run: f32,
    extraction_run: f32,
}

impl Counters {
    fn advance(&mut self, now: i64) {
        let dt = (now.saturating_sub(self.last_ms)).max(0) as f64;
        if dt > 0.0 {
            let s = (-dt / TAU_SHORT_MS).exp() as f32;
            let i = (-dt / TAU_INJ_MS).exp() as f32;
            let l = (-dt / TAU_LONG_MS).exp() as f32;
            self.rate *= s;
            self.tokens *= s;
            self.refusals *= s;
            self.new_model *= s;
            self.injection_hits *= i;
            self.injection_run *= i;
            self.extraction_run *= i;
            self.completion_long *= l;
            self.prompt_long *= l;
            self.long_completions *= l;
            self.last_ms = now;
        }
    }
}

/// Containment memory: alerts are not repeated at the same severity within the cooldown.
#[derive(Debug, Clone, Copy, Default)]
struct AlertMemory {
    last: Option<Severity>,
    last_ms: i64,
}

impl AlertMemory {
    fn should_alert(&mut self, sev: Severity, now: i64, cooldown: i64) -> bool {
        let fresh = now.saturating_sub(self.last_ms) >= cooldown;
        if fresh || self.last.is_none_or(|l| sev > l) {
            self.last = Some(sev);
            self.last_ms = now;
            true
        } else {
            false
        }
    }
}

/// Everything kept for one principal.
#[derive(Debug, Clone)]
struct PrincipalState {
    first_ms: i64,
    events: u64,
    group: u64,
    counters: Counters,
    base: Baselines,
    hours: [f32; 168],
    hours_total: f32,
    /// Per hour of day: the recent peak request rate and token rate (batch jobs,
    /// nightly runs: a burst that recurs at its hour is normal).
    peak_rate: [f32; 24],
    peak_tokens: [f32; 24],
    today_rate: [f32; 24],
    today_tokens: [f32; 24],
    peak_day: i64,
    /// The highest values since the last baseline sample, and when that period began.
    pending: Measured,
    pending_since: i64,
    networks: SeenSet<16>,
    user_agents: SeenSet<4>,
    models: SeenSet<8>,
    /// Per-request completion statistics, and the principal's own rates of injection
    /// hits and extraction-like requests (for the sequential tests).
    requests: RequestStats,
    injection_rate: f32,
    extreme_rate: f32,
    memory: AlertMemory,
}

impl PrincipalState {
    fn new(now: i64, group: u64) -> Self {
        Self {
            first_ms: now,
            events: 0,
            group,
            counters: Counters {
                last_ms: now,
                ..Counters::default()
            },
            base: Baselines::default(),
            hours: [0.0; 168],
            hours_total: 0.0,
            peak_rate: [0.0; 24],
            peak_tokens: [0.0; 24],
            today_rate: [0.0; 24],
            today_tokens: [0.0; 24],
            peak_day: now.div_euclid(86_400_000),
            pending: Measured::default(),
            pending_since: now,
            networks: SeenSet::default(),
            user_agents: SeenSet::default(),
            models: SeenSet::default(),
            requests: RequestStats::default(),
            injection_rate: 0.0,
            extreme_rate: 0.0,
            memory: AlertMemory::default(),
        }
    }

    /// Share of its history in this hour of day, ±1 hour, over every day of the week.
    fn hour_share(&self, how: usize) -> f32 {
        if self.hours_total <= 0.0 {
            return 1.0;
        }
        let hod = how % 24;
        let mut sum = 0.0;
        for day in 0..7 {
            for dh in [23, 0, 1] {
                let h = day * 24 + (hod + dh) % 24;
                sum += self.hours.get(h).copied().unwrap_or(0.0);
            }
        }
        sum / self.hours_total
    }

    fn count_hour(&mut self, how: usize) {
        if let Some(h) = self.hours.get_mut(how) {
            *h += 1.0;
            self.hours_total += 1.0;
        }
        if self.hours_total > 100_000.0 {
            self.hours.iter_mut().for_each(|h| *h *= 0.5);
            self.hours_total *= 0.5;
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct IpState {
    last_ms: i64,
    failures: f32,
    memory: AlertMemory,
}

/// The values measured for one event.
#[derive(Debug, Clone, Copy, Default)]
struct Measured {
    rate: f32,
    tokens: f32,
    completion_long: f32,
    ratio: f32,
    refusals: f32,
    long_completions: f32,
}

/// Hour of week (0 = Monday 00:00 UTC) of a Unix-millisecond time.
pub fn hour_of_week(ts_ms: i64) -> usize {
    let hours = ts_ms.div_euclid(3_600_000);
    let day = hours.div_euclid(24);
    // 1970-01-01 was a Thursday (3 days after a Monday).
    ((day + 3).rem_euclid(7) * 24 + hours.rem_euclid(24)) as usize
}

/// The network a client address belongs to, for "new network": /16 for IPv4, /48 for
/// IPv6; an unparseable address is its own network.
pub fn network_key(ip: &str) -> u64 {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let o = v4.octets();
            hash64(&[4, o[0], o[1]])
        }
        Ok(IpAddr::V6(v6)) => {
            let mut b = [6u8; 7];
            for (d, s) in b.iter_mut().skip(1).zip(v6.octets()) {
                *d = s;
            }
            hash64(&b)
        }
        Err(_) => hash64(ip.as_bytes()),
    }
}

fn log2_excess(value: f32, reference: f32, cap: f64) -> f64 {
    if value <= reference || reference <= 0.0 {
        0.0
    } else {
        (f64::from(value) / f64::from(reference)).log2().min(cap)
    }
}

fn squash(ratio: f32) -> f32 {
    ((1.0 + ratio.max(0.0)).log2() / 6.0).min(1.0)
}

/// Model popularity, everyone's and per group, for "unusual model".
#[derive(Debug, Default)]
struct Popularity {
    counts: HashMap<u64, f64, Fx>,
}

impl Popularity {
    fn add(&mut self, key: u64) -> f64 {
        let c = self.counts.entry(key).or_insert(0.0);
        *c += 1.0;
        *c
    }
    fn get(&self, key: u64) -> f64 {
        self.counts.get(&key).copied().unwrap_or(0.0)
    }
}

fn mix(a: u64, b: u64) -> u64 {
    (a ^ b.rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The streaming detector. One per gateway (behind a lock) or per replay.
pub struct Detector {
    cfg: DetectorConfig,
    principals: HashMap<String, PrincipalState, Fx>,
    groups: HashMap<u64, Baselines, Fx>,
    everyone: Baselines,
    everyone_requests: RequestStats,
    ips: HashMap<u64, IpState, Fx>,
    popularity: Popularity,
    hst: HalfSpaceTrees,
    hst_mean: f64,
    events: u64,
    last: Option<(f64, BTreeMap<String, FeatureReport>)>,
    explain: bool,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("principals", &self.principals.len())
            .field("ips", &self.ips.len())
            .field("events", &self.events)
            .finish()
    }
}

/// Collects the features that contributed to a score.
struct Contributions {
    score: f64,
    items: Vec<(&'static str, f64, f64, f64)>,
}

impl Contributions {
    fn new() -> Self {
        Self {
            score: 0.0,
            items: Vec::new(),
        }
    }
    fn add(&mut self, name: &'static str, value: f64, baseline: f64, c: f64) {
        if c > 0.0 {
            self.score += c;
            self.items.push((name, value, baseline, c));
        }
    }
    fn kind(&self) -> &'static str {
        let mut fam: [(&'static str, f64); 7] = [
            ("volume", 0.0),
            ("extraction", 0.0),
            ("refusals", 0.0),
            ("injection", 0.0),
            ("new_context", 0.0),
            ("unusual_model", 0.0),
            ("multivariate", 0.0),
        ];
        for (name, _, _, c) in &self.items {
            let i = match *name {
                "requests_per_min" | "tokens_per_min" => 0,
                "completion_tokens_15min"
                | "completion_to_prompt"
                | "long_completions_15min"
                | "extraction_run" => 1,
                "refusals_per_min" => 2,
                "injection_run" => 3,
                "new_network" | "new_user_agent" | "off_hours" => 4,
                "unusual_model" => 5,
                _ => 6,
            };
            if let Some(f) = fam.get_mut(i) {
                f.1 += c;
            }
        }
        fam.iter()
            .fold(
                ("multivariate", -1.0),
                |a, b| if b.1 > a.1 { *b } else { a },
            )
            .0
    }
    fn report(self) -> BTreeMap<String, FeatureReport> {
        let r = |x: f64| (x * 1000.0).round() / 1000.0;
        self.items
            .into_iter()
            .map(|(n, v, b, c)| {
                (
                    n.to_string(),
                    FeatureReport {
                        value: r(v),
                        baseline: r(b),
                        contribution: r(c),
                    },
                )
            })
            .collect()
    }
}

impl Detector {
    /// A detector with no history.
    pub fn new(cfg: DetectorConfig) -> Self {
        let hst = HalfSpaceTrees::new(
            HST_DIMS,
            cfg.hst_trees,
            cfg.hst_depth,
            cfg.hst_window,
            cfg.hst_seed,
        );
        Self {
            cfg,
            principals: HashMap::default(),
            groups: HashMap::default(),
            everyone: Baselines::default(),
            everyone_requests: RequestStats::default(),
            ips: HashMap::default(),
            popularity: Popularity::default(),
            hst,
            hst_mean: 0.0,
            events: 0,
            last: None,
            explain: false,
        }
    }

    /// Keep the score and features of every principal event, alerting or not, for
    /// [`Detector::last_explained`] (tuning and debugging; off by default).
    pub fn explain(&mut self, on: bool) {
        self.explain = on;
    }

    /// With [`Detector::explain`] on: the last principal event's score and features.
    pub fn last_explained(&self) -> Option<&(f64, BTreeMap<String, FeatureReport>)> {
        self.last.as_ref()
    }

    /// The settings.
    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    /// Principals tracked.
    pub fn principals(&self) -> usize {
        self.principals.len()
    }

    /// Client addresses tracked.
    pub fn ips(&self) -> usize {
        self.ips.len()
    }

    /// Scores one event, learns from it, and returns an alert when one is due.
    pub fn observe(&mut self, ev: &Event<'_>) -> Option<Alert> {
        self.events += 1;
        if ev.principal.is_empty() {
            return self.observe_ip(ev);
        }
        self.observe_principal(ev)
    }

    fn observe_ip(&mut self, ev: &Event<'_>) -> Option<Alert> {
        if ev.decision == Decision::Allow {
            return None;
        }
        let now = ev.ts;
        if self.ips.len() >= self.cfg.max_ips && !self.ips.contains_key(&hash64(ev.ip.as_bytes())) {
            self.sweep_ips(now);
        }
        let st = self.ips.entry(hash64(ev.ip.as_bytes())).or_insert(IpState {
            last_ms: now,
            ..IpState::default()
        });
        let dt = (now.saturating_sub(st.last_ms)).max(0) as f64;
        st.failures = st.failures * (-dt / TAU_SHORT_MS).exp() as f32 + 1.0;
        st.last_ms = st.last_ms.max(now);
        let reference = self.cfg.ip_failures_per_minute as f32;
        let c = 2.5 * log2_excess(st.failures, reference, 4.0);
        let sev = self.cfg.severity(c)?;
        if !st.memory.should_alert(sev, now, self.cfg.cooldown_ms) {
            return None;
        }
        let mut features = BTreeMap::new();
        features.insert(
            "auth_failures_per_min".to_string(),
            FeatureReport {
                value: (f64::from(st.failures) * 1000.0).round() / 1000.0,
                baseline: f64::from(reference),
                contribution: (c * 1000.0).round() / 1000.0,
            },
        );
        Some(Alert {
            ts: now,
            principal: String::new(),
            ip: Some(ev.ip.to_string()),
            kind: "auth_failures".into(),
            score: (c * 1000.0).round() / 1000.0,
            severity: sev,
            action: self.cfg.action(sev),
            features,
        })
    }

    fn sweep_ips(&mut self, now: i64) {
        let mut horizon = 24 * 3_600_000i64;
        while self.ips.len() >= self.cfg.max_ips && horizon > 0 {
            self.ips
                .retain(|_, s| now.saturating_sub(s.last_ms) < horizon);
            horizon /= 4;
        }
        if self.ips.len() >= self.cfg.max_ips {
            self.ips.clear();
        }
    }

    fn sweep_principals(&mut self, now: i64) {
        let mut horizon = 30 * 24 * 3_600_000i64;
        while self.principals.len() >= self.cfg.max_principals && horizon > 0 {
            self.principals
                .retain(|_, s| now.saturating_sub(s.counters.last_ms) < horizon);
            horizon /= 4;
        }
        if self.principals.len() >= self.cfg.max_principals {
            self.principals.clear();
        }
    }

    fn observe_principal(&mut self, ev: &Event<'_>) -> Option<Alert> {
        let now = ev.ts;
        let group = ev.group.as_deref().map_or(0, |g| hash64(g.as_bytes()));
        if !self.principals.contains_key(ev.principal.as_ref()) {
            if self.principals.len() >= self.cfg.max_principals {
                self.sweep_principals(now);
            }
            self.principals
                .insert(ev.principal.to_string(), PrincipalState::new(now, group));
        }
        let st = self.principals.get_mut(ev.principal.as_ref())?;
        if group != 0 {
            st.group = group;
        }
        let group = st.group;
        let warm = st.events < self.cfg.warmup_events
            || now.saturating_sub(st.first_ms) < self.cfg.warmup_ms;
        st.events += 1;

        // Counters.
        let c = &mut st.counters;
        c.advance(now);
        let tokens = ev.prompt_tokens.saturating_add(ev.completion_tokens) as f32;
        c.rate += 1.0;
        c.tokens += tokens;
        c.completion_long += ev.completion_tokens as f32;
        c.prompt_long += ev.prompt_tokens as f32;
        if ev.decision != Decision::Allow {
            c.refusals += 1.0;
        }
        let injection_hit = ev.injection_score >= INJECTION_HIT;
        if injection_hit {
            c.injection_hits += 1.0;
        }
        c.injection_run = run_step(
            c.injection_run,
            injection_weight(ev.injection_score),
            st.injection_rate,
        );
        // Extraction-like: one completion far beyond the principal's own (by its ratio to
        // the prompt or its size), leaning on everyone's while the principal has few
        // requests. Refused requests carry no completion: no step either way.
        let answered = ev.decision == Decision::Allow && ev.completion_tokens > 0;
        let completion = ev.completion_tokens as f32 + RATIO_PAD;
        let log_ratio = (completion / (ev.prompt_tokens as f32 + RATIO_PAD)).ln();
        let log_completion = completion.ln();
        let extreme = if answered {
            st.requests.extreme(
                &self.everyone_requests,
                ev.completion_tokens,
                log_ratio,
                log_completion,
            )
        } else {
            0.0
        };
        if answered {
            c.extraction_run = run_step(c.extraction_run, extreme, st.extreme_rate);
        }
        if ev.completion_tokens >= LONG_COMPLETION
            && ev.completion_tokens >= LONG_RATIO.saturating_mul(ev.prompt_tokens)
        {
            c.long_completions += 1.0;
        }
        let m = Measured {
            rate: c.rate,
            tokens: c.tokens,
            completion_long: c.completion_long,
            ratio: (c.completion_long + 50.0) / (c.prompt_long + 50.0),
            refusals: c.refusals,
            long_completions: c.long_completions,
        };

        // Context: network, user agent, hour, model.
        let how = hour_of_week(now);
        let est = self.cfg.establish_ms;
        let net_known = st.networks.observe(network_key(&ev.ip), now, est);
        let ua_known = ev.user_agent.is_empty()
            || st
                .user_agents
                .observe(hash64(ev.user_agent.as_bytes()), now, est);
        let share = st.hour_share(how);
        let profile_events = st.hours_total;
        st.count_hour(how);
        let mut model_new = false;
        if !ev.model.is_empty() {
            let known = st.models.observe(hash64(ev.model.as_bytes()), now, est);
            if !known {
                st.counters.new_model += 1.0;
                model_new = true;
            }
        }
        let new_model_rate = st.counters.new_model;
        let injection_hits = st.counters.injection_hits;

        // Which baseline this principal is judged against.
        // Cold start: with no principal, group or population history at all there is
        // nothing to compare volumes with, and volume features stay silent.
        let (base, cold) = if !warm {
            (st.base, false)
        } else {
            match self.groups.get(&group) {
                Some(g) if group != 0 && g.rate.n >= GROUP_MIN_SAMPLES => (*g, false),
                _ => (self.everyone, self.everyone.rate.n < GROUP_MIN_SAMPLES),
            }
        };

        let mut k = Contributions::new();
        let hod = how % 24;
        let day = now.div_euclid(86_400_000);
        if day > st.peak_day {
            st.peak_day = day;
            for (p, t) in st.peak_rate.iter_mut().zip(st.today_rate.iter_mut()) {
                *p = (*p * PEAK_FADE).max(*t);
                *t = 0.0;
            }
            for (p, t) in st.peak_tokens.iter_mut().zip(st.today_tokens.iter_mut()) {
                *p = (*p * PEAK_FADE).max(*t);
                *t = 0.0;
            }
        }
        let (peak_rate, peak_tokens) = if warm {
            (0.0, 0.0)
        } else {
            (
                st.peak_rate.get(hod).copied().unwrap_or(0.0) * PEAK_MARGIN,
                st.peak_tokens.get(hod).copied().unwrap_or(0.0) * PEAK_MARGIN,
            )
        };
        let margin = if cold {
            f32::INFINITY
        } else if warm {
            WARMUP_MARGIN
        } else {
            1.0
        };
        let rate_ref = base.rate.reference(FLOOR_RATE).max(peak_rate) * margin;
        k.add(
            "requests_per_min",
            f64::from(m.rate),
            f64::from(rate_ref),
            log2_excess(m.rate, rate_ref, CAP_RATE),
        );
        let tok_ref = base.tokens.reference(FLOOR_TOKENS).max(peak_tokens) * margin;
        k.add(
            "tokens_per_min",
            f64::from(m.tokens),
            f64::from(tok_ref),
            log2_excess(m.tokens, tok_ref, CAP_TOKENS),
        );
        let cl_ref = base.completion_long.reference(FLOOR_COMPLETION_LONG) * margin;
        k.add(
            "completion_tokens_15min",
            f64::from(m.completion_long),
            f64::from(cl_ref),
            log2_excess(m.completion_long, cl_ref, CAP_COMPLETION_LONG),
        );
        let ratio_ref = base.ratio.reference(FLOOR_RATIO);
        k.add(
            "completion_to_prompt",
            f64::from(m.ratio),
            f64::from(ratio_ref),
            // The ratio only counts with real volume behind it.
            if m.completion_long > cl_ref * 0.5 {
                log2_excess(m.ratio, ratio_ref, CAP_RATIO)
            } else {
                0.0
            },
        );
        let lc_ref = base.long_completions.reference(FLOOR_LONG_COMPLETIONS) * margin;
        k.add(
            "long_completions_15min",
            f64::from(m.long_completions),
            f64::from(lc_ref),
            log2_excess(m.long_completions, lc_ref, CAP_LONG_COMPLETIONS),
        );
        let ref_ref = base.refusals.reference(FLOOR_REFUSALS);
        k.add(
            "refusals_per_min",
            f64::from(m.refusals),
            f64::from(ref_ref),
            log2_excess(m.refusals, ref_ref, CAP_REFUSALS),
        );
        let (injection_run, extraction_run) =
            (st.counters.injection_run, st.counters.extraction_run);
        k.add(
            "injection_run",
            f64::from(injection_run),
            f64::from(st.injection_rate),
            run_contribution(injection_run, st.injection_rate, CAP_INJECTION_RUN),
        );
        k.add(
            "extraction_run",
            f64::from(extraction_run),
            f64::from(st.extreme_rate),
            run_contribution(extraction_run, st.extreme_rate, CAP_EXTRACTION_RUN),
        );
        if !warm {
            k.add(
                "new_network",
                1.0,
                0.0,
                if net_known { 0.0 } else { W_NEW_NETWORK },
            );
            k.add(
                "new_user_agent",
                1.0,
                0.0,
                if ua_known { 0.0 } else { W_NEW_USER_AGENT },
            );
            if profile_events >= OFF_HOURS_MIN_EVENTS && share < OFF_HOURS_SHARE {
                k.add(
                    "off_hours",
                    f64::from(share),
                    f64::from(OFF_HOURS_SHARE),
                    W_OFF_HOURS,
                );
            }
        }
        // Unusual model: new to the principal, rare in its group, rare overall.
        let mut model_c = 0.0;
        let mut model_share = 1.0;
        if !ev.model.is_empty() && ev.decision == Decision::Allow {
            let mk = hash64(ev.model.as_bytes());
            let global_total = self.popularity.get(0);
            let global_share = self.popularity.get(mk) / global_total.max(1.0);
            let group_total = self.popularity.get(mix(group, 0));
            let group_share = self.popularity.get(mix(group, mk)) / group_total.max(1.0);
            model_share = if group != 0 {
                group_share
            } else {
                global_share
            };
            // A model the principal has made its own is never unusual for it.
            if model_new {
                if !warm {
                    model_c += W_MODEL_NEW;
                }
                if group != 0 && group_total >= RARITY_MIN_EVENTS && group_share < GROUP_RARE {
                    model_c += W_MODEL_GROUP_RARE;
                }
                if global_total >= RARITY_MIN_EVENTS && global_share < GLOBAL_RARE {
                    model_c += W_MODEL_GLOBAL_RARE;
                }
            }
            // Repeated use of a rare model weighs more; trying a common one does not.
            if model_c > W_MODEL_NEW {
                model_c += 0.5 * f64::from(1.0 + new_model_rate).log2();
            }
            self.popularity.add(0);
            self.popularity.add(mk);
            if group != 0 {
                self.popularity.add(mix(group, 0));
                self.popularity.add(mix(group, mk));
            }
        }
        k.add(
            "unusual_model",
            model_share,
            GROUP_RARE,
            model_c.min(CAP_MODEL),
        );

        // Multivariate: the deviation vector against everyone's.
        let x = [
            squash(m.rate / base.rate.mean.max(1.0)),
            squash(m.tokens / base.tokens.mean.max(100.0)),
            squash(m.completion_long / base.completion_long.mean.max(100.0)),
            squash(m.ratio / base.ratio.mean.max(0.1)),
            squash(m.refusals / (base.refusals.mean + 1.0)),
            (injection_hits / 4.0).min(1.0),
            if net_known || warm { 0.0 } else { 1.0 },
            (model_c / CAP_MODEL) as f32,
            if !warm && profile_events >= OFF_HOURS_MIN_EVENTS {
                (1.0 - share * 10.0).max(0.0)
            } else {
                0.0
            },
        ];
        let s = self.hst.score_and_update(&x);
        if self.hst.ready() {
            if self.hst_mean <= 0.0 {
                self.hst_mean = s;
            }
            let a = 1.0 - s / self.hst_mean.max(1e-9);
            let c = W_HST * ((a - HST_START) / (1.0 - HST_START)).clamp(0.0, 1.0);
            k.add("multivariate", a, HST_START, c);
            self.hst_mean += 0.001 * (s - self.hst_mean);
        }

        let score = k.score;
        let severity = self.cfg.severity(score);
        if self.explain {
            let kk = Contributions {
                score,
                items: k.items.clone(),
            };
            self.last = Some((score, kk.report()));
        }
        // Learn from what is not alarming (an attack must not become the baseline).
        if severity.is_none() {
            st.injection_rate +=
                RUN_RATE_ALPHA * (f32::from(u8::from(injection_hit)) - st.injection_rate);
            if answered {
                st.extreme_rate +=
                    RUN_RATE_ALPHA * (f32::from(u8::from(extreme > 0.0)) - st.extreme_rate);
                st.requests.update(log_ratio, log_completion, extreme > 0.0);
                self.everyone_requests
                    .update(log_ratio, log_completion, extreme > 0.0);
            }
            st.pending = st.pending.max(&m);
            if now.saturating_sub(st.pending_since) >= SAMPLE_MS {
                let sample = st.pending;
                st.base.update(&sample);
                self.everyone.update(&sample);
                if group != 0 {
                    self.groups.entry(group).or_default().update(&sample);
                }
                st.pending = Measured::default();
                st.pending_since = now;
            }
            if let (Some(r), Some(t)) = (st.today_rate.get_mut(hod), st.today_tokens.get_mut(hod)) {
                *r = r.max(m.rate);
                *t = t.max(m.tokens);
            }
        }
        let sev = severity?;
        if !st.memory.should_alert(sev, now, self.cfg.cooldown_ms) {
            return None;
        }
        let kind = k.kind();
        Some(Alert {
            ts: now,
            principal: ev.principal.to_string(),
            ip: None,
            kind: kind.into(),
            score: (score * 1000.0).round() / 1000.0,
            severity: sev,
            action: self.cfg.action(sev),
            features: k.report(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn ev<'a>(ts: i64, principal: &'a str, ip: &'a str, model: &'a str) -> Event<'a> {
        Event {
            ts,
            principal: Cow::Borrowed(principal),
            ip: Cow::Borrowed(ip),
            user_agent: Cow::Borrowed("app/1.0"),
            model: Cow::Borrowed(model),
            decision: Decision::Allow,
            prompt_tokens: 200,
            completion_tokens: 150,
            injection_score: 0.0,
            group: Some(Cow::Borrowed("eng")),
        }
    }

    /// Two weeks of office-hours traffic, a few requests every few minutes.
    fn train(d: &mut Detector, principal: &str) -> i64 {
        let day = 86_400_000i64;
        let mut alerts = 0;
        for dday in 0..14 {
            for minute in (9 * 60..17 * 60).step_by(7) {
                let ts = dday * day + minute * 60_000 + 1_700_000_000_000 / day * day;
                for i in 0..3 {
                    if d.observe(&ev(ts + i * 5_000, principal, "10.1.2.3", "small"))
                        .is_some()
                    {
                        alerts += 1;
                    }
                }
            }
        }
        assert_eq!(alerts, 0, "ordinary traffic alerted");
        1_700_000_000_000 / day * day + 14 * day
    }

    #[test]
    fn hour_of_week_starts_monday() {
        // 1970-01-05 was a Monday.
        assert_eq!(hour_of_week(4 * 86_400_000), 0);
        assert_eq!(hour_of_week(4 * 86_400_000 + 3_600_000 * 25), 25);
        assert_eq!(hour_of_week(0), 72);
        assert!(hour_of_week(-1) < 168);
    }

    #[test]
    fn stolen_key_at_night_is_quarantined_and_names_its_features() {
        let mut d = Detector::new(DetectorConfig::default());
        // train_varied returns 10:00 of the next day; 03:00 is seven hours earlier.
        let t0 = train_varied(&mut d, "alice", 300.0, 800.0) - 7 * 3_600_000;
        let mut first = None;
        for i in 0..120 {
            let mut e = ev(t0 + i * 1_000, "alice", "185.220.1.9", "small");
            // Requests of the victim's usual size: what gives it away is where, when and
            // how many.
            e.user_agent = Cow::Borrowed("python-requests/2.31");
            e.prompt_tokens = 300;
            e.completion_tokens = 800;
            if let Some(a) = d.observe(&e) {
                if a.action == crate::Action::Quarantine {
                    first = Some((i, a));
                    break;
                }
            }
        }
        let (i, a) = first.expect("quarantined");
        assert!(i < 60, "took {i} requests");
        for f in ["new_network", "off_hours", "requests_per_min"] {
            assert!(
                a.features.contains_key(f),
                "{f} missing from {:?}",
                a.features
            );
        }
    }

    /// Two weeks of office-hours traffic with token counts that vary as real ones do
    /// (log-normal around `prompt` and `completion`); returns the next day's 10:00.
    fn train_varied(d: &mut Detector, principal: &str, prompt: f64, completion: f64) -> i64 {
        let day = 86_400_000i64;
        let t0 = 1_700_000_000_000 / day * day;
        let mut rng = crate::SplitMix64::new(9);
        let mut alerts = Vec::new();
        for dday in 0..14 {
            for minute in (9 * 60..17 * 60).step_by(7) {
                for i in 0..3 {
                    let mut e = ev(
                        t0 + dday * day + minute * 60_000 + i * 5_000,
                        principal,
                        "10.1.2.3",
                        "small",
                    );
                    e.prompt_tokens = (prompt * (0.6 * rng.normal()).exp()) as u64;
                    e.completion_tokens = (completion * (0.6 * rng.normal()).exp()) as u64;
                    alerts.extend(d.observe(&e));
                }
            }
        }
        assert!(alerts.is_empty(), "ordinary traffic alerted: {alerts:?}");
        t0 + 14 * day + 10 * 3_600_000
    }

    #[test]
    fn model_extraction_is_contained_within_its_first_requests() {
        let mut d = Detector::new(DetectorConfig::default());
        let t0 = train_varied(&mut d, "carol", 400.0, 250.0);
        // Short prompts, long completions, three a minute.
        let contained = (0..20i64).find_map(|i| {
            let mut e = ev(t0 + i * 20_000, "carol", "10.1.2.3", "small");
            e.prompt_tokens = 60;
            e.completion_tokens = 3_000;
            d.observe(&e)
                .filter(|a| a.action.contains())
                .map(|a| (i, a))
        });
        let (i, a) = contained.expect("contained");
        assert!(i <= 2, "took {} requests", i + 1);
        assert_eq!(a.kind, "extraction");
        assert!(a.features.contains_key("extraction_run"), "{a:?}");
    }

    #[test]
    fn long_completions_are_not_extraction_for_a_principal_who_always_has_them() {
        let mut d = Detector::new(DetectorConfig::default());
        let t0 = train_varied(&mut d, "dave", 60.0, 3_000.0);
        for i in 0..30i64 {
            let mut e = ev(t0 + i * 60_000, "dave", "10.1.2.3", "small");
            e.prompt_tokens = 60;
            e.completion_tokens = 3_000;
            assert_eq!(d.observe(&e), None, "request {i}");
        }
    }

    #[test]
    fn injection_campaign_is_contained_by_its_second_sure_hit() {
        let mut d = Detector::new(DetectorConfig::default());
        let t0 = train(&mut d, "erin") + 10 * 3_600_000;
        let mut e = ev(t0, "erin", "10.1.2.3", "small");
        e.injection_score = 0.9;
        assert_eq!(d.observe(&e), None, "one hit alone");
        e.ts += 15_000;
        let a = d.observe(&e).expect("second hit");
        assert!(a.action.contains(), "{a:?}");
        assert_eq!(a.kind, "injection");
    }

    #[test]
    fn stray_injection_hits_among_ordinary_requests_do_not_alert() {
        // A busy service: a request every 10 s, a guard false positive every tenth
        // request (far more than real guards produce); the misses between drain the
        // sequential test.
        let mut d = Detector::new(DetectorConfig::default());
        let t0 = train(&mut d, "svc") + 10 * 3_600_000;
        for i in 0..200i64 {
            let mut e = ev(t0 + i * 10_000, "svc", "10.1.2.3", "small");
            if i % 10 == 0 {
                e.injection_score = 0.7;
            }
            assert_eq!(d.observe(&e), None, "request {i}");
        }
    }

    #[test]
    fn credential_stuffing_alerts_about_the_address() {
        let mut d = Detector::new(DetectorConfig::default());
        let mut got = None;
        for i in 0..200 {
            let mut e = ev(1_000_000 + i * 1_000, "", "203.0.113.7", "");
            e.decision = Decision::Deny;
            if let Some(a) = d.observe(&e) {
                if a.action.contains() {
                    got = Some(a);
                    break;
                }
            }
        }
        let a = got.expect("contained");
        assert_eq!(a.ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(a.kind, "auth_failures");
    }

    #[test]
    fn same_input_same_alerts() {
        let run = || {
            let mut d = Detector::new(DetectorConfig::default());
            let t = train(&mut d, "bob");
            (0..50)
                .filter_map(|i| d.observe(&ev(t + i * 500, "bob", "1.2.3.4", "big")))
                .map(|a| serde_json::to_string(&a).unwrap_or_default())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    /// docs/anomaly.md and the module docs say "about 2 KiB" per principal (1,968 bytes
    /// plus the map's key); keep them true.
    #[test]
    fn principal_state_is_about_two_kib() {
        let size = std::mem::size_of::<PrincipalState>();
        assert!(size <= 2_048, "{size} bytes");
    }

    #[test]
    fn memory_is_bounded() {
        let cfg = DetectorConfig {
            max_principals: 100,
            max_ips: 50,
            ..DetectorConfig::default()
        };
        let mut d = Detector::new(cfg);
        for i in 0..1_000i64 {
            let name = format!("p{i}");
            d.observe(&ev(i * 1_000, &name, "10.0.0.1", "m"));
            let ip = format!("198.51.100.{}", i % 250);
            let mut e = ev(i * 1_000, "", &ip, "");
            e.decision = Decision::Deny;
            d.observe(&e);
        }
        assert!(d.principals() <= 100);
        assert!(d.ips() <= 50);
    }
}
