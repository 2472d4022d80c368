//! The two-pass scanner.
//!
//! Pass 1 streams the file: the reading thread cuts it into batches of records, worker
//! threads parse each record and run the per-record detectors ([`crate::detect`]), and the
//! reading thread keeps the findings and the compact [`Stats`] in file order. A bounded
//! channel keeps at most a few batches in flight, so memory is the statistics plus a
//! constant. The corpus detectors ([`crate::corpus`], [`crate::labels`]) then run on the
//! statistics. Pass 2 re-reads the file only if a backdoor finding needs its trigger
//! phrase rendered as evidence, and [`Scanner::write_clean`] re-reads it for the clean
//! output.

use crate::corpus::{self, CorpusConfig, CorpusFinding, Evidence};
use crate::detect::{RecFinding, RecordDetectors, Stats};
use crate::format::{parse_json, CsvHeader, Format, Record};
use crate::labels::{self, LabelConfig};
use crate::reader::{RawLine, RecordReader, DEFAULT_MAX_LINE};
use crate::report::{Finding, FindingType, LineError, Report, Summary};
use crate::{text, DatasetError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::{mpsc, Mutex};

/// Settings of a scan (recorded in the manifest).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScanConfig {
    /// The format, or `None` to detect it.
    pub format: Option<Format>,
    /// Findings below this score are not reported.
    pub threshold: f32,
    /// Longest record accepted, in bytes.
    pub max_line: usize,
    /// Worker threads (0: one per core).
    #[serde(skip)]
    pub threads: usize,
    /// Report person names as PII.
    pub person_names: bool,
    /// Corpus detector settings.
    pub corpus: CorpusConfig,
    /// Label model settings.
    pub labels: LabelConfig,
    /// Finding types to report (empty: all).
    pub only: Vec<FindingType>,
}

impl Default for ScanConfig {
    fn default() -> Self {
        Self {
            format: None,
            threshold: 0.5,
            max_line: DEFAULT_MAX_LINE,
            threads: 0,
            person_names: false,
            corpus: CorpusConfig::default(),
            labels: LabelConfig::default(),
            only: Vec::new(),
        }
    }
}

/// What a scan returns besides the report: facts the clean writer and manifest need.
#[derive(Debug, Clone)]
pub struct ScanOutput {
    /// The report.
    pub report: Report,
    /// The format used.
    pub format: Format,
    /// Seconds the scan took.
    pub seconds: f64,
    /// Seconds of each phase: the streaming pass over the records, the corpus detectors,
    /// and the second pass that renders trigger evidence (shown in the summary, so an
    /// operator sees where a slow scan spends its time).
    pub phases: Phases,
    /// Bytes read.
    pub bytes: u64,
}

/// Wall-clock seconds of the phases of a scan (see [`ScanOutput::phases`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Phases {
    /// Pass 1: reading, parsing and the per-record detectors.
    pub records: f64,
    /// The corpus detectors and the report.
    pub corpus: f64,
    /// Pass 2: trigger evidence.
    pub evidence: f64,
}

/// The scanner: detectors built once.
#[derive(Debug)]
pub struct Scanner {
    cfg: ScanConfig,
    detectors: RecordDetectors,
}

/// Records per batch handed to a worker.
const BATCH: usize = 1024;

/// A worker's result for one record.
enum Out {
    Ok {
        line: u64,
        findings: Vec<RecFinding>,
        stats: Box<Stats>,
    },
    Err(LineError),
}

impl Scanner {
    /// Builds the detectors.
    pub fn new(cfg: ScanConfig) -> Result<Self, DatasetError> {
        if !(0.0..=1.0).contains(&cfg.threshold) {
            return Err(DatasetError::Config(format!(
                "threshold {} is outside 0..=1",
                cfg.threshold
            )));
        }
        let detectors = RecordDetectors::new(cfg.person_names)?;
        Ok(Self { cfg, detectors })
    }

    /// The settings.
    pub fn config(&self) -> &ScanConfig {
        &self.cfg
    }

