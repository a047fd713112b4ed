//! Sentinel: a queue opened through a real `redis-server --sentinel` that monitors a private
//! master works end to end.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use onboarding_queue::{Ack, NewJob, Queue, QueueConfig, WorkerId};
use redis_test_server::RedisServer;

use crate::support::eventually;

struct Sentinel {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sentinel(master_port: u16) -> Sentinel {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor oqmaster 127.0.0.1 {master_port} 1\n",
            dir.path().display()
        ),
    )
    .expect("write sentinel.conf");
    let child = Command::new("redis-server")
        .arg(&conf)
        .arg("--sentinel")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server --sentinel");
    Sentinel {
        child,
        port,
        _dir: dir,
    }
}

#[tokio::test]
async fn a_queue_opened_through_sentinel_works() {
    let master = RedisServer::private(Default::default());
    let sentinel = start_sentinel(master.port().unwrap());
    let sentinels = vec![format!("redis://127.0.0.1:{}/", sentinel.port)];
    // The sentinel needs a moment to start and learn about the master.
    let opened = std::sync::Mutex::new(None);
    eventually(
        Duration::from_secs(10),
        "sentinel knows the master",
        || async {
            let r = Queue::connect_sentinel(
                &sentinels,
                "oqmaster",
                "via-sentinel",
                QueueConfig::default(),
            )
            .await;
            match r {
                Ok(q) => {
                    *opened.lock().unwrap() = Some(q);
                    true
                }
                Err(_) => false,
            }
        },
    )
    .await;
    let q = opened.lock().unwrap().take().unwrap();
    q.enqueue(NewJob::new("g", b"x".to_vec())).await.unwrap();
    let w = WorkerId::new("w");
    let job = q.fetch(&w, 1).await.unwrap().into_jobs().remove(0);
    assert_eq!(q.complete(&job.lease).await.unwrap(), Ack::Applied);
    // The job went to the master the sentinel named.
    let client = redis::Client::open(master.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let done: u64 = redis::cmd("ZCARD")
        .arg(format!("{}done", q.prefix()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(done, 1);
}
