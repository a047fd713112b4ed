//! The commands: each loads the configuration, connects, does one thing, and prints human
//! text or `--json`.

use std::path::PathBuf;

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand};
use onboarding_queue::DeadFilter;
use onboarding_steps::run::{RunKind, RunState};
use onboarding_steps::{StepName, TenantSettings};
use onboarding_worker::runs::RunFilter;
use onboarding_worker::secrets::SecretBox;
use onboarding_worker::service::{EnqueueRequest, Onboard, OperatorAction};

use crate::config::Config;
use crate::flags::{WebhookFlags, user_credentials};
use crate::out::{out, outln};
use crate::{Cli, Command, app, demo, render};

/// `onboard worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Steps run at once (overrides worker.concurrency).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Worker name in audit records (a unique suffix is added).
    #[arg(long, default_value = "worker")]
    name: String,
}

/// `onboard runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs in this state (queued, running, waiting_for_operator, succeeded, failed, cancelled).
    #[arg(long, value_parser = str::parse::<RunState>)]
    state: Option<RunState>,
    /// Only runs of this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

/// `onboard dead ...`.
#[derive(Debug, Subcommand)]
pub enum DeadCommand {
    /// List dead letters.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Retry one dead job, or every dead job of a tenant (`--tenant`), or all (`--all`).
    Retry {
        /// The job id.
        job: Option<String>,
        /// Every dead job of this tenant.
        #[arg(long, conflicts_with = "job")]
        tenant: Option<String>,
        /// Every dead job.
        #[arg(long, conflicts_with_all = ["job", "tenant"])]
        all: bool,
        /// Seconds between requeued jobs.
        #[arg(long, default_value_t = 0)]
        pace_secs: u64,
        /// Who retries (recorded in each run's audit trail).
        #[arg(long, env = "USER", default_value = "operator")]
        operator: String,
    },
}

/// `onboard enqueue`.
#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// The whole request as JSON, or TOML when the name ends in `.toml` (see README); may
    /// hold the secrets.
    #[arg(long, conflicts_with_all = ["kind", "tenant"])]
    file: Option<PathBuf>,
    /// onboard, change_api_user, cleanup_webhooks, verify or repair.
    #[arg(long, value_parser = str::parse::<RunKind>)]
    kind: Option<RunKind>,
    /// Tenant id.
    #[arg(long)]
    tenant: Option<String>,
    /// Tenant name.
    #[arg(long, default_value = "")]
    tenant_name: String,
    /// The (new) API user's username.
    #[arg(long)]
    new_user: Option<String>,
    /// The previous API user's username.
    #[arg(long)]
    previous_user: Option<String>,
    /// Admin username (may reactivate users).
    #[arg(long)]
    admin_user: Option<String>,
    /// HTTPS base of the webhook URLs.
    #[arg(long)]
    webhook_url_base: Option<String>,
    #[command(flatten)]
    webhooks: WebhookFlags,
    /// Idempotency key (default: derived from the request).
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Report the planned calls without making them.
    #[arg(long)]
    dry_run: bool,
    /// A bulk campaign: yields to fresh work.
    #[arg(long)]
    bulk: bool,
    /// Join the caller's trace (W3C traceparent).
    #[arg(long)]
    traceparent: Option<String>,
    /// Secrets as JSON {integration_code, new_secret, previous_secret, admin_secret} from
    /// this file ("-" = stdin). Default: ONBOARD_INTEGRATION_CODE, ONBOARD_NEW_SECRET,
    /// ONBOARD_PREVIOUS_SECRET, ONBOARD_ADMIN_SECRET.
    #[arg(long)]
    secrets: Option<String>,
}

