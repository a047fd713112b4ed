//! The onboard service: what upstream systems and operators call. Enqueueing a run
//! (idempotent by key, secrets sealed before anything is stored), and the operator actions
//! acknowledge, retry and cancel, each an audit event with the operator's name. A run's
//! sealed credentials go when it succeeds or is cancelled (`retention`).
//!
//! Each step of a run is one queue job in the tenant's group. A job is enqueued with an
//! idempotency key `{run}:{step}:{generation}` (the generation counts operator actions that
//! re-schedule work), so scheduling the same step twice — after a crash between recording
//! and acknowledging, or by two racing operators — stores one job.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use autotask_client::{AutotaskClient, Credentials};
use onboarding_queue::{DeadFilter, DeadLetter, JobId, NewJob, Priority, Queue, QueueError};
use onboarding_steps::payload::{CredentialRef, JobPayload, TraceContext};
use onboarding_steps::retry::StepSchedule;
use onboarding_steps::run::{Actor, Run, RunCredentials, RunKind, RunRequest, RunState, StepState};
use onboarding_steps::{Role, StepName, TenantSettings, Timestamp};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::runs::{Created, RunStore, RunStoreError};
pub use crate::secrets::ApiCredentials;
use crate::secrets::{Binding, CredentialStore, SecretsError, WebhookSecrets};

/// Failures of the service's operations, each naming what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is invalid (names the field).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The idempotency key belongs to a different request.
    #[error("idempotency key {key} already names run {run} for a different request")]
    Conflict {
        /// The key.
        key: String,
        /// The existing run.
        run: String,
    },
    /// No such run.
    #[error("no run with id {0}")]
    NotFound(String),
    /// The action does not fit the run's state.
    #[error("{0}")]
    NotAllowed(String),
    /// The run store failed.
    #[error(transparent)]
    Runs(#[from] RunStoreError),
    /// The credential store failed.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The queue failed.
    #[error("the step queue failed")]
    Queue(#[from] QueueError),
}

/// A request to run onboarding for a tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnqueueRequest {
    /// What to do.
    pub kind: RunKind,
    /// Tenant id (letters, digits, `-`, `_`).
    pub tenant_id: String,
    /// Tenant name for people.
    #[serde(default)]
    pub tenant_name: String,
    /// Tenant settings.
    pub settings: TenantSettings,
    /// The (new) API user.
    pub new_user: ApiCredentials,
    /// The previous API user (change of user, cleanup).
    #[serde(default)]
    pub previous_user: Option<ApiCredentials>,
    /// Admin credentials that may PATCH `Resources.isActive`.
    #[serde(default)]
    pub admin: Option<ApiCredentials>,
    /// Same key + same request → the same run; same key + another request → conflict.
    /// Default: derived from the request.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Plan and report, change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Bulk campaigns yield to fresh work.
    #[serde(default)]
    pub bulk: bool,
}

/// What an enqueue did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnqueueResult {
    /// The run.
    pub run_id: String,
    /// False when the idempotency key found an existing run.
    pub created: bool,
    /// The run's trace id.
    pub trace_id: Option<String>,
}

/// The service: run records, sealed credentials, the queue and the Autotask client.
#[derive(Clone)]
pub struct Onboard {
    /// Run records.
    pub runs: RunStore,
    /// Sealed API credentials.
    pub credentials: CredentialStore,
    /// Sealed webhook secrets.
    pub webhook_secrets: WebhookSecrets,
    /// Scoped API tokens.
    pub tokens: crate::tokens::TokenStore,
    /// The step queue.
    pub queue: Queue,
    /// The Autotask client (shared limits plugged in).
    pub client: AutotaskClient,
    /// Retry schedules.
    pub policy: StepSchedule,
    /// The deployment's `deactivation_url_base`: runs whose settings name none get it.
    pub deactivation_url_base: Option<String>,
}

