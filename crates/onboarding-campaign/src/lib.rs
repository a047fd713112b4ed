//! Campaigns as pure rules: a cohort of tenants run in waves (a canary wave first, then
//! waves of `wave_size`), paced per Autotask zone, halted by itself when a wave's failure
//! rate crosses the threshold, and paused, resumed or aborted by an operator. This crate
//! decides; it stores nothing and enqueues nothing (`onboarding-worker::campaigns` keeps a
//! campaign in Redis and `onboarding-worker::campaign_driver` acts on the decisions). No
//! clock: times come in as arguments.
//!
//! The rules, as written down for the open choices:
//! - **Waves**: wave 0 is the canary (`canary` tenants, when `canary > 0`), then waves of
//!   `wave_size`, in cohort order. A wave starts when the previous one has *finished*: every
//!   run of it ended (succeeded, failed or cancelled). A run waiting for an operator holds its
//!   wave until the operator acknowledges or cancels it.
//! - **Halt**: the failure rate of a wave is `failed / wave size`. As soon as it is above
//!   `max_failure_rate` (it can only grow while the wave runs) the campaign halts, recording
//!   the wave, the rate and the threshold. Runs already enqueued finish; nothing new starts.
//!   `resume` of a halted campaign accepts that wave as it is and goes on.
//! - **Pause** stops new enqueues (runs in flight finish); **resume** continues; **abort**
//!   ends the campaign: nothing more is enqueued and runs not started yet are cancelled.
//! - **Pacing** (`pace_per_min`): at most that many run starts per minute *per zone*. A
//!   tenant's zone comes from the cohort (`zone` on each entry, e.g. `webservices5`); tenants
//!   without one share the zone `unknown`, so they are paced together (never faster than the
//!   pace). Zones are independent: a paced zone does not hold back another zone's tenants.

pub mod report;

use std::collections::BTreeMap;

use onboarding_steps::Timestamp;
use onboarding_steps::run::RunKind;
use serde::{Deserialize, Serialize};

/// A campaign option or transition that does not fit, naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CampaignError(pub String);

/// The most tenants one campaign may hold.
pub const MAX_TENANTS: usize = 100_000;
/// The zone of tenants whose cohort entry names none.
pub const UNKNOWN_ZONE: &str = "unknown";

/// How a campaign runs (what `onboard campaign create` and `POST /v1/campaigns` take).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignOptions {
    /// The run kind for every tenant.
    pub kind: RunKind,
    /// Tenants in the canary wave (0: no canary).
    #[serde(default, deserialize_with = "whole")]
    pub canary: usize,
    /// Tenants per wave after the canary.
    #[serde(default = "default_wave_size", deserialize_with = "whole")]
    pub wave_size: usize,
    /// A wave whose failed runs exceed this share of it halts the campaign (0 to 1).
    #[serde(default = "default_max_failure_rate")]
    pub max_failure_rate: f64,
    /// Run starts per minute per zone (None: unpaced).
    #[serde(default, deserialize_with = "whole_or_null")]
    pub pace_per_min: Option<u32>,
    /// Plan and report only: every run is a dry run.
    #[serde(default)]
    pub dry_run: bool,
    /// The operator who confirmed the attested steps (A12, V1) for every tenant of the
    /// cohort: they are acknowledged as this operator when each run is enqueued (as `onboard
    /// bulk --confirm-attested-as` does). None: each run waits for an acknowledgement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_attested_as: Option<String>,
}

/// A whole number, also written with a zero fraction (`10.0`), as the API's document
/// promises ([`onboarding_steps::settings::whole_number`]), at most `u32::MAX`.
fn whole<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = onboarding_steps::settings::whole_number(d, "")?;
    if v > u64::from(u32::MAX) {
        return Err(serde::de::Error::custom(format!(
            "{v} is more than {}",
            u32::MAX
        )));
    }
    Ok(v as usize)
}

/// [`whole`], or null.
fn whole_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    struct Whole(#[serde(deserialize_with = "whole")] usize);
    Ok(Option::<Whole>::deserialize(d)?.map(|w| w.0 as u32))
}

fn default_wave_size() -> usize {
    100
}
fn default_max_failure_rate() -> f64 {
    0.1
}

