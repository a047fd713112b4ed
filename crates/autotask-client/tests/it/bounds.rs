//! Answers beyond the client's bounds are refused, not followed or read forever: a paging loop
//! (the same next page URL again), more pages than `max_pages`, a body larger than
//! `max_body_bytes`. Each is `Error::OverLimit` naming the entity, not retried.

use autotask_client::{AutotaskClient, Error};
use autotask_types::{Filter, Query, Resource};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::*;

const QUERY: &str = "/zone/ATServicesRest/V1.0/Resources/query";

fn query() -> Query {
    Query::new([Filter::eq("isActive", true)])
}

async fn over_limit(result: Result<Vec<Resource>, Error>) -> String {
    match result {
        Err(e @ Error::OverLimit { .. }) => {
            assert!(!e.is_retryable());
            e.to_string()
        }
        other => panic!("expected OverLimit, got {other:?}"),
    }
}

#[tokio::test]
async fn a_next_page_url_seen_before_is_a_paging_loop() {
    let server = server().await;
    let next = format!("{}{QUERY}/next?paging=same", server.uri());
    for p in [QUERY.to_owned(), format!("{QUERY}/next")] {
        Mock::given(method("POST"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "items": [{"id": 1}],
                "pageDetails": {"count": 1, "requestCount": 500, "nextPageUrl": next}
            })))
            .mount(&server)
            .await;
    }
    let t = tenant(&server).await;
    let e = over_limit(t.query_all(&Resource::endpoint(), &query()).await).await;
    assert!(
        e.contains("Resource") && e.contains("same next page URL twice"),
        "{e}"
    );
    assert_eq!(hits(&server, &format!("{QUERY}/next")).await, 1);
}

#[tokio::test]
async fn more_pages_than_the_bound_are_refused() {
    let server = server().await;
    let mut cfg = config(&server);
    cfg.max_pages = 3;
    // Every page names a new next page, forever.
    let uri = server.uri();
    let n = std::sync::atomic::AtomicUsize::new(0);
    let respond = move |_: &wiremock::Request| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_json(json!({
            "items": [{"id": i}],
            "pageDetails": {"nextPageUrl": format!("{uri}{QUERY}/next?paging={i}")}
        }))
    };
    Mock::given(method("POST"))
        .respond_with(respond)
        .mount(&server)
        .await;
    let t = AutotaskClient::new(cfg)
        .unwrap()
        .tenant(credentials())
        .await
        .unwrap();
    let e = over_limit(t.query_all(&Resource::endpoint(), &query()).await).await;
    assert!(e.contains("more than 3 pages"), "{e}");
    assert_eq!(hits(&server, &format!("{QUERY}/next")).await, 2);
}

#[tokio::test]
async fn a_body_larger_than_the_bound_is_refused() {
    let server = server().await;
    let mut cfg = config(&server);
    cfg.max_body_bytes = 4096;
    let rows: Vec<_> = (0..500)
        .map(|i| json!({"id": i, "userName": "x".repeat(20)}))
        .collect();
    Mock::given(method("POST"))
        .and(path(QUERY))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": rows, "pageDetails": {"nextPageUrl": null}})),
        )
        .mount(&server)
        .await;
    let t = AutotaskClient::new(cfg)
        .unwrap()
        .tenant(credentials())
        .await
        .unwrap();
    let e = over_limit(t.query_all(&Resource::endpoint(), &query()).await).await;
    assert!(e.contains("at most 4096 are read"), "{e}");
    // Within the bound the same answer reads.
    let t = tenant(&server).await;
    assert_eq!(
        t.query_all(&Resource::endpoint(), &query())
            .await
            .unwrap()
            .len(),
        500
    );
}
