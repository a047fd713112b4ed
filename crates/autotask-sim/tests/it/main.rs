//! Integration tests of the simulator over real HTTP on 127.0.0.1: one module per area, a raw
//! `reqwest` caller (no autotask-client) so the tests see exactly what goes over the wire.

// Test helpers are documented by their use.
#![allow(missing_docs)]

mod callouts;
mod client;
mod conformance;
mod console;
mod faults;
mod layering;
mod limits;
mod metadata;
mod org;
mod perf;
mod profiles;
mod query;
mod resources;
mod story;
mod webhooks;
mod zone_auth;

use std::time::Duration;

use autotask_sim::{CalloutConfig, SeedApiUser, SeededApiUser, SimConfig, SimHandle, spawn};
use reqwest::Method;
use serde_json::{Value as Json, json};

/// A simulator with database `acme` (page size 5, no threshold latency, fast callouts).
pub struct Env {
    pub sim: SimHandle,
    pub http: reqwest::Client,
}

pub fn test_config() -> SimConfig {
    SimConfig {
        page_size: 5,
        threshold_latency_50_ms: 0,
        threshold_latency_75_ms: 0,
        callouts: CalloutConfig {
            timeout_ms: 2_000,
            max_attempts: 2,
            retry_delay_ms: 10,
            deactivate_after_failures: 25,
        },
        ..SimConfig::default()
    }
    .with_database("acme")
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

impl Env {
    pub async fn new() -> Self {
        Self::with(test_config()).await
    }

    pub async fn with(config: SimConfig) -> Self {
        Self {
            sim: spawn(config).await.unwrap(),
            http: http(),
        }
    }

    /// A fully seeded API user (Sophos vendor, webhooks enabled, max 10).
    pub fn seed(&self) -> SeededApiUser {
        self.sim
            .db("acme")
            .unwrap()
            .seed_api_user(&SeedApiUser::default())
            .unwrap()
    }

    pub fn api(&self, u: &SeededApiUser) -> Api {
        Api {
            http: self.http.clone(),
            base: self.sim.api_url("acme"),
            user: u.user_name.clone(),
            secret: u.secret.clone(),
            code: u.integration_code.clone(),
        }
    }
}

/// A raw REST caller with one user's credentials.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub user: String,
    pub secret: String,
    pub code: String,
}

impl Api {
    pub async fn send(&self, method: Method, path: &str, body: Option<Json>) -> (u16, Json) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self
            .http
            .request(method, url)
            .header("ApiIntegrationCode", &self.code)
            .header("UserName", &self.user)
            .header("Secret", &self.secret);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Json::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Json) {
        self.send(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Json) -> (u16, Json) {
        self.send(Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Json) -> (u16, Json) {
        self.send(Method::PATCH, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Json) -> (u16, Json) {
        self.send(Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (u16, Json) {
        self.send(Method::DELETE, path, None).await
    }

    /// Creates a ticket webhook with a unique URL; returns its id.
    pub async fn create_ticket_webhook(&self, url: &str) -> i64 {
        let (s, b) = self.post("TicketWebhooks", webhook_body(url)).await;
        assert_eq!(s, 200, "{b}");
        b["itemId"].as_i64().unwrap()
    }
}

pub fn webhook_body(url: &str) -> Json {
    json!({
        "name": "Sophos tickets",
        "webhookUrl": url,
        "deactivationUrl": format!("{url}/deactivated"),
        "secretKey": "0123456789abcdef",
        "isActive": true,
        "isSubscribedToCreateEvents": true,
        "isSubscribedToUpdateEvents": true,
        "isSubscribedToDeleteEvents": false,
        "sendThresholdExceededNotification": false,
        "notificationEmailAddress": "ops@example.com",
    })
}

/// The `errors[]` of a body, joined.
pub fn errors(body: &Json) -> String {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Json::as_str)
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .unwrap_or_default()
}

/// Waits for `cond` with a deadline, polling (no fixed sleeps).
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut cond: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
