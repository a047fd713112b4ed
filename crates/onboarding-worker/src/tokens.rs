//! Scoped API tokens: one per client or operator, each with a name (the identity the audit
//! trail records) and scopes (`enqueue`, `operate`, `read`). Issued with `onboard token add`,
//! listed and revoked by name.
//!
//! A token is shown once, when it is issued, and never stored: Redis holds
//! HMAC-SHA1(deployment salt, token) under `{prefix}:tokens` (field: the name), and the salt
//! (32 random bytes, created on first use) under `{prefix}:tokensalt`. A presented token is
//! compared with every stored digest in constant time. The salt also keys the dashboard's
//! form tokens ([`TokenStore::form_key`]), so every API replica accepts the forms of another;
//! a used form token is remembered until it expires (`{prefix}:formused:{mac}`).
//! This module does no HTTP; `onboarding-api` decides which scope a route needs.

use std::fmt;
use std::str::FromStr;

use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use hmac::{Hmac, Mac};
use onboarding_queue::RedisConn;
use onboarding_steps::Timestamp;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sha1::Sha1;

/// HMAC-SHA1, the MAC of stored token digests and of dashboard form tokens.
pub type HmacSha1 = Hmac<Sha1>;

/// The name of the legacy master token (`ONBOARD_API_TOKEN`), which has every scope. No stored
/// token may take it.
pub const MASTER_NAME: &str = "api-token";

/// 32 bytes from the operating system's generator (token material, process keys).
pub fn random_key() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// `POST /v1/runs`.
    Enqueue,
    /// Acknowledge, retry, cancel, requeue dead letters (API and dashboard).
    Operate,
    /// `GET /v1/*` and viewing the dashboard.
    Read,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 3] = [Scope::Enqueue, Scope::Operate, Scope::Read];

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enqueue => "enqueue",
            Self::Operate => "operate",
            Self::Read => "read",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s.trim())
            .ok_or_else(|| format!("unknown scope {s:?} (enqueue, operate, read)"))
    }
}

/// Scopes from `read,operate` (at least one, each once).
pub fn parse_scopes(text: &str) -> Result<Vec<Scope>, String> {
    let mut scopes: Vec<Scope> = Vec::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let scope: Scope = part.parse()?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err("name at least one scope (enqueue, operate, read)".into());
    }
    scopes.sort();
    Ok(scopes)
}

/// A freshly issued token: shown once, never stored. `Debug` and `Display` redact it.
pub struct IssuedToken(String);

impl IssuedToken {
    /// The token itself, to print once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IssuedToken(<redacted>)")
    }
}

/// Who a presented token is: its name and scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's name (recorded in audit trails).
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

impl Identity {
    /// Whether the token has `scope`.
    pub fn can(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// A stored token as `onboard token list` shows it (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The name.
    pub name: String,
    /// The scopes.
    pub scopes: Vec<Scope>,
    /// When it was issued (milliseconds since the epoch).
    pub created: Timestamp,
}

/// What `{prefix}:tokens` holds per name.
#[derive(Serialize, Deserialize)]
struct Stored {
    /// Hex HMAC-SHA1(salt, token).
    digest: String,
    scopes: Vec<Scope>,
    created: Timestamp,
}

/// Failures of the token store; none names a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The name is not acceptable (says why).
    #[error("token name {0:?}: 1 to 64 letters, digits, '.', '_', '-', '@', and not \"api-token\"")]
    BadName(String),
    /// A token with this name exists (revoke it first).
    #[error("a token named {0:?} exists; revoke it first (onboard token revoke {0})")]
    Exists(String),
    /// Redis failed.
    #[error("the token store failed")]
    Redis(#[from] redis::RedisError),
    /// A stored record does not parse.
    #[error("the stored token {0:?} is damaged; revoke and issue it again")]
    Damaged(String),
}

/// The tokens of one deployment.
#[derive(Clone)]
pub struct TokenStore {
    redis: RedisConn,
    prefix: String,
    salt: std::sync::Arc<tokio::sync::OnceCell<Vec<u8>>>,
}

impl TokenStore {
    /// The store under `prefix`.
    pub fn new(redis: RedisConn, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            salt: std::sync::Arc::default(),
        }
    }

    fn key(&self) -> String {
        format!("{}:tokens", self.prefix)
    }

    /// The deployment's salt, created (32 random bytes) by the first caller.
    async fn salt(&self) -> Result<&[u8], TokenError> {
        let salt = self
            .salt
            .get_or_try_init(|| async {
                let key = format!("{}:tokensalt", self.prefix);
                let mut redis = self.redis.clone();
                let fresh = random_key();
                let _: bool = redis.set_nx(&key, fresh.as_slice()).await?;
                let held: Vec<u8> = redis.get(&key).await?;
                Ok::<_, TokenError>(held)
            })
            .await?;
        Ok(salt)
    }