impl CampaignOptions {
    /// Checks every option; the error names the option.
    pub fn validate(&self) -> Result<(), CampaignError> {
        let bad = |m: &str| Err(CampaignError(m.to_owned()));
        if self.wave_size == 0 || self.wave_size > MAX_TENANTS {
            return bad("wave_size: must be 1 to 100000");
        }
        if self.canary > MAX_TENANTS {
            return bad("canary: must be at most 100000");
        }
        if !(0.0..=1.0).contains(&self.max_failure_rate) || self.max_failure_rate.is_nan() {
            return bad("max_failure_rate: must be between 0 and 1 (e.g. 0.1 for 10 %)");
        }
        if self.pace_per_min == Some(0) || self.pace_per_min > Some(60_000) {
            return bad("pace: must be 1 to 60000 runs per minute per zone");
        }
        if let Some(who) = &self.confirm_attested_as {
            if who.trim().is_empty() || who.chars().count() > 100 {
                return bad("confirm_attested_as: must be 1 to 100 characters");
            }
        }
        Ok(())
    }
}

/// Parses a pace such as `30/min` (or a bare `30`) into runs per minute.
pub fn parse_pace(text: &str) -> Result<u32, CampaignError> {
    let n = text.trim().strip_suffix("/min").unwrap_or(text.trim());
    match n.trim().parse::<u32>() {
        Ok(n) if (1..=60_000).contains(&n) => Ok(n),
        _ => Err(CampaignError(format!(
            "pace {text:?}: expected N/min with N from 1 to 60000, e.g. 30/min"
        ))),
    }
}

/// Where a campaign is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    /// Waves go on.
    Running,
    /// An operator paused it: nothing new is enqueued.
    Paused,
    /// A wave's failure rate crossed the threshold (see `halt`).
    Halted,
    /// An operator aborted it.
    Aborted,
    /// Every wave finished.
    Completed,
}

impl CampaignState {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Halted => "halted",
            Self::Aborted => "aborted",
            Self::Completed => "completed",
        }
    }
    /// Aborted or completed: nothing will happen any more.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Aborted | Self::Completed)
    }
}

/// Why a campaign halted itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Halt {
    /// The wave (0 = the canary when there is one).
    pub wave: usize,
    /// Failed runs of the wave when it halted.
    pub failed: usize,
    /// The wave's size.
    pub size: usize,
    /// `failed / size`.
    pub rate: f64,
    /// The campaign's `max_failure_rate`.
    pub threshold: f64,
    /// When.
    pub at: Timestamp,
}

impl Halt {
    /// In words.
    pub fn describe(&self) -> String {
        format!(
            "wave {} failed {} of {} runs ({:.1} %), above the threshold of {:.1} %",
            self.wave,
            self.failed,
            self.size,
            self.rate * 100.0,
            self.threshold * 100.0
        )
    }
}

/// Counts of a wave's runs by how they stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Tenants enqueued (a run exists).
    pub enqueued: usize,
    /// Runs that succeeded.
    pub succeeded: usize,
    /// Runs that failed.
    pub failed: usize,
    /// Runs cancelled.
    pub cancelled: usize,
    /// Runs waiting for an operator.
    pub waiting: usize,
}

impl Tally {
    /// Runs that ended.
    pub fn ended(&self) -> usize {
        self.succeeded + self.failed + self.cancelled
    }
}

/// One wave: the cohort entries `first .. first + size`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wave {
    /// 0-based; wave 0 is the canary when the campaign has one.
    pub index: usize,
    /// Is this the canary wave.
    pub canary: bool,
    /// First cohort entry (0-based).
    pub first: usize,
    /// Entries in the wave.
    pub size: usize,
    /// The last counts the driver saw.
    pub tally: Tally,
    /// When its first run was enqueued.
    pub started_at: Option<Timestamp>,
    /// When its last run ended.
    pub finished_at: Option<Timestamp>,
    /// An operator resumed after this wave halted the campaign: its rate no longer halts.
    #[serde(default)]
    pub accepted: bool,
}

/// Splits `tenants` entries into waves: the canary first (if any), then `wave_size` each.
pub fn plan_waves(tenants: usize, canary: usize, wave_size: usize) -> Vec<Wave> {
    let mut waves = Vec::new();
    let mut first = 0;
    let mut push = |first: usize, size: usize, canary: bool| {
        let index = waves.len();
        waves.push(Wave {
            index,
            canary,
            first,
            size,
            tally: Tally::default(),
            started_at: None,
            finished_at: None,
            accepted: false,
        });
    };
    if canary > 0 {
        let size = canary.min(tenants);
        push(0, size, true);
        first = size;
    }
    while first < tenants {
        let size = wave_size.max(1).min(tenants - first);
        push(first, size, false);
        first += size;
    }
    waves
}

