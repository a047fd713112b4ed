//! Redis Sentinel failover: the worker and the service reach Redis only through real
//! `redis-sentinel` processes watching a real master and its replica. The master dies while a
//! run is creating its webhook; the sentinels promote the replica, and the worker and the
//! service follow without a restart: the run completes on the new master, with exactly one
//! webhook in the simulator. (The `READONLY` path of a failover with the old master still up
//! is tested on the queue itself, `onboarding-queue`'s `sentinel` tests.)

use std::time::Duration;

use autotask_sim::{Fault, FaultRule, SeedApiUser, SimConfig};
use onboard_e2e::WorkerEnv;
use onboarding_steps::StepName;
use onboarding_steps::run::{RunKind, RunState, StepState};
use onboarding_worker::secrets::SecretBox;
use redis_test_server::{Options, RedisServer, Sentinel, unique_name};

use crate::support::*;

const MASTER: &str = "e2emaster";

async fn conn(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The port of the master a sentinel names.
async fn master_port(sentinel: &Sentinel) -> Option<u16> {
    let mut c = conn(sentinel.port()).await;
    let addr: Option<(String, u16)> = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(MASTER)
        .query_async(&mut c)
        .await
        .ok()?;
    addr.map(|(_, port)| port)
}

#[tokio::test]
async fn a_run_in_flight_follows_a_sentinel_failover_without_a_duplicate_webhook() {
    telemetry();
    let master = RedisServer::private(Options::default());
    let master_port_0 = master.port().unwrap();
    let replica = RedisServer::with_args(
        Options::default(),
        vec![
            "--replicaof".into(),
            "127.0.0.1".into(),
            master_port_0.to_string(),
        ],
    );
    let replica_port = replica.port().unwrap();
    wait_for(10, "the replica is in sync", || async {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut conn(replica_port).await)
            .await
            .unwrap_or_default();
        info.contains("master_link_status:up")
    })
    .await;
    let sentinels: Vec<Sentinel> = (0..3)
        .map(|_| Sentinel::start(MASTER, master_port_0, 2, ""))
        .collect();
    wait_for(
        20,
        "every sentinel knows the replica and the other sentinels",
        || async {
            let mut known = 0;
            for s in &sentinels {
                let mut c = conn(s.port()).await;
                let replicas: redis::RedisResult<Vec<std::collections::HashMap<String, String>>> =
                    redis::cmd("SENTINEL")
                        .arg("REPLICAS")
                        .arg(MASTER)
                        .query_async(&mut c)
                        .await;
                let others: redis::RedisResult<std::collections::HashMap<String, String>> =
                    redis::cmd("SENTINEL")
                        .arg("MASTER")
                        .arg(MASTER)
                        .query_async(&mut c)
                        .await;
                if replicas.is_ok_and(|r| {
                    r.iter()
                        .any(|r| r.get("flags").is_some_and(|f| f == "slave"))
                }) && others
                    .is_ok_and(|m| m.get("num-other-sentinels").is_some_and(|n| n == "2"))
                {
                    known += 1;
                }
            }
            known == sentinels.len()
        },
    )
    .await;

    let sim = autotask_sim::spawn(SimConfig::default().with_database("acme"))
        .await
        .expect("simulator");
    let worker_env = WorkerEnv {
        redis_url: "redis://".into(),
        sentinels: sentinels.iter().map(Sentinel::addr).collect(),
        sentinel_master: MASTER.into(),
        prefix: unique_name("e2e-failover"),
        key: SecretBox::generate_key(),
        base_url: sim.base_url().to_owned(),
        // Longer than the failover (1 s to agree the master is down, then the promotion), as
        // the README asks of a deployment: the step's lease survives the outage.
        lease: Duration::from_secs(10),
    };
    let onboard = worker_env
        .connect()
        .await
        .expect("connect through sentinel");
    let mut e = Env {
        redis: master,
        sim,
        worker_env,
        onboard,
    };
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    // The webhook is being created (slowly) when the master changes.
    e.sim.add_fault(FaultRule {
        endpoint: Some("TicketWebhooks".into()),
        method: Some("POST".into()),
        ..FaultRule::new(Fault::Latency { ms: 1_500 })
    });
    let _w = e.worker(2);
    let r = e
        .onboard
        .enqueue(request(RunKind::Onboard, "acme", &user), None)
        .await
        .unwrap();
    e.until(&r.run_id, 30, "ensure_webhooks running", |run| {
        matches!(
            run.step(StepName::EnsureWebhooks).unwrap().state,
            StepState::Running { .. }
        )
    })
    .await;

    // The master dies; the sentinels agree it is down and promote the replica.
    e.redis.kill();
    wait_for(20, "the sentinels name the replica as master", || async {
        master_port(&sentinels[0]).await == Some(replica_port)
    })
    .await;

    let run = e.finish(&r.run_id, 60).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    assert_eq!(
        ticket_webhooks(&e.sim, "acme").len(),
        1,
        "exactly one webhook after the failover"
    );
    // The run finished on the new master.
    let role: Vec<redis::Value> = redis::cmd("ROLE")
        .query_async(&mut conn(replica_port).await)
        .await
        .unwrap();
    assert_eq!(
        role.first(),
        Some(&redis::Value::BulkString(b"master".to_vec()))
    );
    drop(replica);
}
