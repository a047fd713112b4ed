//! Webhook events as data: the [`Outbound`] callouts the rules return, the payload encoding
//! Autotask uses, the database's event sequence number and the consecutive-failure counters
//! of webhook deliveries.
//!
//! What it does not do: no delivery (that is `callout`, after the database lock is
//! released), no decision which webhook fires (that is `webhooks` and `tickets`).

use std::collections::HashMap;

use autotask_types::WebhookFamily;
use serde::Serialize;
use serde_json::{Value as Json, json};

use super::tables::{Row, str_field, utc_now};

/// A callout to deliver once the lock is released.
#[derive(Clone)]
pub(crate) struct Outbound {
    pub(crate) database: String,
    pub(crate) family: WebhookFamily,
    pub(crate) webhook_id: i64,
    pub(crate) url: String,
    pub(crate) secret: String,
    pub(crate) body: Vec<u8>,
    pub(crate) action: &'static str,
}

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

/// The event sequence and the delivery failure counters of one database.
#[derive(Debug, Default)]
pub(crate) struct Events {
    sequence: u64,
    failures: HashMap<(WebhookFamily, i64), u32>,
}

impl Events {
    /// The next `SequenceNumber`.
    pub(crate) fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Forgets a webhook's consecutive failures (delivered, reactivated or deleted).
    pub(crate) fn clear_failures(&mut self, family: WebhookFamily, id: i64) {
        self.failures.remove(&(family, id));
    }

    /// Counts one more failed attempt; returns the consecutive count.
    pub(crate) fn count_failure(&mut self, family: WebhookFamily, id: i64) -> u32 {
        let n = self.failures.entry((family, id)).or_default();
        *n += 1;
        *n
    }

    /// The `Deactivated` callout of a webhook row, to its `deactivationUrl`.
    pub(crate) fn deactivation(
        &mut self,
        database: &str,
        family: WebhookFamily,
        row: &Row,
    ) -> Outbound {
        let payload = json!({
            "Action": "Deactivated",
            "Guid": row.get("webhookGUID").cloned().unwrap_or(Json::Null),
            "EntityType": family.webhook_entity(),
            "Id": row.get("id").cloned().unwrap_or(Json::Null),
            "Fields": {},
            "EventTime": utc_now(),
            "SequenceNumber": self.next_sequence(),
            "PersonID": row.get("ownerResourceID").cloned().unwrap_or(Json::Null),
        });
        Outbound {
            database: database.to_owned(),
            family,
            webhook_id: row.get("id").and_then(Json::as_i64).unwrap_or_default(),
            url: str_field(row, "deactivationUrl"),
            secret: str_field(row, "secretKey"),
            body: encode(&payload),
            action: "Deactivated",
        }
    }
}
