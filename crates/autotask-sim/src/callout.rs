//! Webhook callout delivery: the `X-Hook-Signature` header, and delivery with Autotask's
//! timeout and retries.
//!
//! Each webhook has its own ordered queue (a task fed by a channel), so events of one webhook
//! arrive in trigger order while a slow receiver does not hold up other webhooks. Outcomes go
//! back through the narrow [`Deliveries`] trait (the callout log, the failure counter that
//! deactivates a webhook, the event error log), so this module knows nothing of the
//! simulator's shared state, the console or the REST layer.
//!
//! What it does not do: no payloads (the database rules build them, see `state`), no
//! deactivation decision (the database books each outcome and says whether to go on).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use autotask_types::WebhookFamily;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;
use tokio::sync::mpsc;

use crate::config::CalloutConfig;
use crate::state::Outbound;

/// `sha1=<base64 HMAC-SHA1(secret, body)>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    format!(
        "sha1={}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// One delivery attempt, as recorded in the callout log.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CalloutRecord {
    /// The database.
    pub database: String,
    /// The webhook family.
    pub family: WebhookFamily,
    /// The webhook id.
    pub webhook_id: i64,
    /// `Create`, `Update` or `Deactivated`.
    pub action: String,
    /// The target URL.
    pub url: String,
    /// 1-based attempt number.
    pub attempt: u32,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// Whether it counted as delivered (2xx within the timeout).
    pub delivered: bool,
}

/// Where delivery outcomes go: implemented by the simulator's shared state.
pub(crate) trait Deliveries: Send + Sync + 'static {
    /// Records one attempt in the callout log.
    fn record(&self, rec: CalloutRecord);
    /// Books an event's attempt (not for deactivation notices); returns whether to keep
    /// retrying it.
    fn booked(self: Arc<Self>, c: &Outbound, delivered: bool) -> bool;
    /// An event whose every attempt failed, with the last error.
    fn dropped(&self, c: &Outbound, error: &str);
}

/// Routes callouts to one ordered worker per webhook.
pub(crate) struct Dispatcher {
    queues:
        std::sync::Mutex<HashMap<(String, WebhookFamily, i64), mpsc::UnboundedSender<Outbound>>>,
    client: reqwest::Client,
    config: CalloutConfig,
    /// The runtime the simulator was spawned on, so console methods called from plain
    /// threads can still start delivery workers.
    runtime: tokio::runtime::Handle,
}

impl Dispatcher {
    pub(crate) fn new(config: CalloutConfig) -> Self {
        // reqwest is built with `rustls-no-provider`: install ring if nobody did.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(config.timeout())
            .build()
            .expect("a reqwest client with a crypto provider builds");
        Self {
            queues: std::sync::Mutex::new(HashMap::new()),
            client,
            config,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Queues callouts; each webhook's queue is delivered in order. Outcomes go to `sink`
    /// while it lives.
    pub(crate) fn send<D: Deliveries>(&self, sink: &Arc<D>, callouts: Vec<Outbound>) {
        for c in callouts {
            if c.url.is_empty() {
                continue;
            }
            let key = (c.database.clone(), c.family, c.webhook_id);
            let mut queues = self.queues.lock().expect("not poisoned");
            let tx = queues.entry(key).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                let sink: Weak<dyn Deliveries> = Arc::downgrade(sink) as Weak<dyn Deliveries>;
                self.runtime
                    .spawn(worker(sink, self.client.clone(), self.config.clone(), rx));
                tx
            });
            let _ = tx.send(c);
        }
    }
}

async fn worker(
    sink: Weak<dyn Deliveries>,
    client: reqwest::Client,
    cfg: CalloutConfig,
    mut rx: mpsc::UnboundedReceiver<Outbound>,
) {
    while let Some(c) = rx.recv().await {
        if sink.strong_count() == 0 {
            return;
        }
        let mut last_error = String::new();
        let mut delivered = false;
        for attempt in 1..=cfg.max_attempts.max(1) {
            let result = client
                .post(&c.url)
                .header("Content-Type", "application/json")
                .header("X-Hook-Signature", signature(&c.secret, &c.body))
                .body(c.body.clone())
                .send()
                .await;
            let status = result.as_ref().ok().map(|r| r.status().as_u16());
            delivered = status.is_some_and(|s| (200..300).contains(&s));
            last_error = match (&result, status) {
                (Err(e), _) if e.is_timeout() => "No response within the timeout.".to_owned(),
                (Err(_), _) => "The webhook URL could not be reached.".to_owned(),
                (Ok(_), Some(s)) => format!("The webhook URL answered HTTP {s}."),
                (Ok(_), None) => String::new(),
            };
            let Some(sim) = sink.upgrade() else { return };
            sim.record(CalloutRecord {
                database: c.database.clone(),
                family: c.family,
                webhook_id: c.webhook_id,
                action: c.action.into(),
                url: c.url.clone(),
                attempt,
                status,
                delivered,
            });
            if c.action == "Deactivated" {
                // Deactivation notices are best effort and do not count toward the limit.
                if delivered {
                    break;
                }
            } else {
                let more = sim.clone().booked(&c, delivered);
                if delivered || !more {
                    break;
                }
            }
            drop(sim);
            if attempt < cfg.max_attempts {
                tokio::time::sleep(cfg.retry_delay()).await;
            }
        }
        if !delivered && c.action != "Deactivated" {
            if let Some(sim) = sink.upgrade() {
                sim.dropped(&c, &last_error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_base64_hmac_sha1() {
        // HMAC-SHA1("key", "The quick brown fox jumps over the lazy dog")
        // = de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9
        assert_eq!(
            signature("key", b"The quick brown fox jumps over the lazy dog"),
            "sha1=3nybhbi3iqa8ino29wqQcBydtNk="
        );
    }
}
