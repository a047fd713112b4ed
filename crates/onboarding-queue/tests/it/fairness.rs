//! Fairness and shared limits on jobs: round-robin across groups, priority classes, and the
//! per-group running limit across workers.

use std::collections::HashMap;
use std::time::Duration;

use onboarding_queue::{NewJob, Priority, QueueConfig, WorkerId};

use crate::support::env;

fn unlimited() -> QueueConfig {
    QueueConfig {
        group_running_limit: 0,
        ..QueueConfig::default()
    }
}

#[tokio::test]
async fn a_big_group_does_not_starve_a_small_one() {
    let e = env(unlimited()).await;
    let q = &e.queue;
    let a: Vec<_> = (0..10_000)
        .map(|_| NewJob::new("A", b"a".to_vec()))
        .collect();
    q.enqueue_many(a).await.unwrap();
    let b: Vec<_> = (0..10).map(|_| NewJob::new("B", b"b".to_vec())).collect();
    q.enqueue_many(b).await.unwrap();

    let w = WorkerId::new("w");
    let mut order = Vec::new();
    while order.iter().filter(|g: &&String| *g == "B").count() < 10 {
        let job = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
        q.complete(&job.lease).await.unwrap();
        order.push(job.group);
        assert!(order.len() <= 30, "B starved: {order:?}");
    }
    // Round-robin: A and B alternate, so all of B is done within the first 21 completions.
    assert!(order.len() <= 21, "{order:?}");
}

#[tokio::test]
async fn batch_fetches_are_fair_too() {
    let e = env(unlimited()).await;
    let q = &e.queue;
    q.enqueue_many((0..1000).map(|_| NewJob::new("A", b"a".to_vec())).collect())
        .await
        .unwrap();
    q.enqueue_many((0..3).map(|_| NewJob::new("B", b"b".to_vec())).collect())
        .await
        .unwrap();
    q.enqueue_many((0..3).map(|_| NewJob::new("C", b"c".to_vec())).collect())
        .await
        .unwrap();
    let w = WorkerId::new("w");
    let jobs = q.fetch(&w, 9).await.unwrap().into_jobs();
    let mut per: HashMap<String, usize> = HashMap::new();
    for j in &jobs {
        *per.entry(j.group.clone()).or_default() += 1;
    }
    assert_eq!(per.get("A"), Some(&3), "{per:?}");
    assert_eq!(per.get("B"), Some(&3), "{per:?}");
    assert_eq!(per.get("C"), Some(&3), "{per:?}");
}

#[tokio::test]
async fn high_priority_passes_a_bulk_campaign() {
    let e = env(unlimited()).await;
    let q = &e.queue;
    q.enqueue_many(
        (0..500)
            .map(|i| NewJob::new(format!("t{}", i % 50), b"bulk".to_vec()).priority(Priority::Bulk))
            .collect(),
    )
    .await
    .unwrap();
    q.enqueue(NewJob::new("t1", b"normal".to_vec()))
        .await
        .unwrap();
    q.enqueue(NewJob::new("fresh", b"fresh".to_vec()).priority(Priority::High))
        .await
        .unwrap();
    let w = WorkerId::new("w");
    let first = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
    assert_eq!(first.payload, b"fresh");
    assert_eq!(first.priority, Priority::High);
    let second = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
    assert_eq!(second.payload, b"normal");
    let third = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
    assert_eq!(third.payload, b"bulk");
}

#[tokio::test]
async fn at_most_one_running_job_per_group_across_workers() {
    let e = env(QueueConfig::default()).await; // limit 1
    let q = &e.queue;
    q.enqueue_many((0..5).map(|i| NewJob::new("tenant", vec![i])).collect())
        .await
        .unwrap();
    q.enqueue(NewJob::new("other", b"o".to_vec()))
        .await
        .unwrap();
    let w1 = WorkerId::new("w1");
    let w2 = WorkerId::new("w2");
    let got = q.fetch(&w1, 10).await.unwrap().into_jobs();
    let groups: Vec<_> = got.iter().map(|j| j.group.as_str()).collect();
    assert_eq!(groups.len(), 2, "one per group: {groups:?}");
    assert!(groups.contains(&"tenant") && groups.contains(&"other"));
    assert!(
        q.fetch(&w2, 10).await.unwrap().into_jobs().is_empty(),
        "tenant is busy"
    );

    // When the running job ends, the next job of the group becomes available, to anyone.
    let tenant_job = got.iter().find(|j| j.group == "tenant").unwrap();
    let mut rx = q.wake_receiver();
    rx.borrow_and_update();
    q.complete(&tenant_job.lease).await.unwrap();
    let next = q.fetch_wait(&w2, 10, Duration::from_secs(2)).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].group, "tenant");
    // Any outcome releases the slot: retry, defer and fail too.
    q.retry_at(&next[0].lease, std::time::SystemTime::now(), "x")
        .await
        .unwrap();
    let n = q.fetch(&w1, 10).await.unwrap().into_jobs();
    assert_eq!(n.len(), 1);
    q.defer_until(&n[0].lease, std::time::SystemTime::now(), "x")
        .await
        .unwrap();
    let n = q.fetch(&w1, 10).await.unwrap().into_jobs();
    assert_eq!(n.len(), 1);
    q.fail_permanently(&n[0].lease, "x").await.unwrap();
    assert_eq!(q.fetch(&w1, 10).await.unwrap().into_jobs().len(), 1);
}

#[tokio::test]
async fn a_limit_of_two_allows_two() {
    let e = env(QueueConfig {
        group_running_limit: 2,
        ..QueueConfig::default()
    })
    .await;
    let q = &e.queue;
    q.enqueue_many((0..5).map(|i| NewJob::new("t", vec![i])).collect())
        .await
        .unwrap();
    let w = WorkerId::new("w");
    assert_eq!(q.fetch(&w, 10).await.unwrap().into_jobs().len(), 2);
    assert!(q.fetch(&w, 10).await.unwrap().into_jobs().is_empty());
}
