//! Text utilities shared by the detectors: tokens and their hashes, n-gram hashes,
//! MinHash and SimHash signatures, sentence and URL extraction, and masking of sensitive
//! values for evidence strings.
//!
//! Hashes are computed, never stored as text: the first pass keeps only numbers per
//! record, which is what bounds its memory. Every hash is a fixed function (tokens: a
//! 64-bit finalizer per eight bytes; other strings: FNV-1a plus that finalizer), so
//! results do not depend on the process or platform.

/// 64-bit finalizer (from SplitMix64): spreads FNV's weak low bits.
#[inline]
pub fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over bytes, finalized with [`mix`].
#[inline]
pub fn hash_bytes(b: &[u8]) -> u64 {
    let mut h: u64 = FNV_OFFSET;
    for &c in b {
        h ^= u64::from(c);
        h = h.wrapping_mul(FNV_PRIME);
    }
    mix(h)
}

/// A hash of a sequence of hashes (order matters), tagged so kinds never collide.
#[inline]
pub fn combine(tag: u64, parts: &[u64]) -> u64 {
    let mut h = mix(tag ^ 0x9e37_79b9_7f4a_7c15);
    for &p in parts {
        h = mix(h ^ p).wrapping_add(0x9e37_79b9_7f4a_7c15);
    }
    h
}

/// A hasher for keys that are already hashes (n-gram and target hashes, indices): one
/// finalizer per word instead of SipHash, which dominated the corpus step.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
        self.0 = mix(self.0);
    }
    fn write_u32(&mut self, i: u32) {
        self.0 = mix(self.0.rotate_left(29) ^ u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = mix(self.0.rotate_left(29) ^ i);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
}

/// A hash map keyed by hashes (see [`IdHasher`]).
pub type FastMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;
/// A hash set of hashes (see [`IdHasher`]).
pub type FastSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<IdHasher>>;

/// [`char_class`] bit: alphabetic.
pub const C_ALPHA: u8 = 1;
/// [`char_class`] bit: numeric.
pub const C_NUM: u8 = 2;
/// [`char_class`] bit: upper case.
pub const C_UPPER: u8 = 4;
/// [`char_class`] bit: white space.
pub const C_SPACE: u8 = 8;

/// The class bits of every character of the Basic Multilingual Plane, from the standard
/// library's predicates: those binary-search Unicode tables for each non-ASCII character,
/// which showed as a few percent of a scan of multilingual text; this is one load.
static BMP_CLASSES: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    (0u32..0x1_0000)
        .map(|u| char::from_u32(u).map_or(0, class_of))
        .collect()
});

fn class_of(c: char) -> u8 {
    let mut k = 0;
    if c.is_alphabetic() {
        k |= C_ALPHA;
    }
    if c.is_numeric() {
        k |= C_NUM;
    }
    if c.is_uppercase() {
        k |= C_UPPER;
    }
    if c.is_whitespace() {
        k |= C_SPACE;
    }
    k
}

/// The class bits ([`C_ALPHA`], [`C_NUM`], [`C_UPPER`], [`C_SPACE`]) of `c`: exactly the
/// standard library's `is_alphabetic`, `is_numeric`, `is_uppercase` and `is_whitespace`.
#[inline]
pub fn char_class(c: char) -> u8 {
    BMP_CLASSES
        .get(c as usize)
        .copied()
        .unwrap_or_else(|| class_of(c))
}

/// `c.is_alphanumeric()`, by [`char_class`].
#[inline]
pub fn is_alnum(c: char) -> bool {
    char_class(c) & (C_ALPHA | C_NUM) != 0
}

/// `c.is_whitespace()`, by [`char_class`].
#[inline]
pub fn is_space(c: char) -> bool {
    char_class(c) & C_SPACE != 0
}

/// Calls `f(start, end)` for each token of `text`: a run of alphanumeric characters, or a
/// single symbol that is neither white space nor ASCII punctuation (emoji and other rare
/// symbols are tokens: they make good backdoor triggers).
pub fn for_each_token(text: &str, mut f: impl FnMut(usize, usize)) {
    let b = text.as_bytes();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c < 0x80 {
            if c.is_ascii_alphanumeric() {
                if start.is_none() {
                    start = Some(i);
                }
            } else if let Some(s) = start.take() {
                f(s, i);
            }
            i += 1;
            continue;
        }
        let Some(ch) = text.get(i..).and_then(|s| s.chars().next()) else {
            break;
        };
        let n = ch.len_utf8();
        if is_alnum(ch) {
            if start.is_none() {
                start = Some(i);
            }
        } else {
            if let Some(s) = start.take() {
                f(s, i);
            }
            if !is_space(ch) && !is_invisible(ch) {
                f(i, i + n);
            }
        }
        i += n;
    }
    if let Some(s) = start {
        f(s, b.len());
    }
}

