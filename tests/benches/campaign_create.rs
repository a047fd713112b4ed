//! Benchmark: the time to create a campaign of 10,000 tenants (`BENCH_CAMPAIGN_TENANTS`
//! changes the size; goal < 2 s): the whole cohort checked, every entry sealed, campaign,
//! sealed entries and tenant list stored in one Redis transaction.
//!
//! Baseline, measured first in the same run against the same private Redis: the same
//! entries written unchecked and unsealed in one pipeline (what storing alone costs).
//! Printed: both times and their ratio; written as JSON to `target/bench/campaign_create.json`
//! (`tenants`, `create_s`, `baseline_s`, `create_over_baseline`, `goal_s`).

use std::time::{Duration, Instant};

use onboard_e2e::WorkerEnv;
use onboarding_campaign::CampaignOptions;
use onboarding_steps::TenantSettings;
use onboarding_steps::run::RunKind;
use onboarding_worker::campaigns::CohortEntry;
use onboarding_worker::secrets::SecretBox;
use onboarding_worker::service::{ApiCredentials, EnqueueRequest};
use redis_test_server::{Options, RedisServer};

fn cohort(n: usize) -> Vec<CohortEntry> {
    let settings: TenantSettings =
        serde_json::from_value(serde_json::json!({"webhook_url_base": "https://hooks.example/at"}))
            .unwrap();
    (0..n)
        .map(|i| CohortEntry {
            request: EnqueueRequest {
                kind: RunKind::Verify,
                tenant_id: format!("tenant-{i:05}"),
                tenant_name: format!("Tenant {i}"),
                settings: settings.clone(),
                new_user: ApiCredentials {
                    integration_code: "INTEGRATIONCODE".into(),
                    username: format!("api-{i}@example.com"),
                    secret: format!("secret-{i}-xxxxxxxxxxxxxxxx"),
                },
                previous_user: None,
                admin: None,
                idempotency_key: None,
                dry_run: false,
                bulk: false,
            },
            zone: Some(format!("webservices{}", i % 6 + 1)),
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_CAMPAIGN_TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let redis = RedisServer::private(Options::default());
    let env = WorkerEnv {
        redis_url: redis.url().to_owned(),
        prefix: "bench".into(),
        key: SecretBox::generate_key(),
        base_url: "http://127.0.0.1:9/".into(),
        lease: Duration::from_secs(30),
        sentinels: Vec::new(),
        sentinel_master: String::new(),
    };
    let onboard = env.connect().await.expect("connect");
    let entries = cohort(n);

    // Baseline: the same entries, serialized and written in one pipeline, unchecked.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let started = Instant::now();
    let mut pipe = redis::pipe();
    pipe.atomic();
    for (i, e) in entries.iter().enumerate() {
        let doc = serde_json::to_vec(&e.request).unwrap();
        pipe.hset("baseline:entries", i, doc).ignore();
    }
    let () = pipe.query_async(&mut conn).await.unwrap();
    let baseline = started.elapsed().as_secs_f64();

    let options = CampaignOptions {
        kind: RunKind::Verify,
        canary: 10,
        wave_size: 500,
        max_failure_rate: 0.05,
        pace_per_min: Some(600),
        dry_run: false,
        confirm_attested_as: None,
    };
    let started = Instant::now();
    let c = onboard
        .create_campaign(options, entries, "bench")
        .await
        .expect("create");
    let create = started.elapsed().as_secs_f64();
    assert_eq!(c.tenants, n);

    let ratio = create / baseline;
    println!("campaign create: {n} tenants");
    println!("  baseline (same entries stored unchecked, unsealed): {baseline:.3} s");
    println!(
        "  create (checked, sealed, stored):                   {create:.3} s  = {ratio:.2}x baseline  (goal < 2 s)"
    );
    let json = serde_json::json!({
        "tenants": n,
        "create_s": create,
        "baseline_s": baseline,
        "create_over_baseline": ratio,
        "goal_s": 2.0,
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("campaign_create.json"),
        serde_json::to_string_pretty(&json).unwrap(),
    )
    .unwrap();
}
