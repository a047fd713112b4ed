//! Every run kind reaches `succeeded` through the queue, including the demo's three stories
//! (acme: onboarding by the book; globex: a changeover whose previous user is inactive;
//! initech: a missing webhook permission fixed by the operator halfway), each against the
//! default and the strict simulator; and enqueueing is idempotent and validated.

use autotask_sim::{Profile, SeedApiUser};
use onboarding_steps::run::{RunKind, RunState, StepState};
use onboarding_steps::{LeftoverCheck, StepName};
use onboarding_worker::service::ServiceError;
use redis::AsyncCommands;

use crate::support::*;

both_profiles!(
    onboard_creates_one_ready_webhook_owned_by_the_new_user,
    change_api_user_with_an_inactive_previous_user_cleans_up_its_webhook,
    cleanup_webhooks_alone_removes_the_previous_users_webhooks,
    verify_makes_only_reads_and_reports_drift,
    missing_webhook_permission_waits_for_the_operator_then_completes,
    verify_after_the_previous_user_was_deactivated_outside_a_run,
);

/// Waits until `step` waits for the operator and returns its English instructions and
/// findings, one line each.
async fn operator_waits_at(e: &Env, run_id: &str, step: StepName) -> Vec<String> {
    let run = e
        .until(
            run_id,
            30,
            &format!("{step} waits for the operator"),
            |run| {
                matches!(
                    run.step(step).unwrap().state,
                    StepState::WaitingForOperator { .. }
                )
            },
        )
        .await;
    let StepState::WaitingForOperator { instructions, .. } = &run.step(step).unwrap().state else {
        unreachable!()
    };
    assert!(
        !instructions.instructions_de.is_empty(),
        "{instructions:#?}"
    );
    instructions
        .found_en
        .iter()
        .chain(&instructions.instructions_en)
        .cloned()
        .collect()
}