impl EnqueueRequest {
    /// Checks the whole request without storing anything, as `enqueue` does first (a cohort
    /// is checked whole with it before any entry is enqueued): the run it would become (its
    /// settings and every maximum length), the credentials (none empty; integration code and
    /// username at most 100 characters, secret at most 200) and the idempotency key (1 to 200
    /// characters). Returns the run with id `id` (credential references not yet filled in)
    /// and the idempotency key.
    pub fn validate(&self, id: &str) -> Result<(Run, String), ServiceError> {
        let placeholder =
            |r: &Option<ApiCredentials>| r.as_ref().map(|_| CredentialRef(String::new()));
        let run_request = RunRequest {
            kind: self.kind,
            tenant_id: self.tenant_id.clone(),
            tenant_name: if self.tenant_name.is_empty() {
                self.tenant_id.clone()
            } else {
                self.tenant_name.clone()
            },
            settings: self.settings.clone(),
            new_user_name: self.new_user.username.clone(),
            previous_user_name: self.previous_user.as_ref().map(|p| p.username.clone()),
            credentials: RunCredentials {
                new: CredentialRef(String::new()),
                previous: placeholder(&self.previous_user),
                admin: placeholder(&self.admin),
            },
            dry_run: self.dry_run,
        };
        // Validates the request (credential references are filled in once sealed).
        let run = Run::new(id, "pending", run_request, TraceContext::default(), now())
            .map_err(|e| ServiceError::Invalid(e.to_string()))?;
        for (field, c) in [
            ("new_user", Some(&self.new_user)),
            ("previous_user", self.previous_user.as_ref()),
            ("admin", self.admin.as_ref()),
        ] {
            let Some(c) = c else { continue };
            for (name, value, max) in [
                ("integration_code", &c.integration_code, 100),
                ("username", &c.username, 100),
                ("secret", &c.secret, 200),
            ] {
                if value.trim().is_empty() {
                    return Err(ServiceError::Invalid(format!(
                        "{field}.{name}: must not be empty"
                    )));
                }
                if value.chars().count() > max {
                    return Err(ServiceError::Invalid(format!(
                        "{field}.{name}: must be at most {max} characters"
                    )));
                }
            }
        }
        let key = self
            .idempotency_key
            .clone()
            .unwrap_or_else(|| format!("auto-{}", fingerprint(self)));
        if key.is_empty() || key.chars().count() > 200 {
            return Err(ServiceError::Invalid(
                "idempotency_key: must be 1 to 200 characters".into(),
            ));
        }
        Ok((run, key))
    }
}

impl Onboard {
    /// The same service, giving runs that name no `deactivation_url_base` this one.
    pub fn with_deactivation_url_base(mut self, base: Option<String>) -> Self {
        self.deactivation_url_base = base;
        self
    }
}

/// Now, as the step crate's timestamp.
pub fn now() -> Timestamp {
    Timestamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    )
}

/// A timestamp as a system time.
pub fn system_time(t: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(t.as_millis())
}

/// A role as sealed records and messages name it.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::New => "new",
        Role::Previous => "previous",
        Role::Admin => "admin",
    }
}

/// How many operator actions re-scheduled work in this run (part of job idempotency keys).
pub fn generation(run: &Run) -> usize {
    run.audit
        .iter()
        .filter(|e| matches!(e.actor, Actor::Operator(_)))
        .count()
}

