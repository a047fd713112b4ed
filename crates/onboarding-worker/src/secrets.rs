//! Secrets at rest: API credentials and webhook secret keys are sealed with
//! XChaCha20-Poly1305 under a key the operator provides (32 bytes, base64) and stored in
//! Redis under an opaque id; runs and job payloads carry only that id.
//!
//! A sealed record is `onb2 || key id (8) || aad length (2, BE) || aad || nonce (24) ||
//! ciphertext`. The key id names the key that sealed it (several keys can open, one seals:
//! [`SecretBox::with_opening_key`]); the associated data binds it to the deployment prefix and
//! what it belongs to (credentials: tenant, run, role and id; webhook secrets: database and
//! slot), and the opener always supplies the binding it expects, so a record copied under
//! another run's or tenant's key does not open. The aad is also kept in clear in the record
//! so `onboard rekey` can re-seal a record without knowing its run. Records sealed before key
//! ids (`nonce || ciphertext`, bound to their id alone) still open with a configured key.
//!
//! What it does not do: key storage (the key comes from the environment or a file, read by
//! the binary) and re-sealing ([`crate::rekey`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use onboarding_queue::RedisConn;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

/// The settings that hold keys, named by every key error.
pub const KEY_SETTINGS: &str =
    "ONBOARD_SECRET_KEY (sealing) / ONBOARD_SECRET_KEYS_OLD (opening only)";

/// What can go wrong with sealed secrets.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The key setting is malformed (names the setting, never shows the key).
    #[error("{setting}: {problem}")]
    BadKey {
        /// The setting that held the key.
        setting: String,
        /// What is wrong.
        problem: String,
    },
    /// The deployment's key check record does not open with any configured key.
    #[error(
        "ONBOARD_SECRET_KEY does not match this deployment: its key check record ({record}) \
         was sealed under key id {found}, this process seals with key id {ours}{old}; start \
         with the deployment's key (or, while rotating, name it in ONBOARD_SECRET_KEYS_OLD)"
    )]
    KeyMismatch {
        /// The Redis key of the key check record.
        record: String,
        /// The key id that sealed it (`legacy` for none).
        found: String,
        /// This process' sealing key id.
        ours: String,
        /// The opening-only key ids, described.
        old: String,
    },
    /// No record under this id.
    #[error("no stored credentials with id {0}")]
    Missing(String),
    /// The record was sealed under a key this process does not have.
    #[error(
        "stored secret {record} was sealed under key id {key_id}, which is not configured \
         ({KEY_SETTINGS}); configure that key, or enter the credentials again"
    )]
    UnknownKey {
        /// What the record is.
        record: String,
        /// Its key id.
        key_id: String,
    },
    /// The record does not open with its key under the binding the caller expects: tampered,
    /// or copied from another run, role or tenant.
    #[error(
        "stored secret {record} cannot be opened: it was not sealed for this deployment, \
         tenant, run and role (tampered with or copied from elsewhere), or not with the \
         configured keys ({KEY_SETTINGS}); enter the credentials again"
    )]
    Undecryptable {
        /// What the record is.
        record: String,
    },
    /// Redis failed.
    #[error("the credential store's Redis request failed")]
    Redis(#[from] redis::RedisError),
}

impl SecretsError {
    /// Whether trying again later can help (only Redis failures; a record that does not open
    /// will not open on the next attempt either).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Redis(_))
    }
}

/// One API user's credentials in clear: as a caller gives them (sealed at once), and as the
/// worker unseals them just before a request. One type for both; `Debug` redacts the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCredentials {
    /// The integration code (API tracking identifier).
    pub integration_code: String,
    /// The API user's username.
    pub username: String,
    /// The API user's secret.
    pub secret: String,
}

impl std::fmt::Debug for ApiCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

const MAGIC: &[u8; 4] = b"onb2";
const NONCE: usize = 24;

#[derive(Clone)]
struct Key {
    id: [u8; 8],
    cipher: XChaCha20Poly1305,
}

/// The keys: one seals, every one of them opens (the sealing key first).
#[derive(Clone)]
pub struct SecretBox {
    keys: Vec<Key>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBox(key ids {:?}, keys redacted)", self.key_ids())
    }
}

/// A record as stored, split into its parts.
pub(crate) struct Parsed<'a> {
    /// `None` for a record sealed before key ids.
    pub key_id: Option<[u8; 8]>,
    /// The associated data written in the record (empty for legacy records).
    pub aad: &'a [u8],
    nonce: &'a [u8],
    ciphertext: &'a [u8],
}

