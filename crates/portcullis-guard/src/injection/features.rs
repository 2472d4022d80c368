//! Feature hashing for the linear classifier.
//!
//! Features of normalized text, each hashed into one of `2^bits` buckets:
//!
//! * byte n-grams (n = 3..=5 by default) of the normalized text: they carry morphology,
//!   obfuscated spellings and scripts without word boundaries (a CJK character is three
//!   UTF-8 bytes, so a 3-gram is about one character and a 5/6-gram about two);
//! * word unigrams and bigrams (CJK and kana characters count as one word each);
//! * one feature per rule hit (see [`super::rules`]).
//!
//! N-gram and word features share one weight per occurrence scaled by `1/sqrt(count)`,
//! an approximation of L2 normalization that does not need a per-text hash map. There is
//! deliberately no length feature: length is a shortcut in the training data.
//!
//! Long texts are also scored in windows of [`WINDOW_BINS`] bins of [`BIN`] bytes, and
//! the scanner takes the larger of the whole-text and best-window logits, so a short
//! instruction inserted into a long document is not diluted away.

/// Bin size in bytes for windowed scoring.
pub const BIN: usize = 128;
/// Bins per window (a window is 256 bytes; windows step one bin).
pub const WINDOW_BINS: usize = 2;

/// FNV-1a 64: tiny, deterministic across platforms and releases (the model depends on it).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Fnv {
    /// A fresh hasher.
    pub fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    /// Feeds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    /// The hash.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Self::new()
    }
}

/// Feature-extraction settings, stored in the model header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureConfig {
    /// log2 of the bucket count.
    pub bits: u8,
    /// Smallest byte n-gram.
    pub ngram_min: u8,
    /// Largest byte n-gram.
    pub ngram_max: u8,
    /// Whether word unigrams and bigrams are used.
    pub words: bool,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            bits: 18,
            ngram_min: 3,
            ngram_max: 5,
            words: true,
        }
    }
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn mix(h: u64, b: u64) -> u64 {
    (h ^ b).wrapping_mul(K).rotate_left(23)
}

#[inline]
fn finalize(h: u64, bits: u8) -> u32 {
    let h = (h ^ (h >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let h = h ^ (h >> 29);
    (h >> (64 - u32::from(bits))) as u32
}

#[inline]
fn ngram_bucket(m: u64, len: usize, bits: u8) -> u32 {
    let h = (m ^ NGRAM_SEED[len & 7]).wrapping_mul(K);
    let h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (h >> (64 - u32::from(bits))) as u32
}

/// Per-length seeds, so that e.g. the 3-gram "abc" and the 4-gram "abc\0" differ.
const NGRAM_SEED: [u64; 8] = [
    0x243F_6A88_85A3_08D3,
    0x1319_8A2E_0370_7344,
    0xA409_3822_299F_31D0,
    0x082E_FA98_EC4E_6C89,
    0x4528_21E6_38D0_1377,
    0xBE54_66CF_34E9_0C6C,
    0xC0AC_29B7_C97C_50DD,
    0x3F84_D5B5_B547_0917,
];

/// Bucket of a rule feature.
pub fn rule_bucket(id: &str, bits: u8) -> u32 {
    let mut f = Fnv::new();
    f.write(b"rule:");
    f.write(id.as_bytes());
    finalize(f.finish(), bits)
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF)
}

/// Calls `f(bucket, byte_position)` for every n-gram and word feature of `text`; returns
/// how many.
#[inline]
pub fn for_each(text: &str, cfg: FeatureConfig, mut f: impl FnMut(u32, usize)) -> usize {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let bits = cfg.bits;
    let (lo, hi) = (usize::from(cfg.ngram_min), usize::from(cfg.ngram_max));
    let mut count = 0usize;
    // Byte n-grams: the (up to) 8 bytes at each position are loaded as one little-endian
    // word; an n-gram is that word masked to n bytes, mixed with n. One multiply per
    // n-gram and no per-byte hash chain keeps this a few ns per byte.
    for i in 0..n {
        let mut win = [0u8; 8];
        let take = (n - i).min(8);
        win[..take].copy_from_slice(&bytes[i..i + take]);
        let word = u64::from_le_bytes(win);
        for len in lo..=hi.min(n - i) {
            let m = if len >= 8 {
                word
            } else {
                word & ((1u64 << (8 * len)) - 1)
            };
            f(ngram_bucket(m, len, bits), i);
            count += 1;
        }
    }
    if cfg.words {
        let mut prev: u64 = 0x1234_5678;
        let mut word = Fnv::new();
        let mut in_word = false;
        let mut emit = |w: u64, prev: &mut u64, count: &mut usize, pos: usize| {
            f(finalize(mix(w, 0xA5A5), bits), pos);
            f(finalize(mix(mix(*prev, w), 0x5A5A), bits), pos);
            *count += 2;
            *prev = w;
        };
        for (pos, c) in text.char_indices() {
            if c.is_alphanumeric() && !is_cjk(c) {
                let mut buf = [0u8; 4];
                word.write(c.encode_utf8(&mut buf).as_bytes());
                in_word = true;
                continue;
            }
            if in_word {
                emit(word.finish(), &mut prev, &mut count, pos);
                word = Fnv::new();
                in_word = false;
            }
            if is_cjk(c) {
                let mut w = Fnv::new();
                let mut buf = [0u8; 4];
                w.write(c.encode_utf8(&mut buf).as_bytes());
                emit(w.finish(), &mut prev, &mut count, pos);
            }
        }
        if in_word {
            emit(word.finish(), &mut prev, &mut count, n);
        }
    }
    count
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let cfg = FeatureConfig::default();
        let mut a = Vec::new();
        let mut b = Vec::new();
        let n = for_each("ignore all 之前的指令", cfg, |x, _| a.push(x));
        for_each("ignore all 之前的指令", cfg, |x, _| b.push(x));
        assert_eq!(a, b);
        assert_eq!(n, a.len());
        assert!(a.iter().all(|x| *x < (1 << cfg.bits)));
    }
}
