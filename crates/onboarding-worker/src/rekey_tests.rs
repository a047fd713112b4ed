//! `rekey` against a private `redis-server`: records of every kind and age move to the new
//! key, a stopped rekey is finished by the next, and afterwards the old key is not needed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use onboarding_steps::run::RunKind;
use redis::AsyncCommands;

use crate::secrets::{ApiCredentials, Binding, SecretBox};
use crate::service::{EnqueueRequest, Onboard};
use crate::setup::{Setup, connect, fast_policy};

fn sealer(k: &str) -> SecretBox {
    SecretBox::from_base64(k, "TEST_KEY").unwrap()
}

/// A record as sealed before key ids: `nonce || ciphertext`, bound to `aad` alone.
fn legacy_seal(k: &str, aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new_from_slice(&B64.decode(k).unwrap()).unwrap();
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let mut out = nonce.to_vec();
    out.extend(cipher.encrypt(&nonce, Payload { msg: plain, aad }).unwrap());
    out
}

async fn service(url: &str, prefix: &str, key: SecretBox) -> Onboard {
    let setup = Setup {
        redis: onboarding_queue::RedisSettings::url(url),
        prefix: prefix.to_owned(),
        autotask_base_url: Some("http://127.0.0.1:9/".parse().unwrap()),
        lease: std::time::Duration::from_secs(5),
        budget_share: 0.5,
        policy: fast_policy(),
    };
    connect(&setup, key).await.unwrap()
}

fn creds(user: &str) -> ApiCredentials {
    ApiCredentials {
        integration_code: "CODE".into(),
        username: user.into(),
        secret: format!("secret-of-{user}"),
    }
}

pub(crate) fn request(tenant: &str) -> EnqueueRequest {
    EnqueueRequest {
        kind: RunKind::Onboard,
        tenant_id: tenant.into(),
        tenant_name: String::new(),
        settings: serde_json::from_value(serde_json::json!({
            "webhook_url_base": "https://hooks.example.com/autotask",
        }))
        .unwrap(),
        new_user: creds("api@acme"),
        previous_user: None,
        admin: Some(creds("admin@acme")),
        idempotency_key: None,
        dry_run: false,
        bulk: false,
    }
}

#[tokio::test]
async fn rekey_moves_every_record_to_the_new_key_resumably() {
    let server = redis_test_server::RedisServer::start();
    let prefix = redis_test_server::unique_name("onboard");
    let (ka, kb) = (SecretBox::generate_key(), SecretBox::generate_key());
    let old = service(server.url(), &prefix, sealer(&ka)).await;
    old.credentials.check_key().await.unwrap();
    let run_id = old.enqueue(request("acme"), None).await.unwrap().run_id;
    let run = old.runs.get(&run_id).await.unwrap().unwrap();
    // The run's new-user record as onboard sealed it before key ids.
    let mut conn = old.credentials.redis.clone();
    let new_ref = run.request.credentials.new.0.clone();
    let legacy = legacy_seal(
        &ka,
        new_ref.as_bytes(),
        &serde_json::to_vec(&creds("api@acme")).unwrap(),
    );
    let _: () = conn
        .set(old.credentials.key(&new_ref), legacy)
        .await
        .unwrap();
    // Still readable as it is: the worker opens it with the configured key.
    assert_eq!(old.open_credentials(&run).await.unwrap().len(), 2);
    // A record no run names (yet): its binding is written in it.
    let orphan_binding = Binding {
        tenant: "acme",
        run: "in-flight",
        role: "new",
    };
    let orphan = old
        .credentials
        .put(&creds("x"), &orphan_binding)
        .await
        .unwrap();
    // Webhook secrets: one keyed by database, one from before slots were.
    let slot = "webhook-secret/acme/5/Ticket";
    let hook_secret = old
        .webhook_secrets
        .get_or_create("ci:1", slot)
        .await
        .unwrap();
    let legacy_slot = format!("{prefix}:whsecret:webhook-secret/acme/4/Ticket");
    let _: () = conn
        .set(
            &legacy_slot,
            legacy_seal(&ka, b"webhook-secret/acme/4/Ticket", b"k"),
        )
        .await
        .unwrap();

    // A campaign still running: its cohort entries are sealed.
    let options: onboarding_campaign::CampaignOptions =
        serde_json::from_value(serde_json::json!({"kind": "onboard"})).unwrap();
    let cohort = ["beta", "gamma"]
        .map(|t| crate::campaigns::CohortEntry {
            request: request(t),
            zone: None,
        })
        .to_vec();
    let campaign = old
        .create_campaign(options, cohort, "operator")
        .await
        .unwrap()
        .id;

    let rotating = service(
        server.url(),
        &prefix,
        sealer(&kb).with_opening_key(sealer(&ka)),
    )
    .await;
    rotating.credentials.check_key().await.unwrap();
    // Stopped midway (as by a crash), then run again: the second run finishes the job.
    let first = rotating.rekey(Some(2)).await.unwrap();
    assert_eq!((first.resealed, first.complete), (2, false), "{first:?}");
    let second = rotating.rekey(None).await.unwrap();
    assert!(second.complete, "{second:?}");
    assert!(second.unreadable.is_empty(), "{second:?}");
    // 2 credentials of the run + the orphan + the webhook secret + 2 campaign entries + the
    // key check = 7.
    assert_eq!(first.resealed + second.resealed, 7, "{second:?}");
    assert_eq!(second.removed, 1);
    let again = rotating.rekey(None).await.unwrap();
    assert_eq!((again.resealed, again.current), (0, 7), "{again:?}");

    // The old key is no longer needed, and no longer accepted.
    let new = service(server.url(), &prefix, sealer(&kb)).await;
    new.credentials.check_key().await.unwrap();
    let opened = new.open_credentials(&run).await.unwrap();
    assert_eq!(opened.len(), 2);
    assert_eq!(
        new.credentials.get(&orphan, &orphan_binding).await.unwrap(),
        creds("x")
    );
    assert_eq!(
        new.webhook_secrets
            .get_or_create("ci:1", slot)
            .await
            .unwrap(),
        hook_secret
    );
    let entry = new.campaign_entry(&campaign, 1).await.unwrap().unwrap();
    assert_eq!(entry.tenant_id, "gamma");
    assert_eq!(entry.new_user, creds("api@acme"));
    let exists: bool = conn.exists(&legacy_slot).await.unwrap();
    assert!(!exists);
    let stale = service(server.url(), &prefix, sealer(&ka)).await;
    let e = stale.credentials.check_key().await.unwrap_err();
    assert!(e.to_string().contains("ONBOARD_SECRET_KEY"), "{e}");
    assert!(stale.open_credentials(&run).await.is_err());
    assert!(stale.campaign_entry(&campaign, 1).await.is_err());
}
