//! Bounded line reading: the scanner's only contact with raw bytes.
//!
//! Datasets are untrusted. A single 100 MB line must not make the scanner hold 100 MB (or
//! a multiple of it once parsed), so lines longer than a limit are skipped while reading
//! (their bytes are still hashed) and reported as a per-line error. Every byte read goes
//! into the SHA-256 that the manifest records, so the digest covers exactly what was
//! scanned. CSV records may span several lines (quoted newlines); [`RecordReader`] joins
//! them, under the same limit.

use sha2::{Digest, Sha256};
use std::io::BufRead;

/// Default longest line (or CSV record) accepted, in bytes.
pub const DEFAULT_MAX_LINE: usize = 8 << 20;

/// One raw record as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawLine {
    /// The record's bytes (without the line terminator) and its first line (1-based).
    Data {
        /// First line of the record, 1-based.
        line: u64,
        /// The bytes, without the trailing `\n` / `\r\n`.
        bytes: Vec<u8>,
    },
    /// A record longer than the limit; its bytes were skipped.
    TooLong {
        /// First line of the record, 1-based.
        line: u64,
        /// Its length in bytes (as far as read).
        len: u64,
    },
}

impl RawLine {
    /// The record's first line number.
    pub fn line(&self) -> u64 {
        match self {
            RawLine::Data { line, .. } | RawLine::TooLong { line, .. } => *line,
        }
    }
}

/// Reads lines with a length limit, hashing every byte.
pub struct LineReader<R> {
    inner: R,
    line: u64,
    max: usize,
    hasher: Sha256,
    bytes: u64,
    done: bool,
}

impl<R: BufRead> LineReader<R> {
    /// A reader with the given line limit in bytes.
    pub fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            line: 0,
            max,
            hasher: Sha256::new(),
            bytes: 0,
            done: false,
        }
    }

    /// Lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// The SHA-256 of every byte read so far (call after the last line for the file's).
    pub fn sha256(&self) -> [u8; 32] {
        self.hasher.clone().finalize().into()
    }

    /// The next line, `None` at end of input. Empty lines are returned (as empty data).
    pub fn next_line(&mut self) -> std::io::Result<Option<RawLine>> {
        if self.done {
            return Ok(None);
        }
        let mut buf: Vec<u8> = Vec::new();
        let mut len: u64 = 0;
        let mut too_long = false;
        let mut any = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                self.done = true;
                break;
            }
            any = true;
            let (take, ends) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            self.hasher.update(&chunk[..take]);
            self.bytes += take as u64;
            let content = if ends { &chunk[..take - 1] } else { chunk };
            len += content.len() as u64;
            if !too_long {
                if len > self.max as u64 {
                    // Stop buffering: the rest is skipped, only counted and hashed.
                    too_long = true;
                    buf = Vec::new();
                } else {
                    buf.extend_from_slice(content);
                }
            }
            self.inner.consume(take);
            if ends {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.line += 1;
        if too_long {
            return Ok(Some(RawLine::TooLong {
                line: self.line,
                len,
            }));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some(RawLine::Data {
            line: self.line,
            bytes: buf,
        }))
    }
}

/// Reads records: one per line, or CSV records that may span lines.
pub struct RecordReader<R> {
    lines: LineReader<R>,
    csv: bool,
}

impl<R: BufRead> RecordReader<R> {
    /// Line records (JSON Lines) or CSV records, each at most `max` bytes.
    pub fn new(inner: R, max: usize, csv: bool) -> Self {
        Self {
            lines: LineReader::new(inner, max),
            csv,
        }
    }

    /// The underlying line reader (for the digest and counters).
    pub fn lines(&self) -> &LineReader<R> {
        &self.lines
    }