/// An event in a campaign's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When.
    pub at: Timestamp,
    /// Who (an operator's name, or `driver`).
    pub actor: String,
    /// What happened.
    pub what: String,
}

/// A campaign as stored (without its cohort, which is kept sealed beside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// Id (a ULID).
    pub id: String,
    /// Who created it.
    pub created_by: String,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed.
    pub updated_at: Timestamp,
    /// Options.
    pub options: CampaignOptions,
    /// State.
    pub state: CampaignState,
    /// Tenants in the cohort.
    pub tenants: usize,
    /// Tenants per zone.
    pub zones: BTreeMap<String, usize>,
    /// The waves.
    pub waves: Vec<Wave>,
    /// Why it halted (the last halt).
    pub halt: Option<Halt>,
    /// Earliest next run start per zone, ms since the epoch (pacing).
    #[serde(default)]
    pub next_start: BTreeMap<String, u64>,
    /// What happened, oldest first.
    pub events: Vec<Event>,
}

impl Campaign {
    /// A running campaign of `zones.len()` tenants (`zones[i]` is entry i's zone).
    pub fn new(
        id: &str,
        options: CampaignOptions,
        zones: &[Option<String>],
        created_by: &str,
        now: Timestamp,
    ) -> Result<Self, CampaignError> {
        options.validate()?;
        if zones.is_empty() {
            return Err(CampaignError("the cohort is empty".into()));
        }
        if zones.len() > MAX_TENANTS {
            return Err(CampaignError(format!(
                "the cohort has {} tenants; a campaign holds at most {MAX_TENANTS}",
                zones.len()
            )));
        }
        let mut per_zone = BTreeMap::new();
        for z in zones {
            *per_zone
                .entry(zone_of(z.as_deref()).to_owned())
                .or_insert(0) += 1;
        }
        Ok(Self {
            id: id.to_owned(),
            created_by: created_by.to_owned(),
            created_at: now,
            updated_at: now,
            waves: plan_waves(zones.len(), options.canary, options.wave_size),
            options,
            state: CampaignState::Running,
            tenants: zones.len(),
            zones: per_zone,
            halt: None,
            next_start: BTreeMap::new(),
            events: vec![Event {
                at: now,
                actor: created_by.to_owned(),
                what: "created".into(),
            }],
        })
    }

    /// The wave in progress (the first not finished), if any.
    pub fn current_wave(&self) -> Option<&Wave> {
        self.waves.iter().find(|w| w.finished_at.is_none())
    }

    fn event(&mut self, at: Timestamp, actor: &str, what: String) {
        self.updated_at = at;
        // Bounded: a campaign of one-tenant waves keeps its newest 1,000 events.
        if self.events.len() >= 1000 {
            self.events.remove(1);
        }
        self.events.push(Event {
            at,
            actor: actor.to_owned(),
            what,
        });
    }

    /// An operator pauses a running campaign.
    pub fn pause(&mut self, operator: &str, at: Timestamp) -> Result<(), CampaignError> {
        self.operator_moves(
            CampaignState::Paused,
            &[CampaignState::Running],
            operator,
            at,
        )
    }

    /// An operator resumes a paused or halted campaign (a halted wave is accepted as it is).
    pub fn resume(&mut self, operator: &str, at: Timestamp) -> Result<(), CampaignError> {
        let halted = self.state == CampaignState::Halted;
        self.operator_moves(
            CampaignState::Running,
            &[CampaignState::Paused, CampaignState::Halted],
            operator,
            at,
        )?;
        if halted {
            if let Some(w) = self.halt.as_ref().map(|h| h.wave) {
                self.waves[w].accepted = true;
            }
        }
        Ok(())
    }

    /// An operator aborts the campaign (the caller cancels the runs not started).
    pub fn abort(&mut self, operator: &str, at: Timestamp) -> Result<(), CampaignError> {
        self.operator_moves(
            CampaignState::Aborted,
            &[
                CampaignState::Running,
                CampaignState::Paused,
                CampaignState::Halted,
            ],
            operator,
            at,
        )
    }

