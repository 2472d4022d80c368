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

/// Lines longer than this are split further at sentence ends.
pub const SEG_LONG_LINE: usize = 160;
/// A segment with fewer features than this is not scored (too short to judge).
pub const SEG_MIN_FEATS: u32 = 24;

/// Segments of normalized text for the segment head, as byte ranges: each line
/// (ending after its `\n`, so the word that the newline ends belongs to it), and lines
/// longer than [`SEG_LONG_LINE`] split after `. `, `? ` or `! `. Features belong to the
/// segment holding their position (see [`for_each`]), in training and at scan time.
pub fn segments(text: &str, out: &mut Vec<(usize, usize)>) {
    out.clear();
    let b = text.as_bytes();
    let n = b.len();
    let mut start = 0;
    while start < n {
        let end = memchr::memchr(b'\n', &b[start..]).map_or(n, |p| start + p + 1);
        if end - start > SEG_LONG_LINE {
            let mut s = start;
            for p in memchr::memchr3_iter(b'.', b'?', b'!', &b[start..end]) {
                let i = start + p;
                if i + 1 < end && b[i + 1] == b' ' {
                    out.push((s, i + 2));
                    s = i + 2;
                }
            }
            if s < end {
                out.push((s, end));
            }
        } else {
            out.push((start, end));
        }
        start = end;
    }
}

/// Per-segment sums of the document (segment) head's weights over the features of
/// `text` and the feature counts: `out[i] = (sum, count)` for `segs[i]`. Exactly what
/// summing [`for_each`]'s features by position into the segments gives.
pub fn segment_sums(
    text: &str,
    cfg: FeatureConfig,
    doc: &[i8],
    segs: &[(usize, usize)],
    out: &mut Vec<(i32, u32)>,
) {
    out.clear();
    out.resize(segs.len(), (0, 0));
    if segs.is_empty() {
        return;
    }
    // `for_each` yields n-grams, then words, each in position order: one forward
    // cursor per sweep.
    let mut cur = 0usize;
    let mut last = 0usize;
    for_each(text, cfg, |k, pos| {
        if pos < last {
            cur = 0;
        }
        last = pos;
        while cur + 1 < segs.len() && pos >= segs[cur].1 {
            cur += 1;
        }
        if let (Some(o), Some(w)) = (out.get_mut(cur), doc.get(k as usize)) {
            o.0 += i32::from(*w);
            o.1 += 1;
        }
    });
}

/// Per-bin sums of a linear two-head model over the features of `text`, exactly what
/// summing [`for_each`]'s features into bins of [`BIN`] bytes by position gives: per bin
/// `[head 0, head 1, feature count, document head]`. `w` has `2^bits` rows; `doc` is the
/// document head's table (empty when the model has none).
///
/// This is the scanner's hot path, written for speed rather than reuse: the three
/// default n-gram lengths are unrolled with constant masks and seeds, each position's
/// eight bytes are one unaligned load, the accumulators stay in registers within a bin
/// (summing through the bin vector, as a closure over it does, chains every feature
/// through a store and a reload), and the document-head look-up is compiled out when
/// the head is off.
pub fn linear_bins(
    text: &str,
    cfg: FeatureConfig,
    w: &[[i8; 2]],
    doc: &[i8],
    bins: &mut Vec<[i32; 4]>,
) {
    let n = text.len();
    bins.clear();
    bins.resize(n / BIN + 1, [0; 4]);
    // The shipped configuration on ASCII text (most prompts): one fused pass.
    if cfg == FeatureConfig::default() && doc.is_empty() && text.is_ascii() {
        if let Ok(table) = <&[[i8; 2]; 1 << 18]>::try_from(w) {
            fused_ascii_default::<false>(
                text.as_bytes(),
                table,
                &NO_SEGMENT_TABLE,
                &[],
                bins,
                &mut [],
            );
            return;
        }
    }
    if doc.is_empty() {
        ngram_bins::<false>(text.as_bytes(), cfg, w, doc, bins);
    } else {
        ngram_bins::<true>(text.as_bytes(), cfg, w, doc, bins);
    }
    if cfg.words {
        let bits = cfg.bits;
        let mut add = |k: u32, pos: usize| {
            let k = k as usize;
            if let (Some(p), Some(bin)) = (w.get(k), bins.get_mut(pos / BIN)) {
                bin[0] += i32::from(p[0]);
                bin[1] += i32::from(p[1]);
                bin[2] += 1;
                if let Some(d) = doc.get(k) {
                    bin[3] += i32::from(*d);
                }
            }
        };
        for_each_word(text, |w, prev, pos| {
            add(finalize(mix(w, 0xA5A5), bits), pos);
            add(finalize(mix(mix(prev, w), 0x5A5A), bits), pos);
        });
    }
}

