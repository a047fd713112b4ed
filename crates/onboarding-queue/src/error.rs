//! The one error type of this crate.
//!
//! It says whether the caller may retry ([`QueueError::is_retryable`]): Redis being away or
//! slow is retryable, a malformed reply or a refused argument is not. It does no I/O.

/// Everything that can go wrong in the queue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// Redis could not be reached, timed out, or answered with an error.
    #[error("redis command failed during {op}")]
    Redis {
        /// What the queue was doing.
        op: &'static str,
        /// The error from the `redis` crate.
        #[source]
        source: redis::RedisError,
    },
    /// Redis answered with something this crate did not write (a bug or foreign keys).
    #[error("unexpected reply from redis during {op}: {detail}")]
    Protocol {
        /// What the queue was doing.
        op: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The caller passed something the queue refuses (empty group, bad limit, ...).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A payload could not be encoded or decoded with the queue's codec.
    #[error("payload codec failed")]
    Codec(#[source] serde_json::Error),
}

impl QueueError {
    /// True when trying again later can succeed (connection, timeout, busy or failover
    /// errors); false for errors that will repeat.
    pub fn is_retryable(&self) -> bool {
        match self {
            QueueError::Redis { source, .. } => {
                source.is_io_error()
                    || source.is_timeout()
                    || source.is_connection_dropped()
                    || source.is_connection_refusal()
                    || matches!(
                        source.kind(),
                        redis::ErrorKind::Server(
                            redis::ServerErrorKind::BusyLoading
                                | redis::ServerErrorKind::TryAgain
                                | redis::ServerErrorKind::ClusterDown
                                | redis::ServerErrorKind::MasterDown
                                | redis::ServerErrorKind::ReadOnly
                        )
                    )
            }
            QueueError::Protocol { .. } | QueueError::Invalid(_) | QueueError::Codec(_) => false,
        }
    }

    pub(crate) fn redis(op: &'static str) -> impl FnOnce(redis::RedisError) -> QueueError {
        move |source| QueueError::Redis { op, source }
    }

    pub(crate) fn protocol(op: &'static str, detail: impl Into<String>) -> QueueError {
        QueueError::Protocol {
            op,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::{ErrorKind, RedisError, ServerErrorKind};

    fn redis_err(e: RedisError) -> QueueError {
        QueueError::redis("test")(e)
    }

    #[test]
    fn retryable_is_true_only_for_errors_that_can_pass() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let json = serde_json::from_str::<u8>("x").unwrap_err();
        let cases = [
            (redis_err(RedisError::from(io)), true),
            (
                redis_err(RedisError::from((
                    ErrorKind::Server(ServerErrorKind::BusyLoading),
                    "loading",
                ))),
                true,
            ),
            (
                redis_err(RedisError::from((
                    ErrorKind::Server(ServerErrorKind::ReadOnly),
                    "replica",
                ))),
                true,
            ),
            (
                redis_err(RedisError::from((
                    ErrorKind::Server(ServerErrorKind::ResponseError),
                    "ERR",
                ))),
                false,
            ),
            (QueueError::protocol("fetch", "bad reply"), false),
            (QueueError::Invalid("empty group".into()), false),
            (QueueError::Codec(json), false),
        ];
        for (err, want) in cases {
            assert_eq!(err.is_retryable(), want, "{err:?}");
        }
    }
}
