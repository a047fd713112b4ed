//! Crash safety with real processes and a real restart:
//! - a worker process is SIGKILLed mid-job; another process finishes the job after the lease
//!   expires, with the crashed attempt counted;
//! - redis-server with `appendonly yes` is killed and restarted mid-drain; every job ends
//!   done exactly once (an outcome lost in the outage is reported again, or the job runs
//!   again after its lease), none lost.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use onboarding_queue::{Ack, NewJob, QueueConfig, State, WorkerId};
use redis_test_server::Options;

use crate::support::{eventually, private_env};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_worker(
    url: &str,
    queue: &str,
    lease_ms: u64,
    mode: &str,
) -> (Proc, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_onboarding-queue-test-worker"))
        .args([url, queue, &lease_ms.to_string(), mode])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn test worker");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Proc(child), rx)
}

/// The next line from the worker within `within`.
async fn line(rx: &mut Option<std::sync::mpsc::Receiver<String>>, within: Duration) -> String {
    let r = rx.take().unwrap();
    let (r, l) = tokio::task::spawn_blocking(move || {
        let l = r.recv_timeout(within);
        (r, l)
    })
    .await
    .unwrap();
    *rx = Some(r);
    l.expect("a line from the worker process in time")
}

#[tokio::test]
async fn a_sigkilled_worker_process_job_is_finished_by_another_process() {
    let e = private_env(QueueConfig::default(), Options::default()).await;
    let q = &e.queue;
    let id = q.enqueue(NewJob::new("g", b"x".to_vec())).await.unwrap().id;

    let (mut first, out) = spawn_worker(e.server.url(), q.name(), 500, "hang");
    let mut out = Some(out);
    let started = line(&mut out, Duration::from_secs(20)).await;
    assert!(
        started.starts_with(&format!("started {id} attempt 1 by ")),
        "{started}"
    );
    let first_name = started.rsplit(' ').next().unwrap().to_owned();
    first.0.kill().unwrap(); // SIGKILL
    first.0.wait().unwrap();
    assert_eq!(q.job(&id).await.unwrap().unwrap().state, State::Running);

    let (_second, out) = spawn_worker(e.server.url(), q.name(), 500, "complete");
    let mut out = Some(out);
    let started = line(&mut out, Duration::from_secs(20)).await;
    assert!(
        started.starts_with(&format!("started {id} attempt 2 by ")),
        "{started}"
    );
    let finished = line(&mut out, Duration::from_secs(20)).await;
    assert_eq!(finished, format!("finished {id} Applied"));

    let info = q.job(&id).await.unwrap().unwrap();
    assert_eq!(info.state, State::Done);
    assert_eq!(info.attempts, 2);
    let outcomes: Vec<_> = info.history.iter().map(|h| h.outcome.as_str()).collect();
    assert_eq!(outcomes, ["lease_expired", "done"]);
    assert_eq!(info.history[0].worker.as_deref(), Some(first_name.as_str()));
    assert_ne!(info.history[1].worker.as_deref(), Some(first_name.as_str()));
}

#[tokio::test]
async fn an_append_only_redis_restarted_mid_drain_loses_nothing() {
    const JOBS: usize = 3_000;
    let mut e = private_env(
        QueueConfig {
            group_running_limit: 0,
            lease: Duration::from_secs(2),
            response_timeout: Duration::from_millis(500),
            connection_timeout: Duration::from_millis(500),
            ..QueueConfig::default()
        },
        Options { append_only: true },
    )
    .await;
    let q = e.queue.clone();
    q.enqueue_many(
        (0..JOBS)
            .map(|i| NewJob::new(format!("g{}", i % 10), vec![]))
            .collect(),
    )
    .await
    .unwrap();

    // Applied completions per job, as the workers saw them.
    let applied: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let mut workers = Vec::new();
    for k in 0..4 {
        let q = q.clone();
        let applied = applied.clone();
        workers.push(tokio::spawn(async move {
            let w = WorkerId::new(&format!("drain{k}"));
            loop {
                let jobs = match q.fetch(&w, 10).await {
                    Ok(f) => f.into_jobs(),
                    Err(e) => {
                        assert!(e.is_retryable(), "{e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                if jobs.is_empty() {
                    match q.counts().await {
                        Ok(c) if c.ready + c.running + c.scheduled == 0 => return,
                        _ => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    }
                }
                for j in jobs {
                    // Keep trying the outcome until Redis answers (or the lease is gone).
                    loop {
                        match q.complete(&j.lease).await {
                            Ok(Ack::Applied) => {
                                *applied
                                    .lock()
                                    .unwrap()
                                    .entry(j.lease.id.0.clone())
                                    .or_default() += 1;
                                break;
                            }
                            Ok(_) => break,
                            Err(e) => {
                                assert!(e.is_retryable(), "{e}");
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    }
                }
            }
        }));
    }
    eventually(Duration::from_secs(30), "drain under way", || async {
        q.counts().await.unwrap().done >= (JOBS / 4) as u64
    })
    .await;
    e.server.kill();
    e.server.restart();
    for w in workers {
        tokio::time::timeout(Duration::from_secs(60), w)
            .await
            .expect("drain finishes after the restart")
            .unwrap();
    }
    let c = q.counts().await.unwrap();
    assert_eq!(
        (c.done, c.ready, c.running, c.scheduled, c.dead),
        (JOBS as u64, 0, 0, 0, 0),
        "{c:?}"
    );
    let applied = applied.lock().unwrap().clone();
    assert!(
        applied.values().all(|n| *n == 1),
        "an outcome was applied twice"
    );
    // An outcome whose reply was lost in the outage is reported again and gets its answer, so
    // every job's completion was confirmed to exactly one worker.
    assert_eq!(applied.len(), JOBS, "outcomes confirmed");
    // And the stored history agrees: exactly one "done" per job, for every job.
    let mut checked = 0;
    let mut offset = 0;
    loop {
        let page = q.jobs(State::Done, offset, 500).await.unwrap();
        if page.is_empty() {
            break;
        }
        offset += page.len() as u64;
        for id in page {
            let info = q.job(&id).await.unwrap().unwrap();
            let dones = info.history.iter().filter(|h| h.outcome == "done").count();
            assert_eq!(dones, 1, "job {id}: {:?}", info.history);
            checked += 1;
        }
    }
    assert_eq!(checked, JOBS);
}
