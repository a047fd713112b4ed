//! Outcomes: retry at a time, defer without spending an attempt, permanent failure, max
//! attempts; attempt history; dead-letter listing, retry (one, filtered, paced) and purge;
//! retention of done jobs.

use std::time::{Duration, SystemTime};

use onboarding_queue::{Ack, DeadFilter, NewJob, QueueConfig, State, WorkerId};

use crate::support::{default_env, env};

#[tokio::test]
async fn retry_is_stored_at_the_requested_time_and_keeps_history() {
    let e = default_env().await;
    let q = &e.queue;
    let w = WorkerId::new("w");
    let id = q.enqueue(NewJob::new("g", b"x".to_vec())).await.unwrap().id;
    let job = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
    let at = SystemTime::now() + Duration::from_secs(3600);
    assert_eq!(
        q.retry_at(&job.lease, at, "HTTP 503").await.unwrap(),
        Ack::Applied
    );

    let info = q.job(&id).await.unwrap().unwrap();
    assert_eq!(info.state, State::Scheduled);
    let stored = info.run_at.unwrap();
    let want = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(stored.abs_diff(want) <= 1, "run_at {stored} want {want}");
    assert_eq!(info.attempts, 1);
    let h = &info.history[0];
    assert_eq!(h.outcome, "retry");
    assert_eq!(h.error.as_deref(), Some("HTTP 503"));
    assert_eq!(h.attempt, Some(1));
    assert_eq!(h.next_run_at, Some(stored));
    assert_eq!(h.worker.as_deref(), Some(w.as_str()));
    assert!(
        q.fetch(&w, 1).await.unwrap().into_jobs().is_empty(),
        "not due yet"
    );
    assert_eq!(q.counts().await.unwrap().scheduled, 1);
}

