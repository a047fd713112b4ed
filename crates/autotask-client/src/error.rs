//! The client's one error type and the pure functions that map an HTTP answer to it.
//!
//! Autotask answers validation and business-rule failures with HTTP 500 and
//! `{"errors": [...]}`, the thread limit with 429 or an `Itgenatr005` / "thread threshold"
//! message (sometimes under another status), and the hourly threshold with an error whose
//! status is undocumented. [`classify`] decides from status and body alone, so the table
//! test pins every case.
//!
//! The two limits are told apart by the words of Autotask's own refusals
//! ([`limit_refusal`]), never by a substring: the thread limit names `Itgenatr005` or the
//! words "thread" and "threshold" (`autotask-api.md` §2, §3: "thread threshold of 3 threads
//! has been exceeded"); the hourly threshold names a *request* threshold (or one per
//! hour) that is *exceeded* ("The API request threshold of 10000 requests per 60 minutes
//! has been exceeded", as the simulator words KB-NOTIF's error). A validation error about
//! the webhook property `sendThresholdExceededNotification` contains neither word on its
//! own, so it stays a rejection.
//!
//! A 2xx body that does not decode even with the lenient models of `autotask-types` is
//! [`Error::ContractDrift`] ([`decode`]): it names the entity, the field's JSON path, what
//! was there (its JSON kind only, never its value, which may be a secret or a person's
//! name) and what onboard expects. It is not retryable: the same answer will come again,
//! and an operator must see it at once.

use std::time::Duration;

use autotask_types::ErrorsResult;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

/// Everything that can go wrong talking to Autotask.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// 401: unknown user, wrong secret, inactive or locked user, or an integration code the
    /// user's tracking identifier does not name.
    #[error(
        "Autotask rejected the credentials of {username} (401){}",
        join(messages)
    )]
    CredentialsRejected {
        /// The username (never the secret).
        username: String,
        /// Messages from the body, if any.
        messages: Vec<String>,
    },
    /// 403: the user's security level does not permit this.
    #[error("Autotask does not permit this operation (403){}", join(messages))]
    NotPermitted {
        /// Messages from the body.
        messages: Vec<String>,
    },
    /// 404: no such entity or path.
    #[error("not found (404)")]
    NotFound,
    /// 405: wrong method (e.g. GET on `query/next`).
    #[error("method not allowed (405){}", join(messages))]
    MethodNotAllowed {
        /// Messages from the body.
        messages: Vec<String>,
    },
    /// The thread limit (3 concurrent requests per integration code and endpoint): 429 or an
    /// `Itgenatr005` message. Retryable.
    #[error("Autotask thread limit reached{}", join(messages))]
    ThreadLimit {
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
        /// Messages from the body.
        messages: Vec<String>,
    },
    /// The database's hourly request threshold is exceeded. Retryable later.
    #[error("Autotask hourly request threshold exceeded{}", join(messages))]
    ThresholdExceeded {
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
        /// Messages from the body.
        messages: Vec<String>,
    },
    /// A business or validation failure (500 with `errors[]`). Permanent.
    #[error("Autotask rejected the request ({status}){}", join(messages))]
    Rejected {
        /// The status (500 in practice).
        status: u16,
        /// The business messages.
        messages: Vec<String>,
    },
    /// 5xx without a business message, a timeout or a connection failure. Retryable.
    #[error("transient failure: {detail}")]
    Transient {
        /// The status, if an answer came.
        status: Option<u16>,
        /// What happened.
        detail: String,
        /// Whether the request certainly did not reach Autotask (connection refused).
        not_sent: bool,
    },
    /// Another status we do not expect.
    #[error("unexpected status {status}: {body}")]
    UnexpectedStatus {
        /// The status.
        status: u16,
        /// The first 200 characters of the body.
        body: String,
    },
    /// A 2xx answer whose body does not fit the model even read leniently: Autotask's
    /// contract has drifted from ours. Not retryable; an operator must see it at once.
    #[error(
        "contract drift: Autotask's {entity} answer has {found} at `{path}` where onboard \
         expects {expected}"
    )]
    ContractDrift {
        /// Entity or envelope being decoded, e.g. `TicketWebhook`.
        entity: String,
        /// JSON path of the offending field, e.g. `items[1].isActive` (`.` for the body).
        path: String,
        /// What onboard expects there, e.g. `a boolean`.
        expected: String,
        /// What was there: its JSON kind (`null`, `a string`, ..., `nothing`), never its value.
        found: String,
    },
    /// A request body that cannot be encoded (a defect of onboard's, not of Autotask's).
    #[error("cannot encode the {entity} request: {detail}")]
    Encode {
        /// The entity being written.
        entity: String,
        /// What went wrong.
        detail: String,
    },
    /// An answer beyond the client's bounds: a response body larger than
    /// [`ClientConfig::max_body_bytes`](crate::ClientConfig), a query with more pages than
    /// [`ClientConfig::max_pages`](crate::ClientConfig), or a pagination URL that repeats.
    /// Not retryable: the same question gets the same answer.
    #[error("the {entity} answer is beyond bounds: {detail}")]
    OverLimit {
        /// The entity asked for.
        entity: String,
        /// Which bound, and by how much.
        detail: String,
    },
    /// A URL outside the allowed hosts (zone or pagination URL).
    #[error("refusing to call {url}: {reason}")]
    HostNotAllowed {
        /// The refused URL (no credentials in it).
        url: String,
        /// Why.
        reason: String,
    },
    /// Zone discovery found no zone for the user.
    #[error("zone discovery found no zone for user {username}: {detail}")]
    ZoneNotFound {
        /// The username.
        username: String,
        /// What the discovery endpoint said.
        detail: String,
    },
    /// The pacing hook refused the request (the configured share of the hourly budget is
    /// used up). Retryable later.
    #[error("request budget used up; retry in {retry_after:?}")]
    BudgetExhausted {
        /// When to try again.
        retry_after: Duration,
    },
}