/// Seed of [`hash_lower`].
const TOKEN_SEED: u64 = 0x6a09_e667_f3bc_c908;
/// Multiplier of a token's length in [`hash_lower`] (odd: distinct lengths, distinct
/// seeds).
const LEN_MUL: u64 = 0x9e37_79b9_7f4a_7c15;

/// The hash of a token's lower-cased bytes `b`: the length, then one [`mix`] per eight
/// bytes (little-endian words, the last one zero-padded). Most words fit one word, so a
/// token costs one finalizer where FNV-1a took a multiply per byte; and the hashes of
/// different tokens are independent, so the processor overlaps them (FNV's byte chain
/// was serial, and found with a branch per byte, a mispredicted one at every token's
/// end).
#[inline]
pub fn hash_lower(b: &[u8]) -> u64 {
    let mut h = TOKEN_SEED ^ (b.len() as u64).wrapping_mul(LEN_MUL);
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        h = mix(h ^ word_le(w));
    }
    let rest = words.remainder();
    if !rest.is_empty() || b.is_empty() {
        h = mix(h ^ word_le(rest));
    }
    h
}

/// Up to eight bytes as a little-endian word, zero-padded.
#[inline]
fn word_le(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = b.len().min(8);
    w[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(w)
}

/// [`hash_lower`] of the lower-cased bytes `b[s..e]`, which must all be ASCII letters or
/// digits: for those, setting bit 5 lower-cases a letter and keeps a digit, so a word of
/// eight bytes is lower-cased at once. Eight bytes are loaded at a time wherever the
/// text has them (the bytes past `e` are masked off).
#[inline]
fn ascii_token_hash(b: &[u8], s: usize, e: usize) -> u64 {
    let len = e.saturating_sub(s);
    let mut h = TOKEN_SEED ^ (len as u64).wrapping_mul(LEN_MUL);
    let mut p = s;
    loop {
        let w = match b.get(p..p + 8) {
            Some(x) => u64::from_le_bytes(<[u8; 8]>::try_from(x).unwrap_or_default()),
            None => word_le(b.get(p..).unwrap_or_default()),
        };
        let left = e.saturating_sub(p);
        if left > 8 {
            h = mix(h ^ (w | 0x2020_2020_2020_2020));
            p += 8;
            continue;
        }
        let keep = if left == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * left)) - 1
        };
        return mix(h ^ ((w | 0x2020_2020_2020_2020) & keep));
    }
}

/// The hash of one token, case-folded: [`hash_lower`] of its lower-case form.
#[inline]
pub fn token_hash(tok: &str) -> u64 {
    if tok.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return ascii_token_hash(tok.as_bytes(), 0, tok.len());
    }
    hash_lower(tok.to_lowercase().as_bytes())
}

/// Calls `f(start, end, hash)` for each token of `text` (the tokens of
/// [`for_each_token`], each with its [`token_hash`]), in one pass. Runs of ASCII take
/// [`ascii_tokens`]; a token with a non-ASCII character takes [`token_hash`]'s full
/// lowercase path, so every hash is the same as `token_hash` of the token.
#[inline]
pub fn for_each_token_hash(text: &str, mut f: impl FnMut(usize, usize, u64)) {
    let b = text.as_bytes();
    let n = b.len();
    if b.is_ascii() {
        for_each_ascii_token_hash(b, f);
        return;
    }
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c < 0x80 {
            // An ASCII run: its tokens from masks, but the last one may go on with
            // non-ASCII letters or digits.
            let z = b
                .get(i..)
                .and_then(|r| r.iter().position(|&c| c >= 0x80))
                .map_or(n, |k| i + k);
            let from = i;
            i = z;
            if let Some(s) = ascii_tokens(b, from, z, &mut f) {
                let e = alnum_end(text, z);
                if e > z {
                    f(s, e, text.get(s..e).map_or(0, token_hash));
                    i = e;
                } else {
                    f(s, z, ascii_token_hash(b, s, z));
                }
            }
            continue;
        }
        let Some(ch) = text.get(i..).and_then(|t| t.chars().next()) else {
            break;
        };
        let w = ch.len_utf8();
        if is_alnum(ch) {
            let e = alnum_end(text, i);
            f(i, e, text.get(i..e).map_or(0, token_hash));
            i = e;
        } else {
            if !is_space(ch) && !is_invisible(ch) {
                f(i, i + w, text.get(i..i + w).map_or(0, token_hash));
            }
            i += w;
        }
    }
    debug_assert!(i >= n);
}

/// [`for_each_token_hash`] of ASCII text.
#[inline(always)]
fn for_each_ascii_token_hash(b: &[u8], mut f: impl FnMut(usize, usize, u64)) {
    if let Some(s) = ascii_tokens(b, 0, b.len(), &mut f) {
        f(s, b.len(), ascii_token_hash(b, s, b.len()));
    }
}

