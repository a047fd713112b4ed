//! `onboard campaign`: a cohort run in waves (a canary first), paced per Autotask zone,
//! halted by itself when a wave fails too often; `list`, `show`, `pause`, `resume`, `abort`
//! and `report` (CSV or JSON). The cohort file is the format `onboard bulk` reads (a JSON
//! array of enqueue requests, or JSON Lines), each entry optionally with a `zone`. The whole
//! cohort is checked before anything is stored: a bad entry is named and nothing is stored.
//! The waves are driven by the workers (`onboarding_worker::campaign_driver`): this command
//! only stores the campaign or changes its state.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::out::{out, outln};
use anyhow::{Context as _, anyhow};
use clap::{Args, Subcommand};
use onboarding_campaign::{Campaign, CampaignOptions, parse_pace, zone_of};
use onboarding_steps::run::RunKind;
use onboarding_worker::campaigns::{CampaignReport, parse_cohort};
use onboarding_worker::service::Onboard;

/// `onboard campaign`.
#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Create a campaign from a cohort file; the workers run it in waves.
    Create(CreateArgs),
    /// List campaigns, newest first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show a campaign: state, waves, why it halted, failures by step and error class.
    Show {
        /// The campaign id.
        id: String,
    },
    /// Pause: nothing new is enqueued; runs in flight finish.
    Pause(ActArgs),
    /// Resume a paused or halted campaign (a halted wave is accepted as it is).
    Resume(ActArgs),
    /// Abort: nothing more is enqueued, runs not started are cancelled.
    Abort(ActArgs),
    /// The per-tenant report (what changed, what failed): a table, `--csv`, or `--json`.
    Report {
        /// The campaign id.
        id: String,
        /// CSV instead of a table.
        #[arg(long)]
        csv: bool,
    },
}

/// `onboard campaign create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The cohort (as `onboard bulk` reads it; an entry may add `"zone": "webservices5"` and
    /// may leave out `kind`: `--kind` applies to every entry).
    #[arg(long)]
    file: PathBuf,
    /// The run kind for every tenant (onboard, change_api_user, cleanup_webhooks, verify).
    #[arg(long, value_parser = str::parse::<RunKind>)]
    kind: RunKind,
    /// Tenants in the canary wave, run first and alone.
    #[arg(long, default_value_t = 0)]
    canary: usize,
    /// Tenants per wave after the canary.
    #[arg(long, default_value_t = 100)]
    wave_size: usize,
    /// Halt when a wave's failed runs exceed this share of it (0 to 1).
    #[arg(long, default_value_t = 0.1)]
    max_failure_rate: f64,
    /// At most N run starts per minute per Autotask zone, e.g. 30/min.
    #[arg(long, value_parser = |s: &str| parse_pace(s).map_err(|e| e.0))]
    pace: Option<u32>,
    /// Every run reports its planned calls without making them.
    #[arg(long)]
    dry_run: bool,
    /// The operator confirmed the attested steps (A12, V1) for every tenant of the cohort:
    /// acknowledge them as this operator when each run is enqueued.
    #[arg(long)]
    confirm_attested_as: Option<String>,
    /// Who creates it (recorded).
    #[arg(long, env = "USER", default_value = "operator")]
    operator: String,
}

/// `pause`, `resume`, `abort`.
#[derive(Debug, Args)]
pub struct ActArgs {
    /// The campaign id.
    id: String,
    /// Who acts (recorded in the campaign's events).
    #[arg(long, env = "USER", default_value = "operator")]
    operator: String,
}

/// Runs `onboard campaign`.
pub async fn campaign(cmd: CampaignCommand, onboard: &Onboard, json: bool) -> anyhow::Result<()> {
    match cmd {
        CampaignCommand::Create(args) => create(args, onboard, json).await,
        CampaignCommand::List { limit } => {
            let list = onboard.campaigns(0, limit).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                out!("{}", render_list(&list));
            }
            Ok(())
        }
        CampaignCommand::Show { id } => {
            let report = onboard.campaign_report(&id).await?;
            if json {
                let value = serde_json::json!({
                    "campaign": report.campaign,
                    "failures": report.failures,
                });
                outln!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                out!("{}", render_show(&report));
            }
            Ok(())
        }
        CampaignCommand::Pause(a) => {
            let c = onboard.pause_campaign(&a.id, &a.operator).await?;
            say(
                json,
                &c,
                &format!("campaign {} paused; runs in flight finish", c.id),
            )
        }
        CampaignCommand::Resume(a) => {
            let c = onboard.resume_campaign(&a.id, &a.operator).await?;
            say(json, &c, &format!("campaign {} resumed", c.id))
        }
        CampaignCommand::Abort(a) => {
            let (c, cancelled) = onboard.abort_campaign(&a.id, &a.operator).await?;
            say(
                json,
                &c,
                &format!(
                    "campaign {} aborted; {cancelled} run(s) not started were cancelled",
                    c.id
                ),
            )
        }
        CampaignCommand::Report { id, csv } => {
            let report = onboard.campaign_report(&id).await?;
            if csv {
                out!("{}", onboarding_campaign::report::csv(&report.tenants));
            } else if json {
                outln!("{}", serde_json::to_string_pretty(&report.tenants)?);
            } else {
                out!("{}", render_rows(&report));
            }
            Ok(())
        }
    }
}

