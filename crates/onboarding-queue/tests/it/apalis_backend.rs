//! The apalis integration: `WorkerBuilder::new(..).backend(RedisBackend)` with apalis
//! layers; handler results mapped to outcomes; undecodable payloads; graceful shutdown;
//! Redis going away and coming back without the worker dying.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use apalis::prelude::*;
use onboarding_queue::JobContext;
use onboarding_queue::backend::{BackendOptions, GROUP_META};
use onboarding_queue::{NewJob, QueueBackoff, QueueConfig, RedisBackend, State, Verdict};
use serde::{Deserialize, Serialize};

use crate::support::{env, eventually, private_env};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
enum Work {
    Ok(u32),
    Transient,
    Permanent,
    Defer,
    Panic,
    Slow,
}

/// What the handler saw: the work, apalis' attempt, ours, and the "traceparent" metadata.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Sighting>>>);

/// (work, apalis' attempt, our attempt, traceparent)
type Sighting = (Work, usize, u32, Option<String>);

async fn handler(
    work: Work,
    attempt: Attempt,
    job: Data<JobContext>,
    meta: MetadataStore,
    seen: Data<Seen>,
) -> Result<(), BoxDynError> {
    seen.0.0.lock().unwrap().push((
        work.clone(),
        attempt.current(),
        job.attempt,
        meta.get("traceparent").map(str::to_owned),
    ));
    match work {
        Work::Ok(_) => Ok(()),
        Work::Transient => Err("upstream 503".into()),
        Work::Permanent => Err(Verdict::fail("refused precondition").into()),
        Work::Defer => Err(Verdict::defer_until(
            SystemTime::now() + Duration::from_secs(3600),
            "budget",
        )
        .into()),
        Work::Panic => panic!("handler panicked"),
        Work::Slow => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        }
    }
}

fn config() -> QueueConfig {
    QueueConfig {
        group_running_limit: 0,
        ..QueueConfig::default()
    }
}

