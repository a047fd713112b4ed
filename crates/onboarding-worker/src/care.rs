//! Continuous care of onboarded tenants: what onboard keeps about a tenant after its
//! onboarding succeeded, so that drift checks (`drift`) and deactivation callouts (the API's
//! `callouts`) can open runs for it later; the drift findings; and the one `repair` run per
//! tenant at a time.
//!
//! - **Care record** (`{prefix}:care:{tenant}`): the last successful `onboard`,
//!   `change_api_user` or `repair` run's tenant name, settings and new API user, whose
//!   credentials are sealed again for the tenant's care (binding run `care`, role `new`).
//!   This is the one exception to "credentials go when their run ends" (`retention`): a
//!   tenant under care keeps its current API user's credentials sealed so it can be
//!   re-verified without anybody handing them in again. `forget_care` removes both.
//! - **Phase** (`{prefix}:care:phases`, a sorted set): each tenant's place in the drift-check
//!   period, in `[0, 1)`, taken from a golden-ratio sequence over registration order, so any
//!   number of tenants lie evenly across the period (`drift`).
//! - **Findings** (`{prefix}:drift`, newest first, the last [`MAX_FINDINGS`]): what a drift
//!   check or a callout found, and the repair run it opened.
//! - **Repairs**: [`Onboard::open_repair`] enqueues a `repair` run with the idempotency key
//!   `repair:{tenant}:{generation}`; the generation moves on (compare-and-set) only once the
//!   run it names has ended, so any number of findings and callouts racing for one tenant
//!   get the same run.
//!
//! What it does not do: no scheduling (`drift`), no HTTP (`onboarding-api`), no decision about
//! what counts as drift (the steps decide; `drift::after_run` maps run outcomes to findings).

use onboarding_steps::run::{Run, RunKind};
use onboarding_steps::{Role, StepName, TenantSettings, Timestamp};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

use crate::secrets::{ApiCredentials, Binding};
use crate::service::{EnqueueRequest, EnqueueResult, Onboard, ServiceError, role_name};

/// Findings kept in `{prefix}:drift` (older ones are trimmed).
pub const MAX_FINDINGS: isize = 1000;

/// The binding's run name of a tenant's care credentials.
const CARE: &str = "care";

/// What onboard keeps about a tenant under care.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareRecord {
    /// The tenant id.
    pub tenant_id: String,
    /// The tenant's name for people.
    pub tenant_name: String,
    /// The settings of the run that registered it.
    pub settings: TenantSettings,
    /// The current API user's username.
    pub user_name: String,
    /// The current API user's resource id, when the run resolved it.
    #[serde(default)]
    pub user_id: Option<i64>,
    /// The sealed credentials' id (binding: tenant, run `care`, role `new`).
    pub credentials: String,
    /// The run that registered (or last refreshed) it.
    pub run_id: String,
    /// When (milliseconds since the epoch).
    pub registered_at: u64,
}

/// A care record as people and clients see it: everything but the sealed credentials' id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CareView<'a> {
    /// The tenant id.
    pub tenant_id: &'a str,
    /// The tenant's name for people.
    pub tenant_name: &'a str,
    /// The settings of the run that registered it.
    pub settings: &'a TenantSettings,
    /// The current API user's username.
    pub user_name: &'a str,
    /// The current API user's resource id, when the run resolved it.
    pub user_id: Option<i64>,
    /// The run that registered (or last refreshed) it.
    pub run_id: &'a str,
    /// When (milliseconds since the epoch).
    pub registered_at: u64,
}

impl CareRecord {
    /// What may be shown of it.
    pub fn view(&self) -> CareView<'_> {
        CareView {
            tenant_id: &self.tenant_id,
            tenant_name: &self.tenant_name,
            settings: &self.settings,
            user_name: &self.user_name,
            user_id: self.user_id,
            run_id: &self.run_id,
            registered_at: self.registered_at,
        }
    }
}

/// Where a finding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingSource {
    /// A scheduled drift check (a `verify` run).
    Schedule,
    /// Autotask's deactivation callout.
    Callout,
}

impl FindingSource {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Callout => "callout",
        }
    }
}

/// What drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// A webhook of ours is deactivated, deleted or changed (fields, URL, excluded user).
    Webhook,
    /// The API user may no longer create webhooks (its security level changed).
    Permission,
    /// The API user is deactivated, locked or otherwise no longer passes verification.
    ApiUser,
    /// Lines of business, zone, budget or field checks.
    Other,
    /// Autotask called a webhook's deactivation URL.
    Deactivated,
}

impl DriftKind {
    /// The kind of drift a failing step shows.
    pub fn of_step(step: StepName) -> Self {
        match step {
            StepName::EnsureWebhooks | StepName::AwaitWebhooksReady => Self::Webhook,
            StepName::VerifyWebhookPermission => Self::Permission,
            StepName::VerifyApiUser => Self::ApiUser,
            _ => Self::Other,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Permission => "permission",
            Self::ApiUser => "api_user",
            Self::Other => "other",
            Self::Deactivated => "deactivated",
        }
    }
}

