//! The simulator's command line, shared by the `autotask-sim` binary and `onboard sim`:
//! options for port, fixtures, profile, replay, page size and latency, and [`serve`], which runs the
//! simulator until a shutdown signal and says where everything is.
//! What it does not do: no parsing of the fixtures format (that is `config`), no serving
//! (that is `server`).

use std::path::PathBuf;

use clap::Args;

use crate::{Error, Profile, SimConfig, spawn};

/// Options of a simulator run from the command line.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 8087, env = "AUTOTASK_SIM_PORT")]
    pub port: u16,
    /// Fixtures file (TOML, or JSON when the name ends in .json).
    #[arg(long)]
    pub fixtures: Option<PathBuf>,
    /// Behaviour profile: `strict` plays the pessimistic side of every behaviour Autotask
    /// leaves open (see the simulator's README). Replaces the fixtures' profile and
    /// behaviour knobs.
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
    /// Query page size (Autotask: 500).
    #[arg(long)]
    pub page_size: Option<u32>,
    /// Latency added to every REST request, in milliseconds.
    #[arg(long)]
    pub latency_ms: Option<u64>,
    /// Serve a tenant recorded by `onboard doctor --record DIR` instead of a simulated one.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["fixtures", "profile"])]
    pub replay: Option<PathBuf>,
    /// Database to create when the fixtures define none.
    #[arg(long, default_value = "demo")]
    pub database: String,
}

impl SimArgs {
    /// The configuration these options describe.
    pub fn config(&self) -> Result<SimConfig, Error> {
        let mut config = match &self.fixtures {
            Some(path) => SimConfig::from_file(path)?,
            None => SimConfig::default(),
        };
        config.port = self.port;
        if let Some(profile) = self.profile {
            config = config.with_profile(profile);
        }
        if let Some(p) = self.page_size {
            config.page_size = p.clamp(1, 500);
        }
        if let Some(l) = self.latency_ms {
            config.base_latency_ms = l;
        }
        if config.databases.is_empty() {
            config = config.with_database(&self.database);
        }
        Ok(config)
    }
}

/// Runs the simulator until `shutdown` resolves, printing its URLs.
pub async fn serve(
    args: &SimArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), Error> {
    if let Some(dir) = &args.replay {
        let replay = crate::replay::Replay::load(dir)?;
        let n = replay.len();
        let sim = crate::spawn_replay(args.config()?, replay).await?;
        println!(
            "autotask-sim listening on {} (replaying {n} recorded answers from {})",
            sim.base_url(),
            dir.display()
        );
        println!(
            "  zone discovery: {}?user=<username>",
            sim.zone_discovery_url()
        );
        shutdown.await;
        sim.shutdown().await;
        return Ok(());
    }
    let sim = spawn(args.config()?).await?;
    println!(
        "autotask-sim listening on {} (profile {})",
        sim.base_url(),
        sim.config().profile.as_str()
    );
    for db in sim.databases() {
        println!("  database {db}: {}", sim.zone_url(&db));
    }
    println!(
        "  zone discovery: {}?user=<username>",
        sim.zone_discovery_url()
    );
    println!("  console: {}/_sim/databases", sim.base_url());
    shutdown.await;
    sim.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::Behaviour;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimArgs,
    }

    #[test]
    fn profile_strict_sets_every_knob() {
        let cli = Cli::try_parse_from(["sim", "--profile", "strict"]).unwrap();
        let cfg = cli.args.config().unwrap();
        assert_eq!(
            (cfg.profile, cfg.behaviour),
            (Profile::Strict, Behaviour::strict())
        );
        let cli = Cli::try_parse_from(["sim"]).unwrap();
        assert_eq!(cli.args.config().unwrap().behaviour, Behaviour::default());
        assert!(Cli::try_parse_from(["sim", "--profile", "lenient"]).is_err());
    }

    #[test]
    fn replay_takes_a_directory_and_no_profile() {
        let cli = Cli::try_parse_from(["sim", "--replay", "rec"]).unwrap();
        assert_eq!(cli.args.replay, Some(PathBuf::from("rec")));
        assert!(Cli::try_parse_from(["sim", "--replay", "rec", "--profile", "strict"]).is_err());
    }
}
