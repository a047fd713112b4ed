//! Leases: expiry recovery by any worker, renewal, fencing of late outcomes, and a job that
//! keeps killing its worker ending in the dead letters (attempt counted at fetch).

use std::time::Duration;

use onboarding_queue::{Ack, NewJob, QueueConfig, State, WorkerId};

use crate::support::{env, eventually};

fn short_lease() -> QueueConfig {
    QueueConfig {
        lease: Duration::from_millis(300),
        ..QueueConfig::default()
    }
}

#[tokio::test]
async fn an_expired_lease_is_recovered_by_another_worker_and_the_late_outcome_refused() {
    let e = env(short_lease()).await;
    let q = &e.queue;
    let id = q.enqueue(NewJob::new("g", b"x".to_vec())).await.unwrap().id;
    let dead_worker = WorkerId::new("same-name");
    let first = q
        .fetch(&dead_worker, 1)
        .await
        .unwrap()
        .into_jobs()
        .remove(0);
    assert_eq!(first.attempt, 1);

    // A second worker with the same chosen name gets its own identity and recovers the job.
    let other = WorkerId::new("same-name");
    assert_ne!(dead_worker, other);
    let start = tokio::time::Instant::now();
    let second = q
        .fetch_wait(&other, 1, Duration::from_secs(5))
        .await
        .unwrap()
        .remove(0);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "recovery took {:?}",
        start.elapsed()
    );
    assert_eq!(second.lease.id, id);
    assert_eq!(second.attempt, 2, "the crashed attempt stays counted");
    assert_ne!(second.lease.token, first.lease.token);

    // The first holder comes back late: every outcome is refused, nothing changes.
    assert_eq!(q.complete(&first.lease).await.unwrap(), Ack::Refused);
    assert_eq!(
        q.fail_permanently(&first.lease, "late").await.unwrap(),
        Ack::Refused
    );
    assert_eq!(
        q.renew(std::slice::from_ref(&first.lease)).await.unwrap(),
        vec![false]
    );
    let info = q.job(&id).await.unwrap().unwrap();
    assert_eq!(info.state, State::Running);
    assert_eq!(info.worker.as_deref(), Some(other.as_str()));

    assert_eq!(q.complete(&second.lease).await.unwrap(), Ack::Applied);
    let info = q.job(&id).await.unwrap().unwrap();
    let outcomes: Vec<_> = info.history.iter().map(|h| h.outcome.as_str()).collect();
    assert_eq!(outcomes, ["lease_expired", "done"]);
    assert_eq!(
        info.history[0].worker.as_deref(),
        Some(dead_worker.as_str())
    );
    assert_eq!(info.history[1].attempt, Some(2));
}

#[tokio::test]
async fn a_renewed_lease_is_not_recovered() {
    let e = env(short_lease()).await;
    let q = &e.queue;
    q.enqueue(NewJob::new("g", b"x".to_vec())).await.unwrap();
    let holder = WorkerId::new("holder");
    let job = q.fetch(&holder, 1).await.unwrap().into_jobs().remove(0);
    let thief = WorkerId::new("thief");
    // Renew every 100 ms for well over three lease times; nobody else may get the job.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for _ in 0..12 {
        tick.tick().await;
        assert_eq!(
            q.renew(std::slice::from_ref(&job.lease)).await.unwrap(),
            vec![true]
        );
        assert!(q.fetch(&thief, 1).await.unwrap().into_jobs().is_empty());
    }
    assert_eq!(q.complete(&job.lease).await.unwrap(), Ack::Applied);
}

#[tokio::test]
async fn a_job_that_always_kills_its_worker_ends_dead() {
    let e = env(short_lease()).await;
    let q = &e.queue;
    let id = q
        .enqueue(NewJob::new("g", b"poison".to_vec()).max_attempts(3))
        .await
        .unwrap()
        .id;
    for attempt in 1..=3 {
        // Each worker fetches and "dies" (never renews nor reports).
        let w = WorkerId::new("victim");
        let jobs = q.fetch_wait(&w, 1, Duration::from_secs(5)).await.unwrap();
        assert_eq!(jobs[0].attempt, attempt);
    }
    let w = WorkerId::new("next");
    // After the third lease expires the job is dead and never fetched again.
    eventually(Duration::from_secs(5), "job goes dead", || async {
        assert!(q.fetch(&w, 1).await.unwrap().into_jobs().is_empty());
        q.counts().await.unwrap().dead == 1
    })
    .await;
    let info = q.job(&id).await.unwrap().unwrap();
    assert_eq!(info.state, State::Dead);
    assert_eq!(info.attempts, 3);
    assert!(info.dead_reason.unwrap().contains("max attempts reached"));
    let outcomes: Vec<_> = info.history.iter().map(|h| h.outcome.as_str()).collect();
    assert_eq!(outcomes, ["lease_expired"; 3]);
}

#[tokio::test]
async fn a_retried_fetch_ticket_returns_what_its_first_try_leased() {
    let e = env(QueueConfig {
        group_running_limit: 0,
        ..QueueConfig::default()
    })
    .await;
    let q = &e.queue;
    q.enqueue_many((0..5u8).map(|i| NewJob::new("g", vec![i])).collect())
        .await
        .unwrap();
    let w = WorkerId::new("w");
    let ticket = onboarding_queue::FetchTicket::new();
    // The first try "ran but its reply was lost"; the retry gets the same jobs and tokens.
    let first = q
        .fetch_with_ticket(&w, 2, &ticket)
        .await
        .unwrap()
        .into_jobs();
    let again = q
        .fetch_with_ticket(&w, 2, &ticket)
        .await
        .unwrap()
        .into_jobs();
    let leases =
        |v: &[onboarding_queue::LeasedJob]| v.iter().map(|j| j.lease.clone()).collect::<Vec<_>>();
    assert_eq!(first.len(), 2);
    assert_eq!(leases(&first), leases(&again));
    assert_eq!(again[0].payload, first[0].payload);
    assert_eq!(again[0].attempt, 1, "no second attempt counted");
    assert_eq!(
        q.counts().await.unwrap().running,
        2,
        "nothing more leased by the retry"
    );
    // A finished job is not handed out again.
    q.complete(&first[0].lease).await.unwrap();
    let third = q
        .fetch_with_ticket(&w, 2, &ticket)
        .await
        .unwrap()
        .into_jobs();
    assert_eq!(leases(&third), vec![first[1].lease.clone()]);
    // A new ticket is a new fetch.
    let next = q.fetch(&w, 2).await.unwrap().into_jobs();
    assert_eq!(next.len(), 2);
    assert!(next.iter().all(|j| !leases(&first).contains(&j.lease)));
}