    /// The next record, `None` at end of input.
    pub fn next_record(&mut self) -> std::io::Result<Option<RawLine>> {
        let first = match self.lines.next_line()? {
            None => return Ok(None),
            Some(l) => l,
        };
        if !self.csv {
            return Ok(Some(first));
        }
        let (line, mut bytes) = match first {
            RawLine::TooLong { .. } => return Ok(Some(first)),
            RawLine::Data { line, bytes } => (line, bytes),
        };
        // A record continues while a quoted field is open (odd number of quotes so far).
        let mut quotes = memchr::memchr_iter(b'"', &bytes).count();
        let mut total = bytes.len() as u64;
        let mut too_long = false;
        while quotes % 2 == 1 {
            match self.lines.next_line()? {
                None => break,
                Some(RawLine::TooLong { len, .. }) => {
                    too_long = true;
                    total += len;
                    // An over-long continuation cannot be rejoined; the record ends here.
                    break;
                }
                Some(RawLine::Data { bytes: more, .. }) => {
                    quotes += memchr::memchr_iter(b'"', &more).count();
                    total += more.len() as u64 + 1;
                    if total > self.lines.max as u64 {
                        too_long = true;
                        continue;
                    }
                    if !too_long {
                        bytes.push(b'\n');
                        bytes.extend_from_slice(&more);
                    }
                }
            }
        }
        if too_long {
            return Ok(Some(RawLine::TooLong { line, len: total }));
        }
        Ok(Some(RawLine::Data { line, bytes }))
    }
}

/// Splits one CSV record into fields (RFC 4180: `"` quotes, `""` escapes a quote, commas
/// and newlines allowed inside quotes). `None` if a quote is left open or text follows a
/// closing quote.
pub fn split_csv(record: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = record.chars().peekable();
    let mut in_quotes = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            ',' => {
                fields.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            '"' if cur.is_empty() && !was_quoted => {
                in_quotes = true;
                was_quoted = true;
            }
            _ if was_quoted => return None,
            _ => cur.push(c),
        }
    }
    if in_quotes {
        return None;
    }
    fields.push(cur);
    Some(fields)
}

/// Quotes one CSV field when needed.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn all(input: &[u8], max: usize, csv: bool) -> Vec<RawLine> {
        let mut r = RecordReader::new(input, max, csv);
        let mut out = Vec::new();
        while let Some(l) = r.next_record().unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn lines_and_numbers() {
        let got = all(b"a\r\n\nbc", 100, false);
        assert_eq!(
            got,
            vec![
                RawLine::Data {
                    line: 1,
                    bytes: b"a".to_vec()
                },
                RawLine::Data {
                    line: 2,
                    bytes: vec![]
                },
                RawLine::Data {
                    line: 3,
                    bytes: b"bc".to_vec()
                },
            ]
        );
    }

    #[test]
    fn long_line_is_skipped_but_hashed() {
        let mut input = vec![b'x'; 1000];
        input.extend_from_slice(b"\nok\n");
        let mut r = LineReader::new(std::io::BufReader::with_capacity(64, &input[..]), 100);
        assert_eq!(
            r.next_line().unwrap(),
            Some(RawLine::TooLong { line: 1, len: 1000 })
        );
        assert_eq!(
            r.next_line().unwrap(),
            Some(RawLine::Data {
                line: 2,
                bytes: b"ok".to_vec()
            })
        );
        assert_eq!(r.next_line().unwrap(), None);
        let want: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(r.sha256(), want);
        assert_eq!(r.bytes_read(), input.len() as u64);
    }

    #[test]
    fn csv_records_span_lines() {
        let got = all(b"a,b\n\"x\ny\",2\nz,3\n", 100, true);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].line(), 2);
        assert_eq!(got[2].line(), 4);
        let RawLine::Data { bytes, .. } = &got[1] else {
            panic!()
        };
        assert_eq!(
            split_csv(std::str::from_utf8(bytes).unwrap()).unwrap(),
            vec!["x\ny".to_string(), "2".to_string()]
        );
    }

    #[test]
    fn csv_split_rules() {
        assert_eq!(
            split_csv(r#"a,"b,""c""",d"#).unwrap(),
            vec!["a", "b,\"c\"", "d"]
        );
        assert_eq!(split_csv(r#""open"#), None);
        assert_eq!(split_csv(r#""x"y"#), None);
        assert_eq!(split_csv(""), Some(vec![String::new()]));
        let f = csv_field("a,\"b\"");
        assert_eq!(split_csv(&f).unwrap(), vec!["a,\"b\""]);
    }
}
