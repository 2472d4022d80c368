//! An incremental framer for server-sent events.
//!
//! Upstream chunks arrive split anywhere. The framer holds back only the incomplete tail
//! and yields whole events (with their terminating blank line) as soon as they are
//! complete, so the gateway forwards each event without waiting for the response to end,
//! can look inside it (usage, and later output guards), and can end a stream with a
//! well-formed error event because it always stands on an event boundary. The bytes
//! yielded, concatenated, are exactly the bytes pushed.

use bytes::{Bytes, BytesMut};

/// Splits a byte stream into SSE events.
#[derive(Debug)]
pub struct SseFramer {
    buf: BytesMut,
    max_event: usize,
}

/// An event exceeded the size bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("server-sent event larger than {0} bytes")]
pub struct EventTooLarge(pub usize);

impl SseFramer {
    /// A framer that refuses events larger than `max_event` bytes.
    pub fn new(max_event: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_event,
        }
    }

    /// Adds a chunk and returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>, EventTooLarge> {
        // Search only from where a terminator could start that was not there before.
        let search_from = self.buf.len().saturating_sub(3);
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut from = search_from;
        while let Some(end) = find_event_end(&self.buf, from) {
            events.push(self.buf.split_to(end).freeze());
            from = 0;
        }
        if self.buf.len() > self.max_event {
            return Err(EventTooLarge(self.max_event));
        }
        Ok(events)
    }

    /// Bytes held back (an incomplete event).
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Takes what is held back at the end of the stream.
    pub fn finish(&mut self) -> Bytes {
        self.buf.split().freeze()
    }
}

/// The end (exclusive) of the first complete event: after `\n\n`, `\r\n\r\n` or `\r\r`.
fn find_event_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        match buf.get(i..) {
            Some([b'\n', b'\n', ..]) => return Some(i + 2),
            Some([b'\r', b'\n', b'\r', b'\n', ..]) => return Some(i + 4),
            Some([b'\r', b'\r', ..]) => return Some(i + 2),
            _ => i += 1,
        }
    }
    None
}

/// The `data` payload of one event (its `data:` lines joined by `\n`), if any.
pub fn event_data(event: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for line in event.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(rest) = line.strip_prefix(b"data:") {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            match out.as_mut() {
                Some(o) => {
                    o.push(b'\n');
                    o.extend_from_slice(rest);
                }
                None => out = Some(rest.to_vec()),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STREAM: &[u8] =
        b"data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\n: comment\n\ndata: [DONE]\n\n";

    #[test]
    fn frames_whole_events() {
        let mut f = SseFramer::new(1024);
        let ev = f.push(STREAM).unwrap();
        assert_eq!(ev.len(), 4);
        assert_eq!(event_data(&ev[0]).unwrap(), b"{\"a\":1}");
        assert_eq!(event_data(&ev[1]).unwrap(), b"{\"b\":2}");
        assert_eq!(event_data(&ev[2]), None);
        assert_eq!(event_data(&ev[3]).unwrap(), b"[DONE]");
        assert!(f.finish().is_empty());
    }

    #[test]
    fn bounded_hold_back() {
        let mut f = SseFramer::new(8);
        assert!(f.push(b"data: 0123456789").is_err());
    }

    proptest! {
        #[test]
        fn any_split_yields_same_events(cuts in proptest::collection::vec(0usize..STREAM.len(), 0..6)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let mut f = SseFramer::new(1024);
            let mut out = Vec::new();
            let mut last = 0;
            for c in cuts.into_iter().chain([STREAM.len()]) {
                out.extend(f.push(&STREAM[last..c]).unwrap());
                last = c;
            }
            prop_assert_eq!(out.len(), 4);
            prop_assert_eq!(out.concat(), STREAM.to_vec());
        }
    }
}
