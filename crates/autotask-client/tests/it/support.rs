//! Shared setup: a mock Autotask with zone discovery, and a client pointed at it.

use std::time::Duration;

use autotask_client::{AutotaskClient, ClientConfig, Credentials, HttpRetry, Target, Tenant};
use serde_json::json;
use url::Url;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const CODE: &str = "INTEGRATION-CODE-XYZ";
pub const USER: &str = "api-user@tenant.example";
pub const SECRET: &str = "S3cr3t-Value-9f8e7d";

pub fn credentials() -> Credentials {
    Credentials::new(CODE, USER, SECRET)
}

pub fn config(server: &MockServer) -> ClientConfig {
    let mut config = ClientConfig::new(Target::Explicit(Url::parse(&server.uri()).unwrap()));
    config.retry = HttpRetry {
        max_retries: 3,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_secs(2),
        max_total_delay: Duration::from_secs(5),
    };
    config.request_timeout = Duration::from_secs(2);
    config
}

/// A mock server whose zone discovery sends `USER` to `{server}/zone/ATServicesRest/`.
pub async fn server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/atservicesrest/v1.0/zoneInformation"))
        .and(query_param("user", USER))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "zoneName": "Test", "url": format!("{}/zone/ATServicesRest", server.uri()),
            "webUrl": "https://ww1.example/", "ci": 42
        })))
        .mount(&server)
        .await;
    server
}

pub async fn tenant(server: &MockServer) -> Tenant {
    AutotaskClient::new(config(server))
        .unwrap()
        .tenant(credentials())
        .await
        .unwrap()
}

/// How many requests the server saw on a path.
pub async fn hits(server: &MockServer, p: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == p)
        .count()
}
