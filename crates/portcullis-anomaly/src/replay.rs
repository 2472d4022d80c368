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

/// Like [`replay`] with a given detector, calling `on_alert` for each alert too.
pub fn replay_with(
    d: &mut Detector,
    mut input: impl BufRead,
    mut out: impl Write,
    mut on_alert: impl FnMut(&Alert),
) -> Result<ReplayStats, ReplayError> {
    let mut stats = ReplayStats::default();
    let mut line = String::new();
    let mut n = 0u64;
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        n += 1;
        let t = line.trim();
        if t.is_empty() {
            stats.blank += 1;
            continue;
        }
        let ev = Event::parse(t).map_err(|source| ReplayError::Parse { line: n, source })?;
        stats.events += 1;
        if let Some(a) = d.observe(&ev) {
            serde_json::to_writer(&mut out, &a).map_err(ReplayError::Encode)?;
            out.write_all(b"\n")?;
            stats.alerts += 1;
            on_alert(&a);
        }
    }
    out.flush()?;
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

    #[test]
    fn escaped_strings_are_read() {
        let input = "{\"ts\": 1, \"decision\": \"deny\", \"principal\": \"a\\\"b\", \"ip\": \"\\u0031.2.3.4\"}\n";
        let s = replay(&DetectorConfig::default(), input.as_bytes(), Vec::new()).unwrap();
        assert_eq!(s.events, 1);
    }
}
