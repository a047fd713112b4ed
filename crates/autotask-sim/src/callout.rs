//! Webhook callouts: payload encoding the way Autotask writes it, the `X-Hook-Signature`
//! header, and delivery with Autotask's timeout, retries and deactivation after consecutive
//! failures.
//!
//! Each webhook has its own ordered queue (a task fed by a channel), so events of one webhook
//! arrive in trigger order while a slow receiver does not hold up other webhooks. Delivery
//! outcomes go to the callout log and, on the failure limit, deactivate the webhook (which
//! itself sends a deactivation callout to `deactivationUrl`).

use std::collections::HashMap;
use std::sync::Arc;

use autotask_types::WebhookFamily;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value as Json;
use sha1::Sha1;
use tokio::sync::mpsc;

use crate::server::Inner;
use crate::state::Outbound;

/// Serializes a payload as Autotask does: `& < > ' +` and every non-ASCII character are
/// written as `\uXXXX` inside strings, so only the raw bytes verify.
pub(crate) fn encode(payload: &Json) -> Vec<u8> {
    struct AutotaskFormatter;
    impl serde_json::ser::Formatter for AutotaskFormatter {
        fn write_string_fragment<W: ?Sized + std::io::Write>(
            &mut self,
            writer: &mut W,
            fragment: &str,
        ) -> std::io::Result<()> {
            for ch in fragment.chars() {
                if ch.is_ascii() && !matches!(ch, '&' | '<' | '>' | '\'' | '+') {
                    writer.write_all(&[ch as u8])?;
                } else {
                    let mut buf = [0u16; 2];
                    for unit in ch.encode_utf16(&mut buf) {
                        write!(writer, "\\u{unit:04x}")?;
                    }
                }
            }
            Ok(())
        }
    }
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, AutotaskFormatter);
    payload
        .serialize(&mut ser)
        .expect("a JSON value always serializes");
    out
}

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

/// Routes callouts to one ordered worker per webhook.
pub(crate) struct Dispatcher {
    queues:
        std::sync::Mutex<HashMap<(String, WebhookFamily, i64), mpsc::UnboundedSender<Outbound>>>,
    client: reqwest::Client,
    /// The runtime the simulator was spawned on, so console methods called from plain
    /// threads can still start delivery workers.
    runtime: tokio::runtime::Handle,
}

impl Dispatcher {
    pub(crate) fn new(timeout: std::time::Duration) -> Self {
        // reqwest is built with `rustls-no-provider`: install ring if nobody did.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("a reqwest client with a crypto provider builds");
        Self {
            queues: std::sync::Mutex::new(HashMap::new()),
            client,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// Queues callouts; each webhook's queue is delivered in order.
    pub(crate) fn send(inner: &Arc<Inner>, callouts: Vec<Outbound>) {
        for c in callouts {
            if c.url.is_empty() {
                continue;
            }
            let key = (c.database.clone(), c.family, c.webhook_id);
            let mut queues = inner.dispatcher.queues.lock().expect("not poisoned");
            let tx = queues.entry(key).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                inner
                    .dispatcher
                    .runtime
                    .spawn(worker(Arc::downgrade(inner), rx));
                tx
            });
            let _ = tx.send(c);
        }
    }
}

async fn worker(inner: std::sync::Weak<Inner>, mut rx: mpsc::UnboundedReceiver<Outbound>) {
    while let Some(c) = rx.recv().await {
        let Some(sim) = inner.upgrade() else { return };
        let cfg = sim.config.callouts.clone();
        let client = sim.dispatcher.client.clone();
        drop(sim);
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
            let Some(sim) = inner.upgrade() else { return };
            sim.record_callout(CalloutRecord {
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
                let more = sim.after_delivery(&c, delivered);
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
            if let Some(sim) = inner.upgrade() {
                sim.event_dropped(&c, &last_error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_escapes_like_autotask() {
        let body = encode(&json!({"Fields": {"title": "A&B <x> it's 1+1 café"}}));
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"Fields":{"title":"A\u0026B \u003cx\u003e it\u0027s 1\u002b1 caf\u00e9"}}"#
        );
    }

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
