//! Executes one step the way `onboarding-steps` prescribes: perform the step's reads with
//! each role's credentials, plan, perform the calls in order, read again from scratch and
//! verify. Every decision comes from `onboarding-steps`; this module only does the I/O and
//! maps client errors to the step crate's [`CallFailure`]s.
//!
//! What it does not do: no scheduling, no run records (see `worker`); no secrets in its
//! output (webhook secret keys come from [`WebhookSecrets`] just before a create is sent, and
//! are deleted when their webhook is).
//! [`Session`] is the plain I/O part (reads and calls with each role's credentials), usable
//! without Redis.

use std::collections::HashMap;

use autotask_client::{AutotaskClient, Credentials, Error as ClientError, Tenant};
use autotask_types::{
    Endpoint, OrganizationalLevel1, OrganizationalLevel2, OrganizationalLevelAssociation,
    OrganizationalResource, Resource, WebhookExcludedResource, WebhookField, WebhookId,
    WebhookUdfField, ZoneInformation,
};
use onboarding_steps::attempt::{Attempt, Want};
use onboarding_steps::run::AttemptOutcome;
use onboarding_steps::{
    Call, CallFailure, Observed, Read, ReadResult, Role, StepContext, StepName, WebhookRef,
};
use tokio::sync::Mutex;

use crate::secrets::WebhookSecrets;

/// The credentials of each role a run has, and the tenants resolved from them.
pub struct Session {
    client: AutotaskClient,
    credentials: HashMap<Role, Credentials>,
    tenants: Mutex<HashMap<Role, Tenant>>,
}

impl Session {
    /// A session over `client` with these credentials.
    pub fn new(client: AutotaskClient, credentials: HashMap<Role, Credentials>) -> Self {
        Self {
            client,
            credentials,
            tenants: Mutex::default(),
        }
    }

    async fn tenant(&self, role: Role) -> Result<Tenant, CallFailure> {
        if let Some(t) = self.tenants.lock().await.get(&role) {
            return Ok(t.clone());
        }
        let creds = self
            .credentials
            .get(&role)
            .ok_or_else(|| CallFailure::Rejected {
                errors: vec![format!("the run has no {role:?} credentials")],
            })?;
        let tenant = self
            .client
            .tenant(creds.clone())
            .await
            .map_err(|e| failure(&e))?;
        self.tenants.lock().await.insert(role, tenant.clone());
        Ok(tenant)
    }

    /// The Autotask database `role`'s credentials resolve to (zone discovery only).
    pub async fn database(&self, role: Role) -> Result<String, CallFailure> {
        Ok(self.tenant(role).await?.database().to_owned())
    }

    /// The highest share of an hourly request budget used by a database this session
    /// talked to (the client's last `ThresholdInformation` with its estimate of the requests
    /// since), or `None` when none was read.
    pub async fn threshold_used(&self) -> Option<f64> {
        self.tenants
            .lock()
            .await
            .values()
            .filter_map(|t| t.last_threshold())
            .map(|t| t.used_ratio())
            .reduce(f64::max)
    }