/// All-zero segment table: the segment accumulators of [`fused_ascii_default`] are
/// compiled out when it is not needed, but the argument still needs a table.
static NO_SEGMENT_TABLE: [i8; 1 << 18] = [0; 1 << 18];

/// [`linear_bins`] plus, with `seg` non-empty, [`segment_sums`] of `segs` over the
/// segment table `seg` in the same pass (the features are hashed once): what the
/// scanner runs on documents when the model has a combiner.
pub fn linear_bins_segments(
    text: &str,
    cfg: FeatureConfig,
    w: &[[i8; 2]],
    seg: &[i8],
    segs: &[(usize, usize)],
    bins: &mut Vec<[i32; 4]>,
    seg_out: &mut Vec<(i32, u32)>,
) {
    if cfg == FeatureConfig::default() && text.is_ascii() && !segs.is_empty() {
        if let (Ok(table), Ok(st)) = (
            <&[[i8; 2]; 1 << 18]>::try_from(w),
            <&[i8; 1 << 18]>::try_from(seg),
        ) {
            bins.clear();
            bins.resize(text.len() / BIN + 1, [0; 4]);
            seg_out.clear();
            seg_out.resize(segs.len(), (0, 0));
            fused_ascii_default::<true>(text.as_bytes(), table, st, segs, bins, seg_out);
            return;
        }
    }
    linear_bins(text, cfg, w, &[], bins);
    segment_sums(text, cfg, seg, segs, seg_out);
}