#[tokio::test]
async fn apalis_worker_runs_jobs_and_maps_results_to_outcomes() {
    let e = env(config()).await;
    let q = e.queue.clone();
    let mut backend: RedisBackend<Work> = RedisBackend::with_options(
        q.clone(),
        BackendOptions {
            fetch_batch: Some(4),
            retry: QueueBackoff {
                base: Duration::from_secs(60),
                factor: 2,
                max: Duration::from_secs(600),
            },
            ..BackendOptions::default()
        },
    );
    // Push through apalis' TaskSink, with the group in metadata.
    for w in [
        Work::Ok(1),
        Work::Ok(2),
        Work::Transient,
        Work::Permanent,
        Work::Defer,
        Work::Panic,
    ] {
        let mut meta = MetadataStore::new();
        meta.insert(GROUP_META, "tenant-1").unwrap();
        meta.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .unwrap();
        backend
            .push_task(TaskBuilder::new(w).with_metadata(meta).build())
            .await
            .unwrap();
    }
    assert_eq!(q.counts().await.unwrap().ready, 6);

    let seen = Seen::default();
    let worker = WorkerBuilder::new("apalis-test")
        .backend(backend)
        .data(seen.clone())
        .catch_panic()
        .timeout(Duration::from_secs(30))
        .concurrency(2)
        .build(handler);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(worker.run_until(async move {
        let _ = stop_rx.await;
        Ok::<(), WorkerError>(())
    }));

    eventually(Duration::from_secs(10), "all six handled", || async {
        let c = q.counts().await.unwrap();
        c.ready == 0 && c.running == 0
    })
    .await;
    let c = q.counts().await.unwrap();
    // Ok×2 done; Permanent and Panic dead; Transient retried in 60 s; Defer in an hour.
    assert_eq!((c.done, c.dead, c.scheduled), (2, 2, 2), "{c:?}");
    for (_, attempt, ours, trace) in seen.0.lock().unwrap().iter() {
        assert_eq!(*attempt, 1, "apalis sees the attempt counted at fetch");
        assert_eq!(*ours, 1);
        assert_eq!(
            trace.as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            "task metadata (the trace context) survives the round trip"
        );
    }

    let dead = q.dead_letters(0, 10).await.unwrap();
    let reasons: Vec<_> = dead.iter().map(|d| d.reason.clone()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("refused precondition")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("panicked")),
        "{reasons:?}"
    );
    assert!(dead.iter().all(|d| d.group == "tenant-1"));

    let scheduled = q.jobs(State::Scheduled, 0, 10).await.unwrap();
    let mut saw_retry = false;
    let mut saw_defer = false;
    for id in scheduled {
        let info = q.job(&id).await.unwrap().unwrap();
        let last = info.history.last().unwrap();
        let wait = info.run_at.unwrap() as i64 - last.finished_at as i64;
        match last.outcome.as_str() {
            "retry" => {
                saw_retry = true;
                assert_eq!(info.attempts, 1);
                // The policy's 60 s, counted from the decision; the attempt's end is
                // recorded a little later, more so on a loaded machine.
                assert!(
                    (30_000..=61_000).contains(&wait),
                    "policy delay, got {wait} ms"
                );
                assert!(last.error.as_deref().unwrap().contains("upstream 503"));
            }
            "deferred" => {
                saw_defer = true;
                assert_eq!(info.attempts, 0, "deferral gave the attempt back");
            }
            other => panic!("unexpected outcome {other}"),
        }
    }
    assert!(saw_retry && saw_defer);
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("worker stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn an_undecodable_payload_is_dead_lettered_and_the_worker_goes_on() {
    let e = env(config()).await;
    let q = e.queue.clone();
    let bad = q
        .enqueue(NewJob::new("g", b"not json".to_vec()))
        .await
        .unwrap()
        .id;
    q.enqueue(NewJob::new("g", serde_json::to_vec(&Work::Ok(7)).unwrap()))
        .await
        .unwrap();
    let seen = Seen::default();
    let worker = WorkerBuilder::new("decode")
        .backend(RedisBackend::<Work>::new(q.clone()))
        .data(seen.clone())
        .build(handler);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(worker.run_until(async move {
        let _ = stop_rx.await;
        Ok::<(), WorkerError>(())
    }));
    eventually(
        Duration::from_secs(10),
        "good job done, bad one dead",
        || async {
            let c = q.counts().await.unwrap();
            c.done == 1 && c.dead == 1
        },
    )
    .await;
    let info = q.job(&bad).await.unwrap().unwrap();
    assert!(info.dead_reason.unwrap().contains("could not be decoded"));
    assert_eq!(seen.0.lock().unwrap().len(), 1);
    stop_tx.send(()).unwrap();
    run.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_hands_back_fetched_but_unstarted_jobs_without_spending_attempts() {
    let e = env(config()).await;
    let q = e.queue.clone();
    q.enqueue(NewJob::new("g", serde_json::to_vec(&Work::Slow).unwrap()))
        .await
        .unwrap();
    q.enqueue_many(
        (0..4)
            .map(|i| NewJob::new("g", serde_json::to_vec(&Work::Ok(i)).unwrap()))
            .collect(),
    )
    .await
    .unwrap();
    let backend = RedisBackend::<Work>::with_options(
        q.clone(),
        BackendOptions {
            fetch_batch: Some(5),
            ..BackendOptions::default()
        },
    );
    let worker = WorkerBuilder::new("shutdown")
        .backend(backend)
        .data(Seen::default())
        .timeout(Duration::from_millis(500))
        .concurrency(1)
        .build(handler);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(worker.run_until(async move {
        let _ = stop_rx.await;
        Ok::<(), WorkerError>(())
    }));
    // The slow job runs (and times out after 0.5 s); four more are leased in the buffer.
    eventually(Duration::from_secs(5), "batch leased", || async {
        q.counts().await.unwrap().running == 5
    })
    .await;
    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("worker stops")
        .unwrap()
        .unwrap();
    let c = q.counts().await.unwrap();
    assert_eq!(c.running, 0, "{c:?}");
    let mut returned = 0;
    for id in q.jobs(State::Ready, 0, 10).await.unwrap() {
        let info = q.job(&id).await.unwrap().unwrap();
        if info.history.last().is_some_and(|h| h.outcome == "deferred") {
            assert_eq!(info.attempts, 0);
            returned += 1;
        }
    }
    assert!(returned >= 3, "unstarted jobs handed back: {returned}");
}

#[tokio::test]
async fn the_worker_survives_redis_going_away_and_nothing_is_lost() {
    let mut e = private_env(
        QueueConfig {
            group_running_limit: 0,
            response_timeout: Duration::from_millis(500),
            connection_timeout: Duration::from_millis(500),
            ..QueueConfig::default()
        },
        redis_test_server::Options { append_only: true },
    )
    .await;
    let q = e.queue.clone();
    let seen = Seen::default();
    let worker = WorkerBuilder::new("resilient")
        .backend(RedisBackend::<Work>::new(q.clone()))
        .data(seen.clone())
        .build(handler);
    let run = tokio::spawn(worker.run());
    q.enqueue(NewJob::new("g", serde_json::to_vec(&Work::Ok(1)).unwrap()))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "first job done", || async {
        q.counts().await.unwrap().done == 1
    })
    .await;

    e.server.kill();
    // While Redis is down the worker keeps trying (and does not return an error).
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for _ in 0..10 {
        tick.tick().await;
        assert!(!run.is_finished(), "worker stopped while redis was down");
    }
    e.server.restart();
    eventually(Duration::from_secs(10), "enqueue after restart", || async {
        q.enqueue(
            NewJob::new("g", serde_json::to_vec(&Work::Ok(2)).unwrap()).idempotency_key("after"),
        )
        .await
        .is_ok()
    })
    .await;
    eventually(
        Duration::from_secs(15),
        "second job done after reconnect",
        || async { q.counts().await.map(|c| c.done == 2).unwrap_or(false) },
    )
    .await;
    assert!(!run.is_finished());
    run.abort();
}

