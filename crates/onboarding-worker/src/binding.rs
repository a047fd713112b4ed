//! Tenant binding: a tenant id is tied to the Autotask database its first successful run
//! resolved to (the zone's `ci`, or its URL when Autotask sends none), stored as
//! `{prefix}:tenantdb:{tenant}`. Before every attempt the worker resolves each role's
//! credentials: they must all resolve to one database, and to the bound one once there is
//! one; otherwise the attempt is refused, permanently, naming both databases and what to do.
//! So a mixed-up request (another customer's credentials under this tenant id, or an admin
//! of another database) never deletes webhooks or deactivates users there.
//!
//! What it does not do: bind on a dry run (it changes nothing), or unbind (an operator
//! deletes the key if a customer really moves database).

use onboarding_steps::plan::Refusal;
use onboarding_steps::retry::ErrorClass;
use onboarding_steps::run::{AttemptOutcome, Run};
use onboarding_steps::{Remediation, Role, StepName};
use redis::AsyncCommands;

use crate::execute::Session;
use crate::secrets::SecretsError;
use crate::service::{Onboard, role_name};

impl Onboard {
    fn binding_key(&self, tenant: &str) -> String {
        format!("{}:tenantdb:{tenant}", self.credentials.prefix)
    }

    /// The database `tenant` is bound to, if a run bound it.
    pub async fn bound_database(&self, tenant: &str) -> Result<Option<String>, SecretsError> {
        let mut conn = self.credentials.redis.clone();
        Ok(conn.get(self.binding_key(tenant)).await?)
    }

    /// Binds `tenant` to `database` unless it is bound already (the first success wins).
    pub async fn bind_database(&self, tenant: &str, database: &str) -> Result<(), SecretsError> {
        let mut conn = self.credentials.redis.clone();
        let _: bool = conn.set_nx(self.binding_key(tenant), database).await?;
        Ok(())
    }

    /// Resolves every role of `run` and checks the binding: `Ok(database of the new user)`
    /// (`None` if it did not resolve: the step reports that itself), or the refusal.
    pub async fn check_binding(
        &self,
        run: &Run,
        step: StepName,
        session: &Session,
    ) -> Result<Option<String>, AttemptOutcome> {
        let tenant = &run.request.tenant_id;
        let bound = self.bound_database(tenant).await.map_err(|e| {
            AttemptOutcome::Failed(onboarding_steps::CallFailure::Transient {
                detail: e.to_string(),
            })
        })?;
        let mut first: Option<(Role, String)> = None;
        let mut new_db = None;
        for role in [Role::New, Role::Previous, Role::Admin] {
            if run.request.credentials.get(role).is_none() {
                continue;
            }
            // A role that does not resolve is the step's to report (e.g. credentials rejected).
            let Ok(db) = session.database(role).await else {
                continue;
            };
            if role == Role::New {
                new_db = Some(db.clone());
            }
            let reason = match (&bound, &first) {
                (Some(b), _) if *b != db => Some(format!(
                    "tenant {tenant} is bound to Autotask database {b} (recorded by its first \
                     successful run), but the {} user's credentials resolve to database {db}: \
                     refusing to act in another database",
                    role_name(role)
                )),
                (_, Some((r, d))) if *d != db => Some(format!(
                    "the {} user's credentials resolve to Autotask database {d}, the {} \
                     user's to database {db}: every user of a run must belong to one database",
                    role_name(*r),
                    role_name(role)
                )),
                _ => None,
            };
            if let Some(reason) = reason {
                return Err(AttemptOutcome::Refused(refusal(
                    step,
                    reason,
                    &self.binding_key(tenant),
                )));
            }
            first.get_or_insert((role, db));
        }
        Ok(new_db)
    }
}

fn refusal(step: StepName, reason: String, key: &str) -> Refusal {
    let mut remediation = Remediation::for_step(step, &[]);
    remediation.found_en = vec![reason.clone()];
    remediation.found_de = vec![
        "Die Zugangsdaten gehören zu einer anderen Autotask-Datenbank als der, an die dieser \
         Mandant gebunden ist (oder die Benutzer des Laufs zu verschiedenen Datenbanken)."
            .into(),
    ];
    remediation.instructions_en = vec![format!(
        "Check that the tenant id and every user's credentials belong to the same customer, \
         then enqueue again with the right ones. Only if the customer really moved to another \
         Autotask database, delete the binding (redis-cli DEL {key}) and enqueue again."
    )];
    remediation.instructions_de = vec![format!(
        "Prüfen Sie, ob Mandanten-ID und die Zugangsdaten aller Benutzer zum selben Kunden \
         gehören, und stellen Sie den Lauf mit den richtigen erneut ein. Nur wenn der Kunde \
         wirklich in eine andere Autotask-Datenbank umgezogen ist: Bindung löschen \
         (redis-cli DEL {key}) und erneut einstellen."
    )];
    Refusal::new(step, ErrorClass::Permanent, reason).with_remediation(remediation)
}

/// The refusal for credentials that cannot be opened (permanent: the next attempt would
/// find the same record), with what to do.
pub(crate) fn unopenable(step: StepName, reason: String) -> Refusal {
    let mut remediation = Remediation::for_step(step, &[]);
    remediation.found_en = vec![reason.clone()];
    remediation.found_de = vec![
        "Die gespeicherten Zugangsdaten dieses Laufs lassen sich mit den konfigurierten \
         Schlüsseln nicht öffnen."
            .into(),
    ];
    remediation.instructions_en = vec![
        "Start onboard with the key that sealed them (ONBOARD_SECRET_KEY, or \
         ONBOARD_SECRET_KEYS_OLD while rotating) and retry the run, or cancel it and enqueue \
         it again with the credentials."
            .into(),
    ];
    remediation.instructions_de = vec![
        "Starten Sie onboard mit dem Schlüssel, der sie versiegelt hat (ONBOARD_SECRET_KEY \
         oder, während eines Schlüsselwechsels, ONBOARD_SECRET_KEYS_OLD) und wiederholen Sie \
         den Lauf, oder brechen Sie ihn ab und stellen Sie ihn mit den Zugangsdaten neu ein."
            .into(),
    ];
    Refusal::new(step, ErrorClass::Permanent, reason).with_remediation(remediation)
}
