//! The HTTP side: [`AutotaskClient`] (pool, zone cache, limiter, pacer) and [`Tenant`] (one
//! API user's view of its database), with one request path that every operation shares:
//! pace → permit → send with auth headers → classify → decode, retried with `backon`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use autotask_types::{
    CountResult, Endpoint, Entity, EntityInformation, EntityInformationResult, FieldInfo,
    FieldInformationResult, ItemIdResult, ItemResult, Query, QueryResult, ThresholdInformation,
    ZoneInformation,
};
use backon::{ExponentialBuilder, Retryable};
use futures::{Stream, TryStreamExt, stream};
use reqwest::Method;
use serde_json::Value as Json;
use sha1::{Digest, Sha1};
use tracing::{Instrument, field};
use url::Url;

use crate::zone::{check_allowed, discovery_url, normalize_zone_url, same_origin};
use crate::{
    ClientConfig, Credentials, Error, Exchange, LimitKey, Limiter, LocalLimiter, Pace, Pacer,
    Recorder, Unpaced, classify, decode,
};

/// A shareable Autotask client (cheap to clone).
#[derive(Clone)]
pub struct AutotaskClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    zones: Mutex<HashMap<String, (Zone, Instant)>>,
    thresholds: Mutex<HashMap<String, ThresholdInformation>>,
    limiter: Arc<dyn Limiter>,
    pacer: Arc<dyn Pacer>,
    observer: Option<Observer>,
    recorder: Option<Recorder>,
}

/// Told about every answered request: (entity, status; 0 when no answer came). For metrics.
pub type Observer = Arc<dyn Fn(&str, u16) + Send + Sync>;

#[derive(Clone, Debug)]
struct Zone {
    url: Url,
    database: String,
}

impl std::fmt::Debug for AutotaskClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutotaskClient")
            .field("target", &self.inner.config.target)
            .finish_non_exhaustive()
    }
}