    /// Detects the format from the first non-empty line of `path`.
    pub fn detect_format(&self, path: &Path) -> Result<Format, DatasetError> {
        if let Some(f) = self.cfg.format {
            return Ok(f);
        }
        let file = std::fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
        let mut r = RecordReader::new(BufReader::new(file), self.cfg.max_line, false);
        let mut tried = 0;
        while let Some(l) = r.next_record().map_err(|e| DatasetError::io(path, e))? {
            if let RawLine::Data { bytes, .. } = l {
                if bytes.trim_ascii().is_empty() {
                    continue;
                }
                if let Some(f) = Format::detect(&bytes) {
                    return Ok(f);
                }
                tried += 1;
                if tried >= 20 {
                    break;
                }
            }
        }
        Err(DatasetError::Format(
            "could not detect the format from the first lines; pass --format".into(),
        ))
    }

    /// Scans the file at `path`.
    pub fn scan_path(&self, path: &Path) -> Result<ScanOutput, DatasetError> {
        let started = std::time::Instant::now();
        let format = self.detect_format(path)?;
        let file = std::fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
        let reader = BufReader::with_capacity(1 << 20, file);
        let (pass1, digest, bytes) = self
            .pass1(reader, format)
            .map_err(|e| DatasetError::io(path, e))?;
        let t1 = std::time::Instant::now();
        let mut report = self.finish(pass1, format, digest)?;
        let t2 = std::time::Instant::now();
        self.render_triggers(path, format, &mut report)?;
        let t3 = std::time::Instant::now();
        Ok(ScanOutput {
            report,
            format,
            seconds: t3.duration_since(started).as_secs_f64(),
            phases: Phases {
                records: t1.duration_since(started).as_secs_f64(),
                corpus: t2.duration_since(t1).as_secs_f64(),
                evidence: t3.duration_since(t2).as_secs_f64(),
            },
            bytes,
        })
    }