/// One drift finding, as the API, the CLI and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftFinding {
    /// When (milliseconds since the epoch).
    pub at: u64,
    /// The tenant.
    pub tenant_id: String,
    /// Schedule or callout.
    pub source: FindingSource,
    /// What drifted.
    pub kind: DriftKind,
    /// The step that found it (none for a callout).
    #[serde(default)]
    pub step: Option<StepName>,
    /// What was found, in the step's (or the callout's) words.
    pub detail: String,
    /// The drift check run that found it (none for a callout).
    #[serde(default)]
    pub check_run: Option<String>,
    /// The repair run opened for it (none when the tenant is not under care).
    #[serde(default)]
    pub repair_run: Option<String>,
}

/// The golden-ratio phase of the `n`-th registered tenant: `frac(n × φ⁻¹)`, the
/// low-discrepancy sequence whose first `k` points split `[0, 1)` into gaps of at most three
/// sizes, for every `k`.
pub fn phase(n: u64) -> f64 {
    const INV_PHI: f64 = 0.618_033_988_749_894_9;
    (n as f64 * INV_PHI).fract()
}

impl Onboard {
    fn care_key(&self, tenant: &str) -> String {
        format!("{}:care:{tenant}", self.credentials.prefix)
    }

    /// The sorted set of tenants under care, scored by phase.
    pub fn care_phases_key(&self) -> String {
        format!("{}:care:phases", self.credentials.prefix)
    }

    fn drift_key(&self) -> String {
        format!("{}:drift", self.credentials.prefix)
    }

    fn repair_generation_key(&self, tenant: &str) -> String {
        format!("{}:care:repair:{tenant}", self.credentials.prefix)
    }

    /// Puts the tenant of a succeeded `run` under care (or refreshes it): its new user's
    /// credentials are sealed again for the tenant's care, the record replaces the previous
    /// one (whose credentials go), and a new tenant gets the next phase.
    pub async fn care_register(&self, run: &Run, at: Timestamp) -> Result<(), ServiceError> {
        let tenant = &run.request.tenant_id;
        let Some(reference) = run.request.credentials.get(Role::New) else {
            return Ok(());
        };
        let opened = self
            .credentials
            .get(
                &reference.0,
                &Binding {
                    tenant,
                    run: &run.id,
                    role: role_name(Role::New),
                },
            )
            .await?;
        let sealed = self
            .credentials
            .put(
                &opened,
                &Binding {
                    tenant,
                    run: CARE,
                    role: role_name(Role::New),
                },
            )
            .await?;
        let record = CareRecord {
            tenant_id: tenant.clone(),
            tenant_name: run.request.tenant_name.clone(),
            settings: run.request.settings.clone(),
            user_name: run.request.new_user_name.clone(),
            user_id: run.facts.new_user.map(|u| u.get()),
            credentials: sealed,
            run_id: run.id.clone(),
            registered_at: at.as_millis(),
        };
        let mut conn = self.credentials.redis.clone();
        let json = serde_json::to_string(&record).expect("plain struct serializes");
        let previous: Option<String> = redis::cmd("SET")
            .arg(self.care_key(tenant))
            .arg(json)
            .arg("GET")
            .query_async(&mut conn)
            .await
            .map_err(crate::runs::RunStoreError::from)?;
        if let Some(old) = previous.and_then(|p| serde_json::from_str::<CareRecord>(&p).ok()) {
            self.credentials.delete(&[old.credentials]).await?;
        }
        let known: Option<f64> = conn
            .zscore(self.care_phases_key(), tenant)
            .await
            .map_err(crate::runs::RunStoreError::from)?;
        if known.is_none() {
            let n: u64 = conn
                .incr(format!("{}:care:seq", self.credentials.prefix), 1)
                .await
                .map_err(crate::runs::RunStoreError::from)?;
            let _: () = redis::cmd("ZADD")
                .arg(self.care_phases_key())
                .arg("NX")
                .arg(phase(n))
                .arg(tenant)
                .query_async(&mut conn)
                .await
                .map_err(crate::runs::RunStoreError::from)?;
        }
        Ok(())
    }