/// Runs the command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let var = |k: &str| std::env::var(k).ok();
    let text = match &cli.config {
        None => None,
        Some(path) => Some((
            path.display().to_string(),
            std::fs::read_to_string(path)
                .with_context(|| format!("--config: cannot read {}", path.display()))?,
        )),
    };
    let config = Config::load(text.as_ref().map(|(p, t)| (p.as_str(), t.as_str())), var)?;
    let json = cli.json;
    match cli.command {
        Command::Keygen => {
            outln!("{}", SecretBox::generate_key());
            Ok(())
        }
        Command::Rekey { limit } => {
            let report = app::connect(&config).await?.rekey(limit).await?;
            let mut human = format!(
                "{} re-sealed, {} already under key id {}, {} old webhook-secret slots removed{}\n",
                report.resealed,
                report.current,
                app::sealing_key(&config, true)?.key_id(),
                report.removed,
                if report.complete {
                    ""
                } else {
                    "; stopped at --limit: run it again"
                }
            );
            for line in &report.unreadable {
                human.push_str(&format!("cannot open {line}\n"));
            }
            print(json, &report, || human);
            if report.unreadable.is_empty() {
                Ok(())
            } else {
                Err(anyhow!(
                    "{} records open with no configured key",
                    report.unreadable.len()
                ))
            }
        }
        Command::Sim(args) => demo::sim(args).await,
        Command::Doctor(args) => crate::doctor::doctor(args, &config, json).await,
        Command::Demo(args) => demo::demo(args, config, json).await,
        Command::Worker(args) => worker(args, &config).await,
        Command::Api => api(&config).await,
        Command::Enqueue(args) => {
            let onboard = app::connect(&config).await?;
            enqueue(args, &onboard, json).await
        }
        Command::Status { run } => {
            let onboard = app::connect_plain(&config).await?;
            let r = onboard
                .runs
                .get(&run)
                .await?
                .ok_or_else(|| anyhow!("no run with id {run}"))?;
            let value = onboarding_api::run_json(&r, &config.trace_links);
            print(json, &value, || render::status(&r, &config.trace_links));
            Ok(())
        }
        Command::Runs(args) => {
            let onboard = app::connect_plain(&config).await?;
            let filter = RunFilter {
                state: args.state,
                tenant: args.tenant,
            };
            let runs = onboard.runs.list(&filter, 0, args.limit).await?;
            print(json, &runs, || render::runs(&runs));
            Ok(())
        }
        Command::Ack {
            run,
            step,
            operator,
        } => {
            let step: StepName = step.parse().map_err(|e: String| anyhow!(e))?;
            act(
                &config,
                json,
                &run,
                OperatorAction::Acknowledge(step),
                &operator,
            )
            .await
        }
        Command::Retry { run, operator } => {
            act(&config, json, &run, OperatorAction::Retry, &operator).await
        }
        Command::Cancel { run, operator } => {
            act(&config, json, &run, OperatorAction::Cancel, &operator).await
        }
        Command::Bulk(args) => {
            let onboard = app::connect(&config).await?;
            crate::bulk::bulk(args, &onboard, json).await
        }
        Command::Campaign(cmd) => {
            let onboard = app::connect(&config).await?;
            crate::campaign::campaign(cmd, &onboard, json).await
        }
        Command::Care(cmd) => {
            // A check opens the tenant's sealed care credentials: it needs the key.
            let onboard = match cmd {
                crate::care::CareCommand::Check { .. } => app::connect(&config).await?,
                _ => app::connect_plain(&config).await?,
            };
            crate::care::care(cmd, &onboard, json).await
        }
        Command::Drift(args) => {
            crate::care::drift(args, &app::connect_plain(&config).await?, json).await
        }
        Command::Dead(cmd) => dead(cmd, &app::connect_plain(&config).await?, json).await,
        Command::Token(cmd) => {
            crate::tokens::token(cmd, &app::connect_plain(&config).await?, json).await
        }
    }
}

async fn act(
    config: &Config,
    json: bool,
    run: &str,
    action: OperatorAction,
    operator: &str,
) -> anyhow::Result<()> {
    let done = app::connect_plain(config)
        .await?
        .act(run, action, operator)
        .await?;
    say(json, done.to_json(), &done.describe());
    Ok(())
}

fn print<T: serde::Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) {
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(value).expect("serializable")
        );
    } else {
        out!("{}", human());
    }
}

fn say(json: bool, value: serde_json::Value, human: &str) {
    if json {
        outln!("{value}");
    } else {
        outln!("{human}");
    }
}

async fn worker(args: WorkerArgs, config: &Config) -> anyhow::Result<()> {
    let telemetry = onboarding_telemetry::init(&app::telemetry_config())?;
    let onboard = app::connect(config).await?;
    let listener = tokio::net::TcpListener::bind(config.metrics_addr)
        .await
        .with_context(|| {
            format!(
                "worker.metrics_addr: cannot listen on {}",
                config.metrics_addr
            )
        })?;
    tracing::info!(addr = %config.metrics_addr, "metrics at /metrics");
    let sweeper = tokio::spawn(app::sweep_periodically(
        onboard.clone(),
        config.retention,
        config.sweep_interval,
    ));
    // Drift checks: every worker ticks; the shared cursor and idempotent enqueue make each
    // tenant's check happen once per period (`onboarding_worker::drift`).
    let drift = config.drift_period.map(|period| {
        tokio::spawn(onboarding_worker::drift::run_drift_checks(
            onboard.clone(),
            period,
            onboarding_worker::drift::default_tick(period),
            std::future::pending(),
        ))
    });
    let served = app::serve_worker(
        onboard,
        listener,
        format!("{}-{}", args.name, std::process::id()),
        args.concurrency.unwrap_or(config.concurrency),
        app::shutdown_signal(),
    )
    .await;
    sweeper.abort();
    if let Some(drift) = drift {
        drift.abort();
    }
    served?;
    telemetry.shutdown();
    Ok(())
}

