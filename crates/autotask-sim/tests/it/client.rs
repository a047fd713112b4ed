//! autotask-client against the simulator: every operation the client offers is accepted,
//! paging, each error class, the client's limiter keeping the thread limit at zero 429s,
//! threshold information and exhaustion, and commit-then-drop.

use std::time::Duration;

use autotask_client::{
    AutotaskClient, ClientConfig, Credentials, Error, HttpRetry, Target, Tenant,
};
use autotask_sim::{Fault, FaultRule, SeededApiUser, SimConfig};
use autotask_types::{
    Filter, OrganizationalResource, Query, Resource, Webhook, WebhookExcludedResource,
    WebhookFamily, WebhookField, WebhookUdfField,
};
use futures::future::join_all;

use crate::{Env, test_config};

fn client_config(env: &Env, retries: usize, concurrency: usize) -> ClientConfig {
    let mut cfg = ClientConfig::new(Target::Explicit(env.sim.base_url().parse().unwrap()));
    cfg.request_timeout = Duration::from_secs(5);
    cfg.endpoint_concurrency = concurrency;
    cfg.retry = HttpRetry {
        max_retries: retries,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_total_delay: Duration::from_secs(3),
    };
    cfg
}

async fn tenant_with(user: &SeededApiUser, cfg: ClientConfig) -> Tenant {
    AutotaskClient::new(cfg)
        .unwrap()
        .tenant(Credentials::new(
            &user.integration_code,
            &user.user_name,
            &user.secret,
        ))
        .await
        .unwrap()
}

async fn tenant(env: &Env, user: &SeededApiUser) -> Tenant {
    tenant_with(user, client_config(env, 4, 3)).await
}

fn hook(url: &str) -> Webhook {
    Webhook {
        name: Some("Sophos tickets".into()),
        webhook_url: Some(url.into()),
        deactivation_url: Some(format!("{url}/deactivated")),
        secret_key: Some("0123456789abcdef".into()),
        is_active: Some(true),
        is_subscribed_to_create_events: Some(true),
        is_subscribed_to_update_events: Some(true),
        is_subscribed_to_delete_events: Some(false),
        send_threshold_exceeded_notification: Some(false),
        notification_email_address: Some("ops@example.com".into()),
        ..Webhook::default()
    }
}