    async fn mac(&self, token: &str) -> Result<HmacSha1, TokenError> {
        let mut mac =
            HmacSha1::new_from_slice(self.salt().await?).expect("HMAC takes keys of any length");
        mac.update(token.as_bytes());
        Ok(mac)
    }

    /// The key of the dashboard's form tokens: derived from the deployment's salt, so every
    /// API process of the deployment shares it and none stores it apart.
    pub async fn form_key(&self) -> Result<[u8; 20], TokenError> {
        let mut mac =
            HmacSha1::new_from_slice(self.salt().await?).expect("HMAC takes keys of any length");
        mac.update(b"onboard dashboard form tokens v1");
        Ok(mac.finalize().into_bytes().into())
    }

    /// Marks the dashboard form token with MAC `mac` as used until `expires` (milliseconds
    /// since the epoch): true the first time, false when it was used before.
    #[tracing::instrument(skip_all)]
    pub async fn spend_form(
        &self,
        mac: &[u8],
        expires: Timestamp,
        now: Timestamp,
    ) -> Result<bool, TokenError> {
        let key = format!("{}:formused:{}", self.prefix, hex::encode(mac));
        let ttl = expires.as_millis().saturating_sub(now.as_millis()).max(1);
        let mut redis = self.redis.clone();
        let fresh: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl)
            .query_async(&mut redis)
            .await?;
        Ok(fresh.is_some())
    }

    /// Issues a token named `name` with `scopes`; refuses a name in use.
    #[tracing::instrument(skip_all, fields(name = %name))]
    pub async fn add(
        &self,
        name: &str,
        scopes: &[Scope],
        now: Timestamp,
    ) -> Result<IssuedToken, TokenError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name != MASTER_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if !valid {
            return Err(TokenError::BadName(name.to_owned()));
        }
        let token = IssuedToken(format!("onb_{}", hex::encode(random_key())));
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        let stored = Stored {
            digest: hex::encode(self.mac(token.expose()).await?.finalize().into_bytes()),
            scopes,
            created: now,
        };
        let doc = serde_json::to_string(&stored).expect("serializable");
        let mut redis = self.redis.clone();
        let added: bool = redis.hset_nx(self.key(), name, doc).await?;
        if !added {
            return Err(TokenError::Exists(name.to_owned()));
        }
        Ok(token)
    }

    /// Every stored token (names, scopes, when issued), by name.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self) -> Result<Vec<TokenInfo>, TokenError> {
        let mut redis = self.redis.clone();
        let all: Vec<(String, String)> = redis.hgetall(self.key()).await?;
        let mut out = all
            .into_iter()
            .map(|(name, doc)| match serde_json::from_str::<Stored>(&doc) {
                Ok(s) => Ok(TokenInfo {
                    name,
                    scopes: s.scopes,
                    created: s.created,
                }),
                Err(_) => Err(TokenError::Damaged(name)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Revokes the token named `name`: false when there is none. Takes effect on the next
    /// request (nothing caches tokens).
    #[tracing::instrument(skip_all, fields(name = %name))]
    pub async fn revoke(&self, name: &str) -> Result<bool, TokenError> {
        let mut redis = self.redis.clone();
        let removed: u64 = redis.hdel(self.key(), name).await?;
        Ok(removed > 0)
    }

    /// Whether any token is stored.
    #[tracing::instrument(skip_all)]
    pub async fn any(&self) -> Result<bool, TokenError> {
        let mut redis = self.redis.clone();
        let n: u64 = redis.hlen(self.key()).await?;
        Ok(n > 0)
    }

    /// Who `token` is, or `None` when no stored token matches. Every stored digest is
    /// compared, each in constant time.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, token: &str) -> Result<Option<Identity>, TokenError> {
        let mut redis = self.redis.clone();
        let all: Vec<(String, String)> = redis.hgetall(self.key()).await?;
        let mac = self.mac(token).await?;
        let mut found = None;
        for (name, doc) in all {
            let Ok(stored) = serde_json::from_str::<Stored>(&doc) else {
                continue;
            };
            let digest = hex::decode(&stored.digest).unwrap_or_default();
            if mac.clone().verify_slice(&digest).is_ok() && found.is_none() {
                found = Some(Identity {
                    name,
                    scopes: stored.scopes,
                });
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_each_once_and_name_a_bad_one() {
        assert_eq!(
            parse_scopes("read, operate,read"),
            Ok(vec![Scope::Operate, Scope::Read])
        );
        assert_eq!(
            parse_scopes("read,admin").unwrap_err(),
            "unknown scope \"admin\" (enqueue, operate, read)"
        );
        assert!(parse_scopes(" , ").is_err());
    }

    #[test]
    fn an_issued_token_does_not_show_in_debug() {
        let t = IssuedToken("onb_secret".into());
        assert_eq!(format!("{t:?}"), "IssuedToken(<redacted>)");
    }
}
