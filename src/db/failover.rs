//! Read failover: reads that keep users signed in (the session token path,
//! the client) go to the primary and, when it errors or does not answer
//! within `database.primary_timeout`, to a replica.
//!
//! A circuit breaker remembers the failure: while it is open, reads go
//! straight to the replicas instead of waiting on the dead primary every
//! time; after `database.breaker_cooldown` one read probes the primary
//! again (half-open) and a success closes the breaker. Every switch is
//! counted in `steward_db_failover_total` and the state is reported by
//! `/readyz` and `steward_db_breaker_open`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{DbConnection, DbError, DbPool, Transient};

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// The primary serves reads.
    Closed,
    /// The primary failed; replicas serve reads until the cooldown ends.
    Open { until: Instant },
    /// The cooldown ended: the next read probes the primary.
    HalfOpen,
}

impl BreakerState {
    /// The name `/readyz` reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open { .. } => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// Routes failover-capable reads between the primary and its replicas.
#[derive(Debug)]
pub struct ReadFailover {
    state: Mutex<BreakerState>,
    primary_timeout: Duration,
    cooldown: Duration,
}

impl ReadFailover {
    pub fn new(primary_timeout: Duration, cooldown: Duration) -> Self {
        Self {
            state: Mutex::new(BreakerState::Closed),
            primary_timeout,
            cooldown,
        }
    }

    /// The current state (an expired open state reads as half-open).
    pub fn state(&self) -> BreakerState {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let BreakerState::Open { until } = *state {
            if Instant::now() >= until {
                *state = BreakerState::HalfOpen;
            }
        }
        *state
    }

    fn set(&self, next: BreakerState) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let was_open = !matches!(*state, BreakerState::Closed);
        let now_open = !matches!(next, BreakerState::Closed);
        *state = next;
        metrics::gauge!("steward_db_breaker_open").set(if now_open { 1.0 } else { 0.0 });
        if was_open != now_open {
            let (from, to) = if now_open {
                ("primary", "replica")
            } else {
                ("replica", "primary")
            };
            metrics::counter!("steward_db_failover_total", "from" => from, "to" => to).increment(1);
            tracing::warn!(from, to, "session reads switched database");
        }
    }

    /// Runs `work` on the primary, or on a replica when the primary cannot
    /// be reached (a [`Transient`] error: the database did not answer, as
    /// opposed to an answer such as "not found"). `work` may run more than
    /// once, so it must only read.
    pub async fn read<T, E, F>(
        &self,
        primary: &DbPool,
        replicas: &[DbPool],
        query: &'static str,
        work: F,
    ) -> Result<T, E>
    where
        F: Fn(&mut DbConnection) -> Result<T, E> + Clone + Send + Sync + 'static,
        T: Send + 'static,
        E: From<DbError> + Transient + Send + 'static,
    {
        let Some((last_replica, other_replicas)) = replicas.split_last() else {
            return primary.run(query, work).await;
        };
        let state = self.state();
        if !matches!(state, BreakerState::Open { .. }) {
            let attempt =
                tokio::time::timeout(self.primary_timeout, primary.run(query, work.clone())).await;
            match attempt {
                Ok(Ok(value)) => {
                    if state != BreakerState::Closed {
                        self.set(BreakerState::Closed);
                    }
                    return Ok(value);
                }
                Ok(Err(error)) if !error.is_transient() => return Err(error),
                _ => self.set(BreakerState::Open {
                    until: Instant::now() + self.cooldown,
                }),
            }
        }
        // The first replica that answers; the last one's error otherwise.
        for replica in other_replicas {
            match replica.run(query, work.clone()).await {
                Err(error) if error.is_transient() => {}
                answered => return answered,
            }
        }
        last_replica.run(query, work).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_breaker_turns_half_open_after_the_cooldown() {
        let failover = ReadFailover::new(Duration::from_millis(10), Duration::from_millis(20));
        assert_eq!(failover.state(), BreakerState::Closed);
        failover.set(BreakerState::Open {
            until: Instant::now() + Duration::from_millis(20),
        });
        assert_eq!(failover.state().name(), "open");
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(failover.state(), BreakerState::HalfOpen);
        failover.set(BreakerState::Closed);
        assert_eq!(failover.state(), BreakerState::Closed);
    }
}
