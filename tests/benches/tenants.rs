//! Benchmark: N tenants (default 200) onboarded against the simulator with 50 ms latency per
//! Autotask request, by one worker process, through the queue.
//!
//! Printed: wall time against the lower bound the limits allow, as a ratio. Each tenant's
//! requests run one after another (one running step per tenant, one request at a time per
//! step), each taking at least the simulated latency, and the worker runs at most C steps at
//! once; so N tenants need at least max(R·L, N·R·L / C), R = requests per tenant (counted
//! from the simulator's log), L = latency. Also: one tenant alone (the baseline, measured
//! first in the same run), requests per tenant, 429s caused by us (must be 0) and the
//! worker's peak RSS.
//!
//! `BENCH_TENANTS` and `BENCH_CONCURRENCY` change the size (`make bench` uses the defaults).
//! The two attested steps are acknowledged at enqueue, as an operator who confirmed them in
//! advance would, so operator time is not measured.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use autotask_sim::{SeedApiUser, SimConfig, SimHandle};
use onboard_e2e::WorkerEnv;
use onboarding_steps::StepName;
use onboarding_steps::TenantSettings;
use onboarding_steps::run::{RunKind, RunState};
use onboarding_worker::secrets::SecretBox;
use onboarding_worker::service::{ApiCredentials, EnqueueRequest, Onboard};
use redis_test_server::{Options, RedisServer};

fn var(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn worker(env: &WorkerEnv, concurrency: usize) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_e2e-worker"))
        .envs(env.vars())
        .env("E2E_CONCURRENCY", concurrency.to_string())
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the worker");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    child
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

async fn enqueue_all(onboard: &Onboard, sim: &SimHandle, tenants: &[String]) -> Vec<String> {
    let settings: TenantSettings =
        serde_json::from_value(serde_json::json!({"webhook_url_base": "https://hooks.example/at"}))
            .unwrap();
    let mut ids = Vec::new();
    for t in tenants {
        let u = sim
            .db(t)
            .unwrap()
            .seed_api_user(&SeedApiUser::default())
            .unwrap();
        let request = EnqueueRequest {
            kind: RunKind::Onboard,
            tenant_id: t.clone(),
            tenant_name: String::new(),
            settings: settings.clone(),
            new_user: ApiCredentials {
                integration_code: u.integration_code,
                username: u.user_name,
                secret: u.secret,
            },
            previous_user: None,
            admin: None,
            idempotency_key: None,
            dry_run: false,
            bulk: false,
        };
        let r = onboard.enqueue(request, None).await.unwrap();
        for step in [
            StepName::ConfirmUnassignedLobVisibility,
            StepName::ConfirmVendorActive,
        ] {
            onboard
                .acknowledge(&r.run_id, step, "bench-operator")
                .await
                .unwrap();
        }
        ids.push(r.run_id);
    }
    ids
}

async fn wait_all(onboard: &Onboard, ids: &[String]) {
    loop {
        let mut done = 0;
        for id in ids {
            let run = onboard.runs.get(id).await.unwrap().unwrap();
            assert!(
                run.state != RunState::Failed,
                "run {id} failed: {:?}",
                run.steps
            );
            done += usize::from(run.state == RunState::Succeeded);
        }
        if done == ids.len() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::main]
async fn main() {
    let n = var("BENCH_TENANTS", 200);
    let concurrency = var("BENCH_CONCURRENCY", 64);
    let latency_ms = 50;
    let redis = RedisServer::private(Options::default());
    let tenants: Vec<String> = (0..n).map(|i| format!("t{i:04}")).collect();
    let mut config = SimConfig {
        base_latency_ms: latency_ms,
        ..SimConfig::default()
    };
    config = config.with_database("baseline");
    for t in &tenants {
        config = config.with_database(t);
    }
    let sim = autotask_sim::spawn(config).await.unwrap();
    let env = WorkerEnv {
        redis_url: redis.url().to_owned(),
        sentinels: Vec::new(),
        sentinel_master: String::new(),
        prefix: "bench".into(),
        key: SecretBox::generate_key(),
        base_url: sim.base_url().to_owned(),
        lease: Duration::from_secs(30),
    };
    let onboard = env.connect().await.unwrap();
    let mut child = worker(&env, concurrency);

    // Baseline: one tenant alone.
    let baseline_ids = enqueue_all(&onboard, &sim, &["baseline".to_owned()]).await;
    let started = Instant::now();
    wait_all(&onboard, &baseline_ids).await;
    let chain = started.elapsed();

    sim.clear_requests();
    let ids = enqueue_all(&onboard, &sim, &tenants).await;
    let started = Instant::now();
    wait_all(&onboard, &ids).await;
    let wall = started.elapsed();
    let rss = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();

    let requests = sim.requests();
    let ours_429 = requests
        .iter()
        .filter(|r| r.status == 429 && r.fault.is_none())
        .count();
    let per_tenant = requests.iter().filter(|r| r.database.is_some()).count() as f64 / n as f64;
    let busy: u64 = requests
        .iter()
        .filter(|r| r.database.is_some())
        .map(|r| r.micros)
        .sum();
    let in_flight = busy as f64 / 1e6 / wall.as_secs_f64();
    let one_chain = Duration::from_millis(latency_ms).mul_f64(per_tenant);
    let lower = one_chain.mul_f64((n as f64 / concurrency as f64).max(1.0));
    println!(
        "onboarding benchmark: {n} tenants, {latency_ms} ms per Autotask request, one worker process running {concurrency} steps at once"
    );
    println!("| measure | value |");
    println!("|---|---:|");
    println!(
        "| one tenant alone (baseline chain) | {:.2} s |",
        chain.as_secs_f64()
    );
    println!(
        "| lower bound: max(1, {n}/{concurrency}) × {per_tenant:.0} requests × {latency_ms} ms | {:.2} s |",
        lower.as_secs_f64()
    );
    println!("| wall time, {n} tenants | {:.2} s |", wall.as_secs_f64());
    println!(
        "| wall / lower bound | {:.2}x |",
        wall.as_secs_f64() / lower.as_secs_f64()
    );
    println!("| Autotask requests per tenant | {per_tenant:.1} |");
    println!("| mean Autotask requests in flight | {in_flight:.1} |");
    println!("| 429s caused by us | {ours_429} |");
    println!("| worker peak RSS | {:.1} MiB |", rss as f64 / 1024.0);
    assert_eq!(ours_429, 0, "thread-limit violations caused by onboard");
    sim.shutdown().await;
}
