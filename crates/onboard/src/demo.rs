//! `onboard sim` (the simulator on its own, with `autotask-sim`'s options) and `onboard demo`: the main job end to end on
//! one machine — a private `redis-server`, the simulator in-process with three tenants, a
//! worker, live progress, a simulated operator, and a final table.
//!
//! The three tenants:
//! - `acme`: a clean onboarding of an API user set up by the book (seed A1–A13, W1–W4).
//! - `globex`: an API-user change: the previous user was onboarded earlier, owns a webhook,
//!   and has since been deactivated; admin credentials let the run reactivate it (C5),
//!   delete its webhook (C6) and deactivate it again.
//! - `initech`: an onboarding whose API user's security level lacks the webhook permission
//!   until the simulated operator copies "API User (system)", enables webhooks and assigns
//!   the copy, a few seconds in (W1–W4).
//!
//! The simulated operator also confirms the two operator-attested steps (A12, V1) as an
//! operator would with `onboard ack`, and with `--profile strict` (a simulator that refuses
//! `PATCH Resources isActive`) reactivates and deactivates globex's previous user in the web
//! interface when the run asks. The demo uses faster retry schedules than production
//! (`setup::fast_policy`: operator re-checks every second instead of minutes).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use autotask_sim::cli::SimArgs;
use autotask_sim::{SeedApiUser, SimConfig, SimHandle};
use clap::Args;
use onboarding_steps::run::{Run, RunKind, StepState};
use onboarding_steps::{StepName, TenantSettings};
use onboarding_worker::secrets::SecretBox;
use onboarding_worker::service::{CredentialInput, EnqueueRequest, Onboard};
use redis_test_server::{Options, RedisServer};

use crate::app;
use crate::config::{Config, KeySource};
use crate::out::{out, outln};

/// `onboard demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Use this Redis instead of starting a private `redis-server`.
    #[arg(long)]
    redis_url: Option<String>,
    /// Seconds until the simulated operator fixes `initech`'s webhook permission.
    #[arg(long, default_value_t = 3)]
    operator_delay_secs: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// The simulator's behaviour profile: `strict` plays the pessimistic side of every
    /// behaviour Autotask leaves open (e.g. it refuses `PATCH Resources isActive`, so the
    /// simulated operator reactivates and deactivates globex's previous user by hand).
    #[arg(long, value_enum, default_value = "default")]
    profile: autotask_sim::Profile,
}

/// `onboard sim`: the simulator's own command line.
pub async fn sim(args: SimArgs) -> anyhow::Result<()> {
    Ok(autotask_sim::cli::serve(&args, app::shutdown_signal()).await?)
}

struct Scenario {
    tenant: &'static str,
    story: &'static str,
    request: EnqueueRequest,
}

fn input(u: &autotask_sim::SeededApiUser) -> CredentialInput {
    CredentialInput {
        integration_code: u.integration_code.clone(),
        username: u.user_name.clone(),
        secret: u.secret.clone(),
    }
}

fn request(
    kind: RunKind,
    tenant: &str,
    new: &autotask_sim::SeededApiUser,
) -> anyhow::Result<EnqueueRequest> {
    let settings: TenantSettings = serde_json::from_value(serde_json::json!({
        "webhook_url_base": "https://hooks.sophos.example/autotask",
        "notification_email": "alerts@msp.example",
    }))?;
    Ok(EnqueueRequest {
        kind,
        tenant_id: tenant.to_owned(),
        tenant_name: tenant.to_owned(),
        settings,
        new_user: input(new),
        previous_user: None,
        admin: None,
        idempotency_key: None,
        dry_run: false,
        bulk: false,
    })
}

