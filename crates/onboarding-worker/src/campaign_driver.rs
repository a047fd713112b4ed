//! The campaign driver: the loop that moves campaigns through their waves.
//!
//! **Who drives.** Every worker process (`onboard worker`, the demo) runs a driver task
//! beside its step worker, but only the holder of a Redis lease acts: `{p}:campaigns:driver`
//! holds the holder's name with an expiry (`lease`, default 10 s), taken with `SET NX PX`
//! and renewed (compare-and-extend) on every tick. When the holder dies — SIGKILL mid-wave
//! included — the lease expires and another worker's driver takes over on its next tick.
//! The driver keeps nothing in memory between ticks: every tick reads the campaign, counts
//! the current wave's runs from their records, and decides (`Campaign::advance`, pure), so a
//! new driver goes on exactly where the last one was.
//!
//! **No tenant twice.** Entry `i` is enqueued with the idempotency key
//! `campaign:{id}:{i}`; its run id is recorded after the enqueue. A driver that died in
//! between leaves the entry looking unstarted: the next driver enqueues it again and gets
//! the same run back. Even two drivers (a lease that expired under a paused process) cannot
//! create two runs for one entry.
//!
//! **Fresh work first.** Campaign runs are `bulk` runs: every step of them is queued at the
//! queue's bulk priority, and the queue serves every ready job of a higher class before any
//! bulk job (`onboarding-queue`'s `Priority`), so a fresh onboarding enqueued while a
//! campaign runs is never behind campaign steps. The driver adds nothing to the queue's
//! ordering; it only decides *when* a tenant's run is enqueued.
//!
//! **Abort races.** The driver reserves picks in the campaign record (compare-and-set), then
//! enqueues; after recording the runs it re-reads the campaign and cancels what it just
//! enqueued if an operator aborted meanwhile (`abort_campaign` cancels the runs it finds
//! recorded; between the two every run is cancelled).

use std::time::Duration;

use onboarding_campaign::{CampaignState, Decision, Tally};
use onboarding_steps::StepName;
use onboarding_steps::run::RunState;
use redis::{AsyncCommands, Script};

use crate::campaigns::CampaignFailure;
use crate::service::{Onboard, now};

/// Runs enqueued per campaign per tick, at most.
pub const PER_TICK: usize = 200;

/// A campaign driver (see the module doc).
#[derive(Clone)]
pub struct Driver {
    /// The service.
    pub onboard: Onboard,
    /// This driver's name (the lease holder; audit actor of its events).
    pub name: String,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
    /// Time between ticks.
    pub tick: Duration,
}

const RENEW: &str = r#"
-- Takes or extends the driver lease. KEYS: lease. ARGV: name, ms.
-- Returns 1 when ARGV[1] holds it now.
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

impl Driver {
    /// A driver with the default lease (10 s) and tick (250 ms).
    pub fn new(onboard: Onboard, name: String) -> Self {
        Self {
            onboard,
            name,
            lease: Duration::from_secs(10),
            tick: Duration::from_millis(250),
        }
    }

    /// Takes or renews the lease; true when this driver holds it.
    pub async fn lead(&self) -> Result<bool, CampaignFailure> {
        let mut conn = self.onboard.credentials.redis.clone();
        let held: i32 = Script::new(RENEW)
            .key(self.onboard.campaign_key("campaigns:driver"))
            .arg(&self.name)
            .arg(self.lease.as_millis() as u64)
            .invoke_async(&mut conn)
            .await?;
        Ok(held == 1)
    }

    /// Gives the lease up (a driver that stops cleanly), if this driver holds it.
    pub async fn release(&self) -> Result<(), CampaignFailure> {
        let mut conn = self.onboard.credentials.redis.clone();
        let key = self.onboard.campaign_key("campaigns:driver");
        let holder: Option<String> = conn.get(&key).await?;
        if holder.as_deref() == Some(self.name.as_str()) {
            let _: () = conn.del(&key).await?;
        }
        Ok(())
    }

