//! The model file: format, validation and (de)serialization.
//!
//! Layout (little endian), all validated at load; nothing here panics on bad input:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `PCGINJ\0\x01` |
//! | 4 | format version (3) |
//! | 4 | feature config: bits, ngram_min, ngram_max, words |
//! | 8 | fingerprint of the rule ids the model was trained with |
//! | 32 | SHA-256 of the training recipe (data hashes + hyperparameters) |
//! | 40 | f32 × 10: thresholds[2], calibration (a, b)[2], scale[2], bias[2] |
//! | 16 | f32 × 4: document head calibration (a, b), scale, bias |
//! | 2·2^bits | i8 weights, interleaved per bucket: [injection, jailbreak] |
//! | 2^bits | i8 weights of the document head (inserted instructions in long texts) |
//! | 4 | deep part: dim `D` (u8, 0 = none), hidden `H` (u8), rule count `R` (u16) |
//! | 4 | f32 embedding scale (only when `D > 0`, as is everything below) |
//! | D·2^bits | i8 embedding table, `D` per bucket |
//! | 4·H·(D+R+1) | f32 first layer: `W1` (H×D), `U` (H×R, one column per rule), `b1` (H) |
//! | 4·(2H+2) | f32 output layer: `W2` (2×H), `b2` (2) |
//! | 4 + 4·C | version 4 only: combiner size `C` (u32), then `C` f32 (see [`DocHead::comb`]) |
//! | 8 | FNV-1a 64 of everything before |
//!
//! A model without a combiner is written as version 3 (no combiner field), so the
//! files of recipes that do not use one are unchanged.

use super::features::{FeatureConfig, Fnv};
use crate::GuardError;

const MAGIC: &[u8; 8] = b"PCGINJ\0\x01";
const VERSION: u32 = 3;
/// Version with the combiner section.
const VERSION_COMB: u32 = 4;
/// Combiner size: a bias plus one weight per input of `super::comb_features`.
pub const COMB_LEN: usize = 1 + super::COMB_INPUTS;
/// Largest embedding dimension (a bucket's row is 2 linear + `D` embedding bytes ≤ 16).
pub const MAX_DIM: usize = 14;
/// Largest hidden layer.
pub const MAX_HIDDEN: usize = 128;
const HEADER: usize = 8 + 4 + 4 + 8 + 32 + 40 + 16 + 4;

/// Trained linear model (two heads: injection, jailbreak) over hashed features.
#[derive(Clone, PartialEq)]
pub struct Model {
    /// Feature settings.
    pub cfg: FeatureConfig,
    /// Fingerprint of the rule set used in training.
    pub rules_fp: u64,
    /// SHA-256 of the training recipe.
    pub recipe: [u8; 32],
    /// Default decision thresholds on calibrated scores, chosen on dev.
    pub thresholds: [f32; 2],
    /// Platt calibration per head: `p = sigmoid(a * logit + b)`.
    pub calib: [(f32, f32); 2],
    /// Dequantization scale per head.
    pub scale: [f32; 2],
    /// Bias per head.
    pub bias: [f32; 2],
    /// Quantized weights, `[injection, jailbreak]` per bucket.
    pub weights: Vec<[i8; 2]>,
    /// Document head: scores 256-byte windows of long texts for an instruction inserted
    /// into otherwise ordinary content; its calibrated score feeds the injection score.
    pub doc: DocHead,
    /// Optional non-linear part (see [`Deep`]); its logits are added to the linear ones.
    pub deep: Option<Deep>,
}

/// The non-linear (fastText-style) part: the hashed features of a text (or window) index
/// an embedding table; the embeddings are summed and scaled by `1/sqrt(count)` (like the
/// linear part), and a one-hidden-layer ReLU MLP, which also sees the rule hits, maps
/// that to one logit per head, added to the linear logit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Deep {
    /// Embedding dimension `D`.
    pub dim: usize,
    /// Hidden units `H`.
    pub hidden: usize,
    /// Dequantization scale of the embedding table.
    pub emb_scale: f32,
    /// Quantized embeddings, `D` per bucket.
    pub emb: Vec<i8>,
    /// First layer on the embedding, row-major `H × D`.
    pub w1: Vec<f32>,
    /// First layer on the rule hits, row-major `H × R` (R = number of rules).
    pub u: Vec<f32>,
    /// First-layer bias (`H`).
    pub b1: Vec<f32>,
    /// Output layer, row-major `2 × H`.
    pub w2: Vec<f32>,
    /// Output bias.
    pub b2: [f32; 2],
}

