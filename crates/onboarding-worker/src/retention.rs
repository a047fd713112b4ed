//! How long onboard keeps what it stores.
//!
//! - Sealed credentials (every role, admin included) are deleted when their run succeeds or
//!   is cancelled. A failed run keeps them: an operator may retry it (`onboard retry`, a dead
//!   letter requeued) and the retry needs them; they go with the run at the end of its
//!   retention.
//! - Finished runs (succeeded, failed, cancelled) whose last change is older than the
//!   retention are removed with their index entries, their idempotency key and their audit
//!   trail (part of the record), and any credentials they still hold; dead letters older
//!   than the retention are purged. [`Onboard::sweep`] does both; the worker runs it
//!   periodically.
//! - Webhook secrets live as long as their webhook (`execute`, `secrets`).
//!
//! What it does not do: the tenant's database binding (`binding`) is kept: it is what stops a
//! later mixed-up run, and holds no secret.

use std::time::Duration;

use onboarding_queue::JobId;
use onboarding_steps::run::{Run, RunState};
use onboarding_steps::{Role, Timestamp};
use serde::Serialize;

use crate::service::{Onboard, ServiceError};

/// The default retention of finished runs and dead letters.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// What a sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Finished runs removed (with their indexes, idempotency keys and credentials).
    pub runs: u64,
    /// Dead letters purged.
    pub dead_letters: u64,
}

impl Onboard {
    /// Deletes the run's sealed credentials (every role).
    pub async fn forget_credentials(&self, run: &Run) -> Result<(), ServiceError> {
        let ids: Vec<String> = [Role::New, Role::Previous, Role::Admin]
            .into_iter()
            .filter_map(|role| run.request.credentials.get(role))
            .map(|r| r.0.clone())
            .filter(|id| !id.is_empty())
            .collect();
        Ok(self.credentials.delete(&ids).await?)
    }

    /// Removes finished runs and dead letters older than `retention` at `now`.
    pub async fn sweep(
        &self,
        retention: Duration,
        now: Timestamp,
    ) -> Result<SweepReport, ServiceError> {
        let cutoff = now.as_millis().saturating_sub(retention.as_millis() as u64);
        let mut report = SweepReport::default();
        let mut kept = 0;
        loop {
            let page = self.runs.created_before(cutoff, kept, 100).await?;
            if page.is_empty() {
                break;
            }
            for (run, ver) in page {
                let expired = run.state.is_final() && run.updated_at.as_millis() < cutoff;
                if expired && self.runs.remove(&run, ver).await? {
                    self.forget_credentials(&run).await?;
                    report.runs += 1;
                } else {
                    kept += 1;
                }
            }
        }
        let mut old = Vec::new();
        let mut offset = 0;
        loop {
            let page = self.queue.dead_letters(offset, 200).await?;
            if page.is_empty() {
                break;
            }
            offset += page.len() as u64;
            old.extend(
                page.iter()
                    .filter(|d| d.dead_at < cutoff)
                    .map(|d| JobId(d.id.as_str().to_owned())),
            );
        }
        report.dead_letters = self.queue.purge_dead(&old).await?;
        Ok(report)
    }
}

/// Whether a run in `state` has no more use for its credentials.
pub fn credentials_done(state: RunState) -> bool {
    matches!(state, RunState::Succeeded | RunState::Cancelled)
}