/// [`linear_bins`] for the default configuration (2^18 buckets, byte 3-5-grams, words)
/// on ASCII text without a document head: n-grams and words in one pass over the
/// bytes, each bin summed in registers, and no bounds checks on the table (its size is
/// in the type, and a bucket is a hash shifted down to 18 bits). With `SEG`, each
/// feature is also looked up in the segment table `st` and summed per segment of
/// `segs` (which tile the text) into `seg_out`.
fn fused_ascii_default<const SEG: bool>(
    bytes: &[u8],
    w: &[[i8; 2]; 1 << 18],
    st: &[i8; 1 << 18],
    segs: &[(usize, usize)],
    bins: &mut [[i32; 4]],
    seg_out: &mut [(i32, u32)],
) {
    const BITS: u8 = 18;
    const MASK: usize = (1 << BITS) - 1;
    let n = bytes.len();
    let fast_end = n.saturating_sub(7);
    // acc[3] sums the segment table (bins' fourth slot is unused on this path and is
    // not written back); `seg_n` counts the current segment's features.
    let look = |k: u32, acc: &mut [i32; 4]| {
        let p = w[k as usize & MASK];
        acc[0] += i32::from(p[0]);
        acc[1] += i32::from(p[1]);
        if SEG {
            acc[3] += i32::from(st[k as usize & MASK]);
        }
    };
    let bucket = |m: u64, seed: u64| -> u32 {
        let h = (m ^ seed).wrapping_mul(K);
        let h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        (h >> (64 - BITS)) as u32
    };
    // Current segment: index, end, and the feature count and table sum before the
    // current bin's accumulator (`acc[2]`, `acc[3]` hold the rest).
    let mut seg = 0usize;
    let mut seg_end = if SEG {
        segs.first().map_or(usize::MAX, |s| s.1)
    } else {
        usize::MAX
    };
    let (mut seg_sum, mut seg_n) = (0i32, 0i32);
    // Word state (see `for_each_word`): ASCII only, so a word is a run of
    // alphanumeric bytes and is emitted at the byte that ends it.
    let mut prev: u64 = 0x1234_5678;
    let mut word = Fnv::new();
    let mut in_word = false;
    for (b, bin) in bins.iter_mut().enumerate() {
        let start = b * BIN;
        let end = (start + BIN).min(n);
        let mut acc = [0i32; 4];
        for i in start..end {
            if SEG && i >= seg_end && seg + 1 < segs.len() {
                // Close the segment: everything counted so far belongs to it.
                if let Some(o) = seg_out.get_mut(seg) {
                    *o = (seg_sum + acc[3], (seg_n + acc[2]) as u32);
                }
                seg_sum = -acc[3];
                seg_n = -acc[2];
                seg += 1;
                seg_end = segs.get(seg).map_or(usize::MAX, |s| s.1);
            }
            let byte = bytes[i];
            if i < fast_end {
                let Some(m) = bytes
                    .get(i..i + 8)
                    .and_then(|s| <[u8; 8]>::try_from(s).ok())
                    .map(u64::from_le_bytes)
                else {
                    break;
                };
                look(bucket(m & 0xFF_FFFF, NGRAM_SEED[3]), &mut acc);
                look(bucket(m & 0xFFFF_FFFF, NGRAM_SEED[4]), &mut acc);
                look(bucket(m & 0xFF_FFFF_FFFF, NGRAM_SEED[5]), &mut acc);
                acc[2] += 3;
            } else {
                let mut win = [0u8; 8];
                let take = (n - i).min(8);
                win[..take].copy_from_slice(&bytes[i..i + take]);
                let m = u64::from_le_bytes(win);
                for len in 3..=5.min(n - i) {
                    look(
                        ngram_bucket(m & ((1u64 << (8 * len)) - 1), len, BITS),
                        &mut acc,
                    );
                    acc[2] += 1;
                }
            }
            if byte.is_ascii_alphanumeric() {
                word.0 = (word.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
                in_word = true;
            } else if in_word {
                let h = word.finish();
                look(finalize(mix(h, 0xA5A5), BITS), &mut acc);
                look(finalize(mix(mix(prev, h), 0x5A5A), BITS), &mut acc);
                acc[2] += 2;
                prev = h;
                word = Fnv::new();
                in_word = false;
            }
        }
        for (a, v) in bin.iter_mut().zip(&acc[..3]) {
            *a += v;
        }
        if SEG {
            seg_sum += acc[3];
            seg_n += acc[2];
        }
    }
    if in_word {
        // The last word ends at the end of the text: bin `n / BIN`, the last segment.
        if let Some(bin) = bins.get_mut(n / BIN) {
            let h = word.finish();
            let mut acc = [0i32; 4];
            look(finalize(mix(h, 0xA5A5), BITS), &mut acc);
            look(finalize(mix(mix(prev, h), 0x5A5A), BITS), &mut acc);
            bin[0] += acc[0];
            bin[1] += acc[1];
            bin[2] += 2;
            seg_sum += acc[3];
            seg_n += 2;
        }
    }
    if SEG {
        if let Some(o) = seg_out.get_mut(seg) {
            *o = (seg_sum, seg_n as u32);
        }
    }
}

/// The byte n-gram part of [`linear_bins`].
#[inline(always)]
fn ngram_bins<const DOC: bool>(
    bytes: &[u8],
    cfg: FeatureConfig,
    w: &[[i8; 2]],
    doc: &[i8],
    bins: &mut [[i32; 4]],
) {
    let n = bytes.len();
    let bits = cfg.bits;
    let (lo, hi) = (usize::from(cfg.ngram_min), usize::from(cfg.ngram_max));
    let look = |k: u32, acc: &mut [i32; 4]| {
        let k = k as usize;
        if let Some(p) = w.get(k) {
            acc[0] += i32::from(p[0]);
            acc[1] += i32::from(p[1]);
        }
        if DOC {
            if let Some(d) = doc.get(k) {
                acc[3] += i32::from(*d);
            }
        }
    };
    // Positions with eight bytes after them take the fast path; the last seven (and any
    // other n-gram lengths) take the general one.
    let fast_end = if (lo, hi) == (3, 5) {
        n.saturating_sub(7)
    } else {
        0
    };
    let shift = 64 - u32::from(bits);
    let bucket = |m: u64, seed: u64| -> u32 {
        let h = (m ^ seed).wrapping_mul(K);
        let h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        (h >> shift) as u32
    };
    for (b, bin) in bins.iter_mut().enumerate() {
        let start = b * BIN;
        let end = (start + BIN).min(n);
        let mut acc = [0i32; 4];
        let mut i = start;
        let fast = end.min(fast_end.max(start));
        while i < fast {
            let Some(word) = bytes
                .get(i..i + 8)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
                .map(u64::from_le_bytes)
            else {
                break;
            };
            look(bucket(word & 0xFF_FFFF, NGRAM_SEED[3]), &mut acc);
            look(bucket(word & 0xFFFF_FFFF, NGRAM_SEED[4]), &mut acc);
            look(bucket(word & 0xFF_FFFF_FFFF, NGRAM_SEED[5]), &mut acc);
            i += 1;
        }
        acc[2] += 3 * (i - start) as i32;
        while i < end {
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
                look(ngram_bucket(m, len, bits), &mut acc);
                acc[2] += 1;
            }
            i += 1;
        }
        for (a, v) in bin.iter_mut().zip(acc) {
            *a += v;
        }
    }
}