    /// The tenant's care record, if it is under care.
    pub async fn care_record(&self, tenant: &str) -> Result<Option<CareRecord>, ServiceError> {
        let mut conn = self.credentials.redis.clone();
        let raw: Option<String> = conn
            .get(self.care_key(tenant))
            .await
            .map_err(crate::runs::RunStoreError::from)?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// Takes the tenant out of care: no more drift checks, its care credentials deleted.
    pub async fn forget_care(&self, tenant: &str) -> Result<bool, ServiceError> {
        let Some(record) = self.care_record(tenant).await? else {
            return Ok(false);
        };
        let mut conn = self.credentials.redis.clone();
        let _: () = conn
            .del(self.care_key(tenant))
            .await
            .map_err(crate::runs::RunStoreError::from)?;
        let _: () = conn
            .zrem(self.care_phases_key(), tenant)
            .await
            .map_err(crate::runs::RunStoreError::from)?;
        self.credentials.delete(&[record.credentials]).await?;
        Ok(true)
    }

    /// Enqueues a `kind` run for a tenant under care with its care credentials (`None` when
    /// the tenant is not under care). `bulk` runs yield to fresh onboarding.
    pub async fn open_care_run(
        &self,
        record: &CareRecord,
        kind: RunKind,
        idempotency_key: String,
        bulk: bool,
    ) -> Result<EnqueueResult, ServiceError> {
        let credentials: ApiCredentials = self
            .credentials
            .get(
                &record.credentials,
                &Binding {
                    tenant: &record.tenant_id,
                    run: CARE,
                    role: role_name(Role::New),
                },
            )
            .await?;
        let request = EnqueueRequest {
            kind,
            tenant_id: record.tenant_id.clone(),
            tenant_name: record.tenant_name.clone(),
            settings: record.settings.clone(),
            new_user: credentials,
            previous_user: None,
            admin: None,
            idempotency_key: Some(idempotency_key),
            dry_run: false,
            bulk,
        };
        self.enqueue(request, None).await
    }

    /// Opens the tenant's `repair` run, or returns the one still going: one repair run per
    /// tenant at a time, however many findings and callouts race. `None` when the tenant is
    /// not under care.
    pub async fn open_repair(&self, tenant: &str) -> Result<Option<EnqueueResult>, ServiceError> {
        let Some(record) = self.care_record(tenant).await? else {
            return Ok(None);
        };
        let mut conn = self.credentials.redis.clone();
        let key = self.repair_generation_key(tenant);
        for _ in 0..3 {
            let generation: u64 = conn
                .get::<_, Option<u64>>(&key)
                .await
                .map_err(crate::runs::RunStoreError::from)?
                .unwrap_or(0);
            let opened = self
                .open_care_run(
                    &record,
                    RunKind::Repair,
                    format!("repair:{tenant}:{generation}"),
                    false,
                )
                .await?;
            let ended = match self.runs.get(&opened.run_id).await? {
                Some(run) => !opened.created && run.state.is_final(),
                None => false,
            };
            if !ended {
                return Ok(Some(opened));
            }
            // That repair has ended: move the generation on (once, whoever races) and open
            // the next.
            let _: i64 = redis::Script::new(
                "local v = tonumber(redis.call('GET', KEYS[1]) or '0') \
                 if v == tonumber(ARGV[1]) then return redis.call('INCR', KEYS[1]) end \
                 return v",
            )
            .key(&key)
            .arg(generation)
            .invoke_async(&mut conn)
            .await
            .map_err(crate::runs::RunStoreError::from)?;
        }
        Err(ServiceError::NotAllowed(format!(
            "tenant {tenant}: could not open a repair run (its repair runs keep ending)"
        )))
    }

    /// Records a finding (newest first, the last [`MAX_FINDINGS`] kept).
    pub async fn record_finding(&self, finding: &DriftFinding) -> Result<(), ServiceError> {
        let mut conn = self.credentials.redis.clone();
        let json = serde_json::to_string(finding).expect("plain struct serializes");
        let _: () = redis::pipe()
            .lpush(self.drift_key(), json)
            .ltrim(self.drift_key(), 0, MAX_FINDINGS - 1)
            .query_async(&mut conn)
            .await
            .map_err(crate::runs::RunStoreError::from)?;
        Ok(())
    }

    /// Findings, newest first: at most `limit`, only `tenant`'s when given.
    pub async fn findings(
        &self,
        tenant: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DriftFinding>, ServiceError> {
        let mut conn = self.credentials.redis.clone();
        let raw: Vec<String> = conn
            .lrange(self.drift_key(), 0, MAX_FINDINGS - 1)
            .await
            .map_err(crate::runs::RunStoreError::from)?;
        Ok(raw
            .iter()
            .filter_map(|r| serde_json::from_str::<DriftFinding>(r).ok())
            .filter(|f| tenant.is_none_or(|t| f.tenant_id == t))
            .take(limit)
            .collect())
    }

    /// Counts a refused deactivation callout (`{prefix}:callouts:refused`).
    pub async fn count_refused_callout(&self) -> Result<u64, ServiceError> {
        let mut conn = self.credentials.redis.clone();
        Ok(conn
            .incr(format!("{}:callouts:refused", self.credentials.prefix), 1)
            .await
            .map_err(crate::runs::RunStoreError::from)?)
    }

    /// Refused deactivation callouts so far.
    pub async fn refused_callouts(&self) -> Result<u64, ServiceError> {
        let mut conn = self.credentials.redis.clone();
        let n: Option<u64> = conn
            .get(format!("{}:callouts:refused", self.credentials.prefix))
            .await
            .map_err(crate::runs::RunStoreError::from)?;
        Ok(n.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_split_the_period_evenly_for_any_count() {
        for count in [1u64, 2, 7, 100, 1000] {
            let mut p: Vec<f64> = (1..=count).map(phase).collect();
            p.sort_by(f64::total_cmp);
            p.push(p[0] + 1.0);
            let widest = p.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
            // The three-gap theorem: no gap wider than about 2.6 / count.
            assert!(widest <= 2.7 / count as f64, "{count}: widest gap {widest}");
        }
    }
}
