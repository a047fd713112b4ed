//! The simulator's one error enum: REST answers (with the status and body Autotask would send)
//! and operator-console failures share it, so every rule is one `Err(...)` away from its
//! response. It does not log: the REST pipeline (`api`) records the status in the request log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Everything the simulator can refuse, with the HTTP answer it maps to.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Authentication failed (unknown user, wrong secret, inactive or locked user, or an
    /// integration code that is not the user's tracking identifier): 401.
    #[error("unauthorized: {reason}")]
    Unauthorized {
        /// Why, for the request log and tests (never the secret itself).
        reason: String,
    },
    /// A business or validation rule failed: Autotask answers 500 with `{"errors": [...]}`.
    #[error("rejected: {}", messages.join("; "))]
    Rejected {
        /// The `errors[]` messages.
        messages: Vec<String>,
    },
    /// Unknown entity, id or database: 404.
    #[error("not found: {what}")]
    NotFound {
        /// What was not found.
        what: String,
    },
    /// The route exists but not for this method: 405 with ASP.NET's `{"Message": ...}` body.
    #[error("method {method} not allowed")]
    MethodNotAllowed {
        /// The HTTP method.
        method: String,
    },
    /// More than the allowed concurrent requests per (integration code, endpoint): 429, or
    /// 500 with the same `Itgenatr005` text (behaviour knob `thread_limit_status`).
    #[error("thread threshold of {limit} exceeded for endpoint {endpoint}")]
    ThreadLimit {
        /// The limit (3).
        limit: u32,
        /// The endpoint (first path segment after `V1.0`).
        endpoint: String,
        /// The status to answer with (429 or 500).
        status: u16,
    },
    /// The database's hourly request threshold is used up: 429, or 500 with the same text
    /// (behaviour knob `threshold_status`).
    #[error("hourly request threshold of {threshold} exceeded")]
    ThresholdExceeded {
        /// The threshold.
        threshold: u32,
        /// The status to answer with (429 or 500).
        status: u16,
    },
    /// A fault rule asked for this status (and body).
    #[error("injected fault: HTTP {status}")]
    Injected {
        /// The status to answer.
        status: u16,
        /// `errors[]` to send; empty = ASP.NET's bare `{"Message": ...}`.
        errors: Vec<String>,
    },
    /// An operator-console request was malformed: 400.
    #[error("bad console request: {message}")]
    BadRequest {
        /// What is wrong.
        message: String,
    },
    /// An operator-console action conflicts with the current state (e.g. editing a system
    /// security level, or a username that already exists): 409.
    #[error("conflict: {message}")]
    Conflict {
        /// What conflicts.
        message: String,
    },
    /// Binding or serving the listener failed.
    #[error("i/o error while {action}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The fixtures file could not be read or parsed.
    #[error("invalid fixtures: {message}")]
    Fixtures {
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// A 500 with one message, the way Autotask reports a failed rule.
    pub fn rejected(message: impl Into<String>) -> Self {
        Self::Rejected {
            messages: vec![message.into()],
        }
    }

    /// A 401.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self::Unauthorized {
            reason: reason.into(),
        }
    }

    /// A 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    /// A 400 from the console.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
        }
    }

    /// A 409 from the console.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Rejected { .. } | Self::Io { .. } | Self::Fixtures { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::ThreadLimit { status, .. }
            | Self::ThresholdExceeded { status, .. }
            | Self::Injected { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Conflict { .. } => StatusCode::CONFLICT,
        }
    }

    /// The JSON body Autotask sends with this status.
    pub fn body(&self) -> serde_json::Value {
        match self {
            Self::MethodNotAllowed { method } => json!({
                "Message": format!("The requested resource does not support http method '{method}'.")
            }),
            Self::Rejected { messages } => json!({ "errors": messages }),
            Self::ThreadLimit {
                limit, endpoint, ..
            } => json!({ "errors": [format!(
                "Itgenatr005: The thread threshold of {limit} concurrent threads has been \
                 exceeded for this API tracking identifier on the endpoint {endpoint}. \
                 Please reduce the number of concurrent requests."
            )] }),
            Self::ThresholdExceeded { threshold, .. } => json!({ "errors": [format!(
                "The API request threshold of {threshold} requests per 60 minutes has been \
                 exceeded for this database. API access is suspended until usage drops \
                 below the threshold."
            )] }),
            Self::Unauthorized { .. } => json!({ "errors": ["Unauthorized"] }),
            Self::Injected { errors, .. } if errors.is_empty() => {
                json!({ "Message": "An error has occurred." })
            }
            Self::Injected { errors, .. } => json!({ "errors": errors }),
            other => json!({ "errors": [other.to_string()] }),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}