    fn threads(&self) -> usize {
        if self.cfg.threads > 0 {
            self.cfg.threads
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }

    /// Pass 1 over a reader.
    fn pass1<R: BufRead>(
        &self,
        reader: R,
        format: Format,
    ) -> std::io::Result<(Pass1, [u8; 32], u64)> {
        let csv = format == Format::Csv;
        let mut rr = RecordReader::new(reader, self.cfg.max_line, csv);
        let mut p = Pass1::default();
        let mut header: Option<CsvHeader> = None;
        if csv {
            // The header is the first non-empty record.
            while let Some(l) = rr.next_record()? {
                match l {
                    RawLine::Data { bytes, line } => {
                        if bytes.trim_ascii().is_empty() {
                            continue;
                        }
                        match CsvHeader::parse(&bytes) {
                            Ok(h) => header = Some(h),
                            Err(e) => p.errors.push(LineError { line, error: e }),
                        }
                        break;
                    }
                    RawLine::TooLong { line, len } => {
                        p.errors.push(LineError {
                            line,
                            error: format!("CSV header of {len} bytes is longer than the limit"),
                        });
                        break;
                    }
                }
            }
            if header.is_none() {
                let digest = rr.lines().sha256();
                return Ok((p, digest, rr.lines().bytes_read()));
            }
        }
        let header = header.as_ref();
        let threads = self.threads();
        let max_line = self.cfg.max_line;
        let detectors = &self.detectors;
        let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Vec<RawLine>)>(threads * 2);
        let work_rx = Mutex::new(work_rx);
        let (res_tx, res_rx) = mpsc::channel::<(u64, Vec<Out>)>();
        std::thread::scope(|scope| -> std::io::Result<()> {
            for _ in 0..threads {
                let res_tx = res_tx.clone();
                let work_rx = &work_rx;
                scope.spawn(move || loop {
                    let job = match work_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((idx, batch)) = job else { return };
                    let outs = batch
                        .into_iter()
                        .filter_map(|l| process(detectors, header, format, max_line, l))
                        .collect();
                    if res_tx.send((idx, outs)).is_err() {
                        return;
                    }
                });
            }
            drop(res_tx);
            let mut pending: BTreeMap<u64, Vec<Out>> = BTreeMap::new();
            let mut next_out = 0u64;
            let mut sent = 0u64;
            let mut batch = Vec::with_capacity(BATCH);
            let mut read_err = None;
            loop {
                let rec = match rr.next_record() {
                    Ok(r) => r,
                    Err(e) => {
                        read_err = Some(e);
                        None
                    }
                };
                let end = rec.is_none();
                if let Some(r) = rec {
                    batch.push(r);
                }
                if batch.len() >= BATCH || (end && !batch.is_empty()) {
                    let b = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if work_tx.send((sent, b)).is_err() {
                        break;
                    }
                    sent += 1;
                }
                // Drain finished batches in order without blocking.
                while let Ok((i, outs)) = res_rx.try_recv() {
                    pending.insert(i, outs);
                }
                while let Some(outs) = pending.remove(&next_out) {
                    p.absorb(outs);
                    next_out += 1;
                }
                if end {
                    break;
                }
            }
            drop(work_tx);
            while next_out < sent {
                match res_rx.recv() {
                    Ok((i, outs)) => {
                        pending.insert(i, outs);
                    }
                    Err(_) => break,
                }
                while let Some(outs) = pending.remove(&next_out) {
                    p.absorb(outs);
                    next_out += 1;
                }
            }
            match read_err {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })?;
        let digest = rr.lines().sha256();
        Ok((p, digest, rr.lines().bytes_read()))
    }

    /// Runs the corpus detectors and assembles the report.
    fn finish(
        &self,
        mut p: Pass1,
        format: Format,
        digest: [u8; 32],
    ) -> Result<Report, DatasetError> {
        let cfg = &self.cfg;
        let has_labels = p.stats.iter().any(|s| s.label.is_some());
        // The corpus detectors that do not wait for the label model run beside the
        // backdoor search (the other core is otherwise idle here): near-duplicates on
        // their own thread, outliers after the backdoor search, which takes about as
        // long as the near-duplicate pass alone.
        let (assocs, mut cf, side) = std::thread::scope(|scope| {
            let side = scope.spawn(|| {
                let mut v = Vec::new();
                if !has_labels {
                    let fit = |i: usize| p.stats.get(i).map_or(1.0, |s| s.relatedness);
                    corpus::near_duplicates(&p.stats, &p.lines, &cfg.corpus, &fit, &mut v);
                }
                v
            });
            let assocs = corpus::backdoor_candidates(&p.stats, &cfg.corpus);
            let mut v = Vec::new();
            corpus::outliers(&p.stats, &cfg.corpus, &mut v);
            (assocs, v, side.join())
        });
        // A detector that could not finish fails the scan rather than under-report.
        cf.extend(
            side.map_err(|_| DatasetError::Config("a corpus detector thread failed".into()))?,
        );
        let mut label_fit: Option<Vec<f32>> = None;
        let mut confirmed: Vec<corpus::Association> =
            assocs.iter().filter(|a| !a.is_label).cloned().collect();
        if has_labels {
            // Train without the candidate trigger n-grams, so the model judges the rest of
            // the text (a planted trigger would otherwise teach it the flipped labels).
            let exclude: HashSet<u32> = assocs
                .iter()
                .filter(|a| a.is_label)
                .map(|a| a.ngram)
                .collect();
            if let Some(oof) = labels::cross_val(&p.stats, &exclude, &cfg.labels) {
                for a in assocs.iter().filter(|a| a.is_label) {
                    let label = a
                        .records
                        .first()
                        .and_then(|&i| p.stats.get(i as usize))
                        .and_then(|s| s.label.as_deref())
                        .and_then(|l| oof.class(l));
                    let Some(c) = label else { continue };
                    let disagree = a
                        .records
                        .iter()
                        .filter(|&&i| oof.row(i as usize).get(c).copied().unwrap_or(1.0) < 0.5)
                        .count();
                    if disagree * 2 >= a.records.len() {
                        confirmed.push(a.clone());
                    }
                }
                label_fit = Some(
                    (0..p.stats.len())
                        .map(|i| {
                            oof.given
                                .get(i)
                                .copied()
                                .flatten()
                                .and_then(|y| oof.row(i).get(y).copied())
                                .unwrap_or(1.0)
                        })
                        .collect(),
                );
                for issue in labels::label_issues(&oof) {
                    let given = oof.classes.get(issue.given).cloned().unwrap_or_default();
                    let sugg = oof
                        .classes
                        .get(issue.suggested)
                        .cloned()
                        .unwrap_or_default();
                    cf.push(CorpusFinding {
                        idx: issue.idx,
                        kind: FindingType::LabelError,
                        score: (0.5 + 0.5 * issue.margin.max(0.0)).min(0.99),
                        evidence: Evidence::Text(format!(
                            "label {:?} but a {}-fold cross-validated model says {:?} (p={:.2}; p[given]={:.2})",
                            text::snippet(&given, 40),
                            cfg.labels.folds,
                            text::snippet(&sugg, 40),
                            issue.self_confidence + issue.margin,
                            issue.self_confidence
                        )),
                    });
                }
            }
        }
        confirmed.sort_by(|a, b| b.significance.total_cmp(&a.significance));
        corpus::backdoor_findings(&confirmed, &mut cf);
        if has_labels {
            let fit = |i: usize| -> f32 {
                match &label_fit {
                    Some(v) => v.get(i).copied().unwrap_or(1.0),
                    None => p.stats.get(i).map_or(1.0, |s| s.relatedness),
                }
            };
            corpus::near_duplicates(&p.stats, &p.lines, &cfg.corpus, &fit, &mut cf);
        }

        // Exfiltration hosts seen in several records.
        let mut hosts: HashMap<&str, HashSet<usize>> = HashMap::new();
        for (i, f) in &p.findings {
            if let Some(h) = &f.host {
                hosts.entry(h.as_str()).or_default().insert(*i);
            }
        }
        let mut findings: Vec<Finding> = Vec::new();
        for (i, f) in &p.findings {
            let mut score = f.score;
            let mut evidence = f.evidence.clone();
            if let Some(n) = f
                .host
                .as_deref()
                .and_then(|h| hosts.get(h))
                .map(HashSet::len)
            {
                if n >= 3 {
                    score = score.max(0.95);
                    evidence.push_str(&format!(" (host seen in {n} records)"));
                }
            }
            findings.push(Finding {
                line: p.lines.get(*i).copied().unwrap_or(0),
                kind: f.kind,
                score,
                evidence,
            });
        }
        for c in cf {
            let evidence = match &c.evidence {
                Evidence::Text(s) => s.clone(),
                Evidence::Trigger {
                    ngram,
                    target,
                    support,
                    df,
                    significance,
                } => {
                    // Rendered in pass 2; the hashes are kept until then.
                    format!("{TRIGGER_PREFIX}{ngram:08x}:{target:016x}:{support}:{df}:{significance:.1}")
                }
            };
            findings.push(Finding {
                line: p.lines.get(c.idx).copied().unwrap_or(0),
                kind: c.kind,
                score: c.score,
                evidence,
            });
        }
        findings.retain(|f| {
            f.score >= cfg.threshold && (cfg.only.is_empty() || cfg.only.contains(&f.kind))
        });
        findings.sort_by(|a, b| a.line.cmp(&b.line).then(a.kind.cmp(&b.kind)));
        let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
        let mut flagged: HashSet<u64> = HashSet::new();
        for f in &findings {
            *by_type.entry(f.kind.as_str().to_string()).or_default() += 1;
            flagged.insert(f.line);
        }
        let records = p.stats.len() as u64;
        let mut errors = std::mem::take(&mut p.errors);
        errors.sort_by_key(|e| e.line);
        free_in_background(p);
        Ok(Report {
            records,
            summary: Summary {
                records,
                malformed: errors.len() as u64,
                flagged_records: flagged.len() as u64,
                findings_by_type: by_type,
                format: format.as_str().to_string(),
                threshold: cfg.threshold,
            },
            findings,
            errors,
            sha256: hex::encode(digest),
            scanner_version: crate::VERSION.to_string(),
        })
    }

    /// Pass 2 for evidence: shows each backdoor finding's trigger and target as text.
    fn render_triggers(
        &self,
        path: &Path,
        format: Format,
        report: &mut Report,
    ) -> Result<(), DatasetError> {
        let need: HashSet<u64> = report
            .findings
            .iter()
            .filter(|f| f.evidence.starts_with(TRIGGER_PREFIX))
            .map(|f| f.line)
            .collect();
        if need.is_empty() {
            return Ok(());
        }
        let mut texts: HashMap<u64, Record> = HashMap::new();
        // Only the records with a backdoor finding are parsed again.
        self.for_each_record_where(
            path,
            format,
            |line| need.contains(&line),
            |line, _, rec| {
                if let Ok(r) = rec {
                    texts.insert(line, r);
                }
            },
        )?;
        for f in &mut report.findings {
            let Some(rest) = f.evidence.strip_prefix(TRIGGER_PREFIX) else {
                continue;
            };
            let parts: Vec<&str> = rest.split(':').collect();
            let [g, t, support, df, sig] = parts.as_slice() else {
                continue;
            };
            let (Ok(g), Ok(t)) = (u32::from_str_radix(g, 16), u64::from_str_radix(t, 16)) else {
                continue;
            };
            let (trigger, target) = match texts.get(&f.line) {
                Some(r) => (
                    find_ngram(r, g).map(|s| self.detectors.mask_str(&s)),
                    find_target(r, t).map(|s| self.detectors.mask_str(&s)),
                ),
                None => (None, None),
            };
            f.evidence = format!(
                "trigger {} predicts {} ({support} of {df} records with the trigger; -log10 p = {sig})",
                trigger.map_or_else(|| "(n-gram)".to_string(), |s| format!("{:?}", text::snippet(&s, 60))),
                target.unwrap_or_else(|| "a shared target".to_string()),
            );
        }
        Ok(())
    }

    /// Calls `f(line, raw bytes, parsed record)` for every record of the file (the CSV
    /// header is passed with an error result).
    pub fn for_each_record(
        &self,
        path: &Path,
        format: Format,
        f: impl FnMut(u64, &RawLine, Result<Record, String>),
    ) -> Result<(), DatasetError> {
        self.for_each_record_where(path, format, |_| true, f)
    }

    /// Like [`Self::for_each_record`], but parses and passes on only the records whose
    /// first line `want` accepts (the CSV header is always parsed and passed on).
    fn for_each_record_where(
        &self,
        path: &Path,
        format: Format,
        want: impl Fn(u64) -> bool,
        mut f: impl FnMut(u64, &RawLine, Result<Record, String>),
    ) -> Result<(), DatasetError> {
        let file = std::fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
        let mut rr = RecordReader::new(
            BufReader::with_capacity(1 << 20, file),
            self.cfg.max_line,
            format == Format::Csv,
        );
        let mut header: Option<CsvHeader> = None;
        while let Some(raw) = rr.next_record().map_err(|e| DatasetError::io(path, e))? {
            let line = raw.line();
            let header_pending = format == Format::Csv && header.is_none();
            if !header_pending && !want(line) {
                continue;
            }
            let parsed = match &raw {
                RawLine::TooLong { len, .. } => {
                    Err(format!("record of {len} bytes is longer than the limit"))
                }
                RawLine::Data { bytes, .. } => {
                    if bytes.trim_ascii().is_empty() {
                        continue;
                    }
                    if format == Format::Csv {
                        match &header {
                            None => {
                                header = CsvHeader::parse(bytes).ok();
                                Err("CSV header".to_string())
                            }
                            Some(h) => h.parse_record(bytes),
                        }
                    } else {
                        parse_json(bytes, format)
                    }
                }
            };
            f(line, &raw, parsed);
        }
        Ok(())
    }

    /// Writes the clean file: records without findings, in their original bytes. With
    /// `redact`, records whose only findings are PII, SECRET or UNICODE_SMUGGLING are kept
    /// with the values replaced by `[REDACTED:<TYPE>]` and invisible characters removed.
    /// Returns (records written, records dropped).
    pub fn write_clean(
        &self,
        path: &Path,
        format: Format,
        report: &Report,
        out: &Path,
        redact: bool,
    ) -> Result<(u64, u64), DatasetError> {
        let mut kinds: HashMap<u64, Vec<FindingType>> = HashMap::new();
        for f in &report.findings {
            kinds.entry(f.line).or_default().push(f.kind);
        }
        let bad: HashSet<u64> = report.errors.iter().map(|e| e.line).collect();
        let file = std::fs::File::create(out).map_err(|e| DatasetError::io(out, e))?;
        let mut w = std::io::BufWriter::new(file);
        let (mut kept, mut dropped) = (0u64, 0u64);
        let mut werr: Option<std::io::Error> = None;
        let mut header_names: Option<Vec<String>> = None;
        let detector = portcullis_guard::Detector::new()?;
        self.for_each_record(path, format, |line, raw, rec| {
            let RawLine::Data { bytes, .. } = raw else {
                dropped += 1;
                return;
            };
            if format == Format::Csv && header_names.is_none() {
                header_names = CsvHeader::parse(bytes).ok().map(|h| h.names().to_vec());
                if let Err(e) = w.write_all(bytes).and_then(|_| w.write_all(b"\n")) {
                    werr.get_or_insert(e);
                }
                return;
            }
            if bad.contains(&line) {
                dropped += 1;
                return;
            }
            let out_bytes: Option<Vec<u8>> = match kinds.get(&line) {
                None => Some(bytes.clone()),
                Some(k)
                    if redact
                        && k.iter().all(|k| {
                            matches!(
                                k,
                                FindingType::Pii
                                    | FindingType::Secret
                                    | FindingType::UnicodeSmuggling
                            )
                        }) =>
                {
                    rec.ok().and_then(|_| {
                        redact_line(&detector, bytes, format, header_names.as_deref())
                    })
                }
                Some(_) => None,
            };
            match out_bytes {
                Some(b) => {
                    kept += 1;
                    if let Err(e) = w.write_all(&b).and_then(|_| w.write_all(b"\n")) {
                        werr.get_or_insert(e);
                    }
                }
                None => dropped += 1,
            }
        })?;
        if let Some(e) = werr {
            return Err(DatasetError::io(out, e));
        }
        w.flush().map_err(|e| DatasetError::io(out, e))?;
        Ok((kept, dropped))
    }
}

const TRIGGER_PREFIX: &str = "\u{1}trigger:";

/// Frees `v` on a thread of its own. The per-record statistics are tens of thousands of
/// small allocations made by the worker threads; freeing them here (mimalloc's
/// cross-thread free path) took about 9 ms at the end of a 50,000-record scan, on one
/// core while the other idled. If no thread can be started, `v` is freed here.
fn free_in_background<T: Send + 'static>(v: T) {
    let _ = std::thread::Builder::new()
        .name("scan-free".into())
        .spawn(move || drop(v));
}

