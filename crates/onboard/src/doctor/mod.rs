//! `onboard doctor`: a read-only check of a real tenant with the credentials an enqueue
//! takes. It performs the reads of the run's read-only steps (through the worker's
//! [`Session`], with each role's credentials) and a few of its own, and reports which of the
//! product's assumptions hold on this tenant and which fallback path a run will take
//! ([`checks`]). `--record DIR` saves every answer, redacted ([`record`]), for
//! `autotask-sim --replay DIR`.
//!
//! What it does not do: it makes no write. It only ever performs [`onboarding_steps::Read`]s;
//! no [`onboarding_steps::Call`] is executed (plans are computed to judge, never carried out).

pub mod checks;
pub mod record;

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::anyhow;
use autotask_client::{AutotaskClient, ClientConfig, Credentials, Target};
use clap::Args;
use onboarding_steps::{Observed, Role, StepContext, TenantSettings};
use onboarding_worker::execute::Session;
use onboarding_worker::service::ApiCredentials;

use crate::config::Config;
use crate::flags::{WebhookFlags, user_credentials};
use crate::out::{out, outln};

/// `onboard doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The (new) API user's username.
    #[arg(long)]
    new_user: String,
    /// The previous API user's username (checks its credentials and webhooks).
    #[arg(long)]
    previous_user: Option<String>,
    /// Admin username (checks that its credentials authenticate).
    #[arg(long)]
    admin_user: Option<String>,
    #[command(flatten)]
    webhooks: WebhookFlags,
    /// Secrets as JSON from this file ("-" = stdin), as for `enqueue`. Default: the
    /// ONBOARD_INTEGRATION_CODE, ONBOARD_NEW_SECRET, ONBOARD_PREVIOUS_SECRET and
    /// ONBOARD_ADMIN_SECRET variables.
    #[arg(long)]
    secrets: Option<String>,
    /// Save every Autotask answer, redacted, as JSON files in this directory.
    #[arg(long, value_name = "DIR")]
    record: Option<PathBuf>,
}

/// Runs the doctor and prints its report.
pub async fn doctor(args: DoctorArgs, config: &Config, json: bool) -> anyhow::Result<()> {
    let users = user_credentials(
        args.secrets.as_deref(),
        &args.new_user,
        args.previous_user.as_deref(),
        args.admin_user.as_deref(),
    )?;
    // The doctor builds no webhook URL; the settings only carry the families and fields.
    let mut settings: TenantSettings = serde_json::from_value(serde_json::json!({
        "webhook_url_base": "https://doctor.invalid/hooks",
    }))?;
    if let Some(families) = args.webhooks.families()? {
        settings.webhook_families = families;
    }
    settings
        .validate()
        .map_err(|e| anyhow!("--families/--fields/--udf-fields: {e}"))?;
    let mut ctx = StepContext::new("doctor", settings, &args.new_user);
    ctx.previous_user_name = args.previous_user.clone();
    ctx.has_previous_credentials = users.previous_user.is_some();
    ctx.has_admin_credentials = users.admin.is_some();

    let target = match &config.autotask_base_url {
        Some(url) => Target::Explicit(url.clone()),
        None => Target::Autotask,
    };
    let mut client = AutotaskClient::new(ClientConfig::new(target))?;
    let recording = record::Recording::default();
    if args.record.is_some() {
        client = client.recorded_by(recording.recorder());
    }
    let mut secrets = vec![users.new_user.integration_code.clone()];
    let mut credentials = HashMap::new();
    let mut names = Vec::new();
    for (role, input, pseudonym) in [
        (Role::New, Some(&users.new_user), "new-user"),
        (
            Role::Previous,
            users.previous_user.as_ref(),
            "previous-user",
        ),
        (Role::Admin, users.admin.as_ref(), "admin-user"),
    ] {
        if let Some(ApiCredentials {
            integration_code,
            username,
            secret,
        }) = input
        {
            credentials.insert(role, Credentials::new(integration_code, username, secret));
            secrets.push(secret.clone());
            names.push((username.clone(), pseudonym));
        }
    }
    let session = Session::new(client, credentials);
    let observed = gather(&session, &ctx, args.admin_user.as_deref()).await;
    let report = checks::assess(&ctx, args.admin_user.as_deref(), &observed);
    let written = match &args.record {
        Some(dir) => Some((dir, recording.write(dir, &names, &secrets)?)),
        None => None,
    };
    if json {
        // With --record, the report goes with the recording: it names users by the same
        // pseudonyms.
        let mut value = serde_json::to_value(&report)?;
        if let Some((_, (_, redaction))) = &written {
            redaction.apply(&mut value);
        }
        outln!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        out!("{}", report.render());
        if let Some((dir, (n, _))) = written {
            outln!(
                "\nrecorded {n} answer(s), redacted, in {}; replay them with \
                 `onboard sim --replay {}`",
                dir.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// Performs the steps' reads and the doctor's own, each once, in a fixed order.
async fn gather(session: &Session, ctx: &StepContext, admin: Option<&str>) -> Observed {
    let mut observed = Observed::new();
    for step in checks::STEPS {
        if step == onboarding_steps::StepName::FindPreviousWebhooks
            && ctx.previous_user_name.is_none()
        {
            continue;
        }
        // Reads come in phases; a step names at most a few rounds.
        for _ in 0..16 {
            let reads = step.reads(ctx, &observed);
            if reads.is_empty() {
                break;
            }
            perform(session, reads, &mut observed).await;
        }
    }
    for _ in 0..4 {
        let reads = checks::extra_reads(ctx, admin, &observed);
        if reads.is_empty() {
            break;
        }
        perform(session, reads, &mut observed).await;
    }
    observed
}

async fn perform(session: &Session, reads: Vec<onboarding_steps::Read>, observed: &mut Observed) {
    for read in reads {
        if observed.has(&read) {
            continue;
        }
        let answer = session.read(&read).await;
        observed
            .record(&read, answer)
            .expect("a read's own answer always fits it");
    }
}
