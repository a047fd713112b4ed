//! Continuous care: scheduled drift checks and Autotask's deactivation callouts, end to end
//! (real Redis, the simulator delivering real callouts, workers, the HTTP API on loopback).
//!
//! - the schedule spreads the checks over the period, checks each tenant once per period
//!   (two schedulers ticking at once included), and a clean tenant's check finds nothing;
//! - each kind of drift opens the right run: a deactivated or deleted webhook a repair that
//!   restores it, a lost webhook permission or a deactivated API user a repair that waits
//!   for the operator at the step that says what to do;
//! - the simulator gives up on a webhook after failed deliveries and calls its deactivation
//!   URL: the API opens one repair run and the webhook is active again;
//! - forged, unknown and malformed callouts are refused, counted, and open nothing;
//! - a change of API user moves care to the new user, and the deactivation callouts of the
//!   previous user's deleted webhooks open no repair.
//!
//! The schedule's clock is an argument (`drift_tick(period, now)`): no test waits for time.

use std::collections::BTreeMap;
use std::time::Duration;

use autotask_sim::{CalloutConfig, SeedApiUser, SeededApiUser};
use autotask_types::{Webhook, WebhookFamily};
use onboarding_steps::Timestamp;
use onboarding_steps::run::{RunKind, RunState};
use onboarding_worker::care::{DriftFinding, DriftKind, FindingSource};
use onboarding_worker::service::EnqueueRequest;
use serde_json::json;

use crate::support::*;

const PERIOD: Duration = Duration::from_secs(600);

/// A period boundary far from now, so checks' period numbers are easy to name.
const T0: u64 = 3_000_000 * 600_000;

/// `request` with the deactivation URLs pointing at `base` (when given).
fn care_request(tenant: &str, user: &SeededApiUser, base: Option<&str>) -> EnqueueRequest {
    let mut r = request(RunKind::Onboard, tenant, user);
    r.settings.deactivation_url_base = base.map(str::to_owned);
    r
}

/// Onboards the tenant and waits until it is under care (the worker registers it right after
/// it records the run's success).
async fn onboard_with(e: &Env, r: EnqueueRequest) {
    let tenant = r.tenant_id.clone();
    let run = e.onboard.enqueue(r, None).await.unwrap();
    let run = e.finish(&run.run_id, 30).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    care_until(e, &tenant, |c| c.run_id == run.id).await;
}