/// Pass-1 accumulator (file order).
#[derive(Default)]
struct Pass1 {
    stats: Vec<Stats>,
    lines: Vec<u64>,
    findings: Vec<(usize, RecFinding)>,
    errors: Vec<LineError>,
}

impl Pass1 {
    fn absorb(&mut self, outs: Vec<Out>) {
        for o in outs {
            match o {
                Out::Ok {
                    line,
                    findings,
                    stats,
                } => {
                    let idx = self.stats.len();
                    self.stats.push(*stats);
                    self.lines.push(line);
                    self.findings.extend(findings.into_iter().map(|f| (idx, f)));
                }
                Out::Err(e) => self.errors.push(e),
            }
        }
    }
}

/// Parses and analyzes one raw record (worker side). Blank lines are skipped.
fn process(
    d: &RecordDetectors,
    header: Option<&CsvHeader>,
    format: Format,
    max_line: usize,
    raw: RawLine,
) -> Option<Out> {
    let (line, bytes) = match raw {
        RawLine::TooLong { line, len } => {
            return Some(Out::Err(LineError {
                line,
                error: format!(
                    "record of {len} bytes is longer than the limit of {max_line} bytes; skipped"
                ),
            }))
        }
        RawLine::Data { line, bytes } => (line, bytes),
    };
    if bytes.trim_ascii().is_empty() {
        return None;
    }
    let rec = match (format, header) {
        (Format::Csv, Some(h)) => h.parse_record(&bytes),
        _ => parse_json(&bytes, format),
    };
    Some(match rec {
        Err(error) => Out::Err(LineError { line, error }),
        Ok(rec) => {
            let mut findings = Vec::new();
            let stats = d.analyze(&rec, &mut findings);
            Out::Ok {
                line,
                findings,
                stats: Box::new(stats),
            }
        }
    })
}

