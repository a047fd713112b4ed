//! `autotask-sim`: runs the simulator on 127.0.0.1 until Ctrl-C, with tenant fixtures from a
//! TOML or JSON file and command-line overrides for port, page size and latency.

use std::path::PathBuf;

use clap::Parser;

/// Runs the Autotask simulator.
#[derive(Debug, Parser)]
#[command(name = "autotask-sim", version, about)]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 8087, env = "AUTOTASK_SIM_PORT")]
    port: u16,
    /// Fixtures file (TOML, or JSON when the name ends in .json).
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Query page size (Autotask: 500).
    #[arg(long)]
    page_size: Option<u32>,
    /// Latency added to every REST request, in milliseconds.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Database to create when the fixtures define none.
    #[arg(long, default_value = "demo")]
    database: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = match &args.fixtures {
        Some(path) => autotask_sim::SimConfig::from_file(path)?,
        None => autotask_sim::SimConfig::default(),
    };
    config.port = args.port;
    if let Some(p) = args.page_size {
        config.page_size = p.clamp(1, 500);
    }
    if let Some(l) = args.latency_ms {
        config.base_latency_ms = l;
    }
    if config.databases.is_empty() {
        config = config.with_database(&args.database);
    }
    let sim = autotask_sim::spawn(config).await?;
    println!("autotask-sim listening on {}", sim.base_url());
    for db in sim.databases() {
        println!("  database {db}: {}", sim.zone_url(&db));
    }
    println!(
        "  zone discovery: {}?user=<username>",
        sim.zone_discovery_url()
    );
    println!("  console: {}/_sim/databases", sim.base_url());
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
