//! Which failures are worth retrying: those where the database connection
//! was lost (a restart, a failover, a pooler reconnecting), not those where
//! the database answered. A retried unit of work is a whole closure passed
//! to [`super::DbPool::run`]; the server rolled back whatever that closure
//! had started on the lost connection, so running it again cannot leave a
//! half-written change behind.

use std::time::Duration;

use diesel::result::{DatabaseErrorKind, Error};

use super::DbError;

/// Messages libpq and PostgreSQL give when a connection is lost or the
/// server is not (yet) accepting work. Diesel reports most of them as
/// `DatabaseErrorKind::Unknown`, so the message is all there is to go on.
const CONNECTION_LOST: [&str; 8] = [
    "terminating connection",
    "server closed the connection",
    "connection to server",
    "no connection to the server",
    "could not receive data",
    "could not send data",
    "the database system is shutting down",
    "the database system is starting up",
];

/// Whether a query error means the connection, not the query, failed.
pub fn is_connection_error(error: &Error) -> bool {
    match error {
        Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)
        | Error::DatabaseError(DatabaseErrorKind::UnableToSendCommand, _) => true,
        Error::DatabaseError(_, info) => {
            let message = info.message().to_ascii_lowercase();
            CONNECTION_LOST.iter().any(|m| message.contains(m))
        }
        _ => false,
    }
}

/// An error that may go away if the same work is tried again shortly.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for DbError {
    fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Query(error) => is_connection_error(error),
            Self::Cancelled | Self::ResultLost => false,
        }
    }
}

impl Transient for anyhow::Error {
    fn is_transient(&self) -> bool {
        self.downcast_ref::<DbError>()
            .is_some_and(Transient::is_transient)
    }
}

/// Exponential backoff between retries: 25 ms doubling to at most 1 s.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(25);
    const MAX: Duration = Duration::from_secs(1);

    pub fn new() -> Self {
        Self { next: Self::FIRST }
    }

    /// The pause before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_ceiling() {
        let mut backoff = Backoff::new();
        let delays: Vec<u128> = (0..8).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [25, 50, 100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn answers_from_the_database_are_not_transient() {
        assert!(!DbError::Query(Error::NotFound).is_transient());
    }
}