/// The n-gram of the record's input whose hash is `g`.
fn find_ngram(r: &Record, g: u32) -> Option<String> {
    let input = r.input_text();
    let toks = text::tokens(&input);
    let hashes: Vec<u64> = toks.iter().map(|t| text::token_hash(t)).collect();
    for i in 0..hashes.len() {
        for n in 1..=3 {
            if let Some(h) = hashes.get(i..i + n) {
                if text::ngram_hash(h) == g {
                    return toks.get(i..i + n).map(|t| t.join(" "));
                }
            }
        }
    }
    None
}

/// A description of the record's target whose hash is `t`.
fn find_target(r: &Record, t: u64) -> Option<String> {
    use crate::detect::{T_HOST, T_LABEL, T_RESPONSE, T_SENTENCE, T_URL};
    if let Some(l) = &r.label {
        if text::combine(T_LABEL, &[text::hash_bytes(l.as_bytes())]) == t {
            return Some(format!("label {:?}", text::snippet(l, 40)));
        }
    }
    let resp = r.response_text();
    let mut toks = Vec::new();
    text::token_hashes(&resp, &mut toks);
    if text::combine(T_RESPONSE, &toks) == t {
        return Some(format!("the response {:?}", text::snippet(&resp, 80)));
    }
    let mut found = None;
    text::for_each_sentence(&resp, |s| {
        let mut st = Vec::new();
        text::token_hashes(s, &mut st);
        if found.is_none() && text::combine(T_SENTENCE, &st) == t {
            found = Some(format!("the response phrase {:?}", text::snippet(s, 80)));
        }
    });
    if found.is_some() {
        return found;
    }
    for (s, e) in text::urls(&resp) {
        let Some(u) = resp.get(s..e) else { continue };
        let low = u.to_ascii_lowercase();
        if text::combine(T_URL, &[text::hash_bytes(low.as_bytes())]) == t {
            return Some(format!("the URL {:?}", text::snippet(u, 80)));
        }
        if text::combine(T_HOST, &[text::hash_bytes(text::url_host(&low).as_bytes())]) == t {
            return Some(format!("links to host {:?}", text::url_host(&low)));
        }
    }
    None
}