fn join(messages: &[String]) -> String {
    if messages.is_empty() {
        String::new()
    } else {
        format!(": {}", messages.join("; "))
    }
}

impl Error {
    /// A short name of the error's class, for spans (`error.type`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::CredentialsRejected { .. } => "credentials_rejected",
            Self::NotPermitted { .. } => "not_permitted",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::ThreadLimit { .. } => "thread_limit",
            Self::ThresholdExceeded { .. } => "threshold_exceeded",
            Self::Rejected { .. } => "rejected",
            Self::Transient { .. } => "transient",
            Self::UnexpectedStatus { .. } => "unexpected_status",
            Self::ContractDrift { .. } => "contract_drift",
            Self::Encode { .. } => "encode",
            Self::HostNotAllowed { .. } => "host_not_allowed",
            Self::OverLimit { .. } => "over_limit",
            Self::ZoneNotFound { .. } => "zone_not_found",
            Self::BudgetExhausted { .. } => "budget_exhausted",
        }
    }

    /// Whether trying again later can succeed (transient, thread limit, threshold, budget).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::ThreadLimit { .. }
                | Self::ThresholdExceeded { .. }
                | Self::Transient { .. }
                | Self::BudgetExhausted { .. }
        )
    }

    /// Whether the in-process retry loop should try again soon (transient and thread limit;
    /// the hourly threshold and the budget need minutes, so they go to the caller).
    pub(crate) fn retry_soon(&self) -> bool {
        matches!(self, Self::ThreadLimit { .. } | Self::Transient { .. })
    }

    /// The server's requested delay, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::ThreadLimit { retry_after, .. } | Self::ThresholdExceeded { retry_after, .. } => {
                *retry_after
            }
            Self::BudgetExhausted { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// Whether Autotask certainly did not act on the request, so even a create may be
    /// retried.
    pub(crate) fn certainly_not_processed(&self) -> bool {
        match self {
            Self::ThreadLimit { .. }
            | Self::ThresholdExceeded { .. }
            | Self::BudgetExhausted { .. } => true,
            Self::Transient { not_sent, .. } => *not_sent,
            _ => false,
        }
    }
}

