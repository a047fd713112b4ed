//! Error classes and retry schedules (PRODUCT.md §4) as data, in one type: [`StepSchedule`].
//!
//! - **transient** (network, timeouts, 5xx without a business error, 429, `Itgenatr005`, a
//!   step that is not converged yet): fast exponential backoff with jitter and a cap, a
//!   maximum number of attempts, then dead letter;
//! - **operator-pending** (an operator-verified step not done yet): slow exponential backoff
//!   until the run's deadline, then the step fails;
//! - **budget-deferred** (the tenant's hourly request budget is used up): rescheduled
//!   without spending an attempt;
//! - **awaiting acknowledgment** (an operator-attested step): no retry at all, the run waits
//!   for the operator's acknowledgment;
//! - **permanent** (validation errors, refused preconditions): fail at once, dead letter.
//!
//! Delays come from `backon` (the maintained successor of `backoff`, which RUSTSEC-2025-0012
//! marks unmaintained): [`backon::ExponentialBuilder`] as an iterator of delays, `.nth(k-1)` is
//! the delay before attempt `k + 1`. backon's own jitter draws from its own RNG (`fastrand`,
//! seeded from the OS with its `std` feature), which this crate must not do: backon is used
//! with jitter off and without features, and the jitter is applied here from a random `u64`
//! the caller passes in. The same inputs always give the same delay.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// How a failed or unfinished attempt continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Retry fast (exponential, jitter, cap), up to a maximum of attempts.
    Transient,
    /// An operator must act in Autotask; re-check slowly until the deadline.
    OperatorPending,
    /// The tenant's request budget is used up; reschedule without spending an attempt.
    BudgetDeferred,
    /// An operator must acknowledge; no retry is scheduled.
    AwaitingAck,
    /// Fail at once; the run goes to the dead-letter list.
    Permanent,
}

/// One exponential schedule: `min * factor^(k-1)` capped at `max`, jittered by ±`jitter`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Exponential {
    /// Delay before the second attempt (milliseconds).
    pub min_ms: u64,
    /// Growth per attempt.
    pub factor: f32,
    /// Cap (milliseconds), applied after jitter too.
    pub max_ms: u64,
    /// Relative jitter in `[0, 1]`: the delay is scaled by a factor in `[1 - j, 1 + j)`.
    pub jitter: f32,
}

impl Exponential {
    /// The delay after failed attempt `attempt` (1-based), with `random` choosing the jitter.
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        let k = attempt.max(1) as usize;
        let base = ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(self.min_ms))
            .with_max_delay(Duration::from_millis(self.max_ms))
            .with_factor(self.factor)
            .without_max_times()
            .build()
            .nth(k - 1)
            .unwrap_or(Duration::from_millis(self.max_ms));
        // A uniform value in [0, 1) from the top 53 bits.
        let u = (random >> 11) as f64 / (1u64 << 53) as f64;
        let j = f64::from(self.jitter.clamp(0.0, 1.0));
        let scaled = base.as_secs_f64() * (1.0 - j + 2.0 * j * u);
        Duration::from_secs_f64(scaled.max(0.0)).min(Duration::from_millis(self.max_ms))
    }
}

/// The retry policy: one schedule per retrying class, attempt limits, the budget deferral.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepSchedule {
    /// Transient failures.
    pub transient: Exponential,
    /// Attempts (the first included) before a transient failure goes to dead letter.
    pub transient_max_attempts: u32,
    /// Operator-pending re-checks (until the run's deadline).
    pub operator: Exponential,
    /// Fixed delay of a budget deferral (milliseconds), jittered like the others.
    pub budget_defer: Exponential,
}

impl Default for StepSchedule {
    /// Transient: 1 s doubling to 60 s, ±25 %, 8 attempts. Operator: 5 min growing 1.5× to
    /// 6 h, ±10 %. Budget: 5 min, ±20 %.
    fn default() -> Self {
        Self {
            transient: Exponential {
                min_ms: 1_000,
                factor: 2.0,
                max_ms: 60_000,
                jitter: 0.25,
            },
            transient_max_attempts: 8,
            operator: Exponential {
                min_ms: 5 * 60_000,
                factor: 1.5,
                max_ms: 6 * 3_600_000,
                jitter: 0.1,
            },
            budget_defer: Exponential {
                min_ms: 5 * 60_000,
                factor: 1.0,
                max_ms: 5 * 60_000,
                jitter: 0.2,
            },
        }
    }
}

