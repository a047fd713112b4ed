//! A worker process killed with SIGKILL in the middle of a step: another worker picks the
//! step up after its lease expires, and the run completes without a duplicate webhook.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use autotask_sim::{Fault, FaultRule, SeedApiUser};
use onboarding_steps::StepName;
use onboarding_steps::run::{RunKind, RunState, StepState};

use crate::support::*;

#[tokio::test]
async fn a_killed_worker_process_loses_nothing_and_duplicates_nothing() {
    let e = env(&["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    // Hold webhook writes so the worker is inside ensure_webhooks when it dies.
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
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    e.sim.clear_faults();

    let _w = e.worker(2);
    let run = e.finish(&r.run_id, true, 30).await;
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
