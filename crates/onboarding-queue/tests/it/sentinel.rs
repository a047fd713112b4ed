//! Sentinel: a queue opened through real `redis-sentinel` processes works end to end, and
//! follows a `SENTINEL FAILOVER` with the old master still up (it becomes a replica and
//! answers writes with `READONLY`): jobs enqueued before the failover are fetched and
//! completed on the new master without reopening the queue.

use std::time::Duration;

use onboarding_queue::{Ack, NewJob, Queue, QueueConfig, WorkerId};
use redis_test_server::{Options, RedisServer, Sentinel};

use crate::support::eventually;

async fn query<T: redis::FromRedisValue>(port: u16, cmd: &mut redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    cmd.query_async(&mut conn).await
}

async fn role(port: u16) -> String {
    query::<Vec<redis::Value>>(port, &mut redis::cmd("ROLE"))
        .await
        .ok()
        .and_then(|v| match v.first() {
            Some(redis::Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Opens the queue once the sentinel has learnt about the master.
async fn open(sentinels: &[String], master: &str, name: &str) -> Queue {
    let opened = std::sync::Mutex::new(None);
    eventually(
        Duration::from_secs(10),
        "sentinel knows the master",
        || async {
            match Queue::connect_sentinel(sentinels, master, name, QueueConfig::default()).await {
                Ok(q) => {
                    *opened.lock().unwrap() = Some(q);
                    true
                }
                Err(_) => false,
            }
        },
    )
    .await;
    opened.lock().unwrap().take().unwrap()
}

#[tokio::test]
async fn a_queue_opened_through_sentinel_works() {
    let master = RedisServer::private(Default::default());
    let sentinel = Sentinel::start("oqmaster", master.port().unwrap(), 1, "");
    let q = open(&[sentinel.addr()], "oqmaster", "via-sentinel").await;
    q.enqueue(NewJob::new("g", b"x".to_vec())).await.unwrap();
    let w = WorkerId::new("w");
    let job = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
    assert_eq!(q.complete(&job.lease).await.unwrap(), Ack::Applied);
    // The job went to the master the sentinel named.
    let done: u64 = query(
        master.port().unwrap(),
        redis::cmd("ZCARD").arg(format!("{}done", q.prefix())),
    )
    .await
    .unwrap();
    assert_eq!(done, 1);
}

#[tokio::test]
async fn a_queue_follows_a_failover_to_the_promoted_replica() {
    let master = RedisServer::private(Options::default());
    let old = master.port().unwrap();
    let replica = RedisServer::with_args(
        Options::default(),
        vec!["--replicaof".into(), "127.0.0.1".into(), old.to_string()],
    );
    let new = replica.port().unwrap();
    let sentinel = Sentinel::start("oqfail", old, 1, "");
    let q = open(&[sentinel.addr()], "oqfail", "failover").await;
    for i in 0..3 {
        q.enqueue(NewJob::new(format!("g{i}"), b"x".to_vec()))
            .await
            .unwrap();
    }
    // The jobs are on the replica before it is promoted (this tests following the master,
    // not what asynchronous replication can lose).
    eventually(
        Duration::from_secs(20),
        "the replica has the jobs",
        || async { query::<i64>(old, redis::cmd("WAIT").arg(1).arg(100)).await == Ok(1) },
    )
    .await;
    // Refused (NOGOODSLAVE) until the sentinel knows the replica and it is in sync.
    eventually(
        Duration::from_secs(20),
        "the sentinel starts a failover",
        || async {
            query::<()>(
                sentinel.port(),
                redis::cmd("SENTINEL").arg("FAILOVER").arg("oqfail"),
            )
            .await
            .is_ok()
        },
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "the old master is a replica",
        || async { role(new).await == "master" && role(old).await == "slave" },
    )
    .await;
    // The same queue handle: fetch and complete every job, on the new master.
    let w = WorkerId::new("w");
    let completed = std::sync::atomic::AtomicUsize::new(0);
    eventually(Duration::from_secs(20), "every job completes", || async {
        if let Ok(fetched) = q.fetch(&w, 3).await {
            for job in fetched.into_jobs() {
                if q.complete(&job.lease).await.is_ok() {
                    completed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        completed.load(std::sync::atomic::Ordering::Relaxed) == 3
    })
    .await;
    let done: u64 = query(new, redis::cmd("ZCARD").arg(format!("{}done", q.prefix())))
        .await
        .unwrap();
    assert_eq!(done, 3);
    drop(master);
}
