//! Enqueue, fetch and complete; leases with the attempt counted at fetch; idempotency;
//! scheduling; fencing of late outcomes; idle wake-up.

use std::time::{Duration, SystemTime};

use onboarding_queue::{Ack, Fetched, NewJob, QueueConfig, State, WorkerId};

use crate::support::{default_env, env};

#[tokio::test]
async fn enqueue_fetch_complete_round_trip() {
    let e = default_env().await;
    let q = &e.queue;
    let w = WorkerId::new("w");
    let job = q
        .enqueue(NewJob::new("tenant-a", b"hello".to_vec()).meta("traceparent", "00-abc"))
        .await
        .unwrap();
    assert!(!job.duplicate);
    assert_eq!(q.counts().await.unwrap().ready, 1);

    let jobs = q.fetch(&w, 10).await.unwrap().into_jobs();
    assert_eq!(jobs.len(), 1);
    let got = &jobs[0];
    assert_eq!(got.lease.id, job.id);
    assert_eq!(got.payload, b"hello");
    assert_eq!(got.group, "tenant-a");
    assert_eq!(
        got.meta.get("traceparent").map(String::as_str),
        Some("00-abc")
    );
    assert_eq!(got.attempt, 1, "attempt is counted at fetch");

    let c = q.counts().await.unwrap();
    assert_eq!((c.ready, c.running), (0, 1));
    let info = q.job(&job.id).await.unwrap().unwrap();
    assert_eq!(info.state, State::Running);
    assert_eq!(info.attempts, 1);
    assert_eq!(info.worker.as_deref(), Some(w.as_str()));
    assert!(info.lease_deadline.is_some());

    assert_eq!(q.complete(&got.lease).await.unwrap(), Ack::Applied);
    let c = q.counts().await.unwrap();
    assert_eq!((c.running, c.done), (0, 1));
    let info = q.job(&job.id).await.unwrap().unwrap();
    assert_eq!(info.state, State::Done);
    assert_eq!(info.history.len(), 1);
    assert_eq!(info.history[0].outcome, "done");
    assert_eq!(info.history[0].worker.as_deref(), Some(w.as_str()));

    // The same outcome reported again (a retry after a lost reply) gets the same answer and
    // changes nothing; a different outcome with the same lease is refused.
    assert_eq!(q.complete(&got.lease).await.unwrap(), Ack::Applied);
    assert_eq!(
        q.fail_permanently(&got.lease, "late").await.unwrap(),
        Ack::Refused
    );
    let info = q.job(&job.id).await.unwrap().unwrap();
    assert_eq!((info.state, info.history.len()), (State::Done, 1));
    assert_eq!(q.counts().await.unwrap().done, 1);
    assert!(matches!(q.fetch(&w, 10).await.unwrap(), Fetched::Idle(_)));
}