    /// Performs one read.
    pub async fn read(&self, read: &Read) -> Result<ReadResult, CallFailure> {
        let role = match read.credentials() {
            None => {
                let Read::ZoneInformation { user_name } = read else {
                    unreachable!("only zone discovery needs no credentials")
                };
                let url = self
                    .client
                    .zone_url(user_name)
                    .await
                    .map_err(|e| failure(&e))?;
                return Ok(ReadResult::Zone(ZoneInformation {
                    url: url.to_string(),
                    ..ZoneInformation::default()
                }));
            }
            Some(role) => role,
        };
        let t = self.tenant(role).await?;
        let r = match read {
            Read::ZoneInformation { .. } => unreachable!("handled above"),
            Read::ThresholdInformation { .. } => {
                t.threshold_information().await.map(ReadResult::Threshold)
            }
            Read::Resources { query, .. } => t
                .query_all(&Resource::endpoint(), query)
                .await
                .map(ReadResult::Resources),
            Read::ResourceFields { .. } => t
                .field_information(&Resource::endpoint())
                .await
                .map(ReadResult::Fields),
            Read::OrganizationalLevel1s { query, .. } => t
                .query_all(&OrganizationalLevel1::endpoint(), query)
                .await
                .map(ReadResult::Level1s),
            Read::OrganizationalLevel2s { query, .. } => t
                .query_all(&OrganizationalLevel2::endpoint(), query)
                .await
                .map(ReadResult::Level2s),
            Read::OrganizationalLevelAssociations { query, .. } => t
                .query_all(&OrganizationalLevelAssociation::endpoint(), query)
                .await
                .map(ReadResult::Associations),
            Read::OrganizationalResources { query, .. } => t
                .query_all(&OrganizationalResource::endpoint(), query)
                .await
                .map(ReadResult::Memberships),
            Read::WebhookEntityInformation { family, .. } => t
                .entity_information(&family.webhooks())
                .await
                .map(ReadResult::EntityInformation),
            Read::WebhookFieldInfo { family, .. } => t
                .field_information(&Endpoint::<WebhookField>::root(format!(
                    "{}Fields",
                    family.webhook_entity()
                )))
                .await
                .map(ReadResult::Fields),
            Read::WebhookUdfFieldInfo { family, .. } => t
                .field_information(&Endpoint::<WebhookUdfField>::root(format!(
                    "{}UdfFields",
                    family.webhook_entity()
                )))
                .await
                .map(ReadResult::Fields),
            Read::WebhookUdfFields { family, query, .. } => {
                match family.udf_fields(WebhookId::new(0)) {
                    Some(endpoint) => t
                        .query_all(&endpoint, query)
                        .await
                        .map(ReadResult::WebhookUdfFields),
                    None => Ok(ReadResult::WebhookUdfFields(Vec::new())),
                }
            }
            Read::Webhooks { family, query, .. } => t
                .query_all(&family.webhooks(), query)
                .await
                .map(ReadResult::Webhooks),
            Read::WebhookFields { family, query, .. } => t
                .query_all(&family.fields(WebhookId::new(0)), query)
                .await
                .map(ReadResult::WebhookFields),
            Read::WebhookExcludedResources { family, query, .. } => t
                .query_all(&family.excluded_resources(WebhookId::new(0)), query)
                .await
                .map(ReadResult::ExcludedResources),
        };
        r.map_err(|e| failure(&e))
    }

    /// Performs one call; `created` holds the item ids of the plan's earlier calls, and
    /// `secret_key` the webhook secret of a `CreateWebhook` (kept by the caller, so a
    /// repeated create sends the same one).
    pub async fn call(
        &self,
        call: &Call,
        created: &[Option<i64>],
        secret_key: Option<String>,
    ) -> Result<Option<i64>, CallFailure> {
        let t = self.tenant(call.credentials()).await?;
        let parent = |w: &WebhookRef| -> Result<WebhookId, CallFailure> {
            match w {
                WebhookRef::Existing(id) => Ok(*id),
                WebhookRef::CreatedBy(i) => created
                    .get(*i)
                    .copied()
                    .flatten()
                    .map(WebhookId::new)
                    .ok_or_else(|| CallFailure::Rejected {
                        errors: vec![format!("call {i} of the plan created no webhook")],
                    }),
            }
        };
        let id = match call {
            Call::CreateWebhook {
                family, webhook, ..
            } => {
                let mut body = webhook.clone();
                body.secret_key = Some(secret_key.ok_or_else(|| CallFailure::Rejected {
                    errors: vec!["a webhook create needs its secret key".into()],
                })?);
                t.create(&family.webhooks(), &body).await.map(Some)
            }
            Call::UpdateWebhook {
                family, webhook, ..
            } => t.update(&family.webhooks(), webhook).await.map(Some),
            Call::DeleteWebhook { family, id, .. } => {
                t.delete(&family.webhooks(), id.get()).await.map(|()| None)
            }
            Call::CreateWebhookField {
                family,
                webhook,
                field,
                ..
            } => {
                let parent = parent(webhook)?;
                t.create(&family.fields(parent), field).await.map(Some)
            }
            Call::UpdateWebhookField {
                family,
                webhook,
                field,
                ..
            } => t.update(&family.fields(*webhook), field).await.map(Some),
            Call::DeleteWebhookField {
                family,
                webhook,
                id,
                ..
            } => t.delete(&family.fields(*webhook), *id).await.map(|()| None),
            Call::CreateWebhookUdfField {
                family,
                webhook,
                field,
                ..
            } => {
                let parent = parent(webhook)?;
                t.create(&udf_fields(*family, parent)?, field)
                    .await
                    .map(Some)
            }
            Call::UpdateWebhookUdfField {
                family,
                webhook,
                field,
                ..
            } => t
                .update(&udf_fields(*family, *webhook)?, field)
                .await
                .map(Some),
            Call::DeleteWebhookUdfField {
                family,
                webhook,
                id,
                ..
            } => t
                .delete(&udf_fields(*family, *webhook)?, *id)
                .await
                .map(|()| None),
            Call::CreateWebhookExcludedResource {
                family,
                webhook,
                resource,
                ..
            } => {
                let parent = parent(webhook)?;
                let body = WebhookExcludedResource {
                    resource_id: Some(*resource),
                    ..WebhookExcludedResource::default()
                };
                t.create(&family.excluded_resources(parent), &body)
                    .await
                    .map(Some)
            }
            Call::UpdateResource { resource, .. } => {
                t.update(&Resource::endpoint(), resource).await.map(Some)
            }
        };
        id.map_err(|e| failure(&e))
    }
}

