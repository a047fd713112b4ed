//! Every error class on the wire, in-process retries, their bounds and `Retry-After`.

use std::time::{Duration, Instant};

use std::sync::Arc;

use autotask_client::{AutotaskClient, Error, LocalLimiter, Pace, Pacer};
use autotask_types::{Query, Resource, ThresholdInformation, Webhook, WebhookFamily};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

const RESOURCES_QUERY: &str = "/zone/ATServicesRest/V1.0/Resources/query";

async fn query_with(response: ResponseTemplate) -> (MockServer, Result<Vec<Resource>, Error>) {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path(RESOURCES_QUERY))
        .respond_with(response)
        .mount(&server)
        .await;
    let tenant = tenant(&server).await;
    let result = tenant.query_all(&Resource::endpoint(), &Query::all()).await;
    (server, result)
}

#[tokio::test]
async fn permanent_classes_are_not_retried() {
    let cases = [
        (ResponseTemplate::new(401), "credentials"),
        (ResponseTemplate::new(403), "not_permitted"),
        (
            ResponseTemplate::new(405).set_body_json(json!({"Message": "GET not supported"})),
            "method",
        ),
        (
            ResponseTemplate::new(500)
                .set_body_json(json!({"errors": ["Filter field 'x' does not exist"]})),
            "rejected",
        ),
    ];
    for (response, name) in cases {
        let (server, result) = query_with(response).await;
        let err = result.unwrap_err();
        assert!(!err.is_retryable(), "{name}: {err:?}");
        match (name, &err) {
            ("credentials", Error::CredentialsRejected { username, .. }) => {
                assert_eq!(username, USER)
            }
            ("not_permitted", Error::NotPermitted { .. }) => {}
            ("method", Error::MethodNotAllowed { messages }) => {
                assert_eq!(messages, &["GET not supported"])
            }
            (
                "rejected",
                Error::Rejected {
                    status: 500,
                    messages,
                },
            ) => {
                assert_eq!(messages, &["Filter field 'x' does not exist"])
            }
            _ => panic!("{name}: wrong class {err:?}"),
        }
        assert_eq!(
            hits(&server, RESOURCES_QUERY).await,
            1,
            "{name} was retried"
        );
    }
}

#[tokio::test]
async fn unknown_id_is_none() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/zone/ATServicesRest/V1.0/Resources/5"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/zone/ATServicesRest/V1.0/Resources/6"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"item": null})))
        .mount(&server)
        .await;
    let tenant = tenant(&server).await;
    assert_eq!(tenant.get(&Resource::endpoint(), 5).await.unwrap(), None);
    assert_eq!(tenant.get(&Resource::endpoint(), 6).await.unwrap(), None);
}

#[tokio::test]
async fn transient_failures_retry_then_succeed() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path(RESOURCES_QUERY))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(RESOURCES_QUERY))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(RESOURCES_QUERY))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [{"id": 1}], "pageDetails": {"count": 1}})),
        )
        .with_priority(3)
        .mount(&server)
        .await;
    let tenant = tenant(&server).await;
    let rows = tenant
        .query_all(&Resource::endpoint(), &Query::all())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(hits(&server, RESOURCES_QUERY).await, 3);
}

#[tokio::test]
async fn retries_are_bounded_then_surfaced() {
    let (server, result) = query_with(ResponseTemplate::new(500)).await;
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transient {
                status: Some(500),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(
        hits(&server, RESOURCES_QUERY).await,
        4,
        "1 attempt + 3 retries"
    );

    let (server, result) = query_with(ResponseTemplate::new(500).set_body_json(
        json!({"errors": ["Itgenatr005: The thread threshold of 3 threads has been exceeded"]}),
    ))
    .await;
    assert!(matches!(result.unwrap_err(), Error::ThreadLimit { .. }));
    assert_eq!(hits(&server, RESOURCES_QUERY).await, 4);
}

#[tokio::test]
async fn hourly_threshold_is_surfaced_without_spinning() {
    let (server, result) = query_with(ResponseTemplate::new(500).set_body_json(json!({"errors": ["The API request threshold of 10000 requests per hour has been exceeded"]}))).await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::ThresholdExceeded { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(hits(&server, RESOURCES_QUERY).await, 1);
}

#[tokio::test]
async fn timeouts_are_transient() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path(RESOURCES_QUERY))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(2)))
        .mount(&server)
        .await;
    let mut config = config(&server);
    config.request_timeout = Duration::from_millis(200);
    let tenant = AutotaskClient::new(config)
        .unwrap()
        .tenant(credentials())
        .await
        .unwrap();
    let err = tenant
        .query_all(&Resource::endpoint(), &Query::all())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Transient { status: None, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(hits(&server, RESOURCES_QUERY).await, 4);
}

