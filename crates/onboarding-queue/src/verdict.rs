//! How a handler's result becomes a queue [`Outcome`]: a [`Verdict`] the handler chose (anywhere
//! in the error's source chain), apalis' own abort/retry-after/deferred errors, or else the
//! queue's fallback [`QueueBackoff`]. Pure: no Redis, no clock but `SystemTime::now` for the
//! fallback's due time.

use std::time::{Duration, SystemTime};

use apalis_core::error::{AbortError, BoxDynError, DeferredError, RetryAfterError};

use crate::job::Outcome;

/// What a handler can return (inside its error) to choose the outcome itself.
#[derive(Debug, Clone, thiserror::Error)]
#[error("job outcome chosen by the handler: {0:?}")]
pub struct Verdict(pub Outcome);

impl Verdict {
    /// Retry at `at`, recording `error`.
    pub fn retry_at(at: SystemTime, error: impl ToString) -> Self {
        Verdict(Outcome::RetryAt {
            at,
            error: error.to_string(),
        })
    }
    /// Defer to `at` without spending an attempt.
    pub fn defer_until(at: SystemTime, reason: impl ToString) -> Self {
        Verdict(Outcome::DeferUntil {
            at,
            reason: reason.to_string(),
        })
    }
    /// Permanent failure: dead letter with `reason`.
    pub fn fail(reason: impl ToString) -> Self {
        Verdict(Outcome::Fail {
            reason: reason.to_string(),
        })
    }
}

/// The queue's fallback delay for handler errors that carry no [`Verdict`]:
/// `base * factor^(attempt-1)`, capped, without jitter. The product's step schedules (per
/// error class, with jitter, from `backon`) are the worker's: its handler answers every error
/// with a [`Verdict`], so this applies only to errors nobody classified.
#[derive(Debug, Clone)]
pub struct QueueBackoff {
    /// Delay after the first attempt.
    pub base: Duration,
    /// Growth per attempt.
    pub factor: u32,
    /// Upper bound.
    pub max: Duration,
}

impl Default for QueueBackoff {
    fn default() -> Self {
        QueueBackoff {
            base: Duration::from_secs(1),
            factor: 2,
            max: Duration::from_secs(600),
        }
    }
}

impl QueueBackoff {
    fn outcome(&self, attempt: u32, error: &BoxDynError) -> Outcome {
        let exp = attempt.saturating_sub(1).min(30);
        let mult = self.factor.max(1).saturating_pow(exp);
        let delay = self.base.saturating_mul(mult).min(self.max);
        Outcome::RetryAt {
            at: SystemTime::now() + delay,
            error: error_text(error),
        }
    }
}

/// Maps a handler error to an outcome: a [`Verdict`] or apalis error in the chain wins,
/// else the policy decides.
pub fn outcome_of(error: &BoxDynError, attempt: u32, policy: &QueueBackoff) -> Outcome {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
    while let Some(e) = cur {
        if let Some(v) = e.downcast_ref::<Verdict>() {
            return v.0.clone();
        }
        if let Some(a) = e.downcast_ref::<AbortError>() {
            return Outcome::Fail {
                reason: a.to_string(),
            };
        }
        if let Some(r) = e.downcast_ref::<RetryAfterError>() {
            return Outcome::RetryAt {
                at: SystemTime::now() + r.get_duration(),
                error: r.to_string(),
            };
        }
        if let Some(d) = e.downcast_ref::<DeferredError>() {
            return Outcome::DeferUntil {
                at: SystemTime::now(),
                reason: d.to_string(),
            };
        }
        cur = e.source();
    }
    policy.outcome(attempt, error)
}

fn error_text(e: &BoxDynError) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wrapper error, like a layer or handler would add around the real cause.
    #[derive(Debug, thiserror::Error)]
    #[error("step failed")]
    struct Wrapped(#[source] BoxDynError);

    fn delay_of(o: &Outcome) -> Option<Duration> {
        match o {
            Outcome::RetryAt { at, .. } | Outcome::DeferUntil { at, .. } => {
                Some(at.duration_since(SystemTime::now()).unwrap_or_default())
            }
            _ => None,
        }
    }

    #[test]
    fn handler_errors_map_to_outcomes() {
        let policy = QueueBackoff {
            base: Duration::from_secs(10),
            factor: 3,
            max: Duration::from_secs(100),
        };
        let at = SystemTime::now() + Duration::from_secs(3600);
        let cases: Vec<(BoxDynError, &str)> = vec![
            (Box::new(Verdict::fail("bad input")), "fail"),
            (Box::new(Wrapped(Box::new(Verdict::fail("deep")))), "fail"),
            (Box::new(Verdict::retry_at(at, "503")), "retry"),
            (Box::new(Verdict::defer_until(at, "budget")), "defer"),
            (Box::new(AbortError::new("panicked")), "fail"),
            (
                Box::new(RetryAfterError::new("429", Duration::from_secs(7))),
                "retry",
            ),
            (Box::new(DeferredError::new("later")), "defer"),
            ("plain".into(), "retry"),
        ];
        for (err, want) in cases {
            let got = match outcome_of(&err, 1, &policy) {
                Outcome::Done => "done",
                Outcome::RetryAt { .. } => "retry",
                Outcome::DeferUntil { .. } => "defer",
                Outcome::Fail { .. } => "fail",
            };
            assert_eq!(got, want, "for {err}");
        }
        let retry_after: BoxDynError =
            Box::new(RetryAfterError::new("429", Duration::from_secs(7)));
        let d = delay_of(&outcome_of(&retry_after, 1, &policy)).unwrap();
        assert!(
            d > Duration::from_secs(6) && d <= Duration::from_secs(7),
            "{d:?}"
        );
        let wrapped: BoxDynError = Box::new(Wrapped("inner cause".into()));
        match outcome_of(&wrapped, 1, &policy) {
            Outcome::RetryAt { error, .. } => assert_eq!(error, "step failed: inner cause"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exponential_policy_grows_by_attempt_and_is_capped() {
        let policy = QueueBackoff {
            base: Duration::from_secs(10),
            factor: 3,
            max: Duration::from_secs(100),
        };
        let e: BoxDynError = "x".into();
        let secs = |attempt| {
            delay_of(&policy.outcome(attempt, &e))
                .unwrap()
                .as_secs_f64()
                .round() as u64
        };
        assert_eq!(secs(1), 10);
        assert_eq!(secs(2), 30);
        assert_eq!(secs(3), 90);
        assert_eq!(secs(4), 100, "capped");
        assert_eq!(secs(40), 100, "no overflow for large attempts");
    }
}