#[tokio::test]
async fn retry_in_the_past_is_ready_at_once_and_counts_attempts() {
    let e = default_env().await;
    let q = &e.queue;
    let w = WorkerId::new("w");
    q.enqueue(NewJob::new("g", b"x".to_vec()).max_attempts(5))
        .await
        .unwrap();
    for attempt in 1..=3 {
        let job = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
        assert_eq!(job.attempt, attempt);
        q.retry_at(&job.lease, SystemTime::now(), "again")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn defer_does_not_spend_an_attempt() {
    let e = default_env().await;
    let q = &e.queue;
    let w = WorkerId::new("w");
    let id = q
        .enqueue(NewJob::new("g", b"x".to_vec()).max_attempts(2))
        .await
        .unwrap()
        .id;
    for _ in 0..5 {
        let job = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
        assert_eq!(job.attempt, 1, "deferrals never use up attempts");
        let ack = q
            .defer_until(&job.lease, SystemTime::now(), "hourly budget spent")
            .await
            .unwrap();
        assert_eq!(ack, Ack::Applied);
    }
    let info = q.job(&id).await.unwrap().unwrap();
    assert_eq!(info.attempts, 0);
    assert_eq!(info.state, State::Ready);
    assert_eq!(info.history.len(), 5);
    assert!(info.history.iter().all(|h| h.outcome == "deferred"));
}

#[tokio::test]
async fn max_attempts_reached_goes_dead_with_the_last_error() {
    let e = default_env().await;
    let q = &e.queue;
    let w = WorkerId::new("w");
    let id = q
        .enqueue(NewJob::new("g", b"x".to_vec()).max_attempts(2))
        .await
        .unwrap()
        .id;
    let job = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
    assert_eq!(
        q.retry_at(&job.lease, SystemTime::now(), "e1")
            .await
            .unwrap(),
        Ack::Applied
    );
    let job = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
    assert_eq!(
        q.retry_at(&job.lease, SystemTime::now(), "e2")
            .await
            .unwrap(),
        Ack::Dead
    );
    assert!(q.fetch(&w, 1).await.unwrap().into_jobs().is_empty());

    let info = q.job(&id).await.unwrap().unwrap();
    assert_eq!(info.state, State::Dead);
    let reason = info.dead_reason.unwrap();
    assert!(
        reason.contains("max attempts reached") && reason.contains("e2"),
        "{reason}"
    );
    let outcomes: Vec<_> = info.history.iter().map(|h| h.outcome.as_str()).collect();
    assert_eq!(outcomes, ["retry", "exhausted"]);
    let dead = q.dead_letters(0, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, id);
    assert_eq!(dead[0].attempts, 2);
    assert!(dead[0].dead_at > 0);
}

#[tokio::test]
async fn permanent_failure_is_a_dead_letter_with_its_reason() {
    let e = default_env().await;
    let q = &e.queue;
    let w = WorkerId::new("w");
    let id = q.enqueue(NewJob::new("g", b"x".to_vec())).await.unwrap().id;
    let job = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
    let ack = q
        .fail_permanently(&job.lease, "two users match the username")
        .await
        .unwrap();
    assert_eq!(ack, Ack::Applied);
    let dead = q.dead_letters(0, 10).await.unwrap();
    assert_eq!(dead[0].id, id);
    assert_eq!(dead[0].reason, "two users match the username");
    assert_eq!(dead[0].group, "g");
    let info = q.job(&id).await.unwrap().unwrap();
    assert_eq!(info.history[0].outcome, "failed");
    assert_eq!(q.counts().await.unwrap().dead, 1);
}

async fn kill(q: &onboarding_queue::Queue, group: &str, reason: &str) -> onboarding_queue::JobId {
    let w = WorkerId::new("w");
    let id = q
        .enqueue(NewJob::new(group, b"x".to_vec()))
        .await
        .unwrap()
        .id;
    let job = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
    assert_eq!(job.lease.id, id);
    q.fail_permanently(&job.lease, reason).await.unwrap();
    id
}

#[tokio::test]
async fn dead_letters_can_be_retried_one_or_filtered_and_paced_and_purged() {
    let e = env(QueueConfig {
        group_running_limit: 0,
        ..QueueConfig::default()
    })
    .await;
    let q = &e.queue;
    let a1 = kill(q, "a", "timeout").await;
    let a2 = kill(q, "a", "validation error").await;
    let b1 = kill(q, "b", "timeout").await;
    let b2 = kill(q, "b", "timeout").await;
    let c1 = kill(q, "c", "boom").await;
    assert_eq!(q.counts().await.unwrap().dead, 5);

    // One job, with a fresh attempt budget and its history kept.
    assert!(q.retry_dead(&a2, None).await.unwrap());
    assert!(
        !q.retry_dead(&a2, None).await.unwrap(),
        "only dead jobs are requeued"
    );
    let info = q.job(&a2).await.unwrap().unwrap();
    assert_eq!((info.state, info.attempts), (State::Ready, 0));
    let outcomes: Vec<_> = info.history.iter().map(|h| h.outcome.as_str()).collect();
    assert_eq!(outcomes, ["failed", "requeued"]);

    // A filtered set, paced one second apart: group b, reason "timeout".
    let filter = DeadFilter {
        group: Some("b".into()),
        reason_contains: Some("timeout".into()),
        ..DeadFilter::default()
    };
    let n = q
        .retry_dead_where(&filter, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    assert_eq!(n, 2);
    let mut both = [
        q.job(&b1).await.unwrap().unwrap(),
        q.job(&b2).await.unwrap().unwrap(),
    ];
    // Oldest death first (same-millisecond deaths in either order): one now, one a second later.
    both.sort_by_key(|i| i.run_at);
    assert_eq!(both[0].state, State::Ready);
    assert_eq!(both[1].state, State::Scheduled);
    let gap = both[1].run_at.unwrap() - both[0].run_at.unwrap();
    assert!((900..=1100).contains(&gap), "gap {gap}");

    // Purge the rest of the dead letters: a1 and c1.
    let left: Vec<_> = q
        .dead_letters(0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(left.len(), 2);
    assert!(left.contains(&a1) && left.contains(&c1));
    assert_eq!(q.purge_dead_where(&DeadFilter::default()).await.unwrap(), 2);
    assert!(q.job(&a1).await.unwrap().is_none());
    assert!(q.job(&c1).await.unwrap().is_none());
    assert_eq!(q.counts().await.unwrap().dead, 0);
    // Purging a job that is not dead does nothing.
    assert_eq!(q.purge_dead(std::slice::from_ref(&a2)).await.unwrap(), 0);
    assert!(q.job(&a2).await.unwrap().is_some());
}

#[tokio::test]
async fn done_jobs_are_trimmed_by_count_and_by_age() {
    let e = env(QueueConfig {
        group_running_limit: 0,
        keep_done: 5,
        ..QueueConfig::default()
    })
    .await;
    let q = &e.queue;
    let w = WorkerId::new("w");
    let ids: Vec<_> = q
        .enqueue_many(
            (0..20)
                .map(|i| NewJob::new("g", b"x".to_vec()).idempotency_key(format!("k{i}")))
                .collect(),
        )
        .await
        .unwrap();
    for _ in 0..20 {
        let job = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
        q.complete(&job.lease).await.unwrap();
    }
    assert_eq!(q.counts().await.unwrap().done, 5);
    assert!(
        q.job(&ids[0].id).await.unwrap().is_none(),
        "oldest trimmed with its history"
    );
    assert!(q.job(&ids[19].id).await.unwrap().is_some());
    // The trimmed job's idempotency key is forgotten with it.
    let again = q
        .enqueue(NewJob::new("g", b"x".to_vec()).idempotency_key("k0"))
        .await
        .unwrap();
    assert!(!again.duplicate);
    assert_ne!(again.id, ids[0].id);
    // A retained job's key still deduplicates.
    let kept = q
        .enqueue(NewJob::new("g", b"x".to_vec()).idempotency_key("k19"))
        .await
        .unwrap();
    assert!(kept.duplicate);

    let e = env(QueueConfig {
        group_running_limit: 0,
        keep_done_for: Duration::ZERO,
        ..QueueConfig::default()
    })
    .await;
    let q = &e.queue;
    q.enqueue_many((0..3).map(|_| NewJob::new("g", b"x".to_vec())).collect())
        .await
        .unwrap();
    for _ in 0..3 {
        let job = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
        q.complete(&job.lease).await.unwrap();
    }
    // With a zero age every done job is gone by the next outcome; at most the last remains.
    assert!(q.counts().await.unwrap().done <= 1);
}
