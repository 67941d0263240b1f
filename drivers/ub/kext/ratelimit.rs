// SPDX-License-Identifier: GPL-2.0

//! A per-device rate limit for log lines ([`RateLimit`]).

use kernel::time::{Delta, Instant, Monotonic};

/// Log lines allowed per [`RATELIMIT_INTERVAL_MS`] (the kernel's default burst).
const RATELIMIT_BURST: u32 = 10;

/// The rate limit interval (the kernel's default, 5 s).
const RATELIMIT_INTERVAL_MS: i64 = 5_000;

/// A burst-per-interval limiter for log lines, like `printk_ratelimit()` with a
/// state of its own per device.
pub(crate) struct RateLimit {
    begin: Instant<Monotonic>,
    printed: u32,
    missed: u32,
}

impl RateLimit {
    /// A limiter whose first interval starts now.
    pub(crate) fn new() -> Self {
        Self {
            begin: Instant::now(),
            printed: 0,
            missed: 0,
        }
    }

    /// Whether a line may be printed now, and how many were suppressed in the
    /// interval that just ended (to be reported with it).
    pub(crate) fn allow(&mut self) -> (bool, u32) {
        let mut missed = 0;
        if self.begin.elapsed() > Delta::from_millis(RATELIMIT_INTERVAL_MS) {
            missed = self.missed;
            self.begin = Instant::now();
            self.printed = 0;
            self.missed = 0;
        }
        if self.printed < RATELIMIT_BURST {
            self.printed += 1;
            (true, missed)
        } else {
            self.missed += 1;
            (false, missed)
        }
    }
}
