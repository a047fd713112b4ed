//! `onboard rekey`: re-seals every sealed record of a deployment under the sealing key, so an
//! old key can be dropped. Records already under the sealing key are left alone, and each
//! record is replaced only if it is still the one read (compare and set), so a rekey that
//! stopped midway is finished by running it again, and a concurrent enqueue or worker loses
//! nothing.
//!
//! Order: credentials of every run (so a record sealed before key ids gets its full binding
//! from its run), then every other credential record (its binding is written in it), then
//! webhook secrets, then the sealed entries of every campaign that still has them (each a
//! field of the campaign's entries hash, replaced with the same compare and set per field),
//! then the key check record last — a process still holding only the old
//! key keeps starting until every record has moved.
//!
//! What it does not do: delete anything but webhook-secret slots from before slots were keyed
//! by database (no later run reads them); a record no configured key opens is reported, never
//! deleted.

use std::sync::LazyLock;

use onboarding_steps::Role;
use redis::{AsyncCommands, Script};
use serde::Serialize;

use crate::secrets::{Binding, SecretsError, parse};
use crate::service::{Onboard, role_name};

const SWAP: &str = r#"
-- Replaces KEYS[1] with ARGV[2] only if it still holds ARGV[1]. Returns 1 when replaced.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

static SWAP_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SWAP));

const HSWAP: &str = r#"
-- Replaces field ARGV[1] of hash KEYS[1] with ARGV[3] only if it still holds ARGV[2].
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0
"#;

static HSWAP_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(HSWAP));

/// What a rekey did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RekeyReport {
    /// Records re-sealed under the sealing key.
    pub resealed: u64,
    /// Records already under it.
    pub current: u64,
    /// Webhook-secret slots from before slots were keyed by database, deleted.
    pub removed: u64,
    /// Records no configured key opens (Redis keys, with why); left as they are.
    pub unreadable: Vec<String>,
    /// False when the limit stopped it before the end (run it again).
    pub complete: bool,
}