/// Maps an HTTP answer to an error; `None` for a success (2xx without `errors`).
///
/// `username` only labels a 401; `retry_after` is the parsed `Retry-After` header.
pub fn classify(
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
    username: &str,
) -> Option<Error> {
    let messages = messages(body);
    let limit = {
        let mut texts: Vec<String> = messages.clone();
        texts.extend(message_field(body));
        if texts.is_empty() {
            texts.push(body.to_owned());
        }
        let found: Vec<_> = texts.iter().filter_map(|t| limit_refusal(t)).collect();
        if found.contains(&Limit::Thread) {
            Some(Limit::Thread)
        } else {
            found.first().copied()
        }
    };
    let thread_limit = limit == Some(Limit::Thread);
    let hourly = limit == Some(Limit::Hourly);
    if (200..300).contains(&status) {
        // A 2xx body carrying errors[] is a rejection all the same.
        return (!messages.is_empty()).then_some(Error::Rejected { status, messages });
    }
    if thread_limit {
        return Some(Error::ThreadLimit {
            retry_after,
            messages,
        });
    }
    if hourly {
        return Some(Error::ThresholdExceeded {
            retry_after,
            messages,
        });
    }
    Some(match status {
        401 => Error::CredentialsRejected {
            username: username.to_owned(),
            messages,
        },
        403 => Error::NotPermitted { messages },
        404 => Error::NotFound,
        405 => Error::MethodNotAllowed {
            messages: if messages.is_empty() {
                message_field(body)
            } else {
                messages
            },
        },
        429 => Error::ThreadLimit {
            retry_after,
            messages,
        },
        500..=599 if !messages.is_empty() => Error::Rejected { status, messages },
        500..=599 => Error::Transient {
            status: Some(status),
            detail: format!("HTTP {status} without an error message"),
            not_sent: false,
        },
        _ => Error::UnexpectedStatus {
            status,
            body: body.chars().take(200).collect(),
        },
    })
}

/// Which of Autotask's limit refusals a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The thread limit (3 concurrent requests per tracking identifier and endpoint):
    /// transient, retried soon.
    Thread,
    /// The database's hourly request threshold: retry when the budget recovers.
    Hourly,
}

/// Whether `message` is one of Autotask's limit refusals, judged by whole words so that a
/// property name such as `sendThresholdExceededNotification` is not taken for one.
///
/// - thread limit: the code `Itgenatr005`, or the words "thread" and "threshold";
/// - hourly threshold: the word "threshold" with "exceeded" (or "exceeds") and "request",
///   "requests", "hour" or "hourly".
pub fn limit_refusal(message: &str) -> Option<Limit> {
    let lower = message.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.contains(&w);
    let any = |ws: &[&str]| ws.iter().any(|w| has(w));
    if has("itgenatr005") || (any(&["thread", "threads"]) && has("threshold")) {
        return Some(Limit::Thread);
    }
    (has("threshold")
        && any(&["exceeded", "exceeds"])
        && any(&["request", "requests", "hour", "hourly"]))
    .then_some(Limit::Hourly)
}

/// Decodes a 2xx body as `T`; a body that does not fit is [`Error::ContractDrift`] naming
/// `entity`, the field's path, what was there and what was expected.
pub fn decode<T: DeserializeOwned>(entity: &str, body: &str) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_str(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| drift(entity, body, &e))
}

fn drift(entity: &str, body: &str, e: &serde_path_to_error::Error<serde_json::Error>) -> Error {
    let inner = e.inner();
    let mut message = inner.to_string();
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    let mut segments: Vec<String> = Vec::new();
    let mut value = serde_json::from_str::<Json>(body).ok();
    for segment in e.path().iter() {
        use serde_path_to_error::Segment;
        value = value.and_then(|v| match segment {
            Segment::Seq { index } => v.get(*index).cloned(),
            Segment::Map { key } => v.get(key.as_str()).cloned(),
            Segment::Enum { .. } | Segment::Unknown => None,
        });
        segments.push(match segment {
            Segment::Seq { index } => format!("[{index}]"),
            Segment::Map { key } => format!(".{key}"),
            Segment::Enum { variant } => format!(".{variant}"),
            Segment::Unknown => ".?".to_owned(),
        });
    }
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
        .map(str::to_owned);
    let (found, expected) = if inner.is_syntax() || inner.is_eof() {
        (
            "a body that is not JSON".to_owned(),
            format!("JSON ({message})"),
        )
    } else if let Some(field) = missing {
        segments.push(format!(".{field}"));
        ("nothing".to_owned(), format!("the property `{field}`"))
    } else {
        let expected = message
            .split_once(", expected ")
            .map_or("another shape", |(_, e)| e)
            .to_owned();
        let found = value
            .as_ref()
            .map_or("an unreadable value", kind)
            .to_owned();
        (found, expected)
    };
    let path = segments.concat();
    let path = path.strip_prefix('.').unwrap_or(&path);
    Error::ContractDrift {
        entity: entity.to_owned(),
        path: if path.is_empty() {
            ".".into()
        } else {
            path.into()
        },
        expected,
        found,
    }
}