impl Deep {
    /// Number of rules the `U` matrix was trained with.
    pub fn rules(&self) -> usize {
        self.u.len().checked_div(self.hidden).unwrap_or(0)
    }
}

/// The document (inserted-instruction) head.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DocHead {
    /// Platt calibration `(a, b)`.
    pub calib: (f32, f32),
    /// Dequantization scale.
    pub scale: f32,
    /// Bias.
    pub bias: f32,
    /// Quantized weights per bucket (empty: head disabled).
    pub weights: Vec<i8>,
    /// Second-stage combiner (empty: none). When present the document table is a
    /// *segment* head (does one line or sentence read like a request addressed to the
    /// assistant?) and this logistic stage, `comb[0] + Σ comb[i+1]·x[i]` over
    /// `super::comb_features`, gives the injection logit.
    pub comb: Vec<f32>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("cfg", &self.cfg)
            .field("thresholds", &self.thresholds)
            .field("buckets", &self.weights.len())
            .finish()
    }
}

fn err(msg: impl Into<String>) -> GuardError {
    GuardError::Model(msg.into())
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], GuardError> {
        let s = self
            .b
            .get(self.at..self.at + n)
            .ok_or_else(|| err("model file truncated"))?;
        self.at += n;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, GuardError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, GuardError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    fn f32(&mut self) -> Result<f32, GuardError> {
        let v = f32::from_bits(self.u32()?);
        if v.is_finite() {
            Ok(v)
        } else {
            Err(err("model file has a non-finite parameter"))
        }
    }
}

impl Model {
    /// Parses and validates a model file. `rules_fp` is the fingerprint of the compiled
    /// rules; a model trained with different rules is refused.
    pub fn from_bytes(bytes: &[u8], rules_fp: u64) -> Result<Self, GuardError> {
        if bytes.len() < HEADER + 8 {
            return Err(err(format!("model file too short ({} bytes)", bytes.len())));
        }
        let body = &bytes[..bytes.len() - 8];
        let mut tail = [0u8; 8];
        tail.copy_from_slice(&bytes[bytes.len() - 8..]);
        let mut h = Fnv::new();
        h.write(body);
        if h.finish() != u64::from_le_bytes(tail) {
            return Err(err("model file checksum mismatch (corrupt)"));
        }
        let mut r = Reader { b: body, at: 0 };
        if r.take(8)? != MAGIC {
            return Err(err("not an injection model file (bad magic)"));
        }
        let version = r.u32()?;
        if version != VERSION && version != VERSION_COMB {
            return Err(err(format!("unsupported model version {version}")));
        }
        let c = r.take(4)?;
        let cfg = FeatureConfig {
            bits: c[0],
            ngram_min: c[1],
            ngram_max: c[2],
            words: c[3] != 0,
        };
        if !(10..=22).contains(&cfg.bits)
            || cfg.ngram_min == 0
            || cfg.ngram_min > cfg.ngram_max
            || cfg.ngram_max > 8
        {
            return Err(err("model file has an invalid feature config"));
        }
        let fp = r.u64()?;
        if fp != rules_fp {
            return Err(err(
                "model was trained with a different rule set; retrain it (portcullis guard train)",
            ));
        }
        let mut recipe = [0u8; 32];
        recipe.copy_from_slice(r.take(32)?);
        let mut f = [0f32; 14];
        for v in &mut f {
            *v = r.f32()?;
        }
        let n = 1usize << cfg.bits;
        let w = r.take(2 * n)?;
        let dw = r.take(n)?;
        let d = r.take(4)?;
        let (dim, hidden, nrules) = (
            usize::from(d[0]),
            usize::from(d[1]),
            usize::from(u16::from_le_bytes([d[2], d[3]])),
        );
        let deep = if dim == 0 {
            None
        } else {
            if dim > MAX_DIM || hidden == 0 || hidden > MAX_HIDDEN {
                return Err(err("model file has an invalid deep-part shape"));
            }
            let emb_scale = r.f32()?;
            let emb = r.take(dim * n)?.iter().map(|b| *b as i8).collect();
            let mut floats =
                |k: usize| -> Result<Vec<f32>, GuardError> { (0..k).map(|_| r.f32()).collect() };
            let w1 = floats(hidden * dim)?;
            let u = floats(hidden * nrules)?;
            let b1 = floats(hidden)?;
            let w2 = floats(2 * hidden)?;
            let b2 = floats(2)?;
            Some(Deep {
                dim,
                hidden,
                emb_scale,
                emb,
                w1,
                u,
                b1,
                w2,
                b2: [b2[0], b2[1]],
            })
        };
        let comb = if version == VERSION_COMB {
            let k = r.u32()? as usize;
            if k != COMB_LEN {
                return Err(err("model file has an invalid combiner size"));
            }
            (0..k).map(|_| r.f32()).collect::<Result<Vec<f32>, _>>()?
        } else {
            Vec::new()
        };
        if version == VERSION_COMB && dw.iter().all(|b| *b == 0) {
            return Err(err("model file has a combiner but no segment head"));
        }
        if r.at != body.len() {
            return Err(err("model file has trailing bytes"));
        }
        let weights = w
            .chunks_exact(2)
            .map(|p| [p[0] as i8, p[1] as i8])
            .collect();
        Ok(Self {
            cfg,
            rules_fp: fp,
            recipe,
            thresholds: [f[0], f[1]],
            calib: [(f[2], f[3]), (f[4], f[5])],
            scale: [f[6], f[7]],
            bias: [f[8], f[9]],
            weights,
            doc: DocHead {
                calib: (f[10], f[11]),
                scale: f[12],
                bias: f[13],
                // All zeros is how a model without a document head is written.
                weights: if dw.iter().all(|b| *b == 0) {
                    Vec::new()
                } else {
                    dw.iter().map(|b| *b as i8).collect()
                },
                comb,
            },
            deep,
        })
    }