/// Why a rekey stopped.
#[derive(Debug, thiserror::Error)]
pub enum RekeyError {
    /// Redis failed (run it again: nothing is lost).
    #[error("rekey: a Redis request failed; run it again to finish")]
    Redis(#[from] redis::RedisError),
    /// The run store failed.
    #[error("rekey: the run store failed; run it again to finish")]
    Runs(#[from] crate::runs::RunStoreError),
}

struct Progress {
    report: RekeyReport,
    limit: Option<u64>,
}

impl Progress {
    fn full(&self) -> bool {
        self.limit.is_some_and(|l| self.report.resealed >= l)
    }
}

impl Onboard {
    /// Re-seals every record under the sealing key; with `limit`, stops after that many
    /// (`complete: false`), as a crash would.
    pub async fn rekey(&self, limit: Option<u64>) -> Result<RekeyReport, RekeyError> {
        let mut p = Progress {
            report: RekeyReport::default(),
            limit,
        };
        let store = &self.credentials;
        let mut conn = store.redis.clone();
        // 1. Credentials of every run, with the binding the run gives them.
        let mut seen = std::collections::HashSet::new();
        let mut start = 0;
        loop {
            let ids = self.runs.ids(start, 200).await?;
            if ids.is_empty() {
                break;
            }
            start += ids.len();
            for id in ids {
                let Some(run) = self.runs.get(&id).await? else {
                    continue;
                };
                for role in [Role::New, Role::Previous, Role::Admin] {
                    let Some(r) = run.request.credentials.get(role) else {
                        continue;
                    };
                    if p.full() {
                        return Ok(p.report);
                    }
                    let binding = Binding {
                        tenant: &run.request.tenant_id,
                        run: &run.id,
                        role: role_name(role),
                    };
                    let key = store.key(&r.0);
                    seen.insert(key.clone());
                    let aad = store.aad(&r.0, &binding);
                    let opened =
                        |sealed: &[u8]| store.sealer.open(&aad, r.0.as_bytes(), sealed, &key);
                    self.reseal(&mut p, &key, &aad, opened).await?;
                }
            }
        }
        // 2. Every other credential record, with the binding written in it.
        for key in scan(&mut conn, &format!("{}:cred:*", store.prefix)).await? {
            if seen.contains(&key) {
                continue;
            }
            if p.full() {
                return Ok(p.report);
            }
            self.reseal_as_written(&mut p, &key).await?;
        }
        // 3. Webhook secrets: bound to their Redis key; slots not keyed by database go.
        let secrets = &self.webhook_secrets;
        for key in scan(&mut conn, &format!("{}:whsecret:*", secrets.prefix)).await? {
            if p.full() {
                return Ok(p.report);
            }
            let suffix = key.rsplit_once(":whsecret:").map_or("", |(_, s)| s);
            if suffix.starts_with("webhook-secret/") {
                let n: u64 = conn.del(&key).await?;
                p.report.removed += n;
                continue;
            }
            let aad = secrets.aad(&key);
            let opened = |sealed: &[u8]| secrets.sealer.open(&aad, b"", sealed, &key);
            self.reseal(&mut p, &key, &aad, opened).await?;
        }
        // 4. Campaign entries (a campaign that completed or was aborted has none left).
        if !self.reseal_campaign_entries(&mut p).await? {
            return Ok(p.report);
        }
        // 5. The key check, last.
        if p.full() {
            return Ok(p.report);
        }
        let key = store.keycheck_key();
        let aad = store.keycheck_aad();
        let opened = |sealed: &[u8]| store.sealer.open(&aad, b"", sealed, "the key check");
        self.reseal(&mut p, &key, &aad, opened).await?;
        p.report.complete = true;
        Ok(p.report)
    }

    async fn reseal(
        &self,
        p: &mut Progress,
        key: &str,
        aad: &[u8],
        open: impl Fn(&[u8]) -> Result<Vec<u8>, SecretsError>,
    ) -> Result<(), RekeyError> {
        let mut conn = self.credentials.redis.clone();
        let Some(sealed): Option<Vec<u8>> = conn.get(key).await? else {
            return Ok(());
        };
        match self.resealed(p, key, &sealed, aad, open) {
            Some(new) => self.swap(p, key, None, &sealed, new).await,
            None => Ok(()),
        }
    }

    /// `sealed` sealed again under the sealing key, or `None` when it is under it already
    /// (counted) or no configured key opens it (reported as `record`).
    fn resealed(
        &self,
        p: &mut Progress,
        record: &str,
        sealed: &[u8],
        aad: &[u8],
        open: impl Fn(&[u8]) -> Result<Vec<u8>, SecretsError>,
    ) -> Option<Vec<u8>> {
        let sealer = &self.credentials.sealer;
        if sealer.is_current(sealed) {
            p.report.current += 1;
            return None;
        }
        match open(sealed) {
            Ok(plain) => Some(sealer.seal(aad, &plain)),
            Err(e) => {
                p.report.unreadable.push(format!("{record}: {e}"));
                None
            }
        }
    }

    /// Re-seals the sealed entries of every campaign; false when the limit stopped it.
    async fn reseal_campaign_entries(&self, p: &mut Progress) -> Result<bool, RekeyError> {
        let sealer = &self.credentials.sealer;
        let mut conn = self.credentials.redis.clone();
        let ids: Vec<String> = conn.zrange(self.campaign_key("campaigns"), 0, -1).await?;
        for id in ids {
            let hash = self.campaign_key(&format!("campaign:{id}:entries"));
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<(usize, Vec<u8>)>) = redis::cmd("HSCAN")
                    .arg(&hash)
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(500)
                    .query_async(&mut conn)
                    .await?;
                for (index, sealed) in batch {
                    if p.full() && !sealer.is_current(&sealed) {
                        return Ok(false);
                    }
                    let aad = self.entry_aad(&id, index);
                    let record = format!("{hash} field {index}");
                    let open = |s: &[u8]| sealer.open(&aad, &aad, s, &record);
                    if let Some(new) = self.resealed(p, &record, &sealed, &aad, open) {
                        self.swap(p, &hash, Some(index), &sealed, new).await?;
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(true)
    }

    async fn reseal_as_written(&self, p: &mut Progress, key: &str) -> Result<(), RekeyError> {
        let sealer = &self.credentials.sealer;
        let mut conn = self.credentials.redis.clone();
        let Some(sealed): Option<Vec<u8>> = conn.get(key).await? else {
            return Ok(());
        };
        if sealer.is_current(&sealed) {
            p.report.current += 1;
            return Ok(());
        }
        match sealer.open_as_written(&sealed) {
            Some((plain, aad)) => {
                self.swap(p, key, None, &sealed, sealer.seal(&aad, &plain))
                    .await
            }
            None => {
                let why = match parse(&sealed).and_then(|r| r.key_id) {
                    Some(id) => format!("sealed under key id {}, not configured", hex::encode(id)),
                    None => "sealed before key ids and no run names it".to_owned(),
                };
                p.report.unreadable.push(format!("{key}: {why}"));
                Ok(())
            }
        }
    }

    /// Replaces `key` (or its hash `field`) with `new` if it still holds `old`.
    async fn swap(
        &self,
        p: &mut Progress,
        key: &str,
        field: Option<usize>,
        old: &[u8],
        new: Vec<u8>,
    ) -> Result<(), RekeyError> {
        let mut conn = self.credentials.redis.clone();
        let mut call = match field {
            None => SWAP_SCRIPT.key(key),
            Some(f) => {
                let mut call = HSWAP_SCRIPT.key(key);
                call.arg(f);
                call
            }
        };
        let swapped: i32 = call.arg(old).arg(new).invoke_async(&mut conn).await?;
        if swapped == 1 {
            p.report.resealed += 1;
        }
        Ok(())
    }
}

async fn scan(
    conn: &mut onboarding_queue::RedisConn,
    pattern: &str,
) -> Result<Vec<String>, redis::RedisError> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(conn)
            .await?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

#[cfg(test)]
#[path = "rekey_tests.rs"]
mod tests;