/// A JSON value's kind, for drift messages (never the value: it may be a secret).
fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn messages(body: &str) -> Vec<String> {
    serde_json::from_str::<ErrorsResult>(body)
        .map(|e| e.errors)
        .unwrap_or_default()
}

fn message_field(body: &str) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("Message")
                .or_else(|| v.get("message"))
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, body: &str) -> String {
        match classify(status, body, None, "api@x") {
            None => "ok".into(),
            Some(e) => format!(
                "{} retryable={}",
                format!("{e:?}").split([' ', '{', '(']).next().unwrap(),
                e.is_retryable()
            ),
        }
    }

    #[test]
    fn status_and_body_table() {
        let table = [
            (200, r#"{"item":{}}"#, "ok"),
            (
                200,
                r#"{"errors":["Field X is required"]}"#,
                "Rejected retryable=false",
            ),
            (401, "", "CredentialsRejected retryable=false"),
            (403, "", "NotPermitted retryable=false"),
            (404, "", "NotFound retryable=false"),
            (
                405,
                r#"{"Message":"The requested resource does not support http method 'GET'."}"#,
                "MethodNotAllowed retryable=false",
            ),
            (429, "", "ThreadLimit retryable=true"),
            (
                500,
                r#"{"errors":["Itgenatr005: thread threshold of 3 threads exceeded"]}"#,
                "ThreadLimit retryable=true",
            ),
            (
                403,
                r#"{"errors":["The thread threshold of 3 threads has been exceeded"]}"#,
                "ThreadLimit retryable=true",
            ),
            (
                500,
                r#"{"errors":["API request threshold of 10000 requests per hour exceeded"]}"#,
                "ThresholdExceeded retryable=true",
            ),
            (
                429,
                r#"{"errors":["Request threshold exceeded for this hour"]}"#,
                "ThresholdExceeded retryable=true",
            ),
            (
                500,
                r#"{"errors":["Webhook name is required"]}"#,
                "Rejected retryable=false",
            ),
            (500, "", "Transient retryable=true"),
            (502, "<html>bad gateway</html>", "Transient retryable=true"),
            (503, r#"{"errors":[]}"#, "Transient retryable=true"),
            (418, "teapot", "UnexpectedStatus retryable=false"),
        ];
        for (status, body, expected) in table {
            assert_eq!(kind(status, body), expected, "status {status} body {body}");
        }
    }

    /// Autotask's own refusals (the reference's and the simulator's texts) and near misses,
    /// under 429 and 500.
    #[test]
    fn limit_refusals_are_recognised_by_their_words() {
        let sim_hourly = "The API request threshold of 10000 requests per 60 minutes has been \
                          exceeded for this database. API access is suspended until usage \
                          drops below the threshold.";
        let sim_thread = "Itgenatr005: The thread threshold of 3 concurrent threads has been \
                          exceeded for this API tracking identifier on the endpoint \
                          TicketWebhooks. Please reduce the number of concurrent requests.";
        let table: &[(&str, Option<Limit>)] = &[
            // The hourly threshold, as the simulator and clients word it.
            (sim_hourly, Some(Limit::Hourly)),
            (
                "API request threshold of 10000 requests per hour exceeded",
                Some(Limit::Hourly),
            ),
            (
                "Request threshold exceeded for this hour",
                Some(Limit::Hourly),
            ),
            (
                "The hourly threshold has been exceeded.",
                Some(Limit::Hourly),
            ),
            // The thread limit (autotask-api.md §2/§3, N8N PR #107): transient, not budget.
            (sim_thread, Some(Limit::Thread)),
            (
                "The thread threshold of 3 threads has been exceeded",
                Some(Limit::Thread),
            ),
            ("itgenatr005", Some(Limit::Thread)),
            // Near misses: validation errors that name the webhook property.
            (
                "sendThresholdExceededNotification must be true or false",
                None,
            ),
            (
                "Invalid value for field sendThresholdExceededNotification: the request \
                 body is malformed",
                None,
            ),
            (
                "The field SendThresholdExceededNotification is required when \
                 notificationEmailAddress is set (max 150 characters per hour of work)",
                None,
            ),
            ("Webhook name is required", None),
            ("threshold", None),
            ("The threshold must be a positive number of requests", None),
            ("Maximum field length exceeded for webhookUrl", None),
        ];
        for (text, expected) in table {
            assert_eq!(limit_refusal(text), *expected, "{text}");
            let body = serde_json::json!({ "errors": [text] }).to_string();
            for status in [429, 500] {
                let got = kind(status, &body);
                let want = match (expected, status) {
                    (Some(Limit::Hourly), _) => "ThresholdExceeded retryable=true",
                    (Some(Limit::Thread), _) | (None, 429) => "ThreadLimit retryable=true",
                    (None, _) => "Rejected retryable=false",
                };
                assert_eq!(got, want, "{status} {text}");
            }
        }
    }

    /// Bodies that do not fit even the lenient models: each names the entity, the path,
    /// what was there (its kind, never its value) and what was expected.
    #[test]
    fn undecodable_bodies_are_contract_drift() {
        use autotask_types::{
            FieldInformationResult, ItemIdResult, QueryResult, Resource, Webhook,
        };
        fn drift<T: DeserializeOwned + std::fmt::Debug>(entity: &str, body: &str) -> String {
            let e = decode::<T>(entity, body).unwrap_err();
            assert!(!e.is_retryable(), "{e:?}");
            assert!(matches!(e, Error::ContractDrift { .. }), "{e:?}");
            e.to_string()
        }
        let table = [
            (
                drift::<QueryResult<Resource>>(
                    "Resource",
                    r#"{"items":[{"id":1},{"id":2,"isActive":"yes"}],"pageDetails":null}"#,
                ),
                "contract drift: Autotask's Resource answer has a string at `items[1].isActive` \
                 where onboard expects a boolean",
            ),
            (
                drift::<ItemIdResult>("TicketWebhook", r#"{"itemId":null}"#),
                "contract drift: Autotask's TicketWebhook answer has null at `itemId` where \
                 onboard expects i64",
            ),
            (
                drift::<ItemIdResult>("TicketWebhook", r#"{"id":5}"#),
                "contract drift: Autotask's TicketWebhook answer has nothing at `itemId` where \
                 onboard expects the property `itemId`",
            ),
            (
                drift::<FieldInformationResult>(
                    "TicketWebhookField",
                    r#"{"fields":[{"name":"fieldID","picklistValues":{"value":"1"}}]}"#,
                ),
                "contract drift: Autotask's TicketWebhookField answer has an object at \
                 `fields[0].picklistValues` where onboard expects a sequence",
            ),
            (
                drift::<QueryResult<Webhook>>(
                    "TicketWebhook",
                    r#"{"items":[{"id":"s3cr3t-not-an-id","secretKey":"k"}]}"#,
                ),
                "contract drift: Autotask's TicketWebhook answer has a string at `items[0].id` \
                 where onboard expects i64",
            ),
            (
                drift::<QueryResult<Webhook>>("TicketWebhook", "<html>maintenance</html>"),
                "contract drift: Autotask's TicketWebhook answer has a body that is not JSON at \
                 `.` where onboard expects JSON (expected value)",
            ),
        ];
        for (got, want) in table {
            assert_eq!(got, want);
            assert!(!got.contains("s3cr3t"), "a value leaked: {got}");
        }
    }

    #[test]
    fn business_messages_are_kept() {
        let e = classify(500, r#"{"errors":["a","b"]}"#, None, "u").unwrap();
        assert_eq!(
            e,
            Error::Rejected {
                status: 500,
                messages: vec!["a".into(), "b".into()]
            }
        );
        assert_eq!(e.to_string(), "Autotask rejected the request (500): a; b");
    }

    #[test]
    fn retry_after_is_carried() {
        let e = classify(429, "", Some(Duration::from_secs(2)), "u").unwrap();
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
    }
}