impl AutotaskClient {
    /// A client with the in-process limiter (`endpoint_concurrency` permits per key) and no
    /// pacing.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let limiter = Arc::new(LocalLimiter::new(config.endpoint_concurrency));
        Self::with_parts(config, limiter, Arc::new(Unpaced))
    }

    /// A client with a limiter and a pacer of the caller's (e.g. shared through Redis).
    pub fn with_parts(
        config: ClientConfig,
        limiter: Arc<dyn Limiter>,
        pacer: Arc<dyn Pacer>,
    ) -> Result<Self, Error> {
        // rustls needs a process-wide crypto provider; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Transient {
                status: None,
                detail: format!("cannot build the HTTP client: {e}"),
                not_sent: true,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                zones: Mutex::default(),
                thresholds: Mutex::default(),
                limiter,
                pacer,
                observer: None,
                recorder: None,
            }),
        })
    }

    /// The same client, telling `observer` about every request (entity and status). Zone
    /// and threshold caches start empty.
    pub fn observed_by(self, observer: Observer) -> Self {
        self.rebuilt(Some(observer), self.inner.recorder.clone())
    }

    /// The same client, telling `recorder` about every answer (never the headers, so never a
    /// credential). Zone and threshold caches start empty.
    pub fn recorded_by(self, recorder: Recorder) -> Self {
        self.rebuilt(self.inner.observer.clone(), Some(recorder))
    }

    fn rebuilt(&self, observer: Option<Observer>, recorder: Option<Recorder>) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                http: inner.http.clone(),
                config: inner.config.clone(),
                zones: Mutex::default(),
                thresholds: Mutex::default(),
                limiter: inner.limiter.clone(),
                pacer: inner.pacer.clone(),
                observer,
                recorder,
            }),
        }
    }

    /// The REST base URL of `username`'s database (normalised, allowlisted), from the cache
    /// or `zoneInformation?user=` (no credentials; exempt from thread limits).
    #[tracing::instrument(skip_all, fields(autotask.username = %username))]
    pub async fn zone_url(&self, username: &str) -> Result<Url, Error> {
        Ok(self.zone(username).await?.url)
    }

    async fn zone(&self, username: &str) -> Result<Zone, Error> {
        let ttl = self.inner.config.zone_cache_ttl;
        if let Some((zone, at)) = lock(&self.inner.zones).get(username) {
            if at.elapsed() < ttl {
                return Ok(zone.clone());
            }
        }
        let mut url = discovery_url(&self.inner.config.target);
        url.query_pairs_mut().append_pair("user", username);
        let discover = || async {
            let response = self
                .inner
                .http
                .get(url.clone())
                .send()
                .await
                .map_err(transport_error)?;
            let status = response.status().as_u16();
            let max = self.inner.config.max_body_bytes;
            let body = read_body(response, max, "ZoneInformation").await?;
            self.record("GET", &url, None, status, &body);
            match classify(status, &body, None, username) {
                None => decode::<ZoneInformation>("ZoneInformation", &body),
                Some(e) if e.is_retryable() => Err(e),
                Some(e) => Err(Error::ZoneNotFound {
                    username: username.to_owned(),
                    detail: e.to_string(),
                }),
            }
        };
        let info = discover
            .retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(Error::retry_soon)
            .await?;
        if info.url.trim().is_empty() {
            // Read leniently, a null or absent url decodes as empty: still no answer.
            return Err(Error::ContractDrift {
                entity: "ZoneInformation".into(),
                path: "url".into(),
                expected: "the zone's REST base URL".into(),
                found: "null, nothing or an empty string".into(),
            });
        }
        let zone = Zone {
            url: normalize_zone_url(&info.url, &self.inner.config.target)?,
            database: match info.ci {
                Some(ci) => format!("ci:{ci}"),
                None => info.url.clone(),
            },
        };
        lock(&self.inner.zones).insert(username.to_owned(), (zone.clone(), Instant::now()));
        Ok(zone)
    }

    /// The API user's view of its database: resolves the zone, then every call goes there
    /// with these credentials.
    pub async fn tenant(&self, credentials: Credentials) -> Result<Tenant, Error> {
        let zone = self.zone(&credentials.username).await?;
        let integration = fingerprint(credentials.integration_code.expose());
        Ok(Tenant {
            client: self.clone(),
            zone,
            credentials,
            integration,
        })
    }

    fn record(
        &self,
        method: &str,
        url: &Url,
        request_body: Option<&Json>,
        status: u16,
        body: &str,
    ) {
        if let Some(record) = &self.inner.recorder {
            record(&Exchange {
                method,
                url,
                request_body,
                status,
                body,
            });
        }
    }

    fn backoff(&self) -> ExponentialBuilder {
        let p = &self.inner.config.retry;
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(p.min_delay)
            .with_max_delay(p.max_delay)
            .with_max_times(p.max_retries)
            .with_total_delay(Some(p.max_total_delay))
    }
}

/// One API user's view of its database. Cheap to clone.
#[derive(Clone)]
pub struct Tenant {
    client: AutotaskClient,
    zone: Zone,
    credentials: Credentials,
    integration: String,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("zone", &self.zone.url.as_str())
            .field("username", &self.credentials.username)
            .finish_non_exhaustive()
    }
}

/// One request, described for the shared request path.
struct Request<'a> {
    method: Method,
    url: Url,
    body: Option<&'a Json>,
    /// e.g. `/V1.0/{entity}/query`, for spans.
    template: &'static str,
    entity: &'a str,
    /// Whether repeating it cannot create anything twice.
    idempotent: bool,
}

impl Tenant {
    /// The database's REST base URL (`…/ATServicesRest/`).
    pub fn zone_url(&self) -> &Url {
        &self.zone.url
    }

    /// Which Autotask database these credentials resolved to: `ci:{ci}` from zone discovery,
    /// or the zone URL when Autotask sends no `ci`. The same for every user of one database.
    pub fn database(&self) -> &str {
        &self.zone.database
    }

    /// The username these calls authenticate as.
    pub fn username(&self) -> &str {
        &self.credentials.username
    }

    /// The last `ThresholdInformation` read for this database, updated by an estimate of
    /// the requests made since.
    pub fn last_threshold(&self) -> Option<ThresholdInformation> {
        lock(&self.client.inner.thresholds)
            .get(&self.zone.database)
            .copied()
    }

    fn url(&self, path: &str) -> Url {
        self.zone
            .url
            .join(&format!("V1.0/{path}"))
            .expect("entity paths are relative URLs")
    }