impl Onboard {
    /// Enqueues a run: validates, seals the credentials, stores the run (idempotently) and
    /// schedules its first step. `traceparent` joins the caller's trace.
    pub async fn enqueue(
        &self,
        mut request: EnqueueRequest,
        traceparent: Option<&str>,
    ) -> Result<EnqueueResult, ServiceError> {
        if request.settings.deactivation_url_base.is_none() {
            request.settings.deactivation_url_base = self.deactivation_url_base.clone();
        }
        let (mut run, key) = request.validate(&run_id())?;
        let id = run.id.clone();
        let at = run.created_at;
        let fingerprint = fingerprint(&request);

        let span = tracing::info_span!("onboard.enqueue", tenant.id = %request.tenant_id, run.id = tracing::field::Empty, run.kind = ?request.kind);
        if let Some(parent) = traceparent {
            onboarding_telemetry::set_parent(&span, parent);
        }
        // Without a tracing subscriber (a CLI call) the span has no context: the run still
        // gets a trace of its own (or the caller's), so its steps share one trace id.
        let trace = onboarding_telemetry::traceparent(&span)
            .or_else(|| Some(new_traceparent(traceparent)))
            .and_then(|tp| TraceContext::parse(&tp).ok())
            .unwrap_or_default();
        span.record("run.id", id.as_str());
        run.idempotency_key = key.clone();
        run.trace = trace;
        run.bulk = request.bulk;

        let tenant = request.tenant_id.clone();
        let seal = |c: &ApiCredentials, role: Role| {
            let credentials = c.clone();
            let (store, tenant, run) = (self.credentials.clone(), tenant.clone(), id.clone());
            async move {
                let binding = Binding {
                    tenant: &tenant,
                    run: &run,
                    role: role_name(role),
                };
                store.put(&credentials, &binding).await
            }
        };
        let credentials = &mut run.request.credentials;
        let mut sealed = vec![seal(&request.new_user, Role::New).await?];
        credentials.new = CredentialRef(sealed[0].clone());
        if let Some(p) = &request.previous_user {
            let id = seal(p, Role::Previous).await?;
            credentials.previous = Some(CredentialRef(id.clone()));
            sealed.push(id);
        }
        if let Some(a) = &request.admin {
            let id = seal(a, Role::Admin).await?;
            credentials.admin = Some(CredentialRef(id.clone()));
            sealed.push(id);
        }

        let first = run.next_step(at, Actor::System);
        let (run_id, created) = match self.runs.create(&run, &fingerprint).await? {
            Created::New => (id, true),
            Created::Existing(existing) => {
                self.credentials.delete(&sealed).await?;
                (existing, false)
            }
            Created::Conflict(existing) => {
                self.credentials.delete(&sealed).await?;
                return Err(ServiceError::Conflict { key, run: existing });
            }
        };
        let run = if created {
            run
        } else {
            self.runs
                .get(&run_id)
                .await?
                .ok_or_else(|| ServiceError::NotFound(run_id.clone()))?
        };
        // Also for an existing run: a crash may have come between storing it and scheduling.
        if let Some(step) = first.filter(|_| run.state == RunState::Queued) {
            self.schedule(&run, step, None, run.bulk).await?;
        }
        tracing::info!(parent: &span, run.id = %run_id, created, "run enqueued");
        Ok(EnqueueResult {
            run_id,
            created,
            trace_id: run.trace.trace_id().map(str::to_owned),
        })
    }

    /// Schedules `step` of `run` (idempotent per run, step and generation). `bulk` (the
    /// run's own `bulk`, for every step of it) queues it behind fresh work.
    pub async fn schedule(
        &self,
        run: &Run,
        step: StepName,
        at: Option<SystemTime>,
        bulk: bool,
    ) -> Result<(), ServiceError> {
        let payload = JobPayload::step(&run.id, &run.request.tenant_id, step, run.trace.clone());
        let mut job = NewJob::new(
            run.request.tenant_id.clone(),
            payload.to_json().into_bytes(),
        )
        .idempotency_key(format!("{}:{}:{}", run.id, step.as_str(), generation(run)))
        .max_attempts(self.policy.transient_max_attempts + 2)
        .meta("traceparent", run.trace.traceparent.clone())
        .priority(if bulk {
            Priority::Bulk
        } else {
            Priority::Normal
        });
        if let Some(at) = at {
            job = job.run_at(at);
        }
        self.queue.enqueue(job).await?;
        Ok(())
    }

    /// The credentials of every role the run has, opened.
    pub async fn open_credentials(
        &self,
        run: &Run,
    ) -> Result<HashMap<Role, Credentials>, ServiceError> {
        let mut out = HashMap::new();
        for role in [Role::New, Role::Previous, Role::Admin] {
            if let Some(r) = run.request.credentials.get(role) {
                let binding = Binding {
                    tenant: &run.request.tenant_id,
                    run: &run.id,
                    role: role_name(role),
                };
                let c = self.credentials.get(&r.0, &binding).await?;
                out.insert(
                    role,
                    Credentials::new(c.integration_code, c.username, c.secret),
                );
            }
        }
        Ok(out)
    }

    /// Performs an operator action, recorded in the audit trail with `operator`.
    pub async fn act(
        &self,
        run_id: &str,
        action: OperatorAction,
        operator: &str,
    ) -> Result<ActionDone, ServiceError> {
        let step = match action {
            OperatorAction::Acknowledge(step) => {
                self.acknowledge(run_id, step, operator).await?;
                None
            }
            OperatorAction::Retry => Some(self.retry(run_id, operator).await?),
            OperatorAction::Cancel => {
                self.cancel(run_id, operator).await?;
                None
            }
        };
        Ok(ActionDone {
            run: run_id.to_owned(),
            action,
            step,
        })
    }