fn statuses(env: &Env) -> Vec<u16> {
    env.sim.requests().iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn every_client_operation_is_accepted() {
    let env = Env::new().await;
    let user = env.seed();
    let t = tenant(&env, &user).await;
    assert_eq!(t.zone_url().as_str(), env.sim.zone_url("acme"));
    let resources = Resource::endpoint();
    let me = t.get(&resources, user.resource_id).await.unwrap().unwrap();
    assert_eq!(me.user_name.as_deref(), Some(user.user_name.as_str()));
    assert_eq!(
        t.get(&resources, 1).await.unwrap(),
        None,
        "404 reads as None"
    );
    let found = t
        .query_all(
            &resources,
            &Query::new([Filter::eq("userName", user.user_name.as_str())]),
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(t.count(&resources, &Query::all()).await.unwrap(), 2);
    let patch = Resource {
        id: Some(user.resource_id.into()),
        title: Some("Integration".into()),
        ..Resource::default()
    };
    assert_eq!(
        t.update(&resources, &patch).await.unwrap(),
        user.resource_id
    );
    let info = t.field_information(&resources).await.unwrap();
    let license = info.iter().find(|f| f.name == "licenseType").unwrap();
    assert_eq!(
        license.picklist_value("API User (system)").unwrap().value,
        "7"
    );
    assert_eq!(
        t.entity_information(&resources).await.unwrap().can_create,
        Some(false)
    );

    let family = WebhookFamily::Ticket;
    let hooks = family.webhooks();
    assert_eq!(
        t.entity_information(&hooks).await.unwrap().can_create,
        Some(true)
    );
    let id = t
        .create(&hooks, &hook("https://h.example.com/client"))
        .await
        .unwrap();
    let fields = family.fields(id.into());
    let field = t
        .create(
            &fields,
            &WebhookField {
                field_id: Some(7),
                is_subscribed_field: Some(true),
                is_display_always_field: Some(false),
                ..WebhookField::default()
            },
        )
        .await
        .unwrap();
    let udfs = family.udf_fields(id.into()).unwrap();
    t.create(
        &udfs,
        &WebhookUdfField {
            udf_field_id: Some(29682901),
            is_subscribed_field: Some(true),
            ..WebhookUdfField::default()
        },
    )
    .await
    .unwrap();
    let excluded = family.excluded_resources(id.into());
    t.create(
        &excluded,
        &WebhookExcludedResource {
            resource_id: Some(user.resource_id.into()),
            ..WebhookExcludedResource::default()
        },
    )
    .await
    .unwrap();
    let update = Webhook {
        id: Some(id.into()),
        name: Some("Renamed".into()),
        ..Webhook::default()
    };
    t.update(&hooks, &update).await.unwrap();
    let got = t.get(&hooks, id).await.unwrap().unwrap();
    assert_eq!(got.is_ready, Some(true));
    assert_eq!(got.owner_resource_id, Some(user.resource_id.into()));
    assert_eq!(got.name.as_deref(), Some("Renamed"));
    let children = t
        .query_all(&fields, &Query::new([Filter::eq("webhookID", id)]))
        .await
        .unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(
        t.get(&fields, field).await.unwrap().unwrap().field_id,
        Some(7)
    );
    t.update(
        &fields,
        &WebhookField {
            id: Some(field.into()),
            is_display_always_field: Some(true),
            ..WebhookField::default()
        },
    )
    .await
    .unwrap();
    t.delete(&fields, field).await.unwrap();
    t.delete(&hooks, id).await.unwrap();
    assert_eq!(t.get(&hooks, id).await.unwrap(), None);
    let lobs = t
        .query_all(
            &OrganizationalResource::endpoint(),
            &Query::new([Filter::eq("resourceID", user.resource_id)]),
        )
        .await
        .unwrap();
    assert_eq!(lobs.len(), 2);
    let threshold = t.threshold_information().await.unwrap();
    assert_eq!(threshold.external_request_threshold, 10_000);
    assert_eq!(
        threshold.current_timeframe_request_count,
        env.sim.db("acme").unwrap().threshold_count()
    );
    let failures: Vec<_> = env
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.status != 200)
        .collect();
    assert_eq!(failures.len(), 2, "only the deliberate 404s: {failures:?}");
}

#[tokio::test]
async fn the_client_pages_with_post_and_the_original_body() {
    let env = Env::new().await;
    let user = env.seed();
    env.sim
        .db("acme")
        .unwrap()
        .set_webhook_permission(user.security_level_id, true, 100)
        .unwrap();
    let t = tenant(&env, &user).await;
    let hooks = WebhookFamily::Company.webhooks();
    for i in 0..12 {
        t.create(&hooks, &hook(&format!("https://h.example.com/{i}")))
            .await
            .unwrap();
    }
    env.sim.clear_requests();
    let all = t
        .query_all(
            &hooks,
            &Query::new([Filter::begins_with("webhookUrl", "https://h.example.com/")]),
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 12);
    let log = env.sim.requests();
    let calls: Vec<(String, bool)> = log
        .iter()
        .map(|r| (r.method.clone(), r.path.contains("/query/next?")))
        .collect();
    assert_eq!(
        calls,
        vec![
            ("POST".into(), false),
            ("POST".into(), true),
            ("POST".into(), true)
        ]
    );
}

#[tokio::test]
async fn each_error_class_comes_through() {
    let env = Env::new().await;
    let user = env.seed();
    let other = env.seed();
    let t = tenant(&env, &user).await;
    // 401.
    let mut bad = user.clone();
    bad.secret.push('x');
    let e = tenant(&env, &bad)
        .await
        .get(&Resource::endpoint(), user.resource_id)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::CredentialsRejected { .. }) && !e.is_retryable(),
        "{e:?}"
    );
    // 405.
    let e = t
        .create(&Resource::endpoint(), &Resource::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::MethodNotAllowed { .. }), "{e:?}");
    // 500 with errors[]: validation and ownership.
    let e = t
        .create(&WebhookFamily::Ticket.webhooks(), &Webhook::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Rejected { status: 500, messages } if !messages.is_empty()),
        "{e:?}"
    );
    let id = tenant(&env, &other)
        .await
        .create(
            &WebhookFamily::Ticket.webhooks(),
            &hook("https://h.example.com/theirs"),
        )
        .await
        .unwrap();
    let e = t
        .delete(&WebhookFamily::Ticket.webhooks(), id)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Rejected { .. }) && !e.is_retryable(),
        "{e:?}"
    );
    // 429 twice, then served: retried in-process.
    env.sim.clear_requests();
    env.sim.add_fault(
        FaultRule::new(Fault::TooManyRequests)
            .endpoint("Resources")
            .times(2),
    );
    assert!(
        t.get(&Resource::endpoint(), user.resource_id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(statuses(&env), vec![429, 429, 200]);
    // 429 beyond the retry budget: surfaced as retryable.
    let t1 = tenant_with(&user, client_config(&env, 1, 3)).await;
    env.sim.add_fault(
        FaultRule::new(Fault::TooManyRequests)
            .endpoint("Resources")
            .times(5),
    );
    let e = t1
        .get(&Resource::endpoint(), user.resource_id)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::ThreadLimit { .. }) && e.is_retryable(),
        "{e:?}"
    );
    env.sim.clear_faults();
    // A bare 500 and a connection reset on a read: transient, retried.
    env.sim.clear_requests();
    env.sim.add_fault(
        FaultRule::new(Fault::server_error())
            .endpoint("Resources")
            .times(1),
    );
    env.sim.add_fault(
        FaultRule::new(Fault::ConnectionReset)
            .endpoint("Resources")
            .times(1),
    );
    assert!(
        t.get(&Resource::endpoint(), user.resource_id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(statuses(&env), vec![500, 0, 200]);
    // A bare 500 on a create is not retried (it may have been committed).
    env.sim.clear_requests();
    env.sim.add_fault(
        FaultRule::new(Fault::server_error())
            .method("POST")
            .times(1),
    );
    let e = t
        .create(
            &WebhookFamily::Ticket.webhooks(),
            &hook("https://h.example.com/once"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Transient { .. }) && e.is_retryable(),
        "{e:?}"
    );
    assert_eq!(statuses(&env), vec![500]);
    // A timeout on a read: retried.
    let mut cfg = client_config(&env, 2, 3);
    cfg.request_timeout = Duration::from_millis(300);
    let quick = tenant_with(&user, cfg).await;
    env.sim.add_fault(
        FaultRule::new(Fault::Timeout { ms: 3_000 })
            .endpoint("Resources")
            .times(1),
    );
    assert!(
        quick
            .get(&Resource::endpoint(), user.resource_id)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn the_client_limiter_keeps_the_thread_limit_at_zero_429s() {
    let env = Env::new().await;
    let user = env.seed();
    env.sim
        .add_fault(FaultRule::new(Fault::Latency { ms: 200 }).endpoint("Resources"));
    let burst = |t: Tenant| async move {
        join_all((0..9).map(|_| {
            let t = t.clone();
            async move { t.get(&Resource::endpoint(), user.resource_id).await }
        }))
        .await
    };
    let limited = tenant_with(&user, client_config(&env, 0, 3)).await;
    let results = burst(limited).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(!statuses(&env).contains(&429), "{:?}", statuses(&env));
    // The counterfactual: a client allowing 6 concurrent calls hits the limit.
    env.sim.clear_requests();
    let greedy = tenant_with(&user, client_config(&env, 0, 6)).await;
    let results = burst(greedy).await;
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(Error::ThreadLimit { .. }))),
        "{results:?}"
    );
    assert!(statuses(&env).contains(&429));
}

