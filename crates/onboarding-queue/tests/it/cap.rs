//! The concurrency cap and the free-slot fetch: a worker never runs more than
//! `BackendOptions::concurrency` tasks at once, whatever apalis layers it has (none here), with
//! the default (adaptive) fetch and with a fixed batch larger than the cap; with the default
//! fetch a busy worker leases only the jobs it runs, leaving the rest to other workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apalis::prelude::*;
use onboarding_queue::backend::BackendOptions;
use onboarding_queue::{NewJob, Queue, QueueConfig, RedisBackend};
use tokio::sync::Semaphore;

use crate::support::{env, eventually};

const CAP: usize = 4;
const JOBS: usize = 40;

/// Counts the handlers running now and the most ever running at once; each handler waits
/// for a permit of `gate` before it finishes.
#[derive(Clone)]
struct Probe {
    running: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
}

async fn handler(_n: u32, probe: Data<Probe>) -> Result<(), BoxDynError> {
    let now = probe.running.fetch_add(1, Ordering::SeqCst) + 1;
    probe.max.fetch_max(now, Ordering::SeqCst);
    probe.gate.acquire().await?.forget();
    probe.running.fetch_sub(1, Ordering::SeqCst);
    probe.finished.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

async fn enqueue(q: &Queue) {
    q.enqueue_many(
        (0..JOBS as u32)
            .map(|n| NewJob::new(format!("tenant-{n}"), serde_json::to_vec(&n).unwrap()))
            .collect(),
    )
    .await
    .unwrap();
}

/// Runs JOBS gated jobs through a worker without apalis' own concurrency layer; returns the
/// most handlers that ran at once and the jobs leased while the first CAP were blocked.
async fn run(options: BackendOptions<u32>) -> (usize, u64) {
    let e = env(QueueConfig {
        group_running_limit: 0,
        ..QueueConfig::default()
    })
    .await;
    let q = e.queue.clone();
    enqueue(&q).await;
    let probe = Probe {
        running: Arc::default(),
        max: Arc::default(),
        finished: Arc::default(),
        gate: Arc::new(Semaphore::new(0)),
    };
    let worker = WorkerBuilder::new("cap")
        .backend(RedisBackend::with_options(q.clone(), options))
        .data(probe.clone())
        .build(handler);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(worker.run_until(async move {
        let _ = stop_rx.await;
        Ok::<(), WorkerError>(())
    }));
    // Every slot fills while the handlers are blocked...
    eventually(Duration::from_secs(10), "the slots fill", || async {
        probe.running.load(Ordering::SeqCst) == CAP
    })
    .await;
    let leased = q.counts().await.unwrap().running;
    // ...then every job is let through, the next ones starting as slots free up.
    probe.gate.add_permits(JOBS);
    eventually(Duration::from_secs(20), "all jobs done", || async {
        q.counts().await.unwrap().done == JOBS as u64
    })
    .await;
    let _ = stop_tx.send(());
    run.await.unwrap().unwrap();
    assert_eq!(probe.finished.load(Ordering::SeqCst), JOBS);
    (probe.max.load(Ordering::SeqCst), leased)
}

#[tokio::test]
async fn the_default_options_never_run_more_than_the_cap_and_lease_only_what_runs() {
    let (max, leased) = run(BackendOptions {
        concurrency: CAP,
        ..BackendOptions::default()
    })
    .await;
    assert_eq!(max, CAP, "most handlers running at once");
    assert_eq!(
        leased, CAP as u64,
        "jobs leased by a worker whose every slot is busy"
    );
}

#[tokio::test]
async fn a_fixed_batch_larger_than_the_cap_never_runs_more_than_the_cap() {
    let (max, _) = run(BackendOptions {
        concurrency: CAP,
        fetch_batch: Some(10),
        ..BackendOptions::default()
    })
    .await;
    assert_eq!(max, CAP, "most handlers running at once");
}
