//! A worker process for the end-to-end tests (configured by `E2E_*` variables), so a test
//! can kill a real process with SIGKILL mid-step. Prints `ready` once it takes jobs.

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
    run_worker(handler, 4, std::future::pending::<()>())
        .await
        .expect("worker");
}