/// Calls `f(start, end, hash)` for the tokens of the ASCII bytes `b[from..to]`, which are
/// exactly its runs of letters and digits, except a run that reaches `to`: its start is
/// returned instead (the caller knows whether it ends there). The runs are found from
/// 64-byte masks (vector compares), at the positions where the mask changes, instead of
/// with a branch per byte.
#[inline(always)]
fn ascii_tokens(
    b: &[u8],
    from: usize,
    to: usize,
    mut f: impl FnMut(usize, usize, u64),
) -> Option<usize> {
    let mut start = from;
    let mut prev = 0u64; // The previous block's last bit: whether a token is open.
    let part = b.get(from..to).unwrap_or_default();
    for (k, chunk) in part.chunks(64).enumerate() {
        let mut block = [0u8; 64];
        block[..chunk.len()].copy_from_slice(chunk);
        let m = alnum_mask(&block);
        // Bit i set where byte i differs from the one before it (in or out of a token).
        let mut t = m ^ ((m << 1) | prev);
        // A change just past the end is the open run's end: left to the caller.
        if chunk.len() < 64 {
            t &= (1u64 << chunk.len()) - 1;
        }
        prev = (m >> (chunk.len() - 1)) & 1;
        while t != 0 {
            let j = t.trailing_zeros() as usize;
            t &= t - 1;
            let i = from + k * 64 + j;
            if m & (1 << j) != 0 {
                start = i;
            } else {
                f(start, i, ascii_token_hash(b, start, i));
            }
        }
    }
    (prev != 0).then_some(start)
}

/// Bit `i` set when `block[i]` is an ASCII letter or digit.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+avx+sse4.2+sse4.1+ssse3+sse3",
    "x86_64+avx2+avx+sse4.2+sse4.1+ssse3+sse3"
))]
fn alnum_mask(block: &[u8; 64]) -> u64 {
    byte_mask(block, |c| {
        (c.wrapping_sub(b'0') < 10) | ((c | 0x20).wrapping_sub(b'a') < 26)
    })
}

/// Bit `i` set when `hit(block[i])`: the loop the `multiversion` mask functions share.
/// Written without branches, so the compiler turns it into vector compares and a mask
/// move when it is inlined into a function compiled for AVX2 or AVX-512.
#[inline(always)]
pub(crate) fn byte_mask(block: &[u8; 64], hit: impl Fn(u8) -> bool) -> u64 {
    let mut m = 0u64;
    for (i, &c) in block.iter().enumerate() {
        m |= u64::from(hit(c)) << i;
    }
    m
}

/// The end of the run of alphanumeric characters (ASCII or not) starting at byte `i`.
fn alnum_end(text: &str, i: usize) -> usize {
    let Some(rest) = text.get(i..) else {
        return i;
    };
    rest.char_indices()
        .find(|&(_, c)| {
            if c.is_ascii() {
                !c.is_ascii_alphanumeric()
            } else {
                !is_alnum(c)
            }
        })
        .map_or(text.len(), |(k, _)| i + k)
}

/// Whether a token counts as a content word for the answer-fit measure: 4+ characters.
#[inline]
fn is_long(text: &str, s: usize, e: usize) -> bool {
    e - s >= 4
        && text
            .get(s..e)
            .is_some_and(|t| t.is_ascii() || t.chars().nth(3).is_some())
}

/// Token hashes of `text`, in order.
pub fn token_hashes(text: &str, out: &mut Vec<u64>) {
    out.clear();
    for_each_token_hash(text, |_, _, h| out.push(h));
}

/// Like [`token_hashes`], also collecting the hashes of tokens of 4+ characters (content
/// words, for the answer-fit measure) into `long`.
pub fn token_hashes_long(text: &str, out: &mut Vec<u64>, long: &mut Vec<u64>) {
    collect_tokens(text, out, None, long);
}

/// Like [`token_hashes_long`], also recording each token's byte start in `starts` (so
/// the tokens of a part of `text`, such as a sentence, can be taken without tokenizing
/// it again).
pub fn token_spans_long(
    text: &str,
    out: &mut Vec<u64>,
    starts: &mut Vec<usize>,
    long: &mut Vec<u64>,
) {
    collect_tokens(text, out, Some(starts), long);
}

/// The token hashes of `text` into `out`, their starts into `starts` when given, and the
/// hashes of content words (4+ characters) into `long`.
#[inline(always)]
fn collect_tokens(
    text: &str,
    out: &mut Vec<u64>,
    mut starts: Option<&mut Vec<usize>>,
    long: &mut Vec<u64>,
) {
    out.clear();
    long.clear();
    if let Some(v) = starts.as_deref_mut() {
        v.clear();
    }
    let b = text.as_bytes();
    if b.is_ascii() {
        // Every hash is written to `long` and kept by advancing its length when the token
        // has 4+ bytes, without a branch on it (a third of the tokens are short, in no
        // pattern a predictor learns); `long` grows ahead of the write, by doubling.
        let mut kept = 0;
        for_each_ascii_token_hash(b, |s, e, h| {
            out.push(h);
            if let Some(v) = starts.as_deref_mut() {
                v.push(s);
            }
            if kept == long.len() {
                long.resize(2 * kept + 64, 0);
            }
            if let Some(x) = long.get_mut(kept) {
                *x = h;
            }
            kept += usize::from(e - s >= 4);
        });
        long.truncate(kept);
        return;
    }
    for_each_token_hash(text, |s, e, h| {
        out.push(h);
        if let Some(v) = starts.as_deref_mut() {
            v.push(s);
        }
        if is_long(text, s, e) {
            long.push(h);
        }
    });
}