#[tokio::test]
async fn the_pacer_can_refuse_before_anything_is_sent() {
    struct Budget;
    impl Pacer for Budget {
        fn pace(&self, last: Option<&ThresholdInformation>) -> Pace {
            match last {
                Some(t) if t.used_ratio() >= 0.5 => Pace::Refuse(Duration::from_secs(60)),
                _ => Pace::Go,
            }
        }
    }
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/zone/ATServicesRest/V1.0/ThresholdInformation"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "externalRequestThreshold": 100, "requestThresholdTimeframe": 60, "currentTimeframeRequestCount": 60
        })))
        .mount(&server)
        .await;
    let client = AutotaskClient::with_parts(
        config(&server),
        Arc::new(LocalLimiter::new(3)),
        Arc::new(Budget),
    )
    .unwrap();
    let tenant = client.tenant(credentials()).await.unwrap();
    tenant.threshold_information().await.unwrap();
    let err = tenant
        .query_all(&Resource::endpoint(), &Query::all())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::BudgetExhausted {
            retry_after: Duration::from_secs(60)
        }
    );
    assert_eq!(hits(&server, RESOURCES_QUERY).await, 0);
}

#[tokio::test]
async fn a_create_is_not_repeated_when_it_may_have_been_committed() {
    let server = server().await;
    let hooks = "/zone/ATServicesRest/V1.0/TicketWebhooks";
    Mock::given(method("POST"))
        .and(path(hooks))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let tenant = tenant(&server).await;
    let err = tenant
        .create(&WebhookFamily::Ticket.webhooks(), &Webhook::default())
        .await
        .unwrap_err();
    assert!(
        err.is_retryable(),
        "the caller re-reads and decides: {err:?}"
    );
    assert_eq!(hits(&server, hooks).await, 1);
}

#[tokio::test]
async fn a_create_refused_by_the_thread_limit_is_retried() {
    let server = server().await;
    let hooks = "/zone/ATServicesRest/V1.0/TicketWebhooks";
    Mock::given(method("POST"))
        .and(path(hooks))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(hooks))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"itemId": 9})))
        .with_priority(2)
        .mount(&server)
        .await;
    let tenant = tenant(&server).await;
    assert_eq!(
        tenant
            .create(&WebhookFamily::Ticket.webhooks(), &Webhook::default())
            .await
            .unwrap(),
        9
    );
    assert_eq!(hits(&server, hooks).await, 2);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path(RESOURCES_QUERY))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(RESOURCES_QUERY))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"items": [], "pageDetails": {}})),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let tenant = tenant(&server).await;
    let started = Instant::now();
    tenant
        .query_all(&Resource::endpoint(), &Query::all())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_undecodable_answer_is_contract_drift_naming_entity_and_field_and_is_not_retried() {
    let (server, result) = query_with(ResponseTemplate::new(200).set_body_json(json!({
        "items": [{"id": 1}, {"id": 2, "isActive": "yes"}], "pageDetails": {"count": 2}
    })))
    .await;
    let err = result.unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    match &err {
        Error::ContractDrift {
            entity,
            path,
            expected,
            found,
        } => {
            assert_eq!(entity, "Resource");
            assert_eq!(path, "items[1].isActive");
            assert_eq!(expected, "a boolean");
            assert_eq!(found, "a string");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with("contract drift: "), "{err}");
    assert_eq!(hits(&server, RESOURCES_QUERY).await, 1, "drift was retried");
}

#[tokio::test]
async fn nulls_the_contract_allows_are_no_drift() {
    let server = server().await;
    let fields = "/zone/ATServicesRest/V1.0/TicketWebhookFields/entityInformation/fields";
    Mock::given(method("GET"))
        .and(path(fields))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"fields": [
            {"name": "fieldID", "isPickList": true, "isRequired": null,
             "picklistValues": [{"value": "4", "label": "Status", "isActive": null,
                                 "isDefaultValue": null, "isSystem": null, "parentValue": null}]},
            {"name": "webhookID", "isPickList": false, "picklistValues": null,
             "referenceEntityType": null, "isSupportedWebhookField": null, "unknownNewProperty": 1}
        ]})))
        .mount(&server)
        .await;
    let tenant = tenant(&server).await;
    let endpoint =
        autotask_types::Endpoint::<autotask_types::WebhookField>::root("TicketWebhookFields");
    let info = tenant.field_information(&endpoint).await.unwrap();
    assert_eq!(info[0].picklist_value("status").unwrap().value, "4");
    assert!(info[1].picklist_values.is_empty());
}

#[tokio::test]
async fn a_validation_error_naming_send_threshold_exceeded_notification_is_no_budget_refusal() {
    let (server, result) = query_with(ResponseTemplate::new(500).set_body_json(json!({
        "errors": ["sendThresholdExceededNotification must be true or false (max once per hour)"]
    })))
    .await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, Error::Rejected { status: 500, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(hits(&server, RESOURCES_QUERY).await, 1);
}

#[tokio::test]
async fn a_zone_answer_without_a_url_is_contract_drift() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/atservicesrest/v1.0/zoneInformation"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"zoneName": null, "url": null, "webUrl": null, "ci": null})),
        )
        .mount(&server)
        .await;
    let err = autotask_client::AutotaskClient::new(config(&server))
        .unwrap()
        .tenant(credentials())
        .await
        .unwrap_err();
    match &err {
        Error::ContractDrift { entity, path, .. } => {
            assert_eq!((entity.as_str(), path.as_str()), ("ZoneInformation", "url"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(
        hits(&server, "/atservicesrest/v1.0/zoneInformation").await,
        1
    );
}
