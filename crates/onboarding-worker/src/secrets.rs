//! Credentials at rest: API secrets are sealed with XChaCha20-Poly1305 under a key the
//! operator provides (32 bytes, base64) and stored in Redis under an opaque id; runs and job
//! payloads carry only that id. The sealed record binds its id as associated data, so a
//! record copied under another id does not open.
//!
//! What it does not do: key rotation (a new key needs the credentials entered again) and
//! key storage (the key comes from the environment or a file, read by the binary).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

/// What can go wrong with sealed credentials.
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
    /// No credentials under this id.
    #[error("no stored credentials with id {0}")]
    Missing(String),
    /// The record does not open with this key (wrong key, or tampered).
    #[error("stored credentials {0} cannot be decrypted with the configured key")]
    Undecryptable(String),
    /// Redis failed.
    #[error("the credential store's Redis request failed")]
    Redis(#[from] redis::RedisError),
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

/// The sealing key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<key redacted>)")
    }
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
        Ok(Self {
            cipher: XChaCha20Poly1305::new_from_slice(&bytes).expect("32-byte key"),
        })
    }

    /// A fresh random key, base64 (for `onboard` to print when asked for one).
    pub fn generate_key() -> String {
        B64.encode(XChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// `nonce || ciphertext`, with `aad` bound.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        out.extend(
            self.cipher
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

    /// Opens what [`Self::seal`] produced with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 24 {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()
    }
}

/// Sealed credentials in Redis, by id.
#[derive(Clone)]
pub struct CredentialStore {
    redis: ConnectionManager,
    prefix: String,
    sealer: SecretBox,
}

impl CredentialStore {
    /// A store under `prefix` (e.g. `onboard`).
    pub fn new(redis: ConnectionManager, prefix: &str, sealer: SecretBox) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            sealer,
        }
    }

    fn key(&self, id: &str) -> String {
        format!("{}:cred:{id}", self.prefix)
    }

    /// Seals and stores; returns the new id.
    pub async fn put(&self, credentials: &ApiCredentials) -> Result<String, SecretsError> {
        let id = ulid::Ulid::generate().to_string();
        let plaintext = serde_json::to_vec(credentials).expect("plain struct serializes");
        let sealed = self.sealer.seal(id.as_bytes(), &plaintext);
        let mut conn = self.redis.clone();
        let _: () = conn.set(self.key(&id), sealed).await?;
        Ok(id)
    }

    /// Deletes sealed credentials (e.g. sealed for an enqueue that found an existing run).
    pub async fn delete(&self, ids: &[String]) -> Result<(), SecretsError> {
        let mut conn = self.redis.clone();
        for id in ids {
            let _: () = conn.del(self.key(id)).await?;
        }
        Ok(())
    }

    /// Loads and opens.
    pub async fn get(&self, id: &str) -> Result<ApiCredentials, SecretsError> {
        let mut conn = self.redis.clone();
        let sealed: Option<Vec<u8>> = conn.get(self.key(id)).await?;
        let sealed = sealed.ok_or_else(|| SecretsError::Missing(id.to_owned()))?;
        let plaintext = self
            .sealer
            .open(id.as_bytes(), &sealed)
            .ok_or_else(|| SecretsError::Undecryptable(id.to_owned()))?;
        serde_json::from_slice(&plaintext).map_err(|_| SecretsError::Undecryptable(id.to_owned()))
    }
}

/// Webhook secret keys, one per slot (tenant, owning user, family): generated once, sealed,
/// and reused, so a create whose response was lost and is repeated sends the same key.
#[derive(Clone)]
pub struct WebhookSecrets {
    redis: ConnectionManager,
    prefix: String,
    sealer: SecretBox,
}

impl WebhookSecrets {
    /// Secrets under `prefix`.
    pub fn new(redis: ConnectionManager, prefix: &str, sealer: SecretBox) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            sealer,
        }
    }

    fn key(&self, slot: &str) -> String {
        format!("{}:whsecret:{slot}", self.prefix)
    }

    /// The slot's secret, generating and storing it first if it has none (`SET NX`, so two
    /// workers racing agree on one).
    pub async fn get_or_create(&self, slot: &str) -> Result<String, SecretsError> {
        let mut conn = self.redis.clone();
        let key = self.key(slot);
        let mut raw = [0u8; 32];
        OsRng.fill_bytes(&mut raw);
        let fresh = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let sealed = self.sealer.seal(slot.as_bytes(), fresh.as_bytes());
        let _: bool = redis::cmd("SET")
            .arg(&key)
            .arg(sealed)
            .arg("NX")
            .query_async::<Option<String>>(&mut conn)
            .await?
            .is_some();
        let stored: Vec<u8> = conn.get(&key).await?;
        let plain = self
            .sealer
            .open(slot.as_bytes(), &stored)
            .ok_or_else(|| SecretsError::Undecryptable(slot.to_owned()))?;
        String::from_utf8(plain).map_err(|_| SecretsError::Undecryptable(slot.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> SecretBox {
        SecretBox::from_base64(&SecretBox::generate_key(), "TEST_KEY").unwrap()
    }

    #[test]
    fn bad_keys_name_the_setting_and_hide_the_value() {
        let e = SecretBox::from_base64("not base64!!", "ONBOARD_SECRET_KEY").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ONBOARD_SECRET_KEY: not valid base64 (expected 32 random bytes, base64-encoded)"
        );
        let e = SecretBox::from_base64("c2hvcnQ=", "ONBOARD_SECRET_KEY").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ONBOARD_SECRET_KEY: decodes to 5 bytes; expected 32"
        );
    }

    #[test]
    fn sealed_data_opens_only_with_its_key_and_id() {
        let a = sealer();
        let sealed = a.seal(b"id-1", b"hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(a.open(b"id-1", &sealed).unwrap(), b"hunter2");
        assert!(
            a.open(b"id-2", &sealed).is_none(),
            "opened under another id"
        );
        assert!(
            sealer().open(b"id-1", &sealed).is_none(),
            "opened with another key"
        );
    }

    #[tokio::test]
    async fn redis_holds_no_secret_in_clear() {
        let server = redis_test_server::RedisServer::start();
        let client = redis::Client::open(server.url()).unwrap();
        let conn = ConnectionManager::new(client).await.unwrap();
        let prefix = redis_test_server::unique_name("onboard");
        let store = CredentialStore::new(conn.clone(), &prefix, sealer());
        let creds = ApiCredentials {
            integration_code: "VENDOR-CODE-123".into(),
            username: "api@tenant".into(),
            secret: "TopSecret!42".into(),
        };
        let id = store.put(&creds).await.unwrap();
        assert_eq!(store.get(&id).await.unwrap(), creds);
        let mut c = conn.clone();
        let raw: Vec<u8> = c.get(format!("{prefix}:cred:{id}")).await.unwrap();
        for secret in ["TopSecret!42", "VENDOR-CODE-123"] {
            assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }
        assert!(!format!("{creds:?}").contains("TopSecret"));
        let other = CredentialStore::new(conn, &prefix, sealer());
        assert!(matches!(
            other.get(&id).await,
            Err(SecretsError::Undecryptable(_))
        ));
        assert!(matches!(
            store.get("nope").await,
            Err(SecretsError::Missing(_))
        ));
    }
}