    /// `GET {Entity}/{id}`: `None` for an unknown id (404 or `{"item": null}`).
    pub async fn get<E: Entity>(
        &self,
        endpoint: &Endpoint<E>,
        id: i64,
    ) -> Result<Option<E>, Error> {
        let request = Request {
            method: Method::GET,
            url: self.url(&format!("{}/{id}", endpoint.collection())),
            body: None,
            template: "/V1.0/{entity}/{id}",
            entity: endpoint.name(),
            idempotent: true,
        };
        match self.send(request).await {
            Ok(body) => Ok(decode::<ItemResult<E>>(endpoint.name(), &body)?.item),
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST {Entity}/query`, following `pageDetails.nextPageUrl` (POSTing the original body)
    /// until the last page. Rows arrive page by page.
    pub fn query<'a, E: Entity>(
        &'a self,
        endpoint: &'a Endpoint<E>,
        query: &Query,
    ) -> impl Stream<Item = Result<E, Error>> + Send + 'a {
        enum Page {
            First,
            Next(Url),
            Done,
        }
        let body = query.to_json();
        let max_pages = self.client.inner.config.max_pages;
        let mut seen: HashSet<String> = HashSet::new();
        stream::try_unfold(Page::First, move |page| {
            let body = body.clone();
            let over = |detail: String| Error::OverLimit {
                entity: endpoint.name().to_owned(),
                detail,
            };
            // The first page plus the next pages seen so far.
            let fresh = match &page {
                Page::Next(_) if 1 + seen.len() >= max_pages => {
                    Err(over(format!("more than {max_pages} pages")))
                }
                Page::Next(url) if !seen.insert(url.to_string()) => {
                    Err(over("Autotask sent the same next page URL twice".into()))
                }
                _ => Ok(()),
            };
            async move {
                fresh?;
                let (url, template) = match page {
                    Page::Done => return Ok(None),
                    Page::First => (
                        self.url(&format!("{}/query", endpoint.query_root())),
                        "/V1.0/{entity}/query",
                    ),
                    Page::Next(url) => (url, "/V1.0/{entity}/query/next"),
                };
                let request = Request {
                    method: Method::POST,
                    url,
                    body: Some(&body),
                    template,
                    entity: endpoint.name(),
                    idempotent: true,
                };
                let text = self.send(request).await?;
                let page: QueryResult<E> = decode(endpoint.name(), &text)?;
                let next = match page.page_details.next_page_url.filter(|u| !u.is_empty()) {
                    None => Page::Done,
                    Some(next) => Page::Next(self.next_page_url(&next)?),
                };
                Ok(Some((page.items, next)))
            }
        })
        .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
        .try_flatten()
    }

    /// All rows of a query, every page.
    pub async fn query_all<E: Entity>(
        &self,
        endpoint: &Endpoint<E>,
        query: &Query,
    ) -> Result<Vec<E>, Error> {
        self.query(endpoint, query).try_collect().await
    }

    /// A pagination URL may only receive credentials if it is on the zone's host.
    fn next_page_url(&self, raw: &str) -> Result<Url, Error> {
        let url = self.zone.url.join(raw).map_err(|e| Error::HostNotAllowed {
            url: raw.to_owned(),
            reason: format!("not a URL ({e})"),
        })?;
        if !same_origin(&url, &self.zone.url) {
            return Err(Error::HostNotAllowed {
                url: raw.to_owned(),
                reason: format!(
                    "pagination URL is not on the zone host {}",
                    self.zone.url.origin().ascii_serialization()
                ),
            });
        }
        Ok(url)
    }

    /// `POST {Entity}/query/count`.
    pub async fn count<E: Entity>(
        &self,
        endpoint: &Endpoint<E>,
        query: &Query,
    ) -> Result<u64, Error> {
        let body = query.to_json();
        let request = Request {
            method: Method::POST,
            url: self.url(&format!("{}/query/count", endpoint.query_root())),
            body: Some(&body),
            template: "/V1.0/{entity}/query/count",
            entity: endpoint.name(),
            idempotent: true,
        };
        let text = self.send(request).await?;
        Ok(decode::<CountResult>(endpoint.name(), &text)?.query_count)
    }

    /// `POST {collection}`: creates the entity, returns its id.
    pub async fn create<E: Entity>(
        &self,
        endpoint: &Endpoint<E>,
        entity: &E,
    ) -> Result<i64, Error> {
        self.write(Method::POST, endpoint, entity, false).await
    }

    /// `PATCH {collection}`: updates the fields that are set (the entity's `id` included).
    pub async fn update<E: Entity>(
        &self,
        endpoint: &Endpoint<E>,
        entity: &E,
    ) -> Result<i64, Error> {
        self.write(Method::PATCH, endpoint, entity, true).await
    }

    async fn write<E: Entity>(
        &self,
        method: Method,
        endpoint: &Endpoint<E>,
        entity: &E,
        idempotent: bool,
    ) -> Result<i64, Error> {
        let body = serde_json::to_value(entity).map_err(|e| Error::Encode {
            entity: endpoint.name().to_owned(),
            detail: e.to_string(),
        })?;
        let request = Request {
            method,
            url: self.url(endpoint.collection()),
            body: Some(&body),
            template: "/V1.0/{entity}",
            entity: endpoint.name(),
            idempotent,
        };
        let text = self.send(request).await?;
        Ok(decode::<ItemIdResult>(endpoint.name(), &text)?.item_id)
    }

    /// `DELETE {collection}/{id}`.
    pub async fn delete<E: Entity>(&self, endpoint: &Endpoint<E>, id: i64) -> Result<(), Error> {
        let request = Request {
            method: Method::DELETE,
            url: self.url(&format!("{}/{id}", endpoint.collection())),
            body: None,
            template: "/V1.0/{entity}/{id}",
            entity: endpoint.name(),
            idempotent: true,
        };
        self.send(request).await.map(drop)
    }

    /// `GET {collection}/entityInformation`: what this user may do with the entity.
    pub async fn entity_information<E: Entity>(
        &self,
        endpoint: &Endpoint<E>,
    ) -> Result<EntityInformation, Error> {
        let text = self
            .get_path(
                &format!("{}/entityInformation", endpoint.collection()),
                "/V1.0/{entity}/entityInformation",
                endpoint.name(),
            )
            .await?;
        Ok(decode::<EntityInformationResult>(endpoint.name(), &text)?.info)
    }

    /// `GET {collection}/entityInformation/fields`: field metadata with picklists.
    pub async fn field_information<E: Entity>(
        &self,
        endpoint: &Endpoint<E>,
    ) -> Result<Vec<FieldInfo>, Error> {
        let text = self
            .get_path(
                &format!("{}/entityInformation/fields", endpoint.collection()),
                "/V1.0/{entity}/entityInformation/fields",
                endpoint.name(),
            )
            .await?;
        Ok(decode::<FieldInformationResult>(endpoint.name(), &text)?.fields)
    }

    /// `GET ThresholdInformation`; also feeds the pacer.
    pub async fn threshold_information(&self) -> Result<ThresholdInformation, Error> {
        let text = self
            .get_path(
                "ThresholdInformation",
                "/V1.0/ThresholdInformation",
                "ThresholdInformation",
            )
            .await?;
        let info: ThresholdInformation = decode("ThresholdInformation", &text)?;
        lock(&self.client.inner.thresholds).insert(self.zone.database.clone(), info);
        Ok(info)
    }

    async fn get_path(
        &self,
        path: &str,
        template: &'static str,
        entity: &str,
    ) -> Result<String, Error> {
        self.send(Request {
            method: Method::GET,
            url: self.url(path),
            body: None,
            template,
            entity,
            idempotent: true,
        })
        .await
    }

    /// The shared request path, with in-process retries.
    async fn send(&self, request: Request<'_>) -> Result<String, Error> {
        let max_delay = self.client.inner.config.retry.max_delay;
        let idempotent = request.idempotent;
        let request = &request;
        (|| self.send_once(request))
            .retry(self.client.backoff())
            .sleep(tokio::time::sleep)
            .when(|e: &Error| e.retry_soon() && (idempotent || e.certainly_not_processed()))
            .adjust(move |e, delay| match (delay, e.retry_after()) {
                (Some(_), Some(after)) if after > max_delay => None,
                (Some(_), Some(after)) => Some(after),
                (delay, _) => delay,
            })
            .notify(|e, delay| tracing::debug!(error = %e, ?delay, "retrying Autotask request"))
            .await
    }

    async fn send_once(&self, request: &Request<'_>) -> Result<String, Error> {
        let inner = &self.client.inner;
        check_allowed(&request.url, &inner.config.target).map_err(|reason| {
            Error::HostNotAllowed {
                url: request.url.to_string(),
                reason,
            }
        })?;
        let last = self.last_threshold();
        match inner.pacer.pace(last.as_ref()) {
            Pace::Go => {}
            Pace::Wait(delay) => tokio::time::sleep(delay).await,
            Pace::Refuse(retry_after) => return Err(Error::BudgetExhausted { retry_after }),
        }
        let key = LimitKey {
            database: self.zone.database.clone(),
            integration: self.integration.clone(),
            endpoint: endpoint_of(&self.zone.url, &request.url),
        };
        let span = tracing::info_span!(
            "autotask.request",
            otel.name = %format_args!("{} {}", request.method, request.template),
            otel.kind = "client",
            http.request.method = %request.method,
            url.template = request.template,
            server.address = request.url.host_str().unwrap_or_default(),
            server.port = request.url.port_or_known_default().unwrap_or_default(),
            autotask.entity = request.entity,
            http.response.status_code = field::Empty,
            error.type = field::Empty,
        );
        async {
            let _permit = inner.limiter.acquire(&key).await?;
            let result = self.exchange(request).await;
            let span = tracing::Span::current();
            let status = match &result {
                Ok((status, _)) | Err((Some(status), _)) => {
                    span.record("http.response.status_code", status);
                    *status
                }
                Err((None, _)) => 0,
            };
            if let Some(observe) = &inner.observer {
                observe(request.entity, status);
            }
            if let Err((_, e)) = &result {
                span.record("error.type", e.type_name());
            }
            self.count_request();
            result.map(|(_, body)| body).map_err(|(_, e)| e)
        }
        .instrument(span)
        .await
    }

    /// Sends one request with the auth headers and classifies the answer.
    async fn exchange(&self, request: &Request<'_>) -> Result<(u16, String), (Option<u16>, Error)> {
        let creds = &self.credentials;
        let mut builder = self
            .client
            .inner
            .http
            .request(request.method.clone(), request.url.clone())
            .header("ApiIntegrationCode", creds.integration_code.expose())
            .header("UserName", &creds.username)
            .header("Secret", creds.secret.expose())
            .header("Accept", "application/json");
        if let Some(id) = creds.impersonation_resource_id {
            builder = builder.header("ImpersonationResourceId", id.to_string());
        }
        if let Some(body) = request.body {
            builder = builder.json(body);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| (None, transport_error(e)))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let max = self.client.inner.config.max_body_bytes;
        let body = read_body(response, max, request.entity)
            .await
            .map_err(|e| (Some(status), e))?;
        self.client.record(
            request.method.as_str(),
            &request.url,
            request.body,
            status,
            &body,
        );
        match classify(status, &body, retry_after, &creds.username) {
            None => Ok((status, body)),
            Some(e) => Err((Some(status), e)),
        }
    }

    /// Keeps the pacer's view roughly current between `ThresholdInformation` reads.
    fn count_request(&self) {
        if let Some(info) = lock(&self.client.inner.thresholds).get_mut(&self.zone.database) {
            info.current_timeframe_request_count =
                info.current_timeframe_request_count.saturating_add(1);
        }
    }
}

/// The object endpoint a request counts against: the first path segment after `V1.0/`.
fn endpoint_of(zone: &Url, url: &Url) -> String {
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
async fn read_body(
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

fn transport_error(e: reqwest::Error) -> Error {
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

/// A stable, non-reversible name for an integration code (for limit keys and logs).
fn fingerprint(code: &str) -> String {
    let digest = Sha1::digest(code.as_bytes());
    hex::encode(&digest[..8])
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_is_the_first_segment_after_the_version() {
        let zone = Url::parse("http://h/zones/a/ATServicesRest/").unwrap();
        let at = |p: &str| endpoint_of(&zone, &zone.join(p).unwrap());
        assert_eq!(at("V1.0/Resources/query"), "Resources");
        assert_eq!(at("V1.0/TicketWebhooks/17/Fields"), "TicketWebhooks");
        assert_eq!(
            at("v1.0/TicketWebhookFields/query/next?paging=x"),
            "TicketWebhookFields"
        );
    }

    #[test]
    fn fingerprints_are_stable_and_hide_the_code() {
        assert_eq!(fingerprint("CODE"), fingerprint("CODE"));
        assert_ne!(fingerprint("CODE"), fingerprint("CODE2"));
        assert!(!fingerprint("CODE").contains("CODE"));
    }
}
