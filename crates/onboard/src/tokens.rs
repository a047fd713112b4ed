//! `onboard token add|list|revoke`: the API's scoped tokens (`onboarding_worker::tokens`).
//! `add` prints the token once (stdout only, nothing else keeps it); `list` shows names,
//! scopes and when each was issued, never a token; `revoke` takes effect at the API's next
//! request.

use anyhow::bail;
use clap::Subcommand;
use onboarding_worker::service::Onboard;
use onboarding_worker::tokens::{Scope, TokenInfo, parse_scopes};

use crate::out::outln;

/// `onboard token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token named NAME (the identity the audit trail records) and print it once.
    Add {
        /// The client's or operator's name (letters, digits, '.', '_', '-', '@').
        name: String,
        /// What it may do, comma-separated: enqueue, operate, read.
        #[arg(long, required = true)]
        scope: String,
    },
    /// List the tokens: names, scopes, when issued (never the tokens).
    List,
    /// Revoke the token named NAME.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// Runs one token command.
pub async fn token(cmd: TokenCommand, onboard: &Onboard, json: bool) -> anyhow::Result<()> {
    let store = &onboard.tokens;
    match cmd {
        TokenCommand::Add { name, scope } => {
            let scope = parse_scopes(&scope).map_err(|e| anyhow::anyhow!("--scope: {e}"))?;
            let issued = store
                .add(&name, &scope, onboarding_worker::service::now())
                .await?;
            let scopes = names(&scope);
            if json {
                outln!(
                    "{}",
                    serde_json::json!({"name": name, "scopes": scope, "token": issued.expose()})
                );
            } else {
                outln!("{}", issued.expose());
                eprintln!(
                    "token {name:?} ({scopes}) issued; it is shown only now. Use it as \
                     `Authorization: Bearer <token>`, or as the dashboard password."
                );
            }
        }
        TokenCommand::List => {
            let all = store.list().await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&all)?);
            } else if all.is_empty() {
                outln!("no tokens (onboard token add NAME --scope read,operate)");
            } else {
                for t in &all {
                    outln!("{}", line(t));
                }
            }
        }
        TokenCommand::Revoke { name } => {
            if !store.revoke(&name).await? {
                bail!("no token named {name:?} (onboard token list)");
            }
            if json {
                outln!("{}", serde_json::json!({"revoked": name}));
            } else {
                outln!("revoked token {name:?}");
            }
        }
    }
    Ok(())
}

fn names(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn line(t: &TokenInfo) -> String {
    format!(
        "{:<24} {:<22} created {}",
        t.name,
        names(&t.scopes),
        date(t.created.as_millis())
    )
}

/// `YYYY-MM-DD HH:MM UTC` from milliseconds since the epoch (days to a civil date after
/// Howard Hinnant's algorithm).
fn date(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(super::date(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::date(1_709_164_800_000), "2024-02-29 00:00 UTC");
        assert_eq!(super::date(1_798_761_540_000), "2026-12-31 23:59 UTC");
    }
}
