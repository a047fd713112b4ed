//! The retention sweep of a running `onboard worker`: with `ONBOARD_SWEEP_INTERVAL_SECS` set
//! the process removes finished runs past their retention on its own, not only at start. Runs
//! are made old by rewriting their timestamps in Redis (retention is counted in days).

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis_test_server::{Options, RedisServer};
use serde_json::Value;

const KEY: &str = "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const DAY_MS: u64 = 24 * 3600 * 1000;

fn command(redis: &str, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_onboard"));
    c.args(args)
        .env_clear()
        .env("ONBOARD_REDIS_URL", redis)
        .env("ONBOARD_PREFIX", "sweep")
        .env("ONBOARD_SECRET_KEY", KEY)
        .env("ONBOARD_AUTOTASK_BASE_URL", "http://127.0.0.1:9/")
        .env("ONBOARD_METRICS_ADDR", "127.0.0.1:0")
        .env("ONBOARD_RETENTION_DAYS", "1")
        .env("ONBOARD_SWEEP_INTERVAL_SECS", "1")
        .env("ONBOARD_INTEGRATION_CODE", "code")
        .env("ONBOARD_NEW_SECRET", "secret")
        .env("RUST_LOG", "error")
        .kill_on_drop(true);
    c
}

/// A cancelled run, enqueued and cancelled with the CLI.
async fn cancelled_run(redis: &str, tenant: &str) -> String {
    let out = command(
        redis,
        &[
            "--json",
            "enqueue",
            "--kind",
            "verify",
            "--tenant",
            tenant,
            "--new-user",
            "api@example.com",
            "--webhook-url-base",
            "https://hooks.example/x",
        ],
    )
    .output()
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = serde_json::from_slice::<Value>(&out.stdout).unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = command(redis, &["cancel", &run, "--operator", "olga"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run
}

/// Moves the run's creation and last change two days back (past the one-day retention).
async fn age(conn: &mut redis::aio::MultiplexedConnection, run: &str) {
    let key = format!("{{sweep}}:run:{run}");
    let doc: String = conn.hget(&key, "doc").await.unwrap();
    let mut doc: Value = serde_json::from_str(&doc).unwrap();
    let old = doc["created_at"].as_u64().unwrap() - 2 * DAY_MS;
    doc["created_at"] = old.into();
    doc["updated_at"] = old.into();
    let _: () = conn.hset(&key, "doc", doc.to_string()).await.unwrap();
    let _: () = conn.zadd("{sweep}:runs", run, old).await.unwrap();
}

async fn until_gone(conn: &mut redis::aio::MultiplexedConnection, run: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let there: bool = conn.exists(format!("{{sweep}}:run:{run}")).await.unwrap();
        if !there {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "run {run} is still stored 30 s after it passed its retention"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_worker_sweeps_on_its_own_every_interval() {
    let redis = RedisServer::private(Options::default());
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let first = cancelled_run(redis.url(), "acme").await;
    let second = cancelled_run(redis.url(), "beta").await;
    age(&mut conn, &first).await;
    let mut worker = command(redis.url(), &["worker"]).spawn().unwrap();
    // The sweep at start.
    until_gone(&mut conn, &first).await;
    // A run that passes its retention while the worker runs goes at a later sweep.
    age(&mut conn, &second).await;
    until_gone(&mut conn, &second).await;
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker is still running"
    );
}