async fn api(config: &Config) -> anyhow::Result<()> {
    // The certificate and key are checked before anything else: a bad file is named at once.
    let tls = config
        .api_tls
        .as_ref()
        .map(onboarding_api::tls::load)
        .transpose()?;
    let telemetry = onboarding_telemetry::init(&app::telemetry_config())?;
    let onboard = app::connect(config).await?;
    let listener = tokio::net::TcpListener::bind(config.api_listen)
        .await
        .with_context(|| format!("api.listen: cannot listen on {}", config.api_listen))?;
    tracing::info!(
        addr = %config.api_listen,
        tls = tls.is_some(),
        "HTTP API listening (OpenAPI at /openapi.json)"
    );
    let onboard_for_callouts = onboard.clone();
    let router = onboarding_api::router(
        onboard,
        onboarding_api::ApiConfig {
            token: config.api_token.clone(),
            trace_links: config.trace_links.clone(),
            hosts: config.api_hosts.clone(),
            open_reads: config.api_listen.ip().is_loopback(),
            clock: onboarding_api::Clock::default(),
        },
    )
    .merge(onboarding_api::callouts::router(
        onboard_for_callouts,
        &config.deactivation_url_base.as_deref().map_or_else(
            || onboarding_api::callouts::DEFAULT_PATH.to_owned(),
            onboarding_api::callouts::path_of,
        ),
    ));
    onboarding_api::tls::serve(listener, router, tls, app::shutdown_signal()).await?;
    telemetry.shutdown();
    Ok(())
}

async fn enqueue(args: EnqueueArgs, onboard: &Onboard, json: bool) -> anyhow::Result<()> {
    let request = match &args.file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--file: cannot read {}", path.display()))?;
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
            {
                let de = toml::Deserializer::parse(&text)
                    .map_err(|e| anyhow!("--file {}: {}", path.display(), e.message()))?;
                serde_path_to_error::deserialize::<_, EnqueueRequest>(de).map_err(|e| {
                    anyhow!(
                        "--file {}: {} at {}",
                        path.display(),
                        e.inner().message(),
                        e.path()
                    )
                })?
            } else {
                let mut de = serde_json::Deserializer::from_str(&text);
                serde_path_to_error::deserialize::<_, EnqueueRequest>(&mut de).map_err(|e| {
                    anyhow!("--file {}: {} at {}", path.display(), e.inner(), e.path())
                })?
            }
        }
        None => request_from_flags(&args)?,
    };
    let subscriptions = request.settings.subscriptions();
    let dry_run = request.dry_run;
    let result = onboard
        .enqueue(request, args.traceparent.as_deref())
        .await?;
    let mut human = if result.created {
        format!(
            "enqueued {}run {} (trace {})",
            if dry_run { "dry " } else { "" },
            result.run_id,
            result.trace_id.as_deref().unwrap_or("-")
        )
    } else {
        format!("run {} already exists for this request", result.run_id)
    };
    for line in subscriptions {
        human.push_str(&format!("\n  {line}"));
    }
    say(json, serde_json::to_value(&result)?, &human);
    Ok(())
}

fn request_from_flags(args: &EnqueueArgs) -> anyhow::Result<EnqueueRequest> {
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .ok_or_else(|| anyhow!("--{flag} is required (or use --file)"))
    };
    let users = user_credentials(
        args.secrets.as_deref(),
        &need(&args.new_user, "new-user")?,
        args.previous_user.as_deref(),
        args.admin_user.as_deref(),
    )?;
    let mut settings: TenantSettings = serde_json::from_value(serde_json::json!({
        "webhook_url_base": need(&args.webhook_url_base, "webhook-url-base")?,
    }))?;
    if let Some(families) = args.webhooks.families()? {
        settings.webhook_families = families;
    }
    Ok(EnqueueRequest {
        kind: args
            .kind
            .ok_or_else(|| anyhow!("--kind is required (or use --file)"))?,
        tenant_id: need(&args.tenant, "tenant")?,
        tenant_name: args.tenant_name.clone(),
        settings,
        new_user: users.new_user,
        previous_user: users.previous_user,
        admin: users.admin,
        idempotency_key: args.idempotency_key.clone(),
        dry_run: args.dry_run,
        bulk: args.bulk,
    })
}

async fn dead(cmd: DeadCommand, onboard: &Onboard, json: bool) -> anyhow::Result<()> {
    match cmd {
        DeadCommand::List { limit } => {
            let dead = onboard.dead_letters(0, limit as u64).await?;
            print(json, &dead, || render::dead(&dead));
        }
        DeadCommand::Retry {
            job,
            tenant,
            all,
            pace_secs,
            operator,
        } => {
            let pace = (pace_secs > 0).then(|| std::time::Duration::from_secs(pace_secs));
            let n = match (job, tenant, all) {
                (Some(id), _, _) => u64::from(onboard.retry_dead(&id, &operator).await?),
                (None, Some(t), _) => {
                    let filter = DeadFilter {
                        group: Some(t),
                        ..DeadFilter::default()
                    };
                    onboard.retry_dead_where(&filter, pace, &operator).await?
                }
                (None, None, true) => {
                    onboard
                        .retry_dead_where(&DeadFilter::default(), pace, &operator)
                        .await?
                }
                (None, None, false) => bail!("name a job, --tenant or --all"),
            };
            say(
                json,
                serde_json::json!({"requeued": n}),
                &format!("requeued {n} dead job(s)"),
            );
        }
    }
    Ok(())
}