#[tokio::test]
async fn threshold_information_and_exhaustion() {
    let cfg = SimConfig {
        databases: vec![autotask_sim::DatabaseConfig {
            hourly_threshold: 8,
            ..autotask_sim::DatabaseConfig::named("acme")
        }],
        ..test_config()
    };
    let env = Env::with(cfg).await;
    let user = env.seed();
    let t = tenant(&env, &user).await;
    let info = t.threshold_information().await.unwrap();
    assert_eq!(
        (
            info.external_request_threshold,
            info.current_timeframe_request_count
        ),
        (8, 1)
    );
    for _ in 0..3 {
        t.get(&Resource::endpoint(), user.resource_id)
            .await
            .unwrap();
    }
    let estimate = t.last_threshold().unwrap().current_timeframe_request_count;
    assert_eq!(
        estimate,
        env.sim.db("acme").unwrap().threshold_count(),
        "client estimate = live count"
    );
    let mut served = 4;
    let err = loop {
        match t.get(&Resource::endpoint(), user.resource_id).await {
            Ok(_) => served += 1,
            Err(e) => break e,
        }
        assert!(served <= 8);
    };
    assert_eq!(served, 8);
    assert!(
        matches!(err, Error::ThresholdExceeded { .. }) && err.is_retryable(),
        "{err:?}"
    );
}