/// `onboard demo`.
pub async fn demo(args: DemoArgs, mut config: Config, json: bool) -> anyhow::Result<()> {
    // The demo prints its own progress; logs only say what goes wrong unless RUST_LOG asks.
    let mut telemetry_config = app::telemetry_config();
    if std::env::var("RUST_LOG").is_err() {
        telemetry_config.log_filter = "warn".into();
    }
    let telemetry = onboarding_telemetry::init(&telemetry_config)?;
    let _redis = match &args.redis_url {
        Some(url) => {
            config.redis_url = url.clone();
            None
        }
        None => {
            let server = RedisServer::private(Options::default());
            config.redis_url = server.url().to_owned();
            Some(server)
        }
    };
    let sim = autotask_sim::spawn(
        SimConfig::default()
            .with_profile(args.profile)
            .with_database("acme")
            .with_database("globex")
            .with_database("initech"),
    )
    .await?;
    config.autotask_base_url = Some(url::Url::parse(sim.base_url())?);
    if config.secret_key == KeySource::Missing {
        config.secret_key = KeySource::Inline(SecretBox::generate_key());
    }
    config.lease = Duration::from_secs(10);
    let onboard = app::connect_with(
        &config,
        app::sealing_key(&config, true)?,
        onboarding_worker::setup::fast_policy(),
    )
    .await?;
    say(
        json,
        &format!(
            "redis {} · simulator {} · worker starting",
            config.redis_url,
            sim.base_url()
        ),
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let metrics_addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(app::serve_worker(
        onboard.clone(),
        listener,
        format!("demo-{}", std::process::id()),
        8,
        async move {
            let _ = stopped.await;
        },
    ));
    let outcome = tokio::select! {
        r = tokio::time::timeout(Duration::from_secs(args.timeout_secs), play(&sim, &onboard, args.operator_delay_secs, json)) => {
            r.unwrap_or_else(|_| Err(anyhow::anyhow!("the demo did not finish within {} s", args.timeout_secs)))
        }
        () = app::shutdown_signal() => Err(anyhow::anyhow!("interrupted")),
    };
    let _ = stop.send(());
    if let Ok(Err(e)) = worker.await {
        tracing::warn!(error = %e, "worker stopped with an error");
    }
    sim.shutdown().await;
    let runs = outcome?;
    if !json {
        out!("{}", summary(&runs));
        outln!(
            "metrics were served at http://{metrics_addr}/metrics during the demo (`onboard worker` serves them on worker.metrics_addr)"
        );
        match telemetry.exporting_to() {
            Some(endpoint) => outln!("traces were exported over OTLP to {endpoint}"),
            None => outln!(
                "traces were not exported: set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4318 for Jaeger) to send them"
            ),
        }
    } else {
        outln!("{}", serde_json::to_string_pretty(&runs)?);
    }
    telemetry.shutdown();
    let failed: Vec<_> = runs
        .iter()
        .filter(|r| r.state != onboarding_steps::run::RunState::Succeeded)
        .map(|r| r.request.tenant_id.clone())
        .collect();
    if !failed.is_empty() {
        bail!("runs did not succeed for: {}", failed.join(", "));
    }
    Ok(())
}

fn say(json: bool, line: &str) {
    if !json {
        outln!("{line}");
    }
}

/// Sets the stage, enqueues the three runs, plays the operator and reports progress until
/// every run has ended.
async fn play(
    sim: &SimHandle,
    onboard: &Onboard,
    operator_delay: u64,
    json: bool,
) -> anyhow::Result<Vec<Run>> {
    let seed = SeedApiUser::default();
    // acme: everything set up by the book.
    let acme = sim.db("acme")?.seed_api_user(&seed)?;
    // initech: the API user's level has no webhook permission yet.
    let initech_db = sim.db("initech")?;
    let initech = initech_db.seed_api_user(&SeedApiUser {
        webhook_max: None,
        ..seed.clone()
    })?;
    // globex: the previous user was onboarded before, then deactivated.
    let globex_db = sim.db("globex")?;
    let previous = globex_db.seed_api_user(&seed)?;
    let new = globex_db.seed_api_user(&SeedApiUser {
        first_name: "Sophos".into(),
        last_name: "Integration 2".into(),
        ..seed.clone()
    })?;
    let admin = globex_db.seed_api_user(&SeedApiUser {
        first_name: "MSP".into(),
        last_name: "Admin".into(),
        ..seed.clone()
    })?;
    globex_db.set_resource_admin(admin.security_level_id, true)?;

    say(
        json,
        "setting the stage: globex's previous API user is onboarded first, then deactivated",
    );
    let earlier = onboard
        .enqueue(request(RunKind::Onboard, "globex", &previous)?, None)
        .await?;
    watch(onboard, std::slice::from_ref(&earlier.run_id), json, |_| {}).await?;
    globex_db.set_active(previous.resource_id, false)?;

    let mut change = request(RunKind::ChangeApiUser, "globex", &new)?;
    change.previous_user = Some(input(&previous));
    change.admin = Some(input(&admin));
    let scenarios = [
        Scenario {
            tenant: "acme",
            story: "clean onboarding",
            request: request(RunKind::Onboard, "acme", &acme)?,
        },
        Scenario {
            tenant: "globex",
            story: "API-user change, previous user inactive and owning a webhook",
            request: change,
        },
        Scenario {
            tenant: "initech",
            story: "webhook permission missing until the operator fixes it",
            request: request(RunKind::Onboard, "initech", &initech)?,
        },
    ];
    let mut ids = Vec::new();
    for s in scenarios {
        let r = onboard.enqueue(s.request, None).await?;
        say(
            json,
            &format!(
                "[{}] enqueued run {} ({}), trace {}",
                s.tenant,
                r.run_id,
                s.story,
                r.trace_id.as_deref().unwrap_or("-")
            ),
        );
        ids.push(r.run_id);
    }
    let fix_at = tokio::time::Instant::now() + Duration::from_secs(operator_delay);
    let mut fixed = false;
    let initech_user = initech.resource_id;
    let previous_user = previous.resource_id;
    let runs = watch(onboard, &ids, json, |runs| {
        // globex, where Autotask does not (de)activate API users through REST (the strict
        // profile): the operator does it in the web interface when the run asks.
        for (step, active, what) in [
            (StepName::ReactivatePreviousUser, true, "reactivated"),
            (StepName::DeactivatePreviousUser, false, "deactivated"),
        ] {
            let waits = runs.iter().any(|r| {
                r.step(step)
                    .is_some_and(|s| matches!(s.state, StepState::WaitingForOperator { .. }))
            });
            let is = globex_db.api_user(previous_user).is_ok_and(|u| u.active);
            if waits && is != active && globex_db.set_active(previous_user, active).is_ok() {
                say(
                    json,
                    &format!("[globex] operator: {what} the previous API user in the web interface (C5)"),
                );
            }
        }
        if !fixed && tokio::time::Instant::now() >= fix_at {
            fixed = true;
            let levels = initech_db.security_levels();
            if let Some(system) = levels.iter().find(|l| l.name == "API User (system)") {
                if let Ok(copy) = initech_db.copy_security_level(system.id, "API User (webhooks)") {
                    let _ = initech_db.set_webhook_permission(copy.id, true, 10);
                    let _ = initech_db.assign_security_level(initech_user, copy.id);
                    say(json, "[initech] operator: copied \"API User (system)\", enabled Other > Webhooks (max 10), assigned it (W1–W4)");
                }
            }
        }
    })
    .await?;
    Ok(runs)
}

/// Follows runs until all have ended: prints new audit events, acknowledges attested steps
/// as the operator would, and calls `tick` on every round.
async fn watch(
    onboard: &Onboard,
    ids: &[String],
    json: bool,
    mut tick: impl FnMut(&[Run]),
) -> anyhow::Result<Vec<Run>> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    loop {
        let mut runs = Vec::new();
        for id in ids {
            runs.push(
                onboard
                    .runs
                    .get(id)
                    .await?
                    .with_context(|| format!("run {id} vanished"))?,
            );
        }
        for run in &runs {
            let n = seen.entry(run.id.clone()).or_default();
            for e in run.audit.iter().skip(*n) {
                let step = e.step.map(|s| format!(" {s}")).unwrap_or_default();
                let detail = e.detail.lines().next().unwrap_or_default();
                let detail = if detail.is_empty() {
                    String::new()
                } else {
                    format!(" — {detail}")
                };
                say(
                    json,
                    &format!(
                        "[{}]{step}: {}{detail}",
                        run.request.tenant_id, e.transition
                    ),
                );
            }
            *n = run.audit.len();
            for record in &run.steps {
                if let StepState::WaitingForOperator {
                    next_check: None, ..
                } = record.state
                {
                    say(
                        json,
                        &format!(
                            "[{}] operator: confirms {} in Autotask (`onboard ack`)",
                            run.request.tenant_id, record.step
                        ),
                    );
                    onboard
                        .acknowledge(&run.id, record.step, "demo-operator")
                        .await?;
                }
            }
        }
        tick(&runs);
        if runs.iter().all(|r| r.state.is_final()) {
            return Ok(runs);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The final per-tenant table of steps, attempts and outcome.
fn summary(runs: &[Run]) -> String {
    let mut out = String::from("\nsummary\n");
    out.push_str(&format!(
        "{:<9} {:<16} {:<34} {:>8}  outcome\n",
        "tenant", "run kind", "step", "attempts"
    ));
    for run in runs {
        for (i, record) in run.steps.iter().enumerate() {
            let (tenant, kind) = if i == 0 {
                (run.request.tenant_id.as_str(), run.request.kind.as_str())
            } else {
                ("", "")
            };
            let outcome = match &record.state {
                StepState::Succeeded { changed: true } => "succeeded (changed)".to_owned(),
                StepState::Succeeded { changed: false } => "succeeded".to_owned(),
                StepState::Skipped { .. } => "skipped".to_owned(),
                other => other.status().as_str().to_owned(),
            };
            out.push_str(&format!(
                "{tenant:<9} {kind:<16} {:<34} {:>8}  {outcome}\n",
                record.step.as_str(),
                record.attempts
            ));
        }
        out.push_str(&format!(
            "{:<9} {:<16} {:<34} {:>8}  run {}\n",
            "",
            "",
            "",
            "",
            run.state.as_str()
        ));
    }
    out
}