/// `{Family}Webhooks/{webhook}/UdfFields`; TicketNote has none, which no plan asks for.
fn udf_fields(
    family: autotask_types::WebhookFamily,
    webhook: WebhookId,
) -> Result<Endpoint<WebhookUdfField>, CallFailure> {
    family
        .udf_fields(webhook)
        .ok_or_else(|| CallFailure::Rejected {
            errors: vec![format!("{family} webhooks have no user-defined fields")],
        })
}

/// Observes everything `step` needs, with fresh reads.
pub async fn observe(session: &Session, step: StepName, ctx: &StepContext) -> Observed {
    let mut observed = Observed::new();
    // Reads come in phases; a step names at most a few rounds.
    for _ in 0..onboarding_steps::attempt::MAX_ROUNDS {
        let reads = step.reads(ctx, &observed);
        if reads.is_empty() {
            break;
        }
        for read in reads {
            let answer = session.read(&read).await;
            observed
                .record(&read, answer)
                .expect("a read's own answer always fits it");
        }
    }
    observed
}

/// The I/O one attempt needs: reads and calls with each role's credentials.
pub trait Io {
    /// Performs one read.
    fn read(&self, read: &Read) -> impl Future<Output = Result<ReadResult, CallFailure>> + Send;
    /// Performs one call; `created` holds the item ids of the plan's earlier calls. A
    /// webhook create gets its secret key here.
    fn call(
        &self,
        call: &Call,
        created: &[Option<i64>],
    ) -> impl Future<Output = Result<Option<i64>, CallFailure>> + Send;
}

/// Drives one [`Attempt`] through `io`: the thin loop every executor shares (the worker, the
/// steps crate's end-to-end test), so they all run the one protocol of
/// `onboarding_steps::attempt`.
pub async fn drive(io: &impl Io, mut attempt: Attempt) -> AttemptOutcome {
    loop {
        match attempt.want() {
            Want::Reads(reads) => {
                for read in reads {
                    let answer = io.read(&read).await;
                    attempt.read(&read, answer);
                }
            }
            Want::Call { call, created } => {
                let what = call.describe();
                let result = io.call(call, created).await;
                match &result {
                    Ok(_) => tracing::info!(call = %what, "call made"),
                    Err(f) => tracing::info!(call = %what, failure = %f.describe(), "call failed"),
                }
                attempt.called(result);
            }
            Want::Done(outcome) => return outcome,
        }
    }
}

/// The worker's [`Io`]: a [`Session`] for Autotask, [`WebhookSecrets`] for the secret key of
/// a webhook create (stored before the create is sent, reused by a repeated create).
pub struct Worker<'a> {
    /// Reads and calls.
    pub session: &'a Session,
    /// Webhook secret keys.
    pub secrets: &'a WebhookSecrets,
}

impl Io for Worker<'_> {
    async fn read(&self, read: &Read) -> Result<ReadResult, CallFailure> {
        self.session.read(read).await
    }

    async fn call(&self, call: &Call, created: &[Option<i64>]) -> Result<Option<i64>, CallFailure> {
        let stored = |e: crate::secrets::SecretsError| {
            if e.is_retryable() {
                CallFailure::Transient {
                    detail: e.to_string(),
                }
            } else {
                CallFailure::Rejected {
                    errors: vec![e.to_string()],
                }
            }
        };
        match call {
            Call::CreateWebhook {
                credentials,
                secret,
                ..
            } => {
                // Slots are keyed by database: the same tenant id in another database never
                // shares a secret.
                let database = self.session.database(*credentials).await?;
                let slot = secret.to_string();
                let key = self
                    .secrets
                    .get_or_create(&database, &slot)
                    .await
                    .map_err(stored)?;
                let id = self.session.call(call, created, Some(key)).await?;
                if let Some(id) = id {
                    self.secrets
                        .created(&database, &slot, id)
                        .await
                        .map_err(stored)?;
                }
                Ok(id)
            }
            Call::DeleteWebhook {
                credentials, id, ..
            } => {
                let database = self.session.database(*credentials).await?;
                let result = self.session.call(call, created, None).await;
                // Gone (now or before): its secret goes too.
                if matches!(result, Ok(_) | Err(CallFailure::NotFound)) {
                    self.secrets
                        .forget_webhook(&database, id.get())
                        .await
                        .map_err(stored)?;
                }
                result
            }
            _ => self.session.call(call, created, None).await,
        }
    }
}

