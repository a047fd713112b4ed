//! `onboard care` and `onboard drift`: the tenants under continuous care from the command line.
//! `care show` prints what onboard keeps about a tenant (API user, webhook settings, the run
//! that put it under care; never the secret) and its latest findings; `care check` runs a
//! drift check now (the scheduled check's `verify` run, whose findings open a repair the
//! same way); `care forget` takes a tenant out of care (no more checks or repairs, its care
//! credentials deleted); `drift` lists the findings of checks and deactivation callouts,
//! newest first, with the repair run each opened.

use std::fmt::Write as _;

use anyhow::bail;
use clap::{Args, Subcommand};
use onboarding_steps::Timestamp;
use onboarding_worker::care::{CareRecord, DriftFinding};
use onboarding_worker::service::Onboard;

use crate::out::{out, outln};

/// `onboard care`.
#[derive(Debug, Subcommand)]
pub enum CareCommand {
    /// What onboard keeps about a tenant under care, and its latest drift findings.
    Show {
        /// The tenant id.
        tenant: String,
    },
    /// Check a tenant for drift now (a `verify` run; drift opens a repair run).
    Check {
        /// The tenant id.
        tenant: String,
    },
    /// Take a tenant out of care: no more drift checks or repairs; its care credentials are
    /// deleted. Its runs and findings stay.
    Forget {
        /// The tenant id.
        tenant: String,
    },
}

/// `onboard drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Only this tenant's findings.
    #[arg(long)]
    tenant: Option<String>,
    /// At most this many (1 to 1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
    limit: u16,
}

fn checked(tenant: &str) -> anyhow::Result<()> {
    onboarding_steps::settings::validate_tenant_id(tenant)
        .map_err(|e| anyhow::anyhow!("tenant: {e}"))
}

fn not_under_care(tenant: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "tenant {tenant} is not under care (a tenant comes under care when an onboard, \
         change_api_user or repair run of it succeeds)"
    )
}

/// Runs `onboard care …`.
pub async fn care(cmd: CareCommand, onboard: &Onboard, json: bool) -> anyhow::Result<()> {
    match cmd {
        CareCommand::Show { tenant } => {
            checked(&tenant)?;
            let Some(record) = onboard.care_record(&tenant).await? else {
                bail!(not_under_care(&tenant));
            };
            let findings = onboard.findings(Some(&tenant), 10).await?;
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"care": record.view(), "findings": findings})
                );
            } else {
                out!("{}", show(&record, &findings));
            }
        }
        CareCommand::Check { tenant } => {
            checked(&tenant)?;
            let Some(r) = onboard
                .check_now(&tenant, onboarding_worker::service::now())
                .await?
            else {
                bail!(not_under_care(&tenant));
            };
            if json {
                outln!("{}", serde_json::json!({"run_id": r.run_id}));
            } else {
                outln!(
                    "drift check of {tenant} enqueued: run {} (follow it with `onboard status {}`; drift opens a repair run, listed by `onboard drift`)",
                    r.run_id,
                    r.run_id
                );
            }
        }
        CareCommand::Forget { tenant } => {
            checked(&tenant)?;
            if !onboard.forget_care(&tenant).await? {
                bail!(not_under_care(&tenant));
            }
            if json {
                outln!("{}", serde_json::json!({"forgotten": tenant}));
            } else {
                outln!(
                    "{tenant} is no longer under care: no more drift checks or repairs; its care credentials are deleted"
                );
            }
        }
    }
    Ok(())
}

/// Runs `onboard drift`.
pub async fn drift(args: DriftArgs, onboard: &Onboard, json: bool) -> anyhow::Result<()> {
    if let Some(t) = &args.tenant {
        checked(t)?;
    }
    let findings = onboard
        .findings(args.tenant.as_deref(), usize::from(args.limit))
        .await?;
    let refused = onboard.refused_callouts().await?;
    if json {
        outln!(
            "{}",
            serde_json::json!({"findings": findings, "refused_callouts": refused})
        );
    } else {
        out!("{}", table(&findings));
        outln!("deactivation callouts refused as not ours: {refused}");
    }
    Ok(())
}

fn show(r: &CareRecord, findings: &[DriftFinding]) -> String {
    let mut s = format!(
        "{} ({}) is under care\n  API user: {}{}\n  webhooks: {} ({})\n  registered by run {} at {}\n",
        r.tenant_id,
        if r.tenant_name.is_empty() {
            "no name"
        } else {
            &r.tenant_name
        },
        r.user_name,
        r.user_id
            .map(|id| format!(" (resource {id})"))
            .unwrap_or_default(),
        r.settings.webhook_url_base,
        r.settings
            .families()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        r.run_id,
        Timestamp::from_millis(r.registered_at).time_of_day(),
    );
    if findings.is_empty() {
        s.push_str("no drift found\n");
    } else {
        s.push_str("latest findings:\n");
        s.push_str(&table(findings));
    }
    s
}

fn table(findings: &[DriftFinding]) -> String {
    if findings.is_empty() {
        return "no findings\n".to_owned();
    }
    let mut s = format!(
        "{:<14} {:<16} {:<9} {:<12} {:<28} detail\n",
        "when", "tenant", "source", "kind", "repair run"
    );
    for f in findings {
        let _ = writeln!(
            s,
            "{:<14} {:<16} {:<9} {:<12} {:<28} {}",
            Timestamp::from_millis(f.at).time_of_day(),
            f.tenant_id,
            f.source.as_str(),
            f.kind.as_str(),
            f.repair_run.as_deref().unwrap_or("-"),
            f.detail
        );
    }
    s
}
