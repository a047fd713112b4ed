//! What one request is ([`Request`]) and the plain helpers of the request path: where a URL's
//! endpoint is (for the thread limit), reading a bounded body, mapping transport errors.
//! Knows nothing of clients or tenants.

use reqwest::Method;
use serde_json::Value as Json;
use url::Url;

use crate::Error;

/// One request, described for the shared request path.
pub(crate) struct Request<'a> {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) body: Option<&'a Json>,
    /// e.g. `/V1.0/{entity}/query`, for spans.
    pub(crate) template: &'static str,
    pub(crate) entity: &'a str,
    /// Whether repeating it cannot create anything twice.
    pub(crate) idempotent: bool,
}

/// The object endpoint a request counts against: the first path segment after `V1.0/`.
pub(crate) fn endpoint_of(zone: &Url, url: &Url) -> String {
    let path = url.path();
    let rest = path.strip_prefix(zone.path()).unwrap_or(path);
    let rest = rest
        .split_once('/')
        .filter(|(version, _)| version.eq_ignore_ascii_case("v1.0"))
        .map_or(rest, |(_, rest)| rest);
    rest.split('/').next().unwrap_or_default().to_owned()
}

/// Reads a response body of at most `max` bytes; a larger one is refused (by its declared
/// length before reading, else as soon as it grows past the bound).
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    max: usize,
    entity: &str,
) -> Result<String, Error> {
    let over = |n: String| Error::OverLimit {
        entity: entity.to_owned(),
        detail: format!("a response body of {n} bytes (at most {max} are read)"),
    };
    if let Some(n) = response.content_length().filter(|n| *n > max as u64) {
        return Err(over(n.to_string()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > max {
            return Err(over(format!("more than {max}")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

pub(crate) fn transport_error(e: reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "connection error"
    };
    let not_sent = e.is_connect();
    // The URL is left out; reqwest's error text never holds headers, so no secret leaks.
    Error::Transient {
        status: None,
        detail: format!("{kind}: {}", e.without_url()),
        not_sent,
    }
}
