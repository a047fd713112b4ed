//! Campaigns in Redis: creating one (the whole cohort checked first, then stored in one
//! transaction), reading, the operator actions pause, resume and abort, and the report.
//! The rules (waves, halt, pacing) are `onboarding-campaign`'s; the driver that enqueues
//! waves is `campaign_driver`.
//!
//! Keys (prefix `p`, hash-tagged like the run keys):
//! - `{p}:campaign:{id}` hash `doc` (the [`Campaign`] as JSON, no secret) + `ver`;
//! - `{p}:campaign:{id}:entries` hash entry index → the entry's enqueue request, **sealed**
//!   (it holds API secrets) with the deployment's key, bound to campaign and index; deleted
//!   when the campaign completes or is aborted (its runs hold their own sealed credentials);
//! - `{p}:campaign:{id}:tenants` list of `{"t": tenant, "z": zone}` in cohort order;
//! - `{p}:campaign:{id}:runs` hash entry index → run id (written right after the enqueue);
//! - `{p}:campaigns` zset of ids by creation time; `{p}:campaigns:active` set of the ids a
//!   driver still looks at (not completed, not aborted).
//!
//! No tenant is enqueued twice: entry `i`'s run has the idempotency key `campaign:{id}:{i}`,
//! so enqueueing it again (a driver that crashed between the enqueue and recording the run)
//! returns the same run. A cohort entry's own `idempotency_key` is replaced by it.
//!
//! `onboard rekey` re-seals the entries of campaigns still running (`rekey`).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use onboarding_campaign::report::{self, FailureGroup, Row};
use onboarding_campaign::{Campaign, CampaignOptions, MAX_TENANTS, zone_of};
use onboarding_steps::run::{Run, RunState, StepState};
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};

use crate::runs::load_versioned;
use crate::service::{EnqueueRequest, Onboard, ServiceError, now};

/// Campaign failures, each naming what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum CampaignFailure {
    /// The options or the cohort are invalid (names the option, or the entry and field);
    /// nothing was stored.
    #[error("{0}")]
    Invalid(String),
    /// No such campaign.
    #[error("no campaign with id {0}")]
    NotFound(String),
    /// The action does not fit the campaign's state.
    #[error("{0}")]
    NotAllowed(String),
    /// A stored record does not parse.
    #[error("campaign {id} is stored in a form this version cannot read: {message}")]
    Corrupt {
        /// The campaign.
        id: String,
        /// Why.
        message: String,
    },
    /// Redis failed.
    #[error("the campaign store's Redis request failed")]
    Redis(#[from] redis::RedisError),
    /// Enqueueing or cancelling a run failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// One cohort entry: an enqueue request and, optionally, the tenant's Autotask zone for
/// pacing (e.g. `webservices5`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CohortEntry {
    /// The request (its `kind`, `dry_run`, `bulk` and `idempotency_key` are the campaign's; a
    /// cohort file or body may leave `kind` out).
    #[serde(flatten)]
    pub request: EnqueueRequest,
    /// The tenant's zone (pacing); tenants without one share the zone `unknown`.
    #[serde(default)]
    pub zone: Option<String>,
}

/// Parses one cohort entry from JSON; `at` names it in errors (`entry 3`, `line 3`). Its
/// `kind` may be left out (the campaign's applies).
pub fn parse_entry(json: &str, at: &str) -> Result<CohortEntry, String> {
    let mut value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("{at}: {e}"))?;
    // An entry may leave out its kind: the campaign's replaces it (`check_campaign`).
    if let Some(o) = value.as_object_mut() {
        o.entry("kind")
            .or_insert_with(|| serde_json::Value::from("verify"));
    }
    let zone = match value.as_object_mut().and_then(|o| o.remove("zone")) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(z)) => Some(z),
        Some(_) => {
            return Err(format!(
                "{at}: zone: expected a string such as webservices5"
            ));
        }
    };
    let request = serde_path_to_error::deserialize::<_, EnqueueRequest>(value)
        .map_err(|e| format!("{at}: {} at {}", e.inner(), e.path()))?;
    Ok(CohortEntry { request, zone })
}

