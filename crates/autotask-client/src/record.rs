//! The recording hook: a [`Recorder`] is told about every answer Autotask gave (method, URL,
//! the request's JSON body, status and response body), for `onboard doctor --record`.
//!
//! What it does not see: headers. The credentials travel only in headers, so a recorder
//! never receives a secret or an integration code; usernames, names and e-mail addresses can
//! be in URLs and bodies, and redacting them is the recorder's job.

use std::sync::Arc;

use serde_json::Value as Json;
use url::Url;

/// One answered request. Transport failures (no answer) are not recorded.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// `GET`, `POST`, `PATCH`, ...
    pub method: &'a str,
    /// The full URL, query string included.
    pub url: &'a Url,
    /// The JSON body sent (queries, writes), if any.
    pub request_body: Option<&'a Json>,
    /// The answered status.
    pub status: u16,
    /// The answered body as text.
    pub body: &'a str,
}

/// Told about every answered request, zone discovery included.
pub type Recorder = Arc<dyn Fn(&Exchange<'_>) + Send + Sync>;