pub(crate) fn parse(sealed: &[u8]) -> Option<Parsed<'_>> {
    if let Some(rest) = sealed.strip_prefix(MAGIC) {
        if rest.len() >= 10 {
            let (id, rest) = rest.split_at(8);
            let (len, rest) = rest.split_at(2);
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            if rest.len() >= len + NONCE {
                let (aad, rest) = rest.split_at(len);
                let (nonce, ciphertext) = rest.split_at(NONCE);
                return Some(Parsed {
                    key_id: Some(id.try_into().expect("8 bytes")),
                    aad,
                    nonce,
                    ciphertext,
                });
            }
        }
    }
    parse_legacy(sealed)
}

impl SecretBox {
    /// Parses a base64 key of 32 bytes; `setting` names where it came from for errors.
    pub fn from_base64(text: &str, setting: &str) -> Result<Self, SecretsError> {
        let bad = |problem: &str| SecretsError::BadKey {
            setting: setting.to_owned(),
            problem: problem.to_owned(),
        };
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| bad("not valid base64 (expected 32 random bytes, base64-encoded)"))?;
        if bytes.len() != 32 {
            return Err(bad(&format!(
                "decodes to {} bytes; expected 32",
                bytes.len()
            )));
        }
        let digest = Sha1::new()
            .chain_update(b"onboard key id\0")
            .chain_update(&bytes)
            .finalize();
        Ok(Self {
            keys: vec![Key {
                id: digest[..8].try_into().expect("8 bytes"),
                cipher: XChaCha20Poly1305::new_from_slice(&bytes).expect("32-byte key"),
            }],
        })
    }

    /// Parses a list of opening-only keys (comma or whitespace separated) and adds them.
    pub fn with_opening_keys(mut self, list: &str, setting: &str) -> Result<Self, SecretsError> {
        for (i, text) in list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .enumerate()
        {
            let key = Self::from_base64(text, &format!("{setting} (key {})", i + 1))?;
            self = self.with_opening_key(key);
        }
        Ok(self)
    }

    /// The same sealing key, also opening with `other`'s keys.
    pub fn with_opening_key(mut self, other: SecretBox) -> Self {
        for key in other.keys {
            if !self.keys.iter().any(|k| k.id == key.id) {
                self.keys.push(key);
            }
        }
        self
    }

    /// A fresh random key, base64 (for `onboard` to print when asked for one).
    pub fn generate_key() -> String {
        B64.encode(XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// The sealing key's id (hex), as records and the key check name it.
    pub fn key_id(&self) -> String {
        hex::encode(self.keys[0].id)
    }

    /// Every configured key's id, the sealing key first.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| hex::encode(k.id)).collect()
    }

    /// A record under the sealing key with `aad` bound (and written in clear).
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let key = &self.keys[0];
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let len = u16::try_from(aad.len()).expect("associated data under 64 KiB");
        let mut out = MAGIC.to_vec();
        out.extend(key.id);
        out.extend(len.to_be_bytes());
        out.extend(aad);
        out.extend(nonce);
        out.extend(
            key.cipher
                .encrypt(
                    &nonce,
                    Payload {
                        msg: plaintext,
                        aad,
                    },
                )
                .expect("encryption of an in-memory buffer cannot fail"),
        );
        out
    }

    /// Opens a record sealed with `aad` bound, or (sealed before key ids) with `legacy_aad`.
    /// `record` names it in errors.
    pub fn open(
        &self,
        aad: &[u8],
        legacy_aad: &[u8],
        sealed: &[u8],
        record: &str,
    ) -> Result<Vec<u8>, SecretsError> {
        let undecryptable = || SecretsError::Undecryptable {
            record: record.to_owned(),
        };
        let parsed = parse(sealed).ok_or_else(undecryptable)?;
        let mut unknown = None;
        if let Some(id) = parsed.key_id {
            match self.keys.iter().find(|k| k.id == id) {
                Some(key) => {
                    if let Some(plain) = decrypt(key, aad, &parsed) {
                        return Ok(plain);
                    }
                }
                None => unknown = Some(id),
            }
        }
        // Sealed before key ids: any configured key, bound to the old associated data. (A
        // legacy record whose nonce happens to start like a header is tried here too.)
        let legacy = parse_legacy(sealed).ok_or_else(undecryptable)?;
        if let Some(plain) = self
            .keys
            .iter()
            .find_map(|k| decrypt(k, legacy_aad, &legacy))
        {
            return Ok(plain);
        }
        Err(match unknown {
            Some(id) => SecretsError::UnknownKey {
                record: record.to_owned(),
                key_id: hex::encode(id),
            },
            None => undecryptable(),
        })
    }

    /// Opens a record with the associated data it carries (for re-sealing only: the caller
    /// learns nothing about the binding it would expect).
    pub(crate) fn open_as_written(&self, sealed: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let parsed = parse(sealed)?;
        let id = parsed.key_id?;
        let key = self.keys.iter().find(|k| k.id == id)?;
        decrypt(key, parsed.aad, &parsed).map(|plain| (plain, parsed.aad.to_vec()))
    }

    /// Whether `sealed` is already under the sealing key.
    pub(crate) fn is_current(&self, sealed: &[u8]) -> bool {
        parse(sealed).and_then(|p| p.key_id) == Some(self.keys[0].id)
    }
}

