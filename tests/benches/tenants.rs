//! Benchmark: N simulated tenants (one database each, 50 ms per Autotask call) onboarded by
//! one worker process through the queue, for each size of `BENCH_TENANTS` (default
//! `1000,10000`) at `BENCH_CONCURRENCY` steps at once (default 64).
//!
//! Per size, on a fresh private Redis and a fresh simulator: every run is enqueued first (the
//! two attested steps acknowledged at enqueue, as an operator who confirmed them in advance
//! would, so operator time is not measured), then the worker process starts and the clock
//! runs from its start until every run has succeeded. Printed, and written as one JSON object
//! per size to `target/bench/tenants.json` (keys `tenants`, `concurrency`, `wall_s`,
//! `bound_s`, `wall_over_bound`, `max_in_flight`, `throttled_by_us`, `worker_peak_rss_mib`,
//! `redis_bytes_per_run`):
//! - the lower bound and its formula: each run makes R calls (counted from the simulator's
//!   log), each takes at least L = 50 ms; a tenant's calls are sequential (one step of a tenant
//!   at a time, one call at a time per step), so bound ≥ R·L; the worker runs at most C steps
//!   at once, so at most C calls are open at once and bound ≥ N·R·L/C. The other limits do not
//!   bind and the table says why (3 concurrent calls per tenant and endpoint: a tenant has one
//!   open at a time; the hourly budget: R is far below the tenant's share; there is no
//!   per-zone limit in the product);
//! - the most calls ever open at once in the simulator (a maximum, not a mean: each open call
//!   belongs to a running step, so it must not exceed C);
//! - 429s caused by us (refusals not injected as faults; goal 0), the worker's peak RSS
//!   (`VmHWM` from `/proc`), and Redis memory per finished run (`used_memory` from `INFO
//!   memory` after the runs minus before the enqueue, divided by N: run records, sealed
//!   credentials, retained done jobs).
//!
//! Nothing here is asserted but the runs' success: figures are reported, not tested.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use autotask_sim::{SeedApiUser, SimConfig};
use onboard_e2e::WorkerEnv;
use onboarding_steps::StepName;
use onboarding_steps::TenantSettings;
use onboarding_steps::run::{RunKind, RunState};
use onboarding_worker::secrets::SecretBox;
use onboarding_worker::service::{ApiCredentials, EnqueueRequest, Onboard};
use redis_test_server::{Options, RedisServer};

const LATENCY_MS: u64 = 50;
/// The tenant's share of the hourly budget the worker environment configures.
const HOURLY_SHARE: f64 = 0.9 * 10_000.0;

fn sizes() -> Vec<usize> {
    std::env::var("BENCH_TENANTS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1_000, 10_000])
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
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("worker's first line");
    assert_eq!(line.trim(), "ready");
    child
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds (user + system) a process has used so far, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> f64 {
    let ticks: u64 = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces): utime and stime are the
            // 12th and 13th of them.
            let rest = s.rsplit_once(')')?.1.to_owned();
            let f: Vec<u64> = rest
                .split_whitespace()
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            Some(f.get(11)? + f.get(12)?)
        })
        .unwrap_or(0);
    ticks as f64 / 100.0
}

