//! Writes the labeled evaluation set as JSONL, one record per line:
//! `{"id", "text", "spans": [{"type", "start", "end"}]}` with byte offsets.
//!
//! `cargo run -p portcullis-guard --example gen_pii -- --seed 1 --n 2000 > set.jsonl`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_guard::gen::generate;
use std::io::{BufWriter, Write};

fn main() {
    let mut seed: u64 = 0x5EED_2026;
    let mut n: usize = 2000;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = args.get(i + 1).map(String::as_str).unwrap_or("");
        match args[i].as_str() {
            "--seed" => seed = parse_u64(val),
            "--n" => n = val.parse().expect("--n takes a number"),
            other => panic!("unknown argument {other}; use --seed N --n N"),
        }
        i += 2;
    }
    let out = std::io::stdout();
    let mut w = BufWriter::new(out.lock());
    for (id, r) in generate(seed, n).into_iter().enumerate() {
        let spans: Vec<_> = r
            .gold
            .iter()
            .map(|g| serde_json::json!({"type": g.kind.as_str(), "start": g.start, "end": g.end}))
            .collect();
        let row = serde_json::json!({"id": id, "text": r.text, "spans": spans});
        writeln!(w, "{row}").expect("write");
    }
}

fn parse_u64(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).expect("hex seed"),
        None => s.parse().expect("--seed takes a number"),
    }
}