#[tokio::test]
async fn a_queue_opened_while_redis_is_down_works_once_it_is_up() {
    let mut server = redis_test_server::RedisServer::private(Default::default());
    server.kill();
    let q = onboarding_queue::Queue::connect(
        server.url(),
        "down-at-start",
        QueueConfig {
            connection_timeout: Duration::from_millis(200),
            response_timeout: Duration::from_millis(200),
            ..QueueConfig::default()
        },
    )
    .await
    .expect("opening does not need redis");
    let err = q.counts().await.expect_err("redis is down");
    assert!(err.is_retryable(), "{err}");
    server.restart();
    eventually(
        Duration::from_secs(10),
        "queue usable after redis comes up",
        || async { q.enqueue(NewJob::new("g", b"x".to_vec())).await.is_ok() },
    )
    .await;
    assert_eq!(q.counts().await.unwrap().ready, 1);
}

#[tokio::test]
async fn a_slow_redis_makes_the_worker_wait_not_die() {
    let e = private_env(
        QueueConfig {
            group_running_limit: 0,
            response_timeout: Duration::from_millis(200),
            ..QueueConfig::default()
        },
        Default::default(),
    )
    .await;
    let q = e.queue.clone();
    let worker = WorkerBuilder::new("slow")
        .backend(RedisBackend::<Work>::new(q.clone()))
        .data(Seen::default())
        .build(handler);
    let run = tokio::spawn(worker.run());
    q.enqueue(NewJob::new("g", serde_json::to_vec(&Work::Ok(1)).unwrap()))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "first job done", || async {
        q.counts().await.unwrap().done == 1
    })
    .await;

    // Redis stops answering for 1.5 s: a script spins (every other command times out).
    let client = redis::Client::open(e.server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let spin = redis::Script::new(
        "local s = redis.call('TIME') local t0 = s[1] * 1000000 + s[2] \
         while true do local t = redis.call('TIME') \
         if t[1] * 1000000 + t[2] - t0 > 1500000 then break end end return 1",
    );
    spin.load_async(&mut conn).await.unwrap();
    let spinner = tokio::spawn(async move {
        let r: redis::RedisResult<i64> = spin.invoke_async(&mut conn).await;
        r
    });
    // The spin has begun once a command times out; from then on keep trying to enqueue.
    let mut timeouts = 0;
    loop {
        match q
            .enqueue(
                NewJob::new("g", serde_json::to_vec(&Work::Ok(2)).unwrap()).idempotency_key("k2"),
            )
            .await
        {
            Ok(_) if timeouts > 0 => break,
            Ok(_) => assert!(!spinner.is_finished(), "the spin never blocked redis"),
            Err(err) => {
                assert!(err.is_retryable(), "{err}");
                timeouts += 1;
            }
        }
        assert!(!run.is_finished(), "worker died while redis was slow");
    }
    // (The spinning call itself may time out on its client; the server ran it all the same.)
    let _ = spinner.await.unwrap();
    eventually(Duration::from_secs(15), "second job done", || async {
        q.counts().await.map(|c| c.done == 2).unwrap_or(false)
    })
    .await;
    assert!(!run.is_finished());
    run.abort();
}