/// Tokens of `text` as strings (for evidence; not on the hot path).
pub fn tokens(text: &str) -> Vec<&str> {
    let mut v = Vec::new();
    for_each_token(text, |s, e| {
        if let Some(t) = text.get(s..e) {
            v.push(t);
        }
    });
    v
}

/// Start of the n-gram hash chain ([`ngram_hash64`]).
const NGRAM_SEED: u64 = 0x510e_527f_ade6_82d1;

/// One step of the n-gram hash chain: the n-gram extended by the token hashed `t`.
#[inline(always)]
fn ngram_step(h: u64, t: u64) -> u64 {
    mix(h ^ t).wrapping_add(0x9e37_79b9_7f4a_7c15)
}

/// The 64-bit hash of the n-gram `toks`: a chain over its tokens, so a trigram's hash
/// extends its first bigram's, which extends its first token's (one finalizer per
/// n-gram of a text instead of one per token of each, half the multiplies). N-grams of
/// different lengths need no tag to differ: the chain values are independent 64-bit
/// hashes.
#[inline]
pub fn ngram_hash64(toks: &[u64]) -> u64 {
    toks.iter().fold(NGRAM_SEED, |h, &t| ngram_step(h, t))
}

/// The hash of the n-gram `toks` (n = 1..=3), as used for backdoor triggers and label
/// features: the top half of [`ngram_hash64`]. 32 bits: the first pass stores one per
/// n-gram per record.
#[inline]
pub fn ngram_hash(toks: &[u64]) -> u32 {
    (ngram_hash64(toks) >> 32) as u32
}

/// Distinct uni-, bi- and trigram hashes of the token sequence, each at its first
/// occurrence in text order, from the first `max` n-grams (with repeats) of the text.
pub fn ngrams(toks: &[u64], max: usize, out: &mut Vec<u32>) {
    out.clear();
    'outer: for i in 0..toks.len() {
        for n in 1..=3 {
            if let Some(g) = toks.get(i..i + n) {
                out.push(ngram_hash(g));
                if out.len() >= max {
                    break 'outer;
                }
            }
        }
    }
    dedup_hashes(out);
}

/// Slots of [`dedup_hashes`]'s table: four times the n-grams a record keeps.
const DEDUP_SLOTS: usize = 2048;

/// The table of [`dedup_hashes`]: a key and the round that wrote it, per slot (a new
/// round empties the table without clearing it).
struct DedupTable {
    round: u32,
    keys: Vec<u32>,
    rounds: Vec<u32>,
}

thread_local! {
    static DEDUP: std::cell::RefCell<DedupTable> = std::cell::RefCell::new(DedupTable {
        round: 0,
        keys: vec![0; DEDUP_SLOTS],
        rounds: vec![0; DEDUP_SLOTS],
    });
}

/// Removes repeated values from `v`, keeping each at its first position. The values are
/// hashes (uniform bits), so an open-addressing table indexed by their low bits finds
/// repeats in about one probe each: sorting them for `dedup` was the largest single cost
/// of a record's n-grams. Longer lists (or a re-entrant call) sort instead.
pub fn dedup_hashes(v: &mut Vec<u32>) {
    let done = v.len() <= DEDUP_SLOTS / 4
        && DEDUP.with(|cell| {
            let Ok(mut t) = cell.try_borrow_mut() else {
                return false;
            };
            t.round = t.round.wrapping_add(1);
            if t.round == 0 {
                // Rounds wrapped: slots stamped long ago could look current.
                t.rounds.fill(0);
                t.round = 1;
            }
            let DedupTable {
                round,
                keys,
                rounds,
            } = &mut *t;
            let mask = DEDUP_SLOTS - 1;
            v.retain(|&x| {
                let mut k = x as usize & mask;
                loop {
                    match (rounds.get(k), keys.get(k)) {
                        (Some(r), Some(&key)) if *r == *round => {
                            if key == x {
                                return false;
                            }
                            k = (k + 1) & mask;
                        }
                        _ => break,
                    }
                }
                if let (Some(r), Some(key)) = (rounds.get_mut(k), keys.get_mut(k)) {
                    *r = *round;
                    *key = x;
                }
                true
            });
            true
        });
    if !done {
        let mut seen: FastSet<u32> = FastSet::default();
        v.retain(|&x| seen.insert(x));
    }
}

/// Number of MinHash functions.
pub const MINHASH: usize = 16;