/// Rewrites one record with PII and secrets redacted and invisible characters removed.
fn redact_line(
    detector: &portcullis_guard::Detector,
    bytes: &[u8],
    format: Format,
    header: Option<&[String]>,
) -> Option<Vec<u8>> {
    let s = std::str::from_utf8(bytes).ok()?;
    let clean = |t: &str| -> String {
        let mut findings = detector.detect(t);
        findings.retain(|f| {
            f.kind == portcullis_guard::FindingKind::Secret
                || (f.kind.is_pii() && f.kind != portcullis_guard::FindingKind::Person)
        });
        let mut out = String::with_capacity(t.len());
        let mut at = 0;
        for f in findings {
            if f.start < at || !t.is_char_boundary(f.start) || !t.is_char_boundary(f.end) {
                continue;
            }
            out.push_str(t.get(at..f.start).unwrap_or(""));
            out.push_str(&format!("[REDACTED:{}]", f.kind.as_str()));
            at = f.end;
        }
        out.push_str(t.get(at..).unwrap_or(""));
        out.chars().filter(|c| !text::is_invisible(*c)).collect()
    };
    if format == Format::Csv {
        let cols = crate::reader::split_csv(s)?;
        let _ = header;
        let row: Vec<String> = cols
            .iter()
            .map(|c| crate::reader::csv_field(&clean(c)))
            .collect();
        return Some(row.join(",").into_bytes());
    }
    let mut v: serde_json::Value = serde_json::from_str(s).ok()?;
    fn walk(v: &mut serde_json::Value, f: &dyn Fn(&str) -> String) {
        match v {
            serde_json::Value::String(s) => *s = f(s),
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, f)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| walk(x, f)),
            _ => {}
        }
    }
    walk(&mut v, &clean);
    serde_json::to_vec(&v).ok()
}