fn parse_legacy(sealed: &[u8]) -> Option<Parsed<'_>> {
    (sealed.len() >= NONCE).then(|| Parsed {
        key_id: None,
        aad: &[],
        nonce: &sealed[..NONCE],
        ciphertext: &sealed[NONCE..],
    })
}

fn decrypt(key: &Key, aad: &[u8], parsed: &Parsed<'_>) -> Option<Vec<u8>> {
    key.cipher
        .decrypt(
            XNonce::from_slice(parsed.nonce),
            Payload {
                msg: parsed.ciphertext,
                aad,
            },
        )
        .ok()
}

/// What a sealed credential record belongs to (its associated data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding<'a> {
    /// The tenant id.
    pub tenant: &'a str,
    /// The run.
    pub run: &'a str,
    /// The role (`new`, `previous`, `admin`).
    pub role: &'a str,
}

/// Sealed credentials in Redis, by id.
#[derive(Clone)]
pub struct CredentialStore {
    pub(crate) redis: RedisConn,
    pub(crate) prefix: String,
    pub(crate) sealer: SecretBox,
}

impl CredentialStore {
    /// A store under `prefix` (e.g. `onboard`).
    pub fn new(redis: RedisConn, prefix: &str, sealer: SecretBox) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            sealer,
        }
    }

    pub(crate) fn key(&self, id: &str) -> String {
        format!("{}:cred:{id}", self.prefix)
    }

    pub(crate) fn aad(&self, id: &str, b: &Binding<'_>) -> Vec<u8> {
        format!(
            "cred\0{}\0{}\0{}\0{}\0{id}",
            self.prefix, b.tenant, b.run, b.role
        )
        .into_bytes()
    }

    /// Seals for `binding` and stores; returns the new id.
    pub async fn put(
        &self,
        credentials: &ApiCredentials,
        binding: &Binding<'_>,
    ) -> Result<String, SecretsError> {
        let id = ulid::Ulid::generate().to_string();
        let plaintext = serde_json::to_vec(credentials).expect("plain struct serializes");
        let sealed = self.sealer.seal(&self.aad(&id, binding), &plaintext);
        let mut conn = self.redis.clone();
        let _: () = conn.set(self.key(&id), sealed).await?;
        Ok(id)
    }

    /// Deletes sealed credentials (a finished run's, or sealed for an enqueue that found an
    /// existing run).
    pub async fn delete(&self, ids: &[String]) -> Result<(), SecretsError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.redis.clone();
        let keys: Vec<String> = ids.iter().map(|id| self.key(id)).collect();
        let _: () = conn.del(keys).await?;
        Ok(())
    }

    /// Loads and opens the record `id`, which must have been sealed for `binding`.
    pub async fn get(
        &self,
        id: &str,
        binding: &Binding<'_>,
    ) -> Result<ApiCredentials, SecretsError> {
        let mut conn = self.redis.clone();
        let sealed: Option<Vec<u8>> = conn.get(self.key(id)).await?;
        let sealed = sealed.ok_or_else(|| SecretsError::Missing(id.to_owned()))?;
        let record = format!("{} credentials {id}", binding.role);
        let plaintext =
            self.sealer
                .open(&self.aad(id, binding), id.as_bytes(), &sealed, &record)?;
        serde_json::from_slice(&plaintext).map_err(|_| SecretsError::Undecryptable { record })
    }

    /// Checks this process' keys against the deployment's key check record, creating it
    /// (sealed under the sealing key) on first use. Fails naming `ONBOARD_SECRET_KEY` when
    /// no configured key opens it.
    pub async fn check_key(&self) -> Result<(), SecretsError> {
        let key = self.keycheck_key();
        let mut conn = self.redis.clone();
        let fresh = self.sealer.seal(&self.keycheck_aad(), KEYCHECK);
        let _: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(fresh)
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        let stored: Vec<u8> = conn.get(&key).await?;
        let opened = self
            .sealer
            .open(&self.keycheck_aad(), b"", &stored, "the key check")
            .ok()
            .filter(|p| p == KEYCHECK);
        if opened.is_some() {
            return Ok(());
        }
        let ids = self.sealer.key_ids();
        Err(SecretsError::KeyMismatch {
            record: key,
            found: parse(&stored)
                .and_then(|p| p.key_id)
                .map_or_else(|| "legacy".to_owned(), hex::encode),
            ours: ids[0].clone(),
            old: if ids.len() > 1 {
                format!(" and opens with key ids {}", ids[1..].join(", "))
            } else {
                String::new()
            },
        })
    }

    pub(crate) fn keycheck_key(&self) -> String {
        format!("{}:keycheck", self.prefix)
    }

    pub(crate) fn keycheck_aad(&self) -> Vec<u8> {
        format!("keycheck\0{}", self.prefix).into_bytes()
    }
}