/// Calls `f(word_hash, previous_word_hash, byte_position)` for every word of `text` in
/// order (the word features of [`for_each`]): runs of alphanumeric characters, and each
/// CJK or kana character alone; the position is that of the character ending the word.
#[inline(always)]
fn for_each_word(text: &str, mut f: impl FnMut(u64, u64, usize)) {
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut prev: u64 = 0x1234_5678;
    let mut word = Fnv::new();
    let mut in_word = false;
    let mut i = 0;
    while i < n {
        let b = bytes[i];
        if b < 0x80 {
            // ASCII: one byte, hashed as is.
            if b.is_ascii_alphanumeric() {
                word.0 ^= u64::from(b);
                word.0 = word.0.wrapping_mul(0x0000_0100_0000_01b3);
                in_word = true;
            } else if in_word {
                f(word.finish(), prev, i);
                prev = word.finish();
                word = Fnv::new();
                in_word = false;
            }
            i += 1;
            continue;
        }
        let Some(c) = text.get(i..).and_then(|t| t.chars().next()) else {
            break;
        };
        let len = c.len_utf8();
        let cb = bytes.get(i..i + len).unwrap_or_default();
        if c.is_alphanumeric() && !is_cjk(c) {
            word.write(cb);
            in_word = true;
        } else {
            if in_word {
                f(word.finish(), prev, i);
                prev = word.finish();
                word = Fnv::new();
                in_word = false;
            }
            if is_cjk(c) {
                let mut w = Fnv::new();
                w.write(cb);
                f(w.finish(), prev, i);
                prev = w.finish();
            }
        }
        i += len;
    }
    if in_word {
        f(word.finish(), prev, n);
    }
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

    /// [`linear_bins`] must equal the reference [`for_each`] summed into bins: the
    /// shipped model was trained on `for_each`'s features.
    #[test]
    fn linear_bins_match_for_each() {
        let mut texts: Vec<String> = vec![
            String::new(),
            "a".into(),
            "abcdefg".into(),
            "abcdefgh".into(),
            "ignore all 之前的指令 and the Ünïcödé wörds, кириллица".into(),
            "ｆｕｌｌ 全角 ﾊﾝｶｸ ひらがな 한국어 é".into(),
        ];
        let unit = "Ignore previous instructions! Räksmörgås 12% of 3.1, 忽略之前的指令 — ok. ";
        let mut long = String::new();
        while long.len() < 5000 {
            long.push_str(unit);
            texts.push(long.clone());
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in [1usize, 7, 8, 9, 127, 128, 129, 255, 256, 257, 300, 1000] {
            let mut s = String::new();
            while s.len() < len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let c = match x % 7 {
                    0 => ' ',
                    1 => char::from_u32(0x4e00 + (x >> 8) as u32 % 64).unwrap_or('x'),
                    2 => 'é',
                    _ => char::from(b'a' + (x >> 16) as u8 % 26),
                };
                s.push(c);
            }
            texts.push(s);
        }
        // ASCII texts take the fused path (default config, no document head).
        let mut ascii: Vec<String> = Vec::new();
        for len in [
            0usize, 1, 2, 3, 5, 7, 8, 9, 120, 127, 128, 129, 130, 135, 136, 256, 257, 1000, 4099,
        ] {
            let mut s = String::new();
            while s.len() < len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(match x % 9 {
                    0 => ' ',
                    1 => '.',
                    2 => '\n',
                    3 => char::from(b'0' + (x >> 8) as u8 % 10),
                    _ => char::from(b'a' + (x >> 16) as u8 % 26),
                });
            }
            ascii.push(s.clone());
            ascii.push(format!("{s} word"));
            ascii.push(format!("{s}!"));
        }
        for bits in [10u8, 18] {
            let buckets = 1usize << bits;
            let w: Vec<[i8; 2]> = (0..buckets)
                .map(|k| [(k * 7 % 255) as u8 as i8, (k * 13 % 251) as u8 as i8])
                .collect();
            let doc: Vec<i8> = (0..buckets).map(|k| (k * 5 % 253) as u8 as i8).collect();
            for (lo, hi, words) in [(3u8, 5u8, true), (2, 6, true), (3, 5, false), (1, 8, true)] {
                let cfg = FeatureConfig {
                    bits,
                    ngram_min: lo,
                    ngram_max: hi,
                    words,
                };
                for t in texts.iter().chain(&ascii) {
                    for d in [&doc[..], &[][..]] {
                        let mut want = vec![[0i32; 4]; t.len() / BIN + 1];
                        for_each(t, cfg, |k, pos| {
                            let b = &mut want[pos / BIN];
                            b[0] += i32::from(w[k as usize][0]);
                            b[1] += i32::from(w[k as usize][1]);
                            b[2] += 1;
                            b[3] += d.get(k as usize).map_or(0, |v| i32::from(*v));
                        });
                        let mut got = Vec::new();
                        linear_bins(t, cfg, &w, d, &mut got);
                        assert_eq!(got, want, "{cfg:?} {t:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn segment_sums_match_for_each_by_position() {
        let cfg = FeatureConfig::default();
        let doc: Vec<i8> = (0..1usize << 18)
            .map(|k| (k * 5 % 253) as u8 as i8)
            .collect();
        let long = "word ".repeat(50);
        for t in [
            String::new(),
            "one line".to_string(),
            "| a | b |\n| 1 | 2 |\nWhat is the capital of Brazil?\n| 3 | 4 |".to_string(),
            format!("{long}. Then a sentence? And an end! {long}\nlast line"),
            "\n\nx\n".to_string(),
            "ünï\ncodé 中文\n".to_string(),
            format!(
                "{}\nshort\n{}",
                "| x | y |\n".repeat(30),
                "tail words here. ".repeat(20)
            ),
            format!("a\n{}\nb", "n".repeat(300)),
        ] {
            let mut segs = Vec::new();
            segments(&t, &mut segs);
            // Segments tile the text.
            let mut at = 0;
            for (lo, hi) in &segs {
                assert_eq!(*lo, at, "{t:?}");
                assert!(hi > lo && t.is_char_boundary(*hi));
                at = *hi;
            }
            assert_eq!(at, t.len());
            let mut want = vec![(0i32, 0u32); segs.len()];
            for_each(&t, cfg, |k, pos| {
                let i = segs
                    .iter()
                    .position(|(_, hi)| pos < *hi)
                    .unwrap_or(segs.len().saturating_sub(1));
                if let Some(w) = want.get_mut(i) {
                    w.0 += i32::from(doc[k as usize]);
                    w.1 += 1;
                }
            });
            let mut got = Vec::new();
            segment_sums(&t, cfg, &doc, &segs, &mut got);
            assert_eq!(got, want, "{t:?}");
            // The fused pass gives the same segment sums and the same bins.
            let w: Vec<[i8; 2]> = (0..1usize << 18)
                .map(|k| [(k * 7 % 255) as u8 as i8, (k * 13 % 251) as u8 as i8])
                .collect();
            let (mut bins, mut fused) = (Vec::new(), Vec::new());
            linear_bins_segments(&t, cfg, &w, &doc, &segs, &mut bins, &mut fused);
            let mut plain = Vec::new();
            linear_bins(&t, cfg, &w, &[], &mut plain);
            if !segs.is_empty() {
                assert_eq!(fused, want, "{t:?}");
            }
            assert_eq!(bins, plain, "{t:?}");
        }
    }
}
