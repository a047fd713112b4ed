//! Limits that hold across every worker: many tenants whose API users share one Autotask
//! database and integration code, run by two worker processes' worth of threads, never make
//! Autotask refuse a request for the thread limit (3 per database, code and endpoint); and a
//! worker never has more Autotask calls open than the steps it may run at once.

use autotask_sim::SeedApiUser;
use onboarding_steps::run::{RunKind, RunState};

use crate::support::*;

#[tokio::test]
async fn tenants_sharing_a_database_stay_within_its_thread_limit() {
    let e = env_with(&["shared"], |c| c.base_latency_ms = 40).await;
    let tenants: Vec<String> = (0..8).map(|i| format!("shared-{i}")).collect();
    let users: Vec<_> = tenants
        .iter()
        .map(|_| seed(&e.sim, "shared", SeedApiUser::default()))
        .collect();
    let _a = e.worker(8);
    let _b = e.worker(8);
    let mut ids = Vec::new();
    for (t, u) in tenants.iter().zip(&users) {
        let mut r = request(RunKind::Onboard, t, u);
        r.tenant_name = "one MSP, one Autotask database".into();
        ids.push(e.onboard.enqueue(r, None).await.unwrap().run_id);
    }
    for id in &ids {
        let run = e.finish(id, 60).await;
        assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    }
    let requests = e.sim.requests();
    let refused: Vec<_> = requests.iter().filter(|r| r.status == 429).collect();
    assert!(refused.is_empty(), "thread-limit refusals: {refused:#?}");
    assert!(
        requests.len() > 8 * 15,
        "the tenants really ran: {}",
        requests.len()
    );
}

#[tokio::test]
async fn a_worker_never_has_more_calls_open_than_its_concurrency() {
    let tenants: Vec<String> = (0..10).map(|i| format!("cap-{i}")).collect();
    let names: Vec<&str> = tenants.iter().map(String::as_str).collect();
    let e = env_with(&names, |c| c.base_latency_ms = 20).await;
    let users: Vec<_> = tenants
        .iter()
        .map(|t| seed(&e.sim, t, SeedApiUser::default()))
        .collect();
    let mut ids = Vec::new();
    for (t, u) in tenants.iter().zip(&users) {
        ids.push(
            e.onboard
                .enqueue(request(RunKind::Onboard, t, u), None)
                .await
                .unwrap()
                .run_id,
        );
    }
    let _w = e.worker(3);
    for id in &ids {
        let run = e.finish(id, 120).await;
        assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    }
    // Each open call belongs to a running step: the most ever open is at most the cap.
    let most = e.sim.max_in_flight();
    assert!(
        (1..=3).contains(&most),
        "most Autotask calls open at once with 3 steps at once: {most}"
    );
}
