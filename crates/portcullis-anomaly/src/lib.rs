//! Portcullis anomaly detection: assume breach, look for it continuously.
//!
//! Every finished request becomes an [`Event`]; the [`Detector`] keeps a small,
//! constant-size state per principal (and per client address for requests that failed
//! authentication), scores each event against the principal's own robust baseline, its
//! group's baseline while it is still warming up, and a population-wide multivariate
//! streaming detector (Half-Space Trees, [`hst`]), and returns an [`Alert`] naming the
//! features that drove it, with the containment [`Action`] its severity maps to.
//!
//! The detector reads time only from the events (`ts`), never from the wall clock, so
//! the live gateway and `portcullis anomaly replay` run exactly the same code and a
//! week of traffic replays in seconds.
//!
//! - [`event`]: the input event and the output alert (JSON Lines formats).
//! - [`config`]: `[anomaly]` settings, raw and validated.
//! - [`detector`]: features, baselines, scoring, severity and actions.
//! - [`hst`]: Half-Space Trees.
//! - [`sim`]: the traffic simulator with labelled attack scenarios.
//! - [`eval`]: detection, time to containment and false-alert rates against labels.
//! - [`replay`]: JSON Lines in, alerts out.

pub mod config;
pub mod detector;
pub mod eval;
pub mod event;
pub mod hst;
pub mod replay;
pub mod sim;

pub use config::{Action, AnomalyConfig, RawAnomalyConfig, Severity};
pub use detector::Detector;
pub use event::{Alert, Decision, Event};

/// A 64-bit FNV-1a hash: the detector keeps hashes of networks, user agents and models,
/// never the strings, so a principal's state has a fixed size.
pub(crate) fn hash64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64: a small deterministic generator, so the simulator and the trees give the
/// same result for the same seed on every platform and every `rand` version.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(1e-300);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Poisson with mean `lambda` (Knuth for small means, a rounded normal for large).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let l = (-lambda).exp();
        let mut k = 0u64;
        let mut p = 1.0;
        loop {
            p *= self.f64();
            if p <= l {
                return k;
            }
            k += 1;
        }
    }
}