/// What to do after an attempt that did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RetryDecision {
    /// Schedule the step again at `at` as attempt `attempt`.
    RetryAt {
        /// When (in Redis, not by sleeping).
        at: Timestamp,
        /// The attempt number of the next try (unchanged for a budget deferral).
        attempt: u32,
    },
    /// Wait for the operator's acknowledgment; schedule nothing.
    AwaitAck,
    /// The step fails and the run goes to the dead-letter list.
    DeadLetter,
    /// The run's operator deadline passes before the next check: the step fails.
    DeadlinePassed,
}

impl StepSchedule {
    /// The decision after attempt `attempt` (1-based) failed with `class`, at `now`, for a run
    /// whose operator deadline is `deadline`; `random` chooses the jitter.
    pub fn decide(
        &self,
        class: ErrorClass,
        attempt: u32,
        now: Timestamp,
        deadline: Timestamp,
        random: u64,
    ) -> RetryDecision {
        match class {
            ErrorClass::Permanent => RetryDecision::DeadLetter,
            ErrorClass::AwaitingAck => RetryDecision::AwaitAck,
            ErrorClass::Transient => {
                if attempt >= self.transient_max_attempts {
                    RetryDecision::DeadLetter
                } else {
                    RetryDecision::RetryAt {
                        at: now.plus(self.transient.delay(attempt, random)),
                        attempt: attempt + 1,
                    }
                }
            }
            ErrorClass::OperatorPending => {
                let at = now.plus(self.operator.delay(attempt, random));
                if now >= deadline {
                    RetryDecision::DeadlinePassed
                } else {
                    RetryDecision::RetryAt {
                        // The last check happens at the deadline itself.
                        at: at.min(deadline),
                        attempt: attempt + 1,
                    }
                }
            }
            ErrorClass::BudgetDeferred => RetryDecision::RetryAt {
                at: now.plus(self.budget_defer.delay(1, random)),
                attempt,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MID: u64 = 1 << 63; // u = 0.5: no jitter

    #[test]
    fn transient_schedule_doubles_and_caps() {
        let p = StepSchedule::default();
        let delays: Vec<_> = (1..=8)
            .map(|k| p.transient.delay(k, MID).as_millis())
            .collect();
        assert_eq!(delays, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    }

    #[test]
    fn jitter_stays_in_bounds_and_is_deterministic() {
        let p = StepSchedule::default();
        assert_eq!(p.transient.delay(3, 0).as_millis(), 3000);
        let top = p.transient.delay(3, u64::MAX).as_millis();
        assert!((4990..=5000).contains(&top), "{top}");
        assert_eq!(p.transient.delay(3, 42), p.transient.delay(3, 42));
        // Jitter never exceeds the cap.
        assert_eq!(p.transient.delay(20, u64::MAX).as_millis(), 60000);
    }

    #[test]
    fn decisions_per_class() {
        let p = StepSchedule::default();
        let now = Timestamp(1_000_000);
        let deadline = Timestamp(1_000_000 + 7 * 86_400_000);
        assert_eq!(
            p.decide(ErrorClass::Transient, 1, now, deadline, MID),
            RetryDecision::RetryAt {
                at: Timestamp(1_001_000),
                attempt: 2
            }
        );
        assert_eq!(
            p.decide(ErrorClass::Transient, 8, now, deadline, MID),
            RetryDecision::DeadLetter
        );
        assert_eq!(
            p.decide(ErrorClass::Permanent, 1, now, deadline, MID),
            RetryDecision::DeadLetter
        );
        assert_eq!(
            p.decide(ErrorClass::AwaitingAck, 1, now, deadline, MID),
            RetryDecision::AwaitAck
        );
        // Budget deferral spends no attempt.
        assert_eq!(
            p.decide(ErrorClass::BudgetDeferred, 3, now, deadline, MID),
            RetryDecision::RetryAt {
                at: Timestamp(1_000_000 + 300_000),
                attempt: 3
            }
        );
        // Operator checks: slow, capped by the deadline, then the step fails.
        assert_eq!(
            p.decide(ErrorClass::OperatorPending, 1, now, deadline, MID),
            RetryDecision::RetryAt {
                at: Timestamp(1_000_000 + 300_000),
                attempt: 2
            }
        );
        let near = Timestamp(deadline.0 - 1000);
        assert_eq!(
            p.decide(ErrorClass::OperatorPending, 30, near, deadline, MID),
            RetryDecision::RetryAt {
                at: deadline,
                attempt: 31
            }
        );
        assert_eq!(
            p.decide(ErrorClass::OperatorPending, 31, deadline, deadline, MID),
            RetryDecision::DeadlinePassed
        );
    }
}