    /// An operator acknowledges an operator-attested step; the run goes on.
    pub async fn acknowledge(
        &self,
        run_id: &str,
        step: StepName,
        operator: &str,
    ) -> Result<(), ServiceError> {
        let at = now();
        let mut run = self
            .runs
            .update(run_id, |run: &mut Run| {
                if run.state.is_final() {
                    return Err(format!("run {} is {}", run.id, run.state.as_str()));
                }
                run.acknowledge(step, at, operator)
                    .map_err(|e| e.to_string())?;
                Ok(run.clone())
            })
            .await?
            .map_err(ServiceError::NotAllowed)?;
        if run.next_step(at, Actor::System) == Some(step) {
            self.schedule(&run, step, None, run.bulk).await?;
        }
        Ok(())
    }

    /// An operator retries a failed run: its failed step starts again with fresh attempts.
    pub async fn retry(&self, run_id: &str, operator: &str) -> Result<StepName, ServiceError> {
        let at = now();
        let (run, step) = self
            .runs
            .update(run_id, |run: &mut Run| {
                if run.state != RunState::Failed {
                    return Err(format!(
                        "run {} is {}, only failed runs can be retried",
                        run.id,
                        run.state.as_str()
                    ));
                }
                let actor = Actor::Operator(operator.to_owned());
                run.set_state(RunState::Queued, at, actor.clone(), "retry")
                    .map_err(|e| e.to_string())?;
                let failed = run
                    .steps
                    .iter()
                    .find(|s| matches!(s.state, StepState::Failed { .. }))
                    .map(|s| s.step)
                    .ok_or("the run has no failed step")?;
                run.set_step_state(failed, StepState::Pending, at, actor, "retry")
                    .map_err(|e| e.to_string())?;
                Ok((run.clone(), failed))
            })
            .await?
            .map_err(ServiceError::NotAllowed)?;
        self.schedule(&run, step, None, run.bulk).await?;
        Ok(step)
    }

    /// An operator cancels a run; a step running now finishes its attempt, nothing more runs.
    /// Its sealed credentials are deleted.
    pub async fn cancel(&self, run_id: &str, operator: &str) -> Result<(), ServiceError> {
        let at = now();
        let run = self
            .runs
            .update(run_id, |run: &mut Run| {
                run.set_state(
                    RunState::Cancelled,
                    at,
                    Actor::Operator(operator.to_owned()),
                    "cancelled",
                )
                .map_err(|e| format!("run {} cannot be cancelled: {e}", run.id))?;
                Ok(run.clone())
            })
            .await?
            .map_err(ServiceError::NotAllowed)?;
        self.forget_credentials(&run).await
    }
}

/// A dead letter as every interface shows it (CLI `--json`, HTTP API, dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadJob {
    /// The job id (what `dead retry` takes).
    pub job: String,
    /// The tenant (the job's group).
    pub tenant: String,
    /// Why it died.
    pub reason: String,
    /// When it died, ms since the epoch.
    pub dead_at_ms: u64,
    /// Attempts spent in its last budget.
    pub attempts: u32,
}

impl From<&DeadLetter> for DeadJob {
    fn from(d: &DeadLetter) -> Self {
        Self {
            job: d.id.as_str().to_owned(),
            tenant: d.group.clone(),
            reason: d.reason.clone(),
            dead_at_ms: d.dead_at,
            attempts: d.attempts,
        }
    }
}