#[tokio::test]
async fn commit_then_drop_leaves_a_committed_create_and_a_retried_update() {
    let env = Env::new().await;
    let user = env.seed();
    let t = tenant(&env, &user).await;
    let hooks = WebhookFamily::Ticket.webhooks();
    env.sim.add_fault(
        FaultRule::new(Fault::CommitThenDrop)
            .endpoint("TicketWebhooks")
            .method("POST")
            .times(1),
    );
    let e = t
        .create(&hooks, &hook("https://h.example.com/ctd"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Transient {
                not_sent: false,
                ..
            }
        ),
        "{e:?}"
    );
    let found = t
        .query_all(
            &hooks,
            &Query::new([Filter::eq("webhookUrl", "https://h.example.com/ctd")]),
        )
        .await
        .unwrap();
    assert_eq!(
        found.len(),
        1,
        "the create was committed; re-reading finds it"
    );
    let id = found[0].id.unwrap().get();
    env.sim.clear_requests();
    env.sim.add_fault(
        FaultRule::new(Fault::CommitThenDrop)
            .endpoint("TicketWebhooks")
            .method("PATCH")
            .times(1),
    );
    let update = Webhook {
        id: Some(id.into()),
        name: Some("After drop".into()),
        ..Webhook::default()
    };
    assert_eq!(
        t.update(&hooks, &update).await.unwrap(),
        id,
        "PATCH is idempotent: retried"
    );
    assert_eq!(statuses(&env), vec![0, 200]);
    assert_eq!(
        t.get(&hooks, id).await.unwrap().unwrap().name.as_deref(),
        Some("After drop")
    );
}

/// Refuses once the client's estimate reaches the threshold (the pacing hook a worker plugs
/// in); with the simulator's count matching the estimate, Autotask never has to refuse.
struct StopAtThreshold;

impl autotask_client::Pacer for StopAtThreshold {
    fn pace(&self, last: Option<&autotask_types::ThresholdInformation>) -> autotask_client::Pace {
        match last {
            Some(t) if t.used_ratio() >= 1.0 => {
                autotask_client::Pace::Refuse(Duration::from_secs(60))
            }
            _ => autotask_client::Pace::Go,
        }
    }
}

#[tokio::test]
async fn threshold_pacing_on_the_clients_estimate_avoids_the_simulators_refusal() {
    let cfg = SimConfig {
        databases: vec![autotask_sim::DatabaseConfig {
            hourly_threshold: 10,
            ..autotask_sim::DatabaseConfig::named("acme")
        }],
        ..test_config()
    };
    let env = Env::with(cfg).await;
    let user = env.seed();
    let client = AutotaskClient::with_parts(
        client_config(&env, 0, 3),
        std::sync::Arc::new(autotask_client::LocalLimiter::new(3)),
        std::sync::Arc::new(StopAtThreshold),
    )
    .unwrap();
    let t = client
        .tenant(Credentials::new(
            &user.integration_code,
            &user.user_name,
            &user.secret,
        ))
        .await
        .unwrap();
    t.threshold_information().await.unwrap();
    let mut served = 1;
    let err = loop {
        match t.get(&Resource::endpoint(), user.resource_id).await {
            Ok(_) => served += 1,
            Err(e) => break e,
        }
        assert!(served <= 10);
    };
    assert!(matches!(err, Error::BudgetExhausted { .. }), "{err:?}");
    assert_eq!(served, 10, "the whole budget was used");
    assert!(
        !statuses(&env).contains(&429),
        "the simulator never had to refuse"
    );
}