    /// Serializes the model (the inverse of [`Model::from_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + 3 * self.weights.len() + 8);
        out.extend_from_slice(MAGIC);
        let version = if self.doc.comb.is_empty() {
            VERSION
        } else {
            VERSION_COMB
        };
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&[
            self.cfg.bits,
            self.cfg.ngram_min,
            self.cfg.ngram_max,
            u8::from(self.cfg.words),
        ]);
        out.extend_from_slice(&self.rules_fp.to_le_bytes());
        out.extend_from_slice(&self.recipe);
        for v in [
            self.thresholds[0],
            self.thresholds[1],
            self.calib[0].0,
            self.calib[0].1,
            self.calib[1].0,
            self.calib[1].1,
            self.scale[0],
            self.scale[1],
            self.bias[0],
            self.bias[1],
            self.doc.calib.0,
            self.doc.calib.1,
            self.doc.scale,
            self.doc.bias,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for w in &self.weights {
            out.push(w[0] as u8);
            out.push(w[1] as u8);
        }
        // A missing document head is written as zeros (it then never fires).
        for k in 0..self.weights.len() {
            out.push(self.doc.weights.get(k).copied().unwrap_or(0) as u8);
        }
        match &self.deep {
            None => out.extend_from_slice(&[0; 4]),
            Some(d) => {
                out.push(d.dim as u8);
                out.push(d.hidden as u8);
                out.extend_from_slice(&(d.rules() as u16).to_le_bytes());
                out.extend_from_slice(&d.emb_scale.to_le_bytes());
                out.extend(d.emb.iter().map(|b| *b as u8));
                for v in
                    d.w1.iter()
                        .chain(&d.u)
                        .chain(&d.b1)
                        .chain(&d.w2)
                        .chain(&d.b2)
                {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        if !self.doc.comb.is_empty() {
            out.extend_from_slice(&(self.doc.comb.len() as u32).to_le_bytes());
            for v in &self.doc.comb {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        let mut h = Fnv::new();
        h.write(&out);
        out.extend_from_slice(&h.finish().to_le_bytes());
        out
    }
}