/// One attempt of `step` by the worker (see `onboarding_steps::attempt` for the protocol).
/// With `verify_only` (verify runs) no call is made: a non-empty plan is drift.
pub async fn execute(
    session: &Session,
    step: StepName,
    ctx: &StepContext,
    secrets: &WebhookSecrets,
    verify_only: bool,
) -> AttemptOutcome {
    let io = Worker { session, secrets };
    drive(&io, Attempt::new(step, ctx.clone(), verify_only)).await
}

/// Maps a client error to what the step crate reasons about.
pub fn failure(e: &ClientError) -> CallFailure {
    match e {
        ClientError::CredentialsRejected { .. } | ClientError::ZoneNotFound { .. } => {
            CallFailure::CredentialsRejected
        }
        ClientError::NotPermitted { messages } => CallFailure::NotPermitted {
            message: messages.first().cloned(),
        },
        ClientError::NotFound => CallFailure::NotFound,
        ClientError::ThreadLimit { .. } => CallFailure::ThreadLimit,
        ClientError::ThresholdExceeded { .. } | ClientError::BudgetExhausted { .. } => {
            CallFailure::ThresholdExceeded
        }
        ClientError::Rejected { messages, .. } => CallFailure::Rejected {
            errors: messages.clone(),
        },
        ClientError::Transient { .. } => CallFailure::Transient {
            detail: e.to_string(),
        },
        ClientError::ContractDrift { entity, path, .. } => CallFailure::ContractDrift {
            entity: entity.clone(),
            path: path.clone(),
            detail: e.to_string(),
        },
        ClientError::MethodNotAllowed { .. }
        | ClientError::UnexpectedStatus { .. }
        | ClientError::Encode { .. }
        | ClientError::HostNotAllowed { .. }
        | ClientError::OverLimit { .. } => CallFailure::Rejected {
            errors: vec![e.to_string()],
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use onboarding_steps::retry::ErrorClass;

    use super::*;

    #[test]
    fn client_errors_map_to_the_classes_the_run_decides_by() {
        let drift = ClientError::ContractDrift {
            entity: "TicketWebhookField".into(),
            path: "fields[0].picklistValues".into(),
            expected: "a sequence".into(),
            found: "an object".into(),
        };
        let table = [
            (drift, ErrorClass::Permanent),
            (
                ClientError::Transient {
                    status: Some(502),
                    detail: "bad gateway".into(),
                    not_sent: false,
                },
                ErrorClass::Transient,
            ),
            (
                ClientError::ThreadLimit {
                    retry_after: None,
                    messages: vec![],
                },
                ErrorClass::Transient,
            ),
            (
                ClientError::ThresholdExceeded {
                    retry_after: Some(Duration::from_secs(60)),
                    messages: vec![],
                },
                ErrorClass::BudgetDeferred,
            ),
            (
                ClientError::NotPermitted { messages: vec![] },
                ErrorClass::OperatorPending,
            ),
            (
                ClientError::Rejected {
                    status: 500,
                    messages: vec!["Webhook name is required".into()],
                },
                ErrorClass::Permanent,
            ),
        ];
        for (error, class) in table {
            assert_eq!(failure(&error).class(), class, "{error:?}");
        }
        // Drift reaches the run record naming entity and field.
        let drift = failure(&ClientError::ContractDrift {
            entity: "TicketWebhookField".into(),
            path: "fields[0].picklistValues".into(),
            expected: "a sequence".into(),
            found: "an object".into(),
        });
        assert_eq!(
            drift.describe(),
            "contract drift: Autotask's TicketWebhookField answer has an object at \
             `fields[0].picklistValues` where onboard expects a sequence"
        );
    }
}