    fn operator_moves(
        &mut self,
        to: CampaignState,
        from: &[CampaignState],
        operator: &str,
        at: Timestamp,
    ) -> Result<(), CampaignError> {
        if !from.contains(&self.state) {
            return Err(CampaignError(format!(
                "campaign {} is {}; it cannot be {}",
                self.id,
                self.state.as_str(),
                match to {
                    CampaignState::Running => "resumed",
                    CampaignState::Paused => "paused",
                    _ => "aborted",
                }
            )));
        }
        self.state = to;
        self.event(at, operator, to.as_str().to_owned());
        Ok(())
    }

    /// What the driver does next with the current wave, given its counts now.
    /// Records the counts; finishes the wave, halts or completes the campaign as the rules
    /// say (see the crate doc).
    pub fn advance(&mut self, tally: Tally, now: Timestamp) -> Decision {
        if self.state != CampaignState::Running {
            return Decision::Wait;
        }
        let threshold = self.options.max_failure_rate;
        let Some(i) = self.waves.iter().position(|w| w.finished_at.is_none()) else {
            self.state = CampaignState::Completed;
            self.event(now, "driver", "completed".into());
            return Decision::Ended;
        };
        let wave = &mut self.waves[i];
        wave.tally = tally;
        let rate = tally.failed as f64 / wave.size as f64;
        if !wave.accepted && rate > threshold {
            let halt = Halt {
                wave: i,
                failed: tally.failed,
                size: wave.size,
                rate,
                threshold,
                at: now,
            };
            self.state = CampaignState::Halted;
            let what = format!("halted: {}", halt.describe());
            self.halt = Some(halt);
            self.event(now, "driver", what);
            return Decision::Halted;
        }
        if tally.enqueued < wave.size {
            if wave.started_at.is_none() {
                wave.started_at = Some(now);
                let what = format!(
                    "wave {i}{} started ({} tenants)",
                    if wave.canary { " (canary)" } else { "" },
                    wave.size
                );
                self.event(now, "driver", what);
            }
            return Decision::Enqueue { wave: i };
        }
        if tally.ended() < wave.size {
            return Decision::Wait;
        }
        wave.finished_at = Some(now);
        let what = format!(
            "wave {i} finished: {} succeeded, {} failed, {} cancelled",
            tally.succeeded, tally.failed, tally.cancelled
        );
        self.event(now, "driver", what);
        if self.waves.iter().all(|w| w.finished_at.is_some()) {
            self.state = CampaignState::Completed;
            self.event(now, "driver", "completed".into());
            return Decision::Ended;
        }
        Decision::NextWave
    }

    /// Of `pending` (entry index, zone), those that may start now under the pace, at most
    /// `limit`; their zones' next start times move on. Unpaced: the first `limit`.
    pub fn pick(
        &mut self,
        pending: &[(usize, Option<String>)],
        now: Timestamp,
        limit: usize,
    ) -> Vec<usize> {
        let Some(pace) = self.options.pace_per_min else {
            return pending.iter().take(limit).map(|(i, _)| *i).collect();
        };
        let gap = (60_000 / u64::from(pace.max(1))).max(1);
        let now = now.as_millis();
        let mut out = Vec::new();
        for (i, zone) in pending {
            if out.len() >= limit {
                break;
            }
            let zone = zone_of(zone.as_deref()).to_owned();
            let next = self.next_start.get(&zone).copied().unwrap_or(0);
            if next <= now {
                // A zone idle for a while banks no starts: the next one is a gap after this.
                self.next_start.insert(zone, now + gap);
                out.push(*i);
            }
        }
        out
    }
}

/// A tenant's zone for pacing.
pub fn zone_of(zone: Option<&str>) -> &str {
    zone.filter(|z| !z.trim().is_empty())
        .unwrap_or(UNKNOWN_ZONE)
}

/// What the driver does after [`Campaign::advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Enqueue pending entries of this wave (as the pace allows).
    Enqueue {
        /// The wave.
        wave: usize,
    },
    /// The wave finished; the next one starts (advance again).
    NextWave,
    /// Nothing to do now (paused, halted, or runs in flight).
    Wait,
    /// The campaign halted itself.
    Halted,
    /// Every wave finished.
    Ended,
}

#[cfg(test)]
mod tests;
