//! `autotask-sim`: runs the simulator on 127.0.0.1 until Ctrl-C, with tenant fixtures from a
//! TOML or JSON file and command-line overrides for port, page size and latency (the
//! options live in the library's `cli` module, shared with `onboard sim`).
//! What it does not do: nothing beyond logging setup and Ctrl-C; no simulator logic.

use clap::Parser;

/// Runs the Autotask simulator.
#[derive(Debug, Parser)]
#[command(name = "autotask-sim", version, about)]
struct Cli {
    #[command(flatten)]
    args: autotask_sim::cli::SimArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    autotask_sim::cli::serve(&cli.args, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
