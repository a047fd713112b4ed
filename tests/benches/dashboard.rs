//! Benchmark: the retry dashboard with 10,000 runs (`BENCH_DASHBOARD_RUNS` changes it) in a
//! private Redis, served by the real API router over loopback HTTP.
//!
//! Printed, and written to `target/bench/dashboard.json`: the time to render the first page
//! of runs (`GET /dashboard`: counts, queue depth and throughput, waiting runs, 50 runs) and
//! of a page filtered by kind (a criterion the indexes cannot answer: the page reads runs
//! until it has 50 matches or its scan budget), each as a ratio against the baseline
//! measured in the same run: `GET /v1/runs?limit=50`, the same 50 run records read from
//! Redis and sent as JSON. Medians of 25 requests each, after 3 warm-ups.

use std::time::{Duration, Instant};

use onboard_e2e::WorkerEnv;
use onboarding_steps::TenantSettings;
use onboarding_steps::run::RunKind;
use onboarding_worker::secrets::SecretBox;
use onboarding_worker::service::{ApiCredentials, EnqueueRequest};
use redis_test_server::{Options, RedisServer};

const TOKEN: &str = "bench-token";

async fn median(http: &reqwest::Client, url: &str, auth: &str) -> Duration {
    let mut times = Vec::new();
    for i in 0..28 {
        let start = Instant::now();
        let res = http
            .get(url)
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{url}: {}", res.status());
        let body = res.bytes().await.unwrap();
        assert!(!body.is_empty());
        if i >= 3 {
            times.push(start.elapsed());
        }
    }
    times.sort();
    times[times.len() / 2]
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_DASHBOARD_RUNS")
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
    let settings: TenantSettings =
        serde_json::from_value(serde_json::json!({"webhook_url_base": "https://hooks.example/at"}))
            .unwrap();
    let first = onboard
        .enqueue(
            EnqueueRequest {
                kind: RunKind::Onboard,
                tenant_id: "tenant-0".into(),
                tenant_name: String::new(),
                settings,
                new_user: ApiCredentials {
                    integration_code: "CODE".into(),
                    username: "api@example.com".into(),
                    secret: "s3cret".into(),
                },
                previous_user: None,
                admin: None,
                idempotency_key: None,
                dry_run: false,
                bulk: false,
            },
            None,
        )
        .await
        .unwrap();
    let template = onboard.runs.get(&first.run_id).await.unwrap().unwrap();
    // The other runs: copies under new ids, tenants and kinds (one in 20 is a verify run).
    for i in 1..n {
        let mut run = template.clone();
        run.id = format!("{}{i:06}", &template.id[..20]);
        run.idempotency_key = format!("bench-{i}");
        run.request.tenant_id = format!("tenant-{}", i % 500);
        run.created_at = onboarding_steps::Timestamp(template.created_at.0 + i as u64);
        if i % 20 == 0 {
            run.request.kind = RunKind::Verify;
        }
        onboard.runs.create(&run, "bench").await.unwrap();
    }
    let config = onboarding_api::ApiConfig {
        token: Some(TOKEN.into()),
        ..Default::default()
    };
    let app = onboarding_api::router(onboard, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let bearer = format!("Bearer {TOKEN}");
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("operator:{TOKEN}")
        )
    );
    let baseline = median(&http, &format!("{base}/v1/runs?limit=50"), &bearer).await;
    let page = median(&http, &format!("{base}/dashboard"), &basic).await;
    let filtered = median(&http, &format!("{base}/dashboard?kind=verify"), &basic).await;
    let ratio = |d: Duration| d.as_secs_f64() / baseline.as_secs_f64();
    println!("dashboard benchmark: {n} runs in Redis; medians of 25 requests over loopback HTTP");
    println!("| measure | ratio to the baseline |");
    println!("|---|---:|");
    println!("| baseline: GET /v1/runs?limit=50 (JSON) | 1.00 |");
    println!(
        "| first page of runs, GET /dashboard | {:.2} |",
        ratio(page)
    );
    println!(
        "| first page filtered by kind, GET /dashboard?kind=verify | {:.2} |",
        ratio(filtered)
    );
    let out = serde_json::json!({
        "runs": n,
        "baseline": "GET /v1/runs?limit=50",
        "baseline_ms": baseline.as_secs_f64() * 1000.0,
        "first_page_ms": page.as_secs_f64() * 1000.0,
        "first_page_ratio": ratio(page),
        "filtered_page_ms": filtered.as_secs_f64() * 1000.0,
        "filtered_page_ratio": ratio(filtered),
    });
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("dashboard.json"),
        serde_json::to_string_pretty(&out).unwrap(),
    )
    .unwrap();
}
