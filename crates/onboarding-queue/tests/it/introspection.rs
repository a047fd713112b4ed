//! Introspection: counts by state, jobs by state with paging, one job's details; all keys
//! of a queue under one hash tag.

use std::time::{Duration, SystemTime};

use onboarding_queue::{NewJob, QueueConfig, State, WorkerId};

use crate::support::{env, private_env};

#[tokio::test]
async fn counts_and_pages_by_state() {
    let e = env(QueueConfig {
        group_running_limit: 0,
        ..QueueConfig::default()
    })
    .await;
    let q = &e.queue;
    let later = SystemTime::now() + Duration::from_secs(3600);
    let ready = q
        .enqueue_many((0..7).map(|i| NewJob::new("g", vec![i])).collect())
        .await
        .unwrap();
    q.enqueue_many(
        (0..4)
            .map(|i| NewJob::new("g", vec![i]).run_at(later))
            .collect(),
    )
    .await
    .unwrap();
    let w = WorkerId::new("w");
    let jobs = q.fetch(&w, 3).await.unwrap().into_jobs();
    q.complete(&jobs[0].lease).await.unwrap();
    q.fail_permanently(&jobs[1].lease, "no").await.unwrap();
    let c = q.counts().await.unwrap();
    assert_eq!(
        (c.ready, c.scheduled, c.running, c.done, c.dead),
        (4, 4, 1, 1, 1)
    );

    let page1 = q.jobs(State::Ready, 0, 3).await.unwrap();
    let page2 = q.jobs(State::Ready, 3, 3).await.unwrap();
    assert_eq!((page1.len(), page2.len()), (3, 1));
    let mut expect: Vec<_> = ready[3..].iter().map(|r| r.id.clone()).collect();
    expect.sort();
    let mut got: Vec<_> = page1.into_iter().chain(page2).collect();
    got.sort();
    assert_eq!(got, expect);
    assert_eq!(
        q.jobs(State::Running, 0, 10).await.unwrap(),
        vec![jobs[2].lease.id.clone()]
    );
    assert_eq!(q.jobs(State::Scheduled, 0, 10).await.unwrap().len(), 4);

    let info = q.job(&jobs[2].lease.id).await.unwrap().unwrap();
    assert_eq!(info.state, State::Running);
    assert_eq!(info.worker.as_deref(), Some(w.as_str()));
    assert_eq!(info.payload, vec![2]);
    assert!(
        q.job(&onboarding_queue::JobId::generate())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn every_key_of_a_queue_shares_its_hash_tag() {
    let e = private_env(QueueConfig::default(), Default::default()).await;
    let q = &e.queue;
    let w = WorkerId::new("w");
    q.enqueue(NewJob::new("g", b"x".to_vec()).idempotency_key("k"))
        .await
        .unwrap();
    q.enqueue(NewJob::new("g", b"x".to_vec()).run_after(Duration::from_secs(60)))
        .await
        .unwrap();
    let j = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
    q.complete(&j.lease).await.unwrap();
    q.limits()
        .try_acquire("sem", 1, Duration::from_secs(5))
        .await
        .unwrap();
    q.limits().hourly_add("hr", 1, 0).await.unwrap();
    let client = redis::Client::open(e.server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(keys.len() >= 8, "{keys:?}");
    let tag = format!("{{{}}}", q.name());
    for k in &keys {
        assert!(
            k.starts_with(q.prefix()) && k.contains(&tag),
            "{k} outside the queue's slot"
        );
    }
}

#[tokio::test]
async fn scripts_are_loaded_once_and_called_by_hash() {
    let e = private_env(QueueConfig::default(), Default::default()).await;
    let q = &e.queue;
    let w = WorkerId::new("w");
    for i in 0..20u8 {
        q.enqueue(NewJob::new("g", vec![i])).await.unwrap();
        let j = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
        q.complete(&j.lease).await.unwrap();
    }
    let client = redis::Client::open(e.server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let calls = |name: &str| -> u64 {
        info.lines()
            .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
            .and_then(|l| l.split("calls=").nth(1))
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    assert!(calls("evalsha") >= 60, "{info}");
    assert_eq!(calls("eval"), 0, "script bodies are never sent with EVAL");
    assert!(calls("script|load") <= 3, "each script loaded once: {info}");
}