/// Parses a cohort file's text: a JSON array of entries, or one entry per line (the format
/// `onboard bulk` reads, plus the optional `zone`). An error names the entry or line.
pub fn parse_cohort(text: &str) -> Result<Vec<CohortEntry>, String> {
    let entries = if text.trim_start().starts_with('[') {
        let items: Vec<serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| format!("the cohort is not a JSON array: {e}"))?;
        items
            .iter()
            .enumerate()
            .map(|(i, v)| parse_entry(&v.to_string(), &format!("entry {}", i + 1)))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| parse_entry(l, &format!("line {}", i + 1)))
            .collect::<Result<Vec<_>, _>>()?
    };
    if entries.is_empty() {
        return Err("the cohort is empty".into());
    }
    Ok(entries)
}

/// A tenant of a campaign as listed (no secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Member {
    /// The tenant.
    pub t: String,
    /// Its zone, if the cohort named one.
    #[serde(default)]
    pub z: Option<String>,
}

/// A campaign's report: the campaign, a row per tenant and the failures grouped.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignReport {
    /// The campaign.
    pub campaign: Campaign,
    /// One row per tenant, in cohort order.
    pub tenants: Vec<Row>,
    /// Failed runs by step and error class.
    pub failures: Vec<FailureGroup>,
}

const UPDATE: &str = r#"
-- Compare-and-set of a campaign record. KEYS: campaign, active set.
-- ARGV: expected ver, doc, id, final (1: drop from the active set).
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'ver', tonumber(ARGV[1]) + 1)
if ARGV[4] == '1' then redis.call('SREM', KEYS[2], ARGV[3]) end
return 1
"#;
static UPDATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(UPDATE));

/// The idempotency key of entry `index`'s run.
pub fn entry_key(campaign: &str, index: usize) -> String {
    format!("campaign:{campaign}:{index}")
}

impl Onboard {
    pub(crate) fn campaign_key(&self, rest: &str) -> String {
        format!("{{{}}}:{rest}", self.credentials.prefix)
    }

    pub(crate) fn entry_aad(&self, campaign: &str, index: usize) -> Vec<u8> {
        format!("{}:campaign:{campaign}:{index}", self.credentials.prefix).into_bytes()
    }

