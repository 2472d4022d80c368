//! Token estimates for reservations.
//!
//! The limiter reserves before the upstream has counted anything, so it needs an estimate
//! that is cheap and errs high. One token per three bytes of UTF-8 is above the real count
//! for English (about four bytes per token) and about right for CJK text (three bytes per
//! character, about one token each). Reservations are reconciled with the upstream's own
//! `usage`, so the estimate only decides admission, never billing.

/// Completion cap added to (and reserved for each completion of) a chat request that
/// gives no `max_tokens` or `max_completion_tokens`, unless the configuration sets
/// `default_max_tokens`.
pub const DEFAULT_COMPLETION_RESERVATION: u64 = 1024;

/// Estimated tokens in `n` bytes of text.
pub fn estimate_bytes(n: usize) -> u64 {
    (n as u64).div_ceil(3)
}

#[cfg(test)]
mod tests {
    #[test]
    fn errs_high_for_english() {
        // "hello world, how are you today?" is 8 tokens in cl100k.
        assert!(super::estimate_bytes("hello world, how are you today?".len()) >= 8);
        assert_eq!(super::estimate_bytes(0), 0);
    }
}