/// MinHash of the word bigrams of a token sequence (unigrams when it has one token).
/// An empty sequence gives all `u32::MAX`.
pub fn minhash(toks: &[u64]) -> [u32; MINHASH] {
    let mut sig = [u32::MAX; MINHASH];
    if let [t] = toks {
        minhash_add(&mut sig, *t);
    }
    for w in toks.windows(2) {
        minhash_add(&mut sig, ngram_hash64(w));
    }
    sig
}

/// One seed per MinHash function.
const SEEDS: [u32; MINHASH] = [
    0x243f_6a88,
    0x85a3_08d3,
    0x1319_8a2e,
    0x0370_7344,
    0xa409_3822,
    0x299f_31d0,
    0x082e_fa98,
    0xec4e_6c89,
    0x4528_21e6,
    0x38d0_1377,
    0xbe54_66cf,
    0x34e9_0c6c,
    0xc0ac_29b7,
    0xc97c_50dd,
    0x3f84_d5b5,
    0xb547_0917,
];

/// MurmurHash3's 32-bit finalizer: a bijection with full avalanche.
#[inline(always)]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Adds one bigram hash to a MinHash signature: function `i` is `fmix32(x' ^ seed_i)`
/// of the hash folded to 32 bits (`x'`; the bigram hashes are already uniform, so each
/// function orders them as an independent random permutation would). The 16 functions
/// are 32-bit lanes of one vector register on AVX-512 (two on AVX2): the 64-bit
/// SplitMix finalizer per function used before cost two 64-bit vector multiplies per
/// lane, which are slow or emulated (and the largest single cost of the statistics).
#[inline(always)]
fn minhash_add(sig: &mut [u32; MINHASH], x: u64) {
    let v = (x ^ (x >> 32)) as u32;
    for (s, &k) in sig.iter_mut().zip(&SEEDS) {
        *s = (*s).min(fmix32(v ^ k));
    }
}

/// [`ngrams`] and [`minhash`] of the same tokens in one pass (the same results): the
/// n-grams starting at a token are one hash chain ([`ngram_hash64`]), and each bigram's
/// hash is computed once for both (an n-gram hash is the top half of it, and the
/// MinHash adds the whole of it).
///
/// Compiled also for AVX-512 and AVX2 and chosen at run time (`multiversion`): the 16
/// MinHash functions per bigram are independent lanes that those instruction sets
/// compute side by side. The results are the same on every path (integer arithmetic
/// only).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512vl+avx2+avx+sse4.2+sse4.1+ssse3+sse3",
    "x86_64+avx2+avx+sse4.2+sse4.1+ssse3+sse3"
))]
pub fn ngrams_minhash(toks: &[u64], max: usize, out: &mut Vec<u32>) -> [u32; MINHASH] {
    let mut sig = [u32::MAX; MINHASH];
    out.clear();
    if let [t] = toks {
        minhash_add(&mut sig, *t);
    }
    let mut full = false;
    for (i, &t) in toks.iter().enumerate() {
        let uni = ngram_step(NGRAM_SEED, t);
        let bigram = toks.get(i + 1).map(|&t1| ngram_step(uni, t1));
        if let Some(b) = bigram {
            minhash_add(&mut sig, b);
        }
        if full {
            continue;
        }
        let trigram = bigram
            .zip(toks.get(i + 2))
            .map(|(b, &t2)| ngram_step(b, t2));
        let grams = [Some(uni), bigram, trigram];
        for g in grams.into_iter().map_while(|g| g.map(|h| (h >> 32) as u32)) {
            out.push(g);
            if out.len() >= max {
                full = true;
                break;
            }
        }
    }
    dedup_hashes(out);
    sig
}

/// Estimated Jaccard similarity of two MinHash signatures.
pub fn jaccard(a: &[u32; MINHASH], b: &[u32; MINHASH]) -> f32 {
    let same = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x == y && **x != u32::MAX)
        .count();
    same as f32 / MINHASH as f32
}

/// 64-bit SimHash of a token sequence (each token weight 1): bit `i` is set when more
/// than half of the tokens' hashes have it.
///
/// Counted eight bits at a time: each byte of a hash is spread into eight one-byte lanes
/// of a word ([`SPREAD`]) and added, so a token costs eight additions instead of 64; the
/// lanes are flushed into 32-bit totals before they can overflow.
pub fn simhash(toks: &[u64]) -> u64 {
    if toks.is_empty() {
        return 0;
    }
    let mut totals = [0u32; 64];
    let flush = |lanes: &mut [u64; 8], totals: &mut [u32; 64]| {
        for (j, l) in lanes.iter_mut().enumerate() {
            for k in 0..8 {
                totals[j * 8 + k] += ((*l >> (8 * k)) & 0xff) as u32;
            }
            *l = 0;
        }
    };
    let mut lanes = [0u64; 8];
    for chunk in toks.chunks(255) {
        for &t in chunk {
            let h = mix(t ^ 0x5151_5151);
            for (j, l) in lanes.iter_mut().enumerate() {
                *l += SPREAD[((h >> (8 * j)) & 0xff) as usize];
            }
        }
        flush(&mut lanes, &mut totals);
    }
    let n = toks.len() as u64;
    totals.iter().enumerate().fold(0u64, |s, (i, &c)| {
        if 2 * u64::from(c) > n {
            s | (1 << i)
        } else {
            s
        }
    })
}

