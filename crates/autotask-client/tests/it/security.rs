//! The outbound allowlist, credentials kept to the zone host, and no secret in logs.

use std::io::Write;
use std::sync::Mutex;

use autotask_client::{AutotaskClient, Error};
use autotask_types::{Query, Resource};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

#[tokio::test]
async fn a_zone_outside_the_allowed_origin_is_refused() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/atservicesrest/v1.0/zoneInformation"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"url": format!("{}/ATServicesRest/", elsewhere.uri())})),
        )
        .mount(&server)
        .await;
    let err = AutotaskClient::new(config(&server))
        .unwrap()
        .tenant(credentials())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HostNotAllowed { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("only the configured base URL's origin"),
        "{err}"
    );
}

#[tokio::test]
async fn credentials_never_follow_a_foreign_next_page_url() {
    let server = server().await;
    let foreign = MockServer::start().await;
    Mock::given(method("POST")).and(path("/zone/ATServicesRest/V1.0/Resources/query"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [{"id": 1}],
            "pageDetails": {"count": 1, "nextPageUrl": format!("{}/steal/query/next?paging=x", foreign.uri())}
        })))
        .mount(&server).await;
    let tenant = tenant(&server).await;
    let err = tenant
        .query_all(&Resource::endpoint(), &Query::all())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HostNotAllowed { .. }), "{err:?}");
    assert!(
        foreign.received_requests().await.unwrap().is_empty(),
        "credentials went to a foreign host"
    );
}

/// Everything any test in this binary logs. A global subscriber, not a thread-local one:
/// tracing caches per call site whether anyone listens, so a thread-local subscriber misses
/// call sites that another test thread reached first.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Captured;

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_in_logs_spans_or_errors() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_writer(|| Captured)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        tracing::callsite::rebuild_interest_cache();
    });

    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/zone/ATServicesRest/V1.0/Resources/query"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/zone/ATServicesRest/V1.0/Resources/query"))
        .respond_with(ResponseTemplate::new(401))
        .with_priority(2)
        .mount(&server)
        .await;
    let tenant = tenant(&server).await;
    let err = tenant
        .query_all(&Resource::endpoint(), &Query::all())
        .await
        .unwrap_err();
    let text = String::from_utf8(LOGS.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("autotask.request"),
        "spans were not captured: {text}"
    );
    assert!(text.contains("http.response.status_code=401"), "{text}");
    for shown in [
        text,
        format!("{err} {err:?}"),
        format!("{tenant:?} {:?}", credentials()),
    ] {
        assert!(!shown.contains(SECRET), "secret leaked: {shown}");
        assert!(!shown.contains(CODE), "integration code leaked: {shown}");
    }
}

#[tokio::test]
async fn a_recorder_sees_every_answer_and_never_a_credential() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/zone/ATServicesRest/V1.0/Resources/query"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [{"id": 7}], "pageDetails": {"count": 1, "nextPageUrl": null}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/zone/ATServicesRest/V1.0/ThresholdInformation"))
        .respond_with(ResponseTemplate::new(401).set_body_string("denied"))
        .mount(&server)
        .await;
    let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let client = AutotaskClient::new(config(&server))
        .unwrap()
        .recorded_by(std::sync::Arc::new(
            move |e: &autotask_client::Exchange<'_>| {
                sink.lock().unwrap().push(format!(
                    "{} {} {} {} {}",
                    e.method,
                    e.url.path(),
                    e.request_body.map(ToString::to_string).unwrap_or_default(),
                    e.status,
                    e.body
                ));
            },
        ));
    let tenant = client.tenant(credentials()).await.unwrap();
    tenant
        .query_all(&Resource::endpoint(), &Query::all())
        .await
        .unwrap();
    assert!(tenant.threshold_information().await.is_err());
    let seen = seen.lock().unwrap().clone();
    let shapes: Vec<String> = seen
        .iter()
        .map(|s| s.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        shapes,
        [
            "GET /atservicesrest/v1.0/zoneInformation",
            "POST /zone/ATServicesRest/V1.0/Resources/query",
            "GET /zone/ATServicesRest/V1.0/ThresholdInformation",
        ]
    );
    assert!(
        seen[1].contains("\"filter\"") && seen[2].ends_with("401 denied"),
        "{seen:?}"
    );
    for s in &seen {
        assert!(!s.contains(SECRET) && !s.contains(CODE), "{s}");
    }
}
