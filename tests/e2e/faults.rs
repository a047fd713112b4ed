//! Fault storms from the simulator: 429s, 500s, timeouts, resets and dropped responses, with
//! the default and the strict simulator. Runs complete, attempts stay bounded, no duplicate
//! webhook, and no thread-limit refusal is caused by us (the simulator's own thread limit
//! refused nothing, whatever status the profile gives that refusal).

use autotask_sim::{Fault, FaultRule, Profile, SeedApiUser};
use onboarding_steps::run::{RunKind, RunState};

use crate::support::*;

both_profiles!(runs_complete_through_a_fault_storm);

async fn runs_complete_through_a_fault_storm(profile: Profile) {
    let tenants = ["t1", "t2", "t3"];
    let e = env_in(profile, &tenants).await;
    let users: Vec<_> = tenants
        .iter()
        .map(|t| seed(&e.sim, t, SeedApiUser::default()))
        .collect();
    let rule = |endpoint: Option<&str>, method: Option<&str>, fault, times| FaultRule {
        endpoint: endpoint.map(Into::into),
        method: method.map(Into::into),
        times: Some(times),
        ..FaultRule::new(fault)
    };
    e.sim
        .add_fault(rule(Some("Resources"), None, Fault::TooManyRequests, 6));
    e.sim.add_fault(rule(
        Some("TicketWebhooks"),
        Some("POST"),
        Fault::CommitThenDrop,
        3,
    ));
    e.sim.add_fault(rule(
        None,
        None,
        Fault::ServerError {
            status: 503,
            errors: vec![],
        },
        6,
    ));
    e.sim.add_fault(rule(None, None, Fault::ConnectionReset, 4));
    e.sim.add_fault(rule(
        Some("ThresholdInformation"),
        None,
        Fault::Timeout { ms: 100 },
        2,
    ));
    e.sim.add_fault(FaultRule::new(Fault::RandomLatency {
        min_ms: 0,
        max_ms: 20,
    }));

    let _w = e.worker(8);
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
    for (t, id) in tenants.iter().zip(&ids) {
        let run = e.finish(id, 60).await;
        assert_eq!(run.state, RunState::Succeeded, "{t}: {:#?}", summary(&run));
        for s in &run.steps {
            assert!(
                s.attempts <= 8,
                "{t}: {} took {} attempts",
                s.step,
                s.attempts
            );
        }
        assert_eq!(
            ticket_webhooks(&e.sim, t).len(),
            1,
            "{t}: exactly one webhook"
        );
    }
    let requests = e.sim.requests();
    let ours: Vec<_> = requests
        .iter()
        .filter(|r| r.refused_by.as_deref() == Some("thread_limit"))
        .collect();
    assert!(
        ours.is_empty(),
        "thread-limit refusals caused by us: {ours:#?}"
    );
    assert!(
        requests.iter().any(|r| r.fault.is_some()),
        "the storm happened"
    );
}