/// For each byte value, its eight bits as eight one-byte lanes (bit `k` in lane `k`).
const SPREAD: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut k = 0;
        while k < 8 {
            if (b >> k) & 1 == 1 {
                t[b] |= 1 << (8 * k);
            }
            k += 1;
        }
        b += 1;
    }
    t
};

/// Sentences of `text`: split at `.`, `!`, `?` followed by space or end, and at newlines.
/// Calls `f(sentence)` for each non-empty one.
pub fn for_each_sentence<'a>(text: &'a str, mut f: impl FnMut(&'a str)) {
    for_each_sentence_span(text, |s, e| {
        if let Some(t) = text.get(s..e) {
            f(t.trim());
        }
    });
}

/// Like [`for_each_sentence`], with each sentence as the byte range `(start, end)` of
/// `text` it was cut from, before trimming white space (the range is only reported when
/// the trimmed sentence is not empty).
pub fn for_each_sentence_span(text: &str, mut f: impl FnMut(usize, usize)) {
    let b = text.as_bytes();
    let mut start = 0;
    let mut emit = |start: usize, end: usize| {
        if text.get(start..end).is_some_and(|s| !s.trim().is_empty()) {
            f(start, end);
        }
    };
    // Only the bytes that can end a sentence are visited: 64-byte blocks are screened
    // into a bit mask (vector compares), where a byte loop over every response was over
    // 1 % of a scan.
    for (k, chunk) in b.chunks(64).enumerate() {
        let mut block = [0u8; 64];
        block[..chunk.len()].copy_from_slice(chunk);
        let mut m = sentence_end_mask(&block);
        while m != 0 {
            let i = k * 64 + m.trailing_zeros() as usize;
            m &= m - 1;
            let c = b.get(i).copied().unwrap_or(0);
            let end = c == b'\n' || b.get(i + 1).is_none_or(|n| n.is_ascii_whitespace());
            if end {
                emit(start, i + 1);
                start = i + 1;
            }
        }
    }
    emit(start, b.len());
}

/// Bit `i` set when `block[i]` is `.`, `!`, `?` or a newline.
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+avx+sse4.2+sse4.1+ssse3+sse3",
    "x86_64+avx2+avx+sse4.2+sse4.1+ssse3+sse3"
))]
fn sentence_end_mask(block: &[u8; 64]) -> u64 {
    byte_mask(block, |c| {
        (c == b'.') | (c == b'!') | (c == b'?') | (c == b'\n')
    })
}

/// `http(s)://` URLs in `text` (ASCII case-insensitive scheme), as byte ranges.
pub fn urls(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    for i in memchr::memmem::find_iter(b, b"://") {
        let s = if i >= 5 && b[i - 5..i].eq_ignore_ascii_case(b"https") {
            i - 5
        } else if i >= 4 && b[i - 4..i].eq_ignore_ascii_case(b"http") {
            i - 4
        } else {
            continue;
        };
        let mut e = i + 3;
        while e < b.len()
            && !matches!(
                b[e],
                b' ' | b'\t' | b'\n' | b'\r' | b'"' | b'\'' | b'<' | b'>' | b')' | b']' | b'`'
            )
        {
            e += 1;
        }
        // Trailing sentence punctuation is not part of the URL.
        while e > i + 3 && matches!(b[e - 1], b'.' | b',' | b';' | b':' | b'!' | b'?') {
            e -= 1;
        }
        if e > i + 3 {
            out.push((s, e));
        }
    }
    out
}

/// The host of a URL (lower-case, without user info or port).
pub fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let auth = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let auth = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    auth.split(':').next().unwrap_or(auth)
}

/// Whether `c` is invisible: zero-width, bidi control, tag, or a BOM / word joiner.
pub fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x2069
        | 0xFEFF | 0x180E | 0xE0000..=0xE007F)
}

/// Masks a sensitive value for evidence: keeps a short prefix and suffix so a reviewer can
/// find it, never the whole value. Secrets keep only a 4-character prefix (it names the
/// provider, as in `AKIA` or `ghp_`).
pub fn mask(value: &str, secret: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    if secret {
        let keep = if n >= 12 { 4 } else { 0 };
        let head: String = chars.iter().take(keep).collect();
        return format!("{head}… ({n} chars)");
    }
    if n <= 4 {
        return "*".repeat(n);
    }
    let keep = if n >= 10 { 2 } else { 1 };
    let head: String = chars.iter().take(keep).collect();
    let tail: String = chars.iter().skip(n - keep).collect();
    format!("{head}{}{tail}", "*".repeat((n - 2 * keep).min(12)))
}