    /// Runs until `shutdown` resolves; errors are logged and the next tick tries again.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut every = tokio::time::interval(self.tick);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = every.tick() => {}
            }
            if let Err(e) = self.tick_once().await {
                tracing::warn!(error = %e, "campaign driver tick failed; trying again");
            }
        }
        let _ = self.release().await;
    }

    /// One tick: if this driver leads, moves every active campaign on. Returns whether it
    /// led.
    pub async fn tick_once(&self) -> Result<bool, CampaignFailure> {
        if !self.lead().await? {
            return Ok(false);
        }
        for id in self.onboard.active_campaigns().await? {
            if let Err(e) = self.drive(&id).await {
                tracing::warn!(campaign = %id, error = %e, "campaign not moved on this tick");
            }
        }
        Ok(true)
    }

    /// Moves one campaign on: counts its current wave, decides, and enqueues what the
    /// decision and the pace allow.
    pub async fn drive(&self, id: &str) -> Result<(), CampaignFailure> {
        let svc = &self.onboard;
        // A finished wave lets the next start in the same tick.
        for _ in 0..3 {
            let Some(c) = svc.campaign(id).await? else {
                return Ok(());
            };
            let Some(wave) = c.current_wave().cloned() else {
                // Every wave finished: advance completes the campaign.
                svc.update_campaign(id, |c| Ok(c.advance(Tally::default(), now())))
                    .await?;
                return Ok(());
            };
            if c.state.is_final() {
                return Ok(());
            }
            let ids = svc.campaign_runs(id, wave.first, wave.size).await?;
            let runs = svc.runs_of(&ids).await?;
            let mut tally = Tally::default();
            for (id, run) in ids.iter().zip(&runs) {
                if id.is_none() {
                    continue;
                }
                tally.enqueued += 1;
                match run.as_ref().map(|r| r.state) {
                    Some(RunState::Succeeded) => tally.succeeded += 1,
                    Some(RunState::Failed) => tally.failed += 1,
                    // A recorded run whose record is gone (removed after its retention)
                    // holds its wave no longer: counted as cancelled.
                    Some(RunState::Cancelled) | None => tally.cancelled += 1,
                    Some(RunState::WaitingForOperator) => tally.waiting += 1,
                    Some(_) => {}
                }
            }
            let members = svc.campaign_members(id, wave.first, wave.size).await?;
            let pending: Vec<(usize, Option<String>)> = ids
                .iter()
                .enumerate()
                .filter(|(_, run)| run.is_none())
                .map(|(j, _)| {
                    let zone = members.get(j).and_then(|m| m.z.clone());
                    (wave.first + j, zone)
                })
                .collect();
            let at = now();
            let ((decision, picked), now_c) = svc
                .update_campaign(id, |c| {
                    if c.state != CampaignState::Running {
                        // Paused or halted: the counts still show how the wave stands.
                        if let Some(w) = c.waves.iter_mut().find(|w| w.index == wave.index) {
                            w.tally = tally;
                        }
                        return Ok((Decision::Wait, Vec::new()));
                    }
                    let decision = c.advance(tally, at);
                    let picked = match decision {
                        Decision::Enqueue { .. } => c.pick(&pending, at, PER_TICK),
                        _ => Vec::new(),
                    };
                    Ok((decision, picked))
                })
                .await?;
            if !picked.is_empty() {
                let confirmed = now_c.options.confirm_attested_as.as_deref();
                self.enqueue(id, &picked, confirmed).await?;
            }
            match decision {
                Decision::NextWave => continue,
                Decision::Halted => {
                    tracing::warn!(campaign = %id, "campaign halted itself on its failure rate")
                }
                Decision::Ended => tracing::info!(campaign = %id, "campaign completed"),
                _ => {}
            }
            return Ok(());
        }
        Ok(())
    }

    async fn enqueue(
        &self,
        id: &str,
        picked: &[usize],
        confirmed_by: Option<&str>,
    ) -> Result<(), CampaignFailure> {
        let svc = &self.onboard;
        let mut created = Vec::with_capacity(picked.len());
        for &i in picked {
            let Some(request) = svc.campaign_entry(id, i).await? else {
                // Entries go when the campaign ends: nothing left to enqueue.
                return Ok(());
            };
            let tenant = request.tenant_id.clone();
            let result = svc.enqueue(request, None).await.map_err(|e| {
                CampaignFailure::NotAllowed(format!(
                    "entry {} (tenant {tenant}) was not enqueued: {e}",
                    i + 1
                ))
            })?;
            if let Some(operator) = confirmed_by.filter(|_| result.created) {
                for step in [
                    StepName::ConfirmUnassignedLobVisibility,
                    StepName::ConfirmVendorActive,
                ] {
                    // Steps a run kind does not have are not acknowledged.
                    let _ = svc.acknowledge(&result.run_id, step, operator).await;
                }
            }
            svc.record_campaign_run(id, i, &result.run_id).await?;
            tracing::info!(campaign = %id, entry = i + 1, tenant = %tenant, run = %result.run_id, created = result.created, "campaign run enqueued");
            created.push(result.run_id);
        }
        // An abort that came after the picks were reserved: cancel what was just enqueued.
        if let Some(c) = svc.campaign(id).await? {
            if c.state == CampaignState::Aborted {
                svc.cancel_unstarted(&created, &self.name).await?;
            }
        }
        Ok(())
    }
}
