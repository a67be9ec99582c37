//! The billing area's clock: real time plus an offset that only tests move,
//! so a trial's end, its notice and renewals can be reached without
//! waiting. Every billing decision reads time from here.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::time::now_ms;

#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// Now, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves this process's billing clock forward by `ms` (tests only: no
    /// configuration or route reaches it).
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// Moves the clock so that now is `at` (tests only).
    pub fn set(&self, at: i64) {
        self.offset_ms.store(at - now_ms(), Ordering::Relaxed);
    }
}
