//! Property tests for the parsers of untrusted bytes: the line reader, CSV splitting and
//! record parsing never panic, number lines consistently and round-trip what they should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use portcullis_dataset::format::{parse_json, CsvHeader, Format};
use portcullis_dataset::reader::{csv_field, split_csv, RawLine, RecordReader};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn line_reader_counts_lines_and_bytes(data in proptest::collection::vec(any::<u8>(), 0..2000), max in 1usize..64) {
        let mut r = RecordReader::new(std::io::BufReader::with_capacity(7, &data[..]), max, false);
        let mut n = 0u64;
        while let Some(l) = r.next_record().unwrap() {
            n += 1;
            prop_assert_eq!(l.line(), n);
            if let RawLine::Data { bytes, .. } = &l {
                prop_assert!(bytes.len() <= max);
                prop_assert!(!bytes.contains(&b'\n'));
            }
        }
        let newlines = data.iter().filter(|b| **b == b'\n').count() as u64;
        let expected = newlines + u64::from(!data.is_empty() && data.last() != Some(&b'\n'));
        prop_assert_eq!(n, expected);
        prop_assert_eq!(r.lines().bytes_read(), data.len() as u64);
    }

    #[test]
    fn csv_reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..1000)) {
        let mut r = RecordReader::new(&data[..], 64, true);
        let mut last = 0;
        while let Some(l) = r.next_record().unwrap() {
            prop_assert!(l.line() > last);
            last = l.line();
        }
    }

    #[test]
    fn csv_fields_round_trip(fields in proptest::collection::vec("[a-z,\"\n ]{0,12}", 1..6)) {
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        prop_assert_eq!(split_csv(&line.join(",")).unwrap(), fields);
    }

    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        for f in [Format::Chat, Format::Alpaca, Format::Classification] {
            let _ = parse_json(&data, f);
        }
        let _ = Format::detect(&data);
        if let Ok(h) = CsvHeader::parse(b"text,label") {
            let _ = h.parse_record(&data);
        }
    }

    #[test]
    fn json_strings_parse_back(text in "\\PC{0,60}", label in "[a-z]{1,8}") {
        let line = serde_json::json!({"text": text, "label": label}).to_string();
        let r = parse_json(line.as_bytes(), Format::Classification).unwrap();
        prop_assert_eq!(r.input_text(), text);
        prop_assert_eq!(r.label, Some(label));
    }
}