impl Onboard {
    /// The dead letters, newest first.
    pub async fn dead_letters(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<DeadJob>, ServiceError> {
        Ok(self
            .queue
            .dead_letters(offset, limit)
            .await?
            .iter()
            .map(DeadJob::from)
            .collect())
    }

    /// An operator requeues one dead job with a fresh attempt budget; recorded in its run's
    /// audit trail. Returns false when no such dead job exists.
    pub async fn retry_dead(&self, job: &str, operator: &str) -> Result<bool, ServiceError> {
        self.retry_dead_paced(&[JobId(job.to_owned())], None, operator)
            .await
            .map(|n| n == 1)
    }

    /// An operator requeues every dead job matching `filter`, oldest first, the n-th at
    /// `now + n * pace`; each is recorded in its run's audit trail. Returns how many.
    pub async fn retry_dead_where(
        &self,
        filter: &DeadFilter,
        pace: Option<Duration>,
        operator: &str,
    ) -> Result<u64, ServiceError> {
        let ids = self.queue.dead_matching(filter).await?;
        self.retry_dead_paced(&ids, pace, operator).await
    }

    /// An operator requeues the dead jobs `ids` (oldest first), the n-th at `now + n * pace`;
    /// each is recorded in its run's audit trail. Returns how many were still dead.
    pub async fn retry_dead_paced(
        &self,
        ids: &[JobId],
        pace: Option<Duration>,
        operator: &str,
    ) -> Result<u64, ServiceError> {
        let start = SystemTime::now();
        let mut n = 0u64;
        for id in ids {
            // The run comes from the payload; a payload that never decoded has none.
            let payload = self.queue.job(id).await?.map(|j| j.payload);
            let at = pace.filter(|_| n > 0).map(|p| start + p * n as u32);
            if !self.queue.retry_dead(id, at).await? {
                continue;
            }
            n += 1;
            let Some(Ok(JobPayload::Step(job))) = payload
                .as_deref()
                .map(|p| JobPayload::from_json(&String::from_utf8_lossy(p)))
            else {
                continue;
            };
            let when = now();
            let detail = format!("dead job {id} requeued");
            let recorded = self
                .runs
                .update(&job.run_id, |run: &mut Run| {
                    run.record_operator_event(
                        when,
                        operator,
                        Some(job.step),
                        "dead letter retried",
                        &detail,
                    );
                    Ok::<_, std::convert::Infallible>(())
                })
                .await;
            if let Err(e) = recorded {
                tracing::warn!(job = %id, error = %e, "dead letter requeued; its run's audit trail was not updated");
            }
        }
        Ok(n)
    }
}

/// A fresh W3C traceparent: the caller's trace id if it sent a valid one, else a random one.
fn new_traceparent(parent: Option<&str>) -> String {
    use chacha20poly1305::aead::OsRng;
    use chacha20poly1305::aead::rand_core::RngCore;
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    let trace = parent
        .and_then(|p| TraceContext::parse(p).ok())
        .and_then(|t| t.trace_id().map(str::to_owned))
        .unwrap_or_else(|| hex::encode(&bytes[..16]));
    format!("00-{trace}-{}-01", hex::encode(&bytes[16..]))
}

/// What an operator does to a run (CLI, HTTP API and dashboard alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorAction {
    /// Acknowledge an operator-attested step.
    Acknowledge(StepName),
    /// Retry a failed run from its failed step.
    Retry,
    /// Cancel the run.
    Cancel,
}

/// What an operator action did, for every interface to report the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionDone {
    /// The run.
    pub run: String,
    /// The action.
    pub action: OperatorAction,
    /// For a retry: the step the run starts again from.
    pub step: Option<StepName>,
}

impl ActionDone {
    /// The machine-readable answer.
    pub fn to_json(&self) -> serde_json::Value {
        match self.action {
            OperatorAction::Acknowledge(step) => {
                serde_json::json!({"run": self.run, "acknowledged": step.as_str()})
            }
            OperatorAction::Retry => {
                serde_json::json!({"run": self.run, "retrying": self.step.map(StepName::as_str)})
            }
            OperatorAction::Cancel => serde_json::json!({"run": self.run, "cancelled": true}),
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match (self.action, self.step) {
            (OperatorAction::Acknowledge(step), _) => {
                format!("acknowledged {step} of run {}", self.run)
            }
            (OperatorAction::Retry, Some(step)) => format!("run {} retries from {step}", self.run),
            (OperatorAction::Retry, None) => format!("run {} retries", self.run),
            (OperatorAction::Cancel, _) => format!("run {} cancelled", self.run),
        }
    }
}

/// Identifies a request for idempotency without holding its secrets: a digest of everything
/// but the secrets (usernames and integration codes included, hashed).
fn fingerprint(r: &EnqueueRequest) -> String {
    let user = |c: &ApiCredentials| (c.username.clone(), c.integration_code.clone());
    let summary = serde_json::json!({
        "kind": r.kind,
        "tenant": r.tenant_id,
        "name": r.tenant_name,
        "settings": r.settings,
        "new": user(&r.new_user),
        "previous": r.previous_user.as_ref().map(user),
        "admin": r.admin.as_ref().map(user),
        "dry_run": r.dry_run,
    });
    hex::encode(Sha1::digest(summary.to_string().as_bytes()))
}

/// A new run id: a ULID that sorts after every id this process made before, also within one
/// millisecond, so listings ordered by creation time and then by id show the newest first.
fn run_id() -> String {
    static IDS: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());
    let mut ids = IDS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    ids.generate()
        .unwrap_or_else(|_| ulid::Ulid::generate())
        .to_string()
}
