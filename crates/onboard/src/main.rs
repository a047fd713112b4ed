//! `onboard`: brings Autotask PSA tenants into the Sophos Central – Security integration.
//!
//! Commands: `worker`, `api`, `enqueue`, `bulk`, `campaign`, `care`, `drift`, `status`, `runs`, `ack`, `retry`, `cancel`, `dead`,
//! `token`, `keygen`, `rekey`, `sim`, `demo`, `doctor`. Human output by default, `--json` for machines. Configuration:
//! `--config FILE` (TOML) and `ONBOARD_*` environment variables (see `config.rs`); an error
//! names the bad setting and changes nothing. Secrets never come from argv: they come from a
//! file, the environment or stdin.

mod app;
mod bulk;
mod campaign;
mod care;
mod commands;
mod config;
mod demo;
mod doctor;
mod flags;
mod out;
mod render;
mod tokens;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// onboard: Autotask onboarding and webhook changeover as retryable Redis-backed jobs.
#[derive(Debug, Parser)]
#[command(name = "onboard", version, about)]
pub struct Cli {
    /// TOML configuration file (also ONBOARD_CONFIG).
    #[arg(long, global = true, env = "ONBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: boxing the large variant would save nothing that matters.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a worker: executes step jobs until SIGTERM or ctrl-c.
    Worker(commands::WorkerArgs),
    /// Serve the HTTP API for upstream systems and operators (OpenAPI at /openapi.json).
    Api,
    /// Enqueue a run (request from a JSON file or flags; secrets from a file, env or stdin).
    Enqueue(commands::EnqueueArgs),
    /// Show one run: steps, attempts, last errors, operator checklist.
    Status {
        /// The run id.
        run: String,
    },
    /// List runs.
    Runs(commands::RunsArgs),
    /// Acknowledge an operator-attested step.
    Ack {
        /// The run id.
        run: String,
        /// The step, e.g. confirm_vendor_active.
        step: String,
        /// Who acknowledges (recorded in the audit trail).
        #[arg(long, env = "USER", default_value = "operator")]
        operator: String,
    },
    /// Retry a failed run from its failed step.
    Retry {
        /// The run id.
        run: String,
        /// Who retries.
        #[arg(long, env = "USER", default_value = "operator")]
        operator: String,
    },
    /// Cancel a run.
    Cancel {
        /// The run id.
        run: String,
        /// Who cancels.
        #[arg(long, env = "USER", default_value = "operator")]
        operator: String,
    },
    /// Re-provision or verify a cohort of tenants from a file, with progress and a summary.
    Bulk(bulk::BulkArgs),
    /// Campaigns: a cohort in waves with a canary, pacing per zone and a failure-rate halt;
    /// create, list, show, pause, resume, abort, report.
    #[command(subcommand)]
    Campaign(campaign::CampaignCommand),
    /// Tenants under continuous care: show one, check one for drift now, take one out.
    #[command(subcommand)]
    Care(care::CareCommand),
    /// Drift findings of the scheduled checks and deactivation callouts, newest first.
    Drift(care::DriftArgs),
    /// Dead letters: list them, or retry them.
    #[command(subcommand)]
    Dead(commands::DeadCommand),
    /// API tokens: issue one with scopes (printed once), list them, revoke one.
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// Print a new random sealing key (for ONBOARD_SECRET_KEY).
    Keygen,
    /// Re-seal every stored secret under ONBOARD_SECRET_KEY (the old key in
    /// ONBOARD_SECRET_KEYS_OLD); safe to stop and run again.
    Rekey {
        /// Stop after re-sealing this many records (run again to go on).
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Check a tenant read-only: which of onboard's assumptions hold, which fallback paths a
    /// run will take (`--record DIR` saves the redacted answers).
    Doctor(doctor::DoctorArgs),
    /// Run the Autotask simulator (for trying onboard without a real Autotask).
    Sim(autotask_sim::cli::SimArgs),
    /// The demo: simulator, worker and three tenants, with live progress and a summary.
    Demo(demo::DemoArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
