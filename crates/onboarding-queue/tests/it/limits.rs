//! Shared limits: counted semaphores with leases (8 contenders, 3 permits, never more than 3
//! at once; a crashed holder's permit comes back) and rolling hourly counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use crate::support::default_env;

#[tokio::test]
async fn eight_workers_on_a_semaphore_of_three_never_exceed_three() {
    let e = default_env().await;
    let limits = e.queue.limits();
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let key = "db1/INTCODE/Companies";
    let mut handles = Vec::new();
    for _ in 0..8 {
        let limits = limits.clone();
        let inside = inside.clone();
        let peak = peak.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..15 {
                let permit = limits
                    .acquire(key, 3, Duration::from_secs(10), Duration::from_secs(20))
                    .await
                    .unwrap()
                    .expect("a permit within 20 s");
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                // Hold it across a few Redis round trips so holders overlap.
                for _ in 0..3 {
                    assert!(limits.holders(key).await.unwrap() <= 3);
                    tokio::task::yield_now().await;
                }
                inside.fetch_sub(1, Ordering::SeqCst);
                assert!(limits.release(&permit).await.unwrap());
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= 3, "peak {peak}");
    assert_eq!(peak, 3, "the test should actually contend (peak {peak})");
    assert_eq!(limits.holders(key).await.unwrap(), 0);
}

#[tokio::test]
async fn a_crashed_holders_permit_comes_back_when_its_lease_expires() {
    let e = default_env().await;
    let limits = e.queue.limits();
    let ttl = Duration::from_millis(300);
    let crashed = limits.try_acquire("k", 1, ttl).await.unwrap().unwrap();
    assert!(limits.try_acquire("k", 1, ttl).await.unwrap().is_none());
    // The crashed holder never renews; a waiter gets the permit after the lease.
    let start = tokio::time::Instant::now();
    let p = limits
        .acquire("k", 1, ttl, Duration::from_secs(5))
        .await
        .unwrap()
        .expect("permit after expiry");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    // The expired holder can neither renew nor release it.
    assert!(!limits.renew(&crashed, ttl).await.unwrap());
    assert!(!limits.release(&crashed).await.unwrap());
    assert_eq!(limits.holders("k").await.unwrap(), 1);
    assert!(limits.renew(&p, Duration::from_secs(10)).await.unwrap());
    assert!(limits.release(&p).await.unwrap());
    assert_eq!(limits.holders("k").await.unwrap(), 0);
}

#[tokio::test]
async fn renewal_keeps_a_permit() {
    let e = default_env().await;
    let limits = e.queue.limits();
    let ttl = Duration::from_millis(200);
    let p = limits.try_acquire("k", 1, ttl).await.unwrap().unwrap();
    let mut tick = tokio::time::interval(Duration::from_millis(60));
    for _ in 0..10 {
        tick.tick().await;
        assert!(limits.renew(&p, ttl).await.unwrap());
        assert!(limits.try_acquire("k", 1, ttl).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn hourly_counter_is_a_rolling_hour_with_a_limit() {
    let e = default_env().await;
    let limits = e.queue.limits();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let min = |m: u64| t0 + Duration::from_secs(60 * m);
    let k = "tenant-db-1";
    assert!(
        limits
            .hourly_add_at(k, 600, 1000, min(0))
            .await
            .unwrap()
            .added
    );
    assert!(
        limits
            .hourly_add_at(k, 300, 1000, min(30))
            .await
            .unwrap()
            .added
    );
    let r = limits.hourly_add_at(k, 200, 1000, min(59)).await.unwrap();
    assert_eq!(
        (r.added, r.total),
        (false, 900),
        "over the limit within the hour"
    );
    // An hour after the first 600, they roll out of the window.
    let r = limits.hourly_add_at(k, 200, 1000, min(60)).await.unwrap();
    assert_eq!((r.added, r.total), (true, 500));
    let r = limits.hourly_add_at(k, 0, 0, min(91)).await.unwrap();
    assert_eq!(r.total, 200);
    // Real clock: unlimited counting and reading.
    assert_eq!(limits.hourly_add("other", 5, 0).await.unwrap().total, 5);
    assert_eq!(limits.hourly_count("other").await.unwrap(), 5);
}

#[tokio::test]
async fn concurrent_hourly_adds_never_pass_the_limit() {
    let e = default_env().await;
    let limits = e.queue.limits();
    let mut handles = Vec::new();
    for _ in 0..8 {
        let limits = limits.clone();
        handles.push(tokio::spawn(async move {
            let mut ok = 0;
            for _ in 0..50 {
                if limits.hourly_add("budget", 1, 100).await.unwrap().added {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    assert_eq!(total, 100);
    assert_eq!(limits.hourly_count("budget").await.unwrap(), 100);
}

#[tokio::test]
async fn a_waiter_gets_a_released_permit_at_once_not_at_expiry() {
    let e = default_env().await;
    let limits = e.queue.limits();
    let ttl = Duration::from_secs(30);
    let held = limits.try_acquire("k", 1, ttl).await.unwrap().unwrap();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let waiter = tokio::spawn({
        let limits = limits.clone();
        async move {
            assert!(limits.try_acquire("k", 1, ttl).await.unwrap().is_none());
            ready_tx.send(()).unwrap();
            let got = limits
                .acquire("k", 1, ttl, Duration::from_secs(10))
                .await
                .unwrap();
            (got, tokio::time::Instant::now())
        }
    });
    ready_rx.await.unwrap();
    let released = tokio::time::Instant::now();
    assert!(limits.release(&held).await.unwrap());
    let (got, at) = waiter.await.unwrap();
    assert!(got.is_some());
    assert!(
        at - released < Duration::from_secs(2),
        "waited {:?}",
        at - released
    );
}