async fn redis_used_memory(url: &str) -> u64 {
    let client = redis::Client::open(url).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await
        .expect("INFO memory");
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Enqueues one run per tenant (16 at a time), its attested steps acknowledged.
async fn enqueue_all(onboard: &Onboard, requests: Vec<EnqueueRequest>) -> Vec<String> {
    let mut set = tokio::task::JoinSet::new();
    let chunk = requests.len().div_ceil(16).max(1);
    let mut requests = requests.into_iter().peekable();
    while requests.peek().is_some() {
        let part: Vec<EnqueueRequest> = requests.by_ref().take(chunk).collect();
        let onboard = onboard.clone();
        set.spawn(async move {
            let mut ids = Vec::new();
            for request in part {
                let r = onboard.enqueue(request, None).await.expect("enqueue");
                for step in [
                    StepName::ConfirmUnassignedLobVisibility,
                    StepName::ConfirmVendorActive,
                ] {
                    onboard
                        .acknowledge(&r.run_id, step, "bench-operator")
                        .await
                        .expect("acknowledge");
                }
                ids.push(r.run_id);
            }
            ids
        });
    }
    set.join_all().await.into_iter().flatten().collect()
}

/// Waits until the queue is idle, then checks every run once: all succeeded (a failure
/// stops the benchmark with its steps).
async fn wait_all(onboard: &Onboard, ids: &[String]) {
    loop {
        let c = onboard.queue.counts().await.expect("queue counts");
        if c.ready + c.running == 0 {
            let mut done = 0;
            for id in ids {
                let run = onboard
                    .runs
                    .get(id)
                    .await
                    .expect("run")
                    .expect("run exists");
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
            // Some runs wait for a retry: look again later, not every few ms.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One size's figures (the JSON object).
#[derive(serde::Serialize)]
struct Figures {
    tenants: usize,
    concurrency: usize,
    wall_s: f64,
    bound_s: f64,
    wall_over_bound: f64,
    max_in_flight: usize,
    throttled_by_us: usize,
    worker_peak_rss_mib: f64,
    redis_bytes_per_run: f64,
}

/// One size's figures and, for the table only, the calls per run and the worker's CPU seconds.
async fn measure(n: usize, concurrency: usize) -> (Figures, f64, f64) {
    let redis = RedisServer::private(Options::default());
    let tenants: Vec<String> = (0..n).map(|i| format!("t{i:05}")).collect();
    let mut config = SimConfig {
        base_latency_ms: LATENCY_MS,
        request_log_capacity: n * 100,
        ..SimConfig::default()
    };
    for t in &tenants {
        config = config.with_database(t);
    }
    let sim = autotask_sim::spawn(config).await.expect("simulator");
    let env = WorkerEnv {
        redis_url: redis.url().to_owned(),
        sentinels: Vec::new(),
        sentinel_master: String::new(),
        prefix: "bench".into(),
        key: SecretBox::generate_key(),
        base_url: sim.base_url().to_owned(),
        lease: Duration::from_secs(30),
    };
    let onboard = env.connect().await.expect("connect");
    let settings: TenantSettings =
        serde_json::from_value(serde_json::json!({"webhook_url_base": "https://hooks.example/at"}))
            .expect("settings");
    let requests: Vec<EnqueueRequest> = tenants
        .iter()
        .map(|t| {
            let u = sim
                .db(t)
                .expect("database")
                .seed_api_user(&SeedApiUser::default())
                .expect("seed user");
            EnqueueRequest {
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
            }
        })
        .collect();

    let memory_before = redis_used_memory(redis.url()).await;
    let ids = enqueue_all(&onboard, requests).await;
    sim.clear_requests();
    sim.reset_max_in_flight();
    let started = Instant::now();
    let mut child = worker(&env, concurrency);
    wait_all(&onboard, &ids).await;
    let wall = started.elapsed().as_secs_f64();
    let rss = peak_rss_kib(child.id());
    let worker_cpu = cpu_seconds(child.id());
    let _ = child.kill();
    let _ = child.wait();
    let memory_after = redis_used_memory(redis.url()).await;

    let requests = sim.requests();
    let throttled_by_us = requests
        .iter()
        .filter(|r| r.status == 429 && r.fault.is_none())
        .count();
    let calls_per_run = requests.len() as f64 / n as f64;
    let l = LATENCY_MS as f64 / 1000.0;
    let bound = (calls_per_run * l).max(n as f64 * calls_per_run * l / concurrency as f64);
    let max_in_flight = sim.max_in_flight();
    sim.shutdown().await;
    (
        Figures {
            tenants: n,
            concurrency,
            wall_s: wall,
            bound_s: bound,
            wall_over_bound: wall / bound,
            max_in_flight,
            throttled_by_us,
            worker_peak_rss_mib: rss as f64 / 1024.0,
            redis_bytes_per_run: memory_after.saturating_sub(memory_before) as f64 / n as f64,
        },
        calls_per_run,
        worker_cpu,
    )
}

fn json_path() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bench").join("tenants.json")
}

#[tokio::main]
async fn main() {
    let concurrency = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let l = LATENCY_MS;
    println!(
        "onboarding benchmark: N simulated tenants (one database each), {l} ms per Autotask call, one worker process running at most C = {concurrency} steps at once"
    );
    println!(
        "lower bound = max(R·L, N·R·L/C): R calls per run (counted), L = {l} ms; a tenant's calls are sequential, at most C calls are open at once"
    );
    println!(
        "not binding: 3 calls per (tenant, endpoint) (a tenant has one call open at a time), the hourly budget ({HOURLY_SHARE:.0} calls per tenant per hour), no per-zone limit exists\n"
    );
    println!(
        "| tenants | R calls/run | bound = max(R·L, N·R·L/C) | wall | wall / bound | max calls in flight / C | 429s caused by us | worker peak RSS | Redis bytes per run | worker CPU |"
    );
    println!("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut all = Vec::new();
    for n in sizes() {
        let (f, r, cpu) = measure(n, concurrency).await;
        println!(
            "| {n} | {r:.1} | max({r:.1}·{l} ms, {n}·{r:.1}·{l} ms/{concurrency}) = {:.2} s | {:.2} s | {:.2}x | {} / {concurrency} | {} | {:.1} MiB | {:.0} | {cpu:.1} s |",
            f.bound_s,
            f.wall_s,
            f.wall_over_bound,
            f.max_in_flight,
            f.throttled_by_us,
            f.worker_peak_rss_mib,
            f.redis_bytes_per_run,
        );
        all.push(f);
    }
    let path = json_path();
    std::fs::create_dir_all(path.parent().expect("bench dir")).expect("create target/bench");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&all).expect("figures as JSON"),
    )
    .expect("write the JSON figures");
    println!(
        "\ngoals: wall / bound <= 1.1x, max in flight <= C, 0 throttled by us, worker <= 50 MiB at 10,000 runs; figures in {}",
        path.display()
    );
}