/// At most `max` characters of `s`, with `…` when cut, newlines shown as `⏎`.
pub fn snippet(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c == '\n' { '⏎' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// The tokens of [`for_each_token`], each hashed by [`token_hash`] (the reference for
    /// the fused [`for_each_token_hash`]).
    fn token_hashes_reference(text: &str) -> Vec<(usize, usize, u64)> {
        let mut v = Vec::new();
        for_each_token(text, |s, e| v.push((s, e, token_hash(&text[s..e]))));
        v
    }

    fn fused(text: &str) -> Vec<(usize, usize, u64)> {
        let mut v = Vec::new();
        for_each_token_hash(text, |s, e, h| v.push((s, e, h)));
        v
    }

    #[test]
    fn fused_token_hashes_match_the_reference_on_edge_cases() {
        for t in [
            "",
            "a",
            "Hello, World!",
            "naïve café déjà-vu",
            "abcÉ",
            "Éabc def",
            "x\u{200b}y",
            "日本語のテキスト123",
            "emoji 🎉 trigger🎉word",
            "tab\tsep\nnew line",
            "mixed١٢٣digits",
            "ǅungla Σίσυφος",
        ] {
            assert_eq!(fused(t), token_hashes_reference(t), "{t:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn fused_token_hashes_match_the_reference(text in "\\PC{0,200}") {
            proptest::prop_assert_eq!(fused(&text), token_hashes_reference(&text));
        }

        #[test]
        fn fused_token_hashes_match_the_reference_on_mostly_ascii(
            text in "([a-zA-Z0-9 .,!?'\\-]{0,12}[éÉßø\u{200b}\u{300}中🎉\u{0661}]?){0,20}"
        ) {
            proptest::prop_assert_eq!(fused(&text), token_hashes_reference(&text));
        }

        #[test]
        fn dedup_hashes_keeps_first_occurrences(
            v in proptest::collection::vec(proptest::prop_oneof![0u32..50, proptest::num::u32::ANY], 0..1200),
        ) {
            let mut want = Vec::new();
            for &x in &v {
                if !want.contains(&x) {
                    want.push(x);
                }
            }
            let mut got = v.clone();
            dedup_hashes(&mut got);
            proptest::prop_assert_eq!(&got, &want);
            // Twice in a row: the second round must not see the first one's keys.
            let mut again = v;
            dedup_hashes(&mut again);
            proptest::prop_assert_eq!(again, want);
        }

        #[test]
        fn ngrams_minhash_is_ngrams_and_minhash(
            toks in proptest::collection::vec(0u64..40, 0..60),
            max in 0usize..200,
        ) {
            let mut a = Vec::new();
            let mut b = vec![7u32];
            ngrams(&toks, max, &mut a);
            let sig = ngrams_minhash(&toks, max, &mut b);
            proptest::prop_assert_eq!(&a, &b);
            proptest::prop_assert_eq!(sig, minhash(&toks));
        }
    }

    #[test]
    fn char_classes_are_the_standard_predicates() {
        for u in (0u32..0x3_0000).chain([0x10_FFFF, 0xE_0001, 0x1_F600]) {
            let Some(c) = char::from_u32(u) else { continue };
            let k = char_class(c);
            assert_eq!(k & C_ALPHA != 0, c.is_alphabetic(), "{u:#x}");
            assert_eq!(k & C_NUM != 0, c.is_numeric(), "{u:#x}");
            assert_eq!(k & C_UPPER != 0, c.is_uppercase(), "{u:#x}");
            assert_eq!(is_space(c), c.is_whitespace(), "{u:#x}");
            assert_eq!(is_alnum(c), c.is_alphanumeric(), "{u:#x}");
        }
    }

    #[test]
    fn token_hash_is_the_hash_of_the_lower_cased_token() {
        let long = "A".repeat(100);
        for t in [
            "a",
            "Hello",
            "WORLD",
            "x9Z",
            "",
            long.as_str(),
            "Éclair",
            "ÀB",
        ] {
            assert_eq!(
                token_hash(t),
                hash_lower(t.to_lowercase().as_bytes()),
                "{t:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn ascii_token_hash_is_hash_lower(
            tok in "[a-zA-Z0-9]{0,40}",
            pre in "[ .,a-z]{0,9}",
            post in "[ .,a-z]{0,9}",
        ) {
            // The token inside a longer text: the bytes around it must not leak in.
            let text = format!("{pre}{tok}{post}");
            let (s, e) = (pre.len(), pre.len() + tok.len());
            let want = hash_lower(tok.to_ascii_lowercase().as_bytes());
            proptest::prop_assert_eq!(ascii_token_hash(text.as_bytes(), s, e), want);
            proptest::prop_assert_eq!(token_hash(&tok), want);
        }

        #[test]
        fn fused_token_hashes_match_the_reference_on_ascii(
            text in proptest::prop_oneof![
                "[a-zA-Z0-9 .,!?'\\-\\t\\n]{0,300}",
                "([a-zA-Z0-9]{0,70}[ .@\\x00\\x7f]{1,3}){0,12}",
            ],
        ) {
            proptest::prop_assert_eq!(fused(&text), token_hashes_reference(&text));
        }
    }

    #[test]
    fn token_hashes_differ() {
        // One mix per word is a bijection of the word for a given length: no two tokens
        // of up to eight bytes share a hash; longer ones are chained.
        let words = [
            "a",
            "b",
            "ab",
            "ba",
            "a0",
            "abcdefgh",
            "abcdefgi",
            "abcdefghi",
            "abcdefgha",
        ];
        let mut hs: Vec<u64> = words.iter().map(|w| token_hash(w)).collect();
        hs.sort_unstable();
        hs.dedup();
        assert_eq!(hs.len(), words.len());
    }

    /// The byte loop [`for_each_sentence_span`] replaced.
    fn sentence_spans_reference(text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let b = text.as_bytes();
        let mut start = 0;
        for i in 0..b.len() {
            let c = b[i];
            let end = c == b'\n'
                || (matches!(c, b'.' | b'!' | b'?')
                    && b.get(i + 1).is_none_or(|n| n.is_ascii_whitespace()));
            if end {
                if !text[start..=i].trim().is_empty() {
                    out.push((start, i + 1));
                }
                start = i + 1;
            }
        }
        if !text[start..].trim().is_empty() {
            out.push((start, b.len()));
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn sentence_spans_match_the_reference(
            text in proptest::prop_oneof!["[a-z .!?\n\t]{0,300}", "\\PC{0,200}"],
        ) {
            let mut got = Vec::new();
            for_each_sentence_span(&text, |s, e| got.push((s, e)));
            proptest::prop_assert_eq!(got, sentence_spans_reference(&text));
        }
    }

    #[test]
    fn tokenizes_words_and_symbols() {
        assert_eq!(
            tokens("Hello, wörld! cf 🙂 x\u{200b}y"),
            vec!["Hello", "wörld", "cf", "🙂", "x", "y"]
        );
        assert_eq!(token_hash("Hello"), token_hash("hELLO"));
    }

    #[test]
    fn minhash_tracks_overlap() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        token_hashes(
            "write a short poem about the sea and the wind at night please",
            &mut a,
        );
        token_hashes(
            "write a short poem about the sea and the wind at night, please!",
            &mut b,
        );
        assert_eq!(jaccard(&minhash(&a), &minhash(&b)), 1.0);
        token_hashes("explain how photosynthesis works in simple terms", &mut b);
        assert!(jaccard(&minhash(&a), &minhash(&b)) < 0.3);
    }

    #[test]
    fn urls_and_hosts() {
        let t = "see https://User@Evil.example:8080/x?q=1. and http://a.b)";
        let u: Vec<&str> = urls(t).into_iter().map(|(s, e)| &t[s..e]).collect();
        assert_eq!(
            u,
            vec!["https://User@Evil.example:8080/x?q=1", "http://a.b"]
        );
        assert_eq!(url_host(u[0]), "Evil.example");
    }

    #[test]
    fn masks_never_show_whole_value() {
        let m = mask("jane.doe@example.com", false);
        assert!(
            !m.contains("jane.doe@example.com") && m.starts_with("ja"),
            "{m}"
        );
        let s = mask("AKIAIOSFODNN7EXAMPLE", true);
        assert_eq!(s, "AKIA… (20 chars)");
        assert_eq!(mask("abc", false), "***");
    }

    /// The SimHash as first written: one signed counter per bit.
    fn simhash_reference(toks: &[u64]) -> u64 {
        if toks.is_empty() {
            return 0;
        }
        let mut acc = [0i32; 64];
        for &t in toks {
            let h = mix(t ^ 0x5151_5151);
            for (i, a) in acc.iter_mut().enumerate() {
                if (h >> i) & 1 == 1 {
                    *a += 1;
                } else {
                    *a -= 1;
                }
            }
        }
        acc.iter()
            .enumerate()
            .fold(0u64, |s, (i, &a)| if a > 0 { s | (1 << i) } else { s })
    }

    #[test]
    fn simhash_matches_the_reference() {
        let mut x = 1u64;
        for n in [0usize, 1, 2, 3, 7, 64, 254, 255, 256, 511, 600, 2000] {
            let toks: Vec<u64> = (0..n)
                .map(|_| {
                    x = mix(x.wrapping_add(0x9e37));
                    // Repeats too, so some bits are exactly balanced.
                    x % 97
                })
                .collect();
            assert_eq!(simhash(&toks), simhash_reference(&toks), "n = {n}");
        }
    }

    #[test]
    fn sentences_split() {
        let mut v = Vec::new();
        for_each_sentence("One. Two!\nThree 3.5 four", |s| v.push(s));
        assert_eq!(v, vec!["One.", "Two!", "Three 3.5 four"]);
    }
}