/// Waits until the findings satisfy `check`.
async fn findings_until(
    e: &Env,
    what: &str,
    check: impl Fn(&[DriftFinding]) -> bool,
) -> Vec<DriftFinding> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found = e.onboard.findings(None, 1000).await.unwrap();
        if check(&found) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} did not happen in 30 s: {found:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ms(t: u64) -> Timestamp {
    Timestamp(t)
}

#[tokio::test]
async fn drift_checks_spread_over_the_period_and_run_each_tenant_once() {
    let names = ["t1", "t2", "t3", "t4", "t5", "t6", "t7"];
    let e = env(&names).await;
    let _w = e.worker(8);
    for t in names {
        let user = seed(&e.sim, t, SeedApiUser::default());
        onboard_with(&e, care_request(t, &user, None)).await;
    }
    let p = PERIOD.as_millis() as u64;
    // The first tick starts the schedule; nothing is due yet.
    assert!(
        e.onboard
            .drift_tick(PERIOD, ms(T0))
            .await
            .unwrap()
            .checks
            .is_empty()
    );
    // Ten ticks across one period: each tenant is checked in the tick whose tenth of the
    // period holds its phase, so the checks are spread, not bunched.
    let mut phases = BTreeMap::new();
    let mut conn = redis::Client::open(e.redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for t in names {
        let phase: f64 = redis::cmd("ZSCORE")
            .arg(e.onboard.care_phases_key())
            .arg(t)
            .query_async(&mut conn)
            .await
            .unwrap();
        phases.insert(t.to_owned(), phase);
    }
    let mut checked: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut per_tick = Vec::new();
    for i in 1..=10u64 {
        let report = e
            .onboard
            .drift_tick(PERIOD, ms(T0 + p * i / 10))
            .await
            .unwrap();
        for (tenant, run, created) in &report.checks {
            assert!(created, "{tenant}: a check enqueued twice");
            let phase = phases[tenant];
            assert!(
                phase > (i - 1) as f64 / 10.0 && phase <= i as f64 / 10.0,
                "{tenant} (phase {phase}) checked in tick {i}"
            );
            checked.entry(tenant.clone()).or_default().push(run.clone());
        }
        per_tick.push(report.checks.len());
    }
    assert_eq!(checked.len(), names.len(), "{checked:?}");
    assert!(checked.values().all(|runs| runs.len() == 1), "{checked:?}");
    assert!(
        per_tick.iter().all(|n| *n <= 2),
        "seven tenants over ten ticks bunched: {per_tick:?}"
    );
    // Ticking the same moment again enqueues nothing.
    assert!(
        e.onboard
            .drift_tick(PERIOD, ms(T0 + p))
            .await
            .unwrap()
            .checks
            .is_empty()
    );
    // The next period, two schedulers (two workers' connections) tick at once: one check
    // per tenant between them.
    let other = e.worker_env.connect().await.unwrap();
    let (a, b) = tokio::join!(
        e.onboard.drift_tick(PERIOD, ms(T0 + 2 * p)),
        other.drift_tick(PERIOD, ms(T0 + 2 * p)),
    );
    let mut second: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for (tenant, run, created) in a.unwrap().checks.into_iter().chain(b.unwrap().checks) {
        second.entry(tenant).or_default().push((run, created));
    }
    assert_eq!(second.len(), names.len(), "{second:?}");
    for (tenant, runs) in &second {
        assert_eq!(
            runs.iter().filter(|(_, c)| *c).count(),
            1,
            "{tenant}: {runs:?}"
        );
        assert!(
            runs.iter().all(|(r, _)| *r == runs[0].0),
            "{tenant}: {runs:?}"
        );
        assert!(
            !checked[tenant].contains(&runs[0].0),
            "{tenant}: same run as period 1"
        );
    }
    // Every check of a clean tenant succeeds with nothing found.
    let all = checked
        .values()
        .flatten()
        .chain(second.values().map(|runs| &runs[0].0));
    for run in all {
        let run = e.finish(run, 30).await;
        assert_eq!(run.request.kind, RunKind::Verify);
        assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    }
    assert!(e.onboard.findings(None, 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn each_kind_of_drift_opens_the_right_repair() {
    let names = ["deactivated", "deleted", "permission", "inactive"];
    let e = env(&names).await;
    let _w = e.worker(8);
    let mut users = BTreeMap::new();
    for t in names {
        let user = seed(&e.sim, t, SeedApiUser::default());
        onboard_with(&e, care_request(t, &user, None)).await;
        users.insert(t, user);
    }
    // Drift, as people and Autotask cause it.
    let client = autotask_client::AutotaskClient::new(autotask_client::ClientConfig::new(
        autotask_client::Target::Explicit(url::Url::parse(e.sim.base_url()).unwrap()),
    ))
    .unwrap();
    for t in ["deactivated", "deleted"] {
        let u = &users[t];
        let tenant = client
            .tenant(autotask_client::Credentials::new(
                &u.integration_code,
                &u.user_name,
                &u.secret,
            ))
            .await
            .unwrap();
        let id = ticket_webhooks(&e.sim, t)[0]["id"].as_i64().unwrap();
        let endpoint = WebhookFamily::Ticket.webhooks();
        if t == "deleted" {
            tenant.delete(&endpoint, id).await.unwrap();
        } else {
            let patch = Webhook {
                id: Some(autotask_types::Id::new(id)),
                is_active: Some(false),
                ..Webhook::default()
            };
            tenant.update(&endpoint, &patch).await.unwrap();
        }
    }
    let level = users["permission"].security_level_id;
    e.sim
        .db("permission")
        .unwrap()
        .set_webhook_permission(level, false, 0)
        .unwrap();
    e.sim
        .db("inactive")
        .unwrap()
        .set_active(users["inactive"].resource_id, false)
        .unwrap();
    // One period of the schedule.
    let p = PERIOD.as_millis() as u64;
    e.onboard.drift_tick(PERIOD, ms(T0)).await.unwrap();
    let report = e.onboard.drift_tick(PERIOD, ms(T0 + p)).await.unwrap();
    assert_eq!(report.checks.len(), names.len(), "{report:?}");
    let found = findings_until(&e, "a finding per tenant", |f| f.len() == names.len()).await;
    let by_tenant: BTreeMap<&str, &DriftFinding> =
        found.iter().map(|f| (f.tenant_id.as_str(), f)).collect();
    for (tenant, kind) in [
        ("deactivated", DriftKind::Webhook),
        ("deleted", DriftKind::Webhook),
        ("permission", DriftKind::Permission),
        ("inactive", DriftKind::ApiUser),
    ] {
        let f = by_tenant[tenant];
        assert_eq!(
            (f.kind, f.source),
            (kind, FindingSource::Schedule),
            "{f:#?}"
        );
        assert!(f.check_run.is_some() && f.repair_run.is_some(), "{f:#?}");
    }
    // Webhook drift: the repair puts the webhook back, active.
    for tenant in ["deactivated", "deleted"] {
        let repair = e
            .finish(by_tenant[tenant].repair_run.as_ref().unwrap(), 30)
            .await;
        assert_eq!(repair.request.kind, RunKind::Repair);
        assert_eq!(repair.state, RunState::Succeeded, "{:#?}", summary(&repair));
        let hooks = ticket_webhooks(&e.sim, tenant);
        assert_eq!(hooks.len(), 1, "{tenant}: {hooks:#?}");
        assert_eq!(hooks[0]["isActive"], true, "{tenant}: {hooks:#?}");
    }
    // Operator drift: the repair waits at the step whose instructions fix it; the check
    // itself is cancelled, not left waiting beside it.
    for (tenant, step) in [
        ("permission", "verify_webhook_permission"),
        ("inactive", "verify_api_user"),
    ] {
        let f = by_tenant[tenant];
        let repair = e
            .until(
                f.repair_run.as_ref().unwrap(),
                30,
                "the repair waits",
                |r| r.state == RunState::WaitingForOperator,
            )
            .await;
        let waiting: Vec<_> = repair
            .steps
            .iter()
            .filter_map(|s| match &s.state {
                onboarding_steps::run::StepState::WaitingForOperator { instructions, .. } => {
                    Some(instructions.step.as_str())
                }
                _ => None,
            })
            .collect();
        assert_eq!(waiting, [step], "{:#?}", summary(&repair));
        let check = e
            .onboard
            .runs
            .get(f.check_run.as_ref().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(check.state, RunState::Cancelled, "{:#?}", summary(&check));
    }
    // A second finding while the repair is open gets the same repair run.
    let again = e.onboard.open_repair("permission").await.unwrap().unwrap();
    assert_eq!(
        Some(&again.run_id),
        by_tenant["permission"].repair_run.as_ref()
    );
    assert!(!again.created);
}

/// The API (runs, drift) and the callout route on loopback; returns its base URL.
async fn serve_api(e: &Env) -> (String, tokio::task::JoinHandle<()>) {
    let router = onboarding_api::router(
        e.onboard.clone(),
        onboarding_api::ApiConfig {
            token: Some("e2e-token".into()),
            ..Default::default()
        },
    )
    .merge(onboarding_api::callouts::router(
        e.onboard.clone(),
        onboarding_api::callouts::DEFAULT_PATH,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (base, server)
}

/// Webhook deliveries fail at once (nothing listens on port 1), one attempt each, and the
/// webhook is given up after two failures.
fn failing_deliveries(c: &mut autotask_sim::SimConfig) {
    c.callouts = CalloutConfig {
        timeout_ms: 2_000,
        max_attempts: 1,
        retry_delay_ms: 1,
        deactivate_after_failures: 2,
    };
}

fn https_port_1(r: &mut EnqueueRequest) {
    r.settings.webhook_url_base = "https://127.0.0.1:1/hooks".into();
}

#[tokio::test]
async fn a_deactivation_callout_from_the_simulator_leads_to_a_repair() {
    let e = env_with(&["acme"], failing_deliveries).await;
    let _w = e.worker(4);
    let (base, _server) = serve_api(&e).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    let mut r = care_request("acme", &user, Some(&format!("{base}/callouts/deactivated")));
    https_port_1(&mut r);
    onboard_with(&e, r).await;
    let hook = &ticket_webhooks(&e.sim, "acme")[0];
    assert_eq!(
        hook["deactivationUrl"],
        format!(
            "{base}/callouts/deactivated/acme/{}/ticket",
            user.resource_id
        )
    );
    // Two ticket events whose deliveries fail: Autotask gives the webhook up and calls us.
    let db = e.sim.db("acme").unwrap();
    let ticket = db.create_ticket(&serde_json::Map::new(), None).unwrap();
    let mut status = serde_json::Map::new();
    status.insert("status".into(), json!(8));
    db.update_ticket(ticket, &status, None).unwrap();
    let found = findings_until(&e, "the callout's finding", |f| {
        f.iter().any(|f| f.source == FindingSource::Callout)
    })
    .await;
    let finding = &found[0];
    assert_eq!(
        (finding.tenant_id.as_str(), finding.kind),
        ("acme", DriftKind::Deactivated)
    );
    let callouts = e.sim.callouts();
    let notice = callouts
        .iter()
        .find(|c| c.action == "Deactivated")
        .expect("the simulator sent a deactivation callout");
    assert_eq!(notice.status, Some(202), "{notice:?}");
    let repair = e.finish(finding.repair_run.as_ref().unwrap(), 30).await;
    assert_eq!(repair.request.kind, RunKind::Repair);
    assert_eq!(repair.state, RunState::Succeeded, "{:#?}", summary(&repair));
    let hooks = ticket_webhooks(&e.sim, "acme");
    assert_eq!(hooks.len(), 1, "{hooks:#?}");
    assert_eq!(
        hooks[0]["isActive"], true,
        "the webhook is active again: {hooks:#?}"
    );
    // The API lists it.
    let listed: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/v1/drift?tenant=acme"))
        .bearer_auth("e2e-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["findings"][0]["kind"], "deactivated", "{listed:#}");
    assert_eq!(
        listed["findings"][0]["repair_run"],
        json!(repair.id),
        "{listed:#}"
    );
    assert_eq!(listed["refused_callouts"], 0, "{listed:#}");

    // The tenant under care over the API: shown without its secret, checked now (a clean
    // check), taken out of care.
    care_until(&e, "acme", |c| c.run_id == repair.id).await;
    let http = reqwest::Client::new();
    let care = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{base}/v1/care/{path}"))
            .bearer_auth("e2e-token")
            .send()
    };
    let shown = care(reqwest::Method::GET, "acme").await.unwrap();
    assert_eq!(shown.status(), 200);
    let text = shown.text().await.unwrap();
    assert!(
        !text.contains(&user.secret) && !text.contains("credentials"),
        "{text}"
    );
    let shown: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        shown["care"]["user_name"],
        json!(user.user_name),
        "{shown:#}"
    );
    assert_eq!(
        shown["care"]["run_id"],
        json!(repair.id),
        "the repair refreshed it"
    );
    assert_eq!(shown["findings"][0]["kind"], "deactivated", "{shown:#}");
    let checked = care(reqwest::Method::POST, "acme/check").await.unwrap();
    assert_eq!(checked.status(), 201);
    let checked: serde_json::Value = checked.json().await.unwrap();
    let check = e.finish(checked["run_id"].as_str().unwrap(), 30).await;
    assert_eq!(
        (check.request.kind, check.state),
        (RunKind::Verify, RunState::Succeeded),
        "{:#?}",
        summary(&check)
    );
    let forgotten = care(reqwest::Method::DELETE, "acme").await.unwrap();
    assert_eq!(forgotten.status(), 204);
    for (method, path) in [
        (reqwest::Method::GET, "acme"),
        (reqwest::Method::POST, "acme/check"),
        (reqwest::Method::DELETE, "acme"),
    ] {
        let r = care(method, path).await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "tenant acme is not under care");
    }
    assert!(e.onboard.care_record("acme").await.unwrap().is_none());
}

#[tokio::test]
async fn forged_unknown_and_malformed_callouts_are_refused_and_open_nothing() {
    let e = env(&["acme"]).await;
    let _w = e.worker(4);
    let (base, _server) = serve_api(&e).await;
    let user = seed(&e.sim, "acme", SeedApiUser::default());
    onboard_with(
        &e,
        care_request("acme", &user, Some(&format!("{base}/callouts/deactivated"))),
    )
    .await;
    let id = ticket_webhooks(&e.sim, "acme")[0]["id"].as_i64().unwrap();
    let url =
        |tenant: &str, user: i64| format!("{base}/callouts/deactivated/{tenant}/{user}/ticket");
    let ours = url("acme", user.resource_id);
    let body = |id: i64| {
        json!({"Action": "Deactivated", "Id": id, "EntityType": "TicketWebhook"}).to_string()
    };
    let http = reqwest::Client::new();
    let cases: Vec<(String, String, Option<String>, u16, &str)> = vec![
        // Signed with a key that is not the webhook's.
        (
            ours.clone(),
            body(id),
            Some(autotask_sim::signature(
                "guessed-key-123",
                body(id).as_bytes(),
            )),
            401,
            "X-Hook-Signature: does not match",
        ),
        (
            ours.clone(),
            body(id),
            None,
            401,
            "X-Hook-Signature: missing",
        ),
        // A webhook id onboard never created, another user's path, an unknown tenant.
        (ours.clone(), body(id + 1000), None, 404, "unknown webhook"),
        (
            url("acme", user.resource_id + 1),
            body(id),
            None,
            404,
            "unknown webhook",
        ),
        (
            url("nobody", user.resource_id),
            body(id),
            None,
            404,
            "unknown webhook",
        ),
        (
            format!("{base}/callouts/deactivated/acme/x/ticket"),
            body(id),
            None,
            404,
            "path: the API user",
        ),
        (
            "BODY".into(),
            "{\"Action\":\"Update\",\"Id\":1}".into(),
            None,
            400,
            "body.Action",
        ),
        (
            "BODY".into(),
            "not json".into(),
            None,
            400,
            "body: not JSON",
        ),
        (
            "BODY".into(),
            " ".repeat(20_000),
            None,
            413,
            "body: more than",
        ),
    ];
    for (target, payload, signature, status, why) in &cases {
        let target = if target == "BODY" { &ours } else { target };
        let mut req = http
            .post(target)
            .header("Content-Type", "application/json")
            .body(payload.clone());
        if let Some(s) = signature {
            req = req.header("X-Hook-Signature", s);
        }
        let answer = req.send().await.unwrap();
        assert_eq!(answer.status().as_u16(), *status, "{target} {why}");
        let text = answer.text().await.unwrap();
        assert!(text.contains(why), "{target}: {text}");
    }
    assert_eq!(
        e.onboard.refused_callouts().await.unwrap(),
        cases.len() as u64
    );
    assert!(e.onboard.findings(None, 100).await.unwrap().is_empty());
    let runs = e
        .onboard
        .runs
        .list(&Default::default(), 0, 100)
        .await
        .unwrap();
    assert!(
        runs.iter().all(|r| r.request.kind != RunKind::Repair),
        "a refused callout opened a run"
    );
}

#[tokio::test]
async fn a_change_of_api_user_moves_care_and_its_callouts_open_no_repair() {
    let e = env(&["globex"]).await;
    let (base, _server) = serve_api(&e).await;
    let callouts = format!("{base}/callouts/deactivated");
    let previous = seed(&e.sim, "globex", SeedApiUser::default());
    {
        let _w = e.worker(4);
        onboard_with(&e, care_request("globex", &previous, Some(&callouts))).await;
    }
    let care = e.onboard.care_record("globex").await.unwrap().unwrap();
    assert_eq!(care.user_id, Some(previous.resource_id));
    let new = seed(
        &e.sim,
        "globex",
        SeedApiUser {
            last_name: "Two".into(),
            ..SeedApiUser::default()
        },
    );
    let mut change = care_request("globex", &new, Some(&callouts));
    change.kind = RunKind::ChangeApiUser;
    change.previous_user = Some(credentials(&previous));
    let change = e.onboard.enqueue(change, None).await.unwrap();
    // While the change is going (queued: no worker yet), the previous user's webhook is
    // deactivated and Autotask calls its deactivation URL: genuine, and nothing to repair.
    let client = autotask_client::AutotaskClient::new(autotask_client::ClientConfig::new(
        autotask_client::Target::Explicit(url::Url::parse(e.sim.base_url()).unwrap()),
    ))
    .unwrap();
    let tenant = client
        .tenant(autotask_client::Credentials::new(
            &previous.integration_code,
            &previous.user_name,
            &previous.secret,
        ))
        .await
        .unwrap();
    let id = ticket_webhooks(&e.sim, "globex")[0]["id"].as_i64().unwrap();
    let patch = Webhook {
        id: Some(autotask_types::Id::new(id)),
        is_active: Some(false),
        ..Webhook::default()
    };
    tenant
        .update(&WebhookFamily::Ticket.webhooks(), &patch)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let answered = loop {
        let sent = e.sim.callouts();
        if let Some(c) = sent
            .iter()
            .find(|c| c.action == "Deactivated" && c.status.is_some())
        {
            break c.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no deactivation callout: {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(answered.status, Some(202), "{answered:?}");
    assert!(e.onboard.findings(None, 10).await.unwrap().is_empty());
    assert_eq!(e.onboard.refused_callouts().await.unwrap(), 0);
    // The change runs; care follows the new user, and no repair was ever opened.
    let _w = e.worker(4);
    let run = e.finish(&change.run_id, 30).await;
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", summary(&run));
    let runs = e
        .onboard
        .runs
        .list(&Default::default(), 0, 100)
        .await
        .unwrap();
    assert!(runs.iter().all(|r| r.request.kind != RunKind::Repair));
    let care = care_until(&e, "globex", |c| c.run_id == run.id).await;
    assert_eq!(care.user_id, Some(new.resource_id));
    assert_eq!(care.user_name, new.user_name);
}
