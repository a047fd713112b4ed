//! A worker process for the crash test (`tests/it/crash.rs`): it leases jobs from a queue and
//! reports each one on stdout, then either hangs inside the job (to be killed with SIGKILL) or
//! completes it. Not for production use; it exists so a test can kill a real process.
//!
//! Usage: `onboarding-queue-test-worker <redis-url> <queue> <lease-ms> hang|complete`

use std::time::Duration;

use onboarding_queue::{Queue, QueueConfig, WorkerId};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, name, lease_ms, mode] = &args[..] else {
        eprintln!(
            "usage: onboarding-queue-test-worker <redis-url> <queue> <lease-ms> hang|complete"
        );
        std::process::exit(2);
    };
    let config = QueueConfig {
        lease: Duration::from_millis(lease_ms.parse().expect("lease-ms")),
        ..QueueConfig::default()
    };
    let queue = Queue::connect(url, name, config).await.expect("connect");
    let worker = WorkerId::new("test-worker");
    loop {
        let jobs = queue
            .fetch_wait(&worker, 1, Duration::from_secs(30))
            .await
            .expect("fetch");
        for job in jobs {
            println!(
                "started {} attempt {} by {}",
                job.lease.id, job.attempt, worker
            );
            if mode == "hang" {
                // Hold the job forever (no renewals): the test kills this process.
                std::future::pending::<()>().await;
            }
            let ack = queue.complete(&job.lease).await.expect("complete");
            println!("finished {} {:?}", job.lease.id, ack);
        }
    }
}
