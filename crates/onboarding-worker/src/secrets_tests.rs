//! Tests of sealing, binding, the key check and `rekey`, against a private `redis-server`.

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};

use onboarding_queue::RedisSettings;

use super::*;

fn key() -> String {
    SecretBox::generate_key()
}

fn sealer_of(k: &str) -> SecretBox {
    SecretBox::from_base64(k, "TEST_KEY").unwrap()
}

fn creds() -> ApiCredentials {
    ApiCredentials {
        integration_code: "VENDOR-CODE-123".into(),
        username: "api@tenant".into(),
        secret: "TopSecret!42".into(),
    }
}

fn binding<'a>(run: &'a str, role: &'a str) -> Binding<'a> {
    Binding {
        tenant: "acme",
        run,
        role,
    }
}

/// A record as onboard sealed it before key ids: `nonce || ciphertext`, its id as aad.
fn legacy_seal(k: &str, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new_from_slice(&B64.decode(k).unwrap()).unwrap();
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let mut out = nonce.to_vec();
    out.extend(cipher.encrypt(&nonce, Payload { msg: plain, aad }).unwrap());
    out
}

async fn redis() -> (redis_test_server::RedisServer, RedisConn) {
    let server = redis_test_server::RedisServer::start();
    let conn = RedisConn::open(&RedisSettings::url(server.url()))
        .await
        .unwrap();
    (server, conn)
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
    let e = sealer_of(&key())
        .with_opening_keys(&format!("{},short", key()), "ONBOARD_SECRET_KEYS_OLD")
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("ONBOARD_SECRET_KEYS_OLD (key 2): "),
        "{e}"
    );
}

#[test]
fn records_carry_the_key_id_and_open_only_with_their_key_and_binding() {
    let (ka, kb) = (key(), key());
    let a = sealer_of(&ka);
    let sealed = a.seal(b"binding-1", b"hunter2");
    assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
    assert_eq!(
        parse(&sealed).unwrap().key_id.map(hex::encode),
        Some(a.key_id())
    );
    assert_eq!(a.open(b"binding-1", b"", &sealed, "r").unwrap(), b"hunter2");
    assert!(matches!(
        a.open(b"binding-2", b"", &sealed, "r"),
        Err(SecretsError::Undecryptable { .. })
    ));
    // Another key: refused naming the record's key id, not tried blindly.
    let e = sealer_of(&kb)
        .open(b"binding-1", b"", &sealed, "admin credentials X")
        .unwrap_err();
    assert!(matches!(e, SecretsError::UnknownKey { .. }));
    assert!(!e.is_retryable());
    assert!(e.to_string().contains(&a.key_id()), "{e}");
    assert!(e.to_string().contains("ONBOARD_SECRET_KEY"), "{e}");
    // Configured as an opening key, the old key opens it; new records use the sealing key.
    let b = sealer_of(&kb).with_opening_key(sealer_of(&ka));
    assert_eq!(b.open(b"binding-1", b"", &sealed, "r").unwrap(), b"hunter2");
    assert!(b.is_current(&b.seal(b"x", b"y")));
    assert!(!b.is_current(&sealed));
    assert!(format!("{b:?}").contains("redacted"));
}

#[test]
fn records_sealed_before_key_ids_still_open_with_the_configured_key() {
    let k = key();
    let legacy = legacy_seal(&k, b"01OLDID", b"old secret");
    let current = sealer_of(&k);
    assert_eq!(
        current
            .open(b"new binding", b"01OLDID", &legacy, "r")
            .unwrap(),
        b"old secret"
    );
    // As an opening-only key too (rotation), and bound to its id still.
    let rotated = sealer_of(&key()).with_opening_key(sealer_of(&k));
    assert_eq!(
        rotated.open(b"x", b"01OLDID", &legacy, "r").unwrap(),
        b"old secret"
    );
    assert!(rotated.open(b"x", b"01OTHER", &legacy, "r").is_err());
}

#[tokio::test]
async fn a_record_copied_under_another_run_role_or_tenant_does_not_open() {
    let (_server, conn) = redis().await;
    let prefix = redis_test_server::unique_name("onboard");
    let store = CredentialStore::new(conn.clone(), &prefix, sealer_of(&key()));
    let admin_of_a = store
        .put(&creds(), &binding("run-a", "admin"))
        .await
        .unwrap();
    let new_of_b = store.put(&creds(), &binding("run-b", "new")).await.unwrap();
    assert_eq!(
        store
            .get(&admin_of_a, &binding("run-a", "admin"))
            .await
            .unwrap(),
        creds()
    );
    // Whoever can write to Redis copies run A's admin record over run B's record.
    let mut c = conn.clone();
    let raw: Vec<u8> = c.get(store.key(&admin_of_a)).await.unwrap();
    let _: () = c.set(store.key(&new_of_b), &raw).await.unwrap();
    for (id, b) in [
        (&new_of_b, binding("run-b", "new")),
        (&admin_of_a, binding("run-b", "admin")),
        (&admin_of_a, binding("run-a", "new")),
        (
            &admin_of_a,
            Binding {
                tenant: "globex",
                run: "run-a",
                role: "admin",
            },
        ),
    ] {
        let e = store.get(id, &b).await.unwrap_err();
        assert!(matches!(e, SecretsError::Undecryptable { .. }), "{e:?}");
        assert!(!e.is_retryable());
    }
    // Another deployment prefix on the same Redis does not open it either.
    let other = CredentialStore::new(conn.clone(), "other", store.sealer.clone());
    let _: () = c.set(other.key(&admin_of_a), &raw).await.unwrap();
    assert!(
        other
            .get(&admin_of_a, &binding("run-a", "admin"))
            .await
            .is_err()
    );
    // Nothing in clear.
    for secret in ["TopSecret!42", "VENDOR-CODE-123"] {
        assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
    assert!(matches!(
        store.get("nope", &binding("run-a", "new")).await,
        Err(SecretsError::Missing(_))
    ));
}

#[tokio::test]
async fn the_key_check_refuses_another_key_naming_the_setting() {
    let (_server, conn) = redis().await;
    let prefix = redis_test_server::unique_name("onboard");
    let (ka, kb) = (key(), key());
    let a = CredentialStore::new(conn.clone(), &prefix, sealer_of(&ka));
    a.check_key().await.expect("first use creates the record");
    a.check_key().await.expect("the same key again");
    let b = CredentialStore::new(conn.clone(), &prefix, sealer_of(&kb));
    let e = b.check_key().await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("ONBOARD_SECRET_KEY does not match this deployment"),
        "{text}"
    );
    assert!(text.contains(&sealer_of(&ka).key_id()), "{text}");
    assert!(
        !text.contains(&ka) && !text.contains(&kb),
        "no key in the error"
    );
    // While rotating: the new key seals, the old one (which sealed the check) opens.
    let rotating = CredentialStore::new(
        conn.clone(),
        &prefix,
        sealer_of(&kb).with_opening_key(sealer_of(&ka)),
    );
    rotating.check_key().await.unwrap();
    // Another deployment has a key check of its own.
    CredentialStore::new(conn, "elsewhere", sealer_of(&kb))
        .check_key()
        .await
        .unwrap();
}
