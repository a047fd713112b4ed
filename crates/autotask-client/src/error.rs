//! The client's one error type and the pure function that maps an HTTP answer to it.
//!
//! Autotask answers validation and business-rule failures with HTTP 500 and
//! `{"errors": [...]}`, the thread limit with 429 or an `Itgenatr005` / "thread threshold"
//! message (sometimes under another status), and the hourly threshold with an error whose
//! status is undocumented. [`classify`] decides from status and body alone, so the table
//! test pins every case.

use std::time::Duration;

use autotask_types::ErrorsResult;

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
    /// A 2xx answer whose body does not fit the model.
    #[error("cannot decode {entity} from Autotask at {path}: {message}")]
    Decode {
        /// Entity or envelope being decoded.
        entity: String,
        /// JSON path of the offending field.
        path: String,
        /// What is wrong.
        message: String,
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
    let text = body.to_ascii_lowercase();
    let thread_limit =
        text.contains("itgenatr005") || (text.contains("thread") && text.contains("threshold"));
    let hourly = !thread_limit
        && text.contains("threshold")
        && (text.contains("exceeded") || text.contains("hour"));
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
