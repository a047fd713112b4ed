//! A worker process killed with SIGKILL in the middle of a step: another worker picks the
//! step up after its lease expires, and the run completes without a duplicate webhook. A
//! worker stopped with SIGTERM finishes its running step first and exits cleanly. A crash
//! between recording a step and scheduling the next one loses and duplicates nothing, and so
//! does a Redis restart (append-only file on).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use autotask_sim::{Fault, FaultRule, SeedApiUser, SeededApiUser};
use onboarding_steps::StepName;
use onboarding_steps::run::{RunKind, RunState, StepState};

use crate::support::*;

/// Starts the worker process with webhook writes slowed down, enqueues an onboarding and
/// waits until the process is inside `ensure_webhooks`.
async fn worker_inside_ensure_webhooks(e: &Env, user: &SeededApiUser) -> (Child, String) {
    e.sim.add_fault(FaultRule {
        endpoint: Some("TicketWebhooks".into()),
        method: Some("POST".into()),
        ..FaultRule::new(Fault::Latency { ms: 1_500 })
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_e2e-worker"))
        .envs(e.worker_env.vars())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the worker process");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    let r = e
        .onboard
        .enqueue(request(RunKind::Onboard, "acme", user), None)
        .await
        .unwrap();
    e.until(&r.run_id, 30, "ensure_webhooks running", |run| {
        matches!(
            run.step(StepName::EnsureWebhooks).unwrap().state,
            StepState::Running { .. }
        )
    })
    .await;
    (child, r.run_id)
}

#[tokio::test]
async fn a_killed_worker_process_loses_nothing_and_duplicates_nothing() {
    let e = env(&["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    let (mut child, run_id) = worker_inside_ensure_webhooks(&e, &user).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    e.sim.clear_faults();

    let _w = e.worker(2);
    let run = e.finish(&run_id, 30).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    let ensure = run.step(StepName::EnsureWebhooks).unwrap();
    assert!(
        ensure.attempts >= 2,
        "the killed attempt counts: {:#?}",
        summary(&run)
    );
    assert!(
        run.audit.iter().any(|a| a.detail == "lease expired"),
        "the record says the worker died"
    );
    let hooks = ticket_webhooks(&e.sim, "acme");
    assert_eq!(hooks.len(), 1, "{hooks:#?}");
}

#[tokio::test]
async fn a_worker_stopped_with_sigterm_finishes_its_step_first() {
    let e = env(&["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    let (child, run_id) = worker_inside_ensure_webhooks(&e, &user).await;
    // The shell's builtin `kill`: no procps needed on a fresh machine.
    let term = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .unwrap();
    assert!(term.success());
    // Wait off the runtime: the simulator in this runtime must answer the running step.
    let status = tokio::task::spawn_blocking(move || {
        let mut child = child;
        child.wait()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(status.success(), "the worker exits cleanly: {status:?}");
    let run = e.onboard.runs.get(&run_id).await.unwrap().unwrap();
    assert_eq!(
        run.step(StepName::EnsureWebhooks).unwrap().state,
        StepState::Succeeded { changed: true },
        "the running step finished before the worker stopped: {:#?}",
        summary(&run)
    );
    e.sim.clear_faults();
    let _w = e.worker(2);
    let run = e.finish(&run_id, 30).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    assert!(!run.audit.iter().any(|a| a.detail == "lease expired"));
}

#[tokio::test]
async fn a_crash_between_recording_a_step_and_scheduling_the_next_loses_nothing() {
    use onboarding_steps::run::{Actor, AttemptOutcome};
    let e = env(&["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    let r = e
        .onboard
        .enqueue(request(RunKind::Onboard, "acme", &user), None)
        .await
        .unwrap();
    // A worker ran resolve_zone and recorded its success, then died before it scheduled
    // check_api_budget and acknowledged its job: the job is still in the queue.
    let policy = e.onboard.policy;
    e.onboard
        .runs
        .update(&r.run_id, |run| {
            let at = onboarding_worker::service::now();
            let w = Actor::Worker("died".into());
            run.begin_attempt(StepName::ResolveZone, at, w.clone())?;
            let ok = AttemptOutcome::Succeeded {
                changed: false,
                facts: vec![],
            };
            run.end_attempt(StepName::ResolveZone, ok, &policy, at, 0, w)
                .map(drop)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.onboard.queue.counts().await.unwrap().ready, 1);

    let _w = e.worker(2);
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    for s in &run.steps {
        let expected = match s.step {
            StepName::ConfirmUnassignedLobVisibility | StepName::ConfirmVendorActive => 2,
            _ => 1,
        };
        assert_eq!(
            s.attempts,
            expected,
            "{} ran a wrong number of times: {:#?}",
            s.step,
            summary(&run)
        );
    }
    assert_eq!(ticket_webhooks(&e.sim, "acme").len(), 1);
}

#[tokio::test]
async fn a_redis_restart_with_aof_loses_no_run_and_duplicates_no_webhook() {
    let tenants = ["r1", "r2", "r3"];
    let mut e = env_full(
        &tenants,
        redis_test_server::Options { append_only: true },
        |c| c.base_latency_ms = 20,
    )
    .await;
    let users: Vec<_> = tenants
        .iter()
        .map(|t| seed(&e.sim, t, SeedApiUser::default()))
        .collect();
    let _w = e.worker(4);
    let mut ids = Vec::new();
    for (t, u) in tenants.iter().zip(&users) {
        let r = e
            .onboard
            .enqueue(request(RunKind::Onboard, t, u), None)
            .await
            .unwrap();
        ids.push(r.run_id);
    }
    e.until(&ids[0], 30, "the first run is under way", |run| {
        run.step(StepName::VerifyApiUser).unwrap().attempts > 0
    })
    .await;
    e.redis.kill();
    e.redis.restart();
    for id in &ids {
        let run = e.finish(id, 60).await;
        assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    }
    for t in tenants {
        assert_eq!(
            ticket_webhooks(&e.sim, t).len(),
            1,
            "{t}: exactly one webhook"
        );
    }
}