    /// Checks a campaign whole: options and every entry as `enqueue` would (the run kind,
    /// dry run and idempotency key being the campaign's), a tenant at most once. The error
    /// names the option, or the entry (1-based), its tenant and the field.
    pub fn check_campaign(
        id: &str,
        options: &CampaignOptions,
        cohort: &mut [CohortEntry],
    ) -> Result<(), CampaignFailure> {
        options
            .validate()
            .map_err(|e| CampaignFailure::Invalid(e.0))?;
        if cohort.len() > MAX_TENANTS {
            return Err(CampaignFailure::Invalid(format!(
                "the cohort has {} tenants; a campaign holds at most {MAX_TENANTS}",
                cohort.len()
            )));
        }
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, e) in cohort.iter_mut().enumerate() {
            let r = &mut e.request;
            r.kind = options.kind;
            r.dry_run = options.dry_run;
            r.bulk = true;
            // The entry's own key is replaced, but a bad one is still refused, as everywhere.
            let own_key_ok = r
                .idempotency_key
                .as_ref()
                .is_none_or(|k| !k.is_empty() && k.chars().count() <= 200);
            r.idempotency_key = Some(entry_key(id, i));
            let name = |msg: &str| {
                CampaignFailure::Invalid(format!(
                    "entry {} (tenant {}): {msg}; nothing was stored",
                    i + 1,
                    r.tenant_id
                ))
            };
            if !own_key_ok {
                return Err(name("idempotency_key: must be 1 to 200 characters"));
            }
            r.validate("check").map_err(|e| name(&e.to_string()))?;
            if e.zone.as_ref().is_some_and(|z| z.chars().count() > 100) {
                return Err(name("zone: must be at most 100 characters"));
            }
            if let Some(first) = seen.insert(r.tenant_id.clone(), i + 1) {
                return Err(name(&format!(
                    "the tenant is already entry {first}; a campaign runs a tenant once"
                )));
            }
        }
        Ok(())
    }

    /// Creates a campaign: checks it whole ([`Onboard::check_campaign`]; a bad entry stores
    /// nothing), then stores the campaign, its sealed entries and its tenant list in one
    /// transaction. The driver starts its first wave.
    pub async fn create_campaign(
        &self,
        options: CampaignOptions,
        mut cohort: Vec<CohortEntry>,
        operator: &str,
    ) -> Result<Campaign, CampaignFailure> {
        let id = ulid::Ulid::generate().to_string();
        Self::check_campaign(&id, &options, &mut cohort)?;
        let zones: Vec<Option<String>> = cohort.iter().map(|e| e.zone.clone()).collect();
        let campaign = Campaign::new(&id, options, &zones, operator, now())
            .map_err(|e| CampaignFailure::Invalid(e.0))?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        let entries = self.campaign_key(&format!("campaign:{id}:entries"));
        let tenants = self.campaign_key(&format!("campaign:{id}:tenants"));
        for chunk in cohort.chunks(1000).enumerate() {
            let (c, entries_chunk) = chunk;
            let mut sealed = Vec::with_capacity(entries_chunk.len());
            let mut members = Vec::with_capacity(entries_chunk.len());
            for (j, e) in entries_chunk.iter().enumerate() {
                let i = c * 1000 + j;
                let plain = serde_json::to_vec(&e.request).expect("requests serialize");
                sealed.push((
                    i,
                    self.credentials
                        .sealer
                        .seal(&self.entry_aad(&id, i), &plain),
                ));
                let m = Member {
                    t: e.request.tenant_id.clone(),
                    z: e.zone.clone(),
                };
                members.push(serde_json::to_string(&m).expect("members serialize"));
            }
            pipe.hset_multiple(&entries, &sealed).ignore();
            pipe.rpush(&tenants, members).ignore();
        }
        let doc = serde_json::to_string(&campaign).expect("campaigns serialize");
        pipe.hset_multiple(
            self.campaign_key(&format!("campaign:{id}")),
            &[("doc", doc), ("ver", "1".to_owned())],
        )
        .ignore();
        pipe.zadd(
            self.campaign_key("campaigns"),
            &id,
            campaign.created_at.as_millis(),
        )
        .ignore();
        pipe.sadd(self.campaign_key("campaigns:active"), &id)
            .ignore();
        let mut conn = self.credentials.redis.clone();
        let () = pipe.query_async(&mut conn).await?;
        tracing::info!(campaign = %id, tenants = campaign.tenants, "campaign created");
        Ok(campaign)
    }

    async fn load_campaign(&self, id: &str) -> Result<Option<(Campaign, u64)>, CampaignFailure> {
        let mut conn = self.credentials.redis.clone();
        let key = self.campaign_key(&format!("campaign:{id}"));
        let Some((doc, ver)) = load_versioned(&mut conn, key).await? else {
            return Ok(None);
        };
        let campaign = serde_json::from_str(&doc).map_err(|e| CampaignFailure::Corrupt {
            id: id.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Some((campaign, ver)))
    }

    /// One campaign.
    pub async fn campaign(&self, id: &str) -> Result<Option<Campaign>, CampaignFailure> {
        Ok(self.load_campaign(id).await?.map(|(c, _)| c))
    }

    /// Campaigns, newest first, paged.
    pub async fn campaigns(
        &self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Campaign>, CampaignFailure> {
        let mut conn = self.credentials.redis.clone();
        let ids: Vec<String> = conn
            .zrevrange(
                self.campaign_key("campaigns"),
                offset as isize,
                (offset + limit.max(1) - 1) as isize,
            )
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.campaign(&id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// The ids of campaigns not completed nor aborted.
    pub async fn active_campaigns(&self) -> Result<Vec<String>, CampaignFailure> {
        let mut conn = self.credentials.redis.clone();
        Ok(conn.smembers(self.campaign_key("campaigns:active")).await?)
    }

    /// Applies `change` and stores the campaign atomically (re-reading and re-applying when
    /// another writer got there first). A campaign that became final leaves the active set
    /// and loses its sealed entries.
    pub async fn update_campaign<T>(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Campaign) -> Result<T, CampaignFailure>,
    ) -> Result<(T, Campaign), CampaignFailure> {
        for _ in 0..50 {
            let (mut c, ver) = self
                .load_campaign(id)
                .await?
                .ok_or_else(|| CampaignFailure::NotFound(id.to_owned()))?;
            let value = change(&mut c)?;
            let doc = serde_json::to_string(&c).expect("campaigns serialize");
            let mut conn = self.credentials.redis.clone();
            let written: i32 = UPDATE_SCRIPT
                .key(self.campaign_key(&format!("campaign:{id}")))
                .key(self.campaign_key("campaigns:active"))
                .arg(ver)
                .arg(doc)
                .arg(id)
                .arg(if c.state.is_final() { "1" } else { "0" })
                .invoke_async(&mut conn)
                .await?;
            if written == 1 {
                if c.state.is_final() {
                    let _: () = conn
                        .del(self.campaign_key(&format!("campaign:{id}:entries")))
                        .await?;
                }
                return Ok((value, c));
            }
        }
        Err(CampaignFailure::NotAllowed(format!(
            "campaign {id} changed concurrently too often; try again"
        )))
    }

    /// An operator pauses a campaign: nothing new is enqueued; runs in flight finish.
    pub async fn pause_campaign(
        &self,
        id: &str,
        operator: &str,
    ) -> Result<Campaign, CampaignFailure> {
        let at = now();
        let ((), c) = self
            .update_campaign(id, |c| {
                c.pause(operator, at)
                    .map_err(|e| CampaignFailure::NotAllowed(e.0))
            })
            .await?;
        Ok(c)
    }

    /// An operator resumes a paused or halted campaign.
    pub async fn resume_campaign(
        &self,
        id: &str,
        operator: &str,
    ) -> Result<Campaign, CampaignFailure> {
        let at = now();
        let ((), c) = self
            .update_campaign(id, |c| {
                c.resume(operator, at)
                    .map_err(|e| CampaignFailure::NotAllowed(e.0))
            })
            .await?;
        Ok(c)
    }

    /// An operator aborts a campaign: nothing more is enqueued and its runs that have not
    /// started are cancelled (runs in flight finish their step). Returns the campaign and
    /// how many runs were cancelled.
    pub async fn abort_campaign(
        &self,
        id: &str,
        operator: &str,
    ) -> Result<(Campaign, usize), CampaignFailure> {
        let at = now();
        let ((), c) = self
            .update_campaign(id, |c| {
                c.abort(operator, at)
                    .map_err(|e| CampaignFailure::NotAllowed(e.0))
            })
            .await?;
        let runs: Vec<String> = {
            let mut conn = self.credentials.redis.clone();
            conn.hvals(self.campaign_key(&format!("campaign:{id}:runs")))
                .await?
        };
        let cancelled = self.cancel_unstarted(&runs, operator).await?;
        Ok((c, cancelled))
    }

    /// Cancels those of `runs` that have not started a step yet; returns how many.
    pub(crate) async fn cancel_unstarted(
        &self,
        runs: &[String],
        operator: &str,
    ) -> Result<usize, CampaignFailure> {
        let mut n = 0;
        for id in runs {
            let Some(run) = self.runs.get(id).await.map_err(ServiceError::from)? else {
                continue;
            };
            if not_started(&run) && self.cancel(id, operator).await.is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// The tenants of entries `first .. first + n` (cohort order).
    pub(crate) async fn campaign_members(
        &self,
        id: &str,
        first: usize,
        n: usize,
    ) -> Result<Vec<Member>, CampaignFailure> {
        let mut conn = self.credentials.redis.clone();
        let raw: Vec<String> = conn
            .lrange(
                self.campaign_key(&format!("campaign:{id}:tenants")),
                first as isize,
                (first + n.max(1) - 1) as isize,
            )
            .await?;
        raw.iter()
            .map(|m| {
                serde_json::from_str(m).map_err(|e| CampaignFailure::Corrupt {
                    id: id.to_owned(),
                    message: e.to_string(),
                })
            })
            .collect()
    }

    /// The run ids of entries `first .. first + n` (None: not enqueued yet).
    pub(crate) async fn campaign_runs(
        &self,
        id: &str,
        first: usize,
        n: usize,
    ) -> Result<Vec<Option<String>>, CampaignFailure> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.credentials.redis.clone();
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.campaign_key(&format!("campaign:{id}:runs")));
        for i in first..first + n {
            cmd.arg(i);
        }
        Ok(cmd.query_async(&mut conn).await?)
    }

    /// The runs of `ids` (absent ones as None), read concurrently.
    pub(crate) async fn runs_of(
        &self,
        ids: &[Option<String>],
    ) -> Result<Vec<Option<Run>>, CampaignFailure> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(64) {
            let reads = chunk.iter().map(|id| async move {
                match id {
                    Some(id) => self.runs.get(id).await,
                    None => Ok(None),
                }
            });
            for r in futures::future::join_all(reads).await {
                out.push(r.map_err(ServiceError::from)?);
            }
        }
        Ok(out)
    }

    /// Opens entry `index`'s sealed request.
    pub(crate) async fn campaign_entry(
        &self,
        id: &str,
        index: usize,
    ) -> Result<Option<EnqueueRequest>, CampaignFailure> {
        let mut conn = self.credentials.redis.clone();
        let sealed: Option<Vec<u8>> = conn
            .hget(self.campaign_key(&format!("campaign:{id}:entries")), index)
            .await?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let aad = self.entry_aad(id, index);
        let record = format!("campaign {id} entry {}", index + 1);
        let plain = self
            .credentials
            .sealer
            .open(&aad, &aad, &sealed, &record)
            .map_err(|e| CampaignFailure::Service(ServiceError::Secrets(e)))?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|e| CampaignFailure::Corrupt {
                id: id.to_owned(),
                message: format!("entry {}: {e}", index + 1),
            })
    }

    /// Records entry `index`'s run.
    pub(crate) async fn record_campaign_run(
        &self,
        id: &str,
        index: usize,
        run: &str,
    ) -> Result<(), CampaignFailure> {
        let mut conn = self.credentials.redis.clone();
        let _: i64 = conn
            .hset(
                self.campaign_key(&format!("campaign:{id}:runs")),
                index,
                run,
            )
            .await?;
        Ok(())
    }

    /// The report: a row per tenant (its run, how it ended, what changed, why it failed)
    /// and the failures grouped by step and error class.
    pub async fn campaign_report(&self, id: &str) -> Result<CampaignReport, CampaignFailure> {
        let campaign = self
            .campaign(id)
            .await?
            .ok_or_else(|| CampaignFailure::NotFound(id.to_owned()))?;
        let members = self.campaign_members(id, 0, campaign.tenants).await?;
        let ids = self.campaign_runs(id, 0, campaign.tenants).await?;
        let runs = self.runs_of(&ids).await?;
        let mut tenants = Vec::with_capacity(members.len());
        for w in &campaign.waves {
            for i in w.first..w.first + w.size {
                let (Some(m), Some(run)) = (members.get(i), runs.get(i)) else {
                    continue;
                };
                tenants.push(report::row(
                    i,
                    w.index,
                    &m.t,
                    zone_of(m.z.as_deref()),
                    run.as_ref(),
                ));
            }
        }
        let failures = report::failures(&tenants);
        Ok(CampaignReport {
            campaign,
            tenants,
            failures,
        })
    }
}

/// A run that has not started any step.
fn not_started(run: &Run) -> bool {
    run.state == RunState::Queued && run.steps.iter().all(|s| s.state == StepState::Pending)
}
