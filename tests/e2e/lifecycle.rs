//! What onboard keeps, and for how long (issue 11 items 1–3): credentials go when their run
//! succeeds or is cancelled; webhook secrets live as long as their webhook; finished runs,
//! their indexes and idempotency keys go after the retention; a record that cannot be opened
//! fails its run at once; a tenant is bound to the Autotask database of its first success.

use std::time::Duration;

use autotask_sim::SeedApiUser;
use onboarding_steps::run::{RunKind, RunState, StepState};
use onboarding_steps::{StepName, Timestamp};
use redis::AsyncCommands;

use crate::support::*;

async fn keys(e: &Env, pattern: &str) -> Vec<String> {
    let client = redis::Client::open(e.redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = conn
        .keys(format!("{}{pattern}", e.worker_env.prefix))
        .await
        .unwrap();
    keys.sort();
    keys
}

/// The key of a tenant's care credentials (the one record a succeeded onboarding keeps on
/// purpose, for drift checks), waiting with a deadline until the worker has registered it.
async fn care_key(e: &Env, tenant: &str) -> String {
    let care = care_until(e, tenant, |_| true).await;
    format!("{}:cred:{}", e.worker_env.prefix, care.credentials)
}

/// Waits (with a deadline) until the keys matching `pattern` are exactly `keep`.
async fn until_only(e: &Env, pattern: &str, keep: &[String]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = keys(e, pattern).await;
        if left == keep {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after 10 s: {left:?}, expected only {keep:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn failed_reason(run: &onboarding_steps::run::Run) -> String {
    run.steps
        .iter()
        .find_map(|s| match &s.state {
            StepState::Failed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn credentials_go_when_the_run_succeeds_or_is_cancelled() {
    let e = env(&["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    // Enqueued, not yet run: sealed, every role (admin included).
    let mut req = request(RunKind::Onboard, "acme", &user);
    req.admin = Some(credentials(&user));
    let cancelled = e.onboard.enqueue(req.clone(), None).await.unwrap();
    assert_eq!(keys(&e, ":cred:*").await.len(), 2);
    e.onboard.cancel(&cancelled.run_id, "anna").await.unwrap();
    assert_eq!(keys(&e, ":cred:*").await, Vec::<String>::new());

    req.idempotency_key = Some("second".into());
    let r = e.onboard.enqueue(req, None).await.unwrap();
    assert_eq!(keys(&e, ":cred:*").await.len(), 2);
    let _w = e.worker(2);
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    // Every role's record of the run is gone; only the tenant's care record stays (sealed
    // anew under run `care`, not one of the run's records).
    let care = care_key(&e, "acme").await;
    until_only(&e, ":cred:*", &[care]).await;
}

#[tokio::test]
async fn finished_runs_and_dead_letters_go_after_the_retention_with_their_indexes() {
    let e = env(&["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    let worker = e.worker(2);
    let done = e.onboarded("acme", &user).await;
    let mut req = request(RunKind::Verify, "acme", &user);
    req.idempotency_key = Some("verified".into());
    let verify = e.onboard.enqueue(req, None).await.unwrap();
    let verified = e.finish(&verify.run_id, 30).await;
    assert_eq!(
        verified.state,
        RunState::Succeeded,
        "{:#?}",
        summary(&verified)
    );
    drop(worker);
    // A failed run (its credentials record was replaced by garbage): its job is a dead
    // letter, and it keeps its credentials, for an operator's retry.
    let mut req = request(RunKind::Verify, "acme", &user);
    req.idempotency_key = Some("broken".into());
    let broken = e.onboard.enqueue(req, None).await.unwrap();
    let broken_run = e.onboard.runs.get(&broken.run_id).await.unwrap().unwrap();
    let client = redis::Client::open(e.redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let cred = format!(
        "{}:cred:{}",
        e.worker_env.prefix, broken_run.request.credentials.new.0
    );
    let _: () = conn
        .set(&cred, b"not a sealed record, too short")
        .await
        .unwrap();
    let worker = e.worker(2);
    let broken_run = e.finish(&broken.run_id, 30).await;
    assert_eq!(
        broken_run.state,
        RunState::Failed,
        "{:#?}",
        summary(&broken_run)
    );
    drop(worker);
    let care = care_key(&e, "acme").await;
    let mut expected = vec![care, cred.clone()];
    expected.sort();
    assert_eq!(
        keys(&e, ":cred:*").await,
        expected,
        "a failed run keeps them (beside the tenant's care record)"
    );
    assert_eq!(e.onboard.dead_letters(0, 10).await.unwrap().len(), 1);
    // A run still queued (no worker now) is kept whatever its age.
    let mut req = request(RunKind::Verify, "acme", &user);
    req.idempotency_key = Some("waiting".into());
    let kept = e.onboard.enqueue(req, None).await.unwrap();

    let day = Duration::from_secs(24 * 3600);
    let now = onboarding_worker::service::now();
    let r = e.onboard.sweep(day, now).await.unwrap();
    assert_eq!((r.runs, r.dead_letters), (0, 0), "within the retention");
    let later = Timestamp(now.as_millis() + 2 * day.as_millis() as u64);
    let r = e.onboard.sweep(day, later).await.unwrap();
    assert_eq!((r.runs, r.dead_letters), (3, 1));
    assert!(e.onboard.runs.get(&kept.run_id).await.unwrap().is_some());
    let left = keys(&e, "*").await.join(" ");
    for gone in [&done, &verified, &broken_run] {
        assert!(e.onboard.runs.get(&gone.id).await.unwrap().is_none());
        assert!(!left.contains(&gone.id), "{left}");
        assert!(!left.contains(&gone.idempotency_key), "{left}");
    }
    assert!(
        !left.contains(&cred),
        "the failed run's credentials went with it"
    );
    assert!(e.onboard.dead_letters(0, 10).await.unwrap().is_empty());
    let listed = e
        .onboard
        .runs
        .list(&Default::default(), 0, 100)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![kept.run_id]
    );
}

#[tokio::test]
async fn webhook_secrets_live_as_long_as_their_webhook() {
    let e = env(&["globex"]).await;
    let previous = seed(&e.sim, "globex", SeedApiUser::default());
    let new = seed(
        &e.sim,
        "globex",
        SeedApiUser {
            last_name: "Two".into(),
            ..SeedApiUser::default()
        },
    );
    let _w = e.worker(2);
    e.onboarded("globex", &previous).await;
    let before = keys(&e, ":whsecret:*").await;
    assert!(!before.is_empty());
    // Keyed by the database (the zone's ci), not only by the tenant label.
    assert!(
        before.iter().all(|k| k.contains(":whsecret:ci:")),
        "{before:?}"
    );
    let mut change = request(RunKind::ChangeApiUser, "globex", &new);
    change.previous_user = Some(credentials(&previous));
    let r = e.onboard.enqueue(change, None).await.unwrap();
    let run = e.finish(&r.run_id, 40).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    let after = keys(&e, ":whsecret:*").await;
    assert_eq!(after.len(), before.len(), "{after:?}");
    assert!(
        after.iter().all(|k| !before.contains(k)),
        "the previous user's webhooks were deleted, so were their secrets: {after:?}"
    );
    let owner = format!("/{}/", new.resource_id);
    assert!(after.iter().all(|k| k.contains(&owner)), "{after:?}");
}

#[tokio::test]
async fn a_record_that_does_not_open_fails_the_run_at_once() {
    let e = env(&["acme", "globex"]).await;
    let a = seed(&e.sim, "acme", SeedApiUser::default());
    let g = seed(&e.sim, "globex", SeedApiUser::default());
    let acme = e
        .onboard
        .enqueue(request(RunKind::Onboard, "acme", &a), None)
        .await
        .unwrap();
    let globex = e
        .onboard
        .enqueue(request(RunKind::Onboard, "globex", &g), None)
        .await
        .unwrap();
    // Whoever can write to Redis points globex's run at acme's sealed credentials.
    let acme_run = e.onboard.runs.get(&acme.run_id).await.unwrap().unwrap();
    let globex_run = e.onboard.runs.get(&globex.run_id).await.unwrap().unwrap();
    let client = redis::Client::open(e.redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let cred = |id: &str| format!("{}:cred:{id}", e.worker_env.prefix);
    let raw: Vec<u8> = conn
        .get(cred(&acme_run.request.credentials.new.0))
        .await
        .unwrap();
    let _: () = conn
        .set(cred(&globex_run.request.credentials.new.0), raw)
        .await
        .unwrap();
    let _w = e.worker(2);
    let run = e.finish(&globex.run_id, 30).await;
    assert_eq!(run.state, RunState::Failed, "{:#?}", summary(&run));
    let step = run.step(StepName::ResolveZone).unwrap();
    assert_eq!(step.attempts, 1, "permanent: no retries spent");
    let reason = failed_reason(&run);
    assert!(reason.contains("cannot be opened"), "{reason}");
    assert!(reason.contains("new credentials"), "{reason}");
    // Nothing was done in globex with acme's credentials, and acme's run is unharmed.
    assert!(ticket_webhooks(&e.sim, "globex").is_empty());
    let acme_done = e.finish(&acme.run_id, 30).await;
    assert_eq!(acme_done.state, RunState::Succeeded);
}

#[tokio::test]
async fn a_tenant_is_bound_to_the_database_of_its_first_success() {
    let e = env(&["acme", "globex"]).await;
    let a = seed(&e.sim, "acme", SeedApiUser::default());
    let g = seed(&e.sim, "globex", SeedApiUser::default());
    let _w = e.worker(2);
    e.onboarded("acme", &a).await;
    // The worker binds the tenant right after it records the run's success: wait for it.
    wait_for(10, "acme bound to its database", || async {
        e.onboard.bound_database("acme").await.unwrap().is_some()
    })
    .await;
    let bound = e.onboard.bound_database("acme").await.unwrap();
    assert!(
        bound.as_deref().is_some_and(|d| d.starts_with("ci:")),
        "{bound:?}"
    );
    let hooks = ticket_webhooks(&e.sim, "globex").len();
    // A mixed-up request: tenant "acme" with globex's credentials.
    let mut req = request(RunKind::Onboard, "acme", &g);
    req.idempotency_key = Some("mixed-up".into());
    let r = e.onboard.enqueue(req, None).await.unwrap();
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Failed, "{:#?}", summary(&run));
    let reason = failed_reason(&run);
    assert!(
        reason.contains(&format!(
            "tenant acme is bound to Autotask database {}",
            bound.unwrap()
        )),
        "{reason}"
    );
    assert!(reason.contains("refusing"), "{reason}");
    let failed = run
        .steps
        .iter()
        .find(|s| s.state.status().as_str() == "failed");
    assert_eq!(failed.map(|s| s.attempts), Some(1), "permanent");
    assert_eq!(
        ticket_webhooks(&e.sim, "globex").len(),
        hooks,
        "globex untouched"
    );
    // Users of one run in two databases are refused too (an unbound tenant).
    let mut req = request(RunKind::Onboard, "initech", &g);
    req.admin = Some(credentials(&a));
    let r = e.onboard.enqueue(req, None).await.unwrap();
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Failed, "{:#?}", summary(&run));
    assert!(
        failed_reason(&run).contains("every user of a run must belong to one database"),
        "{}",
        failed_reason(&run)
    );
    assert_eq!(e.onboard.bound_database("initech").await.unwrap(), None);
}

#[tokio::test]
async fn a_budget_deferred_run_records_one_audit_entry_per_deferral_period() {
    let e = env(&["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    // The tenant's hourly budget is used up: every check defers (1 s apart here).
    e.sim.db("acme").unwrap().set_hourly_threshold(1);
    let _w = e.worker(2);
    let r = e
        .onboard
        .enqueue(request(RunKind::Onboard, "acme", &user), None)
        .await
        .unwrap();
    let seen = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let deferrals = |run: &onboarding_steps::run::Run| {
        run.audit
            .iter()
            .filter(|a| a.detail.starts_with(onboarding_steps::run::BUDGET_DEFERRED))
            .count()
    };
    let run = e
        .until(&r.run_id, 30, "the deferral is re-checked 4 times", |run| {
            let mut seen = seen.lock().unwrap();
            if deferrals(run) > 0 {
                seen.insert(run.updated_at);
            }
            seen.len() >= 4
        })
        .await;
    assert_eq!(deferrals(&run), 1, "{:#?}", run.audit);
    assert_eq!(run.state, RunState::Running);
    // (The client's pacer keeps the budget it read for minutes, so recovery is not awaited.)
    e.onboard.cancel(&r.run_id, "anna").await.unwrap();
}