async fn onboard_creates_one_ready_webhook_owned_by_the_new_user(profile: Profile) {
    let e = env_in(profile, &["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    let _w = e.worker(4);
    let run = e.onboarded("acme", &user).await;
    let hooks = ticket_webhooks(&e.sim, "acme");
    assert_eq!(hooks.len(), 1, "{hooks:#?}");
    assert_eq!(hooks[0]["ownerResourceID"], user.resource_id);
    assert_eq!(
        (
            hooks[0]["isActive"].as_bool(),
            hooks[0]["isReady"].as_bool()
        ),
        (Some(true), Some(true))
    );
    let ensure = run.step(StepName::EnsureWebhooks).unwrap();
    assert_eq!(ensure.state, StepState::Succeeded { changed: true });

    // Onboarding again changes nothing (idempotent steps), with a new idempotency key.
    let mut again = request(RunKind::Onboard, "acme", &user);
    again.idempotency_key = Some("second".into());
    let r = e.onboard.enqueue(again, None).await.unwrap();
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Succeeded);
    assert_eq!(
        run.step(StepName::EnsureWebhooks).unwrap().state,
        StepState::Succeeded { changed: false }
    );
    assert_eq!(ticket_webhooks(&e.sim, "acme").len(), 1);
}

async fn change_api_user_with_an_inactive_previous_user_cleans_up_its_webhook(profile: Profile) {
    let e = env_in(profile, &["globex"]).await;
    // The strict simulator refuses PATCH Resources isActive.
    changeover_with_an_inactive_previous_user(&e, profile == Profile::Default).await;
}

/// The third reading of REST activation, outside the profiles: Autotask answers the PATCH but
/// leaves `isActive` as it was. The operator path again, not retries into a dead letter.
#[tokio::test]
async fn change_api_user_where_autotask_ignores_rest_activation() {
    let e = env_with(&["globex"], |c| {
        c.behaviour.resource_activation = autotask_sim::behaviour::ResourceActivation::Ignored;
    })
    .await;
    changeover_with_an_inactive_previous_user(&e, false).await;
}

/// globex's story: the previous user was onboarded, then deactivated; the change runs with
/// admin credentials. `by_api`: whether the simulator lets REST (de)activate it; if not, the
/// operator does it in the web interface when the run asks.
async fn changeover_with_an_inactive_previous_user(e: &Env, by_api: bool) {
    let previous = seed(&e.sim, "globex", SeedApiUser::default());
    let new = seed(
        &e.sim,
        "globex",
        SeedApiUser {
            last_name: "Two".into(),
            ..SeedApiUser::default()
        },
    );
    let admin = seed(
        &e.sim,
        "globex",
        SeedApiUser {
            last_name: "Admin".into(),
            ..SeedApiUser::default()
        },
    );
    let db = e.sim.db("globex").unwrap();
    db.set_resource_admin(admin.security_level_id, true)
        .unwrap();
    let _w = e.worker(4);
    e.onboarded("globex", &previous).await;
    db.set_active(previous.resource_id, false).unwrap();

    let mut change = request(RunKind::ChangeApiUser, "globex", &new);
    change.previous_user = Some(credentials(&previous));
    change.admin = Some(credentials(&admin));
    let r = e.onboard.enqueue(change, None).await.unwrap();
    if !by_api {
        // Autotask does not (de)activate through REST: the operator path, never a dead letter.
        let lines = operator_waits_at(e, &r.run_id, StepName::ReactivatePreviousUser).await;
        assert!(
            lines.iter().any(|l| l.contains("did not activate"))
                && lines.iter().any(|l| l.contains("Tick Active")),
            "{lines:#?}"
        );
        db.set_active(previous.resource_id, true).unwrap();
        let lines = operator_waits_at(e, &r.run_id, StepName::DeactivatePreviousUser).await;
        assert!(
            lines.iter().any(|l| l.contains("did not deactivate"))
                && lines.iter().any(|l| l.contains("untick Active")),
            "{lines:#?}"
        );
        db.set_active(previous.resource_id, false).unwrap();
    }
    let run = e.finish(&r.run_id, 40).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    // Through the API, or by the operator and re-checked: then the step changed nothing
    // itself.
    for (step, changed) in [
        (StepName::ReactivatePreviousUser, by_api),
        (StepName::DeletePreviousWebhooks, true),
        (StepName::DeactivatePreviousUser, by_api),
    ] {
        assert_eq!(
            run.step(step).unwrap().state,
            StepState::Succeeded { changed },
            "{step}: {:#?}",
            summary(&run)
        );
    }
    // The previous user is inactive again, so its credentials are rejected at the end: the
    // audit relies on the cleanup's own read with them.
    assert_eq!(
        run.facts.changeover_leftovers,
        Some(LeftoverCheck::AtCleanup)
    );
    assert!(run.facts.notes().is_empty(), "{:?}", run.facts.notes());
    let hooks = ticket_webhooks(&e.sim, "globex");
    let owners: Vec<_> = hooks
        .iter()
        .map(|h| h["ownerResourceID"].as_i64().unwrap())
        .collect();
    assert_eq!(
        owners,
        vec![new.resource_id],
        "only the new user's webhook is left"
    );
    assert!(
        !db.api_user(previous.resource_id).unwrap().active,
        "the previous user is inactive again"
    );
}

async fn cleanup_webhooks_alone_removes_the_previous_users_webhooks(profile: Profile) {
    let e = env_in(profile, &["initech"]).await;
    let previous = seed(&e.sim, "initech", SeedApiUser::default());
    let new = seed(
        &e.sim,
        "initech",
        SeedApiUser {
            last_name: "Two".into(),
            ..SeedApiUser::default()
        },
    );
    let _w = e.worker(4);
    e.onboarded("initech", &previous).await;
    e.onboarded("initech", &new).await;
    assert_eq!(ticket_webhooks(&e.sim, "initech").len(), 2);

    let mut cleanup = request(RunKind::CleanupWebhooks, "initech", &new);
    cleanup.previous_user = Some(credentials(&previous));
    let r = e.onboard.enqueue(cleanup, None).await.unwrap();
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    assert_eq!(
        run.facts.changeover_leftovers,
        Some(LeftoverCheck::PreviousCredentials),
        "read with the previous user's own credentials"
    );
    let owners: Vec<_> = ticket_webhooks(&e.sim, "initech")
        .iter()
        .map(|h| h["ownerResourceID"].as_i64().unwrap())
        .collect();
    assert_eq!(
        owners,
        vec![new.resource_id],
        "only the new user's webhook is left"
    );
    assert!(
        e.sim
            .db("initech")
            .unwrap()
            .api_user(previous.resource_id)
            .unwrap()
            .active,
        "an active previous user stays active"
    );
}

async fn verify_makes_only_reads_and_reports_drift(profile: Profile) {
    let e = env_in(profile, &["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    let _w = e.worker(4);
    e.onboarded("acme", &user).await;

    e.sim.clear_requests();
    let r = e
        .onboard
        .enqueue(request(RunKind::Verify, "acme", &user), None)
        .await
        .unwrap();
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    let requests = e.sim.requests();
    let writes: Vec<_> = requests
        .iter()
        .filter(|r| r.method != "GET" && !r.path.to_ascii_lowercase().contains("/query"))
        .collect();
    assert!(writes.is_empty(), "a verify run wrote: {writes:#?}");
    println!("verify of a converged tenant: {} reads", requests.len());

    // Drift: someone deletes the webhook; verify fails and says what is missing.
    let id = ticket_webhooks(&e.sim, "acme")[0]["id"].as_i64().unwrap();
    let client = autotask_client::AutotaskClient::new(autotask_client::ClientConfig::new(
        autotask_client::Target::Explicit(url::Url::parse(e.sim.base_url()).unwrap()),
    ))
    .unwrap();
    let tenant = client
        .tenant(autotask_client::Credentials::new(
            &user.integration_code,
            &user.user_name,
            &user.secret,
        ))
        .await
        .unwrap();
    tenant
        .delete(&autotask_types::WebhookFamily::Ticket.webhooks(), id)
        .await
        .unwrap();
    let mut again = request(RunKind::Verify, "acme", &user);
    again.idempotency_key = Some("verify-2".into());
    let r = e.onboard.enqueue(again, None).await.unwrap();
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Failed);
    let StepState::Failed { reason, .. } = &run.step(StepName::EnsureWebhooks).unwrap().state
    else {
        panic!("{:#?}", summary(&run));
    };
    assert!(reason.contains("drift"), "{reason}");
    assert!(
        ticket_webhooks(&e.sim, "acme").is_empty(),
        "verify must not repair"
    );
}

async fn missing_webhook_permission_waits_for_the_operator_then_completes(profile: Profile) {
    let e = env_in(profile, &["initech"]).await;
    let user = seed(
        &e.sim,
        "initech",
        SeedApiUser {
            webhook_max: None,
            ..SeedApiUser::default()
        },
    );
    let _w = e.worker(4);
    let r = e
        .onboard
        .enqueue(request(RunKind::Onboard, "initech", &user), None)
        .await
        .unwrap();
    let run = e
        .until(&r.run_id, 30, "waiting for the webhook permission", |run| {
            run.state == RunState::WaitingForOperator
                && matches!(
                    run.step(StepName::VerifyWebhookPermission).unwrap().state,
                    StepState::WaitingForOperator { .. }
                )
        })
        .await;
    let StepState::WaitingForOperator { instructions, .. } =
        &run.step(StepName::VerifyWebhookPermission).unwrap().state
    else {
        unreachable!()
    };
    assert!(
        instructions
            .instructions_en
            .iter()
            .any(|l| l.contains("Webhooks")),
        "{instructions:#?}"
    );
    assert!(!instructions.instructions_de.is_empty());

    let db = e.sim.db("initech").unwrap();
    let system = db
        .security_levels()
        .into_iter()
        .find(|l| l.name == "API User (system)")
        .unwrap();
    let copy = db
        .copy_security_level(system.id, "API User (webhooks)")
        .unwrap();
    db.set_webhook_permission(copy.id, true, 10).unwrap();
    db.assign_security_level(user.resource_id, copy.id).unwrap();
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    assert!(
        run.step(StepName::VerifyWebhookPermission)
            .unwrap()
            .attempts
            >= 2
    );
    assert_eq!(ticket_webhooks(&e.sim, "initech").len(), 1);
}

#[tokio::test]
async fn enqueue_is_idempotent_and_validated() {
    let e = env(&["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    let mut req = request(RunKind::Onboard, "acme", &user);
    req.idempotency_key = Some("portal-42".into());
    let first = e.onboard.enqueue(req.clone(), None).await.unwrap();
    let second = e.onboard.enqueue(req.clone(), None).await.unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.run_id, second.run_id);
    assert_eq!(
        e.onboard.queue.counts().await.unwrap().ready,
        1,
        "one job for one run"
    );

    let mut other = req.clone();
    other.tenant_name = "Another name".into();
    match e.onboard.enqueue(other, None).await {
        Err(ServiceError::Conflict { run, .. }) => assert_eq!(run, first.run_id),
        other => panic!("{other:?}"),
    }
    let mut bad = req.clone();
    bad.idempotency_key = Some("bad".into());
    bad.tenant_id = "acme corp!".into();
    let err = e.onboard.enqueue(bad, None).await.unwrap_err().to_string();
    assert!(err.contains("tenant_id"), "{err}");
    let mut bad = req;
    bad.idempotency_key = Some("bad-2".into());
    bad.new_user.secret = String::new();
    let err = e.onboard.enqueue(bad, None).await.unwrap_err().to_string();
    assert_eq!(err, "invalid request: new_user.secret: must not be empty");
    assert_eq!(
        e.onboard
            .runs
            .list(&Default::default(), 0, 10)
            .await
            .unwrap()
            .len(),
        1,
        "bad requests store nothing"
    );
}

#[tokio::test]
async fn a_dry_run_reports_the_planned_calls_and_changes_nothing() {
    let e = env(&["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    let _w = e.worker(2);
    let mut req = request(RunKind::Onboard, "acme", &user);
    req.dry_run = true;
    let r = e.onboard.enqueue(req, None).await.unwrap();
    let run = e.finish(&r.run_id, 30).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    let report = &run.audit.last().unwrap().detail;
    assert!(
        report.contains("dry run of onboard for tenant acme"),
        "{report}"
    );
    assert!(report.contains("ensure_webhooks: would make"), "{report}");
    assert!(report.contains("POST TicketWebhooks"), "{report}");
    assert!(
        ticket_webhooks(&e.sim, "acme").is_empty(),
        "a dry run wrote"
    );
    let writes = e
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.to_ascii_lowercase().contains("/query"))
        .count();
    assert_eq!(writes, 0);
}

/// The previous user was deactivated in Autotask without a cleanup (its webhook stays,
/// inactive), and a `verify` run is given its credentials, which are now rejected. The new
/// user sees the leftover where Autotask shows other owners' webhooks (default): drift. Where
/// they are hidden (strict), nothing seen proves nothing: the run says the leftovers could not
/// be checked instead of passing silently.
async fn verify_after_the_previous_user_was_deactivated_outside_a_run(profile: Profile) {
    let e = env_in(profile, &["hooli"]).await;
    let previous = seed(&e.sim, "hooli", SeedApiUser::default());
    let new = seed(
        &e.sim,
        "hooli",
        SeedApiUser {
            last_name: "Two".into(),
            ..SeedApiUser::default()
        },
    );
    let _w = e.worker(4);
    e.onboarded("hooli", &previous).await;
    e.onboarded("hooli", &new).await;
    e.sim
        .db("hooli")
        .unwrap()
        .set_active(previous.resource_id, false)
        .unwrap();

    let mut verify = request(RunKind::Verify, "hooli", &new);
    verify.previous_user = Some(credentials(&previous));
    let r = e.onboard.enqueue(verify, None).await.unwrap();
    let run = e.finish(&r.run_id, 30).await;
    match profile {
        Profile::Default => {
            assert_eq!(run.state, RunState::Failed, "{:#?}", summary(&run));
            let StepState::Failed { reason, .. } =
                &run.step(StepName::VerifyChangeover).unwrap().state
            else {
                panic!("{:#?}", summary(&run));
            };
            assert!(reason.contains("of the previous user"), "{reason}");
        }
        Profile::Strict => {
            assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
            assert!(
                matches!(
                    run.facts.changeover_leftovers,
                    Some(LeftoverCheck::NotChecked { .. })
                ),
                "{:?}",
                run.facts.changeover_leftovers
            );
            let notes = run.facts.notes();
            assert_eq!(notes.len(), 1, "{notes:?}");
            assert!(notes[0].contains("could NOT be checked"), "{}", notes[0]);
            // The HTTP API has the fact, the dashboard shows the note.
            let (api, dashboard) = api_and_dashboard(&e, &r.run_id).await;
            assert_eq!(
                api["facts"]["changeover_leftovers"]["check"], "not_checked",
                "{api:#}"
            );
            assert!(dashboard.contains("could NOT be checked"), "{dashboard}");
        }
    }
    // Either way the leftover is still there: a verify run never writes.
    let owners: Vec<_> = ticket_webhooks(&e.sim, "hooli")
        .iter()
        .map(|h| h["ownerResourceID"].as_i64().unwrap())
        .collect();
    assert!(owners.contains(&previous.resource_id), "{owners:?}");
}

/// The run as the HTTP API returns it and its dashboard page, from the API served on
/// loopback over this test's service.
async fn api_and_dashboard(e: &Env, run_id: &str) -> (serde_json::Value, String) {
    let router = onboarding_api::router(
        e.onboard.clone(),
        onboarding_api::ApiConfig {
            token: Some("e2e-token".into()),
            trace_links: onboarding_telemetry::TraceLinks::none(),
            hosts: Vec::new(),
            ..Default::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let http = reqwest::Client::new();
    let api = http
        .get(format!("{base}/v1/runs/{run_id}"))
        .bearer_auth("e2e-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dashboard = http
        .get(format!("{base}/dashboard/runs/{run_id}"))
        .basic_auth("e2e-operator", Some("e2e-token"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    server.abort();
    (api, dashboard)
}

/// Run listings page through the indexes: every page is the next slice, newest first, with
/// filters, across more runs than one index page (200).
#[tokio::test]
async fn run_listings_page_newest_first_with_filters() {
    let e = env(&["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    let mut ids = Vec::new();
    for i in 0..230 {
        let mut r = request(
            RunKind::Verify,
            if i % 2 == 0 { "acme" } else { "beta" },
            &user,
        );
        r.idempotency_key = Some(format!("k{i}"));
        ids.push(e.onboard.enqueue(r, None).await.unwrap().run_id);
    }
    e.onboard.cancel(&ids[3], "olga").await.unwrap();
    ids.reverse(); // newest first
    let all = Default::default();
    let page = |offset, limit, filter| {
        let e = &e;
        async move {
            e.onboard
                .runs
                .list(filter, offset, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page(0, 10, &all).await, ids[..10]);
    assert_eq!(
        page(195, 10, &all).await,
        ids[195..205],
        "across an index page"
    );
    assert_eq!(page(225, 10, &all).await, ids[225..]);
    let beta = onboarding_worker::runs::RunFilter {
        tenant: Some("beta".into()),
        state: None,
    };
    // beta's runs are the odd ones in enqueue order.
    let betas: Vec<_> = ids
        .iter()
        .enumerate()
        .filter(|(j, _)| (229 - j) % 2 == 1)
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(betas.len(), 115);
    assert_eq!(page(0, 500, &beta).await, betas);
    assert_eq!(page(100, 10, &beta).await, betas[100..110]);
    let cancelled = onboarding_worker::runs::RunFilter {
        tenant: Some("beta".into()),
        state: Some(RunState::Cancelled),
    };
    assert_eq!(page(0, 10, &cancelled).await, [ids[226].clone()]);
    assert!(page(1, 10, &cancelled).await.is_empty());
}

/// Calls of one Redis command since the last `CONFIG RESETSTAT` (`INFO commandstats`).
async fn calls(conn: &mut redis::aio::MultiplexedConnection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// A state filter alone pages through that state's sorted set (newest first, across more
/// than one index page of 200): a page of 10 reads 10 records and never the whole state;
/// an earlier version's unordered state set is moved into the sorted set once.
#[tokio::test]
async fn state_listings_page_through_the_states_index() {
    let e = env(&["acme"]).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    let mut ids = Vec::new();
    for i in 0..230 {
        let mut r = request(RunKind::Verify, "acme", &user);
        r.idempotency_key = Some(format!("s{i}"));
        ids.push(e.onboard.enqueue(r, None).await.unwrap().run_id);
    }
    let cancelled: Vec<String> = [7, 100, 201, 229].iter().map(|&i| ids[i].clone()).collect();
    for id in &cancelled {
        e.onboard.cancel(id, "olga").await.unwrap();
    }
    ids.reverse(); // newest first
    let queued: Vec<String> = ids
        .iter()
        .filter(|id| !cancelled.contains(id))
        .cloned()
        .collect();
    let by_state = |state| onboarding_worker::runs::RunFilter {
        state: Some(state),
        tenant: None,
    };
    let page = |offset, limit, state| {
        let e = &e;
        async move {
            e.onboard
                .runs
                .list(&by_state(state), offset, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    let client = redis::Client::open(e.redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        page(195, 10, RunState::Queued).await,
        queued[195..205],
        "across an index page"
    );
    assert_eq!(calls(&mut conn, "smembers").await, 0, "no whole-set read");
    assert_eq!(
        calls(&mut conn, "hmget").await,
        10,
        "one record read per listed run"
    );
    assert_eq!(page(0, 500, RunState::Queued).await, queued);
    assert_eq!(page(220, 10, RunState::Queued).await, queued[220..]);
    let mut newest_first = cancelled.clone();
    newest_first.reverse();
    assert_eq!(page(0, 10, RunState::Cancelled).await, newest_first);
    assert_eq!(page(1, 2, RunState::Cancelled).await, newest_first[1..3]);

    // An earlier version kept each state in an unordered set: migrate() moves it once.
    let prefix = &e.worker_env.prefix;
    let _: () = conn
        .del(format!("{{{prefix}}}:runs:by-state:cancelled"))
        .await
        .unwrap();
    let _: () = conn
        .sadd(format!("{{{prefix}}}:runs:state:cancelled"), &cancelled)
        .await
        .unwrap();
    assert!(page(0, 10, RunState::Cancelled).await.is_empty());
    assert_eq!(e.onboard.runs.migrate().await.unwrap(), 4);
    assert_eq!(page(0, 10, RunState::Cancelled).await, newest_first);
    assert_eq!(e.onboard.runs.migrate().await.unwrap(), 0, "done once");
    let old: bool = conn
        .exists(format!("{{{prefix}}}:runs:state:cancelled"))
        .await
        .unwrap();
    assert!(!old, "the old set is gone");
}
