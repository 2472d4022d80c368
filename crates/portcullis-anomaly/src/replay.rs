//! Replay: request events as JSON Lines in, alerts as JSON Lines out, through the same
//! [`Detector`] the gateway runs, in event time.

use std::io::{BufRead, Write};

use crate::config::DetectorConfig;
use crate::detector::Detector;
use crate::event::{Alert, Event};

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A line is not an event.
    #[error("line {line}: {source}")]
    Parse {
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        source: serde_json::Error,
    },
    /// An alert could not be written as JSON.
    #[error("encoding an alert: {0}")]
    Encode(serde_json::Error),
}

/// What a replay saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Events read.
    pub events: u64,
    /// Alerts written.
    pub alerts: u64,
    /// Blank lines skipped.
    pub blank: u64,
}

/// Replays `input` through a new detector, writing one alert per line to `out`. A line
/// that is not an event stops the replay with its line number (bad input is never
/// guessed at).
pub fn replay(
    cfg: &DetectorConfig,
    input: impl BufRead,
    out: impl Write,
) -> Result<ReplayStats, ReplayError> {
    let mut d = Detector::new(cfg.clone());
    replay_with(&mut d, input, out, |_| {})
}

/// Lines handed to the parsing thread at a time.
const CHUNK_LINES: usize = 2048;
/// Chunks in flight between the two threads (bounds memory to a few MiB).
const IN_FLIGHT: usize = 4;

/// Lines read from the input, with the 1-based number of the first.
struct Chunk {
    first_line: u64,
    text: String,
}

/// A chunk parsed: its events in order, blank lines skipped, and the first bad line.
struct Parsed {
    events: Vec<Event<'static>>,
    blank: u64,
    error: Option<(u64, serde_json::Error)>,
}

impl Chunk {
    fn parse(&self) -> Parsed {
        let mut p = Parsed {
            events: Vec::with_capacity(CHUNK_LINES),
            blank: 0,
            error: None,
        };
        for (i, line) in self.text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() {
                p.blank += 1;
                continue;
            }
            match Event::parse(t) {
                Ok(ev) => p.events.push(ev.into_owned()),
                Err(e) => {
                    p.error = Some((self.first_line + i as u64, e));
                    break;
                }
            }
        }
        p
    }
}

/// Like [`replay`] with a given detector, calling `on_alert` for each alert too.
///
/// JSON parsing runs on a second thread, a few chunks of lines ahead of the detector,
/// so parsing and scoring overlap (about a third of a replay's time is parsing). The
/// detector still sees every event in input order, on this thread.
pub fn replay_with(
    d: &mut Detector,
    mut input: impl BufRead,
    mut out: impl Write,
    mut on_alert: impl FnMut(&Alert),
) -> Result<ReplayStats, ReplayError> {
    let mut stats = ReplayStats::default();
    std::thread::scope(|s| {
        let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<Chunk>(IN_FLIGHT);
        let (parsed_tx, parsed_rx) = std::sync::mpsc::sync_channel::<Parsed>(IN_FLIGHT);
        s.spawn(move || {
            for chunk in raw_rx {
                if parsed_tx.send(chunk.parse()).is_err() {
                    break;
                }
            }
        });
        let mut in_flight = 0usize;
        let mut n = 0u64;
        let mut read_error = None;
        let mut eof = false;
        // Scores one parsed chunk; false once a bad line ended the replay.
        let mut score = |p: Parsed, stats: &mut ReplayStats| -> Result<bool, ReplayError> {
            stats.blank += p.blank;
            for ev in &p.events {
                stats.events += 1;
                if let Some(a) = d.observe(ev) {
                    serde_json::to_writer(&mut out, &a).map_err(ReplayError::Encode)?;
                    out.write_all(b"\n")?;
                    stats.alerts += 1;
                    on_alert(&a);
                }
            }
            match p.error {
                Some((line, source)) => Err(ReplayError::Parse { line, source }),
                None => Ok(true),
            }
        };
        loop {
            if !eof {
                let mut chunk = Chunk {
                    first_line: n + 1,
                    text: String::new(),
                };
                let mut lines = 0;
                while lines < CHUNK_LINES {
                    match input.read_line(&mut chunk.text) {
                        Ok(0) => {
                            eof = true;
                            break;
                        }
                        Ok(_) => lines += 1,
                        Err(e) => {
                            read_error = Some(e);
                            eof = true;
                            break;
                        }
                    }
                }
                n += lines as u64;
                if lines > 0 {
                    // The parser only stops when this thread drops its receiver.
                    if raw_tx.send(chunk).is_ok() {
                        in_flight += 1;
                    }
                }
            }
            if in_flight == 0 {
                break;
            }
            if eof || in_flight >= IN_FLIGHT {
                let Ok(p) = parsed_rx.recv() else { break };
                in_flight -= 1;
                score(p, &mut stats)?;
            }
        }
        drop(raw_tx);
        if let Some(e) = read_error {
            return Err(ReplayError::Io(e));
        }
        out.flush()?;
        Ok(())
    })?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_line_is_named() {
        let input =
            "\n{\"ts\": 1, \"decision\": \"allow\", \"principal\": \"a\"}\n{\"ts\": \"x\"}\n";
        let e = replay(&DetectorConfig::default(), input.as_bytes(), Vec::new()).unwrap_err();
        assert!(e.to_string().starts_with("line 3:"), "{e}");
    }

    /// The two-thread replay scores exactly what observing each event in order does:
    /// same alerts, same order, across many chunks (with blank lines between).
    #[test]
    fn replay_matches_observing_in_order() {
        let sim = crate::sim::Simulation::generate(crate::sim::SimConfig {
            seed: 7,
            principals: 20,
            days: 4,
            ..Default::default()
        });
        let mut input = Vec::new();
        sim.write_events(&mut input).unwrap();
        let text = String::from_utf8(input).unwrap().replace("}\n{", "}\n\n{");
        let cfg = DetectorConfig::default();
        let mut expected = Vec::new();
        let mut d = Detector::new(cfg.clone());
        let mut events = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            events += 1;
            if let Some(a) = d.observe(&Event::parse(line).unwrap()) {
                serde_json::to_writer(&mut expected, &a).unwrap();
                expected.push(b'\n');
            }
        }
        assert!(events > 3 * CHUNK_LINES as u64, "{events} events");
        assert!(
            !expected.is_empty(),
            "the simulated week has scenarios to alert on"
        );
        let mut got = Vec::new();
        let stats = replay(&cfg, text.as_bytes(), &mut got).unwrap();
        assert_eq!(stats.events, events);
        assert_eq!(stats.blank, events - 1);
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }

    /// A bad line far into the input (several chunks in) is named by its number.
    #[test]
    fn bad_line_after_many_chunks_is_named() {
        let good = "{\"ts\": 1, \"decision\": \"allow\", \"principal\": \"a\"}\n";
        let input = format!("{}not json\n{}", good.repeat(5000), good.repeat(10));
        let mut d = Detector::new(DetectorConfig::default());
        let e = replay_with(&mut d, input.as_bytes(), Vec::new(), |_| {}).unwrap_err();
        assert!(e.to_string().starts_with("line 5001:"), "{e}");
    }

    #[test]
    fn escaped_strings_are_read() {
        let input = "{\"ts\": 1, \"decision\": \"deny\", \"principal\": \"a\\\"b\", \"ip\": \"\\u0031.2.3.4\"}\n";
        let s = replay(&DetectorConfig::default(), input.as_bytes(), Vec::new()).unwrap();
        assert_eq!(s.events, 1);
    }
}