#[tokio::test]
async fn a_job_is_leased_to_one_worker_only() {
    let e = env(QueueConfig {
        group_running_limit: 0,
        ..QueueConfig::default()
    })
    .await;
    let q = &e.queue;
    let jobs: Vec<_> = (0..200)
        .map(|i| NewJob::new(format!("g{}", i % 7), vec![i as u8]))
        .collect();
    q.enqueue_many(jobs).await.unwrap();
    let mut handles = Vec::new();
    for k in 0..4 {
        let q = q.clone();
        handles.push(tokio::spawn(async move {
            let w = WorkerId::new(&format!("w{k}"));
            let mut seen = Vec::new();
            loop {
                let jobs = q.fetch(&w, 3).await.unwrap().into_jobs();
                if jobs.is_empty() {
                    return seen;
                }
                for j in jobs {
                    assert_eq!(q.complete(&j.lease).await.unwrap(), Ack::Applied);
                    seen.push(j.lease.id);
                }
            }
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!((n, all.len()), (200, 200), "every job exactly once");
    assert_eq!(q.counts().await.unwrap().done, 200);
}

#[tokio::test]
async fn idempotency_key_returns_the_existing_job() {
    let e = default_env().await;
    let q = &e.queue;
    let a = q
        .enqueue(NewJob::new("g", b"1".to_vec()).idempotency_key("run-42"))
        .await
        .unwrap();
    let b = q
        .enqueue(NewJob::new("g", b"2".to_vec()).idempotency_key("run-42"))
        .await
        .unwrap();
    assert!(!a.duplicate);
    assert!(b.duplicate);
    assert_eq!(a.id, b.id);
    // Within one bulk call too.
    let r = q
        .enqueue_many(vec![
            NewJob::new("g", b"3".to_vec()).idempotency_key("k2"),
            NewJob::new("g", b"4".to_vec()).idempotency_key("k2"),
        ])
        .await
        .unwrap();
    assert_eq!(r[0].id, r[1].id);
    assert!(r[1].duplicate);
    assert_eq!(q.counts().await.unwrap().ready, 2);
}

#[tokio::test]
async fn a_caller_chosen_id_is_never_overwritten() {
    let e = default_env().await;
    let q = &e.queue;
    let id = onboarding_queue::JobId("step-7".into());
    let a = q
        .enqueue(NewJob::new("g", b"first".to_vec()).with_id(id.clone()))
        .await
        .unwrap();
    let b = q
        .enqueue(NewJob::new("g", b"second".to_vec()).with_id(id.clone()))
        .await
        .unwrap();
    assert_eq!((a.id.clone(), a.duplicate), (id.clone(), false));
    assert_eq!((b.id, b.duplicate), (id.clone(), true));
    assert_eq!(q.job(&id).await.unwrap().unwrap().payload, b"first");
    assert_eq!(q.counts().await.unwrap().ready, 1);
}

#[tokio::test]
async fn bulk_enqueue_of_100k_jobs_in_one_call() {
    let e = env(QueueConfig {
        group_running_limit: 0,
        ..QueueConfig::default()
    })
    .await;
    let q = &e.queue;
    let jobs: Vec<_> = (0..100_000u32)
        .map(|i| NewJob::new(format!("g{}", i % 100), i.to_le_bytes().to_vec()))
        .collect();
    let ids = q.enqueue_many(jobs).await.unwrap();
    assert_eq!(ids.len(), 100_000);
    assert_eq!(q.counts().await.unwrap().ready, 100_000);
    let w = WorkerId::new("w");
    assert_eq!(q.fetch(&w, 50).await.unwrap().into_jobs().len(), 50);
}

#[tokio::test]
async fn scheduled_jobs_wait_for_their_time() {
    let e = default_env().await;
    let q = &e.queue;
    let w = WorkerId::new("w");
    let later = q
        .enqueue(NewJob::new("g", b"x".to_vec()).run_after(Duration::from_millis(300)))
        .await
        .unwrap();
    assert_eq!(q.counts().await.unwrap().scheduled, 1);
    match q.fetch(&w, 1).await.unwrap() {
        Fetched::Idle(idle) => {
            let due = idle.next_due.expect("next due time reported");
            assert!(due > SystemTime::now());
        }
        Fetched::Jobs(_) => panic!("a scheduled job was fetched early"),
    }
    let start = tokio::time::Instant::now();
    let jobs = q.fetch_wait(&w, 1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].lease.id, later.id);
    assert!(start.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn due_backlog_of_100k_is_promoted_in_bounded_chunks() {
    let e = env(QueueConfig {
        group_running_limit: 0,
        promote_chunk: 1_000,
        ..QueueConfig::default()
    })
    .await;
    let q = &e.queue;
    // Due in 10 s: enough for 100k enqueues even on a loaded machine (a job already due when
    // it is enqueued goes straight to ready, and this test is about promotion).
    let at = SystemTime::now() + Duration::from_secs(10);
    let jobs: Vec<_> = (0..100_000u32)
        .map(|i| NewJob::new("g", i.to_le_bytes().to_vec()).run_at(at))
        .collect();
    q.enqueue_many(jobs).await.unwrap();
    // Nothing is promoted before a fetch asks for work, however long the enqueue took.
    assert_eq!(q.counts().await.unwrap().scheduled, 100_000);
    let w = WorkerId::new("w");
    // Once they are all due, every fetch moves at most a chunk (so no fetch is stuck behind
    // a 100k promotion) and still hands out work.
    let jobs = q.fetch_wait(&w, 1, Duration::from_secs(60)).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let c = q.counts().await.unwrap();
    assert!(c.scheduled >= 98_000 && c.scheduled < 100_000, "{c:?}");
    for _ in 0..10 {
        assert_eq!(q.fetch(&w, 1).await.unwrap().into_jobs().len(), 1);
    }
    let after = q.counts().await.unwrap();
    assert!(
        after.scheduled >= c.scheduled.saturating_sub(10 * 1_000),
        "each fetch promotes at most one chunk: {c:?} then {after:?}"
    );
}

#[tokio::test]
async fn an_idle_worker_wakes_promptly_on_new_work() {
    let e = env(QueueConfig {
        idle_poll: Duration::from_secs(30),
        ..QueueConfig::default()
    })
    .await;
    let q = e.queue.clone();
    // The wake-up channel fires on enqueue (the listener subscribes first: one change).
    let mut rx = q.wake_receiver();
    tokio::time::timeout(Duration::from_secs(5), rx.changed())
        .await
        .unwrap()
        .unwrap();
    rx.borrow_and_update();
    q.enqueue(NewJob::new("g", b"x".to_vec())).await.unwrap();
    tokio::time::timeout(Duration::from_secs(1), rx.changed())
        .await
        .expect("no wake-up message within 1 s of an enqueue")
        .unwrap();
    let w = WorkerId::new("w");
    assert_eq!(q.fetch(&w, 1).await.unwrap().into_jobs().len(), 1);

    // A worker idle in fetch_wait (idle_poll 30 s) gets the next job promptly.
    let (idle_tx, idle_rx) = tokio::sync::oneshot::channel();
    let waiter = tokio::spawn({
        let q = q.clone();
        async move {
            let w = WorkerId::new("w2");
            assert!(q.fetch(&w, 1).await.unwrap().into_jobs().is_empty());
            idle_tx.send(()).unwrap();
            let jobs = q.fetch_wait(&w, 1, Duration::from_secs(30)).await.unwrap();
            (jobs.len(), tokio::time::Instant::now())
        }
    });
    idle_rx.await.unwrap();
    let sent = tokio::time::Instant::now();
    q.enqueue(NewJob::new("g2", b"y".to_vec())).await.unwrap();
    let (n, woke) = waiter.await.unwrap();
    assert_eq!(n, 1);
    assert!(
        woke - sent < Duration::from_secs(1),
        "woke after {:?}",
        woke - sent
    );
}
