//! A worker process for the end-to-end tests (configured by `E2E_*` variables), so a test
//! can kill a real process with SIGKILL mid-step, and the benchmark can measure a worker's
//! memory. `E2E_CONCURRENCY` sets the steps run at once (default 4). Prints `ready` once it
//! takes jobs. SIGTERM stops it gracefully (the running steps finish).

use std::sync::Arc;

use onboard_e2e::WorkerEnv;
use onboarding_worker::metrics::Metrics;
use onboarding_worker::worker::{Handler, run_worker};

#[tokio::main]
async fn main() {
    let env = WorkerEnv::from_vars(|k| std::env::var(k).ok()).expect("E2E_* variables");
    let onboard = env.connect().await.expect("connect");
    let handler = Handler::new(
        onboard,
        Arc::new(Metrics::default()),
        format!("e2e-process-{}", std::process::id()),
    );

    println!("ready");
    let concurrency = std::env::var("E2E_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(4);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    run_worker(handler, concurrency, async move {
        term.recv().await;
    })
    .await
    .expect("worker");
}