pub(crate) const KEYCHECK: &[u8] = b"onboard key check v1";

/// Webhook secret keys, one per slot (database, tenant, owning user, family): generated once,
/// sealed, and reused, so a create whose response was lost and is repeated sends the same
/// key; deleted with their webhook ([`WebhookSecrets::forget_webhook`]).
#[derive(Clone)]
pub struct WebhookSecrets {
    pub(crate) redis: RedisConn,
    pub(crate) prefix: String,
    pub(crate) sealer: SecretBox,
}

impl WebhookSecrets {
    /// Secrets under `prefix`.
    pub fn new(redis: RedisConn, prefix: &str, sealer: SecretBox) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            sealer,
        }
    }

    /// The Redis key of a slot of `database` (`{prefix}:whsecret:{database}/{slot}`).
    pub fn key(&self, database: &str, slot: &str) -> String {
        format!("{}:whsecret:{database}/{slot}", self.prefix)
    }

    /// The associated data of the record stored under the Redis key `key`.
    pub(crate) fn aad(&self, key: &str) -> Vec<u8> {
        format!("whsecret\0{key}").into_bytes()
    }

    fn owner_key(&self, database: &str, webhook: i64) -> String {
        format!("{}:whowner:{database}/{webhook}", self.prefix)
    }

    /// The slot's secret in `database`, generating and storing it first if it has none
    /// (`SET NX`, so two workers racing agree on one).
    pub async fn get_or_create(&self, database: &str, slot: &str) -> Result<String, SecretsError> {
        let mut conn = self.redis.clone();
        let key = self.key(database, slot);
        let mut raw = [0u8; 32];
        OsRng.fill_bytes(&mut raw);
        let fresh = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let sealed = self.sealer.seal(&self.aad(&key), fresh.as_bytes());
        let _: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(sealed)
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        let stored: Vec<u8> = conn.get(&key).await?;
        let record = format!("webhook secret {slot}");
        let plain = self
            .sealer
            .open(&self.aad(&key), slot.as_bytes(), &stored, &record)?;
        String::from_utf8(plain).map_err(|_| SecretsError::Undecryptable { record })
    }

    /// Remembers that `webhook` in `database` was created with the slot's secret, so deleting
    /// the webhook deletes the secret.
    pub async fn created(
        &self,
        database: &str,
        slot: &str,
        webhook: i64,
    ) -> Result<(), SecretsError> {
        let mut conn = self.redis.clone();
        let _: () = conn
            .set(self.owner_key(database, webhook), self.key(database, slot))
            .await?;
        Ok(())
    }

    /// The slot name and secret of webhook `webhook` in `database`, when onboard created it
    /// (`None`: not one of ours, or deleted since). Reads only.
    pub async fn secret_of(
        &self,
        database: &str,
        webhook: i64,
    ) -> Result<Option<(String, String)>, SecretsError> {
        let mut conn = self.redis.clone();
        let key: Option<String> = conn.get(self.owner_key(database, webhook)).await?;
        let Some(key) = key else { return Ok(None) };
        let Some(slot) = key.strip_prefix(&self.key(database, "")).map(str::to_owned) else {
            return Ok(None);
        };
        let stored: Option<Vec<u8>> = conn.get(&key).await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let record = format!("webhook secret {slot}");
        let plain = self
            .sealer
            .open(&self.aad(&key), slot.as_bytes(), &stored, &record)?;
        let secret =
            String::from_utf8(plain).map_err(|_| SecretsError::Undecryptable { record })?;
        Ok(Some((slot, secret)))
    }

    /// The webhook is gone: its secret goes too (nothing when onboard did not create it).
    pub async fn forget_webhook(&self, database: &str, webhook: i64) -> Result<(), SecretsError> {
        let mut conn = self.redis.clone();
        let owner = self.owner_key(database, webhook);
        let slot: Option<String> = conn.get(&owner).await?;
        if let Some(slot) = slot {
            let _: () = conn.del(&[slot, owner]).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "secrets_tests.rs"]
mod tests;