fn say(json: bool, c: &Campaign, human: &str) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(c)?);
    } else {
        outln!("{human}");
    }
    Ok(())
}

async fn create(args: CreateArgs, onboard: &Onboard, json: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("--file: cannot read {}", args.file.display()))?;
    let cohort = parse_cohort(&text)
        .map_err(|e| anyhow!("--file {}: {e}; nothing was stored", args.file.display()))?;
    let options = CampaignOptions {
        kind: args.kind,
        canary: args.canary,
        wave_size: args.wave_size,
        max_failure_rate: args.max_failure_rate,
        pace_per_min: args.pace,
        dry_run: args.dry_run,
        confirm_attested_as: args.confirm_attested_as,
    };
    let c = onboard
        .create_campaign(options, cohort, &args.operator)
        .await
        .with_context(|| format!("--file {}", args.file.display()))?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        let zones: Vec<String> = c.zones.iter().map(|(z, n)| format!("{z}: {n}")).collect();
        outln!(
            "campaign {} created: {} tenants in {} waves{} (zones {}); the workers start it now.\nFollow it with `onboard campaign show {}`.",
            c.id,
            c.tenants,
            c.waves.len(),
            if c.options.canary > 0 {
                format!(", a canary of {} first", c.waves[0].size)
            } else {
                String::new()
            },
            zones.join(", "),
            c.id
        );
    }
    Ok(())
}

fn render_list(list: &[Campaign]) -> String {
    let mut s = format!(
        "{:<28} {:<10} {:<16} {:>8} {:>6} created by\n",
        "campaign", "state", "kind", "tenants", "waves"
    );
    for c in list {
        let _ = writeln!(
            s,
            "{:<28} {:<10} {:<16} {:>8} {:>6} {}",
            c.id,
            c.state.as_str(),
            c.options.kind.as_str(),
            c.tenants,
            c.waves.len(),
            c.created_by
        );
    }
    s
}

fn render_show(r: &CampaignReport) -> String {
    let c = &r.campaign;
    let mut s = format!(
        "campaign {}: {} ({} {} tenants, created by {})\n",
        c.id,
        c.state.as_str(),
        c.tenants,
        c.options.kind.as_str(),
        c.created_by
    );
    if let Some(h) = &c.halt {
        let _ = writeln!(s, "halted: {}", h.describe());
    }
    let _ = writeln!(
        s,
        "\n{:<6} {:>6} {:>9} {:>9} {:>7} {:>9} {:>8}",
        "wave", "size", "enqueued", "succeeded", "failed", "cancelled", "status"
    );
    let halted_wave = c
        .halt
        .as_ref()
        .filter(|_| c.state == onboarding_campaign::CampaignState::Halted)
        .map(|h| h.wave);
    for w in &c.waves {
        let status = match (w.started_at, w.finished_at) {
            (_, Some(_)) => "finished",
            _ if halted_wave == Some(w.index) => "halted",
            (Some(_), None) => "running",
            (None, None) => "waiting",
        };
        let _ = writeln!(
            s,
            "{:<6} {:>6} {:>9} {:>9} {:>7} {:>9} {:>8}",
            format!("{}{}", w.index, if w.canary { "c" } else { "" }),
            w.size,
            w.tally.enqueued,
            w.tally.succeeded,
            w.tally.failed,
            w.tally.cancelled,
            status
        );
    }
    if !r.failures.is_empty() {
        let _ = writeln!(s, "\nfailures by step and error class:");
        for f in &r.failures {
            let _ = writeln!(
                s,
                "  {} x {} ({}): {} e.g. {}",
                f.count,
                f.step,
                f.error_class,
                f.tenants.join(", "),
                f.example
            );
        }
    }
    let _ = writeln!(s, "\nevents:");
    for e in c.events.iter().rev().take(10).rev() {
        let _ = writeln!(s, "  {} {}: {}", e.at.time_of_day(), e.actor, e.what);
    }
    s
}

fn render_rows(r: &CampaignReport) -> String {
    let mut s = format!(
        "{:<6} {:<5} {:<20} {:<14} {:<22} changed / failure\n",
        "entry", "wave", "tenant", "zone", "state"
    );
    for row in &r.tenants {
        let detail = match (&row.failed_step, &row.reason) {
            (Some(step), Some(reason)) => format!(
                "{step} ({}): {reason}",
                row.error_class.as_deref().unwrap_or("")
            ),
            _ if row.changed.is_empty() => "nothing".into(),
            _ => row.changed.join(", "),
        };
        let _ = writeln!(
            s,
            "{:<6} {:<5} {:<20} {:<14} {:<22} {detail}",
            row.entry,
            row.wave,
            row.tenant,
            zone_of(Some(&row.zone)),
            row.state
        );
    }
    s
}
